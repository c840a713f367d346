/*
 * misuse.c — one heap misuse per run, for tests/programs/misuse.sh, which
 * runs each kind in a child process against each allocator (LD_PRELOAD)
 * and classifies how the process ended.
 *
 *   misuse KIND     commits the misuse, then goes on as a program would:
 *                   allocates and frees blocks of the same size, and exits
 *                   normally (so exit-time checks run too)
 *   misuse --list   prints the kinds, one a line
 *
 * Uses only the standard functions, but for the rows of the jemalloc API
 * (sdallocx, sallocx), found with dlsym: where the allocator lacks them the
 * program prints "n/a" and exits 0. On stdout it prints "harm: WHAT" when
 * the misuse visibly damaged the heap (a block handed out twice, calloc
 * memory not zero, malloc returning a forged address), and "survived" at
 * the end. It writes nothing to stderr: anything there comes from the
 * allocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 48            /* a class that is not a power of two */
#define LARGE (64 << 10)    /* large in every allocator here, below mmap */
#define BIG_FREED (1 << 20) /* the freed block a read reaches */
#define HUGE (8 << 20)

/* Stores through volatile pointers so that the compiler keeps every
 * misuse, however undefined. */
static void poke(void *p, size_t n, int byte)
{
	volatile unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)byte;
}

static void *opaque(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* A program's own memory, never allocated by the heap. */
static _Alignas(64) unsigned char foreign[4096];

/* A block the program still holds after freeing a pointer into it: no new
 * block may overlap it. */
static char *held;
static size_t held_size;

static void hold(char *p, size_t size)
{
	held = p;
	held_size = size;
}

/* After a misuse: n blocks of size, checked for one handed out twice or
 * one that overlaps the block held, then freed. */
static void aftermath(size_t size, size_t n)
{
	void **blocks = calloc(n, sizeof(void *));
	if (!blocks)
		return;
	for (size_t i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		for (size_t j = 0; j < i; j++)
			if (blocks[j] == blocks[i]) {
				printf("harm: block %p handed out twice\n", blocks[i]);
				blocks[i] = NULL; /* do not free it twice ourselves */
				break;
			}
		char *b = blocks[i];
		if (b && held && b < held + held_size && held < b + size)
			printf("harm: block %p overlaps the block %p still held\n", (void *)b, (void *)held);
		if (blocks[i])
			poke(blocks[i], size < 64 ? size : 64, 0x5a);
	}
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
	free(blocks);
}

/* Frees and allocates n blocks of size, one at a time, as a program does
 * between a misuse and the moment it matters: enough to move a freed block
 * past any quarantine. */
static void churn(size_t size, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(opaque(malloc(size)));
}

static void *jemalloc_fn(const char *name)
{
	void *fn = dlsym(RTLD_DEFAULT, name);
	if (!fn) {
		printf("n/a\n");
		exit(0);
	}
	return fn;
}

static void double_free_small(void)
{
	void *p = malloc(SMALL);
	free(p);
	free(opaque(p));
	aftermath(SMALL, 4);
}

static void double_free_interleaved(void)
{
	void *p = malloc(SMALL), *q = malloc(SMALL);
	free(p);
	free(q);
	free(opaque(p));
	aftermath(SMALL, 4);
}

/* The first free is long gone from any cache when the second comes. */
static void double_free_late(void)
{
	enum { N = 3000 };
	static void *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = malloc(SMALL);
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	free(opaque(blocks[0]));
	aftermath(SMALL, N);
}

static void double_free_large(void)
{
	void *p = malloc(LARGE);
	free(p);
	free(opaque(p));
	aftermath(LARGE, 4);
}

static void double_free_huge(void)
{
	void *p = malloc(HUGE);
	free(p);
	free(opaque(p));
	aftermath(HUGE, 2);
}

static void free_interior_small(void)
{
	char *p = malloc(SMALL);
	hold(p, SMALL);
	free(opaque(p + 16));
	aftermath(SMALL, 8);
}

static void free_misaligned_small(void)
{
	char *p = malloc(SMALL);
	hold(p, SMALL);
	free(opaque(p + 8));
	aftermath(SMALL, 8);
}

static void free_interior_large(void)
{
	char *p = malloc(LARGE);
	hold(p, LARGE);
	free(opaque(p + 4096));
	aftermath(LARGE, 4);
}

static void free_foreign(void)
{
	free(opaque(foreign + 64));
	aftermath(SMALL, 4);
}

static void realloc_interior(void)
{
	char *p = malloc(SMALL);
	hold(p, SMALL);
	void *q = realloc(opaque(p + 16), 100);
	poke(q, 8, 1);
	aftermath(SMALL, 8);
}

static void realloc_foreign(void)
{
	void *q = realloc(opaque(foreign + 64), 100);
	poke(q, 8, 1);
	aftermath(SMALL, 4);
}

static void sdallocx_interior(void)
{
	void (*sdallocx)(void *, size_t, int) = (void (*)(void *, size_t, int))jemalloc_fn("sdallocx");
	char *p = malloc(SMALL);
	hold(p, SMALL);
	sdallocx(opaque(p + 16), SMALL, 0);
	aftermath(SMALL, 8);
}

static void usable_size_interior(void)
{
	char *p = malloc(SMALL);
	size_t n = malloc_usable_size(opaque(p + 16));
	printf("malloc_usable_size(p + 16) = %zu\n", n);
	free(p);
	aftermath(SMALL, 4);
}

static void sallocx_interior(void)
{
	size_t (*sallocx)(const void *, int) = (size_t(*)(const void *, int))jemalloc_fn("sallocx");
	char *p = malloc(SMALL);
	printf("sallocx(p + 16) = %zu\n", sallocx(opaque(p + 16), 0));
	free(p);
	aftermath(SMALL, 4);
}

/* Writes 16 bytes just past what malloc_usable_size allows, then frees. */
static void overflow(size_t size)
{
	char *p = malloc(size);
	poke(p + malloc_usable_size(p), 16, 0x41);
	free(p);
	aftermath(size, 8);
}

/* Writes 16 bytes just before the second of two blocks allocated in a row
 * (a neighbour, as a rule, rather than the edge of a mapping). */
static void underflow(size_t size)
{
	char *first = malloc(size), *p = malloc(size);
	poke(p - 16, 16, 0x41);
	free(p);
	free(first);
	aftermath(size, 8);
}

static void overflow_small(void) { overflow(SMALL); }
static void overflow_large(void) { overflow(LARGE); }
static void underflow_small(void) { underflow(SMALL); }
static void underflow_large(void) { underflow(LARGE); }

/* Writes into a freed block, then allocates enough of its size to reuse it
 * (past any quarantine). */
static void write_after_free(size_t size, size_t n)
{
	char *p = malloc(size);
	free(p);
	poke(opaque(p), size < 64 ? size : 64, 0x41);
	churn(size, 200);
	aftermath(size, n);
}

static void write_after_free_small(void) { write_after_free(SMALL, 300); }
static void write_after_free_large(void) { write_after_free(LARGE, 16); }

static void read_after_free_large(void)
{
	volatile unsigned char *p = malloc(BIG_FREED);
	poke((void *)p, BIG_FREED, 7);
	free((void *)p);
	unsigned sum = 0;
	for (size_t i = 0; i < BIG_FREED; i += 4096)
		sum += p[i];
	printf("read %u\n", sum);
	aftermath(BIG_FREED, 2);
}

/* Dirties a freed block; a calloc that reuses it must still give zeros. */
static void calloc_after_corruption(void)
{
	char *p = malloc(SMALL);
	free(p);
	poke(opaque(p + SMALL - 8), 8, 0x41);
	churn(SMALL, 200);
	for (int i = 0; i < 300; i++) {
		unsigned char *q = calloc(1, SMALL);
		for (size_t j = 0; j < SMALL; j++)
			if (q[j]) {
				printf("harm: calloc returned non-zero memory at %p\n", (void *)q);
				return;
			}
	}
}

/* Overwrites the first word of a freed block with an address of the
 * program's, as an attacker would forge a free-list link. */
static void forged_link(void)
{
	char *p = malloc(SMALL);
	free(p);
	void *target = foreign + 128;
	memcpy(opaque(p), &target, sizeof target);
	churn(SMALL, 200);
	for (int i = 0; i < 300; i++) {
		void *q = malloc(SMALL);
		if ((unsigned char *)q >= foreign && (unsigned char *)q < foreign + sizeof foreign) {
			printf("harm: malloc returned the forged address %p\n", q);
			return;
		}
	}
}

static const struct {
	const char *name;
	void (*run)(void);
} kinds[] = {
	{"double-free-small", double_free_small},
	{"double-free-interleaved", double_free_interleaved},
	{"double-free-late", double_free_late},
	{"double-free-large", double_free_large},
	{"double-free-huge", double_free_huge},
	{"free-interior-small", free_interior_small},
	{"free-misaligned-small", free_misaligned_small},
	{"free-interior-large", free_interior_large},
	{"free-foreign", free_foreign},
	{"realloc-interior", realloc_interior},
	{"realloc-foreign", realloc_foreign},
	{"sdallocx-interior", sdallocx_interior},
	{"usable-size-interior", usable_size_interior},
	{"sallocx-interior", sallocx_interior},
	{"overflow-small", overflow_small},
	{"underflow-small", underflow_small},
	{"overflow-large", overflow_large},
	{"underflow-large", underflow_large},
	{"write-after-free-small", write_after_free_small},
	{"write-after-free-large", write_after_free_large},
	{"read-after-free-large", read_after_free_large},
	{"calloc-after-corruption", calloc_after_corruption},
	{"forged-link", forged_link},
};

int main(int argc, char **argv)
{
	size_t n = sizeof kinds / sizeof kinds[0];
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", kinds[i].name);
		return 0;
	}
	for (size_t i = 0; argc == 2 && i < n; i++)
		if (strcmp(argv[1], kinds[i].name) == 0) {
			setvbuf(stdout, NULL, _IONBF, 0); /* lines out before any abort */
			kinds[i].run();
			printf("survived\n");
			return 0;
		}
	printf("usage: misuse KIND | --list\n");
	return 2;
}
