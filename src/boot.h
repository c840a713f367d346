/*
 * boot.h — process-wide start-up. ingot boots itself on the first slow-path
 * call (no constructor is needed, so it works before main and from other
 * libraries' constructors). The layers below reach up only through this one
 * flag and function.
 */
#ifndef INGOT_BOOT_H
#define INGOT_BOOT_H

#include "arch.h"
#include "common.h"

extern bool ingot_booted;
extern struct arch_info ingot_arch;

/* Reads the options, creates the arenas and sets up the caches; idempotent
 * and thread-safe. Aborts with one line when the OS has no memory at all. */
void ingot_boot(void);

INGOT_INLINE void ingot_ensure_booted(void)
{
	if (INGOT_UNLIKELY(!__atomic_load_n(&ingot_booted, __ATOMIC_ACQUIRE)))
		ingot_boot();
}

#endif
