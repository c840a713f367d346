/*
 * osmem.c — the fault-injecting front of arch_map.
 */
#include "osmem.h"

#include "arch.h"

static uint64_t fail_one_in;
static uint64_t rng_state;

void osmem_boot(uint64_t one_in, uint64_t seed)
{
	fail_one_in = one_in;
	rng_state = seed | 1;
}

/* True for one call in fail_one_in, chosen at random. Callers race on the
 * generator state harmlessly: any value it holds is as good as another. */
static bool inject(void)
{
	if (fail_one_in == 0)
		return false;
	uint64_t x = __atomic_load_n(&rng_state, __ATOMIC_RELAXED);
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	__atomic_store_n(&rng_state, x, __ATOMIC_RELAXED);
	return x % fail_one_in == 0;
}

int osmem_map(size_t size, size_t align, void **out)
{
	return inject() ? ARCH_ENOMEM : arch_map(size, align, out);
}

int osmem_map_extend(void *addr, size_t old_size, size_t new_size)
{
	return inject() ? ARCH_ENOMEM : arch_map_extend(addr, old_size, new_size);
}
