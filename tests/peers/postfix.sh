#!/bin/bash
# One Postfix 3.7 instance ("legacy backend MTA") per name, with its own config, queue,
# log file and maildir, all under $PEERS_DIR/postfix-$PF_NAME.
#
#   postfix.sh start|stop|status
#
# Environment:
#   PF_NAME           instance name (default backend)
#   PF_ADDR           listen address (default 127.0.0.1)
#   PF_PORT           plain smtpd, XCLIENT allowed from PF_XCLIENT_HOSTS (default 2525)
#   PF_PROXY_PORT     smtpd expecting a PROXY v1/v2 header (haproxy) (default 2526)
#   PF_SLOW_PORT      optional: one more plain smtpd that sleeps PF_SLOW_SECONDS (default 4) after
#                     each end of data before its verdict (smtpd_end_of_data_restrictions = sleep)
#   PF_NETNS          start the instance inside this network namespace (optional)
#   PF_MYNETWORKS     default 127.0.0.1/32
#   PF_XCLIENT_HOSTS  default 127.0.0.1 (set but empty: nobody may send XCLIENT)
#   PF_INET_PROTOCOLS inet_protocols, default ipv4 (all: also IPv6 services in PF_MASTER_EXTRA)
#   PF_INET_INTERFACES inet_interfaces, default PF_ADDR
#   PF_RELAY_TRANSPORT default_transport and relay_transport, default "error:5.7.1 this test backend relays
#                     nothing" (Postfix refuses relayed recipients at RCPT); e.g. discard:why to accept them
#   PF_DOMAIN         the one local (virtual) domain, default backend.test
#   PF_TLS            1|0 offer STARTTLS on both smtpd ports (default 1): smtpd_tls_security_level
#                     = may with the test certificate of tls.sh ($PEERS_DIR/tls/server-chain.pem,
#                     server.key; created if missing). Clients that do not use it see no change.
#   PF_SMTPD_TIMEOUT  smtpd_timeout, e.g. 3s (default: Postfix's own, 300s): a client idle this long
#                     gets "421 4.4.2 <myhostname> Error: timeout exceeded" and is disconnected
#   PF_MAIN_EXTRA     more main.cf lines, appended last (so they override the settings above; but every
#                     override makes every Postfix process log a warning as it starts, and enough of them fill
#                     the postlog socket's queue (net.unix.max_dgram_qlen, 10) before postlogd reads it, which
#                     then blocks writing its own: prefer the variables above)
#   PF_MASTER_EXTRA   more master.cf lines, appended last (more services)
#
# Any local part @$PF_DOMAIN is delivered into the maildir .../postfix-$PF_NAME/mail/
# (new mail appears in mail/new). Other domains are relayed only for $PF_MYNETWORKS,
# and "relayed" mail bounces (no outbound SMTP). No DNS lookups at all.
# Log: .../postfix-$PF_NAME/maillog. Stop uses the master's pid file and checks
# /proc/PID/exe; nothing is ever killed by name.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PF_NAME=${PF_NAME:-backend}
PF_ADDR=${PF_ADDR:-127.0.0.1}
PF_PORT=${PF_PORT:-2525}
PF_PROXY_PORT=${PF_PROXY_PORT:-2526}
PF_SLOW_PORT=${PF_SLOW_PORT:-}
PF_SLOW_SECONDS=${PF_SLOW_SECONDS:-4}
PF_NETNS=${PF_NETNS:-}
PF_MYNETWORKS=${PF_MYNETWORKS:-127.0.0.1/32}
PF_XCLIENT_HOSTS=${PF_XCLIENT_HOSTS-127.0.0.1}
PF_INET_PROTOCOLS=${PF_INET_PROTOCOLS:-ipv4}
PF_INET_INTERFACES=${PF_INET_INTERFACES:-$PF_ADDR}
PF_RELAY_TRANSPORT=${PF_RELAY_TRANSPORT:-error:5.7.1 this test backend relays nothing}
PF_DOMAIN=${PF_DOMAIN:-backend.test}
PF_TLS=${PF_TLS:-1}
PF_SMTPD_TIMEOUT=${PF_SMTPD_TIMEOUT:-}
[[ $PF_NAME =~ ^[A-Za-z0-9_-]+$ ]] || peers_die "bad PF_NAME '$PF_NAME'"
[[ -z $PF_SLOW_PORT || $PF_SLOW_PORT =~ ^[0-9]+$ ]] || peers_die "bad PF_SLOW_PORT '$PF_SLOW_PORT'"
[[ $PF_SLOW_SECONDS =~ ^[0-9]+$ ]] || peers_die "bad PF_SLOW_SECONDS '$PF_SLOW_SECONDS'"
[[ -z $PF_SMTPD_TIMEOUT || $PF_SMTPD_TIMEOUT =~ ^[0-9]+[smh]?$ ]] || peers_die "bad PF_SMTPD_TIMEOUT '$PF_SMTPD_TIMEOUT'"
D=$PEERS_DIR/postfix-$PF_NAME
CONF=$D/etc

master_pid() {
  local pid
  pid=$(pid_from_file "$D/spool/pid/master.pid" "$PF_MASTER") || return 1
  # the pid file is ours, but make sure the master really runs with our config dir
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "MAIL_CONFIG=$CONF" || return 1
  echo "$pid"
}

write_config() {
  local tls_cf="smtpd_tls_security_level = none"
  if [ "$PF_TLS" = 1 ]; then
    "$PEERS_SCRIPTS/tls.sh" >/dev/null || peers_die "tls.sh failed"
    tls_cf="smtpd_tls_security_level = may
smtpd_tls_chain_files = $PEERS_DIR/tls/server.key, $PEERS_DIR/tls/server-chain.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =
tls_random_source = dev:/dev/urandom"
  fi
  mkdir -p "$CONF" "$D/spool" "$D/data" "$D/mail/new" "$D/mail/cur" "$D/mail/tmp"
  chown postfix:postfix "$D/data"
  chown -R nobody:nogroup "$D/mail"
  cat >"$CONF/main.cf.new" <<CF
# Written by tests/peers/postfix.sh for instance $PF_NAME; rewritten on every start.
compatibility_level = 3.6
queue_directory = $D/spool
data_directory = $D/data
meta_directory = /etc/postfix
syslog_name = postfix-$PF_NAME
maillog_file = $D/maillog
maillog_file_prefixes = $PEERS_DIR
myhostname = $PF_NAME.legacy-backend.peers.test
mydomain = peers.test
myorigin = \$myhostname
mydestination =
inet_interfaces = $PF_INET_INTERFACES
inet_protocols = $PF_INET_PROTOCOLS
mynetworks = $PF_MYNETWORKS
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_authorized_xclient_hosts = $PF_XCLIENT_HOSTS
# Any input before the greeting (or before PIPELINING was offered) is rejected: this
# proves that the proxy never forwards a client's early bytes.
smtpd_forbid_unauth_pipelining = yes
# Postfix 3.7's default, kept explicit: the backend is a smuggling-prone legacy MTA.
smtpd_forbid_bare_newline = no
smtpd_banner = \$myhostname ESMTP legacy backend $PF_NAME (Postfix)
virtual_mailbox_domains = $PF_DOMAIN
virtual_mailbox_base = $D
virtual_mailbox_maps = static:mail/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
default_transport = $PF_RELAY_TRANSPORT
relay_transport = $PF_RELAY_TRANSPORT
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtputf8_enable = no
$tls_cf
smtp_tls_security_level = none
# no DNS anywhere
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
# quick test bed
smtpd_error_sleep_time = 0
in_flow_delay = 0
$([ -n "$PF_SMTPD_TIMEOUT" ] && echo "smtpd_timeout = $PF_SMTPD_TIMEOUT")
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 30s
${PF_MAIN_EXTRA:-}
CF
  cat >"$CONF/master.cf.new" <<CF
# Written by tests/peers/postfix.sh for instance $PF_NAME (no chroot anywhere).
# service       type  private unpriv chroot wakeup maxproc command
$PF_ADDR:$PF_PORT   inet  n  -  n  -  -  smtpd
$PF_ADDR:$PF_PROXY_PORT   inet  n  -  n  -  -  smtpd
  -o syslog_name=postfix-$PF_NAME/proxied
  -o smtpd_upstream_proxy_protocol=haproxy
${PF_SLOW_PORT:+$PF_ADDR:$PF_SLOW_PORT   inet  n  -  n  -  -  smtpd
  -o syslog_name=postfix-$PF_NAME/slow
  -o smtpd_end_of_data_restrictions=sleep,$PF_SLOW_SECONDS,permit
}pickup     unix  n  -  n  60   1  pickup
cleanup    unix  n  -  n  -    0  cleanup
qmgr       unix  n  -  n  300  1  qmgr
rewrite    unix  -  -  n  -    -  trivial-rewrite
bounce     unix  -  -  n  -    0  bounce
defer      unix  -  -  n  -    0  bounce
trace      unix  -  -  n  -    0  bounce
verify     unix  -  -  n  -    1  verify
flush      unix  n  -  n  1000? 0 flush
proxymap   unix  -  -  n  -    -  proxymap
proxywrite unix  -  -  n  -    1  proxymap
smtp       unix  -  -  n  -    -  smtp
relay      unix  -  -  n  -    -  smtp
showq      unix  n  -  n  -    -  showq
error      unix  -  -  n  -    -  error
retry      unix  -  -  n  -    -  error
discard    unix  -  -  n  -    -  discard
local      unix  -  n  n  -    -  local
virtual    unix  -  n  n  -    -  virtual
anvil      unix  -  -  n  -    1  anvil
scache     unix  -  -  n  -    1  scache
postlog    unix-dgram n - n -  1  postlogd
tlsmgr     unix  -  -  n  1000? 1  tlsmgr
${PF_MASTER_EXTRA:-}
CF
  mv -f "$CONF/main.cf.new" "$CONF/main.cf"
  mv -f "$CONF/master.cf.new" "$CONF/master.cf"
}

start() {
  [ -x "$PF_MASTER" ] || peers_die "postfix is not installed; run tests/peers/install.sh"
  local pid
  if pid=$(master_pid); then
    echo "postfix $PF_NAME already running (master pid $pid), smtp $PF_ADDR:$PF_PORT, proxy $PF_ADDR:$PF_PROXY_PORT"
    return 0
  fi
  write_config
  in_netns "$PF_NETNS" postfix -c "$CONF" check >>"$D/start.log" 2>&1 \
    || { cat "$D/start.log" >&2; peers_die "postfix check failed"; }
  in_netns "$PF_NETNS" postfix -c "$CONF" start >>"$D/start.log" 2>&1 \
    || { tail -20 "$D/start.log" >&2; peers_die "postfix start failed"; }
  if ! wait_port "$PF_NETNS" "$PF_ADDR" "$PF_PORT" || ! wait_port "$PF_NETNS" "$PF_ADDR" "$PF_PROXY_PORT" \
    || { [ -n "$PF_SLOW_PORT" ] && ! wait_port "$PF_NETNS" "$PF_ADDR" "$PF_SLOW_PORT"; }; then
    tail -20 "$D/maillog" >&2 2>/dev/null || true
    peers_die "postfix $PF_NAME did not start listening on $PF_ADDR:$PF_PORT/$PF_PROXY_PORT"
  fi
  pid=$(master_pid) || peers_die "postfix $PF_NAME: no master pid"
  echo "postfix $PF_NAME running (master pid $pid${PF_NETNS:+, netns $PF_NETNS}), smtp $PF_ADDR:$PF_PORT, proxy $PF_ADDR:$PF_PROXY_PORT, starttls=$PF_TLS, log $D/maillog, mail $D/mail/new"
}

stop() {
  local pid
  if ! pid=$(master_pid); then echo "postfix $PF_NAME not running"; return 0; fi
  postfix -c "$CONF" stop >>"$D/start.log" 2>&1 || true
  if ! wait_gone "$pid"; then
    # only the verified master of this instance
    kill "$pid" 2>/dev/null || true
    wait_gone "$pid" || peers_die "postfix $PF_NAME (pid $pid) does not stop"
  fi
  echo "postfix $PF_NAME stopped (was pid $pid)"
}

peers_require_root
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if pid=$(master_pid); then echo "postfix $PF_NAME running (master pid $pid)"; else echo "postfix $PF_NAME not running"; exit 3; fi ;;
  *) echo "usage: ${0##*/} start|stop|status" >&2; exit 2 ;;
esac
