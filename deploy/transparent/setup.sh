#!/bin/bash
# Policy routing and iptables rules for EarlyPipeProxy's transparent modes (README, "Transparent mode"). Run as root
# on the proxy host (or inside the proxy's network namespace).
#
#   setup.sh up [--mark N] [--table N] [--no-ipv6] [--in IFACE] [--intercept DEST=LISTEN]...
#   setup.sh down [--mark N] [--table N] [--no-ipv6]
#   setup.sh status
#
# up, always: the return path of Backend:ClientIdentity Transparent. The proxy connects to the backend from the
#   client's own address; the backend answers that address, and its answers reach this host only because it is
#   the backend's route to the client (its default route, or a route for the client networks). Here they must be
#   delivered to the proxy's socket instead of being forwarded: every TCP packet that belongs to a transparent
#   socket (-m socket --transparent) is marked, and marked packets are routed by a table whose only route says
#   "everything is local" (ip rule fwmark N lookup TABLE; ip route local default dev lo table TABLE).
# --intercept DEST=LISTEN: also divert new connections to DEST (the backend's address:port, e.g. 192.0.2.25:25)
#   to the proxy's listener at LISTEN (its Listen, e.g. 192.0.2.10:2025; the listener needs "Transparent": true)
#   with TPROXY, so that clients keep connecting to the backend's address while the proxy sits in the path. IPv6
#   as [2001:db8::25]:25=[2001:db8::10]:2025. Repeat for more. --in IFACE limits diversion to packets arriving
#   on IFACE (the client side): the proxy's own connections to DEST leave through OUTPUT and are never diverted.
#
# Defaults: mark 1, table 100, IPv4 and IPv6. Everything lives in one mangle chain, EARLYPIPE, jumped to from
# PREROUTING, so `down` removes exactly what `up` added, and `up` again replaces the chain's rules. Nothing needs
# net.ipv4.ip_forward: the traffic ends in the proxy's sockets. (If the backend's default route leads through this
# host, its own outgoing traffic does need forwarding, and usually NAT, here; that is routing, not this script.)
# Strict reverse-path filtering (rp_filter=1) is fine when the backend's packets arrive on the interface of the
# route to the backend; set rp_filter=2 (loose) on an interface where they do not.
# Needs iptables/ip6tables with the socket match and the TPROXY target (xt_socket, xt_TPROXY; nf_tables kernels
# have them as NFT_SOCKET/NFT_TPROXY too) and iproute2.
set -euo pipefail

CHAIN=EARLYPIPE
MARK=1
TABLE=100
IPV6=1
IFACE=
INTERCEPTS=()

die() { echo "${0##*/}: $*" >&2; exit 1; }

usage() { sed -n '5,7p' "$0" | sed 's/^# *//' >&2; exit 2; }

ACTION=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case $1 in
    --mark) MARK=${2:?}; shift 2 ;;
    --table) TABLE=${2:?}; shift 2 ;;
    --no-ipv6) IPV6=0; shift ;;
    --in) IFACE=${2:?}; shift 2 ;;
    --intercept) INTERCEPTS+=("${2:?}"); shift 2 ;;
    *) usage ;;
  esac
done
[[ $MARK =~ ^[0-9]+$ && $MARK -gt 0 ]] || die "--mark must be a positive number"
[[ $TABLE =~ ^[0-9]+$ && $TABLE -gt 0 && $TABLE -lt 253 ]] || die "--table must be 1..252"
[[ -z $IFACE || $IFACE =~ ^[A-Za-z0-9_.@-]+$ ]] || die "bad interface name '$IFACE'"
[ "$(id -u)" = 0 ] || die "must run as root"

families() { echo 4; [ "$IPV6" = 1 ] && echo 6; return 0; }
ipt() { if [ "$1" = 6 ]; then shift; ip6tables -w "$@"; else shift; iptables -w "$@"; fi; }

# split_endpoint "addr:port" | "[v6]:port" -> prints "FAMILY ADDR PORT"
split_endpoint() {
  local e=$1
  if [[ $e =~ ^\[([0-9A-Fa-f:.]+)\]:([0-9]+)$ ]]; then echo "6 ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  elif [[ $e =~ ^([0-9.]+):([0-9]+)$ ]]; then echo "4 ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  else die "'$e' is not address:port (IPv6: [address]:port)"
  fi
}

up() {
  local f
  for f in $(families); do
    # The chain, and the one jump to it.
    ipt "$f" -t mangle -N "$CHAIN" 2>/dev/null || ipt "$f" -t mangle -F "$CHAIN"
    ipt "$f" -t mangle -C PREROUTING -p tcp -j "$CHAIN" 2>/dev/null || ipt "$f" -t mangle -I PREROUTING -p tcp -j "$CHAIN"
    # Packets of connections a transparent socket already has (the backend's answers to a client's address,
    # and the later packets of intercepted connections): local delivery, and nothing more to decide.
    ipt "$f" -t mangle -A "$CHAIN" -p tcp -m socket --transparent -j MARK --set-mark "$MARK"
    ipt "$f" -t mangle -A "$CHAIN" -p tcp -m mark --mark "$MARK" -j ACCEPT
    if [ "$f" = 6 ]; then
      ip -6 rule show | grep -q "fwmark $(printf '%#x' "$MARK") lookup $TABLE\$" || ip -6 rule add fwmark "$MARK" lookup "$TABLE"
      ip -6 route replace local ::/0 dev lo table "$TABLE"
    else
      ip -4 rule show | grep -q "fwmark $(printf '%#x' "$MARK") lookup $TABLE\$" || ip -4 rule add fwmark "$MARK" lookup "$TABLE"
      ip -4 route replace local 0.0.0.0/0 dev lo table "$TABLE"
    fi
  done
  local spec dest listen df da dp lf la lp
  for spec in "${INTERCEPTS[@]}"; do
    [[ $spec == *=* ]] || die "--intercept wants DEST=LISTEN, got '$spec'"
    dest=${spec%%=*} listen=${spec#*=}
    read -r df da dp <<<"$(split_endpoint "$dest")"
    read -r lf la lp <<<"$(split_endpoint "$listen")"
    [ "$df" = "$lf" ] || die "'$spec': the destination and the listener must be of one address family"
    [ "$df" = 4 ] || [ "$IPV6" = 1 ] || die "'$spec' is IPv6, but --no-ipv6 was given"
    ipt "$df" -t mangle -A "$CHAIN" ${IFACE:+-i "$IFACE"} -p tcp -d "$da" --dport "$dp" \
      -j TPROXY --on-ip "$la" --on-port "$lp" --tproxy-mark "$MARK"
  done
  echo "transparent routing up: mark $MARK, table $TABLE, ${#INTERCEPTS[@]} interception(s)"
}

down() {
  local f
  for f in $(families); do
    while ipt "$f" -t mangle -D PREROUTING -p tcp -j "$CHAIN" 2>/dev/null; do :; done
    ipt "$f" -t mangle -F "$CHAIN" 2>/dev/null || true
    ipt "$f" -t mangle -X "$CHAIN" 2>/dev/null || true
    while ip "-$f" rule del fwmark "$MARK" lookup "$TABLE" 2>/dev/null; do :; done
    if [ "$f" = 6 ]; then
      ip -6 route del local ::/0 dev lo table "$TABLE" 2>/dev/null || true
    else
      ip -4 route del local 0.0.0.0/0 dev lo table "$TABLE" 2>/dev/null || true
    fi
  done
  echo "transparent routing down"
}

status() {
  local f
  for f in $(families); do
    echo "--- IPv$f"
    ipt "$f" -t mangle -S "$CHAIN" 2>/dev/null || echo "(no $CHAIN chain)"
    ip "-$f" rule show | grep "lookup $TABLE\$" || echo "(no rule for table $TABLE)"
    ip "-$f" route show table "$TABLE" 2>/dev/null || true
  done
}

case $ACTION in
  up) up ;;
  down) down ;;
  status) status ;;
  *) usage ;;
esac
