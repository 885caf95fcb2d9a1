#!/usr/bin/env bash
# check-612.sh - the driver on Debian 12's second kernel, Linux 6.12
# (scripts/kver.sh 6.12): the module built against its headers, the VM
# cases booted on its own kernel image (build/k612). `make check` runs a
# representative subset (VM_612_CASES), `make vm-check-612` every case.
#
# usage: check-612.sh [VM case names...]   (default: every case)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
rel=$(scripts/kver.sh 6.12)
build=$top/build/k612
t0=$(date +%s)
echo "check-612: kernel $rel ($build)"
# The module for 6.12; the user space (kernel-independent: guest programs,
# the demo) is the normal build's. Host-only cases (no VM) are the main
# lane's.
make --no-print-directory BUILD="$build" KVER="$rel" KDIR="/usr/src/linux-headers-$rel" \
	module > "$top/build/k612.log" 2>&1 || { tail -n 30 "$top/build/k612.log"; exit 1; }
make --no-print-directory all > /dev/null
for d in guest demo; do
	rm -rf "${build:?}/$d"
	cp -a "$top/build/$d" "$build/$d"
done
BUILD=$build KVER=$rel VM_SKIP_HOST_ONLY=1 VM_LOGS=$build/vm/logs tests/vm/run-all.sh "$@"
echo "check-612: $(($(date +%s) - t0)) s"
