# shellcheck shell=bash disable=SC2034
# Shared settings for tests/netns/{up,down}.sh (sourced, not run).
#   NS_CLI   client-side namespace          (default epp-cli, address CLI_ADDR)
#   NS_SRV   server-side namespace          (default epp-srv, address SRV_ADDR)
#   CLI_ADDR / SRV_ADDR                     (default 198.18.0.1 / 198.18.0.2)
#   DELAY_MS one-way delay, each direction  (default 25 -> RTT 50 ms)
#   LINK     auto | netem | tun             (default auto: netem if the kernel has it)
#   EPP_NETNS_RUN  state directory          (default /run/epp-netns)
NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_CLI=${NS_CLI:-epp-cli}
NS_SRV=${NS_SRV:-epp-srv}
CLI_ADDR=${CLI_ADDR:-198.18.0.1}
SRV_ADDR=${SRV_ADDR:-198.18.0.2}
DELAY_MS=${DELAY_MS:-25}
LINK=${LINK:-auto}
DEV_CLI=epp-c        # link device inside NS_CLI (veth end or tun)
DEV_SRV=epp-s        # link device inside NS_SRV
RUN_DIR=${EPP_NETNS_RUN:-/run/epp-netns}/$NS_CLI
STATE=$RUN_DIR/state
DL_PID=$RUN_DIR/delay_line.pid
DL_LOG=$RUN_DIR/delay_line.log
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

netns_die() { echo "netns: $*" >&2; exit 1; }

# Only RFC 2544 benchmarking addresses (198.18.0.0/15): nothing here may ever
# be routed anywhere else.
netns_check_addr() {
  case $1 in 198.18.*|198.19.*) ;; *) netns_die "address $1 is outside 198.18.0.0/15 (RFC 2544); refusing";; esac
}

netns_exists() { [ -e "/run/netns/$1" ]; }

# delay_line_pid -> prints the pid if the pid file names a live delay_line.py
delay_line_pid() {
  local p
  [ -s "$DL_PID" ] || return 1
  p=$(tr -dc 0-9 <"$DL_PID")
  [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "delay_line.py .*--ns-a $NS_CLI " || return 1
  echo "$p"
}

# measure_rtt -> one TCP connect() to a closed port on SRV_ADDR is SYN -> RST,
# i.e. one round trip. Best of 5, in ms.
measure_rtt() {
  ip netns exec "$NS_CLI" "$PY" - "$SRV_ADDR" <<'PY'
import socket, sys, time
best = None
for _ in range(5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    t = time.perf_counter()
    try:
        s.connect((sys.argv[1], 9))
        print('port 9 is open on %s: not a closed port' % sys.argv[1], file=sys.stderr)
    except ConnectionRefusedError:
        d = time.perf_counter() - t
        best = d if best is None else min(best, d)
    except OSError as e:
        print('connect: %s' % e, file=sys.stderr)
    finally:
        s.close()
if best is None:
    sys.exit(1)
print('%.1f' % (best * 1000))
PY
}
