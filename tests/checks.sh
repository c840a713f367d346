# tests/checks.sh — the "ok N - what" and "not ok - what" lines of the shell
# test scripts (sourced; they count their checks in $checks).
checks=0
pass() {
	checks=$((checks + 1))
	echo "ok $checks - $*"
}
die() {
	echo "not ok - $*" >&2
	exit 1
}
