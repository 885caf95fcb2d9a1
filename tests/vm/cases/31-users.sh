#!/usr/bin/env bash
# Job contexts are per open file (two processes see only their own batches)
# and open files share the card round-robin (completed batches of a deep and
# a shallow submitter within a factor of 2 over the same window).
. "$(dirname "$0")/common.sh"
run_vm -- 't_users 4'
grep -aq 't_users: PASS' "$WORK/vm.log"
echo "fairness: A=$(log_value a) B=$(log_value b) ratio=$(log_value ratio)"
