/*
 * test_hardened.c — what a hardened heap promises: every misuse it claims to
 * detect is detected, on the call that makes it, with one line and an abort.
 *
 * Built twice (mk/hardened.mk): against the HARDENED=1 build, and against the
 * default build with INGOT_CONF=profile:hardened set before ingot starts
 * (PROFILE_AT_START=1), which must give the same protection. The first runs
 * with harden_wide:false, so that the head checks' 16-byte vectors are
 * tested where the CPU has 32-byte ones, which the second takes.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "helpers.h"
#include "ingot.h"

#ifndef PROFILE_AT_START
#define PROFILE_AT_START 0
#endif

/* Each test runs in a fresh process in which ingot has not started yet. */
static void choose_profile(void)
{
	setenv("INGOT_CONF", PROFILE_AT_START ? "profile:hardened" : "harden_wide:false", 1);
}

TestSuite(hardened, .init = choose_profile);

/* ---- misuse that must abort ------------------------------------------------ */

static void overflow_by_one(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(24);
	size_t usable = ingot_malloc_usable_size(p);
	p[usable] = 'x'; /* one byte past the end: the canary */
	ingot_free(p);
}

Test(hardened, overflow_past_small_block_is_caught_on_free)
{
	assert_aborts_with(overflow_by_one, NULL, "heap overflow", "overflow");
}

/* Writes the 8 bytes just before a block whose neighbour below is live,
 * then frees it. */
static void underflow_by_eight(void *arg)
{
	(void)arg;
	enum { N = 200 };
	char *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = ingot_malloc(40);
	size_t stride = ingot_malloc_usable_size(blocks[0]) + 8; /* the canary after each */
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			if (blocks[j] == blocks[i] + stride) {
				memset(blocks[j] - 8, 0x41, 8);
				ingot_free(blocks[j]);
				_exit(0);
			}
	_exit(3); /* no two blocks side by side */
}

Test(hardened, underflow_of_a_small_block_is_caught_on_free)
{
	assert_aborts_with(underflow_by_eight, NULL, "heap underflow", "underflow");
}

static void writes_exactly_usable(void *arg)
{
	(void)arg;
	for (size_t size = 1; size <= 4096; size += 7) {
		char *p = ingot_malloc(size);
		size_t usable = ingot_malloc_usable_size(p);
		if (usable < size)
			abort();
		memset(p, 0xee, usable);
		ingot_free(p);
	}
	if (ingot_check() != 0)
		abort();
}

Test(hardened, whole_usable_size_is_writable)
{
	struct child_result r;
	run_in_child(writes_exactly_usable, NULL, &r);
	cr_assert(r.exited && r.status == 0, "writing usable bytes aborted: %s", r.err);
}

static void double_free_later(void *arg)
{
	(void)arg;
	void *a = ingot_malloc(64), *b = ingot_malloc(64);
	ingot_free(a);
	ingot_free(b); /* a is no longer on top of any cache stack */
	ingot_free(a);
}

Test(hardened, double_free_is_caught_even_when_not_last)
{
	assert_aborts_with(double_free_later, NULL, "double free", "double free");
}

/* Frees a, then enough other blocks to push a out of the quarantine onto
 * its cache stack, then a again. */
static void double_free_from_the_stack(void *arg)
{
	(void)arg;
	enum { N = 100 }; /* more than the quarantine's 64 */
	void *a = ingot_malloc(64), *others[N];
	for (int i = 0; i < N; i++)
		others[i] = ingot_malloc(64);
	ingot_free(a);
	for (int i = 0; i < N; i++)
		ingot_free(others[i]);
	ingot_free(a);
}

Test(hardened, double_free_of_a_block_back_in_the_cache_is_caught)
{
	assert_aborts_with(double_free_from_the_stack, NULL, "double free", "from the stack");
}

/* The same for another thread's block, which leaves the freeing thread's
 * quarantine to wait with others to go home (remote_put). */
static void *free_remote_twice(void *arg)
{
	enum { N = 100 };
	void *others[N];
	unsigned arena;
	size_t len = sizeof arena;
	/* an arena of its own: main's blocks are remote to it */
	if (ingot_mallctl("arenas.create", &arena, &len, NULL, 0) != 0 ||
	    ingot_mallctl("thread.arena", NULL, NULL, &arena, sizeof arena) != 0)
		_exit(3);
	for (int i = 0; i < N; i++)
		others[i] = ingot_malloc(64);
	ingot_free(arg);
	for (int i = 0; i < N; i++)
		ingot_free(others[i]);
	ingot_free(arg);
	return NULL;
}

static void double_free_on_the_way_home(void *arg)
{
	(void)arg;
	void *p = ingot_malloc(64);
	pthread_t t;
	pthread_create(&t, NULL, free_remote_twice, p);
	pthread_join(t, NULL);
}

Test(hardened, double_free_of_a_remote_block_on_its_way_home_is_caught)
{
	assert_aborts_with(double_free_on_the_way_home, NULL, "double free", "on the way home");
}

static void *free_in_thread(void *p)
{
	ingot_free(p);
	return NULL;
}

static void double_free_across_threads(void *arg)
{
	(void)arg;
	void *p = ingot_malloc(200);
	pthread_t t;
	pthread_create(&t, NULL, free_in_thread, p);
	pthread_join(t, NULL);
	ingot_free(p);
}

Test(hardened, double_free_from_another_thread_is_caught)
{
	assert_aborts_with(double_free_across_threads, NULL, "double free", "cross-thread");
}

static void interior_free(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(64);
	ingot_free(p + 16);
}

Test(hardened, interior_pointer_free_is_caught)
{
	assert_aborts_with(interior_free, NULL, "invalid pointer", "interior");
}

/* Whether the byte at p can be read: a pipe's write takes it from p, and
 * says EFAULT on a page that cannot be read (a guard page). */
static bool readable(const void *p)
{
	int fd[2];
	if (pipe(fd) != 0)
		return false;
	bool ok = write(fd[1], p, 1) == 1;
	close(fd[0]);
	close(fd[1]);
	return ok;
}

/* Frees a pointer 32 bytes into the last block of a slab, whose canary
 * word (where a block at that address would have it) lies on the guard
 * page after the slab: the free must say "invalid pointer", not fault.
 * The 48-byte class: 32 is a multiple of its alignment (16), and its
 * one-page slab of 85 blocks leaves 16 bytes at the end. */
static void interior_free_at_a_slab_end(void *arg)
{
	(void)arg;
	enum { N = 1024, SIZE = 40, STRIDE = 48, INTO = 32 };
	for (int i = 0; i < N; i++) {
		char *p = ingot_malloc(SIZE);
		char *canary = p + INTO + SIZE; /* of a block at p + INTO */
		if (((uintptr_t)p + STRIDE + 16) % 4096 == 0 && !readable(canary))
			ingot_free(p + INTO);
	}
	_exit(3); /* no slab end found */
}

Test(hardened, interior_free_in_a_slabs_last_block_is_caught)
{
	assert_aborts_with(interior_free_at_a_slab_end, NULL, "invalid pointer", "slab end");
}

static void misaligned_free(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(48);
	ingot_free(p + 1);
}

Test(hardened, misaligned_free_is_caught)
{
	assert_aborts_with(misaligned_free, NULL, "invalid pointer", "misaligned");
}

static void foreign_free(void *arg)
{
	(void)arg;
	static char not_heap[64];
	ingot_free(opaque_ptr(not_heap));
}

Test(hardened, foreign_pointer_free_is_caught)
{
	assert_aborts_with(foreign_free, NULL, "foreign pointer", "foreign");
}

static void never_allocated_free(void *arg)
{
	(void)arg;
	/* A slot in a live slab that was never handed out: two slots of 48
	 * bytes (32 and the canary) from p, towards the middle of p's page. The
	 * slab is that one page, and random slot order may have put p at either
	 * end of it. */
	char *p = ingot_malloc(32);
	ingot_free(((uintptr_t)p & 4095) >= 96 ? p - 96 : p + 96);
}

Test(hardened, free_of_a_never_allocated_slot_is_caught)
{
	assert_aborts_with(never_allocated_free, NULL, "double free", "never allocated");
}

static void large_double_free(void *arg)
{
	(void)arg;
	void *p = ingot_malloc(100000);
	ingot_free(p);
	ingot_free(p);
}

Test(hardened, large_double_free_is_caught)
{
	struct child_result r;
	run_in_child(large_double_free, NULL, &r);
	cr_assert(!r.exited && r.status == SIGABRT, "large double free not caught: %s", r.err);
}

static void write_after_free(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(64);
	ingot_free(p);
	p[10] = 1; /* the block waits in quarantine, zeroed */
	for (int i = 0; i < 10000; i++)
		ingot_free(ingot_malloc(64)); /* until p is handed out again */
}

Test(hardened, write_after_free_is_caught_when_the_slot_is_reused)
{
	assert_aborts_with(write_after_free, NULL, "write after free", "write after free");
}

/* A write after free anywhere in the checked head (the first 256 bytes),
 * not only its first word: at the last word of a 48-byte block, and at
 * the last checked word of a 512-byte one. */
static void write_after_free_at(void *arg)
{
	const size_t *where = arg; /* {size, offset} */
	char *p = ingot_malloc(where[0]);
	ingot_free(p);
	p[where[1]] = 1;
	for (int i = 0; i < 10000; i++)
		ingot_free(ingot_malloc(where[0]));
}

Test(hardened, write_after_free_is_caught_anywhere_in_the_checked_head)
{
	static const size_t cases[][2] = {{40, 39}, {500, 255}, {100, 95}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_aborts_with(write_after_free_at, (void *)cases[i], "write after free",
		                   "write after free");
}

static void touch_guard(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(128 << 10); /* a class size: usable is what was asked */
	size_t usable = ingot_malloc_usable_size(p);
	((volatile char *)p)[usable] = 1; /* the guard page after the block */
}

Test(hardened, overflow_into_the_guard_page_is_reported)
{
	assert_aborts_with(touch_guard, NULL, "heap overflow: access to",
	                   "a write on the guard page after a large block");
	struct child_result r;
	run_in_child(touch_guard, NULL, &r);
	cr_assert(strstr(r.err, "at offset 0 after the end of block") &&
	              strstr(r.err, "(131072 bytes)"),
	          "the report names the block: %s", r.err);
}

/* Two large blocks in a row in a fresh heap: the guard page of the first
 * lies just before the second. */
static void touch_before_second_large_block(void *arg)
{
	(void)arg;
	char *a = ingot_malloc(100000), *b = ingot_malloc(100000);
	if (b != a + ingot_malloc_usable_size(a) + 4096)
		_exit(3); /* not the layout this test needs */
	((volatile char *)b)[-16] = 1;
}

Test(hardened, underflow_into_the_guard_page_is_reported)
{
	assert_aborts_with(touch_before_second_large_block, NULL, "heap underflow: access to",
	                   "a write 16 bytes before a large block, on the guard page");
}

/* A 64 KiB block stays in the thread cache when freed: zeroed there, and
 * checked when handed out again. */
static void write_after_free_of_a_cached_large_block(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(64 << 10);
	ingot_free(p);
	((volatile char *)p)[100] = 1;
	for (int i = 0; i < 4; i++)
		ingot_malloc(64 << 10);
}

Test(hardened, write_after_free_of_a_large_block_is_caught_on_reuse)
{
	assert_aborts_with(write_after_free_of_a_cached_large_block, NULL, "write after free",
	                   "a write into a freed 64 KiB block, then mallocs of its size");
}

/* Freed 32 KiB blocks past the two a thread cache keeps go to the arena's
 * large cache, their pages still accessible: the first, written after its
 * free, is reported when a malloc takes it from there. */
static void write_after_free_of_a_block_in_the_arena_cache(void *arg)
{
	(void)arg;
	char *blocks[4];
	for (int i = 0; i < 4; i++)
		blocks[i] = ingot_malloc(32 << 10);
	for (int i = 0; i < 4; i++)
		ingot_free(blocks[i]);
	((volatile char *)blocks[0])[200] = 1;
	for (int i = 0; i < 8; i++)
		ingot_malloc(32 << 10);
}

Test(hardened, write_after_free_of_a_block_in_the_arena_cache_is_caught_on_reuse)
{
	assert_aborts_with(write_after_free_of_a_block_in_the_arena_cache, NULL, "write after free",
	                   "a write into a freed 32 KiB block gone to the arena's cache, then mallocs");
}

/* A 1 MiB block goes back to the page heap, whose freed pages a guarded
 * heap keeps inaccessible. */
static void read_after_free_of_a_large_block(void *arg)
{
	(void)arg;
	volatile char *p = ingot_malloc(1 << 20);
	ingot_free((void *)p);
	(void)p[5000];
}

Test(hardened, access_to_a_freed_large_block_is_reported)
{
	assert_aborts_with(read_after_free_of_a_large_block, NULL, "use after free: access to",
	                   "a read of a freed 1 MiB block");
}

/* A fault that is not on a guard page is the program's own: it ends the
 * process as it would without ingot, with nothing said. */
static void touch_protected_page(void *arg)
{
	(void)arg;
	ingot_free(ingot_malloc(100000)); /* ingot started, its handler in place */
	char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	((volatile char *)page)[8] = 1;
}

Test(hardened, other_faults_are_left_alone)
{
	struct child_result r;
	run_in_child(touch_protected_page, NULL, &r);
	cr_assert(!r.exited && r.status == SIGSEGV && r.err[0] == '\0',
	          "a fault off ingot's pages: exited %d status %d, stderr \"%s\"", r.exited, r.status,
	          r.err);
}

/* ---- behaviour that must hold -------------------------------------------- */

Test(hardened, freed_blocks_are_zeroed)
{
	unsigned char *p = ingot_malloc(96);
	memset(p, 0xab, 96);
	ingot_free(p);
	/* Reading freed memory is what an attacker would do; here it shows the
	 * block kept nothing. It sits in quarantine, so it is still mapped. */
	cr_assert_eq(first_nonzero(opaque_ptr(p), 96), SIZE_MAX, "freed block not zeroed");
}

/* Zero on free clears a block's checked head (256 bytes) and leaves the
 * rest: calloc must still hand out blocks that were freed dirty all zero,
 * and malloc their heads zero. 200 blocks, more than the quarantine holds,
 * so the second round reuses the first's. */
Test(hardened, reused_blocks_start_with_a_zero_head_and_calloc_clears_them)
{
	enum { N = 200, SIZE = 4000 };
	unsigned char *dirty[N];
	for (int i = 0; i < N; i++)
		memset(dirty[i] = ingot_malloc(SIZE), 0xab, SIZE);
	for (int i = 0; i < N; i++)
		ingot_free(dirty[i]);
	unsigned char *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = i % 2 ? ingot_calloc(1, SIZE) : ingot_malloc(SIZE);
		size_t zero = i % 2 ? SIZE : 256;
		cr_assert_eq(first_nonzero(p[i], zero), SIZE_MAX, "%s(%d) not zeroed in its first %zu",
		             i % 2 ? "calloc" : "malloc", SIZE, zero);
	}
	for (int i = 0; i < N; i++)
		ingot_free(p[i]);
}

Test(hardened, a_freed_block_is_not_handed_out_at_once)
{
	void *p = ingot_malloc(64);
	ingot_free(p);
	for (int i = 0; i < 16; i++) {
		void *q = ingot_malloc(64);
		cr_assert_neq(q, p, "freed block reused after %d allocations", i);
		ingot_free(q);
	}
}

Test(hardened, slot_order_is_not_address_order)
{
	enum { N = 64 };
	uintptr_t addr[N];
	void *keep[N];
	for (int i = 0; i < N; i++) {
		keep[i] = ingot_malloc(48);
		addr[i] = (uintptr_t)keep[i];
	}
	int descents = 0;
	for (int i = 1; i < N; i++)
		descents += addr[i] < addr[i - 1];
	/* In address order there would be none; random order gives about
	 * half. The chance of fewer than 8 by luck is below 1e-9. */
	cr_assert_geq(descents, 8, "only %d of %d steps go down", descents, N - 1);
	for (int i = 0; i < N; i++)
		ingot_free(keep[i]);
}

Test(hardened, calloc_and_realloc_keep_their_promises)
{
	for (size_t n = 1; n < 70000; n = n * 3 + 1) {
		unsigned char *p = ingot_calloc(1, n);
		cr_assert_not_null(p);
		cr_assert_eq(first_nonzero(p, n), SIZE_MAX, "calloc(%zu) not zeroed", n);
		pattern_fill(p, n, n);
		p = ingot_realloc(p, n * 2);
		cr_assert_eq(pattern_mismatch(p, n, n), SIZE_MAX, "realloc(%zu) lost data", n);
		ingot_free(p);
	}
	cr_assert_eq(ingot_check(), 0);
}

static void *churn(void *arg)
{
	uint64_t rng = (uintptr_t)arg;
	void *live[128] = {0};
	for (int i = 0; i < 20000; i++) {
		size_t k = rng_below(&rng, 128);
		ingot_free(live[k]);
		live[k] = ingot_malloc(rng_below(&rng, 3000));
	}
	for (int k = 0; k < 128; k++)
		ingot_free(live[k]);
	return NULL;
}

/* The first call of a process may be an aligned allocation: its usable
 * size must already leave the canary out, so that its sized free (and the
 * canary check) agrees with it. */
Test(hardened, an_aligned_block_as_first_allocation_is_sized_like_any)
{
	void *p = ingot_aligned_alloc(16, 1);
	cr_assert_not_null(p);
	size_t usable = ingot_malloc_usable_size(p);
	void *q = ingot_malloc(1);
	cr_assert_eq(usable, ingot_malloc_usable_size(q),
	             "aligned_alloc(16, 1) has %zu usable bytes, malloc(1) %zu", usable,
	             ingot_malloc_usable_size(q));
	ingot_free(q);
	ingot_free_aligned_sized(p, 16, 1); /* must not report a size mismatch */
}

/* Hooks installed while other threads run: a hardened heap shows them
 * every call from then on, also the next call of a thread whose cache
 * took the hardened fast paths until then. */
static pthread_barrier_t hooks_barrier;
static int hooked_allocs, hooked_frees;
static void *hooked_block;

static void count_alloc(void *ctx, void *ptr, size_t requested, size_t usable)
{
	(void)ctx, (void)ptr, (void)usable;
	if (requested == 48) {
		__atomic_fetch_add(&hooked_allocs, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&hooked_block, ptr, __ATOMIC_RELAXED);
	}
}

static void count_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx, (void)usable;
	if (ptr == __atomic_load_n(&hooked_block, __ATOMIC_RELAXED))
		__atomic_fetch_add(&hooked_frees, 1, __ATOMIC_RELAXED);
}

static void *allocate_around_the_install(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		ingot_free(ingot_malloc(48)); /* its cache open, and its stack not empty */
	pthread_barrier_wait(&hooks_barrier);
	pthread_barrier_wait(&hooks_barrier); /* hooks installed */
	ingot_free(ingot_malloc(48));
	return NULL;
}

Test(hardened, hooks_installed_later_see_another_threads_next_call)
{
	static const struct ingot_hooks hooks = {count_alloc, count_free, NULL, NULL};
	pthread_barrier_init(&hooks_barrier, NULL, 2);
	pthread_t t = start_thread(allocate_around_the_install, NULL);
	pthread_barrier_wait(&hooks_barrier);
	cr_assert_eq(ingot_hooks_set(&hooks), 0);
	pthread_barrier_wait(&hooks_barrier);
	join_thread(t);
	ingot_hooks_set(NULL);
	cr_assert_eq(hooked_allocs, 1, "the thread's malloc after the install was not reported");
	cr_assert_eq(hooked_frees, 1, "the thread's free after the install was not reported");
}

/* Frees, in one thread, blocks another allocated: through the freeing
 * thread's quarantine, which holds blocks of another thread's arena. */
static void *free_handed_blocks(void *arg)
{
	void **blocks = arg;
	for (int i = 0; i < 1000; i++)
		ingot_free(blocks[i]);
	for (int i = 0; i < 1000; i++) /* moves them out of the quarantine */
		ingot_free(ingot_malloc(16 + (size_t)i % 500));
	return NULL;
}

/* Bytes of small blocks the arenas have handed out (to caches or to the
 * program), after the calling thread's cache went back. */
static size_t small_bytes_out(void)
{
	uint64_t epoch = 1;
	size_t bytes = 0, len = sizeof bytes;
	ingot_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
	cr_assert_eq(ingot_mallctl("stats.arenas.4096.small.allocated", &bytes, &len, NULL, 0), 0);
	return bytes;
}

Test(hardened, blocks_freed_by_another_thread_go_home_through_its_quarantine)
{
	static void *blocks[1000];
	size_t after_first = 0;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 1000; i++)
			blocks[i] = ingot_malloc(16 + (size_t)i % 500);
		pthread_t t = start_thread(free_handed_blocks, blocks);
		join_thread(t);
		cr_assert_eq(ingot_check(), 0, "round %d", round);
		if (round == 0)
			after_first = small_bytes_out();
	}
	/* A round hands the thread about 260 KB of blocks: none may stay out. */
	size_t after_last = small_bytes_out();
	cr_assert_leq(after_last, after_first + 16384, "%zu bytes out after the first round, %zu after the last",
	              after_first, after_last);
}

/* A thread that ends with blocks in its quarantine gives them back, and a
 * forked child's heap works on with the quarantine it inherited. */
static void *free_some_and_exit(void *arg)
{
	(void)arg;
	for (int i = 0; i < 40; i++)
		ingot_free(ingot_malloc(64));
	return NULL;
}

Test(hardened, quarantined_blocks_survive_thread_exit_and_fork)
{
	for (int i = 0; i < 8; i++)
		join_thread(start_thread(free_some_and_exit, NULL));
	cr_assert_eq(ingot_check(), 0);
	for (int i = 0; i < 40; i++)
		ingot_free(ingot_malloc(48));
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 1000; i++)
			ingot_free(ingot_malloc(48));
		_exit(ingot_check() == 0 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's heap check failed");
	cr_assert_eq(ingot_check(), 0);
}

Test(hardened, threads_and_heap_check)
{
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)(i + 1));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(ingot_check(), 0);
}

/* Zero on free and the take check run one of a few fixed patterns per
 * size (hardening.h): for every small size up to past the checked head, a
 * freed block's head is all zero up to its canary (or the head's end),
 * and the blocks around it, still live, keep every byte. */
Test(hardened, every_size_is_zeroed_to_its_canary_and_no_further)
{
	enum { N = 24 };
	for (size_t size = 8; size <= 520; size += 8) {
		unsigned char *p[N];
		for (int i = 0; i < N; i++) {
			p[i] = ingot_malloc(size);
			memset(p[i], 0xcd, ingot_malloc_usable_size(p[i]));
		}
		for (int i = 0; i < N; i += 2) {
			size_t usable = ingot_malloc_usable_size(p[i]);
			ingot_free(p[i]); /* waits in the quarantine: still mapped */
			size_t head = usable < 256 ? usable : 256;
			cr_assert_eq(first_nonzero(opaque_ptr(p[i]), head), SIZE_MAX,
			             "malloc(%zu) freed: not zeroed in its first %zu bytes", size, head);
		}
		for (int i = 1; i < N; i += 2) {
			size_t usable = ingot_malloc_usable_size(p[i]);
			for (size_t b = 0; b < usable; b++)
				cr_assert_eq(p[i][b], 0xcd, "malloc(%zu): byte %zu of a live block changed", size, b);
			ingot_free(p[i]);
		}
	}
	cr_assert_eq(ingot_check(), 0);
}

/* A write after free at the last byte the take check covers, in a size
 * of each of its patterns and at their edges. */
Test(hardened, write_after_free_is_caught_at_the_end_of_every_pattern)
{
	static const size_t sizes[] = {8, 24, 56, 72, 120, 248, 264};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = ingot_malloc(sizes[i]);
		size_t usable = ingot_malloc_usable_size(p);
		ingot_free(p);
		size_t where[2] = {sizes[i], (usable < 256 ? usable : 256) - 1};
		assert_aborts_with(write_after_free_at, where, "write after free", "write after free");
	}
}

/* Sized frees (free_sized, sdallocx) take a hardened fast path of their
 * own when the size names the block's class: they must still check all
 * that free checks, and the size. */
static void sized_double_free(void *arg)
{
	size_t size = *(const size_t *)arg;
	void *p = ingot_malloc(size);
	ingot_free_sized(p, size);
	ingot_free_sized(p, size);
}

static void sized_free_wrong_size(void *arg)
{
	size_t size = *(const size_t *)arg;
	void *p = ingot_malloc(size);
	ingot_free_sized(p, size + 64); /* another class */
}

static void sized_free_interior(void *arg)
{
	size_t size = *(const size_t *)arg;
	char *p = ingot_malloc(size);
	ingot_free_sized(p + 16, size - 16); /* an interior pointer, its size's class */
}

static void sdallocx_overflow(void *arg)
{
	size_t size = *(const size_t *)arg;
	char *p = ingot_malloc(size);
	p[ingot_malloc_usable_size(p)] = 'x';
	ingot_sdallocx(p, size, 0);
}

Test(hardened, sized_frees_are_checked_as_free_is)
{
	static const size_t sizes[] = {24, 100, 1000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const size_t *size = &sizes[i];
		assert_aborts_with(sized_double_free, (void *)size, "double free", "sized double free");
		assert_aborts_with(sized_free_wrong_size, (void *)size, "freed with size", "sized free, wrong size");
		assert_aborts_with(sized_free_interior, (void *)size, "ingot:", "sized free of an interior pointer");
		assert_aborts_with(sdallocx_overflow, (void *)size, "heap overflow", "sdallocx after an overflow");
	}
}

Test(hardened, sized_frees_of_every_small_size_keep_the_heap_sound)
{
	enum { N = 16 };
	for (size_t size = 1; size <= 4096; size += size < 256 ? 7 : 251) {
		void *p[N];
		for (int i = 0; i < N; i++)
			p[i] = ingot_malloc(size);
		for (int i = 0; i < N; i++) {
			size_t usable = ingot_malloc_usable_size(p[i]);
			cr_assert_eq(first_nonzero(opaque_ptr(p[i]), usable < 256 ? usable : 256), SIZE_MAX,
			             "malloc(%zu): a reused block's head is not zero", size);
			if (i & 1)
				ingot_sdallocx(p[i], size, 0);
			else
				ingot_free_sized(p[i], size);
		}
	}
	cr_assert_eq(ingot_check(), 0);
}

/* Blocks of 1-8 KiB cross pages, so some start a page in the middle of
 * their slab: the free of such a block still checks the word before it
 * (the fast path tells a slab's first block from the page map alone). A
 * block of 1 KiB, four to a page, is one. */
static void underflow_of_a_block_that_starts_a_page(void *arg)
{
	(void)arg;
	enum { N = 64 };
	char *blocks[N];
	for (int i = 0; i < N; i++)
		blocks[i] = ingot_malloc(1000);
	size_t stride = ingot_malloc_usable_size(blocks[0]) + 8;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			if (((uintptr_t)blocks[j] & 4095) == 0 && blocks[j] == blocks[i] + stride) {
				memset(blocks[j] - 8, 0x41, 8);
				ingot_free(blocks[j]);
				_exit(0);
			}
	_exit(3); /* no page-aligned block with a neighbour below */
}

Test(hardened, underflow_of_a_block_that_starts_a_page_is_caught_on_free)
{
	assert_aborts_with(underflow_of_a_block_that_starts_a_page, NULL, "heap underflow", "underflow");
}

/* The first block of every slab has no neighbour below: its free reads
 * nothing before it (a guard page, or another span) and reports nothing. */
Test(hardened, first_blocks_of_slabs_free_cleanly)
{
	enum { N = 48 };
	for (size_t size = 1000; size <= 8000; size += 500) {
		void *blocks[N];
		int aligned = 0;
		for (int i = 0; i < N; i++) {
			blocks[i] = ingot_malloc(size);
			aligned += ((uintptr_t)blocks[i] & 4095) == 0;
		}
		cr_assert_gt(aligned, 0, "malloc(%zu): no block starts a page", size);
		for (int i = 0; i < N; i++)
			ingot_free(blocks[i]);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* ---- consumers: threads that free other threads' blocks in numbers --------- */

/* A thread with an arena of its own: main's blocks are remote to it. */
static void use_an_arena_of_its_own(void)
{
	unsigned arena;
	size_t len = sizeof arena;
	THREAD_CHECK(ingot_mallctl("arenas.create", &arena, &len, NULL, 0) == 0 &&
	                     ingot_mallctl("thread.arena", NULL, NULL, &arena, sizeof arena) == 0,
	             "no arena of its own");
}

#define CONSUMED 2000
#define CONSUMED_SIZE 64

struct consumer {
	void **given;   /* CONSUMED blocks of main's, then one more */
	bool reused;    /* the last one came back within the quarantine's reach */
};

/* Frees CONSUMED of main's blocks (a consumer now: remote_put keeps such
 * blocks on its stack), then one more, and allocates the size 63 times:
 * the last block freed waits in the quarantine all that time. */
static void *consume_then_allocate(void *arg)
{
	struct consumer *c = arg;
	use_an_arena_of_its_own();
	for (int i = 0; i < CONSUMED; i++)
		ingot_free(c->given[i]);
	ingot_free(c->given[CONSUMED]);
	void *mine[63];
	for (int i = 0; i < 63; i++) {
		mine[i] = ingot_malloc(CONSUMED_SIZE);
		c->reused |= mine[i] == c->given[CONSUMED];
	}
	for (int i = 0; i < 63; i++)
		ingot_free(mine[i]);
	return NULL;
}

Test(hardened, a_consumer_keeps_another_threads_blocks_in_quarantine_first)
{
	static void *given[CONSUMED + 1];
	size_t before = small_bytes_out();
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i <= CONSUMED; i++)
			given[i] = ingot_malloc(CONSUMED_SIZE);
		struct consumer c = {given, false};
		join_thread(start_thread(consume_then_allocate, &c));
		assert_no_thread_failure();
		cr_assert_not(c.reused, "round %d: a remote block was handed out while in the quarantine", round);
		cr_assert_eq(ingot_check(), 0, "round %d", round);
	}
	/* The consumer's stacks held main's blocks: its exit sent them home. */
	size_t after = small_bytes_out();
	cr_assert_leq(after, before + 16384, "%zu bytes out before, %zu after", before, after);
}

/* A consumer frees main's blocks, 64 more to move the first out of its
 * quarantine (onto its stack, or to wait to go home), then the first again. */
static void *consume_and_free_twice(void *arg)
{
	void **given = arg;
	use_an_arena_of_its_own();
	for (int i = 0; i < CONSUMED + 64; i++)
		ingot_free(given[i]);
	ingot_free(given[CONSUMED - 1]);
	return NULL;
}

static void double_free_in_a_consumer(void *arg)
{
	(void)arg;
	static void *given[CONSUMED + 64];
	for (int i = 0; i < CONSUMED + 64; i++)
		given[i] = ingot_malloc(CONSUMED_SIZE);
	pthread_t t;
	pthread_create(&t, NULL, consume_and_free_twice, given);
	pthread_join(t, NULL);
}

Test(hardened, double_free_of_a_remote_block_a_consumer_kept_is_caught)
{
	assert_aborts_with(double_free_in_a_consumer, NULL, "double free", "kept by a consumer");
}

/* A ring of threads, each with its arena: in each round every thread
 * allocates blocks for the next and frees the ones the previous gave it
 * (every free remote, every thread a consumer soon), and one forks while
 * its stacks hold its neighbour's blocks. */
#define RING 8
#define RING_BLOCKS 500
#define RING_ROUNDS 40

static void *ring_slots[RING][RING_BLOCKS];
static pthread_barrier_t ring_barrier;

static void *ring_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	use_an_arena_of_its_own();
	for (unsigned round = 0; round < RING_ROUNDS; round++) {
		void *made[RING_BLOCKS];
		for (unsigned i = 0; i < RING_BLOCKS; i++) {
			size_t size = 16 + (i * 37 + round * 11 + id) % 1000;
			made[i] = ingot_malloc(size);
			THREAD_CHECK(made[i] != NULL, "malloc(%zu) failed", size);
			memset(made[i], (int)id, size);
		}
		pthread_barrier_wait(&ring_barrier);
		memcpy(ring_slots[(id + 1) % RING], made, sizeof made);
		pthread_barrier_wait(&ring_barrier);
		for (unsigned i = 0; i < RING_BLOCKS; i++)
			ingot_free(ring_slots[id][i]);
		if (id == 0 && round == RING_ROUNDS / 2) {
			pid_t pid = fork();
			if (pid == 0) {
				for (int i = 0; i < 5000; i++)
					ingot_free(ingot_malloc(16 + (size_t)i % 1000));
				_exit(ingot_check() == 0 ? 0 : 1);
			}
			int status;
			THREAD_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			                     WEXITSTATUS(status) == 0,
			             "the forked child's heap failed");
		}
		pthread_barrier_wait(&ring_barrier);
	}
	return NULL;
}

Test(hardened, a_ring_of_consumers_gives_every_block_back, .timeout = 60)
{
	size_t before = small_bytes_out();
	pthread_barrier_init(&ring_barrier, NULL, RING);
	pthread_t t[RING];
	for (uintptr_t i = 0; i < RING; i++)
		t[i] = start_thread(ring_worker, (void *)i);
	for (unsigned i = 0; i < RING; i++)
		join_thread(t[i]);
	pthread_barrier_destroy(&ring_barrier);
	assert_no_thread_failure();
	cr_assert_eq(ingot_check(), 0);
	size_t after = small_bytes_out();
	cr_assert_leq(after, before + 16384, "%zu bytes out before, %zu after", before, after);
}

/* ---- realloc within a class ------------------------------------------------ */

/* Grows a small block by realloc a byte at a time up to its usable size,
 * which its class holds with the canary past it, then writes one byte
 * more and frees it. */
static void overflow_after_realloc_in_class(void *arg)
{
	(void)arg;
	char *p = ingot_malloc(40);
	size_t usable = ingot_malloc_usable_size(p);
	for (size_t n = 41; n <= usable; n++)
		if (ingot_realloc(p, n) != p)
			_exit(3); /* moved within its class */
	if (ingot_malloc_usable_size(p) != usable)
		_exit(4);
	p[usable] = 'x';
	ingot_free(p);
}

Test(hardened, realloc_within_a_class_keeps_the_block_and_its_canary)
{
	assert_aborts_with(overflow_after_realloc_in_class, NULL, "heap overflow", "after realloc");
}

/* A realloc one byte past the usable size moves the block to the next
 * class, with its contents, as the canary must stay past the usable size. */
Test(hardened, realloc_past_the_usable_size_moves_the_block)
{
	for (size_t size = 8; size <= 4096; size += 8) {
		unsigned char *p = ingot_malloc(size);
		size_t usable = ingot_malloc_usable_size(p);
		pattern_fill(p, usable, size);
		unsigned char *q = ingot_realloc(p, usable + 1);
		cr_assert_not_null(q);
		cr_assert_geq(ingot_malloc_usable_size(q), usable + 1, "realloc(%zu) too small", usable + 1);
		cr_assert_eq(pattern_mismatch(q, usable, size), SIZE_MAX, "realloc(%zu) lost data", usable + 1);
		ingot_free(q);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* ---- counters ---------------------------------------------------------- */

#define QUARANTINE_LEN_TEST 64 /* src/hardening.h's QUARANTINE_LEN */

static uint64_t thread_counter(const char *name)
{
	uint64_t v = 0;
	size_t len = sizeof v;
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

/* thread.deallocated counts a hardened free when it is made, though the
 * block waits in the quarantine and the ring mixes classes: fewer frees
 * than the ring holds count theirs, and after many more than it holds
 * every byte the thread allocated is counted freed. */
Test(hardened, thread_deallocated_counts_frees_the_quarantine_holds)
{
	enum { N = 3 * QUARANTINE_LEN_TEST, FEW = QUARANTINE_LEN_TEST / 2 };
	static void *blocks[N];
	static uint64_t bytes[N]; /* what thread.allocated counted for each */
	ingot_free(ingot_malloc(1)); /* the cache exists */
	for (unsigned i = 0; i < N; i++) {
		uint64_t before = thread_counter("thread.allocated");
		blocks[i] = ingot_malloc(i % 3 == 0 ? 24 : i % 3 == 1 ? 200 : 1500);
		cr_assert_not_null(blocks[i]);
		bytes[i] = thread_counter("thread.allocated") - before;
		cr_assert_geq(bytes[i], ingot_malloc_usable_size(blocks[i]), "block %u counted %llu", i,
		              (unsigned long long)bytes[i]);
	}
	uint64_t d0 = thread_counter("thread.deallocated"), want = 0;
	for (unsigned i = 0; i < N; i++) {
		ingot_free(blocks[i]);
		want += bytes[i];
		if (i + 1 == FEW || i + 1 == N)
			cr_assert_eq(thread_counter("thread.deallocated") - d0, want, "after %u frees: %llu, want %llu",
			             i + 1, (unsigned long long)(thread_counter("thread.deallocated") - d0),
			             (unsigned long long)want);
	}
	cr_assert_eq(ingot_check(), 0);
}

static uint64_t arena_small_allocated(void)
{
	uint64_t epoch = 1;
	unsigned arena;
	size_t len = sizeof arena;
	char name[64];
	cr_assert_eq(ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
	cr_assert_eq(ingot_mallctl("thread.arena", &arena, &len, NULL, 0), 0);
	snprintf(name, sizeof name, "stats.arenas.%u.small.allocated", arena);
	size_t bytes = 0;
	len = sizeof bytes;
	cr_assert_eq(ingot_mallctl(name, &bytes, &len, NULL, 0), 0, "%s", name);
	return bytes;
}

/* The hardened malloc makes the cache's garbage pass every so many calls
 * (8192), as the default's fast path does: a class the thread stopped
 * using gives its cached blocks back to their bins while it mallocs and
 * frees blocks of another. */
Test(hardened, a_stack_left_unused_gives_its_blocks_back_while_others_churn)
{
	enum { NIDLE = 200, CHURN = 4 * 8192 };
	static void *idle[NIDLE];
	for (unsigned i = 0; i < NIDLE; i++)
		cr_assert_not_null(idle[i] = ingot_malloc(2000));
	for (unsigned i = 0; i < NIDLE; i++)
		ingot_free(idle[i]);
	for (unsigned i = 0; i < 2 * QUARANTINE_LEN_TEST; i++) /* out of the quarantine, */
		ingot_free(ingot_malloc(32));                    /* onto their stack */
	uint64_t before = arena_small_allocated();
	for (unsigned i = 0; i < CHURN; i++)
		ingot_free(ingot_malloc(32));
	uint64_t after = arena_small_allocated();
	cr_assert_gt(before, after + 4 * 2000, "the bins' small bytes out went %llu -> %llu",
	             (unsigned long long)before, (unsigned long long)after);
	cr_assert_eq(ingot_check(), 0);
}

static uint64_t bin_stat(unsigned arena, unsigned bin, const char *what)
{
	char name[96];
	uint64_t v = 0;
	size_t len = sizeof v;
	snprintf(name, sizeof name, "stats.arenas.%u.bins.%u.%s", arena, bin, what);
	cr_assert_eq(ingot_mallctl(name, &v, &len, NULL, 0), 0, "%s", name);
	return v;
}

/* The bins' counts stay right in a hardened heap, whose frees wait in the
 * quarantine: once the thread's cache is flushed, every object its bin
 * handed out came back (ndalloc grew as nmalloc did), and none is left out. */
Test(hardened, bin_counts_balance_once_the_cache_is_flushed)
{
	enum { N = 50 };
	void *p[N];
	unsigned arena, nbins, bin = 0;
	size_t len = sizeof arena;
	uint64_t epoch = 1;
	cr_assert_eq(ingot_mallctl("thread.arena", &arena, &len, NULL, 0), 0);
	cr_assert_eq(ingot_mallctl("arenas.nbins", &nbins, &len, NULL, 0), 0);
	void *probe = ingot_malloc(96);
	size_t class_size = ingot_malloc_usable_size(probe) + 8; /* the canary's */
	ingot_free(probe);
	for (unsigned j = 0; j < nbins; j++) {
		char name[64];
		size_t size = 0, slen = sizeof size;
		snprintf(name, sizeof name, "arenas.bin.%u.size", j);
		cr_assert_eq(ingot_mallctl(name, &size, &slen, NULL, 0), 0, "%s", name);
		if (size == class_size)
			bin = j;
	}
	cr_assert_neq(bin, 0, "no bin of %zu bytes", class_size);
	cr_assert_eq(ingot_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
	cr_assert_eq(ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
	uint64_t m0 = bin_stat(arena, bin, "nmalloc"), d0 = bin_stat(arena, bin, "ndalloc");
	uint64_t live0 = bin_stat(arena, bin, "curregs");
	for (unsigned i = 0; i < N; i++)
		cr_assert_not_null(p[i] = ingot_malloc(96));
	cr_assert_eq(ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
	cr_assert_geq(bin_stat(arena, bin, "nmalloc") - m0, N);
	for (unsigned i = 0; i < N; i++)
		ingot_free(p[i]);
	cr_assert_eq(ingot_mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
	cr_assert_eq(ingot_mallctl("epoch", NULL, NULL, &epoch, sizeof epoch), 0);
	uint64_t m1 = bin_stat(arena, bin, "nmalloc"), d1 = bin_stat(arena, bin, "ndalloc");
	cr_assert_eq(d1 - d0, m1 - m0, "bin %u: %llu out, %llu back", bin, (unsigned long long)(m1 - m0),
	             (unsigned long long)(d1 - d0));
	cr_assert_eq(bin_stat(arena, bin, "curregs"), live0);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- remote blocks waiting to go home --------------------------------------- */

/* A thread that is no consumer yet (it sent fewer than 256 of other
 * threads' blocks home) frees 100 of main's blocks: past its quarantine
 * they wait in its cache to go home (remote_wait), and a second free of
 * one of them is reported. */
static void *free_a_waiting_block_twice(void *arg)
{
	void **given = arg;
	use_an_arena_of_its_own();
	for (int i = 0; i < 100; i++)
		ingot_free(given[i]);
	ingot_free(given[10]); /* out of the quarantine, waiting to go home */
	return NULL;
}

static void double_free_of_a_waiting_block(void *arg)
{
	(void)arg;
	static void *given[100];
	for (int i = 0; i < 100; i++)
		given[i] = ingot_malloc(CONSUMED_SIZE);
	pthread_t t;
	pthread_create(&t, NULL, free_a_waiting_block_twice, given);
	pthread_join(t, NULL);
}

Test(hardened, double_free_of_a_remote_block_waiting_to_go_home_is_caught)
{
	assert_aborts_with(double_free_of_a_waiting_block, NULL, "double free",
	                   "a remote block freed twice while it waits to go home");
}

/* A write after free into any 16 bytes of the checked head is caught, in
 * the classes at each edge of the head patterns, 16- and 32-byte ones
 * (hardening.h: a 16-byte class, then a vector at each end, strides 16 and
 * 32, a head cut at 256 bytes), from the first byte to the last. */
Test(hardened, write_after_free_is_caught_in_every_16_bytes_of_the_head)
{
	static const size_t sizes[] = {8, 24, 40, 56, 72, 104, 120, 136, 248, 264, 1000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = ingot_malloc(sizes[i]);
		size_t usable = ingot_malloc_usable_size(p);
		ingot_free(p);
		size_t head = usable < 256 ? usable : 256;
		for (size_t at = 0; at <= head; at += 16) {
			size_t where[2] = {sizes[i], at < head ? at : head - 1}; /* then its last byte */
			assert_aborts_with(write_after_free_at, where, "write after free", "write after free");
		}
	}
}

/* harden_wide reads back as the test chose it (choose_profile). */
Test(hardened, harden_wide_reads_back)
{
	bool wide;
	size_t len = sizeof(wide);
	cr_assert_eq(ingot_mallctl("opt.harden_wide", &wide, &len, NULL, 0), 0);
	cr_assert_eq(wide, PROFILE_AT_START, "opt.harden_wide is %d", wide);
}
