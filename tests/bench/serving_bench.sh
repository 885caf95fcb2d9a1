#!/usr/bin/env bash
# serving_bench.sh - adaptive sampling's saving on the demo grid, on the host:
# tests/host/serving.py against bnnaccd --sim (one simulated card, seed 11)
# with the moons model of `bnn-demo train` on its 60 x 60 grid and 500 test
# points. Prints its BENCH lines: networks used on average and of M, card
# time with precision 0.02 over card time with all M (one run, one card),
# and the fidelity of the adaptive answers to a full-M answer beside that of
# a second full-M answer (decision agreement, |dp| mean and max, |du_e|).
# usage: serving_bench.sh [BUILD]   (default build/)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$top/build}
make -C "$top" --no-print-directory BUILD="$B" daemon guest "$B/demo/bnn-demo" >&2
W=$(mktemp -d "${TMPDIR:-/tmp}/serving-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
"$B/guest/d_tool" model "$W/toy.bnnm" >/dev/null
"$B/guest/d_fault" model "$W/wide.bnnm" gauss 2 4000 3 >/dev/null
"$B/demo/bnn-demo" train --out "$W/moons.bnnm" >/dev/null 2>&1
"$B/demo/bnn-demo" points --out "$W/pts.txt"
mkdir "$W/s"
python3 "$top/tests/host/serving.py" "$B/daemon/bnnaccd" "$W/s" "$W/moons.bnnm" "$W/pts.txt" \
	"$W/toy.bnnm" "$W/wide.bnnm" > "$W/out" || { cat "$W/out" >&2; exit 1; }
grep '^serving: card time' "$W/out" >&2
grep '^BENCH ' "$W/out"
