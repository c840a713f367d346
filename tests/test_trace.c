/*
 * test_trace.c — INGOT_CONF=trace:FILE writes one record per call the
 * program makes, in the format src/trace.h describes. Each test runs
 * build/tests/trace_child (tests/trace_child.c) with the option set, reads
 * the pointers it printed, and parses the trace it left.
 */
#include <dirent.h>

#include "helpers.h"

#include <stdio.h>

#ifndef TRACE_CHILD
#define TRACE_CHILD "build/tests/trace_child"
#endif

struct rec {
	char kind; /* 'a', 'f' or 'r' */
	uint64_t dt, ptr, old_ptr, requested, usable;
};

struct trace {
	unsigned char magic[8];
	size_t n;
	struct rec *recs;
};

/* A fresh file name for this test (tests run in parallel). */
static void trace_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/tmp/ingot-test-trace-%d-%s", (int)getpid(), name);
}

/* Runs trace_child with args and INGOT_CONF=trace:path; returns its exit
 * status and fills ptrs (up to max) with the pointers it printed. */
static int run_child(const char *path, const char *args, void **ptrs, size_t max, size_t *nptrs)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "INGOT_CONF=trace:%s %s %s", path, TRACE_CHILD, args);
	FILE *out = popen(cmd, "r");
	cr_assert_not_null(out, "cannot run %s", cmd);
	size_t n = 0;
	void *p;
	while (fscanf(out, "%p", &p) == 1)
		if (n < max)
			ptrs[n++] = p;
	*nptrs = n;
	int status = pclose(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char byte = *(*p)++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (byte < 0x80) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Reads and parses the whole trace; fails the test on a malformed one. */
static struct trace read_trace(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "no trace file %s", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	cr_assert_geq(size, 16, "trace shorter than its header: %ld bytes", size);
	unsigned char *data = malloc((size_t)size);
	cr_assert_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);

	struct trace t = {.n = 0, .recs = malloc(sizeof(struct rec) * ((size_t)size / 4 + 1))};
	memcpy(t.magic, data, 8);
	const unsigned char *p = data + 16, *end = data + size;
	while (p < end) {
		struct rec r = {.kind = (char)*p++};
		bool ok = get_varint(&p, end, &r.dt);
		switch (r.kind) {
		case 'a':
			ok = ok && get_varint(&p, end, &r.ptr) && get_varint(&p, end, &r.requested) &&
			     get_varint(&p, end, &r.usable);
			break;
		case 'f':
			ok = ok && get_varint(&p, end, &r.ptr) && get_varint(&p, end, &r.usable);
			break;
		case 'r':
			ok = ok && get_varint(&p, end, &r.old_ptr) && get_varint(&p, end, &r.ptr) &&
			     get_varint(&p, end, &r.requested) && get_varint(&p, end, &r.usable);
			break;
		default:
			cr_assert_fail("record %zu has unknown kind %#x", t.n, (unsigned char)r.kind);
		}
		cr_assert(ok, "record %zu is cut short", t.n);
		t.recs[t.n++] = r;
	}
	free(data);
	return t;
}

static void assert_rec(const struct trace *t, size_t i, char kind, void *ptr, uint64_t requested)
{
	cr_assert_lt(i, t->n, "only %zu records", t->n);
	const struct rec *r = &t->recs[i];
	cr_assert_eq(r->kind, kind, "record %zu is '%c', expected '%c'", i, r->kind, kind);
	cr_assert_eq(r->ptr, (uintptr_t)ptr, "record %zu: pointer %#llx, expected %p", i,
	             (unsigned long long)r->ptr, ptr);
	if (kind != 'f') {
		cr_assert_eq(r->requested, requested, "record %zu: requested %llu, expected %llu", i,
		             (unsigned long long)r->requested, (unsigned long long)requested);
		cr_assert_geq(r->usable, requested, "record %zu: usable below the request", i);
	}
}

Test(trace, one_record_per_call_in_order)
{
	char path[128];
	trace_path(path, sizeof path, "calls");
	void *ptrs[8];
	size_t n;
	cr_assert_eq(run_child(path, "calls", ptrs, 8, &n), 0);
	cr_assert_eq(n, 5);
	void *small = ptrs[0], *mid = ptrs[1], *zeroed = ptrs[2], *huge = ptrs[3], *moved = ptrs[4];

	struct trace t = read_trace(path);
	cr_assert(memcmp(t.magic, "INGOTTR1", 8) == 0, "header has no INGOTTR1 magic");
	cr_assert_eq(t.n, 9, "%zu records for 9 calls", t.n);
	assert_rec(&t, 0, 'a', small, 100);
	assert_rec(&t, 1, 'a', mid, 5000);
	assert_rec(&t, 2, 'a', zeroed, 3000);
	assert_rec(&t, 3, 'a', huge, 3 << 20);
	assert_rec(&t, 4, 'r', moved, 300);
	cr_assert_eq(t.recs[4].old_ptr, (uintptr_t)small, "resize record names the old block");
	assert_rec(&t, 5, 'f', mid, 0);
	assert_rec(&t, 6, 'f', zeroed, 0);
	assert_rec(&t, 7, 'f', huge, 0);
	assert_rec(&t, 8, 'f', moved, 0);
	/* A free reports the usable size the allocation did. */
	cr_assert_eq(t.recs[5].usable, t.recs[1].usable);
	cr_assert_eq(t.recs[7].usable, t.recs[3].usable);
	unlink(path);
}

Test(trace, records_survive_many_buffer_flushes)
{
	enum { PAIRS = 30000 }; /* about 400 KB of records: several 64 KiB buffers */
	char path[128];
	trace_path(path, sizeof path, "many");
	size_t n;
	cr_assert_eq(run_child(path, "many 30000", NULL, 0, &n), 0);
	struct trace t = read_trace(path);
	cr_assert_eq(t.n, 2 * PAIRS, "%zu records for %d calls", t.n, 2 * PAIRS);
	for (size_t i = 0; i < t.n; i += 2) {
		uint64_t requested = (uint64_t)(i / 2 % 700) * 24 + 1;
		cr_assert_eq(t.recs[i].kind, 'a', "record %zu", i);
		cr_assert_eq(t.recs[i].requested, requested, "record %zu", i);
		cr_assert_eq(t.recs[i + 1].kind, 'f', "record %zu", i + 1);
		cr_assert_eq(t.recs[i + 1].ptr, t.recs[i].ptr, "record %zu", i + 1);
	}
	unlink(path);
}

Test(trace, forked_child_neither_traces_nor_repeats_the_parents_records)
{
	char path[128];
	trace_path(path, sizeof path, "fork");
	void *ptrs[2];
	size_t n;
	cr_assert_eq(run_child(path, "fork", ptrs, 2, &n), 0);
	cr_assert_eq(n, 1);
	struct trace t = read_trace(path);
	cr_assert_eq(t.n, 2, "%zu records; expected the parent's malloc and free only", t.n);
	assert_rec(&t, 0, 'a', ptrs[0], 64);
	assert_rec(&t, 1, 'f', ptrs[0], 0);
	unlink(path);
}

Test(trace, percent_p_gives_an_execed_program_a_file_of_its_own)
{
	/* trace:DIR/t.%p: the program and the one it starts with exec (which
	 * inherits INGOT_CONF) each write the file named by its own pid. */
	char dir[] = "/tmp/ingot-test-trace-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/t.%%p", dir);
	void *ptrs[8];
	size_t n;
	cr_assert_eq(run_child(path, "exec", ptrs, 8, &n), 0);
	cr_assert_eq(n, 6, "%zu pointers printed; expected 1 + 5", n);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	char files[2][320];
	size_t nfiles = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		cr_assert_lt(nfiles, 2, "more than two trace files");
		cr_assert_eq(strncmp(e->d_name, "t.", 2), 0, "file %s", e->d_name);
		cr_assert_gt(atol(e->d_name + 2), 0, "no pid in the name %s", e->d_name);
		snprintf(files[nfiles++], sizeof files[0], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	cr_assert_eq(nfiles, 2, "%zu trace files; expected one per process", nfiles);
	struct trace a = read_trace(files[0]), b = read_trace(files[1]);
	struct trace *parent = a.n < b.n ? &a : &b, *child = a.n < b.n ? &b : &a;
	cr_assert_eq(parent->n, 2, "%zu records; expected the program's malloc and free", parent->n);
	assert_rec(parent, 0, 'a', ptrs[0], 64);
	assert_rec(parent, 1, 'f', ptrs[0], 0);
	assert_rec(child, 0, 'a', ptrs[1], 100);
	cr_assert_eq(child->n, 9, "%zu records in the exec'd program's trace", child->n);
	unlink(files[0]);
	unlink(files[1]);
	rmdir(dir);
}

Test(trace, unwritable_file_warns_and_the_program_runs)
{
	FILE *out = popen("INGOT_CONF=trace:/nonexistent-dir/x.trace " TRACE_CHILD " calls 2>&1", "r");
	cr_assert_not_null(out);
	char text[4096];
	size_t len = fread(text, 1, sizeof text - 1, out);
	text[len] = '\0';
	int status = pclose(out);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the program failed: %s", text);
	cr_assert_not_null(strstr(text, "cannot create the trace file"), "no warning in: %s", text);
}
