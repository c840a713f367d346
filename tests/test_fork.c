/*
 * test_fork.c — fork() while other threads allocate.
 *
 * The parent keeps 8 threads allocating and freeing while it forks; each
 * child (which has only the forking thread) must find every ingot lock free
 * and the heap consistent, allocate and free normally, and exit 0. A child
 * that deadlocks is killed by an alarm, which fails the test. In other tests
 * the threads flush their caches all the time, or free each other's blocks.
 */
#include "helpers.h"

#include <stdatomic.h>

#include "ingot.h"

#define BUSY_THREADS 8

static atomic_bool stop_busy;

/* Allocates, writes, frees, with some blocks kept for a while and some
 * flushed, so that forks land in every part of the allocator. */
static void *busy_thread(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	void *kept[64] = {0};
	unsigned long n = 0;
	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		size_t r = rng_below(&rng, 100);
		size_t size = r < 80 ? rng_below(&rng, 2048) : r < 98 ? rng_below(&rng, 256 * KiB)
		                                                      : 3 * MiB;
		void *p = ingot_malloc(size);
		THREAD_CHECK(p != NULL, "busy thread: malloc(%zu) failed", size);
		memset(p, 0x5a, size < 4096 ? size : 4096);
		size_t slot = rng_below(&rng, 64);
		ingot_free(kept[slot]);
		kept[slot] = p;
		if (++n % 1024 == 0)
			ingot_thread_flush();
	}
	for (int i = 0; i < 64; i++)
		ingot_free(kept[i]);
	return NULL;
}

/* What a child does: exit codes say what went wrong. */
enum child_status {
	CHILD_OK = 0,
	CHILD_MALLOC_FAILED = 10,
	CHILD_CORRUPTED = 11,
	CHILD_CHECK_FAILED = 12,
};

/* Pattern checks cover the first and last bytes of a block: enough to see
 * two blocks overlap, cheap enough for large ones. */
#define EDGE 128

static void edges_fill(uint8_t *p, size_t size, uint64_t seed)
{
	pattern_fill(p, size < EDGE ? size : EDGE, seed);
	if (size > 2 * EDGE)
		pattern_fill(p + size - EDGE, EDGE, ~seed);
}

static bool edges_intact(const uint8_t *p, size_t size, uint64_t seed)
{
	return pattern_mismatch(p, size < EDGE ? size : EDGE, seed) == SIZE_MAX &&
	       (size <= 2 * EDGE || pattern_mismatch(p + size - EDGE, EDGE, ~seed) == SIZE_MAX);
}

static int child_work(unsigned seed)
{
	if (ingot_check() != 0)
		return CHILD_CHECK_FAILED;
	uint64_t rng = seed;
	enum { KEEP = 256 };
	uint8_t *kept[KEEP] = {0};
	size_t size[KEEP] = {0};
	for (int i = 0; i < 10000; i++) {
		size_t slot = rng_below(&rng, KEEP);
		if (kept[slot]) {
			if (!edges_intact(kept[slot], size[slot], slot + seed))
				return CHILD_CORRUPTED;
			ingot_free(kept[slot]);
		}
		size_t r = rng_below(&rng, 100);
		size[slot] = r < 90 ? rng_below(&rng, 4096) : rng_below(&rng, 512 * KiB);
		kept[slot] = ingot_malloc(size[slot]);
		if (!kept[slot])
			return CHILD_MALLOC_FAILED;
		edges_fill(kept[slot], size[slot], slot + seed);
	}
	for (int i = 0; i < KEEP; i++)
		ingot_free(kept[i]);
	void *big = ingot_malloc(8 * MiB);
	if (!big)
		return CHILD_MALLOC_FAILED;
	ingot_free(big);
	ingot_thread_flush();
	return ingot_check() == 0 ? CHILD_OK : CHILD_CHECK_FAILED;
}

/* Forks once and asserts that the child exits with CHILD_OK, having run
 * first (when not NULL; a status other than CHILD_OK ends the child), then
 * child_work. */
static void fork_and_check_after(unsigned round, int (*first)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(30); /* a deadlock ends as SIGALRM */
		int status = first ? first() : CHILD_OK;
		_exit(status != CHILD_OK ? status : child_work(round + 1));
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR);
	if (WIFSIGNALED(status))
		cr_assert_fail("child %u died of signal %d (%s)", round, WTERMSIG(status),
		               WTERMSIG(status) == SIGALRM ? "deadlock" : strsignal(WTERMSIG(status)));
	cr_assert_eq(WEXITSTATUS(status), CHILD_OK, "child %u exited with %d", round,
	             WEXITSTATUS(status));
}

static void fork_and_check(unsigned round) { fork_and_check_after(round, NULL); }

Test(fork, fork_while_threads_allocate, .timeout = 120)
{
	ingot_free(ingot_malloc(1)); /* boots ingot and its fork hooks */
	pthread_t t[BUSY_THREADS];
	atomic_store(&stop_busy, false);
	for (uintptr_t i = 0; i < BUSY_THREADS; i++)
		t[i] = start_thread(busy_thread, (void *)(i + 1));
	usleep(20000); /* let them get going */

	for (unsigned round = 0; round < 20; round++) {
		fork_and_check(round);
		usleep(2000);
	}
	atomic_store(&stop_busy, true);
	for (int i = 0; i < BUSY_THREADS; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0, "parent heap inconsistent after the forks");
}

Test(fork, child_can_start_threads, .timeout = 60)
{
	/* The child's first thread needs a new cache and maybe a new arena
	 * link: everything reset by the fork hooks must work again. */
	if (TEST_UNDER_TSAN)
		cr_skip_test("ThreadSanitizer cannot start threads after a multi-threaded fork");
	ingot_free(ingot_malloc(1));
	pthread_t t = start_thread(busy_thread, (void *)99);
	usleep(10000);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		alarm(30);
		atomic_store(&stop_busy, false);
		pthread_t c = 0;
		if (pthread_create(&c, NULL, busy_thread, (void *)7) != 0)
			_exit(20);
		usleep(20000);
		atomic_store(&stop_busy, true);
		pthread_join(c, NULL);
		_exit(child_work(5));
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR);
	atomic_store(&stop_busy, true);
	join_thread(t);
	assert_no_thread_failure();
	cr_assert(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), CHILD_OK, "child exited with %d", WEXITSTATUS(status));
}

/* Threads that free long runs of one class flush their caches all the time.
 * A fork can catch one between handing a batch to the bins and updating its
 * stack; the child must not free that batch a second time. */
static void *flushing_thread(void *arg)
{
	(void)arg;
	void *p[300];
	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		for (int i = 0; i < 300; i++)
			p[i] = ingot_malloc(64);
		for (int i = 0; i < 300; i++)
			ingot_free(p[i]);
	}
	return NULL;
}

/* Under ThreadSanitizer each fork copies its shadow memory: 100 rounds
 * took over 120 s on a loaded 2-core machine. 25 still fork while every
 * thread is mid-flush many times over. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FLUSH_FORK_ROUNDS 25
#endif
#endif
#ifndef FLUSH_FORK_ROUNDS
#define FLUSH_FORK_ROUNDS 100
#endif

Test(fork, fork_while_threads_flush_their_caches, .timeout = 120)
{
	ingot_free(ingot_malloc(1));
	pthread_t t[4];
	atomic_store(&stop_busy, false);
	for (int i = 0; i < 4; i++)
		t[i] = start_thread(flushing_thread, NULL);
	usleep(10000);
	for (unsigned round = 0; round < FLUSH_FORK_ROUNDS; round++)
		fork_and_check(round);
	atomic_store(&stop_busy, true);
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
}

/* ---- remote frees ------------------------------------------------------------------- */

/* Threads that free each other's blocks: each allocates a burst of one
 * class, swaps it for the burst another thread left in the exchange, and
 * frees that one. Every free is remote (the threads have arenas of their
 * own), and the stacks overflow with other arenas' blocks, which go home in
 * batches. A fork can catch a thread with a batch on its way home; the
 * child must find the heap consistent, free the burst left in the exchange
 * (remote frees of its own), and work normally. */
#define SWAP_BURST 300
#define SWAP_SIZE 64

static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *exchange[SWAP_BURST]; /* under exchange_lock */
static uint64_t exchange_seed;        /* of the burst in the exchange */

static void *swapping_thread(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	uint8_t *burst[SWAP_BURST];
	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		uint64_t seed = rng_next(&rng);
		for (unsigned i = 0; i < SWAP_BURST; i++) {
			burst[i] = ingot_malloc(SWAP_SIZE);
			THREAD_CHECK(burst[i] != NULL, "swapping thread: malloc failed");
			edges_fill(burst[i], SWAP_SIZE, seed + i);
		}
		pthread_mutex_lock(&exchange_lock);
		for (unsigned i = 0; i < SWAP_BURST; i++) {
			uint8_t *theirs = exchange[i];
			exchange[i] = burst[i];
			burst[i] = theirs;
		}
		uint64_t their_seed = exchange_seed;
		exchange_seed = seed;
		pthread_mutex_unlock(&exchange_lock);
		for (unsigned i = 0; i < SWAP_BURST && burst[0]; i++) {
			THREAD_CHECK(edges_intact(burst[i], SWAP_SIZE, their_seed + i),
			             "a block changed on its way between threads");
			ingot_free(burst[i]);
		}
	}
	return NULL;
}

/* In the child (which holds exchange_lock: the parent forked holding it):
 * checks and frees the burst left in the exchange. */
static int child_frees_exchange(void)
{
	for (unsigned i = 0; i < SWAP_BURST && exchange[i]; i++) {
		if (!edges_intact(exchange[i], SWAP_SIZE, exchange_seed + i))
			return CHILD_CORRUPTED;
		ingot_free(exchange[i]);
	}
	return CHILD_OK;
}

Test(fork, fork_while_threads_free_each_others_blocks, .timeout = 120)
{
	/* 8 arenas whatever the CPU count, so that each thread has its own;
	 * the options the run set (test-guarded's) are kept. */
	const char *conf = getenv("INGOT_CONF");
	char buf[256];
	snprintf(buf, sizeof buf, "%s%snarenas:8", conf ? conf : "", conf && *conf ? "," : "");
	setenv("INGOT_CONF", buf, 1);
	ingot_free(ingot_malloc(1));
	pthread_t t[4];
	atomic_store(&stop_busy, false);
	for (uintptr_t i = 0; i < 4; i++)
		t[i] = start_thread(swapping_thread, (void *)(i + 1));
	usleep(10000);
	for (unsigned round = 0; round < FLUSH_FORK_ROUNDS; round++) {
		pthread_mutex_lock(&exchange_lock);
		fork_and_check_after(round, child_frees_exchange);
		pthread_mutex_unlock(&exchange_lock);
	}
	atomic_store(&stop_busy, true);
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	for (unsigned i = 0; i < SWAP_BURST; i++)
		ingot_free(exchange[i]);
	cr_assert_eq(ingot_check(), 0, "parent heap inconsistent after the forks");
}
