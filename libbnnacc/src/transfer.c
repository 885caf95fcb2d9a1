/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - ex-situ transfer: one gain gamma over the network, each
 * weight a differential pair (G+ on a row driven with +x, G- on the next
 * row driven with -x) whose currents come from the calibrated curves, one
 * tile per (sampled network, layer) clear of stuck cells, and one PROGRAM
 * of the whole array.
 */
#include "internal.h"
#include "net.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCAN 64		/* points along a pair's common-mode shift */
#define MTAB 128	/* points of the reachable-region table over |mean| */
#define GAMMA_STEPS 400

/* Pair sigma with G- = u, G+ = u + m */
static double pair_sig(const struct bnnacc_calib *c, double u, double m)
{
	double a = bnnacc_calib_sigma(c, u + m), b = bnnacc_calib_sigma(c, u);

	return sqrt(a * a + b * b);
}

static double max_mean(const struct bnnacc_calib *c)
{
	return c->g_hi - c->g_lo;
}

/* Sigma range reachable at |mean| @m (m within max_mean) */
static void sig_range(const struct bnnacc_calib *c, double m, double *lo,
		      double *hi)
{
	double span = c->g_hi - c->g_lo - m, s;
	unsigned k;

	*lo = INFINITY;
	*hi = 0.0;
	for (k = 0; k <= SCAN; k++) {
		s = pair_sig(c, c->g_lo + span * k / SCAN, m);
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

/* A candidate pair: median G of the + and - cells, < 0 for RESET */
struct pair {
	double gp, gm, mean, sig;
};

static void pair_eval(const struct bnnacc_calib *c, struct pair *p)
{
	double vp = p->gp < 0 ? c->reset_med : p->gp;
	double vm = p->gm < 0 ? c->reset_med : p->gm;
	double sp = p->gp < 0 ? c->reset_sig : bnnacc_calib_sigma(c, p->gp);
	double sm = p->gm < 0 ? c->reset_sig : bnnacc_calib_sigma(c, p->gm);

	p->mean = vp - vm;
	p->sig = sqrt(sp * sp + sm * sm);
}

/* Spread of a SET / RESET pair of mean @m (m + reset_med within the SET range) */
static double sr_sig(const struct bnnacc_calib *c, double m)
{
	return sqrt(pow(bnnacc_calib_sigma(c, m + c->reset_med), 2) +
		    c->reset_sig * c->reset_sig);
}

/* Is (m >= 0, s) on the SET/RESET curve or the RESET/RESET point (1 %)? */
static int on_reset_pairs(const struct bnnacc_calib *c, double m, double s)
{
	double g = m + c->reset_med;

	if (g >= c->g_lo && g <= c->g_hi && fabs(s / sr_sig(c, m) - 1.0) <= 0.01)
		return 1;
	return m <= 0.01 && fabs(s / (sqrt(2.0) * c->reset_sig) - 1.0) <= 0.01;
}

/* The SET/SET pair of mean @m (within max_mean) whose spread is nearest @sigma */
static struct pair set_set(const struct bnnacc_calib *c, double m, double sigma)
{
	double span = c->g_hi - c->g_lo - m, best = INFINITY, u, d;
	struct pair p = { c->g_lo + m, c->g_lo, 0, 0 };
	unsigned k;

	for (k = 0; k <= SCAN; k++) {
		u = c->g_lo + span * k / SCAN;
		d = fabs(pair_sig(c, u, m) - sigma);
		if (d < best) {
			best = d;
			p.gp = u + m;
			p.gm = u;
		}
	}
	pair_eval(c, &p);
	return p;
}

int bnnacc_pair_choose(const struct bnnacc_calib *c, double mean,
		       double sigma, double *ip, double *im, double *am,
		       double *as)
{
	double m = fabs(mean), lo, hi, kl, best;
	struct pair cand[3], *p;
	unsigned k;
	int reach;

	cand[0] = set_set(c, fmin(m, max_mean(c)), sigma);
	cand[1].gp = fmin(fmax(m + c->reset_med, c->g_lo), c->g_hi);
	cand[1].gm = -1.0;
	cand[2].gp = cand[2].gm = -1.0;
	pair_eval(c, &cand[1]);
	pair_eval(c, &cand[2]);
	/* nearest in the sense of the report: KL(target || pair) */
	p = &cand[0];
	best = kl_normal(m, sigma, p->mean, p->sig);
	for (k = 1; k < 3; k++) {
		kl = kl_normal(m, sigma, cand[k].mean, cand[k].sig);
		if (kl < best) {
			best = kl;
			p = &cand[k];
		}
	}
	sig_range(c, fmin(m, max_mean(c)), &lo, &hi);
	reach = (m <= max_mean(c) && sigma >= lo * 0.999 && sigma <= hi * 1.001) ||
		on_reset_pairs(c, m, sigma);
	if (ip)
		*ip = mean < 0 ? (p->gm < 0 ? 0.0 : bnnacc_calib_iset(c, p->gm)) :
				 (p->gp < 0 ? 0.0 : bnnacc_calib_iset(c, p->gp));
	if (im)
		*im = mean < 0 ? (p->gp < 0 ? 0.0 : bnnacc_calib_iset(c, p->gp)) :
				 (p->gm < 0 ? 0.0 : bnnacc_calib_iset(c, p->gm));
	if (am)
		*am = mean < 0 ? -p->mean : p->mean;
	if (as)
		*as = p->sig;
	return reach;
}

double bnnacc_fit_gamma(const struct bnnacc_calib *c, const float *mu,
			const float *sg, size_t n, double *frac)
{
	double lo[MTAB + 1], hi[MTAB + 1], mm = max_mean(c), amax = 0;
	double g, g0, best_g = -1, best_f = -1, best_cost = INFINITY;
	size_t i;
	unsigned k;

	if (!n || !(mm > 0))
		return -1.0;
	for (k = 0; k <= MTAB; k++)
		sig_range(c, mm * k / MTAB, &lo[k], &hi[k]);
	for (i = 0; i < n; i++)
		amax = fmax(amax, fabs(mu[i]) + sg[i]);
	if (!(amax > 0) || !isfinite(amax))
		return -1.0;
	g0 = mm / amax;
	for (k = 0; k < GAMMA_STEPS; k++) {
		size_t in = 0;
		double cost = 0;

		/* from 1e-2 to 1e3 times the gain that fits the largest |mu| */
		g = g0 * pow(10.0, -2.0 + 5.0 * k / (GAMMA_STEPS - 1));
		for (i = 0; i < n; i++) {
			double m = g * fabs(mu[i]), s = g * sg[i], t, l, h;
			unsigned j;

			if (m > mm) {
				if (on_reset_pairs(c, m, s))
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
			if ((s >= l * 0.999 && s <= h * 1.001) || on_reset_pairs(c, m, s))
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

/* ---- tiles ---- */

struct amap {
	unsigned rows, cols;
	uint8_t blocked[BNNACC_ROWS * BNNACC_COLS];
	unsigned ps[(BNNACC_ROWS + 1) * (BNNACC_COLS + 1)];
};

static void amap_sums(struct amap *a)
{
	unsigned r, c, w = a->cols + 1;

	memset(a->ps, 0, sizeof(a->ps));
	for (r = 0; r < a->rows; r++)
		for (c = 0; c < a->cols; c++)
			a->ps[(r + 1) * w + c + 1] = a->blocked[r * BNNACC_COLS + c] +
				a->ps[r * w + c + 1] + a->ps[(r + 1) * w + c] -
				a->ps[r * w + c];
}

static unsigned amap_count(const struct amap *a, unsigned r, unsigned c,
			   unsigned h, unsigned w)
{
	unsigned W = a->cols + 1;

	return a->ps[(r + h) * W + c + w] - a->ps[r * W + c + w] -
	       a->ps[(r + h) * W + c] + a->ps[r * W + c];
}

/* First fit of an h x w tile; marks it used. 0 or -ENOSPC. */
static int amap_place(struct amap *a, unsigned h, unsigned w,
		      struct bnnacc_region *out)
{
	unsigned r, c, i;

	for (r = 0; r + h <= a->rows; r++)
		for (c = 0; c + w <= a->cols; c++) {
			if (amap_count(a, r, c, h, w))
				continue;
			for (i = 0; i < h; i++)
				memset(&a->blocked[(r + i) * BNNACC_COLS + c], 1, w);
			amap_sums(a);
			out->row = (uint16_t)r;
			out->col = (uint16_t)c;
			out->rows = (uint16_t)h;
			out->cols = (uint16_t)w;
			return 0;
		}
	return -ENOSPC;
}

static void amap_reset(struct amap *a, const uint8_t *stuck, unsigned rows,
		       unsigned cols)
{
	unsigned r, c;

	a->rows = rows;
	a->cols = cols;
	memset(a->blocked, 0, sizeof(a->blocked));
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++)
			a->blocked[r * BNNACC_COLS + c] = stuck && stuck[r * cols + c];
	amap_sums(a);
}

/*
 * Try to place @m networks. Mode 0: all m tiles of the tallest layer first,
 * then the next (first fit decreasing); mode 1: network after network.
 * Each tile goes first-fit, row-major. 1 if all fit (tiles filled), else 0.
 */
static int try_place(struct amap *a, const uint8_t *stuck, unsigned nl,
		     const unsigned *h, const unsigned *w, const unsigned *order,
		     unsigned m, int mode, struct bnnacc_region *tiles)
{
	unsigned i, k, l;

	amap_reset(a, stuck, a->rows, a->cols);
	for (i = 0; i < nl * m; i++) {
		l = mode ? i % nl : order[i / m];
		k = mode ? i / nl : i % m;
		if (amap_place(a, h[l], w[l], &tiles[(size_t)k * nl + l]))
			return 0;
	}
	return 1;
}

/* The largest m in [0, hi] that mode @mode places, by bisection */
static unsigned max_place(struct amap *a, const uint8_t *stuck, unsigned nl,
			  const unsigned *h, const unsigned *w,
			  const unsigned *order, unsigned hi, int mode,
			  struct bnnacc_region *tiles)
{
	unsigned lo = 0, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (try_place(a, stuck, nl, h, w, order, mid, mode, tiles))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int bnnacc_alloc_tiles(const uint8_t *stuck, unsigned rows, unsigned cols,
		       unsigned nl, const unsigned *h, const unsigned *w,
		       unsigned want, struct bnnacc_region *tiles)
{
	unsigned order[BNNACC_MODEL_MAX_LAYERS], i, j, t, hi, m0, m1;
	size_t per = 0;
	struct amap *a;
	int mode;

	if (!nl || nl > BNNACC_MODEL_MAX_LAYERS || rows > BNNACC_ROWS ||
	    cols > BNNACC_COLS)
		return -EINVAL;
	for (i = 0; i < nl; i++) {
		if (!h[i] || !w[i] || h[i] > rows || w[i] > cols)
			return 0;
		order[i] = i;
		per += (size_t)h[i] * w[i];
	}
	for (i = 1; i < nl; i++)	/* tallest first, then widest */
		for (j = i; j > 0 && (h[order[j]] > h[order[j - 1]] ||
				      (h[order[j]] == h[order[j - 1]] &&
				       w[order[j]] > w[order[j - 1]])); j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->rows = rows;
	a->cols = cols;
	hi = (unsigned)((size_t)rows * cols / per);
	if (want) {
		for (mode = 0, i = 0; mode < 2 && !i && want <= hi; mode++)
			i = try_place(a, stuck, nl, h, w, order, want, mode, tiles);
		free(a);
		return i ? (int)want : 0;
	}
	m0 = max_place(a, stuck, nl, h, w, order, hi, 0, tiles);
	m1 = max_place(a, stuck, nl, h, w, order, hi, 1, tiles);
	if (m0 >= m1 && m0)
		try_place(a, stuck, nl, h, w, order, m0, 0, tiles);
	else if (m1)
		try_place(a, stuck, nl, h, w, order, m1, 1, tiles);
	free(a);
	return (int)(m0 > m1 ? m0 : m1);
}

/* Quick stuck-cell test: RESET all and read, SET all at the top current and read */
static int stuck_test(struct bnnacc_card *card, const struct bnnacc_calib *c,
		      uint8_t *stuck)
{
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
		ret = card->ops->read(card->ctx, &r, ns);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		stuck[i] = ns[i] > thr_hi;
	for (i = 0; i < n; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, card->info.iset_max_na);
	ret = card->ops->program(card->ctx, &r, w);
	if (!ret)
		ret = card->ops->read(card->ctx, &r, ns);
	for (i = 0; !ret && i < n; i++)
		stuck[i] |= ns[i] < thr_lo;
out:
	free(w);
	free(ns);
	return ret;
}

/* ---- the transfer ---- */

void bnnacc_net_free(struct bnnacc_net *net)
{
	unsigned l;

	if (!net)
		return;
	for (l = 0; l < net->nl; l++) {
		free(net->ach_mean[l]);
		free(net->ach_sig[l]);
	}
	free(net->tiles);
	bnnacc_model_free(net->model);
	free(net);
}

unsigned bnnacc_net_m(const struct bnnacc_net *net)
{
	return net->m;
}

double bnnacc_net_gamma(const struct bnnacc_net *net)
{
	return net->gamma;
}

const struct bnnacc_layer_report *bnnacc_net_report(const struct bnnacc_net *net,
						    unsigned l)
{
	return l < net->nl ? &net->rep[l] : NULL;
}

const struct bnnacc_region *bnnacc_net_tile(const struct bnnacc_net *net,
					    unsigned k, unsigned l)
{
	return k < net->m && l < net->nl ? &net->tiles[(size_t)k * net->nl + l] : NULL;
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

/* Gamma over every weight of the model */
static double net_gamma(const struct bnnacc_model *m, const struct bnnacc_calib *c)
{
	size_t tot = 0, off = 0, w;
	float *mu, *sg;
	unsigned l;
	double g;

	for (l = 0; l < m->n_layers; l++)
		tot += (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
	mu = malloc(tot * sizeof(float));
	sg = malloc(tot * sizeof(float));
	if (!mu || !sg) {
		free(mu);
		free(sg);
		return -1.0;
	}
	for (l = 0; l < m->n_layers; l++) {
		w = (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
		bnnacc_model_moments(m, l, mu + off, sg + off);
		off += w;
	}
	g = bnnacc_fit_gamma(c, mu, sg, tot, NULL);
	free(mu);
	free(sg);
	return g;
}

/* Program word of a pair member: current in uA, 0 for RESET */
static uint32_t pair_word(double i_ua, double lo_na, double hi_na)
{
	if (i_ua <= 0.0)
		return BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	return BNNACC_PROG_WORD(BNNACC_PROG_SET,
				(uint32_t)fmin(fmax(llround(i_ua * 1000.0), lo_na), hi_na));
}

/*
 * Map layer @l: choose each pair (program words into @words[w][2], plus
 * the achieved statistics) and fill the report.
 */
static int map_layer(struct bnnacc_net *net, const struct bnnacc_calib *c,
		     unsigned l, uint32_t *words)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	size_t i, n = (size_t)ly->n_out * (ly->n_in + 1);
	struct bnnacc_layer_report *rep = &net->rep[l];
	double g = net->gamma, amax = 0, lo = net->card.info.iset_min_na;
	double hi = net->card.info.iset_max_na, ip, im, sumerr = 0;
	float *mu = malloc(n * sizeof(float)), *sg = malloc(n * sizeof(float));

	net->ach_mean[l] = malloc(n * sizeof(float));
	net->ach_sig[l] = malloc(n * sizeof(float));
	if (!mu || !sg || !net->ach_mean[l] || !net->ach_sig[l]) {
		free(mu);
		free(sg);
		return -ENOMEM;
	}
	bnnacc_model_moments(net->model, l, mu, sg);
	memset(rep, 0, sizeof(*rep));
	rep->weights = (unsigned)n;
	for (i = 0; i < n; i++) {
		double am, as, kl;

		if (!bnnacc_pair_choose(c, g * mu[i], g * sg[i], &ip, &im, &am, &as))
			rep->clipped++;
		words[2 * i] = pair_word(ip, lo, hi);
		words[2 * i + 1] = pair_word(im, lo, hi);
		net->ach_mean[l][i] = (float)am;
		net->ach_sig[l][i] = (float)as;
		kl = kl_normal(g * mu[i], g * sg[i], am, as);
		rep->kl_mean += kl / n;
		rep->kl_max = fmax(rep->kl_max, kl);
		sumerr += fabs(am - g * mu[i]);
		amax = fmax(amax, g * fabs(mu[i]));
	}
	rep->rel_mean_err = amax > 0 ? sumerr / n / amax : 0.0;
	free(mu);
	free(sg);
	return 0;
}

/* ADC range: the largest shift whose full scale covers ~2 rms column sums */
static unsigned pick_shift(const struct bnnacc_net *net, unsigned l)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	double need = 0, s, fs = net->card.info.adc_fs_ua;
	unsigned i, j, sh = 0;

	for (j = 0; j < ly->n_out; j++) {
		s = 0;
		for (i = 0; i <= ly->n_in; i++) {
			size_t k = (size_t)j * (ly->n_in + 1) + i;

			s += pow(net->ach_mean[l][k], 2) + pow(net->ach_sig[l][k], 2);
		}
		need = fmax(need, 2.0 * net->card.info.read_v * sqrt(s));
	}
	while (sh < BNNACC_ADC_SHIFT_MAX && ldexp(fs, -(int)(sh + 1)) >= need)
		sh++;
	return sh;
}

/* Place the pairs of layer @l of every network into the array's words */
static void fill_words(const struct bnnacc_net *net, unsigned l,
		       const uint32_t *pw, uint32_t *all)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	unsigned k, i, j, cols = net->card.info.cols;

	for (k = 0; k < net->m; k++) {
		const struct bnnacc_region *t = &net->tiles[(size_t)k * net->nl + l];

		for (j = 0; j < ly->n_out; j++)
			for (i = 0; i <= ly->n_in; i++) {
				size_t w = (size_t)j * (ly->n_in + 1) + i;

				all[(size_t)(t->row + 2 * i) * cols + t->col + j] = pw[2 * w];
				all[(size_t)(t->row + 2 * i + 1) * cols + t->col + j] = pw[2 * w + 1];
			}
	}
}

static int place(struct bnnacc_net *net, const struct bnnacc_xfer_opts *o,
		 const struct bnnacc_calib *c, char *err, size_t el)
{
	unsigned h[BNNACC_MODEL_MAX_LAYERS], w[BNNACC_MODEL_MAX_LAYERS], l;
	const struct bnnacc_card_info *in = &net->card.info;
	uint8_t *stuck = calloc((size_t)in->rows * in->cols, 1);
	int ret = 0;

	net->tiles = calloc((size_t)in->rows * in->cols * net->nl, sizeof(*net->tiles));
	if (!stuck || !net->tiles) {
		free(stuck);
		return bnl_err(err, el, -ENOMEM, "out of memory");
	}
	if (!o->skip_stuck_test)
		ret = stuck_test(&net->card, c, stuck);
	if (ret) {
		free(stuck);
		return bnl_err(err, el, ret, "stuck-cell test failed: %s",
			       bnnacc_strerror(ret));
	}
	for (l = 0; l < net->nl; l++) {
		h[l] = 2 * (net->model->layer[l].n_in + 1);
		w[l] = net->model->layer[l].n_out;
	}
	ret = bnnacc_alloc_tiles(stuck, in->rows, in->cols, net->nl, h, w, o->m,
				 net->tiles);
	if (!ret && o->m)	/* for the message: how many would fit */
		ret = -bnnacc_alloc_tiles(stuck, in->rows, in->cols, net->nl, h, w, 0,
					  net->tiles);
	free(stuck);
	if (ret == -ENOMEM || ret == -EINVAL)
		return bnl_err(err, el, ret, "tile allocation: %s", bnnacc_strerror(ret));
	if (ret <= 0)
		return bnl_err(err, el, -ENOSPC,
			       "only %d sampled networks fit in the array clear of stuck cells (asked %u)",
			       -ret, o->m ? o->m : 1);
	net->m = (unsigned)ret;
	return 0;
}

static int check_fits(const struct bnnacc_model *m, const struct bnnacc_card_info *in,
		      char *err, size_t el)
{
	unsigned l;

	for (l = 0; l < m->n_layers; l++)
		if (2 * (m->layer[l].n_in + 1) > in->rows || m->layer[l].n_out > in->cols)
			return bnl_err(err, el, -ENOSPC,
				       "layer %u (%u inputs + bias, %u outputs) needs %u x %u cells; the array is %u x %u (layer splitting is not supported)",
				       l, m->layer[l].n_in, m->layer[l].n_out,
				       2 * (m->layer[l].n_in + 1), m->layer[l].n_out,
				       in->rows, in->cols);
	return 0;
}

int bnnacc_transfer(struct bnnacc_net **out, struct bnnacc_card *card,
		    const struct bnnacc_calib *cal,
		    const struct bnnacc_model *model,
		    const struct bnnacc_xfer_opts *opts, char *err, size_t el)
{
	struct bnnacc_xfer_opts o = { 0, 0, 0 };
	struct bnnacc_region all = { 0, 0, 0, 0 };
	uint32_t *words = NULL, *pw[BNNACC_MODEL_MAX_LAYERS] = { NULL };
	struct bnnacc_net *net;
	unsigned l;
	size_t i, n;
	int ret;

	*out = NULL;
	if (opts)
		o = *opts;
	ret = check_fits(model, &card->info, err, el);
	if (ret)
		return ret;
	net = calloc(1, sizeof(*net));
	if (!net)
		return bnl_err(err, el, -ENOMEM, "out of memory");
	net->card = *card;
	ret = copy_model(model, &net->model);
	if (ret) {
		free(net);
		return bnl_err(err, el, ret, "invalid model: %s", bnnacc_strerror(ret));
	}
	net->nl = model->n_layers;
	net->gamma = o.gamma > 0 ? o.gamma : net_gamma(model, cal);
	if (!(net->gamma > 0)) {
		ret = bnl_err(err, el, -EINVAL, "cannot fit a gain: all weights are zero or invalid");
		goto fail;
	}
	for (l = 0; l < net->nl; l++) {
		n = (size_t)model->layer[l].n_out * (model->layer[l].n_in + 1);
		pw[l] = malloc(2 * n * sizeof(uint32_t));
		ret = pw[l] ? map_layer(net, cal, l, pw[l]) : -ENOMEM;
		if (ret)
			goto fail;
		net->shift[l] = pick_shift(net, l);
	}
	ret = place(net, &o, cal, err, el);
	if (ret)
		goto fail;
	all.rows = (uint16_t)card->info.rows;
	all.cols = (uint16_t)card->info.cols;
	n = (size_t)all.rows * all.cols;
	words = malloc(n * sizeof(*words));
	ret = -ENOMEM;
	if (!words)
		goto fail;
	for (i = 0; i < n; i++)
		words[i] = BNNACC_PROG_WORD(BNNACC_PROG_SKIP, 0);
	for (l = 0; l < net->nl; l++)
		fill_words(net, l, pw[l], words);
	ret = card->ops->program(card->ctx, &all, words);
	if (ret) {
		bnl_err(err, el, ret, "programming the array failed: %s", bnnacc_strerror(ret));
		goto fail;
	}
	for (l = 0; l < net->nl; l++)
		free(pw[l]);
	free(words);
	*out = net;
	return 0;
fail:
	for (l = 0; l < BNNACC_MODEL_MAX_LAYERS; l++)
		free(pw[l]);
	free(words);
	bnnacc_net_free(net);
	if (ret == -ENOMEM)
		bnl_err(err, el, ret, "out of memory");
	return ret;
}

int bnnacc_net_achieved(const struct bnnacc_net *net, struct bnnacc_model **out)
{
	const struct bnnacc_model *m = net->model;
	uint32_t dims[BNNACC_MODEL_MAX_LAYERS + 1], acts[BNNACC_MODEL_MAX_LAYERS];
	struct bnnacc_model *a;
	unsigned l;
	size_t i, n;
	int ret;

	dims[0] = m->n_inputs;
	for (l = 0; l < m->n_layers; l++) {
		dims[l + 1] = m->layer[l].n_out;
		acts[l] = m->layer[l].act;
	}
	ret = bnnacc_model_new(&a, BNNACC_MODEL_GAUSS, m->n_layers, dims, acts, 0);
	if (ret)
		return ret;
	memcpy(a->in_mean, m->in_mean, m->n_inputs * sizeof(float));
	memcpy(a->in_scale, m->in_scale, m->n_inputs * sizeof(float));
	memcpy(a->class_name, m->class_name, (size_t)m->n_classes * BNNACC_NAME_LEN);
	for (l = 0; l < m->n_layers; l++) {
		n = (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
		for (i = 0; i < n; i++) {
			a->layer[l].mean[i] = (float)(net->ach_mean[l][i] / net->gamma);
			a->layer[l].std[i] = (float)(net->ach_sig[l][i] / net->gamma);
		}
	}
	*out = a;
	return 0;
}
