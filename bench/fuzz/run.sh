#!/usr/bin/env bash
# bench/fuzz/run.sh: every fuzz target of fuzz/EarlyPipeProxy.Fuzz under AFL++ for a fixed time, one after the
# other, and a table of what each run did. The test command runs the same for 10 s per target (AflSmokeTests).
#
#   sudo bench/fuzz/run.sh                                   # 600 s per target, all targets (about 41 minutes)
#   sudo FUZZ_SECONDS=120 TARGETS="scanner session" bench/fuzz/run.sh
#
# FUZZ_SECONDS  seconds per target (default 600)
# TARGETS       targets to run (default: all that the harness lists)
# KEEP=1        keep the work directory (AFL++'s queues, to grow fuzz/corpus from; its logs)
# RESULTS       where the table goes as well as stdout (default bench/fuzz/results/latest.md)
# Root is needed only to install afl++ when it is missing (tests/fuzz/install.sh). Crashes and hangs are copied to
# bench/fuzz/findings/TARGET/, and the script then exits 1; replay one with
#   dotnet fuzz/EarlyPipeProxy.Fuzz/bin/Release/net10.0/EarlyPipeProxy.Fuzz.dll TARGET --replay FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-600}
results=${RESULTS:-bench/fuzz/results/latest.md}

bash tests/fuzz/install.sh
dotnet build fuzz/EarlyPipeProxy.Fuzz -c Release -v q -nologo >/dev/null
build=fuzz/EarlyPipeProxy.Fuzz/bin/Release/net10.0
targets=${TARGETS:-$(dotnet "$build/EarlyPipeProxy.Fuzz.dll" --list | tr '\n' ' ')}

work=$(mktemp -d /tmp/earlypipe-fuzz-bench.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "fuzz bench: work directory $work (kept)" >&2; else trap 'rm -rf "$work"' EXIT; fi
bash fuzz/instrument.sh "$build" "$work/harness"

mkdir -p "$(dirname "$results")"
{
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "load average at start $(cut -d' ' -f1-3 /proc/loadavg), afl-fuzz $(dpkg-query -W -f='${Version}' afl++ 2>/dev/null || echo '?')."
  echo
  echo "| target | duration (s) | execs | execs/s | corpus (paths) | edges | crashes | hangs |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} | tee "$results"

status=0
for target in $targets; do
  line=$(bash fuzz/afl.sh "$work/harness" "$target" "$seconds" "$work/$target") || {
    code=$?
    [ "$code" -eq 1 ] || { echo "fuzz bench: afl-fuzz could not run $target" >&2; exit 2; }
    status=1
    mkdir -p "bench/fuzz/findings/$target"
    find "$work/$target/default/crashes" "$work/$target/default/hangs" -type f ! -name README.txt \
      -exec cp {} "bench/fuzz/findings/$target/" \;
  }
  value() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $line"; }
  echo "| $target | $(value seconds) | $(value execs) | $(value execs_per_sec) | $(value corpus) | $(value edges) | $(value crashes) | $(value hangs) |" \
    | tee -a "$results"
done
exit "$status"
