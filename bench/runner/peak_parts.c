/* peak_parts.so: preloaded after ingot, samples ingot's statistics every
 * 2 ms from a thread of its own and prints at exit, to stderr, what the
 * resident memory was made of at the sample where it was highest:
 *
 *   peak_parts: resident=<MiB> active=<MiB> allocated=<MiB> metadata=<MiB>
 *       dirty=<MiB> slabs=<MiB> slab_regions=<MiB> arenas=<n> rss=<MiB>
 *
 * resident, active, allocated and metadata are stats.*; dirty sums every
 * arena's pdirty (free pages not yet purged, cached large and huge blocks
 * included); slabs is the bytes of the slabs in use (curslabs x slab size)
 * and slab_regions the bytes of the objects handed out of them (curregs x
 * size: live objects and those in thread caches); rss is the process's
 * (statm) at that sample. Without ingot's mallctl it prints nothing.
 *
 * Built by make bench-build; use:
 *   LD_PRELOAD="$PWD/lib/libingot.so $PWD/bench/build/peak_parts.so" bench/build/stress --threads 2
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

enum { RESIDENT, ACTIVE, ALLOCATED, METADATA, DIRTY, SLABS, REGIONS, ARENAS, RSS, NPARTS };

static mallctl_fn ctl;
static size_t peak[NPARTS];
static pthread_t thread;
static int started;
static volatile int done;

static size_t read_size(const char *name)
{
	size_t value = 0, len = sizeof value;
	ctl(name, &value, &len, NULL, 0);
	return value;
}

static unsigned read_unsigned(const char *name)
{
	unsigned value = 0;
	size_t len = sizeof value;
	ctl(name, &value, &len, NULL, 0);
	return value;
}

static size_t statm_rss_bytes(void)
{
	long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

/* The parts that change slowly enough to read only at a new peak. */
static void read_parts(size_t parts[NPARTS])
{
	char name[96];
	parts[ACTIVE] = read_size("stats.active");
	parts[ALLOCATED] = read_size("stats.allocated");
	parts[METADATA] = read_size("stats.metadata");
	parts[ARENAS] = read_unsigned("arenas.narenas");
	parts[DIRTY] = 0;
	for (size_t i = 0; i < parts[ARENAS]; i++) {
		snprintf(name, sizeof name, "stats.arenas.%zu.pdirty", i);
		parts[DIRTY] += read_size(name) * (size_t)sysconf(_SC_PAGESIZE);
	}
	parts[SLABS] = parts[REGIONS] = 0;
	unsigned nbins = read_unsigned("arenas.nbins");
	for (unsigned b = 0; b < nbins; b++) {
		snprintf(name, sizeof name, "arenas.bin.%u.size", b);
		size_t size = read_size(name);
		snprintf(name, sizeof name, "arenas.bin.%u.slab_size", b);
		size_t slab = read_size(name);
		snprintf(name, sizeof name, "stats.arenas.4096.bins.%u.curslabs", b); /* all arenas */
		parts[SLABS] += read_size(name) * slab;
		snprintf(name, sizeof name, "stats.arenas.4096.bins.%u.curregs", b);
		parts[REGIONS] += read_size(name) * size;
	}
	parts[RSS] = statm_rss_bytes();
}

static void *sampler(void *arg)
{
	(void)arg;
	while (!done) {
		uint64_t epoch = 1;
		ctl("epoch", NULL, NULL, &epoch, sizeof epoch);
		size_t parts[NPARTS] = {[RESIDENT] = read_size("stats.resident")};
		if (parts[RESIDENT] > peak[RESIDENT]) {
			read_parts(parts);
			for (int i = 0; i < NPARTS; i++)
				peak[i] = parts[i];
		}
		usleep(2000);
	}
	return NULL;
}

__attribute__((constructor)) static void start(void)
{
	ctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	started = ctl && pthread_create(&thread, NULL, sampler, NULL) == 0;
}

__attribute__((destructor)) static void report(void)
{
	if (!started)
		return;
	done = 1;
	pthread_join(thread, NULL); /* its last sample is in peak[] */
	const double mib = 1024.0 * 1024.0;
	fprintf(stderr,
	        "peak_parts: resident=%.2f active=%.2f allocated=%.2f metadata=%.2f dirty=%.2f slabs=%.2f "
	        "slab_regions=%.2f arenas=%zu rss=%.2f\n",
	        peak[RESIDENT] / mib, peak[ACTIVE] / mib, peak[ALLOCATED] / mib, peak[METADATA] / mib,
	        peak[DIRTY] / mib, peak[SLABS] / mib, peak[REGIONS] / mib, peak[ARENAS], peak[RSS] / mib);
}
