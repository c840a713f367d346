/*
 * arena.c — arenas, and the blocks too big for slabs: large ones here,
 * huge ones and their cache in huge.c.
 *
 * Call tree:
 *   arena_alloc_small -> bin_alloc_batch
 *   arena_alloc_large -> large_cache_take | pageheap_alloc
 *   arena_alloc_huge  (huge.c)
 *   arena_free        -> bin_free_locked | large_cache_put | pageheap_free
 *                        | huge_free (huge.c)
 *   arena_free_batch  -> bin_free_batch (one lock per run of same-arena objects)
 */
#include "arena.h"
#include "huge.h"

#include "arch.h"
#include "osmem.h"
#include "guard.h"
#include "base.h"
#include "hardening.h"
#include "report.h"

struct arena *arenas[ARENAS_MAX];
unsigned narenas_total; /* only through __atomic builtins, as every shared counter here */
unsigned narenas_auto;

static unsigned next_auto; /* round-robin cursor for arena_choose */
static arch_lock_t create_lock = ARCH_LOCK_INIT;
static int64_t default_decay_ms;


void (*arena_purger_wake)(struct arena *a); /* only through __atomic builtins */

/* The heap's dirty pages, read without its lock: a moment stale at worst. */
static INGOT_RACY_READ size_t dirty_pages_racy(struct arena *a)
{
	return *(volatile size_t *)&a->heap.npages_dirty;
}

/* After a free into arena a has let go of every lock: wakes the background
 * purger when the free took the heap past its mark, or (cached) put a huge
 * mapping in the arena's cache. One load and a branch on the free slow
 * paths when the purger is off. */
static void purger_note_free(struct arena *a, bool cached)
{
	void (*wake)(struct arena *) = __atomic_load_n(&arena_purger_wake, __ATOMIC_SEQ_CST);
	if (INGOT_LIKELY(wake == NULL))
		return;
	size_t mark = __atomic_load_n(&a->purger_wake_dirty, __ATOMIC_SEQ_CST);
	if (dirty_pages_racy(a) > mark || (cached && mark != SIZE_MAX))
		wake(a);
}

/* The free lists that share a page with the arena's other hot fields: a
 * fresh chunk's rest stays on them until 64 of its pages are taken. */
#define ARENA_HOT_LISTS MIN(64u, PAGEHEAP_LISTS)

/* The heap of arena a grew by a chunk: the free pages of its bins' partly
 * used slabs go back (bin_give_back_free_pages), so that a program whose
 * sizes shift grows by what it uses (frag peaked at 149 MiB, not 174).
 * Default heaps only: hardened ones, with their guard pages, quarantine and
 * checks of reused objects, were not measured with it. */
static void heap_grew(struct pageheap *heap)
{
	struct arena *a = heap->arena;
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		bin_give_back_free_pages(&a->bins[cls]);
}

static struct arena *arena_new(unsigned index)
{
	size_t hot = offsetof(struct arena, heap.lists) +
	             (PAGEHEAP_LISTS - ARENA_HOT_LISTS) * sizeof(struct span *);
	struct arena *a = base_alloc_placed(sizeof(struct arena), PAGE - hot % PAGE);
	if (!a)
		return NULL;
	a->index = index; /* its bins stay zero until used (arena_bin) */
	pageheap_init(&a->heap, a, default_decay_ms);
	if (!ingot_hardening)
		a->heap.grew = heap_grew;
	a->created_ns = arch_now_ns();
	return a;
}

static void large_cache_boot(void);

/* Under create_lock, which fork holds throughout: the bins fork locks
 * (those set up) stay the same from arenas_fork_prepare to the release. */
void arena_bin_init(struct bin *bin, unsigned cls)
{
	arch_lock_acquire(&create_lock);
	if (__atomic_load_n(&bin->sizeclass, __ATOMIC_RELAXED) == 0)
		bin_init(bin, cls);
	arch_lock_release(&create_lock);
}

bool arena_bins_paired;

int arenas_boot(unsigned count, int64_t decay_ms)
{
	default_decay_ms = decay_ms;
	large_cache_boot();
	narenas_auto = MAX(1u, MIN(count, ARENAS_MAX - 1));
	arena_bins_paired = narenas_auto > 1 && !ingot_hardening;
	for (unsigned i = 0; i < narenas_auto; i++) {
		arenas[i] = arena_new(i);
		if (!arenas[i])
			return ARCH_ENOMEM;
	}
	narenas_total = narenas_auto;
	return 0;
}

int arena_create(void)
{
	int index = -1;
	arch_lock_acquire(&create_lock);
	unsigned n = narenas_total;
	struct arena *a = n < ARENAS_MAX ? arena_new(n) : NULL;
	if (a) {
		__atomic_store_n(&arenas[n], a, __ATOMIC_RELEASE);
		__atomic_store_n(&narenas_total, n + 1, __ATOMIC_RELEASE);
		index = (int)n;
	}
	arch_lock_release(&create_lock);
	return index;
}

struct arena *arena_choose(void)
{
	unsigned i = __atomic_fetch_add(&next_auto, 1, __ATOMIC_RELAXED) % narenas_auto;
	return arenas[i];
}

/* ---- out of memory ------------------------------------------------------- */

/* Called when the OS refused memory, before the one retry: every arena
 * gives its empty slabs back to its page heap and its cached huge mappings
 * back to the OS (arena_purge), then its wholly free chunks. Where memory
 * is scarce (one bare-metal region) this is what lets memory freed as one
 * size serve another. */
void arenas_reclaim(void)
{
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct arena *a = arena_get(i);
		if (a) {
			arena_purge(a, true);
			pageheap_release_empty(&a->heap);
		}
	}
}

/* ---- small ---------------------------------------------------------------- */

void *arena_alloc_small(struct arena *a, unsigned cls, bool zero)
{
	void *p;
	if (bin_alloc_batch(arena_bin(a, cls), &a->heap, &p, 1) == 0) {
		arenas_reclaim();
		if (bin_alloc_batch(arena_bin(a, cls), &a->heap, &p, 1) == 0)
			return NULL;
	}
	if (ingot_hardening)
		harden_take(p, cls);
	if (zero)
		ingot_memset(p, 0, harden_small_usable(cls));
	return p;
}

static unsigned large_lextent(size_t usable);

/* Counts the free of large span s (its usable pages). */
static void large_count_free(struct arena *a, const struct span *s)
{
	size_t usable = span_usable_pages(s) << LG_PAGE;
	STAT_ADD(a->large_ndalloc, 1);
	STAT_ADD(a->lextent_ndalloc[large_lextent(usable)], 1);
	STAT_ADD(a->large_allocated, -usable);
}

size_t arena_large_usable(size_t size)
{
	if (size <= ARENA_LARGE_MAX)
		return sc_size[sizeclass_of(size)];
	return ALIGN_UP(size, PAGE);
}

/* ---- the large cache ------------------------------------------------------ */

/* Freed large blocks up to this size are kept whole for the next block of
 * their class, up to LARGE_CACHE_BYTES per arena, until the decay time:
 * a program that frees a batch of them and allocates the batch again
 * (batch-8k-64k) skips the page heap's split, coalesce and dirty
 * bookkeeping, about 300 instructions a block each way, and reuses the same
 * pages. Classes up to 256 KiB cost realloc-array 16 MiB more peak RSS (a
 * cached block does not coalesce); a 16 MiB bound did not hold one batch
 * of batch-8k-64k (33 MiB, not 10). */
#define LARGE_CACHE_SIZE_MAX ((size_t)64 << 10)
#define LARGE_CACHE_BYTES ((size_t)32 << 20)

/* The bytes cached span s counts for: its usable pages (a hardened span's
 * guard page is not part of its block). */
static size_t cached_bytes(const struct span *s)
{
	return span_usable_pages(s) << LG_PAGE;
}

/* The cache's stack for blocks of n pages, or -1 when they are not cached:
 * only whole large classes (aligned blocks may be other page counts). A
 * table, made at boot: sizeclass_of took 30 instructions a put or take. */
static int8_t large_cache_stack_of_pages[LARGE_CACHE_SIZE_MAX / PAGE + 1];

static void large_cache_boot(void)
{
	for (size_t n = 0; n <= LARGE_CACHE_SIZE_MAX / PAGE; n++) {
		size_t bytes = n << LG_PAGE;
		bool cached = bytes > SC_SMALL_MAX && sc_size[sizeclass_of(bytes)] == bytes;
		large_cache_stack_of_pages[n] = (int8_t)(cached ? (int)arena_lextent_of(bytes) : -1);
	}
}

/* The cache's stack for blocks of bytes (whole pages), or -1. */
static int large_cache_stack(size_t bytes)
{
	bool listed = bytes <= LARGE_CACHE_SIZE_MAX && (bytes & PAGE_MASK) == 0;
	return listed ? large_cache_stack_of_pages[bytes >> LG_PAGE] : -1;
}

/* arena_lextent_of(usable), from the cache's table for the classes it
 * lists (sizeclass_of took 15 instructions a large malloc and free). */
static unsigned large_lextent(size_t usable)
{
	int j = large_cache_stack(usable);
	return j >= 0 ? (unsigned)j : arena_lextent_of(usable);
}

static void large_cache_decay(struct arena *a, bool force);
static void large_cache_release(struct arena *a, bool force, uint64_t before);

/* When the page heap has taken pages that were not resident since the last
 * put looked (its fresh_takes moved), the blocks cached before the
 * LARGE_CACHE_SPELLS-th put back that saw it move go back to the heap,
 * all but their first page purged (returns that time; 0: none go): they
 * sat unused through that many
 * spells of growth that their pages could have served. A program whose
 * footprint grows (realloc-str, its strings passing through every class on
 * their way up) then reuses them rather than fault fresh pages in beside
 * them; a loop of the sizes it uses takes no fresh pages and keeps its
 * cache. Not after one spell: a batch of mixed sizes freed and taken again
 * (batch-8k-64k) finds most of them in the cache a round or a few later,
 * and sending back the others at once peaked at 17.3 MiB, not 10.6 (a
 * cached block keeps its touched pages; the heap splits them elsewhere);
 * after 2 spells 11.5, 5: 10.8, 8: 10.5 (realloc-str 28.0, 28.4, 28.9 MiB,
 * not 30.2). Hardened heaps keep their cache: a trip through the page heap
 * protects and unprotects the block's pages. */
static uint64_t large_cache_grown_before(struct arena *a, uint64_t now)
{
	size_t fresh = __atomic_load_n(&a->heap.fresh_takes, __ATOMIC_RELAXED);
	if (fresh == __atomic_load_n(&a->large_cache_fresh_mark, __ATOMIC_RELAXED) || ingot_hardening)
		return 0; /* (hardening second: 3 instructions a put of batch-8k-64k) */
	arch_lock_acquire(&a->large_cache_lock);
	__atomic_store_n(&a->large_cache_fresh_mark, fresh, __ATOMIC_RELAXED);
	unsigned oldest = a->large_cache_grew_next;
	uint64_t before = a->large_cache_grew_ns[oldest];
	a->large_cache_grew_ns[oldest] = now;
	a->large_cache_grew_next = (oldest + 1) % LARGE_CACHE_SPELLS;
	arch_lock_release(&a->large_cache_lock);
	return before;
}

/* The time a put gives its block: the OS clock at every
 * LARGE_CACHE_CLOCK_EVERY-th put, the last reading at the others (a
 * reading was 38 of the 160 instructions a block took to the cache in
 * batch-8k-64k). Blocks are timed for decay and for spells of growth,
 * where a few puts' lag is nothing; a block put after a quiet spell may
 * look that much older and go back sooner. Racy between threads on
 * purpose: a lost count reads the clock once more or less. */
#define LARGE_CACHE_CLOCK_EVERY 8u

static uint64_t large_cache_clock(struct arena *a)
{
	unsigned puts = __atomic_load_n(&a->large_cache_clock_puts, __ATOMIC_RELAXED);
	__atomic_store_n(&a->large_cache_clock_puts, puts + 1, __ATOMIC_RELAXED);
	if (puts % LARGE_CACHE_CLOCK_EVERY != 0)
		return __atomic_load_n(&a->large_cache_now_ns, __ATOMIC_RELAXED);
	uint64_t now = arch_now_ns();
	__atomic_store_n(&a->large_cache_now_ns, now, __ATOMIC_RELAXED);
	return now;
}

/* Keeps freed large span s (counted free already) in the cache; false when
 * it does not fit or caching is off (decay 0, past the soft limit).
 * *first: the cache was empty (the purger should know). Every eighth of the
 * decay time a put also decays the cache, as frees decay the page heap. */
static bool large_cache_put(struct arena *a, struct span *s, bool *first)
{
	size_t bytes = cached_bytes(s);
	int j = large_cache_stack(bytes);
	if (j < 0 || a->heap.decay_ms == 0 || osmem_over_soft())
		return false;
	/* Hardened heaps zero it first (another thread may take it as soon as
	 * it is in): its pages, guard page kept, stay accessible while cached
	 * and are made inaccessible when it goes back to the page heap. */
	if (ingot_hardening & HARDEN_ZERO_ON_FREE)
		harden_large_clear_head((void *)s->base); /* harden_large_give's zeroing, inline */
	else if (ingot_hardening)
		harden_large_give((void *)s->base, bytes);
	uint64_t now = large_cache_clock(a);
	uint64_t grown_before = large_cache_grown_before(a, now);
	if (grown_before)
		large_cache_release(a, false, grown_before);
	arch_lock_acquire(&a->large_cache_lock);
	bool fits = a->large_cached_bytes + bytes <= LARGE_CACHE_BYTES;
	bool decay = now >= a->large_cache_decay_ns;
	if (decay) { /* (decay -1: nothing expires; a look a second is plenty) */
		int64_t decay_ms = a->heap.decay_ms < 0 ? 1000 : a->heap.decay_ms;
		a->large_cache_decay_ns = now + (uint64_t)decay_ms * (1000000u / 8);
	}
	if (fits) {
		*first = a->large_cached_bytes == 0;
		s->large_cached = true;
		s->cached_ns = now;
		s->next = a->large_cached[j];
		__atomic_store_n(&a->large_cached[j], s, __ATOMIC_RELAXED);
		a->large_cached_bytes += bytes;
	}
	arch_lock_release(&a->large_cache_lock);
	if (decay)
		large_cache_decay(a, false);
	return fits;
}

/* A cached block of usable bytes taken out of the cache, or NULL. */
static struct span *large_cache_take(struct arena *a, size_t usable)
{
	int j = large_cache_stack(usable);
	/* A glance without the lock: most classes are empty most of the time. */
	if (j < 0 || !__atomic_load_n(&a->large_cached[j], __ATOMIC_RELAXED))
		return NULL;
	arch_lock_acquire(&a->large_cache_lock);
	struct span *s = a->large_cached[j];
	if (s) {
		__atomic_store_n(&a->large_cached[j], s->next, __ATOMIC_RELAXED);
		a->large_cached_bytes -= usable;
		s->large_cached = false;
		s->next = NULL;
	}
	arch_lock_release(&a->large_cache_lock);
	return s;
}

/* Whether a block cached at since is older than the decay time. */
static bool large_cache_expired(const struct arena *a, uint64_t since, uint64_t now)
{
	int64_t decay_ms = a->heap.decay_ms;
	return decay_ms >= 0 && now - since >= (uint64_t)decay_ms * 1000000u;
}

/* Block s, out of the cache, to the page heap, dirty; with spent (it sat
 * unused through spells of growth) its pages past the first go back to the
 * OS first: realloc-str, whose strings fill their blocks, peaked at 27.4
 * MiB, not 29.7, for 11% more page faults. They still count as pages that
 * may be dirty (span.ndirty), so the heap takes them as it takes dirty
 * ones: counted clean, their reuse was growth (fresh_takes) that sent more
 * blocks back, and purged whole, the first pages batch-8k-64k writes one
 * word of were faulted in again elsewhere (11.8 MiB, not 10.5 either way). */
static void large_cache_free_to_heap(struct arena *a, struct span *s, bool spent)
{
	if (spent && s->npages > 1)
		pageheap_purge_range(s->base + PAGE, s->base + ((size_t)s->npages << LG_PAGE));
	pageheap_free(&a->heap, s);
}

/* Gives the cached blocks older than the decay time, or cached before
 * before (all with force), back to the page heap: those past the decay
 * time purged (their time is up), the others dirty, those cached before
 * before but for their first page (large_cache_free_to_heap). Each stack
 * is newest first, so the old ones are a tail. */
static void large_cache_release(struct arena *a, bool force, uint64_t before)
{
	uint64_t now = arch_now_ns();
	struct span *out = NULL;
	arch_lock_acquire(&a->large_cache_lock);
	for (unsigned j = 0; j < SC_NLARGE && a->large_cached_bytes; j++) {
		struct span *newer = NULL, *old = a->large_cached[j];
		while (old && !force && old->cached_ns >= before &&
		       !large_cache_expired(a, old->cached_ns, now)) {
			newer = old;
			old = old->next;
		}
		if (newer)
			newer->next = NULL;
		else
			__atomic_store_n(&a->large_cached[j], NULL, __ATOMIC_RELAXED);
		while (old) {
			struct span *next = old->next;
			a->large_cached_bytes -= cached_bytes(old);
			old->large_cached = false;
			old->next = out;
			out = old;
			old = next;
		}
	}
	arch_lock_release(&a->large_cache_lock);
	while (out) {
		struct span *next = out->next;
		out->next = NULL;
		arena_large_window_set((void *)out->base, 0); /* its pages may join others */
		if (large_cache_expired(a, out->cached_ns, now))
			pageheap_free_purged(&a->heap, out);
		else
			large_cache_free_to_heap(a, out, out->cached_ns < before);
		out = next;
	}
}

/* Gives the cached blocks older than the decay time (all with force) back
 * to the page heap. */
static void large_cache_decay(struct arena *a, bool force)
{
	large_cache_release(a, force, 0);
}

/* Large span s cannot grow in place: if the block after it waits in the
 * cache, it goes back to the page heap, so that s can take its pages (a
 * cached block must not stop a realloc in place: realloc-str peaked 3 MiB
 * higher). Returns whether one went back. The heap lock is held around the
 * look (span_of and recycled records change under it), and the cache lock
 * inside it, the one order the two are ever taken in together. */
static bool large_cache_release_after(struct arena *a, struct span *s)
{
	uintptr_t next = s->base + ((size_t)s->npages << LG_PAGE);
	if (chunk_page_index(next) == 0)
		return false; /* s ends its chunk */
	arch_lock_acquire(&a->heap.lock);
	struct span *n = span_of_addr(s->chunk, next);
	bool found = false;
	arch_lock_acquire(&a->large_cache_lock);
	if (n && n->state == SPAN_LARGE && n->large_cached && n->base == next) {
		size_t bytes = cached_bytes(n);
		int j = large_cache_stack(bytes);
		struct span *prev = NULL, *o = a->large_cached[j];
		while (o && o != n) {
			prev = o;
			o = o->next;
		}
		found = o == n;
		if (found && prev)
			prev->next = n->next;
		else if (found)
			__atomic_store_n(&a->large_cached[j], n->next, __ATOMIC_RELAXED);
		if (found) {
			a->large_cached_bytes -= bytes;
			n->large_cached = false;
			n->next = NULL;
		}
	}
	arch_lock_release(&a->large_cache_lock);
	arch_lock_release(&a->heap.lock);
	if (found) {
		arena_large_window_set((void *)n->base, 0);
		pageheap_free(&a->heap, n);
	}
	return found;
}

/* When the oldest cached block's decay time is up (UINT64_MAX: none, or
 * decay off). */
static uint64_t large_cache_deadline(struct arena *a)
{
	int64_t decay_ms = a->heap.decay_ms;
	uint64_t deadline = UINT64_MAX;
	arch_lock_acquire(&a->large_cache_lock);
	for (unsigned j = 0; j < SC_NLARGE && decay_ms >= 0; j++)
		for (struct span *s = a->large_cached[j]; s; s = s->next)
			if (!s->next)
				deadline = MIN(deadline, s->cached_ns + (uint64_t)decay_ms * 1000000u);
	arch_lock_release(&a->large_cache_lock);
	return deadline;
}

static const char *large_cache_check(struct arena *a)
{
	const char *err = NULL;
	size_t bytes = 0;
	arch_lock_acquire(&a->large_cache_lock);
	for (unsigned j = 0; j < SC_NLARGE && !err; j++)
		for (struct span *s = a->large_cached[j]; s && !err; s = s->next) {
			size_t n = cached_bytes(s);
			if (s->state != SPAN_LARGE || !s->large_cached || s->chunk->arena != a ||
			    large_cache_stack(n) != (int)j)
				err = "large cache holds a span of the wrong state, arena or class";
			bytes += n;
		}
	if (!err && bytes != a->large_cached_bytes)
		err = "large cache's byte count disagrees with its blocks";
	arch_lock_release(&a->large_cache_lock);
	return err;
}

/* ---- large ---------------------------------------------------------------- */

void *arena_alloc_large(struct arena *a, size_t usable, size_t align, bool zero)
{
	struct span *s = align <= PAGE && !zero ? large_cache_take(a, usable) : NULL;
	bool cached = s != NULL;
	if (!s)
		s = pageheap_alloc(&a->heap, usable >> LG_PAGE, MAX(align, PAGE), zero, 0);
	if (!s) {
		arenas_reclaim();
		s = pageheap_alloc(&a->heap, usable >> LG_PAGE, MAX(align, PAGE), zero, 0);
	}
	if (!s)
		return NULL;
	STAT_ADD(a->large_nmalloc, 1);
	STAT_ADD(a->lextent_nmalloc[large_lextent(usable)], 1);
	STAT_ADD(a->large_allocated, usable);
	if (cached && ingot_hardening)
		harden_large_reuse((void *)s->base, usable); /* checks it stayed zero */
	else if (!zero && ingot_hardening) /* (a call for nothing: 10 instructions) */
		harden_large_take((void *)s->base, usable);
	return (void *)s->base;
}

/* ---- large or huge ------------------------------------------------------- */

void *arena_alloc_big(struct arena *a, size_t usable, size_t align, bool zero)
{
	/* An alignment above PAGE may need align more bytes of a chunk. */
	if (usable <= ARENA_LARGE_MAX && usable + (align > PAGE ? align : 0) <= CHUNK) {
		void *p = arena_alloc_large(a, usable, align, zero);
		if (p) /* its free takes the general path (it may come from the cache) */
			arena_large_window_set(p, 0);
		return p;
	}
	return arena_alloc_huge(a, usable, align, zero);
}

/* ---- free ----------------------------------------------------------------- */

/* The live large or slab span p belongs to, after checking that p may be
 * freed; reports and aborts otherwise. */
static struct span *span_for_free(struct chunk *c, const void *p)
{
	struct span *s = span_of_addr(c, (uintptr_t)p);
	if (INGOT_UNLIKELY(!s))
		ingot_report_invalid_ptr("free", p);
	if (s->state == SPAN_SLAB)
		return s;
	if (INGOT_UNLIKELY(s->base != (uintptr_t)p))
		ingot_report_invalid_ptr("free", p);
	if (INGOT_UNLIKELY(s->state != SPAN_LARGE || s->large_cached))
		ingot_report_double_free(p);
	return s;
}

/* Returns true when a freed large block was kept in the large cache while
 * it was empty. marked: p, large, carries the thread caches' freed mark, so
 * its class window byte may stay while it waits in the large cache. */
static bool free_in_chunk(struct chunk *c, void *p, bool marked)
{
	struct arena *a = c->arena;
	struct span *s = span_for_free(c, p);
	if (s->state == SPAN_SLAB) {
		struct bin *bin = &a->bins[s->sizeclass];
		if (ingot_hardening)
			harden_give(s, p, s->sizeclass);
		arch_lock_acquire(&bin->lock);
		bin_free_locked(bin, &a->heap, s, p);
		arch_lock_release(&bin->lock);
		return false;
	}
	if (!marked) /* else a second free finds the mark */
		arena_large_window_set(p, 0);
	large_count_free(a, s);
	bool first = false;
	if (!large_cache_put(a, s, &first)) {
		arena_large_window_set(p, 0); /* its pages may join others */
		pageheap_free(&a->heap, s);
	}
	return first;
}

void arena_free(struct chunk *c, void *p)
{
	if (c->kind == CHUNK_KIND_GUARD) {
		guard_free(p);
		return;
	}
	if (c->kind == CHUNK_KIND_HUGE) {
		if (INGOT_UNLIKELY((uintptr_t)p != c->base))
			ingot_report_invalid_ptr("free", p);
		if (INGOT_UNLIKELY(c->huge_usable == 0))
			ingot_report_double_free(p);
		struct arena *a = c->arena; /* c is recycled when unmapped */
		purger_note_free(a, huge_free(c));
		return;
	}
	struct arena *a = c->arena;
	purger_note_free(a, free_in_chunk(c, p, false));
}

void arena_free_large_marked(struct chunk *c, void *p)
{
	purger_note_free(c->arena, free_in_chunk(c, p, true));
}

void arena_free_batch(unsigned cls, void **objs, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		struct arena *a = pagemap_chunk((uintptr_t)objs[i])->arena;
		i += bin_free_batch(&a->bins[cls], &a->heap, objs + i, n - i); /* a's run of them */
		purger_note_free(a, false);
	}
}

/* ---- sizes and resizing -------------------------------------------------- */

size_t arena_usable_size(struct chunk *c, const void *p)
{
	if (c->kind == CHUNK_KIND_HUGE)
		return (uintptr_t)p == c->base ? c->huge_usable : 0;
	if (c->kind == CHUNK_KIND_GUARD)
		return guard_usable_size(p);
	unsigned cls = c->class_of[chunk_page_index((uintptr_t)p)];
	struct span *s = span_of_addr(c, (uintptr_t)p);
	unsigned slot;
	if (cls)
		return slab_slot_of(s, cls, p, &slot) ? harden_small_usable(cls) : 0;
	if (!s || s->state != SPAN_LARGE || s->large_cached || s->base != (uintptr_t)p)
		return 0;
	return span_usable_pages(s) << LG_PAGE;
}

size_t arena_resize_in_place(struct chunk *c, void *p, size_t size, bool zero)
{
	if (c->kind == CHUNK_KIND_HUGE)
		return size > ARENA_LARGE_MAX ? huge_resize(c, size, zero) : 0;
	if (c->kind == CHUNK_KIND_GUARD) { /* in place only when the class stays */
		size_t usable = guard_usable_size(p);
		bool same = size > SC_SMALL_MAX && size <= ARENA_LARGE_MAX && arena_large_usable(size) == usable;
		return same ? usable : 0;
	}
	struct span *s = span_of_addr(c, (uintptr_t)p);
	if (size <= SC_SMALL_MAX || size > ARENA_LARGE_MAX || !s || s->state != SPAN_LARGE)
		return 0;
	struct arena *a = c->arena;
	size_t want = arena_large_usable(size) >> LG_PAGE;
	size_t have = span_usable_pages(s); /* a guarded span's guard page moves */
	if (want < have) {
		pageheap_shrink(&a->heap, s, want);
		purger_note_free(a, false);
	} else if (want > have && !pageheap_grow(&a->heap, s, want, zero) &&
	           !(large_cache_release_after(a, s) && pageheap_grow(&a->heap, s, want, zero))) {
		return 0;
	}
	STAT_ADD(a->large_allocated, (want - have) << LG_PAGE);
	if (want != have) { /* as jemalloc counts it: old class freed, new one made */
		arena_large_window_set(p, 0); /* its stack is the old class's */
		STAT_ADD(a->lextent_ndalloc[arena_lextent_of(have << LG_PAGE)], 1);
		STAT_ADD(a->lextent_nmalloc[arena_lextent_of(want << LG_PAGE)], 1);
	}
	return want << LG_PAGE;
}

/* ---- maintenance ---------------------------------------------------------- */

void arena_purge(struct arena *a, bool force)
{
	bool trim = !force && bins_have_surplus(&a->heap);
	for (unsigned cls = 1; cls <= SC_NSMALL && (force || trim); cls++) {
		if (!arena_bin_used(a, cls))
			continue;
		if (force)
			bin_release_empty(&a->bins[cls], &a->heap);
		else if (bin_keeps_surplus(cls))
			bin_trim_surplus(&a->bins[cls], &a->heap);
	}
	large_cache_decay(a, force);
	pageheap_decay(&a->heap, force);
	huge_cache_decay(a, force);
}

/* Dirty memory a free may add to a heap the purger has a deadline for
 * before it wakes the purger to plan again. */
#define PURGER_WAKE_BYTES ((size_t)4 << 20)

uint64_t arena_background_pass(struct arena *a, uint64_t now, bool *bins_busy)
{
	if (a->heap.decay_ms < 0) {
		__atomic_store_n(&a->purger_wake_dirty, SIZE_MAX, __ATOMIC_SEQ_CST);
		return UINT64_MAX; /* decay -1: nothing goes back on its own */
	}
	/* Any dirt while the pass looks wakes the purger: a free the pass
	 * misses (the heap lock orders them) then sees this mark. */
	__atomic_store_n(&a->purger_wake_dirty, 0, __ATOMIC_SEQ_CST);
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		if (arena_bin_used(a, cls))
			*bins_busy |= bin_trim_idle(&a->bins[cls], &a->heap, &a->idle_marks[cls]);
	large_cache_decay(a, false);
	pageheap_decay(&a->heap, false);
	huge_cache_decay(a, false);
	uint64_t deadline = pageheap_decay_deadline(&a->heap, now);
	if (deadline != UINT64_MAX) {
		size_t planned = dirty_pages_racy(a) + PURGER_WAKE_BYTES / PAGE;
		__atomic_store_n(&a->purger_wake_dirty, planned, __ATOMIC_SEQ_CST);
	}
	return MIN(deadline, MIN(huge_cache_deadline(a), large_cache_deadline(a)));
}

const char *arena_check(struct arena *a)
{
	const char *err = NULL;
	for (unsigned cls = 1; cls <= SC_NSMALL && !err; cls++)
		if (arena_bin_used(a, cls))
			err = bin_check(&a->bins[cls]);
	if (!err)
		err = pageheap_check(&a->heap);
	if (!err)
		err = large_cache_check(a);
	return err;
}

/* Fork: every lock in a fixed order (bins, then heap, then huge, then the
 * large cache), so that the child finds them all free. */
void arenas_fork_prepare(void)
{
	arch_lock_acquire(&create_lock);
	for (unsigned i = 0; i < narenas_total; i++) {
		struct arena *a = arenas[i];
		for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
			if (arena_bin_used(a, cls)) /* others stay untouched */
				arch_lock_acquire(&a->bins[cls].lock);
		pageheap_fork_prepare(&a->heap);
		arch_lock_acquire(&a->huge_lock);
		arch_lock_acquire(&a->large_cache_lock);
	}
	huge_records_fork_prepare();
}

static void arenas_fork_release(bool child)
{
	void (*release)(arch_lock_t *) = child ? arch_lock_reset : arch_lock_release;
	huge_records_fork_release(child);
	for (unsigned i = 0; i < narenas_total; i++) {
		struct arena *a = arenas[i];
		release(&a->large_cache_lock);
		release(&a->huge_lock);
		if (child)
			pageheap_fork_child(&a->heap);
		else
			pageheap_fork_parent(&a->heap);
		for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
			if (arena_bin_used(a, cls))
				release(&a->bins[cls].lock);
	}
	release(&create_lock);
}

void arenas_fork_parent(void) { arenas_fork_release(false); }
void arenas_fork_child(void) { arenas_fork_release(true); }

/* ---- mallctl: default decay, reset, destroy ------------------------------ */

int64_t arena_default_decay(void)
{
	return __atomic_load_n(&default_decay_ms, __ATOMIC_RELAXED);
}

void arena_set_default_decay(int64_t decay_ms)
{
	__atomic_store_n(&default_decay_ms, decay_ms, __ATOMIC_RELAXED);
}

/* pageheap_free_all's report of each large span it frees. */
static void large_counted_free(void *arena, const struct span *s)
{
	arena_large_window_set((void *)s->base, 0);
	large_count_free(arena, s);
}

void arena_reset(struct arena *a)
{
	huge_free_all(a);
	large_cache_decay(a, true); /* counted free already */
	/* The bins forget their slabs; the pages go back with the rest below. */
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		bin_forget_slabs(&a->bins[cls]);
	pageheap_free_all(&a->heap, large_counted_free, a);
}

bool arena_destroyed(unsigned index)
{
	struct arena *a = index < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE) ? arena_get(index) : NULL;
	return a && __atomic_load_n(&a->destroyed, __ATOMIC_ACQUIRE);
}

void arena_set_destroyed(struct arena *a)
{
	__atomic_store_n(&a->destroyed, true, __ATOMIC_RELEASE);
}

int arena_revive(void)
{
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = narenas_auto; i < n; i++) {
		struct arena *a = arena_get(i);
		bool destroyed = true; /* two creates never revive one arena */
		if (a && __atomic_compare_exchange_n(&a->destroyed, &destroyed, false, false,
		                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&a->created_ns, arch_now_ns(), __ATOMIC_RELAXED);
			pageheap_set_decay(&a->heap, arena_default_decay());
			return (int)i;
		}
	}
	return -1;
}

void arena_destroy(struct arena *a)
{
	arena_purge(a, true);
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		bin_clear_counters(&a->bins[cls]);
	pageheap_clear_counters(&a->heap);
	__atomic_store_n(&a->large_nmalloc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&a->large_ndalloc, 0, __ATOMIC_RELAXED);
	for (unsigned j = 0; j < SC_NLARGE; j++) {
		__atomic_store_n(&a->lextent_nmalloc[j], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&a->lextent_ndalloc[j], 0, __ATOMIC_RELAXED);
	}
}
