#!/usr/bin/env bash
# Installs EarlyPipeProxy as a systemd service (README, "Running under systemd"). It never starts the service.
#
#   sudo deploy/install.sh                      this machine: publish, install, create the earlypipe user,
#                                               `systemctl daemon-reload` when systemd runs
#   deploy/install.sh --destdir /tmp/root       stage the same tree under /tmp/root (packaging, tests): no root
#                                               needed, no user created, nothing chowned, no systemctl
#
# Options (or the environment variables of the same name):
#   --destdir DIR   DESTDIR      staging root, empty for this machine
#   --prefix DIR    PREFIX       /usr: the application in PREFIX/lib/earlypipe, the command PREFIX/bin/earlypipe,
#                                the README (and transparent-setup.sh, README "Transparent mode") in
#                                PREFIX/share/doc/earlypipe
#   UNITDIR     /etc/systemd/system      where earlypipe.service goes
#   SYSUSERSDIR /usr/lib/sysusers.d      where earlypipe.conf (the user, for systemd-sysusers) goes
#   DOTNET      dotnet on PATH           the SDK that publishes; /usr/bin/earlypipe runs on its runtime
#
# Fixed by systemd's ConfigurationDirectory= and StateDirectory= in the unit: the configuration in /etc/earlypipe
# (an existing earlypipe.json is never overwritten) and the state (EHLO cache, control socket) in /var/lib/earlypipe.
set -euo pipefail

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
while [[ $# -gt 0 ]]; do
    case $1 in
        --destdir) [[ $# -ge 2 ]] || usage; DESTDIR=$2; shift 2 ;;
        --destdir=*) DESTDIR=${1#*=}; shift ;;
        --prefix) [[ $# -ge 2 ]] || usage; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#*=}; shift ;;
        -h | --help) usage 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

PREFIX=${PREFIX%/}
LIBDIR=$PREFIX/lib/earlypipe
BINDIR=$PREFIX/bin
DOCDIR=$PREFIX/share/doc/earlypipe
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-/usr/lib/sysusers.d}
CONFDIR=/etc/earlypipe
STATEDIR=/var/lib/earlypipe
SERVICE_USER=earlypipe

if [[ -n $DESTDIR ]]; then
    DESTDIR=$(mkdir -p "$DESTDIR" && cd "$DESTDIR" && pwd)
elif [[ $(id -u) -ne 0 ]]; then
    echo "install.sh: installing into this machine needs root (or --destdir DIR to stage a tree)" >&2
    exit 1
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dotnet=$(command -v "${DOTNET:-dotnet}") || { echo "install.sh: no dotnet SDK on PATH (set DOTNET)" >&2; exit 1; }
# The directory holding the runtime: the installed command points the application there (DOTNET_ROOT), so it runs
# under systemd, whose PATH and environment know nothing of where the SDK was.
dotnet_root=$(dirname "$(readlink -f "$dotnet")")
case $dotnet_root in
    /home/* | /root/* | /run/user/*)
        echo "install.sh: warning: the runtime is in $dotnet_root, which the unit's ProtectHome=yes hides from the" \
            "service; install .NET system-wide (e.g. /usr/share/dotnet) and set DOTNET" >&2 ;;
esac

staging=$(mktemp -d "${TMPDIR:-/tmp}/earlypipe-install.XXXXXX")
trap 'rm -rf "$staging"' EXIT

echo "publishing src/EarlyPipeProxy.Host (Release) with $dotnet"
"$dotnet" publish "$repo/src/EarlyPipeProxy.Host" -c Release -o "$staging/app" --nologo -v quiet -p:UseAppHost=true
[[ -x $staging/app/earlypipe ]] || { echo "install.sh: publish produced no $staging/app/earlypipe" >&2; exit 1; }

# The application: replaced as a whole, so no file of an older version stays behind. A running proxy keeps the
# files it opened (their inodes) until it is restarted.
install -d -m 0755 "$DESTDIR$(dirname "$LIBDIR")"
rm -rf "$DESTDIR$LIBDIR.new"
cp -R "$staging/app" "$DESTDIR$LIBDIR.new"
chmod -R u=rwX,go=rX "$DESTDIR$LIBDIR.new"
rm -rf "$DESTDIR$LIBDIR"
mv "$DESTDIR$LIBDIR.new" "$DESTDIR$LIBDIR"
echo "installed $LIBDIR"

# The command: exec, so that under systemd the main PID (READY=1, kill -HUP $MAINPID) is the proxy itself.
install -d -m 0755 "$DESTDIR$BINDIR"
cat > "$staging/earlypipe" <<EOF
#!/bin/sh
# EarlyPipeProxy, installed by deploy/install.sh: the published application on the runtime it was published with.
DOTNET_ROOT="\${DOTNET_ROOT:-$dotnet_root}"
export DOTNET_ROOT
exec $LIBDIR/earlypipe "\$@"
EOF
install -m 0755 "$staging/earlypipe" "$DESTDIR$BINDIR/earlypipe"
echo "installed $BINDIR/earlypipe (runtime: $dotnet_root)"

# The default configuration: the repository's config/earlypipe.json with the cache and the control socket in
# /var/lib/earlypipe. Its "../var/..." paths are relative to the config file's directory, which would be /etc/var.
install -d -m 0755 "$DESTDIR$CONFDIR"
sed -e "s|\"\\.\\./var/ehlo-cache\\.db\"|\"$STATEDIR/ehlo-cache.db\"|" \
    -e "s|\"\\.\\./var/control\\.sock\"|\"$STATEDIR/control.sock\"|" \
    "$repo/config/earlypipe.json" > "$staging/earlypipe.json"
for expected in "\"$STATEDIR/ehlo-cache.db\"" "\"$STATEDIR/control.sock\""; do
    grep -qF "$expected" "$staging/earlypipe.json" || {
        echo "install.sh: config/earlypipe.json changed: could not point its paths at $STATEDIR ($expected)" >&2
        exit 1
    }
done
if [[ -e $DESTDIR$CONFDIR/earlypipe.json ]]; then
    echo "kept the existing $CONFDIR/earlypipe.json"
else
    install -m 0644 "$staging/earlypipe.json" "$DESTDIR$CONFDIR/earlypipe.json"
    echo "installed $CONFDIR/earlypipe.json"
fi

# The unit, with the command's path when the prefix is not /usr.
install -d -m 0755 "$DESTDIR$UNITDIR"
sed -e "s|^ExecStart=/usr/bin/earlypipe |ExecStart=$BINDIR/earlypipe |" \
    -e "s|file:///usr/share/doc/earlypipe/|file://$DOCDIR/|" \
    "$repo/deploy/systemd/earlypipe.service" > "$staging/earlypipe.service"
install -m 0644 "$staging/earlypipe.service" "$DESTDIR$UNITDIR/earlypipe.service"
echo "installed $UNITDIR/earlypipe.service"

install -d -m 0755 "$DESTDIR$DOCDIR"
install -m 0644 "$repo/README.md" "$DESTDIR$DOCDIR/README.md"
install -m 0755 "$repo/deploy/transparent/setup.sh" "$DESTDIR$DOCDIR/transparent-setup.sh"

# The user: described for systemd-sysusers (images, packages), and created here when installing into this machine.
install -d -m 0755 "$DESTDIR$SYSUSERSDIR"
printf 'u %s - "EarlyPipeProxy SMTP proxy" %s /usr/sbin/nologin\n' "$SERVICE_USER" "$STATEDIR" > "$staging/earlypipe.conf"
install -m 0644 "$staging/earlypipe.conf" "$DESTDIR$SYSUSERSDIR/earlypipe.conf"

install -d -m 0750 "$DESTDIR$STATEDIR"
if [[ -z $DESTDIR ]]; then
    if ! getent passwd "$SERVICE_USER" > /dev/null; then
        useradd --system --user-group --home-dir "$STATEDIR" --no-create-home --shell /usr/sbin/nologin \
            --comment "EarlyPipeProxy SMTP proxy" "$SERVICE_USER"
        echo "created the system user $SERVICE_USER"
    fi
    chown "$SERVICE_USER:$SERVICE_USER" "$STATEDIR"
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        echo "systemctl daemon-reload done"
    else
        echo "systemd is not running here: no daemon-reload"
    fi
fi

echo "done; not started. Edit $CONFDIR/earlypipe.json, then: systemctl enable --now earlypipe"
