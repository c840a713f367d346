#!/usr/bin/env bash
# check-hot-text.sh LIB — fails when the shared library's code layout (the
# Makefile, "Code layout"; mk/layout.ld) no longer keeps a small program in
# its first 64 KiB window of text and its hot constants:
#  1. every function mk/hot-functions.txt names is still a function of LIB
#     (the list is written by tools/hot-text.sh; a function renamed, removed
#     or inlined everywhere leaves a stale name, and its successor lies in
#     the cold text). The list adds the ingot_ name of every name it found,
#     since the front ends are written as ingot_<name>: such a twin may be
#     missing when the plain name is there.
#  2. a small program (malloc, calloc, realloc, aligned and large blocks, a
#     second thread freeing the first's blocks) run on LIB keeps at most one
#     64 KiB window of the text resident (the hot functions come first in
#     the text segment, whose start a window begins at), and no page of the
#     cold read-only data (unwind tables, the constants of cold code):
#     nothing it runs or reads lies outside. Linux maps 64 KiB around each
#     page touched, so one call into the cold text shows as a second window.
#     Run tools/hot-text.sh when it fails.
# Usage: tools/check-hot-text.sh lib/libingot.so   (make check-hot-text)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
LIST=$ROOT/mk/hot-functions.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# 1. Names: the functions of LIB's symbol table, .part/.cold clones folded.
${NM:-nm} "$LIB" | awk '$2 ~ /^[tTwW]$/ { print $3 }' |
	sed 's/\.\(part\|constprop\|isra\|cold\)\..*//; s/\.\(part\|constprop\|isra\|cold\)$//' |
	sort -u >"$TMP/defined"
grep -v '^#' "$LIST" | grep -v '^$' | sort -u >"$TMP/listed"
missing=$(awk -v defined="$TMP/defined" -v listed="$TMP/listed" '
	BEGIN {
		while ((getline n < defined) > 0) def[n] = 1
		while ((getline n < listed) > 0) lst[n] = 1
		for (n in lst) {
			if (n in def) continue
			plain = n
			if (sub(/^ingot_/, "", plain) && (plain in lst)) continue
			print n
		}
	}' | sort)
if [[ -n $missing ]]; then
	echo "check-hot-text: $(wc -w <<<"$missing") names of mk/hot-functions.txt are no function of $LIB:" \
		$missing "(run tools/hot-text.sh)" >&2
	fail=1
fi

# 2. Residency: the program stops before exit and the script reads its smaps.
cat >"$TMP/small.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *blocks[512];

static void *free_blocks(void *arg)
{
	(void)arg;
	for (int i = 0; i < 512; i++)
		free(blocks[i]);
	return NULL;
}

int main(void)
{
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 512; i++) {
			size_t size = (size_t)16 << (i % 13); /* 16 B .. 64 KiB */
			blocks[i] = i % 3 ? malloc(size) : calloc(1, size);
			memset(blocks[i], i, 8);
		}
		for (int i = 0; i < 512; i += 7)
			blocks[i] = realloc(blocks[i], (size_t)i * 24 + 1);
		void *aligned = NULL;
		if (posix_memalign(&aligned, 256, 1000) == 0)
			free(aligned);
		pthread_t thread;
		if (pthread_create(&thread, NULL, free_blocks, NULL) != 0 || pthread_join(thread, NULL) != 0)
			return 1;
	}
	puts("ready");
	fflush(stdout);
	getchar(); /* the script reads /proc/<pid>/smaps now */
	return 0;
}
EOF
${CC:-cc} -O1 -o "$TMP/small" "$TMP/small.c" -lpthread
mkfifo "$TMP/in" "$TMP/out"
LD_PRELOAD=$LIB "$TMP/small" <"$TMP/in" >"$TMP/out" &
pid=$!
exec 3>"$TMP/in"
read -r ready <"$TMP/out" || true
# "start-end perms offset dev inode path" headers, then Rss: lines. The
# library's mappings in address order: first read-only (headers, .rodata),
# the text, then the cold read-only segment (unwind tables, cold constants),
# then its data; the loader's PROT_NONE gaps between them count for nothing.
awk -v lib="$LIB" '
	/^[0-9a-f]+-[0-9a-f]+ / {
		part = ""
		if ($NF == lib && $2 ~ /x/)
			part = ++ncode == 1 ? "text" : "more text"
		else if ($NF == lib && $2 ~ /^r-/ && ncode && !cold_ro++)
			part = "cold read-only data"
		next
	}
	part != "" && /^Rss:/ { rss[part] += $2 }
	END {
		if (ncode != 1 || !cold_ro) {
			printf "check-hot-text: %s lacks the segments of mk/layout.ld (one text, a cold read-only one after it)\n", lib > "/dev/stderr"
			exit 1
		}
		printf "check-hot-text: resident KiB: text %d, cold read-only data %d\n", rss["text"], rss["cold read-only data"]
		if (rss["text"] > 64 || rss["cold read-only data"] != 0) {
			print "check-hot-text: a small program runs code or reads constants outside the first 64 KiB of text and the hot constants (run tools/hot-text.sh, or see mk/layout.ld)" > "/dev/stderr"
			exit 1
		}
	}' "/proc/$pid/smaps" || fail=1
exec 3>&-
wait "$pid" || fail=1
[[ $ready == ready ]] || { echo "check-hot-text: the small program did not run" >&2; fail=1; }
((fail == 0)) && echo "check-hot-text: PASS ($(wc -l <"$TMP/listed") names)"
exit "$fail"
