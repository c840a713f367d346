/*
 * pagemap.h — from any address to ingot's record of it, in O(1).
 *
 * The address space is cut into CHUNK-sized, CHUNK-aligned slots. A two-level
 * radix table maps each slot to the struct chunk that owns it, or to nothing:
 * an address whose slot maps to nothing was never handed out by ingot
 * (foreign). Within a chunk, per-page arrays give the small size class of
 * the page (0 when the page holds no small objects) and the page's span.
 */
#ifndef INGOT_PAGEMAP_H
#define INGOT_PAGEMAP_H

#include "common.h"

struct span;
struct arena;

enum chunk_kind {
	CHUNK_KIND_PAGES = 1, /* carved into spans by an arena's page heap */
	CHUNK_KIND_HUGE = 2, /* one huge block in a mapping of its own */
};

/*
 * Invariants:
 *  - every slot in [base, base + size) maps to this record, and no other
 *    slot does;
 *  - class_of[i] != 0 exactly when page i belongs to a slab of that class;
 *  - CHUNK_KIND_PAGES: span_of[i] is the span holding page i for the first page
 *    of every span and for every page of a slab and the last page of a free
 *    span; NULL for pages no live span starts at (interior of large blocks).
 *  - CHUNK_KIND_HUGE: class_of is all zero and span_of is not allocated.
 */
struct chunk {
	uint8_t class_of[CHUNK_PAGES]; /* first: the free fast path reads it */
	uintptr_t base;                /* first byte, CHUNK-aligned */
	size_t size;                   /* bytes mapped */
	enum chunk_kind kind;
	struct arena *arena;           /* owner (stats; page heap for CHUNK_PAGES) */
	struct chunk *next;            /* arena's list of chunks of this kind */
	struct chunk *prev;
	size_t huge_usable;            /* CHUNK_KIND_HUGE: usable size; 0 when cached */
	uint64_t huge_freed_ns;        /* CHUNK_KIND_HUGE, cached: when it was freed */
	struct span *span_of[CHUNK_PAGES]; /* CHUNK_PAGES only */
};

#define HUGE_RECORD_SIZE offsetof(struct chunk, span_of)

/* Addresses the map covers: user addresses are below 2^48 on every 64-bit
 * target; 32-bit targets map all 2^32. A build may lower it when all of
 * ingot's memory lies lower (the region tests on a 64-bit host). The slot
 * bits are split about evenly between the root and the leaves (13 and 13
 * with 4 MiB chunks on 64-bit). */
#ifdef INGOT_PAGEMAP_BITS
#define PAGEMAP_BITS INGOT_PAGEMAP_BITS
#elif UINTPTR_MAX > 0xffffffffu
#define PAGEMAP_BITS 48
#else
#define PAGEMAP_BITS 32
#endif
#define PAGEMAP_LEAF_BITS ((PAGEMAP_BITS - LG_CHUNK + 1) / 2)
#define PAGEMAP_ROOT_BITS (PAGEMAP_BITS - LG_CHUNK - PAGEMAP_LEAF_BITS)

#define PAGEMAP_ROOT_LEN ((size_t)1 << PAGEMAP_ROOT_BITS)
#define PAGEMAP_LEAF_LEN ((size_t)1 << PAGEMAP_LEAF_BITS)

/*
 * The table holds offsets, not pointers, so that every entry of value 0
 * means "nothing here" and the whole table starts as zero memory: no
 * relocations at load time, and pages of it that hold only zeros are never
 * made resident. A root entry is a leaf's distance from empty_leaf (0: the
 * empty leaf); a leaf entry is a chunk record's distance from no_chunk (0:
 * no_chunk, a record with no pages and every class 0). So lookups need no
 * NULL test: the free fast path reads class 0 for a foreign address and
 * goes to the slow path, which reports it.
 */
struct pagemap {
	uintptr_t root[PAGEMAP_ROOT_LEN];
	uintptr_t empty_leaf[PAGEMAP_LEAF_LEN]; /* stays all zero */
	struct chunk no_chunk;                  /* stays all zero */
};
extern struct pagemap pagemap;

/* The chunk record of address p, or &pagemap.no_chunk when ingot never
 * mapped p's slot. */
INGOT_FAST struct chunk *pagemap_chunk(uintptr_t p)
{
	if (INGOT_UNLIKELY((uint64_t)p >> PAGEMAP_BITS))
		return &pagemap.no_chunk;
	uintptr_t leaf_offset =
	    __atomic_load_n(&pagemap.root[p >> (LG_CHUNK + PAGEMAP_LEAF_BITS)], __ATOMIC_ACQUIRE);
	const uintptr_t *leaf = (const uintptr_t *)((char *)pagemap.empty_leaf + leaf_offset);
	uintptr_t chunk_offset =
	    __atomic_load_n(&leaf[(p >> LG_CHUNK) & (PAGEMAP_LEAF_LEN - 1)], __ATOMIC_ACQUIRE);
	return (struct chunk *)((char *)&pagemap.no_chunk + chunk_offset);
}

/* The chunk record of p, or NULL for foreign addresses. */
INGOT_INLINE struct chunk *pagemap_lookup(uintptr_t p)
{
	struct chunk *c = pagemap_chunk(p);
	return c == &pagemap.no_chunk ? NULL : c;
}

INGOT_FAST size_t chunk_page_index(uintptr_t p) { return (p >> LG_PAGE) & (CHUNK_PAGES - 1); }

/* Maps every slot of [c->base, c->base + c->size) to c. Returns 0 or
 * INGOT_ENOMEM (no memory for a leaf; nothing was changed). */
int pagemap_register(struct chunk *c);

/* Maps the slots of [c->base, c->base + c->size) to nothing. */
void pagemap_unregister(struct chunk *c);

/* Calls fn for every chunk record reachable from the map (ingot_check). */
void pagemap_foreach(void (*fn)(struct chunk *c, uintptr_t slot, void *arg), void *arg);

void pagemap_fork_prepare(void);
void pagemap_fork_parent(void);
void pagemap_fork_child(void);

#endif
