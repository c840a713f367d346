/* Memory return: does the allocator give freed memory back to the system?
 *
 *   1 build a working set of 256 MiB (x --scale): by bytes, half small blocks
 *     (16..1K), a quarter medium (1K..32K), a quarter large (32K..1M), all written
 *   2 free the oldest 90% of the blocks (like a cache evicting old entries), so
 *     most freed pages are wholly free
 *   3 idle for --idle-ms (default 2000) while doing a trickle of small
 *     malloc/free pairs, as a quiet server would; allocators that return memory
 *     on a timer get their chance
 *   4 read RSS: mem_kib in the result line is the RSS at the end, the figure the
 *     report ranks by. An allocator that never returns memory loses here.
 * A sampler thread records RSS every 10 ms; --out PATH writes the samples as
 * "ms rss_kib phase" lines for the RSS-over-time plot. */
#define _GNU_SOURCE
#include "../common/bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 60000

typedef struct sample {
    float ms;
    int rss_kib;
    int phase;
} sample_t;

static sample_t samples[MAX_SAMPLES];
static atomic_int nsamples;
static atomic_int phase = 1;
static atomic_int stop;
static double t_start;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Reads RSS every 10 ms without allocating. */
static void *sampler(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        int n = atomic_load(&nsamples);
        if (n < MAX_SAMPLES) {
            samples[n] = (sample_t){(float)((bench_now() - t_start) * 1e3), (int)bench_rss_kib(),
                                    atomic_load(&phase)};
            atomic_store(&nsamples, n + 1);
        }
        sleep_ms(10);
    }
    return NULL;
}

static size_t block_size(bench_rng_t *r)
{
    /* Class odds chosen so each class gets its share of the bytes: the mean
     * log-uniform sizes are about 220 B, 9 KiB and 280 KiB. */
    uint64_t k = bench_below(r, 1000000);
    if (k < 987700)
        return bench_size_log(r, 16, 1024);
    if (k < 999625)
        return bench_size_log(r, 1024, 32768);
    return bench_size_log(r, 32768, 1 << 20);
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "", .min = 1, .max = 1, .idle_ms = 2000};
    bench_parse(&o, argc, argv);
    size_t target = (size_t)bench_count(&o, 256L << 20);
    bench_rng_t r;
    bench_rng_init(&r, o.seed);

    t_start = bench_now();
    pthread_t tid;
    if (pthread_create(&tid, NULL, sampler, NULL) != 0)
        bench_die("pthread_create failed");

    /* 1: build. */
    size_t cap = 1 << 16, n = 0, bytes = 0;
    void **blocks = malloc(cap * sizeof *blocks);
    size_t *sizes = malloc(cap * sizeof *sizes);
    while (bytes < target) {
        if (n == cap) {
            cap *= 2;
            blocks = realloc(blocks, cap * sizeof *blocks);
            sizes = realloc(sizes, cap * sizeof *sizes);
            if (blocks == NULL || sizes == NULL)
                bench_die("out of memory");
        }
        size_t s = block_size(&r);
        blocks[n] = malloc(s);
        if (blocks[n] == NULL)
            bench_die("malloc(%zu) failed", s);
        memset(blocks[n], (int)(n & 0xff), s);
        sizes[n++] = s;
        bytes += s;
    }
    long rss_peak = bench_rss_kib();

    /* 2: free the oldest 90%. */
    atomic_store(&phase, 2);
    size_t keep_from = n - n / 10, kept = 0;
    for (size_t i = 0; i < keep_from; i++)
        free(blocks[i]);
    for (size_t i = keep_from; i < n; i++)
        kept += sizes[i];
    double t_work = bench_now() - t_start;
    long rss_after_free = bench_rss_kib();

    /* 3: idle with a trickle of small requests, 10 pairs a millisecond. */
    atomic_store(&phase, 3);
    double idle_end = bench_now() + (double)o.idle_ms * 1e-3;
    long k = 0;
    while (bench_now() < idle_end) {
        for (int j = 0; j < 10; j++, k++) {
            char *p = malloc(16 + (size_t)(k % 241));
            p[0] = (char)k;
            bench_escape(p);
            free(p);
        }
        sleep_ms(1);
    }

    /* 4: measure. */
    long rss_final = bench_rss_kib();
    atomic_store(&phase, 4);
    sleep_ms(20); /* one last sample with the final figure */
    atomic_store(&stop, 1);
    pthread_join(tid, NULL);

    for (size_t i = keep_from; i < n; i++)
        free(blocks[i]);
    free(blocks);
    free(sizes);

    if (o.out != NULL) {
        FILE *f = fopen(o.out, "w");
        if (f == NULL)
            bench_die("cannot write %s", o.out);
        fprintf(f, "# ms rss_kib phase (1 build, 2 free, 3 idle, 4 end)\n");
        int ns = atomic_load(&nsamples);
        for (int i = 0; i < ns; i++)
            fprintf(f, "%.1f %d %d\n", samples[i].ms, samples[i].rss_kib, samples[i].phase);
        fclose(f);
    }

    char extra[160];
    snprintf(extra, sizeof extra, " mem_kib=%ld rss_peak_kib=%ld rss_after_free_kib=%ld kept_kib=%zu",
             rss_final, rss_peak, rss_after_free, kept / 1024);
    bench_result("memreturn", (double)n, t_work, extra);
    return 0;
}
