/* Large and huge blocks. Single-threaded. Two modes:
 *
 *   (default)  64 KiB to 64 MiB: eight blocks are live at a time; each step
 *              frees the oldest and allocates a new one of log-uniform size
 *              in [--min, --max], then writes every page of it.
 *   buffers    5 to 25 MiB: twenty buffers; each step picks one at random,
 *              allocates its replacement of uniform size in [--min, --max],
 *              writes all of it (as C++'s make_unique<char[]> zeroes
 *              it), then
 *              frees the old one: big buffers of changing sizes, as an
 *              external benchmark suite's large-block program makes them.
 *
 * What an allocator does here (reuse of freed pages, which need no new page
 * faults, against unmapping and mapping again) shows in time and in page
 * faults; what it keeps shows in peak RSS. ops = blocks allocated. */
#include "../common/bench.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 8
#define BUFFERS 20

static void run_oldest(bench_rng_t *r, long steps, size_t min, size_t max)
{
    void *live[LIVE] = {0};
    for (long k = 0; k < steps; k++) {
        size_t n = bench_size_log(r, min, max);
        free(live[k % LIVE]);
        void *p = malloc(n);
        if (p == NULL)
            bench_die("malloc(%zu) failed", n);
        bench_touch_pages(p, n);
        live[k % LIVE] = p;
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
}

static void run_buffers(bench_rng_t *r, long steps, size_t min, size_t max)
{
    void *live[BUFFERS] = {0};
    for (long k = 0; k < steps; k++) {
        unsigned i = (unsigned)bench_below(r, BUFFERS);
        size_t n = min + (size_t)bench_below(r, max - min + 1);
        void *p = malloc(n);
        if (p == NULL)
            bench_die("malloc(%zu) failed", n);
        /* Not 0: the compiler would make malloc + memset a calloc, which
         * may write nothing. */
        memset(p, (int)(k & 0x7f) + 1, n);
        bench_escape(p);
        free(live[i]);
        live[i] = p;
    }
    for (int i = 0; i < BUFFERS; i++)
        free(live[i]);
}

int main(int argc, char **argv)
{
    /* The range of the default mode; buffers takes 5..25 MiB unless told. */
    const size_t min_default = (size_t)64 << 10, max_default = (size_t)64 << 20;
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "", .min = min_default, .max = max_default};
    bench_parse(&o, argc, argv);
    bool buffers = strcmp(o.mode, "buffers") == 0;
    if (!buffers && o.mode[0] != '\0')
        bench_die("unknown --mode %s (buffers, or none)", o.mode);
    size_t min = buffers && o.min == min_default ? (size_t)5 << 20 : o.min;
    size_t max = buffers && o.max == max_default ? (size_t)25 << 20 : o.max;
    long steps = bench_count(&o, buffers ? 2000 : 400);
    bench_rng_t r;
    bench_rng_init(&r, o.seed);

    double t0 = bench_now();
    if (buffers)
        run_buffers(&r, steps, min, max);
    else
        run_oldest(&r, steps, min, max);
    double t = bench_now() - t0;
    bench_result(buffers ? "large-buffers" : "large", (double)steps, t, "");
    return 0;
}
