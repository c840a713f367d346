/*
 * fuzz_driver.h — the entry points every harness shares.
 *
 * A harness defines, before including this header:
 *   static void fuzz_init(void);                         once per process
 *   static void fuzz_one(const uint8_t *data, size_t n); once per input
 * fuzz_one aborts (with one line on stderr) when it finds a fault.
 *
 * This header then provides, depending on how the harness is compiled:
 *   - libFuzzer (-DFUZZ_LIBFUZZER, link with -fsanitize=fuzzer):
 *     LLVMFuzzerTestOneInput;
 *   - afl-cc (which defines __AFL_FUZZ_TESTCASE_LEN): a main that runs in
 *     AFL++'s persistent mode with shared-memory test cases when given no
 *     arguments, and replays files when given some;
 *   - any other compiler: a main that replays the files and directories
 *     named on the command line (stdin when none), for corpus replay and
 *     for reproducing a crash without AFL.
 * Replay prints "<name>: N inputs ok" and exits 0, or aborts on the first
 * faulty input after naming it on stderr.
 */
#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* read(), which AFL's test case macros call */

#ifdef FUZZ_LIBFUZZER

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		fuzz_init();
		ready = 1;
	}
	fuzz_one(data, size);
	return 0;
}

#else /* a main of our own */

/* Largest input a replay reads; AFL's default maximum is 1 MB. */
#define FUZZ_MAX_INPUT (1u << 20)

static unsigned char fuzz_replay_buf[FUZZ_MAX_INPUT];

static size_t fuzz_read_stream(FILE *f)
{
	size_t n = fread(fuzz_replay_buf, 1, sizeof(fuzz_replay_buf), f);
	if (ferror(f)) {
		perror("fuzz: read");
		exit(2);
	}
	return n;
}

/* Runs one file, or every regular file of a directory (not recursively).
 * Returns the number of inputs run. */
static unsigned long fuzz_replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		exit(2);
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (!d) {
			perror(path);
			exit(2);
		}
		unsigned long count = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			if (stat(sub, &st) == 0 && S_ISREG(st.st_mode))
				count += fuzz_replay_path(sub);
		}
		closedir(d);
		return count;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t n = fuzz_read_stream(f);
	fclose(f);
	/* Named before running so that an abort says which input it was. */
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz: running %s (%zu bytes)\n", path, n);
	fuzz_current_input = path;
	fuzz_one(fuzz_replay_buf, n);
	return 1;
}

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

int main(int argc, char **argv)
{
	fuzz_init();
#ifdef __AFL_FUZZ_TESTCASE_LEN
	if (argc < 2) {
		/* Under afl-fuzz: the fork server starts here, after the
		 * allocator has booted, and each child runs up to 1000 inputs.
		 * Outside afl-fuzz the loop runs once on stdin. */
		__AFL_INIT();
		unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
		while (__AFL_LOOP(1000))
			fuzz_one(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
		return 0;
	}
#endif
	unsigned long count = 0;
	if (argc < 2) {
		fuzz_current_input = "<stdin>";
		size_t n = fuzz_read_stream(stdin);
		fuzz_one(fuzz_replay_buf, n);
		count = 1;
	}
	for (int i = 1; i < argc; i++)
		count += fuzz_replay_path(argv[i]);
	printf("%s: %lu inputs ok\n", argv[0], count);
	return 0;
}

#endif /* FUZZ_LIBFUZZER */
#endif /* FUZZ_DRIVER_H */
