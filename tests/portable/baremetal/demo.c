/*
 * demo.c — a freestanding Cortex-M4 program on ingot's bare-metal build
 * (build/baremetal/libingot.a): no C library, no start files. It is the
 * example of what a firmware links, the program whose size the README
 * quotes, and a smoke test: it allocates, exhausts the region, frees and
 * allocates again, checks the heap, and prints "N passed, N failed".
 *
 * The region comes from the linker script (__ingot_heap_start/_end). Output
 * and exit are Linux system calls, so that qemu-arm (user mode) can run it
 * (make test-baremetal); on a board, demo_write would drive a UART or
 * semihosting and demo_exit would stop or reset.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

/* ---- what a freestanding program provides ----------------------------------- */

/* GCC may call these four even in freestanding code (and ingot's core does
 * for large copies). Built with -fno-tree-loop-distribute-patterns so that
 * the loops are not turned back into calls to themselves. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* ---- output and exit: Linux system calls (qemu-arm) -------------------------- */

static long linux_syscall3(long nr, long a, long b, long c)
{
	register long r0 __asm__("r0") = a;
	register long r1 __asm__("r1") = b;
	register long r2 __asm__("r2") = c;
	register long r7 __asm__("r7") = nr;
	__asm__ __volatile__("svc #0" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r7) : "memory");
	return r0;
}

static void demo_write(const char *s, size_t len) { linux_syscall3(4 /* write */, 1, (long)s, (long)len); }

static _Noreturn void demo_exit(int status)
{
	for (;;)
		linux_syscall3(248 /* exit_group */, status, 0, 0);
}

static void put(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	demo_write(s, n);
}

static void put_uint(unsigned long v)
{
	char buf[24];
	size_t i = sizeof buf;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	demo_write(buf + i, sizeof buf - i);
}

/* ingot's hooks for messages and aborts (the others keep their defaults). */
void ingot_region_write(const char *msg, size_t len);
_Noreturn void ingot_region_abort(void);
int ingot_region_errno(void);

void ingot_region_write(const char *msg, size_t len) { demo_write(msg, len); }

_Noreturn void ingot_region_abort(void)
{
	put("demo: ingot aborted\n");
	demo_exit(134);
}

/* ---- checks ---------------------------------------------------------------- */

static unsigned passed, failed;

static void check(bool ok, const char *what)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		put("FAIL ");
		put(what);
		put("\n");
	}
}

static void fill(unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(tag * 13 + i);
}

static bool intact(const unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(tag * 13 + i))
			return false;
	return true;
}

/* Blocks of an exhaustion run, linked through their first word so that the
 * demo needs no array of its own (its bss stays ingot's). The pattern
 * starts after the link. */
struct block {
	struct block *next;
	unsigned char data[];
};

/* Allocates size-byte blocks until none is left; returns how many and the
 * list of them. */
static unsigned exhaust(size_t size, struct block **list, bool *clean)
{
	unsigned n = 0;
	*list = NULL;
	for (;; n++) {
		struct block *b = ingot_malloc(size);
		if (b == NULL) {
			*clean = ingot_region_errno() == 12; /* ENOMEM */
			return n;
		}
		fill(b->data, size - sizeof *b, n);
		b->next = *list;
		*list = b;
	}
}

/* Frees a list from exhaust; returns whether every block was intact. */
static bool release(struct block *list, unsigned n, size_t size)
{
	bool ok = true;
	while (list) {
		struct block *next = list->next;
		ok = ok && intact(list->data, size - sizeof *list, --n);
		ingot_free(list);
		list = next;
	}
	return ok;
}

extern char __ingot_heap_start[], __ingot_heap_end[];

static bool in_region(const void *p) { return (const char *)p >= __ingot_heap_start && (const char *)p < __ingot_heap_end; }

int main(void);

int main(void)
{
	put("ingot bare-metal demo: region of ");
	put_uint((unsigned long)(__ingot_heap_end - __ingot_heap_start) / 1024);
	put(" KiB\n");

	static const size_t sizes[] = {1, 24, 100, 700, 3000, 16000, 40000, 90000};
	void *p[8];
	bool ok = true;
	for (unsigned i = 0; i < 8; i++) {
		p[i] = ingot_malloc(sizes[i]);
		ok = ok && p[i] != NULL && in_region(p[i]) && ((uintptr_t)p[i] & 15) == 0;
		if (p[i])
			fill(p[i], sizes[i], i);
	}
	check(ok, "malloc of mixed sizes, in the region, 16-byte aligned");
	check(ingot_check() == 0, "ingot_check with live blocks");
	ok = true;
	for (unsigned i = 0; i < 8; i++) {
		ok = ok && p[i] && intact(p[i], sizes[i], i);
		ingot_free(p[i]);
	}
	check(ok, "contents intact");

	unsigned char *c = ingot_calloc(100, 10);
	ok = c != NULL;
	for (unsigned i = 0; ok && i < 1000; i++)
		ok = c[i] == 0;
	check(ok, "calloc zeroes");
	c = ingot_realloc(c, 5000);
	check(c != NULL && c[999] == 0, "realloc keeps contents");
	ingot_free(c);

	void *a = ingot_aligned_alloc(4096, 100);
	check(a != NULL && ((uintptr_t)a & 4095) == 0, "aligned_alloc(4096)");
	ingot_free(a);

	bool clean;
	struct block *list;
	unsigned first = exhaust(64, &list, &clean);
	check(first > 1000, "thousands of 64-byte blocks");
	check(clean, "exhaustion returns NULL with ENOMEM");
	check(ingot_check() == 0, "ingot_check when full");
	check(release(list, first, 64), "blocks intact when full");
	unsigned second = exhaust(64, &list, &clean);
	check(second == first, "everything freed is reused");
	check(release(list, second, 64), "blocks intact the second time");

	unsigned big = exhaust(70000, &list, &clean);
	check(big >= 1 && clean, "blocks bigger than a chunk, until none is left");
	check(release(list, big, 70000), "big blocks intact");
	check(ingot_check() == 0, "ingot_check at the end");

	struct ingot_stats s;
	ingot_stats_get(&s);
	put("mapped ");
	put_uint((unsigned long)s.mapped / 1024);
	put(" KiB, metadata ");
	put_uint((unsigned long)s.metadata / 1024);
	put(" KiB\n");

	put_uint(passed);
	put(" passed, ");
	put_uint(failed);
	put(" failed\n");
	return failed == 0 ? 0 : 1;
}

/* ---- start-up ------------------------------------------------------------------ */

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
void Reset_Handler(void);

void Reset_Handler(void)
{
	/* .data from its load address (flash) unless it already is in place. */
	if ((uintptr_t)_sidata != (uintptr_t)_sdata)
		for (uint32_t *s = _sidata, *d = _sdata; d < _edata;)
			*d++ = *s++;
	for (uint32_t *d = _sbss; d < _ebss;)
		*d++ = 0;
	demo_exit(main());
}

/* The vector table a Cortex-M core boots from: initial stack, reset. */
__attribute__((section(".isr_vector"), used)) static void *const vectors[] = {
    _estack,
    (void *)Reset_Handler,
};
