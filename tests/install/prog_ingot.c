/*
 * prog_ingot.c — a C program built with `pkg-config --cflags --libs ingot`
 * (tests/install/test_install.sh). Usage: prog_ingot LIBRARY
 * Checks that malloc is ingot's, from LIBRARY (the installed libingot.so),
 * and that the ingot_* API works. Exits 0 on success.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ingot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB ((size_t)1 << 20)

static int fail(const char *what)
{
	fprintf(stderr, "prog_ingot: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: prog_ingot LIBRARY");
	Dl_info info;
	if (!dladdr((void *)&malloc, &info) || !info.dli_fname)
		return fail("dladdr(malloc) failed");
	char *want = realpath(argv[1], NULL), *got = realpath(info.dli_fname, NULL);
	if (!want || !got || strcmp(want, got) != 0) {
		fprintf(stderr, "prog_ingot: malloc is from %s, expected %s\n", info.dli_fname, argv[1]);
		return 1;
	}
	struct ingot_stats before, during;
	ingot_stats_get(&before);
	char *p = malloc(10 * MiB);
	if (!p)
		return fail("malloc(10 MiB) failed");
	memset(p, 1, 10 * MiB);
	ingot_stats_get(&during);
	if (during.allocated < before.allocated + 10 * MiB)
		return fail("ingot_stats_get does not count the malloc");
	free(p);
	void *q = ingot_aligned_alloc(4096, 100);
	if (!q || (size_t)q % 4096 != 0)
		return fail("ingot_aligned_alloc(4096, 100)");
	ingot_free_aligned_sized(q, 4096, 100);
	if (ingot_check() != 0)
		return fail("ingot_check() failed");
	printf("prog_ingot: malloc from %s, ingot %s: ok\n", got, INGOT_VERSION);
	free(want);
	free(got);
	return 0;
}
