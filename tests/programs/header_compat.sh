#!/usr/bin/env bash
# header_compat.sh — compares include/jemalloc/jemalloc.h with an installed
# jemalloc 5.3 header (Debian's libjemalloc-dev: /usr/include/jemalloc/jemalloc.h).
#
# 1. Builds one small program that prints every value the header defines
#    (flag encodings over their whole range, arena constants, version, layout
#    of extent_hooks_t, which feature macros are defined) against each header,
#    runs both and diffs the output: any difference fails.
# 2. Compiles a program that uses the common jemalloc API (as C, and as C++)
#    against each header with -Werror; links and runs it against Debian's
#    libjemalloc.so.2, and against ours (lib/libjemalloc.so.2) when that exists.
#
# Usage: tests/programs/header_compat.sh        (from the repository root)
# Environment: CC (default cc), CXX (default c++), SYSTEM_HEADER_DIR
# (default /usr/include), OUR_LIB_DIR (default $PWD/lib).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}
SYSTEM_HEADER_DIR=${SYSTEM_HEADER_DIR:-/usr/include}
OUR_LIB_DIR=${OUR_LIB_DIR:-$ROOT/lib}

if [[ ! -f $SYSTEM_HEADER_DIR/jemalloc/jemalloc.h ]]; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		apt-get install -y libjemalloc-dev >/dev/null
	else
		echo "header_compat: no $SYSTEM_HEADER_DIR/jemalloc/jemalloc.h; install libjemalloc-dev" >&2
		exit 1
	fi
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- 1. values ----
cat >"$WORK/values.c" <<'PROG'
#include <jemalloc/jemalloc.h>
#include <stddef.h>
#include <stdio.h>

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void)
{
	printf("JEMALLOC_VERSION %s\n", JEMALLOC_VERSION);
	printf("JEMALLOC_VERSION_MAJOR %d\n", JEMALLOC_VERSION_MAJOR);
	printf("JEMALLOC_VERSION_MINOR %d\n", JEMALLOC_VERSION_MINOR);
	printf("JEMALLOC_VERSION_BUGFIX %d\n", JEMALLOC_VERSION_BUGFIX);
	printf("JEMALLOC_VERSION_NREV %d\n", JEMALLOC_VERSION_NREV);
	printf("JEMALLOC_VERSION_GID %s\n", JEMALLOC_VERSION_GID);
	printf("JEMALLOC_VERSION_GID_IDENT %s\n", STR(JEMALLOC_VERSION_GID_IDENT));
	printf("LG_SIZEOF_PTR %d\n", LG_SIZEOF_PTR);
	printf("MALLOCX_ZERO %#x\n", MALLOCX_ZERO);
	printf("MALLOCX_TCACHE_NONE %#x\n", MALLOCX_TCACHE_NONE);
	printf("MALLCTL_ARENAS_ALL %s = %d\n", STR(MALLCTL_ARENAS_ALL), MALLCTL_ARENAS_ALL);
	printf("MALLCTL_ARENAS_DESTROYED %s = %d\n", STR(MALLCTL_ARENAS_DESTROYED),
	       MALLCTL_ARENAS_DESTROYED);
	for (int k = 0; k < 64; k++)
		printf("MALLOCX_LG_ALIGN(%d) %#x\n", k, MALLOCX_LG_ALIGN(k));
	for (int k = 0; k < (int)(8 * sizeof(size_t)); k++)
		printf("MALLOCX_ALIGN(2^%d) %#x\n", k, MALLOCX_ALIGN((size_t)1 << k));
	for (unsigned t = 0; t < 4094; t++)
		printf("MALLOCX_TCACHE(%u) %#x\n", t, MALLOCX_TCACHE(t));
	for (unsigned a = 0; a < 2047; a++)
		printf("MALLOCX_ARENA(%u) %#x\n", a, MALLOCX_ARENA(a));
	printf("sizeof(extent_hooks_t) %zu\n", sizeof(extent_hooks_t));
#define MEMBER(m) printf("offsetof(extent_hooks_t, " #m ") %zu\n", offsetof(extent_hooks_t, m))
	MEMBER(alloc); MEMBER(dalloc); MEMBER(destroy); MEMBER(commit); MEMBER(decommit);
	MEMBER(purge_lazy); MEMBER(purge_forced); MEMBER(split); MEMBER(merge);
	/* Feature and attribute macros: only whether each exists. */
	const char *defined[] = {
PROG
for m in JEMALLOC_HAVE_ATTR JEMALLOC_HAVE_ATTR_ALLOC_SIZE JEMALLOC_HAVE_ATTR_FORMAT_ARG \
	JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF JEMALLOC_HAVE_ATTR_FORMAT_PRINTF \
	JEMALLOC_HAVE_ATTR_FALLTHROUGH JEMALLOC_HAVE_ATTR_COLD JEMALLOC_OVERRIDE_MEMALIGN \
	JEMALLOC_OVERRIDE_VALLOC JEMALLOC_USABLE_SIZE_CONST JEMALLOC_USE_CXX_THROW \
	JEMALLOC_CXX_THROW JEMALLOC_ATTR JEMALLOC_ALIGNED JEMALLOC_ALLOC_SIZE JEMALLOC_ALLOC_SIZE2 \
	JEMALLOC_EXPORT JEMALLOC_FORMAT_ARG JEMALLOC_FORMAT_PRINTF JEMALLOC_FALLTHROUGH \
	JEMALLOC_NOINLINE JEMALLOC_NOTHROW JEMALLOC_SECTION JEMALLOC_RESTRICT_RETURN \
	JEMALLOC_ALLOCATOR JEMALLOC_COLD JEMALLOC_SYS_NOTHROW JEMALLOC_HAVE_MALLOC_SIZE \
	JEMALLOC_NO_DEMANGLE JEMALLOC_MANGLE; do
	printf '#ifdef %s\n\t"%s defined",\n#else\n\t"%s undefined",\n#endif\n' "$m" "$m" "$m"
done >>"$WORK/values.c"
cat >>"$WORK/values.c" <<'PROG'
	};
	for (size_t i = 0; i < sizeof(defined) / sizeof(defined[0]); i++)
		puts(defined[i]);
	return 0;
}
PROG

CFLAGS_STRICT=(-std=c11 -O1 -Wall -Wextra -Werror)
"$CC" "${CFLAGS_STRICT[@]}" -I"$ROOT/include" "$WORK/values.c" -o "$WORK/values_ours"
"$CC" "${CFLAGS_STRICT[@]}" -I"$SYSTEM_HEADER_DIR" "$WORK/values.c" -o "$WORK/values_system"
"$WORK/values_ours" >"$WORK/ours.txt"
"$WORK/values_system" >"$WORK/system.txt"
# Debian's header was configured for GCC; Clang has no format(gnu_printf), and
# our header says so, so under Clang that one line differs by design.
if "$CC" -dM -E - </dev/null | grep -q __clang__; then
	sed -i '/^JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF /d' "$WORK/ours.txt" "$WORK/system.txt"
fi
n=$(wc -l <"$WORK/ours.txt")
if ! diff -u "$WORK/system.txt" "$WORK/ours.txt" >"$WORK/values.diff"; then
	echo "header_compat: FAIL: values differ (- system header, + ours):"
	cat "$WORK/values.diff"
	exit 1
fi
echo "header_compat: $n values identical in both headers"
grep -E '^(JEMALLOC_VERSION |MALLOCX_ZERO|MALLOCX_TCACHE_NONE|MALLCTL_|MALLOCX_ALIGN\(2\^(12|40|63)\)|MALLOCX_ARENA\(0\)|MALLOCX_TCACHE\(0\))' \
	"$WORK/ours.txt" | sed 's/^/  /'

# ---- 2. the common API, compiled as C and as C++ ----
cat >"$WORK/api.c" <<'PROG'
/* A program using the jemalloc API the way real programs do. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#define JEMALLOC_NO_DEMANGLE
#include <jemalloc/jemalloc.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static void write_cb(void *opaque, const char *s)
{
	*(size_t *)opaque += strlen(s);
}

static void *my_alloc(extent_hooks_t *h, void *addr, size_t size, size_t align, bool *zero,
                      bool *commit, unsigned arena)
{
	(void)h; (void)addr; (void)size; (void)align; (void)zero; (void)commit; (void)arena;
	return NULL;
}

int main(void)
{
	extent_hooks_t hooks;
	memset(&hooks, 0, sizeof(hooks));
	hooks.alloc = my_alloc;

	char *p = (char *)mallocx(100, MALLOCX_ZERO | MALLOCX_ALIGN(64));
	if (p == NULL || ((size_t)p & 63) != 0 || p[99] != 0) return 1;
	if (sallocx(p, 0) < 100 || nallocx(100, MALLOCX_LG_ALIGN(6)) < 100) return 2;
	p = (char *)rallocx(p, 5000, MALLOCX_TCACHE_NONE);
	if (p == NULL || xallocx(p, 5000, 0, 0) < 5000) return 3;
	sdallocx(p, 5000, 0);
	void *q = je_mallocx(10, 0);
	dallocx(q, MALLOCX_ARENA(0));

	const char *version;
	size_t len = sizeof(version);
	if (mallctl("version", &version, &len, NULL, 0) != 0) return 4;
	if (strncmp(version, "5.3.0", 5) != 0) return 5;
	size_t mib[4], miblen = 4;
	if (mallctlnametomib("arenas.narenas", mib, &miblen) != 0) return 6;
	unsigned narenas;
	len = sizeof(narenas);
	if (mallctlbymib(mib, miblen, &narenas, &len, NULL, 0) != 0 || narenas == 0) return 7;
	uint64_t epoch = 1;
	len = sizeof(epoch);
	if (mallctl("epoch", &epoch, &len, &epoch, len) != 0) return 8;
	if (mallctl("arena." STR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0) != 0) return 9;
	size_t allocated;
	len = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0) return 10;

	size_t printed = 0;
	malloc_stats_print(write_cb, &printed, "J");
	if (printed == 0) return 11;

	void *r = NULL;
	if (posix_memalign(&r, 256, 10) != 0 || malloc_usable_size(r) < 10) return 12;
	free(r);
	free(memalign(128, 10));
	free(valloc(10));
	free(aligned_alloc(64, 128));
	free(realloc(calloc(2, 8), 100));
	(void)malloc_conf;
	(void)malloc_message;
	printf("api ok: version %s, %u arenas, %zu bytes allocated, %zu bytes of JSON stats\n",
	       version, narenas, allocated, printed);
	return 0;
}
PROG

for hdr in ours system; do
	if [[ $hdr == ours ]]; then inc=$ROOT/include; else inc=$SYSTEM_HEADER_DIR; fi
	"$CC" "${CFLAGS_STRICT[@]}" -I"$inc" -c "$WORK/api.c" -o "$WORK/api_$hdr.o"
	"$CXX" -std=c++17 -O1 -Wall -Wextra -Werror -I"$inc" -x c++ -c "$WORK/api.c" -o "$WORK/api_cxx_$hdr.o"
	"$CXX" -std=c++98 -O1 -Wall -Werror -I"$inc" -x c++ -fsyntax-only "$WORK/api.c"
	echo "header_compat: the API program compiles against $inc/jemalloc/jemalloc.h (C11, C++17, C++98)"
done

# Runs the API program; a non-zero exit status is the number of the failed
# step in api.c (1: mallocx ... 12: posix_memalign).
run_api() { # description, program, environment...
	local what=$1 prog=$2 rc=0
	shift 2
	echo -n "header_compat: $what: "
	env "$@" "$prog" || rc=$?
	if ((rc != 0)); then
		echo
		echo "header_compat: FAIL: $what: exit status $rc (1-12: that step of api.c failed; else a crash or a loader error)"
		exit 1
	fi
}

# Built with our header, run on Debian's jemalloc: the ABI is the same.
"$CC" "$WORK/api_ours.o" -o "$WORK/api_on_system" -ljemalloc
run_api "built with our header, on Debian's libjemalloc" "$WORK/api_on_system"

if [[ -f $OUR_LIB_DIR/libjemalloc.so.2 ]]; then
	# Built with Debian's header, run on ours.
	"$CC" "$WORK/api_system.o" -o "$WORK/api_on_ours" -ljemalloc
	run_api "built with Debian's header, on $OUR_LIB_DIR/libjemalloc.so.2" "$WORK/api_on_ours" \
		LD_LIBRARY_PATH="$OUR_LIB_DIR"
	# ldd's whole output first: grep -q stops reading at the first match, and
	# under pipefail an ldd still writing then fails the pipe (SIGPIPE).
	loaded=$(LD_LIBRARY_PATH=$OUR_LIB_DIR ldd "$WORK/api_on_ours")
	if ! grep -qF "$OUR_LIB_DIR/libjemalloc.so.2" <<<"$loaded"; then
		echo "header_compat: FAIL: the run did not load $OUR_LIB_DIR/libjemalloc.so.2" >&2
		exit 1
	fi
else
	echo "header_compat: $OUR_LIB_DIR/libjemalloc.so.2 not built; the run on ingot is left out"
fi
echo "header_compat: PASS"
