#!/usr/bin/env bash
# jemalloc_programs.sh — Debian's own programs that link jemalloc, run on
# ingot's libjemalloc.so.2 (issue 4).
#
#   redis  redis-server 7.0 (NEEDED libjemalloc.so.2; calls mallctl for
#          epoch, stats.allocated/active/resident, arenas.narenas,
#          arena.<i>.purge, background_thread; malloc_stats_print for
#          MEMORY MALLOC-STATS; malloc_usable_size and nallocx).
#          redis-benchmark SET/GET/LPUSH/LPOP, then INFO memory, MEMORY STATS,
#          MEMORY USAGE, MEMORY DOCTOR, MEMORY MALLOC-STATS, MEMORY PURGE.
#   named  BIND 9.18 named (named and libisc/libdns NEED libjemalloc.so.2;
#          libisc calls mallocx/rallocx/sallocx/sdallocx and mallctl for
#          arenas.create, arena.<i>.destroy, arena.<i>.dirty_decay_ms and
#          muzzy_decay_ms). Serves a small zone: dig checks 2000 answers one
#          by one, an AXFR, then dnsperf sends 50000 queries.
# For each, /proc/PID/maps must show the chosen libjemalloc.so.2 and no other.
#
# Usage: tests/programs/jemalloc_programs.sh [redis] [named]  (default: both)
# Environment:
#   JEMALLOC_LIB_DIR  folder holding the libjemalloc.so.2 to run the servers on
#                     (default $PWD/lib, ingot's); "system" runs them on
#                     Debian's jemalloc, the baseline this script must pass.
# Installs redis-server, redis-tools, bind9, bind9-dnsutils and dnsperf with
# apt-get when they are missing (needs root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JEMALLOC_LIB_DIR=${JEMALLOC_LIB_DIR:-$ROOT/lib}
REDIS_BENCH_N=${REDIS_BENCH_N:-20000}
DIG_QUERIES=2000
DNSPERF_QUERIES=50000

# ---- tools ----
need_packages=()
for pair in redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools \
	named:bind9 dig:bind9-dnsutils dnsperf:dnsperf; do
	command -v "${pair%%:*}" >/dev/null || command -v "/usr/sbin/${pair%%:*}" >/dev/null ||
		need_packages+=("${pair#*:}")
done
if ((${#need_packages[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "jemalloc_programs: missing packages ${need_packages[*]} (apt-get install as root)" >&2
		exit 1
	fi
	echo "jemalloc_programs: installing ${need_packages[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_packages[@]}" >/dev/null
fi
NAMED=$(command -v named || echo /usr/sbin/named)
REDIS_SERVER=$(command -v redis-server)

# ---- which libjemalloc.so.2 ----
# LIBENV: the environment that makes a program load it; JEMALLOC_SO: the path
# /proc/PID/maps must show.
if [[ $JEMALLOC_LIB_DIR == system ]]; then
	LIBENV=()
	JEMALLOC_SO=$(ldd "$REDIS_SERVER" | awk '$1 == "libjemalloc.so.2" { print $3 }')
	[[ -n $JEMALLOC_SO ]] || { echo "jemalloc_programs: $REDIS_SERVER does not link libjemalloc.so.2" >&2; exit 1; }
else
	[[ -f $JEMALLOC_LIB_DIR/libjemalloc.so.2 ]] ||
		{ echo "jemalloc_programs: $JEMALLOC_LIB_DIR/libjemalloc.so.2 not found (run make)" >&2; exit 1; }
	JEMALLOC_LIB_DIR=$(realpath "$JEMALLOC_LIB_DIR")
	LIBENV=("LD_LIBRARY_PATH=$JEMALLOC_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi
JEMALLOC_SO=$(realpath "${JEMALLOC_SO:-$JEMALLOC_LIB_DIR/libjemalloc.so.2}")
echo "jemalloc_programs: servers run on $JEMALLOC_SO"

# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"
server_scratch

# A port on 127.0.0.1 free for both TCP and UDP right now.
free_port() {
	python3 - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close()
        t.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
PY
}

# The process must have mapped JEMALLOC_SO and no other libjemalloc.
check_maps() { # test, pid
	local maps
	maps=$(awk '$6 ~ /libjemalloc/ { print $6 }' "/proc/$2/maps" | sort -u)
	if [[ -z $maps ]]; then
		fail "$1" "no libjemalloc mapped in process $2"
	elif [[ $maps != "$JEMALLOC_SO" ]]; then
		fail "$1" "process $2 maps $(tr "\n" " " <<<"$maps")instead of $JEMALLOC_SO"
	else
		echo "  /proc/$2/maps: $JEMALLOC_SO"
	fi
}

# Stops the server with SIGTERM and checks it exits with status 0.
stop_server() { # test
	local rc=0
	kill -TERM "$server_pid"
	wait "$server_pid" || rc=$?
	server_pid=
	((rc == 0)) || fail "$1" "server exited with status $rc after SIGTERM"
}

# After a failed start: kills the server if it still runs, and reaps it.
give_up_server() {
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# The number in "name:value" lines of redis INFO.
info_field() { # file, name
	awk -F: -v k="$2" '$1 == k { sub(/\r$/, "", $2); print $2 }' "$1"
}

# ---- redis ----
test_redis() {
	local port
	port=$(free_port)
	env "${LIBENV[@]}" "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no --dir "$WORK" --logfile "$WORK/redis.log" \
		>"$WORK/redis.stdout" 2>&1 &
	server_pid=$!
	local cli=(redis-cli -p "$port")
	local up=0
	for _ in $(seq 1 100); do
		if [[ $("${cli[@]}" ping 2>/dev/null) == PONG ]]; then up=1; break; fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if ((!up)); then
		fail redis "redis-server did not answer PING on port $port"
		tail -q -n 10 "$WORK/redis.stdout" "$WORK/redis.log" 2>/dev/null | sed 's/^/    | /' || true
		give_up_server
		return
	fi
	echo "  redis-server pid $server_pid on port $port"
	check_maps redis "$server_pid"

	# Data in and out, including values of several size classes.
	local big
	big=$(head -c 300000 /dev/zero | tr '\0' x)
	"${cli[@]}" set small hello >/dev/null
	"${cli[@]}" -x set big <<<"$big" >/dev/null
	[[ $("${cli[@]}" get small) == hello ]] || fail redis "GET small"
	[[ $("${cli[@]}" strlen big) == 300001 ]] || fail redis "STRLEN big"

	local bench
	if ! bench=$(redis-benchmark -p "$port" -n "$REDIS_BENCH_N" -q -t set,get,lpush,lpop 2>&1); then
		fail redis "redis-benchmark failed"
	fi
	echo "$bench" | tr '\r' '\n' | grep 'requests per second' | sed 's/^ */    /'
	local nbench
	nbench=$(echo "$bench" | tr '\r' '\n' | grep -c 'requests per second' || true)
	((nbench == 4)) || fail redis "redis-benchmark reported $nbench of 4 tests"
	[[ $("${cli[@]}" get small) == hello ]] || fail redis "GET small after the benchmark"
	local keys
	keys=$("${cli[@]}" dbsize)
	((keys >= 3)) || fail redis "DBSIZE $keys after the benchmark"

	# INFO memory: the allocator's name and the numbers redis reads through
	# mallctl. redis refreshes those in its cron (10 times a second): wait for
	# one refresh after the benchmark.
	sleep 0.3
	"${cli[@]}" info memory >"$WORK/info.txt"
	local alloc_name
	alloc_name=$(info_field "$WORK/info.txt" mem_allocator)
	echo "  mem_allocator: $alloc_name"
	[[ $alloc_name == jemalloc-5.3* ]] || fail redis "mem_allocator is '$alloc_name', not jemalloc-5.3.x"
	local f v
	for f in used_memory used_memory_rss allocator_allocated allocator_active allocator_resident; do
		v=$(info_field "$WORK/info.txt" "$f")
		if [[ ! $v =~ ^[0-9]+$ ]] || ((v == 0)); then
			fail redis "INFO memory $f is '$v', not a positive number"
		fi
	done
	local used allocated active resident
	used=$(info_field "$WORK/info.txt" used_memory)
	allocated=$(info_field "$WORK/info.txt" allocator_allocated)
	active=$(info_field "$WORK/info.txt" allocator_active)
	resident=$(info_field "$WORK/info.txt" allocator_resident)
	echo "  used_memory $used, allocator allocated $allocated active $active resident $resident"
	((allocated >= 300000)) || fail redis "allocator_allocated $allocated is below the 300 kB value held"
	# Everything redis counts in used_memory is a live allocation of the
	# allocator; a tenth of slack for the time between the two readings.
	((allocated * 10 >= used * 9)) || fail redis "allocator_allocated $allocated < used_memory $used"
	((allocated <= active && active <= resident)) ||
		fail redis "expected allocated <= active <= resident"

	# MEMORY commands.
	local stats
	stats=$("${cli[@]}" memory stats)
	if ! grep -qx 'allocator.allocated' <<<"$stats"; then
		fail redis "MEMORY STATS has no allocator.allocated"
	else
		v=$(grep -A1 -x 'allocator.allocated' <<<"$stats" | tail -1)
		[[ $v =~ ^[0-9]+$ ]] && ((v > 0)) || fail redis "MEMORY STATS allocator.allocated is '$v'"
	fi
	v=$("${cli[@]}" memory usage big)
	[[ $v =~ ^[0-9]+$ ]] && ((v >= 300001)) || fail redis "MEMORY USAGE big is '$v'"
	local doctor
	doctor=$("${cli[@]}" memory doctor)
	[[ -n $doctor ]] || fail redis "MEMORY DOCTOR answered nothing"
	echo "  MEMORY DOCTOR: $(head -c 100 <<<"$doctor" | head -1)"
	"${cli[@]}" memory malloc-stats >"$WORK/malloc-stats.txt"
	local lines
	lines=$(wc -l <"$WORK/malloc-stats.txt")
	echo "  MEMORY MALLOC-STATS: $lines lines, first: $(head -1 "$WORK/malloc-stats.txt")"
	((lines >= 10)) || fail redis "MEMORY MALLOC-STATS has only $lines lines"
	grep -qi 'statistics' "$WORK/malloc-stats.txt" && grep -qi 'allocated' "$WORK/malloc-stats.txt" ||
		fail redis "MEMORY MALLOC-STATS does not look like allocator statistics"
	[[ $("${cli[@]}" memory purge) == OK ]] || fail redis "MEMORY PURGE did not answer OK"

	"${cli[@]}" flushall >/dev/null
	[[ $("${cli[@]}" dbsize) == 0 ]] || fail redis "DBSIZE after FLUSHALL"
	stop_server redis
	if grep -qE 'crashed by signal|BUG REPORT|Assertion' "$WORK/redis.log"; then
		fail redis "redis.log reports a crash:"
		grep -m5 -E 'crashed by signal|BUG REPORT|Assertion' "$WORK/redis.log" | sed 's/^/    | /'
	fi
}
# Compares dig's batch answers ($WORK/dig.got) with the zone's
# ($WORK/dig.want), line by line. dig now and then prints ";; Warning: query
# response not set" in place of one answer of the 2000 (3 runs in 40, the same
# with Debian's own jemalloc under named): a line that differs is asked again
# on its own, once, and must then match. More than 5 differing lines fail at
# once. Sets DIG_RETRIED to the number asked again.
dig_answers_match() {
	DIG_RETRIED=0
	[[ $(wc -l <"$WORK/dig.got") == $(wc -l <"$WORK/dig.want") ]] || return 1
	local bad
	bad=$(paste -d'|' "$WORK/dig.want" "$WORK/dig.got" | awk -F'|' '$1 != $2 { print NR }')
	[[ -z $bad ]] && return 0
	(($(wc -l <<<"$bad") <= 5)) || return 1
	local n name
	for n in $bad; do
		name=$(sed -n "${n}p" "$WORK/dig.batch")
		[[ $("$@" +short $name) == "$(sed -n "${n}p" "$WORK/dig.want")" ]] || return 1
		DIG_RETRIED=$((DIG_RETRIED + 1))
	done
}


# ---- named ----
test_named() {
	local port dir=$WORK/named
	port=$(free_port)
	mkdir -p "$dir"
	{
		printf '$TTL 300\n'
		printf '@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n'
		printf '@ IN NS ns.example.test.\n'
		printf 'ns IN A 127.0.0.1\n'
		printf 'www IN A 192.0.2.80\n'
		printf 'www IN AAAA 2001:db8::80\n'
		printf 'mail IN MX 10 www.example.test.\n'
		printf 'txt IN TXT "%s" "%s"\n' "$(printf 'a%.0s' $(seq 1 200))" "$(printf 'b%.0s' $(seq 1 200))"
		for i in $(seq 1 200); do
			printf 'host%d IN A 10.0.%d.%d\n' "$i" $((i / 256)) $((i % 256))
		done
	} >"$dir/example.test.zone"
	cat >"$dir/named.conf" <<EOF
options {
	directory "$dir";
	pid-file "$dir/named.pid";
	session-keyfile "$dir/session.key";
	managed-keys-directory "$dir";
	listen-on port $port { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { any; };
	allow-transfer { 127.0.0.1; };
	dnssec-validation no;
};
controls { };
zone "example.test" {
	type primary;
	file "$dir/example.test.zone";
};
EOF
	env "${LIBENV[@]}" "$NAMED" -g -4 -n 2 -c "$dir/named.conf" -p "$port" >"$WORK/named.log" 2>&1 &
	server_pid=$!
	local dig=(dig @127.0.0.1 -p "$port" +time=2 +tries=1)
	local up=0
	for _ in $(seq 1 100); do
		if [[ $("${dig[@]}" +short www.example.test A 2>/dev/null) == 192.0.2.80 ]]; then up=1; break; fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if ((!up)); then
		fail named "named did not answer on port $port"
		tail -n 20 "$WORK/named.log" | sed 's/^/    | /' || true
		give_up_server
		return
	fi
	echo "  named pid $server_pid on port $port"
	check_maps named "$server_pid"

	# 2000 queries through one dig process, each answer checked.
	local i
	: >"$WORK/dig.batch"
	: >"$WORK/dig.want"
	for ((i = 0; i < DIG_QUERIES; i++)); do
		local h=$((1 + i % 200))
		printf 'host%d.example.test A\n' "$h" >>"$WORK/dig.batch"
		printf '10.0.%d.%d\n' $((h / 256)) $((h % 256)) >>"$WORK/dig.want"
	done
	if ! "${dig[@]}" +short -f "$WORK/dig.batch" >"$WORK/dig.got" 2>"$WORK/dig.err"; then
		fail named "dig -f failed: $(head -2 "$WORK/dig.err")"
	elif ! dig_answers_match "${dig[@]}"; then
		fail named "dig answers differ from the zone ($(diff "$WORK/dig.want" "$WORK/dig.got" | grep -c '^>') wrong):"
		diff "$WORK/dig.want" "$WORK/dig.got" | head -6 | sed 's/^/    /'
	else
		echo "  dig: $DIG_QUERIES answers match the zone ($DIG_RETRIED asked again)"
	fi
	[[ $("${dig[@]}" +short www.example.test AAAA) == 2001:db8::80 ]] || fail named "AAAA www"
	[[ $("${dig[@]}" +short txt.example.test TXT | tr -d '" ' | wc -c) == 401 ]] || fail named "TXT txt"
	local nx
	nx=$("${dig[@]}" nothere.example.test A || true)
	[[ $nx == *"status: NXDOMAIN"* ]] || fail named "no NXDOMAIN for a name not in the zone"
	local axfr
	axfr=$("${dig[@]}" +tcp example.test AXFR | grep -cv -e '^;' -e '^$' || true)
	# 207 records plus the closing SOA
	((axfr == 208)) || fail named "AXFR gave $axfr records, expected 208"

	# Load: dnsperf, all answers NOERROR or NXDOMAIN as the zone says.
	{
		for i in $(seq 1 200); do printf 'host%d.example.test A\n' "$i"; done
		printf 'www.example.test AAAA\ntxt.example.test TXT\nmail.example.test MX\n'
		printf 'nothere.example.test A\n'
	} >"$WORK/dnsperf.queries"
	local per_pass
	per_pass=$(wc -l <"$WORK/dnsperf.queries")
	dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/dnsperf.queries" -n $((DNSPERF_QUERIES / per_pass)) \
		-c 4 -q 200 -t 5 >"$WORK/dnsperf.out" 2>&1 || fail named "dnsperf failed"
	local sent completed lost noerror nxdomain
	sent=$(awk '/Queries sent:/ { print $3 }' "$WORK/dnsperf.out")
	completed=$(awk '/Queries completed:/ { print $3 }' "$WORK/dnsperf.out")
	lost=$(awk '/Queries lost:/ { print $3 }' "$WORK/dnsperf.out")
	noerror=$(grep -o 'NOERROR [0-9]*' "$WORK/dnsperf.out" | awk '{ print $2 }')
	nxdomain=$(grep -o 'NXDOMAIN [0-9]*' "$WORK/dnsperf.out" | awk '{ print $2 }')
	echo "  dnsperf: sent ${sent:-?}, completed ${completed:-?}, lost ${lost:-?}," \
		"NOERROR ${noerror:-0}, NXDOMAIN ${nxdomain:-0}; $(grep 'Queries per second' "$WORK/dnsperf.out" | xargs)"
	if [[ -z $sent || -z $completed ]]; then
		fail named "no dnsperf summary:"
		tail -5 "$WORK/dnsperf.out" | sed 's/^/    | /'
	else
		# UDP on a loaded loopback drops a few queries whatever the server's
		# allocator (seen with Debian's jemalloc too): up to 0.1% may be lost,
		# and every answer that came back must be the right one.
		((completed + lost == sent && lost * 1000 <= sent)) ||
			fail named "dnsperf: $completed of $sent completed, $lost lost"
		local passes=$((DNSPERF_QUERIES / per_pass))
		((${nxdomain:-0} <= passes && ${nxdomain:-0} >= passes - lost &&
			${noerror:-0} + ${nxdomain:-0} == completed)) ||
			fail named "dnsperf response codes: NOERROR ${noerror:-0}, NXDOMAIN ${nxdomain:-0}"
	fi

	stop_server named
	if grep -qE 'assertion failure|fatal error|exiting \(due to' "$WORK/named.log"; then
		fail named "named.log reports a failure:"
		grep -m5 -E 'assertion failure|fatal error|exiting \(due to' "$WORK/named.log" | sed 's/^/    | /'
	fi
	grep -q 'exiting' "$WORK/named.log" || fail named "named.log has no clean 'exiting'"
}

run_tests jemalloc_programs "redis named" " on $JEMALLOC_SO" "$@"
