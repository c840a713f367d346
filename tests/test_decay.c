/*
 * test_decay.c — freed memory goes back to the OS: at once (decay 0), on
 * ingot_purge(), after the decay time, and for huge blocks on free or shrink.
 *
 * Measured as the process's resident size (/proc/self/statm), which is what
 * an operator sees. Each test sets the decay time of every arena itself
 * (pageheap_set_decay) rather than through options, since options are read
 * once at start.
 */
#include "helpers.h"

#include <time.h>

#include "arena.h"
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

Test(decay, decay_returns_pages_after_the_decay_time, .timeout = 30)
{
	/* One block in eight stays live, so that no chunk is left wholly free
	 * (those go back as they are freed, test_background): the rest waits
	 * for the decay time. */
	set_decay_everywhere(100);
	static void *blocks[NBLOCKS];
	size_t peak = fill(blocks);
	for (size_t i = 0; i < NBLOCKS; i++)
		if (i % 8 != 0)
			ingot_free(blocks[i]);
	size_t after_free = rss_bytes();
	cr_assert_geq(after_free + TOTAL / 4, peak,
	              "decay 100 ms gave memory back at once: %zu -> %zu bytes resident", peak,
	              after_free);
	sleep_ms(300);
	/* Decay runs on allocator events, not in a thread of its own (and the
	 * page heap reads the clock only every few dozen of them). */
	for (int i = 0; i < 100; i++)
		ingot_free(ingot_malloc(BLOCK));
	size_t after_decay = rss_bytes();
	cr_assert_geq(fell(peak, after_decay), MOST - TOTAL / 8,
	              "300 ms after the frees only %zu of %zu bytes went back",
	              fell(peak, after_decay), (size_t)TOTAL / 8 * 7);
	for (size_t i = 0; i < NBLOCKS; i += 8)
		ingot_free(blocks[i]);
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
