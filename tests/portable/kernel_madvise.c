/*
 * kernel_madvise.c — madvise as a Linux kernel with large pages does it, for
 * running the aarch64 tests under qemu-aarch64 -p 16384 or -p 65536.
 *
 * qemu-user reports the page size it is given, but its madvise(MADV_DONTNEED)
 * neither rejects a start that is not page-aligned nor drops the whole pages
 * the range touches, as the kernel does. Linked with -Wl,--wrap=madvise, this
 * does both: EINVAL for an unaligned start, and for MADV_DONTNEED the length
 * rounded up to whole pages and those pages zeroed, as a private anonymous
 * mapping reads after the kernel drops it. Tests only.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int __real_madvise(void *addr, size_t len, int advice);
int __wrap_madvise(void *addr, size_t len, int advice);

int __wrap_madvise(void *addr, size_t len, int advice)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if ((size_t)addr % page != 0) {
		errno = EINVAL;
		return -1;
	}
	if (advice != MADV_DONTNEED)
		return __real_madvise(addr, len, advice);
	size_t whole = (len + page - 1) / page * page;
	memset(addr, 0, whole);
	return __real_madvise(addr, whole, advice);
}
