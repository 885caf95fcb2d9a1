#!/usr/bin/env bash
# Fault: the state directory is full (a 1 MiB tmpfs). `load` of a model
# larger than the file system (1.6 MB), then, with the rest of the space
# filled, `load` of a 400 kB and of a 588-byte model, and a `calibrate`
# whose calibration file cannot be saved.
# Expected: each load fails with error code "storage" and a message naming
# the state directory and ENOSPC; no temporary file is left; the daemon
# stays up and keeps serving the model loaded before (answers agree with
# the software reference); the calibration is measured and used (the card
# is reprogrammed, reply ok with a warning that it was not saved). Once
# space is freed the 400 kB model loads, is served, and survives SIGKILL
# and restart.
# Nothing lost: the previously acknowledged model stays stored and served
# through every failure; every infer request is answered ok.
. "$(dirname "$0")/common.sh"
run_vm --mem 768 --timeout 400 -- '
	S=/run/bnnacc/bnnaccd.sock; st=/var/lib/bnnacc
	up() { i=0; until bnnaccctl --json models 2>/dev/null | grep -q "\"name\":\"$1\".*\"cards\":1"; do
		sleep 0.2; i=$((i+1)); [ $i -lt 600 ]; done; }
	ntmp() { echo $(find $st -name "*.tmp*" | wc -l); }
	mkdir -p $st; mount -t tmpfs -o size=1m tmpfs $st
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S $S ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	d_fault model /tmp/huge.bnnm samples 2 64 3 1024 1
	d_fault model /tmp/big.bnnm samples 2 32 3 512 2
	d_fault model /tmp/small.bnnm gauss 2 4 3
	bnnaccctl load toy /tmp/toy.bnnm
	df $st
	rc=0; bnnaccctl raw "{\"op\":\"load\",\"id\":1,\"name\":\"huge\",\"path\":\"/tmp/huge.bnnm\"}" || rc=$?
	echo huge-rc=$rc huge-tmp=$(ntmp)
	ls -la $st $st/models
	bnnaccctl models; up toy && echo huge-still-toy=yes
	d_tool clients $S 4 0 20 check && echo huge-serve=ok
	dd if=/dev/zero of=$st/filler bs=4096 2>/dev/null || true; df $st
	rc=0; bnnaccctl raw "{\"op\":\"load\",\"id\":2,\"name\":\"big\",\"path\":\"/tmp/big.bnnm\"}" || rc=$?
	echo big-full-rc=$rc
	rc=0; bnnaccctl raw "{\"op\":\"load\",\"id\":4,\"name\":\"small\",\"path\":\"/tmp/small.bnnm\"}" || rc=$?
	echo small-full-rc=$rc full-tmp=$(ntmp)
	rc=0; bnnaccctl --json calibrate > /tmp/cal.out || rc=$?; cat /tmp/cal.out; echo cal-full-rc=$rc
	grep -q "\"ok\":true" /tmp/cal.out && grep -q "calibration not saved in /var/lib/bnnacc: No space left" /tmp/cal.out && echo cal-warning=yes
	echo cal-tmp=$(ntmp) cal-files=$(ls $st | grep -c "\.cal" || true)
	kill -0 $d && echo alive-full=yes
	bnnaccctl cards
	up toy && echo full-still-toy=yes
	d_tool clients $S 4 0 20 check && echo full-serve=ok
	rm $st/filler; df $st
	bnnaccctl raw "{\"op\":\"load\",\"id\":3,\"name\":\"big\",\"path\":\"/tmp/big.bnnm\"}" && echo big-freed=ok
	ls -la $st/models; echo freed-tmp=$(ntmp)
	up big; d_fault agree $S /tmp/big.bnnm 3
	kill -9 $d; wait $d || true
	bnnaccd -f $BNNACCD_ARGS 2>>/tmp/d.log & d=$!
	up big; bnnaccctl --json models | grep -q "\"name\":\"big\"" && echo restart-big=yes
	d_fault agree $S /tmp/big.bnnm 3 && echo restart-serve=ok
	bnnaccctl stats | grep errors
	grep VmRSS /proc/$d/status
	kill -TERM $d; wait $d; echo term-rc=$?
	grep -E "storage|store|not saved|restored|stale" /tmp/d.log | tail -n 12'
msg='"code":"storage","message":"cannot store the model \([0-9]+ bytes\) in /var/lib/bnnacc/models: No space left on device \(ENOSPC'
[ "$(log_value huge-rc)" = 1 ]
grep -aqE "$msg" "$WORK/vm.log"
[ "$(log_value huge-tmp)" = 0 ]
[ "$(log_value huge-still-toy)" = yes ]
[ "$(log_value huge-serve)" = ok ]
[ "$(log_value big-full-rc)" = 1 ]
[ "$(log_value small-full-rc)" = 1 ]
[ "$(grep -acE "$msg" "$WORK/vm.log")" -ge 3 ]
[ "$(log_value full-tmp)" = 0 ]
[ "$(log_value cal-full-rc)" = 0 ]
[ "$(log_value cal-warning)" = yes ]
[ "$(log_value cal-tmp)" = 0 ]
[ "$(log_value alive-full)" = yes ]
[ "$(log_value full-still-toy)" = yes ]
[ "$(log_value full-serve)" = ok ]
[ "$(log_value big-freed)" = ok ]
[ "$(log_value freed-tmp)" = 0 ]
[ "$(log_value restart-big)" = yes ]
[ "$(log_value restart-serve)" = ok ]
[ "$(log_value term-rc)" = 0 ]
