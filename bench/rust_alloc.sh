#!/usr/bin/env bash
# rust_alloc.sh — Rust workloads (bench/rust) with each allocator: the
# system allocator, ingot, ingot switched to the hardened profile at start
# (INGOT_CONF=profile:hardened, same binary), ingot built hardened (feature
# ingot-hardened), and Debian's jemalloc and mimalloc preloaded into the
# system-allocator build (LD_PRELOAD; skipped when not installed).
#
# Prints a Markdown table: per workload, the median over RUNS runs of the
# workload's wall time and of the process's peak RSS (VmHWM). Runs go round
# the allocators in turn, so that load from elsewhere spreads over all of
# them. Not part of make test.
#
# Usage: bench/rust_alloc.sh   (from the top of the tree)
# Environment: RUNS (default 5), CARGO (default cargo), CC (default cc),
# WORKLOADS (default "btree json channels").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
CARGO=${CARGO:-cargo}
WORKLOADS=${WORKLOADS:-btree json channels}
OUT=$ROOT/build/rust-bench
BIN=$OUT/bin
mkdir -p "$BIN"
unset INGOT_CONF MALLOC_CONF LD_PRELOAD

build() { # build NAME [cargo feature flags]
	local name=$1
	shift
	(cd "$ROOT/bench/rust" && CARGO_TARGET_DIR=$OUT "$CARGO" build --offline -q --release "$@")
	cp "$OUT/release/ingot-rust-bench" "$BIN/$name"
}
build system
build ingot --features ingot
build ingot-hardened --features ingot-hardened

LIBDIR=/usr/lib/x86_64-linux-gnu
names=(system ingot "ingot profile:hardened" "ingot-hardened build")
cmds=("$BIN/system" "$BIN/ingot" "env INGOT_CONF=profile:hardened $BIN/ingot" "$BIN/ingot-hardened")
for lib in jemalloc mimalloc; do
	if [[ -e $LIBDIR/lib$lib.so.2 ]]; then
		names+=("$lib (LD_PRELOAD)")
		cmds+=("env LD_PRELOAD=$LIBDIR/lib$lib.so.2 $BIN/system")
	fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ingot-rust-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for ((run = 1; run <= RUNS; run++)); do
	for w in $WORKLOADS; do
		for i in "${!cmds[@]}"; do
			# shellcheck disable=SC2086 # cmds are command lines
			${cmds[$i]} "$w" 2>/dev/null >>"$TMP/$w.$i"
		done
	done
	echo "run $run of $RUNS done" >&2
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| allocator | $(for w in $WORKLOADS; do printf '%s time (s) | %s peak RSS (MiB) | ' "$w" "$w"; done | sed 's/ | $//') |"
echo "|---|$(for w in $WORKLOADS; do printf -- '--:|--:|'; done)"
for i in "${!names[@]}"; do
	row="| ${names[$i]} |"
	for w in $WORKLOADS; do
		t=$(awk '{ print $2 }' "$TMP/$w.$i" | median)
		m=$(awk '{ print $3 }' "$TMP/$w.$i" | median)
		row+=" $(printf '%.2f' "$t") | $(awk -v k="$m" 'BEGIN { printf "%.0f", k / 1024 }') |"
	done
	echo "$row"
done
echo
echo "Medians of $RUNS runs; $(nproc) CPUs; $(uname -srm)."
