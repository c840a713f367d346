/* Producer/consumer across threads: every free is a remote free.
 *
 * --threads N threads stand in a ring; thread i allocates blocks (16..256 bytes,
 * log-uniform), writes them and passes them through a single-producer
 * single-consumer queue to thread i+1, which reads and frees them. Each thread
 * thus produces and consumes the same number of blocks. With --threads 1 the
 * thread passes blocks to itself: the same work with local frees only, the
 * baseline for the cost of remote frees. ops = blocks passed in total. */
#include "../common/bench.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define QCAP 1024 /* queue capacity (a power of two) */
#define TABLE 4096

/* One queue; head and tail on their own cache lines. */
typedef struct queue {
    _Alignas(64) _Atomic size_t head; /* next slot to read; written by the consumer */
    _Alignas(64) _Atomic size_t tail; /* next slot to write; written by the producer */
    _Alignas(64) long *slot[QCAP];
} queue_t;

typedef struct worker {
    queue_t *in, *out;
    long blocks;
    uint64_t seed;
    long checksum;
} worker_t;

/* Frees everything waiting in q; returns how many. */
static long drain(queue_t *q, long *checksum)
{
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    for (size_t i = h; i != t; i++) {
        long *p = q->slot[i & (QCAP - 1)];
        *checksum += p[0];
        free(p);
    }
    atomic_store_explicit(&q->head, t, memory_order_release);
    return (long)(t - h);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    size_t sizes[TABLE];
    bench_rng_t rng;
    bench_rng_init(&rng, w->seed);
    bench_size_table(sizes, TABLE, &rng, 16, 256);

    long made = 0, freed = 0;
    while (made < w->blocks || freed < w->blocks) {
        size_t t = atomic_load_explicit(&w->out->tail, memory_order_relaxed);
        size_t h = atomic_load_explicit(&w->out->head, memory_order_acquire);
        size_t room = QCAP - (t - h);
        long n = 0;
        for (; made < w->blocks && (size_t)n < room; n++, made++) {
            long *p = malloc(sizes[made & (TABLE - 1)]);
            p[0] = made;
            w->out->slot[(t + (size_t)n) & (QCAP - 1)] = p;
        }
        atomic_store_explicit(&w->out->tail, t + (size_t)n, memory_order_release);
        long got = drain(w->in, &w->checksum);
        freed += got;
        if (n == 0 && got == 0)
            sched_yield(); /* neighbour is behind: let it run (matters when threads > cores) */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 256};
    bench_parse(&o, argc, argv);
    long blocks = bench_count(&o, 4000000);
    int n = o.threads;

    queue_t *q = aligned_alloc(64, sizeof(queue_t) * (size_t)n);
    worker_t *w = calloc((size_t)n, sizeof *w);
    if (q == NULL || w == NULL)
        bench_die("out of memory");
    for (int i = 0; i < n; i++) {
        atomic_init(&q[i].head, 0);
        atomic_init(&q[i].tail, 0);
    }
    for (int i = 0; i < n; i++)
        w[i] = (worker_t){.in = &q[i], .out = &q[(i + 1) % n], .blocks = blocks, .seed = o.seed + (uint64_t)i};
    double t = bench_run_threads(n, worker_main, w, sizeof w[0]);

    /* Each thread made 0..blocks-1 once, so each received that sum. */
    long want = blocks * (blocks - 1) / 2;
    for (int i = 0; i < n; i++)
        if (w[i].checksum != want)
            bench_die("thread %d received a wrong sum of blocks", i);
    free(q);
    free(w);

    char name[32];
    snprintf(name, sizeof name, "prodcons-t%d", n);
    bench_result(name, (double)blocks * n, t, "");
    return 0;
}
