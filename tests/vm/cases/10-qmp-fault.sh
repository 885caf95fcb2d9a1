#!/usr/bin/env bash
# A host-side test injects a fault through the QMP socket while the guest
# runs: 500 more stuck cells appear in the card's IDENTIFY answer.
. "$(dirname "$0")/common.sh"
sock=$WORK/qmp.sock
run_vm --qmp "$sock" -- '
	before=$(bnctl identify | sed -n "s/stuck_cells: //p"); echo before=$before
	echo READY-FOR-FAULT
	i=0; while [ $i -lt 300 ]; do
		now=$(bnctl identify | sed -n "s/stuck_cells: //p")
		[ "$now" != "$before" ] && break; sleep 0.1; i=$((i + 1)); done
	echo after=$now' &
vm=$!
vm_wait_for "$WORK/vm.log" READY-FOR-FAULT 60
python3 "$QMP" "$sock" qom-set '{"path":"/machine/peripheral/card0","property":"fault-stuck","value":500}'
wait $vm
before=$(log_value before); after=$(log_value after)
echo "stuck cells: $before -> $after"
[ $((after - before)) -ge 450 ] && [ $((after - before)) -le 500 ]
