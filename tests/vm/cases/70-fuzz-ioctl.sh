#!/usr/bin/env bash
# ioctl fuzzer (tests/vm/guest/f_ioctl.c): 4 processes of random and mutated
# ioctl/read/poll/close/dup/fork/thread operations on two cards, while the
# host hangs a command on card1 (fault-hang: timeout, recovery), unplugs the
# other card (device_del) and plugs a new one into the spare port
# (device_add), then hangs card1 again. Every call gets success or a
# documented errno, no blocking call outlives its timeout, every card works
# afterwards with its job counters adding up and no tag left taken, Slab and
# MemAvailable are back, and the serial log has no kernel report.
#
# The CI-sized run is 150 k calls (~60 s). FUZZ_IOCTL_CALLS=N makes it a long run
# (make fuzz-ioctl: 1 M calls, the same faults every FUZZ_IOCTL_PERIOD
# calls); FUZZ_IOCTL_SEED, FUZZ_IOCTL_WORKERS change the seed and workers.
. "$(dirname "$0")/common.sh"
calls=${FUZZ_IOCTL_CALLS:-150000}
# The debug kernel runs the fuzzer ~5 times slower: a third of the calls.
[ -n "${FUZZ_IOCTL_CALLS:-}" ] || [ -z "${VM_KERNEL:-}" ] || calls=50000
seed=${FUZZ_IOCTL_SEED:-$(date +%s)}
workers=${FUZZ_IOCTL_WORKERS:-4}
if [ -n "${FUZZ_IOCTL_CALLS:-}" ]; then
	period=${FUZZ_IOCTL_PERIOD:-$((calls / 24))}
	faults="-P $period"
	tmo=$((600 + calls / 200))
	nfaults_min=3	# a hang, an unplug and the final re-add at least
else
	faults="-F hang@0.15,unplug@0.35,add@0.55,hang@0.8"
	tmo=400
	nfaults_min=4
fi
echo "f_ioctl: $calls calls, seed $seed, $workers workers, faults: $faults"

# The batch and synchronous-command timeout of the driver: 2 s, so that a
# hung card is noticed soon (the fuzzer bounds its blocking calls by it).
run_vm --timeout "$tmo" --mem 768 --card seed=1 --card seed=2 \
	--qmp "$sock" --share "$share" -- "
	echo 2000 > /sys/module/bnnacc/parameters/timeout_ms
	rc=0; f_ioctl -w $workers -n $calls -s $seed -c 2 $faults || rc=\$?
	echo resets_logged=\$(dmesg | grep -c 'resetting the card')
	echo timeouts_logged=\$(dmesg | grep -c 'timed out')
	dmesg | grep -i bnnacc | grep -v 'late completion' | tail -n 15
	exit \$rc" &
vm=$!

# Serve the guest's FAULT-REQUESTs in order: hangN, unplugN, addN. The
# victim card alternates between rp0 and the spare rp2; card1 stays.
victim=card0 vport=rp0 spare_port=rp2 seen=0 added=0 qmp_fail=0
while kill -0 "$vm" 2>/dev/null; do
	mapfile -t reqs < <(tr -d "\r" 2>/dev/null < "$WORK/vm.log" |
		grep -aoE 'FAULT-REQUEST [a-z]+[0-9]+' | awk '{print $2}')
	while [ "$seen" -lt "${#reqs[@]}" ] && kill -0 "$vm" 2>/dev/null; do
		name=${reqs[$seen]}
		seen=$((seen + 1))
		case $name in
		hang*)	python3 "$QMP" "$sock" qom-set \
				'{"path":"/machine/peripheral/card1","property":"fault-hang","value":1}' ||
				qmp_fail=1 ;;
		unplug*) python3 "$QMP" "$sock" device_del "{\"id\":\"$victim\"}" ||
				qmp_fail=1 ;;
		add*)	added=$((added + 1))
			python3 "$QMP" "$sock" device_add \
				"{\"driver\":\"bnnacc\",\"id\":\"fz$added\",\"bus\":\"$spare_port\",\"seed\":$((10 + added))}" ||
				qmp_fail=1
			victim=fz$added
			t=$vport; vport=$spare_port; spare_port=$t ;;
		esac
		echo "host: $name done"
		touch "$share/$name"
	done
	sleep 0.2
done
wait "$vm"
[ "$qmp_fail" = 0 ]
grep -aq 'f_ioctl: PASS' "$WORK/vm.log"
summary=$(tr -d '\r' < "$WORK/vm.log" | grep -a '^FUZZ ioctl ' | tail -n1)
echo "$summary"
[ "$(log_value unexpected)" = 0 ]
[ "$(log_value hangs)" = 0 ]
[ "$(log_value calls)" -ge "$calls" ]
[ "$(log_value faults)" -ge "$nfaults_min" ]
# the hang was noticed: a timeout, then a reset
[ "$(log_value timeouts_logged)" -ge 1 ]
[ "$(log_value resets_logged)" -ge 1 ]
echo "slab growth $(log_value fuzz_slab_growth_kb) kB, MemAvailable drop $(log_value fuzz_avail_drop_kb) kB"
