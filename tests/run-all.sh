#!/usr/bin/env bash
# Runs every test of the solution. As root it first installs the real peers the end-to-end tests need
# (Postfix, Exim 4.96 unpacked beside it, tcpdump, iproute2, iptables) and Debian's afl++ for the fuzzing smoke
# (tests/fuzz/install.sh) -- idempotently, only what is missing.
# Not root: the end-to-end, latency and AFL++ tests skip with their reason (under CI=true they must run).
# Safe on a workstation: install.sh never stops, removes or replaces the machine's MTA or services
# (`bash tests/peers/install.sh --dry-run` shows what it would do), and files written as root into a checkout owned by
# someone else are given back to that owner at exit (tests/restore-owner.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

results=$(mktemp -d)
# Run with sudo by a normal user: what the build and the tests wrote into the checkout as root (bin/, obj/, anything a
# test leaves) goes back to the checkout's owner at exit, so that the user can still build, clean and delete it.
trap 'rm -rf "$results"; bash tests/restore-owner.sh "$PWD"' EXIT

if [ "$(id -u)" -eq 0 ]; then
  bash tests/peers/install.sh
  bash tests/fuzz/install.sh
else
  echo "run-all: not root; tests that need the real MTAs or network namespaces will skip" >&2
fi

status=0
if [ "$#" -eq 0 ]; then
  # The AFL++ smoke keeps a core busy for about a minute: it runs after the rest, alone, so that it takes no core
  # from the timing-sensitive end-to-end tests. With arguments (a filter, say) everything runs as one dotnet test.
  dotnet test EarlyPipeProxy.sln -c Release --logger "trx" --logger "console;verbosity=normal" \
    --results-directory "$results" --filter "FullyQualifiedName!~AflSmokeTests" || status=$?
  dotnet test tests/EarlyPipeProxy.Protocol.Tests -c Release --no-build --logger "trx;LogFileName=afl-smoke.trx" \
    --logger "console;verbosity=normal" --results-directory "$results" --filter "FullyQualifiedName~AflSmokeTests" || status=$?
else
  dotnet test EarlyPipeProxy.sln -c Release --logger "trx" --logger "console;verbosity=normal" \
    --results-directory "$results" "$@" || status=$?
fi

# One closing line over all test projects: "N passed, N failed, N skipped".
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    if counters is None:
        continue
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    skipped += int(counters.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
