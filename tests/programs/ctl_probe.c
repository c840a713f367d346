/*
 * ctl_probe.c — asks a jemalloc (Debian's, or ingot's stand-in) about mallctl
 * names, for tests/programs/ctl_compat.sh, which runs it on both and compares.
 *
 *   ctl_probe names FILE   for each name|type|access line of FILE (<i> read
 *                          as 0, <j> as 0; stats.arenas.<i> also as
 *                          MALLCTL_ARENAS_ALL), prints what the name answers:
 *                          mallctlnametomib's code, then a read's code and,
 *                          when the read succeeded or was EINVAL, the length
 *                          the library reports (asked with room for 64 bytes,
 *                          so EINVAL plus the length gives the value's size)
 *   ctl_probe version      prints mallctl("version")
 *   ctl_probe decay        run with MALLOC_CONF=dirty_decay_ms:-1: freed
 *                          pages stay in stats.arenas.<i>.pdirty until
 *                          arena.<i>.purge; exit status 1 when they do not
 */
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int probe_one(const char *name, void *lookup_ptr)
{
	size_t mib[16], miblen = 16;
	int tomib = mallctlnametomib(name, mib, &miblen);
	unsigned char buf[64];
	size_t len = sizeof(buf);
	void *newp = NULL;
	size_t newlen = 0;
	if (strcmp(name, "arenas.lookup") == 0) { /* a read needs the pointer */
		newp = &lookup_ptr;
		newlen = sizeof(lookup_ptr);
	}
	int rc = mallctl(name, buf, &len, newp, newlen);
	printf("%s nametomib=%d read=%d", name, tomib, rc);
	if (rc == 0 || rc == EINVAL)
		printf(" len=%zu", len);
	printf("\n");
	return 0;
}

/* Replaces the first "<x>" of pattern by value. */
static void fill(char *out, size_t room, const char *pattern, const char *x, const char *value)
{
	const char *at = strstr(pattern, x);
	if (!at) {
		snprintf(out, room, "%s", pattern);
		return;
	}
	snprintf(out, room, "%.*s%s%s", (int)(at - pattern), pattern, value, at + strlen(x));
}

static int names(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return 2;
	}
	void *block = malloc(100);
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		char *bar = strchr(line, '|');
		if (!bar)
			continue;
		*bar = '\0';
		char a[256], b[256];
		fill(a, sizeof(a), line, "<i>", "0");
		fill(b, sizeof(b), a, "<j>", "0");
		probe_one(b, block);
		if (strncmp(line, "stats.arenas.<i>.", 17) == 0) {
			fill(a, sizeof(a), line, "<i>", "4096");
			fill(b, sizeof(b), a, "<j>", "0");
			probe_one(b, block);
		}
	}
	fclose(f);
	free(block);
	return 0;
}

static size_t read_size(const char *name)
{
	size_t v = 0, len = sizeof(v);
	if (mallctl(name, &v, &len, NULL, 0) != 0)
		fprintf(stderr, "ctl_probe: cannot read %s\n", name);
	return v;
}

static void refresh(void)
{
	uint64_t e = 1;
	mallctl("epoch", NULL, NULL, &e, sizeof(e));
}

static int decay(void)
{
	unsigned arena;
	size_t len = sizeof(arena);
	char pdirty[64], purge[64];
	if (mallctl("thread.arena", &arena, &len, NULL, 0) != 0)
		return 2;
	snprintf(pdirty, sizeof(pdirty), "stats.arenas.%u.pdirty", arena);
	snprintf(purge, sizeof(purge), "arena.%u.purge", arena);
	mallctl(purge, NULL, NULL, NULL, 0);
	refresh();
	size_t before = read_size(pdirty), page = read_size("arenas.page");
	/* 32 blocks of 256 KiB and one of 6 MiB, touched, then freed */
	enum { N = 32 };
	void *blocks[N + 1];
	size_t freed = 0;
	for (int i = 0; i <= N; i++) {
		size_t size = i < N ? 256 << 10 : 6 << 20;
		blocks[i] = mallocx(size, MALLOCX_TCACHE_NONE);
		memset(blocks[i], 1, size);
		freed += size;
	}
	for (int i = 0; i <= N; i++)
		dallocx(blocks[i], MALLOCX_TCACHE_NONE);
	/* much later activity must not purge them */
	for (int i = 0; i < 200000; i++)
		free(malloc(64 + i % 512));
	refresh();
	size_t after = read_size(pdirty);
	mallctl(purge, NULL, NULL, NULL, 0);
	refresh();
	size_t purged = read_size(pdirty);
	printf("decay: pdirty %zu before, %zu after freeing %zu pages, %zu after %s\n", before, after,
	       freed / page, purged, purge);
	if (after < before + freed / page || purged != 0) {
		printf("decay: FAIL: with dirty_decay_ms:-1 freed pages must stay dirty until a purge\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "names") == 0)
		return names(argv[2]);
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		const char *v;
		size_t len = sizeof(v);
		if (mallctl("version", &v, &len, NULL, 0) != 0)
			return 1;
		printf("%s\n", v);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "decay") == 0)
		return decay();
	fprintf(stderr, "usage: ctl_probe names FILE | version | decay\n");
	return 2;
}
