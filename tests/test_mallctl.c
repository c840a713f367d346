/*
 * test_mallctl.c — mallctl, mallctlnametomib and mallctlbymib: the name
 * walk, jemalloc's error codes, and what each name does.
 *
 * Criterion runs every test in a process of its own, so a test that makes
 * or destroys arenas sees none of another test's.
 */
#include "jemalloc_test.h"

#include <inttypes.h>

#include "arena.h"
#include "conf.h"
#include "pagemap.h"
#include "sizeclass.h"
#include "tcache.h"

/* The arena a block lives in, from ingot's page map. */
static unsigned arena_of(const void *p)
{
	struct chunk *c = pagemap_lookup((uintptr_t)p);
	cr_assert_not_null(c, "%p is not ingot's", p);
	return c->arena->index;
}

/* ---- the name walk ---------------------------------------------------------- */

Test(walk, unknown_and_incomplete_names_are_enoent)
{
	size_t v, len = sizeof(v);
	_Static_assert(SC_NSMALL == 52, "the bin names below are one past the last bin");
	const char *bad[] = {"", "nosuchname", "stats", "arenas", "arenas.bin", "arenas.bin.0",
	                     "version.more", "stats.allocated.x", "arenas.bin.x.size",
	                     "arenas.bin.-1.size", "arenas.bin.52.size", "arena..purge", ".version",
	                     "version.", "arenas..narenas", "stats.arenas.0.bins.52.nmalloc",
	                     "arenas.lextent.99999999999999999999999.size", "opt.nosuchoption",
	                     "config.nosuch", "thread.tcache", "arena.0"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		len = sizeof(v);
		int rc = JE(mallctl)(bad[i], &v, &len, NULL, 0);
		cr_assert_eq(rc, ENOENT, "mallctl(\"%s\") = %d, expected ENOENT", bad[i], rc);
	}
	CHECK_CTL(ENOENT, JE(mallctl)(NULL, &v, &len, NULL, 0));
}

Test(walk, arena_indices_follow_jemalloc)
{
	unsigned n = ctl_unsigned("arenas.narenas");
	CHECK_CTL(0, JE(mallctl)(ctl_name("arena.%u.purge", n - 1), NULL, NULL, NULL, 0));
	/* narenas itself is jemalloc's deprecated spelling of "all arenas" */
	CHECK_CTL(0, JE(mallctl)(ctl_name("arena.%u.purge", n), NULL, NULL, NULL, 0));
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("arena.%u.purge", n + 1), NULL, NULL, NULL, 0));
	CHECK_CTL(0, JE(mallctl)(ctl_name("arena.%d.purge", MALLCTL_ARENAS_ALL), NULL, NULL, NULL, 0));
	CHECK_CTL(0, JE(mallctl)(ctl_name("arena.%d.decay", MALLCTL_ARENAS_ALL), NULL, NULL, NULL, 0));
	CHECK_CTL(ENOENT, JE(mallctl)("arena.4098.purge", NULL, NULL, NULL, 0));
	/* leaves that act on one arena only refuse "all" */
	ssize_t ms;
	size_t len = sizeof(ms);
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%d.dirty_decay_ms", MALLCTL_ARENAS_ALL), &ms,
	                              &len, NULL, 0));
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%d.reset", MALLCTL_ARENAS_ALL), NULL, NULL,
	                              NULL, 0));
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%d.purge", MALLCTL_ARENAS_DESTROYED), NULL,
	                              NULL, NULL, 0));
}

Test(walk, nametomib_then_bymib)
{
	size_t mib[8], miblen = ARRAY_LEN(mib);
	CHECK_CTL(0, JE(mallctlnametomib)("arenas.bin.0.size", mib, &miblen));
	cr_assert_eq(miblen, 4);
	cr_assert_eq(mib[2], 0, "an integer component is the integer itself");
	unsigned nbins = ctl_unsigned("arenas.nbins");
	size_t prev = 0;
	for (unsigned i = 0; i < nbins; i++) {
		size_t size, len = sizeof(size);
		mib[2] = i;
		CHECK_CTL(0, JE(mallctlbymib)(mib, miblen, &size, &len, NULL, 0));
		cr_assert_gt(size, prev, "bin %u size %zu after %zu", i, size, prev);
		cr_assert_eq(size, JE(nallocx)(size, 0), "a bin size is a size class");
		cr_assert_eq(size, ctl_size(ctl_name("arenas.bin.%u.size", i)));
		prev = size;
	}
	size_t size, len = sizeof(size);
	mib[2] = nbins;
	CHECK_CTL(ENOENT, JE(mallctlbymib)(mib, miblen, &size, &len, NULL, 0));
	mib[2] = 0;
	mib[3] = 99; /* no such leaf under arenas.bin.0 */
	CHECK_CTL(ENOENT, JE(mallctlbymib)(mib, miblen, &size, &len, NULL, 0));
	mib[3] = 0;
	CHECK_CTL(ENOENT, JE(mallctlbymib)(mib, 3, &size, &len, NULL, 0)); /* stops at a node */
	CHECK_CTL(ENOENT, JE(mallctlbymib)(mib, 5, &size, &len, NULL, 0)); /* past a leaf */
	CHECK_CTL(ENOENT, JE(mallctlbymib)(mib, 0, &size, &len, NULL, 0));
}

Test(walk, partial_mib_is_completed_by_the_caller)
{
	size_t mib[6], miblen = 2;
	/* "*miblenp is the lesser of the number of components and its input" */
	CHECK_CTL(0, JE(mallctlnametomib)("stats.arenas.0.bins.3.nmalloc", mib, &miblen));
	cr_assert_eq(miblen, 2);
	size_t full[6], fulllen = 6;
	CHECK_CTL(0, JE(mallctlnametomib)("stats.arenas.0.bins.3.nmalloc", full, &fulllen));
	cr_assert_eq(fulllen, 6);
	cr_assert_eq(mib[0], full[0]);
	cr_assert_eq(mib[1], full[1]);
	mib[2] = MALLCTL_ARENAS_ALL;
	mib[3] = full[3];
	mib[4] = 3;
	mib[5] = full[5];
	uint64_t v;
	size_t vlen = sizeof(v);
	CHECK_CTL(0, JE(mallctlbymib)(mib, 6, &v, &vlen, NULL, 0));
	/* names that stop at an inner node are ENOENT, partial or not */
	miblen = 6;
	CHECK_CTL(ENOENT, JE(mallctlnametomib)("stats.arenas.0", mib, &miblen));
	miblen = 6;
	CHECK_CTL(ENOENT, JE(mallctlnametomib)("nosuch.name", mib, &miblen));
	CHECK_CTL(EINVAL, JE(mallctlnametomib)("version", mib, NULL));
}

/* ---- the read and write rules -------------------------------------------------- */

Test(rules, old_length_mismatch_copies_what_fits)
{
	uint64_t e = 0;
	size_t len = sizeof(uint32_t);
	uint64_t full;
	ctl_get("epoch", &full, sizeof(full));
	CHECK_CTL(EINVAL, JE(mallctl)("epoch", &e, &len, NULL, 0));
	cr_assert_eq(len, sizeof(uint32_t), "*oldlenp says how much was copied");
	cr_assert_eq((uint32_t)e, (uint32_t)full, "the first bytes were copied");
	unsigned char big[16];
	memset(big, 0xee, sizeof(big));
	len = sizeof(big);
	CHECK_CTL(EINVAL, JE(mallctl)("epoch", big, &len, NULL, 0));
	cr_assert_eq(len, sizeof(uint64_t));
	cr_assert_eq(big[8], 0xee, "nothing past the value is written");
	/* no oldlenp or no oldp: nothing read, no error */
	CHECK_CTL(0, JE(mallctl)("epoch", &e, NULL, NULL, 0));
	CHECK_CTL(0, JE(mallctl)("epoch", NULL, &len, NULL, 0));
}

Test(rules, writing_a_read_only_name_is_eperm)
{
	const char *v = NULL;
	size_t len = sizeof(v);
	CHECK_CTL(EPERM, JE(mallctl)("version", &v, &len, &v, sizeof(v)));
	CHECK_CTL(EPERM, JE(mallctl)("version", NULL, NULL, NULL, 1)); /* newlen alone */
	bool b = true;
	CHECK_CTL(EPERM, JE(mallctl)("opt.abort", NULL, NULL, &b, sizeof(b)));
	CHECK_CTL(EPERM, JE(mallctl)("config.debug", NULL, NULL, &b, sizeof(b)));
	size_t s = 1;
	CHECK_CTL(EPERM, JE(mallctl)("stats.allocated", NULL, NULL, &s, sizeof(s)));
	uint64_t u = 1;
	CHECK_CTL(EPERM, JE(mallctl)("thread.allocated", NULL, NULL, &u, sizeof(u)));
}

Test(rules, wrong_new_length_is_einval)
{
	uint64_t before = ctl_u64("epoch");
	uint32_t small = 1;
	CHECK_CTL(EINVAL, JE(mallctl)("epoch", NULL, NULL, &small, sizeof(small)));
	cr_assert_eq(ctl_u64("epoch"), before, "a refused write changes nothing");
	int wide = 1;
	CHECK_CTL(EINVAL, JE(mallctl)("thread.tcache.enabled", NULL, NULL, &wide, sizeof(wide)));
	cr_assert(ctl_bool("thread.tcache.enabled"));
}

Test(rules, actions_take_no_values)
{
	unsigned v = 0;
	size_t len = sizeof(v);
	CHECK_CTL(EPERM, JE(mallctl)("arena.0.purge", &v, &len, NULL, 0));
	CHECK_CTL(EPERM, JE(mallctl)("arena.0.decay", NULL, NULL, &v, sizeof(v)));
	CHECK_CTL(EPERM, JE(mallctl)("thread.tcache.flush", &v, &len, NULL, 0));
	CHECK_CTL(EPERM, JE(mallctl)("thread.idle", NULL, NULL, &v, sizeof(v)));
	/* write-only names cannot be read */
	CHECK_CTL(EPERM, JE(mallctl)("tcache.flush", &v, &len, NULL, 0));
	CHECK_CTL(EPERM, JE(mallctl)("tcache.destroy", &v, &len, NULL, 0));
}

/* ---- every name: type, access and lengths ------------------------------------------ */

enum access { RO, RW, WO, ACTION };

struct name_spec {
	const char *name;
	size_t size;
	enum access access;
};

/* Reads with the right length, with lengths one off, and writes as the
 * access allows. Writes use a wrong length only: no side effect. */
static void check_name(const struct name_spec *n)
{
	unsigned char buf[64], val[64];
	size_t len;
	memset(val, 0, sizeof(val));
	switch (n->access) {
	case RO:
	case RW:
		len = n->size;
		CHECK_CTL(0, JE(mallctl)(n->name, buf, &len, NULL, 0));
		cr_assert_eq(len, n->size, "%s: length %zu, expected %zu", n->name, len, n->size);
		len = n->size + 1;
		cr_assert_eq(JE(mallctl)(n->name, buf, &len, NULL, 0), EINVAL, "%s: long read", n->name);
		cr_assert_eq(len, n->size, "%s", n->name);
		len = n->size - 1;
		cr_assert_eq(JE(mallctl)(n->name, buf, &len, NULL, 0), EINVAL, "%s: short read", n->name);
		cr_assert_eq(len, n->size - 1, "%s", n->name);
		cr_assert_eq(JE(mallctl)(n->name, NULL, NULL, val, n->size + 1),
		             n->access == RO ? EPERM : EINVAL, "%s: write", n->name);
		break;
	case WO:
		len = n->size;
		cr_assert_eq(JE(mallctl)(n->name, buf, &len, NULL, 0), EPERM, "%s: read", n->name);
		cr_assert_eq(JE(mallctl)(n->name, NULL, NULL, val, n->size + 1), EINVAL, "%s", n->name);
		break;
	case ACTION:
		len = sizeof(unsigned);
		cr_assert_eq(JE(mallctl)(n->name, buf, &len, NULL, 0), EPERM, "%s: read", n->name);
		cr_assert_eq(JE(mallctl)(n->name, NULL, NULL, val, sizeof(unsigned)), EPERM,
		             "%s: write", n->name);
		break;
	}
}

#define U sizeof(unsigned)
#define SZ sizeof(size_t)
#define SS sizeof(ssize_t)
#define U64 sizeof(uint64_t)
#define B sizeof(bool)
#define P sizeof(void *)

static const struct name_spec names[] = {
    {"version", P, RO},
    {"epoch", U64, RW},
    {"background_thread", B, RW},
    {"max_background_threads", SZ, RW},
    {"config.malloc_conf", P, RO},
    {"config.cache_oblivious", B, RO},
    {"config.debug", B, RO},
    {"config.fill", B, RO},
    {"config.lazy_lock", B, RO},
    {"config.prof", B, RO},
    {"config.prof_libgcc", B, RO},
    {"config.prof_libunwind", B, RO},
    {"config.stats", B, RO},
    {"config.utrace", B, RO},
    {"config.xmalloc", B, RO},
    {"thread.arena", U, RW},
    {"thread.allocated", U64, RO},
    {"thread.allocatedp", P, RO},
    {"thread.deallocated", U64, RO},
    {"thread.deallocatedp", P, RO},
    {"thread.tcache.enabled", B, RW},
    {"thread.tcache.flush", 0, ACTION},
    {"thread.idle", 0, ACTION},
    {"tcache.flush", U, WO},
    {"tcache.destroy", U, WO},
    {"arena.0.initialized", B, RO},
    {"arena.0.decay", 0, ACTION},
    {"arena.0.purge", 0, ACTION},
    {"arena.0.reset", 0, ACTION},
    {"arena.0.destroy", 0, ACTION},
    {"arena.0.dirty_decay_ms", SS, RW},
    {"arena.0.muzzy_decay_ms", SS, RW},
    {"arena.4096.initialized", B, RO},
    {"arenas.narenas", U, RO},
    {"arenas.dirty_decay_ms", SS, RW},
    {"arenas.muzzy_decay_ms", SS, RW},
    {"arenas.quantum", SZ, RO},
    {"arenas.page", SZ, RO},
    {"arenas.tcache_max", SZ, RO},
    {"arenas.nbins", U, RO},
    {"arenas.nhbins", U, RO},
    {"arenas.bin.0.size", SZ, RO},
    {"arenas.bin.0.nregs", sizeof(uint32_t), RO},
    {"arenas.bin.0.slab_size", SZ, RO},
    {"arenas.bin.35.size", SZ, RO},
    {"arenas.nlextents", U, RO},
    {"arenas.lextent.0.size", SZ, RO},
    {"stats.allocated", SZ, RO},
    {"stats.active", SZ, RO},
    {"stats.metadata", SZ, RO},
    {"stats.resident", SZ, RO},
    {"stats.mapped", SZ, RO},
    {"stats.retained", SZ, RO},
};

static const struct name_spec arena_stat_names[] = {
    {"nthreads", U, RO},
    {"dirty_decay_ms", SS, RO},
    {"muzzy_decay_ms", SS, RO},
    {"pactive", SZ, RO},
    {"pdirty", SZ, RO},
    {"pmuzzy", SZ, RO},
    {"mapped", SZ, RO},
    {"retained", SZ, RO},
    {"resident", SZ, RO},
    {"dirty_npurge", U64, RO},
    {"dirty_nmadvise", U64, RO},
    {"dirty_purged", U64, RO},
    {"muzzy_npurge", U64, RO},
    {"muzzy_nmadvise", U64, RO},
    {"muzzy_purged", U64, RO},
    {"small.allocated", SZ, RO},
    {"small.nmalloc", U64, RO},
    {"small.ndalloc", U64, RO},
    {"small.nrequests", U64, RO},
    {"small.nfills", U64, RO},
    {"small.nflushes", U64, RO},
    {"large.allocated", SZ, RO},
    {"large.nmalloc", U64, RO},
    {"large.ndalloc", U64, RO},
    {"large.nrequests", U64, RO},
    {"large.nfills", U64, RO},
    {"large.nflushes", U64, RO},
    {"bins.0.nmalloc", U64, RO},
    {"bins.0.ndalloc", U64, RO},
    {"bins.0.nrequests", U64, RO},
    {"bins.0.curregs", SZ, RO},
    {"bins.0.nfills", U64, RO},
    {"bins.0.nflushes", U64, RO},
    {"bins.0.nslabs", U64, RO},
    {"bins.0.curslabs", SZ, RO},
    {"bins.0.nonfull_slabs", SZ, RO},
    {"bins.35.curregs", SZ, RO},
};

Test(names, every_listed_name_has_its_type_and_access)
{
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		check_name(&names[i]);
	const char *arena_ids[] = {"0", "4096"};
	for (size_t a = 0; a < ARRAY_LEN(arena_ids); a++) {
		for (size_t i = 0; i < ARRAY_LEN(arena_stat_names); i++) {
			char name[96];
			snprintf(name, sizeof(name), "stats.arenas.%s.%s", arena_ids[a],
			         arena_stat_names[i].name);
			struct name_spec n = arena_stat_names[i];
			n.name = name;
			check_name(&n);
		}
	}
}

Test(names, every_option_reads_as_opt)
{
	for (size_t i = 0; i < conf_ndescs; i++) {
		const struct conf_desc *d = &conf_descs[i];
		char name[96];
		snprintf(name, sizeof(name), "opt.%s", d->name);
		switch (d->kind) {
		case CONF_BOOL:
			cr_assert_eq(ctl_bool(name), *(bool *)d->value, "%s", name);
			break;
		case CONF_SIZE:
			if (strcmp(d->name, "narenas") == 0)
				cr_assert_eq(ctl_unsigned(name), narenas_auto, "%s", name);
			else
				cr_assert_eq(ctl_size(name), *(size_t *)d->value, "%s", name);
			break;
		case CONF_SSIZE:
			cr_assert_eq(ctl_ssize(name), *(int64_t *)d->value, "%s", name);
			break;
		case CONF_STR: {
			const char *s;
			ctl_get(name, &s, sizeof(s));
			cr_assert_str_eq(s, (const char *)d->value, "%s", name);
			break;
		}
		}
		check_name(&(struct name_spec){name,
		                                d->kind == CONF_BOOL    ? B
		                                : d->kind == CONF_SSIZE ? SS
		                                : d->kind == CONF_STR   ? P
		                                : strcmp(d->name, "narenas") == 0 ? U
		                                                                  : SZ,
		                                RO});
	}
}

/* ---- jemalloc 5.3's manual, name by name -------------------------------------------- */

/*
 * tests/jemalloc-5.3.mallctl is every name of jemalloc(3)'s MALLCTL
 * NAMESPACE (read from the manual by tests/programs/ctl_names.sh; ctl_compat.sh
 * checks it still is, and that Debian's jemalloc answers as expected here).
 * Each name must answer with its documented size and access, or, for what
 * ingot does not keep, as a jemalloc built without it: the name resolves
 * and reading it is ENOENT. <i> is read as 0 (and, under stats.arenas, as
 * MALLCTL_ARENAS_ALL), <j> as 0.
 */
#define MANUAL_NAMES "tests/jemalloc-5.3.mallctl"

/* Names whose answer differs on purpose and is tested elsewhere: the
 * per-thread counters' pointers (copies refreshed on read; README, "The
 * jemalloc stand-in"). Skipped here, and counted apart. */
static const char *const owned_prefixes[] = {"thread.allocatedp"};
static const char *const owned_names[] = {"thread.deallocatedp"};
#define OWNED_EXPECTED 2 /* of the manual's 272 names */

/* What ingot does not keep (README, "The jemalloc stand-in"). */
static const char *const compiled_out[] = {
    "opt.utrace",     "thread.peak.",              "arena.<i>.extent_hooks", ".nreslabs",
    "stats.mutexes.", "stats.arenas.<i>.mutexes.", ".mutex."};

/* Names that, as on Debian's jemalloc, answer ENOENT while the process runs
 * without prof:true, as these tests do (test_prof checks them with it). */
static const char *const off_without_prof[] = {"thread.prof.name", "prof.dump", "prof.prefix",
                                               "prof.reset"};

static bool needs_prof(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(off_without_prof); i++)
		if (strcmp(name, off_without_prof[i]) == 0)
			return true;
	return false;
}

static bool is_owned(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(owned_prefixes); i++)
		if (strncmp(name, owned_prefixes[i], strlen(owned_prefixes[i])) == 0)
			return true;
	for (size_t i = 0; i < ARRAY_LEN(owned_names); i++)
		if (strcmp(name, owned_names[i]) == 0)
			return true;
	return false;
}

static bool is_compiled_out(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(compiled_out); i++)
		if (strstr(name, compiled_out[i]))
			return true;
	return false;
}

static size_t manual_type_size(const char *type)
{
	static const struct {
		const char *type;
		size_t size;
	} sizes[] = {{"bool", B},          {"unsigned", U},      {"uint32_t", 4},
	             {"uint64_t", U64},    {"int64_t", 8},       {"size_t", SZ},
	             {"ssize_t", SS},      {"const char *", P},  {"uint64_t *", P},
	             {"extent_hooks_t *", P}, {"void", 0}};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
		if (strcmp(type, sizes[i].type) == 0)
			return sizes[i].size;
	cr_assert_fail("type \"%s\" of the manual is not known here", type);
	return 0;
}

static enum access manual_access(const char *access)
{
	if (strcmp(access, "r-") == 0)
		return RO;
	if (strcmp(access, "rw") == 0 || strcmp(access, "r- or -w") == 0)
		return RW; /* thread.prof.name: read or written, one at a time */
	if (strcmp(access, "-w") == 0)
		return WO;
	cr_assert_str_eq(access, "--");
	return ACTION;
}

/* Replaces "<x>" in pattern by value. */
static void manual_fill(char *out, size_t room, const char *pattern, const char *x,
                        const char *value)
{
	const char *at = strstr(pattern, x);
	if (!at)
		snprintf(out, room, "%s", pattern);
	else
		snprintf(out, room, "%.*s%s%s", (int)(at - pattern), pattern, value, at + strlen(x));
}

/* The two "create" names read back an index and need room for exactly it;
 * arenas.lookup reads the arena of the pointer written. */
static void check_manual_special(const char *name)
{
	unsigned index;
	size_t len = sizeof(index) + 1;
	if (strcmp(name, "arenas.lookup") == 0) {
		void *p = JE(malloc)(100);
		len = sizeof(index);
		CHECK_CTL(0, JE(mallctl)(name, &index, &len, &p, sizeof(p)));
		cr_assert_eq(index, arena_of(p));
		CHECK_CTL(EINVAL, JE(mallctl)(name, &index, &len, &p, sizeof(p) + 1));
		JE(free)(p);
		return;
	}
	CHECK_CTL(EINVAL, JE(mallctl)(name, &index, &len, NULL, 0));
	cr_assert_eq(len, 0, "%s: a wrong length makes nothing", name);
	ctl_get(name, &index, sizeof(index));
}

/* One instantiated name that ingot must answer as documented. */
static void check_manual_name(const char *name, const char *type, const char *access)
{
	size_t mib[8], miblen = ARRAY_LEN(mib);
	CHECK_CTL(0, JE(mallctlnametomib)(name, mib, &miblen));
	if (strchr(type, ',') || strcmp(name, "tcache.create") == 0) {
		check_manual_special(name);
		return;
	}
	struct name_spec n = {name, manual_type_size(type), manual_access(access)};
	check_name(&n);
}

/* One instantiated name of a figure ingot does not keep. */
static void check_manual_absent(const char *name)
{
	size_t mib[8], miblen = ARRAY_LEN(mib);
	CHECK_CTL(0, JE(mallctlnametomib)(name, mib, &miblen));
	unsigned char buf[64];
	size_t len = sizeof(buf);
	cr_assert_eq(JE(mallctl)(name, buf, &len, NULL, 0), ENOENT, "%s", name);
	cr_assert_eq(JE(mallctlbymib)(mib, miblen, buf, &len, NULL, 0), ENOENT, "%s", name);
}

Test(manual, every_name_answers_as_documented)
{
	FILE *f = fopen(MANUAL_NAMES, "r");
	cr_assert_not_null(f, "%s (run from the repository root)", MANUAL_NAMES);
	char line[256];
	unsigned total = 0, owned = 0, kept = 0, absent = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *type = strchr(line, '|');
		cr_assert_not_null(type, "%s", line);
		*type++ = '\0';
		char *access = strchr(type, '|');
		cr_assert_not_null(access, "%s", line);
		*access++ = '\0';
		total++;
		if (is_owned(line)) {
			owned++;
			continue;
		}
		const char *arenas[] = {"0", "4096"};
		size_t ninst = strncmp(line, "stats.arenas.<i>.", 17) == 0 ? 2 : 1;
		for (size_t k = 0; k < ninst; k++) {
			char a[256], name[256];
			manual_fill(a, sizeof(a), line, "<i>", arenas[k]);
			manual_fill(name, sizeof(name), a, "<j>", "0");
			if (is_compiled_out(line) || needs_prof(line))
				check_manual_absent(name);
			else
				check_manual_name(name, type, access);
		}
		if (is_compiled_out(line) || needs_prof(line))
			absent++;
		else
			kept++;
	}
	fclose(f);
	cr_assert_eq(total, 272, "the manual's list has %u names", total);
	cr_assert_eq(owned, OWNED_EXPECTED, "%u names owned elsewhere", owned);
	cr_log_info("jemalloc(3): %u names: %u answer with their documented size and access, %u as "
	            "compiled out, %u owned elsewhere (skipped)",
	            total, kept, absent, owned);
}

/* ---- top-level names --------------------------------------------------------------- */

Test(top, version_is_the_headers_and_config)
{
	const char *v;
	ctl_get("version", &v, sizeof(v));
	cr_assert_str_eq(v, JEMALLOC_VERSION, "mallctl(\"version\") is the header's JEMALLOC_VERSION");
	cr_assert_eq(ctl_bool("config.stats"), INGOT_STATS != 0);
	cr_assert_eq(ctl_bool("config.debug"), INGOT_DEBUG != 0);
	cr_assert(ctl_bool("config.prof"), "heap profiling is in every build");
	const char *mc;
	ctl_get("config.malloc_conf", &mc, sizeof(mc));
	cr_assert_str_eq(mc, "");
}

/* jemalloc counts realloc(p, 0) with p not NULL, read live (no epoch);
 * realloc(NULL, 0) is a malloc. */
Test(top, zero_reallocs_counts_realloc_to_zero)
{
	size_t before = ctl_size("stats.zero_reallocs");
	cr_assert_null(JE(realloc)(JE(malloc)(100), 0));
	cr_assert_null(JE(realloc)(JE(malloc)(100000), 0));
	cr_assert_eq(ctl_size("stats.zero_reallocs"), before + 2);
	void *p = JE(realloc)(NULL, 0);
	cr_assert_not_null(p);
	JE(free)(p);
	cr_assert_eq(ctl_size("stats.zero_reallocs"), before + 2, "realloc(NULL, 0) does not count");
}

Test(top, epoch_advances_on_write_only)
{
	uint64_t e0 = ctl_u64("epoch");
	cr_assert_eq(ctl_u64("epoch"), e0, "a read does not advance the epoch");
	uint64_t in = 12345, out;
	size_t len = sizeof(out);
	CHECK_CTL(0, JE(mallctl)("epoch", &out, &len, &in, sizeof(in)));
	cr_assert_eq(out, e0 + 1, "a write refreshes and reads back the new epoch");
	cr_assert_eq(ctl_u64("epoch"), e0 + 1);
}

Test(top, background_thread_is_accepted)
{
	bool on = true, old;
	size_t len = sizeof(old);
	CHECK_CTL(0, JE(mallctl)("background_thread", &old, &len, &on, sizeof(on)));
	cr_assert_not(old, "off by default");
	cr_assert(ctl_bool("background_thread"));
	on = false;
	ctl_set("background_thread", &on, sizeof(on));
	cr_assert_not(ctl_bool("background_thread"));
	size_t max = ctl_size("max_background_threads"), zero = 0;
	cr_assert_geq(max, 1);
	CHECK_CTL(EINVAL, JE(mallctl)("max_background_threads", NULL, NULL, &zero, sizeof(zero)));
	size_t one = 1;
	ctl_set("max_background_threads", &one, sizeof(one));
	cr_assert_eq(ctl_size("max_background_threads"), 1);
}

/* ---- thread.* --------------------------------------------------------------------- */

Test(thread, arena_binding_moves_allocations)
{
	unsigned a = arena_new_explicit(), old;
	size_t len = sizeof(old);
	unsigned before = ctl_unsigned("thread.arena");
	CHECK_CTL(0, JE(mallctl)("thread.arena", &old, &len, &a, sizeof(a)));
	cr_assert_eq(old, before, "the old binding is read back");
	cr_assert_eq(ctl_unsigned("thread.arena"), a);
	void *small = JE(malloc)(48), *large = JE(malloc)(100000), *huge = JE(malloc)(8 * MiB);
	cr_assert_eq(arena_of(small), a);
	cr_assert_eq(arena_of(large), a);
	cr_assert_eq(arena_of(huge), a);
	epoch_refresh();
	cr_assert_eq(ctl_unsigned(ctl_name("stats.arenas.%u.nthreads", a)), 1);
	/* a bound arena cannot be destroyed */
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%u.destroy", a), NULL, NULL, NULL, 0));
	JE(free)(small);
	JE(free)(large);
	JE(free)(huge);
	ctl_set("thread.arena", &before, sizeof(before));
	epoch_refresh();
	cr_assert_eq(ctl_unsigned(ctl_name("stats.arenas.%u.nthreads", a)), 0);
	ctl_do(ctl_name("arena.%u.destroy", a));
}

Test(thread, arena_refuses_unknown_indices)
{
	unsigned n = ctl_unsigned("arenas.narenas"), bad = n;
	CHECK_CTL(EFAULT, JE(mallctl)("thread.arena", NULL, NULL, &bad, sizeof(bad)));
	bad = MALLCTL_ARENAS_ALL;
	CHECK_CTL(EFAULT, JE(mallctl)("thread.arena", NULL, NULL, &bad, sizeof(bad)));
	size_t wide = 0;
	CHECK_CTL(EINVAL, JE(mallctl)("thread.arena", NULL, NULL, &wide, sizeof(wide)));
}

Test(thread, allocated_and_deallocated_count_bytes)
{
	void *warm = JE(malloc)(1); /* the cache exists */
	JE(free)(warm);
	uint64_t a0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
	void *p = JE(malloc)(1000), *q = JE(malloc)(200000);
	uint64_t a1 = ctl_u64("thread.allocated");
	cr_assert_geq(a1 - a0, 1000 + 200000, "allocated grew by %" PRIu64, a1 - a0);
	cr_assert_leq(a1 - a0, JE(malloc_usable_size)(p) + JE(malloc_usable_size)(q));
	JE(free)(p);
	JE(free)(q);
	uint64_t d1 = ctl_u64("thread.deallocated");
	cr_assert_geq(d1 - d0, 1000 + 200000);
	uint64_t *ap, *dp;
	ctl_get("thread.allocatedp", &ap, sizeof(ap));
	ctl_get("thread.deallocatedp", &dp, sizeof(dp));
	cr_assert_not_null(ap);
	cr_assert_not_null(dp);
	cr_assert_eq(*ap, ctl_u64("thread.allocated"));
	cr_assert_eq(*dp, ctl_u64("thread.deallocated"));
	uint64_t *ap2;
	ctl_get("thread.allocatedp", &ap2, sizeof(ap2));
	cr_assert_eq(ap, ap2, "the same counter every time");
}

static void *other_thread_counts(void *arg)
{
	uint64_t *out = arg;
	void *p = JE(malloc)(5000);
	size_t len = sizeof(*out);
	THREAD_CHECK(JE(mallctl)("thread.allocated", out, &len, NULL, 0) == 0, "read");
	JE(free)(p);
	return NULL;
}

Test(thread, counters_are_per_thread)
{
	void *big = JE(malloc)(10 * MiB);
	uint64_t theirs = 0;
	join_thread(start_thread(other_thread_counts, &theirs));
	assert_no_thread_failure();
	cr_assert_geq(theirs, 5000);
	cr_assert_lt(theirs, 10 * MiB, "another thread's allocations are not counted");
	JE(free)(big);
}

/* Live objects of the size class of `size`, over all arenas (thread
 * caches' included): an object waiting in a cache still counts, one flushed
 * home does not. The class is one nothing else here uses. */
static size_t class_live(size_t size)
{
	epoch_refresh();
	return ctl_size(ctl_name("stats.arenas.%d.bins.%u.curregs", MALLCTL_ARENAS_ALL,
	                         sizeclass_small(size) - 1));
}

Test(thread, tcache_enabled_and_flush)
{
	const size_t size = 7000;
	cr_assert(ctl_bool("thread.tcache.enabled"));
	size_t live = class_live(size);
	void *p = JE(malloc)(size);
	JE(free)(p);
	cr_assert_gt(class_live(size), live, "the freed block waits in the cache");
	ctl_do("thread.tcache.flush");
	cr_assert_eq(class_live(size), live, "flushed");
	bool off = false, old;
	size_t len = sizeof(old);
	CHECK_CTL(0, JE(mallctl)("thread.tcache.enabled", &old, &len, &off, sizeof(off)));
	cr_assert(old);
	cr_assert_not(ctl_bool("thread.tcache.enabled"));
	p = JE(malloc)(size);
	JE(free)(p);
	cr_assert_eq(class_live(size), live, "no cache: straight back to the bin");
	/* no cache to flush */
	CHECK_CTL(EFAULT, JE(mallctl)("thread.tcache.flush", NULL, NULL, NULL, 0));
	bool on = true;
	ctl_set("thread.tcache.enabled", &on, sizeof(on));
	cr_assert(ctl_bool("thread.tcache.enabled"));
	p = JE(malloc)(size);
	JE(free)(p);
	cr_assert_gt(class_live(size), live, "cached again");
	ctl_do("thread.idle");
	cr_assert_eq(class_live(size), live, "thread.idle flushes the cache");
}

/* ---- tcache.* ------------------------------------------------------------------- */

Test(tcache, create_flush_destroy)
{
	unsigned tc;
	size_t len = sizeof(tc) + 1;
	CHECK_CTL(EINVAL, JE(mallctl)("tcache.create", &tc, &len, NULL, 0));
	cr_assert_eq(len, 0, "a wrong length creates nothing and reads back 0");
	CHECK_CTL(EINVAL, JE(mallctl)("tcache.create", NULL, NULL, NULL, 0));
	CHECK_CTL(EPERM, JE(mallctl)("tcache.create", &tc, &(size_t){sizeof(tc)}, &tc, sizeof(tc)));
	ctl_get("tcache.create", &tc, sizeof(tc));
	unsigned bin = sizeclass_small(100) - 1;
	char curregs_name[96];
	snprintf(curregs_name, sizeof(curregs_name), "stats.arenas.%d.bins.%u.curregs",
	         MALLCTL_ARENAS_ALL, bin);
	epoch_refresh();
	size_t live = ctl_size(curregs_name);
	void *p = JE(mallocx)(100, MALLOCX_TCACHE(tc));
	cr_assert_not_null(p);
	JE(dallocx)(p, MALLOCX_TCACHE(tc));
	epoch_refresh();
	cr_assert_gt(ctl_size(curregs_name), live, "the block waits in the explicit cache");
	ctl_set("tcache.flush", &tc, sizeof(tc));
	epoch_refresh();
	cr_assert_eq(ctl_size(curregs_name), live, "flushed home to its bin");
	CHECK_CTL(EFAULT, JE(mallctl)("tcache.flush", NULL, NULL, NULL, 0));
	unsigned unknown = tc + 100;
	CHECK_CTL(EFAULT, JE(mallctl)("tcache.flush", NULL, NULL, &unknown, sizeof(unknown)));
	unknown = 1u << 30;
	CHECK_CTL(EFAULT, JE(mallctl)("tcache.destroy", NULL, NULL, &unknown, sizeof(unknown)));
	ctl_set("tcache.destroy", &tc, sizeof(tc));
	CHECK_CTL(EFAULT, JE(mallctl)("tcache.destroy", NULL, NULL, &tc, sizeof(tc)));
	unsigned again;
	ctl_get("tcache.create", &again, sizeof(again));
	cr_assert_eq(again, tc, "a destroyed index is reused");
}

/* ---- arena.<i>.* ----------------------------------------------------------------- */

Test(arena, initialized)
{
	unsigned n = ctl_unsigned("arenas.narenas");
	cr_assert(ctl_bool("arena.0.initialized"));
	cr_assert(ctl_bool(ctl_name("arena.%u.initialized", n - 1)));
	cr_assert_not(ctl_bool(ctl_name("arena.%u.initialized", n)));
	cr_assert(ctl_bool(ctl_name("arena.%d.initialized", MALLCTL_ARENAS_ALL)));
	cr_assert_not(ctl_bool(ctl_name("arena.%d.initialized", MALLCTL_ARENAS_DESTROYED)));
}

/* Leaves npages dirty pages in arena a (decay off so they stay). */
static void make_dirty(unsigned a, size_t bytes)
{
	ssize_t never = -1;
	ctl_set(ctl_name("arena.%u.dirty_decay_ms", a), &never, sizeof(never));
	void *p = JE(mallocx)(bytes, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
	cr_assert_not_null(p);
	memset(p, 1, bytes);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
}

Test(arena, purge_one_and_all)
{
	unsigned a = arena_new_explicit(), b = arena_new_explicit();
	make_dirty(a, 512 * KiB);
	make_dirty(b, 512 * KiB);
	epoch_refresh();
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), 128);
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pdirty", b)), 128);
	uint64_t purged = ctl_u64(ctl_name("stats.arenas.%u.dirty_purged", a));
	ctl_do(ctl_name("arena.%u.purge", a));
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), 0);
	cr_assert_geq(ctl_u64(ctl_name("stats.arenas.%u.dirty_purged", a)), purged + 128);
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pdirty", b)), 128, "b untouched");
	ctl_do(ctl_name("arena.%d.purge", MALLCTL_ARENAS_ALL));
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.pdirty", b)), 0);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%d.pdirty", MALLCTL_ARENAS_ALL)), 0);
}

/* Decay off: every freed page, huge mappings' included, reads as dirty
 * until an explicit purge (tests/programs/ctl_compat.sh checks the same
 * with MALLOC_CONF=dirty_decay_ms:-1 on Debian's jemalloc and on ingot). */
Test(arena, decay_off_keeps_freed_pages_dirty_until_purge)
{
	unsigned a = arena_new_explicit();
	ssize_t never = -1;
	ctl_set(ctl_name("arena.%u.dirty_decay_ms", a), &never, sizeof(never));
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	size_t sizes[] = {256 * KiB, 256 * KiB, 6 * MiB}, pages = 0;
	void *blocks[ARRAY_LEN(sizes)];
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		blocks[i] = JE(mallocx)(sizes[i], flags);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], 1, sizes[i]);
		pages += sizes[i] / PAGE;
	}
	epoch_refresh();
	size_t before = ctl_size(ctl_name("stats.arenas.%u.pdirty", a));
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
		JE(dallocx)(blocks[i], MALLOCX_TCACHE_NONE);
	ctl_do(ctl_name("arena.%u.decay", a));
	epoch_refresh();
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), before + pages,
	              "%zu freed pages are dirty", pages);
	ctl_do(ctl_name("arena.%u.purge", a));
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), 0);
}

Test(arena, decay_purges_only_what_has_decayed)
{
	unsigned a = arena_new_explicit();
	make_dirty(a, 256 * KiB);
	ctl_do(ctl_name("arena.%u.decay", a));
	epoch_refresh();
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), 64,
	              "decay time -1: nothing has decayed");
	ssize_t long_time = 1000000;
	ctl_set(ctl_name("arena.%u.dirty_decay_ms", a), &long_time, sizeof(long_time));
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.pdirty", a)), 0,
	             "setting a decay time counts every dirty page as decayed (jemalloc)");
}

Test(arena, decay_times_read_back)
{
	unsigned a = arena_new_explicit();
	ssize_t old, ms = 1234;
	size_t len = sizeof(old);
	CHECK_CTL(0, JE(mallctl)(ctl_name("arena.%u.dirty_decay_ms", a), &old, &len, &ms, sizeof(ms)));
	cr_assert_eq(old, ctl_ssize("arenas.dirty_decay_ms"), "starts at the default");
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.dirty_decay_ms", a)), 1234);
	epoch_refresh();
	cr_assert_eq(ctl_ssize(ctl_name("stats.arenas.%u.dirty_decay_ms", a)), 1234);
	ms = 77;
	ctl_set(ctl_name("arena.%u.muzzy_decay_ms", a), &ms, sizeof(ms));
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.muzzy_decay_ms", a)), 77);
	cr_assert_eq(ctl_ssize(ctl_name("stats.arenas.%u.muzzy_decay_ms", a)), 77);
	ms = -2;
	CHECK_CTL(EFAULT,
	          JE(mallctl)(ctl_name("arena.%u.dirty_decay_ms", a), NULL, NULL, &ms, sizeof(ms)));
	CHECK_CTL(EFAULT,
	          JE(mallctl)(ctl_name("arena.%u.muzzy_decay_ms", a), NULL, NULL, &ms, sizeof(ms)));
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.dirty_decay_ms", a)), 1234);
	int narrow = 5;
	CHECK_CTL(EINVAL, JE(mallctl)(ctl_name("arena.%u.dirty_decay_ms", a), NULL, NULL, &narrow,
	                              sizeof(narrow)));
	/* the defaults for new arenas */
	ms = 4321;
	ctl_set("arenas.dirty_decay_ms", &ms, sizeof(ms));
	ms = 99;
	ctl_set("arenas.muzzy_decay_ms", &ms, sizeof(ms));
	unsigned b = arena_new_explicit();
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.dirty_decay_ms", b)), 4321);
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.muzzy_decay_ms", b)), 99);
	cr_assert_eq(ctl_ssize(ctl_name("arena.%u.dirty_decay_ms", a)), 1234, "old arenas keep theirs");
	ms = -5;
	CHECK_CTL(EFAULT, JE(mallctl)("arenas.dirty_decay_ms", NULL, NULL, &ms, sizeof(ms)));
	CHECK_CTL(EFAULT, JE(mallctl)("arenas.muzzy_decay_ms", NULL, NULL, &ms, sizeof(ms)));
}

Test(arena, reset_frees_everything_of_an_explicit_arena)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	void *blocks[300];
	for (size_t i = 0; i < ARRAY_LEN(blocks); i++) {
		size_t size = i % 3 == 0 ? 24 + i : i % 3 == 1 ? 20000 + 100 * i : 3 * MiB;
		if (i % 3 == 2 && i > 30)
			size = 5000;
		blocks[i] = JE(mallocx)(size, flags);
		cr_assert_not_null(blocks[i]);
		cr_assert_eq(arena_of(blocks[i]), a);
	}
	epoch_refresh();
	cr_assert_gt(ctl_size(ctl_name("stats.arenas.%u.small.allocated", a)), 0);
	cr_assert_gt(ctl_size(ctl_name("stats.arenas.%u.large.allocated", a)), 0);
	ctl_do(ctl_name("arena.%u.reset", a));
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.small.allocated", a)), 0);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.large.allocated", a)), 0);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.pactive", a)), 0);
	cr_assert_eq(ingot_check(), 0, "the heap is consistent after a reset");
	/* the arena serves again */
	void *p = JE(mallocx)(24, flags);
	cr_assert_eq(arena_of(p), a);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	cr_assert_eq(ingot_check(), 0);
}

Test(arena, reset_and_destroy_refuse_automatic_arenas)
{
	CHECK_CTL(EFAULT, JE(mallctl)("arena.0.reset", NULL, NULL, NULL, 0));
	CHECK_CTL(EFAULT, JE(mallctl)("arena.0.destroy", NULL, NULL, NULL, 0));
	unsigned n = ctl_unsigned("arenas.narenas");
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%u.reset", n), NULL, NULL, NULL, 0));
}

Test(arena, destroy_merges_stats_and_frees_the_index)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	for (int i = 0; i < 100; i++)
		JE(mallocx)(64, flags); /* left live on purpose: destroy frees them */
	void *kept = JE(mallocx)(64, flags);
	JE(dallocx)(kept, MALLOCX_TCACHE_NONE);
	unsigned bin = sizeclass_small(64) - 1;
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nmalloc", a, bin)), 101);
	cr_assert_not(ctl_bool(ctl_name("arena.%d.initialized", MALLCTL_ARENAS_DESTROYED)));
	uint64_t v;
	size_t len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("stats.arenas.%d.small.nmalloc",
	                                       MALLCTL_ARENAS_DESTROYED),
	                              &v, &len, NULL, 0));
	ctl_do(ctl_name("arena.%u.destroy", a));
	cr_assert_not(ctl_bool(ctl_name("arena.%u.initialized", a)));
	cr_assert(ctl_bool(ctl_name("arena.%d.initialized", MALLCTL_ARENAS_DESTROYED)));
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%u.destroy", a), NULL, NULL, NULL, 0));
	CHECK_CTL(EFAULT, JE(mallctl)(ctl_name("arena.%u.reset", a), NULL, NULL, NULL, 0));
	epoch_refresh();
	len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("stats.arenas.%u.small.nmalloc", a), &v, &len, NULL,
	                              0));
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%d.small.nmalloc", MALLCTL_ARENAS_DESTROYED)), 101);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%d.bins.%u.nmalloc", MALLCTL_ARENAS_DESTROYED, bin)),
	             101);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%d.small.allocated", MALLCTL_ARENAS_DESTROYED)),
	             0);
	cr_assert_eq(ingot_check(), 0);
	/* arenas.create reuses the index; the new arena starts from zero */
	unsigned again = arena_new_explicit();
	cr_assert_eq(again, a);
	cr_assert(ctl_bool(ctl_name("arena.%u.initialized", a)));
	void *p = JE(mallocx)(64, flags);
	cr_assert_eq(arena_of(p), a);
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.small.nmalloc", a)), 1);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
}

Test(arena, create_and_destroy_many_times)
{
	/* BIND's pattern: an arena per memory context, made and destroyed. */
	size_t mapped_after_first = 0;
	for (int round = 0; round < 200; round++) {
		unsigned a = arena_new_explicit();
		int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
		void *p = JE(mallocx)(1000, flags), *q = JE(mallocx)(300000, flags);
		cr_assert_not_null(p);
		cr_assert_not_null(q);
		JE(sdallocx)(p, 1000, MALLOCX_TCACHE_NONE);
		JE(sdallocx)(q, 300000, MALLOCX_TCACHE_NONE);
		ctl_do(ctl_name("arena.%u.destroy", a));
		if (round == 0) {
			epoch_refresh();
			mapped_after_first = ctl_size("stats.mapped");
		}
	}
	epoch_refresh();
	cr_assert_leq(ctl_size("stats.mapped"), mapped_after_first + 4 * MiB,
	              "destroyed arenas' memory is reused, not leaked");
	cr_assert_eq(ingot_check(), 0);
}

/* ---- arenas.* --------------------------------------------------------------------- */

Test(arenas, constants)
{
	cr_assert_eq(ctl_size("arenas.page"), PAGE);
	cr_assert_eq(ctl_size("arenas.quantum"), 16);
	unsigned nbins = ctl_unsigned("arenas.nbins");
	cr_assert_eq(nbins, SC_NSMALL);
	/* thread caches keep every class up to opt.tcache_max, small and large:
	 * arenas.nhbins counts them from the smallest, arenas.tcache_max is the
	 * largest of them */
	size_t tcache_max = ctl_size("opt.tcache_max"), largest = 0;
	unsigned cached = 0, nl = ctl_unsigned("arenas.nlextents");
	for (unsigned i = 0; i < nbins + nl; i++) {
		size_t size = ctl_size(i < nbins ? ctl_name("arenas.bin.%u.size", i)
		                                 : ctl_name("arenas.lextent.%u.size", i - nbins));
		if (size <= tcache_max && i < SC_NCACHED) {
			largest = size;
			cached++;
		}
	}
	cr_assert_eq(ctl_size("arenas.tcache_max"), largest);
	cr_assert_eq(ctl_unsigned("arenas.nhbins"), cached);
	cr_assert_eq(ctl_size(ctl_name("arenas.bin.%u.size", nbins - 1)), SC_SMALL_MAX);
	for (unsigned i = 0; i < nbins; i++) {
		size_t size = ctl_size(ctl_name("arenas.bin.%u.size", i));
		uint32_t nregs;
		ctl_get(ctl_name("arenas.bin.%u.nregs", i), &nregs, sizeof(nregs));
		size_t slab = ctl_size(ctl_name("arenas.bin.%u.slab_size", i));
		cr_assert_eq(slab % PAGE, 0);
		cr_assert_leq((size_t)nregs * size, slab, "class %zu", size);
		cr_assert_gt((size_t)(nregs + 1) * size, slab, "class %zu: no room for one more", size);
	}
	cr_assert_eq(nl, ctl_unsigned("arenas.nlextents"));
	cr_assert_gt(nl, 0);
	size_t prev = SC_SMALL_MAX;
	for (unsigned i = 0; i < nl; i++) {
		size_t size = ctl_size(ctl_name("arenas.lextent.%u.size", i));
		cr_assert_gt(size, prev);
		cr_assert_eq(size, JE(nallocx)(size, 0), "a large class is a size class");
		prev = size;
	}
	size_t v, len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("arenas.lextent.%u.size", nl), &v, &len, NULL, 0));
}

/* Bytes a free of one block of size leaves in the calling thread's cache. */
static size_t cached_by_free(size_t size)
{
	ctl_do("thread.tcache.flush");
	void *p = JE(malloc)(size);
	cr_assert_not_null(p);
	size_t before = tcache_cached_bytes();
	JE(free)(p);
	size_t kept = tcache_cached_bytes() - before;
	ctl_do("thread.tcache.flush");
	return kept;
}

Test(arenas, tcache_max_is_what_a_free_keeps)
{
	size_t max = ctl_size("arenas.tcache_max");
	cr_assert_gt(max, SC_SMALL_MAX, "caches keep large classes too (64 KiB by default)");
	cr_assert_eq(cached_by_free(max), max, "a block of arenas.tcache_max stays in the cache");
	size_t next = JE(nallocx)(max + 1, 0);
	cr_assert_eq(cached_by_free(next), 0, "the next class (%zu) goes home at once", next);
	cr_assert_eq(cached_by_free(SC_SMALL_MAX), SC_SMALL_MAX);
	unsigned nhbins = ctl_unsigned("arenas.nhbins");
	cr_assert_eq(JE(nallocx)(max, 0), max);
	cr_assert_eq(sizeclass_of(max), nhbins, "nhbins classes, the smallest up to tcache_max");
}

Test(arenas, create)
{
	unsigned n0 = ctl_unsigned("arenas.narenas"), a;
	size_t len = sizeof(a) - 1;
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.create", &a, &len, NULL, 0));
	cr_assert_eq(len, 0);
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.create", NULL, NULL, NULL, 0));
	cr_assert_eq(ctl_unsigned("arenas.narenas"), n0, "nothing was made");
	int hooks_stand_in;
	void *hooks = &hooks_stand_in;
	len = sizeof(a);
	CHECK_CTL(EFAULT, JE(mallctl)("arenas.create", &a, &len, &hooks, sizeof(hooks)));
	hooks = NULL;
	len = sizeof(a);
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.create", &a, &len, &hooks, sizeof(hooks) - 1));
	CHECK_CTL(0, JE(mallctl)("arenas.create", &a, &len, &hooks, sizeof(hooks)));
	cr_assert_eq(a, n0);
	cr_assert_eq(ctl_unsigned("arenas.narenas"), n0 + 1);
	cr_assert_geq(a, narenas_auto, "explicit arenas come after the automatic ones");
	unsigned b = arena_new_explicit();
	cr_assert_eq(b, a + 1);
}

Test(arenas, lookup)
{
	unsigned a = arena_new_explicit(), got;
	void *p = JE(mallocx)(200, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
	size_t len = sizeof(got);
	CHECK_CTL(0, JE(mallctl)("arenas.lookup", &got, &len, &p, sizeof(p)));
	cr_assert_eq(got, a);
	void *inside = (char *)p + 100;
	CHECK_CTL(0, JE(mallctl)("arenas.lookup", &got, &len, &inside, sizeof(inside)));
	cr_assert_eq(got, a);
	int on_stack;
	void *foreign = &on_stack, *null = NULL;
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.lookup", &got, &len, &foreign, sizeof(foreign)));
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.lookup", &got, &len, &null, sizeof(null)));
	CHECK_CTL(EINVAL, JE(mallctl)("arenas.lookup", &got, &len, NULL, 0));
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
}

/* stats.arenas.<i>.lextents.<j>: large blocks per large class, as
 * arenas.lextent.<j>.size names them. */
Test(stats, lextents_count_large_blocks_per_class)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	size_t size = ctl_size("arenas.lextent.2.size");
	void *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = JE(mallocx)(size, flags);
	void *other = JE(mallocx)(ctl_size("arenas.lextent.5.size"), flags);
	JE(dallocx)(p[0], MALLOCX_TCACHE_NONE);
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.lextents.2.nmalloc", a)), 3);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.lextents.2.ndalloc", a)), 1);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.lextents.2.curlextents", a)), 2);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.lextents.5.curlextents", a)), 1);
	uint64_t sum = 0;
	unsigned nl = ctl_unsigned("arenas.nlextents");
	for (unsigned j = 0; j < nl; j++)
		sum += ctl_u64(ctl_name("stats.arenas.%u.lextents.%u.nmalloc", a, j));
	cr_assert_eq(sum, ctl_u64(ctl_name("stats.arenas.%u.large.nmalloc", a)));
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%d.lextents.2.curlextents", MALLCTL_ARENAS_ALL)),
	              2);
	JE(dallocx)(p[1], MALLOCX_TCACHE_NONE);
	JE(dallocx)(p[2], MALLOCX_TCACHE_NONE);
	JE(dallocx)(other, MALLOCX_TCACHE_NONE);
	size_t v, len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("stats.arenas.%u.lextents.%u.nmalloc", a, nl), &v,
	                              &len, NULL, 0));
}

/* stats.arenas.<i>.extents.<j>: the free runs by page-size class add up to
 * the arena's dirty pages; after a purge they are retained. */
Test(stats, extents_add_up_to_the_dirty_and_retained_pages)
{
	unsigned a = arena_new_explicit();
	ssize_t never = -1;
	ctl_set(ctl_name("arena.%u.dirty_decay_ms", a), &never, sizeof(never));
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	void *hold = JE(mallocx)(64 * KiB, flags); /* keeps the runs apart */
	void *p = JE(mallocx)(40 * KiB, flags), *q = JE(mallocx)(3 * MiB, flags);
	memset(q, 1, 3 * MiB);
	JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	JE(dallocx)(q, MALLOCX_TCACHE_NONE);
	epoch_refresh();
	size_t dirty = 0, ndirty = 0, retained = 0;
	for (unsigned j = 0; j < 199; j++) {
		dirty += ctl_size(ctl_name("stats.arenas.%u.extents.%u.dirty_bytes", a, j));
		ndirty += ctl_size(ctl_name("stats.arenas.%u.extents.%u.ndirty", a, j));
		cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.extents.%u.muzzy_bytes", a, j)), 0);
	}
	cr_assert_eq(dirty, ctl_size(ctl_name("stats.arenas.%u.pdirty", a)) * PAGE);
	cr_assert_geq(dirty, 3 * MiB + 40 * KiB);
	cr_assert_geq(ndirty, 2);
	/* 40 KiB is 10 pages: class 8 (1, 2, 3, 4, 5, 6, 7, 8, 10, ...) */
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.extents.8.ndirty", a)), 1);
	ctl_do(ctl_name("arena.%u.purge", a));
	for (unsigned j = 0; j < 199; j++) {
		cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.extents.%u.dirty_bytes", a, j)), 0);
		retained += ctl_size(ctl_name("stats.arenas.%u.extents.%u.retained_bytes", a, j));
	}
	cr_assert_geq(retained, 40 * KiB, "purged pages stay mapped: retained");
	size_t v, len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)("stats.arenas.0.extents.199.ndirty", &v, &len, NULL, 0));
	JE(dallocx)(hold, MALLOCX_TCACHE_NONE);
}

Test(stats, uptime_counts_from_the_arenas_birth)
{
	epoch_refresh();
	uint64_t first = ctl_u64("stats.arenas.0.uptime");
	/* 50 ms between the births, 20 asserted: the two ages of one snapshot are
	 * read a moment apart, longer on a loaded machine. */
	usleep(50000);
	unsigned a = arena_new_explicit();
	epoch_refresh();
	uint64_t zero = ctl_u64("stats.arenas.0.uptime"), mine = ctl_u64(ctl_name("stats.arenas.%u.uptime", a));
	cr_assert_geq(zero, first + 20000000, "20 ms later: %" PRIu64 " after %" PRIu64, zero, first);
	cr_assert_lt(mine, zero - 20000000, "a new arena is younger");
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%d.uptime", MALLCTL_ARENAS_ALL)), zero,
	             "merged: the oldest arena's");
}

/* ---- stats.* ---------------------------------------------------------------------- */

Test(stats, snapshot_moves_on_epoch_only)
{
	epoch_refresh();
	size_t before = ctl_size("stats.allocated");
	void *p = JE(malloc)(4 * MiB);
	memset(p, 1, 4 * MiB);
	cr_assert_eq(ctl_size("stats.allocated"), before, "no epoch write: same snapshot");
	epoch_refresh();
	size_t allocated = ctl_size("stats.allocated");
	cr_assert_geq(allocated, before + 4 * MiB);
	size_t active = ctl_size("stats.active"), resident = ctl_size("stats.resident");
	size_t mapped = ctl_size("stats.mapped"), metadata = ctl_size("stats.metadata");
	cr_assert_leq(allocated, active);
	cr_assert_leq(active, resident);
	cr_assert_leq(active, mapped);
	cr_assert_gt(metadata, 0);
	cr_assert_eq(active % PAGE, 0);
	JE(free)(p);
	epoch_refresh();
	cr_assert_leq(ctl_size("stats.allocated"), allocated - 4 * MiB);
	(void)ctl_size("stats.retained");
}

Test(stats, bins_count_objects)
{
	ctl_do("thread.tcache.flush");
	unsigned a = ctl_unsigned("thread.arena");
	unsigned bin = sizeclass_small(96) - 1;
	epoch_refresh();
	uint64_t m0 = ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nmalloc", a, bin));
	uint64_t d0 = ctl_u64(ctl_name("stats.arenas.%u.bins.%u.ndalloc", a, bin));
	size_t live0 = ctl_size(ctl_name("stats.arenas.%u.bins.%u.curregs", a, bin));
	void *p[50];
	for (int i = 0; i < 50; i++)
		p[i] = JE(mallocx)(96, MALLOCX_TCACHE_NONE);
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nmalloc", a, bin)), m0 + 50);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.bins.%u.curregs", a, bin)), live0 + 50);
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.bins.%u.curslabs", a, bin)), 1);
	cr_assert_geq(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nslabs", a, bin)), 1);
	for (int i = 0; i < 50; i++)
		JE(dallocx)(p[i], MALLOCX_TCACHE_NONE);
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.ndalloc", a, bin)), d0 + 50);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.bins.%u.curregs", a, bin)), live0);
	/* through the cache: fills and flushes */
	uint64_t fills = ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nfills", a, bin));
	uint64_t flushes = ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nflushes", a, bin));
	for (int i = 0; i < 50; i++)
		p[i] = JE(malloc)(96);
	for (int i = 0; i < 50; i++)
		JE(free)(p[i]);
	ctl_do("thread.tcache.flush");
	epoch_refresh();
	cr_assert_gt(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nfills", a, bin)), fills);
	cr_assert_gt(ctl_u64(ctl_name("stats.arenas.%u.bins.%u.nflushes", a, bin)), flushes);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.bins.%u.curregs", a, bin)), live0);
}

Test(stats, large_and_small_totals)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	void *s = JE(mallocx)(100, flags), *l = JE(mallocx)(100000, flags);
	epoch_refresh();
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.small.allocated", a)), JE(sallocx)(s, 0));
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.large.allocated", a)), JE(sallocx)(l, 0));
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.small.nmalloc", a)), 1);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.large.nmalloc", a)), 1);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.small.nrequests", a)), 1);
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.pactive", a)) * PAGE,
	              JE(sallocx)(l, 0) + PAGE);
	cr_assert_geq(ctl_size(ctl_name("stats.arenas.%u.mapped", a)), 2 * MiB);
	JE(dallocx)(s, MALLOCX_TCACHE_NONE);
	JE(dallocx)(l, MALLOCX_TCACHE_NONE);
	epoch_refresh();
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.small.ndalloc", a)), 1);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.large.ndalloc", a)), 1);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.large.allocated", a)), 0);
}

Test(stats, all_arenas_is_the_sum)
{
	void *p = JE(malloc)(300000);
	epoch_refresh();
	unsigned n = ctl_unsigned("arenas.narenas");
	uint64_t small = 0, large = 0;
	size_t pactive = 0;
	for (unsigned i = 0; i < n; i++) {
		small += ctl_u64(ctl_name("stats.arenas.%u.small.nmalloc", i));
		large += ctl_u64(ctl_name("stats.arenas.%u.large.nmalloc", i));
		pactive += ctl_size(ctl_name("stats.arenas.%u.pactive", i));
	}
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%d.small.nmalloc", MALLCTL_ARENAS_ALL)), small);
	cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%d.large.nmalloc", MALLCTL_ARENAS_ALL)), large);
	cr_assert_eq(ctl_size(ctl_name("stats.arenas.%d.pactive", MALLCTL_ARENAS_ALL)), pactive);
	cr_assert_eq(pactive * PAGE, ctl_size("stats.active"));
	uint64_t v;
	size_t len = sizeof(v);
	CHECK_CTL(ENOENT, JE(mallctl)(ctl_name("stats.arenas.%u.small.nmalloc", n), &v, &len, NULL, 0));
	JE(free)(p);
}

/* ---- threads ------------------------------------------------------------------------ */

static void *ctl_hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		uint64_t e = 1;
		size_t len = sizeof(e);
		THREAD_CHECK(JE(mallctl)("epoch", &e, &len, &e, sizeof(e)) == 0, "epoch");
		size_t v;
		len = sizeof(v);
		THREAD_CHECK(JE(mallctl)("stats.allocated", &v, &len, NULL, 0) == 0, "stats");
		void *p = JE(malloc)(i % 5000 + 1);
		THREAD_CHECK(p != NULL, "malloc");
		JE(free)(p);
		if (i % 100 == 0) {
			unsigned a;
			len = sizeof(a);
			THREAD_CHECK(JE(mallctl)("arenas.create", &a, &len, NULL, 0) == 0, "create");
			void *q = JE(mallocx)(64, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
			THREAD_CHECK(q != NULL, "mallocx");
			JE(dallocx)(q, MALLOCX_TCACHE_NONE);
			char name[64];
			snprintf(name, sizeof(name), "arena.%u.destroy", a);
			THREAD_CHECK(JE(mallctl)(name, NULL, NULL, NULL, 0) == 0, "destroy");
		}
	}
	return NULL;
}

Test(threads, mallctl_from_many_threads)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		t[i] = start_thread(ctl_hammer, NULL);
	for (int i = 0; i < 4; i++)
		join_thread(t[i]);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
}

/* ---- empty slabs the bins of 1 KiB and up keep (bin.c, surplus) ---------- */

#define SURPLUS_BLOCK 4096
#define SURPLUS_BUDGET (1 * MiB) /* BIN_SURPLUS_BYTES with 4 MiB chunks */

static void *surplus_blocks[1024];

static void surplus_alloc(unsigned a, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		surplus_blocks[i] = JE(mallocx)(SURPLUS_BLOCK, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
		cr_assert_not_null(surplus_blocks[i]);
		memset(surplus_blocks[i], 1, SURPLUS_BLOCK);
	}
}

static void surplus_free(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		JE(dallocx)(surplus_blocks[i], MALLOCX_TCACHE_NONE);
}

static uint64_t surplus_stat(unsigned a, const char *name)
{
	epoch_refresh();
	return ctl_u64(ctl_name("stats.arenas.%u.bins.%u.%s", a, sizeclass_small(SURPLUS_BLOCK) - 1, name));
}

static size_t surplus_curslabs(unsigned a)
{
	epoch_refresh();
	return ctl_size(ctl_name("stats.arenas.%u.bins.%u.curslabs", a, sizeclass_small(SURPLUS_BLOCK) - 1));
}

/* The slabs of a batch that came in while the heap grew go back to it when
 * the batch is freed (bin.c, slab_may_wait): the first round after a new
 * arena's, here. */
static void surplus_warm_up(unsigned a, unsigned n)
{
	surplus_alloc(a, n);
	surplus_free(n);
}

/* A batch of 512 KiB freed and allocated again takes no new slab once the
 * heap stopped growing: the bin kept them (its base budget alone is 64
 * KiB). */
Test(bins, a_batch_freed_and_taken_again_reuses_its_slabs)
{
	unsigned a = arena_new_explicit();
	surplus_warm_up(a, 128);
	surplus_alloc(a, 128);
	surplus_free(128);
	uint64_t made = surplus_stat(a, "nslabs");
	surplus_alloc(a, 128);
	cr_assert_eq(surplus_stat(a, "nslabs"), made, "slabs made again for the same batch");
	surplus_free(128);
}

/* The bins keep at most the surplus budget beyond their base: a batch of
 * 4 MiB freed leaves no more than that. */
Test(bins, the_surplus_is_bounded)
{
	unsigned a = arena_new_explicit();
	surplus_warm_up(a, 1024);
	surplus_alloc(a, 1024);
	surplus_free(1024);
	size_t slab = SURPLUS_BLOCK * 8; /* 8 objects a slab (sizeclass table) */
	cr_assert_leq(surplus_curslabs(a) * slab, SURPLUS_BUDGET + 64 * KiB + slab);
	cr_assert_gt(surplus_curslabs(a) * slab, SURPLUS_BUDGET / 2, "the surplus was kept");
}

/* A decay gives back the surplus slabs that went unused since the last one;
 * those used in between stay. */
Test(bins, decay_gives_back_an_unused_surplus)
{
	unsigned a = arena_new_explicit();
	surplus_alloc(a, 128);
	surplus_free(128);
	ctl_do(ctl_name("arena.%u.decay", a)); /* starts a period */
	surplus_alloc(a, 128);
	surplus_free(128);
	size_t kept = surplus_curslabs(a);
	ctl_do(ctl_name("arena.%u.decay", a));
	cr_assert_eq(surplus_curslabs(a), kept, "slabs used in the period were given back");
	ctl_do(ctl_name("arena.%u.decay", a));
	cr_assert_leq(surplus_curslabs(a) * SURPLUS_BLOCK * 8, 64 * KiB + SURPLUS_BLOCK * 8);
}

/* Surplus slabs are shared by every thread of the arena: threads that free
 * batches of several classes at once keep the bins consistent. */
static void *surplus_worker(void *arg)
{
	unsigned a = *(unsigned *)arg;
	void *blocks[256];
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 256; i++) {
			blocks[i] = JE(mallocx)(1024 + (size_t)(i % 13) * 1024, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
			cr_assert_not_null(blocks[i]);
		}
		for (int i = 0; i < 256; i++)
			JE(dallocx)(blocks[i], MALLOCX_TCACHE_NONE);
	}
	return NULL;
}

Test(bins, threads_share_the_surplus)
{
	unsigned a = arena_new_explicit();
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, surplus_worker, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(ingot_check(), 0);
	epoch_refresh();
	for (unsigned size = 1024; size <= 13 * 1024; size += 1024)
		cr_assert_eq(ctl_size(ctl_name("stats.arenas.%u.bins.%u.curregs", a, sizeclass_small(size) - 1)), 0);
}

/* Every large class up to 1 MiB counts its mallocs and frees in its own
 * lextents.<j> (the large cache's table stands for sizeclass_of for those
 * it lists), as does a block of the same size freed by size. */
Test(stats, every_large_class_counts_in_its_own_lextent)
{
	unsigned a = arena_new_explicit();
	int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
	unsigned nl = ctl_unsigned("arenas.nlextents");
	for (unsigned j = 0; j < nl; j++) {
		size_t size = ctl_size(ctl_name("arenas.lextent.%u.size", j));
		if (size > ((size_t)1 << 20))
			break;
		epoch_refresh();
		uint64_t m0 = ctl_u64(ctl_name("stats.arenas.%u.lextents.%u.nmalloc", a, j));
		uint64_t d0 = ctl_u64(ctl_name("stats.arenas.%u.lextents.%u.ndalloc", a, j));
		void *p = JE(mallocx)(size, flags);
		cr_assert_not_null(p);
		void *q = JE(mallocx)(size - PAGE + 1, flags); /* same class */
		cr_assert_not_null(q);
		JE(dallocx)(p, MALLOCX_TCACHE_NONE);
		JE(sdallocx)(q, size - PAGE + 1, MALLOCX_TCACHE_NONE);
		epoch_refresh();
		cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.lextents.%u.nmalloc", a, j)), m0 + 2,
		             "lextent %u (%zu bytes) missed a malloc", j, size);
		cr_assert_eq(ctl_u64(ctl_name("stats.arenas.%u.lextents.%u.ndalloc", a, j)), d0 + 2,
		             "lextent %u (%zu bytes) missed a free", j, size);
	}
	cr_assert_eq(ingot_check(), 0);
}
