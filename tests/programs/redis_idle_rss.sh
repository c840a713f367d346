#!/usr/bin/env bash
# redis_idle_rss.sh — an idle redis-server gives its memory back by itself
# (issue 15). redis turns the allocator's background thread on at start
# (mallctl background_thread); after a bulk load and FLUSHALL ASYNC, with no
# further command, its resident size must fall back close to where it was
# before the load. Run on ingot's libjemalloc.so.2 and on Debian's jemalloc
# in the same run, which prints both curves.
#
# Usage: tests/programs/redis_idle_rss.sh
# Environment: REDIS_IDLE_KEYS (default 100000 keys of 1 KiB).
# Each allocator gets twice its default decay time (plus slack for a loaded
# machine) to fall: ingot 1 s -> 5 s, jemalloc 10 s -> 22 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KEYS=${REDIS_IDLE_KEYS:-100000}
REDIS_SERVER=$(command -v redis-server || true)
for tool in redis-server redis-cli redis-benchmark python3; do
	command -v "$tool" >/dev/null || { echo "redis_idle_rss: $tool missing (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
[[ -f $ROOT/lib/libjemalloc.so.2 ]] || { echo "redis_idle_rss: lib/libjemalloc.so.2 not found (run make)" >&2; exit 1; }

# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"
server_scratch

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_kib() { # pid
	awk '{ print $2 * 4 }' "/proc/$1/statm"
}

# Runs one server (env assignments in $@ choose its libjemalloc.so.2, which
# its maps must show), loads it, flushes it, then watches its RSS without
# sending anything.
idle_curve() { # test, label, seconds it may take, libjemalloc path, env...
	local test=$1 label=$2 wait_s=$3 so=$4
	shift 4
	local port
	port=$(free_port)
	env "$@" "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --dir "$WORK" --logfile "$WORK/redis-$label.log" >/dev/null 2>&1 &
	server_pid=$!
	local cli=(redis-cli -p "$port")
	for _ in $(seq 1 100); do
		[[ $("${cli[@]}" ping 2>/dev/null) == PONG ]] && break
		sleep 0.1
	done
	[[ $("${cli[@]}" ping 2>/dev/null) == PONG ]] || { fail "$test" "$label: redis did not start"; return; }
	local maps
	maps=$(awk '$6 ~ /libjemalloc/ { print $6 }' "/proc/$server_pid/maps" | sort -u)
	[[ $maps == "$so" ]] || fail "$test" "$label: redis maps '$maps', not $so"
	local bg
	bg=$("${cli[@]}" config get jemalloc-bg-thread | tail -1)
	local base loaded flushed
	base=$(rss_kib "$server_pid")
	redis-benchmark -p "$port" -q -t set -n "$KEYS" -r 100000000 -d 1024 -P 16 >/dev/null
	loaded=$(rss_kib "$server_pid")
	"${cli[@]}" flushall async >/dev/null
	flushed=$(rss_kib "$server_pid")
	# Back "close to where it was": within a quarter of what the load added.
	local target=$((base + (loaded - base) / 4)) now=$flushed curve="" t
	for t in $(seq 1 $((wait_s * 4))); do
		sleep 0.25
		now=$(rss_kib "$server_pid")
		((t % 4 == 0)) && curve+=" $((t / 4))s:$((now / 1024))"
		((now <= target)) && { curve+=" $((t * 250))ms:$((now / 1024))"; break; }
	done
	echo "  $label (jemalloc-bg-thread $bg): RSS MiB before $((base / 1024)), loaded $((loaded / 1024)), after FLUSHALL ASYNC $((flushed / 1024)),$curve"
	((loaded - base > KEYS / 2)) || fail "$test" "$label: the load added only $(((loaded - base) / 1024)) MiB"
	((now <= target)) || fail "$test" "$label: RSS still $((now / 1024)) MiB after ${wait_s} s idle (target $((target / 1024)))"
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=
}

test_redis_idle() {
	local system
	system=$(realpath "$(ldd "$REDIS_SERVER" | awk '$1 == "libjemalloc.so.2" { print $3 }')")
	idle_curve redis_idle "ingot" 5 "$ROOT/lib/libjemalloc.so.2" "LD_LIBRARY_PATH=$ROOT/lib"
	idle_curve redis_idle "jemalloc" 22 "$system" "LD_LIBRARY_PATH="
}

run_tests redis_idle_rss "redis_idle" "" "$@"
