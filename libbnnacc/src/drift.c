/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - drift: every card's last column holds reference cells at
 * known SET levels, programmed with the model and read right after (the
 * baseline). Reading them again tells how far the array has relaxed: the
 * mean ratio now / baseline is the card's gain, which the inference
 * divides its currents by; the spread of the ratios, less read noise, is
 * the spread relaxation added to every cell, which predicts how much wider
 * the weights have become, and so when to reprogram.
 */
#include "internal.h"
#include "net.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_LEVELS 8

/* Calibration level of reference row @r */
static unsigned ref_level(const struct bnnacc_calib *c, unsigned r)
{
	unsigned i = r % REF_LEVELS;

	return (unsigned)((i * (c->nlevels - 1) + (REF_LEVELS - 1) / 2) / (REF_LEVELS - 1));
}

int bnl_ref_words(const struct xcard *xc, uint32_t *words)
{
	const struct bnnacc_card_info *in = &xc->card.info;
	unsigned r;

	for (r = 0; r < in->rows; r++) {
		uint32_t na = (uint32_t)llround(xc->cal.iset_ua[ref_level(&xc->cal, r)] * 1000.0);

		if (na < in->iset_min_na)
			na = in->iset_min_na;
		if (na > in->iset_max_na)
			na = in->iset_max_na;
		words[(size_t)r * in->cols + in->cols - 1] =
			BNNACC_PROG_WORD(BNNACC_PROG_SET, na);
	}
	return 0;
}

/* Per-cell mean of BNNACC_CAL_READS reads of the reference column, uS */
static int ref_read(struct xcard *xc, double *g)
{
	const struct bnnacc_card_info *in = &xc->card.info;
	struct bnnacc_region r = { 0, (uint16_t)(in->cols - 1), (uint16_t)in->rows, 1 };
	uint32_t *ns = malloc((size_t)in->rows * BNNACC_CAL_READS * sizeof(*ns));
	unsigned i, j;
	int ret;

	if (!ns)
		return -ENOMEM;
	ret = xc->card.ops->read(xc->card.ctx, &r, ns, BNNACC_CAL_READS);
	for (i = 0; !ret && i < in->rows; i++) {
		double s = 0;

		for (j = 0; j < BNNACC_CAL_READS; j++)
			s += ns[(size_t)j * in->rows + i] / 1000.0;
		g[i] = s / BNNACC_CAL_READS;
	}
	free(ns);
	return ret;
}

int bnl_ref_baseline(struct xcard *xc)
{
	const struct bnnacc_calib *c = &xc->cal;
	unsigned rows = xc->card.info.rows, r;
	int ret = ref_read(xc, xc->ref_base);

	if (ret)
		return ret;
	/*
	 * a stuck or broken reference cell is far off its level: unused; so is
	 * one programmed near zero (the lowest level's spread reaches it): its
	 * relative read noise is far above the level's, which the spread
	 * estimate of bnnacc_net_check() takes out
	 */
	for (r = 0; r < rows; r++) {
		double med = c->g_med[ref_level(c, r)];
		double tol = fmin(6.0 * bnnacc_calib_sigma(c, med, 1) + 0.05 * med, 0.5 * med);

		if (!(fabs(xc->ref_base[r] - med) <= tol))
			xc->ref_base[r] = -1.0;
	}
	xc->gain = 1.0;
	return 0;
}

/* Level (uS, < 0 RESET) of a program word, by the calibration */
static double word_g(const struct bnnacc_calib *c, uint32_t w)
{
	if (BNNACC_PROG_OP(w) != BNNACC_PROG_SET)
		return -1.0;
	return bnnacc_calib_g(c, BNNACC_PROG_ISET_NA(w) / 1000.0);
}

/*
 * How much a relative spread s adds to the weights of card @xc: the mean
 * over weights of cells * E[G+^2 + G-^2] / the weight's variance at
 * programming (over the card's networks in SAMPLES mode: the spread of
 * their draws and the device's). excess = s^2 * this.
 */
static double sensitivity(const struct bnnacc_net *net, const struct xcard *xc)
{
	const struct bnnacc_calib *c = &xc->cal;
	unsigned rows = net->plan.mode == BNNACC_XFER_SAMPLES ? xc->m : 1, l, r;
	double sum = 0, n = 0;
	size_t i;

	for (l = 0; l < net->nl; l++) {
		size_t nw = net_nw(net, l);

		for (i = 0; i < nw; i++) {
			double g2 = 0, m = 0, m2 = 0, v = 0;

			for (r = 0; r < rows; r++) {
				size_t o = (size_t)r * nw + i;
				double gp = fmax(word_g(c, xc->pw[l][2 * o]), c->reset_med);
				double gm = fmax(word_g(c, xc->pw[l][2 * o + 1]), c->reset_med);

				g2 += net->plan.cells * (gp * gp + gm * gm) / rows;
				m += xc->ach_mean[l][o] / (double)rows;
				m2 += (double)xc->ach_mean[l][o] * xc->ach_mean[l][o] / rows;
				v += (double)xc->ach_sig[l][o] * xc->ach_sig[l][o] / rows;
			}
			sum += g2 / fmax(v + fmax(m2 - m * m, 0), 1e-6);
			n += 1;
		}
	}
	return n ? sum / n : 0.0;
}

int bnnacc_net_check(struct bnnacc_net *net, struct bnnacc_drift *d, char *err,
		     size_t el)
{
	double gsum = 0, s2sum = 0, exsum = 0;
	unsigned i, r, cards = 0;
	int ret = 0;

	for (i = 0; i < net->ncards; i++) {
		struct xcard *xc = &net->card[i];
		unsigned rows = xc->card.info.rows, n = 0;
		double *g, s = 0, s2 = 0, rn = 0, mean, var, spread2;

		if (!xc->m)
			continue;
		g = malloc(rows * sizeof(*g));
		if (!g)
			return bnl_err(err, el, -ENOMEM, "out of memory");
		ret = ref_read(xc, g);
		for (r = 0; !ret && r < rows; r++) {
			double q, sr;

			if (xc->ref_base[r] <= 0)
				continue;
			q = g[r] / xc->ref_base[r];
			/* read noise left in both means, relative */
			sr = bnl_calib_read_sigma(&xc->cal, xc->ref_base[r]) / xc->ref_base[r];
			rn += 2 * sr * sr / BNNACC_CAL_READS;
			s += q;
			s2 += q * q;
			n++;
		}
		free(g);
		if (ret)
			return bnl_err(err, el, ret, "reading the reference cells of card %u: %s",
				       i, bnnacc_strerror(ret));
		if (n < 8)
			return bnl_err(err, el, -EIO,
				       "card %u: only %u usable reference cells", i, n);
		mean = s / n;
		var = fmax(s2 / n - mean * mean, 0) * n / (n - 1);
		spread2 = fmax(var - rn / n, 0);
		xc->gain = mean;
		gsum += mean;
		s2sum += spread2;
		exsum += spread2 * sensitivity(net, xc);
		cards++;
	}
	if (!cards)
		return bnl_err(err, el, -EINVAL, "no card holds a network");
	net->drift.checks++;
	net->drift.gain = gsum / cards;
	net->drift.spread = sqrt(s2sum / cards);
	net->drift.excess = exsum / cards;
	net->drift.refresh = net->drift.excess > BNNACC_DRIFT_EXCESS_MAX;
	if (d)
		*d = net->drift;
	return 0;
}
