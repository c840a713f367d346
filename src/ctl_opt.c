/*
 * ctl_opt.c — opt.*: every run-time option, read-only, one leaf per line of
 * conf_options.inc in the same order as conf_descs[] (both are generated
 * from that list), so a leaf's position is its option's index.
 *
 * Value types are jemalloc's: BOOL bool, SIZE size_t, SSIZE ssize_t, STR
 * const char *; opt.narenas is unsigned in jemalloc and reads as the number
 * of automatic arenas in use (the option's 0 means "one per CPU").
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
	return CTL_ENOENT;
}

static const struct ctl_node opt_kids[] = {
#define OPT(kind, name, def, help) CTL_LEAF(#name, opt_ctl),
#include "conf_options.inc"
#undef OPT
};

const struct ctl_node ctl_opt_node = CTL_INNER("opt", opt_kids);
