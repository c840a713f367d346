/*
 * pagemap.c — the flat table from address entries to chunk records.
 */
#include "pagemap.h"

#include "arch.h"
#include "osmem.h"

struct pagemap pagemap;
struct chunk pagemap_no_chunk;
static size_t table_page; /* the OS page the table was mapped in */

/* Entries ever registered lie in [used_lo, used_hi): pagemap_foreach walks
 * only those, not the whole table. Written under used_lock. */
static arch_lock_t used_lock = ARCH_LOCK_INIT;
static uintptr_t used_lo = UINTPTR_MAX, used_hi;

/* [*lo, *hi): the table indexes ever registered (empty when lo >= hi). */
static void used_range(uintptr_t *lo, uintptr_t *hi)
{
	arch_lock_acquire(&used_lock);
	*lo = used_lo;
	*hi = used_hi;
	arch_lock_release(&used_lock);
}

/* Maps bytes for the window if as many again would still be free after it:
 * in a process whose address space is limited (ulimit -v), a window that
 * took the last of it would leave none for the heap, and what should only
 * make frees slower (a smaller window) would stop ingot from starting. */
static bool window_map(size_t bytes, size_t page, void **out)
{
	void *room;
	if (osmem_map(bytes, page, OSMEM_TABLES, out) != 0)
		return false;
	if (osmem_map(bytes, page, OSMEM_TABLES, &room) == 0) {
		osmem_unmap(room, bytes, OSMEM_TABLES);
		return true;
	}
	osmem_unmap(*out, bytes, OSMEM_TABLES);
	return false;
}

/* Maps the class window, as big as it may be up to PAGEMAP_WINDOW_BITS,
 * around where the OS put it. A window that cannot be mapped at all is not
 * an error: the fast paths then read classes through the chunk table. */
static void window_boot(const struct arch_info *info)
{
	uintptr_t space = (uintptr_t)1 << (PAGEMAP_BITS - LG_PAGE); /* pages */
	uintptr_t first = 0, npages = (uintptr_t)1 << (PAGEMAP_WINDOW_BITS - LG_PAGE);
	if (INGOT_PAGEMAP_RANGE) {
		first = info->map_base >> LG_PAGE;
		npages = ((info->map_base + info->map_size + PAGE_MASK) >> LG_PAGE) - first;
	}
	void *table = NULL;
	while (npages >= CHUNK_PAGES && !window_map(ALIGN_UP(npages, info->page_size), info->page_size, &table))
		npages /= 2;
	if (npages < CHUNK_PAGES)
		return;
	if (!INGOT_PAGEMAP_RANGE) {
		uintptr_t center = (uintptr_t)table >> LG_PAGE;
		first = center > npages / 2 ? center - npages / 2 : 0;
		if (npages <= space && first > space - npages)
			first = space - npages;
	}
	pagemap.class_first = first;
	pagemap.class_bias = (uintptr_t)table - first;
	pagemap.class_table = table;
	__atomic_store_n(&pagemap.class_npages, npages, __ATOMIC_RELEASE);
}

int pagemap_boot(const struct arch_info *info)
{
	uintptr_t first = 0, n = (uintptr_t)1 << (PAGEMAP_BITS - LG_CHUNK);
	if (INGOT_PAGEMAP_RANGE) {
		first = info->map_base >> LG_CHUNK;
		n = ((info->map_base + info->map_size + CHUNK_MASK) >> LG_CHUNK) - first;
	}
	void *table;
	if (osmem_map(ALIGN_UP(n * sizeof(uintptr_t), info->page_size), info->page_size, OSMEM_TABLES,
	              &table) != 0)
		return ARCH_ENOMEM;
	pagemap.entries = table;
	pagemap.first_entry = first;
	table_page = info->page_size;
	window_boot(info);
	__atomic_store_n(&pagemap.nentries, n, __ATOMIC_RELEASE);
	return 0;
}

void pagemap_set_classes(struct chunk *c, size_t first, size_t n, unsigned cls)
{
	for (size_t page = first; page < first + n; page++) {
		c->class_of[page] = (uint8_t)cls;
		uintptr_t p = c->base + (page << LG_PAGE);
		if (pagemap_in_window(p))
			__atomic_store_n(pagemap_window_at(p), (uint8_t)cls, __ATOMIC_RELAXED);
	}
}

int pagemap_window_class(uintptr_t p)
{
	return pagemap_in_window(p) ? __atomic_load_n(pagemap_window_at(p), __ATOMIC_RELAXED) : -1;
}

/* The table index of the entry of address a, or nentries when a is outside. */
static uintptr_t entry_index(uintptr_t a)
{
	uintptr_t entry = (a >> LG_CHUNK) - pagemap.first_entry; /* 0 unless INGOT_PAGEMAP_RANGE */
	return entry < pagemap.nentries ? entry : pagemap.nentries;
}

static void entries_set(struct chunk *c, struct chunk *value)
{
	uintptr_t offset = (uintptr_t)value - (uintptr_t)&pagemap_no_chunk;
	for (uintptr_t a = c->base; a < c->base + c->size; a += CHUNK)
		__atomic_store_n(&pagemap.entries[entry_index(a)], offset, __ATOMIC_RELEASE);
}

int pagemap_register(struct chunk *c)
{
	uintptr_t first = entry_index(c->base), last = entry_index(c->base + c->size - 1);
	if (first == pagemap.nentries || last == pagemap.nentries || c->base + c->size < c->base)
		return ARCH_ENOMEM; /* outside the addresses the map covers */
	arch_lock_acquire(&used_lock);
	used_lo = MIN(used_lo, first);
	used_hi = MAX(used_hi, last + 1);
	arch_lock_release(&used_lock);
	entries_set(c, c);
	return 0;
}

void pagemap_unregister(struct chunk *c)
{
	entries_set(c, &pagemap_no_chunk);
}

void pagemap_foreach(void (*fn)(struct chunk *c, uintptr_t entry, void *arg), void *arg)
{
	uintptr_t lo, hi, first = pagemap.first_entry;
	used_range(&lo, &hi);
	for (uintptr_t i = lo; i < hi; i++) {
		uintptr_t entry = __atomic_load_n(&pagemap.entries[i], __ATOMIC_ACQUIRE);
		if (entry)
			fn((struct chunk *)((char *)&pagemap_no_chunk + entry), (first + i) << LG_CHUNK, arg);
	}
}

/* Bytes of table from the entry of first to that of last, whole pages. */
static size_t table_span(uintptr_t first, uintptr_t last)
{
	return ALIGN_UP(last, table_page) - ALIGN_DOWN(first, table_page);
}

size_t pagemap_table_bytes(void)
{
	uintptr_t lo, hi, first = pagemap.first_entry;
	used_range(&lo, &hi);
	if (lo >= hi)
		return 0;
	size_t bytes = table_span((uintptr_t)&pagemap.entries[lo], (uintptr_t)&pagemap.entries[hi]);
	/* The window's bytes for the same addresses, where it covers them. */
	uintptr_t lo_page = MAX((first + lo) * CHUNK_PAGES, pagemap.class_first);
	uintptr_t hi_page = MIN((first + hi) * CHUNK_PAGES, pagemap.class_first + pagemap.class_npages);
	if (lo_page < hi_page)
		bytes += table_span(pagemap.class_bias + lo_page, pagemap.class_bias + hi_page);
	return bytes;
}

void pagemap_fork_prepare(void) { arch_lock_acquire(&used_lock); }
void pagemap_fork_parent(void) { arch_lock_release(&used_lock); }
void pagemap_fork_child(void) { arch_lock_reset(&used_lock); }
