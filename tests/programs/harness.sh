# harness.sh — the test loop shared by preload.sh, jemalloc_programs.sh and
# redis_idle_rss.sh, which source it. A script defines test_NAME functions, reports each failed
# check with fail TEST MESSAGE, and ends with
#   run_tests SCRIPT "DEFAULT TESTS" "PASS DETAIL" "$@"
# which runs the tests named on the command line (or the defaults), prints
# one summary and exits 1 if any check failed (2 for an unknown test).

failures=()
fail() { # test, message
	echo "  FAIL: $2"
	failures+=("$1: $2")
}

run_tests() { # script, default tests, detail for the PASS line, tests asked for...
	local script=$1 defaults=$2 detail=$3
	shift 3
	local tests=("$@")
	((${#tests[@]})) || read -ra tests <<<"$defaults"
	local t start before
	for t in "${tests[@]}"; do
		if ! declare -F "test_$t" >/dev/null; then
			echo "$script: no test '$t' ($defaults)" >&2
			exit 2
		fi
		echo "$script: $t"
		start=$SECONDS
		before=${#failures[@]}
		"test_$t"
		if ((${#failures[@]} == before)); then
			echo "  ok ($((SECONDS - start)) s)"
		fi
	done
	if ((${#failures[@]})); then
		echo "$script: FAIL (${#failures[@]}):"
		printf '  %s\n' "${failures[@]}"
		exit 1
	fi
	echo "$script: PASS (${tests[*]}$detail)"
}

# For the scripts that run servers: a scratch folder, $WORK, and the server
# a test starts, $server_pid (empty while none runs); both go at exit.
server_scratch() {
	WORK=$(mktemp -d)
	server_pid=
	trap server_scratch_cleanup EXIT
}

server_scratch_cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
