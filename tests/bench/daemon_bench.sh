#!/usr/bin/env bash
# daemon_bench.sh - what serving through bnnaccd costs: inference requests
# per second through its socket against the same inputs pushed through
# libbnnacc as fast as one process can, in one VM with one card. A request
# is N=10 inputs of the 2-8-3 test model (d_tool), M = as many sampled
# networks as fit (the daemon's and the direct path's default).
#   daemon: bnnaccd serving C concurrent socket clients (daemon/client.c,
#           protocol version 2; hello, then infer requests back to back),
#           C = 1, 8, 32; and 32 clients in version 1
#   direct: after the daemon exits, one process: calibrate, transfer, one
#           call to warm up, then bnnacc_infer calls of B inputs (the
#           request's 10 repeated) for B = 10, 20, .. 5120, and SECS at the
#           B of the most inputs/s (every request of a call waits for the
#           whole call)
#   then both again at 32 clients and that B (round 2): the VM's speed
#   follows the load on the host, so each round's two figures are taken
#   close together, and the two rounds show how much the ratio moves.
# Prints BENCH daemon_rps_c<C>, daemon_p50_ms_c<C>, daemon_p99_ms_c<C>,
# direct_rps, direct_p50_ms, direct_p99_ms, direct_batch and
# daemon_vs_direct_ratio (32 clients against direct; goal >= 0.9), the same
# for round 2 (_r2); and what explains the ratio: per client count the
# daemon's mean batch (inputs per bnnacc_infer call), the card's busy share,
# the CPU share of the daemon's event loop (and of it in the kernel), of its
# card worker and of the clients (the VM has one CPU); CPU ms per input of
# the card worker (32 clients) and of direct, and of the event loop per
# request; what the loop's work per request costs alone on the card's
# answers and on made-up ones (d_tool cost: decoding the request; the reply
# as bnnaccd builds it, each input's uncertainty recomputed from its M
# samples; the reply from the batch's uncertainties, computed once);
# direct's inputs/s per batch size and CPU share.
# usage: daemon_bench.sh [seconds-per-point]   (default 10)
# $BUILD (default build/) is the build directory it makes and boots.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
secs=${1:-10}
make -C "$top" BUILD="$BUILD" --no-print-directory module guest daemon >&2
log=$(mktemp "${TMPDIR:-/tmp}/daemon_bench.XXXXXX")
trap 'rm -f "$log"' EXIT
rc=0
"$top/tests/vm/run-vm.sh" --mem 1024 --timeout 1200 --log "$log" -- "
	S=/run/bnnacc/bnnaccd.sock
	up() {
		bnnaccd -f 2>>/tmp/d.log & d=\$!
		i=0; until bnnaccctl --json models 2>/dev/null | grep -q '\"cards\":1'; do
			sleep 0.2; i=\$((i+1)); [ \$i -lt 600 ]; done
	}
	d_tool model /tmp/toy.bnnm
	bnnaccd -f 2>/tmp/d.log & d=\$!
	i=0; while [ ! -S \$S ]; do sleep 0.1; i=\$((i+1)); [ \$i -lt 100 ]; done
	bnnaccctl load toy /tmp/toy.bnnm
	d_tool clients \$S 32 2 10 v2
	d_tool clients \$S 1,8,32 $secs 10 v2
	d_tool clients \$S 32 $secs 10
	kill -TERM \$d; wait \$d
	d_tool direct $secs 10 | tee /tmp/direct.out
	d_tool cost 10 \$(sed -n 's/^d_tool direct: M=//p' /tmp/direct.out) 2
	b=\$(sed -n 's/^d_tool direct: best batch=\\([0-9]*\\).*/\\1/p' /tmp/direct.out)
	up
	d_tool clients \$S 32 2 10 v2
	d_tool clients \$S 32 $secs 10 v2
	kill -TERM \$d; wait \$d
	d_tool direct $secs 10 \$b" >&2 || rc=$?
tr -d '\r' < "$log" | grep -a '^d_tool ' >&2 || true
if [ $rc -ne 0 ]; then
	echo "daemon_bench: the VM run failed (rc $rc); serial log tail:" >&2
	tr -d '\r' < "$log" | tail -n 30 >&2
	exit 1
fi
tr -d '\r' < "$log" | awk '
	function kv(   i, a) { delete v; for (i = 3; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] } }
	/^d_tool clients: clients=/ {
		kv(); c = v["clients"]
		if (v["version"] == 2 && c == 32 && (n32++ % 2) == 0) next	# the warm-ups
		sfx = v["version"] == 1 ? "_v1" : n32 > 2 ? "_r2" : ""
		printf "BENCH daemon_rps_c%s%s %s req/s\n", c, sfx, v["rps"]
		printf "BENCH daemon_p50_ms_c%s%s %s ms\n", c, sfx, v["p50_ms"]
		printf "BENCH daemon_p99_ms_c%s%s %s ms\n", c, sfx, v["p99_ms"]
		printf "BENCH daemon_batch_inputs_c%s%s %s inputs\n", c, sfx, v["batch_inputs"]
		printf "BENCH daemon_card_busy_c%s%s %s\n", c, sfx, v["card_busy"]
		printf "BENCH daemon_loop_cpu_c%s%s %s\n", c, sfx, v["daemon_loop_cpu"]
		printf "BENCH daemon_loop_sys_c%s%s %s\n", c, sfx, v["daemon_loop_sys"]
		printf "BENCH daemon_worker_cpu_c%s%s %s\n", c, sfx, v["daemon_workers_cpu"]
		printf "BENCH daemon_clients_cpu_c%s%s %s\n", c, sfx, v["clients_cpu"]
		if (c == 32 && sfx != "_v1" && v["rps"] > 0) {
			rps[sfx] = v["rps"]
			printf "BENCH daemon_loop_cpu_ms_per_request_c32%s %.2f ms\n", sfx,
				1e3 * v["daemon_loop_cpu"] / v["rps"]
			printf "BENCH daemon_worker_cpu_ms_per_input_c32%s %.3f ms\n", sfx,
				1e3 * v["daemon_workers_cpu"] / v["inputs_per_s"]
		}
	}
	/^d_tool cost: / {
		kv(); sfx = v["probs"] == "card" ? "" : "_madeup"
		printf "BENCH loop_request_json_ms%s %s ms\n", sfx, v["parse_ms"]
		printf "BENCH loop_reply_ms%s %s ms\n", sfx, v["reply_ms"]
		printf "BENCH loop_reply_reuse_ms%s %s ms\n", sfx, v["reply_reuse_ms"]
	}
	/^d_tool direct: batch=[0-9]+ inputs_per_s=/ {
		kv()
		printf "BENCH direct_inputs_per_s_b%s %s inputs/s\n", v["batch"], v["inputs_per_s"]
	}
	/^d_tool direct: batch=[0-9]+ clients=/ {
		kv(); sfx = nd++ ? "_r2" : ""
		if (sfx == "")
			printf "BENCH direct_batch %s inputs\n", v["batch"]
		printf "BENCH direct_rps%s %s req/s\n", sfx, v["rps"]
		printf "BENCH direct_p50_ms%s %s ms\n", sfx, v["p50_ms"]
		printf "BENCH direct_p99_ms%s %s ms\n", sfx, v["p99_ms"]
		printf "BENCH direct_cpu%s %s\n", sfx, v["cpu"]
		printf "BENCH direct_cpu_ms_per_input%s %.3f ms\n", sfx, 1e3 * v["cpu"] / v["inputs_per_s"]
		direct[sfx] = v["rps"]
	}
	END {
		if (!(direct[""] > 0 && rps[""] > 0)) {
			print "daemon_bench: no daemon or direct figure in the log" > "/dev/stderr"
			exit 1
		}
		printf "BENCH daemon_vs_direct_ratio %.3f\n", rps[""] / direct[""]
		if (direct["_r2"] > 0 && rps["_r2"] > 0)
			printf "BENCH daemon_vs_direct_ratio_r2 %.3f\n", rps["_r2"] / direct["_r2"]
	}'
