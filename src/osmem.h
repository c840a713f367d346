/*
 * osmem.h — every request for new address space goes through here, on its
 * way to arch_map / arch_map_extend, and every release of it back (no other
 * file of src/ calls arch_map or arch_unmap):
 *  - faults can be injected: with the option fault_inject:N, one request in
 *    N (at random) fails as if the OS had no memory. Tests use it to check
 *    that out-of-memory paths return NULL with ENOMEM and leave the heap
 *    consistent;
 *  - the bytes mapped (chunks, huge blocks, metadata) are counted, and the
 *    memory limits are kept: a request that would take them over the hard
 *    limit fails as if the OS had refused it, and past the soft limit the
 *    layers above purge eagerly (osmem_over_soft);
 *  - new mappings get the transparent-huge-page advice the options ask for
 *    (thp for the heap, metadata_thp for metadata). Chunks and huge blocks
 *    are aligned to CHUNK (4 MiB), so every 2 MiB huge page of them can be
 *    backed by one.
 */
#ifndef INGOT_OSMEM_H
#define INGOT_OSMEM_H

#include "common.h"

/* Sets the failure rate (0: none) and the seed of the random choice. */
void osmem_boot(uint64_t fail_one_in, uint64_t seed);

/* What a mapping holds: the heap (chunks, huge blocks), metadata, or
 * tables: the page map's chunk table and class window and the trace
 * buffer, address space mapped once that the program's memory does not
 * grow. Tables are neither counted against the limits nor failed by fault
 * injection, and get no advice. */
enum osmem_use { OSMEM_HEAP, OSMEM_METADATA, OSMEM_TABLES };

/* Huge-page advice for new mappings (options thp, metadata_thp). */
enum osmem_thp { OSMEM_THP_DEFAULT, OSMEM_THP_ALWAYS, OSMEM_THP_NEVER };
void osmem_set_thp(enum osmem_thp heap, enum osmem_thp metadata);

/* arch_map and arch_map_extend, or ARCH_ENOMEM when a fault is injected or
 * the hard limit would be crossed. A heap mapping's tail added by
 * osmem_map_extend gets the heap's advice. */
int osmem_map(size_t size, size_t align, enum osmem_use use, void **out);
int osmem_map_extend(void *addr, size_t old_size, size_t new_size);
/* arch_map_move under the limits: a heap mapping grown by moving it. */
int osmem_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out);
/* arch_map_move_onto: pages of a heap mapping replace part of another one.
 * On success the mapped bytes fall by size; on failure the caller unmaps
 * [addr, addr + size) (osmem_unmap). */
int osmem_map_move_onto(void *addr, size_t size, void *dest);
/* arch_map_move_out: [addr, addr+size) stays mapped, still counted until
 * osmem_uncount says it holds nothing. */
int osmem_map_move_out(void *addr, size_t size, void *dest);
/* A heap range kept mapped but emptied (pages moved out or purged) and
 * inaccessible stops counting against the limits (it holds no memory);
 * osmem_unmap_empty unmaps it later. */
void osmem_uncount(size_t size);
void osmem_unmap_empty(void *addr, size_t size);

/* arch_unmap of memory that came from osmem_map or osmem_map_extend with
 * the same use. */
void osmem_unmap(void *addr, size_t size, enum osmem_use use);

/* Bytes mapped now. */
size_t osmem_mapped(void);

/* The limits in bytes, 0 for none. Lowering the hard limit under what is
 * mapped makes later requests fail; nothing mapped is taken back. */
void osmem_set_limits(size_t soft, size_t hard);
size_t osmem_soft_limit(void);
size_t osmem_hard_limit(void);

/* Read by osmem_over_soft; through __atomic builtins only. */
extern size_t osmem_mapped_bytes, osmem_soft_bytes;

/* True while more than the soft limit is mapped: free pages should go back
 * to the OS at once, and empty chunks be unmapped. */
INGOT_INLINE bool osmem_over_soft(void)
{
	size_t soft = __atomic_load_n(&osmem_soft_bytes, __ATOMIC_RELAXED);
	return soft != 0 && __atomic_load_n(&osmem_mapped_bytes, __ATOMIC_RELAXED) > soft;
}

#endif
