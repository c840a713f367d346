/*
 * hardening.h — the checks a hardened heap makes, one named bit each.
 *
 * HARDENED=1 builds turn on every bit; a default build turns them on at
 * start with INGOT_CONF=profile:hardened (profile:debug turns on junk
 * filling, canaries and the free checks; DEBUG=1 builds always have those). With no bit on, none of this code runs: the
 * thread caches' fast paths never look at it. With any bit on, the fast
 * paths' stacks get capacity 0 so that each malloc and free takes a slow
 * path in tcache.c: with exactly HARDEN_ALL_CHECKS, the hardened fast paths
 * (harden_take_all, harden_give_all inline), else the checked paths, which
 * call harden_take and harden_give.
 *
 * Costs are measured by bench/ (README "Hardening").
 */
#ifndef INGOT_HARDENING_H
#define INGOT_HARDENING_H

#include "common.h"
#include "pageheap.h"

/* Bit 0 was the free check: the canary makes it now (harden.c). */
#define HARDEN_CANARY (1u << 1)       /* a keyed 8-byte canary after each small block,
                                       * checked on every free: double, invalid, overflow */
#define HARDEN_ZERO_ON_FREE (1u << 2) /* freed blocks zeroed; reuse checks they stayed zero */
#define HARDEN_RANDOM_SLOTS (1u << 3) /* objects of a refill handed out in random order */
#define HARDEN_QUARANTINE (1u << 4)   /* freed small blocks wait before reuse */
#define HARDEN_GUARD_PAGES (1u << 5)  /* an inaccessible page after every slab and large block */
#define HARDEN_ALL_CHECKS 0x3eu       /* what HARDENED=1 and profile:hardened turn on */

/* Fills, from the options junk and zero (and profile:debug), on the same
 * checked paths. */
#define HARDEN_JUNK_ALLOC (1u << 6) /* 0xa5 over every new block */
#define HARDEN_JUNK_FREE (1u << 7)  /* 0x5a over every freed block */
#define HARDEN_ZERO_ALLOC (1u << 8) /* every new block zeroed (opt zero) */
#define HARDEN_DEBUG (HARDEN_CANARY | HARDEN_JUNK_ALLOC | HARDEN_JUNK_FREE)

#define CANARY_SIZE 8u
#define QUARANTINE_LEN 64u
#define HARDEN_CHECKED_HEAD 256u /* head of a reused block checked for writes */

/* The bits in force; fixed at start, before the first allocation. */
extern unsigned ingot_hardening;
extern uint64_t harden_canary_secret; /* odd: zeroed memory never matches */

/* Sets the bits and the process secret (called once at boot), and
 * harden_wide where wide allows it (option harden_wide). */
void harden_boot(unsigned bits, uint64_t secret, bool wide);

INGOT_INLINE size_t harden_canary_size(void)
{
	return (ingot_hardening & HARDEN_CANARY) ? CANARY_SIZE : 0;
}

/* Usable bytes of a small object of class cls (the canary takes the end). */
INGOT_INLINE size_t harden_small_usable(unsigned cls)
{
	return sc_size[cls] - harden_canary_size();
}

/* Where the canary of a small object p of class cls lies (its class's
 * last 8 bytes), and the keyed value it holds while the program owns p. */
INGOT_INLINE uint64_t *harden_canary_at(void *p, unsigned cls)
{
	return (uint64_t *)((char *)p + sc_size[cls] - CANARY_SIZE);
}

INGOT_INLINE uint64_t harden_canary_keyed(uint64_t secret, const void *p)
{
	return secret ^ ((uintptr_t)p * 0x9e3779b97f4a7c15ull);
}

INGOT_INLINE uint64_t harden_canary_value(const void *p)
{
	return harden_canary_keyed(harden_canary_secret, p);
}

/* 16 bytes read or written as one vector (may alias whatever the program
 * stored). */
typedef uint64_t harden_vec __attribute__((vector_size(16), may_alias));

/* Whether the checked head at p (16-aligned) is all zero: an OR of its 16
 * vectors, four at a time, without an early exit (a freed block is almost
 * always all zero anyway) and without a loop. The word loop this replaced,
 * not vectorised at -O2, took about 80 instructions per malloc. */
INGOT_INLINE bool harden_checked_head_zero(const void *p)
{
	const harden_vec *v = p;
	harden_vec any = {0, 0};
#pragma GCC unroll 4
	for (size_t i = 0; i < HARDEN_CHECKED_HEAD / sizeof(harden_vec); i += 4)
		any |= v[i] | v[i + 1] | v[i + 2] | v[i + 3];
	return (any[0] | any[1]) == 0;
}

/* The head checks and zeroing below run one pattern for every class: four
 * groups of four vectors, the groups at 0, at1, at2 and last, a group's
 * vectors stride bytes apart. Past 64 bytes a group is a 64-byte run
 * (stride 16, groups 64 bytes apart, the last at the end of the head or
 * block, overlapping); up to 64 bytes each group is one vector read or
 * written four times over (stride 0, groups 16 bytes apart, likewise). A
 * vector past the end covers the same bytes again. Each class's pattern is
 * found at start (harden_boot) and loaded, not jumped to: with random
 * sizes a jump on the size (to four vectors or to four runs, as before)
 * mispredicted on about every other call, in malloc's check and again in
 * free's zeroing. Without them a hardened sizeloop mix of 16..1k takes
 * 0.63-0.67 of the time, batch 0.77; blocks of up to 64 bytes pay 12 loads
 * and 12 stores more (a fixed 64-byte flood 3-8% more). */
#define HARDEN_RUN 64u

/* A pattern as found at start: stride, at1, at2, last. */
typedef uint8_t harden_pattern_bytes[4];

/* What the head check and zero on free do for each small class: the
 * pattern over the class's first bytes (its HARDEN_CHECKED_HEAD bytes at
 * most), the same for both. */
struct harden_head {
	harden_pattern_bytes check;
	uint8_t wide_stride, wide_at; /* the wide pattern (below) */
};
extern struct harden_head harden_heads[SC_NSMALL + 1];

struct harden_pattern {
	size_t stride, stride2, stride3, at1, at2, last;
};

INGOT_INLINE struct harden_pattern harden_pattern_load(const harden_pattern_bytes at)
{
	size_t stride = at[0], stride2 = 2 * stride, stride3 = 3 * stride;
	/* Opaque multiples: else GCC derives each vector's address from the
	 * last one's, an add per vector, rather than index it. */
	__asm__("" : "+r"(stride2), "+r"(stride3));
	return (struct harden_pattern){stride, stride2, stride3, at[1], at[2], at[3]};
}

INGOT_INLINE harden_vec harden_group_or(const char *b, const struct harden_pattern *at)
{
	return *(const harden_vec *)b | *(const harden_vec *)(b + at->stride) |
	       *(const harden_vec *)(b + at->stride2) | *(const harden_vec *)(b + at->stride3);
}

INGOT_INLINE void harden_group_zero(char *b, const struct harden_pattern *at)
{
	const harden_vec zero = {0, 0};
	*(harden_vec *)b = zero;
	*(harden_vec *)(b + at->stride) = zero;
	*(harden_vec *)(b + at->stride2) = zero;
	*(harden_vec *)(b + at->stride3) = zero;
}

/* Whether the head of small object p of class cls (what take checks: its
 * first HARDEN_CHECKED_HEAD bytes at most) is all zero. */
INGOT_INLINE bool harden_head_zero(const void *p, unsigned cls)
{
	const char *b = p;
	struct harden_pattern at = harden_pattern_load(harden_heads[cls].check);
	harden_vec any = harden_group_or(b, &at) | harden_group_or(b + at.at1, &at) |
	                 harden_group_or(b + at.at2, &at) | harden_group_or(b + at.last, &at);
	return (any[0] | any[1]) == 0;
}

/* Zeroes the head of small object p of class cls, what zero on free
 * clears and take checks: its first HARDEN_CHECKED_HEAD bytes, its canary
 * word among them in a class of up to that many bytes. That word is 0
 * already, taken by the free's exchange (or never set, without canaries):
 * the store writes the value it holds, and a free of the block after,
 * which may read it at once from another thread (harden_underflow_check),
 * reads 0 either way. Storing it again costs nothing, and sparing it took
 * a pattern of its own that stopped 8 bytes short, a word store after it
 * and a test for a class with no whole vector before its canary. The
 * rest of a bigger object keeps what the program left there until the
 * object is handed out again (malloc does not clear it, calloc does):
 * zeroing all of it took 92% of a hardened malloc+free of 1-8 KiB
 * (callgrind, pair-1k-8k: 6,777 instructions). Inline vector stores rather
 * than a call of memset or gcc's rep stos (one counted instruction per
 * word under callgrind, and slow to start), in the pattern above. */
INGOT_INLINE void harden_zero_head(void *p, unsigned cls)
{
	char *b = p;
	struct harden_pattern at = harden_pattern_load(harden_heads[cls].check);
	harden_group_zero(b, &at);
	harden_group_zero(b + at.at1, &at);
	harden_group_zero(b + at.at2, &at);
	harden_group_zero(b + at.last, &at);
}

/* The same head in 32-byte vectors where the CPU has them (x86-64 with
 * AVX2, found at start: harden_wide): eight loads or stores rather than
 * sixteen. Two groups of four vectors stride bytes apart, at 0 and at
 * wide_at: over the head's 128 to 256 bytes, stride 32 (two 128-byte runs,
 * the second at its end, overlapping); over 80 to 112, stride 16; over 32
 * to 64, stride 0 (a vector at 0 and one at the end, each four times). No
 * vector of 32 bytes fits a 16-byte class: it takes one 16-byte vector,
 * after a jump on the class that is taken only for it.
 *
 * In asm, ymm0 and ymm1 named in it, and vzeroupper at its end: with
 * 32-byte vector types in C, in functions compiled for AVX2, GCC gave each
 * hardened path a frame for realigning the stack and saved two registers
 * more (12 instructions a free), spilling nothing. The paths are still
 * compiled twice (wide a constant), so the narrow ones test nothing. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__GCC_ASM_FLAG_OUTPUTS__)
#define HARDEN_HAS_WIDE 1
#else
#define HARDEN_HAS_WIDE 0
#endif
#define HARDEN_WIDE_BYTES 32u
#define HARDEN_WIDE_FIRST_CLASS (HARDEN_WIDE_BYTES / SC_QUANTUM) /* its first class */

extern bool harden_wide; /* the CPU has the wide vectors */

/* The head of p's class as the asm below sees it: all it may read or
 * write (HARDEN_CHECKED_HEAD bytes at most). */
typedef char harden_head_bytes[HARDEN_CHECKED_HEAD];

#if HARDEN_HAS_WIDE
/* Whether the head of p's class is all zero: its vectors ORed in two
 * chains, then one test of the 32 bytes (vptest). */
INGOT_INLINE bool harden_wide_head_zero(const void *p, unsigned cls)
{
	const struct harden_head *head = &harden_heads[cls];
	const char *b = p, *c = b + head->wide_at;
	size_t s = head->wide_stride, s2 = 2 * s, s3 = 3 * s;
	bool zero;
	__asm__("vmovdqu (%[b]), %%ymm0\n\t"
	        "vmovdqu (%[c]), %%ymm1\n\t"
	        "vpor (%[b],%[s]), %%ymm0, %%ymm0\n\t"
	        "vpor (%[c],%[s]), %%ymm1, %%ymm1\n\t"
	        "vpor (%[b],%[s2]), %%ymm0, %%ymm0\n\t"
	        "vpor (%[c],%[s2]), %%ymm1, %%ymm1\n\t"
	        "vpor (%[b],%[s3]), %%ymm0, %%ymm0\n\t"
	        "vpor (%[c],%[s3]), %%ymm1, %%ymm1\n\t"
	        "vpor %%ymm1, %%ymm0, %%ymm0\n\t"
	        "vptest %%ymm0, %%ymm0\n\t"
	        "vzeroupper"
	        : "=@ccz"(zero)
	        : [b] "r"(b), [c] "r"(c), [s] "r"(s), [s2] "r"(s2), [s3] "r"(s3),
	          "m"(*(const harden_head_bytes *)p)
	        : "xmm0", "xmm1");
	return zero;
}

INGOT_INLINE void harden_wide_zero(void *p, unsigned cls)
{
	const struct harden_head *head = &harden_heads[cls];
	char *b = p, *c = b + head->wide_at;
	size_t s = head->wide_stride, s2 = 2 * s, s3 = 3 * s;
	__asm__("vpxor %%xmm0, %%xmm0, %%xmm0\n\t"
	        "vmovdqu %%ymm0, (%[b])\n\t"
	        "vmovdqu %%ymm0, (%[b],%[s])\n\t"
	        "vmovdqu %%ymm0, (%[b],%[s2])\n\t"
	        "vmovdqu %%ymm0, (%[b],%[s3])\n\t"
	        "vmovdqu %%ymm0, (%[c])\n\t"
	        "vmovdqu %%ymm0, (%[c],%[s])\n\t"
	        "vmovdqu %%ymm0, (%[c],%[s2])\n\t"
	        "vmovdqu %%ymm0, (%[c],%[s3])\n\t"
	        "vzeroupper"
	        : "+m"(*(harden_head_bytes *)p)
	        : [b] "r"(b), [c] "r"(c), [s] "r"(s), [s2] "r"(s2), [s3] "r"(s3)
	        : "xmm0");
}
#endif

/* harden_head_zero and harden_zero_head, in wide vectors where wide says
 * (a constant: the fast paths are compiled once each way). */
_Static_assert(HARDEN_WIDE_FIRST_CLASS == 2, "one class under the wide vector: SC_QUANTUM bytes");

INGOT_INLINE bool harden_head_zero_any(const void *p, unsigned cls, bool wide)
{
#if HARDEN_HAS_WIDE
	if (wide) {
		if (INGOT_LIKELY(cls >= HARDEN_WIDE_FIRST_CLASS))
			return harden_wide_head_zero(p, cls);
		harden_vec any = *(const harden_vec *)p;
		return (any[0] | any[1]) == 0;
	}
#endif
	(void)wide;
	return harden_head_zero(p, cls);
}

INGOT_INLINE void harden_zero_head_any(void *p, unsigned cls, bool wide)
{
#if HARDEN_HAS_WIDE
	if (wide) {
		const harden_vec zero = {0, 0};
		if (INGOT_LIKELY(cls >= HARDEN_WIDE_FIRST_CLASS))
			harden_wide_zero(p, cls);
		else
			*(harden_vec *)p = zero;
		return;
	}
#endif
	(void)wide;
	harden_zero_head(p, cls);
}

/* A small object leaves the allocator for the user (check it was free and
 * untouched, write its canary: owned) or comes back to slab s (check it is
 * the start of an owned object by its canary, then zero or junk it).
 * Misuse is reported and aborts. */
void harden_take(void *p, unsigned cls);
void harden_give(struct span *s, void *p, unsigned cls);

/* The checks harden_take and harden_give make, inline: the hardened fast
 * paths (tcache.c) call them for a heap with exactly HARDEN_ALL_CHECKS
 * (harden_take_all, harden_give_all: no bit tests), harden_take and
 * harden_give for the bits in force. Reports are out of line (the *_failed
 * functions, each one line and an abort). */
_Noreturn void harden_take_failed(void *p, unsigned cls);
_Noreturn void harden_give_failed(void *p, uint64_t was);
_Noreturn void harden_underflow_failed(void *p);

/* With zero on free: p's head still zero (a write after free otherwise)
 * and, with canaries (canary), its canary word 0 (else handed out twice). */
INGOT_INLINE void harden_check_untouched(void *p, unsigned cls, bool canary, bool wide)
{
	if (INGOT_UNLIKELY(!harden_head_zero_any(p, cls, wide) ||
	                   (canary && __atomic_load_n(harden_canary_at(p, cls), __ATOMIC_RELAXED))))
		harden_take_failed(p, cls);
}

INGOT_INLINE void harden_take_all(void *p, unsigned cls, bool wide)
{
	harden_check_untouched(p, cls, true, wide);
	__atomic_store_n(harden_canary_at(p, cls), harden_canary_value(p), __ATOMIC_RELAXED);
}

/* Ownership of p comes back with its canary word, taken in one exchange:
 * see the top of harden.c. The functions from here on take the secret
 * (harden_canary_secret) from their caller, which loads it once: the
 * exchange would make the compiler load it again after. */
INGOT_INLINE void harden_disown(void *p, unsigned cls, uint64_t secret)
{
	uint64_t was = __atomic_exchange_n(harden_canary_at(p, cls), 0, __ATOMIC_ACQ_REL);
	if (INGOT_UNLIKELY(was != harden_canary_keyed(secret, p)))
		harden_give_failed(p, was);
}

/* With canaries and zero on free, the word before object slot of its slab
 * is the canary of the object before it when that one is live, and 0 when
 * it is free (zeroed, or never used in a zeroed slab), whatever another
 * thread is doing with it (take and give change the word in one store).
 * Anything else was written there from outside: an underflow of p (or an
 * overflow of its neighbour, which its own free would report). */
extern const uint64_t harden_zero_word; /* reads 0: "no neighbour below" */

INGOT_INLINE void harden_underflow_check(void *p, bool first_in_slab, unsigned cls, uint64_t secret)
{
	void *prev = (char *)p - sc_size[cls];
	/* A slab's first object has a guard or another span before it: its
	 * check reads harden_zero_word instead, picked by a mask rather than
	 * a jump (for blocks of 1-8 KiB whether p starts its slab, or a page,
	 * is a coin toss). Nor is the test below a jump on whether the
	 * neighbour is live (another coin toss where a program keeps some
	 * blocks and frees others); the empty asm keeps GCC from splitting
	 * it into two jumps. */
	uintptr_t first = 0 - (uintptr_t)first_in_slab;
	const uint64_t *below = (const uint64_t *)(((uintptr_t)&harden_zero_word & first) |
	                                           ((uintptr_t)harden_canary_at(prev, cls) & ~first));
	uint64_t word = __atomic_load_n(below, __ATOMIC_RELAXED);
	bool overwritten = (word != 0) & (word != harden_canary_keyed(secret, prev));
	__asm__("" : "+r"(overwritten));
	if (INGOT_UNLIKELY(overwritten))
		harden_underflow_failed(p);
}

/* Whether small object p, of class cls by the page map and aligned for
 * the class, holds its canary, read without taking it: a block start that
 * the program was handed and has not freed, with no overflow over its
 * canary. Anything else (a pointer into an object or past the slab's last,
 * one never handed out, one freed already) the checked path (harden_give)
 * tells apart and reports, with the slab's record. Keyed by address, the
 * canary an interior pointer would need takes the secret to forge. The
 * word is read only when its page is of class cls too: never a guard
 * page, which keeps class 0. The page map is read even when the word lies
 * on p's page: a test of that first was a coin toss for blocks of 1-8 KiB,
 * which cross pages at random. Spares the hardened free the span record and
 * the slot's division (harden_give_all). */
INGOT_INLINE bool harden_owned(void *p, unsigned cls, uint64_t secret)
{
	uint64_t *canary = harden_canary_at(p, cls);
	return pagemap_class((uintptr_t)canary) == cls &&
	       __atomic_load_n(canary, __ATOMIC_RELAXED) == harden_canary_keyed(secret, p);
}

/* p was checked to be an owned object start (harden_owned);
 * first_in_slab says whether it is its slab's first object. */
INGOT_INLINE void harden_give_all(void *p, bool first_in_slab, unsigned cls, uint64_t secret, bool wide)
{
	harden_disown(p, cls, secret);
	harden_underflow_check(p, first_in_slab, cls, secret);
	harden_zero_head_any(p, cls, wide);
}

/* Shuffles n objects (random slot order); rng is a per-cache state. */
void harden_shuffle(void **objs, unsigned n, uint64_t *rng);

/* Junk or zero a large block being handed out. */
void harden_large_take(void *p, size_t size);

/* A large block the thread cache keeps when freed (give: zeroed or junked
 * as small blocks are) and hands out again (reuse: with zero on free, its
 * head must still be zero, else a write after free is reported; then as
 * take). Large blocks that go back to the page heap are made inaccessible
 * there instead (pageheap.c). */
void harden_large_give(void *p, size_t size);
void harden_large_reuse(void *p, size_t size);

/* harden_large_give's zeroing with zero on free, inline: the checked head
 * of large block p in 16 vector stores, not a call of ingot_memset (53
 * instructions). harden_checked_head_zero is reuse's check. */
INGOT_INLINE void harden_large_clear_head(void *p)
{
	const harden_vec zero = {0, 0};
	harden_vec *v = p;
#pragma GCC unroll 16
	for (size_t i = 0; i < HARDEN_CHECKED_HEAD / sizeof(harden_vec); i++)
		v[i] = zero;
}

/* Called by the fault handler (init.c) with the faulting address: a fault
 * on a guard page or on freed pages of the page heaps is reported in one
 * line (abort); any other returns. */
void harden_guard_fault(uintptr_t address);

#endif
