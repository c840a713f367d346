/*
 * test_sizeclass.c — the generated size-class table and its lookups.
 *
 * Every request size maps to the smallest class that holds it (checked for
 * every size up to SC_LARGE_MAX), classes waste at most a quarter above 128
 * bytes, and slab geometry and the slot division are exact for every object
 * of every small class.
 */
#include "helpers.h"

#include "pageheap.h"
#include "sizeclass.h"

Test(sizeclass, sizes_increase_in_quantum_steps)
{
	cr_assert_eq(sc_size[0], 0, "class 0 is reserved and has no size");
	for (unsigned cls = 1; cls <= SC_NCLASSES; cls++) {
		cr_assert_gt(sc_size[cls], sc_size[cls - 1], "class %u (%u) not above class %u (%u)",
		             cls, sc_size[cls], cls - 1, sc_size[cls - 1]);
		cr_assert_eq(sc_size[cls] % SC_QUANTUM, 0, "class %u size %u not a multiple of 16",
		             cls, sc_size[cls]);
	}
	cr_assert_eq(SC_QUANTUM, 16);
	cr_assert_eq(sc_size[SC_NSMALL], SC_SMALL_MAX, "SC_SMALL_MAX is the last small class");
	cr_assert_eq(sc_size[SC_NCLASSES], SC_LARGE_MAX, "SC_LARGE_MAX is the last class");
	cr_assert_lt(SC_NSMALL, SC_NCLASSES);
	cr_assert_leq(SC_NSMALL, 255, "the page map stores a small class in one byte");
}

Test(sizeclass, every_quantum_multiple_up_to_128_is_a_class)
{
	for (unsigned s = 16; s <= 128; s += 16)
		cr_assert_eq(sc_size[s / 16], s, "class %u should be %u, is %u", s / 16, s,
		             sc_size[s / 16]);
}

Test(sizeclass, four_classes_per_doubling_above_128_eight_from_1k_to_the_small_max)
{
	for (size_t lo = 128; lo < SC_LARGE_MAX; lo *= 2) {
		unsigned n = 0, want = lo >= 1024 && lo < SC_SMALL_MAX ? 8 : 4;
		bool has_hi = false;
		for (unsigned cls = 1; cls <= SC_NCLASSES; cls++) {
			n += sc_size[cls] > lo && sc_size[cls] <= 2 * lo;
			has_hi |= sc_size[cls] == 2 * lo;
		}
		cr_assert_eq(n, want, "%u classes in (%zu, %zu], want %u", n, lo, 2 * lo, want);
		cr_assert(has_hi, "%zu is not a class", 2 * lo);
	}
}

Test(sizeclass, a_power_of_two_and_a_header_wastes_at_most_an_eighth_from_1k_to_8k)
{
	/* sqlite's page cache asks for 1032 and 4104..4824 bytes. */
	for (size_t lo = 1024; lo < SC_SMALL_MAX; lo *= 2) {
		size_t request = lo + 8, got = sc_size[sizeclass_small(request)];
		cr_assert_leq(got - request, lo / 8, "%zu bytes take a %zu-byte class", request, got);
	}
}

Test(sizeclass, rounding_waste_at_most_a_quarter_above_128)
{
	/* The worst request for class c is one byte above class c-1; it wastes
	 * size[c] - size[c-1] - 1 bytes, which must stay under 25% of it. */
	for (unsigned cls = 2; cls <= SC_NCLASSES; cls++) {
		size_t prev = sc_size[cls - 1];
		if (prev < 128)
			continue;
		size_t worst_request = prev + 1;
		size_t waste = sc_size[cls] - worst_request;
		cr_assert_leq(waste * 4, worst_request, "class %u (%u): request %zu wastes %zu bytes",
		              cls, sc_size[cls], worst_request, waste);
	}
}

Test(sizeclass, small_lookup_is_smallest_fitting_class_for_every_size)
{
	for (size_t s = 0; s <= SC_SMALL_MAX; s++) {
		unsigned cls = sizeclass_small(s);
		cr_assert(cls >= 1 && cls <= SC_NSMALL, "size %zu -> class %u out of range", s, cls);
		size_t need = s ? s : 1; /* size 0 gets the smallest class */
		cr_assert_geq(sc_size[cls], need, "size %zu -> class %u of %u bytes: too small", s,
		              cls, sc_size[cls]);
		cr_assert(cls == 1 || sc_size[cls - 1] < need,
		          "size %zu -> class %u (%u) but class %u (%u) fits", s, cls, sc_size[cls],
		          cls - 1, sc_size[cls - 1]);
	}
	cr_assert_eq(sizeclass_small(0), 1);
}

Test(sizeclass, sizeclass_of_is_smallest_fitting_class_for_every_size)
{
	for (size_t s = 0; s <= SC_LARGE_MAX; s++) {
		unsigned cls = sizeclass_of(s);
		cr_assert(cls >= 1 && cls <= SC_NCLASSES, "size %zu -> class %u out of range", s, cls);
		size_t need = s ? s : 1;
		cr_assert_geq(sc_size[cls], need, "size %zu -> class %u of %u bytes: too small", s,
		              cls, sc_size[cls]);
		cr_assert(cls == 1 || sc_size[cls - 1] < need,
		          "size %zu -> class %u (%u) but class %u (%u) fits", s, cls, sc_size[cls],
		          cls - 1, sc_size[cls - 1]);
	}
	for (size_t s = SC_SMALL_MAX + 1; s <= SC_LARGE_MAX; s++)
		cr_assert_gt(sizeclass_of(s), SC_NSMALL, "size %zu is not small", s);
}

Test(sizeclass, sizeclass_size_reads_the_table)
{
	for (unsigned cls = 1; cls <= SC_NCLASSES; cls++) {
		cr_assert_eq(sizeclass_size(cls), sc_size[cls]);
		cr_assert_eq(sizeclass_of(sc_size[cls]), cls, "a class's own size maps to itself");
	}
}

Test(sizeclass, slab_geometry)
{
	cr_assert_leq(SC_MAX_NREGS, SLAB_BITMAP_WORDS * 64, "slab bitmap too small");
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		size_t size = sc_size[cls];
		size_t pages = sc_slab_pages[cls];
		size_t bytes = pages * PAGE;
		unsigned nregs = sc_nregs[cls];
		cr_assert(pages >= 1 && pages <= CHUNK_PAGES, "class %u: %zu slab pages", cls, pages);
		cr_assert_geq(nregs, 1, "class %u: empty slab", cls);
		cr_assert_leq(nregs, SC_MAX_NREGS, "class %u: %u objects per slab", cls, nregs);
		cr_assert_leq(nregs * size, bytes, "class %u: %u objects of %zu bytes overflow %zu",
		              cls, nregs, size, bytes);
		cr_assert_eq(nregs, bytes / size, "class %u: slab has room for another object", cls);
	}
}

Test(sizeclass, slot_of_every_offset_is_exact)
{
	/* bin_free_locked relies on this to find an object's slot and to spot
	 * pointers into the middle of objects. */
	for (unsigned cls = 1; cls <= SC_NSMALL; cls++) {
		size_t size = sc_size[cls];
		size_t end = (size_t)sc_nregs[cls] * size;
		cr_assert_neq(sc_div_magic[cls], 0);
		for (size_t off = 0; off < end; off++) {
			unsigned slot = sizeclass_slot(cls, off);
			if (slot != off / size)
				cr_assert_fail("class %u (%zu bytes): offset %zu -> slot %u, want %zu", cls,
				         size, off, slot, off / size);
		}
	}
}
