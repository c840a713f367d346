/*
 * hooks.c — the installed callbacks and their reporting.
 */
#include "hooks.h"

#include "arch.h"

bool hooks_on;
INGOT_THREAD_LOCAL unsigned hooks_mute;

static struct ingot_hooks installed;
static arch_lock_t install_lock = ARCH_LOCK_INIT;

void hooks_install(const struct ingot_hooks *hooks)
{
	arch_lock_acquire(&install_lock);
	/* Callbacks are read without the lock: switch reporting off while the
	 * record changes, so no reader sees half of an update. */
	__atomic_store_n(&hooks_on, false, __ATOMIC_SEQ_CST);
	if (hooks)
		installed = *hooks;
	__atomic_store_n(&hooks_on, hooks != NULL, __ATOMIC_SEQ_CST);
	arch_lock_release(&install_lock);
}

void hooks_alloc(void *ptr, size_t requested, size_t usable)
{
	if (!ptr || !hooks_active() || !installed.on_alloc)
		return;
	hooks_mute++;
	installed.on_alloc(installed.ctx, ptr, requested, usable);
	hooks_mute--;
}

void hooks_free(void *ptr, size_t usable)
{
	if (!ptr || !hooks_active() || !installed.on_free)
		return;
	hooks_mute++;
	installed.on_free(installed.ctx, ptr, usable);
	hooks_mute--;
}

void hooks_resize(void *old_ptr, void *new_ptr, size_t requested, size_t usable)
{
	if (!new_ptr || !hooks_active() || !installed.on_resize)
		return;
	hooks_mute++;
	installed.on_resize(installed.ctx, old_ptr, new_ptr, requested, usable);
	hooks_mute--;
}
