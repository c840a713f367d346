/*
 * test_options.c — run-time options do what the README says. Each test sets
 * INGOT_CONF before ingot's first call (every Criterion test runs in a fresh
 * process, and this binary's own allocations use libc), so the options are
 * read at ingot's start as they would be in a program.
 */
#include <criterion/criterion.h>

#include "helpers.h"
#include "ingot.h"

static void conf(const char *value)
{
	setenv("INGOT_CONF", value, 1);
}

Test(options, junk_fills_new_and_freed_blocks)
{
	conf("junk:true");
	unsigned char *p = ingot_malloc(64);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(p[i], 0xa5, "byte %d of a new block is %#x", i, p[i]);
	unsigned char *big = ingot_malloc(100000);
	cr_assert_eq(big[99999], 0xa5);
	ingot_free(big);
	ingot_free(p);
	/* The freed block is still mapped (its slab lives on): it holds junk. */
	unsigned char *seen = opaque_ptr(p);
	cr_assert_eq(seen[32], 0x5a, "freed block not junk-filled: %#x", seen[32]);
}

Test(options, junk_alloc_only)
{
	conf("junk:alloc");
	unsigned char *p = ingot_malloc(40);
	cr_assert_eq(p[0], 0xa5);
	memset(p, 0x11, 40);
	ingot_free(p);
	cr_assert_eq(((unsigned char *)opaque_ptr(p))[20], 0x11, "junk:alloc filled on free");
}

Test(options, zero_gives_zeroed_blocks_even_on_reuse)
{
	conf("zero:true");
	for (size_t size = 16; size <= 300000; size *= 3) {
		unsigned char *p = ingot_malloc(size);
		memset(p, 0xff, size);
		ingot_free(p);
		p = ingot_malloc(size);
		cr_assert_eq(first_nonzero(p, size), SIZE_MAX, "malloc(%zu) not zeroed", size);
		ingot_free(p);
	}
}

static void huge_request(void *arg)
{
	(void)arg;
	conf("xmalloc:true");
	void *volatile p = ingot_malloc(SIZE_MAX / 2);
	(void)p;
}

Test(options, xmalloc_aborts_instead_of_returning_null)
{
	assert_aborts_with(huge_request, NULL, "out of memory", "xmalloc");
}

Test(options, without_xmalloc_failure_is_null_and_enomem)
{
	errno = 0;
	cr_assert_null(ingot_malloc(SIZE_MAX / 2));
	cr_assert_eq(errno, ENOMEM);
}

static void bad_profile_with_abort(void *arg)
{
	(void)arg;
	conf("abort:true,profile:bogus");
	ingot_free(ingot_malloc(8));
}

Test(options, abort_turns_a_warning_into_an_abort)
{
	assert_aborts_with(bad_profile_with_abort, NULL, "unknown profile", "abort:true");
}

static void bad_pairs(void *arg)
{
	(void)arg;
	conf("narenas:x,nosuchoption:1,tcache");
	void *p = ingot_malloc(8);
	ingot_free(p);
	_exit(p ? 0 : 1);
}

Test(options, malformed_options_warn_once_each_and_are_skipped)
{
	struct child_result r;
	run_in_child(bad_pairs, NULL, &r);
	cr_assert(r.exited && r.status == 0, "bad options broke the allocator: %s", r.err);
	cr_assert(strstr(r.err, "Invalid conf value: narenas:x"), "stderr: %s", r.err);
	cr_assert(strstr(r.err, "Invalid conf pair: nosuchoption:1"), "stderr: %s", r.err);
	cr_assert(strstr(r.err, "Malformed conf string: tcache"), "stderr: %s", r.err);
}

static void bad_pairs_abort_conf(void *arg)
{
	(void)arg;
	conf("abort_conf:true,nosuchoption:1");
	ingot_free(ingot_malloc(8));
}

Test(options, abort_conf_aborts_on_a_bad_option)
{
	assert_aborts_with(bad_pairs_abort_conf, NULL, "nosuchoption", "abort_conf");
}

Test(options, zero_realloc_alloc_returns_a_block)
{
	conf("zero_realloc:alloc");
	void *p = ingot_malloc(100);
	p = ingot_realloc(p, 0);
	cr_assert_not_null(p, "zero_realloc:alloc must return a block");
	ingot_free(p);
}

Test(options, zero_realloc_default_frees)
{
	void *p = ingot_malloc(100);
	cr_assert_null(ingot_realloc(p, 0));
}

static void stats_at_exit(void *arg)
{
	(void)arg;
	conf("stats_print:true");
	ingot_free(ingot_malloc(1000));
	exit(0); /* normal exit: the report is written */
}

Test(options, stats_print_writes_a_report_at_exit)
{
	struct child_result r;
	run_in_child(stats_at_exit, NULL, &r);
	cr_assert(r.exited && r.status == 0);
	cr_assert(strstr(r.err, "Begin ingot statistics"), "no report: %s", r.err);
}

Test(options, dirty_decay_zero_returns_pages_at_once)
{
	conf("dirty_decay_ms:0");
	enum { N = 64 };
	void *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = ingot_malloc(512 * KiB);
		memset(blocks[i], 1, 512 * KiB);
	}
	size_t before = rss_bytes();
	for (int i = 0; i < N; i++)
		ingot_free(blocks[i]);
	size_t after = rss_bytes();
	cr_assert_lt(after + 24 * MiB, before, "RSS %zu -> %zu: freed pages were kept", before,
	             after);
}

Test(options, profile_debug_fills_junk)
{
	conf("profile:debug");
	unsigned char *p = ingot_malloc(24);
	cr_assert_eq(p[3], 0xa5);
	ingot_free(p);
}

static void huge_double_free(void *arg)
{
	(void)arg;
	void *p = ingot_malloc(8 * MiB);
	ingot_free(p);
	ingot_free(p); /* its mapping is kept for reuse, and knows it is free */
}

Test(options, huge_double_free_is_caught_while_its_mapping_is_cached)
{
	assert_aborts_with(huge_double_free, NULL, "double free", "huge double free");
}

Test(options, a_freed_huge_mapping_serves_a_smaller_block_and_its_slack_decays)
{
	conf("dirty_decay_ms:100");
	char *p = ingot_malloc(32 * MiB);
	memset(p, 1, 32 * MiB);
	ingot_free(p);
	size_t before = rss_bytes();
	char *q = ingot_malloc(6 * MiB);
	cr_assert_eq(q, p, "the cached 32 MiB mapping did not serve a 6 MiB block");
	cr_assert_eq(q[6 * MiB - 1], 1, "the reused part lost its pages");
	cr_assert_eq(ingot_malloc_usable_size(q), 6 * MiB);
	/* The 26 MiB past the block stay until the decay time is up, and go
	 * back at the next huge free after it. */
	usleep(300 * 1000);
	ingot_free(ingot_malloc(4 * MiB));
	size_t after = rss_bytes();
	cr_assert_lt(after + 16 * MiB, before, "RSS %zu -> %zu: the unused 26 MiB were kept", before,
	             after);
	cr_assert_eq(q[6 * MiB - 1], 1, "decay took the block's own pages");
	memset(q, 2, 6 * MiB);
	ingot_free(q);
	cr_assert_eq(ingot_check(), 0);
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A block that reuses a bigger cached mapping keeps the pages past itself
 * (its slack, until the decay time): the next, bigger block in that mapping
 * faults in only what was never written. */
Test(options, a_reused_huge_mapping_keeps_its_pages_for_the_next_block)
{
	conf("dirty_decay_ms:10000");
	char *p = ingot_malloc(16 * MiB);
	memset(p, 1, 16 * MiB);
	ingot_free(p);
	char *q = ingot_malloc(10 * MiB);
	cr_assert_eq(q, p, "the cached 16 MiB mapping did not serve a 10 MiB block");
	memset(q, 2, 10 * MiB);
	ingot_free(q);
	char *r = ingot_malloc(16 * MiB);
	cr_assert_eq(r, p, "the cached mapping did not serve a 16 MiB block again");
	long before = minor_faults();
	memset(r, 3, 16 * MiB);
	long faults = minor_faults() - before;
	/* Giving back the 6 MiB past the 10 MiB block would fault 1536 pages. */
	cr_assert_lt(faults, 256, "%ld page faults writing a block whose pages were kept", faults);
	ingot_free(r);
	cr_assert_eq(ingot_check(), 0);
}

/* A cached mapping smaller than the next huge block grows by moving its
 * pages: only the new part faults in, the old range is no longer ingot's,
 * and the block is aligned and whole. */
static void grow_by_move(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(8 * MiB);
	memset(p, 1, 8 * MiB);
	ingot_free(p);
	long before = minor_faults();
	char *q = ingot_malloc(12 * MiB);
	if (q == NULL || ((uintptr_t)q & (4 * MiB - 1)) != 0 || ingot_malloc_usable_size(q) != 12 * MiB)
		_exit(2);
	memset(q, 2, 12 * MiB);
	long faults = minor_faults() - before;
	/* A fresh mapping faults 3072 pages; the moved one only its new 1024. */
	if (faults >= 2048) {
		fprintf(stderr, "%ld page faults\n", faults);
		_exit(3);
	}
	for (size_t i = 0; i < 12 * MiB; i += 4096)
		if (q[i] != 2)
			_exit(4);
	ingot_free(q);
	if (ingot_check() != 0)
		_exit(5);
}

Test(options, a_cached_huge_mapping_grows_by_moving_its_pages)
{
	conf("dirty_decay_ms:10000");
	struct child_result res;
	run_in_child(grow_by_move, NULL, &res);
	cr_assert(res.exited && res.status == 0, "status %d: %s", res.status, res.err);
}

/* After fork the child's cached mappings are its own copies: it grows one
 * by moving it, the parent's stays as it was. */
Test(options, a_forked_child_grows_a_cached_huge_mapping)
{
	conf("dirty_decay_ms:10000");
	char *p = ingot_malloc(8 * MiB);
	memset(p, 7, 8 * MiB);
	ingot_free(p);
	struct child_result res;
	run_in_child(grow_by_move, NULL, &res);
	cr_assert(res.exited && res.status == 0, "status %d: %s", res.status, res.err);
	char *q = ingot_malloc(8 * MiB);
	cr_assert_eq(q, p, "the parent's cached mapping was not kept");
	ingot_free(q);
	cr_assert_eq(ingot_check(), 0);
}

Test(options, a_freed_huge_mapping_is_reused_and_decays)
{
	conf("dirty_decay_ms:100");
	void *p = ingot_malloc(8 * MiB);
	memset(p, 1, 8 * MiB);
	ingot_free(p);
	void *q = ingot_malloc(8 * MiB);
	cr_assert_eq(q, p, "a cached huge mapping of the right size was not reused");
	ingot_free(q);
	size_t before = rss_bytes();
	usleep(200 * 1000);
	for (int i = 0; i < 20000; i++) /* allocation events drive decay */
		ingot_free(ingot_malloc(32));
	size_t after = rss_bytes();
	cr_assert_lt(after + 6 * MiB, before, "RSS %zu -> %zu: cached mapping not released", before,
	             after);
}
