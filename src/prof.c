/*
 * prof.c — the sampler, the sites and the records of sampled blocks (see
 * prof.h for the design).
 *
 * Call tree:
 *   tcache_event (class countdown ended) -> prof_sample -> record
 *   slow paths of uncached blocks -> prof_count_big_slow -> record
 *   record -> arch_backtrace (no lock held) -> site_get, records_put,
 *             page_hide (under prof_lock) -> after_sample (threshold dumps)
 *   slow paths of frees, while records live -> prof_free -> records_take,
 *             page_show
 */
#include "prof.h"

#include "arena.h"
#include "base.h"
#include "conf.h"
#include "pagemap.h"
#include "prof_data.h"

bool prof_enabled;
uint64_t prof_nlive;
uint32_t *prof_filter;

arch_lock_t prof_lock = ARCH_LOCK_INIT;
struct prof_site **prof_sites;
size_t prof_nbuckets;
struct prof_record *prof_records;
size_t prof_records_cap;
double prof_rate;
uint64_t prof_nthreads;

static bool active;              /* prof.active */
static bool thread_active_init;  /* prof.thread_active_init */
static bool gdump_on;            /* prof.gdump */
static unsigned lg_sample;

/* Figures the automatic dumps watch, under prof_lock. */
static double alloc_estimate;    /* bytes allocated, estimated from samples */
static double next_interval;     /* alloc_estimate of the next interval dump */
static double live_estimate;     /* live bytes, estimated from live samples */
static double next_threshold;    /* live_estimate of the next threshold dump */
static uint64_t last_threshold_ns;
static size_t mapped_peak;       /* gdump: highest mapped bytes seen */

/* Page-address -> number of live small samples on that page (pages whose
 * class-window byte is hidden). Open addressing, like the records. */
struct page_count {
	uintptr_t page;
	uintptr_t count;
};
static struct page_count *hidden_pages;
static size_t hidden_cap;

#define PROF_NAME_MAX 64

/* Per-thread state. active: 0 not decided yet (takes thread_active_init
 * at the thread's first sample), 1 on, 2 off. */
struct prof_thread {
	uint64_t rng;        /* 0 until seeded */
	double bytes_left;   /* budget of the blocks the caches do not serve */
	uint8_t active;
	bool busy;           /* unwinding or recording: sample nothing */
	uint64_t number;     /* 1 + its number in dumps; 0 until its first sample */
	char name[PROF_NAME_MAX];
};
static INGOT_THREAD_LOCAL struct prof_thread prof_tls;

/* ---- arithmetic without libm ---------------------------------------------- */

/* Natural logarithm of x > 0 (a normal double): x = m 2^e with m near 1,
 * then ln m = 2 atanh((m - 1) / (m + 1)), whose series converges fast
 * there. Relative error below 1e-10. */
static double ln(double x)
{
	union {
		double d;
		uint64_t u;
	} v = {x};
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1023) << 52);
	double m = v.d;
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	double z = (m - 1) / (m + 1), z2 = z * z;
	double series = 1.0 / 11;
	for (int k = 9; k >= 1; k -= 2)
		series = 1.0 / k + z2 * series;
	return 2 * z * series + e * 0.6931471805599453;
}

/* e^(-x) for x >= 0: x = k ln 2 + f with f in [0, ln 2), a Taylor series
 * for e^(-f), then the power of two. */
static double exp_neg(double x)
{
	if (x > 700)
		return 0;
	int k = (int)(x / 0.6931471805599453);
	double f = x - k * 0.6931471805599453, term = 1, sum = 1;
	for (int n = 1; n < 20; n++) {
		term *= -f / n;
		sum += term;
	}
	union {
		double d;
		uint64_t u;
	} scale = {.u = (uint64_t)(1023 - k) << 52};
	return sum * scale.d;
}

double prof_one_minus_exp_neg(double x)
{
	if (x >= 0.5)
		return 1 - exp_neg(x);
	/* x - x^2/2! + x^3/3! - ...: no cancellation for small x. */
	double term = x, sum = x;
	for (int n = 2; n < 20; n++) {
		term *= -x / n;
		sum += term;
	}
	return sum;
}

double prof_weight(size_t usable)
{
	return 1 / prof_one_minus_exp_neg((double)usable / prof_rate);
}

/* ---- the thread's random draws ----------------------------------------------- */

static struct prof_thread *thread_state(void)
{
	struct prof_thread *t = &prof_tls;
	if (INGOT_UNLIKELY(t->rng == 0)) {
		arch_random(&t->rng, sizeof(t->rng));
		t->rng |= 1;
		t->bytes_left = -1; /* drawn at the first use */
	}
	return t;
}

/* An exponential variate of mean 1: -ln U, U uniform in (0, 1]. */
static double draw_exponential(struct prof_thread *t)
{
	uint64_t x = t->rng; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	uint64_t bits = (x * UINT64_C(2685821657736338717)) >> 11;
	return -ln((double)(bits + 1) * (1.0 / 9007199254740992.0));
}

uint32_t prof_class_draw(size_t size)
{
	/* Allocations until the next sample: 1 + floor(E R / size) is
	 * geometric with success 1 - e^(-size/R) (see prof.h). */
	double n = 1 + draw_exponential(thread_state()) * prof_rate / (double)size;
	return n >= (double)(PROF_NO_SAMPLE - 1) ? PROF_NO_SAMPLE - 1 : (uint32_t)n;
}

/* ---- open-addressing tables (records and hidden pages) ------------------------ */

static size_t slot_of(uintptr_t key, size_t cap)
{
	return (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (cap - 1);
}

/* Index of key in a table of cap entries whose key is the first word of
 * each stride-byte entry, or of the empty entry where it would go. */
static size_t probe(const void *table, size_t stride, size_t cap, uintptr_t key)
{
	size_t i = slot_of(key, cap);
	for (;;) {
		uintptr_t k = *(const uintptr_t *)((const char *)table + i * stride);
		if (k == key || k == 0)
			return i;
		i = (i + 1) & (cap - 1);
	}
}

/* Removes entry i, moving later entries of its run back so that lookups
 * need no tombstones. */
static void unprobe(void *table, size_t stride, size_t cap, size_t i)
{
	char *t = table;
	size_t hole = i;
	for (size_t j = (i + 1) & (cap - 1);; j = (j + 1) & (cap - 1)) {
		uintptr_t k = *(uintptr_t *)(t + j * stride);
		if (k == 0)
			break;
		size_t home = slot_of(k, cap);
		/* j may move to hole if its home is not in (hole, j]. */
		if (((j - home) & (cap - 1)) >= ((j - hole) & (cap - 1))) {
			ingot_memcpy(t + hole * stride, t + j * stride, stride);
			hole = j;
		}
	}
	ingot_memset(t + hole * stride, 0, stride);
}

/* Makes room for one more entry: doubles the table at half load. Old
 * tables stay in metadata memory (base.h never gives memory back); their
 * sizes halve going back, so together they are at most the live one. */
static bool grow(void **table, size_t stride, size_t *cap, uint64_t used)
{
	if ((used + 1) * 2 <= *cap)
		return true;
	size_t new_cap = *cap ? *cap * 2 : 1024;
	char *fresh = base_alloc(new_cap * stride);
	if (!fresh)
		return false;
	for (size_t i = 0; i < *cap; i++) {
		const char *e = (const char *)*table + i * stride;
		uintptr_t key = *(const uintptr_t *)e;
		if (key)
			ingot_memcpy(fresh + probe(fresh, stride, new_cap, key) * stride, e, stride);
	}
	*table = fresh;
	*cap = new_cap;
	return true;
}

static uint64_t hidden_used;

/* Sends frees on p's page to the slow path while a sample lives there;
 * false when the page is outside the class window (its free could not be
 * seen). */
static bool page_hide(uintptr_t p)
{
	if (!pagemap_in_window(p) || !grow((void **)&hidden_pages, sizeof(struct page_count),
	                                   &hidden_cap, hidden_used))
		return false;
	uintptr_t page = ALIGN_DOWN(p, PAGE);
	struct page_count *e = &hidden_pages[probe(hidden_pages, sizeof(*e), hidden_cap, page)];
	if (e->page == 0) {
		e->page = page;
		hidden_used++;
		__atomic_store_n(pagemap_window_at(p), 0, __ATOMIC_RELAXED);
	}
	e->count++;
	return true;
}

/* The small class of the page p lies in (0 for large and huge blocks), as
 * the chunk records it: the window's copy may be hidden. */
static unsigned class_at(uintptr_t p)
{
	return pagemap_chunk(p)->class_of[chunk_page_index(p)];
}

/* Gives the free fast path page p's class back. */
static void window_restore(uintptr_t p)
{
	__atomic_store_n(pagemap_window_at(p), (uint8_t)class_at(p), __ATOMIC_RELAXED);
}

static void page_show(uintptr_t p)
{
	uintptr_t page = ALIGN_DOWN(p, PAGE);
	size_t i = probe(hidden_pages, sizeof(struct page_count), hidden_cap, page);
	if (hidden_pages[i].page == 0 || --hidden_pages[i].count != 0)
		return;
	unprobe(hidden_pages, sizeof(struct page_count), hidden_cap, i);
	hidden_used--;
	window_restore(page);
}

bool prof_page_hidden(uintptr_t p)
{
	arch_lock_acquire(&prof_lock);
	bool hidden = hidden_cap != 0 &&
	              hidden_pages[probe(hidden_pages, sizeof(struct page_count), hidden_cap,
	                                 ALIGN_DOWN(p, PAGE))]
	                      .page != 0;
	arch_lock_release(&prof_lock);
	return hidden;
}

/* ---- sites ------------------------------------------------------------------ */

static uint64_t hash_pcs(const uintptr_t *pcs, unsigned depth)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ depth;
	for (unsigned i = 0; i < depth; i++)
		h = (h ^ pcs[i]) * UINT64_C(0x100000001b3);
	return h ^ (h >> 29);
}

static bool same_pcs(const struct prof_site *s, const uintptr_t *pcs, unsigned depth)
{
	if (s->depth != depth)
		return false;
	for (unsigned i = 0; i < depth; i++)
		if (s->pcs[i] != pcs[i])
			return false;
	return true;
}

/* The site of a backtrace, made on first sight; NULL without memory. */
static struct prof_site *site_get(const uintptr_t *pcs, unsigned depth)
{
	uint64_t h = hash_pcs(pcs, depth);
	struct prof_site **bucket = &prof_sites[h & (prof_nbuckets - 1)];
	for (struct prof_site *s = *bucket; s; s = s->next)
		if (s->hash == h && same_pcs(s, pcs, depth))
			return s;
	struct prof_site *s = base_alloc(sizeof(*s) + depth * sizeof(uintptr_t));
	if (!s)
		return NULL;
	s->hash = h;
	s->depth = depth;
	ingot_memcpy(s->pcs, pcs, depth * sizeof(uintptr_t));
	s->next = *bucket;
	*bucket = s;
	return s;
}

/* ---- records ------------------------------------------------------------------- */

static bool records_put(uintptr_t p, size_t usable, struct prof_site *site, uint64_t thread)
{
	if (!grow((void **)&prof_records, sizeof(struct prof_record), &prof_records_cap, prof_nlive))
		return false;
	struct prof_record *r =
	    &prof_records[probe(prof_records, sizeof(*r), prof_records_cap, p)];
	if (r->addr == p)
		return false; /* cannot happen for a block just handed out */
	*r = (struct prof_record){p, usable, site, thread};
	__atomic_fetch_add(prof_filter_slot(p), 1, __ATOMIC_RELAXED);
	__atomic_store_n(&prof_nlive, prof_nlive + 1, __ATOMIC_RELAXED);
	return true;
}

/* Takes p's record out; false when p has none. */
static bool records_take(uintptr_t p, struct prof_record *out)
{
	if (prof_records_cap == 0)
		return false;
	size_t i = probe(prof_records, sizeof(struct prof_record), prof_records_cap, p);
	if (prof_records[i].addr != p)
		return false;
	*out = prof_records[i];
	unprobe(prof_records, sizeof(struct prof_record), prof_records_cap, i);
	__atomic_fetch_sub(prof_filter_slot(p), 1, __ATOMIC_RELAXED);
	__atomic_store_n(&prof_nlive, prof_nlive - 1, __ATOMIC_RELAXED);
	return true;
}

/* ---- sampling ------------------------------------------------------------------ */

static bool thread_samples(struct prof_thread *t)
{
	if (t->active == 0)
		t->active = __atomic_load_n(&thread_active_init, __ATOMIC_RELAXED) ? 1 : 2;
	return t->active == 1 && __atomic_load_n(&active, __ATOMIC_RELAXED);
}

/* Mapped bytes of every arena, read without their locks (gdump only needs
 * to see a new peak, not an exact figure). */
INGOT_RACY_READ static size_t mapped_now(void)
{
	size_t total = 0;
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		const struct arena *a = arena_get(i);
		if (a)
			total += (a->heap.npages_mapped << LG_PAGE) + a->huge_mapped;
	}
	return total;
}

/* Which automatic dumps are due after a sample; under prof_lock. */
static unsigned dumps_due(double bytes)
{
	unsigned due = 0;
	alloc_estimate += bytes;
	if (opt.lg_prof_interval >= 0 && alloc_estimate >= next_interval) {
		next_interval = alloc_estimate + (double)(UINT64_C(1) << opt.lg_prof_interval);
		due |= 1u << 0;
	}
	if (__atomic_load_n(&gdump_on, __ATOMIC_RELAXED)) {
		size_t mapped = mapped_now();
		if (mapped > mapped_peak) {
			mapped_peak = mapped;
			due |= 1u << 1;
		}
	}
	if (opt.prof_threshold && live_estimate >= next_threshold) {
		uint64_t now = arch_now_ns();
		if (last_threshold_ns == 0 ||
		    now - last_threshold_ns >= opt.prof_threshold_min_ms * UINT64_C(1000000)) {
			last_threshold_ns = now;
			next_threshold = opt.prof_threshold_growth
			                     ? live_estimate * (1 + opt.prof_threshold_growth / 100.0)
			                     : 1e300;
			due |= 1u << 2;
		}
	}
	return due;
}

static void record(uintptr_t p, size_t usable)
{
	struct prof_thread *t = thread_state();
	if (t->busy || !thread_samples(t))
		return;
	t->busy = true;
	uintptr_t pcs[PROF_DEPTH_MAX];
	unsigned depth = arch_backtrace(pcs, PROF_DEPTH_MAX);
	bool small = class_at(p) != 0;
	unsigned due = 0;
	arch_lock_acquire(&prof_lock);
	struct prof_site *site = site_get(pcs, depth);
	if (site && (!small || page_hide(p))) {
		if (t->number == 0)
			t->number = ++prof_nthreads;
		if (records_put(p, usable, site, t->number - 1)) {
			double w = prof_weight(usable);
			site->accum_samples++;
			site->accum_objs += w;
			site->accum_bytes += w * (double)usable;
			live_estimate += w * (double)usable;
			due = dumps_due(w * (double)usable);
		} else if (small) {
			page_show(p);
		}
	}
	arch_lock_release(&prof_lock);
	if (due & 1)
		prof_dump_auto(PROF_DUMP_INTERVAL);
	if (due & 2)
		prof_dump_auto(PROF_DUMP_GDUMP);
	if (due & 4)
		prof_dump_auto(PROF_DUMP_THRESHOLD);
	t->busy = false;
}

void prof_sample(void *p, size_t usable)
{
	record((uintptr_t)p, usable);
}

void prof_count_big_slow(void *p, size_t usable)
{
	struct prof_thread *t = thread_state();
	if (t->bytes_left < 0)
		t->bytes_left = draw_exponential(t) * prof_rate;
	t->bytes_left -= (double)usable;
	if (t->bytes_left >= 0)
		return;
	t->bytes_left = draw_exponential(t) * prof_rate;
	record((uintptr_t)p, usable);
}

void prof_free(void *p)
{
	struct prof_record r;
	arch_lock_acquire(&prof_lock);
	if (records_take((uintptr_t)p, &r)) {
		live_estimate -= prof_weight(r.usable) * (double)r.usable;
		if (class_at(r.addr) != 0)
			page_show(r.addr);
	}
	arch_lock_release(&prof_lock);
}

/* ---- start-up and controls ----------------------------------------------------- */

static void set_rate(unsigned lg)
{
	lg_sample = MIN(lg, 62u);
	prof_rate = (double)(UINT64_C(1) << lg_sample);
}

void prof_boot(void)
{
	prof_enabled = opt.prof;
	active = opt.prof && opt.prof_active;
	thread_active_init = opt.prof_thread_active_init;
	gdump_on = opt.prof_gdump;
	set_rate((unsigned)MIN(opt.lg_prof_sample, 62u));
	next_interval = opt.lg_prof_interval >= 0 ? (double)(UINT64_C(1) << MIN(opt.lg_prof_interval, 62))
	                                          : 0;
	next_threshold = (double)opt.prof_threshold;
	if (!prof_enabled)
		return;
	prof_nbuckets = 4096;
	prof_sites = base_alloc(prof_nbuckets * sizeof(*prof_sites));
	prof_filter = base_alloc(sizeof(uint32_t) << PROF_FILTER_BITS);
	if (!prof_sites || !prof_filter) {
		prof_enabled = false;
		active = false;
	}
}

void prof_backtrace_prepare(void)
{
	struct prof_thread *t = thread_state();
	t->busy = true;
	(void)arch_backtrace(NULL, 0);
	t->busy = false;
}

bool prof_active_get(void) { return __atomic_load_n(&active, __ATOMIC_RELAXED); }
void prof_active_set(bool on) { __atomic_store_n(&active, on && prof_enabled, __ATOMIC_RELAXED); }

bool prof_thread_active_get(void)
{
	struct prof_thread *t = &prof_tls;
	return t->active == 0 ? __atomic_load_n(&thread_active_init, __ATOMIC_RELAXED) : t->active == 1;
}

void prof_thread_active_set(bool on) { prof_tls.active = on ? 1 : 2; }

bool prof_thread_active_init_get(void) { return __atomic_load_n(&thread_active_init, __ATOMIC_RELAXED); }
void prof_thread_active_init_set(bool on) { __atomic_store_n(&thread_active_init, on, __ATOMIC_RELAXED); }

bool prof_gdump_get(void) { return __atomic_load_n(&gdump_on, __ATOMIC_RELAXED); }
void prof_gdump_set(bool on) { __atomic_store_n(&gdump_on, on, __ATOMIC_RELAXED); }

unsigned prof_lg_sample(void) { return lg_sample; }

uint64_t prof_interval(void)
{
	return opt.prof && opt.lg_prof_interval >= 0 ? UINT64_C(1) << MIN(opt.lg_prof_interval, 63) : 0;
}

const char *prof_thread_name(void) { return prof_tls.name; }

void prof_thread_name_set(const char *name)
{
	size_t i = 0;
	for (; name && name[i] && i + 1 < PROF_NAME_MAX; i++)
		prof_tls.name[i] = name[i];
	prof_tls.name[i] = '\0';
}

void prof_reset(unsigned lg)
{
	arch_lock_acquire(&prof_lock);
	for (size_t i = 0; i < hidden_cap; i++)
		if (hidden_pages[i].page)
			window_restore(hidden_pages[i].page);
	if (prof_records_cap)
		ingot_memset(prof_records, 0, prof_records_cap * sizeof(*prof_records));
	if (hidden_cap)
		ingot_memset(hidden_pages, 0, hidden_cap * sizeof(*hidden_pages));
	ingot_memset(prof_filter, 0, sizeof(uint32_t) << PROF_FILTER_BITS);
	hidden_used = 0;
	__atomic_store_n(&prof_nlive, 0, __ATOMIC_RELAXED);
	for (size_t b = 0; b < prof_nbuckets; b++)
		for (struct prof_site *s = prof_sites[b]; s; s = s->next) {
			s->accum_samples = 0;
			s->accum_objs = s->accum_bytes = 0;
		}
	live_estimate = 0;
	set_rate(lg);
	arch_lock_release(&prof_lock);
}

void prof_fork_prepare(void) { arch_lock_acquire(&prof_lock); }
void prof_fork_parent(void) { arch_lock_release(&prof_lock); }
void prof_fork_child(void) { arch_lock_reset(&prof_lock); }
