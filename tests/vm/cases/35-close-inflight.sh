#!/usr/bin/env bash
# 200 processes exit (or are killed in WAIT) with batches in flight: nothing
# leaks (Slab, MemAvailable), queue_depth returns to 0, the card works.
. "$(dirname "$0")/common.sh"
run_vm --timeout 170 -- 't_faults close-inflight'
grep -aq 't_faults close-inflight: PASS' "$WORK/vm.log"
echo "slab growth $(log_value close_slab_growth_kb) kB, MemAvailable drop $(log_value close_avail_drop_kb) kB"
