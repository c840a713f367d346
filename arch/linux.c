/*
 * linux.c — the arch back end for Linux (glibc or musl).
 *
 * Memory comes from anonymous mmap; locks sleep on futexes; thread exit is a
 * pthread key destructor; fork and process exit hooks are pthread_atfork and
 * an ELF destructor. Nothing here calls malloc (see arch_thread_exit_register
 * for the one place libc may do so on our behalf).
 */
#define _GNU_SOURCE
#include "arch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Older headers lack it; older kernels (< 4.17) ignore the unknown bit and
 * treat the address as a plain hint, which arch_map_extend checks for. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAP_RW_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS)

/* Tells the CPU we are spinning (frees the sibling hyper-thread). */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

extern char **environ;

static size_t page_size; /* set once by arch_init */

/* ---- info ------------------------------------------------------------- */

static unsigned count_cpus(void)
{
	/* The affinity mask is what this process may run on (containers, taskset);
	 * it fails on hosts with more than CPU_SETSIZE CPUs, hence the fallback. */
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

void arch_init(struct arch_info *info)
{
	long ps = sysconf(_SC_PAGESIZE); /* read from the aux vector: safe before libc init */
	page_size = ps > 0 ? (size_t)ps : 4096;
	info->page_size = page_size;
	info->alloc_granularity = page_size;
	info->ncpus = count_cpus();
	info->has_overcommit = true;
	info->can_release_part = true;
	info->has_threads = true;
}

/* ---- memory ----------------------------------------------------------- */

static void *map_rw(void *hint, size_t size, int extra_flags)
{
	void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_RW_FLAGS | extra_flags, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Maps size + align - page_size bytes, which always contain an aligned run
 * of size bytes, and unmaps the unaligned head and the unused tail. */
static void *map_aligned_slow(size_t size, size_t align)
{
	size_t total = size + align - page_size;
	if (total < size)
		return NULL;
	char *raw = map_rw(NULL, total, 0);
	if (raw == NULL)
		return NULL;
	char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	size_t head = (size_t)(start - raw);
	size_t tail = total - head - size;
	if (head != 0)
		munmap(raw, head);
	if (tail != 0)
		munmap(start + size, tail);
	return start;
}

int arch_map(size_t size, size_t align, void **out)
{
	/* Fast path: the kernel often hands out an aligned range anyway. */
	void *p = map_rw(NULL, size, 0);
	if (p != NULL && ((uintptr_t)p & (align - 1)) != 0) {
		munmap(p, size);
		p = map_aligned_slow(size, align);
	}
	if (p == NULL)
		return ARCH_ENOMEM;
	*out = p;
	return 0;
}

void arch_unmap(void *addr, size_t size)
{
	/* Unmapping part of a mapping splits it and fails with ENOMEM once the
	 * process reaches vm.max_map_count. The range then stays mapped (its
	 * address space leaks) but at least its memory goes back to the OS. */
	if (munmap(addr, size) != 0)
		madvise(addr, size, MADV_DONTNEED);
}

int arch_map_extend(void *addr, size_t old_size, size_t new_size)
{
	char *tail = (char *)addr + old_size;
	size_t len = new_size - old_size;
	if ((uintptr_t)tail + len < (uintptr_t)tail)
		return ARCH_ENOMEM;
	/* NOREPLACE fails with EEXIST when anything is mapped there; a kernel
	 * that does not know the flag treats tail as a hint and may map elsewhere. */
	void *p = map_rw(tail, len, MAP_FIXED_NOREPLACE);
	if (p == NULL)
		return ARCH_ENOMEM;
	if (p != tail) {
		munmap(p, len);
		return ARCH_ENOMEM;
	}
	return 0;
}

void arch_purge(void *addr, size_t size, bool *zeroed)
{
	/* On private anonymous memory MADV_DONTNEED drops the pages at once and
	 * the next touch maps the zero page. It fails on mlock'ed ranges, which
	 * then keep their contents. */
	*zeroed = madvise(addr, size, MADV_DONTNEED) == 0;
}

int arch_protect(void *addr, size_t size, bool accessible)
{
	int prot = accessible ? PROT_READ | PROT_WRITE : PROT_NONE;
	if (mprotect(addr, size, prot) == 0)
		return 0;
	return errno == ENOMEM ? ARCH_ENOMEM : ARCH_EINVAL;
}

/* ---- locks ------------------------------------------------------------ */

static void futex_wait(uint32_t *word, uint32_t expected)
{
	/* Returns at once (EAGAIN) if *word != expected; EINTR and spurious
	 * wake-ups are handled by the caller's loop. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void arch_lock_wait(arch_lock_t *lock)
{
	/* Spin briefly while the holder may be about to release (state 1, no
	 * sleepers): a futex round trip costs far more than a short section. */
	for (int i = 0; i < 100; i++) {
		uint32_t w = __atomic_load_n(&lock->word, __ATOMIC_RELAXED);
		if (w == 0 && arch_lock_try(lock))
			return;
		if (w == 2)
			break;
		cpu_relax();
	}
	/* Take the lock as "held with waiters" (2): we cannot know whether others
	 * sleep, so the eventual release must wake one. Sleep while it was held. */
	while (__atomic_exchange_n(&lock->word, 2, __ATOMIC_ACQUIRE) != 0)
		futex_wait(&lock->word, 2);
}

void arch_lock_wake(arch_lock_t *lock)
{
	syscall(SYS_futex, &lock->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- threads, fork, process exit -------------------------------------- */

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* pthread only runs a key's destructor for non-NULL values, so a NULL arg is
 * stored as this sentinel. */
static char null_arg_sentinel;

static void on_thread_exit(void *value)
{
	/* pthread has already reset the value to NULL. If ingot_thread_exit (or a
	 * later key's destructor) makes ingot register again, pthread calls us
	 * again, up to PTHREAD_DESTRUCTOR_ITERATIONS times. */
	ingot_thread_exit(value == &null_arg_sentinel ? NULL : value);
}

static void create_exit_key(void)
{
	/* pthread_key_create does not allocate in glibc or musl. Failure (all
	 * keys taken) leaves thread caches unflushed at thread exit, nothing worse. */
	static const char msg[] = "ingot: no pthread key for thread exit\n";
	if (pthread_key_create(&exit_key, on_thread_exit) != 0)
		arch_write_err(msg, sizeof msg - 1);
}

void arch_thread_exit_register(void *arg)
{
	pthread_once(&exit_key_once, create_exit_key);
	/* glibc keeps the values of the first 32 keys inside the thread; for a
	 * higher key it calloc's a block on first use, which re-enters ingot.
	 * arch.h makes the caller responsible for that reentrancy. */
	pthread_setspecific(exit_key, arg != NULL ? arg : &null_arg_sentinel);
}

static bool hooks_registered; /* accessed only with __atomic builtins */

void arch_hooks_register(void)
{
	if (__atomic_exchange_n(&hooks_registered, true, __ATOMIC_ACQ_REL))
		return;
	pthread_atfork(ingot_fork_prepare, ingot_fork_parent, ingot_fork_child);
}

/* An ELF destructor rather than atexit(), which may allocate on some libcs.
 * It runs at exit() and return from main, not at _exit() or on a signal. */
__attribute__((destructor)) static void on_process_exit(void)
{
	if (__atomic_exchange_n(&hooks_registered, false, __ATOMIC_ACQ_REL))
		ingot_process_exit();
}

uintptr_t arch_thread_id(void)
{
	/* A thread-local's address is distinct for every live thread and costs no
	 * system call. initial-exec: a dynamic TLS access could call malloc. */
	static _Thread_local __attribute__((tls_model("initial-exec"))) char marker;
	return (uintptr_t)&marker;
}

/* ---- misc ------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Without kernel entropy (before 3.17, or seccomp): time, addresses (ASLR)
 * and a counter, mixed. Weak, but distinct per call and per process. */
static void random_fallback(unsigned char *buf, size_t len)
{
	static uint64_t counter; /* accessed only with __atomic builtins */
	uint64_t state = arch_now_ns() ^ (uint64_t)(uintptr_t)&state ^
	                 ((uint64_t)(uintptr_t)&counter << 17) ^ (uint64_t)getpid() << 40;
	state ^= __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) << 48;
	for (size_t i = 0; i < len; i += 8) {
		state = mix64(state);
		memcpy(buf + i, &state, len - i < 8 ? len - i : 8);
	}
}

void arch_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, GRND_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* ENOSYS, or EAGAIN: the pool is not ready yet */
			break;
		p += n;
		len -= (size_t)n;
	}
	random_fallback(p, len);
}

uint64_t arch_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void arch_write_err(const char *msg, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, msg, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stderr closed or broken: nowhere left to report */
		msg += n;
		len -= (size_t)n;
	}
}

_Noreturn void arch_abort(void)
{
	abort();
}

const char *arch_getenv(const char *name)
{
	/* Walks environ instead of calling getenv, so it works before libc has
	 * finished starting. setenv may replace environ, so read it each time;
	 * glibc never frees the strings it puts there, so results stay valid. */
	size_t len = strlen(name);
	char **env = environ;
	if (len == 0 || env == NULL)
		return NULL;
	for (; *env != NULL; env++) {
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	}
	return NULL;
}

void arch_set_errno(int err)
{
	errno = err;
}

/* ---- files ------------------------------------------------------------- */

int arch_file_open(const char *path, int *fd)
{
	int f;
	do
		f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (f < 0 && errno == EINTR);
	if (f < 0)
		return errno;
	*fd = f;
	return 0;
}

int arch_file_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return ARCH_EINVAL; /* a regular file never writes nothing */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void arch_file_close(int fd)
{
	close(fd); /* after close, even EINTR leaves the descriptor closed */
}
