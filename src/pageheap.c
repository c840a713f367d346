/*
 * pageheap.c — span allocation, coalescing and decay.
 *
 * Call tree:
 *   pageheap_alloc -> fit_find -> (chunk_add when nothing fits)
 *                  -> span_take (split off head and tail remainders)
 *                  -> purge_for_fresh_take (when it took fresh pages)
 *   pageheap_free  -> coalesce -> free_insert -> decay_maybe -> span_purge
 */
#include "pageheap.h"

#include "base.h"
#include "osmem.h"

/* ---- span records -------------------------------------------------------- */

static struct span *record_get(struct pageheap *heap)
{
	struct span *s = heap->spare_records;
	if (s) {
		heap->spare_records = s->next;
		ingot_memset(s, 0, sizeof(*s));
		return s;
	}
	return base_alloc(sizeof(struct span));
}

static void record_put(struct pageheap *heap, struct span *s)
{
	s->state = 0;
	s->next = heap->spare_records;
	heap->spare_records = s;
}

static size_t span_last_page(const struct span *s)
{
	return chunk_page_index(s->base) + s->npages - 1;
}

/* Page-map entries of a span's first and last page (enough for large and
 * free spans: lookups by block start, coalescing by neighbour). */
static void boundary_set(struct span *s, struct span *value)
{
	s->chunk->span_of[chunk_page_index(s->base)] = value;
	s->chunk->span_of[span_last_page(s)] = value;
}

static void slab_map(struct span *span, unsigned sizeclass)
{
	size_t first = chunk_page_index(span->base);
	for (size_t i = first; i < first + span->npages; i++)
		span->chunk->span_of[i] = span;
	/* A guard page keeps class 0: a pointer into it is not an object. */
	pagemap_set_classes(span->chunk, first, span_usable_pages(span), sizeclass);
}

static uintptr_t guard_page(const struct span *s)
{
	return s->base + ((size_t)(s->npages - 1) << LG_PAGE);
}

struct span *pageheap_span_covering(uintptr_t p)
{
	struct chunk *c = pagemap_lookup(p);
	if (!c || c->kind != CHUNK_KIND_PAGES)
		return NULL;
	size_t page = chunk_page_index(p);
	/* The nearest page at or before p's that a span's record is kept for
	 * (pages inside a large block or a free run have none). */
	for (size_t i = page + 1; i-- > 0;) {
		struct span *s = c->span_of[i];
		if (s)
			return page < chunk_page_index(s->base) + s->npages ? s : NULL;
	}
	return NULL;
}

bool pageheap_on_guard(const struct span *s, uintptr_t p)
{
	return s->guarded == 2 && guard_page(s) >> LG_PAGE == p >> LG_PAGE;
}

static void slab_unmap(struct span *s)
{
	size_t first = chunk_page_index(s->base);
	s->pages_given_back = 0; /* the word is dirty_prev again */
	for (size_t i = first; i < first + s->npages; i++)
		s->chunk->span_of[i] = NULL;
	pagemap_set_classes(s->chunk, first, s->npages, 0);
}

/* ---- free lists ---------------------------------------------------------- */

static void dirty_link(struct pageheap *heap, struct span *s)
{
	s->dirty_ns = heap->now_ns;
	s->dirty_next = NULL;
	s->dirty_prev = heap->dirty_tail;
	if (heap->dirty_tail)
		heap->dirty_tail->dirty_next = s;
	else
		heap->dirty_head = s;
	heap->dirty_tail = s;
}

static void dirty_unlink(struct pageheap *heap, struct span *s)
{
	if (s->dirty_prev)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		heap->dirty_head = s->dirty_next;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s->dirty_prev;
	else
		heap->dirty_tail = s->dirty_prev;
	s->dirty_next = s->dirty_prev = NULL;
}

static void free_insert(struct pageheap *heap, struct span *s)
{
	ingot_assert(s->npages >= 1 && s->npages <= CHUNK_PAGES);
	s->state = SPAN_FREE;
	s->sizeclass = 0;
	s->prev = NULL;
	s->next = heap->lists[s->npages];
	if (s->next)
		s->next->prev = s;
	heap->lists[s->npages] = s;
	heap->nonempty[s->npages / 64] |= (uint64_t)1 << (s->npages % 64);
	if (s->ndirty)
		dirty_link(heap, s);
	boundary_set(s, s);
}

static void free_remove(struct pageheap *heap, struct span *s)
{
	ingot_assert(s->state == SPAN_FREE);
	if (s->prev)
		s->prev->next = s->next;
	else
		heap->lists[s->npages] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!heap->lists[s->npages])
		heap->nonempty[s->npages / 64] &= ~((uint64_t)1 << (s->npages % 64));
	if (s->ndirty)
		dirty_unlink(heap, s);
	s->next = s->prev = NULL;
	boundary_set(s, NULL);
}

/* Smallest free span of at least npages pages, or NULL. */
static struct span *fit_find(struct pageheap *heap, size_t npages)
{
	size_t word = npages / 64;
	uint64_t bits = heap->nonempty[word] & (~(uint64_t)0 << (npages % 64));
	while (!bits) {
		if (++word >= ARRAY_LEN(heap->nonempty))
			return NULL;
		bits = heap->nonempty[word];
	}
	size_t list = word * 64 + (size_t)__builtin_ctzll(bits);
	return list < PAGEHEAP_LISTS ? heap->lists[list] : NULL;
}

/* ---- chunks -------------------------------------------------------------- */

static struct chunk *chunk_record_get(struct pageheap *heap)
{
	struct chunk *c = heap->spare_chunks;
	if (!c)
		return base_alloc(sizeof(struct chunk));
	heap->spare_chunks = c->next;
	ingot_memset(c, 0, sizeof(*c));
	return c;
}

static struct span *chunk_add(struct pageheap *heap)
{
	struct chunk *c = chunk_record_get(heap);
	struct span *s = record_get(heap);
	void *mem;
	if (!c || !s || osmem_map(CHUNK, CHUNK, OSMEM_HEAP, &mem) != 0)
		goto fail;
	c->base = (uintptr_t)mem;
	c->size = CHUNK;
	c->kind = CHUNK_KIND_PAGES;
	c->arena = heap->arena;
	if (pagemap_register(c) != 0) {
		osmem_unmap(mem, CHUNK, OSMEM_HEAP);
		goto fail;
	}
	c->next = heap->chunks;
	heap->chunks = c;
	heap->npages_mapped += CHUNK_PAGES;
	s->base = c->base;
	s->npages = CHUNK_PAGES;
	s->chunk = c;
	s->zeroed = true;
	free_insert(heap, s);
	return s;
fail:
	/* Both records are kept for the next try: a program that runs out of
	 * memory may keep trying, and must not eat its metadata doing so. */
	if (c) {
		c->next = heap->spare_chunks;
		heap->spare_chunks = c;
	}
	if (s)
		record_put(heap, s);
	return NULL;
}

/* ---- split, take, coalesce ---------------------------------------------- */

/* Cuts the first npages pages off free-list-less span s; returns the rest
 * as a new record (not linked anywhere), or NULL when no record can be had. */
static struct span *span_split(struct pageheap *heap, struct span *s, size_t npages)
{
	struct span *rest = record_get(heap);
	if (!rest)
		return NULL;
	rest->base = s->base + npages * PAGE;
	rest->npages = s->npages - (uint32_t)npages;
	rest->chunk = s->chunk;
	rest->zeroed = s->zeroed;
	/* Dirty pages are not tracked one by one; the count moves with the
	 * pages in order, so the total stays exact. */
	rest->ndirty = s->ndirty > npages ? s->ndirty - (uint32_t)npages : 0;
	rest->ndirty = MIN(rest->ndirty, rest->npages);
	s->ndirty -= rest->ndirty;
	s->npages = (uint32_t)npages;
	return rest;
}

/* Free span s, split off the front of a bigger one, claims no more of
 * the bigger one's inaccessible pages than its own (see the record): a
 * merge keeps its count. Out of line: inlined, it cost span_take a
 * register, and the default heaps' flood loop 0.1 instructions a pair. */
static __attribute__((noinline, cold)) void inaccessible_clamp(struct span *s)
{
	s->ninaccessible = MIN(s->ninaccessible, s->npages);
}

/* Takes npages aligned pages out of free span s, giving any head and tail
 * back to the free lists. Returns the taken span or NULL (no records). */
static struct span *span_take(struct pageheap *heap, struct span *s, size_t npages, size_t align)
{
	free_remove(heap, s);
	size_t head = (ALIGN_UP(s->base, align) - s->base) >> LG_PAGE;
	if (head) {
		struct span *rest = span_split(heap, s, head);
		if (!rest) {
			free_insert(heap, s);
			return NULL;
		}
		free_insert(heap, s);
		inaccessible_clamp(s);
		s = rest;
	}
	if (s->npages > npages) {
		struct span *tail = span_split(heap, s, npages);
		if (!tail) {
			free_insert(heap, s);
			return NULL;
		}
		free_insert(heap, tail);
	}
	heap->npages_dirty -= s->ndirty;
	heap->npages_active += s->npages;
	return s;
}

/* Grows span first over span next, which directly follows it. */
static void span_absorb(struct pageheap *heap, struct span *first, struct span *next)
{
	first->npages += next->npages;
	first->ndirty += next->ndirty;
	first->zeroed = first->zeroed && next->zeroed;
	record_put(heap, next);
}

/* Merges s with any free neighbour in its chunk; returns the merged span. */
static struct span *coalesce(struct pageheap *heap, struct span *s)
{
	size_t first = chunk_page_index(s->base);
	size_t last = span_last_page(s);
	if (first > 0) {
		struct span *left = s->chunk->span_of[first - 1];
		if (left && left->state == SPAN_FREE) {
			free_remove(heap, left);
			span_absorb(heap, left, s);
			s = left;
		}
	}
	if (last + 1 < CHUNK_PAGES) {
		struct span *right = s->chunk->span_of[last + 1];
		if (right && right->state == SPAN_FREE) {
			free_remove(heap, right);
			span_absorb(heap, s, right);
		}
	}
	return s;
}

/* ---- spare chunks ------------------------------------------------------ */

/* A free that leaves a whole chunk free gives it back at once, whatever
 * the decay time allows, when the heap already keeps spare_max whole
 * chunks dirty (as jemalloc purges a coalesced extent past its
 * oversize_threshold): a program that frees most of its heap hands it back
 * as the frees return. A program that frees a batch and allocates it
 * again would fault every page back in; when an allocation takes clean
 * pages after such a purge, spare_max doubles, and it halves again after
 * a decay time without that. Decay -1 (never purge) keeps them all. */
#define SPARE_MAX_LIMIT 4096u /* chunks */

static bool chunk_spare_over(const struct pageheap *heap, const struct span *s)
{
	if (heap->decay_ms <= 0 || s->npages != CHUNK_PAGES || !s->ndirty)
		return false;
	unsigned kept = 0;
	for (const struct span *o = heap->lists[CHUNK_PAGES]; o; o = o->next)
		if (o != s && o->ndirty && ++kept >= heap->spare_max)
			return true;
	return false;
}

/* s, about to be handed out of a whole free chunk (from_whole), has clean
 * pages: if whole chunks were given back early since the last time, they
 * were needed. Only a whole chunk's pages count: clean pages elsewhere
 * are those that purge_for_fresh_take gave back (memreturn: counted too,
 * they doubled spare_max until no whole chunk went back, 47 -> 290 MiB). */
static void spare_note_take(struct pageheap *heap, const struct span *s, bool from_whole, uint64_t now)
{
	if (heap->spare_purged && from_whole && s->ndirty < s->npages) {
		heap->spare_max = MIN(heap->spare_max * 2, SPARE_MAX_LIMIT);
		heap->spare_purged = false;
		heap->spare_since_ns = now;
	}
}

static void spare_calm(struct pageheap *heap, uint64_t now, uint64_t window)
{
	if (heap->spare_max > 1 && now - heap->spare_since_ns > window) {
		heap->spare_max /= 2;
		heap->spare_since_ns = now;
	}
}

/* ---- purge and decay ----------------------------------------------------- */

static size_t os_page = PAGE;
static bool guards;
static uint8_t guarded_new; /* a new span's guarded: 2 in guarded heaps */
static bool freed_protected; /* some free pages were made inaccessible */

void pageheap_boot(size_t os_page_size, bool guard_pages)
{
	os_page = MAX(os_page_size, PAGE);
	guards = guard_pages;
	guarded_new = guard_pages ? 2 : 0;
}

bool pageheap_purge_range(uintptr_t start, uintptr_t end)
{
	uintptr_t first = ALIGN_UP(start, os_page), last = ALIGN_DOWN(end, os_page);
	bool zeroed = false;
	if (first < last)
		arch_purge((void *)first, last - first, &zeroed);
	/* Pages outside the OS pages given back keep their data. */
	return zeroed && first == start && last == end;
}

static void span_purge(struct pageheap *heap, struct span *s)
{
	bool zeroed = pageheap_purge_range(s->base, s->base + ((size_t)s->npages << LG_PAGE));
	dirty_unlink(heap, s);
	heap->npages_dirty -= s->ndirty;
	heap->npurged += s->ndirty;
	heap->npurge_calls++;
	s->ndirty = 0;
	s->zeroed = zeroed;
}

/* ---- the backlog ---- */

static uint64_t decay_step_ns(const struct pageheap *heap)
{
	return MAX((uint64_t)heap->decay_ms * 1000000u / DECAY_STEPS, 1u);
}

/* Moves the backlog on to now's step, forgetting steps older than the
 * decay time. decay_ms > 0. */
static void backlog_advance(struct pageheap *heap, uint64_t now)
{
	uint64_t epoch = now / decay_step_ns(heap);
	if (epoch <= heap->decay_epoch)
		return;
	uint64_t gap = MIN(epoch - heap->decay_epoch, (uint64_t)DECAY_STEPS);
	for (uint64_t i = 1; i <= gap; i++)
		heap->decay_backlog[(heap->decay_epoch + i) % DECAY_STEPS] = 0;
	heap->decay_epoch = epoch;
}

static void backlog_add(struct pageheap *heap, uint64_t now, size_t pages)
{
	if (heap->decay_ms <= 0)
		return;
	backlog_advance(heap, now);
	uint32_t *step = &heap->decay_backlog[heap->decay_epoch % DECAY_STEPS];
	*step = (uint32_t)MIN((uint64_t)*step + pages, UINT32_MAX);
}

/* Pages allowed to stay dirty now: pages freed k steps ago count for the
 * part of the decay time they have left, (DECAY_STEPS - k) / DECAY_STEPS. */
static size_t decay_allowance(struct pageheap *heap, uint64_t now)
{
	backlog_advance(heap, now);
	uint64_t allowed = 0;
	for (unsigned k = 0; k < DECAY_STEPS; k++) {
		uint32_t pages = heap->decay_backlog[(heap->decay_epoch - k) % DECAY_STEPS];
		allowed += (uint64_t)pages * (DECAY_STEPS - k) / DECAY_STEPS;
	}
	return (size_t)allowed;
}

/* Pages freed within the decay time: the allowance falls by this many per
 * decay time. */
static size_t backlog_pages(struct pageheap *heap, uint64_t now)
{
	backlog_advance(heap, now);
	size_t pages = 0;
	for (unsigned k = 0; k < DECAY_STEPS; k++)
		pages += heap->decay_backlog[k];
	return pages;
}

/* Purges the oldest dirty spans until the allowance is met (or all of
 * them with force). */
static void decay_locked(struct pageheap *heap, uint64_t now, bool force)
{
	if (!heap->dirty_head || (!force && (heap->decay_ms < 0 || now < heap->next_decay_ns)))
		return;
	uint64_t window = heap->decay_ms < 0 ? 0 : (uint64_t)heap->decay_ms * 1000000u;
	size_t allowed = force || window == 0 ? 0 : decay_allowance(heap, now);
	while (heap->dirty_head && heap->npages_dirty > allowed)
		span_purge(heap, heap->dirty_head);
	/* Look again after a fiftieth of the decay time. */
	heap->next_decay_ns = now + window / 50;
	spare_calm(heap, now, window);
}

/* Dirty pages that joined the dirty list less than this part of the decay
 * time ago stay when fresh pages are taken (purge_for_fresh_take): a
 * program that frees a batch and allocates it again reuses them. 1/16:
 * 1/64 also took realloc-str's and frag's peaks down (-2.2, -4.4 MiB) but
 * cost realloc-str 40% more page faults and realloc-array 12%; 1/4 left
 * realloc-array's peak 4 MiB lower only. */
#define FRESH_TAKE_AGE_DIV 16u

/* An allocation took `fresh` pages that were not resident (never touched,
 * or purged), so resident memory grows by them, while the heap holds
 * dirty pages that did not fit it (other sizes, other places): the oldest
 * of those, if older than the decay time / FRESH_TAKE_AGE_DIV, go back
 * now, as many pages as were taken fresh, rather than when the decay time
 * runs out. Resident memory then follows what is in use, not what was in
 * use a second ago: realloc-array's arrays, freed as they double, left
 * 78 MiB dirty at its peak (261 MiB peak RSS; 243 with this, page faults
 * unchanged). Decay -1 keeps dirty pages; decay 0 has none. */
static __attribute__((noinline)) void purge_old_dirty(struct pageheap *heap, size_t fresh)
{
	if (heap->decay_ms <= 0)
		return;
	uint64_t young = (uint64_t)heap->decay_ms * (1000000u / FRESH_TAKE_AGE_DIV);
	while (fresh > 0 && heap->dirty_head && heap->now_ns - heap->dirty_head->dirty_ns >= young) {
		size_t pages = heap->dirty_head->ndirty;
		span_purge(heap, heap->dirty_head);
		fresh -= MIN(fresh, pages);
	}
}

/* Inline: most takes are of dirty pages, or find none dirty (flood-64
 * took 0.2 instructions more a pair for the call). */
static inline void purge_for_fresh_take(struct pageheap *heap, size_t fresh)
{
	if (fresh == 0)
		return;
	__atomic_store_n(&heap->fresh_takes, heap->fresh_takes + 1, __ATOMIC_RELAXED);
	if (heap->dirty_head)
		purge_old_dirty(heap, fresh);
}

void pageheap_decay(struct pageheap *heap, bool force)
{
	uint64_t now = arch_now_ns();
	arch_lock_acquire(&heap->lock);
	heap->now_ns = now; /* frees after a quiet spell get a fresh time */
	decay_locked(heap, now, force);
	arch_lock_release(&heap->lock);
}

#define DECAY_STEP_MIN_PAGES 32u /* the purger wakes for no fewer pages */

uint64_t pageheap_decay_deadline(struct pageheap *heap, uint64_t now)
{
	uint64_t deadline = UINT64_MAX;
	arch_lock_acquire(&heap->lock);
	if (heap->npages_dirty && heap->decay_ms > 0) {
		uint64_t window = (uint64_t)heap->decay_ms * 1000000u;
		size_t rate = backlog_pages(heap, now);
		size_t step = MAX(heap->npages_dirty / 8, DECAY_STEP_MIN_PAGES);
		/* When every page's time is up, the rest goes at once. */
		uint64_t wait = rate ? MIN(window, window / rate * step) : 0;
		deadline = MAX(now + wait, heap->next_decay_ns);
	}
	arch_lock_release(&heap->lock);
	return deadline;
}

size_t pageheap_release_empty(struct pageheap *heap)
{
	size_t released = 0;
	arch_lock_acquire(&heap->lock);
	for (struct chunk **link = &heap->chunks; *link;) {
		struct chunk *c = *link;
		struct span *s = c->span_of[0];
		if (!s || s->state != SPAN_FREE || s->npages != CHUNK_PAGES) {
			link = &c->next;
			continue;
		}
		free_remove(heap, s);
		heap->npages_dirty -= s->ndirty;
		heap->npages_mapped -= CHUNK_PAGES;
		record_put(heap, s);
		*link = c->next;
		pagemap_unregister(c);
		osmem_unmap((void *)c->base, CHUNK, OSMEM_HEAP);
		c->next = heap->spare_chunks;
		heap->spare_chunks = c;
		released++;
	}
	arch_lock_release(&heap->lock);
	return released;
}

void pageheap_set_decay(struct pageheap *heap, int64_t decay_ms)
{
	arch_lock_acquire(&heap->lock);
	heap->decay_ms = decay_ms;
	heap->next_decay_ns = 0;
	ingot_memset(heap->decay_backlog, 0, sizeof(heap->decay_backlog));
	heap->decay_epoch = 0;
	arch_lock_release(&heap->lock);
}

/* The heap's idea of now, read from the OS every HEAP_CLOCK_EVERY calls:
 * decay counts in milliseconds, and reading the clock on every span
 * operation costs more than the operation. Caller holds the lock. */
#define HEAP_CLOCK_EVERY 32u
static uint64_t heap_now(struct pageheap *heap)
{
	if (heap->clock_calls++ % HEAP_CLOCK_EVERY == 0)
		heap->now_ns = arch_now_ns();
	return heap->now_ns;
}

/* ---- interface ----------------------------------------------------------- */

static struct pageheap *all_heaps; /* pushed once each, never removed */

void pageheap_init(struct pageheap *heap, struct arena *arena, int64_t decay_ms)
{
	heap->arena = arena;
	heap->decay_ms = decay_ms;
	heap->spare_max = 1;
	heap->next_heap = __atomic_load_n(&all_heaps, __ATOMIC_ACQUIRE);
	while (!__atomic_compare_exchange_n(&all_heaps, &heap->next_heap, heap, true,
	                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
	}
}

void pageheap_pressure(void)
{
	for (struct pageheap *h = __atomic_load_n(&all_heaps, __ATOMIC_ACQUIRE); h; h = h->next_heap) {
		pageheap_decay(h, true);
		pageheap_release_empty(h);
	}
}

struct span *pageheap_alloc(struct pageheap *heap, size_t npages, size_t align, bool want_zero,
                            unsigned sizeclass)
{
	size_t data_pages = npages;
	npages += guards;
	size_t need = npages + (align > PAGE ? (align >> LG_PAGE) - 1 : 0);
	if (need > CHUNK_PAGES)
		return NULL;
	arch_lock_acquire(&heap->lock);
	heap_now(heap); /* ticks the heap's clock, which stamps the frees */
	struct span *s = fit_find(heap, need);
	bool grew = !s;
	if (!s)
		s = chunk_add(heap);
	bool from_whole = s && s->npages == CHUNK_PAGES;
	if (s)
		s = span_take(heap, s, npages, align);
	if (s) {
		ingot_assert(s->npages == npages); /* free -> in use */
		purge_for_fresh_take(heap, s->npages - s->ndirty);
		spare_note_take(heap, s, from_whole, heap->now_ns);
		s->state = sizeclass ? SPAN_SLAB : SPAN_LARGE;
		s->sizeclass = (uint8_t)sizeclass;
		s->guarded = guarded_new; /* under the lock that ingot_check takes */
		if (sizeclass)
			slab_map(s, sizeclass);
		else
			boundary_set(s, s);
	}
	arch_lock_release(&heap->lock);
	/* A new chunk past the soft limit: what other heaps hold dirty or
	 * wholly free goes back, so that resident memory stays under it. */
	if (grew && osmem_over_soft())
		pageheap_pressure();
	if (grew && heap->grew)
		heap->grew(heap);
	if (!s)
		return NULL;
	if (__atomic_load_n(&freed_protected, __ATOMIC_RELAXED))
		arch_protect((void *)s->base, data_pages << LG_PAGE, true); /* see free_locked */
	if (want_zero && !s->zeroed)
		ingot_memset((void *)s->base, 0, data_pages << LG_PAGE);
	s->zeroed = false;
	s->ndirty = 0;
	/* Without protection (e.g. OS pages larger than ours) the guard page
	 * is only reserved. Pages freed inaccessible (free_locked) hold a
	 * ready one: a large block or slab that reuses a freed one of its size
	 * makes one mprotect call, not two. */
	if (guards && !(s->ninaccessible >= s->npages || /* still the free span's: slab_map keeps it */
	                arch_protect((void *)guard_page(s), PAGE, false) == 0))
		s->guarded = 1;
	return s;
}

/* Frees s into the heap. purged: its pages were given back already
 * (*zeroed: they read as zero), so they join clean. */
static void free_locked(struct pageheap *heap, struct span *s, uint64_t now, bool purged,
                        bool zeroed)
{
	ingot_assert(s->state == SPAN_SLAB || s->state == SPAN_LARGE); /* in use -> free */
	ingot_assert(heap->npages_active >= s->npages);
	/* Guarded heaps keep freed pages inaccessible until they are handed
	 * out again: a use after free of a large block or a slab faults, and
	 * the fault is reported (harden.c). The guard page stays so too. */
	if (s->guarded) { /* every span of a guarded heap */
		s->ninaccessible = 0;
		if (s->guarded == 2 && arch_protect((void *)s->base, (size_t)s->npages << LG_PAGE, false) == 0)
			s->ninaccessible = s->npages;
		if (s->guarded == 2)
			__atomic_store_n(&freed_protected, true, __ATOMIC_RELAXED);
	}
	s->guarded = 0;
	if (s->state == SPAN_SLAB)
		slab_unmap(s);
	else
		boundary_set(s, NULL);
	heap->npages_active -= s->npages;
	if (purged) {
		s->ndirty = 0;
		s->zeroed = zeroed;
	} else {
		heap->npages_dirty += s->npages;
		s->ndirty = s->npages;
		s->zeroed = false;
		backlog_add(heap, now, s->npages);
	}
	s = coalesce(heap, s);
	free_insert(heap, s);
	if (chunk_spare_over(heap, s)) {
		span_purge(heap, s);
		heap->spare_purged = true;
	} else if (heap->decay_ms == 0) {
		span_purge(heap, s);
	}
	else
		decay_locked(heap, now, osmem_over_soft()); /* past the soft limit: all */
}

void pageheap_free(struct pageheap *heap, struct span *span)
{
	arch_lock_acquire(&heap->lock);
	uint64_t now = heap_now(heap);
	free_locked(heap, span, now, false, false);
	arch_lock_release(&heap->lock);
}

void pageheap_free_purged(struct pageheap *heap, struct span *span)
{
	bool zeroed = pageheap_purge_range(span->base, span->base + ((size_t)span->npages << LG_PAGE));
	arch_lock_acquire(&heap->lock);
	uint64_t now = heap_now(heap);
	heap->npurged += span->npages;
	heap->npurge_calls++;
	free_locked(heap, span, now, true, zeroed);
	arch_lock_release(&heap->lock);
}

/* Freeing coalesces with free neighbours, so the walk may land inside a
 * free span (page map entry NULL): it steps page by page to that span's
 * last page, whose entry leads past it. */
void pageheap_free_all(struct pageheap *heap, void (*large_freed)(void *ctx, const struct span *s),
                       void *ctx)
{
	for (struct chunk *c = heap->chunks; c; c = c->next) {
		size_t i = 0;
		while (i < CHUNK_PAGES) {
			struct span *s = c->span_of[i];
			if (!s) {
				i++;
				continue;
			}
			size_t next = chunk_page_index(s->base) + s->npages;
			if (s->state == SPAN_LARGE)
				large_freed(ctx, s);
			if (s->state == SPAN_LARGE || s->state == SPAN_SLAB)
				pageheap_free(heap, s);
			i = next;
		}
	}
	heap->bin_surplus_bytes = 0; /* the bins forgot their slabs first */
}

void pageheap_clear_counters(struct pageheap *heap)
{
	arch_lock_acquire(&heap->lock);
	heap->npurged = heap->npurge_calls = 0;
	arch_lock_release(&heap->lock);
}

void pageheap_shrink(struct pageheap *heap, struct span *span, size_t npages)
{
	/* A guarded span's page past its new end becomes its guard page,
	 * inaccessible before the rest goes (free_locked protects that, the
	 * old guard page with it) and another thread may take it. */
	size_t keep = npages + (span->guarded ? 1u : 0u);
	if (span->guarded == 2 && arch_protect((void *)(span->base + (npages << LG_PAGE)), PAGE, false) != 0)
		span->guarded = 1; /* only reserved, as pageheap_alloc leaves it */
	arch_lock_acquire(&heap->lock);
	uint64_t now = heap_now(heap);
	uint8_t guarded = span->guarded;
	boundary_set(span, NULL);
	struct span *tail = span_split(heap, span, keep);
	boundary_set(span, span);
	if (tail) {
		tail->state = SPAN_LARGE;
		tail->guarded = guarded;
		free_locked(heap, tail, now, false, false);
	}
	arch_lock_release(&heap->lock);
}

/* Makes the pages a guarded span grew by, from its old guard page on,
 * accessible, and its new last page its guard page (one call each; a
 * block moved by realloc instead made a new guard page and made its old
 * pages inaccessible). */
static void grown_guard_move(struct span *span, uintptr_t old_guard, bool guard_ready)
{
	if (span->guarded == 2 || __atomic_load_n(&freed_protected, __ATOMIC_RELAXED))
		arch_protect((void *)old_guard, guard_page(span) - old_guard, true);
	if (span->guarded == 2 && !guard_ready && arch_protect((void *)guard_page(span), PAGE, false) != 0)
		span->guarded = 1;
}

bool pageheap_grow(struct pageheap *heap, struct span *span, size_t npages, bool want_zero)
{
	/* npages counts usable pages: a guarded span's guard page moves up */
	size_t more = npages - span_usable_pages(span);
	size_t next = span_last_page(span) + 1;
	uintptr_t grown_from = span->base + ((size_t)span_usable_pages(span) << LG_PAGE);
	bool ok = false, zeroed = false, guard_ready = false;
	arch_lock_acquire(&heap->lock);
	struct span *right = next < CHUNK_PAGES ? span->chunk->span_of[next] : NULL;
	if (right && right->state == SPAN_FREE && right->npages >= more) {
		/* Take `more` pages off the front of the right neighbour. */
		struct span *taken = span_take(heap, right, more, PAGE);
		if (taken) {
			zeroed = taken->zeroed;
			guard_ready = span->guarded && taken->ninaccessible >= taken->npages;
			purge_for_fresh_take(heap, taken->npages - taken->ndirty);
			boundary_set(span, NULL);
			span->npages += taken->npages;
			boundary_set(span, span);
			record_put(heap, taken);
			ok = true;
		}
	}
	arch_lock_release(&heap->lock);
	if (ok && span->guarded)
		grown_guard_move(span, grown_from, guard_ready);
	/* An old guard page holds what its pages held before the span. */
	size_t to_zero = zeroed ? (span->guarded ? PAGE : 0) : more << LG_PAGE;
	if (ok && want_zero && to_zero)
		ingot_memset((void *)grown_from, 0, to_zero);
	return ok;
}

/* ---- verification -------------------------------------------------------- */

static const char *check_free_span(struct pageheap *heap, struct span *s, size_t list)
{
	if (s->state != SPAN_FREE)
		return "span in a free list is not free";
	if (s->npages != list)
		return "free span in the wrong size list";
	if (s->chunk->arena != heap->arena || s->base < s->chunk->base ||
	    span_last_page(s) >= CHUNK_PAGES || chunk_page_index(s->base) + s->npages > CHUNK_PAGES)
		return "free span outside its chunk";
	if (s->chunk->span_of[chunk_page_index(s->base)] != s ||
	    s->chunk->span_of[span_last_page(s)] != s)
		return "page map does not point at a free span's ends";
	if (s->zeroed && s->ndirty)
		return "free span both zeroed and dirty";
	size_t first = chunk_page_index(s->base);
	if (first > 0) {
		struct span *left = s->chunk->span_of[first - 1];
		if (left && left->state == SPAN_FREE)
			return "two free spans side by side (not coalesced)";
	}
	return NULL;
}

const char *pageheap_check(struct pageheap *heap)
{
	const char *err = NULL;
	size_t free_pages = 0, dirty_pages = 0, dirty_listed = 0;
	arch_lock_acquire(&heap->lock);
	for (size_t i = 1; i < PAGEHEAP_LISTS && !err; i++) {
		bool bit = (heap->nonempty[i / 64] >> (i % 64)) & 1;
		if (bit != (heap->lists[i] != NULL))
			err = "free-list bitmap disagrees with the lists";
		for (struct span *s = heap->lists[i]; s && !err; s = s->next) {
			err = check_free_span(heap, s, i);
			free_pages += s->npages;
			dirty_pages += s->ndirty;
		}
	}
	for (struct span *s = heap->dirty_head; s && !err; s = s->dirty_next) {
		dirty_listed += s->ndirty;
		if (s->state != SPAN_FREE || s->ndirty == 0)
			err = "clean or busy span in the dirty list";
	}
	if (!err && dirty_listed != dirty_pages)
		err = "dirty list and free lists disagree";
	if (!err && dirty_pages != heap->npages_dirty)
		err = "dirty page count is wrong";
	if (!err && free_pages + heap->npages_active != heap->npages_mapped)
		err = "free + active pages != mapped pages";
	arch_lock_release(&heap->lock);
	return err;
}

void pageheap_fork_prepare(struct pageheap *heap) { arch_lock_acquire(&heap->lock); }
void pageheap_fork_parent(struct pageheap *heap) { arch_lock_release(&heap->lock); }
void pageheap_fork_child(struct pageheap *heap) { arch_lock_reset(&heap->lock); }
