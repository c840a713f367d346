/* Stress of short-lived blocks: threads that keep allocating blocks which die
 * young, some of them in another thread.
 *
 * Each of --threads threads keeps a window of WINDOW blocks. A step replaces
 * one block of the window, picked at random: the old block is freed (or, one
 * time in eight, handed to the next thread, which frees it), and a new one of
 * log-uniform size --min..--max (16..4096 by default) is written and put in
 * its place. Every BURST_EVERY steps a thread also makes a burst of BURST
 * blocks that live only until the burst ends. Blocks live a few thousand
 * steps at most, so the live set stays small and the peak RSS shows how much
 * an allocator keeps beyond it: caches, partly used slabs, memory held by a
 * thread for blocks another thread freed. ops = blocks allocated. */
#include "../common/bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 2048
#define BURST 512
#define BURST_EVERY 4096
#define HANDOFF 64 /* blocks per hand-off batch */
#define INBOX_MAX 1024 /* a fuller inbox (its thread is done) takes no more */

/* Blocks a thread hands to the next one; the receiver takes them all at
 * once under the lock. */
typedef struct inbox {
    pthread_mutex_t lock;
    void **blocks;
    size_t n, cap;
} inbox_t;

typedef struct worker {
    uint64_t seed;
    long steps;
    size_t min, max;
    inbox_t inbox;          /* filled by the previous thread */
    struct worker *next;    /* whom this thread hands blocks to */
    long allocated;
} worker_t;

/* Hands blocks[0..n) to the inbox's thread; frees them here instead when the
 * inbox is full, so that a thread that finished first (and drains no more)
 * does not make the live set grow with the other's run time. */
static void inbox_put(inbox_t *box, void **blocks, size_t n)
{
    pthread_mutex_lock(&box->lock);
    if (box->n + n > INBOX_MAX) {
        pthread_mutex_unlock(&box->lock);
        for (size_t i = 0; i < n; i++)
            free(blocks[i]);
        return;
    }
    if (box->n + n > box->cap) {
        size_t cap = (box->n + n) * 2;
        void **more = realloc(box->blocks, cap * sizeof *more);
        if (more == NULL)
            bench_die("out of memory");
        box->blocks = more;
        box->cap = cap;
    }
    memcpy(box->blocks + box->n, blocks, n * sizeof *blocks);
    box->n += n;
    pthread_mutex_unlock(&box->lock);
}

/* Frees every block handed to this thread so far. */
static void inbox_drain(inbox_t *box)
{
    pthread_mutex_lock(&box->lock);
    for (size_t i = 0; i < box->n; i++)
        free(box->blocks[i]);
    box->n = 0;
    pthread_mutex_unlock(&box->lock);
}

static void *new_block(bench_rng_t *r, const worker_t *w)
{
    size_t n = bench_size_log(r, w->min, w->max);
    char *p = malloc(n);
    if (p == NULL)
        bench_die("malloc(%zu) failed", n);
    memset(p, 0x5a, n < 64 ? n : 64);
    p[n - 1] = 1;
    return p;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_init(&rng, w->seed);
    void *window[WINDOW], *burst[BURST], *handoff[HANDOFF];
    size_t nhandoff = 0;
    for (int i = 0; i < WINDOW; i++)
        window[i] = new_block(&rng, w);
    w->allocated += WINDOW;
    for (long step = 1; step <= w->steps; step++) {
        size_t i = (size_t)bench_below(&rng, WINDOW);
        if (w->next != w && bench_below(&rng, 8) == 0) {
            handoff[nhandoff++] = window[i];
            if (nhandoff == HANDOFF) {
                inbox_put(&w->next->inbox, handoff, nhandoff);
                nhandoff = 0;
            }
        } else {
            free(window[i]);
        }
        window[i] = new_block(&rng, w);
        w->allocated++;
        if (step % BURST_EVERY == 0) {
            for (int k = 0; k < BURST; k++)
                burst[k] = new_block(&rng, w);
            for (int k = 0; k < BURST; k++)
                free(burst[k]);
            w->allocated += BURST;
            inbox_drain(&w->inbox);
        }
    }
    for (size_t k = 0; k < nhandoff; k++)
        free(handoff[k]);
    for (int k = 0; k < WINDOW; k++)
        free(window[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 4096};
    bench_parse(&o, argc, argv);
    long steps = bench_count(&o, 1000000);
    if (o.threads < 1 || o.min < 1 || o.max < o.min)
        bench_die("need --threads >= 1 and 1 <= --min <= --max");

    worker_t *w = calloc((size_t)o.threads, sizeof *w);
    if (w == NULL)
        bench_die("out of memory");
    for (int i = 0; i < o.threads; i++) {
        w[i].seed = o.seed + (uint64_t)i;
        w[i].steps = steps;
        w[i].min = o.min;
        w[i].max = o.max;
        w[i].next = &w[(i + 1) % o.threads];
        pthread_mutex_init(&w[i].inbox.lock, NULL);
    }
    double t = bench_run_threads(o.threads, worker_main, w, sizeof *w);
    long allocated = 0;
    for (int i = 0; i < o.threads; i++) {
        inbox_drain(&w[i].inbox); /* what arrived after its thread's last drain */
        free(w[i].inbox.blocks);
        pthread_mutex_destroy(&w[i].inbox.lock);
        allocated += w[i].allocated;
    }
    free(w);

    char name[32];
    snprintf(name, sizeof name, "stress-t%d", o.threads);
    bench_result(name, (double)allocated, t, "");
    return 0;
}
