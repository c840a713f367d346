/*
 * tcache.h — per-thread caches of small objects.
 *
 * Words: a cache's per-class stack of free objects is a "stack" (struct
 * tcache_stack); a "bin" is only ever an arena's set of slabs of one class
 * (bin.h).
 *
 * Each thread has, for every small class and the large classes up to
 * SC_NCACHED (64 KiB), a stack of free objects. Small malloc
 * pops and free pushes with no lock and no atomic read-modify-write (see
 * tcache_inline.h). A miss refills a batch from the thread's arena; a full
 * stack flushes its older half to the arena bins that own them (large
 * blocks go in the slow paths and one at a time to their page heap), then,
 * when a probe finds remote objects in the rest (blocks another thread
 * allocated: of another arena's slab, or any block when the stack has never
 * taken objects from a bin), sends those home in batches. A remote object
 * that reaches the free slow path (a thread's first free, a full stack)
 * goes home at once and is never handed out by the thread that freed it;
 * one the fast path cached (it does not look at owners) may be. Batch sizes adapt: a stack
 * that misses often fills more, one that sits unused is trimmed by a garbage
 * pass every TCACHE_GC_EVENTS refills. Capacities adapt too: a
 * small class whose stack runs empty and then full again (a burst bigger than
 * the stack) doubles within bounds in bytes, and halves back when idle; a
 * stack holds 8 objects until its first refill, and drops to half its
 * capacity when a flush finds remote objects in it. A thread's cache is flushed
 * when it exits, and its record is reused by the next new thread.
 */
#ifndef INGOT_TCACHE_H
#define INGOT_TCACHE_H

#include "arena.h"
#include "common.h"
#include "hardening.h"
#include "sizeclass.h"

/*
 * A stack is a stack of free objects of one class: [stack, top) holds them,
 * the newest at top[-1], and limit is stack + capacity. stack[-1] is NULL (a
 * sentinel). hot is a copy of top[-1] (so NULL when the stack is empty):
 * malloc hands it out with one load that does not wait for top, which keeps
 * a malloc that follows a free off the chain of loads the free started.
 * Pointers rather than counts keep each fast path to one load and one
 * compare before its store. stack == limit means "no caching here": the
 * fast paths then always miss, which is how a fresh (zeroed) or switched-off
 * cache, and stack 0 (what the page map gives for anything but a small
 * object), send calls to the slow paths without a separate test. Only
 * tcache_stack_set_top, pop and push move top, so hot stays in step.
 *
 * The fast paths keep one counter: malloc counts events_left down, and when
 * it reaches 0 the class's next event is due (tcache_event: a garbage pass,
 * or a heap-profile sample). It doubles as the count of objects handed out
 * (tcache_stack_nalloc); objects freed are derived from it, nalloc + cached
 * + quarantined + nout - nin (tcache_stack_nfreed), where the slow paths count nin
 * (objects put in other than by free) and nout (taken out other than by
 * malloc) in the stack's tcache_stack_info. So free counts nothing.
 * A stack takes 64 bytes, a cache line: its address is the class shifted,
 * one instruction.
 *
 * Misuse the free fast path catches (tcache_inline.h): a pointer with any
 * bit of misaligned set (the class's objects are all aligned to the largest
 * power of two that divides their size, up to a page), and a block that
 * carries TCACHE_FREED_MARK, which every free into a cache writes in the
 * block's first word and every malloc clears: both go to the slow path,
 * which checks the pointer in full and looks for the block in the stack and
 * in its slab's bitmap (a double free, however late), so that a block is
 * never cached twice by one thread.
 */
struct __attribute__((aligned(64))) tcache_stack {
	void *hot;
	void **top;
	void **base;
	void **limit;
	uint32_t events_left;
	uintptr_t misaligned; /* address bits no object of the class has */
};

/* The freed-block mark: a value no valid pointer has on the targets ingot
 * runs on (x86-64 and aarch64 user space), and one that x86-64 compares
 * and stores as a 32-bit immediate. A block a program wrote it into only
 * costs its free the slow path's look. */
#define TCACHE_FREED_MARK ((uintptr_t)(intptr_t)(int32_t)0xa110c8edu)

typedef uintptr_t __attribute__((may_alias)) tcache_word;

INGOT_INLINE bool tcache_is_marked(const void *p)
{
	return *(const tcache_word *)p == TCACHE_FREED_MARK;
}

INGOT_INLINE void tcache_mark_freed(void *p) { *(tcache_word *)p = TCACHE_FREED_MARK; }

/* A small block leaves the caches for the program: its mark goes. */
INGOT_INLINE void *tcache_unmark(void *p)
{
	if (p)
		*(tcache_word *)p = 0;
	return p;
}

INGOT_INLINE void tcache_stack_set_top(struct tcache_stack *stack, void **top)
{
	stack->top = top;
	stack->hot = top[-1];
}

/* The newest object of a stack that holds one. */
INGOT_INLINE void *tcache_stack_pop(struct tcache_stack *stack)
{
	ingot_assert(stack->top > stack->base && stack->hot == stack->top[-1]);
	void *p = stack->hot;
	tcache_stack_set_top(stack, stack->top - 1);
	return p;
}

/* Puts p on a stack that has room (no count: the caller says why it came). */
INGOT_INLINE void tcache_stack_push(struct tcache_stack *stack, void *p)
{
	ingot_assert(stack->top >= stack->base && stack->top < stack->limit);
	*stack->top = p;
	tcache_stack_set_top(stack, stack->top + 1);
}

struct tcache_stack_info {
	uint64_t nin, nout;
	/* Objects handed out: by the slow paths, and by the fast path up to
	 * the last arming of its countdown (events_arm adds them). */
	uint64_t nalloc;
	uint16_t nfill;   /* objects to take on the next miss */
	uint16_t gc_mark; /* low bits of the handed-out count at the last GC */
	bool missed;      /* refilled since the stack was last full (stack_grow) */
	/* The stack's events: events_left counts down from events_armed, the
	 * nearer of the next garbage pass (gc_left allocations away), the
	 * next profile sample (prof_left; PROF_NO_SAMPLE when off) and the next
	 * guarded allocation (guard_left; GUARD_NEVER when off). */
	uint32_t events_armed, gc_left, prof_left, guard_left;
};

INGOT_INLINE unsigned tcache_stack_ncached(const struct tcache_stack *stack)
{
	return (unsigned)(stack->top - stack->base);
}

INGOT_INLINE unsigned tcache_stack_ncap(const struct tcache_stack *stack)
{
	return (unsigned)(stack->limit - stack->base);
}

enum tcache_state {
	TCACHE_NONE = 0,     /* thread has no cache yet */
	TCACHE_BOOTING = 1,  /* being created: allocate straight from arenas */
	TCACHE_ACTIVE = 2,
	TCACHE_DISABLED = 3, /* thread.tcache.enabled=false, or the thread ended */
};

struct tcache {
	struct tcache_stack stacks[SC_NCACHED + 1]; /* what the fast paths use */
	struct tcache_stack *cstacks;              /* what the slow paths use: stacks,
	                                        * or a hardened heap's own */
	struct tcache_stack_info info[SC_NCACHED + 1]; /* of the cstacks */
	struct arena *arena;
	void **stack_mem;                /* memory of every class's stack */
	void **quarantine;               /* hardened: ring of QUARANTINE_LEN freed */
	unsigned quarantine_next;        /* objects, oldest at quarantine_next */
	uint8_t *quarantine_tags;        /* each one's class */
	void **remote;                   /* hardened: remote objects on their way */
	uint8_t *remote_cls;             /* home, with their classes (remote_put) */
	unsigned nremote;
	unsigned remote_bytes;           /* their sizes' sum */
	unsigned nremote_sent;           /* how many went home (at most
	                                  * REMOTE_CONSUMER_SENT, a consumer) */
	uint64_t rng;                    /* hardened: slot-order randomness */
	uint64_t allocated, deallocated; /* bytes not counted by the stacks */
	size_t grown_bytes;              /* stacks' capacity beyond their base, in
	                                  * bytes (at most TCACHE_GROW_BYTES) */
	uint32_t gc_countdown;           /* refills until the next GC */
	uint32_t checked_allocs_left;    /* checked heaps: mallocs until the next
	                                  * garbage pass and decay tick */
	unsigned mode_epoch;             /* mode the cache was opened in */
	bool is_explicit;                /* made by tcache.create */
	int8_t hardened_fast;            /* opened in a heap of the hardened checks
	                                  * alone: tcache.c's hardened fast paths,
	                                  * in wide vectors or not (below) */
	bool large_fast;                 /* opened in default mode (no checks,
	                                  * hooks, profile or guarded samples)
	                                  * and no mode change since: tcache.c's
	                                  * large_hit_* may run */
	struct tcache *next, *prev;      /* list of caches in use */
};

/* hardened_fast: off, or on with the head checks in 16-byte vectors, or
 * in 32-byte ones (harden_wide): negative, so that the slow paths' one
 * test of the flag tells the three apart (zero, sign). */
enum { HARDENED_FAST_OFF = 0, HARDENED_FAST_NARROW = 1, HARDENED_FAST_WIDE = -1 };

/* Objects that stack cls of tc handed out, and that frees put in it. The
 * fast path's part of the first is how far its countdown (in the fast
 * paths' stack, also when the slow paths work in others) went since armed. */
INGOT_INLINE uint64_t tcache_stack_nalloc(const struct tcache *tc, unsigned cls)
{
	const struct tcache_stack_info *info = &tc->info[cls];
	return info->nalloc + (info->events_armed - tc->stacks[cls].events_left);
}

/* Objects of class cls waiting in tc's quarantine (hardened heaps). The
 * hardened free counts nothing: an object it puts there stays in its
 * class's books, as a cached one does, until it leaves the ring. */
INGOT_INLINE uint64_t tcache_quarantined(const struct tcache *tc, unsigned cls)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < QUARANTINE_LEN && tc->quarantine; i++)
		n += tc->quarantine[i] && tc->quarantine_tags[i] == cls;
	return n;
}

INGOT_INLINE uint64_t tcache_stack_nfreed(const struct tcache *tc, unsigned cls)
{
	const struct tcache_stack_info *info = &tc->info[cls];
	/* A thread that never had a cache has only its (empty) TLS stacks. */
	const struct tcache_stack *stack = tc->cstacks ? &tc->cstacks[cls] : &tc->stacks[cls];
	return tcache_stack_nalloc(tc, cls) + tcache_stack_ncached(stack) + tcache_quarantined(tc, cls) +
	       info->nout - info->nin;
}

/* Per-thread state. The automatic cache lives in initial-exec TLS itself, so
 * the fast paths reach a stack with one TLS-relative address and no pointer
 * to load or test. */
struct tcache_tls {
	struct tcache cache;
	struct arena *arena; /* arena for uncached allocations */
	uint8_t state;       /* enum tcache_state */
};
extern INGOT_THREAD_LOCAL struct tcache_tls tcache_tls;

/* The calling thread's cache when it is active, else NULL. */
static inline struct tcache *tcache_thread(void)
{
	return tcache_tls.state == TCACHE_ACTIVE ? &tcache_tls.cache : NULL;
}

/* Bytes the thread has allocated and freed so far (thread.allocated). */
uint64_t tcache_thread_allocated(void);
uint64_t tcache_thread_deallocated(void);

/* Adds bytes moved outside the stacks (large blocks, uncached objects). */
void tcache_account(size_t allocated, size_t deallocated);

/* Sets per-class capacities from the options; called once at start. */
void tcache_boot(size_t tcache_max, bool enabled);

/* Slow paths behind the fast paths in tcache_inline.h. */
void *tcache_alloc_slow(size_t size);
void tcache_free_slow(void *p);

/* A sized free (free_sized, sdallocx, sized delete) of p with size and
 * align, taken by the hardened fast path when the cache has one and p is
 * an owned small object of size's class; false, having done nothing, for
 * anything else, which the checked path (alloc_free_checked_size) checks
 * in full. */
bool tcache_hardened_free_sized(void *p, size_t size, size_t align);

/* The events of p's class are due (its events_left reached 0 as p was
 * handed out): every TCACHE_EVENT_ALLOCS allocations of the class a
 * garbage pass over the stacks and a decay tick of the arena; a heap-profile
 * sample when its countdown ends. Returns p. */
void *tcache_event(void *p);

/* The calling thread's arena for uncached work (created on first use). */
struct arena *tcache_thread_arena(void);

/* Flushes every object of a cache back to the arenas' bins. */
void tcache_flush(struct tcache *tc);

/* Explicit caches (tcache.create / MALLOCX_TCACHE), named by an index
 * below TCACHES_MAX. Like jemalloc's, each must be used by one thread at a
 * time; the registry itself is thread-safe. */
#ifndef INGOT_TCACHES_MAX
#define INGOT_TCACHES_MAX 4096
#endif
#define TCACHES_MAX INGOT_TCACHES_MAX
int tcache_explicit_create(unsigned *index); /* 0, ARCH_ENOMEM or ARCH_EAGAIN */
struct tcache *tcache_explicit_get(unsigned index); /* NULL when unknown */
bool tcache_explicit_destroy(unsigned index);       /* false when unknown */
void *tcache_alloc_from(struct tcache *tc, struct arena *arena, unsigned cls);
void tcache_free_to(struct tcache *tc, void *p, unsigned cls);

/* Binds the calling thread to arena a (thread.arena): flushes its cache
 * and moves the arena's nthreads count. */
void tcache_set_thread_arena(struct arena *a);

/* Hardening or hooks changed what the caches must see: every cache reopens
 * in the right mode, the caller's at once, others on their next slow path. */
void tcache_mode_changed(void);

/* True while caches run checked: hardened heaps and installed hooks need
 * to see every call, so every call takes the slow paths (the one place
 * that decides it). */
bool tcache_checked_mode(void);

/* Turns the calling thread's cache on or off (thread.tcache.enabled). */
void tcache_set_enabled(bool enabled);
bool tcache_enabled(void);

/* Sum of bytes held in every cache (for the bound tests and stats). */
size_t tcache_cached_bytes(void);

/* What tcache_boot decided: the largest size a free leaves in a cache
 * (arenas.tcache_max), and how many classes, from the smallest, caches
 * keep (arenas.nhbins). */
size_t tcache_max_size(void);
unsigned tcache_nclasses(void);

/* Largest total a single cache can hold, in bytes. */
size_t tcache_capacity_bytes(void);
/* The capacity a stack of class cls has once it left its first area, and
 * that an idle grown one shrinks back to. */
unsigned tcache_class_ncap(unsigned cls);

const char *tcache_check_all(void);

void tcache_fork_prepare(void);
void tcache_fork_parent(void);
void tcache_fork_child(void);

#endif
