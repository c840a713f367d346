/*
 * linux.c — the arch back end for Linux (glibc or musl).
 *
 * Memory comes from anonymous mmap; locks and the purger sleep on futexes; thread exit is a
 * pthread key destructor; fork and process exit hooks are pthread_atfork and
 * an ELF destructor. Nothing here calls malloc (see arch_thread_exit_register
 * for the one place libc may do so on our behalf).
 */
#define _GNU_SOURCE
#include "arch.h"
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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

static void futex_wait_while_2(uint32_t *word)
{
	/* Returns at once (EAGAIN) if *word != 2; EINTR and spurious wake-ups
	 * are handled by the caller's loop. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void arch_lock_wait(arch_lock_t *lock)
{
	lock_wait_sleeping(lock, futex_wait_while_2);
}

void arch_lock_wake(arch_lock_t *lock)
{
	syscall(SYS_futex, &lock->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- background threads ----------------------------------------------- */

void arch_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	/* FUTEX_WAIT's timeout is relative, on the monotonic clock. */
	struct timespec ts, *limit = NULL;
	if (timeout_ns != ARCH_WAIT_FOREVER) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		limit = &ts;
	}
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, limit, NULL, 0);
}

void arch_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* ---- random ----------------------------------------------------------- */

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
	random_fallback(p, len, (uint64_t)getpid());
}

#include "unix.inc"
