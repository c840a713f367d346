/*
 * arch_test.c — the arch/arch.h contract, checked against one back end linked
 * alone (arch/windows.c under Wine, arch/linux.c under qemu-aarch64), with
 * stub hooks in place of the core. The portable counterpart of
 * tests/test_arch.c, for targets without Criterion.
 *
 * Prints one line per test and "N passed, N failed" last.
 */
#include "arch.h"
#include "harness.h"
#include "threads.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <time.h>
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static struct arch_info info;

/* ---- stub hooks ------------------------------------------------------- */

static _Atomic unsigned exit_calls;
static void *_Atomic exit_last_arg;

void ingot_thread_exit(void *arg)
{
	__atomic_store_n(&exit_last_arg, arg, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&exit_calls, 1, __ATOMIC_SEQ_CST);
}
void ingot_fork_prepare(void) {}
void ingot_fork_parent(void) {}
void ingot_fork_child(void) {}
void ingot_process_exit(void) {}

/* ---- helpers ---------------------------------------------------------- */

static bool is_aligned(const void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void sleep_ms(unsigned ms)
{
#ifdef _WIN32
	Sleep(ms);
#else
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
#endif
}

static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
	SetEnvironmentVariableA(name, value);
#else
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
#endif
}

/* Whether addr is still reserved (Windows) — a released range reads free. */
#ifdef _WIN32
static bool address_is_free(void *addr)
{
	MEMORY_BASIC_INFORMATION mbi;
	return VirtualQuery(addr, &mbi, sizeof mbi) == sizeof mbi && mbi.State == MEM_FREE;
}
#endif

/* ---- tests ------------------------------------------------------------ */

static void test_info(void)
{
	CHECK(info.page_size >= 4096 && (info.page_size & (info.page_size - 1)) == 0);
	CHECK(info.ncpus >= 1);
	CHECK(info.has_threads);
}

static void test_map_aligned_zeroed_writable(void)
{
	const size_t sizes[] = {info.page_size, 3 * info.page_size, 2 * MiB, 4 * MiB, 9 * MiB};
	const size_t aligns[] = {info.page_size, 64 * KiB, 4 * MiB, 16 * MiB};
	for (unsigned i = 0; i < 5; i++) {
		for (unsigned j = 0; j < 4; j++) {
			void *p;
			REQUIRE(arch_map(sizes[i], aligns[j], &p) == 0);
			CHECK(is_aligned(p, aligns[j]));
			CHECK(all_zero(p, sizes[i]));
			memset(p, 0x5a, sizes[i]);
			arch_unmap(p, sizes[i]);
		}
	}
}

static void test_map_failure_leaves_out(void)
{
	void *p = (void *)&info;
	size_t absurd = ((size_t)1 << (sizeof(size_t) * 8 - 2)); /* a quarter of the address space */
	CHECK(arch_map(absurd, info.page_size, &p) == ARCH_ENOMEM);
	CHECK(p == (void *)&info);
}

static void test_unmap_releases(void)
{
	/* Many rounds of a big mapping: a leak would run out of commit
	 * (Windows) or address space long before the end. */
	for (unsigned round = 0; round < 64; round++) {
		void *p;
		REQUIRE(arch_map(256 * MiB, 4 * MiB, &p) == 0);
		((char *)p)[round * 4096] = 1;
		arch_unmap(p, 256 * MiB);
#ifdef _WIN32
		CHECK(address_is_free(p));
#endif
	}
}

static void test_map_extend(void)
{
	void *p;
	REQUIRE(arch_map(2 * MiB, info.page_size, &p) == 0);
	memset(p, 1, 2 * MiB);
	int rc = arch_map_extend(p, 2 * MiB, 6 * MiB);
	CHECK(rc == 0 || rc == ARCH_ENOMEM);
#ifdef _WIN32
	CHECK(rc == ARCH_ENOMEM); /* a reservation never grows */
#endif
	if (rc == 0) {
		CHECK(all_zero((char *)p + 2 * MiB, 4 * MiB));
		memset((char *)p + 2 * MiB, 2, 4 * MiB);
		arch_unmap(p, 6 * MiB);
	} else {
		CHECK(((unsigned char *)p)[2 * MiB - 1] == 1);
		arch_unmap(p, 2 * MiB);
	}
}

static void test_purge_keeps_range_usable(void)
{
	void *p;
	size_t size = 64 * info.page_size;
	REQUIRE(arch_map(size, info.page_size, &p) == 0);
	memset(p, 0x77, size);
	bool zeroed = false;
	arch_purge((char *)p + 8 * info.page_size, 16 * info.page_size, &zeroed);
	if (zeroed)
		CHECK(all_zero((char *)p + 8 * info.page_size, 16 * info.page_size));
	/* Pages outside the purged range keep their contents. */
	CHECK(((unsigned char *)p)[8 * info.page_size - 1] == 0x77);
	CHECK(((unsigned char *)p)[24 * info.page_size] == 0x77);
	memset(p, 0x33, size);
	CHECK(((unsigned char *)p)[10 * info.page_size] == 0x33);
	arch_unmap(p, size);
}

static void test_protect_round_trip(void)
{
	void *p;
	REQUIRE(arch_map(4 * info.page_size, info.page_size, &p) == 0);
	memset(p, 0x42, 4 * info.page_size);
	int rc = arch_protect((char *)p + info.page_size, info.page_size, false);
	CHECK(rc == 0 || rc == ARCH_EINVAL);
	CHECK(arch_protect((char *)p + info.page_size, info.page_size, true) == (rc == 0 ? 0 : ARCH_EINVAL));
	CHECK(((unsigned char *)p)[info.page_size + 5] == 0x42);
	arch_unmap(p, 4 * info.page_size);
}

#define LOCK_THREADS 4
static arch_lock_t counter_lock = ARCH_LOCK_INIT;
static unsigned long counter; /* under counter_lock */

static void lock_main(void *arg)
{
	unsigned long n = *(unsigned long *)arg;
	for (unsigned long i = 0; i < n; i++) {
		arch_lock_acquire(&counter_lock);
		unsigned long c = counter;
		if (i % 1024 == 0)
			test_thread_yield(); /* hold it a while: others must sleep */
		counter = c + 1;
		arch_lock_release(&counter_lock);
	}
}

static void test_lock_excludes(void)
{
	unsigned long per_thread = 200000;
	struct test_thread t[LOCK_THREADS];
	for (unsigned i = 0; i < LOCK_THREADS; i++)
		REQUIRE(test_thread_start(&t[i], lock_main, &per_thread));
	for (unsigned i = 0; i < LOCK_THREADS; i++)
		test_thread_join(&t[i]);
	CHECK(counter == per_thread * LOCK_THREADS);
	CHECK(__atomic_load_n(&counter_lock.word, __ATOMIC_RELAXED) == 0);
}

static void register_main(void *arg) { arch_thread_exit_register(arg); }
static void idle_main(void *arg) { (void)arg; }

static void test_thread_exit_callback(void)
{
	static int token;
	struct test_thread t;
	unsigned before = __atomic_load_n(&exit_calls, __ATOMIC_SEQ_CST);
	REQUIRE(test_thread_start(&t, register_main, &token));
	test_thread_join(&t);
	CHECK(__atomic_load_n(&exit_calls, __ATOMIC_SEQ_CST) == before + 1);
	CHECK(__atomic_load_n(&exit_last_arg, __ATOMIC_SEQ_CST) == &token);
	/* NULL is passed through as NULL. */
	REQUIRE(test_thread_start(&t, register_main, NULL));
	test_thread_join(&t);
	CHECK(__atomic_load_n(&exit_calls, __ATOMIC_SEQ_CST) == before + 2);
	CHECK(__atomic_load_n(&exit_last_arg, __ATOMIC_SEQ_CST) == NULL);
	/* A thread that never registers gets no call. */
	REQUIRE(test_thread_start(&t, idle_main, NULL));
	test_thread_join(&t);
	CHECK(__atomic_load_n(&exit_calls, __ATOMIC_SEQ_CST) == before + 2);
}

#define ID_THREADS 4
static uintptr_t ids[ID_THREADS];
static _Atomic unsigned ids_ready;

static void id_main(void *arg)
{
	unsigned i = *(unsigned *)arg;
	ids[i] = arch_thread_id();
	__atomic_fetch_add(&ids_ready, 1, __ATOMIC_SEQ_CST);
	/* Stay alive until every thread has its id: ids of live threads differ. */
	while (__atomic_load_n(&ids_ready, __ATOMIC_SEQ_CST) < ID_THREADS)
		test_thread_yield();
}

static void test_thread_ids_differ(void)
{
	struct test_thread t[ID_THREADS];
	unsigned index[ID_THREADS];
	for (unsigned i = 0; i < ID_THREADS; i++) {
		index[i] = i;
		REQUIRE(test_thread_start(&t[i], id_main, &index[i]));
	}
	for (unsigned i = 0; i < ID_THREADS; i++)
		test_thread_join(&t[i]);
	for (unsigned i = 0; i < ID_THREADS; i++)
		for (unsigned j = i + 1; j < ID_THREADS; j++)
			CHECK(ids[i] != ids[j]);
	CHECK(arch_thread_id() == arch_thread_id());
}

static void test_random(void)
{
	unsigned char a[37], b[37];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	arch_random(a, sizeof a);
	arch_random(b, sizeof b);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK(!all_zero(a, sizeof a));
	CHECK(a[36] != 0 || b[36] != 0); /* the odd tail is filled too */
}

static void test_time(void)
{
	uint64_t t0 = arch_now_ns();
	uint64_t prev = t0;
	for (int i = 0; i < 1000; i++) {
		uint64_t t = arch_now_ns();
		CHECK(t >= prev);
		prev = t;
	}
	sleep_ms(30);
	uint64_t t1 = arch_now_ns();
	CHECK(t1 - t0 >= 20000000u);
	CHECK(t1 - t0 < 10000000000u);
}

static void test_getenv(void)
{
	set_env("INGOT_ARCH_TEST_VAR", "abc:1,def:2");
	const char *v = arch_getenv("INGOT_ARCH_TEST_VAR");
	CHECK(v != NULL && strcmp(v, "abc:1,def:2") == 0);
	CHECK(arch_getenv("INGOT_ARCH_TEST_UNSET") == NULL);
	CHECK(arch_getenv("") == NULL);
	CHECK(arch_getenv("INGOT_ARCH_TEST") == NULL); /* a prefix is not a match */
	/* The string stays valid: a second call agrees. */
	const char *again = arch_getenv("INGOT_ARCH_TEST_VAR");
	CHECK(again != NULL && strcmp(again, "abc:1,def:2") == 0);
}

static void test_set_errno(void)
{
	errno = 0;
	arch_set_errno(ARCH_ENOMEM);
	CHECK(errno == ENOMEM);
	arch_set_errno(ARCH_EINVAL);
	CHECK(errno == EINVAL);
}

int main(void)
{
	arch_init(&info);
	arch_hooks_register();
	RUN(test_info);
	RUN(test_map_aligned_zeroed_writable);
	RUN(test_map_failure_leaves_out);
	RUN(test_unmap_releases);
	RUN(test_map_extend);
	RUN(test_purge_keeps_range_usable);
	RUN(test_protect_round_trip);
	RUN(test_lock_excludes);
	RUN(test_thread_exit_callback);
	RUN(test_thread_ids_differ);
	RUN(test_random);
	RUN(test_time);
	RUN(test_getenv);
	RUN(test_set_errno);
	return harness_finish();
}
