#!/bin/bash
# Faults for bench/soak/run.sh, run by soak.py while the load runs. Only processes of the soak's own
# Postfix and Exim instances are touched: each is found from its pid file (checked against /proc/PID/exe
# by tests/peers/lib.sh) and its descendants by parent pid; nothing is killed by name.
#
#   faults.sh postfix-kill      kill -9 Postfix's master and all its children (a crash), wait
#                               SOAK_DOWN_SECONDS, start it again (queued mail is delivered after the restart)
#   faults.sh postfix-restart   postfix stop, wait SOAK_DOWN_SECONDS, start
#   faults.sh exim-stall        SIGSTOP the Exim daemon and every process under it for SOAK_STALL_SECONDS, then SIGCONT
#
# Each prints ACTIVE once the fault has taken effect (soak.py holds the senders back until then).
# Environment (exported by run.sh): PEERS_DIR, PF_NAME, PF_PORT, PF_PROXY_PORT, EXIM_NAME, EXIM_PORT, EXIM_TLS
set -euo pipefail
. "$(dirname "$0")/../../tests/peers/lib.sh"
PEERS=$PEERS_SCRIPTS
DOWN=${SOAK_DOWN_SECONDS:-2}
STALL=${SOAK_STALL_SECONDS:-4}

descendants() {  # descendants PID: PID and every process below it (one ps: it is slow on a loaded machine)
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      keep[root] = 1; print root
      do { more = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; more = 1 } }
      } while (more)
    }'
}

pf_master() {
  local pid
  pid=$(pid_from_file "$PEERS_DIR/postfix-$PF_NAME/spool/pid/master.pid" "$PF_MASTER") || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "MAIL_CONFIG=$PEERS_DIR/postfix-$PF_NAME/etc" || return 1
  echo "$pid"
}

pf_start() {
  # The master alone, as postfix-script's last step does (MAIL_CONFIG picks the instance): `postfix start` first
  # runs its checks, which take half a minute on a loaded two-core machine; the outage is meant to be short.
  MAIL_CONFIG=$PEERS_DIR/postfix-$PF_NAME/etc "$PF_MASTER" -w || { echo "master -w failed"; return 1; }
  wait_port "" "$PF_ADDR" "$PF_PORT" 300 || { echo "postfix does not listen on $PF_PORT"; return 1; }
}

gone() {  # gone PID...: wait (at most 20 s) until each PID has exited; a zombie counts as gone (PID 1 may reap late)
  local p i st
  for p in "$@"; do
    for ((i = 0; i < 200; i++)); do
      st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || break
      [ -z "$st" ] || [ "$st" = Z ] && break
      sleep 0.1
    done
    [ "$i" -lt 200 ] || { echo "pid $p did not exit"; return 1; }
  done
}

case "${1:-}" in
  postfix-kill)
    master=$(pf_master) || { echo "postfix $PF_NAME not running"; exit 1; }
    pids=$(descendants "$master" | tr '\n' ' ')
    kill -KILL $pids 2>/dev/null || true
    echo ACTIVE
    gone $pids
    t_down=$(date +%s.%N)
    sleep "$DOWN"
    pf_start
    echo "postfix-kill: killed $(wc -w <<<"$pids") processes (master $master), down $(awk -v a="$t_down" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s, restarted (master $(pf_master))"
    ;;
  postfix-restart)
    master=$(pf_master) || { echo "postfix $PF_NAME not running"; exit 1; }
    MAIL_CONFIG=$PEERS_DIR/postfix-$PF_NAME/etc postfix -c "$PEERS_DIR/postfix-$PF_NAME/etc" stop >/dev/null 2>&1
    gone "$master"
    echo ACTIVE
    sleep "$DOWN"
    pf_start
    echo "postfix-restart: stopped (master $master), down ${DOWN} s, started (master $(pf_master))"
    ;;
  exim-stall)
    daemon=$(pid_from_file "$PEERS_DIR/exim-$EXIM_NAME/exim.pid" "$EXIM_BIN") || { echo "exim $EXIM_NAME not running"; exit 1; }
    pids=$(descendants "$daemon" | tr '\n' ' ')
    kill -STOP $pids 2>/dev/null || true
    echo ACTIVE
    sleep "$STALL"
    # the same processes (a stopped process forks nothing new)
    kill -CONT $pids 2>/dev/null || true
    echo "exim-stall: stopped $(wc -w <<<"$pids") processes (daemon $daemon) for ${STALL} s"
    ;;
  *) echo "usage: ${0##*/} postfix-kill|postfix-restart|exim-stall" >&2; exit 2 ;;
esac
