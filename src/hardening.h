/*
 * hardening.h — the checks a hardened heap makes, one named bit each.
 *
 * HARDENED=1 builds turn on every bit; a default build turns them on at
 * start with INGOT_CONF=profile:hardened (profile:debug turns on junk
 * filling, canaries and the free checks; DEBUG=1 builds always have those). With no bit on, none of this code runs: the
 * thread caches' fast paths never look at it. With any bit on, every cache
 * bin gets capacity 0 so that each malloc and free takes the checked slow
 * path in tcache.c, which calls the functions below.
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

/* The bits in force; fixed at start, before the first allocation. */
extern unsigned ingot_hardening;

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

/* A small object leaves the allocator for the user (check it was free and
 * untouched, write its canary: owned) or comes back to slab s (check it is
 * the start of an owned object by its canary, then zero or junk it).
 * Misuse is reported and aborts. */
void harden_take(void *p, unsigned cls);
void harden_give(struct span *s, void *p, unsigned cls);

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
