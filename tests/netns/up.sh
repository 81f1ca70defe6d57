#!/bin/bash
# Two network namespaces joined by a link that delays every packet DELAY_MS
# in each direction (round trip = 2*DELAY_MS):
#
#   NS_CLI (epp-cli) 198.18.0.1  dev epp-c  <== DELAY_MS ==>  dev epp-s  198.18.0.2 (epp-srv) NS_SRV
#
# The link is a veth pair with `tc qdisc netem delay` when the kernel has
# sch_netem; otherwise (LINK=auto) a userspace delay line, delay_line.py, over
# two tun devices, running in the background (pid file $RUN_DIR/delay_line.pid).
# Each namespace has loopback up and a single /32 peer route to the other
# side: no default route, nothing routed to the root namespace or beyond.
# Idempotent: if the link is already up it only re-measures the RTT.
# Prints the measured RTT (TCP connect to a closed port = SYN -> RST).
# Last line of output, machine-readable:  NETNS_RTT_MS=<ms>
#
#   sudo tests/netns/up.sh        env: DELAY_MS=25 LINK=auto|netem|tun NS_CLI NS_SRV
#   sudo tests/netns/down.sh
set -euo pipefail
# shellcheck source=tests/netns/common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

[ "$(id -u)" = 0 ] || netns_die "must run as root"
netns_check_addr "$CLI_ADDR"; netns_check_addr "$SRV_ADDR"
case $DELAY_MS in ''|*[!0-9.]*) netns_die "DELAY_MS must be a number of milliseconds";; esac
command -v ip >/dev/null && command -v tc >/dev/null || \
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2 >/dev/null
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/lock"; flock 9

healthy() {
  [ -f "$STATE" ] || return 1
  # shellcheck disable=SC1090
  ( . "$STATE"
    netns_exists "$NS_CLI" && netns_exists "$NS_SRV" || exit 1
    ip netns exec "$NS_CLI" ip -4 -o addr show dev "$DEV_CLI" 2>/dev/null | grep -q " $CLI_ADDR " || exit 1
    [ "$MODE" = netem ] || delay_line_pid >/dev/null || exit 1
    [ "$DELAY_MS_UP" = "$DELAY_MS" ] || exit 1 )
}

if healthy; then
  # shellcheck disable=SC1090
  . "$STATE"
  echo "netns already up: $NS_CLI=$CLI_ADDR <-> $NS_SRV=$SRV_ADDR, link=$MODE, ${DELAY_MS}ms each way"
else
  if [ -f "$STATE" ]; then
    echo "netns: stale or different set-up found; tearing it down first" >&2
    flock -u 9; "$NETNS_DIR/down.sh" >&2; flock 9
  fi
  for ns in "$NS_CLI" "$NS_SRV"; do
    netns_exists "$ns" && netns_die "namespace $ns exists but was not created by up.sh (no $STATE); remove it yourself"
  done
  # Record what we create as we go, so down.sh can undo a half-finished run.
  printf 'NS_CLI=%s\nNS_SRV=%s\nCREATED_NS=""\nMODE=""\nDELAY_MS_UP=%s\n' "$NS_CLI" "$NS_SRV" "$DELAY_MS" >"$STATE"
  for ns in "$NS_CLI" "$NS_SRV"; do
    ip netns add "$ns"
    sed -i "s/^CREATED_NS=\"\(.*\)\"/CREATED_NS=\"\1 $ns\"/" "$STATE"
    ip netns exec "$ns" ip link set lo up
  done

  MODE=""
  if [ "$LINK" != tun ]; then
    ip link add "$DEV_CLI" netns "$NS_CLI" type veth peer name "$DEV_SRV" netns "$NS_SRV"
    if ip netns exec "$NS_CLI" tc qdisc add dev "$DEV_CLI" root netem delay "${DELAY_MS}ms" 2>"$RUN_DIR/netem.err" &&
       ip netns exec "$NS_SRV" tc qdisc add dev "$DEV_SRV" root netem delay "${DELAY_MS}ms" 2>>"$RUN_DIR/netem.err"; then
      MODE=netem
    else
      ip netns exec "$NS_CLI" ip link del "$DEV_CLI"
      [ "$LINK" = netem ] && netns_die "tc netem failed: $(head -1 "$RUN_DIR/netem.err")"
      echo "netns: no netem in this kernel ($(head -1 "$RUN_DIR/netem.err")); using the userspace delay line" >&2
    fi
  fi
  if [ -z "$MODE" ]; then
    [ -c /dev/net/tun ] || netns_die "/dev/net/tun missing: neither netem nor tun available"
    rm -f "$DL_PID"
    setsid "$PY" "$NETNS_DIR/delay_line.py" --ns-a "$NS_CLI" --dev-a "$DEV_CLI" \
      --ns-b "$NS_SRV" --dev-b "$DEV_SRV" --delay-ms "$DELAY_MS" --pid-file "$DL_PID" \
      </dev/null >"$DL_LOG" 2>&1 9>&- &
    for _ in $(seq 100); do delay_line_pid >/dev/null && break; sleep 0.05; done
    delay_line_pid >/dev/null || { cat "$DL_LOG" >&2; netns_die "delay line did not start"; }
    MODE=tun
  fi
  ip netns exec "$NS_CLI" ip addr add "$CLI_ADDR" peer "$SRV_ADDR/32" dev "$DEV_CLI"
  ip netns exec "$NS_SRV" ip addr add "$SRV_ADDR" peer "$CLI_ADDR/32" dev "$DEV_SRV"
  ip netns exec "$NS_CLI" ip link set "$DEV_CLI" up
  ip netns exec "$NS_SRV" ip link set "$DEV_SRV" up
  sed -i "s/^MODE=.*/MODE=$MODE/" "$STATE"
  echo "netns up: $NS_CLI=$CLI_ADDR <-> $NS_SRV=$SRV_ADDR, link=$MODE, ${DELAY_MS}ms each way"
fi

rtt=""
for _ in 1 2 3; do rtt=$(measure_rtt) && break; sleep 0.2; done
[ -n "$rtt" ] || netns_die "could not measure the RTT (link broken?)"
echo "measured RTT (TCP connect to closed port $SRV_ADDR:9, best of 5): $rtt ms (nominal $(awk -v d="$DELAY_MS" 'BEGIN{print 2*d}') ms)"
echo "NETNS_RTT_MS=$rtt"
