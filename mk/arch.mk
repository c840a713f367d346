# mk/arch.mk — contract tests of the arch back ends.
#
#   make test-arch   builds build/tests/test_arch (arch/linux.c) and
#                    build/tests/test_arch_posix (arch/posix.c) and runs both.
#
# Each test binary links one back end and nothing of the core: the tests
# define the ingot_* hooks the back end calls.

ARCH_TEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow \
                    -Wstrict-prototypes -Iarch -Iinclude
ARCH_TEST_LIBS   := -lcriterion -lpthread

.PHONY: test-arch
test-arch: build/tests/test_arch build/tests/test_arch_posix
	$(call run_suites,build/tests/test_arch build/tests/test_arch_posix,)

build/tests/test_arch: tests/test_arch.c arch/linux.c $(ARCH_HDR)
	@mkdir -p $(@D)
	$(CC) $(ARCH_TEST_CFLAGS) -o $@ tests/test_arch.c arch/linux.c $(ARCH_TEST_LIBS)

build/tests/test_arch_posix: tests/test_arch.c arch/posix.c $(ARCH_HDR)
	@mkdir -p $(@D)
	$(CC) $(ARCH_TEST_CFLAGS) -DTEST_ARCH_POSIX=1 -o $@ tests/test_arch.c arch/posix.c \
		$(ARCH_TEST_LIBS)
