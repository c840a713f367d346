/*
 * huge.c — huge blocks: each its own mapping, registered in the page map,
 * and the arena's cache of freed mappings with its decay.
 *
 * Call tree:
 *   arena_alloc_huge -> huge_cache_take | osmem_map -> pagemap_register
 *   huge_free        -> the cache | huge_unmap -> osmem_unmap
 *   huge_cache_decay (arena_purge, the background purger) -> huge_unmap
 */
#include "huge.h"

#include "arch.h"
#include "base.h"
#include "hardening.h"
#include "osmem.h"

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
 * again does not pay for mapping and page faults each time. The cache is
 * bounded in bytes and emptied by decay like dirty pages. */
#ifndef INGOT_HUGE_CACHE_MAX
#define INGOT_HUGE_CACHE_MAX ((size_t)128 << 20)
#endif
#define HUGE_CACHE_MAX ((size_t)(INGOT_HUGE_CACHE_MAX))

static void huge_caches_drop(void);

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

static void huge_unmap(struct chunk *c)
{
	STAT_ADD(c->arena->huge_mapped, -c->size);
	pagemap_unregister(c);
	osmem_unmap((void *)c->base, c->size, OSMEM_HEAP);
	huge_record_put(c);
}

/* The cached mapping closest in size to mapped bytes (one aligned to align
 * when it is big enough), taken out of the cache; NULL when there is none.
 * One smaller than mapped is grown by huge_grow_by_move. Of one bigger,
 * the pages past mapped stay up to as many as the block has
 * (HUGE_SLACK_MAX): they hold no data but are faulted in already, so a
 * realloc that grows into them, or the next block that reuses the mapping
 * at a larger size, costs no page fault; pages beyond that go back to the
 * OS (the block keeps the address space, not the memory). On the
 * large-buffers workload (20 blocks of 5-25 MiB, 200 steps, mappings grown
 * by moving) giving back every page past the block made 203 thousand page
 * faults and a peak RSS of 419 MiB, keeping as many as half the block 203
 * thousand and 419 MiB, as many as the block 172 thousand and 446 MiB,
 * keeping all 125 thousand and 503 MiB (tcmalloc 126 thousand, 505 MiB),
 * but a small block could then hold a big mapping's pages for its life. */
#define HUGE_SLACK_MAX(mapped) (mapped)
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
	if (found) {
		list_unlink(&a->huge_cached, found);
		a->huge_cached_bytes -= found->size;
	}
	arch_lock_release(&a->huge_lock);
	size_t keep = mapped + HUGE_SLACK_MAX(mapped);
	if (found && found->size > keep)
		pageheap_purge_range(found->base + keep, found->base + found->size);
	return found;
}

/* Grows cached mapping c, taken out of the cache and smaller than mapped,
 * to mapped bytes aligned to align by moving its pages to a new range
 * (arch_map_move): only the new tail faults in. False when that cannot be
 * done; c is then unmapped. The page map forgets the old range before the
 * move, so no other thread's mapping there can be registered first. */
static bool huge_grow_by_move(struct chunk *c, size_t mapped, size_t align)
{
	void *mem;
	size_t old = c->size;
	pagemap_unregister(c);
	if (osmem_map_move((void *)c->base, old, mapped, align, &mem) != 0) {
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

void *arena_alloc_huge(struct arena *a, size_t size, size_t align, bool zero)
{
	size_t mapped = ALIGN_UP(size, PAGE);
	/* Fresh mappings read as zero: zeroed requests skip the cache. */
	struct chunk *reused = zero ? NULL : huge_cache_take(a, mapped, MAX(align, CHUNK));
	if (reused && reused->size < mapped && !huge_grow_by_move(reused, mapped, MAX(align, CHUNK)))
		reused = NULL;
	if (reused) {
		reused->huge_usable = mapped;
		arch_lock_acquire(&a->huge_lock);
		list_push(&a->huge_list, reused);
		arch_lock_release(&a->huge_lock);
		STAT_ADD(a->large_nmalloc, 1);
		STAT_ADD(a->huge_allocated, mapped);
		harden_large_take((void *)reused->base, mapped);
		return (void *)reused->base;
	}
	struct chunk *c = huge_record_get();
	void *mem;
	if (!c)
		return NULL;
	int err = osmem_map(mapped, MAX(align, CHUNK), OSMEM_HEAP, &mem);
	if (err) {
		arenas_reclaim();
		err = osmem_map(mapped, MAX(align, CHUNK), OSMEM_HEAP, &mem);
	}
	if (err) {
		huge_record_put(c);
		return NULL;
	}
	/* Past the soft limit, cached mappings go back before new ones stay. */
	if (osmem_over_soft())
		huge_caches_drop();
	__atomic_store_n(&c->base, (uintptr_t)mem, __ATOMIC_RELEASE); /* see huge_grow_by_move */
	__atomic_store_n(&c->size, mapped, __ATOMIC_RELEASE);
	c->kind = CHUNK_KIND_HUGE;
	c->arena = a;
	c->huge_usable = mapped;
	if (pagemap_register(c) != 0) {
		osmem_unmap(mem, mapped, OSMEM_HEAP);
		huge_record_put(c);
		return NULL;
	}
	arch_lock_acquire(&a->huge_lock);
	list_push(&a->huge_list, c);
	arch_lock_release(&a->huge_lock);
	STAT_ADD(a->large_nmalloc, 1);
	STAT_ADD(a->huge_allocated, mapped);
	STAT_ADD(a->huge_mapped, mapped);
	return mem;
}

/* Returns true when the mapping was kept in the cache. */
bool huge_free(struct chunk *c)
{
	struct arena *a = c->arena;
	size_t usable = c->huge_usable;
	bool keep = a->heap.decay_ms != 0 && !ingot_hardening;
	arch_lock_acquire(&a->huge_lock);
	list_unlink(&a->huge_list, c);
	c->huge_usable = 0; /* a second free now finds a cached mapping */
	keep = keep && a->huge_cached_bytes + c->size <= HUGE_CACHE_MAX && !osmem_over_soft();
	if (keep) {
		c->huge_freed_ns = arch_now_ns();
		list_push(&a->huge_cached, c);
		a->huge_cached_bytes += c->size;
	}
	arch_lock_release(&a->huge_lock);
	STAT_ADD(a->large_ndalloc, 1);
	STAT_ADD(a->huge_allocated, -usable);
	if (!keep)
		huge_unmap(c);
	return keep;
}

/* Unmaps cached huge mappings older than the decay time (all with force). */
void huge_cache_decay(struct arena *a, bool force)
{
	int64_t decay_ms = a->heap.decay_ms;
	uint64_t now = arch_now_ns();
	struct chunk *expired = NULL;
	arch_lock_acquire(&a->huge_lock);
	struct chunk *c = a->huge_cached;
	while (c) {
		struct chunk *next = c->next;
		if (force || (decay_ms >= 0 && now - c->huge_freed_ns >= (uint64_t)decay_ms * 1000000u)) {
			list_unlink(&a->huge_cached, c);
			a->huge_cached_bytes -= c->size;
			c->next = expired;
			expired = c;
		}
		c = next;
	}
	arch_lock_release(&a->huge_lock);
	while (expired) {
		struct chunk *next = expired->next;
		huge_unmap(expired);
		expired = next;
	}
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

size_t huge_resize(struct chunk *c, size_t size, bool zero)
{
	size_t want = ALIGN_UP(size, PAGE);
	size_t old = c->huge_usable;
	if (want > c->size) {
		if (osmem_map_extend((void *)c->base, c->size, want) != 0)
			return 0;
		size_t old_mapped = c->size;
		__atomic_store_n(&c->size, want, __ATOMIC_RELEASE); /* see huge_grow_by_move */
		if (pagemap_register(c) != 0) {
			__atomic_store_n(&c->size, old_mapped, __ATOMIC_RELEASE);
			osmem_unmap((void *)(c->base + old_mapped), want - old_mapped, OSMEM_HEAP);
			return 0;
		}
		STAT_ADD(c->arena->huge_mapped, want - old_mapped);
	}
	if (want < old) {
		pageheap_purge_range(c->base + want, c->base + old);
	} else if (zero && want > old) {
		ingot_memset((void *)(c->base + old), 0, want - old);
	}
	c->huge_usable = want;
	STAT_ADD(c->arena->huge_allocated, want - old);
	return want;
}

/* When the oldest cached huge mapping's decay time is up (UINT64_MAX:
 * none cached, or decay off). */
uint64_t huge_cache_deadline(struct arena *a)
{
	int64_t decay_ms = a->heap.decay_ms;
	uint64_t deadline = UINT64_MAX;
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c && decay_ms >= 0; c = c->next)
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
