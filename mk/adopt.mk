# mk/adopt.mk — the ways in (issue 8): make install with pkg-config modules and
# the ingot(3) manual page, C++ operator new/delete, and the Rust crate.
#
#   make install       libraries, headers, ingot.pc and jemalloc.pc, ingot(3)
#                      into $(DESTDIR)$(PREFIX); PREFIX=/usr/local by default
#                      and the CMake package lib/cmake/ingot/ingotConfig.cmake
#                      (+ ingotConfigVersion.cmake): find_package(ingot) gives
#                      ingot::ingot (libingot.so) and ingot::ingot-static
#   make uninstall     removes exactly the files install puts there
#   make man           build/man/ingot.3, generated from man/ingot.3.in and the
#                      option list src/conf_options.inc (tools/gen_manpage.c)
#   make test-cxx      tests/cxx/test_new.cc against lib/libingot.so,
#                      lib/libjemalloc.so.2 and lib/libingot.a, and the operators
#                      exported by both shared libraries (tests/cxx/check_exports.sh)
#   make test-rust     cargo test --offline of bindings/rust with the default
#                      features, with none, and with all (target dir build/rust)
#   make rust-package  the crate as build/rust/package/ingot-X.Y.Z.crate: the
#                      crate's files and a copy of src/, arch/, include/ and
#                      tools/gen_sizeclass.c (as csrc/) staged under
#                      build/rust-stage/ingot, then cargo package --offline
#   make test-rust-package  unpacks that .crate in a temporary folder outside the
#                      tree and runs cargo build and cargo test there
#                      (tests/rust/test_package.sh)
#   make test-rust-select  the allocator selection example
#                      (bindings/rust/examples/select) built with each feature
#                      set, run, and two features refused at compile time
#                      (tests/rust/test_select.sh; target dir build/rust-select)
#   make test-install  install into a temporary prefix, build a C, a jemalloc and
#                      a C++ program with pkg-config, run them, uninstall
#                      (tests/install/test_install.sh)
#   make test-cmake    install into a temporary prefix, configure, build and run a
#                      CMake project that links ingot::ingot and ingot::ingot-static
#                      (tests/install/test_cmake.sh, tests/install/cmake/)
#   make test-adopt    the tests above; `make test` runs them too
#   make adopt-deps    installs what they need when it is missing (Debian): g++,
#                      cargo, pkg-config, man and groff
#
# Options (make VAR=value):
#   PREFIX (default /usr/local), DESTDIR, LIBDIR (PREFIX/lib), INCLUDEDIR
#   (PREFIX/include), MANDIR (PREFIX/share/man), PKGCONFIGDIR (LIBDIR/pkgconfig),
#   CMAKEDIR (LIBDIR/cmake/ingot)
#   CXX (default g++), CARGO (default cargo)
#   ADOPT_LIBDIR  folder of the libraries test-cxx links (default lib)
#
# C++ operators: cxx/ingot_new.cc is compiled twice. $(OBJ_CXX_SO) goes into
# lib/libingot.so and lib/libjemalloc.so.2 and references the C++ runtime
# weakly (the libraries need no libstdc++); $(OBJ_CXX_A) goes into
# lib/libingot.a with ordinary references (only C++ programs pull it out of
# the archive, and they link the runtime anyway).

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/ingot
CARGO        ?= cargo
ADOPT_LIBDIR ?= lib

.PHONY: install uninstall man test-adopt test-cxx test-rust test-install adopt-deps \
        rust-package test-rust-package test-rust-select test-cmake
test: test-adopt
test-adopt: test-cxx test-rust test-rust-package test-rust-select test-install test-cmake

# What these tests need is in tools/debian-packages.txt, installed by make
# deps (these targets do not run it).
adopt-deps: deps

# ---- C++ operator new / delete ------------------------------------------------

OBJ_CXX_SO ?= $(BUILD)/cxx/ingot_new.o
OBJ_CXX_A  ?= $(BUILD)/cxx/ingot_new_static.o
ADOPT_CXXFLAGS := -std=c++17 $(OPT) -g -fPIC -fvisibility=hidden -fno-plt -ffunction-sections -Wall -Wextra -Wshadow \
                  $(if $(filter 1,$(WERROR)),-Werror) -Iinclude $(CXXFLAGS)

$(OBJ_CXX_SO): cxx/ingot_new.cc include/ingot.h $(HOT_LIST)
	@mkdir -p $(@D)
	$(CXX) $(ADOPT_CXXFLAGS) -DINGOT_CXX_WEAK_RUNTIME=1 -c $< -o $@
	$(HOT_SECTIONS) $@
$(OBJ_CXX_A): cxx/ingot_new.cc include/ingot.h
	@mkdir -p $(@D)
	$(CXX) $(ADOPT_CXXFLAGS) -DINGOT_CXX_WEAK_RUNTIME=0 -c $< -o $@

CXX_TEST_DIR   := build/tests/cxx
CXX_TEST_FLAGS := -std=c++17 -O2 -g -Wall -Wextra -Wshadow -Werror -Iinclude
CXX_TEST_LIBS  := -lcriterion -lpthread -ldl
CXX_TEST_BINS  := $(CXX_TEST_DIR)/test_new_ingot $(CXX_TEST_DIR)/test_new_jemalloc \
                  $(CXX_TEST_DIR)/test_new_static

test-cxx: $(CXX_TEST_BINS) $(ADOPT_LIBDIR)/libingot.so $(ADOPT_LIBDIR)/libjemalloc.so.2
	tests/cxx/check_exports.sh $(ADOPT_LIBDIR)/libingot.so $(ADOPT_LIBDIR)/libjemalloc.so.2
	$(call run_suites,$(CXX_TEST_BINS),)

# TEST_OPERATORS_IN: the object the operators must resolve to ("" = the program).
$(CXX_TEST_DIR)/test_new_ingot: tests/cxx/test_new.cc include/ingot.h $(ADOPT_LIBDIR)/libingot.so
	@mkdir -p $(@D)
	$(CXX) $(CXX_TEST_FLAGS) -DTEST_OPERATORS_IN='"libingot.so"' -o $@ $< \
		$(ADOPT_LIBDIR)/libingot.so -Wl,-rpath,$(abspath $(ADOPT_LIBDIR)) $(CXX_TEST_LIBS)
$(CXX_TEST_DIR)/test_new_jemalloc: tests/cxx/test_new.cc include/ingot.h $(ADOPT_LIBDIR)/libjemalloc.so.2
	@mkdir -p $(@D)
	$(CXX) $(CXX_TEST_FLAGS) -DTEST_OPERATORS_IN='"libjemalloc.so.2"' -o $@ $< \
		$(ADOPT_LIBDIR)/libjemalloc.so.2 -Wl,-rpath,$(abspath $(ADOPT_LIBDIR)) $(CXX_TEST_LIBS)
$(CXX_TEST_DIR)/test_new_static: tests/cxx/test_new.cc include/ingot.h $(ADOPT_LIBDIR)/libingot.a
	@mkdir -p $(@D)
	$(CXX) $(CXX_TEST_FLAGS) -DTEST_OPERATORS_IN='""' -o $@ $< \
		$(ADOPT_LIBDIR)/libingot.a $(CXX_TEST_LIBS)

# ---- Rust crate -------------------------------------------------------------------

RUST_TARGET_DIR := $(CURDIR)/build/rust
RUST_CARGO      := cd bindings/rust && CC="$(CC)" CARGO_TARGET_DIR=$(RUST_TARGET_DIR) $(CARGO)

test-rust:
	$(RUST_CARGO) test --offline
	$(RUST_CARGO) test --offline --no-default-features
	$(RUST_CARGO) test --offline --all-features
	$(RUST_CARGO) run --offline --example size_classes | grep -q '^ *total  *[1-9]'

# The packaged crate. The crate's files and a copy of the C sources (csrc/)
# are staged under build/ (ignored by git, so cargo sees no dirty tree and
# the repository keeps one copy of the sources), and packaged there.
RUST_CRATE_VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' bindings/rust/Cargo.toml)
RUST_STAGE   := build/rust-stage/ingot
RUST_CRATE    = $(RUST_TARGET_DIR)/package/ingot-$(RUST_CRATE_VERSION).crate
RUST_PACKAGE_FLAGS ?= --no-verify

rust-package:
	rm -rf $(RUST_STAGE)
	mkdir -p $(RUST_STAGE)/csrc/tools
	cd bindings/rust && cp -R Cargo.toml Cargo.lock README.md build.rs src tests examples \
		$(CURDIR)/$(RUST_STAGE)/
	cp -R src arch include LICENSE $(RUST_STAGE)/csrc/
	cp tools/gen_sizeclass.c $(RUST_STAGE)/csrc/tools/
	cd $(RUST_STAGE) && CC="$(CC)" CARGO_TARGET_DIR=$(RUST_TARGET_DIR) \
		$(CARGO) package --offline $(RUST_PACKAGE_FLAGS)
	@echo "packaged: $(RUST_CRATE)"

# The allocator selection example, built with each feature set.
test-rust-select:
	CARGO="$(CARGO)" CC="$(CC)" CARGO_TARGET_DIR=$(CURDIR)/build/rust-select tests/rust/test_select.sh

# Unpacks the .crate outside the tree and builds and tests it there.
test-rust-package: rust-package
	CARGO="$(CARGO)" CC="$(CC)" tests/rust/test_package.sh $(RUST_CRATE)

# ---- manual page --------------------------------------------------------------------

MAN_PAGE := build/man/ingot.3

man: $(MAN_PAGE)

build/man/gen_manpage: tools/gen_manpage.c src/conf_options.inc include/ingot.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -Iinclude -Isrc -o $@ $<

$(MAN_PAGE): man/ingot.3.in build/man/gen_manpage
	build/man/gen_manpage $< > $@.tmp && mv $@.tmp $@

# ---- install -------------------------------------------------------------------------

ADOPT_VERSION = $(shell sed -n 's/^\#define INGOT_VERSION "\(.*\)"/\1/p' include/ingot.h)

# Every path install creates, relative to $(DESTDIR): uninstall removes these.
INSTALL_LIBS    := libingot.a libingot-prefixed.a libingot.so libjemalloc.so.2
INSTALLED_FILES := $(INSTALL_LIBS:%=$(LIBDIR)/%) $(LIBDIR)/libjemalloc.so \
                   $(INCLUDEDIR)/ingot.h $(INCLUDEDIR)/jemalloc/jemalloc.h \
                   $(PKGCONFIGDIR)/ingot.pc $(PKGCONFIGDIR)/jemalloc.pc \
                   $(MANDIR)/man3/ingot.3 \
                   $(CMAKEDIR)/ingotConfig.cmake $(CMAKEDIR)/ingotConfigVersion.cmake

# A .pc file for the install paths: ${prefix}-relative where they are under it.
adopt_pc_path = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
define adopt_install_pc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call adopt_pc_path,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call adopt_pc_path,$(INCLUDEDIR))|' -e 's|@VERSION@|$(ADOPT_VERSION)|' \
	    pkgconfig/$(1).in > $(DESTDIR)$(PKGCONFIGDIR)/$(1).tmp
	mv $(DESTDIR)$(PKGCONFIGDIR)/$(1).tmp $(DESTDIR)$(PKGCONFIGDIR)/$(1)
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/$(1)
endef

# The CMake package: absolute paths, as in the .pc files.
define adopt_install_cmake
	sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(ADOPT_VERSION)|' \
	    cmake/$(1).in > $(DESTDIR)$(CMAKEDIR)/$(1).tmp
	mv $(DESTDIR)$(CMAKEDIR)/$(1).tmp $(DESTDIR)$(CMAKEDIR)/$(1)
	chmod 644 $(DESTDIR)$(CMAKEDIR)/$(1)
endef

install: $(INSTALL_LIBS:%=lib/%) $(MAN_PAGE)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/jemalloc \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(CMAKEDIR)
	install -m 644 lib/libingot.a lib/libingot-prefixed.a $(DESTDIR)$(LIBDIR)/
	install -m 755 lib/libingot.so lib/libjemalloc.so.2 $(DESTDIR)$(LIBDIR)/
	ln -sf libjemalloc.so.2 $(DESTDIR)$(LIBDIR)/libjemalloc.so
	install -m 644 include/ingot.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/jemalloc/jemalloc.h $(DESTDIR)$(INCLUDEDIR)/jemalloc/
	$(call adopt_install_pc,ingot.pc)
	$(call adopt_install_pc,jemalloc.pc)
	install -m 644 $(MAN_PAGE) $(DESTDIR)$(MANDIR)/man3/
	$(call adopt_install_cmake,ingotConfig.cmake)
	$(call adopt_install_cmake,ingotConfigVersion.cmake)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))

# The list, one path a line, for tests/install/test_install.sh.
.PHONY: install-list
install-list:
	@printf '%s\n' $(INSTALLED_FILES)

# Through a variable of its own: a recipe that names $(MAKE) would run even
# under make -n.
INSTALL_TEST_MAKE = $(MAKE)
test-install: $(INSTALL_LIBS:%=lib/%) $(MAN_PAGE)
	MAKE="$(INSTALL_TEST_MAKE)" tests/install/test_install.sh

test-cmake: $(INSTALL_LIBS:%=lib/%) $(MAN_PAGE)
	MAKE="$(INSTALL_TEST_MAKE)" tests/install/test_cmake.sh
