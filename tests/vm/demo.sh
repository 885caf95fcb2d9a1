#!/usr/bin/env bash
# demo.sh - show the emulated card working: boot the VM bench, load the driver,
# print the card's identity, program five bands of the array (RESET and SET at
# four compliance currents) in one step each through DMA, read the whole
# array back and compare each band's conductance distribution with the
# device model's curve. Writes a table, the raw histogram and a PNG to
# ${OUT:-out}/card/ and prints where they are.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"
out=$(mkdir -p "${OUT:-$top/out}/card" && cd "${OUT:-$top/out}/card" && pwd)
log=$out/serial.log

# Bands of 24 rows: RESET, then SET at 10, 25, 50, 90 uA; rows 120..127 stay
# as manufactured.
isets=(reset 10 25 50 90)
job='bnctl identify'
for i in "${!isets[@]}"; do
	job="$job; bnctl program $((i * 24)) 24 0 128 ${isets[$i]}"
done
for i in "${!isets[@]}"; do
	job="$job; echo band=${isets[$i]}; bnctl read $((i * 24)) 24 0 128 1 --hist 0 220 110"
done

echo "demo: booting the emulated card (Debian $KVER under TCG)..." >&2
t0=$(date +%s.%N)
"$top/tests/vm/run-vm.sh" --card "seed=2026" --log "$log" -- "$job" >/dev/null
t1=$(date +%s.%N)

sed -n '/^model:/,/^clock_s:/p' "$log" | tr -d '\r' > "$out/identify.txt"
# Per band: stats line and histogram, from the serial log.
awk -v out="$out" '
	{ sub(/\r$/, "") }
	/^band=/ { band = substr($0, 6); next }
	/^n=/ && band != "" { stats[band] = $0; next }
	/^hist / && band != "" { print band, $2, $3 > (out "/hist.dat") }
	END { for (b in stats) print b, stats[b] > (out "/stats.txt") }' "$log"

# The model's promise (docs/hardware.md defaults): median k*I with k = 2 uS/uA,
# spread sqrt(1 + 0.7^2) * sigma_c2c(G) combined with 2 % read noise.
{
	printf '%-8s %10s %10s %9s %9s\n' "I_SET" "model_med" "card_med" "model_sd" "card_rsd"
	for b in "${isets[@]}"; do
		line=$(awk -v b="$b" '$1 == b' "$out/stats.txt")
		med=$(echo "$line" | grep -o 'median=[0-9.]*' | cut -d= -f2)
		sd=$(echo "$line" | grep -o 'rsd=[0-9.]*' | cut -d= -f2)
		awk -v b="$b" -v med="$med" -v sd="$sd" 'BEGIN {
			if (b == "reset") { g = 2.0; s = "-" }
			else { g = 2 * b; c = -0.009107 * g + 4.782; if (c < 0.5) c = 0.5;
			       s = sprintf("%.2f", sqrt(c * c * 1.49 + (0.02 * g) ^ 2)) }
			printf "%-8s %10.2f %10.2f %9s %9.2f\n",
				(b == "reset" ? "RESET" : b " uA"), g, med, s, sd }'
	done
} > "$out/table.txt"

if command -v gnuplot >/dev/null; then
	arrows=
	for b in 10 25 50 90; do
		arrows="$arrows
set arrow from $((2 * b)), graph 0 to $((2 * b)), graph 1 nohead dt 2 lc rgb 'black'"
	done
	gnuplot <<EOF
set terminal pngcairo size 1000,600 noenhanced
set output "$out/histogram.png"
set title "bnnacc emulated card: conductance after one programming step (24 x 128 cells per band)\ndashed: model median 2 uS/uA x I_SET"
set xrange [0:220]
set xlabel "conductance (uS)"
set ylabel "cells per 2 uS bin"
set key top right
set grid
set style fill solid 0.5
$arrows
plot for [b in "reset 10 25 50 90"] "$out/hist.dat" using (strcol(1) eq b ? \$2 + 1 : 1/0):3 \
	with boxes title (b eq "reset" ? "RESET" : "SET ".b." uA")
EOF
fi

echo
cat "$out/identify.txt"
echo
echo "Programmed bands (conductance in uS; model = docs/hardware.md defaults;"
echo "rsd = 1.4826 x median absolute deviation, robust to the few stuck cells):"
cat "$out/table.txt"
echo
awk '{ if ($1 != last) { if (last != "") print ""; print ($1 == "reset" ? "RESET" : "SET " $1 " uA"); last = $1 }
       if ($3 > 0) { n = int($3 / 12); bar = ""; for (i = 0; i < n; i++) bar = bar "#";
       printf "  %6.1f %5d %s\n", $2, $3, bar } }' "$out/hist.dat" | awk 'NF' | head -n 200 > "$out/histogram.txt"
printf 'VM boot + run: %.1f s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
echo "demo: results in $out (identify.txt, table.txt, histogram.txt, histogram.png, serial.log)"
