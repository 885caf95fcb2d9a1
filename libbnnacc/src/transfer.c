/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - ex-situ transfer: one gain gamma per layer, each
 * weight `cells` cells per sign (G+ on rows driven with +x, G- on rows
 * driven with -x) whose currents come from the calibrated curves, each
 * layer split into tiles that fit the array, whole networks placed on the
 * cards clear of stuck cells and of the reference column, and one PROGRAM
 * of each whole array. Two modes (enum bnnacc_xfer_mode): every network
 * programs the same pair and the device draws the sample (SHARED, the seed
 * paper's), or network k programs its own posterior draw on the quietest
 * pair (SAMPLES).
 */
#include "internal.h"
#include "net.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN 64		/* points along a pair's common-mode shift */
#define MTAB 128	/* points of the reachable-region table over |mean| */
#define GAMMA_STEPS 400
#define DEFAULT_SEED 0x5eedb1a5c0ffeeull
#define NREPEAT 7	/* repeat candidates 1, 2, 4, ..., 64 */

/* ---------------------------------------------------------------------- */
/* One cell per sign: the pair G+ - G-                                     */
/* ---------------------------------------------------------------------- */

/* A candidate pair: median G of the + and - cells, < 0 for RESET */
struct pair {
	double gp, gm, mean, sig;
};

static double lvl_med(const struct bnnacc_calib *c, double g)
{
	return g < 0 ? c->reset_med : g;
}

static void pair_eval(const struct bnnacc_calib *c, unsigned rep, struct pair *p)
{
	double sp = bnnacc_calib_sigma(c, p->gp, rep);
	double sm = bnnacc_calib_sigma(c, p->gm, rep);

	p->mean = lvl_med(c, p->gp) - lvl_med(c, p->gm);
	p->sig = sqrt(sp * sp + sm * sm);
}

/* Pair sigma with G- = u, G+ = u + m */
static double pair_sig(const struct bnnacc_calib *c, unsigned rep, double u, double m)
{
	double a = bnnacc_calib_sigma(c, u + m, rep), b = bnnacc_calib_sigma(c, u, rep);

	return sqrt(a * a + b * b);
}

/* Largest |mean| of a SET/SET pair */
static double max_mean(const struct bnnacc_calib *c)
{
	return c->g_hi - c->g_lo;
}

/* Largest |mean| of any pair (SET at the top, RESET) */
static double reach_mean(const struct bnnacc_calib *c)
{
	return c->g_hi - c->reset_med;
}

/* Sigma range reachable by SET/SET pairs at |mean| @m (m within max_mean) */
static void sig_range(const struct bnnacc_calib *c, unsigned rep, double m,
		      double *lo, double *hi)
{
	double span = c->g_hi - c->g_lo - m, s;
	unsigned k;

	*lo = INFINITY;
	*hi = 0.0;
	for (k = 0; k <= SCAN; k++) {
		s = pair_sig(c, rep, c->g_lo + span * k / SCAN, m);
		*lo = fmin(*lo, s);
		*hi = fmax(*hi, s);
	}
}

static double kl_normal(double m1, double s1, double m2, double s2)
{
	s1 = fmax(s1, 1e-3);
	s2 = fmax(s2, 1e-3);
	return log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2 * s2 * s2) - 0.5;
}

/* Spread of a SET / RESET pair of mean @m (m + reset_med within the SET range) */
static double sr_sig(const struct bnnacc_calib *c, unsigned rep, double m)
{
	double a = bnnacc_calib_sigma(c, m + c->reset_med, rep);
	double b = bnnacc_calib_sigma(c, -1.0, rep);

	return sqrt(a * a + b * b);
}

/* Is (m >= 0, s) on the SET/RESET curve or the RESET/RESET point (1 %)? */
static int on_reset_pairs(const struct bnnacc_calib *c, unsigned rep, double m,
			  double s)
{
	double g = m + c->reset_med;

	if (g >= c->g_lo && g <= c->g_hi && fabs(s / sr_sig(c, rep, m) - 1.0) <= 0.01)
		return 1;
	return m <= 0.01 &&
	       fabs(s / (sqrt(2.0) * bnnacc_calib_sigma(c, -1.0, rep)) - 1.0) <= 0.01;
}

/* The SET/SET pair of mean @m (within max_mean) whose spread is nearest @sigma */
static struct pair set_set(const struct bnnacc_calib *c, unsigned rep, double m,
			   double sigma)
{
	double span = c->g_hi - c->g_lo - m, best = INFINITY, u, d;
	struct pair p = { c->g_lo + m, c->g_lo, 0, 0 };
	unsigned k;

	for (k = 0; k <= SCAN; k++) {
		u = c->g_lo + span * k / SCAN;
		d = fabs(pair_sig(c, rep, u, m) - sigma);
		if (d < best) {
			best = d;
			p.gp = u + m;
			p.gm = u;
		}
	}
	pair_eval(c, rep, &p);
	return p;
}

/* The pair of one cell per sign for (m >= 0, s); 1 if reachable */
static int pair_best(const struct bnnacc_calib *c, unsigned rep, double m,
		     double s, struct pair *out)
{
	double lo, hi, kl, best;
	struct pair cand[3], *p;
	unsigned k;

	cand[0] = set_set(c, rep, fmin(m, max_mean(c)), s);
	cand[1].gp = fmin(fmax(m + c->reset_med, c->g_lo), c->g_hi);
	cand[1].gm = -1.0;
	cand[2].gp = cand[2].gm = -1.0;
	pair_eval(c, rep, &cand[1]);
	pair_eval(c, rep, &cand[2]);
	/* nearest in the sense of the report: KL(target || pair) */
	p = &cand[0];
	best = kl_normal(m, s, p->mean, p->sig);
	for (k = 1; k < 3; k++) {
		kl = kl_normal(m, s, cand[k].mean, cand[k].sig);
		if (kl < best) {
			best = kl;
			p = &cand[k];
		}
	}
	*out = *p;
	if (s <= 0.0)	/* the quietest pair: only the mean must be reachable */
		return m <= reach_mean(c) * 1.0001;
	sig_range(c, rep, fmin(m, max_mean(c)), &lo, &hi);
	return (m <= max_mean(c) && s >= lo * 0.999 && s <= hi * 1.001) ||
	       on_reset_pairs(c, rep, m, s);
}

int bnnacc_pair_choose(const struct bnnacc_calib *c, unsigned cells,
		       unsigned rep, double mean, double sigma, double *ip,
		       double *im, double *am, double *as)
{
	double n = cells ? cells : 1, m = fabs(mean) / n, s = sigma / sqrt(n);
	struct pair p;
	int reach = pair_best(c, rep, m, s, &p);
	double a = mean < 0 ? p.gm : p.gp, b = mean < 0 ? p.gp : p.gm;

	if (ip)
		*ip = a < 0 ? 0.0 : bnnacc_calib_iset(c, a);
	if (im)
		*im = b < 0 ? 0.0 : bnnacc_calib_iset(c, b);
	if (am)
		*am = (mean < 0 ? -p.mean : p.mean) * n;
	if (as)
		*as = p.sig * sqrt(n);
	return reach;
}

double bnnacc_fit_gamma(const struct bnnacc_calib *c, unsigned cells,
			unsigned rep, const float *mu, const float *sg, size_t n,
			double *frac)
{
	double lo[MTAB + 1], hi[MTAB + 1], mm = max_mean(c), amax = 0;
	double g, g0, best_g = -1, best_f = -1, best_cost = INFINITY;
	double nc = cells ? cells : 1, sn = sqrt(nc);
	size_t i;
	unsigned k;

	if (!n || !(mm > 0))
		return -1.0;
	for (k = 0; k <= MTAB; k++)
		sig_range(c, rep, mm * k / MTAB, &lo[k], &hi[k]);
	for (i = 0; i < n; i++)
		amax = fmax(amax, fabs(mu[i]) + sg[i]);
	if (!(amax > 0) || !isfinite(amax))
		return -1.0;
	g0 = nc * mm / amax;
	for (k = 0; k < GAMMA_STEPS; k++) {
		size_t in = 0;
		double cost = 0;

		/* from 1e-2 to 1e3 times the gain that fits the largest |mu| */
		g = g0 * pow(10.0, -2.0 + 5.0 * k / (GAMMA_STEPS - 1));
		for (i = 0; i < n; i++) {
			double m = g * fabs(mu[i]) / nc, s = g * sg[i] / sn, t, l, h;
			unsigned j;

			if (m > mm) {
				if (on_reset_pairs(c, rep, m, s))
					in++;
				else
					cost += (m - mm) / mm + 1.0;
				continue;
			}
			t = m / mm * MTAB;
			j = (unsigned)t;
			j = j >= MTAB ? MTAB - 1 : j;
			t -= j;
			l = lo[j] + (lo[j + 1] - lo[j]) * t;
			h = hi[j] + (hi[j + 1] - hi[j]) * t;
			if ((s >= l * 0.999 && s <= h * 1.001) || on_reset_pairs(c, rep, m, s))
				in++;
			else
				cost += fabs(log(fmax(s, 1e-9) / (s < l ? l : h)));
		}
		if ((double)in / n > best_f ||
		    ((double)in / n == best_f && cost < best_cost)) {
			best_f = (double)in / n;
			best_cost = cost;
			best_g = g;
		}
	}
	if (frac)
		*frac = best_f;
	return best_g;
}

/* ---------------------------------------------------------------------- */
/* Targets: what each weight should be, per network in SAMPLES mode        */
/* ---------------------------------------------------------------------- */

/*
 * The model's per-weight moments (mu, sigma) and, for SAMPLES mode, each
 * network's draw z (GAUSS: standard normals from the seed; SAMPLES: the
 * stored sample, evenly spaced over the chain when there are more than
 * networks), all layers one after the other.
 */
struct targets {
	size_t nw, off[BNNACC_MODEL_MAX_LAYERS + 1];
	unsigned m;
	float *mu, *sg;		/* [nw] */
	float *draw;		/* [m][nw]: SAMPLES mode only */
};

static void targets_free(struct targets *t)
{
	free(t->mu);
	free(t->sg);
	free(t->draw);
}

/* Standard normal quantile: Newton on the CDF (erfc), from a logistic guess */
static double norm_quantile(double p)
{
	double x = log(p / (1.0 - p)) / 1.702;
	unsigned i;

	for (i = 0; i < 50; i++) {
		double f = 0.5 * erfc(-x / M_SQRT2) - p;
		double d = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
		double dx = f / d;

		x -= dx;
		if (fabs(dx) < 1e-12)
			break;
	}
	return x;
}

/*
 * GAUSS draws for @m networks: a Latin hypercube. Each weight's m values
 * are the normal's m quantiles (j + 1/2) / m, in an order of its own
 * (random permutation): every network's draw is still a sample of the
 * posterior, and the m of a weight have exactly its marginal, which takes
 * most of the Monte Carlo noise out of an m-network average.
 */
static void lhs_draws(struct bnl_rng *rng, unsigned m, size_t nw, float *d)
{
	unsigned *perm = malloc(m * sizeof(*perm)), j, r, tmp;
	double *q = malloc(m * sizeof(*q));
	size_t i;

	if (!perm || !q) {	/* plain draws then: still samples */
		for (i = 0; i < (size_t)m * nw; i++)
			d[i] = (float)bnl_rng_normal(rng);
		free(perm);
		free(q);
		return;
	}
	for (j = 0; j < m; j++)
		q[j] = norm_quantile((j + 0.5) / m);
	for (i = 0; i < nw; i++) {
		for (j = 0; j < m; j++)
			perm[j] = j;
		for (j = m; j > 1; j--) {
			r = (unsigned)(bnl_rng_next(rng) % j);
			tmp = perm[j - 1];
			perm[j - 1] = perm[r];
			perm[r] = tmp;
		}
		for (j = 0; j < m; j++)
			d[(size_t)j * nw + i] = (float)q[perm[j]];
	}
	free(perm);
	free(q);
}

static int targets_make(const struct bnnacc_model *md, unsigned m, int samples,
			uint64_t seed, struct targets *t)
{
	struct bnl_rng rng;
	unsigned l, k;
	size_t i, nw;

	memset(t, 0, sizeof(*t));
	for (l = 0; l < md->n_layers; l++) {
		t->off[l] = t->nw;
		t->nw += (size_t)md->layer[l].n_out * (md->layer[l].n_in + 1);
	}
	t->off[md->n_layers] = t->nw;
	t->m = m;
	t->mu = malloc(t->nw * sizeof(float));
	t->sg = malloc(t->nw * sizeof(float));
	if (samples)
		t->draw = malloc((size_t)m * t->nw * sizeof(float));
	if (!t->mu || !t->sg || (samples && !t->draw)) {
		targets_free(t);
		return -ENOMEM;
	}
	for (l = 0; l < md->n_layers; l++)
		bnnacc_model_moments(md, l, t->mu + t->off[l], t->sg + t->off[l]);
	if (!samples)
		return 0;
	bnl_rng_seed(&rng, seed ? seed : DEFAULT_SEED);
	if (md->kind == BNNACC_MODEL_GAUSS) {
		lhs_draws(&rng, m, t->nw, t->draw);
		return 0;
	}
	/*
	 * Stored samples, evenly spaced over the chain when there are more
	 * than networks (the least correlated subset; a greedy subset matching
	 * the chain's per-weight moments did no better, docs/libbnnacc.md)
	 */
	for (k = 0; k < m; k++)
		for (l = 0; l < md->n_layers; l++) {
			const struct bnnacc_layer *ly = &md->layer[l];
			float *d = t->draw + (size_t)k * t->nw + t->off[l];
			unsigned s = md->n_samples >= m ?
				     (unsigned)((uint64_t)k * md->n_samples / m) :
				     k % md->n_samples;

			nw = t->off[l + 1] - t->off[l];
			memcpy(d, ly->samples + (size_t)s * nw, nw * sizeof(float));
		}
	(void)i;
	return 0;
}

/*
 * Network k's target of weight i (weight units) given the device spread
 * @dev (weight units) the quietest pair of its mean adds: GAUSS draws mu +
 * sqrt(sigma^2 - dev^2) z, SAMPLES shrink the stored sample towards mu by
 * sqrt(1 - dev^2 / sigma^2), so that with the device's spread the
 * variance is the posterior's; a weight narrower than the device keeps
 * its mean (clipped).
 */
static double target_of(const struct bnnacc_model *md, const struct targets *t,
			unsigned k, size_t i, double dev, int *clip)
{
	double mu = t->mu[i], sg = t->sg[i], v = t->draw[(size_t)k * t->nw + i];
	double f = sg > dev ? sqrt(1.0 - dev * dev / (sg * sg)) : 0.0;

	*clip = sg > 0 && sg < dev;
	return md->kind == BNNACC_MODEL_GAUSS ? mu + f * sg * v : mu + f * (v - mu);
}

/* ---------------------------------------------------------------------- */
/* Plans: cells per sign, reads, gain; their predicted quality             */
/* ---------------------------------------------------------------------- */

/* Device spread (weight units) of the quietest weight of layer @l of mean @mu */
static double dev_sigma(const struct bnnacc_calib *c, const struct xplan *p,
			unsigned l, double mu)
{
	double as;

	bnnacc_pair_choose(c, p->cells, p->repeat, p->gamma[l] * mu, 0.0, NULL, NULL,
			   NULL, &as);
	return as / p->gamma[l];
}

/* SAMPLES mode: the gain of layer @l that fits every network's target, iterated */
static double samples_gamma(const struct bnnacc_calib *c, struct xplan *p,
			    const struct bnnacc_model *md, const struct targets *t,
			    unsigned l)
{
	double lim = p->cells * reach_mean(c) * 0.995, g = 0, q;
	unsigned it, k;
	size_t i;
	int clip;

	q = 0;
	for (i = t->off[l]; i < t->off[l + 1]; i++)
		q = fmax(q, fabs(t->mu[i]) + 3.0 * t->sg[i]);
	if (!(q > 0) || !isfinite(q))
		return -1.0;
	p->gamma[l] = lim / q;
	for (it = 0; it < 3; it++) {
		q = 0;
		for (i = t->off[l]; i < t->off[l + 1]; i++) {
			double dev = dev_sigma(c, p, l, t->mu[i]);

			for (k = 0; k < t->m; k++)
				q = fmax(q, fabs(target_of(md, t, k, i, dev, &clip)));
		}
		if (!(q > 0))
			return -1.0;
		g = lim / q;
		if (fabs(g / p->gamma[l] - 1.0) < 1e-3)
			break;
		p->gamma[l] = g;
	}
	p->gamma[l] = g;
	return g;
}

/*
 * Mean KL(target || achieved) over the weights of plan @p (each layer's
 * gamma fitted when 0) with calibration @c, and the weights clipped.
 */
static int plan_quality(const struct bnnacc_calib *c, struct xplan *p,
			const struct bnnacc_model *md, const struct targets *t,
			double *kl, unsigned *clipped)
{
	unsigned l;
	size_t i;
	double s = 0;

	*clipped = 0;
	for (l = 0; l < md->n_layers; l++) {
		size_t i0 = t->off[l], n = t->off[l + 1] - i0;

		if (p->mode == BNNACC_XFER_SHARED) {
			if (!(p->gamma[l] > 0))
				p->gamma[l] = bnnacc_fit_gamma(c, p->cells, p->repeat, t->mu + i0,
							       t->sg + i0, n, NULL);
			if (!(p->gamma[l] > 0))
				return -EINVAL;
			for (i = i0; i < i0 + n; i++) {
				double am, as, g = p->gamma[l];

				if (!bnnacc_pair_choose(c, p->cells, p->repeat, g * t->mu[i],
							g * t->sg[i], NULL, NULL, &am, &as))
					(*clipped)++;
				s += kl_normal(g * t->mu[i], g * t->sg[i], am, as);
			}
		} else {
			if (!(p->gamma[l] > 0) && !(samples_gamma(c, p, md, t, l) > 0))
				return -EINVAL;
			for (i = i0; i < i0 + n; i++) {
				double dev = dev_sigma(c, p, l, t->mu[i]);

				*clipped += t->sg[i] < dev;
				/* what the variance subtraction cannot reach */
				s += kl_normal(t->mu[i], t->sg[i], t->mu[i], fmax(t->sg[i], dev));
			}
		}
	}
	*kl = s / t->nw;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Layers in tiles                                                         */
/* ---------------------------------------------------------------------- */

/*
 * Split every layer into parts of at most @rows rows (2 * cells per input,
 * the bias one more input) and @cols columns. @split 0: as few input parts
 * as possible, as even as possible; @split k >= 1: parts of u = (rows /
 * 2 cells) / k inputs and one of what is left, so that k parts of a
 * layer stack exactly in the array's height (a 65-input layer split 33 +
 * 32 leaves 128 - 66 rows too few for the next network's 64). Fills
 * net->parts (allocated) and net->part0.
 */
#define NSPLIT 5

static int make_parts(struct bnnacc_net *net, unsigned cells, unsigned rows,
		      unsigned cols, unsigned split)
{
	const struct bnnacc_model *md = net->model;
	unsigned l, a, b, np = 0, per_in = 2 * cells, ui;

	ui = rows / per_in / (split ? split : 1);
	if (!ui)
		return -ENOSPC;
	for (l = 0; l < md->n_layers; l++) {
		unsigned nin = md->layer[l].n_in + 1, nout = md->layer[l].n_out;

		np += ((nin + ui - 1) / ui) * ((nout + cols - 1) / cols);
	}
	free(net->parts);
	net->parts = calloc(np, sizeof(*net->parts));
	if (!net->parts)
		return -ENOMEM;
	net->nparts = 0;
	for (l = 0; l < md->n_layers; l++) {
		unsigned nin = md->layer[l].n_in + 1, nout = md->layer[l].n_out;
		unsigned pi = (nin + ui - 1) / ui, po = (nout + cols - 1) / cols;

		net->part0[l] = net->nparts;
		for (a = 0; a < pi; a++)
			for (b = 0; b < po; b++) {
				struct xpart *p = &net->parts[net->nparts++];

				p->layer = l;
				p->in0 = split ? a * ui : nin * a / pi;
				p->in1 = split ? (a + 1 == pi ? nin : (a + 1) * ui) : nin * (a + 1) / pi;
				p->out0 = nout * b / po;
				p->out1 = nout * (b + 1) / po;
				p->rows = per_in * (p->in1 - p->in0);
				p->cols = p->out1 - p->out0;
			}
	}
	net->part0[md->n_layers] = net->nparts;
	return 0;
}

/*
 * Place networks over the cards: card after card, as many as fit (or until
 * @want). Tiles go to net->tiles ([m][nparts]); each card gets its k0, m.
 * Returns the networks placed or -errno.
 */
static int place_all(struct bnnacc_net *net, unsigned want)
{
	unsigned *h, *w, i, total = 0;
	struct bnnacc_region *t = NULL;
	int ret = 0;

	h = malloc(net->nparts * sizeof(*h));
	w = malloc(net->nparts * sizeof(*w));
	if (!h || !w) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < net->nparts; i++) {
		h[i] = net->parts[i].rows;
		w[i] = net->parts[i].cols;
	}
	free(net->tiles);
	net->tiles = NULL;
	for (i = 0; i < net->ncards; i++) {
		struct xcard *xc = &net->card[i];
		const struct bnnacc_card_info *in = &xc->card.info;
		size_t room = (size_t)in->rows * in->cols * net->nparts;
		struct bnnacc_region *nt;
		int got;

		xc->k0 = total;
		xc->m = 0;
		if (want && total >= want)
			continue;
		t = realloc(t, room * sizeof(*t));
		if (!t) {
			ret = -ENOMEM;
			goto out;
		}
		got = bnnacc_alloc_tiles(xc->occ ? xc->occ : xc->blocked, in->rows, in->cols,
					 net->nparts, h, w, 0, t);
		if (got < 0) {
			ret = got;
			goto out;
		}
		if (want && total + (unsigned)got > want)
			got = (int)(want - total);
		nt = realloc(net->tiles, (size_t)(total + got) * net->nparts * sizeof(*nt));
		if (!nt && total + got) {
			ret = -ENOMEM;
			goto out;
		}
		net->tiles = nt;
		if (got)	/* (realloc to 0 bytes may have given NULL) */
			memcpy(net->tiles + (size_t)total * net->nparts, t,
			       (size_t)got * net->nparts * sizeof(*t));
		xc->m = (unsigned)got;
		total += (unsigned)got;
	}
	net->m = total;
	ret = (int)total;
out:
	free(t);
	free(h);
	free(w);
	return ret;
}

/* Quick stuck-cell test: RESET all and read, SET all at the top current and read */
static int stuck_test(struct xcard *xc)
{
	struct bnnacc_card *card = &xc->card;
	const struct bnnacc_calib *c = &xc->cal;
	struct bnnacc_region r = { 0, 0, (uint16_t)card->info.rows,
				   (uint16_t)card->info.cols };
	size_t i, n = (size_t)r.rows * r.cols;
	uint32_t *w = malloc(n * 4), *ns = malloc(n * 4);
	double thr_hi = fmax(c->g_lo, 4.0 * c->reset_med) * 1000.0;
	double thr_lo = c->g_hi * 500.0;
	int ret = -ENOMEM;

	if (!w || !ns)
		goto out;
	for (i = 0; i < n; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	ret = card->ops->program(card->ctx, &r, w);
	if (!ret)
		ret = card->ops->read(card->ctx, &r, ns, 1);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		xc->blocked[i] = ns[i] > thr_hi;
	for (i = 0; i < n; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, card->info.iset_max_na);
	ret = card->ops->program(card->ctx, &r, w);
	if (!ret)
		ret = card->ops->read(card->ctx, &r, ns, 1);
	for (i = 0; !ret && i < n; i++)
		xc->blocked[i] |= ns[i] < thr_lo;
out:
	free(w);
	free(ns);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Mapping one card                                                        */
/* ---------------------------------------------------------------------- */

/* Program word of a cell: current in uA, 0 for RESET */
static uint32_t cell_word(const struct bnnacc_card_info *in, double i_ua)
{
	if (i_ua <= 0.0)
		return BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	return BNNACC_PROG_WORD(BNNACC_PROG_SET,
				(uint32_t)fmin(fmax(llround(i_ua * 1000.0), in->iset_min_na),
					       in->iset_max_na));
}

/*
 * Map every weight of every layer for card @xc (its networks in SAMPLES
 * mode): program words and predicted statistics.
 */
static int map_card(struct bnnacc_net *net, struct xcard *xc, const struct targets *t)
{
	const struct bnnacc_model *md = net->model;
	const struct xplan *p = &net->plan;
	unsigned rows = p->mode == BNNACC_XFER_SAMPLES ? xc->m : 1, l, r;
	size_t i;

	for (l = 0; l < md->n_layers; l++) {
		size_t nw = net_nw(net, l);

		xc->ach_mean[l] = malloc(rows * nw * sizeof(float));
		xc->ach_sig[l] = malloc(rows * nw * sizeof(float));
		xc->pw[l] = malloc(rows * nw * 2 * sizeof(uint32_t));
		if (!xc->ach_mean[l] || !xc->ach_sig[l] || !xc->pw[l])
			return -ENOMEM;
		for (r = 0; r < rows; r++)
			for (i = 0; i < nw; i++) {
				size_t j = t->off[l] + i, o = (size_t)r * nw + i;
				double mean, sig, ip, im, am, as;
				int clip;

				if (p->mode == BNNACC_XFER_SAMPLES) {
					mean = target_of(md, t, xc->k0 + r, j,
							 dev_sigma(&xc->cal, p, l, t->mu[j]), &clip);
					sig = 0.0;
				} else {
					mean = t->mu[j];
					sig = t->sg[j];
				}
				bnnacc_pair_choose(&xc->cal, p->cells, p->repeat,
						   p->gamma[l] * mean, p->gamma[l] * sig, &ip,
						   &im, &am, &as);
				xc->pw[l][2 * o] = cell_word(&xc->card.info, ip);
				xc->pw[l][2 * o + 1] = cell_word(&xc->card.info, im);
				xc->ach_mean[l][o] = (float)am;
				xc->ach_sig[l][o] = (float)as;
			}
	}
	return 0;
}

/* The whole array's words of card @xc: its tiles, the reference column, RESET elsewhere */
static int card_words(const struct bnnacc_net *net, struct xcard *xc)
{
	const struct bnnacc_card_info *in = &xc->card.info;
	size_t n = (size_t)in->rows * in->cols, i;
	unsigned k, q, j, ii, c, cells = net->plan.cells;

	free(xc->words);
	xc->words = malloc(n * sizeof(uint32_t));
	if (!xc->words)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		xc->words[i] = BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	for (k = xc->k0; k < xc->k0 + xc->m; k++)
		for (q = 0; q < net->nparts; q++) {
			const struct xpart *p = &net->parts[q];
			const struct bnnacc_region *t = &net->tiles[(size_t)k * net->nparts + q];
			const uint32_t *pw = xc->pw[p->layer] + 2 * net_row(net, xc, p->layer, k);
			unsigned nin = net->model->layer[p->layer].n_in + 1;

			for (j = p->out0; j < p->out1; j++)
				for (ii = p->in0; ii < p->in1; ii++) {
					size_t w = (size_t)j * nin + ii;
					unsigned r0 = t->row + 2 * cells * (ii - p->in0);
					unsigned col = t->col + j - p->out0;

					for (c = 0; c < cells; c++) {
						xc->words[(size_t)(r0 + c) * in->cols + col] = pw[2 * w];
						xc->words[(size_t)(r0 + cells + c) * in->cols + col] =
							pw[2 * w + 1];
					}
				}
		}
	return bnl_ref_words(xc, xc->words);
}

/* ---------------------------------------------------------------------- */
/* Co-resident networks: one image per card, the union of their tiles      */
/* ---------------------------------------------------------------------- */

/* Copy @net's words of the cells of its tiles on card @i into @img */
static void tile_words(const struct bnnacc_net *net, unsigned i, uint32_t *img)
{
	const struct xcard *xc = &net->card[i];
	unsigned cols = xc->card.info.cols, k, q, r;

	for (k = xc->k0; k < xc->k0 + xc->m; k++)
		for (q = 0; q < net->nparts; q++) {
			const struct bnnacc_region *t = &net->tiles[(size_t)k * net->nparts + q];

			for (r = t->row; r < t->row + t->rows; r++)
				memcpy(img + (size_t)r * cols + t->col,
				       xc->words + (size_t)r * cols + t->col,
				       t->cols * sizeof(*img));
		}
}

/* Do @net or a network co-resident with it hold networks on card @i? */
static int group_on(const struct bnnacc_net *net, unsigned i)
{
	const struct bnnacc_net *g = net;

	do {
		if (g->card[i].m)
			return 1;
		g = g->co_next;
	} while (g != net);
	return 0;
}

/*
 * Program card @i of @net and of the networks co-resident with it in one
 * PROGRAM of the whole array: each one's tiles, the reference column (at
 * the levels of @net's calibration), RESET elsewhere; then read the
 * reference cells' baseline, which each of them takes (the column is
 * shared), the card's gain back to 1.
 */
static int program_card(struct bnnacc_net *net, unsigned i)
{
	struct xcard *xc = &net->card[i];
	const struct bnnacc_card_info *in = &xc->card.info;
	struct bnnacc_region all = { 0, 0, (uint16_t)in->rows, (uint16_t)in->cols };
	size_t n = (size_t)in->rows * in->cols, j;
	uint32_t *img = malloc(n * sizeof(*img));
	struct bnnacc_net *g;
	int ret;

	if (!img)
		return -ENOMEM;
	for (j = 0; j < n; j++)
		img[j] = BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	bnl_ref_words(xc, img);
	g = net;
	do {
		tile_words(g, i, img);
		g = g->co_next;
	} while (g != net);
	ret = xc->card.ops->program(xc->card.ctx, &all, img);
	free(img);
	xc->gain = 1.0;
	if (!ret)
		ret = bnl_ref_baseline(xc);
	if (ret)
		return ret;
	for (g = net->co_next; g != net; g = g->co_next) {
		memcpy(g->card[i].ref_base, xc->ref_base, in->rows * sizeof(*xc->ref_base));
		g->card[i].gain = 1.0;
	}
	return 0;
}

/* @net's cells were programmed again: its drift state starts over */
static void drift_restart(struct bnnacc_net *net)
{
	net->drift.refreshes++;
	net->drift.gain = 1.0;
	net->drift.spread = net->drift.excess = 0.0;
	net->drift.refresh = 0;
}

/* The networks kept by a transfer, every co-resident one of them included */
struct group {
	struct bnnacc_net **net;
	unsigned n;
};

static int group_add(struct group *grp, struct bnnacc_net *g)
{
	struct bnnacc_net **t;
	unsigned j;

	for (j = 0; j < grp->n; j++)
		if (grp->net[j] == g)
			return 0;
	t = realloc(grp->net, (grp->n + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	t[grp->n++] = g;
	grp->net = t;
	return 0;
}

/*
 * The cells of @net's tiles on card @i: marked in @map (@mark 1), or
 * (@mark 0) 1 returned when one of them is set in it already
 */
static int tiles_map(const struct bnnacc_net *net, unsigned i, uint8_t *map, int mark)
{
	const struct xcard *xc = &net->card[i];
	unsigned cols = xc->card.info.cols, k, q, r, c;

	for (k = xc->k0; k < xc->k0 + xc->m; k++)
		for (q = 0; q < net->nparts; q++) {
			const struct bnnacc_region *t = &net->tiles[(size_t)k * net->nparts + q];

			for (r = t->row; r < t->row + t->rows; r++) {
				uint8_t *m = map + (size_t)r * cols + t->col;

				if (mark) {
					memset(m, 1, t->cols);
					continue;
				}
				for (c = 0; c < t->cols; c++)
					if (m[c])
						return 1;
			}
		}
	return 0;
}

/*
 * The networks @o keeps (and those co-resident with them) into @grp,
 * checked to be on the cards of @net; @net's blocked cells become the
 * union of theirs (stuck cells, the reference column) and its placement
 * map (occ) those plus every cell of their tiles
 */
static int keep_setup(struct bnnacc_net *net, const struct bnnacc_xfer_opts *o,
		      struct group *grp, char *err, size_t el)
{
	unsigned i, j;

	for (j = 0; j < o->nkeep; j++) {
		struct bnnacc_net *g = o->keep[j];

		if (!g)
			return bnl_err(err, el, -EINVAL, "network %u of the %u to keep is NULL", j,
				       o->nkeep);
		do {
			if (group_add(grp, g))
				return bnl_err(err, el, -ENOMEM, "out of memory");
			g = g->co_next;
		} while (g != o->keep[j]);
	}
	for (j = 0; j < grp->n; j++) {
		const struct bnnacc_net *g = grp->net[j];

		if (g->ncards != net->ncards)
			return bnl_err(err, el, -EINVAL,
				       "a network to keep is on %u card%s, this transfer on %u: "
				       "co-resident networks must be on the same cards, in the same order",
				       g->ncards, g->ncards > 1 ? "s" : "", net->ncards);
		for (i = 0; i < net->ncards; i++) {
			const struct bnnacc_card *a = &g->card[i].card, *b = &net->card[i].card;

			if (a->ctx != b->ctx || a->ops != b->ops || a->info.rows != b->info.rows ||
			    a->info.cols != b->info.cols)
				return bnl_err(err, el, -EINVAL,
					       "card %u of this transfer is not card %u of a network to keep: "
					       "co-resident networks must be on the same cards, in the same order",
					       i, i);
		}
	}
	for (i = 0; i < net->ncards; i++) {
		struct xcard *xc = &net->card[i];
		size_t n = (size_t)xc->card.info.rows * xc->card.info.cols, c;

		xc->occ = calloc(n, 1);
		if (!xc->occ)
			return bnl_err(err, el, -ENOMEM, "out of memory");
		for (j = 0; j < grp->n; j++) {
			const struct bnnacc_net *g = grp->net[j];

			if (tiles_map(g, i, xc->occ, 0))
				return bnl_err(err, el, -EINVAL,
					       "networks to keep overlap on card %u: they are not resident "
					       "together (a transfer without keep replaced one; free it)", i);
			tiles_map(g, i, xc->occ, 1);
			for (c = 0; c < n; c++)
				xc->blocked[c] |= g->card[i].blocked[c];
		}
		for (c = 0; c < n; c++)
			xc->occ[c] |= xc->blocked[c];
	}
	return 0;
}

/* Link @net and the networks of @grp (whole rings) into one ring */
static void group_link(struct bnnacc_net *net, const struct group *grp)
{
	struct bnnacc_net *prev = net;
	unsigned j;

	for (j = 0; j < grp->n; j++) {
		prev->co_next = grp->net[j];
		grp->net[j]->co_prev = prev;
		prev = grp->net[j];
	}
	prev->co_next = net;
	net->co_prev = prev;
}

/* ---------------------------------------------------------------------- */
/* Reports                                                                 */
/* ---------------------------------------------------------------------- */

/* Per-layer reports over every card and network, and the totals */
static void fill_reports(struct bnnacc_net *net, const struct targets *t)
{
	const struct xplan *p = &net->plan;
	struct bnnacc_xfer_report *x = &net->xrep;
	unsigned l, k;
	size_t i;
	double klsum = 0;

	x->clipped = x->weights = 0;
	for (l = 0; l < net->nl; l++) {
		struct bnnacc_layer_report *rep = &net->rep[l];
		size_t nw = net_nw(net, l);
		double amax = 0, sumerr = 0;

		memset(rep, 0, sizeof(*rep));
		rep->weights = (unsigned)nw;
		rep->parts = net->part0[l + 1] - net->part0[l];
		for (i = 0; i < nw; i++) {
			size_t j = t->off[l] + i;
			double tm = p->gamma[l] * t->mu[j], ts = p->gamma[l] * t->sg[j];
			double s = 0, s2 = 0, v = 0, am, as, kl;
			unsigned cnt = 0;

			/* moments of the weight over the networks of every card */
			for (k = 0; k < net->m; k++) {
				struct xcard *xc = net_card_of(net, k);
				size_t o = net_row(net, xc, l, k) + i;

				s += xc->ach_mean[l][o];
				s2 += (double)xc->ach_mean[l][o] * xc->ach_mean[l][o];
				v += (double)xc->ach_sig[l][o] * xc->ach_sig[l][o];
				cnt++;
			}
			am = s / cnt;
			as = sqrt(fmax(s2 / cnt - am * am, 0.0) + v / cnt);
			kl = kl_normal(tm, ts, am, as);
			rep->kl_mean += kl / nw;
			rep->kl_max = fmax(rep->kl_max, kl);
			sumerr += fabs(am - tm);
			amax = fmax(amax, fabs(tm));
			if (p->mode == BNNACC_XFER_SHARED) {
				struct xcard *xc = &net->card[0];

				rep->clipped += !bnnacc_pair_choose(&xc->cal, p->cells, p->repeat,
								    tm, ts, NULL, NULL, NULL,
								    NULL);
			} else {
				rep->clipped += t->sg[j] < dev_sigma(&net->card[0].cal, p, l,
								     t->mu[j]);
			}
		}
		rep->rel_mean_err = amax > 0 ? sumerr / nw / amax : 0.0;
		rep->gamma = p->gamma[l];
		x->clipped += rep->clipped;
		x->weights += rep->weights;
		klsum += rep->kl_mean * nw;
	}
	x->mode = p->mode;
	x->cells = p->cells;
	x->repeat = p->repeat;
	x->m = net->m;
	x->tiles = net->nparts;
	x->kl_mean = x->weights ? klsum / x->weights : 0.0;
	for (x->cards = 0, i = 0; i < net->ncards; i++)
		x->cards += net->card[i].m > 0;
}

/* ---------------------------------------------------------------------- */
/* The plan                                                                */
/* ---------------------------------------------------------------------- */

struct cand {
	int ok;
	unsigned m, split;
	double err;
	double kl[NREPEAT], gamma[NREPEAT][BNNACC_MODEL_MAX_LAYERS];
	unsigned clipped[NREPEAT];
};

static void why(struct bnnacc_xfer_report *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void why(struct bnnacc_xfer_report *x, const char *fmt, ...)
{
	size_t n = strlen(x->why);
	va_list ap;

	if (n + 1 >= sizeof(x->why))
		return;
	va_start(ap, fmt);
	vsnprintf(x->why + n, sizeof(x->why) - n, fmt, ap);
	va_end(ap);
}

/* Smallest rows of the cards, for the split */
static unsigned min_rows(const struct bnnacc_net *net)
{
	unsigned i, r = BNNACC_ROWS;

	for (i = 0; i < net->ncards; i++)
		r = net->card[i].card.info.rows < r ? net->card[i].card.info.rows : r;
	return r;
}

static unsigned min_cols(const struct bnnacc_net *net)
{
	unsigned i, c = BNNACC_COLS;

	for (i = 0; i < net->ncards; i++)
		c = net->card[i].card.info.cols < c ? net->card[i].card.info.cols : c;
	return c - 1;	/* the reference column */
}

static int all_sum(const struct bnnacc_net *net)
{
	unsigned i;

	for (i = 0; i < net->ncards; i++)
		if (!(net->card[i].card.info.features & BNNACC_FEAT_MVM_SUM))
			return 0;
	return 1;
}

/*
 * The expected relative error of the spread the card's @m networks show
 * a weight of: the transfer's (a mean KL(target || achieved) of @kl nats
 * per weight is a relative error of sigma of about sqrt(kl), as KL of
 * N(0, s^2) from N(0, s^2 (1 + e)^2) is e^2 for small e) and the sampling
 * error of a spread estimated from @m draws (1 / sqrt(2 (m - 1))), added
 * in quadrature. More cells per sign lower the first and, as fewer
 * networks fit, raise the second.
 */
static double spread_err(double kl, unsigned m)
{
	return sqrt(kl + (m > 1 ? 1.0 / (2.0 * (m - 1)) : 1.0));
}

/*
 * Choose cells per sign and reads (unless given), evaluating every
 * candidate on card 0's calibration, then place the networks. The rule
 * (docs/libbnnacc.md): for each number of cells, the fewest reads whose
 * mean KL is within 0.002 nats (or 5 %) of the best number of reads; then
 * the cells of the least spread_err() (ties: fewer cells). Each cells
 * candidate takes the split of the layers that places the most networks.
 */
static int plan(struct bnnacc_net *net, const struct bnnacc_xfer_opts *o,
		struct targets *t, char *err, size_t el)
{
	struct cand cand[BNNACC_XFER_MAX_CELLS + 1];
	struct bnnacc_xfer_report *x = &net->xrep;
	unsigned n0 = o->cells ? o->cells : 1, n1 = o->cells ? o->cells : BNNACC_XFER_MAX_CELLS;
	unsigned nrep = all_sum(net) ? NREPEAT : 1, r0 = 0, best_n = 0, rb[BNNACC_XFER_MAX_CELLS + 1];
	unsigned n, r, want = o->m, fit_max = 0, fit_n = 0;
	int ret;

	memset(cand, 0, sizeof(cand));
	if (o->repeat) {
		for (r0 = 0; (1u << r0) < o->repeat && r0 + 1 < NREPEAT; r0++)
			;
		if ((1u << r0) != o->repeat)
			return bnl_err(err, el, -EINVAL, "repeat %u: a power of two 1..%u",
				       o->repeat, BNNACC_XFER_MAX_REPEAT);
		nrep = r0 + 1;
		if (o->repeat > 1 && !all_sum(net))
			return bnl_err(err, el, -EOPNOTSUPP,
				       "repeat %u: a card cannot sum repeated reads (no MVM_SUM feature)",
				       o->repeat);
	}
	for (n = n0; n <= n1; n++) {
		struct cand *c = &cand[n];
		unsigned sp, np_best = 0;

		if (2 * n > min_rows(net))
			break;
		/* the split that places the most networks (ties: fewer tiles) */
		for (sp = 0; sp < NSPLIT; sp++) {
			ret = make_parts(net, n, min_rows(net), min_cols(net), sp);
			if (ret == -ENOMEM)
				return bnl_err(err, el, ret, "out of memory");
			if (ret)
				continue;
			if (sp && net->nparts == np_best)
				continue;	/* the same tiles as a split tried */
			ret = place_all(net, 0);
			if (ret < 0)
				return bnl_err(err, el, ret, "tile allocation: %s",
					       bnnacc_strerror(ret));
			if (!sp || (unsigned)ret > c->m) {
				c->m = (unsigned)ret;
				c->split = sp;
				np_best = net->nparts;
			}
		}
		if (c->m > fit_max) {
			fit_max = c->m;
			fit_n = n;
		}
		if (!c->m || (want && c->m < want))
			continue;
		c->ok = 1;
		if (net->plan.mode == BNNACC_XFER_SAMPLES) {
			targets_free(t);
			ret = targets_make(net->model, want ? want : c->m, 1, o->seed, t);
			if (ret)
				return bnl_err(err, el, ret, "out of memory");
		}
		for (r = r0; r < nrep; r++) {
			struct xplan p = { net->plan.mode, n, 1u << r, { 0 } };
			unsigned l;

			for (l = 0; l < net->nl; l++)
				p.gamma[l] = o->gamma;
			ret = plan_quality(&net->card[0].cal, &p, net->model, t, &c->kl[r],
					   &c->clipped[r]);
			if (ret)
				return bnl_err(err, el, ret,
					       "cannot fit a gain: a layer's weights are all zero or invalid");
			memcpy(c->gamma[r], p.gamma, sizeof(p.gamma));
		}
	}
	for (n = n0; n <= n1; n++) {
		double best = INFINITY;

		if (!cand[n].ok)
			continue;
		for (r = r0; r < nrep; r++)
			best = fmin(best, cand[n].kl[r]);
		for (rb[n] = r0; rb[n] < nrep; rb[n]++)
			if (cand[n].kl[rb[n]] <= best + fmax(0.002, 0.05 * best))
				break;
		cand[n].err = spread_err(cand[n].kl[rb[n]], want ? want : cand[n].m);
		if (!best_n || cand[n].err < cand[best_n].err)
			best_n = n;
	}
	if (!best_n)
		return -ENOSPC;		/* the caller says what fits */
	net->plan.cells = best_n;
	net->plan.repeat = 1u << rb[best_n];
	memcpy(net->plan.gamma, cand[best_n].gamma[rb[best_n]], sizeof(net->plan.gamma));
	why(x, "%s mode%s.\n", net->plan.mode == BNNACC_XFER_SAMPLES ?
	    "samples: each network programs its own posterior draw" :
	    "shared: every network programs the same pairs, the device draws",
	    o->mode ? " (asked)" : " (default for every model kind)");
	why(x, "repeat %u: %s", net->plan.repeat, o->repeat ? "asked" : "");
	if (!o->repeat) {
		if (nrep == 1)
			why(x, "a card cannot sum repeated reads");
		else
			why(x, "mean KL %.4f nats at 1 read, %.4f at %u (the fewest within "
			    "0.002 nats or 5 %% of the best, %.4f)",
			    cand[best_n].kl[0], cand[best_n].kl[rb[best_n]], net->plan.repeat,
			    cand[best_n].kl[nrep - 1]);
	}
	why(x, ".\ncells per sign %u: ", best_n);
	if (o->cells) {
		why(x, "asked");
	} else {
		for (n = 1; n <= BNNACC_XFER_MAX_CELLS; n++)
			if (cand[n].m)
				why(x, "%s%u -> M %u%s KL %.4f error %.3f", n > 1 ? ", " : "", n,
				    cand[n].m, cand[n].ok ? "" : " (too few)",
				    cand[n].ok ? cand[n].kl[rb[n]] : NAN,
				    cand[n].ok ? cand[n].err : NAN);
		why(x, " (the least expected relative error of the networks' spread, "
		    "sqrt(KL + 1 / (2 (M - 1))))");
	}
	why(x, ".\ngamma per layer (uS per weight unit)%s:", o->gamma > 0 ? " (asked)" : "");
	for (n = 0; n < net->nl; n++)
		why(x, " %.4f", net->plan.gamma[n]);
	why(x, " (each layer's own: its currents are scaled back on the host).");
	(void)fit_n;
	ret = make_parts(net, best_n, min_rows(net), min_cols(net), cand[best_n].split);
	if (!ret)
		ret = place_all(net, want);
	if (ret < 0)
		return bnl_err(err, el, ret, "tile allocation: %s", bnnacc_strerror(ret));
	if (net->plan.mode == BNNACC_XFER_SAMPLES && t->m != net->m) {
		targets_free(t);
		ret = targets_make(net->model, net->m, 1, o->seed, t);
		if (ret)
			return bnl_err(err, el, ret, "out of memory");
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The transfer                                                            */
/* ---------------------------------------------------------------------- */

static void card_release(struct xcard *xc)
{
	unsigned l;

	for (l = 0; l < BNNACC_MODEL_MAX_LAYERS; l++) {
		free(xc->ach_mean[l]);
		free(xc->ach_sig[l]);
		free(xc->pw[l]);
		xc->ach_mean[l] = xc->ach_sig[l] = NULL;
		xc->pw[l] = NULL;
	}
	free(xc->blocked);
	free(xc->occ);
	free(xc->words);
	free(xc->ref_base);
	xc->blocked = NULL;
	xc->occ = NULL;
	xc->words = NULL;
	xc->ref_base = NULL;
}

void bnnacc_net_free(struct bnnacc_net *net)
{
	unsigned i;

	if (!net)
		return;
	/* unlinked from its co-resident networks; its cells stay as they are */
	net->co_prev->co_next = net->co_next;
	net->co_next->co_prev = net->co_prev;
	for (i = 0; i < net->ncards; i++)
		card_release(&net->card[i]);
	free(net->parts);
	free(net->tiles);
	free(net->shift);
	free(net->bshift);
	bnnacc_model_free(net->model);
	free(net);
}

unsigned bnnacc_net_m(const struct bnnacc_net *net)
{
	return net->m;
}

double bnnacc_net_gamma(const struct bnnacc_net *net, unsigned l)
{
	return l < net->nl ? net->plan.gamma[l] : 0.0;
}

const struct bnnacc_layer_report *bnnacc_net_report(const struct bnnacc_net *net,
						    unsigned l)
{
	return l < net->nl ? &net->rep[l] : NULL;
}

const struct bnnacc_xfer_report *bnnacc_net_xfer_report(const struct bnnacc_net *net)
{
	return &net->xrep;
}

const struct bnnacc_region *bnnacc_net_tile(const struct bnnacc_net *net,
					    unsigned k, unsigned l, unsigned p,
					    unsigned *card)
{
	unsigned q, i;

	if (k >= net->m || l >= net->nl || p >= net->part0[l + 1] - net->part0[l])
		return NULL;
	q = net->part0[l] + p;
	for (i = 0; i + 1 < net->ncards && k >= net->card[i].k0 + net->card[i].m; i++)
		;
	if (card)
		*card = i;
	return &net->tiles[(size_t)k * net->nparts + q];
}

int bnnacc_net_part(const struct bnnacc_net *net, unsigned l, unsigned p,
		    struct bnnacc_part *out)
{
	const struct xpart *x;

	if (l >= net->nl || p >= net->part0[l + 1] - net->part0[l])
		return -EINVAL;
	x = &net->parts[net->part0[l] + p];
	out->in0 = x->in0;
	out->in1 = x->in1;
	out->out0 = x->out0;
	out->out1 = x->out1;
	out->cells = net->plan.cells;
	return 0;
}

/*
 * The bias level of each layer: a layer whose biases are far larger than
 * its other weights (a model trained on raw inputs of a large scale, say)
 * would, with one gain, leave those weights in the device's noise or the
 * biases beyond the conductance range. Its bias row is read as the value
 * c = (largest |bias| + 3 sigma) / (largest other |weight| + 3 sigma) when
 * that is over 1, and the biases divided by c in the network's copy.
 */
static void bias_levels(struct bnnacc_net *net)
{
	struct bnnacc_model *md = net->model;
	unsigned l, j, i, s, ns;

	for (l = 0; l < md->n_layers; l++) {
		struct bnnacc_layer *ly = &md->layer[l];
		unsigned nin = ly->n_in + 1;
		size_t nw = (size_t)ly->n_out * nin;
		float *mu = malloc(nw * sizeof(float)), *sg = malloc(nw * sizeof(float));
		double qb = 0, qw = 0, c;

		net->bscale[l] = 1.0;
		if (!mu || !sg) {
			free(mu);
			free(sg);
			continue;
		}
		bnnacc_model_moments(md, l, mu, sg);
		for (j = 0; j < ly->n_out; j++)
			for (i = 0; i < nin; i++) {
				double q = fabs(mu[j * nin + i]) + 3.0 * sg[j * nin + i];

				if (i == ly->n_in)
					qb = fmax(qb, q);
				else
					qw = fmax(qw, q);
			}
		free(mu);
		free(sg);
		c = qw > 0 && qb > qw ? qb / qw : 1.0;
		net->bscale[l] = c;
		if (c == 1.0)
			continue;
		ns = md->kind == BNNACC_MODEL_SAMPLES ? md->n_samples : 1;
		for (s = 0; s < ns; s++)
			for (j = 0; j < ly->n_out; j++) {
				size_t o = (size_t)s * nw + (size_t)j * nin + ly->n_in;

				if (md->kind == BNNACC_MODEL_SAMPLES) {
					ly->samples[o] = (float)(ly->samples[o] / c);
				} else {
					ly->mean[o] = (float)(ly->mean[o] / c);
					ly->std[o] = (float)(ly->std[o] / c);
				}
			}
	}
}

static int copy_model(const struct bnnacc_model *src, struct bnnacc_model **dst)
{
	size_t n = bnnacc_model_size(src);
	void *buf = n ? malloc(n) : NULL;
	long w;
	int ret;

	if (!buf)
		return n ? -ENOMEM : -EINVAL;
	w = bnnacc_model_save_mem(src, buf, n);
	ret = w < 0 ? (int)w : bnnacc_model_load_mem(dst, buf, n, NULL, 0);
	free(buf);
	return ret;
}

/*
 * ADC range of part @q of network @k: the largest shift whose full scale
 * covers ~2 rms column sums of its inputs at full scale (@bias 0) or of
 * its bias alone (@bias 1)
 */
static unsigned pick_shift(const struct bnnacc_net *net, unsigned k, unsigned q, int bias)
{
	const struct xpart *p = &net->parts[q];
	struct xcard *xc = net_card_of((struct bnnacc_net *)net, k);
	unsigned n_in = net->model->layer[p->layer].n_in, nin = n_in + 1, i, j, sh = 0;
	unsigned i0 = bias ? n_in : p->in0, i1 = bias ? nin : p->in1 < n_in ? p->in1 : n_in;
	size_t row = net_row(net, xc, p->layer, k);
	double need = 0, s, fs = xc->card.info.adc_fs_ua;

	for (j = p->out0; j < p->out1; j++) {
		s = 0;
		for (i = i0; i < i1; i++) {
			size_t o = row + (size_t)j * nin + i;

			s += pow(xc->ach_mean[p->layer][o], 2) + pow(xc->ach_sig[p->layer][o], 2);
		}
		need = fmax(need, 2.0 * xc->card.info.read_v * sqrt(s));
	}
	while (sh < BNNACC_ADC_SHIFT_MAX && ldexp(fs, -(int)(sh + 1)) >= need)
		sh++;
	return sh;
}

/* The message of a model that fits nowhere (beside @kept networks kept): what would */
static int no_fit(struct bnnacc_net *net, unsigned want, unsigned kept, char *err,
		  size_t el)
{
	unsigned i, cells = 0, l, big = 0, rows = min_rows(net), cols = min_cols(net);
	int got;

	for (l = 0; l < net->nl; l++)
		cells += 2 * (net->model->layer[l].n_in + 1) * net->model->layer[l].n_out;
	if (make_parts(net, 1, rows, cols, 0) == 0 && (got = place_all(net, 0)) >= 0) {
		if (got > 0 && kept)
			return bnl_err(err, el, -ENOSPC,
				       "only %d sampled networks fit on %u card%s clear of stuck cells "
				       "beside the %u network%s kept resident (asked %u; ask fewer, or "
				       "free a kept one)", got, net->ncards, net->ncards > 1 ? "s" : "",
				       kept, kept > 1 ? "s" : "", want);
		if (got > 0)
			return bnl_err(err, el, -ENOSPC,
				       "only %d sampled networks fit on %u card%s clear of stuck cells (asked %u)",
				       got, net->ncards, net->ncards > 1 ? "s" : "", want);
	}
	for (i = 0; i < net->nparts; i++)
		big = net->parts[i].rows * net->parts[i].cols > big ?
		      net->parts[i].rows * net->parts[i].cols : big;
	if (kept && cells <= rows * cols)	/* it would fit an empty array */
		return bnl_err(err, el, -ENOSPC,
			       "one network needs %u cells (2 per weight) in %u tiles of up to %u x %u; "
			       "none fits in the cells the %u network%s kept resident leave free "
			       "(free one of them, or give them fewer sampled networks)",
			       cells, net->nparts, rows, cols, kept, kept > 1 ? "s" : "");
	return bnl_err(err, el, -ENOSPC,
		       "one network needs %u cells (2 per weight) in %u tiles of up to %u x %u; "
		       "an array has %u x %u with one column for reference cells: no network fits "
		       "(a smaller model, e.g. fewer hidden units, would)",
		       cells, net->nparts, rows, cols, rows, cols + 1);
}

int bnnacc_transfer(struct bnnacc_net **out, struct bnnacc_card *const *cards,
		    const struct bnnacc_calib *const *cals, unsigned ncards,
		    const struct bnnacc_model *model,
		    const struct bnnacc_xfer_opts *opts, char *err, size_t el)
{
	struct bnnacc_xfer_opts o;
	struct targets t = { 0 };
	struct group grp = { NULL, 0 };
	struct bnnacc_net *net;
	unsigned i, k, q;
	int ret;

	*out = NULL;
	if (err && el)
		*err = 0;	/* no_fit() below is called when no message was left */
	memset(&o, 0, sizeof(o));
	if (opts)
		o = *opts;
	if (!ncards || ncards > BNNACC_XFER_MAX_CARDS || !cards || !cals)
		return bnl_err(err, el, -EINVAL, "%u cards: 1..%d", ncards,
			       BNNACC_XFER_MAX_CARDS);
	if (o.mode > BNNACC_XFER_SAMPLES || o.cells > BNNACC_XFER_MAX_CELLS ||
	    o.repeat > BNNACC_XFER_MAX_REPEAT || o.gamma < 0 || !isfinite(o.gamma))
		return bnl_err(err, el, -EINVAL,
			       "transfer options: mode %u, cells %u (1..%d), repeat %u (1..%d)",
			       o.mode, o.cells, BNNACC_XFER_MAX_CELLS, o.repeat,
			       BNNACC_XFER_MAX_REPEAT);
	if (o.nkeep && !o.keep)
		return bnl_err(err, el, -EINVAL, "%u networks to keep, but no list of them",
			       o.nkeep);
	net = calloc(1, sizeof(*net));
	if (!net)
		return bnl_err(err, el, -ENOMEM, "out of memory");
	net->co_next = net->co_prev = net;
	net->ncards = ncards;
	for (i = 0; i < ncards; i++) {
		struct xcard *xc = &net->card[i];
		const struct bnnacc_card_info *in = &cards[i]->info;

		xc->card = *cards[i];
		xc->cal = *cals[i];
		xc->gain = 1.0;
		if (!in->rows || in->rows > BNNACC_ROWS || in->cols < 2 ||
		    in->cols > BNNACC_COLS) {
			ret = bnl_err(err, el, -EINVAL, "card %u: %u x %u array", i, in->rows,
				      in->cols);
			goto fail;
		}
		xc->blocked = calloc((size_t)in->rows * in->cols, 1);
		xc->ref_base = malloc(in->rows * sizeof(double));
		if (!xc->blocked || !xc->ref_base) {
			ret = bnl_err(err, el, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (o.nkeep) {
		ret = keep_setup(net, &o, &grp, err, el);
		if (ret)
			goto fail;
	}
	ret = copy_model(model, &net->model);
	if (ret) {
		bnl_err(err, el, ret, "invalid model: %s", bnnacc_strerror(ret));
		goto fail;
	}
	net->nl = model->n_layers;
	bias_levels(net);
	net->plan.mode = o.mode ? o.mode : BNNACC_XFER_SAMPLES;
	for (i = 0; i < ncards; i++) {
		struct xcard *xc = &net->card[i];
		unsigned r;

		/* not with networks kept: it would erase them (their map is taken) */
		if (!o.skip_stuck_test && !grp.n) {
			ret = stuck_test(xc);
			if (ret) {
				bnl_err(err, el, ret, "card %u: stuck-cell test failed: %s", i,
					bnnacc_strerror(ret));
				goto fail;
			}
		}
		for (r = 0; r < xc->card.info.rows; r++)	/* the reference column */
			xc->blocked[(size_t)r * xc->card.info.cols + xc->card.info.cols - 1] = 1;
	}
	ret = targets_make(net->model, 1, 0, o.seed, &t);
	if (ret) {
		bnl_err(err, el, ret, "out of memory");
		goto fail;
	}
	ret = plan(net, &o, &t, err, el);
	if (ret == -ENOSPC && !(err && *err))
		ret = no_fit(net, o.m ? o.m : 1, grp.n, err, el);
	if (ret)
		goto fail;
	net->shift = malloc((size_t)net->m * net->nparts * sizeof(*net->shift));
	net->bshift = malloc((size_t)net->m * net->nparts * sizeof(*net->bshift));
	if (!net->shift || !net->bshift) {
		ret = bnl_err(err, el, -ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < ncards; i++) {
		struct xcard *xc = &net->card[i];

		ret = map_card(net, xc, &t);
		if (!ret)
			ret = card_words(net, xc);
		if (ret) {
			bnl_err(err, el, ret, "out of memory");
			goto fail;
		}
	}
	for (k = 0; k < net->m; k++)
		for (q = 0; q < net->nparts; q++) {
			net->shift[(size_t)k * net->nparts + q] = pick_shift(net, k, q, 0);
			net->bshift[(size_t)k * net->nparts + q] = pick_shift(net, k, q, 1);
		}
	fill_reports(net, &t);
	/* co-resident from now on: each card's image is the union of their tiles */
	group_link(net, &grp);
	for (i = 0; i < ncards; i++) {
		ret = program_card(net, i);
		if (ret) {
			bnl_err(err, el, ret, "programming card %u failed: %s%s", i,
				bnnacc_strerror(ret), grp.n ?
				" (the networks kept on it need bnnacc_net_refresh())" : "");
			goto fail;
		}
	}
	for (i = 0; i < grp.n; i++)
		drift_restart(grp.net[i]);
	for (i = 0; i < ncards; i++) {
		free(net->card[i].occ);
		net->card[i].occ = NULL;
	}
	free(grp.net);
	targets_free(&t);
	*out = net;
	return 0;
fail:
	free(grp.net);
	targets_free(&t);
	bnnacc_net_free(net);
	return ret;
}

int bnnacc_net_refresh(struct bnnacc_net *net, char *err, size_t el)
{
	struct bnnacc_net *g;
	unsigned i;
	int ret;

	for (i = 0; i < net->ncards; i++) {
		if (!group_on(net, i))
			continue;
		ret = program_card(net, i);
		if (ret)
			return bnl_err(err, el, ret, "reprogramming card %u failed: %s", i,
				       bnnacc_strerror(ret));
	}
	/* the co-resident networks' cells were programmed again too */
	g = net;
	do {
		drift_restart(g);
		g = g->co_next;
	} while (g != net);
	return 0;
}

int bnnacc_net_achieved(const struct bnnacc_net *net, struct bnnacc_model **out)
{
	const struct bnnacc_model *m = net->model;
	uint32_t dims[BNNACC_MODEL_MAX_LAYERS + 1], acts[BNNACC_MODEL_MAX_LAYERS];
	int samples = net->plan.mode == BNNACC_XFER_SAMPLES;
	unsigned l, per = samples ? BNNACC_MODEL_MAX_SAMPLES / net->m : 0, s, ns;
	struct bnnacc_model *a;
	struct bnl_rng rng;
	size_t i, n;
	int ret;

	if (samples && !per)
		per = 1;
	ns = samples ? net->m * per : 0;
	if (ns > BNNACC_MODEL_MAX_SAMPLES)
		ns = BNNACC_MODEL_MAX_SAMPLES;
	dims[0] = m->n_inputs;
	for (l = 0; l < m->n_layers; l++) {
		dims[l + 1] = m->layer[l].n_out;
		acts[l] = m->layer[l].act;
	}
	ret = bnnacc_model_new(&a, samples ? BNNACC_MODEL_SAMPLES : BNNACC_MODEL_GAUSS,
			       m->n_layers, dims, acts, ns);
	if (ret)
		return ret;
	memcpy(a->in_mean, m->in_mean, m->n_inputs * sizeof(float));
	memcpy(a->in_scale, m->in_scale, m->n_inputs * sizeof(float));
	memcpy(a->class_name, m->class_name, (size_t)m->n_classes * BNNACC_NAME_LEN);
	bnl_rng_seed(&rng, DEFAULT_SEED + 1);
	for (l = 0; l < m->n_layers; l++) {
		n = net_nw(net, l);
		if (!samples) {
			const struct xcard *xc = &net->card[0];

			for (i = 0; i < n; i++) {
				double f = (i % (m->layer[l].n_in + 1) == m->layer[l].n_in ?
					    net->bscale[l] : 1.0) / net->plan.gamma[l];

				a->layer[l].mean[i] = (float)(xc->ach_mean[l][i] * f);
				a->layer[l].std[i] = (float)(xc->ach_sig[l][i] * f);
			}
			continue;
		}
		/* sample s: network s mod M with the device's spread drawn */
		for (s = 0; s < ns; s++) {
			unsigned k = s % net->m;
			struct xcard *xc = net_card_of((struct bnnacc_net *)net, k);
			size_t o = net_row(net, xc, l, k);

			for (i = 0; i < n; i++)
				a->layer[l].samples[(size_t)s * n + i] =
					(float)((xc->ach_mean[l][o + i] +
						 xc->ach_sig[l][o + i] * bnl_rng_normal(&rng)) /
						net->plan.gamma[l] *
						(i % (m->layer[l].n_in + 1) == m->layer[l].n_in ?
						 net->bscale[l] : 1.0));
		}
	}
	*out = a;
	return 0;
}
