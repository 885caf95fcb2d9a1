#!/usr/bin/env bash
# The asynchronous path with MSI (msix=off) and with INTx (msix=off,msi=off).
. "$(dirname "$0")/common.sh"
job='t_jobs quick; grep bnnacc /proc/interrupts;
	echo irq_mode=$(cat /sys/class/bnnacc/bnnacc0/irq_mode 2>/dev/null || echo none)'
run_vm --card "seed=3,msix=off" -- "$job"
grep -aq 't_jobs: PASS' "$WORK/vm.log"; grep -aq 'PCI-MSI.*bnnacc' "$WORK/vm.log"
echo "msi: irq_mode=$(log_value irq_mode)"
run_vm --card "seed=3,msix=off,msi=off" -- "$job"
grep -aq 't_jobs: PASS' "$WORK/vm.log"; grep -aq 'IO-APIC.*bnnacc' "$WORK/vm.log"
echo "intx: irq_mode=$(log_value irq_mode)"
