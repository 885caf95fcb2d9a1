#!/usr/bin/env bash
# A posterior of samples (Hamiltonian Monte Carlo, a SAMPLES model: the
# stored draws themselves, no mean and sigma) through bnnaccd: each of the M
# networks holds one of the stored draws (shrunk toward the posterior mean by
# the device's own spread), so the draws' correlations survive the transfer.
# Checked on a 40 x 40 grid and 400 held-out test points against the
# converged software posterior, right after programming and a day later
# (the daemon's drift check, gain corrected): accuracy within 0.5 pp, same
# class on >= 98 % of the grid, entropy r >= 0.95, epistemic r >= 0.90;
# M >= 20; the transfer chose the samples mode.
# shellcheck source=tests/vm/cases/common.sh
. "$(dirname "$0")/common.sh"
"$top/demo/run-demo.sh" --kind samples --out "$WORK/demo" \
	--grid 40 --test 400 --ages 86400
j=$WORK/demo/metrics.json
demo_goals "$j"
python3 - "$j" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["dataset"] == "moons" and m["kind"] == "hmc", (m["dataset"], m["kind"])
assert m["samples"] >= 20, m["samples"]
assert [a["age_s"] for a in m["per_age"]] == [0, 86400]
PY
grep -aq '^mode samples$' "$WORK/demo/transfer.txt"
grep -aq 'p_demo: through bnnaccd' "$WORK/demo/serial.log"
