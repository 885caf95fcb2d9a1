#!/usr/bin/env bash
# The driver works with MSI-X (2 vectors), MSI (1) and INTx, the card hiding
# MSI-X and MSI through its properties.
. "$(dirname "$0")/common.sh"
job='bnctl program 0 8 0 128 40 && bnctl read 0 8 0 128 4 &&
	echo vectors=$(grep -c bnnacc /proc/interrupts) && grep bnnacc /proc/interrupts &&
	dmesg | grep -i "bnnacc.*interrupt"'
run_vm --card "seed=3" -- "$job"
[ "$(log_value vectors)" = 2 ]; grep -aqi 'msi-x' "$WORK/vm.log"
run_vm --card "seed=3,msix=off" -- "$job"
[ "$(log_value vectors)" = 1 ]; grep -aq 'PCI-MSI.*bnnacc' "$WORK/vm.log"
run_vm --card "seed=3,msix=off,msi=off" -- "$job"
[ "$(log_value vectors)" = 1 ]; grep -aq 'IO-APIC.*bnnacc' "$WORK/vm.log"
