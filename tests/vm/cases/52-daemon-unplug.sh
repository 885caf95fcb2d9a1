#!/usr/bin/env bash
# bnnaccd with two cards: the model is programmed on both and requests are
# spread over them; the host unplugs one (QMP device_del) under the load of
# 16 clients: no request is lost (the batch on the vanished card is retried
# on the other), the daemon then lists one card and keeps serving.
. "$(dirname "$0")/common.sh"
answer_wait=180
run_vm --mem 768 --timeout 400 --qmp "$sock" --share "$share" \
	--card seed=1 --card seed=2 -- '
	req() { echo "FAULT-REQUEST $1"; i=0
		while [ ! -e /mnt/host/$1 ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 900 ]; done; }
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S /run/bnnacc/bnnaccd.sock ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	bnnaccctl cards
	d_tool clients /run/bnnacc/bnnaccd.sock 16 12 10 check > /tmp/c1.out 2>&1 & c=$!
	sleep 4; req unplug
	rc=0; wait $c || rc=$?; cat /tmp/c1.out; echo clients-rc=$rc
	bnnaccctl cards; echo ncards=$(bnnaccctl --json cards | grep -o "\"index\"" | wc -l)
	bnnaccctl stats | grep -E "retries"
	d_tool clients /run/bnnacc/bnnaccd.sock 4 0 10 check && echo after=ok
	kill -TERM $d; wait $d || true
	cat /tmp/d.log | tail -n 25'  &
vm=$!
answer unplug device_del '{"id":"card1"}'
wait $vm
[ "$(log_value clients-rc)" = 0 ]
grep -aq 'd_tool clients: clients=16 requests=[1-9][0-9]* bad=0' "$WORK/vm.log"
[ "$(log_value ncards)" = 1 ]
grep -aq 'after=ok' "$WORK/vm.log"
