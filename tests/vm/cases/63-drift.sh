#!/usr/bin/env bash
# The card ages a year while bnnaccd serves it, and nobody asks anything:
# the card's drift monitor (the physics, not QMP inject-event) raises drift
# EVENT interrupts as its relaxation passes each 1 % (QMP clock-advance-s of
# a year on the "pessimistic" preset: nu 0.005 -> 8.6 % in a year), the
# driver turns them into netlink DRIFT events, bnnaccd reads its reference
# cells, finds the weights widened past the limit and reprograms the card
# by itself. Expected: a netlink DRIFT event in the daemon's log, the
# metrics show the checks and a refresh on card 0, the drift gain back near 1
# after the refresh, and inference answers all the while (before and after).
# Nothing lost: every request of the clients is answered ok.
. "$(dirname "$0")/common.sh"
answer_wait=120
run_vm --mem 768 --timeout 300 --qmp "$sock" --share "$share" --card preset=pessimistic -- '
	req() { echo "FAULT-REQUEST $1"; i=0
		while [ ! -e /mnt/host/$1 ]; do sleep 0.1; i=$((i + 1)); [ $i -lt 900 ]; done; }
	bnnaccd -f -o drift_check_s=0 $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S /run/bnnacc/bnnaccd.sock ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm >/dev/null
	d_tool clients /run/bnnacc/bnnaccd.sock 2 0 4 check && echo before=ok
	bnnaccctl metrics | grep -E "drift|refresh"
	req age
	# the daemon notices on its own: wait for its refresh
	i=0; while ! bnnaccctl metrics | grep -q "bnnaccd_card_refreshes_total{card=\"0\"} [1-9]"; do
		sleep 0.5; i=$((i + 1)); [ $i -lt 120 ] || break; done
	bnnaccctl metrics | grep -E "drift|refresh"
	d_tool clients /run/bnnacc/bnnaccd.sock 2 0 4 check && echo after=ok
	kill -TERM $d; wait $d || true
	grep -E "kernel event|drift check" /tmp/d.log' 2> "$WORK/qemu.err" &
vm=$!
answer age qom-set '{"path":"/machine/peripheral/card0","property":"clock-advance-s","value":31536000}'
wait $vm
grep -aq 'before=ok' "$WORK/vm.log"
grep -aq 'after=ok' "$WORK/vm.log"
# the drift EVENT came from the card's monitor: QEMU logs its alert
cat "$WORK/qemu.err"
grep -aqE 'bnnacc: drift alert: the array has relaxed by [0-9.]+ %' "$WORK/qemu.err"
# netlink DRIFT (enum bnnacc_event 5) reached the daemon, which checked and refreshed
grep -aq 'kernel event 5 on card 0' "$WORK/vm.log"
grep -aqE 'drift check: gain 0\.[0-9]+, spread [0-9.]+, excess [0-9.]+: reprogrammed' "$WORK/vm.log"
grep -aqE 'bnnaccd_card_refreshes_total\{card="0"\} [1-9]' "$WORK/vm.log"
grep -aqE 'bnnaccd_card_drift_checks_total\{card="0"\} [1-9]' "$WORK/vm.log"
# after the refresh the gain is back near 1
tr -d '\r' < "$WORK/vm.log" | grep -a 'bnnaccd_card_drift_gain{card="0"}' | tail -n1 |
	awk '{ exit !($2 > 0.99 && $2 < 1.01) }'
