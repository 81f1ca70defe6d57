#!/bin/bash
# Installs what the end-to-end peers need, and only what is missing:
#   postfix (Debian package, debconf "No configuration", its service kept from starting), but only when installing it
#     removes nothing: on a machine whose own MTA (exim4, sendmail, ...) conflicts with postfix it is NOT installed, the
#     reason is written to $PEERS_DIR/postfix-unavailable, and the tests that need Postfix skip with it (CI=true: fail);
#   Exim 4.96 unpacked (apt-get download + dpkg -x) into $PEERS_DIR/exim-root, plus the
#   shared libraries it links against, the Debian-exim system user/group,
#   tcpdump, iproute2, python3 (+ python3-cryptography to decrypt TLS captures, python3-yaml for the rules check),
#   openssl, swaks, iptables, prometheus (with promtool; its system service is not started), and haproxy (likewise)
#   (the SO_ORIGINAL_DST test REDIRECTs connections inside a network namespace of its own).
# Safe on an operator's machine: it never stops, removes or reconfigures the machine's own MTA or any other service
# (a running system Postfix is left alone: the tests' instances have their own config dirs, queues and free loopback
# ports, and none needs port 25), and it installs no package whose installation would remove another.
#
#   install.sh            install (as root)
#   install.sh --dry-run  print what it would do and change nothing (any user)
#
# Idempotent; `apt-get update` runs only when a package has to be fetched.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: ${0##*/} [--dry-run]" >&2; exit 2 ;;
esac
[ "$DRY_RUN" = 1 ] || peers_require_root
LOG=$PEERS_DIR/install.log
[ "$DRY_RUN" = 1 ] && LOG=/dev/null
updated=0

# act CMD... : run CMD, or with --dry-run only say it
act() {
  if [ "$DRY_RUN" = 1 ]; then echo "dry-run: would run: $*"; else "$@"; fi
}

act mkdir -p "$PEERS_DIR"

apt_update_once() {
  [ "$updated" = 1 ] && return 0
  echo "install: apt-get update" >&2
  updated=1
  if [ "$DRY_RUN" = 1 ]; then echo "dry-run: would run: apt-get update"; return 0; fi
  apt-get update -q >>"$LOG" 2>&1 || peers_die "apt-get update failed, see $LOG"
}

missing_pkgs() {  # prints the packages of "$@" that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# removed_by_install PKG... : the packages apt would remove to install PKG... (a simulation, apt-get -s, which changes
# nothing). Fails when apt cannot tell, even after an apt-get update (with --dry-run: says it does not know yet).
removed_by_install() {
  local plan
  if ! plan=$(apt-get -s -q install --no-install-recommends "$@" 2>&1); then
    apt_update_once >&2
    if [ "$DRY_RUN" = 1 ]; then echo "(unknown until apt-get update)"; return 0; fi
    plan=$(apt-get -s -q install --no-install-recommends "$@" 2>&1) || { echo "apt-get -s install $*: $plan" >&2; return 1; }
  fi
  printf '%s\n' "$plan" | awk '$1 == "Remv" {print $2}' | xargs echo
}

apt_install() {  # apt_install PKG... : install those not yet installed; never when that removes another package
  local need removed
  need=$(missing_pkgs "$@" | xargs echo)
  [ -n "$need" ] || return 0
  # shellcheck disable=SC2086
  removed=$(removed_by_install $need) || peers_die "apt cannot plan the installation of $need"
  [ -z "$removed" ] || peers_die "installing $need would remove $removed; not done (install by hand if that is what you want)"
  echo "install: apt-get install $need" >&2
  apt_update_once
  if [ "$DRY_RUN" = 1 ]; then echo "dry-run: would run: apt-get install -y --no-install-recommends $need"; return 0; fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >>"$LOG" 2>&1 \
    || peers_die "apt-get install $need failed, see $LOG"
}

# with_services_held CMD... : run CMD with invoke-rc.d told to start no service (a policy-rc.d that exits 101), so that
# a package installed for the tests starts no system daemon. An existing policy-rc.d is the operator's: left alone.
POLICY_GUARD=""
release_services() {
  if [ -n "$POLICY_GUARD" ]; then act rm -f /usr/sbin/policy-rc.d; POLICY_GUARD=""; fi
}
trap release_services EXIT
with_services_held() {
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    act sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    POLICY_GUARD=1
  fi
  "$@"
  release_services
}

# --- postfix -------------------------------------------------------------------------------
# Installing postfix on a machine with another MTA would replace it (Debian's MTAs conflict through
# mail-transport-agent). Then postfix is not installed, and the tests that need it say why.
UNAVAILABLE=$PEERS_DIR/postfix-unavailable
if [ -n "$(missing_pkgs postfix)" ]; then
  removed=$(removed_by_install postfix) || peers_die "apt cannot plan the installation of postfix"
  if [ -n "$removed" ]; then
    reason="postfix is not installed: installing it would remove $removed (this machine's MTA), and tests/peers/install.sh never replaces an MTA; the end-to-end tests that need Postfix skip (under CI=true they fail). Run them on a machine or in a container without another MTA"
    echo "install: $reason" >&2
    if [ "$DRY_RUN" = 1 ]; then echo "dry-run: would write $UNAVAILABLE: $reason"; else printf '%s\n' "$reason" >"$UNAVAILABLE"; fi
  else
    if [ "$DRY_RUN" = 1 ]; then
      echo "dry-run: would run: debconf-set-selections <<< 'postfix postfix/main_mailer_type select No configuration'"
    else
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    fi
    with_services_held apt_install postfix
    act rm -f "$UNAVAILABLE"
  fi
elif [ -e "$UNAVAILABLE" ]; then
  act rm -f "$UNAVAILABLE"
fi
# A system Postfix that runs is the machine's own and is left alone: the tests' instances (postfix.sh) have their own
# config dirs, queues and free loopback ports, and none needs port 25.
if sys_pid=$(pid_from_file /var/spool/postfix/pid/master.pid "$PF_MASTER"); then
  echo "install: a system postfix runs (master pid $sys_pid); left as it is, the tests do not need it stopped" >&2
fi

# --- tools ---------------------------------------------------------------------------------
apt_install tcpdump iproute2 python3 python3-cryptography python3-yaml openssl swaks iptables

# --- prometheus (the metrics tests scrape the proxy with a real one, on a loopback port) ---------
# The package enables a system service on :9090; the tests run their own instance, so none is started.
if [ -n "$(missing_pkgs prometheus)" ]; then
  with_services_held apt_install prometheus
fi

# --- haproxy (the load-balancer test runs its own instances in front of two proxies; the system service is not started) ---
if [ -n "$(missing_pkgs haproxy)" ]; then
  with_services_held apt_install haproxy
fi

# --- exim ----------------------------------------------------------------------------------
DEBDIR=$PEERS_DIR/debs
act mkdir -p "$DEBDIR" "$EXIM_ROOT"
have_debs() {
  local p
  for p in $EXIM_DEBS; do compgen -G "$DEBDIR/${p}_*.deb" >/dev/null || return 1; done
}
if ! have_debs; then
  echo "install: apt-get download $EXIM_DEBS" >&2
  if [ "$DRY_RUN" = 1 ]; then
    echo "dry-run: would run: apt-get download $EXIM_DEBS (into $DEBDIR), then dpkg -x each into $EXIM_ROOT and install the lib* packages of exim4-daemon-heavy's Depends"
  else
    chown _apt "$DEBDIR" 2>/dev/null || true
    # shellcheck disable=SC2086
    (cd "$DEBDIR" && apt-get download $EXIM_DEBS >>"$LOG" 2>&1) || {
      apt_update_once
      # shellcheck disable=SC2086
      (cd "$DEBDIR" && apt-get download $EXIM_DEBS >>"$LOG" 2>&1) || peers_die "apt-get download failed, see $LOG"
    }
  fi
fi
if have_debs; then
  if [ ! -x "$EXIM_BIN" ]; then
    for p in $EXIM_DEBS; do act dpkg -x "$(ls "$DEBDIR/${p}"_*.deb | tail -1)" "$EXIM_ROOT"; done
  fi
  # Library dependencies: the lib* packages named in the daemon package's Depends field.
  libs=$(dpkg-deb -f "$(ls "$DEBDIR"/exim4-daemon-heavy_*.deb | tail -1)" Depends \
    | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/[[:space:]]//g' | grep '^lib' | sort -u | xargs echo)
  # shellcheck disable=SC2086
  apt_install $libs
fi
if [ "$DRY_RUN" = 0 ] && ldd "$EXIM_BIN" | grep -q 'not found'; then
  ldd "$EXIM_BIN" | grep 'not found' >&2
  peers_die "exim has unresolved libraries"
fi
# The Debian binary has exim_user Debian-exim compiled in and resolves it before reading -C.
getent group Debian-exim >/dev/null || act groupadd --system Debian-exim
getent passwd Debian-exim >/dev/null \
  || act useradd --system --gid Debian-exim --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim

if [ "$DRY_RUN" = 1 ]; then echo "dry-run: done, nothing changed"; exit 0; fi
pf_version=$(postconf -dh mail_version 2>/dev/null | sed 's/^/postfix /') || true
[ -n "$pf_version" ] || pf_version="no postfix ($(cat "$UNAVAILABLE" 2>/dev/null || echo 'not installed'))"
echo "peers installed: $pf_version, $("$EXIM_BIN" -C /dev/null -bV 2>/dev/null | head -1 | sed 's/ #.*//'), state in $PEERS_DIR"
