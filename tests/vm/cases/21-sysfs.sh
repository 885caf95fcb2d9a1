#!/usr/bin/env bash
# The attributes of /sys/class/bnnacc/bnnaccN/: all there and read-only, sane
# values (128x128, the serial IDENTIFY reports, irq_mode as the card's
# properties allow: msix, msi, intx), counters that move after work (busy_ns
# with PROGRAM/READ, jobs_* with a batch, resets with BNNACC_IOC_RESET), and
# the debugfs ring and regs files readable.
. "$(dirname "$0")/common.sh"
run_vm --card seed=3 --card seed=4,msix=off --card seed=5,msix=off,msi=off -- '
	attrs="rows cols hw_version serial jobs_submitted jobs_completed jobs_failed
	       jobs_timedout resets errors busy_ns queue_depth irq_mode ring_depth"
	for d in /sys/class/bnnacc/bnnacc*; do
		n=$(basename $d)
		for a in $attrs; do
			test -f $d/$a
			test "$(stat -c %a $d/$a)" = 444
			echo "$n $a=$(cat $d/$a)"
		done
		echo "irq $(basename $(readlink $d/device)) $(cat $d/irq_mode)"
		s=$(bnctl -d /dev/$n identify | sed -n "s/serial: //p")
		test "$s" = "$(cat $d/serial)"; echo "$n serial-matches-identify"
	done
	d=/sys/class/bnnacc/bnnacc0
	b0=$(cat $d/busy_ns)
	bnctl program 0 8 0 128 40
	bnctl read 0 8 0 128 4
	b1=$(cat $d/busy_ns)
	echo busy_before=$b0 busy_after=$b1; test $b1 -gt $b0
	if [ -x /bin/bnnacc/t_jobs ]; then
		j0=$(cat $d/jobs_submitted); c0=$(cat $d/jobs_completed)
		t_jobs quick /dev/bnnacc0 > /dev/null
		j1=$(cat $d/jobs_submitted); c1=$(cat $d/jobs_completed)
		echo jobs_submitted=$j0..$j1 jobs_completed=$c0..$c1
		test $j1 -gt $j0; test $c1 -gt $c0
	fi
	test "$(cat $d/queue_depth)" = 0
	r0=$(cat $d/resets)
	t_netlink reset /dev/bnnacc0 10
	r1=$(cat $d/resets); echo resets=$r0..$r1
	dbg=/sys/kernel/debug/bnnacc/bnnacc0
	cat $dbg/ring; grep -q "^depth: $(cat $d/ring_depth)$" $dbg/ring
	grep -q "^halted: 0$" $dbg/ring
	cat $dbg/regs; grep -q "^0x000: 0x424e4e41$" $dbg/regs
	echo sysfs-debugfs-done'
log() { tr -d '\r' < "$WORK/vm.log"; }
n=$(log | grep -c '^bnnacc[0-9] [a-z_]*=')
echo "attribute values read: $n"
[ "$n" = 42 ]
[ "$(log | grep -c '^bnnacc[0-9] rows=128$')" = 3 ]
[ "$(log | grep -c '^bnnacc[0-9] cols=128$')" = 3 ]
[ "$(log | grep -c '^bnnacc[0-9] hw_version=1\.[0-9]*$')" = 3 ]
[ "$(log | grep -c '^bnnacc[0-9] serial-matches-identify$')" = 3 ]
log | grep -q '^irq 0000:01:00.0 msix$'
log | grep -q '^irq 0000:02:00.0 msi$'
log | grep -q '^irq 0000:03:00.0 intx$'
log | grep -q '^sysfs-debugfs-done$'
log | grep -q 'reset-check=PASS'
r=$(log_value resets)
[ "${r#*..}" -gt "${r%..*}" ]
echo "21-sysfs: resets $r"
