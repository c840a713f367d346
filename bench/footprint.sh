#!/usr/bin/env bash
# footprint.sh — what a small program keeps resident, mapping by mapping:
# runs small workloads under glibc and under ingot (and LIB=path for another
# build of ingot, to compare two), ROUNDS times each (default 5), with
# bench/build/smaps_exit.so preloaded, and prints the mean resident KiB at
# exit of anonymous memory (with the brk heap), the allocator's library,
# libc, ld.so, the rest, the total and the peak (VmHWM). Linux maps a file's
# pages 64 KiB at a time around each page a process touches, in windows of
# the process's addresses, so libc's figure depends on where it is loaded
# (its address modulo 64 KiB moved it between 1280 and 1552 KiB for
# pair-16-128 on glibc 2.36), which differs from run to run (the loader maps
# libc right below the preloaded libraries, wherever they lie): compare
# allocators by anonymous memory and their library, which do not move, and
# libc's figure by its mean over many rounds. A benchmark, not a test: it
# asserts nothing.
#
# Usage: bench/footprint.sh [workload args ...]   (after make lib/libingot.so bench-build)
#        LIB=/path/to/other/libingot.so ROUNDS=7 bench/footprint.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/bench/build
ROUNDS=${ROUNDS:-5}
HELPER=$B/smaps_exit.so
[[ -f $HELPER ]] || { echo "footprint: $HELPER missing (make bench-build)" >&2; exit 1; }
if (($# > 0)); then
	workloads=("$*")
else
	workloads=(
		"sizeloop --mode pair --min 16 --max 128 --threads 1 --iters 400000"
		"sizeloop --mode pair --min 1024 --max 8192 --threads 1 --iters 200000"
		"sizeloop --mode batch --min 16 --max 128 --threads 1 --iters 150000"
		"fastpath --mode burst --iters 400000"
		"falseshare --mode active --threads 2 --iters 4000"
		"prodcons --threads 1 --iters 100000"
	)
fi
allocs=("glibc|" "ingot|$ROOT/lib/libingot.so")
[[ -n ${LIB:-} ]] && allocs+=("LIB|$LIB")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%-52s %-6s %6s %6s %6s %6s %6s %6s %6s\n' workload alloc anon lib libc ld.so other total peak
for w in "${workloads[@]}"; do
	read -ra cmd <<<"$w"
	for entry in "${allocs[@]}"; do
		IFS='|' read -r name lib <<<"$entry"
		: >"$out"
		for ((i = 0; i < ROUNDS; i++)); do
			SMAPS_OUT=$out LD_PRELOAD="${lib:+$lib }$HELPER" "$B/${cmd[0]}" "${cmd[@]:1}" >/dev/null
		done
		lib_name=$(basename "${lib:-none}")
		awk -v lib="$lib_name" -v w="${w:0:52}" -v a="$name" '
			{
				for (i = 1; i <= NF; i++) {
					split($i, kv, "=")
					k = kv[1]; v = kv[2]
					if (k == "hwm") peak += v
					else {
						total += v
						if (k == "[anon]" || k == "[heap]") anon += v
						else if (k == lib) own += v
						else if (k ~ /^libc\.so/) libc += v
						else if (k ~ /^ld-linux/) ld += v
						else other += v
					}
				}
				n++
			}
			END { printf "%-52s %-6s %6.0f %6.0f %6.0f %6.0f %6.0f %6.0f %6.0f\n", w, a,
			      anon / n, own / n, libc / n, ld / n, other / n, total / n, peak / n }' "$out"
	done
done
