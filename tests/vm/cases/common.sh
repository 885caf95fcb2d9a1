# common.sh - sourced by every VM test case.
# shellcheck shell=bash
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$top/tests/vm/lib.sh"
RUNVM=$top/tests/vm/run-vm.sh
QMP=$top/tests/vm/qmp.py
case_name=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-$case_name.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# run_vm [run-vm options] -- 'guest command': the serial log goes to
# $WORK/vm.log (kept as build/vm/logs/$case_name.serial); fails on failure.
run_vm() {
	local rc=0
	"$RUNVM" --log "$WORK/vm.log" "$@" || rc=$?
	mkdir -p "$BUILD/vm/logs"
	cp "$WORK/vm.log" "$BUILD/vm/logs/$case_name.serial" 2>/dev/null || true
	sed -n '/BNNACC-VM-START/,/BNNACC-VM-RESULT/p' "$WORK/vm.log"
	return $rc
}

# The value of KEY=VALUE in the last line of the log that has it.
log_value() {
	tr -d '\r' < "$WORK/vm.log" | grep -aoE "(^|[ ])$1=[^ ]+" | tail -n1 | sed 's/.*=//'
}

# approx A B TOL: |A - B| <= TOL * |B|
approx() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
		m = b < 0 ? -b : b; exit !(d <= t * m) }'
}

# Host actions a guest asks for: the guest prints "FAULT-REQUEST NAME" and
# waits for the file /mnt/host/NAME (run_vm --share "$share"); the host runs
# `answer NAME QMP-COMMAND [JSON]...` with the VM in the background ($vm),
# which waits for the request (up to $answer_wait s), sends the QMP command
# to the VM's socket ($sock, run_vm --qmp "$sock") and creates the file.
sock=$WORK/qmp.sock
share=$WORK/share
answer_wait=90
mkdir -p "$share"
answer() {
	local name=$1 i; shift
	for ((i = 0; i < answer_wait * 10; i++)); do
		grep -aq "FAULT-REQUEST $name" "$WORK/vm.log" 2>/dev/null && break
		kill -0 "$vm" 2>/dev/null || { echo "VM gone before FAULT-REQUEST $name"; return 1; }
		sleep 0.1
	done
	python3 "$QMP" "$sock" "$@" && touch "$share/$name"
}
