/* Server simulation (in the manner of Larson and Krishnan's benchmark).
 *
 * --threads N threads each keep 1000 live blocks of 16..1024 bytes, like a server
 * holding per-connection state. Each step frees a random block of the thread's
 * and allocates a new one in its place. One step in eight also hands the new
 * block over: it goes into a shared exchange table, and the block that was
 * there (allocated by whichever thread put it in) takes its place in the
 * thread's own set, to be freed later by this thread. So blocks keep moving
 * between threads and many frees are remote. ops = steps in total. */
#include "../common/bench.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 1000        /* live blocks per thread */
#define EXCHANGE 4096     /* shared exchange table (a power of two) */
#define TABLE 4096

static _Atomic(long *) exchange[EXCHANGE];

typedef struct worker {
    long steps;
    uint64_t seed;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    size_t sizes[TABLE];
    unsigned picks[TABLE];
    long *slot[SLOTS];
    bench_rng_t rng;
    bench_rng_init(&rng, w->seed);
    bench_size_table(sizes, TABLE, &rng, 16, 1024);
    for (int i = 0; i < TABLE; i++)
        picks[i] = (unsigned)bench_below(&rng, SLOTS * 8); /* slot * 8 + one-in-eight hand-over */
    for (int i = 0; i < SLOTS; i++) {
        slot[i] = malloc(sizes[i]);
        slot[i][0] = i;
    }

    for (long k = 0; k < w->steps; k++) {
        unsigned pick = picks[k % TABLE];
        unsigned i = pick >> 3;
        free(slot[i]);
        long *p = malloc(sizes[(size_t)(k * 7) & (TABLE - 1)]);
        p[0] = k;
        if ((pick & 7) == 0)
            p = atomic_exchange_explicit(&exchange[(size_t)(k * 31 + i) & (EXCHANGE - 1)], p,
                                         memory_order_acq_rel);
        slot[i] = p; /* may be NULL: the exchange slot was empty; free(NULL) is fine */
    }
    for (int i = 0; i < SLOTS; i++)
        free(slot[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 1024};
    bench_parse(&o, argc, argv);
    long steps = bench_count(&o, 5000000);
    worker_t w[1024];
    for (int i = 0; i < o.threads; i++)
        w[i] = (worker_t){steps, o.seed + (uint64_t)i};
    double t = bench_run_threads(o.threads, worker_main, w, sizeof w[0]);
    for (int i = 0; i < EXCHANGE; i++)
        free(atomic_load(&exchange[i]));

    char name[32];
    snprintf(name, sizeof name, "larson-t%d", o.threads);
    bench_result(name, (double)steps * o.threads, t, "");
    return 0;
}
