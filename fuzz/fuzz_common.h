/*
 * fuzz_common.h — what every harness needs first: an input reader and the
 * one way a harness reports a fault.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The input being run, for the fault line (replay sets it; under AFL it
 * stays NULL because AFL keeps the input itself). */
static const char *fuzz_current_input;

/* Prints "FUZZ FAULT [input]: message" to stderr and aborts, so that
 * afl-fuzz records a crash and a replay exits non-zero. */
__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FUZZ FAULT");
	if (fuzz_current_input)
		fprintf(stderr, " [%s]", fuzz_current_input);
	fprintf(stderr, ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* Marks a harness function that only checks or fills memory (a loop per
 * byte, word or slot). afl-cc leaves it uninstrumented (fuzz/afl_skip.txt,
 * named by mk/fuzz.mk): its branches say nothing about ingot, and counting
 * them cost time and made AFL keep inputs that differ only in how many
 * blocks or bytes they check. noinline keeps its body out of the
 * instrumented callers. */
#define FUZZ_CHECKER __attribute__((noinline))

/* Reads the input as a little-endian byte stream. Past the end every read
 * gives 0, so a harness never needs to check lengths; fuzz_more() says
 * whether any byte is left. */
struct fuzz_input {
	const uint8_t *p, *end;
};

static inline int fuzz_more(const struct fuzz_input *in)
{
	return in->p < in->end;
}

static inline unsigned fuzz_u8(struct fuzz_input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static inline unsigned fuzz_u16(struct fuzz_input *in)
{
	unsigned lo = fuzz_u8(in);
	return lo | fuzz_u8(in) << 8;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);
	return lo | (uint32_t)fuzz_u16(in) << 16;
}

#endif
