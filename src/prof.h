/*
 * prof.h — sampled heap profiling (jemalloc's prof:true), read by jeprof and
 * google-pprof.
 *
 * Sampling. Each allocated byte is sampled with probability 1/R, where R is
 * 2^lg_prof_sample: a block of usable size s is sampled with probability
 * 1 - exp(-s/R), and a sample stands for 1 / that many blocks. The thread
 * caches draw, per size class, how many allocations of that class come
 * before the next sample (a geometric draw with that probability, which is
 * exactly the thinning of one byte-rate Poisson process into one per
 * class): the draw sits in the class's event countdown that malloc's fast
 * path decrements anyway, so sampling costs the fast paths nothing, on or
 * off. Blocks the caches do not serve (large, huge, uncached, checked heaps)
 * count down one per-thread byte budget on their slow paths.
 *
 * Records. A sampled block gets a record (its site: the backtrace, shared
 * by every block allocated there; its size; its thread) in a table keyed
 * by address. Its free must find it without any cost to other frees: small
 * blocks' pages are hidden from the free fast path (their byte in the page
 * map's class window reads 0, which sends every free on that page to the
 * slow path, where class_of still holds the truth) while a sample lives on
 * them, and large and huge frees take the slow path anyway. The slow paths
 * call prof_free only while some record is live (one load and branch).
 *
 * Dumps (prof_dump.c): jemalloc's heap_v2 text, read by jeprof, or the
 * legacy gperftools "heap profile:" text, read by google-pprof; both end
 * with the process's memory map.
 */
#ifndef INGOT_PROF_H
#define INGOT_PROF_H

#include "common.h"

/* Builds without profiling (the small-footprint profile sets 0: bare metal
 * has no unwinder and no files) keep none of this code: every call below
 * folds away. */
#ifndef INGOT_PROF
#define INGOT_PROF 1
#endif

#define PROF_DEPTH_MAX 64        /* frames kept per backtrace */
#define PROF_NO_SAMPLE UINT32_MAX /* a countdown that never ends */

/* Whether profiling was switched on at start (opt.prof): without it nothing
 * here runs. prof_nlive counts live records; frees look only at it. */
extern bool prof_enabled;
extern uint64_t prof_nlive;

INGOT_INLINE bool prof_on(void)
{
	return INGOT_PROF && prof_enabled;
}

INGOT_INLINE bool prof_has_live(void)
{
	return INGOT_PROF && __atomic_load_n(&prof_nlive, __ATOMIC_RELAXED) != 0;
}

/* Reads the options; called once at boot, after conf. */
void prof_boot(void);

/* After start-up, with prof on: the first backtrace, which loads the
 * unwinder (arch_backtrace); its allocations are not sampled. */
void prof_backtrace_prepare(void);

/* Allocations of a class of size bytes until its next sample: at least 1,
 * PROF_NO_SAMPLE when profiling is off. Draws from the calling thread's
 * generator. */
uint32_t prof_class_draw(size_t size);

INGOT_INLINE uint32_t prof_class_countdown(size_t size)
{
	return prof_on() ? prof_class_draw(size) : PROF_NO_SAMPLE;
}

/* The countdown of one class ended on block p (usable size): records it
 * when sampling is active for this thread. */
void prof_sample(void *p, size_t usable);

/* Counts a block the caches did not serve against the thread's byte
 * budget, and samples it when the budget runs out. */
void prof_count_big_slow(void *p, size_t usable);
INGOT_INLINE void prof_count_big(void *p, size_t usable)
{
	if (INGOT_UNLIKELY(prof_on()) && p)
		prof_count_big_slow(p, usable);
}

/* p is being freed (or resized in place): drops its record, if it has
 * one. Call only while prof_has_live(). */
void prof_free(void *p);

/* A counting filter over the addresses of live records: a counter of 0 means
 * that no record's address hashes there, so most frees skip prof_free and
 * its lock. Non-NULL only with prof:true. */
#define PROF_FILTER_BITS 16
extern uint32_t *prof_filter;

INGOT_INLINE uint32_t *prof_filter_slot(uintptr_t p)
{
	return &prof_filter[((p >> 4) * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - PROF_FILTER_BITS)];
}

INGOT_INLINE void prof_forget(void *p)
{
	if (INGOT_UNLIKELY(prof_has_live()) &&
	    __atomic_load_n(prof_filter_slot((uintptr_t)p), __ATOMIC_RELAXED) != 0)
		prof_free(p);
}

/* Whether a live sample hides p's page from the free fast path (its
 * class-window byte reads 0 on purpose; ingot_check allows it). */
bool prof_page_hidden(uintptr_t p);

/* ---- controls (ctl_prof.c) ---------------------------------------------- */

bool prof_active_get(void);
void prof_active_set(bool active);
bool prof_thread_active_get(void);
void prof_thread_active_set(bool active);
bool prof_thread_active_init_get(void);
void prof_thread_active_init_set(bool active);
bool prof_gdump_get(void);
void prof_gdump_set(bool on);
unsigned prof_lg_sample(void);
uint64_t prof_interval(void);
const char *prof_thread_name(void);
void prof_thread_name_set(const char *name);

/* Drops every record and cumulative count and sets the sample rate
 * (prof.reset). */
void prof_reset(unsigned lg_sample);

/* ---- dumps (prof_dump.c) ------------------------------------------------ */

enum prof_format { PROF_FORMAT_JEMALLOC, PROF_FORMAT_PPROF };

/* Why a dump is written: its letter in automatic file names. */
enum prof_dump_kind {
	PROF_DUMP_MANUAL = 'm',
	PROF_DUMP_INTERVAL = 'i',
	PROF_DUMP_GDUMP = 'u',
	PROF_DUMP_FINAL = 'f',
	PROF_DUMP_THRESHOLD = 't',
};

/* Writes a profile to path, or to the automatic name of kind when path is
 * NULL. Returns 0 or an errno-style code. */
int prof_dump(const char *path, enum prof_format format, enum prof_dump_kind kind);

/* An automatic dump of kind, in the form opt.prof_format names. */
int prof_dump_auto(enum prof_dump_kind kind);

/* At exit: the final dump and the leak summary the options ask for. */
void prof_exit(void);

void prof_fork_prepare(void);
void prof_fork_parent(void);
void prof_fork_child(void);

#endif
