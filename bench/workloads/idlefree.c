/* Free, then sleep: does resident memory fall while the program does nothing?
 *
 *   1 allocate 200 MiB (x --scale, or --iters bytes) in blocks of 4..64 KiB
 *     (--min, --max),
 *     writing every byte
 *   2 free them all
 *   3 sleep for --idle-ms (default 3000) without calling the allocator at all,
 *     reading RSS every 20 ms (open/read of /proc/self/statm: no malloc)
 * Only an allocator that purges on a timer (a background thread) gives memory
 * back in phase 3. --out PATH writes "ms rss_kib" lines, ms from the end of the
 * frees; the result line's mem_kib is RSS at the end. */
#define _GNU_SOURCE
#include "../common/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLE_MS 20

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 15, .idle_ms = 3000,
                      .min = 4096, .max = 64 << 10};
    bench_parse(&o, argc, argv);
    size_t total = o.iters > 0 ? (size_t)o.iters : (size_t)(200.0 * o.scale * (1 << 20));
    size_t cap = total / 4096 + 1, n = 0, bytes = 0;
    void **blocks = malloc(cap * sizeof *blocks);
    if (!blocks)
        bench_die("out of memory");
    bench_rng_t rng;
    bench_rng_init(&rng, o.seed);
    while (bytes < total && n < cap) {
        size_t size = o.min + bench_below(&rng, o.max - o.min + 1);
        blocks[n] = malloc(size);
        if (!blocks[n])
            bench_die("out of memory");
        memset(blocks[n], 0x5a, size);
        bytes += size;
        n++;
    }
    long peak = bench_rss_kib();
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    double t1 = bench_now();
    /* The samples go to a buffer allocated before the frees' end is timed:
     * phase 3 makes no allocator call. */
    long nsamples = o.idle_ms / SAMPLE_MS + 1;
    long *rss = calloc((size_t)nsamples, sizeof *rss);
    if (!rss)
        bench_die("out of memory");
    for (long i = 0; i < nsamples; i++) {
        rss[i] = bench_rss_kib();
        if (i + 1 < nsamples)
            sleep_ms(SAMPLE_MS);
    }
    if (o.out) {
        FILE *f = fopen(o.out, "w");
        if (!f)
            bench_die("cannot write %s", o.out);
        fprintf(f, "-1 %ld\n", peak);
        for (long i = 0; i < nsamples; i++)
            fprintf(f, "%ld %ld\n", i * SAMPLE_MS, rss[i]);
        fclose(f);
    }
    char extra[128];
    snprintf(extra, sizeof extra, " peak_kib=%ld after_free_kib=%ld mem_kib=%ld", peak, rss[0],
             rss[nsamples - 1]);
    bench_result("idlefree", (double)n, t1 - t0, extra);
    return 0;
}
