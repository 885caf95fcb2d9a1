#!/usr/bin/env bash
# check-debug.sh - `make vm-check-debug`: the unit and VM suites again, with
#
#   * the guest kernel built by scripts/build-debug-kernel.sh (KASAN, lockdep,
#     DEBUG_ATOMIC_SLEEP, kmemleak, DEBUG_OBJECTS, UBSAN, DMA-API debugging)
#     and our module built against it;
#   * the library, daemon, demo and their tests built with SAN=1
#     (AddressSanitizer + UndefinedBehaviorSanitizer, leaks included), both
#     the Check suites on the host and the programs inside the VM;
#   * QEMU built with ASan + UBSan (scripts/build-qemu.sh --san) for the
#     device fuzzing case (71-fuzz-device).
#
# Everything lands in build/debug. Any kernel report, kmemleak suspect or
# sanitizer report fails the run (tests/vm/init, run-vm.sh).
# usage: check-debug.sh [VM case names...]   (default: every case)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tree=$(scripts/build-debug-kernel.sh)
rel=$(cat "$tree/RELEASE")
build=$top/build/debug

t0=$(date +%s)
echo "check-debug: kernel $rel, userspace with ASan+UBSan ($build)"
make --no-print-directory BUILD="$build" SAN=1 KDIR="$tree" KVER="$rel" all
make --no-print-directory BUILD="$build" SAN=1 KDIR="$tree" KVER="$rel" unit \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "check-debug: sanitized unit suites passed ($(($(date +%s) - t0)) s)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	tests/host/daemon-sim.sh "$build"
echo "check-debug: sanitized daemon on simulated cards passed ($(($(date +%s) - t0)) s)"

# The debug kernel runs the bench about 2-3 times slower under TCG: timeouts
# scale, and KASAN's shadow and kmemleak's pool want more guest memory.
scripts/build-qemu.sh --san > /dev/null
# 71-fuzz-device runs on Debian's kernel with the normal build's module.
make --no-print-directory module guest > /dev/null
BUILD=$build KVER=$rel VM_QEMU_SAN=1 KDIR=$tree VM_KERNEL=$tree/arch/x86/boot/bzImage VM_TIMEOUT_SCALE=3 VM_MEM=640 \
	VM_LOGS=$build/vm/logs tests/vm/run-all.sh "$@"
# Behind the IOMMU too, where DMA-API debug also checks at every unbind
# that the driver left no coherent allocation behind.
if [ $# -eq 0 ]; then
	BUILD=$build KVER=$rel VM_QEMU_SAN=1 KDIR=$tree VM_KERNEL=$tree/arch/x86/boot/bzImage \
		VM_TIMEOUT_SCALE=3 VM_MEM=640 VM_IOMMU=1 VM_LOGS=$build/vm/logs-iommu \
		tests/vm/run-all.sh 34-unplug 35-close-inflight
fi
echo "check-debug: $(($(date +%s) - t0)) s"
