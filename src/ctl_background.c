/*
 * ctl_background.c — stats.background_thread.*: the background purger's
 * counters, read live (as jemalloc's, they need no epoch write):
 * num_threads (size_t), num_runs (uint64_t), run_interval (uint64_t, mean
 * nanoseconds between passes). background_thread and
 * max_background_threads themselves are leaves of the root (ctl.c).
 */
#include "ctl.h"

#include "background.h"

static struct background_stats now_stats(void)
{
	struct background_stats s;
	background_stats_get(&s);
	return s;
}

CTL_RO(num_threads_ctl, size_t, now_stats().num_threads)
CTL_RO(num_runs_ctl, uint64_t, now_stats().num_runs)
CTL_RO(run_interval_ctl, uint64_t, now_stats().run_interval_ns)

static const struct ctl_node background_kids[] = {
    CTL_LEAF("num_threads", num_threads_ctl),
    CTL_LEAF("num_runs", num_runs_ctl),
    CTL_LEAF("run_interval", run_interval_ctl),
};

const struct ctl_node ctl_stats_background_node = CTL_INNER("background_thread", background_kids);
