/*
 * stats.h — counters gathered from every layer, and their printing.
 *
 * Layers keep their own counters where they already hold a lock (bins,
 * page heaps) or with relaxed atomics (large and huge); this module only
 * reads and sums them. Nothing here is on a fast path.
 */
#ifndef INGOT_STATS_H
#define INGOT_STATS_H

#include "common.h"
#include "ingot.h"

/* Per-arena figures, summed over all arenas with index MALLCTL_ARENAS_ALL. */
struct arena_stats {
	size_t allocated_small, allocated_large;
	size_t active, dirty, mapped, retained;
	uint64_t nmalloc_small, ndalloc_small, nmalloc_large, ndalloc_large;
	uint64_t npurge, npurged;
	unsigned nthreads;
};

/* Sums the figures of arena index (or of all arenas for STATS_ALL). */
#define STATS_ALL 4096u
void stats_arena(unsigned index, struct arena_stats *out);

/* Process-wide figures (what ingot_stats_get reports). */
void stats_global(struct ingot_stats *out);

/* Writes the statistics report through write_cb (stderr when NULL), in
 * text, or in JSON when opts contains 'J'. */
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

#endif
