#!/usr/bin/env bash
# Installs what the AFL++ smoke test (tests/EarlyPipeProxy.Protocol.Tests/Fuzzing) needs, and only what is missing:
# Debian's afl++ (apt-get update only when it has to be fetched) and the sharpfuzz dotnet tool of .config/dotnet-tools.json.
# Idempotent. The tool restore needs no root; the package does.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v afl-fuzz >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "fuzz/install: afl-fuzz is missing and only root can install afl++" >&2; exit 1; }
  echo "fuzz/install: apt-get install afl++" >&2
  log=$(mktemp)
  # Never an installation that removes a package of the machine's (apt's simulation lists those as Remv).
  removed=$({ apt-get -s -q install --no-install-recommends afl++ 2>/dev/null || true; } | awk '$1 == "Remv" {print $2}' | xargs echo)
  [ -z "$removed" ] || { echo "fuzz/install: installing afl++ would remove $removed; not done" >&2; exit 1; }
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends afl++; } >"$log" 2>&1 \
    || { tail -20 "$log" >&2; echo "fuzz/install: installing afl++ failed" >&2; exit 1; }
  rm -f "$log"
fi

dotnet tool restore >/dev/null
