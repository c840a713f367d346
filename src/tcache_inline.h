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

INGOT_FAST void *tcache_malloc(size_t size)
{
	struct tcache *tc = tcache_tls.cache;
	if (INGOT_LIKELY(size <= SC_SMALL_MAX && tc != NULL)) {
		unsigned cls = sizeclass_small(size);
		struct tcache_bin *bin = &tc->bins[cls];
		unsigned n = bin->ncached;
		if (INGOT_LIKELY(n != 0)) {
			n--;
			bin->ncached = (uint16_t)n;
			if (n < bin->low_water)
				bin->low_water = (uint16_t)n;
			TCACHE_STAT(tc->allocated += sc_size[cls]);
			return bin->stack[n];
		}
	}
	return tcache_alloc_slow(size);
}

/* Frees small object p of class cls (from the page map or a trusted size). */
INGOT_FAST void tcache_free_small(void *p, unsigned cls)
{
	struct tcache *tc = tcache_tls.cache;
	if (INGOT_LIKELY(tc != NULL)) {
		struct tcache_bin *bin = &tc->bins[cls];
		unsigned n = bin->ncached;
		/* stack[-1] is a NULL sentinel, so the top check needs no branch
		 * on n: it catches the commonest double free, free(p); free(p). */
		if (INGOT_LIKELY(n < bin->ncap && bin->stack[(int)n - 1] != p)) {
			bin->stack[n] = p;
			bin->ncached = (uint16_t)(n + 1);
			TCACHE_STAT(tc->deallocated += sc_size[cls]);
			return;
		}
	}
	tcache_free_slow(p, cls);
}

INGOT_FAST void tcache_free(void *p)
{
	struct chunk *c = pagemap_chunk((uintptr_t)p);
	unsigned cls = c ? c->class_of[chunk_page_index((uintptr_t)p)] : 0;
	if (INGOT_LIKELY(cls != 0))
		tcache_free_small(p, cls);
	else
		tcache_free_slow(p, 0);
}

#endif
