#!/usr/bin/env bash
# The generic netlink family "bnnacc": a dump lists both cards of a two-card
# VM; a listener on the "events" group sees CARD_REMOVED when the host
# unplugs card1 (QMP device_del), CARD_ADDED when it plugs a card back
# (device_add) and DRIFT when the host injects a drift alert on card0. Then
# BNNACC_IOC_RESET must produce a RESET event, and a burst of PROGRAMs one
# PROGRAMMED event with the array generation and the lease holder.
# Meanwhile a loop of netlink dumps and sysfs/debugfs reads races the
# unplug and the replug (run-vm fails on any kernel report).
. "$(dirname "$0")/common.sh"
sock=$WORK/qmp.sock
run_vm --timeout 180 --qmp "$sock" --card seed=11 --card seed=12 -- '
	t_netlink dump --expect 2
	t_netlink listen 3 90 > /tmp/ev.log 2>&1 &
	l=$!
	i=0; until grep -q LISTENING /tmp/ev.log; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 100 ]; done
	# Readers of every interface race the unplug and the replug.
	( while [ ! -f /tmp/stop ]; do
		# A card may vanish between the dump and the get: no checks.
		t_netlink dump > /dev/null 2>&1 || true
		cat /sys/class/bnnacc/*/serial /sys/class/bnnacc/*/busy_ns \
		    /sys/kernel/debug/bnnacc/*/ring \
		    /sys/kernel/debug/bnnacc/*/regs > /dev/null 2>&1 || true
	  done; echo hammer-done ) &
	h=$!
	echo READY-FOR-UNPLUG
	i=0; until grep -q "event=CARD_REMOVED" /tmp/ev.log; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 300 ]; done
	echo UNPLUGGED
	i=0; until grep -q "event=CARD_ADDED" /tmp/ev.log; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 900 ]; done
	echo REPLUGGED
	touch /tmp/stop; wait $h
	rc=0; wait $l || rc=$?
	sed "s/^/listener: /" /tmp/ev.log; echo listener_rc=$rc
	t_netlink dump --expect 2
	t_netlink reset /dev/bnnacc0 10
	t_netlink programmed /dev/bnnacc0 10' &
vm=$!
vm_wait_for "$WORK/vm.log" READY-FOR-UNPLUG 90
python3 "$QMP" "$sock" device_del '{"id":"card1"}'
vm_wait_for "$WORK/vm.log" UNPLUGGED 60
# The slot takes a new card once QEMU has finished ejecting the old one
# (the guest's ACPI eject may lag its driver's remove on a slow kernel).
for i in $(seq 600); do
	python3 "$QMP" "$sock" qom-list '{"path":"/machine/peripheral"}' | grep -q '"card1"' || break
	sleep 0.1
done
python3 "$QMP" "$sock" device_add '{"driver":"bnnacc","id":"card1b","bus":"rp1","seed":9}'
vm_wait_for "$WORK/vm.log" REPLUGGED 100
python3 "$QMP" "$sock" qom-set '{"path":"/machine/peripheral/card0","property":"inject-event","value":1}'
wait $vm
log() { tr -d '\r' < "$WORK/vm.log"; }
[ "$(log | grep -c 'netlink dump: PASS')" = 2 ]
log | grep -q '^listener: event=CARD_REMOVED card=bnnacc1 index=1 pci=.* reason='
log | grep -q '^listener: event=CARD_ADDED card=bnnacc[0-9]* '
log | grep -q '^listener: event=DRIFT card=bnnacc0 '
[ "$(log_value listener_rc)" = 0 ]
log | grep -q 'reset-check=PASS'
log | grep -q 'programmed-check=PASS'
