/*
 * osmem.h — every request for new address space goes through here, on its
 * way to arch_map / arch_map_extend, so that faults can be injected: with
 * the option fault_inject:N, one request in N (at random) fails as if the
 * OS had no memory. Tests use it to check that out-of-memory paths return
 * NULL with ENOMEM and leave the heap consistent.
 */
#ifndef INGOT_OSMEM_H
#define INGOT_OSMEM_H

#include "common.h"

/* Sets the failure rate (0: none) and the seed of the random choice. */
void osmem_boot(uint64_t fail_one_in, uint64_t seed);

/* arch_map and arch_map_extend, or ARCH_ENOMEM when a fault is injected. */
int osmem_map(size_t size, size_t align, void **out);
int osmem_map_extend(void *addr, size_t old_size, size_t new_size);

#endif
