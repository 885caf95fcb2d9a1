#!/usr/bin/env bash
# bnnaccd end to end on one card: load a model as root (calibrate + program),
# 32 concurrent socket clients get answers that agree with the software
# reference, a storm of malformed/oversized/unknown requests runs alongside
# and the clients are still served, one connection pipelining 3000 requests
# gets every one answered (ok or busy: the queue holds 1024), one that
# disconnects with 1000 queued has them cancelled, an unprivileged client (group bnnacc,
# not bnnacc-admin) may infer but not load or reset, then SIGKILL and restart:
# the model comes back from the state directory and is served again, and
# SIGTERM drains and exits. bnnaccctl finds the card by its PCI address.
. "$(dirname "$0")/common.sh"
run_vm --mem 768 --timeout 400 -- '
	echo "bnnacc:x:900:" >> /etc/group; echo "bnnacc-admin:x:901:" >> /etc/group
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S /run/bnnacc/bnnaccd.sock ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	ls -l /run/bnnacc/bnnaccd.sock
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	bnnaccctl cards; bnnaccctl models
	d_tool csv 4 | bnnaccctl infer
	# (on the debug kernel each bnnaccctl start costs ~0.5 s: fewer rounds)
	storm() { n=0; while [ $n -lt $((200 / BNNACC_VM_SLOW)) ]; do
		bnnaccctl raw "{\"op\":\"infer\",\"inputs\":[[1,\"x\"]]}" >/dev/null 2>&1 || true
		bnnaccctl raw "{nope" >/dev/null 2>&1 || true
		bnnaccctl raw "{\"op\":\"frobnicate\"}" >/dev/null 2>&1 || true
		n=$((n+1)); done; echo storm=done; }
	storm & s=$!
	d_tool clients /run/bnnacc/bnnaccd.sock 32 0 20 check
	d_tool clients /run/bnnacc/bnnaccd.sock 32 3 20 check && echo clients32=ok
	wait $s
	head -c 2000000 /dev/zero | tr "\0" x > /tmp/big; echo >> /tmp/big
	bnnaccctl raw "$(head -c 100 /tmp/big)" || true
	kill -0 $d && echo alive-after-storm=yes
	if d_runas 1000 900 bnnaccctl load evil /tmp/toy.bnnm; then echo unpriv-load=allowed; else echo unpriv-load=denied; fi
	if d_runas 1000 900 bnnaccctl reset 0; then echo unpriv-reset=allowed; else echo unpriv-reset=denied; fi
	# bnnacc-admin as a supplementary group (SO_PEERGROUPS): admin ops pass the check
	d_runas 1000 900,901 bnnaccctl unload nosuch 2>&1 | grep -q "no_model" && echo suppl-admin=allowed
	d_tool csv 2 | d_runas 1000 900 bnnaccctl infer && echo unpriv-infer=ok
	if d_runas 1000 1000 bnnaccctl status; then echo nogroup-connect=allowed; else echo nogroup-connect=denied; fi
	d_tool flood /run/bnnacc/bnnaccd.sock 3000 1 | tee /tmp/flood.out
	d_tool flood /run/bnnacc/bnnaccd.sock 1000 5 close
	i=0; until bnnaccctl status | grep -q "^queue: 0"; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ]; done
	echo queue-drained=yes
	d_tool clients /run/bnnacc/bnnaccd.sock 4 0 20 check && echo after-flood=ok
	kill -9 $d; wait $d || true
	bnnaccd -f $BNNACCD_ARGS 2>>/tmp/d.log & d=$!
	i=0; until bnnaccctl --json models 2>/dev/null | grep -q "\"cards\":1"; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ]; done
	bnnaccctl models
	d_tool clients /run/bnnacc/bnnaccd.sock 8 0 20 check && echo restart-serve=ok
	# a card by its PCI address, as `cards` shows it
	pci=$(bnnaccctl cards --json | sed -n "s/.*\"pci\":\"\([^\"]*\)\".*/\1/p")
	echo card-pci=$pci
	bnnaccctl check "$pci" && echo check-by-pci=ok
	bnnaccctl metrics | grep -E "^bnnaccd_(requests_total\{op=\"infer\"\}|errors_total\{code=\"bad_json\"\}|infer_latency_seconds_count|card_utilization)"
	kill -TERM $d; wait $d; echo term-rc=$?
	tail -n 20 /tmp/d.log'
grep -aq 'clients32=ok' "$WORK/vm.log"
grep -aq 'storm=done' "$WORK/vm.log"
grep -aq 'alive-after-storm=yes' "$WORK/vm.log"
[ "$(log_value unpriv-load)" = denied ]
[ "$(log_value unpriv-reset)" = denied ]
[ "$(log_value suppl-admin)" = allowed ]
grep -aq 'unpriv-infer=ok' "$WORK/vm.log"
[ "$(log_value nogroup-connect)" = denied ]
grep -aq 'restart-serve=ok' "$WORK/vm.log"
log_value card-pci | grep -qE '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$'
grep -aq 'check-by-pci=ok' "$WORK/vm.log"
grep -aqE 'd_tool flood: sent=3000 ok=[1-9][0-9]* busy=[1-9][0-9]* other=0 lost=0' "$WORK/vm.log"
grep -aq 'queue-drained=yes' "$WORK/vm.log"
grep -aq 'after-flood=ok' "$WORK/vm.log"
[ "$(log_value term-rc)" = 0 ]
