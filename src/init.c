/*
 * init.c — start-up, fork and process exit.
 */
#include "arch.h"
#include "arena.h"
#include "background.h"
#include "base.h"
#include "boot.h"
#include "conf.h"
#include "guard.h"
#include "ctl.h"
#include "hardening.h"
#include "osmem.h"
#include "pagemap.h"
#include "prof.h"
#include "report.h"
#include "stats.h"
#include "tcache.h"
#include "trace.h"

bool ingot_booted;
struct arch_info ingot_arch;

static arch_lock_t boot_lock = ARCH_LOCK_INIT;
static bool booting; /* under boot_lock */

/* A program may define malloc_conf (jemalloc's name) to set options at
 * link time; the weak definition here is what it overrides. */
#if INGOT_OVERRIDE
INGOT_EXPORT __attribute__((weak)) const char *malloc_conf = NULL;
#define PROGRAM_CONF malloc_conf
#else
INGOT_EXPORT __attribute__((weak)) const char *ingot_malloc_conf = NULL;
#define PROGRAM_CONF ingot_malloc_conf
#endif

static void read_options(void)
{
	const char *sources[] = {PROGRAM_CONF, arch_getenv("MALLOC_CONF"), arch_getenv("INGOT_CONF")};
	const char *names[] = {"malloc_conf", "MALLOC_CONF", "INGOT_CONF"};
	conf_read(sources, names, ARRAY_LEN(sources));
}

/* The soft limit: the option, or by default the container's (memory.high,
 * else 90% of memory.max, leaving room below the point where the kernel
 * kills); -1 none. */
static size_t soft_limit(int64_t option, const struct arch_info *arch)
{
	if (option != 0)
		return option < 0 ? 0 : (size_t)option;
	if (arch->memory_high)
		return (size_t)arch->memory_high;
	return (size_t)(arch->memory_max / 10 * 9);
}

/* thp: always, never, or default (the system's setting). */
static enum osmem_thp heap_thp(const char *value)
{
	if (ingot_str_is(value, "always"))
		return OSMEM_THP_ALWAYS;
	if (ingot_str_is(value, "never"))
		return OSMEM_THP_NEVER;
	if (!ingot_str_is(value, "default"))
		ingot_warn("invalid thp value (expected always, never or default); using default");
	return OSMEM_THP_DEFAULT;
}

/* metadata_thp: always, disabled (the system's setting), or auto (huge
 * pages for metadata only where the heap has them too: thp:always). */
static enum osmem_thp metadata_thp(const char *value)
{
	if (ingot_str_is(value, "always") || (ingot_str_is(value, "auto") && ingot_str_is(opt.thp, "always")))
		return OSMEM_THP_ALWAYS;
	if (!ingot_str_is(value, "disabled") && !ingot_str_is(value, "auto"))
		ingot_warn("invalid metadata_thp value (expected disabled, auto or always); using disabled");
	return OSMEM_THP_DEFAULT;
}

/* The checks and fills asked for by the build, the profile and the options
 * junk and zero. HARDENED=1 builds always have every check. */
static unsigned hardening_bits(void)
{
	unsigned bits = INGOT_HARDENED ? HARDEN_ALL_CHECKS : 0;
	if (INGOT_DEBUG)
		bits |= HARDEN_DEBUG;
	if (ingot_str_is(opt.profile, "hardened"))
		bits |= HARDEN_ALL_CHECKS;
	else if (ingot_str_is(opt.profile, "debug"))
		bits |= HARDEN_DEBUG;
	else if (!ingot_str_is(opt.profile, "default"))
		ingot_warn("unknown profile (expected default, hardened or debug); using default");
	if (ingot_str_is(opt.junk, "true") || ingot_str_is(opt.junk, "alloc"))
		bits |= HARDEN_JUNK_ALLOC;
	if (ingot_str_is(opt.junk, "true") || ingot_str_is(opt.junk, "free"))
		bits |= HARDEN_JUNK_FREE;
	if (!ingot_str_is(opt.junk, "true") && !ingot_str_is(opt.junk, "false") &&
	    !ingot_str_is(opt.junk, "alloc") && !ingot_str_is(opt.junk, "free"))
		ingot_warn("invalid junk value (expected true, false, alloc or free); ignored");
	if (opt.zero)
		bits |= HARDEN_ZERO_ALLOC;
	return bits;
}

/* The one fault handler for every guard page ingot makes: the page heaps'
 * (hardened heaps) and the guard_sample pool's. Returns for any other. */
static void guard_faults_report(uintptr_t address)
{
	guard_pool_fault(address);
	harden_guard_fault(address);
}

void ingot_boot(void)
{
	arch_lock_acquire(&boot_lock);
	if (ingot_booted || booting) {
		arch_lock_release(&boot_lock);
		return;
	}
	booting = true;
	arch_init(&ingot_arch);
	read_options();
	report_boot(opt.abort, opt.xmalloc);
	if (INGOT_PROF)
		prof_boot();
	unsigned hardening = hardening_bits();
	uint64_t secret;
	arch_random(&secret, sizeof(secret));
	harden_boot(hardening, secret, opt.harden_wide);
	if (pagemap_boot(&ingot_arch) != 0) {
		ingot_warn("cannot map memory for the page map; aborting");
		arch_abort();
	}
	pageheap_boot(ingot_arch.page_size, (hardening & HARDEN_GUARD_PAGES) != 0);
	unsigned narenas = opt.narenas ? (unsigned)MIN(opt.narenas, ARENAS_MAX - 1) : ingot_arch.ncpus;
	if (arenas_boot(narenas, opt.dirty_decay_ms) != 0) {
		ingot_warn("cannot map memory for the first arenas; aborting");
		arch_abort();
	}
	guard_boot(opt.guard_sample); /* before any cache draws its countdowns */
	/* Hosts without faults (bare metal) answer ARCH_EINVAL: they cannot
	 * protect a guard page either, so there is nothing to catch. */
	if ((hardening & HARDEN_GUARD_PAGES) || guard_enabled())
		(void)arch_fault_handler_install(guard_faults_report);
	tcache_boot(opt.tcache_max, opt.tcache && ingot_arch.has_threads);
	/* Faults are injected from here on: start-up itself must not fail. */
	osmem_boot(opt.fault_inject, secret >> 1);
	background_boot(opt.background_thread);
	osmem_set_limits(soft_limit(opt.limit_soft, &ingot_arch), opt.limit_hard);
	/* Without huge pages in the kernel the advice would only cost calls. */
	enum osmem_thp heap = heap_thp(opt.thp), meta = metadata_thp(opt.metadata_thp);
	if (ingot_arch.hugepage_size == 0)
		heap = meta = OSMEM_THP_DEFAULT;
	osmem_set_thp(heap, meta);
	__atomic_store_n(&ingot_booted, true, __ATOMIC_RELEASE);
	arch_lock_release(&boot_lock);
	/* After ingot_booted: registering may allocate (pthread_atfork). */
	arch_hooks_register();
	/* Also after: installing the trace's hooks boots first. */
	trace_boot();
	/* Also after: the first backtrace loads the unwinder, which allocates;
	 * now rather than inside the first sample. */
	if (INGOT_PROF && opt.prof)
		prof_backtrace_prepare();
	else if (guard_enabled())
		(void)arch_backtrace(NULL, 0);
}

void ingot_process_exit(void)
{
	if (!ingot_booted)
		return;
	trace_flush();
	if (INGOT_PROF)
		prof_exit();
	if (opt.stats_print)
		stats_print(NULL, NULL, opt.stats_print_opts);
	/* Gives this thread's cached blocks back to their slabs, whose
	 * bitmaps catch a block cached twice (a double free the free itself
	 * could not see). Later frees still work: the cache refills. */
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
	background_exit();
}

/* Fork: every lock, in the order they nest (caches, arenas, page map,
 * metadata), so that the child finds them all free. */
void ingot_fork_prepare(void)
{
	if (!ingot_booted)
		return;
	ctl_fork_prepare();
	background_fork_prepare();
	tcache_fork_prepare();
	arenas_fork_prepare();
	guard_fork_prepare();
	if (INGOT_PROF) /* held over base allocations; taken inside heap locks */
		prof_fork_prepare();
	pagemap_fork_prepare();
	base_fork_prepare();
}

void ingot_fork_parent(void)
{
	if (!ingot_booted)
		return;
	base_fork_parent();
	pagemap_fork_parent();
	if (INGOT_PROF)
		prof_fork_parent();
	guard_fork_parent();
	arenas_fork_parent();
	tcache_fork_parent();
	background_fork_parent();
	ctl_fork_parent();
}

void ingot_fork_child(void)
{
	if (!ingot_booted)
		return;
	base_fork_child();
	pagemap_fork_child();
	if (INGOT_PROF)
		prof_fork_child();
	guard_fork_child();
	arenas_fork_child();
	tcache_fork_child();
	background_fork_child();
	ctl_fork_child();
	trace_fork_child();
}
