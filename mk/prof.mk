# mk/prof.mk — heap profiles read by jemalloc's and Google's tools (issue 14).
#
#   make test-prof-tools   tests/programs/prof_tools.sh: tests/programs/prof_sites
#                          (linked with -ljemalloc) on Debian's jemalloc and on
#                          lib/libjemalloc.so.2 with MALLOC_CONF=prof:true; Debian's
#                          jeprof reads its prof.dump files and google-pprof ingot's
#                          prof.dump_pprof file, and each site's share of in-use
#                          bytes, the total, the absent sites and the automatic
#                          file names must match the truth on both; then
#                          tests/programs/prof_static.sh: the same program linked
#                          -static with lib/libingot.a, every allocation sampled
#                          from the C library's start-up on
#   make prof-deps         make deps: installs what it needs when missing (Debian):
#                          the jemalloc headers, library and jeprof
#                          (libjemalloc-dev), google-pprof (google-perftools)
#
# Options (make VAR=value):
#   PROF_ALLOCATORS   allocators the script runs on (default "jemalloc ingot";
#                     "jemalloc" alone checks the test itself)
#   PROF_TESTS        the script's tests (default: all, "shares default threads")

PROF_ALLOCATORS ?= jemalloc ingot
PROF_TESTS      ?=
PROF_SITES      := build/tests/programs/prof_sites
PROF_SITES_STATIC := build/tests/programs/prof_sites_static
# As a user builds a program to profile: frame pointers, debug information,
# jemalloc's own header and library (not ingot's).
PROF_SITES_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -pthread $(WARN) -Werror

.PHONY: test-prof-tools prof-deps

# Both are in tools/debian-packages.txt: make deps installs them.
prof-deps: deps

$(PROF_SITES): tests/programs/prof_sites.c
	@mkdir -p $(@D)
	$(CC) $(PROF_SITES_CFLAGS) -o $@ $< -ljemalloc

# The same program linked statically with ingot's archive.
$(PROF_SITES_STATIC): tests/programs/prof_sites.c lib/libingot.a
	@mkdir -p $(@D)
	$(CC) $(PROF_SITES_CFLAGS) -static -o $@ $< lib/libingot.a

test-prof-tools: lib/libjemalloc.so.2 $(PROF_SITES) $(PROF_SITES_STATIC)
	PROF_ALLOCATORS="$(PROF_ALLOCATORS)" PROF_SITES=$(PROF_SITES) tests/programs/prof_tools.sh $(PROF_TESTS)
	PROF_SITES_STATIC=$(PROF_SITES_STATIC) tests/programs/prof_static.sh
