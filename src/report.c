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

#define LINE(name, size) \
	char name##_buf[size]; \
	struct line name = {name##_buf, sizeof(name##_buf), 0}; \
	name##_buf[0] = '\0'

void ingot_warn(const char *msg)
{
	LINE(l, 256);
	line_str(&l, "<ingot>: ");
	line_str(&l, msg);
	line_emit(&l);
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

void ingot_report_use_after_free(const void *ptr)
{
	fatal("write after free in block", ptr, NULL);
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
