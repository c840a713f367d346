#!/usr/bin/env bash
# check_exports.sh — the C++ operators in ingot's shared libraries.
#
# For each LIB: it exports (as defined dynamic symbols) every operator new and
# delete that Debian's jemalloc exports (the _Zn*/_Zd* names of
# exports/jemalloc-5.3.symbols, 20 of them), and it does not depend on the
# C++ runtime: no DT_NEEDED libstdc++ and no strong undefined C++ symbol
# (cxx/ingot_new.cc references the runtime weakly), so preloading it into a C
# program loads no C++ runtime.
#
# Usage: tests/cxx/check_exports.sh LIB...
# Exits 0 when every LIB passes, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SYMBOLS=$ROOT/exports/jemalloc-5.3.symbols

(($# > 0)) || { echo "usage: $0 LIB..." >&2; exit 2; }
mapfile -t operators < <(grep -E '^_Z(n[wa]|d[la])' "$SYMBOLS")
((${#operators[@]} == 20)) || { echo "check_exports: expected 20 operators in $SYMBOLS" >&2; exit 1; }

status=0
for lib in "$@"; do
	[[ -f $lib ]] || { echo "check_exports: $lib not found (run make)" >&2; exit 1; }
	fail=0
	defined=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[TW]$/ { print $3 }')
	for op in "${operators[@]}"; do
		if ! grep -qxF "$op" <<<"$defined"; then
			echo "  $lib: missing $op"
			fail=1
		fi
	done
	if readelf -d "$lib" | grep -q 'NEEDED.*libstdc++'; then
		echo "  $lib: depends on libstdc++"
		fail=1
	fi
	strong=$(nm -D --undefined-only "$lib" | awk '$1 == "U" && $2 ~ /^(_Z|__cxa|__gxx)/ { print $2 }')
	if [[ -n $strong ]]; then
		echo "  $lib: strong references to the C++ runtime: ${strong//$'\n'/ }"
		fail=1
	fi
	if ((fail)); then
		echo "check_exports: $lib FAIL"
		status=1
	else
		echo "check_exports: $lib: ${#operators[@]} operators exported, no C++ runtime dependency: PASS"
	fi
done
exit $status
