#!/usr/bin/env bash
# fuzz/instrument.sh BUILD_DIR DEST_DIR
# Copies a build of EarlyPipeProxy.Fuzz (e.g. fuzz/EarlyPipeProxy.Fuzz/bin/Release/net10.0) to DEST_DIR and instruments
# the copy's EarlyPipeProxy.Protocol.dll with sharpfuzz, so that AFL++ sees the protocol layer's branches (and only
# those). The build itself stays uninstrumented, for replaying inputs.
set -euo pipefail
build=$1 dest=$2
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$build/EarlyPipeProxy.Fuzz.dll" ] || { echo "instrument: no EarlyPipeProxy.Fuzz.dll in $build" >&2; exit 2; }
mkdir -p "$dest"
cp -r "$build"/. "$dest"/
# The tool manifest (.config/dotnet-tools.json) is found from the repository root; restoring is a no-op once done.
(cd "$root" && dotnet tool restore >/dev/null && dotnet tool run sharpfuzz "$dest/EarlyPipeProxy.Protocol.dll") >"$dest/instrument.log" 2>&1 \
  || { cat "$dest/instrument.log" >&2; exit 2; }
