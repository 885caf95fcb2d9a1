#!/usr/bin/env bash
# The ioctl ABI from a 64-bit and a 32-bit process (compat path).
. "$(dirname "$0")/common.sh"
run_vm -- 't_compat; t_compat32'
grep -aq 't_compat (64-bit): PASS' "$WORK/vm.log"
grep -aq 't_compat (32-bit): PASS' "$WORK/vm.log"
