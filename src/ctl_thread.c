/*
 * ctl_thread.c — thread.* (the calling thread's arena, cache and counters)
 * and tcache.* (explicit caches for MALLOCX_TCACHE).
 */
#include "ctl.h"

#include "arena.h"
#include "stats.h"
#include "tcache.h"

/* ---- thread.arena ------------------------------------------------------------ */

static struct arena *thread_arena(void)
{
	struct tcache *tc = tcache_thread();
	return tc ? tc->arena : tcache_thread_arena();
}

/* Reads the thread's arena; a write binds the thread to another one (its
 * cache is flushed first). An index that names no usable arena is EFAULT,
 * as in jemalloc. */
static int thread_arena_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	unsigned old = thread_arena()->index, index;
	int err = ctl_write(io, &index, sizeof(index));
	if (err)
		return err;
	if (io->newp) {
		struct arena *a = index < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE)
		                      ? arena_get(index)
		                      : NULL;
		if (!a || arena_destroyed(index))
			return ARCH_EFAULT;
		tcache_set_thread_arena(a);
	}
	CTL_READ(io, unsigned, old);
}

/* ---- thread.allocated and friends ---------------------------------------- */

/*
 * The p forms hand out the address of a per-thread copy of the counter,
 * brought up to date whenever the thread reads any of these four names.
 * The cache counts per size class on its fast path (no byte counter to
 * point at), so between reads the copy lags; a program that polls it must
 * read thread.allocated now and then to move it on.
 */
static INGOT_THREAD_LOCAL uint64_t allocated_copy, deallocated_copy;

static void counters_update(void)
{
	allocated_copy = tcache_thread_allocated();
	deallocated_copy = tcache_thread_deallocated();
}

/* Each read refreshes the copies, which the p forms point at. */
CTL_RO(thread_allocated_ctl, uint64_t, (counters_update(), allocated_copy))
CTL_RO(thread_allocatedp_ctl, uint64_t *, (counters_update(), &allocated_copy))
CTL_RO(thread_deallocated_ctl, uint64_t, (counters_update(), deallocated_copy))
CTL_RO(thread_deallocatedp_ctl, uint64_t *, (counters_update(), &deallocated_copy))

/* ---- thread.tcache.* and thread.idle ---------------------------------------- */

static int thread_tcache_enabled_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	bool old = tcache_enabled(), value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp)
		tcache_set_enabled(value);
	CTL_READ(io, bool, old);
}

/* EFAULT when the thread's cache is switched off (jemalloc: no cache to
 * flush); a cache not made yet holds nothing, so there is nothing to do. */
static int thread_tcache_flush_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	if (!tcache_enabled())
		return ARCH_EFAULT;
	int err = ctl_neither(io);
	if (err)
		return err;
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
	return 0;
}

/* The thread will sleep a while: its cache goes back, and its arena's
 * dirty pages are purged as far as their decay time allows. */
static int thread_idle_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	int err = ctl_neither(io);
	if (err)
		return err;
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
	arena_purge(thread_arena(), false);
	return 0;
}

static const struct ctl_node thread_tcache_kids[] = {
    CTL_LEAF("enabled", thread_tcache_enabled_ctl),
    CTL_LEAF("flush", thread_tcache_flush_ctl),
};

/* jemalloc's thread.peak.*: ingot keeps no high-water mark of a thread's
 * net allocation; the names answer as in a build without them. */
static const struct ctl_node thread_peak_kids[] = {
    CTL_LEAF("read", ctl_compiled_out),
    CTL_LEAF("reset", ctl_compiled_out),
};

static const struct ctl_node thread_kids[] = {
    CTL_LEAF("arena", thread_arena_ctl),
    CTL_LEAF("allocated", thread_allocated_ctl),
    CTL_LEAF("allocatedp", thread_allocatedp_ctl),
    CTL_LEAF("deallocated", thread_deallocated_ctl),
    CTL_LEAF("deallocatedp", thread_deallocatedp_ctl),
    CTL_INNER("tcache", thread_tcache_kids),
    CTL_LEAF("idle", thread_idle_ctl),
    CTL_INNER("peak", thread_peak_kids),
    CTL_LINK("prof", &ctl_thread_prof_node),
};

const struct ctl_node ctl_thread_node = CTL_INNER("thread", thread_kids);

/* ---- tcache.* ----------------------------------------------------------------- */

/* The caller must give room for the index, else nothing is created. */
static int tcache_create_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	int err = ctl_readonly(io);
	if (!err)
		err = ctl_verify_read(io, sizeof(unsigned));
	if (err)
		return err;
	unsigned index;
	if (tcache_explicit_create(&index) != 0)
		return ARCH_EFAULT;
	CTL_READ(io, unsigned, index);
}

/* The index written to tcache.flush or tcache.destroy: the value is
 * required (EFAULT without one, as in jemalloc). */
static int tcache_written(struct ctl_io *io, unsigned *index)
{
	int err = ctl_writeonly(io);
	if (!err)
		err = ctl_write(io, index, sizeof(*index));
	if (!err && io->newp == NULL)
		err = ARCH_EFAULT;
	return err;
}

static int tcache_flush_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	unsigned index;
	int err = tcache_written(io, &index);
	if (err)
		return err;
	struct tcache *tc = tcache_explicit_get(index);
	if (!tc)
		return ARCH_EFAULT;
	tcache_flush(tc);
	return 0;
}

static int tcache_destroy_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	unsigned index;
	int err = tcache_written(io, &index);
	if (err)
		return err;
	return tcache_explicit_destroy(index) ? 0 : ARCH_EFAULT;
}

static const struct ctl_node tcache_kids[] = {
    CTL_LEAF("create", tcache_create_ctl),
    CTL_LEAF("flush", tcache_flush_ctl),
    CTL_LEAF("destroy", tcache_destroy_ctl),
};

const struct ctl_node ctl_tcache_node = CTL_INNER("tcache", tcache_kids);
