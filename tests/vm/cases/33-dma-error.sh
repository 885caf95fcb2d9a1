#!/usr/bin/env bash
# fault-dma: the batch completes with -EIO (jobs_done 0), the next one works.
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
run_vm --qmp "$sock" --share "$share" -- 't_faults dma' &
vm=$!
answer dma qom-set '{"path":"/machine/peripheral/card0","property":"fault-dma","value":1}'
wait $vm
grep -aq 't_faults dma: PASS' "$WORK/vm.log"
