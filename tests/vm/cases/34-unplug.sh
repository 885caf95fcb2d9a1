#!/usr/bin/env bash
# Surprise-free hot-unplug with waiters blocked: a WAIT, a read() and a poll()
# on a hung card wake with an error when the card goes, later calls give
# -ENODEV. Then a new card hot-added on the spare root port rp1 works, and
# rmmod / modprobe still work once every file is closed.
. "$(dirname "$0")/common.sh"
run_vm --timeout 170 --qmp "$sock" --share "$share" -- '
	req() { echo "FAULT-REQUEST $1"; i=0
		while [ ! -e /mnt/host/$1 ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 900 ]; done; }
	node() { i=0; while [ -z "$(ls /dev/bnnacc* 2>/dev/null)" ]; do
		sleep 0.1; i=$((i + 1)); [ $i -lt 300 ]; done; ls /dev/bnnacc* | head -n1; }
	t_faults unplug
	test -z "$(ls /dev/bnnacc* 2>/dev/null)"
	req add
	d=$(node); echo "new card: $d"; echo newdev=$d
	t_jobs quick $d
	modprobe -r bnnacc; test ! -e $d; ! lsmod | grep -q "^bnnacc "
	modprobe bnnacc; d=$(node); echo "after modprobe: $d"
	t_jobs quick $d; echo unplug-cycle=done'  &
vm=$!
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
answer unplug device_del '{"id":"card0"}'
answer add device_add '{"driver":"bnnacc","id":"card9","bus":"rp1"}'
wait $vm
grep -aq 't_faults unplug: PASS' "$WORK/vm.log"
[ "$(log_value unplug-cycle)" = done ]
