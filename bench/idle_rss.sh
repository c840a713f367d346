#!/usr/bin/env bash
# idle_rss.sh — the free-then-sleep curve (bench/workloads/idlefree.c): RSS
# while a program that freed 200 MiB of 4..64 KiB blocks sleeps, for ingot and
# jemalloc with and without their background thread, mimalloc, tcmalloc and
# glibc, all with a one-second decay time where the allocator has one. Writes
# one "ms rss_kib" file per allocator under build/idle-rss/ and plots them to
# docs/idle-rss.png (gnuplot). A benchmark, not a test: it asserts nothing.
#
# Usage: bench/idle_rss.sh   (after make lib/libingot.so bench-build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/idle-rss
BIN=$ROOT/bench/build/idlefree
IDLE_MS=${IDLE_MS:-3000}
LIBDIR=/usr/lib/x86_64-linux-gnu
mkdir -p "$OUT"
[[ -x $BIN ]] || { echo "idle_rss: $BIN missing (make bench-build)" >&2; exit 1; }

# name|line colour|the environment that picks and configures the allocator
runs=(
	"ingot+bg|#d62728|LD_PRELOAD=$ROOT/lib/libingot.so INGOT_CONF=background_thread:true,dirty_decay_ms:1000"
	"ingot|#ff9896|LD_PRELOAD=$ROOT/lib/libingot.so INGOT_CONF=dirty_decay_ms:1000"
	"jemalloc+bg|#1f77b4|LD_PRELOAD=$LIBDIR/libjemalloc.so.2 MALLOC_CONF=background_thread:true,dirty_decay_ms:1000"
	"jemalloc|#aec7e8|LD_PRELOAD=$LIBDIR/libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:1000"
	"mimalloc|#2ca02c|LD_PRELOAD=$LIBDIR/libmimalloc.so.2"
	"tcmalloc|#9467bd|LD_PRELOAD=$LIBDIR/libtcmalloc_minimal.so.4"
	"glibc|#7f7f7f|"
)
plot=""
for run in "${runs[@]}"; do
	IFS='|' read -r name colour setting <<<"$run"
	read -ra envs <<<"$setting"
	file=$OUT/$name.dat
	env "${envs[@]}" "$BIN" --idle-ms "$IDLE_MS" --out "$file"
	plot+="${plot:+, }'$file' using (\$1/1000):(\$2/1024) every ::1 with lines lw 2 lc rgb '$colour' title '$name'"
done
gnuplot <<GP
set terminal pngcairo size 900,520
set output '$ROOT/docs/idle-rss.png'
set title 'Free 200 MiB of 4..64 KiB blocks, then sleep without calling the allocator (decay 1 s)'
set xlabel 'seconds since the frees returned'
set ylabel 'RSS (MiB)'
set key top right
set grid
plot $plot
GP
echo "idle_rss: docs/idle-rss.png"
