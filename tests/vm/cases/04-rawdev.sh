#!/usr/bin/env bash
# A deliberately broken guest (no driver; BAR0 and DMA from user space) feeds
# the card bad rings, doorbells, descriptors and random register writes. The
# card answers each with its documented error, QEMU logs guest errors and
# survives, and the driver then binds and works.
. "$(dirname "$0")/common.sh"
run_vm --no-module --qemu-log "$WORK/qemu.log" -- \
	't_rawdev 400 4000; modprobe bnnacc; t_identify'
n=$(grep -c . "$WORK/qemu.log" || true)
echo "QEMU logged $n guest-error lines; first ones:"
head -n 5 "$WORK/qemu.log"
[ "$n" -gt 20 ]
grep -aq 't_rawdev: PASS' "$WORK/vm.log"
