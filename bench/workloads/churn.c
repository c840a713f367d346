/* Thread churn: many short-lived threads.
 *
 * Waves of --threads threads are started and joined until the total count is
 * reached. Each thread allocates 256 blocks of 16..512 bytes, frees three in
 * four itself and hands the rest to the main thread, which frees them after the
 * join. This costs whatever per-thread set-up and tear-down the allocator does
 * (caches created, flushed, handed back). ops = threads started. */
#include "../common/bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 256
#define KEPT (BLOCKS / 4)

typedef struct worker {
    uint64_t seed;
    void *kept[KEPT];
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    void *b[BLOCKS];
    bench_rng_t rng;
    bench_rng_init(&rng, w->seed);
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = bench_size_log(&rng, 16, 512);
        b[i] = malloc(n);
        memset(b[i], i, n);
    }
    for (int i = 0; i < BLOCKS; i++) {
        if (i % 4 == 0)
            w->kept[i / 4] = b[i];
        else
            free(b[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 512};
    bench_parse(&o, argc, argv);
    long total = bench_count(&o, 20000);

    worker_t *w = calloc((size_t)o.threads, sizeof *w);
    pthread_t *tid = calloc((size_t)o.threads, sizeof *tid);
    if (w == NULL || tid == NULL)
        bench_die("out of memory");
    double t0 = bench_now();
    long started = 0;
    while (started < total) {
        int n = 0;
        for (; n < o.threads && started < total; n++, started++) {
            w[n].seed = o.seed + (uint64_t)started;
            int rc = pthread_create(&tid[n], NULL, worker_main, &w[n]);
            if (rc != 0)
                bench_die("pthread_create: %s", strerror(rc));
        }
        for (int i = 0; i < n; i++) {
            pthread_join(tid[i], NULL);
            for (int k = 0; k < KEPT; k++)
                free(w[i].kept[k]);
        }
    }
    double t = bench_now() - t0;
    free(w);
    free(tid);

    char name[32];
    snprintf(name, sizeof name, "churn-t%d", o.threads);
    bench_result(name, (double)total, t, "");
    return 0;
}
