#!/usr/bin/env bash
# fault-hang: the hung batch completes with -ETIMEDOUT within its own
# timeout_ms, the card is reset, the batches on it fail with -EIO, queued
# ones run, a next batch works. Then fault-corrupt-cqe: the batch ends within
# its timeout and the card keeps working.
. "$(dirname "$0")/common.sh"
run_vm --qmp "$sock" --share "$share" -- 't_faults timeout; t_faults corrupt
	dmesg | grep -i bnnacc | tail -n 20' &
vm=$!
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
answer corrupt qom-set '{"path":"/machine/peripheral/card0","property":"fault-corrupt-cqe","value":1}'
wait $vm
grep -aq 't_faults timeout: PASS' "$WORK/vm.log"
grep -aq 't_faults corrupt: PASS' "$WORK/vm.log"
