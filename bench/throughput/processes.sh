# Sourced by run.sh and idle_rss.sh: processes they start are tracked by pid files in $WORK and stopped by them,
# never by name. Needs $WORK, $SMTP_SINK, $SINK_PORT, $IDLE, $DLL, EPP_ENV_ARR and a die() of the caller's.

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

stop_pidfile() {
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# Every process started, stopped; the idle holders released first.
stop_all() {
    touch "$WORK/release" 2>/dev/null || true
    for f in "$WORK"/*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
}

wait_listen() {
    local port=$1 pid=$2
    for _ in $(seq 300); do
        [ -n "$(ss -ltnH "sport = :$port")" ] && return 0
        alive "$pid" || die "process $pid for port $port died (see $WORK)"
        sleep 0.1
    done
    die "nothing listens on $port after 30 s"
}

start_sink() {
    # -m: connection cap (idle test); 4096: listen backlog. -u nobody: smtp-sink refuses to run as root.
    $SMTP_SINK -u nobody -m $((IDLE + 1000)) 127.0.0.1:$SINK_PORT 4096 >"$WORK/sink.log" 2>&1 &
    echo $! >"$WORK/sink.pid"
    wait_listen $SINK_PORT "$(cat "$WORK/sink.pid")"
}

# start_epp NAME PORT LOGLEVEL [DLL]
start_epp() {
    local name=$1 port=$2 level=$3 dll=${4:-$DLL}
    cat >"$WORK/$name.json" <<EOF
{ "Inbound": [ { "Name": "bench", "Listen": "127.0.0.1:$port",
    "Backend": { "Address": "127.0.0.1:$SINK_PORT", "ClientIdentity": "None" },
    "Limits": { "MaxConnections": 20000 } } ],
  "Logging": { "LogLevel": { "Default": "$level" } } }
EOF
    env ${EPP_ENV_ARR[@]+"${EPP_ENV_ARR[@]}"} dotnet "$dll" run --config "$WORK/$name.json" >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/$name.pid"
    wait_listen "$port" "$(cat "$WORK/$name.pid")"
}

rss_kib() { # VmRSS summed over the pids given
    local pid sum=0
    for pid in "$@"; do sum=$((sum + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"))); done
    echo $sum
}
