/* Shared helpers of the benchmark workloads: options, a fixed-seed generator,
 * size distributions, timing, threads and the one result line.
 *
 * Every workload is a plain C program that calls malloc/free/realloc and nothing
 * else from the allocator; which allocator it measures is chosen from outside
 * with LD_PRELOAD. Each prints exactly one line on stdout:
 *
 *   result workload=<name> ops=<n> seconds=<t> [key=value ...]
 *
 * where seconds is the time of the measured part (set-up excluded) and ops the
 * number of operations in it (usually malloc+free pairs). */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Options common to all workloads; each workload documents which it reads. */
typedef struct bench_opts {
    int threads;        /* --threads N: worker threads (default 2: the reference machine has 2 cores) */
    double scale;       /* --scale F: multiplies every iteration count (default 1) */
    uint64_t seed;      /* --seed S: generator seed (default fixed, so runs repeat exactly) */
    const char *mode;   /* --mode M: variant of the workload */
    size_t min, max;    /* --min/--max BYTES: size range, where the workload has one */
    long iters;         /* --iters N: explicit iteration count overriding the default */
    long idle_ms;       /* --idle-ms N: idle time (memory-return workload) */
    const char *out;    /* --out PATH: side output (RSS samples) */
} bench_opts_t;

/* Parses argv into *o, which holds the workload's defaults on entry. Unknown
 * options print a usage line and exit with status 2. */
void bench_parse(bench_opts_t *o, int argc, char **argv);

/* Scales a default count by --scale, at least 1; --iters overrides it. */
long bench_count(const bench_opts_t *o, long base);

/* xoshiro256** seeded through splitmix64: fast, good enough, identical on
 * every run for one seed. */
typedef struct bench_rng { uint64_t s[4]; } bench_rng_t;
void bench_rng_init(bench_rng_t *r, uint64_t seed);
uint64_t bench_rand(bench_rng_t *r);
/* Uniform in [0, n), n > 0. */
uint64_t bench_below(bench_rng_t *r, uint64_t n);
/* Log-uniform in [min, max]: each doubling of size is about equally likely,
 * which is how request sizes of real programs spread. */
size_t bench_size_log(bench_rng_t *r, size_t min, size_t max);

/* Fills t[0..n) with bench_size_log sizes; tables keep the generator out of
 * the timed loops. */
void bench_size_table(size_t *t, size_t n, bench_rng_t *r, size_t min, size_t max);

/* Monotonic clock in seconds. */
double bench_now(void);

/* Keeps the compiler from proving a pointer unused (and a malloc/free pair
 * removable). */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* Writes one byte in every 4 KiB of [p, p+n), so the pages are really in use. */
void bench_touch_pages(void *p, size_t n);

/* Runs fn(arg_i) on n threads that all start together; returns the seconds
 * from the first thread's start to the last thread's end. args[i] is passed to thread
 * i; stride is the size of one element of args. */
double bench_run_threads(int n, void *(*fn)(void *), void *args, size_t stride);

/* Resident set size of this process in KiB, read from /proc/self/statm without
 * allocating. */
long bench_rss_kib(void);

/* Prints the result line. extra is "" or " key=value ..." (with leading space). */
void bench_result(const char *workload, double ops, double seconds, const char *extra);

/* Prints a message and exits with status 1. */
void bench_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
