/*
 * stats_print.c — the report of malloc_stats_print, in text or JSON, from
 * the snapshot stats.c keeps.
 *
 * Call tree:
 *   stats_print -> stats_refresh -> print_general | print_totals |
 *                  print_arena (merged, destroyed, each arena)
 *
 * The report holds no lock while it calls write_cb: each arena's snapshot
 * is copied out to the stack first.
 */
#include "stats.h"

#include "arena.h"
#include "background.h"
#include "conf.h"
#include "report.h"
#include "tcache.h"

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
