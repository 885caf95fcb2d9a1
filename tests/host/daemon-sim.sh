#!/usr/bin/env bash
# daemon-sim.sh - bnnaccd on simulated cards (bnnaccd --sim), on the host, no
# VM: the protocol through bnnaccctl, and the atomic load.
#
#   * a model loads on two simulated cards and answers agree with the
#     software reference (d_fault agree); `bnnaccctl model inspect` predicts
#     card 0's M exactly, and says why a model does not fit;
#   * loads that must fail and change nothing: a model no array can hold
#     (2-4000-3: one network needs 48,006 cells), more networks than fit
#     (m = 1024), a file that is not a model, a path that does not exist.
#     After each, the serving model is still toy, is the one stored, and
#     answers; no staged file is left;
#   * SIGKILL and restart, then a clean restart: toy is served again;
#   * a load that succeeds replaces it, also across a restart;
#   * the metrics pass `promtool check metrics` (Debian's prometheus) and each
#     family's samples (two cards) are together; the HTTP listener
#     (metrics_http) serves the same families at /metrics and 404 elsewhere;
#   * protocol version 2 (JSON-RPC 2.0) from a generic Python client
#     (tests/host/rpc_client.py): every method, the error classes,
#     notifications, progress during load, version negotiation;
#   * bnnaccctl benchmark reports consistent figures, and monitor sees the
#     cards work while it runs;
#   * tests/host/serving.py: two resident models, loads by descriptor,
#     abstention, and adaptive sampling's card time and fidelity on the demo
#     grid (BENCH lines);
#   * started as systemd would (tests/host/sd_launch.py): the socket passed
#     as fd 3 is served, READY=1 and a WATCHDOG=1 every half interval are
#     sent, STOPPING=1 at SIGTERM.
# With a SAN=1 build, a sanitizer report in the daemon's log fails it.
# usage: daemon-sim.sh [BUILD]   (default build/)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$top/build}
D=$B/daemon/bnnaccd C=$B/daemon/bnnaccctl G=$B/guest
for f in "$D" "$C" "$G/d_tool" "$G/d_fault" "$B/demo/bnn-demo"; do
	[ -x "$f" ] || { echo "daemon-sim: $f missing (make all guest)"; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/bnnacc-sim.XXXXXX")
S=$W/sock
export BNNACCD_SOCKET=$S
pid=
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "daemon-sim: FAIL: $*"; echo "--- daemon log"; tail -n 30 "$W/d.log"; exit 1; }

start() {
	"$D" -f --sim=11 --sim-cards 2 -s "$S" -d "$W/state" 2>>"$W/d.log" &
	pid=$!
	for _ in $(seq 100); do "$C" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	fail "bnnaccd --sim did not come up"
}
stop() { kill "-$1" "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
# serving NAME: the model served and stored is NAME, and it answers
serving() {
	local i
	for i in $(seq 200); do
		"$C" --json models | grep -q "\"name\":\"$1\",.*\"cards\":2" && break
		sleep 0.05
	done
	"$C" --json models | grep -q "\"name\":\"$1\",.*\"cards\":2" || fail "$2: not serving $1 on 2 cards"
	"$G/d_tool" csv 3 | "$C" --json infer | grep -q "\"model\":\"$1\"" || fail "$2: no answer from $1"
	ls "$W/state/models" | grep -qx "$1.bnnm" || fail "$2: $1 is not the stored model"
	[ "$(ls "$W/state/models" | wc -l)" = 1 ] || fail "$2: stored: $(ls "$W/state/models")"
	echo "daemon-sim: $2: serving $1"
}
# must_fail WHAT CODE ARGS...: a load that fails with CODE and changes nothing
must_fail() {
	local what=$1 code=$2 rc=0
	shift 2
	"$C" load "$@" >"$W/err" 2>&1 || rc=$?
	[ $rc = 1 ] || fail "$what: load exit status $rc"
	grep -q "load: $code:" "$W/err" || fail "$what: $(cat "$W/err")"
	echo "daemon-sim: $what: $(grep -v "this takes a while" "$W/err" | head -n 3)"
	serving toy "after $what"
}

"$G/d_tool" model "$W/toy.bnnm" >/dev/null
"$G/d_fault" model "$W/wide.bnnm" gauss 2 4000 3 >/dev/null
"$G/d_fault" model "$W/toy2.bnnm" gauss 2 6 3 1 5 >/dev/null
printf 'not a model\n' > "$W/junk.bnnm"

start
"$C" cards
"$C" load toy "$W/toy.bnnm" || fail "load toy"
serving toy "first load"
"$G/d_fault" agree "$S" "$W/toy.bnnm" 3 || fail "answers disagree with the software reference"
# bnnaccctl model inspect predicts the transfer of a fresh card: card 0 is
# the simulated card of seed 11, so the prediction is its M exactly
mi=$("$C" model inspect --seed 11 --json "$W/toy.bnnm" | sed -n 's/.*"transfer":{[^}]*"m":\([0-9]*\).*/\1/p')
m0=$("$C" --json cards | sed -n 's/.*"index":0,[^}]*"m":\([0-9]*\).*/\1/p')
[ -n "$mi" ] && [ "$mi" = "$m0" ] || fail "model inspect predicts M=$mi, card 0 has M=$m0"
"$C" model inspect "$W/wide.bnnm" | grep -q "does not fit: one network needs 48006 cells" ||
	fail "model inspect of a model that does not fit"
echo "daemon-sim: model inspect: predicted M=$mi, card 0 has M=$m0; the wide model does not fit"

must_fail "too wide" card wide "$W/wide.bnnm"
grep -q "the model toy keeps serving" "$W/err" || fail "too wide: $(cat "$W/err")"
grep -q "no network fits" "$W/err" || fail "too wide: $(cat "$W/err")"
must_fail "too many networks" card --networks 1024 toy2 "$W/toy2.bnnm"
grep -q "sampled networks fit" "$W/err" || fail "too many: $(cat "$W/err")"
must_fail "not a model" bad_model junk "$W/junk.bnnm"
"$C" raw '{"op":"load","name":"gone","path":"/nonexistent/x.bnnm"}' >"$W/err" 2>&1 &&
	fail "a missing path loaded"
grep -q '"code":"bad_model"' "$W/err" || fail "missing path: $(cat "$W/err")"
serving toy "after a missing path"
ls "$W/state/models" | grep -q staged && fail "a staged file was left"

stop KILL
start
serving toy "after SIGKILL and restart"
stop TERM
start
serving toy "after a clean restart"

"$C" load --fd toy2 "$W/toy2.bnnm" >/dev/null || fail "load --fd toy2"
serving toy2 "after a load that succeeded (the file passed as a descriptor: load --fd)"

"$C" metrics > "$W/metrics.txt"
command -v promtool >/dev/null || fail "promtool missing (scripts/install-deps.sh installs prometheus)"
promtool check metrics < "$W/metrics.txt" || fail "promtool check metrics"
awk '!/^#/ { n = $0; sub(/[{ ].*/, "", n); sub(/_(bucket|sum|count)$/, "", n)
	if (n != last && seen[n]++) { print "family " n " is split"; bad = 1 }
	last = n } END { exit bad }' "$W/metrics.txt" || fail "metric families interleaved"
grep -q 'bnnaccd_card_batches_total{card="1"}' "$W/metrics.txt" || fail "no second card in the metrics"
echo "daemon-sim: metrics: promtool clean, $(grep -c '^# HELP' "$W/metrics.txt") families"
stop TERM

# metrics over HTTP on a free localhost port
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$D" -f --sim=11 --sim-cards 2 -s "$S" -d "$W/state" -o metrics_http=127.0.0.1:$port 2>>"$W/d.log" &
pid=$!
for _ in $(seq 100); do "$C" status >/dev/null 2>&1 && break; sleep 0.05; done
python3 - "$port" "$W/http.txt" <<'PY' || fail "HTTP /metrics"
import sys, urllib.error, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
r = urllib.request.urlopen(base + "/metrics", timeout=5)
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
open(sys.argv[2], "wb").write(r.read())
try:
    urllib.request.urlopen(base + "/other", timeout=5)
    raise SystemExit("/other was served")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
PY
promtool check metrics < "$W/http.txt" || fail "promtool on the HTTP metrics"
[ "$(grep -c '^# HELP' "$W/http.txt")" = "$(grep -c '^# HELP' "$W/metrics.txt")" ] ||
	fail "HTTP and socket metrics differ in families"
echo "daemon-sim: HTTP /metrics on port $port: $(grep -c '^# HELP' "$W/http.txt") families, 404 elsewhere"
stop TERM

# socket activation, notify and watchdog as under systemd (WatchdogSec 0.4 s)
rm -f "$S"
python3 "$top/tests/host/sd_launch.py" "$S" "$W/notify.log" 400000 -- \
	"$D" -f --sim=11 --sim-cards 2 -s "$S" -d "$W/state" 2>>"$W/d.log" &
pid=$!
serving toy2 "socket-activated"
sleep 1.2
grep -q "socket from systemd" "$W/d.log" || fail "the passed socket was not used"
grep -q '^READY=1' "$W/notify.log" || fail "no READY=1: $(cat "$W/notify.log")"
nw=$(grep -c '^WATCHDOG=1' "$W/notify.log" || true)
[ "$nw" -ge 5 ] || fail "$nw WATCHDOG=1 in 1.2 s at a 0.4 s watchdog"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
grep -q '^STOPPING=1' "$W/notify.log" || fail "no STOPPING=1"
echo "daemon-sim: socket activation: served; READY=1, $nw WATCHDOG=1, STOPPING=1"
start
stop KILL
start
serving toy2 "after SIGKILL and restart"
# protocol version 2 (JSON-RPC 2.0) from a generic client
python3 "$top/tests/host/rpc_client.py" "$S" "$W/toy.bnnm" || fail "JSON-RPC client"
serving rpcmodel "after a JSON-RPC load"
# bnnaccctl benchmark: clients, requests answered, latency percentiles
"$C" benchmark --clients 3 --inputs 4 --seconds 1 --json > "$W/bench.json" || fail "benchmark"
python3 - "$W/bench.json" <<'PY' || fail "benchmark: $(cat "$W/bench.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["clients"] == 3 and b["inputs_per_request"] == 4, b
assert b["requests"] >= 3 and b["errors"] == 0, b
assert 0 < b["p50_ms"] <= b["p99_ms"] <= b["max_ms"], b
assert abs(b["inputs_per_s"] - 4 * b["requests_per_s"]) < 1e-6 * b["inputs_per_s"] + 0.2, b
print("daemon-sim: benchmark: %(requests)d requests, %(inputs_per_s).0f inputs/s, "
      "p50 %(p50_ms).1f ms, p99 %(p99_ms).1f ms" % b)
PY
# bnnaccctl monitor while a benchmark runs: 2 samples x 2 cards, busy
"$C" benchmark --clients 2 --seconds 3 >/dev/null &
bpid=$!
sleep 0.5
"$C" monitor --count 2 --json > "$W/monitor.json" || fail "monitor"
wait "$bpid"
python3 - "$W/monitor.json" <<'PY' || fail "monitor: $(cat "$W/monitor.json")"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
assert len(s) == 4 and sorted(x["card"] for x in s) == [0, 0, 1, 1], s
assert all(0 <= x["utilization"] <= 1.2 and x["inputs_per_s"] >= 0 for x in s), s
assert any(x["inputs_per_s"] > 0 for x in s), s
print("daemon-sim: monitor: %d samples, utilisation %s" %
      (len(s), ["%.2f" % x["utilization"] for x in s]))
PY
stop TERM
# several resident models, loads by descriptor, abstention, adaptive
# sampling on the demo grid (tests/host/serving.py: its own daemon)
"$B/demo/bnn-demo" train --out "$W/moons.bnnm" >/dev/null 2>&1 || fail "bnn-demo train"
"$B/demo/bnn-demo" points --out "$W/pts.txt" || fail "bnn-demo points"
mkdir "$W/serving"
python3 "$top/tests/host/serving.py" "$D" "$W/serving" "$W/moons.bnnm" "$W/pts.txt" \
	"$W/toy.bnnm" "$W/wide.bnnm" || { tail -n 20 "$W/serving/d.log"; fail "serving"; }
# a sanitized build (SAN=1, the debug pass) reports into the daemon's log
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W/d.log" "$W/serving/d.log"; then
	fail "sanitizer report"
fi
echo "daemon-sim: PASS"
