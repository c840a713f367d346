/*
 * hooks.h — allocation callbacks for profilers and tracers (ingot_hooks_set).
 *
 * Reporting costs the fast paths nothing: while hooks are installed, every
 * thread cache works in the slow-path mode that hardened heaps use (its fast
 * paths closed), and the slow paths report. Front-end functions that build
 * on others (realloc, aligned and x-API calls) mute the inner calls and
 * report once, with the program's own sizes. Calls a callback makes are
 * muted too, so a callback may allocate.
 */
#ifndef INGOT_HOOKS_H
#define INGOT_HOOKS_H

#include "common.h"
#include "ingot.h"

/* Installs hooks (NULL: none). The caller (ingot_hooks_set) then tells the
 * thread caches, which must see every call while hooks are on. */
void hooks_install(const struct ingot_hooks *hooks);

extern bool hooks_on;                  /* read with relaxed atomics */
extern INGOT_THREAD_LOCAL unsigned hooks_mute; /* > 0: this thread reports nothing */

INGOT_INLINE bool hooks_active(void)
{
	return __atomic_load_n(&hooks_on, __ATOMIC_RELAXED) && hooks_mute == 0;
}

/* Runs stmt with this thread's reports muted: for front ends that report
 * one event for what their inner calls do. */
#define HOOKS_MUTED(stmt) \
	do { \
		hooks_mute++; \
		stmt; \
		hooks_mute--; \
	} while (0)

/* Report one event when hooks are active (no-ops otherwise). */
void hooks_alloc(void *ptr, size_t requested, size_t usable);
void hooks_free(void *ptr, size_t usable);
void hooks_resize(void *old_ptr, void *new_ptr, size_t requested, size_t usable);

#endif
