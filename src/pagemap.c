/*
 * pagemap.c — the radix table from address slots to chunk records.
 */
#include "pagemap.h"

#include "arch.h"
#include "base.h"

#define LEAF_LEN PAGEMAP_LEAF_LEN
#define ROOT_LEN PAGEMAP_ROOT_LEN

struct pagemap pagemap;
static arch_lock_t leaf_lock = ARCH_LOCK_INIT;

static uintptr_t *leaf_at(uintptr_t offset)
{
	return (uintptr_t *)((char *)pagemap.empty_leaf + offset);
}

static uintptr_t *leaf_get(uintptr_t slot_addr, bool create)
{
	uintptr_t *root_entry = &pagemap.root[slot_addr >> (LG_CHUNK + PAGEMAP_LEAF_BITS)];
	uintptr_t offset = __atomic_load_n(root_entry, __ATOMIC_ACQUIRE);
	if (offset != 0 || !create)
		return leaf_at(offset);
	arch_lock_acquire(&leaf_lock);
	offset = __atomic_load_n(root_entry, __ATOMIC_ACQUIRE);
	if (offset == 0) {
		/* Metadata memory reads as zero: every entry already says
		 * "nothing here". */
		uintptr_t *leaf = base_alloc(LEAF_LEN * sizeof(*leaf));
		if (leaf) {
			offset = (uintptr_t)leaf - (uintptr_t)pagemap.empty_leaf;
			__atomic_store_n(root_entry, offset, __ATOMIC_RELEASE);
		}
	}
	arch_lock_release(&leaf_lock);
	return offset ? leaf_at(offset) : NULL;
}

static void slots_set(struct chunk *c, struct chunk *value)
{
	uintptr_t offset = (uintptr_t)value - (uintptr_t)&pagemap.no_chunk;
	for (uintptr_t a = c->base; a < c->base + c->size; a += CHUNK) {
		uintptr_t *leaf = leaf_get(a, false);
		__atomic_store_n(&leaf[(a >> LG_CHUNK) & (LEAF_LEN - 1)], offset, __ATOMIC_RELEASE);
	}
}

int pagemap_register(struct chunk *c)
{
	if (((uint64_t)c->base + c->size - 1) >> PAGEMAP_BITS)
		return INGOT_ENOMEM;
	/* Create every leaf first so that a failure leaves nothing half-set. */
	for (uintptr_t a = c->base; a < c->base + c->size; a += CHUNK)
		if (!leaf_get(a, true))
			return INGOT_ENOMEM;
	slots_set(c, c);
	return 0;
}

void pagemap_unregister(struct chunk *c)
{
	slots_set(c, &pagemap.no_chunk);
}

void pagemap_foreach(void (*fn)(struct chunk *c, uintptr_t slot, void *arg), void *arg)
{
	for (size_t r = 0; r < ROOT_LEN; r++) {
		uintptr_t offset = __atomic_load_n(&pagemap.root[r], __ATOMIC_ACQUIRE);
		if (offset == 0)
			continue;
		uintptr_t *leaf = leaf_at(offset);
		for (size_t i = 0; i < LEAF_LEN; i++) {
			uintptr_t entry = __atomic_load_n(&leaf[i], __ATOMIC_ACQUIRE);
			if (entry)
				fn((struct chunk *)((char *)&pagemap.no_chunk + entry),
				   (r * LEAF_LEN + i) << LG_CHUNK, arg);
		}
	}
}

void pagemap_fork_prepare(void) { arch_lock_acquire(&leaf_lock); }
void pagemap_fork_parent(void) { arch_lock_release(&leaf_lock); }
void pagemap_fork_child(void) { arch_lock_reset(&leaf_lock); }
