#!/usr/bin/env bash
# fault-dma: the batch completes with -EIO (jobs_done 0), the next one works.
. "$(dirname "$0")/common.sh"
run_vm --qmp "$sock" --share "$share" -- 't_faults dma' &
vm=$!
answer dma qom-set '{"path":"/machine/peripheral/card0","property":"fault-dma","value":1}'
wait $vm
grep -aq 't_faults dma: PASS' "$WORK/vm.log"
