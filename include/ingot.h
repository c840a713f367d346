/*
 * ingot.h — the prefixed ingot API. Every build exports these names; builds
 * that override the standard C allocator export the unprefixed names too.
 */
#ifndef INGOT_H
#define INGOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INGOT_VERSION_MAJOR 0
#define INGOT_VERSION_MINOR 1
#define INGOT_VERSION_PATCH 0
#define INGOT_VERSION "0.1.0"

/* ---- standard C allocation, prefixed (C23 / POSIX semantics) ---- */
void *ingot_malloc(size_t size);
void ingot_free(void *ptr);
void *ingot_calloc(size_t count, size_t size);
void *ingot_realloc(void *ptr, size_t size);
void *ingot_reallocarray(void *ptr, size_t count, size_t size);
void *ingot_aligned_alloc(size_t alignment, size_t size);
int ingot_posix_memalign(void **out, size_t alignment, size_t size);
void *ingot_memalign(size_t alignment, size_t size);
void *ingot_valloc(size_t size);
void *ingot_pvalloc(size_t size);
size_t ingot_malloc_usable_size(void *ptr);
void ingot_free_sized(void *ptr, size_t size);
void ingot_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* ---- jemalloc-style extended API, prefixed (flags as MALLOCX_*) ---- */
void *ingot_mallocx(size_t size, int flags);
void *ingot_rallocx(void *ptr, size_t size, int flags);
size_t ingot_xallocx(void *ptr, size_t size, size_t extra, int flags);
size_t ingot_sallocx(const void *ptr, int flags);
void ingot_dallocx(void *ptr, int flags);
void ingot_sdallocx(void *ptr, size_t size, int flags);
size_t ingot_nallocx(size_t size, int flags);
int ingot_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int ingot_mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
int ingot_mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                       void *newp, size_t newlen);
void ingot_malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                              const char *opts);
/* jemalloc's malloc_message: when set, warnings and malloc_stats_print's
 * default output go through it instead of stderr (builds that export the
 * standard names read malloc_message first). */
extern void (*ingot_malloc_message)(void *cbopaque, const char *s);

/* ---- ingot's own ---- */

/* Verifies every invariant of the heap. Returns 0 when the heap is
 * consistent; otherwise writes one line naming the first broken invariant
 * to stderr and returns -1. Safe to call at any moment from any thread. */
int ingot_check(void);

/* The main counters, in bytes, as of the call. */
struct ingot_stats {
	size_t allocated; /* requested-class bytes in live allocations */
	size_t active;    /* bytes in pages holding live allocations */
	size_t metadata;  /* bytes of ingot's own bookkeeping */
	size_t resident;  /* bytes of pages that may be resident (active + dirty + metadata) */
	size_t mapped;    /* bytes mapped from the OS */
	size_t retained;  /* bytes mapped but purged */
};
void ingot_stats_get(struct ingot_stats *out);

/* Returns dirty pages of every arena to the OS now. */
void ingot_purge(void);

/* Flushes the calling thread's cache back to the arenas. */
void ingot_thread_flush(void);

/* Allocation hooks, for profilers and tracers. Each callback gets ctx, the
 * block, the size the program asked for and the usable size. on_resize
 * reports realloc-like calls (old_ptr may equal new_ptr: resized in place).
 * Calls made inside a callback are not reported, so callbacks may allocate.
 * Hooks installed before the first allocation (as INGOT_CONF=trace:FILE
 * does) see every call; installed later, they see the calling thread's
 * calls at once and every other thread's from its next cache refill, flush
 * or garbage pass (at most a few thousand allocations later). Any member may
 * be NULL. Returns 0. */
struct ingot_hooks {
	void (*on_alloc)(void *ctx, void *ptr, size_t requested, size_t usable);
	void (*on_free)(void *ctx, void *ptr, size_t usable);
	void (*on_resize)(void *ctx, void *old_ptr, void *new_ptr, size_t requested,
	                  size_t usable);
	void *ctx;
};
int ingot_hooks_set(const struct ingot_hooks *hooks); /* NULL removes them */

/* Heap profiling (README "Heap profiling"), for programs started with
 * MALLOC_CONF or INGOT_CONF=prof:true. Each is mallctl of the name given and
 * returns its answer: 0, or jemalloc's error codes (ENOENT when profiling is
 * off, except that switching it off succeeds; EFAULT when the file cannot be
 * written).
 *   ingot_prof_activate     prof.active: starts (true) or stops sampling
 *   ingot_prof_dump         prof.dump: the heap_v2 profile jeprof reads, to
 *                           path, or with NULL to <prefix>.<pid>.<seq>.m<mseq>.heap
 *   ingot_prof_dump_pprof   prof.dump_pprof: the "heap profile:" form that
 *                           Google's pprof (google-pprof) reads, to path */
int ingot_prof_activate(bool on);
int ingot_prof_dump(const char *path);
int ingot_prof_dump_pprof(const char *path);

/* Bare-metal back end only: hands ingot the one region it may use. Must be
 * called before the first allocation; returns 0 or EINVAL. */
int ingot_region_init(void *base, size_t size);

#ifdef __cplusplus
}
#endif
#endif
