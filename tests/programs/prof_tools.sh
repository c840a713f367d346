#!/usr/bin/env bash
# prof_tools.sh — heap profiles read by the tools people have (issue 14).
#
# Runs tests/programs/prof_sites (linked with -ljemalloc) on Debian's jemalloc
# and on ingot's lib/libjemalloc.so.2 with MALLOC_CONF=prof:true,..., and reads
# its dumps with Debian's jeprof (libjemalloc-dev) and, for ingot's
# prof.dump_pprof file, google-pprof (google-perftools). The same checks pass
# on jemalloc, which shows they are right.
#
# Tests, each run on every allocator:
#   shares   lg_prof_sample:16 (64 KiB; about 6400 samples of 400 MiB live):
#            jeprof --text gives site_small, site_medium, site_large (main
#            thread) and site_worker (a second thread) their true shares of
#            in-use bytes (40/24/16/20%) within SHARE_POINTS
#            points and a total within TOTAL_PCT% of the truth, in the
#            prof.dump file and in the prof_final file; site_freed (freed
#            before the dump) and site_inactive (allocated while prof.active
#            was false) are absent. The header is heap_v2/65536 and the file
#            has a MAPPED_LIBRARIES: section. On ingot, google-pprof --text
#            reads the prof.dump_pprof file ("heap profile:" header) with the
#            same result (jemalloc has no prof.dump_pprof: ENOENT).
#            prof_prefix and prof_final name the automatic files exactly
#            <prefix>.<pid>.0.m0.heap, <prefix>.<pid>.1.m1.heap (two
#            prof.dump with a NULL path) and <prefix>.<pid>.2.f.heap (exit).
#   default  the default rate (2^19: 512 KiB, about 800 samples): shares
#            within DEFAULT_SHARE_POINTS points, total within
#            DEFAULT_TOTAL_PCT%, header heap_v2/524288; no prof_prefix: the
#            automatic files are jeprof.<pid>.0.m0.heap and
#            jeprof.<pid>.1.m1.heap in the working directory, and no final
#            file (prof_final is off by default).
#   threads  the per-thread lines of the threaded format: the header lists
#            two threads, and jeprof --thread=N of each shows only that
#            thread's sites, with their true shares (main 50/30/20%, worker
#            100%) and total.
# The tolerances are four to six standard deviations of the sampling error
# measured on jemalloc (0.5 points at 2^16, 2 points at 2^19).
#
# Usage: tests/programs/prof_tools.sh [TEST...]   (default: shares default threads)
# Environment:
#   PROF_SITES        the test program (default build/tests/programs/prof_sites)
#   PROF_ALLOCATORS   allocators to run on (default "jemalloc ingot")
#   INGOT_LIB_DIR     folder of ingot's libjemalloc.so.2 (default lib)
# Prints one result line per allocator and test, then a summary; exits 1 if
# any check failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROF_SITES=$(realpath "${PROF_SITES:-$ROOT/build/tests/programs/prof_sites}")
PROF_ALLOCATORS=${PROF_ALLOCATORS:-jemalloc ingot}
INGOT_LIB_DIR=$(realpath "${INGOT_LIB_DIR:-$ROOT/lib}")
SHARE_POINTS=3
TOTAL_PCT=10
DEFAULT_SHARE_POINTS=8
DEFAULT_TOTAL_PCT=15
HIDDEN_SITES="site_freed site_inactive"

for tool in jeprof google-pprof; do
	command -v $tool >/dev/null ||
		{ echo "prof_tools: $tool not found (apt-get install libjemalloc-dev google-perftools)" >&2; exit 1; }
done
[[ -x $PROF_SITES ]] || { echo "prof_tools: $PROF_SITES not built (make test-prof-tools)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failures=()
results=()
fail() { # message
	echo "  FAIL: $alloc $test: $1"
	failures+=("$alloc $test: $1")
}

# The environment that loads the allocator's libjemalloc.so.2, and that
# library's path as the dynamic linker resolves it.
alloc_env() {
	case $alloc in
	jemalloc) echo "LD_LIBRARY_PATH=" ;;
	ingot) echo "LD_LIBRARY_PATH=$INGOT_LIB_DIR" ;;
	*) echo "prof_tools: unknown allocator $alloc" >&2; exit 2 ;;
	esac
}
loaded_lib() {
	env -u LD_PRELOAD "$(alloc_env)" ldd "$PROF_SITES" | awk '$1 == "libjemalloc.so.2" { print $3 }'
}

# run_sites DIR CONF: runs the program in DIR with MALLOC_CONF=CONF; its
# output goes to DIR/out, the dumps to DIR/named.heap and DIR/named.pprof.
run_sites() {
	local dir=$1 conf=$2
	(cd "$dir" && env -u LD_PRELOAD "$(alloc_env)" MALLOC_CONF="$conf" \
		"$PROF_SITES" "$dir/named.heap" "$dir/named.pprof" >"$dir/out" 2>"$dir/err")
	local rc=$?
	if ((rc != 0)); then
		fail "prof_sites exited $rc: $(head -c 300 "$dir/err" | tr '\n' ' ')"
		return 1
	fi
}

# rc_of DIR NAME: the return value the program printed for a mallctl call.
rc_of() { awk -v n="$2" '$1 == "rc" && $2 == n { print $3 }' "$1/out"; }

# check_header FILE FIRST_LINE_REGEX WHAT
check_header() {
	local first
	first=$(head -n 1 "$1" 2>/dev/null)
	[[ $first =~ $2 ]] || fail "$3: first line '$first' does not match '$2'"
}

# check_profile TOOL FILE DIR POINTS PCT [THREAD [OPTION]]: the tool's
# --text report of FILE (with OPTION, such as --thread=N) against the truth
# the program printed in DIR/out: the sites of THREAD (main or worker; all
# when empty), the other thread's sites and the hidden ones absent.
check_profile() {
	local tool=$1 file=$2 dir=$3 points=$4 pct=$5 thread=${6:-} opts=() what verdict
	[[ -z ${7:-} ]] || opts=("$7")
	what="$tool ${opts[*]:+${opts[*]} }$(basename "$file")"
	if [[ ! -s $file ]]; then
		fail "$what: no file"
		return
	fi
	if ! "$tool" --text --show_bytes "${opts[@]}" "$PROF_SITES" "$file" >"$dir/report" 2>"$dir/report.err"; then
		fail "$what: $tool failed: $(tail -n 3 "$dir/report.err" | tr '\n' ' ')"
		return
	fi
	# flat bytes of each site over the report's total, against the truth.
	verdict=$(awk -v points="$points" -v pct="$pct" -v thread="$thread" -v hidden="$HIDDEN_SITES" '
		FNR == NR {
			if ($1 != "site") next
			if (thread == "" || $4 == thread) { truth[$2] = $3; sum += $3; site[++n] = $2 }
			else absent[$2] = 1
			next
		}
		/^Total( \(t[0-9]+\))?:/ { total = $(NF - 1) }
		NF >= 6 && $1 ~ /^[0-9]+$/ { flat[$6] += $1; seen[$6] = 1 }
		END {
			ok = 1; line = ""
			if (total <= 0) { print "BAD no Total line"; exit }
			for (i = 1; i <= n; i++) {
				share = 100 * flat[site[i]] / total; want = 100 * truth[site[i]] / sum
				line = line sprintf(" %s %.1f%% (truth %.1f)", site[i], share, want)
				if (share - want > points || want - share > points) ok = 0
			}
			err = 100 * (total - sum) / sum
			line = line sprintf("; total %.1f MiB (truth %.1f, %+.1f%%)", total / 1048576, sum / 1048576, err)
			if (err > pct || -err > pct) ok = 0
			split(hidden, h, " ")
			for (i in h) absent[h[i]] = 1
			for (s in absent)
				if (s in seen) { line = line "; " s " present"; ok = 0 }
			print (ok ? "OK" : "BAD") line
		}' "$dir/out" "$dir/report")
	echo "  $what:${verdict#??}"
	if [[ $verdict != OK* ]]; then
		fail "$what:${verdict#BAD} (tolerance $points points, total $pct%)"
		echo "  $tool report (top):"
		head -n 12 "$dir/report" | sed 's/^/    /'
	fi
}

# check_names DIR EXPECTED...: the automatic dump files in DIR are exactly these.
check_names() {
	local dir=$1 got want
	shift
	got=$(cd "$dir" && find . -maxdepth 1 -name '*.heap' ! -name named.heap -printf '%f\n' | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[[ $got == "$want" ]] || fail "automatic files: got '${got% }', want '${want% }'"
}

test_shares() {
	local dir=$WORK/$alloc-shares pid
	mkdir -p "$dir/dumps"
	run_sites "$dir" "prof:true,lg_prof_sample:16,prof_final:true,prof_prefix:$dir/dumps/run" || return
	pid=$(awk '$1 == "pid" { print $2 }' "$dir/out")
	check_header "$dir/named.heap" '^heap_v2/65536$' "prof.dump file"
	grep -q '^MAPPED_LIBRARIES:$' "$dir/named.heap" || fail "prof.dump file: no MAPPED_LIBRARIES: line"
	check_profile jeprof "$dir/named.heap" "$dir" $SHARE_POINTS $TOTAL_PCT
	check_profile jeprof "$dir/dumps/run.$pid.2.f.heap" "$dir" $SHARE_POINTS $TOTAL_PCT
	check_names "$dir/dumps" "run.$pid.0.m0.heap" "run.$pid.1.m1.heap" "run.$pid.2.f.heap"
	local pprof_rc
	pprof_rc=$(rc_of "$dir" prof.dump_pprof)
	if [[ $alloc == jemalloc ]]; then
		echo "  prof.dump_pprof: returned $pprof_rc (jemalloc has no such name)"
	elif [[ $pprof_rc != 0 ]]; then
		fail "prof.dump_pprof returned '$pprof_rc'"
	else
		check_header "$dir/named.pprof" '^heap profile: ' "prof.dump_pprof file"
		check_profile google-pprof "$dir/named.pprof" "$dir" $SHARE_POINTS $TOTAL_PCT
	fi
}

test_default() {
	local dir=$WORK/$alloc-default pid
	mkdir -p "$dir"
	run_sites "$dir" "prof:true" || return
	pid=$(awk '$1 == "pid" { print $2 }' "$dir/out")
	check_header "$dir/named.heap" '^heap_v2/524288$' "prof.dump file"
	check_profile jeprof "$dir/named.heap" "$dir" $DEFAULT_SHARE_POINTS $DEFAULT_TOTAL_PCT
	check_names "$dir" "jeprof.$pid.0.m0.heap" "jeprof.$pid.1.m1.heap"
}

# The per-thread view of the threaded format: the header lists two threads
# (t<N>: after t*:), main and the worker; jeprof --thread=N of each shows
# that thread's sites only, with their shares and total. Which is which is
# read from the report (the numbering is each allocator's own).
test_threads() {
	local dir=$WORK/$alloc-threads threads t label labels=""
	mkdir -p "$dir"
	run_sites "$dir" "prof:true,lg_prof_sample:16,prof_prefix:$dir/run" || return
	threads=$(awk 'NR > 1 && $1 ~ /^t[0-9]+:$/ { print substr($1, 2, length($1) - 2) }
		/^@/ { exit }' "$dir/named.heap")
	if [[ $(wc -w <<<"$threads") != 2 ]]; then
		fail "prof.dump file: header lists threads '${threads//$'\n'/ }', want two (main, worker)"
		return
	fi
	for t in $threads; do
		grep -q "^  t$t: " <(sed -n '/^@/,$p' "$dir/named.heap") ||
			fail "prof.dump file: no t$t: line under any stack"
		label=main
		jeprof --text --thread="$t" "$PROF_SITES" "$dir/named.heap" 2>/dev/null |
			grep -qw site_worker && label=worker
		labels+="$label "
		check_profile jeprof "$dir/named.heap" "$dir" $SHARE_POINTS $TOTAL_PCT $label "--thread=$t"
	done
	[[ $labels == "main worker " || $labels == "worker main " ]] ||
		fail "threads $threads are '$labels', want one main and one worker"
}

tests=("$@")
((${#tests[@]})) || tests=(shares default threads)
for alloc in $PROF_ALLOCATORS; do
	lib=$(loaded_lib)
	echo "prof_tools: $alloc ($lib)"
	case $alloc in
	ingot) [[ $lib == "$INGOT_LIB_DIR/libjemalloc.so.2" ]] ;;
	*) [[ -n $lib && $lib != "$INGOT_LIB_DIR"/* ]] ;;
	esac || { echo "prof_tools: $alloc: the program loads '$lib'" >&2; exit 1; }
	for test in "${tests[@]}"; do
		declare -F "test_$test" >/dev/null || { echo "prof_tools: no test '$test'" >&2; exit 2; }
		echo " $alloc $test"
		before=${#failures[@]}
		"test_$test"
		if ((${#failures[@]} == before)); then
			results+=("$alloc $test: pass")
		else
			results+=("$alloc $test: FAIL ($((${#failures[@]} - before)))")
		fi
	done
done

echo "prof_tools: results"
printf '  %s\n' "${results[@]}"
if ((${#failures[@]})); then
	echo "prof_tools: FAIL (${#failures[@]}):"
	printf '  %s\n' "${failures[@]}"
	exit 1
fi
echo "prof_tools: PASS"
