/*
 * test_hardened_large.c — huge blocks in a hardened heap: each ends in an
 * inaccessible guard page; a freed one's range stays inaccessible (its
 * pages wait for reuse in the arena's cache, moved to a new address, or in
 * place made inaccessible), so that a read or write after free is reported
 * on the access, and a reused mapping bigger than its block keeps the
 * pages past the block inaccessible.
 *
 * Built twice, as test_hardened is (mk/hardened.mk): against the
 * HARDENED=1 build and against the default one with profile:hardened.
 */
#include <pthread.h>
#include <sys/resource.h>

#include "helpers.h"
#include "ingot.h"

#ifndef PROFILE_AT_START
#define PROFILE_AT_START 0
#endif

#define MIB ((size_t)1 << 20)

/* Each test runs in a fresh process in which ingot has not started yet. */
static void choose_profile(void)
{
	if (PROFILE_AT_START)
		setenv("INGOT_CONF", "profile:hardened", 1);
}

TestSuite(hardened_huge, .init = choose_profile);

/* ---- reuse ------------------------------------------------------------------ */

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* The freed block's pages serve the next block of its size (at another
 * address: the freed range stays inaccessible), faulted in already. */
Test(hardened_huge, a_freed_blocks_pages_serve_the_next_of_its_size)
{
	char *p = ingot_malloc(8 * MIB);
	memset(p, 0x11, 8 * MIB);
	ingot_free(p);
	long faults = minor_faults();
	char *q = ingot_malloc(8 * MIB);
	memset(q, 0x22, 8 * MIB); /* every page accessible */
	cr_assert(minor_faults() - faults < 256, "%ld page faults writing a reused 8 MiB block",
	          minor_faults() - faults);
	cr_assert_eq(q[8 * MIB - 1], 0x22);
	ingot_free(q);
	cr_assert_eq(ingot_check(), 0);
}

Test(hardened_huge, calloc_of_a_freed_size_reads_zero)
{
	char *p = ingot_malloc(6 * MIB);
	memset(p, 0x5c, 6 * MIB);
	ingot_free(p);
	unsigned char *q = ingot_calloc(1, 6 * MIB);
	for (size_t i = 0; i < 6 * MIB; i += 4093)
		cr_assert_eq(q[i], 0, "byte %zu of a calloc'd huge block is %d", i, q[i]);
	ingot_free(q);
}

/* A 9 MiB block in a reused 16 MiB mapping keeps 12 MiB of it (whole
 * chunks); realloc grows it in place into those pages, which must then be
 * writable, and a shrink makes the pages it gives up inaccessible again. */
Test(hardened_huge, realloc_in_a_reused_mapping_grows_and_shrinks_in_place)
{
	ingot_free(ingot_malloc(16 * MIB));
	char *p = ingot_malloc(9 * MIB);
	char *q = ingot_realloc(p, 11 * MIB);
	cr_assert_eq(q, p, "grown within its mapping, not moved");
	memset(q, 0x33, 11 * MIB);
	char *r = ingot_realloc(q, 40 * MIB); /* moved or grown: all of it writable */
	cr_assert_not_null(r);
	cr_assert_eq(r[11 * MIB - 1], 0x33, "the contents moved with the block");
	memset(r, 0x44, 40 * MIB);
	ingot_free(r);
	cr_assert_eq(ingot_check(), 0);
}

/* Bytes mapped for the heap, as stats.mapped reports them now. */
static size_t mapped_bytes(void)
{
	uint64_t epoch = 1;
	size_t mapped, len = sizeof mapped;
	cr_assert_eq(ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
	cr_assert_eq(ingot_mallctl("stats.mapped", &mapped, &len, NULL, 0), 0);
	return mapped;
}

/* The cache is given back as the default's is: a purge unmaps what it
 * holds (decay does the same after dirty_decay_ms; test_decay's huge-cache
 * tests, run under profile:hardened too, check decay and the byte bound). */
Test(hardened_huge, a_purge_unmaps_the_cached_mappings)
{
	char *p = ingot_malloc(32 * MIB);
	ingot_free(p);
	size_t before = mapped_bytes();
	ingot_purge();
	size_t after = mapped_bytes();
	cr_assert_geq(before - after, 32 * MIB, "mapped %zu bytes before the purge, %zu after", before,
	              after);
	char *q = ingot_malloc(32 * MIB);
	memset(q, 0x66, 32 * MIB);
	ingot_free(q);
	cr_assert_eq(ingot_check(), 0);
}

/* The process's address space in bytes (VmSize). */
static size_t vm_size_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	cr_assert_not_null(f);
	char line[256];
	size_t kib = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
			break;
	fclose(f);
	return kib << 10;
}

/* Freed ranges are address space only (no memory, and not counted as
 * mapped), and bounded (1 GiB): once 1.25 GiB of blocks were freed one
 * after another, 768 MiB more leave the address space as it was. */
Test(hardened_huge, freed_ranges_are_bounded)
{
	size_t mapped_before = mapped_bytes(), at_bound = 0;
	for (int i = 0; i < 64; i++) {
		if (i == 40)
			at_bound = vm_size_bytes();
		char *p = ingot_malloc(32 * MIB);
		p[0] = (char)i;
		ingot_free(p);
	}
	size_t grown = vm_size_bytes() - at_bound;
	cr_assert_leq(grown, (size_t)64 * MIB, "address space grew by %zu bytes past the bound",
	              grown);
	cr_assert_leq(mapped_bytes() - mapped_before, (size_t)40 * MIB,
	              "the freed ranges count as mapped");
	cr_assert_eq(ingot_check(), 0);
}

/* ---- misuse that must abort -------------------------------------------------- */

static void read_after_free(void *arg)
{
	(void)arg;
	volatile char *p = ingot_malloc(8 * MIB);
	p[0] = 1;
	ingot_free((void *)p);
	(void)p[3 * MIB + 100];
}

Test(hardened_huge, a_read_after_free_is_reported)
{
	assert_aborts_with(read_after_free, NULL, "use after free: access to",
	                   "a read of a freed 8 MiB block");
	struct child_result r;
	run_in_child(read_after_free, NULL, &r);
	cr_assert(strstr(r.err, "in freed pages"), "the report names the freed pages: %s", r.err);
}

static void write_after_free(void *arg)
{
	(void)arg;
	volatile char *p = ingot_malloc(5 * MIB);
	ingot_free((void *)p);
	p[5 * MIB - 1] = 1;
}

Test(hardened_huge, a_write_after_free_is_reported)
{
	assert_aborts_with(write_after_free, NULL, "use after free: access to",
	                   "a write into the last page of a freed 5 MiB block");
}

/* The freed block's mapping is reused by a smaller block: the pages past
 * the new block stay inaccessible, and a read of them by the old pointer,
 * or an overflow of the new block, is reported. */
static void overflow_into_the_rest_of_a_reused_mapping(void *arg)
{
	(void)arg;
	ingot_free(ingot_malloc(16 * MIB));
	char *p = ingot_malloc(9 * MIB);
	size_t usable = ingot_malloc_usable_size(p);
	((volatile char *)p)[usable] = 1;
}

Test(hardened_huge, an_overflow_past_a_block_in_a_bigger_reused_mapping_is_reported)
{
	assert_aborts_with(overflow_into_the_rest_of_a_reused_mapping, NULL,
	                   "heap overflow: access to",
	                   "a write just past a 9 MiB block in a reused 16 MiB mapping");
	struct child_result r;
	run_in_child(overflow_into_the_rest_of_a_reused_mapping, NULL, &r);
	cr_assert(strstr(r.err, "at offset 0 after the end of block"), "the report: %s", r.err);
}

/* Every huge block ends in an inaccessible page: a fresh one, one grown in
 * place and one moved by realloc alike. */
static void overflow_of_a_fresh_block(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(8 * MIB + 100);
	size_t usable = ingot_malloc_usable_size(p);
	((volatile char *)p)[usable] = 1;
}

static void overflow_of_a_block_grown_in_place(void *arg)
{
	(void)arg;
	ingot_free(ingot_malloc(16 * MIB));
	char *p = ingot_malloc(9 * MIB);
	char *q = ingot_realloc(p, 11 * MIB);
	if (q != p)
		_exit(3); /* not the growth in place this test needs */
	((volatile char *)q)[11 * MIB] = 1;
}

static void overflow_of_a_block_moved_by_realloc(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(8 * MIB);
	char *q = ingot_malloc(8 * MIB); /* maps after p: p cannot grow in place */
	char *r = ingot_realloc(p, 40 * MIB);
	memset(r, 1, 40 * MIB);
	((volatile char *)r)[40 * MIB] = 1;
	ingot_free(q);
}

Test(hardened_huge, an_overflow_past_any_block_is_reported_on_its_guard_page)
{
	assert_aborts_with(overflow_of_a_fresh_block, NULL, "heap overflow: access to",
	                   "a write just past a fresh 8 MiB block");
	assert_aborts_with(overflow_of_a_block_grown_in_place, NULL, "heap overflow: access to",
	                   "a write just past a block grown in place from 9 to 11 MiB");
	assert_aborts_with(overflow_of_a_block_moved_by_realloc, NULL, "heap overflow: access to",
	                   "a write just past a block grown by realloc from 8 to 40 MiB");
}

static void access_past_a_shrunk_block(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(12 * MIB);
	char *q = ingot_realloc(p, 5 * MIB);
	if (q != p)
		_exit(3); /* not the shrink in place this test needs */
	((volatile char *)q)[6 * MIB] = 1;
}

Test(hardened_huge, an_access_past_a_block_shrunk_in_place_is_reported)
{
	assert_aborts_with(access_past_a_shrunk_block, NULL, "heap overflow: access to",
	                   "a write 1 MiB past a block shrunk from 12 to 5 MiB");
}

static void double_free(void *arg)
{
	(void)arg;
	void *p = ingot_malloc(8 * MIB);
	ingot_free(p);
	ingot_free(p);
}

Test(hardened_huge, a_double_free_is_reported_as_one)
{
	assert_aborts_with(double_free, NULL, "double free of", "two frees of an 8 MiB block");
}

/* ---- threads and fork ---------------------------------------------------- */

struct huge_worker {
	pthread_t id;
	unsigned seed;
	char *handed[8]; /* blocks this thread made for the next one to free */
};

#define WORKERS 6

/* Each worker makes blocks of 5 to 20 MiB, writes all of them, checks
 * its own pattern, and frees them, some its own, some its neighbour's: a
 * reused mapping must be accessible to whichever thread gets it. */
static void *huge_worker_run(void *arg)
{
	struct huge_worker *w = arg;
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 8; i++) {
			size_t size = (5 + rand_r(&w->seed) % 16) * MIB + (size_t)(rand_r(&w->seed) % 4096);
			char *p = ingot_malloc(size);
			if (!p)
				return (void *)1;
			memset(p, (int)(w->seed & 0x7f), size);
			if (p[size - 1] != (char)(w->seed & 0x7f))
				return (void *)2;
			if (i & 1)
				ingot_free(p);
			else
				__atomic_store_n(&w->handed[i], p, __ATOMIC_RELEASE);
		}
		for (int i = 0; i < 8; i += 2)
			ingot_free(__atomic_exchange_n(&w->handed[i], NULL, __ATOMIC_ACQ_REL));
	}
	return NULL;
}

Test(hardened_huge, threads_reuse_each_others_mappings)
{
	struct huge_worker w[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].seed = 1234u + (unsigned)i;
		cr_assert_eq(pthread_create(&w[i].id, NULL, huge_worker_run, &w[i]), 0);
	}
	for (int i = 0; i < WORKERS; i++) {
		void *ret;
		pthread_join(w[i].id, &ret);
		cr_assert_null(ret, "worker %d failed (%p)", i, ret);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* A forked child inherits the cache and the freed ranges: it reuses the
 * cached pages (copies of its parent's: each write faults once), and a
 * read of its parent's freed block, or of its own, is reported. */
static void reuse_then_read_after_free(void *arg)
{
	char *q = ingot_malloc(8 * MIB);
	memset(q, 0x55, 8 * MIB);
	ingot_free(q);
	(void)((volatile char *)(arg ? arg : q))[100];
}

Test(hardened_huge, a_forked_child_reuses_the_cache_and_reports_a_read_after_free)
{
	char *p = ingot_malloc(8 * MIB);
	memset(p, 0x44, 8 * MIB);
	ingot_free(p);
	assert_aborts_with(reuse_then_read_after_free, p, "use after free: access to",
	                   "a child's reuse of the cache, then a read of its parent's freed block");
	assert_aborts_with(reuse_then_read_after_free, NULL, "use after free: access to",
	                   "a child's reuse of the cache, then a read of its own freed block");
}

/* ---- large blocks resized in place ---------------------------------------- */

/* Large blocks (past the small classes, up to 2 MiB) end in a guard page
 * of their span too; realloc grows or shrinks one in place by moving that
 * page, where the pages after it allow. */
TestSuite(hardened_large, .init = choose_profile);

#define KIB ((size_t)1 << 10)
#define ZERO 0x40 /* MALLOCX_ZERO */

Test(hardened_large, a_block_grows_in_place_over_its_old_guard_page)
{
	for (size_t from = 80 * KIB, to = 200 * KIB; to <= 2 * MIB; from = to, to *= 2) {
		unsigned char *p = ingot_malloc(from);
		size_t old = ingot_malloc_usable_size(p);
		pattern_fill(p, old, from);
		unsigned char *q = ingot_realloc(p, to);
		cr_assert_eq(q, p, "realloc %zu -> %zu KiB moved the block", from / KIB, to / KIB);
		size_t usable = ingot_malloc_usable_size(q);
		cr_assert_geq(usable, to);
		cr_assert_eq(pattern_mismatch(q, old, from), SIZE_MAX, "realloc lost data");
		memset(q, 0x5a, usable); /* the old guard page is the block's now */
		ingot_free(q);
	}
	cr_assert_eq(ingot_check(), 0);
}

static void overflow_of_a_large_block_grown_in_place(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(100 * KIB);
	char *q = ingot_realloc(p, 300 * KIB);
	if (q != p)
		_exit(3); /* not the growth in place this test needs */
	((volatile char *)q)[ingot_malloc_usable_size(q)] = 1;
}

static void access_past_a_large_block_shrunk_in_place(void *arg)
{
	size_t at = *(size_t *)arg;
	char *p = ingot_malloc(600 * KIB);
	char *q = ingot_realloc(p, 96 * KIB); /* a large class */
	if (q != p || ingot_malloc_usable_size(q) != 96 * KIB)
		_exit(3); /* not the shrink in place this test needs */
	((volatile char *)q)[at] = 1;
}

Test(hardened_large, an_access_past_a_block_resized_in_place_is_reported)
{
	assert_aborts_with(overflow_of_a_large_block_grown_in_place, NULL,
	                   "heap overflow: access to", "a write just past a block grown from 100 to 300 KiB");
	size_t at = 96 * KIB; /* the new guard page */
	assert_aborts_with(access_past_a_large_block_shrunk_in_place, &at, "heap overflow: access to",
	                   "a write just past a block shrunk from 600 to 96 KiB");
	at = 400 * KIB; /* pages it gave back */
	assert_aborts_with(access_past_a_large_block_shrunk_in_place, &at, "use after free: access to",
	                   "a write into the pages a shrunk block gave back");
}

/* rallocx's MALLOCX_ZERO holds for the pages a block grows by, its old
 * guard page among them: here that page held a bigger block's data (the
 * block shrunk in place), and the pages after it were purged (zero). */
Test(hardened_large, a_zeroed_growth_in_place_reads_zero_on_the_old_guard_page)
{
	unsigned char *p = ingot_malloc(400 * KIB);
	memset(p, 0xee, ingot_malloc_usable_size(p));
	cr_assert_eq(ingot_realloc(p, 96 * KIB), p, "no shrink in place");
	cr_assert_eq(ingot_mallctl("arena.4096.purge", NULL, NULL, NULL, 0), 0);
	unsigned char *q = ingot_rallocx(p, 300 * KIB, ZERO);
	cr_assert_eq(q, p, "no growth in place");
	size_t bad = first_nonzero(q + 96 * KIB, 300 * KIB - 96 * KIB);
	cr_assert_eq(bad, SIZE_MAX, "byte %zu past the old end not zero", bad);
	ingot_free(q);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- large blocks reusing freed pages -------------------------------------- */

/* A block that reuses a freed block's pages (kept inaccessible, its guard
 * page among them: pageheap_alloc makes no call for it), or a freed
 * block's pages and fresh ones past them, still ends in a guard page. */
static void overflow_of_a_block_on_freed_pages(void *arg)
{
	size_t second = *(size_t *)arg;
	char *p = ingot_malloc(MIB);
	memset(p, 1, MIB);
	ingot_free(p);
	char *q = ingot_malloc(second);
	if (q != p)
		_exit(3); /* not the reuse this test needs */
	memset(q, 2, ingot_malloc_usable_size(q));
	((volatile char *)q)[ingot_malloc_usable_size(q)] = 1;
}

Test(hardened_large, an_overflow_past_a_block_on_freed_pages_is_reported)
{
	size_t second = MIB;
	assert_aborts_with(overflow_of_a_block_on_freed_pages, &second, "heap overflow: access to",
	                   "a write just past a 1 MiB block on a freed one's pages");
	second = 512 * KIB;
	assert_aborts_with(overflow_of_a_block_on_freed_pages, &second, "heap overflow: access to",
	                   "a write just past a 512 KiB block on a freed 1 MiB block's pages");
	second = 3 * MIB / 2;
	assert_aborts_with(overflow_of_a_block_on_freed_pages, &second, "heap overflow: access to",
	                   "a write just past a 1.5 MiB block on a freed 1 MiB block's pages and fresh ones");
}

/* Malloc and free of the same large size, many times and from several
 * threads: every block is writable in full, and the heap stays sound. */
static void *large_reuse_worker(void *arg)
{
	size_t size = (size_t)(uintptr_t)arg;
	for (int i = 0; i < 200; i++) {
		char *p = ingot_malloc(size);
		THREAD_CHECK(p != NULL, "malloc(%zu) failed", size);
		memset(p, i, ingot_malloc_usable_size(p));
		ingot_free(p);
	}
	return NULL;
}

Test(hardened_large, threads_reuse_freed_large_blocks)
{
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		t[i] = start_thread(large_reuse_worker, (void *)((i + 1) * 96 * KIB));
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- large blocks the thread cache keeps (16 KiB .. 64 KiB) ---------------- */

/* Freed blocks of the cached large classes wait on their thread's stack,
 * head zeroed, and the next malloc of their class takes them back (the
 * hardened large hits in tcache.c, or the general paths). */

static uint64_t thread_counter(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof v;
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

/* thread.allocated and thread.deallocated count each malloc and free of a
 * cached large block once, whether the cache hands it out or the arena
 * does (checked_alloc counted a cached one twice in thread.allocated). */
Test(hardened_large, a_cached_blocks_malloc_and_free_count_once)
{
	size_t sizes[] = {16 * KIB - 4, 20 * KIB, 40 * KIB, 64 * KIB};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (int round = 0; round < 4; round++) {
			uint64_t a = thread_counter("thread.allocated"), d = thread_counter("thread.deallocated");
			char *p = ingot_malloc(sizes[i]);
			cr_assert_not_null(p);
			size_t usable = ingot_malloc_usable_size(p);
			cr_assert_eq(thread_counter("thread.allocated") - a, usable, "malloc(%zu), round %d: %llu counted",
			             sizes[i], round, (unsigned long long)(thread_counter("thread.allocated") - a));
			memset(p, 0x33, usable);
			ingot_free(p);
			cr_assert_eq(thread_counter("thread.deallocated") - d, usable, "free of %zu bytes, round %d",
			             usable, round);
		}
	}
	cr_assert_eq(ingot_check(), 0);
}

/* A block freed twice while it waits on the stack, with other blocks of
 * its class freed between, is reported on the second free. */
static void cached_large_double_free(void *arg)
{
	size_t size = *(size_t *)arg;
	void *a = ingot_malloc(size), *b = ingot_malloc(size);
	ingot_free(ingot_malloc(size)); /* the stack holds a block */
	ingot_free(a);
	ingot_free(b);
	ingot_free(a);
}

Test(hardened_large, a_double_free_of_a_cached_block_is_reported)
{
	size_t sizes[] = {20 * KIB, 64 * KIB};
	for (unsigned i = 0; i < 2; i++)
		assert_aborts_with(cached_large_double_free, &sizes[i], "double free",
		                   "a block freed twice, blocks of its size freed between");
}

/* A free of a pointer into a cached large block's first page, or its
 * second, is reported, as it is for any other large block. */
static void interior_free_of_a_large_block(void *arg)
{
	char *p = ingot_malloc(32 * KIB);
	ingot_free(ingot_malloc(32 * KIB));
	ingot_free(p + *(size_t *)arg);
}

Test(hardened_large, an_interior_free_of_a_cached_class_block_is_reported)
{
	size_t offsets[] = {64, 4096};
	for (unsigned i = 0; i < 2; i++)
		assert_aborts_with(interior_free_of_a_large_block, &offsets[i], "not the start of a live block",
		                   "a free of a pointer inside a 32 KiB block");
}

/* A write into the head of a freed 20 KiB block waiting on the stack is
 * reported by the malloc that takes the block back. */
static void write_after_free_of_a_stacked_block(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(20 * KIB);
	ingot_free(p);
	((volatile char *)p)[255] = 1;
	for (int i = 0; i < 4; i++)
		ingot_malloc(20 * KIB);
}

Test(hardened_large, a_write_after_free_in_a_cached_blocks_head_is_caught_on_reuse)
{
	assert_aborts_with(write_after_free_of_a_stacked_block, NULL, "write after free",
	                   "a write at byte 255 of a freed 20 KiB block, then mallocs of its size");
}

/* Threads pass cached-class blocks to each other (each frees blocks the
 * other allocated), keep some, and exit while their stacks hold blocks; a
 * forked child then allocates and frees the same sizes. Every block is
 * whole (its pattern intact), and the heap stays sound. */
#define PASS_BLOCKS 64
struct pass_ring {
	char *volatile slot[PASS_BLOCKS];
	pthread_mutex_t lock;
};

static void *large_pass_worker(void *arg)
{
	struct pass_ring *ring = arg;
	for (int i = 0; i < 2000; i++) {
		size_t size = (16 + (size_t)(i * 7 % 49)) * KIB;
		char *p = ingot_malloc(size);
		THREAD_CHECK(p != NULL, "malloc(%zu) failed", size);
		memset(p, (unsigned char)size, size);
		pthread_mutex_lock(&ring->lock);
		char *old = ring->slot[i % PASS_BLOCKS];
		ring->slot[i % PASS_BLOCKS] = p;
		pthread_mutex_unlock(&ring->lock);
		if (old) {
			size_t old_size = ingot_malloc_usable_size(old);
			THREAD_CHECK(old[0] == old[old_size / 2 - 1],
			             "block %p changed while passed", (void *)old);
			ingot_free(old);
		}
	}
	return NULL;
}

static void large_pass_in_child(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		char *p = ingot_malloc((16 + (size_t)(i % 49)) * KIB);
		if (!p)
			_exit(2);
		memset(p, 1, 16 * KIB);
		ingot_free(p);
	}
	_exit(ingot_check() == 0 ? 0 : 3);
}

Test(hardened_large, threads_free_each_others_cached_blocks_then_a_child_reuses_them)
{
	static struct pass_ring ring = {.lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		t[i] = start_thread(large_pass_worker, &ring);
	for (int i = 0; i < 6; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
	struct child_result r;
	run_in_child(large_pass_in_child, NULL, &r);
	cr_assert(r.exited && r.status == 0, "child: %s", r.err);
	for (int i = 0; i < PASS_BLOCKS; i++)
		ingot_free(ring.slot[i]);
	cr_assert_eq(ingot_check(), 0);
}
