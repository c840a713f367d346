/*
 * ingot_api.c — ingot's own functions beyond the standard and jemalloc ones.
 */
#include "arena.h"
#include "boot.h"
#include "stats.h"
#include "tcache.h"

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
