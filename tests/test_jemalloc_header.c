/*
 * test_jemalloc_header.c — include/jemalloc/jemalloc.h against the jemalloc
 * 5.3 manual (jemalloc(3)).
 *
 * A program built with jemalloc's own header passes these flag values to
 * ingot's libjemalloc.so.2, and a program built with ours may run on the real
 * jemalloc, so every encoding must be bit for bit the one jemalloc uses:
 *   bits 0-5 log2(alignment), bit 6 zero, bits 8-19 tcache (0 automatic,
 *   1 none, n + 2 cache n), bits 20-31 arena (0 automatic, a + 1 arena a).
 * The checks that can be made at compile time are; the rest run under
 * Criterion. Nothing here calls into the allocator.
 */
/* Also brings in the je_* spellings, checked at the end of the compile-time
 * part. */
#define JEMALLOC_NO_DEMANGLE
#include <jemalloc/jemalloc.h>

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* The library function types, spelled as in the manual's synopsis. */
#define SAME_TYPE(a, b) __builtin_types_compatible_p(__typeof__(a), b)

/* ---- compile time ---- */

_Static_assert(JEMALLOC_VERSION_MAJOR == 5, "jemalloc 5.x interface");
_Static_assert(JEMALLOC_VERSION_MINOR == 3, "jemalloc 5.3 interface");
_Static_assert(JEMALLOC_VERSION_BUGFIX == 0, "jemalloc 5.3.0");
_Static_assert(JEMALLOC_VERSION_NREV == 0, "release, not a development snapshot");

_Static_assert(MALLOCX_LG_ALIGN(0) == 0, "");
_Static_assert(MALLOCX_LG_ALIGN(4) == 4, "");
_Static_assert(MALLOCX_LG_ALIGN(63) == 63, "");
_Static_assert(MALLOCX_ZERO == 0x40, "");
_Static_assert(MALLOCX_TCACHE_NONE == (1 << 8), "tcache field value 1 means none");
_Static_assert(MALLOCX_TCACHE(0) == (2 << 8), "");
_Static_assert(MALLOCX_TCACHE(4093) == (4095 << 8), "top of the tcache field");
_Static_assert(MALLOCX_ARENA(0) == (1 << 20), "");
_Static_assert(MALLOCX_ARENA(7) == (8 << 20), "");
_Static_assert(MALLCTL_ARENAS_ALL == 4096, "");
_Static_assert(MALLCTL_ARENAS_DESTROYED == 4097, "");

/* Every macro has type int, as the flags parameter does. */
_Static_assert(SAME_TYPE(MALLOCX_LG_ALIGN(3), int), "");
_Static_assert(SAME_TYPE(MALLOCX_ALIGN((size_t)64), int), "");
_Static_assert(SAME_TYPE(MALLOCX_ZERO, int), "");
_Static_assert(SAME_TYPE(MALLOCX_TCACHE(3u), int), "");
_Static_assert(SAME_TYPE(MALLOCX_TCACHE_NONE, int), "");
_Static_assert(SAME_TYPE(MALLOCX_ARENA(3u), int), "");

#if defined(__GNUC__) || defined(__clang__)
/* With GCC and Clang MALLOCX_ALIGN is a constant expression. */
_Static_assert(MALLOCX_ALIGN(1) == 0, "");
_Static_assert(MALLOCX_ALIGN(16) == 4, "");
_Static_assert(MALLOCX_ALIGN(4096) == 12, "");
_Static_assert(MALLOCX_ALIGN((size_t)1 << 31) == 31, "");
#if SIZE_MAX > 0xffffffffu
_Static_assert(MALLOCX_ALIGN((size_t)1 << 32) == 32, "");
_Static_assert(MALLOCX_ALIGN((size_t)1 << 40) == 40, "");
_Static_assert(MALLOCX_ALIGN((size_t)1 << 63) == 63, "");
#endif
#endif

/* The prototypes of the manual's synopsis. malloc_usable_size takes void *
 * rather than the manual's const void *, as glibc's <malloc.h> does. */
_Static_assert(SAME_TYPE(malloc, void *(size_t)), "");
_Static_assert(SAME_TYPE(calloc, void *(size_t, size_t)), "");
_Static_assert(SAME_TYPE(posix_memalign, int(void **, size_t, size_t)), "");
_Static_assert(SAME_TYPE(aligned_alloc, void *(size_t, size_t)), "");
_Static_assert(SAME_TYPE(realloc, void *(void *, size_t)), "");
_Static_assert(SAME_TYPE(free, void(void *)), "");
_Static_assert(SAME_TYPE(mallocx, void *(size_t, int)), "");
_Static_assert(SAME_TYPE(rallocx, void *(void *, size_t, int)), "");
_Static_assert(SAME_TYPE(xallocx, size_t(void *, size_t, size_t, int)), "");
_Static_assert(SAME_TYPE(sallocx, size_t(const void *, int)), "");
_Static_assert(SAME_TYPE(dallocx, void(void *, int)), "");
_Static_assert(SAME_TYPE(sdallocx, void(void *, size_t, int)), "");
_Static_assert(SAME_TYPE(nallocx, size_t(size_t, int)), "");
_Static_assert(SAME_TYPE(mallctl, int(const char *, void *, size_t *, void *, size_t)), "");
_Static_assert(SAME_TYPE(mallctlnametomib, int(const char *, size_t *, size_t *)), "");
_Static_assert(SAME_TYPE(mallctlbymib,
                         int(const size_t *, size_t, void *, size_t *, void *, size_t)),
               "");
_Static_assert(SAME_TYPE(malloc_stats_print,
                         void(void (*)(void *, const char *), void *, const char *)),
               "");
_Static_assert(SAME_TYPE(malloc_usable_size, size_t(void *)), "");
_Static_assert(SAME_TYPE(memalign, void *(size_t, size_t)), "");
_Static_assert(SAME_TYPE(valloc, void *(size_t)), "");
_Static_assert(SAME_TYPE(malloc_message, void (*)(void *, const char *)), "");
_Static_assert(SAME_TYPE(malloc_conf, const char *), "");

/* The extent hook types, as the manual writes them under
 * "arena.<i>.extent_hooks". */
_Static_assert(SAME_TYPE(extent_alloc_t, void *(extent_hooks_t *, void *, size_t, size_t,
                                                bool *, bool *, unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_dalloc_t, bool(extent_hooks_t *, void *, size_t, bool, unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_destroy_t,
                         void(extent_hooks_t *, void *, size_t, bool, unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_commit_t, bool(extent_hooks_t *, void *, size_t, size_t, size_t,
                                               unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_decommit_t, bool(extent_hooks_t *, void *, size_t, size_t,
                                                 size_t, unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_purge_t, bool(extent_hooks_t *, void *, size_t, size_t, size_t,
                                              unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_split_t, bool(extent_hooks_t *, void *, size_t, size_t, size_t,
                                              bool, unsigned)),
               "");
_Static_assert(SAME_TYPE(extent_merge_t, bool(extent_hooks_t *, void *, size_t, void *, size_t,
                                              bool, unsigned)),
               "");

/* jemalloc reads a program's hook table by member position: nine pointers in
 * the manual's order. */
_Static_assert(sizeof(extent_hooks_t) == 9 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, alloc) == 0 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, dalloc) == 1 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, destroy) == 2 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, commit) == 3 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, decommit) == 4 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, purge_lazy) == 5 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, purge_forced) == 6 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, split) == 7 * sizeof(void *), "");
_Static_assert(offsetof(extent_hooks_t, merge) == 8 * sizeof(void *), "");

/* With JEMALLOC_NO_DEMANGLE, code written for a je_-prefixed jemalloc
 * reaches the same functions. */
_Static_assert(SAME_TYPE(je_mallocx, void *(size_t, int)), "");
_Static_assert(SAME_TYPE(je_sdallocx, void(void *, size_t, int)), "");
_Static_assert(SAME_TYPE(je_mallctl, int(const char *, void *, size_t *, void *, size_t)), "");
_Static_assert(SAME_TYPE(je_malloc_stats_print,
                         void(void (*)(void *, const char *), void *, const char *)),
               "");
_Static_assert(SAME_TYPE(je_malloc_conf, const char *), "");

/* ---- run time ---- */

/* MALLOCX_ALIGN(2^k) == k for every power of two size_t holds, whatever the
 * integer type the program passes it in. */
Test(jemalloc_header, align_of_every_power_of_two)
{
	const int bits = (int)(sizeof(size_t) * CHAR_BIT);
	volatile size_t one = 1; /* keep the compiler from folding the loop */
	for (int k = 0; k < bits; k++) {
		size_t a = one << k;
		cr_expect_eq(MALLOCX_ALIGN(a), k, "MALLOCX_ALIGN(2^%d) = %d", k, MALLOCX_ALIGN(a));
		cr_expect_eq(MALLOCX_ALIGN((unsigned long long)a), k, "as unsigned long long, k=%d", k);
		cr_expect_eq(MALLOCX_LG_ALIGN(k), k, "MALLOCX_LG_ALIGN(%d)", k);
		cr_expect_eq(MALLOCX_ALIGN(a), MALLOCX_LG_ALIGN(k), "the two spellings agree, k=%d", k);
	}
	for (int k = 0; k < 31; k++) {
		int a = 1 << k;
		cr_expect_eq(MALLOCX_ALIGN(a), k, "as int, k=%d", k);
		cr_expect_eq(MALLOCX_ALIGN((unsigned)a), k, "as unsigned, k=%d", k);
	}
}

/* The alignment field is a plain log2: at least 6 bits wide and nothing
 * above bit 5 is set by any alignment a 64-bit size_t can express. */
Test(jemalloc_header, align_stays_in_bits_0_to_5)
{
	for (int k = 0; k < 64; k++)
		cr_expect_eq(MALLOCX_LG_ALIGN(k) & ~0x3f, 0, "k=%d", k);
}

Test(jemalloc_header, tcache_encoding)
{
	volatile unsigned n = 0; /* tcache.create hands out unsigned identifiers */
	for (unsigned tc = n; tc < 4094; tc++)
		cr_expect_eq(MALLOCX_TCACHE(tc), (int)((tc + 2) << 8), "MALLOCX_TCACHE(%u)", tc);
	volatile int none = -1;
	cr_expect_eq(MALLOCX_TCACHE(none), 1 << 8, "MALLOCX_TCACHE(-1) is MALLOCX_TCACHE_NONE");
	cr_expect_eq(MALLOCX_TCACHE_NONE, 0x100);
}

Test(jemalloc_header, arena_encoding)
{
	volatile unsigned n = 0; /* arenas.create hands out unsigned indices */
	for (unsigned a = n; a < 2047; a++)
		cr_expect_eq(MALLOCX_ARENA(a), (int)((a + 1) << 20), "MALLOCX_ARENA(%u)", a);
	/* Arena indices up to 4094 use the top bit: the int carries the bit
	 * pattern jemalloc decodes as ((unsigned)flags >> 20) - 1. */
	for (unsigned a = 2047; a < 4095; a++)
		cr_expect_eq(((unsigned)MALLOCX_ARENA(a) >> 20) - 1, a, "MALLOCX_ARENA(%u)", a);
}

/* Fields combine with | and decode back independently. */
Test(jemalloc_header, fields_do_not_overlap)
{
	int f = MALLOCX_LG_ALIGN(63) | MALLOCX_ZERO | MALLOCX_TCACHE(4093) | MALLOCX_ARENA(4094);
	unsigned u = (unsigned)f;
	cr_expect_eq(u & 0x3f, 63u);
	cr_expect_eq(u & 0x40, 0x40u);
	cr_expect_eq(u & 0x80, 0u, "bit 7 is unused");
	cr_expect_eq(((u >> 8) & 0xfff) - 2, 4093u);
	cr_expect_eq((u >> 20) - 1, 4094u);

	f = MALLOCX_ALIGN(64) | MALLOCX_TCACHE_NONE | MALLOCX_ARENA(0);
	cr_expect_eq(f, 6 | (1 << 8) | (1 << 20));
	cr_expect_eq(MALLOCX_LG_ALIGN(0) | MALLOCX_ZERO, MALLOCX_ZERO,
	             "alignment 1 is the same as no alignment");
}

/* The manual's idiom for naming every arena in a mallctl string. */
Test(jemalloc_header, arena_constants_paste_into_names)
{
	cr_expect_str_eq("arena." STR(MALLCTL_ARENAS_ALL) ".purge", "arena.4096.purge");
	cr_expect_str_eq("stats.arenas." STR(MALLCTL_ARENAS_DESTROYED) ".pactive",
	                 "stats.arenas.4097.pactive");
}

Test(jemalloc_header, version_strings_agree)
{
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d-%d-g", JEMALLOC_VERSION_MAJOR, JEMALLOC_VERSION_MINOR,
	         JEMALLOC_VERSION_BUGFIX, JEMALLOC_VERSION_NREV);
	cr_assert_eq(strncmp(JEMALLOC_VERSION, want, strlen(want)), 0, "%s starts with %s",
	             JEMALLOC_VERSION, want);
	cr_expect_str_eq(&JEMALLOC_VERSION[strlen(want)], JEMALLOC_VERSION_GID);
	cr_expect_str_eq(STR(JEMALLOC_VERSION_GID_IDENT), JEMALLOC_VERSION_GID);
	cr_expect_str_eq(JEMALLOC_VERSION, "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c");
}

/* A program's own hooks, written with the manual's signatures, fill a table
 * in the manual's member order and are called through it. */
static void *hook_alloc(extent_hooks_t *h, void *addr, size_t size, size_t align, bool *zero,
                        bool *commit, unsigned arena)
{
	(void)h, (void)addr, (void)size, (void)align, (void)zero, (void)commit, (void)arena;
	return NULL;
}
static bool hook_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool committed,
                       unsigned arena)
{
	(void)h, (void)a, (void)sa, (void)b, (void)sb, (void)committed, (void)arena;
	return true;
}

Test(jemalloc_header, extent_hooks_table)
{
	extent_hooks_t hooks = {hook_alloc, NULL, NULL, NULL, NULL, NULL, NULL, NULL, hook_merge};
	cr_expect(hooks.alloc == hook_alloc);
	cr_expect(hooks.dalloc == NULL && hooks.destroy == NULL && hooks.commit == NULL);
	cr_expect(hooks.decommit == NULL && hooks.purge_lazy == NULL && hooks.purge_forced == NULL);
	cr_expect(hooks.split == NULL);
	cr_expect(hooks.merge == hook_merge);
	bool zero = false, commit = true;
	cr_expect(hooks.alloc(&hooks, NULL, 4096, 4096, &zero, &commit, 0) == NULL);
	cr_expect(hooks.merge(&hooks, NULL, 0, NULL, 0, true, 0));
}
