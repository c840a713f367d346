#!/bin/sh
# hot-sections.sh LIST OBJECT — renames the section .text.NAME (and
# .text.NAME.part.N and the like) of every function NAME of LIST in OBJECT to
# .text.hot.NAME, which the linker places together at the start of .text
# (before any other function's section). LIST is mk/hot-functions.txt: the
# functions small programs run (see the Makefile, "Code layout"). Objects
# compiled without -ffunction-sections are left as they are.
set -e
list=$1
obj=$2
args=$(${READELF:-readelf} -SW "$obj" | sed -n 's/.*\] \.text\.\([^ ]*\) .*/\1/p' | sort -u |
	awk -v list="$list" '
		BEGIN { while ((getline line < list) > 0) if (line !~ /^#/ && line != "") hot[line] = 1 }
		{ name = $0; sub(/\.(part|constprop|isra|cold)\..*$/, "", name) }
		name in hot && $0 !~ /^(hot|unlikely|startup|exit)\./ { printf " --rename-section .text.%s=.text.hot.%s", $0, $0 }')
[ -z "$args" ] || ${OBJCOPY:-objcopy} $args "$obj"
