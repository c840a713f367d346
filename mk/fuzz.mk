# mk/fuzz.mk — fuzzing (issue 6). Harnesses and corpora live in fuzz/ (fuzz/README.md).
#
#   make fuzz-build    every harness against two builds of the library, default
#                      (HARDENED=0) and hardened (HARDENED=1): with $(CC) for replay,
#                      and with afl-cc when installed (library instrumented too)
#   make fuzz-replay   replays fuzz/corpus/<harness>/ through the $(CC) binaries of both
#                      builds, and of the default build under INGOT_CONF=profile:hardened
#                      (fast; make test and CI call it)
#   make fuzz-run      afl-fuzz on every harness x build for FUZZ_SECONDS each;
#                      fails if any crash or hang was found (make -j2 runs two at once)
#   make fuzz          fuzz-build, then fuzz-run
#   make fuzz-corpus   rewrites fuzz/corpus/ and fuzz/dict/ with fuzz/make_corpus.py
#
# Options (make VAR=value):
#   FUZZ_SECONDS=60        afl-fuzz time per harness and build
#   FUZZ_MALLCTL=auto      fuzz_mallctl: auto builds it when the library exports
#                          ingot_mallctl (skipped with a note otherwise), 1 always, 0 never
#   FUZZ_TIMEOUT_MS=5000   afl-fuzz's per-input time limit; slower inputs count as hangs
#   AFL_CC=afl-cc          the AFL++ compiler (empty: none; fuzz-run then fails)
#
# Outputs: build/fuzz/<cc|afl>-<variant>/ (objects, libingot.a, fuzz_* binaries), where
# <variant> is the Makefile's $(VARIANT) with h0 / h1; afl-fuzz output in
# build/fuzz/out/<harness>-<variant>/ (replaced by each fuzz-run of that harness and variant).

FUZZ_SECONDS    ?= 60
FUZZ_MALLCTL    ?= auto
FUZZ_TIMEOUT_MS ?= 5000
AFL_CC          ?= $(shell command -v afl-cc 2>/dev/null)
PYTHON          ?= python3

FUZZ_HARNESSES := ops conf $(if $(filter 0,$(FUZZ_MALLCTL)),,mallctl)
FUZZ_BUILDS    := default hardened
FUZZ_TOOLS     := cc $(if $(AFL_CC),afl)
FUZZ_CC_cc     := $(CC)
# afl-cc leaves the harnesses' checking loops uninstrumented (fuzz/afl_skip.txt).
FUZZ_CC_afl    := $(if $(AFL_CC),AFL_LLVM_DENYLIST=$(CURDIR)/fuzz/afl_skip.txt $(AFL_CC))
FUZZ_HARD_default  := 0
FUZZ_HARD_hardened := 1
FUZZ_HDR       := fuzz/fuzz_common.h fuzz/fuzz_driver.h fuzz/afl_skip.txt

# $(call fuzz_dir,tool,build): where one tool's objects and binaries of one build go.
fuzz_dir = build/fuzz/$(1)-$(ARCH)-d$(DEBUG)-s$(STATS)-h$(FUZZ_HARD_$(2))-p$(LG_PAGE)
# $(call fuzz_flags,build,flags): the Makefile's flags with the build's HARDENED value.
fuzz_flags = $(subst -DINGOT_HARDENED=$(HARDENED),-DINGOT_HARDENED=$(FUZZ_HARD_$(1)),$(2))
# $(call fuzz_exports,archive,name): non-empty when the archive defines name.
fuzz_exports = $(shell nm -g --defined-only $(1) 2>/dev/null | grep -E ' T $(2)$$')

FUZZ_HARNESS_CFLAGS := -std=gnu11 -O2 -g $(WARN) -Ifuzz -Iinclude $(CFLAGS)
# fuzz_conf reaches the parser through the library's internal headers.
FUZZ_INTERNAL_INC   := -Isrc -I$(GEN) -Iarch

.PHONY: fuzz fuzz-build fuzz-replay fuzz-run fuzz-corpus

# $(1): tool (cc or afl), $(2): build (default or hardened)
define FUZZ_RULES
FUZZ_OBJ_$(1)_$(2) := $$(CORE_SRC:src/%.c=$(call fuzz_dir,$(1),$(2))/obj/%.o) \
                      $(call fuzz_dir,$(1),$(2))/obj/arch_$(ARCH).o
FUZZ_BINS_$(1) += $$(FUZZ_HARNESSES:%=$(call fuzz_dir,$(1),$(2))/fuzz_%)

$(call fuzz_dir,$(1),$(2))/obj/%.o: src/%.c $$(CORE_HDR)
	@mkdir -p $$(@D)
	$$(FUZZ_CC_$(1)) $$(call fuzz_flags,$(2),$$(CORE_CFLAGS)) -DINGOT_OVERRIDE=0 -c $$< -o $$@

$(call fuzz_dir,$(1),$(2))/obj/arch_$(ARCH).o: arch/$(ARCH).c $(ARCH_HDR)
	@mkdir -p $$(@D)
	$$(FUZZ_CC_$(1)) $$(call fuzz_flags,$(2),$$(ARCH_CFLAGS)) -c $$< -o $$@

$(call fuzz_dir,$(1),$(2))/libingot.a: $$(FUZZ_OBJ_$(1)_$(2))
	rm -f $$@ && ar rcs $$@ $$^

# The x-API part of fuzz_ops is compiled in once the library has it.
$(call fuzz_dir,$(1),$(2))/fuzz_ops: fuzz/fuzz_ops.c $(FUZZ_HDR) $(call fuzz_dir,$(1),$(2))/libingot.a
	$$(FUZZ_CC_$(1)) $$(call fuzz_flags,$(2),$$(FUZZ_HARNESS_CFLAGS) $$(DEFS)) \
		$$(if $$(call fuzz_exports,$$(lastword $$^),ingot_mallocx),-DINGOT_HAVE_XAPI=1) \
		-o $$@ $$< $$(lastword $$^) -lpthread

$(call fuzz_dir,$(1),$(2))/fuzz_conf: fuzz/fuzz_conf.c $(FUZZ_HDR) src/conf.h src/conf_options.inc \
		$(call fuzz_dir,$(1),$(2))/libingot.a
	$$(FUZZ_CC_$(1)) $$(call fuzz_flags,$(2),$$(FUZZ_HARNESS_CFLAGS) $$(FUZZ_INTERNAL_INC) $$(DEFS)) \
		-o $$@ $$< $$(lastword $$^) -lpthread

$(call fuzz_dir,$(1),$(2))/fuzz_mallctl: fuzz/fuzz_mallctl.c $(FUZZ_HDR) $(call fuzz_dir,$(1),$(2))/libingot.a
	@if [ "$(FUZZ_MALLCTL)" = auto ] && [ -z "$$(call fuzz_exports,$$(lastword $$^),ingot_mallctl)" ]; then \
		echo "fuzz: the library has no ingot_mallctl yet; $$@ not built (FUZZ_MALLCTL=1 forces it)"; \
		rm -f $$@; \
	else \
		echo "$$(FUZZ_CC_$(1)) ... -o $$@"; \
		$$(FUZZ_CC_$(1)) $$(call fuzz_flags,$(2),$$(FUZZ_HARNESS_CFLAGS) $$(DEFS)) \
			-o $$@ $$< $$(lastword $$^) -lpthread; \
	fi
endef

$(foreach t,cc afl,$(foreach b,$(FUZZ_BUILDS),$(eval $(call FUZZ_RULES,$(t),$(b)))))

fuzz-build: $(FUZZ_BINS_cc) $(if $(AFL_CC),$(FUZZ_BINS_afl))
ifeq ($(AFL_CC),)
	@echo "fuzz: afl-cc not found; built the replay binaries only"
endif

# A harness binary that FUZZ_MALLCTL=auto did not build is skipped here; the
# others must pass on every corpus file.
fuzz-replay: $(FUZZ_BINS_cc)
	@set -e; \
	run() { \
		for h in $(FUZZ_HARNESSES); do \
			bin=$$1/fuzz_$$h; \
			if [ ! -x $$bin ]; then echo "fuzz-replay: $$bin skipped (not built)"; continue; fi; \
			$$bin fuzz/corpus/$$h; \
		done; \
	}; \
	run $(call fuzz_dir,cc,default); \
	run $(call fuzz_dir,cc,hardened); \
	echo "fuzz-replay: default build with INGOT_CONF=profile:hardened"; \
	export INGOT_CONF=profile:hardened; \
	run $(call fuzz_dir,cc,default)

# One target per harness and build, so that make -j2 runs two fuzzers at once.
# $(1): harness, $(2): build
define FUZZ_RUN_RULE
.PHONY: fuzz-run-$(1)-$(2)
fuzz-run-$(1)-$(2): $(if $(AFL_CC),$(call fuzz_dir,afl,$(2))/fuzz_$(1))
	@if [ -z "$(AFL_CC)" ]; then echo "fuzz-run: afl-cc not found (apt-get install afl++)"; exit 1; fi
	@if [ ! -x $(call fuzz_dir,afl,$(2))/fuzz_$(1) ]; then \
		echo "fuzz-run: fuzz_$(1) not built; skipped"; \
	else \
		FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TIMEOUT_MS=$(FUZZ_TIMEOUT_MS) fuzz/run_afl.sh \
			$(call fuzz_dir,afl,$(2))/fuzz_$(1) fuzz/corpus/$(1) \
			build/fuzz/out/$(1)-$(patsubst afl-%,%,$(notdir $(call fuzz_dir,afl,$(2)))); \
	fi
endef
$(foreach h,$(FUZZ_HARNESSES),$(foreach b,$(FUZZ_BUILDS),$(eval $(call FUZZ_RUN_RULE,$(h),$(b)))))

fuzz-run: $(foreach h,$(FUZZ_HARNESSES),$(foreach b,$(FUZZ_BUILDS),fuzz-run-$(h)-$(b)))

fuzz: fuzz-build fuzz-run

fuzz-corpus:
	$(PYTHON) fuzz/make_corpus.py
