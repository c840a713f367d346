/*
 * common.h — compiler helpers, build-time constants and assertions shared by
 * every layer. Holds no state and declares no layer's interface.
 */
#ifndef INGOT_COMMON_H
#define INGOT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef INGOT_DEBUG
#define INGOT_DEBUG 0
#endif
#ifndef INGOT_STATS
#define INGOT_STATS 1
#endif
#ifndef INGOT_HARDENED
#define INGOT_HARDENED 0
#endif
#ifndef INGOT_LG_PAGE
#define INGOT_LG_PAGE 12
#endif
#ifndef INGOT_OVERRIDE
#define INGOT_OVERRIDE 0
#endif
/* log2 of the chunk, the unit the page heap maps (4 MiB). Small-footprint
 * builds (a bare-metal region of a few hundred KiB) lower it; it must hold
 * the largest slab (static assertion in pageheap.h). */
#ifndef INGOT_LG_CHUNK
#define INGOT_LG_CHUNK 22
#endif
/* Storage class of ingot's per-thread state. A build for one thread of
 * execution without TLS support (bare metal) sets it empty:
 * -DINGOT_THREAD_LOCAL= makes the state an ordinary global. */
#ifndef INGOT_THREAD_LOCAL
#define INGOT_THREAD_LOCAL _Thread_local
/* x86-64 ELF, GNU C: the fast paths reach initial-exec TLS through %fs
 * itself (tcache_inline.h), saving the load of the thread pointer and an
 * add. Strict ISO C has no named address spaces. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__SEG_FS) && !defined(__STRICT_ANSI__)
#define INGOT_TLS_FS 1
#endif
#endif
#ifndef INGOT_TLS_FS
#define INGOT_TLS_FS 0
#endif

#define INGOT_LIKELY(x) __builtin_expect(!!(x), 1)
#define INGOT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define INGOT_INLINE static inline __attribute__((always_inline))
#define INGOT_FAST INGOT_INLINE /* on the allocation fast path */
#define INGOT_EXPORT __attribute__((visibility("default")))
/* For reads of other threads' counters that are approximate by design. */
#define INGOT_RACY_READ __attribute__((no_sanitize_thread))

/* Ingot's page: the unit of the page heap. Chunks are the unit the page heap
 * takes from the OS; every chunk is aligned to its size, so the chunk of a
 * pointer is found by masking. */
#define LG_PAGE INGOT_LG_PAGE
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)
#define LG_CHUNK INGOT_LG_CHUNK
#define CHUNK ((size_t)1 << LG_CHUNK)
#define CHUNK_MASK (CHUNK - 1)
#define CHUNK_PAGES (CHUNK >> LG_PAGE)

/* Largest request ingot accepts; larger ones fail with ENOMEM. */
#define INGOT_MAX_REQUEST ((size_t)PTRDIFF_MAX - 2 * CHUNK)

#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((size_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((size_t)(a)-1))
#define IS_POW2(x) ((x) != 0 && ((x) & ((x)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Internal invariants, by cost. The condition is compiled in every build and
 * removed by the optimiser when the level is off. A failure never allocates. */
_Noreturn void ingot_assert_fail(const char *file, int line, const char *cond);
#define INGOT_ASSERT_LEVEL(n, e) \
	do { \
		if (INGOT_DEBUG >= (n) && INGOT_UNLIKELY(!(e))) \
			ingot_assert_fail(__FILE__, __LINE__, #e); \
	} while (0)
#define ingot_assert(e) INGOT_ASSERT_LEVEL(1, e)
#define ingot_assert_internal(e) INGOT_ASSERT_LEVEL(2, e)
#define ingot_assert_expensive(e) INGOT_ASSERT_LEVEL(3, e)

/* Freestanding helpers; the compiler turns these into inline code. */
#define ingot_memset __builtin_memset
#define ingot_memcpy __builtin_memcpy
#define ingot_memmove __builtin_memmove

/* True when a — its first alen characters, or fewer up to a NUL (alen
 * SIZE_MAX for a whole string) — spells NUL-terminated b exactly. The one
 * string compare of src/ (option names and values, mallctl names). */
INGOT_INLINE bool ingot_str_eq(const char *a, size_t alen, const char *b)
{
	size_t i = 0;
	for (; i < alen && a[i] != '\0'; i++)
		if (b[i] != a[i])
			return false;
	return b[i] == '\0';
}
#define ingot_str_is(a, b) ingot_str_eq((a), SIZE_MAX, (b)) /* whole strings */

INGOT_INLINE unsigned lg_floor(size_t x) { return 63u - (unsigned)__builtin_clzll(x); }
INGOT_INLINE unsigned lg_ceil(size_t x) { return x <= 1 ? 0 : lg_floor(x - 1) + 1; }

#endif
