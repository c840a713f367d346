/*
 * prof_data.h — what prof.c keeps and prof_dump.c reads: the sites (one per
 * distinct backtrace), the records of live sampled blocks, and the lock
 * over both. Only those two files include it.
 */
#ifndef INGOT_PROF_DATA_H
#define INGOT_PROF_DATA_H

#include "arch.h"
#include "prof.h"

/*
 * One allocation site. Sites are never freed (prof.reset clears their
 * counts). The cumulative figures count every sampled allocation since the
 * last reset (prof_accum); the current ones are summed from the live
 * records when a dump is written.
 */
struct prof_site {
	struct prof_site *next; /* chain of its hash bucket */
	uint64_t hash;
	unsigned depth;
	uint64_t accum_samples;  /* sampled allocations */
	double accum_objs;       /* their unbiased estimates */
	double accum_bytes;
	uint64_t cur_samples;    /* dump scratch: live samples now, */
	double cur_objs, cur_bytes;
	struct prof_thread_count *threads; /* and per thread */
	uintptr_t pcs[];         /* innermost first */
};

/* A dump's figures of one site in one thread (prof_dump.c's scratch). */
struct prof_thread_count {
	struct prof_thread_count *next;
	uint64_t thread;
	double objs, bytes;
};

/* A live sampled block: its address, usable size, site and thread (the
 * thread's number in dumps: threads are numbered from 0 in the order they
 * first sampled). */
struct prof_record {
	uintptr_t addr; /* 0: empty entry */
	size_t usable;
	struct prof_site *site;
	uint64_t thread;
};

/* Everything below is under prof_lock. */
extern arch_lock_t prof_lock;
extern struct prof_site **prof_sites;  /* hash buckets */
extern size_t prof_nbuckets;
extern struct prof_record *prof_records; /* open addressing by address */
extern size_t prof_records_cap;
extern double prof_rate; /* 2^lg_sample, as a double */
extern uint64_t prof_nthreads; /* threads numbered so far */

/* How many blocks one sample of usable bytes stands for: 1 / (1 - e^(-s/R)). */
double prof_weight(size_t usable);

/* 1 - e^(-x) for x >= 0, accurate for small x too (no libm in src/). */
double prof_one_minus_exp_neg(double x);

#endif
