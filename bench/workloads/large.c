/* Large and huge blocks, 64 KiB to 64 MiB. Single-threaded.
 *
 * Eight blocks are live at a time; each step frees the oldest and allocates a
 * new one of log-uniform size in [--min, --max], then writes every page of it.
 * What an allocator does here (reuse of freed pages, which need no new page
 * faults, against unmapping and mapping again) shows in time; what it keeps
 * shows in peak RSS. ops = blocks allocated. */
#include "../common/bench.h"

#include <stdio.h>
#include <stdlib.h>

#define LIVE 8

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "", .min = 64 << 10, .max = 64 << 20};
    bench_parse(&o, argc, argv);
    long steps = bench_count(&o, 400);
    bench_rng_t r;
    bench_rng_init(&r, o.seed);

    void *live[LIVE] = {0};
    double t0 = bench_now();
    for (long k = 0; k < steps; k++) {
        size_t n = bench_size_log(&r, o.min, o.max);
        free(live[k % LIVE]);
        void *p = malloc(n);
        if (p == NULL)
            bench_die("malloc(%zu) failed", n);
        bench_touch_pages(p, n);
        live[k % LIVE] = p;
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
    double t = bench_now() - t0;
    bench_result("large", (double)steps, t, "");
    return 0;
}
