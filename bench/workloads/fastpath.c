/* Fast-path instruction counts, run under callgrind (see bench/run.py).
 *
 * Runs three loops of --iters malloc+free pairs each, sizes log-uniform in
 * 16..1024 bytes from a fixed table:
 *   loop_pair   malloc then free at once
 *   loop_batch  malloc 1000 blocks, then free them in allocation order
 *   loop_mix    a pool of 1000 live blocks; each step frees a random one and
 *               allocates a random size in its place
 *   loop_burst  malloc 1000 blocks of one size (64 bytes), then free them in
 *               allocation order: a burst of one class larger than a thread
 *               cache holds, as parsers and request handlers make
 *   loop_flood  the same with 10000 blocks (640 KiB): more than any thread
 *               cache keeps, so refills and flushes move most of the objects
 * With --mode burst or --mode flood it runs only that loop, timed: the
 * run.py workloads burst-64 and flood-64 (same-size bursts against every peer
 * in wall time as well as in instructions).
 * The runner asks callgrind to dump its counters at the entry of each loop and
 * at the exit of the last, runs the program with N and with 2N iterations, and
 * takes the difference: start-up and first-touch costs cancel, leaving the
 * steady-state instructions per malloc+free (plus the loop's own two or three
 * instructions, the same for every allocator). */
#include "../common/bench.h"

#include <stdlib.h>
#include <string.h>

#define TABLE 4096
#define PICKS 4093
#define BATCH 1000
#define POOL 1000
#define BURST 1000
#define BURST_SIZE 64
#define FLOOD 10000

static size_t sizes[TABLE];
static unsigned picks[PICKS];

__attribute__((noinline)) void loop_pair(long n);
__attribute__((noinline)) void loop_batch(long n);
__attribute__((noinline)) void loop_mix(long n);
__attribute__((noinline)) void loop_burst(long n);
__attribute__((noinline)) void loop_flood(long n);

void loop_pair(long n)
{
    for (long i = 0; i < n; i++) {
        long *p = malloc(sizes[i & (TABLE - 1)]);
        p[0] = i;
        bench_escape(p);
        free(p);
    }
}

void loop_batch(long n)
{
    static void *blocks[BATCH];
    long k = 0;
    for (long done = 0; done < n; done += BATCH) {
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

void loop_mix(long n)
{
    static void *pool[POOL];
    for (int j = 0; j < POOL; j++)
        pool[j] = malloc(sizes[j]);
    for (long i = 0; i < n; i++) {
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

/* n malloc+free pairs in bursts of count blocks of BURST_SIZE bytes. */
static void same_size_bursts(long n, void **blocks, int count)
{
    for (long done = 0; done < n; done += count) {
        for (int j = 0; j < count; j++) {
            long *p = malloc(BURST_SIZE);
            p[0] = j;
            blocks[j] = p;
        }
        bench_escape(blocks);
        for (int j = 0; j < count; j++)
            free(blocks[j]);
    }
}

void loop_burst(long n)
{
    static void *blocks[BURST];
    same_size_bursts(n, blocks, BURST);
}

void loop_flood(long n)
{
    static void *blocks[FLOOD];
    same_size_bursts(n, blocks, FLOOD);
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 1024};
    bench_parse(&o, argc, argv);
    long n = bench_count(&o, 100000);
    n = (n + FLOOD - 1) / FLOOD * FLOOD; /* a whole number of batches, bursts and floods */
    bench_rng_t r;
    bench_rng_init(&r, o.seed);
    bench_size_table(sizes, TABLE, &r, o.min, o.max);
    for (int i = 0; i < PICKS; i++)
        picks[i] = (unsigned)bench_below(&r, POOL);

    double t0 = bench_now();
    if (strcmp(o.mode, "burst") == 0 || strcmp(o.mode, "flood") == 0) {
        if (o.mode[0] == 'b')
            loop_burst(n);
        else
            loop_flood(n);
        bench_result(o.mode, (double)n, bench_now() - t0, "");
        return 0;
    }
    if (o.mode[0] != '\0')
        bench_die("--mode must be burst or flood (or none: every loop)");
    loop_pair(n);
    loop_batch(n);
    loop_mix(n);
    loop_burst(n);
    loop_flood(n);
    bench_result("fastpath", 5.0 * (double)n, bench_now() - t0, "");
    return 0;
}
