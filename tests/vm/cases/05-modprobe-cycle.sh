#!/usr/bin/env bash
# rmmod and modprobe again: the node goes and comes back, the card works.
. "$(dirname "$0")/common.sh"
run_vm -- 'for i in 1 2 3; do
	modprobe -r bnnacc; test ! -e /dev/bnnacc0; ! lsmod | grep -q "^bnnacc "
	modprobe bnnacc; test -c /dev/bnnacc0; t_identify >/dev/null
done; echo cycles=3'
[ "$(log_value cycles)" = 3 ]
