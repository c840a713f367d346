/*
 * tcache_internal.h — what tcache.c and tcache_hardened.c share: the thread
 * cache layer's stacks, refills and general paths that the hardened paths
 * use, and the hardened paths that tcache.c's slow paths and flushes call.
 * Not for other layers (tcache.h is the layer's interface).
 */
#ifndef INGOT_TCACHE_INTERNAL_H
#define INGOT_TCACHE_INTERNAL_H

#include "tcache.h"

#define TCACHE_EVENT_ALLOCS 8192u /* cache hits between GC passes */
#define REMOTE_WAIT_MAX 256u      /* hardened: remote objects waiting to go home */

/* ---- tcache.c ---- */

/* Small object p on tc's stack cls, making room (stack_make_room) when it
 * is full; false when p goes home instead. */
bool tcache_stack_put(struct tcache *tc, unsigned cls, void *p);
/* Fills tc's empty stack cls from its arena's bin; an object or NULL. */
void *tcache_stack_refill(struct tcache *tc, unsigned cls);
/* A block of size bytes from arena a, no cache. */
void *tcache_alloc_uncached(struct arena *a, size_t size);
/* A large block of class cls from the cache, else straight from the arena;
 * NULL when the class is not cached or memory ran out. */
void *tcache_large_cached_alloc(struct tcache *tc, unsigned cls);
/* The cache's garbage pass: idle classes flushed and shrunk. */
void tcache_gc_pass(struct tcache *tc);
/* The large hits' misses: an empty stack's block from the arena, a full
 * stack's block to the arena's large cache. */
void *tcache_large_miss_alloc(struct tcache *tc, unsigned cls);
bool tcache_large_full_free(struct chunk *c, void *p, unsigned cls);
/* The general slow paths, which check and report everything. */
void *tcache_alloc_general(size_t size);
void tcache_free_general(void *p);

/* The class of a block of n pages (tcache.c, large_hit_boot). */
#define LARGE_HIT_PAGES 64u
extern uint8_t tcache_large_class_of_pages[LARGE_HIT_PAGES + 2]; /* the last: any more pages */

INGOT_INLINE unsigned large_hit_class(size_t pages)
{
	return tcache_large_class_of_pages[MIN(pages, LARGE_HIT_PAGES + 1)];
}

/* ---- tcache_hardened.c ---- */

/* Checked (hardened or hooked) malloc and free of a small object. */
void *tcache_checked_alloc(struct tcache *tc, size_t size);
void tcache_checked_free(struct tcache *tc, struct chunk *c, void *p, unsigned cls);
/* Every TCACHE_EVENT_ALLOCS checked mallocs: the garbage pass and decay. */
void tcache_checked_event(struct tcache *tc);
/* The hardened cache's quarantine and its remote objects waiting to go home,
 * sent home. */
void tcache_quarantine_flush(struct tcache *tc);
void tcache_remote_flush(struct tcache *tc);
/* The slow paths of a cache with the hardened fast paths (hardened_fast),
 * with the narrow and the wide vectors. */
void *tcache_hardened_alloc_slow(size_t size);
void *tcache_hardened_alloc_slow_wide(size_t size);
void tcache_hardened_free_slow(void *p);
void tcache_hardened_free_slow_wide(void *p);

INGOT_INLINE void checked_tick(struct tcache *tc)
{
	if (INGOT_UNLIKELY(--tc->checked_allocs_left == 0))
		tcache_checked_event(tc);
}

#endif
