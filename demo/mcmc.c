/* SPDX-License-Identifier: MIT */
/*
 * mcmc - posterior samples of the demo's network by Hamiltonian Monte Carlo
 * (see bnn.h).
 *
 * Target: the density of the weights w given all n points,
 * U(w) = sum_i -log p(y_i | x_i, w) + |w|^2 / (2 prior_sigma^2), its
 * gradient by bnn.c's backward pass over the whole data set (full batch).
 *
 *  1. start: Adam on U / n from bnn_train()'s initialisation (@steps
 *     minibatch steps), near a mode, so the warm-up does not spend itself
 *     on the descent;
 *  2. warm-up (@burn iterations): the leapfrog step size by dual averaging
 *     (Hoffman and Gelman 2014, algorithm 5) towards the acceptance
 *     probability @accept, and a diagonal mass matrix (inverse = the
 *     weights' variance over the window, shrunk towards 1e-3) estimated in
 *     windows that double in length, as Stan does: 15 % of the warm-up
 *     with unit mass, windows, the last 10 % for the step size alone;
 *  3. sampling: the step size fixed (jittered by +-10 % per trajectory so
 *     that no trajectory length resonates), @leapfrog steps per trajectory,
 *     Metropolis correction on the total energy, every @thin-th state kept.
 *
 * Everything is drawn from one bnn_rng seeded with @seed: the same
 * arguments give the same samples bit for bit.
 */
#include "bnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dual averaging constants (Hoffman and Gelman 2014) */
#define DA_GAMMA 0.05
#define DA_T0 10.0
#define DA_KAPPA 0.75
/* an energy error beyond this is a divergent trajectory */
#define MAX_DH 1000.0

struct hmc {
	const struct bnn_net *nt;
	const double *xn;
	const int *y;
	unsigned n;
	double inv_s2;
	double *work;
	unsigned long n_grad;
};

/* U(w) and its gradient @g (overwritten). */
static double energy(struct hmc *h, const double *w, double *g)
{
	size_t k, np = h->nt->np;
	double u, q = 0;

	memset(g, 0, np * sizeof(double));
	u = bnn_net_loss(h->nt, w, h->xn, h->y, h->n, 1.0, g, h->work);
	for (k = 0; k < np; k++) {
		q += w[k] * w[k];
		g[k] += w[k] * h->inv_s2;
	}
	h->n_grad++;
	return u + 0.5 * q * h->inv_s2;
}

/*
 * One trajectory of @l leapfrog steps of size @eps from (@w, momentum @p)
 * whose energy is @u and gradient @g; all four are moved to the end point.
 * Returns the end's potential energy, or INFINITY when it diverged.
 */
static double leapfrog(struct hmc *h, double *w, double *p, double *g,
		       const double *minv, double eps, unsigned l)
{
	size_t k, np = h->nt->np;
	double u = 0;
	unsigned s;

	for (k = 0; k < np; k++)
		p[k] -= 0.5 * eps * g[k];
	for (s = 1; s <= l; s++) {
		for (k = 0; k < np; k++)
			w[k] += eps * minv[k] * p[k];
		u = energy(h, w, g);
		if (!isfinite(u))
			return INFINITY;
		for (k = 0; k < np; k++)
			p[k] -= (s < l ? 1.0 : 0.5) * eps * g[k];
	}
	return u;
}

static double kinetic(const double *p, const double *minv, size_t np)
{
	double kin = 0;
	size_t k;

	for (k = 0; k < np; k++)
		kin += minv[k] * p[k] * p[k];
	return 0.5 * kin;
}

static void momentum(struct bnn_rng *r, double *p, const double *minv, size_t np)
{
	size_t k;

	for (k = 0; k < np; k++)
		p[k] = bnn_rng_normal(r) / sqrt(minv[k]);
}

/*
 * A first step size (Hoffman and Gelman's heuristic): from 0.01, doubled
 * or halved until the acceptance probability of one leapfrog step from @w0
 * crosses 1/2; the last one above 1/2.
 */
static double first_step(struct hmc *h, struct bnn_rng *r, const double *w0,
			 double u0, const double *g0, const double *minv,
			 double *w, double *p, double *g)
{
	size_t np = h->nt->np;
	double eps = 0.01, a, u, h0;
	int dir = 0, i;

	for (i = 0; i < 40; i++) {
		memcpy(w, w0, np * sizeof(double));
		memcpy(g, g0, np * sizeof(double));
		momentum(r, p, minv, np);
		h0 = u0 + kinetic(p, minv, np);
		u = leapfrog(h, w, p, g, minv, eps, 1);
		a = isfinite(u) ? exp(fmin(0, h0 - u - kinetic(p, minv, np))) : 0;
		if (!dir)
			dir = a > 0.5 ? 1 : -1;
		if ((dir > 0 && a <= 0.5) || (dir < 0 && a > 0.5))
			break;
		eps = dir > 0 ? eps * 2 : eps / 2;
	}
	return dir > 0 && i ? eps / 2 : eps;
}

struct dual_avg {
	double mu, hbar, log_eps, log_eps_bar;
	unsigned m;
};

static void da_reset(struct dual_avg *da, double eps)
{
	da->mu = log(10 * eps);
	da->hbar = 0;
	da->log_eps = log(eps);
	da->log_eps_bar = 0;
	da->m = 0;
}

static void da_update(struct dual_avg *da, double target, double alpha)
{
	double eta;

	da->m++;
	da->hbar += ((target - alpha) - da->hbar) / (da->m + DA_T0);
	da->log_eps = da->mu - sqrt((double)da->m) / DA_GAMMA * da->hbar;
	eta = pow((double)da->m, -DA_KAPPA);
	da->log_eps_bar = eta * da->log_eps + (1 - eta) * da->log_eps_bar;
}

/* Adam on U / n by minibatches from the current @w: the chain's start. */
static int find_start(struct hmc *h, const struct bnn_cfg *cfg, struct bnn_rng *r,
		      double *w)
{
	const struct bnn_net *nt = h->nt;
	unsigned nin = nt->dims[0], step, j;
	size_t k, np = nt->np;
	double *buf, *g, *m1, *v1, *xb, b1t = 1, b2t = 1;
	int *yb;

	buf = calloc(3 * np + (size_t)cfg->batch * nin, sizeof(double));
	yb = malloc(cfg->batch * sizeof(int));
	if (!buf || !yb) {
		free(buf);
		free(yb);
		return -ENOMEM;
	}
	g = buf;
	m1 = g + np;
	v1 = m1 + np;
	xb = v1 + np;
	for (step = 1; step <= cfg->steps; step++) {
		double lr = cfg->lr;

		if (step > cfg->steps / 2)
			lr *= 1.0 - 0.8 * (step - cfg->steps / 2) /
				(double)(cfg->steps - cfg->steps / 2);
		for (j = 0; j < cfg->batch; j++) {
			unsigned q = (unsigned)(bnn_rng_uniform(r) * h->n);

			memcpy(xb + (size_t)j * nin, h->xn + (size_t)q * nin,
			       nin * sizeof(double));
			yb[j] = h->y[q];
		}
		memset(g, 0, np * sizeof(double));
		bnn_net_loss(nt, w, xb, yb, cfg->batch, 1.0 / cfg->batch, g, h->work);
		b1t *= 0.9;
		b2t *= 0.999;
		for (k = 0; k < np; k++) {
			double gk = g[k] + w[k] * h->inv_s2 / h->n;

			m1[k] = 0.9 * m1[k] + 0.1 * gk;
			v1[k] = 0.999 * v1[k] + 0.001 * gk * gk;
			w[k] -= lr * (m1[k] / (1 - b1t)) / (sqrt(v1[k] / (1 - b2t)) + 1e-8);
		}
	}
	free(buf);
	free(yb);
	return 0;
}

/* The warm-up's last iterations, for the step size alone. */
static unsigned term_buffer(unsigned burn)
{
	return burn / 5;
}

/*
 * Warm-up schedule: is iteration @it (0-based) of a warm-up of @burn the
 * last of a mass window? @start, @size: the current window (updated).
 */
static int window_end(unsigned it, unsigned burn, unsigned *start, unsigned *size)
{
	unsigned term = term_buffer(burn);

	if (it + 1 != *start + *size || it + 1 > burn - term)
		return 0;
	*start = it + 1;
	*size *= 2;
	/* the last window runs up to the terminal buffer */
	if (*start + 2 * *size > burn - term)
		*size = burn - term > *start ? burn - term - *start : 0;
	return 1;
}

/* Copy the state into sample @s of model @m. */
static void keep(const struct bnn_net *nt, const double *w, struct bnnacc_model *m,
		 unsigned s)
{
	unsigned l;
	size_t k;

	for (l = 0; l < nt->nl; l++) {
		size_t wl = nt->off[l + 1] - nt->off[l];
		float *dst = m->layer[l].samples + (size_t)s * wl;

		for (k = 0; k < wl; k++)
			dst[k] = (float)w[nt->off[l] + k];
	}
}

/* Posterior predictive accuracy on the training set and the samples' spread. */
static int sample_stats(const struct bnn_net *nt, const struct bnnacc_model *m,
			const double *xn, const int *y, unsigned n, struct bnn_stats *st)
{
	unsigned c = nt->dims[nt->nl], s, j, l, b, ok = 0;
	double *w, *pm, *p, *nw, ss = 0;
	size_t k;

	w = malloc((nt->np + 2 * (size_t)c + bnn_net_work(nt)) * sizeof(double));
	if (!w)
		return -ENOMEM;
	pm = w + nt->np;
	p = pm + c;
	nw = p + c;

	for (l = 0; l < nt->nl; l++) {
		size_t wl = nt->off[l + 1] - nt->off[l];

		for (k = 0; k < wl; k++) {
			double a = 0, a2 = 0;

			for (s = 0; s < m->n_samples; s++) {
				double v = m->layer[l].samples[(size_t)s * wl + k];

				a += v;
				a2 += v * v;
			}
			a /= m->n_samples;
			ss += m->n_samples > 1 ? sqrt(fmax(a2 / m->n_samples - a * a, 0) *
						      m->n_samples / (m->n_samples - 1)) : 0;
		}
	}
	for (j = 0; j < n; j++) {
		memset(pm, 0, c * sizeof(double));
		for (s = 0; s < m->n_samples; s++) {
			for (l = 0; l < nt->nl; l++) {
				size_t wl = nt->off[l + 1] - nt->off[l];

				for (k = 0; k < wl; k++)
					w[nt->off[l] + k] = m->layer[l].samples[(size_t)s * wl + k];
			}
			bnn_net_probs(nt, w, xn + (size_t)j * nt->dims[0], p, nw);
			for (b = 0; b < c; b++)
				pm[b] += p[b];
		}
		for (b = 1, s = 0; b < c; b++)
			if (pm[b] > pm[s])
				s = b;
		ok += (int)s == y[j];
	}
	free(w);
	st->accuracy = (double)ok / n;
	st->mean_sigma = ss / nt->np;
	st->n_weights = (unsigned)nt->np;
	return 0;
}

int bnn_sample(const struct bnn_cfg *cfg_in, const float *x, const int *y,
	       unsigned n, struct bnnacc_model **out, struct bnn_stats *st)
{
	struct bnn_cfg cfg = *cfg_in;
	struct bnn_net nt;
	struct bnn_rng r;
	struct hmc h;
	struct dual_avg da;
	struct bnnacc_model *m = NULL;
	double *buf = NULL, *xn = NULL, *inm = NULL, *ins, *w0, *g0, *w, *g, *p, *minv;
	double *wmean, *wm2, u0, eps;
	unsigned long total, it;
	unsigned nin, l, j, kept = 0, accepted = 0, divergent = 0, wn = 0;
	unsigned win_start, win_size;
	size_t k, np;
	int ret;

	if (!n || !x || !y || !out)
		return -EINVAL;
	ret = bnn_net_init(&nt, &cfg);
	if (ret)
		return ret;
	bnn_cfg_common(&cfg, n, 1000);
	cfg.n_samples = cfg.n_samples ? cfg.n_samples : 200;
	cfg.burn = cfg.burn ? cfg.burn : 400;
	cfg.thin = cfg.thin ? cfg.thin : 2;
	cfg.leapfrog = cfg.leapfrog ? cfg.leapfrog : 16;
	cfg.accept = cfg.accept > 0 ? cfg.accept : 0.75;
	if (cfg.n_samples > BNNACC_MODEL_MAX_SAMPLES || cfg.accept >= 1 ||
	    cfg.leapfrog > 10000 || cfg.burn < 20)
		return -EINVAL;
	for (j = 0; j < n; j++)
		if (y[j] < 0 || (unsigned)y[j] >= nt.dims[nt.nl])
			return -EINVAL;
	nin = nt.dims[0];
	np = nt.np;

	ret = -ENOMEM;
	buf = calloc(8 * np + bnn_net_work(&nt), sizeof(double));
	xn = malloc((size_t)n * nin * sizeof(double));
	inm = malloc(2 * (size_t)nin * sizeof(double));
	if (!buf || !xn || !inm)
		goto out;
	ins = inm + nin;
	w0 = buf;
	g0 = w0 + np;
	w = g0 + np;
	g = w + np;
	p = g + np;
	minv = p + np;
	wmean = minv + np;
	wm2 = wmean + np;
	bnn_normalise(x, n, nin, xn, inm, ins);
	ret = bnn_model_new(&nt, BNNACC_MODEL_SAMPLES, cfg.n_samples, inm, ins, &m);
	if (ret)
		goto out;

	h.nt = &nt;
	h.xn = xn;
	h.y = y;
	h.n = n;
	h.inv_s2 = 1.0 / (cfg.prior_sigma * cfg.prior_sigma);
	h.work = wm2 + np;
	h.n_grad = 0;

	/* the start: bnn_train()'s initialisation, then Adam */
	bnn_rng_seed(&r, cfg.seed);
	for (l = 0; l < nt.nl; l++) {
		double sd = 1.0 / sqrt((double)nt.dims[l]);

		for (k = nt.off[l]; k < nt.off[l + 1]; k++)
			w0[k] = sd * bnn_rng_normal(&r);
	}
	ret = find_start(&h, &cfg, &r, w0);
	if (ret)
		goto out;
	for (k = 0; k < np; k++)
		minv[k] = 1;
	u0 = energy(&h, w0, g0);
	ret = -EDOM;
	if (!isfinite(u0))
		goto out;
	eps = first_step(&h, &r, w0, u0, g0, minv, w, p, g);
	da_reset(&da, eps);
	win_start = cfg.burn * 15 / 100;
	win_size = cfg.burn / 16 > 10 ? cfg.burn / 16 : 10;
	total = cfg.burn + (unsigned long)cfg.n_samples * cfg.thin;

	for (it = 0; it < total; it++) {
		int warm = it < cfg.burn;
		double h0, u, alpha, e = eps;

		if (!warm)
			e *= 0.9 + 0.2 * bnn_rng_uniform(&r);
		memcpy(w, w0, np * sizeof(double));
		memcpy(g, g0, np * sizeof(double));
		momentum(&r, p, minv, np);
		h0 = u0 + kinetic(p, minv, np);
		u = leapfrog(&h, w, p, g, minv, e, cfg.leapfrog);
		alpha = 0;
		if (isfinite(u) && u + kinetic(p, minv, np) - h0 < MAX_DH)
			alpha = exp(fmin(0, h0 - u - kinetic(p, minv, np)));
		else if (!warm)
			divergent++;
		if (alpha > 0 && bnn_rng_uniform(&r) < alpha) {
			memcpy(w0, w, np * sizeof(double));
			memcpy(g0, g, np * sizeof(double));
			u0 = u;
			if (!warm)
				accepted++;
		}
		if (warm) {
			da_update(&da, cfg.accept, alpha);
			eps = exp(da.log_eps);
			if (it >= win_start && it < cfg.burn - term_buffer(cfg.burn)) {
				/* Welford's running variance of the window */
				wn++;
				for (k = 0; k < np; k++) {
					double dd = w0[k] - wmean[k];

					wmean[k] += dd / wn;
					wm2[k] += dd * (w0[k] - wmean[k]);
				}
			}
			if (window_end((unsigned)it, cfg.burn, &win_start, &win_size) && wn > 2) {
				for (k = 0; k < np; k++) {
					double v = wm2[k] / (wn - 1);

					minv[k] = (wn * v + 5e-3) / (wn + 5.0);
					wmean[k] = wm2[k] = 0;
				}
				wn = 0;
				eps = first_step(&h, &r, w0, u0, g0, minv, w, p, g);
				da_reset(&da, eps);
			}
			if (it + 1 == cfg.burn)
				eps = exp(da.log_eps_bar);
		} else {
			if ((it - cfg.burn + 1) % cfg.thin == 0)
				keep(&nt, w0, m, kept++);
		}
		if (cfg.verbose && (it + 1) % cfg.verbose == 0)
			fprintf(stderr, "sample: %s %lu/%lu U %.2f step %.4g accept %.3f\n",
				warm ? "warm-up" : "sampling", it + 1, total, u0, eps,
				warm ? alpha : (double)accepted / (it + 1 - cfg.burn));
	}

	if (st) {
		memset(st, 0, sizeof(*st));
		ret = sample_stats(&nt, m, xn, y, n, st);
		if (ret)
			goto out;
		st->nll = bnn_net_loss(&nt, w0, xn, y, n, 1.0, NULL, h.work) / n;
		st->accept = (double)accepted / ((unsigned long)cfg.n_samples * cfg.thin);
		st->step = eps;
		st->divergent = divergent;
		st->n_grad = h.n_grad;
	}
	*out = m;
	m = NULL;
	ret = 0;
out:
	bnnacc_model_free(m);
	free(buf);
	free(xn);
	free(inm);
	return ret;
}
