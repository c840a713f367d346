#!/bin/sh
# tools/run-suites.sh — the one loop that runs test suites, for every make
# target (mk/*.mk) and make test-one.
#
#   tools/run-suites.sh SUITE...
#
# Runs every SUITE even when one fails, then exits 1 naming those that
# failed. A SUITE ending in .sh is a script, run as it is; anything else is
# a Criterion binary, run with --jobs 2 and, when TEST_FILTER is set (make
# test-one F=...), --filter="$TEST_FILTER". Sanitizer options and the like
# come through the environment.
failed=""
for t in "$@"; do
	echo "==== $t"
	case $t in
	*.sh) "$t" ;;
	*) if [ -n "$TEST_FILTER" ]; then "$t" --jobs 2 --filter="$TEST_FILTER"; else "$t" --jobs 2; fi ;;
	esac || failed="$failed $t"
done
if [ -n "$failed" ]; then
	echo "FAILED:$failed"
	exit 1
fi
