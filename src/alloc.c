/*
 * alloc.c — the standard C allocation functions.
 *
 * Call tree:
 *   ingot_malloc        -> tcache_malloc (inline fast path) -> tcache_alloc_slow
 *   ingot_free          -> tcache_free (inline fast path)   -> tcache_free_slow
 *   ingot_calloc        -> tcache_malloc + memset | alloc_big (pages known zero)
 *   ingot_realloc       -> realloc_small (small to small: p, same class | copy)
 *                          | alloc_realloc: same class: p | arena_resize_in_place
 *                          | arena_move_huge (huge growth: pages moved) | move
 *   aligned functions   -> alloc_aligned -> aligned class | alloc_big
 *   sized frees         -> tcache_free_sized (bin from the size, class confirmed
 *                          by the page map) | alloc_free_checked_size
 *
 * Behaviour where C and POSIX leave a choice (glibc's, as jemalloc's):
 *  - malloc(0) returns a unique 16-byte block;
 *  - realloc(p, 0) frees p and returns NULL (opt zero_realloc changes it);
 *  - aligned_alloc with a non-power-of-two alignment fails with EINVAL;
 *  - memalign rounds a non-power-of-two alignment up to a power of two.
 */
#include "alloc.h"

#include "arch.h"
#include "boot.h"
#include "conf.h"
#include "exports.h"
#include "hardening.h"
#include "hooks.h"
#include "prof.h"
#include "report.h"
#include "stats.h"
#include "tcache_inline.h"

/* ---- helpers shared with the jemalloc front end -------------------------- */

size_t alloc_usable_for(size_t size, size_t align)
{
	/* Small objects of hardened heaps end in a canary the program may
	 * not use: the class must hold it too. Whether they do is known once
	 * ingot has started (an aligned_alloc or nallocx may be the first
	 * call). */
	ingot_ensure_booted();
	size_t canary = harden_canary_size();
	size_t need = (size ? size : 1) + canary;
	if (align <= PAGE && ALIGN_UP(need, align) <= SC_SMALL_MAX) {
		/* Objects start at multiples of their class size from a page
		 * boundary: a class that is a multiple of align aligns them. */
		unsigned cls = sizeclass_small(need);
		while (sc_size[cls] % align)
			cls++;
		return sc_size[cls] - canary;
	}
	/* Page runs: the alignment comes from where the run starts. */
	if (align > PAGE)
		return ALIGN_UP(size ? size : 1, PAGE);
	return arena_large_usable(MAX(size, SC_SMALL_MAX + 1));
}

void *alloc_big(size_t usable, size_t align, bool zero)
{
	ingot_ensure_booted();
	struct arena *a = tcache_thread_arena();
	void *p = arena_alloc_big(a, usable, align, zero);
	if (p) {
		tcache_account(usable, 0);
		prof_count_big(p, usable);
	}
	return p;
}

void *alloc_aligned(size_t align, size_t size, bool zero)
{
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST || align > INGOT_MAX_REQUEST / 2)) {
		ingot_alloc_failed("malloc", size);
		return NULL;
	}
	size_t usable = alloc_usable_for(size, align);
	void *p;
	if (usable <= SC_SMALL_MAX && align <= PAGE) {
		HOOKS_MUTED(p = tcache_malloc(usable)); /* reported below, with size */
		if (p && zero)
			ingot_memset(p, 0, usable);
	} else {
		p = alloc_big(usable, MAX(align, PAGE), zero);
	}
	if (!p)
		ingot_alloc_failed("malloc", size);
	hooks_alloc(p, size, usable);
	return p;
}

/* Usable size of live block p, after checking that ingot handed it out. */
size_t alloc_usable_checked(const void *p, const char *func)
{
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	if (INGOT_UNLIKELY(!c))
		ingot_report_foreign_ptr(func, p);
	size_t usable = arena_usable_size(c, p);
	if (INGOT_UNLIKELY(usable == 0))
		ingot_report_invalid_ptr(func, p);
	return usable;
}

/* Out of line, whole: else GCC inlines its first call into free_sized,
 * whose fast path then saves registers it does not need (8 instructions
 * a sized free in the default profile). */
__attribute__((noinline)) void alloc_free_checked_size(void *p, size_t size, size_t align,
                                                       const char *func)
{
	if (tcache_hardened_free_sized(p, size, align))
		return;
	if (!p)
		return;
	/* One page-map lookup serves the check and the free. */
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	if (INGOT_UNLIKELY(!c))
		ingot_report_foreign_ptr(func, p);
	unsigned cls = c->class_of[chunk_page_index((uintptr_t)p)];
	size_t usable = arena_usable_size(c, p);
	if (INGOT_UNLIKELY(usable == 0))
		ingot_report_invalid_ptr(func, p);
	if (INGOT_UNLIKELY(alloc_usable_for(size, align) != usable))
		ingot_report_size_mismatch(p, size, usable);
	prof_forget(p);
	if (cls)
		tcache_free_small(p, cls);
	else
		tcache_free_slow(p);
}

/* Moves or resizes p to size bytes; old is its usable size. */
static void *realloc_move(void *p, size_t old, size_t size, size_t align, bool zero)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p);
	size_t want = alloc_usable_for(size, align);
	if (want == old && ((uintptr_t)p & (align - 1)) == 0)
		return p;
	if (old > SC_SMALL_MAX && want > SC_SMALL_MAX && align <= PAGE) {
		prof_forget(p); /* a sampled block's record would keep its old size */
		if (arena_resize_in_place(c, p, size, zero) != 0)
			return p;
		/* A huge block grows by moving its pages, not copying them. */
		void *moved;
		if (c->kind == CHUNK_KIND_HUGE && want > ARENA_LARGE_MAX && want > old && align <= CHUNK &&
		    (moved = arena_move_huge(c, size, zero)) != NULL)
			return moved;
	}
	void *q = align <= SC_QUANTUM && !zero ? tcache_malloc(size) : alloc_aligned(align, size, zero);
	if (!q)
		return NULL;
	ingot_memcpy(q, p, MIN(old, size));
	if (zero && want > old)
		ingot_memset((char *)q + old, 0, alloc_usable_for(size, align) - old);
	tcache_free(p);
	return q;
}

void *alloc_realloc(void *p, size_t old, size_t size, size_t align, bool zero)
{
	void *q;
	HOOKS_MUTED(q = realloc_move(p, old, size, align, zero));
	hooks_resize(p, q, size, alloc_usable_for(size, align));
	return q;
}

/* ---- the standard functions ------------------------------------------------ */

INGOT_EXPORT void *ingot_malloc(size_t size)
{
	return tcache_malloc(size);
}

INGOT_EXPORT void ingot_free(void *ptr)
{
	tcache_free(ptr);
}

INGOT_EXPORT void *ingot_calloc(size_t count, size_t size)
{
	size_t total;
	if (INGOT_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
		ingot_alloc_failed("calloc", SIZE_MAX);
		return NULL;
	}
	if (total <= SC_SMALL_MAX) {
		void *p = tcache_malloc(total);
		if (p)
			ingot_memset(p, 0, total);
		return p;
	}
	return alloc_aligned(SC_QUANTUM, total, true);
}

/* Small block p of class cls moved to a small block of size bytes of
 * another class, or NULL: the general path then does it (hardened heaps,
 * hooks, an empty cache that fails). */
static void *realloc_small_move(void *p, unsigned cls, size_t size)
{
	if (INGOT_UNLIKELY(ingot_hardening || hooks_active()))
		return NULL;
	void *q = tcache_malloc(size);
	if (INGOT_LIKELY(q != NULL)) {
		ingot_memcpy(q, p, MIN(sc_size[cls], size));
		tcache_free(p); /* not with cls: a sampled block's page reads 0 there, to be forgotten */
	}
	return q;
}

/* realloc of small block p to a small size, after the checks the full
 * path makes (an interior pointer goes on to it and is reported there):
 * p when its class still holds the size, the common case of a string
 * grown a few bytes at a time; else, in a default heap without hooks, a
 * block of the size's class that p is copied into and freed for. NULL for
 * anything else. In a heap with canaries the class holds the canary too,
 * past the usable size, where it stays. About 30 instructions where the
 * full path took 250 (hardened realloc-str: 88.0 M -> 57.9 M instructions
 * under callgrind at 200,000 reallocs); a move about 300 -> 120 as well
 * (sqlite's string builders, issue 16). */
static void *realloc_small(void *p, size_t size)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p); /* a foreign p: class 0 */
	unsigned cls = c->class_of[chunk_page_index((uintptr_t)p)];
	size_t need = size;
	if (INGOT_UNLIKELY(ingot_hardening)) {
		need += harden_canary_size();
		if (need > SC_SMALL_MAX)
			return NULL;
	}
	unsigned slot;
	if (cls == 0 || !slab_slot_of(span_of_addr(c, (uintptr_t)p), cls, p, &slot))
		return NULL;
	if (sizeclass_small(need) != cls)
		return realloc_small_move(p, cls, size);
	if (INGOT_UNLIKELY(hooks_active())) /* spares the call when no hook is on */
		hooks_resize(p, p, size, sc_size[cls]);
	return p;
}

INGOT_EXPORT void *ingot_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return ingot_malloc(size);
	if (INGOT_LIKELY(size - 1 < SC_SMALL_MAX)) { /* size 0 frees, below */
		void *q = realloc_small(ptr, size);
		if (q)
			return q;
	}
	if (size == 0) {
		ingot_ensure_booted();
		stats_count_zero_realloc();
		if (opt.zero_realloc[0] == 'a' && opt.zero_realloc[1] == 'b') { /* abort */
			ingot_warn("realloc(p, 0) with zero_realloc:abort");
			arch_abort();
		}
		if (opt.zero_realloc[0] != 'a') { /* free (the default) */
			ingot_free(ptr);
			return NULL;
		}
	}
	size_t old = alloc_usable_checked(ptr, "realloc");
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST)) {
		ingot_alloc_failed("realloc", size);
		return NULL;
	}
	return alloc_realloc(ptr, old, size, SC_QUANTUM, false);
}

INGOT_EXPORT void *ingot_reallocarray(void *ptr, size_t count, size_t size)
{
	size_t total;
	if (INGOT_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
		ingot_alloc_failed("reallocarray", SIZE_MAX);
		return NULL;
	}
	return ingot_realloc(ptr, total);
}

INGOT_EXPORT void *ingot_aligned_alloc(size_t alignment, size_t size)
{
	if (INGOT_UNLIKELY(!IS_POW2(alignment))) {
		arch_set_errno(ARCH_EINVAL);
		return NULL;
	}
	return alloc_aligned(alignment, size, false);
}

INGOT_EXPORT int ingot_posix_memalign(void **out, size_t alignment, size_t size)
{
	if (INGOT_UNLIKELY(!IS_POW2(alignment) || alignment < sizeof(void *)))
		return ARCH_EINVAL;
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST || alignment > INGOT_MAX_REQUEST / 2))
		return ARCH_ENOMEM;
	void *p = alloc_aligned(alignment, size, false);
	if (!p)
		return ARCH_ENOMEM;
	*out = p;
	return 0;
}

INGOT_EXPORT void *ingot_memalign(size_t alignment, size_t size)
{
	if (alignment > INGOT_MAX_REQUEST / 2) {
		arch_set_errno(ARCH_EINVAL);
		return NULL;
	}
	size_t align = alignment <= 1 ? 1 : (size_t)1 << lg_ceil(alignment);
	return alloc_aligned(align, size, false);
}

static size_t os_page(void)
{
	ingot_ensure_booted();
	return MAX(ingot_arch.page_size, PAGE);
}

INGOT_EXPORT void *ingot_valloc(size_t size)
{
	return alloc_aligned(os_page(), size, false);
}

INGOT_EXPORT void *ingot_pvalloc(size_t size)
{
	size_t page = os_page();
	if (size > INGOT_MAX_REQUEST) {
		ingot_alloc_failed("pvalloc", size);
		return NULL;
	}
	return alloc_aligned(page, size ? ALIGN_UP(size, page) : page, false);
}

INGOT_EXPORT size_t ingot_malloc_usable_size(void *ptr)
{
	/* Checked in full, small blocks too (an interior pointer is reported):
	 * a page-map lookup, the span and one multiplication more than the
	 * class byte alone. */
	return ptr ? alloc_usable_checked(ptr, "malloc_usable_size") : 0;
}

INGOT_EXPORT void ingot_free_sized(void *ptr, size_t size)
{
	if (!tcache_free_sized(ptr, size))
		alloc_free_checked_size(ptr, size, SC_QUANTUM, "free_sized");
}

INGOT_EXPORT void ingot_free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
	bool small_power_of_two = alignment <= SC_QUANTUM && (alignment & (alignment - 1)) == 0;
	if (!small_power_of_two || !tcache_free_sized(ptr, size))
		alloc_free_checked_size(ptr, size, alignment, "free_aligned_sized");
}

INGOT_STD_NAMES(INGOT_ALIAS)
