/*
 * guard.c — the guarded-allocation pool (see guard.h).
 *
 * Call tree:
 *   tcache_event (class countdown ended) -> guard_swap (tcache.c) -> guard_alloc
 *   tcache_alloc_slow (large) -> guard_big_due -> guard_alloc
 *   arena_free / arena_usable_size (CHUNK_KIND_GUARD) -> guard_free / guard_usable_size
 *   fault handler (init.c) -> guard_pool_fault -> report and abort
 *
 * Cell k covers [pool + k * STRIDE, pool + (k + 1) * STRIDE): its first page
 * is a guard, the others hold one block. The last cell is never used: its
 * guard page and inaccessible data end the pool. Free cells wait in a ring,
 * oldest free first, so a freed block's pages stay inaccessible for as long
 * as possible. Cell records are written under pool_lock; the fault handler
 * reads them without it (it runs in a signal handler and is about to abort).
 */
#include "guard.h"

#include "arch.h"
#include "base.h"
#include "boot.h"
#include "osmem.h"
#include "pagemap.h"
#include "report.h"

#define GUARD_CELLS 256u
#define STRIDE ((uintptr_t)GUARD_CELL_PAGES << LG_PAGE)
#define POOL_SIZE (GUARD_CELLS * STRIDE)
#define STACK_DEPTH 8u

enum cell_state { CELL_UNUSED, CELL_LIVE, CELL_FREED };

struct cell {
	uintptr_t block;
	size_t usable;
	uint8_t state;
	bool zeroed; /* every data page reads as zero (never used, or purged to zero) */
	bool was_zeroed; /* zeroed, when the live block was handed out */
	uintptr_t alloc_tid, free_tid;
	uintptr_t alloc_pcs[STACK_DEPTH], free_pcs[STACK_DEPTH];
	unsigned alloc_depth, free_depth;
};

static arch_lock_t pool_lock = ARCH_LOCK_INIT;
static uintptr_t pool; /* 0: guard_sample is off */
static size_t period;
static struct cell *cells;
/* Free cell indices, oldest free at ring_head; under pool_lock. */
static uint16_t ring[GUARD_CELLS];
static unsigned ring_head, ring_len;
static uint64_t nsampled, nfailed;
static size_t nlive;

/* ---- the choice ---------------------------------------------------------- */

static INGOT_THREAD_LOCAL uint64_t thread_rng;
static INGOT_THREAD_LOCAL uint32_t big_left;

static uint64_t rng_next(void)
{
	if (INGOT_UNLIKELY(thread_rng == 0)) {
		arch_random(&thread_rng, sizeof(thread_rng));
		thread_rng |= 1;
	}
	uint64_t x = thread_rng; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	thread_rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

bool guard_enabled(void) { return pool != 0; }

uint32_t guard_countdown(void)
{
	if (!pool)
		return GUARD_NEVER;
	/* Uniform in [1, 2 period - 1]: mean period, and no program that
	 * allocates in a fixed cycle always sees the same one guarded. */
	uint64_t span = 2 * (uint64_t)period - 1;
	return (uint32_t)MIN(1 + rng_next() % span, (uint64_t)GUARD_NEVER - 1);
}

bool guard_big_due(size_t size)
{
	if (!pool || size > GUARD_MAX_USABLE)
		return false;
	if (big_left == 0)
		big_left = guard_countdown();
	return --big_left == 0;
}

/* ---- the pool ------------------------------------------------------------ */

void guard_boot(size_t every)
{
	/* Guard pages need protection at ingot's page size. */
	if (every == 0 || ingot_arch.page_size > PAGE)
		return;
	void *mem;
	struct chunk *c = base_alloc(HUGE_RECORD_SIZE);
	cells = base_alloc(sizeof(struct cell) * GUARD_CELLS);
	if (!c || !cells || osmem_map(POOL_SIZE, CHUNK, OSMEM_METADATA, &mem) != 0)
		return;
	if (arch_protect(mem, POOL_SIZE, false) != 0) {
		osmem_unmap(mem, POOL_SIZE, OSMEM_METADATA);
		return;
	}
	c->base = (uintptr_t)mem;
	c->size = POOL_SIZE;
	c->kind = CHUNK_KIND_GUARD;
	if (pagemap_register(c) != 0) {
		osmem_unmap(mem, POOL_SIZE, OSMEM_METADATA);
		return;
	}
	for (unsigned k = 0; k + 1 < GUARD_CELLS; k++) {
		cells[k].zeroed = true;
		ring[ring_len++] = (uint16_t)k;
	}
	period = every;
	__atomic_store_n(&pool, (uintptr_t)mem, __ATOMIC_RELEASE);
}

static uintptr_t cell_base(unsigned k) { return pool + k * STRIDE; }

static unsigned cell_of(uintptr_t p) { return (unsigned)((p - pool) / STRIDE); }

static bool in_pool(uintptr_t p) { return pool && p - pool < POOL_SIZE; }

/* Puts cell k at the ring's tail; pool_lock held. ring_len is also read
 * without the lock (guard_alloc's early test), hence the atomic store. */
static void ring_push(unsigned k)
{
	ring[(ring_head + ring_len) % GUARD_CELLS] = (uint16_t)k;
	__atomic_store_n(&ring_len, ring_len + 1, __ATOMIC_RELAXED);
}

/* The data pages a block of the cell uses: [*first, *first + *len). */
static void block_pages(const struct cell *s, uintptr_t *first, size_t *len)
{
	*first = ALIGN_DOWN(s->block, PAGE);
	*len = ALIGN_UP(s->block + s->usable, PAGE) - *first;
}

void *guard_alloc(size_t usable)
{
	usable = ALIGN_UP(usable, 16); /* malloc's alignment at the right edge too */
	if (!pool || usable == 0 || usable > GUARD_MAX_USABLE)
		return NULL;
	/* Every cell in use: say so before paying for a backtrace (racy, so
	 * the test is repeated under the lock). */
	if (__atomic_load_n(&ring_len, __ATOMIC_RELAXED) == 0) {
		__atomic_fetch_add(&nfailed, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	uintptr_t pcs[STACK_DEPTH];
	unsigned depth = arch_backtrace(pcs, STACK_DEPTH);
	arch_lock_acquire(&pool_lock);
	if (ring_len == 0) {
		__atomic_fetch_add(&nfailed, 1, __ATOMIC_RELAXED);
		arch_lock_release(&pool_lock);
		return NULL;
	}
	unsigned k = ring[ring_head];
	ring_head = (ring_head + 1) % GUARD_CELLS;
	__atomic_store_n(&ring_len, ring_len - 1, __ATOMIC_RELAXED);
	struct cell *s = &cells[k];
	uintptr_t data = cell_base(k) + PAGE, end = cell_base(k + 1);
	/* Against the guard on the left (catches underflows) or the right
	 * (catches overflows), at random. */
	s->block = rng_next() & 1 ? data : end - usable;
	s->usable = usable;
	uintptr_t first;
	size_t len;
	block_pages(s, &first, &len);
	bool ok = arch_protect((void *)first, len, true) == 0;
	s->was_zeroed = s->zeroed;
	if (ok && !s->zeroed) /* the block reads as zero; the rest of its pages is no one's */
		ingot_memset((void *)s->block, 0, usable);
	if (!ok) { /* the OS refused: the cell goes back, nothing guarded */
		ring_push(k);
		__atomic_fetch_add(&nfailed, 1, __ATOMIC_RELAXED);
		arch_lock_release(&pool_lock);
		return NULL;
	}
	s->state = CELL_LIVE;
	s->alloc_tid = arch_thread_id();
	s->alloc_depth = depth;
	ingot_memcpy(s->alloc_pcs, pcs, sizeof(pcs));
	s->free_depth = 0;
	nsampled++;
	nlive++;
	arch_lock_release(&pool_lock);
	return (void *)s->block;
}

size_t guard_free(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	uintptr_t pcs[STACK_DEPTH];
	unsigned depth = arch_backtrace(pcs, STACK_DEPTH);
	arch_lock_acquire(&pool_lock);
	struct cell *s = &cells[cell_of(p)];
	if (s->block != p || s->state == CELL_UNUSED) {
		arch_lock_release(&pool_lock);
		ingot_report_invalid_ptr("free", ptr);
	}
	if (s->state == CELL_FREED) {
		arch_lock_release(&pool_lock);
		ingot_report_double_free(ptr);
	}
	uintptr_t first;
	size_t len;
	block_pages(s, &first, &len);
	/* A one-page block keeps its page (the cell's next block is zeroed
	 * where it lies): purging it cost a system call, and a page fault at
	 * the cell's next use, about as much as the two protection changes
	 * together. At most GUARD_CELLS pages stay so. A purge leaves the
	 * cell zeroed only if no such page was left in it before. */
	bool zeroed = false;
	if (len > PAGE)
		arch_purge((void *)first, len, &zeroed);
	arch_protect((void *)first, len, false);
	s->zeroed = zeroed && s->was_zeroed;
	s->state = CELL_FREED;
	s->free_tid = arch_thread_id();
	s->free_depth = depth;
	ingot_memcpy(s->free_pcs, pcs, sizeof(pcs));
	ring_push(cell_of(p));
	nlive--;
	size_t usable = s->usable;
	arch_lock_release(&pool_lock);
	return usable;
}

size_t guard_usable_size(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	if (!in_pool(p))
		return 0;
	arch_lock_acquire(&pool_lock);
	const struct cell *s = &cells[cell_of(p)];
	size_t usable = s->state == CELL_LIVE && s->block == p ? s->usable : 0;
	arch_lock_release(&pool_lock);
	return usable;
}

/* ---- reports ------------------------------------------------------------- */

static void line_stack(struct line *l, const char *what, uintptr_t tid, const uintptr_t *pcs,
                       unsigned depth)
{
	line_str(l, what);
	line_str(l, " by thread ");
	line_u64(l, tid);
	line_str(l, " at");
	for (unsigned i = 0; i < depth; i++) {
		line_char(l, ' ');
		line_hex(l, pcs[i]);
	}
}

/* The block an access at address in cell k concerns, and how. */
static const char *fault_kind(uintptr_t address, unsigned *k)
{
	const struct cell *s = &cells[*k];
	uintptr_t guard = cell_base(*k);
	if (address - guard < PAGE) {
		/* The cell's guard page lies between the block on its left (when
		 * it ends there) and the cell's own (when it starts right after):
		 * the nearer edge says which was run past. */
		const struct cell *left = *k ? &cells[*k - 1] : NULL;
		bool left_touches = left && left->state != CELL_UNUSED && left->block + left->usable == guard;
		bool own_touches = s->state != CELL_UNUSED && s->block == guard + PAGE;
		if (left_touches && (!own_touches || address - guard < PAGE / 2)) {
			(*k)--;
			return left->state == CELL_FREED ? "use after free" : "heap overflow";
		}
		return s->state == CELL_FREED ? "use after free" : "heap underflow";
	}
	if (s->state == CELL_FREED)
		return "use after free";
	return address < s->block ? "heap underflow" : "heap overflow";
}

void guard_pool_fault(uintptr_t address)
{
	if (!in_pool(address))
		return;
	unsigned k = cell_of(address);
	const char *kind = fault_kind(address, &k);
	const struct cell *s = &cells[k];
	char buf[512];
	struct line l = {buf, sizeof(buf), 0};
	line_str(&l, "ingot: ");
	line_str(&l, kind);
	line_str(&l, " at ");
	line_hex(&l, address);
	if (s->state != CELL_UNUSED) {
		if (address >= s->block + s->usable) {
			line_str(&l, ", ");
			line_u64(&l, address - (s->block + s->usable));
			line_str(&l, " bytes past the end of");
		} else if (address < s->block) {
			line_str(&l, ", ");
			line_u64(&l, s->block - address);
			line_str(&l, " bytes before");
		} else {
			line_str(&l, ", inside");
		}
		line_str(&l, " block ");
		line_hex(&l, s->block);
		line_str(&l, " of ");
		line_u64(&l, s->usable);
		line_str(&l, " bytes (guard_sample); ");
		line_stack(&l, "allocated", s->alloc_tid, s->alloc_pcs, s->alloc_depth);
		if (s->state == CELL_FREED) {
			line_str(&l, "; ");
			line_stack(&l, "freed", s->free_tid, s->free_pcs, s->free_depth);
		}
	}
	line_char(&l, '\n');
	arch_write_err(buf, l.len);
	arch_abort();
}

/* ---- stats, check, fork ---------------------------------------------------- */

void guard_stats_get(struct guard_stats *out)
{
	arch_lock_acquire(&pool_lock);
	out->nsampled = nsampled;
	out->nfailed = __atomic_load_n(&nfailed, __ATOMIC_RELAXED);
	out->live = nlive;
	out->ncells = pool ? GUARD_CELLS - 1 : 0;
	arch_lock_release(&pool_lock);
}

const char *guard_check(void)
{
	if (!pool)
		return NULL;
	const char *err = NULL;
	arch_lock_acquire(&pool_lock);
	size_t live = 0;
	for (unsigned k = 0; k + 1 < GUARD_CELLS; k++) {
		const struct cell *s = &cells[k];
		live += s->state == CELL_LIVE;
		if (s->state != CELL_UNUSED &&
		    (s->block < cell_base(k) + PAGE || s->block + s->usable > cell_base(k + 1)))
			err = "guarded block outside its cell";
	}
	if (live != nlive || live + ring_len != GUARD_CELLS - 1)
		err = "guard pool's live count and free ring disagree";
	for (unsigned i = 0; i < ring_len && !err; i++)
		if (cells[ring[(ring_head + i) % GUARD_CELLS]].state == CELL_LIVE)
			err = "a live guarded block's cell is in the free ring";
	arch_lock_release(&pool_lock);
	return err;
}

void guard_fork_prepare(void) { arch_lock_acquire(&pool_lock); }
void guard_fork_parent(void) { arch_lock_release(&pool_lock); }
void guard_fork_child(void) { arch_lock_reset(&pool_lock); }
