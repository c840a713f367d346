/*
 * trace.c — the allocation trace: hooks that append compact records to a
 * buffer, written to the trace file through arch_file_write. The format is
 * described in trace.h.
 */
#include "trace.h"

#include "arch.h"
#include "boot.h"
#include "conf.h"
#include "osmem.h"
#include "ingot.h"
#include "report.h"

#define TRACE_BUF_SIZE 65536
#define VARINT_MAX 10                      /* bytes of a 64-bit varint */
#define RECORD_MAX (1 + 5 * VARINT_MAX)    /* kind and at most five varints */

static struct {
	arch_lock_t lock;
	bool on;          /* records are wanted and the file is open */
	bool at_exit;     /* the process is exiting: write each record at once */
	int fd;
	uint64_t last_ns; /* time of the previous record */
	size_t used;      /* bytes of buf not yet written */
	unsigned char *buf; /* TRACE_BUF_SIZE bytes, mapped when tracing starts */
} trace = {.lock = ARCH_LOCK_INIT};

/* Writes the buffer out; on a write error, warns once and stops tracing. */
static void flush_locked(void)
{
	if (trace.used > 0 && arch_file_write(trace.fd, trace.buf, trace.used) != 0) {
		trace.on = false;
		arch_file_close(trace.fd);
		ingot_warn("cannot write the trace file (option trace); tracing stopped");
	}
	trace.used = 0;
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

/* Appends one record: kind, the time since the previous one, then n values. */
static void record(char kind, const uint64_t *values, unsigned n)
{
	arch_lock_acquire(&trace.lock);
	if (trace.on) {
		if (TRACE_BUF_SIZE - trace.used < RECORD_MAX)
			flush_locked();
		/* The clock is read under the lock, so records are in time order. */
		uint64_t now = arch_now_ns();
		uint64_t dt = now > trace.last_ns ? now - trace.last_ns : 0;
		trace.last_ns = now > trace.last_ns ? now : trace.last_ns;
		unsigned char *p = trace.buf + trace.used;
		*p++ = (unsigned char)kind;
		p = put_varint(p, dt);
		for (unsigned i = 0; i < n; i++)
			p = put_varint(p, values[i]);
		trace.used = (size_t)(p - trace.buf);
		if (trace.at_exit)
			flush_locked();
	}
	arch_lock_release(&trace.lock);
}

static void on_alloc(void *ctx, void *ptr, size_t requested, size_t usable)
{
	(void)ctx;
	uint64_t v[] = {(uintptr_t)ptr, requested, usable};
	record('a', v, ARRAY_LEN(v));
}

static void on_free(void *ctx, void *ptr, size_t usable)
{
	(void)ctx;
	uint64_t v[] = {(uintptr_t)ptr, usable};
	record('f', v, ARRAY_LEN(v));
}

static void on_resize(void *ctx, void *old_ptr, void *new_ptr, size_t requested, size_t usable)
{
	(void)ctx;
	uint64_t v[] = {(uintptr_t)old_ptr, (uintptr_t)new_ptr, requested, usable};
	record('r', v, ARRAY_LEN(v));
}

/* opt.trace with each %p replaced by the process id and %% by %: a program
 * started with exec inherits INGOT_CONF, and would otherwise overwrite the
 * trace of the process that started it. */
static void trace_file_name(struct line *name)
{
	for (const char *s = opt.trace; *s; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			line_u64(name, arch_process_id());
			s++;
		} else {
			line_char(name, *s);
			s += s[0] == '%' && s[1] == '%';
		}
	}
}

void trace_boot(void)
{
	if (opt.trace[0] == '\0')
		return;
	/* Room for every character of the option to become a process id. */
	char path[CONF_STR_MAX * 21];
	struct line name = {path, sizeof(path), 0};
	path[0] = '\0';
	trace_file_name(&name);
	int fd;
	if (arch_file_open(path, &fd) != 0) {
		ingot_warn("cannot create the trace file (option trace); not tracing");
		return;
	}
	/* The buffer is mapped, not static: programs that do not trace (and
	 * bare metal, which has no files) keep the 64 KiB. */
	void *buf;
	if (osmem_map(ALIGN_UP(TRACE_BUF_SIZE, ingot_arch.page_size), ingot_arch.page_size, OSMEM_TABLES,
	              &buf) != 0) {
		arch_file_close(fd);
		ingot_warn("no memory for the trace buffer (option trace); not tracing");
		return;
	}
	arch_lock_acquire(&trace.lock);
	trace.buf = buf;
	uint64_t start = arch_now_ns();
	for (unsigned i = 0; i < 8; i++)
		trace.buf[i] = (unsigned char)TRACE_MAGIC[i];
	for (unsigned i = 0; i < 8; i++)
		trace.buf[8 + i] = (unsigned char)(start >> (8 * i));
	trace.used = 16;
	trace.last_ns = start;
	trace.fd = fd;
	trace.on = true;
	arch_lock_release(&trace.lock);
	static const struct ingot_hooks hooks = {on_alloc, on_free, on_resize, NULL};
	ingot_hooks_set(&hooks);
}

void trace_flush(void)
{
	arch_lock_acquire(&trace.lock);
	if (trace.on) {
		flush_locked();
		trace.at_exit = true;
	}
	arch_lock_release(&trace.lock);
}

void trace_fork_child(void)
{
	/* The parent may have held the lock at fork; its buffer is its own. */
	arch_lock_reset(&trace.lock);
	if (trace.on)
		arch_file_close(trace.fd);
	trace.on = false;
	trace.used = 0;
}
