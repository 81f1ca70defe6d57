#!/bin/bash
# Exim 4.96 peers (unpacked by install.sh into $PEERS_DIR/exim-root), one directory per
# instance: $PEERS_DIR/exim-$EXIM_NAME/{exim.conf,spool,log,mail}.
#
#   exim.sh server start|stop|status     an SMTP server that stores everything it accepts
#   exim.sh send RCPT...                 one message from stdin, one SMTP connection
#
# Server environment:
#   EXIM_NAME           instance (default server)
#   EXIM_ADDR           listen address (default 127.0.0.1)
#   EXIM_PORT           listen port (default 2625)
#   EXIM_PIPELINING     1|0 (0: pipelining_advertise_hosts = : -- a strict lockstep server;
#                       smtp_enforce_sync is always true) (default 1)
#   EXIM_CHUNKING       1|0 advertise CHUNKING (default 1)
#   EXIM_PIPE_CONNECT   1|0 pipelining_connect_advertise_hosts = * / : (default: EXIM_PIPELINING;
#                       note Exim skips its sync checks before DATA for hosts in that list,
#                       even when it does not offer PIPELINING)
#   EXIM_HOSTS_PROXY    hosts_proxy value, e.g. 127.0.0.1 (hosts that must send a PROXY v1/v2
#                       header first) (default empty)
#   EXIM_REJECT_PREFIX  RCPT is denied (550) for local parts starting with it (default empty)
#   EXIM_DEFER_PREFIX   RCPT is deferred (451 4.3.0) for local parts starting with it (default empty)
#   EXIM_REJECT_SENDER_PREFIX
#                       MAIL FROM is denied (550 5.7.1) for senders whose local part starts with it
#                       (acl_smtp_mail; default empty: no MAIL ACL, every sender is accepted)
#   EXIM_RECEIVE_TIMEOUT smtp_receive_timeout, e.g. 3s (default: Exim's own, 5m): a client idle this
#                       long gets Exim's 421 ("SMTP command timeout") and is disconnected
#   EXIM_NETNS          run the daemon inside this network namespace (optional)
#   EXIM_TLS            1: offer STARTTLS (tls_advertise_hosts = *) with the certificate of tls.sh
#                       (default 0)
#   EXIM_TLS_ON_CONNECT 1: the port is TLS-on-connect (tls_on_connect_ports); implies EXIM_TLS=1
#   EXIM_MAIN_EXTRA     more main-section lines, after the ones above (e.g. config/exim-backend.example's)
#   Every other address is accepted and stored in the maildir .../mail (new mail in mail/new).
#   Log: .../log/mainlog (+pipelining: L, L., L*; synchronization errors; +proxy).
#
# Send environment:
#   EXIM_NAME           client instance (default client); not for concurrent use
#   TO_HOST, TO_PORT    where to connect (defaults 127.0.0.1, 2525); an IPv6 TO_HOST without brackets
#   INTERFACE           source address to bind (optional, e.g. 127.0.0.2)
#   PIPE_CONNECT        1|0 hosts_pipe_connect = * (default 1)
#   CHUNKING            1|0 (0: hosts_try_chunking = : so DATA is used) (default 1)
#   FAST_OPEN           1|0 hosts_try_fastopen = * (TCP Fast Open: with the kernel's cookie for the server and
#                       an early-pipelining flight, the flight goes in the SYN; the => line then says "TFO*";
#                       the client's network namespace needs net.ipv4.tcp_fastopen with bit 0x1) (default 0)
#   RESET_CACHE         1: forget cached EHLO replies (the hints DB "misc") first
#   EXIM_FROM           envelope sender (default sender@client.test)
#   EXIM_NETNS          run the client inside this network namespace (optional)
#   TLS                 off|try|require (default off): off = hosts_avoid_tls = * (cleartext even when
#                       STARTTLS is offered); try = Exim's default (STARTTLS when offered, cleartext
#                       otherwise); require = hosts_require_tls = * (no delivery without TLS)
#   SMTPS               1: TLS on connect (protocol = smtps, port-465 style); implies TLS=require
#   TLS_RESUME          1: tls_resumption_hosts = * (offer/keep session tickets; the client log's X=
#                       field then ends in "*" on a resumed session) (default 0)
#   TLS_PRIORITY        GnuTLS priority string for tls_require_ciphers, e.g.
#                       NORMAL:-VERS-ALL:+VERS-TLS1.2 (default: unset, GnuTLS's default)
#   TLS_KEYLOG          file to append this connection's TLS secrets to (NSS key log format, as
#                       GnuTLS writes for SSLKEYLOGFILE), e.g. to decrypt a capture (default: none)
#   The server certificate is never verified (tls_verify_hosts unset, tls_try_verify_hosts = :).
#   Log selectors include +tls_cipher +tls_resumption: "X=TLS1.3:<cipher>:256" on =>/-> lines.
#   The message is read from stdin as is (-oi: a lone "." does not end it). Delivery runs in
#   the foreground (-odf). The script prints the client's log lines for this message
#   (=> / -> delivered, ** failed, == deferred) and exits 0 only if at least one recipient
#   was delivered and nothing was deferred. Bounces for failed recipients are discarded.
#   Log: $PEERS_DIR/exim-$EXIM_NAME/log/mainlog ("=> ... L*" = early pipelining used).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODE=${1:-}; shift || true

instance_dirs() {  # instance_dirs DIR
  mkdir -p "$1/spool" "$1/log" "$1/mail/new" "$1/mail/cur" "$1/mail/tmp"
  chown -R Debian-exim:Debian-exim "$1/spool" "$1/log" "$1/mail"
  chmod 750 "$1/spool"
}

install_conf() {  # install_conf FILE : root-owned, not group/other writable (Exim insists)
  chown root:root "$1.new"; chmod 644 "$1.new"; mv -f "$1.new" "$1"
  "$EXIM_BIN" -C "$1" -bV >/dev/null 2>"$1.check" || { cat "$1.check" >&2; peers_die "exim rejects $1"; }
}

common_main() {  # common_main DIR HOSTNAME
  local proxy_log="" tls_log=""
  exim_supports PROXY && proxy_log=" +proxy"
  exim_supports TLS_resume && tls_log=" +tls_resumption"
  cat <<CF
# Written by tests/peers/exim.sh; rewritten on every use.
exim_path = $EXIM_BIN
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
trusted_users = root
primary_hostname = $2
qualify_domain = peers.test
spool_directory = $1/spool
log_file_path = $1/log/%slog
pid_file_path = $1/exim.pid
log_selector = +pipelining +received_recipients +smtp_connection +smtp_protocol_error \\
               +smtp_syntax_error +incoming_port +outgoing_port +outgoing_interface \\
               +millisec +deliver_time +sender_on_delivery +tls_cipher +tls_peerdn$tls_log$proxy_log
keep_environment = ${KEEP_ENV:-}
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = ${TLS_ADVERTISE:-}
dns_again_means_nonexist = *
smtp_accept_max = 100
smtp_accept_max_per_host = 0
smtp_accept_queue_per_connection = 0
CF
}

exim_ready() { [ -x "$EXIM_BIN" ] || peers_die "exim is not installed; run tests/peers/install.sh"; }

# ------------------------------------------------------------------------------- server
server() {
  local NAME=${EXIM_NAME:-server}
  [[ $NAME =~ ^[A-Za-z0-9_-]+$ ]] || peers_die "bad EXIM_NAME '$NAME'"
  local D=$PEERS_DIR/exim-$NAME ADDR=${EXIM_ADDR:-127.0.0.1} PORT=${EXIM_PORT:-2625} NS=${EXIM_NETNS:-}
  local CONF=$D/exim.conf PIDF=$D/exim.pid pid
  case "${1:-}" in
    start)
      exim_ready
      if pid=$(pid_from_file "$PIDF" "$EXIM_BIN"); then
        echo "exim server $NAME already running (pid $pid) on $ADDR:$PORT"; return 0
      fi
      local proxy=${EXIM_HOSTS_PROXY:-}
      [[ -z ${EXIM_RECEIVE_TIMEOUT:-} || $EXIM_RECEIVE_TIMEOUT =~ ^[0-9]+[smh]?$ ]] || peers_die "bad EXIM_RECEIVE_TIMEOUT '$EXIM_RECEIVE_TIMEOUT'"
      # Exim relaxes its command-sync checks until DATA for every host in
      # pipelining_connect_advertise_hosts, even when PIPELINING is not offered:
      # a strict lockstep server therefore needs both switched off.
      local pipe_connect=${EXIM_PIPE_CONNECT:-${EXIM_PIPELINING:-1}}
      if [ -n "$proxy" ] && ! exim_supports PROXY; then peers_die "this exim has no PROXY support (EXIM_HOSTS_PROXY)"; fi
      instance_dirs "$D"
      local tls_cf="" tls=${EXIM_TLS:-0}
      [ "${EXIM_TLS_ON_CONNECT:-0}" = 1 ] && tls=1
      if [ "$tls" = 1 ]; then
        "$PEERS_SCRIPTS/tls.sh" >/dev/null || peers_die "tls.sh failed"
        local TLS_ADVERTISE='*'
        tls_cf="tls_certificate = $PEERS_DIR/tls/server-chain.pem
tls_privatekey = $PEERS_DIR/tls/server.key
tls_resumption_hosts = *"
        exim_supports TLS_resume || tls_cf=${tls_cf%$'\n'*}
        [ "${EXIM_TLS_ON_CONNECT:-0}" = 1 ] && tls_cf+=$'\n'"tls_on_connect_ports = $PORT"
      fi
      {
        common_main "$D" "$NAME.exim-server.peers.test"
        cat <<CF
$tls_cf
local_interfaces = <; $ADDR
daemon_smtp_ports = $PORT
smtp_enforce_sync = true
pipelining_advertise_hosts = $([ "${EXIM_PIPELINING:-1}" = 1 ] && echo '*' || echo ':')
pipelining_connect_advertise_hosts = $([ "$pipe_connect" = 1 ] && echo '*' || echo ':')
chunking_advertise_hosts = $([ "${EXIM_CHUNKING:-1}" = 1 ] && echo '*' || echo ':')
$([ -n "$proxy" ] && echo "hosts_proxy = <; $proxy")
${EXIM_MAIN_EXTRA:-}
$([ -n "${EXIM_RECEIVE_TIMEOUT:-}" ] && echo "smtp_receive_timeout = $EXIM_RECEIVE_TIMEOUT")
smtp_banner = \$smtp_active_hostname ESMTP Exim \$version_number peers-server $NAME
$([ -n "${EXIM_REJECT_SENDER_PREFIX:-}" ] && echo "acl_smtp_mail = acl_mail")
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

begin acl
CF
        if [ -n "${EXIM_REJECT_SENDER_PREFIX:-}" ]; then
          [[ $EXIM_REJECT_SENDER_PREFIX =~ ^[A-Za-z0-9_.-]+$ ]] || peers_die "bad EXIM_REJECT_SENDER_PREFIX"
          # The reply names the sender so that a test can tell Exim's text from anything a proxy would invent.
          cat <<CF
acl_mail:
  deny    condition = \${if eqi{\${substr{0}{${#EXIM_REJECT_SENDER_PREFIX}}{\$sender_address_local_part}}}{$EXIM_REJECT_SENDER_PREFIX}}
          message = 550 5.7.1 <\$sender_address>: sender rejected by test policy
  accept
CF
        fi
        echo "acl_rcpt:"
        if [ -n "${EXIM_DEFER_PREFIX:-}" ]; then
          [[ $EXIM_DEFER_PREFIX =~ ^[A-Za-z0-9_.-]+$ ]] || peers_die "bad EXIM_DEFER_PREFIX"
          cat <<CF
  defer   condition = \${if eqi{\${substr{0}{${#EXIM_DEFER_PREFIX}}{\$local_part}}}{$EXIM_DEFER_PREFIX}}
          message = 451 4.3.0 <\$local_part@\$domain>: deferred by test policy
CF
        fi
        if [ -n "${EXIM_REJECT_PREFIX:-}" ]; then
          [[ $EXIM_REJECT_PREFIX =~ ^[A-Za-z0-9_.-]+$ ]] || peers_die "bad EXIM_REJECT_PREFIX"
          cat <<CF
  deny    condition = \${if eqi{\${substr{0}{${#EXIM_REJECT_PREFIX}}{\$local_part}}}{$EXIM_REJECT_PREFIX}}
          message = 550 5.1.1 <\$local_part@\$domain>: rejected by test policy
CF
        fi
        cat <<CF
  accept
acl_data:
  accept

begin routers
store:
  driver = accept
  transport = to_maildir

begin transports
to_maildir:
  driver = appendfile
  directory = $D/mail
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = Debian-exim
  group = Debian-exim
  mode = 0644

begin retry
*   *   F,1m,10s
CF
      } >"$CONF.new"
      install_conf "$CONF"
      rm -f "$PIDF"
      in_netns "$NS" "$EXIM_BIN" -C "$CONF" -bd -oX "$PORT" -oP "$PIDF" 2>>"$D/start.log" \
        || { tail -5 "$D/start.log" >&2; peers_die "exim server $NAME failed to start"; }
      wait_port "$NS" "$ADDR" "$PORT" || peers_die "exim server $NAME is not listening on $ADDR:$PORT (see $D/log/paniclog)"
      pid=$(pid_from_file "$PIDF" "$EXIM_BIN") || peers_die "exim server $NAME: no pid"
      echo "exim server $NAME running (pid $pid${NS:+, netns $NS}) on $ADDR:$PORT, pipelining=${EXIM_PIPELINING:-1} chunking=${EXIM_CHUNKING:-1} pipe_connect=$pipe_connect tls=$tls tls_on_connect=${EXIM_TLS_ON_CONNECT:-0} hosts_proxy=${proxy:-none}, log $D/log/mainlog, mail $D/mail/new"
      ;;
    stop)
      if ! pid=$(pid_from_file "$PIDF" "$EXIM_BIN"); then echo "exim server $NAME not running"; return 0; fi
      kill "$pid"
      wait_gone "$pid" || peers_die "exim server $NAME (pid $pid) does not stop"
      rm -f "$PIDF"
      echo "exim server $NAME stopped (was pid $pid)"
      ;;
    status)
      if pid=$(pid_from_file "$PIDF" "$EXIM_BIN"); then echo "exim server $NAME running (pid $pid)"; else echo "exim server $NAME not running"; return 3; fi
      ;;
    *) echo "usage: ${0##*/} server start|stop|status" >&2; return 2 ;;
  esac
}

# ------------------------------------------------------------------------------- send
send() {
  [ $# -gt 0 ] || peers_die "usage: ${0##*/} send RCPT... <message"
  exim_ready
  local NAME=${EXIM_NAME:-client}
  [[ $NAME =~ ^[A-Za-z0-9_-]+$ ]] || peers_die "bad EXIM_NAME '$NAME'"
  local D=$PEERS_DIR/exim-$NAME HOST=${TO_HOST:-127.0.0.1} PORT=${TO_PORT:-2525}
  local CONF=$D/exim.conf LOG=$D/log/mainlog FROM=${EXIM_FROM:-sender@client.test}
  local SENDER_DOMAIN=${FROM##*@}
  local tls=${TLS:-off} smtps=${SMTPS:-0} tls_cf=""
  [ "$smtps" = 1 ] && tls=require
  case $tls in
    off) tls_cf="  hosts_avoid_tls = *" ;;
    try) tls_cf="" ;;
    require) tls_cf="  hosts_require_tls = *" ;;
    *) peers_die "TLS must be off, try or require (got '$tls')" ;;
  esac
  [ "$smtps" = 1 ] && tls_cf+=$'\n  protocol = smtps'
  if [ "$tls" != off ]; then
    tls_cf+=$'\n  tls_try_verify_hosts = :\n  tls_verify_cert_hostnames = :'
    tls_cf+=$'\n  tls_resumption_hosts = '"$([ "${TLS_RESUME:-0}" = 1 ] && echo '*' || echo ':')"
    if [ -n "${TLS_PRIORITY:-}" ]; then
      [[ $TLS_PRIORITY =~ ^[A-Za-z0-9_.:+%-]+$ ]] || peers_die "bad TLS_PRIORITY"
      tls_cf+=$'\n  tls_require_ciphers = '"$TLS_PRIORITY"
    fi
  fi
  local KEEP_ENV="" KEYLOG_SPOOL=$D/spool/tls-keylog.txt
  if [ -n "${TLS_KEYLOG:-}" ]; then
    # Exim honours SSLKEYLOGFILE only for a file under its spool directory and with the variable
    # in keep_environment (it says so with -d+tls). The lines are moved to $TLS_KEYLOG afterwards.
    KEEP_ENV=SSLKEYLOGFILE
    export SSLKEYLOGFILE=$KEYLOG_SPOOL
    # GnuTLS reads SSLKEYLOGFILE with secure_getenv(). The delivery process is the setuid-root
    # binary re-executed by Debian-exim (privilege is dropped for -C), so AT_SECURE would hide
    # the variable; a copy without the setuid bit (same code) keeps it visible.
    local nosuid=$EXIM_ROOT/usr/sbin/exim4-keylog
    if ! cmp -s "$EXIM_BIN" "$nosuid"; then cp "$EXIM_BIN" "$nosuid.new"; chmod 755 "$nosuid.new"; mv -f "$nosuid.new" "$nosuid"; fi
    EXIM_BIN=$nosuid
  fi
  instance_dirs "$D"
  {
    common_main "$D" "$NAME.exim-client.peers.test"
    cat <<CF
# A client only: never listens. Every recipient goes to $HOST:$PORT.
begin routers
discard_bounces:
  driver = redirect
  domains = $SENDER_DOMAIN
  data = :blackhole:
to_target:
  driver = manualroute
  domains = *
$(if [[ $HOST == *:* ]]; then echo "  route_data = <;$HOST"; else echo "  route_list = * $HOST"; fi)
  transport = smtp_out
  self = send

begin transports
smtp_out:
  driver = smtp
  port = $PORT
  hosts_pipe_connect = $([ "${PIPE_CONNECT:-1}" = 1 ] && echo '*' || echo ':')
  hosts_try_chunking = $([ "${CHUNKING:-1}" = 1 ] && echo '*' || echo ':')
  hosts_try_fastopen = $([ "${FAST_OPEN:-0}" = 1 ] && echo '*' || echo ':')
$tls_cf
  helo_data = $NAME.exim-client.peers.test
$([ -n "${INTERFACE:-}" ] && echo "  interface = <; ${INTERFACE}")
  connect_timeout = 10s
  command_timeout = 30s
  data_timeout = 30s

begin retry
*   *   F,1m,10s
CF
  } >"$CONF.new"
  install_conf "$CONF"
  # Retry and connection-wait data would make a later test skip a host that failed earlier;
  # the EHLO cache (misc) is what early pipelining needs, so it stays unless RESET_CACHE=1.
  rm -f "$D"/spool/db/retry* "$D"/spool/db/wait-*
  [ "${RESET_CACHE:-0}" = 1 ] && rm -f "$D"/spool/db/misc* "$D"/spool/db/tls*
  local start=0
  [ -f "$LOG" ] && start=$(stat -c %s "$LOG")
  local rc=0
  in_netns "${EXIM_NETNS:-}" "$EXIM_BIN" -C "$CONF" -odf -oi -f "$FROM" -- "$@" \
    2> >(grep -v 'lost privilege for using -C' >&2) || rc=$?
  [ "$rc" = 0 ] || echo "exim exited with status $rc" >&2
  if [ -n "${TLS_KEYLOG:-}" ] && [ -f "$KEYLOG_SPOOL" ]; then
    cat "$KEYLOG_SPOOL" >>"$TLS_KEYLOG"; rm -f "$KEYLOG_SPOOL"
  fi
  # this message = the first one received after $start (later ones are our own bounces)
  local lines id
  lines=$(tail -c +"$((start + 1))" "$LOG" 2>/dev/null || true)
  id=$(printf '%s\n' "$lines" | awk '$4 == "<=" && $5 != "<>" {print $3; exit}')
  [ -n "$id" ] || { printf '%s\n' "$lines" >&2; peers_die "no message was accepted (see $LOG)"; }
  printf '%s\n' "$lines" | grep -F " $id " | grep -E " (=>|->|\*\*|==) " || true
  local delivered deferred
  delivered=$(printf '%s\n' "$lines" | grep -F " $id " | grep -cE " (=>|->) " || true)
  deferred=$(printf '%s\n' "$lines" | grep -F " $id " | grep -c " == " || true)
  [ "$delivered" -gt 0 ] && [ "$deferred" = 0 ]
}

peers_require_root
case "$MODE" in
  server) server "$@" ;;
  send) send "$@" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
