# mk/trace.mk — the allocation trace (INGOT_CONF=trace:FILE, src/trace.h) and
# tools/ingot-trace, which turns a trace into a table and a plot.
#
#   make trace-demo   Python (tools/trace-demo.py) traced on lib/libingot.so;
#                     writes build/trace/python.trace, the table of size
#                     classes build/trace/python.md and the plot of live bytes
#                     build/trace/python.png (needs gnuplot)
#   make test-trace   tests/test_trace.c (the trace file, record by record)
#                     and tests/programs/trace.sh (the demo end to end)
TRACE_OUT      := build/trace
TRACE_TEST_LIB := $(BUILD)/libingot-prefixed.a
TRACE_CFLAGS   := -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Itests
# The interpreter itself, not a wrapper script (pyenv's shims run shell
# commands, each of which would start a trace of its own; see src/trace.h).
TRACE_PYTHON    = $(shell python3 -c 'import sys; print(sys.executable)')

.PHONY: trace-demo test-trace
test: test-trace

trace-demo: lib/libingot.so
	@mkdir -p $(TRACE_OUT)
	LD_PRELOAD=$(CURDIR)/lib/libingot.so INGOT_CONF=trace:$(TRACE_OUT)/python.trace \
		PYTHONMALLOC=malloc $(TRACE_PYTHON) tools/trace-demo.py
	tools/ingot-trace $(TRACE_OUT)/python.trace --md $(TRACE_OUT)/python.md \
		--png $(TRACE_OUT)/python.png --title "Python on ingot (tools/trace-demo.py)"
	@cat $(TRACE_OUT)/python.md

# The traced program links the prefixed library: only its own ingot_* calls
# are recorded, so the test can expect an exact list of records.
build/tests/trace_child: tests/trace_child.c $(TRACE_TEST_LIB)
	@mkdir -p $(@D)
	$(CC) $(TRACE_CFLAGS) -o $@ $< $(TRACE_TEST_LIB) -lpthread
build/tests/test_trace: tests/test_trace.c tests/helpers.h
	@mkdir -p $(@D)
	$(CC) $(TRACE_CFLAGS) -DTRACE_CHILD='"$(CURDIR)/build/tests/trace_child"' -o $@ $< \
		-lcriterion -lpthread

test-trace: build/tests/test_trace build/tests/trace_child lib/libingot.so
	$(call run_suites,build/tests/test_trace tests/programs/trace.sh,)
