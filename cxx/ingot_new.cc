/*
 * ingot_new.cc — C++ operator new and delete on ingot.
 *
 * The twenty replaceable forms that Debian's libjemalloc.so.2 exports
 * (exports/jemalloc-5.3.symbols: _Znwm ... _ZdaPvmSt11align_val_t): plain and
 * array new, each also nothrow, aligned (std::align_val_t) and both; plain and
 * array delete, each also nothrow, sized, aligned, sized and aligned, and
 * aligned nothrow. They call only the ingot_* functions of include/ingot.h, so
 * the same object goes into every library that holds ingot.
 *
 * This is a front end, not part of the core: it is C++ and hosted (it uses
 * the C++ runtime and libc), while src/ stays freestanding C.
 *
 * Failure ([new.delete.single], [new.delete.array]):
 *   throwing forms  call the new-handler while one is installed and retry;
 *                   with none left, throw std::bad_alloc;
 *   nothrow forms   the same, but return nullptr where the throwing form
 *                   would throw (also when the handler itself throws).
 *
 * The C++ runtime (libstdc++) is reached through four names only: the
 * new-handler (std::get_new_handler), the function that throws
 * std::bad_alloc (std::__throw_bad_alloc, libstdc++'s exported helper since
 * GLIBCXX_3.4), and the personality and catch routines that a try/catch
 * needs. INGOT_CXX_WEAK_RUNTIME picks how they are referenced:
 *
 *   1 (shared libraries) weak: libingot.so and libjemalloc.so.2 do not
 *     depend on libstdc++, so preloading them into a C program loads no C++
 *     runtime. A C++ program brings its runtime into the global scope, where
 *     the weak references find it. Only operator new called with no runtime
 *     in the global scope at all (a C++ plugin loaded RTLD_LOCAL into a C
 *     program) cannot throw: it reports and aborts when out of memory.
 *   0 (static archive) ordinary references: a C++ program linking libingot.a
 *     statically links the runtime pieces it needs; a C program never pulls
 *     this object out of the archive (nothing it calls is defined here).
 */
#include <cstddef>
#include <cstdlib>
#include <new>
#include <unistd.h>

#include "ingot.h"

/* C functions never throw; saying so lets the noexcept deletes tail-call
 * them instead of keeping a frame for std::terminate. */
extern "C" {
__attribute__((nothrow)) void *ingot_malloc(size_t size);
__attribute__((nothrow)) void *ingot_aligned_alloc(size_t alignment, size_t size);
__attribute__((nothrow)) void ingot_free(void *ptr);
__attribute__((nothrow)) void ingot_free_sized(void *ptr, size_t size);
__attribute__((nothrow)) void ingot_free_aligned_sized(void *ptr, size_t alignment, size_t size);
}

#ifndef INGOT_CXX_WEAK_RUNTIME
#define INGOT_CXX_WEAK_RUNTIME 1
#endif

#if INGOT_CXX_WEAK_RUNTIME
#define RUNTIME_REF __attribute__((weak))
/* Emitted by the compiler for the try/catch below, so no declaration to put
 * an attribute on: the assembler directive marks the references weak. */
__asm__(".weak __gxx_personality_v0\n\t"
        ".weak __cxa_begin_catch\n\t"
        ".weak __cxa_end_catch");
#else
#define RUNTIME_REF
#endif

namespace std {
RUNTIME_REF new_handler get_new_handler() noexcept;
RUNTIME_REF [[noreturn]] void __throw_bad_alloc();
} // namespace std

#define INGOT_CXX_API __attribute__((visibility("default")))
#define INGOT_CXX_COLD __attribute__((noinline, cold))
#define INGOT_CXX_LIKELY(x) __builtin_expect(!!(x), 1)

namespace {

/* align 0: the default alignment of operator new (16, as malloc's). */
void *allocate(std::size_t size, std::size_t align) noexcept
{
	return align == 0 ? ingot_malloc(size) : ingot_aligned_alloc(align, size);
}

std::new_handler current_new_handler() noexcept
{
#if INGOT_CXX_WEAK_RUNTIME
	if (!std::get_new_handler)
		return nullptr; /* no runtime, so nobody can have set one */
#endif
	return std::get_new_handler();
}

[[noreturn]] INGOT_CXX_COLD void throw_bad_alloc()
{
#if INGOT_CXX_WEAK_RUNTIME
	if (!std::__throw_bad_alloc) {
		static const char msg[] =
		    "ingot: operator new: out of memory, and no C++ runtime to throw std::bad_alloc\n";
		ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)ignored;
		std::abort();
	}
#endif
	std::__throw_bad_alloc();
}

/* The throwing forms after a failed first try. */
INGOT_CXX_COLD void *retry_or_throw(std::size_t size, std::size_t align)
{
	for (;;) {
		std::new_handler handler = current_new_handler();
		if (!handler)
			throw_bad_alloc();
		handler();
		if (void *p = allocate(size, align))
			return p;
	}
}

/* The nothrow forms after a failed first try. */
INGOT_CXX_COLD void *retry_or_null(std::size_t size, std::size_t align) noexcept
{
	for (;;) {
		std::new_handler handler = current_new_handler();
		if (!handler)
			return nullptr;
		try {
			handler();
		} catch (...) {
			return nullptr;
		}
		if (void *p = allocate(size, align))
			return p;
	}
}

inline void *new_throwing(std::size_t size, std::size_t align)
{
	void *p = allocate(size, align);
	if (INGOT_CXX_LIKELY(p))
		return p;
	return retry_or_throw(size, align);
}

inline void *new_nothrow(std::size_t size, std::size_t align) noexcept
{
	void *p = allocate(size, align);
	if (INGOT_CXX_LIKELY(p))
		return p;
	return retry_or_null(size, align);
}

} // namespace

/* ---- new --------------------------------------------------------------------- */

INGOT_CXX_API void *operator new(std::size_t size)
{
	return new_throwing(size, 0);
}
INGOT_CXX_API void *operator new[](std::size_t size)
{
	return new_throwing(size, 0);
}
INGOT_CXX_API void *operator new(std::size_t size, const std::nothrow_t &) noexcept
{
	return new_nothrow(size, 0);
}
INGOT_CXX_API void *operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
	return new_nothrow(size, 0);
}
INGOT_CXX_API void *operator new(std::size_t size, std::align_val_t align)
{
	return new_throwing(size, static_cast<std::size_t>(align));
}
INGOT_CXX_API void *operator new[](std::size_t size, std::align_val_t align)
{
	return new_throwing(size, static_cast<std::size_t>(align));
}
INGOT_CXX_API void *operator new(std::size_t size, std::align_val_t align,
                                 const std::nothrow_t &) noexcept
{
	return new_nothrow(size, static_cast<std::size_t>(align));
}
INGOT_CXX_API void *operator new[](std::size_t size, std::align_val_t align,
                                   const std::nothrow_t &) noexcept
{
	return new_nothrow(size, static_cast<std::size_t>(align));
}

/* ---- delete -------------------------------------------------------------------
 * The sized forms pass the size on: ingot checks it against the block (a
 * mismatch is reported and aborts, as for free_sized). */

INGOT_CXX_API void operator delete(void *p) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete[](void *p) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete(void *p, const std::nothrow_t &) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete[](void *p, const std::nothrow_t &) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete(void *p, std::size_t size) noexcept
{
	ingot_free_sized(p, size);
}
INGOT_CXX_API void operator delete[](void *p, std::size_t size) noexcept
{
	ingot_free_sized(p, size);
}
INGOT_CXX_API void operator delete(void *p, std::align_val_t) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete[](void *p, std::align_val_t) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete(void *p, std::size_t size, std::align_val_t align) noexcept
{
	ingot_free_aligned_sized(p, static_cast<std::size_t>(align), size);
}
INGOT_CXX_API void operator delete[](void *p, std::size_t size, std::align_val_t align) noexcept
{
	ingot_free_aligned_sized(p, static_cast<std::size_t>(align), size);
}
INGOT_CXX_API void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept
{
	ingot_free(p);
}
INGOT_CXX_API void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept
{
	ingot_free(p);
}
