/*
 * ingot_test.c — the portable test program: a subset of the API contract,
 * a threaded stress test and cross-thread frees, through the prefixed
 * ingot_* API only. It needs nothing but the C library and threads, so it
 * runs where Criterion does not: Windows under Wine, aarch64 under qemu.
 *
 * Usage: ingot_test [scale]    scale multiplies the stress work (default 1)
 * Prints one line per test and "N passed, N failed" last; exits non-zero on
 * any failure. The stress tests are seeded and are not benchmarks.
 */
#include "harness.h"
#include "ingot.h"
#include "threads.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* jemalloc's flag encodings (include/jemalloc/jemalloc.h has the same). */
#define FLAG_LG_ALIGN(la) ((int)(la))
#define FLAG_ZERO 0x40

static unsigned scale = 1;

static bool is_aligned(const void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

/* ---- patterns ------------------------------------------------------------ */

/* A byte every block can be checked against: it depends on the block's tag
 * and the offset, so overlapping or moved blocks show up. Big blocks get the
 * first and last 2 KiB and one byte per 4 KiB. */
static unsigned char pattern_at(uint32_t tag, size_t i) { return (unsigned char)(tag * 31u + i * 7u + 1u); }

static bool pattern_offset_used(size_t n, size_t i)
{
	return n <= 4 * KiB || i < 2 * KiB || i >= n - 2 * KiB || i % (4 * KiB) == 0;
}

static void fill(void *p, size_t n, uint32_t tag)
{
	unsigned char *b = p;
	if (n <= 4 * KiB) {
		for (size_t i = 0; i < n; i++)
			b[i] = pattern_at(tag, i);
		return;
	}
	for (size_t i = 0; i < 2 * KiB; i++)
		b[i] = pattern_at(tag, i);
	for (size_t i = 2 * KiB; i < n - 2 * KiB; i += 4 * KiB - i % (4 * KiB))
		b[i] = pattern_at(tag, i);
	for (size_t i = n - 2 * KiB; i < n; i++)
		b[i] = pattern_at(tag, i);
}

/* Checks the first n bytes of a block filled with fill(p, filled, tag). */
static bool intact(const void *p, size_t n, size_t filled, uint32_t tag)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (pattern_offset_used(filled, i) && b[i] != pattern_at(tag, i))
			return false;
	return true;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static struct ingot_stats stats_now(void)
{
	struct ingot_stats s;
	ingot_stats_get(&s);
	return s;
}

/* ---- the API contract, single-threaded ------------------------------------ */

#define SWEEP_MAX 1400
static void *sweep_ptr[SWEEP_MAX];
static size_t sweep_size[SWEEP_MAX];

static void test_malloc_sizes(void)
{
	/* Every size to 1100 bytes, then steps of a quarter up to 8 MiB: all
	 * live at once, so overlapping blocks would break each other's pattern. */
	size_t n = 0;
	for (size_t size = 1; size <= 1100; size++)
		sweep_size[n++] = size;
	for (size_t size = 1100; size <= 8 * MiB && n < SWEEP_MAX; size += size / 4 + 1)
		sweep_size[n++] = size;
	for (size_t i = 0; i < n; i++) {
		sweep_ptr[i] = ingot_malloc(sweep_size[i]);
		REQUIRE(sweep_ptr[i] != NULL);
		CHECK(is_aligned(sweep_ptr[i], 16));
		CHECK(ingot_malloc_usable_size(sweep_ptr[i]) >= sweep_size[i]);
		fill(sweep_ptr[i], sweep_size[i], (uint32_t)i);
	}
	for (size_t i = 0; i < n; i++) {
		CHECK(intact(sweep_ptr[i], sweep_size[i], sweep_size[i], (uint32_t)i));
		ingot_free(sweep_ptr[i]);
	}
	CHECK(ingot_check() == 0);
}

static void test_options_from_the_environment(void)
{
	/* main set INGOT_CONF before ingot's first call: the back end's
	 * arch_getenv must have found it when ingot booted. */
	unsigned narenas = 0;
	size_t len = sizeof narenas;
	CHECK(ingot_mallctl("opt.narenas", &narenas, &len, NULL, 0) == 0);
	CHECK(narenas == 3);
}

static void test_malloc_zero_and_free_null(void)
{
	void *a = ingot_malloc(0), *b = ingot_malloc(0);
	CHECK(a != NULL && b != NULL && a != b);
	ingot_free(a);
	ingot_free(b);
	ingot_free(NULL);
	CHECK(ingot_malloc_usable_size(NULL) == 0);
	CHECK(ingot_check() == 0);
}

static void test_usable_size_is_writable(void)
{
	void *blocks[64];
	size_t usable[64];
	for (unsigned i = 0; i < 64; i++) {
		size_t size = 1 + (size_t)i * i * 97;
		blocks[i] = ingot_malloc(size);
		REQUIRE(blocks[i] != NULL);
		usable[i] = ingot_malloc_usable_size(blocks[i]);
		CHECK(usable[i] >= size);
		fill(blocks[i], usable[i], i);
	}
	for (unsigned i = 0; i < 64; i++) {
		CHECK(intact(blocks[i], usable[i], usable[i], i));
		ingot_free(blocks[i]);
	}
}

static void test_calloc(void)
{
	static const size_t sizes[] = {1, 16, 100, 4096, 20000, 100000, 3 * MiB};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		/* Dirty memory of the same size first, so a reused block shows. */
		unsigned char *dirty = ingot_malloc(sizes[i]);
		REQUIRE(dirty != NULL);
		memset(dirty, 0xa5, sizes[i]);
		ingot_free(dirty);
		unsigned char *p = ingot_calloc(1, sizes[i]);
		REQUIRE(p != NULL);
		CHECK(all_zero(p, sizes[i]));
		ingot_free(p);
		p = ingot_calloc(sizes[i], 1);
		REQUIRE(p != NULL);
		CHECK(all_zero(p, sizes[i]));
		ingot_free(p);
	}
	void *p = ingot_calloc(0, 0);
	CHECK(p != NULL);
	ingot_free(p);
	errno = 0;
	CHECK(ingot_calloc(SIZE_MAX / 2 + 1, 2) == NULL);
	CHECK(errno == ENOMEM);
	errno = 0;
	CHECK(ingot_calloc(SIZE_MAX, SIZE_MAX) == NULL);
	CHECK(errno == ENOMEM);
}

static void test_realloc_keeps_contents(void)
{
	static const size_t steps[] = {10, 100, 1000, 10000, 100000, MiB, 10 * MiB,
	                               3 * MiB, 50000, 5000, 500, 50, 5};
	size_t filled = steps[0];
	unsigned char *p = ingot_malloc(filled);
	REQUIRE(p != NULL);
	fill(p, filled, 77);
	for (unsigned i = 1; i < sizeof steps / sizeof steps[0]; i++) {
		size_t kept = steps[i] < filled ? steps[i] : filled;
		p = ingot_realloc(p, steps[i]);
		REQUIRE(p != NULL);
		CHECK(intact(p, kept, filled, 77));
		/* Refill so that the next step checks the whole new size. */
		fill(p, steps[i], 77);
		filled = steps[i];
	}
	/* A failed realloc leaves the block as it was. */
	errno = 0;
	CHECK(ingot_realloc(p, SIZE_MAX - 100) == NULL);
	CHECK(errno == ENOMEM);
	CHECK(intact(p, filled, filled, 77));
	/* ingot's choice (glibc's): realloc(p, 0) frees p and returns NULL. */
	CHECK(ingot_realloc(p, 0) == NULL);
	p = ingot_realloc(NULL, 50);
	CHECK(p != NULL && ingot_malloc_usable_size(p) >= 50);
	ingot_free(p);
	CHECK(ingot_check() == 0);
}

static void test_reallocarray(void)
{
	unsigned char *p = ingot_reallocarray(NULL, 10, 10);
	REQUIRE(p != NULL);
	fill(p, 100, 5);
	errno = 0;
	CHECK(ingot_reallocarray(p, SIZE_MAX / 4, 8) == NULL);
	CHECK(errno == ENOMEM);
	CHECK(intact(p, 100, 100, 5));
	p = ingot_reallocarray(p, 1000, 10);
	REQUIRE(p != NULL);
	CHECK(intact(p, 100, 100, 5));
	ingot_free(p);
}

static void test_aligned_alloc(void)
{
	for (unsigned lg = 0; lg <= 22; lg++) {
		size_t align = (size_t)1 << lg;
		const size_t sizes[] = {1, align, 3 * align + 5, 100000};
		for (unsigned i = 0; i < 4; i++) {
			unsigned char *p = ingot_aligned_alloc(align, sizes[i]);
			REQUIRE(p != NULL);
			CHECK(is_aligned(p, align));
			CHECK(ingot_malloc_usable_size(p) >= sizes[i]);
			p[0] = 1;
			p[sizes[i] - 1] = 2;
			ingot_free(p);
		}
	}
	errno = 0;
	CHECK(ingot_aligned_alloc(3, 16) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(ingot_aligned_alloc(24, 48) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(ingot_aligned_alloc(64, SIZE_MAX - 10) == NULL);
	CHECK(errno == ENOMEM);
	CHECK(ingot_check() == 0);
}

static void test_posix_memalign(void)
{
	void *sentinel = &scale, *out = sentinel;
	CHECK(ingot_posix_memalign(&out, 0, 16) == EINVAL);
	CHECK(ingot_posix_memalign(&out, 3, 16) == EINVAL);
	CHECK(ingot_posix_memalign(&out, 24, 16) == EINVAL);
	CHECK(ingot_posix_memalign(&out, sizeof(void *) / 2, 16) == EINVAL);
	CHECK(ingot_posix_memalign(&out, 64, SIZE_MAX - 4095) == ENOMEM);
	CHECK(out == sentinel); /* untouched on every failure */
	for (size_t align = sizeof(void *); align <= MiB; align *= 2) {
		out = NULL;
		CHECK(ingot_posix_memalign(&out, align, 1000) == 0);
		REQUIRE(out != NULL);
		CHECK(is_aligned(out, align));
		ingot_free(out);
	}
}

static void test_memalign_valloc_pvalloc(void)
{
	void *p = ingot_memalign(4096, 100);
	CHECK(p != NULL && is_aligned(p, 4096));
	ingot_free(p);
	p = ingot_memalign(24, 100); /* rounded up to 32 */
	CHECK(p != NULL && is_aligned(p, 32));
	ingot_free(p);
	p = ingot_valloc(1);
	CHECK(p != NULL && is_aligned(p, 4096));
	ingot_free(p);
	p = ingot_pvalloc(1);
	CHECK(p != NULL && is_aligned(p, 4096) && ingot_malloc_usable_size(p) >= 4096);
	ingot_free(p);
}

static void test_sized_frees(void)
{
	/* A wrong size aborts; right sizes must not. */
	for (size_t size = 1; size < 300000; size = size * 3 + 1) {
		void *p = ingot_malloc(size);
		REQUIRE(p != NULL);
		ingot_free_sized(p, size);
		p = ingot_aligned_alloc(256, size);
		REQUIRE(p != NULL);
		ingot_free_aligned_sized(p, 256, size);
	}
	CHECK(ingot_check() == 0);
}

static void test_enomem(void)
{
	errno = 0;
	CHECK(ingot_malloc(SIZE_MAX) == NULL);
	CHECK(errno == ENOMEM);
	errno = 0;
	CHECK(ingot_malloc(PTRDIFF_MAX) == NULL);
	CHECK(errno == ENOMEM);
	errno = 0;
	CHECK(ingot_malloc((size_t)PTRDIFF_MAX + 1) == NULL);
	CHECK(errno == ENOMEM);
	CHECK(ingot_check() == 0);
}

static void test_huge_blocks_go_back(void)
{
	/* Freed huge blocks go back to the OS, at the latest when purged
	 * (the core may keep a few for reuse until then): after many rounds
	 * and a purge, what is mapped has not grown by more than metadata. */
	ingot_purge();
	struct ingot_stats before = stats_now();
	for (unsigned round = 0; round < 8; round++) {
		unsigned char *p[4];
		for (unsigned i = 0; i < 4; i++) {
			size_t size = 24 * MiB + i * 4096 * 3;
			p[i] = ingot_malloc(size);
			REQUIRE(p[i] != NULL);
			fill(p[i], size, round * 4 + i);
		}
		for (unsigned i = 0; i < 4; i++) {
			size_t size = 24 * MiB + i * 4096 * 3;
			CHECK(intact(p[i], size, size, round * 4 + i));
			ingot_free(p[i]);
		}
	}
	ingot_purge();
	struct ingot_stats after = stats_now();
	CHECK(after.mapped <= before.mapped + 8 * MiB);
	CHECK(ingot_check() == 0);
}

static void test_huge_aligned_and_resized(void)
{
	unsigned char *p = ingot_aligned_alloc(16 * MiB, 20 * MiB);
	REQUIRE(p != NULL);
	CHECK(is_aligned(p, 16 * MiB));
	fill(p, 20 * MiB, 9);
	CHECK(intact(p, 20 * MiB, 20 * MiB, 9));
	ingot_free(p);

	p = ingot_malloc(10 * MiB);
	REQUIRE(p != NULL);
	fill(p, 10 * MiB, 10);
	p = ingot_realloc(p, 40 * MiB); /* grows in place or moves */
	REQUIRE(p != NULL);
	CHECK(intact(p, 10 * MiB, 10 * MiB, 10));
	fill(p, 40 * MiB, 11);
	p = ingot_realloc(p, 12 * MiB); /* shrinks in place: the tail is purged */
	REQUIRE(p != NULL);
	CHECK(intact(p, 12 * MiB, 40 * MiB, 11));
	p = ingot_realloc(p, 30 * MiB); /* grows again over the purged tail */
	REQUIRE(p != NULL);
	CHECK(intact(p, 12 * MiB, 40 * MiB, 11));
	ingot_free(p);
	CHECK(ingot_check() == 0);
}

static void test_purge_then_reuse(void)
{
	enum { N = 600 };
	static void *p[N];
	for (unsigned i = 0; i < N; i++) {
		p[i] = ingot_malloc(16 + (size_t)(i % 40) * 700);
		REQUIRE(p[i] != NULL);
		memset(p[i], 0xee, 16 + (size_t)(i % 40) * 700);
	}
	for (unsigned i = 0; i < N; i++)
		ingot_free(p[i]);
	ingot_thread_flush();
	ingot_purge();
	CHECK(ingot_check() == 0);
	/* Purged pages stay usable, whatever they now read as. */
	for (unsigned i = 0; i < N; i++) {
		size_t size = 16 + (size_t)(i % 40) * 700;
		p[i] = ingot_malloc(size);
		REQUIRE(p[i] != NULL);
		fill(p[i], size, i);
	}
	for (unsigned i = 0; i < N; i++) {
		size_t size = 16 + (size_t)(i % 40) * 700;
		CHECK(intact(p[i], size, size, i));
		ingot_free(p[i]);
	}
	struct ingot_stats s = stats_now();
	CHECK(s.allocated <= s.active);
	CHECK(s.active <= s.resident);
	CHECK(s.active <= s.mapped);
	CHECK(ingot_check() == 0);
}

static void test_purge_spares_live_neighbours(void)
{
	/* Page runs side by side, too big for the thread cache; every other one
	 * is freed and purged. Where the OS page is larger than ingot's (16 or
	 * 64 KiB on some arm64 kernels) a purge that is not cut down to whole
	 * OS pages would wipe the live blocks sharing an OS page with a freed one. */
	enum { N = 64 };
	static unsigned char *p[N];
	const size_t size = 72 * KiB;
	for (unsigned i = 0; i < N; i++) {
		p[i] = ingot_malloc(size);
		REQUIRE(p[i] != NULL);
		fill(p[i], size, 1000 + i);
	}
	for (unsigned i = 0; i < N; i += 2)
		ingot_free(p[i]);
	ingot_thread_flush();
	ingot_purge();
	for (unsigned i = 1; i < N; i += 2)
		CHECK(intact(p[i], size, size, 1000 + i));
	/* calloc over purged pages still reads zero. */
	for (unsigned i = 0; i < N; i += 2) {
		p[i] = ingot_calloc(1, size);
		REQUIRE(p[i] != NULL);
		CHECK(all_zero(p[i], size));
	}
	for (unsigned i = 0; i < N; i++)
		ingot_free(p[i]);
	CHECK(ingot_check() == 0);
}

static void test_mallocx_family(void)
{
	int flags = FLAG_LG_ALIGN(12) | FLAG_ZERO;
	unsigned char *p = ingot_mallocx(100, flags);
	REQUIRE(p != NULL);
	CHECK(is_aligned(p, 4096));
	CHECK(all_zero(p, 100));
	size_t usable = ingot_sallocx(p, 0);
	CHECK(usable >= 100);
	CHECK(ingot_nallocx(100, flags) == usable);
	fill(p, 100, 3);
	p = ingot_rallocx(p, 5000, FLAG_LG_ALIGN(12));
	REQUIRE(p != NULL);
	CHECK(is_aligned(p, 4096));
	CHECK(intact(p, 100, 100, 3));
	CHECK(ingot_xallocx(p, 5000, 0, 0) >= 5000);
	ingot_dallocx(p, 0);
	p = ingot_mallocx(300, 0);
	REQUIRE(p != NULL);
	ingot_sdallocx(p, 300, 0);
}

/* ---- threads --------------------------------------------------------------- */

#define STRESS_THREADS 4
#define STRESS_SLOTS 512

struct stress_worker {
	unsigned index;
	unsigned long ops;
	unsigned failures;
	unsigned nulls;
};

static size_t stress_size(uint64_t r)
{
	unsigned pick = (unsigned)(r % 1000);
	r >>= 10;
	if (pick < 800)
		return 1 + r % 256;
	if (pick < 950)
		return 257 + r % (16 * KiB);
	if (pick < 999)
		return 16 * KiB + r % (256 * KiB);
	return MiB + r % (5 * MiB);
}

static void stress_main(void *arg)
{
	struct stress_worker *w = arg;
	void *ptr[STRESS_SLOTS] = {0};
	size_t size[STRESS_SLOTS];
	uint32_t tag[STRESS_SLOTS];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (w->index + 1);
	for (unsigned long op = 0; op < w->ops; op++) {
		uint64_t r = rng_next(&rng);
		unsigned slot = (unsigned)(r % STRESS_SLOTS);
		r >>= 9;
		if (ptr[slot] == NULL) {
			size[slot] = stress_size(r);
			tag[slot] = (uint32_t)op;
			ptr[slot] = (r >> 40) % 8 == 0 ? ingot_calloc(1, size[slot]) : ingot_malloc(size[slot]);
			if (ptr[slot] == NULL) {
				w->nulls++;
				continue;
			}
			fill(ptr[slot], size[slot], tag[slot]);
		} else if ((r >> 40) % 10 == 0) {
			size_t new_size = stress_size(r >> 3);
			void *q = ingot_realloc(ptr[slot], new_size);
			if (q == NULL) {
				w->nulls++;
				continue;
			}
			size_t kept = new_size < size[slot] ? new_size : size[slot];
			if (!intact(q, kept, size[slot], tag[slot]))
				w->failures++;
			ptr[slot] = q;
			size[slot] = new_size;
			fill(q, new_size, tag[slot]);
		} else {
			if (!intact(ptr[slot], size[slot], size[slot], tag[slot]))
				w->failures++;
			ingot_free(ptr[slot]);
			ptr[slot] = NULL;
		}
	}
	for (unsigned slot = 0; slot < STRESS_SLOTS; slot++) {
		if (ptr[slot] && !intact(ptr[slot], size[slot], size[slot], tag[slot]))
			w->failures++;
		ingot_free(ptr[slot]);
	}
}

static void test_threads_stress(void)
{
	struct test_thread threads[STRESS_THREADS];
	struct stress_worker workers[STRESS_THREADS];
	for (unsigned i = 0; i < STRESS_THREADS; i++) {
		workers[i] = (struct stress_worker){.index = i, .ops = 150000ul * scale};
		REQUIRE(test_thread_start(&threads[i], stress_main, &workers[i]));
	}
	unsigned failures = 0, nulls = 0;
	for (unsigned i = 0; i < STRESS_THREADS; i++) {
		test_thread_join(&threads[i]);
		failures += workers[i].failures;
		nulls += workers[i].nulls;
	}
	CHECK(failures == 0);
	CHECK(nulls == 0);
	CHECK(ingot_check() == 0);
}

/* Each thread allocates blocks and passes them to the next thread through a
 * single-producer single-consumer ring; the next thread checks and frees
 * them. Every block is freed by a thread that did not allocate it. */
#define RING_LEN 256
#define PASS_THREADS 4

struct ring {
	struct {
		void *ptr;
		size_t size;
		uint32_t tag;
	} item[RING_LEN];
	unsigned head; /* next to pop; written by the consumer */
	unsigned tail; /* next to push; written by the producer */
};

struct pass_worker {
	unsigned index;
	unsigned long count;
	struct ring *out, *in;
	unsigned failures, nulls;
};

static struct ring rings[PASS_THREADS];

static bool ring_push(struct ring *r, void *p, size_t size, uint32_t tag)
{
	unsigned tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == RING_LEN)
		return false;
	r->item[tail % RING_LEN].ptr = p;
	r->item[tail % RING_LEN].size = size;
	r->item[tail % RING_LEN].tag = tag;
	__atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

static bool ring_pop(struct ring *r, void **p, size_t *size, uint32_t *tag)
{
	unsigned head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	if (head == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
		return false;
	*p = r->item[head % RING_LEN].ptr;
	*size = r->item[head % RING_LEN].size;
	*tag = r->item[head % RING_LEN].tag;
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
	return true;
}

static void pass_main(void *arg)
{
	struct pass_worker *w = arg;
	uint64_t rng = 0x51ed2701ULL * (w->index + 7);
	unsigned long produced = 0, consumed = 0;
	while (produced < w->count || consumed < w->count) {
		bool progress = false;
		if (produced < w->count) {
			uint64_t r = rng_next(&rng);
			size_t size = r % 16 == 0 ? 1 + (r >> 8) % (64 * KiB) : 1 + (r >> 8) % 512;
			void *p = ingot_malloc(size);
			if (p == NULL) {
				w->nulls++;
				produced++;
			} else {
				uint32_t tag = (uint32_t)(w->index * 1000003u + produced);
				fill(p, size, tag);
				if (ring_push(w->out, p, size, tag)) {
					produced++;
					progress = true;
				} else {
					ingot_free(p); /* ring full: try again later */
				}
			}
		}
		void *p;
		size_t size;
		uint32_t tag;
		while (ring_pop(w->in, &p, &size, &tag)) {
			if (!intact(p, size, size, tag))
				w->failures++;
			/* Some go through realloc first: resizing another thread's block. */
			if (tag % 8 == 0) {
				void *q = ingot_realloc(p, size * 2);
				if (q == NULL)
					w->nulls++;
				else if (!intact(q, size, size, tag))
					w->failures++;
				p = q ? q : p;
			}
			ingot_free(p);
			consumed++;
			progress = true;
		}
		if (!progress)
			test_thread_yield();
	}
}

static void test_cross_thread_frees(void)
{
	struct test_thread threads[PASS_THREADS];
	struct pass_worker workers[PASS_THREADS];
	struct ingot_stats before = stats_now();
	for (unsigned i = 0; i < PASS_THREADS; i++) {
		workers[i] = (struct pass_worker){
		    .index = i,
		    .count = 60000ul * scale,
		    .out = &rings[i],
		    .in = &rings[(i + PASS_THREADS - 1) % PASS_THREADS],
		};
	}
	for (unsigned i = 0; i < PASS_THREADS; i++)
		REQUIRE(test_thread_start(&threads[i], pass_main, &workers[i]));
	unsigned failures = 0, nulls = 0;
	for (unsigned i = 0; i < PASS_THREADS; i++) {
		test_thread_join(&threads[i]);
		failures += workers[i].failures;
		nulls += workers[i].nulls;
	}
	CHECK(failures == 0);
	CHECK(nulls == 0);
	/* Every block went home: live bytes are what they were before. */
	struct ingot_stats after = stats_now();
	CHECK(after.allocated == before.allocated);
	CHECK(ingot_check() == 0);
}

static void short_thread_main(void *arg)
{
	unsigned *bad = arg;
	void *p[200];
	for (unsigned i = 0; i < 200; i++) {
		p[i] = ingot_malloc(16 + (i % 50) * 40);
		if (p[i] == NULL)
			(*bad)++;
	}
	for (unsigned i = 0; i < 200; i++)
		ingot_free(p[i]);
}

static void test_thread_exit_recycles_caches(void)
{
	/* A thread's cache is created on its first allocation and retired by
	 * the back end's thread-exit callback, then reused by the next thread.
	 * Without the callback every thread would take a new cache (several
	 * KiB each) and the metadata would keep growing. */
	unsigned bad = 0;
	struct test_thread t;
	for (unsigned i = 0; i < 8; i++) {
		REQUIRE(test_thread_start(&t, short_thread_main, &bad));
		test_thread_join(&t);
	}
	size_t metadata_before = stats_now().metadata;
	for (unsigned i = 0; i < 400; i++) {
		REQUIRE(test_thread_start(&t, short_thread_main, &bad));
		test_thread_join(&t);
	}
	size_t metadata_after = stats_now().metadata;
	CHECK(bad == 0);
	CHECK(metadata_after - metadata_before <= 2 * MiB);
	if (metadata_after - metadata_before > 2 * MiB)
		printf("    metadata grew by %lu bytes over 400 threads\n",
		       (unsigned long)(metadata_after - metadata_before));
	CHECK(ingot_check() == 0);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		scale = (unsigned)strtoul(argv[1], NULL, 10);
	if (scale == 0)
		scale = 1;
	/* Before ingot boots: test_options_from_the_environment reads it back. */
#ifdef _WIN32
	SetEnvironmentVariableA("INGOT_CONF", "narenas:3");
#else
	setenv("INGOT_CONF", "narenas:3", 1);
#endif
	RUN(test_options_from_the_environment);
	RUN(test_malloc_sizes);
	RUN(test_malloc_zero_and_free_null);
	RUN(test_usable_size_is_writable);
	RUN(test_calloc);
	RUN(test_realloc_keeps_contents);
	RUN(test_reallocarray);
	RUN(test_aligned_alloc);
	RUN(test_posix_memalign);
	RUN(test_memalign_valloc_pvalloc);
	RUN(test_sized_frees);
	RUN(test_enomem);
	RUN(test_huge_blocks_go_back);
	RUN(test_huge_aligned_and_resized);
	RUN(test_purge_then_reuse);
	RUN(test_purge_spares_live_neighbours);
	RUN(test_mallocx_family);
	RUN(test_threads_stress);
	RUN(test_cross_thread_frees);
	RUN(test_thread_exit_recycles_caches);
	return harness_finish();
}
