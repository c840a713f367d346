/*
 * test_guard.c — sampled guarded allocations (guard_sample): about one
 * allocation in N lands between guard pages, an overflow, underflow or use
 * after free on it is reported in one line with the block and its stacks,
 * and valid programs see nothing of it (contents, zeroing, realloc,
 * threads, fork).
 *
 * Each test runs in a fresh process: INGOT_CONF is set before ingot
 * starts, by the suite's init.
 */
#include <pthread.h>

#include "common.h"
#include "guard.h"
#include "helpers.h"
#include "ingot.h"

static void every_allocation(void) { setenv("INGOT_CONF", "guard_sample:1", 1); }
static void one_in_hundred(void) { setenv("INGOT_CONF", "guard_sample:100", 1); }

static uint64_t ctl_u64(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof(v);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

static size_t ctl_size(const char *name)
{
	size_t v = 0;
	size_t len = sizeof(v);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

/* Allocates until a guarded block of size comes back (the pool's cells are
 * registered as one chunk that is neither slab nor span: usable sizes say
 * nothing, so the counter tells). */
static char *guarded_block(size_t size)
{
	for (int i = 0; i < 10000; i++) {
		uint64_t before = ctl_u64("guard.sampled");
		char *p = ingot_malloc(size);
		cr_assert_not_null(p);
		if (ctl_u64("guard.sampled") > before)
			return p;
		ingot_free(p);
	}
	cr_assert_fail("no guarded block of %zu bytes in 10000 allocations", size);
	return NULL;
}

TestSuite(guard_off);

Test(guard_off, no_pool_by_default)
{
	ingot_free(ingot_malloc(1));
	cr_assert_eq(ctl_size("guard.cells"), 0);
	for (int i = 0; i < 10000; i++)
		ingot_free(ingot_malloc(1 + i % 3000));
	cr_assert_eq(ctl_u64("guard.sampled"), 0);
}

TestSuite(guard_rate, .init = one_in_hundred);

Test(guard_rate, about_one_allocation_in_n)
{
	/* 100000 small and large allocations, 100 live at a time: about 1000
	 * guarded, never more than a few live at once. */
	static void *ring[100];
	uint64_t rng = 5;
	for (int i = 0; i < 100000; i++) {
		ingot_free(ring[i % 100]);
		size_t size = rng_below(&rng, 10) ? 1 + rng_below(&rng, 2000) : 20000 + rng_below(&rng, 30000);
		ring[i % 100] = ingot_malloc(size);
		cr_assert_not_null(ring[i % 100]);
		memset(ring[i % 100], 0x3c, size);
	}
	uint64_t sampled = ctl_u64("guard.sampled");
	cr_assert(sampled >= 800 && sampled <= 1200, "%llu of 100000 guarded with guard_sample:100",
	          (unsigned long long)sampled);
	cr_assert_eq(ctl_u64("guard.failed"), 0);
	for (int i = 0; i < 100; i++)
		ingot_free(ring[i]);
	cr_assert_eq(ctl_size("guard.live"), 0);
	cr_assert_eq(ingot_check(), 0);
}

TestSuite(guard, .init = every_allocation);

Test(guard, every_allocation_while_cells_last)
{
	enum { N = 300 };
	static char *p[N];
	size_t cells = ctl_size("guard.cells");
	cr_assert_gt(cells, 100);
	for (int i = 0; i < N; i++) {
		size_t size = 1 + (size_t)i * 97 % 4000;
		p[i] = ingot_malloc(size);
		cr_assert_not_null(p[i]);
		cr_assert_geq(ingot_malloc_usable_size(p[i]), size);
		cr_assert_eq((uintptr_t)p[i] % 16, 0, "%p is not aligned to 16", (void *)p[i]);
		pattern_fill(p[i], size, (uint64_t)i);
	}
	cr_assert_eq(ctl_size("guard.live"), cells, "every slot holds a block");
	cr_assert_geq(ctl_u64("guard.failed"), N - cells);
	cr_assert_eq(ingot_check(), 0);
	for (int i = 0; i < N; i++) {
		size_t size = 1 + (size_t)i * 97 % 4000;
		cr_assert_eq(pattern_mismatch(p[i], size, (uint64_t)i), SIZE_MAX, "block %d changed", i);
		ingot_free(p[i]);
	}
	cr_assert_eq(ctl_size("guard.live"), 0);
	cr_assert_eq(ingot_check(), 0);
}

Test(guard, reused_cells_read_as_zero_for_calloc)
{
	/* Fill every slot, dirty and free them, then calloc through them all. */
	for (int round = 0; round < 3; round++) {
		static char *p[400];
		for (int i = 0; i < 400; i++) {
			p[i] = round == 2 ? ingot_calloc(1, 3000) : ingot_malloc(3000);
			cr_assert_not_null(p[i]);
			if (round == 2)
				cr_assert_eq(first_nonzero(p[i], 3000), SIZE_MAX, "calloc block %d not zero", i);
			memset(p[i], 0xee, 3000);
		}
		for (int i = 0; i < 400; i++)
			ingot_free(p[i]);
	}
}

Test(guard, a_kept_page_never_shows_through_a_later_block)
{
	/* A guarded block is handed out zeroed, as fresh pages are: nothing of
	 * an earlier block of its cell shows through. Freed one-page blocks
	 * keep their page; a later block of the cell at its other edge, over
	 * other pages, is purged when freed; a block after that, back over the
	 * kept page, must still read as zero. */
	static const size_t sizes[] = {100, 3 * 4096 + 100, 100};
	for (int round = 0; round < 3; round++) {
		static char *p[300];
		for (int i = 0; i < 300; i++) {
			p[i] = ingot_malloc(sizes[round]);
			cr_assert_not_null(p[i]);
			if (guard_usable_size(p[i]) != 0)
				cr_assert_eq(first_nonzero(p[i], sizes[round]), SIZE_MAX,
				             "round %d: guarded block %d not zero", round, i);
			memset(p[i], 0xee, sizes[round]);
		}
		for (int i = 0; i < 300; i++)
			ingot_free(p[i]);
	}
}

Test(guard, realloc_keeps_the_contents)
{
	char *p = guarded_block(100);
	pattern_fill(p, 100, 7);
	p = ingot_realloc(p, 40000);
	cr_assert_not_null(p);
	cr_assert_eq(pattern_mismatch(p, 100, 7), SIZE_MAX);
	p = ingot_realloc(p, 10);
	cr_assert_not_null(p);
	cr_assert_eq(pattern_mismatch(p, 10, 7), SIZE_MAX);
	ingot_free(p);
	cr_assert_eq(ingot_check(), 0);
}

/* A guarded large block resized within its cell must still have the new
 * size's usable size: a sized free of the new size is valid (found by
 * fuzz_ops under guard_sample). */
Test(guard, realloc_shrink_gives_the_new_size_its_class)
{
	char *p = guarded_block(40000);
	pattern_fill(p, 20000, 3);
	p = ingot_realloc(p, 20000);
	cr_assert_not_null(p);
	cr_assert_eq(ingot_malloc_usable_size(p), ingot_nallocx(20000, 0));
	cr_assert_eq(pattern_mismatch(p, 20000, 3), SIZE_MAX);
	ingot_free_sized(p, 20000);
	p = guarded_block(40000);
	cr_assert_eq(ingot_xallocx(p, 20000, 0, 0), ingot_malloc_usable_size(p));
	ingot_sdallocx(p, ingot_malloc_usable_size(p), 0);
	cr_assert_eq(ctl_size("guard.live"), 0);
	cr_assert_eq(ingot_check(), 0);
}

static void *churn_thread(void *arg)
{
	uint64_t rng = (uintptr_t)arg;
	static _Thread_local void *mine[64];
	for (int i = 0; i < 20000; i++) {
		int k = (int)rng_below(&rng, 64);
		ingot_free(mine[k]);
		size_t size = 1 + rng_below(&rng, 5000);
		mine[k] = ingot_malloc(size);
		THREAD_CHECK(mine[k] != NULL, "malloc failed");
		memset(mine[k], 0x11, size);
	}
	for (int k = 0; k < 64; k++)
		ingot_free(mine[k]);
	return NULL;
}

Test(guard, many_threads_and_a_fork)
{
	/* Boot first: a fork while another thread is still inside ingot's
	 * start-up (before its fork handlers exist) leaves the child waiting
	 * on the start-up lock (a known limit, in the closing note). */
	ingot_free(ingot_malloc(1));
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = start_thread(churn_thread, (void *)(uintptr_t)(i + 1));
	fflush(NULL);
	pid_t pid = fork(); /* while the threads allocate guarded blocks */
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *p = ingot_malloc(50);
		memset(p, 1, 50);
		ingot_free(p);
		_exit(ingot_check() == 0 ? 0 : 1);
	}
	for (int i = 0; i < 8; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child failed");
	cr_assert_gt(ctl_u64("guard.sampled"), 1000);
	cr_assert_eq(ctl_size("guard.live"), 0);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- misuse: one line, then abort -------------------------------------------- */

/* The first guarded block of size placed against the guard on the given
 * side: its right edge touches the guard page (an overflow faults at
 * once), or its left edge does (an underflow does). */
static char *guarded_against(size_t size, bool right)
{
	for (int i = 0; i < 64; i++) {
		char *p = guarded_block(size);
		bool at_right = ((uintptr_t)p + ingot_malloc_usable_size(p)) % PAGE == 0;
		bool at_left = (uintptr_t)p % PAGE == 0;
		if (right ? at_right : at_left)
			return p;
	}
	cr_assert_fail("no guarded block against its %s guard", right ? "right" : "left");
	return NULL;
}

static void overflow(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	char *p = guarded_against(size, true);
	p[ingot_malloc_usable_size(p)] = 1;
}

static void underflow(void *arg)
{
	(void)arg;
	char *p = guarded_against(48, false);
	p[-1] = 1;
}

static void use_after_free(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	volatile char *p = guarded_block(size);
	ingot_free((void *)p);
	(void)p[size / 2];
}

static void double_free(void *arg)
{
	(void)arg;
	char *p = guarded_block(64);
	ingot_free(p);
	ingot_free(p);
}

static void interior_free(void *arg)
{
	(void)arg;
	char *p = guarded_block(64);
	ingot_free(p + 16);
}

Test(guard, overflow_of_a_small_block)
{
	assert_aborts_with(overflow, (void *)(uintptr_t)40, "heap overflow", "small overflow");
}

Test(guard, overflow_of_a_large_block)
{
	assert_aborts_with(overflow, (void *)(uintptr_t)30000, "heap overflow", "large overflow");
}

Test(guard, underflow)
{
	assert_aborts_with(underflow, NULL, "heap underflow", "underflow");
}

Test(guard, read_after_free_of_a_small_block)
{
	assert_aborts_with(use_after_free, (void *)(uintptr_t)200, "use after free", "small");
}

Test(guard, read_after_free_of_a_large_block)
{
	assert_aborts_with(use_after_free, (void *)(uintptr_t)40000, "use after free", "large");
}

Test(guard, the_report_names_the_block_and_its_stacks)
{
	struct child_result r;
	run_in_child(use_after_free, (void *)(uintptr_t)256, &r);
	cr_assert(!r.exited && r.status == SIGABRT, "child: %d, %s", r.status, r.err);
	cr_assert_not_null(strstr(r.err, "of 256 bytes (guard_sample)"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "allocated by thread "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "; freed by thread "), "%s", r.err);
	cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "more than one line: %s", r.err);
}

Test(guard, double_free)
{
	assert_aborts_with(double_free, NULL, "double free", "double free");
}

Test(guard, free_of_an_interior_pointer)
{
	assert_aborts_with(interior_free, NULL, "invalid pointer", "interior free");
}

/* Hooks installed after a guarded block was handed out see its free, as
 * they see every other block's. */
static void *hooked_free_ptr;
static size_t hooked_free_usable;

static void note_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx;
	hooked_free_ptr = ptr;
	hooked_free_usable = usable;
}

Test(guard, hooks_see_the_free_of_a_guarded_block)
{
	for (size_t size = 24; size <= 100000; size *= 40) {
		char *p = guarded_block(size);
		const struct ingot_hooks hooks = {NULL, note_free, NULL, NULL};
		hooked_free_ptr = NULL;
		cr_assert_eq(ingot_hooks_set(&hooks), 0);
		ingot_free(p);
		cr_assert_eq(ingot_hooks_set(NULL), 0);
		cr_assert_eq(hooked_free_ptr, p, "the free of a guarded block of %zu bytes went unseen", size);
		cr_assert_geq(hooked_free_usable, size);
	}
}
