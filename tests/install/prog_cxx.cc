/*
 * prog_cxx.cc — a C++ program built with `pkg-config --cflags --libs ingot`
 * (tests/install/test_install.sh). Usage: prog_cxx LIBRARY
 * Checks that operator new and delete are ingot's, from LIBRARY (the
 * installed libingot.so), and that containers, aligned new and a failing new
 * behave. Exits 0 on success.
 */
#include <dlfcn.h>
#include <ingot.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

namespace {
int fail(const char *what)
{
	std::fprintf(stderr, "prog_cxx: %s\n", what);
	return 1;
}
struct alignas(256) Block {
	char bytes[256];
};
void *volatile escaped;
} // namespace

int main(int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: prog_cxx LIBRARY");
	Dl_info info;
	auto op_new = static_cast<void *(*)(std::size_t)>(&::operator new);
	if (!dladdr(reinterpret_cast<void *>(op_new), &info) || !info.dli_fname)
		return fail("dladdr(operator new) failed");
	char *want = realpath(argv[1], nullptr), *got = realpath(info.dli_fname, nullptr);
	if (!want || !got || std::strcmp(want, got) != 0) {
		std::fprintf(stderr, "prog_cxx: operator new is from %s, expected %s\n", info.dli_fname,
		             argv[1]);
		return 1;
	}
	std::vector<std::string> v;
	std::map<int, std::vector<int>> m;
	for (int i = 0; i < 10000; i++) {
		v.push_back(std::to_string(i));
		m[i].assign(static_cast<std::size_t>(i % 20), i);
	}
	if (v[9999] != "9999" || m[19].size() != 19)
		return fail("containers");
	Block *b = new Block[3];
	if (reinterpret_cast<std::uintptr_t>(b) % 256 != 0)
		return fail("new of alignas(256)");
	delete[] b;
	try {
		escaped = new char[static_cast<std::size_t>(std::getenv("NO_SUCH_VARIABLE") ? 1 : SIZE_MAX / 2)];
		return fail("new of SIZE_MAX / 2 bytes did not throw");
	} catch (const std::bad_alloc &) {
	}
	if (ingot_check() != 0)
		return fail("ingot_check() failed");
	std::printf("prog_cxx: operator new from %s: ok\n", got);
	std::free(want);
	std::free(got);
	return 0;
}
