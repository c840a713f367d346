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

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

/* Older headers lack it; older kernels (< 4.17) ignore the unknown bit and
 * treat the address as a plain hint, which arch_map_extend checks for. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAP_RW_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS)

/* In the shared libraries, loaded on the first backtrace rather than linked
 * (unix.inc; the Makefile builds their arch object with this flag). A static
 * program links libgcc's unwinder: loading the shared one into it fails. */
#if INGOT_UNWINDER_DLOPEN
#define UNWINDER_LIBRARY "libgcc_s.so.1"
#endif

extern char **environ;

static size_t page_size; /* set once by arch_init */

/* ---- info ------------------------------------------------------------- */

/* Reads up to size - 1 bytes of a small file into buf, NUL-terminated;
 * false when it cannot be read. open/read: nothing that allocates. */
static bool read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* A decimal number at *p, advancing p; false when there is none. */
static bool parse_u64(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Start-up reads and parses its few files with loops of its own rather
 * than libc's string functions: each libc function ingot alone calls costs a
 * small program the 64 KiB of libc's code that Linux maps around it. */

/* The line of text that begins with prefix, past the prefix; NULL if none. */
static const char *line_after(const char *text, const char *prefix)
{
	for (const char *line = text; *line != '\0';) {
		size_t i = 0;
		while (prefix[i] != '\0' && line[i] == prefix[i])
			i++;
		if (prefix[i] == '\0')
			return line + i;
		while (*line != '\0' && *line++ != '\n')
			continue;
	}
	return NULL;
}

/* Appends the n bytes of text (NUL-terminated if n is SIZE_MAX) at *at,
 * before end; false when they do not fit. */
static bool append(char **at, const char *end, const char *text, size_t n)
{
	for (size_t i = 0; i < n && text[i] != '\0'; i++) {
		if (*at == end)
			return false;
		*(*at)++ = text[i];
	}
	return true;
}

/* The file name of the process's cgroup v2 directory joined with name, in
 * out: "0::/path" in /proc/self/cgroup. False on cgroup v1 or no cgroup. */
static bool cgroup_file(const char *name, char *out, size_t size)
{
	char text[512];
	if (!read_small_file("/proc/self/cgroup", text, sizeof text))
		return false;
	const char *path = line_after(text, "0::");
	if (path == NULL)
		return false;
	size_t len = 0;
	while (path[len] != '\0' && path[len] != '\n')
		len++;
	char *at = out, *end = out + size - 1;
	if (!append(&at, end, CGROUP_ROOT, SIZE_MAX) || !append(&at, end, path, len))
		return false;
	if ((len == 0 || at[-1] != '/') && !append(&at, end, "/", 1))
		return false;
	if (!append(&at, end, name, SIZE_MAX))
		return false;
	*at = '\0';
	return true;
}

/* A cgroup v2 limit file (memory.high, memory.max): the number, or 0 for
 * "max" and when it cannot be read. */
static uint64_t cgroup_limit(const char *name)
{
	char path[600], text[64];
	uint64_t v = 0;
	const char *p = text;
	if (cgroup_file(name, path, sizeof path) && read_small_file(path, text, sizeof text) &&
	    parse_u64(&p, &v))
		return v;
	return 0;
}

/* The CPU quota of cpu.max ("quota period", or "max period") rounded up
 * to whole CPUs; 0 when there is none. */
static unsigned cgroup_cpus(void)
{
	char path[600], text[64];
	uint64_t quota, period;
	const char *p = text;
	if (!cgroup_file("cpu.max", path, sizeof path) || !read_small_file(path, text, sizeof text) ||
	    !parse_u64(&p, &quota) || *p++ != ' ' || !parse_u64(&p, &period) || period == 0)
		return 0;
	uint64_t cpus = (quota + period - 1) / period;
	return cpus > 0 && cpus < 1u << 20 ? (unsigned)cpus : 0;
}

/* The PMD huge page size when the kernel has transparent huge pages. */
static size_t read_hugepage_size(void)
{
	char text[32];
	uint64_t v = 0;
	const char *p = text;
	if (read_small_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", text, sizeof text) &&
	    parse_u64(&p, &v))
		return (size_t)v;
	return 0;
}

static unsigned count_cpus(void)
{
	/* The affinity mask is what this process may run on (containers, taskset);
	 * it fails on hosts with more than CPU_SETSIZE CPUs, hence the fallback.
	 * A container's CPU quota bounds it further. The system call (not libc's
	 * wrapper, see line_after) returns the bytes of the mask it wrote. */
	unsigned n = 0;
	unsigned long set[CPU_SETSIZE / (8 * sizeof(unsigned long))] = {0};
	long bytes = syscall(SYS_sched_getaffinity, 0, sizeof set, set);
	for (long i = 0; i < bytes / (long)sizeof(set[0]); i++)
		for (unsigned long word = set[i]; word != 0; word &= word - 1)
			n++;
	if (n == 0) {
		long online = sysconf(_SC_NPROCESSORS_ONLN);
		n = online > 0 ? (unsigned)online : 1;
	}
	unsigned quota = cgroup_cpus();
	return quota != 0 && quota < n ? quota : n;
}

void arch_init(struct arch_info *info)
{
	unsigned long ps = getauxval(AT_PAGESZ); /* safe before libc's own start-up */
	page_size = ps != 0 ? (size_t)ps : 4096;
	info->page_size = page_size;
	info->ncpus = count_cpus();
	info->memory_high = cgroup_limit("memory.high");
	info->memory_max = cgroup_limit("memory.max");
	info->hugepage_size = read_hugepage_size();
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

/* Before Linux 6.17 mremap moves only ranges inside one kernel mapping
 * (else EFAULT), and a range whose parts arch_map_move_onto brought
 * together may be several: those move half by half, down to the parts. */
static int move_pages(char *src, size_t size, char *dst)
{
	if (mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
		return 0;
	if (errno != EFAULT || size <= page_size)
		return ARCH_ENOMEM;
	size_t half = size / 2 / page_size * page_size;
	if (move_pages(src, half, dst) != 0)
		return ARCH_ENOMEM;
	return move_pages(src + half, size - half, dst + half);
}

int arch_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out)
{
	/* An aligned range first, then mremap moves the pages over it: one
	 * call, which either moves them all or leaves them where they were. */
	void *dest;
	if (arch_map(new_size, align, &dest) != 0)
		return ARCH_ENOMEM;
	void *p = mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
	if (p == MAP_FAILED) {
		arch_unmap(dest, new_size);
		return ARCH_ENOMEM;
	}
	*out = p;
	return 0;
}

int arch_map_move_onto(void *addr, size_t size, void *dest)
{
	return move_pages(addr, size, dest);
}

int arch_map_move_out(void *addr, size_t size, void *dest)
{
	/* MREMAP_DONTUNMAP (Linux 5.7) keeps the source range, empty; making
	 * it inaccessible then touches no page. */
	if (mremap(addr, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dest) ==
	    MAP_FAILED)
		return ARCH_EINVAL;
	/* Refused (too many mappings), the range stays as empty as the
	 * move left it: a use after free reads zero there, unreported. */
	(void)mprotect(addr, size, PROT_NONE);
	return 0;
}

void arch_purge(void *addr, size_t size, bool *zeroed)
{
	/* On private anonymous memory MADV_DONTNEED drops the pages at once and
	 * the next touch maps the zero page. It fails on mlock'ed ranges, which
	 * then keep their contents. */
	*zeroed = madvise(addr, size, MADV_DONTNEED) == 0;
}

int arch_hugepage_advise(void *addr, size_t size, bool on)
{
	return madvise(addr, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) == 0 ? 0 : ARCH_EINVAL;
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

/* The address range of the loaded object that holds ingot's code: frames
 * inside it at the top of a backtrace are ingot's own. Left empty when
 * ingot is linked into the main program, whose own frames share the range
 * (text_range_find then takes the archive's code section). */
static int find_ingot_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t *range = arg, self = (uintptr_t)&arch_backtrace;
	uintptr_t text_lo = UINTPTR_MAX, text_hi = 0;
	bool mine = false;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (ph->p_type != PT_LOAD)
			continue;
		mine |= self >= lo && self < hi;
		/* The range spans every executable segment: a layout may split
		 * the code (code small programs run, then the rest). */
		if (ph->p_flags & PF_X) {
			text_lo = lo < text_lo ? lo : text_lo;
			text_hi = hi > text_hi ? hi : text_hi;
		}
	}
	if (!mine)
		return 0;
	if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
		range[0] = text_lo;
		range[1] = text_hi;
	}
	return 1;
}

/* The bounds of lib/libingot.a's code in a program that links it: the
 * linker defines them around the section ingot_text that holds it all
 * (tools/archive-sections.sh); elsewhere they are absent (weak: 0). */
extern const char __start_ingot_text[] __attribute__((weak, visibility("hidden")));
extern const char __stop_ingot_text[] __attribute__((weak, visibility("hidden")));

static void text_range_find(uintptr_t range[2])
{
	dl_iterate_phdr(find_ingot_text, range);
	if (range[0] == range[1] && __start_ingot_text != NULL) {
		range[0] = (uintptr_t)__start_ingot_text;
		range[1] = (uintptr_t)__stop_ingot_text;
	}
}

#include "unix.inc"
