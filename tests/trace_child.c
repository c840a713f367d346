/*
 * trace_child.c — the program tests/test_trace.c traces. It makes a known
 * sequence of ingot_* calls (linked with the prefixed library, so libc's
 * own allocations stay out of the trace), prints the pointers it got, one
 * per line, and ends with a normal exit, where ingot writes the trace.
 *
 *   trace_child calls    malloc, calloc, a huge malloc, realloc and frees
 *   trace_child many N   N malloc/free pairs of varied sizes
 *   trace_child fork     malloc, fork (the child allocates and exits), free
 *   trace_child exec     malloc, then runs "trace_child calls" (fork and exec:
 *                        the new program inherits INGOT_CONF), free
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ingot.h"

static void *show(void *p)
{
	printf("%p\n", p);
	return p;
}

static int calls(void)
{
	void *small = show(ingot_malloc(100));
	void *mid = show(ingot_malloc(5000));
	void *zeroed = show(ingot_calloc(3, 1000));
	void *huge = show(ingot_malloc(3 << 20));
	void *moved = show(ingot_realloc(small, 300));
	ingot_free(mid);
	ingot_free(zeroed);
	ingot_free(huge);
	ingot_free(moved);
	return 0;
}

static int many(long n)
{
	for (long i = 0; i < n; i++)
		ingot_free(ingot_malloc((size_t)(i % 700) * 24 + 1));
	return 0;
}

/* The forked child of "fork": allocates, and exits normally, so that
 * ingot's exit hook runs in the child too. */
static void allocate_and_exit(const char *self)
{
	(void)self;
	for (int i = 0; i < 3; i++)
		ingot_free(ingot_malloc(128));
	exit(0);
}

/* The forked child of "exec": becomes "trace_child calls". */
static void exec_calls(const char *self)
{
	execl(self, self, "calls", (char *)NULL);
	_exit(127);
}

/* malloc, a child process that runs child_main (which does not return),
 * then free once the child has exited with status 0. */
static int around_child(void (*child_main)(const char *self), const char *self)
{
	void *p = show(ingot_malloc(64));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		child_main(self);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	ingot_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "calls") == 0)
		return calls();
	if (argc == 3 && strcmp(argv[1], "many") == 0)
		return many(atol(argv[2]));
	if (argc == 2 && strcmp(argv[1], "fork") == 0)
		return around_child(allocate_and_exit, argv[0]);
	if (argc == 2 && strcmp(argv[1], "exec") == 0)
		return around_child(exec_calls, argv[0]);
	fprintf(stderr, "usage: trace_child calls | many N | fork | exec\n");
	return 2;
}
