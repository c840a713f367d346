/*
 * arch.h — the only interface between ingot and an operating system.
 *
 * Every back end (linux.c, posix.c, windows.c, region.c) implements exactly
 * these functions; the Makefile picks one. Nothing in src/ includes an OS
 * header or tests for an OS with #if: where back ends differ in ability,
 * the difference is data in struct arch_info.
 *
 * Rules that hold for every function below:
 *  - addresses and sizes given to the memory functions are multiples of
 *    arch_info.page_size, and sizes are > 0;
 *  - functions returning int return 0 on success or an errno-style code
 *    (ARCH_ENOMEM, ARCH_EINVAL) and pass results through out-parameters;
 *  - no function calls malloc or anything that may call it, except
 *    where a contract says so (arch_thread_exit_register on some systems);
 *  - all functions are thread-safe.
 */
#ifndef INGOT_ARCH_H
#define INGOT_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The errno values ingot returns and sets, Linux's numbers (jemalloc's
 * mallctl answers and the C/POSIX errors); arch_set_errno maps them where
 * a host numbers them otherwise. The only set: src/ uses these too. */
#define ARCH_EPERM 1
#define ARCH_ENOENT 2
#define ARCH_EAGAIN 11
#define ARCH_ENOMEM 12
#define ARCH_EFAULT 14
#define ARCH_EINVAL 22

/* What the host can do; filled once by arch_init. */
struct arch_info {
	size_t page_size;       /* granularity of commit/decommit/purge */
	unsigned ncpus;         /* CPUs the process may use (affinity, and the
	                         * container's CPU quota where known), at least 1 */
	bool has_threads;       /* false on single-threaded bare metal */
	uintptr_t map_base;     /* bare metal: every mapping lies in */
	size_t map_size;        /* [map_base, map_base + map_size); else 0, 0 */
	/* The container's memory bounds (Linux: the process's cgroup v2
	 * memory.high and memory.max), 0 where there is none or it cannot be
	 * read. */
	uint64_t memory_high, memory_max;
	size_t hugepage_size;   /* transparent huge page size, 0 where none */
};

/* Fills *info. Called once, before any other arch function, possibly
 * before main and before libc's own initialisation has finished. */
void arch_init(struct arch_info *info);

/* ---- memory ------------------------------------------------------------ */

/* Reserves size bytes aligned to align (a power of two >= page_size) and
 * commits them: the range is readable, writable and reads as zero.
 * On failure returns ARCH_ENOMEM and leaves *out untouched. */
int arch_map(size_t size, size_t align, void **out);

/* Releases a range obtained from arch_map, or the page-aligned tail that
 * arch_map_extend added to one (the only part of a mapping the core ever
 * releases alone: back ends that cannot release part, Windows, refuse to
 * extend). The range must not be used afterwards. */
void arch_unmap(void *addr, size_t size);

/* Tries to make the mapping [addr, addr+old_size) span new_size bytes
 * (new_size > old_size) without moving it. Returns 0 and the new tail reads
 * as zero, or ARCH_ENOMEM when the address space after it is taken. */
int arch_map_extend(void *addr, size_t old_size, size_t new_size);

/* Moves the mapping [addr, addr+old_size) (from arch_map), pages and all,
 * to a fresh range of new_size bytes (new_size > old_size) aligned to align,
 * whose tail reads as zero: a block grows without faulting its pages in
 * again or being copied. Returns 0 and *out (addr is then unmapped);
 * ARCH_ENOMEM, or ARCH_EINVAL where the back end cannot move pages
 * (posix.c, windows.c, region.c), with the old mapping untouched (also when
 * it is made of parts arch_map_move_onto brought together, which older
 * Linux kernels cannot move at once). */
int arch_map_move(void *addr, size_t old_size, size_t new_size, size_t align, void **out);

/* Moves the pages of [addr, addr+size) (page-aligned, part or all of a
 * range from arch_map or arch_map_move, or of several such ranges that
 * this function brought together), contents and all, onto [dest,
 * dest+size), part of another such range, whose pages they replace: pages
 * faulted in once serve a second range without faulting in again. Returns
 * 0 ([addr, addr+size) is then unmapped); ARCH_EINVAL where the back end
 * cannot move pages (posix.c, windows.c, region.c), with both untouched;
 * or ARCH_ENOMEM, after which [addr, addr+size) is only fit to be unmapped
 * and [dest, dest+size) holds some of its pages and zero pages elsewhere. */
int arch_map_move_onto(void *addr, size_t size, void *dest);

/* Moves the pages of [addr, addr+size) (one range from arch_map) onto
 * [dest, dest+size), part of another, as arch_map_move_onto does, but
 * leaves [addr, addr+size) mapped, without pages and inaccessible: the
 * range of a freed block stays reserved and faults, at a cost that does
 * not grow with its pages as arch_protect's does (Linux moves whole page
 * tables). Returns 0; ARCH_EINVAL where the back end cannot (older
 * kernels, posix.c, windows.c, region.c) or the range is made of parts,
 * with both ranges untouched. */
int arch_map_move_out(void *addr, size_t size, void *dest);

/* Gives the physical pages of a committed range back to the OS but keeps
 * the range usable: the next touch reads zero (*zeroed = true) or the old
 * contents (*zeroed = false, e.g. MADV_FREE or no-op back ends). */
void arch_purge(void *addr, size_t size, bool *zeroed);

/* Makes a committed range inaccessible (guard pages) or accessible again.
 * Back ends without protection return ARCH_EINVAL; callers then go on
 * without guards. */
int arch_protect(void *addr, size_t size, bool accessible);

/* Asks the OS to back a committed range with huge pages (on) or never to
 * (off): Linux's transparent huge pages, MADV_HUGEPAGE / MADV_NOHUGEPAGE.
 * Only advice: contents stay. Returns 0, or ARCH_EINVAL where the back end
 * has no such advice (posix.c, windows.c, region.c); callers go on. */
int arch_hugepage_advise(void *addr, size_t size, bool on);

/* ---- locks ------------------------------------------------------------- */

/* A lock is one 32-bit word: 0 free, 1 held, 2 held with waiters.
 * Zero-initialised storage is an unlocked lock. The uncontended paths are
 * inline atomics; arch_lock_wait/arch_lock_wake block and wake through the
 * host (futex, WaitOnAddress, or spinning where there is no scheduler). */
typedef struct {
	uint32_t word; /* only through __atomic builtins; clang rejects them on _Atomic */
} arch_lock_t;

#define ARCH_LOCK_INIT {0}

void arch_lock_wait(arch_lock_t *lock); /* returns holding the lock */
void arch_lock_wake(arch_lock_t *lock); /* wakes one waiter */

static inline bool arch_lock_try(arch_lock_t *lock)
{
	uint32_t expected = 0;
	return __atomic_compare_exchange_n(&lock->word, &expected, 1, false,
	                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void arch_lock_acquire(arch_lock_t *lock)
{
	if (__builtin_expect(!arch_lock_try(lock), 0))
		arch_lock_wait(lock);
}

static inline void arch_lock_release(arch_lock_t *lock)
{
	if (__builtin_expect(__atomic_exchange_n(&lock->word, 0, __ATOMIC_RELEASE) == 2, 0))
		arch_lock_wake(lock);
}

/* Used in a forked child, where the lock's holder no longer exists. */
static inline void arch_lock_reset(arch_lock_t *lock)
{
	__atomic_store_n(&lock->word, 0, __ATOMIC_RELAXED);
}

/* ---- threads, fork, process exit ---------------------------------------- */

/* Asks for ingot_thread_exit(arg) to be called when the calling thread
 * ends. Called once per thread, from ingot's slow path; may allocate
 * through ingot itself (pthread keys), so the caller must be reentrant. */
void arch_thread_exit_register(void *arg);

/* Called by the back end, not by ingot: the hooks ingot provides. */
void ingot_thread_exit(void *arg);      /* thread ending */
void ingot_fork_prepare(void);          /* before fork(): take all locks */
void ingot_fork_parent(void);           /* after fork() in the parent */
void ingot_fork_child(void);            /* after fork() in the child */
void ingot_process_exit(void);          /* at normal process exit */

/* Registers the fork and process-exit hooks above. Called once at init. */
void arch_hooks_register(void);

/* A small number unique to the calling thread among live threads; used to
 * spread threads over arenas. */
uintptr_t arch_thread_id(void);

/* ---- background threads (the purger, src/background.c) ------------------ */

/* Runs fn(arg) on a new thread of its own, with every signal blocked (a
 * program's signals never land on it). It is never joined: it ends by
 * returning from fn. May allocate through ingot (thread stack, TLS), so the
 * caller must hold no ingot lock. Returns 0, ARCH_EAGAIN when the OS refuses
 * a thread, or ARCH_EINVAL where the back end has no threads (region.c):
 * the caller then goes without. */
int arch_thread_start(void (*fn)(void *), void *arg);

#define ARCH_WAIT_FOREVER UINT64_MAX

/* Sleeps while *word == expected, for at most timeout_ns nanoseconds
 * (ARCH_WAIT_FOREVER: no limit). May return early or spuriously: callers
 * look at the word and the clock again. Where there are no threads it
 * returns at once. */
void arch_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);

/* Wakes every thread sleeping in arch_wait on word (after the caller
 * changed it). Never allocates; may be called holding ingot's locks. */
void arch_wake(uint32_t *word);

/* ---- misc --------------------------------------------------------------- */

/* Fills buf with unpredictable bytes (a weak fallback where the host has
 * no entropy source). */
void arch_random(void *buf, size_t len);

/* Monotonic time in nanoseconds. */
uint64_t arch_now_ns(void);

/* Writes len bytes of msg to the error stream. Never allocates. */
void arch_write_err(const char *msg, size_t len);

/* Sets the calling thread's errno (ARCH_ENOMEM, ARCH_EINVAL). */
void arch_set_errno(int err);

/* Ends the process abnormally (SIGABRT where there are signals). */
_Noreturn void arch_abort(void);

/* Ends the process at once with exit status status, running no exit
 * handlers (prof_leak_error); arch_abort where there are no processes. */
_Noreturn void arch_exit(int status);

/* The value of environment variable name, or NULL (or always NULL where
 * there is no environment). Safe before main; never allocates. The string
 * stays valid for the life of the process. */
const char *arch_getenv(const char *name);

/* ---- files (the allocation trace, INGOT_CONF=trace:FILE) ------------------ */

/* Creates the file at path, or truncates it, and opens it write-only (not
 * inherited across exec); *fd receives its handle. Returns 0, or an
 * errno-style code (ARCH_EINVAL where the back end has no files). Never
 * allocates through ingot. */
int arch_file_open(const char *path, int *fd);

/* Writes all len bytes to a file from arch_file_open, retrying short and
 * interrupted writes. Returns 0, or an errno-style code when a write fails
 * (what was written before stays written). */
int arch_file_write(int fd, const void *buf, size_t len);

/* Closes a file from arch_file_open. */
void arch_file_close(int fd);

/* The calling process's id (0 where there are no processes): what %p in
 * the trace file's name becomes. */
uint64_t arch_process_id(void);

/* ---- heap profiles (prof:true) ------------------------------------------- */

/* Fills pcs with up to max return addresses of the calling thread's stack,
 * innermost first (the first returns into the caller), leaving out the
 * leading frames of ingot's own code where the back end can tell them
 * (ingot in a shared library); returns how
 * many it stored, 0 where the back end cannot unwind. Allocates through
 * ingot only on the first call, where a back end loads its unwinder then
 * (linux.c); a backtrace asked for meanwhile (a sample of that allocation,
 * or another thread's) is empty. With max 0 it does only that first-call
 * work: ingot asks for it right after start-up when backtraces are on.
 * Cheap for stacks seen before where the back end can (Unix on x86-64:
 * unix.inc). */
unsigned arch_backtrace(uintptr_t *pcs, unsigned max);

/* Appends the process's memory map, in the /proc/<pid>/maps form that heap
 * profile readers (jeprof, pprof) take after "MAPPED_LIBRARIES:", to a file
 * from arch_file_open. Returns 0, or ARCH_EINVAL where the host has none. */
int arch_file_write_maps(int fd);

/* Deletes the file at path; 0 or an errno-style code (ARCH_EINVAL where
 * the back end has no files). */
int arch_file_remove(const char *path);

/* ---- faults (guard pages) -------------------------------------------------- */

/* Makes the process's invalid memory accesses (Unix: SIGSEGV and SIGBUS;
 * Windows: access violations) call handler(address) first, on the faulting
 * thread. handler may report and abort; when it returns, the fault was not
 * ingot's and goes on as if ingot had installed nothing: to the handler the
 * program had installed before (called as the system would call it), else
 * to the system's default action (the process ends). A handler the program
 * installs later replaces this one, as the system defines. Returns 0, or
 * ARCH_EINVAL where the host has no such faults (bare metal). handler must
 * be async-signal-safe: no locks, no allocation. */
int arch_fault_handler_install(void (*handler)(uintptr_t address));

#endif
