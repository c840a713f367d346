#!/usr/bin/env bash
# trace.sh — the allocation trace end to end on a real program: `make
# trace-demo` traces Python on lib/libingot.so, and tools/ingot-trace must
# produce a PNG and a table of size classes that accounts for what the demo
# allocates (its 200,000 short strings, its lists of floats, its 8 MiB bytes).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=build/trace
rm -f "$out/python.trace" "$out/python.md" "$out/python.png"
make --no-print-directory trace-demo >/dev/null

fail() { echo "trace.sh: $*" >&2; exit 1; }

[[ -s $out/python.trace ]] || fail "no trace written"
[[ $(head -c 8 "$out/python.trace") == INGOTTR1 ]] || fail "trace has no INGOTTR1 header"
[[ $(head -c 8 "$out/python.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] \
	|| fail "python.png is not a PNG"

table=$out/python.md
grep -q '^| size class | allocations | bytes allocated |' "$table" || fail "no table header"
rows=$(grep -cE '^\| [0-9.]+ (B|KiB|MiB) \| [0-9]+ \|' "$table" || true)
(( rows >= 10 )) || fail "only $rows size classes listed"
# The demo's strings ("item-000123", 60-odd bytes as Python objects) make
# 200,000 allocations of one small class: the busiest row has that many.
most=$(grep -E '^\| [0-9.]+ (B|KiB|MiB) \|' "$table" | awk -F'|' '{gsub(/ /, "", $3); print $3}' \
	| sort -n | tail -1)
(( most >= 200000 )) || fail "busiest class has $most allocations, expected >= 200000"
# The 8 MiB byte string: a huge block.
grep -q '^| huge, up to 16 MiB |' "$table" || fail "no huge block for the 8 MiB bytes"
# Everything the demo allocated was freed again: live bytes end near zero.
grep -qE 'peak live [0-9.]+ MiB' "$table" || fail "no peak in the summary line"
echo "trace.sh: trace, table ($rows classes) and plot OK"
