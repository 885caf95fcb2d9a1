#!/usr/bin/env bash
# Fault: bnnaccd is SIGKILLed while 48 clients have requests in flight.
# Expected: every client sees EOF (or ECONNRESET) within 5 s of the kill (no
# hang), none accepts a wrong or cut reply; a second daemon started on the
# same state directory while the first lives refuses to start (the live
# socket is left alone); after the kill the stale socket file and lock file
# do not stop a restart, nor does a temporary model file left half-written
# (removed at start); the restart reloads the stored model and reprograms the
# card; the clients reconnect and re-send what was unanswered.
# Nothing lost: each of the 48 x 40 request ids is answered ok exactly once
# (d_fault kill: answered = requests, dup = bad = lost = 0), and the answers
# after the restart agree with the software reference (d_tool check).
. "$(dirname "$0")/common.sh"
run_vm --mem 768 --timeout 400 -- '
	S=/run/bnnacc/bnnaccd.sock
	up() { i=0; until bnnaccctl --json models 2>/dev/null | grep -q "\"cards\":1"; do
		sleep 0.2; i=$((i+1)); [ $i -lt 600 ]; done; }
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S $S ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	cat /var/lib/bnnacc/bnnaccd.lock
	[ "$(cat /var/lib/bnnacc/bnnaccd.lock)" = "$d" ] && echo lockpid=ok
	rc=0; bnnaccd -f $BNNACCD_ARGS 2>/tmp/d2.log || rc=$?; cat /tmp/d2.log; echo second-rc=$rc
	rc=0; bnnaccd -f $BNNACCD_ARGS -d /tmp/other 2>/tmp/d3.log || rc=$?; cat /tmp/d3.log; echo second-sock-rc=$rc
	d_tool clients $S 2 0 10 check && echo first-still-serves=yes
	t0=$(date +%s)
	d_fault kill $S $d 48 40 > /tmp/k.out 2>/tmp/k.err & k=$!
	wait $d || true
	echo "killed after $(( $(date +%s) - t0 )) s"
	ls -l $S /var/lib/bnnacc /var/lib/bnnacc/models
	[ -S $S ] && echo stale-socket=present
	echo partial > /var/lib/bnnacc/models/toy.bnnm.tmp	# as if killed mid-write
	tr=$(date +%s)
	bnnaccd -f $BNNACCD_ARGS 2>>/tmp/d.log & d=$!
	rc=0; wait $k || rc=$?; cat /tmp/k.out; tail -n 5 /tmp/k.err; echo kill-rc=$rc
	echo "clients done $(( $(date +%s) - tr )) s after the restart"
	up; bnnaccctl models
	[ ! -e /var/lib/bnnacc/models/toy.bnnm.tmp ] && echo stale-tmp=removed
	d_tool clients $S 8 0 20 check && echo restart-serve=ok
	awk "{print \"daemon cpu_ticks=\" \$14+\$15}" /proc/$d/stat
	grep VmRSS /proc/$d/status
	bnnaccctl stats | grep -E "errors|retries"
	kill -TERM $d; wait $d; echo term-rc=$?
	grep -E "restored|programmed|stale|in use|another" /tmp/d.log | tail -n 8'
[ "$(log_value lockpid)" = ok ]
[ "$(log_value second-rc)" = 1 ]
grep -aq 'is in use by another bnnaccd' "$WORK/vm.log"
[ "$(log_value second-sock-rc)" = 1 ]
grep -aq 'another daemon is serving on it' "$WORK/vm.log"
[ "$(log_value first-still-serves)" = yes ]
[ "$(log_value stale-socket)" = present ]
[ "$(log_value kill-rc)" = 0 ]
grep -aqE 'd_fault kill: clients=48 requests=1920 answered=1920 dup=0 bad=0 partial=[0-9]+ lost=0 inflight_at_kill=[1-9][0-9]* eof_max_ms=[0-9.]+ hung=0' "$WORK/vm.log"
grep -aq 'restored model toy' "$WORK/vm.log"
[ "$(log_value stale-tmp)" = removed ]
[ "$(log_value restart-serve)" = ok ]
[ "$(log_value term-rc)" = 0 ]
