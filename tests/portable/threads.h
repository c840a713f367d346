/*
 * threads.h — the few thread operations the portable tests need, on Win32
 * threads or POSIX threads. Tests only; the allocator itself never uses this.
 */
#ifndef INGOT_TEST_THREADS_H
#define INGOT_TEST_THREADS_H

#include <stdbool.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

struct test_thread {
	HANDLE handle;
	void (*fn)(void *);
	void *arg;
};

static DWORD WINAPI test_thread_trampoline(void *p)
{
	struct test_thread *t = p;
	t->fn(t->arg);
	return 0;
}

static bool test_thread_start(struct test_thread *t, void (*fn)(void *), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->handle = CreateThread(NULL, 0, test_thread_trampoline, t, 0, NULL);
	return t->handle != NULL;
}

static void test_thread_join(struct test_thread *t)
{
	WaitForSingleObject(t->handle, INFINITE);
	CloseHandle(t->handle);
}

static void test_thread_yield(void) { SwitchToThread(); }

#else
#include <pthread.h>
#include <sched.h>

struct test_thread {
	pthread_t handle;
	void (*fn)(void *);
	void *arg;
};

static void *test_thread_trampoline(void *p)
{
	struct test_thread *t = p;
	t->fn(t->arg);
	return NULL;
}

static bool test_thread_start(struct test_thread *t, void (*fn)(void *), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	return pthread_create(&t->handle, NULL, test_thread_trampoline, t) == 0;
}

static void test_thread_join(struct test_thread *t) { pthread_join(t->handle, NULL); }

static void test_thread_yield(void) { sched_yield(); }
#endif

#endif
