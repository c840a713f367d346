/*
 * stats.c — summing the counters, the epoch snapshot, and the report of
 * malloc_stats_print in text or JSON.
 *
 * Call tree:
 *   stats_refresh -> arena_gather (bin and page heap locks, one at a time)
 *   stats_print   -> stats_refresh -> print_general | print_totals |
 *                    print_arena (merged, destroyed, each arena)
 *
 * Locks: stats_lock guards the snapshot and the destroyed totals; it ranks
 * above the bin and page heap locks (refresh takes them while holding it)
 * and below the ctl lock. The report holds no lock while it calls write_cb:
 * each arena's snapshot is copied out to the stack first.
 */
#include "stats.h"

#include "arch.h"
#include "arena.h"
#include "background.h"
#include "base.h"
#include "conf.h"
#include "pagemap.h"
#include "report.h"
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

/* Adds arena a's figures to s. */
static void arena_gather(struct arena *a, struct arena_stats *s)
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
	s->uptime_ns = MAX(s->uptime_ns, arch_now_ns() - created);
	/* ingot's metadata is global, as jemalloc's arena 0 holds the base
	 * of everything global. */
	if (a->index == 0)
		s->base += base_mapped() + pagemap_table_bytes();
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
	for (unsigned i = 0; i < n; i++)
		if (index == STATS_ALL || index == i)
			arena_gather(arenas[i], out);
}

/* The global figures from the sum over every arena record. */
static void global_from(const struct arena_stats *s, struct ingot_stats *out)
{
	size_t cached = tcache_cached_bytes();
	size_t allocated = s->allocated_small + s->allocated_large;
	out->allocated = allocated > cached ? allocated - cached : 0;
	out->active = s->pactive << LG_PAGE;
	out->metadata = base_mapped() + pagemap_table_bytes();
	out->resident = (s->pactive + s->pdirty) << LG_PAGE;
	out->resident += out->metadata;
	out->mapped = s->mapped + out->metadata;
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
		arena_gather(arenas[i], s);
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
	arena_gather(a, &s);
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

/* ---- output: a buffer flushed to the callback --------------------------------- */

struct out {
	void (*write_cb)(void *, const char *);
	void *cbopaque;
	bool json;
	unsigned depth;  /* JSON nesting */
	bool need_comma; /* JSON: the current container has an item already */
	size_t len;
	char buf[2048];
};

static void out_flush(struct out *o)
{
	if (o->len == 0)
		return;
	o->buf[o->len] = '\0';
	if (o->write_cb)
		o->write_cb(o->cbopaque, o->buf);
	else
		ingot_message(o->cbopaque, o->buf);
	o->len = 0;
}

static void out_char(struct out *o, char c)
{
	if (o->len + 2 > sizeof(o->buf))
		out_flush(o);
	o->buf[o->len++] = c;
	/* Lines stay whole in one callback where they fit. */
	if (c == '\n' && o->len > sizeof(o->buf) - 256)
		out_flush(o);
}

static void out_str(struct out *o, const char *s)
{
	while (*s)
		out_char(o, *s++);
}

static void out_u64(struct out *o, uint64_t v)
{
	char buf[24];
	struct line l = {buf, sizeof(buf), 0};
	line_u64(&l, v);
	out_str(o, buf);
}

static void out_i64(struct out *o, int64_t v)
{
	char buf[24];
	struct line l = {buf, sizeof(buf), 0};
	line_i64(&l, v);
	out_str(o, buf);
}

/* v right-aligned in width columns (text tables). */
static void out_u64_w(struct out *o, uint64_t v, unsigned width)
{
	char buf[24];
	struct line l = {buf, sizeof(buf), 0};
	line_u64(&l, v);
	for (size_t i = l.len; i < width; i++)
		out_char(o, ' ');
	out_str(o, buf);
}

/* s left-aligned in width columns. */
static void out_str_w(struct out *o, const char *s, unsigned width)
{
	unsigned n = 0;
	for (; s[n]; n++)
		out_char(o, s[n]);
	for (; n < width; n++)
		out_char(o, ' ');
}

/* ---- JSON ------------------------------------------------------------------ */

static void json_string(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	out_char(o, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out_char(o, '\\');
			out_char(o, (char)c);
		} else if (c < 0x20) {
			out_str(o, "\\u00");
			out_char(o, hex[c >> 4]);
			out_char(o, hex[c & 15]);
		} else {
			out_char(o, (char)c);
		}
	}
	out_char(o, '"');
}

/* Starts an item of the current container: comma, new line, indent, key. */
static void json_key(struct out *o, const char *key)
{
	if (o->need_comma)
		out_char(o, ',');
	out_char(o, '\n');
	for (unsigned i = 0; i < o->depth; i++)
		out_char(o, '\t');
	if (key) {
		json_string(o, key);
		out_str(o, ": ");
	}
	o->need_comma = true;
}

static void json_open(struct out *o, const char *key, char bracket)
{
	json_key(o, key);
	out_char(o, bracket);
	o->depth++;
	o->need_comma = false;
}

static void json_close(struct out *o, char bracket)
{
	o->depth--;
	out_char(o, '\n');
	for (unsigned i = 0; i < o->depth; i++)
		out_char(o, '\t');
	out_char(o, bracket);
	o->need_comma = true;
}

static void json_u64(struct out *o, const char *key, uint64_t v)
{
	json_key(o, key);
	out_u64(o, v);
}

static void json_i64(struct out *o, const char *key, int64_t v)
{
	json_key(o, key);
	out_i64(o, v);
}

static void json_bool(struct out *o, const char *key, bool v)
{
	json_key(o, key);
	out_str(o, v ? "true" : "false");
}

static void json_str(struct out *o, const char *key, const char *v)
{
	json_key(o, key);
	json_string(o, v);
}

/* ---- text --------------------------------------------------------------------- */

static void text_u64(struct out *o, const char *label, uint64_t v)
{
	out_str(o, label);
	out_u64(o, v);
	out_char(o, '\n');
}

static void text_i64(struct out *o, const char *label, int64_t v)
{
	out_str(o, label);
	out_i64(o, v);
	out_char(o, '\n');
}

/* ---- sections ----------------------------------------------------------------- */

static const struct {
	const char *name;
	bool value;
} config_flags[] = {
#define STATS_CONFIG_ENTRY(name, value) {#name, value},
	STATS_CONFIG_FLAGS(STATS_CONFIG_ENTRY)
#undef STATS_CONFIG_ENTRY
};

static void print_opt_value(struct out *o, const struct conf_desc *d)
{
	switch (d->kind) {
	case CONF_BOOL:
		out_str(o, *(const bool *)d->value ? "true" : "false");
		break;
	case CONF_SIZE:
		out_u64(o, *(const size_t *)d->value);
		break;
	case CONF_SSIZE:
		out_i64(o, *(const int64_t *)d->value);
		break;
	case CONF_STR:
		if (o->json) {
			json_string(o, (const char *)d->value);
		} else {
			out_char(o, '"');
			out_str(o, (const char *)d->value);
			out_char(o, '"');
		}
		break;
	}
}

static void print_general(struct out *o, unsigned narenas)
{
	if (o->json) {
		json_str(o, "version", STATS_VERSION);
		json_open(o, "config", '{');
		json_str(o, "malloc_conf", "");
		for (size_t i = 0; i < ARRAY_LEN(config_flags); i++)
			json_bool(o, config_flags[i].name, config_flags[i].value);
		json_close(o, '}');
		json_open(o, "opt", '{');
		for (size_t i = 0; i < conf_ndescs; i++) {
			json_key(o, conf_descs[i].name);
			print_opt_value(o, &conf_descs[i]);
		}
		json_close(o, '}');
		json_open(o, "arenas", '{');
		json_u64(o, "narenas", narenas);
		json_i64(o, "dirty_decay_ms", arena_default_decay());
		json_u64(o, "quantum", SC_QUANTUM);
		json_u64(o, "page", PAGE);
		json_u64(o, "tcache_max", tcache_max_size());
		json_u64(o, "nbins", SC_NSMALL);
		json_u64(o, "nhbins", tcache_nclasses());
		json_open(o, "bin", '[');
		for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
			json_open(o, NULL, '{');
			json_u64(o, "size", sc_size[cls]);
			json_u64(o, "nregs", sc_nregs[cls]);
			json_u64(o, "slab_size", (uint64_t)sc_slab_pages[cls] << LG_PAGE);
			json_close(o, '}');
		}
		json_close(o, ']');
		json_u64(o, "nlextents", SC_NCLASSES - SC_NSMALL);
		json_open(o, "lextent", '[');
		for (unsigned cls = SC_NSMALL + 1; cls <= SC_NCLASSES; cls++) {
			json_open(o, NULL, '{');
			json_u64(o, "size", sc_size[cls]);
			json_close(o, '}');
		}
		json_close(o, ']');
		json_close(o, '}');
		return;
	}
	out_str(o, "Version: \"" STATS_VERSION "\"\n");
	out_str(o, "Build-time option settings\n");
	out_str(o, "  config.malloc_conf: \"\"\n");
	for (size_t i = 0; i < ARRAY_LEN(config_flags); i++) {
		out_str(o, "  config.");
		out_str(o, config_flags[i].name);
		out_str(o, config_flags[i].value ? ": true\n" : ": false\n");
	}
	out_str(o, "Run-time option settings\n");
	for (size_t i = 0; i < conf_ndescs; i++) {
		out_str(o, "  opt.");
		out_str(o, conf_descs[i].name);
		out_str(o, ": ");
		print_opt_value(o, &conf_descs[i]);
		out_char(o, '\n');
	}
	text_u64(o, "Arenas: ", narenas);
	text_i64(o, "Default dirty_decay_ms: ", arena_default_decay());
	text_u64(o, "Quantum size: ", SC_QUANTUM);
	text_u64(o, "Page size: ", PAGE);
	text_u64(o, "Maximum thread-cached size class: ", tcache_max_size());
	text_u64(o, "Number of bin size classes: ", SC_NSMALL);
	text_u64(o, "Number of thread-cache bin size classes: ", tcache_nclasses());
	text_u64(o, "Number of large size classes: ", SC_NCLASSES - SC_NSMALL);
}

static void print_totals(struct out *o, const struct ingot_stats *g)
{
	struct background_stats bg;
	background_stats_get(&bg);
	if (o->json) {
		json_open(o, "stats", '{');
		json_u64(o, "allocated", g->allocated);
		json_u64(o, "active", g->active);
		json_u64(o, "metadata", g->metadata);
		json_u64(o, "metadata_thp", 0); /* ingot's metadata is never on huge pages */
		json_u64(o, "resident", g->resident);
		json_u64(o, "mapped", g->mapped);
		json_u64(o, "retained", g->retained);
		json_u64(o, "zero_reallocs", stats_zero_reallocs());
		json_open(o, "background_thread", '{');
		json_u64(o, "num_threads", bg.num_threads);
		json_u64(o, "num_runs", bg.num_runs);
		json_u64(o, "run_interval", bg.run_interval_ns);
		json_close(o, '}');
		json_close(o, '}');
		return;
	}
	out_str(o, "Allocated: ");
	out_u64(o, g->allocated);
	out_str(o, ", active: ");
	out_u64(o, g->active);
	out_str(o, ", metadata: ");
	out_u64(o, g->metadata);
	out_str(o, ", resident: ");
	out_u64(o, g->resident);
	out_str(o, ", mapped: ");
	out_u64(o, g->mapped);
	out_str(o, ", retained: ");
	out_u64(o, g->retained);
	out_char(o, '\n');
	out_str(o, "Background threads: ");
	out_u64(o, bg.num_threads);
	out_str(o, ", num_runs: ");
	out_u64(o, bg.num_runs);
	out_str(o, ", run_interval: ");
	out_u64(o, bg.run_interval_ns);
	out_str(o, " ns\n");
}

static void print_bins_json(struct out *o, const struct arena_stats *s)
{
	json_open(o, "bins", '[');
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		const struct bin_stats *b = &s->bins[cls];
		json_open(o, NULL, '{');
		json_u64(o, "nmalloc", b->nmalloc);
		json_u64(o, "ndalloc", b->ndalloc);
		json_u64(o, "nrequests", b->nmalloc);
		json_u64(o, "curregs", b->curregs);
		json_u64(o, "nfills", b->nfills);
		json_u64(o, "nflushes", b->nflushes);
		json_u64(o, "nslabs", b->nslabs);
		json_u64(o, "curslabs", b->curslabs);
		json_u64(o, "nonfull_slabs", b->nonfull_slabs);
		json_close(o, '}');
	}
	json_close(o, ']');
}

static void print_bins_text(struct out *o, const struct arena_stats *s)
{
	out_str(o, "bins:           size   regs   pgs       curregs       nmalloc       ndalloc"
	           "      nfills    nflushes   curslabs  nonfull    nslabs  util\n");
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		const struct bin_stats *b = &s->bins[cls];
		if (b->nmalloc == 0)
			continue;
		out_u64_w(o, sc_size[cls], 20);
		out_u64_w(o, sc_nregs[cls], 7);
		out_u64_w(o, sc_slab_pages[cls], 6);
		out_u64_w(o, b->curregs, 14);
		out_u64_w(o, b->nmalloc, 14);
		out_u64_w(o, b->ndalloc, 14);
		out_u64_w(o, b->nfills, 12);
		out_u64_w(o, b->nflushes, 12);
		out_u64_w(o, b->curslabs, 11);
		out_u64_w(o, b->nonfull_slabs, 9);
		out_u64_w(o, b->nslabs, 10);
		/* utilisation in percent: live objects over slab capacity */
		uint64_t cap = (uint64_t)b->curslabs * sc_nregs[cls];
		out_u64_w(o, cap ? b->curregs * 100 / cap : 0, 5);
		out_str(o, "%\n");
	}
}

static void print_lextents_json(struct out *o, const struct arena_stats *s)
{
	json_open(o, "lextents", '[');
	for (unsigned j = 0; j < SC_NLARGE; j++) {
		json_open(o, NULL, '{');
		json_u64(o, "curlextents", s->lextent_nmalloc[j] - s->lextent_ndalloc[j]);
		json_close(o, '}');
	}
	json_close(o, ']');
}

static void print_lextents_text(struct out *o, const struct arena_stats *s)
{
	out_str(o, "large:          size ind    allocated      nmalloc      ndalloc    nrequests"
	           "  curlextents\n");
	for (unsigned j = 0; j < SC_NLARGE; j++) {
		uint64_t nmalloc = s->lextent_nmalloc[j], cur = nmalloc - s->lextent_ndalloc[j];
		if (nmalloc == 0)
			continue;
		unsigned cls = SC_NSMALL + 1 + j;
		out_u64_w(o, sc_size[cls], 20);
		out_u64_w(o, cls - 1, 4);
		out_u64_w(o, cur * sc_size[cls], 13);
		out_u64_w(o, nmalloc, 13);
		out_u64_w(o, s->lextent_ndalloc[j], 13);
		out_u64_w(o, nmalloc, 13);
		out_u64_w(o, cur, 13);
		out_char(o, '\n');
	}
}

static void print_arena(struct out *o, const char *title, const struct arena_stats *s, bool bins,
                        bool large, bool is_one)
{
	if (o->json) {
		json_open(o, title, '{');
		json_u64(o, "nthreads", s->nthreads);
		json_u64(o, "uptime_ns", s->uptime_ns);
		json_str(o, "dss", "disabled");
		if (is_one)
			json_i64(o, "dirty_decay_ms", s->dirty_decay_ms);
		json_u64(o, "pactive", s->pactive);
		json_u64(o, "pdirty", s->pdirty);
		json_u64(o, "pmuzzy", 0);
		json_u64(o, "mapped", s->mapped);
		json_u64(o, "retained", s->retained);
		json_u64(o, "resident", s->resident);
		json_u64(o, "dirty_npurge", s->npurge);
		json_u64(o, "dirty_nmadvise", s->npurge);
		json_u64(o, "dirty_purged", s->npurged);
		json_open(o, "small", '{');
		json_u64(o, "allocated", s->allocated_small);
		json_u64(o, "nmalloc", s->nmalloc_small);
		json_u64(o, "ndalloc", s->ndalloc_small);
		json_u64(o, "nrequests", s->nmalloc_small);
		json_u64(o, "nfills", s->nfills_small);
		json_u64(o, "nflushes", s->nflushes_small);
		json_close(o, '}');
		json_open(o, "large", '{');
		json_u64(o, "allocated", s->allocated_large);
		json_u64(o, "nmalloc", s->nmalloc_large);
		json_u64(o, "ndalloc", s->ndalloc_large);
		json_u64(o, "nrequests", s->nmalloc_large);
		json_close(o, '}');
		json_u64(o, "base", s->base);
		json_u64(o, "internal", 0);
		json_u64(o, "metadata_thp", 0);
		json_u64(o, "extent_avail", s->extent_avail);
		if (bins)
			print_bins_json(o, s);
		if (large)
			print_lextents_json(o, s);
		json_close(o, '}');
		return;
	}
	out_str(o, title);
	out_str(o, ":\n");
	text_u64(o, "assigned threads: ", s->nthreads);
	text_u64(o, "uptime: ", s->uptime_ns);
	if (is_one)
		text_i64(o, "dirty_decay_ms: ", s->dirty_decay_ms);
	out_str(o, "                            allocated         nmalloc         ndalloc\n");
	const struct {
		const char *name;
		uint64_t allocated, nmalloc, ndalloc;
	} rows[] = {
	    {"small:", s->allocated_small, s->nmalloc_small, s->ndalloc_small},
	    {"large:", s->allocated_large, s->nmalloc_large, s->ndalloc_large},
	    {"total:", s->allocated_small + s->allocated_large, s->nmalloc_small + s->nmalloc_large,
	     s->ndalloc_small + s->ndalloc_large},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		out_str_w(o, rows[i].name, 16);
		out_u64_w(o, rows[i].allocated, 21);
		out_u64_w(o, rows[i].nmalloc, 16);
		out_u64_w(o, rows[i].ndalloc, 16);
		out_char(o, '\n');
	}
	text_u64(o, "active:                   ", (uint64_t)s->pactive << LG_PAGE);
	text_u64(o, "mapped:                   ", s->mapped);
	text_u64(o, "retained:                 ", s->retained);
	text_u64(o, "resident:                 ", s->resident);
	text_u64(o, "dirty pages:              ", s->pdirty);
	text_u64(o, "base:                     ", s->base);
	text_u64(o, "extent_avail:             ", s->extent_avail);
	out_str(o, "purging: ");
	out_u64(o, s->npurge);
	out_str(o, " calls, ");
	out_u64(o, s->npurged);
	out_str(o, " pages purged\n");
	if (bins)
		print_bins_text(o, s);
	if (large)
		print_lextents_text(o, s);
}

void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts)
{
	/* Some 5 KiB of stack, and no lock held while write_cb runs: it may
	 * call anything, malloc_stats_print included. */
	struct out o;
	struct arena_stats s;
	bool general = true, merged = true, destroyed_ = true, per_arena = true, bins = true;
	bool large = true;
	bool json = false;
	for (const char *c = opts; c && *c; c++) {
		switch (*c) {
		case 'J': json = true; break;
		case 'g': general = false; break;
		case 'm': merged = false; break;
		case 'd': destroyed_ = false; break;
		case 'a': per_arena = false; break;
		case 'b': bins = false; break;
		case 'l': large = false; break;
		default: break; /* x, e: no lock counters, no extents table; others ignored */
		}
	}
	stats_refresh();
	o.write_cb = write_cb;
	o.cbopaque = cbopaque;
	o.json = json;
	o.depth = 0;
	o.need_comma = false;
	o.len = 0;

	unsigned narenas = stats_snapshot_narenas();
	struct ingot_stats g;
	stats_snapshot_global(&g);
	if (json) {
		out_char(&o, '{');
		o.depth = 1;
		json_open(&o, "jemalloc", '{');
		json_str(&o, "allocator", "ingot " INGOT_VERSION);
	} else {
		out_str(&o, "___ Begin ingot statistics ___\n");
	}
	if (general)
		print_general(&o, narenas);
	print_totals(&o, &g);
	if (json && (merged || destroyed_ || per_arena))
		json_open(&o, "stats.arenas", '{');
	if (merged && stats_snapshot_arena(STATS_ALL, &s))
		print_arena(&o, json ? "merged" : "Merged arenas stats", &s, bins, large, false);
	if (destroyed_ && stats_snapshot_arena(STATS_DESTROYED, &s))
		print_arena(&o, json ? "destroyed" : "Destroyed arenas stats", &s, bins, large, false);
	for (unsigned i = 0; per_arena && i < narenas; i++) {
		if (!stats_snapshot_arena(i, &s))
			continue;
		char title[24];
		struct line l = {title, sizeof(title), 0};
		if (!json)
			line_str(&l, "arenas[");
		line_u64(&l, i);
		if (!json)
			line_char(&l, ']');
		print_arena(&o, title, &s, bins, large, true);
	}
	if (json && (merged || destroyed_ || per_arena))
		json_close(&o, '}');
	if (json) {
		json_close(&o, '}');
		o.depth = 0;
		out_str(&o, "\n}\n");
	} else {
		out_str(&o, "--- End ingot statistics ---\n");
	}
	out_flush(&o);
}
