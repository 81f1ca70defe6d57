#!/bin/bash
# Throughput, latency, CPU and memory of EarlyPipeProxy next to HAProxy (mode tcp, the cost floor), nginx's
# mail proxy (the other proxy that parses SMTP) and a direct connection, all in ONE run on loopback: Postfix's smtp-source (lockstep load generator)
# against smtp-sink, 1000-byte messages, median of ROUNDS rounds. The machine is CPU-bound (load
# generator, proxy and sink share the cores), so only the ratios within a run mean anything.
#
#   sudo bench/throughput/run.sh
#
# Environment (defaults in brackets):
#   ROUNDS [3]        rounds; every round runs every test against every target, target order rotated
#   N_CONN [5000]     messages in the "1 msg per connection, SESSIONS concurrent" test
#   N_PERSIST [20000] messages in the "all messages over SESSIONS connections" test (smtp-source -d)
#   N_LOCK [1000]     messages in the lockstep test (1 session, 1 msg per connection)
#   SESSIONS [20]     concurrent sessions for the two throughput tests
#   IDLE [5000]       idle connections for the RSS test
#   BASE_PORT [27025] smtp-sink, HAProxy, proxy, proxy with Information logging, nginx mail, nginx's auth_http
#                     stub: BASE_PORT..BASE_PORT+5
#   NO_BUILD=1        use the existing Release build
#   PROXY_DLL         earlypipe.dll to measure instead of the Release build (implies nothing about NO_BUILD)
#   BASELINE_DLL      a second earlypipe.dll (another build) measured in the same run as an extra column, on
#                     BASE_PORT+6: a before/after within one run
#   EPP_ENV           extra environment for the proxy, e.g. "DOTNET_gcServer=0" (space-separated VAR=value)
#   KEEP=1            keep the work directory (configs, proxy log, raw results)
# Output: a Markdown table on stdout (progress on stderr); raw numbers in $WORK/results.
# Everything it starts it stops again by pid (pid files in $WORK); it never kills by name.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-3}
N_CONN=${N_CONN:-5000}
N_PERSIST=${N_PERSIST:-20000}
N_LOCK=${N_LOCK:-1000}
SESSIONS=${SESSIONS:-20}
IDLE=${IDLE:-5000}
SIZE=1000
BASE_PORT=${BASE_PORT:-27025}
SINK_PORT=$BASE_PORT
HAP_PORT=$((BASE_PORT + 1))
EPP_PORT=$((BASE_PORT + 2))
EPPLOG_PORT=$((BASE_PORT + 3))
NGX_PORT=$((BASE_PORT + 4))
NGX_AUTH_PORT=$((BASE_PORT + 5))
NGX_MAIL_MODULE=/usr/lib/nginx/modules/ngx_mail_module.so
BASE_EPP_PORT=$((BASE_PORT + 6))
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
SMTP_SOURCE=/usr/sbin/smtp-source
SMTP_SINK=/usr/sbin/smtp-sink
DLL=${PROXY_DLL:-$ROOT/src/EarlyPipeProxy.Host/bin/Release/net10.0/earlypipe.dll}
BASELINE_DLL=${BASELINE_DLL:-}
read -r -a EPP_ENV_ARR <<<"${EPP_ENV:-}"

log() { echo "[throughput] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages, starts smtp-sink as root with -u nobody)"

# --- tools -------------------------------------------------------------------------------------------
need=()
command -v haproxy >/dev/null || need+=(haproxy)
{ [ -x $SMTP_SOURCE ] && [ -x $SMTP_SINK ]; } || need+=(postfix)
# Debian's nginx with the mail module as a dynamic module (what nginx-core/nginx-full load from modules-enabled).
# Only the bench's own instance is used: its own config, prefix and pid file under $WORK, its own ports; a system
# nginx the package may have started is neither used nor stopped.
command -v nginx >/dev/null || need+=(nginx)
[ -f $NGX_MAIL_MODULE ] || need+=(libnginx-mod-mail)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    # postfix must not start a system instance or ask questions.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2; }
fi
HAPROXY=$(command -v haproxy)
NGINX=$(command -v nginx)

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building the proxy (Release)"
    dotnet build -c Release -nologo -v q "$ROOT/src/EarlyPipeProxy.Host" >&2 || die "build failed"
fi
[ -f "$DLL" ] || die "$DLL missing"
[ -z "$BASELINE_DLL" ] || [ -f "$BASELINE_DLL" ] || die "$BASELINE_DLL missing"

# Idle test: each proxied connection costs the proxy two descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((2 * IDLE + 1100)) ] \
    || die "ulimit -n is $(ulimit -n), IDLE=$IDLE needs $((2 * IDLE + 1100))"

for p in $SINK_PORT $HAP_PORT $EPP_PORT $EPPLOG_PORT $NGX_PORT $NGX_AUTH_PORT $BASE_EPP_PORT; do
    [ -z "$(ss -ltnH "sport = :$p")" ] || die "port $p is in use (set BASE_PORT)"
done

WORK=$(mktemp -d /tmp/epp-throughput.XXXXXX)
RESULTS=$WORK/results
: >"$RESULTS"

# --- process management (pid files only) ---------------------------------------------------------------
. "$HERE/processes.sh"

cleanup() {
    local rc=$?
    stop_all
    if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM



start_haproxy() {
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn $((IDLE + 500))
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
frontend smtp
    bind 127.0.0.1:$HAP_PORT
    default_backend sink
backend sink
    server sink 127.0.0.1:$SINK_PORT
EOF
    "$HAPROXY" -q -f "$WORK/haproxy.cfg" -D -p "$WORK/haproxy.pid" >"$WORK/haproxy.log" 2>&1 || die "haproxy did not start"
    for _ in $(seq 50); do [ -s "$WORK/haproxy.pid" ] && break; sleep 0.1; done
    wait_listen $HAP_PORT "$(head -1 "$WORK/haproxy.pid")"
    head -1 "$WORK/haproxy.pid" >"$WORK/haproxy.pid.tmp" && mv "$WORK/haproxy.pid.tmp" "$WORK/haproxy.pid"
}

# nginx's mail proxy as a plain SMTP relay: it greets and answers EHLO/HELO, MAIL and RCPT itself, asks auth_http
# where to go at the first RCPT (smtp_auth none), then connects to the sink, replays HELO/EHLO (xclient off), MAIL
# and RCPT there in lockstep, and relays bytes from then on. The auth_http answer comes from a static location of
# the same instance: the lightest honest stub (nginx mail needs an auth_http server; its cost, a loopback HTTP
# request per session, is nginx's and counts in its CPU). Workers as HAProxy's threads: one per core.
start_nginx() {
    mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
    cat >"$WORK/nginx.conf" <<EOF
load_module $NGX_MAIL_MODULE;
worker_processes auto;
worker_rlimit_nofile $((4 * IDLE + 2000));
pid $WORK/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections $((3 * IDLE + 1000)); }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGX_AUTH_PORT;
        location = /auth {
            add_header Auth-Status OK;
            add_header Auth-Server 127.0.0.1;
            add_header Auth-Port $SINK_PORT;
            return 204;
        }
    }
}
mail {
    server_name bench.invalid;
    auth_http 127.0.0.1:$NGX_AUTH_PORT/auth;
    smtp_auth none;
    xclient off;
    server {
        listen 127.0.0.1:$NGX_PORT;
        protocol smtp;
    }
}
EOF
    "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 || die "nginx did not start (see $WORK/nginx.log)"
    for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
    wait_listen $NGX_PORT "$(cat "$WORK/nginx.pid")"
}


cpu_ticks() { # utime + stime of the pids given, in clock ticks
    local pid stat sum=0
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat"); stat=${stat##*) }
        sum=$((sum + $(awk '{ print $12 + $13 }' <<<"$stat")))
    done
    echo $sum
}
now_ns() { date +%s%N; }

pid_of() { case $1 in direct) cat "$WORK/sink.pid" ;; haproxy) cat "$WORK/haproxy.pid" ;; nginx) cat "$WORK/nginx.pid" ;; epp) cat "$WORK/epp.pid" ;; epplog) cat "$WORK/epplog.pid" ;; eppbase) cat "$WORK/eppbase.pid" ;; esac; }
# The processes whose CPU and memory a target costs: nginx's master and its workers, otherwise the one process.
pids_of() {
    local pid; pid=$(pid_of "$1")
    echo "$pid"
    [ "$1" = nginx ] && ps -o pid= --ppid "$pid" || true
}
port_of() { case $1 in direct) echo $SINK_PORT ;; haproxy) echo $HAP_PORT ;; nginx) echo $NGX_PORT ;; epp) echo $EPP_PORT ;; epplog) echo $EPPLOG_PORT ;; eppbase) echo $BASE_EPP_PORT ;; esac; }

# measure TEST TARGET ROUND MSGS smtp-source-options...
# Records: TEST TARGET ROUND MSGS ELAPSED_NS CPU_TICKS(proxy processes; the sink for "direct")
measure() {
    local test=$1 target=$2 round=$3 msgs=$4; shift 4
    local pids t0 t1 c0 c1
    read -r -a pids <<<"$(pids_of "$target" | tr '\n' ' ')"
    c0=$(cpu_ticks "${pids[@]}"); t0=$(now_ns)
    if ! $SMTP_SOURCE "$@" -m "$msgs" -l $SIZE 127.0.0.1:"$(port_of "$target")" >"$WORK/source.out" 2>&1; then
        cat "$WORK/source.out" >&2
        die "smtp-source failed: test=$test target=$target"
    fi
    t1=$(now_ns); c1=$(cpu_ticks "${pids[@]}")
    echo "$test $target $round $msgs $((t1 - t0)) $((c1 - c0))" >>"$RESULTS"
    log "$(printf '%-8s %-8s round %s: %6d msgs in %6.2f s = %8.0f msgs/s, cpu %s ticks' "$test" "$target" "$round" "$msgs" \
        "$(awk -v n=$((t1 - t0)) 'BEGIN{print n/1e9}')" "$(awk -v m="$msgs" -v n=$((t1 - t0)) 'BEGIN{print m/(n/1e9)}')" $((c1 - c0)))"
}

# idle TARGET: RSS of the target's processes before and after IDLE idle connections (banner read)
idle() {
    local target=$1 pids before after n
    read -r -a pids <<<"$(pids_of "$target" | tr '\n' ' ')"
    rm -f "$WORK/ready" "$WORK/release"
    # warm-up: the first connections JIT the paths and create pools; not counted.
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 "$(port_of "$target")" 200 "$WORK/ready" "$WORK/release" 0.5 || die "idle warm-up failed ($target)"
    rm -f "$WORK/ready"
    sleep 2
    before=$(rss_kib "${pids[@]}")
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 "$(port_of "$target")" "$IDLE" "$WORK/ready" "$WORK/release" 120 &
    echo $! >"$WORK/idle.pid"
    for _ in $(seq 1200); do [ -f "$WORK/ready" ] && break; alive "$(cat "$WORK/idle.pid")" || break; sleep 0.1; done
    [ -f "$WORK/ready" ] || die "idle connections never became ready ($target)"
    read -r _ n failed <"$WORK/ready"
    [ "$failed" = 0 ] || die "$failed idle connections failed ($target)"
    sleep 2
    after=$(rss_kib "${pids[@]}")
    touch "$WORK/release"
    wait "$(cat "$WORK/idle.pid")" || true
    rm -f "$WORK/idle.pid"
    echo "idle $target 1 $n $before $after" >>"$RESULTS"
    log "idle     $target: $n connections, RSS $before -> $after KiB = $(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN{printf "%.2f", (a-b)/n}') KiB/conn"
    sleep 3 # let the closes drain before the next step
}

# --- run -----------------------------------------------------------------------------------------------
log "work directory $WORK; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_sink
start_haproxy
start_nginx
start_epp epp $EPP_PORT Warning
start_epp epplog $EPPLOG_PORT Information
BASE=()
if [ -n "$BASELINE_DLL" ]; then
    start_epp eppbase $BASE_EPP_PORT Warning "$BASELINE_DLL"
    BASE=(eppbase)
fi

# Memory first, on fresh processes (a heap grown by the load tests would hide the per-connection cost).
idle haproxy
idle nginx
idle epp
for t in ${BASE[@]+"${BASE[@]}"}; do idle "$t"; done

log "warm-up"
for t in direct haproxy nginx epp epplog ${BASE[@]+"${BASE[@]}"}; do
    $SMTP_SOURCE -s "$SESSIONS" -m 2000 -l $SIZE 127.0.0.1:"$(port_of $t)" >/dev/null 2>&1 || die "warm-up failed: $t"
    $SMTP_SOURCE -d -s "$SESSIONS" -m 2000 -l $SIZE 127.0.0.1:"$(port_of $t)" >/dev/null 2>&1 || die "warm-up failed: $t"
done

rotate() { # rotate the list "$2..." by $1 places
    local k=$1; shift; local a=("$@") n=$#
    for i in $(seq 0 $((n - 1))); do echo "${a[$(((i + k) % n))]}"; done
}
for round in $(seq "$ROUNDS"); do
    for t in $(rotate $((round - 1)) direct haproxy nginx epp epplog ${BASE[@]+"${BASE[@]}"}); do
        measure conn "$t" "$round" "$N_CONN" -s "$SESSIONS"
    done
    for t in $(rotate $((round - 1)) direct haproxy nginx epp ${BASE[@]+"${BASE[@]}"}); do
        measure persist "$t" "$round" "$N_PERSIST" -d -s "$SESSIONS"
    done
    for t in $(rotate $((round - 1)) direct haproxy nginx epp ${BASE[@]+"${BASE[@]}"}); do
        measure lock "$t" "$round" "$N_LOCK" -s 1
    done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- table ---------------------------------------------------------------------------------------------
mkdir -p "$HERE/results"
"$PY" - "$RESULTS" "$(getconf CLK_TCK)" "$ROUNDS" "$SESSIONS" "$N_CONN" "$N_PERSIST" "$N_LOCK" "$IDLE" "$(nproc)" <<'EOF' | tee "$HERE/results/latest.md"
import statistics, sys
path, hz, rounds, sessions, n_conn, n_persist, n_lock, idle, cores = sys.argv[1:]
hz = int(hz)
runs, mem, rounds_of = {}, {}, {}
for line in open(path):
    f = line.split()
    if f[0] == "idle":
        mem[f[1]] = (int(f[3]), int(f[4]), int(f[5]))
    else:
        runs.setdefault((f[0], f[1]), []).append((int(f[3]), int(f[4]), int(f[5])))
        rounds_of.setdefault((f[0], f[1]), []).append((f[2], int(f[3]), int(f[4]), int(f[5])))

def rate(test, t):      # median msgs/s
    return statistics.median(m / (ns / 1e9) for m, ns, _ in runs[(test, t)])
def per_round(test, t, f):  # {round: f(msgs, ns)}
    return {r: f(m, ns) for r, m, ns, _ in rounds_of[(test, t)]}
def ratio(test, t):     # median over rounds of (rate / direct rate in the same round): load drift cancels
    a, d = per_round(test, t, lambda m, ns: m / ns), per_round(test, "direct", lambda m, ns: m / ns)
    return statistics.median(a[r] / d[r] for r in a if r in d)
def added(test, t):     # median over rounds of (µs/msg - direct µs/msg in the same round)
    a, d = per_round(test, t, lambda m, ns: ns / 1e3 / m), per_round(test, "direct", lambda m, ns: ns / 1e3 / m)
    return statistics.median(a[r] - d[r] for r in a if r in d)
def usmsg(test, t):     # median µs per message
    return statistics.median(ns / 1e3 / m for m, ns, _ in runs[(test, t)])
def cpu(test, t):       # median CPU seconds per 1000 messages
    return statistics.median(c / hz / m * 1000 for m, _, c in runs[(test, t)])
def kib(t):
    n, b, a = mem[t]
    return (a - b) / n

cols = [("direct", "direct"), ("haproxy", "HAProxy `mode tcp`"), ("nginx", "nginx mail"), ("epp", "EarlyPipeProxy"),
        ("epplog", "EarlyPipeProxy, Information log"), ("eppbase", "EarlyPipeProxy, baseline build")]
cols = [(t, c) for t, c in cols if t in mem or any(k[1] == t for k in runs)]
out = []
out.append(f"| median of {rounds} rounds, {cores} cores | " + " | ".join(c for _, c in cols) + " | target |")
out.append("|---|" + "---:|" * len(cols) + "---|")
def row(label, cells, target=""):
    out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

for test, label, target in [("conn", f"msgs/s, 1 msg/conn, {sessions} sessions ({n_conn} msgs)", "ratio ≥ HAProxy's"),
                            ("persist", f"msgs/s, all msgs over {sessions} conns (`-d`, {n_persist} msgs)", "ratio ≥ HAProxy's")]:
    d = rate(test, "direct")
    cells = []
    for t, _ in cols:
        if (test, t) in runs:
            r = rate(test, t)
            cells.append(f"{r:,.0f}" if t == "direct" else f"{r:,.0f} (**{ratio(test, t):.2f}**)")
        else:
            cells.append("–")
    row(label, cells, target)
for test, label, target in [("conn", "CPU s / 1000 msgs, 1 msg/conn", "≤ nginx mail's"), ("persist", "CPU s / 1000 msgs, `-d`", "")]:
    cells = []
    for t, _ in cols:
        if (test, t) in runs:
            c = cpu(test, t)
            cells.append(f"{c:.3f}" + (" (smtp-sink)" if t == "direct" else ""))
        else:
            cells.append("–")
    row(label, cells, target)
d = usmsg("lock", "direct")
cells = []
for t, _ in cols:
    if ("lock", t) in runs:
        u = usmsg("lock", t)
        cells.append(f"{u:,.0f}" if t == "direct" else f"{u:,.0f} (**{added('lock', t):+,.0f}**)")
    else:
        cells.append("–")
row(f"µs/msg lockstep, 1 session, 1 msg/conn ({n_lock} msgs)", cells, "≤ +200 µs")
cells = []
for t, _ in cols:
    if t in mem:
        n, b, a = mem[t]
        cells.append(f"**{kib(t):.1f}** ({b // 1024}→{a // 1024} MiB, {n} conns)")
    else:
        cells.append("–")
row(f"RSS KiB per idle proxied connection", cells, "≤ 4 KiB")
print("\n".join(out))
print()
print("Ratios and added µs are medians of per-round values (each round runs all targets back to back).")
print("nginx mail: CPU and RSS summed over its master and workers; it greets and answers EHLO itself and connects to")
print("the sink only at the first RCPT, so its idle connections have no backend connection (the others' do).")
print("Raw msgs/s per round: " + "; ".join(f"{k[0]}/{k[1]}: " + ",".join(f"{m / (ns / 1e9):.0f}" for m, ns, _ in v) for k, v in sorted(runs.items())))
EOF
