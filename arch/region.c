/*
 * region.c — the arch back end for bare metal: no operating system, one
 * memory region.
 *
 * The program hands ingot its memory once, before the first allocation:
 * either by calling ingot_region_init(base, size), or by defining the
 * link-time symbols __ingot_heap_start and __ingot_heap_end (for example in
 * its linker script). Everything ingot maps — chunks, huge blocks, its own
 * metadata — is carved out of that region, page-aligned, and what ingot
 * unmaps goes back to it and is reused.
 *
 * The region's free ranges are kept in an address-ordered list whose links
 * live in the free memory itself, so this back end needs no memory of its
 * own beyond a few words. Nothing here calls the C library: the compiler may
 * emit calls to memset, which a freestanding program provides.
 *
 * Build options:
 *   INGOT_REGION_THREADS=0 (default): one thread of execution. Locks are
 *       atomic words that never wait: finding one held means ingot was
 *       re-entered (say, from an interrupt handler), which is reported and
 *       aborts rather than deadlocking.
 *   INGOT_REGION_THREADS=1: preemptive threads (an RTOS) may call ingot.
 *       Locks spin, calling ingot_region_yield() between tries, and 64-bit
 *       atomics mask interrupts on M-profile cores.
 *   Either way arch_info.has_threads is false, so the core runs without
 *   thread caches, and there is no thread-exit, fork or process-exit hook.
 *
 * Hooks the program may define (weak defaults here):
 *   void ingot_region_write(const char *msg, size_t len)  error messages;
 *       default: dropped
 *   void ingot_region_abort(void)                          must not return;
 *       default: a trap instruction
 *   void ingot_region_set_errno(int err)                   ENOMEM / EINVAL
 *       for the caller; default: stored where ingot_region_errno() reads it
 *   void ingot_region_random(void *buf, size_t len)        a seed (hardened
 *       builds); default: a weak mix of a counter and addresses
 *   void ingot_region_yield(void)                          threads only;
 *       default: a spin hint
 * And it may read:
 *   int ingot_region_errno(void)          the last error the default
 *                                         ingot_region_set_errno stored
 *   size_t ingot_region_available(void)   bytes of the region not in use
 */
#include "arch.h"
#include "backend.h"
#include "ingot.h"

#ifndef INGOT_LG_PAGE
#define INGOT_LG_PAGE 12
#endif
#ifndef INGOT_REGION_THREADS
#define INGOT_REGION_THREADS 0
#endif

/* The region's page is ingot's page: nothing smaller is ever asked for. */
#define REGION_PAGE ((size_t)1 << INGOT_LG_PAGE)
/* ingot's chunk (src/common.h's default unless the build sets it): only
 * where metadata goes depends on it. */
#ifndef INGOT_LG_CHUNK
#define INGOT_LG_CHUNK 22
#endif
#define REGION_CHUNK ((size_t)1 << INGOT_LG_CHUNK)
#define REGION_MIN_PAGES 4

#define EXPORT __attribute__((visibility("default")))
#define WEAK __attribute__((weak))


/* ---- program hooks: weak defaults ---------------------------------------- */

void ingot_region_write(const char *msg, size_t len);
_Noreturn void ingot_region_abort(void);
void ingot_region_set_errno(int err);
int ingot_region_errno(void);
void ingot_region_random(void *buf, size_t len);
void ingot_region_yield(void);
size_t ingot_region_available(void);

static int last_errno;

WEAK void ingot_region_write(const char *msg, size_t len)
{
	(void)msg;
	(void)len;
}

WEAK _Noreturn void ingot_region_abort(void)
{
	for (;;)
		__builtin_trap();
}

WEAK void ingot_region_set_errno(int err) { last_errno = err; }

EXPORT int ingot_region_errno(void) { return last_errno; }

WEAK void ingot_region_yield(void) { cpu_relax(); }

/* ---- the region ----------------------------------------------------------- */

/* Header of a free range, stored in its first bytes. */
struct free_range {
	size_t size;             /* bytes, a multiple of REGION_PAGE */
	struct free_range *next; /* next free range at a higher address */
};

/* Optional link-time region; absent symbols read as address 0. */
extern char __ingot_heap_start[] WEAK;
extern char __ingot_heap_end[] WEAK;

static struct {
	arch_lock_t lock;
	uintptr_t base, end;     /* page-aligned; base == end: no region yet */
	struct free_range *free; /* address order, never adjacent (coalesced) */
	size_t available;        /* bytes in the free list */
	bool started;            /* arch_init ran: the region is fixed */
} region;

static void report(const char *msg)
{
	size_t len = 0;
	while (msg[len])
		len++;
	arch_write_err(msg, len);
}

static uintptr_t align_up(uintptr_t x, size_t a) { return (x + (a - 1)) & ~(uintptr_t)(a - 1); }
static uintptr_t align_down(uintptr_t x, size_t a) { return x & ~(uintptr_t)(a - 1); }

/* Sets the region to [base, base + size) trimmed to whole pages. Caller
 * holds the lock. */
static int region_set(uintptr_t base, size_t size)
{
	if (region.started || region.end != region.base || size > UINTPTR_MAX - base)
		return ARCH_EINVAL;
	uintptr_t first = align_up(base, REGION_PAGE), last = align_down(base + size, REGION_PAGE);
	if (first < base || last <= first || (last - first) / REGION_PAGE < REGION_MIN_PAGES)
		return ARCH_EINVAL;
	region.base = first;
	region.end = last;
	region.free = (struct free_range *)first;
	region.free->size = last - first;
	region.free->next = NULL;
	region.available = last - first;
	return 0;
}

EXPORT int ingot_region_init(void *base, size_t size)
{
	arch_lock_acquire(&region.lock);
	int err = base != NULL ? region_set((uintptr_t)base, size) : ARCH_EINVAL;
	arch_lock_release(&region.lock);
	return err;
}

EXPORT size_t ingot_region_available(void)
{
	arch_lock_acquire(&region.lock);
	size_t n = region.available;
	arch_lock_release(&region.lock);
	return n;
}

void arch_init(struct arch_info *info)
{
	arch_lock_acquire(&region.lock);
	uintptr_t start = (uintptr_t)__ingot_heap_start, end = (uintptr_t)__ingot_heap_end;
	if (region.base == region.end && start != 0 && end > start)
		region_set(start, end - start);
	region.started = true;
	arch_lock_release(&region.lock);
	if (region.base == region.end)
		report("ingot: no region: call ingot_region_init or define __ingot_heap_start/end\n");
	info->page_size = REGION_PAGE;
	info->ncpus = 1;
	info->has_threads = false;
	info->memory_high = 0; /* no container limits known here */
	info->memory_max = 0;
	info->hugepage_size = 0;
	info->map_base = region.base;
	info->map_size = region.end - region.base;
}

/* ---- memory ----------------------------------------------------------- */

/* Where in free range r an aligned run of size bytes starts, taken from
 * the top of the range or the bottom; 0 when it does not fit. */
static uintptr_t fit(const struct free_range *r, size_t size, size_t align, bool top)
{
	uintptr_t lo = (uintptr_t)r, hi = lo + r->size;
	if (r->size < size)
		return 0;
	uintptr_t start = top ? align_down(hi - size, align) : align_up(lo, align);
	return start >= lo && start <= hi && hi - start >= size ? start : 0;
}

/* Where in free range r a page-aligned run of size bytes fits in pages no
 * chunk can use: below the range's first chunk boundary or above its last
 * (all of it when no whole aligned chunk fits), taken from the top of such
 * a part; 0 when none holds it. A region that starts or ends off a chunk
 * boundary has such a part, which metadata would otherwise leave unused. */
static uintptr_t fit_slack(const struct free_range *r, size_t size)
{
	uintptr_t lo = (uintptr_t)r, hi = lo + r->size;
	uintptr_t first = align_up(lo, REGION_CHUNK), last = align_down(hi, REGION_CHUNK);
	if (first < lo || first >= last) /* no whole chunk in r */
		return r->size >= size ? hi - size : 0;
	if (hi - last >= size)
		return hi - size;
	if (first - lo >= size)
		return first - size;
	return 0;
}

/* The free range where a run of size bytes aligned to align goes, and in
 * *start where in it; NULL when none holds it. Page-aligned requests are
 * ingot's metadata, which is never given back: they take pages no chunk
 * can use first, else the top of the region. Chunks and huge blocks
 * (aligned to the chunk) come from the bottom. Kept apart, metadata does
 * not break up the aligned runs that chunks need. Caller holds the lock. */
static struct free_range **place(size_t size, size_t align, uintptr_t *start)
{
	bool top = align <= REGION_PAGE;
	struct free_range **link = NULL;
	if (top)
		for (struct free_range **l = &region.free; *l != NULL; l = &(*l)->next)
			if ((*start = fit_slack(*l, size)) != 0)
				return l;
	for (struct free_range **l = &region.free; *l != NULL; l = &(*l)->next) {
		uintptr_t at = fit(*l, size, align, top);
		if (at != 0) {
			link = l;
			*start = at;
			if (!top)
				break; /* the lowest fit */
		}
	}
	return link;
}

int arch_map(size_t size, size_t align, void **out)
{
	arch_lock_acquire(&region.lock);
	uintptr_t start = 0;
	struct free_range **link = place(size, align, &start);
	if (link == NULL) {
		arch_lock_release(&region.lock);
		return ARCH_ENOMEM;
	}
	/* Cut [start, start + size) out of r; what is left before and after
	 * it stays free. */
	struct free_range *r = *link, *next = r->next;
	uintptr_t r_end = (uintptr_t)r + r->size, tail = start + size;
	if (tail < r_end) {
		struct free_range *t = (struct free_range *)tail;
		t->size = r_end - tail;
		t->next = next;
		next = t;
	}
	if (start > (uintptr_t)r) {
		r->size = start - (uintptr_t)r;
		r->next = next;
	} else {
		*link = next;
	}
	region.available -= size;
	arch_lock_release(&region.lock);
	/* The region's memory is not zero to begin with, and freed memory
	 * comes back dirty. */
	__builtin_memset((void *)start, 0, size);
	*out = (void *)start;
	return 0;
}

void arch_unmap(void *addr, size_t size)
{
	uintptr_t a = (uintptr_t)addr, a_end = a + size;
	arch_lock_acquire(&region.lock);
	struct free_range **link = &region.free, *prev = NULL;
	while (*link != NULL && (uintptr_t)*link < a) {
		prev = *link;
		link = &(*link)->next;
	}
	struct free_range *next = *link;
	bool bad = a < region.base || a_end > region.end || a_end <= a || a % REGION_PAGE ||
	           size % REGION_PAGE || (prev && (uintptr_t)prev + prev->size > a) ||
	           (next && (uintptr_t)next < a_end);
	if (bad) {
		arch_lock_release(&region.lock);
		report("ingot: region: unmap of a range that is not in use\n");
		arch_abort();
	}
	region.available += size;
	/* Coalesce with the free neighbours. */
	if (next && (uintptr_t)next == a_end) {
		size += next->size;
		next = next->next;
	}
	if (prev && (uintptr_t)prev + prev->size == a) {
		prev->size += size;
		prev->next = next;
	} else {
		struct free_range *r = addr;
		r->size = size;
		r->next = next;
		*link = r;
	}
	arch_lock_release(&region.lock);
}

int arch_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out)
{
	/* Not supported: the region has no second mapping of its pages to move them with. */
	(void)addr;
	(void)old_size;
	(void)new_size;
	(void)align;
	(void)out;
	return ARCH_EINVAL;
}

int arch_map_move_onto(void *addr, size_t size, void *dest)
{
	/* Not supported: the region has no second mapping of its pages to move them with. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_move_out(void *addr, size_t size, void *dest)
{
	/* Not supported: the region has no second mapping of its pages to move them with. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_extend(void *addr, size_t old_size, size_t new_size)
{
	/* Only when the free range right after the mapping is big enough. */
	uintptr_t tail = (uintptr_t)addr + old_size;
	size_t more = new_size - old_size;
	arch_lock_acquire(&region.lock);
	struct free_range **link = &region.free;
	while (*link != NULL && (uintptr_t)*link < tail)
		link = &(*link)->next;
	struct free_range *r = *link;
	if (r == NULL || (uintptr_t)r != tail || r->size < more) {
		arch_lock_release(&region.lock);
		return ARCH_ENOMEM;
	}
	if (r->size > more) {
		struct free_range *rest = (struct free_range *)(tail + more);
		rest->size = r->size - more;
		rest->next = r->next;
		*link = rest;
	} else {
		*link = r->next;
	}
	region.available -= more;
	arch_lock_release(&region.lock);
	__builtin_memset((void *)tail, 0, more);
	return 0;
}

void arch_purge(void *addr, size_t size, bool *zeroed)
{
	/* No one to give pages back to: they keep their contents. */
	(void)addr;
	(void)size;
	*zeroed = false;
}

/* No huge-page advice here. */
int arch_hugepage_advise(void *addr, size_t size, bool on)
{
	(void)addr;
	(void)size;
	(void)on;
	return ARCH_EINVAL;
}

int arch_protect(void *addr, size_t size, bool accessible)
{
	/* No MMU: callers go on without guard pages. */
	(void)addr;
	(void)size;
	(void)accessible;
	return ARCH_EINVAL;
}

/* ---- locks ------------------------------------------------------------ */

void arch_lock_wait(arch_lock_t *lock)
{
#if INGOT_REGION_THREADS
	/* Another thread holds it; it runs again when we yield. No sleeping:
	 * arch_lock_release only wakes when the word says 2, and we never
	 * set 2, so arch_lock_wake is never called. */
	while (!arch_lock_try(lock))
		ingot_region_yield();
#else
	/* One thread of execution: the holder is the code we interrupted and
	 * it cannot run until we return. Waiting would hang for ever. */
	(void)lock;
	report("ingot: re-entered while holding a lock (allocation from an interrupt handler?)\n");
	arch_abort();
#endif
}

void arch_lock_wake(arch_lock_t *lock)
{
	(void)lock;
}

/* ---- threads, process exit -------------------------------------------- */

void arch_thread_exit_register(void *arg)
{
	/* Not called: has_threads is false, so there are no thread caches. */
	(void)arg;
}

void arch_hooks_register(void)
{
	/* No fork; a bare-metal program does not exit. */
}

uintptr_t arch_thread_id(void)
{
	/* One arena (ncpus = 1): every thread maps to it anyway. */
	return 0;
}

/* ---- background threads ------------------------------------------------ */

/* Not supported: ingot starts no thread of its own on bare metal (a program
 * purges with ingot_purge or arena.<i>.purge), and nothing ever waits. */
int arch_thread_start(void (*fn)(void *), void *arg)
{
	(void)fn;
	(void)arg;
	return ARCH_EINVAL;
}

void arch_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	(void)word;
	(void)expected;
	(void)timeout_ns;
}

void arch_wake(uint32_t *word)
{
	(void)word;
}

/* ---- misc ------------------------------------------------------------- */

static uint32_t counter_next(void)
{
	static _Atomic uint32_t counter;
	return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

/* No entropy source is known here: a counter and addresses, mixed. It
 * differs per call, not per boot; a program with a hardware RNG should
 * define ingot_region_random. */
WEAK void ingot_region_random(void *buf, size_t len)
{
	uint64_t state = (uint64_t)counter_next() << 32 ^ (uint64_t)region.base ^
	                 (uint64_t)(uintptr_t)&state << 16;
	mix_fill(buf, len, state);
}

void arch_random(void *buf, size_t len)
{
	ingot_region_random(buf, len);
}

uint64_t arch_now_ns(void)
{
	/* No clock: a counter that only moves forward. Time drives purging,
	 * which does nothing here, so its scale does not matter. */
	return counter_next();
}

void arch_write_err(const char *msg, size_t len)
{
	ingot_region_write(msg, len);
}

_Noreturn void arch_abort(void)
{
	ingot_region_abort();
}

_Noreturn void arch_exit(int status)
{
	(void)status;
	ingot_region_abort();
}

const char *arch_getenv(const char *name)
{
	/* No environment: options come from the ingot_malloc_conf symbol. */
	(void)name;
	return NULL;
}

void arch_set_errno(int err)
{
	ingot_region_set_errno(err);
}

/* ---- files -------------------------------------------------------------- */

uint64_t arch_process_id(void)
{
	return 0;
}

/* No file system on bare metal: the allocation trace is unavailable. */
int arch_file_open(const char *path, int *fd)
{
	(void)path;
	(void)fd;
	return ARCH_EINVAL;
}

int arch_file_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return ARCH_EINVAL;
}

void arch_file_close(int fd)
{
	(void)fd;
}

int arch_file_remove(const char *path)
{
	(void)path;
	return ARCH_EINVAL;
}

/* No memory protection on bare metal: guard pages are never made
 * inaccessible, and nothing faults. */
int arch_fault_handler_install(void (*handler)(uintptr_t address))
{
	(void)handler;
	return ARCH_EINVAL;
}

/* No unwinder and no files on bare metal: heap profiles are unavailable. */
unsigned arch_backtrace(uintptr_t *pcs, unsigned max)
{
	(void)pcs;
	(void)max;
	return 0;
}

int arch_file_write_maps(int fd)
{
	(void)fd;
	return ARCH_EINVAL;
}

/* ---- 64-bit atomics where the core has none ------------------------------ */

/*
 * ARMv7-M (Cortex-M3/M4/M7) has no 64-bit atomic instructions, so GCC turns
 * the core's 64-bit __atomic operations into calls that libatomic would
 * answer; bare-metal toolchains ship no libatomic. These answer them. With
 * one thread of execution plain accesses are enough; with threads they run
 * with interrupts masked (M-profile PRIMASK), which is what an RTOS's own
 * critical sections do.
 */
#ifndef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_8

#if INGOT_REGION_THREADS && defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
static inline uint32_t critical_enter(void)
{
	uint32_t primask;
	__asm__ __volatile__("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
	return primask;
}
static inline void critical_leave(uint32_t primask)
{
	__asm__ __volatile__("msr primask, %0" ::"r"(primask) : "memory");
}
#elif INGOT_REGION_THREADS
#error "INGOT_REGION_THREADS=1 needs 64-bit atomics or an M-profile core"
#else
static inline uint32_t critical_enter(void)
{
	__asm__ __volatile__("" ::: "memory");
	return 0;
}
static inline void critical_leave(uint32_t state)
{
	(void)state;
	__asm__ __volatile__("" ::: "memory");
}
#endif

/* Defined under their library names through asm labels: GCC knows these
 * names as built-ins and would not accept plain definitions. */
uint64_t region_atomic_load_8(const volatile void *p, int order) __asm__("__atomic_load_8");
void region_atomic_store_8(volatile void *p, uint64_t v, int order) __asm__("__atomic_store_8");
uint64_t region_atomic_exchange_8(volatile void *p, uint64_t v, int order)
    __asm__("__atomic_exchange_8");
bool region_atomic_compare_exchange_8(volatile void *p, void *expected, uint64_t desired,
                                      bool weak, int success, int failure)
    __asm__("__atomic_compare_exchange_8");
uint64_t region_atomic_fetch_add_8(volatile void *p, uint64_t v, int order)
    __asm__("__atomic_fetch_add_8");
uint64_t region_atomic_fetch_sub_8(volatile void *p, uint64_t v, int order)
    __asm__("__atomic_fetch_sub_8");
uint64_t region_atomic_fetch_and_8(volatile void *p, uint64_t v, int order)
    __asm__("__atomic_fetch_and_8");
uint64_t region_atomic_fetch_or_8(volatile void *p, uint64_t v, int order)
    __asm__("__atomic_fetch_or_8");

uint64_t region_atomic_load_8(const volatile void *p, int order)
{
	(void)order;
	uint32_t s = critical_enter();
	uint64_t v = *(const volatile uint64_t *)p;
	critical_leave(s);
	return v;
}

void region_atomic_store_8(volatile void *p, uint64_t v, int order)
{
	(void)order;
	uint32_t s = critical_enter();
	*(volatile uint64_t *)p = v;
	critical_leave(s);
}

uint64_t region_atomic_exchange_8(volatile void *p, uint64_t v, int order)
{
	(void)order;
	uint32_t s = critical_enter();
	uint64_t old = *(volatile uint64_t *)p;
	*(volatile uint64_t *)p = v;
	critical_leave(s);
	return old;
}

bool region_atomic_compare_exchange_8(volatile void *p, void *expected, uint64_t desired,
                                      bool weak, int success, int failure)
{
	(void)weak;
	(void)success;
	(void)failure;
	uint32_t s = critical_enter();
	uint64_t cur = *(volatile uint64_t *)p;
	bool ok = cur == *(uint64_t *)expected;
	if (ok)
		*(volatile uint64_t *)p = desired;
	else
		*(uint64_t *)expected = cur;
	critical_leave(s);
	return ok;
}

/* fetch-and-op: returns the old value. */
#define REGION_FETCH_OP(name, op) \
	uint64_t region_atomic_fetch_##name##_8(volatile void *p, uint64_t v, int order) \
	{ \
		(void)order; \
		uint32_t s = critical_enter(); \
		uint64_t old = *(volatile uint64_t *)p; \
		*(volatile uint64_t *)p = old op v; \
		critical_leave(s); \
		return old; \
	}
REGION_FETCH_OP(add, +)
REGION_FETCH_OP(sub, -)
REGION_FETCH_OP(and, &)
REGION_FETCH_OP(or, |)

#endif /* !__GCC_HAVE_SYNC_COMPARE_AND_SWAP_8 */
