/*
 * background.h — the background purger (background_thread:true).
 *
 * One thread, started through the arch layer, walks every arena while the
 * program does other things or nothing at all: bins idle since its last
 * pass give their empty slabs back, and dirty pages and cached huge
 * mappings go back to the OS along the same decay curve the allocation
 * paths follow. It sleeps until the next decay deadline, and not at all
 * while nothing is dirty: the first free that reaches an arena after that
 * wakes it. It touches only what locks protect, never a thread's cache
 * (those change without locks; their owners trim them).
 *
 * Where the arch layer has no threads (bare metal) nothing starts and the
 * setting reads false. After fork the child has no purger; it starts again
 * at the child's first free that reaches an arena. At process exit it is
 * stopped.
 */
#ifndef INGOT_BACKGROUND_H
#define INGOT_BACKGROUND_H

#include "common.h"

/* At start, from the options: with on, the purger starts at the first free
 * that reaches an arena. */
void background_boot(bool on);

/* background_thread: turns the purger on (starts its thread now) or off
 * (stops it and waits until it has). Returns 0, or the arch layer's error
 * when no thread can be started (ARCH_EAGAIN; ARCH_EINVAL where there are
 * no threads), and the setting then stays off. */
int background_set(bool on);
bool background_on(void);

/* Counters read by stats.background_thread.*. */
struct background_stats {
	size_t num_threads;       /* 1 while the thread runs, else 0 */
	uint64_t num_runs;        /* passes over the arenas */
	uint64_t run_interval_ns; /* mean time between passes */
};
void background_stats_get(struct background_stats *out);

/* At process exit: stops the thread (waits a bounded time for it). */
void background_exit(void);

void background_fork_prepare(void);
void background_fork_parent(void);
void background_fork_child(void);

#endif
