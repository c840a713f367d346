# mk/ports.mk — ingot on other targets through its arch layer (issue 7).
#
#   make windows         build/windows/libingot.a (core + arch/windows.c, mingw-w64,
#                        ingot_* names only), ingot_test.exe and arch_test.exe
#   make test-windows    runs both programs under Wine
#   make aarch64         build/aarch64/libingot.a (core + arch/linux.c, cross-built),
#                        ingot_test and arch_test, static aarch64 executables
#   make test-aarch64    runs both under qemu-aarch64
#   make baremetal       build/baremetal/libingot.a (core + arch/region.c) for a
#                        Cortex-M4, small-footprint profile, and ingot_demo.elf, a
#                        freestanding program linking it; prints arm-none-eabi-size
#   make test-baremetal  runs the demo (ingot_demo_ram.elf, linked to run from RAM)
#                        under qemu-arm in user mode: its hooks make Linux system
#                        calls to print and exit
#   make test-region     tests/test_region.c (Criterion) on the host, against the core
#                        built with arch/region.c and the small-footprint options
#   make test-portable   the portable programs on the host (arch/linux.c), to check
#                        the programs themselves
#   make test-ports      every test-* target above
#
# Options (make VAR=value), besides DEBUG, STATS and HARDENED, which apply here too:
#   WIN_CC, WIN_AR     mingw-w64 compiler and archiver (x86_64-w64-mingw32-gcc, -ar)
#   WINE               Wine launcher (wine); WINEPREFIX defaults to build/windows/wine
#   A64_CC, A64_AR     aarch64 cross compiler and archiver (aarch64-linux-gnu-gcc, -ar)
#   QEMU_A64           qemu-aarch64 command (qemu-aarch64 -L /usr/aarch64-linux-gnu)
#   BM_CC, BM_AR, BM_SIZE   arm-none-eabi-gcc, -ar, -size
#   QEMU_ARM           qemu-arm command (qemu-arm)
#   PORT_SCALE         multiplies the stress work of ingot_test (default 1)
#
# Each port compiles src/ itself into build/<port>/ with its own size-class
# table, so ports never mix with the host's objects. The small-footprint
# profile (baremetal, test-region) sets the core's build-time constants:
# SMALL_DEFS below.

WIN_CC     ?= x86_64-w64-mingw32-gcc
WIN_AR     ?= x86_64-w64-mingw32-ar
WINE       ?= wine
A64_CC     ?= aarch64-linux-gnu-gcc
A64_AR     ?= aarch64-linux-gnu-ar
QEMU_A64   ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
BM_CC      ?= arm-none-eabi-gcc
BM_AR      ?= arm-none-eabi-ar
BM_SIZE    ?= arm-none-eabi-size
QEMU_ARM   ?= qemu-arm
PORT_SCALE ?= 1

PORT_HDR   := $(wildcard src/*.h src/*.inc include/*.h arch/arch.h)
PORT_DEFS  := -DINGOT_DEBUG=$(DEBUG) -DINGOT_STATS=$(STATS) -DINGOT_HARDENED=$(HARDENED) \
              -DINGOT_OVERRIDE=0
PORT_WARN  := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
PORT_WARN  += -Werror
endif
PORT_TEST_WARN   := -Wall -Wextra -Wshadow $(if $(filter 1,$(WERROR)),-Werror)
PORT_TEST_CFLAGS := -std=gnu11 -O2 -g $(PORT_TEST_WARN) -Iinclude -Iarch -Itests/portable

# The small-footprint profile: 2 KiB pages, 64 KiB chunks, metadata in
# 8 KiB blocks, no cache of freed huge mappings, static tables for 4 arenas
# and 4 explicit caches, no heap profiler (no unwinder or files there), and
# no thread-local storage (one thread of
# execution; thread caches are off because region.c reports has_threads =
# false). The page map covers only the region.
# Measured on a 256 KiB region, 2 KiB pages leave more to the program than
# 1 KiB (less per-span metadata) or 4 KiB ones (which need 128 KiB chunks).
SMALL_DEFS := -DINGOT_LG_PAGE=11 -DINGOT_LG_CHUNK=16 -DINGOT_LG_BASE_BLOCK=13 \
              -DINGOT_HUGE_CACHE_MAX=0 -DINGOT_ARENAS_MAX=4 -DINGOT_TCACHES_MAX=4 \
              -DINGOT_THREAD_LOCAL= -DINGOT_PAGEMAP_RANGE=1 -DINGOT_PROF=0
SMALL_LG_PAGE := 11

.PHONY: windows test-windows aarch64 test-aarch64 baremetal test-baremetal test-region \
        test-portable test-ports FORCE

# ---- per-port core ---------------------------------------------------------
#
# $(call port_core,PORT,CC,AR,CORE_FLAGS,ARCH_FLAGS,ARCH_SRC,LG_PAGE) defines
# build/PORT/libingot.a from src/*.c and ARCH_SRC. build/PORT/flags holds the
# flags of the last build, so changing an option rebuilds the port.
define port_core
build/$(1)/flags: FORCE
	@mkdir -p build/$(1)
	@echo '$(2) $(4) $(5) $(6) LG_PAGE=$(7)' | cmp -s - $$@ || \
		echo '$(2) $(4) $(5) $(6) LG_PAGE=$(7)' > $$@

build/$(1)/gen/sizeclass_table.h: tools/gen_sizeclass.c build/$(1)/flags
	@mkdir -p $$(@D)
	$$(CC) -std=c11 -O1 -o build/$(1)/gen/gen_sizeclass $$<
	build/$(1)/gen/gen_sizeclass $(7) > $$@.tmp && mv $$@.tmp $$@

build/$(1)/obj/%.o: src/%.c $$(PORT_HDR) build/$(1)/gen/sizeclass_table.h build/$(1)/flags
	@mkdir -p $$(@D)
	$(2) $(4) -Ibuild/$(1)/gen -c $$< -o $$@

build/$(1)/obj/arch.o: $(6) $(ARCH_HDR) build/$(1)/flags
	@mkdir -p $$(@D)
	$(2) $(5) -c $$< -o $$@

build/$(1)/libingot.a: $$(CORE_SRC:src/%.c=build/$(1)/obj/%.o) build/$(1)/obj/arch.o
	rm -f $$@ && $(3) rcs $$@ $$^
endef

# ---- Windows (mingw-w64, Wine) -----------------------------------------------

WIN_CORE_FLAGS := -std=c11 -O2 -g -ffreestanding -fno-stack-protector $(PORT_WARN) \
                  $(PORT_DEFS) -DINGOT_LG_PAGE=12 -Iinclude -Iarch
WIN_ARCH_FLAGS := -std=gnu11 -O2 -g $(PORT_WARN) $(PORT_DEFS) -Iinclude -Iarch
WIN_LIBS       := -lsynchronization -lbcrypt
# -static: no libgcc or winpthread DLLs next to the programs.
WIN_LDFLAGS    := -static

$(eval $(call port_core,windows,$(WIN_CC),$(WIN_AR),$(WIN_CORE_FLAGS),$(WIN_ARCH_FLAGS),arch/windows.c,12))

windows: build/windows/libingot.a build/windows/ingot_test.exe build/windows/arch_test.exe

build/windows/ingot_test.exe: tests/portable/ingot_test.c tests/portable/harness.h \
                              tests/portable/threads.h build/windows/libingot.a
	$(WIN_CC) $(PORT_TEST_CFLAGS) $(WIN_LDFLAGS) -o $@ $< build/windows/libingot.a $(WIN_LIBS)

build/windows/arch_test.exe: tests/portable/arch_test.c tests/portable/harness.h \
                             tests/portable/threads.h arch/windows.c $(ARCH_HDR)
	$(WIN_CC) $(PORT_TEST_CFLAGS) $(WIN_LDFLAGS) -o $@ $< arch/windows.c $(WIN_LIBS)

# Wine makes its prefix on first use (some seconds); mono and gecko are not
# needed by console programs, so their installers are switched off.
WINEPREFIX ?= $(CURDIR)/build/windows/wine
WINE_ENV   := WINEPREFIX=$(WINEPREFIX) WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml='

test-windows: windows
	$(WINE_ENV) $(WINE) build/windows/arch_test.exe
	$(WINE_ENV) $(WINE) build/windows/ingot_test.exe $(PORT_SCALE)

# ---- aarch64 Linux (cross, qemu-user) ------------------------------------------

A64_CORE_FLAGS := -std=c11 -O2 -g -fPIC -ffreestanding -fvisibility=hidden -fno-plt \
                  -ftls-model=initial-exec -fno-stack-protector $(PORT_WARN) $(PORT_DEFS) \
                  -DINGOT_LG_PAGE=12 -Iinclude -Iarch
A64_ARCH_FLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden $(PORT_WARN) $(PORT_DEFS) \
                  -Iinclude -Iarch

$(eval $(call port_core,aarch64,$(A64_CC),$(A64_AR),$(A64_CORE_FLAGS),$(A64_ARCH_FLAGS),arch/linux.c,12))

aarch64: build/aarch64/libingot.a build/aarch64/ingot_test build/aarch64/arch_test

build/aarch64/ingot_test: tests/portable/ingot_test.c tests/portable/harness.h \
                          tests/portable/threads.h build/aarch64/libingot.a
	$(A64_CC) $(PORT_TEST_CFLAGS) -static -pthread -o $@ $< build/aarch64/libingot.a

build/aarch64/arch_test: tests/portable/arch_test.c tests/portable/harness.h \
                         tests/portable/threads.h arch/linux.c $(ARCH_HDR)
	$(A64_CC) $(PORT_TEST_CFLAGS) -static -pthread -o $@ $< arch/linux.c

# The same program with madvise as a large-page kernel does it (see
# tests/portable/kernel_madvise.c), run with 16 and 64 KiB pages.
build/aarch64/ingot_test_pages: tests/portable/ingot_test.c tests/portable/kernel_madvise.c \
                                tests/portable/harness.h tests/portable/threads.h \
                                build/aarch64/libingot.a
	$(A64_CC) $(PORT_TEST_CFLAGS) -static -pthread -Wl,--wrap=madvise -o $@ $< \
		tests/portable/kernel_madvise.c build/aarch64/libingot.a

test-aarch64: aarch64 build/aarch64/ingot_test_pages
	$(QEMU_A64) build/aarch64/arch_test
	$(QEMU_A64) build/aarch64/ingot_test $(PORT_SCALE)
	$(QEMU_A64) -p 16384 build/aarch64/ingot_test_pages $(PORT_SCALE)
	$(QEMU_A64) -p 65536 build/aarch64/ingot_test_pages $(PORT_SCALE)

# ---- bare metal (Cortex-M4, arch/region.c) -----------------------------------------

BM_CPU        := -mcpu=cortex-m4 -mthumb
BM_CORE_FLAGS := -std=c11 -Os -g $(BM_CPU) -ffreestanding -nostdlib -ffunction-sections \
                 -fdata-sections -fno-stack-protector $(PORT_WARN) $(PORT_DEFS) $(SMALL_DEFS) \
                 -Iinclude -Iarch
BM_ARCH_FLAGS := -std=gnu11 -Os -g $(BM_CPU) -ffreestanding -nostdlib -ffunction-sections \
                 -fdata-sections $(PORT_WARN) $(PORT_DEFS) $(SMALL_DEFS) -Iinclude -Iarch
BM_DEMO_FLAGS := -std=gnu11 -Os -g $(BM_CPU) -ffreestanding -nostdlib -nostartfiles \
                 -fno-tree-loop-distribute-patterns -ffunction-sections -fdata-sections \
                 $(PORT_TEST_WARN) -Iinclude -Wl,--gc-sections
BM_DEMO_DEPS  := tests/portable/baremetal/demo.c build/baremetal/libingot.a

$(eval $(call port_core,baremetal,$(BM_CC),$(BM_AR),$(BM_CORE_FLAGS),$(BM_ARCH_FLAGS),arch/region.c,$(SMALL_LG_PAGE)))

baremetal: build/baremetal/libingot.a build/baremetal/ingot_demo.elf build/baremetal/ingot_demo_ram.elf
	@echo "== arm-none-eabi-size: all objects of libingot.a (before the linker drops unused code)"
	@$(BM_SIZE) -t build/baremetal/libingot.a | tail -n 1
	@echo "== arm-none-eabi-size: ingot_demo.elf (ingot, the demo and its start-up code; the region is not counted)"
	@$(BM_SIZE) build/baremetal/ingot_demo.elf

# Flash and RAM, as on a board: the size figures come from this one.
build/baremetal/ingot_demo.elf: $(BM_DEMO_DEPS) tests/portable/baremetal/demo.ld
	$(BM_CC) $(BM_DEMO_FLAGS) -Wl,-T,tests/portable/baremetal/demo.ld \
		-Wl,-Map,build/baremetal/ingot_demo.map -o $@ tests/portable/baremetal/demo.c \
		build/baremetal/libingot.a -lgcc

# Everything in RAM, for qemu-arm.
build/baremetal/ingot_demo_ram.elf: $(BM_DEMO_DEPS) tests/portable/baremetal/demo-ram.ld
	$(BM_CC) $(BM_DEMO_FLAGS) -Wl,-T,tests/portable/baremetal/demo-ram.ld -o $@ \
		tests/portable/baremetal/demo.c build/baremetal/libingot.a -lgcc

test-baremetal: build/baremetal/ingot_demo_ram.elf
	$(QEMU_ARM) build/baremetal/ingot_demo_ram.elf

# ---- the region back end on the host (Criterion) -------------------------------------

REGION_CORE_FLAGS := -std=c11 -O2 -g -ffreestanding -fno-stack-protector $(PORT_WARN) \
                     $(PORT_DEFS) $(SMALL_DEFS) -Iinclude -Iarch
REGION_ARCH_FLAGS := -std=gnu11 -O2 -g $(PORT_WARN) $(PORT_DEFS) $(SMALL_DEFS) -Iinclude -Iarch

$(eval $(call port_core,region,$(CC),ar,$(REGION_CORE_FLAGS),$(REGION_ARCH_FLAGS),arch/region.c,$(SMALL_LG_PAGE)))

build/region/test_region: tests/test_region.c build/region/libingot.a
	$(CC) -std=gnu11 -O2 -g $(PORT_TEST_WARN) -Iinclude -Iarch $(SMALL_DEFS) -o $@ $< \
		build/region/libingot.a -lcriterion

test-region: build/region/test_region
	$(call run_suites,build/region/test_region,)

# ---- the portable programs on the host -------------------------------------------------

HOST_CORE_FLAGS := $(A64_CORE_FLAGS)
$(eval $(call port_core,host,$(CC),ar,$(HOST_CORE_FLAGS),$(A64_ARCH_FLAGS),arch/linux.c,12))

build/host/ingot_test: tests/portable/ingot_test.c tests/portable/harness.h \
                       tests/portable/threads.h build/host/libingot.a
	$(CC) $(PORT_TEST_CFLAGS) -pthread -o $@ $< build/host/libingot.a

build/host/arch_test: tests/portable/arch_test.c tests/portable/harness.h \
                      tests/portable/threads.h arch/linux.c $(ARCH_HDR)
	$(CC) $(PORT_TEST_CFLAGS) -pthread -o $@ $< arch/linux.c

test-portable: build/host/ingot_test build/host/arch_test
	build/host/arch_test
	build/host/ingot_test $(PORT_SCALE)

test-ports: test-portable test-region test-windows test-aarch64 test-baremetal

FORCE:
