/*
 * bin.h — slabs of one small size class in one arena.
 *
 * A bin hands out objects from its slabs in batches (to thread caches) or
 * one by one (when there is no cache), and takes them back. The slab's free
 * set is a bitmap in its span record, out of line from user data, so a
 * second free of the same object is always seen when it reaches the bin.
 */
#ifndef INGOT_BIN_H
#define INGOT_BIN_H

#include "common.h"
#include "pageheap.h"
#include "sizeclass.h"

/*
 * Invariants: current is NULL or a SLAB span of this class with nfree > 0;
 * nonfull holds exactly the other slabs of this bin with 0 < nfree < nregs;
 * empty holds nempty <= bin_nempty_max(bin) slabs with nfree == nregs, kept so that
 * a program that frees a batch and allocates it again does not send the
 * slabs through the page heap each time (in hardened heaps each trip costs
 * two system calls for the guard page). Beyond that they go back. Bins of
 * classes of 1 KiB and up keep a surplus beyond that while it is used
 * (bin_trim_surplus).
 */
struct bin {
	arch_lock_t lock;
	uint8_t sizeclass;
	uint8_t nempty_base; /* empty slabs kept however long unused (bin.c) */
	uint8_t nempty;      /* at most bin_nempty_max(bin) */
	uint8_t nempty_low;  /* fewest empty slabs since the last bin_trim_surplus */
	struct span *current;
	struct span *nonfull;
	struct span *empty;
	uint32_t nslabs_made;
	/* Counters, under lock. Sized so that a bin fills one 64-byte cache
	 * line on 32-bit targets, where metadata is scarce. */
	uint64_t nmalloc, ndalloc, nfills, nflushes;
	uint32_t nslabs, nregs_live;
} __attribute__((aligned(64)));

void bin_init(struct bin *bin, unsigned sizeclass);

/* Whether object slot of slab s sits free in the slab (given back by a
 * cache already); takes the bin's lock. */
bool bin_slot_free(struct bin *bin, const struct span *s, unsigned slot);

/* Fills out[0..n) with free objects of the bin's class, taking slabs from
 * heap as needed, in stack order: out[got - 1] is the lowest address (a
 * cache hands it out first), and addresses rise towards out[0] within each
 * slab. Returns how many it gave, got (less than n only when memory ran
 * out). */
unsigned bin_alloc_batch(struct bin *bin, struct pageheap *heap, void **out, unsigned n);

/* Returns object p of slab span to the bin; the caller holds bin->lock.
 * Reports a double free or an invalid pointer and aborts. */
void bin_free_locked(struct bin *bin, struct pageheap *heap, struct span *span, void *p);

/* Returns objects of the bin's class at the start of objs[0..n) to their
 * slabs under one hold of the bin's lock, a run of one slab at a time: those
 * whose chunks have the owner (arena) of objs[0]'s, which is the bin's.
 * Returns how many (at least 1); reports as bin_free_locked does. */
unsigned bin_free_batch(struct bin *bin, struct pageheap *heap, void *const *objs, unsigned n);

/* Gives back to the OS the pages of the bin's partly used slabs that hold
 * no object in use (bin.c: classes of at most 8 objects a page, in slabs of
 * several pages). Skips the bin when its lock is held (the caller may hold
 * it). Returns the pages given back. */
size_t bin_give_back_free_pages(struct bin *bin);

/* Gives the bin's empty current slab back to the heap (purge, reset). */
void bin_release_empty(struct bin *bin, struct pageheap *heap);

/* Gives back the empty slabs beyond the bin's base budget that were not
 * used since the last call (the low-water mark of its empty list); arena
 * purges call it. */
void bin_trim_surplus(struct bin *bin, struct pageheap *heap);

/* Whether any bin of heap's arena keeps surplus slabs now (racy: a purge
 * that misses one a thread is adding trims it next time). */
INGOT_INLINE bool bins_have_surplus(struct pageheap *heap)
{
	return __atomic_load_n(&heap->bin_surplus_bytes, __ATOMIC_RELAXED) != 0;
}

/* Whether bins of the class keep a surplus (classes of 1 KiB and up). */
#define BIN_SURPLUS_MIN_SIZE 1024u
INGOT_INLINE bool bin_keeps_surplus(unsigned sizeclass)
{
	return sc_size[sizeclass] >= BIN_SURPLUS_MIN_SIZE;
}

/* For the background purger: when nothing was handed out from the bin
 * since the last call (*mark holds its count from then), gives its empty
 * slabs back to the heap. Returns true when it keeps some (still in use). */
bool bin_trim_idle(struct bin *bin, struct pageheap *heap, uint64_t *mark);

/* For arena.<i>.reset: the bin forgets every slab (their pages go back
 * through pageheap_free_all) and counts the objects it had out as freed.
 * For arena.<i>.destroy: clears the bin's cumulative counters. */
void bin_forget_slabs(struct bin *bin);
void bin_clear_counters(struct bin *bin);

/* Verifies the bin's slabs; returns NULL or the first broken invariant. */
const char *bin_check(struct bin *bin);

#endif
