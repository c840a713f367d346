#!/usr/bin/env bash
# test_select.sh — the allocator selection example (bindings/rust/examples/select)
# built with each feature set, and the compile error for two at once.
#
#  1. default (ingot): the program says "allocator: ingot ... profile default"
#     and prints ingot's statistics at exit; started with
#     INGOT_CONF=profile:hardened the same binary says "profile hardened";
#  2. --no-default-features --features ingot-hardened: "profile hardened,
#     build hardened";
#  3. --no-default-features --features system: "allocator: system";
#     --no-default-features alone: the system allocator as the fallback;
#  4. two features (default + system, ingot + ingot-hardened) fail to
#     compile with select-util's message.
#
# Usage: tests/rust/test_select.sh   (from make test-rust-select)
# Environment: CARGO (default cargo), CC (default cc), CARGO_TARGET_DIR
# (default build/rust-select).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CARGO=${CARGO:-cargo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/build/rust-select}
cd "$ROOT/bindings/rust/examples/select"
APP=$CARGO_TARGET_DIR/debug/select-app
unset INGOT_CONF MALLOC_CONF

. "$ROOT/tests/checks.sh"

# build FEATURE-FLAGS...; then run the app and check its stderr for patterns
build() {
	"$CARGO" build --offline -q "$@" || die "cargo build $*"
}
expect() { # expect "what" ENV-ASSIGNMENTS... -- PATTERN...
	local what=$1 out
	shift
	local envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	out=$(env "${envs[@]}" "$APP" 2>&1 >/dev/null) || die "$what: the program failed: $out"
	for pat in "$@"; do
		grep -qE -- "$pat" <<<"$out" || die "$what: no /$pat/ in: $out"
	done
	pass "$what: $(head -1 <<<"$out")"
}

build
expect "default features" -- '^allocator: ingot .*profile default, build default, feature ingot' \
	'^stats: allocated [0-9]+ active [0-9]+ resident [0-9]+ mapped [0-9]+ .*peak_rss [0-9]+ KiB'
expect "default features, INGOT_CONF=profile:hardened" INGOT_CONF=profile:hardened -- \
	'^allocator: ingot .*profile hardened, build default'
expect "default features, INGOT_CONF=profile:debug" INGOT_CONF=profile:debug -- \
	'^allocator: ingot .*profile debug, build default'

build --no-default-features --features ingot-hardened
expect "ingot-hardened" -- '^allocator: ingot .*profile hardened, build hardened, feature ingot-hardened' \
	'^stats: allocated [0-9]+'

build --no-default-features --features system
expect "system" -- '^allocator: system \(feature system\)' '^stats: peak_rss [0-9]+ KiB'

build --no-default-features
expect "no feature" -- '^allocator: system \(no allocator feature chosen: the fallback\)'

for two in "--features system" "--no-default-features --features ingot,ingot-hardened" \
	"--no-default-features --features ingot-hardened,system"; do
	# shellcheck disable=SC2086 # the flags are words
	if out=$("$CARGO" build --offline -q $two 2>&1); then
		die "$two compiled"
	fi
	grep -q "select-util: choose one allocator feature" <<<"$out" || die "$two: no clear error: $out"
	pass "$two: compile error"
done
echo "$checks checks passed"
