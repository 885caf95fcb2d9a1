/* SPDX-License-Identifier: MIT */
/*
 * card_run - the card side of the demo over any struct bnnacc_card:
 * calibrate, transfer in one programming step, read the programmed pairs of
 * a few weights back, infer the input points with the M networks, and again
 * at later ages after programming. Writes plain-text files into a
 * directory; the host's `bnn-demo report` turns them into numbers and
 * pictures. The guest program tests/vm/guest/p_demo.c runs it on the
 * emulated card.
 */
#ifndef BNN_CARD_RUN_H
#define BNN_CARD_RUN_H

#include <bnnacc/bnnacc.h>

#define CARD_RUN_MAX_AGES 8
#define CARD_RUN_PROBES 4

/**
 * struct card_run_opts
 * @model, @points: model file, points file ("n d" then n lines of d values)
 * @outdir: where card_*.txt, transfer.txt, weights.txt, achieved.bnnm go
 * @caldir: calibration cache directory (NULL: measure every time)
 * @m: networks to program (0: as many as fit)
 * @ages, @nages: seconds after programming of the later inference passes
 * @reads: reads of the array for the conductance distributions
 * @programmed: called (if set) right after the programming step
 * @advance: make the card's clock reach @age_s seconds after programming
 * @log: progress lines ("p_demo: ...") go to this stream
 */
struct card_run_opts {
	const char *model, *points, *outdir, *caldir;
	unsigned m;
	unsigned ages[CARD_RUN_MAX_AGES];
	unsigned nages;
	unsigned reads;
	int (*programmed)(void *ctx);
	int (*advance)(void *ctx, unsigned age_s);
	void *advance_ctx;
};

/* Run it all on @card. Returns 0 or -errno, with a message in @err. */
int card_run(struct bnnacc_card *card, const struct card_run_opts *o,
	     char *err, size_t errlen);

/* Load a points file; *x gets malloc'ed [n][d]. Returns n or -errno. */
int card_run_points(const char *path, unsigned d, float **x);

#endif
