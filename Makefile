# bnnacc - top-level build. `make help` lists the targets.
#
# Heavy, fetched builds (QEMU) live in $(CACHE), outside the clone, keyed by a
# hash of their inputs. Everything else is built under build/.

CACHE	?= /var/cache/bnnacc
BUILD	:= $(CURDIR)/build
KVER	?= $(shell scripts/kver.sh 2>/dev/null)
KDIR	?= /usr/src/linux-headers-$(KVER)
STAGE	:= $(BUILD)/stage

CC	?= cc
CFLAGS	?= -O2 -g
WARN	:= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS := -D_GNU_SOURCE -Iuapi -Iqemu-model
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer build of the library,
# the daemon, the demo and their tests (use a separate BUILD, e.g.
# build/san). Product binaries then link dynamically (LDSTATIC is empty):
# the sanitizer runtimes cannot be linked statically. The guest test
# programs that abuse the driver are not product code: they stay static and
# unsanitized (GUEST_CFLAGS).
SAN	?=
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
GUEST_CFLAGS := $(CFLAGS)
ifeq ($(SAN),1)
override CFLAGS += $(SAN_FLAGS)
LDSTATIC :=
else
LDSTATIC := -static
endif

# VM test cases run at once (tests/vm/run-all.sh): one TCG VM per core.
VM_JOBS	?= 2

export CACHE BUILD VM_JOBS

# Components add themselves here from their own build.mk: EXTRA_ALL (built
# by `make`), EXTRA_UNIT_TESTS (test programs run by `make unit`).
EXTRA_ALL :=
EXTRA_UNIT_TESTS :=
-include libbnnacc/build.mk
-include daemon/build.mk
-include demo/build.mk

# Reliability lane (docs/reliability.md). Fragments under tests/fuzz/ add:
#   FUZZ_LONG    targets of `make fuzz` (the long runs)
#   CHECK_EXTRA  targets `make check` runs after the VM suites (short runs)
FUZZ_LONG :=
CHECK_EXTRA :=
-include $(sort $(wildcard tests/fuzz/*.mk))

.PHONY: all help deps qemu module module-install guest unit-bin unit host-check vm-check check \
	bench demo card-demo clean lint vm-check-debug vm-check-iommu fuzz \
	vm-check-612 vm-check-612-subset

all: qemu module guest unit-bin $(EXTRA_ALL)

help:
	@echo "make            build everything (QEMU from cache, module, tests)"
	@echo "make demo       the paper end to end: train a BNN, transfer it to the card, figures"
	@echo "make card-demo  boot the emulated card and show its conductance histogram"
	@echo "make check      install deps, build, run unit and VM tests"
	@echo "make unit       Check unit tests"
	@echo "make host-check the daemon on simulated cards (bnnaccd --sim), no VM"
	@echo "make vm-check   VM tests (real driver on the emulated card)"
	@echo "make vm-check-iommu  the unplug, close and fuzz cases behind an IOMMU"
	@echo "make vm-check-612    every VM case on Debian 12's Linux 6.12 (check: a subset)"
	@echo "make vm-check-debug  unit + VM tests again: debug kernel (KASAN, lockdep,"
	@echo "                kmemleak, UBSAN...) and ASan+UBSan library and daemon"
	@echo "make fuzz       the long fuzz runs (ioctl, device, model file, protocol)"
	@echo "make qemu       build QEMU with the bnnacc device (cached)"
	@echo "make bench      benchmarks, as BENCH <name> <value> [unit] lines"
	@echo "make lint       checkpatch --strict, W=1 and sparse on the driver"
	@echo "make install    install module, udev rule, DKMS sources (DESTDIR, KVER)"

deps:
	@scripts/install-deps.sh

# ---- QEMU with our device ------------------------------------------------
qemu:
	@scripts/build-qemu.sh

# ---- kernel module ---------------------------------------------------------
module:
	@test -n "$(KVER)" || { scripts/kver.sh; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
	rm -rf $(STAGE)
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(STAGE) INSTALL_MOD_DIR=extra \
		INSTALL_MOD_STRIP=1 DEPMOD=/bin/true CONFIG_MODULE_SIG_ALL= \
		CONFIG_MODULE_COMPRESS_XZ= CONFIG_MODULE_COMPRESS_ZSTD= CONFIG_MODULE_COMPRESS_GZIP= modules_install
	for f in modules.order modules.builtin modules.builtin.modinfo; do \
		if [ -f /lib/modules/$(KVER)/$$f ]; then cp /lib/modules/$(KVER)/$$f $(STAGE)/lib/modules/$(KVER)/; \
		elif [ -f $(KDIR)/$$f ]; then cp $(KDIR)/$$f $(STAGE)/lib/modules/$(KVER)/; fi; done
	/sbin/depmod -b $(STAGE) $(KVER)

# ---- userspace: physics core, unit tests, benchmarks, guest programs ------
CORE_SRC := qemu-model/bnnacc_core.c

$(BUILD)/core/libbnccore.a: $(CORE_SRC) qemu-model/bnnacc_core.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $(CORE_SRC) -o $(@D)/bnnacc_core.o
	ar rcs $@ $(@D)/bnnacc_core.o

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))

$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/core/libbnccore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< -o $@ $(BUILD)/core/libbnccore.a $(CHECK_LIBS) -lm

unit-bin: $(UNIT_TESTS) $(EXTRA_UNIT_TESTS)

unit: unit-bin
	@rc=0; for t in $(UNIT_TESTS) $(EXTRA_UNIT_TESTS); do echo "== $$t"; $$t || rc=1; done; exit $$rc

GUEST_PROGS := $(patsubst tests/vm/guest/%.c,$(BUILD)/guest/%,$(wildcard tests/vm/guest/*.c))

$(BUILD)/guest/%: tests/vm/guest/%.c $(wildcard tests/vm/guest/*.h) $(wildcard uapi/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/vm/guest $(WARN) $(GUEST_CFLAGS) -static $< -o $@ -lm

# The ioctl ABI from a 32-bit process (compat_ioctl path of the driver).
$(BUILD)/guest/t_compat32: tests/vm/guest/t_compat.c $(wildcard tests/vm/guest/*.h) $(wildcard uapi/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/vm/guest $(WARN) $(GUEST_CFLAGS) -m32 -static $< -o $@

guest: $(GUEST_PROGS) $(BUILD)/guest/t_compat32

BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/core/libbnccore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< -o $@ $(BUILD)/core/libbnccore.a -lm

bench: $(BENCH_PROGS)
	@for b in $(BENCH_PROGS); do $$b || exit 1; done
	@tests/bench/vm_bench.sh
	@tests/bench/daemon_bench.sh
	@tests/bench/serving_bench.sh $(BUILD)

# ---- host tests: the daemon on simulated cards (bnnaccd --sim), no VM ----------
host-check: all guest
	tests/host/daemon-sim.sh $(BUILD)

# ---- VM tests --------------------------------------------------------------
vm-check: all
	tests/vm/run-all.sh

# The cases that free DMA memory late if anything does, with the cards
# behind an IOMMU in strict mode (tests/vm/run-vm.sh, VM_IOMMU). Not the
# device fuzzer: it drives the card's registers raw, with guest-physical
# addresses that an IOMMU rightly refuses.
IOMMU_CASES := 34-unplug 35-close-inflight 39-owner 70-fuzz-ioctl
vm-check-iommu: all
	VM_IOMMU=1 VM_LOGS=$(BUILD)/vm/logs-iommu tests/vm/run-all.sh $(IOMMU_CASES)

# Debian 12's second kernel, Linux 6.12 (tests/vm/check-612.sh): make check
# runs this representative subset, vm-check-612 every case.
VM_612_CASES := 01-identify 02-program-read 20-netlink 30-jobs 34-unplug \
	35-close-inflight 37-reset-ioctl 39-owner 40-lib 41-aer-pm 50-daemon
vm-check-612-subset: all
	tests/vm/check-612.sh $(VM_612_CASES)
vm-check-612: all
	tests/vm/check-612.sh

# The same unit and VM suites on the debug kernel with sanitized userspace
# (tests/vm/check-debug.sh builds both, cached; build/debug).
vm-check-debug:
	tests/vm/check-debug.sh

# The debug kernel and the ASan QEMU (both cached) build at the lowest
# priority while the first VM suite keeps one core busy; vm-check-debug
# waits for them (each build holds a lock).
check: deps
	@mkdir -p $(BUILD)
	@nice -n 19 sh -c 'scripts/build-debug-kernel.sh; scripts/build-qemu.sh --san' \
		> $(BUILD)/debug-builds.log 2>&1 &
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) host-check
	$(MAKE) vm-check
	$(MAKE) vm-check-iommu
	$(MAKE) vm-check-612-subset
	$(MAKE) vm-check-debug
	@set -e; for t in $(CHECK_EXTRA); do $(MAKE) $$t; done

fuzz: $(FUZZ_LONG)

demo: deps
	$(MAKE) all
	demo/run-demo.sh $(DEMO_ARGS)

card-demo: deps
	$(MAKE) all
	tests/vm/demo.sh

lint:
	scripts/lint-kernel.sh

# ---- install like a packaged driver (DESTDIR= to stage it) ----------------
.PHONY: install
install: module
	DESTDIR="$(DESTDIR)" KVER="$(KVER)" KDIR="$(KDIR)" scripts/install.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf $(BUILD)
