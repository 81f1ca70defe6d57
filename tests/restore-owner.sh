#!/usr/bin/env bash
# restore-owner.sh DIR : gives every root-owned file under DIR (DIR included, one file system, symlinks themselves not
# their targets) to DIR's owner, when that owner is not root. tests/run-all.sh calls it at exit: run with sudo by a
# normal user, the build and the tests write bin/, obj/, test results and the like as root into the user's checkout,
# and the user could not delete or rebuild them afterwards. Files of other owners are not touched.
set -euo pipefail
dir=${1:?usage: restore-owner.sh DIR}
[ "$(id -u)" = 0 ] || exit 0
owner=$(stat -c %u "$dir")
group=$(stat -c %g "$dir")
[ "$owner" != 0 ] || exit 0
count=$(find "$dir" -xdev -uid 0 -print0 | tr -cd '\0' | wc -c)
find "$dir" -xdev -uid 0 -print0 | xargs -0 -r chown -h "$owner:$group"
[ "$count" = 0 ] || echo "restore-owner: gave $count root-owned files under $dir back to uid $owner" >&2
