# mk/jemalloc.mk — the jemalloc interface: mallctl, the x-API, malloc_stats_print
# (issue 4), and the redis comparison.
#
#   make test-jemalloc   builds and runs build/tests/test_{mallctl,xapi,stats_print}
#                        (ingot_* names, lib/libingot-prefixed.a) and the same suites
#                        as build/tests/test_*_std (jemalloc's names: mallctl, mallocx,
#                        ..., lib/libingot.a, so Criterion itself runs on ingot too),
#                        then tests/programs/ctl_compat.sh: every mallctl name of
#                        jemalloc 5.3's manual on Debian's jemalloc and on
#                        lib/libjemalloc.so.2, compared name by name
#   make bench-redis     bench/redis_compare.sh: redis-benchmark throughput and the
#                        server's peak RSS, ingot's libjemalloc.so.2 against Debian's
#                        jemalloc, alternating rounds (REDIS_ROUNDS, default 3)
#
# The suites reach internals (the page map, thread caches) to check where
# blocks live: static linking ignores hidden visibility.

JE_TEST_DIR    := build/tests
JE_TEST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -fno-builtin \
                  $(DEFS) -DINGOT_OVERRIDE=0 -Isrc -Iinclude -Iarch -I$(GEN)
JE_TEST_LIBS   := -lcriterion -lpthread
JE_SUITES      := mallctl xapi stats_print
JE_TEST_HDRS   := tests/helpers.h tests/jemalloc_test.h $(CORE_HDR) include/jemalloc/jemalloc.h \
                  tests/jemalloc-5.3.mallctl
JE_BINS        := $(JE_SUITES:%=$(JE_TEST_DIR)/test_%) $(JE_SUITES:%=$(JE_TEST_DIR)/test_%_std)
REDIS_ROUNDS   ?= 3

.PHONY: test-jemalloc bench-redis

test-jemalloc: $(JE_BINS) lib/libjemalloc.so.2
	$(call run_suites,$(JE_BINS) tests/programs/ctl_compat.sh,)

$(JE_SUITES:%=$(JE_TEST_DIR)/test_%): $(JE_TEST_DIR)/test_%: tests/test_%.c $(JE_TEST_HDRS) \
		lib/libingot-prefixed.a
	@mkdir -p $(@D)
	$(CC) $(JE_TEST_CFLAGS) -DTEST_STD_NAMES=0 -o $@ $< lib/libingot-prefixed.a $(JE_TEST_LIBS)

$(JE_SUITES:%=$(JE_TEST_DIR)/test_%_std): $(JE_TEST_DIR)/test_%_std: tests/test_%.c \
		$(JE_TEST_HDRS) lib/libingot.a
	@mkdir -p $(@D)
	$(CC) $(JE_TEST_CFLAGS) -DTEST_STD_NAMES=1 -o $@ $< lib/libingot.a $(JE_TEST_LIBS)

bench-redis: lib/libjemalloc.so.2
	REDIS_ROUNDS=$(REDIS_ROUNDS) bench/redis_compare.sh
