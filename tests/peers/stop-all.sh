#!/bin/bash
# Stops every Postfix and Exim instance that postfix.sh / exim.sh started under $PEERS_DIR
# (found by their pid files, verified through /proc/PID/exe; nothing is killed by name).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
peers_require_root
shopt -s nullglob
status=0
for d in "$PEERS_DIR"/exim-*/; do
  name=$(basename "$d"); name=${name#exim-}
  [ "$name" = root ] && continue
  [ -e "$d/exim.pid" ] || continue
  EXIM_NAME=$name "$HERE/exim.sh" server stop || status=1
done
for d in "$PEERS_DIR"/postfix-*/; do
  name=$(basename "$d")
  [ -f "$d/etc/main.cf" ] || continue
  PF_NAME=${name#postfix-} "$HERE/postfix.sh" stop || status=1
done
exit $status
