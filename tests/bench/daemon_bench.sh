#!/usr/bin/env bash
# daemon_bench.sh - inference requests per second through bnnaccd's socket
# against direct libbnnacc calls doing the same work, in one VM with one card.
# Each request is N=10 inputs of the 2-8-3 test model (d_tool), M = as many
# sampled networks as fit (the daemon's and the direct path's default).
#   daemon: bnnaccd serving C concurrent socket clients (hello, then infer
#           requests back to back), C = 1, 8, 32
#   direct: after the daemon exits, C threads of one process calling
#           bnnacc_infer() on one transferred network (under a lock: a
#           network is used from one thread at a time)
# Prints BENCH daemon_rps_c<C>, direct_rps_c<C>, daemon_vs_direct_ratio
# (at 32 clients, goal >= 0.9), daemon_p50_ms_c<C>, daemon_p99_ms_c<C>,
# direct_p50_ms_c<C>, direct_p99_ms_c<C>.
# usage: daemon_bench.sh [seconds-per-point]   (default 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
secs=${1:-5}
make -C "$top" --no-print-directory module guest daemon >&2
log=$(mktemp "${TMPDIR:-/tmp}/daemon_bench.XXXXXX")
trap 'rm -f "$log"' EXIT
rc=0
"$top/tests/vm/run-vm.sh" --mem 1024 --timeout 600 --log "$log" -- "
	bnnaccd -f 2>/tmp/d.log & d=\$!
	i=0; while [ ! -S /run/bnnacc/bnnaccd.sock ]; do sleep 0.1; i=\$((i+1)); [ \$i -lt 100 ]; done
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	d_tool clients /run/bnnacc/bnnaccd.sock 32 1 10
	d_tool clients /run/bnnacc/bnnaccd.sock 1,8,32 $secs 10
	kill -TERM \$d; wait \$d
	d_tool direct 1,8,32 $secs 10" >&2 || rc=$?
tr -d '\r' < "$log" | grep -a '^d_tool ' >&2 || true
if [ $rc -ne 0 ]; then
	echo "daemon_bench: the VM run failed (rc $rc); serial log tail:" >&2
	tr -d '\r' < "$log" | tail -n 30 >&2
	exit 1
fi
tr -d '\r' < "$log" | awk '
	/^d_tool (clients|direct): clients=/ {
		kind = $2 == "clients:" ? "daemon" : "direct"
		for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		c = v["clients"]; n[kind, c]++
		if (kind == "daemon" && n[kind, c] == 1 && c == 32 && warm++ == 0) next
		printf "BENCH %s_rps_c%s %s req/s\n", kind, c, v["rps"]
		printf "BENCH %s_p50_ms_c%s %s ms\n", kind, c, v["p50_ms"]
		printf "BENCH %s_p99_ms_c%s %s ms\n", kind, c, v["p99_ms"]
		rps[kind, c] = v["rps"]
	}
	END {
		if (rps["direct", 32] > 0)
			printf "BENCH daemon_vs_direct_ratio %.3f\n", rps["daemon", 32] / rps["direct", 32]
	}'
