#!/usr/bin/env bash
# The asynchronous job ABI: SUBMIT/WAIT/poll/read/CANCEL, handles, the
# pending limit and the bad arguments of every new ioctl (t_jobs); the module
# cannot be removed while a file is open.
. "$(dirname "$0")/common.sh"
run_vm --mem 768 -- 't_jobs
	exec 3</dev/bnnacc0; ! modprobe -r bnnacc 2>/dev/null; lsmod | grep -q "^bnnacc "
	exec 3<&-; modprobe -r bnnacc; modprobe bnnacc; t_jobs quick; echo busy-module=ok'
grep -aq 't_jobs: PASS' "$WORK/vm.log"
[ "$(log_value busy-module)" = ok ]
