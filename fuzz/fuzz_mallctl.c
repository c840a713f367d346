/*
 * fuzz_mallctl.c — the mallctl interface on arbitrary names and values.
 *
 * Built only when the library has ingot_mallctl (FUZZ_MALLCTL in
 * mk/fuzz.mk). For every call the harness requires that:
 *   - the call returns 0 or one of the errors jemalloc's manual lists
 *     (EINVAL, ENOENT, EPERM, EAGAIN, EFAULT) or ENOMEM — never crashes;
 *   - it writes nothing past *oldlenp bytes of oldp, nor past *miblenp
 *     entries of a mib, and sets *miblenp, and *oldlenp when oldp is given,
 *     no higher than given;
 *   - malloc_stats_print passes only NUL-terminated text to its callback;
 *   - the allocator still allocates and frees and ingot_check() passes
 *     (after each input).
 *
 * Names come either from a table of jemalloc 5.3's documented names, with
 * "{}" replaced by an index from the input, or raw from the input. Values
 * are written only to names whose value is not a pointer ingot would follow
 * (hooks, profiling file names, utilization queries: writing garbage there
 * is the caller's fault, not ingot's), except arenas.lookup, which gets
 * a valid, an interior, a NULL or a foreign pointer.
 *
 * Input format (every read past the end gives 0):
 *   repeat: op:u8 then
 *     op % 4 == 0  mallctl               name access
 *     op % 4 == 1  nametomib + bymib     name miblen:u8 edit:u8 [index:u8] access
 *     op % 4 == 2  malloc_stats_print    opts (NUL-terminated, at most 16 bytes)
 *     op % 4 == 3  bymib, raw mib        miblen:u8 (miblen % 8) x index
 *                                        access (read only); as op 0 when
 *                                        FUZZ_BEYOND_JEMALLOC is 0
 *   name:   n:u8; n < 192: table[n % N] with each "{}" replaced by index:u8
 *           (250: 4096 = MALLCTL_ARENAS_ALL, 251: 4097 = ..._DESTROYED,
 *           252: 4095, 253: UINT_MAX, else the byte), else a raw string up
 *           to NUL or 120 bytes
 *   access: rw:u8; bit 0: read (oldp and oldlenp), bit 1: oldlenp without
 *           oldp, bit 2: write; rw >> 3 picks *oldlenp from oldlen_choices;
 *           then, when writing: newlen:u8 (% 33) and newlen value bytes
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"

#include "fuzz_common.h"

/* 1: also hold ingot to what DESIGN.md promises beyond jemalloc's manual
 * ("bad input gets a defined answer"): raw mibs with arbitrary components
 * and foreign pointers given to arenas.lookup get an error, not a crash.
 * 0: only jemalloc's contract, under which the harness passes on jemalloc
 * 5.3 itself (which crashes on both of those). */
#ifndef FUZZ_BEYOND_JEMALLOC
#define FUZZ_BEYOND_JEMALLOC 1
#endif

#define NAME_MAX_LEN 160
#define BUF_LEN 256
#define CANARY 0xa7
#define ARENAS_CREATE_MAX 8 /* per process: each arena keeps memory */
#define TCACHE_CREATE_MAX 16

/* Documented jemalloc 5.3 names (jemalloc(3), MALLCTL NAMESPACE), plus the
 * prefixes and some near misses, then ingot's own. */
static const char *const names[] = {
	"version", "epoch", "background_thread", "max_background_threads",
	"config.cache_oblivious", "config.debug", "config.fill", "config.lazy_lock",
	"config.malloc_conf", "config.opt_safety_checks", "config.prof", "config.prof_libgcc",
	"config.prof_libunwind", "config.stats", "config.utrace", "config.xmalloc",
	"opt.abort", "opt.abort_conf", "opt.cache_oblivious", "opt.confirm_conf",
	"opt.metadata_thp", "opt.trust_madvise", "opt.retain", "opt.dss", "opt.narenas",
	"opt.oversize_threshold", "opt.percpu_arena", "opt.hpa", "opt.background_thread",
	"opt.max_background_threads", "opt.dirty_decay_ms", "opt.muzzy_decay_ms",
	"opt.lg_extent_max_active_fit", "opt.stats_print", "opt.stats_print_opts",
	"opt.stats_interval", "opt.junk", "opt.zero", "opt.utrace", "opt.xmalloc", "opt.tcache",
	"opt.tcache_max", "opt.lg_tcache_max", "opt.thp", "opt.prof", "opt.zero_realloc",
	"opt.profile", "opt.", "opt",
	"thread.arena", "thread.allocated", "thread.allocatedp", "thread.deallocated",
	"thread.deallocatedp", "thread.peak.read", "thread.peak.reset", "thread.tcache.enabled",
	"thread.tcache.flush", "thread.prof.name", "thread.prof.active", "thread.idle",
	"tcache.create", "tcache.flush", "tcache.destroy",
	"arena.{}.initialized", "arena.{}.decay", "arena.{}.purge", "arena.{}.reset",
	"arena.{}.destroy", "arena.{}.dss", "arena.{}.oversize_threshold",
	"arena.{}.dirty_decay_ms", "arena.{}.muzzy_decay_ms", "arena.{}.retain_grow_limit",
	"arena.{}.extent_hooks", "arena.{}", "arena.{}.", "arena",
	"arenas.narenas", "arenas.dirty_decay_ms", "arenas.muzzy_decay_ms", "arenas.quantum",
	"arenas.page", "arenas.tcache_max", "arenas.nbins", "arenas.nhbins",
	"arenas.bin.{}.size", "arenas.bin.{}.nregs", "arenas.bin.{}.slab_size",
	"arenas.bin.{}.nshards", "arenas.nlextents", "arenas.lextent.{}.size",
	"arenas.create", "arenas.lookup", "arenas.bin.{}", "arenas",
	"prof.thread_active_init", "prof.active", "prof.dump", "prof.gdump", "prof.prefix",
	"prof.reset", "prof.lg_sample", "prof.interval",
	"stats.allocated", "stats.active", "stats.metadata", "stats.metadata_thp",
	"stats.resident", "stats.mapped", "stats.retained", "stats.zero_reallocs",
	"stats.background_thread.num_threads", "stats.background_thread.num_runs",
	"stats.background_thread.run_interval", "stats.mutexes.reset",
	"stats.mutexes.ctl.num_ops", "stats.arenas.{}.nthreads", "stats.arenas.{}.uptime",
	"stats.arenas.{}.dss", "stats.arenas.{}.dirty_decay_ms",
	"stats.arenas.{}.muzzy_decay_ms", "stats.arenas.{}.pactive", "stats.arenas.{}.pdirty",
	"stats.arenas.{}.pmuzzy", "stats.arenas.{}.mapped", "stats.arenas.{}.retained",
	"stats.arenas.{}.base", "stats.arenas.{}.internal", "stats.arenas.{}.resident",
	"stats.arenas.{}.dirty_npurge", "stats.arenas.{}.dirty_nmadvise",
	"stats.arenas.{}.dirty_purged", "stats.arenas.{}.small.allocated",
	"stats.arenas.{}.small.nmalloc", "stats.arenas.{}.small.ndalloc",
	"stats.arenas.{}.small.nrequests", "stats.arenas.{}.large.allocated",
	"stats.arenas.{}.large.nmalloc", "stats.arenas.{}.large.ndalloc",
	"stats.arenas.{}.bins.{}.nmalloc", "stats.arenas.{}.bins.{}.ndalloc",
	"stats.arenas.{}.bins.{}.nrequests", "stats.arenas.{}.bins.{}.curregs",
	"stats.arenas.{}.bins.{}.nfills", "stats.arenas.{}.bins.{}.nflushes",
	"stats.arenas.{}.bins.{}.nslabs", "stats.arenas.{}.bins.{}.curslabs",
	"stats.arenas.{}.bins.{}.nonfull_slabs", "stats.arenas.{}.lextents.{}.nmalloc",
	"stats.arenas.{}.lextents.{}.ndalloc", "stats.arenas.{}.lextents.{}.curlextents",
	"stats.arenas.{}.mutexes.large.num_ops", "stats.arenas.{}", "stats.arenas.{}.bins.{}",
	"stats", "experimental.hooks.install", "experimental.hooks.remove",
	"experimental.utilization.query", "experimental.utilization.batch_query",
	"experimental.arenas.{}.pactivep", "", ".", "..", "epoch.", "version.x",
	/* ingot's own: guard_sample's pool */
	"guard.sampled", "guard.failed", "guard.live", "guard.cells", "guard", "opt.guard_sample",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static const size_t oldlen_choices[] = {
	sizeof(size_t), sizeof(unsigned), sizeof(bool), sizeof(uint64_t), sizeof(char *),
	0, 1, 2, 3, 7, 9, 16, 32, 64, 200, BUF_LEN,
};
#define NOLDLEN (sizeof(oldlen_choices) / sizeof(oldlen_choices[0]))

static unsigned arenas_created, tcaches_created;
static unsigned long op_index;
static void *valid_block; /* a live ingot block, for arenas.lookup */

static unsigned read_index(struct fuzz_input *in)
{
	unsigned b = fuzz_u8(in);
	switch (b) {
	case 250:
		return 4096;
	case 251:
		return 4097;
	case 252:
		return 4095;
	case 253:
		return UINT_MAX;
	default:
		return b;
	}
}

static void read_name(struct fuzz_input *in, char *name)
{
	unsigned n = fuzz_u8(in);
	size_t len = 0;
	if (n < 192) {
		for (const char *t = names[n % NNAMES]; *t && len < NAME_MAX_LEN - 12; t++) {
			if (t[0] == '{' && t[1] == '}') {
				len += (size_t)snprintf(name + len, NAME_MAX_LEN - len, "%u", read_index(in));
				t++;
			} else {
				name[len++] = *t;
			}
		}
	} else {
		unsigned c;
		while (len < 120 && fuzz_more(in) && (c = fuzz_u8(in)) != 0)
			name[len++] = (char)c;
	}
	name[len] = '\0';
}

/* Names whose new value is a pointer that ingot would follow (hooks, file
 * names, dss and prof strings, utilization queries; arenas.create takes
 * extent hooks): a garbage value there is the caller's bug, so the harness
 * does not write. */
static int write_forbidden(const char *name)
{
	static const char *const pointer_valued[] = {"hook", "prof", "utilization", "dss",
	                                             "create"};
	for (size_t i = 0; i < sizeof(pointer_valued) / sizeof(pointer_valued[0]); i++)
		if (strstr(name, pointer_valued[i]))
			return 1;
	return 0;
}

/* Whether to make the call at all: calls that create state the process
 * keeps are bounded per process, and under jemalloc's contract only
 * (FUZZ_BEYOND_JEMALLOC 0) arenas.lookup needs a pointer to look up and
 * arenas.create / tcache.create a place for the new index, and
 * tcache.flush / tcache.destroy are not given indices (jemalloc 5.3 crashes
 * on each of those). */
static int call_allowed(const char *name, const void *oldp, const void *newp)
{
	if (!FUZZ_BEYOND_JEMALLOC && strcmp(name, "arenas.lookup") == 0 && !newp)
		return 0;
	if (!FUZZ_BEYOND_JEMALLOC && !oldp &&
	    (strcmp(name, "arenas.create") == 0 || strcmp(name, "tcache.create") == 0))
		return 0;
	if (!FUZZ_BEYOND_JEMALLOC && newp &&
	    (strcmp(name, "tcache.flush") == 0 || strcmp(name, "tcache.destroy") == 0))
		return 0;
	if (strcmp(name, "arenas.create") == 0)
		return arenas_created++ < ARENAS_CREATE_MAX;
	if (strcmp(name, "tcache.create") == 0)
		return tcaches_created++ < TCACHE_CREATE_MAX;
	return 1;
}

static void check_ret(int ret, const char *call, const char *name)
{
	switch (ret) {
	case 0:
	case EINVAL:
	case ENOENT:
	case EPERM:
	case EAGAIN:
	case EFAULT:
	case ENOMEM:
		return;
	}
	fuzz_fail("op %lu: %s(\"%s\") returned %d, not 0 nor a documented error", op_index, call,
	          name, ret);
}

/* The oldp / newp arguments of one call, with canaries past what was given. */
struct access {
	unsigned char old[BUF_LEN + 32], new_[BUF_LEN];
	void *oldp, *newp;
	size_t oldlen, given_oldlen, newlen;
	size_t *oldlenp;
};

static void read_access(struct fuzz_input *in, const char *name, int allow_write,
                        struct access *a)
{
	unsigned rw = fuzz_u8(in);
	a->given_oldlen = a->oldlen = oldlen_choices[(rw >> 3) % NOLDLEN];
	memset(a->old, CANARY, sizeof(a->old));
	a->oldp = rw & 1 ? a->old : NULL;
	a->oldlenp = rw & 3 ? &a->oldlen : NULL;
	a->newp = NULL;
	a->newlen = 0;
	if (!(rw & 4))
		return;
	a->newlen = fuzz_u8(in) % 33;
	for (size_t i = 0; i < a->newlen; i++)
		a->new_[i] = (unsigned char)fuzz_u8(in);
	if (!allow_write || write_forbidden(name)) {
		a->newlen = 0;
		return;
	}
	if (strcmp(name, "arenas.lookup") == 0) {
		/* The value is a pointer: one whose fate ingot can decide. */
		static int foreign;
		void *choices[] = {valid_block, (char *)valid_block + 8, NULL, &foreign, a};
		void *p = choices[a->new_[0] % (FUZZ_BEYOND_JEMALLOC ? 5 : 2)];
		memcpy(a->new_, &p, sizeof(p));
		a->newlen = sizeof(p);
	}
	a->newp = a->newlen || (rw & 0x80) ? a->new_ : NULL;
}

static void check_access(const struct access *a, const char *call, const char *name)
{
	if (a->oldp && a->oldlen > a->given_oldlen)
		fuzz_fail("op %lu: %s(\"%s\") raised *oldlenp from %zu to %zu", op_index, call, name,
		          a->given_oldlen, a->oldlen);
	size_t limit = a->oldp ? a->given_oldlen : 0;
	for (size_t i = limit; i < sizeof(a->old); i++)
		if (a->old[i] != CANARY)
			fuzz_fail("op %lu: %s(\"%s\") wrote byte %zu of oldp, past *oldlenp = %zu",
			          op_index, call, name, i, limit);
}

static void op_mallctl(struct fuzz_input *in)
{
	char name[NAME_MAX_LEN];
	struct access a;
	read_name(in, name);
	read_access(in, name, 1, &a);
	if (!call_allowed(name, a.oldp, a.newp))
		return;
	int ret = ingot_mallctl(name, a.oldp, a.oldlenp, a.newp, a.newlen);
	check_ret(ret, "mallctl", name);
	check_access(&a, "mallctl", name);
}

#define MIB_MAX 8
#define MIB_SLACK 4
#define MIB_CANARY ((size_t)0xa7a7a7a7a7a7a7a7ull)

static void op_bymib(struct fuzz_input *in)
{
	char name[NAME_MAX_LEN];
	size_t mib[MIB_MAX + MIB_SLACK];
	read_name(in, name);
	size_t given = fuzz_u8(in) % (MIB_MAX + 1), miblen = given;
	unsigned edit = fuzz_u8(in);
	for (size_t i = 0; i < MIB_MAX + MIB_SLACK; i++)
		mib[i] = MIB_CANARY;
	int ret = ingot_mallctlnametomib(name, mib, &miblen);
	check_ret(ret, "mallctlnametomib", name);
	if (miblen > given)
		fuzz_fail("op %lu: mallctlnametomib(\"%s\") raised *miblenp from %zu to %zu",
		          op_index, name, given, miblen);
	for (size_t i = given; i < MIB_MAX + MIB_SLACK; i++)
		if (mib[i] != MIB_CANARY)
			fuzz_fail("op %lu: mallctlnametomib(\"%s\") wrote mib[%zu], past *miblenp = %zu",
			          op_index, name, i, given);
	if (ret != 0)
		miblen = given; /* try the mib anyway: unset entries hold the canary */
	/* Rewrite one component (an arena or bin index, say) half of the time. */
	int edited = (edit & 1) && miblen > 0;
	if (edited)
		mib[(edit >> 1) % miblen] = read_index(in);
	struct access a;
	read_access(in, name, ret == 0 && !edited, &a);
	if (!call_allowed(name, a.oldp, a.newp) || (!FUZZ_BEYOND_JEMALLOC && (ret != 0 || edited)))
		return;
	ret = ingot_mallctlbymib(mib, miblen, a.oldp, a.oldlenp, a.newp, a.newlen);
	check_ret(ret, "mallctlbymib", name);
	check_access(&a, "mallctlbymib", name);
}

#if FUZZ_BEYOND_JEMALLOC
static void op_raw_mib(struct fuzz_input *in)
{
	size_t mib[MIB_MAX];
	size_t miblen = fuzz_u8(in) % MIB_MAX;
	for (size_t i = 0; i < miblen; i++)
		mib[i] = read_index(in);
	struct access a;
	read_access(in, "(raw mib)", 0, &a);
	int ret = ingot_mallctlbymib(mib, miblen, a.oldp, a.oldlenp, NULL, 0);
	check_ret(ret, "mallctlbymib", "(raw mib)");
	check_access(&a, "mallctlbymib", "(raw mib)");
}
#endif

static size_t stats_bytes;

static void stats_write(void *opaque, const char *text)
{
	if (opaque != &stats_bytes)
		fuzz_fail("op %lu: malloc_stats_print passed a wrong cbopaque %p", op_index, opaque);
	size_t n = strnlen(text, 1 << 20);
	if (n == 1 << 20)
		fuzz_fail("op %lu: malloc_stats_print passed text of 1 MiB or unterminated", op_index);
	stats_bytes += n;
}

static void op_stats_print(struct fuzz_input *in)
{
	char opts[17];
	size_t len = 0;
	unsigned c;
	while (len < 16 && fuzz_more(in) && (c = fuzz_u8(in)) != 0)
		opts[len++] = (char)c;
	opts[len] = '\0';
	stats_bytes = 0;
	ingot_malloc_stats_print(stats_write, &stats_bytes, opts);
	if (stats_bytes == 0)
		fuzz_fail("op %lu: malloc_stats_print(opts \"%s\") wrote nothing", op_index, opts);
}

static void fuzz_init(void)
{
	valid_block = ingot_malloc(100);
	if (!valid_block || ingot_check() != 0)
		fuzz_fail("ingot does not start");
}

static void fuzz_one(const uint8_t *data, size_t n)
{
	struct fuzz_input in = {data, data + n};
	for (op_index = 0; fuzz_more(&in); op_index++) {
		switch (fuzz_u8(&in) % 4) {
		case 0:
			op_mallctl(&in);
			break;
		case 1:
			op_bymib(&in);
			break;
		case 2:
			op_stats_print(&in);
			break;
		case 3:
#if !FUZZ_BEYOND_JEMALLOC
			op_mallctl(&in);
#else
			op_raw_mib(&in);
#endif
			break;
		}
	}
	void *p = ingot_malloc(4000);
	if (!p)
		fuzz_fail("malloc(4000) failed after the mallctl calls");
	memset(p, 1, 4000);
	ingot_free(p);
	if (ingot_check() != 0)
		fuzz_fail("ingot_check() failed after the mallctl calls");
}

#include "fuzz_driver.h"
