/*
 * backend.h — pieces the arch back ends share. It is not part of the arch
 * contract (arch.h): the core never includes it. Only compiler builtins
 * here, so the freestanding region back end can use it too.
 */
#ifndef INGOT_ARCH_BACKEND_H
#define INGOT_ARCH_BACKEND_H

#include "arch.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* arch_lock_wait for a back end that can sleep on the lock word (futex,
 * WaitOnAddress). sleep_while_2(word) sleeps while *word == 2: it may
 * return at once or wake spuriously, and the loop handles both. */
static inline void lock_wait_sleeping(arch_lock_t *lock, void (*sleep_while_2)(uint32_t *word))
{
	/* Spin briefly while the holder may be about to release (state 1, no
	 * sleepers): a kernel round trip costs far more than a short section. */
	for (int i = 0; i < 100; i++) {
		uint32_t w = __atomic_load_n(&lock->word, __ATOMIC_RELAXED);
		if (w == 0 && arch_lock_try(lock))
			return;
		if (w == 2)
			break;
		cpu_relax();
	}
	/* Take the lock as "held with waiters" (2): we cannot know whether others
	 * sleep, so the eventual release must wake one. Sleep while it was held. */
	while (__atomic_exchange_n(&lock->word, 2, __ATOMIC_ACQUIRE) != 0)
		sleep_while_2(&lock->word);
}

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Fills buf with the successive mixes of state. */
static inline void mix_fill(unsigned char *buf, size_t len, uint64_t state)
{
	for (size_t i = 0; i < len; i += 8) {
		state = mix64(state);
		for (size_t j = 0; j < 8 && i + j < len; j++)
			buf[i + j] = (unsigned char)(state >> (8 * j));
	}
}

/* Without OS entropy (old kernels, sandboxes, chroots, a failing RNG call):
 * time, addresses (ASLR), the process id and a counter, mixed. Weak, but
 * distinct per call and per process. */
static inline void random_fallback(unsigned char *buf, size_t len, uint64_t process_id)
{
	static uint64_t counter; /* accessed only with __atomic builtins */
	uint64_t state = arch_now_ns() ^ (uint64_t)(uintptr_t)&state ^
	                 ((uint64_t)(uintptr_t)&counter << 17) ^ process_id << 40;
	state ^= __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) << 48;
	mix_fill(buf, len, state);
}

#endif
