/*
 * ctl.h — the mallctl name tree: node types, the walk from a name or a MIB
 * to a leaf, and the read/write helpers every leaf uses.
 *
 * A name such as "stats.arenas.0.bins.3.nmalloc" is a path from the root:
 * each component is either the name of a child ("stats", "arenas") or, under
 * a numbered node, an integer ("0", "3") that the node validates. A MIB is
 * the same path as numbers: a named child's position among its siblings, or
 * the integer itself. Leaves hold a handler; the handler reads its indices
 * back from the MIB (mib[1] is the <i> of arena.<i>.purge).
 *
 * The subtrees live with their subsystem: ctl_opt.c (opt.*), ctl_thread.c
 * (thread.*, tcache.*), ctl_arena.c (arena.<i>.*, arenas.*), ctl_stats.c
 * (stats.*), ctl_background.c (stats.background_thread.*); ctl.c holds the
 * root and the entry points.
 *
 * Error codes are jemalloc's (its manual, RETURN VALUES):
 *   ENOENT  unknown name, a name that stops at an inner node or goes on past
 *           a leaf, an index out of range;
 *   EINVAL  a new value of the wrong length, *oldlenp of the wrong length
 *           (as much as fits is still copied and *oldlenp says how much),
 *           or a value the leaf refuses;
 *   EPERM   reading or writing a leaf that cannot be read or written;
 *   EFAULT  an action with side effects failed (unknown tcache, automatic
 *           arena reset, ...);
 *   EAGAIN  out of memory or out of indices.
 * Handlers run under one process-wide ctl lock, so they never race one
 * another; it ranks above every allocator lock.
 */
#ifndef INGOT_CTL_H
#define INGOT_CTL_H

#include "arch.h"
#include "common.h"

#define CTL_ARENAS_ALL 4096u       /* MALLCTL_ARENAS_ALL */
#define CTL_ARENAS_DESTROYED 4097u /* MALLCTL_ARENAS_DESTROYED */
#define CTL_MAX_DEPTH 8            /* deepest name: stats.arenas.<i>.bins.<j>.<leaf> */

/* What the caller of mallctl passed. */
struct ctl_io {
	void *oldp;
	size_t *oldlenp;
	void *newp;
	size_t newlen;
};

typedef int ctl_handler(const size_t *mib, size_t miblen, struct ctl_io *io);

/*
 * One node of the tree, of one kind:
 *  - CTL_KIND_LEAF: fn.handler;
 *  - CTL_KIND_INNER: named children, to.kids[0..nkids);
 *  - CTL_KIND_NUMBERED: the next component is an integer i, accepted when
 *    fn.index_ok(mib, depth) holds for mib[depth] == i, and leads to
 *    *to.numbered;
 *  - CTL_KIND_LINK: *to.link stands in its place (subtrees of other files,
 *    whose nodes are not constant expressions here).
 * Four words, not seven: the loader writes every pointer of the tree in each
 * process that loads the library (relocations), so the tree's pages are
 * resident in every program, mallctl called or not (the library's relocated
 * data 16.9 KiB, 5 pages, before; 10.4 KiB, 3 pages, now).
 */
enum ctl_kind { CTL_KIND_LEAF = 1, CTL_KIND_INNER, CTL_KIND_NUMBERED, CTL_KIND_LINK };

struct ctl_node {
	const char *name;
	union {
		ctl_handler *handler;
		bool (*index_ok)(const size_t *mib, size_t depth);
	} fn;
	union {
		const struct ctl_node *kids;
		const struct ctl_node *numbered;
		const struct ctl_node *link;
	} to;
	uint32_t nkids;
	uint8_t kind; /* enum ctl_kind */
};

#define CTL_LEAF(n, h) {.name = (n), .fn.handler = (h), .kind = CTL_KIND_LEAF}
#define CTL_INNER(n, k) {.name = (n), .to.kids = (k), .nkids = ARRAY_LEN(k), .kind = CTL_KIND_INNER}
#define CTL_NUMBERED(n, ok, node) \
	{.name = (n), .fn.index_ok = (ok), .to.numbered = (node), .kind = CTL_KIND_NUMBERED}
#define CTL_LINK(n, node) {.name = (n), .to.link = (node), .kind = CTL_KIND_LINK}

/* ---- rules shared by every leaf (each returns 0 or an error code) ---- */

/* A read-only leaf: any new value is EPERM. */
INGOT_INLINE int ctl_readonly(const struct ctl_io *io)
{
	return io->newp != NULL || io->newlen != 0 ? ARCH_EPERM : 0;
}

/* A write-only leaf: asking for the old value is EPERM. */
INGOT_INLINE int ctl_writeonly(const struct ctl_io *io)
{
	return io->oldp != NULL || io->oldlenp != NULL ? ARCH_EPERM : 0;
}

/* An action (void): neither old nor new value allowed. */
INGOT_INLINE int ctl_neither(const struct ctl_io *io)
{
	return io->oldp != NULL || io->oldlenp != NULL || io->newp != NULL || io->newlen != 0
	           ? ARCH_EPERM
	           : 0;
}

/* A name of a feature ingot does not have, answered as a jemalloc built
 * without it answers: the name resolves (mallctlnametomib succeeds) and
 * any access is ENOENT. */
int ctl_compiled_out(const size_t *mib, size_t miblen, struct ctl_io *io);

/* arena.<i>.dss, opt.dss, stats.arenas.<i>.dss: ingot never uses sbrk. */
#define CTL_DSS_DISABLED "disabled"

/* Copies the value out when the caller asked for it. A wrong *oldlenp
 * copies what fits, sets *oldlenp to that and returns EINVAL. */
int ctl_read(struct ctl_io *io, const void *value, size_t size);

/* Copies the new value in when there is one (returns 0 and leaves *value
 * alone when newp is NULL); a newlen other than size is EINVAL. */
int ctl_write(struct ctl_io *io, void *value, size_t size);

/* For leaves that create something (tcache.create, arenas.create): the
 * caller must supply room for exactly size bytes, else *oldlenp = 0 and
 * EINVAL before anything is created. */
int ctl_verify_read(struct ctl_io *io, size_t size);

#define CTL_READ(io, type, expr) \
	do { \
		type ctl_value_ = (expr); \
		return ctl_read((io), &ctl_value_, sizeof(type)); \
	} while (0)

/* A read-only leaf returning one value. */
#define CTL_RO(fname, type, expr) \
	static int fname(const size_t *mib, size_t miblen, struct ctl_io *io) \
	{ \
		(void)mib; \
		(void)miblen; \
		int err_ = ctl_readonly(io); \
		if (err_) \
			return err_; \
		CTL_READ(io, type, expr); \
	}

/* ---- subtrees, defined by each subsystem's ctl_*.c ---- */

extern const struct ctl_node ctl_opt_node;     /* opt */
extern const struct ctl_node ctl_thread_node;  /* thread */
extern const struct ctl_node ctl_tcache_node;  /* tcache */
extern const struct ctl_node ctl_arena_node;   /* arena */
extern const struct ctl_node ctl_arenas_node;  /* arenas */
extern const struct ctl_node ctl_stats_node;   /* stats */
extern const struct ctl_node ctl_prof_node;    /* prof (ctl_prof.c) */
extern const struct ctl_node ctl_thread_prof_node; /* thread.prof (ctl_prof.c) */
extern const struct ctl_node ctl_stats_background_node; /* stats.background_thread */

/* ---- shared state between the subtrees ---- */

/* The muzzy decay time set for arena i (ingot has no muzzy pages; the
 * value is kept so that it reads back). */
int64_t ctl_arena_muzzy_ms(unsigned i);

/* The ctl lock, for fork (taken first, released last). */
void ctl_fork_prepare(void);
void ctl_fork_parent(void);
void ctl_fork_child(void);

#endif
