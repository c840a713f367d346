#!/usr/bin/env bash
# redis_compare.sh — Debian's redis-server on ingot's libjemalloc.so.2 against
# the same server on Debian's jemalloc 5.3, in the same run.
#
# Each round starts a fresh server per allocator (the order alternates from
# round to round: ingot first, then jemalloc first, ...), drives it with
# redis-benchmark, then reads the server's peak resident size (VmHWM in
# /proc/PID/status) before stopping it. The report gives, per benchmark test,
# the median requests per second over the rounds, the median peak RSS, and
# whether ingot is at least equal on both (throughput: geometric mean of the
# per-test medians).
#
# Usage: bench/redis_compare.sh
# Environment:
#   REDIS_ROUNDS    rounds per allocator (default 3, at least 3)
#   REDIS_REQUESTS  requests per test (default 500000)
#   REDIS_CLIENTS   parallel connections (default 50)
#   REDIS_PIPELINE  requests per round trip (-P, default 16: without pipelining
#                   the two processes mostly wait in system calls, and the
#                   allocator's share is lost in the noise)
#   REDIS_KEYS      random keyspace (-r, default 100000): the data set grows
#   REDIS_DATA      value size in bytes (-d, default 128)
#   REDIS_TESTS     redis-benchmark -t list (default
#                   set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset)
#   REDIS_OUT       also write the report to this file
#   JEMALLOC_SO     the reference (default: what redis-server links, Debian's)
# Needs redis-server and redis-benchmark (apt-get install redis-server
# redis-tools) and lib/libjemalloc.so.2 (make).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${REDIS_ROUNDS:-3}
REQUESTS=${REDIS_REQUESTS:-500000}
CLIENTS=${REDIS_CLIENTS:-50}
PIPELINE=${REDIS_PIPELINE:-16}
KEYS=${REDIS_KEYS:-100000}
DATA=${REDIS_DATA:-128}
TESTS=${REDIS_TESTS:-set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset}
INGOT_DIR=$ROOT/lib

((ROUNDS >= 3)) || { echo "redis_compare: REDIS_ROUNDS must be at least 3" >&2; exit 2; }
for tool in redis-server redis-benchmark redis-cli python3; do
	command -v "$tool" >/dev/null || { echo "redis_compare: $tool not found" >&2; exit 1; }
done
[[ -f $INGOT_DIR/libjemalloc.so.2 ]] || { echo "redis_compare: $INGOT_DIR/libjemalloc.so.2 missing (make)" >&2; exit 1; }
REDIS_SERVER=$(command -v redis-server)
JEMALLOC_SO=${JEMALLOC_SO:-$(ldd "$REDIS_SERVER" | awk '$1 == "libjemalloc.so.2" { print $3 }')}
[[ -n $JEMALLOC_SO ]] || { echo "redis_compare: $REDIS_SERVER does not link libjemalloc.so.2" >&2; exit 1; }
INGOT_SO=$(realpath "$INGOT_DIR/libjemalloc.so.2")
JEMALLOC_SO=$(realpath "$JEMALLOC_SO")

WORK=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One round for one allocator: appends "alloc round test rps" lines to
# $WORK/rps and "alloc round kib" to $WORK/rss.
run_one() { # allocator round
	local alloc=$1 round=$2 port so
	port=$(free_port)
	if [[ $alloc == ingot ]]; then so=$INGOT_SO; else so=$JEMALLOC_SO; fi
	# Both through LD_LIBRARY_PATH from a folder holding only that library,
	# so that the two servers start the same way.
	mkdir -p "$WORK/lib-$alloc"
	ln -sf "$so" "$WORK/lib-$alloc/libjemalloc.so.2"
	LD_LIBRARY_PATH=$WORK/lib-$alloc "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 \
		--save '' --appendonly no --daemonize no --dir "$WORK" \
		--logfile "$WORK/redis-$alloc-$round.log" >/dev/null 2>&1 &
	server_pid=$!
	local up=0
	for _ in $(seq 1 100); do
		if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then up=1; break; fi
		sleep 0.05
	done
	((up)) || { echo "redis_compare: $alloc server did not start" >&2; exit 1; }
	local mapped
	mapped=$(awk '$6 ~ /libjemalloc/ { print $6 }' "/proc/$server_pid/maps" | sort -u)
	[[ $(realpath "$mapped") == "$so" ]] ||
		{ echo "redis_compare: $alloc server maps $mapped, not $so" >&2; exit 1; }
	redis-benchmark -p "$port" -n "$REQUESTS" -c "$CLIENTS" -P "$PIPELINE" -r "$KEYS" \
		-d "$DATA" -t "$TESTS" --csv >"$WORK/bench.csv" 2>/dev/null
	python3 - "$WORK/bench.csv" "$alloc" "$round" >>"$WORK/rps" <<'PY'
import csv, sys
path, alloc, rnd = sys.argv[1:]
for row in csv.reader(open(path)):
    if len(row) < 2 or row[0] == "test":
        continue
    print(alloc, rnd, row[0].replace(" ", "_"), row[1])
PY
	local hwm
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
	echo "$alloc $round $hwm" >>"$WORK/rss"
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

echo "redis_compare: $(redis-server --version | awk '{ print $3 }'), $ROUNDS rounds," \
	"$REQUESTS requests per test, $CLIENTS clients, pipeline $PIPELINE, $KEYS keys," \
	"$DATA-byte values"
echo "  ingot:    $INGOT_SO"
echo "  jemalloc: $JEMALLOC_SO"
: >"$WORK/rps"
: >"$WORK/rss"
for round in $(seq 1 "$ROUNDS"); do
	if ((round % 2)); then order=(ingot jemalloc); else order=(jemalloc ingot); fi
	for alloc in "${order[@]}"; do
		printf '  round %d: %-8s ... ' "$round" "$alloc"
		run_one "$alloc" "$round"
		echo "peak RSS $(awk -v a="$alloc" -v r="$round" '$1 == a && $2 == r { print $3 }' "$WORK/rss") KiB"
	done
done

python3 - "$WORK/rps" "$WORK/rss" "${REDIS_OUT:-}" <<'PY'
import math, statistics, sys
rps_path, rss_path, out_path = sys.argv[1:]
rps = {}
for line in open(rps_path):
    alloc, rnd, test, value = line.split()
    rps.setdefault(test, {}).setdefault(alloc, []).append(float(value))
rss = {}
for line in open(rss_path):
    alloc, rnd, kib = line.split()
    rss.setdefault(alloc, []).append(int(kib))

lines = []
lines.append(f"{'test':<28}{'ingot rps':>14}{'jemalloc rps':>14}{'ingot/jemalloc':>16}")
ratios = []
for test, by in rps.items():
    i, j = statistics.median(by["ingot"]), statistics.median(by["jemalloc"])
    ratios.append(i / j)
    lines.append(f"{test:<28}{i:>14.0f}{j:>14.0f}{i / j:>16.3f}")
geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
lines.append(f"{'geometric mean':<28}{'':>14}{'':>14}{geo:>16.3f}")
ri, rj = statistics.median(rss["ingot"]), statistics.median(rss["jemalloc"])
lines.append("")
lines.append(f"peak RSS (VmHWM, median)    ingot {ri / 1024:.1f} MiB   jemalloc {rj / 1024:.1f} MiB"
             f"   ingot/jemalloc {ri / rj:.3f}")
lines.append(f"  ingot rounds:    {' '.join(str(k) for k in rss['ingot'])} KiB")
lines.append(f"  jemalloc rounds: {' '.join(str(k) for k in rss['jemalloc'])} KiB")
lines.append("")
lines.append(f"throughput: ingot {'AT LEAST EQUAL' if geo >= 1 else 'BELOW'} (geometric mean {geo:.3f})")
lines.append(f"peak RSS:   ingot {'AT MOST EQUAL' if ri <= rj else 'ABOVE'} ({ri / rj:.3f})")
text = "\n".join(lines)
print(text)
if out_path:
    with open(out_path, "w") as f:
        f.write(text + "\n")
PY
