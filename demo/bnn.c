/* SPDX-License-Identifier: MIT */
/* bnn - see bnn.h */
#include "bnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* generator                                                               */
/* ---------------------------------------------------------------------- */

void bnn_rng_seed(struct bnn_rng *r, uint64_t seed)
{
	r->s = seed ^ 0x9e3779b97f4a7c15ull;
}

static uint64_t next64(struct bnn_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double bnn_rng_uniform(struct bnn_rng *r)
{
	return (double)(next64(r) >> 11) / 9007199254740992.0;
}

double bnn_rng_normal(struct bnn_rng *r)
{
	double u1 = bnn_rng_uniform(r), u2 = bnn_rng_uniform(r);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---------------------------------------------------------------------- */
/* data                                                                    */
/* ---------------------------------------------------------------------- */

void bnn_moons(float *x, int *y, unsigned n, double noise, uint64_t seed)
{
	struct bnn_rng r;
	unsigned i;

	bnn_rng_seed(&r, seed);
	for (i = 0; i < n; i++) {
		double t = 3.141592653589793 * bnn_rng_uniform(&r);
		double a, b;

		if (i % 2 == 0) {
			a = cos(t);
			b = sin(t);
		} else {
			a = 1.0 - cos(t);
			b = 0.5 - sin(t);
		}
		x[2 * i] = (float)(a + noise * bnn_rng_normal(&r));
		x[2 * i + 1] = (float)(b + noise * bnn_rng_normal(&r));
		y[i] = (int)(i % 2);
	}
}

void bnn_linear(float *x, int *y, unsigned n, double slope, double icpt,
		uint64_t seed)
{
	struct bnn_rng r;
	unsigned i;

	bnn_rng_seed(&r, seed);
	for (i = 0; i < n; i++) {
		double a = 4.0 * bnn_rng_uniform(&r) - 2.0;
		double b = 4.0 * bnn_rng_uniform(&r) - 2.0;

		x[2 * i] = (float)a;
		x[2 * i + 1] = (float)b;
		y[i] = b > slope * a + icpt;
	}
}

/* ---------------------------------------------------------------------- */
/* the network                                                             */
/* ---------------------------------------------------------------------- */

int bnn_parse_arch(const char *s, struct bnn_cfg *c)
{
	unsigned dims[BNN_MAX_LAYERS + 1], n = 0;
	char *e;

	if (!s || !c)
		return -EINVAL;
	for (;;) {
		unsigned long v;

		if (*s < '0' || *s > '9' || n > BNN_MAX_LAYERS)
			return -EINVAL;
		v = strtoul(s, &e, 10);
		if (!v || v > 1024)
			return -EINVAL;
		dims[n++] = (unsigned)v;
		if (!*e)
			break;
		if (*e != '-')
			return -EINVAL;
		s = e + 1;
	}
	if (n < 2)
		return -EINVAL;
	c->n_layers = n - 1;
	memcpy(c->dims, dims, n * sizeof(dims[0]));
	return 0;
}

void bnn_cfg_common(struct bnn_cfg *cfg, unsigned n, unsigned steps)
{
	cfg->steps = cfg->steps ? cfg->steps : steps;
	cfg->batch = cfg->batch ? cfg->batch : 128;
	cfg->batch = cfg->batch > n ? n : cfg->batch;
	cfg->lr = cfg->lr > 0 ? cfg->lr : 0.01;
	cfg->prior_sigma = cfg->prior_sigma > 0 ? cfg->prior_sigma : 1.0;
}

int bnn_net_init(struct bnn_net *nt, const struct bnn_cfg *cfg)
{
	static const unsigned dflt[] = { 2, 16, 16, 2 };
	const unsigned *dims = cfg->n_layers ? cfg->dims : dflt;
	unsigned l;

	memset(nt, 0, sizeof(*nt));
	nt->nl = cfg->n_layers ? cfg->n_layers : 3;
	if (nt->nl > BNN_MAX_LAYERS)
		return -EINVAL;
	for (l = 0; l <= nt->nl; l++) {
		if (!dims[l] || dims[l] > 1024)
			return -EINVAL;
		nt->dims[l] = dims[l];
		nt->maxd = dims[l] > nt->maxd ? dims[l] : nt->maxd;
	}
	for (l = 0; l < nt->nl; l++) {
		nt->off[l] = nt->np;
		nt->np += (size_t)nt->dims[l + 1] * (nt->dims[l] + 1);
		nt->aoff[l] = nt->na;
		nt->na += nt->dims[l + 1];
	}
	nt->off[nt->nl] = nt->np;
	nt->aoff[nt->nl] = nt->na;
	return 0;
}

size_t bnn_net_work(const struct bnn_net *nt)
{
	return nt->na + 2 * (size_t)nt->maxd;
}

static double softplus(double v)
{
	return v > 30 ? v : log1p(exp(v));
}

static double sigmoid(double v)
{
	return 1.0 / (1.0 + exp(-v));
}

/*
 * Forward pass of one normalised input @x0 through weights @w; @act gets
 * every layer's output ([l][dims[l + 1]] at act + aoff[l]), the last one
 * the softmax.
 */
static void forward(const struct bnn_net *nt, const double *w, const double *x0,
		    double *act)
{
	unsigned l, j, i;

	for (l = 0; l < nt->nl; l++) {
		unsigned ni = nt->dims[l], no = nt->dims[l + 1];
		const double *in = l ? act + nt->aoff[l - 1] : x0;
		double *o = act + nt->aoff[l];
		const double *wl = w + nt->off[l];

		for (j = 0; j < no; j++) {
			const double *row = wl + (size_t)j * (ni + 1);
			double z = row[ni];

			for (i = 0; i < ni; i++)
				z += row[i] * in[i];
			o[j] = z;
		}
		if (l + 1 < nt->nl) {
			for (j = 0; j < no; j++)
				o[j] = tanh(o[j]);
		} else {
			double mx = o[0], s = 0;

			for (j = 1; j < no; j++)
				mx = fmax(mx, o[j]);
			for (j = 0; j < no; j++) {
				o[j] = exp(o[j] - mx);
				s += o[j];
			}
			for (j = 0; j < no; j++)
				o[j] /= s;
		}
	}
}

/*
 * Backward pass of one point with label @y after forward(): adds
 * dNLL/dw * @scale to @g and returns the NLL. @d, @dprev: maxd doubles.
 */
static double backward(const struct bnn_net *nt, const double *w, const double *x0,
		       const double *act, int y, double scale, double *g,
		       double *d, double *dprev)
{
	unsigned nl = nt->nl, l, i, j;
	const double *p = act + nt->aoff[nl - 1];
	double nll = -log(fmax(p[y], 1e-300));

	for (j = 0; j < nt->dims[nl]; j++)
		d[j] = (p[j] - (j == (unsigned)y)) * scale;
	for (l = nl; l-- > 0;) {
		unsigned ni = nt->dims[l], no = nt->dims[l + 1];
		const double *in = l ? act + nt->aoff[l - 1] : x0;
		const double *wl = w + nt->off[l];
		double *gl = g + nt->off[l];

		if (l == 0) {
			/* the inputs need no gradient */
			for (j = 0; j < no; j++) {
				double *grow = gl + (size_t)j * (ni + 1);

				for (i = 0; i < ni; i++)
					grow[i] += d[j] * in[i];
				grow[ni] += d[j];
			}
			break;
		}
		for (i = 0; i < ni; i++)
			dprev[i] = 0;
		for (j = 0; j < no; j++) {
			const double *row = wl + (size_t)j * (ni + 1);
			double *grow = gl + (size_t)j * (ni + 1);

			for (i = 0; i < ni; i++) {
				grow[i] += d[j] * in[i];
				dprev[i] += d[j] * row[i];
			}
			grow[ni] += d[j];
		}
		for (i = 0; i < ni; i++)
			d[i] = dprev[i] * (1.0 - in[i] * in[i]);
	}
	return nll;
}

double bnn_net_loss(const struct bnn_net *nt, const double *w,
		    const double *xn, const int *y, unsigned n, double scale,
		    double *g, double *work)
{
	double *act = work, *d = act + nt->na, *dprev = d + nt->maxd, nll = 0;
	unsigned nin = nt->dims[0], j;

	for (j = 0; j < n; j++) {
		const double *x0 = xn + (size_t)j * nin;

		forward(nt, w, x0, act);
		if (g)
			nll += backward(nt, w, x0, act, y[j], scale, g, d, dprev);
		else
			nll -= log(fmax(act[nt->aoff[nt->nl - 1] + y[j]], 1e-300));
	}
	return nll;
}

void bnn_net_probs(const struct bnn_net *nt, const double *w,
		   const double *x0, double *p, double *work)
{
	forward(nt, w, x0, work);
	memcpy(p, work + nt->aoff[nt->nl - 1], nt->dims[nt->nl] * sizeof(double));
}

void bnn_normalise(const float *x, unsigned n, unsigned nin, double *xn,
		   double *mean, double *scale)
{
	unsigned i, j;

	for (i = 0; i < nin; i++) {
		double s = 0, q = 0;

		for (j = 0; j < n; j++)
			s += x[(size_t)j * nin + i];
		s /= n;
		for (j = 0; j < n; j++)
			q += (x[(size_t)j * nin + i] - s) * (x[(size_t)j * nin + i] - s);
		q = sqrt(q / n);
		mean[i] = s;
		scale[i] = q > 1e-9 ? 1.0 / q : 1.0;
		for (j = 0; j < n; j++)
			xn[(size_t)j * nin + i] = (x[(size_t)j * nin + i] - s) * scale[i];
	}
}

int bnn_model_new(const struct bnn_net *nt, uint32_t kind, unsigned n_samples,
		  const double *mean, const double *scale,
		  struct bnnacc_model **out)
{
	uint32_t dims[BNN_MAX_LAYERS + 1], acts[BNN_MAX_LAYERS];
	struct bnnacc_model *m;
	unsigned l, i;
	int ret;

	for (l = 0; l < nt->nl; l++) {
		dims[l] = nt->dims[l];
		acts[l] = l + 1 < nt->nl ? BNNACC_ACT_TANH : BNNACC_ACT_SOFTMAX;
	}
	dims[nt->nl] = nt->dims[nt->nl];
	ret = bnnacc_model_new(&m, kind, nt->nl, dims, acts, n_samples);
	if (ret)
		return ret;
	for (i = 0; i < nt->dims[0]; i++) {
		m->in_mean[i] = (float)mean[i];
		m->in_scale[i] = (float)scale[i];
	}
	*out = m;
	return 0;
}

static int argmax(const double *p, unsigned c)
{
	unsigned j, b = 0;

	for (j = 1; j < c; j++)
		if (p[j] > p[b])
			b = j;
	return (int)b;
}

/* ---------------------------------------------------------------------- */
/* Bayes by backprop                                                       */
/* ---------------------------------------------------------------------- */

int bnn_train(const struct bnn_cfg *cfg_in, const float *x, const int *y,
	      unsigned n, struct bnnacc_model **out, struct bnn_stats *st)
{
	struct bnn_cfg cfg = *cfg_in;
	struct bnn_net nt;
	struct bnn_rng r;
	double *buf = NULL, *mu, *rho, *eps, *w, *g, *m1, *v1, *m2, *v2;
	double *xn = NULL, *act, *d, *dprev, *inm = NULL, *ins;
	size_t k;
	unsigned l, j, step, nin;
	double s2, b1t = 1, b2t = 1, nll = 0, gshared;
	struct bnnacc_model *m = NULL;
	int ret;

	if (!n || !x || !y || !out)
		return -EINVAL;
	ret = bnn_net_init(&nt, &cfg);
	if (ret)
		return ret;
	bnn_cfg_common(&cfg, n, 4000);
	cfg.sigma_init = cfg.sigma_init > 0 ? cfg.sigma_init : 0.05;
	s2 = cfg.prior_sigma * cfg.prior_sigma;
	for (j = 0; j < n; j++)
		if (y[j] < 0 || (unsigned)y[j] >= nt.dims[nt.nl])
			return -EINVAL;
	nin = nt.dims[0];

	ret = -ENOMEM;
	buf = calloc(nt.np * 9 + bnn_net_work(&nt), sizeof(double));
	xn = malloc((size_t)n * nin * sizeof(double));
	inm = malloc(2 * (size_t)nin * sizeof(double));
	if (!buf || !xn || !inm)
		goto out;
	ins = inm + nin;
	mu = buf;
	rho = mu + nt.np;
	eps = rho + nt.np;
	w = eps + nt.np;
	g = w + nt.np;
	m1 = g + nt.np;
	v1 = m1 + nt.np;
	m2 = v1 + nt.np;
	v2 = m2 + nt.np;
	act = v2 + nt.np;
	d = act + nt.na;
	dprev = d + nt.maxd;

	/* input normalisation: zero mean, unit std */
	bnn_normalise(x, n, nin, xn, inm, ins);

	bnn_rng_seed(&r, cfg.seed);
	for (l = 0; l < nt.nl; l++) {
		double sd = 1.0 / sqrt((double)nt.dims[l]);

		for (k = nt.off[l]; k < nt.off[l + 1]; k++) {
			mu[k] = sd * bnn_rng_normal(&r);
			rho[k] = log(expm1(cfg.sigma_init));
		}
	}

	for (step = 1; step <= cfg.steps; step++) {
		double lr = cfg.lr;

		/* step size decays to a fifth over the last half */
		if (step > cfg.steps / 2)
			lr *= 1.0 - 0.8 * (step - cfg.steps / 2) / (double)(cfg.steps - cfg.steps / 2);
		for (k = 0; k < nt.np; k++) {
			eps[k] = bnn_rng_normal(&r);
			w[k] = mu[k] + softplus(rho[k]) * eps[k];
			g[k] = 0;
		}
		nll = 0;
		for (j = 0; j < cfg.batch; j++) {
			unsigned p = (unsigned)(bnn_rng_uniform(&r) * n);
			const double *x0 = xn + (size_t)p * nin;

			forward(&nt, w, x0, act);
			nll += backward(&nt, w, x0, act, y[p], 1.0 / cfg.batch, g, d,
					dprev) / cfg.batch;
		}
		b1t *= 0.9;
		b2t *= 0.999;
		gshared = 0;
		for (k = 0; k < nt.np; k++) {
			double sg = softplus(rho[k]);
			double gm = g[k] + mu[k] / s2 / n;
			double gr = (g[k] * eps[k] + (-1.0 / sg + sg / s2) / n) * sigmoid(rho[k]);

			m1[k] = 0.9 * m1[k] + 0.1 * gm;
			v1[k] = 0.999 * v1[k] + 0.001 * gm * gm;
			mu[k] -= lr * (m1[k] / (1 - b1t)) / (sqrt(v1[k] / (1 - b2t)) + 1e-8);
			if (cfg.shared_sigma) {
				gshared += gr;
				continue;
			}
			m2[k] = 0.9 * m2[k] + 0.1 * gr;
			v2[k] = 0.999 * v2[k] + 0.001 * gr * gr;
			rho[k] -= lr * (m2[k] / (1 - b1t)) / (sqrt(v2[k] / (1 - b2t)) + 1e-8);
		}
		if (cfg.shared_sigma) {
			/* one parameter: the sum of the per-weight gradients */
			m2[0] = 0.9 * m2[0] + 0.1 * gshared;
			v2[0] = 0.999 * v2[0] + 0.001 * gshared * gshared;
			rho[0] -= lr * (m2[0] / (1 - b1t)) / (sqrt(v2[0] / (1 - b2t)) + 1e-8);
			for (k = 1; k < nt.np; k++)
				rho[k] = rho[0];
		}
		if (cfg.verbose && step % cfg.verbose == 0)
			fprintf(stderr, "train: step %u/%u nll %.4f\n", step, cfg.steps, nll);
	}

	ret = bnn_model_new(&nt, BNNACC_MODEL_GAUSS, 0, inm, ins, &m);
	if (ret)
		goto out;
	for (l = 0; l < nt.nl; l++)
		for (k = nt.off[l]; k < nt.off[l + 1]; k++) {
			m->layer[l].mean[k - nt.off[l]] = (float)mu[k];
			m->layer[l].std[k - nt.off[l]] = (float)softplus(rho[k]);
		}
	if (st) {
		unsigned ok = 0;
		double kl = 0, ss = 0;

		memset(st, 0, sizeof(*st));
		for (k = 0; k < nt.np; k++) {
			double sg = softplus(rho[k]);

			kl += log(cfg.prior_sigma / sg) + (sg * sg + mu[k] * mu[k]) / (2 * s2) - 0.5;
			ss += sg;
		}
		for (j = 0; j < n; j++) {
			forward(&nt, mu, xn + (size_t)j * nin, act);
			ok += argmax(act + nt.aoff[nt.nl - 1], nt.dims[nt.nl]) == y[j];
		}
		st->nll = nll;
		st->kl = kl;
		st->accuracy = (double)ok / n;
		st->mean_sigma = ss / nt.np;
		st->n_weights = (unsigned)nt.np;
	}
	*out = m;
	ret = 0;
out:
	free(buf);
	free(xn);
	free(inm);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* metrics                                                                 */
/* ---------------------------------------------------------------------- */

double bnn_accuracy(const double *mean, unsigned n, unsigned c, const int *y)
{
	unsigned i, ok = 0;

	for (i = 0; i < n; i++)
		ok += argmax(mean + (size_t)i * c, c) == y[i];
	return n ? (double)ok / n : 0;
}

double bnn_pearson(const double *a, const double *b, size_t n)
{
	double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
	size_t i;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		ma += a[i];
		mb += b[i];
	}
	ma /= n;
	mb /= n;
	for (i = 0; i < n; i++) {
		sab += (a[i] - ma) * (b[i] - mb);
		saa += (a[i] - ma) * (a[i] - ma);
		sbb += (b[i] - mb) * (b[i] - mb);
	}
	if (saa <= 0 || sbb <= 0)
		return 0;
	return sab / sqrt(saa * sbb);
}

double bnn_agreement(const double *a, const double *b, unsigned n, unsigned c)
{
	unsigned i, ok = 0;

	for (i = 0; i < n; i++)
		ok += argmax(a + (size_t)i * c, c) == argmax(b + (size_t)i * c, c);
	return n ? (double)ok / n : 0;
}

int bnn_result_head(const struct bnnacc_result *src, unsigned k,
		    struct bnnacc_result *dst)
{
	unsigned i;
	size_t row = (size_t)k * src->c;

	if (!k || k > src->m)
		return -EINVAL;
	memset(dst, 0, sizeof(*dst));
	dst->m = k;
	dst->n = src->n;
	dst->c = src->c;
	dst->probs = malloc((size_t)src->n * row * sizeof(double));
	dst->mean = malloc((size_t)src->n * src->c * sizeof(double));
	dst->u_p = malloc(src->n * sizeof(double));
	dst->u_a = malloc(src->n * sizeof(double));
	dst->u_e = malloc(src->n * sizeof(double));
	if (!dst->probs || !dst->mean || !dst->u_p || !dst->u_a || !dst->u_e) {
		bnnacc_result_free(dst);
		return -ENOMEM;
	}
	for (i = 0; i < src->n; i++)
		memcpy(dst->probs + i * row, src->probs + (size_t)i * src->m * src->c,
		       row * sizeof(double));
	return bnnacc_uncertainty(dst);
}
