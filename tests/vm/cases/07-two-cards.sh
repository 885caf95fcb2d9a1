#!/usr/bin/env bash
# One node per card: two cards give /dev/bnnacc0 and /dev/bnnacc1, each its own.
. "$(dirname "$0")/common.sh"
run_vm --card seed=11 --card seed=12 -- '
	s0=$(bnctl -d /dev/bnnacc0 identify | sed -n "s/serial: //p")
	s1=$(bnctl -d /dev/bnnacc1 identify | sed -n "s/serial: //p")
	echo serials=$s0,$s1; test -n "$s0"; test "$s0" != "$s1"
	bnctl -d /dev/bnnacc1 program 0 4 0 128 80
	bnctl -d /dev/bnnacc0 read 0 4 0 128 | sed "s/^/card0 /"
	bnctl -d /dev/bnnacc1 read 0 4 0 128 | sed "s/^/card1 /"'
m0=$(grep -a '^card0 ' "$WORK/vm.log" | grep -o 'median=[0-9.]*' | cut -d= -f2)
m1=$(grep -a '^card1 ' "$WORK/vm.log" | grep -o 'median=[0-9.]*' | cut -d= -f2)
echo "medians: card0 $m0 (never programmed), card1 $m1 (80 uA)"
approx "$m1" 160 0.05
awk -v m="$m0" 'BEGIN { exit !(m < 10) }'
