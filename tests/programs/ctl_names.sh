#!/usr/bin/env bash
# ctl_names.sh — the mallctl names of jemalloc's manual, one a line:
#   name|type|access
# read mechanically from the MALLCTL NAMESPACE section of jemalloc(3)
# (Debian's libjemalloc-dev: /usr/share/man/man3/jemalloc.3.gz). Each entry
# there opens a paragraph: "name (type) access [build flag]". {counter} is
# expanded to the manual's mutex counters and {extent_type} to dirty, muzzy
# and retained; <i> and <j> stay, for the reader to fill in.
#
# Usage: tests/programs/ctl_names.sh [MANPAGE] > tests/jemalloc-5.3.mallctl
set -euo pipefail
MAN=${1:-/usr/share/man/man3/jemalloc.3.gz}
if [[ ! -r $MAN ]]; then
	echo "ctl_names: no $MAN; install libjemalloc-dev" >&2
	exit 1
fi
zcat -f "$MAN" | sed 's/\\&//g; s/\\-/-/g' |
	sed -n '/^\.SH "MALLCTL NAMESPACE"/,/^\.SH /p' |
	awk '
	# the mutex counters and their types, as the manual lists them
	BEGIN {
		nc = split("num_ops num_spin_acq num_wait max_wait_time total_wait_time max_num_thds num_owner_switch", counter, " ")
		for (k = 1; k <= nc; k++) ctype[counter[k]] = "uint64_t"
		ctype["max_num_thds"] = "uint32_t"
		split("dirty muzzy retained", ext, " ")
	}
	prev == ".PP" && /\(\\fB/ {
		name = $0; sub(/ \(\\fB.*/, "", name); sub(/;$/, "", name)
		type = $0; sub(/^[^(]*\(/, "", type); sub(/\) .*/, "", type); gsub(/\\f[BR]/, "", type)
		access = $0; sub(/^[^)]*\) /, "", access); sub(/ \[.*/, "", access)
		if (name ~ /\{counter\}/) {
			for (k = 1; k <= nc; k++) {
				n = name; sub(/\{counter\}/, counter[k], n)
				print n "|" ctype[counter[k]] "|" access
			}
		} else if (name ~ /\{extent_type\}/) {
			for (k = 1; k <= 3; k++) {
				n = name; sub(/\{extent_type\}/, ext[k], n)
				print n "|" type "|" access
			}
		} else {
			print name "|" type "|" access
		}
	}
	{ prev = $0 }'
