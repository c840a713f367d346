/*
 * fuzz_ops.c — ingot under random sequences of allocation calls.
 *
 * The input is decoded into operations on a table of 256 slots, each empty
 * or holding one live block. A shadow record per block keeps what the
 * program asked for (size, alignment, how it was allocated) and a seed; the
 * block's usable bytes hold a pattern made from the seed and the offset.
 * The harness aborts, naming the operation, when ingot breaks a promise:
 *   - a block's pattern changed while it was live (another block, ingot's
 *     metadata or a purge wrote into it), or realloc lost its prefix;
 *   - a block is misaligned, smaller than asked for, or overlaps another
 *     (each block checked against the others when ingot hands it out or
 *     resizes it);
 *   - calloc / MALLOCX_ZERO memory is not zero;
 *   - malloc_usable_size changed while the block was live, or disagrees with
 *     sallocx / nallocx;
 *   - an impossible request did not fail with NULL and the documented errno;
 *   - ingot_check() reports a broken invariant (every 64 operations, at the
 *     end of every input, after its final frees, and on request), or ingot
 *     aborts by itself;
 *   - guard_sample's pool holds more live blocks than cells, or any after
 *     the final frees.
 * ingot runs with guard_sample:64 (guarded blocks among the others) and
 * dirty_decay_ms:-1 (no purge by the clock, so that an input does the same
 * each time), before any INGOT_CONF of the caller; each input ends with
 * every block freed and the thread cache flushed, so that the next one (AFL
 * runs thousands in one process) starts from the same kind of heap.
 *
 * Input format (every read past the end gives 0):
 *   repeat: op:u8 slot:u8 operands...
 *     op % 13:
 *       0 malloc         size
 *       1 calloc         count:u8 size        (count % 16 + 1 elements)
 *       2 realloc        mode:u8 size         (mode % 8: 0 to size 0, 1 reallocarray)
 *       3 free           how:u8               (% 4: free, free_sized or
 *                                              free_aligned_sized, dallocx, sdallocx)
 *       4 aligned_alloc  align size
 *       5 posix_memalign align size
 *       6 memalign       align size           (align byte >= 224: not a power of two)
 *       7 inspect        -                    (verify the pattern and usable size)
 *       8 bad request    kind:u8
 *       9 maintenance    kind:u8              (check, thread flush, purge, stats)
 *      10 mallocx        flags size
 *      11 rallocx        flags size
 *      12 xallocx        flags size extra:u16
 *   size:  c:u8 then c < 192: u16 % 1025; c < 248: u16 + (c & 1) (to 64 KiB);
 *          else u32 % (4 MiB + 1)
 *   align: a:u8, 2^(a % 17), or 2^(17 + a % 5) when a >= 240 (to 2 MiB)
 *   flags: f:u8; bit 0: an align follows (MALLOCX_LG_ALIGN); bit 1: MALLOCX_ZERO;
 *          bit 2: MALLOCX_TCACHE_NONE; bits 3-5 all set: MALLOCX_ARENA(0)
 * Without the x-API (INGOT_HAVE_XAPI undefined) mallocx becomes malloc,
 * rallocx realloc, xallocx an inspection, and dallocx / sdallocx free /
 * the sized free, so that one corpus serves every build.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingot.h"

#include "fuzz_common.h"

#ifdef INGOT_HAVE_XAPI
#if __has_include("../include/jemalloc/jemalloc.h")
#include "../include/jemalloc/jemalloc.h" /* for the MALLOCX_* encodings only */
#else
#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ZERO ((int)0x40)
#define MALLOCX_TCACHE_NONE ((int)(1 << 8))
#define MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1u) << 20))
#endif
#endif

#define NSLOTS 256
#define CHECK_EVERY 64
/* Bound on the usable bytes of live blocks: a small heap keeps each input
 * and each ingot_check() cheap (was 64 MiB; four blocks of the largest
 * size still fit). */
#define LIVE_CAP ((size_t)16 << 20)
#define SIZE_RARE_MAX ((size_t)4 << 20)
/* Offsets below FULL_BYTES hold the pattern everywhere; above it only the
 * first and last SAMPLE bytes of each 64 KiB, so multi-megabyte blocks
 * stay cheap: each page the pattern touches costs a page fault whenever
 * ingot hands out purged or fresh pages (with a sample every 4 KiB, page
 * faults were most of an execution's time). Which bytes are patterned
 * depends only on the offset. */
#define FULL_BYTES ((size_t)64 << 10)
#define SAMPLE 64
#define SAMPLE_PAGE ((size_t)64 << 10)

enum origin {
	ORIGIN_PLAIN,   /* malloc, calloc, realloc: free_sized applies */
	ORIGIN_ALIGNED, /* aligned_alloc, posix_memalign, memalign: free_aligned_sized */
	ORIGIN_X,       /* mallocx, rallocx: sdallocx with the same alignment */
};

struct block {
	unsigned char *p; /* NULL: the slot is empty */
	size_t size;      /* requested size (for a sized free) */
	size_t usable;    /* malloc_usable_size when last allocated or resized */
	size_t align;     /* alignment asked for; 1 when none */
	uint64_t seed;    /* pattern of the usable bytes */
	enum origin origin;
	int xflags;       /* tcache / arena flags it was allocated with (x-API) */
};

static struct block slots[NSLOTS];
static size_t live_bytes;
static unsigned long op_index; /* operation number within the input, for reports */
static const char *op_name;
static uint64_t seed_counter;

/* Reports a fault in the current operation and aborts. */
__attribute__((noreturn, format(printf, 1, 2))) static void op_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fuzz_fail("op %lu (%s): %s", op_index, op_name, msg);
}

/* FUZZ_TRACE=1 in the environment prints every block ingot hands out or
 * takes back, for reading a reproducer. */
static int tracing;

__attribute__((format(printf, 1, 2))) static void trace(const char *fmt, ...)
{
	if (!tracing)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "op %lu (%s): ", op_index, op_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- the pattern ------------------------------------------------------------ */

#define PATTERN_STEP 0x9E3779B97F4A7C15ull

/* The pattern's byte at offset off: byte off % 8 of the little-endian word
 * seed ^ (off / 8) * PATTERN_STEP. */
static inline uint8_t pattern_byte(uint64_t seed, size_t off)
{
	uint64_t w = seed ^ ((uint64_t)(off >> 3) * PATTERN_STEP);
	return (uint8_t)(w >> ((off & 7) * 8));
}

/* Whether any of the n words at p differs from the pattern, whose first
 * word there is seed ^ step. */
static int words_differ(const unsigned char *p, uint64_t seed, uint64_t step, size_t n)
{
	uint64_t diff = 0;
	for (size_t j = 0; j < n; j++, step += PATTERN_STEP) {
		uint64_t w;
		memcpy(&w, p + 8 * j, 8);
		diff |= w ^ seed ^ step;
	}
	return diff != 0;
}

static inline int patterned(size_t off)
{
	size_t in_page = off % SAMPLE_PAGE;
	return off < FULL_BYTES || in_page < SAMPLE || in_page >= SAMPLE_PAGE - SAMPLE;
}

/* The patterned offsets of [from, to) form runs. run_next moves *a to the
 * first patterned offset at or after it and sets *b to the end of its run;
 * it returns 0 when no patterned offset is left below to. */
static int run_next(size_t *a, size_t *b, size_t to)
{
	size_t x = *a;
	if (!patterned(x))
		x = x - x % SAMPLE_PAGE + SAMPLE_PAGE - SAMPLE; /* the tail of this page */
	if (x >= to)
		return 0;
	size_t end;
	if (x < FULL_BYTES)
		end = FULL_BYTES;
	else if (x % SAMPLE_PAGE < SAMPLE)
		end = x - x % SAMPLE_PAGE + SAMPLE;
	else /* the tail of this page runs into the head of the next */
		end = x - x % SAMPLE_PAGE + SAMPLE_PAGE + SAMPLE;
	*a = x;
	*b = end < to ? end : to;
	return 1;
}

static FUZZ_CHECKER void pattern_fill(unsigned char *p, uint64_t seed, size_t from, size_t to)
{
	for (size_t a = from, b; run_next(&a, &b, to); a = b) {
		size_t i = a;
		for (; i < b && (i & 7); i++)
			p[i] = pattern_byte(seed, i);
		/* The word at i is seed ^ (i / 8) * PATTERN_STEP: the product is
		 * carried from word to word, so the loop vectorises. */
		uint64_t step = (uint64_t)(i >> 3) * PATTERN_STEP;
		for (; i + 8 <= b; i += 8, step += PATTERN_STEP) {
			uint64_t w = seed ^ step;
			memcpy(p + i, &w, 8); /* little-endian, as pattern_byte reads it */
		}
		for (; i < b; i++)
			p[i] = pattern_byte(seed, i);
	}
}

/* Returns the first offset in [from, to) whose byte is not the pattern, or
 * to when all are. */
static FUZZ_CHECKER size_t pattern_find_bad(const unsigned char *p, uint64_t seed, size_t from,
                                            size_t to)
{
	for (size_t a = from, b; run_next(&a, &b, to); a = b) {
		size_t i = a;
		for (; i < b && (i & 7); i++)
			if (p[i] != pattern_byte(seed, i))
				return i;
		/* Whole words without a branch per word (the loop vectorises);
		 * when one differs, the byte loop below names the first bad byte. */
		size_t words = (b - i) / 8;
		if (!words_differ(p + i, seed, (uint64_t)(i >> 3) * PATTERN_STEP, words))
			i += 8 * words;
		for (; i < b; i++)
			if (p[i] != pattern_byte(seed, i))
				return i;
	}
	return to;
}

static FUZZ_CHECKER size_t zero_find_bad(const unsigned char *p, size_t from, size_t to)
{
	for (size_t a = from, b; run_next(&a, &b, to); a = b) {
		size_t i = a;
		for (; i < b && (i & 7); i++)
			if (p[i])
				return i;
		size_t words = (b - i) / 8;
		uint64_t any = 0;
		for (size_t j = 0; j < words; j++) { /* no branch per word, as in words_differ */
			uint64_t w;
			memcpy(&w, p + i + 8 * j, 8);
			any |= w;
		}
		if (!any)
			i += 8 * words;
		for (; i < b; i++)
			if (p[i])
				return i;
	}
	return to;
}

/* ---- checks on one block ---------------------------------------------------- */

static void verify_pattern(const struct block *bl, size_t to, const char *when)
{
	size_t bad = pattern_find_bad(bl->p, bl->seed, 0, to);
	if (bad < to)
		op_fail("%s: block %p (size %zu, usable %zu, align %zu) byte %zu is 0x%02x, "
		        "expected 0x%02x",
		        when, (void *)bl->p, bl->size, bl->usable, bl->align, bad, bl->p[bad],
		        pattern_byte(bl->seed, bad));
}

static void verify_zero(const unsigned char *p, size_t from, size_t to, const char *what)
{
	size_t bad = zero_find_bad(p, from, to);
	if (bad < to)
		op_fail("%s: block %p byte %zu is 0x%02x, expected 0", what, (const void *)p, bad, p[bad]);
}

/* Largest alignment malloc owes a block of this size: alignof(max_align_t),
 * or less when no object needing it fits. */
static size_t natural_align(size_t size)
{
	size_t a = alignof(max_align_t);
	while (a > 1 && a > size)
		a >>= 1;
	return a;
}

/* ---- the live blocks in address order ----------------------------------------
 * Each block ingot hands out or resizes is checked against its neighbours
 * at once (no two live blocks may share a usable byte), and check_heap
 * walks the order instead of sorting. */

static struct block *by_addr[NSLOTS];
static unsigned nlive;

/* The rank of the first live block at or above p. */
static FUZZ_CHECKER unsigned addr_rank(const unsigned char *p)
{
	unsigned lo = 0, hi = nlive;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (by_addr[mid]->p < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void fail_overlap(const struct block *a, const struct block *b)
{
	op_fail("blocks overlap: %p+%zu and %p+%zu", (void *)a->p, a->usable, (void *)b->p,
	        b->usable);
}

/* The block of rank i ends before the next one starts and starts after the
 * previous one ends. */
static void neighbours_check(unsigned i)
{
	const struct block *bl = by_addr[i];
	if (i > 0 && by_addr[i - 1]->p + by_addr[i - 1]->usable > bl->p)
		fail_overlap(by_addr[i - 1], bl);
	if (i + 1 < nlive && bl->p + bl->usable > by_addr[i + 1]->p)
		fail_overlap(bl, by_addr[i + 1]);
}

static void addr_insert(struct block *bl)
{
	unsigned i = addr_rank(bl->p);
	memmove(&by_addr[i + 1], &by_addr[i], (nlive - i) * sizeof(by_addr[0]));
	by_addr[i] = bl;
	nlive++;
	neighbours_check(i);
}

static void addr_remove(const struct block *bl)
{
	unsigned i = addr_rank(bl->p);
	if (i == nlive || by_addr[i] != bl)
		op_fail("harness bookkeeping: block %p is not in the address order", (void *)bl->p);
	memmove(&by_addr[i], &by_addr[i + 1], (nlive - i - 1) * sizeof(by_addr[0]));
	nlive--;
}

/* The whole order: every live slot once, addresses rising, no overlap, and
 * the usable bytes adding up to live_bytes. */
static FUZZ_CHECKER void order_check(void)
{
	size_t live = 0, total = 0;
	for (unsigned i = 0; i < NSLOTS; i++)
		live += slots[i].p != NULL;
	if (live != nlive)
		op_fail("harness bookkeeping: %zu live slots, %u in the address order", live, nlive);
	for (unsigned i = 0; i < nlive; i++) {
		if (!by_addr[i]->p)
			op_fail("harness bookkeeping: an empty slot in the address order");
		if (i > 0 && by_addr[i - 1]->p + by_addr[i - 1]->usable > by_addr[i]->p)
			fail_overlap(by_addr[i - 1], by_addr[i]);
		total += by_addr[i]->usable;
	}
	if (total != live_bytes)
		op_fail("harness bookkeeping: %zu live bytes counted, %zu recorded", total, live_bytes);
}

/* Checks a block ingot just returned and records it in slot s. */
static void adopt(unsigned s, void *p, size_t size, size_t align, enum origin origin, int xflags)
{
	struct block *bl = &slots[s];
	if (!p)
		op_fail("returned NULL for size %zu align %zu", size, align);
	size_t want_align = align > natural_align(size) ? align : natural_align(size);
	if ((uintptr_t)p % want_align)
		op_fail("block %p of size %zu is not aligned to %zu", p, size, want_align);
	size_t usable = ingot_malloc_usable_size(p);
	if (usable < size)
		op_fail("block %p: usable size %zu < requested %zu", p, usable, size);
	bl->p = p;
	bl->size = size;
	bl->usable = usable;
	bl->align = align;
	bl->origin = origin;
	bl->xflags = xflags;
	bl->seed = ++seed_counter * 0xD1B54A32D192ED03ull;
	live_bytes += usable;
	trace("slot %u: %p size %zu align %zu usable %zu", s, p, size, align, usable);
	addr_insert(bl);
}

static void inspect(const struct block *bl, const char *when)
{
	size_t usable = ingot_malloc_usable_size(bl->p);
	if (usable != bl->usable)
		op_fail("%s: block %p: malloc_usable_size is %zu, was %zu", when, (void *)bl->p, usable,
		        bl->usable);
#ifdef INGOT_HAVE_XAPI
	size_t s = ingot_sallocx(bl->p, 0);
	if (s != usable)
		op_fail("%s: block %p: sallocx %zu != malloc_usable_size %zu", when, (void *)bl->p, s,
		        usable);
#endif
	verify_pattern(bl, bl->usable, when);
}

/* Forgets the block in slot s; the caller frees it. */
static void forget(struct block *bl)
{
	live_bytes -= bl->usable;
	addr_remove(bl);
	bl->p = NULL;
}

/* Whether a block of this size and alignment may be added (bounds memory). */
static int fits(size_t size, size_t align)
{
	return live_bytes + size + align <= LIVE_CAP;
}

/* ---- decoding ---------------------------------------------------------------- */

static size_t read_size(struct fuzz_input *in)
{
	unsigned c = fuzz_u8(in);
	if (c < 192)
		return fuzz_u16(in) % 1025;
	if (c < 248)
		return fuzz_u16(in) + (c & 1);
	return fuzz_u32(in) % (SIZE_RARE_MAX + 1);
}

static size_t read_align(struct fuzz_input *in)
{
	unsigned a = fuzz_u8(in);
	return (size_t)1 << (a >= 240 ? 17 + a % 5 : a % 17);
}

/* ---- operations -------------------------------------------------------------- */

static void do_free(unsigned s, unsigned how);

/* Frees whatever slot s holds, so an allocation can take it. */
static void vacate(unsigned s)
{
	if (slots[s].p)
		do_free(s, 0);
}

static void do_free(unsigned s, unsigned how)
{
	struct block *bl = &slots[s];
	if (!bl->p)
		return;
	inspect(bl, "before free");
	void *p = bl->p;
	forget(bl);
	trace("slot %u: free %p (size %zu align %zu usable %zu) way %u", s, p, bl->size, bl->align,
	      bl->usable, how % 4);
	switch (how % 4) {
	case 0:
		ingot_free(p);
		break;
	case 1:
#ifndef INGOT_HAVE_XAPI
	case 3:
#endif
		if (bl->origin == ORIGIN_PLAIN)
			ingot_free_sized(p, bl->size);
		else
			ingot_free_aligned_sized(p, bl->align, bl->size);
		break;
#ifdef INGOT_HAVE_XAPI
	case 2:
		ingot_dallocx(p, bl->xflags);
		break;
	case 3: {
		/* jemalloc accepts any size from the requested to the usable one. */
		int flags = bl->xflags | (bl->align > 1 ? MALLOCX_LG_ALIGN(__builtin_ctzll(bl->align)) : 0);
		size_t size = bl->size + (bl->usable - bl->size) / 2;
		ingot_sdallocx(p, size ? size : 1, flags);
		break;
	}
#else
	case 2:
		ingot_free(p);
		break;
#endif
	}
}

static void do_malloc(unsigned s, size_t size)
{
	vacate(s);
	if (!fits(size, 0))
		return;
	adopt(s, ingot_malloc(size), size, 1, ORIGIN_PLAIN, 0);
	pattern_fill(slots[s].p, slots[s].seed, 0, slots[s].usable);
}

static void do_calloc(unsigned s, unsigned count, size_t size)
{
	vacate(s);
	size_t each = size / count;
	size_t total = each * count;
	if (!fits(total, 0))
		return;
	adopt(s, ingot_calloc(count, each), total, 1, ORIGIN_PLAIN, 0);
	verify_zero(slots[s].p, 0, total, "calloc");
	pattern_fill(slots[s].p, slots[s].seed, 0, slots[s].usable);
}

/* After a resize from old_size to the block's new size: the kept prefix must
 * hold the pattern; the rest of the usable bytes get it. */
static void after_resize(struct block *bl, size_t kept)
{
	verify_pattern(bl, kept, "prefix after resize");
	pattern_fill(bl->p, bl->seed, kept, bl->usable);
}

static void do_realloc(unsigned s, unsigned mode, size_t size)
{
	struct block *bl = &slots[s];
	if (mode % 8 == 0)
		size = 0;
	if (!bl->p) { /* realloc(NULL, n) is malloc(n) */
		if (!fits(size, 0))
			return;
		adopt(s, ingot_realloc(NULL, size), size, 1, ORIGIN_PLAIN, 0);
		pattern_fill(bl->p, bl->seed, 0, bl->usable);
		return;
	}
	inspect(bl, "before realloc");
	if (size > bl->usable && !fits(size, 0))
		return;
	struct block old = *bl;
	forget(bl);
	void *q;
	if (mode % 8 == 1 && size >= 3) {
		size = size / 3 * 3;
		q = ingot_reallocarray(old.p, 3, size / 3);
	} else {
		q = ingot_realloc(old.p, size);
	}
	if (size == 0 && !q)
		return; /* realloc(p, 0) freed p (ingot's default zero_realloc:free) */
	adopt(s, q, size, 1, ORIGIN_PLAIN, 0);
	bl->seed = old.seed; /* the kept prefix still carries the old pattern */
	after_resize(bl, old.size < size ? old.size : size);
}

static void do_aligned(unsigned s, int kind, size_t align, size_t size)
{
	vacate(s);
	if (!fits(size, align))
		return;
	void *p = NULL;
	switch (kind) {
	case 0:
		op_name = "aligned_alloc";
		p = ingot_aligned_alloc(align, size);
		break;
	case 1: {
		op_name = "posix_memalign";
		void *sentinel = (void *)&slots; /* must stay untouched on failure */
		p = sentinel;
		int err = ingot_posix_memalign(&p, align, size);
		if (align < sizeof(void *)) {
			if (err != EINVAL || p != sentinel)
				op_fail("alignment %zu: returned %d (want EINVAL) and %s the result", align,
				        err, p == sentinel ? "kept" : "changed");
			return;
		}
		if (err)
			op_fail("alignment %zu size %zu: returned %d", align, size, err);
		break;
	}
	case 2:
		op_name = "memalign";
		p = ingot_memalign(align, size);
		break;
	}
	adopt(s, p, size, align, ORIGIN_ALIGNED, 0);
	pattern_fill(slots[s].p, slots[s].seed, 0, slots[s].usable);
}

/* memalign with an alignment that is not a power of two: ingot rounds it
 * up to one (alloc.c). */
static void do_memalign_odd(unsigned s, unsigned a, size_t size)
{
	size_t odd = 3 + 2 * (a % 32) + ((size_t)1 << (a % 12)); /* 3..~2100, odd or not */
	size_t align = 1;
	while (align < odd)
		align <<= 1;
	if (align == odd)
		return;
	vacate(s);
	if (!fits(size, align))
		return;
	op_name = "memalign (alignment not a power of two)";
	adopt(s, ingot_memalign(odd, size), size, align, ORIGIN_ALIGNED, 0);
	pattern_fill(slots[s].p, slots[s].seed, 0, slots[s].usable);
}

static void expect_failure(void *p, int err, int want, const char *call)
{
	if (p || err != want)
		op_fail("%s returned %p errno %d; want NULL and %d", call, p, err, want);
}

/* Requests that must fail, with the errno C, POSIX and ingot's notes name. */
static void do_bad(unsigned s, unsigned kind)
{
	struct block *bl = &slots[s];
	void *p;
	op_name = "bad request";
	errno = 0;
	switch (kind % 10) {
	case 0:
		p = ingot_malloc(SIZE_MAX);
		expect_failure(p, errno, ENOMEM, "malloc(SIZE_MAX)");
		break;
	case 1:
		p = ingot_malloc((size_t)PTRDIFF_MAX + 1);
		expect_failure(p, errno, ENOMEM, "malloc(PTRDIFF_MAX + 1)");
		break;
	case 2:
		p = ingot_calloc(SIZE_MAX / 2 + 1 + s, 2);
		expect_failure(p, errno, ENOMEM, "calloc overflowing SIZE_MAX");
		break;
	case 3:
		p = ingot_aligned_alloc(3 * ((size_t)1 << (s % 12)), 64);
		expect_failure(p, errno, EINVAL, "aligned_alloc with a non-power-of-two alignment");
		break;
	case 4: {
		void *sentinel = &p;
		p = sentinel;
		int err = ingot_posix_memalign(&p, 24, 64);
		if (err != EINVAL || p != sentinel)
			op_fail("posix_memalign(24) returned %d, want EINVAL and the result untouched", err);
		break;
	}
	case 5:
	case 6:
		if (!bl->p)
			break;
		inspect(bl, "before failing realloc");
		p = kind % 10 == 5 ? ingot_realloc(bl->p, SIZE_MAX - s)
		                   : ingot_reallocarray(bl->p, SIZE_MAX / 4, 8);
		expect_failure(p, errno, ENOMEM, kind % 10 == 5 ? "realloc(p, ~SIZE_MAX)"
		                                                : "reallocarray overflowing SIZE_MAX");
		inspect(bl, "after failing realloc"); /* the block is untouched */
		break;
	case 7:
		if (ingot_malloc_usable_size(NULL) != 0)
			op_fail("malloc_usable_size(NULL) != 0");
		ingot_free(NULL);
		ingot_free_sized(NULL, s);
		ingot_free_aligned_sized(NULL, 64, s);
		break;
	case 8:
		p = ingot_memalign((size_t)1 << 62, 16);
		if (p || (errno != EINVAL && errno != ENOMEM))
			op_fail("memalign(2^62) returned %p errno %d; want NULL and EINVAL or ENOMEM", p,
			        errno);
		break;
	case 9:
#ifdef INGOT_HAVE_XAPI
		p = ingot_mallocx(SIZE_MAX - s, 0);
		if (p)
			op_fail("mallocx(~SIZE_MAX) returned %p", p);
		if (bl->p) {
			inspect(bl, "before failing rallocx");
			p = ingot_rallocx(bl->p, SIZE_MAX - s, 0);
			if (p)
				op_fail("rallocx(p, ~SIZE_MAX) returned %p", p);
			inspect(bl, "after failing rallocx");
		}
#endif
		break;
	}
}

static void check_heap(const char *when)
{
	const char *saved = op_name;
	op_name = when;
	if (ingot_check() != 0)
		op_fail("ingot_check() failed (the line above names the invariant)");
	order_check();
	op_name = saved;
}

/* guard_sample's pool: live blocks (guard.live) never more than its cells. */
static size_t guard_live(void)
{
	size_t live = 0, cells = 0, len = sizeof(size_t);
	if (ingot_mallctl("guard.live", &live, &len, NULL, 0) != 0 ||
	    ingot_mallctl("guard.cells", &cells, &len, NULL, 0) != 0)
		op_fail("mallctl guard.live / guard.cells failed");
	if (live > cells)
		op_fail("guard.live %zu > guard.cells %zu", live, cells);
	return live;
}

static void do_maintenance(unsigned kind)
{
	struct ingot_stats st;
	switch (kind % 4) {
	case 0:
		check_heap("ingot_check on request");
		break;
	case 1:
		ingot_thread_flush();
		break;
	case 2:
		ingot_purge(); /* must leave every live block's bytes alone */
		break;
	case 3:
		ingot_stats_get(&st);
		if (st.allocated > st.mapped + st.metadata || st.active > st.mapped)
			op_fail("stats: allocated %zu active %zu mapped %zu metadata %zu", st.allocated,
			        st.active, st.mapped, st.metadata);
		guard_live();
		break;
	}
}

#ifdef INGOT_HAVE_XAPI
/* Decodes the flags byte (and the alignment after it); *align gets the
 * alignment the flags ask for, 1 when none. */
static int read_xflags(struct fuzz_input *in, size_t *align, int *other)
{
	unsigned f = fuzz_u8(in);
	int flags = 0;
	*align = 1;
	if (f & 1) {
		*align = read_align(in);
		flags |= MALLOCX_LG_ALIGN(__builtin_ctzll(*align));
	}
	if (f & 2)
		flags |= MALLOCX_ZERO;
	*other = 0;
	if (f & 4)
		*other |= MALLOCX_TCACHE_NONE;
	if ((f & 0x38) == 0x38)
		*other |= MALLOCX_ARENA(0);
	return flags | *other;
}

static void do_mallocx(unsigned s, struct fuzz_input *in)
{
	size_t align;
	int other;
	int flags = read_xflags(in, &align, &other);
	size_t size = read_size(in);
	if (size == 0)
		size = 1; /* mallocx(0) is undefined */
	vacate(s);
	if (!fits(size, align))
		return;
	struct block *bl = &slots[s];
	adopt(s, ingot_mallocx(size, flags), size, align, ORIGIN_X, other);
	size_t n = ingot_nallocx(size, flags);
	if (n != bl->usable)
		op_fail("nallocx(%zu, %#x) = %zu but the block's usable size is %zu", size, flags, n,
		        bl->usable);
	if (flags & MALLOCX_ZERO)
		verify_zero(bl->p, 0, size, "mallocx(MALLOCX_ZERO)");
	pattern_fill(bl->p, bl->seed, 0, bl->usable);
}

static void do_rallocx(unsigned s, struct fuzz_input *in)
{
	size_t align;
	int other;
	int flags = read_xflags(in, &align, &other);
	size_t size = read_size(in);
	if (size == 0)
		size = 1;
	struct block *bl = &slots[s];
	if (!bl->p)
		return;
	inspect(bl, "before rallocx");
	if (size > bl->usable && !fits(size, align))
		return;
	struct block old = *bl;
	forget(bl);
	adopt(s, ingot_rallocx(old.p, size, flags), size, align, ORIGIN_X, other);
	size_t kept = old.size < size ? old.size : size;
	if ((flags & MALLOCX_ZERO) && size > old.usable)
		verify_zero(bl->p, old.usable, size, "rallocx(MALLOCX_ZERO) growth");
	bl->seed = old.seed;
	after_resize(bl, kept);
}

static void do_xallocx(unsigned s, struct fuzz_input *in)
{
	size_t align;
	int other;
	int flags = read_xflags(in, &align, &other);
	size_t size = read_size(in);
	size_t extra = fuzz_u16(in);
	struct block *bl = &slots[s];
	if (!bl->p)
		return;
	if (size == 0)
		size = 1;
	/* Ask only for the alignment the block already has. */
	flags &= ~0x3f;
	if (bl->align > 1)
		flags |= MALLOCX_LG_ALIGN(__builtin_ctzll(bl->align));
	inspect(bl, "before xallocx");
	if (size + extra > bl->usable && !fits(size + extra, 0))
		return;
	size_t r = ingot_xallocx(bl->p, size, extra, flags);
	trace("slot %u: xallocx(%p, %zu, %zu, %#x) = %zu (usable was %zu)", s, (void *)bl->p, size,
	      extra, flags, r, bl->usable);
	size_t usable = ingot_malloc_usable_size(bl->p);
	if (r != usable)
		op_fail("xallocx returned %zu but the usable size is now %zu", r, usable);
	if (r != bl->usable && r < size)
		op_fail("xallocx changed the size to %zu, short of the %zu asked", r, size);
	size_t kept = bl->size < r ? bl->size : r;
	if ((flags & MALLOCX_ZERO) && r > bl->usable)
		verify_zero(bl->p, bl->usable, r, "xallocx(MALLOCX_ZERO) growth");
	live_bytes += r - bl->usable;
	/* The block is now of size r: a sized free of r is valid. */
	bl->size = r;
	bl->usable = r;
	bl->origin = ORIGIN_X;
	neighbours_check(addr_rank(bl->p));
	after_resize(bl, kept);
}
#endif /* INGOT_HAVE_XAPI */

/* ---- the harness ------------------------------------------------------------- */

/* Options the harness runs ingot with, before any INGOT_CONF of the caller
 * (which may override them): guarded sampled blocks among the others, and
 * no purging by the clock, so that an input does the same thing each time
 * it runs (the purge operation still purges everything). */
#define FUZZ_OPS_CONF "guard_sample:64,dirty_decay_ms:-1"

static void fuzz_init(void)
{
	tracing = getenv("FUZZ_TRACE") != NULL;
	static char conf[1024];
	const char *theirs = getenv("INGOT_CONF");
	snprintf(conf, sizeof(conf), "%s%s%s", FUZZ_OPS_CONF, theirs ? "," : "", theirs ? theirs : "");
	setenv("INGOT_CONF", conf, 1);
	/* Boot the allocator before AFL's fork server takes its snapshot. */
	ingot_free(ingot_malloc(1));
	if (ingot_check() != 0)
		fuzz_fail("ingot_check() failed right after boot");
}

static void run_op(struct fuzz_input *in)
{
	unsigned op = fuzz_u8(in) % 13;
	unsigned s = fuzz_u8(in);
	unsigned a;
	size_t align;
	switch (op) {
	case 0:
		op_name = "malloc";
		do_malloc(s, read_size(in));
		break;
	case 1:
		op_name = "calloc";
		a = fuzz_u8(in) % 16 + 1;
		do_calloc(s, a, read_size(in));
		break;
	case 2:
		op_name = "realloc";
		a = fuzz_u8(in);
		do_realloc(s, a, read_size(in));
		break;
	case 3:
		op_name = "free";
		do_free(s, fuzz_u8(in));
		break;
	case 4:
	case 5:
		align = read_align(in);
		do_aligned(s, (int)op - 4, align, read_size(in));
		break;
	case 6:
		a = fuzz_u8(in);
		if (a >= 224) {
			do_memalign_odd(s, a, read_size(in));
		} else {
			align = (size_t)1 << (a % 17);
			do_aligned(s, 2, align, read_size(in));
		}
		break;
	case 7:
		op_name = "inspect";
		if (slots[s].p)
			inspect(&slots[s], "inspect");
		break;
	case 8:
		do_bad(s, fuzz_u8(in));
		break;
	case 9:
		op_name = "maintenance";
		do_maintenance(fuzz_u8(in));
		break;
#ifdef INGOT_HAVE_XAPI
	case 10:
		op_name = "mallocx";
		do_mallocx(s, in);
		break;
	case 11:
		op_name = "rallocx";
		do_rallocx(s, in);
		break;
	case 12:
		op_name = "xallocx";
		do_xallocx(s, in);
		break;
#else
	/* Same operand layout as the x-API operations, standard calls. */
	case 10:
	case 11:
		op_name = op == 10 ? "mallocx (as malloc)" : "rallocx (as realloc)";
		a = fuzz_u8(in);
		if (a & 1)
			(void)read_align(in);
		if (op == 10)
			do_malloc(s, read_size(in));
		else if (slots[s].p)
			do_realloc(s, 2, read_size(in));
		else
			(void)read_size(in);
		break;
	case 12:
		op_name = "xallocx (as inspect)";
		a = fuzz_u8(in);
		if (a & 1)
			(void)read_align(in);
		(void)read_size(in);
		(void)fuzz_u16(in);
		if (slots[s].p)
			inspect(&slots[s], "inspect");
		break;
#endif
	}
}

static void fuzz_one(const uint8_t *data, size_t n)
{
	struct fuzz_input in = {data, data + n};
	for (op_index = 0; fuzz_more(&in); op_index++) {
		run_op(&in);
		if (op_index % CHECK_EVERY == CHECK_EVERY - 1)
			check_heap("periodic ingot_check");
	}
	check_heap("ingot_check at the end of the input");
	op_name = "final free";
	for (unsigned s = 0; s < NSLOTS; s++)
		do_free(s, s);
	/* The next input (AFL runs many in one process) starts from an empty
	 * thread cache, whatever this one left in it. */
	ingot_thread_flush();
	check_heap("ingot_check after freeing everything");
	if (guard_live() != 0)
		fuzz_fail("guard.live is %zu after freeing everything", guard_live());
	if (live_bytes != 0)
		fuzz_fail("harness bookkeeping: %zu live bytes after freeing everything", live_bytes);
}

#include "fuzz_driver.h"
