/*
 * jemalloc_test.h — what the suites of the jemalloc interface share
 * (test_mallctl.c, test_xapi.c, test_stats_print.c).
 *
 * Each suite is built twice (mk/jemalloc.mk): against lib/libingot-prefixed.a
 * calling the ingot_* names, and with TEST_STD_NAMES=1 against lib/libingot.a
 * calling jemalloc's own names (mallctl, mallocx, ...), so that both export
 * sets are exercised. Both link the internals too, which the suites use to
 * check where a block lives.
 */
#ifndef INGOT_TESTS_JEMALLOC_TEST_H
#define INGOT_TESTS_JEMALLOC_TEST_H

#include "helpers.h"

#include <jemalloc/jemalloc.h>

#include "ingot.h"

#if TEST_STD_NAMES
#define JE(name) name
#else
#define JE(name) ingot_##name
#endif

/* mallctl's error codes, spelled as the manual does. */
#define CHECK_CTL(expected, call) \
	do { \
		int rc_ = (call); \
		cr_assert_eq(rc_, (expected), "%s returned %d (%s), expected %d (%s)", #call, rc_, \
		             strerror(rc_), (expected), strerror(expected)); \
	} while (0)

/* Reads name into *out (size bytes); asserts success and the length. */
static inline void ctl_get(const char *name, void *out, size_t size)
{
	size_t len = size;
	int rc = JE(mallctl)(name, out, &len, NULL, 0);
	cr_assert_eq(rc, 0, "mallctl(\"%s\") read: %d (%s)", name, rc, strerror(rc));
	cr_assert_eq(len, size, "mallctl(\"%s\"): length %zu, expected %zu", name, len, size);
}

static inline void ctl_set(const char *name, const void *value, size_t size)
{
	int rc = JE(mallctl)(name, NULL, NULL, (void *)value, size);
	cr_assert_eq(rc, 0, "mallctl(\"%s\") write: %d (%s)", name, rc, strerror(rc));
}

static inline void ctl_do(const char *name)
{
	int rc = JE(mallctl)(name, NULL, NULL, NULL, 0);
	cr_assert_eq(rc, 0, "mallctl(\"%s\"): %d (%s)", name, rc, strerror(rc));
}

static inline uint64_t ctl_u64(const char *name)
{
	uint64_t v;
	ctl_get(name, &v, sizeof(v));
	return v;
}

static inline size_t ctl_size(const char *name)
{
	size_t v;
	ctl_get(name, &v, sizeof(v));
	return v;
}

static inline unsigned ctl_unsigned(const char *name)
{
	unsigned v;
	ctl_get(name, &v, sizeof(v));
	return v;
}

static inline bool ctl_bool(const char *name)
{
	bool v;
	ctl_get(name, &v, sizeof(v));
	return v;
}

static inline ssize_t ctl_ssize(const char *name)
{
	ssize_t v;
	ctl_get(name, &v, sizeof(v));
	return v;
}

/* Refreshes the statistics snapshot (an epoch write). */
static inline void epoch_refresh(void)
{
	uint64_t e = 1;
	ctl_set("epoch", &e, sizeof(e));
}

/* A formatted mallctl name in a static buffer (one at a time). */
__attribute__((format(printf, 1, 2))) static inline const char *ctl_name(const char *fmt, ...)
{
	static char buf[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* A new explicit arena (arenas.create). */
static inline unsigned arena_new_explicit(void)
{
	unsigned index;
	ctl_get("arenas.create", &index, sizeof(index));
	return index;
}

#endif
