#!/usr/bin/env bash
# prof_static.sh — heap profiling in a statically linked program.
#
# Runs PROF_SITES_STATIC (tests/programs/prof_sites.c linked with -static and
# lib/libingot.a) with MALLOC_CONF=prof:true,lg_prof_sample:0: every
# allocation is sampled, the C library's own from its start-up on (a
# backtrace taken there once aborted the process). Checks that the program
# exits 0, that its prof.dump file has the header heap_v2/1, and that
# Debian's jeprof gives each site (site_small, site_medium, site_large,
# site_worker) its true share of in-use bytes within 1 point, as its own
# (flat) bytes: ingot's frames are left out of the top of each stack, found
# by the section the archive keeps its code in (tools/archive-sections.sh).
#
# Usage: tests/programs/prof_static.sh   (PROF_SITES_STATIC: the program)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROF_SITES_STATIC=$(realpath "${PROF_SITES_STATIC:-$ROOT/build/tests/programs/prof_sites_static}")
command -v jeprof >/dev/null || { echo "prof_static: jeprof not found (apt-get install libjemalloc-dev)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
MALLOC_CONF=prof:true,lg_prof_sample:0 "$PROF_SITES_STATIC" "$WORK/named.heap" "$WORK/named.pprof" \
	>out 2>err
rc=$?
if ((rc != 0)); then
	echo "prof_static: FAIL: the program exited $rc: $(head -c 300 err | tr '\n' ' ')"
	exit 1
fi
first=$(head -n 1 named.heap)
[[ $first == heap_v2/1 ]] || { echo "prof_static: FAIL: header '$first', want heap_v2/1"; exit 1; }
jeprof --text --show_bytes "$PROF_SITES_STATIC" named.heap >report 2>report.err ||
	{ echo "prof_static: FAIL: jeprof: $(tail -n 3 report.err | tr '\n' ' ')"; exit 1; }
verdict=$(awk '
	FNR == NR { if ($1 == "site") { truth[$2] = $3; sum += $3 } next }
	/^Total:/ { total = $(NF - 1) }
	NF >= 6 && $6 ~ /^site_/ { flat[$6] = $1 }
	END {
		ok = 1
		for (s in truth) {
			share = 100 * flat[s] / total; want = 100 * truth[s] / sum
			line = line sprintf(" %s %.1f%% (truth %.1f)", s, share, want)
			if (share - want > 1 || want - share > 1) ok = 0
		}
		print (ok ? "OK" : "BAD") line
	}' out report)
v=${verdict#OK}; echo "prof_static: jeprof --text:${v#BAD}"
[[ $verdict == OK* ]] || { echo "prof_static: FAIL"; exit 1; }
echo "prof_static: PASS"
