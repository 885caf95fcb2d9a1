# figures.gp - the demo's pictures, run by demo/run-demo.sh in the output
# directory (reads the .dat files `bnn-demo report` wrote). ages='60 3600 ...'
set terminal pngcairo size 1400,1150 font ",11" noenhanced
set output "boundary.png"
set multiplot layout 2,2 title "Two moons: software BNN (left) vs the same BNN transferred to the emulated RRAM card (right)\nwhite: decision boundary (p = 0.5); dots: training points"
set xrange [-1.5:2.5]
set yrange [-1:1.5]
set size ratio -1
set xlabel "x1"
set ylabel "x2"
set palette defined (0 "#2166ac", 0.5 "#f7f7f7", 1 "#b2182b")
set cbrange [0:1]
set cblabel "p(lower moon)"
set key off
set title "software: predictive mean p(class 1)"
plot "grid_sw.dat" u 1:2:3 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white", \
     "train.dat" u 1:2:($3 == 0 ? 1 : 2) w p pt 7 ps 0.25 lc rgb "black"
set title "card: predictive mean p(class 1)"
plot "grid_card.dat" u 1:2:3 w image, "boundary_card.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white", \
     "train.dat" u 1:2 w p pt 7 ps 0.25 lc rgb "black"
set palette rgb 21,22,23
set cbrange [0:log(2)]
set cblabel "predictive entropy U_p (nats)"
set title "software: predictive entropy"
plot "grid_sw.dat" u 1:2:4 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white"
set title "card: predictive entropy"
plot "grid_card.dat" u 1:2:4 w image, "boundary_card.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white"
unset multiplot

set terminal pngcairo size 1400,600 font ",11" noenhanced
set output "difference.png"
set multiplot layout 1,2 title "Card minus software on the grid (grey dots: software boundary, black: card boundary)"
set palette defined (0 "#2166ac", 0.5 "#f7f7f7", 1 "#b2182b")
set cbrange [-0.3:0.3]
set cblabel "p_card - p_software"
set title "difference of p(class 1)"
plot "diff.dat" u 1:2:3 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "gray40", \
     "boundary_card.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "black"
set cbrange [-0.3:0.3]
set cblabel "U_p card - U_p software (nats)"
set title "difference of predictive entropy"
plot "diff.dat" u 1:2:4 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "gray40", \
     "boundary_card.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "black"
unset multiplot

set terminal pngcairo size 1400,1000 font ",11" noenhanced
set output "conductance.png"
set multiplot layout 2,2 title "Target vs programmed weights, as differential conductance G+ - G- (uS)\nbars: read-back of the pair in every programmed network (4 reads each); curves: target gamma*N(mu, sigma) and the calibration's prediction"
set autoscale
set size noratio
unset colorbox
set xlabel "G+ - G- (uS)"
set ylabel "density (1/uS)"
set style fill solid 0.4
set key top right
do for [q=0:3] {
	info = system(sprintf("awk '$1 == \"P\" && $2 == %d { printf \"layer %%d, output %%d, input %%s: target %%.1f +- %%.1f uS\", $3, $4, $5, $6, $7 }' weights.txt", q))
	set title info
	plot "weights_hist.dat" index q u 1:2 w boxes lc rgb "#4393c3" title "card read-back", \
	     "weights_pdf.dat" index q u 1:2 w l lw 2 lc rgb "black" title "target", \
	     "weights_pdf.dat" index q u 1:3 w l lw 2 dt 2 lc rgb "#d6604d" title "predicted by calibration"
}
unset multiplot

set terminal pngcairo size 1400,550 font ",11" noenhanced
set output "metrics_vs_m.png"
set multiplot layout 1,2 title "Fidelity of the card's inference against the software reference"
set key bottom right
set yrange [0:1.02]
set grid
set logscale x
set xlabel "sampled networks M"
set ylabel "value"
set title "against the number of sampled networks"
plot "vs_m.dat" u 1:4 w lp pt 7 title "grid agreement", \
     "" u 1:5 w lp pt 7 title "entropy Pearson r", \
     "" u 1:6 w lp pt 7 title "epistemic Pearson r", \
     "" u 1:3 w lp pt 5 title "card accuracy", \
     "" u 1:2 w lp pt 4 dt 2 title "software accuracy"
set xlabel "time after programming (s)"
set title "against the card's age (all M networks)"
set xrange [5:200000]
plot "vs_age.dat" u 1:3 w lp pt 7 title "grid agreement", \
     "" u 1:4 w lp pt 7 title "entropy Pearson r", \
     "" u 1:5 w lp pt 7 title "epistemic Pearson r", \
     "" u 1:2 w lp pt 5 title "card accuracy"
unset multiplot
