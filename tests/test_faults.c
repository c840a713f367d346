/*
 * test_faults.c — running out of memory is an answer, not a crash: every
 * allocation that cannot be served returns NULL with errno ENOMEM, and the
 * heap stays consistent (ingot_check) and usable afterwards. Memory runs out
 * two ways here: injected faults (INGOT_CONF=fault_inject:N makes one OS
 * request in N fail at random) and a real address-space limit (RLIMIT_AS).
 */
#include <sys/resource.h>

#include "helpers.h"
#include "ingot.h"

#define LIVE 512

struct block {
	unsigned char *p;
	size_t size;
	uint64_t seed;
};

/* Allocates random sizes (small to huge) until `want_failures` allocations
 * have failed, checking each failure's errno and each success's contents. */
static void allocate_through_failures(struct block *live, int want_failures, uint64_t seed)
{
	uint64_t rng = seed;
	int failures = 0;
	for (int i = 0; failures < want_failures; i++) {
		cr_assert_lt(i, 200000, "only %d failures after %d allocations", failures, i);
		struct block *b = &live[rng_below(&rng, LIVE)];
		if (b->p) {
			cr_assert_eq(pattern_mismatch(b->p, b->size, b->seed), SIZE_MAX,
			             "block of %zu bytes changed", b->size);
			ingot_free(b->p);
			b->p = NULL;
		}
		size_t kind = rng_below(&rng, 100);
		size_t size = kind < 70 ? 1 + rng_below(&rng, 2000)
		              : kind < 95 ? 16 * KiB + rng_below(&rng, 512 * KiB)
		                          : 3 * MiB + rng_below(&rng, 8 * MiB);
		errno = 0;
		void *p = kind % 7 == 0 ? ingot_calloc(1, size)
		          : kind % 11 == 0 ? ingot_aligned_alloc(4096, size)
		                           : ingot_malloc(size);
		if (!p) {
			cr_assert_eq(errno, ENOMEM, "failed allocation of %zu set errno %d", size, errno);
			failures++;
			continue;
		}
		b->p = p;
		b->size = size;
		b->seed = rng_next(&rng);
		pattern_fill(b->p, b->size, b->seed);
	}
}

static void free_all(struct block *live)
{
	for (int k = 0; k < LIVE; k++) {
		if (live[k].p)
			cr_assert_eq(pattern_mismatch(live[k].p, live[k].size, live[k].seed), SIZE_MAX);
		ingot_free(live[k].p);
		live[k].p = NULL;
	}
}

Test(faults, injected_mapping_failures_give_enomem_and_a_consistent_heap, .timeout = 120)
{
	setenv("INGOT_CONF", "fault_inject:4,dirty_decay_ms:0", 1);
	static struct block live[LIVE];
	allocate_through_failures(live, 50, 1);
	cr_assert_eq(ingot_check(), 0, "heap inconsistent after injected faults");
	free_all(live);
	cr_assert_eq(ingot_check(), 0);
}

Test(faults, address_space_limit_gives_enomem_and_a_usable_heap, .timeout = 120)
{
	static struct block live[LIVE];
	/* Start ingot, then leave it 256 MiB of address space to grow in. */
	ingot_free(ingot_malloc(1));
	size_t limit = mapped_now() + 256 * MiB;
	struct rlimit rl = {limit, limit};
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);

	allocate_through_failures(live, 20, 2);
	cr_assert_eq(ingot_check(), 0, "heap inconsistent at the address-space limit");
	free_all(live);
	cr_assert_eq(ingot_check(), 0);
	/* What was freed serves new requests. */
	void *again = ingot_malloc(64 * KiB);
	cr_assert_not_null(again, "nothing allocatable after freeing everything");
	ingot_free(again);
}
