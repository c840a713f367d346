/*
 * prof_dump.c — heap profiles as files, and the leak summary at exit.
 *
 * Two text forms, each followed by the process's memory map:
 *
 *   jemalloc (read by jeprof):          gperftools (read by google-pprof):
 *     heap_v2/<R>                         heap profile: n: b [an: ab] @ heap_v2/<R>
 *       t*: n: b [an: ab]                 n: b [an: ab] @ pc pc ...
 *       t0: n: b [0: 0]  (each thread)    ...
 *     @ pc pc ...
 *       t*: n: b [an: ab]                 MAPPED_LIBRARIES:
 *       t0: n: b [0: 0]  (its threads)    <maps>
 *     ...
 *
 *     MAPPED_LIBRARIES:
 *     <maps>
 *
 * n and b are a site's live objects and bytes, an and ab its cumulative
 * ones (prof_accum; per thread they are not kept). Threads are numbered in
 * the order they first sampled (jeprof --thread=N). The readers scale each line by 1 / (1 - e^(-(b/n)/R)),
 * their estimate for one sample of the line's mean size. Like jemalloc's,
 * the counts written are pre-biased: the unbiased estimates (each sample
 * weighs 1 / (1 - e^(-s/R)) by its own size s) times that same factor, so
 * that the readers' scaling gives the estimates back.
 *
 * The first address of each backtrace is a return address, as the others
 * are; the readers subtract 1 from every address but the first to land in
 * the call instruction, so it is written 1 lower here.
 */
#include "prof.h"

#include "arch.h"
#include "base.h"
#include "conf.h"
#include "prof_data.h"
#include "report.h"

/* File output through one buffer; errors stick. */
struct out {
	int fd;
	int err;
	struct line line;
	char buf[4096];
};

static void out_flush(struct out *o)
{
	if (!o->err && o->line.len)
		o->err = arch_file_write(o->fd, o->buf, o->line.len);
	o->line.len = 0;
}

/* Starts a new text line, flushing when the buffer may not hold it. */
static void out_room(struct out *o)
{
	if (o->line.len > sizeof(o->buf) - 256)
		out_flush(o);
}

static void out_counts(struct out *o, uint64_t n, uint64_t b, uint64_t an, uint64_t ab)
{
	line_u64(&o->line, n);
	line_str(&o->line, ": ");
	line_u64(&o->line, b);
	line_str(&o->line, " [");
	line_u64(&o->line, an);
	line_str(&o->line, ": ");
	line_u64(&o->line, ab);
	line_char(&o->line, ']');
}

static void out_pcs(struct out *o, const struct prof_site *s)
{
	for (unsigned i = 0; i < s->depth; i++) {
		out_room(o);
		line_char(&o->line, ' ');
		line_hex(&o->line, i == 0 ? s->pcs[i] - 1 : s->pcs[i]);
	}
}

/* Objects and bytes as written: the estimates pre-biased (see above). */
struct counts {
	uint64_t n, b, an, ab;
};

static uint64_t round_u64(double x) { return x <= 0 ? 0 : (uint64_t)(x + 0.5); }

static void prebias(double objs, double bytes, uint64_t *n, uint64_t *b)
{
	if (objs <= 0 || bytes <= 0) {
		*n = *b = 0;
		return;
	}
	double keep = prof_one_minus_exp_neg(bytes / objs / prof_rate);
	*n = round_u64(objs * keep);
	*b = round_u64(bytes * keep);
	if (*n == 0) /* readers divide by n: keep the line's mean size */
		*n = 1;
}

static struct counts site_counts(const struct prof_site *s)
{
	struct counts c;
	prebias(s->cur_objs, s->cur_bytes, &c.n, &c.b);
	c.an = c.ab = 0; /* as jemalloc writes them without prof_accum */
	if (opt.prof_accum)
		prebias(s->accum_objs, s->accum_bytes, &c.an, &c.ab);
	return c;
}

static bool site_shown(const struct prof_site *s)
{
	return s->cur_samples != 0 || (opt.prof_accum && s->accum_samples != 0);
}

/* Scratch of the per-thread figures: at most one entry per live record,
 * and one total per numbered thread. Grown (never shrunk) from metadata
 * memory; under prof_lock. */
static struct prof_thread_count *scratch;
static size_t scratch_cap;
static double (*thread_totals)[2]; /* objects, bytes */
static uint64_t totals_cap;
static bool have_threads; /* the last gather_live counted per thread */

static bool scratch_fit(void)
{
	if (scratch_cap < prof_nlive) {
		struct prof_thread_count *more = base_alloc(prof_nlive * 2 * sizeof(*more));
		if (!more)
			return false;
		scratch = more;
		scratch_cap = prof_nlive * 2;
	}
	if (totals_cap < prof_nthreads) {
		double(*more)[2] = base_alloc(prof_nthreads * 2 * sizeof(*more));
		if (!more)
			return false;
		thread_totals = more;
		totals_cap = prof_nthreads * 2;
	}
	return true;
}

/* Adds one record to its site's entry for its thread, made on first use. */
static void count_thread(struct prof_site *s, const struct prof_record *r, double w,
                         size_t *used)
{
	struct prof_thread_count *c = s->threads;
	while (c && c->thread != r->thread)
		c = c->next;
	if (!c) {
		c = &scratch[(*used)++];
		*c = (struct prof_thread_count){s->threads, r->thread, 0, 0};
		s->threads = c;
	}
	c->objs += w;
	c->bytes += w * (double)r->usable;
	thread_totals[r->thread][0] += w;
	thread_totals[r->thread][1] += w * (double)r->usable;
}

/* Sums the live records into their sites' scratch figures, in all and per
 * thread (left out without memory for it); under prof_lock. */
static void gather_live(void)
{
	bool per_thread = have_threads = scratch_fit();
	for (size_t i = 0; i < prof_nbuckets; i++)
		for (struct prof_site *s = prof_sites[i]; s; s = s->next) {
			s->cur_samples = 0;
			s->cur_objs = s->cur_bytes = 0;
			s->threads = NULL;
		}
	if (per_thread && prof_nthreads)
		ingot_memset(thread_totals, 0, prof_nthreads * sizeof(*thread_totals));
	size_t used = 0;
	for (size_t i = 0; i < prof_records_cap; i++) {
		const struct prof_record *r = &prof_records[i];
		if (!r->addr)
			continue;
		double w = prof_weight(r->usable);
		r->site->cur_samples++;
		r->site->cur_objs += w;
		r->site->cur_bytes += w * (double)r->usable;
		if (per_thread)
			count_thread(r->site, r, w, &used);
	}
}

/* "  t<n>: " and a line's counts, live figures only. */
static void out_thread(struct out *o, uint64_t thread, double objs, double bytes)
{
	uint64_t n, b;
	prebias(objs, bytes, &n, &b);
	if (n == 0 && b == 0)
		return;
	out_room(o);
	line_str(&o->line, "  t");
	line_u64(&o->line, thread);
	line_str(&o->line, ": ");
	out_counts(o, n, b, 0, 0);
	line_char(&o->line, '\n');
}

/* Calls fn for every site a dump shows. */
static void foreach_shown(void (*fn)(struct out *, const struct prof_site *, struct counts *),
                          struct out *o, struct counts *total)
{
	for (size_t i = 0; i < prof_nbuckets; i++)
		for (struct prof_site *s = prof_sites[i]; s; s = s->next)
			if (site_shown(s))
				fn(o, s, total);
}

static void add_counts(struct out *o, const struct prof_site *s, struct counts *total)
{
	(void)o;
	struct counts c = site_counts(s);
	total->n += c.n;
	total->b += c.b;
	total->an += c.an;
	total->ab += c.ab;
}

static void jemalloc_site(struct out *o, const struct prof_site *s, struct counts *total)
{
	(void)total;
	struct counts c = site_counts(s);
	out_room(o);
	line_char(&o->line, '@');
	out_pcs(o, s);
	out_room(o);
	line_str(&o->line, "\n  t*: ");
	out_counts(o, c.n, c.b, c.an, c.ab);
	line_char(&o->line, '\n');
	for (const struct prof_thread_count *t = s->threads; t; t = t->next)
		out_thread(o, t->thread, t->objs, t->bytes);
}

static void pprof_site(struct out *o, const struct prof_site *s, struct counts *total)
{
	(void)total;
	struct counts c = site_counts(s);
	out_room(o);
	out_counts(o, c.n, c.b, c.an, c.ab);
	line_str(&o->line, " @");
	out_pcs(o, s);
	line_char(&o->line, '\n');
}

static void write_profile(struct out *o, enum prof_format format)
{
	struct counts total = {0, 0, 0, 0};
	foreach_shown(add_counts, o, &total);
	if (format == PROF_FORMAT_JEMALLOC) {
		line_str(&o->line, "heap_v2/");
		line_u64(&o->line, (uint64_t)prof_rate);
		line_str(&o->line, "\n  t*: ");
		out_counts(o, total.n, total.b, total.an, total.ab);
		line_char(&o->line, '\n');
		for (uint64_t t = 0; have_threads && t < prof_nthreads; t++)
			out_thread(o, t, thread_totals[t][0], thread_totals[t][1]);
		foreach_shown(jemalloc_site, o, NULL);
	} else {
		line_str(&o->line, "heap profile: ");
		out_counts(o, total.n, total.b, total.an, total.ab);
		line_str(&o->line, " @ heap_v2/");
		line_u64(&o->line, (uint64_t)prof_rate);
		line_char(&o->line, '\n');
		foreach_shown(pprof_site, o, NULL);
	}
	line_str(&o->line, "\nMAPPED_LIBRARIES:\n");
	out_flush(o);
	if (!o->err)
		arch_file_write_maps(o->fd); /* none on some hosts: the profile stands */
}

/* ---- file names ------------------------------------------------------------------ */

#define PROF_PATH_MAX 512
#define PROF_KEEP_MAX 32

static uint64_t dump_seq;      /* automatic dumps so far */
static const char kinds[] = {PROF_DUMP_MANUAL, PROF_DUMP_INTERVAL, PROF_DUMP_GDUMP,
                             PROF_DUMP_FINAL, PROF_DUMP_THRESHOLD};
static uint64_t kind_seq[sizeof(kinds)]; /* dumps of each kind so far */
static char (*kept)[PROF_PATH_MAX];      /* newest threshold dumps, a ring */
static unsigned kept_next;

static uint64_t *seq_of(enum prof_dump_kind kind)
{
	unsigned i = 0;
	while (kinds[i] != (char)kind)
		i++;
	return &kind_seq[i];
}

/* <prefix>.<pid>.<seq>.<kind><vseq>.heap; the final dump has no vseq. */
static void auto_name(char *path, enum prof_dump_kind kind)
{
	struct line l = {path, PROF_PATH_MAX - 1, 0};
	line_str(&l, opt.prof_prefix);
	line_char(&l, '.');
	line_u64(&l, arch_process_id());
	line_char(&l, '.');
	line_u64(&l, dump_seq++);
	line_char(&l, '.');
	line_char(&l, (char)kind);
	if (kind != PROF_DUMP_FINAL)
		line_u64(&l, (*seq_of(kind))++);
	line_str(&l, ".heap");
	path[l.len] = '\0';
}

/* Threshold dumps keep only the newest prof_threshold_keep files. */
static void rotate_threshold(const char *path)
{
	unsigned keep = (unsigned)MIN(opt.prof_threshold_keep, PROF_KEEP_MAX);
	if (keep == 0)
		return;
	if (!kept && !(kept = base_alloc(keep * sizeof(*kept))))
		return; /* no memory: older dumps stay */
	kept_next %= keep;
	if (kept[kept_next][0])
		arch_file_remove(kept[kept_next]);
	size_t i = 0;
	for (; path[i] && i + 1 < PROF_PATH_MAX; i++)
		kept[kept_next][i] = path[i];
	kept[kept_next][i] = '\0';
	kept_next++;
}

int prof_dump(const char *path, enum prof_format format, enum prof_dump_kind kind)
{
	if (!prof_enabled)
		return ARCH_EINVAL; /* ctl answers ENOENT before this */
	static struct out *o; /* under prof_lock; made at the first dump */
	char name[PROF_PATH_MAX];
	arch_lock_acquire(&prof_lock);
	if (!o && !(o = base_alloc(sizeof(*o)))) {
		arch_lock_release(&prof_lock);
		return ARCH_ENOMEM;
	}
	if (!path) {
		auto_name(name, kind);
		path = name;
	}
	int err = arch_file_open(path, &o->fd);
	if (!err) {
		o->err = 0;
		o->line = (struct line){o->buf, sizeof(o->buf), 0};
		gather_live();
		write_profile(o, format);
		err = o->err;
		arch_file_close(o->fd);
		if (kind == PROF_DUMP_THRESHOLD)
			rotate_threshold(path);
	}
	arch_lock_release(&prof_lock);
	return err;
}

int prof_dump_auto(enum prof_dump_kind kind)
{
	return prof_dump(NULL, opt.prof_format[0] == 'p' ? PROF_FORMAT_PPROF : PROF_FORMAT_JEMALLOC,
	                 kind);
}

/* ---- exit ----------------------------------------------------------------------- */

static void leak_line(const struct prof_site *s, struct counts *total)
{
	uint64_t objs = round_u64(s->cur_objs), bytes = round_u64(s->cur_bytes);
	total->n += objs;
	total->b += bytes;
	total->an++;
	char buf[256];
	struct line l = {buf, sizeof(buf) - 1, 0};
	line_str(&l, "<jemalloc>: Leak: ~");
	line_u64(&l, bytes);
	line_str(&l, " bytes, ~");
	line_u64(&l, objs);
	line_str(&l, " objects at");
	for (unsigned i = 0; i < s->depth && i < 4; i++) {
		line_char(&l, ' ');
		line_hex(&l, s->pcs[i]);
	}
	line_char(&l, '\n');
	buf[l.len] = '\0';
	ingot_message(NULL, buf);
}

/* jemalloc's summary line, after one line per site that still holds live
 * samples (its estimated bytes and objects and its innermost frames). */
static void leak_report(void)
{
	struct counts total = {0, 0, 0, 0};
	arch_lock_acquire(&prof_lock);
	gather_live();
	for (size_t i = 0; i < prof_nbuckets; i++)
		for (struct prof_site *s = prof_sites[i]; s; s = s->next)
			if (s->cur_samples)
				leak_line(s, &total);
	arch_lock_release(&prof_lock);
	if (total.an == 0)
		return;
	char buf[256];
	struct line l = {buf, sizeof(buf) - 1, 0};
	line_str(&l, "<jemalloc>: Leak approximation summary: ~");
	line_u64(&l, total.b);
	line_str(&l, " bytes, ~");
	line_u64(&l, total.n);
	line_str(&l, " objects, >= ");
	line_u64(&l, total.an);
	line_str(&l, total.an == 1 ? " context\n" : " contexts\n");
	line_str(&l, "<jemalloc>: Run jeprof on dump output for leak detail\n");
	buf[l.len] = '\0';
	ingot_message(NULL, buf);
	if (opt.prof_leak_error) {
		ingot_message(NULL, "<jemalloc>: Exiting with error code because memory leaks were "
		                    "detected\n");
		arch_exit(1);
	}
}

void prof_exit(void)
{
	if (!prof_enabled)
		return;
	if (opt.prof_final)
		prof_dump_auto(PROF_DUMP_FINAL);
	if (opt.prof_leak)
		leak_report();
}
