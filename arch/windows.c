/*
 * windows.c — the arch back end for Windows (built with mingw-w64; Windows 8
 * or later, and Wine).
 *
 * Memory comes from VirtualAlloc reservations committed whole; a range is
 * released by releasing its reservation, which VirtualFree can only do whole
 * (so arch_map_extend always refuses: the core then never releases part). Locks and
 * the background purger sleep with WaitOnAddress (its thread: CreateThread); thread exit is a fiber-local storage callback; the seed
 * comes from BCryptGenRandom. Windows has no fork, so only the process-exit
 * hook is registered.
 *
 * Nothing here calls the C library's malloc, and ingot does not replace it on
 * Windows: a Windows build exports only the ingot_* names. Some calls below
 * (FlsAlloc, GetEnvironmentVariableA) may use the process heap internally;
 * that heap is the system's, never ingot's, so there is no reentrancy.
 *
 * Link with -lsynchronization (WaitOnAddress) and -lbcrypt.
 */
#define WIN32_LEAN_AND_MEAN
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0602 /* Windows 8: WaitOnAddress */
#endif
#include "arch.h"
#include "backend.h"

#include <windows.h>
#include <bcrypt.h>
#include <errno.h>
#include <stdlib.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

static size_t page_size;   /* set once by arch_init */
static size_t granularity; /* VirtualAlloc reservation alignment, 64 KiB */

/* ---- info ------------------------------------------------------------- */

static unsigned count_cpus(const SYSTEM_INFO *si)
{
	/* All processor groups: GetSystemInfo sees only the caller's group,
	 * at most 64 CPUs. */
	DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
	if (n == 0)
		n = si->dwNumberOfProcessors;
	return n > 0 ? (unsigned)n : 1;
}

void arch_init(struct arch_info *info)
{
	SYSTEM_INFO si;
	GetSystemInfo(&si);
	page_size = si.dwPageSize ? si.dwPageSize : 4096;
	granularity = si.dwAllocationGranularity ? si.dwAllocationGranularity : 65536;
	info->page_size = page_size;
	info->ncpus = count_cpus(&si);
	info->has_threads = true;
	info->memory_high = 0; /* no container limits known here */
	info->memory_max = 0;
	info->hugepage_size = 0;
}

/* ---- memory ----------------------------------------------------------- */

static void *reserve_commit(void *at, size_t size)
{
	return VirtualAlloc(at, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

/* Reserves size + align bytes to find an aligned address, releases them and
 * reserves exactly the aligned run there. Another thread may take the
 * address in between, so this retries; a few failures in a row mean the
 * address space is crowded and the caller falls back to over-reserving. */
static void *map_aligned_exact(size_t size, size_t align)
{
	size_t total = size + align - granularity;
	if (total < size)
		return NULL;
	for (int attempt = 0; attempt < 8; attempt++) {
		char *raw = VirtualAlloc(NULL, total, MEM_RESERVE, PAGE_NOACCESS);
		if (raw == NULL)
			return NULL;
		char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
		VirtualFree(raw, 0, MEM_RELEASE);
		void *p = reserve_commit(start, size);
		if (p != NULL)
			return p;
	}
	return NULL;
}

/* The fallback: keeps the whole over-sized reservation and commits only the
 * aligned run inside it. arch_unmap finds the reservation's base through
 * VirtualQuery, so this costs address space, not memory. */
static void *map_aligned_padded(size_t size, size_t align)
{
	size_t total = size + align - granularity;
	if (total < size)
		return NULL;
	char *raw = VirtualAlloc(NULL, total, MEM_RESERVE, PAGE_NOACCESS);
	if (raw == NULL)
		return NULL;
	char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (VirtualAlloc(start, size, MEM_COMMIT, PAGE_READWRITE) == NULL) {
		VirtualFree(raw, 0, MEM_RELEASE);
		return NULL;
	}
	return start;
}

int arch_map(size_t size, size_t align, void **out)
{
	/* Reservations start on a granularity boundary (64 KiB), which covers
	 * every alignment up to it; larger ones may need the slow paths. */
	void *p = reserve_commit(NULL, size);
	if (p != NULL && ((uintptr_t)p & (align - 1)) != 0) {
		VirtualFree(p, 0, MEM_RELEASE);
		p = map_aligned_exact(size, align);
		if (p == NULL)
			p = map_aligned_padded(size, align);
	}
	if (p == NULL)
		return ARCH_ENOMEM;
	*out = p;
	return 0;
}

/* Whether any page of the reservation starting at base is still committed. */
static bool reservation_has_commit(char *base)
{
	MEMORY_BASIC_INFORMATION mbi;
	for (char *q = base; VirtualQuery(q, &mbi, sizeof mbi) == sizeof mbi; q += mbi.RegionSize) {
		if (mbi.AllocationBase != base || mbi.State == MEM_FREE)
			break;
		if (mbi.State == MEM_COMMIT)
			return true;
	}
	return false;
}

void arch_unmap(void *addr, size_t size)
{
	/* Decommit the range, then release the reservation once nothing in it
	 * is committed: that covers exact reservations, padded ones from
	 * map_aligned_padded, and (against the contract, but harmlessly) a
	 * sub-range, which only gives its memory back. */
	MEMORY_BASIC_INFORMATION mbi;
	if (VirtualQuery(addr, &mbi, sizeof mbi) != sizeof mbi || mbi.State == MEM_FREE)
		return;
	char *base = mbi.AllocationBase;
	VirtualFree(addr, size, MEM_DECOMMIT);
	if (!reservation_has_commit(base))
		VirtualFree(base, 0, MEM_RELEASE);
}

int arch_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out)
{
	/* Not supported: VirtualAlloc has no way to move pages to another address. */
	(void)addr;
	(void)old_size;
	(void)new_size;
	(void)align;
	(void)out;
	return ARCH_EINVAL;
}

int arch_map_move_onto(void *addr, size_t size, void *dest)
{
	/* Not supported: VirtualAlloc has no way to move pages to another address. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_move_out(void *addr, size_t size, void *dest)
{
	/* Not supported: VirtualAlloc has no way to move pages to another address. */
	(void)addr;
	(void)size;
	(void)dest;
	return ARCH_EINVAL;
}

int arch_map_extend(void *addr, size_t old_size, size_t new_size)
{
	/* A reservation cannot grow, and a second one after it could not be
	 * released together with the first. */
	(void)addr;
	(void)old_size;
	(void)new_size;
	return ARCH_ENOMEM;
}

void arch_purge(void *addr, size_t size, bool *zeroed)
{
	/* MEM_RESET tells the memory manager the contents are garbage: the
	 * pages leave the working set without being written to the page file,
	 * and the range stays committed and usable, so this cannot fail later
	 * the way decommit-then-recommit can when the commit limit is reached.
	 * The next touch sees old contents or zeros. */
	VirtualAlloc(addr, size, MEM_RESET, PAGE_READWRITE);
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
	DWORD old;
	if (VirtualProtect(addr, size, accessible ? PAGE_READWRITE : PAGE_NOACCESS, &old))
		return 0;
	return GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? ARCH_ENOMEM : ARCH_EINVAL;
}

/* ---- locks ------------------------------------------------------------ */

/* WaitOnAddress returns at once when the word is not 2. */
static void wait_while_2(uint32_t *word)
{
	uint32_t held = 2;
	WaitOnAddress((volatile void *)word, &held, sizeof held, INFINITE);
}

void arch_lock_wait(arch_lock_t *lock)
{
	lock_wait_sleeping(lock, wait_while_2);
}

void arch_lock_wake(arch_lock_t *lock)
{
	WakeByAddressSingle((void *)&lock->word);
}

/* ---- threads, process exit -------------------------------------------- */

/* FLS callbacks run only for non-NULL values, so a NULL arg is stored as
 * this sentinel. */
static char null_arg_sentinel;

static DWORD fls_index = FLS_OUT_OF_INDEXES;
static INIT_ONCE fls_once = INIT_ONCE_STATIC_INIT;

/* Called when a thread (or fiber) that registered ends, with its value.
 * Windows clears the slot first, so a new registration from inside
 * ingot_thread_exit gets its own call. */
static void WINAPI on_thread_exit(void *value)
{
	ingot_thread_exit(value == &null_arg_sentinel ? NULL : value);
}

static BOOL CALLBACK create_fls_index(INIT_ONCE *once, void *param, void **context)
{
	(void)once;
	(void)param;
	(void)context;
	static const char msg[] = "ingot: no FLS index for thread exit\n";
	fls_index = FlsAlloc(on_thread_exit);
	/* Without an index, thread caches stay unflushed at thread exit. */
	if (fls_index == FLS_OUT_OF_INDEXES)
		arch_write_err(msg, sizeof msg - 1);
	return TRUE;
}

void arch_thread_exit_register(void *arg)
{
	InitOnceExecuteOnce(&fls_once, create_fls_index, NULL, NULL);
	if (fls_index != FLS_OUT_OF_INDEXES)
		FlsSetValue(fls_index, arg != NULL ? arg : &null_arg_sentinel);
}

static _Atomic bool hooks_registered;

void arch_hooks_register(void)
{
	/* No fork on Windows; process exit is the destructor below. */
	__atomic_store_n(&hooks_registered, true, __ATOMIC_RELEASE);
}

/* mingw-w64 runs destructors at exit() and return from main. */
__attribute__((destructor)) static void on_process_exit(void)
{
	if (__atomic_exchange_n(&hooks_registered, false, __ATOMIC_ACQ_REL))
		ingot_process_exit();
}

uintptr_t arch_thread_id(void)
{
	return (uintptr_t)GetCurrentThreadId();
}

/* ---- background threads ------------------------------------------------ */

struct thread_start {
	void (*fn)(void *);
	void *arg;
};

static DWORD WINAPI thread_main(void *p)
{
	struct thread_start start = *(struct thread_start *)p;
	__atomic_store_n(&((struct thread_start *)p)->fn, NULL, __ATOMIC_RELEASE);
	start.fn(start.arg);
	return 0;
}

/* Windows has no signals to block; the thread's handle is closed at once
 * (nobody joins it). */
int arch_thread_start(void (*fn)(void *), void *arg)
{
	struct thread_start start = {fn, arg};
	HANDLE h = CreateThread(NULL, 0, thread_main, &start, 0, NULL);
	if (h == NULL)
		return ARCH_EAGAIN;
	CloseHandle(h);
	while (__atomic_load_n(&start.fn, __ATOMIC_ACQUIRE) != NULL)
		SwitchToThread();
	return 0;
}

void arch_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	DWORD ms = INFINITE;
	if (timeout_ns != ARCH_WAIT_FOREVER) {
		uint64_t rounded = timeout_ns / 1000000u + (timeout_ns % 1000000u != 0);
		ms = rounded >= INFINITE ? INFINITE - 1 : (DWORD)rounded;
	}
	WaitOnAddress((volatile void *)word, &expected, sizeof expected, ms);
}

void arch_wake(uint32_t *word)
{
	WakeByAddressAll((void *)word);
}

/* ---- misc ------------------------------------------------------------- */

void arch_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ULONG n = len > 0x10000000u ? 0x10000000u : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			break;
		p += n;
		len -= n;
	}
	random_fallback(p, len, GetCurrentProcessId());
}

uint64_t arch_now_ns(void)
{
	/* The counter's frequency is fixed at boot. Split the conversion so
	 * that count * 1e9 cannot overflow. */
	static _Atomic uint64_t freq;
	uint64_t f = __atomic_load_n(&freq, __ATOMIC_RELAXED);
	if (f == 0) {
		LARGE_INTEGER qf;
		QueryPerformanceFrequency(&qf);
		f = qf.QuadPart > 0 ? (uint64_t)qf.QuadPart : 1;
		__atomic_store_n(&freq, f, __ATOMIC_RELAXED);
	}
	LARGE_INTEGER c;
	QueryPerformanceCounter(&c);
	uint64_t count = (uint64_t)c.QuadPart;
	return count / f * 1000000000u + count % f * 1000000000u / f;
}

void arch_write_err(const char *msg, size_t len)
{
	HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
	if (h == NULL || h == INVALID_HANDLE_VALUE)
		return;
	while (len > 0) {
		DWORD n = 0, want = len > 0x40000000u ? 0x40000000u : (DWORD)len;
		if (!WriteFile(h, msg, want, &n, NULL) || n == 0)
			return; /* stderr closed or broken: nowhere left to report */
		msg += n;
		len -= n;
	}
}

_Noreturn void arch_abort(void)
{
	abort();
}

_Noreturn void arch_exit(int status)
{
	_exit(status);
}

/* ---- environment -------------------------------------------------------- */

/* GetEnvironmentVariableA copies into a caller's buffer and the contract
 * forbids allocating, so each name and its value are copied once into this
 * static pool and the copy is returned from then on. ingot reads each
 * variable once at start; later changes to the environment are not seen. */
#define ENV_POOL_SIZE 4096
#define ENV_NAMES_MAX 16

static struct {
	arch_lock_t lock;
	char pool[ENV_POOL_SIZE];
	size_t used;
	unsigned nnames;
	const char *names[ENV_NAMES_MAX];  /* copies in pool */
	const char *values[ENV_NAMES_MAX]; /* copies in pool, or NULL: not set */
} env;

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Copies name and its value into the pool and records them. Returns the
 * value, or NULL when it is not set or the pool is full. */
static const char *env_fetch(const char *name)
{
	static const char full_msg[] = "ingot: environment variable ignored (too long)\n";
	size_t name_len = 0;
	while (name[name_len])
		name_len++;
	if (env.nnames == ENV_NAMES_MAX || ENV_POOL_SIZE - env.used < name_len + 2) {
		arch_write_err(full_msg, sizeof full_msg - 1);
		return NULL;
	}
	char *name_copy = env.pool + env.used;
	for (size_t i = 0; i <= name_len; i++)
		name_copy[i] = name[i];
	char *value = name_copy + name_len + 1;
	size_t room = ENV_POOL_SIZE - env.used - name_len - 1;
	SetLastError(0);
	DWORD n = GetEnvironmentVariableA(name, value, (DWORD)room);
	if (n >= room) {
		arch_write_err(full_msg, sizeof full_msg - 1);
		return NULL; /* not recorded: the next call tries (and warns) again */
	}
	/* 0 is both "not set" and "set to the empty string". */
	bool set = n > 0 || GetLastError() != ERROR_ENVVAR_NOT_FOUND;
	if (!set)
		value[0] = '\0';
	env.used += name_len + 1 + (size_t)n + 1;
	env.names[env.nnames] = name_copy;
	env.values[env.nnames] = set ? value : NULL;
	env.nnames++;
	return set ? value : NULL;
}

const char *arch_getenv(const char *name)
{
	if (name[0] == '\0')
		return NULL;
	arch_lock_acquire(&env.lock);
	const char *value = NULL;
	unsigned i = 0;
	while (i < env.nnames && !str_eq(env.names[i], name))
		i++;
	value = i < env.nnames ? env.values[i] : env_fetch(name);
	arch_lock_release(&env.lock);
	return value;
}

void arch_set_errno(int err)
{
	errno = err;
}

/* ---- files -------------------------------------------------------------- */

/* A file HANDLE travels in the int of the contract: Windows keeps handles
 * to 32 significant bits so that 32- and 64-bit processes can share them,
 * and they convert back by sign extension. */
static HANDLE file_handle(int fd)
{
	return (HANDLE)(intptr_t)fd;
}

uint64_t arch_process_id(void)
{
	return GetCurrentProcessId();
}

int arch_file_open(const char *path, int *fd)
{
	HANDLE h = CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ, NULL, CREATE_ALWAYS,
	                       FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? ARCH_ENOMEM : ARCH_EINVAL;
	*fd = (int)(intptr_t)h;
	return 0;
}

int arch_file_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		DWORD n = 0, want = len > 0x40000000u ? 0x40000000u : (DWORD)len;
		if (!WriteFile(file_handle(fd), p, want, &n, NULL) || n == 0)
			return ARCH_EINVAL;
		p += n;
		len -= n;
	}
	return 0;
}

void arch_file_close(int fd)
{
	CloseHandle(file_handle(fd));
}

int arch_file_remove(const char *path)
{
	return DeleteFileA(path) ? 0 : ARCH_EINVAL;
}

/* ---- faults ------------------------------------------------------------- */

static void (*fault_handler)(uintptr_t address);

/* A vectored handler sees an access violation first; answering
 * EXCEPTION_CONTINUE_SEARCH passes it on to the handlers after it (the
 * program's own, then the default), as if ingot were not there. */
static LONG CALLBACK on_fault(EXCEPTION_POINTERS *info)
{
	EXCEPTION_RECORD *rec = info->ExceptionRecord;
	if (rec->ExceptionCode == EXCEPTION_ACCESS_VIOLATION && rec->NumberParameters >= 2)
		fault_handler((uintptr_t)rec->ExceptionInformation[1]);
	return EXCEPTION_CONTINUE_SEARCH;
}

int arch_fault_handler_install(void (*handler)(uintptr_t address))
{
	if (__atomic_exchange_n(&fault_handler, handler, __ATOMIC_ACQ_REL) == NULL)
		AddVectoredExceptionHandler(1, on_fault);
	return 0;
}

/* ---- heap profiles ------------------------------------------------------ */

/* Frames of ingot's own code stay in: telling them apart would need the
 * module's bounds, and profile readers skip the allocator's names. */
unsigned arch_backtrace(uintptr_t *pcs, unsigned max)
{
	void *frames[62]; /* RtlCaptureStackBackTrace takes fewer than 63 */
	USHORT n = RtlCaptureStackBackTrace(1, max < 62 ? max : 62, frames, NULL);
	for (USHORT i = 0; i < n; i++)
		pcs[i] = (uintptr_t)frames[i];
	return n;
}

/* Windows has no /proc maps: profiles carry no MAPPED_LIBRARIES lines. */
int arch_file_write_maps(int fd)
{
	(void)fd;
	return ARCH_EINVAL;
}
