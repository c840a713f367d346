/*
 * bin.c — object allocation from slabs.
 *
 * Call tree:
 *   bin_alloc_batch -> slab_pop (from current) -> slab_next (nonfull or a new
 *                      span from the page heap)
 *   bin_free_batch  -> per run of objects of one slab: slab_free_run (slot
 *   bin_free_locked    checks, a bitmap word at a time; slab_free_few for
 *                      slabs of few objects: one mask) -> slab_refile
 *                      (nonfull link | slab back to the heap when empty);
 *                      hardened (shuffled objects, slabs of many):
 *                      free_scattered_locked, a bit and a count an object
 *
 * Batches move whole runs: a refill takes a slab's free objects a bitmap
 * word at a time (a word with every bit set, as a fresh slab has, as one
 * run of addresses), and a flush puts the objects of one slab back a word
 * at a time, one lock and one page-map lookup per run rather than per
 * object. A cache's stack keeps objects in the order they came, so a burst
 * of one class flushes as long runs of one slab.
 */
/* The one definition of the size-class tables (sizeclass_table.h). */
#define SC_DEFINE_TABLES
#include "bin.h"

#include "hardening.h"
#include "report.h"
#include "sizeclass.h"

/* Free objects by the bitmap (ingot_check and expensive assertions). */
static unsigned bitmap_count(const struct span *s)
{
	unsigned n = 0;
	for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++)
		n += (unsigned)__builtin_popcountll(s->free_bits[w]);
	return n;
}

/* Slab s is new or becomes its bin's current: objects on the pages it gave
 * back may be handed out, so bin_give_back_free_pages looks at them all
 * again. */
static void given_back_forget(struct span *s)
{
	s->pages_given_back = 0;
	s->nfree_given_back = 0;
}

static void slab_init(struct span *s, unsigned cls)
{
	unsigned nregs = sc_nregs[cls];
	ingot_memset(s->free_bits, 0, sizeof(s->free_bits));
	for (unsigned w = 0; w < nregs / 64; w++)
		s->free_bits[w] = ~(uint64_t)0;
	if (nregs % 64)
		s->free_bits[nregs / 64] = ((uint64_t)1 << (nregs % 64)) - 1;
	s->nfree = (uint16_t)nregs;
	given_back_forget(s);
}

static void nonfull_push(struct bin *bin, struct span *s)
{
	s->prev = NULL;
	s->next = bin->nonfull;
	if (s->next)
		s->next->prev = s;
	bin->nonfull = s;
}

static void nonfull_remove(struct bin *bin, struct span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		bin->nonfull = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

/* Bytes of empty slabs a bin keeps: a little in default heaps (dirty
 * memory the page heap cannot purge), more in hardened ones, where a slab's
 * round trip through the page heap also protects and unprotects a page. */
#define BIN_EMPTY_BYTES MIN((size_t)64 << 10, CHUNK / 16)
#define BIN_EMPTY_BYTES_HARDENED MIN((size_t)1 << 20, CHUNK / 4)

/* Bins of classes from BIN_SURPLUS_MIN_SIZE up may keep more: a batch of
 * such blocks overflows a thread cache by whole slabs, and a program that
 * frees it and allocates it again sent those slabs through the page heap
 * every round (a third of batch-1k-8k's instructions). Empty slabs beyond a
 * bin's base budget (its surplus) stay while all the arena's bins together
 * keep at most BIN_SURPLUS_BYTES of them, so that what the bins hold back
 * from other sizes is bounded however many classes a program moves through
 * (realloc-str's growing strings: a budget of 1 MiB per bin cost it 37%
 * more peak RSS). bin_trim_surplus gives back those that sat unused. One
 * MiB: slab_may_wait already sends back the slabs of a growing program, so
 * the budget bounds only what a steady one keeps; half a MiB sent about a
 * third of batch-1k-8k's slabs through the page heap every round (197.7
 * instructions a malloc+free against 187.9, peak RSS 7.4 MiB against 7.5;
 * 2 MiB: 182.2 but 7.9 MiB, the slabs of classes that the next round uses
 * less standing idle while others take pages). */
#define BIN_SURPLUS_BYTES MIN((size_t)1 << 20, CHUNK / 4)

static size_t slab_bytes(unsigned sizeclass) { return (size_t)sc_slab_pages[sizeclass] << LG_PAGE; }

/* Empty slabs a bin keeps however long they go unused. */
static unsigned bin_nempty_base(unsigned sizeclass)
{
	size_t budget = ingot_hardening ? BIN_EMPTY_BYTES_HARDENED : BIN_EMPTY_BYTES;
	return (unsigned)MIN(UINT8_MAX, budget / slab_bytes(sizeclass));
}

/* Empty slabs bin may keep, its share of the surplus included. */
static unsigned bin_nempty_max(const struct bin *bin)
{
	unsigned base = bin->nempty_base;
	if (!bin_keeps_surplus(bin->sizeclass))
		return base;
	return (unsigned)MIN(UINT8_MAX, base + BIN_SURPLUS_BYTES / slab_bytes(bin->sizeclass));
}

/* Takes room for one more surplus slab of bin's class from heap's shared
 * budget; false when there is none. */
static bool surplus_take(struct bin *bin, struct pageheap *heap)
{
	if (!bin_keeps_surplus(bin->sizeclass) || bin->nempty >= bin_nempty_max(bin))
		return false;
	size_t bytes = slab_bytes(bin->sizeclass);
	size_t had = __atomic_fetch_add(&heap->bin_surplus_bytes, bytes, __ATOMIC_RELAXED);
	if (had + bytes <= BIN_SURPLUS_BYTES)
		return true;
	__atomic_fetch_sub(&heap->bin_surplus_bytes, bytes, __ATOMIC_RELAXED);
	return false;
}

/* Takes the newest empty slab off bin's list, giving its room back to
 * heap's surplus budget when it was surplus. */
static struct span *empty_pop(struct bin *bin, struct pageheap *heap)
{
	struct span *s = bin->empty;
	if (bin->nempty > bin->nempty_base)
		__atomic_fetch_sub(&heap->bin_surplus_bytes, slab_bytes(bin->sizeclass), __ATOMIC_RELAXED);
	bin->empty = s->next;
	bin->nempty--;
	s->next = NULL;
	return s;
}

static size_t fresh_takes(struct pageheap *heap)
{
	return __atomic_load_n(&heap->fresh_takes, __ATOMIC_RELAXED);
}

/* Whether empty slab s may wait in its bin for the bin's next use: not
 * when the heap took pages that were not resident since the slab came to
 * the bin empty. A program whose footprint grows (strings passing through
 * every class on their way up, realloc-str) then reuses the slabs that the
 * classes it left behind emptied, rather than fault fresh pages in beside
 * them. One that frees a batch and allocates it again (batch-1k-8k) sends
 * the slabs of its first round back (they came in while the heap grew),
 * takes them again from the heap without faults, and keeps them from then
 * on: its later rounds take no fresh pages. Hardened heaps keep their
 * budget as before: a slab's trip through the page heap protects and
 * unprotects its guard page. */
static bool slab_may_wait(const struct span *s, struct pageheap *heap)
{
	return ingot_hardening || s->fresh_mark == fresh_takes(heap);
}

/* A slab with free objects to become current, or NULL (out of memory). */
static struct span *slab_next(struct bin *bin, struct pageheap *heap)
{
	struct span *s = bin->nonfull;
	if (s) {
		nonfull_remove(bin, s);
		given_back_forget(s);
		return s;
	}
	if (bin->empty) {
		s = empty_pop(bin, heap);
		given_back_forget(s);
		bin->nempty_low = MIN(bin->nempty_low, bin->nempty);
		s->fresh_mark = fresh_takes(heap);
		return s;
	}
	unsigned cls = bin->sizeclass;
	/* Zero-on-free heaps check that reused objects are still zero, so
	 * their slabs must start zeroed. */
	bool zero = (ingot_hardening & HARDEN_ZERO_ON_FREE) != 0;
	s = pageheap_alloc(heap, sc_slab_pages[cls], PAGE, zero, cls);
	if (s) {
		slab_init(s, cls);
		s->fresh_mark = fresh_takes(heap);
		bin->nslabs++;
		bin->nslabs_made++;
	}
	return s;
}

/* Whether the slabs of class cls hold their free set in one bitmap word
 * and few objects (4 to 23), so that a flush's runs are short: the classes
 * above SC_FINE_MIN. */
static bool class_has_few_objects(unsigned cls) { return sc_size[cls] > SC_FINE_MIN; }

/* Pops up to n objects from slab s in address order into end[-1],
 * end[-2], ... (the lowest address at end[-1]); returns how many. */
static unsigned slab_pop(struct span *s, size_t size, void **end, unsigned n)
{
	void **out = end;
	unsigned nwords = (sc_nregs[s->sizeclass] + 63u) / 64u;
	for (unsigned w = 0; w < nwords && out > end - n; w++) {
		uint64_t bits = s->free_bits[w];
		uintptr_t first = s->base + (uintptr_t)w * 64 * size;
		if (bits == ~(uint64_t)0 && out - (end - n) >= 64) {
			for (uintptr_t p = first; p < first + 64 * size; p += size)
				*--out = (void *)p;
			s->free_bits[w] = 0;
			continue;
		}
		for (; bits && out > end - n; bits &= bits - 1)
			*--out = (void *)(first + (unsigned)__builtin_ctzll(bits) * size);
		s->free_bits[w] = bits;
	}
	unsigned got = (unsigned)(end - out);
	ingot_assert(got <= s->nfree);
	s->nfree = (uint16_t)(s->nfree - got);
	ingot_assert_expensive(bitmap_count(s) == s->nfree);
	return got;
}

void bin_init(struct bin *bin, unsigned sizeclass)
{
	_Static_assert(SC_NSMALL <= UINT8_MAX, "struct bin keeps its class in a byte");
	bin->nempty_base = (uint8_t)bin_nempty_base(sizeclass);
	/* Last: arena_bin reads it without the lock to see the bin is set. */
	__atomic_store_n(&bin->sizeclass, (uint8_t)sizeclass, __ATOMIC_RELEASE);
}

/* slab_pop for a slab of few objects (class_has_few_objects), whose free
 * set is one bitmap word: min(n, its free count) objects. A free set of
 * one stretch of bits, as a slab that came empty and is taken from its
 * lowest object up has (batch loops: nearly every refill), goes as
 * consecutive addresses: 4 instructions an object rather than 11 for a bit
 * at a time. */
static unsigned slab_pop_few(struct span *s, size_t size, void **end, unsigned n)
{
	unsigned got = MIN(n, (unsigned)s->nfree);
	uint64_t bits = s->free_bits[0];
	unsigned first = (unsigned)__builtin_ctzll(bits); /* the current slab has a free object */
	uint64_t stretch = bits >> first;
	if ((stretch & (stretch + 1)) == 0) {
		uintptr_t p = s->base + first * size;
		for (void **out = end - 1; out >= end - got; out--, p += size)
			*out = (void *)p;
		bits &= bits << (got - 1) << 1; /* the stretch less its lowest got; got >= 1 */
	} else {
		for (void **out = end - 1; out >= end - got; out--, bits &= bits - 1)
			*out = (void *)(s->base + (unsigned)__builtin_ctzll(bits) * size);
	}
	s->free_bits[0] = bits;
	s->nfree = (uint16_t)(s->nfree - got);
	ingot_assert_expensive(bitmap_count(s) == s->nfree);
	return got;
}

unsigned bin_alloc_batch(struct bin *bin, struct pageheap *heap, void **out, unsigned n)
{
	size_t size = sc_size[bin->sizeclass];
	bool few = class_has_few_objects(bin->sizeclass);
	unsigned got = 0;
	arch_lock_acquire(&bin->lock);
	while (got < n) {
		if (!bin->current && !(bin->current = slab_next(bin, heap)))
			break;
		void **end = out + n - got;
		got += few ? slab_pop_few(bin->current, size, end, n - got) : slab_pop(bin->current, size, end, n - got);
		if (bin->current->nfree == 0)
			bin->current = NULL;
	}
	bin->nmalloc += got;
	bin->nfills++;
	bin->nregs_live += got;
	arch_lock_release(&bin->lock);
	if (got < n) /* out of memory: what came goes to the front */
		ingot_memmove(out, out + n - got, got * sizeof(void *));
	return got;
}

bool bin_slot_free(struct bin *bin, const struct span *s, unsigned slot)
{
	arch_lock_acquire(&bin->lock);
	bool is_free = (s->free_bits[slot / 64] >> (slot % 64)) & 1;
	arch_lock_release(&bin->lock);
	return is_free;
}

/* Sets the bits of mask in word w of slab s's free set; reports a double
 * free when one is set already. */
static void slab_put_word(struct span *s, size_t size, unsigned w, uint64_t mask)
{
	uint64_t twice = s->free_bits[w] & mask;
	if (INGOT_UNLIKELY(twice))
		ingot_report_double_free((void *)(s->base + (w * 64 + (unsigned)__builtin_ctzll(twice)) * size));
	s->free_bits[w] |= mask;
}

/* Gives back the objects at the start of objs[0..n) that lie in slab s (at
 * least the first: it must), a bitmap word at a time; returns how many. A
 * pointer in s that is no object's start, or one freed twice, is reported.
 * Objects at consecutive addresses, as a burst of one class flushes them,
 * go as one mask after one slot check. */
static unsigned slab_free_run(struct bin *bin, struct span *s, void *const *objs, unsigned n)
{
	unsigned cls = bin->sizeclass, nregs = sc_nregs[cls];
	size_t size = sc_size[cls], bytes = (size_t)nregs * size;
	unsigned i = 0;
	while (i < n) {
		size_t offset = (uintptr_t)objs[i] - s->base;
		if (offset >= bytes && i > 0)
			break; /* the next slab's */
		unsigned slot = sizeclass_slot(cls, offset);
		if (INGOT_UNLIKELY(offset >= bytes || (size_t)slot * size != offset))
			ingot_report_invalid_ptr("free", objs[i]);
		/* The objects that follow at the next addresses up, up to the
		 * end of slot's bitmap word or of the slab, or else down, to
		 * the word's start. */
		bool up = i + 1 < n && (uintptr_t)objs[i + 1] == (uintptr_t)objs[i] + size;
		unsigned room = up ? MIN(64 - slot % 64, nregs - slot) : slot % 64 + 1;
		uintptr_t step = up ? size : 0 - size, next = (uintptr_t)objs[i] + step;
		void *const *q = objs + i + 1, *const *end = objs + i + MIN(room, n - i);
		for (; q < end && (uintptr_t)*q == next; q++)
			next += step;
		unsigned k = (unsigned)(q - (objs + i));
		unsigned low = up ? slot : slot + 1 - k;
		slab_put_word(s, size, slot / 64, (((uint64_t)2 << (k - 1)) - 1) << (low % 64));
		i += k;
	}
	s->nfree = (uint16_t)(s->nfree + i);
	ingot_assert(s->nfree <= nregs);
	ingot_assert_expensive(bitmap_count(s) == s->nfree);
	bin->ndalloc += i;
	bin->nregs_live -= i;
	return i;
}

/* slab_free_run for a slab of few objects (class_has_few_objects): one bit
 * an object into one mask, one bitmap update. The stretches of neighbouring
 * objects slab_free_run looks for are 2 objects long on average in such
 * slabs (sizeloop batch 1k-8k), and finding them cost 42 instructions a
 * stretch. A pointer in s that is no object's start, or one freed twice
 * (already free, or twice in the run), is reported. */
static unsigned slab_free_few(struct bin *bin, struct span *s, void *const *objs, unsigned n)
{
	unsigned cls = bin->sizeclass;
	size_t size = sc_size[cls], bytes = (size_t)sc_nregs[cls] * size;
	/* sizeclass_slot's factor, held in a register: read from its table
	 * each object, it cost two instructions of 19 an object. */
	uint64_t magic = sc_div_magic[cls];
	uint64_t mask = 0;
	unsigned i = 0;
	for (; i < n; i++) {
		size_t offset = (uintptr_t)objs[i] - s->base;
		if (offset >= bytes)
			break; /* the next slab's */
		unsigned slot = (unsigned)((offset * magic) >> 32); /* sizeclass_slot */
		uint64_t bit = (uint64_t)1 << slot;
		if (INGOT_UNLIKELY((size_t)slot * size != offset))
			ingot_report_invalid_ptr("free", objs[i]);
		if (INGOT_UNLIKELY(mask & bit))
			ingot_report_double_free(objs[i]);
		mask |= bit;
	}
	if (INGOT_UNLIKELY(i == 0))
		ingot_report_invalid_ptr("free", objs[0]);
	slab_put_word(s, size, 0, mask);
	s->nfree = (uint16_t)(s->nfree + i);
	ingot_assert(s->nfree <= sc_nregs[cls]);
	ingot_assert_expensive(bitmap_count(s) == s->nfree);
	bin->ndalloc += i;
	bin->nregs_live -= i;
	return i;
}

/* Files slab s, which had nfree_before free objects before a run came
 * back, where its free count now puts it. */
static void slab_refile(struct bin *bin, struct pageheap *heap, struct span *s, unsigned nfree_before)
{
	unsigned cls = bin->sizeclass;
	if (s == bin->current)
		return;
	if (nfree_before == 0)
		nonfull_push(bin, s);
	if (s->nfree == sc_nregs[cls]) {
		/* Empty: keep it as current if there is none, or among the
		 * empties while there is room, else give its pages back so that
		 * they can serve other sizes. */
		nonfull_remove(bin, s);
		if (!bin->current) {
			bin->current = s;
		} else if (slab_may_wait(s, heap) &&
		           (bin->nempty < bin->nempty_base || surplus_take(bin, heap))) {
			s->prev = NULL;
			s->next = bin->empty;
			bin->empty = s;
			bin->nempty++;
		} else {
			bin->nslabs--;
			pageheap_free(heap, s);
		}
	}
}

void bin_free_locked(struct bin *bin, struct pageheap *heap, struct span *s, void *p)
{
	unsigned nfree_before = s->nfree;
	slab_free_run(bin, s, &p, 1);
	slab_refile(bin, heap, s, nfree_before);
}

/* The slab of object p, from its chunk c. A flush's objects were objects
 * of class cls when the cache took them, so a page that holds no slab of
 * cls now (its slab emptied and went back to the heap, earlier in this
 * flush or before it) means p is freed twice: reported, not followed. */
static struct span *flushed_slab(struct chunk *c, uintptr_t p, unsigned cls)
{
	size_t page = chunk_page_index(p);
	if (INGOT_UNLIKELY(c->class_of[page] != cls)) /* the page map: one byte, no span record */
		ingot_report_double_free((void *)p);
	return c->span_of[page];
}

/* Under bin's lock: gives back the objects at the start of objs[0..n) that
 * belong to owner, slab by slab; returns how many. Inlined twice, with few
 * known (class_has_few_objects), so that neither loop tests it per slab. */
INGOT_INLINE unsigned free_runs_locked(struct bin *bin, struct pageheap *heap, const struct arena *owner,
                                       void *const *objs, unsigned n, bool few)
{
	unsigned i = 0;
	while (i < n) {
		struct chunk *c = pagemap_chunk((uintptr_t)objs[i]);
		if (c->arena != owner)
			break;
		struct span *s = flushed_slab(c, (uintptr_t)objs[i], bin->sizeclass);
		unsigned nfree_before = s->nfree;
		i += few ? slab_free_few(bin, s, objs + i, n - i) : slab_free_run(bin, s, objs + i, n - i);
		slab_refile(bin, heap, s, nfree_before);
	}
	return i;
}

/* free_runs_locked for objects in any order. Hardened mode hands a refill
 * out shuffled (HARDEN_RANDOM_SLOTS) and its quarantine mixes frees of many
 * slabs, so its flushes hold no runs of neighbours and seldom two objects
 * of one slab in a row: slab_free_run's search for runs, count and filing
 * a run cost some 150 instructions an object there. Here each object's bit
 * is set in its slab's bitmap and its free count raised at once; a slab is
 * filed only when it was full or is now empty, and looked up only when the
 * object is not in the last one (its chunk only when not in the last
 * one's). A pointer that is no object's start, or one freed twice (a bit
 * set already, by an earlier free or earlier in this batch), is reported
 * as slab_free_run does. */
static __attribute__((noinline)) unsigned free_scattered_locked(struct bin *bin, struct pageheap *heap,
                                                                const struct arena *owner, void *const *objs,
                                                                unsigned n)
{
	unsigned cls = bin->sizeclass, nregs = sc_nregs[cls];
	size_t size = sc_size[cls], bytes = (size_t)nregs * size;
	struct span *s = NULL;
	uintptr_t base = 0; /* s's first object; 0 for none: no object's offset from 0 is below bytes */
	struct chunk *c = NULL;
	uintptr_t chunk_number = UINTPTR_MAX; /* c's (p >> LG_CHUNK): c is owner's */
	unsigned i = 0;
	for (; i < n; i++) {
		uintptr_t p = (uintptr_t)objs[i];
		if (p - base >= bytes) {
			if (p >> LG_CHUNK != chunk_number) {
				c = pagemap_chunk(p);
				if (c->arena != owner)
					break;
				chunk_number = p >> LG_CHUNK;
			}
			s = flushed_slab(c, p, cls);
			base = s->base;
			if (INGOT_UNLIKELY(p - base >= bytes))
				ingot_report_invalid_ptr("free", objs[i]);
		}
		size_t offset = p - base;
		unsigned slot = sizeclass_slot(cls, offset);
		if (INGOT_UNLIKELY((size_t)slot * size != offset))
			ingot_report_invalid_ptr("free", objs[i]);
		uint64_t bit = (uint64_t)1 << (slot % 64), *word = &s->free_bits[slot / 64];
		if (INGOT_UNLIKELY(*word & bit))
			ingot_report_double_free(objs[i]);
		*word |= bit;
		unsigned nfree_before = s->nfree;
		s->nfree = (uint16_t)(nfree_before + 1);
		ingot_assert_expensive(bitmap_count(s) == s->nfree);
		if (INGOT_UNLIKELY(nfree_before == 0 || s->nfree == nregs)) {
			slab_refile(bin, heap, s, nfree_before);
			/* An empty slab may have gone back to the heap, and its
			 * chunk with it: both looked up again. */
			base = 0;
			chunk_number = UINTPTR_MAX;
		}
	}
	bin->ndalloc += i;
	bin->nregs_live -= i;
	return i;
}

unsigned bin_free_batch(struct bin *bin, struct pageheap *heap, void *const *objs, unsigned n)
{
	const struct arena *owner = pagemap_chunk((uintptr_t)objs[0])->arena;
	unsigned i;
	arch_lock_acquire(&bin->lock);
	bin->nflushes++;
	/* Slabs of few objects take any order already (one mask a slab),
	 * and their frequent flushes skip the hardening test. */
	if (class_has_few_objects(bin->sizeclass))
		i = free_runs_locked(bin, heap, owner, objs, n, true);
	else if (INGOT_UNLIKELY(ingot_hardening & HARDEN_RANDOM_SLOTS))
		i = free_scattered_locked(bin, heap, owner, objs, n);
	else
		i = free_runs_locked(bin, heap, owner, objs, n, false);
	arch_lock_release(&bin->lock);
	return i;
}

void bin_forget_slabs(struct bin *bin)
{
	arch_lock_acquire(&bin->lock);
	bin->current = NULL;
	bin->nonfull = NULL;
	bin->empty = NULL;
	bin->nempty = 0;
	bin->ndalloc += bin->nregs_live;
	bin->nregs_live = 0;
	bin->nslabs = 0;
	arch_lock_release(&bin->lock);
}

void bin_clear_counters(struct bin *bin)
{
	arch_lock_acquire(&bin->lock);
	bin->nmalloc = bin->ndalloc = bin->nfills = bin->nflushes = bin->nslabs_made = 0;
	arch_lock_release(&bin->lock);
}

/* Under the bin's lock: gives the empty current slab and the empty list
 * back to the heap. */
static void release_empty_locked(struct bin *bin, struct pageheap *heap)
{
	struct span *s = bin->current;
	if (s && s->nfree == sc_nregs[bin->sizeclass]) {
		bin->current = NULL;
		bin->nslabs--;
		pageheap_free(heap, s);
	}
	while (bin->empty) {
		bin->nslabs--;
		pageheap_free(heap, empty_pop(bin, heap));
	}
}

void bin_release_empty(struct bin *bin, struct pageheap *heap)
{
	arch_lock_acquire(&bin->lock);
	release_empty_locked(bin, heap);
	arch_lock_release(&bin->lock);
}

void bin_trim_surplus(struct bin *bin, struct pageheap *heap)
{
	arch_lock_acquire(&bin->lock);
	unsigned base = bin->nempty_base;
	unsigned unused = MIN(bin->nempty_low, bin->nempty);
	for (unsigned n = bin->nempty > base ? MIN(unused, bin->nempty - base) : 0; n > 0; n--) {
		bin->nslabs--;
		pageheap_free(heap, empty_pop(bin, heap));
	}
	bin->nempty_low = bin->nempty;
	arch_lock_release(&bin->lock);
}

bool bin_trim_idle(struct bin *bin, struct pageheap *heap, uint64_t *mark)
{
	arch_lock_acquire(&bin->lock);
	bool idle = bin->nmalloc == *mark;
	*mark = bin->nmalloc;
	if (idle)
		release_empty_locked(bin, heap);
	struct span *cur = bin->current;
	bool kept = bin->empty || (cur && cur->nfree == sc_nregs[bin->sizeclass]);
	arch_lock_release(&bin->lock);
	return kept;
}

static const char *slab_check(struct bin *bin, struct span *s)
{
	if (s->state != SPAN_SLAB || s->sizeclass != bin->sizeclass)
		return "slab of the wrong state or class in a bin";
	if (bitmap_count(s) != s->nfree || s->nfree > sc_nregs[bin->sizeclass])
		return "slab free count disagrees with its bitmap";
	size_t first = chunk_page_index(s->base), data_end = first + span_usable_pages(s);
	for (size_t i = first; i < first + s->npages; i++)
		if (s->chunk->span_of[i] != s ||
		    s->chunk->class_of[i] != (i < data_end ? bin->sizeclass : 0))
			return "page map disagrees with a slab";
	return NULL;
}

const char *bin_check(struct bin *bin)
{
	const char *err = NULL;
	arch_lock_acquire(&bin->lock);
	if (bin->current) {
		err = slab_check(bin, bin->current);
		if (!err && bin->current->nfree == 0)
			err = "bin's current slab is full";
	}
	for (struct span *s = bin->nonfull; s && !err; s = s->next) {
		err = slab_check(bin, s);
		if (!err && (s->nfree == 0 || s == bin->current))
			err = "full or current slab in a bin's nonfull list";
	}
	unsigned nempty = 0;
	for (struct span *s = bin->empty; s && !err; s = s->next, nempty++) {
		err = slab_check(bin, s);
		if (!err && s->nfree != sc_nregs[bin->sizeclass])
			err = "slab in a bin's empty list is not empty";
	}
	if (!err && (nempty != bin->nempty || nempty > bin_nempty_max(bin)))
		err = "bin's count of empty slabs is wrong";
	arch_lock_release(&bin->lock);
	return err;
}

/* ---- free pages of partly used slabs ------------------------------------ */

/* A slab whose objects were handed out and mostly freed again (a program
 * whose sizes shift: frag's 512..4K blocks, most of them replaced by small
 * ones) holds pages with no object in use, resident, while the slab stays:
 * frag peaked with its 640..4096-byte classes' slabs 14-20% full, 80 MiB
 * of 127 MiB of slabs free. Those pages go back to the OS when the heap
 * grows by a chunk (the arena calls this for every bin); a page given back
 * reads as zero when an object on it is handed out again. Only classes of
 * at most 8 objects a page in slabs of several pages: a page of more
 * objects is seldom all free, and a one-page slab all free goes back whole. */
_Static_assert(SC_SLAB_PAGES_MAX <= 64, "a slab's pages given back are bits of one word");

static bool class_gives_back_pages(unsigned cls)
{
	return sc_size[cls] >= PAGE / 8 && sc_slab_pages[cls] > 1;
}

static bool slots_free(const struct span *s, unsigned first, unsigned last)
{
	for (unsigned i = first; i <= last; i++)
		if (!(s->free_bits[i / 64] >> (i % 64) & 1))
			return false;
	return true;
}

/* Whether page p of slab s (class size, nregs objects) holds no object
 * in use; pages past the last object are never touched. */
static bool slab_page_free(const struct span *s, size_t size, unsigned nregs, size_t p)
{
	unsigned first = (unsigned)((p << LG_PAGE) / size);
	if (first >= nregs)
		return false;
	unsigned last = (unsigned)MIN((((p + 1) << LG_PAGE) - 1) / size, nregs - 1u);
	return slots_free(s, first, last);
}

/* Gives back slab s's free pages not given back already, a run of
 * neighbours per call. */
static size_t slab_give_back_free_pages(struct span *s, size_t size, unsigned nregs)
{
	size_t given = 0, run = 0;
	for (size_t p = 0; p <= s->npages; p++) {
		uint64_t bit = (uint64_t)1 << (p % 64);
		if (p < s->npages && !(s->pages_given_back & bit) && slab_page_free(s, size, nregs, p)) {
			s->pages_given_back |= bit;
			run++;
			continue;
		}
		if (run)
			pageheap_purge_range(s->base + ((p - run) << LG_PAGE), s->base + (p << LG_PAGE));
		given += run;
		run = 0;
	}
	s->nfree_given_back = s->nfree;
	return given;
}

size_t bin_give_back_free_pages(struct bin *bin)
{
	unsigned cls = __atomic_load_n(&bin->sizeclass, __ATOMIC_ACQUIRE);
	if (!cls || !class_gives_back_pages(cls) || !arch_lock_try(&bin->lock))
		return 0;
	size_t given = 0;
	/* A slab that has no more free objects than when it was last looked
	 * at has no new free page (its objects in use may have moved). */
	for (struct span *s = bin->nonfull; s; s = s->next)
		if (s->nfree > s->nfree_given_back)
			given += slab_give_back_free_pages(s, sc_size[cls], sc_nregs[cls]);
	arch_lock_release(&bin->lock);
	return given;
}
