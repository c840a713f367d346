/*
 * test_tcache.c — thread caches: batch refills, flushes, the capacity bound,
 * the garbage pass, thread exit, switching a cache off, cross-thread frees
 * and explicit caches.
 *
 * Most checks run in a thread of their own so that its cache starts empty;
 * they report through THREAD_CHECK (helpers.h) and the test asserts after
 * joining. Heaps with hardening on keep every cache at capacity 0, so these
 * tests are skipped there.
 */
#include "helpers.h"

#include "arena.h"
#include "base.h"
#include "bin.h"
#include "hardening.h"
#include "ingot.h"
#include "tcache.h"

/* Two automatic arenas at least, however many CPUs run the tests: the
 * arena pairs' shared bins (arena_bin_home) need arenas 0 and 1. */
const char *ingot_malloc_conf = "narenas:2";

/* Classes a cache holds: the small ones, and on builds that have them the
 * smallest large ones too. */
#ifndef SC_NCACHED
#define SC_NCACHED SC_NSMALL
#endif

static void skip_if_uncached(void)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	if (ingot_hardening)
		cr_skip_test("hardened heaps keep thread caches closed");
}

/* Refills the calling thread's stack of small class cls once: a stack
 * holds only a few objects until its first refill (tcache.c). */
static void fill_class_once(unsigned cls)
{
	/* A debug heap's canary takes 8 more bytes of each block. */
	ingot_free(ingot_malloc(sc_size[cls] - harden_canary_size()));
}

/* The calling thread's cache, made by a first allocation if need be. */
static struct tcache *open_cache(void)
{
	ingot_free(ingot_malloc(1));
	struct tcache *tc = tcache_thread();
	THREAD_CHECK(tc != NULL, "the thread has no active cache");
	return tc;
}

/* The same with every small class at its full capacity (each refilled
 * once). */
static struct tcache *my_cache(void)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		fill_class_once(cls);
	return open_cache();
}

static size_t own_cached_bytes(struct tcache *tc)
{
	size_t total = 0;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++)
		total += (size_t)tcache_stack_ncached(&tc->stacks[cls]) * sc_size[cls];
	return total;
}

static uint64_t bin_nmalloc(struct bin *bin)
{
	arch_lock_acquire(&bin->lock);
	uint64_t n = bin->nmalloc;
	arch_lock_release(&bin->lock);
	return n;
}

static size_t bin_live(struct bin *bin)
{
	arch_lock_acquire(&bin->lock);
	size_t n = bin->nregs_live;
	arch_lock_release(&bin->lock);
	return n;
}

/* The bin tc's stack of small class cls refills from: its arena's, or for
 * the classes automatic arenas share in pairs the pair's (arena_bin_home). */
static struct bin *home_bin(struct tcache *tc, unsigned cls)
{
	return arena_bin(arena_bin_home(tc->arena, cls), cls);
}

#define TCACHE_NCAP_MAX_TEST 4096u /* more than any stack holds */

static void run_thread(void *(*fn)(void *), void *arg)
{
	join_thread(start_thread(fn, arg));
	assert_no_thread_failure();
}

/* ---- sized frees ------------------------------------------------------------ */

/* free_sized and sdallocx with a size in the block's class take the bin
 * from the size and go to the cache like free; any other size still gets
 * the checked path (the misuse tests in test_api and test_xapi). */
static void *sized_frees_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(100);
	struct tcache_stack *stack = &tc->stacks[cls];
	for (size_t given = 97; given <= sc_size[cls]; given++) {
		void *p = ingot_malloc(100);
		unsigned before = tcache_stack_ncached(stack);
		if (given % 2)
			ingot_free_sized(p, given);
		else
			ingot_sdallocx(p, given, 0);
		THREAD_CHECK(tcache_stack_ncached(stack) == before + 1 && stack->top[-1] == p,
		             "a sized free of %zu bytes did not reach the cache", given);
	}
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after sized frees");
	return NULL;
}

Test(tcache, sized_frees_go_to_the_cache)
{
	skip_if_uncached();
	run_thread(sized_frees_thread, NULL);
}

/* ---- refill ---------------------------------------------------------------- */

static void *refill_takes_a_batch_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = open_cache();
	unsigned cls = sizeclass_small(1000);
	struct tcache_stack *tb = &tc->stacks[cls];
	struct bin *bin = home_bin(tc, cls);
	THREAD_CHECK(tcache_stack_ncached(tb) == 0, "class not used yet, but %u cached", tcache_stack_ncached(tb));
	unsigned nfill = tc->info[cls].nfill;
	uint64_t before = bin_nmalloc(bin);
	void *first = ingot_malloc(1000);
	uint64_t taken = bin_nmalloc(bin) - before;
	THREAD_CHECK(first != NULL, "malloc failed");
	THREAD_CHECK(taken > 1, "a miss took %lu object(s) from the bin, want a batch",
	             (unsigned long)taken);
	THREAD_CHECK(taken == nfill, "a miss took %lu objects, nfill was %u", (unsigned long)taken,
	             nfill);
	THREAD_CHECK(tcache_stack_ncached(tb) == taken - 1, "%u cached after a batch of %lu", tcache_stack_ncached(tb),
	             (unsigned long)taken);
	/* The rest of the batch is served without the bin. */
	void *more[256];
	unsigned n = tcache_stack_ncached(tb);
	for (unsigned i = 0; i < n; i++)
		more[i] = ingot_malloc(1000);
	THREAD_CHECK(bin_nmalloc(bin) - before == taken, "cache hits went to the bin");
	THREAD_CHECK(tcache_stack_ncached(tb) == 0, "batch not used up");
	ingot_malloc_usable_size(first);
	ingot_free(first);
	for (unsigned i = 0; i < n; i++)
		ingot_free(more[i]);
	return NULL;
}

/* A program may store the freed mark itself: such a block takes the slow
 * path's look (bin and slab), which finds it live, and is freed as any
 * other; the blocks come back, each once. */
Test(tcache, a_block_that_holds_the_freed_mark_is_freed_normally)
{
	enum { N = 600 };
	static void *blocks[N];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			blocks[i] = ingot_malloc(48);
			cr_assert_not_null(blocks[i]);
			*(uintptr_t *)blocks[i] = TCACHE_FREED_MARK;
		}
		for (int i = 0; i < N; i++)
			for (int j = i + 1; j < N && j < i + 64; j++)
				cr_assert_neq(blocks[i], blocks[j], "a block handed out twice");
		for (int i = 0; i < N; i++)
			ingot_free(blocks[i]);
	}
	cr_assert_eq(ingot_check(), 0, "the heap is consistent");
}

Test(tcache, a_miss_refills_a_batch_from_the_bin)
{
	skip_if_uncached();
	run_thread(refill_takes_a_batch_thread, NULL);
}

/* ---- batches: whole runs to and from the bins ---------------------------------- */

/* A refill comes in stack order: the lowest address last (handed out
 * first), addresses rising towards the front within each slab. */
Test(tcache, a_batch_comes_in_stack_order)
{
	skip_if_uncached();
	enum { N = 3000 }; /* several slabs of 64-byte objects */
	static void *objs[N];
	struct arena *arena = arena_get(0);
	unsigned cls = sizeclass_small(64);
	struct bin *bin = arena_bin(arena, cls);
	size_t live0 = bin_live(bin);
	cr_assert_eq(bin_alloc_batch(bin, &arena->heap, objs, N), N);
	unsigned descents = 0;
	for (unsigned i = 0; i + 1 < N; i++)
		descents += (uintptr_t)objs[i] > (uintptr_t)objs[i + 1];
	/* Only slab changes may break the order; a slab holds 64 of them. */
	cr_assert_geq(descents, N - 1 - N / 64, "only %u of %u neighbours in stack order", descents, N - 1);
	bin_free_batch(bin, &arena->heap, objs, N);
	cr_assert_eq(bin_live(bin), live0);
	cr_assert_eq(ingot_check(), 0);
}

/* Runs of one slab go back a bitmap word at a time, in whatever order the
 * cache holds them: rising, falling, shuffled, across slabs. Nothing is
 * lost or doubled: the bin's live count comes back, ingot_check agrees,
 * and a second batch hands out every object once. */
Test(tcache, a_flush_gives_back_runs_in_any_order)
{
	skip_if_uncached();
	enum { N = 3000 };
	static void *objs[N], *again[N];
	struct arena *arena = arena_get(0);
	unsigned cls = sizeclass_small(48);
	struct bin *bin = arena_bin(arena, cls);
	size_t live0 = bin_live(bin);
	uint64_t rng = 16;
	for (int round = 0; round < 4; round++) {
		cr_assert_eq(bin_alloc_batch(bin, &arena->heap, objs, N), N);
		for (unsigned i = 0; i < N / 3; i++) { /* the first third rising */
			void *t = objs[i];
			objs[i] = objs[N / 3 - 1 - i];
			objs[N / 3 - 1 - i] = t;
		}
		for (unsigned i = 2 * N / 3; i < N; i++) { /* the last third shuffled */
			size_t j = 2 * N / 3 + rng_below(&rng, i - 2 * N / 3 + 1);
			void *t = objs[i];
			objs[i] = objs[j];
			objs[j] = t;
		}
		for (unsigned i = 0; i < N; i += 700) /* in flushes of 700 */
			bin_free_batch(bin, &arena->heap, objs + i, i + 700 <= N ? 700 : N - i);
		cr_assert_eq(bin_live(bin), live0, "round %d: %zu live, %zu before", round, bin_live(bin), live0);
		cr_assert_eq(ingot_check(), 0);
	}
	cr_assert_eq(bin_alloc_batch(bin, &arena->heap, again, N), N);
	for (unsigned i = 0; i < N; i++)
		*(unsigned *)again[i] = i;
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(*(unsigned *)again[i], i, "object %u handed out twice", i);
	bin_free_batch(bin, &arena->heap, again, N);
	cr_assert_eq(bin_live(bin), live0);
}

/* A flush holds objects of several arenas (frees from other threads land
 * in the freeing thread's cache): each goes to its own arena's bin, however
 * the runs of one arena alternate in the flush. */
Test(tcache, a_flush_sends_each_arenas_objects_home)
{
	skip_if_uncached();
	enum { N = 600, RUN = 50 };
	static void *from[2][N], *flush[2 * N];
	int index = arena_create();
	cr_assert_geq(index, 0, "no arena to test with");
	struct arena *arenas2[2] = {arena_get(0), arena_get((unsigned)index)};
	unsigned cls = sizeclass_small(32);
	size_t live0[2];
	for (int a = 0; a < 2; a++) {
		live0[a] = bin_live(arena_bin(arenas2[a], cls));
		cr_assert_eq(bin_alloc_batch(arena_bin(arenas2[a], cls), &arenas2[a]->heap, from[a], N), N);
	}
	unsigned k = 0;
	for (unsigned i = 0; i < N; i += RUN) /* runs of RUN from each in turn */
		for (int a = 0; a < 2; a++)
			for (unsigned j = i; j < i + RUN; j++)
				flush[k++] = from[a][j];
	arena_free_batch(cls, flush, k);
	for (int a = 0; a < 2; a++)
		cr_assert_eq(bin_live(arena_bin(arenas2[a], cls)), live0[a], "arena %d: %zu live, %zu before", a,
		             bin_live(arena_bin(arenas2[a], cls)), live0[a]);
	cr_assert_eq(ingot_check(), 0);
}

/* Misuse in a flush: an object twice (in one run, or in two flushes), and a
 * pointer inside an object in the middle of a run of neighbours. */
enum flush_misuse_kind { TWICE_IN_ONE_FLUSH, TWICE_ACROSS_FLUSHES, INSIDE_A_RUN, TWICE_IN_ONE_RUN };
struct flush_misuse {
	enum flush_misuse_kind kind;
	size_t size; /* of the objects flushed */
};

static void flush_misuse(void *arg)
{
	enum flush_misuse_kind kind = ((struct flush_misuse *)arg)->kind;
	enum { N = 40 };
	void *objs[N + 1];
	struct arena *arena = arena_get(0);
	unsigned cls = sizeclass_small(((struct flush_misuse *)arg)->size);
	struct bin *bin = arena_bin(arena, cls);
	ingot_free(ingot_malloc(1)); /* boots ingot */
	if (bin_alloc_batch(bin, &arena->heap, objs, N) != N)
		return;
	if (kind == TWICE_IN_ONE_FLUSH) {
		objs[N] = objs[N / 2];
		bin_free_batch(bin, &arena->heap, objs, N + 1);
	} else if (kind == TWICE_ACROSS_FLUSHES) {
		bin_free_batch(bin, &arena->heap, objs, N);
		bin_free_batch(bin, &arena->heap, objs + 10, 5);
	} else if (kind == TWICE_IN_ONE_RUN) {
		objs[1] = objs[0];
		bin_free_batch(bin, &arena->heap, objs, N);
	} else {
		objs[N / 2] = (char *)objs[N / 2] + 16;
		bin_free_batch(bin, &arena->heap, objs, N);
	}
}

Test(tcache, a_flush_reports_an_object_freed_twice_or_inside_a_run)
{
	skip_if_uncached();
	struct flush_misuse kinds[] = {{TWICE_IN_ONE_FLUSH, 64}, {TWICE_ACROSS_FLUSHES, 64}, {INSIDE_A_RUN, 64}};
	assert_aborts_with(flush_misuse, &kinds[0], "double free", "an object twice in one flush");
	assert_aborts_with(flush_misuse, &kinds[1], "double free", "an object in two flushes");
	assert_aborts_with(flush_misuse, &kinds[2], "invalid pointer", "a pointer inside a run's object");
}

/* ---- the newest-object copy ------------------------------------------------- */

/* malloc hands out a bin's copy of its newest object (hot); every move of
 * the stack — hits, refills, frees, flushes of a full bin — must keep it
 * equal to top[-1], or malloc would hand out the wrong object. */
static void *hot_copy_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(48);
	struct tcache_stack *tb = &tc->stacks[cls];
	unsigned n = 3 * tcache_stack_ncap(tb);
	void **blocks = malloc(n * sizeof(void *)); /* libc's */
	THREAD_CHECK(blocks != NULL && n > 0, "no room to test in");
	for (unsigned i = 0; i < n; i++) { /* refills */
		blocks[i] = ingot_malloc(48);
		THREAD_CHECK(blocks[i] != NULL && tb->hot == tb->top[-1],
		             "the copy is out of step after malloc %u", i);
	}
	for (unsigned i = 0; i < n; i++) { /* frees, with flushes of a full bin */
		ingot_free(blocks[i]);
		THREAD_CHECK(tb->hot == blocks[i] && tb->top[-1] == blocks[i],
		             "the copy is not the object just freed (free %u)", i);
	}
	free(blocks);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent");
	for (unsigned i = 0; i < 8; i++) {
		void *newest = tb->hot;
		THREAD_CHECK(ingot_malloc(48) == newest, "malloc did not hand out the newest object");
		THREAD_CHECK(tb->hot == tb->top[-1], "the copy is out of step after a hit");
		ingot_free(newest);
	}
	/* A copy that disagrees with the stack is found by ingot_check. */
	void *saved = tb->hot;
	tb->hot = tb->top[-2];
	THREAD_CHECK(ingot_check() != 0, "ingot_check missed a bin copy out of step");
	tb->hot = saved;
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the repair");
	return NULL;
}

Test(tcache, a_bins_copy_of_its_newest_object_follows_the_stack)
{
	skip_if_uncached();
	run_thread(hot_copy_thread, NULL);
}

/* ---- flush ----------------------------------------------------------------- */

static void *flush_thread(void *arg)
{
	size_t *others = arg;
	struct tcache *tc = my_cache();
	void *p[600];
	for (int i = 0; i < 600; i++)
		p[i] = ingot_malloc((size_t)(i % 6) * 200 + 8);
	for (int i = 0; i < 600; i++)
		ingot_free(p[i]);
	size_t own = own_cached_bytes(tc);
	THREAD_CHECK(own > 0, "nothing cached after 600 frees");
	size_t total = tcache_cached_bytes();
	THREAD_CHECK(total == *others + own, "cached bytes %zu, want other threads' %zu + own %zu",
	             total, *others, own);
	ingot_thread_flush();
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++)
		THREAD_CHECK(tcache_stack_ncached(&tc->stacks[cls]) == 0, "class %u keeps %u objects after a flush", cls,
		             tcache_stack_ncached(&tc->stacks[cls]));
	THREAD_CHECK(tcache_cached_bytes() == *others, "cached bytes %zu after flush, want %zu",
	             tcache_cached_bytes(), *others);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after a flush");
	return NULL;
}

Test(tcache, flush_returns_every_cached_object)
{
	skip_if_uncached();
	size_t others = tcache_cached_bytes(); /* this thread's own */
	run_thread(flush_thread, &others);
}

/* ---- capacity -------------------------------------------------------------- */

static void *capacity_thread(void *arg)
{
	size_t cap = *(size_t *)arg;
	struct tcache *tc = my_cache();
	enum { POOL = 4000 };
	static void *pool[POOL];
	uint64_t rng = 2024;
	size_t peak = 0;
	for (int step = 0; step < 300000; step++) {
		size_t i = rng_below(&rng, POOL);
		if (pool[i]) {
			ingot_free(pool[i]);
			pool[i] = NULL;
			size_t own = own_cached_bytes(tc);
			peak = own > peak ? own : peak;
			THREAD_CHECK(own <= cap, "cache holds %zu bytes, capacity %zu", own, cap);
		} else {
			size_t max = rng_below(&rng, 8) ? SC_SMALL_MAX : sc_size[SC_NCACHED];
			pool[i] = ingot_malloc(rng_below(&rng, max + 1));
			THREAD_CHECK(pool[i] != NULL, "malloc failed");
		}
	}
	/* Free long runs of one class: the stack must never pass its cap. */
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		struct tcache_stack *tb = &tc->stacks[cls];
		unsigned n = 3u * tcache_stack_ncap(tb) + 10;
		void **objs = malloc(n * sizeof(void *)); /* libc's */
		for (unsigned k = 0; k < n; k++)
			objs[k] = ingot_malloc(sc_size[cls]);
		for (unsigned k = 0; k < n; k++) {
			ingot_free(objs[k]);
			THREAD_CHECK(tcache_stack_ncached(tb) <= tcache_stack_ncap(tb), "class %u: %u cached, cap %u", cls,
			             tcache_stack_ncached(tb), tcache_stack_ncap(tb));
		}
		free(objs);
	}
	for (size_t i = 0; i < POOL; i++)
		ingot_free(pool[i]);
	THREAD_CHECK(own_cached_bytes(tc) <= cap, "over capacity at the end");
	THREAD_CHECK(peak > 0, "the cache was never used");
	return NULL;
}

Test(tcache, a_cache_never_exceeds_its_capacity, .timeout = 60)
{
	skip_if_uncached();
	size_t cap = tcache_capacity_bytes();
	cr_assert_gt(cap, 0);
	/* 64 KiB per class, fewer for the big ones, and 512 KiB that bursts
	 * may grow classes by: under 3.5 MiB in all. */
	cr_assert_leq(cap, 3 * MiB + 512 * KiB, "a thread may cache %zu bytes, more than 3.5 MiB", cap);
	run_thread(capacity_thread, &cap);
}

/* ---- capacity that follows bursts ------------------------------------------------ */

/* Allocates n objects of size, checks that no object is handed out twice
 * (each carries its index until the frees), then frees them in order. */
static void burst(size_t size, unsigned n, void **objs)
{
	for (unsigned k = 0; k < n; k++) {
		objs[k] = ingot_malloc(size);
		THREAD_CHECK(objs[k] != NULL, "malloc failed in a burst");
		*(unsigned *)objs[k] = k;
	}
	for (unsigned k = 0; k < n; k++)
		THREAD_CHECK(*(unsigned *)objs[k] == k, "object %u of a burst was handed out twice", k);
	for (unsigned k = 0; k < n; k++)
		ingot_free(objs[k]);
}

struct growth_result {
	unsigned base, grown, shrunk;
	uint64_t nin_steady, nout_steady; /* moves to and from the bin in a grown burst */
};

/* A burst of one class twice its cache's capacity grows the cache until
 * the whole burst fits; it then runs with no refill or flush at all. An
 * idle grown class shrinks back under the garbage pass. */
static void *growth_thread(void *arg)
{
	struct growth_result *r = arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(64);
	struct tcache_stack *tb = &tc->stacks[cls];
	struct tcache_stack_info *info = &tc->info[cls];
	r->base = tcache_class_ncap(cls);
	unsigned n = 2 * r->base - 24;
	void **objs = malloc(n * sizeof(void *)); /* libc's */
	THREAD_CHECK(objs != NULL, "no room to test in");
	for (int cycle = 0; cycle < 4; cycle++)
		burst(64, n, objs);
	r->grown = tcache_stack_ncap(tb);
	uint64_t nin = info->nin, nout = info->nout;
	burst(64, n, objs);
	r->nin_steady = info->nin - nin;
	r->nout_steady = info->nout - nout;
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after bursts");
	THREAD_CHECK(own_cached_bytes(tc) <= tcache_capacity_bytes(), "over the cache's bound");
	/* Idle now: slow-path events of another class run garbage passes. */
	unsigned busy = sizeclass_small(1024);
	void *busy_objs[128];
	for (int cycle = 0; cycle < 20000 && tcache_stack_ncap(tb) > r->base; cycle++) {
		for (int k = 0; k < 128; k++)
			busy_objs[k] = ingot_malloc(sc_size[busy]);
		for (int k = 0; k < 128; k++)
			ingot_free(busy_objs[k]);
	}
	r->shrunk = tcache_stack_ncap(tb);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the shrink");
	free(objs);
	return NULL;
}

Test(tcache, a_burst_bigger_than_the_cache_grows_its_class)
{
	skip_if_uncached();
	struct growth_result r = {0};
	run_thread(growth_thread, &r);
	cr_assert_gt(r.grown, r.base, "capacity %u after bursts of %u (base %u)", r.grown, 2 * r.base - 24,
	             r.base);
	cr_assert_geq(r.grown, 2 * r.base - 24, "the grown capacity %u does not hold the burst", r.grown);
	cr_assert_eq(r.nin_steady + r.nout_steady, 0,
	             "a burst that fits moved %llu objects in and %llu out of the bin",
	             (unsigned long long)r.nin_steady, (unsigned long long)r.nout_steady);
	cr_assert_eq(r.shrunk, r.base, "an idle grown class kept capacity %u (base %u)", r.shrunk, r.base);
}

struct layout_result {
	bool side_by_side, moved_beyond, kept_objects;
	unsigned first_gap; /* class after which a gap was found, 0 if none */
};

/* A fresh cache's stacks lie side by side in their first areas (a thread
 * that uses a few classes touches a few pages of stack memory, not a page
 * or two per class); a class that grows moves beyond all of them, with the
 * objects it held. */
static void *layout_thread(void *arg)
{
	struct layout_result *r = arg;
	struct tcache *tc = my_cache();
	r->side_by_side = true;
	for (unsigned cls = 1; cls < SC_NCACHED; cls++) {
		struct tcache_stack *s = &tc->stacks[cls], *next = &tc->stacks[cls + 1];
		if (next->base != s->limit + 1) { /* +1: the next one's sentinel */
			r->side_by_side = false;
			r->first_gap = cls;
			break;
		}
	}
	unsigned cls = sizeclass_small(64);
	struct tcache_stack *tb = &tc->stacks[cls];
	void **last_base = tc->stacks[SC_NCACHED].limit;
	/* Bursts of 8 first areas: more than the guard pool's cells too,
	 * under guard_sample:1 (test-guarded). */
	unsigned base_ncap = tcache_stack_ncap(tb), n = 8 * base_ncap;
	void **objs = malloc(n * sizeof(void *)), **held = malloc(n * sizeof(void *)); /* libc's */
	THREAD_CHECK(objs != NULL && held != NULL, "no room to test in");
	/* Bursts until a free grows the stack; what the stack held just
	 * before that free must be what the moved stack holds under the
	 * freed block. */
	for (int cycle = 0; cycle < 8 && tcache_stack_ncap(tb) == base_ncap; cycle++) {
		for (unsigned k = 0; k < n; k++)
			objs[k] = ingot_malloc(64);
		for (unsigned k = 0; k < n; k++) {
			unsigned held_n = tcache_stack_ncached(tb);
			memcpy(held, tb->base, held_n * sizeof(void *));
			ingot_free(objs[k]);
			if (tcache_stack_ncap(tb) == base_ncap)
				continue;
			r->moved_beyond = tb->base > last_base;
			r->kept_objects = tcache_stack_ncached(tb) == held_n + 1 &&
			                  memcmp(held, tb->base, held_n * sizeof(void *)) == 0 &&
			                  tb->base[held_n] == objs[k] && tb->base[-1] == NULL;
			for (k++; k < n; k++)
				ingot_free(objs[k]);
		}
	}
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the move");
	free(objs);
	free(held);
	return NULL;
}

Test(tcache, stacks_lie_side_by_side_and_a_grown_one_moves_past_them)
{
	skip_if_uncached();
	struct layout_result r = {0};
	run_thread(layout_thread, &r);
	cr_assert(r.side_by_side, "a gap after the stack of class %u", r.first_gap);
	cr_assert(r.moved_beyond, "the grown stack is not past the base stacks");
	cr_assert(r.kept_objects, "the moved stack does not hold what the stack held");
}

/* Bursts of every small class at three times its capacity: growth stays
 * within the cache's bound (ingot_check compares the bins with the
 * cache's total), and nothing is lost: after a flush the bins hold what
 * they held before. */
static void *growth_bound_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	ingot_thread_flush();
	size_t live[SC_NSMALL + 1];
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		live[cls] = bin_live(home_bin(tc, cls));
	for (int round = 0; round < 3; round++) {
		for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
			unsigned n = 3u * tcache_stack_ncap(&tc->stacks[cls]);
			void **objs = malloc(n * sizeof(void *)); /* libc's */
			THREAD_CHECK(objs != NULL, "no room to test in");
			burst(sc_size[cls], n, objs);
			burst(sc_size[cls], n, objs);
			free(objs);
			THREAD_CHECK(ingot_check() == 0, "heap inconsistent after bursts of class %u", cls);
			THREAD_CHECK(own_cached_bytes(tc) <= tcache_capacity_bytes(), "over the cache's bound");
		}
	}
	ingot_thread_flush();
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		THREAD_CHECK(bin_live(home_bin(tc, cls)) == live[cls],
		             "class %u: %zu objects live in the bin, %zu before the bursts", cls,
		             bin_live(home_bin(tc, cls)), live[cls]);
	return NULL;
}

Test(tcache, growth_stays_in_bounds_and_loses_nothing, .timeout = 120)
{
	skip_if_uncached();
	run_thread(growth_bound_thread, NULL);
}

/* Two threads grow the same class with blocks the other allocated (each
 * frees its partner's burst), under ThreadSanitizer in test-tsan: the
 * flushes send every block home, none is lost or handed out twice. */
enum { CROSS_N = 1500, CROSS_ROUNDS = 20 };
struct cross_burst {
	void *objs[2][CROSS_N];
	pthread_barrier_t barrier;
	int id[2];
};
static struct cross_burst cross;

static void *cross_burst_thread(void *arg)
{
	int me = *(int *)arg, other = 1 - me;
	for (int round = 0; round < CROSS_ROUNDS; round++) {
		for (unsigned k = 0; k < CROSS_N; k++) {
			cross.objs[me][k] = ingot_malloc(64);
			THREAD_CHECK(cross.objs[me][k] != NULL, "malloc failed");
			*(uint64_t *)cross.objs[me][k] = ((uint64_t)me << 32) | k;
		}
		pthread_barrier_wait(&cross.barrier);
		for (unsigned k = 0; k < CROSS_N; k++) {
			void *p = cross.objs[other][k];
			THREAD_CHECK(*(uint64_t *)p == (((uint64_t)other << 32) | k),
			             "block %u of thread %d was handed out twice", k, other);
			ingot_free(p);
		}
		pthread_barrier_wait(&cross.barrier);
	}
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after cross-thread bursts");
	return NULL;
}

Test(tcache, cross_thread_bursts_grow_caches_and_go_home, .timeout = 120)
{
	skip_if_uncached();
	unsigned cls = sizeclass_small(64);
	ingot_thread_flush();
	size_t live0 = 0;
	for (unsigned i = 0; i < narenas_total; i++)
		if (arena_get(i))
			live0 += bin_live(arena_bin(arena_get(i), cls));
	pthread_barrier_init(&cross.barrier, NULL, 2);
	cross.id[0] = 0;
	cross.id[1] = 1;
	pthread_t t0 = start_thread(cross_burst_thread, &cross.id[0]);
	pthread_t t1 = start_thread(cross_burst_thread, &cross.id[1]);
	join_thread(t0);
	join_thread(t1);
	assert_no_thread_failure();
	pthread_barrier_destroy(&cross.barrier);
	size_t live = 0;
	for (unsigned i = 0; i < narenas_total; i++)
		if (arena_get(i))
			live += bin_live(arena_bin(arena_get(i), cls));
	cr_assert_eq(live, live0, "%zu objects of the class live after both threads exited, %zu before",
	             live, live0);
}

/* A child forked while the parent's class is grown keeps a working cache:
 * its bursts pass ingot_check, and its thread's cache stays in bounds. */
static void fork_growth_child(void *arg)
{
	void **objs = arg;
	for (int cycle = 0; cycle < 4; cycle++)
		burst(64, 2000, objs);
	if (ingot_check() != 0 || thread_failed)
		_exit(1);
}

Test(tcache, a_grown_cache_survives_fork)
{
	skip_if_uncached();
	static void *objs[2000];
	struct tcache *tc = tcache_thread();
	cr_assert_not_null(tc);
	unsigned base = tcache_stack_ncap(&tc->stacks[sizeclass_small(64)]);
	for (int cycle = 0; cycle < 4; cycle++)
		burst(64, 2000, objs);
	cr_assert_gt(tcache_stack_ncap(&tc->stacks[sizeclass_small(64)]), base, "the class did not grow");
	struct child_result res;
	run_in_child(fork_growth_child, objs, &res);
	cr_assert(res.exited && res.status == 0, "child failed: %s", res.err);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- garbage pass -------------------------------------------------------------- */

struct gc_result {
	unsigned filled, after_first_trim, at_end;
	unsigned long cycles_to_first_trim;
};

static void *gc_thread(void *arg)
{
	struct gc_result *r = arg;
	struct tcache *tc = my_cache();
	unsigned idle = sizeclass_small(64), busy = sizeclass_small(1024);
	struct tcache_stack *tb = &tc->stacks[idle];
	unsigned n = tcache_stack_ncap(tb);
	void **objs = malloc(n * sizeof(void *));
	for (unsigned k = 0; k < n; k++)
		objs[k] = ingot_malloc(64);
	for (unsigned k = 0; k < n; k++)
		ingot_free(objs[k]);
	free(objs);
	r->filled = tcache_stack_ncached(tb);
	THREAD_CHECK(r->filled > 8, "only %u objects cached after %u frees", r->filled, n);

	/* Slow-path events in another class only: refills and flushes. */
	void *busy_objs[128];
	unsigned long cycle;
	for (cycle = 1; cycle <= 20000 && tcache_stack_ncached(tb) == r->filled; cycle++) {
		for (int k = 0; k < 128; k++)
			busy_objs[k] = ingot_malloc(sc_size[busy]);
		for (int k = 0; k < 128; k++)
			ingot_free(busy_objs[k]);
	}
	r->cycles_to_first_trim = cycle;
	r->after_first_trim = tcache_stack_ncached(tb);
	for (int more = 0; more < 2000; more++) {
		for (int k = 0; k < 128; k++)
			busy_objs[k] = ingot_malloc(sc_size[busy]);
		for (int k = 0; k < 128; k++)
			ingot_free(busy_objs[k]);
	}
	r->at_end = tcache_stack_ncached(tb);
	return NULL;
}

Test(tcache, an_idle_class_is_trimmed_by_the_garbage_pass)
{
	skip_if_uncached();
	struct gc_result r = {0};
	run_thread(gc_thread, &r);
	cr_assert_lt(r.after_first_trim, r.filled,
	             "idle class kept all %u objects through %lu busy cycles", r.filled,
	             r.cycles_to_first_trim);
	cr_assert_leq(r.at_end, r.filled / 4, "idle class still holds %u of %u objects", r.at_end,
	              r.filled);
}

struct free_run_result {
	unsigned filled, after_run;
};

/* A run of frees of one class (which flushes that stack many times) hands
 * nothing out, and leaves the other stacks as they were: a garbage pass in
 * its middle would find every stack idle and halve them just before the
 * program allocates again (a batch of mixed sizes, freed, then allocated
 * again, refilled most of its stacks so). */
static void *free_run_thread(void *arg)
{
	struct free_run_result *r = arg;
	struct tcache *tc = my_cache();
	unsigned kept = sizeclass_small(64), flushed = sizeclass_small(1024);
	enum { NRUN = 20000 };
	void **run = malloc(NRUN * sizeof(void *)); /* libc's */
	THREAD_CHECK(run != NULL, "no room to test in");
	for (unsigned k = 0; k < NRUN; k++)
		THREAD_CHECK((run[k] = ingot_malloc(sc_size[flushed])) != NULL, "malloc failed");
	struct tcache_stack *tb = &tc->stacks[kept];
	unsigned n = tcache_stack_ncap(tb);
	void *objs[TCACHE_NCAP_MAX_TEST];
	THREAD_CHECK(n <= TCACHE_NCAP_MAX_TEST, "class of 64 bytes holds %u", n);
	for (unsigned k = 0; k < n; k++)
		objs[k] = ingot_malloc(64);
	for (unsigned k = 0; k < n; k++)
		ingot_free(objs[k]);
	r->filled = tcache_stack_ncached(tb);
	uint64_t nout = tc->info[flushed].nout;
	for (unsigned k = 0; k < NRUN; k++)
		ingot_free(run[k]);
	THREAD_CHECK(tc->info[flushed].nout - nout >= NRUN / 2, "the run of frees flushed only %llu objects",
	             (unsigned long long)(tc->info[flushed].nout - nout));
	r->after_run = tcache_stack_ncached(tb);
	free(run);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the run of frees");
	return NULL;
}

Test(tcache, a_run_of_frees_leaves_the_other_stacks_alone)
{
	skip_if_uncached();
	struct free_run_result r = {0};
	run_thread(free_run_thread, &r);
	cr_assert_gt(r.filled, 8, "only %u objects cached", r.filled);
	cr_assert_eq(r.after_run, r.filled, "a run of frees of another class trimmed %u cached objects to %u",
	             r.filled, r.after_run);
}

/* ---- thread exit --------------------------------------------------------------- */

struct exit_result {
	size_t own_before_exit;
	void **stack_mem;
	struct arena *arena;
};

static void *exit_thread(void *arg)
{
	struct exit_result *r = arg;
	struct tcache *tc = my_cache();
	void *p[300];
	for (int i = 0; i < 300; i++)
		p[i] = ingot_malloc((size_t)(i % 10) * 100 + 1);
	for (int i = 0; i < 300; i++)
		ingot_free(p[i]);
	r->own_before_exit = own_cached_bytes(tc);
	r->stack_mem = tc->stack_mem;
	r->arena = tc->arena;
	return NULL; /* exits with a full cache */
}

Test(tcache, thread_exit_flushes_the_cache)
{
	skip_if_uncached();
	size_t before = tcache_cached_bytes();
	struct ingot_stats st0, st1;
	ingot_stats_get(&st0);
	struct exit_result r = {0};
	run_thread(exit_thread, &r);
	cr_assert_gt(r.own_before_exit, 0, "the thread cached nothing");
	cr_assert_eq(tcache_cached_bytes(), before,
	             "a dead thread's %zu cached bytes are still counted", r.own_before_exit);
	ingot_stats_get(&st1);
	if (INGOT_STATS)
		cr_assert_eq(st1.allocated, st0.allocated, "allocated %zu -> %zu across the thread",
		             st0.allocated, st1.allocated);
	cr_assert_eq(ingot_check(), 0);
}

Test(tcache, an_exited_threads_stacks_are_reused)
{
	skip_if_uncached();
	struct exit_result a = {0}, b = {0};
	run_thread(exit_thread, &a);
	size_t meta = base_mapped();
	run_thread(exit_thread, &b);
	cr_assert_eq(b.stack_mem, a.stack_mem, "the second thread got new stack memory");
	cr_assert_eq(base_mapped(), meta, "a new thread after an exited one grew the metadata");
}

Test(tcache, thread_counts_per_arena_follow_threads)
{
	skip_if_uncached();
	struct arena_counts {
		unsigned n[ARENAS_MAX];
	};
	static struct arena_counts before;
	for (unsigned i = 0; i < narenas_total; i++)
		before.n[i] = arena_get(i)->nthreads;
	struct exit_result r = {0};
	run_thread(exit_thread, &r);
	for (unsigned i = 0; i < narenas_total; i++)
		cr_assert_eq(arena_get(i)->nthreads, before.n[i], "arena %u: %u threads, was %u", i,
		             arena_get(i)->nthreads, before.n[i]);
}

/* ---- switching the cache off ------------------------------------------------------- */

static void *disabled_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	struct arena *arena = tc->arena;
	tcache_set_enabled(false);
	THREAD_CHECK(!tcache_enabled(), "still enabled after tcache_set_enabled(false)");
	THREAD_CHECK(tcache_thread() == NULL, "an active cache after switching it off");
	unsigned cls = sizeclass_small(200);
	struct bin *bin = arena_bin(arena, cls);
	uint64_t before = bin_nmalloc(bin);
	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = ingot_malloc(200);
		THREAD_CHECK(p[i] != NULL, "uncached malloc failed");
		pattern_fill(p[i], 200, (uint64_t)i);
	}
	THREAD_CHECK(bin_nmalloc(bin) - before == 100, "100 uncached mallocs took %lu from the bin",
	             (unsigned long)(bin_nmalloc(bin) - before));
	size_t live = bin_live(bin);
	for (int i = 0; i < 100; i++) {
		THREAD_CHECK(pattern_mismatch(p[i], 200, (uint64_t)i) == SIZE_MAX, "block %d changed", i);
		ingot_free(p[i]);
	}
	THREAD_CHECK(live - bin_live(bin) == 100, "uncached frees did not reach the bin");
	/* Every size still works. */
	for (size_t s = 0; s <= 3 * MiB; s = s < 32 * KiB ? s + 97 : s * 2) {
		void *q = ingot_malloc(s);
		THREAD_CHECK(q != NULL, "uncached malloc(%zu) failed", s);
		memset(q, 1, s);
		ingot_free(q);
	}
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent with the cache off");

	tcache_set_enabled(true);
	THREAD_CHECK(tcache_enabled(), "not enabled after tcache_set_enabled(true)");
	tc = tcache_thread();
	THREAD_CHECK(tc != NULL, "no active cache after switching it back on");
	void *q = ingot_malloc(200);
	ingot_free(q);
	THREAD_CHECK(tcache_stack_ncached(&tc->stacks[cls]) > 0, "a free after re-enabling was not cached");
	return NULL;
}

Test(tcache, a_switched_off_cache_still_allocates)
{
	skip_if_uncached();
	run_thread(disabled_thread, NULL);
}

static void *disable_first_thread(void *arg)
{
	(void)arg;
	tcache_set_enabled(false); /* before this thread's first allocation */
	THREAD_CHECK(!tcache_enabled(), "tcache_enabled() is true right after disabling it");
	void *p = ingot_malloc(100);
	THREAD_CHECK(p != NULL, "malloc failed");
	THREAD_CHECK(tcache_thread() == NULL,
	             "the first allocation created a cache although it was switched off");
	ingot_free(p);
	return NULL;
}

Test(tcache, switching_off_before_the_first_allocation_sticks)
{
	skip_if_uncached();
	run_thread(disable_first_thread, NULL);
}

static void *park_and_exit_thread(void *arg)
{
	void ***stack_mem = arg;
	struct tcache *tc = my_cache();
	*stack_mem = tc->stack_mem;
	tcache_set_enabled(false);
	void *p = ingot_malloc(10);
	ingot_free(p);
	return NULL;
}

Test(tcache, a_switched_off_cache_is_released_at_exit)
{
	skip_if_uncached();
	void **first = NULL;
	run_thread(park_and_exit_thread, &first);
	size_t meta = base_mapped();
	struct exit_result r = {0};
	run_thread(exit_thread, &r);
	cr_assert_eq(r.stack_mem, first, "the switched-off cache's stacks were not reused");
	cr_assert_eq(base_mapped(), meta);
}

/* ---- cross-thread frees ------------------------------------------------------------ */

struct handoff {
	void *objs[64];
	unsigned cls;
	struct bin *home;
	size_t live_before_free, live_after_free, live_after_flush;
};

static void *producer_thread(void *arg)
{
	struct handoff *h = arg;
	struct tcache *tc = my_cache();
	h->cls = sizeclass_small(300);
	h->home = home_bin(tc, h->cls);
	for (int i = 0; i < 64; i++)
		h->objs[i] = ingot_malloc(300);
	return NULL;
}

/* The consumer's part: frees the 64 handed objects, then flushes its
 * cache, counting the home bin's live objects before and after each. */
static void free_handed_objects(struct handoff *h)
{
	h->live_before_free = bin_live(h->home);
	for (int i = 0; i < 64; i++)
		ingot_free(h->objs[i]);
	h->live_after_free = bin_live(h->home);
}

static void flush_handed_objects(struct handoff *h)
{
	ingot_thread_flush();
	h->live_after_flush = bin_live(h->home);
}

static void *consumer_thread(void *arg)
{
	struct handoff *h = arg;
	struct tcache *tc = my_cache();
	void *own[128];
	burst(300, 128, own); /* the stack leaves its first area */
	ingot_thread_flush();
	THREAD_CHECK(tcache_stack_ncap(&tc->stacks[h->cls]) > 64, "class cap %u too small for the test",
	             tcache_stack_ncap(&tc->stacks[h->cls]));
	free_handed_objects(h);
	flush_handed_objects(h);
	return NULL;
}

Test(tcache, a_cross_thread_free_goes_home_at_the_flush)
{
	skip_if_uncached();
	static struct handoff h;
	run_thread(producer_thread, &h);
	run_thread(consumer_thread, &h);
	cr_assert_eq(h.live_after_free, h.live_before_free,
	             "frees from another thread went to the bin at once, not to that thread's cache");
	cr_assert_eq(h.live_before_free - h.live_after_flush, 64,
	             "the flush sent %zu of 64 objects home", h.live_before_free - h.live_after_flush);
	cr_assert_eq(ingot_check(), 0);
}

/* A thread that frees a class it never allocated (a consumer of other
 * threads' blocks) keeps only a few of them in its cache: the rest go home
 * at once rather than pin their slabs until a flush. */
static void *unfilled_consumer_thread(void *arg)
{
	struct handoff *h = arg;
	struct tcache *tc = open_cache(); /* class 300 stays unfilled */
	free_handed_objects(h);
	THREAD_CHECK(tcache_stack_ncached(&tc->stacks[h->cls]) <= 8, "the cache parked %u objects",
	             tcache_stack_ncached(&tc->stacks[h->cls]));
	flush_handed_objects(h);
	return NULL;
}

Test(tcache, a_thread_that_only_frees_a_class_parks_few_of_its_blocks)
{
	skip_if_uncached();
	static struct handoff h;
	run_thread(producer_thread, &h);
	run_thread(unfilled_consumer_thread, &h);
	cr_assert_geq(h.live_before_free - h.live_after_free, 64 - 8,
	              "only %zu of 64 frees from another thread went home at once",
	              h.live_before_free - h.live_after_free);
	cr_assert_eq(h.live_before_free - h.live_after_flush, 64, "the flush sent %zu of 64 objects home",
	             h.live_before_free - h.live_after_flush);
	cr_assert_eq(ingot_check(), 0);
}

/* A thread's first allocation of a class takes a small batch from the bin
 * (a short-lived thread does not pull a quarter of its cache's capacity
 * per class out of the bins), and opens the class's stack in its first
 * area; later refills double the batch, up to half the stack. */
struct first_fill_result {
	size_t first_batch, second_batch;
	unsigned ncap_before, ncap_after, cls;
};

static void *first_fill_thread(void *arg)
{
	struct first_fill_result *r = arg;
	struct tcache *tc = open_cache();
	unsigned cls = r->cls = sizeclass_small(64 + harden_canary_size());
	struct bin *bin = home_bin(tc, cls);
	struct tcache_stack *tb = &tc->stacks[cls];
	r->ncap_before = tcache_stack_ncap(tb);
	size_t live = bin_live(bin);
	void *objs[1024];
	objs[0] = ingot_malloc(64);
	r->first_batch = bin_live(bin) - live;
	r->ncap_after = tcache_stack_ncap(tb);
	unsigned n = 1;
	while (n < 1024 && tcache_stack_ncached(tb) > 0)
		objs[n++] = ingot_malloc(64);
	live = bin_live(bin);
	objs[n++] = ingot_malloc(64);
	r->second_batch = bin_live(bin) - live;
	for (unsigned k = 0; k < n; k++)
		ingot_free(objs[k]);
	return NULL;
}

Test(tcache, a_first_refill_takes_a_small_batch_and_opens_the_stack)
{
	skip_if_uncached();
	struct first_fill_result r = {0};
	run_thread(first_fill_thread, &r);
	cr_assert_leq(r.ncap_before, 8, "an unfilled stack has capacity %u", r.ncap_before);
	cr_assert_gt(r.ncap_after, r.ncap_before, "the first refill did not open the stack");
	cr_assert_geq(r.first_batch, 1);
	cr_assert_leq(r.first_batch, r.ncap_after / 2, "the first refill took %zu objects (capacity %u)",
	              r.first_batch, r.ncap_after);
	cr_assert_leq(r.first_batch, tcache_class_ncap(r.cls) / 8, "the first refill took %zu objects",
	              r.first_batch);
	cr_assert_eq(r.second_batch, MIN(2 * r.first_batch, r.ncap_after / 2),
	             "the second refill took %zu objects, the first %zu (capacity %u)", r.second_batch,
	             r.first_batch, r.ncap_after);
}

/* A consumer's stack, found holding other threads' blocks when it fills,
 * drops to half its capacity (it parked up to 64 KiB of them per
 * class), gives every one of them back, and grows again under bursts of
 * its own blocks. */
struct remote_shrink {
	void **objs;
	unsigned n, cls;
	struct bin *home;
	unsigned ncap_full, ncap_after_frees, ncap_after_bursts, cached_after_frees;
	size_t live_before_free, live_after_flush, growth_used;
};

static void *remote_producer_thread(void *arg)
{
	struct remote_shrink *r = arg;
	int index = arena_create(); /* the consumer's blocks are remote, however many CPUs */
	THREAD_CHECK(index >= 0, "no arena for the producer");
	tcache_set_thread_arena(arena_get((unsigned)index));
	struct tcache *tc = my_cache();
	r->home = home_bin(tc, r->cls);
	for (unsigned k = 0; k < r->n; k++)
		THREAD_CHECK((r->objs[k] = ingot_malloc(300)) != NULL, "malloc failed");
	return NULL;
}

/* Bursts of four classes whose stacks may grow by 768 KiB in all, more
 * than a cache may grow by. */
static void other_bursts(void **objs)
{
	static const size_t sizes[] = {1024, 2048, 4096, 8192};
	for (unsigned i = 0; i < 4; i++)
		burst(sizes[i], (unsigned)((256 << 10) / sizes[i]), objs);
}

static void *remote_consumer_thread(void *arg)
{
	struct remote_shrink *r = arg;
	struct tcache *tc = my_cache();
	struct tcache_stack *tb = &tc->stacks[r->cls];
	r->ncap_full = tcache_class_ncap(r->cls);
	r->live_before_free = bin_live(r->home);
	for (unsigned k = 0; k < r->n; k++)
		ingot_free(r->objs[k]);
	r->ncap_after_frees = tcache_stack_ncap(tb);
	r->cached_after_frees = tcache_stack_ncached(tb);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the remote frees");
	ingot_thread_flush();
	r->live_after_flush = bin_live(r->home);
	/* Bursts of other classes take all the growth the cache may have:
	 * a stack below its base capacity may still double back to it. */
	for (int cycle = 0; cycle < 8; cycle++)
		other_bursts(r->objs);
	r->growth_used = tc->grown_bytes;
	for (int cycle = 0; cycle < 8; cycle++) {
		burst(300, r->ncap_full, r->objs);
		other_bursts(r->objs); /* keeps them busy: no garbage pass trims them */
	}
	r->ncap_after_bursts = tcache_stack_ncap(tb);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the bursts");
	return NULL;
}

Test(tcache, a_stack_holding_remote_blocks_shrinks_and_grows_back)
{
	skip_if_uncached();
	static void *objs[4096];
	struct remote_shrink r = {.objs = objs, .cls = sizeclass_small(300 + harden_canary_size())};
	r.n = 3 * (unsigned)(65536 / sc_size[r.cls]);
	cr_assert_leq(r.n, 4096);
	run_thread(remote_producer_thread, &r);
	run_thread(remote_consumer_thread, &r);
	cr_assert_leq(r.ncap_after_frees, r.ncap_full / 2, "capacity %u after the remote frees (full %u)",
	              r.ncap_after_frees, r.ncap_full);
	cr_assert_leq(r.cached_after_frees, r.ncap_after_frees);
	cr_assert_eq(r.live_before_free - r.live_after_flush, r.n, "%zu of %u remote blocks went home",
	             r.live_before_free - r.live_after_flush, r.n);
	cr_assert_geq(r.growth_used + 64 * KiB, 512 * KiB,
	              "the bursts of other classes grew the cache by only %zu bytes of 512 KiB", r.growth_used);
	cr_assert_geq(r.ncap_after_bursts, r.ncap_full, "capacity %u after bursts of %u (full %u)",
	              r.ncap_after_bursts, r.ncap_full, r.ncap_full);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- counts ------------------------------------------------------------------ */

/* The fast paths count only allocations (the events countdown); frees are
 * derived from them and the slow paths' moves (tcache.h). The thread's byte
 * counts must stay exact through every kind of move: fast pairs, refills,
 * flushes of a full stack, growth, the garbage pass's trims, events every
 * 8192 allocations, mallocx through the slow path and sized frees. */
#define ZERO_FLAG 0x40 /* MALLOCX_ZERO of include/jemalloc/jemalloc.h */

static void *counts_thread(void *arg)
{
	(void)arg;
	my_cache();
	uint64_t a0 = tcache_thread_allocated(), d0 = tcache_thread_deallocated();
	uint64_t bytes = 0;
	enum { FLOOD = 5000 };
	void **objs = malloc(FLOOD * sizeof(void *)); /* libc's */
	THREAD_CHECK(objs != NULL, "no room to test in");
	for (int round = 0; round < 3; round++) {
		burst(64, FLOOD, objs); /* more than the grown capacity */
		bytes += FLOOD * 64;
		for (int i = 0; i < 20000; i++)
			ingot_free(ingot_malloc(48));
		bytes += 20000 * 48;
		for (int i = 0; i < 300; i++) {
			objs[i] = ingot_mallocx(100, ZERO_FLAG);
			THREAD_CHECK(objs[i] != NULL, "mallocx failed");
		}
		for (int i = 0; i < 300; i++)
			ingot_sdallocx(objs[i], 100, 0);
		bytes += 300 * sc_size[sizeclass_small(100)];
		THREAD_CHECK(tcache_thread_allocated() - a0 == bytes, "round %d: allocated %llu, expected %llu",
		             round, (unsigned long long)(tcache_thread_allocated() - a0),
		             (unsigned long long)bytes);
		THREAD_CHECK(tcache_thread_deallocated() - d0 == bytes, "round %d: deallocated %llu, expected %llu",
		             round, (unsigned long long)(tcache_thread_deallocated() - d0),
		             (unsigned long long)bytes);
	}
	free(objs);
	ingot_thread_flush();
	THREAD_CHECK(tcache_thread_allocated() - a0 == bytes && tcache_thread_deallocated() - d0 == bytes,
	             "a flush changed the thread's counts");
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the counted work");
	return NULL;
}

Test(tcache, thread_byte_counts_stay_exact_through_every_move, .timeout = 60)
{
	skip_if_uncached();
	run_thread(counts_thread, NULL);
}

/* ---- large classes ------------------------------------------------------------ */

/* A freed large block of a cached class goes to the thread's stack of its
 * class and the next request of that class gets it back; another class
 * does not; the byte counts stay exact, and everything goes home at a
 * flush. */
static void *large_hits_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	if (tcache_max_size() <= SC_SMALL_MAX)
		return NULL; /* no large class is cached on this build */
	size_t big = tcache_max_size() - PAGE / 2; /* the largest cached class */
	unsigned cls = sizeclass_of(big);
	uint64_t a0 = tcache_thread_allocated(), d0 = tcache_thread_deallocated();
	void *p = ingot_malloc(big);
	THREAD_CHECK(p != NULL, "malloc of %zu failed", big);
	memset(p, 1, big);
	unsigned before = tcache_stack_ncached(&tc->stacks[cls]);
	ingot_free(p);
	THREAD_CHECK(tcache_stack_ncached(&tc->stacks[cls]) == before + 1 && tc->stacks[cls].top[-1] == p,
	             "a freed large block did not reach its class's stack");
	void *other = ingot_malloc(SC_SMALL_MAX + 1);
	THREAD_CHECK(other != NULL && other != p, "a smaller class got the cached block");
	void *q = ingot_malloc(sc_size[cls] - PAGE + 1);
	THREAD_CHECK(q == p, "a request of the class did not get the cached block back");
	THREAD_CHECK(ingot_malloc_usable_size(q) == sc_size[cls], "the reused block has the wrong size");
	for (int i = 0; i < 1000; i++) /* hits both ways */
		ingot_free(ingot_malloc(big));
	ingot_free(q);
	ingot_free(other);
	uint64_t bytes = 1002 * (uint64_t)sc_size[cls] + sc_size[sizeclass_of(SC_SMALL_MAX + 1)];
	THREAD_CHECK(tcache_thread_allocated() - a0 == bytes && tcache_thread_deallocated() - d0 == bytes,
	             "large hits counted %llu allocated and %llu freed, expected %llu",
	             (unsigned long long)(tcache_thread_allocated() - a0),
	             (unsigned long long)(tcache_thread_deallocated() - d0), (unsigned long long)bytes);
	ingot_thread_flush();
	THREAD_CHECK(tcache_stack_ncached(&tc->stacks[cls]) == 0, "a flush left large blocks in the cache");
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after large hits");
	return NULL;
}

Test(tcache, a_freed_large_block_is_reused_from_its_class_stack)
{
	skip_if_uncached();
	run_thread(large_hits_thread, NULL);
}

/* A large class's stack that is full keeps what it holds: further frees go
 * straight to the arena (its large cache), and a second free of a block the
 * full stack holds is still caught. */
static void full_large_stack_double_free(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_of(tcache_max_size());
	struct tcache_stack *stack = &tc->stacks[cls];
	enum { N = 16 };
	void *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = ingot_malloc(tcache_max_size());
	for (int i = 0; i < N; i++)
		ingot_free(blocks[i]);
	unsigned ncap = tcache_stack_ncap(stack);
	if (tcache_stack_ncached(stack) != ncap || stack->base[0] != blocks[0])
		return; /* no abort: the test reports that */
	ingot_free(blocks[0]);
}

Test(tcache, a_full_large_stack_keeps_its_blocks_and_catches_a_double_free)
{
	skip_if_uncached();
	if (tcache_max_size() <= SC_SMALL_MAX)
		cr_skip_test("no large class is cached on this build");
	assert_aborts_with(full_large_stack_double_free, NULL, "double free", "double free of a block a full large stack holds");
}

/* Threads that free each other's large blocks: each keeps what it frees
 * (as it does small ones) and the heap stays whole through thread exit. */
#define LARGE_SWAP 64
static void *large_swap_thread(void *arg)
{
	void **blocks = arg;
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < LARGE_SWAP; i++) {
			void *p = __atomic_exchange_n(&blocks[i], NULL, __ATOMIC_ACQ_REL);
			ingot_free(p);
			size_t size = SC_SMALL_MAX + 1 + (size_t)((i * 7919 + round) % 48) * 1024;
			p = ingot_malloc(size);
			THREAD_CHECK(p != NULL, "malloc of %zu failed", size);
			*(volatile char *)p = 1;
			p = __atomic_exchange_n(&blocks[i], p, __ATOMIC_ACQ_REL);
			ingot_free(p);
		}
	}
	return NULL;
}

Test(tcache, threads_trading_large_blocks_keep_the_heap_whole, .timeout = 60)
{
	skip_if_uncached();
	static void *blocks[LARGE_SWAP];
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		t[i] = start_thread(large_swap_thread, blocks);
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	for (int i = 0; i < LARGE_SWAP; i++)
		ingot_free(blocks[i]);
	ingot_thread_flush();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- explicit caches ------------------------------------------------------------------ */

Test(tcache, an_explicit_cache_gives_everything_back_when_destroyed)
{
	skip_if_uncached();
	unsigned index;
	cr_assert_eq(tcache_explicit_create(&index), 0);
	struct tcache *tc = tcache_explicit_get(index);
	cr_assert_not_null(tc);
	struct arena *arena = arena_get(0);
	unsigned cls = sizeclass_small(500);
	size_t live0 = bin_live(arena_bin(arena, cls));
	void *p[200];
	for (int i = 0; i < 200; i++) {
		p[i] = tcache_alloc_from(tc, arena, cls);
		cr_assert_not_null(p[i]);
		pattern_fill(p[i], sc_size[cls], (uint64_t)i);
	}
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(pattern_mismatch(p[i], sc_size[cls], (uint64_t)i), SIZE_MAX);
		tcache_free_to(tc, p[i], cls);
	}
	cr_assert(tcache_explicit_destroy(index));
	cr_assert_null(tcache_explicit_get(index), "a destroyed index still names a cache");
	cr_assert_not(tcache_explicit_destroy(index), "destroyed twice");
	cr_assert_eq(bin_live(arena_bin(arena, cls)), live0, "objects stayed out after destroy");
	cr_assert_eq(ingot_check(), 0);
}

Test(tcache, check_finds_an_object_cached_twice)
{
	/* The check must find the one duplicate among a stack of 200. */
	enum { N = 200 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = ingot_malloc(16);
	for (int i = 0; i < N; i++)
		ingot_free(p[i]);
	struct tcache *tc = tcache_thread();
	cr_assert_not_null(tc);
	/* A debug heap's canary takes 8 more bytes of each block. */
	unsigned cls = sizeclass_small(16 + harden_canary_size());
	struct tcache_stack *stack = &tc->cstacks[cls];
	cr_assert_geq(tcache_stack_ncached(stack), N / 2);
	cr_assert_eq(ingot_check(), 0);
	tcache_stack_push(stack, stack->base[3]); /* the 4th oldest again, on top */
	cr_assert_neq(ingot_check(), 0, "a cache holding an object twice passed the check");
	tcache_stack_pop(stack);
	cr_assert_eq(ingot_check(), 0);
}

/* Hooks installed by another thread see this thread's large blocks at once,
 * though its class stack holds one (large_hit_* step aside). */
static void *hooked_block;
static int hooked_allocs, hooked_frees;

static void count_hooked_alloc(void *ctx, void *ptr, size_t requested, size_t usable)
{
	(void)ctx, (void)requested, (void)usable;
	if (ptr == hooked_block)
		__atomic_fetch_add(&hooked_allocs, 1, __ATOMIC_RELAXED);
}

static void count_hooked_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx, (void)usable;
	if (ptr == hooked_block)
		__atomic_fetch_add(&hooked_frees, 1, __ATOMIC_RELAXED);
}

static int hooks_phase; /* 1: the thread's stack holds its block; 2: hooks are in */

static void *large_block_under_new_hooks(void *arg)
{
	size_t size = *(size_t *)arg;
	void *p = ingot_malloc(size);
	THREAD_CHECK(p != NULL, "malloc of %zu failed", size);
	ingot_free(p); /* kept on its class's stack */
	__atomic_store_n(&hooked_block, p, __ATOMIC_RELEASE);
	__atomic_store_n(&hooks_phase, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&hooks_phase, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	void *q = ingot_malloc(size);
	THREAD_CHECK(q == p, "the class's stack did not give its block back");
	ingot_free(q);
	return NULL;
}

Test(tcache, hooks_set_by_another_thread_see_large_hits_at_once)
{
	skip_if_uncached();
	if (tcache_max_size() <= SC_SMALL_MAX)
		cr_skip_test("no large class is cached on this build");
	size_t size = tcache_max_size();
	pthread_t t = start_thread(large_block_under_new_hooks, &size);
	while (__atomic_load_n(&hooks_phase, __ATOMIC_ACQUIRE) != 1)
		sched_yield();
	static const struct ingot_hooks hooks = {count_hooked_alloc, count_hooked_free, NULL, NULL};
	cr_assert_eq(ingot_hooks_set(&hooks), 0);
	__atomic_store_n(&hooks_phase, 2, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ingot_hooks_set(NULL);
	assert_no_thread_failure();
	cr_assert_eq(hooked_allocs, 1, "the large malloc after the hooks went unseen");
	cr_assert_eq(hooked_frees, 1, "the large free after the hooks went unseen");
	cr_assert_eq(ingot_check(), 0);
}

/* A batch of large blocks bigger than their class's stack: the mallocs past
 * an empty stack and the frees past a full one go straight to the arena,
 * and still count in the thread's byte totals, give distinct blocks, and
 * leave the heap whole. */
#define LARGE_BATCH 24
static void *large_batch_past_the_stack(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	size_t size = tcache_max_size();
	unsigned cls = sizeclass_of(size);
	void *blocks[LARGE_BATCH];
	for (int round = 0; round < 3; round++) {
		uint64_t a0 = tcache_thread_allocated(), d0 = tcache_thread_deallocated();
		for (int i = 0; i < LARGE_BATCH; i++) {
			blocks[i] = ingot_malloc(size);
			THREAD_CHECK(blocks[i] != NULL, "malloc of %zu failed", size);
			memset(blocks[i], i, size);
		}
		for (int i = 0; i < LARGE_BATCH; i++)
			for (int j = 0; j < i; j++)
				THREAD_CHECK(blocks[i] != blocks[j], "one block handed out twice");
		for (int i = 0; i < LARGE_BATCH; i++)
			THREAD_CHECK(((unsigned char *)blocks[i])[size - 1] == (unsigned char)i,
			             "a block was overwritten by another");
		for (int i = 0; i < LARGE_BATCH; i++)
			ingot_free(blocks[i]);
		THREAD_CHECK(tcache_stack_ncached(&tc->stacks[cls]) == tcache_stack_ncap(&tc->stacks[cls]),
		             "the class's stack is not full after the batch");
		THREAD_CHECK(tcache_thread_allocated() - a0 == LARGE_BATCH * (uint64_t)sc_size[cls],
		             "thread.allocated missed large blocks");
		THREAD_CHECK(tcache_thread_deallocated() - d0 == LARGE_BATCH * (uint64_t)sc_size[cls],
		             "thread.deallocated missed large blocks");
		THREAD_CHECK(ingot_check() == 0, "heap check failed after round %d", round);
	}
	return NULL;
}

Test(tcache, a_large_batch_past_its_stack_counts_and_reuses_its_blocks)
{
	skip_if_uncached();
	if (tcache_max_size() <= SC_SMALL_MAX)
		cr_skip_test("no large class is cached on this build");
	run_thread(large_batch_past_the_stack, NULL);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- bins set up on first use ---------------------------------------------- */

enum { FIRST_USE_THREADS = 16, FIRST_USE_OBJS = 64 };

struct first_use {
	unsigned index;
	pthread_barrier_t start;
	void *objs[FIRST_USE_THREADS][FIRST_USE_OBJS];
};

static void *first_use_thread(void *arg)
{
	struct first_use *f = arg;
	tcache_set_thread_arena(arena_get(f->index));
	static unsigned next; /* each thread's row of objs */
	unsigned slot = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % FIRST_USE_THREADS;
	pthread_barrier_wait(&f->start);
	for (unsigned k = 0; k < FIRST_USE_OBJS; k++)
		THREAD_CHECK((f->objs[slot][k] = ingot_malloc(200)) != NULL, "malloc failed");
	return NULL; /* exits with objects in its cache and out */
}

static int address_order(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return (x > y) - (x < y);
}

static void first_use_child(void *arg)
{
	struct first_use *f = arg;
	struct arena *a = arena_get(f->index);
	tcache_set_thread_arena(a);
	void *p = ingot_malloc(3000);
	if (p == NULL || !arena_bin_used(a, sizeclass_small(3000)) || ingot_check() != 0)
		abort();
	ingot_free(p);
}

/* A fresh arena's bins stay zero until a class is used: many threads taking
 * their first objects of one class from it at once set its bin up once and
 * get every object once; they exit with objects out, which another thread
 * frees; a forked child sets up another class of the arena. */
Test(tcache, an_arenas_bins_are_set_up_on_first_use_by_many_threads)
{
	skip_if_uncached();
	static struct first_use f;
	int index = arena_create();
	cr_assert_geq(index, 0, "no arena to test with");
	f.index = (unsigned)index;
	struct arena *a = arena_get(f.index);
	unsigned cls = sizeclass_small(200), other = sizeclass_small(3000);
	for (unsigned c = 1; c <= SC_NSMALL; c++)
		cr_assert(!arena_bin_used(a, c), "class %u set up before use", c);
	pthread_barrier_init(&f.start, NULL, FIRST_USE_THREADS);
	pthread_t threads[FIRST_USE_THREADS];
	for (unsigned t = 0; t < FIRST_USE_THREADS; t++)
		threads[t] = start_thread(first_use_thread, &f);
	for (unsigned t = 0; t < FIRST_USE_THREADS; t++)
		join_thread(threads[t]);
	pthread_barrier_destroy(&f.start);
	assert_no_thread_failure();
	cr_assert(arena_bin_used(a, cls));
	cr_assert_eq(a->bins[cls].sizeclass, cls);
	cr_assert(!arena_bin_used(a, other), "a class nobody used was set up");
	void **all = &f.objs[0][0];
	enum { N = FIRST_USE_THREADS * FIRST_USE_OBJS };
	qsort(all, N, sizeof(void *), address_order);
	for (unsigned i = 0; i + 1 < N; i++)
		cr_assert_neq(all[i], all[i + 1], "an object handed out twice");
	for (unsigned i = 0; i < N; i++)
		memset(all[i], (int)i, 200);
	for (unsigned i = 0; i < N; i++)
		ingot_free(all[i]);
	cr_assert_eq(ingot_check(), 0);
	struct child_result r;
	run_in_child(first_use_child, &f, &r);
	cr_assert(r.exited && r.status == 0, "child: %s %d; stderr: \"%s\"",
	          r.exited ? "exited with" : "died of signal", r.status, r.err);
	cr_assert(!arena_bin_used(a, other), "the child's first use showed in the parent");
}

enum { FORK_ARENAS_MAX = 200 };
static const size_t fork_sizes[] = {16, 48, 200, 640, 1536, 3000, 7168, 14336};
static bool fork_stop;

static bool malloc_each_fork_size(struct arena *a)
{
	tcache_set_thread_arena(a);
	for (unsigned s = 0; s < sizeof fork_sizes / sizeof fork_sizes[0]; s++) {
		void *p = ingot_malloc(fork_sizes[s]);
		if (p == NULL)
			return false;
		ingot_free(p);
	}
	return true;
}

/* First uses of the classes above in new arenas, one after another (up to
 * FORK_ARENAS_MAX), until the main thread has forked enough. */
static void *first_use_during_fork_thread(void *arg)
{
	(void)arg;
	for (unsigned n = 0; n < FORK_ARENAS_MAX && !__atomic_load_n(&fork_stop, __ATOMIC_ACQUIRE); n++) {
		int index = arena_create();
		THREAD_CHECK(index >= 0, "no arena to test with");
		THREAD_CHECK(malloc_each_fork_size(arena_get((unsigned)index)), "malloc failed");
	}
	/* Runs until then: ThreadSanitizer reports a child forked beside a
	 * finished thread not yet joined as a leak. */
	while (!__atomic_load_n(&fork_stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

/* The child takes objects of those classes from every arena. */
static void fork_child_uses_every_bin(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < narenas_total; i++)
		if (arena_get(i) && !malloc_each_fork_size(arena_get(i)))
			abort();
	if (ingot_check() != 0)
		abort();
}

/* Fork locks only the bins set up; one set up while a fork runs is either
 * locked and released by it or left untouched, so a child finds every bin
 * free (a hang is a failure: run_in_child's alarm). */
Test(tcache, a_fork_while_bins_are_set_up_leaves_the_child_every_bin)
{
	skip_if_uncached();
	pthread_t t = start_thread(first_use_during_fork_thread, NULL);
	for (unsigned k = 0; k < 8; k++) {
		struct child_result r;
		run_in_child(fork_child_uses_every_bin, NULL, &r);
		cr_assert(r.exited && r.status == 0, "child %u: %s %d; stderr: \"%s\"", k,
		          r.exited ? "exited with" : "died of signal", r.status, r.err);
	}
	__atomic_store_n(&fork_stop, true, __ATOMIC_RELEASE);
	join_thread(t);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- flushes of classes above 1 KiB (slab_free_few) -------------------------- */

/* Their slabs hold 4 to 23 objects in one bitmap word, and a flush gives
 * each slab's objects back as one mask: in any order, across slabs and in
 * flushes of any length, nothing is lost or doubled. */
Test(tcache, a_flush_of_big_small_objects_gives_back_each_once)
{
	skip_if_uncached();
	enum { N = 600 };
	static void *objs[N], *again[N];
	struct arena *arena = arena_get(0);
	uint64_t rng = 7;
	for (size_t size = 1152; size <= SC_SMALL_MAX; size *= 2) {
		unsigned cls = sizeclass_small(size);
		struct bin *bin = arena_bin(arena, cls);
		size_t live0 = bin_live(bin);
		cr_assert_leq(sc_nregs[cls], 64, "class %u: a slab of more than one bitmap word", cls);
		for (int round = 0; round < 3; round++) {
			cr_assert_eq(bin_alloc_batch(bin, &arena->heap, objs, N), N);
			for (unsigned i = N / 2; i < N; i++) { /* the second half shuffled */
				size_t j = N / 2 + rng_below(&rng, i - N / 2 + 1);
				void *t = objs[i];
				objs[i] = objs[j];
				objs[j] = t;
			}
			for (unsigned i = 0, len = 1; i < N; i += len, len = len % 13 + 1)
				bin_free_batch(bin, &arena->heap, objs + i, MIN(len, N - i));
			cr_assert_eq(bin_live(bin), live0, "size %zu round %d: %zu live, %zu before", size, round,
			             bin_live(bin), live0);
			cr_assert_eq(ingot_check(), 0);
		}
		cr_assert_eq(bin_alloc_batch(bin, &arena->heap, again, N), N);
		for (unsigned i = 0; i < N; i++)
			*(unsigned *)again[i] = i;
		for (unsigned i = 0; i < N; i++)
			cr_assert_eq(*(unsigned *)again[i], i, "size %zu: object %u handed out twice", size, i);
		bin_free_batch(bin, &arena->heap, again, N);
		cr_assert_eq(bin_live(bin), live0);
	}
}

Test(tcache, a_flush_of_big_small_objects_reports_misuse)
{
	skip_if_uncached();
	struct flush_misuse kinds[] = {{TWICE_IN_ONE_FLUSH, 3000}, {TWICE_ACROSS_FLUSHES, 3000}, {INSIDE_A_RUN, 3000},
	                               {TWICE_IN_ONE_RUN, 3000}};
	assert_aborts_with(flush_misuse, &kinds[0], "double free", "an object twice in one flush");
	assert_aborts_with(flush_misuse, &kinds[1], "double free", "an object in two flushes");
	assert_aborts_with(flush_misuse, &kinds[2], "invalid pointer", "a pointer inside an object");
	assert_aborts_with(flush_misuse, &kinds[3], "double free", "an object twice in one slab's run");
}

/* ---- small refills and frees past a full stack (small_refill_hit, small_full_hit) ---- */

/* Hooks installed by another thread see this thread's small malloc that
 * finds its stack empty, or its small free that finds it full, at once:
 * the default-mode shortcuts to the stack step aside. */
static __thread void *last_hooked_alloc, *last_hooked_free;
static int small_hooks_phase; /* 1: the stack is empty or full; 2: hooks are in */

static void note_hooked_alloc(void *ctx, void *ptr, size_t requested, size_t usable)
{
	(void)ctx, (void)requested, (void)usable;
	last_hooked_alloc = ptr;
}

static void note_hooked_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx, (void)usable;
	last_hooked_free = ptr;
}

enum { SMALL_HOOKED_SIZE = 3000, SMALL_HOOKED_MAX = 4096 };

static void *small_stack_edge_under_new_hooks(void *arg)
{
	bool full = *(bool *)arg;
	static __thread void *held[SMALL_HOOKED_MAX];
	struct tcache_stack *stack = &my_cache()->cstacks[sizeclass_small(SMALL_HOOKED_SIZE)];
	void *extra = ingot_malloc(SMALL_HOOKED_SIZE); /* freed past the full stack */
	unsigned n = 0;
	/* Mallocs past the stack's capacity (refills open it), until it is
	 * empty. */
	do
		held[n++] = ingot_malloc(SMALL_HOOKED_SIZE);
	while ((n < SMALL_HOOKED_MAX / 4 || tcache_stack_ncached(stack) > 0) && n < SMALL_HOOKED_MAX / 2);
	bool ready = tcache_stack_ncached(stack) == 0 && tcache_stack_ncap(stack) > 0;
	if (full) {
		while (tcache_stack_ncached(stack) < tcache_stack_ncap(stack) && n > 0)
			ingot_free(held[--n]);
		ready = tcache_stack_ncached(stack) == tcache_stack_ncap(stack);
	}
	__atomic_store_n(&small_hooks_phase, 1, __ATOMIC_RELEASE); /* even when not ready: the test waits */
	THREAD_CHECK(ready, "the stack never ran %s", full ? "full" : "empty");
	while (__atomic_load_n(&small_hooks_phase, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	if (full) {
		ingot_free(extra);
		THREAD_CHECK(last_hooked_free == extra, "the free past a full stack went unseen by the hooks");
	} else {
		void *q = ingot_malloc(SMALL_HOOKED_SIZE);
		THREAD_CHECK(q != NULL && last_hooked_alloc == q, "the malloc on an empty stack went unseen by the hooks");
		ingot_free(q);
		ingot_free(extra);
	}
	while (n > 0)
		ingot_free(held[--n]);
	return NULL;
}

static void small_stack_edge_sees_new_hooks(bool full)
{
	__atomic_store_n(&small_hooks_phase, 0, __ATOMIC_RELEASE);
	pthread_t t = start_thread(small_stack_edge_under_new_hooks, &full);
	while (__atomic_load_n(&small_hooks_phase, __ATOMIC_ACQUIRE) != 1)
		sched_yield();
	static const struct ingot_hooks hooks = {note_hooked_alloc, note_hooked_free, NULL, NULL};
	cr_assert_eq(ingot_hooks_set(&hooks), 0);
	__atomic_store_n(&small_hooks_phase, 2, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ingot_hooks_set(NULL);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

Test(tcache, hooks_set_by_another_thread_see_a_small_refill_at_once)
{
	skip_if_uncached();
	small_stack_edge_sees_new_hooks(false);
}

Test(tcache, hooks_set_by_another_thread_see_a_free_past_a_full_stack_at_once)
{
	skip_if_uncached();
	small_stack_edge_sees_new_hooks(true);
}

/* ---- flushes of shuffled objects (hardened mode: free_scattered_locked) ---- */

/* Slabs of bin in its nonfull list that are empty: an emptied slab that
 * a flush failed to file (ingot_check does not look for these). */
static unsigned empty_slabs_left_nonfull(struct bin *bin)
{
	unsigned n = 0;
	arch_lock_acquire(&bin->lock);
	for (struct span *s = bin->nonfull; s; s = s->next)
		n += s->nfree == sc_nregs[bin->sizeclass];
	arch_lock_release(&bin->lock);
	return n;
}

/* With HARDEN_RANDOM_SLOTS (hardened mode) a flush takes its objects in
 * any order, a bit at a time: objects of many slabs shuffled together,
 * of classes of one to four bitmap words and of one, in flushes of 1 to
 * 300 objects, all come back once: the bin's live count, no emptied slab
 * left in the nonfull list, ingot_check, and a second batch that hands out
 * every object once. */
Test(tcache, a_flush_of_shuffled_objects_from_several_slabs_gives_back_each_once)
{
	skip_if_uncached();
	enum { N = 1500 };
	static void *objs[N], *again[N];
	static const size_t sizes[] = {16, 48, 64, 80, 160, 512, 3000};
	struct arena *arena = arena_get(0);
	unsigned hardening = ingot_hardening;
	ingot_hardening |= HARDEN_RANDOM_SLOTS;
	uint64_t rng = 19;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned cls = sizeclass_small(sizes[k]);
		struct bin *bin = arena_bin(arena, cls);
		size_t live0 = bin_live(bin);
		for (int round = 0; round < 3; round++) {
			cr_assert_eq(bin_alloc_batch(bin, &arena->heap, objs, N), N);
			for (unsigned i = N - 1; i > 0; i--) { /* all of them shuffled */
				size_t j = rng_below(&rng, i + 1);
				void *t = objs[i];
				objs[i] = objs[j];
				objs[j] = t;
			}
			for (unsigned i = 0, len = 1; i < N; i += len, len = len * 7 % 300 + 1)
				bin_free_batch(bin, &arena->heap, objs + i, MIN(len, N - i));
			cr_assert_eq(bin_live(bin), live0, "size %zu round %d: %zu live, %zu before", sizes[k], round,
			             bin_live(bin), live0);
			cr_assert_eq(empty_slabs_left_nonfull(bin), 0, "size %zu: an empty slab left in the nonfull list",
			             sizes[k]);
			cr_assert_eq(ingot_check(), 0);
		}
		cr_assert_eq(bin_alloc_batch(bin, &arena->heap, again, N), N);
		for (unsigned i = 0; i < N; i++)
			*(unsigned *)again[i] = i;
		for (unsigned i = 0; i < N; i++)
			cr_assert_eq(*(unsigned *)again[i], i, "size %zu: object %u handed out twice", sizes[k], i);
		bin_free_batch(bin, &arena->heap, again, N);
		cr_assert_eq(bin_live(bin), live0);
	}
	ingot_hardening = hardening;
}

static void scattered_flush_misuse(void *arg)
{
	ingot_hardening |= HARDEN_RANDOM_SLOTS;
	flush_misuse(arg);
}

/* An object twice among shuffled objects of several slabs, the second
 * time many objects and slabs after the first: half of 2N objects of
 * several slabs, shuffled, go back, then one of them again (its slab
 * keeps objects out, so it is still a slab of the bin). */
static void scattered_double_free(void *arg)
{
	enum { N = 600 };
	static void *objs[2 * N];
	struct arena *arena = arena_get(0);
	unsigned cls = sizeclass_small(*(const size_t *)arg);
	struct bin *bin = arena_bin(arena, cls);
	uint64_t rng = 5;
	ingot_free(ingot_malloc(1)); /* boots ingot */
	ingot_hardening |= HARDEN_RANDOM_SLOTS;
	if (bin_alloc_batch(bin, &arena->heap, objs, 2 * N) != 2 * N)
		return;
	for (unsigned i = 2 * N - 1; i > 0; i--) {
		size_t j = rng_below(&rng, i + 1);
		void *t = objs[i];
		objs[i] = objs[j];
		objs[j] = t;
	}
	objs[N] = objs[3];
	bin_free_batch(bin, &arena->heap, objs, N + 1);
}

/* The checks a flush of runs makes hold in a flush of shuffled objects:
 * twice in one flush, across flushes, in a row, a pointer inside an
 * object, each reported with slab_free_run's message. */
Test(tcache, a_flush_of_shuffled_objects_reports_misuse)
{
	skip_if_uncached();
	struct flush_misuse kinds[] = {{TWICE_IN_ONE_FLUSH, 64}, {TWICE_ACROSS_FLUSHES, 64}, {INSIDE_A_RUN, 64},
	                               {TWICE_IN_ONE_RUN, 64},   {TWICE_IN_ONE_FLUSH, 3000}};
	assert_aborts_with(scattered_flush_misuse, &kinds[0], "double free", "an object twice in one flush");
	assert_aborts_with(scattered_flush_misuse, &kinds[1], "double free", "an object in two flushes");
	assert_aborts_with(scattered_flush_misuse, &kinds[2], "invalid pointer", "a pointer inside an object");
	assert_aborts_with(scattered_flush_misuse, &kinds[3], "double free", "an object twice in a row");
	assert_aborts_with(scattered_flush_misuse, &kinds[4], "double free", "twice, class of one word");
	static const size_t sizes[] = {16, 80, 160};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		assert_aborts_with(scattered_double_free, (void *)&sizes[k], "double free", "among shuffled slabs");
}

/* ---- first areas --------------------------------------------------------------- */

/* A stack lies in its first area (before the quarantine in its cache's
 * stack memory; its room lies past it) until a burst moves it. */
static bool in_first_area(struct tcache *tc, unsigned cls)
{
	return tc->stacks[cls].base < tc->quarantine;
}

struct first_area_result {
	bool opened_in_first_area, pairs_stayed, moved, kept_objects, grew_to_class_ncap;
	uint64_t pair_flushed, pair_refilled;
	unsigned ncap_opened;
};

/* Pairs of one class never fill the stack: it stays in its first area and
 * neither flushes nor refills. A burst bigger than the first area moves it
 * at the free that finds it full, to its class's capacity, with what it
 * held under the freed block. */
static void *first_area_thread(void *arg)
{
	struct first_area_result *r = arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(48);
	struct tcache_stack *tb = &tc->stacks[cls];
	struct tcache_stack_info *info = &tc->info[cls];
	r->opened_in_first_area = in_first_area(tc, cls) && tcache_stack_ncap(tb) < tcache_class_ncap(cls);
	r->ncap_opened = tcache_stack_ncap(tb);
	uint64_t nin = info->nin, nout = info->nout;
	for (int k = 0; k < 20000; k++)
		ingot_free(ingot_malloc(48));
	r->pair_refilled = info->nin - nin;
	r->pair_flushed = info->nout - nout;
	r->pairs_stayed = in_first_area(tc, cls);
	unsigned n = 3 * r->ncap_opened;
	void **objs = malloc(n * sizeof(void *)), **held = malloc(n * sizeof(void *)); /* libc's */
	THREAD_CHECK(objs != NULL && held != NULL, "no room to test in");
	for (unsigned k = 0; k < n; k++)
		objs[k] = ingot_malloc(48);
	for (unsigned k = 0; k < n; k++) {
		unsigned held_n = tcache_stack_ncached(tb);
		bool before = in_first_area(tc, cls);
		memcpy(held, tb->base, held_n * sizeof(void *));
		ingot_free(objs[k]);
		if (!before || in_first_area(tc, cls))
			continue;
		r->moved = true;
		r->kept_objects = held_n == r->ncap_opened && tcache_stack_ncached(tb) == held_n + 1 &&
		                  memcmp(held, tb->base, held_n * sizeof(void *)) == 0 &&
		                  tb->base[held_n] == objs[k] && tb->base[-1] == NULL;
		r->grew_to_class_ncap = tcache_stack_ncap(tb) == tcache_class_ncap(cls);
	}
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the move");
	THREAD_CHECK(own_cached_bytes(tc) <= tcache_capacity_bytes(), "over the cache's bound");
	free(objs);
	free(held);
	return NULL;
}

Test(tcache, a_stack_leaves_its_first_area_only_for_a_burst_and_keeps_its_objects)
{
	skip_if_uncached();
	struct first_area_result r = {0};
	run_thread(first_area_thread, &r);
	cr_assert(r.opened_in_first_area, "the stack opened at capacity %u outside its first area",
	          r.ncap_opened);
	cr_assert(r.pairs_stayed, "pairs moved the stack out of its first area");
	cr_assert_eq(r.pair_refilled + r.pair_flushed, 0, "pairs refilled %llu and flushed %llu objects",
	             (unsigned long long)r.pair_refilled, (unsigned long long)r.pair_flushed);
	cr_assert(r.moved, "a burst of three first areas did not move the stack");
	cr_assert(r.kept_objects, "the moved stack does not hold what the full first area held");
	cr_assert(r.grew_to_class_ncap, "the moved stack is not at its class's capacity");
}

/* Threads in a ring: each hands bursts of blocks of several classes to the
 * next, which checks and frees them (remote frees), and runs bursts of its
 * own that move its stacks out of their first areas. No block is handed
 * out twice (each carries its owner's tag), every cache stays under its
 * bound, and the heap is consistent once all have exited. */
#define RING_THREADS 8
#define RING_BLOCKS 300
#define RING_ROUNDS 12
static void *ring_blocks[RING_THREADS][RING_BLOCKS];
static pthread_barrier_t ring_barrier;

static size_t ring_size(unsigned k) { return 16 + (k % 8) * 16; }

/* A ring thread that stopped at a THREAD_CHECK would leave the others
 * waiting at the barrier: a failure says why on stderr and aborts. */
#define RING_CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

static void *ring_thread(void *arg)
{
	unsigned self = (unsigned)(uintptr_t)arg, next = (self + 1) % RING_THREADS;
	struct tcache *tc = my_cache();
	void *own[RING_BLOCKS];
	for (int round = 0; round < RING_ROUNDS; round++) {
		for (unsigned k = 0; k < RING_BLOCKS; k++) {
			void *p = ring_blocks[self][k] = ingot_malloc(ring_size(k));
			RING_CHECK(p != NULL, "malloc failed");
			*(uintptr_t *)p = (uintptr_t)self << 32 | k;
		}
		pthread_barrier_wait(&ring_barrier);
		for (unsigned k = 0; k < RING_BLOCKS; k++) {
			void *p = ring_blocks[next][k];
			RING_CHECK(*(uintptr_t *)p == ((uintptr_t)next << 32 | k),
			           "block %u of thread %u was handed out twice", k, next);
			ingot_free(p);
		}
		for (unsigned k = 0; k < RING_BLOCKS; k++) {
			own[k] = ingot_malloc(ring_size((unsigned)round));
			RING_CHECK(own[k] != NULL, "malloc failed in a burst");
			*(unsigned *)own[k] = k;
		}
		for (unsigned k = 0; k < RING_BLOCKS; k++) {
			RING_CHECK(*(unsigned *)own[k] == k, "object %u of a burst was handed out twice", k);
			ingot_free(own[k]);
		}
		RING_CHECK(own_cached_bytes(tc) <= tcache_capacity_bytes(), "over the cache's bound");
		RING_CHECK(tc->grown_bytes <= tcache_capacity_bytes(), "growth over the cache's bound");
		pthread_barrier_wait(&ring_barrier);
	}
	RING_CHECK(ingot_check() == 0, "heap inconsistent in a ring thread");
	return NULL;
}

Test(tcache, a_ring_of_threads_freeing_each_others_bursts_stays_consistent)
{
	skip_if_uncached();
	pthread_barrier_init(&ring_barrier, NULL, RING_THREADS);
	pthread_t t[RING_THREADS];
	for (unsigned i = 0; i < RING_THREADS; i++)
		t[i] = start_thread(ring_thread, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < RING_THREADS; i++)
		join_thread(t[i]);
	pthread_barrier_destroy(&ring_barrier);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

struct reuse_result {
	void **stack_mem;
	bool moved;
};

static void *grow_and_exit_thread(void *arg)
{
	struct reuse_result *r = arg;
	struct tcache *tc = my_cache();
	void *objs[400];
	burst(64, 400, objs);
	r->moved = !in_first_area(tc, sizeclass_small(64));
	r->stack_mem = tc->stack_mem;
	return NULL;
}

struct reused_result {
	void **stack_mem;
	bool fresh_first_area, moved_again;
};

static void *reuse_thread(void *arg)
{
	struct reused_result *r = arg;
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(64);
	r->stack_mem = tc->stack_mem;
	r->fresh_first_area = in_first_area(tc, cls) && tcache_stack_ncap(&tc->stacks[cls]) < tcache_class_ncap(cls);
	void *objs[400];
	burst(64, 400, objs);
	r->moved_again = !in_first_area(tc, cls);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent in the reusing thread");
	return NULL;
}

/* The stack memory of a thread whose stack moved is reused by the next
 * thread, whose stacks start in their first areas again and move again. */
Test(tcache, a_reused_cache_starts_in_its_first_areas_again)
{
	skip_if_uncached();
	struct reuse_result first = {0};
	run_thread(grow_and_exit_thread, &first);
	cr_assert(first.moved, "the first thread's burst did not move its stack");
	struct reused_result r = {0};
	run_thread(reuse_thread, &r);
	cr_assert_eq(r.stack_mem, first.stack_mem, "the exited thread's stack memory was not reused");
	cr_assert(r.fresh_first_area, "the reused cache's stack did not start in its first area");
	cr_assert(r.moved_again, "the reused cache's stack did not move under a burst");
	cr_assert_eq(ingot_check(), 0);
}

/* A child forked while one class's stack sits in its first area, holding
 * objects, and another's has moved: bursts of both work in the child. */
static void first_area_fork_child(void *arg)
{
	(void)arg;
	struct tcache *tc = tcache_thread();
	void *objs[400];
	burst(32, 400, objs);
	burst(64, 400, objs);
	if (tc == NULL || in_first_area(tc, sizeclass_small(32)) || ingot_check() != 0 || thread_failed)
		_exit(1);
}

Test(tcache, a_fork_with_stacks_in_and_out_of_their_first_areas_leaves_a_working_child)
{
	skip_if_uncached();
	struct tcache *tc = my_cache();
	void *objs[400];
	burst(64, 400, objs);
	cr_assert(!in_first_area(tc, sizeclass_small(64)), "the burst did not move the stack");
	void *kept[8];
	for (int k = 0; k < 8; k++)
		kept[k] = ingot_malloc(32);
	for (int k = 0; k < 8; k++)
		ingot_free(kept[k]);
	cr_assert(in_first_area(tc, sizeclass_small(32)) && tcache_stack_ncached(&tc->stacks[sizeclass_small(32)]) > 0);
	struct child_result res;
	run_in_child(first_area_fork_child, NULL, &res);
	cr_assert(res.exited && res.status == 0, "child failed: %s", res.err);
	cr_assert_eq(ingot_check(), 0);
}

/* A consumer whose stack, still in its first area, fills with another
 * thread's blocks moves it to its room at half its class's capacity (as a
 * flush there leaves it), and every block goes home at its flush. */
struct first_area_consumer {
	void *objs[512];
	unsigned cls, ncap_opened, ncap_after;
	bool moved;
	struct bin *home;
	size_t live_before, live_after_flush;
};

static void *first_area_producer_thread(void *arg)
{
	struct first_area_consumer *c = arg;
	int index = arena_create(); /* the consumer's blocks are remote, however many CPUs */
	THREAD_CHECK(index >= 0, "no arena for the producer");
	tcache_set_thread_arena(arena_get((unsigned)index));
	struct tcache *tc = my_cache();
	c->home = home_bin(tc, c->cls);
	for (unsigned k = 0; k < 512; k++)
		THREAD_CHECK((c->objs[k] = ingot_malloc(48)) != NULL, "malloc failed");
	return NULL;
}

static void *first_area_consumer_thread(void *arg)
{
	struct first_area_consumer *c = arg;
	struct tcache *tc = my_cache();
	c->ncap_opened = tcache_stack_ncap(&tc->stacks[c->cls]);
	c->live_before = bin_live(c->home);
	for (unsigned k = 0; k < 512; k++)
		ingot_free(c->objs[k]);
	c->moved = !in_first_area(tc, c->cls);
	c->ncap_after = tcache_stack_ncap(&tc->stacks[c->cls]);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the remote frees");
	ingot_thread_flush();
	c->live_after_flush = bin_live(c->home);
	return NULL;
}

Test(tcache, a_consumer_stack_full_of_remote_blocks_leaves_its_first_area_at_half_capacity)
{
	skip_if_uncached();
	static struct first_area_consumer c;
	c.cls = sizeclass_small(48);
	run_thread(first_area_producer_thread, &c);
	run_thread(first_area_consumer_thread, &c);
	cr_assert(c.moved, "the consumer's stack stayed in its first area");
	cr_assert_gt(c.ncap_after, c.ncap_opened, "capacity %u after the remote frees (opened at %u)",
	             c.ncap_after, c.ncap_opened);
	cr_assert_leq(c.ncap_after, tcache_class_ncap(c.cls) / 2, "capacity %u after the remote frees (class %u)",
	              c.ncap_after, tcache_class_ncap(c.cls));
	cr_assert_eq(c.live_before - c.live_after_flush, 512, "%zu of 512 remote blocks went home",
	             c.live_before - c.live_after_flush);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- large blocks freed by the fast path (the class window's large classes) ---- */

/* A large block a thread's stack of its class handed out or kept is freed
 * by the free fast path: its first page's class window byte names its
 * class (arena_large_window_set), as a small object's page does. Its ways
 * out of the stacks (a second free, a resize, the page heap) are tested
 * below. */
static void skip_unless_large_hits(void)
{
	skip_if_uncached();
	if (tcache_max_size() <= SC_SMALL_MAX)
		cr_skip_test("no large class is cached on this build");
	struct tcache *tc = tcache_thread();
	if (!tc || !tc->large_fast)
		cr_skip_test("no large hits in this mode (guarded samples, profiling, checks)");
}

static void *large_window_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned cls = SC_NSMALL + 1;
	void *p = ingot_malloc(sc_size[cls]);
	ingot_free(p); /* the slow path's push */
	void *q = ingot_malloc(sc_size[cls]);
	THREAD_CHECK(q == p, "the class's stack did not give its block back");
	int copy = pagemap_window_class((uintptr_t)q);
	THREAD_CHECK(copy < 0 || copy == (int)cls, "a large block's page has window class %d, not %u", copy, cls);
	ingot_free(q); /* the fast path's push */
	THREAD_CHECK(tc->stacks[cls].top[-1] == q, "the free did not reach the class's stack");
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent with a large block's window byte set");
	THREAD_CHECK(ingot_malloc(sc_size[cls]) == q, "the stack did not hand the block out again");
	ingot_free(q);
	return NULL;
}

Test(tcache, a_large_block_its_stack_kept_is_freed_by_the_fast_path)
{
	skip_unless_large_hits();
	run_thread(large_window_thread, NULL);
}

/* A block freed past its full stack waits in the arena's large cache with
 * its window byte kept and its freed mark set: freed a second time, when
 * the stack has room again, it is reported, not cached twice. */
static void large_double_free_past_full_stack(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned cls = SC_NSMALL + 1;
	struct tcache_stack *stack = &tc->stacks[cls];
	enum { N = 64 };
	void *blocks[N];
	unsigned ncap = tcache_stack_ncap(stack);
	if (ncap + 1 > N)
		return; /* no abort: the test reports that */
	for (int round = 0; round < 2; round++) { /* the second: blocks its stack handed out */
		for (unsigned i = 0; i <= ncap; i++)
			blocks[i] = ingot_malloc(sc_size[cls]);
		for (unsigned i = ncap + 1; i-- > 0;) /* the stack's block last: past the full stack */
			ingot_free(blocks[i]);
	}
	void *last = blocks[0];
	if (pagemap_window_class((uintptr_t)last) == 0 || tcache_stack_ncached(stack) != ncap)
		return;
	void *room = ingot_malloc(sc_size[cls]); /* the stack has room again */
	(void)room;
	ingot_free(last);
}

Test(tcache, a_large_block_freed_twice_past_its_full_stack_is_reported)
{
	skip_unless_large_hits();
	assert_aborts_with(large_double_free_past_full_stack, NULL, "double free",
	                   "a second free of a large block waiting in the arena's cache");
}

/* A block that goes from the large cache back to the page heap loses its
 * window byte: pages reused by a block of another size free to that size's
 * stack, and a block that grows in place frees to its new class's. */
static void *large_window_reuse_thread(void *arg)
{
	(void)arg;
	struct tcache *tc = my_cache();
	unsigned small = SC_NSMALL + 1, big = SC_NCACHED;
	void *p = ingot_malloc(sc_size[small]);
	ingot_free(p);
	p = ingot_malloc(sc_size[small]); /* from the stack: window byte set */
	ingot_free(p);
	ingot_thread_flush(); /* to the arena's large cache, byte kept */
	arena_purge(tc->arena, true); /* to the page heap */
	int copy = pagemap_window_class((uintptr_t)p);
	THREAD_CHECK(copy <= 0, "a large block's page kept window class %d in the page heap", copy);
	void *b = ingot_malloc(sc_size[big]);
	ingot_free(b);
	THREAD_CHECK(tc->stacks[big].top[-1] == b, "a %zu-byte block did not free to its class",
	             (size_t)sc_size[big]);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after a large block's pages were reused");
	/* Grown in place: its old class's stack must not take it. */
	void *q = ingot_malloc(sc_size[small]);
	ingot_free(q);
	q = ingot_malloc(sc_size[small]);
	void *r = ingot_realloc(q, sc_size[small + 1]);
	THREAD_CHECK(r != NULL, "realloc failed");
	ingot_free(r);
	struct tcache_stack *grown = &tc->stacks[small + 1];
	THREAD_CHECK(tcache_stack_ncached(grown) > 0 && grown->top[-1] == r,
	             "a block grown to %zu bytes (%s) did not free to its new class's stack",
	             (size_t)sc_size[small + 1], r == q ? "in place" : "moved");
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after a large block grew in place");
	return NULL;
}

Test(tcache, a_large_blocks_pages_serve_another_size_after_the_page_heap)
{
	skip_unless_large_hits();
	run_thread(large_window_reuse_thread, NULL);
}

/* Threads free each other's large blocks through the fast path (blocks their
 * stacks kept), one forks meanwhile, and the child frees and allocates
 * them too. */
static void large_window_fork_child(void *arg)
{
	void **blocks = arg;
	for (int i = 0; i < LARGE_SWAP; i++) {
		void *p = __atomic_exchange_n(&blocks[i], NULL, __ATOMIC_ACQ_REL);
		ingot_free(p);
		blocks[i] = ingot_malloc(SC_SMALL_MAX + 1 + (size_t)(i % 48) * 1024);
	}
	for (int i = 0; i < LARGE_SWAP; i++)
		ingot_free(blocks[i]);
	if (ingot_check() != 0)
		_exit(3);
}

Test(tcache, threads_freeing_each_others_large_blocks_by_the_fast_path_and_forking, .timeout = 60)
{
	skip_unless_large_hits();
	static void *blocks[LARGE_SWAP];
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		t[i] = start_thread(large_swap_thread, blocks);
	struct child_result r;
	run_in_child(large_window_fork_child, blocks, &r);
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert(r.exited && r.status == 0, "child %s %d: %s", r.exited ? "exited with" : "died of signal",
	          r.status, r.err);
	for (int i = 0; i < LARGE_SWAP; i++)
		ingot_free(blocks[i]);
	ingot_thread_flush();
	cr_assert_eq(ingot_check(), 0);
}

/* Threads of automatic arenas 0 and 1 (a pair) take the objects of classes
 * above 1 KiB from arena 0's bins and those of smaller classes from their
 * own; such a block is no remote one to a thread of either arena, so a
 * stack that fills with them keeps its capacity (it drops for remote ones:
 * stack_make_room); and every block goes home to its slab, from the
 * thread that made it (at its exit) or from the other one. */
enum { PAIRED_SIZE = 2000, PAIRED_SMALLEST = 1100, OWN_SIZE = 1000, NPAIRED = 64 };

struct paired_bins {
	void *paired[NPAIRED]; /* made by the thread of arena 1 */
	struct arena *paired_arena, *smaller_arena, *own_arena;
	unsigned ncap_before, ncap_after;
};

static void *paired_maker_thread(void *arg)
{
	struct paired_bins *p = arg;
	tcache_set_thread_arena(arena_get(1));
	struct tcache *tc = my_cache();
	unsigned cls = sizeclass_small(PAIRED_SIZE);
	for (unsigned k = 0; k < NPAIRED; k++)
		THREAD_CHECK((p->paired[k] = ingot_malloc(PAIRED_SIZE)) != NULL, "malloc failed");
	void *smaller = ingot_malloc(PAIRED_SMALLEST), *own = ingot_malloc(OWN_SIZE);
	THREAD_CHECK(smaller != NULL && own != NULL, "malloc failed");
	p->paired_arena = pagemap_chunk((uintptr_t)p->paired[0])->arena;
	p->smaller_arena = pagemap_chunk((uintptr_t)smaller)->arena;
	p->own_arena = pagemap_chunk((uintptr_t)own)->arena;
	ingot_free(smaller);
	ingot_free(own);
	/* Half of them freed here, more than the stack holds: some wait in
	 * this cache until the thread exits. */
	p->ncap_before = tcache_stack_ncap(&tc->stacks[cls]);
	for (unsigned k = NPAIRED / 2; k < NPAIRED; k++)
		ingot_free(p->paired[k]);
	p->ncap_after = tcache_stack_ncap(&tc->stacks[cls]);
	return NULL;
}

static void *paired_freer_thread(void *arg)
{
	struct paired_bins *p = arg;
	tcache_set_thread_arena(arena_get(0));
	my_cache();
	for (unsigned k = 0; k < NPAIRED / 2; k++)
		ingot_free(p->paired[k]);
	THREAD_CHECK(ingot_check() == 0, "heap inconsistent after the cross-thread frees");
	return NULL;
}

Test(tcache, threads_of_an_arena_pair_share_the_bins_of_classes_above_1k)
{
	skip_if_uncached();
	cr_assert_geq(narenas_auto, 2, "ingot_malloc_conf asks for two arenas");
	static struct paired_bins p;
	struct bin *home = arena_bin(arena_get(0), sizeclass_small(PAIRED_SIZE));
	size_t live_before = bin_live(home);
	run_thread(paired_maker_thread, &p);
	cr_assert_eq(p.paired_arena, arena_get(0), "a 2000-byte block of arena 1's thread came from arena %u",
	             p.paired_arena->index);
	cr_assert_eq(p.smaller_arena, arena_get(0), "a 1100-byte block of arena 1's thread came from arena %u",
	             p.smaller_arena->index);
	cr_assert_eq(p.own_arena, arena_get(1), "a 1000-byte block of arena 1's thread came from arena %u",
	             p.own_arena->index);
	cr_assert_geq(p.ncap_after, p.ncap_before,
	              "arena 1's thread found its own 2000-byte blocks remote (capacity %u -> %u)", p.ncap_before,
	              p.ncap_after);
	cr_assert_eq(bin_live(home) - live_before, NPAIRED / 2,
	             "%zu blocks out of arena 0's bin after the maker exited with %d live",
	             bin_live(home) - live_before, NPAIRED / 2);
	run_thread(paired_freer_thread, &p);
	cr_assert_eq(bin_live(home), live_before, "%zu blocks missing from arena 0's bin after both exited",
	             bin_live(home) - live_before);
	cr_assert_eq(ingot_check(), 0);
}

/* Forks while a thread of arena 1 takes and gives back paired blocks (arena
 * 0's bins): in each child a thread of arena 1 gets its 2000-byte blocks
 * from arena 0 as well, and the heap checks out. */
static volatile int paired_churn_stop;

static void *paired_churn_thread(void *arg)
{
	(void)arg;
	tcache_set_thread_arena(arena_get(1));
	while (!__atomic_load_n(&paired_churn_stop, __ATOMIC_RELAXED)) {
		void *blocks[40];
		for (unsigned k = 0; k < 40; k++)
			THREAD_CHECK((blocks[k] = ingot_malloc(PAIRED_SIZE)) != NULL, "malloc failed");
		for (unsigned k = 0; k < 40; k++)
			ingot_free(blocks[k]);
	}
	return NULL;
}

/* The child's one thread (no new one: ThreadSanitizer cannot start threads
 * after a multi-threaded fork) moves to arena 1 and takes paired blocks. */
static void paired_fork_child(void *arg)
{
	(void)arg;
	tcache_set_thread_arena(arena_get(1));
	void *blocks[40];
	bool ok = true;
	for (unsigned k = 0; k < 40; k++) {
		blocks[k] = ingot_malloc(PAIRED_SIZE);
		ok = ok && blocks[k] != NULL && pagemap_chunk((uintptr_t)blocks[k])->arena == arena_get(0);
	}
	for (unsigned k = 0; k < 40; k++)
		ingot_free(blocks[k]);
	if (!ok || ingot_check() != 0)
		_exit(1);
}

Test(tcache, a_fork_while_a_pair_shares_bins_leaves_the_pairing_working_in_the_child)
{
	skip_if_uncached();
	cr_assert_geq(narenas_auto, 2, "ingot_malloc_conf asks for two arenas");
	paired_churn_stop = 0;
	pthread_t churn = start_thread(paired_churn_thread, NULL);
	for (int i = 0; i < 8; i++) {
		struct child_result res;
		run_in_child(paired_fork_child, NULL, &res);
		cr_assert(res.exited && res.status == 0, "child %d: %s status %d: %s", i,
		          res.exited ? "exited" : "killed by", res.status, res.err);
	}
	__atomic_store_n(&paired_churn_stop, 1, __ATOMIC_RELAXED);
	join_thread(churn);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* A thread of arena 1 whose paired slabs emptied into arena 0's page heap
 * gets their dirty pages decayed by its own garbage events, while arena 0's
 * threads sleep. */
static size_t heap_dirty_bytes(struct arena *a)
{
	arch_lock_acquire(&a->heap.lock);
	size_t pages = a->heap.npages_dirty;
	arch_lock_release(&a->heap.lock);
	return pages << LG_PAGE;
}

struct paired_decay {
	size_t dirty_before, dirty_after;
};

static void *paired_decay_thread(void *arg)
{
	struct paired_decay *d = arg;
	enum { N = 2048 }; /* 4 MiB of 2000-byte blocks */
	tcache_set_thread_arena(arena_get(1));
	my_cache();
	void **blocks = malloc(N * sizeof(void *)); /* libc's */
	THREAD_CHECK(blocks != NULL, "no room to test in");
	for (unsigned k = 0; k < N; k++) {
		THREAD_CHECK((blocks[k] = ingot_malloc(PAIRED_SIZE)) != NULL, "malloc failed");
		memset(blocks[k], 0x5c, PAIRED_SIZE);
	}
	for (unsigned k = 0; k < N; k++)
		ingot_free(blocks[k]);
	free(blocks);
	ingot_thread_flush();
	d->dirty_before = heap_dirty_bytes(arena_get(0));
	struct timespec pause = {1, 0}; /* past the decay time */
	nanosleep(&pause, NULL);
	for (unsigned k = 0; k < 4 * 8192; k++) /* a few garbage events of its own class */
		ingot_free(ingot_malloc(OWN_SIZE));
	d->dirty_after = heap_dirty_bytes(arena_get(0));
	return NULL;
}

Test(tcache, the_pairs_first_arena_decays_the_paired_slabs_of_the_other_ones_thread, .timeout = 60)
{
	skip_if_uncached();
	cr_assert_geq(narenas_auto, 2, "ingot_malloc_conf asks for two arenas");
	/* Long enough that the pages do not age while the thread frees them
	 * (TSan builds are slow), short enough for the test's pause. */
	pageheap_set_decay(&arena_get(0)->heap, 400);
	pageheap_set_decay(&arena_get(1)->heap, 400);
	static struct paired_decay d;
	run_thread(paired_decay_thread, &d);
	cr_assert_geq(d.dirty_before, 2 * MiB, "only %zu bytes of arena 0 dirty after 4 MiB of paired blocks",
	              d.dirty_before);
	cr_assert_leq(d.dirty_after, d.dirty_before / 4, "arena 0 kept %zu of %zu dirty bytes past its decay time",
	              d.dirty_after, d.dirty_before);
	cr_assert_eq(ingot_check(), 0);
}
