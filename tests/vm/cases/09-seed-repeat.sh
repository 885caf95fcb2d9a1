#!/usr/bin/env bash
# The same seed and the same commands give bit-identical conductances and
# read noise; another seed does not.
. "$(dirname "$0")/common.sh"
job='bnctl program 0 16 0 128 30; echo digest=$(bnctl read 0 16 0 128 2 --dump | md5sum | cut -c1-32)'
run_vm --card seed=5 -- "$job"; a=$(log_value digest)
run_vm --card seed=5 -- "$job"; b=$(log_value digest)
run_vm --card seed=6 -- "$job"; c=$(log_value digest)
echo "seed 5: $a, seed 5 again: $b, seed 6: $c"
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]
