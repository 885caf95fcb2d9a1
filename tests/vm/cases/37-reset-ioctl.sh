#!/usr/bin/env bash
# BNNACC_IOC_RESET: as root it resets (a hung batch on the card ends -EIO,
# the array keeps its conductances); as uid 65534 it is -EPERM.
. "$(dirname "$0")/common.sh"
sock=$WORK/qmp.sock share=$WORK/share
mkdir -p "$share"
answer() {
	local name=$1 i; shift
	for ((i = 0; i < 900; i++)); do
		grep -aq "FAULT-REQUEST $name" "$WORK/vm.log" 2>/dev/null && break
		kill -0 "$vm" 2>/dev/null || { echo "VM gone before FAULT-REQUEST $name"; return 1; }
		sleep 0.1
	done
	python3 "$QMP" "$sock" "$@" && touch "$share/$name"
}
run_vm --qmp "$sock" --share "$share" -- 't_faults reset' &
vm=$!
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
wait $vm
grep -aq 't_faults reset: PASS' "$WORK/vm.log"
