/*
 * stats.c — summing and printing the counters.
 */
#include "stats.h"

#include "arch.h"
#include "arena.h"
#include "base.h"
#include "report.h"
#include "tcache.h"

static void add_arena(struct arena *a, struct arena_stats *s)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct bin *bin = &a->bins[cls];
		arch_lock_acquire(&bin->lock);
		s->allocated_small += bin->nregs_live * sc_size[cls];
		s->nmalloc_small += bin->nmalloc;
		s->ndalloc_small += bin->ndalloc;
		arch_lock_release(&bin->lock);
	}
	struct pageheap *h = &a->heap;
	arch_lock_acquire(&h->lock);
	size_t huge_allocated = __atomic_load_n(&a->huge_allocated, __ATOMIC_RELAXED);
	size_t huge_mapped = __atomic_load_n(&a->huge_mapped, __ATOMIC_RELAXED);
	s->active += (h->npages_active << LG_PAGE) + huge_allocated;
	s->dirty += h->npages_dirty << LG_PAGE;
	s->mapped += (h->npages_mapped << LG_PAGE) + huge_mapped;
	s->retained += (h->npages_mapped - h->npages_active - h->npages_dirty) << LG_PAGE;
	s->npurge += h->npurge_calls;
	s->npurged += h->npurged;
	arch_lock_release(&h->lock);
	s->allocated_large += __atomic_load_n(&a->large_allocated, __ATOMIC_RELAXED) + huge_allocated;
	s->nmalloc_large += __atomic_load_n(&a->large_nmalloc, __ATOMIC_RELAXED);
	s->ndalloc_large += __atomic_load_n(&a->large_ndalloc, __ATOMIC_RELAXED);
	s->nthreads += __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED);
}

void stats_arena(unsigned index, struct arena_stats *out)
{
	ingot_memset(out, 0, sizeof(*out));
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (index == STATS_ALL || index == i)
			add_arena(arenas[i], out);
}

void stats_global(struct ingot_stats *out)
{
	struct arena_stats s;
	stats_arena(STATS_ALL, &s);
	size_t cached = tcache_cached_bytes();
	size_t allocated = s.allocated_small + s.allocated_large;
	out->allocated = allocated > cached ? allocated - cached : 0;
	out->active = s.active;
	out->metadata = base_mapped();
	out->resident = s.active + s.dirty + out->metadata;
	out->mapped = s.mapped + out->metadata;
	out->retained = s.retained;
}

/* ---- printing -------------------------------------------------------------- */

struct printer {
	void (*write_cb)(void *, const char *);
	void *cbopaque;
};

static void emit(struct printer *p, struct line *l)
{
	if (p->write_cb)
		p->write_cb(p->cbopaque, l->buf);
	else
		arch_write_err(l->buf, l->len);
	l->len = 0;
	l->buf[0] = '\0';
}

static void field(struct printer *p, bool json, const char *name, uint64_t v, bool last)
{
	char buf[128];
	struct line l = {buf, sizeof(buf), 0};
	if (json) {
		line_str(&l, "\t\t\"");
		line_str(&l, name);
		line_str(&l, "\": ");
		line_u64(&l, v);
		line_str(&l, last ? "\n" : ",\n");
	} else {
		line_str(&l, name);
		line_str(&l, ": ");
		line_u64(&l, v);
		line_char(&l, '\n');
	}
	emit(p, &l);
}

static void text(struct printer *p, const char *s)
{
	char buf[128];
	struct line l = {buf, sizeof(buf), 0};
	line_str(&l, s);
	emit(p, &l);
}

void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts)
{
	struct printer p = {write_cb, cbopaque};
	bool json = false;
	for (const char *o = opts; o && *o; o++)
		json |= *o == 'J';
	struct ingot_stats g;
	stats_global(&g);
	struct arena_stats a;
	stats_arena(STATS_ALL, &a);
	text(&p, json ? "{\n\t\"ingot\": {\n" : "___ Begin ingot statistics ___\n");
	if (!json)
		text(&p, "Version: " INGOT_VERSION "\n");
	field(&p, json, "allocated", g.allocated, false);
	field(&p, json, "active", g.active, false);
	field(&p, json, "metadata", g.metadata, false);
	field(&p, json, "resident", g.resident, false);
	field(&p, json, "mapped", g.mapped, false);
	field(&p, json, "retained", g.retained, false);
	field(&p, json, "narenas", narenas_total, false);
	field(&p, json, "nmalloc_small", a.nmalloc_small, false);
	field(&p, json, "ndalloc_small", a.ndalloc_small, false);
	field(&p, json, "nmalloc_large", a.nmalloc_large, false);
	field(&p, json, "ndalloc_large", a.ndalloc_large, false);
	field(&p, json, "npurge", a.npurge, false);
	field(&p, json, "npurged", a.npurged, true);
	text(&p, json ? "\t}\n}\n" : "--- End ingot statistics ---\n");
}
