/*
 * test_xapi.c — mallocx, rallocx, xallocx, sallocx, dallocx, sdallocx and
 * nallocx, with every MALLOCX_* flag and their combinations.
 */
#include "jemalloc_test.h"

#include "arena.h"
#include "pagemap.h"
#include "sizeclass.h"

static unsigned arena_of(const void *p)
{
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	cr_assert_not_null(c, "%p is not ingot's", p);
	return c->arena->index;
}

/* Sizes across the small, large and huge ranges and their edges. */
static const size_t sizes[] = {1,     8,     15,    16,     17,     100,    1000,    1024,
                               1025,  4095,  4096,  5000,   8192,   14336,  16383,   16384,
                               16385, 20000, 65536, 100000, 262145, 2 * MiB, 2 * MiB + 1,
                               5 * MiB};

/* Live objects of size's class over all arenas, from a fresh snapshot. */
static size_t class_live(size_t size)
{
	epoch_refresh();
	return ctl_size(ctl_name("stats.arenas.%d.bins.%u.curregs", MALLCTL_ARENAS_ALL,
	                         sizeclass_small(size) - 1));
}

/* ---- mallocx, sallocx, nallocx ------------------------------------------------- */

Test(mallocx, alignment_size_and_nallocx_agree)
{
	for (unsigned lg = 0; lg <= 22; lg++) {
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
			size_t size = sizes[i];
			int flags = MALLOCX_LG_ALIGN(lg);
			void *p = JE(mallocx)(size, flags);
			cr_assert_not_null(p, "mallocx(%zu, lg align %u)", size, lg);
			cr_assert_eq((uintptr_t)p & (((uintptr_t)1 << lg) - 1), 0,
			             "mallocx(%zu, lg %u) = %p is misaligned", size, lg, p);
			size_t usable = JE(sallocx)(p, 0);
			cr_assert_geq(usable, size);
			cr_assert_eq(usable, JE(nallocx)(size, flags), "size %zu lg %u", size, lg);
			cr_assert_eq(usable, JE(malloc_usable_size)(p));
			memset(p, 0x5a, usable);
			JE(dallocx)(p, flags);
		}
	}
	/* MALLOCX_ALIGN is the same encoding */
	void *p = JE(mallocx)(100, MALLOCX_ALIGN(4096));
	cr_assert_eq((uintptr_t)p % 4096, 0);
	JE(dallocx)(p, 0);
	p = JE(mallocx)(10, MALLOCX_ALIGN(32 * MiB));
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % (32 * MiB), 0, "alignment above the chunk size");
	JE(dallocx)(p, 0);
	cr_assert_eq(ingot_check(), 0);
}

Test(mallocx, nallocx_equals_sallocx_over_many_sizes)
{
	uint64_t rng = 42;
	for (int i = 0; i < 3000; i++) {
		size_t size = i < 1000 ? (size_t)i + 1 : 1 + rng_below(&rng, i < 2500 ? 70000 : 3 * MiB);
		unsigned lg = (unsigned)rng_below(&rng, 14);
		int flags = MALLOCX_LG_ALIGN(lg) | (i % 3 == 0 ? MALLOCX_ZERO : 0);
		size_t n = JE(nallocx)(size, flags);
		void *p = JE(mallocx)(size, flags);
		cr_assert_not_null(p);
		cr_assert_eq(JE(sallocx)(p, flags), n, "size %zu lg %u", size, lg);
		JE(sdallocx)(p, size, flags);
	}
}

Test(mallocx, impossible_requests_fail)
{
	cr_assert_null(JE(mallocx)(opaque_size(SIZE_MAX), 0));
	cr_assert_null(JE(mallocx)(opaque_size(PTRDIFF_MAX), 0));
	cr_assert_null(JE(mallocx)(opaque_size(SIZE_MAX - 4096), MALLOCX_ZERO));
	cr_assert_null(JE(mallocx)(16, MALLOCX_LG_ALIGN(62)));
	cr_assert_eq(JE(nallocx)(opaque_size(SIZE_MAX), 0), 0);
	cr_assert_eq(JE(nallocx)(opaque_size(PTRDIFF_MAX), 0), 0);
	cr_assert_eq(JE(nallocx)(16, MALLOCX_LG_ALIGN(62)), 0);
}

/* ZERO must zero even when the block comes back dirty from a cache or a
 * bin: each size is filled, freed, and asked for again with ZERO. */
Test(mallocx, zero_even_when_reusing_dirty_memory)
{
	int extra[] = {0, MALLOCX_TCACHE_NONE, MALLOCX_LG_ALIGN(6), MALLOCX_ALIGN(8192)};
	for (size_t e = 0; e < ARRAY_LEN(extra); e++) {
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
			size_t size = sizes[i];
			int flags = extra[e];
			void *p = JE(mallocx)(size, flags);
			size_t usable = JE(sallocx)(p, 0);
			memset(p, 0xa5, usable);
			JE(dallocx)(p, flags);
			void *q = JE(mallocx)(size, flags | MALLOCX_ZERO);
			cr_assert_not_null(q);
			if (size <= 16384 && e != 1 && e != 3) /* cached small classes */
				cr_assert_eq(q, p, "size %zu: the same (dirty) block comes back", size);
			size_t bad = first_nonzero(q, JE(sallocx)(q, 0));
			cr_assert_eq(bad, SIZE_MAX, "size %zu flags %#x: byte %zu is not zero", size,
			             flags, bad);
			JE(dallocx)(q, flags);
		}
	}
}

Test(mallocx, tcache_none_bypasses_the_cache)
{
	const size_t size = 7000;
	size_t live = class_live(size);
	void *p = JE(mallocx)(size, MALLOCX_TCACHE_NONE);
	cr_assert_eq(class_live(size), live + 1, "exactly one object taken from the bin");
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	cr_assert_eq(class_live(size), live, "straight back to the bin");
	/* the automatic cache keeps what it is given */
	p = JE(mallocx)(size, 0);
	JE(dallocx)(p, 0);
	cr_assert_gt(class_live(size), live);
}

Test(mallocx, explicit_tcache)
{
	unsigned tc;
	ctl_get("tcache.create", &tc, sizeof(tc));
	int flags = MALLOCX_TCACHE(tc);
	void *p = JE(mallocx)(100, flags), *q = JE(mallocx)(100, flags);
	cr_assert_not_null(p);
	cr_assert_neq(p, q);
	JE(dallocx)(p, flags);
	cr_assert_eq(JE(mallocx)(100, flags), p, "the explicit cache hands back what it was given");
	/* blocks move freely between caches */
	void *auto_block = JE(mallocx)(100, 0);
	JE(dallocx)(auto_block, flags);
	JE(sdallocx)(q, 100, flags);
	JE(dallocx)(p, 0);
	void *big = JE(mallocx)(100000, flags | MALLOCX_ZERO);
	cr_assert_eq(first_nonzero(big, 100000), SIZE_MAX);
	JE(dallocx)(big, flags);
	ctl_set("tcache.destroy", &tc, sizeof(tc));
	cr_assert_eq(ingot_check(), 0);
}

Test(mallocx, arena_flag_places_blocks)
{
	unsigned a = arena_new_explicit(), tc;
	ctl_get("tcache.create", &tc, sizeof(tc));
	int variants[] = {MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE, MALLOCX_ARENA(a),
	                  MALLOCX_ARENA(a) | MALLOCX_TCACHE(tc),
	                  MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO | MALLOCX_LG_ALIGN(12)};
	/* the automatic cache holds objects of another arena, of every small size */
	for (size_t i = 0; i < ARRAY_LEN(sizes) && sizes[i] <= 16384; i++)
		JE(free)(JE(malloc)(sizes[i]));
	for (size_t v = 0; v < ARRAY_LEN(variants); v++) {
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
			void *p = JE(mallocx)(sizes[i], variants[v]);
			cr_assert_not_null(p);
			cr_assert_eq(arena_of(p), a, "size %zu flags %#x: arena %u, expected %u",
			             sizes[i], variants[v], arena_of(p), a);
			cr_assert_eq(JE(sallocx)(p, 0), JE(nallocx)(sizes[i], variants[v]));
			JE(dallocx)(p, variants[v]);
		}
	}
	cr_assert_null(JE(mallocx)(64, MALLOCX_ARENA(4000) | MALLOCX_TCACHE_NONE),
	               "an arena that does not exist gives NULL");
	ctl_set("tcache.destroy", &tc, sizeof(tc));
	cr_assert_eq(ingot_check(), 0);
}

/* ---- rallocx ---------------------------------------------------------------------- */

Test(rallocx, keeps_data_and_alignment)
{
	uint64_t seed = 1;
	for (unsigned lg = 0; lg <= 16; lg += 4) {
		int flags = MALLOCX_LG_ALIGN(lg);
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
			for (size_t j = 0; j < ARRAY_LEN(sizes); j += 3) {
				size_t from = sizes[i], to = sizes[j];
				void *p = JE(mallocx)(from, flags);
				pattern_fill(p, from, seed);
				void *q = JE(rallocx)(p, to, flags);
				cr_assert_not_null(q);
				cr_assert_eq((uintptr_t)q & (((uintptr_t)1 << lg) - 1), 0,
				             "%zu -> %zu lg %u misaligned", from, to, lg);
				cr_assert_eq(pattern_mismatch(q, MIN(from, to), seed), SIZE_MAX,
				             "%zu -> %zu lg %u: data lost", from, to, lg);
				cr_assert_eq(JE(sallocx)(q, 0), JE(nallocx)(to, flags), "%zu -> %zu", from,
				             to);
				JE(dallocx)(q, flags);
				seed++;
			}
		}
	}
	cr_assert_eq(ingot_check(), 0);
}

Test(rallocx, zero_fills_the_grown_part)
{
	for (size_t i = 0; i + 1 < ARRAY_LEN(sizes); i++) {
		size_t from = sizes[i], to = sizes[i + 1] * 2;
		/* dirty blocks of the target size first, so a reuse would show */
		void *dirty = JE(mallocx)(to, 0);
		memset(dirty, 0xff, JE(sallocx)(dirty, 0));
		JE(dallocx)(dirty, 0);
		void *p = JE(mallocx)(from, 0);
		size_t old = JE(sallocx)(p, 0);
		memset(p, 0x11, old);
		void *q = JE(rallocx)(p, to, MALLOCX_ZERO);
		cr_assert_not_null(q);
		const unsigned char *b = q;
		for (size_t k = 0; k < old; k++)
			cr_assert_eq(b[k], 0x11, "%zu -> %zu: old byte %zu changed", from, to, k);
		size_t bad = first_nonzero(b + old, JE(sallocx)(q, 0) - old);
		cr_assert_eq(bad, SIZE_MAX, "%zu -> %zu: new byte %zu not zero", from, to, old + bad);
		JE(dallocx)(q, 0);
	}
}

Test(rallocx, moves_to_an_explicit_arena)
{
	unsigned a = arena_new_explicit();
	void *p = JE(mallocx)(300, 0);
	pattern_fill(p, 300, 7);
	void *q = JE(rallocx)(p, 400, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
	cr_assert_eq(arena_of(q), a);
	cr_assert_eq(pattern_mismatch(q, 300, 7), SIZE_MAX);
	JE(dallocx)(q, MALLOCX_TCACHE_NONE);
}

Test(rallocx, failure_leaves_the_block)
{
	void *p = JE(mallocx)(100, 0);
	pattern_fill(p, 100, 3);
	cr_assert_null(JE(rallocx)(p, opaque_size(SIZE_MAX), 0));
	cr_assert_null(JE(rallocx)(p, opaque_size(PTRDIFF_MAX), 0));
	cr_assert_eq(pattern_mismatch(p, 100, 3), SIZE_MAX);
	JE(dallocx)(p, 0);
}

/* ---- xallocx ---------------------------------------------------------------------- */

/* xallocx's contract: never moves, returns the real size, keeps the data. */
static size_t xalloc_checked(void *p, size_t size, size_t extra, int flags, size_t keep)
{
	size_t got = JE(xallocx)(p, size, extra, flags);
	cr_assert_eq(got, JE(sallocx)(p, 0), "xallocx returns the real size");
	cr_assert_eq(pattern_mismatch(p, MIN(keep, got), 9), SIZE_MAX, "data kept");
	return got;
}

Test(xallocx, small_blocks_stay)
{
	void *p = JE(mallocx)(100, 0);
	pattern_fill(p, 100, 9);
	size_t usable = JE(sallocx)(p, 0);
	cr_assert_eq(xalloc_checked(p, 100, 0, 0, 100), usable);
	cr_assert_eq(xalloc_checked(p, 5000, 0, 0, 100), usable, "cannot grow out of its class");
	cr_assert_eq(xalloc_checked(p, 10, 0, 0, 100), usable);
	JE(dallocx)(p, 0);
}

Test(xallocx, large_blocks_grow_and_shrink_in_place)
{
	/* A fresh arena: the pages after the block are free. */
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	void *p = JE(mallocx)(100000, flags);
	pattern_fill(p, 100000, 9);
	size_t grown = xalloc_checked(p, 300000, 0, 0, 100000);
	cr_assert_geq(grown, 300000, "free pages follow: it grows");
	cr_assert_eq(grown, JE(nallocx)(300000, 0));
	size_t with_extra = xalloc_checked(p, 300000, 500000, 0, 100000);
	cr_assert_geq(with_extra, 300000);
	cr_assert_leq(with_extra, JE(nallocx)(800000, 0));
	size_t shrunk = xalloc_checked(p, 50000, 0, 0, 50000);
	cr_assert_eq(shrunk, JE(nallocx)(50000, 0), "shrinks to the class of the new size");
	/* a neighbour right after it blocks growth */
	void *next = JE(mallocx)(200000, flags);
	cr_assert_eq((uintptr_t)next, (uintptr_t)p + shrunk, "the neighbour sits right after");
	cr_assert_eq(xalloc_checked(p, 150000, 0, 0, 50000), shrunk, "no room: unchanged");
	JE(dallocx)(next, MALLOCX_TCACHE_NONE);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	cr_assert_eq(ingot_check(), 0);
}

Test(xallocx, huge_blocks)
{
	void *p = JE(mallocx)(4 * MiB, 0);
	pattern_fill(p, 4 * MiB, 9);
	size_t got = xalloc_checked(p, 8 * MiB, 0, 0, 4 * MiB);
	cr_assert(got == 4 * MiB || got >= 8 * MiB, "all or nothing: %zu", got);
	got = xalloc_checked(p, 3 * MiB, 0, 0, 3 * MiB);
	cr_assert_eq(got, 3 * MiB, "huge blocks shrink in place");
	JE(dallocx)(p, 0);
}

Test(xallocx, zero_flag_zeroes_what_it_adds)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	void *dirty = JE(mallocx)(400000, flags);
	memset(dirty, 0xff, 400000);
	JE(dallocx)(dirty, MALLOCX_TCACHE_NONE);
	void *p = JE(mallocx)(100000, flags);
	cr_assert_eq(p, dirty, "the dirty pages come back");
	memset(p, 0x11, 100000);
	size_t got = JE(xallocx)(p, 300000, 0, MALLOCX_ZERO);
	cr_assert_geq(got, 300000);
	size_t old = JE(nallocx)(100000, 0);
	cr_assert_eq(first_nonzero((char *)p + old, got - old), SIZE_MAX);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
}

/* ---- sdallocx and dallocx ------------------------------------------------------------ */

Test(sdallocx, any_size_between_requested_and_usable)
{
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		size_t size = sizes[i];
		size_t usable = JE(nallocx)(size, 0);
		size_t step = MAX((usable - size) / 7, 1);
		for (size_t s = size; s <= usable; s += step) {
			void *p = JE(mallocx)(size, 0);
			JE(sdallocx)(p, s, 0);
		}
		void *p = JE(mallocx)(size, 0);
		JE(sdallocx)(p, usable, 0);
		/* with an alignment flag, as allocated */
		p = JE(mallocx)(size, MALLOCX_LG_ALIGN(8));
		JE(sdallocx)(p, size, MALLOCX_LG_ALIGN(8));
		p = JE(mallocx)(size, MALLOCX_TCACHE_NONE);
		JE(sdallocx)(p, size, MALLOCX_TCACHE_NONE);
	}
	cr_assert_eq(ingot_check(), 0);
}

struct sized_free {
	size_t size, given;
};

static void sdallocx_wrong_size(void *arg)
{
	struct sized_free *sf = arg;
	void *p = JE(mallocx)(sf->size, 0);
	JE(sdallocx)(p, opaque_size(sf->given), 0);
}

Test(sdallocx, a_size_outside_the_class_aborts)
{
	struct sized_free cases[] = {
	    {100, 16}, {100, 113}, {1000, 2000}, {20000, 100}, {100000, 200000}, {5 * MiB, 64},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char what[96];
		snprintf(what, sizeof(what), "sdallocx(mallocx(%zu), %zu)", cases[i].size,
		         cases[i].given);
		assert_aborts_with(sdallocx_wrong_size, &cases[i], "size mismatch", what);
	}
}

static void dallocx_foreign(void *arg)
{
	(void)arg;
	static char not_ours[64];
	JE(dallocx)(opaque_ptr(not_ours), 0);
}

static void dallocx_twice(void *arg)
{
	(void)arg;
	void *p = JE(mallocx)(300000, 0);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	JE(dallocx)(opaque_ptr(p), MALLOCX_TCACHE_NONE);
}

Test(dallocx, misuse_aborts)
{
	assert_aborts_with(dallocx_foreign, NULL, "foreign pointer", "dallocx of a static array");
	struct child_result r;
	run_in_child(dallocx_twice, NULL, &r);
	cr_assert(!r.exited && r.status == SIGABRT, "double dallocx: %s", r.err);
}

static void sdallocx_misaligned(void *arg)
{
	(void)arg;
	char *p = JE(mallocx)(48, 0);
	JE(sdallocx)(opaque_ptr(p + 8), 48, 0);
}

static void sdallocx_inside_with_a_cache(void *arg)
{
	int flags = *(int *)arg;
	char *p = JE(mallocx)(48, 0);
	JE(sdallocx)(opaque_ptr(p + 16), 48, flags);
}

static void sallocx_inside(void *arg)
{
	(void)arg;
	char *p = JE(mallocx)(48, 0);
	volatile size_t usable = JE(sallocx)(opaque_ptr(p + 16), 0); /* pure: kept by the use */
	(void)usable;
}

/* Pointers into small blocks: a misaligned one on sdallocx's fast path, an
 * interior one on its checked paths (any flag but an alignment), and
 * sallocx, which always checks in full. */
Test(sdallocx, pointers_inside_small_blocks_abort)
{
	assert_aborts_with(sdallocx_misaligned, NULL, "invalid pointer", "sdallocx(small + 8)");
	int flags[] = {MALLOCX_TCACHE_NONE, MALLOCX_ZERO};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		assert_aborts_with(sdallocx_inside_with_a_cache, &flags[i], "invalid pointer",
		                   "sdallocx(small + 16, flags)");
	assert_aborts_with(sallocx_inside, NULL, "invalid pointer", "sallocx(small + 16)");
}

Test(dallocx, every_flag_combination)
{
	unsigned a = arena_new_explicit(), tc;
	ctl_get("tcache.create", &tc, sizeof(tc));
	int alloc_flags[] = {0, MALLOCX_TCACHE_NONE, MALLOCX_TCACHE(tc), MALLOCX_ARENA(a),
	                     MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE};
	int free_flags[] = {0, MALLOCX_TCACHE_NONE, MALLOCX_TCACHE(tc), MALLOCX_ARENA(a)};
	for (size_t i = 0; i < ARRAY_LEN(alloc_flags); i++)
		for (size_t j = 0; j < ARRAY_LEN(free_flags); j++)
			for (size_t k = 0; k < ARRAY_LEN(sizes); k += 2) {
				void *p = JE(mallocx)(sizes[k], alloc_flags[i]);
				cr_assert_not_null(p);
				if (k % 4 == 0)
					JE(dallocx)(p, free_flags[j]);
				else
					JE(sdallocx)(p, sizes[k], free_flags[j]);
			}
	ctl_set("tcache.flush", &tc, sizeof(tc));
	ctl_do("thread.tcache.flush");
	cr_assert_eq(ingot_check(), 0);
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.small.allocated", a)), 0,
	             "everything went home");
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.large.allocated", a)), 0);
}
