# mk/hardened.mk — tests of the hardened heap, the run-time options and
# out-of-memory behaviour.
#
#   make test-hardened   tests/test_hardened.c against the HARDENED=1 build, and
#                        against the default build with profile:hardened chosen
#                        at start through INGOT_CONF
#   make test-options    tests/test_options.c (options read from INGOT_CONF)
#   make test-guarded    the API, thread and fork suites under guard_sample:1
#   make test-faults     tests/test_faults.c (injected faults, RLIMIT_AS)
HARD_VARIANT := $(ARCH)-d0-s1-h1-p$(LG_PAGE)
HARD_LIB     := build/$(HARD_VARIANT)/libingot-prefixed.a
DEF_LIB      := build/$(ARCH)-d0-s1-h0-p$(LG_PAGE)/libingot-prefixed.a
HARD_TESTS   := build/tests/test_hardened build/tests/test_hardened_profile
HARD_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Itests

.PHONY: test-hardened FORCE
FORCE:

# Each archive is made by a make of its own variant (its own object folder);
# in that make, the Makefile's own $(BUILD)/libingot-prefixed.a rule applies.
ifneq ($(VARIANT),$(HARD_VARIANT))
$(HARD_LIB): FORCE
	@$(MAKE) --no-print-directory HARDENED=1 DEBUG=0 STATS=1 $@
endif
ifneq ($(BUILD)/libingot-prefixed.a,$(DEF_LIB))
$(DEF_LIB): FORCE
	@$(MAKE) --no-print-directory HARDENED=0 DEBUG=0 STATS=1 $@
endif

build/tests/test_hardened: tests/test_hardened.c tests/helpers.h $(HARD_LIB)
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -o $@ $< $(HARD_LIB) -lcriterion -lpthread
build/tests/test_hardened_profile: tests/test_hardened.c tests/helpers.h $(DEF_LIB)
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -DPROFILE_AT_START=1 -o $@ $< $(DEF_LIB) -lcriterion -lpthread

test-hardened: $(HARD_TESTS)
	$(call run_suites,$(HARD_TESTS),)

# Run-time options (INGOT_CONF read at start), against the default build.
build/tests/test_options: tests/test_options.c tests/helpers.h $(DEF_LIB)
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -o $@ $< $(DEF_LIB) -lcriterion -lpthread

.PHONY: test-options
test-options: build/tests/test_options
	$(call run_suites,build/tests/test_options,)

# The API suites with every allocation guarded while the pool has room
# (guard_sample:1), the thread and fork suites with one in 8 (every one
# makes their stress loops a pair of system calls per allocation): no check
# may fire on a valid program.
GUARDED_API     := build/tests/test_api_prefixed build/tests/test_api_override
GUARDED_THREADS := build/tests/test_threads build/tests/test_fork
.PHONY: test-guarded
test-guarded: $(GUARDED_API) $(GUARDED_THREADS)
	@TEST_FILTER='$(F)' INGOT_CONF=guard_sample:1 MALLOC_CONF=guard_sample:1 $(RUN_SUITES) $(GUARDED_API); \
	api=$$?; \
	TEST_FILTER='$(F)' INGOT_CONF=guard_sample:8 MALLOC_CONF=guard_sample:8 $(RUN_SUITES) $(GUARDED_THREADS) \
		&& exit $$api

# Out of memory: injected faults and RLIMIT_AS (tests/test_faults.c).
build/tests/test_faults: tests/test_faults.c tests/helpers.h $(DEF_LIB)
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -o $@ $< $(DEF_LIB) -lcriterion -lpthread

.PHONY: test-faults
test-faults: build/tests/test_faults
	$(call run_suites,build/tests/test_faults,)

# Allocation hooks (tests/test_hooks.c), on the standard names.
build/tests/test_hooks: tests/test_hooks.c tests/helpers.h lib/libingot.a
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -o $@ $< lib/libingot.a -lcriterion -lpthread

.PHONY: test-hooks
test-hooks: build/tests/test_hooks
	$(call run_suites,build/tests/test_hooks,)
