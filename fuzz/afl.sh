#!/usr/bin/env bash
# fuzz/afl.sh HARNESS_DIR TARGET SECONDS OUT_DIR
# Runs one target of EarlyPipeProxy.Fuzz under afl-fuzz for SECONDS, starting from fuzz/corpus/TARGET. HARNESS_DIR is
# a copy made by fuzz/instrument.sh. Works as root in a container: no CPU frequency check, no core_pattern check, no
# CPU binding (so that runs side by side do not fight over a core), no UI. Everything goes to OUT_DIR (fresh per run;
# afl-fuzz's own log is OUT_DIR/afl.log), so runs side by side do not collide.
# Prints one line: target, seconds, execs, execs/s, corpus, edges, crashes, hangs.
# Exit: 0 no crash and no hang; 1 crashes or hangs saved (OUT_DIR/default/crashes, hangs); 2 afl-fuzz could not run.
set -euo pipefail
harness=$1 target=$2 seconds=$3 out=$4
corpus="$(cd "$(dirname "$0")" && pwd)/corpus/$target"
[ -d "$corpus" ] || { echo "afl: no corpus for target $target" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl: afl-fuzz not found (tests/fuzz/install.sh installs afl++)" >&2; exit 2; }
mkdir -p "$out"

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
# The target is `dotnet`, which has no AFL instrumentation of its own: the instrumented code is the protocol DLL.
export AFL_SKIP_BIN_CHECK=1
# The .NET runtime takes a while to start on a busy machine before SharpFuzz answers the fork server handshake.
export AFL_FORKSRV_INIT_TMOUT=60000
status=0
# -t: per-input timeout in ms (an input that takes longer is saved as a hang); -m none: the runtime reserves far more
# virtual memory than afl's default limit.
afl-fuzz -V "$seconds" -t 5000 -m none -i "$corpus" -o "$out" -- dotnet "$harness/EarlyPipeProxy.Fuzz.dll" "$target" \
  >"$out/afl.log" 2>&1 || status=$?
stats=$out/default/fuzzer_stats
if [ "$status" -ne 0 ] || [ ! -f "$stats" ]; then
  tail -25 "$out/afl.log" >&2
  echo "afl: afl-fuzz exited with $status for $target" >&2
  exit 2
fi

stat() { sed -n "s/^$1 *: *//p" "$stats"; }
crashes=$(find "$out/default/crashes" -type f ! -name README.txt | wc -l)
hangs=$(find "$out/default/hangs" -type f | wc -l)
echo "target=$target seconds=$(stat run_time) execs=$(stat execs_done) execs_per_sec=$(stat execs_per_sec)" \
  "corpus=$(stat corpus_count) edges=$(stat edges_found) crashes=$crashes hangs=$hangs"
[ "$crashes" -eq 0 ] && [ "$hangs" -eq 0 ]
