/*
 * arena.h — a set of bins plus a page heap, and the large and huge blocks
 * served from them.
 *
 * Threads are spread over arenas round-robin so that they rarely share a
 * bin lock. Arenas 0..narenas_auto-1 are created at start; more can be made
 * on request (arenas.create). Every block's chunk names its arena, so a
 * block always goes back to the arena it came from, whichever thread frees it.
 */
#ifndef INGOT_ARENA_H
#define INGOT_ARENA_H

#include "bin.h"
#include "common.h"
#include "pageheap.h"
#include "sizeclass.h"

/* At most 4096, MALLCTL_ARENAS_ALL: indices stay below it. Several static
 * tables have this many entries, so small-footprint builds lower it. */
#ifndef INGOT_ARENAS_MAX
#define INGOT_ARENAS_MAX 4096
#endif
#define ARENAS_MAX INGOT_ARENAS_MAX
_Static_assert(ARENAS_MAX >= 2 && ARENAS_MAX <= 4096, "INGOT_ARENAS_MAX must be in [2, 4096]");

/* Large classes: those after the small ones in the size-class table. */
#define SC_NLARGE (SC_NCLASSES - SC_NSMALL)

/* The large class (0 .. SC_NLARGE-1) of a large span of usable bytes. */
static inline unsigned arena_lextent_of(size_t usable)
{
	unsigned cls = sizeclass_of(usable);
	return cls > SC_NSMALL ? cls - SC_NSMALL - 1 : 0;
}

/* Spells of growth of its page heap a cached large block may sit through
 * unused before it goes back (arena.c, large_cache_grown_before). */
#define LARGE_CACHE_SPELLS 8

struct arena {
	/* Laid out for a small program's pages: the page heap, whose table of
	 * free lists ends with those a fresh chunk's free rest goes on (the
	 * last ARENA_HOT_LISTS), then the fields every arena writes, the
	 * arrays of large classes, and the bins, smallest classes first. An
	 * arena starts where those last lists begin a page (arena_new), so a
	 * program that uses a few small classes and a few large blocks writes
	 * one page of it; the background purger's marks come last. */
	struct pageheap heap;
	unsigned index;
	unsigned nthreads;          /* threads whose cache points here */
	uint64_t created_ns;        /* arch_now_ns() when made or remade, atomic */
	bool destroyed;             /* by arena.<i>.destroy, until reused; atomic */
	/* Huge blocks, under huge_lock: live ones, freed mappings kept for
	 * reuse (huge_usable == 0; newest first) until decay or the byte bound
	 * drops them, and the live ones whose mapping has pages past the block
	 * that may be dirty (slack, newest first) until decay gives them back. */
	arch_lock_t huge_lock;
	struct chunk *huge_list;
	struct chunk *huge_cached;
	struct chunk *huge_slack;
	size_t huge_cached_bytes, huge_slack_bytes;
	/* Guarded heaps: the ranges of freed huge blocks whose pages moved to a
	 * cached mapping, kept mapped, empty and inaccessible (newest first;
	 * huge.c) until decay or the byte bound unmaps them. */
	struct chunk *huge_freed;
	size_t huge_freed_bytes;
	/* Freed large blocks of up to LARGE_CACHE_SIZE_MAX bytes kept whole,
	 * one stack per large class (large_cached, below; newest on top,
	 * linked by next), up to LARGE_CACHE_BYTES, until decay: a block of a
	 * class freed a moment ago serves the next one without the page heap
	 * (arena.c). */
	arch_lock_t large_cache_lock;
	size_t large_cached_bytes;
	uint64_t large_cache_decay_ns; /* when a put next decays the cache */
	/* Large and huge counters (bytes and calls), through __atomic builtins;
	 * large blocks also per large class (lextent_*, below;
	 * arenas.lextent.<j>; page runs of smaller sizes count in the first, as
	 * jemalloc rounds them up to it). */
	uint64_t large_nmalloc, large_ndalloc;
	size_t large_allocated, huge_allocated, huge_mapped;
	/* The dirty pages past which a free wakes the background purger
	 * (SIZE_MAX: no wake until its next pass; through __atomic builtins). */
	size_t purger_wake_dirty;
	struct span *large_cached[SC_NLARGE];
	uint64_t lextent_nmalloc[SC_NLARGE], lextent_ndalloc[SC_NLARGE];
	struct bin bins[SC_NSMALL + 1];
	/* The background purger's: each bin's nmalloc at its last pass. */
	uint64_t idle_marks[SC_NSMALL + 1];
	/* The large cache's: the heap's fresh_takes when a put last looked
	 * (__atomic builtins), and when the last LARGE_CACHE_SPELLS puts that
	 * saw it move looked, a ring, next the oldest (under the cache's lock;
	 * arena.c, large_cache_grown_before). Last: placed before bins, they
	 * moved the bins' offsets and cost tcache_free_slow a register save,
	 * 1.3 instructions a pair of pair-8k-64k. */
	size_t large_cache_fresh_mark;
	uint64_t large_cache_grew_ns[LARGE_CACHE_SPELLS];
	unsigned large_cache_grew_next;
	/* The large cache's clock: the last reading and the puts counted
	 * towards the next (__atomic builtins; arena.c, large_cache_clock). */
	unsigned large_cache_clock_puts;
	uint64_t large_cache_now_ns;
};

extern struct arena *arenas[ARENAS_MAX];
extern unsigned narenas_total;        /* arenas created so far */
extern unsigned narenas_auto;          /* arenas threads are spread over */

/* Creates the automatic arenas. Returns 0 or ARCH_ENOMEM. */
int arenas_boot(unsigned count, int64_t decay_ms);

/* Creates one more arena; returns its index, or -1 when out of memory or
 * indices. */
int arena_create(void);

/* The next automatic arena for a new thread. */
struct arena *arena_choose(void);

/* Bins of the small classes above ARENA_PAIRED_BIN_MIN are shared by pairs
 * of automatic arenas: the thread caches of arena 2k+1 take those classes'
 * objects from arena 2k's bins (arena_bin_home), and their blocks are not
 * remote to either. Their slabs are 12 to 36 KiB of 4 to 23 objects, so
 * each arena's partly used slabs of each class held more than sharing
 * their locks costs: stress-t2 (blocks of 16..4096 bytes, two threads on
 * arenas 0 and 1) peaked at 11.6 MiB, 9.9 with the pairs sharing (one
 * bench run, both libraries, 5 rounds), and ran no slower. Pairing the
 * classes above 256 bytes as well took 0.1-0.2 MiB off batch-16-1k-t2 and
 * larson-t2 but made them and churn-t2 6-11% slower in the same run (two
 * threads refilling and flushing the same bins at once). Pairs, not all
 * arenas, so that a bin's lock is shared by two arenas' threads however
 * many CPUs there are. Off in hardened heaps (their quarantine sends blocks
 * of other arenas home) and with one automatic arena. Automatic arenas are
 * made at start-up, so arenas[] needs no atomic load here. */
#define ARENA_PAIRED_BIN_MIN 1024u
extern bool arena_bins_paired;

/* The arena whose bins serve the paired classes of arena a's caches: the
 * first of its pair, or a itself. */
static inline struct arena *arena_pair_home(struct arena *a)
{
	if (!arena_bins_paired || a->index >= narenas_auto)
		return a;
	return arenas[a->index & ~1u];
}

/* The arena whose bin of small class cls serves the caches of arena a. */
static inline struct arena *arena_bin_home(struct arena *a, unsigned cls)
{
	return sc_size[cls] <= ARENA_PAIRED_BIN_MIN ? a : arena_pair_home(a);
}

/* Largest block served from an arena's page heap: the largest size class,
 * or the chunk when chunks are smaller (small-footprint builds). Larger
 * blocks are huge. Both are powers of two, so this is a size class too. */
#define ARENA_LARGE_MAX MIN((size_t)SC_LARGE_MAX, CHUNK)

/* Any arena by index, or NULL. */
static inline struct arena *arena_get(unsigned index)
{
	return index < ARENAS_MAX ? __atomic_load_n(&arenas[index], __ATOMIC_ACQUIRE) : NULL;
}

/* Sets up bin cls (bin_init) unless another thread just did. */
void arena_bin_init(struct bin *bin, unsigned cls);

/* Bin cls of arena a, set up on first use: arena_new leaves every bin zero,
 * so that a program writes the bins of the classes it uses and no others
 * (53 bins of 128 bytes, two pages), and fork locks only the bins set up.
 * For the paths that take slabs; a bin with objects out was set up by
 * them. */
INGOT_INLINE struct bin *arena_bin(struct arena *a, unsigned cls)
{
	struct bin *bin = &a->bins[cls];
	if (INGOT_UNLIKELY(__atomic_load_n(&bin->sizeclass, __ATOMIC_ACQUIRE) == 0))
		arena_bin_init(bin, cls);
	return bin;
}

/* Whether bin cls of arena a was ever set up (it holds nothing if not). */
INGOT_INLINE bool arena_bin_used(const struct arena *a, unsigned cls)
{
	return __atomic_load_n(&a->bins[cls].sizeclass, __ATOMIC_ACQUIRE) != 0;
}

/* One small object without a thread cache. */
void *arena_alloc_small(struct arena *a, unsigned cls, bool zero);

/* A large block (SC_SMALL_MAX < usable <= ARENA_LARGE_MAX, or smaller sizes
 * needing alignment above PAGE) or a huge one (anything larger). */
void *arena_alloc_large(struct arena *a, size_t usable, size_t align, bool zero);
void *arena_alloc_huge(struct arena *a, size_t size, size_t align, bool zero);

/* A block of usable bytes (from arena_large_usable, or page-rounded for
 * alignments above PAGE) aligned to align (at least PAGE): large when it
 * fits a page run, huge otherwise. The one place that decides. */
void *arena_alloc_big(struct arena *a, size_t usable, size_t align, bool zero);

/* Frees any block given its chunk record; the caller has checked that p is
 * inside c. Small objects go straight to their bin. */
void arena_free(struct chunk *c, void *p);

/* arena_free of large block p, which carries the thread caches' freed
 * mark (tcache.h): its class window byte stays while it is cached. */
void arena_free_large_marked(struct chunk *c, void *p);

/* Sets the class window's byte of large block p's first page to cls: the
 * free fast path then pushes p on the stack of large class cls as it does
 * a small object, marking it freed (tcache.c's large hits set it for the
 * blocks they keep; 0 sends a free to the slow path, as for every other
 * large block). The byte stays while the block waits in the arena's large
 * cache after arena_free_large_marked (a second free finds the mark and
 * is reported); every other free, a resize, a reset, a general path's
 * allocation and the block's way back to the page heap put it back to 0,
 * so only whole blocks of the class ever reach a stack through it. */
INGOT_INLINE void arena_large_window_set(const void *p, unsigned cls)
{
	if (pagemap_in_window((uintptr_t)p))
		__atomic_store_n(pagemap_window_at((uintptr_t)p), (uint8_t)cls, __ATOMIC_RELAXED);
}

/* Frees n small objects of class cls (thread cache flush); each goes to the
 * bin of the arena that owns its slab. */
void arena_free_batch(unsigned cls, void **objs, unsigned n);

/* Usable size of live block p in chunk c, or 0 when p is not the start of a
 * live large or huge block or of an object of a slab (whether a small
 * object is live is not checked). */
size_t arena_usable_size(struct chunk *c, const void *p);

/* Resizes a large or huge block in place; returns its new usable size, or 0
 * when it cannot stay where it is. */
size_t arena_resize_in_place(struct chunk *c, void *p, size_t size, bool zero);

/* Moves huge block c, which could not grow in place, to a fresh range of
 * size bytes (page-rounded; more than its mapping) with its pages: nothing
 * is copied and the new tail takes the pages of cached mappings where
 * there are some (zero: fresh ones). Returns the block's new address, or
 * NULL with the block untouched where the back end or the limits refuse
 * (realloc then copies). */
void *arena_move_huge(struct chunk *c, size_t size, bool zero);

/* Usable size a large request gets (page-rounded class; huge: pages). */
size_t arena_large_usable(size_t size);

/* Purges every dirty page of an arena now (force) or as decay allows. */
void arena_purge(struct arena *a, bool force);

/* Decay time new arenas start with (arenas.dirty_decay_ms). */
int64_t arena_default_decay(void);
void arena_set_default_decay(int64_t decay_ms);

/* Frees every block of arena a at once (arena.<i>.reset): large and huge
 * blocks, and every slab with whatever it holds. Only for arenas made by
 * arena_create, and only when no thread uses or will use a pointer into
 * the arena: objects of it in any thread cache must have been flushed
 * first (jemalloc's rule for arena.<i>.reset). */
void arena_reset(struct arena *a);

/* After arena_reset (and after reading the counters to keep, for
 * arena.<i>.destroy): purges all of the arena's pages and clears its
 * counters, so that the record can serve a later arena of the same index.
 * The chunks stay mapped but purged: retained, as jemalloc retains virtual
 * memory. */
void arena_destroy(struct arena *a);

/* Destroyed state (arena.<i>.destroy marks an arena; arenas.create reuses
 * the lowest destroyed index first). arena_destroyed is false for indices
 * that name no arena. arena_revive returns the index of a destroyed arena
 * made live again (its clock and decay time restarted), or -1 when none. */
bool arena_destroyed(unsigned index);
void arena_set_destroyed(struct arena *a);
int arena_revive(void);

/* One pass of the background purger over arena a at time now: bins idle
 * since the last pass give their empty slabs back, then dirty pages and
 * cached huge mappings decay. Returns when decay needs the next pass
 * (UINT64_MAX: not before something is freed), and sets *bins_busy when
 * bins in use keep empty slabs (a later pass may find them idle). Sets the
 * arena's wake mark: a free that leaves more dirty pages than the pass
 * planned for (any at all when it left none) calls arena_purger_wake.
 * Takes only the arena's own locks. */
uint64_t arena_background_pass(struct arena *a, uint64_t now, bool *bins_busy);

/* Set while the background purger (background.c) is on: called by a free
 * that passed arena a's wake mark, with no lock held. An upcall across the
 * layer order, as ingot_boot is. */
extern void (*arena_purger_wake)(struct arena *a);

const char *arena_check(struct arena *a);

void arenas_fork_prepare(void);
void arenas_fork_parent(void);
void arenas_fork_child(void);

#endif
