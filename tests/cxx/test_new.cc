/*
 * test_new.cc — C++ operator new and delete on ingot (cxx/ingot_new.cc).
 *
 * Built once per library that holds the operators (mk/adopt.mk, make
 * test-cxx): lib/libingot.so, lib/libjemalloc.so.2 and lib/libingot.a.
 * TEST_OPERATORS_IN names the object the twenty operators must resolve to:
 * the shared library's soname, or "" for the program itself (static link).
 *
 * What users rely on: every form of new and delete is ingot's; standard
 * containers work on it across threads; over-aligned types get their
 * alignment; sized and aligned deletes reach ingot with the size (a wrong
 * size is reported, not ignored); and a new that cannot be served calls the
 * new-handler and throws std::bad_alloc, while the nothrow forms return
 * nullptr.
 */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ingot.h"

#ifndef TEST_OPERATORS_IN
#error "define TEST_OPERATORS_IN: the soname holding operator new, or \"\" for the program"
#endif

namespace {

constexpr std::size_t MiB = std::size_t{1} << 20;

/* Keeps the compiler from folding a size it could otherwise see. */
std::size_t opaque(std::size_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x;
}

bool aligned_to(const void *p, std::size_t align)
{
	return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

std::size_t allocated_now()
{
	ingot_stats s;
	ingot_stats_get(&s);
	return s.allocated;
}

/* The object (shared library or program) whose code holds fn. */
std::string object_of(const void *fn)
{
	Dl_info info{};
	if (!dladdr(fn, &info) || !info.dli_fname)
		return "?";
	Dl_info self{};
	dladdr(reinterpret_cast<const void *>(&allocated_now), &self);
	if (info.dli_fbase == self.dli_fbase)
		return "";
	const char *slash = std::strrchr(info.dli_fname, '/');
	return slash ? slash + 1 : info.dli_fname;
}

template <typename Fn> const void *addr(Fn fn)
{
	return reinterpret_cast<const void *>(fn);
}

} // namespace

/* ---- whose operators ------------------------------------------------------- */

Test(operators, all_twenty_are_ingots)
{
	using std::align_val_t;
	using std::nothrow_t;
	using std::size_t;
	const struct {
		const char *name;
		const void *fn;
	} forms[] = {
	    {"new", addr(static_cast<void *(*)(size_t)>(&::operator new))},
	    {"new[]", addr(static_cast<void *(*)(size_t)>(&::operator new[]))},
	    {"new nothrow", addr(static_cast<void *(*)(size_t, const nothrow_t &) noexcept>(
	                        &::operator new))},
	    {"new[] nothrow", addr(static_cast<void *(*)(size_t, const nothrow_t &) noexcept>(
	                          &::operator new[]))},
	    {"new aligned", addr(static_cast<void *(*)(size_t, align_val_t)>(&::operator new))},
	    {"new[] aligned", addr(static_cast<void *(*)(size_t, align_val_t)>(&::operator new[]))},
	    {"new aligned nothrow",
	     addr(static_cast<void *(*)(size_t, align_val_t, const nothrow_t &) noexcept>(
	         &::operator new))},
	    {"new[] aligned nothrow",
	     addr(static_cast<void *(*)(size_t, align_val_t, const nothrow_t &) noexcept>(
	         &::operator new[]))},
	    {"delete", addr(static_cast<void (*)(void *) noexcept>(&::operator delete))},
	    {"delete[]", addr(static_cast<void (*)(void *) noexcept>(&::operator delete[]))},
	    {"delete nothrow", addr(static_cast<void (*)(void *, const nothrow_t &) noexcept>(
	                           &::operator delete))},
	    {"delete[] nothrow", addr(static_cast<void (*)(void *, const nothrow_t &) noexcept>(
	                             &::operator delete[]))},
	    {"delete sized",
	     addr(static_cast<void (*)(void *, size_t) noexcept>(&::operator delete))},
	    {"delete[] sized",
	     addr(static_cast<void (*)(void *, size_t) noexcept>(&::operator delete[]))},
	    {"delete aligned",
	     addr(static_cast<void (*)(void *, align_val_t) noexcept>(&::operator delete))},
	    {"delete[] aligned",
	     addr(static_cast<void (*)(void *, align_val_t) noexcept>(&::operator delete[]))},
	    {"delete sized aligned",
	     addr(static_cast<void (*)(void *, size_t, align_val_t) noexcept>(&::operator delete))},
	    {"delete[] sized aligned", addr(static_cast<void (*)(void *, size_t, align_val_t) noexcept>(
	                                   &::operator delete[]))},
	    {"delete aligned nothrow",
	     addr(static_cast<void (*)(void *, align_val_t, const nothrow_t &) noexcept>(
	         &::operator delete))},
	    {"delete[] aligned nothrow",
	     addr(static_cast<void (*)(void *, align_val_t, const nothrow_t &) noexcept>(
	         &::operator delete[]))},
	};
	cr_assert_eq(sizeof(forms) / sizeof(forms[0]), 20u);
	for (const auto &f : forms) {
		std::string where = object_of(f.fn);
		cr_expect_eq(where, std::string(TEST_OPERATORS_IN),
		             "operator %s resolves to \"%s\", expected \"%s\" (\"\" is the program)",
		             f.name, where.c_str(), TEST_OPERATORS_IN);
	}
}

Test(operators, new_serves_from_ingot)
{
	std::size_t before = allocated_now();
	char *big = new char[opaque(64 * MiB)];
	std::memset(big, 1, 64 * MiB);
	std::size_t during = allocated_now();
	delete[] big;
	std::size_t after = allocated_now();
	cr_assert_geq(during, before + 64 * MiB, "allocated %zu -> %zu", before, during);
	cr_assert_lt(after, during - 32 * MiB, "allocated %zu after delete[], %zu before", after,
	             during);
}

/* ---- containers ------------------------------------------------------------ */

Test(containers, standard_containers)
{
	std::vector<std::uint64_t> v;
	for (std::uint64_t i = 0; i < 200000; i++)
		v.push_back(i * 3);
	std::string s;
	for (int i = 0; i < 10000; i++)
		s += std::to_string(i);
	std::map<int, std::string> m;
	std::unordered_map<std::string, int> u;
	std::list<std::vector<int>> l;
	for (int i = 0; i < 20000; i++) {
		m[i] = std::to_string(i);
		u[std::to_string(i)] = i;
		l.emplace_back(static_cast<std::size_t>(i % 50), i);
	}
	for (std::uint64_t i = 0; i < v.size(); i++)
		cr_assert_eq(v[i], i * 3);
	cr_assert_eq(s.substr(0, 11), "01234567891");
	for (int i = 0; i < 20000; i += 997) {
		cr_assert_eq(m[i], std::to_string(i));
		cr_assert_eq(u[std::to_string(i)], i);
	}
	int i = 0;
	for (const auto &vec : l) {
		cr_assert_eq(vec.size(), static_cast<std::size_t>(i % 50));
		cr_assert(std::all_of(vec.begin(), vec.end(), [i](int x) { return x == i; }));
		i++;
	}
	std::vector<std::unique_ptr<std::string>> owned;
	for (int k = 0; k < 1000; k++)
		owned.push_back(std::make_unique<std::string>(static_cast<std::size_t>(k), 'x'));
	owned.erase(owned.begin(), owned.begin() + 500);
	cr_assert_eq(owned.front()->size(), 500u);
	cr_assert_eq(ingot_check(), 0);
}

/* Objects made on one thread and destroyed on another. */
Test(containers, across_threads)
{
	constexpr int kThreads = 4, kRounds = 20000;
	std::vector<std::vector<std::string *>> made(kThreads);
	std::vector<std::thread> makers;
	for (int t = 0; t < kThreads; t++)
		makers.emplace_back([&made, t] {
			for (int i = 0; i < kRounds; i++)
				made[t].push_back(new std::string(static_cast<std::size_t>(i % 300), 'a' + t));
		});
	for (auto &th : makers)
		th.join();
	std::atomic<long> bad{0};
	std::vector<std::thread> destroyers;
	for (int t = 0; t < kThreads; t++)
		destroyers.emplace_back([&made, &bad, t] {
			for (std::string *s : made[(t + 1) % kThreads]) {
				bad += s->find_first_not_of(static_cast<char>('a' + (t + 1) % kThreads)) !=
				       std::string::npos;
				delete s;
			}
		});
	for (auto &th : destroyers)
		th.join();
	cr_assert_eq(bad.load(), 0);
	cr_assert_eq(ingot_check(), 0);
}

/* ---- over-aligned new --------------------------------------------------------- */

namespace {
template <std::size_t A> struct alignas(A) Over {
	unsigned char bytes[A < 64 ? 64 : A];
};
template <std::size_t A> void check_over_aligned()
{
	static_assert(A > __STDCPP_DEFAULT_NEW_ALIGNMENT__, "the aligned forms must be used");
	std::vector<Over<A> *> singles;
	for (int i = 0; i < 16; i++) {
		auto *p = new Over<A>;
		cr_assert(aligned_to(p, A), "new of alignas(%zu): %p", A, static_cast<void *>(p));
		std::memset(p->bytes, i, sizeof(p->bytes));
		singles.push_back(p);
	}
	for (Over<A> *p : singles)
		delete p;
	auto *arr = new Over<A>[5];
	cr_assert(aligned_to(arr, A), "new[] of alignas(%zu): %p", A, static_cast<void *>(arr));
	delete[] arr;
	std::vector<Over<A>> v(7);
	cr_assert(aligned_to(v.data(), A), "vector of alignas(%zu)", A);
	auto *q = new (std::nothrow) Over<A>;
	cr_assert(q && aligned_to(q, A));
	delete q;
}
} // namespace

Test(aligned, over_aligned_types)
{
	check_over_aligned<32>();
	check_over_aligned<64>();
	check_over_aligned<256>();
	check_over_aligned<4096>();
	check_over_aligned<65536>();
	check_over_aligned<std::size_t{1} << 21>();
	cr_assert_eq(ingot_check(), 0);
}

Test(aligned, explicit_alignments_up_to_1GiB)
{
	for (unsigned lg = 0; lg <= 30; lg++) {
		std::size_t align = std::size_t{1} << lg;
		for (std::size_t size : {std::size_t{1}, std::size_t{100}, align, align + 1}) {
			void *p = ::operator new(size, std::align_val_t{align});
			cr_assert(aligned_to(p, align), "align %zu size %zu: %p", align, size, p);
			static_cast<char *>(p)[0] = 1;
			static_cast<char *>(p)[size - 1] = 2;
			::operator delete(p, size, std::align_val_t{align});
		}
		void *q = ::operator new[](100, std::align_val_t{align}, std::nothrow);
		cr_assert(q && aligned_to(q, align));
		::operator delete[](q, std::align_val_t{align}, std::nothrow);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* ---- sized and aligned deletes ---------------------------------------------- */

Test(sized, sized_deletes_free)
{
	const std::size_t sizes[] = {0, 1, 16, 17, 100, 1000, 5000, 20000, 100000, 3 * MiB};
	for (int round = 0; round < 4; round++) {
		std::size_t before = allocated_now();
		for (std::size_t size : sizes) {
			void *a = ::operator new(size);
			void *b = ::operator new[](size);
			void *c = ::operator new(size, std::align_val_t{64});
			void *d = ::operator new[](size, std::align_val_t{8192});
			::operator delete(a, size);
			::operator delete[](b, size);
			::operator delete(c, size, std::align_val_t{64});
			::operator delete[](d, size, std::align_val_t{8192});
		}
		/* nothing leaked: within the thread cache's slack of where it was */
		std::size_t after = allocated_now();
		cr_assert_lt(after, before + MiB, "round %d: allocated %zu -> %zu", round, before, after);
	}
	cr_assert_eq(ingot_check(), 0);
}

/* A class whose deletes are sized by the compiler. */
namespace {
std::atomic<int> destroyed{0};
struct Tracked {
	std::uint64_t payload[12];
	virtual ~Tracked() { destroyed++; }
};
struct Derived : Tracked {
	std::uint64_t more[40];
};
} // namespace

Test(sized, compiler_sized_deletes)
{
	destroyed = 0;
	for (int i = 0; i < 1000; i++) {
		Tracked *t = i % 2 ? new Derived : new Tracked;
		delete t; /* virtual destructor: the deleting destructor knows the size */
	}
	Tracked *arr = new Tracked[33];
	delete[] arr;
	cr_assert_eq(destroyed.load(), 1000 + 33);
	cr_assert_eq(ingot_check(), 0);
}

namespace {
/* Runs fn in a child process with stderr captured; true when the child died
 * of SIGABRT after writing a line containing expect. */
template <typename Fn> bool aborts_with(Fn fn, const char *expect, std::string &err)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	std::fflush(nullptr);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	char buf[512];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			err.append(buf, static_cast<std::size_t>(n));
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
	       err.find(expect) != std::string::npos;
}
} // namespace

/* The size reaches ingot: a wrong one is reported, not ignored. */
Test(sized, wrong_size_is_reported)
{
	std::string err;
	cr_assert(aborts_with(
	              [] {
		              void *p = ::operator new(opaque(100));
		              ::operator delete(p, opaque(5000));
	              },
	              "size mismatch", err),
	          "sized delete with a wrong size: stderr \"%s\"", err.c_str());
	err.clear();
	cr_assert(aborts_with(
	              [] {
		              void *p = ::operator new[](opaque(100), std::align_val_t{4096});
		              ::operator delete[](p, opaque(3 * MiB), std::align_val_t{4096});
	              },
	              "size mismatch", err),
	          "sized aligned delete with a wrong size: stderr \"%s\"", err.c_str());
}

/* ---- failure ---------------------------------------------------------------- */

namespace {
int handler_calls = 0;
void give_up_on_third_call()
{
	if (++handler_calls == 3)
		std::set_new_handler(nullptr);
}
void throw_from_handler()
{
	handler_calls++;
	throw std::bad_alloc();
}
const std::size_t kTooBig = SIZE_MAX / 2;
/* A new-expression whose result is stored here cannot be elided. */
void *volatile escaped;
} // namespace

Test(failure, new_throws_bad_alloc)
{
	std::set_new_handler(nullptr);
	cr_assert_throw((void)::operator new(opaque(kTooBig)), std::bad_alloc);
	cr_assert_throw((void)::operator new[](opaque(kTooBig)), std::bad_alloc);
	cr_assert_throw((void)::operator new(opaque(kTooBig), std::align_val_t{64}), std::bad_alloc);
	cr_assert_throw((void)::operator new[](opaque(kTooBig), std::align_val_t{1 << 20}),
	                std::bad_alloc);
	cr_assert_throw(escaped = new std::uint64_t[opaque(kTooBig / 8)], std::bad_alloc);
	/* the container carries the exception to its caller */
	std::vector<char> v;
	cr_assert_throw(v.reserve(opaque(v.max_size())), std::bad_alloc);
}

Test(failure, nothrow_returns_null)
{
	std::set_new_handler(nullptr);
	cr_assert_null(::operator new(opaque(kTooBig), std::nothrow));
	cr_assert_null(::operator new[](opaque(kTooBig), std::nothrow));
	cr_assert_null(::operator new(opaque(kTooBig), std::align_val_t{256}, std::nothrow));
	cr_assert_null(::operator new[](opaque(kTooBig), std::align_val_t{256}, std::nothrow));
	cr_assert_null(escaped = new (std::nothrow) char[opaque(kTooBig)]);
}

Test(failure, new_handler_is_called_until_it_gives_up)
{
	handler_calls = 0;
	std::set_new_handler(give_up_on_third_call);
	cr_assert_throw((void)::operator new(opaque(kTooBig)), std::bad_alloc);
	cr_assert_eq(handler_calls, 3);

	handler_calls = 0;
	std::set_new_handler(give_up_on_third_call);
	cr_assert_null(::operator new[](opaque(kTooBig), std::align_val_t{64}, std::nothrow));
	cr_assert_eq(handler_calls, 3);
}

Test(failure, handler_that_throws)
{
	handler_calls = 0;
	std::set_new_handler(throw_from_handler);
	cr_assert_throw((void)::operator new(opaque(kTooBig), std::align_val_t{128}), std::bad_alloc);
	cr_assert_eq(handler_calls, 1);
	/* nothrow forms swallow what the handler throws */
	cr_assert_null(::operator new(opaque(kTooBig), std::nothrow));
	cr_assert_null(::operator new[](opaque(kTooBig), std::align_val_t{64}, std::nothrow));
	cr_assert_eq(handler_calls, 3);
	std::set_new_handler(nullptr);
	/* and ordinary requests still work afterwards */
	auto *p = new std::string(1000, 'z');
	cr_assert_eq(p->size(), 1000u);
	delete p;
}

Test(failure, zero_size_new_is_unique)
{
	void *a = ::operator new(0);
	void *b = ::operator new(0);
	void *c = ::operator new[](0, std::align_val_t{64});
	cr_assert(a && b && c && a != b && a != c && b != c);
	cr_assert(aligned_to(c, 64));
	::operator delete(a, std::size_t{0});
	::operator delete(b);
	::operator delete[](c, std::size_t{0}, std::align_val_t{64});
}
