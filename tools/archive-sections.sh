#!/bin/sh
# archive-sections.sh OBJECT OUT — the copy of one object that goes into
# lib/libingot.a: every code section (.text, .text.*) renamed ingot_text.
# A program that links the archive gets all of ingot's code in one output
# section, and the linker defines __start_ingot_text and __stop_ingot_text
# around it; the heap profiler's backtraces leave out the frames inside it
# at the top of a stack (arch/linux.c), as they leave out the frames inside
# the shared library when ingot is loaded as one.
set -e
obj=$1
out=$2
renames=$(${READELF:-readelf} -SW "$obj" | sed -n 's/.*\] \(\.text[^ ]*\) .*/\1/p' | sort -u |
	awk '{ printf " --rename-section %s=ingot_text", $0 }')
${OBJCOPY:-objcopy} $renames "$obj" "$out"
