#!/bin/bash
# What the product promises, measured on the wire: how many round trips an
# early-pipelining (PIPECONNECT) Exim client saves when it talks to Postfix
# through the proxy instead of directly.
#
#   client netns epp-cli 198.18.0.1 ==(DELAY_MS each way)==> server netns epp-srv 198.18.0.2
#     Exim 4.96 client ---------------------------------> Postfix 3.7   :2525  (direct path)
#     Exim 4.96 client ---------------------------------> earlypipe     :2025  (proxy path)
#                                                           `--> Postfix 198.18.0.2:2525, XCLIENT
#
# For each client mode (CHUNKING=1: BDAT, CHUNKING=0: DATA, tls: STARTTLS then BDAT) and each path
# it sends one priming message (RESET_CACHE=1, not counted: it fills Exim's
# EHLO cache) and then N counted messages, one SMTP connection each, with
# tcpdump running in the client namespace. tests/netns/pcap_rtt.py turns each
# capture into "SYN -> reply to end-of-message" per connection; the table
# shows the medians in RTTs and the difference.
#
#   sudo bench/rtt/measure.sh
# Environment:
#   N=3              counted messages per path and mode
#   DELAY_MS=25      one-way delay of the link (RTT = 2*DELAY_MS)
#   MODES="1 0"      modes to run: 1 = BDAT, 0 = DATA (cleartext), tls = STARTTLS with BDAT
#                    (Exim TLS=require; direct: Postfix's own STARTTLS; proxy: a second
#                    listener :2587 with "Tls", cleartext XCLIENT backend; TLS 1.3 records are
#                    decrypted from Exim's key log, see tests/netns/pcap_rtt.py --keylog),
#                    nochunk = a BDAT client (CHUNKING=1) and a Postfix without CHUNKING
#                    (a second smtpd :2527 with smtpd_discard_ehlo_keywords = chunking; direct,
#                    the client falls back to DATA; through a third listener :2028 it keeps BDAT
#                    and the proxy converts it to DATA)
#                    tfo = TCP Fast Open: the Exim client with hosts_try_fastopen (net.ipv4.tcp_fastopen=3
#                    in both namespaces for the run, restored after), DATA and BDAT, to three servers:
#                    an Exim 4.96 server with TFO :2625 (the reference, Exim to Exim), the proxy :2025
#                    (FastOpen on) and a fourth listener :2029 with "FastOpen": false (as before Fast
#                    Open), both to Postfix; each path starts from no cookie (ip tcp_metrics delete),
#                    so the priming connection gets it and the counted ones carry their flight in the SYN
#                    (cells: SYN -> first reply and SYN -> end-of-message reply, and on how many counted
#                    connections the server's SYN-ACK acknowledged the SYN's data, from the capture; Exim
#                    4.96's own TFO* is counted in RTT_RESULT tfo=, but over a delayed link it is never
#                    logged: 4.96 looks once, right after connect(), before the SYN-ACK can be in)
#   TLS=1            shorthand: add "tls" to MODES
#   TFO=1            shorthand: add "tfo" to MODES
#   PROXY=auto|1|0   auto: measure the proxy path if earlypipe.dll is found,
#                    else report it as pending; 1: required; 0: direct only
#   PROXY_DIR        directory holding earlypipe.dll (default: the newest
#                    src/EarlyPipeProxy.Host/bin/{Release,Debug}/net10.0)
#   RESULTS          where the table (and the RTT_ lines) go
#                    (default bench/rtt/results/latest.txt)
#   KEEP_PCAPS=1     keep the temporary directory: pcaps, per-connection
#                    pcap_rtt.py reports (*.txt), exim/proxy/postfix logs
# Output: the human table, then machine-readable lines
#   RTT_RESULT mode=BDAT path=direct n=3 median_ms=.. median_rtt=.. early=0 ...
#   RTT_SAVED mode=BDAT saved_rtt=..
# Exit status: 0 when every step worked (the proxy path may be "pending" only
# with PROXY=auto and no built proxy); non-zero when any step failed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NETNS=$ROOT/tests/netns
PEERS=$ROOT/tests/peers
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

N=${N:-3}
DELAY_MS=${DELAY_MS:-25}
MODES=${MODES:-1 0}
PROXY=${PROXY:-auto}
RESULTS=${RESULTS:-$HERE/results/latest.txt}
export NS_CLI=${NS_CLI:-epp-cli} NS_SRV=${NS_SRV:-epp-srv}
SRV_ADDR=198.18.0.2
DEV_CLI=epp-c
PF_PORT=2525 PF_PROXY_PORT=2526 PROXY_PORT=2025 PROXY_TLS_PORT=2587
PF_NOCHUNK_PORT=2527 PROXY_NOCHUNK_PORT=2028
EXIM_TFO_PORT=2625 PROXY_NOTFO_PORT=2029
[ "${TLS:-0}" = 1 ] && [[ " $MODES " != *" tls "* ]] && MODES="$MODES tls"
[ "${TFO:-0}" = 1 ] && [[ " $MODES " != *" tfo "* ]] && MODES="$MODES tfo"
for m in $MODES; do case $m in 0|1|tls|nochunk|tfo) ;; *) echo "measure: bad mode '$m' in MODES (0, 1, tls, nochunk, tfo)" >&2; exit 2;; esac; done
HAS_TLS=0; [[ " $MODES " == *" tls "* ]] && HAS_TLS=1
HAS_TFO=0; [[ " $MODES " == *" tfo "* ]] && HAS_TFO=1
EXIM_SRV_ENV=(EXIM_NAME=rttbench-tfo EXIM_NETNS="$NS_SRV" EXIM_ADDR="$SRV_ADDR" EXIM_PORT="$EXIM_TFO_PORT")
PF_ENV=(PF_NETNS="$NS_SRV" PF_NAME=rttbench PF_ADDR="$SRV_ADDR" PF_PORT="$PF_PORT"
        PF_PROXY_PORT="$PF_PROXY_PORT" PF_XCLIENT_HOSTS="$SRV_ADDR 127.0.0.1"
        PF_MASTER_EXTRA="$SRV_ADDR:$PF_NOCHUNK_PORT   inet  n  -  n  -  -  smtpd
  -o syslog_name=postfix-rttbench/nochunk
  -o smtpd_discard_ehlo_keywords=chunking")
EXIM_CLIENT=rttbench
RCPT=rtt@backend.test

fail() { echo "measure: FAILED: $*" >&2; exit 1; }
log() { echo "measure: $*" >&2; }
[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, tcpdump, Postfix)"
case $N in ''|*[!0-9]*|0) fail "N must be a positive integer";; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/epp-rtt.XXXXXX")
TCPDUMP_PID="" PROXY_PID="" PF_STARTED=0 NETNS_OURS=0 EXIM_STARTED=0
declare -A SYSCTL_BEFORE=()   # "ns sysctl" -> value to restore

cleanup() {
  local rc=$?
  set +e
  [ -n "$TCPDUMP_PID" ] && capture_stop
  if [ -n "$PROXY_PID" ] && tr '\0' ' ' <"/proc/$PROXY_PID/cmdline" 2>/dev/null | grep -q "earlypipe.dll run --config $WORK/"; then
    kill "$PROXY_PID"
    for _ in $(seq 100); do [ -d "/proc/$PROXY_PID" ] || break; sleep 0.05; done
    [ -d "/proc/$PROXY_PID" ] && kill -KILL "$PROXY_PID"
  fi
  [ "$PF_STARTED" = 1 ] && env "${PF_ENV[@]}" "$PEERS/postfix.sh" stop >/dev/null
  [ "$EXIM_STARTED" = 1 ] && env "${EXIM_SRV_ENV[@]}" "$PEERS/exim.sh" server stop >/dev/null
  for k in "${!SYSCTL_BEFORE[@]}"; do
    ip netns exec "${k%% *}" sysctl -q -w "${k#* }=${SYSCTL_BEFORE[$k]}" >/dev/null 2>&1
  done
  [ "$NETNS_OURS" = 1 ] && "$NETNS/down.sh" >/dev/null
  if [ "${KEEP_PCAPS:-0}" = 1 ] || [ $rc != 0 ]; then
    log "pcaps and logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ set-up
"$PEERS/install.sh" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "tests/peers/install.sh"; }

PROXY_DLL=""
if [ "$PROXY" != 0 ]; then
  if [ -n "${PROXY_DIR:-}" ]; then
    [ -f "$PROXY_DIR/earlypipe.dll" ] && PROXY_DLL=$(realpath "$PROXY_DIR/earlypipe.dll")
  else
    PROXY_DLL=$(ls -t "$ROOT"/src/EarlyPipeProxy.Host/bin/{Release,Debug}/net10.0/earlypipe.dll 2>/dev/null | head -1 || true)
  fi
  if [ -z "$PROXY_DLL" ]; then
    [ "$PROXY" = 1 ] && fail "earlypipe.dll not found (PROXY_DIR=${PROXY_DIR:-unset}); build src/EarlyPipeProxy.Host"
    log "no earlypipe.dll found: the proxy path is reported as pending"
  fi
  command -v dotnet >/dev/null || { [ "$PROXY" = 1 ] && fail "dotnet not found"; PROXY_DLL=""; }
fi

[ -f "${EPP_NETNS_RUN:-/run/epp-netns}/$NS_CLI/state" ] || NETNS_OURS=1
DELAY_MS=$DELAY_MS "$NETNS/up.sh" >"$WORK/netns.log" 2>&1 || { cat "$WORK/netns.log" >&2; fail "tests/netns/up.sh"; }
RTT_MS=$(sed -n 's/^NETNS_RTT_MS=//p' "$WORK/netns.log")
LINK=$(sed -n 's/.*link=\([a-z]*\).*/\1/p' "$WORK/netns.log" | head -1)
[ -n "$RTT_MS" ] || fail "no RTT measured by up.sh"
log "namespaces up (link=$LINK), measured RTT $RTT_MS ms"

env "${PF_ENV[@]}" "$PEERS/postfix.sh" status >/dev/null 2>&1 || PF_STARTED=1
env "${PF_ENV[@]}" "$PEERS/postfix.sh" start >"$WORK/postfix.log" 2>&1 || { cat "$WORK/postfix.log" >&2; fail "postfix start in $NS_SRV"; }
log "$(tail -1 "$WORK/postfix.log" | cut -c1-100)"

set_sysctl() {  # set_sysctl NS NAME VALUE: for this run only (cleanup restores the value it had)
  local before
  before=$(ip netns exec "$1" sysctl -n "$2") || fail "sysctl $2 in $1"
  [ -n "${SYSCTL_BEFORE["$1 $2"]+x}" ] || SYSCTL_BEFORE["$1 $2"]=$before
  ip netns exec "$1" sysctl -q -w "$2=$3" >/dev/null || fail "sysctl -w $2=$3 in $1"
}
TFO_LISTENER=""
if [ "$HAS_TFO" = 1 ]; then
  # Per network namespace: these two only. Bit 1 lets the client send data in a SYN, bit 2 the servers take it.
  set_sysctl "$NS_CLI" net.ipv4.tcp_fastopen 3
  set_sysctl "$NS_SRV" net.ipv4.tcp_fastopen 3
  # A client that saw Fast Open fail may stop trying for an hour (older kernels' default); none of that here.
  ip netns exec "$NS_CLI" test -e /proc/sys/net/ipv4/tcp_fastopen_blackhole_timeout_sec &&
    set_sysctl "$NS_CLI" net.ipv4.tcp_fastopen_blackhole_timeout_sec 0
  env "${EXIM_SRV_ENV[@]}" "$PEERS/exim.sh" server status >/dev/null 2>&1 || EXIM_STARTED=1
  env "${EXIM_SRV_ENV[@]}" "$PEERS/exim.sh" server start >"$WORK/exim-server.log" 2>&1 ||
    { cat "$WORK/exim-server.log" >&2; fail "exim server start in $NS_SRV"; }
  log "$(tail -1 "$WORK/exim-server.log" | cut -c1-100)"
  TFO_LISTENER=",
    {
      \"Name\": \"smtp-notfo\",
      \"Listen\": \"$SRV_ADDR:$PROXY_NOTFO_PORT\",
      \"FastOpen\": false,
      \"Backend\": { \"Address\": \"$SRV_ADDR:$PF_PORT\", \"ClientIdentity\": \"Xclient\", \"LookupClientName\": false },
      \"PipeConnect\": { \"AdvertiseHosts\": [ \"*\" ], \"Keyword\": \"PIPECONNECT\" }
    }"
fi

TLS_LISTENER=""
if [ "$HAS_TLS" = 1 ]; then
  "$PEERS/tls.sh" >"$WORK/tls.env" 2>"$WORK/tls.log" || { cat "$WORK/tls.log" >&2; fail "tests/peers/tls.sh"; }
  TLS_CERT=$(sed -n 's/^TLS_CERT=//p' "$WORK/tls.env") TLS_KEY=$(sed -n 's/^TLS_KEY=//p' "$WORK/tls.env")
  TLS_LISTENER=",
    {
      \"Name\": \"smtp-tls\",
      \"Listen\": \"$SRV_ADDR:$PROXY_TLS_PORT\",
      \"Tls\": { \"CertificatePath\": \"$TLS_CERT\", \"KeyPath\": \"$TLS_KEY\" },
      \"Backend\": { \"Address\": \"$SRV_ADDR:$PF_PORT\", \"ClientIdentity\": \"Xclient\", \"LookupClientName\": false, \"Tls\": \"None\" },
      \"PipeConnect\": { \"AdvertiseHosts\": [ \"*\" ], \"Keyword\": \"PIPECONNECT\" }
    }"
  "$PY" -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is needed to decrypt the TLS captures (apt-get install python3-cryptography)"
fi

if [ -n "$PROXY_DLL" ]; then
  cat >"$WORK/earlypipe.json" <<EOF
{
  "Inbound": [
    {
      "Name": "smtp",
      "Listen": "$SRV_ADDR:$PROXY_PORT",
      "Backend": { "Address": "$SRV_ADDR:$PF_PORT", "ClientIdentity": "Xclient", "LookupClientName": false },
      "PipeConnect": { "AdvertiseHosts": [ "*" ], "Keyword": "PIPECONNECT" }
    },
    {
      "Name": "smtp-nochunk",
      "Listen": "$SRV_ADDR:$PROXY_NOCHUNK_PORT",
      "Backend": { "Address": "$SRV_ADDR:$PF_NOCHUNK_PORT", "ClientIdentity": "Xclient", "LookupClientName": false },
      "PipeConnect": { "AdvertiseHosts": [ "*" ], "Keyword": "PIPECONNECT" }
    }$TLS_LISTENER$TFO_LISTENER
  ]
}
EOF
  # `ip netns exec` execs dotnet in place, so $! is the proxy's own pid.
  (cd "$WORK" && exec ip netns exec "$NS_SRV" dotnet "$PROXY_DLL" run --config "$WORK/earlypipe.json") \
    </dev/null >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  up=0
  for _ in $(seq 300); do
    [ -d "/proc/$PROXY_PID" ] || break
    if ip netns exec "$NS_SRV" timeout 2 bash -c "exec 3<>/dev/tcp/$SRV_ADDR/$PROXY_PORT" 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  for extra in $([ "$HAS_TLS" = 1 ] && echo "$PROXY_TLS_PORT") $([ "$HAS_TFO" = 1 ] && echo "$PROXY_NOTFO_PORT"); do
    [ $up = 1 ] || break
    up=0
    for _ in $(seq 50); do
      if ip netns exec "$NS_SRV" timeout 2 bash -c "exec 3<>/dev/tcp/$SRV_ADDR/$extra" 2>/dev/null; then up=1; break; fi
      sleep 0.1
    done
  done
  if [ $up != 1 ]; then
    tail -30 "$WORK/proxy.log" >&2
    fail "the proxy ($PROXY_DLL) did not listen on $SRV_ADDR:$PROXY_PORT${TLS_LISTENER:+ and :$PROXY_TLS_PORT} in $NS_SRV within 30 s"
  fi
  log "proxy up (pid $PROXY_PID, $PROXY_DLL) on $SRV_ADDR:$PROXY_PORT -> Postfix $SRV_ADDR:$PF_PORT"
fi

# ----------------------------------------------------------------- measuring
capture_start() {  # capture_start FILE PORT
  : >"$WORK/tcpdump.err"
  ip netns exec "$NS_CLI" tcpdump -i "$DEV_CLI" -nn -U --immediate-mode -s 0 -w "$1" "tcp port $2" 2>"$WORK/tcpdump.err" &
  TCPDUMP_PID=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$WORK/tcpdump.err" && return 0
    [ -d "/proc/$TCPDUMP_PID" ] || break
    sleep 0.05
  done
  cat "$WORK/tcpdump.err" >&2
  fail "tcpdump did not start in $NS_CLI"
}
capture_stop() {
  sleep 0.2                                    # let the last FIN/ACKs cross the link
  kill -INT "$TCPDUMP_PID" 2>/dev/null
  wait "$TCPDUMP_PID" 2>/dev/null || true
  TCPDUMP_PID=""
}

FAST_OPEN=0  # 1 while a tfo mode runs: the client tries TCP Fast Open (hosts_try_fastopen = *)
send_one() {  # send_one PORT CHUNKING RESET TAG [KEYLOG]: with KEYLOG, TLS=require and the secrets go there
  printf 'From: rtt bench <sender@client.test>\nTo: %s\nSubject: rtt %s\nMessage-ID: <%s@client.test>\n\nlatency probe %s\n' \
    "$RCPT" "$4" "$4.$$" "$4" |
    EXIM_NAME=$EXIM_CLIENT EXIM_NETNS=$NS_CLI TO_HOST=$SRV_ADDR TO_PORT=$1 PIPE_CONNECT=1 CHUNKING=$2 RESET_CACHE=$3 FAST_OPEN=$FAST_OPEN \
      TLS=$([ -n "${5:-}" ] && echo require || echo off) TLS_KEYLOG=${5:-} \
      "$PEERS/exim.sh" send "$RCPT"
}

declare -A MED EARLY CONNS FIRST SYND TFOS
run_path() {  # run_path MODE_LABEL CHUNKING PATH PORT [TLS]
  local label=$1 ch=$2 path=$3 port=$4 tls=${5:-} pcap=$WORK/$1-$3.pcap i out keylog="" keyopt=() tfos=0
  if [ -n "$tls" ]; then keylog=$WORK/$label-$path.keylog; : >"$keylog"; keyopt=(--keylog "$keylog"); fi
  # Fast Open from no cookie: the priming connection gets it, the counted ones use it.
  [ "$FAST_OPEN" = 1 ] && { ip netns exec "$NS_CLI" ip tcp_metrics delete "$SRV_ADDR" 2>/dev/null || true; }
  capture_start "$pcap" "$port"
  for i in $(seq 0 "$N"); do
    out=$(send_one "$port" "$ch" "$([ "$i" = 0 ] && echo 1 || echo 0)" "$label-$path-$i" "$keylog" 2>&1) ||
      { echo "$out" >&2; fail "exim send #$i ($label, $path, port $port) was not delivered"; }
    echo "$label $path #$i: $out" >>"$WORK/exim.log"
    # Exim's own word that the server took the flight in the SYN: "TFO*" on the => line.
    [ "$i" != 0 ] && grep -q ' => .* TFO\* ' <<<"$out" && tfos=$((tfos + 1))
  done
  capture_stop
  if [ -n "$tls" ] && ! grep -q ' X=' <<<"$out"; then echo "$out" >&2; fail "$label/$path: the Exim client did not use TLS"; fi
  "$PY" "$NETNS/pcap_rtt.py" "$pcap" "$port" --rtt-ms "$RTT_MS" --skip 1 "${keyopt[@]}" >"$WORK/$label-$path.txt" ||
    fail "pcap_rtt.py $pcap"
  local s; s=$(grep '^SUMMARY' "$WORK/$label-$path.txt")
  local conns with_eom med early
  conns=$(sed 's/.* conns=\([0-9]*\).*/\1/' <<<"$s")
  with_eom=$(sed 's/.* with_eom=\([0-9]*\).*/\1/' <<<"$s")
  med=$(sed 's/.* median_eom_ms=\([0-9.NA]*\).*/\1/' <<<"$s")
  early=$(sed 's/.* early=\([0-9]*\).*/\1/' <<<"$s")
  [ "$conns" = "$N" ] && [ "$with_eom" = "$N" ] ||
    { cat "$WORK/$label-$path.txt" >&2; fail "$label/$path: expected $N counted connections with an end-of-message reply, got $conns/$with_eom"; }
  MED[$label-$path]=$med EARLY[$label-$path]=$early CONNS[$label-$path]=$conns TFOS[$label-$path]=$tfos
  FIRST[$label-$path]=$(sed 's/.* median_first_ms=\([0-9.NA]*\).*/\1/' <<<"$s")
  SYND[$label-$path]=$(sed 's/.* syn_data=\([0-9]*\).*/\1/' <<<"$s")
  grep '^RESULT' "$WORK/$label-$path.txt" | sed "s/^RESULT/  $label $path:/" >&2
}

mode_label() { case $1 in 1) echo BDAT;; 0) echo DATA;; tls) echo STARTTLS;; nochunk) echo BDAT-NOCHUNK;; esac; }
mode_desc() { case $1 in 1) echo "BDAT (CHUNKING=1)";; 0) echo "DATA (CHUNKING=0)";; tls) echo "STARTTLS + BDAT (TLS=require)";;
  nochunk) echo "BDAT (CHUNKING=1), Postfix without CHUNKING (direct: DATA)";; esac; }
for m in $MODES; do
  if [ "$m" = tfo ]; then
    FAST_OPEN=1
    for ch in 0 1; do
      label=TFO-$(mode_label "$ch")
      log "$label: Exim server with TFO (reference), 1 priming + $N counted messages"
      run_path "$label" "$ch" exim "$EXIM_TFO_PORT"
      if [ -n "$PROXY_DLL" ]; then
        log "$label: proxy path (FastOpen on), 1 priming + $N counted messages"
        run_path "$label" "$ch" proxy "$PROXY_PORT"
        log "$label: proxy path (FastOpen false), 1 priming + $N counted messages"
        run_path "$label" "$ch" proxy-notfo "$PROXY_NOTFO_PORT"
      fi
    done
    FAST_OPEN=0
    continue
  fi
  label=$(mode_label "$m")
  ch=$m tls="" pport=$PROXY_PORT dport=$PF_PORT
  [ "$m" = tls ] && ch=1 tls=1 pport=$PROXY_TLS_PORT
  [ "$m" = nochunk ] && ch=1 pport=$PROXY_NOCHUNK_PORT dport=$PF_NOCHUNK_PORT
  log "$label: direct path, 1 priming + $N counted messages"
  run_path "$label" "$ch" direct "$dport" $tls
  if [ -n "$PROXY_DLL" ]; then
    log "$label: proxy path, 1 priming + $N counted messages"
    run_path "$label" "$ch" proxy "$pport" $tls
  fi
done

# ------------------------------------------------------------------ report
rtt() { awk -v m="$1" -v r="$RTT_MS" 'BEGIN { printf "%.2f", m / r }'; }
{
  echo "# bench/rtt/measure.sh  $(date -u +%FT%TZ)"
  echo "# link=$LINK one-way delay ${DELAY_MS} ms, measured RTT ${RTT_MS} ms; N=$N counted connections per cell (after 1 priming connection)"
  echo "# Exim 4.96 client (hosts_pipe_connect=*) in $NS_CLI -> Postfix 3.7 in $NS_SRV, directly or through earlypipe (XCLIENT)"
  echo "# cell = median time from the client's SYN to the server's reply to end-of-message, on the wire in $NS_CLI"
  [ "$HAS_TLS" = 1 ] && echo "# STARTTLS: TLS 1.3 records decrypted with the Exim client's key log; a reply counts when its record has arrived"
  echo
  echo "| Exim client | direct to Postfix | through the proxy | saved |"
  echo "|---|---|---|---|"
  for ch in $MODES; do
    [ "$ch" = tfo ] && continue
    label=$(mode_label "$ch")
    d=${MED[$label-direct]}
    dcell="$(rtt "$d") RTT ($d ms, early ${EARLY[$label-direct]}/$N)"
    if [ -n "$PROXY_DLL" ]; then
      p=${MED[$label-proxy]}
      pcell="$(rtt "$p") RTT ($p ms, early ${EARLY[$label-proxy]}/$N)"
      saved="$(awk -v d="$d" -v p="$p" -v r="$RTT_MS" 'BEGIN { printf "%.2f", (d - p) / r }') RTT"
    else
      pcell="proxy: pending" saved="-"
    fi
    echo "| $(mode_desc "$ch") | $dcell | $pcell | $saved |"
  done
  if [ "$HAS_TFO" = 1 ]; then
    echo
    echo "# TCP Fast Open: the Exim client with hosts_try_fastopen, net.ipv4.tcp_fastopen=3 in both namespaces; each cell: SYN -> that reply"
    echo "# (median over the counted connections), and on how many of them the server took the SYN's data (its SYN-ACK acknowledged it)"
    echo
    echo "| Exim client, reply | Exim 4.96 server with TFO (reference) | through the proxy to Postfix | through the proxy, FastOpen false |"
    echo "|---|---|---|---|"
    for ch in 0 1; do
      label=TFO-$(mode_label "$ch")
      for what in first eom; do
        row="| $(mode_label "$ch"): $([ $what = first ] && echo 'first reply (banner)' || echo 'end-of-message reply') |"
        for path in exim proxy proxy-notfo; do
          if [ -z "${MED[$label-$path]:-}" ]; then row+=" pending |"; continue; fi
          v=$([ $what = first ] && echo "${FIRST[$label-$path]}" || echo "${MED[$label-$path]}")
          row+=" $(rtt "$v") RTT ($v ms, SYN data taken ${SYND[$label-$path]}/$N) |"
        done
        echo "$row"
      done
    done
  fi
  echo
  for ch in $MODES; do
    if [ "$ch" = tfo ]; then
      for label in TFO-DATA TFO-BDAT; do
        for path in exim proxy proxy-notfo; do
          [ -n "${MED[$label-$path]:-}" ] || { echo "RTT_RESULT mode=$label path=$path status=pending"; continue; }
          echo "RTT_RESULT mode=$label path=$path status=ok n=${CONNS[$label-$path]} median_ms=${MED[$label-$path]} median_rtt=$(rtt "${MED[$label-$path]}") early=${EARLY[$label-$path]} rtt_ms=$RTT_MS first_ms=${FIRST[$label-$path]} first_rtt=$(rtt "${FIRST[$label-$path]}") syn_data=${SYND[$label-$path]} tfo=${TFOS[$label-$path]}"
        done
      done
      continue
    fi
    label=$(mode_label "$ch")
    for path in direct proxy; do
      [ -n "${MED[$label-$path]:-}" ] || { echo "RTT_RESULT mode=$label path=$path status=pending"; continue; }
      echo "RTT_RESULT mode=$label path=$path status=ok n=${CONNS[$label-$path]} median_ms=${MED[$label-$path]} median_rtt=$(rtt "${MED[$label-$path]}") early=${EARLY[$label-$path]} rtt_ms=$RTT_MS first_ms=${FIRST[$label-$path]} first_rtt=$(rtt "${FIRST[$label-$path]}") syn_data=${SYND[$label-$path]}"
    done
    if [ -n "${MED[$label-proxy]:-}" ]; then
      echo "RTT_SAVED mode=$label saved_rtt=$(awk -v d="${MED[$label-direct]}" -v p="${MED[$label-proxy]}" -v r="$RTT_MS" 'BEGIN { printf "%.2f", (d - p) / r }')"
    fi
  done
} >"$WORK/table.txt"

mkdir -p "$(dirname "$RESULTS")"
cp "$WORK/table.txt" "$RESULTS"
cat "$WORK/table.txt"
log "results written to $RESULTS"
