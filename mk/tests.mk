# mk/tests.mk — Criterion suites of the core (tests/test_*.c but test_arch.c
# and test_jemalloc_header.c, which have their own mk files).
#
#   make test         everything: the layer check (make check-layers), unit suites,
#                     arch, header, programs, TSan, UBSan,
#                     heap profiles read by jeprof and google-pprof (mk/prof.mk),
#                     the misuse table (mk/programs.mk)
#   make test-quick   the unit suites only
#   make test-unit    builds build/tests/test_<suite> and runs each
#   make test-tsan    threads, tcache and fork suites on a ThreadSanitizer build
#   make test-ubsan   every unit suite on an UndefinedBehaviorSanitizer build
#   make test-one T=<suite> [F=<filter>]
#                     builds and runs one suite, build/tests/test_<suite> (any
#                     suite of any mk file: tcache, mallctl, hardened, arch, ...),
#                     only its tests matching Criterion's --filter pattern F
#                     (suite/test, * wildcards); tests/README.md lists them all
#   make deps         installs every package of tools/debian-packages.txt that is
#                     missing (Debian; as root). No test target runs it: the
#                     tests expect what it installs (.ci/run installs the same).
#
# Every suite runs through tools/run-suites.sh, the one runner loop: it runs
# every suite even when one fails, then fails naming those that did.
#
# Unit suites link lib/libingot-prefixed.a, which exports only the ingot_*
# names: the suites reach internal functions and records directly (static
# linking ignores hidden visibility) while Criterion keeps the libc allocator.
# test_api.c is built twice: test_api_prefixed calls the ingot_* names;
# test_api_override calls malloc/free/... and links lib/libingot.a, so that
# Criterion and libc run on ingot too.
#
# The sanitizer builds compile src/*.c and arch/$(ARCH).c again with clang
# into build/tsan/ and build/ubsan/ (prefixed names only).

TEST_DIR      := build/tests
TEST_CFLAGS   := -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
                 $(DEFS) -DINGOT_OVERRIDE=0 -Isrc -Iinclude -Iarch -I$(GEN)
TEST_LIBS     := -lcriterion -lpthread -lm

# Suites of the internals (each links the prefixed library).
UNIT_SUITES   := sizeclass pagemap pageheap threads tcache fork decay conf prof background limits guard
UNIT_BINS     := $(UNIT_SUITES:%=$(TEST_DIR)/test_%) $(TEST_DIR)/test_api_prefixed
API_BINS      := $(TEST_DIR)/test_api_prefixed $(TEST_DIR)/test_api_override
TEST_HDRS     := tests/helpers.h $(CORE_HDR)

.PHONY: test test-quick test-unit test-tsan test-ubsan deps

test: check-layers check-hot-text test-unit test-arch test-header test-programs test-tsan test-ubsan test-hardened test-guarded test-options test-faults test-hooks test-jemalloc fuzz-replay test-prof-tools test-misuse
test-quick: test-unit

# What make test needs, installed only when missing (Debian; as root): every
# package of tools/debian-packages.txt, the list .ci/run installs too. Run it
# yourself: no test target depends on it.
DEB_PACKAGES := $(shell grep -v '^\#' tools/debian-packages.txt)
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y --no-install-recommends $$missing; fi

# The one runner loop (tools/run-suites.sh): $(1) the suites, $(2) variables
# of their environment. F, when given, is the Criterion filter of every suite.
RUN_SUITES := tools/run-suites.sh
define run_suites
	@TEST_FILTER='$(F)' $(2) $(RUN_SUITES) $(1)
endef

test-unit: $(UNIT_BINS) $(TEST_DIR)/test_api_override
	$(call run_suites,$(UNIT_BINS) $(TEST_DIR)/test_api_override,)

# One suite by its binary's name, build/tests/test_$(T) (or T a binary's
# path, for the few built elsewhere), made by whichever mk file has its rule.
TEST_ONE := $(if $(findstring /,$(T)),$(T),$(TEST_DIR)/test_$(T))
.PHONY: test-one
test-one:
	@if [ -z "$(T)" ]; then echo "usage: make test-one T=<suite> [F=<filter>] (see tests/README.md)"; exit 2; fi
	@$(MAKE) --no-print-directory $(TEST_ONE)
	$(call run_suites,$(TEST_ONE),)

$(UNIT_SUITES:%=$(TEST_DIR)/test_%): $(TEST_DIR)/test_%: tests/test_%.c $(TEST_HDRS) \
		lib/libingot-prefixed.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< lib/libingot-prefixed.a $(TEST_LIBS)

# test_limits starts python3 on lib/libingot.so to see the arena count a
# new process chooses.
$(TEST_DIR)/test_limits: lib/libingot.so

# -fno-builtin: the compiler must not fold or drop the calls under test
# (malloc(0) != malloc(0), an unused malloc/free pair).
$(TEST_DIR)/test_api_prefixed: tests/test_api.c $(TEST_HDRS) lib/libingot-prefixed.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -fno-builtin -DAPI_PREFIXED=1 -o $@ $< lib/libingot-prefixed.a \
		$(TEST_LIBS)

$(TEST_DIR)/test_api_override: tests/test_api.c $(TEST_HDRS) lib/libingot.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -fno-builtin -DAPI_PREFIXED=0 -o $@ $< lib/libingot.a $(TEST_LIBS)

# ---- sanitizer builds --------------------------------------------------------

SAN_CC        := clang
SAN_CORE_FLAGS = -std=gnu11 -O1 -g -fPIC -ffreestanding -fvisibility=hidden \
                 -ftls-model=initial-exec -fno-stack-protector -Wall -Wextra \
                 $(DEFS) -DINGOT_OVERRIDE=0 -Iinclude -Iarch -I$(GEN)
SAN_ARCH_FLAGS = -std=gnu11 -O1 -g -fPIC -fvisibility=hidden -Wall -Wextra \
                 $(DEFS) -DINGOT_OVERRIDE=0 -Iinclude -Iarch
SAN_TEST_FLAGS = -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
                 $(DEFS) -DINGOT_OVERRIDE=0 -Isrc -Iinclude -Iarch -I$(GEN)

TSAN_FLAGS    := -fsanitize=thread
UBSAN_FLAGS   := -fsanitize=undefined -fno-sanitize-recover=all

# $(1): tsan or ubsan; $(2): sanitizer flags; $(3): how the tests link to a
# runner. Defines build/$(1)/libingot.a and build/$(1)/test_<suite>.
define san_build
build/$(1)/libingot.a: $(CORE_SRC:src/%.c=build/$(1)/%.o) build/$(1)/arch_$(ARCH).o
	rm -f $$@ && ar rcs $$@ $$^
build/$(1)/%.o: src/%.c $(CORE_HDR)
	@mkdir -p $$(@D)
	$(SAN_CC) $(SAN_CORE_FLAGS) $(2) -c $$< -o $$@
build/$(1)/arch_$(ARCH).o: arch/$(ARCH).c $(ARCH_HDR)
	@mkdir -p $$(@D)
	$(SAN_CC) $(SAN_ARCH_FLAGS) $(2) -c $$< -o $$@
build/$(1)/test_%: tests/test_%.c $(TEST_HDRS) build/$(1)/libingot.a
	$(SAN_CC) $(SAN_TEST_FLAGS) $(2) -o $$@ $$< build/$(1)/libingot.a $(3)
build/$(1)/test_api_prefixed: tests/test_api.c $(TEST_HDRS) build/$(1)/libingot.a
	$(SAN_CC) $(SAN_TEST_FLAGS) $(2) -fno-builtin -DAPI_PREFIXED=1 -o $$@ $$< \
		build/$(1)/libingot.a $(3)
endef
# ThreadSanitizer cannot run under Criterion's sandbox (Criterion issue #274):
# those binaries use the stand-in runner in tests/helpers.h.
$(eval $(call san_build,tsan,$(TSAN_FLAGS),-DINGOT_TEST_SHIM=1 -lpthread))
$(eval $(call san_build,ubsan,$(UBSAN_FLAGS),$(TEST_LIBS)))

TSAN_SUITES := threads tcache fork
TSAN_BINS   := $(TSAN_SUITES:%=build/tsan/test_%)
UBSAN_BINS  := $(UNIT_SUITES:%=build/ubsan/test_%) build/ubsan/test_api_prefixed

test-tsan: $(TSAN_BINS)
	$(call run_suites,$(TSAN_BINS),TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)")

test-ubsan: $(UBSAN_BINS)
	$(call run_suites,$(UBSAN_BINS),UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1")
