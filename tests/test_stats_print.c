/*
 * test_stats_print.c — malloc_stats_print: the text report, the option
 * letters that leave sections out, JSON that a JSON parser accepts (Python's
 * json module), and where the output goes (callback, malloc_message,
 * stderr).
 */
#include "jemalloc_test.h"

#include "sizeclass.h"

/* ---- capturing the output -------------------------------------------------------- */

struct capture {
	char buf[4 << 20];
	size_t len;
	unsigned calls;
	bool overflow;
};

static struct capture cap;

/* The write callback: appends, never allocates. */
static void capture_cb(void *opaque, const char *s)
{
	struct capture *c = opaque;
	size_t n = strlen(s);
	c->calls++;
	if (c->len + n + 1 > sizeof(c->buf)) {
		c->overflow = true;
		return;
	}
	memcpy(c->buf + c->len, s, n + 1);
	c->len += n;
}

/* The report for opts, in cap.buf. */
static const char *report(const char *opts)
{
	cap.len = 0;
	cap.calls = 0;
	cap.overflow = false;
	cap.buf[0] = '\0';
	JE(malloc_stats_print)(capture_cb, &cap, opts);
	cr_assert_not(cap.overflow, "report larger than the capture buffer");
	cr_assert_gt(cap.calls, 0);
	return cap.buf;
}

static bool has(const char *text, const char *needle) { return strstr(text, needle) != NULL; }

/* Some history: blocks of many classes, in two arenas. */
static void make_history(void)
{
	unsigned a = arena_new_explicit();
	for (size_t size = 8; size < 300000; size = size * 3 / 2 + 1) {
		JE(free)(JE(malloc)(size));
		void *p = JE(mallocx)(size, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
		if (size % 2)
			JE(dallocx)(p, MALLOCX_TCACHE_NONE);
	}
}

/* ---- text ---------------------------------------------------------------------------- */

Test(text, whole_report)
{
	make_history();
	const char *t = report("");
	cr_assert(strncmp(t, "___ Begin ingot statistics ___\n", 31) == 0, "first line: %.40s", t);
	const char *end = "--- End ingot statistics ---\n";
	cr_assert(cap.len >= strlen(end) && strcmp(t + cap.len - strlen(end), end) == 0,
	          "last line");
	const char *expected[] = {"Version: \"5.3.0-", "Build-time option settings",
	                          "config.stats: ", "Run-time option settings",
	                          "opt.dirty_decay_ms: ", "opt.junk: \"false\"", "Arenas: ",
	                          "Page size: 4096", "Allocated: ", ", resident: ",
	                          "Merged arenas stats:", "arenas[0]:", "bins:", "small:",
	                          "large:", "assigned threads: "};
	for (size_t i = 0; i < ARRAY_LEN(expected); i++)
		cr_assert(has(t, expected[i]), "no \"%s\" in the report", expected[i]);
	unsigned n = ctl_unsigned("arenas.narenas");
	char last[32];
	snprintf(last, sizeof(last), "arenas[%u]:", n - 1);
	cr_assert(has(t, last), "the explicit arena %u is reported", n - 1);
	cr_assert_not(has(t, "Destroyed arenas stats"), "nothing destroyed yet");
}

Test(text, allocated_matches_mallctl)
{
	void *p = JE(malloc)(3 * MiB);
	const char *t = report("mab");
	/* the report refreshed the snapshot; mallctl reads the same one */
	char line[128];
	snprintf(line, sizeof(line), "Allocated: %zu, active: %zu,", ctl_size("stats.allocated"),
	         ctl_size("stats.active"));
	cr_assert(has(t, line), "expected \"%s\" in:\n%s", line, t);
	JE(free)(p);
}

Test(text, letters_leave_sections_out)
{
	make_history();
	unsigned a = arena_new_explicit();
	JE(free)(JE(mallocx)(100, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE));
	ctl_do(ctl_name("arena.%u.destroy", a));
	const char *t = report("");
	cr_assert(has(t, "Destroyed arenas stats:"));
	cr_assert(has(t, "curlextents"), "the large-class table");
	struct {
		const char *opts;
		const char *gone[3];
		const char *kept[2];
	} cases[] = {
	    {"g", {"Version:", "Run-time option settings", "Build-time"}, {"Allocated:", "arenas[0]:"}},
	    {"m", {"Merged arenas stats:"}, {"arenas[0]:", "Version:"}},
	    {"d", {"Destroyed arenas stats:"}, {"Merged arenas stats:", "arenas[0]:"}},
	    {"a", {"arenas[0]:", "arenas[1]:"}, {"Merged arenas stats:", "bins:"}},
	    {"b", {"bins:", "nflushes"}, {"arenas[0]:", "small:"}},
	    {"l", {"curlextents"}, {"arenas[0]:", "bins:"}},
	    {"gmdab", {"Version:", "Merged arenas", "arenas[0]:"}, {"Allocated:", "___ Begin"}},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		t = report(cases[i].opts);
		for (size_t k = 0; k < 3 && cases[i].gone[k]; k++)
			cr_assert_not(has(t, cases[i].gone[k]), "\"%s\": \"%s\" still there",
			              cases[i].opts, cases[i].gone[k]);
		for (size_t k = 0; k < 2 && cases[i].kept[k]; k++)
			cr_assert(has(t, cases[i].kept[k]), "\"%s\": \"%s\" missing", cases[i].opts,
			          cases[i].kept[k]);
	}
	/* letters without a section here (x, e) and unknown ones change nothing */
	size_t lines_default = 0, lines_other = 0;
	for (const char *c = report("a"); *c; c++)
		lines_default += *c == '\n';
	for (const char *c = report("axe?!z"); *c; c++)
		lines_other += *c == '\n';
	cr_assert_eq(lines_other, lines_default);
}

Test(text, bins_rows)
{
	ctl_do("thread.tcache.flush");
	void *p[10];
	for (int i = 0; i < 10; i++)
		p[i] = JE(mallocx)(10240, MALLOCX_TCACHE_NONE);
	const char *t = report("gmd");
	/* arena rows list the classes in use: size, regs, pages, curregs ... */
	char row[64];
	snprintf(row, sizeof(row), "%20u%7u%6u", 10240u, (unsigned)sc_nregs[sizeclass_small(10240)],
	         (unsigned)sc_slab_pages[sizeclass_small(10240)]);
	cr_assert(has(t, row), "no row starting \"%s\"", row);
	for (int i = 0; i < 10; i++)
		JE(dallocx)(p[i], MALLOCX_TCACHE_NONE);
}

/* ---- JSON ----------------------------------------------------------------------------- */

/* Writes the report of opts to a temporary file, which python3 -m json.tool
 * must accept; then python_checks (if any) runs with the document as `d`. */
static void check_json(const char *opts, const char *python_checks)
{
	const char *text = report(opts);
	char path[] = "/tmp/ingot_stats_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	size_t len = strlen(text);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s > /dev/null", path);
	int rc = system(cmd);
	cr_assert_eq(rc, 0, "\"%s\": python3 -m json.tool rejects the report (kept in %s)", opts,
	             path);
	if (python_checks) {
		char script[] = "/tmp/ingot_stats_check_XXXXXX";
		fd = mkstemp(script);
		cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
		FILE *f = fdopen(fd, "w");
		fprintf(f, "import json, sys\nd = json.load(open(sys.argv[1]))\n%s", python_checks);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 %s %s", script, path);
		rc = system(cmd);
		unlink(script);
		cr_assert_eq(rc, 0, "\"%s\": checks failed on %s:\n%s", opts, path, python_checks);
	}
	unlink(path);
}

Test(json, parses_with_every_letter_combination)
{
	make_history();
	const char *opts[] = {"J", "Jg", "Jm", "Ja", "Jb", "Jd", "Jgmab", "Jgmdab", "Jlxe", "gJ"};
	for (size_t i = 0; i < ARRAY_LEN(opts); i++)
		check_json(opts[i], NULL);
	unsigned a = arena_new_explicit();
	ctl_do(ctl_name("arena.%u.destroy", a));
	check_json("J", "assert 'destroyed' in d['jemalloc']['stats.arenas']");
	check_json("Jd", "assert 'destroyed' not in d['jemalloc']['stats.arenas']");
}

Test(json, content)
{
	void *p = JE(malloc)(5 * MiB), *small = JE(malloc)(100);
	char checks[2048];
	const char *junk;
	ctl_get("opt.junk", &junk, sizeof(junk));
	snprintf(checks, sizeof(checks),
	    "j = d['jemalloc']\n"
	    "assert j['version'].startswith('5.3.0-'), j['version']\n"
	    "assert j['config']['stats'] == %s\n"
	    "assert j['opt']['dirty_decay_ms'] == %zd\n"
	    "assert j['opt']['tcache_max'] == %zu\n"
	    "assert j['opt']['junk'] == '%s'\n"
	    "a = j['arenas']\n"
	    "assert a['page'] == 4096 and a['quantum'] == 16\n"
	    "assert a['nbins'] == len(a['bin']) == %u\n"
	    "assert a['nlextents'] == len(a['lextent'])\n"
	    "assert [b['size'] for b in a['bin']] == sorted(b['size'] for b in a['bin'])\n"
	    "s = j['stats']\n"
	    "assert s['allocated'] >= 5 << 20, s\n"
	    "assert s['allocated'] <= s['active'] <= s['resident'], s\n"
	    "m = j['stats.arenas']['merged']\n"
	    "assert len(m['bins']) == %u\n"
	    "assert m['large']['allocated'] >= 5 << 20\n"
	    "assert sum(b['curregs'] for b in m['bins']) >= 1\n"
	    "assert '0' in j['stats.arenas']\n"
	    "assert j['stats.arenas']['0']['pactive'] >= 0\n",
	    ctl_bool("config.stats") ? "True" : "False", ctl_ssize("opt.dirty_decay_ms"),
	    ctl_size("opt.tcache_max"), junk, ctl_unsigned("arenas.nbins"), ctl_unsigned("arenas.nbins"));
	check_json("J", checks);
	/* The report refreshed the snapshot; mallctl reads the same one. */
	const char *text = report("Jgmda");
	char needle[64];
	snprintf(needle, sizeof(needle), "\"allocated\": %zu", ctl_size("stats.allocated"));
	cr_assert(has(text, needle), "JSON allocated equals mallctl stats.allocated (%s)", needle);
	JE(free)(p);
	JE(free)(small);
}

/* ---- where the output goes --------------------------------------------------------------- */

static struct capture message_cap;
static void *message_opaque_seen;

static void message_hook(void *opaque, const char *s)
{
	message_opaque_seen = opaque;
	capture_cb(&message_cap, s);
}

#if TEST_STD_NAMES
#define MESSAGE_HOOK malloc_message
#else
#define MESSAGE_HOOK ingot_malloc_message
#endif

Test(output, default_goes_through_malloc_message)
{
	int marker;
	MESSAGE_HOOK = message_hook;
	JE(malloc_stats_print)(NULL, &marker, "g");
	MESSAGE_HOOK = NULL;
	cr_assert(strncmp(message_cap.buf, "___ Begin ingot statistics ___", 30) == 0);
	cr_assert(has(message_cap.buf, "--- End ingot statistics ---"));
	cr_assert_eq(message_opaque_seen, &marker, "malloc_message gets cbopaque (jemalloc)");
}

static void print_to_stderr(void *arg)
{
	(void)arg;
	JE(malloc_stats_print)(NULL, NULL, "gmab");
}

Test(output, without_a_hook_it_is_stderr)
{
	struct child_result r;
	run_in_child(print_to_stderr, NULL, &r);
	cr_assert(r.exited && r.status == 0, "the child ended with %d", r.status);
	cr_assert(strncmp(r.err, "___ Begin ingot statistics ___", 30) == 0, "stderr: %s", r.err);
}

static void mallctl_in_callback(void *opaque, const char *s)
{
	(void)s;
	size_t v, len = sizeof(v);
	int *rc = opaque;
	if (*rc == 0)
		*rc = JE(mallctl)("stats.allocated", &v, &len, NULL, 0) == 0 ? 1 : -1;
}

Test(output, the_callback_may_call_mallctl)
{
	int rc = 0;
	JE(malloc_stats_print)(mallctl_in_callback, &rc, "");
	cr_assert_eq(rc, 1);
}

Test(output, long_reports_come_in_pieces)
{
	for (int i = 0; i < 40; i++)
		arena_new_explicit();
	report("");
	cr_assert_gt(cap.calls, 1, "a %zu-byte report in one call", cap.len);
	cr_assert_gt(cap.len, 20000);
}

#if !TEST_STD_NAMES
/* Warnings go through malloc_message too. This process has not booted
 * ingot yet (the prefixed library: Criterion runs on libc), so the option
 * string set here is read at boot and its bad profile name warned about. */
Test(output, warnings_go_through_malloc_message)
{
	setenv("INGOT_CONF", "profile:nosuchprofile", 1);
	ingot_malloc_message = message_hook;
	void *p = ingot_malloc(1);
	ingot_malloc_message = NULL;
	ingot_free(p);
	cr_assert(has(message_cap.buf, "<ingot>: unknown profile"), "captured: \"%s\"",
	          message_cap.buf);
}
#endif
