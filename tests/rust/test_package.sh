#!/usr/bin/env bash
# test_package.sh — the packaged crate builds and passes its tests on its own.
#
#  1. the .crate (from make rust-package) holds the C sources under csrc/
#     and no path that leads out of the crate;
#  2. unpacked in a temporary folder outside the ingot tree, `cargo build
#     --offline` and `cargo test --offline` succeed there, and build.rs
#     compiled the carried copy (the build log names csrc/, never the tree).
#
# Usage: tests/rust/test_package.sh path/to/ingot-X.Y.Z.crate
# Environment: CARGO (default cargo), CC (default cc).
set -euo pipefail

CRATE=$(realpath "$1")
CARGO=${CARGO:-cargo}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ingot-crate.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
case $TMP in "$ROOT"/*) echo "not ok - $TMP is inside the tree" >&2; exit 1 ;; esac

. "$ROOT/tests/checks.sh"

tar -xzf "$CRATE" -C "$TMP"
dir=$(find "$TMP" -mindepth 1 -maxdepth 1 -type d)
[[ -f $dir/Cargo.toml && -f $dir/build.rs ]] || die "no Cargo.toml/build.rs in $CRATE"
for f in csrc/src/alloc.c csrc/src/conf_options.inc csrc/arch/linux.c csrc/arch/arch.h \
	csrc/include/ingot.h csrc/tools/gen_sizeclass.c; do
	[[ -f $dir/$f ]] || die "$f missing from the package"
done
pass "the package carries the C sources ($(find "$dir/csrc" -type f | wc -l) files under csrc/)"
if grep -rn '\.\./\.\.' "$dir/Cargo.toml"; then
	die "Cargo.toml names a path outside the crate"
fi
pass "Cargo.toml names nothing outside the crate"

cd "$dir"
export CARGO_TARGET_DIR=$TMP/target
"$CARGO" build --offline -vv >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; die "cargo build"; }
grep -q "rerun-if-changed=$dir/csrc/src" "$TMP/build.log" || die "build.rs did not take csrc/src"
if grep -q "$ROOT/src/" "$TMP/build.log"; then
	die "the build read the ingot tree's sources"
fi
pass "cargo build of the unpacked crate compiled its own csrc/"
"$CARGO" test --offline >"$TMP/test.log" 2>&1 || { tail -40 "$TMP/test.log"; die "cargo test"; }
passed=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$TMP/test.log")
[[ $passed -gt 0 ]] || die "cargo test ran no test"
pass "cargo test of the unpacked crate: $passed tests passed"
echo "$checks checks passed"
