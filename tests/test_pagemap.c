/*
 * test_pagemap.c — from any address to its chunk record.
 *
 * Every byte of every block ingot hands out (small, large, huge) resolves to
 * the chunk that holds it; addresses ingot never mapped resolve to nothing
 * (pagemap_lookup gives NULL, pagemap_chunk the empty record whose classes
 * are all 0), which is how free() recognises a foreign pointer.
 */
#include "helpers.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include "arena.h"
#include "ingot.h"
#include "pageheap.h"
#include "pagemap.h"

static const char static_data[4096] = "static data lives in the executable's image";

/* Checks that every byte of [p, p + size) maps to one chunk of the given kind
 * that covers it; returns that chunk. */
static struct chunk *assert_block_mapped(void *p, size_t size, enum chunk_kind kind)
{
	uintptr_t a = (uintptr_t)p;
	struct chunk *c = pagemap_lookup(a);
	cr_assert_not_null(c, "no chunk for block %p (%zu bytes)", p, size);
	cr_assert_eq(c->kind, kind, "block %p (%zu bytes): chunk kind %d, want %d", p, size,
	             (int)c->kind, (int)kind);
	cr_assert(c->base <= a && a + size <= c->base + c->size,
	          "block %p+%zu outside its chunk [%#lx, +%zu)", p, size, (unsigned long)c->base,
	          c->size);
	cr_assert_eq(c->base & CHUNK_MASK, 0, "chunk base not CHUNK-aligned");
	for (size_t off = 0; off < size; off++)
		if (pagemap_lookup(a + off) != c)
			cr_assert_fail("byte %zu of block %p (%zu bytes) maps elsewhere", off, p, size);
	return c;
}

/* Checks both views of an address ingot never handed out: the lookup says
 * NULL, and the fast-path record says "no small class" for its page. */
static void assert_foreign(uintptr_t a, const char *what)
{
	cr_assert_null(pagemap_lookup(a), "%s (%#lx) resolves to a chunk", what, (unsigned long)a);
	struct chunk *c = pagemap_chunk(a);
	cr_assert_not_null(c, "%s: pagemap_chunk must never give NULL", what);
	cr_assert_eq(c->class_of[chunk_page_index(a)], 0, "%s: foreign page has a class", what);
	cr_assert_eq(pagemap_class(a), 0, "%s: the fast path's class is not 0", what);
}

Test(pagemap, small_blocks_map_to_their_slab_chunk)
{
	for (unsigned c = 1; c <= SC_NSMALL; c++) {
		size_t size = sc_size[c] - 8; /* fits the class even with a canary */
		void *blocks[3];
		for (int i = 0; i < 3; i++) {
			blocks[i] = ingot_malloc(size);
			cr_assert_not_null(blocks[i]);
			uintptr_t a = (uintptr_t)blocks[i];
			size_t usable = ingot_malloc_usable_size(blocks[i]);
			struct chunk *ch = assert_block_mapped(blocks[i], usable, CHUNK_KIND_PAGES);
			unsigned cls = ch->class_of[chunk_page_index(a)];
			cr_assert_neq(cls, 0, "page of a %zu-byte block has no class", size);
			cr_assert(sc_size[cls] >= usable && sc_size[cls] < 2 * sc_size[c] + 16,
			          "a %zu-byte block (usable %zu) is in class %u of %u bytes", size, usable,
			          cls, sc_size[cls]);
			cr_assert_eq(ch->class_of[chunk_page_index(a + usable - 1)], cls,
			             "the last page of a %zu-byte block has another class", size);
			cr_assert_eq(pagemap_window_class(a), (int)cls,
			             "the class window has no copy, or another class, for a %zu-byte block",
			             size);
			cr_assert_eq(pagemap_class(a), cls);
			struct span *s = span_of_addr(ch, a);
			cr_assert_not_null(s);
			cr_assert_eq(s->state, SPAN_SLAB);
			cr_assert_eq(s->sizeclass, cls);
			cr_assert(s->base <= a && a + usable <= s->base + ((size_t)s->npages << LG_PAGE));
		}
		for (int i = 0; i < 3; i++)
			ingot_free(blocks[i]);
	}
}

Test(pagemap, large_blocks_map_to_their_chunk)
{
	const size_t sizes[] = {SC_SMALL_MAX + 1, 100 * KiB, 1 * MiB, SC_LARGE_MAX};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = ingot_malloc(sizes[i]);
		cr_assert_not_null(p);
		size_t usable = ingot_malloc_usable_size(p);
		struct chunk *c = assert_block_mapped(p, usable, CHUNK_KIND_PAGES);
		uintptr_t a = (uintptr_t)p;
		for (size_t off = 0; off < usable; off += PAGE) {
			cr_assert_eq(c->class_of[chunk_page_index(a + off)], 0,
			             "page %zu of a large block has a small class", off / PAGE);
			cr_assert_eq(pagemap_class(a + off), 0, "the fast path gives page %zu a class",
			             off / PAGE);
		}
		struct span *s = span_of_addr(c, a);
		cr_assert_not_null(s, "no span at the start of a large block");
		cr_assert_eq(s->state, SPAN_LARGE);
		cr_assert_eq(s->base, a);
		ingot_free(p);
	}
}

Test(pagemap, huge_blocks_map_to_their_own_chunk)
{
	const size_t sizes[] = {SC_LARGE_MAX + 1, 5 * MiB, 8 * MiB, 9 * MiB + 123};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = ingot_malloc(sizes[i]);
		cr_assert_not_null(p);
		size_t usable = ingot_malloc_usable_size(p);
		cr_assert_geq(usable, sizes[i]);
		struct chunk *c = assert_block_mapped(p, usable, CHUNK_KIND_HUGE);
		cr_assert_eq(c->base, (uintptr_t)p, "a huge block starts its mapping");
		ingot_free(p);
		/* The mapping may stay cached for reuse, but not as a live block. */
		struct chunk *after = pagemap_lookup((uintptr_t)p);
		cr_assert(after == NULL || arena_usable_size(after, p) == 0,
		          "a freed huge block still looks live");
	}
}

Test(pagemap, aligned_blocks_map_to_their_chunk)
{
	for (size_t align = 16; align <= 8 * MiB; align *= 2) {
		void *p = ingot_aligned_alloc(align, 3000);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % align, 0);
		size_t usable = ingot_malloc_usable_size(p);
		struct chunk *c = pagemap_lookup((uintptr_t)p);
		cr_assert_not_null(c, "no chunk for a block aligned to %zu", align);
		assert_block_mapped(p, usable, c->kind);
		ingot_free(p);
	}
}

Test(pagemap, foreign_addresses_map_to_nothing)
{
	/* Give ingot some chunks first so that the map is not empty. Only small
	 * and large blocks: their chunks fill whole CHUNK slots, so no foreign
	 * mapping can share a slot with them. */
	void *mine[8];
	for (int i = 0; i < 8; i++) {
		mine[i] = ingot_malloc(i % 2 ? 100 * KiB : 100);
		cr_assert_not_null(mine[i]);
	}
	int on_stack = 0;
	assert_foreign((uintptr_t)&on_stack, "stack address");
	assert_foreign((uintptr_t)static_data, "static data");
	assert_foreign((uintptr_t)&static_data[sizeof(static_data) - 1], "end of static data");
	assert_foreign((uintptr_t)&pagemap, "ingot's own static data");
	assert_foreign(0, "NULL");
	assert_foreign(1, "address 1");
	assert_foreign((uintptr_t)0xffff800000000000u, "kernel half");
	assert_foreign(UINTPTR_MAX, "top of the address space");
	assert_foreign((uintptr_t)1 << PAGEMAP_BITS, "just above the addresses the map covers");
	assert_foreign(((uintptr_t)1 << PAGEMAP_BITS) - 1, "last address the map covers");

	void *libc_small = malloc(100); /* this binary's malloc is libc's */
	void *libc_big = malloc(1 * MiB);
	assert_foreign((uintptr_t)libc_small, "libc heap block");
	assert_foreign((uintptr_t)libc_big, "libc mmap'd block");
	assert_foreign((uintptr_t)libc_big + MiB - 1, "end of libc mmap'd block");
	free(libc_small);
	free(libc_big);

	size_t len = 3 * MiB;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	for (size_t off = 0; off < len; off += PAGE)
		assert_foreign((uintptr_t)m + off, "mmap'd buffer");
	munmap(m, len);

	for (int i = 0; i < 8; i++)
		ingot_free(mine[i]);
}

Test(pagemap, the_class_window_covers_the_heap)
{
	/* The window is at least a chunk, and a heap of a few chunks lies in it:
	 * where the OS put the window is where it puts ingot's chunks. */
	void *p = ingot_malloc(100);
	cr_assert_geq(pagemap.class_npages, CHUNK_PAGES, "no class window was mapped");
	uintptr_t page = (uintptr_t)p >> LG_PAGE;
	cr_assert(page - pagemap.class_first < pagemap.class_npages,
	          "the first small block lies outside the class window");
	ingot_free(p);
}

Test(pagemap, classes_outside_the_window_come_from_the_chunk_table)
{
	/* Shrinking the window to nothing (this test's process only) puts every
	 * page outside it: the fast path must then read the chunk table, and
	 * blocks still go to and come back from the right bins. */
	ingot_free(ingot_malloc(1));
	__atomic_store_n(&pagemap.class_npages, 0, __ATOMIC_RELEASE);
	for (unsigned c = 1; c <= SC_NSMALL; c++) {
		void *blocks[64];
		for (int i = 0; i < 64; i++) {
			blocks[i] = ingot_malloc(sc_size[c]);
			cr_assert_not_null(blocks[i]);
			memset(blocks[i], (int)c, sc_size[c]);
			cr_assert_eq(pagemap_window_class((uintptr_t)blocks[i]), -1);
			cr_assert_eq(pagemap_class((uintptr_t)blocks[i]), c,
			             "a %u-byte block outside the window has class %zu", sc_size[c],
			             pagemap_class((uintptr_t)blocks[i]));
		}
		for (int i = 0; i < 64; i++)
			ingot_free(blocks[i]);
		/* The bin hands the newest back first: the class was right. */
		void *again = ingot_malloc(sc_size[c]);
		cr_assert_eq(again, blocks[63], "a %u-byte block did not go back to its bin",
		             sc_size[c]);
		ingot_free(again);
	}
	cr_assert_eq(ingot_check(), 0);
}

Test(pagemap, a_tight_address_space_gets_a_smaller_class_window)
{
	/* Before ingot starts: room for the chunk table and 64 MiB more, less
	 * than the full class window (128 MiB) takes. ingot must still start,
	 * with a window it could afford that leaves the heap room. */
	size_t table = ((size_t)1 << (PAGEMAP_BITS - LG_CHUNK)) * sizeof(uintptr_t);
	size_t limit = mapped_now() + table + 64 * MiB;
	struct rlimit rl = {limit, limit};
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
	void *p = ingot_malloc(100);
	cr_assert_not_null(p, "ingot did not start under the limit");
	uintptr_t full = (uintptr_t)1 << (PAGEMAP_WINDOW_BITS - LG_PAGE);
	cr_assert_lt(pagemap.class_npages, full, "a full window fitted under the limit");
	cr_assert_gt(pagemap.class_npages, 0, "no window at all, though a small one fits");
	cr_assert_eq(pagemap_window_class((uintptr_t)p), (int)pagemap_class((uintptr_t)p),
	             "the first block is not in the smaller window");
	void *more[8];
	for (int i = 0; i < 8; i++)
		cr_assert_not_null(more[i] = ingot_malloc(1 * MiB), "the heap has no room left");
	for (int i = 0; i < 8; i++)
		ingot_free(more[i]);
	ingot_free(p);
	cr_assert_eq(ingot_check(), 0);
}

Test(pagemap, check_reports_a_class_window_that_disagrees)
{
	/* The window is a copy the fast paths trust: a byte that differs from
	 * the chunk record (a stray write) is what ingot_check must find. */
	void *p = ingot_malloc(100);
	cr_assert_eq(ingot_check(), 0);
	uint8_t *copy = (uint8_t *)(pagemap.class_bias + ((uintptr_t)p >> LG_PAGE));
	uint8_t saved = *copy;
	*copy = (uint8_t)(saved + 1);
	cr_assert_neq(ingot_check(), 0, "ingot_check missed a corrupted class window byte");
	*copy = saved;
	cr_assert_eq(ingot_check(), 0);
	ingot_free(p);
}

Test(pagemap, the_table_pages_in_use_count_as_metadata)
{
	ingot_free(ingot_malloc(1));
	/* At least the page holding the first chunk's entry; never more than
	 * the table's pages that cover where ingot's chunks lie (they cluster
	 * in one part of the address space). */
	size_t bytes = pagemap_table_bytes();
	size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
	cr_assert_geq(bytes, os_page);
	cr_assert_eq(bytes % os_page, 0);
	cr_assert_leq(bytes, 64 * os_page, "%zu bytes of table for one small heap", bytes);
}

Test(pagemap, chunk_registration_is_reversible)
{
	/* A huge block's chunk record appears on allocation and, once its
	 * mapping is released (at once with decay 0), disappears again, for
	 * every slot it covers. */
	ingot_free(ingot_malloc(1));
	for (unsigned i = 0; i < narenas_total; i++)
		pageheap_set_decay(&arena_get(i)->heap, 0);
	void *p = ingot_malloc(12 * MiB + 1);
	cr_assert_not_null(p);
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	cr_assert_not_null(c);
	size_t size = c->size;
	for (uintptr_t a = (uintptr_t)p; a < (uintptr_t)p + size; a += CHUNK)
		cr_assert_eq(pagemap_lookup(a), c);
	ingot_free(p);
	for (uintptr_t a = (uintptr_t)p; a < (uintptr_t)p + size; a += CHUNK)
		cr_assert_null(pagemap_lookup(a), "slot %#lx still mapped after free", (unsigned long)a);
	cr_assert_eq(ingot_check(), 0);
}

Test(pagemap, far_huge_blocks_add_only_the_table_pages_they_write)
{
	/* Huge blocks spread the registered entries over 1 GiB of addresses,
	 * but write only their own entries (2 KiB here) and no class window
	 * bytes: the table's count grows by those pages, not by the 256 KiB of
	 * window that lies between them and the heap, untouched. */
	ingot_free(ingot_malloc(1));
	size_t before = pagemap_table_bytes();
	void *blocks[4];
	for (int i = 0; i < 4; i++) {
		blocks[i] = ingot_malloc(256 * MiB);
		cr_assert_not_null(blocks[i]);
	}
	size_t grown = pagemap_table_bytes() - before;
	size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
	cr_assert_leq(grown, 4 * os_page, "1 GiB of huge blocks added %zu bytes of table", grown);
	for (int i = 0; i < 4; i++)
		ingot_free(blocks[i]);
}
