#!/usr/bin/env bash
# libbnnacc on the emulated card: open + ABI check, async wrappers, then
# calibrate -> transfer -> infer on the card vs the software reference (t_lib).
. "$(dirname "$0")/common.sh"
run_vm --mem 768 --timeout 300 -- 't_lib'
grep -aq 't_lib: PASS' "$WORK/vm.log"
