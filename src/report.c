/*
 * report.c — misuse reports, assertion failures and the line builder.
 */
#include "report.h"

#include "arch.h"

void line_char(struct line *l, char c)
{
	if (l->len + 1 < l->cap)
		l->buf[l->len++] = c;
	l->buf[l->len < l->cap ? l->len : l->cap - 1] = '\0';
}

void line_str(struct line *l, const char *s)
{
	while (*s)
		line_char(l, *s++);
}

void line_u64(struct line *l, uint64_t v)
{
	char digits[20];
	int n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		line_char(l, digits[--n]);
}

void line_i64(struct line *l, int64_t v)
{
	if (v < 0) {
		line_char(l, '-');
		line_u64(l, (uint64_t)0 - (uint64_t)v);
	} else {
		line_u64(l, (uint64_t)v);
	}
}

void line_hex(struct line *l, uintptr_t v)
{
	static const char hex[] = "0123456789abcdef";
	line_str(l, "0x");
	int shift = 60;
	while (shift > 0 && ((v >> shift) & 15) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		line_char(l, hex[(v >> shift) & 15]);
}

static void line_emit(struct line *l)
{
	line_char(l, '\n');
	arch_write_err(l->buf, l->len);
}

/* jemalloc's malloc_message hook, under both names. Two variables rather
 * than an alias: a program that assigns one of them through a copy
 * relocation gets its own storage for that name, which an alias would not
 * follow. NULL means stderr. */
INGOT_EXPORT void (*ingot_malloc_message)(void *cbopaque, const char *s) = NULL;
#if INGOT_OVERRIDE
INGOT_EXPORT void (*malloc_message)(void *cbopaque, const char *s) = NULL;
#define PROGRAM_MESSAGE malloc_message
#else
#define PROGRAM_MESSAGE ingot_malloc_message
#endif

void ingot_message(void *cbopaque, const char *s)
{
	void (*hook)(void *, const char *) = PROGRAM_MESSAGE ? PROGRAM_MESSAGE : ingot_malloc_message;
	if (hook) {
		hook(cbopaque, s);
		return;
	}
	size_t len = 0;
	while (s[len])
		len++;
	arch_write_err(s, len);
}

#define LINE(name, size) \
	char name##_buf[size]; \
	struct line name = {name##_buf, sizeof(name##_buf), 0}; \
	name##_buf[0] = '\0'

static bool abort_on_warning, abort_on_oom;

void report_boot(bool on_warning, bool on_oom)
{
	abort_on_warning = on_warning;
	abort_on_oom = on_oom;
}

void ingot_warn(const char *msg)
{
	LINE(l, 256);
	line_str(&l, "<ingot>: ");
	line_str(&l, msg);
	line_char(&l, '\n');
	ingot_message(NULL, l.buf);
	if (abort_on_warning)
		arch_abort();
}

void ingot_alloc_failed(const char *func, size_t size)
{
	if (abort_on_oom)
		ingot_report_out_of_memory(func, size);
	arch_set_errno(ARCH_ENOMEM);
}

/* One line, then abort: "ingot: <what> <ptr>[ detail]". */
_Noreturn static void fatal(const char *what, const void *ptr, const char *detail)
{
	LINE(l, 256);
	line_str(&l, "ingot: ");
	line_str(&l, what);
	line_str(&l, " ");
	line_hex(&l, (uintptr_t)ptr);
	if (detail) {
		line_str(&l, " ");
		line_str(&l, detail);
	}
	line_emit(&l);
	arch_abort();
}

void ingot_report_double_free(const void *ptr)
{
	fatal("double free of", ptr, NULL);
}

void ingot_report_foreign_ptr(const char *func, const void *ptr)
{
	LINE(l, 64);
	line_str(&l, "(not allocated by ingot) in ");
	line_str(&l, func);
	fatal("foreign pointer", ptr, l.buf);
}

void ingot_report_invalid_ptr(const char *func, const void *ptr)
{
	LINE(l, 64);
	line_str(&l, "(not the start of a live block) in ");
	line_str(&l, func);
	fatal("invalid pointer", ptr, l.buf);
}

void ingot_report_size_mismatch(const void *ptr, size_t given, size_t actual)
{
	LINE(l, 96);
	line_str(&l, "freed with size ");
	line_u64(&l, given);
	line_str(&l, " but its usable size is ");
	line_u64(&l, actual);
	fatal("size mismatch for", ptr, l.buf);
}

void ingot_report_corrupt_meta(const void *where, const char *what)
{
	fatal("corrupted metadata at", where, what);
}

void ingot_report_overflow(const void *ptr)
{
	fatal("heap overflow (canary overwritten) after block", ptr, NULL);
}

void ingot_report_underflow(const void *ptr)
{
	fatal("heap underflow (the canary before it overwritten) of block", ptr,
	      "(or an overflow of the block before it)");
}

void ingot_report_use_after_free(const void *ptr)
{
	fatal("write after free in block", ptr, NULL);
}

void ingot_report_freed_page_access(const void *address, const void *start, size_t size)
{
	LINE(l, 160);
	line_str(&l, "in freed pages ");
	line_hex(&l, (uintptr_t)start);
	line_str(&l, "-");
	line_hex(&l, (uintptr_t)start + size);
	line_str(&l, " (a freed block's, kept inaccessible)");
	fatal("use after free: access to", address, l.buf);
}

void ingot_report_guard_fault(const void *address, const void *block, size_t usable,
                              bool underflow)
{
	uintptr_t at = (uintptr_t)address, start = (uintptr_t)block;
	LINE(l, 160);
	line_str(&l, underflow ? "on a guard page, " : "on a guard page, at offset ");
	line_u64(&l, underflow ? start - at : at - (start + usable));
	line_str(&l, underflow ? " bytes before block " : " after the end of block ");
	line_hex(&l, start);
	line_str(&l, " (");
	line_u64(&l, usable);
	line_str(&l, " bytes)");
	fatal(underflow ? "heap underflow: access to" : "heap overflow: access to", address, l.buf);
}

void ingot_report_out_of_memory(const char *func, size_t size)
{
	LINE(l, 96);
	line_str(&l, "out of memory (xmalloc) in ");
	line_str(&l, func);
	line_str(&l, " for size ");
	line_u64(&l, size);
	fatal("allocation failed:", NULL, l.buf);
}

void ingot_assert_fail(const char *file, int line, const char *cond)
{
	LINE(l, 256);
	line_str(&l, "ingot: internal assertion failed: ");
	line_str(&l, cond);
	line_str(&l, " at ");
	line_str(&l, file);
	line_char(&l, ':');
	line_u64(&l, (uint64_t)line);
	line_emit(&l);
	arch_abort();
}
