/*
 * test_api.c — the contract of the standard C allocation functions, case by
 * case, as a program sees it.
 *
 * Built twice (mk/tests.mk): with API_PREFIXED=1 the tests call ingot_malloc,
 * ingot_free, ... (lib/libingot-prefixed.a); with API_PREFIXED=0 they call
 * malloc, free, ... and the binary links lib/libingot.a, so that Criterion and
 * libc run on ingot as well. Only the public headers are used.
 *
 * Misuse tests run the misuse in a child process and expect SIGABRT after
 * ingot's one-line report on stderr.
 */
#include "helpers.h"

#include <malloc.h>
#include <stddef.h>
#include <sys/mman.h>

#include "ingot.h"

#if API_PREFIXED
#define API(name) ingot_##name
#else
#define API(name) name
/* C23 names; glibc declares them only from 2.40 on. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static size_t os_page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* Allocates, checks and frees; fills the whole usable size. */
static void assert_usable_block(void *p, size_t size, size_t align, const char *what)
{
	cr_assert_not_null(p, "%s: NULL for size %zu", what, size);
	cr_assert_eq((uintptr_t)p % align, 0, "%s: %p not aligned to %zu (size %zu)", what, p,
	             align, size);
	size_t usable = API(malloc_usable_size)(p);
	cr_assert_geq(usable, size, "%s: usable %zu < size %zu", what, usable, size);
	memset(p, 0xa7, usable);
}

/* ---- linkage ------------------------------------------------------------- */

Test(api, names_resolve_to_ingot)
{
	/* ingot_malloc_usable_size aborts on a pointer ingot did not hand out,
	 * so this fails loudly if API(malloc) were libc's. */
	void *p = API(malloc)(100);
	cr_assert_not_null(p);
	size_t usable = ingot_malloc_usable_size(p);
	cr_assert_geq(usable, 100);
	cr_assert_eq(API(malloc_usable_size)(p), usable);
	API(free)(p);
	p = ingot_malloc(100);
	cr_assert_eq(API(malloc_usable_size)(p), ingot_malloc_usable_size(p));
	API(free)(p);
}

/* ---- malloc, free, usable size ------------------------------------------- */

Test(api, malloc_every_small_size_is_aligned_and_usable)
{
	for (size_t size = 0; size <= 20000; size++) {
		void *p = API(malloc)(size);
		assert_usable_block(p, size, 16, "malloc");
		API(free)(p);
	}
	const size_t big[] = {32 * KiB, 100 * KiB, 1 * MiB, 2 * MiB, 2 * MiB + 1, 5 * MiB + 3};
	for (size_t i = 0; i < ARRAY_LEN(big); i++) {
		void *p = API(malloc)(big[i]);
		assert_usable_block(p, big[i], 16, "malloc (large)");
		API(free)(p);
	}
}

Test(api, malloc_zero_gives_unique_freeable_blocks)
{
	void *p[64];
	for (int i = 0; i < 64; i++) {
		p[i] = API(malloc)(opaque_size(0));
		cr_assert_not_null(p[i], "malloc(0) returned NULL");
		for (int j = 0; j < i; j++)
			cr_assert_neq(p[i], p[j], "malloc(0) returned the same block twice");
	}
	for (int i = 0; i < 64; i++)
		API(free)(p[i]);
}

Test(api, blocks_never_overlap)
{
	enum { N = 3000 };
	static void *p[N];
	static size_t size[N];
	uint64_t rng = 42;
	for (int i = 0; i < N; i++) {
		size[i] = rng_below(&rng, 8) ? rng_below(&rng, 2048) : rng_below(&rng, 200 * KiB);
		p[i] = API(malloc)(size[i]);
		cr_assert_not_null(p[i]);
		pattern_fill(p[i], API(malloc_usable_size)(p[i]), (uint64_t)i + 1);
	}
	for (int i = 0; i < N; i++) {
		size_t bad = pattern_mismatch(p[i], API(malloc_usable_size)(p[i]), (uint64_t)i + 1);
		cr_assert_eq(bad, SIZE_MAX, "block %d (%zu bytes) overwritten at byte %zu", i, size[i],
		             bad);
	}
	for (int i = 0; i < N; i++)
		API(free)(p[i]);
}

Test(api, usable_size_is_writable_to_the_end)
{
	/* Neighbours filled after p must not reach into p's usable bytes. */
	const size_t sizes[] = {1, 15, 16, 17, 100, 1000, 4000, 16384, 16385, 70000, 2 * MiB + 5};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		void *p = API(malloc)(sizes[i]);
		size_t usable = API(malloc_usable_size)(p);
		cr_assert_geq(usable, sizes[i]);
		pattern_fill(p, usable, 7);
		void *n[8];
		for (int k = 0; k < 8; k++) {
			n[k] = API(malloc)(sizes[i]);
			memset(n[k], 0xee, API(malloc_usable_size)(n[k]));
		}
		cr_assert_eq(pattern_mismatch(p, usable, 7), SIZE_MAX,
		             "usable bytes of a %zu-byte block overlap a neighbour", sizes[i]);
		for (int k = 0; k < 8; k++)
			API(free)(n[k]);
		API(free)(p);
	}
	cr_assert_eq(API(malloc_usable_size)(NULL), 0);
}

Test(api, free_null_is_a_no_op)
{
	API(free)(NULL);
	API(free_sized)(NULL, 0);
	API(free_sized)(NULL, 100);
	API(free_aligned_sized)(NULL, 64, 100);
}

/* ---- calloc -------------------------------------------------------------- */

Test(api, calloc_overflow_fails_with_enomem)
{
	const size_t pairs[][2] = {
	    {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {(size_t)1 << 32, (size_t)1 << 32},
	    {SIZE_MAX, SIZE_MAX},  {SIZE_MAX, 2},
	};
	for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
		errno = 0;
		void *p = API(calloc)(opaque_size(pairs[i][0]), opaque_size(pairs[i][1]));
		cr_assert_null(p, "calloc(%zu, %zu) should overflow", pairs[i][0], pairs[i][1]);
		cr_assert_eq(errno, ENOMEM, "calloc(%zu, %zu): errno %d", pairs[i][0], pairs[i][1],
		             errno);
	}
}

Test(api, calloc_zeroes_fresh_and_reused_memory)
{
	const size_t sizes[] = {1, 16, 17, 100, 1000, 4096, 10000, 16384, 16385,
	                        100 * KiB, 1 * MiB, 2 * MiB, 2 * MiB + 1, 8 * MiB};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		size_t size = sizes[i];
		for (int round = 0; round < 3; round++) {
			/* Dirty a block of the same size first, so that calloc is
			 * likely to get those very bytes back. */
			void *d = API(malloc)(size);
			cr_assert_not_null(d);
			memset(d, 0xff, API(malloc_usable_size)(d));
			API(free)(d);
			uint8_t *p = API(calloc)(1, size);
			cr_assert_not_null(p, "calloc(1, %zu) failed", size);
			size_t nz = first_nonzero(p, size);
			cr_assert_eq(nz, SIZE_MAX, "calloc(1, %zu): byte %zu is %#x", size, nz, p[nz]);
			memset(p, 0xff, size);
			API(free)(p);
		}
		/* count * size form, for the same total. */
		uint8_t *q = API(calloc)(size, 1);
		cr_assert_eq(first_nonzero(q, size), SIZE_MAX, "calloc(%zu, 1) not zeroed", size);
		API(free)(q);
	}
}

Test(api, calloc_zero_size_gives_a_freeable_block)
{
	void *a = API(calloc)(0, 10), *b = API(calloc)(10, 0), *c = API(calloc)(0, 0);
	cr_assert(a && b && c, "calloc with a zero factor returned NULL");
	cr_assert(a != b && b != c && a != c);
	API(free)(a);
	API(free)(b);
	API(free)(c);
}

/* ---- sizes that cannot be served ------------------------------------------ */

Test(api, impossible_sizes_fail_with_enomem)
{
	const size_t sizes[] = {SIZE_MAX,         SIZE_MAX - 4095,        (size_t)PTRDIFF_MAX,
	                        (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX - 4095,
	                        (size_t)1 << 62,  (size_t)1 << 56};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		size_t s = opaque_size(sizes[i]);
		errno = 0;
		cr_assert_null(API(malloc)(s), "malloc(%zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d", s, errno);
		errno = 0;
		cr_assert_null(API(calloc)(1, s), "calloc(1, %zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "calloc(1, %zu): errno %d", s, errno);
		errno = 0;
		cr_assert_null(API(aligned_alloc)(64, s), "aligned_alloc(64, %zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "aligned_alloc(64, %zu): errno %d", s, errno);
		errno = 0;
		cr_assert_null(API(memalign)(4096, s), "memalign(4096, %zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "memalign: errno %d", errno);
		errno = 0;
		cr_assert_null(API(valloc)(s), "valloc(%zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "valloc: errno %d", errno);
		errno = 0;
		cr_assert_null(API(pvalloc)(s), "pvalloc(%zu) succeeded", s);
		cr_assert_eq(errno, ENOMEM, "pvalloc: errno %d", errno);
		void *out = (void *)0x1234;
		cr_assert_eq(API(posix_memalign)(&out, 64, s), ENOMEM, "posix_memalign(%zu)", s);
		cr_assert_eq(out, (void *)0x1234, "posix_memalign changed *out on failure");
	}
}

Test(api, realloc_to_an_impossible_size_keeps_the_block)
{
	const size_t start[] = {100, 100 * KiB, 4 * MiB};
	const size_t sizes[] = {SIZE_MAX, (size_t)PTRDIFF_MAX, (size_t)1 << 62};
	for (size_t i = 0; i < ARRAY_LEN(start); i++) {
		for (size_t j = 0; j < ARRAY_LEN(sizes); j++) {
			void *p = API(malloc)(start[i]);
			pattern_fill(p, start[i], 99);
			errno = 0;
			void *q = API(realloc)(opaque_ptr(p), opaque_size(sizes[j]));
			cr_assert_null(q, "realloc(p, %zu) succeeded", sizes[j]);
			cr_assert_eq(errno, ENOMEM);
			cr_assert_eq(pattern_mismatch(p, start[i], 99), SIZE_MAX,
			             "failed realloc changed the block");
			cr_assert_geq(API(malloc_usable_size)(p), start[i]);
			API(free)(p);
		}
	}
}

Test(api, reallocarray_overflow_keeps_the_block)
{
	void *p = API(malloc)(64);
	pattern_fill(p, 64, 5);
	errno = 0;
	cr_assert_null(API(reallocarray)(opaque_ptr(p), opaque_size(SIZE_MAX / 2 + 1), 2));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(API(reallocarray)(opaque_ptr(p), (size_t)1 << 33, opaque_size((size_t)1 << 33)));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(pattern_mismatch(p, 64, 5), SIZE_MAX, "failed reallocarray changed the block");
	errno = 0;
	cr_assert_null(API(reallocarray)(NULL, opaque_size(SIZE_MAX), 3), "NULL, overflow");
	cr_assert_eq(errno, ENOMEM);

	void *q = API(reallocarray)(p, 100, 30);
	cr_assert_not_null(q);
	cr_assert_geq(API(malloc_usable_size)(q), 3000);
	cr_assert_eq(pattern_mismatch(q, 64, 5), SIZE_MAX, "reallocarray lost the contents");
	API(free)(q);
	q = API(reallocarray)(NULL, 10, 10);
	cr_assert_not_null(q);
	cr_assert_geq(API(malloc_usable_size)(q), 100);
	API(free)(q);
}

/* ---- aligned allocation ----------------------------------------------------- */

Test(api, posix_memalign_rejects_bad_alignments)
{
	const size_t bad[] = {0, 1, 2, 3, sizeof(void *) / 2, 24, 48, 4097, SIZE_MAX};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		void *out = (void *)0x5678;
		int err = API(posix_memalign)(&out, opaque_size(bad[i]), 100);
		cr_assert_eq(err, EINVAL, "posix_memalign(align %zu) returned %d", bad[i], err);
		cr_assert_eq(out, (void *)0x5678, "posix_memalign(align %zu) changed *out", bad[i]);
	}
}

Test(api, aligned_alloc_rejects_non_powers_of_two)
{
	const size_t bad[] = {0, 3, 24, 48, 4097, SIZE_MAX};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		errno = 0;
		void *p = API(aligned_alloc)(opaque_size(bad[i]), 10);
		cr_assert_null(p, "aligned_alloc(%zu, 10) succeeded", bad[i]);
		cr_assert_eq(errno, EINVAL, "aligned_alloc(%zu, 10): errno %d", bad[i], errno);
	}
}

/* Sizes tried at every alignment: tiny, odd, a page run, and (while it stays
 * cheap) the alignment itself. */
static size_t aligned_sizes(size_t align, size_t out[5])
{
	size_t n = 0;
	out[n++] = 1;
	out[n++] = 100;
	out[n++] = 5000;
	out[n++] = 100000;
	if (align <= 4 * MiB)
		out[n++] = align;
	return n;
}

Test(api, aligned_alloc_every_power_of_two_up_to_1GiB, .timeout = 60)
{
	for (size_t align = 1; align <= GiB; align *= 2) {
		size_t sizes[5], n = aligned_sizes(align, sizes);
		for (size_t i = 0; i < n; i++) {
			void *p = API(aligned_alloc)(align, sizes[i]);
			assert_usable_block(p, sizes[i], align, "aligned_alloc");
			API(free_aligned_sized)(p, align, sizes[i]);
		}
	}
}

Test(api, posix_memalign_every_power_of_two_up_to_1GiB, .timeout = 60)
{
	for (size_t align = sizeof(void *); align <= GiB; align *= 2) {
		size_t sizes[5], n = aligned_sizes(align, sizes);
		for (size_t i = 0; i < n; i++) {
			void *p = NULL;
			int err = API(posix_memalign)(&p, align, sizes[i]);
			cr_assert_eq(err, 0, "posix_memalign(%zu, %zu) returned %d", align, sizes[i], err);
			assert_usable_block(p, sizes[i], align, "posix_memalign");
			API(free)(p);
		}
	}
	void *p = (void *)0x1;
	cr_assert_eq(API(posix_memalign)(&p, 64, 0), 0, "size 0 is allowed");
	API(free)(p); /* NULL or a unique block: either may be freed */
}

Test(api, aligned_blocks_do_not_overlap)
{
	enum { N = 400 };
	void *p[N];
	size_t size[N];
	uint64_t rng = 77;
	for (int i = 0; i < N; i++) {
		size_t align = (size_t)1 << rng_below(&rng, 17);
		size[i] = 1 + rng_below(&rng, 20000);
		p[i] = API(aligned_alloc)(align, size[i]);
		cr_assert_not_null(p[i]);
		cr_assert_eq((uintptr_t)p[i] % align, 0);
		pattern_fill(p[i], size[i], (uint64_t)i);
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pattern_mismatch(p[i], size[i], (uint64_t)i), SIZE_MAX,
		             "aligned block %d overwritten", i);
		API(free)(p[i]);
	}
}

Test(api, memalign_rounds_alignment_up_to_a_power_of_two)
{
	for (size_t align = 1; align <= 16 * MiB; align *= 2) {
		void *p = API(memalign)(align, 300);
		assert_usable_block(p, 300, align, "memalign");
		API(free)(p);
	}
	const size_t odd[][2] = {{0, 1}, {3, 4}, {24, 32}, {100, 128}, {4097, 8192}};
	for (size_t i = 0; i < ARRAY_LEN(odd); i++) {
		void *p = API(memalign)(odd[i][0], 50);
		assert_usable_block(p, 50, odd[i][1], "memalign (non-power-of-two)");
		API(free)(p);
	}
}

Test(api, valloc_and_pvalloc_give_whole_pages)
{
	size_t page = os_page();
	const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 100000, 3 * MiB};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		void *v = API(valloc)(sizes[i]);
		assert_usable_block(v, sizes[i], page, "valloc");
		API(free)(v);
		void *pv = API(pvalloc)(sizes[i]);
		size_t want = sizes[i] ? (sizes[i] + page - 1) / page * page : page;
		assert_usable_block(pv, want, page, "pvalloc");
		API(free)(pv);
	}
	void *z = API(pvalloc)(0);
	cr_assert_geq(API(malloc_usable_size)(z), page, "pvalloc(0) gives a whole page");
	API(free)(z);
}

/* ---- realloc --------------------------------------------------------------- */

Test(api, realloc_preserves_contents_across_small_large_huge)
{
	const size_t steps[] = {10,          100,         1000,        16384,       16385,
	                        100 * KiB,   2 * MiB,     2 * MiB + 1, 5 * MiB,     12 * MiB,
	                        3 * MiB,     1 * MiB,     20000,       5000,        17,
	                        1,           300 * KiB,   64,          9 * MiB,     100};
	size_t size = steps[0];
	uint8_t *p = API(malloc)(size);
	pattern_fill(p, size, 1);
	for (size_t i = 1; i < ARRAY_LEN(steps); i++) {
		size_t next = steps[i];
		uint8_t *q = API(realloc)(p, next);
		cr_assert_not_null(q, "realloc %zu -> %zu failed", size, next);
		cr_assert_eq((uintptr_t)q % 16, 0);
		cr_assert_geq(API(malloc_usable_size)(q), next);
		size_t keep = size < next ? size : next;
		size_t bad = pattern_mismatch(q, keep, i);
		cr_assert_eq(bad, SIZE_MAX, "realloc %zu -> %zu lost byte %zu", size, next, bad);
		pattern_fill(q, next, i + 1);
		p = q;
		size = next;
	}
	API(free)(p);
}

Test(api, realloc_null_is_malloc)
{
	const size_t sizes[] = {0, 1, 100, 20000, 3 * MiB};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		void *p = API(realloc)(NULL, sizes[i]);
		assert_usable_block(p, sizes[i], 16, "realloc(NULL, n)");
		API(free)(p);
	}
}

Test(api, realloc_to_zero_frees_and_returns_null)
{
	/* glibc's behaviour, ingot's default (opt zero_realloc:free). The block
	 * must really be gone: `allocated` drops by its size. */
	const size_t sizes[] = {100, 100 * KiB, 8 * MiB};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		void *p = API(malloc)(sizes[i]);
		cr_assert_not_null(p);
		struct ingot_stats before, after;
		ingot_stats_get(&before);
		void *q = API(realloc)(p, opaque_size(0));
		ingot_stats_get(&after);
		cr_assert_null(q, "realloc(p, 0) returned a block");
		if (INGOT_STATS && sizes[i] > 16 * KiB)
			cr_assert(before.allocated >= after.allocated + sizes[i],
			              "realloc(p, 0) of %zu bytes did not free it (%zu -> %zu)",
			              sizes[i], before.allocated, after.allocated);
	}
}

Test(api, realloc_within_the_usable_size_keeps_the_block)
{
	void *p = API(malloc)(100); /* 112-byte class */
	size_t usable = API(malloc_usable_size)(p);
	cr_assert_eq(API(realloc)(p, usable), p, "growing within the usable size moved it");
	cr_assert_eq(API(realloc)(p, 97), p, "shrinking within the class moved it");
	API(free)(p);
}

Test(api, realloc_in_every_small_class_keeps_the_block_until_it_outgrows_it)
{
	/* A string grown a byte at a time through every small class: each
	 * realloc within the usable size returns the block itself, the first
	 * one past it moves to the next class, and the bytes written so far
	 * are kept all the way. */
	size_t len = 1;
	uint8_t *p = API(malloc)(len);
	p[0] = 0x5a;
	while (len < 16 * KiB) {
		size_t usable = API(malloc_usable_size)(p);
		uint8_t *q = API(realloc)(p, len + 1);
		cr_assert_not_null(q, "realloc to %zu failed", len + 1);
		if (len + 1 <= usable)
			cr_assert_eq(q, p, "realloc %zu -> %zu moved within %zu usable bytes", len, len + 1, usable);
		else
			cr_assert_gt(API(malloc_usable_size)(q), usable, "outgrown class kept at %zu", len + 1);
		cr_assert_geq(API(malloc_usable_size)(q), len + 1);
		q[len] = (uint8_t)(len * 7 + 3);
		p = q;
		len++;
	}
	cr_assert_eq(p[0], 0x5a);
	for (size_t i = 1; i < len; i++)
		cr_assert_eq(p[i], (uint8_t)(i * 7 + 3), "byte %zu lost", i);
	API(free)(p);
}

Test(api, large_realloc_growth_preserves_contents)
{
	/* Growing in place is likely (the pages after it are free) but not
	 * promised; the contents are. */
	void *p = API(malloc)(100 * KiB);
	pattern_fill(p, 100 * KiB, 3);
	void *q = API(realloc)(p, 110 * KiB);
	cr_assert_not_null(q);
	cr_assert_eq(pattern_mismatch(q, 100 * KiB, 3), SIZE_MAX);
	memset((char *)q + 100 * KiB, 1, 10 * KiB);
	void *r = API(realloc)(q, 60 * KiB);
	cr_assert_not_null(r);
	cr_assert_eq(pattern_mismatch(r, 60 * KiB, 3), SIZE_MAX);
	API(free)(r);
}

Test(api, huge_realloc_shrink_never_moves)
{
	size_t keep = 2 * MiB + 1;
	uint8_t *p = API(malloc)(16 * MiB);
	cr_assert_not_null(p);
	pattern_fill(p, keep, 11);
	memset(p + keep, 0x3c, 16 * MiB - keep);
	const size_t sizes[] = {15 * MiB, 9 * MiB, 4 * MiB + 1, 3 * MiB, keep};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		uint8_t *q = API(realloc)(p, sizes[i]);
		cr_assert_eq(q, p, "huge shrink to %zu moved the block", sizes[i]);
		cr_assert_geq(API(malloc_usable_size)(q), sizes[i]);
		cr_assert_eq(pattern_mismatch(q, keep, 11), SIZE_MAX);
	}
	/* Growing back may move or not; the contents stay either way. */
	uint8_t *g = API(realloc)(p, 10 * MiB);
	cr_assert_not_null(g);
	cr_assert_eq(pattern_mismatch(g, keep, 11), SIZE_MAX);
	memset(g, 0, 10 * MiB);
	API(free)(g);
}

/* ---- sized frees ------------------------------------------------------------- */

Test(api, free_sized_with_the_requested_size)
{
	uint64_t rng = 9;
	for (int i = 0; i < 20000; i++) {
		size_t size = rng_below(&rng, 4) ? rng_below(&rng, 20000) : rng_below(&rng, 3 * MiB);
		void *p = API(malloc)(size);
		cr_assert_not_null(p);
		API(free_sized)(p, size);
	}
}

Test(api, free_aligned_sized_with_the_requested_alignment_and_size)
{
	for (size_t align = 1; align <= 8 * MiB; align *= 2) {
		const size_t sizes[] = {1, 64, 1000, 30000};
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
			void *p = API(aligned_alloc)(align, sizes[i]);
			cr_assert_not_null(p);
			API(free_aligned_sized)(p, align, sizes[i]);
		}
	}
}

/* ---- heap profiling: ingot_prof_* ------------------------------------------ */

static int ctl_write(const char *name, void *value, size_t len)
{
	return ingot_mallctl(name, NULL, NULL, value, len);
}

/* Without prof:true the calls answer as mallctl does, with the codes of
 * Debian's jemalloc 5.3 (built with profiling, started without prof:true):
 * prof.active true ENOENT, false 0; prof.dump ENOENT with a path or NULL.
 * prof.dump_pprof, ingot's own, answers as prof.dump. No file is written. */
Test(api, prof_calls_without_prof_answer_as_jemalloc)
{
	char dir[] = "/tmp/ingot-prof-off-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[sizeof dir + 16];
	snprintf(path, sizeof path, "%s/x.heap", dir);
	const char *cpath = path, *none = NULL;
	bool on = true, off = false;

	cr_assert_eq(ingot_prof_activate(true), ENOENT);
	cr_assert_eq(ctl_write("prof.active", &on, sizeof on), ENOENT);
	cr_assert_eq(ingot_prof_activate(false), 0);
	cr_assert_eq(ctl_write("prof.active", &off, sizeof off), 0);
	cr_assert_eq(ingot_prof_dump(path), ENOENT);
	cr_assert_eq(ctl_write("prof.dump", &cpath, sizeof cpath), ENOENT);
	cr_assert_eq(ingot_prof_dump(NULL), ENOENT);
	cr_assert_eq(ctl_write("prof.dump", &none, sizeof none), ENOENT);
	cr_assert_eq(ingot_prof_dump_pprof(path), ENOENT);
	cr_assert_eq(ctl_write("prof.dump_pprof", &cpath, sizeof cpath), ENOENT);
	cr_assert_eq(rmdir(dir), 0, "a file was written in %s", dir);
}

#if API_PREFIXED
/* The first line of a file, without its newline ("" if unreadable). */
static void first_line(const char *path, char *line, size_t size)
{
	line[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(line, (int)size, f) != NULL)
		line[strcspn(line, "\n")] = '\0';
	fclose(f);
}

/* With prof:true (read at ingot's first call: only the prefixed build,
 * where nothing but the test calls ingot). */
Test(api, prof_calls_with_prof_on_switch_and_dump)
{
	char dir[] = "/tmp/ingot-prof-on-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char conf[sizeof dir + 40], named[sizeof dir + 16], pprof[sizeof dir + 16];
	char automatic[sizeof dir + 48], line[64];
	snprintf(conf, sizeof conf, "prof:true,prof_prefix:%s/p", dir);
	snprintf(named, sizeof named, "%s/x.heap", dir);
	snprintf(pprof, sizeof pprof, "%s/x.pprof", dir);
	snprintf(automatic, sizeof automatic, "%s/p.%d.0.m0.heap", dir, (int)getpid());
	setenv("INGOT_CONF", conf, 1);
	void *p = ingot_malloc(4 * MiB);
	bool active = false;
	size_t len = sizeof active;

	cr_assert_eq(ingot_prof_activate(false), 0);
	cr_assert_eq(ingot_mallctl("prof.active", &active, &len, NULL, 0), 0);
	cr_assert(!active, "prof.active still true after ingot_prof_activate(false)");
	cr_assert_eq(ingot_prof_activate(true), 0);
	cr_assert_eq(ingot_mallctl("prof.active", &active, &len, NULL, 0), 0);
	cr_assert(active, "prof.active false after ingot_prof_activate(true)");

	cr_assert_eq(ingot_prof_dump(named), 0);
	first_line(named, line, sizeof line);
	cr_assert_eq(strncmp(line, "heap_v2/", 8), 0, "prof.dump file starts '%s'", line);
	cr_assert_eq(ingot_prof_dump(NULL), 0);
	first_line(automatic, line, sizeof line);
	cr_assert_eq(strncmp(line, "heap_v2/", 8), 0, "%s starts '%s'", automatic, line);
	cr_assert_eq(ingot_prof_dump_pprof(pprof), 0);
	first_line(pprof, line, sizeof line);
	cr_assert_eq(strncmp(line, "heap profile:", 13), 0, "pprof file starts '%s'", line);
	/* jemalloc answers EFAULT when the file cannot be opened. */
	cr_assert_eq(ingot_prof_dump("/nonexistent-ingot-dir/x.heap"), EFAULT);

	ingot_free(p);
	cr_assert_eq(unlink(named), 0);
	cr_assert_eq(unlink(automatic), 0);
	cr_assert_eq(unlink(pprof), 0);
	cr_assert_eq(rmdir(dir), 0, "other files were written in %s", dir);
}
#endif

/* ---- misuse: one report line, then SIGABRT ---------------------------------- */

static void free_stack_pointer(void *arg)
{
	(void)arg;
	char buf[64];
	API(free)(opaque_ptr(buf));
}

static void free_mmap_pointer(void *arg)
{
	(void)arg;
	void *m = mmap(NULL, 1 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	API(free)((char *)m + 4096);
}

static void free_inside_large_block(void *arg)
{
	size_t offset = *(size_t *)arg;
	char *p = API(malloc)(100 * KiB);
	API(free)(opaque_ptr(p + offset));
}

static void free_inside_huge_block(void *arg)
{
	size_t offset = *(size_t *)arg;
	char *p = API(malloc)(8 * MiB);
	API(free)(opaque_ptr(p + offset));
}

static void free_inside_small_block_then_flush(void *arg)
{
	(void)arg;
	char *p = API(malloc)(64);
	API(free)(opaque_ptr(p + 16));
	ingot_thread_flush(); /* at the latest the bin sees it */
}

static void double_free_small_in_a_row(void *arg)
{
	(void)arg;
	void *p = API(malloc)(48);
	API(free)(p);
	API(free)(opaque_ptr(p));
}

static void double_free_small_later(void *arg)
{
	(void)arg;
	void *p = API(malloc)(48), *q = API(malloc)(48);
	API(free)(p);
	API(free)(q);
	API(free)(opaque_ptr(p)); /* not on top of the cache: caught at the bin */
	ingot_thread_flush();
}

static void double_free_large(void *arg)
{
	(void)arg;
	/* Guards on both sides keep the freed span from merging, so its
	 * record still starts at p. */
	void *g1 = API(malloc)(64 * KiB);
	void *p = API(malloc)(100 * KiB);
	void *g2 = API(malloc)(64 * KiB);
	API(free)(p);
	API(free)(opaque_ptr(p));
	API(free)(g1);
	API(free)(g2);
}

static void double_free_huge(void *arg)
{
	(void)arg;
	void *p = API(malloc)(8 * MiB);
	API(free)(p);
	API(free)(opaque_ptr(p));
}

/* Frees pointers 8 bytes into a 48-byte block, 16 into a 64-byte one and 32
 * into a 128-byte one: none has the alignment of its class's objects. */
static void free_misaligned_small_pointer(void *arg)
{
	size_t size = *(size_t *)arg;
	char *p = API(malloc)(size);
	API(free)(opaque_ptr(p + (size == 48 ? 8 : size / 4)));
}

/* A pointer 16 bytes into a 48-byte block has the class's alignment: it
 * passes the free fast path, and the cache's check finds it when the cache
 * gives it back to its slab, here at the normal exit of the process. */
static void free_inside_small_block_then_exit(void *arg)
{
	(void)arg;
	char *p = API(malloc)(48);
	API(free)(opaque_ptr(p + 16));
	exit(0);
}

static void double_free_small_under_others(void *arg)
{
	(void)arg;
	void *p = API(malloc)(48), *q = API(malloc)(48);
	API(free)(p);
	API(free)(q);
	API(free)(opaque_ptr(p)); /* the mark sends it to the bin's check */
	_exit(0);                 /* no flush: the free itself must see it */
}

/* The first free is long gone to the slab (thousands of frees of the
 * class since) when the second comes. Its neighbour stays live, so that
 * the slab does too (a pointer into a slab given back is no block at all:
 * "invalid pointer"). */
static void double_free_small_late(void *arg)
{
	(void)arg;
	enum { N = 5000 };
	static void *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = API(malloc)(48);
	for (int i = 0; i < N; i++)
		if (i != N / 2 + 1)
			API(free)(blocks[i]);
	API(free)(opaque_ptr(blocks[N / 2]));
	_exit(0);
}

static void *free_in_thread(void *p)
{
	API(free)(p);
	return NULL;
}

/* Two threads free one block: each cache holds it once, so neither free
 * can see the other's. The second cache to give it back to the slab finds
 * it free there: the thread's own exit, then the process's. */
static void double_free_small_across_threads(void *arg)
{
	(void)arg;
	void *p = API(malloc)(48);
	pthread_t t;
	pthread_create(&t, NULL, free_in_thread, p);
	pthread_join(t, NULL);
	API(free)(opaque_ptr(p));
	exit(0);
}

static void realloc_inside_small_block(void *arg)
{
	(void)arg;
	char *p = API(malloc)(48);
	void *volatile sink = API(realloc)(opaque_ptr(p + 16), 100);
	(void)sink;
}

static void usable_size_inside_small_block(void *arg)
{
	(void)arg;
	char *p = API(malloc)(48);
	API(malloc_usable_size)(opaque_ptr(p + 16));
}

static void realloc_zero_then_free(void *arg)
{
	(void)arg;
	void *p = API(malloc)(40);
	if (API(realloc)(p, opaque_size(0)) == NULL)
		API(free)(opaque_ptr(p));
}

struct sized_free {
	size_t alloc_size, align, free_size, free_align;
};

static void free_sized_wrong(void *arg)
{
	struct sized_free *s = arg;
	void *p = s->align ? API(aligned_alloc)(s->align, s->alloc_size) : API(malloc)(s->alloc_size);
	if (s->free_align)
		API(free_aligned_sized)(p, s->free_align, s->free_size);
	else
		API(free_sized)(p, s->free_size);
}

static void realloc_stack_pointer(void *arg)
{
	(void)arg;
	char buf[64];
	void *volatile sink = API(realloc)(opaque_ptr(buf), 100);
	(void)sink;
}

static void usable_size_of_stack_pointer(void *arg)
{
	(void)arg;
	char buf[64];
	API(malloc_usable_size)(opaque_ptr(buf));
}

static void usable_size_inside_large_block(void *arg)
{
	(void)arg;
	char *p = API(malloc)(100 * KiB);
	API(malloc_usable_size)(opaque_ptr(p + 8192));
}

Test(api_misuse, free_of_a_stack_pointer)
{
	assert_aborts_with(free_stack_pointer, NULL, "foreign pointer", "free(stack)");
}

Test(api_misuse, free_of_an_mmap_pointer)
{
	assert_aborts_with(free_mmap_pointer, NULL, "foreign pointer", "free(mmap'd)");
}

Test(api_misuse, free_inside_a_large_block)
{
	size_t offsets[] = {16, 4096, 100 * KiB - 16};
	for (size_t i = 0; i < ARRAY_LEN(offsets); i++)
		assert_aborts_with(free_inside_large_block, &offsets[i], "invalid pointer",
		                   "free(large + offset)");
}

Test(api_misuse, free_inside_a_huge_block)
{
	size_t offsets[] = {16, 4096, 5 * MiB};
	for (size_t i = 0; i < ARRAY_LEN(offsets); i++)
		assert_aborts_with(free_inside_huge_block, &offsets[i], "invalid pointer",
		                   "free(huge + offset)");
}

Test(api_misuse, free_inside_a_small_block_is_caught_by_the_bin)
{
	assert_aborts_with(free_inside_small_block_then_flush, NULL, "invalid pointer",
	                   "free(small + 16), flush");
}

Test(api_misuse, free_of_a_misaligned_small_pointer_on_the_call)
{
	size_t sizes[] = {48, 64, 128};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
		assert_aborts_with(free_misaligned_small_pointer, &sizes[i], "invalid pointer",
		                   "free(small + misaligned offset)");
}

Test(api_misuse, free_inside_a_small_block_is_caught_at_exit)
{
	assert_aborts_with(free_inside_small_block_then_exit, NULL, "invalid pointer",
	                   "free(small + 16), exit");
}

Test(api_misuse, double_free_of_a_small_block_under_others_on_the_call)
{
	assert_aborts_with(double_free_small_under_others, NULL, "double free",
	                   "free(p); free(q); free(p)");
}

Test(api_misuse, late_double_free_of_a_small_block_on_the_call)
{
	assert_aborts_with(double_free_small_late, NULL, "double free",
	                   "free(p), 5000 frees, free(p)");
}

Test(api_misuse, double_free_from_two_threads_is_caught_at_exit)
{
	assert_aborts_with(double_free_small_across_threads, NULL, "double free",
	                   "free(p) in a thread, free(p), exit");
}

Test(api_misuse, realloc_inside_a_small_block)
{
	assert_aborts_with(realloc_inside_small_block, NULL, "invalid pointer", "realloc(small + 16)");
}

Test(api_misuse, malloc_usable_size_inside_a_small_block)
{
	assert_aborts_with(usable_size_inside_small_block, NULL, "invalid pointer",
	                   "malloc_usable_size(small + 16)");
}

Test(api_misuse, double_free_of_a_small_block_in_a_row)
{
	assert_aborts_with(double_free_small_in_a_row, NULL, "double free", "free(p); free(p)");
}

Test(api_misuse, double_free_of_a_small_block_is_caught_by_the_bin)
{
	assert_aborts_with(double_free_small_later, NULL, "double free", "free(p); free(q); free(p)");
}

Test(api_misuse, double_free_of_a_large_block)
{
	assert_aborts_with(double_free_large, NULL, "double free", "large double free");
}

Test(api_misuse, double_free_of_a_huge_block)
{
	/* The mapping is gone after the first free: the second sees a
	 * pointer ingot does not know. */
	assert_aborts_with(double_free_huge, NULL, "ingot: ", "huge double free");
}

Test(api_misuse, free_after_realloc_to_zero)
{
	assert_aborts_with(realloc_zero_then_free, NULL, "double free", "realloc(p, 0); free(p)");
}

Test(api_misuse, free_sized_with_a_wrong_size)
{
	struct sized_free cases[] = {
	    {100, 0, 200, 0},            /* small, bigger class */
	    {100, 0, 16, 0},             /* small, smaller class */
	    {100 * KiB, 0, 50 * KiB, 0}, /* large */
	    {100 * KiB, 0, 100, 0},      /* large freed as small */
	    {8 * MiB, 0, 4 * MiB, 0},    /* huge */
	    {100, 4096, 100, 16},        /* aligned block, alignment forgotten */
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_aborts_with(free_sized_wrong, &cases[i], "size mismatch", "free_sized");
}

Test(api_misuse, realloc_of_a_stack_pointer)
{
	assert_aborts_with(realloc_stack_pointer, NULL, "foreign pointer", "realloc(stack)");
}

Test(api_misuse, malloc_usable_size_of_a_stack_pointer)
{
	assert_aborts_with(usable_size_of_stack_pointer, NULL, "foreign pointer",
	                   "malloc_usable_size(stack)");
}

Test(api_misuse, malloc_usable_size_inside_a_large_block)
{
	assert_aborts_with(usable_size_inside_large_block, NULL, "invalid pointer",
	                   "malloc_usable_size(large + 8192)");
}

Test(api, small_realloc_across_classes_moves_the_contents_and_frees_the_old_block)
{
	/* A small block grown or shrunk into another small class moves (the
	 * class fits the new size, not the old one), keeps its first bytes and
	 * frees the old block: 100,000 round trips 100 <-> 3000 bytes would
	 * leak about 300 MiB if the old ones stayed, and map next to nothing
	 * when they are reused. */
	struct ingot_stats before, after;
	ingot_stats_get(&before);
	uint8_t *p = API(malloc)(100);
	pattern_fill(p, 100, 1);
	for (int i = 0; i < 100000; i++) {
		uint8_t *q = API(realloc)(p, opaque_size(3000));
		cr_assert_not_null(q);
		cr_assert_geq(API(malloc_usable_size)(q), 3000);
		cr_assert_eq(pattern_mismatch(q, 100, 1), SIZE_MAX, "grown block lost its bytes");
		p = API(realloc)(q, opaque_size(100));
		cr_assert_not_null(p);
		cr_assert_lt(API(malloc_usable_size)(p), 3000, "shrunk block kept the big class");
		cr_assert_eq(pattern_mismatch(p, 100, 1), SIZE_MAX, "shrunk block lost its bytes");
	}
	API(free)(p);
	ingot_stats_get(&after);
	cr_assert_lt(after.mapped, before.mapped + 64 * MiB, "round trips mapped %zu -> %zu bytes",
	             before.mapped, after.mapped);
}
