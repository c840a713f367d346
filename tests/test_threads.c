/*
 * test_threads.c — many threads at once: random workloads with cross-thread
 * frees, thread churn, a producer/consumer pair, and remote frees (blocks of
 * another thread's arena) going home.
 *
 * Not a benchmark: the point is that every block keeps its contents while it
 * lives, that blocks freed by other threads go home, and that the heap and
 * its metadata stay bounded. Seeds are fixed, so a failure repeats (up to
 * thread scheduling).
 */
#include "helpers.h"

#include <sched.h>
#include <stdatomic.h>

#include "sizeclass.h"
#include "ingot.h"

/* ThreadSanitizer runs these several times slower; it needs fewer rounds to
 * see the same interleavings. */
#define SCALE(n) (TEST_UNDER_TSAN ? (n) / 8 : (n))

/* A block and the seed of the pattern it holds. Only the first and last
 * PATTERN_SPAN bytes are filled, so large blocks stay cheap. */
struct block {
	uint8_t *p;
	size_t size;
	uint64_t seed;
};

#define PATTERN_SPAN 256

static void block_fill(struct block *b)
{
	size_t head = b->size < PATTERN_SPAN ? b->size : PATTERN_SPAN;
	pattern_fill(b->p, head, b->seed);
	if (b->size > 2 * PATTERN_SPAN)
		pattern_fill(b->p + b->size - PATTERN_SPAN, PATTERN_SPAN, ~b->seed);
}

static bool block_intact(const struct block *b)
{
	size_t head = b->size < PATTERN_SPAN ? b->size : PATTERN_SPAN;
	if (pattern_mismatch(b->p, head, b->seed) != SIZE_MAX)
		return false;
	return b->size <= 2 * PATTERN_SPAN ||
	       pattern_mismatch(b->p + b->size - PATTERN_SPAN, PATTERN_SPAN, ~b->seed) == SIZE_MAX;
}

/* Mostly small sizes, some large, a few huge. */
static size_t random_size(uint64_t *rng)
{
	size_t r = rng_below(rng, 1000);
	if (r < 700)
		return rng_below(rng, 512);
	if (r < 950)
		return rng_below(rng, SC_SMALL_MAX);
	if (r < 998)
		return rng_below(rng, 512 * KiB);
	return 2 * MiB + rng_below(rng, 2 * MiB);
}

/* ---- random workload with cross-thread frees --------------------------------- */

/* Blocks on their way from one thread to another, under a lock. */
struct handoff_queue {
	pthread_mutex_t lock;
	struct block *items;
	size_t len, cap;
};

static void queue_push(struct handoff_queue *q, struct block b)
{
	pthread_mutex_lock(&q->lock);
	if (q->len == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 1024;
		q->items = realloc(q->items, q->cap * sizeof(*q->items)); /* libc's */
	}
	q->items[q->len++] = b;
	pthread_mutex_unlock(&q->lock);
}

static bool queue_pop(struct handoff_queue *q, struct block *out)
{
	pthread_mutex_lock(&q->lock);
	bool got = q->len > 0;
	if (got)
		*out = q->items[--q->len];
	pthread_mutex_unlock(&q->lock);
	return got;
}

#define WORKERS 8
#define LIVE_SLOTS 512

struct worker {
	unsigned id;
	struct handoff_queue *queue;
	unsigned long ops;
	unsigned long handed, freed_from_others;
};

static void *random_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 1000 + w->id;
	struct block live[LIVE_SLOTS] = {{0}};
	for (unsigned long op = 0; op < w->ops; op++) {
		struct block *b = &live[rng_below(&rng, LIVE_SLOTS)];
		if (b->p) {
			THREAD_CHECK(block_intact(b), "worker %u: block %p (%zu bytes) corrupted", w->id,
			             (void *)b->p, b->size);
			if (rng_below(&rng, 10) < 3) {
				queue_push(w->queue, *b);
				w->handed++;
			} else {
				ingot_free(b->p);
			}
			b->p = NULL;
		} else {
			b->size = random_size(&rng);
			b->p = ingot_malloc(b->size);
			THREAD_CHECK(b->p != NULL, "worker %u: malloc(%zu) failed", w->id, b->size);
			b->seed = rng_next(&rng);
			block_fill(b);
		}
		struct block other;
		if (op % 4 == 0 && queue_pop(w->queue, &other)) {
			THREAD_CHECK(block_intact(&other), "worker %u: handed-over block %p corrupted",
			             w->id, (void *)other.p);
			ingot_free(other.p);
			w->freed_from_others++;
		}
	}
	for (size_t i = 0; i < LIVE_SLOTS; i++) {
		if (live[i].p) {
			THREAD_CHECK(block_intact(&live[i]), "worker %u: block corrupted at the end",
			             w->id);
			ingot_free(live[i].p);
		}
	}
	return NULL;
}

/* After a test's threads freed every block they made: the heap is sound and
 * holds what it held before them (st0, taken before they started). */
static void assert_everything_freed(const struct ingot_stats *st0)
{
	ingot_thread_flush();
	cr_assert_eq(ingot_check(), 0);
	struct ingot_stats st1;
	ingot_stats_get(&st1);
	if (INGOT_STATS)
		cr_assert_eq(st1.allocated, st0->allocated,
		             "allocated %zu before the threads, %zu after they freed everything",
		             st0->allocated, st1.allocated);
}

Test(threads, random_sizes_with_cross_thread_frees, .timeout = 120)
{
	ingot_free(ingot_malloc(1)); /* boots ingot */
	struct ingot_stats st0;
	ingot_stats_get(&st0);
	struct handoff_queue queue = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	for (unsigned i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){.id = i, .queue = &queue, .ops = SCALE(200000)};
		t[i] = start_thread(random_worker, &w[i]);
	}
	/* ingot_check() and ingot_stats_get() may be called at any moment from
	 * any thread: run them while the workers are busy. */
	for (int i = 0; i < SCALE(200); i++) {
		cr_assert_eq(ingot_check(), 0, "heap inconsistent while the workers run");
		struct ingot_stats st;
		ingot_stats_get(&st);
		cr_assert_leq(st.active, st.mapped);
		usleep(1000);
	}
	for (unsigned i = 0; i < WORKERS; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	unsigned long handed = 0, taken = 0;
	for (unsigned i = 0; i < WORKERS; i++) {
		handed += w[i].handed;
		taken += w[i].freed_from_others;
	}
	cr_assert_gt(taken, 1000, "too few cross-thread frees (%lu) to test anything", taken);
	struct block b;
	while (queue_pop(&queue, &b)) {
		cr_assert(block_intact(&b), "queued block %p corrupted", (void *)b.p);
		ingot_free(b.p);
		taken++;
	}
	cr_assert_eq(taken, handed);
	free(queue.items);
	assert_everything_freed(&st0);
}

/* ---- thread churn ------------------------------------------------------------------ */

#define CHURN_KEEP 4 /* blocks each thread leaves to main */

struct churn_slot {
	struct block kept[CHURN_KEEP];
	unsigned seed;
};

static void *churn_thread(void *arg)
{
	struct churn_slot *s = arg;
	uint64_t rng = s->seed;
	struct block b[100];
	for (int i = 0; i < 100; i++) {
		b[i].size = rng_below(&rng, 8) ? rng_below(&rng, 1024) : rng_below(&rng, 64 * KiB);
		b[i].p = ingot_malloc(b[i].size);
		THREAD_CHECK(b[i].p != NULL, "malloc failed");
		b[i].seed = rng_next(&rng);
		block_fill(&b[i]);
	}
	for (int i = 0; i < 100; i++)
		THREAD_CHECK(block_intact(&b[i]), "churn block corrupted");
	for (int i = 0; i < CHURN_KEEP; i++)
		s->kept[i] = b[i];
	for (int i = CHURN_KEEP; i < 100; i++)
		ingot_free(b[i].p);
	return NULL; /* exits with blocks still cached */
}

/* Runs n threads, a batch of `batch` at a time; main frees what they left. */
static void churn(unsigned n, unsigned first_seed)
{
	enum { BATCH = 8 };
	struct churn_slot slots[BATCH];
	pthread_t t[BATCH];
	for (unsigned done = 0; done < n; done += BATCH) {
		for (unsigned i = 0; i < BATCH; i++) {
			slots[i].seed = first_seed + done + i;
			t[i] = start_thread(churn_thread, &slots[i]);
		}
		for (unsigned i = 0; i < BATCH; i++)
			join_thread(t[i]);
		assert_no_thread_failure();
		for (unsigned i = 0; i < BATCH; i++)
			for (int k = 0; k < CHURN_KEEP; k++) {
				cr_assert(block_intact(&slots[i].kept[k]), "block left by a thread corrupted");
				ingot_free(slots[i].kept[k].p);
			}
	}
}

Test(threads, thread_churn_does_not_grow_metadata, .timeout = 120)
{
	ingot_free(ingot_malloc(1));
	unsigned n = SCALE(2000);
	churn(n / 2, 0);
	struct ingot_stats half, full;
	ingot_stats_get(&half);
	churn(n / 2, n / 2);
	ingot_stats_get(&full);
	/* Exited threads' cache memory is reused; metadata grows in 2 MiB
	 * blocks, so allow one. Leaking one cache per thread would take
	 * several MiB for these threads. */
	cr_assert_leq(full.metadata, half.metadata + 2 * MiB,
	              "metadata %zu after %u threads, %zu after %u", half.metadata, n / 2,
	              full.metadata, n);
	cr_assert_leq(full.active, half.active + 4 * MiB, "active %zu after %u threads, %zu after %u",
	              half.active, n / 2, full.active, n);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- producer / consumer ------------------------------------------------------------ */

#define RING 1024

struct ring {
	struct block slot[RING];
	_Atomic size_t head; /* next to write (producer) */
	_Atomic size_t tail; /* next to read (consumer) */
	unsigned long count;
	size_t max_active;
};

static void *producer(void *arg)
{
	struct ring *r = arg;
	uint64_t rng = 7;
	for (unsigned long i = 0; i < r->count; i++) {
		size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
		while (head - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
			sched_yield();
		struct block *b = &r->slot[head % RING];
		b->size = rng_below(&rng, 16) ? 1 + rng_below(&rng, 256) : 1 + rng_below(&rng, 8192);
		b->p = ingot_malloc(b->size);
		THREAD_CHECK(b->p != NULL, "producer: malloc failed");
		b->seed = i;
		block_fill(b);
		atomic_store_explicit(&r->head, head + 1, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct ring *r = arg;
	for (unsigned long i = 0; i < r->count; i++) {
		size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		while (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
			sched_yield();
		struct block *b = &r->slot[tail % RING];
		THREAD_CHECK(block_intact(b), "consumer: block %lu corrupted", i);
		ingot_free(b->p);
		atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
		if (i % 65536 == 0) {
			struct ingot_stats st;
			ingot_stats_get(&st);
			r->max_active = st.active > r->max_active ? st.active : r->max_active;
		}
	}
	return NULL;
}

Test(threads, producer_consumer_stays_bounded, .timeout = 120)
{
	ingot_free(ingot_malloc(1));
	static struct ring r;
	r.count = SCALE(1000000);
	pthread_t p = start_thread(producer, &r);
	pthread_t c = start_thread(consumer, &r);
	join_thread(p);
	join_thread(c);
	assert_no_thread_failure();
	struct ingot_stats st;
	ingot_stats_get(&st);
	r.max_active = st.active > r.max_active ? st.active : r.max_active;
	/* At most RING blocks of at most 8 KiB are live at once. */
	cr_assert_lt(r.max_active, 64 * MiB, "active reached %zu bytes", r.max_active);
	cr_assert_lt(st.resident, 128 * MiB, "resident %zu bytes at the end", st.resident);
	cr_assert_eq(ingot_check(), 0);
}

/* Threads that replace huge blocks of changing sizes share one arena's
 * cache of huge mappings, which hands a freed mapping to the next block
 * (grown by moving its pages, or with the pages past the block kept): no
 * block is handed to two threads at once or loses what was written. */
enum { HUGE_THREADS = 3, HUGE_LIVE = 2 };

static void *huge_replacer(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
	char *live[HUGE_LIVE] = {0};
	size_t size[HUGE_LIVE] = {0};
	char tag[HUGE_LIVE] = {0};
	for (int step = 0; step < SCALE(64); step++) {
		unsigned i = (unsigned)rng_below(&rng, HUGE_LIVE);
		size_t n = 5 * MiB + rng_below(&rng, 8 * MiB);
		char *p = ingot_malloc(n);
		THREAD_CHECK(p != NULL, "malloc(%zu) failed", n);
		char t = (char)(rng_below(&rng, 250) + 1);
		for (size_t off = 0; off < n; off += 4096)
			p[off] = t;
		p[n - 1] = t;
		if (live[i]) {
			for (size_t off = 0; off < size[i]; off += 4096)
				THREAD_CHECK(live[i][off] == tag[i], "a live huge block changed under its owner");
			THREAD_CHECK(live[i][size[i] - 1] == tag[i], "a live huge block's last byte changed");
			ingot_free(live[i]);
		}
		live[i] = p;
		size[i] = n;
		tag[i] = t;
	}
	for (unsigned i = 0; i < HUGE_LIVE; i++)
		ingot_free(live[i]);
	return NULL;
}

Test(threads, huge_blocks_replaced_by_several_threads, .timeout = 120)
{
	setenv("INGOT_CONF", "narenas:1,dirty_decay_ms:10000", 1);
	pthread_t t[HUGE_THREADS];
	for (uintptr_t i = 0; i < HUGE_THREADS; i++)
		t[i] = start_thread(huge_replacer, (void *)(i + 1));
	for (unsigned i = 0; i < HUGE_THREADS; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- remote frees ------------------------------------------------------------------- */

/* Boots ingot with 8 arenas whatever the CPU count, keeping the options the
 * run set (test-guarded's guard_sample), so that threads started one after
 * another have arenas other than main's: their frees of main's blocks are
 * remote frees. */
static void boot_with_8_arenas(void)
{
	const char *conf = getenv("INGOT_CONF");
	char buf[256];
	snprintf(buf, sizeof buf, "%s%snarenas:8", conf ? conf : "", conf && *conf ? "," : "");
	setenv("INGOT_CONF", buf, 1);
	ingot_free(ingot_malloc(1));
}

/* The calling thread's arena (reading it does not make the thread's cache). */
static unsigned thread_arena_index(void)
{
	unsigned index = UINT32_MAX;
	size_t len = sizeof index;
	ingot_mallctl("thread.arena", &index, &len, NULL, 0);
	return index;
}

#define PASSIVE_THREADS 4
#define PASSIVE_SIZE 16
#define LINE 64

struct passive_worker {
	uint8_t *given[PASSIVE_THREADS]; /* main's blocks, next to each other */
	unsigned id, main_arena;
	bool remote; /* the thread's arena is not main's */
};

/* A worker handed a block by main frees it first, then allocates its own
 * blocks of the size: none may be main's block or share a cache line with
 * main's blocks, or the worker's writes would fight with the other workers'
 * over that line (false sharing). */
static void *passive_worker(void *arg)
{
	struct passive_worker *w = arg;
	w->remote = thread_arena_index() != w->main_arena;
	ingot_free(w->given[w->id]);
	for (int round = 0; round < 100; round++) {
		uint8_t *p = ingot_malloc(PASSIVE_SIZE);
		THREAD_CHECK(p != NULL, "malloc(%d) failed", PASSIVE_SIZE);
		for (unsigned i = 0; i < PASSIVE_THREADS && w->remote; i++)
			THREAD_CHECK((uintptr_t)p / LINE != (uintptr_t)w->given[i] / LINE,
			             "worker %u got %p, on the cache line of main's block %p", w->id,
			             (void *)p, (void *)w->given[i]);
		memset(p, (int)round, PASSIVE_SIZE);
		ingot_free(p);
	}
	return NULL;
}

Test(threads, a_block_freed_by_a_new_thread_goes_home, .timeout = 60)
{
	boot_with_8_arenas();
	struct passive_worker w[PASSIVE_THREADS];
	uint8_t *given[PASSIVE_THREADS];
	for (unsigned i = 0; i < PASSIVE_THREADS; i++) {
		given[i] = ingot_malloc(PASSIVE_SIZE);
		cr_assert_not_null(given[i]);
		memset(given[i], 0, PASSIVE_SIZE);
	}
	pthread_t t[PASSIVE_THREADS];
	for (unsigned i = 0; i < PASSIVE_THREADS; i++) {
		w[i] = (struct passive_worker){.id = i, .main_arena = thread_arena_index()};
		memcpy(w[i].given, given, sizeof given);
		t[i] = start_thread(passive_worker, &w[i]);
	}
	unsigned remote = 0;
	for (unsigned i = 0; i < PASSIVE_THREADS; i++) {
		join_thread(t[i]);
		remote += w[i].remote;
	}
	assert_no_thread_failure();
	cr_assert_geq(remote, PASSIVE_THREADS - 1, "only %u workers had an arena of their own", remote);
	cr_assert_eq(ingot_check(), 0);
}

/* Small objects out of arena 0's bins (in caches or in use), summed over
 * the bins: a checked heap's canary moves a request to a larger class. */
static size_t arena0_curregs(void)
{
	uint64_t epoch = 1;
	size_t len = sizeof epoch;
	ingot_mallctl("epoch", &epoch, &len, &epoch, sizeof epoch);
	unsigned nbins = 0;
	len = sizeof nbins;
	ingot_mallctl("arenas.nbins", &nbins, &len, NULL, 0);
	size_t total = 0;
	for (unsigned j = 0; j < nbins; j++) {
		char name[64];
		snprintf(name, sizeof name, "stats.arenas.0.bins.%u.curregs", j);
		size_t curregs = SIZE_MAX;
		len = sizeof curregs;
		if (ingot_mallctl(name, &curregs, &len, NULL, 0) != 0)
			return SIZE_MAX;
		total += curregs;
	}
	return nbins ? total : SIZE_MAX;
}

struct first_free {
	void *given;
	size_t curregs_after;
};

static void *first_free_worker(void *arg)
{
	struct first_free *f = arg;
	ingot_free(f->given);
	f->curregs_after = arena0_curregs();
	return NULL;
}

/* With one arena for all threads the worker's cache cannot tell main's
 * block by its arena; its stack of the class has not taken anything from
 * the bin yet, though, so the block is not its own: it goes home, the bins
 * count one object fewer out. Without guarded samples (test-guarded sets
 * them): a guarded block never comes from a bin. (A hardened heap's
 * quarantine would hold the block a while first; this suite does not run
 * hardened.) */
Test(threads, a_new_threads_first_free_goes_home_in_a_shared_arena, .timeout = 60)
{
	if (!INGOT_STATS)
		cr_skip_test("needs the bins' statistics");
	const char *conf = getenv("INGOT_CONF");
	char buf[256];
	snprintf(buf, sizeof buf, "%s%snarenas:1,guard_sample:0", conf ? conf : "",
	         conf && *conf ? "," : "");
	setenv("INGOT_CONF", buf, 1);
	struct first_free f = {.given = ingot_malloc(PASSIVE_SIZE)};
	cr_assert_not_null(f.given);
	size_t before = arena0_curregs();
	cr_assert_neq(before, SIZE_MAX);
	join_thread(start_thread(first_free_worker, &f));
	assert_no_thread_failure();
	cr_assert_eq(f.curregs_after, before - 1, "%zu objects out of the bins before the worker's free, %zu after",
	             before, f.curregs_after);
}

/* Threads in a ring each allocate a burst of blocks of a few classes, hand
 * them all to the next thread, and free the burst the previous one handed
 * them: every free is remote, and bursts overflow the stacks, which send
 * the other arenas' blocks home. Each generation of threads exits with
 * blocks in its caches and in its inbox; the next frees them. No block may
 * be lost (the allocated bytes come back to where they were) or handed out
 * twice (its pattern would change under its holder). */
#define RING_THREADS 4
#define RING_BURST 1536
#define RING_GENERATIONS 3

struct ring_worker {
	unsigned id;
	struct handoff_queue *inbox, *outbox;
	unsigned rounds;
};

static const size_t ring_sizes[] = {16, 64, 256, 24, 1000};

static void *ring_worker(void *arg)
{
	struct ring_worker *w = arg;
	uint64_t rng = 77 + w->id;
	for (unsigned round = 0; round < w->rounds; round++) {
		for (unsigned i = 0; i < RING_BURST; i++) {
			struct block b = {.size = ring_sizes[rng_below(&rng, sizeof ring_sizes / sizeof ring_sizes[0])]};
			b.p = ingot_malloc(b.size);
			THREAD_CHECK(b.p != NULL, "ring worker %u: malloc(%zu) failed", w->id, b.size);
			b.seed = rng_next(&rng);
			block_fill(&b);
			queue_push(w->outbox, b);
		}
		struct block b;
		for (unsigned i = 0; i < 2 * RING_BURST && queue_pop(w->inbox, &b); i++) {
			THREAD_CHECK(block_intact(&b), "ring worker %u: block %p (%zu bytes) changed",
			             w->id, (void *)b.p, b.size);
			ingot_free(b.p);
		}
	}
	return NULL;
}

Test(threads, remote_frees_in_a_ring_lose_and_double_nothing, .timeout = 120)
{
	boot_with_8_arenas();
	struct ingot_stats st0;
	ingot_stats_get(&st0);
	struct handoff_queue inbox[RING_THREADS];
	for (unsigned i = 0; i < RING_THREADS; i++)
		inbox[i] = (struct handoff_queue){.lock = PTHREAD_MUTEX_INITIALIZER};
	for (unsigned gen = 0; gen < RING_GENERATIONS; gen++) {
		struct ring_worker w[RING_THREADS];
		pthread_t t[RING_THREADS];
		for (unsigned i = 0; i < RING_THREADS; i++) {
			w[i] = (struct ring_worker){.id = i, .inbox = &inbox[i],
			                            .outbox = &inbox[(i + 1) % RING_THREADS],
			                            .rounds = SCALE(40)};
			t[i] = start_thread(ring_worker, &w[i]);
		}
		cr_assert_eq(ingot_check(), 0, "heap inconsistent while the ring runs");
		for (unsigned i = 0; i < RING_THREADS; i++)
			join_thread(t[i]);
		assert_no_thread_failure();
		cr_assert_eq(ingot_check(), 0, "heap inconsistent after generation %u", gen);
	}
	struct block b;
	for (unsigned i = 0; i < RING_THREADS; i++) {
		while (queue_pop(&inbox[i], &b)) {
			cr_assert(block_intact(&b), "queued block %p corrupted", (void *)b.p);
			ingot_free(b.p);
		}
		free(inbox[i].items);
	}
	assert_everything_freed(&st0);
}
