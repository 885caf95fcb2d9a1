#!/usr/bin/env bash
# PROGRAM regions through DMA, READ them back, find the promised statistics.
. "$(dirname "$0")/common.sh"
run_vm --card preset=pessimistic -- t_program_read
