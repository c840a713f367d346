/*
 * jemalloc/jemalloc.h — ingot's stand-in for the header of jemalloc 5.3.
 *
 * Programs written against jemalloc include this header and link against
 * lib/libjemalloc.so.2, which ingot builds. The declarations, the version
 * macros and the MALLOCX_* flag encodings follow the jemalloc 5.3 manual
 * (jemalloc(3)), so that a program built with jemalloc's own header runs
 * unchanged on ingot and the other way round. tests/test_jemalloc_header.c
 * checks every encoding; tests/programs/header_compat.sh compares this header
 * with an installed jemalloc header.
 *
 * Only the unprefixed names exist in the library. Define JEMALLOC_NO_DEMANGLE
 * (or JEMALLOC_MANGLE) before including this header to also get the je_*
 * spellings as macros for the same functions.
 */
#ifndef JEMALLOC_H_
#define JEMALLOC_H_

/* jemalloc's header makes these available to its users; programs rely on it
 * (bool in the extent hooks, ffs for MALLOCX_ALIGN, INT_MAX, size_t). */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version: the jemalloc release whose interface this header provides ---- */

#define JEMALLOC_VERSION "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"
#define JEMALLOC_VERSION_MAJOR 5
#define JEMALLOC_VERSION_MINOR 3
#define JEMALLOC_VERSION_BUGFIX 0
#define JEMALLOC_VERSION_NREV 0
#define JEMALLOC_VERSION_GID "54eaed1d8b56b1aa528be3bdd1877e59c56fa90c"
#define JEMALLOC_VERSION_GID_IDENT 54eaed1d8b56b1aa528be3bdd1877e59c56fa90c

/* ---- what the compiler and the C library offer ---- */

#if defined(__GNUC__) || defined(__clang__)
#define JEMALLOC_HAVE_ATTR
#define JEMALLOC_HAVE_ATTR_ALLOC_SIZE
#define JEMALLOC_HAVE_ATTR_FORMAT_ARG
#define JEMALLOC_HAVE_ATTR_FORMAT_PRINTF
#if !defined(__clang__)
#define JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF
#endif
#if (defined(__GNUC__) && __GNUC__ >= 7) || defined(__clang__)
#define JEMALLOC_HAVE_ATTR_FALLTHROUGH
#endif
#define JEMALLOC_HAVE_ATTR_COLD
#endif

/* libjemalloc.so.2 built by ingot defines memalign() and valloc() too. */
#define JEMALLOC_OVERRIDE_MEMALIGN
#define JEMALLOC_OVERRIDE_VALLOC

/* glibc and musl declare malloc_usable_size(void *) without const; the
 * declaration below must agree with <malloc.h> so both can be included. */
#ifndef JEMALLOC_USABLE_SIZE_CONST
#define JEMALLOC_USABLE_SIZE_CONST
#endif

/* Match glibc's C++ prototypes, which promise not to throw. */
#define JEMALLOC_USE_CXX_THROW

/* log2 of sizeof(void *). */
#if UINTPTR_MAX == 0xffffffffu
#define LG_SIZEOF_PTR 2
#else
#define LG_SIZEOF_PTR 3
#endif

/* ---- flags for mallocx(), rallocx(), xallocx(), sallocx(), dallocx(),
 *      sdallocx() and nallocx(); combine them with | ----
 *
 * Bit layout of the int flags argument (the same as jemalloc's):
 *   bits 0-5    log2 of the requested alignment; 0 means no alignment request
 *   bit  6      zero the new memory
 *   bits 8-19   thread cache: 0 automatic, 1 none, n + 2 explicit cache n
 *   bits 20-31  arena: 0 automatic, a + 1 arena a
 */

/* Align to 1 << la. la is not checked. */
#define MALLOCX_LG_ALIGN(la) ((int)(la))

/* Align to a, which must be a power of two (not checked): the flag holds
 * log2(a). Alignments beyond 2^31 work where size_t is 64 bits wide. */
#if defined(__GNUC__) || defined(__clang__)
#define MALLOCX_ALIGN(a) ((int)(__builtin_ffsll((long long)(unsigned long long)(a)) - 1))
#else
#define MALLOCX_ALIGN(a)                                                          \
	((int)(((unsigned long long)(a) & 0xffffffffULL) != 0                     \
	           ? ffs((int)((unsigned long long)(a) & 0xffffffffULL)) - 1      \
	           : ffs((int)((unsigned long long)(a) >> 32)) + 31))
#endif

/* Fill newly allocated bytes with zeros. */
#define MALLOCX_ZERO ((int)0x40)

/* Use the explicit thread cache tc (from the "tcache.create" mallctl). */
#define MALLOCX_TCACHE(tc) ((int)(((unsigned)(tc) + 2u) << 8))
/* Bypass thread caches; not to be combined with MALLOCX_TCACHE(tc). */
#define MALLOCX_TCACHE_NONE MALLOCX_TCACHE(-1)

/* Allocate from arena a. */
#define MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1u) << 20))

/* Arena indices for "arena.<i>.*" and "stats.arenas.<i>.*": all arenas
 * together, and the sum over destroyed arenas. Plain decimal numbers so that
 * they can be pasted into a mallctl name with the preprocessor's # operator. */
#define MALLCTL_ARENAS_ALL 4096
#define MALLCTL_ARENAS_DESTROYED 4097

/* ---- attribute macros used in the declarations below (programs use some
 *      of them in their own declarations) ---- */

#if defined(__cplusplus) && defined(JEMALLOC_USE_CXX_THROW)
#if __cplusplus >= 201103L
#define JEMALLOC_CXX_THROW noexcept(true)
#else
#define JEMALLOC_CXX_THROW throw()
#endif
#else
#define JEMALLOC_CXX_THROW
#endif

#if defined(_MSC_VER)
#define JEMALLOC_ATTR(s)
#define JEMALLOC_ALIGNED(s) __declspec(align(s))
#define JEMALLOC_ALLOC_SIZE(s)
#define JEMALLOC_ALLOC_SIZE2(s1, s2)
#ifndef JEMALLOC_EXPORT
#ifdef DLLEXPORT
#define JEMALLOC_EXPORT __declspec(dllexport)
#else
#define JEMALLOC_EXPORT __declspec(dllimport)
#endif
#endif
#define JEMALLOC_FORMAT_ARG(i)
#define JEMALLOC_FORMAT_PRINTF(s, i)
#define JEMALLOC_FALLTHROUGH
#define JEMALLOC_NOINLINE __declspec(noinline)
#ifdef __cplusplus
#define JEMALLOC_NOTHROW __declspec(nothrow)
#else
#define JEMALLOC_NOTHROW
#endif
#define JEMALLOC_SECTION(s) __declspec(allocate(s))
#define JEMALLOC_RESTRICT_RETURN __declspec(restrict)
#if _MSC_VER >= 1900
#define JEMALLOC_ALLOCATOR __declspec(allocator)
#else
#define JEMALLOC_ALLOCATOR
#endif
#define JEMALLOC_COLD
#elif defined(JEMALLOC_HAVE_ATTR)
#define JEMALLOC_ATTR(s) __attribute__((s))
#define JEMALLOC_ALIGNED(s) JEMALLOC_ATTR(aligned(s))
#define JEMALLOC_ALLOC_SIZE(s) JEMALLOC_ATTR(alloc_size(s))
#define JEMALLOC_ALLOC_SIZE2(s1, s2) JEMALLOC_ATTR(alloc_size(s1, s2))
#ifndef JEMALLOC_EXPORT
#define JEMALLOC_EXPORT JEMALLOC_ATTR(visibility("default"))
#endif
#define JEMALLOC_FORMAT_ARG(i) JEMALLOC_ATTR(__format_arg__(i))
#ifdef JEMALLOC_HAVE_ATTR_FORMAT_GNU_PRINTF
#define JEMALLOC_FORMAT_PRINTF(s, i) JEMALLOC_ATTR(format(gnu_printf, s, i))
#else
#define JEMALLOC_FORMAT_PRINTF(s, i) JEMALLOC_ATTR(format(printf, s, i))
#endif
#ifdef JEMALLOC_HAVE_ATTR_FALLTHROUGH
#define JEMALLOC_FALLTHROUGH JEMALLOC_ATTR(fallthrough)
#else
#define JEMALLOC_FALLTHROUGH
#endif
#define JEMALLOC_NOINLINE JEMALLOC_ATTR(noinline)
#define JEMALLOC_NOTHROW JEMALLOC_ATTR(nothrow)
#define JEMALLOC_SECTION(s) JEMALLOC_ATTR(section(s))
#define JEMALLOC_RESTRICT_RETURN
#define JEMALLOC_ALLOCATOR
#define JEMALLOC_COLD JEMALLOC_ATTR(__cold__)
#else
#define JEMALLOC_ATTR(s)
#define JEMALLOC_ALIGNED(s)
#define JEMALLOC_ALLOC_SIZE(s)
#define JEMALLOC_ALLOC_SIZE2(s1, s2)
#ifndef JEMALLOC_EXPORT
#define JEMALLOC_EXPORT
#endif
#define JEMALLOC_FORMAT_ARG(i)
#define JEMALLOC_FORMAT_PRINTF(s, i)
#define JEMALLOC_FALLTHROUGH
#define JEMALLOC_NOINLINE
#define JEMALLOC_NOTHROW
#define JEMALLOC_SECTION(s)
#define JEMALLOC_RESTRICT_RETURN
#define JEMALLOC_ALLOCATOR
#define JEMALLOC_COLD
#endif

/* The standard functions carry the C library's nothrow promise. */
#define JEMALLOC_SYS_NOTHROW JEMALLOC_NOTHROW

/* ---- configuration and messages ---- */

/* Options compiled into the program, read once at the first allocation,
 * before MALLOC_CONF (jemalloc's option syntax: "name:value,name:value"). */
extern JEMALLOC_EXPORT const char *malloc_conf;

/* Where the allocator's messages go; when left NULL they go to stderr. */
extern JEMALLOC_EXPORT void (*malloc_message)(void *cbopaque, const char *s);

/* ---- standard API ---- */

JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
malloc(size_t size) JEMALLOC_CXX_THROW JEMALLOC_ATTR(malloc) JEMALLOC_ALLOC_SIZE(1);

JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
calloc(size_t number, size_t size) JEMALLOC_CXX_THROW JEMALLOC_ATTR(malloc)
	JEMALLOC_ALLOC_SIZE2(1, 2);

JEMALLOC_EXPORT int JEMALLOC_SYS_NOTHROW
posix_memalign(void **ptr, size_t alignment, size_t size) JEMALLOC_CXX_THROW
	JEMALLOC_ATTR(nonnull(1));

JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
aligned_alloc(size_t alignment, size_t size) JEMALLOC_CXX_THROW JEMALLOC_ATTR(malloc)
	JEMALLOC_ALLOC_SIZE(2);

JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
realloc(void *ptr, size_t size) JEMALLOC_CXX_THROW JEMALLOC_ALLOC_SIZE(2);

JEMALLOC_EXPORT void JEMALLOC_SYS_NOTHROW free(void *ptr) JEMALLOC_CXX_THROW;

/* ---- non-standard API ---- */

/* Allocates at least size bytes (size 0 is undefined behaviour). */
JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_NOTHROW *
mallocx(size_t size, int flags) JEMALLOC_ATTR(malloc) JEMALLOC_ALLOC_SIZE(1);

/* Resizes ptr to at least size bytes, moving it if need be. */
JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_NOTHROW *
rallocx(void *ptr, size_t size, int flags) JEMALLOC_ALLOC_SIZE(2);

/* Resizes ptr in place to at least size bytes, and up to size + extra where
 * possible; returns the resulting real size (the old one if it cannot). */
JEMALLOC_EXPORT size_t JEMALLOC_NOTHROW
xallocx(void *ptr, size_t size, size_t extra, int flags);

/* The real size of the allocation at ptr. */
JEMALLOC_EXPORT size_t JEMALLOC_NOTHROW
sallocx(const void *ptr, int flags) JEMALLOC_ATTR(pure);

/* Frees ptr. */
JEMALLOC_EXPORT void JEMALLOC_NOTHROW dallocx(void *ptr, int flags);

/* Frees ptr, whose size is known to lie between the requested size and the
 * real size (sallocx / nallocx). */
JEMALLOC_EXPORT void JEMALLOC_NOTHROW sdallocx(void *ptr, size_t size, int flags);

/* The real size mallocx(size, flags) would return, without allocating; 0
 * when the request cannot be met. */
JEMALLOC_EXPORT size_t JEMALLOC_NOTHROW
nallocx(size_t size, int flags) JEMALLOC_ATTR(pure);

/* Reads and/or writes the control named name; returns 0 or an errno value. */
JEMALLOC_EXPORT int JEMALLOC_NOTHROW
mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* Translates name to a management information base (MIB) for mallctlbymib(). */
JEMALLOC_EXPORT int JEMALLOC_NOTHROW
mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);

JEMALLOC_EXPORT int JEMALLOC_NOTHROW
mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
             size_t newlen);

/* Writes human-readable (or, with "J" in opts, JSON) statistics through
 * write_cb, or through malloc_message when write_cb is NULL. */
JEMALLOC_EXPORT void JEMALLOC_NOTHROW
malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

JEMALLOC_EXPORT size_t JEMALLOC_NOTHROW
malloc_usable_size(JEMALLOC_USABLE_SIZE_CONST void *ptr) JEMALLOC_CXX_THROW;

#ifdef JEMALLOC_OVERRIDE_MEMALIGN
JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
memalign(size_t alignment, size_t size) JEMALLOC_CXX_THROW JEMALLOC_ATTR(malloc);
#endif

#ifdef JEMALLOC_OVERRIDE_VALLOC
JEMALLOC_EXPORT JEMALLOC_ALLOCATOR JEMALLOC_RESTRICT_RETURN void JEMALLOC_SYS_NOTHROW *
valloc(size_t size) JEMALLOC_CXX_THROW JEMALLOC_ATTR(malloc);
#endif

/* ---- extent hooks ("arena.<i>.extent_hooks", "arenas.create") ----
 *
 * A program may hand an arena a table of functions through which the arena
 * gets and returns its memory. Every hook receives the table it was called
 * through and the arena's index. Hooks returning bool return false on
 * success and true to refuse or report failure.
 */
typedef struct extent_hooks_s extent_hooks_t;

/* Returns size bytes aligned to alignment (at new_addr if that is not NULL),
 * or NULL. *zero and *commit: in, what is required; out, what was done. */
typedef void *(extent_alloc_t)(extent_hooks_t *extent_hooks, void *new_addr, size_t size,
                               size_t alignment, bool *zero, bool *commit,
                               unsigned arena_ind);

/* Gives the extent at addr back; true keeps it mapped for later reuse. */
typedef bool (extent_dalloc_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                               bool committed, unsigned arena_ind);

/* Unmaps the extent at addr unconditionally. */
typedef void (extent_destroy_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                                bool committed, unsigned arena_ind);

/* Commits [addr + offset, addr + offset + length), which then reads as zeros. */
typedef bool (extent_commit_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                               size_t offset, size_t length, unsigned arena_ind);

/* Decommits [addr + offset, addr + offset + length). */
typedef bool (extent_decommit_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                                 size_t offset, size_t length, unsigned arena_ind);

/* Discards the pages of [addr + offset, addr + offset + length): lazily
 * (contents undefined until written) or forced (they read as zeros). */
typedef bool (extent_purge_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                              size_t offset, size_t length, unsigned arena_ind);

/* Splits the extent at addr into the first size_a and the next size_b bytes. */
typedef bool (extent_split_t)(extent_hooks_t *extent_hooks, void *addr, size_t size,
                              size_t size_a, size_t size_b, bool committed,
                              unsigned arena_ind);

/* Merges the adjacent extents at addr_a and addr_b into one. */
typedef bool (extent_merge_t)(extent_hooks_t *extent_hooks, void *addr_a, size_t size_a,
                              void *addr_b, size_t size_b, bool committed,
                              unsigned arena_ind);

/* A NULL member (other than alloc) opts out of that operation. */
struct extent_hooks_s {
	extent_alloc_t *alloc;
	extent_dalloc_t *dalloc;
	extent_destroy_t *destroy;
	extent_commit_t *commit;
	extent_decommit_t *decommit;
	extent_purge_t *purge_lazy;
	extent_purge_t *purge_forced;
	extent_split_t *split;
	extent_merge_t *merge;
};

/* ---- je_* spellings ----
 *
 * Code that has to work with a jemalloc built with a name prefix writes
 * je_malloc and so on and defines JEMALLOC_NO_DEMANGLE; here the prefix is
 * empty, so each je_ name stands for the plain one. */
#if defined(JEMALLOC_MANGLE) && !defined(JEMALLOC_NO_DEMANGLE)
#define JEMALLOC_NO_DEMANGLE
#endif
#ifdef JEMALLOC_NO_DEMANGLE
#define je_malloc_conf malloc_conf
#define je_malloc_message malloc_message
#define je_malloc malloc
#define je_calloc calloc
#define je_posix_memalign posix_memalign
#define je_aligned_alloc aligned_alloc
#define je_realloc realloc
#define je_free free
#define je_mallocx mallocx
#define je_rallocx rallocx
#define je_xallocx xallocx
#define je_sallocx sallocx
#define je_dallocx dallocx
#define je_sdallocx sdallocx
#define je_nallocx nallocx
#define je_mallctl mallctl
#define je_mallctlnametomib mallctlnametomib
#define je_mallctlbymib mallctlbymib
#define je_malloc_stats_print malloc_stats_print
#define je_malloc_usable_size malloc_usable_size
#define je_memalign memalign
#define je_valloc valloc
#endif

#ifdef __cplusplus
}
#endif
#endif /* JEMALLOC_H_ */
