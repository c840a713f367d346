/* smaps_exit.so: preloaded beside an allocator, appends one line to the file
 * named by $SMAPS_OUT when the program exits:
 *
 *   <mapping>=<KiB> ... hwm=<KiB>
 *
 * the resident size (Rss of /proc/self/smaps) of every mapping, summed by
 * file name ("[anon]" for anonymous memory, "[heap]", "[stack]", ...), and
 * the process's peak (VmHWM). bench/footprint.sh reads it. Its own mapping
 * is left out; what it uses of libc (open, read, write) every program uses. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAMES_MAX 64

static char text[1 << 20];

static size_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;
	if (fd < 0)
		return 0;
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return len;
}

/* The file name of a mapping's header line ("start-end perms offset dev
 * inode [path]"), or "[anon]" when it has none. */
static const char *mapping_name(const char *line)
{
	const char *p = line;
	for (int field = 0; field < 5; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return "[anon]";
		while (*p == ' ')
			p++;
	}
	if (*p == '\0')
		return "[anon]";
	const char *slash = strrchr(p, '/');
	return slash ? slash + 1 : p;
}

__attribute__((destructor)) static void smaps_exit(void)
{
	const char *out = getenv("SMAPS_OUT");
	if (out == NULL || read_file("/proc/self/smaps", text, sizeof text) == 0)
		return;
	static char names[NAMES_MAX][96];
	static long kib[NAMES_MAX];
	int count = 0;
	const char *name = "[anon]";
	char *save;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* Header lines start with the address range; fields with a name. */
		char *dash = strchr(line, '-'), *space = strchr(line, ' ');
		if (dash != NULL && space != NULL && dash < space && line[0] != ' ' &&
		    strchr(line, ':') > space) {
			name = mapping_name(line);
			continue;
		}
		if (strncmp(line, "Rss:", 4) != 0 || strstr(name, "smaps_exit") != NULL)
			continue;
		int i = 0;
		while (i < count && strcmp(names[i], name) != 0)
			i++;
		if (i == count && count < NAMES_MAX)
			snprintf(names[count++], sizeof names[0], "%s", name);
		if (i < count)
			kib[i] += atol(line + 4);
	}
	static char status[16384], line[8192];
	read_file("/proc/self/status", status, sizeof status);
	const char *hwm = strstr(status, "VmHWM:");
	int len = 0;
	for (int i = 0; i < count && len < (int)sizeof line - 128; i++)
		len += snprintf(line + len, sizeof line - (size_t)len, "%s=%ld ", names[i], kib[i]);
	len += snprintf(line + len, sizeof line - (size_t)len, "hwm=%ld\n", hwm ? atol(hwm + 6) : -1L);
	int fd = open(out, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)len) < 0)
			perror("smaps_exit");
		close(fd);
	}
}
