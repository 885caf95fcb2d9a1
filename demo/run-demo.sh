#!/usr/bin/env bash
# run-demo.sh - the paper end to end (`make demo`): train a Bayesian neural
# network ex situ on two moons, transfer it to the emulated RRAM card in one
# programming step through the inference daemon bnnaccd, infer a grid over the
# input plane and a held-out test set on the card with every programmed
# network, again after the card has aged, and compare with the software
# reference: metrics.json, table.txt, figures.
#
# usage: demo/run-demo.sh [options]
#   --out DIR        output directory (default out/demo)
#   --model FILE     use this libbnnacc model instead of training one
#   --grid G         G x G grid over the input plane (default 60)
#   --test N         held-out test points (default 500)
#   --train N        training points (default 1000)
#   --noise X        two-moons noise (default 0.15)
#   --arch A-B-..    network sizes (default 2-32-2)
#   --sigma shared|per-weight   variational family (default shared, see docs/demo.md)
#   --m M            networks to program (default: as many as fit)
#   --ages LIST      seconds after programming of the later passes (default 60,3600,86400)
#   --seed S         data seed (default 1)
#   --timeout S      VM timeout (default 300)
#   --direct         libbnnacc directly in the guest program instead of bnnaccd
# Needs `make all` (build/demo/bnn-demo, build/guest/p_demo, build/guest/bnnaccd,
# QEMU, module).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$top/tests/vm/lib.sh"

out=$top/out/demo
model=
grid=60
test_n=500
train_n=1000
noise=0.15
arch=2-32-2
sigma=shared
m=0
ages=60,3600,86400
seed=1
timeout_s=300
direct=0
while [ $# -gt 0 ]; do
	case "$1" in
	--direct) direct=1; shift; continue ;;
	--out) out=$2 ;;
	--model) model=$2 ;;
	--grid) grid=$2 ;;
	--test) test_n=$2 ;;
	--train) train_n=$2 ;;
	--noise) noise=$2 ;;
	--arch) arch=$2 ;;
	--sigma) sigma=$2 ;;
	--m) m=$2 ;;
	--ages) ages=$2 ;;
	--seed) seed=$2 ;;
	--timeout) timeout_s=$2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-demo: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done

tool=$BUILD/demo/bnn-demo
for f in "$tool" "$BUILD/guest/p_demo" "$BUILD/guest/bnnaccd"; do
	[ -x "$f" ] || { echo "run-demo: $f missing: run 'make all'" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
data=(--train "$train_n" --test "$test_n" --grid "$grid" --noise "$noise" --seed "$seed")
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1f s", b - a }'; }
say() { echo "[$(elapsed)] $*"; }

# 1. Ex-situ training (or a model from elsewhere).
rm -f "$out"/card_*.txt "$out"/achieved.bnnm "$out"/weights.txt "$out"/transfer.txt
if [ -n "$model" ]; then
	[ "$(cd "$(dirname "$model")" && pwd)/$(basename "$model")" = "$out/model.bnnm" ] ||
		cp "$model" "$out/model.bnnm"
	say "model: $model (training skipped)"
else
	say "training a $arch BNN on $train_n two-moons points (Bayes by backprop, $sigma sigma)"
	"$tool" train --out "$out/model.bnnm" "${data[@]}" --arch "$arch" --sigma "$sigma" 2>&1 |
		sed 's/^/    /'
fi
"$tool" points --out "$out/points.txt" "${data[@]}"

# 2. Transfer and inference on the emulated card: bnnaccd in the guest, on a
# private socket and state directory, and p_demo its client (or p_demo alone
# over libbnnacc with --direct).
p_args="/mnt/host/model.bnnm /mnt/host/points.txt /mnt/host $m $ages"
if [ $direct -eq 1 ]; then
	via="libbnnacc directly"
	guest="p_demo $p_args"
else
	via="bnnaccd"
	# load's "m" is not applied by bnnaccd (yet): fix M in its configuration too.
	pm=
	[ "$m" = 0 ] || pm="-o program_m=$m"
	guest="d=/tmp/bnnaccd-demo; mkdir -p \$d/state
	bnnaccd -f -s \$d/sock -d \$d/state $pm 2>\$d/log & dp=\$!
	p_demo --daemon \$d/sock \$d/state $p_args; rc=\$?
	kill -TERM \$dp; wait \$dp; echo \"p_demo: bnnaccd exited with status \$?\"
	sed 's/^/bnnaccd: /' \$d/log; exit \$rc"
fi
say "booting the emulated card ($via): calibrate, program in one step, infer $((grid * grid)) grid + $test_n test points"
sock=$(mktemp -u "${TMPDIR:-/tmp}/bnnacc-demo.XXXXXX.sock")
log=$out/serial.log
: > "$log"
"$top/tests/vm/run-vm.sh" --share "$out" --qmp "$sock" --log "$log" --mem 768 \
	--timeout "$timeout_s" --card "seed=2026" -- "$guest" >/dev/null 2>"$out/vm.err" &
vm=$!
shown=0
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
			python3 "$top/tests/vm/qmp.py" "$sock" qom-set \
				"{\"path\":\"/machine/peripheral/card0\",\"property\":\"clock-advance-s\",\"value\":$s}" \
				>/dev/null || echo "run-demo: QMP clock-advance-s failed (the guest will time out)" >&2
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
	tail -n 20 "$log" "$out/vm.err" >&2
	exit 1
fi

# 3. Numbers.
say "software reference and metrics"
"$tool" report --dir "$out" --model "$out/model.bnnm" "${data[@]}" --ages "$ages"

# 4. Pictures.
if command -v gnuplot >/dev/null; then
	say "figures (gnuplot)"
	(cd "$out" && gnuplot -e "ages='${ages//,/ }'" "$top/demo/figures.gp")
else
	echo "run-demo: gnuplot missing: no figures (scripts/install-deps.sh installs it)" >&2
fi

echo
cat "$out/table.txt"
echo
say "done. Results in $out:"
echo "    metrics.json table.txt  numbers"
echo "    boundary.png            decision boundary + predictive uncertainty, software | card"
echo "    difference.png          card - software (class probability, entropy)"
echo "    conductance.png         target vs programmed conductance of four weights"
echo "    metrics_vs_m.png        fidelity against the number of sampled networks and the card's age"
echo "    serial.log model.bnnm achieved.bnnm card_*.txt  raw data"
