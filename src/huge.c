/*
 * huge.c — huge blocks: each its own mapping, registered in the page map,
 * and the arena's cache of freed mappings with its decay.
 *
 * Call tree:
 *   arena_alloc_huge -> huge_cache_take [-> huge_absorb_next] [-> huge_grow_by_move
 *                       -> huge_fill_tail] [-> huge_split_off]
 *                       | osmem_map -> pagemap_register
 *   huge_free        -> the cache | huge_unmap -> osmem_unmap
 *   huge_resize      -> [huge_absorb_next] [-> osmem_map_extend -> huge_fill_tail]
 *   arena_move_huge  -> osmem_map_move [-> huge_fill_tail] (realloc's growth)
 *   huge_cache_decay (arena_purge, the background purger) -> huge_unmap
 */
#include "huge.h"

#include "arch.h"
#include "base.h"
#include "hardening.h"
#include "osmem.h"
#include "report.h"

/* Recycled huge records, under huge_records_lock. */
static arch_lock_t huge_records_lock = ARCH_LOCK_INIT;
static struct chunk *huge_records;

static struct chunk *huge_record_get(void)
{
	arch_lock_acquire(&huge_records_lock);
	struct chunk *c = huge_records;
	if (c)
		huge_records = c->next;
	arch_lock_release(&huge_records_lock);
	if (c) {
		ingot_memset(c, 0, HUGE_RECORD_SIZE);
		return c;
	}
	return base_alloc(HUGE_RECORD_SIZE);
}

static void huge_record_put(struct chunk *c)
{
	c->kind = 0;
	arch_lock_acquire(&huge_records_lock);
	c->next = huge_records;
	huge_records = c;
	arch_lock_release(&huge_records_lock);
}

/* Freed huge mappings are kept (still mapped and registered, marked by
 * huge_usable == 0) so that a program that frees and allocates big buffers
 * again does not pay for mapping and page faults each time. They and the
 * slack of live blocks (below) are bounded in bytes, the oldest mapping
 * going first when a free passes the bound, and given back by decay like
 * dirty pages: on every huge free, as well as by arena_purge and the
 * background purger, so that a program making only huge blocks decays too. */
#ifndef INGOT_HUGE_CACHE_MAX
#define INGOT_HUGE_CACHE_MAX ((size_t)256 << 20)
#endif
#define HUGE_CACHE_MAX ((size_t)(INGOT_HUGE_CACHE_MAX))

static void huge_caches_drop(void);

/* Hardened heaps (guard pages) cache freed huge mappings too: the freed
 * range stays inaccessible, its pages moved to a fresh one (huge_move_out)
 * or, where they cannot move, kept in place made inaccessible by one
 * mprotect; a read or write after free faults and is reported (harden.c,
 * harden_guard_fault). Reuse makes only the new block's pages accessible,
 * so that a live block's slack, the cached pages past it, also faults (an
 * overflow). The pages stay faulted in: a program cycling through big
 * buffers pays a few calls a block, not a mapping and a fault a page.
 * Moving pages (mremap) keeps their protection. */
static bool huge_guarded(void)
{
	return (ingot_hardening & HARDEN_GUARD_PAGES) != 0;
}

/* Block c's bytes from from to to made accessible or not (guarded heaps). */
static void huge_protect(struct chunk *c, size_t from, size_t to, bool accessible)
{
	if (huge_guarded() && to > from)
		(void)arch_protect((void *)(c->base + from), to - from, accessible);
}

/* Bytes a guarded heap maps past each huge block: one inaccessible page,
 * so that an overflow faults (reported as one, harden.c) rather than reach
 * the mapping after it. It is slack (huge_usable < size), and a block that
 * grows in place keeps one past its new end. */
static size_t huge_guard_size(void)
{
	return huge_guarded() ? PAGE : 0;
}

static void list_unlink(struct chunk **head, struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void list_push(struct chunk **head, struct chunk *c)
{
	c->prev = NULL;
	c->next = *head;
	if (c->next)
		c->next->prev = c;
	*head = c;
}

/* Whether a time stamp taken at since is older than a's decay time. */
/* Takes cached mapping c out of its arena's cache (under huge_lock). */
static void cache_remove_locked(struct arena *a, struct chunk *c)
{
	list_unlink(&a->huge_cached, c);
	a->huge_cached_bytes -= c->size;
}

static bool decay_expired(const struct arena *a, uint64_t since, uint64_t now)
{
	int64_t decay_ms = a->heap.decay_ms;
	return decay_ms >= 0 && now - since >= (uint64_t)decay_ms * 1000000u;
}

/* The slack list (under huge_lock): live blocks in mappings bigger than
 * them. A block's huge_usable and size change only while it is off the
 * list, so the list's byte count stays exact. */
static void slack_link_locked(struct arena *a, struct chunk *c, uint64_t since)
{
	c->huge_slack_ns = since;
	c->huge_slack_listed = true;
	c->slack_prev = NULL;
	c->slack_next = a->huge_slack;
	if (c->slack_next)
		c->slack_next->slack_prev = c;
	a->huge_slack = c;
	a->huge_slack_bytes += c->size - c->huge_usable;
}

static void slack_unlink_locked(struct arena *a, struct chunk *c)
{
	if (!c->huge_slack_listed)
		return;
	if (c->slack_prev)
		c->slack_prev->slack_next = c->slack_next;
	else
		a->huge_slack = c->slack_next;
	if (c->slack_next)
		c->slack_next->slack_prev = c->slack_prev;
	c->huge_slack_listed = false;
	a->huge_slack_bytes -= c->size - c->huge_usable;
}

/* Gives back the slack of live blocks older than the decay time (all with
 * force). The purge runs under huge_lock: a block's owner takes the lock
 * (huge_resize) before it grows into its slack, so no data is lost. */
static void slack_decay_locked(struct arena *a, uint64_t now, bool force)
{
	struct chunk *c = a->huge_slack;
	while (c) {
		struct chunk *next = c->slack_next;
		if (force || decay_expired(a, c->huge_slack_ns, now)) {
			slack_unlink_locked(a, c);
			pageheap_purge_range(c->base + c->huge_usable, c->base + c->size);
		}
		c = next;
	}
}

/* Takes out of a's list *head (its newest first, its bytes counted in
 * *bytes), oldest first, those older than the decay time (all with force)
 * and those past max bytes; returns them linked by next, for the caller to
 * give back once the lock is let go. The cache of freed mappings and a
 * guarded heap's freed ranges are both such lists. */
static struct chunk *trim_oldest_locked(struct arena *a, struct chunk **head, size_t *bytes,
                                        size_t max, uint64_t now, bool force)
{
	struct chunk *out = NULL, *c = *head;
	while (c && c->next)
		c = c->next;
	while (c) {
		struct chunk *newer = c->prev;
		if (!force && *bytes <= max && !decay_expired(a, c->huge_freed_ns, now))
			break; /* in the order of the frees: the rest is newer */
		list_unlink(head, c);
		*bytes -= c->size;
		c->next = out;
		out = c;
		c = newer;
	}
	return out;
}

/* Takes out of the cache, oldest first, the mappings older than the decay
 * time and those past the byte bound (trim_oldest_locked), for huge_unmap. */
static struct chunk *cache_trim_locked(struct arena *a, uint64_t now)
{
	return trim_oldest_locked(a, &a->huge_cached, &a->huge_cached_bytes, HUGE_CACHE_MAX, now, false);
}

/* A cached mapping goes back to the OS at the next huge free once its
 * arena's page heap has grown by as many pages as the mapping holds since
 * it was freed, and in at least HUGE_CACHE_SPELLS takes of fresh pages
 * (huge.h): the mapping's memory sat unused while the program faulted in
 * as much again beside it, so the program is growing rather than cycling
 * through big buffers, and the mapping only adds to its peak
 * (realloc-array: arrays doubling through the large classes to 8 MiB held
 * freed 8 MiB mappings while the large ones grew). A program that frees
 * and allocates huge blocks again takes them from the cache first. */
static size_t heap_fresh_takes(struct arena *a)
{
	return __atomic_load_n(&a->heap.fresh_takes, __ATOMIC_RELAXED);
}

/* Pages the arena's page heap holds resident or about to be (in use, or
 * free and dirty). */
static size_t heap_held_pages(struct arena *a)
{
	arch_lock_acquire(&a->heap.lock);
	size_t pages = a->heap.npages_active + a->heap.npages_dirty;
	arch_lock_release(&a->heap.lock);
	return pages;
}

/* Takes out of the cache the mappings the page heap has grown past since
 * they were freed (held: heap_held_pages now), linked by next, for
 * huge_unmap. */
static struct chunk *cache_grown_locked(struct arena *a, size_t held)
{
	size_t fresh = heap_fresh_takes(a);
	struct chunk *out = NULL, *c = a->huge_cached;
	while (c) {
		struct chunk *next = c->next;
		if (fresh - c->huge_fresh_mark >= HUGE_CACHE_SPELLS &&
		    held >= c->huge_held_mark + (c->size >> LG_PAGE)) {
			cache_remove_locked(a, c);
			c->next = out;
			out = c;
		}
		c = next;
	}
	return out;
}

static void huge_unmap(struct chunk *c)
{
	STAT_ADD(c->arena->huge_mapped, -c->size);
	pagemap_unregister(c);
	osmem_unmap((void *)c->base, c->size, OSMEM_HEAP);
	huge_record_put(c);
}

/* The cached mapping closest in size to mapped bytes (one aligned to align
 * when it is big enough), taken out of the cache; NULL when there is none.
 * One smaller than mapped is grown by huge_grow_by_move. One bigger keeps
 * all its pages: those past the block are its slack, which holds no data
 * but is faulted in already, so a realloc that grows into it, or the next
 * block that reuses the mapping at a larger size, costs no page fault. The
 * slack goes back to the OS after the decay time (slack_decay_locked), so a
 * small block does not hold a big mapping's memory for its life. */
static struct chunk *huge_cache_take(struct arena *a, size_t mapped, size_t align)
{
	struct chunk *found = NULL;
	size_t best = SIZE_MAX;
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c; c = c->next) {
		if (c->size >= mapped && (c->base & (align - 1)))
			continue;
		size_t distance = c->size >= mapped ? c->size - mapped : mapped - c->size;
		if (distance < best) {
			best = distance;
			found = c;
		}
	}
	if (found)
		cache_remove_locked(a, found);
	arch_lock_release(&a->huge_lock);
	return found;
}

/* Moves the pages of cached mapping c (taken out of the cache, and out of
 * the page map) to the head of a fresh range of mapped bytes aligned to
 * align. One mremap does it where it can; a mapping that huge_fill_tail
 * put together from parts may need to go part by part on older kernels. */
static int move_cached(struct chunk *c, size_t mapped, size_t align, void **mem)
{
	int err = osmem_map_move((void *)c->base, c->size, mapped, align, mem);
	if (err != ARCH_ENOMEM)
		return err;
	if (osmem_map(mapped, align, OSMEM_HEAP, mem) != 0)
		return ARCH_ENOMEM;
	err = osmem_map_move_onto((void *)c->base, c->size, *mem);
	if (err)
		osmem_unmap(*mem, mapped, OSMEM_HEAP);
	return err;
}

/* Grows cached mapping c, taken out of the cache and smaller than mapped,
 * to mapped bytes aligned to align by moving its pages to a new range:
 * only the new tail faults in. False when that cannot be done; c is then
 * unmapped. The page map forgets the old range before the move, so no
 * other thread's mapping there can be registered first. */
static bool huge_grow_by_move(struct chunk *c, size_t mapped, size_t align)
{
	void *mem;
	size_t old = c->size;
	pagemap_unregister(c);
	if (move_cached(c, mapped, align, &mem) != 0) {
		STAT_ADD(c->arena->huge_mapped, -old);
		osmem_unmap((void *)c->base, old, OSMEM_HEAP);
		huge_record_put(c);
		return false;
	}
	/* ingot_check reads the range of a record it reached through the page
	 * map without a lock (check.c, entry_check). */
	__atomic_store_n(&c->base, (uintptr_t)mem, __ATOMIC_RELEASE);
	__atomic_store_n(&c->size, mapped, __ATOMIC_RELEASE);
	if (pagemap_register(c) != 0) {
		STAT_ADD(c->arena->huge_mapped, -old);
		osmem_unmap(mem, mapped, OSMEM_HEAP);
		huge_record_put(c);
		return false;
	}
	STAT_ADD(c->arena->huge_mapped, mapped - old);
	return true;
}

/* Puts mapping c back in the cache at its place by free time (newest
 * first, as cache_trim_locked expects). */
static void cache_insert_locked(struct arena *a, struct chunk *c)
{
	struct chunk *after = NULL;
	for (struct chunk *o = a->huge_cached; o && o->huge_freed_ns > c->huge_freed_ns; o = o->next)
		after = o;
	c->prev = after;
	c->next = after ? after->next : a->huge_cached;
	if (c->next)
		c->next->prev = c;
	if (after)
		after->next = c;
	else
		a->huge_cached = c;
	a->huge_cached_bytes += c->size;
}

/* The cached mapping to fill room bytes from: the smallest of at least
 * room bytes, else the largest; taken out of the cache, or NULL. */
static struct chunk *huge_cache_take_filler(struct arena *a, size_t room)
{
	struct chunk *found = NULL;
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c; c = c->next) {
		bool fits = c->size >= room, found_fits = found && found->size >= room;
		if (!found || (fits && (!found_fits || c->size < found->size)) ||
		    (!fits && !found_fits && c->size > found->size))
			found = c;
	}
	if (found)
		cache_remove_locked(a, found);
	arch_lock_release(&a->huge_lock);
	return found;
}

/* Block c has just been grown by moving, from filled bytes to c->size: the
 * pages past filled are fresh and would fault in one by one. Moves pages
 * of other cached mappings onto them instead (the tail of one, or whole
 * ones), so that memory faulted in once serves again whatever sizes the
 * blocks take, as a page heap's free spans do. A cached mapping that gave
 * part of its pages stays cached with the rest; pages that could not be
 * moved are unmapped. */
static void huge_fill_tail(struct arena *a, struct chunk *c, size_t filled)
{
	struct chunk *o;
	while (filled < c->size && (o = huge_cache_take_filler(a, c->size - filled))) {
		size_t n = MIN(o->size, c->size - filled);
		void *from = (void *)(o->base + o->size - n);
		pagemap_unregister(o);
		STAT_ADD(a->huge_mapped, -n);
		if (osmem_map_move_onto(from, n, (void *)(c->base + filled)) == 0)
			filled += n;
		else
			osmem_unmap(from, n, OSMEM_HEAP);
		__atomic_store_n(&o->size, o->size - n, __ATOMIC_RELEASE); /* see huge_grow_by_move */
		if (o->size && pagemap_register(o) == 0) {
			arch_lock_acquire(&a->huge_lock);
			cache_insert_locked(a, o);
			arch_lock_release(&a->huge_lock);
			continue;
		}
		if (o->size) {
			STAT_ADD(a->huge_mapped, -o->size);
			osmem_unmap((void *)o->base, o->size, OSMEM_HEAP);
		}
		huge_record_put(o);
	}
}

/* The cached mapping that starts where block c's mapping ends, taken
 * out of the cache, or NULL. The page map only suggests it: it counts
 * once it is found in the cache under the lock. */
static struct chunk *cache_take_next(struct chunk *c)
{
	struct arena *a = c->arena;
	uintptr_t end = c->base + c->size;
	struct chunk *next = pagemap_lookup(end), *o = NULL;
	if (!next)
		return NULL;
	arch_lock_acquire(&a->huge_lock);
	for (o = a->huge_cached; o && o != next; o = o->next) {
	}
	if (o && o->base == end)
		cache_remove_locked(a, o);
	else
		o = NULL;
	arch_lock_release(&a->huge_lock);
	return o;
}

/* Grows block c's mapping (a live block's, or a cached one taken for a
 * bigger block) over the cached mappings that follow it (the rest of one
 * it reused, split off by huge_split_off) until it spans want bytes or none
 * follows: growth in place with pages faulted in already. Their pages were
 * counted as mapped; now they are c's. */
static void huge_absorb_next(struct chunk *c, size_t want)
{
	struct chunk *next;
	while (c->size < want && (next = cache_take_next(c)) != NULL) {
		size_t size = next->size;
		pagemap_unregister(next);
		huge_record_put(next);
		__atomic_store_n(&c->size, c->size + size, __ATOMIC_RELEASE); /* see huge_grow_by_move */
		if (pagemap_register(c) != 0) /* covered: both ranges were */
			ingot_report_corrupt_meta((void *)c->base, "huge block outside the page map");
	}
}

/* Splits the pages of reused mapping c past keep bytes (a multiple of
 * CHUNK, less than its size) off into a cached mapping of their own, as
 * old as c's time in the cache: a block that reuses a bigger mapping
 * leaves the rest to the next block rather than holding it as slack until
 * decay (20 buffers of 5 to 25 MiB each held a mapping of the largest
 * size). The pages stay where they are, so nothing faults in again; c is
 * out of every list, and the new record is in the page map before it is
 * cached. Without a record the rest stays slack. */
static void huge_split_off(struct arena *a, struct chunk *c, size_t keep)
{
	struct chunk *o = huge_record_get();
	if (!o)
		return;
	o->kind = CHUNK_KIND_HUGE;
	o->arena = a;
	o->huge_freed_ns = c->huge_freed_ns;
	o->huge_fresh_mark = c->huge_fresh_mark;
	o->huge_held_mark = c->huge_held_mark;
	__atomic_store_n(&o->base, c->base + keep, __ATOMIC_RELEASE); /* see huge_grow_by_move */
	__atomic_store_n(&o->size, c->size - keep, __ATOMIC_RELEASE);
	if (pagemap_register(o) != 0) {
		huge_record_put(o);
		return;
	}
	__atomic_store_n(&c->size, keep, __ATOMIC_RELEASE);
	arch_lock_acquire(&a->huge_lock);
	cache_insert_locked(a, o);
	arch_lock_release(&a->huge_lock);
}

void *arena_alloc_huge(struct arena *a, size_t size, size_t align, bool zero)
{
	size_t mapped = ALIGN_UP(size, PAGE), span = mapped + huge_guard_size();
	/* Fresh mappings read as zero: zeroed requests skip the cache. */
	struct chunk *reused = zero ? NULL : huge_cache_take(a, span, MAX(align, CHUNK));
	if (reused && reused->size < span && (reused->base & (MAX(align, CHUNK) - 1)) == 0)
		huge_absorb_next(reused, span);
	if (reused && reused->size < span) {
		size_t filled = reused->size;
		if (huge_grow_by_move(reused, span, MAX(align, CHUNK)))
			huge_fill_tail(a, reused, filled);
		else
			reused = NULL;
	}
	if (reused && reused->size > ALIGN_UP(span, CHUNK))
		huge_split_off(a, reused, ALIGN_UP(span, CHUNK));
	if (reused) {
		reused->huge_usable = mapped;
		uint64_t now = reused->size > mapped ? arch_now_ns() : 0;
		arch_lock_acquire(&a->huge_lock);
		list_push(&a->huge_list, reused);
		if (reused->size > mapped)
			slack_link_locked(a, reused, now);
		arch_lock_release(&a->huge_lock);
		STAT_ADD(a->large_nmalloc, 1);
		STAT_ADD(a->huge_allocated, mapped);
		/* Its slack and guard page stay inaccessible (pages a growth by
		 * moving added may not have been: made so). */
		huge_protect(reused, 0, mapped, true);
		huge_protect(reused, mapped, reused->size, false);
		harden_large_take((void *)reused->base, mapped);
		return (void *)reused->base;
	}
	struct chunk *c = huge_record_get();
	void *mem;
	if (!c)
		return NULL;
	int err = osmem_map(span, MAX(align, CHUNK), OSMEM_HEAP, &mem);
	if (err) {
		arenas_reclaim();
		err = osmem_map(span, MAX(align, CHUNK), OSMEM_HEAP, &mem);
	}
	if (err) {
		huge_record_put(c);
		return NULL;
	}
	/* Past the soft limit, cached mappings go back before new ones stay. */
	if (osmem_over_soft())
		huge_caches_drop();
	__atomic_store_n(&c->base, (uintptr_t)mem, __ATOMIC_RELEASE); /* see huge_grow_by_move */
	__atomic_store_n(&c->size, span, __ATOMIC_RELEASE);
	c->kind = CHUNK_KIND_HUGE;
	c->arena = a;
	c->huge_usable = mapped;
	if (pagemap_register(c) != 0) {
		osmem_unmap(mem, span, OSMEM_HEAP);
		huge_record_put(c);
		return NULL;
	}
	/* Its guard page holds no data and is never faulted in: not slack
	 * to decay. */
	huge_protect(c, mapped, span, false);
	arch_lock_acquire(&a->huge_lock);
	list_push(&a->huge_list, c);
	arch_lock_release(&a->huge_lock);
	STAT_ADD(a->large_nmalloc, 1);
	STAT_ADD(a->huge_allocated, mapped);
	STAT_ADD(a->huge_mapped, span);
	return mem;
}

static void unmap_all(struct chunk *list)
{
	while (list) {
		struct chunk *next = list->next;
		huge_unmap(list);
		list = next;
	}
}

/* ---- guarded heaps: freed ranges ------------------------------------------ */

/* Address space (no memory) kept for freed ranges, per arena. */
#define HUGE_FREED_MAX ((size_t)1 << 30)

/* Takes out of a's freed ranges, oldest first, those older than the decay
 * time (all with force) and those past the bound (trim_oldest_locked). */
static struct chunk *freed_trim_locked(struct arena *a, uint64_t now, bool force)
{
	return trim_oldest_locked(a, &a->huge_freed, &a->huge_freed_bytes, HUGE_FREED_MAX, now, force);
}

/* Unmaps freed ranges (linked by next), which hold no memory. */
static void freed_unmap_all(struct chunk *list)
{
	while (list) {
		struct chunk *next = list->next;
		pagemap_unregister(list);
		osmem_unmap_empty((void *)list->base, list->size);
		huge_record_put(list);
		list = next;
	}
}

/* Moves the pages of freed block c (its usable bytes) to a fresh range,
 * which c then describes, to be cached accessible (no pointer the program
 * holds leads there: it was never handed out), and keeps c's old range
 * mapped, empty and inaccessible, under a record of its own, returned
 * (NULL when the OS cannot: c is as it was). An access there faults and is
 * reported as a use after free (harden.c) until decay unmaps it, and no
 * other mapping can take the range meanwhile. The pages move by whole page
 * tables: about 50 us a 15 MiB block, where mprotect to inaccessible and
 * back took 2.8 ms (it changes every page's entry). */
static struct chunk *huge_move_out(struct arena *a, struct chunk *c, size_t usable)
{
	struct chunk *old = huge_record_get();
	void *mem;
	if (!old)
		return NULL;
	if (osmem_map(c->size, CHUNK, OSMEM_HEAP, &mem) != 0) {
		huge_record_put(old);
		return NULL;
	}
	if (osmem_map_move_out((void *)c->base, usable, mem) != 0) {
		osmem_unmap(mem, c->size, OSMEM_HEAP);
		huge_record_put(old);
		return NULL;
	}
	old->kind = CHUNK_KIND_HUGE;
	old->arena = a;
	pagemap_unregister(c);
	__atomic_store_n(&old->base, c->base, __ATOMIC_RELEASE); /* see huge_grow_by_move */
	__atomic_store_n(&old->size, c->size, __ATOMIC_RELEASE);
	__atomic_store_n(&c->base, (uintptr_t)mem, __ATOMIC_RELEASE);
	/* The map covers every address the OS hands out, and c's old range
	 * was in it. */
	if (pagemap_register(old) != 0 || pagemap_register(c) != 0)
		ingot_report_corrupt_meta(mem, "huge block outside the page map");
	/* The rest, inaccessible (its guard page, and a reused mapping's slack
	 * faulted in once), moves too, for the next block that reuses the
	 * mapping; if it cannot (made of parts), it is given back. The old
	 * range then holds no memory: it counts neither against the limits
	 * nor as mapped (c's new range does). */
	size_t rest = old->size - usable;
	if (rest && osmem_map_move_out((void *)(old->base + usable), rest,
	                               (void *)(c->base + usable)) != 0)
		pageheap_purge_range(old->base + usable, old->base + old->size);
	osmem_uncount(old->size);
	return old;
}

/* huge_free in a guarded heap: the freed block's pages go to the cache at
 * a new address (huge_move_out), or, where they cannot move, stay where
 * they are made inaccessible (one mprotect over them). */
static bool huge_free_guarded(struct chunk *c)
{
	struct arena *a = c->arena;
	size_t usable = c->huge_usable;
	arch_lock_acquire(&a->huge_lock);
	slack_unlink_locked(a, c);
	list_unlink(&a->huge_list, c);
	c->huge_usable = 0; /* a second free now finds a freed block */
	arch_lock_release(&a->huge_lock);
	STAT_ADD(a->large_ndalloc, 1);
	STAT_ADD(a->huge_allocated, -usable);
	struct chunk *old = NULL;
	bool cache = a->heap.decay_ms != 0 && !osmem_over_soft();
	if (cache)
		old = huge_move_out(a, c, usable);
	if (cache && !old)
		cache = arch_protect((void *)c->base, c->size, false) == 0;
	if (!cache) {
		huge_unmap(c);
		return false;
	}
	uint64_t now = arch_now_ns();
	arch_lock_acquire(&a->huge_lock);
	c->huge_freed_ns = now;
	list_push(&a->huge_cached, c);
	a->huge_cached_bytes += c->size;
	if (old) {
		old->huge_freed_ns = now;
		list_push(&a->huge_freed, old);
		a->huge_freed_bytes += old->size;
	}
	slack_decay_locked(a, now, false);
	struct chunk *dropped = cache_trim_locked(a, now);
	struct chunk *freed = freed_trim_locked(a, now, false);
	bool keep = a->huge_cached == c; /* else it was dropped itself */
	arch_lock_release(&a->huge_lock);
	unmap_all(dropped);
	freed_unmap_all(freed);
	return keep;
}

/* Returns true when the mapping was kept in the cache. The newest mapping
 * stays and older ones go when the bound is passed: a program cycling
 * through big buffers reuses the ones it freed last. */
bool huge_free(struct chunk *c)
{
	struct arena *a = c->arena;
	size_t usable = c->huge_usable;
	if (huge_guarded())
		return huge_free_guarded(c);
	bool cache = a->heap.decay_ms != 0 && !ingot_hardening && !osmem_over_soft();
	bool keep = false;
	uint64_t now = arch_now_ns();
	size_t held = cache ? heap_held_pages(a) : 0;
	struct chunk *dropped = NULL, *grown = NULL;
	arch_lock_acquire(&a->huge_lock);
	slack_unlink_locked(a, c);
	list_unlink(&a->huge_list, c);
	c->huge_usable = 0; /* a second free now finds a cached mapping */
	if (cache) {
		c->huge_freed_ns = now;
		c->huge_fresh_mark = heap_fresh_takes(a);
		c->huge_held_mark = held;
		list_push(&a->huge_cached, c);
		a->huge_cached_bytes += c->size;
		slack_decay_locked(a, now, false);
		dropped = cache_trim_locked(a, now);
		grown = cache_grown_locked(a, held);
		keep = a->huge_cached == c; /* else it was dropped itself */
	}
	arch_lock_release(&a->huge_lock);
	STAT_ADD(a->large_ndalloc, 1);
	STAT_ADD(a->huge_allocated, -usable);
	unmap_all(dropped); /* c among them when it was dropped itself */
	unmap_all(grown);
	if (!cache)
		huge_unmap(c);
	return keep;
}

/* Unmaps cached huge mappings older than the decay time and gives back
 * live blocks' slack as old (all of both with force). */
void huge_cache_decay(struct arena *a, bool force)
{
	uint64_t now = arch_now_ns();
	struct chunk *expired = NULL;
	arch_lock_acquire(&a->huge_lock);
	slack_decay_locked(a, now, force);
	struct chunk *c = a->huge_cached;
	while (c) {
		struct chunk *next = c->next;
		if (force || decay_expired(a, c->huge_freed_ns, now)) {
			cache_remove_locked(a, c);
			c->next = expired;
			expired = c;
		}
		c = next;
	}
	struct chunk *freed = freed_trim_locked(a, now, force);
	arch_lock_release(&a->huge_lock);
	unmap_all(expired);
	freed_unmap_all(freed);
}

/* Unmaps every arena's cached huge mappings. */
static void huge_caches_drop(void)
{
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct arena *a = arena_get(i);
		if (a)
			huge_cache_decay(a, true);
	}
}

void huge_free_all(struct arena *a)
{
	for (;;) {
		arch_lock_acquire(&a->huge_lock);
		struct chunk *c = a->huge_list;
		arch_lock_release(&a->huge_lock);
		if (!c)
			break;
		huge_free(c);
	}
}

/* Puts block c back on the slack list after huge_resize took it off (since:
 * when its slack was made; 0 when it had none) if it still has slack. */
static void slack_relink(struct chunk *c, uint64_t since)
{
	if (since == 0 || c->size == c->huge_usable)
		return;
	arch_lock_acquire(&c->arena->huge_lock);
	slack_link_locked(c->arena, c, since);
	arch_lock_release(&c->arena->huge_lock);
}

size_t huge_resize(struct chunk *c, size_t size, bool zero)
{
	/* Off the slack list while it changes, so decay cannot purge pages the
	 * block grows into. */
	arch_lock_acquire(&c->arena->huge_lock);
	uint64_t slack_since = c->huge_slack_listed ? c->huge_slack_ns : 0;
	slack_unlink_locked(c->arena, c);
	arch_lock_release(&c->arena->huge_lock);
	size_t want = ALIGN_UP(size, PAGE), span = want + huge_guard_size();
	size_t old = c->huge_usable;
	if (span > c->size)
		huge_absorb_next(c, span);
	if (!slack_since && c->size > old)
		slack_since = arch_now_ns(); /* pages it took are slack until used */
	if (span > c->size) {
		/* A guarded heap's block is two mappings to the OS (its pages,
		 * its inaccessible slack and guard page), which mremap cannot
		 * extend as one: they are made one first. */
		huge_protect(c, old, c->size, true);
		if (osmem_map_extend((void *)c->base, c->size, span) != 0) {
			huge_protect(c, old, c->size, false);
			slack_relink(c, slack_since);
			return 0;
		}
		size_t old_mapped = c->size;
		__atomic_store_n(&c->size, span, __ATOMIC_RELEASE); /* see huge_grow_by_move */
		if (pagemap_register(c) != 0) {
			__atomic_store_n(&c->size, old_mapped, __ATOMIC_RELEASE);
			osmem_unmap((void *)(c->base + old_mapped), span - old_mapped, OSMEM_HEAP);
			huge_protect(c, old, old_mapped, false);
			slack_relink(c, slack_since);
			return 0;
		}
		STAT_ADD(c->arena->huge_mapped, span - old_mapped);
		huge_protect(c, old_mapped, span, false); /* as the slack before them */
		/* Pages faulted in once, not fresh ones, while cached mappings
		 * hold some. */
		if (!zero)
			huge_fill_tail(c->arena, c, old_mapped);
	}
	if (want < old) {
		pageheap_purge_range(c->base + want, c->base + old);
		huge_protect(c, want, old, false); /* slack now */
	} else if (want > old) {
		huge_protect(c, old, want, true);
		if (zero)
			ingot_memset((void *)(c->base + old), 0, want - old);
	}
	c->huge_usable = want;
	slack_relink(c, slack_since);
	STAT_ADD(c->arena->huge_allocated, want - old);
	return want;
}

void *arena_move_huge(struct chunk *c, size_t size, bool zero)
{
	struct arena *a = c->arena;
	size_t want = ALIGN_UP(size, PAGE), old_usable = c->huge_usable, old_mapped = c->size;
	size_t span = want + huge_guard_size();
	void *mem;
	/* Off the lists while it moves: ingot_check finds every listed block
	 * in the page map. */
	arch_lock_acquire(&a->huge_lock);
	uint64_t slack_since = c->huge_slack_listed ? c->huge_slack_ns : 0;
	slack_unlink_locked(a, c);
	list_unlink(&a->huge_list, c);
	arch_lock_release(&a->huge_lock);
	pagemap_unregister(c);
	/* To the OS a guarded heap's block is two mappings, its pages and then
	 * its inaccessible slack and guard page, and one mremap moves only
	 * one: the pages move, the rest is unmapped. */
	uintptr_t old_base = c->base;
	size_t moving = huge_guarded() ? old_usable : old_mapped;
	bool moved = osmem_map_move((void *)old_base, moving, span, CHUNK, &mem) == 0;
	if (moved && moving < old_mapped)
		osmem_unmap((void *)(old_base + moving), old_mapped - moving, OSMEM_HEAP);
	if (moved) {
		__atomic_store_n(&c->base, (uintptr_t)mem, __ATOMIC_RELEASE); /* see huge_grow_by_move */
		__atomic_store_n(&c->size, span, __ATOMIC_RELEASE);
	}
	/* The map covers every address the OS hands out (the back ends that
	 * cannot say so cannot move either), and the old range was in it. */
	if (pagemap_register(c) != 0)
		ingot_report_corrupt_meta(mem, "moved huge block outside the page map");
	arch_lock_acquire(&a->huge_lock);
	list_push(&a->huge_list, c);
	if (!moved && slack_since)
		slack_link_locked(a, c, slack_since);
	arch_lock_release(&a->huge_lock);
	if (!moved)
		return NULL;
	STAT_ADD(a->huge_mapped, span - old_mapped);
	STAT_ADD(a->huge_allocated, want - old_usable);
	c->huge_usable = want;
	/* Past moving the pages are fresh (they read as zero); between
	 * old_usable and it, the slack of a reused mapping, they are not.
	 * Pages moved from cached mappings were inaccessible. */
	if (!zero)
		huge_fill_tail(a, c, moving);
	huge_protect(c, old_usable, want, true);
	huge_protect(c, want, span, false);
	if (zero)
		ingot_memset((char *)mem + old_usable, 0, moving - old_usable);
	return mem;
}

/* When the oldest cached huge mapping's or slack's decay time is up
 * (UINT64_MAX: none, or decay off). */
uint64_t huge_cache_deadline(struct arena *a)
{
	int64_t decay_ms = a->heap.decay_ms;
	uint64_t deadline = UINT64_MAX;
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c && decay_ms >= 0; c = c->next)
		deadline = MIN(deadline, c->huge_freed_ns + (uint64_t)decay_ms * 1000000u);
	for (struct chunk *c = a->huge_slack; c && decay_ms >= 0; c = c->slack_next)
		deadline = MIN(deadline, c->huge_slack_ns + (uint64_t)decay_ms * 1000000u);
	for (struct chunk *c = a->huge_freed; c && decay_ms >= 0; c = c->next)
		deadline = MIN(deadline, c->huge_freed_ns + (uint64_t)decay_ms * 1000000u);
	arch_lock_release(&a->huge_lock);
	return deadline;
}

void huge_records_fork_prepare(void) { arch_lock_acquire(&huge_records_lock); }

void huge_records_fork_release(bool child)
{
	if (child)
		arch_lock_reset(&huge_records_lock);
	else
		arch_lock_release(&huge_records_lock);
}
