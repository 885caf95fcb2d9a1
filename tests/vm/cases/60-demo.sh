#!/usr/bin/env bash
# The paper end to end at reduced size (demo/run-demo.sh): train a textbook
# per-weight-sigma BNN on two moons, transfer it to the emulated card in one
# programming step through bnnaccd (its `load`), infer a 40 x 40 grid and 400
# test points with every programmed network (its `infer`, per-sample
# outputs), then age the card by a minute and by a year (QMP clock-advance-s;
# before each later pass the daemon's `check` reads the reference cells, its
# gain correcting the relaxation), and check every pass against the
# converged software posterior with the goals of docs/demo.md: accuracy
# within 0.5 pp, same class on >= 98 % of the grid, entropy r >= 0.95,
# epistemic r >= 0.90; M >= 20; and that it went through the daemon (every
# pass answered by bnnaccd, the relaxation measured at a year, a clean exit).
# shellcheck source=tests/vm/cases/common.sh
. "$(dirname "$0")/common.sh"
"$top/demo/run-demo.sh" --out "$WORK/demo" --grid 40 --test 400 --ages 60,31536000
j=$WORK/demo/metrics.json
demo_goals "$j"
python3 - "$j" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["dataset"] == "moons", m["dataset"]
assert m["samples"] >= 20, m["samples"]
ages = m["per_age"]
assert [a["age_s"] for a in ages] == [0, 60, 31536000], ages
assert ages[0]["measured_age_s"] < 60
# a year of relaxation was measured on the reference cells (hfox: ~2.7 %)
assert ages[2]["gain"] < 0.985 or ages[2]["refreshed"], ages[2]
PY
log=$WORK/demo/serial.log
cp "$log" "$BUILD/vm/logs/$case_name.demo-serial" 2>/dev/null || true
m=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['samples'])" "$j")
grep -aq 'p_demo: through bnnaccd' "$log"
grep -aqE 'p_demo: bnnaccd transferred M=[0-9]+ networks' "$log"
grep -aqE 'p_demo: samples: each network programs its own posterior draw' "$log"
grep -aqE 'p_demo: drift check: gain 0\.9[0-9]+' "$log"
grep -aqE 'p_demo: bnnaccd stats: 3 infer requests, 6000 inputs, .*, 0 retries' "$log"
grep -aq 'p_demo: bnnaccd exited with status 0' "$log"
[ "$(grep -ac '^S ' "$WORK/demo/weights.txt")" -eq $((4 * m * 4)) ]
for f in boundary difference conductance metrics_vs_m; do
	[ -s "$WORK/demo/$f.png" ]
done
