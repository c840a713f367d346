/*
 * test_hooks.c — allocation hooks: every allocation path reports, with the
 * sizes the program asked for; a callback may allocate; removing the hooks
 * stops the reports. Linked with lib/libingot.a, so the standard names,
 * the x-API and C++-style paths all run on ingot.
 */
#include <pthread.h>

#include "helpers.h"
#include "ingot.h"
#include "jemalloc/jemalloc.h"
#include <malloc.h>

/* C23; glibc 2.36 does not declare them */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t alignment, size_t size);

#define LOG 4096

struct event {
	char kind; /* 'a' alloc, 'f' free, 'r' resize */
	void *ptr, *old;
	size_t requested, usable;
};

static struct event events[LOG];
static int nevents;
static bool allocate_inside;
static _Thread_local bool watched; /* only the test's own calls count */

/* Runs one call of the test with its events recorded from zero. The
 * barriers matter: the compiler assumes malloc-like functions leave the
 * program's variables alone, and would keep nevents in a register. */
#define WATCH(stmt) \
	do { \
		nevents = 0; \
		watched = true; \
		__asm__ volatile("" ::: "memory"); \
		stmt; \
		__asm__ volatile("" ::: "memory"); \
		watched = false; \
	} while (0)

static void record(char kind, void *old, void *ptr, size_t requested, size_t usable)
{
	if (!watched)
		return;
	if (nevents < LOG)
		events[nevents++] = (struct event){kind, ptr, old, requested, usable};
	if (allocate_inside)
		free(malloc(100)); /* a callback that allocates: must not recurse */
}

static void on_alloc(void *ctx, void *ptr, size_t requested, size_t usable)
{
	(void)ctx;
	record('a', NULL, ptr, requested, usable);
}

static void on_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx;
	record('f', NULL, ptr, 0, usable);
}

static void on_resize(void *ctx, void *old, void *ptr, size_t requested, size_t usable)
{
	(void)ctx;
	record('r', old, ptr, requested, usable);
}

static const struct ingot_hooks hooks = {on_alloc, on_free, on_resize, NULL};

static void install(void)
{
	nevents = 0;
	allocate_inside = false;
	cr_assert_eq(ingot_hooks_set(&hooks), 0);
}

/* The one event the last call made: exactly one, of this kind and block. */
static struct event *only_event(char kind, void *ptr, const char *call)
{
	cr_assert_eq(nevents, 1, "%s reported %d events, not 1", call, nevents);
	cr_assert_eq(events[0].kind, kind, "%s reported '%c', not '%c'", call, events[0].kind, kind);
	cr_assert_eq(events[0].ptr, ptr, "%s reported another block", call);
	nevents = 0;
	return &events[0];
}

TestSuite(hooks, .init = install);

Test(hooks, malloc_and_free_report_sizes)
{
	for (size_t size = 1; size < 5000000; size = size * 3 + 7) {
		void *p;
		WATCH(p = malloc(size));
		struct event *e = only_event('a', p, "malloc");
		cr_assert_eq(e->requested, size);
		cr_assert_eq(e->usable, malloc_usable_size(p));
		WATCH(free(p));
		e = only_event('f', p, "free");
		cr_assert_geq(e->usable, size);
	}
}

Test(hooks, calloc_and_aligned_paths_report_the_requested_size)
{
	void *p;
	WATCH(p = calloc(10, 30));
	cr_assert_eq(only_event('a', p, "calloc")->requested, 300);
	free(p);
	WATCH(p = aligned_alloc(256, 1000));
	cr_assert_eq(only_event('a', p, "aligned_alloc")->requested, 1000);
	free(p);
	int err;
	WATCH(err = posix_memalign(&p, 8192, 77));
	cr_assert_eq(err, 0);
	cr_assert_eq(only_event('a', p, "posix_memalign")->requested, 77);
	free(p);
	WATCH(p = memalign(64, 5));
	cr_assert_eq(only_event('a', p, "memalign")->requested, 5);
	WATCH(free_aligned_sized(p, 64, 5));
	only_event('f', p, "free_aligned_sized");
	p = malloc(33);
	WATCH(free_sized(p, 33));
	only_event('f', p, "free_sized");
}

Test(hooks, realloc_reports_one_resize)
{
	char *p = malloc(10), *q;
	WATCH(q = realloc(p, 100000));
	struct event *e = only_event('r', q, "realloc");
	cr_assert_eq(e->old, p);
	cr_assert_eq(e->requested, 100000);
	cr_assert_eq(e->usable, malloc_usable_size(q));
	free(q);
}

Test(hooks, realloc_within_the_class_reports_one_resize)
{
	char *p = malloc(100), *q;
	WATCH(q = realloc(p, 110));
	struct event *e = only_event('r', q, "realloc in the class");
	cr_assert_eq(q, p, "a realloc within the class moved the block");
	cr_assert_eq(e->old, p);
	cr_assert_eq(e->requested, 110);
	cr_assert_eq(e->usable, malloc_usable_size(q));
	free(q);
}

Test(hooks, x_api_reports)
{
	void *p, *q;
	WATCH(p = mallocx(100, MALLOCX_ZERO | MALLOCX_ALIGN(64)));
	cr_assert_eq(only_event('a', p, "mallocx")->requested, 100);
	WATCH(q = rallocx(p, 300, 0));
	cr_assert_eq(only_event('r', q, "rallocx")->old, p);
	WATCH(sdallocx(q, 300, 0));
	only_event('f', q, "sdallocx");
	WATCH(p = mallocx(50000, MALLOCX_TCACHE_NONE));
	only_event('a', p, "mallocx(TCACHE_NONE)");
	WATCH(dallocx(p, MALLOCX_TCACHE_NONE));
	only_event('f', p, "dallocx(TCACHE_NONE)");
}

Test(hooks, a_callback_may_allocate)
{
	allocate_inside = true;
	WATCH(free(malloc(64)));
	cr_assert_eq(nevents, 2, "callbacks that allocate were reported: %d events", nevents);
}

static void *thread_work(void *arg)
{
	(void)arg;
	WATCH(for (int i = 0; i < 100; i++) free(malloc(32)));
	return NULL;
}

Test(hooks, other_threads_report_too)
{
	pthread_t t;
	pthread_create(&t, NULL, thread_work, NULL);
	pthread_join(t, NULL);
	int allocs = 0;
	for (int i = 0; i < nevents; i++)
		allocs += events[i].kind == 'a' && events[i].requested == 32;
	cr_assert_geq(allocs, 100, "a new thread's allocations were not all reported");
}

Test(hooks, removing_hooks_stops_reports)
{
	ingot_hooks_set(NULL);
	WATCH(free(malloc(10)));
	cr_assert_eq(nevents, 0);
}
