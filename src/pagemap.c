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

/* The pages of both tables that registering has written (an entry, or the
 * window bytes of a chunk of pages), each by its address / table_page, so
 * that stats count what the map made resident, not the untouched pages
 * between far-apart chunks (a 1 GiB huge block below the heap spread the
 * window's count over 256 KiB it never wrote). Past TOUCHED_MAX distinct
 * pages the count falls back to the span of used entries. Under used_lock. */
#define TOUCHED_MAX 32
static uintptr_t touched[TOUCHED_MAX];
static size_t ntouched;
static bool touched_overflow;

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

/* A run of pages inside the window (every run but in INGOT_PAGEMAP_RANGE
 * builds) sets both maps in one loop: the window test a page cost slabs of
 * 9 to 16 pages (classes of 8 to 16 KiB) some 14 instructions a page. */
void pagemap_set_class_run(struct chunk *c, size_t first, size_t n, unsigned cls)
{
	uintptr_t page0 = (c->base >> LG_PAGE) + first;
	if (page0 - pagemap.class_first < pagemap.class_npages &&
	    page0 + n - pagemap.class_first <= pagemap.class_npages) {
		/* A local: the byte stores could alias pagemap's fields. */
		uint8_t *window = (uint8_t *)(pagemap.class_bias + page0);
		for (size_t i = 0; i < n; i++) {
			c->class_of[first + i] = (uint8_t)cls;
			__atomic_store_n(window + i, (uint8_t)cls, __ATOMIC_RELAXED);
		}
		return;
	}
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

/* Notes the table pages of bytes [lo, hi) as written; under used_lock. */
static void touched_note(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t page = lo / table_page; page < ALIGN_UP(hi, table_page) / table_page && !touched_overflow;
	     page++) {
		size_t i = 0;
		while (i < ntouched && touched[i] != page)
			i++;
		if (i < ntouched)
			continue;
		if (ntouched == TOUCHED_MAX)
			touched_overflow = true;
		else
			touched[ntouched++] = page;
	}
}

/* Notes the table pages that registering c writes: its entries, and for a
 * chunk of pages the window bytes its slabs' classes go to. */
static void touched_note_chunk(struct chunk *c, uintptr_t first, uintptr_t last)
{
	touched_note((uintptr_t)&pagemap.entries[first], (uintptr_t)&pagemap.entries[last + 1]);
	if (c->kind != CHUNK_KIND_PAGES)
		return;
	uintptr_t lo_page = MAX(c->base >> LG_PAGE, pagemap.class_first);
	uintptr_t hi_page = MIN((c->base + c->size) >> LG_PAGE, pagemap.class_first + pagemap.class_npages);
	if (lo_page < hi_page)
		touched_note(pagemap.class_bias + lo_page, pagemap.class_bias + hi_page);
}

int pagemap_register(struct chunk *c)
{
	uintptr_t first = entry_index(c->base), last = entry_index(c->base + c->size - 1);
	if (first == pagemap.nentries || last == pagemap.nentries || c->base + c->size < c->base)
		return ARCH_ENOMEM; /* outside the addresses the map covers */
	arch_lock_acquire(&used_lock);
	used_lo = MIN(used_lo, first);
	used_hi = MAX(used_hi, last + 1);
	touched_note_chunk(c, first, last);
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

/* The bytes of table between the lowest and highest registered entry's,
 * and of the window for the same addresses: an upper bound on what the map
 * has written. */
static size_t used_span_bytes(void)
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

size_t pagemap_table_bytes(void)
{
	arch_lock_acquire(&used_lock);
	bool overflow = touched_overflow;
	size_t bytes = ntouched * table_page;
	arch_lock_release(&used_lock);
	return overflow ? used_span_bytes() : bytes;
}

void pagemap_fork_prepare(void) { arch_lock_acquire(&used_lock); }
void pagemap_fork_parent(void) { arch_lock_release(&used_lock); }
void pagemap_fork_child(void) { arch_lock_reset(&used_lock); }
