# ingot — build.
#
# Build options (make VAR=value):
#   DEBUG=1       assertions and junk filling; ingot_check() on demand is in every build
#   STATS=0       compile the statistics counters out
#   HARDENED=1    every hardening in src/hardening.h (see README)
#   ARCH=linux    arch back end: linux, posix (other Unix)
#   LG_PAGE=12    log2 of ingot's page (at least the OS page on the machine)
#   CC, CFLAGS, LDFLAGS as usual; WERROR=1 turns warnings into errors (on when CI is set)
#
# Outputs (all under lib/):
#   libingot.a, libingot.so   ingot with the standard C names (static link or LD_PRELOAD)
#   libjemalloc.so.2          the jemalloc stand-in (soname libjemalloc.so.2)
# Other targets live in mk/*.mk, one file per area (tests, bench, fuzz, ports, ...).

CC       ?= cc
DEBUG    ?= 0
STATS    ?= 1
HARDENED ?= 0
ARCH     ?= linux
LG_PAGE  ?= 12
WERROR   ?= $(if $(CI),1,0)
OPT      ?= -O2

# Objects of each variant go to their own folder so that variants never mix.
VARIANT  := $(ARCH)-d$(DEBUG)-s$(STATS)-h$(HARDENED)-p$(LG_PAGE)
BUILD    := build/$(VARIANT)
# The size-class table depends on LG_PAGE only: one per page size.
GEN      := build/gen-p$(LG_PAGE)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN     += -Werror
endif

DEFS     := -DINGOT_DEBUG=$(DEBUG) -DINGOT_STATS=$(STATS) -DINGOT_HARDENED=$(HARDENED) \
            -DINGOT_LG_PAGE=$(LG_PAGE)
# src/ is freestanding: no OS or libc header may be reached from it. It is
# C11 (the ports build it with -std=c11); gnu11 adds named address spaces,
# which the x86-64 fast paths use to reach TLS through %fs (tcache_inline.h).
CORE_CFLAGS := -std=gnu11 $(OPT) -g -fPIC -ffreestanding -fvisibility=hidden \
               -fno-plt -ftls-model=initial-exec -fno-stack-protector -ffunction-sections -fdata-sections \
               $(WARN) $(DEFS) -Iinclude -Iarch -I$(GEN) $(CFLAGS)
ARCH_CFLAGS := -std=gnu11 $(OPT) -g -fPIC -fvisibility=hidden -ffunction-sections -fdata-sections $(WARN) $(DEFS) \
               -Iinclude -Iarch $(CFLAGS)

CORE_SRC := $(wildcard src/*.c)
CORE_HDR := $(wildcard src/*.h src/*.inc include/*.h arch/arch.h) $(GEN)/sizeclass_table.h
# What the arch back ends include: arch.h, backend.h, unix.inc.
ARCH_HDR := $(wildcard arch/*.h arch/*.inc)

# Code layout: every function and variable is compiled into a section of its
# own, and the objects of the override flavour (the shared libraries') have the
# sections of the functions small programs run (mk/hot-functions.txt, written
# by tools/hot-text.sh) renamed .text.hot.*, and their large zeroed tables
# moved after the small variables (tools/hot-sections.sh). mk/layout.ld puts
# .rodata with the loader's headers, and the unwind tables and the constants of
# cold code in a segment after the text. Linux maps a file's pages 64 KiB at a
# time around each page a program touches, in windows aligned in the address
# space but starting no lower than the segment's start, from where a window
# near it then runs its full 64 KiB: the hot code first in the text costs a
# small program one window wherever the library lies, not the whole text
# (tools/check-hot-text.sh checks it).
# The segments are aligned to ingot's page (LG_PAGE, at least the OS page:
# 4 KiB on x86-64), not to 64 KiB: the loader maps libc right below a
# preloaded library, so a library on a 64 KiB boundary put libc at the same
# address modulo 64 KiB in every process, one its size decides (for Debian
# 12's libc.so.6 its worst: 1,533-1,538 KiB of it resident in
# bench/footprint.sh's programs, not 1,414-1,460 on average as under glibc,
# where libc lies anywhere), and kept none of the library's own pages more.
HOT_LIST     := mk/hot-functions.txt
HOT_SECTIONS := tools/hot-sections.sh $(HOT_LIST)
SO_PAGE      := $(shell echo $$((1 << ($(LG_PAGE) > 12 ? $(LG_PAGE) : 12))))
# _fini (crti.o, crtn.o: empty; destructors go through .fini_array) lies after
# all of .text and the loader calls it at exit: naming a symbol that does not
# exist leaves DT_FINI out.
SO_LAYOUT    := -Wl,-z,max-page-size=$(SO_PAGE) -Wl,-fini=ingot_no_dt_fini
# mk/layout.ld is GNU ld's script syntax: left out where the linker refuses it.
SO_LAYOUT    += $(shell $(CC) -shared -Wl,-T,mk/layout.ld -o /dev/null -x c /dev/null \
                  2>/dev/null && echo -Wl,-T,mk/layout.ld)
# Relative relocations packed (DT_RELR; the linker adds it where libc loads it,
# glibc 2.36+): the table the loader reads in every process shrinks from 17 KiB
# to 1, and the libraries' first segment from 24 KiB to 9.
SO_LAYOUT    += $(shell $(CC) -shared -Wl,--fatal-warnings -Wl,-z,pack-relative-relocs \
                  -o /dev/null -x c /dev/null 2>/dev/null && echo -Wl,-z,pack-relative-relocs)

# Two flavours of every object: with the standard names (override) and with
# only the ingot_* names (prefixed; used under sanitizers and for embedding).
OBJ_OVR  := $(CORE_SRC:src/%.c=$(BUILD)/ovr/%.o) $(BUILD)/ovr/arch_$(ARCH).o
# The shared libraries' own arch object loads libgcc's unwinder on the first
# backtrace (arch/unix.inc), so that they do not need libgcc_s.so.1; the
# archive's links it, as a static program must.
OBJ_SO   := $(filter-out $(BUILD)/ovr/arch_$(ARCH).o,$(OBJ_OVR)) $(BUILD)/ovr/arch_$(ARCH)_so.o
OBJ_PFX  := $(CORE_SRC:src/%.c=$(BUILD)/pfx/%.o) $(BUILD)/pfx/arch_$(ARCH).o
ARCH_LIBS := -lpthread

.PHONY: all clean
all: lib/libingot.a lib/libingot.so lib/libjemalloc.so.2 lib/libingot-prefixed.a

$(GEN)/sizeclass_table.h: tools/gen_sizeclass.c
	@mkdir -p $(GEN)
	$(CC) -std=c11 -O1 -o $(GEN)/gen_sizeclass $<
	$(GEN)/gen_sizeclass $(LG_PAGE) > $@.tmp && mv $@.tmp $@

$(BUILD)/ovr/%.o: src/%.c $(CORE_HDR) $(HOT_LIST)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -DINGOT_OVERRIDE=1 -c $< -o $@
	$(HOT_SECTIONS) $@
$(BUILD)/pfx/%.o: src/%.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -DINGOT_OVERRIDE=0 -c $< -o $@
$(BUILD)/ovr/arch_%.o: arch/%.c $(ARCH_HDR) $(HOT_LIST)
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -c $< -o $@
	$(HOT_SECTIONS) $@
$(BUILD)/ovr/arch_%_so.o: arch/%.c $(ARCH_HDR) $(HOT_LIST)
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -DINGOT_UNWINDER_DLOPEN=1 -c $< -o $@
	$(HOT_SECTIONS) $@
$(BUILD)/pfx/arch_%.o: arch/%.c $(ARCH_HDR)
	@mkdir -p $(@D)
	$(CC) $(ARCH_CFLAGS) -c $< -o $@

# C++ operators new and delete (cxx/, rules in mk/adopt.mk): the shared
# libraries reference the C++ runtime weakly, so C programs load no
# libstdc++; the archive gets an object with ordinary references.
OBJ_CXX_SO := $(BUILD)/cxx/ingot_new.o
OBJ_CXX_A  := $(BUILD)/cxx/ingot_new_static.o

# lib/ holds one variant at a time. Its stamp names the variant, so that
# asking for another (make LG_PAGE=14, then make) relinks the libraries
# even where that variant's objects are older than them.
LIB_STAMP := lib/.variant-$(VARIANT)
$(LIB_STAMP):
	@mkdir -p lib
	@rm -f lib/.variant-*
	@touch $@

# The archive's copies of the objects have their code in one section
# (tools/archive-sections.sh), whose bounds the heap profiler reads.
OBJ_AR := $(patsubst $(BUILD)/%,$(BUILD)/ar/%,$(OBJ_OVR) $(OBJ_CXX_A))
$(BUILD)/ar/%.o: $(BUILD)/%.o tools/archive-sections.sh
	@mkdir -p $(@D)
	tools/archive-sections.sh $< $@
lib/libingot.a: $(OBJ_AR) $(LIB_STAMP)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)
lib/libingot-prefixed.a: $(OBJ_PFX) $(LIB_STAMP)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)
# The prefixed archive of this variant alone, for tests of other profiles.
$(BUILD)/libingot-prefixed.a: $(OBJ_PFX)
	rm -f $@ && ar rcs $@ $^

lib/libingot.so: $(OBJ_SO) $(OBJ_CXX_SO) $(LIB_STAMP) mk/layout.ld
	$(CC) -shared -Wl,-soname,libingot.so -Wl,-z,nodelete $(SO_LAYOUT) -o $@ $(filter %.o,$^) $(ARCH_LIBS) $(LDFLAGS)
lib/libjemalloc.so.2: $(OBJ_SO) $(OBJ_CXX_SO) $(LIB_STAMP) mk/layout.ld
	$(CC) -shared -Wl,-soname,libjemalloc.so.2 $(SO_LAYOUT) -o $@ $(filter %.o,$^) $(ARCH_LIBS) $(LDFLAGS)

# src/ must stay freestanding: no OS or libc header, no test for an OS.
.PHONY: check-freestanding
check-freestanding:
	@! grep -rnE '#[[:space:]]*include[[:space:]]*<(sys/|unistd|pthread|windows|stdio|stdlib|string|errno|fcntl|time)' src \
		|| (echo "src/ includes an OS or libc header" && false)
	@! grep -rnE '#[[:space:]]*if.*(_WIN32|__linux__|__APPLE__|__FreeBSD__)' src \
		|| (echo "src/ tests for an OS" && false)
	@echo "src/ is freestanding"

# No file of src/ includes the header of a layer above its own (the order
# is the table in src/README.md).
.PHONY: check-layers
check-layers:
	@python3 tools/check-layers.py

clean:
	rm -rf build lib

# Builds ingot and runs a real program on it: Python building and dropping a
# large dict, with ingot's statistics printed at exit.
.PHONY: demo
demo: lib/libingot.so
	LD_PRELOAD=$(CURDIR)/lib/libingot.so INGOT_CONF=stats_print:true PYTHONMALLOC=malloc \
		python3 -c "d = {i: str(i) * 3 for i in range(300000)}; print('python on ingot:', len(d), 'entries'); del d"

-include mk/*.mk
