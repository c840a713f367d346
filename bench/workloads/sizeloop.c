/* Hot loops over one size range, on --threads independent threads.
 *
 *   --mode pair   malloc then free at once (the best case of every cache)
 *   --mode batch  malloc 1000 blocks, then free the 1000 in allocation order
 *   --mode mix    a pool of 1000 live blocks per thread; each step frees a
 *                 random one and puts a block of random size in its place
 *   --mode sized  as pair, but each block is freed with its size through C++'s
 *                 sized delete, operator delete(void *, size_t): every peer
 *                 exports it as its sized free. An allocator that does not
 *                 (glibc: libstdc++'s calls free) is timed with free.
 *
 * Sizes are log-uniform in [--min, --max]. Each thread does the same number of
 * malloc+free pairs, so ops = threads * pairs and throughput is ops/seconds.
 * Every block gets one word written, as any user would. */
#include "../common/bench.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE 4096     /* sizes table length (a power of two) */
#define PICKS 4093     /* pool index table length: coprime with TABLE, longer period */
#define BATCH 1000
#define POOL 1000

typedef struct worker {
    const char *mode;
    long pairs;
    size_t min, max;
    uint64_t seed;
} worker_t;

static void run_pair(const size_t *sizes, long pairs)
{
    for (long i = 0; i < pairs; i++) {
        long *p = malloc(sizes[i & (TABLE - 1)]);
        p[0] = i;
        bench_escape(p);
        free(p);
    }
}

/* The preloaded allocator's sized delete, or NULL. */
typedef void (*sized_free_fn)(void *, size_t);
static sized_free_fn sized_free;

static void plain_free(void *p, size_t size)
{
    (void)size;
    free(p);
}

static void run_sized(const size_t *sizes, long pairs)
{
    sized_free_fn release = sized_free ? sized_free : plain_free;
    for (long i = 0; i < pairs; i++) {
        size_t size = sizes[i & (TABLE - 1)];
        long *p = malloc(size);
        p[0] = i;
        bench_escape(p);
        release(p, size);
    }
}

static void run_batch(const size_t *sizes, long pairs)
{
    void *blocks[BATCH];
    long k = 0;
    for (long done = 0; done < pairs; done += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            long *p = malloc(sizes[k++ & (TABLE - 1)]);
            p[0] = j;
            blocks[j] = p;
        }
        bench_escape(blocks);
        for (int j = 0; j < BATCH; j++)
            free(blocks[j]);
    }
}

static void run_mix(const size_t *sizes, const unsigned *picks, long pairs)
{
    void *pool[POOL];
    for (int j = 0; j < POOL; j++)
        pool[j] = malloc(sizes[j]);
    for (long i = 0; i < pairs; i++) {
        unsigned j = picks[i % PICKS];
        free(pool[j]);
        long *p = malloc(sizes[i & (TABLE - 1)]);
        p[0] = i;
        pool[j] = p;
    }
    bench_escape(pool);
    for (int j = 0; j < POOL; j++)
        free(pool[j]);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    static _Thread_local size_t sizes[TABLE];
    static _Thread_local unsigned picks[PICKS];
    bench_rng_t rng;
    bench_rng_init(&rng, w->seed);
    bench_size_table(sizes, TABLE, &rng, w->min, w->max);
    for (int i = 0; i < PICKS; i++)
        picks[i] = (unsigned)bench_below(&rng, POOL);

    if (strcmp(w->mode, "pair") == 0)
        run_pair(sizes, w->pairs);
    else if (strcmp(w->mode, "sized") == 0)
        run_sized(sizes, w->pairs);
    else if (strcmp(w->mode, "batch") == 0)
        run_batch(sizes, w->pairs);
    else
        run_mix(sizes, picks, w->pairs);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "pair", .min = 16, .max = 1024};
    bench_parse(&o, argc, argv);
    if (strcmp(o.mode, "pair") != 0 && strcmp(o.mode, "batch") != 0 && strcmp(o.mode, "mix") != 0 &&
        strcmp(o.mode, "sized") != 0)
        bench_die("--mode must be pair, batch, mix or sized");
    sized_free = (sized_free_fn)dlsym(RTLD_DEFAULT, "_ZdlPvm");

    /* About 0.3 s per thread under glibc for small sizes on the reference machine. */
    int hot = strcmp(o.mode, "pair") == 0 || strcmp(o.mode, "sized") == 0;
    long pairs = bench_count(&o, hot ? 10000000 : 5000000);
    if (strcmp(o.mode, "batch") == 0)
        pairs = (pairs + BATCH - 1) / BATCH * BATCH;
    worker_t w[1024];
    for (int i = 0; i < o.threads; i++)
        w[i] = (worker_t){o.mode, pairs, o.min, o.max, o.seed + (uint64_t)i};
    double t = bench_run_threads(o.threads, worker_main, w, sizeof w[0]);

    char name[64];
    snprintf(name, sizeof name, "%s-%zu-%zu-t%d", o.mode, o.min, o.max, o.threads);
    bench_result(name, (double)pairs * o.threads, t, "");
    return 0;
}
