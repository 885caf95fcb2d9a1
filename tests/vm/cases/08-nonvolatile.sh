#!/usr/bin/env bash
# With a backing file the array keeps its state across VM runs.
. "$(dirname "$0")/common.sh"
back=$WORK/array.img
run_vm --card "seed=21,backing=$back" -- 'bnctl program 0 16 0 128 50; bnctl read 0 16 0 128'
first=$(log_value median)
test -s "$back"
run_vm --card "seed=21,backing=$back" -- 'bnctl read 0 16 0 128'
second=$(log_value median)
run_vm --card "seed=21" -- 'bnctl read 0 16 0 128'
fresh=$(log_value median)
echo "median after programming $first, after power cycle $second, fresh card $fresh"
approx "$first" 100 0.05
approx "$second" "$first" 0.03
awk -v m="$fresh" 'BEGIN { exit !(m < 10) }'
