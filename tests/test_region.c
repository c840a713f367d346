/*
 * test_region.c — the bare-metal back end (arch/region.c) on the host.
 *
 * Built by `make test-region` against the core compiled with region.c and
 * the small-footprint options of mk/ports.mk (2 KiB pages, 64 KiB chunks,
 * no thread caches). Criterion runs each test in a process of its own, so
 * every test starts before ingot has booted and hands it a fresh region.
 *
 * The region hooks are defined here: messages go to stderr (and are kept
 * for checks), abort raises SIGABRT, errno is the C library's.
 */
#include "arch.h"
#include "ingot.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define PG ((size_t)1 << INGOT_LG_PAGE) /* ingot's page, the region's unit */
#define REGION_SIZE (512 * KiB)

size_t ingot_region_available(void);

/* ---- hooks -------------------------------------------------------------- */

static char messages[1024];
static size_t messages_len;

void ingot_region_write(const char *msg, size_t len)
{
	if (len > sizeof messages - 1 - messages_len)
		len = sizeof messages - 1 - messages_len;
	memcpy(messages + messages_len, msg, len);
	messages_len += len;
	messages[messages_len] = '\0';
	ssize_t ignored = write(STDERR_FILENO, msg, len);
	(void)ignored;
}

_Noreturn void ingot_region_abort(void)
{
	abort();
}

void ingot_region_set_errno(int err)
{
	errno = err;
}

/* ---- helpers ---------------------------------------------------------------- */

/* The region sits where a Cortex-M part has its RAM, 0x20000000: the core
 * is built with the page map of a 32-bit target (INGOT_PAGEMAP_BITS=32),
 * which covers only the low 4 GiB. It starts off a page boundary, so that
 * init has to trim. */
#define REGION_ADDR ((uintptr_t)0x20000000)
static unsigned char *heap;
static uintptr_t region_lo, region_hi;

static void region_setup(void)
{
	heap = mmap((void *)REGION_ADDR, REGION_SIZE + 2 * KiB, PROT_READ | PROT_WRITE,
	            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert(heap == (void *)REGION_ADDR, "cannot map the test region at %p", (void *)REGION_ADDR);
	memset(heap, 0xdb, REGION_SIZE + 2 * KiB); /* not zero: arch_map must clear */
	cr_assert_eq(ingot_region_init(heap + 100, REGION_SIZE), 0);
	region_lo = (uintptr_t)heap + 100;
	region_hi = region_lo + REGION_SIZE;
}

static bool inside_region(const void *p, size_t size)
{
	return (uintptr_t)p >= region_lo && (uintptr_t)p + size <= region_hi;
}

static void fill(unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(tag * 13 + i);
}

static bool intact(const unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(tag * 13 + i))
			return false;
	return true;
}

#define MAX_BLOCKS 65536
static void *blocks[MAX_BLOCKS];

/* Allocates size-byte blocks until the region is exhausted; returns how
 * many it got. Each is filled with its own pattern. */
static size_t fill_region(size_t size)
{
	size_t n = 0;
	while (n < MAX_BLOCKS) {
		errno = 0;
		unsigned char *p = ingot_malloc(size);
		if (p == NULL) {
			cr_assert_eq(errno, ENOMEM, "exhaustion must say ENOMEM");
			break;
		}
		cr_assert(inside_region(p, size), "block %p of %zu bytes outside the region", (void *)p, size);
		fill(p, size, (unsigned)n);
		blocks[n++] = p;
	}
	cr_assert_lt(n, MAX_BLOCKS, "the region never ran out");
	return n;
}

static void free_blocks(size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert(intact(blocks[i], size, (unsigned)i), "block %zu overwritten", i);
		ingot_free(blocks[i]);
	}
}

/* ---- ingot_region_init ------------------------------------------------------- */

Test(region_init, rejects_bad_regions)
{
	static unsigned char small[8 * PG] __attribute__((aligned(PG)));
	cr_assert_eq(ingot_region_init(NULL, REGION_SIZE), EINVAL);
	cr_assert_eq(ingot_region_init(small, 3 * PG), EINVAL, "smaller than four pages");
	cr_assert_eq(ingot_region_init(small + 1, 4 * PG), EINVAL, "four pages only before trimming");
	cr_assert_eq(ingot_region_init((void *)(UINTPTR_MAX - 4 * PG), 8 * PG), EINVAL,
	             "past the end of the address space");
	region_setup();
	cr_assert_eq(ingot_region_init(heap + 100, REGION_SIZE), EINVAL, "the region is set once");
}

Test(region_init, too_late_after_boot)
{
	region_setup();
	void *p = ingot_malloc(10);
	cr_assert_not_null(p);
	ingot_free(p);
	static unsigned char other[64 * KiB];
	cr_assert_eq(ingot_region_init(other, sizeof other), EINVAL);
}

Test(region_init, trims_to_whole_pages)
{
	region_setup();
	/* heap + 100 is not page-aligned: the part of a page at each end is
	 * cut off, one page in all. */
	cr_assert_eq(ingot_region_available(), REGION_SIZE - PG);
}

Test(region_init, no_region_aborts_with_a_message, .signal = SIGABRT)
{
	/* Neither ingot_region_init nor the link-time symbols: the first
	 * allocation has nowhere to go. */
	ingot_malloc(16);
}

/* ---- allocation inside the region ---------------------------------------------- */

Test(region_alloc, blocks_lie_in_the_region_and_check_passes)
{
	region_setup();
	/* Small, large and one huge block (above the 64 KiB chunk) at once. */
	static const size_t sizes[] = {1, 16, 100, 1000, 5000, 16384, 20000, 70000};
	void *p[8];
	for (unsigned i = 0; i < 8; i++) {
		p[i] = ingot_malloc(sizes[i]);
		cr_assert_not_null(p[i], "malloc(%zu)", sizes[i]);
		cr_assert(inside_region(p[i], sizes[i]));
		cr_assert_geq(ingot_malloc_usable_size(p[i]), sizes[i]);
		fill(p[i], sizes[i], i);
	}
	cr_assert_eq(ingot_check(), 0);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert(intact(p[i], sizes[i], i));
		ingot_free(p[i]);
	}
	cr_assert_eq(ingot_check(), 0);
}

Test(region_alloc, metadata_and_mappings_come_from_the_region)
{
	region_setup();
	size_t initial = ingot_region_available();
	void *p = ingot_malloc(100);
	void *q = ingot_malloc(100000);
	cr_assert_not_null(p);
	cr_assert_not_null(q);
	struct ingot_stats s;
	ingot_stats_get(&s);
	/* Everything ingot mapped, its metadata included, came out of the
	 * region, and nothing else did. */
	cr_assert_eq(initial - ingot_region_available(), s.mapped);
	ingot_free(p);
	ingot_free(q);
}

Test(region_alloc, calloc_zeroes_reused_memory)
{
	region_setup();
	for (unsigned round = 0; round < 3; round++) {
		size_t n = fill_region(3000);
		for (size_t i = 0; i < n; i++)
			memset(blocks[i], 0xff, 3000);
		for (size_t i = 0; i < n; i++)
			ingot_free(blocks[i]);
		for (size_t i = 0; i < n; i++) {
			unsigned char *p = ingot_calloc(1, 3000);
			cr_assert_not_null(p);
			for (size_t j = 0; j < 3000; j++)
				cr_assert_eq(p[j], 0, "calloc block %zu byte %zu not zero", i, j);
			blocks[i] = p;
		}
		for (size_t i = 0; i < n; i++)
			ingot_free(blocks[i]);
	}
	cr_assert_eq(ingot_check(), 0);
}

Test(region_alloc, aligned_blocks)
{
	region_setup();
	for (size_t align = 1; align <= 32 * KiB; align *= 2) {
		unsigned char *p = ingot_aligned_alloc(align, 3 * align);
		cr_assert_not_null(p, "aligned_alloc(%zu)", align);
		cr_assert_eq((uintptr_t)p % align, 0);
		cr_assert(inside_region(p, 3 * align));
		p[0] = p[3 * align - 1] = 1;
		ingot_free(p);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* ---- exhaustion and reuse -------------------------------------------------------- */

Test(region_exhaust, small_blocks_run_out_cleanly_and_are_reused)
{
	region_setup();
	size_t first = fill_region(48);
	cr_assert_gt(first, 1000, "only %zu blocks of 48 bytes in 512 KiB", first);
	cr_assert_eq(ingot_check(), 0, "the heap is consistent when full");
	free_blocks(first, 48);
	cr_assert_eq(ingot_check(), 0);
	size_t second = fill_region(48);
	cr_assert_eq(second, first, "%zu blocks after freeing, %zu before", second, first);
	free_blocks(second, 48);
}

Test(region_exhaust, every_size_runs_out_cleanly)
{
	region_setup();
	static const size_t sizes[] = {16, 200, 1024, 4000, 16384, 30000, 70000, 120000};
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = fill_region(sizes[i]);
		cr_assert_gt(n, 0, "not one block of %zu bytes", sizes[i]);
		cr_assert_eq(ingot_check(), 0);
		free_blocks(n, sizes[i]);
		cr_assert_eq(ingot_check(), 0);
	}
}

Test(region_exhaust, freed_big_blocks_return_to_the_region)
{
	region_setup();
	/* Blocks bigger than a chunk are mappings of their own: freeing them
	 * gives the region its memory back, all of it but the records of the
	 * mappings (base metadata, kept for reuse): a first round makes those,
	 * a second must leave the region as it found it. */
	void *warm = ingot_malloc(16); /* boot: metadata and the first chunk */
	cr_assert_not_null(warm);
	size_t at_start = ingot_region_available();
	free_blocks(fill_region(70000), 70000);
	size_t before = ingot_region_available();
	cr_assert_gt(before + 70000, at_start, "the first round kept %zu bytes: more than its records",
	             at_start - before);
	size_t n = fill_region(70000);
	cr_assert_geq(n, 2);
	cr_assert_lt(ingot_region_available(), before);
	free_blocks(n, 70000);
	cr_assert_eq(ingot_region_available(), before, "%zu bytes available after freeing %zu blocks, %zu before",
	             ingot_region_available(), n, before);
	/* ... and small blocks can use it now. */
	size_t small = fill_region(64);
	cr_assert_gt(small * 64, n * 70000 / 2, "%zu small blocks after freeing %zu big", small, n);
	free_blocks(small, 64);
	ingot_free(warm);
	cr_assert_eq(ingot_check(), 0);
}

Test(region_exhaust, memory_freed_as_one_size_serves_another)
{
	region_setup();
	size_t first = fill_region(3000);
	free_blocks(first, 3000);
	size_t small = fill_region(48);
	free_blocks(small, 48);
	size_t big = fill_region(20000);
	free_blocks(big, 20000);
	size_t again = fill_region(3000);
	cr_assert_eq(again, first, "%zu blocks of 3000 bytes after other sizes, %zu at first", again,
	             first);
	free_blocks(again, 3000);
	cr_assert_eq(ingot_check(), 0);
}

Test(region_exhaust, mixed_sizes_fit_again_after_a_purge)
{
	region_setup();
	/* Fill with a mix of sizes, free all, purge (empty slabs go back to
	 * the page heap), fill with the same mix: exactly as much fits. */
	size_t total[2] = {0, 0}, count[2] = {0, 0};
	static size_t sizes[MAX_BLOCKS];
	for (int round = 0; round < 2; round++) {
		uint64_t rng = 12345;
		size_t n = 0;
		for (unsigned misses = 0; misses < 50 && n < MAX_BLOCKS;) {
			rng = rng * 6364136223846793005u + 1442695040888963407u;
			size_t size = 1 + (rng >> 33) % 9000;
			unsigned char *p = ingot_malloc(size);
			if (!p) {
				misses++;
				continue;
			}
			cr_assert(inside_region(p, size));
			fill(p, size, (unsigned)n);
			sizes[n] = size;
			blocks[n++] = p;
			total[round] += size;
		}
		count[round] = n;
		cr_assert_eq(ingot_check(), 0);
		for (size_t i = 0; i < n; i++) {
			cr_assert(intact(blocks[i], sizes[i], (unsigned)i));
			ingot_free(blocks[i]);
		}
		ingot_purge();
	}
	cr_assert_eq(count[1], count[0]);
	cr_assert_eq(total[1], total[0], "%zu bytes the second time, %zu the first", total[1], total[0]);
	cr_assert_eq(ingot_check(), 0);
}

Test(region_exhaust, failed_allocations_cost_nothing)
{
	region_setup();
	size_t n = fill_region(4000);
	struct ingot_stats before, after;
	ingot_stats_get(&before);
	size_t avail = ingot_region_available();
	/* A program may keep trying when memory is short: each failure must
	 * leave the heap as it was, metadata included. */
	for (unsigned i = 0; i < 2000; i++)
		cr_assert_null(ingot_malloc(4000 + i % 3 * 5000));
	ingot_stats_get(&after);
	cr_assert_eq(after.metadata, before.metadata);
	cr_assert_eq(ingot_region_available(), avail);
	free_blocks(n, 4000);
	cr_assert_eq(fill_region(4000), n);
	cr_assert_eq(ingot_check(), 0);
}

Test(region_exhaust, realloc_in_a_full_region)
{
	region_setup();
	unsigned char *p = ingot_malloc(1000);
	cr_assert_not_null(p);
	fill(p, 1000, 7);
	size_t n = fill_region(4000);
	/* Nowhere to grow: NULL, ENOMEM, and the block is untouched. */
	errno = 0;
	cr_assert_null(ingot_realloc(p, 200000));
	cr_assert_eq(errno, ENOMEM);
	cr_assert(intact(p, 1000, 7));
	free_blocks(n, 4000);
	p = ingot_realloc(p, 100000);
	cr_assert_not_null(p, "room again after the frees");
	cr_assert(intact(p, 1000, 7));
	ingot_free(p);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- the back end itself ------------------------------------------------------------ */

Test(region_arch, no_thread_caches)
{
	struct arch_info info;
	region_setup();
	arch_init(&info);
	cr_assert_not(info.has_threads);
	cr_assert_eq(info.ncpus, 1);
	bool enabled = true;
	size_t len = sizeof enabled;
	cr_assert_eq(ingot_mallctl("thread.tcache.enabled", &enabled, &len, NULL, 0), 0);
	cr_assert_not(enabled, "thread caches are off without threads");
}

Test(region_arch, map_unmap_extend)
{
	struct arch_info info;
	region_setup();
	arch_init(&info);
	cr_assert_eq(info.page_size, PG);
	size_t avail = ingot_region_available();
	void *a, *b;
	cr_assert_eq(arch_map(4 * PG, 2 * PG, &a), 0);
	cr_assert_eq((uintptr_t)a % (2 * PG), 0);
	for (size_t i = 0; i < 4 * PG; i++)
		cr_assert_eq(((unsigned char *)a)[i], 0, "fresh mapping not zero");
	cr_assert_eq(arch_map(2 * PG, PG, &b), 0);
	cr_assert_eq(ingot_region_available(), avail - 6 * PG);
	/* a is followed by b or by free space: extending a works only in the
	 * second case, and the new tail reads zero. */
	int rc = arch_map_extend(a, 4 * PG, 5 * PG);
	if ((uintptr_t)b == (uintptr_t)a + 4 * PG) {
		cr_assert_eq(rc, ARCH_ENOMEM);
	} else {
		cr_assert_eq(rc, 0);
		for (size_t i = 4 * PG; i < 5 * PG; i++)
			cr_assert_eq(((unsigned char *)a)[i], 0, "extension not zero");
	}
	size_t a_size = rc == 0 ? 5 * PG : 4 * PG;
	arch_unmap(b, 2 * PG);
	arch_unmap(a, a_size);
	cr_assert_eq(ingot_region_available(), avail, "unmapped ranges coalesce back");
	void *whole;
	cr_assert_eq(arch_map(avail, PG, &whole), 0, "the whole region is one free range again");
	void *none = &info;
	cr_assert_eq(arch_map(PG, PG, &none), ARCH_ENOMEM);
	cr_assert_eq(none, (void *)&info, "out untouched on failure");
	arch_unmap(whole, avail);
}

/* Bare metal has no memory protection, so no fault to catch. */
Test(region_arch, has_no_fault_handler)
{
	cr_assert_eq(arch_fault_handler_install(NULL), ARCH_EINVAL);
}

Test(region_arch, unmap_of_a_free_range_aborts, .signal = SIGABRT)
{
	struct arch_info info;
	region_setup();
	arch_init(&info);
	void *a;
	cr_assert_eq(arch_map(2 * PG, PG, &a), 0);
	arch_unmap(a, 2 * PG);
	arch_unmap(a, 2 * PG); /* twice */
}

Test(region_arch, reentered_lock_aborts_instead_of_hanging, .signal = SIGABRT)
{
	/* Single-threaded: a held lock can only mean re-entry (an interrupt
	 * handler calling malloc), which would never be released. */
	arch_lock_t lock = ARCH_LOCK_INIT;
	arch_lock_acquire(&lock);
	arch_lock_acquire(&lock);
}

Test(region_arch, purge_and_protect_are_harmless)
{
	struct arch_info info;
	region_setup();
	arch_init(&info);
	void *a;
	cr_assert_eq(arch_map(2 * PG, PG, &a), 0);
	memset(a, 0x5c, 2 * PG);
	bool zeroed = true;
	arch_purge(a, 2 * PG, &zeroed);
	cr_assert_not(zeroed, "nothing is given back, so nothing reads zero");
	cr_assert_eq(((unsigned char *)a)[100], 0x5c);
	cr_assert_eq(arch_protect(a, PG, false), ARCH_EINVAL, "no MMU: no guard pages");
	arch_unmap(a, 2 * PG);
}

Test(region_exhaust, a_region_off_chunk_boundaries_is_used_up)
{
	region_setup();
	/* The test region starts 2 KiB past a 64 KiB chunk boundary: the
	 * 62 KiB below the first boundary can hold no chunk, and ingot's
	 * metadata goes there rather than into a whole chunk at the top
	 * (before: 8,064 blocks of 48 bytes, 80 KiB left unused; now 9,408
	 * blocks, 16 KiB left). */
	size_t chunk = (size_t)1 << INGOT_LG_CHUNK;
	cr_assert_neq(region_lo % chunk, 0, "the test wants a region that starts mid-chunk");
	size_t n = fill_region(48);
	size_t left = ingot_region_available();
	cr_assert_lt(left, chunk, "%zu KiB of the region unused when malloc(48) fails (%zu blocks)",
	             left / KiB, n);
	free_blocks(n, 48);
	cr_assert_eq(ingot_check(), 0);
}
