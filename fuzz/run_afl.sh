#!/usr/bin/env bash
# run_afl.sh — one afl-fuzz session on one harness; fails if it found a crash or a hang.
#
#   fuzz/run_afl.sh BINARY CORPUS_DIR OUT_DIR
#
# BINARY is an afl-cc build of a harness (persistent mode, shared-memory input).
# OUT_DIR is replaced. The dictionary fuzz/dict/<harness>.dict is used when present.
# Environment: FUZZ_SECONDS (default 60), FUZZ_TIMEOUT_MS (default 5000); any AFL_*
# variable set by the caller wins over the defaults below.
# Prints one summary line: executions, paths, crashes and hangs, from fuzzer_stats.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 BINARY CORPUS_DIR OUT_DIR" >&2
	exit 2
fi
binary=$1
corpus=$2
out=$3
seconds=${FUZZ_SECONDS:-60}
timeout_ms=${FUZZ_TIMEOUT_MS:-5000}
harness=$(basename "$binary")
harness=${harness#fuzz_}
dict=$(dirname "$0")/dict/$harness.dict

export AFL_SKIP_CPUFREQ=${AFL_SKIP_CPUFREQ:-1}
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=${AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES:-1}
export AFL_NO_UI=${AFL_NO_UI:-1}
# Other fuzzers or builds may hold the cores; do not insist on one of our own.
export AFL_NO_AFFINITY=${AFL_NO_AFFINITY:-1}

rm -rf "$out"
mkdir -p "$(dirname "$out")"
args=(-V "$seconds" -t "$timeout_ms" -m none -i "$corpus" -o "$out")
if [ -f "$dict" ]; then
	args+=(-x "$dict")
fi

log=$out.log
echo "fuzz: afl-fuzz ${args[*]} -- $binary  (log: $log)"
if ! afl-fuzz "${args[@]}" -- "$binary" >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "fuzz: afl-fuzz failed on $binary" >&2
	exit 1
fi

stats=$out/default/fuzzer_stats
stat() { sed -n "s/^$1 *: *//p" "$stats"; }
count() { find "$out/default/$1" -type f ! -name README.txt 2>/dev/null | wc -l; }
crashes=$(count crashes)
hangs=$(count hangs)
echo "fuzz: $harness ($out): $(stat execs_done) execs, $(stat corpus_count) paths," \
	"$(stat execs_per_sec) execs/s, $crashes crashes, $hangs hangs"
if [ "$crashes" -ne 0 ] || [ "$hangs" -ne 0 ]; then
	echo "fuzz: findings in $out/default/crashes and $out/default/hangs;" \
		"reproduce with the replay binary (build/fuzz/cc-*/fuzz_$harness FILE)" >&2
	exit 1
fi
