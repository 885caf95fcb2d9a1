#!/usr/bin/env bash
# Any width: a model with 100 inputs (glyphs10, 10 x 10 pixel glyphs, 4
# classes, 100-4-4) needs 202 rows for its first layer, more than the
# array's 128: the library splits the layer into tiles and adds their
# partial column currents on the host; with two cards it spreads its
# networks over both (demo --direct --cards 2). Checked: layer 0 in more
# than one tile, networks on 2 cards, M >= 20, and the card against the
# converged software posterior on the test points (accuracy within 0.5 pp,
# same class >= 98 %, entropy r >= 0.95, epistemic r >= 0.90).
# Then bnnaccd, serving a model, is asked to load one no array can hold
# (100-120-4: 12,604 weights, 25,208 cells a network): it answers with the
# library's message saying so, and the load changes nothing (atomic): the
# serving model keeps serving, is the stored one, and is served again after
# a SIGKILL and restart and after a clean restart.
# shellcheck source=tests/vm/cases/common.sh
. "$(dirname "$0")/common.sh"
"$top/demo/run-demo.sh" --direct --cards 2 --dataset glyphs10 --kind per-weight \
	--out "$WORK/demo" --test 2000 --ages ""
j=$WORK/demo/metrics.json
demo_goals "$j"
python3 - "$j" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["dataset"] == "glyphs10", m["dataset"]
assert m["samples"] >= 20, m["samples"]
PY
t=$WORK/demo/transfer.txt
cat "$t"
grep -aq '^cards 2$' "$t"
awk '$1 == "layer" && $2 == 0 { for (i = 3; i < NF; i++) if ($i == "parts") exit !($(i + 1) >= 2); exit 1 }' "$t"

# a model no array can hold: the daemon's reply says what would fit
"$BUILD/demo/bnn-demo" train --dataset glyphs10 --arch 100-120-4 --steps 50 \
	--out "$share/big.bnnm" >/dev/null 2>&1
run_vm --timeout 300 --share "$share" -- '
	start() {
		bnnaccd -f $BNNACCD_ARGS 2>>/tmp/d.log & d=$!
		i=0; while ! bnnaccctl status >/dev/null 2>&1; do sleep 0.1; i=$((i+1)); [ $i -lt 300 ]; done
	}
	serving() {	# the model the daemon serves, and an answer from it
		i=0; until bnnaccctl --json models | grep -q "\"name\": *\"toy\""; do
			sleep 0.2; i=$((i+1)); [ $i -lt 150 ]; done
		d_tool csv 2 | bnnaccctl --json infer > /tmp/inf.json
		grep -q "\"model\": *\"toy\"" /tmp/inf.json && echo "$1=toy"
	}
	start
	d_tool model /tmp/toy.bnnm
	bnnaccctl load toy /tmp/toy.bnnm
	serving before
	rc=0; bnnaccctl --json load big /mnt/host/big.bnnm || rc=$?; echo load-rc=$rc
	serving after-failed-load
	ls /var/lib/bnnacc/models; ls /var/lib/bnnacc/models | grep -q big && echo big-stored=yes
	kill -KILL $d; wait $d || true
	start; serving after-sigkill
	kill -TERM $d; wait $d || true
	start; serving after-restart
	kill -TERM $d; wait $d || true'
[ "$(log_value load-rc)" != 0 ]
grep -aqE 'one network needs 25208 cells .*no network fits' "$WORK/vm.log"
grep -aq 'the model toy keeps serving' "$WORK/vm.log"
for k in before after-failed-load after-sigkill after-restart; do
	[ "$(log_value "$k")" = toy ] || { echo "not serving toy: $k"; exit 1; }
done
! grep -aq 'big-stored=yes' "$WORK/vm.log"
