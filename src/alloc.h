/*
 * alloc.h — pieces of the standard front end that the jemalloc front end
 * (jemalloc_api.c) shares. The public functions themselves are declared in
 * include/ingot.h.
 */
#ifndef INGOT_ALLOC_H
#define INGOT_ALLOC_H

#include "common.h"
#include "ingot.h"

/* Usable size of a request of size bytes aligned to align (a power of two). */
size_t alloc_usable_for(size_t size, size_t align);

/* size bytes aligned to align (a power of two), or NULL with errno ENOMEM. */
void *alloc_aligned(size_t align, size_t size, bool zero);

/* A large or huge block of exactly usable bytes (from alloc_usable_for). */
void *alloc_big(size_t usable, size_t align, bool zero);

/* Usable size of p; reports a foreign or invalid pointer and aborts. */
size_t alloc_usable_checked(const void *p, const char *func);

/* Frees p after checking that size (and align) match it; func names the
 * caller in reports. */
void alloc_free_checked_size(void *p, size_t size, size_t align, const char *func);

/* realloc's core: p has usable size old; the result is aligned to align. */
void *alloc_realloc(void *p, size_t old, size_t size, size_t align, bool zero);

#endif
