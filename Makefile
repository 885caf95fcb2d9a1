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

export CACHE BUILD

# Components add themselves here from their own build.mk: EXTRA_ALL (built
# by `make`), EXTRA_UNIT_TESTS (test programs run by `make unit`).
EXTRA_ALL :=
EXTRA_UNIT_TESTS :=
-include libbnnacc/build.mk
-include daemon/build.mk
-include demo/build.mk

.PHONY: all help deps qemu module module-install guest unit-bin unit vm-check check \
	bench demo card-demo clean lint

all: qemu module guest unit-bin $(EXTRA_ALL)

help:
	@echo "make            build everything (QEMU from cache, module, tests)"
	@echo "make demo       the paper end to end: train a BNN, transfer it to the card, figures"
	@echo "make card-demo  boot the emulated card and show its conductance histogram"
	@echo "make check      install deps, build, run unit and VM tests"
	@echo "make unit       Check unit tests"
	@echo "make vm-check   VM tests (real driver on the emulated card)"
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
		INSTALL_MOD_STRIP=1 DEPMOD=/bin/true CONFIG_MODULE_SIG_ALL= modules_install
	cp /lib/modules/$(KVER)/modules.order /lib/modules/$(KVER)/modules.builtin /lib/modules/$(KVER)/modules.builtin.modinfo \
		$(STAGE)/lib/modules/$(KVER)/
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

$(BUILD)/guest/%: tests/vm/guest/%.c $(wildcard tests/vm/guest/*.h) uapi/bnnacc.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/vm/guest $(WARN) $(CFLAGS) -static $< -o $@ -lm

# The ioctl ABI from a 32-bit process (compat_ioctl path of the driver).
$(BUILD)/guest/t_compat32: tests/vm/guest/t_compat.c $(wildcard tests/vm/guest/*.h) uapi/bnnacc.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/vm/guest $(WARN) $(CFLAGS) -m32 -static $< -o $@

guest: $(GUEST_PROGS) $(BUILD)/guest/t_compat32

BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/core/libbnccore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< -o $@ $(BUILD)/core/libbnccore.a -lm

bench: $(BENCH_PROGS)
	@for b in $(BENCH_PROGS); do $$b || exit 1; done
	@tests/bench/vm_bench.sh
	@tests/bench/daemon_bench.sh

# ---- VM tests --------------------------------------------------------------
vm-check: all
	tests/vm/run-all.sh

check: deps
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) vm-check

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
