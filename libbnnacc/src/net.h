/* SPDX-License-Identifier: MIT */
/* libbnnacc - a transferred network (shared by transfer.c and infer.c). */
#ifndef BNNACC_NET_H
#define BNNACC_NET_H

#include "internal.h"

struct bnnacc_net {
	struct bnnacc_card card;
	struct bnnacc_model *model;	/* private copy */
	unsigned m, nl;
	double gamma;
	struct bnnacc_region *tiles;	/* [m][nl] */
	unsigned shift[BNNACC_MODEL_MAX_LAYERS];
	float *ach_mean[BNNACC_MODEL_MAX_LAYERS];	/* uS, [n_out][n_in+1] */
	float *ach_sig[BNNACC_MODEL_MAX_LAYERS];
	struct bnnacc_layer_report rep[BNNACC_MODEL_MAX_LAYERS];
};

#endif
