/*
 * test_decay.c — freed memory goes back to the OS: at once (decay 0), on
 * ingot_purge(), after the decay time, and for huge blocks on free or shrink;
 * the cache of freed huge mappings and the slack of the blocks that reuse
 * them keep pages for reuse until then.
 *
 * Measured as the process's resident size (/proc/self/statm), which is what
 * an operator sees. Each test sets the decay time of every arena itself
 * (pageheap_set_decay) rather than through options, since options are read
 * once at start.
 */
#include "helpers.h"

#include <sys/mman.h>
#include <time.h>

#include "arena.h"
#include "huge.h"
#include "ingot.h"
#include "pageheap.h"

#define TOTAL (64 * MiB)
#define BLOCK (256 * KiB) /* a large block: from the page heap */
#define NBLOCKS (TOTAL / BLOCK)
#define MOST (TOTAL - TOTAL / 8) /* "most of it": 56 MiB of 64 */

static void set_decay_everywhere(int64_t ms)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		pageheap_set_decay(&arena_get(i)->heap, ms);
}

static size_t dirty_bytes(void)
{
	size_t pages = 0;
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct pageheap *h = &arena_get(i)->heap;
		arch_lock_acquire(&h->lock);
		pages += h->npages_dirty;
		arch_lock_release(&h->lock);
	}
	return pages << LG_PAGE;
}

/* How far the resident size fell from `before` to `after` (0 if it grew). */
static size_t fell(size_t before, size_t after) { return before > after ? before - after : 0; }

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Allocates TOTAL bytes in BLOCK-sized blocks and touches every page.
 * Returns the resident size once they are all live. */
static size_t fill(void *blocks[NBLOCKS])
{
	for (size_t i = 0; i < NBLOCKS; i++) {
		blocks[i] = ingot_malloc(BLOCK);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], 0x6b, BLOCK);
	}
	return rss_bytes();
}

static void free_all(void *blocks[NBLOCKS])
{
	for (size_t i = 0; i < NBLOCKS; i++)
		ingot_free(blocks[i]);
}

Test(decay, purge_returns_freed_pages)
{
	set_decay_everywhere(-1); /* never on its own */
	static void *blocks[NBLOCKS];
	size_t peak = fill(blocks);
	free_all(blocks);
	size_t after_free = rss_bytes();
	cr_assert_geq(after_free + TOTAL / 8, peak,
	              "decay -1 gave memory back on free: %zu -> %zu bytes resident", peak,
	              after_free);
	cr_assert_geq(dirty_bytes(), MOST, "only %zu bytes dirty after freeing %zu", dirty_bytes(),
	              (size_t)TOTAL);
	ingot_purge();
	size_t after_purge = rss_bytes();
	cr_assert_geq(fell(peak, after_purge), MOST, "ingot_purge() gave back %zu of %zu bytes",
	              fell(peak, after_purge), (size_t)TOTAL);
	cr_assert_eq(dirty_bytes(), 0, "dirty pages left after ingot_purge()");
	cr_assert_eq(ingot_check(), 0);

	/* Purged memory is reused, and reads as zero where calloc expects it. */
	for (size_t i = 0; i < 8; i++) {
		uint8_t *p = ingot_calloc(1, BLOCK);
		cr_assert_not_null(p);
		cr_assert_eq(first_nonzero(p, BLOCK), SIZE_MAX, "calloc over purged pages not zero");
		ingot_free(p);
	}
}

Test(decay, decay_zero_returns_pages_on_free)
{
	set_decay_everywhere(0);
	static void *blocks[NBLOCKS];
	size_t peak = fill(blocks);
	free_all(blocks);
	size_t after_free = rss_bytes();
	cr_assert_geq(fell(peak, after_free), MOST, "decay 0: freeing gave back %zu of %zu bytes",
	              fell(peak, after_free), (size_t)TOTAL);
	cr_assert_eq(dirty_bytes(), 0, "decay 0 left dirty pages");
}

/* Frees seven blocks in eight (one in eight stays live, so that no chunk
 * is left wholly free: those go back as they are freed, test_background),
 * waits past a decay time of 400 ms (longer than the frees take even in a
 * hardened heap, which zeroes each block, on a loaded machine), then runs
 * trickle: decay runs on allocator events, not in a thread of its own (and
 * the page heap reads the clock only every few dozen of them). Asserts
 * that most of the freed memory went back by then. */
static void decay_after_quiet(void (*trickle)(void))
{
	set_decay_everywhere(400);
	static void *blocks[NBLOCKS];
	size_t peak = fill(blocks);
	for (size_t i = 0; i < NBLOCKS; i++)
		if (i % 8 != 0)
			ingot_free(blocks[i]);
	size_t after_free = rss_bytes();
	cr_assert_geq(after_free + TOTAL / 4, peak,
	              "decay 400 ms gave memory back at once: %zu -> %zu bytes resident", peak,
	              after_free);
	sleep_ms(1200);
	trickle();
	size_t after_decay = rss_bytes();
	cr_assert_geq(fell(peak, after_decay), MOST - TOTAL / 8,
	              "1200 ms after the frees only %zu of %zu bytes went back",
	              fell(peak, after_decay), (size_t)TOTAL / 8 * 7);
	for (size_t i = 0; i < NBLOCKS; i += 8)
		ingot_free(blocks[i]);
}

static void blocks_of_the_same_size(void)
{
	for (int i = 0; i < 100; i++)
		ingot_free(ingot_malloc(BLOCK));
}

/* What a quiet server does: small blocks, which every profile's thread
 * caches serve (a hardened heap's once never ticked the decay: hardened
 * memreturn kept all 285 MB it had freed). */
static void small_blocks(void)
{
	for (int i = 0; i < 3 * 8192; i++)
		ingot_free(ingot_malloc(64));
}

Test(decay, decay_returns_pages_after_the_decay_time, .timeout = 30)
{
	decay_after_quiet(blocks_of_the_same_size);
}

Test(decay, a_trickle_of_small_blocks_lets_the_decay_run, .timeout = 30)
{
	decay_after_quiet(small_blocks);
}

/* Allocates one huge block of TOTAL bytes, touches it, frees it; returns the
 * resident size it had while live. */
static size_t huge_round_trip(void)
{
	void *p = ingot_malloc(TOTAL);
	cr_assert_not_null(p);
	memset(p, 0x3d, TOTAL);
	size_t peak = rss_bytes();
	ingot_free(p);
	return peak;
}

Test(decay, freed_huge_blocks_go_back_at_once_with_decay_zero)
{
	set_decay_everywhere(0);
	size_t peak = huge_round_trip();
	size_t after = rss_bytes();
	cr_assert_geq(fell(peak, after), MOST, "freeing a huge block gave back %zu of %zu bytes",
	              fell(peak, after), (size_t)TOTAL);
}

Test(decay, purge_returns_freed_huge_blocks)
{
	set_decay_everywhere(-1); /* freed huge mappings may be kept for reuse */
	size_t peak = huge_round_trip();
	ingot_purge();
	size_t after = rss_bytes();
	cr_assert_geq(fell(peak, after), MOST,
	              "ingot_purge() after freeing a huge block gave back %zu of %zu bytes",
	              fell(peak, after), (size_t)TOTAL);
}

Test(decay, shrinking_a_huge_block_gives_back_its_tail)
{
	set_decay_everywhere(-1);
	uint8_t *p = ingot_malloc(TOTAL);
	cr_assert_not_null(p);
	memset(p, 0x3d, TOTAL);
	size_t peak = rss_bytes();
	uint8_t *q = ingot_realloc(p, 4 * MiB);
	cr_assert_eq(q, p, "a huge shrink moved the block");
	size_t after = rss_bytes();
	cr_assert_geq(fell(peak, after), TOTAL - 4 * MiB - TOTAL / 8,
	              "shrinking 64 MiB to 4 MiB gave back %zu bytes",
	              fell(peak, after));
	for (size_t i = 0; i < 4 * MiB; i += 4096)
		cr_assert_eq(q[i], 0x3d, "kept part changed at %zu", i);
	/* Growing again, in place or not, keeps what was kept. */
	uint8_t *g = ingot_realloc(q, 8 * MiB);
	cr_assert_not_null(g);
	for (size_t i = 0; i < 4 * MiB; i += 4096)
		cr_assert_eq(g[i], 0x3d, "kept part changed at %zu after growing", i);
	ingot_free(g);
}

/* ---- the huge cache and the slack of reused mappings --------------------- */

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Writes one byte per page (at offsets that are multiples of 4096) of p's
 * bytes [from, n), from seed. */
static void touch_pages_from(uint8_t *p, size_t from, size_t n, uint64_t seed)
{
	for (size_t i = (from + 4095) & ~(size_t)4095; i < n; i += 4096)
		p[i] = pattern_byte(seed, i);
}

static void touch_pages(uint8_t *p, size_t n, uint64_t seed) { touch_pages_from(p, 0, n, seed); }

/* The first page offset in [from, n) whose byte touch_pages(seed) did not
 * leave, or SIZE_MAX (from: a multiple of 4096). */
static size_t pages_mismatch(const uint8_t *p, size_t from, size_t n, uint64_t seed)
{
	for (size_t i = from; i < n; i += 4096)
		if (p[i] != pattern_byte(seed, i))
			return i;
	return SIZE_MAX;
}

/* A block of TOTAL / 8 in the cached mapping of a freed TOTAL-byte block,
 * whose pages past it (its slack) were touched while the big one lived; its
 * own pages hold pattern seed. */
static uint8_t *block_with_slack(unsigned seed)
{
	uint8_t *big = ingot_malloc(TOTAL);
	cr_assert_not_null(big);
	touch_pages(big, TOTAL, 1);
	ingot_free(big);
	uint8_t *p = ingot_malloc(TOTAL / 8);
	cr_assert_eq(p, big, "the cached mapping was not reused");
	touch_pages(p, TOTAL / 8, seed);
	return p;
}

Test(decay, a_huge_block_in_a_bigger_cached_mapping_leaves_the_rest_to_the_next)
{
	set_decay_everywhere(-1);
	uint8_t *p = block_with_slack(2); /* 8 MiB in a freed 64 MiB mapping */
	/* The next huge block takes the rest, pages faulted in already. */
	long faults = minor_faults();
	uint8_t *q = ingot_malloc(TOTAL / 2);
	cr_assert_not_null(q);
	touch_pages(q, TOTAL / 2, 3);
	cr_assert(TEST_UNDER_TSAN || minor_faults() - faults < 256,
	          "%ld page faults on the rest of a reused mapping", minor_faults() - faults);
	cr_assert_eq(pages_mismatch(p, 0, TOTAL / 8, 2), SIZE_MAX, "the first block's data changed");
	cr_assert_eq(ingot_check(), 0);
	ingot_free(q);
	ingot_free(p);
}

Test(decay, a_zeroed_realloc_over_reused_pages_reads_zero)
{
	set_decay_everywhere(-1);
	uint8_t *p = block_with_slack(2); /* the rest of the mapping holds seed 1 */
	uint8_t *q = ingot_rallocx(p, TOTAL - TOTAL / 4, 0x40 /* MALLOCX_ZERO */);
	cr_assert_not_null(q);
	cr_assert_eq(pages_mismatch(q, 0, TOTAL / 8, 2), SIZE_MAX, "the block's data changed");
	for (size_t i = TOTAL / 8; i < TOTAL - TOTAL / 4; i += 4096)
		cr_assert_eq(q[i], 0, "byte %zu of a zeroed realloc is %d", i, q[i]);
	cr_assert_eq(ingot_check(), 0);
	ingot_free(q);
}

Test(decay, huge_blocks_grown_by_realloc_keep_their_pages)
{
	/* Blocks that cannot grow where they are (each mapped below the one
	 * before) move with their pages: no realloc copies or faults in the
	 * bytes it keeps. */
	set_decay_everywhere(0); /* no cache: every page a realloc takes is fresh */
	enum { N = 4 };
	uint8_t *blocks[N];
	size_t size = 16 * MiB;
	for (int i = 0; i < N; i++) {
		blocks[i] = ingot_malloc(size);
		cr_assert_not_null(blocks[i]);
		touch_pages(blocks[i], size, 20 + i);
	}
	for (; size < 64 * MiB; size *= 2) {
		for (int i = 0; i < N; i++) {
			long faults = minor_faults();
			uint8_t *q = ingot_realloc(blocks[i], size * 2);
			cr_assert_not_null(q);
			cr_assert(TEST_UNDER_TSAN || minor_faults() - faults < 256,
			          "%ld page faults growing a %zu-byte block", minor_faults() - faults, size);
			cr_assert_eq(pages_mismatch(q, 0, size, 20 + i), SIZE_MAX, "block %d lost data", i);
			touch_pages_from(q, size, size * 2, 20 + i);
			blocks[i] = q;
		}
		cr_assert_eq(ingot_check(), 0);
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(pages_mismatch(blocks[i], 0, size, 20 + i), SIZE_MAX);
		ingot_free(blocks[i]);
	}
}

Test(decay, a_reused_bigger_mapping_keeps_its_pages_until_purged)
{
	set_decay_everywhere(-1);
	uint8_t *p = block_with_slack(2);
	/* Growing it back in place faults nothing in: its slack was kept. */
	long faults = minor_faults();
	uint8_t *q = ingot_realloc(p, TOTAL);
	cr_assert_eq(q, p, "growing into the kept pages moved the block");
	touch_pages_from(q, TOTAL / 8, TOTAL, 3);
	/* (TSan's shadow memory faults in as the pages are written.) */
	cr_assert(TEST_UNDER_TSAN || minor_faults() - faults < 256,
	          "%ld page faults growing into kept pages", minor_faults() - faults);
	cr_assert_eq(pages_mismatch(q, 0, TOTAL / 8, 2), SIZE_MAX, "the block's data changed");
	cr_assert_eq(ingot_check(), 0);
	/* Shrunk again, the tail goes back to the OS at once (a realloc that
	 * shrinks says the pages are not needed). */
	size_t peak = rss_bytes();
	cr_assert_eq(ingot_realloc(q, TOTAL / 8), q);
	cr_assert_geq(fell(peak, rss_bytes()), MOST - TOTAL / 8, "a shrink kept the tail");
	ingot_free(q);
}

Test(decay, the_slack_of_a_live_block_goes_back_on_purge)
{
	set_decay_everywhere(-1);
	uint8_t *p = block_with_slack(4);
	size_t peak = rss_bytes();
	ingot_purge();
	cr_assert_geq(fell(peak, rss_bytes()), MOST - TOTAL / 8,
	              "ingot_purge() gave back %zu bytes of a live block's slack",
	              fell(peak, rss_bytes()));
	cr_assert_eq(pages_mismatch(p, 0, TOTAL / 8, 4), SIZE_MAX, "the purge changed the block");
	cr_assert_eq(ingot_check(), 0);
	/* The block may still grow in place over the purged pages. */
	uint8_t *q = ingot_realloc(p, TOTAL);
	cr_assert_eq(q, p, "growing over purged slack moved the block");
	touch_pages_from(q, TOTAL / 8, TOTAL, 4);
	cr_assert_eq(pages_mismatch(q, 0, TOTAL, 4), SIZE_MAX);
	ingot_free(q);
}

Test(decay, the_slack_of_a_live_block_decays, .timeout = 30)
{
	set_decay_everywhere(100);
	uint8_t *p = block_with_slack(5);
	size_t peak = rss_bytes();
	sleep_ms(300);
	/* Decay runs on allocator events: a huge free is one. */
	ingot_free(ingot_malloc(4 * MiB));
	cr_assert_geq(fell(peak, rss_bytes()), MOST - TOTAL / 8,
	              "300 ms past a decay of 100 ms the slack is still resident (%zu back)",
	              fell(peak, rss_bytes()));
	cr_assert_eq(pages_mismatch(p, 0, TOTAL / 8, 5), SIZE_MAX, "decay changed the block");
	ingot_free(p);
}

Test(decay, a_full_huge_cache_drops_its_oldest_mapping)
{
	set_decay_everywhere(-1);
	enum { N = 5 };
	const size_t size = 72 * MiB; /* three fit the cache's 256 MiB, four do not */
	uint8_t *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = ingot_malloc(size);
		cr_assert_not_null(blocks[i]);
	}
	for (int i = 0; i < N; i++)
		ingot_free(blocks[i]);
	/* The three freed last are reused, the newest first. */
	for (int i = N - 1; i >= N - 3; i--) {
		void *p = ingot_malloc(size);
		cr_assert_eq(p, blocks[i], "malloc %d did not reuse the mapping freed %d-th", N - i, i);
		blocks[i] = p;
	}
	cr_assert_eq(ingot_check(), 0);
	for (int i = N - 3; i < N; i++)
		ingot_free(blocks[i]);
}

Test(decay, a_huge_block_bigger_than_any_cached_one_takes_their_pages)
{
	set_decay_everywhere(-1);
	enum { N = 4 };
	uint8_t *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = ingot_malloc(16 * MiB);
		cr_assert_not_null(blocks[i]);
		touch_pages(blocks[i], 16 * MiB, 8);
	}
	for (int i = 0; i < N; i++)
		ingot_free(blocks[i]);
	/* 60 MiB out of four cached 16 MiB mappings: their pages are moved
	 * under the new block, which faults (almost) nothing in. */
	long faults = minor_faults();
	uint8_t *p = ingot_malloc(60 * MiB);
	cr_assert_not_null(p);
	touch_pages(p, 60 * MiB, 9);
	cr_assert(TEST_UNDER_TSAN || minor_faults() - faults < 1024,
	          "%ld page faults on 60 MiB of cached pages", minor_faults() - faults);
	cr_assert_eq(pages_mismatch(p, 0, 60 * MiB, 9), SIZE_MAX);
	cr_assert_eq(ingot_check(), 0);
	/* What is left of the mapping that gave part of its pages still
	 * serves, and the cache gives everything back on purge. */
	uint8_t *q = ingot_malloc(4 * MiB);
	cr_assert_not_null(q);
	touch_pages(q, 4 * MiB, 10);
	cr_assert_eq(pages_mismatch(p, 0, 60 * MiB, 9), SIZE_MAX, "a later block overlaps");
	ingot_free(q);
	ingot_free(p);
	size_t peak = rss_bytes();
	ingot_purge();
	cr_assert_geq(fell(peak, rss_bytes()), 56 * MiB, "the purge gave back %zu bytes",
	              fell(peak, rss_bytes()));
	cr_assert_eq(ingot_check(), 0);
}

/* Threads that allocate, grow, shrink and free huge blocks while another
 * purges and decays all the time: no block loses data, none is handed out
 * twice (each block's pages carry its own seed), and the heap checks. */
#define HUGE_THREADS 4
#define HUGE_ROUNDS 40

static bool purging;

static void *huge_worker(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 7919 + 1;
	uint8_t *live[3] = {0};
	size_t sizes[3] = {0};
	uint64_t seeds[3] = {0};
	for (int r = 0; r < HUGE_ROUNDS; r++) {
		int k = (int)rng_below(&rng, 3);
		if (live[k]) {
			cr_assert_eq(pages_mismatch(live[k], 0, sizes[k], seeds[k]), SIZE_MAX,
			             "a huge block changed under another thread");
			size_t n = 3 * MiB + rng_below(&rng, 20 * MiB);
			uint8_t *q = ingot_realloc(live[k], n);
			cr_assert_not_null(q);
			size_t kept = MIN(n, sizes[k]);
			cr_assert_eq(pages_mismatch(q, 0, kept, seeds[k]), SIZE_MAX,
			             "realloc lost a huge block's data");
			touch_pages_from(q, kept, n, seeds[k]);
			live[k] = q;
			sizes[k] = n;
			if (rng_below(&rng, 2)) {
				ingot_free(live[k]);
				live[k] = NULL;
			}
		} else {
			sizes[k] = 3 * MiB + rng_below(&rng, 20 * MiB);
			seeds[k] = rng_next(&rng);
			live[k] = ingot_malloc(sizes[k]);
			cr_assert_not_null(live[k]);
			touch_pages(live[k], sizes[k], seeds[k]);
		}
	}
	for (int k = 0; k < 3; k++)
		ingot_free(live[k]);
	return NULL;
}

static void *huge_purger(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&purging, __ATOMIC_ACQUIRE)) {
		ingot_purge();
		sleep_ms(1);
	}
	return NULL;
}

Test(decay, huge_blocks_keep_their_data_while_others_purge, .timeout = 120)
{
	set_decay_everywhere(1);
	__atomic_store_n(&purging, true, __ATOMIC_RELEASE);
	pthread_t purger, workers[HUGE_THREADS];
	cr_assert_eq(pthread_create(&purger, NULL, huge_purger, NULL), 0);
	for (uintptr_t i = 0; i < HUGE_THREADS; i++)
		cr_assert_eq(pthread_create(&workers[i], NULL, huge_worker, (void *)i), 0);
	for (int i = 0; i < HUGE_THREADS; i++)
		pthread_join(workers[i], NULL);
	__atomic_store_n(&purging, false, __ATOMIC_RELEASE);
	pthread_join(purger, NULL);
	cr_assert_eq(ingot_check(), 0);
}

Test(decay, a_forked_child_reuses_the_huge_cache)
{
	set_decay_everywhere(-1);
	uint8_t *p = block_with_slack(7);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		uint8_t *q = ingot_realloc(p, TOTAL);
		bool ok = q == p && pages_mismatch(q, 0, TOTAL / 8, 7) == SIZE_MAX;
		ingot_free(q);
		ingot_purge();
		_exit(ok && ingot_check() == 0 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
	cr_assert_eq(pages_mismatch(p, 0, TOTAL / 8, 7), SIZE_MAX);
	ingot_free(p);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- the large cache: freed blocks of large classes kept whole ------------ */

#define LBLOCK (48 * KiB) /* a large class the arenas' large caches keep */
#define NLBLOCKS 256      /* 12 MiB */

static size_t large_cached_bytes(void)
{
	size_t bytes = 0;
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct arena *a = arena_get(i);
		arch_lock_acquire(&a->large_cache_lock);
		bytes += a->large_cached_bytes;
		arch_lock_release(&a->large_cache_lock);
	}
	return bytes;
}

/* Allocates NLBLOCKS large blocks into blocks, touches them (pattern seed),
 * then frees them all: what the large cache is given to keep. */
static void fill_and_free_large(uint8_t **blocks, uint64_t seed)
{
	for (int i = 0; i < NLBLOCKS; i++) {
		blocks[i] = ingot_malloc(LBLOCK);
		cr_assert_not_null(blocks[i]);
		touch_pages(blocks[i], LBLOCK, seed);
	}
	for (int i = 0; i < NLBLOCKS; i++)
		ingot_free(blocks[i]);
}

Test(decay, freed_large_blocks_are_reused_whole_and_go_back_on_purge)
{
	set_decay_everywhere(-1);
	static uint8_t *blocks[NLBLOCKS], *again[NLBLOCKS];
	fill_and_free_large(blocks, 11);
	cr_assert_geq(large_cached_bytes(), (NLBLOCKS - 8) * LBLOCK, "only %zu bytes cached",
	              large_cached_bytes());
	cr_assert_eq(ingot_check(), 0);
	/* The same blocks come back (each once: they were all live together). */
	int reused = 0;
	for (int i = 0; i < NLBLOCKS; i++) {
		again[i] = ingot_malloc(LBLOCK);
		cr_assert_not_null(again[i]);
		for (int j = 0; j < NLBLOCKS; j++)
			reused += again[i] == blocks[j];
		for (int j = 0; j < i; j++)
			cr_assert_neq(again[i], again[j], "one block handed out twice");
		touch_pages(again[i], LBLOCK, (uint64_t)i);
	}
	cr_assert_geq(reused, NLBLOCKS - 8, "only %d of %d blocks reused", reused, NLBLOCKS);
	for (int i = 0; i < NLBLOCKS; i++)
		cr_assert_eq(pages_mismatch(again[i], 0, LBLOCK, (uint64_t)i), SIZE_MAX,
		             "block %d overlaps another", i);
	for (int i = 0; i < NLBLOCKS; i++)
		ingot_free(again[i]);
	size_t peak = rss_bytes();
	ingot_purge();
	cr_assert_eq(large_cached_bytes(), 0, "ingot_purge() left blocks in the large cache");
	cr_assert_geq(fell(peak, rss_bytes()), NLBLOCKS * LBLOCK - 2 * MiB,
	              "ingot_purge() gave back %zu bytes of %zu cached", fell(peak, rss_bytes()),
	              (size_t)NLBLOCKS * LBLOCK);
	cr_assert_eq(ingot_check(), 0);
}

Test(decay, the_large_cache_decays, .timeout = 30)
{
	set_decay_everywhere(100);
	static uint8_t *blocks[NLBLOCKS];
	fill_and_free_large(blocks, 12);
	size_t peak = rss_bytes();
	cr_assert_geq(large_cached_bytes(), NLBLOCKS * LBLOCK / 2, "decay 100 ms cached only %zu",
	              large_cached_bytes());
	sleep_ms(300);
	/* Decay runs on allocator events: frees of large blocks past the thread
	 * cache are some. */
	for (int i = 0; i < 16; i++)
		blocks[i] = ingot_malloc(LBLOCK);
	for (int i = 0; i < 16; i++)
		ingot_free(blocks[i]);
	cr_assert_lt(large_cached_bytes(), 16 * LBLOCK, "%zu bytes still cached past the decay time",
	             large_cached_bytes());
	cr_assert_geq(fell(peak, rss_bytes()), NLBLOCKS * LBLOCK / 2,
	              "300 ms past a decay of 100 ms only %zu bytes went back", fell(peak, rss_bytes()));
	cr_assert_eq(ingot_check(), 0);
}

static void large_double_free(void *arg)
{
	(void)arg;
	static void *blocks[64];
	for (int i = 0; i < 64; i++)
		blocks[i] = ingot_malloc(LBLOCK);
	for (int i = 0; i < 64; i++)
		ingot_free(blocks[i]); /* most go on to the large cache */
	ingot_free(blocks[0]);
}

Test(decay, a_double_free_of_a_cached_large_block_is_caught)
{
	set_decay_everywhere(-1);
	assert_aborts_with(large_double_free, NULL, "double free", "large double free");
}

/* Threads pass large blocks to each other (a block freed by another thread
 * goes to its own arena's cache), exit with blocks in their caches, and
 * fork: no block is handed out twice or loses data, and the heap checks. */
#define LTHREADS 4
#define LROUNDS 2000
#define LSLOTS 64

static uint8_t *shared_slots[LTHREADS][LSLOTS];

static void *large_worker(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	uint64_t rng = me * 104729 + 7;
	for (int r = 0; r < LROUNDS; r++) {
		unsigned t = (unsigned)rng_below(&rng, LTHREADS), k = (unsigned)rng_below(&rng, LSLOTS);
		size_t n = 16 * KiB + rng_below(&rng, 240 * KiB);
		uint8_t *p = ingot_malloc(n);
		cr_assert_not_null(p);
		uint64_t seed = (uint64_t)(uintptr_t)p ^ n;
		p[0] = (uint8_t)seed;
		p[n - 1] = (uint8_t)(seed >> 8);
		memcpy(p + 8, &n, sizeof n);
		uint8_t *old = __atomic_exchange_n(&shared_slots[t][k], p, __ATOMIC_ACQ_REL);
		if (old) {
			size_t m;
			memcpy(&m, old + 8, sizeof m);
			uint64_t s = (uint64_t)(uintptr_t)old ^ m;
			cr_assert(old[0] == (uint8_t)s && old[m - 1] == (uint8_t)(s >> 8),
			          "a large block changed while live");
			ingot_free(old);
		}
	}
	return NULL;
}

Test(decay, large_blocks_cross_threads_exit_and_fork, .timeout = 120)
{
	set_decay_everywhere(1000);
	for (int round = 0; round < 2; round++) {
		pthread_t th[LTHREADS];
		for (uintptr_t i = 0; i < LTHREADS; i++)
			cr_assert_eq(pthread_create(&th[i], NULL, large_worker, (void *)i), 0);
		for (int i = 0; i < LTHREADS; i++)
			pthread_join(th[i], NULL);
		cr_assert_eq(ingot_check(), 0);
	}
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		bool ok = true;
		for (int i = 0; i < 1000 && ok; i++) {
			uint8_t *p = ingot_malloc(48 * KiB);
			ok = p != NULL;
			if (p) {
				memset(p, 0x5a, 48 * KiB);
				ingot_free(p);
			}
		}
		_exit(ok && ingot_check() == 0 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
	for (int t = 0; t < LTHREADS; t++)
		for (int k = 0; k < LSLOTS; k++)
			ingot_free(shared_slots[t][k]);
	ingot_purge();
	cr_assert_eq(large_cached_bytes(), 0);
	cr_assert_eq(ingot_check(), 0);
}

#define NO_TCACHE ((int)((0u - 1u + 2u) << 8)) /* MALLOCX_TCACHE_NONE */

Test(decay, a_cached_neighbour_does_not_stop_a_realloc_in_place)
{
	set_decay_everywhere(-1);
	/* Two blocks side by side (the page heap hands out a run front first). */
	uint8_t *a = NULL, *b = NULL;
	for (int i = 0; i < 16 && !(a && b == a + 32 * KiB); i++) {
		a = ingot_mallocx(32 * KiB, NO_TCACHE);
		b = ingot_mallocx(32 * KiB, NO_TCACHE);
		cr_assert(a && b);
	}
	cr_assert_eq(b, a + 32 * KiB, "no two 32 KiB blocks side by side");
	memset(a, 0x77, 32 * KiB);
	ingot_dallocx(b, NO_TCACHE); /* into the arena's large cache */
	cr_assert_geq(large_cached_bytes(), 32 * KiB);
	uint8_t *q = ingot_realloc(a, 64 * KiB);
	cr_assert_eq(q, a, "the block after it, cached, made the realloc move it");
	for (size_t i = 0; i < 32 * KiB; i++)
		cr_assert_eq(q[i], 0x77, "byte %zu changed", i);
	memset(q, 0x78, 64 * KiB);
	cr_assert_eq(ingot_check(), 0);
	ingot_free(q);
}

/* Taking fresh pages while pages freed long before sit dirty: as many of
 * those go back at once, so the resident size does not grow by the new
 * pages; pages freed a moment ago stay dirty, for the program to reuse. */
#define TAKE (2 * MiB) /* a large block bigger than any free run below */

Test(decay, fresh_pages_taken_send_old_dirty_pages_back, .timeout = 30)
{
	/* Old: freed more than 16 s / 16 = 1 s ago. */
	set_decay_everywhere(16000);
	static void *blocks[NBLOCKS];
	fill(blocks);
	/* Every other block, the last one kept: runs of one block, between
	 * live ones, none next to the heap's untouched pages. */
	for (size_t i = 1; i + 1 < NBLOCKS; i += 2)
		ingot_free(blocks[i]);
	size_t dirty_young = dirty_bytes();
	cr_assert_geq(dirty_young, TOTAL / 2 - 2 * BLOCK);
	uint8_t *young_take = ingot_malloc(TAKE);
	cr_assert_not_null(young_take);
	memset(young_take, 0x3c, TAKE);
	cr_assert_eq(dirty_bytes(), dirty_young, "pages freed a moment ago went back: %zu -> %zu dirty",
	             dirty_young, dirty_bytes());
	sleep_ms(1300);
	/* The page heap reads the clock only every few dozen operations (or
	 * on a decay pass, which may purge some pages itself: counted from
	 * after it). */
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		pageheap_decay(&arena_get(i)->heap, false);
	size_t rss_before = rss_bytes(), dirty_old = dirty_bytes();
	uint8_t *old_take = ingot_malloc(TAKE);
	cr_assert_not_null(old_take);
	memset(old_take, 0x3d, TAKE);
	size_t purged = fell(dirty_old, dirty_bytes());
	cr_assert_geq(purged, TAKE / 2, "a fresh take of %zu bytes sent back %zu dirty bytes", (size_t)TAKE,
	              purged);
	cr_assert_leq(purged, TAKE + BLOCK, "a fresh take of %zu bytes sent back %zu dirty bytes",
	              (size_t)TAKE, purged);
	/* (TSan's shadow of the new block's pages is resident too.) */
	cr_assert(TEST_UNDER_TSAN || rss_bytes() <= rss_before + TAKE / 2, "resident grew %zu -> %zu bytes",
	          rss_before, rss_bytes());
	for (size_t i = 0; i < TAKE; i++)
		cr_assert(young_take[i] == 0x3c && old_take[i] == 0x3d, "byte %zu of a live block changed", i);
	ingot_free(young_take);
	ingot_free(old_take);
	for (size_t i = 0; i < NBLOCKS; i += 2)
		ingot_free(blocks[i]);
	ingot_free(blocks[NBLOCKS - 1]);
	cr_assert_eq(ingot_check(), 0);
}

/* With a decay time of 16 ms, fresh takes send dirty pages back all the
 * time while threads allocate, write, hand over and free blocks of 16 KiB
 * to 1 MiB (from the page heap; the large cache keeps 64 KiB at most):
 * no live block loses a byte, in the threads or in a forked child. */
#define FTHREADS 4
#define FROUNDS 300
#define FSLOTS 16

static uint8_t *fresh_slots[FTHREADS][FSLOTS];

static void fresh_block_check_and_free(uint8_t *p)
{
	size_t n;
	memcpy(&n, p, sizeof n);
	uint8_t fill_byte = (uint8_t)(n ^ (n >> 8));
	for (size_t i = sizeof n; i < n; i += 509)
		cr_assert_eq(p[i], fill_byte, "byte %zu of a live block of %zu changed", i, n);
	cr_assert_eq(p[n - 1], fill_byte);
	ingot_free(p);
}

static void *fresh_worker(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 7919 + 3;
	for (int r = 0; r < FROUNDS; r++) {
		size_t n = 16 * KiB + rng_below(&rng, 1008 * KiB);
		uint8_t *p = ingot_malloc(n);
		cr_assert_not_null(p);
		memset(p, (uint8_t)(n ^ (n >> 8)), n);
		memcpy(p, &n, sizeof n);
		unsigned t = (unsigned)rng_below(&rng, FTHREADS), k = (unsigned)rng_below(&rng, FSLOTS);
		uint8_t *old = __atomic_exchange_n(&fresh_slots[t][k], p, __ATOMIC_ACQ_REL);
		if (old)
			fresh_block_check_and_free(old);
	}
	return NULL;
}

Test(decay, fresh_takes_never_purge_live_blocks, .timeout = 120)
{
	set_decay_everywhere(16);
	pthread_t th[FTHREADS];
	for (uintptr_t i = 0; i < FTHREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, fresh_worker, (void *)i), 0);
	for (int i = 0; i < FTHREADS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(ingot_check(), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fresh_worker((void *)99);
		_exit(ingot_check() == 0 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
	for (int t = 0; t < FTHREADS; t++)
		for (int k = 0; k < FSLOTS; k++)
			if (fresh_slots[t][k])
				fresh_block_check_and_free(fresh_slots[t][k]);
	cr_assert_eq(ingot_check(), 0);
}

/* Pages that a fresh take gave back read as clean when they are handed out
 * again, as the pages of whole chunks given back early do; only the
 * latter mean the heap gave back too much. Taking the former must not
 * make the heap keep more whole chunks dirty (it did: memreturn kept 290
 * MiB of 256 freed, not 47). */
Test(decay, pages_purged_by_fresh_takes_do_not_hold_whole_chunks_back, .timeout = 30)
{
	set_decay_everywhere(16000);
	static void *blocks[NBLOCKS];
	fill(blocks);
	struct pageheap *heap = &pagemap_lookup((uintptr_t)blocks[0])->arena->heap;
	/* Holes of one block in the first half, made old, then purged by a
	 * fresh take. */
	for (size_t i = 1; i < NBLOCKS / 2; i += 2)
		ingot_free(blocks[i]);
	sleep_ms(1300);
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		pageheap_decay(&arena_get(i)->heap, false);
	size_t dirty_old = dirty_bytes();
	void *take = ingot_malloc(TAKE);
	cr_assert_not_null(take);
	memset(take, 0x3e, TAKE);
	cr_assert_geq(fell(dirty_old, dirty_bytes()), TAKE / 2, "the fresh take purged no holes");
	/* The second half freed whole: chunks go back early. */
	for (size_t i = NBLOCKS / 2; i < NBLOCKS; i++)
		ingot_free(blocks[i]);
	arch_lock_acquire(&heap->lock);
	unsigned spare_max = heap->spare_max;
	arch_lock_release(&heap->lock);
	/* Blocks into the holes, purged ones among them. */
	for (size_t i = 1; i < NBLOCKS / 2; i += 2) {
		blocks[i] = ingot_malloc(BLOCK);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], 0x3f, BLOCK);
	}
	arch_lock_acquire(&heap->lock);
	cr_assert_eq(heap->spare_max, spare_max, "whole chunks kept dirty went %u -> %u", spare_max,
	             heap->spare_max);
	arch_lock_release(&heap->lock);
	for (size_t i = 0; i < NBLOCKS / 2; i++)
		ingot_free(blocks[i]);
	ingot_free(take);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- empty slabs while the heap grows (bin.c, slab_may_wait) ------------- */

#define GROW_OBJ 4096u  /* 8 objects a slab of 32 KiB (sizeclass table) */
#define GROW_NOBJ 128u  /* 16 slabs: more than a bin's base budget keeps */
#define GROW_SLAB (32 * KiB)

static void *grow_objs[GROW_NOBJ];

/* A fresh arena (its heap grows only for this test), decay never. */
static struct arena *grow_arena(void)
{
	set_decay_everywhere(-1);
	int index = arena_create();
	cr_assert_geq(index, 0);
	struct arena *a = arena_get((unsigned)index);
	pageheap_set_decay(&a->heap, -1);
	return a;
}

static void grow_alloc(struct arena *a)
{
	for (unsigned i = 0; i < GROW_NOBJ; i++) {
		grow_objs[i] = arena_alloc_small(a, sizeclass_of(GROW_OBJ), false);
		cr_assert_not_null(grow_objs[i]);
		memset(grow_objs[i], (int)i, 64);
	}
}

static void grow_free(void)
{
	for (unsigned i = 0; i < GROW_NOBJ; i++)
		arena_free(pagemap_chunk((uintptr_t)grow_objs[i]), grow_objs[i]);
}

static unsigned grow_bin_slabs(struct arena *a)
{
	struct bin *bin = arena_bin(a, sizeclass_of(GROW_OBJ));
	arch_lock_acquire(&bin->lock);
	unsigned n = bin->nslabs;
	arch_lock_release(&bin->lock);
	return n;
}

/* A batch freed and allocated again while the heap does not grow keeps
 * its slabs in the bin (the second round's are kept; the first round's
 * came in while the heap grew). */
Test(decay, empty_slabs_wait_in_their_bin_while_the_heap_does_not_grow)
{
	struct arena *a = grow_arena();
	grow_alloc(a);
	grow_free();
	grow_alloc(a);
	grow_free();
	cr_assert_geq(grow_bin_slabs(a), 8u, "the bin kept %u slabs of a batch of 16", grow_bin_slabs(a));
	cr_assert_eq(ingot_check(), 0);
}

/* Slabs that empty after the heap took pages that were not resident go
 * back to the heap at once, and the heap's next growth reuses their pages
 * rather than fault fresh ones in. */
Test(decay, empty_slabs_go_back_when_the_heap_grew_and_serve_its_growth)
{
	struct arena *a = grow_arena();
	grow_alloc(a);
	grow_free();
	grow_alloc(a); /* the heap stopped growing for them */
	void *grown = arena_alloc_large(a, 1 * MiB, PAGE, false); /* fresh pages */
	cr_assert_not_null(grown);
	memset(grown, 0x5a, 1 * MiB);
	size_t dirty_before = dirty_bytes();
	grow_free();
	cr_assert_leq(grow_bin_slabs(a), 1u, "the bin kept %u slabs after the heap grew", grow_bin_slabs(a));
	cr_assert_geq(dirty_bytes() - dirty_before, (GROW_NOBJ / 8 - 1) * GROW_SLAB,
	              "the slabs' pages did not reach the heap");
	/* Growth of another size takes those pages: few page faults. */
	long faults = minor_faults();
	void *reuse[GROW_NOBJ / 8 - 1];
	for (unsigned i = 0; i < GROW_NOBJ / 8 - 1; i++) {
		reuse[i] = arena_alloc_large(a, GROW_SLAB, PAGE, false);
		cr_assert_not_null(reuse[i]);
		memset(reuse[i], 0x6c, GROW_SLAB);
	}
	long took = minor_faults() - faults;
	cr_assert(TEST_UNDER_TSAN || took < (long)(GROW_SLAB / PAGE), "%ld page faults on reused pages", took);
	cr_assert_eq(ingot_check(), 0);
	for (unsigned i = 0; i < GROW_NOBJ / 8 - 1; i++)
		arena_free(pagemap_chunk((uintptr_t)reuse[i]), reuse[i]);
	arena_free(pagemap_chunk((uintptr_t)grown), grown);
	cr_assert_eq(ingot_check(), 0);
}

/* Threads grow strings by realloc through every small class (the heap
 * grows, and slabs left behind empty and go back), handing every eighth
 * finished string to the next thread to free, while the main thread forks
 * a child that does the same: no string loses a byte, and the heap checks. */
#define WAVE_THREADS 4
#define WAVE_STRINGS 64
#define WAVE_STEPS 20000

static uint8_t *wave_inbox[WAVE_THREADS]; /* through __atomic builtins */
static size_t wave_limit = 24 * KiB; /* the strings' longest limit, set before threads start */

static void wave_take_inbox(unsigned t)
{
	uint8_t *p = __atomic_exchange_n(&wave_inbox[t], NULL, __ATOMIC_ACQ_REL);
	if (p) {
		size_t n;
		memcpy(&n, p, sizeof n);
		cr_assert_eq(pattern_mismatch(p + sizeof n, n - sizeof n, n), SIZE_MAX,
		             "a string handed over changed");
		ingot_free(p);
	}
}

static void *wave_worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg % WAVE_THREADS;
	uint64_t rng = (uintptr_t)arg * 6151 + 7;
	uint8_t *s[WAVE_STRINGS] = {0};
	size_t len[WAVE_STRINGS] = {0}, limit[WAVE_STRINGS];
	for (unsigned i = 0; i < WAVE_STRINGS; i++)
		limit[i] = 256 + rng_below(&rng, wave_limit);
	for (unsigned k = 0; k < WAVE_STEPS; k++) {
		unsigned i = (unsigned)rng_below(&rng, WAVE_STRINGS);
		size_t n = len[i] + 1 + rng_below(&rng, 64);
		uint8_t *p = ingot_realloc(s[i], n);
		cr_assert_not_null(p);
		for (size_t j = len[i]; j < n; j++)
			p[j] = (uint8_t)(i + j);
		s[i] = p, len[i] = n;
		if (n < limit[i])
			continue;
		for (size_t j = 0; j < n; j += 97)
			cr_assert_eq(p[j], (uint8_t)(i + j), "byte %zu of a grown string changed", j);
		if (k % 8 == 0) { /* to the next thread, written as a record */
			memcpy(p, &n, sizeof n);
			pattern_fill(p + sizeof n, n - sizeof n, n);
			uint8_t *old = __atomic_exchange_n(&wave_inbox[(t + 1) % WAVE_THREADS], p, __ATOMIC_ACQ_REL);
			if (old)
				ingot_free(old);
		} else {
			ingot_free(p);
		}
		wave_take_inbox(t);
		s[i] = NULL, len[i] = 0, limit[i] = 256 + rng_below(&rng, wave_limit);
	}
	for (unsigned i = 0; i < WAVE_STRINGS; i++)
		ingot_free(s[i]);
	return NULL;
}

/* WAVE_THREADS string threads and a forked child running wave_worker
 * once: every thread and the child end with a sound heap. */
static void run_string_waves(void)
{
	set_decay_everywhere(1000);
	pthread_t th[WAVE_THREADS];
	for (uintptr_t i = 0; i < WAVE_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, wave_worker, (void *)i), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		wave_worker((void *)(uintptr_t)WAVE_THREADS);
		_exit(ingot_check() == 0 ? 0 : 1);
	}
	for (int i = 0; i < WAVE_THREADS; i++)
		pthread_join(th[i], NULL);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
	for (unsigned t = 0; t < WAVE_THREADS; t++)
		wave_take_inbox(t);
	cr_assert_eq(ingot_check(), 0);
}

Test(decay, growing_strings_in_threads_that_free_each_others_and_fork, .timeout = 120)
{
	run_string_waves();
}

/* ---- the large cache while the heap grows (arena.c, large_cache_grown_before) */

#define LGROW_BLOCK (32 * KiB) /* a cached large class */
#define LGROW_N 64u            /* 2 MiB of it */

static void *lgrow_blocks[LGROW_N];

static size_t arena_large_cached(struct arena *a)
{
	arch_lock_acquire(&a->large_cache_lock);
	size_t bytes = a->large_cached_bytes;
	arch_lock_release(&a->large_cache_lock);
	return bytes;
}

/* LGROW_N blocks allocated from arena a, touched, and freed: into its cache. */
static void lgrow_cache_blocks(struct arena *a)
{
	for (unsigned i = 0; i < LGROW_N; i++) {
		lgrow_blocks[i] = arena_alloc_large(a, LGROW_BLOCK, PAGE, false);
		cr_assert_not_null(lgrow_blocks[i]);
		memset(lgrow_blocks[i], (int)i, LGROW_BLOCK);
	}
	for (unsigned i = 0; i < LGROW_N; i++)
		arena_free(pagemap_chunk((uintptr_t)lgrow_blocks[i]), lgrow_blocks[i]);
}

/* A block of another cached class, allocated and freed: a put, where the
 * cache looks at the heap's growth. */
static void lgrow_put_another(struct arena *a)
{
	void *p = arena_alloc_large(a, 48 * KiB, PAGE, false);
	cr_assert_not_null(p);
	memset(p, 0x3c, 64);
	arena_free(pagemap_chunk((uintptr_t)p), p);
}

/* A loop that frees and takes again blocks of one size takes no fresh
 * pages: the blocks cached before stay, through many puts. */
Test(decay, the_large_cache_keeps_its_blocks_while_the_heap_does_not_grow)
{
	struct arena *a = grow_arena();
	lgrow_cache_blocks(a);
	cr_assert_geq(arena_large_cached(a), LGROW_N * LGROW_BLOCK);
	for (unsigned i = 0; i < 4 * LARGE_CACHE_SPELLS; i++)
		lgrow_put_another(a);
	cr_assert_geq(arena_large_cached(a), LGROW_N * LGROW_BLOCK, "the cache kept %zu bytes of %zu",
	              arena_large_cached(a), (size_t)LGROW_N * LGROW_BLOCK);
	cr_assert_eq(ingot_check(), 0);
}

/* Whether block p waits in arena a's large cache. */
static bool lgrow_cached(struct arena *a, const void *p)
{
	bool found = false;
	arch_lock_acquire(&a->large_cache_lock);
	for (unsigned j = 0; j < SC_NLARGE && !found; j++)
		for (struct span *s = a->large_cached[j]; s && !found; s = s->next)
			found = s->base == (uintptr_t)p;
	arch_lock_release(&a->large_cache_lock);
	return found;
}

/* Resident pages of [p, p + n) (mincore). */
static size_t resident_pages(const void *p, size_t n)
{
	unsigned char vec[LGROW_BLOCK / 4096];
	cr_assert_leq(n, sizeof vec * 4096);
	cr_assert_eq(mincore((void *)p, n, vec), 0, "mincore: %s", strerror(errno));
	size_t count = 0;
	for (size_t i = 0; i < (n + 4095) / 4096; i++)
		count += vec[i] & 1;
	return count;
}

/* Blocks that sat in the cache while the heap took fresh pages, spell after
 * spell, go back to the heap, their pages past the first given back to the
 * OS (the first stays, for programs that touch blocks sparsely), and its
 * next growth takes their pages rather than others. */
Test(decay, the_large_cache_gives_its_blocks_back_while_the_heap_grows)
{
	struct arena *a = grow_arena();
	lgrow_cache_blocks(a);
	void *grown[LARGE_CACHE_SPELLS + 1];
	for (unsigned i = 0; i <= LARGE_CACHE_SPELLS; i++) {
		grown[i] = arena_alloc_large(a, 1 * MiB, PAGE, false); /* fresh pages */
		cr_assert_not_null(grown[i]);
		memset(grown[i], 0x5a, 1 * MiB);
		lgrow_put_another(a);
	}
	cr_assert_lt(arena_large_cached(a), LGROW_N * LGROW_BLOCK,
	             "the cache kept %zu bytes through %u spells of growth", arena_large_cached(a),
	             LARGE_CACHE_SPELLS + 1);
	cr_assert_eq(ingot_check(), 0);
	unsigned gone = 0;
	for (unsigned i = 0; i < LGROW_N; i++) {
		uintptr_t p = (uintptr_t)lgrow_blocks[i];
		bool taken = false; /* by a later block of the loop (then written) */
		for (unsigned k = 0; k <= LARGE_CACHE_SPELLS; k++)
			taken |= p < (uintptr_t)grown[k] + MiB && (uintptr_t)grown[k] < p + LGROW_BLOCK;
		if (taken || lgrow_cached(a, lgrow_blocks[i]))
			continue;
		gone++;
		size_t tail = resident_pages((char *)p + PAGE, LGROW_BLOCK - PAGE);
		cr_assert_eq(tail, 0, "a block the cache gave back keeps %zu pages past its first", tail);
	}
	cr_assert_gt(gone, 0, "no block the cache gave back is left to look at");
	/* Growth of another size takes those pages. */
	uintptr_t low = UINTPTR_MAX, high = 0;
	for (unsigned i = 0; i < LGROW_N; i++) {
		low = MIN(low, (uintptr_t)lgrow_blocks[i]);
		high = MAX(high, (uintptr_t)lgrow_blocks[i] + LGROW_BLOCK);
	}
	void *reuse = arena_alloc_large(a, LGROW_N * LGROW_BLOCK, PAGE, false);
	cr_assert_not_null(reuse);
	cr_assert((uintptr_t)reuse < high && (uintptr_t)reuse + LGROW_N * LGROW_BLOCK > low,
	          "the growth took other pages than the blocks' the cache gave back");
	memset(reuse, 0x6c, LGROW_N * LGROW_BLOCK);
	arena_free(pagemap_chunk((uintptr_t)reuse), reuse);
	for (unsigned i = 0; i <= LARGE_CACHE_SPELLS; i++)
		arena_free(pagemap_chunk((uintptr_t)grown[i]), grown[i]);
	cr_assert_eq(ingot_check(), 0);
}

/* The string threads of the test above, their strings through the large
 * classes the cache keeps (up to 64 KiB): the heap grows while they hand
 * strings to each other, exit, and a child forks. */
Test(decay, growing_large_strings_in_threads_that_free_each_others_and_fork, .timeout = 120)
{
	wave_limit = 64 * KiB;
	run_string_waves();
}

/* ---- a batch as large as batch-1k-8k's share of a class (bin.c, surplus) - */

#define SURPLUS_NOBJ 224u /* 28 slabs of 32 KiB, 896 KiB: past 64 KiB + 512 KiB */

static void *surplus_objs[SURPLUS_NOBJ];

static void surplus_round(struct arena *a)
{
	for (unsigned i = 0; i < SURPLUS_NOBJ; i++) {
		surplus_objs[i] = arena_alloc_small(a, sizeclass_of(GROW_OBJ), false);
		cr_assert_not_null(surplus_objs[i]);
		memset(surplus_objs[i], (int)i, 64);
	}
}

static uint32_t surplus_slabs_made(struct arena *a)
{
	struct bin *bin = arena_bin(a, sizeclass_of(GROW_OBJ));
	arch_lock_acquire(&bin->lock);
	uint32_t n = bin->nslabs_made;
	arch_lock_release(&bin->lock);
	return n;
}

/* A program that frees a batch of 896 KiB of one class and allocates it
 * again, the heap no longer growing, keeps the batch's slabs in the bin:
 * its third round makes no slab (the first round's slabs went back, the
 * second took them again from the heap and kept them on free). */
Test(decay, a_steady_batch_of_almost_a_mib_keeps_its_slabs)
{
	struct arena *a = grow_arena();
	for (int round = 0; round < 2; round++) {
		surplus_round(a);
		for (unsigned i = 0; i < SURPLUS_NOBJ; i++)
			arena_free(pagemap_chunk((uintptr_t)surplus_objs[i]), surplus_objs[i]);
	}
	uint32_t made = surplus_slabs_made(a);
	surplus_round(a);
	cr_assert_eq(surplus_slabs_made(a), made, "%u slabs made again for a steady batch",
	             surplus_slabs_made(a) - made);
	for (unsigned i = 0; i < SURPLUS_NOBJ; i++)
		arena_free(pagemap_chunk((uintptr_t)surplus_objs[i]), surplus_objs[i]);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- free pages of partly used slabs (bin.c, bin_give_back_free_pages) -- */

#define SPARSE_OBJ 4096u /* 8 objects a slab of 32 KiB (sizeclass table): one a page */
#define SPARSE_NOBJ 256u /* 32 slabs, 1 MiB of a fresh chunk of 4 */
#define SPARSE_KEEP 8u   /* one object in 8 stays in use */

static void *sparse_objs[SPARSE_NOBJ];

static bool all_bytes(const void *p, int byte, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)byte)
			return false;
	return true;
}

/* Resident pages among those of the freed objects (all but every
 * SPARSE_KEEP-th). */
static unsigned sparse_resident_pages(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < SPARSE_NOBJ; i++) {
		unsigned char in_core = 0;
		if (i % SPARSE_KEEP == 0)
			continue;
		cr_assert_eq(mincore(sparse_objs[i], SPARSE_OBJ, &in_core), 0);
		n += in_core & 1;
	}
	return n;
}

/* A program whose sizes shift frees most objects of a class but keeps a
 * few in each slab: the slabs stay, and their pages with no object in use
 * go back to the OS when the heap next grows by a chunk. Objects handed out
 * there again are whole, and what stayed in use keeps its contents. */
Test(decay, a_growing_heap_gives_back_the_free_pages_of_partly_used_slabs)
{
	struct arena *a = grow_arena();
	unsigned cls = sizeclass_of(SPARSE_OBJ);
	for (unsigned i = 0; i < SPARSE_NOBJ; i++) {
		sparse_objs[i] = arena_alloc_small(a, cls, false);
		cr_assert_not_null(sparse_objs[i]);
		memset(sparse_objs[i], (int)(i & 0xff), SPARSE_OBJ);
	}
	for (unsigned i = 0; i < SPARSE_NOBJ; i++)
		if (i % SPARSE_KEEP != 0)
			arena_free(pagemap_chunk((uintptr_t)sparse_objs[i]), sparse_objs[i]);
	unsigned freed = SPARSE_NOBJ - SPARSE_NOBJ / SPARSE_KEEP;
	cr_assert_eq(sparse_resident_pages(), freed, "freed objects' pages left memory before the heap grew");

	/* Two blocks of 2 MiB: the second takes a new chunk. */
	void *big[2];
	for (unsigned i = 0; i < 2; i++) {
		big[i] = arena_alloc_large(a, 2 * MiB, PAGE, false);
		cr_assert_not_null(big[i]);
	}
	unsigned left = sparse_resident_pages();
	cr_assert_leq(left, freed / 8, "%u of %u free pages of partly used slabs still resident", left, freed);

	for (unsigned i = 0; i < SPARSE_NOBJ; i += SPARSE_KEEP)
		cr_assert(all_bytes(sparse_objs[i], (int)(i & 0xff), SPARSE_OBJ),
		          "object in use changed when its slab's free pages went back");
	for (unsigned i = 0; i < SPARSE_NOBJ; i++) {
		if (i % SPARSE_KEEP == 0)
			continue;
		sparse_objs[i] = arena_alloc_small(a, cls, false);
		cr_assert_not_null(sparse_objs[i]);
		memset(sparse_objs[i], 0x3c, SPARSE_OBJ);
	}
	cr_assert_eq(ingot_check(), 0);
	for (unsigned i = 0; i < SPARSE_NOBJ; i++)
		arena_free(pagemap_chunk((uintptr_t)sparse_objs[i]), sparse_objs[i]);
	for (unsigned i = 0; i < 2; i++)
		arena_free(pagemap_chunk((uintptr_t)big[i]), big[i]);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- huge blocks cached while the heap grows (huge.c, HUGE_CACHE_SPELLS) - */

#define HGROW_BLOCK (8 * MiB) /* huge: a mapping of its own */
#define HGROW_LARGE (2 * MiB) /* the biggest large class: from the page heap, past its caches */
#define HGROW_N (HUGE_CACHE_SPELLS + 2) /* fresh takes: 12 MiB, past 8 */

static size_t huge_cached_bytes(struct arena *a)
{
	arch_lock_acquire(&a->huge_lock);
	size_t bytes = a->huge_cached_bytes;
	arch_lock_release(&a->huge_lock);
	return bytes;
}

/* Huge mappings freed and left unused while the page heap took fresh pages,
 * more than they hold (the program's footprint grew beside them), go back
 * at the next huge free, with a decay that never ends; the mapping freed then stays cached.
 * Two frees without growth between keep both. */
Test(decay, cached_huge_mappings_go_back_while_the_heap_grows)
{
	struct arena *a = grow_arena();
	uint8_t *huge[3], *grown[HGROW_N];
	for (int i = 0; i < 3; i++) {
		huge[i] = arena_alloc_huge(a, HGROW_BLOCK, CHUNK, false);
		cr_assert_not_null(huge[i]);
		memset(huge[i], i + 1, HGROW_BLOCK);
	}
	arena_free(pagemap_chunk((uintptr_t)huge[0]), huge[0]);
	arena_free(pagemap_chunk((uintptr_t)huge[1]), huge[1]);
	cr_assert_eq(huge_cached_bytes(a), 2 * HGROW_BLOCK, "two frees in a row kept %zu bytes",
	             huge_cached_bytes(a));
	for (unsigned i = 0; i < HGROW_N; i++) {
		grown[i] = arena_alloc_large(a, HGROW_LARGE, PAGE, false);
		cr_assert_not_null(grown[i]);
		memset(grown[i], 0x5a, HGROW_LARGE);
	}
	arena_free(pagemap_chunk((uintptr_t)huge[2]), huge[2]);
	cr_assert_eq(huge_cached_bytes(a), HGROW_BLOCK,
	             "after %u fresh takes of %zu bytes the cache kept %zu bytes, not the last free's %zu",
	             (unsigned)HGROW_N, HGROW_LARGE, huge_cached_bytes(a), HGROW_BLOCK);
	void *again = arena_alloc_huge(a, HGROW_BLOCK, CHUNK, false);
	cr_assert_eq(again, huge[2], "the mapping freed last was not reused");
	arena_free(pagemap_chunk((uintptr_t)again), again);
	for (unsigned i = 0; i < HGROW_N; i++)
		arena_free(pagemap_chunk((uintptr_t)grown[i]), grown[i]);
	cr_assert_eq(ingot_check(), 0);
}
