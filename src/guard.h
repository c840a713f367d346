/*
 * guard.h — sampled guarded allocations (option guard_sample:N).
 *
 * About one allocation in N of at most GUARD_MAX_USABLE bytes (small
 * objects and cached large blocks alike) is placed alone in a cell of a
 * pool, between inaccessible guard pages, touching the guard on its left or
 * its right at random. When it is freed, its pages are given back to the OS
 * and made inaccessible, and the cell waits until every other free cell has
 * been used. An overflow or underflow across the block's edge, or a use
 * after its free, then faults; the fault handler (arch layer) asks
 * guard_pool_fault whether the address is the pool's and, if so, reports the
 * kind of misuse, the block, its size and where it was allocated and freed.
 * A free of a pointer into a cell that is not its live block's start is
 * reported as an invalid or double free.
 *
 * The choice costs the fast paths nothing: small classes count their
 * allocations down in the thread cache's event countdown (tcache.c), which
 * asks guard_swap for the block; large blocks take a per-thread count on
 * their slow path. With guard_sample:0 (the default) no pool exists and the
 * countdowns never end. Checked heaps (hardened profile, hooks) are not
 * sampled: they already watch every block.
 *
 * The pool is one mapping registered in the page map as a CHUNK_KIND_GUARD
 * chunk, so that free, realloc and malloc_usable_size find their way here
 * through the arena's chunk dispatch.
 */
#ifndef INGOT_GUARD_H
#define INGOT_GUARD_H

#include "common.h"

#define GUARD_NEVER UINT32_MAX /* a countdown that never ends */

/* One cell: a guard page, then GUARD_CELL_PAGES - 1 pages of data. */
#define GUARD_CELL_PAGES 16u
#define GUARD_MAX_USABLE (((size_t)GUARD_CELL_PAGES - 1) << LG_PAGE)

/* Reserves the pool when period (guard_sample) is not 0. */
void guard_boot(size_t period);

/* Whether the pool exists (guard_sample is on and the host can guard). */
bool guard_enabled(void);

/* Allocations until the next guarded one of a class: about period, spread
 * at random; GUARD_NEVER when sampling is off. */
uint32_t guard_countdown(void);

/* The same for a large block on its slow path: whether this one is due. */
bool guard_big_due(size_t size);

/* A guarded block of usable bytes (reads as zero), or NULL when none is
 * free or usable is too large. */
void *guard_alloc(size_t usable);

/* Frees guarded block p (its chunk is the pool); reports misuse. Returns
 * its usable size. */
size_t guard_free(void *p);

/* Usable size of the live guarded block starting at p; 0 for any other
 * address of the pool. */
size_t guard_usable_size(const void *p);

/* Called by the fault handler with the faulting address: when it lies in
 * the pool, reports the misuse (one line) and aborts; otherwise returns. */
void guard_pool_fault(uintptr_t address);

/* Counters for stats and mallctl. */
struct guard_stats {
	uint64_t nsampled; /* guarded blocks handed out */
	uint64_t nfailed;  /* sampled, but no cell was free */
	size_t live;       /* guarded blocks live now */
	size_t ncells;     /* cells in the pool (0: off) */
};
void guard_stats_get(struct guard_stats *out);

/* The pool's invariants, for ingot_check; NULL when they hold. */
const char *guard_check(void);

void guard_fork_prepare(void);
void guard_fork_parent(void);
void guard_fork_child(void);

#endif
