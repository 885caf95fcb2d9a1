# common.sh - sourced by every VM test case.
# shellcheck shell=bash
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$top/tests/vm/lib.sh"
RUNVM=$top/tests/vm/run-vm.sh
QMP=$top/tests/vm/qmp.py
case_name=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-$case_name.XXXXXX")
# The serial log is kept as build/vm/logs/$case_name.serial however the
# case ends (a host-side wait that gives up included).
trap 'mkdir -p "$BUILD/vm/logs"; cp "$WORK/vm.log" "$BUILD/vm/logs/$case_name.serial" 2>/dev/null || true; rm -rf "$WORK"' EXIT

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

# demo_goals METRICS.JSON: every pass of a demo run (metrics.json's per_age)
# against the converged software posterior, one line each, and the goals of
# docs/demo.md: accuracy within 0.5 pp, same class >= 98 %, entropy r >=
# 0.95, epistemic r >= 0.90. The file is kept beside the case's logs.
demo_goals() {
	cp "$1" "$BUILD/vm/logs/$case_name.metrics.json" 2>/dev/null || true
	python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for a in m["per_age"]:
    r = a["vs_converged_software"]
    print(f"age {a['age_s']} s (measured {a['measured_age_s']:.0f}): "
          f"acc sw {r['software_accuracy']:.4f} card {r['card_accuracy']:.4f} "
          f"agree {r['grid_agreement']:.4f} H {r['entropy_pearson']:.4f} "
          f"Ue {r['epistemic_pearson']:.4f} gain {a['gain']:.4f} "
          f"refreshed {a['refreshed']}")
    assert abs(r["card_accuracy"] - r["software_accuracy"]) <= 0.005 + 1e-9
    assert r["grid_agreement"] >= 0.98
    assert r["entropy_pearson"] >= 0.95
    assert r["epistemic_pearson"] >= 0.90
    assert a["goals_met"]
PY
}
