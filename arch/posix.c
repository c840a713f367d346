/*
 * posix.c — the arch back end for other Unix systems (BSDs, macOS, Solaris,
 * ...), using only POSIX calls plus MAP_ANON and madvise, which all of them
 * have. It builds and passes the same tests on Linux (make ARCH=posix).
 *
 * Compared with linux.c: locks spin and sleep instead of using a futex,
 * purge never promises zeroes, and arch_map_extend passes the wanted address
 * as a hint and checks what it got. Nothing here calls malloc (see
 * arch_thread_exit_register for the one place libc may do so for us).
 */
#define _DEFAULT_SOURCE /* glibc: MAP_ANON, madvise; other libcs show them by default */
#include "arch.h"
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#if !defined(MAP_ANON) && defined(MAP_ANONYMOUS)
#define MAP_ANON MAP_ANONYMOUS
#endif

extern char **environ;

static size_t page_size; /* set once by arch_init */

/* ---- info ------------------------------------------------------------- */

void arch_init(struct arch_info *info)
{
	long ps = sysconf(_SC_PAGESIZE);
	page_size = ps > 0 ? (size_t)ps : 4096;
	info->page_size = page_size;
	long n = -1;
#ifdef _SC_NPROCESSORS_ONLN /* not POSIX, but every Unix we target has it */
	n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	info->ncpus = n > 0 ? (unsigned)n : 1;
	info->has_threads = true;
	info->memory_high = 0; /* no container limits known here */
	info->memory_max = 0;
	info->hugepage_size = 0;
}

/* ---- memory ----------------------------------------------------------- */

static void *map_rw(void *hint, size_t size, int extra_flags)
{
	void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON | extra_flags, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void arch_unmap(void *addr, size_t size)
{
	/* Splitting a mapping can fail for lack of kernel map entries; the range
	 * then stays mapped, so at least hand its pages back. */
	if (munmap(addr, size) != 0)
		posix_madvise(addr, size, POSIX_MADV_DONTNEED);
}

int arch_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out)
{
	/* Not supported: POSIX has no way to move pages to another address. */
	(void)addr;
	(void)old_size;
	(void)new_size;
	(void)align;
	(void)out;
	return ARCH_EINVAL;
}

int arch_map_move_onto(void *addr, size_t size, void *dest)
{
	/* Not supported: POSIX has no way to move pages to another address. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_move_out(void *addr, size_t size, void *dest)
{
	/* Not supported: POSIX has no way to move pages to another address. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_extend(void *addr, size_t old_size, size_t new_size)
{
	char *tail = (char *)addr + old_size;
	size_t len = new_size - old_size;
	if ((uintptr_t)tail + len < (uintptr_t)tail)
		return ARCH_ENOMEM;
	/* POSIX has no "fixed but do not replace", and MAP_FIXED would silently
	 * unmap a neighbour, so tail is only a hint: the kernel uses it if the
	 * range is free and maps elsewhere if not. */
	void *p = map_rw(tail, len, 0);
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
	/* MADV_DONTNEED frees the pages at once on Linux, but on the BSDs and
	 * macOS it is a hint that may keep them: never promise zeroes. */
#ifdef MADV_DONTNEED
	madvise(addr, size, MADV_DONTNEED);
#else
	(void)addr;
	(void)size;
#endif
	*zeroed = false;
}

/* No huge-page advice here. */
int arch_hugepage_advise(void *addr, size_t size, bool on)
{
	(void)addr;
	(void)size;
	(void)on;
	return ARCH_EINVAL;
}

int arch_protect(void *addr, size_t size, bool accessible)
{
	int prot = accessible ? PROT_READ | PROT_WRITE : PROT_NONE;
	if (mprotect(addr, size, prot) == 0)
		return 0;
	return errno == ENOMEM ? ARCH_ENOMEM : ARCH_EINVAL;
}

/* ---- locks ------------------------------------------------------------ */

static void sleep_ns(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

/* Without a portable way to sleep on an address, waiters spin, then yield,
 * then sleep with a growing back-off. They take the lock as 1, never 2, so
 * arch_lock_release never calls arch_lock_wake; no waiter needs waking. */
void arch_lock_wait(arch_lock_t *lock)
{
	long backoff_ns = 1000;
	for (unsigned round = 0;; round++) {
		if (__atomic_load_n(&lock->word, __ATOMIC_RELAXED) == 0 && arch_lock_try(lock))
			return;
		if (round < 100) {
			cpu_relax();
		} else if (round < 200) {
			sched_yield();
		} else {
			sleep_ns(backoff_ns);
			if (backoff_ns < 100000) /* 100 us caps the latency a sleeper adds */
				backoff_ns *= 2;
		}
	}
}

void arch_lock_wake(arch_lock_t *lock)
{
	(void)lock; /* waiters poll */
}

/* ---- background threads ----------------------------------------------- */

/* No portable sleep on an address: one condition variable serves every
 * word (only the purger sleeps here, so it is never contended). */
static pthread_mutex_t wait_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;

void arch_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	pthread_mutex_lock(&wait_mutex);
	if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == expected) {
		if (timeout_ns == ARCH_WAIT_FOREVER) {
			pthread_cond_wait(&wait_cond, &wait_mutex);
		} else {
			/* pthread_cond_timedwait takes a CLOCK_REALTIME deadline. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns % 1000000000u;
			ts.tv_sec += (time_t)(timeout_ns / 1000000000u + ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&wait_cond, &wait_mutex, &ts);
		}
	}
	pthread_mutex_unlock(&wait_mutex);
}

void arch_wake(uint32_t *word)
{
	(void)word;
	pthread_mutex_lock(&wait_mutex);
	pthread_cond_broadcast(&wait_cond);
	pthread_mutex_unlock(&wait_mutex);
}

/* ---- random ----------------------------------------------------------- */

/* Reads as much of len as the device gives; returns how much it read. */
static size_t read_urandom(unsigned char *buf, size_t len)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	return done;
}

void arch_random(void *buf, size_t len)
{
	size_t got = len > 0 ? read_urandom(buf, len) : 0;
	random_fallback((unsigned char *)buf + got, len - got, (uint64_t)getpid());
}

/* Backtraces keep ingot's own frames here: finding ingot's code takes
 * dl_iterate_phdr, which not every Unix has (profile readers skip frames
 * named malloc, free, ... anyway). */
static void text_range_find(uintptr_t range[2])
{
	(void)range;
}

#include "unix.inc"
