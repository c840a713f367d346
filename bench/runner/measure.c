/* measure: run a command, report its wall time and peak RSS.
 *
 *   measure [-t SECONDS] [-o FILE] -- COMMAND [ARG...]
 *
 * Forks, execs COMMAND (in its own process group) and waits for it with wait4,
 * whose rusage gives the peak resident set (ru_maxrss) of the command. Writes
 * one line to FILE (default stderr):
 *
 *   measure wall_s=<t> maxrss_kib=<n> user_s=<t> sys_s=<t> exit=<code> signal=<sig> timeout=<0|1>
 *
 * With -t, a command still running after SECONDS is killed (its whole process
 * group) and reported with timeout=1. The exit status of measure is the
 * command's, or 128 + signal number; 125 if measure itself failed and 127 if
 * the command could not be started. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

static void usage(void)
{
    fprintf(stderr, "usage: measure [-t SECONDS] [-o FILE] -- COMMAND [ARG...]\n");
    exit(125);
}

int main(int argc, char **argv)
{
    double limit = 0;
    const char *out = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+t:o:")) != -1) {
        switch (opt) {
        case 't':
            limit = strtod(optarg, NULL);
            break;
        case 'o':
            out = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: wait4 must return EINTR */
    sigaction(SIGALRM, &sa, NULL);

    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 125;
    }
    if (pid == 0) {
        setpgid(0, 0);
        execvp(argv[optind], &argv[optind]);
        fprintf(stderr, "measure: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so that the group exists before any kill */
    if (limit > 0) {
        struct itimerval it = {{0, 0}, {(time_t)limit, (suseconds_t)((limit - (double)(time_t)limit) * 1e6)}};
        setitimer(ITIMER_REAL, &it, NULL);
    }

    int status = 0;
    struct rusage ru;
    for (;;) {
        pid_t w = wait4(pid, &status, 0, &ru);
        if (w == pid)
            break;
        if (w < 0 && errno == EINTR) {
            if (timed_out)
                kill(-pid, SIGKILL);
            continue;
        }
        perror("measure: wait4");
        return 125;
    }
    double wall = now() - t0;
    if (timed_out) /* the group may hold children that outlived the leader */
        kill(-pid, SIGKILL);

    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    FILE *f = out != NULL ? fopen(out, "w") : stderr;
    if (f == NULL) {
        perror("measure: output file");
        return 125;
    }
    fprintf(f, "measure wall_s=%.6f maxrss_kib=%ld user_s=%.6f sys_s=%.6f exit=%d signal=%d timeout=%d\n",
            wall, ru.ru_maxrss, tv_seconds(ru.ru_utime), tv_seconds(ru.ru_stime), code, sig,
            (int)timed_out);
    if (f != stderr)
        fclose(f);
    return sig != 0 ? 128 + sig : code;
}
