/*
 * fuzz_conf.c — the run-time option parser (src/conf.c) on arbitrary strings.
 *
 * The input, cut at its first NUL, is one configuration string as
 * malloc_conf / MALLOC_CONF / INGOT_CONF would give it. conf_apply() must
 * not crash on it (its warnings go to stderr, which a replay silences unless
 * FUZZ_VERBOSE is set), and afterwards:
 *   - conf_apply reported no more bad pairs than the string has pairs;
 *   - every string option is NUL-terminated within its buffer;
 *   - every option's value, written back as "name:value", is accepted again
 *     with the same value (the parser accepts what it can hold);
 *   - the allocator still allocates, frees and passes ingot_check().
 * The options are restored to their values at start before the next input.
 *
 * Builds against the library's internal headers: -Isrc -Ibuild/gen-p<LG_PAGE> -Iarch
 * -Iinclude and the library's -D flags (mk/fuzz.mk).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ingot.h"

#include "fuzz_common.h"

#define CONF_INPUT_MAX 4096

static struct conf opt_at_start;
static int quiet_fd = -1, stderr_fd = -1;

static void fuzz_init(void)
{
	ingot_free(ingot_malloc(1)); /* boots ingot, which reads its options once */
	opt_at_start = opt;
	/* afl-fuzz discards the output already; a replay silences the
	 * warnings about the input unless asked for them. */
	if (!getenv("FUZZ_VERBOSE") && !getenv("__AFL_SHM_ID")) {
		quiet_fd = open("/dev/null", O_WRONLY);
		stderr_fd = dup(2);
	}
}

/* The parser's warnings go to fd 2 through the arch layer. */
static void silence(int on)
{
	if (quiet_fd >= 0 && stderr_fd >= 0)
		dup2(on ? quiet_fd : stderr_fd, 2);
}

/* Writes option d's current value as "name:value"; returns 0 when the value
 * cannot be written in the syntax (a string holding a comma). */
static int render(const struct conf_desc *d, char *buf, size_t cap)
{
	switch (d->kind) {
	case CONF_BOOL:
		snprintf(buf, cap, "%s:%s", d->name, *(bool *)d->value ? "true" : "false");
		return 1;
	case CONF_SIZE:
		snprintf(buf, cap, "%s:%zu", d->name, *(size_t *)d->value);
		return 1;
	case CONF_SSIZE:
		snprintf(buf, cap, "%s:%" PRId64, d->name, *(int64_t *)d->value);
		return 1;
	case CONF_STR:
		if (strchr(d->value, ','))
			return 0;
		snprintf(buf, cap, "%s:%s", d->name, (const char *)d->value);
		return 1;
	}
	return 0;
}

static size_t value_size(const struct conf_desc *d)
{
	switch (d->kind) {
	case CONF_BOOL:
		return sizeof(bool);
	case CONF_SIZE:
		return sizeof(size_t);
	case CONF_SSIZE:
		return sizeof(int64_t);
	case CONF_STR:
		return CONF_STR_MAX;
	}
	return 0;
}

static int same_value(const struct conf_desc *d, const void *before)
{
	switch (d->kind) {
	case CONF_BOOL:
		return *(bool *)d->value == *(const bool *)before;
	case CONF_SIZE:
		return *(size_t *)d->value == *(const size_t *)before;
	case CONF_SSIZE:
		return *(int64_t *)d->value == *(const int64_t *)before;
	case CONF_STR:
		return strcmp(d->value, before) == 0;
	}
	return 0;
}

static void check_options(const char *input)
{
	for (size_t i = 0; i < conf_ndescs; i++) {
		const struct conf_desc *d = &conf_descs[i];
		if (d->kind == CONF_STR && !memchr(d->value, '\0', CONF_STR_MAX))
			fuzz_fail("option %s is not NUL-terminated after \"%.200s\"", d->name, input);
		char pair[CONF_STR_MAX + 128], before[CONF_STR_MAX];
		if (!render(d, pair, sizeof(pair)))
			continue;
		memcpy(before, d->value, value_size(d));
		size_t bad = conf_apply(pair, "fuzz round trip"); /* a warning here is a fault */
		if (bad != 0 || !same_value(d, before))
			fuzz_fail("option %s: its own value \"%s\" is not accepted back (%zu bad) "
			          "after \"%.200s\"",
			          d->name, pair, bad, input);
	}
}

static void fuzz_one(const uint8_t *data, size_t n)
{
	char input[CONF_INPUT_MAX + 1];
	if (n > CONF_INPUT_MAX)
		n = CONF_INPUT_MAX;
	memcpy(input, data, n);
	input[n] = '\0';

	size_t pairs = 1;
	for (const char *c = input; *c; c++)
		pairs += *c == ',';

	silence(1);
	size_t bad = conf_apply(input, "fuzz");
	silence(0);
	if (bad > pairs)
		fuzz_fail("conf_apply counted %zu bad pairs in a string of %zu", bad, pairs);
	check_options(input);

	void *p = ingot_malloc(n + 1);
	if (!p)
		fuzz_fail("malloc(%zu) failed after the options \"%.200s\"", n + 1, input);
	memset(p, 0x5a, n + 1);
	ingot_free(p);
	if (ingot_check() != 0)
		fuzz_fail("ingot_check() failed after the options \"%.200s\"", input);

	opt = opt_at_start;
}

#include "fuzz_driver.h"
