/*
 * prog_jemalloc.c — a program written for jemalloc, built with
 * `pkg-config --cflags --libs jemalloc` (tests/install/test_install.sh).
 * Usage: prog_jemalloc LIBRARY
 * Checks that mallocx is from LIBRARY (ingot's installed libjemalloc.so.2)
 * and behaves as jemalloc's manual says. Exits 0 on success.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what)
{
	fprintf(stderr, "prog_jemalloc: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: prog_jemalloc LIBRARY");
	Dl_info info;
	if (!dladdr((void *)&mallocx, &info) || !info.dli_fname)
		return fail("dladdr(mallocx) failed");
	char *want = realpath(argv[1], NULL), *got = realpath(info.dli_fname, NULL);
	if (!want || !got || strcmp(want, got) != 0) {
		fprintf(stderr, "prog_jemalloc: mallocx is from %s, expected %s\n", info.dli_fname,
		        argv[1]);
		return 1;
	}
	unsigned char *p = mallocx(1000, MALLOCX_ALIGN(64) | MALLOCX_ZERO);
	if (!p || (size_t)p % 64 != 0)
		return fail("mallocx(1000, MALLOCX_ALIGN(64) | MALLOCX_ZERO)");
	for (size_t i = 0; i < 1000; i++)
		if (p[i] != 0)
			return fail("MALLOCX_ZERO block not zero");
	if (sallocx(p, 0) < 1000 || nallocx(1000, MALLOCX_ALIGN(64)) != sallocx(p, 0))
		return fail("sallocx / nallocx");
	memset(p, 7, 1000);
	p = rallocx(p, 100000, MALLOCX_ALIGN(64));
	if (!p || (size_t)p % 64 != 0 || p[999] != 7)
		return fail("rallocx");
	sdallocx(p, 100000, MALLOCX_ALIGN(64));
	const char *version = NULL;
	size_t len = sizeof(version);
	if (mallctl("version", &version, &len, NULL, 0) != 0 || !version ||
	    strncmp(version, "5.3.0", 5) != 0)
		return fail("mallctl(\"version\")");
	printf("prog_jemalloc: mallocx from %s, version %s: ok\n", got, version);
	free(want);
	free(got);
	return 0;
}
