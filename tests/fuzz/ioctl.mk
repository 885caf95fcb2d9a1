# tests/fuzz/ioctl.mk - the long run of the ioctl fuzzer (included by the
# top Makefile; `make fuzz` runs every target of FUZZ_LONG).
#
#   make fuzz-ioctl                      1,000,000 calls (~6 min under TCG)
#   make fuzz-ioctl FUZZ_IOCTL_CALLS=N   N calls
#
# tests/vm/guest/f_ioctl.c does the calls (4 processes on two cards);
# tests/vm/cases/70-fuzz-ioctl.sh boots the VM and, every
# FUZZ_IOCTL_CALLS/24 calls, hangs a command (timeout and reset), unplugs a
# card or plugs one back. FUZZ_IOCTL_SEED and FUZZ_IOCTL_WORKERS (from the
# environment) pick the seed and the number of processes. The run prints
# "FUZZ ioctl calls=N errors=N unexpected=0 ..." and fails on any
# unexpected result, hang, leak or kernel report.

FUZZ_IOCTL_CALLS ?= 1000000
FUZZ_LONG += fuzz-ioctl

.PHONY: fuzz-ioctl
fuzz-ioctl: module guest
	FUZZ_IOCTL_CALLS=$(FUZZ_IOCTL_CALLS) tests/vm/cases/70-fuzz-ioctl.sh
