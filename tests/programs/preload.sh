#!/usr/bin/env bash
# preload.sh — real programs with ingot preloaded (issue 3).
#
# Runs each program under LD_PRELOAD=lib/libingot.so INGOT_CONF=stats_print:true
# and checks two things: the program's own answer (a digest, a count, a commit
# id, computed once under glibc and written down here), and that ingot served
# it: ingot prints its statistics report ("___ Begin ingot statistics ___") to
# stderr at exit when INGOT_CONF has stats_print:true, and the library shows
# in /proc/PID/maps of a running process.
#
#   python  dicts, lists and strings (PYTHONMALLOC=malloc, so that every
#           object comes from malloc, not from Python's own small-object arenas)
#   gcc     compiles and links a three-file C program, then runs it
#           (the driver, cc1, as, collect2 and ld all run preloaded)
#   sqlite  sqlite3 CLI: 100k rows from a recursive CTE into a temp-file
#           database, an index, aggregates
#   git     init, commits, log, gc, fsck in a temp repository
#   maps    a process that is still running has libingot.so mapped
#
# Usage: tests/programs/preload.sh [TEST...]      (default: all, in that order)
# Environment:
#   INGOT_LIB  the library to preload (default: lib/libingot.so of this
#              repository). INGOT_LIB=none runs the programs without any
#              preload and skips the checks for ingot: a check of this script
#              and of the expected answers on the system allocator.
#   PYTHON     default /usr/bin/python3 when present, else python3
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
INGOT_LIB=${INGOT_LIB:-$ROOT/lib/libingot.so}
if [[ -x /usr/bin/python3 ]]; then PYTHON=${PYTHON:-/usr/bin/python3}; else PYTHON=${PYTHON:-python3}; fi
MARKER="Begin ingot statistics"

if [[ $INGOT_LIB == none ]]; then
	PRELOAD=()
	echo "preload: INGOT_LIB=none: programs run on the system allocator; ingot checks skipped"
else
	[[ -f $INGOT_LIB ]] || { echo "preload: $INGOT_LIB not found (run make)" >&2; exit 1; }
	INGOT_LIB=$(realpath "$INGOT_LIB")
	PRELOAD=(env "LD_PRELOAD=$INGOT_LIB" "INGOT_CONF=stats_print:true")
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"

# Runs "$@" preloaded with stdout and stderr in $WORK/NAME.out and .err.
# Returns the program's exit status.
run_preloaded() { # name, command...
	local name=$1
	shift
	local rc=0
	"${PRELOAD[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	return $rc
}

# Did ingot print its report into NAME.err? Shows the first lines of stderr
# otherwise, to tell a crash from a missing report.
check_ingot_report() { # test, name
	[[ $INGOT_LIB == none ]] && return 0
	local n
	n=$(grep -c "$MARKER" "$WORK/$2.err" || true)
	if ((n == 0)); then
		fail "$1" "no '$MARKER' on stderr of $2; stderr begins:"
		head -5 "$WORK/$2.err" | sed 's/^/    | /'
	else
		echo "  ingot statistics reports on stderr: $n"
	fi
}

show_err() { # name: the first stderr lines that are not ingot's report
	grep -v -e "$MARKER" "$WORK/$1.err" | head -5 | sed 's/^/    | /' || true
}

# ---- python ----
test_python() {
	cat >"$WORK/work.py" <<'PY'
import hashlib, gc
# a dict of 500k entries, keys and values strings of varying length
d = {f"key{i}": str(i) * (1 + i % 7) for i in range(500_000)}
assert len(d) == 500_000
assert d["key499999"] == "499999" * (1 + 499999 % 7)
# lists of lists; growing and shrinking
lists = [list(range(i % 100)) for i in range(100_000)]
total = sum(len(l) for l in lists)
for l in lists[::3]:
    l.extend(range(50))
    del l[:25]
# joining strings: one big string built from many small ones
s = ",".join(d[f"key{i}"] for i in range(0, 500_000, 3))
# a bytearray grown by appends (realloc)
b = bytearray()
for i in range(20_000):
    b += bytes([i % 251]) * (i % 64)
h = hashlib.sha256()
h.update(s.encode())
h.update(bytes(b))
h.update(repr(sorted(len(l) for l in lists[:1000])).encode())
del d, lists
gc.collect()
print(total, len(s), len(b), h.hexdigest())
PY
	local want="4950000 4018512 629488 3b94a9da60514a6be5ad4855572b4708b807d5bea4292eab449b08bc3596a7c1"
	local rc=0
	PYTHONMALLOC=malloc run_preloaded python "$PYTHON" "$WORK/work.py" || rc=$?
	if ((rc != 0)); then fail python "$PYTHON exited with $rc"; show_err python; return; fi
	local got
	got=$(cat "$WORK/python.out")
	[[ $got == "$want" ]] || fail python "answer '$got', expected '$want'"
	check_ingot_report python python
}

# ---- gcc ----
test_gcc() {
	mkdir -p "$WORK/cc"
	cat >"$WORK/cc/list.h" <<'C'
#include <stddef.h>
struct node { struct node *next; char *text; };
struct node *list_push(struct node *head, const char *text);
size_t list_free(struct node *head); /* returns the number of nodes */
unsigned long sieve_sum(unsigned long limit);
C
	cat >"$WORK/cc/list.c" <<'C'
#include "list.h"
#include <stdlib.h>
#include <string.h>
struct node *list_push(struct node *head, const char *text)
{
	struct node *n = malloc(sizeof(*n));
	if (n == NULL) abort();
	n->text = strdup(text);
	n->next = head;
	return n;
}
size_t list_free(struct node *head)
{
	size_t count = 0;
	while (head != NULL) {
		struct node *next = head->next;
		free(head->text);
		free(head);
		head = next;
		count++;
	}
	return count;
}
C
	cat >"$WORK/cc/sieve.c" <<'C'
#include "list.h"
#include <stdlib.h>
unsigned long sieve_sum(unsigned long limit)
{
	unsigned char *composite = calloc(limit + 1, 1);
	unsigned long sum = 0;
	if (composite == NULL) abort();
	for (unsigned long i = 2; i <= limit; i++) {
		if (composite[i]) continue;
		sum += i;
		for (unsigned long j = i * i; j <= limit; j += i) composite[j] = 1;
	}
	free(composite);
	return sum;
}
C
	cat >"$WORK/cc/main.c" <<'C'
#include "list.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int by_value(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return (x > y) - (x < y);
}
int main(void)
{
	struct node *head = NULL;
	char buf[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(buf, sizeof(buf), "item %d", i);
		head = list_push(head, buf);
	}
	size_t text_bytes = 0;
	for (struct node *n = head; n != NULL; n = n->next) text_bytes += strlen(n->text);
	size_t nodes = list_free(head);

	size_t count = 1000000;
	unsigned *v = NULL;
	for (size_t have = 0; have < count; have += 1000) { /* grow by realloc */
		v = realloc(v, (have + 1000) * sizeof(*v));
		if (v == NULL) return 1;
		for (size_t i = have; i < have + 1000; i++) v[i] = (unsigned)(i * 2654435761u);
	}
	qsort(v, count, sizeof(*v), by_value);
	int sorted = 1;
	for (size_t i = 1; i < count; i++) sorted &= v[i - 1] <= v[i];
	free(v);
	printf("%zu %zu %lu %d\n", nodes, text_bytes, sieve_sum(2000000), sorted);
	return 0;
}
C
	local want="100000 988890 142913828922 1"
	local rc=0
	(cd "$WORK/cc" && run_preloaded gcc gcc -O2 -Wall -o prog main.c list.c sieve.c) || rc=$?
	if ((rc != 0)); then fail gcc "gcc exited with $rc"; show_err gcc; return; fi
	check_ingot_report gcc gcc
	rc=0
	run_preloaded gcc_prog "$WORK/cc/prog" || rc=$?
	if ((rc != 0)); then fail gcc "the compiled program exited with $rc"; show_err gcc_prog; return; fi
	local got
	got=$(cat "$WORK/gcc_prog.out")
	[[ $got == "$want" ]] || fail gcc "compiled program answered '$got', expected '$want'"
	check_ingot_report gcc gcc_prog
}

# ---- sqlite ----
test_sqlite() {
	command -v sqlite3 >/dev/null || { fail sqlite "sqlite3 not installed (apt-get install sqlite3)"; return; }
	cat >"$WORK/work.sql" <<'SQL'
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -16384;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, printf('row-%06d-%s', x, substr('abcdefghij', 1 + x % 10)), (x * x) % 1000 FROM c;
CREATE INDEX t_n ON t(n);
SELECT count(*), sum(n), sum(length(name)), count(DISTINCT n) FROM t;
SELECT n, count(*) FROM t GROUP BY n ORDER BY count(*) DESC, n LIMIT 3;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE n = 1 ORDER BY id LIMIT 5);
UPDATE t SET name = name || name WHERE id % 2 = 0;
DELETE FROM t WHERE n > 500;
SELECT count(*), sum(length(name)) FROM t;
PRAGMA integrity_check;
SQL
	# The expected rows were also computed in Python from the same
	# definitions, independently of SQLite.
	local want
	want=$(printf '%s\n' "100000|46150000|1650000|159" "25|4000" "225|4000" "100|2000" \
		"1,249,251,499,501" "54800|1352800" "ok")
	local rc=0
	run_preloaded sqlite sqlite3 -batch "$WORK/db.sqlite" <"$WORK/work.sql" || rc=$?
	if ((rc != 0)); then fail sqlite "sqlite3 exited with $rc"; show_err sqlite; return; fi
	local got
	got=$(grep -v '^wal$' "$WORK/sqlite.out")
	[[ $got == "$want" ]] || { fail sqlite "unexpected answer:"; diff <(echo "$want") <(echo "$got") | sed 's/^/    /' || true; }
	check_ingot_report sqlite sqlite
}

# ---- git ----
test_git() {
	local repo=$WORK/repo
	mkdir -p "$repo"
	# No user or system configuration; fixed identities and dates so that the
	# commit ids are the same on every run.
	local -a genv=(env HOME="$WORK" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
		GIT_AUTHOR_NAME=ingot GIT_AUTHOR_EMAIL=ingot@example.test
		GIT_COMMITTER_NAME=ingot GIT_COMMITTER_EMAIL=ingot@example.test)
	{
		"${genv[@]}" git -C "$repo" init -q -b main
		for c in $(seq 1 20); do
			for f in $(seq 1 25); do
				seq "$c" "$((c * f))" >"$repo/file$f.txt"
			done
			mkdir -p "$repo/dir$((c % 4))"
			printf 'commit %d\n' "$c" >"$repo/dir$((c % 4))/note$c"
			"${genv[@]}" git -C "$repo" add -A
			"${genv[@]}" GIT_AUTHOR_DATE="@$((1700000000 + c)) +0000" \
				GIT_COMMITTER_DATE="@$((1700000000 + c)) +0000" \
				git -C "$repo" commit -q -m "commit $c"
		done
	} >"$WORK/git_setup.log" 2>&1 || { fail git "setting up the repository failed"; tail -5 "$WORK/git_setup.log"; return; }
	local rc=0
	run_preloaded git sh -c '
		set -e
		git -C "$1" log --oneline | wc -l
		git -C "$1" log --format=%H -1
		git -C "$1" gc --quiet --aggressive
		git -C "$1" fsck --strict --no-progress
		git -C "$1" count-objects -v | grep -E "^(count|in-pack|packs):"
		git -C "$1" show HEAD:file25.txt | wc -l
		git -C "$1" log -p --stat | git hash-object --stdin
	' sh "$repo" || rc=$?
	if ((rc != 0)); then fail git "git exited with $rc"; show_err git; return; fi
	local want
	want=$(printf '%s\n' 20 35078b0354895fd3bee933d5cbb098fb6a69d859 "count: 0" "in-pack: 580" "packs: 1" \
		481 98ec667c9e2eef31439e0e8691638ab21f093d69)
	local got
	got=$(cat "$WORK/git.out")
	[[ $got == "$want" ]] || { fail git "unexpected answer:"; diff <(echo "$want") <(echo "$got") | sed 's/^/    /' || true; }
	check_ingot_report git git
}

# ---- maps ----
# A preloaded Python that says "ready" once its own code runs (by then the
# dynamic loader has mapped every preloaded library) and then sleeps. Not
# `sleep`: coreutils close stderr before exit, which hides the report.
test_maps() {
	if [[ $INGOT_LIB == none ]]; then echo "  (skipped without a library)"; return; fi
	local py
	py=$("$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable))')
	"${PRELOAD[@]}" "$py" -c 'import time; print("ready", flush=True); time.sleep(2)' \
		>"$WORK/maps.out" 2>"$WORK/maps.err" &
	local pid=$!
	for _ in $(seq 1 200); do
		grep -q ready "$WORK/maps.out" && break
		sleep 0.05
	done
	if ! grep -q ready "$WORK/maps.out"; then
		fail maps "$py did not start within 10 s"
	elif grep -qF "$INGOT_LIB" "/proc/$pid/maps"; then
		echo "  /proc/$pid/maps of $py: $(grep -cF "$INGOT_LIB" "/proc/$pid/maps") mappings of $INGOT_LIB"
	else
		fail maps "$INGOT_LIB is not in /proc/$pid/maps of $py"
	fi
	local rc=0
	wait "$pid" || rc=$?
	((rc == 0)) || fail maps "$py exited with $rc"
	check_ingot_report maps maps
}

run_tests preload "python gcc sqlite git maps" "" "$@"
