#!/usr/bin/env bash
# PCIe errors and power. The host injects AER errors into the card (HMP
# pcie_aer_inject_error through QMP): correctable (RCVR: nothing happens),
# uncorrectable fatal (DLP) while a batch hangs on the card, another is on
# the card behind it and a third is queued (the driver's error handlers
# restart the card: the hung batch ends -EIO, the queued one runs, the array
# keeps its conductances) and uncorrectable non-fatal (COMP_TIME: restarted
# again). Then, in a second VM, the guest suspends to RAM (S3) and the host
# wakes it (QMP system_wakeup): the driver's resume restarts the card, which
# works with its conductances.
. "$(dirname "$0")/common.sh"
hmp() { printf '{"command-line":"%s"}' "$1"; }
run_vm --timeout 180 --qmp "$sock" --share "$share" -- 't_faults aer' &
vm=$!
answer aer-correctable human-monitor-command "$(hmp 'pcie_aer_inject_error -c card0 RCVR')"
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
answer aer-fatal human-monitor-command "$(hmp 'pcie_aer_inject_error card0 DLP')"
answer aer-nonfatal human-monitor-command "$(hmp 'pcie_aer_inject_error card0 COMP_TIME')"
wait $vm
grep -aq 't_faults aer: PASS' "$WORK/vm.log"

# S3 resume takes the real-mode wakeup path: boot the bzImage, not PVH; no
# 9p share (its transport does not come back from S3).
rm -f "$sock"
run_vm --timeout 180 --kernel "${VM_KERNEL:-/boot/vmlinuz-$KVER}" --qmp "$sock" -- 't_faults suspend' &
vm=$!
for ((i = 0; i < answer_wait * 10; i++)); do
	grep -aq "FAULT-REQUEST suspend" "$WORK/vm.log" 2>/dev/null && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.1
done
for ((i = 0; i < 300; i++)); do
	python3 "$QMP" "$sock" query-status | grep -q '"suspended"' && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.1
done
python3 "$QMP" "$sock" system_wakeup
# After an S3 cycle this bench's ACPI power-off does not take (the guest's
# poweroff -f falls through to a panic ~10 s later): once the guest has
# reported, the host ends the VM itself.
for ((i = 0; i < 1200; i++)); do
	grep -aq "BNNACC-VM-RESULT" "$WORK/vm.log" 2>/dev/null && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.1
done
python3 "$QMP" "$sock" quit > /dev/null 2>&1 || true
wait $vm
grep -aq 't_faults suspend: PASS' "$WORK/vm.log"
