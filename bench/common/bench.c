/* Shared helpers of the benchmark workloads; see bench.h. */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(const char *prog, const char *bad)
{
    fprintf(stderr,
            "%s: bad option '%s'\n"
            "usage: %s [--threads N] [--scale F] [--seed S] [--mode M] [--min B] [--max B]\n"
            "          [--iters N] [--idle-ms N] [--out PATH]\n",
            prog, bad, prog);
    exit(2);
}

static double parse_num(const char *prog, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        usage(prog, opt);
    return v;
}

void bench_parse(bench_opts_t *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage(argv[0], a);
        const char *v = argv[++i];
        if (strcmp(a, "--threads") == 0) {
            o->threads = (int)parse_num(argv[0], a, v);
            if (o->threads < 1 || o->threads > 1024)
                usage(argv[0], a);
        } else if (strcmp(a, "--scale") == 0) {
            o->scale = parse_num(argv[0], a, v);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = (uint64_t)parse_num(argv[0], a, v);
        } else if (strcmp(a, "--mode") == 0) {
            o->mode = v;
        } else if (strcmp(a, "--min") == 0) {
            o->min = (size_t)parse_num(argv[0], a, v);
        } else if (strcmp(a, "--max") == 0) {
            o->max = (size_t)parse_num(argv[0], a, v);
        } else if (strcmp(a, "--iters") == 0) {
            o->iters = (long)parse_num(argv[0], a, v);
        } else if (strcmp(a, "--idle-ms") == 0) {
            o->idle_ms = (long)parse_num(argv[0], a, v);
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else {
            usage(argv[0], a);
        }
    }
    if (o->min < 1 || o->min > o->max)
        bench_die("bad size range %zu..%zu", o->min, o->max);
}

long bench_count(const bench_opts_t *o, long base)
{
    if (o->iters > 0)
        return o->iters;
    double n = (double)base * o->scale;
    return n < 1 ? 1 : (long)n;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void bench_rng_init(bench_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t bench_rand(bench_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t bench_below(bench_rng_t *r, uint64_t n)
{
    /* Multiply-shift: the bias for n far below 2^64 is negligible here. */
    return (uint64_t)(((unsigned __int128)bench_rand(r) * n) >> 64);
}

size_t bench_size_log(bench_rng_t *r, size_t min, size_t max)
{
    if (min >= max)
        return min;
    double u = (double)(bench_rand(r) >> 11) * 0x1.0p-53;
    double s = (double)min * pow((double)max / (double)min, u);
    size_t n = (size_t)s;
    return n < min ? min : n > max ? max : n;
}

void bench_size_table(size_t *t, size_t n, bench_rng_t *r, size_t min, size_t max)
{
    for (size_t i = 0; i < n; i++)
        t[i] = bench_size_log(r, min, max);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_touch_pages(void *p, size_t n)
{
    volatile char *c = p;
    for (size_t off = 0; off < n; off += 4096)
        c[off] = (char)off;
    if (n > 0)
        c[n - 1] = 1;
}

typedef struct thread_start {
    pthread_barrier_t *barrier;
    void *(*fn)(void *);
    void *arg;
    double t_start, t_end; /* this thread's own start and end */
} thread_start_t;

static void *thread_main(void *p)
{
    thread_start_t *ts = p;
    pthread_barrier_wait(ts->barrier);
    ts->t_start = bench_now();
    void *ret = ts->fn(ts->arg);
    ts->t_end = bench_now();
    return ret;
}

double bench_run_threads(int n, void *(*fn)(void *), void *args, size_t stride)
{
    pthread_t tids[1024];
    thread_start_t starts[1024];
    pthread_barrier_t barrier;
    if (n < 1 || n > 1024)
        bench_die("thread count %d out of range", n);
    pthread_barrier_init(&barrier, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        starts[i] = (thread_start_t){&barrier, fn, (char *)args + (size_t)i * stride, 0, 0};
        int rc = pthread_create(&tids[i], NULL, thread_main, &starts[i]);
        if (rc != 0)
            bench_die("pthread_create: %s", strerror(rc));
    }
    pthread_barrier_wait(&barrier);
    /* Timed from the first thread's start to the last one's end, as each thread
     * saw them: the main thread may be scheduled late on a busy machine. */
    double t0 = 0, t1 = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
        if (i == 0 || starts[i].t_start < t0)
            t0 = starts[i].t_start;
        if (i == 0 || starts[i].t_end > t1)
            t1 = starts[i].t_end;
    }
    pthread_barrier_destroy(&barrier);
    return t1 - t0;
}

long bench_rss_kib(void)
{
    /* statm: size resident shared text lib data dt, in pages. */
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = buf;
    strtol(p, &p, 10);
    long resident = strtol(p, NULL, 10);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void bench_result(const char *workload, double ops, double seconds, const char *extra)
{
    printf("result workload=%s ops=%.0f seconds=%.6f%s\n", workload, ops, seconds, extra);
    fflush(stdout);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}
