#!/bin/bash
# Installs what the end-to-end peers need, and only what is missing:
#   postfix (Debian package, debconf "No configuration"; no system instance is left running),
#   Exim 4.96 unpacked (apt-get download + dpkg -x) into $PEERS_DIR/exim-root, plus the
#   shared libraries it links against, the Debian-exim system user/group,
#   tcpdump, iproute2, python3 (+ python3-cryptography to decrypt TLS captures), openssl, swaks, iptables, and
#   prometheus (with promtool; its system service is not started)
#   (the SO_ORIGINAL_DST test REDIRECTs connections inside a network namespace of its own).
# Idempotent; `apt-get update` runs only when a package has to be fetched. Run as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
peers_require_root
mkdir -p "$PEERS_DIR"
LOG=$PEERS_DIR/install.log
updated=0

apt_update_once() {
  [ "$updated" = 1 ] && return 0
  echo "install: apt-get update" >&2
  apt-get update -q >>"$LOG" 2>&1 || peers_die "apt-get update failed, see $LOG"
  updated=1
}

missing_pkgs() {  # prints the packages of "$@" that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

apt_install() {  # apt_install PKG... : install those not yet installed
  local need
  need=$(missing_pkgs "$@" | tr '\n' ' ')
  [ -n "${need// /}" ] || return 0
  echo "install: apt-get install $need" >&2
  apt_update_once
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >>"$LOG" 2>&1 \
    || peers_die "apt-get install $need failed, see $LOG"
}

# --- postfix -------------------------------------------------------------------------------
if [ -n "$(missing_pkgs postfix)" ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
apt_install postfix
# A system Postfix must not listen on port 25: stop it if something started it (its own
# config dir only; the instances of postfix.sh use their own config dirs and queues).
if sys_pid=$(pid_from_file /var/spool/postfix/pid/master.pid "$PF_MASTER"); then
  echo "install: stopping the system postfix (pid $sys_pid)" >&2
  postfix -c /etc/postfix stop >>"$LOG" 2>&1 || true
fi

# --- tools ---------------------------------------------------------------------------------
apt_install tcpdump iproute2 python3 python3-cryptography python3-yaml openssl swaks iptables

# --- prometheus (the metrics tests scrape the proxy with a real one, on a loopback port) ---------
# The package enables a system service on :9090; the tests run their own instance, so none is started.
if [ -n "$(missing_pkgs prometheus)" ]; then
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt_install prometheus
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
fi

# --- exim ----------------------------------------------------------------------------------
DEBDIR=$PEERS_DIR/debs
mkdir -p "$DEBDIR" "$EXIM_ROOT"
have_debs() {
  local p
  for p in $EXIM_DEBS; do compgen -G "$DEBDIR/${p}_*.deb" >/dev/null || return 1; done
}
if ! have_debs; then
  echo "install: apt-get download $EXIM_DEBS" >&2
  chown _apt "$DEBDIR" 2>/dev/null || true
  # shellcheck disable=SC2086
  (cd "$DEBDIR" && apt-get download $EXIM_DEBS >>"$LOG" 2>&1) || {
    apt_update_once
    # shellcheck disable=SC2086
    (cd "$DEBDIR" && apt-get download $EXIM_DEBS >>"$LOG" 2>&1) || peers_die "apt-get download failed, see $LOG"
  }
fi
if [ ! -x "$EXIM_BIN" ]; then
  for p in $EXIM_DEBS; do dpkg -x "$(ls "$DEBDIR/${p}"_*.deb | tail -1)" "$EXIM_ROOT"; done
fi
# Library dependencies: the lib* packages named in the daemon package's Depends field.
libs=$(dpkg-deb -f "$(ls "$DEBDIR"/exim4-daemon-heavy_*.deb | tail -1)" Depends \
  | tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/[[:space:]]//g' | grep '^lib' | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
apt_install $libs
if ldd "$EXIM_BIN" | grep -q 'not found'; then
  ldd "$EXIM_BIN" | grep 'not found' >&2
  peers_die "exim has unresolved libraries"
fi
# The Debian binary has exim_user Debian-exim compiled in and resolves it before reading -C.
getent group Debian-exim >/dev/null || groupadd --system Debian-exim
getent passwd Debian-exim >/dev/null \
  || useradd --system --gid Debian-exim --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim

echo "peers installed: $(postconf -dh mail_version 2>/dev/null | sed 's/^/postfix /'), $("$EXIM_BIN" -C /dev/null -bV 2>/dev/null | head -1 | sed 's/ #.*//'), state in $PEERS_DIR"
