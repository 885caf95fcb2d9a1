#!/usr/bin/env bash
# bnnaccd under load while the card is reset: first another process resets
# it with the reset ioctl (bnnacc_reset) while batches are in flight, then
# the host makes the card hang (QMP fault-hang) so the driver times the batch
# out and resets the card. Every request of 16 clients must be answered ok
# (the failed batches are retried after the card is reprogrammed).
. "$(dirname "$0")/common.sh"
answer_wait=180
run_vm --mem 768 --timeout 400 --qmp "$sock" --share "$share" -- '
	req() { echo "FAULT-REQUEST $1"; i=0
		while [ ! -e /mnt/host/$1 ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 900 ]; done; }
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S /run/bnnacc/bnnaccd.sock ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	d_tool clients /run/bnnacc/bnnaccd.sock 16 14 10 check > /tmp/c1.out 2>&1 & c=$!
	sleep 3; d_tool reset 0
	sleep 4; req hang
	rc=0; wait $c || rc=$?; cat /tmp/c1.out; echo clients-rc=$rc
	bnnaccctl stats | grep -E "retries|errors"
	d_tool clients /run/bnnacc/bnnaccd.sock 4 0 10 check && echo after=ok
	kill -TERM $d; wait $d || true
	cat /tmp/d.log | tail -n 25'  &
vm=$!
answer hang qom-set '{"path":"/machine/peripheral/card0","property":"fault-hang","value":1}'
wait $vm
[ "$(log_value clients-rc)" = 0 ]
grep -aq 'd_tool clients: clients=16 requests=[1-9][0-9]* bad=0' "$WORK/vm.log"
grep -aq 'after=ok' "$WORK/vm.log"
