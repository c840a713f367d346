/*
 * ctl_prof.c — prof.* and thread.prof.*: jemalloc 5.3's names, types and
 * error codes, as Debian's jemalloc answers them. Without opt.prof, reads
 * give false or 0, and writes and actions are ENOENT (writing false to
 * prof.active is accepted: nothing changes). ingot adds prof.dump_pprof,
 * which writes the gperftools form that google-pprof reads.
 */
#include "ctl.h"

#include "conf.h"
#include "prof.h"

/* A bool leaf: reads get(); a write needs prof:true (but writing false to
 * what is off anyway), then set(value). */
static int bool_leaf(struct ctl_io *io, bool (*get)(void), void (*set)(bool), bool false_ok)
{
	bool old = prof_enabled && get(), value;
	int err = ctl_write(io, &value, sizeof(value));
	if (err)
		return err;
	if (io->newp) {
		if (!prof_enabled && !(false_ok && !value))
			return ARCH_ENOENT;
		if (prof_enabled)
			set(value);
	}
	CTL_READ(io, bool, old);
}

#define BOOL_CTL(fname, get, set, false_ok) \
	static int fname(const size_t *mib, size_t miblen, struct ctl_io *io) \
	{ \
		(void)mib; \
		(void)miblen; \
		return bool_leaf(io, get, set, false_ok); \
	}

BOOL_CTL(prof_active_ctl, prof_active_get, prof_active_set, true)
BOOL_CTL(prof_thread_active_init_ctl, prof_thread_active_init_get, prof_thread_active_init_set, false)
BOOL_CTL(prof_gdump_ctl, prof_gdump_get, prof_gdump_set, false)
BOOL_CTL(thread_prof_active_ctl, prof_thread_active_get, prof_thread_active_set, false)

/* Writes a profile: the path written, or NULL (or no new value) for the
 * automatic name. EFAULT when the file cannot be written. */
static int dump_leaf(struct ctl_io *io, enum prof_format format)
{
	if (!prof_enabled)
		return ARCH_ENOENT;
	int err = ctl_writeonly(io);
	if (err)
		return err;
	const char *path = NULL;
	err = ctl_write(io, &path, sizeof(path));
	if (err)
		return err;
	return prof_dump(path, format, PROF_DUMP_MANUAL) ? ARCH_EFAULT : 0;
}

static int prof_dump_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	return dump_leaf(io, PROF_FORMAT_JEMALLOC);
}

static int prof_dump_pprof_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	return dump_leaf(io, PROF_FORMAT_PPROF);
}

/* Sets the prefix of automatic dump names (opt.prof_prefix reads it). */
static int prof_prefix_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	if (!prof_enabled)
		return ARCH_ENOENT;
	int err = ctl_writeonly(io);
	const char *prefix = NULL;
	if (!err)
		err = ctl_write(io, &prefix, sizeof(prefix));
	if (err)
		return err;
	if (!prefix)
		return ARCH_EINVAL;
	size_t len = 0;
	while (prefix[len])
		len++;
	if (len >= CONF_STR_MAX)
		return ARCH_EINVAL;
	ingot_memcpy(opt.prof_prefix, prefix, len + 1);
	return 0;
}

/* Drops every record and cumulative count; a new value sets lg_sample. */
static int prof_reset_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	if (!prof_enabled)
		return ARCH_ENOENT;
	int err = ctl_writeonly(io);
	size_t lg = prof_lg_sample();
	if (!err)
		err = ctl_write(io, &lg, sizeof(lg));
	if (err)
		return err;
	if (lg >= 63)
		return ARCH_EINVAL;
	prof_reset((unsigned)lg);
	return 0;
}

CTL_RO(prof_lg_sample_ctl, size_t, prof_enabled ? prof_lg_sample() : 0)
CTL_RO(prof_interval_ctl, uint64_t, prof_interval())

/* The thread's name in profiles: "" until set; the string is copied. Read
 * or written, not both in one call (EPERM), and only printable characters
 * (else EFAULT), as jemalloc's. */
static int thread_prof_name_ctl(const size_t *mib, size_t miblen, struct ctl_io *io)
{
	(void)mib;
	(void)miblen;
	if (!prof_enabled)
		return ARCH_ENOENT;
	if (io->oldp && io->oldlenp && (io->newp || io->newlen))
		return ARCH_EPERM;
	const char *name = NULL;
	int err = ctl_write(io, &name, sizeof(name));
	if (err || !io->newp)
		return err ? err : ctl_read(io, &(const char *){prof_thread_name()}, sizeof(name));
	if (!name)
		return ARCH_EFAULT;
	for (const char *c = name; *c; c++)
		if (*c < ' ' || *c > '~')
			return ARCH_EFAULT;
	prof_thread_name_set(name);
	return 0;
}

static const struct ctl_node prof_kids[] = {
    CTL_LEAF("thread_active_init", prof_thread_active_init_ctl),
    CTL_LEAF("active", prof_active_ctl),
    CTL_LEAF("dump", prof_dump_ctl),
    CTL_LEAF("dump_pprof", prof_dump_pprof_ctl),
    CTL_LEAF("gdump", prof_gdump_ctl),
    CTL_LEAF("prefix", prof_prefix_ctl),
    CTL_LEAF("reset", prof_reset_ctl),
    CTL_LEAF("interval", prof_interval_ctl),
    CTL_LEAF("lg_sample", prof_lg_sample_ctl),
};

const struct ctl_node ctl_prof_node = CTL_INNER("prof", prof_kids);

static const struct ctl_node thread_prof_kids[] = {
    CTL_LEAF("name", thread_prof_name_ctl),
    CTL_LEAF("active", thread_prof_active_ctl),
};

const struct ctl_node ctl_thread_prof_node = CTL_INNER("prof", thread_prof_kids);
