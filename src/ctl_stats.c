/*
 * ctl_stats.c — stats.*: the snapshot taken at the last epoch write (see
 * stats.h), process-wide and per arena, per small size class.
 *
 * stats.arenas.<i> accepts the arenas alive at the last refresh,
 * MALLCTL_ARENAS_ALL (their sum) and, once an arena was destroyed,
 * MALLCTL_ARENAS_DESTROYED (the destroyed arenas' counters); other indices
 * are ENOENT, as in jemalloc. ingot has no muzzy pages: the muzzy figures
 * read 0. Bin nrequests equals nmalloc: thread-cache hits are not counted
 * per size class.
 *
 * lextents.<j> counts large blocks per large class (huge blocks, above the
 * last class, only in large.*); extents.<j> is read live (stats_extents).
 *
 * Figures ingot does not keep answer as in a jemalloc built without them
 * (ctl_compiled_out: the name resolves, reading it is ENOENT): the lock
 * counters (stats.mutexes.*, stats.arenas.<i>.mutexes.*, bins.<j>.mutex.*)
 * and bins.<j>.nreslabs.
 */
#include "ctl.h"

#include "stats.h"

/* ---- stats.<global> ---------------------------------------------------------- */

static struct ingot_stats global_now(void)
{
	struct ingot_stats g;
	stats_snapshot_global(&g);
	return g;
}

CTL_RO(stats_allocated_ctl, size_t, global_now().allocated)
CTL_RO(stats_active_ctl, size_t, global_now().active)
CTL_RO(stats_metadata_ctl, size_t, global_now().metadata)
CTL_RO(stats_resident_ctl, size_t, global_now().resident)
CTL_RO(stats_mapped_ctl, size_t, global_now().mapped)
CTL_RO(stats_retained_ctl, size_t, global_now().retained)
CTL_RO(stats_zero_reallocs_ctl, size_t, stats_zero_reallocs())
CTL_RO(stats_metadata_thp_ctl, size_t, 0) /* metadata is never on huge pages */

/* ---- lock counters: jemalloc's names, none kept ------------------------------- */

static const struct ctl_node mutex_counter_kids[] = {
    CTL_LEAF("num_ops", ctl_compiled_out),
    CTL_LEAF("num_spin_acq", ctl_compiled_out),
    CTL_LEAF("num_wait", ctl_compiled_out),
    CTL_LEAF("max_wait_time", ctl_compiled_out),
    CTL_LEAF("total_wait_time", ctl_compiled_out),
    CTL_LEAF("max_num_thds", ctl_compiled_out),
    CTL_LEAF("num_owner_switch", ctl_compiled_out),
};
#define MUTEX_NODE(n) CTL_INNER(n, mutex_counter_kids)

static const struct ctl_node global_mutex_kids[] = {
    MUTEX_NODE("ctl"),
    MUTEX_NODE("background_thread"),
    MUTEX_NODE("max_per_bg_thd"),
    MUTEX_NODE("prof"),
    MUTEX_NODE("prof_thds_data"),
    MUTEX_NODE("prof_dump"),
    MUTEX_NODE("prof_recent_alloc"),
    MUTEX_NODE("prof_recent_dump"),
    MUTEX_NODE("prof_stats"),
    CTL_LEAF("reset", ctl_compiled_out),
};

static const struct ctl_node arena_mutex_kids[] = {
    MUTEX_NODE("large"),
    MUTEX_NODE("extent_avail"),
    MUTEX_NODE("extents_dirty"),
    MUTEX_NODE("extents_muzzy"),
    MUTEX_NODE("extents_retained"),
    MUTEX_NODE("decay_dirty"),
    MUTEX_NODE("decay_muzzy"),
    MUTEX_NODE("base"),
    MUTEX_NODE("tcache_list"),
    MUTEX_NODE("hpa_shard"),
    MUTEX_NODE("hpa_shard_grow"),
    MUTEX_NODE("hpa_sec"),
};

/* ---- stats.arenas.<i> ------------------------------------------------------------ */

static bool arenas_index_ok(const size_t *mib, size_t depth)
{
	size_t i = mib[depth];
	return i <= CTL_ARENAS_DESTROYED && stats_snapshot_arena((unsigned)i, NULL);
}

/* The snapshot of arena mib[2]; handlers run under the ctl lock, one at a
 * time, so one copy serves them all. */
static struct arena_stats snap;

static const struct arena_stats *arena_of(const size_t *mib)
{
	stats_snapshot_arena((unsigned)mib[2], &snap);
	return &snap;
}

/* A read-only leaf of stats.arenas.<i>: expr reads s (the arena's figures). */
#define ARENA_RO(fname, type, expr) \
	static int fname(const size_t *mib, size_t miblen, struct ctl_io *io) \
	{ \
		(void)miblen; \
		int err_ = ctl_readonly(io); \
		if (err_) \
			return err_; \
		const struct arena_stats *s = arena_of(mib); \
		(void)s; \
		CTL_READ(io, type, expr); \
	}

ARENA_RO(nthreads_ctl, unsigned, s->nthreads)
ARENA_RO(dirty_decay_ms_ctl, ptrdiff_t, (ptrdiff_t)s->dirty_decay_ms)
ARENA_RO(muzzy_decay_ms_ctl, ptrdiff_t, (ptrdiff_t)ctl_arena_muzzy_ms((unsigned)mib[2]))
ARENA_RO(pactive_ctl, size_t, s->pactive)
ARENA_RO(pdirty_ctl, size_t, s->pdirty)
ARENA_RO(pmuzzy_ctl, size_t, 0)
ARENA_RO(mapped_ctl, size_t, s->mapped)
ARENA_RO(retained_ctl, size_t, s->retained)
ARENA_RO(resident_ctl, size_t, s->resident)
ARENA_RO(dirty_npurge_ctl, uint64_t, s->npurge)
ARENA_RO(dirty_nmadvise_ctl, uint64_t, s->npurge)
ARENA_RO(dirty_purged_ctl, uint64_t, s->npurged)
ARENA_RO(muzzy_npurge_ctl, uint64_t, 0)
ARENA_RO(muzzy_nmadvise_ctl, uint64_t, 0)
ARENA_RO(muzzy_purged_ctl, uint64_t, 0)
ARENA_RO(dss_ctl, const char *, CTL_DSS_DISABLED)
ARENA_RO(uptime_ctl, uint64_t, s->uptime_ns)
ARENA_RO(extent_avail_ctl, size_t, s->extent_avail)
ARENA_RO(base_ctl, size_t, s->base)
ARENA_RO(internal_ctl, size_t, 0) /* all metadata comes from base memory */
ARENA_RO(arena_metadata_thp_ctl, size_t, 0)

ARENA_RO(small_allocated_ctl, size_t, s->allocated_small)
ARENA_RO(small_nmalloc_ctl, uint64_t, s->nmalloc_small)
ARENA_RO(small_ndalloc_ctl, uint64_t, s->ndalloc_small)
ARENA_RO(small_nrequests_ctl, uint64_t, s->nmalloc_small)
ARENA_RO(small_nfills_ctl, uint64_t, s->nfills_small)
ARENA_RO(small_nflushes_ctl, uint64_t, s->nflushes_small)

ARENA_RO(large_allocated_ctl, size_t, s->allocated_large)
ARENA_RO(large_nmalloc_ctl, uint64_t, s->nmalloc_large)
ARENA_RO(large_ndalloc_ctl, uint64_t, s->ndalloc_large)
ARENA_RO(large_nrequests_ctl, uint64_t, s->nmalloc_large)
ARENA_RO(large_nfills_ctl, uint64_t, 0)    /* large blocks are never cached */
ARENA_RO(large_nflushes_ctl, uint64_t, 0)

/* stats.arenas.<i>.bins.<j>: small class j + 1. */
static bool bins_index_ok(const size_t *mib, size_t depth) { return mib[depth] < SC_NSMALL; }

#define BIN(s) (&(s)->bins[mib[4] + 1])
ARENA_RO(bin_nmalloc_ctl, uint64_t, BIN(s)->nmalloc)
ARENA_RO(bin_ndalloc_ctl, uint64_t, BIN(s)->ndalloc)
ARENA_RO(bin_nrequests_ctl, uint64_t, BIN(s)->nmalloc)
ARENA_RO(bin_curregs_ctl, size_t, BIN(s)->curregs)
ARENA_RO(bin_nfills_ctl, uint64_t, BIN(s)->nfills)
ARENA_RO(bin_nflushes_ctl, uint64_t, BIN(s)->nflushes)
ARENA_RO(bin_nslabs_ctl, uint64_t, BIN(s)->nslabs)
ARENA_RO(bin_curslabs_ctl, size_t, BIN(s)->curslabs)
ARENA_RO(bin_nonfull_slabs_ctl, size_t, BIN(s)->nonfull_slabs)
#undef BIN

static const struct ctl_node bin_j_kids[] = {
    CTL_LEAF("nmalloc", bin_nmalloc_ctl),
    CTL_LEAF("ndalloc", bin_ndalloc_ctl),
    CTL_LEAF("nrequests", bin_nrequests_ctl),
    CTL_LEAF("curregs", bin_curregs_ctl),
    CTL_LEAF("nfills", bin_nfills_ctl),
    CTL_LEAF("nflushes", bin_nflushes_ctl),
    CTL_LEAF("nslabs", bin_nslabs_ctl),
    CTL_LEAF("curslabs", bin_curslabs_ctl),
    CTL_LEAF("nonfull_slabs", bin_nonfull_slabs_ctl),
    CTL_LEAF("nreslabs", ctl_compiled_out),
    CTL_INNER("mutex", mutex_counter_kids),
};
static const struct ctl_node bin_j_node = CTL_INNER("", bin_j_kids);

static const struct ctl_node small_kids[] = {
    CTL_LEAF("allocated", small_allocated_ctl),
    CTL_LEAF("nmalloc", small_nmalloc_ctl),
    CTL_LEAF("ndalloc", small_ndalloc_ctl),
    CTL_LEAF("nrequests", small_nrequests_ctl),
    CTL_LEAF("nfills", small_nfills_ctl),
    CTL_LEAF("nflushes", small_nflushes_ctl),
};

static const struct ctl_node large_kids[] = {
    CTL_LEAF("allocated", large_allocated_ctl),
    CTL_LEAF("nmalloc", large_nmalloc_ctl),
    CTL_LEAF("ndalloc", large_ndalloc_ctl),
    CTL_LEAF("nrequests", large_nrequests_ctl),
    CTL_LEAF("nfills", large_nfills_ctl),
    CTL_LEAF("nflushes", large_nflushes_ctl),
};

/* extents.<j>: jemalloc's page-size classes. */
static bool extents_index_ok(const size_t *mib, size_t depth)
{
	return mib[depth] < STATS_NPSIZES;
}

/* The free runs of arena mib[2] in page-size class mib[4], read live. */
static struct extent_stats extents_of(const size_t *mib)
{
	struct extent_stats e = {0};
	unsigned i = (unsigned)mib[2];
	if (i != CTL_ARENAS_DESTROYED)
		stats_extents(i == CTL_ARENAS_ALL ? STATS_ALL : i, (unsigned)mib[4], &e);
	return e;
}

#define EXTENT_RO(fname, expr) \
	static int fname(const size_t *mib, size_t miblen, struct ctl_io *io) \
	{ \
		(void)miblen; \
		int err_ = ctl_readonly(io); \
		if (err_) \
			return err_; \
		struct extent_stats e = extents_of(mib); \
		(void)e; \
		CTL_READ(io, size_t, expr); \
	}
EXTENT_RO(extents_ndirty_ctl, e.ndirty)
EXTENT_RO(extents_nmuzzy_ctl, 0)
EXTENT_RO(extents_nretained_ctl, e.nretained)
EXTENT_RO(extents_dirty_bytes_ctl, e.dirty_bytes)
EXTENT_RO(extents_muzzy_bytes_ctl, 0)
EXTENT_RO(extents_retained_bytes_ctl, e.retained_bytes)

static const struct ctl_node extents_j_kids[] = {
    CTL_LEAF("ndirty", extents_ndirty_ctl),
    CTL_LEAF("nmuzzy", extents_nmuzzy_ctl),
    CTL_LEAF("nretained", extents_nretained_ctl),
    CTL_LEAF("dirty_bytes", extents_dirty_bytes_ctl),
    CTL_LEAF("muzzy_bytes", extents_muzzy_bytes_ctl),
    CTL_LEAF("retained_bytes", extents_retained_bytes_ctl),
};
static const struct ctl_node extents_j_node = CTL_INNER("", extents_j_kids);

/* lextents.<j>: the large classes of arenas.lextent.<j>. */
static bool lextents_index_ok(const size_t *mib, size_t depth)
{
	return mib[depth] < SC_NLARGE;
}

#define LEXT_MALLOC(s) ((s)->lextent_nmalloc[mib[4]])
#define LEXT_DALLOC(s) ((s)->lextent_ndalloc[mib[4]])
ARENA_RO(lextents_nmalloc_ctl, uint64_t, LEXT_MALLOC(s))
ARENA_RO(lextents_ndalloc_ctl, uint64_t, LEXT_DALLOC(s))
ARENA_RO(lextents_nrequests_ctl, uint64_t, LEXT_MALLOC(s))
ARENA_RO(lextents_curlextents_ctl, size_t, (size_t)(LEXT_MALLOC(s) - LEXT_DALLOC(s)))
#undef LEXT_MALLOC
#undef LEXT_DALLOC

static const struct ctl_node lextents_j_kids[] = {
    CTL_LEAF("nmalloc", lextents_nmalloc_ctl),
    CTL_LEAF("ndalloc", lextents_ndalloc_ctl),
    CTL_LEAF("nrequests", lextents_nrequests_ctl),
    CTL_LEAF("curlextents", lextents_curlextents_ctl),
};
static const struct ctl_node lextents_j_node = CTL_INNER("", lextents_j_kids);

static const struct ctl_node arena_i_kids[] = {
    CTL_LEAF("nthreads", nthreads_ctl),
    CTL_LEAF("dss", dss_ctl),
    CTL_LEAF("uptime", uptime_ctl),
    CTL_LEAF("extent_avail", extent_avail_ctl),
    CTL_LEAF("base", base_ctl),
    CTL_LEAF("internal", internal_ctl),
    CTL_LEAF("metadata_thp", arena_metadata_thp_ctl),
    CTL_LEAF("dirty_decay_ms", dirty_decay_ms_ctl),
    CTL_LEAF("muzzy_decay_ms", muzzy_decay_ms_ctl),
    CTL_LEAF("pactive", pactive_ctl),
    CTL_LEAF("pdirty", pdirty_ctl),
    CTL_LEAF("pmuzzy", pmuzzy_ctl),
    CTL_LEAF("mapped", mapped_ctl),
    CTL_LEAF("retained", retained_ctl),
    CTL_LEAF("resident", resident_ctl),
    CTL_LEAF("dirty_npurge", dirty_npurge_ctl),
    CTL_LEAF("dirty_nmadvise", dirty_nmadvise_ctl),
    CTL_LEAF("dirty_purged", dirty_purged_ctl),
    CTL_LEAF("muzzy_npurge", muzzy_npurge_ctl),
    CTL_LEAF("muzzy_nmadvise", muzzy_nmadvise_ctl),
    CTL_LEAF("muzzy_purged", muzzy_purged_ctl),
    CTL_INNER("small", small_kids),
    CTL_INNER("large", large_kids),
    CTL_NUMBERED("bins", bins_index_ok, &bin_j_node),
    CTL_NUMBERED("extents", extents_index_ok, &extents_j_node),
    CTL_NUMBERED("lextents", lextents_index_ok, &lextents_j_node),
    CTL_INNER("mutexes", arena_mutex_kids),
};
static const struct ctl_node arena_i_node = CTL_INNER("", arena_i_kids);

static const struct ctl_node stats_kids[] = {
    CTL_LEAF("allocated", stats_allocated_ctl),
    CTL_LEAF("active", stats_active_ctl),
    CTL_LEAF("metadata", stats_metadata_ctl),
    CTL_LEAF("resident", stats_resident_ctl),
    CTL_LEAF("mapped", stats_mapped_ctl),
    CTL_LEAF("retained", stats_retained_ctl),
    CTL_LEAF("zero_reallocs", stats_zero_reallocs_ctl),
    CTL_LEAF("metadata_thp", stats_metadata_thp_ctl),
    CTL_INNER("mutexes", global_mutex_kids),
    CTL_NUMBERED("arenas", arenas_index_ok, &arena_i_node),
    CTL_LINK("background_thread", &ctl_stats_background_node),
};

const struct ctl_node ctl_stats_node = CTL_INNER("stats", stats_kids);
