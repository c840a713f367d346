/*
 * test_arch.c — contract tests for one arch back end (arch/linux.c or
 * arch/posix.c), linked alone: the ingot_* hooks the back end calls are
 * stubs defined here that record what they were called with.
 *
 * Build with -DTEST_ARCH_POSIX=1 for posix.c, whose purge never promises
 * zeroes. Some checks read /proc and so assume a Linux host.
 *
 * main() is ours rather than Criterion's: run with TEST_ARCH_EXIT_MODE set,
 * the binary is the child of the process-exit tests instead.
 */
#define _GNU_SOURCE
#include "arch.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#ifndef TEST_ARCH_POSIX
#define TEST_ARCH_POSIX 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ---- stub hooks ------------------------------------------------------- */

static int thread_exit_calls; /* all the shared counters here: __atomic builtins only */
static int thread_exit_null_calls;
static char reregister_token; /* ingot_thread_exit registers this once more */

void ingot_thread_exit(void *arg)
{
	__atomic_fetch_add(&thread_exit_calls, 1, __ATOMIC_SEQ_CST);
	if (arg == NULL) {
		__atomic_fetch_add(&thread_exit_null_calls, 1, __ATOMIC_SEQ_CST);
	} else if (arg == &reregister_token) {
		static int reregistered;
		if (!__atomic_exchange_n(&reregistered, 1, __ATOMIC_SEQ_CST))
			arch_thread_exit_register(arg);
	} else {
		__atomic_fetch_add((int *)arg, 1, __ATOMIC_SEQ_CST);
	}
}

static int fork_prepare_calls, fork_parent_calls, fork_child_calls;
void ingot_fork_prepare(void) { fork_prepare_calls++; }
void ingot_fork_parent(void) { fork_parent_calls++; }
void ingot_fork_child(void) { fork_child_calls++; }

static int process_exit_fd = -1;
void ingot_process_exit(void)
{
	if (process_exit_fd >= 0 && write(process_exit_fd, "x", 1) != 1)
		_exit(99);
}

/* ---- helpers ---------------------------------------------------------- */

static struct arch_info info;

static void setup(void)
{
	arch_init(&info);
}

/* A lost wake-up hangs rather than fails: the timeout turns it into a failure. */
TestSuite(arch, .init = setup, .timeout = 30);

static bool is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static bool all_zero(const void *p, size_t size)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < size; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Whether [p, p+size) is mapped: msync fails with ENOMEM on unmapped pages. */
static bool is_mapped(void *p, size_t size)
{
	return msync(p, size, MS_ASYNC) == 0;
}

/* Resident set size in bytes, from /proc/self/statm. */
static size_t rss_bytes(void)
{
	unsigned long total = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu %lu", &total, &resident), 2);
	fclose(f);
	return resident * info.page_size;
}

/* Sum of the sizes of all mappings, from /proc/self/maps. */
static size_t mapped_bytes(void)
{
	size_t sum = 0;
	unsigned long lo, hi;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			sum += hi - lo;
	fclose(f);
	return sum;
}

static void *map_or_fail(size_t size, size_t align)
{
	void *p = NULL;
	cr_assert_eq(arch_map(size, align, &p), 0, "arch_map(%zu, %zu) failed", size, align);
	cr_assert_not_null(p);
	return p;
}

/* ---- info ------------------------------------------------------------- */

Test(arch, info_is_sane)
{
	cr_assert(is_pow2(info.page_size));
	cr_assert_eq(info.page_size, (size_t)sysconf(_SC_PAGESIZE));
	cr_assert_geq(info.ncpus, 1u);
	cr_assert_leq(info.ncpus, (unsigned)sysconf(_SC_NPROCESSORS_CONF));
	cr_assert(info.has_threads);
}

/* ---- memory ----------------------------------------------------------- */

Test(arch, map_is_aligned_zeroed_and_writable)
{
	/* sizes are rounded up to pages; align 0 stands for the page size */
	const struct { size_t size, align; } cases[] = {
		{1, 0}, {3 * 4 * KiB, 0}, {1, 64 * KiB}, {68 * KiB, 64 * KiB}, {1, 4 * MiB},
		{5 * MiB, 4 * MiB}, {1, GiB}, {2 * MiB, GiB},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t ps = info.page_size;
		size_t size = (cases[i].size + ps - 1) & ~(ps - 1);
		size_t align = cases[i].align > ps ? cases[i].align : ps;
		unsigned char *p = map_or_fail(size, align);
		cr_assert_eq((uintptr_t)p % align, 0, "%p not aligned to %zu", (void *)p, align);
		cr_assert(all_zero(p, size), "arch_map(%zu, %zu) not zeroed", size, align);
		memset(p, 0x5a, size);
		cr_assert_eq(p[0], 0x5a);
		cr_assert_eq(p[size - 1], 0x5a);
		arch_unmap(p, size);
	}
}

Test(arch, map_with_huge_alignment_leaves_nothing_extra_mapped)
{
	size_t before = mapped_bytes();
	void *p = map_or_fail(info.page_size, GiB);
	size_t after = mapped_bytes();
	/* the over-mapped GiB around the result must have been trimmed */
	cr_assert_lt(after - before, MiB, "mapped %zu bytes more", after - before);
	arch_unmap(p, info.page_size);
}

Test(arch, map_failure_leaves_out_untouched)
{
	void *out = &out;
	cr_assert_eq(arch_map((size_t)1 << 62, info.page_size, &out), ARCH_ENOMEM);
	cr_assert_eq(out, &out);
	cr_assert_eq(arch_map((size_t)1 << 62, GiB, &out), ARCH_ENOMEM);
	cr_assert_eq(out, &out);
}

Test(arch, unmap_of_a_sub_range)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(4 * ps, ps);
	memset(p, 7, 4 * ps);
	arch_unmap(p + ps, 2 * ps);
	cr_assert_not(is_mapped(p + ps, ps));
	cr_assert_not(is_mapped(p + 2 * ps, ps));
	cr_assert_eq(p[0], 7);
	cr_assert_eq(p[4 * ps - 1], 7);
	p[0] = p[4 * ps - 1] = 8; /* still writable */
	arch_unmap(p, ps);
	arch_unmap(p + 3 * ps, ps);
	cr_assert_not(is_mapped(p, ps));
	cr_assert_not(is_mapped(p + 3 * ps, ps));
}

Test(arch, map_extend_into_free_space)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(8 * ps, ps);
	arch_unmap(p + 2 * ps, 6 * ps); /* make room after a 2-page mapping */
	memset(p, 1, 2 * ps);
	cr_assert_eq(arch_map_extend(p, 2 * ps, 5 * ps), 0);
	cr_assert_eq(arch_map_extend(p, 5 * ps, 8 * ps), 0);
	cr_assert(all_zero(p + 2 * ps, 6 * ps), "extension not zeroed");
	memset(p + 2 * ps, 2, 6 * ps);
	cr_assert_eq(p[0], 1);
	cr_assert_eq(p[8 * ps - 1], 2);
	arch_unmap(p, 8 * ps); /* one unmap across the original and extensions */
	cr_assert_not(is_mapped(p + 4 * ps, ps));
}

Test(arch, map_extend_fails_when_the_next_page_is_taken)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(2 * ps, ps);
	p[ps] = 42; /* the second page plays the neighbour */
	cr_assert_eq(arch_map_extend(p, ps, 2 * ps), ARCH_ENOMEM);
	cr_assert_eq(p[ps], 42, "neighbour overwritten");
	cr_assert(is_mapped(p, 2 * ps));
	arch_unmap(p, 2 * ps);
}

Test(arch, map_extend_fails_when_a_later_page_is_taken)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(4 * ps, ps);
	arch_unmap(p + ps, 2 * ps); /* free gap of 2 pages, then the neighbour */
	p[3 * ps] = 42;
	cr_assert_eq(arch_map_extend(p, ps, 4 * ps), ARCH_ENOMEM);
	cr_assert_eq(p[3 * ps], 42, "neighbour overwritten");
	cr_assert_not(is_mapped(p + ps, ps), "failed extend left part of itself mapped");
	cr_assert_not(is_mapped(p + 2 * ps, ps), "failed extend left part of itself mapped");
	arch_unmap(p, ps);
	arch_unmap(p + 3 * ps, ps);
}

/* linux.c moves the pages to an aligned range, whose tail reads zero, and
 * the old range is gone; posix.c cannot move pages and leaves it as it was. */
Test(arch, map_move_keeps_the_pages_and_aligns_the_new_range)
{
	size_t ps = info.page_size, align = 64 * ps;
	unsigned char *p = map_or_fail(3 * ps, ps);
	memset(p, 7, 3 * ps);
	void *out = NULL;
	int err = arch_map_move(p, 3 * ps, 8 * ps, align, &out);
	if (TEST_ARCH_POSIX) {
		cr_assert_eq(err, ARCH_EINVAL);
		cr_assert_null(out);
		cr_assert_eq(p[3 * ps - 1], 7, "a refused move changed the mapping");
		arch_unmap(p, 3 * ps);
		return;
	}
	cr_assert_eq(err, 0);
	unsigned char *q = out;
	cr_assert_eq((uintptr_t)q % align, 0, "moved range %p not aligned to %zu", (void *)q, align);
	for (size_t i = 0; i < 3 * ps; i++)
		cr_assert_eq(q[i], 7, "byte %zu of the moved pages lost", i);
	cr_assert(all_zero(q + 3 * ps, 5 * ps), "the grown tail is not zero");
	cr_assert_not(is_mapped(p, ps), "the old range is still mapped");
	memset(q + 3 * ps, 8, 5 * ps);
	arch_unmap(q, 8 * ps);
	cr_assert_not(is_mapped(q, ps));
}

/* posix.c refuses a move with EINVAL, leaving both ranges as they were
 * (the tests fill sources with 7 and destinations with 9). */
static void assert_refused(int err, unsigned char src_byte, unsigned char dst_byte)
{
	cr_assert_eq(err, ARCH_EINVAL);
	cr_assert_eq(src_byte, 7, "a refused move changed the source");
	cr_assert_eq(dst_byte, 9, "a refused move changed the destination");
}

/* linux.c moves pages onto part of another range, replacing its pages;
 * posix.c refuses and leaves both as they were. */
Test(arch, map_move_onto_puts_pages_in_another_range)
{
	size_t ps = info.page_size;
	unsigned char *src = map_or_fail(3 * ps, ps);
	unsigned char *dst = map_or_fail(8 * ps, ps);
	memset(src, 7, 3 * ps);
	memset(dst, 9, 8 * ps);
	int err = arch_map_move_onto(src + ps, 2 * ps, dst + 4 * ps);
	if (TEST_ARCH_POSIX) {
		assert_refused(err, src[ps], dst[4 * ps]);
		arch_unmap(src, 3 * ps);
		arch_unmap(dst, 8 * ps);
		return;
	}
	cr_assert_eq(err, 0);
	for (size_t i = 0; i < 8 * ps; i++)
		cr_assert_eq(dst[i], i >= 4 * ps && i < 6 * ps ? 7 : 9, "byte %zu of the destination", i);
	cr_assert_eq(src[0], 7, "the page before the moved ones changed");
	cr_assert_not(is_mapped(src + ps, ps), "a moved page is still mapped at its source");
	cr_assert_not(is_mapped(src + 2 * ps, ps), "a moved page is still mapped at its source");
	/* A range put together from parts moves on as one. */
	unsigned char *q = map_or_fail(16 * ps, ps);
	cr_assert_eq(arch_map_move_onto(dst, 8 * ps, q), 0);
	for (size_t i = 0; i < 8 * ps; i++)
		cr_assert_eq(q[i], i >= 4 * ps && i < 6 * ps ? 7 : 9, "byte %zu after moving the whole", i);
	cr_assert(all_zero(q + 8 * ps, 8 * ps), "the rest of the destination is not zero");
	cr_assert_not(is_mapped(dst, ps), "the moved range is still mapped");
	arch_unmap(src, ps);
	arch_unmap(q, 16 * ps);
}

/* linux.c moves the pages out and leaves the source range mapped, empty
 * and inaccessible (the test that it faults is below); posix.c refuses. */
Test(arch, map_move_out_leaves_the_source_reserved)
{
	size_t ps = info.page_size;
	unsigned char *src = map_or_fail(4 * ps, ps);
	unsigned char *dst = map_or_fail(8 * ps, ps);
	memset(src, 7, 4 * ps);
	memset(dst, 9, 8 * ps);
	int err = arch_map_move_out(src, 4 * ps, dst + 2 * ps);
	if (TEST_ARCH_POSIX) {
		assert_refused(err, src[0], dst[2 * ps]);
		arch_unmap(src, 4 * ps);
		arch_unmap(dst, 8 * ps);
		return;
	}
	cr_assert_eq(err, 0);
	for (size_t i = 0; i < 8 * ps; i++)
		cr_assert_eq(dst[i], i >= 2 * ps && i < 6 * ps ? 7 : 9, "byte %zu of the destination", i);
	cr_assert(is_mapped(src, 4 * ps), "the source range is no longer mapped");
	arch_unmap(src, 4 * ps);
	arch_unmap(dst, 8 * ps);
}

Test(arch, map_move_out_source_faults, .signal = SIGSEGV)
{
	size_t ps = info.page_size;
	unsigned char *src = map_or_fail(2 * ps, ps);
	unsigned char *dst = map_or_fail(2 * ps, ps);
	memset(src, 7, 2 * ps);
	int err = arch_map_move_out(src, 2 * ps, dst);
	if (TEST_ARCH_POSIX) { /* refused (the test above): the expected end */
		cr_assert_eq(err, ARCH_EINVAL);
		raise(SIGSEGV);
	}
	cr_assert_eq(err, 0);
	(void)((volatile unsigned char *)src)[ps];
	cr_assert_fail("a read of the emptied source range did not fault");
}

Test(arch, purge_returns_memory_and_keeps_the_range_usable)
{
	size_t size = 64 * MiB;
	unsigned char *p = map_or_fail(size, 2 * MiB);
	memset(p, 0xab, size);
	size_t rss_touched = rss_bytes();
	bool zeroed = false;
	arch_purge(p, size, &zeroed);
	size_t rss_purged = rss_bytes();
	cr_assert_geq(rss_touched - rss_purged, size - 4 * MiB,
	              "RSS went from %zu to %zu only", rss_touched, rss_purged);
	cr_assert_eq(zeroed, !TEST_ARCH_POSIX);
	for (size_t i = 0; i < size; i += 4096) {
		/* zeroed: reads zero; otherwise either zero or the old contents */
		cr_assert(p[i] == 0 || (!zeroed && p[i] == 0xab), "byte %zu is %d", i, p[i]);
	}
	memset(p, 0xcd, size);
	cr_assert_eq(p[size - 1], 0xcd);
	arch_unmap(p, size);
}

Test(arch, purge_of_a_sub_range_keeps_the_rest)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(4 * ps, ps);
	memset(p, 0xab, 4 * ps);
	bool zeroed;
	arch_purge(p + ps, 2 * ps, &zeroed);
	cr_assert_eq(p[ps - 1], 0xab);
	cr_assert_eq(p[3 * ps], 0xab);
	if (zeroed)
		cr_assert(all_zero(p + ps, 2 * ps));
	arch_unmap(p, 4 * ps);
}

Test(arch, protect_round_trip_keeps_contents)
{
	size_t ps = info.page_size;
	unsigned char *p = map_or_fail(3 * ps, ps);
	memset(p, 9, 3 * ps);
	cr_assert_eq(arch_protect(p + ps, ps, false), 0);
	cr_assert_eq(p[0], 9); /* neighbours stay accessible */
	cr_assert_eq(p[2 * ps], 9);
	cr_assert_eq(arch_protect(p + ps, ps, true), 0);
	cr_assert_eq(p[ps], 9);
	p[ps] = 10;
	arch_unmap(p, 3 * ps);
}

Test(arch, protected_page_faults, .signal = SIGSEGV)
{
	size_t ps = info.page_size;
	volatile unsigned char *p = map_or_fail(ps, ps);
	cr_assert_eq(arch_protect((void *)p, ps, false), 0);
	p[0] = 1;
	cr_assert_fail("write to a protected page did not fault");
}

/* ---- locks ------------------------------------------------------------ */

enum { LOCK_THREADS = 8, LOCK_ROUNDS = 100000 };

static arch_lock_t counter_lock = ARCH_LOCK_INIT;
static unsigned long counter; /* plain on purpose: only the lock protects it */

static void *increment_counter(void *unused)
{
	(void)unused;
	for (int i = 0; i < LOCK_ROUNDS; i++) {
		arch_lock_acquire(&counter_lock);
		counter++;
		arch_lock_release(&counter_lock);
	}
	return NULL;
}

Test(arch, lock_gives_mutual_exclusion)
{
	pthread_t t[LOCK_THREADS];
	for (int i = 0; i < LOCK_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, increment_counter, NULL), 0);
	for (int i = 0; i < LOCK_THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(counter, (unsigned long)LOCK_THREADS * LOCK_ROUNDS);
	cr_assert_eq(__atomic_load_n(&counter_lock.word, __ATOMIC_RELAXED), 0u);
}

static arch_lock_t blocking_lock = ARCH_LOCK_INIT;
static bool waiter_got_lock;

static void *take_blocking_lock(void *unused)
{
	(void)unused;
	arch_lock_acquire(&blocking_lock);
	__atomic_store_n(&waiter_got_lock, true, __ATOMIC_SEQ_CST);
	arch_lock_release(&blocking_lock);
	return NULL;
}

Test(arch, lock_waiter_blocks_until_release)
{
	arch_lock_acquire(&blocking_lock);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, take_blocking_lock, NULL), 0);
	nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	cr_assert_not(__atomic_load_n(&waiter_got_lock, __ATOMIC_SEQ_CST), "lock not exclusive");
	arch_lock_release(&blocking_lock);
	pthread_join(t, NULL);
	cr_assert(__atomic_load_n(&waiter_got_lock, __ATOMIC_SEQ_CST), "waiter never woke");
	cr_assert(arch_lock_try(&blocking_lock));
}

/* ---- threads ---------------------------------------------------------- */

static void *register_and_exit(void *arg)
{
	arch_thread_exit_register(arg);
	return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(arch, thread_exit_hook_gets_the_registered_arg)
{
	enum { N = 40 }; /* many threads sharing the one key */
	static int hits[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, register_and_exit, &hits[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++)
		cr_assert_eq(hits[i], 1, "thread %d: hook ran %d times", i, hits[i]);
	cr_assert_eq(thread_exit_calls, N);
}

static void *do_nothing(void *arg)
{
	return arg;
}

Test(arch, thread_exit_hook_passes_null_and_skips_unregistered_threads)
{
	run_thread(register_and_exit, NULL); /* creates the key */
	cr_assert_eq(thread_exit_null_calls, 1, "NULL arg not passed through");
	run_thread(do_nothing, NULL);
	cr_assert_eq(thread_exit_calls, 1);
}

Test(arch, thread_exit_hook_runs_again_after_registering_from_the_hook)
{
	run_thread(register_and_exit, &reregister_token);
	cr_assert_eq(thread_exit_calls, 2);
}

enum { ID_THREADS = 8 };
static pthread_barrier_t id_barrier;

static void *record_thread_id(void *out)
{
	*(uintptr_t *)out = arch_thread_id();
	cr_assert_eq(arch_thread_id(), *(uintptr_t *)out, "id changed within a thread");
	pthread_barrier_wait(&id_barrier); /* all alive at once */
	return NULL;
}

/* ---- background threads ---------------------------------------------- */

static uint32_t started_word;
static sigset_t started_mask;

static void started_fn(void *arg)
{
	pthread_sigmask(SIG_SETMASK, NULL, &started_mask);
	__atomic_store_n(&started_word, *(uint32_t *)arg, __ATOMIC_RELEASE);
	arch_wake(&started_word);
}

Test(arch, thread_start_runs_fn_with_signals_blocked_and_wakes_a_waiter)
{
	uint32_t value = 7;
	cr_assert_eq(arch_thread_start(started_fn, &value), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&started_word, __ATOMIC_ACQUIRE) == 0)
		arch_wait(&started_word, 0, 5000000000u);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(started_word, 7);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 4, "the wake did not end the wait");
	cr_assert(sigismember(&started_mask, SIGINT) && sigismember(&started_mask, SIGTERM),
	          "signals not blocked in the new thread");
}

Test(arch, wait_returns_after_its_timeout_or_at_once_on_another_value)
{
	uint32_t word = 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	arch_wait(&word, 1, 50000000u); /* 50 ms */
	arch_wait(&word, 2, ARCH_WAIT_FOREVER); /* not 2: returns at once */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert(ms >= 40 && ms < 2000, "waited %.1f ms for a 50 ms timeout", ms);
}

Test(arch, thread_ids_are_unique_among_live_threads)
{
	uintptr_t ids[ID_THREADS + 1];
	pthread_t t[ID_THREADS];
	pthread_barrier_init(&id_barrier, NULL, ID_THREADS);
	for (int i = 0; i < ID_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, record_thread_id, &ids[i]), 0);
	for (int i = 0; i < ID_THREADS; i++)
		pthread_join(t[i], NULL);
	ids[ID_THREADS] = arch_thread_id();
	for (int i = 0; i <= ID_THREADS; i++)
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "threads %d and %d share id", i, j);
}

/* ---- fork and process exit -------------------------------------------- */

Test(arch, fork_hooks_run_once_each)
{
	arch_hooks_register();
	arch_hooks_register(); /* idempotent: still one call per fork */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fork_prepare_calls == 1 && fork_child_calls == 1 && fork_parent_calls == 0 ? 0 : 1);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "hooks wrong in the child");
	cr_assert_eq(fork_prepare_calls, 1);
	cr_assert_eq(fork_parent_calls, 1);
	cr_assert_eq(fork_child_calls, 0);
}

/* Runs this binary again as a child in the given mode (see main) and returns
 * how many times its ingot_process_exit ran. */
static int process_exit_calls_in_child(const char *mode)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char fd_var[32], mode_var[64];
		snprintf(fd_var, sizeof fd_var, "TEST_ARCH_EXIT_FD=%d", fds[1]);
		snprintf(mode_var, sizeof mode_var, "TEST_ARCH_EXIT_MODE=%s", mode);
		char *argv[] = {"test_arch", NULL};
		char *envp[] = {fd_var, mode_var, NULL};
		close(fds[0]);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(fds[1]);
	char buf[16];
	ssize_t n, total = 0;
	while ((n = read(fds[0], buf, sizeof buf)) > 0)
		total += n;
	close(fds[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (%d)", status);
	return (int)total;
}

Test(arch, process_exit_hook_runs_once_at_normal_exit)
{
	cr_assert_eq(process_exit_calls_in_child("return"), 1);
	cr_assert_eq(process_exit_calls_in_child("exit"), 1);
}

Test(arch, process_exit_hook_needs_registration_and_normal_exit)
{
	cr_assert_eq(process_exit_calls_in_child("unregistered"), 0);
	cr_assert_eq(process_exit_calls_in_child("_exit"), 0);
}

/* The child side of the process-exit tests. */
static int exit_child_main(const char *mode)
{
	const char *fd = getenv("TEST_ARCH_EXIT_FD");
	process_exit_fd = fd ? atoi(fd) : -1;
	if (strcmp(mode, "unregistered") == 0)
		return 0;
	arch_hooks_register();
	arch_hooks_register();
	if (strcmp(mode, "exit") == 0)
		exit(0);
	if (strcmp(mode, "_exit") == 0)
		_exit(0);
	return 0;
}

/* ---- misc ------------------------------------------------------------- */

Test(arch, random_bytes_differ)
{
	unsigned char a[4096], b[4096];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	arch_random(a, sizeof a);
	arch_random(b, sizeof b);
	cr_assert_neq(memcmp(a, b, sizeof a), 0);
	size_t zeros = 0;
	for (size_t i = 0; i < sizeof a; i++)
		zeros += a[i] == 0;
	cr_assert_lt(zeros, 64u, "%zu zero bytes of 4096", zeros); /* about 16 expected */
	unsigned char odd[5] = {0};
	arch_random(odd, sizeof odd); /* lengths that are not a multiple of 8 */
	arch_random(odd, 0);
}

Test(arch, now_ns_is_monotonic)
{
	uint64_t prev = arch_now_ns();
	for (int i = 0; i < 100000; i++) {
		uint64_t now = arch_now_ns();
		cr_assert_geq(now, prev);
		prev = now;
	}
	nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	cr_assert_geq(arch_now_ns() - prev, 10u * 1000 * 1000);
}

Test(arch, getenv_walks_the_current_environment)
{
	cr_assert_null(arch_getenv("INGOT_TEST_ARCH_VAR"));
	cr_assert_eq(setenv("INGOT_TEST_ARCH_VARX", "longer", 1), 0);
	cr_assert_null(arch_getenv("INGOT_TEST_ARCH_VAR"), "matched a longer name");
	cr_assert_eq(setenv("INGOT_TEST_ARCH_VAR", "hello", 1), 0);
	cr_assert_str_eq(arch_getenv("INGOT_TEST_ARCH_VAR"), "hello");
	cr_assert_str_eq(arch_getenv("INGOT_TEST_ARCH_VARX"), "longer");
	cr_assert_null(arch_getenv("INGOT_TEST_ARCH_VA"), "matched a prefix of a name");
	cr_assert_null(arch_getenv(""));
	unsetenv("INGOT_TEST_ARCH_VAR");
	cr_assert_null(arch_getenv("INGOT_TEST_ARCH_VAR"));
}

enum { ERR_LEN = 512 * 1024 };

struct pipe_reader {
	int fd;
	unsigned char buf[ERR_LEN + 4096];
	size_t len;
};

/* Reads slowly so that the writer blocks, full pipe, many times. */
static void *drain_pipe_slowly(void *arg)
{
	struct pipe_reader *r = arg;
	ssize_t n;
	while ((n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len < 4096 ?
	                                          sizeof r->buf - r->len : 4096)) > 0) {
		r->len += (size_t)n;
		nanosleep(&(struct timespec){0, 300 * 1000}, NULL);
	}
	return NULL;
}

static int alarms;
static void count_alarm(int sig)
{
	(void)sig;
	__atomic_fetch_add(&alarms, 1, __ATOMIC_RELAXED);
}

Test(arch, write_err_survives_interrupts_and_short_writes)
{
	/* A timer signal without SA_RESTART interrupts the blocked write():
	 * it fails with EINTR or returns a short count, and both must resume. */
	static unsigned char msg[ERR_LEN];
	static struct pipe_reader r;
	for (size_t i = 0; i < ERR_LEN; i++)
		msg[i] = (unsigned char)(i * 7 + i / 251);
	int fds[2], saved = dup(STDERR_FILENO);
	cr_assert_eq(pipe(fds), 0);
	r.fd = fds[0];
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old); /* the reader inherits the block */
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, drain_pipe_slowly, &r), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGALRM, &(struct sigaction){.sa_handler = count_alarm}, NULL);
	struct itimerval every_200us = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &every_200us, NULL);

	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	arch_write_err((const char *)msg, ERR_LEN);
	dup2(saved, STDERR_FILENO); /* closes the pipe's last write end */
	setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
	pthread_join(t, NULL);
	close(fds[0]);
	cr_assert_gt(alarms, 0, "no signal arrived: the test proved nothing");
	cr_assert_eq(r.len, (size_t)ERR_LEN);
	cr_assert_eq(memcmp(r.buf, msg, ERR_LEN), 0);
}

/* ---- heap profiles ---------------------------------------------------- */

static __attribute__((noinline)) unsigned backtrace_from_here(uintptr_t *pcs, unsigned max)
{
	unsigned n = arch_backtrace(pcs, max);
	__asm__ volatile("" ::: "memory"); /* no tail call: this frame stays */
	return n;
}

Test(arch, backtrace_lists_the_callers)
{
	/* Linked into this program, ingot's range is empty: every frame is
	 * kept, innermost first, and one lies in backtrace_from_here. */
	uintptr_t pcs[64];
	unsigned n = backtrace_from_here(pcs, 64);
	cr_assert_geq(n, 3, "%u frames", n);
	uintptr_t here = (uintptr_t)&backtrace_from_here;
	bool found = false;
	for (unsigned i = 0; i < n; i++)
		found = found || (pcs[i] > here && pcs[i] < here + 128);
	cr_assert(found, "no frame returns into backtrace_from_here");
	cr_assert_eq(backtrace_from_here(pcs, 2), 2, "max is not respected");
}

/* The reference: libgcc's unwinder, straight, from the caller of
 * reference_backtrace on (its own frame left out). */
struct reference {
	uintptr_t *pcs;
	unsigned max, n;
	bool past_own;
};

static _Unwind_Reason_Code reference_step(struct _Unwind_Context *ctx, void *arg)
{
	struct reference *r = arg;
	uintptr_t pc = (uintptr_t)_Unwind_GetIP(ctx);
	if (pc == 0)
		return _URC_END_OF_STACK;
	if (!r->past_own) {
		r->past_own = true;
		return _URC_NO_REASON;
	}
	r->pcs[r->n++] = pc;
	return r->n == r->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

static __attribute__((noinline)) unsigned reference_backtrace(uintptr_t *pcs, unsigned max)
{
	struct reference r = {pcs, max, 0, false};
	_Unwind_Backtrace(reference_step, &r);
	__asm__ volatile("" ::: "memory");
	return r.n;
}

/* Both backtraces from one frame, depth frames below the caller, with a
 * stack frame of a size that changes with vary (alloca): 0 when they agree
 * past their first address (each returns into this frame at its own
 * call), else the first frame that differs (the count, when it does). */
static __attribute__((noinline)) unsigned backtraces_differ(unsigned depth, size_t vary)
{
	if (depth > 0) {
		unsigned d = backtraces_differ(depth - 1, vary);
		__asm__ volatile("" ::: "memory"); /* no tail call */
		return d;
	}
	volatile char *pad = __builtin_alloca(vary + 1);
	pad[0] = 0;
	uintptr_t got[16], want[16];
	unsigned n = arch_backtrace(got, 16);
	unsigned m = reference_backtrace(want, 16);
	unsigned differ = n != m ? 100 + n : 0;
	for (unsigned i = 1; i < n && !differ; i++)
		differ = got[i] != want[i] ? i : 0;
	__asm__ volatile("" ::: "memory");
	return differ;
}

Test(arch, repeated_backtraces_agree_with_libgcc)
{
	/* The first walk through each frame is libgcc's; the later ones are
	 * the quick walk over what it learned, which must give the same
	 * addresses, also through a frame whose size changes between calls,
	 * at every depth, up to the caller's max and below it. */
	for (int round = 0; round < 3; round++)
		for (unsigned depth = 0; depth < 12; depth++) {
			size_t vary = 16 * (size_t)(round * 12 + depth);
			unsigned d = backtraces_differ(depth, vary);
			cr_assert_eq(d, 0, "round %d, depth %u, alloca %zu: frame %u differs (100 + n: "
			             "the count)", round, depth, vary, d);
		}
}

static void *backtraces_in_a_thread(void *arg)
{
	unsigned *differ = arg;
	for (int round = 0; round < 200 && !*differ; round++)
		*differ = backtraces_differ((unsigned)round % 10, 32 * (size_t)(round % 7));
	return NULL;
}

Test(arch, backtraces_agree_in_many_threads)
{
	pthread_t t[8];
	unsigned differ[8] = {0};
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, backtraces_in_a_thread, &differ[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(differ[i], 0, "thread %d: frame %u differs", i, differ[i]);
	}
}

Test(arch, maps_and_remove)
{
	char path[] = "/tmp/ingot-arch-maps-XXXXXX";
	close(mkstemp(path));
	int fd;
	cr_assert_eq(arch_file_open(path, &fd), 0);
	cr_assert_eq(arch_file_write_maps(fd), 0);
	arch_file_close(fd);
	FILE *f = fopen(path, "r");
	char line[512];
	bool exec = false;
	while (fgets(line, sizeof(line), f))
		exec = exec || strstr(line, " r-xp ") != NULL;
	fclose(f);
	cr_assert(exec, "no executable mapping in the copied map");
	cr_assert_eq(arch_file_remove(path), 0);
	cr_assert_neq(access(path, F_OK), 0, "file still there");
	cr_assert_neq(arch_file_remove(path), 0, "removing a missing file succeeded");
}

/* ---- faults ------------------------------------------------------------- */

static volatile uintptr_t fault_seen;

static void fault_record(uintptr_t address)
{
	fault_seen = address;
}

static char *inaccessible_page(void)
{
	char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(page, MAP_FAILED);
	return page;
}

static char *volatile expected_fault; /* volatile: stored before the faulting write */

/* The program's own handler, installed before arch's: it must run after
 * arch's handler has seen the address, with the fault's details. */
static void program_handler(int sig, siginfo_t *si, void *context)
{
	(void)context;
	bool ok = sig == SIGSEGV && si->si_addr == expected_fault &&
	          fault_seen == (uintptr_t)expected_fault;
	_exit(ok ? 42 : 43);
}

Test(arch, a_fault_goes_to_the_handler_then_to_the_programs, .exit_code = 42)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = program_handler;
	sa.sa_flags = SA_SIGINFO;
	cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	cr_assert_eq(arch_fault_handler_install(fault_record), 0);
	expected_fault = inaccessible_page() + 100;
	*(volatile char *)expected_fault = 1;
	cr_assert_fail("the write to an inaccessible page went on");
}

/* With no handler of the program's, a fault the handler leaves alone
 * ends the process as the system's default action does. */
Test(arch, a_fault_the_handler_leaves_ends_the_process, .signal = SIGSEGV)
{
	cr_assert_eq(arch_fault_handler_install(fault_record), 0);
	*(volatile char *)(inaccessible_page() + 8) = 1;
}

static void fault_abort(uintptr_t address)
{
	(void)address;
	arch_write_err("reported\n", 9);
	arch_abort();
}

Test(arch, a_handler_may_report_and_abort, .signal = SIGABRT)
{
	cr_assert_eq(arch_fault_handler_install(fault_abort), 0);
	*(volatile char *)(inaccessible_page() + 8) = 1;
}

Test(arch, abort_raises_sigabrt, .signal = SIGABRT)
{
	arch_abort();
}

int main(int argc, char *argv[])
{
	const char *mode = getenv("TEST_ARCH_EXIT_MODE");
	if (mode != NULL)
		return exit_child_main(mode);
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}
