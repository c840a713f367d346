/*
 * trace.h — the allocation trace (INGOT_CONF=trace:FILE).
 *
 * At start, when the trace option names a file, ingot creates it (or
 * truncates it) and installs allocation hooks (hooks.h) that append one
 * record per malloc, free and realloc-like call of the program. Records are
 * buffered (64 KiB, under one lock) and written when the buffer fills and at
 * process exit; from then on each record is written as it comes, so frees
 * made by later exit handlers are kept. tools/ingot-trace reads the file.
 *
 * The trace takes the place of any hooks: a program that installs its own
 * with ingot_hooks_set ends the trace (records already buffered are still
 * written at exit).
 *
 * Fork: the child stops tracing (it closes its copy of the file and drops
 * the parent's buffered records, which the parent writes); the hooks stay
 * installed there, recording nothing. A program that
 * execs another inherits INGOT_CONF: the new program would truncate FILE
 * and write its own trace there, so unset INGOT_CONF (or change the file
 * name) for children when the parent's trace matters.
 *
 * File format (all integers unsigned; "varint" is LEB128: 7 bits a byte,
 * low bits first, high bit set on every byte but the last):
 *
 *   header   8 bytes "INGOTTR1"
 *            8 bytes start time: monotonic clock in ns, little-endian
 *   records  until the end of the file, each:
 *            1 byte kind, then varints:
 *     'a'  dt ptr requested usable            an allocation
 *     'f'  dt ptr usable                      a free
 *     'r'  dt old_ptr new_ptr requested usable  a resize (realloc and kin;
 *                                             new_ptr may equal old_ptr)
 *
 *   dt is the time in ns since the previous record (the first: since the
 *   start time). requested is the size the program asked for, usable what
 *   it got (its size class). Records follow the order in which the calls
 *   took the trace lock, so dt is never negative. A free of a block
 *   allocated before the trace began (ingot's start) has no 'a' record.
 */
#ifndef INGOT_TRACE_H
#define INGOT_TRACE_H

#include "common.h"

#define TRACE_MAGIC "INGOTTR1"

/* At the end of start-up (after ingot_booted is set): opens the trace file
 * and installs the hooks when the trace option is set. */
void trace_boot(void);

/* At process exit: writes buffered records; later records go out at once. */
void trace_flush(void);

/* In a forked child: stops tracing there. */
void trace_fork_child(void);

#endif
