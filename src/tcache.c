/*
 * tcache.c — thread caches: creation, refill, flush, garbage passes, exit.
 *
 * Call tree:
 *   tcache_malloc (inline) -miss-> tcache_alloc_slow
 *       -> small_refill_hit -> stack_refill      (default mode, empty stack)
 *       -> alloc_general
 *       -> tcache_get (first call: tcache_open, arch_thread_exit_register)
 *       -> stack_refill -> bin_alloc_batch         (small)
 *       -> alloc_uncached -> arena_alloc_*         (large, huge, no cache)
 *   tcache_free (inline) -full/other-> tcache_free_slow
 *       -> small_full_hit | free_general -> stack_put
 *       -> stack_make_room -> stack_flush, stack_send_remote_home
 *              -> arena_free_batch                 (small, cache full)
 *              -> bin_free_batch per arena's run
 *       -> arena_free                              (large, huge, no cache,
 *                                                   a remote small object)
 *   every TCACHE_GC_EVENTS refills:
 *                                  gc_pass -> stack_flush
 *   thread exit: ingot_thread_exit -> tcache_flush -> record reused
 *
 * The checked and hardened paths are in tcache_hardened.c; what the two
 * files share is in tcache_internal.h.
 */
#include "tcache.h"

#include "arch.h"
#include "base.h"
#include "boot.h"
#include "guard.h"
#include "hardening.h"
#include "hooks.h"
#include "prof.h"
#include "report.h"
#include "tcache_inline.h"
#include "tcache_internal.h"

#define TCACHE_CLASS_BYTES 65536u /* target bytes cached per class */
#define TCACHE_NCAP_MIN 8u
/* A fresh small stack holds at most TCACHE_NCAP_UNFILLED objects until its
 * first refill raises it to its class's capacity: a thread that only frees
 * a class (the consumer of other threads' blocks, a main thread joining its
 * workers) parks a few of them in its cache rather than up to 64 KiB per
 * class, each pinning a slab. And a stack's first refill takes
 * 1/TCACHE_FILL_FIRST_DIV of its capacity (later ones double up to half):
 * a short-lived thread pulls less out of the bins than its 16 KiB per class
 * before. Together they cut churn-t2's peak RSS from 4.3 to 3.3 MiB at the
 * same instruction counts (a first refill of 1/16 would cost flood-64 0.5
 * more per pair). */
#define TCACHE_NCAP_UNFILLED 8u
#define TCACHE_FILL_FIRST_DIV 8u
/* A small stack opens in its first area, TCACHE_NCAP_FIRST objects at most
 * (several classes to a page), and moves to its room at its class's capacity
 * only when a free finds it full having run empty since (a burst bigger than
 * the first area: stack_grow). A thread that uses a class for a few objects
 * at a time so keeps its stacks on a page or two, not a page per class. */
#define TCACHE_NCAP_FIRST 64u
#define TCACHE_NCAP_REMOTE_DIV 2u /* see stack_make_room */
#define TCACHE_NCAP_LARGE 2u
#define TCACHE_NCAP_MAX 512u
/* Growth: a small class whose stack runs empty and then full again (a burst
 * of one size bigger than the stack) doubles its capacity, up to
 * TCACHE_CLASS_BYTES_GROWN of objects or TCACHE_NCAP_GROWN of them; what
 * every class of a cache has grown by stays under TCACHE_GROW_BYTES. A
 * class the garbage pass finds idle halves back towards its base. */
#ifndef INGOT_TCACHE_GROW_BYTES
#define INGOT_TCACHE_GROW_BYTES ((size_t)512 << 10)
#endif
#define TCACHE_GROW_BYTES INGOT_TCACHE_GROW_BYTES
#define TCACHE_CLASS_BYTES_GROWN (256u << 10)
#define TCACHE_NCAP_GROWN 2048u
#define TCACHE_GC_EVENTS 64u      /* refills between GC passes */
#define REMOTE_BATCH 64u          /* remote objects sent home at once */
#define REMOTE_PROBE_STRIDE 8u    /* a flush looks at one object in this many */

INGOT_THREAD_LOCAL struct tcache_tls tcache_tls;

static void large_hit_boot(void);

/* The quarantine keeps each object's class in a byte beside it, so that
 * the object leaving the ring needs no page-map lookup. */
#define QUARANTINE_TAG_WORDS (QUARANTINE_LEN / sizeof(void *))
/* Room for a hardened cache's remote objects on their way home, with a
 * class byte each (remote_put). */
#define REMOTE_WAITING_WORDS (REMOTE_WAIT_MAX + REMOTE_WAIT_MAX / sizeof(void *))
_Static_assert(SC_NSMALL <= UINT8_MAX && QUARANTINE_LEN % sizeof(void *) == 0,
               "a quarantine tag is a class, the tags whole words");

/* Room for the working stacks of a hardened cache (see tcache_layout). */
#define CSTACKS_BYTES ALIGN_UP(sizeof(struct tcache_stack) * (SC_NCACHED + 1), sizeof(void *))

static uint16_t class_ncap[SC_NCACHED + 1];     /* base capacity */
static uint16_t class_ncap_max[SC_NCACHED + 1]; /* grown capacity, and stack room */
/* Where a grown stack of each class lives in a cache's stack memory (its
 * sentinel's word), 0 for classes that never grow. See tcache_layout. */
static uint32_t class_grown_at[SC_NCACHED + 1];
static size_t stack_words;  /* words of stack memory per cache, sentinels included */
static size_t max_cached_size; /* largest class with room in a cache */
static unsigned ncached_classes; /* classes with room, 1..that class */
static bool enabled_default;

/* Every cache, live or spare, under list_lock. */
static arch_lock_t list_lock = ARCH_LOCK_INIT;
static struct tcache *all_tcaches;
static void **spare_stack_mem; /* stack memory of exited threads, for reuse */

/* The capacity of stack cls in its first area (TCACHE_NCAP_FIRST): computed,
 * not a table, which would take ingot's zeroed variables onto one more page
 * in every process. */
static unsigned class_ncap_first(unsigned cls)
{
	return cls <= SC_NSMALL ? MIN(class_ncap[cls], TCACHE_NCAP_FIRST) : class_ncap[cls];
}

void tcache_boot(size_t tcache_max, bool enabled)
{
	enabled_default = enabled;
	stack_words = 0;
	max_cached_size = 0;
	ncached_classes = 0;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		size_t size = sc_size[cls];
		/* Doublings of eight classes cache what those of four do. */
		unsigned fine = cls <= SC_NSMALL && size > SC_FINE_MIN ? 2 : 1;
		size_t ncap = TCACHE_CLASS_BYTES / fine / size;
		if (cls <= SC_NSMALL)
			ncap = MAX(TCACHE_NCAP_MIN / fine, MIN(TCACHE_NCAP_MAX, ncap));
		else
			ncap = TCACHE_NCAP_LARGE; /* whole page runs: keep few */
		class_ncap[cls] = size <= tcache_max ? (uint16_t)ncap : 0;
		class_ncap_max[cls] = class_ncap[cls];
		if (cls <= SC_NSMALL && class_ncap[cls])
			class_ncap_max[cls] = (uint16_t)MAX(ncap, MIN(TCACHE_NCAP_GROWN,
			                                              TCACHE_CLASS_BYTES_GROWN / size));
		stack_words += class_ncap_first(cls) + 1u;
		if (class_ncap[cls]) {
			max_cached_size = size;
			ncached_classes = cls;
		}
	}
	stack_words += QUARANTINE_LEN + QUARANTINE_TAG_WORDS + REMOTE_WAITING_WORDS +
	               CSTACKS_BYTES / sizeof(void *);
	large_hit_boot();
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		class_grown_at[cls] = 0;
		if (class_ncap_max[cls] > class_ncap_first(cls)) {
			class_grown_at[cls] = (uint32_t)stack_words;
			stack_words += class_ncap_max[cls] + 1u;
		}
	}
}

/* The capacity of stack cls before its first refill (TCACHE_NCAP_UNFILLED). */
static unsigned class_ncap_unfilled(unsigned cls)
{
	return cls <= SC_NSMALL ? MIN(class_ncap_first(cls), TCACHE_NCAP_UNFILLED) : class_ncap[cls];
}

size_t tcache_max_size(void) { return max_cached_size; }

unsigned tcache_class_ncap(unsigned cls) { return class_ncap[cls]; }

unsigned tcache_nclasses(void) { return ncached_classes; }

size_t tcache_capacity_bytes(void)
{
	size_t total = 0, growth = 0;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		total += (size_t)class_ncap[cls] * sc_size[cls];
		growth += (size_t)(class_ncap_max[cls] - class_ncap[cls]) * sc_size[cls];
	}
	return total + MIN(growth, TCACHE_GROW_BYTES);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void list_push_unlocked(struct tcache *tc)
{
	tc->prev = NULL;
	tc->next = all_tcaches;
	if (tc->next)
		tc->next->prev = tc;
	all_tcaches = tc;
}

static void list_link(struct tcache *tc)
{
	arch_lock_acquire(&list_lock);
	list_push_unlocked(tc);
	arch_lock_release(&list_lock);
}

static void list_unlink(struct tcache *tc)
{
	arch_lock_acquire(&list_lock);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		all_tcaches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	arch_lock_release(&list_lock);
}

/* Stack memory for one cache, reused from exited threads when possible.
 * A spare block's first word links it to the next spare. */
static void **stack_mem_get(void)
{
	arch_lock_acquire(&list_lock);
	void **mem = spare_stack_mem;
	if (mem)
		spare_stack_mem = mem[0];
	arch_lock_release(&list_lock);
	return mem ? mem : base_alloc(stack_words * sizeof(void *));
}

static void stack_mem_put(void **mem)
{
	arch_lock_acquire(&list_lock);
	mem[0] = spare_stack_mem;
	spare_stack_mem = mem;
	arch_lock_release(&list_lock);
}

/* Hardened heaps and installed hooks need to see every call: caches then
 * run in slow-path mode. mode_epoch changes whenever that need changes;
 * each cache compares it with its own on its slow paths and reopens. */
static unsigned mode_epoch;

bool tcache_checked_mode(void)
{
	return ingot_hardening || __atomic_load_n(&hooks_on, __ATOMIC_RELAXED);
}

/* ---- events: garbage passes and profile samples, per class -------------- */

/* Sets the fast path's countdown of class cls to the nearer event, having
 * counted what it counted so far. */
static void events_arm(struct tcache *tc, unsigned cls)
{
	struct tcache_stack_info *info = &tc->info[cls];
	info->nalloc = tcache_stack_nalloc(tc, cls);
	info->events_armed = MIN(MIN(info->gc_left, info->prof_left), info->guard_left);
	tc->stacks[cls].events_left = info->events_armed;
}

static void events_start(struct tcache *tc, unsigned cls)
{
	tc->info[cls].gc_left = TCACHE_EVENT_ALLOCS;
	tc->info[cls].prof_left = prof_class_countdown(sc_size[cls]);
	tc->info[cls].guard_left = tcache_checked_mode() ? GUARD_NEVER : guard_countdown();
	events_arm(tc, cls);
}

/* The alignment every object of small class cls has: the largest power of
 * two that divides its size, up to a page (slabs start on a page). */
static uintptr_t class_alignment(unsigned cls)
{
	size_t size = sc_size[cls];
	return MIN(size & (0 - size), (size_t)PAGE);
}

/* Gives every working stack its stack, each after a NULL sentinel, and its
 * capacity. The stacks' first areas (TCACHE_NCAP_FIRST) lie side by side,
 * and the room each may grow into, up to its grown capacity, comes after all
 * of them (stack_move_to_room): the pages of stack memory a thread touches
 * then follow what its stacks hold, where room for growth between the
 * stacks put every class in use on a page or two of its own. In slow-path mode the cache works in stacks of their own,
 * kept in the stack memory, and leaves the TLS stacks empty with capacity 0:
 * the fast paths then always miss, and every call takes the checked slow
 * paths. */
static void tcache_layout(struct tcache *tc, void **mem)
{
	tc->stack_mem = mem;
	tc->cstacks = tc->stacks;
	tc->mode_epoch = __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE);
	if (tcache_checked_mode()) {
		tc->cstacks = (struct tcache_stack *)mem;
		ingot_memset(tc->cstacks, 0, CSTACKS_BYTES);
		mem += CSTACKS_BYTES / sizeof(void *);
	}
	tc->grown_bytes = 0;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		struct tcache_stack *stack = &tc->cstacks[cls];
		/* Fresh stack memory reads as zero: leaving its pages untouched
		 * keeps the room for growth out of memory until a stack grows. */
		if (mem[0] != NULL)
			mem[0] = NULL;
		stack->base = mem + 1;
		tcache_stack_set_top(stack, stack->base);
		stack->limit = stack->base + class_ncap_unfilled(cls);
		stack->misaligned = cls <= SC_NSMALL ? class_alignment(cls) - 1u : PAGE_MASK;
		/* At most half the first area: frees after the first refill
		 * find room before they find it full. */
		tc->info[cls].nfill = (uint16_t)MAX(1, MIN(class_ncap[cls] / TCACHE_FILL_FIRST_DIV,
		                                           class_ncap_first(cls) / 2u));
		tc->info[cls].gc_mark = (uint16_t)tcache_stack_nalloc(tc, cls);
		tc->info[cls].missed = false;
		if (cls <= SC_NSMALL)
			events_start(tc, cls);
		mem += class_ncap_first(cls) + 1u;
	}
	tc->quarantine = mem;
	tc->quarantine_next = 0;
	tc->quarantine_tags = (uint8_t *)(mem + QUARANTINE_LEN); /* read only under a pointer */
	tc->remote = mem + QUARANTINE_LEN + QUARANTINE_TAG_WORDS;
	tc->remote_cls = (uint8_t *)(tc->remote + REMOTE_WAIT_MAX);
	tc->nremote = 0;
	tc->remote_bytes = 0;
	tc->nremote_sent = 0;
	tc->hardened_fast = ingot_hardening != HARDEN_ALL_CHECKS ||
	                    __atomic_load_n(&hooks_on, __ATOMIC_RELAXED) || prof_on() ? HARDENED_FAST_OFF
	                    : harden_wide ? HARDENED_FAST_WIDE : HARDENED_FAST_NARROW;
	/* Profiling and guarded sampling are set at start-up, before any
	 * cache opens; with profiling off, no block is ever sampled. */
	tc->large_fast = !tcache_checked_mode() && !prof_on() && !guard_enabled();
	/* Cleared as the stacks' sentinels are: fresh memory is left untouched
	 * (a page per thread that only hardened heaps use). */
	for (unsigned i = 0; i < QUARANTINE_LEN; i++)
		if (mem[i] != NULL)
			mem[i] = NULL;
	tc->gc_countdown = TCACHE_GC_EVENTS;
	tc->checked_allocs_left = TCACHE_EVENT_ALLOCS;
}

/* Sets up tc (zeroed or retired) as a working cache; false without memory. */
static bool tcache_open(struct tcache *tc, bool is_explicit)
{
	void **mem = stack_mem_get();
	if (!mem)
		return false;
	tcache_layout(tc, mem);
	arch_random(&tc->rng, sizeof(tc->rng));
	tc->rng |= 1; /* xorshift must not start at 0 */
	tc->is_explicit = is_explicit;
	tc->arena = arena_choose();
	list_link(tc);
	/* A mode change between tcache_layout and list_link did not see tc. */
	if (tc->mode_epoch != __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&tc->hardened_fast, HARDENED_FAST_OFF, __ATOMIC_RELAXED);
		__atomic_store_n(&tc->large_fast, false, __ATOMIC_RELAXED);
	}
	return true;
}

/* Flushes tc and takes its stacks away: every stack gets capacity 0, so the
 * fast paths miss from now on. The stacks' counts move into the byte totals. */
static void tcache_close(struct tcache *tc)
{
	tcache_flush(tc);
	list_unlink(tc);
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		tc->allocated += tcache_stack_nalloc(tc, cls) * sc_size[cls];
		tc->deallocated += tcache_stack_nfreed(tc, cls) * sc_size[cls];
		tc->info[cls] = (struct tcache_stack_info){0};
		tc->stacks[cls] = (struct tcache_stack){0};
	}
	tc->cstacks = tc->stacks;
	stack_mem_put(tc->stack_mem);
	tc->stack_mem = NULL;
	tc->quarantine = NULL;
	tc->quarantine_tags = NULL;
	tc->remote = NULL;
	tc->remote_cls = NULL;
	tc->hardened_fast = HARDENED_FAST_OFF;
	tc->large_fast = false;
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
		return &tcache_tls.cache;
	if (tcache_tls.state != TCACHE_NONE)
		return NULL;
	if (!enabled_default) {
		tcache_tls.state = TCACHE_DISABLED;
		return NULL;
	}
	tcache_tls.state = TCACHE_BOOTING;
	struct tcache *tc = &tcache_tls.cache;
	if (!tcache_open(tc, false)) {
		tcache_tls.state = TCACHE_NONE;
		return NULL;
	}
	if (tcache_tls.arena) /* chosen already (uncached calls, thread.arena): kept */
		tc->arena = tcache_tls.arena;
	tcache_tls.arena = tc->arena;
	__atomic_fetch_add(&tc->arena->nthreads, 1, __ATOMIC_RELAXED);
	arch_thread_exit_register(tc);
	tcache_tls.state = TCACHE_ACTIVE;
	return tc;
}

void ingot_thread_exit(void *arg)
{
	struct tcache *tc = arg;
	if (tc != &tcache_tls.cache)
		return; /* registered by a thread that has since re-registered */
	if (tcache_tls.state == TCACHE_ACTIVE) {
		__atomic_fetch_sub(&tc->arena->nthreads, 1, __ATOMIC_RELAXED);
		tcache_close(tc);
	}
	/* Destructors that run later still allocate: uncached from now on. */
	tcache_tls.state = TCACHE_DISABLED;
}

/* Closes the calling thread's cache and opens it again in the mode now in
 * force; returns it (NULL if it could not reopen). */
static struct tcache *tcache_reopen(struct tcache *tc)
{
	if (tc != &tcache_tls.cache) {
		/* explicit caches have no fast paths to close */
		tc->mode_epoch = __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE);
		return tc;
	}
	tcache_set_enabled(false);
	tcache_set_enabled(true);
	return tcache_thread();
}

void tcache_mode_changed(void)
{
	__atomic_fetch_add(&mode_epoch, 1, __ATOMIC_ACQ_REL);
	/* The hardened fast paths and the large hits look at their own
	 * cache's flags alone (not at mode_epoch): every cache loses them,
	 * and reopens on its next general slow path. */
	arch_lock_acquire(&list_lock);
	for (struct tcache *tc = all_tcaches; tc; tc = tc->next) {
		__atomic_store_n(&tc->hardened_fast, HARDENED_FAST_OFF, __ATOMIC_RELAXED);
		__atomic_store_n(&tc->large_fast, false, __ATOMIC_RELAXED);
	}
	arch_lock_release(&list_lock);
	if (tcache_thread())
		tcache_reopen(&tcache_tls.cache);
}

void tcache_set_enabled(bool enabled)
{
	if (!enabled) {
		if (tcache_tls.state == TCACHE_ACTIVE) {
			__atomic_fetch_sub(&tcache_tls.cache.arena->nthreads, 1, __ATOMIC_RELAXED);
			tcache_close(&tcache_tls.cache);
		}
		tcache_tls.state = TCACHE_DISABLED;
	} else if (enabled && tcache_tls.state == TCACHE_DISABLED) {
		/* The exit hook is registered already if the cache ever ran;
		 * tcache_get registers it otherwise. */
		tcache_tls.state = TCACHE_NONE;
		if (tcache_get() == NULL)
			tcache_tls.state = TCACHE_DISABLED;
	}
}

bool tcache_enabled(void)
{
	return tcache_tls.state == TCACHE_ACTIVE ||
	       (tcache_tls.state == TCACHE_NONE && enabled_default);
}

/* Bytes the calling thread moved: the stacks count objects per class, the
 * rest is counted in bytes. */
static uint64_t thread_bytes(bool freed)
{
	struct tcache *tc = &tcache_tls.cache;
	uint64_t total = freed ? tc->deallocated : tc->allocated;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++)
		total += (freed ? tcache_stack_nfreed(tc, cls) : tcache_stack_nalloc(tc, cls)) * sc_size[cls];
	return total;
}

uint64_t tcache_thread_allocated(void) { return thread_bytes(false); }
uint64_t tcache_thread_deallocated(void) { return thread_bytes(true); }

void tcache_account(size_t allocated, size_t deallocated)
{
	if (INGOT_STATS) {
		tcache_tls.cache.allocated += allocated;
		tcache_tls.cache.deallocated += deallocated;
	}
}

/* ---- refill, flush, gc ---------------------------------------------------- */

/* Objects a full stack of class cls with capacity ncap keeps when it makes
 * room (stack_make_room): half, or in the classes above SC_FINE_MIN an
 * eighth (at least one) at their base capacity and a quarter once grown.
 * Theirs are stacks of 4 to 32 objects, and keeping half sent 2 to 16
 * objects home per flush, for a slow path of some 900 instructions:
 * sizeloop batch 1k-8k 202.6 -> 195.0 instructions a malloc+free, 8k-64k
 * 402.2 -> 399.6, at the same peak RSS. An eighth of grown stacks too
 * saved 3 and 6 more, but emptied more slabs of 8..16 KiB into the page
 * heap, which came back as fresh pages: 8k-64k's peak RSS +1.5%. Keeping
 * none saved 3 more in 1k-8k; refilling them whole as well (rather than
 * half) saved 4 but left up to a full stack of each class unused at the
 * batch's peak: +6% RSS. */
static unsigned class_ncap_kept(unsigned cls, unsigned ncap)
{
	if (sc_size[cls] <= SC_FINE_MIN)
		return ncap / 2u;
	return ncap <= class_ncap[cls] ? MAX(1u, ncap / 8u) : ncap / 4u;
}

/* Flushes the n oldest objects (the bottom of the stack) of tc's stack cls. */
static void stack_flush(struct tcache *tc, unsigned cls, unsigned n)
{
	if (n == 0)
		return;
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (cls <= SC_NSMALL) {
		arena_free_batch(cls, stack->base, n);
	} else {
		for (unsigned i = 0; i < n; i++) /* marked, or window byte 0 */
			arena_free_large_marked(pagemap_chunk((uintptr_t)stack->base[i]), stack->base[i]);
	}
	unsigned left = tcache_stack_ncached(stack) - n;
	ingot_memmove(stack->base, stack->base + n, left * sizeof(void *));
	tcache_stack_set_top(stack, stack->base + left);
	tc->info[cls].nout += n;
}

/* Whether small object p of tc's stack cls is remote, allocated by another
 * thread as far as the cache can tell: it lies in a slab of another arena
 * than owner, the one the stack refills from (arena_bin_home; callers look
 * it up once for many objects), or the stack has never taken objects from
 * a bin (nin == 0), so that whatever it holds or is given was allocated
 * elsewhere (by a thread of the same arena, as threads share arenas when
 * there are more of them than arenas, or before the cache opened). */
static bool object_is_remote(const struct tcache *tc, unsigned cls, const struct arena *owner, const void *p)
{
	return tc->info[cls].nin == 0 || pagemap_chunk((uintptr_t)p)->arena != owner;
}

/* Sends every remote object of tc's small stack cls home to its bin,
 * REMOTE_BATCH at a time (one lock per run of one bin), and keeps the
 * others in their order. */
static void stack_send_remote_home(struct tcache *tc, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	void *home[REMOTE_BATCH];
	unsigned nhome = 0, kept = 0, sent = 0;
	const struct arena *owner = arena_bin_home(tc->arena, cls);
	for (void **q = stack->base; q < stack->top; q++) {
		if (!object_is_remote(tc, cls, owner, *q)) {
			stack->base[kept++] = *q;
			continue;
		}
		home[nhome++] = *q;
		if (nhome == REMOTE_BATCH) {
			arena_free_batch(cls, home, nhome);
			sent += nhome;
			nhome = 0;
		}
	}
	if (nhome)
		arena_free_batch(cls, home, nhome);
	sent += nhome;
	tcache_stack_set_top(stack, stack->base + kept);
	tc->info[cls].nout += sent;
}

/* Whether tc's small stack cls looks like it holds remote objects: one in
 * every REMOTE_PROBE_STRIDE, from the newest down, is looked at. A thread
 * that frees other threads' blocks in numbers (a consumer) has them all
 * over its stack, one that frees its own has none; looking at every object
 * of every flush cost a flush-heavy loop of local frees 17% more
 * instructions (sizeloop batch 1k-8k), the probe a few. A stray remote
 * object it misses is handed out here, as before remote frees went home. */
static bool stack_probe_remote(const struct tcache *tc, unsigned cls)
{
	const struct tcache_stack *stack = &tc->cstacks[cls];
	unsigned n = tcache_stack_ncached(stack);
	const struct arena *owner = arena_bin_home(tc->arena, cls);
	for (unsigned i = 1; i <= n; i += REMOTE_PROBE_STRIDE)
		if (object_is_remote(tc, cls, owner, stack->base[n - i]))
			return true;
	return false;
}

void tcache_flush(struct tcache *tc)
{
	tcache_quarantine_flush(tc);
	tcache_remote_flush(tc);
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++)
		stack_flush(tc, cls, tcache_stack_ncached(&tc->cstacks[cls]));
}

/* Moves tc's stack cls, with the objects it holds, from its first area to
 * its room for growth (see tcache_layout), where it stays once there. */
static void stack_move_to_room(struct tcache *tc, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	void **room = tc->stack_mem + class_grown_at[cls] + 1;
	if (stack->base == room)
		return;
	unsigned n = tcache_stack_ncached(stack);
	room[-1] = NULL; /* a reused cache's memory may hold anything */
	ingot_memcpy(room, stack->base, n * sizeof(void *));
	stack->base = room;
	tcache_stack_set_top(stack, room + n);
}

/* Sets the capacity of tc's stack cls (small, holding at most ncap objects)
 * and keeps the cache's total of growth in step. */
static void stack_set_capacity(struct tcache *tc, unsigned cls, unsigned ncap)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	unsigned old = tcache_stack_ncap(stack);
	if (ncap > class_ncap_first(cls))
		stack_move_to_room(tc, cls);
	tc->grown_bytes += (size_t)(MAX(ncap, class_ncap[cls]) - class_ncap[cls]) * sc_size[cls];
	tc->grown_bytes -= (size_t)(MAX(old, class_ncap[cls]) - class_ncap[cls]) * sc_size[cls];
	stack->limit = stack->base + ncap;
}

/* The capacity a small stack of class cls drops to when a flush finds it
 * holding remote objects (TCACHE_NCAP_REMOTE_DIV). */
static unsigned class_ncap_remote(unsigned cls)
{
	return MAX(class_ncap_unfilled(cls), class_ncap[cls] / TCACHE_NCAP_REMOTE_DIV);
}

/* Makes room in tc's full stack cls: the older objects go home (all but
 * class_ncap_kept), and of the newer (warm) ones that stay, a small stack
 * sends home the remote objects the free fast path cached (another
 * thread's blocks: handed out here they would share cache lines with
 * their owner's, and a producer's blocks would pile up in its consumers'
 * caches). A stack found so drops to half its class's capacity: between
 * flushes it fills with blocks the fast path cannot tell apart, and a
 * thread that frees and allocates a class at one rate (prodcons) held
 * 32 KiB of them per class on average, a random walk over its capacity
 * (stack_grow doubles it again for bursts of its own blocks). A quarter
 * held less (prodcons-t2 3.9 MiB rather than 4.1) but, flushing and
 * refilling four times as often, cost it 19% of its time. */
static void stack_make_room(struct tcache *tc, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	stack_flush(tc, cls, tcache_stack_ncached(stack) - class_ncap_kept(cls, tcache_stack_ncap(stack)));
	if (cls <= SC_NSMALL && stack_probe_remote(tc, cls)) {
		stack_send_remote_home(tc, cls);
		unsigned ncap = class_ncap_remote(cls);
		if (ncap < tcache_stack_ncap(stack)) {
			unsigned n = tcache_stack_ncached(stack);
			stack_flush(tc, cls, n - MIN(n, ncap / 2u));
			stack_set_capacity(tc, cls, ncap);
			tc->info[cls].nfill = (uint16_t)MIN(tc->info[cls].nfill, MAX(1u, ncap / 2u));
		}
	}
}

/* A full stack that ran empty since it was last full sees a burst bigger
 * than itself: it doubles, within its class's and the cache's bounds,
 * rather than flush; one in its first area moves to its room at least at
 * its class's capacity (TCACHE_NCAP_FIRST). True when it made room so. */
static bool stack_grow(struct tcache *tc, unsigned cls)
{
	struct tcache_stack_info *info = &tc->info[cls];
	bool missed = info->missed;
	info->missed = false;
	unsigned ncap = tcache_stack_ncap(&tc->cstacks[cls]);
	if (!missed || ncap >= class_ncap_max[cls])
		return false;
	/* Only capacity above the base counts against the cache's bound: a
	 * stack that dropped below it (stack_make_room) may double back. */
	size_t room = (TCACHE_GROW_BYTES - tc->grown_bytes) / sc_size[cls];
	unsigned grown = (unsigned)MIN(MIN(MAX(2u * ncap, (unsigned)class_ncap[cls]),
	                                   (unsigned)class_ncap_max[cls]),
	                               MAX(ncap, class_ncap[cls]) + room);
	if (grown == ncap)
		return false;
	stack_set_capacity(tc, cls, grown);
	return true;
}

/* A small stack in its first area that a free finds full of other threads'
 * blocks (a consumer's) moves to its room at the capacity a flush would
 * leave it with there (class_ncap_remote) rather than send them home half a
 * first area at a time (prodcons-t2's peak RSS, 7 runs, medians: 3.91 MiB
 * kept in the first area, 3.69 moved; anon at exit moves by 100 KiB between
 * runs). True when it made room so. */
static bool stack_leave_first_area(struct tcache *tc, unsigned cls)
{
	unsigned ncap = tcache_stack_ncap(&tc->cstacks[cls]);
	if (cls > SC_NSMALL || ncap != class_ncap_first(cls) || class_ncap_remote(cls) <= ncap)
		return false;
	stack_set_capacity(tc, cls, class_ncap_remote(cls));
	return true;
}

/* A stack that handed nothing out since the last pass gives half its objects
 * back, fills less next time, and halves a grown capacity. */
void tcache_gc_pass(struct tcache *tc)
{
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		struct tcache_stack *stack = &tc->cstacks[cls];
		struct tcache_stack_info *info = &tc->info[cls];
		unsigned ncached = tcache_stack_ncached(stack);
		if ((uint16_t)tcache_stack_nalloc(tc, cls) == info->gc_mark && ncached) {
			stack_flush(tc, cls, (ncached + 1u) / 2);
			info->nfill = (uint16_t)MAX(1, info->nfill / 2);
			unsigned ncap = MAX(class_ncap[cls], tcache_stack_ncap(stack) / 2u);
			if (ncap < tcache_stack_ncap(stack)) {
				stack_flush(tc, cls, tcache_stack_ncached(stack) - MIN(ncap, tcache_stack_ncached(stack)));
				stack_set_capacity(tc, cls, ncap);
			}
		}
		info->gc_mark = (uint16_t)tcache_stack_nalloc(tc, cls);
	}
	tc->gc_countdown = TCACHE_GC_EVENTS;
}

/* The class of a cached object from its chunk (the class window may hide
 * its page while a profile sample lives there). */
static unsigned class_of_object(void *p)
{
	return pagemap_chunk((uintptr_t)p)->class_of[chunk_page_index((uintptr_t)p)];
}

/* p, just handed out from tc's stack cls, goes back in, and a guarded block
 * of the class is handed out instead (when the pool has room). p's
 * return counts as an object put in (nin), so the class's count of
 * allocations still includes this one. */
static void *guard_swap(struct tcache *tc, unsigned cls, void *p)
{
	void *g = guard_alloc(sc_size[cls]);
	if (!g)
		return p;
	tcache_stack_push(&tc->cstacks[cls], p);
	tc->info[cls].nin++;
	return g;
}

void *tcache_event(void *p)
{
	struct tcache *tc = &tcache_tls.cache;
	unsigned cls = class_of_object(p);
	struct tcache_stack_info *info = &tc->info[cls];
	uint32_t elapsed = info->events_armed;
	info->gc_left -= elapsed;
	if (info->prof_left != PROF_NO_SAMPLE)
		info->prof_left -= elapsed;
	if (info->guard_left != GUARD_NEVER)
		info->guard_left -= elapsed;
	if (info->guard_left == 0) {
		info->guard_left = guard_countdown();
		p = guard_swap(tc, cls, p);
	}
	if (INGOT_PROF && info->prof_left == 0) {
		prof_sample(p, sc_size[cls]);
		info->prof_left = prof_class_countdown(sc_size[cls]);
	}
	if (info->gc_left == 0) {
		info->gc_left = TCACHE_EVENT_ALLOCS;
		if (tc->mode_epoch != __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE)) {
			tcache_reopen(tc); /* p stays valid: it is handed out already */
			return p;          /* and the reopened cache armed its events */
		}
		tcache_gc_pass(tc);
		arena_purge(tc->arena, false);
		/* The pair's first arena holds this thread's slabs of the
		 * paired classes: their dirty pages decay while its own
		 * threads sleep. */
		if (arena_pair_home(tc->arena) != tc->arena)
			arena_purge(arena_pair_home(tc->arena), false);
	}
	events_arm(tc, cls);
	return p;
}

/* Counts an object of small class cls that a slow path hands out from the
 * cache, as the fast path counts its hits. */
static void *count_cached(struct tcache *tc, void *p, unsigned cls)
{
	if (p && tc == &tcache_tls.cache && --tc->stacks[cls].events_left == 0)
		return tcache_event(p);
	return p;
}

static void gc_tick(struct tcache *tc)
{
	if (--tc->gc_countdown == 0)
		tcache_gc_pass(tc);
}

/* Checks small pointer p on its way into tc's stack cls in a default heap
 * (the fast path sent it here, or there is no fast path for it): it must
 * be the start of an object, and not one freed already. Only a block with
 * the freed mark can be free already (tcache.h); it is looked for in the
 * stack and in its slab's bitmap. A mark the program wrote finds neither,
 * and p goes on. A block freed already by another thread and still in that
 * thread's cache is not found here, but when a cache gives it back to its
 * slab. */
static void check_small_free(struct tcache *tc, unsigned cls, void *p)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p);
	struct span *s = span_of_addr(c, (uintptr_t)p);
	unsigned slot;
	if (INGOT_UNLIKELY(!slab_slot_of(s, cls, p, &slot)))
		ingot_report_invalid_ptr("free", p);
	if (INGOT_LIKELY(!tcache_is_marked(p)))
		return;
	struct tcache_stack *stack = &tc->cstacks[cls];
	for (void **q = stack->base; q < stack->top; q++)
		if (*q == p)
			ingot_report_double_free(p);
	if (bin_slot_free(&c->arena->bins[cls], s, slot))
		ingot_report_double_free(p);
}

/* Reports p freed twice when tc's stack cls holds it already (or, in a
 * default heap, when its slab does): a small stack of a checked heap, whose
 * frees were checked already, looks at its newest object, a large one at
 * all of its few objects (a large block freed twice still looks live to
 * its page heap). */
static void stack_check_double_free(struct tcache *tc, unsigned cls, void *p)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (cls <= SC_NSMALL) {
		if (!tcache_checked_mode())
			check_small_free(tc, cls, p);
		else if (stack->top[-1] == p)
			ingot_report_double_free(p);
		return;
	}
	for (void **q = stack->base; q < stack->top; q++)
		if (*q == p)
			ingot_report_double_free(p);
}

/* Puts freed p in tc's stack cls: checks it was not freed twice, makes room
 * when the stack is full, pushes (a small block of a default heap with the
 * freed mark). False, having made room if the stack was full but put
 * nothing, when the class has no room in tc (capacity 0) or p is a remote
 * small object (object_is_remote: not this thread's to reuse): the caller
 * frees p another way, to its home bin. Counts nothing: each caller says
 * why p came. */
bool tcache_stack_put(struct tcache *tc, unsigned cls, void *p)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->limit == stack->base)
		return false;
	stack_check_double_free(tc, cls, p);
	bool remote = cls <= SC_NSMALL && object_is_remote(tc, cls, arena_bin_home(tc->arena, cls), p);
	/* A flush is no garbage tick (refills are): a pass in the middle of
	 * a run of frees found every stack it filled idle, since nothing was
	 * handed out, and halved it just before the next run of mallocs
	 * (batch-1k-8k: 254 -> 207 instructions a pair without). */
	if (stack->top == stack->limit && (remote ? !stack_leave_first_area(tc, cls) : !stack_grow(tc, cls)))
		stack_make_room(tc, cls);
	if (remote)
		return false;
	if (cls <= SC_NSMALL && !tcache_checked_mode())
		tcache_mark_freed(p);
	tcache_stack_push(stack, p);
	return true;
}

/* Refills tc's empty stack cls with a batch; returns one object, or NULL. */
void *tcache_stack_refill(struct tcache *tc, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	struct tcache_stack_info *info = &tc->info[cls];
	/* An unfilled stack opens in its first area (as does a shrunk one at
	 * that capacity). */
	if (tcache_stack_ncap(stack) == class_ncap_unfilled(cls))
		stack->limit = stack->base + class_ncap_first(cls);
	struct arena *home = arena_bin_home(tc->arena, cls);
	unsigned got = bin_alloc_batch(arena_bin(home, cls), &home->heap, stack->base,
	                               info->nfill);
	if (got == 0)
		return NULL;
	/* The batch came in stack order: low addresses are handed out first. */
	if (ingot_hardening & HARDEN_RANDOM_SLOTS)
		harden_shuffle(stack->base, got, &tc->rng);
	tcache_stack_set_top(stack, stack->base + got - 1);
	info->nin += got;
	info->missed = true;
	info->nfill = (uint16_t)MIN(MAX(tcache_stack_ncap(stack) / 2u, 1u), info->nfill * 2u);
	gc_tick(tc);
	return stack->base[got - 1];
}

/* ---- slow paths ----------------------------------------------------------- */

void *tcache_alloc_uncached(struct arena *a, size_t size)
{
	if (size <= SC_SMALL_MAX)
		return tcache_unmark(arena_alloc_small(a, sizeclass_small(size), false));
	return arena_alloc_big(a, arena_large_usable(size), PAGE, false);
}

/* ---- large classes ------------------------------------------------------- */

/* A large block of class cls from the cache, else straight from the arena;
 * NULL when the class is not cached or memory ran out. */
void *tcache_large_cached_alloc(struct tcache *tc, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->limit == stack->base)
		return NULL;
	if (stack->top != stack->base) {
		void *p = tcache_stack_pop(stack);
		arena_large_window_set(p, 0); /* its free takes the general path too */
		*(tcache_word *)p = 0; /* a large hit's free marked it (hardened: 0 already) */
		harden_large_reuse(p, sc_size[cls]);
		tc->info[cls].nalloc++;
		return p;
	}
	void *p = arena_alloc_large(tc->arena, sc_size[cls], PAGE, false);
	if (p) { /* counted as if it passed through the stack */
		arena_large_window_set(p, 0); /* its free takes the general path too */
		tc->info[cls].nin++;
		tc->info[cls].nalloc++;
	}
	return p;
}

/* Keeps freed large block p (usable bytes, 0 when p is not a live block)
 * in the cache when its class is cached; false when it is not. */
static bool large_cached_free(struct tcache *tc, void *p, size_t usable)
{
	if (usable <= SC_SMALL_MAX || usable > sc_size[SC_NCACHED])
		return false;
	unsigned cls = sizeclass_of(usable);
	if (sc_size[cls] != usable)
		return false; /* page-rounded aligned blocks are not class sizes */
	harden_large_give(p, usable);
	arena_large_window_set(p, 0); /* unmarked: a free fast path must not push it */
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->top == stack->limit && stack->limit != stack->base) {
		/* Full: p goes to the arena's large cache, which holds whole
		 * batches, rather than through a flush of the stack's older
		 * half (a fifth of batch-8k-64k's instructions). No garbage
		 * tick: a pass in the middle of a run of frees found the stacks
		 * it filled idle and flushed them just before the next run of
		 * mallocs (batch-8k-64k: 679 instructions a pair with the tick,
		 * 603 without, for 1% more page faults, 2270 rather than 2243,
		 * and the same peak RSS). */
		stack_check_double_free(tc, cls, p);
		return false;
	}
	return tcache_stack_put(tc, cls, p);
}

/* The class of a block of n pages, for blocks up to the largest cached
 * class, while every class there is a whole number of pages (then a
 * request and its page-rounded size share their class); all 0 else, which
 * turns large_hit_* off. Two loads where sizeclass_of took 15 instructions. */
uint8_t tcache_large_class_of_pages[LARGE_HIT_PAGES + 2]; /* the last: any more pages */

static void large_hit_boot(void)
{
	bool whole_pages = sc_size[SC_NCACHED] >> LG_PAGE <= LARGE_HIT_PAGES;
	for (unsigned cls = SC_NSMALL + 1; cls <= SC_NCACHED; cls++)
		whole_pages &= sc_size[cls] % PAGE == 0;
	for (size_t n = 0; n <= LARGE_HIT_PAGES; n++) {
		size_t bytes = n << LG_PAGE;
		bool cached = bytes > SC_SMALL_MAX && bytes <= sc_size[SC_NCACHED];
		tcache_large_class_of_pages[n] = (uint8_t)(whole_pages && cached ? sizeclass_of(bytes) : 0);
	}
}

/* The hits of the large classes, which the fast paths leave to the slow
 * ones: a pop from, or push to, the calling thread's stack of the class in
 * an open, default-mode cache (no checks, hooks, guarded samples or
 * profile), ahead of everything else the slow paths weigh. Each answers
 * NULL or false, having done nothing, for the general path to take. They
 * cut pair-8k-64k (two in three blocks large) from 253 to 134 instructions
 * a pair. */
INGOT_INLINE struct tcache *large_hit_cache(void)
{
	struct tcache *tc = &tcache_tls.cache;
	/* large_fast stands for the mode, profile and guard checks: one
	 * load, not seven. */
	if (tcache_tls.state != TCACHE_ACTIVE || !__atomic_load_n(&tc->large_fast, __ATOMIC_RELAXED))
		return NULL;
	return tc;
}

/* The large hits' cases of an empty or a full stack, in an open,
 * default-mode cache, without the general paths' checks that large_fast
 * stands for (batch-8k-64k: 603 -> 430 instructions a pair). Functions of
 * their own, so that the hits do not save the registers they use. */

/* A block of class cls straight from the arena, counted as if it passed
 * through the stack (as large_cached_alloc does); NULL, having counted
 * nothing, when memory ran out: the general path reports it. */
__attribute__((noinline)) void *tcache_large_miss_alloc(struct tcache *tc, unsigned cls)
{
	void *p = arena_alloc_large(tc->arena, sc_size[cls], PAGE, false);
	if (p) {
		tc->info[cls].nin++;
		tc->info[cls].nalloc++;
	}
	return p;
}

/* Block p of class cls in chunk c to the arena's large cache, as
 * large_cached_free sends it when the stack is full. Marked freed, it may
 * keep its class window byte there (arena_free_large_marked): clearing it
 * cost batch-8k-64k 7 instructions a malloc+free. */
__attribute__((noinline)) bool tcache_large_full_free(struct chunk *c, void *p, unsigned cls)
{
	tcache_mark_freed(p);
	arena_free_large_marked(c, p);
	tcache_account(0, sc_size[cls]);
	return true;
}

static void *large_hit_alloc(size_t size)
{
	struct tcache *tc = large_hit_cache();
	unsigned cls = large_hit_class((size + PAGE - 1) >> LG_PAGE);
	if (!tc || cls == 0)
		return NULL;
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->top == stack->base)
		return tcache_large_miss_alloc(tc, cls);
	tc->info[cls].nalloc++;
	void *p = tcache_stack_pop(stack);
	*(tcache_word *)p = 0; /* the freed mark */
	return p;
}

static bool large_hit_free(void *p)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p); /* NULL, foreign: no_chunk */
	if (c->kind != CHUNK_KIND_PAGES || c->class_of[chunk_page_index((uintptr_t)p)])
		return false; /* huge, guarded, a small object whose stack is full */
	struct tcache *tc = large_hit_cache();
	if (!tc)
		return false;
	struct span *s = span_of_addr(c, (uintptr_t)p);
	if (!s || s->state != SPAN_LARGE || s->base != (uintptr_t)p)
		return false;
	if (INGOT_UNLIKELY(s->large_cached)) /* its mark sent it here */
		ingot_report_double_free(p);
	size_t pages = span_usable_pages(s);
	unsigned cls = large_hit_class(pages);
	if (cls == 0 || sc_size[cls] != pages << LG_PAGE)
		return false; /* no cached class, or an aligned block's run */
	struct tcache_stack *stack = &tc->cstacks[cls];
	for (void **q = stack->base; q < stack->top; q++) /* a few at most */
		if (INGOT_UNLIKELY(*q == p))
			ingot_report_double_free(p);
	if (stack->top == stack->limit) /* full, or no room for the class here */
		return tcache_large_full_free(c, p, cls);
	tcache_mark_freed(p); /* a second free reaches the check above */
	arena_large_window_set(p, cls); /* the next free of it: the fast path's */
	tcache_stack_push(stack, p);
	return true;
}

/* The small classes' cases of an empty or a full stack in an open,
 * default-mode cache (large_hit_cache), without the general paths' checks
 * that large_fast stands for: a refill, and a free past a full stack,
 * were 60 and 70 instructions of checks before reaching the stack
 * (sizeloop batch 1k-8k, a refill or flush every 5 mallocs or frees). NULL
 * or false, having done nothing, for the general path to take: no such
 * cache, a stack with no room for the class, memory that ran out. */
static __attribute__((noinline)) void *small_refill_hit(size_t size)
{
	struct tcache *tc = large_hit_cache();
	if (!tc)
		return NULL;
	unsigned cls = sizeclass_small(size);
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->top != stack->base || stack->limit == stack->base)
		return NULL;
	return count_cached(tc, tcache_unmark(tcache_stack_refill(tc, cls)), cls);
}

/* Small p (its page's class in the class window, as the free fast path
 * reads it: a profile sample's page reads 0) to its stack, which the fast
 * path found full, or home when it is remote. */
static __attribute__((noinline)) bool small_full_hit(void *p)
{
	unsigned cls = (unsigned)pagemap_class((uintptr_t)p);
	struct tcache *tc = large_hit_cache();
	if (cls == 0 || !tc)
		return false;
	if (!tcache_stack_put(tc, cls, p)) {
		tcache_account(0, sc_size[cls]);
		arena_free(pagemap_chunk((uintptr_t)p), p);
	}
	return true;
}

__attribute__((noinline)) void *tcache_alloc_general(size_t size)
{
	void *p;
	ingot_ensure_booted();
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST)) {
		ingot_alloc_failed("malloc", size);
		return NULL;
	}
	struct tcache *tc = tcache_get();
	if (INGOT_UNLIKELY(tc && tc->mode_epoch != __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE)))
		tc = tcache_reopen(tc);
	if (INGOT_UNLIKELY(tcache_checked_mode())) {
		p = tcache_checked_alloc(tc, size);
		if (tc)
			checked_tick(tc);
		if (INGOT_UNLIKELY(prof_on()) && p)
			prof_count_big(p, arena_usable_size(pagemap_chunk((uintptr_t)p), p));
		return p;
	}
	if (size > SC_SMALL_MAX && guard_big_due(size) && (p = guard_alloc(arena_large_usable(size)))) {
		tcache_account(guard_usable_size(p), 0);
		return p;
	}
	if (tc && size <= SC_SMALL_MAX) {
		unsigned cls = sizeclass_small(size);
		struct tcache_stack *stack = &tc->cstacks[cls];
		if (stack->top != stack->base) /* the cache was created by this very call */
			return tcache_malloc(size);
		if (stack->limit != stack->base) {
			p = tcache_unmark(tcache_stack_refill(tc, cls));
			if (!p)
				ingot_alloc_failed("malloc", size);
			return count_cached(tc, p, cls);
		}
	} else if (tc && size <= sc_size[SC_NCACHED]) {
		p = tcache_large_cached_alloc(tc, sizeclass_of(size));
		if (p) {
			prof_count_big(p, sc_size[sizeclass_of(size)]);
			return p;
		}
	}
	p = tcache_alloc_uncached(tc ? tc->arena : tcache_thread_arena(), size);
	if (!p) {
		ingot_alloc_failed("malloc", size);
		return NULL;
	}
	size_t usable = size <= SC_SMALL_MAX ? sc_size[sizeclass_small(size)] : arena_large_usable(size);
	tcache_account(usable, 0);
	prof_count_big(p, usable);
	return p;
}

__attribute__((noinline)) void tcache_free_general(void *p)
{
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	if (!c) {
		if (p == NULL)
			return;
		ingot_report_foreign_ptr("free", p);
	}
	prof_forget(p);
	unsigned cls = c->class_of[chunk_page_index((uintptr_t)p)];
	struct tcache *tc = tcache_get();
	if (INGOT_UNLIKELY(tc && tc->mode_epoch != __atomic_load_n(&mode_epoch, __ATOMIC_ACQUIRE)))
		tc = tcache_reopen(tc);
	if (c->kind == CHUNK_KIND_GUARD) {
		/* Hooks installed after the block was handed out see its free
		 * too, as they see every other block's. */
		size_t usable = guard_free(p);
		hooks_free(p, usable);
		tcache_account(0, usable);
		return;
	}
	if (cls == 0) {
		size_t usable = arena_usable_size(c, p);
		if (usable)
			hooks_free(p, usable);
		if (tc && large_cached_free(tc, p, usable))
			return;
		arena_free(c, p);
		tcache_account(0, usable);
		return;
	}
	if (INGOT_UNLIKELY(tcache_checked_mode())) {
		tcache_checked_free(tc, c, p, cls);
		return;
	}
	if (tc && tcache_stack_put(tc, cls, p))
		return;
	tcache_account(0, sc_size[cls]);
	arena_free(c, p);
}

/* The slow paths of a default-mode cache: the large classes' hits, else
 * the rest in functions of their own, so that the paths before them, which
 * need few registers, do not pay for saving the ones the rest uses
 * (pair-8k-64k 253 -> 134 instructions a pair with the large hits). */
static __attribute__((noinline)) void *default_alloc_slow(size_t size)
{
	void *p;
	if (size - (SC_SMALL_MAX + 1) < sc_size[SC_NCACHED] - SC_SMALL_MAX) {
		if ((p = large_hit_alloc(size)))
			return p;
	} else if (size <= SC_SMALL_MAX && (p = small_refill_hit(size))) {
		return p;
	}
	return tcache_alloc_general(size);
}

/* The slow paths' first test: a hardened fast path, else the default's,
 * each a tail call to a function of its own. With the default's inline
 * here, GCC saved a register before the test, which the hardened path paid
 * for too (3 instructions each way: a hardened malloc+free under callgrind
 * 278 -> 272). */
void *tcache_alloc_slow(size_t size)
{
	int8_t fast = __atomic_load_n(&tcache_tls.cache.hardened_fast, __ATOMIC_RELAXED);
	if (INGOT_UNLIKELY(fast))
		return fast < 0 ? tcache_hardened_alloc_slow_wide(size) : tcache_hardened_alloc_slow(size);
	return default_alloc_slow(size);
}

/* As default_alloc_slow. */
static __attribute__((noinline)) void default_free_slow(void *p)
{
	if (!large_hit_free(p) && !small_full_hit(p))
		tcache_free_general(p);
}

void tcache_free_slow(void *p)
{
	int8_t fast = __atomic_load_n(&tcache_tls.cache.hardened_fast, __ATOMIC_RELAXED);
	if (INGOT_LIKELY(!fast))
		default_free_slow(p);
	else if (fast < 0)
		tcache_hardened_free_slow_wide(p);
	else
		tcache_hardened_free_slow(p);
}

/* ---- explicit caches ------------------------------------------------------ */

static struct tcache *explicit_caches[TCACHES_MAX]; /* under list_lock */

int tcache_explicit_create(unsigned *index)
{
	ingot_ensure_booted();
	struct tcache *tc = base_alloc(sizeof(struct tcache));
	if (!tc || !tcache_open(tc, true))
		return ARCH_ENOMEM;
	arch_lock_acquire(&list_lock);
	unsigned i = 0;
	while (i < TCACHES_MAX && explicit_caches[i])
		i++;
	if (i < TCACHES_MAX)
		explicit_caches[i] = tc;
	arch_lock_release(&list_lock);
	if (i == TCACHES_MAX) {
		tcache_close(tc);
		return ARCH_EAGAIN; /* every index is taken */
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
		tcache_close(tc); /* the record itself is leaked: a few hundred bytes */
	return tc != NULL;
}

void *tcache_alloc_from(struct tcache *tc, struct arena *arena, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (stack->limit == stack->base || (stack->top == stack->base && arena != tc->arena))
		return tcache_unmark(arena_alloc_small(arena, cls, false));
	void *p = stack->top != stack->base ? tcache_stack_pop(stack) : tcache_stack_refill(tc, cls);
	if (p)
		tc->info[cls].nalloc++;
	return tcache_unmark(p);
}

void tcache_free_to(struct tcache *tc, void *p, unsigned cls)
{
	if (!tcache_stack_put(tc, cls, p))
		arena_free(pagemap_lookup((uintptr_t)p), p);
}

/* ---- accounting, verification, fork -------------------------------------- */

/* Other threads change their counts without locks; a statistic may be a
 * moment stale, so these reads are racy on purpose. */
INGOT_RACY_READ size_t tcache_cached_bytes(void)
{
	size_t total = 0;
	arch_lock_acquire(&list_lock);
	for (struct tcache *tc = all_tcaches; tc; tc = tc->next) {
		for (unsigned cls = 1; cls <= SC_NCACHED; cls++)
			total += (size_t)tcache_stack_ncached(&tc->cstacks[cls]) * sc_size[cls];
		for (unsigned i = 0; i < QUARANTINE_LEN && tc->quarantine; i++) {
			uintptr_t p = (uintptr_t)tc->quarantine[i];
			if (p)
				total += sc_size[pagemap_class(p)];
		}
		for (unsigned i = 0; i < tc->nremote && tc->remote; i++)
			total += sc_size[tc->remote_cls[i]];
	}
	arch_lock_release(&list_lock);
	return total;
}

/* Whether the n objects of a stack are all different: a hash set at most
 * twice the largest (grown) capacity, on the checker's stack (was a pairwise
 * comparison, which made a full cache's check cost 512^2 / 2 loads). */
static bool objects_distinct(void *const *objects, unsigned n)
{
	uintptr_t seen[2 * MAX(TCACHE_NCAP_MAX, TCACHE_NCAP_GROWN)];
	unsigned lg = 1;
	while ((1u << lg) < 2 * n)
		lg++;
	if ((1u << lg) > ARRAY_LEN(seen))
		return false; /* more than any capacity: not a cache we made */
	unsigned mask = (1u << lg) - 1;
	ingot_memset(seen, 0, ((size_t)mask + 1) * sizeof(seen[0]));
	for (unsigned i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)objects[i];
		unsigned h = (unsigned)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> (64 - lg));
		while (seen[h] && seen[h] != p)
			h = (h + 1) & mask;
		if (seen[h] == p)
			return false;
		seen[h] = p;
	}
	return true;
}

static const char *large_objects_check(const struct tcache_stack *stack, unsigned cls)
{
	for (unsigned i = 0; i < tcache_stack_ncached(stack); i++) {
		uintptr_t p = (uintptr_t)stack->base[i];
		if (arena_usable_size(pagemap_chunk(p), (void *)p) != sc_size[cls])
			return "thread cache holds a large block of the wrong size";
	}
	return NULL;
}

/* Each object of a small stack sits in a slab of its class that counts it as
 * handed out. The home bin's lock is held across objects of one home (most
 * of them: taking it per object was most of a check's cost). */
static const char *small_objects_check(const struct tcache_stack *stack, unsigned cls)
{
	const char *err = NULL;
	struct bin *locked = NULL;
	for (unsigned i = 0; i < tcache_stack_ncached(stack) && !err; i++) {
		uintptr_t p = (uintptr_t)stack->base[i];
		struct chunk *c = pagemap_chunk(p);
		if (c->class_of[chunk_page_index(p)] != cls) {
			err = "thread cache holds an object of the wrong class";
			break;
		}
		struct bin *home = &c->arena->bins[cls];
		if (home != locked) {
			if (locked)
				arch_lock_release(&locked->lock);
			arch_lock_acquire(&home->lock);
			locked = home;
		}
		struct span *s = span_of_addr(c, p);
		unsigned slot = sizeclass_slot(cls, p - s->base);
		if ((s->free_bits[slot / 64] >> (slot % 64)) & 1)
			err = "thread cache holds an object its slab thinks is free";
	}
	if (locked)
		arch_lock_release(&locked->lock);
	return err;
}

/* Checks the calling thread's own cache only: other threads' stacks change
 * without locks. Every cached object must sit in a live slab of its class. */
static const char *tcache_check(struct tcache *tc)
{
	size_t grown = 0;
	for (unsigned cls = 1; cls <= SC_NCACHED; cls++) {
		struct tcache_stack *stack = &tc->cstacks[cls];
		if (stack->top < stack->base || stack->top > stack->limit ||
		    (stack->limit != stack->base && stack->base[-1] != NULL))
			return "thread cache stack over its capacity or sentinel overwritten";
		unsigned ncap = tcache_stack_ncap(stack);
		if (ncap != class_ncap_unfilled(cls) && ncap != class_ncap_first(cls) &&
		    (ncap < class_ncap_remote(cls) || ncap > class_ncap_max[cls]))
			return "thread cache stack's capacity outside its class's bounds";
		if (ncap > class_ncap[cls])
			grown += (size_t)(ncap - class_ncap[cls]) * sc_size[cls];
		if (stack->limit != stack->base && stack->hot != stack->top[-1])
			return "thread cache stack's copy of its newest object is out of step";
		if (!objects_distinct(stack->base, tcache_stack_ncached(stack)))
			return "thread cache holds the same object twice";
		const char *err = cls > SC_NSMALL ? large_objects_check(stack, cls)
		                                  : small_objects_check(stack, cls);
		if (err)
			return err;
	}
	if (grown != tc->grown_bytes || grown > TCACHE_GROW_BYTES)
		return "thread cache's total growth is out of step with its stacks";
	return NULL;
}

const char *tcache_check_all(void)
{
	struct tcache *tc = tcache_thread();
	return tc ? tcache_check(tc) : NULL;
}

void tcache_fork_prepare(void) { arch_lock_acquire(&list_lock); }
void tcache_fork_parent(void) { arch_lock_release(&list_lock); }

/* In the child only this thread survives. The other threads' caches may
 * have been mid-update when the fork came (they change without locks), so
 * nothing in them can be trusted: they are dropped from the list, and the
 * objects they held stay allocated in the child (at most one cache's
 * capacity per thread). */
void tcache_fork_child(void)
{
	arch_lock_reset(&list_lock);
	struct tcache *tc = all_tcaches;
	all_tcaches = NULL;
	while (tc) {
		struct tcache *next = tc->next;
		if (tc == &tcache_tls.cache || tc->is_explicit)
			list_push_unlocked(tc);
		tc = next;
	}
}

/* ---- thread.arena ----------------------------------------------------------- */

/* Binds the calling thread to arena a: its cache (made now if caching is
 * on) is flushed so that no object of the old arena lingers in it, then
 * refills from a, and uncached blocks come from a too. */
void tcache_set_thread_arena(struct arena *a)
{
	struct tcache *tc = tcache_get();
	if (tc && tc->arena != a) {
		tcache_flush(tc);
		__atomic_fetch_sub(&tc->arena->nthreads, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&a->nthreads, 1, __ATOMIC_RELAXED);
		tc->arena = a;
	}
	tcache_tls.arena = a;
}
