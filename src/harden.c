/*
 * harden.c — the per-object checks of hardened heaps.
 *
 * Ownership of a small object is its canary word (the last 8 bytes of its
 * class): the keyed canary while the program holds it, 0 while ingot does
 * (free in its slab, which starts zeroed, or waiting in a cache). A free
 * takes the word with one atomic exchange: of two frees of one block, even
 * from two threads at once, only one finds the canary, so a block freed
 * twice, or a pointer that was never handed out, is caught on the very free
 * that misuses it, whichever thread makes it; a canary that is neither is
 * an overflow. A malloc needs no atomic: the one cache that holds the
 * object writes the canary. (This replaced a second bitmap in the span
 * record, flipped with an atomic read-modify-write on each malloc and each
 * free: the two atomics were a quarter of a hardened small malloc+free.)
 * No link between free objects is stored in user memory at all (cache
 * stacks and slab bitmaps are metadata), so there is nothing there for an
 * overflow to forge.
 */
#include "hardening.h"

#include "report.h"
#include "sizeclass.h"

#if HARDEN_HAS_WIDE
#include <cpuid.h> /* the compiler's */
#endif

unsigned ingot_hardening;
uint64_t harden_canary_secret;
struct harden_head harden_heads[SC_NSMALL + 1];
bool harden_wide;
const uint64_t harden_zero_word;

/* The pattern (hardening.h) over the first bytes (16 or more, a multiple
 * of 16) of a block, the first HARDEN_CHECKED_HEAD of them at most. */
static void pattern_of(size_t bytes, harden_pattern_bytes at)
{
	size_t stride = bytes > HARDEN_RUN ? sizeof(harden_vec) : 0;
	size_t step = sizeof(harden_vec) + 3 * stride; /* 16 or HARDEN_RUN */
	size_t last = MIN(bytes, HARDEN_CHECKED_HEAD) - step;
	at[0] = (uint8_t)stride;
	at[1] = (uint8_t)MIN(step, last);
	at[2] = (uint8_t)MIN(2 * step, last);
	at[3] = (uint8_t)last;
}

/* The wide pattern (hardening.h) over a class of bytes (none under 32). */
static void wide_pattern_of(size_t bytes, struct harden_head *head)
{
	size_t n = MIN(bytes, HARDEN_CHECKED_HEAD);
	if (n < HARDEN_WIDE_BYTES)
		return;
	size_t stride = n >= 4 * HARDEN_WIDE_BYTES ? HARDEN_WIDE_BYTES
	              : n >= HARDEN_WIDE_BYTES + 3 * SC_QUANTUM ? SC_QUANTUM : 0;
	head->wide_stride = (uint8_t)stride;
	head->wide_at = (uint8_t)(n - (HARDEN_WIDE_BYTES + 3 * stride));
}

/* Whether the CPU has the wide vectors and the OS saves them (the
 * vector registers' state enabled in XCR0): cpuid and xgetbv, rather than
 * the compiler's __builtin_cpu_supports, whose library code would run
 * (a constructor) and be resident in every program. */
static bool cpu_has_wide(void)
{
#if HARDEN_HAS_WIDE
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return false;
	unsigned xcr0_low, xcr0_high;
	__asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
	if ((xcr0_low & 6) != 6) /* SSE and AVX state */
		return false;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2);
#else
	return false;
#endif
}

void harden_boot(unsigned bits, uint64_t secret, bool wide)
{
	ingot_hardening = bits;
	harden_canary_secret = secret | 1; /* never 0, so zeroed memory never matches */
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		pattern_of(sc_size[cls], harden_heads[cls].check);
		wide_pattern_of(sc_size[cls], &harden_heads[cls]);
	}
	ingot_assert(sc_size[HARDEN_WIDE_FIRST_CLASS] >= HARDEN_WIDE_BYTES &&
	             sc_size[HARDEN_WIDE_FIRST_CLASS - 1] < HARDEN_WIDE_BYTES);
	harden_wide = wide && (bits & HARDEN_ZERO_ON_FREE) && cpu_has_wide();
}

/* The slot of p in slab s; reports a pointer that is not an object start. */
static unsigned slot_of(struct span *s, const void *p, unsigned cls)
{
	unsigned slot;
	if (INGOT_UNLIKELY(!slab_slot_of(s, cls, p, &slot)))
		ingot_report_invalid_ptr("free", p);
	return slot;
}

void harden_take(void *p, unsigned cls)
{
	unsigned bits = ingot_hardening;
	/* A freed object's head was zeroed; anything else is a write after
	 * free. Objects never handed out are zero too (their slabs start
	 * zeroed). Only the head is checked: stale pointers are mostly written
	 * through near the start (headers, links, vtables), and checking a whole
	 * 16 KiB object on every malloc would cost more than all the other
	 * checks. A canary word that is set says the object is in use. */
	if (bits & HARDEN_ZERO_ON_FREE)
		harden_check_untouched(p, cls, (bits & HARDEN_CANARY) != 0, false);
	/* The canary word goes from 0 to the canary in one store (fills leave
	 * it alone): harden_underflow_check may read it from another thread. */
	size_t fill = sc_size[cls] - harden_canary_size();
	if (bits & HARDEN_ZERO_ALLOC)
		ingot_memset(p, 0, fill);
	else if (bits & HARDEN_JUNK_ALLOC)
		ingot_memset(p, 0xa5, fill);
	if (bits & HARDEN_CANARY)
		__atomic_store_n(harden_canary_at(p, cls), harden_canary_value(p), __ATOMIC_RELAXED);
}

void harden_give(struct span *s, void *p, unsigned cls)
{
	unsigned bits = ingot_hardening;
	unsigned slot = slot_of(s, p, cls);
	if (bits & HARDEN_CANARY) {
		uint64_t secret = harden_canary_secret;
		harden_disown(p, cls, secret);
		if (bits & HARDEN_ZERO_ON_FREE)
			harden_underflow_check(p, slot == 0, cls, secret);
	}
	/* Fills leave the canary word (now 0) alone. */
	if (bits & HARDEN_ZERO_ON_FREE)
		harden_zero_head(p, cls);
	else if (bits & HARDEN_JUNK_FREE)
		ingot_memset(p, 0x5a, sc_size[cls] - harden_canary_size());
}

void harden_take_failed(void *p, unsigned cls)
{
	if (!harden_head_zero(p, cls))
		ingot_report_use_after_free(p);
	ingot_report_corrupt_meta(p, "(object handed out twice: its canary is set)");
}

void harden_give_failed(void *p, uint64_t was)
{
	if (was == 0)
		ingot_report_double_free(p);
	ingot_report_overflow(p);
}

void harden_underflow_failed(void *p)
{
	ingot_report_underflow(p);
}

/* xorshift64: fast, and good enough to make slot order unpredictable
 * without the secret seed. */
static uint64_t shuffle_step(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* Swaps objs[n - 1] with objs[j], j drawn from [0, n) by 32 random bits r:
 * the high half of r times n, as r % n without a division (tens of cycles
 * each, one per object refilled). */
static void shuffle_swap(void **objs, unsigned n, uint32_t r)
{
	unsigned j = (unsigned)(((uint64_t)r * n) >> 32);
	void *t = objs[n - 1];
	objs[n - 1] = objs[j];
	objs[j] = t;
}

/* Fisher-Yates, each step of the generator drawing two slots (one from
 * each 32-bit half): 19 -> 14 instructions an object refilled. */
void harden_shuffle(void **objs, unsigned n, uint64_t *rng)
{
	uint64_t x = *rng;
	unsigned i = n;
	for (; i > 2; i -= 2) {
		x = shuffle_step(x);
		shuffle_swap(objs, i, (uint32_t)(x >> 32));
		shuffle_swap(objs, i - 1, (uint32_t)x);
	}
	if (i == 2) {
		x = shuffle_step(x);
		shuffle_swap(objs, 2, (uint32_t)(x >> 32));
	}
	*rng = x;
}

/* Only the head that reuse checks is zeroed: zeroing a whole block (up to
 * 64 KiB) on every free, or checking it on every reuse, read or wrote all
 * of it, most of it pages the program never touched (batch-8k-64k under
 * callgrind: 7,400 instructions a free to check a whole block for zero,
 * and a pass over 25 KiB of memory). */
void harden_large_give(void *p, size_t size)
{
	if (ingot_hardening & HARDEN_ZERO_ON_FREE)
		ingot_memset(p, 0, MIN(size, HARDEN_CHECKED_HEAD));
	else if (ingot_hardening & HARDEN_JUNK_FREE)
		ingot_memset(p, 0x5a, size);
}

void harden_large_reuse(void *p, size_t size)
{
	if ((ingot_hardening & HARDEN_ZERO_ON_FREE) &&
	    INGOT_UNLIKELY(!harden_checked_head_zero(p))) /* size > SC_SMALL_MAX */
		ingot_report_use_after_free(p);
	harden_large_take(p, size);
}

void harden_large_take(void *p, size_t size)
{
	if (ingot_hardening & HARDEN_ZERO_ALLOC)
		ingot_memset(p, 0, size);
	else if (ingot_hardening & HARDEN_JUNK_ALLOC)
		ingot_memset(p, 0xa5, size);
}

/* The live block whose first byte is at p (a large block or a slab's first
 * object), or NULL; its usable size in *usable. */
static const void *block_at(uintptr_t p, size_t *usable)
{
	struct chunk *c = pagemap_lookup(p);
	struct span *s = c && c->kind == CHUNK_KIND_PAGES ? span_of_addr(c, p) : NULL;
	if (!s || s->base != p || (s->state != SPAN_SLAB && s->state != SPAN_LARGE))
		return NULL;
	*usable = s->state == SPAN_SLAB ? harden_small_usable(s->sizeclass)
	                                : span_usable_pages(s) << LG_PAGE;
	return (const void *)p;
}

/* A fault in a huge mapping of a guarded heap (huge.c keeps what is not
 * a live block's inaccessible): a cached mapping's pages are a freed
 * block's, a live block's past its usable size are its slack, reached by
 * an overflow. */
static void huge_fault(const struct chunk *c, uintptr_t address)
{
	uintptr_t base = __atomic_load_n(&c->base, __ATOMIC_ACQUIRE);
	size_t usable = __atomic_load_n(&c->huge_usable, __ATOMIC_RELAXED);
	size_t size = __atomic_load_n(&c->size, __ATOMIC_ACQUIRE);
	if (address < base || address - base >= size)
		return;
	if (usable == 0)
		ingot_report_freed_page_access((const void *)address, (const void *)base, size);
	if (address - base >= usable)
		ingot_report_guard_fault((const void *)address, (const void *)base, usable, false);
}

/* A fault on ingot's pages. On a guard page: the block before it ran over
 * its end (an access in the page's first half), or the block after it
 * under its start (the second half, when a block starts right after the
 * page). On freed pages (kept inaccessible): a use after free. */
void harden_guard_fault(uintptr_t address)
{
	const struct chunk *c = pagemap_lookup(address);
	if (c && c->kind == CHUNK_KIND_HUGE)
		huge_fault(c, address);
	struct span *s = pageheap_span_covering(address);
	if (!s)
		return;
	if (s->state == SPAN_FREE)
		ingot_report_freed_page_access((const void *)address, (const void *)s->base,
		                               (size_t)s->npages << LG_PAGE);
	if (!pageheap_on_guard(s, address))
		return;
	uintptr_t guard = s->base + (span_usable_pages(s) << LG_PAGE);
	size_t usable;
	const void *after = block_at(guard + PAGE, &usable);
	if (after && address - guard >= PAGE / 2)
		ingot_report_guard_fault((const void *)address, after, usable, true);
	uintptr_t block = s->base;
	usable = span_usable_pages(s) << LG_PAGE;
	if (s->state == SPAN_SLAB) {
		usable = harden_small_usable(s->sizeclass);
		block = s->base + (size_t)(sc_nregs[s->sizeclass] - 1) * sc_size[s->sizeclass];
	}
	ingot_report_guard_fault((const void *)address, (const void *)block, usable, false);
}
