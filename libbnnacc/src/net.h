/* SPDX-License-Identifier: MIT */
/* libbnnacc - a transferred network (shared by transfer.c, drift.c and infer.c). */
#ifndef BNNACC_NET_H
#define BNNACC_NET_H

#include "internal.h"

/*
 * A part of a layer: the weights W[out0..out1)[in0..in1) of its matrix
 * W[n_out][n_in + 1] (in1 == n_in + 1: the bias is in it), held by one
 * tile of 2 * cells * (in1 - in0) rows and out1 - out0 columns in every
 * network. Input i of the part drives rows 2 * cells * (i - in0) + 0 ..
 * cells - 1 with +x (the G+ cells) and the next cells rows with -x (G-).
 */
struct xpart {
	unsigned layer;
	unsigned in0, in1, out0, out1;
	unsigned rows, cols;
};

/*
 * One card the network is on, and what its calibration made of the
 * weights: per weight of layer l ([n_out][n_in + 1]), in uS of the
 * weight's summed difference, the predicted mean and spread and the
 * program words of its + and - cells ([nw][2]); SHARED mode one row for
 * all networks, SAMPLES mode one per network of the card ([m][nw]).
 */
struct xcard {
	struct bnnacc_card card;
	struct bnnacc_calib cal;
	unsigned k0, m;		/* its networks: k0 .. k0 + m - 1 */
	uint8_t *blocked;	/* [rows][cols]: stuck cells and the reference column */
	uint8_t *occ;		/* during a transfer keeping networks: blocked + their tiles */
	uint32_t *words;	/* [rows][cols]: its own image (only its tiles' cells are used) */
	double *ref_base;	/* [rows]: reference cells right after programming, < 0: unused */
	double gain;		/* drift gain the inference divides by */
	float *ach_mean[BNNACC_MODEL_MAX_LAYERS];
	float *ach_sig[BNNACC_MODEL_MAX_LAYERS];
	uint32_t *pw[BNNACC_MODEL_MAX_LAYERS];
};

/* Cells per sign, reads and each layer's gain (uS per weight unit) */
struct xplan {
	unsigned mode, cells, repeat;
	double gamma[BNNACC_MODEL_MAX_LAYERS];
};

struct bnnacc_net {
	struct bnnacc_model *model;	/* private copy */
	unsigned m, nl, ncards;
	struct xcard card[BNNACC_XFER_MAX_CARDS];
	struct xplan plan;
	unsigned nparts;
	struct xpart *parts;		/* grouped by layer, in layer order */
	unsigned part0[BNNACC_MODEL_MAX_LAYERS + 1];	/* layer l: [part0[l], part0[l + 1]) */
	struct bnnacc_region *tiles;	/* [m][nparts] */
	unsigned *shift;		/* [m][nparts]: ADC range learnt, input passes */
	unsigned *bshift;		/* [m][nparts]: the same, bias passes */
	/*
	 * The bias input's level in layer l: its row is read as the value
	 * bscale[l] (not 1), the bias weights held as b / bscale[l] (in
	 * net->model too), so that they map like the layer's other weights
	 */
	double bscale[BNNACC_MODEL_MAX_LAYERS];
	struct bnnacc_layer_report rep[BNNACC_MODEL_MAX_LAYERS];
	struct bnnacc_xfer_report xrep;
	struct bnnacc_drift drift;
	/*
	 * Co-resident networks (on the same cards, each on its own tiles): a
	 * ring, this network alone when it points to itself. Programming any
	 * of them programs the union of their tiles' words.
	 */
	struct bnnacc_net *co_next, *co_prev;
};

/* Card of network @k */
static inline struct xcard *net_card_of(struct bnnacc_net *net, unsigned k)
{
	unsigned i;

	for (i = 0; i + 1 < net->ncards; i++)
		if (k < net->card[i].k0 + net->card[i].m)
			break;
	return &net->card[i];
}

/* Weights of layer @l */
static inline size_t net_nw(const struct bnnacc_net *net, unsigned l)
{
	return (size_t)net->model->layer[l].n_out * (net->model->layer[l].n_in + 1);
}

/* Row of network @k (of card @xc) in a per-card per-weight array of layer @l */
static inline size_t net_row(const struct bnnacc_net *net, const struct xcard *xc,
			     unsigned l, unsigned k)
{
	return net->plan.mode == BNNACC_XFER_SAMPLES ? (k - xc->k0) * net_nw(net, l) : 0;
}

/* Program the reference column of @xc and read its baseline (drift.c) */
int bnl_ref_words(const struct xcard *xc, uint32_t *words);
int bnl_ref_baseline(struct xcard *xc);

#endif
