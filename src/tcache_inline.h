/*
 * tcache_inline.h — the allocation fast paths.
 *
 * malloc: one TLS load, a table lookup, a pop. free: the page-map lookup
 * (two radix loads and the page's class byte), a push. Everything else —
 * no cache yet, an empty or full stack, a large block, a foreign pointer —
 * is one unlikely branch to a slow path in tcache.c.
 */
#ifndef INGOT_TCACHE_INLINE_H
#define INGOT_TCACHE_INLINE_H

#include "pagemap.h"
#include "sizeclass.h"
#include "tcache.h"

#define TCACHE_STAT(stmt) \
	do { \
		if (INGOT_STATS) { \
			stmt; \
		} \
	} while (0)

/* The address of the calling thread's bin of class cls. The empty asm pins
 * it in a register: without it the compiler re-derives the TLS address
 * (another %fs load and add) after every store through it. */
INGOT_FAST struct tcache_bin *tcache_bin_of(unsigned cls)
{
	struct tcache_bin *bin = &tcache_tls.cache.bins[cls];
	__asm__("" : "+r"(bin));
	return bin;
}

INGOT_FAST void *tcache_malloc(size_t size)
{
	if (INGOT_LIKELY(size <= SC_SMALL_MAX)) {
		struct tcache_bin *bin = tcache_bin_of(sizeclass_small(size));
		unsigned n = bin->ncached;
		if (INGOT_LIKELY(n != 0)) {
			void *p = bin->stack[--n];
			bin->ncached = (uint16_t)n;
			bin->nalloc++;
			if (INGOT_UNLIKELY(--tcache_tls.cache.events_left == 0))
				return tcache_event(p);
			return p;
		}
	}
	return tcache_alloc_slow(size);
}

/* Frees small object p of class cls (from the page map or a checked size). */
INGOT_FAST void tcache_free_small(void *p, unsigned cls)
{
	struct tcache_bin *bin = tcache_bin_of(cls);
	unsigned n = bin->ncached;
	/* stack[-1] is a NULL sentinel, so the top check needs no branch on n:
	 * it catches the commonest double free, free(p); free(p). */
	void **stack = bin->stack;
	if (INGOT_LIKELY(n < bin->ncap && stack[(int)n - 1] != p)) {
		stack[n] = p;
		bin->ncached = (uint16_t)(n + 1);
		TCACHE_STAT(bin->ndalloc++);
		return;
	}
	tcache_free_slow(p, cls);
}

INGOT_FAST void tcache_free(void *p)
{
	unsigned cls = pagemap_chunk((uintptr_t)p)->class_of[chunk_page_index((uintptr_t)p)];
	if (INGOT_LIKELY(cls != 0))
		tcache_free_small(p, cls);
	else
		tcache_free_slow(p, 0);
}

#endif
