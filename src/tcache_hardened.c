/*
 * tcache_hardened.c — the thread caches' hardened paths: checked malloc and
 * free (canaries, ownership, the quarantine, remote objects waiting to go
 * home), and the hardened fast paths of caches that may take them
 * (hardened_fast), small and large. tcache.c's slow paths call in here;
 * what the two files share is in tcache_internal.h.
 *
 * Call tree:
 *   tcache_alloc_slow -> tcache_hardened_alloc_slow(_wide)
 *       -> hardened_alloc_fast | hardened_large_alloc -> tcache_alloc_general
 *   tcache_alloc_general -> tcache_checked_alloc -> tcache_stack_refill
 *   tcache_free_slow -> tcache_hardened_free_slow(_wide)
 *       -> hardened_free_fast | hardened_large_free -> tcache_free_general
 *   tcache_free_general -> tcache_checked_free -> quarantine_swap,
 *       stack_put_or_home -> tcache_stack_put
 */
#include "tcache.h"

#include "hardening.h"
#include "hooks.h"
#include "report.h"
#include "tcache_inline.h"
#include "tcache_internal.h"

#define REMOTE_WAIT_BYTES (64u << 10) /* hardened: bytes of remote objects waiting, at most about */
#define REMOTE_CONSUMER_SENT 256u /* hardened: a thread that sent home this many
                                   * remote objects keeps them (remote_put) */

/* ---- hardened paths ----------------------------------------------------- */

/* Hardened malloc: the fast path's pop (stacks have capacity 0 in hardened
 * heaps, so every call lands here), then the checks. */
void *tcache_checked_alloc(struct tcache *tc, size_t size)
{
	size_t need = size + harden_canary_size();
	struct arena *arena = tc ? tc->arena : tcache_thread_arena();
	void *p;
	if (need > SC_SMALL_MAX) {
		size_t big = MAX(size, SC_SMALL_MAX + 1);
		/* Cached large blocks keep their guard page: reusing them costs
		 * no system call. The cache counts what it hands out (nalloc);
		 * counted here too, each was counted twice in thread.allocated. */
		p = tc && big <= sc_size[SC_NCACHED] ? tcache_large_cached_alloc(tc, sizeclass_of(big)) : NULL;
		if (!p && (p = tcache_alloc_uncached(arena, big)))
			tcache_account(arena_large_usable(big), 0);
		if (p)
			hooks_alloc(p, size, arena_large_usable(big));
		else
			ingot_alloc_failed("malloc", size);
		return p;
	}
	unsigned cls = sizeclass_small(need);
	struct tcache_stack *stack = tc ? &tc->cstacks[cls] : NULL;
	if (stack && stack->top != stack->base) {
		p = tcache_stack_pop(stack);
	} else if (stack && stack->limit != stack->base) {
		p = tcache_stack_refill(tc, cls);
	} else {
		p = arena_alloc_small(arena, cls, false); /* checks inside */
		if (p) {
			tcache_account(sc_size[cls], 0);
			hooks_alloc(p, size, harden_small_usable(cls));
		} else {
			ingot_alloc_failed("malloc", size);
		}
		return p;
	}
	if (!p) {
		ingot_alloc_failed("malloc", size);
		return NULL;
	}
	tc->info[cls].nalloc++;
	if (ingot_hardening)
		harden_take(p, cls);
	hooks_alloc(p, size, harden_small_usable(cls));
	return p;
}

/* Puts checked, freed object p of class cls in the quarantine ring;
 * returns the object it pushes out (oldest first), that one's class in
 * *victim_cls, or NULL while the ring fills. */
static void *quarantine_swap(struct tcache *tc, void *p, unsigned cls, unsigned *victim_cls)
{
	unsigned i = tc->quarantine_next;
	void **ring = tc->quarantine;
	uint8_t *tags = tc->quarantine_tags; /* loaded once: the ring's store may alias */
	void *victim = ring[i];
	*victim_cls = tags[i];
	ring[i] = p;
	tags[i] = (uint8_t)cls;
	tc->quarantine_next = (i + 1) % QUARANTINE_LEN;
	return victim;
}

void tcache_quarantine_flush(struct tcache *tc)
{
	for (unsigned i = 0; i < QUARANTINE_LEN; i++) {
		void *p = tc->quarantine[i];
		if (!p)
			continue;
		tc->quarantine[i] = NULL;
		tc->info[tc->quarantine_tags[i]].nout++; /* leaves the class's books */
		arena_free_batch(tc->quarantine_tags[i], &p, 1);
	}
}

/* Sends home the remote objects waiting in hardened cache tc, one batch
 * per class (arena_free_batch: one lock per run of one bin), put in class
 * order by a counting sort. */
__attribute__((noinline)) void tcache_remote_flush(struct tcache *tc)
{
	void *home[REMOTE_WAIT_MAX];
	unsigned end[SC_NSMALL + 1] = {0}; /* counts, then where each class ends */
	unsigned n = tc->nremote;
	for (unsigned i = 0; i < n; i++)
		end[tc->remote_cls[i]]++;
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		end[cls] += end[cls - 1];
	for (unsigned i = n; i-- > 0;)
		home[--end[tc->remote_cls[i]]] = tc->remote[i]; /* end[cls]: where cls starts */
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		unsigned next = cls < SC_NSMALL ? end[cls + 1] : n;
		if (next > end[cls])
			arena_free_batch(cls, home + end[cls], next - end[cls]);
	}
	tc->nremote_sent = MIN(tc->nremote_sent + n, REMOTE_CONSUMER_SENT);
	tc->nremote = 0;
	tc->remote_bytes = 0;
}

/* A remote object of class cls leaves hardened cache tc's quarantine. A
 * thread that frees other threads' blocks in numbers (a consumer: it sent
 * REMOTE_CONSUMER_SENT of them home) keeps them on its
 * stack while the stack has room, as the default profile's free fast path
 * does: they leave the quarantine as its own do, and a full stack's probe
 * sends them home (stack_put makes room: stack_make_room). Sent home, each under its bin's lock
 * and with a span look-up and a slot's bitmap update of its own, they took
 * 40% of a hardened prodcons-t2's instructions (a thread frees only the
 * other's blocks) even 64 at a time. Any other thread's remote objects
 * wait with others to go home, up to REMOTE_WAIT_MAX of them or about
 * REMOTE_WAIT_BYTES: one that frees a block another thread handed it
 * never hands that block out (threads::a_block_freed_by_a_new_thread_goes_home).
 * remote_put, below, takes the first case: a consumer's stack with room. */
static __attribute__((noinline)) void remote_wait(struct tcache *tc, void *p, unsigned cls)
{
	if (tc->nremote_sent == REMOTE_CONSUMER_SENT && tcache_stack_put(tc, cls, p))
		return; /* stack_put made room; a remote p it leaves to us */
	tc->remote[tc->nremote] = p;
	tc->remote_cls[tc->nremote++] = (uint8_t)cls;
	tc->remote_bytes += sc_size[cls];
	tc->info[cls].nout++;
	if (tc->nremote == REMOTE_WAIT_MAX || tc->remote_bytes >= REMOTE_WAIT_BYTES)
		tcache_remote_flush(tc);
}

/* remote_wait's first case, a consumer's push on a stack with room, in a
 * function of its own that saves no register (prodcons-t2 hardened: 34
 * instructions a remote object with the waiting room's four saves and
 * restores around it). */
static __attribute__((noinline)) void remote_put(struct tcache *tc, void *p, unsigned cls)
{
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (tc->nremote_sent == REMOTE_CONSUMER_SENT && stack->top != stack->limit) {
		tcache_stack_push(stack, p);
		return;
	}
	remote_wait(tc, p, cls);
}

/* Puts small object p on tc's stack cls, or, where it has no room, sends
 * it home (it leaves the stack's books: nout). Out of line: a tail call
 * from hardened_free_slow, which then keeps nothing in saved registers. */
static __attribute__((noinline)) void stack_put_or_home(struct tcache *tc, unsigned cls, void *p)
{
	if (!tcache_stack_put(tc, cls, p)) {
		tc->info[cls].nout++;
		arena_free_batch(cls, &p, 1);
	}
}

/* Hardened free of small object p: checks, quarantine, then the cache.
 * The free counts in stack cls: an object in the quarantine stays in its
 * class's books (tcache_quarantined), and one that goes straight home
 * leaves them (nout). */
void tcache_checked_free(struct tcache *tc, struct chunk *c, void *p, unsigned cls)
{
	hooks_free(p, harden_small_usable(cls));
	if (ingot_hardening)
		harden_give(span_of_addr(c, (uintptr_t)p), p, cls);
	if (!tc) {
		tcache_account(0, sc_size[cls]);
		arena_free_batch(cls, &p, 1); /* already checked: no second give */
		return;
	}
	if (ingot_hardening & HARDEN_QUARANTINE) {
		p = quarantine_swap(tc, p, cls, &cls);
		if (!p)
			return;
	}
	stack_put_or_home(tc, cls, p);
}

/* Checked heaps have no fast path to count events (tcache_event): every
 * TCACHE_EVENT_ALLOCS of their mallocs make the same garbage pass and
 * decay tick, so that a quiet program's freed pages still go back
 * (hardened memreturn kept 285-292 MB at its end without it; the default
 * 49). */
__attribute__((noinline)) void tcache_checked_event(struct tcache *tc)
{
	tc->checked_allocs_left = TCACHE_EVENT_ALLOCS;
	tcache_gc_pass(tc);
	arena_purge(tc->arena, false);
}

/* ---- hardened fast paths ------------------------------------------------- */

/* Both are called only for the calling thread's cache when it is
 * hardened_fast: active, opened in a heap of the hardened checks alone (no
 * junk or zero options, no hooks, no profiling), and no mode change came
 * since (tcache_mode_changed clears the flag). Every other call takes
 * checked_alloc and checked_free. */

/* A small object of size bytes from the top of its stack, checked and
 * marked owned; NULL, having done nothing, for any other case (an empty
 * stack, a big size, an event due, a cache that may not: hardened_fast_cache), which
 * takes checked_alloc. What checked_alloc does on a hit, less its
 * branches and calls. */
INGOT_INLINE void *hardened_alloc_fast(size_t size, bool wide)
{
	struct tcache *tc = &tcache_tls.cache;
	if (size > SC_SMALL_MAX - CANARY_SIZE)
		return NULL;
	unsigned cls = sizeclass_small(size + CANARY_SIZE);
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (INGOT_UNLIKELY(stack->top == stack->base))
		return NULL;
	/* The malloc due to make the event (checked_tick) takes the general
	 * path, which counts it again and makes it: no call here, so p and
	 * the rest stay in registers that need no saving. */
	if (INGOT_UNLIKELY(--tc->checked_allocs_left == 0)) {
		tc->checked_allocs_left = 1;
		return NULL;
	}
	void *p = tcache_stack_pop(stack);
	/* Stacks hold objects (NULL only below their base): the caller's test
	 * for a miss then goes from the hit (2 instructions). */
	if (p == NULL)
		__builtin_unreachable();
	tc->info[cls].nalloc++;
	harden_take_all(p, cls, wide);
	return p;
}

/* Frees p, of class cls by the page map, as checked_free does when it is
 * a small object its program owns (harden_owned): the checks (ownership,
 * canaries, zeroing), the quarantine, and the object that leaves the
 * quarantine pushed on its stack (a full stack takes stack_put's way; a
 * remote object takes remote_put's: it waits to go home with others, or,
 * in a consumer thread, stays on its stack as the default profile's would).
 * False, having done
 * nothing, when p is anything else, which checked_free checks in full and
 * reports, or the cache may not (hardened_fast_cache). The page map's
 * class and the canary prove p an object start: no span record. */
INGOT_INLINE bool hardened_free_fast(void *p, unsigned cls, bool wide)
{
	struct tcache *tc = &tcache_tls.cache;
	uint64_t secret = harden_canary_secret;
	if (cls == 0 || ((uintptr_t)p & tc->cstacks[cls].misaligned) != 0 || !harden_owned(p, cls, secret))
		return false;
	/* Every slab has a guard page after it (all checks), so the page
	 * before a slab's first object is never a page of class cls: p starts
	 * its slab exactly when the byte before it lies on a page of another
	 * class (one more page map read, no span record, no jump). */
	bool first = pagemap_class((uintptr_t)p - 1) != cls;
	harden_give_all(p, first, cls, secret, wide);
	unsigned vcls; /* no counts: tcache_quarantined */
	void *victim = quarantine_swap(tc, p, cls, &vcls);
	if (!victim)
		return true;
	struct tcache_stack *stack = &tc->cstacks[vcls];
	/* object_is_remote, for a stack that has taken objects (nin) */
	if (INGOT_UNLIKELY(pagemap_chunk((uintptr_t)victim)->arena != tc->arena)) {
		remote_put(tc, victim, vcls);
		return true;
	}
	if (INGOT_LIKELY(stack->top != stack->limit)) {
		tcache_stack_push(stack, victim);
		return true;
	}
	stack_put_or_home(tc, vcls, victim);
	return true;
}

/* hardened_free_fast with the wide vectors (harden_wide). */
static __attribute__((noinline)) bool hardened_free_fast_wide(void *p, unsigned cls)
{
	return hardened_free_fast(p, cls, true);
}

bool tcache_hardened_free_sized(void *p, size_t size, size_t align)
{
	int8_t fast = __atomic_load_n(&tcache_tls.cache.hardened_fast, __ATOMIC_RELAXED);
	if (INGOT_LIKELY(!fast) || align > SC_QUANTUM || size > SC_SMALL_MAX - CANARY_SIZE)
		return false;
	/* The size's class, as alloc_usable_for finds it (classes are
	 * multiples of SC_QUANTUM: no alignment moves it), against p's. */
	unsigned cls = sizeclass_small((size ? size : 1) + CANARY_SIZE);
	if (pagemap_class((uintptr_t)p) != cls)
		return false;
	return fast < 0 ? hardened_free_fast_wide(p, cls) : hardened_free_fast(p, cls, false);
}

/* The hardened large hits: what checked_alloc and free_general do with a
 * block of a cached large class (16 KiB .. 64 KiB) in a cache with the
 * hardened fast paths (hardened_fast: no hooks, profile, junk or zero
 * options), without the general paths' look-ups: a pop with the head
 * check of harden_large_reuse, or a push after the double-free scan and
 * the zeroing of harden_large_give (both inline here); an empty stack's malloc takes a block from the arena,
 * a full stack's free sends it to the arena's large cache, as
 * large_cached_alloc and large_cached_free do. Anything else (a class with
 * no room in the cache, the malloc due to make the cache's event, a
 * pointer that is not a whole live large block of a cached class) goes to
 * the general paths, which check it in full and report it with the same
 * messages. Hardened instructions a malloc+free
 * (callgrind, 2N-N): sizeloop pair 8k-64k (two in three blocks large)
 * 463 -> 251, batch 8k-64k 696 -> 526. */
static __attribute__((noinline)) void *hardened_large_alloc(size_t size)
{
	struct tcache *tc = &tcache_tls.cache;
	/* checked_alloc's rule: a block that needs more than SC_SMALL_MAX
	 * with its canary is large, of SC_SMALL_MAX + 1 bytes at least */
	size_t big = MAX(size, SC_SMALL_MAX + 1);
	if (size + CANARY_SIZE <= SC_SMALL_MAX || big > sc_size[SC_NCACHED])
		return tcache_alloc_general(size);
	unsigned cls = large_hit_class((big + PAGE - 1) >> LG_PAGE);
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (cls == 0 || stack->limit == stack->base)
		return tcache_alloc_general(size);
	if (INGOT_UNLIKELY(--tc->checked_allocs_left == 0)) { /* as hardened_alloc_fast */
		tc->checked_allocs_left = 1;
		return tcache_alloc_general(size);
	}
	if (stack->top == stack->base) { /* as large_cached_alloc */
		void *p = tcache_large_miss_alloc(tc, cls);
		if (p)
			return p;
		tc->checked_allocs_left++; /* the general path counts it and reports */
		return tcache_alloc_general(size);
	}
	void *p = tcache_stack_pop(stack);
	/* harden_large_reuse under exactly HARDEN_ALL_CHECKS (hardened_fast):
	 * the head check, no fill; inline, not two calls (34 instructions). */
	if (INGOT_UNLIKELY(!harden_checked_head_zero(p)))
		ingot_report_use_after_free(p);
	tc->info[cls].nalloc++;
	return p;
}

static __attribute__((noinline)) void hardened_large_free(void *p)
{
	struct tcache *tc = &tcache_tls.cache;
	struct chunk *c = pagemap_chunk((uintptr_t)p); /* NULL, foreign: no_chunk */
	if (c->kind != CHUNK_KIND_PAGES || c->class_of[chunk_page_index((uintptr_t)p)]) {
		tcache_free_general(p);
		return;
	}
	struct span *s = span_of_addr(c, (uintptr_t)p);
	if (!s || s->state != SPAN_LARGE || s->large_cached || s->base != (uintptr_t)p) {
		tcache_free_general(p);
		return;
	}
	size_t pages = span_usable_pages(s);
	unsigned cls = large_hit_class(pages);
	struct tcache_stack *stack = &tc->cstacks[cls];
	if (cls == 0 || sc_size[cls] != pages << LG_PAGE || stack->limit == stack->base) {
		tcache_free_general(p); /* no cached class, an aligned block's run, no room */
		return;
	}
	for (void **q = stack->base; q < stack->top; q++) /* a few at most */
		if (INGOT_UNLIKELY(*q == p))
			ingot_report_double_free(p);
	if (stack->top == stack->limit) { /* to the arena's large cache, which zeroes it */
		tcache_large_full_free(c, p, cls);
		return;
	}
	harden_large_clear_head(p); /* harden_large_give under HARDEN_ALL_CHECKS */
	tcache_stack_push(stack, p);
}

/* A malloc in a cache with the hardened fast paths (no large or small
 * hits there: large_fast is never set with hardening on). Out of line, as
 * hardened_free_slow is: inside tcache_alloc_slow, its hits paid for the
 * registers the large hits save, 8 instructions a malloc. */
__attribute__((noinline)) void *tcache_hardened_alloc_slow(size_t size)
{
	void *p = hardened_alloc_fast(size, false);
	return p ? p : hardened_large_alloc(size);
}

/* The same with the wide vectors (harden_wide). */
__attribute__((noinline)) void *tcache_hardened_alloc_slow_wide(size_t size)
{
	void *p = hardened_alloc_fast(size, true);
	return p ? p : hardened_large_alloc(size);
}

/* A free in a cache with the hardened fast paths (no large or small hits
 * there: large_fast is never set with hardening on). Out of line: inlined
 * in tcache_free_slow, its registers cost every default-mode large hit and
 * small full stack 12 instructions of saves and restores. */
__attribute__((noinline)) void tcache_hardened_free_slow(void *p)
{
	if (!hardened_free_fast(p, (unsigned)pagemap_class((uintptr_t)p), false))
		hardened_large_free(p);
}

/* The same with the wide vectors (harden_wide). */
__attribute__((noinline)) void tcache_hardened_free_slow_wide(void *p)
{
	if (!hardened_free_fast(p, (unsigned)pagemap_class((uintptr_t)p), true))
		hardened_large_free(p);
}

