/*
 * check.c — ingot_check(): the heap's invariants, executed.
 *
 * Walks every arena (bins, slabs, page heap free lists and dirty list),
 * every chunk page by page (spans must tile it exactly and the page map
 * must agree with each span), every huge block, the page map itself, and
 * the calling thread's cache. Reports the first broken invariant.
 */
#include "arch.h"
#include "ingot.h"
#include "arena.h"
#include "boot.h"
#include "guard.h"
#include "prof.h"
#include "report.h"
#include "tcache.h"

/* Whether the window's copy may give page p large class copy: p starts a
 * large block of that class, live or in its arena's large cache, which a
 * thread cache's large hit kept (arena_large_window_set). */
static bool window_large_block(uintptr_t p, int copy)
{
	struct chunk *c = pagemap_chunk(p);
	struct span *s = c->kind == CHUNK_KIND_PAGES ? span_of_addr(c, p) : NULL;
	return copy > SC_NSMALL && s && s->state == SPAN_LARGE && s->base == p &&
	       sizeclass_of(span_usable_pages(s) << LG_PAGE) == (unsigned)copy;
}

/* The class window's copy of page p's class is cls (or p is outside, or a
 * live heap-profile sample hides the page from the free fast path, or p
 * starts a large block the free fast path may take). */
static bool window_agrees(uintptr_t p, unsigned cls)
{
	int copy = pagemap_window_class(p);
	return copy < 0 || (unsigned)copy == cls || (copy == 0 && prof_has_live() && prof_page_hidden(p)) ||
	       (cls == 0 && window_large_block(p, copy));
}

/* The class window agrees with classes[0..npages) (all 0 when classes is
 * NULL) for the pages from base on. Where the whole range is inside the
 * window, its bytes are read in a row and only a mismatch takes the full
 * per-page test (a hidden profile sample); was the full test on every
 * page, a third of what a check cost. */
static bool window_range_agrees(uintptr_t base, const uint8_t *classes, size_t npages)
{
	uintptr_t last = base + ((npages - 1) << LG_PAGE);
	if (!pagemap_in_window(base) || !pagemap_in_window(last)) {
		for (size_t j = 0; j < npages; j++)
			if (!window_agrees(base + (j << LG_PAGE), classes ? classes[j] : 0))
				return false;
		return true;
	}
	const uint8_t *copy = pagemap_window_at(base);
	for (size_t j = 0; j < npages; j++) {
		unsigned cls = classes ? classes[j] : 0;
		if (__atomic_load_n(&copy[j], __ATOMIC_RELAXED) != cls &&
		    !window_agrees(base + (j << LG_PAGE), cls))
			return false;
	}
	return true;
}

/* Spans must tile the chunk: each starts where the previous ended, and the
 * page map knows each span's pages. Caller holds the heap's lock. */
static const char *chunk_check(struct chunk *c, struct arena *a)
{
	if (c->kind != CHUNK_KIND_PAGES || c->arena != a || (c->base & CHUNK_MASK))
		return "chunk record of the wrong kind, arena or alignment";
	if (pagemap_chunk(c->base) != c)
		return "page map does not lead to a chunk of its arena";
	for (size_t i = 0; i < CHUNK_PAGES;) {
		struct span *s = c->span_of[i];
		if (!s || s->chunk != c || s->base != c->base + (i << LG_PAGE) || s->npages == 0 ||
		    i + s->npages > CHUNK_PAGES)
			return "spans do not tile their chunk (gap, overlap or stray record)";
		for (size_t j = i; j < i + s->npages; j++) {
			bool slab = s->state == SPAN_SLAB && j < i + span_usable_pages(s);
			if (c->class_of[j] != (slab ? s->sizeclass : 0))
				return "page class byte disagrees with its span";
			if (s->state == SPAN_SLAB && c->span_of[j] != s)
				return "slab page not mapped to its slab";
		}
		i += s->npages;
	}
	if (!window_range_agrees(c->base, c->class_of, CHUNK_PAGES))
		return "class window disagrees with the chunk's class byte";
	return NULL;
}

static const char *huge_check(struct arena *a)
{
	const char *err = NULL;
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c && !err; c = c->next)
		if (c->kind != CHUNK_KIND_HUGE || c->arena != a || c->huge_usable != 0 ||
		    pagemap_chunk(c->base) != c)
			err = "cached huge mapping of the wrong kind, arena or state";
	for (struct chunk *c = a->huge_list; c && !err; c = c->next) {
		if (c->kind != CHUNK_KIND_HUGE || c->arena != a || c->huge_usable > c->size ||
		    c->huge_usable == 0)
			err = "huge record of the wrong kind or size";
		else
			for (uintptr_t s = c->base; s < c->base + c->size && !err; s += CHUNK)
				if (pagemap_chunk(s) != c)
					err = "page map does not lead to a huge block";
		if (!err && !window_range_agrees(c->base, NULL, c->size >> LG_PAGE))
			err = "class window gives a huge block's page a small class";
	}
	size_t slack = 0;
	for (struct chunk *c = a->huge_slack; c && !err; c = c->slack_next) {
		if (!c->huge_slack_listed || c->huge_usable == 0 || c->huge_usable >= c->size ||
		    c->arena != a || (c->slack_next && c->slack_next->slack_prev != c))
			err = "huge slack list holds a block without slack or is broken";
		slack += c->size - c->huge_usable;
	}
	if (!err && slack != a->huge_slack_bytes)
		err = "huge slack list's byte count disagrees with its blocks";
	arch_lock_release(&a->huge_lock);
	return err;
}

static const char *arena_walk(struct arena *a)
{
	const char *err = arena_check(a);
	if (err)
		return err;
	arch_lock_acquire(&a->heap.lock);
	for (struct chunk *c = a->heap.chunks; c && !err; c = c->next)
		err = chunk_check(c, a);
	arch_lock_release(&a->heap.lock);
	return err ? err : huge_check(a);
}

/* A huge block's record changes range while the walk runs (moved or grown
 * by its owner, or reused for another block once its entries are gone):
 * its range is read atomically, after the writer cleared the old entries,
 * and an entry that no longer leads to c by then is not c's to check. */
static void entry_check(struct chunk *c, uintptr_t entry, void *arg)
{
	const char **err = arg;
	uintptr_t base = __atomic_load_n(&c->base, __ATOMIC_ACQUIRE);
	size_t size = __atomic_load_n(&c->size, __ATOMIC_ACQUIRE);
	if (!*err && (entry < ALIGN_DOWN(base, CHUNK) || entry >= base + size) &&
	    pagemap_chunk(entry) == c)
		*err = "page map entry points at a chunk that does not cover it";
}

INGOT_EXPORT int ingot_check(void)
{
	ingot_ensure_booted();
	const char *err = NULL;
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n && !err; i++)
		err = arena_walk(arenas[i]);
	if (!err)
		pagemap_foreach(entry_check, &err);
	if (!err)
		err = tcache_check_all();
	if (!err)
		err = guard_check();
	if (!err)
		return 0;
	char buf[160];
	struct line l = {buf, sizeof(buf), 0};
	line_str(&l, "ingot_check: ");
	line_str(&l, err);
	line_char(&l, '\n');
	arch_write_err(buf, l.len);
	return -1;
}
