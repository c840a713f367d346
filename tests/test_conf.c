/*
 * test_conf.c — the option parser and where options come from.
 *
 * conf_apply must set what it understands, count and report (one stderr
 * line each) what it does not, and never crash on malformed input. At boot
 * the three sources apply in order: the program's ingot_malloc_conf (this
 * binary defines one), MALLOC_CONF, then INGOT_CONF.
 */
#include "helpers.h"

#include "arena.h"
#include "boot.h"
#include "conf.h"
#include "ingot.h"
#include "pageheap.h"
#include "tcache.h"

/* The program's own options (prefixed builds read ingot_malloc_conf). */
const char *ingot_malloc_conf = "narenas:5,muzzy_decay_ms:7";

/* Runs conf_apply with stderr captured; returns the bad count and the
 * number of lines written. */
static size_t apply_captured(const char *conf, size_t *lines, char *text, size_t text_len)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();
	cr_assert(saved >= 0 && tmp != NULL);
	dup2(fileno(tmp), STDERR_FILENO);
	size_t bad = conf_apply(conf, "test");
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(text, 1, text_len - 1, tmp);
	text[n] = '\0';
	fclose(tmp);
	*lines = 0;
	for (size_t i = 0; i < n; i++)
		*lines += text[i] == '\n';
	return bad;
}

static void defaults(void) { conf_read(NULL, NULL, 0); }

static char message_seen[512];

static void message_hook(void *cbopaque, const char *s)
{
	(void)cbopaque;
	strncat(message_seen, s, sizeof(message_seen) - strlen(message_seen) - 1);
}

Test(conf, warnings_go_through_malloc_message)
{
	/* Like jemalloc's, a program that sets malloc_message gets ingot's
	 * option warnings there, not on stderr. */
	message_seen[0] = '\0';
	ingot_malloc_message = message_hook;
	size_t lines = 0;
	char text[256];
	size_t bad = apply_captured("no_such_option:1", &lines, text, sizeof(text));
	ingot_malloc_message = NULL;
	cr_assert_eq(bad, 1);
	cr_assert_eq(lines, 0, "the warning went to stderr too: %s", text);
	cr_assert(strstr(message_seen, "Invalid conf pair: no_such_option:1") != NULL,
	          "the hook got: \"%s\"", message_seen);
}

Test(conf, defaults)
{
	defaults();
	cr_assert_eq(opt.narenas, 0, "one arena per CPU unless asked");
	cr_assert_eq(opt.tcache, true);
	cr_assert_gt(opt.tcache_max, 0, "thread caches cache something by default");
	cr_assert_gt(opt.dirty_decay_ms, 0, "dirty pages neither kept forever nor purged at once");
	cr_assert_eq(opt.abort_conf, false);
	cr_assert_str_eq(opt.junk, "false");
	cr_assert_str_eq(opt.zero_realloc, "free");
	cr_assert_str_eq(opt.profile, "default");
}

Test(conf, valid_pairs_set_their_options)
{
	defaults();
	char err[512];
	size_t lines;
	size_t bad = apply_captured("narenas:7,tcache:false,tcache_max:1024,dirty_decay_ms:-1,"
	                            "muzzy_decay_ms:0,junk:alloc,zero_realloc:alloc,stats_print:true",
	                            &lines, err, sizeof(err));
	cr_assert_eq(bad, 0, "valid options counted as bad: %s", err);
	cr_assert_eq(lines, 0, "valid options printed warnings: %s", err);
	cr_assert_eq(opt.narenas, 7);
	cr_assert_eq(opt.tcache, false);
	cr_assert_eq(opt.tcache_max, 1024);
	cr_assert_eq(opt.dirty_decay_ms, -1);
	cr_assert_eq(opt.muzzy_decay_ms, 0);
	cr_assert_str_eq(opt.junk, "alloc");
	cr_assert_str_eq(opt.zero_realloc, "alloc");
	cr_assert_eq(opt.stats_print, true);
}

Test(conf, the_largest_unsigned_value_parses)
{
	defaults();
	cr_assert_eq(conf_apply("narenas:18446744073709551615", "test"), 0,
	             "2^64-1 (SIZE_MAX) is a valid unsigned value");
	cr_assert_eq(opt.narenas, SIZE_MAX);
	cr_assert_eq(conf_apply("narenas:18446744073709551610", "test"), 0);
	cr_assert_eq(opt.narenas, SIZE_MAX - 5);
}

Test(conf, extreme_valid_values)
{
	defaults();
	cr_assert_eq(conf_apply("narenas:1844674407370955161", "test"), 0);
	cr_assert_eq(opt.narenas, 1844674407370955161u);
	cr_assert_eq(conf_apply("dirty_decay_ms:9223372036854775807", "test"), 0);
	cr_assert_eq(opt.dirty_decay_ms, INT64_MAX);
	cr_assert_eq(conf_apply("dirty_decay_ms:0", "test"), 0);
	cr_assert_eq(opt.dirty_decay_ms, 0);
	char longest[5 + CONF_STR_MAX];
	memcpy(longest, "junk:", 5);
	memset(longest + 5, 'x', CONF_STR_MAX - 1);
	longest[5 + CONF_STR_MAX - 1] = '\0';
	cr_assert_eq(conf_apply(longest, "test"), 0, "a %d-character string fits", CONF_STR_MAX - 1);
	cr_assert_eq(strlen(opt.junk), CONF_STR_MAX - 1);
}

struct bad_case {
	const char *conf;
	size_t bad;
};

Test(conf, malformed_strings_are_counted_and_reported)
{
	static char long_name[2000], long_digits[12000], long_str[300];
	memset(long_name, 'n', sizeof(long_name) - 3);
	memcpy(long_name + sizeof(long_name) - 3, ":1", 3);
	memcpy(long_digits, "narenas:", 8);
	memset(long_digits + 8, '9', sizeof(long_digits) - 9);
	memcpy(long_str, "junk:", 5);
	memset(long_str + 5, 'j', sizeof(long_str) - 6);

	const struct bad_case cases[] = {
	    {"abc", 1},
	    {":", 1},
	    {":5", 1},
	    {"narenas", 1},
	    {"narenas:", 1},
	    {"narenas:x", 1},
	    {"narenas:1x", 1},
	    {"narenas: 4", 1},
	    {"narenas:-1", 1},
	    {"narenas:1:2", 1},
	    {"narenas:18446744073709551616", 1},
	    {"narena:1", 1},
	    {"narenasx:1", 1},
	    {"unknown:1", 1},
	    {"tcache:yes", 1},
	    {"tcache:TRUE", 1},
	    {"tcache:", 1},
	    {"dirty_decay_ms:-2", 1},
	    {"dirty_decay_ms:--1", 1},
	    {"dirty_decay_ms:-", 1},
	    {"dirty_decay_ms:9223372036854775808", 1},
	    {"a:1,narenas:3,b", 2},
	    {"abc,def,ghi,", 3},
	    {long_name, 1},
	    {long_digits, 1},
	    {long_str, 1},
	    {",,,", 0},
	    {"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		defaults();
		char err[4096];
		size_t lines;
		size_t bad = apply_captured(cases[i].conf, &lines, err, sizeof(err));
		cr_assert_eq(bad, cases[i].bad, "\"%.60s\": %zu bad pairs counted, want %zu",
		             cases[i].conf, bad, cases[i].bad);
		cr_assert_eq(lines, cases[i].bad, "\"%.60s\": %zu warning lines, want %zu: %s",
		             cases[i].conf, lines, cases[i].bad, err);
		if (cases[i].bad)
			cr_assert(strstr(err, "(from test)") != NULL,
			          "\"%.60s\": the warning does not name its source: %s", cases[i].conf, err);
	}
	cr_assert_eq(conf_apply(NULL, "test"), 0, "a NULL string is no options");
}

Test(conf, a_bad_value_leaves_the_option_alone)
{
	defaults();
	cr_assert_eq(conf_apply("narenas:5,tcache_max:100", "test"), 0);
	char err[512];
	size_t lines;
	apply_captured("narenas:x,tcache_max:,tcache:maybe", &lines, err, sizeof(err));
	cr_assert_eq(opt.narenas, 5);
	cr_assert_eq(opt.tcache_max, 100);
	cr_assert_eq(opt.tcache, true);
	apply_captured("narenas:18446744073709551616", &lines, err, sizeof(err));
	cr_assert_eq(opt.narenas, 5, "an overflowing value changed the option");
}

Test(conf, later_pairs_and_sources_win)
{
	defaults();
	cr_assert_eq(conf_apply("narenas:2,narenas:3", "test"), 0);
	cr_assert_eq(opt.narenas, 3);

	const char *sources[] = {"narenas:2,tcache:false", NULL, "narenas:4"};
	const char *names[] = {"first", "second", "third"};
	conf_read(sources, names, 3);
	cr_assert_eq(opt.narenas, 4, "the last source sets narenas");
	cr_assert_eq(opt.tcache, false, "an earlier source's other options stay");

	const char *only[] = {"tcache_max:5"};
	conf_read(only, names, 1);
	cr_assert_eq(opt.narenas, 0, "conf_read starts from the defaults");
	cr_assert_eq(opt.tcache, true);
	cr_assert_eq(opt.tcache_max, 5);
}

static void read_with_abort_conf(void *arg)
{
	const char *sources[] = {arg};
	const char *names[] = {"test"};
	conf_read(sources, names, 1);
}

Test(conf, abort_conf_aborts_on_a_bad_option)
{
	assert_aborts_with(read_with_abort_conf, "abort_conf:true,bogus:1", "abort_conf",
	                   "abort_conf then a bad pair");
	assert_aborts_with(read_with_abort_conf, "narenas:q,abort_conf:true", "abort_conf",
	                   "a bad pair then abort_conf");
	struct child_result r;
	run_in_child(read_with_abort_conf, "abort_conf:true,narenas:2", &r);
	cr_assert(r.exited && r.status == 0, "abort_conf with valid options must not abort: %s",
	          r.err);
}

/* ---- options at boot ------------------------------------------------------------ */

Test(conf, boot_reads_program_then_malloc_conf_then_ingot_conf)
{
	cr_assert_not(ingot_booted, "ingot booted before the test could set its environment");
	setenv("MALLOC_CONF", "narenas:2,lg_extent_max_active_fit:9,dirty_decay_ms:50", 1);
	setenv("INGOT_CONF", "narenas:3,dirty_decay_ms:0,tcache:false", 1);
	void *p = ingot_malloc(100);
	cr_assert_not_null(p);
	cr_assert_eq(opt.muzzy_decay_ms, 7, "ingot_malloc_conf was not read");
	cr_assert_eq(opt.lg_extent_max_active_fit, 9, "MALLOC_CONF was not read");
	cr_assert_eq(opt.narenas, 3, "INGOT_CONF does not override the others");
	cr_assert_eq(narenas_auto, 3, "narenas:3 made %u arenas", narenas_auto);
	for (unsigned i = 0; i < narenas_auto; i++)
		cr_assert_eq(arena_get(i)->heap.decay_ms, 0, "arena %u decay %ld ms, want 0", i,
		             (long)arena_get(i)->heap.decay_ms);
	cr_assert_null(tcache_thread(), "tcache:false, yet the thread has a cache");
	ingot_free(p);
	cr_assert_eq(ingot_check(), 0);
}

Test(conf, boot_survives_malformed_options)
{
	cr_assert_not(ingot_booted);
	defaults();
	size_t default_tcache_max = opt.tcache_max;
	setenv("INGOT_CONF", "garbage,narenas:2,,tcache_max:lots,:", 1);
	char err[1024];
	size_t len = 0;
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), STDERR_FILENO);
	void *p = ingot_malloc(100);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	len = fread(err, 1, sizeof(err) - 1, tmp);
	err[len] = '\0';
	fclose(tmp);
	cr_assert_not_null(p, "malloc failed after malformed options");
	cr_assert_eq(narenas_auto, 2, "the valid pair was not applied");
	cr_assert_eq(opt.tcache_max, default_tcache_max, "a bad value replaced the default");
	cr_assert(strstr(err, "INGOT_CONF") != NULL, "no warning names INGOT_CONF: %s", err);
	ingot_free(p);
}
