#!/usr/bin/env bash
# run-demo.sh - the paper end to end (`make demo`): train a Bayesian neural
# network ex situ, transfer it to the emulated RRAM card in one programming
# step through the inference daemon bnnaccd, infer a grid over the input
# plane (2-D data sets) and a held-out test set on the card with every
# programmed network, again after the card has aged (each later pass after
# a drift check of the card's reference cells), and compare with the
# software posterior: metrics.json, table.txt, figures.
#
# usage: demo/run-demo.sh [options]
#   --dataset NAME   moons (default), spirals, xorring, glyphs, glyphs10
#                    (bnn-demo train --dataset list prints them)
#   --kind K         per-weight (default), shared (Bayes by backprop, one
#                    sigma per weight or one for all) or samples (HMC, a
#                    SAMPLES model)
#   --out DIR        output directory (default out/demo)
#   --model FILE     use this libbnnacc model instead of training one; its
#                    "dataset" metadata (or --dataset) says what to score
#                    it against
#   --grid G         G x G grid over the input plane (2-D sets, default 60)
#   --test N         held-out test points (default 500)
#   --train N        training points (default 1000)
#   --noise X        the data set's noise (default: the data set's own)
#   --arch A-B-..    network sizes (default: the data set's)
#   --m M            networks to program (default: as many as fit)
#   --ages LIST      seconds after programming of the later passes
#                    (default 60,86400,2592000,31536000: a minute, a day,
#                    a month, a year)
#   --seed S         data seed (default 1)
#   --timeout S      VM timeout (default 600)
#   --direct         libbnnacc directly in the guest program instead of bnnaccd
#   --cards N        emulated cards (default 1; --direct spreads the
#                    networks over them, the daemon programs each)
#   --mode MODE      --direct: the transfer's mode, shared or samples
#                    (default: the library's choice)
#   --preset NAME    the cards' physics preset (default: the device's)
#   --all            every data set with every kind: out/demo/<set>-<kind>/,
#                    the goals table in out/demo/goals.md and one
#                    metrics.json with per_dataset entries
# Needs `make all` (build/demo/bnn-demo, build/guest/p_demo, build/guest/bnnaccd,
# QEMU, module).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$top/tests/vm/lib.sh"

out=$top/out/demo
model=
dataset=
kind=per-weight
grid=60
test_n=500
train_n=1000
noise=
arch=
m=0
ages=60,86400,2592000,31536000
seed=1
timeout_s=600
direct=0
cards=1
mode=
preset=
all=0
while [ $# -gt 0 ]; do
	case "$1" in
	--direct) direct=1; shift; continue ;;
	--all) all=1; shift; continue ;;
	--out) out=$2 ;;
	--model) model=$2 ;;
	--dataset) dataset=$2 ;;
	--kind) kind=$2 ;;
	--grid) grid=$2 ;;
	--test) test_n=$2 ;;
	--train) train_n=$2 ;;
	--noise) noise=$2 ;;
	--arch) arch=$2 ;;
	--m) m=$2 ;;
	--ages) ages=$2 ;;
	--seed) seed=$2 ;;
	--timeout) timeout_s=$2 ;;
	--cards) cards=$2 ;;
	--mode) mode=$2 ;;
	--preset) preset=$2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-demo: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
case "$kind" in
per-weight|shared|samples) ;;
*) echo "run-demo: --kind is per-weight, shared or samples" >&2; exit 2 ;;
esac

tool=$BUILD/demo/bnn-demo
for f in "$tool" "$BUILD/guest/p_demo" "$BUILD/guest/bnnaccd"; do
	[ -x "$f" ] || { echo "run-demo: $f missing: run 'make all'" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1f s", b - a }'; }
say() { echo "[$(elapsed)] $*"; }

# One data set and kind into directory $1 (the demo proper).
run_one() {
	local dir=$1 ds=$2 kd=$3 data train_args guest via p_args pm card_props sock log vm rc
	local shown=0 alive l s i
	mkdir -p "$dir"
	data=(--train "$train_n" --test "$test_n" --grid "$grid" --seed "$seed")
	[ -z "$ds" ] || data+=(--dataset "$ds")
	[ -z "$noise" ] || data+=(--noise "$noise")

	# 1. Ex-situ training (or a model from elsewhere).
	rm -f "$dir"/card_*.txt "$dir"/achieved.bnnm "$dir"/weights.txt "$dir"/transfer.txt \
		"$dir"/passes.txt "$dir"/goals.tsv
	if [ -n "$model" ]; then
		[ "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" = "$dir/model.bnnm" ] ||
			cp "$model" "$dir/model.bnnm"
		say "model: $model (training skipped)"
	else
		train_args=()
		[ -z "$arch" ] || train_args+=(--arch "$arch")
		case "$kd" in
		samples) train_args+=(--kind samples) ;;
		shared) train_args+=(--sigma shared) ;;
		*) train_args+=(--sigma per-weight) ;;
		esac
		say "training a BNN on ${ds:-moons} ($kd posterior)"
		"$tool" train --out "$dir/model.bnnm" "${data[@]}" "${train_args[@]}" 2>&1 |
			sed 's/^/    /'
	fi
	"$tool" points --out "$dir/points.txt" "${data[@]}"

	# 2. Transfer and inference on the emulated card: bnnaccd in the guest, on
	# a private socket and state directory, and p_demo its client (or p_demo
	# alone over libbnnacc with --direct).
	p_args="/mnt/host/model.bnnm /mnt/host/points.txt /mnt/host $m $ages"
	if [ $direct -eq 1 ]; then
		via="libbnnacc directly"
		guest="p_demo --cards $cards ${mode:+--mode $mode} $p_args"
	else
		via="bnnaccd"
		pm=
		[ "$m" = 0 ] || pm="-o program_m=$m"
		# drift checks only when the demo asks (`check`), so each pass's
		# numbers are of a known state
		guest="d=/tmp/bnnaccd-demo; mkdir -p \$d/state
		bnnaccd -f -s \$d/sock -d \$d/state -o drift_check_s=0 $pm 2>\$d/log & dp=\$!
		p_demo --daemon \$d/sock \$d/state $p_args; rc=\$?
		kill -TERM \$dp; wait \$dp; echo \"p_demo: bnnaccd exited with status \$?\"
		sed 's/^/bnnaccd: /' \$d/log; exit \$rc"
	fi
	card_props=()
	for ((i = 0; i < cards; i++)); do
		card_props+=(--card "seed=$((2026 + i))${preset:+,preset=$preset}")
	done
	say "booting the emulated card ($via): calibrate, program in one step, infer"
	sock=$(mktemp -u "${TMPDIR:-/tmp}/bnnacc-demo.XXXXXX.sock")
	log=$dir/serial.log
	: > "$log"
	"$top/tests/vm/run-vm.sh" --share "$dir" --qmp "$sock" --log "$log" --mem 1024 \
		--timeout "$timeout_s" "${card_props[@]}" -- "$guest" >/dev/null 2>"$dir/vm.err" &
	vm=$!
	while :; do
		alive=0
		kill -0 "$vm" 2>/dev/null && alive=1
		mapfile -t lines < <(tr -d '\r' < "$log" | grep -a -E '^(p_demo: |P_DEMO-ADVANCE )' || true)
		while [ "$shown" -lt "${#lines[@]}" ]; do
			l=${lines[$shown]}
			shown=$((shown + 1))
			case "$l" in
			P_DEMO-ADVANCE*)
				s=${l#P_DEMO-ADVANCE }
				for ((i = 0; i < cards; i++)); do
					python3 "$top/tests/vm/qmp.py" "$sock" qom-set \
						"{\"path\":\"/machine/peripheral/card$i\",\"property\":\"clock-advance-s\",\"value\":$s}" \
						>/dev/null || echo "run-demo: QMP clock-advance-s failed (the guest will time out)" >&2
				done
				say "    card clock advanced by $s s (QMP clock-advance-s)" ;;
			*) say "    ${l#p_demo: }" ;;
			esac
		done
		[ $alive -eq 1 ] || break
		sleep 0.2
	done
	rc=0
	wait "$vm" || rc=$?
	rm -f "$sock"
	if [ $rc -ne 0 ] || ! grep -aq 'p_demo: PASS' "$log"; then
		echo "run-demo: the card side failed (rc $rc); serial log: $log" >&2
		tail -n 20 "$log" "$dir/vm.err" >&2
		return 1
	fi

	# 3. Numbers (the report refuses a model of another data set).
	say "software reference and metrics"
	"$tool" report --dir "$dir" --model "$dir/model.bnnm" "${data[@]}" --ages "$ages"

	# 4. Pictures.
	if command -v gnuplot >/dev/null; then
		say "figures (gnuplot)"
		(cd "$dir" && gnuplot "$top/demo/figures.gp")
	else
		echo "run-demo: gnuplot missing: no figures (scripts/install-deps.sh installs it)" >&2
	fi
	echo
	cat "$dir/table.txt"
	echo
}

if [ $all -eq 0 ]; then
	if [ -n "$model" ] && [ -z "$dataset" ]; then
		# the model's own data set (metadata); the report checks it again
		dataset=$("$tool" dataset --model "$model") || exit 2
	fi
	run_one "$out" "$dataset" "$kind" || exit 1
	say "done. Results in $out:"
	echo "    metrics.json table.txt  numbers (goals per pass: goals.tsv)"
	echo "    boundary.png            decision boundary + predictive uncertainty, software | card (2-D sets)"
	echo "    difference.png          card - software (class probability, entropy) (2-D sets)"
	echo "    conductance.png         target vs programmed conductance of four weights"
	echo "    metrics_vs_m.png        fidelity against the number of sampled networks and the card's age"
	echo "    serial.log model.bnnm achieved.bnnm card_*.txt passes.txt  raw data"
	exit 0
fi

# --all: every data set with every kind, and the goals table.
[ -z "$model" ] || { echo "run-demo: --all trains its own models (no --model)" >&2; exit 2; }
sets=$("$tool" dataset --list)
for ds in $sets; do
	for kd in per-weight shared samples; do
		run_one "$out/$ds-$kd" "$ds" "$kd" || exit 1
	done
done
python3 "$top/demo/goals.py" "$out" $sets
say "done: the goals table is $out/goals.md, every run's numbers in $out/<set>-<kind>/"
