/*
 * pagemap.h — from any address to ingot's record of it, in O(1).
 *
 * The address space is cut into CHUNK-sized, CHUNK-aligned pieces. A table
 * has an entry per piece: the struct chunk that owns it, or nothing;
 * an address whose entry holds nothing was never handed out by ingot
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
	CHUNK_KIND_GUARD = 3, /* the guard_sample pool (guard.c) */
};

/*
 * Invariants:
 *  - every entry in [base, base + size) maps to this record, and no other
 *    entry does;
 *  - class_of[i] != 0 exactly when page i belongs to a slab of that class;
 *  - CHUNK_KIND_PAGES: span_of[i] is the span holding page i for the first page
 *    of every span and for every page of a slab and the last page of a free
 *    span; NULL for pages no live span starts at (interior of large blocks).
 *  - CHUNK_KIND_HUGE and CHUNK_KIND_GUARD: class_of is all zero and span_of
 *    is not allocated.
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
	size_t huge_fresh_mark;        /* ... and its arena's heap.fresh_takes then */
	size_t huge_held_mark;         /* ... and the pages its heap held (huge.c) */
	/* CHUNK_KIND_HUGE, live, in a mapping bigger than the block (a reused
	 * cached one): in the arena's slack list since huge_slack_ns, until its
	 * pages past huge_usable are given back or used (huge.c). */
	struct chunk *slack_next, *slack_prev;
	uint64_t huge_slack_ns;
	bool huge_slack_listed;
	struct span *span_of[CHUNK_PAGES]; /* CHUNK_PAGES only */
};

#define HUGE_RECORD_SIZE offsetof(struct chunk, span_of)

/* Addresses the map covers: user addresses are below 2^47 on x86-64 (Linux,
 * Windows and the BSDs hand out nothing higher unless asked) and below 2^48
 * on other 64-bit targets; 32-bit targets map all 2^32. A build may set
 * another bound. With INGOT_PAGEMAP_RANGE (bare metal) the map covers only
 * the range arch_info reports, which saves memory a whole-space map would
 * cost there, at one subtraction per lookup. */
#ifdef INGOT_PAGEMAP_BITS
#define PAGEMAP_BITS INGOT_PAGEMAP_BITS
#elif UINTPTR_MAX <= 0xffffffffu
#define PAGEMAP_BITS 32
#elif defined(__x86_64__) || defined(_M_X64)
#define PAGEMAP_BITS 47
#else
#define PAGEMAP_BITS 48
#endif
#ifndef INGOT_PAGEMAP_RANGE
#define INGOT_PAGEMAP_RANGE 0
#endif

/*
 * One flat table with an entry per entry, so that a lookup is one load. On
 * 64-bit hosts the table is a large mapping of which only the pages that
 * hold entries of mapped chunks are ever touched (8 bytes of entry per
 * 4 MiB: one page of table covers 2 GiB).
 *
 * Entries hold offsets, not pointers: an entry is its chunk record's distance
 * from pagemap_no_chunk, a record with no pages and every class 0, so the
 * zero memory the table starts as means "nothing here" everywhere and lookups
 * need no NULL test. Until boot nentries is 0 and every lookup gives
 * pagemap_no_chunk.
 *
 * The free fast path needs only a page's small class, and a chain of two
 * dependent loads (entry, then class_of) was its slowest part. So a second
 * table, the class window, holds a copy of every class_of byte, one byte
 * per page, for 2^PAGEMAP_WINDOW_BITS bytes of address space around where
 * the OS puts ingot's mappings: the class of a page in the window is one
 * load at an address computed from the pointer alone. A byte per page of
 * the whole space would take 32 GiB of address space on x86-64; the
 * window takes 128 MiB, and pages outside it (a heap spread wider than
 * the window) take the chunk table's two loads. The copy is written with
 * class_of, only read by the fast paths (slow paths and hardened heaps
 * trust class_of), and ingot_check compares the two.
 */
#ifdef INGOT_PAGEMAP_WINDOW_BITS
#define PAGEMAP_WINDOW_BITS INGOT_PAGEMAP_WINDOW_BITS
#elif PAGEMAP_BITS <= 32
#define PAGEMAP_WINDOW_BITS PAGEMAP_BITS
#else
#define PAGEMAP_WINDOW_BITS 39 /* 512 GiB; 128 MiB of table with 4 KiB pages */
#endif

struct pagemap {
	uintptr_t *entries;      /* the table */
	uintptr_t nentries;      /* its length; 0 before boot */
	uintptr_t first_entry;  /* entry of entries[0]: 0 but with INGOT_PAGEMAP_RANGE */
	uintptr_t class_first; /* page number of the window's first page */
	uintptr_t class_npages; /* window length in pages; 0 before boot */
	uintptr_t class_bias;  /* address of page number 0's class byte (the
	                        * window table's address - class_first) */
	uint8_t *class_table;  /* the window table: class_first's byte first */
};
extern struct pagemap pagemap;
/* The record of every address ingot never mapped; stays all zero. A variable
 * of its own, not a field of pagemap: the shared libraries put zeroed
 * variables of 1 KiB or more after the small ones (tools/hot-sections.sh),
 * so pagemap's words, which boot writes, share a page with the others
 * instead of taking one of their own in every process. */
extern struct chunk pagemap_no_chunk;

/* The chunk record of address p, or &pagemap_no_chunk when ingot never
 * mapped p's entry. The table's place and length are read without atomics:
 * they are written once, at boot, and a thread holds ingot's addresses only
 * after boot, which it saw happen through whatever gave it the address. */
INGOT_FAST struct chunk *pagemap_chunk(uintptr_t p)
{
	uintptr_t entry = p >> LG_CHUNK;
	if (INGOT_PAGEMAP_RANGE)
		entry -= pagemap.first_entry;
	uintptr_t offset = 0;
	if (INGOT_LIKELY(entry < pagemap.nentries))
		offset = __atomic_load_n(&pagemap.entries[entry], __ATOMIC_ACQUIRE);
	return (struct chunk *)((char *)&pagemap_no_chunk + offset);
}

/* The chunk record of p, or NULL for foreign addresses. */
INGOT_INLINE struct chunk *pagemap_lookup(uintptr_t p)
{
	struct chunk *c = pagemap_chunk(p);
	return c == &pagemap_no_chunk ? NULL : c;
}

INGOT_FAST size_t chunk_page_index(uintptr_t p) { return (p >> LG_PAGE) & (CHUNK_PAGES - 1); }

/* Whether the class window covers the page of address p (never before
 * boot), and that page's byte in it. Two functions rather than one that
 * returns NULL outside: free's fast path would pay for the NULL test. */
INGOT_FAST bool pagemap_in_window(uintptr_t p)
{
	return (p >> LG_PAGE) - pagemap.class_first < pagemap.class_npages;
}

INGOT_FAST uint8_t *pagemap_window_at(uintptr_t p)
{
	return (uint8_t *)(pagemap.class_bias + (p >> LG_PAGE));
}

/* The small class of the page address p lies in; 0 for anything else. */
INGOT_FAST size_t pagemap_class(uintptr_t p)
{
	/* Relaxed: the class was written before p was handed out, and the
	 * thread holding p saw that through whatever gave it p. */
	/* The window's index of p's page serves both the range check and
	 * the load, one instruction less than the biased address. */
	uintptr_t index = (p >> LG_PAGE) - pagemap.class_first;
	if (INGOT_LIKELY(index < pagemap.class_npages))
		return __atomic_load_n(pagemap.class_table + index, __ATOMIC_RELAXED);
	/* The empty asm makes this rare path work from p afresh: keeping p's
	 * page number for it would cost the window path a register copy. */
	__asm__("" : "+r"(p));
	return pagemap_chunk(p)->class_of[chunk_page_index(p)];
}

/* Sets the class of c's pages [first, first + n) in class_of and the window:
 * one page inline (the slabs of the small classes), more in pagemap.c. */
void pagemap_set_class_run(struct chunk *c, size_t first, size_t n, unsigned cls);
INGOT_INLINE void pagemap_set_classes(struct chunk *c, size_t first, size_t n, unsigned cls)
{
	if (n != 1) {
		pagemap_set_class_run(c, first, n, cls);
		return;
	}
	c->class_of[first] = (uint8_t)cls;
	uintptr_t p = c->base + (first << LG_PAGE);
	if (pagemap_in_window(p))
		__atomic_store_n(pagemap_window_at(p), (uint8_t)cls, __ATOMIC_RELAXED);
}

/* The window's copy of the class of page address p; -1 outside the window
 * (ingot_check compares it with class_of). */
int pagemap_window_class(uintptr_t p);

/* Maps the table for the addresses info allows; 0 or ARCH_ENOMEM. */
struct arch_info;
int pagemap_boot(const struct arch_info *info);

/* Maps every entry of [c->base, c->base + c->size) to c. Returns 0 or
 * ARCH_ENOMEM (the range lies outside the map; nothing was changed). */
int pagemap_register(struct chunk *c);

/* Maps the entries of [c->base, c->base + c->size) to nothing. */
void pagemap_unregister(struct chunk *c);

/* Bytes of the tables' pages that registering chunks has written: their
 * entries' pages and the window pages of chunks of pages (stats count them as
 * metadata; the rest is address space only, never touched). With more than
 * a few dozen such pages, the span from the lowest registered entry's page to
 * the highest's, and the window's for the same addresses. */
size_t pagemap_table_bytes(void);

/* Calls fn for every chunk record reachable from the map (ingot_check). */
void pagemap_foreach(void (*fn)(struct chunk *c, uintptr_t entry, void *arg), void *arg);

void pagemap_fork_prepare(void);
void pagemap_fork_parent(void);
void pagemap_fork_child(void);

#endif
