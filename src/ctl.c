/*
 * ctl.c — mallctl, mallctlnametomib, mallctlbymib and malloc_stats_print;
 * the root of the name tree and its small top-level leaves (version, epoch,
 * background_thread, max_background_threads, limit.*, config.*).
 *
 * Call tree:
 *   ingot_mallctl          -> ctl_begin -> walk_name -> leaf handler
 *   ingot_mallctlnametomib -> ctl_begin -> walk_name (may stop early)
 *   ingot_mallctlbymib     -> ctl_begin -> walk_mib  -> leaf handler
 *   ingot_malloc_stats_print -> stats_print (no ctl lock: its callback may
 *                               call mallctl)
 */
#include "ctl.h"

#include "arch.h"
#include "background.h"
#include "boot.h"
#include "conf.h"
#include "exports.h"
#include "guard.h"
#include "osmem.h"
#include "stats.h"

/* ---- the read/write rules -------------------------------------------------- */

int ctl_read(struct ctl_io *io, const void *value, size_t size)
{
	if (io->oldp == NULL || io->oldlenp == NULL)
		return 0;
	if (*io->oldlenp != size) {
		size_t n = MIN(*io->oldlenp, size);
		ingot_memcpy(io->oldp, value, n);
		*io->oldlenp = n;
		return ARCH_EINVAL;
	}
	ingot_memcpy(io->oldp, value, size);
	return 0;
}

int ctl_write(struct ctl_io *io, void *value, size_t size)
{
	if (io->newp == NULL)
		return 0;
	if (io->newlen != size)
		return ARCH_EINVAL;
	ingot_memcpy(value, io->newp, size);
	return 0;
}

int ctl_verify_read(struct ctl_io *io, size_t size)
{
	if (io->oldp == NULL || io->oldlenp == NULL || *io->oldlenp != size) {
		if (io->oldlenp != NULL)
			*io->oldlenp = 0;
		return ARCH_EINVAL;
	}
	return 0;
}

int ctl_compiled_out(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	(void)io;
	return ARCH_ENOENT;
}

/* ---- top-level leaves ------------------------------------------------------- */

CTL_RO(version_ctl, const char *, STATS_VERSION)

/* A write refreshes the snapshot that stats.* reads and advances the epoch;
 * the (new) epoch is read back. */
static int epoch_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	uint64_t ignored;
	int err = ctl_write(io, &ignored, sizeof(ignored));
	if (err)
		return err;
	if (io->newp)
		stats_refresh();
	CTL_READ(io, uint64_t, stats_epoch());
}

/* Writing true starts the background purger, false stops it (waiting
 * until its thread has ended); EAGAIN where no thread can be started. */
static int background_thread_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	bool old = background_on(), value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp && background_set(value) != 0)
		return ARCH_EAGAIN;
	CTL_READ(io, bool, old);
}

/* ingot runs one purger thread at most; the bound is kept and read back. */
static size_t max_background_threads;

static int max_background_threads_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	size_t old = max_background_threads, value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp) {
		if (value == 0 || value > ingot_arch.ncpus)
			return ARCH_EINVAL;
		max_background_threads = value;
	}
	CTL_READ(io, size_t, old);
}

/* limit.soft, limit.hard: the memory limits in bytes (0: none), read and
 * set (options limit_soft and limit_hard). */
static int limit_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	bool hard = mib[1] == 1; /* position in limit_kids */
	size_t soft_now = osmem_soft_limit(), hard_now = osmem_hard_limit();
	size_t old = hard ? hard_now : soft_now, value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp)
		osmem_set_limits(hard ? soft_now : value, hard ? value : hard_now);
	CTL_READ(io, size_t, old);
}

static const struct ctl_node limit_kids[] = {
    CTL_LEAF("soft", limit_ctl),
    CTL_LEAF("hard", limit_ctl),
};

/* guard.sampled, guard.failed (uint64_t), guard.live, guard.cells
 * (size_t): the guarded-allocation pool's counters (guard_sample). */
static int guard_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	if (io->newp)
		return ARCH_EPERM;
	struct guard_stats st;
	guard_stats_get(&st);
	switch (mib[1]) { /* position in guard_kids */
	case 0:
		CTL_READ(io, uint64_t, st.nsampled);
	case 1:
		CTL_READ(io, uint64_t, st.nfailed);
	case 2:
		CTL_READ(io, size_t, st.live);
	default:
		CTL_READ(io, size_t, st.ncells);
	}
}

static const struct ctl_node guard_kids[] = {
    CTL_LEAF("sampled", guard_ctl),
    CTL_LEAF("failed", guard_ctl),
    CTL_LEAF("live", guard_ctl),
    CTL_LEAF("cells", guard_ctl),
};

CTL_RO(config_malloc_conf_ctl, const char *, "")

#define CONFIG_FLAG_CTL(name, value) CTL_RO(config_##name##_ctl, bool, value)
STATS_CONFIG_FLAGS(CONFIG_FLAG_CTL)
#undef CONFIG_FLAG_CTL

static const struct ctl_node config_kids[] = {
    CTL_LEAF("malloc_conf", config_malloc_conf_ctl),
#define CONFIG_FLAG_NODE(name, value) CTL_LEAF(#name, config_##name##_ctl),
    STATS_CONFIG_FLAGS(CONFIG_FLAG_NODE)
#undef CONFIG_FLAG_NODE
};

static const struct ctl_node root_kids[] = {
    CTL_LEAF("version", version_ctl),
    CTL_LEAF("epoch", epoch_ctl),
    CTL_LEAF("background_thread", background_thread_ctl),
    CTL_LEAF("max_background_threads", max_background_threads_ctl),
    CTL_INNER("config", config_kids),
    CTL_INNER("limit", limit_kids),
    CTL_INNER("guard", guard_kids),
    CTL_LINK("opt", &ctl_opt_node),
    CTL_LINK("thread", &ctl_thread_node),
    CTL_LINK("tcache", &ctl_tcache_node),
    CTL_LINK("arena", &ctl_arena_node),
    CTL_LINK("arenas", &ctl_arenas_node),
    CTL_LINK("stats", &ctl_stats_node),
    CTL_LINK("prof", &ctl_prof_node),
};

static const struct ctl_node root = CTL_INNER("", root_kids);

/* ---- the walks ----------------------------------------------------------------- */

/* A decimal component, all digits; false when empty or too large. */
static bool parse_index(const char *s, size_t len, size_t *out)
{
	size_t v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Steps from node to its child named by mib[depth]; NULL when there is none. */
static const struct ctl_node *child(const struct ctl_node *node, const size_t *mib, size_t depth)
{
	const struct ctl_node *next = NULL;
	if (node->kind == CTL_KIND_NUMBERED)
		next = node->fn.index_ok(mib, depth) ? node->to.numbered : NULL;
	else if (node->kind == CTL_KIND_INNER && mib[depth] < node->nkids)
		next = &node->to.kids[mib[depth]];
	return next && next->kind == CTL_KIND_LINK ? next->to.link : next;
}

/*
 * Translates name into mib[0..*depth). On entry *depth is the room in mib;
 * the walk stops there (a partial MIB, for mallctlnametomib) or at a leaf,
 * and *depth says how far it got. *leaf is the leaf reached, or NULL when the
 * walk stopped early. Returns 0 or ENOENT.
 */
static int walk_name(const char *name, size_t *mib, size_t *depth, const struct ctl_node **leaf)
{
	const struct ctl_node *node = &root;
	const char *p = name;
	size_t room = *depth, d = 0;
	*leaf = NULL;
	if (room == 0) /* nothing asked: nothing to translate */
		return 0;
	for (;;) {
		const char *end = p;
		while (*end && *end != '.')
			end++;
		size_t len = (size_t)(end - p);
		if (node->kind == CTL_KIND_LEAF || len == 0)
			return ARCH_ENOENT;
		if (node->kind == CTL_KIND_NUMBERED) {
			if (!parse_index(p, len, &mib[d]))
				return ARCH_ENOENT;
		} else {
			size_t k = 0;
			while (k < node->nkids && !ingot_str_eq(p, len, node->to.kids[k].name))
				k++;
			mib[d] = k;
		}
		node = child(node, mib, d);
		if (!node)
			return ARCH_ENOENT;
		d++;
		if (*end == '\0') {
			if (node->kind != CTL_KIND_LEAF)
				return ARCH_ENOENT; /* the name stops at an inner node */
			*leaf = node;
			break;
		}
		if (d == room)
			break;
		p = end + 1;
	}
	*depth = d;
	return 0;
}

static int walk_mib(const size_t *mib, size_t miblen, const struct ctl_node **leaf)
{
	const struct ctl_node *node = &root;
	for (size_t d = 0; d < miblen; d++) {
		if (node->kind == CTL_KIND_LEAF)
			return ARCH_ENOENT;
		node = child(node, mib, d);
		if (!node)
			return ARCH_ENOENT;
	}
	if (node->kind != CTL_KIND_LEAF)
		return ARCH_ENOENT;
	*leaf = node;
	return 0;
}

/* ---- entry points ------------------------------------------------------------- */

static arch_lock_t ctl_lock = ARCH_LOCK_INIT;
static bool ctl_started; /* under ctl_lock */

/* Boots ingot if needed and takes the ctl lock; the first call also takes
 * the first snapshot, so that stats.* read sensibly before any epoch write. */
static void ctl_begin(void)
{
	ingot_ensure_booted();
	arch_lock_acquire(&ctl_lock);
	if (!ctl_started) {
		ctl_started = true;
		max_background_threads = opt.max_background_threads ? opt.max_background_threads
		                                                    : ingot_arch.ncpus;
		stats_refresh();
	}
}

static void ctl_end(void) { arch_lock_release(&ctl_lock); }

INGOT_EXPORT int ingot_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
                               size_t newlen)
{
	if (name == NULL)
		return ARCH_ENOENT;
	size_t mib[CTL_MAX_DEPTH], depth = CTL_MAX_DEPTH;
	const struct ctl_node *leaf;
	struct ctl_io io = {oldp, oldlenp, newp, newlen};
	ctl_begin();
	int err = walk_name(name, mib, &depth, &leaf);
	if (!err && !leaf)
		err = ARCH_ENOENT; /* deeper than any leaf */
	if (!err)
		err = leaf->fn.handler(mib, depth, &io);
	ctl_end();
	return err;
}

INGOT_EXPORT int ingot_mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp)
{
	if (name == NULL || mibp == NULL || miblenp == NULL)
		return ARCH_EINVAL;
	const struct ctl_node *leaf;
	size_t depth = *miblenp;
	ctl_begin();
	int err = walk_name(name, mibp, &depth, &leaf);
	ctl_end();
	if (!err)
		*miblenp = depth;
	return err;
}

INGOT_EXPORT int ingot_mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                                    void *newp, size_t newlen)
{
	if (mib == NULL || miblen == 0 || miblen > CTL_MAX_DEPTH)
		return ARCH_ENOENT;
	const struct ctl_node *leaf;
	struct ctl_io io = {oldp, oldlenp, newp, newlen};
	ctl_begin();
	int err = walk_mib(mib, miblen, &leaf);
	if (!err)
		err = leaf->fn.handler(mib, miblen, &io);
	ctl_end();
	return err;
}

INGOT_EXPORT void ingot_malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                                           const char *opts)
{
	ingot_ensure_booted();
	stats_print(write_cb, cbopaque, opts);
}

void ctl_fork_prepare(void)
{
	arch_lock_acquire(&ctl_lock);
	stats_fork_prepare();
}

void ctl_fork_parent(void)
{
	stats_fork_parent();
	arch_lock_release(&ctl_lock);
}

void ctl_fork_child(void)
{
	stats_fork_child();
	arch_lock_reset(&ctl_lock);
}

INGOT_CTL_NAMES(INGOT_ALIAS)
