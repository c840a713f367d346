#!/usr/bin/env bash
# redis_compare.sh — Debian's redis-server on ingot's libjemalloc.so.2 against
# the same server on Debian's jemalloc 5.3, in the same run.
#
# Each round starts a fresh server per allocator, runs every redis-benchmark
# test on one server and right after on the other (the order alternating
# from test to test and from round to round), then reads each server's peak
# resident size (VmHWM in /proc/PID/status) before stopping it. The report
# gives, per benchmark test, the median requests per second of each allocator
# over the rounds and the median of the per-round ratios (a round runs the two
# back to back, so its ratio is a paired figure), the median peak RSS, the
# server's CPU time (user + system; steadier than requests per second when
# other work shares the machine), and whether ingot is at least equal on
# throughput (geometric mean of the per-test median ratios) and on peak RSS.
# With two CPUs or more, the server and redis-benchmark run pinned to
# different CPUs.
#
# Usage: bench/redis_compare.sh
# Environment:
#   REDIS_ROUNDS    rounds per allocator (default 5, at least 3)
#   REDIS_REQUESTS  requests per test (default 300000)
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
ROUNDS=${REDIS_ROUNDS:-5}
REQUESTS=${REDIS_REQUESTS:-300000}
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

SERVER_CPU=() CLIENT_CPU=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	SERVER_CPU=(taskset -c 0) CLIENT_CPU=(taskset -c 1)
fi

WORK=$(mktemp -d)
declare -A pid port
cleanup() {
	local p
	for p in "${pid[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a fresh server on the allocator's library; sets pid[alloc], port[alloc].
start_server() { # allocator
	local alloc=$1 so
	if [[ $alloc == ingot ]]; then so=$INGOT_SO; else so=$JEMALLOC_SO; fi
	# Both through LD_LIBRARY_PATH from a folder holding only that library,
	# so that the two servers start the same way.
	mkdir -p "$WORK/lib-$alloc"
	ln -sf "$so" "$WORK/lib-$alloc/libjemalloc.so.2"
	port[$alloc]=$(free_port)
	LD_LIBRARY_PATH=$WORK/lib-$alloc "${SERVER_CPU[@]}" "$REDIS_SERVER" --port "${port[$alloc]}" \
		--bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" \
		--logfile "$WORK/redis-$alloc.log" >/dev/null 2>&1 &
	pid[$alloc]=$!
	local up=0
	for _ in $(seq 1 100); do
		if [[ $(redis-cli -p "${port[$alloc]}" ping 2>/dev/null) == PONG ]]; then up=1; break; fi
		sleep 0.05
	done
	((up)) || { echo "redis_compare: $alloc server did not start" >&2; exit 1; }
	local mapped
	mapped=$(awk '$6 ~ /libjemalloc/ { print $6 }' "/proc/${pid[$alloc]}/maps" | sort -u)
	[[ $(realpath "$mapped") == "$so" ]] ||
		{ echo "redis_compare: $alloc server maps $mapped, not $so" >&2; exit 1; }
}

# Reads the server's peak RSS and CPU time, appends "alloc round kib cpu-ms"
# to $WORK/rss, and stops it.
stop_server() { # allocator round
	local alloc=$1 round=$2 p=${pid[$1]} hwm ticks
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status")
	ticks=$(awk '{ print $14 + $15 }' "/proc/$p/stat")
	echo "$alloc $round $hwm $((ticks * 1000 / $(getconf CLK_TCK)))" >>"$WORK/rss"
	redis-cli -p "${port[$alloc]}" shutdown nosave >/dev/null 2>&1 || true
	wait "$p" 2>/dev/null || true
	unset "pid[$alloc]"
}

# One benchmark test on one server: appends "alloc round test rps" lines
# to $WORK/rps (lrange_100 also reports the LPUSH that fills its list).
bench_one() { # allocator round test
	"${CLIENT_CPU[@]}" redis-benchmark -p "${port[$1]}" -n "$REQUESTS" -c "$CLIENTS" \
		-P "$PIPELINE" -r "$KEYS" -d "$DATA" -t "$3" --csv >"$WORK/bench.csv" 2>/dev/null
	python3 - "$WORK/bench.csv" "$1" "$2" >>"$WORK/rps" <<'PY'
import csv, sys
path, alloc, rnd = sys.argv[1:]
for row in csv.reader(open(path)):
    if len(row) < 2 or row[0] == "test":
        continue
    print(alloc, rnd, row[0].replace(" ", "_"), row[1])
PY
}

echo "redis_compare: $(redis-server --version | awk '{ print $3 }'), $ROUNDS rounds," \
	"$REQUESTS requests per test, $CLIENTS clients, pipeline $PIPELINE, $KEYS keys," \
	"$DATA-byte values"
echo "  ingot:    $INGOT_SO"
echo "  jemalloc: $JEMALLOC_SO"
: >"$WORK/rps"
: >"$WORK/rss"
# Each round: both servers fresh, then every test on one and right after on
# the other, the order swapped from test to test and from round to round, so
# that changes in the machine's load hit both alike.
for round in $(seq 1 "$ROUNDS"); do
	start_server ingot
	start_server jemalloc
	i=$round
	for t in ${TESTS//,/ }; do
		if ((i++ % 2)); then order=(ingot jemalloc); else order=(jemalloc ingot); fi
		for alloc in "${order[@]}"; do
			bench_one "$alloc" "$round" "$t"
		done
	done
	for alloc in ingot jemalloc; do
		stop_server "$alloc" "$round"
	done
	printf '  round %d:' "$round"
	awk -v r="$round" '$2 == r { printf "  %s peak RSS %d KiB, CPU %.2f s;", $1, $3, $4 / 1000 }' "$WORK/rss"
	echo
done

python3 - "$WORK/rps" "$WORK/rss" "${REDIS_OUT:-}" <<'PY'
import math, statistics, sys
rps_path, rss_path, out_path = sys.argv[1:]
rps = {}
for line in open(rps_path):
    alloc, rnd, test, value = line.split()
    rps.setdefault(test, {}).setdefault(alloc, []).append(float(value))
rss, cpu = {}, {}
for line in open(rss_path):
    alloc, rnd, kib, ms = line.split()
    rss.setdefault(alloc, []).append(int(kib))
    cpu.setdefault(alloc, []).append(int(ms))

lines = []
# A round's two runs of a test are back to back, so their ratio is the
# paired figure; its median over the rounds is the test's verdict.
lines.append(f"{'test':<36}{'ingot rps':>11}{'jemalloc rps':>14}{'median ratio':>14}"
             f"   per-round ingot/jemalloc")
ratios = []
for test, by in rps.items():
    i, j = statistics.median(by["ingot"]), statistics.median(by["jemalloc"])
    per_round = [a / b for a, b in zip(by["ingot"], by["jemalloc"])]
    ratio = statistics.median(per_round)
    ratios.append(ratio)
    rounds = " ".join(f"{r:.2f}" for r in per_round)
    lines.append(f"{test[:35]:<36}{i:>11.0f}{j:>14.0f}{ratio:>14.3f}   {rounds}")
geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
lines.append(f"{'geometric mean':<36}{'':>11}{'':>14}{geo:>14.3f}")
ri, rj = statistics.median(rss["ingot"]), statistics.median(rss["jemalloc"])
lines.append("")
lines.append(f"peak RSS (VmHWM, median)    ingot {ri / 1024:.1f} MiB   jemalloc {rj / 1024:.1f} MiB"
             f"   ingot/jemalloc {ri / rj:.3f}")
lines.append(f"  ingot rounds:    {' '.join(str(k) for k in rss['ingot'])} KiB")
lines.append(f"  jemalloc rounds: {' '.join(str(k) for k in rss['jemalloc'])} KiB")
ci, cj = statistics.median(cpu["ingot"]), statistics.median(cpu["jemalloc"])
lines.append(f"server CPU time (median)    ingot {ci / 1000:.2f} s     jemalloc {cj / 1000:.2f} s"
             f"     ingot/jemalloc {ci / cj:.3f}")
lines.append("")
lines.append(f"throughput: ingot {'AT LEAST EQUAL' if geo >= 1 else 'BELOW'} (geometric mean {geo:.3f})")
lines.append(f"peak RSS:   ingot {'AT MOST EQUAL' if ri <= rj else 'ABOVE'} ({ri / rj:.3f})")
text = "\n".join(lines)
print(text)
if out_path:
    with open(out_path, "w") as f:
        f.write(text + "\n")
PY
