/*
 * tcache.c — thread caches: creation, refill, flush, garbage passes, exit.
 *
 * Call tree:
 *   tcache_malloc (inline) -miss-> tcache_alloc_slow
 *       -> tcache_get (first call: tcache_new, arch_thread_exit_register)
 *       -> bin_refill -> bin_alloc_batch           (small)
 *       -> alloc_uncached -> arena_alloc_*         (large, huge, no cache)
 *   tcache_free (inline) -full/other-> tcache_free_slow
 *       -> bin_flush -> arena_free_batch           (small, cache full)
 *       -> arena_free                              (large, huge, no cache)
 *   every TCACHE_GC_EVENTS slow-path events: gc_pass -> bin_flush
 *   thread exit: ingot_thread_exit -> tcache_flush -> record reused
 */
#include "tcache.h"

#include "arch.h"
#include "base.h"
#include "boot.h"
#include "report.h"
#include "tcache_inline.h"

#define TCACHE_CLASS_BYTES 32768u /* target bytes cached per class */
#define TCACHE_NCAP_MIN 4u
#define TCACHE_NCAP_MAX 256u
#define TCACHE_GC_EVENTS 64u

_Thread_local struct tcache_tls tcache_tls;

static uint16_t class_ncap[SC_NSMALL + 1];
static size_t slots_total;  /* stack slots per cache, sentinels included */
static bool enabled_default;

/* Every cache, live or spare, under list_lock. */
static arch_lock_t list_lock = ARCH_LOCK_INIT;
static struct tcache *all_tcaches;
static struct tcache *spare_tcaches; /* of exited threads, for reuse */

void tcache_boot(size_t tcache_max, bool enabled)
{
	enabled_default = enabled;
	slots_total = 0;
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		size_t size = sc_size[cls];
		size_t ncap = TCACHE_CLASS_BYTES / size;
		ncap = MAX(TCACHE_NCAP_MIN, MIN(TCACHE_NCAP_MAX, ncap));
		class_ncap[cls] = size <= tcache_max ? (uint16_t)ncap : 0;
		slots_total += class_ncap[cls] + 1u;
	}
}

size_t tcache_capacity_bytes(void)
{
	size_t total = 0;
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		total += (size_t)class_ncap[cls] * sc_size[cls];
	return total;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void list_link(struct tcache *tc)
{
	tc->prev = NULL;
	tc->next = all_tcaches;
	if (tc->next)
		tc->next->prev = tc;
	all_tcaches = tc;
}

static void list_unlink(struct tcache *tc)
{
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		all_tcaches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
}

/* Lays out the stacks, each after its NULL sentinel. */
static void tcache_layout(struct tcache *tc, void **slots)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct tcache_bin *bin = &tc->bins[cls];
		slots[0] = NULL;
		bin->stack = slots + 1;
		bin->ncached = 0;
		bin->low_water = 0;
		bin->ncap = class_ncap[cls];
		bin->nfill = (uint16_t)MAX(1, bin->ncap / 4);
		slots += bin->ncap + 1u;
	}
	tc->gc_countdown = TCACHE_GC_EVENTS;
	tc->allocated = tc->deallocated = 0;
}

static struct tcache *tcache_new(bool is_explicit)
{
	arch_lock_acquire(&list_lock);
	struct tcache *tc = spare_tcaches;
	if (tc)
		spare_tcaches = tc->next;
	arch_lock_release(&list_lock);
	if (!tc) {
		size_t size = ALIGN_UP(sizeof(struct tcache), 64) + slots_total * sizeof(void *);
		tc = base_alloc(size);
		if (!tc)
			return NULL;
		tcache_layout(tc, (void **)((char *)tc + ALIGN_UP(sizeof(struct tcache), 64)));
	}
	tc->is_explicit = is_explicit;
	tc->arena = arena_choose();
	arch_lock_acquire(&list_lock);
	list_link(tc);
	arch_lock_release(&list_lock);
	return tc;
}

static void tcache_retire(struct tcache *tc)
{
	tcache_flush(tc);
	arch_lock_acquire(&list_lock);
	list_unlink(tc);
	tc->next = spare_tcaches;
	spare_tcaches = tc;
	arch_lock_release(&list_lock);
}

struct arena *tcache_thread_arena(void)
{
	if (!tcache_tls.arena)
		tcache_tls.arena = arena_choose();
	return tcache_tls.arena;
}

/* The calling thread's cache, creating it on first use; NULL while caching
 * is off or the cache is being created (reentrant calls from the OS layer). */
static struct tcache *tcache_get(void)
{
	if (INGOT_LIKELY(tcache_tls.state == TCACHE_ACTIVE))
		return tcache_tls.cache;
	if (tcache_tls.state != TCACHE_NONE)
		return NULL;
	if (!enabled_default) {
		tcache_tls.state = TCACHE_DISABLED;
		return NULL;
	}
	tcache_tls.state = TCACHE_BOOTING;
	struct tcache *tc = tcache_new(false);
	if (!tc) {
		tcache_tls.state = TCACHE_NONE;
		return NULL;
	}
	tcache_tls.arena = tc->arena;
	__atomic_fetch_add(&tc->arena->nthreads, 1, __ATOMIC_RELAXED);
	arch_thread_exit_register(tc);
	tcache_tls.cache = tc;
	tcache_tls.state = TCACHE_ACTIVE;
	return tc;
}

void ingot_thread_exit(void *arg)
{
	struct tcache *tc = arg;
	if (tcache_tls.cache == tc || tcache_tls.cache_parked == tc) {
		tcache_tls.cache = tcache_tls.cache_parked = NULL;
		tcache_tls.state = TCACHE_DISABLED;
	}
	__atomic_fetch_sub(&tc->arena->nthreads, 1, __ATOMIC_RELAXED);
	tcache_retire(tc);
}

void tcache_set_enabled(bool enabled)
{
	struct tcache *tc = tcache_tls.cache;
	if (!enabled && tc) {
		tcache_tls.cache = NULL;
		tcache_tls.state = TCACHE_DISABLED;
		tcache_flush(tc);
		/* The record stays attached to the thread-exit hook, which
		 * retires it; re-enabling picks it up again. */
		tcache_tls.cache_parked = tc;
	} else if (enabled && tcache_tls.state == TCACHE_DISABLED && tcache_tls.cache_parked) {
		tcache_tls.cache = tcache_tls.cache_parked;
		tcache_tls.cache_parked = NULL;
		tcache_tls.state = TCACHE_ACTIVE;
	} else if (enabled && tcache_tls.state == TCACHE_DISABLED) {
		tcache_tls.state = TCACHE_NONE;
	}
}

bool tcache_enabled(void)
{
	return tcache_tls.state == TCACHE_ACTIVE ||
	       (tcache_tls.state == TCACHE_NONE && enabled_default);
}

/* ---- refill, flush, gc ---------------------------------------------------- */

/* Flushes the n oldest objects (the bottom of the stack). */
static void bin_flush(struct tcache_bin *bin, unsigned cls, unsigned n)
{
	if (n == 0)
		return;
	arena_free_batch(cls, bin->stack, n);
	bin->ncached = (uint16_t)(bin->ncached - n);
	ingot_memmove(bin->stack, bin->stack + n, bin->ncached * sizeof(void *));
	bin->low_water = (uint16_t)MIN(bin->low_water, bin->ncached);
}

void tcache_flush(struct tcache *tc)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		bin_flush(&tc->bins[cls], cls, tc->bins[cls].ncached);
}

/* Objects that sat unused since the last pass are half given back, and the
 * bin fills less next time. */
static void gc_pass(struct tcache *tc)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct tcache_bin *bin = &tc->bins[cls];
		if (bin->low_water > 0) {
			bin_flush(bin, cls, (bin->low_water + 1u) / 2);
			bin->nfill = (uint16_t)MAX(1, bin->nfill / 2);
		}
		bin->low_water = bin->ncached;
	}
	tc->gc_countdown = TCACHE_GC_EVENTS;
}

static void gc_tick(struct tcache *tc)
{
	if (--tc->gc_countdown == 0)
		gc_pass(tc);
}

/* Refills an empty bin with a batch; returns one object, or NULL. */
static void *bin_refill(struct tcache *tc, struct tcache_bin *bin, unsigned cls)
{
	unsigned got = bin_alloc_batch(&tc->arena->bins[cls], &tc->arena->heap, bin->stack,
	                               bin->nfill);
	if (got == 0)
		return NULL;
	/* Hand out low addresses first: the batch came in address order. */
	for (unsigned i = 0; i < got / 2; i++) {
		void *t = bin->stack[i];
		bin->stack[i] = bin->stack[got - 1 - i];
		bin->stack[got - 1 - i] = t;
	}
	bin->ncached = (uint16_t)(got - 1);
	bin->low_water = 0;
	bin->nfill = (uint16_t)MIN(bin->ncap / 2u > 0 ? bin->ncap / 2u : 1u, bin->nfill * 2u);
	TCACHE_STAT(tc->allocated += sc_size[cls]);
	gc_tick(tc);
	return bin->stack[got - 1];
}

/* ---- slow paths ----------------------------------------------------------- */

static void *alloc_uncached(struct arena *a, size_t size)
{
	if (size <= SC_SMALL_MAX)
		return arena_alloc_small(a, sizeclass_small(size), false);
	size_t usable = arena_large_usable(size);
	if (usable <= SC_LARGE_MAX)
		return arena_alloc_large(a, usable, PAGE, false);
	return arena_alloc_huge(a, size, PAGE, false);
}

void *tcache_alloc_slow(size_t size)
{
	ingot_ensure_booted();
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST)) {
		arch_set_errno(ARCH_ENOMEM);
		return NULL;
	}
	struct tcache *tc = tcache_get();
	if (tc && size <= SC_SMALL_MAX) {
		unsigned cls = sizeclass_small(size);
		struct tcache_bin *bin = &tc->bins[cls];
		if (bin->ncached) /* first call after tcache_get created it */
			return tcache_malloc(size);
		if (bin->ncap) {
			void *p = bin_refill(tc, bin, cls);
			if (!p)
				arch_set_errno(ARCH_ENOMEM);
			return p;
		}
	}
	void *p = alloc_uncached(tc ? tc->arena : tcache_thread_arena(), size);
	if (!p)
		arch_set_errno(ARCH_ENOMEM);
	if (p && INGOT_STATS) {
		size_t usable = size <= SC_SMALL_MAX ? sc_size[sizeclass_small(size)]
		                                     : arena_large_usable(size);
		if (tc)
			tc->allocated += usable;
		else
			tcache_tls.allocated += usable;
	}
	return p;
}

void tcache_free_slow(void *p, unsigned cls)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p);
	if (!c) {
		if (p == NULL)
			return;
		ingot_report_foreign_ptr("free", p);
	}
	struct tcache *tc = tcache_get();
	if (cls == 0) {
		size_t usable = arena_usable_size(c, p);
		arena_free(c, p);
		if (tc)
			TCACHE_STAT(tc->deallocated += usable);
		else
			TCACHE_STAT(tcache_tls.deallocated += usable);
		return;
	}
	struct tcache_bin *bin = tc ? &tc->bins[cls] : NULL;
	if (bin && bin->ncached && bin->stack[bin->ncached - 1] == p)
		ingot_report_double_free(p);
	if (!bin || bin->ncap == 0) {
		TCACHE_STAT(tcache_tls.deallocated += sc_size[cls]);
		arena_free(c, p);
		return;
	}
	/* Full: send the older half home, keep the newer (warm) half. */
	bin_flush(bin, cls, bin->ncached - bin->ncap / 2u);
	gc_tick(tc);
	tcache_free_small(p, cls);
}

/* ---- explicit caches ------------------------------------------------------ */

static struct tcache *explicit_caches[TCACHES_MAX]; /* under list_lock */

int tcache_explicit_create(unsigned *index)
{
	ingot_ensure_booted();
	struct tcache *tc = tcache_new(true);
	if (!tc)
		return INGOT_ENOMEM;
	arch_lock_acquire(&list_lock);
	unsigned i = 0;
	while (i < TCACHES_MAX && explicit_caches[i])
		i++;
	if (i < TCACHES_MAX)
		explicit_caches[i] = tc;
	arch_lock_release(&list_lock);
	if (i == TCACHES_MAX) {
		tcache_retire(tc);
		return 11; /* EAGAIN: every index is taken */
	}
	*index = i;
	return 0;
}

struct tcache *tcache_explicit_get(unsigned index)
{
	if (index >= TCACHES_MAX)
		return NULL;
	arch_lock_acquire(&list_lock);
	struct tcache *tc = explicit_caches[index];
	arch_lock_release(&list_lock);
	return tc;
}

bool tcache_explicit_destroy(unsigned index)
{
	if (index >= TCACHES_MAX)
		return false;
	arch_lock_acquire(&list_lock);
	struct tcache *tc = explicit_caches[index];
	explicit_caches[index] = NULL;
	arch_lock_release(&list_lock);
	if (tc)
		tcache_retire(tc);
	return tc != NULL;
}

void *tcache_alloc_from(struct tcache *tc, struct arena *arena, unsigned cls)
{
	struct tcache_bin *bin = &tc->bins[cls];
	if (bin->ncached) {
		bin->ncached--;
		return bin->stack[bin->ncached];
	}
	if (bin->ncap == 0 || arena != tc->arena)
		return arena_alloc_small(arena, cls, false);
	return bin_refill(tc, bin, cls);
}

void tcache_free_to(struct tcache *tc, void *p, unsigned cls)
{
	struct tcache_bin *bin = &tc->bins[cls];
	if (bin->ncached && bin->stack[bin->ncached - 1] == p)
		ingot_report_double_free(p);
	if (bin->ncap == 0) {
		arena_free(pagemap_chunk((uintptr_t)p), p);
		return;
	}
	if (bin->ncached == bin->ncap)
		bin_flush(bin, cls, bin->ncached - bin->ncap / 2u);
	bin->stack[bin->ncached++] = p;
}

/* ---- accounting, verification, fork -------------------------------------- */

size_t tcache_cached_bytes(void)
{
	size_t total = 0;
	arch_lock_acquire(&list_lock);
	for (struct tcache *tc = all_tcaches; tc; tc = tc->next)
		for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
			total += (size_t)__atomic_load_n(&tc->bins[cls].ncached, __ATOMIC_RELAXED) *
			         sc_size[cls];
	arch_lock_release(&list_lock);
	return total;
}

/* Checks the calling thread's own cache only: other threads' stacks change
 * without locks. Every cached object must sit in a live slab of its class. */
static const char *tcache_check(struct tcache *tc)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct tcache_bin *bin = &tc->bins[cls];
		if (bin->ncached > bin->ncap || bin->stack[-1] != NULL)
			return "thread cache bin over its capacity or sentinel overwritten";
		for (unsigned i = 0; i < bin->ncached; i++) {
			uintptr_t p = (uintptr_t)bin->stack[i];
			struct chunk *c = pagemap_chunk(p);
			if (!c || c->class_of[chunk_page_index(p)] != cls)
				return "thread cache holds an object of the wrong class";
			struct span *s = span_of_addr(c, p);
			struct bin *home = &c->arena->bins[cls];
			unsigned slot = sizeclass_slot(cls, p - s->base);
			arch_lock_acquire(&home->lock);
			bool slab_says_free = (s->free_bits[slot / 64] >> (slot % 64)) & 1;
			arch_lock_release(&home->lock);
			if (slab_says_free)
				return "thread cache holds an object its slab thinks is free";
		}
	}
	return NULL;
}

const char *tcache_check_all(void)
{
	struct tcache *tc = tcache_tls.cache;
	return tc ? tcache_check(tc) : NULL;
}

void tcache_fork_prepare(void) { arch_lock_acquire(&list_lock); }
void tcache_fork_parent(void) { arch_lock_release(&list_lock); }

/* In the child only this thread survives: the other threads' caches are
 * flushed so that their objects are not lost, and their records reused. */
void tcache_fork_child(void)
{
	arch_lock_reset(&list_lock);
	struct tcache *mine = tcache_tls.cache;
	struct tcache *tc = all_tcaches;
	while (tc) {
		struct tcache *next = tc->next;
		if (tc != mine && !tc->is_explicit)
			tcache_retire(tc);
		tc = next;
	}
}
