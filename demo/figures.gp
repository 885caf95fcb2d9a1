# figures.gp - the demo's pictures, run by demo/run-demo.sh in the output
# directory (reads the .dat files and plot.gp that `bnn-demo report` wrote).
load "plot.gp"

if (grid2d) {
	set terminal pngcairo size 1400,1150 font ",11" noenhanced
	set output "boundary.png"
	set multiplot layout 2,2 title sprintf("%s: software BNN posterior (left) vs the same BNN transferred to the emulated RRAM card (right)\nwhite: decision boundaries; dots: training points", dataset)
	set xrange [x0:x1]
	set yrange [y0:y1]
	set size ratio -1
	set xlabel "x1"
	set ylabel "x2"
	set key off
	# predicted class, shaded by its probability
	# class c spans [c, c + 1): from white (p = 0) to the class's colour (p = 1)
	set palette defined (0 "#ffffff", 0.999 "#2166ac", 1 "#ffffff", 1.999 "#b2182b", \
			     2 "#ffffff", 2.999 "#1b7837", 3 "#ffffff", 3.999 "#762a83")
	set cbrange [0:4]
	set cblabel "predicted class c: c + p(c)"
	set title "software: predicted class"
	plot "grid_sw.dat" u 1:2:($3 + 0.999 * $4) w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white", \
	     "train.dat" u 1:2 w p pt 7 ps 0.25 lc rgb "black"
	set title "card: predicted class"
	plot "grid_card.dat" u 1:2:($3 + 0.999 * $4) w image, "boundary_card.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white", \
	     "train.dat" u 1:2 w p pt 7 ps 0.25 lc rgb "black"
	set palette rgb 21,22,23
	set cbrange [0:log(classes)]
	set cblabel "predictive entropy U_p (nats)"
	set title "software: predictive entropy"
	plot "grid_sw.dat" u 1:2:5 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white"
	set title "card: predictive entropy"
	plot "grid_card.dat" u 1:2:5 w image, "boundary_card.dat" u 1:2 w p pt 7 ps 0.35 lc rgb "white"
	unset multiplot

	set terminal pngcairo size 1400,600 font ",11" noenhanced
	set output "difference.png"
	set multiplot layout 1,2 title "Card minus software on the grid (grey dots: software boundaries, black: card boundaries)"
	set palette defined (0 "#2166ac", 0.5 "#f7f7f7", 1 "#b2182b")
	set cbrange [-0.3:0.3]
	set cblabel "p_card - p_software (software's class)"
	set title "difference of the predicted class's probability"
	plot "diff.dat" u 1:2:3 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "gray40", \
	     "boundary_card.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "black"
	set cblabel "U_p card - U_p software (nats)"
	set title "difference of predictive entropy"
	plot "diff.dat" u 1:2:4 w image, "boundary_sw.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "gray40", \
	     "boundary_card.dat" u 1:2 w p pt 7 ps 0.3 lc rgb "black"
	unset multiplot
}

set terminal pngcairo size 1400,1000 font ",11" noenhanced
set output "conductance.png"
set multiplot layout 2,2 title "Target vs programmed weights, as differential conductance G+ - G- (uS)\nbars: read-back of the weight's cells in every programmed network (4 reads each); curves: target gamma*N(mu, sigma) and the calibration's prediction"
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
set multiplot layout 1,2 title sprintf("%s: fidelity of the card's inference against the software posterior", dataset)
set key bottom right
set yrange [0:1.02]
set grid
set logscale x
set xlabel "sampled networks M"
set ylabel "value"
set title "against the number of sampled networks (vs as many software samples)"
plot "vs_m.dat" u 1:4 w lp pt 7 title "same class", \
     "" u 1:5 w lp pt 7 title "entropy Pearson r", \
     "" u 1:6 w lp pt 7 title "epistemic Pearson r", \
     "" u 1:3 w lp pt 5 title "card accuracy", \
     "" u 1:2 w lp pt 4 dt 2 title "software accuracy"
set xlabel "time after programming (s, measured on the card's clock)"
set title "against the card's age (all M networks, vs the converged posterior)"
set xrange [0.5:1e8]
plot "vs_age.dat" u 1:3 w lp pt 7 title "same class", \
     "" u 1:4 w lp pt 7 title "entropy Pearson r", \
     "" u 1:5 w lp pt 7 title "epistemic Pearson r", \
     "" u 1:2 w lp pt 5 title "card accuracy"
unset multiplot
