/*
 * pageheap.h — spans of whole pages carved from chunks.
 *
 * Each arena has one page heap. It maps chunks from the OS, hands out spans
 * (runs of pages) by best fit, coalesces freed spans with free neighbours,
 * and remembers which free pages are dirty (touched since they were last
 * given back). Dirty pages older than the decay time are returned to the OS
 * (purged); a decay time of 0 purges at once, -1 never.
 *
 * All functions take the heap's lock themselves except where noted.
 */
#ifndef INGOT_PAGEHEAP_H
#define INGOT_PAGEHEAP_H

#include "common.h"
#include "pagemap.h"
#include "sizeclass.h"
#include "arch.h"

enum span_state {
	SPAN_FREE = 1,  /* in the heap's free lists */
	SPAN_SLAB = 2,  /* objects of one small class; owned by a bin */
	SPAN_LARGE = 3, /* one large block */
};

#define SLAB_BITMAP_WORDS (SC_MAX_NREGS / 64)

/* A slab is a span, and spans live in one chunk. */
_Static_assert(SC_SLAB_PAGES_MAX <= CHUNK_PAGES,
               "INGOT_LG_CHUNK too small for the largest slab at this INGOT_LG_PAGE");

/*
 * A run of pages in one chunk. Records live in metadata memory (base.h),
 * never next to user data.
 * Invariants:
 *  - base is page-aligned, npages >= 1, the run lies inside chunk;
 *  - FREE: linked in exactly one size list of its heap; in the dirty list
 *    iff ndirty > 0; zeroed implies ndirty == 0; no FREE neighbour (they
 *    would have been coalesced);
 *  - SLAB: nfree == number of set bits in free_bits among the first
 *    sc_nregs[sizeclass]; linked in its bin's nonfull list iff 0 < nfree and
 *    it is not the bin's current slab;
 *  - LARGE: usable == npages * PAGE (alignment trims are given back);
 *    large_cached: freed, and held by its arena's large cache (arena.c).
 */
struct span {
	uintptr_t base;
	uint32_t npages;
	uint8_t state;      /* enum span_state */
	uint8_t sizeclass;  /* SLAB: its class; otherwise 0 */
	uint8_t guarded;    /* last page is a guard: 1 reserved, 2 also protected */
	bool zeroed;        /* FREE: every page reads as zero */
	uint16_t nfree;     /* SLAB: free objects */
	bool large_cached;  /* LARGE: freed, and held by its arena's large cache */
	union {
		uint32_t ndirty; /* FREE: pages that may be dirty (beside nfree,
		                  * so that the record takes 192 bytes, not 256) */
		/* SLAB: nfree when bin_give_back_free_pages last looked at
		 * it since it was last its bin's current (bin.c). */
		uint32_t nfree_given_back;
	};
	struct chunk *chunk;
	struct span *next;  /* FREE: size list; SLAB: bin's nonfull list */
	struct span *prev;
	union {
		/* FREE: the dirty list, in the order spans joined it. */
		struct span *dirty_next;
		/* LARGE and large_cached (written by the arena layer under its
		 * large cache's lock): when it was cached. */
		uint64_t cached_ns;
		/* SLAB (written by its bin): the heap's fresh_takes when the
		 * slab came to its bin empty (bin.c, slab_may_wait). */
		size_t fresh_mark;
	};
	union {
		struct span *dirty_prev; /* FREE */
		/* SLAB: bit p set when page p went back to the OS with no
		 * object in use (bin_give_back_free_pages) since the slab was
		 * last its bin's current (bin.c). */
		uint64_t pages_given_back;
	};
	union {
		/* SLAB spans only: 1 = free object (in the slab). */
		uint64_t free_bits[SLAB_BITMAP_WORDS];
		struct {
			/* FREE, in the dirty list: when it joined (the heap's
			 * clock, so the list is oldest first). */
			uint64_t dirty_ns;
			/* FREE, in a guarded heap: its first pages are
			 * inaccessible, at least min(this, npages) of them. Set
			 * by free_locked; a merge keeps the left span's, a split
			 * the first part's, and the rest starts at 0 (a fresh
			 * record's), so it never claims a page a fresh chunk or
			 * an unguarded free left accessible. */
			uint32_t ninaccessible;
		};
	};
};

/* Metadata per slab: base_alloc rounds records to 64 bytes. */
_Static_assert(sizeof(struct span) <= 192, "struct span outgrew three cache lines");

/* Pages of a span that hold data (all but a guard page). */
INGOT_INLINE size_t span_usable_pages(const struct span *s)
{
	return s->npages - (s->guarded ? 1u : 0u);
}

#define PAGEHEAP_LISTS (CHUNK_PAGES + 1) /* list i holds spans of i pages */
#define DECAY_STEPS 64 /* the decay time in steps, for the backlog */

struct pageheap {
	/* First, so that its last entry (a fresh chunk's free rest) shares a
	 * page with the fields below and with the arena's (arena.h); the
	 * middle of the table stays untouched in a small program. */
	struct span *lists[PAGEHEAP_LISTS];
	arch_lock_t lock;
	struct arena *arena;
	uint64_t nonempty[PAGEHEAP_LISTS / 64 + 1]; /* bit i: lists[i] != NULL */
	struct span *dirty_head, *dirty_tail;
	struct span *spare_records; /* recycled span records */
	struct chunk *chunks;       /* every CHUNK_PAGES chunk of this heap */
	struct chunk *spare_chunks; /* records of chunks given back */
	int64_t decay_ms;
	uint64_t next_decay_ns;
	/* Pages freed in each of the last DECAY_STEPS steps of the decay time
	 * (a ring; decay_epoch is the step of the last entry). The allowance
	 * counts freed pages by when they were freed, whether they have been
	 * purged or reused since, so that purging some does not shrink what the
	 * others may keep: dirty memory falls linearly over the decay time. */
	uint32_t decay_backlog[DECAY_STEPS];
	uint64_t decay_epoch;
	uint64_t now_ns;      /* last clock reading (heap_now) */
	/* Whole free chunks kept dirty past the decay allowance's reach, and
	 * whether one was given back early since the last miss (pageheap.c). */
	unsigned spare_max;
	bool spare_purged;
	uint64_t spare_since_ns;
	unsigned clock_calls;
	/* Counters in pages, under lock. */
	size_t npages_mapped, npages_active, npages_dirty;
	uint64_t npurged, npurge_calls;
	struct pageheap *next_heap; /* every heap, for pageheap_pressure */
	/* Bytes of empty slabs the arena's bins keep beyond their base
	 * budgets, all bins together (bin.c; atomic: each bin under its own
	 * lock). */
	size_t bin_surplus_bytes;
	/* Allocations that took pages not resident (never touched, or
	 * purged): resident memory grew. Read without the lock by the bins
	 * (bin.c: an empty slab goes back rather than wait while it grows). */
	size_t fresh_takes;
	/* Called, with no lock of the heap's held, after an allocation that
	 * mapped a new chunk: the heap's footprint grew (NULL: nothing to do). */
	void (*grew)(struct pageheap *heap);
};

/* Records the OS page size: purges are rounded inwards to it, since the OS
 * can only give back whole OS pages (which may be larger than PAGE). */
void pageheap_boot(size_t os_page_size, bool guard_pages);

/* The span (live or free) whose pages hold address p, or NULL. For the
 * fault handler: reads the page map without locks (a fault on one of
 * ingot's pages means the program used it, live or not), and faults on
 * nothing itself. */
struct span *pageheap_span_covering(uintptr_t p);

/* Whether p lies on s's inaccessible guard page. */
bool pageheap_on_guard(const struct span *s, uintptr_t p);

/* Gives the whole OS pages inside [start, end) back to the OS; true when the
 * whole range now reads as zero. */
bool pageheap_purge_range(uintptr_t start, uintptr_t end);

void pageheap_init(struct pageheap *heap, struct arena *arena, int64_t decay_ms);

/* A span of npages pages whose base is aligned to align (a power of two,
 * at least PAGE), or NULL when the OS refuses memory. With want_zero the
 * pages read as zero. sizeclass 0 makes a LARGE span; any other value a
 * SLAB span of that class, with every page marked in the page map. With
 * guard pages on, the span has one more page, made inaccessible. */
struct span *pageheap_alloc(struct pageheap *heap, size_t npages, size_t align, bool want_zero,
                            unsigned sizeclass);

/* Gives a SLAB or LARGE span back; it is coalesced and becomes dirty. */
void pageheap_free(struct pageheap *heap, struct span *span);

/* Gives a LARGE span back whose pages have waited past the decay time
 * elsewhere (the arena's large cache): they go back to the OS first and
 * join the heap clean. */
void pageheap_free_purged(struct pageheap *heap, struct span *span);

/* Frees every SLAB and LARGE span of the heap (arena.<i>.reset), calling
 * large_freed(ctx, s) before each LARGE one goes. The bins must have
 * forgotten their slabs first. */
void pageheap_free_all(struct pageheap *heap, void (*large_freed)(void *ctx, const struct span *s),
                       void *ctx);

/* Clears the purge counters (arena.<i>.destroy). */
void pageheap_clear_counters(struct pageheap *heap);

/* Splits a LARGE span in place, keeping its first npages usable pages (and
 * a guarded span's guard page past them) and freeing the rest. */
void pageheap_shrink(struct pageheap *heap, struct span *span, size_t npages);

/* Grows a LARGE span in place to npages usable pages (a guarded span's
 * guard page moves past them) if the pages after it are free; returns
 * false otherwise. With want_zero the new pages read zero. */
bool pageheap_grow(struct pageheap *heap, struct span *span, size_t npages, bool want_zero);

/* Purges dirty pages older than the decay time (all of them with force). */
void pageheap_decay(struct pageheap *heap, bool force);
void pageheap_set_decay(struct pageheap *heap, int64_t decay_ms);

/* When pageheap_decay should run next for the background purger: when the
 * decay allowance will have fallen by an eighth of the dirty pages (at
 * least a few pages), at most one decay time from now; UINT64_MAX when
 * nothing is dirty or decay is off (-1; 0 never leaves pages dirty). */
uint64_t pageheap_decay_deadline(struct pageheap *heap, uint64_t now);

/* Past the soft limit (osmem_over_soft): every heap purges all its dirty
 * pages and unmaps its wholly free chunks. Takes each heap's lock in turn;
 * the caller may hold a bin lock but no heap lock. */
void pageheap_pressure(void);

/* Unmaps every chunk that is one free span, for callers the OS refused
 * memory (where address space or memory is scarce, as in one bare-metal
 * region). Returns the number of chunks given back. */
size_t pageheap_release_empty(struct pageheap *heap);

/* The span that page of address p belongs to as its first page (or any
 * page of a slab), or NULL. */
INGOT_INLINE struct span *span_of_addr(struct chunk *c, uintptr_t p)
{
	return c->span_of[chunk_page_index(p)];
}

/* Whether p is the start of an object of slab s (of class cls); if so,
 * *slot is its index. Interior and misaligned pointers answer false. */
INGOT_INLINE bool slab_slot_of(const struct span *s, unsigned cls, const void *p, unsigned *slot)
{
	size_t offset = (uintptr_t)p - s->base;
	*slot = sizeclass_slot(cls, offset);
	return *slot < sc_nregs[cls] && (size_t)*slot * sc_size[cls] == offset;
}

/* Verifies the heap's invariants; returns NULL or a description of the
 * first broken one. Takes the lock. */
const char *pageheap_check(struct pageheap *heap);

void pageheap_fork_prepare(struct pageheap *heap);
void pageheap_fork_parent(struct pageheap *heap);
void pageheap_fork_child(struct pageheap *heap);

#endif
