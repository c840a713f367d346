/*
 * jemalloc_api.c — jemalloc's extended allocation functions (mallocx and
 * friends), with jemalloc's MALLOCX_* flag encoding:
 *   bits 0-5   lg of the alignment (0: no alignment asked)
 *   bit 6      zero the block
 *   bits 8-19  thread cache: 0 automatic, 1 none, n+2 explicit cache n
 *   bits 20-31 arena: 0 automatic, n+1 arena n
 *
 * Call tree:
 *   mallocx  -> tcache_malloc (no flags) | xalloc -> tcache_alloc_from |
 *               arena_alloc_small | alloc_big
 *   rallocx  -> alloc_realloc (automatic arena and cache) | xalloc + copy
 *   xallocx  -> arena_resize_in_place
 *   dallocx, sdallocx -> xfree (sdallocx checks the size first)
 */
#include "alloc.h"
#include "arch.h"
#include "boot.h"
#include "exports.h"
#include "hardening.h"
#include "hooks.h"
#include "report.h"
#include "prof.h"
#include "tcache_inline.h"

#define FLAG_ZERO 0x40
#define TCACHE_AUTO 0u
#define TCACHE_NONE 1u

INGOT_INLINE size_t flag_align(int flags)
{
	unsigned lg = (unsigned)flags & 0x3f;
	return lg ? (size_t)1 << lg : 1;
}
INGOT_INLINE bool flag_zero(int flags) { return (flags & FLAG_ZERO) != 0; }
INGOT_INLINE unsigned flag_tcache(int flags) { return ((unsigned)flags >> 8) & 0xfff; }
INGOT_INLINE unsigned flag_arena(int flags) { return (unsigned)flags >> 20; }

/* The cache a flag word selects: NULL for none (or an unknown explicit
 * index, which then bypasses caching rather than crash). */
static struct tcache *flags_tcache(int flags)
{
	/* Hardened heaps check, and hooks report, every object on its way in
	 * and out, which the cache paths below do not: they go to the arena. */
	if (tcache_checked_mode())
		return NULL;
	unsigned t = flag_tcache(flags);
	if (t == TCACHE_AUTO)
		return tcache_thread();
	if (t == TCACHE_NONE)
		return NULL;
	return tcache_explicit_get(t - 2);
}

/* The arena a flag word selects, or NULL when the index names none. */
static struct arena *flags_arena(int flags, struct tcache *tc)
{
	unsigned a = flag_arena(flags);
	if (a != 0)
		return arena_get(a - 1);
	return tc ? tc->arena : tcache_thread_arena();
}

static void *xalloc_unreported(size_t size, int flags)
{
	ingot_ensure_booted();
	size_t align = flag_align(flags);
	bool zero = flag_zero(flags);
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST || align > INGOT_MAX_REQUEST / 2))
		return NULL;
	struct tcache *tc = flags_tcache(flags);
	struct arena *arena = flags_arena(flags, tc);
	if (INGOT_UNLIKELY(!arena))
		return NULL;
	size_t usable = alloc_usable_for(size, align);
	if (usable > SC_SMALL_MAX || align > PAGE) {
		if (flag_arena(flags) == 0)
			return alloc_big(usable, MAX(align, PAGE), zero);
		void *p = arena_alloc_big(arena, usable, MAX(align, PAGE), zero);
		prof_count_big(p, usable);
		return p;
	}
	unsigned cls = sizeclass_small(usable + harden_canary_size());
	/* A cache may hold objects of any arena (frees land in the freeing
	 * thread's cache): with MALLOCX_ARENA the bin of that arena serves the
	 * object, so the block always comes from the arena asked for. */
	if (flag_arena(flags) != 0)
		tc = NULL;
	void *p = tc ? tcache_alloc_from(tc, arena, cls) : tcache_unmark(arena_alloc_small(arena, cls, false));
	prof_count_big(p, usable);
	if (p && zero)
		ingot_memset(p, 0, usable);
	return p;
}

static void *xalloc(size_t size, int flags)
{
	void *p = xalloc_unreported(size, flags);
	hooks_alloc(p, size, alloc_usable_for(size, flag_align(flags)));
	return p;
}

static void xfree(void *p, int flags)
{
	unsigned t = flag_tcache(flags);
	if (t == TCACHE_AUTO) {
		tcache_free(p);
		return;
	}
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	if (INGOT_UNLIKELY(!c))
		ingot_report_foreign_ptr("dallocx", p);
	prof_forget(p);
	unsigned cls = c->class_of[chunk_page_index((uintptr_t)p)];
	hooks_free(p, arena_usable_size(c, p));
	struct tcache *tc = flags_tcache(flags);
	if (cls && tc)
		tcache_free_to(tc, p, cls);
	else
		arena_free(c, p);
}

INGOT_EXPORT void *ingot_mallocx(size_t size, int flags)
{
	if (INGOT_LIKELY(flags == 0))
		return tcache_malloc(size);
	return xalloc(size, flags);
}

INGOT_EXPORT void *ingot_rallocx(void *ptr, size_t size, int flags)
{
	size_t old = alloc_usable_checked(ptr, "rallocx");
	if (INGOT_UNLIKELY(size > INGOT_MAX_REQUEST))
		return NULL;
	if ((flags & ~(0x3f | FLAG_ZERO)) == 0)
		return alloc_realloc(ptr, old, size, flag_align(flags), flag_zero(flags));
	/* An explicit arena or cache: the block moves there. */
	void *q;
	HOOKS_MUTED(q = xalloc(size, flags));
	if (!q)
		return NULL;
	ingot_memcpy(q, ptr, MIN(old, size));
	HOOKS_MUTED(xfree(ptr, flags));
	hooks_resize(ptr, q, size, alloc_usable_for(size, flag_align(flags)));
	return q;
}

INGOT_EXPORT size_t ingot_xallocx(void *ptr, size_t size, size_t extra, int flags)
{
	size_t old = alloc_usable_checked(ptr, "xallocx");
	size_t align = flag_align(flags);
	if (old <= SC_SMALL_MAX || ((uintptr_t)ptr & (align - 1)) || size > INGOT_MAX_REQUEST)
		return old;
	struct chunk *c = pagemap_chunk((uintptr_t)ptr);
	size_t most = extra > INGOT_MAX_REQUEST - size ? INGOT_MAX_REQUEST : size + extra;
	/* The largest size in [size, size + extra] that fits where it is. */
	prof_forget(ptr); /* a sampled block's record would keep its old size */
	size_t got = arena_resize_in_place(c, ptr, most, flag_zero(flags));
	if (!got && most != size)
		got = arena_resize_in_place(c, ptr, size, flag_zero(flags));
	if (got)
		hooks_resize(ptr, ptr, size, got);
	return got ? got : old;
}

INGOT_EXPORT size_t ingot_sallocx(const void *ptr, int flags)
{
	(void)flags;
	return alloc_usable_checked(ptr, "sallocx");
}

INGOT_EXPORT void ingot_dallocx(void *ptr, int flags)
{
	xfree(ptr, flags);
}

INGOT_EXPORT void ingot_sdallocx(void *ptr, size_t size, int flags)
{
	/* No flags but an alignment of at most SC_QUANTUM: the fast path. */
	if (INGOT_LIKELY((unsigned)flags <= 4 && tcache_free_sized(ptr, size)))
		return;
	if (INGOT_LIKELY(flag_tcache(flags) == TCACHE_AUTO)) {
		alloc_free_checked_size(ptr, size, flag_align(flags), "sdallocx");
		return;
	}
	size_t usable = alloc_usable_checked(ptr, "sdallocx");
	if (INGOT_UNLIKELY(alloc_usable_for(size, flag_align(flags)) != usable))
		ingot_report_size_mismatch(ptr, size, usable);
	xfree(ptr, flags);
}

INGOT_EXPORT size_t ingot_nallocx(size_t size, int flags)
{
	ingot_ensure_booted(); /* sizes depend on the profile chosen at start */
	size_t align = flag_align(flags);
	if (size > INGOT_MAX_REQUEST || align > INGOT_MAX_REQUEST / 2)
		return 0;
	return alloc_usable_for(size, align);
}

INGOT_XAPI_NAMES(INGOT_ALIAS)
