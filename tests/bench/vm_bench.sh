#!/usr/bin/env bash
# vm_bench.sh - throughput of the driver's job engine in the VM bench against
# the card's own compute rate (tests/vm/guest/b_driver.c), and the round trip
# of one small job. Boots one VM with one card; prints the guest's BENCH
# lines on stdout:
#   BENCH driver_samples_per_s_b<N> <v> samples/s   N = 1, 16, 64, 256
#   BENCH device_samples_per_s_b<N> <v> samples/s
#   BENCH driver_vs_device_ratio_b<N> <ratio>
#   BENCH driver_vs_device_ratio <ratio at N = 256>   (goal >= 0.9)
#   BENCH job_roundtrip_us <v> us
# and, from the host while the card computes (tests/bench/qmp_latency.py):
#   BENCH qmp_latency_{p50,p99,max}_ms <v> ms          (goal: max < 50)
# usage: vm_bench.sh [seconds-per-batch-size]   (default 2)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
secs=${1:-2}
if [ ! -f "$BUILD/stage/lib/modules/$KVER/extra/bnnacc.ko" ] || [ ! -x "$BUILD/guest/b_driver" ]; then
	make -C "$top" --no-print-directory module guest >&2
fi
log=$(mktemp "${TMPDIR:-/tmp}/vm_bench.XXXXXX")
qmp=$log.qmp
trap 'rm -f "$log" "$log.lat" "$qmp"' EXIT
rc=0
"$top/tests/bench/qmp_latency.py" "$qmp" card0 >"$log.lat" &
lat_pid=$!
"$top/tests/vm/run-vm.sh" --mem 1024 --timeout 300 --log "$log" --qmp "$qmp" \
	-- "b_driver $secs" >&2 || rc=$?
wait "$lat_pid" || echo "vm_bench: the QMP latency probe failed" >&2
tr -d '\r' < "$log" | grep -a '^b_driver: ' >&2 || true
tr -d '\r' < "$log" | grep -a '^BENCH ' || true
cat "$log.lat"
if [ $rc -ne 0 ]; then
	echo "vm_bench: the VM run failed (rc $rc); serial log tail:" >&2
	tr -d '\r' < "$log" | tail -n 30 >&2
	exit 1
fi
