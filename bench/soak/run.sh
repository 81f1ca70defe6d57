#!/bin/bash
# Soak with faults: tens of thousands of messages through one EarlyPipeProxy process, its inbound listener
# (Postfix 3.7 behind it, XCLIENT) and its outbound listener (Exim 4.96 as the remote, PIPECONNECT and
# STARTTLS) at once, while Postfix is killed (-9) and restarted, Exim stalls (SIGSTOP/SIGCONT) and clients
# abort in the middle of DATA and BDAT. Then every message a sender saw 2xx for must be delivered exactly
# once, no aborted one at all, the proxy's RSS must stay under a bound and a probe connection every second
# must get a reply within 2 s.
#
#   sudo bench/soak/run.sh
#
# Environment (defaults in brackets):
#   SOAK_MESSAGES [20000]       messages, half inbound, half outbound
#   SOAK_IN_CONCURRENCY [12]    inbound senders at once (half of the connections early-pipelined)
#   SOAK_OUT_CONCURRENCY [24]   outbound (lockstep) senders at once (Exim, a process per connection, is the slow side)
#   SOAK_FAULTS                 NAME:FRACTION,... (faults.sh commands; default: postfix-kill 0.15, exim-stall 0.3,
#                               postfix-restart 0.45, exim-stall 0.6, postfix-kill 0.75, exim-stall 0.88)
#   SOAK_DOWN_SECONDS [2]       how long Postfix stays down per fault
#   SOAK_STALL_SECONDS [4]      how long Exim stays stopped per stall
#   SOAK_ABORT_EVERY [40]       every n-th connection ends in an abort mid-DATA or mid-BDAT
#   SOAK_TLS_EVERY [4]          every n-th connection uses STARTTLS
#   SOAK_MAX_SECONDS [0]        stop starting connections after this long (0: never); `kill -USR1` on the
#                               soak.py process does the same at once. The check then covers the messages sent.
#   SOAK_RSS_LIMIT_MIB [512]    bound on the proxy's VmRSS (sampled every second)
#   SOAK_SEED [1]               the message plan (modes, sizes, aborts) is a function of the seed
#   BASE_PORT [27125]           Postfix, Postfix (PROXY port, unused), Exim, proxy inbound, proxy outbound:
#                               BASE_PORT..BASE_PORT+4, all on 127.0.0.1
#   PEERS_DIR [/var/tmp/epp-soak-peers]   peers' state; the instances soak-backend-BASE_PORT and soak-remote-BASE_PORT
#                               are wiped first (runs with different BASE_PORTs can share a PEERS_DIR)
#   NO_BUILD=1, PROXY_DLL=…/earlypipe.dll (default: the Release build, built unless NO_BUILD=1)
#   KEEP=1                      keep the work directory (records, probes, RSS samples, proxy log)
#   RESULTS                     where to copy the summary [bench/soak/results/latest.md]
# Output: a summary table on stdout and SOAK_RESULT key=value / SOAK_VIOLATION lines for scripts; exit 1 when an
# invariant is violated. Everything it starts is stopped again by pid (trap EXIT); nothing is killed by name.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=$ROOT/tests/peers
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

export PEERS_DIR=${PEERS_DIR:-/var/tmp/epp-soak-peers}
BASE_PORT=${BASE_PORT:-27125}
export PF_NAME=soak-backend-$BASE_PORT PF_ADDR=127.0.0.1 PF_PORT=$BASE_PORT PF_PROXY_PORT=$((BASE_PORT + 1)) PF_TLS=0
export EXIM_NAME=soak-remote-$BASE_PORT EXIM_ADDR=127.0.0.1 EXIM_PORT=$((BASE_PORT + 2)) EXIM_TLS=1 EXIM_PIPE_CONNECT=1
IN_PORT=$((BASE_PORT + 3)) OUT_PORT=$((BASE_PORT + 4))
export SOAK_DOWN_SECONDS=${SOAK_DOWN_SECONDS:-2} SOAK_STALL_SECONDS=${SOAK_STALL_SECONDS:-4}
MESSAGES=${SOAK_MESSAGES:-20000}
RSS_LIMIT=${SOAK_RSS_LIMIT_MIB:-512}
DLL=${PROXY_DLL:-$ROOT/src/EarlyPipeProxy.Host/bin/Release/net10.0/earlypipe.dll}
RESULTS=${RESULTS:-$HERE/results/latest.md}

log() { echo "[soak] $*" >&2; }
die() { log "ERROR: $*"; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (Postfix, Exim, signals to them)"
case $MESSAGES in ''|*[!0-9]*) die "SOAK_MESSAGES must be a number";; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/epp-soak.XXXXXX")
PROXY_PID="" PF_STARTED=0 EXIM_STARTED=0 LOAD_PID=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$LOAD_PID" ] && [ -d "/proc/$LOAD_PID" ]; then kill -TERM "$LOAD_PID"; wait "$LOAD_PID" 2>/dev/null; fi
  if [ -n "$PROXY_PID" ] && tr '\0' ' ' <"/proc/$PROXY_PID/cmdline" 2>/dev/null | grep -q "earlypipe.dll run --config $WORK/"; then
    kill -TERM "$PROXY_PID"
    for _ in $(seq 100); do [ -d "/proc/$PROXY_PID" ] || break; sleep 0.1; done
    [ -d "/proc/$PROXY_PID" ] && kill -KILL "$PROXY_PID"
  fi
  # a stall interrupted half-way must not leave Exim stopped
  if pid=$(. "$PEERS/lib.sh"; pid_from_file "$PEERS_DIR/exim-$EXIM_NAME/exim.pid" "$EXIM_BIN" 2>/dev/null); then
    for p in $pid $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; done
  fi
  [ "$EXIM_STARTED" = 1 ] && "$PEERS/exim.sh" server stop >/dev/null 2>&1
  [ "$PF_STARTED" = 1 ] && "$PEERS/postfix.sh" stop >/dev/null 2>&1
  if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PEERS/install.sh" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; die "tests/peers/install.sh failed"; }
if [ "${NO_BUILD:-0}" != 1 ] && [ -z "${PROXY_DLL:-}" ]; then
  log "building the proxy (Release)"
  dotnet build -c Release -nologo -v q "$ROOT/src/EarlyPipeProxy.Host" >&2 || die "build failed"
fi
[ -f "$DLL" ] || die "$DLL missing"
for p in $PF_PORT $PF_PROXY_PORT $EXIM_PORT $IN_PORT $OUT_PORT; do
  [ -z "$(ss -ltnH "sport = :$p")" ] || die "port $p is in use (set BASE_PORT)"
done
ulimit -n 65536 2>/dev/null || true

# --- peers: fresh instances of our own (a previous run's queue or maildir would confuse the count) --------
"$PEERS/postfix.sh" stop >/dev/null 2>&1 || true
"$PEERS/exim.sh" server stop >/dev/null 2>&1 || true
rm -rf "${PEERS_DIR:?}/postfix-$PF_NAME" "${PEERS_DIR:?}/exim-$EXIM_NAME"
PF_STARTED=1
"$PEERS/postfix.sh" start >"$WORK/postfix-start.log" 2>&1 || { cat "$WORK/postfix-start.log" >&2; die "postfix did not start"; }
EXIM_STARTED=1
"$PEERS/exim.sh" server start >"$WORK/exim-start.log" 2>&1 || { cat "$WORK/exim-start.log" >&2; die "exim did not start"; }
eval "$("$PEERS/tls.sh")"   # TLS_CERT, TLS_KEY, TLS_CHAIN ...
log "postfix $PF_ADDR:$PF_PORT, exim $EXIM_ADDR:$EXIM_PORT (STARTTLS, PIPECONNECT), peers in $PEERS_DIR"

# --- the proxy: one process, both directions ----------------------------------------------------------------
cat >"$WORK/earlypipe.json" <<EOF
{
  "EhloCache": { "DatabasePath": "$WORK/ehlo-cache.db" },
  "Inbound": [ {
    "Name": "soak-in", "Listen": "127.0.0.1:$IN_PORT",
    "Backend": { "Address": "127.0.0.1:$PF_PORT", "ClientIdentity": "Xclient", "LookupClientName": false },
    "PipeConnect": { "AdvertiseHosts": [ "*" ], "Keyword": "PIPECONNECT" },
    "Tls": { "CertificatePath": "$TLS_CHAIN", "KeyPath": "$TLS_KEY" },
    "Limits": { "MaxConnections": 2000 },
    "Timeouts": { "Command": "00:02:00" }
  } ],
  "Outbound": [ {
    "Name": "soak-out", "Listen": "127.0.0.1:$OUT_PORT", "Upstream": "127.0.0.1:$EXIM_PORT",
    "HeloName": "soak-sidecar.test",
    "Tls": { "Mode": "Opportunistic", "VerifyCertificate": false },
    "SenderTls": { "CertificatePath": "$TLS_CHAIN", "KeyPath": "$TLS_KEY" },
    "Limits": { "MaxConnections": 2000 },
    "Timeouts": { "Command": "00:02:00" }
  } ],
  "Logging": { "LogLevel": { "Default": "Information" } }
}
EOF
(cd "$WORK" && exec dotnet "$DLL" run --config "$WORK/earlypipe.json") </dev/null >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
up=0
for _ in $(seq 300); do
  [ -d "/proc/$PROXY_PID" ] || break
  if [ -n "$(ss -ltnH "sport = :$IN_PORT")" ] && [ -n "$(ss -ltnH "sport = :$OUT_PORT")" ]; then up=1; break; fi
  sleep 0.1
done
[ $up = 1 ] || { tail -30 "$WORK/proxy.log" >&2; die "the proxy did not listen on $IN_PORT/$OUT_PORT"; }
log "proxy pid $PROXY_PID: inbound 127.0.0.1:$IN_PORT -> postfix, outbound 127.0.0.1:$OUT_PORT -> exim; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- load and faults ------------------------------------------------------------------------------------------
RUN_ID=soak$(date +%s)$$
load_rc=0
"$PY" "$HERE/soak.py" load --inbound 127.0.0.1:$IN_PORT --outbound 127.0.0.1:$OUT_PORT --proxy-pid "$PROXY_PID" \
  --work "$WORK" --run-id "$RUN_ID" --messages "$MESSAGES" \
  --backend-probe 127.0.0.1:$PF_PORT --remote-probe 127.0.0.1:$EXIM_PORT \
  --in-concurrency "${SOAK_IN_CONCURRENCY:-12}" --out-concurrency "${SOAK_OUT_CONCURRENCY:-24}" \
  --abort-every "${SOAK_ABORT_EVERY:-40}" --tls-every "${SOAK_TLS_EVERY:-4}" --seed "${SOAK_SEED:-1}" --max-seconds "${SOAK_MAX_SECONDS:-0}" \
  ${SOAK_FAULTS:+--faults "$SOAK_FAULTS"} &
LOAD_PID=$!
wait $LOAD_PID || load_rc=$?   # (wait, not a foreground child: a TERM reaches the trap at once)
LOAD_PID=""
[ $load_rc = 0 ] || die "the load generator failed ($load_rc)"
LOAD_AVG=$(cut -d' ' -f1-3 /proc/loadavg)

# --- wait until both MTAs have delivered what they queued ----------------------------------------------------------
PF_D=$PEERS_DIR/postfix-$PF_NAME EX_D=$PEERS_DIR/exim-$EXIM_NAME
queued() {
  local n=0
  n=$(( $(find "$PF_D/spool/incoming" "$PF_D/spool/active" "$PF_D/spool/deferred" "$PF_D/spool/maildrop" -type f 2>/dev/null | wc -l) ))
  n=$(( n + $(find "$EX_D/spool/input" -name '*-H' 2>/dev/null | wc -l) ))
  echo $n
}
log "waiting for the queues to drain ($(queued) queued)"
for i in $(seq 180); do
  [ "$(queued)" = 0 ] && break
  [ $((i % 15)) = 0 ] && { postqueue -c "$PF_D/etc" -f 2>/dev/null || true; log "still $(queued) queued"; }
  sleep 1
done
left=$(queued)
[ "$left" = 0 ] || log "WARNING: $left messages still queued after 180 s (they count as not delivered)"

verify_rc=0
"$PY" "$HERE/soak.py" verify --work "$WORK" --postfix-maildir "$PF_D/mail" --exim-maildir "$EX_D/mail" \
  --proxy-pid "$PROXY_PID" --rss-limit-mib "$RSS_LIMIT" >"$WORK/summary.md" || verify_rc=$?
{
  cat "$WORK/summary.md"
  echo
  echo "Load average at the end of the load: $LOAD_AVG ($(nproc) cores); still queued at the check: $left."
  echo "Proxy log lines: $(wc -l <"$WORK/proxy.log"), warnings $(grep -cE '^[0-9-]+ [0-9:.]+ warning:' "$WORK/proxy.log" || true), errors $(grep -cE '^[0-9-]+ [0-9:.]+ (error|panic):' "$WORK/proxy.log" || true)"
  echo "Session ends (end=\"...\"): $(grep -o 'end="[^"]*"' "$WORK/proxy.log" | sort | uniq -c | sort -rn | awk '{c=$1; $1=""; printf "%s%s x%s", sep, substr($0,2), c; sep="; "}')"
} | tee "$WORK/summary.full.md"
mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/summary.full.md" "$RESULTS"
grep -E '^[0-9-]+ [0-9:.]+ (error|panic):' "$WORK/proxy.log" | head -20 >&2 || true
[ $verify_rc = 0 ] || { log "invariants violated; see $WORK"; exit 1; }
