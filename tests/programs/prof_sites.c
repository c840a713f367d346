/*
 * prof_sites.c — allocation sites of known sizes for tests/programs/prof_tools.sh
 * (issue 14). Linked with -ljemalloc, it runs on Debian's jemalloc and on
 * ingot's lib/libjemalloc.so.2 alike; start it with MALLOC_CONF=prof:true.
 *
 * Live at the dump, each site in its own function:
 *   site_small    64 B blocks          SMALL_BYTES   (40% of the sampled live bytes)
 *   site_medium   3072 B blocks        MEDIUM_BYTES  (24%)
 *   site_large    256 KiB blocks       LARGE_BYTES   (16%)
 *   site_worker   1 KiB blocks         WORKER_BYTES  (20%), on a second thread
 *                 that lives until the dumps are written
 *   site_inactive 4 KiB blocks, made while prof.active was false: never sampled
 * and site_freed's 4 KiB blocks, all freed before the dump. The sizes are size
 * classes of both allocators, so requested and usable bytes agree.
 *
 * Usage: prof_sites DUMP_PATH [PPROF_PATH]
 *   writes mallctl("prof.dump", DUMP_PATH), then mallctl("prof.dump_pprof",
 *   PPROF_PATH) when a path is given, then two dumps with a NULL path (the
 *   automatic names <prefix>.<pid>.<seq>.m<mseq>.heap), and exits without
 *   freeing (prof_final writes its file then). Prints, one per line:
 *   "pid N", "site NAME BYTES THREAD" for each sampled live site (THREAD:
 *   main or worker), and the return
 *   value of each mallctl: "rc NAME VALUE". Exits 1 when a step that every
 *   profiling allocator supports fails, 2 when opt.prof is off.
 */
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
/* 500 MiB live: at the default rate (2^19) the sites get about 400, 240,
 * 160 and 200 samples, so a share's estimate is within 2 points (one
 * sigma). */
#define SMALL_BYTES  (200 * MIB)
#define MEDIUM_BYTES (120 * MIB)
#define LARGE_BYTES  (80 * MIB)
#define WORKER_BYTES (100 * MIB)
#define HIDDEN_BYTES (80 * MIB)
#define HIDDEN_SIZE  4096

#if defined(__clang__)
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif

/* Every block is stored here last, so that no call can be dropped. */
static void *volatile sink;
/* site_freed's blocks (a static array: an allocated one would be a site). */
static void *freed_blocks[HIDDEN_BYTES / HIDDEN_SIZE];

/* A macro, not a function: each site's own function must be the caller of
 * malloc (jeprof attributes inlined frames to the inlined function). */
#define FILL(size, bytes, keep)                             \
	do {                                                \
		for (size_t i = 0; i < (bytes) / (size); i++) { \
			void *p = malloc(size);             \
			if (p == NULL)                      \
				return false;               \
			if ((keep) != NULL)                 \
				((void **)(keep))[i] = p;   \
			sink = p;                           \
		}                                           \
		return true;                                \
	} while (0)

SITE static bool site_small(void)
{
	FILL(64, SMALL_BYTES, NULL);
}

SITE static bool site_medium(void)
{
	FILL(3072, MEDIUM_BYTES, NULL);
}

SITE static bool site_large(void)
{
	FILL(256 << 10, LARGE_BYTES, NULL);
}

SITE static bool site_worker(void)
{
	FILL(1024, WORKER_BYTES, NULL);
}

SITE static bool site_inactive(void)
{
	FILL(HIDDEN_SIZE, HIDDEN_BYTES, NULL);
}

SITE static bool site_freed(void)
{
	FILL(HIDDEN_SIZE, HIDDEN_BYTES, freed_blocks);
}

/* The worker allocates its site, then waits until main has dumped, so that
 * both allocators still hold its thread's data in the dumps. */
static pthread_barrier_t phase;

static void *worker(void *arg)
{
	*(bool *)arg = site_worker();
	pthread_barrier_wait(&phase); /* allocated */
	pthread_barrier_wait(&phase); /* dumped */
	return NULL;
}

static int set_active(bool on)
{
	return mallctl("prof.active", NULL, NULL, &on, sizeof on);
}

static int dump(const char *ctl, const char *path)
{
	int rc = mallctl(ctl, NULL, NULL, &path, sizeof path);
	printf("rc %s%s %d\n", ctl, path == NULL ? "(NULL)" : "", rc);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DUMP_PATH [PPROF_PATH]\n", argv[0]);
		return 1;
	}
	bool prof = false;
	size_t len = sizeof prof;
	if (mallctl("opt.prof", &prof, &len, NULL, 0) != 0 || !prof) {
		fprintf(stderr, "prof_sites: opt.prof is off (run with MALLOC_CONF=prof:true)\n");
		return 2;
	}
	printf("pid %d\n", (int)getpid());

	int rc = set_active(false);
	printf("rc prof.active(false) %d\n", rc);
	bool ok = rc == 0 && site_inactive();
	rc = set_active(true);
	printf("rc prof.active(true) %d\n", rc);
	pthread_t thread;
	bool worker_ok = false;
	if (pthread_barrier_init(&phase, NULL, 2) != 0 ||
	    pthread_create(&thread, NULL, worker, &worker_ok) != 0) {
		fprintf(stderr, "prof_sites: cannot start the worker thread\n");
		return 1;
	}
	pthread_barrier_wait(&phase);
	ok = ok && rc == 0 && worker_ok && site_freed() && site_small() && site_medium() &&
	     site_large();
	if (!ok) {
		fprintf(stderr, "prof_sites: allocation or prof.active failed: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < sizeof freed_blocks / sizeof freed_blocks[0]; i++)
		free(freed_blocks[i]);
	printf("site site_small %zu main\nsite site_medium %zu main\nsite site_large %zu main\n"
	       "site site_worker %zu worker\n",
	       SMALL_BYTES, MEDIUM_BYTES, LARGE_BYTES, WORKER_BYTES);

	ok = dump("prof.dump", argv[1]) == 0;
	if (argc == 3)
		dump("prof.dump_pprof", argv[2]); /* ingot's extension: ENOENT elsewhere */
	ok = ok && dump("prof.dump", NULL) == 0 && dump("prof.dump", NULL) == 0;
	pthread_barrier_wait(&phase);
	pthread_join(thread, NULL);
	fflush(stdout);
	return ok ? 0 : 1;
}
