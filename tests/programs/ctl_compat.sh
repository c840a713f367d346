#!/usr/bin/env bash
# ctl_compat.sh — jemalloc 5.3's mallctl names on Debian's jemalloc and on
# ingot's lib/libjemalloc.so.2, name by name, so that what the Criterion walk
# (test_mallctl's manual.*) expects is known to be jemalloc's behaviour.
#
# 1. tests/jemalloc-5.3.mallctl must be what ctl_names.sh reads from the
#    installed manual (when there is one).
# 2. tests/programs/ctl_probe.c, built against Debian's header, asks every
#    name on each library: does mallctlnametomib resolve it, what does a
#    read return, and which value size the library reports. Lines that
#    differ must match one of the INTENTIONAL patterns below (each with its
#    reason, also listed in the README); a pattern that no longer matches a
#    difference fails too, so the list stays true. Names owned by other work
#    (OWNED_ELSEWHERE) are left out of the comparison and counted apart.
# 3. mallctl("version") is the same string on both.
# 4. With MALLOC_CONF=dirty_decay_ms:-1 freed pages stay in
#    stats.arenas.<i>.pdirty until arena.<i>.purge, on both.
#
# Usage: tests/programs/ctl_compat.sh   (from anywhere; needs libjemalloc-dev)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
LIST=$ROOT/tests/jemalloc-5.3.mallctl
OUR_LIB_DIR=${OUR_LIB_DIR:-$ROOT/lib}

# Differences from Debian's build, as "regex<TAB>reason".
INTENTIONAL=$(cat <<'LIST'
^opt\.xmalloc 	Debian's jemalloc is built without xmalloc (ENOENT); ingot has it
^thread\.peak\.	ingot keeps no high-water mark of a thread's net allocation
^arena\.[0-9]+\.extent_hooks 	ingot takes pages from its own page heap: no extent hooks
^stats\.arenas\.[0-9]+\.bins\.[0-9]+\.nreslabs 	slab switches are not counted
^stats\.(arenas\.[0-9]+\.)?mutexes\.	ingot's locks keep no counters
^stats\.arenas\.[0-9]+\.bins\.[0-9]+\.mutex\.	ingot's locks keep no counters
LIST
)
# Names whose answer differs on purpose (README, "The jemalloc stand-in"):
# the per-thread counters' pointers are copies refreshed on read.
OWNED_ELSEWHERE='^thread\.(de)?allocatedp '

if [[ ! -f /usr/include/jemalloc/jemalloc.h ]]; then
	echo "ctl_compat: no /usr/include/jemalloc/jemalloc.h; install libjemalloc-dev" >&2
	exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- 1. the list is the manual's ----
if [[ -r /usr/share/man/man3/jemalloc.3.gz ]]; then
	"$ROOT/tests/programs/ctl_names.sh" >"$WORK/names"
	if ! diff -u "$LIST" "$WORK/names" >"$WORK/names.diff"; then
		echo "ctl_compat: FAIL: $LIST is not the manual's list (regenerate with ctl_names.sh):"
		cat "$WORK/names.diff"
		exit 1
	fi
	echo "ctl_compat: $(wc -l <"$LIST") names, the same as jemalloc(3) lists"
fi

# ---- 2. name by name ----
"$CC" -std=c11 -O1 -Wall -Wextra -Werror -I/usr/include "$ROOT/tests/programs/ctl_probe.c" \
	-o "$WORK/probe" -ljemalloc
"$WORK/probe" names "$LIST" >"$WORK/system.txt"
LD_LIBRARY_PATH=$OUR_LIB_DIR "$WORK/probe" names "$LIST" >"$WORK/ours.txt"
# ldd's whole output first: grep -q stops reading at the first match, and
# under pipefail an ldd still writing then fails the pipe (SIGPIPE).
loaded=$(LD_LIBRARY_PATH=$OUR_LIB_DIR ldd "$WORK/probe")
if ! grep -qF "$OUR_LIB_DIR/libjemalloc.so.2" <<<"$loaded"; then
	echo "ctl_compat: FAIL: the run did not load $OUR_LIB_DIR/libjemalloc.so.2" >&2
	exit 1
fi
if [[ $(wc -l <"$WORK/system.txt") != $(wc -l <"$WORK/ours.txt") ]]; then
	echo "ctl_compat: FAIL: the probe printed different numbers of lines" >&2
	exit 1
fi
grep -Ev "$OWNED_ELSEWHERE" "$WORK/system.txt" >"$WORK/system.cmp" || true
grep -Ev "$OWNED_ELSEWHERE" "$WORK/ours.txt" >"$WORK/ours.cmp" || true
owned=$(($(wc -l <"$WORK/system.txt") - $(wc -l <"$WORK/system.cmp")))
paste -d'\n' "$WORK/system.cmp" "$WORK/ours.cmp" | paste - - >"$WORK/pairs"
same=0 intended=0 failed=0
declare -A used
while IFS=$'\t' read -r sys ours; do
	if [[ $sys == "$ours" ]]; then
		same=$((same + 1))
		continue
	fi
	name=${sys%% *}
	reason=""
	while IFS=$'\t' read -r re why; do
		if [[ -n $re && $name =~ ${re% } ]]; then
			reason=$why
			used[$re]=1
			break
		fi
	done <<<"$INTENTIONAL"
	if [[ -n $reason ]]; then
		intended=$((intended + 1))
	else
		echo "ctl_compat: FAIL: $name differs: Debian's: ${sys#* }; ingot's: ${ours#* }"
		failed=$((failed + 1))
	fi
done <"$WORK/pairs"
while IFS=$'\t' read -r re why; do
	if [[ -n $re && -z ${used[$re]:-} ]]; then
		echo "ctl_compat: FAIL: no name differs as listed any more: $re ($why); update the list and the README"
		failed=$((failed + 1))
	fi
done <<<"$INTENTIONAL"
echo "ctl_compat: $same names answer as on Debian's jemalloc, $intended differ as listed, $owned owned elsewhere (not compared), $failed failures"
((failed == 0)) || exit 1

# ---- 3. version ----
v_sys=$("$WORK/probe" version)
v_ours=$(LD_LIBRARY_PATH=$OUR_LIB_DIR "$WORK/probe" version)
if [[ $v_sys != "$v_ours" ]]; then
	echo "ctl_compat: FAIL: version \"$v_ours\", Debian's jemalloc \"$v_sys\""
	exit 1
fi
echo "ctl_compat: version \"$v_ours\" on both"

# ---- 4. decay off ----
MALLOC_CONF=dirty_decay_ms:-1 "$WORK/probe" decay | sed 's/^/ctl_compat: Debian: /'
MALLOC_CONF=dirty_decay_ms:-1 LD_LIBRARY_PATH=$OUR_LIB_DIR "$WORK/probe" decay | sed 's/^/ctl_compat: ingot: /'
echo "ctl_compat: PASS"
