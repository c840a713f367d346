/*
 * test_limits.c — the memory limits (limit_hard, limit_soft; mallctl
 * limit.hard, limit.soft): past the hard limit an allocation fails with
 * ENOMEM while smaller ones still succeed and the heap stays consistent;
 * with a soft limit a churn over several arenas stays under it, where the
 * same churn without one goes over.
 *
 * Each test runs in a process of its own (Criterion), so each starts with
 * a fresh heap.
 */
#include "helpers.h"

#include <sched.h>

#include "arena.h"
#include "ingot.h"
#include "osmem.h"
#include "pageheap.h"

/* jemalloc's flag encodings (include/jemalloc/jemalloc.h): MALLOCX_ARENA(a)
 * | MALLOCX_TCACHE_NONE, so that blocks go straight to arena a's heap. */
#define IN_ARENA(a) ((int)(((unsigned)(a) + 1u) << 20) | (1 << 8))

static void set_limit(const char *name, size_t bytes)
{
	cr_assert_eq(ingot_mallctl(name, NULL, NULL, &bytes, sizeof(bytes)), 0, "%s", name);
}

static size_t get_limit(const char *name)
{
	size_t v = 0, len = sizeof(v);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

Test(limits, hard_limit_fails_large_requests_and_keeps_small_ones)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	size_t hard = osmem_mapped() + 64 * MiB;
	set_limit("limit.hard", hard);
	cr_assert_eq(get_limit("limit.hard"), hard);

	errno = 0;
	void *big = ingot_malloc(opaque_size(256 * MiB));
	cr_assert_null(big, "a 256 MiB block under a 64 MiB limit");
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(ingot_calloc(1, opaque_size(128 * MiB)));
	cr_assert_eq(errno, ENOMEM);

	/* Smaller ones succeed until the limit, then fail the same way. */
	static void *blocks[256];
	size_t n = 0;
	while (n < 256 && (blocks[n] = ingot_malloc(1 * MiB)) != NULL)
		memset(blocks[n++], 0x3c, 1 * MiB);
	cr_assert_geq(n, 48, "only %zu MiB fit under a 64 MiB limit", n);
	cr_assert_lt(n, 72, "%zu MiB allocated under a 64 MiB limit", n);
	cr_assert_leq(osmem_mapped(), hard);
	void *small = ingot_malloc(64);
	cr_assert_not_null(small, "a small object must still fit in the heap's slabs");
	cr_assert_eq(ingot_check(), 0);

	/* Freed memory is reused under the limit; lifting it lifts the bound. */
	for (size_t i = 0; i < n; i++)
		ingot_free(blocks[i]);
	void *again = ingot_malloc(32 * MiB);
	cr_assert_not_null(again, "freed memory not reused under the hard limit");
	ingot_free(again);
	set_limit("limit.hard", 0);
	big = ingot_malloc(256 * MiB);
	cr_assert_not_null(big);
	ingot_free(big);
	ingot_free(small);
	cr_assert_eq(ingot_check(), 0);
}

#define PHASE (48 * MiB)
#define BLOCK (256 * KiB)
#define NARENAS 3

/* Allocates PHASE bytes in each of NARENAS fresh arenas in turn, touching
 * them, and frees them again before the next arena; dirty pages never
 * decay on their own (-1), as in a program whose decay time is long.
 * Returns the highest resident size seen above the start. */
static size_t churn_over_arenas(void)
{
	ingot_free(ingot_malloc(1));
	size_t base = rss_bytes(), top = 0;
	static void *blocks[PHASE / BLOCK];
	for (int round = 0; round < 2; round++) {
		for (unsigned k = 0; k < NARENAS; k++) {
			static int arena[NARENAS];
			if (round == 0) {
				arena[k] = arena_create();
				cr_assert_geq(arena[k], 0);
				pageheap_set_decay(&arena_get((unsigned)arena[k])->heap, -1);
			}
			for (size_t i = 0; i < PHASE / BLOCK; i++) {
				blocks[i] = ingot_mallocx(BLOCK, IN_ARENA(arena[k]));
				cr_assert_not_null(blocks[i]);
				memset(blocks[i], 0x7e, BLOCK);
			}
			size_t rss = rss_bytes();
			top = MAX(top, rss > base ? rss - base : 0);
			for (size_t i = 0; i < PHASE / BLOCK; i++)
				ingot_dallocx(blocks[i], IN_ARENA(arena[k]));
		}
	}
	cr_assert_eq(ingot_check(), 0);
	return top;
}

#define SOFT (64 * MiB)
#define SLACK (8 * MiB)

Test(limits, churn_without_a_soft_limit_goes_over_it)
{
	set_limit("limit.soft", 0);
	size_t top = churn_over_arenas();
	cr_assert_gt(top, SOFT + SLACK, "the churn rose only %zu MiB: it cannot show the limit",
	             top >> 20);
}

Test(limits, soft_limit_keeps_the_churn_under_it)
{
	ingot_free(ingot_malloc(1));
	set_limit("limit.soft", osmem_mapped() + SOFT);
	size_t top = churn_over_arenas();
	cr_assert_leq(top, SOFT + SLACK, "RSS rose %zu MiB under a %zu MiB soft limit", top >> 20,
	              SOFT >> 20);
}

/* ---- sizing from the CPUs the process may use ------------------------------- */

/* The number a python3 program prints, run on lib/libingot.so with INGOT_CONF
 * set to conf, on CPU 0 only (only_cpu0) or on the test's own CPUs. */
static long python_on_ingot(const char *conf, bool only_cpu0, const char *code)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (only_cpu0 && sched_setaffinity(0, sizeof(one), &one) != 0)
			_exit(3);
		char lib[4096];
		if (realpath("lib/libingot.so", lib) == NULL)
			_exit(5);
		dup2(fds[1], 1);
		setenv("LD_PRELOAD", lib, 1);
		setenv("INGOT_CONF", conf, 1);
		execlp("python3", "python3", "-c", code, (char *)NULL);
		_exit(4);
	}
	close(fds[1]);
	char buf[32] = {0};
	ssize_t got = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)", status);
	cr_assert_gt(got, 0);
	return strtol(buf, NULL, 10);
}

static const char narenas_py[] =
    "import ctypes; l = ctypes.CDLL(None); v = ctypes.c_uint(); n = ctypes.c_size_t(4)\n"
    "r = l.mallctl(b'arenas.narenas', ctypes.byref(v), ctypes.byref(n), None, 0)\n"
    "print(v.value if r == 0 else -1)\n";

Test(sizing, arena_count_follows_the_affinity_mask, .timeout = 20)
{
	cr_assert_eq(access("lib/libingot.so", R_OK), 0, "run from the repository root");
	cpu_set_t own;
	cr_assert_eq(sched_getaffinity(0, sizeof(own), &own), 0);
	cr_assert_eq(python_on_ingot("", true, narenas_py), 1, "one CPU allowed, more than one arena");
	cr_assert_eq(python_on_ingot("", false, narenas_py), CPU_COUNT(&own),
	             "arenas do not follow the CPUs the process may use");
}

/* ---- transparent huge pages --------------------------------------------------- */

/* AnonHugePages of the mapping that holds p, in bytes (from /proc/self/smaps). */
static size_t huge_bytes_at(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert_not_null(f);
	char line[512];
	bool inside = false;
	size_t kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb * KiB;
}

static bool system_offers_thp(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = '\0';
		fclose(f);
	}
	return strstr(mode, "[never]") == NULL && mode[0] != '\0';
}

#define THP_BLOCK (64 * MiB)

Test(thp, always_and_never_reach_the_kernel)
{
	if (!system_offers_thp())
		cr_skip_test("transparent huge pages are off on this system");
	ingot_free(ingot_malloc(1));
	osmem_set_thp(OSMEM_THP_ALWAYS, OSMEM_THP_DEFAULT); /* what thp:always sets at start */
	char *on = ingot_malloc(THP_BLOCK);
	cr_assert_not_null(on);
	cr_assert_eq((uintptr_t)on % (2 * MiB), 0, "a huge block not aligned to a huge page");
	memset(on, 1, THP_BLOCK);
	size_t huge_on = huge_bytes_at(on);
	osmem_set_thp(OSMEM_THP_NEVER, OSMEM_THP_DEFAULT);
	char *off = ingot_malloc(THP_BLOCK);
	cr_assert_not_null(off);
	memset(off, 1, THP_BLOCK);
	size_t huge_off = huge_bytes_at(off);
	cr_assert_geq(huge_on, 2 * MiB, "thp:always: no huge page in 64 MiB");
	cr_assert_eq(huge_off, 0, "thp:never: %zu bytes in huge pages", huge_off);
	ingot_free(on);
	ingot_free(off);
}

/* 64 MiB from malloc, written; prints the AnonHugePages (kB) of its mapping. */
static const char huge_py[] =
    "import ctypes\n"
    "libc = ctypes.CDLL(None); libc.malloc.restype = ctypes.c_void_p\n"
    "p = libc.malloc(64 << 20); ctypes.memset(p, 1, 64 << 20)\n"
    "inside, huge = False, 0\n"
    "for line in open('/proc/self/smaps'):\n"
    "    f = line.split()\n"
    "    if '-' in f[0] and not f[0].endswith(':'):\n"
    "        lo, hi = (int(x, 16) for x in f[0].split('-')); inside = lo <= p < hi\n"
    "    elif inside and f[0] == 'AnonHugePages:':\n"
    "        huge = int(f[1]); break\n"
    "print(huge)\n";

Test(thp, the_options_reach_the_kernel, .timeout = 20)
{
	if (!system_offers_thp())
		cr_skip_test("transparent huge pages are off on this system");
	cr_assert_eq(access("lib/libingot.so", R_OK), 0, "run from the repository root");
	cr_assert_geq(python_on_ingot("thp:always", false, huge_py), 2048,
	              "thp:always: no huge page in a 64 MiB block");
	cr_assert_eq(python_on_ingot("thp:never", false, huge_py), 0);
}
