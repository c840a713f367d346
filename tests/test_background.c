/*
 * test_background.c — the background purger (background_thread): a program
 * that frees a lot and then sleeps, without calling the allocator, returns
 * to its live size within about the decay time; the thread sleeps while
 * there is nothing to purge, stops when turned off, and starts again in a
 * forked child. Also the decay curve itself: a freed span that coalesces
 * with an older dirty one keeps the older pages' age.
 *
 * Resident size is read from /proc/self/statm (what an operator sees). The
 * suite links the prefixed library, so Criterion and libc keep glibc's
 * malloc: reading /proc does not call ingot.
 */
#include "helpers.h"

#include <dirent.h>
#include <time.h>

#include "arena.h"
#include "ingot.h"
#include "pageheap.h"

#define DECAY_MS 1000
#define CHURN (192 * MiB)
#define SLACK (8 * MiB) /* "within a few MiB" of the live size */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_decay_everywhere(int64_t ms)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		pageheap_set_decay(&arena_get(i)->heap, ms);
}

static size_t dirty_pages_of(struct pageheap *h)
{
	arch_lock_acquire(&h->lock);
	size_t pages = h->npages_dirty;
	arch_lock_release(&h->lock);
	return pages;
}

static void set_background(bool on)
{
	cr_assert_eq(ingot_mallctl("background_thread", NULL, NULL, &on, sizeof(on)), 0);
}

static size_t stat_size(const char *name)
{
	size_t v = 0, len = sizeof(v);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

static uint64_t stat_u64(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof(v);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

static unsigned task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	cr_assert_not_null(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Allocates about CHURN bytes in blocks of 4..64 KiB (small slabs and
 * large runs), touching every page, then frees them all. Returns the
 * resident size at the peak; *after_frees (unless NULL) gets it as the
 * frees return. */
static size_t churn_and_free_measured(size_t *after_frees)
{
	static void *blocks[CHURN / (4 * KiB)];
	uint64_t rng = 15;
	size_t n = 0, total = 0;
	while (total < CHURN) {
		size_t size = 4 * KiB + rng_below(&rng, 60 * KiB);
		blocks[n] = ingot_malloc(size);
		cr_assert_not_null(blocks[n]);
		memset(blocks[n], 0x5c, size);
		total += size;
		n++;
	}
	size_t peak = rss_bytes();
	for (size_t i = 0; i < n; i++)
		ingot_free(blocks[i]);
	if (after_frees)
		*after_frees = rss_bytes();
	return peak;
}

static size_t churn_and_free(void) { return churn_and_free_measured(NULL); }

/* Polls the resident size, without calling the allocator, until it is at
 * most target or limit_ms passed; returns the last reading. */
static size_t rss_wait_below(size_t target, uint64_t limit_ms, uint64_t *took_ms)
{
	uint64_t start = now_ms();
	size_t rss = rss_bytes();
	while (rss > target && now_ms() - start < limit_ms) {
		sleep_ms(25);
		rss = rss_bytes();
	}
	*took_ms = now_ms() - start;
	return rss;
}

Test(background, idle_program_returns_to_live_size, .timeout = 20)
{
	set_decay_everywhere(DECAY_MS);
	set_background(true);
	size_t live = rss_bytes();
	size_t peak = churn_and_free();
	cr_assert_gt(peak, live + CHURN / 2, "the churn did not show in RSS: %zu -> %zu", live, peak);
	uint64_t took;
	size_t after = rss_wait_below(live + SLACK, 2 * DECAY_MS, &took);
	cr_assert_leq(after, live + SLACK,
	              "RSS %zu MiB after %llu ms of sleep (live %zu MiB, peak %zu MiB)", after >> 20,
	              (unsigned long long)took, live >> 20, peak >> 20);
	cr_assert_eq(stat_size("stats.background_thread.num_threads"), 1);
	cr_assert_eq(ingot_check(), 0);
	set_background(false);
}

Test(background, without_thread_the_program_keeps_its_dirty_pages, .timeout = 20)
{
	/* What the thread is for: the same sleep without it gives nothing back
	 * beyond what the frees gave (no allocator call, no decay). */
	set_decay_everywhere(DECAY_MS / 4);
	size_t after_frees;
	churn_and_free_measured(&after_frees);
	sleep_ms(DECAY_MS / 2);
	size_t after = rss_bytes();
	cr_assert_geq(after + 1 * MiB, after_frees, "RSS fell without a purger: %zu -> %zu MiB",
	              after_frees >> 20, after >> 20);
	cr_assert_eq(stat_size("stats.background_thread.num_threads"), 0);
}

Test(background, sleeps_while_nothing_is_dirty, .timeout = 20)
{
	set_decay_everywhere(200);
	set_background(true);
	size_t live = rss_bytes();
	churn_and_free();
	uint64_t took;
	rss_wait_below(live + SLACK, 2000, &took);
	/* Bins in use are looked at again after a second; after that pass
	 * nothing is left and the thread must not wake on its own. */
	sleep_ms(1300);
	uint64_t runs = stat_u64("stats.background_thread.num_runs");
	sleep_ms(1200);
	uint64_t later = stat_u64("stats.background_thread.num_runs");
	cr_assert_eq(later, runs, "an idle purger ran %llu times in 1.2 s",
	             (unsigned long long)(later - runs));
	/* The first dirty page wakes it. */
	void *p = ingot_malloc(1 * MiB);
	memset(p, 1, 1 * MiB);
	ingot_free(p);
	uint64_t start = now_ms();
	while (stat_u64("stats.background_thread.num_runs") == later && now_ms() - start < 2000)
		sleep_ms(5);
	cr_assert_gt(stat_u64("stats.background_thread.num_runs"), later,
	             "a free did not wake the idle purger");
	set_background(false);
}

Test(background, turning_it_off_ends_the_thread, .timeout = 20)
{
	unsigned before = task_count();
	set_background(true);
	bool on = false;
	size_t len = sizeof(on);
	cr_assert_eq(ingot_mallctl("background_thread", &on, &len, NULL, 0), 0);
	cr_assert(on);
	cr_assert_eq(task_count(), before + 1);
	cr_assert_eq(stat_size("stats.background_thread.num_threads"), 1);
	set_background(false);
	/* The write returns once the thread has ended its work; the OS may
	 * take a moment more to reap it. */
	uint64_t start = now_ms();
	while (task_count() != before && now_ms() - start < 2000)
		sleep_ms(5);
	cr_assert_eq(task_count(), before);
	cr_assert_eq(stat_size("stats.background_thread.num_threads"), 0);
}

Test(background, forked_child_restarts_it_at_its_first_free, .timeout = 20)
{
	set_decay_everywhere(DECAY_MS);
	set_background(true);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int code = 0;
		size_t n = 0, len = sizeof(n);
		ingot_mallctl("stats.background_thread.num_threads", &n, &len, NULL, 0);
		if (n != 0)
			code = 1; /* the thread did not come along */
		void *p = ingot_malloc(1 * MiB);
		memset(p, 1, 1 * MiB);
		ingot_free(p);
		ingot_mallctl("stats.background_thread.num_threads", &n, &len, NULL, 0);
		if (code == 0 && n != 1)
			code = 2; /* not restarted */
		_exit(code);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child did not exit normally");
	cr_assert_eq(WEXITSTATUS(status), 0, "child: %s",
	             WEXITSTATUS(status) == 1 ? "the thread ran before any free" : "not restarted");
	cr_assert_eq(stat_size("stats.background_thread.num_threads"), 1, "parent lost its thread");
	set_background(false);
}

static void print_to(void *buf, const char *s) { strncat(buf, s, 8191 - strlen(buf)); }

Test(background, stats_print_shows_the_thread)
{
	set_background(true);
	static char out[8192];
	ingot_malloc_stats_print(print_to, out, "a");
	cr_assert_not_null(strstr(out, "Background threads: 1, num_runs: "), "%s", out);
	set_background(false);
}

Test(decay, coalesced_span_keeps_its_pages_age, .timeout = 10)
{
	/* A span freed at t0, then its small neighbour at t0 + 900 ms: with a
	 * decay time of 1 s the older pages may stay for only a tenth of their
	 * count, so the free of the neighbour purges the merged span. Pages
	 * that took the age of the last free they merged with stayed dirty for
	 * another second. */
	ingot_free(ingot_malloc(1)); /* boots ingot */
	int idx = arena_create();
	cr_assert_geq(idx, 0);
	struct pageheap *h = &arena_get((unsigned)idx)->heap;
	pageheap_set_decay(h, 1000);
	size_t big = 256, small = 16; /* pages */
	struct span *a = pageheap_alloc(h, big, PAGE, false, 0);
	struct span *b = pageheap_alloc(h, small, PAGE, false, 0);
	cr_assert(a && b && b->base == a->base + big * PAGE, "spans not adjacent");
	arch_lock_acquire(&h->lock);
	h->now_ns = arch_now_ns(); /* the heap reads the clock every few calls */
	arch_lock_release(&h->lock);
	pageheap_free(h, a);
	size_t dirty_then = dirty_pages_of(h);
	sleep_ms(900);
	arch_lock_acquire(&h->lock);
	h->now_ns = arch_now_ns();
	arch_lock_release(&h->lock);
	pageheap_free(h, b);
	cr_assert_eq(dirty_then, big, "the first free purged at once");
	cr_assert_eq(dirty_pages_of(h), 0, "%zu of %zu pages still dirty", dirty_pages_of(h),
	             big + small);
	cr_assert_eq(ingot_check(), 0);
}

Test(decay, dirty_memory_falls_linearly_over_the_decay_time, .timeout = 10)
{
	/* 64 spans freed at once, then purged in steps: at half the decay time
	 * about half may stay. Counting only the spans still dirty made each
	 * step compound the last (a quarter at half time). */
	ingot_free(ingot_malloc(1));
	int idx = arena_create();
	cr_assert_geq(idx, 0);
	struct pageheap *h = &arena_get((unsigned)idx)->heap;
	pageheap_set_decay(h, 1000);
	static struct span *spans[64];
	for (int i = 0; i < 64; i++) {
		spans[i] = pageheap_alloc(h, 16, PAGE, false, 0);
		cr_assert_not_null(spans[i]);
		/* a busy one-page span between them keeps them apart */
		cr_assert_not_null(pageheap_alloc(h, 1, PAGE, false, 0));
	}
	arch_lock_acquire(&h->lock);
	h->now_ns = arch_now_ns();
	arch_lock_release(&h->lock);
	for (int i = 0; i < 64; i++)
		pageheap_free(h, spans[i]);
	for (int step = 1; step <= 5; step++) {
		sleep_ms(100);
		pageheap_decay(h, false);
	}
	size_t dirty = dirty_pages_of(h);
	cr_assert(dirty >= 64 * 16 * 35 / 100 && dirty <= 64 * 16 * 55 / 100,
	          "%zu of %d pages dirty at half the decay time", dirty, 64 * 16);
}

Test(decay, frees_of_most_of_the_heap_hand_it_back_as_they_return, .timeout = 20)
{
	/* Without a purger and with a decay time of a second, what the frees
	 * leave whole chunks free of goes back at once, as jemalloc gives back
	 * coalesced extents past its oversize_threshold (Debian's jemalloc,
	 * same scenario: 41-63% of the peak as the frees return). */
	set_decay_everywhere(DECAY_MS);
	size_t live = rss_bytes(), after;
	size_t peak = churn_and_free_measured(&after);
	cr_assert_leq(after - live, (peak - live) / 2, "RSS %zu MiB as the frees return (peak %zu)",
	              after >> 20, peak >> 20);
	cr_assert_eq(ingot_check(), 0);
}

Test(decay, never_purging_keeps_whole_chunks, .timeout = 20)
{
	set_decay_everywhere(-1);
	size_t live = rss_bytes(), after;
	size_t peak = churn_and_free_measured(&after);
	cr_assert_geq(after - live, (peak - live) / 10 * 9, "RSS %zu MiB after the frees (peak %zu)",
	              after >> 20, peak >> 20);
}

Test(decay, a_batch_allocated_again_after_its_free_stops_being_given_back, .timeout = 10)
{
	/* Eight whole chunks, freed and allocated again in a loop: the first
	 * frees give most of them back, then each time clean pages come back
	 * into use the heap keeps more, until nothing is faulted in again. */
	ingot_free(ingot_malloc(1));
	int idx = arena_create();
	cr_assert_geq(idx, 0);
	struct pageheap *h = &arena_get((unsigned)idx)->heap;
	pageheap_set_decay(h, 10000);
	static struct span *spans[8];
	uint64_t purged_after[13] = {0};
	for (int cycle = 1; cycle <= 12; cycle++) {
		for (int i = 0; i < 8; i++) {
			spans[i] = pageheap_alloc(h, CHUNK_PAGES, PAGE, false, 0);
			cr_assert_not_null(spans[i]);
		}
		for (int i = 0; i < 8; i++)
			pageheap_free(h, spans[i]);
		arch_lock_acquire(&h->lock);
		purged_after[cycle] = h->npurged;
		arch_lock_release(&h->lock);
	}
	cr_assert_geq(purged_after[1], 6 * (uint64_t)CHUNK_PAGES, "the first frees kept %llu pages",
	              (unsigned long long)(8 * CHUNK_PAGES - purged_after[1]));
	cr_assert_eq(purged_after[12], purged_after[6], "still purging after 6 cycles: %llu pages more",
	             (unsigned long long)(purged_after[12] - purged_after[6]));
	cr_assert_eq(ingot_check(), 0);
}
