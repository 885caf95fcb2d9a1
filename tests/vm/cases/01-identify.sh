#!/usr/bin/env bash
# modprobe bnnacc binds the card, /dev/bnnacc0 appears, IDENTIFY is right.
. "$(dirname "$0")/common.sh"
run_vm -- 'test -c /dev/bnnacc0; ls -l /dev/bnnacc0; t_identify; bnctl identify
	lsmod | grep -q "^bnnacc "; dmesg | grep -i bnnacc'
grep -aq 'geometry: 128x128' "$WORK/vm.log"
