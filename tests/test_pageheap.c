/*
 * test_pageheap.c — spans: best fit, coalescing, alignment, in-place resizing,
 * zeroing and purging.
 *
 * Each test works on the page heap of an arena of its own (arena_create), so
 * nothing else allocates from it and its layout is known: the first chunk is
 * carved from its start, span after span.
 */
#include "helpers.h"

#include "arena.h"
#include "ingot.h"
#include "pageheap.h"
#include "pagemap.h"

/* A page heap of an arena of its own, whose spans have no guard pages
 * (hardened builds turn them on; guard_pages_* tests them on their own). */
static struct pageheap *fresh_heap_guarded(bool guard_pages)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	pageheap_boot((size_t)sysconf(_SC_PAGESIZE), guard_pages);
	int index = arena_create();
	cr_assert_geq(index, 0, "arena_create failed");
	struct arena *a = arena_get((unsigned)index);
	cr_assert_not_null(a);
	cr_assert_eq(a->heap.npages_mapped, 0, "a new arena's heap has no chunks yet");
	return &a->heap;
}

static struct pageheap *fresh_heap(void) { return fresh_heap_guarded(false); }

static void assert_heap_ok(struct pageheap *heap, const char *when)
{
	const char *err = pageheap_check(heap);
	cr_assert_null(err, "%s: pageheap_check: %s", when, err);
}

static struct span *alloc_large(struct pageheap *heap, size_t npages)
{
	struct span *s = pageheap_alloc(heap, npages, PAGE, false, 0);
	cr_assert_not_null(s, "pageheap_alloc(%zu pages) failed", npages);
	cr_assert_eq(s->npages, npages);
	cr_assert_eq(s->state, SPAN_LARGE);
	cr_assert_eq(s->base & PAGE_MASK, 0);
	return s;
}

static size_t span_bytes(const struct span *s) { return (size_t)s->npages << LG_PAGE; }

/* The free span that starts at base, or NULL. */
static struct span *free_span_at(struct pageheap *heap, uintptr_t base)
{
	struct chunk *c = pagemap_lookup(base);
	if (!c)
		return NULL;
	struct span *s = span_of_addr(c, base);
	return s && s->state == SPAN_FREE && s->base == base && c->arena == heap->arena ? s : NULL;
}

/* Allocates A, B, C side by side with a guard D after them, frees A, B, C in
 * the given order and checks that they became one free span that a single
 * allocation of their total size gets back at A's address. */
static void coalesce_three(const char order[3])
{
	struct pageheap *heap = fresh_heap();
	const size_t np[3] = {4, 5, 6};
	struct span *s[3];
	uintptr_t base[3];
	for (int i = 0; i < 3; i++) {
		s[i] = alloc_large(heap, np[i]);
		base[i] = s[i]->base;
	}
	struct span *guard = alloc_large(heap, 3);
	cr_assert_eq(base[1], base[0] + np[0] * PAGE, "B is not right after A");
	cr_assert_eq(base[2], base[1] + np[1] * PAGE, "C is not right after B");
	cr_assert_eq(guard->base, base[2] + np[2] * PAGE, "D is not right after C");
	assert_heap_ok(heap, "after allocating A, B, C, D");

	for (int k = 0; k < 3; k++) {
		int i = order[k] - 'A';
		pageheap_free(heap, s[i]);
		char when[64];
		snprintf(when, sizeof(when), "after freeing %c", order[k]);
		assert_heap_ok(heap, when);
	}
	struct span *merged = free_span_at(heap, base[0]);
	cr_assert_not_null(merged, "no free span starts at A after freeing A, B, C");
	cr_assert_eq(merged->npages, np[0] + np[1] + np[2], "merged span has %u pages, want %zu",
	             merged->npages, np[0] + np[1] + np[2]);
	cr_assert_eq(heap->npages_active, guard->npages);

	struct span *abc = alloc_large(heap, np[0] + np[1] + np[2]);
	cr_assert_eq(abc->base, base[0], "A+B+C pages not given back at A's address");
	assert_heap_ok(heap, "after allocating A+B+C");
	pageheap_free(heap, abc);
	pageheap_free(heap, guard);
	assert_heap_ok(heap, "after freeing everything");
	cr_assert_eq(heap->npages_active, 0);
	cr_assert_not_null(free_span_at(heap, base[0]), "the chunk is not one free span again");
	cr_assert_eq(free_span_at(heap, base[0])->npages, CHUNK_PAGES);
}

Test(pageheap, coalesce_middle_then_left_then_right) { coalesce_three("BAC"); }
Test(pageheap, coalesce_left_then_right_then_middle) { coalesce_three("ACB"); }
Test(pageheap, coalesce_right_to_left) { coalesce_three("CBA"); }
Test(pageheap, coalesce_left_to_right) { coalesce_three("ABC"); }

Test(pageheap, best_fit_prefers_the_smallest_hole)
{
	struct pageheap *heap = fresh_heap();
	/* Holes of 8 and 3 pages separated by busy spans. */
	struct span *a = alloc_large(heap, 8);
	struct span *g1 = alloc_large(heap, 1);
	struct span *b = alloc_large(heap, 3);
	struct span *g2 = alloc_large(heap, 1);
	uintptr_t hole8 = a->base, hole3 = b->base;
	pageheap_free(heap, a);
	pageheap_free(heap, b);
	struct span *s = alloc_large(heap, 3);
	cr_assert_eq(s->base, hole3, "3 pages should come from the 3-page hole");
	struct span *t = alloc_large(heap, 2);
	cr_assert_eq(t->base, hole8, "2 pages should come from the 8-page hole");
	assert_heap_ok(heap, "after best-fit allocations");
	pageheap_free(heap, s);
	pageheap_free(heap, t);
	pageheap_free(heap, g1);
	pageheap_free(heap, g2);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, aligned_allocations)
{
	struct pageheap *heap = fresh_heap();
	const size_t aligns[] = {64 * KiB, 64 * KiB, 128 * KiB, 1 * MiB, 2 * MiB};
	struct span *spans[32];
	size_t n = 0, active = 0;
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		/* A one-page span first, so the next free page is misaligned. */
		spans[n] = alloc_large(heap, 1);
		active += spans[n++]->npages;
		struct span *s = pageheap_alloc(heap, 3, aligns[i], false, 0);
		cr_assert_not_null(s, "aligned allocation (%zu) failed", aligns[i]);
		cr_assert_eq(s->base % aligns[i], 0, "span at %#lx not aligned to %zu",
		             (unsigned long)s->base, aligns[i]);
		cr_assert_eq(s->npages, 3, "alignment padding must be given back, not kept");
		spans[n++] = s;
		active += 3;
		cr_assert_eq(heap->npages_active, active, "pages skipped for alignment stay free");
		assert_heap_ok(heap, "after an aligned allocation");
	}
	for (size_t i = 0; i < n; i++)
		pageheap_free(heap, spans[i]);
	assert_heap_ok(heap, "after freeing the aligned spans");
	cr_assert_eq(heap->npages_active, 0);
}

Test(pageheap, too_large_requests_fail)
{
	struct pageheap *heap = fresh_heap();
	cr_assert_null(pageheap_alloc(heap, CHUNK_PAGES + 1, PAGE, false, 0));
	cr_assert_null(pageheap_alloc(heap, CHUNK_PAGES, 2 * PAGE, false, 0),
	               "a whole chunk cannot also be padded for alignment");
	struct span *whole = pageheap_alloc(heap, CHUNK_PAGES, PAGE, false, 0);
	cr_assert_not_null(whole, "a whole chunk fits");
	pageheap_free(heap, whole);
	assert_heap_ok(heap, "after a whole-chunk span");
}

Test(pageheap, grow_in_place_into_a_free_neighbour)
{
	struct pageheap *heap = fresh_heap();
	struct span *s = alloc_large(heap, 8);
	uintptr_t base = s->base;
	/* Dirty the pages after s, then free them. */
	struct span *x = alloc_large(heap, 8);
	cr_assert_eq(x->base, base + 8 * PAGE);
	memset((void *)x->base, 0xab, span_bytes(x));
	pageheap_free(heap, x);
	memset((void *)s->base, 0x5c, span_bytes(s));

	cr_assert(pageheap_grow(heap, s, 16, true), "growing into free pages failed");
	cr_assert_eq(s->base, base, "grow moved the span");
	cr_assert_eq(s->npages, 16);
	size_t nz = first_nonzero((void *)(base + 8 * PAGE), 8 * PAGE);
	cr_assert_eq(nz, SIZE_MAX, "grown pages not zeroed (byte %zu)", nz);
	for (size_t i = 0; i < 8 * PAGE; i++)
		if (((uint8_t *)base)[i] != 0x5c)
			cr_assert_fail("grow changed the old contents at %zu", i);
	assert_heap_ok(heap, "after growing");
	cr_assert_eq(heap->npages_active, 16);

	/* A busy neighbour blocks growth and leaves the span as it was. */
	struct span *blocker = alloc_large(heap, 2);
	cr_assert_eq(blocker->base, base + 16 * PAGE);
	cr_assert_not(pageheap_grow(heap, s, 17, false), "grew over a busy span");
	cr_assert_eq(s->npages, 16);
	assert_heap_ok(heap, "after a refused grow");
	pageheap_free(heap, blocker);
	pageheap_free(heap, s);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, grow_fails_when_the_free_neighbour_is_too_small)
{
	struct pageheap *heap = fresh_heap();
	struct span *s = alloc_large(heap, 4);
	struct span *hole = alloc_large(heap, 2);
	struct span *g = alloc_large(heap, 1);
	pageheap_free(heap, hole);
	cr_assert_not(pageheap_grow(heap, s, 7, false), "grew past a 2-page hole");
	cr_assert_eq(s->npages, 4);
	cr_assert(pageheap_grow(heap, s, 6, false), "the 2-page hole should be enough for 6");
	cr_assert_eq(s->npages, 6);
	assert_heap_ok(heap, "after growing into the whole hole");
	pageheap_free(heap, s);
	pageheap_free(heap, g);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, shrink_in_place_frees_the_tail)
{
	struct pageheap *heap = fresh_heap();
	struct span *s = alloc_large(heap, 20);
	struct span *g = alloc_large(heap, 1);
	uintptr_t base = s->base;
	memset((void *)base, 0x77, span_bytes(s));
	pageheap_shrink(heap, s, 5);
	cr_assert_eq(s->base, base);
	cr_assert_eq(s->npages, 5);
	cr_assert_eq(heap->npages_active, 6);
	for (size_t i = 0; i < 5 * PAGE; i++)
		if (((uint8_t *)base)[i] != 0x77)
			cr_assert_fail("shrink changed the kept contents at %zu", i);
	struct span *tail = free_span_at(heap, base + 5 * PAGE);
	cr_assert_not_null(tail, "the cut-off tail is not a free span");
	cr_assert_eq(tail->npages, 15);
	assert_heap_ok(heap, "after shrinking");

	/* The tail serves the next fitting request, and s can grow back. */
	cr_assert(pageheap_grow(heap, s, 12, false));
	cr_assert_eq(s->npages, 12);
	assert_heap_ok(heap, "after growing back");
	pageheap_free(heap, s);
	pageheap_free(heap, g);
	assert_heap_ok(heap, "after freeing");
	cr_assert_eq(heap->npages_active, 0);
}

Test(pageheap, want_zero_clears_reused_dirty_pages)
{
	struct pageheap *heap = fresh_heap();
	pageheap_set_decay(heap, -1); /* keep freed pages dirty */
	struct span *s = alloc_large(heap, 6);
	uintptr_t base = s->base;
	memset((void *)base, 0xff, span_bytes(s));
	pageheap_free(heap, s);
	struct span *z = pageheap_alloc(heap, 6, PAGE, true, 0);
	cr_assert_not_null(z);
	cr_assert_eq(z->base, base, "the dirty pages should be reused");
	size_t nz = first_nonzero((void *)z->base, span_bytes(z));
	cr_assert_eq(nz, SIZE_MAX, "want_zero span has a non-zero byte at %zu", nz);
	pageheap_free(heap, z);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, slab_spans_mark_every_page)
{
	struct pageheap *heap = fresh_heap();
	unsigned cls = SC_NSMALL; /* the largest small class has the longest slabs */
	size_t np = sc_slab_pages[cls];
	struct span *s = pageheap_alloc(heap, np, PAGE, false, cls);
	cr_assert_not_null(s);
	cr_assert_eq(s->state, SPAN_SLAB);
	cr_assert_eq(s->sizeclass, cls);
	struct chunk *c = pagemap_lookup(s->base);
	cr_assert_not_null(c);
	for (size_t i = 0; i < np; i++) {
		uintptr_t page = s->base + i * PAGE;
		cr_assert_eq(c->class_of[chunk_page_index(page)], cls, "slab page %zu unmarked", i);
		cr_assert_eq(span_of_addr(c, page), s, "slab page %zu not mapped to its span", i);
	}
	uintptr_t base = s->base;
	pageheap_free(heap, s);
	for (size_t i = 0; i < np; i++)
		cr_assert_eq(c->class_of[chunk_page_index(base + i * PAGE)], 0,
		             "freed slab page %zu still has a class", i);
	assert_heap_ok(heap, "after freeing a slab");
}

Test(pageheap, forced_decay_purges_every_dirty_page)
{
	struct pageheap *heap = fresh_heap();
	pageheap_set_decay(heap, -1);
	struct span *s[4];
	for (int i = 0; i < 4; i++) {
		s[i] = alloc_large(heap, 16);
		memset((void *)s[i]->base, 0x11, span_bytes(s[i]));
	}
	for (int i = 0; i < 4; i += 2)
		pageheap_free(heap, s[i]);
	cr_assert_eq(heap->npages_dirty, 32, "freed pages are dirty until purged");
	uint64_t purged = heap->npurged;
	pageheap_decay(heap, false);
	cr_assert_eq(heap->npages_dirty, 32, "decay -1 never purges on its own");
	pageheap_decay(heap, true);
	cr_assert_eq(heap->npages_dirty, 0);
	cr_assert_eq(heap->npurged - purged, 32);
	assert_heap_ok(heap, "after a forced purge");
	pageheap_free(heap, s[1]);
	pageheap_free(heap, s[3]);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, decay_zero_purges_at_once)
{
	struct pageheap *heap = fresh_heap();
	pageheap_set_decay(heap, 0);
	struct span *s = alloc_large(heap, 16);
	struct span *g = alloc_large(heap, 1);
	memset((void *)s->base, 0x22, span_bytes(s));
	uintptr_t base = s->base;
	pageheap_free(heap, s);
	cr_assert_eq(heap->npages_dirty, 0, "decay 0 leaves no dirty pages");
	/* Purged pages read as zero again (MADV_DONTNEED on Linux). */
	size_t nz = first_nonzero((void *)base, 16 * PAGE);
	cr_assert_eq(nz, SIZE_MAX, "purged page still holds data at %zu", nz);
	pageheap_free(heap, g);
	assert_heap_ok(heap, "after freeing");
}

Test(pageheap, many_random_spans_keep_the_heap_consistent)
{
	struct pageheap *heap = fresh_heap();
	struct span *live[64] = {0};
	uint64_t rng = 12345;
	for (int step = 0; step < 20000; step++) {
		size_t i = rng_below(&rng, 64);
		if (live[i]) {
			pageheap_free(heap, live[i]);
			live[i] = NULL;
		} else {
			size_t np = 1 + rng_below(&rng, rng_below(&rng, 4) ? 16 : 300);
			size_t align = rng_below(&rng, 8) ? PAGE : PAGE << rng_below(&rng, 6);
			live[i] = pageheap_alloc(heap, np, align, false, 0);
			cr_assert_not_null(live[i]);
			cr_assert_eq(live[i]->base % align, 0);
			/* The first and last byte are ours: writing them must not
			 * disturb the heap. */
			((uint8_t *)live[i]->base)[0] = 1;
			((uint8_t *)live[i]->base)[span_bytes(live[i]) - 1] = 1;
		}
		if (step % 1000 == 0)
			assert_heap_ok(heap, "during random spans");
	}
	size_t active = 0;
	for (size_t i = 0; i < 64; i++)
		active += live[i] ? live[i]->npages : 0;
	cr_assert_eq(heap->npages_active, active);
	for (size_t i = 0; i < 64; i++)
		if (live[i])
			pageheap_free(heap, live[i]);
	assert_heap_ok(heap, "after freeing everything");
	cr_assert_eq(heap->npages_active, 0);
	cr_assert_eq(ingot_check(), 0);
}

/* Writes one byte; a fault ends the process with SIGSEGV even where a
 * sanitizer runtime would catch it. */
static void write_byte(void *arg)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	*(volatile uint8_t *)arg = 1;
}

Test(pageheap, guard_pages_follow_every_span)
{
	struct pageheap *heap = fresh_heap_guarded(true);
	struct span *s = pageheap_alloc(heap, 4, PAGE, false, 0);
	cr_assert_not_null(s);
	cr_assert_eq(span_usable_pages(s), 4, "a guarded span still has the pages asked for");
	cr_assert_eq(s->npages, 5, "the guard is one more page");
	if (s->guarded != 2)
		cr_skip_test("the OS cannot protect single pages here");
	uint8_t *base = (uint8_t *)s->base;
	cr_assert_eq(s->base & CHUNK_MASK, 0, "a fresh heap's first span starts its chunk");
	memset(base, 0x42, 4 * PAGE);
	struct child_result r;
	run_in_child(write_byte, base + 4 * PAGE, &r);
	cr_assert(!r.exited && r.status == SIGSEGV,
	          "writing the guard page did not fault (child %s %d)",
	          r.exited ? "exited with" : "died of signal", r.status);
	run_in_child(write_byte, base + 4 * PAGE - 1, &r);
	cr_assert(r.exited && r.status == 0, "the last usable byte is not writable");

	struct span *slab = pageheap_alloc(heap, 1, PAGE, false, 1);
	cr_assert_not_null(slab);
	cr_assert_eq(span_usable_pages(slab), 1);
	pageheap_free(heap, slab);
	pageheap_free(heap, s);
	assert_heap_ok(heap, "after freeing guarded spans");
	/* Freed guard pages are usable again once another span covers them. */
	pageheap_boot((size_t)sysconf(_SC_PAGESIZE), false);
	struct span *t = alloc_large(heap, 16);
	cr_assert_eq(t->base, (uintptr_t)base, "the new span should cover the old guard pages");
	memset((void *)t->base, 0x17, span_bytes(t));
	pageheap_free(heap, t);
	assert_heap_ok(heap, "after reusing the guard pages");
}
