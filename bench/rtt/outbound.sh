#!/bin/bash
# The outbound proxy's promise, measured: how long a strictly lockstep sender takes
# for one message (connect to the reply to QUIT), sent straight to a far-away Exim
# server, and sent through the outbound proxy next to it: on a fresh remote connection
# each time (the early flight), and on a warm one (ConnectionCache, the connection the
# previous session parked).
#
#   client netns epp-cli                               server netns epp-srv 198.18.0.2
#     lockstep sender --(DELAY_MS each way)-----------> Exim 4.96 :2625 (PIPECONNECT, CHUNKING)
#     lockstep sender -> earlypipe 127.0.0.1:2526 ----> the same Exim (ConnectionCache off: every message fresh)
#     lockstep sender -> earlypipe 127.0.0.1:2527 ----> the same Exim (ConnectionCache on: later messages warm)
#
# One priming connection through the proxy (not counted) lets it learn Exim's EHLO
# reply; then N counted connections per path, one message each; on the warm path N+1
# connections in a row, the first of which (fresh, early) is shown apart. The sender
# times every connection itself (tests/peers/lockstep-send.py --json); the table shows
# medians in RTTs, Exim's log says whether each proxied session was early (L*) and, for
# the warm path, how many connections carried its messages (client ports in "<=" lines).
#
#   sudo bench/rtt/outbound.sh
# Environment:
#   N=5            counted connections per path
#   DELAY_MS=25    one-way delay of the link (RTT = 2*DELAY_MS)
#   PROXY_DIR      directory holding earlypipe.dll (default: the newest build)
#   RESULTS        where the table goes (default bench/rtt/results/outbound-latest.txt)
# Output: the table, then machine-readable lines (the format of measure.sh)
#   RTT_RESULT mode=LOCKSTEP path=direct status=ok n=5 median_ms=.. median_rtt=.. early=0 rtt_ms=..
#   RTT_RESULT mode=LOCKSTEP path=proxy status=ok n=5 median_ms=.. median_rtt=.. early=5 rtt_ms=..
#   RTT_RESULT mode=LOCKSTEP path=warm status=ok n=5 median_ms=.. median_rtt=.. early=.. rtt_ms=.. first_ms=.. first_rtt=.. connections=1
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NETNS=$ROOT/tests/netns
PEERS=$ROOT/tests/peers
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

N=${N:-5}
DELAY_MS=${DELAY_MS:-25}
RESULTS=${RESULTS:-$HERE/results/outbound-latest.txt}
export NS_CLI=${NS_CLI:-epp-cli} NS_SRV=${NS_SRV:-epp-srv}
SRV_ADDR=198.18.0.2 EXIM_PORT=2625 PROXY_PORT=2526 WARM_PORT=2527
EXIM_ENV=(EXIM_NAME=rttout EXIM_NETNS="$NS_SRV" EXIM_ADDR="$SRV_ADDR" EXIM_PORT="$EXIM_PORT" EXIM_PIPE_CONNECT=1)
EXIM_LOG=${PEERS_DIR:-/var/tmp/earlypipe-peers}/exim-rttout/log/mainlog

fail() { echo "outbound: FAILED: $*" >&2; exit 1; }
log() { echo "outbound: $*" >&2; }
[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, Exim)"
case $N in ''|*[!0-9]*|0) fail "N must be a positive integer";; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/epp-outbound.XXXXXX")
PROXY_PID="" EXIM_STARTED=0 NETNS_OURS=0
cleanup() {
  local rc=$?
  set +e
  if [ -n "$PROXY_PID" ] && tr '\0' ' ' <"/proc/$PROXY_PID/cmdline" 2>/dev/null | grep -q "earlypipe.dll run --config $WORK/"; then
    kill "$PROXY_PID"
    for _ in $(seq 100); do [ -d "/proc/$PROXY_PID" ] || break; sleep 0.05; done
    [ -d "/proc/$PROXY_PID" ] && kill -KILL "$PROXY_PID"
  fi
  [ "$EXIM_STARTED" = 1 ] && env "${EXIM_ENV[@]}" "$PEERS/exim.sh" server stop >/dev/null
  [ "$NETNS_OURS" = 1 ] && "$NETNS/down.sh" >/dev/null
  if [ $rc != 0 ] || [ "${KEEP:-0}" = 1 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PEERS/install.sh" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "tests/peers/install.sh"; }
if [ -n "${PROXY_DIR:-}" ]; then
  PROXY_DLL=$(realpath "$PROXY_DIR/earlypipe.dll")
else
  PROXY_DLL=$(ls -t "$ROOT"/src/EarlyPipeProxy.Host/bin/{Release,Debug}/net10.0/earlypipe.dll 2>/dev/null | head -1 || true)
fi
[ -f "$PROXY_DLL" ] || fail "earlypipe.dll not found; build src/EarlyPipeProxy.Host"

[ -f "${EPP_NETNS_RUN:-/run/epp-netns}/$NS_CLI/state" ] || NETNS_OURS=1
DELAY_MS=$DELAY_MS "$NETNS/up.sh" >"$WORK/netns.log" 2>&1 || { cat "$WORK/netns.log" >&2; fail "tests/netns/up.sh"; }
RTT_MS=$(sed -n 's/^NETNS_RTT_MS=//p' "$WORK/netns.log")
LINK=$(sed -n 's/.*link=\([a-z]*\).*/\1/p' "$WORK/netns.log" | head -1)
[ -n "$RTT_MS" ] || fail "no RTT measured by up.sh"
log "namespaces up (link=$LINK), measured RTT $RTT_MS ms"

env "${EXIM_ENV[@]}" "$PEERS/exim.sh" server status >/dev/null 2>&1 || EXIM_STARTED=1
env "${EXIM_ENV[@]}" "$PEERS/exim.sh" server start >"$WORK/exim.log" 2>&1 || { cat "$WORK/exim.log" >&2; fail "exim server in $NS_SRV"; }

cat >"$WORK/earlypipe.json" <<EOF
{
  "EhloCache": { "DatabasePath": "$WORK/ehlo-cache.db" },
  "Outbound": [
    { "Name": "smarthost", "Listen": "127.0.0.1:$PROXY_PORT", "Upstream": "$SRV_ADDR:$EXIM_PORT", "Tls": { "Mode": "None" },
      "ConnectionCache": { "Enabled": false } },
    { "Name": "warm", "Listen": "127.0.0.1:$WARM_PORT", "Upstream": "$SRV_ADDR:$EXIM_PORT", "Tls": { "Mode": "None" },
      "ConnectionCache": { "Enabled": true } }
  ]
}
EOF
(cd "$WORK" && exec ip netns exec "$NS_CLI" dotnet "$PROXY_DLL" run --config "$WORK/earlypipe.json") </dev/null >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
up=0
for _ in $(seq 300); do
  [ -d "/proc/$PROXY_PID" ] || break
  if ip netns exec "$NS_CLI" timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT && exec 4<>/dev/tcp/127.0.0.1/$WARM_PORT" 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
[ $up = 1 ] || { tail -30 "$WORK/proxy.log" >&2; fail "the proxy did not listen on 127.0.0.1:$PROXY_PORT in $NS_CLI"; }
log "proxy up (pid $PROXY_PID) in $NS_CLI: 127.0.0.1:$PROXY_PORT -> Exim $SRV_ADDR:$EXIM_PORT"

send() {  # send PORT HOST TAG CONNECTIONS -> one JSON line per connection
  ip netns exec "$NS_CLI" "$PY" "$PEERS/lockstep-send.py" --host "$2" --port "$1" --helo sender.client.test \
    --from sender@client.test --to rtt@rttout.test --connections "$4" --message-id "$3" --json
}

declare -A MED EARLY
measure() {  # measure PATH PORT HOST
  local before after out
  before=$(grep -c ' <= ' "$EXIM_LOG" 2>/dev/null || true)
  out=$(send "$2" "$3" "outbound-$1-$$" "$N") || { echo "$out" >&2; fail "$1: the lockstep sender failed"; }
  echo "$out" >"$WORK/$1.json"
  MED[$1]=$("$PY" -c '
import json, statistics, sys
totals = [json.loads(line)["total_ms"] for line in sys.stdin if line.strip()]
assert len(totals) == int(sys.argv[1]), totals
print("%.1f" % statistics.median(totals))' "$N" <"$WORK/$1.json") || fail "$1: cannot read the sender's timings"
  after=$(grep ' <= ' "$EXIM_LOG" | tail -n +"$((before + 1))")
  [ "$(grep -c . <<<"$after")" = "$N" ] || { echo "$after" >&2; fail "$1: Exim received $(grep -c . <<<"$after") messages, expected $N"; }
  EARLY[$1]=$(grep -c ' L\* ' <<<"$after" || true)
}

log "priming: one connection through the proxy so that it learns Exim's EHLO reply"
send $PROXY_PORT 127.0.0.1 "outbound-priming-$$" 1 >"$WORK/priming.json" || { cat "$WORK/priming.json" >&2; fail "priming connection"; }
log "direct: $N connections to Exim"
measure direct $EXIM_PORT $SRV_ADDR
log "proxy: $N connections through earlypipe"
measure proxy $PROXY_PORT 127.0.0.1

# The warm path: N+1 connections in a row; the first meets Exim on a fresh connection (early, the EHLO reply is
# cached) and parks it, each later one takes the connection the one before parked.
log "warm: $((N + 1)) connections through earlypipe with ConnectionCache on"
before=$(grep -c ' <= ' "$EXIM_LOG" 2>/dev/null || true)
out=$(send $WARM_PORT 127.0.0.1 "outbound-warm-$$" "$((N + 1))") || { echo "$out" >&2; fail "warm: the lockstep sender failed"; }
echo "$out" >"$WORK/warm.json"
read -r WARM_FIRST WARM_MED < <("$PY" -c '
import json, statistics, sys
totals = [json.loads(line)["total_ms"] for line in sys.stdin if line.strip()]
assert len(totals) == int(sys.argv[1]) + 1, totals
print("%.1f %.1f" % (totals[0], statistics.median(totals[1:])))' "$N" <"$WORK/warm.json") || fail "warm: cannot read the sender's timings"
after=$(grep ' <= ' "$EXIM_LOG" | tail -n +"$((before + 1))")
[ "$(grep -c . <<<"$after")" = "$((N + 1))" ] || { echo "$after" >&2; fail "warm: Exim received $(grep -c . <<<"$after") messages, expected $((N + 1))"; }
WARM_CONNECTIONS=$(sed -n 's/.* H=[^[]*\[[0-9a-fA-F.:]*\]:\([0-9]*\) .*/\1/p' <<<"$after" | sort -u | grep -c . || true)
WARM_EARLY=$(tail -n +2 <<<"$after" | grep -c ' L\* ' || true)
MED[warm]=$WARM_MED
EARLY[warm]=$WARM_EARLY

rtt() { awk -v m="$1" -v r="$RTT_MS" 'BEGIN { printf "%.2f", m / r }'; }
{
  echo "# bench/rtt/outbound.sh  $(date -u +%FT%TZ)"
  echo "# link=$LINK one-way delay ${DELAY_MS} ms, measured RTT ${RTT_MS} ms; N=$N connections per path, one message each"
  echo "# strictly lockstep sender (tests/peers/lockstep-send.py) in $NS_CLI -> Exim 4.96 (PIPECONNECT, CHUNKING) in $NS_SRV"
  echo "# cell = median time the sender spent per connection, connect() to the reply to QUIT; early = Exim logged L*"
  echo
  echo "| lockstep sender | direct to Exim | through the outbound proxy | saved |"
  echo "|---|---|---|---|"
  echo "| one message per connection | $(rtt "${MED[direct]}") RTT (${MED[direct]} ms, early ${EARLY[direct]}/$N) | $(rtt "${MED[proxy]}") RTT (${MED[proxy]} ms, early ${EARLY[proxy]}/$N) | $(awk -v d="${MED[direct]}" -v p="${MED[proxy]}" -v r="$RTT_MS" 'BEGIN { printf "%.2f", (d - p) / r }') RTT |"
  echo
  echo "# warm: $((N + 1)) connections in a row through a listener with ConnectionCache on; the first is fresh (early),"
  echo "# the later $N take the remote connection the previous session parked; Exim saw $WARM_CONNECTIONS connection(s) carry all $((N + 1))"
  echo
  echo "| lockstep sender through the outbound proxy | first message (fresh connection, early flight) | later messages (warm connection) | saved per later message |"
  echo "|---|---|---|---|"
  echo "| one message per connection, connections in a row | $(rtt "$WARM_FIRST") RTT ($WARM_FIRST ms; fresh path median $(rtt "${MED[proxy]}") RTT) | $(rtt "${MED[warm]}") RTT (${MED[warm]} ms, median of $N, Exim connections $WARM_CONNECTIONS) | $(awk -v f="${MED[proxy]}" -v w="${MED[warm]}" -v r="$RTT_MS" 'BEGIN { printf "%.2f", (f - w) / r }') RTT |"
  echo
  for path in direct proxy; do
    echo "RTT_RESULT mode=LOCKSTEP path=$path status=ok n=$N median_ms=${MED[$path]} median_rtt=$(rtt "${MED[$path]}") early=${EARLY[$path]} rtt_ms=$RTT_MS"
  done
  echo "RTT_RESULT mode=LOCKSTEP path=warm status=ok n=$N median_ms=${MED[warm]} median_rtt=$(rtt "${MED[warm]}") early=${EARLY[warm]} rtt_ms=$RTT_MS first_ms=$WARM_FIRST first_rtt=$(rtt "$WARM_FIRST") connections=$WARM_CONNECTIONS"
} >"$WORK/table.txt"
mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/table.txt" "$RESULTS"
cat "$WORK/table.txt"
log "results written to $RESULTS"
