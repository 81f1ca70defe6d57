#!/bin/bash
# Memory per idle proxied connection, measured on its own (run.sh measures it once per run, next to the anchors):
# the same method as run.sh (smtp-sink as the backend; a fresh proxy; 200 warm-up connections; VmRSS before and after
# IDLE connections that read the 220 banner and then send nothing), repeated REPS times, a fresh proxy each time.
#
#   sudo bench/throughput/idle_rss.sh
#
# Environment (defaults in brackets):
#   REPS [3]          repetitions (each with a fresh proxy)
#   IDLE [5000]       idle connections
#   BASE_PORT [27225] smtp-sink on BASE_PORT, the proxy on BASE_PORT+1
#   PROXY_DLL         earlypipe.dll to measure [src/EarlyPipeProxy.Host/bin/Release/net10.0/earlypipe.dll]
#   EPP_ENV           extra environment for the proxy, e.g. "DOTNET_GCgen0size=0x400000" (space-separated VAR=value)
#   GCDUMP=1          one more pass that writes a heap dump (dotnet-gcdump) before and after the idle connections and
#                     prints the difference per type, divided by IDLE (needs dotnet-gcdump on PATH or in ~/.dotnet/tools)
#   OUT               where the gcdumps and reports go [a temporary directory, printed]
# Output: one line per repetition (KiB per connection) on stdout; progress on stderr.
# Everything it starts it stops again by pid; it never kills by name.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPS=${REPS:-3}
IDLE=${IDLE:-5000}
BASE_PORT=${BASE_PORT:-27225}
SINK_PORT=$BASE_PORT
EPP_PORT=$((BASE_PORT + 1))
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
SMTP_SINK=/usr/sbin/smtp-sink
DLL=${PROXY_DLL:-$ROOT/src/EarlyPipeProxy.Host/bin/Release/net10.0/earlypipe.dll}
read -r -a EPP_ENV_ARR <<<"${EPP_ENV:-}"
GCDUMP_TOOL=$(command -v dotnet-gcdump || echo "$HOME/.dotnet/tools/dotnet-gcdump")

log() { echo "[idle_rss] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (starts smtp-sink as root with -u nobody)"
[ -x $SMTP_SINK ] || die "$SMTP_SINK missing (apt-get install postfix)"
[ -f "$DLL" ] || die "$DLL missing (dotnet build -c Release src/EarlyPipeProxy.Host)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((2 * IDLE + 1100)) ] \
    || die "ulimit -n is $(ulimit -n), IDLE=$IDLE needs $((2 * IDLE + 1100))"
for p in $SINK_PORT $EPP_PORT; do
    [ -z "$(ss -ltnH "sport = :$p")" ] || die "port $p is in use (set BASE_PORT)"
done

WORK=$(mktemp -d /tmp/epp-idle-rss.XXXXXX)
OUT=${OUT:-$WORK}
mkdir -p "$OUT"

. "$HERE/processes.sh"

cleanup() {
    stop_all
    [ "$OUT" = "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM





# hold N: IDLE connections held until release; waits until all have their banner
hold() {
    rm -f "$WORK/ready" "$WORK/release"
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 $EPP_PORT "$IDLE" "$WORK/ready" "$WORK/release" 300 &
    echo $! >"$WORK/idle.pid"
    for _ in $(seq 1200); do [ -f "$WORK/ready" ] && break; alive "$(cat "$WORK/idle.pid")" || break; sleep 0.1; done
    [ -f "$WORK/ready" ] || die "idle connections never became ready"
    local n failed; read -r _ n failed <"$WORK/ready"
    [ "$failed" = 0 ] || die "$failed idle connections failed"
    sleep 2
}
release() {
    touch "$WORK/release"
    wait "$(cat "$WORK/idle.pid")" || true
    rm -f "$WORK/idle.pid"
}

start_sink
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
    start_epp epp "$EPP_PORT" Warning
    pid=$(cat "$WORK/epp.pid")
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 $EPP_PORT 200 "$WORK/ready" "$WORK/release" 0.5 || die "warm-up failed"
    sleep 1
    before=$(rss_kib "$pid")
    hold
    after=$(rss_kib "$pid")
    release
    stop_pidfile "$WORK/epp.pid"
    echo "rep $rep: RSS $before -> $after KiB, $IDLE connections: $(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN{printf "%.2f", (a-b)/n}') KiB/conn (load $(cut -d' ' -f1 /proc/loadavg))"
done

if [ "${GCDUMP:-0}" = 1 ]; then
    [ -x "$GCDUMP_TOOL" ] || die "dotnet-gcdump not found (dotnet tool install -g dotnet-gcdump)"
    start_epp epp "$EPP_PORT" Warning
    pid=$(cat "$WORK/epp.pid")
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 $EPP_PORT 200 "$WORK/ready" "$WORK/release" 0.5 || die "warm-up failed"
    sleep 1
    "$GCDUMP_TOOL" collect -p "$pid" -o "$OUT/before.gcdump" >/dev/null
    rss0=$(rss_kib "$pid")
    hold
    "$GCDUMP_TOOL" collect -p "$pid" -o "$OUT/after.gcdump" >/dev/null
    rss1=$(rss_kib "$pid")
    release
    stop_pidfile "$WORK/epp.pid"
    "$GCDUMP_TOOL" report "$OUT/before.gcdump" >"$OUT/before.txt"
    "$GCDUMP_TOOL" report "$OUT/after.gcdump" >"$OUT/after.txt"
    echo "gcdump pass: RSS after a GC $rss0 -> $rss1 KiB: $(awk -v a="$rss1" -v b="$rss0" -v n="$IDLE" 'BEGIN{printf "%.2f", (a-b)/n}') KiB/conn"
    # Rows of `dotnet-gcdump report`: size, count, type. The difference per type, per connection, largest first.
    "$PY" - "$OUT/before.txt" "$OUT/after.txt" "$IDLE" <<'EOF'
import re, sys
def load(path):
    rows = {}
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+([\d,]+)\s+(\S.+?)\s*$", line)
        if m:
            # "Object Bytes" is the size of one object of the row (arrays come in rows by size).
            size, count, name = int(m[1].replace(",", "")), int(m[2].replace(",", "")), m[3]
            s, c = rows.get(name, (0, 0))
            rows[name] = (s + size * count, c + count)
    return rows
before, after, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
diff = []
for name in set(before) | set(after):
    s0, c0 = before.get(name, (0, 0)); s1, c1 = after.get(name, (0, 0))
    diff.append(((s1 - s0) / n, (c1 - c0) / n, name))
diff.sort(reverse=True)
total = sum(d[0] for d in diff)
print(f"managed heap, bytes per idle connection: {total:.0f}")
print("| bytes/conn | objects/conn | type |")
print("|---:|---:|---|")
for size, count, name in diff:
    if abs(size) >= 8:
        print(f"| {size:.0f} | {count:.2f} | `{name}` |")
EOF
    log "gcdumps and reports in $OUT"
fi
