#!/usr/bin/env bash
# test_install.sh — make install and make uninstall, and what they install.
#
#  1. make install PREFIX=<temporary prefix>: exactly the files of
#     `make install-list` appear, nothing else;
#  2. with only that prefix's pkg-config modules visible, a C program built
#     with `pkg-config --cflags --libs ingot`, a jemalloc program built with
#     `pkg-config --cflags --libs jemalloc` and a C++ program built with
#     `pkg-config --cflags --libs ingot` run, each checking that its
#     allocator comes from the installed library;
#  3. man finds ingot(3) under the prefix and groff renders it without a
#     warning;
#  4. make uninstall leaves no file under the prefix;
#  5. the same with DESTDIR (staged install): files under DESTDIR/PREFIX
#     only, .pc files naming PREFIX, uninstall with DESTDIR removes them.
#
# Usage: tests/install/test_install.sh   (from make test-install; needs the
# libraries of make and build/man/ingot.3 of make man)
# Environment: MAKE (default make), CC (default cc), CXX (default c++).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/install
MAKE=${MAKE:-make}
CC=${CC:-cc}
CXX=${CXX:-c++}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ingot-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

. "$ROOT/tests/checks.sh"

# Files and symlinks under a folder, one path a line, sorted.
files_under() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort); }

make_in_root() { "$MAKE" --no-print-directory -s -C "$ROOT" "$@"; }

# ---- 1. install into a temporary prefix ---------------------------------------

PREFIX=$TMP/prefix
make_in_root install PREFIX="$PREFIX" >"$TMP/install.log" 2>&1 ||
	{ cat "$TMP/install.log" >&2; die "make install PREFIX=$PREFIX failed"; }
make_in_root install-list PREFIX="$PREFIX" | sed "s|^$PREFIX/||" | LC_ALL=C sort >"$TMP/expected"
files_under "$PREFIX" >"$TMP/installed"
diff -u "$TMP/expected" "$TMP/installed" >&2 ||
	die "make install put other files than install-list names (diff above: - expected, + installed)"
pass "make install PREFIX: $(wc -l <"$TMP/expected") files, exactly install-list"
[[ -L $PREFIX/lib/libjemalloc.so && $(readlink "$PREFIX/lib/libjemalloc.so") == libjemalloc.so.2 ]] ||
	die "lib/libjemalloc.so is not a link to libjemalloc.so.2"
[[ -x $PREFIX/lib/libingot.so && -x $PREFIX/lib/libjemalloc.so.2 ]] ||
	die "shared libraries not executable"
pass "libjemalloc.so -> libjemalloc.so.2; shared libraries mode 755"

# ---- 2. programs built with pkg-config -------------------------------------------

# Only the installed modules: Debian's own jemalloc.pc must not answer.
export PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig
unset PKG_CONFIG_PATH
version=$(sed -n 's/^#define INGOT_VERSION "\(.*\)"/\1/p' "$ROOT/include/ingot.h")
[[ $(pkg-config --modversion ingot) == "$version" ]] || die "pkg-config --modversion ingot"
[[ $(pkg-config --variable=libdir ingot) == "$PREFIX/lib" ]] || die "ingot.pc libdir"
[[ $(pkg-config --variable=includedir jemalloc) == "$PREFIX/include" ]] || die "jemalloc.pc includedir"
pkg-config --atleast-version=5.3.0 jemalloc || die "jemalloc.pc older than 5.3.0"
[[ " $(pkg-config --libs jemalloc) " == *" -ljemalloc "* ]] || die "pkg-config --libs jemalloc"
pass "pkg-config: ingot $version and jemalloc 5.3.0 modules with the prefix's paths"

export LD_LIBRARY_PATH=$PREFIX/lib
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -o "$TMP/prog_ingot" "$HERE/prog_ingot.c" \
	$(pkg-config --cflags --libs ingot) -ldl
"$TMP/prog_ingot" "$PREFIX/lib/libingot.so"
pass "C program with pkg-config --cflags --libs ingot runs on the installed libingot.so"

# shellcheck disable=SC2046
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -o "$TMP/prog_jemalloc" "$HERE/prog_jemalloc.c" \
	$(pkg-config --cflags --libs jemalloc) -ldl
"$TMP/prog_jemalloc" "$PREFIX/lib/libjemalloc.so.2"
pass "jemalloc program with pkg-config --cflags --libs jemalloc runs on the installed libjemalloc.so.2"

# shellcheck disable=SC2046
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -o "$TMP/prog_cxx" "$HERE/prog_cxx.cc" \
	$(pkg-config --cflags --libs ingot) -ldl
"$TMP/prog_cxx" "$PREFIX/lib/libingot.so"
pass "C++ program with pkg-config --cflags --libs ingot runs on the installed libingot.so"
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR

# ---- 3. the manual page ------------------------------------------------------------

page=$(MANPATH=$PREFIX/share/man man -w 3 ingot)
[[ $page == "$PREFIX/share/man/man3/ingot.3" ]] || die "man -w 3 ingot found '$page'"
groff -man -Tutf8 -ww -z "$page" 2>"$TMP/groff.err"
[[ ! -s $TMP/groff.err ]] || { cat "$TMP/groff.err" >&2; die "groff warns about ingot(3)"; }
rendered=$(MANWIDTH=100 man -l "$page" 2>/dev/null)
for section in NAME SYNOPSIS DESCRIPTION OPTIONS PROFILES ENVIRONMENT; do
	grep -q "^$section" <<<"$rendered" || die "ingot(3) has no $section section"
done
# Every option of the list is documented, with its default (in the source:
# ".B name", then "(type; default \fBvalue\fR)" or "default empty").
options=0
while IFS=, read -r name default; do
	grep -Eq "^ +$name( |$)" <<<"$rendered" || die "ingot(3) does not document option $name"
	if [[ -z $default ]]; then
		want="default empty)"
	else
		want="default \\fB${default//-/\\-}\\fR)"
	fi
	grep -A1 -x "\.B $name" "$page" | grep -qF "$want" ||
		die "ingot(3) does not give option $name the default '$default'"
	options=$((options + 1))
done < <(sed -n 's/^OPT([A-Z]*, *\([a-z_]*\), *"\{0,1\}\([^",]*\)"\{0,1\},.*/\1,\2/p' \
	"$ROOT/src/conf_options.inc")
listed=$(grep -c '^OPT(' "$ROOT/src/conf_options.inc")
((options > 0 && options == listed)) || die "read $options of the $listed options of src/conf_options.inc"
pass "man finds ingot(3); it renders cleanly and documents all $options options"

# ---- 4. uninstall --------------------------------------------------------------------

make_in_root uninstall PREFIX="$PREFIX" >"$TMP/uninstall.log" 2>&1 ||
	{ cat "$TMP/uninstall.log" >&2; die "make uninstall failed"; }
left=$(files_under "$PREFIX")
[[ -z $left ]] || die "files left after make uninstall: $left"
pass "make uninstall PREFIX: no file left"

# ---- 5. staged install (DESTDIR) ---------------------------------------------------------

STAGE=$TMP/stage
make_in_root install DESTDIR="$STAGE" PREFIX=/opt/ingot >"$TMP/install2.log" 2>&1 ||
	{ cat "$TMP/install2.log" >&2; die "make install DESTDIR=... failed"; }
make_in_root install-list PREFIX=/opt/ingot | sed 's|^/||' | LC_ALL=C sort >"$TMP/expected2"
files_under "$STAGE" >"$TMP/installed2"
diff -u "$TMP/expected2" "$TMP/installed2" >&2 || die "make install DESTDIR: other files than install-list"
grep -qx 'prefix=/opt/ingot' "$STAGE/opt/ingot/lib/pkgconfig/ingot.pc" || die "staged ingot.pc prefix"
[[ $(PKG_CONFIG_LIBDIR=$STAGE/opt/ingot/lib/pkgconfig pkg-config --variable=libdir jemalloc) == /opt/ingot/lib ]] ||
	die "staged jemalloc.pc libdir"
make_in_root uninstall DESTDIR="$STAGE" PREFIX=/opt/ingot >/dev/null 2>&1 || die "make uninstall DESTDIR"
left=$(files_under "$STAGE")
[[ -z $left ]] || die "files left after make uninstall DESTDIR: $left"
pass "make install/uninstall DESTDIR=... PREFIX=/opt/ingot: staged under DESTDIR, .pc names /opt/ingot"

echo "test_install: PASS ($checks checks)"
