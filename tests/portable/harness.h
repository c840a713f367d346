/*
 * harness.h — a test harness small enough for any target: no Criterion, no
 * allocation, only stdio. Used by the portable programs in this folder, which
 * run where Criterion does not (Windows under Wine, aarch64 under qemu).
 *
 *   static void test_something(void) { CHECK(x == 1); REQUIRE(p != NULL); ... }
 *   int main(void) { RUN(test_something); return harness_finish(); }
 *
 * CHECK records a failure and goes on; REQUIRE records one and leaves the
 * test. A test passes when it recorded no failure. harness_finish prints
 * "N passed, N failed" as the last line and returns the exit status.
 */
#ifndef INGOT_TEST_HARNESS_H
#define INGOT_TEST_HARNESS_H

#include <stdio.h>

static unsigned harness_passed, harness_failed;
static unsigned harness_current_failures;

static void harness_fail(const char *file, int line, const char *what)
{
	harness_current_failures++;
	if (harness_current_failures <= 5)
		printf("    %s:%d: %s\n", file, line, what);
	else if (harness_current_failures == 6)
		printf("    (further failures of this test not shown)\n");
	fflush(stdout);
}

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			harness_fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
	} while (0)

#define REQUIRE(cond) \
	do { \
		if (!(cond)) { \
			harness_fail(__FILE__, __LINE__, "REQUIRE(" #cond ")"); \
			return; \
		} \
	} while (0)

static void harness_run(const char *name, void (*fn)(void))
{
	harness_current_failures = 0;
	fn();
	if (harness_current_failures == 0) {
		harness_passed++;
		printf("ok   %s\n", name);
	} else {
		harness_failed++;
		printf("FAIL %s\n", name);
	}
	fflush(stdout);
}

#define RUN(fn) harness_run(#fn, fn)

static int harness_finish(void)
{
	printf("%u passed, %u failed\n", harness_passed, harness_failed);
	fflush(stdout);
	return harness_failed == 0 && harness_passed > 0 ? 0 : 1;
}

#endif
