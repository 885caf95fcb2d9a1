#!/usr/bin/env bash
# Every ioctl's bad arguments get -EINVAL/-EFAULT/-ENOTTY, and nothing breaks.
. "$(dirname "$0")/common.sh"
run_vm -- t_badargs
