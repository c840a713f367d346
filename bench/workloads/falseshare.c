/* False sharing between threads writing to small blocks.
 *
 *   --mode active   each thread allocates an 8-byte block, writes it many
 *                   times, frees it, and again. An allocator that gives
 *                   concurrent threads blocks on one cache line makes the
 *                   writes fight over that line (in the manner of cache-thrash).
 *   --mode passive  the main thread allocates one 8-byte block per thread
 *                   (so they lie close together) and hands them out; each
 *                   thread frees its block, then works as in active mode. An
 *                   allocator that gives a freed block back to the thread that
 *                   freed it brings the sharing back (in the manner of
 *                   cache-scratch).
 * ops = malloc+free pairs in total; the time is mostly the writes, so a good
 * allocator shows here by not being slow. */
#include "../common/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJ 8
#define WRITES 500 /* passes over the block per allocation */

typedef struct worker {
    char *given;  /* passive mode: the block to free first */
    long rounds;
    long sum;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    free(w->given);
    long sum = 0;
    for (long r = 0; r < w->rounds; r++) {
        volatile char *p = malloc(OBJ);
        for (int k = 0; k < WRITES; k++)
            for (int b = 0; b < OBJ; b++)
                p[b] = (char)(p[b] + k);
        sum += p[0];
        free((void *)p);
    }
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 2, .scale = 1, .seed = 42, .mode = "active", .min = OBJ, .max = OBJ};
    bench_parse(&o, argc, argv);
    int passive = strcmp(o.mode, "passive") == 0;
    if (!passive && strcmp(o.mode, "active") != 0)
        bench_die("--mode must be active or passive");
    /* Total work is split over the threads: perfect scaling halves the time. */
    long rounds = bench_count(&o, 200000) / o.threads;
    if (rounds < 1)
        rounds = 1;

    worker_t w[1024];
    for (int i = 0; i < o.threads; i++) {
        w[i] = (worker_t){NULL, rounds, 0};
        if (passive) {
            w[i].given = malloc(OBJ);
            memset(w[i].given, 0, OBJ);
        }
    }
    double t = bench_run_threads(o.threads, worker_main, w, sizeof w[0]);

    char name[32];
    snprintf(name, sizeof name, "falseshare-%s-t%d", o.mode, o.threads);
    bench_result(name, (double)rounds * o.threads, t, "");
    return 0;
}
