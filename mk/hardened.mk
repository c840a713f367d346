# mk/hardened.mk — tests of the hardened heap, the run-time options and
# out-of-memory behaviour.
#
#   make test-hardened   tests/test_hardened.c against the HARDENED=1 build, and
#                        against the default build with profile:hardened chosen
#                        at start through INGOT_CONF
#   make test-options    tests/test_options.c (options read from INGOT_CONF)
#   make test-hardened-suites  every unit suite under profile:hardened
#   make test-guarded    every unit suite under guard_sample:1
#   make test-faults     tests/test_faults.c (injected faults, RLIMIT_AS)
HARD_VARIANT := $(ARCH)-d0-s1-h1-p$(LG_PAGE)
HARD_LIB     := build/$(HARD_VARIANT)/libingot-prefixed.a
DEF_LIB      := build/$(ARCH)-d0-s1-h0-p$(LG_PAGE)/libingot-prefixed.a
HARD_TESTS   := build/tests/test_hardened build/tests/test_hardened_profile \
	build/tests/test_hardened_large build/tests/test_hardened_large_profile
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

build/tests/test_hardened_large: tests/test_hardened_large.c tests/helpers.h $(HARD_LIB)
	@mkdir -p $(@D)
	$(CC) $(HARD_CFLAGS) -fno-builtin -o $@ $< $(HARD_LIB) -lcriterion -lpthread
build/tests/test_hardened_large_profile: tests/test_hardened_large.c tests/helpers.h $(DEF_LIB)
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

# Every unit suite (mk/tests.mk) again under a profile or option that
# changes how the heap works: no check may fire on a valid program. A few
# tests assert what only the default profile does; each is left out by
# name (Criterion's --filter '!(suite/test|...)'), for the reason beside it.
# F, when given, replaces the lists. The suites are named when the recipe
# runs (mk/tests.mk, read after this file, defines them) and made there.
CHECKED_SUITES = $(UNIT_BINS) $(TEST_DIR)/test_api_override
empty :=
space := $(empty) $(empty)
# The Criterion filter that leaves out the tests of list $(1), or none.
skip_filter = $(if $(F),$(F),$(if $(strip $(1)),!($(subst $(space),|,$(strip $(1))))))
# Runs suites $(1), each without the tests of variable $(2)<its name>, in
# environment $(3); fails naming the suites that failed, after all ran.
define run_skipping
	@failed=""; \
	$(foreach t,$(1),TEST_FILTER='$(call skip_filter,$($(2)$(notdir $(t))))' $(3) \
		$(RUN_SUITES) $(t) || failed="$$failed $(t)";) \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi
endef

# profile:hardened chosen at start (the default build).
# test_guard: guard_sample is off in the checked profiles, which watch
# every block already (README "Sampled guarded allocations").
HARDENED_SUITES = $(filter-out $(TEST_DIR)/test_guard,$(CHECKED_SUITES))
# A 16-byte request takes the 32-byte class in a hardened heap (its canary).
HARDENED_SKIP_test_pagemap := pagemap/classes_outside_the_window_come_from_the_chunk_table
# It fills a thread cache's stack: hardened caches keep no small objects.
HARDENED_SKIP_test_tcache := tcache/check_finds_an_object_cached_twice
# Samples per byte asked for: every hardened block is a class bigger.
HARDENED_SKIP_test_prof := prof/small_blocks_sampled_at_the_rate
# Spans laid out page by page: hardened spans end in a guard page (one
# more page; a whole chunk has no room for it), and the third counts the
# resident memory of freed pages, which hardened heaps protect.
HARDENED_SKIP_test_background := decay/a_batch_allocated_again_after_its_free_stops_being_given_back \
	decay/coalesced_span_keeps_its_pages_age decay/frees_of_most_of_the_heap_hand_it_back_as_they_return
# The huge cache: a hardened heap hands a freed huge block's pages out
# again at a new address (its old range stays inaccessible), and these
# expect the same address back (test_hardened_large checks the reuse by its
# page faults). The realloc in place: it needs two large blocks side by
# side, and hardened ones have a guard page between them. Empty slabs:
# hardened bins keep their budget while the heap grows (bin.c,
# slab_may_wait), and the large cache its blocks (arena.c,
# large_cache_grown_before); nor do they give back the free pages of
# partly used slabs when the heap grows (bin_give_back_free_pages), and
# their objects carry canaries that arena-level writes of a whole class
# size overwrite. Cached huge mappings: hardened ones carry guard pages,
# so the cache's byte counts differ from the mappings' sizes.
HARDENED_SKIP_test_decay := decay/a_full_huge_cache_drops_its_oldest_mapping \
	decay/a_growing_heap_gives_back_the_free_pages_of_partly_used_slabs \
	decay/cached_huge_mappings_go_back_while_the_heap_grows \
	decay/empty_slabs_go_back_when_the_heap_grew_and_serve_its_growth \
	decay/the_large_cache_gives_its_blocks_back_while_the_heap_grows \
	decay/a_forked_child_reuses_the_huge_cache \
	decay/a_huge_block_in_a_bigger_cached_mapping_leaves_the_rest_to_the_next \
	decay/a_reused_bigger_mapping_keeps_its_pages_until_purged \
	decay/a_zeroed_realloc_over_reused_pages_reads_zero \
	decay/the_slack_of_a_live_block_decays decay/the_slack_of_a_live_block_goes_back_on_purge \
	decay/a_cached_neighbour_does_not_stop_a_realloc_in_place
# It counts objects a thread's stack sends home: hardened caches keep no
# small objects, every free goes home at once.
HARDENED_SKIP_test_threads := threads/a_new_threads_first_free_goes_home_in_a_shared_arena

.PHONY: test-hardened-suites
test-hardened-suites:
	@$(MAKE) --no-print-directory $(HARDENED_SUITES)
	$(call run_skipping,$(HARDENED_SUITES),HARDENED_SKIP_,INGOT_CONF=profile:hardened MALLOC_CONF=profile:hardened)
test: test-hardened-suites

# guard_sample:1: every allocation up to 60 KiB guarded while the pool has
# a free cell (255 live at most), the others as usual.
# These look up the slab or chunk of a block they just allocated: a guarded
# block lives in the guard pool.
GUARDED_SKIP_test_pagemap := pagemap/check_reports_a_class_window_that_disagrees \
	pagemap/classes_outside_the_window_come_from_the_chunk_table \
	pagemap/large_blocks_map_to_their_chunk pagemap/small_blocks_map_to_their_slab_chunk \
	pagemap/a_tight_address_space_gets_a_smaller_class_window
# (The last gives ingot 64 MiB of address space past its chunk table; the
# guard pool reserves about 16 MiB of it at start, and 2-5 runs in 30 then
# found no room for its eight 1 MiB blocks. It runs in every other build.)
# These count objects through a cache's stacks and its bin: guarded blocks
# pass through neither.
GUARDED_SKIP_test_tcache := tcache/a_bins_copy_of_its_newest_object_follows_the_stack \
	tcache/a_burst_bigger_than_the_cache_grows_its_class \
	tcache/a_cross_thread_free_goes_home_at_the_flush tcache/a_miss_refills_a_batch_from_the_bin \
	tcache/sized_frees_go_to_the_cache tcache/a_thread_that_only_frees_a_class_parks_few_of_its_blocks \
	tcache/a_stack_holding_remote_blocks_shrinks_and_grows_back tcache/check_finds_an_object_cached_twice \
	tcache/hooks_set_by_another_thread_see_a_small_refill_at_once \
	tcache/hooks_set_by_another_thread_see_a_free_past_a_full_stack_at_once \
	tcache/a_stack_leaves_its_first_area_only_for_a_burst_and_keeps_its_objects \
	tcache/a_consumer_stack_full_of_remote_blocks_leaves_its_first_area_at_half_capacity \
	tcache/threads_of_an_arena_pair_share_the_bins_of_classes_above_1k \
	tcache/a_fork_while_a_pair_shares_bins_leaves_the_pairing_working_in_the_child
# A guarded block is never a heap-profile sample (they count samples; the
# third fails now and then, as the pool's free cells come and go).
GUARDED_SKIP_test_prof := prof/every_free_path_drops_the_record prof/jemalloc_dump_reads_back \
	prof/large_blocks_sampled_at_the_rate
# It asserts there is no pool without the option.
GUARDED_SKIP_test_guard := guard_off/no_pool_by_default
# The large cache's blocks of up to 64 KiB: blocks of up to 60 KiB are
# guarded, and a guarded block never enters the cache.
GUARDED_SKIP_test_decay := decay/freed_large_blocks_are_reused_whole_and_go_back_on_purge \
	decay/the_large_cache_decays
# Remote frees going home to their arena: a guarded block belongs to the
# guard pool, whose freed cells any thread's next sample may take.
GUARDED_SKIP_test_threads := threads/a_block_freed_by_a_new_thread_goes_home

.PHONY: test-guarded
test-guarded:
	@$(MAKE) --no-print-directory $(CHECKED_SUITES)
	$(call run_skipping,$(CHECKED_SUITES),GUARDED_SKIP_,INGOT_CONF=guard_sample:1 MALLOC_CONF=guard_sample:1)

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
