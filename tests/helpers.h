/*
 * helpers.h — small tools shared by the Criterion suites in tests/.
 *
 * Nothing here knows ingot's internals: a seeded random generator, pattern
 * fills that tell blocks apart, the process's resident size, checks from
 * threads other than the test's own, and a way to run a piece of code in a
 * child process and see how it ended and what it wrote to stderr (for the
 * misuse tests, where ingot prints one line and aborts).
 *
 * Builds with INGOT_TEST_SHIM=1 get a minimal stand-in for Criterion with
 * the same macros (below): ThreadSanitizer cannot run under Criterion's
 * sandbox (Criterion issue #274, "Could not initialize inheritable arena").
 */
#ifndef INGOT_TESTS_HELPERS_H
#define INGOT_TESTS_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if !INGOT_TEST_SHIM
#include <criterion/criterion.h>
#else
/* ---- a minimal Criterion stand-in ------------------------------------------- */

/* Each test runs in a child process of its own, as under Criterion, with its
 * timeout as an alarm; the runner prints Criterion's summary line. Only the
 * macros the suites use are here. */

struct shim_test {
	const char *suite, *name;
	void (*fn)(void);
	double timeout; /* seconds; 0: the default */
};

#define SHIM_DEFAULT_TIMEOUT 600
#define SHIM_EXIT_FAIL 70
#define SHIM_EXIT_SKIP 71

#define Test(suite_, name_, ...) \
	static void suite_##_##name_##_impl(void); \
	static const struct shim_test suite_##_##name_##_desc = { \
	    .suite = #suite_, .name = #name_, .fn = suite_##_##name_##_impl, __VA_ARGS__}; \
	__attribute__((used, section("ingot_shim_tests"))) static const struct shim_test \
	    *const suite_##_##name_##_ptr = &suite_##_##name_##_desc; \
	static void suite_##_##name_##_impl(void)

__attribute__((format(printf, 4, 5), noreturn)) static inline void
shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   ", file, line);
	va_list ap;
	va_start(ap, fmt);
	if (fmt[0])
		vfprintf(stderr, fmt, ap);
	else
		fprintf(stderr, "%s", expr);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(NULL);
	_exit(SHIM_EXIT_FAIL);
}

#define cr_assert(cond, ...) \
	do { \
		if (!(cond)) \
			shim_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__); \
	} while (0)
#define cr_assert_fail(...) shim_fail(__FILE__, __LINE__, "failed", "" __VA_ARGS__)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_skip_test(...) \
	do { \
		fprintf(stderr, "[SKIP] " __VA_ARGS__); \
		fprintf(stderr, "\n"); \
		_exit(SHIM_EXIT_SKIP); \
	} while (0)

extern const struct shim_test *const __start_ingot_shim_tests[];
extern const struct shim_test *const __stop_ingot_shim_tests[];

int main(void)
{
	unsigned tested = 0, passing = 0, failing = 0, crashing = 0;
	for (const struct shim_test *const *t = __start_ingot_shim_tests;
	     t < __stop_ingot_shim_tests; t++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			alarm((*t)->timeout > 0 ? (unsigned)(*t)->timeout : SHIM_DEFAULT_TIMEOUT);
			(*t)->fn();
			fflush(NULL);
			_exit(0);
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return 2;
		if (WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SKIP)
			continue;
		tested++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passing++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_FAIL) {
			failing++;
			fprintf(stderr, "[FAIL] %s::%s\n", (*t)->suite, (*t)->name);
		} else {
			crashing++;
			fprintf(stderr, "[FAIL] %s::%s: CRASH (%s %d)\n", (*t)->suite, (*t)->name,
			        WIFSIGNALED(status) ? "signal" : "exit status",
			        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	fprintf(stderr, "[====] Synthesis: Tested: %u | Passing: %u | Failing: %u | Crashing: %u \n",
	        tested, passing, failing, crashing);
	return failing + crashing ? 1 : 0;
}
#endif

#if defined(__SANITIZE_THREAD__)
#define TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_UNDER_TSAN 1
#endif
#endif
#ifndef TEST_UNDER_TSAN
#define TEST_UNDER_TSAN 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ---- deterministic randomness (splitmix64) -------------------------------- */

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline size_t rng_below(uint64_t *state, size_t n)
{
	return (size_t)(rng_next(state) % n);
}

/* ---- opaque values: keep the compiler from reasoning about misuse -------- */

/* The compiler cannot see through these, so it neither folds nor warns about
 * calls the tests make on purpose (malloc(SIZE_MAX), free of a stack
 * address, use after realloc(p, 0)). */
static inline size_t opaque_size(size_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x;
}

static inline void *opaque_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* ---- pattern fills ------------------------------------------------------ */

/* Byte i of the pattern of a block with this seed; distinct seeds give
 * distinct patterns, so a block overwritten by a neighbour is noticed. */
static inline uint8_t pattern_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15u + (uint64_t)(i >> 3);
	x ^= x >> 29;
	return (uint8_t)(x >> ((i & 7) * 8));
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = pattern_byte(seed, i);
}

/* Index of the first byte that differs from the pattern, or SIZE_MAX. */
static inline size_t pattern_mismatch(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern_byte(seed, i))
			return i;
	return SIZE_MAX;
}

/* Index of the first non-zero byte, or SIZE_MAX. */
static inline size_t first_nonzero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return i;
	return SIZE_MAX;
}

/* ---- the process ----------------------------------------------------------- */

/* The process's address space and resident set, in bytes, from
 * /proc/self/statm. */
static inline void statm_bytes(size_t *mapped, size_t *resident)
{
	FILE *f = fopen("/proc/self/statm", "r");
	cr_assert_not_null(f, "cannot open /proc/self/statm");
	unsigned long size = 0, rss = 0;
	int n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	cr_assert_eq(n, 2, "cannot parse /proc/self/statm");
	*mapped = (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
	*resident = (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static inline size_t rss_bytes(void)
{
	size_t mapped, resident;
	statm_bytes(&mapped, &resident);
	return resident;
}

static inline size_t mapped_now(void)
{
	size_t mapped, resident;
	statm_bytes(&mapped, &resident);
	return mapped;
}

/* ---- checks in threads other than the test's own --------------------------- */

/* Criterion's assertions may only fail on the test's own thread. Other
 * threads record their first failure with THREAD_CHECK, which ends the
 * thread; the test asserts assert_no_thread_failure() after joining. */
static pthread_mutex_t thread_failure_lock = PTHREAD_MUTEX_INITIALIZER;
static char thread_failure_msg[512];
static bool thread_failed;

__attribute__((format(printf, 3, 4))) static inline void thread_fail(const char *file, int line,
                                                                    const char *fmt, ...)
{
	pthread_mutex_lock(&thread_failure_lock);
	if (!thread_failed) {
		thread_failed = true;
		int n = snprintf(thread_failure_msg, sizeof(thread_failure_msg), "%s:%d: ", file, line);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(thread_failure_msg + n, sizeof(thread_failure_msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&thread_failure_lock);
}

#define THREAD_CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			thread_fail(__FILE__, __LINE__, __VA_ARGS__); \
			pthread_exit(NULL); \
		} \
	} while (0)

static inline void assert_no_thread_failure(void)
{
	pthread_mutex_lock(&thread_failure_lock);
	bool failed = thread_failed;
	pthread_mutex_unlock(&thread_failure_lock);
	cr_assert_not(failed, "in a thread: %s", thread_failure_msg);
}

static inline pthread_t start_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, arg);
	cr_assert_eq(err, 0, "pthread_create: %s", strerror(err));
	return t;
}

static inline void join_thread(pthread_t t)
{
	int err = pthread_join(t, NULL);
	cr_assert_eq(err, 0, "pthread_join: %s", strerror(err));
}

/* ---- running code that should abort --------------------------------------- */

struct child_result {
	bool exited;     /* exited normally (then status is the exit code) */
	int status;      /* exit code, or the signal that ended it */
	char err[1024];  /* the first bytes it wrote to stderr */
};

/* Runs fn(arg) in a child process with stderr captured; the child exits 0
 * when fn returns. Core dumps are switched off in the child. */
static inline void run_in_child(void (*fn)(void *), void *arg, struct child_result *out)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		alarm(60); /* a hang is a failure too */
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fds[0], out->err + len, sizeof(out->err) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(out->err) - 1) {
			char sink[256];
			while (read(fds[0], sink, sizeof(sink)) > 0) {
			}
			break;
		}
	}
	out->err[len] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	out->exited = WIFEXITED(status);
	out->status = out->exited ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : -1;
}

/* Asserts that fn(arg) dies of SIGABRT after writing a line that contains
 * `expect` to stderr. */
static inline void assert_aborts_with(void (*fn)(void *), void *arg, const char *expect,
                                      const char *what)
{
	struct child_result r;
	run_in_child(fn, arg, &r);
	cr_assert(!r.exited && r.status == SIGABRT,
	          "%s: expected SIGABRT, but the child %s %d; stderr: \"%s\"", what,
	          r.exited ? "exited with" : "died of signal", r.status, r.err);
	cr_assert(strstr(r.err, expect) != NULL, "%s: expected \"%s\" on stderr, got \"%s\"", what,
	          expect, r.err);
}

#endif
