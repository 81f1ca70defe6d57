# shellcheck shell=bash
# Common settings for the tests/peers scripts. Sourced, never run.
# Everything these scripts create lives under $PEERS_DIR.
PEERS_DIR=${PEERS_DIR:-/var/tmp/earlypipe-peers}
export PEERS_DIR
PEERS_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXIM_ROOT=$PEERS_DIR/exim-root
EXIM_BIN=$EXIM_ROOT/usr/sbin/exim4
PF_MASTER=/usr/lib/postfix/sbin/master
EXIM_DEBS="exim4-daemon-heavy exim4-base exim4-config"

peers_die() { echo "${0##*/}: $*" >&2; exit 1; }

peers_require_root() { [ "$(id -u)" = 0 ] || peers_die "must run as root"; }

# in_netns NS CMD... : run CMD inside network namespace NS (or directly if NS is empty)
in_netns() {
  local ns=$1; shift
  if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# pid_from_file FILE EXE : prints the pid recorded in FILE if that process is alive
# and runs the executable EXE. Never guesses by process name.
pid_from_file() {
  local file=$1 exe=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -cd '0-9' <"$file")
  [ -n "$pid" ] && [ -e "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || return 1
  echo "$pid"
}

# wait_port NS ADDR PORT [TRIES] : wait until ADDR:PORT accepts TCP connections (0.1 s steps)
wait_port() {
  local ns=$1 addr=$2 port=$3 tries=${4:-100} i
  for ((i = 0; i < tries; i++)); do
    if in_netns "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# wait_gone PID : wait up to 10 s for PID to exit
wait_gone() {
  local pid=$1 i
  for ((i = 0; i < 100; i++)); do [ -e "/proc/$pid" ] || return 0; sleep 0.1; done
  return 1
}

exim_supports() {  # exim_supports WORD : is WORD listed in "Support for:" of exim -bV
  "$EXIM_BIN" -C /dev/null -bV 2>/dev/null | grep -i '^Support for:' | grep -qw -- "$1"
}
