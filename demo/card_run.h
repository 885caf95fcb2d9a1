/* SPDX-License-Identifier: MIT */
/*
 * card_run - the card side of the demo: calibrate, transfer in one
 * programming step, read the programmed cells of a few weights back, infer
 * the input points with the M networks, and again at later ages after
 * programming, each after a drift check of the reference cells (and a
 * refresh when it is advised). Writes plain-text files into a directory;
 * the host's `bnn-demo report` turns them into numbers and pictures. The
 * guest program tests/vm/guest/p_demo.c runs it on the emulated card(s)
 * (`--direct`: card_run(), libbnnacc in the program) or through bnnaccd
 * (daemon_run(), the daemon does calibration, transfer, drift checks and
 * inference).
 *
 * Files: card_<name>.txt (every network's softmax of every point),
 * transfer.txt (what the transfer chose and why), achieved.bnnm (the
 * calibration's model of what the card holds), weights.txt (four weights'
 * cells read back), passes.txt (each pass: measured age, drift gain,
 * spread, excess, refreshed).
 */
#ifndef BNN_CARD_RUN_H
#define BNN_CARD_RUN_H

#include <bnnacc/bnnacc.h>

#define CARD_RUN_MAX_AGES 8
#define CARD_RUN_PROBES 4
#define CARD_RUN_MAX_CARDS 4

/**
 * struct card_run_opts
 * @model, @points: model file, points file ("n d" then n lines of d values)
 * @outdir: where the files go
 * @caldir: calibration cache directory (NULL: measure every time)
 * @m: networks to program (0: as many as fit)
 * @mode, @cells, @repeat: the transfer's (0: the library's choice)
 * @ages, @nages: seconds after programming of the later inference passes
 * @reads: reads of the array for the conductance distributions
 * @programmed: called (if set) right after the programming step
 * @advance: make the card's clock reach @age_s seconds after programming
 * @clock: the device clock now, ns (for the measured ages)
 */
struct card_run_opts {
	const char *model, *points, *outdir, *caldir;
	unsigned m, mode, cells, repeat;
	unsigned ages[CARD_RUN_MAX_AGES];
	unsigned nages;
	unsigned reads;
	int (*programmed)(void *ctx);
	int (*advance)(void *ctx, unsigned age_s);
	int (*clock)(void *ctx, uint64_t *ns);
	void *advance_ctx;
};

/* Run it all on @ncards cards (the networks spread over them). 0 or -errno with @err. */
int card_run(struct bnnacc_card *const *cards, unsigned ncards,
	     const struct card_run_opts *o, char *err, size_t errlen);

/* Load a points file; *x gets malloc'ed [n][d]. Returns n or -errno. */
int card_run_points(const char *path, unsigned d, float **x);

/*
 * The same through the inference daemon: bnnaccd (already started, socket
 * @sock, state directory @statedir) calibrates and programs the model in
 * its `load`, which answers with what the transfer chose and where each
 * network's tiles are; `check` reads the reference cells (and reprograms
 * when advised) before each later pass; `infer` returns every network's
 * output. @dev is a second handle on the daemon's card (/dev/bnnacc0),
 * used only to read the array back (conductance figure) and the device
 * clock: nothing is programmed through it. Returns 0 or -errno.
 */
int daemon_run(struct bnnacc_dev *dev, const struct card_run_opts *o,
	       const char *sock, const char *statedir, char *err, size_t errlen);

/* Helpers shared by both. */

/* Write "n m c" then n * m lines of c probabilities as DIR/NAME. */
int card_run_dump(const char *dir, const char *name, const struct bnnacc_result *r);

/**
 * struct card_run_layout - where every network's weights are on card 0
 * @m: networks on card 0 (the first m), @nparts: parts of all layers
 * @layer, @part: layer and part index of each of the @nparts
 * @parts: their geometry
 * @tiles: [m][nparts]
 */
struct card_run_layout {
	unsigned m, nparts;
	unsigned *layer;
	struct bnnacc_part *parts;
	struct bnnacc_region *tiles;
};

void card_run_layout_free(struct card_run_layout *lay);

/*
 * transfer.txt and achieved.bnnm of @net into @outdir; *ach gets the
 * achieved model. @why (NULL: @net's own) is the report's reasons, e.g.
 * the daemon's for its transfer recomputed here with its choices as asked.
 */
int card_run_files(const struct bnnacc_net *net, const struct bnnacc_model *m,
		   const struct bnnacc_calib *cal, const char *outdir, const char *why,
		   struct bnnacc_model **ach, char *err, size_t errlen);

/*
 * weights.txt: the probe weights' targets and, from @reads full-array reads
 * @ns (nS, read after read) of card 0, their cells in each network of
 * @lay (the + cells' sum minus the - cells' sum); @gamma: each layer's gain.
 */
int card_run_weights(const struct bnnacc_card_info *info, const uint32_t *ns,
		     unsigned reads, const struct bnnacc_model *m,
		     const struct bnnacc_model *ach, const double *gamma,
		     const struct card_run_layout *lay, const char *outdir);

/*
 * Format an error message into @err (when not NULL) and return @ret: the
 * demo's one way to report a failure with its context.
 */
int card_run_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One inference pass whose results go to file @name of the output dir. */
typedef int (*card_run_pass_fn)(void *ctx, const char *name, char *err,
				size_t errlen);
/* A drift check before a later pass: fills @d, *refreshed. */
typedef int (*card_run_check_fn)(void *ctx, struct bnnacc_drift *d, int *refreshed,
				 char *err, size_t errlen);
/*
 * The passes of a run: "card_0.txt" right after programming, then for each
 * of @o's ages the card's clock advanced (o->advance), a drift check
 * (@check) and "card_<age>.txt"; passes.txt records each pass's measured
 * age (device clock at its start since programming, o->clock) and the
 * check. @t_prog_ns: device clock right after programming. Returns 0, or
 * -errno with @err set.
 */
int card_run_ages(const struct card_run_opts *o, uint64_t t_prog_ns,
		  card_run_pass_fn pass, card_run_check_fn check, void *ctx,
		  char *err, size_t errlen);

#endif
