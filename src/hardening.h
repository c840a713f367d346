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

/* Sets the bits and the process secret (called once at boot). */
void harden_boot(unsigned bits, uint64_t secret);

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
typedef uint64_t __attribute__((may_alias)) harden_word;

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

/* The same for the first nvec (at most 16) vectors at p: a jump into a run
 * of loads. A loop over them took twice the instructions of the unrolled
 * 256 bytes (callgrind, the classes below the head). */
INGOT_INLINE bool harden_vecs_zero(const void *p, size_t nvec)
{
	const harden_vec *v = p;
	harden_vec any = {0, 0};
	switch (nvec) {
	case 16:
		any |= v[15];
		/* fall through */
	case 15:
		any |= v[14];
		/* fall through */
	case 14:
		any |= v[13];
		/* fall through */
	case 13:
		any |= v[12];
		/* fall through */
	case 12:
		any |= v[11];
		/* fall through */
	case 11:
		any |= v[10];
		/* fall through */
	case 10:
		any |= v[9];
		/* fall through */
	case 9:
		any |= v[8];
		/* fall through */
	case 8:
		any |= v[7];
		/* fall through */
	case 7:
		any |= v[6];
		/* fall through */
	case 6:
		any |= v[5];
		/* fall through */
	case 5:
		any |= v[4];
		/* fall through */
	case 4:
		any |= v[3];
		/* fall through */
	case 3:
		any |= v[2];
		/* fall through */
	case 2:
		any |= v[1];
		/* fall through */
	case 1:
		any |= v[0];
		/* fall through */
	default:
		break;
	}
	return (any[0] | any[1]) == 0;
}

/* Whether the head of small object p of class cls (what take checks) is
 * all zero. */
INGOT_INLINE bool harden_head_zero(const void *p, unsigned cls)
{
	if (sc_size[cls] >= HARDEN_CHECKED_HEAD)
		return harden_checked_head_zero(p);
	return harden_vecs_zero(p, sc_size[cls] / sizeof(harden_vec));
}

/* Zeroes the first nvec (at most 16) 16-byte vectors at p (16-aligned)
 * with vector stores: a jump into a run of them. */
INGOT_INLINE void harden_zero_vecs(void *p, size_t nvec)
{
	harden_vec *v = p;
	const harden_vec zero = {0, 0};
	switch (nvec) {
	case 16:
		v[15] = zero;
		/* fall through */
	case 15:
		v[14] = zero;
		/* fall through */
	case 14:
		v[13] = zero;
		/* fall through */
	case 13:
		v[12] = zero;
		/* fall through */
	case 12:
		v[11] = zero;
		/* fall through */
	case 11:
		v[10] = zero;
		/* fall through */
	case 10:
		v[9] = zero;
		/* fall through */
	case 9:
		v[8] = zero;
		/* fall through */
	case 8:
		v[7] = zero;
		/* fall through */
	case 7:
		v[6] = zero;
		/* fall through */
	case 6:
		v[5] = zero;
		/* fall through */
	case 5:
		v[4] = zero;
		/* fall through */
	case 4:
		v[3] = zero;
		/* fall through */
	case 3:
		v[2] = zero;
		/* fall through */
	case 2:
		v[1] = zero;
		/* fall through */
	case 1:
		v[0] = zero;
		/* fall through */
	default:
		break;
	}
}

/* Zeroes the head of small object p of class cls, what zero on free
 * clears and take checks: its first HARDEN_CHECKED_HEAD bytes, less its
 * canary word (canary bytes: the free's exchange zeroes that). The rest of
 * a bigger object keeps what the program left there until the object is
 * handed out again (malloc does not clear it, calloc does): zeroing all of
 * it took 92% of a hardened malloc+free of 1-8 KiB (callgrind, pair-1k-8k:
 * 6,777 instructions). Inline vector stores, 16 for the classes past the
 * head, and the word before the canary with one more (sizes are multiples
 * of 16, so less the canary they end 8 bytes into a vector), rather than a
 * call of memset or gcc's rep stos for a constant 256 bytes (one counted
 * instruction per word under callgrind, and slow to start). */
INGOT_INLINE void harden_zero_head(void *p, unsigned cls, size_t canary)
{
	size_t n = sc_size[cls] - canary;
	if (n >= HARDEN_CHECKED_HEAD) {
		harden_zero_vecs(p, HARDEN_CHECKED_HEAD / sizeof(harden_vec));
		return;
	}
	harden_zero_vecs(p, n / sizeof(harden_vec));
	if (n % sizeof(harden_vec))
		*(harden_word *)((char *)p + n - sizeof(harden_word)) = 0;
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
INGOT_INLINE void harden_check_untouched(void *p, unsigned cls, bool canary)
{
	if (INGOT_UNLIKELY(!harden_head_zero(p, cls) ||
	                   (canary && __atomic_load_n(harden_canary_at(p, cls), __ATOMIC_RELAXED))))
		harden_take_failed(p, cls);
}

INGOT_INLINE void harden_take_all(void *p, unsigned cls)
{
	harden_check_untouched(p, cls, true);
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
INGOT_INLINE void harden_underflow_check(void *p, bool first_in_slab, unsigned cls, uint64_t secret)
{
	if (first_in_slab)
		return; /* a guard or another span before it */
	void *prev = (char *)p - sc_size[cls];
	uint64_t word = __atomic_load_n(harden_canary_at(prev, cls), __ATOMIC_RELAXED);
	if (INGOT_UNLIKELY(word != 0 && word != harden_canary_keyed(secret, prev)))
		harden_underflow_failed(p);
}

/* Whether small object p, of class cls by the page map and aligned for
 * the class, holds its canary, read without taking it: a block start that
 * the program was handed and has not freed, with no overflow over its
 * canary. Anything else (a pointer into an object or past the slab's last,
 * one never handed out, one freed already) the checked path (harden_give)
 * tells apart and reports, with the slab's record. Keyed by address, the
 * canary an interior pointer would need takes the secret to forge. The
 * word is read only when its page is p's or of class cls too: never a
 * guard page, which keeps class 0. Spares the hardened free the span record and
 * the slot's division (harden_give_all). */
INGOT_INLINE bool harden_owned(void *p, unsigned cls, uint64_t secret)
{
	uint64_t *canary = harden_canary_at(p, cls);
	bool same_page = (((uintptr_t)p ^ (uintptr_t)canary) >> LG_PAGE) == 0;
	return (same_page || pagemap_class((uintptr_t)canary) == cls) &&
	       __atomic_load_n(canary, __ATOMIC_RELAXED) == harden_canary_keyed(secret, p);
}

/* p was checked to be an owned object start (harden_owned);
 * first_in_slab says whether it is its slab's first object. */
INGOT_INLINE void harden_give_all(void *p, bool first_in_slab, unsigned cls, uint64_t secret)
{
	harden_disown(p, cls, secret);
	harden_underflow_check(p, first_in_slab, cls, secret);
	harden_zero_head(p, cls, CANARY_SIZE);
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

/* Called by the fault handler (init.c) with the faulting address: a fault
 * on a guard page or on freed pages of the page heaps is reported in one
 * line (abort); any other returns. */
void harden_guard_fault(uintptr_t address);

#endif
