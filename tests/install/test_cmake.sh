#!/usr/bin/env bash
# test_cmake.sh — the CMake package that make install writes.
#
#  1. make install PREFIX=<temporary prefix> writes
#     lib/cmake/ingot/ingotConfig.cmake and ingotConfigVersion.cmake;
#  2. the project tests/install/cmake, configured with only that prefix in
#     CMAKE_PREFIX_PATH, finds ingot 0.1 (find_package(ingot 0.1 REQUIRED))
#     and builds prog_shared (ingot::ingot) and prog_static
#     (ingot::ingot-static);
#  3. prog_shared runs with malloc from the prefix's libingot.so (found
#     through the build tree's RPATH, no LD_LIBRARY_PATH); prog_static with
#     malloc linked into itself;
#  4. find_package refuses versions the install does not satisfy (1.0, 0.2)
#     and a prefix without ingot finds nothing.
#
# Usage: tests/install/test_cmake.sh   (from make test-cmake; needs the
# libraries of make and build/man/ingot.3 of make man, and cmake)
# Environment: MAKE (default make), CC (default cc), CMAKE (default cmake).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/install
MAKE=${MAKE:-make}
CMAKE=${CMAKE:-cmake}
export CC=${CC:-cc}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ingot-cmake.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/prefix

. "$ROOT/tests/checks.sh"

"$MAKE" --no-print-directory -s -C "$ROOT" install PREFIX="$PREFIX" >"$TMP/install.log" 2>&1 ||
	{ cat "$TMP/install.log" >&2; die "make install PREFIX=$PREFIX failed"; }
for f in ingotConfig.cmake ingotConfigVersion.cmake; do
	[[ -f $PREFIX/lib/cmake/ingot/$f ]] || die "lib/cmake/ingot/$f not installed"
done
pass "make install writes lib/cmake/ingot/ingotConfig.cmake and ingotConfigVersion.cmake"

configure() { # configure BUILD-DIR SOURCE-DIR [cmake args...]
	local build=$1 source=$2
	shift 2
	"$CMAKE" -S "$source" -B "$build" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF "$@"
}

configure "$TMP/build" "$HERE/cmake" -DCMAKE_PREFIX_PATH="$PREFIX" >"$TMP/configure.log" 2>&1 ||
	{ cat "$TMP/configure.log" >&2; die "cmake configure against $PREFIX"; }
version=$(sed -n 's/^#define INGOT_VERSION "\(.*\)"/\1/p' "$ROOT/include/ingot.h")
grep -q "ingot $version, headers in $PREFIX/include" "$TMP/configure.log" ||
	{ cat "$TMP/configure.log" >&2; die "find_package(ingot) did not report $version from $PREFIX"; }
pass "find_package(ingot 0.1) finds ingot $version under the prefix"
"$CMAKE" --build "$TMP/build" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log" >&2; die "cmake --build"; }
pass "prog_shared (ingot::ingot) and prog_static (ingot::ingot-static) build"

out=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$TMP/build/prog_shared" "$PREFIX/lib/libingot.so") ||
	die "prog_shared: $out"
pass "prog_shared: $out"
if readelf -d "$TMP/build/prog_static" | grep -q 'NEEDED.*libingot'; then
	die "prog_static needs libingot.so"
fi
out=$(env -u LD_PRELOAD "$TMP/build/prog_static" "$TMP/build/prog_static") || die "prog_static: $out"
pass "prog_static: $out"

for req in "1.0" "0.2" "0.1.0...0.1.0" "0.1"; do
	mkdir -p "$TMP/want"
	cat >"$TMP/want/CMakeLists.txt" <<-CM
		cmake_minimum_required(VERSION 3.19)
		project(want C)
		find_package(ingot $req)
		message(STATUS "found=\${ingot_FOUND}")
	CM
	rm -rf "$TMP/build-want"
	configure "$TMP/build-want" "$TMP/want" -DCMAKE_PREFIX_PATH="$PREFIX" >"$TMP/want.log" 2>&1 ||
		{ cat "$TMP/want.log" >&2; die "configure with find_package(ingot $req)"; }
	case $req in
	1.0 | 0.2) expect=0 ;;
	*) expect=1 ;;
	esac
	grep -q "found=$expect" "$TMP/want.log" ||
		{ cat "$TMP/want.log" >&2; die "find_package(ingot $req): ingot_FOUND is not $expect"; }
done
pass "find_package(ingot 1.0) and (ingot 0.2) refuse ingot $version; 0.1 and 0.1.0...0.1.0 accept it"
if [[ -e /usr/local/lib/cmake/ingot || -e /usr/lib/cmake/ingot ]]; then
	echo "skip - an ingot installed system-wide would be found without the prefix (not counted)"
else
	if configure "$TMP/build-none" "$HERE/cmake" -DCMAKE_PREFIX_PATH="$TMP/nothing" \
		>"$TMP/none.log" 2>&1; then
		die "find_package(ingot REQUIRED) succeeded without ingot installed"
	fi
	pass "without the prefix, find_package(ingot REQUIRED) fails"
fi
echo "$checks checks passed"
