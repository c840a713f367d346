/* Random size mix over a long-lived pool: fragmentation. Single-threaded.
 *
 * A pool of live blocks goes through phases whose size mix shifts, so memory
 * freed by one phase suits the next only if the allocator can reuse or return it:
 *   A  fill the pool with small blocks (16..256)
 *   B  replace random blocks, half small, half medium (256..4K)
 *   C  free every second block, refill the holes with 512..4K blocks
 *   D  replace random blocks from a wide mix: 90% 16..512, 9% 512..8K, 1% 8K..64K
 * Blocks are written in full. The figure that matters is peak RSS against
 * live_peak_kib, the most bytes the program ever had live. */
#include "../common/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool {
    void **p;
    size_t *n;
    long slots;
    size_t live, live_peak;
    long ops;
} pool_t;

static void put(pool_t *pl, long i, size_t n)
{
    if (pl->p[i] != NULL) {
        free(pl->p[i]);
        pl->live -= pl->n[i];
        pl->ops++;
    }
    void *p = malloc(n);
    if (p == NULL)
        bench_die("malloc(%zu) failed", n);
    memset(p, (int)(i & 0xff), n);
    pl->p[i] = p;
    pl->n[i] = n;
    pl->live += n;
    if (pl->live > pl->live_peak)
        pl->live_peak = pl->live;
}

static size_t wide_mix(bench_rng_t *r)
{
    uint64_t k = bench_below(r, 100);
    if (k < 90)
        return bench_size_log(r, 16, 512);
    if (k < 99)
        return bench_size_log(r, 512, 8192);
    return bench_size_log(r, 8192, 65536);
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "", .min = 16, .max = 65536};
    bench_parse(&o, argc, argv);
    long slots = bench_count(&o, 100000);
    bench_rng_t r;
    bench_rng_init(&r, o.seed);

    pool_t pl = {calloc((size_t)slots, sizeof(void *)), calloc((size_t)slots, sizeof(size_t)), slots, 0, 0, 0};
    if (pl.p == NULL || pl.n == NULL)
        bench_die("out of memory");

    double t0 = bench_now();
    for (long i = 0; i < slots; i++)                      /* A */
        put(&pl, i, bench_size_log(&r, 16, 256));
    for (long k = 0; k < 2 * slots; k++) {                /* B */
        long i = (long)bench_below(&r, (uint64_t)slots);
        put(&pl, i, bench_rand(&r) & 1 ? bench_size_log(&r, 16, 256) : bench_size_log(&r, 256, 4096));
    }
    for (long i = 0; i < slots; i += 2) {                 /* C */
        free(pl.p[i]);
        pl.live -= pl.n[i];
        pl.p[i] = NULL;
        pl.ops++;
    }
    for (long i = 0; i < slots; i += 2)
        put(&pl, i, bench_size_log(&r, 512, 4096));
    for (long k = 0; k < 4 * slots; k++) {                /* D */
        long i = (long)bench_below(&r, (uint64_t)slots);
        put(&pl, i, wide_mix(&r));
    }
    for (long i = 0; i < slots; i++) {
        free(pl.p[i]);
        pl.ops++;
    }
    double t = bench_now() - t0;
    free(pl.p);
    free(pl.n);

    char extra[64];
    snprintf(extra, sizeof extra, " live_peak_kib=%zu", pl.live_peak / 1024);
    bench_result("frag", (double)pl.ops, t, extra);
    return 0;
}
