/*
 * ctl_arena.c — arena.<i>.* (one arena, or all of them) and arenas.* (the
 * arena set and the size classes).
 *
 * Indices are jemalloc's: arena.<i> accepts 0..narenas (narenas itself is
 * jemalloc's deprecated spelling of "all", for decay and purge),
 * MALLCTL_ARENAS_ALL (4096) and MALLCTL_ARENAS_DESTROYED (4097); each leaf
 * then says which of them it can act on, and answers EFAULT for the others.
 * Destroyed indices are reused by arenas.create, lowest first.
 */
#include "ctl.h"

#include "arena.h"
#include "conf.h"
#include "pagemap.h"
#include "stats.h"
#include "tcache.h"

/* Longest decay accepted: pageheap counts it in nanoseconds in 64 bits. */
#define DECAY_MS_MAX ((int64_t)(UINT64_MAX / 2 / 1000000u))

static bool decay_ms_valid(int64_t ms) { return ms >= -1 && ms <= DECAY_MS_MAX; }

/* The one shape of the four decay-time names (arena.<i>.* and arenas.*):
 * return old, and when a new value comes, check it and let apply store it
 * for target. */
static int decay_rw(struct ctl_io *io, int64_t old, void (*apply)(void *target, int64_t ms),
                    void *target)
{
	ptrdiff_t value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp) {
		if (!decay_ms_valid(value))
			return ARCH_EFAULT;
		apply(target, value);
	}
	CTL_READ(io, ptrdiff_t, (ptrdiff_t)old);
}

static unsigned narenas_now(void) { return __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); }

/* ---- muzzy decay: kept only to read back (ingot purges straight to the OS) */

static int64_t muzzy_ms[ARENAS_MAX];
static bool muzzy_set[ARENAS_MAX];
static int64_t muzzy_default;
static size_t retain_grow_limit[ARENAS_MAX]; /* 0: the default (see below) */
static bool muzzy_default_set;

static int64_t arenas_muzzy_default(void)
{
	return muzzy_default_set ? muzzy_default : opt.muzzy_decay_ms;
}

int64_t ctl_arena_muzzy_ms(unsigned i)
{
	return i < ARENAS_MAX && muzzy_set[i] ? muzzy_ms[i] : opt.muzzy_decay_ms;
}

/* ---- arena.<i>.* -------------------------------------------------------------- */

static bool arena_index_ok(const size_t *mib, size_t depth)
{
	size_t i = mib[depth];
	return i <= narenas_now() || i == CTL_ARENAS_ALL || i == CTL_ARENAS_DESTROYED;
}

/* The live arena of index i, or NULL (out of range, destroyed, ALL...). */
static struct arena *live_arena(size_t i)
{
	if (i >= narenas_now() || arena_destroyed((unsigned)i))
		return NULL;
	return arena_get((unsigned)i);
}

static int arena_initialized_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	int err = ctl_readonly(io);
	if (err)
		return err;
	size_t i = mib[1];
	bool initialized = i == CTL_ARENAS_ALL || live_arena(i) != NULL ||
	                   (i == CTL_ARENAS_DESTROYED && stats_snapshot_arena(STATS_DESTROYED, NULL));
	CTL_READ(io, bool, initialized);
}

/* decay (force false) and purge (force true): one arena, or every arena
 * for MALLCTL_ARENAS_ALL and for narenas. */
static int arena_purge_common(const size_t *mib, struct ctl_io *io, bool force)
{
	int err = ctl_neither(io);
	if (err)
		return err;
	size_t i = mib[1];
	unsigned n = narenas_now();
	if (i == CTL_ARENAS_ALL || i == n) {
		for (unsigned k = 0; k < n; k++)
			if (live_arena(k))
				arena_purge(arena_get(k), force);
		return 0;
	}
	if (i == CTL_ARENAS_DESTROYED)
		return ARCH_EFAULT;
	struct arena *a = live_arena(i);
	if (a)
		arena_purge(a, force);
	return 0;
}

static int arena_decay_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	return arena_purge_common(mib, io, false);
}

static int arena_purge_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	return arena_purge_common(mib, io, true);
}

/* The arena reset and destroy may act on: made by arenas.create, live. */
static struct arena *explicit_arena(size_t i)
{
	struct arena *a = live_arena(i);
	return a && a->index >= narenas_auto ? a : NULL;
}

static int arena_reset_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	int err = ctl_neither(io);
	if (err)
		return err;
	struct arena *a = explicit_arena(mib[1]);
	if (!a)
		return ARCH_EFAULT;
	/* The caller must flush every cache that holds objects of the arena;
	 * its own is flushed here, which costs little and saves a class of
	 * mistakes. */
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
	arena_reset(a);
	return 0;
}

/* Like reset, then the index is free for arenas.create and the arena's
 * counters move to MALLCTL_ARENAS_DESTROYED. Refused (EFAULT) while a
 * thread is bound to it (thread.arena). */
static int arena_destroy_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	int err = ctl_neither(io);
	if (err)
		return err;
	struct arena *a = explicit_arena(mib[1]);
	if (!a || __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED) != 0)
		return ARCH_EFAULT;
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
	arena_reset(a);
	arena_purge(a, true);
	stats_arena_retire(a);
	arena_destroy(a);
	muzzy_set[a->index] = false;
	retain_grow_limit[a->index] = 0;
	return 0;
}

static void set_arena_dirty(void *arena, int64_t ms)
{
	struct arena *a = arena;
	pageheap_set_decay(&a->heap, ms);
	/* As in jemalloc: every dirty page counts as fully decayed now. */
	if (ms != -1)
		pageheap_decay(&a->heap, true);
}

static void set_arena_muzzy(void *arena, int64_t ms)
{
	struct arena *a = arena;
	muzzy_ms[a->index] = ms;
	muzzy_set[a->index] = true;
}

static int arena_dirty_decay_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	struct arena *a = live_arena(mib[1]);
	if (!a)
		return ARCH_EFAULT;
	return decay_rw(io, __atomic_load_n(&a->heap.decay_ms, __ATOMIC_RELAXED), set_arena_dirty, a);
}

static int arena_muzzy_decay_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	struct arena *a = live_arena(mib[1]);
	if (!a)
		return ARCH_EFAULT;
	return decay_rw(io, ctl_arena_muzzy_ms(a->index), set_arena_muzzy, a);
}

/*
 * ingot never takes memory from sbrk: every arena reads "disabled", as in a
 * jemalloc built without dss. Writing "disabled" is accepted; the other
 * precedences are EFAULT there (no dss to use), any other string EINVAL.
 * MALLCTL_ARENAS_ALL and narenas name the default, as in jemalloc.
 */
static bool str_is(const char *s, const char *want)
{
	while (*s && *s == *want) {
		s++;
		want++;
	}
	return *s == *want;
}

static int arena_dss_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	const char *dss = NULL;
	int err = ctl_write(io, &dss, sizeof(dss));
	if (err)
		return err;
	if (dss && !str_is(dss, CTL_DSS_DISABLED) && !str_is(dss, "primary") &&
	    !str_is(dss, "secondary"))
		return ARCH_EINVAL;
	size_t i = mib[1];
	bool all = i == CTL_ARENAS_ALL || i == narenas_now();
	if (!all && !live_arena(i))
		return ARCH_EFAULT;
	if (dss && !str_is(dss, CTL_DSS_DISABLED))
		return ARCH_EFAULT;
	CTL_READ(io, const char *, CTL_DSS_DISABLED);
}

/*
 * The most retained address space an arena's heap may grow by at once.
 * ingot's heaps grow one chunk at a time whatever the limit, so the value
 * is only checked (at least a page, as jemalloc wants) and read back;
 * jemalloc's default is its largest size class ("no limit").
 */
#define RETAIN_GROW_DEFAULT ((size_t)7 << (sizeof(size_t) * 8 - 4))

static int arena_retain_grow_limit_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	struct arena *a = live_arena(mib[1]);
	if (!a)
		return ARCH_EFAULT;
	size_t *limit = &retain_grow_limit[a->index];
	size_t old = *limit ? *limit : RETAIN_GROW_DEFAULT, value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp) {
		if (value < PAGE)
			return ARCH_EFAULT;
		*limit = MIN(value, RETAIN_GROW_DEFAULT) & ~(PAGE - 1);
	}
	CTL_READ(io, size_t, old);
}

static const struct ctl_node arena_i_kids[] = {
    CTL_LEAF("initialized", arena_initialized_ctl),
    CTL_LEAF("decay", arena_decay_ctl),
    CTL_LEAF("purge", arena_purge_ctl),
    CTL_LEAF("reset", arena_reset_ctl),
    CTL_LEAF("destroy", arena_destroy_ctl),
    CTL_LEAF("dirty_decay_ms", arena_dirty_decay_ctl),
    CTL_LEAF("muzzy_decay_ms", arena_muzzy_decay_ctl),
    CTL_LEAF("dss", arena_dss_ctl),
    CTL_LEAF("retain_grow_limit", arena_retain_grow_limit_ctl),
    /* ingot's pages come from its own page heap: no extent hooks */
    CTL_LEAF("extent_hooks", ctl_compiled_out),
};

static const struct ctl_node arena_i_node = CTL_INNER("", arena_i_kids);

const struct ctl_node ctl_arena_node = CTL_NUMBERED("arena", arena_index_ok, &arena_i_node);

/* ---- arenas.* ------------------------------------------------------------------- */

CTL_RO(arenas_narenas_ctl, unsigned, narenas_now())
CTL_RO(arenas_quantum_ctl, size_t, SC_QUANTUM)
CTL_RO(arenas_page_ctl, size_t, PAGE)
CTL_RO(arenas_tcache_max_ctl, size_t, tcache_max_size())
CTL_RO(arenas_nbins_ctl, unsigned, SC_NSMALL)
CTL_RO(arenas_nhbins_ctl, unsigned, tcache_nclasses())
CTL_RO(arenas_nlextents_ctl, unsigned, SC_NCLASSES - SC_NSMALL)

/* Default decay times of arenas made from now on. */
static void set_default_dirty(void *unused, int64_t ms)
{
	(void)unused;
	arena_set_default_decay(ms);
}

static void set_default_muzzy(void *unused, int64_t ms)
{
	(void)unused;
	muzzy_default = ms;
	muzzy_default_set = true;
}

static int arenas_dirty_decay_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	return decay_rw(io, arena_default_decay(), set_default_dirty, NULL);
}

static int arenas_muzzy_decay_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	return decay_rw(io, arenas_muzzy_default(), set_default_muzzy, NULL);
}

/* arenas.bin.<i>: small class i + 1 (ingot's class 0 is "none"). */
static bool bin_index_ok(const size_t *mib, size_t depth) { return mib[depth] < SC_NSMALL; }

CTL_RO(arenas_bin_size_ctl, size_t, sc_size[mib[2] + 1])
CTL_RO(arenas_bin_nregs_ctl, uint32_t, sc_nregs[mib[2] + 1])
CTL_RO(arenas_bin_slab_size_ctl, size_t, (size_t)sc_slab_pages[mib[2] + 1] << LG_PAGE)

static const struct ctl_node arenas_bin_i_kids[] = {
    CTL_LEAF("size", arenas_bin_size_ctl),
    CTL_LEAF("nregs", arenas_bin_nregs_ctl),
    CTL_LEAF("slab_size", arenas_bin_slab_size_ctl),
};
static const struct ctl_node arenas_bin_i_node = CTL_INNER("", arenas_bin_i_kids);

/* arenas.lextent.<i>: the large classes after the small ones. */
static bool lextent_index_ok(const size_t *mib, size_t depth)
{
	return mib[depth] < SC_NCLASSES - SC_NSMALL;
}

CTL_RO(arenas_lextent_size_ctl, size_t, sc_size[SC_NSMALL + 1 + mib[2]])

static const struct ctl_node arenas_lextent_i_kids[] = {
    CTL_LEAF("size", arenas_lextent_size_ctl),
};
static const struct ctl_node arenas_lextent_i_node = CTL_INNER("", arenas_lextent_i_kids);

/*
 * A new arena, outside the automatic ones; its index is read back (the
 * caller must give room for exactly an unsigned, else nothing is made).
 * The new value, if any, is jemalloc's extent_hooks_t pointer: ingot takes
 * its pages from its own page heap, so only NULL (default hooks) is
 * accepted; other hooks are EFAULT.
 */
static int arenas_create_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	int err = ctl_verify_read(io, sizeof(unsigned));
	if (err)
		return err;
	void *hooks = NULL;
	err = ctl_write(io, &hooks, sizeof(hooks));
	if (err)
		return err;
	if (hooks)
		return ARCH_EFAULT;
	int index = arena_revive();
	if (index < 0)
		index = arena_create();
	if (index < 0)
		return ARCH_EAGAIN;
	muzzy_ms[index] = arenas_muzzy_default();
	muzzy_set[index] = true;
	CTL_READ(io, unsigned, (unsigned)index);
}

/* The arena a block (or any address inside one) belongs to. */
static int arenas_lookup_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	void *ptr = NULL;
	int err = ctl_write(io, &ptr, sizeof(ptr));
	if (err)
		return err;
	struct chunk *c = ptr ? pagemap_lookup((uintptr_t)ptr) : NULL;
	if (!c)
		return ARCH_EINVAL;
	CTL_READ(io, unsigned, c->arena->index);
}

static const struct ctl_node arenas_kids[] = {
    CTL_LEAF("narenas", arenas_narenas_ctl),
    CTL_LEAF("dirty_decay_ms", arenas_dirty_decay_ctl),
    CTL_LEAF("muzzy_decay_ms", arenas_muzzy_decay_ctl),
    CTL_LEAF("quantum", arenas_quantum_ctl),
    CTL_LEAF("page", arenas_page_ctl),
    CTL_LEAF("tcache_max", arenas_tcache_max_ctl),
    CTL_LEAF("nbins", arenas_nbins_ctl),
    CTL_LEAF("nhbins", arenas_nhbins_ctl),
    CTL_NUMBERED("bin", bin_index_ok, &arenas_bin_i_node),
    CTL_LEAF("nlextents", arenas_nlextents_ctl),
    CTL_NUMBERED("lextent", lextent_index_ok, &arenas_lextent_i_node),
    CTL_LEAF("create", arenas_create_ctl),
    CTL_LEAF("lookup", arenas_lookup_ctl),
};

const struct ctl_node ctl_arenas_node = CTL_INNER("arenas", arenas_kids);
