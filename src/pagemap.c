/*
 * pagemap.c — the radix table from address slots to chunk records.
 */
#include "pagemap.h"

#include "arch.h"
#include "base.h"

#define LEAF_LEN ((size_t)1 << PAGEMAP_LEAF_BITS)
#define ROOT_LEN ((size_t)1 << PAGEMAP_ROOT_BITS)

struct chunk pagemap_no_chunk;
static struct chunk *empty_leaf[LEAF_LEN] = {[0 ... LEAF_LEN - 1] = &pagemap_no_chunk};
struct chunk **pagemap_root[ROOT_LEN] = {[0 ... ROOT_LEN - 1] = empty_leaf};
static arch_lock_t leaf_lock = ARCH_LOCK_INIT;

static struct chunk **leaf_get(uintptr_t slot_addr, bool create)
{
	struct chunk ***root_entry = &pagemap_root[slot_addr >> (LG_CHUNK + PAGEMAP_LEAF_BITS)];
	struct chunk **leaf = __atomic_load_n(root_entry, __ATOMIC_ACQUIRE);
	if (leaf != empty_leaf || !create)
		return leaf;
	arch_lock_acquire(&leaf_lock);
	leaf = __atomic_load_n(root_entry, __ATOMIC_ACQUIRE);
	if (leaf == empty_leaf) {
		leaf = base_alloc(LEAF_LEN * sizeof(*leaf));
		if (leaf) {
			for (size_t i = 0; i < LEAF_LEN; i++)
				leaf[i] = &pagemap_no_chunk;
			__atomic_store_n(root_entry, leaf, __ATOMIC_RELEASE);
		}
	}
	arch_lock_release(&leaf_lock);
	return leaf;
}

static void slots_set(struct chunk *c, struct chunk *value)
{
	for (uintptr_t a = c->base; a < c->base + c->size; a += CHUNK) {
		struct chunk **leaf = leaf_get(a, false);
		__atomic_store_n(&leaf[(a >> LG_CHUNK) & (LEAF_LEN - 1)], value, __ATOMIC_RELEASE);
	}
}

int pagemap_register(struct chunk *c)
{
	if ((c->base + c->size - 1) >> PAGEMAP_BITS)
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
	slots_set(c, &pagemap_no_chunk);
}

void pagemap_foreach(void (*fn)(struct chunk *c, uintptr_t slot, void *arg), void *arg)
{
	for (size_t r = 0; r < ROOT_LEN; r++) {
		struct chunk **leaf = __atomic_load_n(&pagemap_root[r], __ATOMIC_ACQUIRE);
		if (leaf == empty_leaf)
			continue;
		for (size_t i = 0; i < LEAF_LEN; i++) {
			struct chunk *c = __atomic_load_n(&leaf[i], __ATOMIC_ACQUIRE);
			if (c != &pagemap_no_chunk)
				fn(c, (r * LEAF_LEN + i) << LG_CHUNK, arg);
		}
	}
}

void pagemap_fork_prepare(void) { arch_lock_acquire(&leaf_lock); }
void pagemap_fork_parent(void) { arch_lock_release(&leaf_lock); }
void pagemap_fork_child(void) { arch_lock_reset(&leaf_lock); }
