# Benchmarks: bench/ (workloads, runner) -- see bench/README.md.
#
#   make bench            every workload under ingot, glibc, jemalloc, mimalloc and
#                         tcmalloc, several interleaved rounds, plus callgrind counts;
#                         report in bench/results/report.md (about 7 minutes on 2 cores)
#   make bench-quick      a reduced set, small counts, in under two minutes (CI runs it
#                         to keep the harness working; its numbers are not a gate);
#                         report in bench/results/quick/
#   make bench-scaling    the threaded workloads at 1 2 4 8 16 threads, throughput table
#                         in bench/results/scaling/
#   make bench-callgrind  only the fast-path instruction counts
#   make bench-hardened   ingot against ingot with profile:hardened (the hardening cost)
#   make bench-prof       ingot and jemalloc, each with and without prof:true
#   make bench-prof-callgrind  the same in callgrind instructions
#   make bench-build      only build the workload programs (bench/build/)
#   bench/footprint.sh    resident KiB per mapping at exit of small workloads (glibc, ingot)
#
# Options (make VAR=value):
#   THREADS=N            threads of the threaded workloads (default 2, the reference machine)
#   BENCH_ROUNDS=N       rounds per allocator and workload (default 7; quick 2)
#   BENCH_SCALE=F        multiplies every iteration count (default 1)
#   BENCH_ALLOCS="a b"   allocators to run (default: ingot glibc jemalloc mimalloc tcmalloc)
#   BENCH_ONLY="w ..."   workloads to run, by name or prefix (default all)
#   BENCH_THREADS_LIST   thread counts of bench-scaling (default "1 2 4 8 16")
#   BENCH_NO_INSTALL=1   do not apt-get missing peers; skip them instead
#   PYTHON               Python 3 interpreter of the runner (default python3)

PYTHON            ?= python3
BENCH_CC          ?= $(CC)
BENCH_DIR         := bench
BENCH_BUILD       := bench/build
BENCH_CFLAGS      := -std=gnu11 -O2 -g -pthread -Wall -Wextra -Wshadow
BENCH_WORKLOADS   := sizeloop frag prodcons larson falseshare churn stress realloc large memreturn fastpath idlefree
BENCH_BINS        := $(BENCH_WORKLOADS:%=$(BENCH_BUILD)/%) $(BENCH_BUILD)/measure $(BENCH_BUILD)/probe \
                     $(BENCH_BUILD)/smaps_exit.so $(BENCH_BUILD)/peak_parts.so

BENCH_ROUNDS      ?=
BENCH_SCALE       ?=
BENCH_ALLOCS      ?=
BENCH_ONLY        ?=
BENCH_THREADS_LIST ?= 1 2 4 8 16
BENCH_NO_INSTALL  ?= 0

BENCH_ARGS := --ingot $(CURDIR)/lib/libingot.so \
              $(if $(THREADS),--threads $(THREADS)) \
              $(if $(BENCH_ROUNDS),--rounds $(BENCH_ROUNDS)) \
              $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) \
              $(if $(BENCH_ALLOCS),--allocs "$(BENCH_ALLOCS)") \
              $(if $(BENCH_ONLY),--only "$(BENCH_ONLY)") \
              $(if $(filter 1,$(BENCH_NO_INSTALL)),--no-install)

.PHONY: bench bench-quick bench-scaling bench-callgrind bench-build

bench-build: $(BENCH_BINS)

$(BENCH_BUILD)/%: bench/workloads/%.c bench/common/bench.c bench/common/bench.h
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< bench/common/bench.c -lm -ldl

$(BENCH_BUILD)/measure: bench/runner/measure.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

# Preloaded by bench/footprint.sh: resident size per mapping at exit.
$(BENCH_BUILD)/smaps_exit.so: bench/runner/smaps_exit.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -shared -fPIC -o $@ $<

# Preloaded after ingot by hand: what resident memory was made of at its
# peak (bench/README.md).
$(BENCH_BUILD)/peak_parts.so: bench/runner/peak_parts.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -shared -fPIC -o $@ $< -ldl

$(BENCH_BUILD)/probe: bench/runner/probe.c
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< -ldl

bench: lib/libingot.so bench-build
	$(PYTHON) bench/run.py full $(BENCH_ARGS)

bench-quick: lib/libingot.so bench-build
	$(PYTHON) bench/run.py quick $(BENCH_ARGS)

bench-scaling: lib/libingot.so bench-build
	$(PYTHON) bench/run.py scaling --threads-list "$(BENCH_THREADS_LIST)" $(BENCH_ARGS)

# The hardened profile's cost: ingot against itself started with
# INGOT_CONF=profile:hardened, every workload, same interleaved rounds.
.PHONY: bench-hardened
bench-hardened: lib/libingot.so bench-build
	$(PYTHON) bench/run.py full --allocs "ingot ingot-hardened" --out bench/results/hardened \
		$(filter-out --allocs%,$(BENCH_ARGS))

# Heap profiling's cost: ingot and Debian's jemalloc, each without and with
# prof:true (the default rate, 2^19 bytes), every workload, same rounds.
.PHONY: bench-prof
bench-prof: lib/libingot.so bench-build
	$(PYTHON) bench/run.py full --allocs "ingot ingot-prof jemalloc jemalloc-prof" \
		--out bench/results/prof $(filter-out --allocs%,$(BENCH_ARGS))

# The same in instructions (callgrind; exact on a noisy machine), single-
# threaded workloads at reduced counts.
.PHONY: bench-prof-callgrind
bench-prof-callgrind: lib/libingot.so bench-build
	$(PYTHON) bench/prof_cost.py --ingot $(CURDIR)/lib/libingot.so --out bench/results/prof

bench-callgrind: lib/libingot.so bench-build
	$(PYTHON) bench/run.py callgrind $(BENCH_ARGS)
