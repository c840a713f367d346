/*
 * ingot_api.c — ingot's own functions beyond the standard and jemalloc ones.
 */
#include "arena.h"
#include "boot.h"
#include "hooks.h"
#include "stats.h"
#include "tcache.h"

/* Installing or removing hooks changes what the caches must see: they
 * reopen in the mode now in force (tcache_checked_mode). */
INGOT_EXPORT int ingot_hooks_set(const struct ingot_hooks *hooks)
{
	ingot_ensure_booted();
	hooks_install(hooks);
	tcache_mode_changed();
	return 0;
}

INGOT_EXPORT void ingot_stats_get(struct ingot_stats *out)
{
	ingot_ensure_booted();
	stats_global(out);
}

INGOT_EXPORT void ingot_purge(void)
{
	ingot_ensure_booted();
	unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		arena_purge(arenas[i], true);
}

INGOT_EXPORT void ingot_thread_flush(void)
{
	struct tcache *tc = tcache_thread();
	if (tc)
		tcache_flush(tc);
}

/* The profiling calls of ingot.h: mallctl with the argument as jemalloc's
 * users pass it, so that both answer alike. */
INGOT_EXPORT int ingot_prof_activate(bool on)
{
	return ingot_mallctl("prof.active", NULL, NULL, &on, sizeof on);
}

INGOT_EXPORT int ingot_prof_dump(const char *path)
{
	return ingot_mallctl("prof.dump", NULL, NULL, &path, sizeof path);
}

INGOT_EXPORT int ingot_prof_dump_pprof(const char *path)
{
	return ingot_mallctl("prof.dump_pprof", NULL, NULL, &path, sizeof path);
}
