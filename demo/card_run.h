/* SPDX-License-Identifier: MIT */
/*
 * card_run - the card side of the demo over any struct bnnacc_card:
 * calibrate, transfer in one programming step, read the programmed pairs of
 * a few weights back, infer the input points with the M networks, and again
 * at later ages after programming. Writes plain-text files into a
 * directory; the host's `bnn-demo report` turns them into numbers and
 * pictures. The guest program tests/vm/guest/p_demo.c runs it on the
 * emulated card (`--direct`); daemon_run() is the same through bnnaccd.
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

/*
 * The same through the inference daemon: bnnaccd (already started, socket
 * @sock, state directory @statedir) calibrates and programs the model in
 * its `load`, and answers `infer` with every network's output. @dev is a
 * second handle on the daemon's card (/dev/bnnacc0), used only to read the
 * array back (conductance figure) and the device clock: nothing is
 * programmed through it. Returns 0 or -errno, with a message in @err.
 */
int daemon_run(struct bnnacc_dev *dev, const struct card_run_opts *o,
	       const char *sock, const char *statedir, char *err, size_t errlen);

/* Helpers shared by both. */
/* Write "n m c" then n * m lines of c probabilities as DIR/NAME. */
int card_run_dump(const char *dir, const char *name, const struct bnnacc_result *r);
/* achieved.bnnm and transfer.txt of @net into @outdir; *ach gets the achieved model. */
int card_run_files(const struct bnnacc_net *net, const struct bnnacc_model *m,
		   const struct bnnacc_calib *cal, const char *outdir,
		   struct bnnacc_model **ach, char *err, size_t errlen);
/*
 * weights.txt: the probe weights' targets and, from @reads full-array reads
 * @ns (nS, read after read), their pairs in each of @mm networks placed at
 * @tiles ([mm][n_layers]).
 */
int card_run_weights(const struct bnnacc_card_info *info, const uint32_t *ns,
		     unsigned reads, const struct bnnacc_model *m,
		     const struct bnnacc_model *ach, double gamma, unsigned mm,
		     const struct bnnacc_region *tiles, const char *outdir);

/*
 * Format an error message into @err (when not NULL) and return @ret: the
 * demo's one way to report a failure with its context.
 */
int card_run_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One inference pass whose results go to file @name of the output dir. */
typedef int (*card_run_pass_fn)(void *ctx, const char *name, char *err,
				size_t errlen);
/*
 * The passes of a run: "card_0.txt" right after programming, then for each
 * of @o's ages the card's clock advanced (o->advance) and "card_<age>.txt".
 * Returns 0, or -errno with @err set.
 */
int card_run_ages(const struct card_run_opts *o, card_run_pass_fn pass,
		  void *ctx, char *err, size_t errlen);

#endif
