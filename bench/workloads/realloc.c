/* realloc growth. Single-threaded.
 *
 *   --mode str    1000 strings grow by appends of 1..32 bytes, each append a
 *                 realloc to the exact new length (as naive string builders
 *                 do); a string that reaches its limit (log-uniform 256..64K)
 *                 is freed and a new one begun. ops = reallocs.
 *   --mode array  64 arrays of 8-byte elements grow by push; when full, the
 *                 capacity doubles through realloc; an array that reaches its
 *                 limit (log-uniform 1K..1M elements) is freed and begun again.
 *                 ops = elements pushed.
 * An allocator shows here by growing blocks in place and by copying (or
 * remapping) big ones cheaply. */
#include "../common/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct grow {
    char *p;
    size_t len, cap, limit;
} grow_t;

static const char text[] = "the quick brown fox jumps over the lazy dog; pack my box with five dozen";

static double run_str(bench_rng_t *r, long steps)
{
    enum { N = 1000 };
    static grow_t s[N];
    for (int i = 0; i < N; i++)
        s[i] = (grow_t){NULL, 0, 0, bench_size_log(r, 256, 65536)};
    double t0 = bench_now();
    for (long k = 0; k < steps; k++) {
        grow_t *g = &s[bench_below(r, N)];
        size_t add = 1 + (size_t)bench_below(r, 32);
        char *p = realloc(g->p, g->len + add + 1);
        if (p == NULL)
            bench_die("realloc failed");
        memcpy(p + g->len, text + (k & 31), add);
        g->len += add;
        p[g->len] = '\0';
        g->p = p;
        if (g->len >= g->limit) {
            free(g->p);
            *g = (grow_t){NULL, 0, 0, bench_size_log(r, 256, 65536)};
        }
    }
    for (int i = 0; i < N; i++)
        free(s[i].p);
    return bench_now() - t0;
}

static double run_array(bench_rng_t *r, long steps)
{
    enum { N = 64 };
    static grow_t a[N];
    for (int i = 0; i < N; i++)
        a[i] = (grow_t){NULL, 0, 0, bench_size_log(r, 1024, 1 << 20)};
    double t0 = bench_now();
    for (long k = 0; k < steps;) {
        grow_t *g = &a[bench_below(r, N)];
        /* A burst of pushes to one array, as a loop filling it would do. */
        long burst = 1 + (long)bench_below(r, 256);
        for (long j = 0; j < burst && k < steps; j++) {
            if (g->len == g->cap) {
                size_t cap = g->cap ? g->cap * 2 : 4;
                long *p = realloc(g->p, cap * sizeof(long));
                if (p == NULL)
                    bench_die("realloc failed");
                g->p = (char *)p;
                g->cap = cap;
            }
            ((long *)g->p)[g->len++] = k++;
            if (g->len >= g->limit) {
                free(g->p);
                *g = (grow_t){NULL, 0, 0, bench_size_log(r, 1024, 1 << 20)};
                break;
            }
        }
    }
    for (int i = 0; i < N; i++)
        free(a[i].p);
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    bench_opts_t o = {.threads = 1, .scale = 1, .seed = 42, .mode = "str", .min = 1, .max = 1};
    bench_parse(&o, argc, argv);
    bench_rng_t r;
    bench_rng_init(&r, o.seed);
    long steps;
    double t;
    if (strcmp(o.mode, "str") == 0) {
        steps = bench_count(&o, 4000000);
        t = run_str(&r, steps);
    } else if (strcmp(o.mode, "array") == 0) {
        steps = bench_count(&o, 100000000);
        t = run_array(&r, steps);
    } else {
        bench_die("--mode must be str or array");
    }
    char name[32];
    snprintf(name, sizeof name, "realloc-%s", o.mode);
    bench_result(name, (double)steps, t, "");
    return 0;
}
