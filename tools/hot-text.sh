#!/usr/bin/env bash
# hot-text.sh — writes mk/hot-functions.txt, the list of functions that small
# programs run (start-up, the front ends, the caches' slow paths, refills and
# flushes, the page heap, exit), which the shared libraries place together
# at the start of their text (tools/hot-sections.sh; the Makefile, "Code
# layout").
#
# Runs each bench workload below under callgrind with lib/libingot.so
# preloaded (small counts: only which functions run matters) and keeps every
# function of libingot.so that ran in any of them, plus the C and C++ entry
# points a program may call instead (the list at the end).
#
# Usage: tools/hot-text.sh   (after make lib/libingot.so bench-build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/bench/build
LIB=$ROOT/lib/libingot.so
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
workloads=(
	"sizeloop --mode pair --min 16 --max 128 --threads 1 --iters 20000"
	"sizeloop --mode pair --min 1024 --max 8192 --threads 1 --iters 20000"
	"sizeloop --mode pair --min 8192 --max 65536 --threads 1 --iters 2000"
	"sizeloop --mode batch --min 16 --max 1024 --threads 2 --iters 20000"
	"sizeloop --mode mix --min 16 --max 1024 --threads 2 --iters 20000"
	"sizeloop --mode sized --min 16 --max 1024 --threads 1 --iters 20000"
	"fastpath --mode burst --iters 20000"
	"fastpath --mode flood --iters 20000"
	"prodcons --threads 2 --iters 20000"
	"falseshare --mode active --threads 2 --iters 400"
	"larson --threads 2 --iters 20000"
	"churn --threads 2 --iters 50"
	"stress --threads 2 --iters 20000"
	"realloc --mode str --iters 20000"
	"realloc --mode array --iters 200000"
	"large --iters 5"
	"frag --iters 2000"
)
i=0
for w in "${workloads[@]}"; do
	i=$((i + 1))
	read -ra cmd <<<"$w"
	LD_PRELOAD=$LIB valgrind --tool=callgrind --callgrind-out-file="$TMP/w$i" \
		"$B/${cmd[0]}" "${cmd[@]:1}" >/dev/null 2>&1
done
# Entry points: programs that call these instead of malloc and free.
entries="malloc free calloc realloc reallocarray aligned_alloc posix_memalign memalign
valloc pvalloc malloc_usable_size free_sized free_aligned_sized mallocx rallocx xallocx
sallocx dallocx sdallocx nallocx _Znwm _Znam _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm
_ZnwmSt11align_val_t _ZnamSt11align_val_t _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t"
{
	for f in "$TMP"/w*; do
		# "file:function [object]" lines; C++ names demangled are left out
		# (the entry list has them mangled).
		callgrind_annotate --threshold=100 "$f" | sed -n 's/.*:\([A-Za-z_][A-Za-z0-9_.]*\) \[.*libingot\.so\]$/\1/p'
	done
	printf '%s\n' $entries
} | sed 's/\.\(part\|constprop\|isra\|cold\)\..*//; s/\.\(part\|constprop\|isra\|cold\)$//' | sort -u >"$TMP/found"
# The front ends are written as ingot_<name> and exported under <name> too
# (src/exports.h): their sections bear the ingot_ name.
sed 's/^/ingot_/' "$TMP/found" | grep -v '^ingot_ingot_' | cat - "$TMP/found" | sort -u >"$TMP/names"
{
	echo "# mk/hot-functions.txt — written by tools/hot-text.sh: do not edit by hand."
	echo "# The functions small programs run, placed together at the start of the"
	echo "# shared libraries' text (tools/hot-sections.sh; the Makefile, \"Code layout\")."
	cat "$TMP/names"
} >"$ROOT/mk/hot-functions.txt"
echo "hot-text: $(wc -l <"$TMP/names") functions in mk/hot-functions.txt"
