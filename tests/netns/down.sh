#!/bin/bash
# Undo tests/netns/up.sh: stop the delay line (by its pid file, after checking
# /proc/PID/cmdline), delete the link and the namespaces up.sh created.
# Touches nothing else; processes still running inside the namespaces are
# reported, not killed (whoever started them stops them). Idempotent.
set -uo pipefail
# shellcheck source=tests/netns/common.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

[ "$(id -u)" = 0 ] || netns_die "must run as root"
[ -f "$STATE" ] || { echo "netns: nothing to tear down ($STATE absent)"; exit 0; }
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/lock"; flock 9
CREATED_NS=""
# shellcheck disable=SC1090
. "$STATE"

for ns in $CREATED_NS; do
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  [ -n "$pids" ] && echo "netns: warning: processes still inside $ns: $pids(not ours to stop)" >&2
done

if p=$(delay_line_pid); then
  kill -TERM "$p"
  for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.05; done
  [ -d "/proc/$p" ] && echo "netns: warning: delay line $p did not exit" >&2
fi
rm -f "$DL_PID"

netns_exists "$NS_CLI" && ip netns exec "$NS_CLI" ip link del "$DEV_CLI" 2>/dev/null
for ns in $CREATED_NS; do
  netns_exists "$ns" && ip netns del "$ns"
done
rm -f "$STATE" "$RUN_DIR/netem.err"
echo "netns down: removed${CREATED_NS:- nothing}"
