/*
 * tcache_inline.h — the allocation fast paths.
 *
 * malloc: one TLS load, a table lookup, a pop that hands out the stack's copy
 * of its newest object. free: the page's class from the page map's class
 * window, a push. Everything else — no cache yet, an empty or full stack, a
 * large block, a foreign pointer — is one unlikely branch to a slow path in
 * tcache.c.
 *
 * A malloc/free pair that reuses one block was bound by the chain of
 * dependent loads from one call to the next. The class window (one load for
 * free's class, was two) and the hot copy (malloc's result waits only for
 * the copy the last free stored, not for top and then the object under it)
 * each shortened it, as measured when they came in; cutting the chain in
 * half once more (a free that leaves hot alone) did not make the loop any
 * faster, so the chain no longer bounds it alone.
 */
#ifndef INGOT_TCACHE_INLINE_H
#define INGOT_TCACHE_INLINE_H

#include "pagemap.h"
#include "sizeclass.h"
#include "tcache.h"

/* The calling thread's stack at byte offset offset of its stacks (the
 * first thing in its tcache_tls). */
#if INGOT_TLS_FS
/* As an %fs-relative address: the offset plus the state's own offset from
 * the thread pointer, added straight from the GOT (one instruction; the
 * linker makes it an immediate add in executables). The asm also keeps the
 * address in one register, rather than re-derived per field. */
#define TCACHE_TLS_SEG __seg_fs
typedef struct tcache_stack TCACHE_TLS_SEG tcache_tls_stack;
INGOT_FAST tcache_tls_stack *tcache_stack_at(uintptr_t offset)
{
	_Static_assert(__builtin_offsetof(struct tcache_tls, cache.stacks) == 0,
	               "tcache_stack_at adds offsets to the state's address");
	__asm__("addq tcache_tls@gottpoff(%%rip), %0" : "+r"(offset));
	return (tcache_tls_stack *)offset;
}
#else
#define TCACHE_TLS_SEG
typedef struct tcache_stack tcache_tls_stack;
/* The empty asm pins the address in a register: without it the compiler
 * re-derives the TLS address (another TLS load and add) after every store
 * through it. */
INGOT_FAST tcache_tls_stack *tcache_stack_at(uintptr_t offset)
{
	char *stack = (char *)tcache_tls.cache.stacks + offset;
	__asm__("" : "+r"(stack));
	return (tcache_tls_stack *)stack;
}
#endif

/* The calling thread's stack of class cls. */
INGOT_FAST tcache_tls_stack *tcache_stack_of(size_t cls)
{
	return tcache_stack_at(cls * sizeof(struct tcache_stack));
}

/* The calling thread's stack for a small request of size: its byte offset
 * comes from a table, which spares the shift of the class. */
INGOT_FAST tcache_tls_stack *tcache_stack_for(size_t size)
{
	_Static_assert(sizeof(struct tcache_stack) == 64, "sc_small_stack_offset assumes 64-byte bins");
	return tcache_stack_at(sc_small_stack_offset[(size + SC_QUANTUM - 1) >> 4]);
}

/* Loads p straight into the register malloc returns it in. Left to itself
 * GCC puts it in another and copies it at the end: one instruction more on
 * every hit, to spare the cold event path a copy. */
INGOT_FAST void *tcache_in_result_register(void *p)
{
#if defined(__x86_64__)
	__asm__("" : "+a"(p));
#endif
	return p;
}

INGOT_FAST void *tcache_malloc(size_t size)
{
	if (INGOT_LIKELY(size <= SC_SMALL_MAX)) {
		tcache_tls_stack *stack = tcache_stack_for(size);
		void *p = tcache_in_result_register(stack->hot);
		if (INGOT_LIKELY(p != NULL)) {
			void **top = stack->top - 1;
			stack->top = top;
			stack->hot = top[-1];
			*(tcache_word *)p = 0; /* the freed mark (tcache.h) */
			if (INGOT_UNLIKELY(--stack->events_left == 0))
				return tcache_event(p);
			return p;
		}
	}
	return tcache_alloc_slow(size);
}

/* Whether p has an address bit that no object of stack's class has. On
 * x86-64 a test against the stack's field in memory: GCC would copy p and
 * AND, one instruction more on the free fast path. Not with clang: it drops
 * the %fs segment of a __seg_fs memory operand in asm (the sanitizer and
 * AFL builds read an absolute address and crash). */
INGOT_FAST bool tcache_misaligned(tcache_tls_stack *stack, const void *p)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(__clang__)
	bool misaligned;
	__asm__("testq %1, %2" : "=@ccnz"(misaligned) : "r"(p), "m"(stack->misaligned));
	return misaligned;
#else
	return ((uintptr_t)p & stack->misaligned) != 0;
#endif
}

/* Moves stack's top up by one. On x86-64 an add to the field in memory:
 * GCC would add to its copy of top in a register and store that, one
 * instruction more on the free fast path (not with clang, as above). */
INGOT_FAST void tcache_top_up(tcache_tls_stack *stack, void **top)
{
#if defined(__x86_64__) && !defined(__clang__)
	(void)top;
	__asm__("addq %1, %0" : "+m"(stack->top) : "i"(sizeof(void *)));
#else
	stack->top = top + 1;
#endif
}

/* Pushes p on stack, or says false when the stack is full, p is misaligned
 * for the class, or p carries the freed mark (a double free, or a program
 * that wrote the mark: the slow path tells them apart). The mark is read
 * only once the stack is known to have room, so p is a small object's
 * address, not NULL or a foreign one. */
INGOT_FAST bool tcache_stack_push_fast(tcache_tls_stack *stack, void *p)
{
	void **top = stack->top;
	if (INGOT_UNLIKELY(top == stack->limit || tcache_misaligned(stack, p) ||
	                   *(tcache_word *)p == TCACHE_FREED_MARK))
		return false;
	*(tcache_word *)p = TCACHE_FREED_MARK;
	*top = p;
	tcache_top_up(stack, top);
	stack->hot = p;
	return true;
}

/* Frees p, an object of class cls (from the page map or a checked size), or
 * anything else with cls 0. */
INGOT_FAST void tcache_free_small(void *p, unsigned cls)
{
	if (INGOT_UNLIKELY(!tcache_stack_push_fast(tcache_stack_of(cls), p)))
		tcache_free_slow(p);
}

INGOT_FAST void tcache_free(void *p)
{
	tcache_free_small(p, pagemap_class((uintptr_t)p));
}

/* Sized free of p (free_sized, sdallocx, sized delete with alignment at
 * most SC_QUANTUM): the stack comes from the size, so the page map is read
 * only to confirm the class, off the path that finds the stack. A size in
 * the page's class is one free_sized accepts (no canary here: hardened
 * heaps have no fast path). Returns false, having done nothing, for
 * anything else — a class that does not match, a full stack, NULL, a big
 * size — which the caller hands to the checked path. */
INGOT_FAST bool tcache_free_sized(void *p, size_t size)
{
	if (INGOT_UNLIKELY(size - 1 >= SC_SMALL_MAX))
		return false;
	unsigned cls = sizeclass_small(size);
	if (INGOT_UNLIKELY(pagemap_class((uintptr_t)p) != cls))
		return false;
	return tcache_stack_push_fast(tcache_stack_of(cls), p);
}

#endif
