/*
 * base.c — bump allocation of metadata from dedicated mappings.
 */
#include "base.h"

#include "arch.h"
#include "osmem.h"

/* Metadata is mapped in blocks of 2 MiB; small-footprint builds lower it. */
#ifndef INGOT_LG_BASE_BLOCK
#define INGOT_LG_BASE_BLOCK 21
#endif
#define BASE_BLOCK ((size_t)1 << INGOT_LG_BASE_BLOCK)
#define BASE_ALIGN 64

static struct {
	arch_lock_t lock;
	uintptr_t next;  /* first free byte of the current block */
	uintptr_t end;   /* end of the current block */
	size_t mapped;   /* bytes mapped for metadata */
	size_t used;     /* bytes handed out (after rounding to BASE_ALIGN) */
} base;

/* size bytes starting at the first address past the current block's next
 * free byte that lies phase bytes (a multiple of BASE_ALIGN below PAGE)
 * into a page and is aligned to align (BASE_ALIGN, or PAGE with phase 0),
 * or at the same place in a fresh block; the bytes skipped are never
 * touched, so they stay out of memory. */
static void *base_take(size_t size, size_t align, size_t phase)
{
	size = ALIGN_UP(size, BASE_ALIGN);
	arch_lock_acquire(&base.lock);
	uintptr_t start = ALIGN_UP(base.next, align) + phase;
	if (phase != 0 && start - PAGE >= base.next && base.next != 0)
		start -= PAGE;
	if (start > base.end || base.end - start < size) {
		size_t block = MAX(BASE_BLOCK, ALIGN_UP(phase + size, PAGE));
		void *mem;
		if (osmem_map(block, PAGE, OSMEM_METADATA, &mem) != 0) {
			arch_lock_release(&base.lock);
			return NULL;
		}
		/* The rest of the old block is abandoned: blocks are large
		 * and requests small, so little is lost. */
		start = (uintptr_t)mem + phase;
		base.end = (uintptr_t)mem + block;
		__atomic_fetch_add(&base.mapped, block, __ATOMIC_RELAXED);
	}
	base.next = start + size;
	__atomic_fetch_add(&base.used, size, __ATOMIC_RELAXED);
	arch_lock_release(&base.lock);
	return (void *)start; /* fresh mappings read as zero and are never reused */
}

void *base_alloc(size_t size)
{
	return base_take(size, BASE_ALIGN, 0);
}

void *base_alloc_placed(size_t size, size_t phase)
{
	return base_take(size, PAGE, ALIGN_DOWN(phase % PAGE, BASE_ALIGN));
}

size_t base_mapped(void)
{
	return __atomic_load_n(&base.mapped, __ATOMIC_RELAXED);
}

size_t base_used(void)
{
	return __atomic_load_n(&base.used, __ATOMIC_RELAXED);
}

void base_fork_prepare(void) { arch_lock_acquire(&base.lock); }
void base_fork_parent(void) { arch_lock_release(&base.lock); }
void base_fork_child(void) { arch_lock_reset(&base.lock); }
