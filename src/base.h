/*
 * base.h — memory for ingot's own metadata (arenas, chunk records, span
 * records, thread caches, page-map leaves). It comes from mappings of its own,
 * never from the pages that hold user blocks, and is never given back:
 * layers recycle their records on free lists of their own.
 */
#ifndef INGOT_BASE_H
#define INGOT_BASE_H

#include "common.h"

/* Returns size bytes, zeroed and aligned to 64 (a cache line), or NULL when
 * the OS refuses memory. Thread-safe. */
void *base_alloc(size_t size);

/* The same, starting phase bytes (rounded down to 64) past the start of a
 * page: for records laid out so that what a small program writes of them
 * shares one page (struct arena). */
void *base_alloc_placed(size_t size, size_t phase);

/* Bytes mapped for metadata so far. */
size_t base_mapped(void);

/* Bytes handed out by base_alloc so far: the metadata ingot made, without
 * the unused rest of its blocks (which stays out of memory until used). */
size_t base_used(void);

void base_fork_prepare(void);
void base_fork_parent(void);
void base_fork_child(void);

#endif
