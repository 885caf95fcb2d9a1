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
