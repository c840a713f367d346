/*
 * osmem.c — the fault-injecting, counting, limited front of arch_map: the
 * one place src/ maps and unmaps memory.
 */
#include "osmem.h"

#include "arch.h"

static uint64_t fail_one_in;
static uint64_t rng_state;

/* Through __atomic builtins only. */
size_t osmem_mapped_bytes, osmem_soft_bytes;
static size_t hard_bytes;
static enum osmem_thp thp_of[3]; /* by enum osmem_use; set once at start */

void osmem_set_thp(enum osmem_thp heap, enum osmem_thp metadata)
{
	thp_of[OSMEM_HEAP] = heap;
	thp_of[OSMEM_METADATA] = metadata;
}

/* Gives a new mapping the advice its use asks for (none by default: the
 * system's setting applies). */
static void advise(void *addr, size_t size, enum osmem_use use)
{
	if (thp_of[use] != OSMEM_THP_DEFAULT)
		arch_hugepage_advise(addr, size, thp_of[use] == OSMEM_THP_ALWAYS);
}

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

/* Counts size more bytes mapped; false (and nothing counted) when that
 * would cross the hard limit. */
static bool charge(size_t size)
{
	size_t hard = __atomic_load_n(&hard_bytes, __ATOMIC_RELAXED);
	size_t after = __atomic_add_fetch(&osmem_mapped_bytes, size, __ATOMIC_RELAXED);
	if (hard != 0 && (after > hard || after < size)) {
		__atomic_sub_fetch(&osmem_mapped_bytes, size, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void uncharge(size_t size)
{
	__atomic_sub_fetch(&osmem_mapped_bytes, size, __ATOMIC_RELAXED);
}

int osmem_map(size_t size, size_t align, enum osmem_use use, void **out)
{
	if (use == OSMEM_TABLES)
		return arch_map(size, align, out);
	if (inject() || !charge(size))
		return ARCH_ENOMEM;
	int err = arch_map(size, align, out);
	if (err)
		uncharge(size);
	else
		advise(*out, size, use);
	return err;
}

int osmem_map_extend(void *addr, size_t old_size, size_t new_size)
{
	if (inject() || !charge(new_size - old_size))
		return ARCH_ENOMEM;
	int err = arch_map_extend(addr, old_size, new_size);
	if (err)
		uncharge(new_size - old_size);
	else
		advise((char *)addr + old_size, new_size - old_size, OSMEM_HEAP);
	return err;
}

int osmem_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out)
{
	if (inject() || !charge(new_size - old_size))
		return ARCH_ENOMEM;
	int err = arch_map_move(addr, old_size, new_size, align, out);
	if (err)
		uncharge(new_size - old_size);
	else
		advise(*out, new_size, OSMEM_HEAP);
	return err;
}

int osmem_map_move_onto(void *addr, size_t size, void *dest)
{
	if (inject())
		return ARCH_ENOMEM;
	int err = arch_map_move_onto(addr, size, dest);
	if (!err)
		uncharge(size);
	return err;
}

int osmem_map_move_out(void *addr, size_t size, void *dest)
{
	if (inject())
		return ARCH_ENOMEM;
	return arch_map_move_out(addr, size, dest);
}

void osmem_uncount(size_t size) { uncharge(size); }

void osmem_unmap_empty(void *addr, size_t size) { arch_unmap(addr, size); }

void osmem_unmap(void *addr, size_t size, enum osmem_use use)
{
	arch_unmap(addr, size);
	if (use != OSMEM_TABLES)
		uncharge(size);
}

size_t osmem_mapped(void) { return __atomic_load_n(&osmem_mapped_bytes, __ATOMIC_RELAXED); }

void osmem_set_limits(size_t soft, size_t hard)
{
	__atomic_store_n(&osmem_soft_bytes, soft, __ATOMIC_RELAXED);
	__atomic_store_n(&hard_bytes, hard, __ATOMIC_RELAXED);
}

size_t osmem_soft_limit(void) { return __atomic_load_n(&osmem_soft_bytes, __ATOMIC_RELAXED); }
size_t osmem_hard_limit(void) { return __atomic_load_n(&hard_bytes, __ATOMIC_RELAXED); }
