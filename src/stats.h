/*
 * stats.h — counters gathered from every layer, the epoch snapshot that
 * mallctl's stats.* names read, and malloc_stats_print.
 *
 * Layers keep their own counters where they already hold a lock (bins,
 * page heaps) or with relaxed atomics (large and huge); this module only
 * reads and sums them. Nothing here is on a fast path.
 *
 * Like jemalloc, the stats.* figures are a snapshot: stats_refresh (an
 * epoch write, or malloc_stats_print) gathers every counter once, and reads
 * return the snapshot until the next refresh.
 */
#ifndef INGOT_STATS_H
#define INGOT_STATS_H

#include "common.h"
#include "ingot.h"
#include "arena.h"
#include "sizeclass.h"


/* One small size class of one arena (stats.arenas.<i>.bins.<j>.*). */
struct bin_stats {
	uint64_t nmalloc;  /* objects handed out by the bin (fills and uncached) */
	uint64_t ndalloc;  /* objects given back to the bin */
	uint64_t nfills;   /* batches handed out */
	uint64_t nflushes; /* batches given back by thread-cache flushes */
	uint64_t nslabs;   /* slabs ever made */
	size_t curregs;    /* live objects (thread caches' included) */
	size_t curslabs;   /* slabs now */
	size_t nonfull_slabs;
};

/* Per-arena figures; also the sum over all arenas and over destroyed ones. */
struct arena_stats {
	size_t allocated_small, allocated_large; /* bytes */
	size_t pactive, pdirty;                  /* pages (ingot's page size) */
	size_t mapped, retained, resident;       /* bytes */
	uint64_t nmalloc_small, ndalloc_small, nfills_small, nflushes_small;
	uint64_t nmalloc_large, ndalloc_large;
	uint64_t npurge, npurged; /* purge calls; pages purged */
	size_t extent_avail; /* span records kept for reuse */
	size_t base;         /* metadata bytes: all of it counted in arena 0 */
	unsigned nthreads;
	int64_t dirty_decay_ms;
	struct bin_stats bins[SC_NSMALL + 1]; /* [1..SC_NSMALL]; [0] unused */
	uint64_t lextent_nmalloc[SC_NLARGE], lextent_ndalloc[SC_NLARGE];
	uint64_t uptime_ns; /* since the arena was made (merged: the oldest) */
};

/* Sums the live figures of arena index (or of all arenas for STATS_ALL). */
#define STATS_ALL 4096u
#define STATS_DESTROYED 4097u
void stats_arena(unsigned index, struct arena_stats *out);

/* Process-wide figures, live (what ingot_stats_get reports). */
void stats_global(struct ingot_stats *out);

/* ---- the snapshot ------------------------------------------------------ */

/* Gathers every counter into the snapshot and advances the epoch. */
void stats_refresh(void);
uint64_t stats_epoch(void);

/* The snapshot's global figures. */
void stats_snapshot_global(struct ingot_stats *out);

/* Copies the snapshot of arena index (STATS_ALL: merged over the arenas
 * alive at the refresh; STATS_DESTROYED: merged over destroyed ones).
 * Returns false when the snapshot has no such arena (it did not exist or
 * was destroyed at the refresh; no arena destroyed yet for
 * STATS_DESTROYED); out is then zeroed. out may be NULL to ask only. */
bool stats_snapshot_arena(unsigned index, struct arena_stats *out);

/* Arenas in the snapshot (indices 0..n-1, some perhaps destroyed). */
unsigned stats_snapshot_narenas(void);

/* ---- destroyed arenas (arena.<i>.destroy) ------------------------------ */

/* Adds arena a's cumulative counters to the destroyed totals and marks it
 * destroyed (arena_set_destroyed), both under the statistics lock, so that
 * a snapshot counts it either live or destroyed. Call after arena_reset and
 * before clearing its counters (arena_destroy). */
void stats_arena_retire(struct arena *a);

/* ---- free memory by size (stats.arenas.<i>.extents.<j>) ---------------- */

/* jemalloc's page-size classes: 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20
 * ... pages, four per doubling, up to its largest size class (199 of them
 * with 4 KiB pages on 64-bit targets). */
#define STATS_NPSIZES (4u * (sizeof(size_t) * 8 - 3 - LG_PAGE) + 3u)

/* Free runs of one page-size class j, of arena index (or STATS_ALL): a free
 * span's dirty pages and its purged (retained) pages count as one run each,
 * and so does a freed huge mapping kept for reuse (dirty). Read live, at
 * the call. ingot has no muzzy pages. */
struct extent_stats {
	size_t ndirty, nretained;
	size_t dirty_bytes, retained_bytes;
};
void stats_extents(unsigned index, unsigned j, struct extent_stats *out);

/* realloc(p, 0) with p not NULL, whatever zero_realloc then does: counted
 * at the call, read live (stats.zero_reallocs), as jemalloc does. */
void stats_count_zero_realloc(void);
size_t stats_zero_reallocs(void);

/* ---- what the report and mallctl share -------------------------------- */

/* The version string of mallctl("version") and of the report: the
 * JEMALLOC_VERSION of include/jemalloc/jemalloc.h, the jemalloc release
 * whose interface ingot provides (src/ cannot include that hosted header;
 * test_mallctl's top.version_is_the_headers asserts the two are equal, and
 * tests/programs/ctl_compat.sh that Debian's jemalloc answers the same).
 * ingot's own version is in ingot.h and in the report's "allocator". */
#define STATS_VERSION "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"

/* config.* (build-time facts), as jemalloc names them. */
#define STATS_CONFIG_FLAGS(X) \
	X(cache_oblivious, false) X(debug, INGOT_DEBUG != 0) X(fill, true) X(lazy_lock, false) \
	X(prof, true) X(prof_libgcc, false) X(prof_libunwind, false) \
	X(stats, INGOT_STATS != 0) X(utrace, false) X(xmalloc, true)

/* ---- printing ------------------------------------------------------------ */

/* The report of malloc_stats_print: refreshes the snapshot, then writes it
 * through write_cb (malloc_message, else stderr, when NULL) as text, or as
 * JSON when opts contains 'J'. Letters omit sections as jemalloc's do:
 * g general, m merged arenas, d destroyed arenas, a per-arena, b bins,
 * l large classes, x mutexes (ingot has no lock counters), e extents (the
 * table is only in mallctl, stats.arenas.<i>.extents.<j>). */
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

void stats_fork_prepare(void);
void stats_fork_parent(void);
void stats_fork_child(void);

#endif
