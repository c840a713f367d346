/*
 * huge.h — what arena.c and huge.c share: the arena layer's huge blocks
 * (arena_alloc_huge in arena.h is their entry) and the arena functions
 * huge.c needs. Not for other layers.
 */
#ifndef INGOT_HUGE_H
#define INGOT_HUGE_H

#include "arena.h"

/* Adds v to a counter of the arena (a no-op with STATS=0). */
#define STAT_ADD(field, v) (void)(INGOT_STATS && __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED))

/* Fresh takes of its arena's page heap after which a cached huge mapping
 * goes back at the next huge free (huge.c, cache_grown_locked). */
#ifndef INGOT_HUGE_CACHE_SPELLS
#define INGOT_HUGE_CACHE_SPELLS 4
#endif
#define HUGE_CACHE_SPELLS ((size_t)(INGOT_HUGE_CACHE_SPELLS))

/* arena.c: every arena gives back what it can, before the one retry of a
 * mapping the OS refused. */
void arenas_reclaim(void);

/* Frees huge block c (checked by the caller); true when its mapping was
 * kept in the arena's cache, false when it was unmapped. */
bool huge_free(struct chunk *c);

/* Frees every live huge block of arena a (arena.<i>.reset). */
void huge_free_all(struct arena *a);

/* Resizes huge block c in place to size (page-rounded); returns its new
 * usable size, or 0 when it cannot stay where it is. */
size_t huge_resize(struct chunk *c, size_t size, bool zero);

/* Unmaps the cached mappings older than the decay time and gives back the
 * slack of live blocks (pages of a reused mapping past the block) as old
 * (all of both with force); and when the oldest left is due (UINT64_MAX:
 * none, or decay off). */
void huge_cache_decay(struct arena *a, bool force);
uint64_t huge_cache_deadline(struct arena *a);

/* The lock of the recycled records, around fork (after every arena lock). */
void huge_records_fork_prepare(void);
void huge_records_fork_release(bool child);

#endif
