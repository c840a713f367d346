#!/bin/sh
# hot-sections.sh LIST OBJECT — lays out one object of the shared libraries
# (see the Makefile, "Code layout"):
#  - renames the section .text.NAME (and .text.NAME.part.N and the like) of
#    every function NAME of LIST (mk/hot-functions.txt: the functions small
#    programs run) to .text.hot.NAME, which the linker places together at the
#    start of .text, before any other function's section;
#  - renames the section .bss.NAME of every zeroed variable of 1 KiB or more
#    to .lbss.NAME, which the linker places after .bss (x86-64's section for
#    large data; elsewhere it follows .bss as an orphan), so that the small
#    variables start-up writes share a few pages instead of lying between
#    tables whose pages mostly stay untouched (with 4 KiB as the bound, three
#    tables of 4000 bytes spread them over three pages, not two).
# Objects compiled without -ffunction-sections and -fdata-sections are left
# as they are.
set -e
list=$1
obj=$2
sections=$(${READELF:-readelf} -SW "$obj")
hot=$(printf '%s\n' "$sections" | sed -n 's/.*\] \.text\.\([^ ]*\) .*/\1/p' | sort -u |
	awk -v list="$list" '
		BEGIN { while ((getline line < list) > 0) if (line !~ /^#/ && line != "") hot[line] = 1 }
		{ name = $0; sub(/\.(part|constprop|isra|cold)\..*$/, "", name) }
		name in hot && $0 !~ /^(hot|unlikely|startup|exit)\./ { printf " --rename-section .text.%s=.text.hot.%s", $0, $0 }')
# readelf -SW: "[Nr] Name Type Address Off Size ...", Size in hex with leading
# zeros; 1 KiB or more is four digits or more, or three from 400.
big=$(printf '%s\n' "$sections" | awk '{
	for (i = 1; i <= NF; i++)
		if ($i ~ /^\.bss\./) {
			size = $(i + 4)
			sub(/^0+/, "", size)
			if (length(size) >= 4 || (length(size) == 3 && size >= "400"))
				printf " --rename-section %s=.lbss%s", $i, substr($i, 5)
		}
}')
[ -z "$hot$big" ] || ${OBJCOPY:-objcopy} $hot $big "$obj"
