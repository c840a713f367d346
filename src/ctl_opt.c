/*
 * ctl_opt.c — opt.*: every run-time option, read-only, one leaf per line of
 * conf_options.inc in the same order as conf_descs[] (both are generated
 * from that list), so a leaf's position is its option's index.
 *
 * Value types are jemalloc's: BOOL bool, SIZE size_t, SSIZE ssize_t, STR
 * const char *; opt.narenas is unsigned in jemalloc and reads as the number
 * of automatic arenas in use (the option's 0 means "one per CPU").
 *
 * After them come jemalloc 5.3's options that are facts of ingot's design
 * rather than settings, read-only like the others: they read what ingot
 * does (no cache-oblivious offsets, no dss, ...), and MALLOC_CONF cannot
 * set them. opt.utrace answers as in a jemalloc built without utrace
 * (config.utrace false): the name resolves and reading it is ENOENT.
 */
#include "ctl.h"

#include "arena.h"
#include "conf.h"

static bool is_narenas(const char *name)
{
	const char *want = "narenas";
	while (*name && *name == *want) {
		name++;
		want++;
	}
	return *name == '\0' && *want == '\0';
}

static int opt_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)miblen;
	int err = ctl_readonly(io);
	if (err)
		return err;
	const struct conf_desc *d = &conf_descs[mib[1]];
	switch (d->kind) {
	case CONF_BOOL:
		CTL_READ(io, bool, *(const bool *)d->value);
	case CONF_SIZE:
		if (is_narenas(d->name))
			CTL_READ(io, unsigned, narenas_auto);
		CTL_READ(io, size_t, *(const size_t *)d->value);
	case CONF_SSIZE:
		CTL_READ(io, ptrdiff_t, (ptrdiff_t)*(const int64_t *)d->value);
	case CONF_STR:
		CTL_READ(io, const char *, (const char *)d->value);
	}
	return ARCH_ENOENT;
}

/* Large blocks get no random offset within their first page. */
CTL_RO(opt_cache_oblivious_ctl, bool, false)
/* ingot takes its memory from mmap only, never from sbrk. */
CTL_RO(opt_dss_ctl, const char *, CTL_DSS_DISABLED)
/* Purged pages are taken to read as zero when the arch layer says the
 * purge zeroed them (MADV_DONTNEED on Linux); nothing checks at start. */
CTL_RO(opt_trust_madvise_ctl, bool, true)
/* Blocks of this usable size and more get a mapping of their own (huge):
 * ingot's counterpart of jemalloc's dedicated arena for oversize blocks. */
CTL_RO(opt_oversize_threshold_ctl, size_t, ARENA_LARGE_MAX + PAGE)
/* No statistics are printed at intervals. */
CTL_RO(opt_stats_interval_ctl, int64_t, -1)
CTL_RO(opt_stats_interval_opts_ctl, const char *, "")

static const struct ctl_node opt_kids[] = {
#define OPT(kind, name, def, help) CTL_LEAF(#name, opt_ctl),
#include "conf_options.inc"
#undef OPT
    CTL_LEAF("cache_oblivious", opt_cache_oblivious_ctl),
    CTL_LEAF("dss", opt_dss_ctl),
    CTL_LEAF("trust_madvise", opt_trust_madvise_ctl),
    CTL_LEAF("oversize_threshold", opt_oversize_threshold_ctl),
    CTL_LEAF("stats_interval", opt_stats_interval_ctl),
    CTL_LEAF("stats_interval_opts", opt_stats_interval_opts_ctl),
    CTL_LEAF("utrace", ctl_compiled_out),
};

const struct ctl_node ctl_opt_node = CTL_INNER("opt", opt_kids);
