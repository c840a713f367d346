/*
 * test_prof.c — the heap profiler: the sampler's rate, records found at
 * free, threads, fork, prof.reset, the prof.* names with Debian jemalloc's
 * types and error codes, and the dump formats read back.
 *
 * Each test runs in a process of its own and chooses its options through
 * INGOT_CONF before its first allocation boots ingot.
 */
#include "jemalloc_test.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>

#include "prof.h"

static void boot_with(const char *conf)
{
	cr_assert_eq(setenv("INGOT_CONF", conf, 1), 0);
	ingot_free(ingot_malloc(1));
}

/* prof.dump (or prof.dump_pprof with pprof) to path, NULL for the
 * automatic name; mallctl's answer. */
static int dump_to(const char *path, bool pprof)
{
	return ingot_mallctl(pprof ? "prof.dump_pprof" : "prof.dump", NULL, NULL, &path, sizeof(path));
}

static uint64_t nlive(void) { return __atomic_load_n(&prof_nlive, __ATOMIC_RELAXED); }

/* Allocates n blocks of size bytes into blocks (caller frees). */
static void fill(void **blocks, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		blocks[i] = ingot_malloc(size);
		cr_assert_not_null(blocks[i]);
	}
}

static void drain(void **blocks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ingot_free(blocks[i]);
}

/* Expected samples among n blocks of usable size s at rate 2^lg. */
static double expected_samples(size_t n, size_t s, unsigned lg)
{
	return (double)n * (1 - exp(-(double)s / (double)(1ull << lg)));
}

/* ---- the sampler ------------------------------------------------------------ */

Test(prof, small_blocks_sampled_at_the_rate)
{
	/* 2^20 blocks of 64 B at 2^14: 4,088 samples expected (sd 64); the
	 * count must be within 8% (5 sd) of n (1 - e^(-64/R)). A bound of 5%
	 * (3.2 sd) failed a CI run with 3,871; the lowest of 60 runs was 3,893
	 * on e1d3334 and 3,883 since: chance, not a lost sample. */
	boot_with("prof:true,lg_prof_sample:14");
	size_t n = 1 << 20;
	void **blocks = calloc(n, sizeof(void *));
	fill(blocks, n, 64);
	double want = expected_samples(n, 64, 14), got = (double)nlive();
	cr_assert(fabs(got - want) < 0.08 * want, "%.0f samples, expected %.0f", got, want);
	cr_assert_eq(ingot_check(), 0);
	drain(blocks, n);
	cr_assert_eq(nlive(), 0, "%llu records outlived their blocks", (unsigned long long)nlive());
	cr_assert_eq(ingot_check(), 0);
	free(blocks);
}

Test(prof, large_blocks_sampled_at_the_rate)
{
	/* 4000 blocks of 40 KiB at 2^16: each sampled with 1 - e^(-40960/65536). */
	boot_with("prof:true,lg_prof_sample:16");
	size_t n = 4000;
	void **blocks = calloc(n, sizeof(void *));
	fill(blocks, n, 40960);
	double want = expected_samples(n, 40960, 16), got = (double)nlive();
	cr_assert(fabs(got - want) < 0.08 * want, "%.0f samples, expected %.0f", got, want);
	drain(blocks, n);
	cr_assert_eq(nlive(), 0);
	free(blocks);
}

Test(prof, nothing_sampled_while_off)
{
	boot_with("prof:true,prof_active:false,lg_prof_sample:10");
	void *blocks[20000];
	fill(blocks, 20000, 100);
	cr_assert_eq(nlive(), 0, "prof_active:false sampled");
	bool on = true;
	cr_assert_eq(ingot_mallctl("prof.active", NULL, NULL, &on, sizeof(on)), 0);
	void *more[20000];
	fill(more, 20000, 100);
	cr_assert_gt(nlive(), 0, "prof.active=true sampled nothing");
	drain(blocks, 20000);
	drain(more, 20000);
	cr_assert_eq(nlive(), 0);
}

Test(prof, nothing_sampled_without_prof)
{
	boot_with("lg_prof_sample:4");
	void *blocks[20000];
	fill(blocks, 20000, 100);
	cr_assert_eq(nlive(), 0);
	cr_assert_not(prof_enabled);
	drain(blocks, 20000);
}

Test(prof, every_free_path_drops_the_record)
{
	/* At 2^0 every block is sampled: each way of freeing must find the
	 * record, and realloc too. */
	boot_with("prof:true,lg_prof_sample:0");
	size_t sizes[] = {16, 200, 3000, 20000, 100000, 3 << 20};
	for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
		void *a = ingot_malloc(sizes[i]), *b = ingot_malloc(sizes[i]);
		void *c = ingot_mallocx(sizes[i], MALLOCX_TCACHE_NONE), *d = ingot_malloc(sizes[i]);
		void *e = ingot_calloc(1, sizes[i]), *f = ingot_aligned_alloc(64, sizes[i]);
		cr_assert_eq(nlive(), 6, "size %zu: %llu of 6 blocks sampled", sizes[i],
		             (unsigned long long)nlive());
		ingot_free(a);
		ingot_free_sized(b, sizes[i]);
		ingot_dallocx(c, MALLOCX_TCACHE_NONE);
		ingot_sdallocx(ingot_realloc(d, sizes[i] * 2), sizes[i] * 2, 0);
		ingot_free(e);
		ingot_free(f);
		cr_assert_eq(nlive(), 0, "size %zu: %llu records left", sizes[i],
		             (unsigned long long)nlive());
		cr_assert_eq(ingot_check(), 0);
	}
}

static void *thread_allocs(void *arg)
{
	void **blocks = arg;
	fill(blocks, 5000, 256);
	return NULL;
}

Test(prof, blocks_of_exited_threads_freed_elsewhere)
{
	boot_with("prof:true,lg_prof_sample:12");
	static void *blocks[8][5000];
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_allocs, blocks[i]), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	cr_assert_gt(nlive(), 50);
	for (int i = 0; i < 8; i++)
		drain(blocks[i], 5000);
	cr_assert_eq(nlive(), 0);
	cr_assert_eq(ingot_check(), 0);
}

Test(prof, fork_child_keeps_profiling)
{
	boot_with("prof:true,lg_prof_sample:10");
	void *blocks[4000];
	fill(blocks, 4000, 128);
	uint64_t before = nlive();
	cr_assert_gt(before, 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child frees what it inherited and profiles its own. */
		drain(blocks, 4000);
		void *mine[4000];
		fill(mine, 4000, 128);
		int ok = nlive() > 0 && dump_to("/dev/null", false) == 0;
		drain(mine, 4000);
		_exit(ok && nlive() == 0 ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
	cr_assert_eq(nlive(), before, "the child's frees changed the parent");
	drain(blocks, 4000);
}

Test(prof, reset_drops_records_and_sets_the_rate)
{
	boot_with("prof:true,lg_prof_sample:10");
	void *blocks[4000];
	fill(blocks, 4000, 128);
	cr_assert_gt(nlive(), 0);
	size_t lg = 20, got, len = sizeof(got);
	cr_assert_eq(ingot_mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
	cr_assert_eq(nlive(), 0);
	cr_assert_eq(ingot_check(), 0, "pages stayed hidden after prof.reset");
	cr_assert_eq(ingot_mallctl("prof.lg_sample", &got, &len, NULL, 0), 0);
	cr_assert_eq(got, 20);
	drain(blocks, 4000);
	lg = 63;
	cr_assert_eq(ingot_mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), EINVAL);
}

/* ---- names --------------------------------------------------------------------- */

static int read_bool(const char *name, bool *v)
{
	size_t len = sizeof(*v);
	return ingot_mallctl(name, v, &len, NULL, 0);
}

static int write_bool(const char *name, bool v)
{
	return ingot_mallctl(name, NULL, NULL, &v, sizeof(v));
}

Test(prof, names_without_prof_answer_as_jemalloc)
{
	/* What Debian's jemalloc 5.3 (config.prof true) answers with
	 * prof:false: reads give false or 0, writes and actions ENOENT. */
	boot_with("");
	bool b = true;
	cr_assert_eq(read_bool("config.prof", &b), 0);
	cr_assert(b);
	const char *names[] = {"prof.active", "prof.thread_active_init", "prof.gdump",
	                       "thread.prof.active"};
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		b = true;
		cr_assert_eq(read_bool(names[i], &b), 0, "%s", names[i]);
		cr_assert_not(b, "%s reads true", names[i]);
		cr_assert_eq(write_bool(names[i], true), ENOENT, "%s", names[i]);
	}
	cr_assert_eq(write_bool("prof.active", false), 0);
	const char *path = "/dev/null";
	cr_assert_eq(ingot_mallctl("prof.dump", NULL, NULL, &path, sizeof(path)), ENOENT);
	cr_assert_eq(ingot_mallctl("prof.prefix", NULL, NULL, &path, sizeof(path)), ENOENT);
	cr_assert_eq(ingot_mallctl("thread.prof.name", NULL, NULL, &path, sizeof(path)), ENOENT);
	size_t lg = 12, v = 7, len = sizeof(v);
	cr_assert_eq(ingot_mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), ENOENT);
	cr_assert_eq(ingot_mallctl("prof.lg_sample", &v, &len, NULL, 0), 0);
	cr_assert_eq(v, 0);
	uint64_t interval = 7;
	len = sizeof(interval);
	cr_assert_eq(ingot_mallctl("prof.interval", &interval, &len, NULL, 0), 0);
	cr_assert_eq(interval, 0);
	cr_assert_eq(dump_to(NULL, false), ENOENT);
}

Test(prof, names_with_prof)
{
	boot_with("prof:true,prof_active:false,lg_prof_sample:15,lg_prof_interval:30,prof_prefix:pfx");
	bool b = true;
	cr_assert_eq(read_bool("prof.active", &b), 0);
	cr_assert_not(b, "prof_active:false reads true");
	cr_assert_eq(write_bool("prof.active", true), 0);
	cr_assert_eq(read_bool("prof.active", &b), 0);
	cr_assert(b);
	cr_assert_eq(read_bool("thread.prof.active", &b), 0);
	cr_assert(b, "thread.prof.active starts as prof_thread_active_init (true)");
	cr_assert_eq(write_bool("thread.prof.active", false), 0);
	cr_assert_eq(read_bool("thread.prof.active", &b), 0);
	cr_assert_not(b);
	cr_assert_eq(write_bool("prof.gdump", true), 0);
	cr_assert_eq(read_bool("prof.gdump", &b), 0);
	cr_assert(b);
	size_t v = 0, len = sizeof(v);
	cr_assert_eq(ingot_mallctl("prof.lg_sample", &v, &len, NULL, 0), 0);
	cr_assert_eq(v, 15);
	uint64_t interval = 0;
	len = sizeof(interval);
	cr_assert_eq(ingot_mallctl("prof.interval", &interval, &len, NULL, 0), 0);
	cr_assert_eq(interval, 1ull << 30);
	ssize_t lg_interval = 0;
	len = sizeof(lg_interval);
	cr_assert_eq(ingot_mallctl("opt.lg_prof_interval", &lg_interval, &len, NULL, 0), 0);
	cr_assert_eq(lg_interval, 30);
	const char *s = NULL;
	len = sizeof(s);
	cr_assert_eq(ingot_mallctl("opt.prof_prefix", &s, &len, NULL, 0), 0);
	cr_assert_str_eq(s, "pfx");
	cr_assert_eq(ingot_mallctl("thread.prof.name", &s, &len, NULL, 0), 0);
	cr_assert_str_eq(s, "", "a thread's name starts empty, as in jemalloc");
	const char *name = "worker-1";
	cr_assert_eq(ingot_mallctl("thread.prof.name", NULL, NULL, &name, sizeof(name)), 0);
	cr_assert_eq(ingot_mallctl("thread.prof.name", &s, &len, NULL, 0), 0);
	cr_assert_str_eq(s, "worker-1");
	cr_assert_eq(ingot_mallctl("prof.dump", &s, &len, NULL, 0), EPERM, "prof.dump is write-only");
	int small = 0;
	cr_assert_eq(ingot_mallctl("prof.active", NULL, NULL, &small, sizeof(small)), EINVAL);
}

/* ---- dumps ----------------------------------------------------------------------- */

/* Reads a whole file into a malloc'd string. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s missing", path);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

/* Applies jeprof's scaling (AdjustSamples, heap_v2) to one count line. */
static double unbiased_bytes(double n, double b, double rate)
{
	return n == 0 ? 0 : b / (1 - exp(-(b / n) / rate));
}

static __attribute__((noinline)) void *site_big(size_t size) { return ingot_malloc(size); }

Test(prof, jemalloc_dump_reads_back)
{
	/* One site of 600 blocks of 48 KiB (28.1 MiB), sampled at 2^15 (462
	 * samples expected, sd 2.2%): the readers' scaling of its line gives
	 * its bytes within 10%. */
	boot_with("prof:true,lg_prof_sample:15");
	static void *blocks[600];
	for (int i = 0; i < 600; i++)
		blocks[i] = site_big(48 << 10);
	char path[] = "/tmp/ingot-prof-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(dump_to(path, false), 0);
	char *text = slurp(path);
	cr_assert_eq(strncmp(text, "heap_v2/32768\n  t*: ", 20), 0, "header: %.40s", text);
	char *maps = strstr(text, "\nMAPPED_LIBRARIES:\n");
	cr_assert_not_null(maps);
	cr_assert_not_null(strstr(maps, "r-xp"), "no executable mapping listed");
	double best = 0;
	unsigned stacks = 0;
	for (char *at = strstr(text, "\n@ 0x"); at && at < maps; at = strstr(at + 1, "\n@ 0x")) {
		stacks++;
		unsigned long long n, b, an, ab;
		char *counts = strstr(at + 1, "\n  t*: ");
		cr_assert_not_null(counts);
		cr_assert_eq(sscanf(counts, "\n  t*: %llu: %llu [%llu: %llu]", &n, &b, &an, &ab), 4);
		cr_assert_eq(an + ab, 0, "cumulative counts without prof_accum");
		double bytes = unbiased_bytes((double)n, (double)b, 32768);
		best = bytes > best ? bytes : best;
	}
	cr_assert_geq(stacks, 1);
	double truth = 600.0 * (48 << 10);
	cr_assert(fabs(best - truth) < 0.10 * truth, "site estimate %.0f, truth %.0f", best, truth);
	for (int i = 0; i < 600; i++)
		ingot_free(blocks[i]);
	cr_assert_eq(dump_to(path, false), 0);
	free(text);
	text = slurp(path);
	cr_assert_null(strstr(text, "\n@ 0x"), "freed blocks still in the profile");
	free(text);
	unlink(path);
}

static void *thread_site(void *arg)
{
	void **blocks = arg;
	for (int i = 0; i < 2000; i++)
		blocks[i] = site_big(8 << 10);
	return NULL;
}

Test(prof, jemalloc_dump_has_thread_lines)
{
	/* jeprof --thread=N reads the t<N> lines: the main thread samples
	 * first (t0), the worker second (t1); each site lists its thread. */
	boot_with("prof:true,lg_prof_sample:14");
	static void *mine[2000], *theirs[2000];
	for (int i = 0; i < 2000; i++)
		mine[i] = site_big(8 << 10);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, thread_site, theirs), 0);
	pthread_join(t, NULL);
	char path[] = "/tmp/ingot-prof-XXXXXX";
	close(mkstemp(path));
	cr_assert_eq(dump_to(path, false), 0);
	char *text = slurp(path);
	char *first_site = strstr(text, "\n@ 0x");
	cr_assert_not_null(first_site);
	char *t0 = strstr(text, "\n  t0: "), *t1 = strstr(text, "\n  t1: ");
	cr_assert(t0 && t0 < first_site && t1 && t1 < first_site, "header lacks t0/t1: %.200s", text);
	cr_assert_not_null(strstr(first_site, "\n  t0: "), "no site of thread 0");
	cr_assert_not_null(strstr(first_site, "\n  t1: "), "no site of thread 1");
	free(text);
	unlink(path);
	drain(mine, 2000);
	drain(theirs, 2000);
}

Test(prof, pprof_dump_reads_back)
{
	/* 8000 blocks of 1 KiB at 2^12: 1,770 samples expected (sd 2.1%). */
	boot_with("prof:true,lg_prof_sample:12,prof_accum:true");
	static void *blocks[8000];
	for (int i = 0; i < 8000; i++)
		blocks[i] = site_big(1000);
	char path[] = "/tmp/ingot-prof-XXXXXX";
	close(mkstemp(path));
	cr_assert_eq(dump_to(path, true), 0);
	char *text = slurp(path);
	unsigned long long n, b, an, ab, rate;
	cr_assert_eq(sscanf(text, "heap profile: %llu: %llu [%llu: %llu] @ heap_v2/%llu", &n, &b, &an,
	                    &ab, &rate),
	             5, "header: %.60s", text);
	cr_assert_eq(rate, 4096);
	cr_assert_geq(an, n, "cumulative below live with prof_accum");
	double truth = 8000.0 * 1024, est = unbiased_bytes((double)n, (double)b, 4096);
	cr_assert(fabs(est - truth) < 0.10 * truth, "estimate %.0f, truth %.0f", est, truth);
	cr_assert_not_null(strstr(text, "] @ 0x"));
	cr_assert_not_null(strstr(text, "\nMAPPED_LIBRARIES:\n"));
	free(text);
	unlink(path);
	for (int i = 0; i < 8000; i++)
		ingot_free(blocks[i]);
}

/* Runs body in a child process with cwd dir; returns its exit status. */
static int in_child(const char *dir, const char *conf, void (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(99);
		setenv("INGOT_CONF", conf, 1);
		body();
		exit(0); /* runs ingot's exit hook: final dump, leak report */
	}
	int status;
	waitpid(pid, &status, 0);
	return status;
}

static void leak_some(void)
{
	for (int i = 0; i < 300; i++)
		(void)site_big(64 << 10);
	dump_to(NULL, false);
}

static char *make_dir(void)
{
	static char dir[64];
	strcpy(dir, "/tmp/ingot-prof-dir-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

Test(prof, automatic_names_as_jemalloc)
{
	/* jemalloc names them <prefix>.<pid>.<seq>.<kind><vseq>.heap, the
	 * final one without vseq: here pfx.<pid>.0.m0.heap, pfx.<pid>.1.f.heap. */
	char *dir = make_dir();
	int status = in_child(dir, "prof:true,prof_final:true,prof_prefix:pfx", leak_some);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	DIR *d = opendir(dir);
	struct dirent *e;
	int manual = 0, final = 0;
	while ((e = readdir(d)) != NULL) {
		unsigned pid, seq;
		char kind[8];
		if (sscanf(e->d_name, "pfx.%u.%u.%7[^.]", &pid, &seq, kind) != 3)
			continue;
		manual += seq == 0 && strcmp(kind, "m0") == 0;
		final += seq == 1 && strcmp(kind, "f") == 0;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
	cr_assert_eq(manual, 1, "no pfx.<pid>.0.m0.heap");
	cr_assert_eq(final, 1, "no pfx.<pid>.1.f.heap");
}

static void grow_heap(void)
{
	/* 64 MiB in blocks of 256 KiB, kept. */
	for (int i = 0; i < 256; i++)
		(void)site_big(256 << 10);
}

static int count_files(const char *dir, const char *kind)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, kind) != NULL;
	closedir(d);
	return n;
}

static void clean_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

Test(prof, interval_and_gdump_files)
{
	char *dir = make_dir();
	int status = in_child(dir, "prof:true,lg_prof_interval:23,prof_gdump:true", grow_heap);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int interval = count_files(dir, ".i"), gdump = count_files(dir, ".u");
	clean_dir(dir);
	/* 64 MiB at one dump per 8 MiB allocated: about 8. */
	cr_assert(interval >= 5 && interval <= 11, "%d interval dumps", interval);
	cr_assert_geq(gdump, 1, "no dump at a new peak of mapped memory");
}

Test(prof, threshold_dumps_keep_the_newest)
{
	/* First at 8 MiB live, then at each 50% growth: 8, 12, 18, 27, 40, 60
	 * MiB; only the newest 2 files are kept. */
	char *dir = make_dir();
	int status = in_child(dir,
	                      "prof:true,prof_threshold:8388608,prof_threshold_growth:50,"
	                      "prof_threshold_min_ms:0,prof_threshold_keep:2",
	                      grow_heap);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int kept = count_files(dir, ".t");
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned newest = 0;
	while ((e = readdir(d)) != NULL) {
		unsigned pid, seq, tseq;
		if (sscanf(e->d_name, "jeprof.%u.%u.t%u.heap", &pid, &seq, &tseq) == 3 && tseq > newest)
			newest = tseq;
	}
	closedir(d);
	clean_dir(dir);
	cr_assert_eq(kept, 2, "%d threshold dumps kept", kept);
	cr_assert(newest >= 4 && newest <= 7, "last threshold dump is t%u", newest);
}

Test(prof, leak_report_at_exit)
{
	char *dir = make_dir();
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		if (chdir(dir) != 0)
			_exit(99);
		setenv("INGOT_CONF", "prof:true,prof_leak:true,lg_prof_sample:16", 1);
		grow_heap();
		exit(0);
	}
	close(pipefd[1]);
	char out[4096] = "";
	size_t len = 0;
	ssize_t n;
	while ((n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	waitpid(pid, NULL, 0);
	clean_dir(dir);
	unsigned long long bytes = 0;
	char *summary = strstr(out, "<jemalloc>: Leak approximation summary: ~");
	cr_assert_not_null(summary, "no summary in: %s", out);
	cr_assert_eq(sscanf(summary, "<jemalloc>: Leak approximation summary: ~%llu", &bytes), 1);
	double truth = 64.0 * MiB;
	cr_assert(fabs((double)bytes - truth) < 0.1 * truth, "leak of %llu bytes reported", bytes);
	cr_assert_not_null(strstr(out, "<jemalloc>: Leak: ~"), "no line per site");
}

Test(prof, leak_error_exits_with_status_1)
{
	/* prof_leak_error: after the leak report, exit status 1 (jemalloc's
	 * opt.prof_leak_error), whatever the program returned. */
	char *dir = make_dir();
	int status = in_child(dir, "prof:true,prof_leak:true,prof_leak_error:true,lg_prof_sample:16",
	                      grow_heap);
	clean_dir(dir);
	cr_assert(WIFEXITED(status), "the child did not exit");
	cr_assert_eq(WEXITSTATUS(status), 1, "exit status %d", WEXITSTATUS(status));
}
