#!/usr/bin/env bash
# The array's owner and the card's memory cap: one open file holds the lease
# that programming needs (others get EBUSY, read-only files EBADF, breaking
# needs CAP_SYS_ADMIN), the generation counts PROGRAMs in IDENTIFY and
# sysfs; with pinned_max_bytes lowered, many files cannot pin more than it.
# Then bnnaccd serves the card and holds its lease: another process cannot
# program it; root breaks the lease and programs behind the daemon, which
# notices (netlink PROGRAMMED), counts it, takes the lease back, reprograms
# and answers every request right again.
. "$(dirname "$0")/common.sh"
run_vm --mem 768 --timeout 300 -- '
	t_owner lease
	t_owner pinned
	S=/run/bnnacc/bnnaccd.sock
	bnnaccd -f $BNNACCD_ARGS 2>/tmp/d.log & d=$!
	i=0; while [ ! -S $S ]; do sleep 0.1; i=$((i+1)); [ $i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	d_tool clients $S 1 0 60 check
	t_owner daemon $d
	i=0; until bnnaccctl metrics | grep -q "^bnnaccd_card_foreign_programs_total{card=\"0\"} 1"; do
		sleep 0.2; i=$((i+1)); [ $i -lt 150 ]; done
	echo foreign-program=counted
	i=0; until [ "$(cat /sys/class/bnnacc/bnnacc0/lease_pid)" = "$d" ]; do
		sleep 0.2; i=$((i+1)); [ $i -lt 150 ]; done
	echo lease=back
	d_tool clients $S 1 0 60 check
	kill -TERM $d; wait $d; echo term-rc=$?
	grep -a "lease broken" /tmp/d.log'
grep -aq 't_owner lease: PASS' "$WORK/vm.log"
grep -aq 't_owner pinned: PASS' "$WORK/vm.log"
grep -aq 't_owner daemon: PASS' "$WORK/vm.log"
[ "$(log_value foreign-program)" = counted ]
[ "$(log_value lease)" = back ]
[ "$(grep -ac 'd_tool clients: clients=1 requests=1 bad=0 ' "$WORK/vm.log")" = 2 ]
[ "$(log_value term-rc)" = 0 ]
