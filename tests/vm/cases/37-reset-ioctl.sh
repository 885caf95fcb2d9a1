#!/usr/bin/env bash
# BNNACC_IOC_RESET: as root it resets (a hung batch on the card ends -EIO,
# the array keeps its conductances); as uid 65534 it is -EPERM.
. "$(dirname "$0")/common.sh"
run_vm --qmp "$sock" --share "$share" -- 't_faults reset' &
vm=$!
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
wait $vm
grep -aq 't_faults reset: PASS' "$WORK/vm.log"
