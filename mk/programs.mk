# mk/programs.mk — real programs on ingot, and the jemalloc stand-in's interface.
#
#   make test-programs           Python, gcc, sqlite3 and git with lib/libingot.so
#                                preloaded (tests/programs/preload.sh; issue 3)
#   make test-jemalloc-programs  Debian's redis-server and BIND named on
#                                lib/libjemalloc.so.2 (tests/programs/jemalloc_programs.sh;
#                                issue 4). JEMALLOC_LIB_DIR=system runs them on Debian's
#                                jemalloc instead: the baseline.
#   make test-jemalloc-symbols   lib/libjemalloc.so.2 exports every name of
#                                exports/jemalloc-5.3.symbols
#   make test-header             include/jemalloc/jemalloc.h against the jemalloc 5.3
#                                manual (Criterion, build/tests/programs/)
#   make test-header-compat      the same header against Debian's libjemalloc-dev header
#   make check-hot-text          lib/libingot.so's code layout still holds: every name of
#                                mk/hot-functions.txt is a function, and a small program
#                                keeps one 64 KiB window of the text and no cold constants
#                                resident
#                                (tools/check-hot-text.sh; rerun tools/hot-text.sh if not)
#   make test-misuse             each heap misuse of tests/programs/misuse.c in a child
#                                process on ingot (default and profile:hardened), glibc,
#                                Debian's jemalloc, mimalloc and tcmalloc: prints README's
#                                Misuse table, fails if ingot misses a kind it must stop
#
# Options (make VAR=value):
#   JEMALLOC_LIB_DIR        folder of the libjemalloc.so.2 the servers run on
#                           (default lib; "system" for Debian's)
#   JEMALLOC_SYMBOLS_FLAGS  default empty: every name Debian's jemalloc exports,
#                           C++ operators included, is required; --ignore-cxx
#                           lists missing operators without failing

JEMALLOC_LIB_DIR       ?= lib
JEMALLOC_SYMBOLS_FLAGS ?=
HEADER_TEST_CFLAGS     := -std=c11 -O2 -g $(WARN) -Werror -Iinclude

.PHONY: test-programs test-jemalloc-programs test-jemalloc-symbols test-header test-header-compat \
	test-misuse check-hot-text

test-programs: lib/libingot.so
	tests/programs/preload.sh

check-hot-text: lib/libingot.so
	CC="$(CC)" tools/check-hot-text.sh lib/libingot.so

# The dependency builds ingot's library even when JEMALLOC_LIB_DIR=system.
# redis_idle_rss.sh runs redis on ingot's and on Debian's jemalloc in turn.
test-jemalloc-programs: lib/libjemalloc.so.2
	JEMALLOC_LIB_DIR=$(JEMALLOC_LIB_DIR) tests/programs/jemalloc_programs.sh
	tests/programs/redis_idle_rss.sh

test-jemalloc-symbols: lib/libjemalloc.so.2
	tests/programs/jemalloc_symbols.sh $(JEMALLOC_SYMBOLS_FLAGS) lib/libjemalloc.so.2

test-header: build/tests/programs/test_jemalloc_header
	$(call run_suites,build/tests/programs/test_jemalloc_header,)

test-header-compat: lib/libjemalloc.so.2
	tests/programs/header_compat.sh

build/tests/programs/test_jemalloc_header: tests/test_jemalloc_header.c include/jemalloc/jemalloc.h
	@mkdir -p $(@D)
	$(CC) $(HEADER_TEST_CFLAGS) -o $@ tests/test_jemalloc_header.c -lcriterion

# -fno-builtin: the compiler must keep every misused call.
build/tests/programs/misuse: tests/programs/misuse.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O1 -g $(WARN) -Werror -fno-builtin -o $@ $<

test-misuse: build/tests/programs/misuse lib/libingot.so
	tests/programs/misuse.sh build/tests/programs/misuse --check
