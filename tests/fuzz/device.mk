# tests/fuzz/device.mk - device fuzzing of the card's QEMU model (included
# by the top Makefile; `make fuzz` runs every target of FUZZ_LONG).
#
#   make qemu-san        build QEMU with ASan + UBSan (scripts/build-qemu.sh
#                        --san; cached apart from the normal build; 867 s
#                        from scratch on 2 shared cores, 15 s after a change
#                        of the device)
#   make fuzz-device     the long run: FUZZ_DEVICE_SECS (600) s of fuzzing on
#                        the ASan QEMU, at least FUZZ_DEVICE_MIN_REGS
#                        (1,000,000) register accesses and
#                        FUZZ_DEVICE_MIN_DESCS (100,000) descriptors; about
#                        12 min in all
#
# tests/vm/guest/f_device.c does the fuzzing with the driver unbound;
# tests/vm/cases/71-fuzz-device.sh (60 s in each VM suite; on the ASan
# QEMU in `make vm-check-debug`) boots the VM,
# watches QMP, QEMU's sanitizer output and the guest-error log, and binds
# the driver afterwards. FUZZ_DEVICE_SEED picks the seed (default: the
# time; printed, so a failure can be replayed). The run prints "FUZZ device
# regs=N descs=N ... guard_violations=0 ...".

FUZZ_DEVICE_SECS ?= 600
FUZZ_DEVICE_MIN_REGS ?= 1000000
FUZZ_DEVICE_MIN_DESCS ?= 100000
FUZZ_LONG += fuzz-device

.PHONY: qemu-san fuzz-device
qemu-san:
	@scripts/build-qemu.sh --san

fuzz-device: module guest qemu-san
	VM_QEMU_SAN=1 FUZZ_DEVICE_SECS=$(FUZZ_DEVICE_SECS) \
	FUZZ_DEVICE_MIN_REGS=$(FUZZ_DEVICE_MIN_REGS) \
	FUZZ_DEVICE_MIN_DESCS=$(FUZZ_DEVICE_MIN_DESCS) \
	FUZZ_DEVICE_SEED=$${FUZZ_DEVICE_SEED:-$$(date +%s)} \
	bash tests/vm/cases/71-fuzz-device.sh
