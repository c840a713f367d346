/*
 * report.h — what ingot says when a program misuses the heap or ingot finds
 * its own metadata broken. Each report prints one line to stderr and aborts;
 * none of them allocates. Internal assertion failures (common.h) are separate:
 * those are ingot's bugs, these are the client's.
 */
#ifndef INGOT_REPORT_H
#define INGOT_REPORT_H

#include "common.h"

_Noreturn void ingot_report_double_free(const void *ptr);
_Noreturn void ingot_report_foreign_ptr(const char *func, const void *ptr);
_Noreturn void ingot_report_invalid_ptr(const char *func, const void *ptr);
_Noreturn void ingot_report_size_mismatch(const void *ptr, size_t given, size_t actual);
_Noreturn void ingot_report_corrupt_meta(const void *where, const char *what);
_Noreturn void ingot_report_overflow(const void *ptr);
_Noreturn void ingot_report_underflow(const void *ptr);
_Noreturn void ingot_report_use_after_free(const void *ptr);
/* An access to address in freed pages [start, start + size). */
_Noreturn void ingot_report_freed_page_access(const void *address, const void *start,
                                              size_t size);
/* An access to address, on a guard page: past the end of block (usable
 * bytes), or before its start (underflow). */
_Noreturn void ingot_report_guard_fault(const void *address, const void *block, size_t usable,
                                        bool underflow);
_Noreturn void ingot_report_out_of_memory(const char *func, size_t size);

/* A small line builder on the caller's stack, for reports, warnings and
 * statistics text. Appends are truncated at the buffer's end. */
struct line {
	char *buf;
	size_t cap, len;
};
void line_str(struct line *l, const char *s);
void line_u64(struct line *l, uint64_t v);
void line_i64(struct line *l, int64_t v);
void line_hex(struct line *l, uintptr_t v);
void line_char(struct line *l, char c);

/* Writes "<ingot>: " + msg + "\n" through ingot_message (then aborts
 * with opt abort). */
void ingot_warn(const char *msg);

/* Sets what warnings and failed allocations do (opts abort and xmalloc). */
void report_boot(bool abort_on_warning, bool abort_on_oom);

/* A failed allocation: errno = ENOMEM, or one line and abort with xmalloc. */
void ingot_alloc_failed(const char *func, size_t size);

/* Writes s through the program's malloc_message (jemalloc's name, in
 * builds that export the standard names) or ingot_malloc_message when
 * either is set, passing it cbopaque; else to stderr. Used by warnings
 * (cbopaque NULL) and by the statistics report's default output. */
void ingot_message(void *cbopaque, const char *s);

#endif
