/*
 * stats.c — summing the counters and the epoch snapshot (the report that
 * malloc_stats_print writes from it: stats_print.c).
 *
 * Call tree:
 *   stats_refresh -> arena_gather (bin and page heap locks, one at a time)
 *
 * Locks: stats_lock guards the snapshot and the destroyed totals; it ranks
 * above the bin and page heap locks (refresh takes them while holding it)
 * and below the ctl lock.
 */
#include "stats.h"

#include "arch.h"
#include "arena.h"
#include "base.h"
#include "pagemap.h"
#include "tcache.h"

/* ---- gathering ------------------------------------------------------------ */

static void bin_gather(struct bin *bin, struct bin_stats *b)
{
	size_t nonfull = 0;
	arch_lock_acquire(&bin->lock);
	b->nmalloc += bin->nmalloc;
	b->ndalloc += bin->ndalloc;
	b->nfills += bin->nfills;
	b->nflushes += bin->nflushes;
	b->nslabs += bin->nslabs_made;
	b->curregs += bin->nregs_live;
	b->curslabs += bin->nslabs;
	for (struct span *s = bin->nonfull; s; s = s->next)
		nonfull++;
	arch_lock_release(&bin->lock);
	b->nonfull_slabs += nonfull;
}

/* Adds arena a's figures to s; now is the snapshot's time (one for all the
 * arenas of a snapshot, so that their uptimes compare as their births do). */
static void arena_gather(struct arena *a, struct arena_stats *s, uint64_t now)
{
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct bin_stats *b = &s->bins[cls];
		struct bin_stats before = *b;
		bin_gather(&a->bins[cls], b);
		s->allocated_small += (b->curregs - before.curregs) * sc_size[cls];
		s->nmalloc_small += b->nmalloc - before.nmalloc;
		s->ndalloc_small += b->ndalloc - before.ndalloc;
		s->nfills_small += b->nfills - before.nfills;
		s->nflushes_small += b->nflushes - before.nflushes;
	}
	size_t huge_allocated = __atomic_load_n(&a->huge_allocated, __ATOMIC_RELAXED);
	size_t huge_mapped = __atomic_load_n(&a->huge_mapped, __ATOMIC_RELAXED);
	/* Freed huge mappings kept for reuse are dirty pages too, until decay
	 * or a purge unmaps them. */
	arch_lock_acquire(&a->huge_lock);
	size_t huge_dirty = a->huge_cached_bytes >> LG_PAGE;
	arch_lock_release(&a->huge_lock);
	struct pageheap *h = &a->heap;
	arch_lock_acquire(&h->lock);
	size_t active = h->npages_active, dirty = h->npages_dirty, mapped = h->npages_mapped;
	/* Blocks in the arena's large cache are in use to the page heap but
	 * freed by the program: dirty pages. */
	arch_lock_acquire(&a->large_cache_lock);
	size_t large_cached = a->large_cached_bytes >> LG_PAGE;
	arch_lock_release(&a->large_cache_lock);
	active -= large_cached;
	dirty += large_cached;
	for (struct span *r = h->spare_records; r; r = r->next)
		s->extent_avail++;
	s->npurge += h->npurge_calls;
	s->npurged += h->npurged;
	s->dirty_decay_ms = h->decay_ms;
	arch_lock_release(&h->lock);
	s->pactive += active + (huge_allocated >> LG_PAGE);
	s->pdirty += dirty + huge_dirty;
	s->mapped += (mapped << LG_PAGE) + huge_mapped;
	s->retained += (mapped - active - dirty) << LG_PAGE;
	s->resident += ((active + dirty + huge_dirty) << LG_PAGE) + huge_allocated;
	s->allocated_large += __atomic_load_n(&a->large_allocated, __ATOMIC_RELAXED) + huge_allocated;
	s->nmalloc_large += __atomic_load_n(&a->large_nmalloc, __ATOMIC_RELAXED);
	s->ndalloc_large += __atomic_load_n(&a->large_ndalloc, __ATOMIC_RELAXED);
	s->nthreads += __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED);
	for (unsigned j = 0; j < SC_NLARGE; j++) {
		s->lextent_nmalloc[j] += __atomic_load_n(&a->lextent_nmalloc[j], __ATOMIC_RELAXED);
		s->lextent_ndalloc[j] += __atomic_load_n(&a->lextent_ndalloc[j], __ATOMIC_RELAXED);
	}
	uint64_t created = __atomic_load_n(&a->created_ns, __ATOMIC_RELAXED);
	s->uptime_ns = MAX(s->uptime_ns, now - created);
	/* ingot's metadata is global, as jemalloc's arena 0 holds the base
	 * of everything global. */
	if (a->index == 0)
		s->base += base_used() + pagemap_table_bytes();
}

/* Adds the cumulative counters of one arena's figures to another's. */
static void arena_stats_add(struct arena_stats *to, const struct arena_stats *from)
{
	to->allocated_small += from->allocated_small;
	to->allocated_large += from->allocated_large;
	to->pactive += from->pactive;
	to->pdirty += from->pdirty;
	to->mapped += from->mapped;
	to->retained += from->retained;
	to->resident += from->resident;
	to->nmalloc_small += from->nmalloc_small;
	to->ndalloc_small += from->ndalloc_small;
	to->nfills_small += from->nfills_small;
	to->nflushes_small += from->nflushes_small;
	to->nmalloc_large += from->nmalloc_large;
	to->ndalloc_large += from->ndalloc_large;
	to->npurge += from->npurge;
	to->npurged += from->npurged;
	to->nthreads += from->nthreads;
	to->extent_avail += from->extent_avail;
	to->base += from->base;
	to->uptime_ns = MAX(to->uptime_ns, from->uptime_ns);
	for (unsigned j = 0; j < SC_NLARGE; j++) {
		to->lextent_nmalloc[j] += from->lextent_nmalloc[j];
		to->lextent_ndalloc[j] += from->lextent_ndalloc[j];
	}
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		struct bin_stats *t = &to->bins[cls];
		const struct bin_stats *f = &from->bins[cls];
		t->nmalloc += f->nmalloc;
		t->ndalloc += f->ndalloc;
		t->nfills += f->nfills;
		t->nflushes += f->nflushes;
		t->nslabs += f->nslabs;
		t->curregs += f->curregs;
		t->curslabs += f->curslabs;
		t->nonfull_slabs += f->nonfull_slabs;
	}
}

void stats_arena(unsigned index, struct arena_stats *out)
{
	ingot_memset(out, 0, sizeof(*out));
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	uint64_t now = arch_now_ns();
	for (unsigned i = 0; i < n; i++)
		if (index == STATS_ALL || index == i)
			arena_gather(arenas[i], out, now);
}

/* The global figures from the sum over every arena record. */
static void global_from(const struct arena_stats *s, struct ingot_stats *out)
{
	size_t cached = tcache_cached_bytes();
	size_t allocated = s->allocated_small + s->allocated_large;
	out->allocated = allocated > cached ? allocated - cached : 0;
	out->active = s->pactive << LG_PAGE;
	out->metadata = base_used() + pagemap_table_bytes();
	out->resident = (s->pactive + s->pdirty) << LG_PAGE;
	out->resident += out->metadata;
	/* Mapped counts the base's whole blocks, the part not yet handed out too:
	 * a region build's test matches it against the memory the region gave. */
	out->mapped = s->mapped + base_mapped() + pagemap_table_bytes();
	out->retained = s->retained;
}

void stats_global(struct ingot_stats *out)
{
	struct arena_stats s;
	stats_arena(STATS_ALL, &s);
	global_from(&s, out);
}

/* The page-size class of a run of pages, rounded down as jemalloc files
 * free extents. */
static unsigned psz_class(size_t pages)
{
	if (pages <= 4)
		return (unsigned)pages - 1;
	unsigned lg = lg_floor(pages);
	size_t step = (size_t)1 << (lg - 2);
	return 4 * (lg - 1) - 1 + (unsigned)((pages - ((size_t)1 << lg)) / step);
}

static void extent_add(struct extent_stats *e, unsigned j, size_t pages, bool dirty)
{
	if (pages == 0 || psz_class(pages) != j)
		return;
	if (dirty) {
		e->ndirty++;
		e->dirty_bytes += pages << LG_PAGE;
	} else {
		e->nretained++;
		e->retained_bytes += pages << LG_PAGE;
	}
}

static void arena_extents(struct arena *a, unsigned j, struct extent_stats *e)
{
	struct pageheap *h = &a->heap;
	arch_lock_acquire(&h->lock);
	for (size_t n = 0; n < PAGEHEAP_LISTS; n++) {
		for (struct span *s = h->lists[n]; s; s = s->next) {
			extent_add(e, j, s->ndirty, true);
			extent_add(e, j, s->npages - s->ndirty, false);
		}
	}
	arch_lock_release(&h->lock);
	arch_lock_acquire(&a->large_cache_lock);
	for (unsigned k = 0; k < SC_NLARGE; k++)
		for (struct span *s = a->large_cached[k]; s; s = s->next)
			extent_add(e, j, s->npages, true);
	arch_lock_release(&a->large_cache_lock);
	arch_lock_acquire(&a->huge_lock);
	for (struct chunk *c = a->huge_cached; c; c = c->next)
		extent_add(e, j, c->size >> LG_PAGE, true);
	arch_lock_release(&a->huge_lock);
}

void stats_extents(unsigned index, unsigned j, struct extent_stats *out)
{
	ingot_memset(out, 0, sizeof(*out));
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if ((index == STATS_ALL || index == i) && !arena_destroyed(i))
			arena_extents(arenas[i], j, out);
}

static size_t zero_reallocs;

void stats_count_zero_realloc(void)
{
	if (INGOT_STATS)
		__atomic_fetch_add(&zero_reallocs, 1, __ATOMIC_RELAXED);
}

size_t stats_zero_reallocs(void) { return __atomic_load_n(&zero_reallocs, __ATOMIC_RELAXED); }

/* ---- the snapshot ---------------------------------------------------------- */

static arch_lock_t stats_lock = ARCH_LOCK_INIT;

static struct {
	uint64_t epoch;
	unsigned narenas;
	struct ingot_stats global;
	struct arena_stats merged;
	struct arena_stats destroyed;
	struct arena_stats *arena[ARENAS_MAX]; /* base memory, made on first refresh */
	bool live[ARENAS_MAX];                 /* existed and not destroyed at refresh */
} snap;

/* Destroyed arenas' counters (which arenas are destroyed: arena.h). */
static struct arena_stats destroyed_totals;
static bool any_destroyed;

void stats_refresh(void)
{
	static struct arena_stats everything; /* under stats_lock */
	arch_lock_acquire(&stats_lock);
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	uint64_t now = arch_now_ns();
	ingot_memset(&snap.merged, 0, sizeof(snap.merged));
	ingot_memset(&everything, 0, sizeof(everything));
	for (unsigned i = 0; i < n; i++) {
		if (!snap.arena[i])
			snap.arena[i] = base_alloc(sizeof(struct arena_stats));
		struct arena_stats *s = snap.arena[i];
		if (!s) { /* no memory for the record: the arena reads as absent */
			snap.live[i] = false;
			continue;
		}
		ingot_memset(s, 0, sizeof(*s));
		arena_gather(arenas[i], s, now);
		arena_stats_add(&everything, s);
		snap.live[i] = !arena_destroyed(i);
		if (snap.live[i])
			arena_stats_add(&snap.merged, s);
	}
	snap.merged.dirty_decay_ms = arena_default_decay();
	snap.narenas = n;
	snap.destroyed = destroyed_totals;
	global_from(&everything, &snap.global);
	snap.epoch++;
	arch_lock_release(&stats_lock);
}

uint64_t stats_epoch(void)
{
	arch_lock_acquire(&stats_lock);
	uint64_t e = snap.epoch;
	arch_lock_release(&stats_lock);
	return e;
}

void stats_snapshot_global(struct ingot_stats *out)
{
	arch_lock_acquire(&stats_lock);
	*out = snap.global;
	arch_lock_release(&stats_lock);
}

bool stats_snapshot_arena(unsigned index, struct arena_stats *out)
{
	const struct arena_stats *s = NULL;
	arch_lock_acquire(&stats_lock);
	if (index == STATS_ALL)
		s = &snap.merged;
	else if (index == STATS_DESTROYED)
		s = any_destroyed ? &snap.destroyed : NULL;
	else if (index < snap.narenas && snap.live[index])
		s = snap.arena[index];
	if (out && s)
		*out = *s;
	else if (out)
		ingot_memset(out, 0, sizeof(*out));
	arch_lock_release(&stats_lock);
	return s != NULL;
}

unsigned stats_snapshot_narenas(void)
{
	arch_lock_acquire(&stats_lock);
	unsigned n = snap.narenas;
	arch_lock_release(&stats_lock);
	return n;
}

void stats_arena_retire(struct arena *a)
{
	static struct arena_stats s; /* under stats_lock */
	arch_lock_acquire(&stats_lock);
	ingot_memset(&s, 0, sizeof(s));
	arena_gather(a, &s, arch_now_ns());
	/* Only the cumulative counters move: the record keeps its (purged)
	 * pages, which the global figures go on counting as retained. */
	s.pactive = s.pdirty = s.mapped = s.retained = s.resident = 0;
	s.extent_avail = s.base = 0;
	s.uptime_ns = 0;
	s.allocated_small = s.allocated_large = 0;
	s.nthreads = 0;
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++)
		s.bins[cls].curregs = s.bins[cls].curslabs = s.bins[cls].nonfull_slabs = 0;
	arena_stats_add(&destroyed_totals, &s);
	arena_set_destroyed(a);
	any_destroyed = true;
	arch_lock_release(&stats_lock);
}

void stats_fork_prepare(void) { arch_lock_acquire(&stats_lock); }
void stats_fork_parent(void) { arch_lock_release(&stats_lock); }
void stats_fork_child(void) { arch_lock_reset(&stats_lock); }
