#!/usr/bin/env bash
# Device fuzzing (reliability lane): with no driver bound, f_device feeds
# the card random register accesses and random and mutated descriptors (see
# tests/vm/guest/f_device.c) on QEMU built with ASan and UBSan
# (scripts/build-qemu.sh --san). Fails when
#  - the guest sees a write outside the windows its descriptors allowed, a
#    status the spec does not give, bad output, a broken register invariant,
#    a command that never completes, or IDENTIFY/READ failing after a reset;
#  - QEMU reports a sanitizer error on its stderr ("ERROR: AddressSanitizer",
#    "runtime error:"), or dies;
#  - QMP query-status does not answer within QMP_BOUND_MS during the fuzz
#    (QEMU hung);
#  - the guest-error log (-d guest_errors) lacks a line for a bad input: at
#    least one per register access to no register, per 1/2/8-byte access,
#    per failed command;
#  - the driver does not bind and work afterwards (modprobe, IDENTIFY, jobs).
#
# Environment: FUZZ_DEVICE_SECS (fuzz time, default 60), FUZZ_DEVICE_SEED
# (default 71), FUZZ_DEVICE_MIN_REGS / FUZZ_DEVICE_MIN_DESCS (minimum
# counts), QMP_BOUND_MS (default 10000), QEMU (default: the --san build when
# VM_QEMU_SAN=1, as `make vm-check-debug` and `make fuzz-device` set it,
# else the normal build: the guard-zone checks hold on both).
. "$(dirname "$0")/common.sh"
secs=${FUZZ_DEVICE_SECS:-60}
seed=${FUZZ_DEVICE_SEED:-71}
min_regs=${FUZZ_DEVICE_MIN_REGS:-0}
min_descs=${FUZZ_DEVICE_MIN_DESCS:-0}
bound=${QMP_BOUND_MS:-10000}
# The fuzz drives QEMU with no driver bound: the guest kernel plays no part.
# The debug pass (VM_KERNEL set) runs it on Debian's kernel and the normal
# build (tests/vm/check-debug.sh builds it), with the ASan QEMU; the debug
# kernel has no huge pages for f_device's DMA zone anyway.
if [ -n "${VM_KERNEL:-}" ]; then
	unset VM_KERNEL VM_TIMEOUT_SCALE VM_APPEND
	KVER=$("$top/scripts/kver.sh")
	BUILD=$top/build
	export KVER BUILD
fi
if [ "${VM_QEMU_SAN:-0}" = 1 ]; then
	QEMU=${QEMU:-$("$top/scripts/build-qemu.sh" --san)}
else
	QEMU=${QEMU:-$("$top/scripts/build-qemu.sh")}
fi
export QEMU
# QEMU's own leaks at exit are not the device's; ASan stops at the first
# error; UBSan reports with a stack and carries on (the grep below fails).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
echo "QEMU: $QEMU"
echo "seed $seed, $secs s of fuzzing"

t0=$(date +%s)
run_vm --no-module --qmp "$sock" --qemu-log "$WORK/qemu.log" \
	--timeout $((secs + 300)) -- \
	"f_device -s $seed -t $secs -R $min_regs -D $min_descs
	 modprobe bnnacc
	 t_identify
	 t_jobs quick" 2> "$WORK/qemu.err" &
vm=$!

# QEMU must keep answering its monitor while the guest hammers the card.
qmp_n=0 qmp_max=0 qmp_fail=0
vm_wait_for "$WORK/vm.log" 'f_device: seed' 180 || true
while kill -0 $vm 2>/dev/null; do
	grep -aq '^FUZZ device ' "$WORK/vm.log" && break
	s=$(date +%s%N)
	if timeout 20 python3 "$QMP" "$sock" query-status > "$WORK/qmp.out" 2>&1 &&
	   grep -q '"running"' "$WORK/qmp.out"; then
		ms=$((($(date +%s%N) - s) / 1000000))
		qmp_n=$((qmp_n + 1))
		[ $ms -le $qmp_max ] || qmp_max=$ms
	else
		sleep 1
		if kill -0 $vm 2>/dev/null && ! grep -aq '^FUZZ device ' "$WORK/vm.log"; then
			qmp_fail=$((qmp_fail + 1))
			echo "QMP query-status failed during the fuzz:"
			cat "$WORK/qmp.out"
		fi
	fi
	sleep 2
done
rc=0
wait $vm || rc=$?
echo "VM: exit $rc after $(($(date +%s) - t0)) s"
echo "QMP: $qmp_n query-status answered during the fuzz, slowest $qmp_max ms" \
	"(bound $bound ms), $qmp_fail failed"

fail=0
if grep -aqE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' \
	"$WORK/qemu.err"; then
	echo "QEMU sanitizer report:"
	grep -aE -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/qemu.err" | head -n 80
	fail=1
fi
echo "QEMU stderr: $(grep -c . "$WORK/qemu.err" || true) lines"
head -n 5 "$WORK/qemu.err"
mkdir -p "$BUILD/vm/logs"
cp "$WORK/qemu.err" "$BUILD/vm/logs/$case_name.qemu-stderr" 2>/dev/null || true
grep -a '^FUZZ device' "$WORK/vm.log" || { echo "no FUZZ summary"; fail=1; }
[ $rc -eq 0 ] || { echo "guest command failed (rc $rc)"; fail=1; }
[ $qmp_fail -eq 0 ] && [ $qmp_n -gt 0 ] && [ $qmp_max -le "$bound" ] ||
	{ echo "QEMU monitor unresponsive"; fail=1; }

# Guest errors: every bad input the guest made must have left a line.
reg_unknown=$(log_value reg_unknown || true)
reg_badsize=$(log_value reg_badsize || true)
cmds_failed=$(log_value cmds_failed || true)
nosuch=$(grep -ac 'no such register' "$WORK/qemu.log" || true)
badsize=$(grep -ac "region 'bnnacc-regs', reason: invalid size" "$WORK/qemu.log" || true)
cidlines=$(grep -acE '^bnnacc: [a-z_]+: cid [0-9]+:' "$WORK/qemu.log" || true)
all=$(grep -ac '^bnnacc: ' "$WORK/qemu.log" || true)
echo "guest-error log: $(grep -ac . "$WORK/qemu.log" || true) lines, $all from bnnacc;" \
	"no-register $nosuch (accesses $reg_unknown), bad-size $badsize" \
	"(accesses $reg_badsize), failed-command $cidlines (commands $cmds_failed)"
[ -n "$reg_unknown" ] && [ -n "$cmds_failed" ] && [ -n "$reg_badsize" ] &&
	[ "$reg_unknown" -gt 0 ] && [ "$nosuch" -ge "$reg_unknown" ] &&
	[ "$reg_badsize" -gt 0 ] && [ "$badsize" -ge "$reg_badsize" ] &&
	[ "$cmds_failed" -gt 0 ] && [ "$cidlines" -ge "$cmds_failed" ] ||
	{ echo "guest errors missing from the log"; fail=1; }
grep -aq 'f_device: PASS' "$WORK/vm.log" || fail=1
exit $fail
