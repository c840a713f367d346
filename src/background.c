/*
 * background.c — the background purger's thread, its start and stop.
 *
 * Call tree:
 *   purger_main (own thread) -> purge_pass -> arena_background_pass (each arena)
 *                            -> arch_wait on wake_seq (until the deadline or a wake)
 *   arena_free* past an arena's wake mark -> purger_wake -> arch_wake | start_locked
 *   background_set (mallctl background_thread) -> start_locked | stop_locked
 *
 * The thread sleeps on wake_seq, a counter every wake and the stop bump: it
 * reads the counter before a pass and sleeps only while it is unchanged, so
 * a wake that comes during the pass is never lost. Each pass sets every
 * arena's wake mark (arena.h): a free that makes more dirty pages than the
 * pass planned for calls purger_wake, and with nothing dirty any new dirty
 * page does. So the thread sleeps until the next decay deadline, and for
 * good while nothing is dirty.
 */
#include "background.h"

#include "arch.h"
#include "arena.h"
#include "boot.h"
#include "tcache.h"

/* How often bins in use are looked at again while nothing decays: once
 * idle, their empty slabs go back. */
#define BIN_RECHECK_NS 1000000000u
#define STOP_WAIT_EXIT_NS 200000000u /* at exit, wait at most 200 ms */

static arch_lock_t bg_lock = ARCH_LOCK_INIT;
static bool enabled; /* the setting; under bg_lock */
static bool running; /* a thread was started and not stopped; under bg_lock */

/* Through __atomic builtins only. */
static uint32_t wake_seq;
static bool stop_requested;
static uint32_t alive_word; /* 1 from start until the thread's last act */
static uint64_t num_runs, first_run_ns, last_run_ns;

/* ---- the thread ---------------------------------------------------------- */

/* One pass over every arena. Returns when to run again: the earliest decay
 * deadline, else a recheck of bins in use, else UINT64_MAX (until woken). */
static uint64_t purge_pass(void)
{
	uint64_t now = arch_now_ns();
	uint64_t deadline = UINT64_MAX;
	bool bins_busy = false;
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct arena *a = arena_get(i);
		if (a)
			deadline = MIN(deadline, arena_background_pass(a, now, &bins_busy));
	}
	if (__atomic_fetch_add(&num_runs, 1, __ATOMIC_RELAXED) == 0)
		__atomic_store_n(&first_run_ns, now, __ATOMIC_RELAXED);
	__atomic_store_n(&last_run_ns, now, __ATOMIC_RELAXED);
	if (deadline == UINT64_MAX && bins_busy)
		deadline = now + BIN_RECHECK_NS;
	return deadline;
}

static void purger_main(void *arg)
{
	(void)arg;
	/* The thread never allocates; what its libc frees at its end goes
	 * straight home rather than into a cache nobody would flush. */
	tcache_set_enabled(false);
	while (!__atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE)) {
		uint32_t seq = __atomic_load_n(&wake_seq, __ATOMIC_SEQ_CST);
		uint64_t deadline = purge_pass();
		uint64_t now = arch_now_ns();
		if (deadline > now)
			arch_wait(&wake_seq, seq,
			          deadline == UINT64_MAX ? ARCH_WAIT_FOREVER : deadline - now);
	}
	__atomic_store_n(&alive_word, 0, __ATOMIC_RELEASE);
	arch_wake(&alive_word);
}

/* ---- start and stop ------------------------------------------------------ */

static void marks_reset(void)
{
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct arena *a = arena_get(i);
		if (a)
			__atomic_store_n(&a->purger_wake_dirty, 0, __ATOMIC_SEQ_CST);
	}
}

static void purger_wake(struct arena *a);

/* Starts the thread; bg_lock held (and no allocator lock: the OS may
 * allocate for the new thread). */
static int start_locked(void)
{
	__atomic_store_n(&stop_requested, false, __ATOMIC_SEQ_CST);
	__atomic_store_n(&alive_word, 1, __ATOMIC_SEQ_CST);
	int err = arch_thread_start(purger_main, NULL);
	if (err) {
		__atomic_store_n(&alive_word, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&arena_purger_wake, NULL, __ATOMIC_SEQ_CST);
		return err;
	}
	running = true;
	marks_reset(); /* a previous thread's marks may stop wakes */
	__atomic_store_n(&arena_purger_wake, purger_wake, __ATOMIC_SEQ_CST);
	return 0;
}

/* Asks the thread to end and waits until it has, at most limit_ns. */
static void stop_locked(uint64_t limit_ns)
{
	__atomic_store_n(&arena_purger_wake, NULL, __ATOMIC_SEQ_CST);
	if (!running)
		return;
	__atomic_store_n(&stop_requested, true, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&wake_seq, 1, __ATOMIC_SEQ_CST);
	arch_wake(&wake_seq);
	uint64_t start = arch_now_ns();
	while (__atomic_load_n(&alive_word, __ATOMIC_ACQUIRE) != 0 &&
	       arch_now_ns() - start < limit_ns)
		arch_wait(&alive_word, 1, 10000000u);
	running = false;
}

/* Called by a free that took arena a past its wake mark, with no lock
 * held: one call per arena per pass wakes the thread, or starts it where
 * it has yet to start (background_thread set as an option, or in a forked
 * child). */
static void purger_wake(struct arena *a)
{
	size_t mark = __atomic_load_n(&a->purger_wake_dirty, __ATOMIC_SEQ_CST);
	if (mark == SIZE_MAX || !__atomic_compare_exchange_n(&a->purger_wake_dirty, &mark, SIZE_MAX,
	                                                     false, __ATOMIC_SEQ_CST,
	                                                     __ATOMIC_SEQ_CST))
		return; /* another free got here first */
	if (!__atomic_load_n(&alive_word, __ATOMIC_ACQUIRE)) {
		arch_lock_acquire(&bg_lock);
		if (enabled && !running && start_locked() != 0)
			enabled = false; /* no threads here: go on without */
		arch_lock_release(&bg_lock);
		return;
	}
	__atomic_fetch_add(&wake_seq, 1, __ATOMIC_SEQ_CST);
	arch_wake(&wake_seq);
}

/* ---- interface ----------------------------------------------------------- */

void background_boot(bool on)
{
	enabled = on && ingot_arch.has_threads;
	if (enabled)
		__atomic_store_n(&arena_purger_wake, purger_wake, __ATOMIC_SEQ_CST);
}

int background_set(bool on)
{
	int err = 0;
	arch_lock_acquire(&bg_lock);
	if (on && !running) {
		err = start_locked();
		on = err == 0;
	} else if (!on) {
		stop_locked(UINT64_MAX);
	}
	enabled = on;
	arch_lock_release(&bg_lock);
	return err;
}

bool background_on(void)
{
	arch_lock_acquire(&bg_lock);
	bool on = enabled;
	arch_lock_release(&bg_lock);
	return on;
}

void background_stats_get(struct background_stats *out)
{
	arch_lock_acquire(&bg_lock);
	out->num_threads = running ? 1 : 0;
	arch_lock_release(&bg_lock);
	uint64_t runs = __atomic_load_n(&num_runs, __ATOMIC_RELAXED);
	uint64_t span = __atomic_load_n(&last_run_ns, __ATOMIC_RELAXED) -
	                __atomic_load_n(&first_run_ns, __ATOMIC_RELAXED);
	out->num_runs = runs;
	out->run_interval_ns = runs > 1 ? span / (runs - 1) : 0;
}

void background_exit(void)
{
	arch_lock_acquire(&bg_lock);
	enabled = false;
	stop_locked(STOP_WAIT_EXIT_NS);
	arch_lock_release(&bg_lock);
}

void background_fork_prepare(void) { arch_lock_acquire(&bg_lock); }
void background_fork_parent(void) { arch_lock_release(&bg_lock); }

/* The thread did not come along: the child starts its own at its first
 * free that makes dirty pages, if the setting is on. */
void background_fork_child(void)
{
	arch_lock_reset(&bg_lock);
	running = false;
	__atomic_store_n(&alive_word, 0, __ATOMIC_RELAXED);
	marks_reset();
	__atomic_store_n(&arena_purger_wake, enabled ? purger_wake : NULL, __ATOMIC_SEQ_CST);
}
