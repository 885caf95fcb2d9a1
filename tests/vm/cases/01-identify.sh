#!/usr/bin/env bash
# modprobe bnnacc binds the card, /dev/bnnacc0 appears, IDENTIFY is right.
. "$(dirname "$0")/common.sh"
run_vm -- 'test -c /dev/bnnacc0; ls -l /dev/bnnacc0; t_identify; bnctl identify
	lsmod | grep -q "^bnnacc "; dmesg | grep -i bnnacc'
grep -aq 'geometry: 128x128' "$WORK/vm.log"
# the default physics preset (hfox, docs/physics.md) and another one
grep -aq 'dac_bits: 7' "$WORK/vm.log"
grep -aq 'iset_nA: 5000..100000' "$WORK/vm.log"
run_vm --card preset=cmo-hfox -- t_identify
grep -aq 'iset_nA: 9000..88190' "$WORK/vm.log"
grep -aq 'dac_bits: 7' "$WORK/vm.log"
run_vm --card preset=pessimistic -- t_identify
grep -aq 'dac_bits: 8' "$WORK/vm.log"
