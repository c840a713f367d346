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
#include "sizeclass.h"

struct arena;

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
	unsigned nthreads;
	int64_t dirty_decay_ms;
	struct bin_stats bins[SC_NSMALL + 1]; /* [1..SC_NSMALL]; [0] unused */
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

/* Adds arena a's cumulative counters to the destroyed totals and marks its
 * index destroyed. Call after arena_reset and before clearing its counters. */
void stats_arena_retire(struct arena *a);
bool stats_arena_destroyed(unsigned index);
/* The index is in use again (arenas.create reused it). */
void stats_arena_revive(unsigned index);

/* ---- what the report and mallctl share -------------------------------- */

/* The version string of mallctl("version"): jemalloc's layout
 * (major.minor.bugfix-nrev-gid) so that parsers of it keep working, with
 * ingot's name and version in the gid. */
#define STATS_VERSION "5.3.0-0-gingot-" INGOT_VERSION

/* config.* (build-time facts), as jemalloc names them. */
#define STATS_CONFIG_FLAGS(X) \
	X(cache_oblivious, false) X(debug, INGOT_DEBUG != 0) X(fill, true) X(lazy_lock, false) \
	X(prof, true) X(prof_libgcc, false) X(prof_libunwind, false) \
	X(stats, INGOT_STATS != 0) X(utrace, false) X(xmalloc, true)

/* Largest size class thread caches keep, and how many classes they keep
 * (arenas.tcache_max, arenas.nhbins). */
size_t stats_tcache_maxclass(void);
unsigned stats_nhbins(void);

/* ---- printing ------------------------------------------------------------ */

/* The report of malloc_stats_print: refreshes the snapshot, then writes it
 * through write_cb (malloc_message, else stderr, when NULL) as text, or as
 * JSON when opts contains 'J'. Letters omit sections as jemalloc's do:
 * g general, m merged arenas, d destroyed arenas, a per-arena, b bins,
 * l large, x mutexes (ingot has no mutex counters), e extents. */
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

void stats_fork_prepare(void);
void stats_fork_parent(void);
void stats_fork_child(void);

#endif
