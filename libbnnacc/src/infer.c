/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - sampled inference: on the card (one MVM job per sampled
 * network and layer, activations on the host between layers; all the
 * networks or a range of them) and in software from the posterior; the
 * uncertainty split U_p = U_a + U_e.
 */
#include "internal.h"
#include "net.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 1024	/* input vectors per MVM job */

void bnnacc_result_free(struct bnnacc_result *r)
{
	if (!r)
		return;
	free(r->probs);
	free(r->mean);
	free(r->u_p);
	free(r->u_a);
	free(r->u_e);
	memset(r, 0, sizeof(*r));
}

static int result_alloc(struct bnnacc_result *r, unsigned m, unsigned n,
			unsigned c)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	r->n = n;
	r->c = c;
	r->probs = calloc((size_t)n * m * c, sizeof(double));
	r->mean = calloc((size_t)n * c, sizeof(double));
	r->u_p = calloc(n, sizeof(double));
	r->u_a = calloc(n, sizeof(double));
	r->u_e = calloc(n, sizeof(double));
	if (!r->probs || !r->mean || !r->u_p || !r->u_a || !r->u_e) {
		bnnacc_result_free(r);
		return -ENOMEM;
	}
	return 0;
}

static double entropy(const double *p, unsigned c)
{
	double h = 0;
	unsigned i;

	for (i = 0; i < c; i++)
		if (p[i] > 0)
			h -= p[i] * log(p[i]);
	return h;
}

int bnnacc_uncertainty(struct bnnacc_result *r)
{
	unsigned i, k, j;

	if (!r || !r->m || !r->c || !r->probs || !r->mean || !r->u_p ||
	    !r->u_a || !r->u_e)
		return -EINVAL;
	for (i = 0; i < r->n; i++) {
		double *mean = r->mean + (size_t)i * r->c;

		memset(mean, 0, r->c * sizeof(double));
		r->u_a[i] = 0;
		for (k = 0; k < r->m; k++) {
			const double *p = r->probs + ((size_t)i * r->m + k) * r->c;

			for (j = 0; j < r->c; j++)
				mean[j] += p[j] / r->m;
			r->u_a[i] += entropy(p, r->c) / r->m;
		}
		r->u_p[i] = entropy(mean, r->c);
		r->u_e[i] = r->u_p[i] - r->u_a[i];
	}
	return 0;
}

static void normalise(const struct bnnacc_model *m, const float *x, double *out)
{
	unsigned i;

	for (i = 0; i < m->n_inputs; i++)
		out[i] = ((double)x[i] - m->in_mean[i]) * m->in_scale[i];
}

/* ---- software reference ---- */

static void soft_layer(const struct bnnacc_layer *ly, const float *w,
		       const double *in, double *out)
{
	unsigned i, j;

	for (j = 0; j < ly->n_out; j++) {
		const float *row = w + (size_t)j * (ly->n_in + 1);
		double s = row[ly->n_in];

		for (i = 0; i < ly->n_in; i++)
			s += row[i] * in[i];
		out[j] = bnl_act(ly->act, s);
	}
}

int bnnacc_infer_soft(const struct bnnacc_model *model, unsigned m,
		      uint64_t seed, const float *x, unsigned n,
		      struct bnnacc_result *res)
{
	float *w[BNNACC_MODEL_MAX_LAYERS] = { NULL };
	double *a = NULL, *b = NULL;
	unsigned l, k, v, maxd = model->n_inputs;
	struct bnl_rng rng;
	int ret;

	if (!m || !model->n_layers || !n)
		return -EINVAL;
	if (n > BNNACC_INFER_MAX_INPUTS || m > BNNACC_INFER_MAX_INPUTS)
		return -E2BIG;
	ret = result_alloc(res, m, n, model->n_classes);
	if (ret)
		return ret;
	bnl_rng_seed(&rng, seed);
	for (l = 0; l < model->n_layers; l++) {
		size_t nw = (size_t)model->layer[l].n_out * (model->layer[l].n_in + 1);

		w[l] = malloc(nw * sizeof(float));
		if (!w[l])
			goto nomem;
		if (model->layer[l].n_out > maxd)
			maxd = model->layer[l].n_out;
	}
	a = malloc(maxd * sizeof(double));
	b = malloc(maxd * sizeof(double));
	if (!a || !b)
		goto nomem;
	for (k = 0; k < m; k++) {
		for (l = 0; l < model->n_layers; l++) {
			const struct bnnacc_layer *ly = &model->layer[l];
			size_t i, nw = (size_t)ly->n_out * (ly->n_in + 1);

			for (i = 0; i < nw; i++)
				w[l][i] = model->kind == BNNACC_MODEL_GAUSS ?
					  (float)(ly->mean[i] + ly->std[i] * bnl_rng_normal(&rng)) :
					  ly->samples[(size_t)(k % model->n_samples) * nw + i];
		}
		for (v = 0; v < n; v++) {
			double *p = res->probs + ((size_t)v * m + k) * res->c, *t;

			normalise(model, x + (size_t)v * model->n_inputs, a);
			for (l = 0; l < model->n_layers; l++) {
				soft_layer(&model->layer[l], w[l], a, b);
				t = a;
				a = b;
				b = t;
			}
			memcpy(p, a, res->c * sizeof(double));
			bnl_softmax(p, res->c);
		}
	}
	ret = 0;
	goto out;
nomem:
	ret = -ENOMEM;
out:
	for (l = 0; l < model->n_layers; l++)
		free(w[l]);
	free(a);
	free(b);
	if (ret)
		bnnacc_result_free(res);
	else
		bnnacc_uncertainty(res);
	return ret;
}

/* ---- on the card ---- */

/*
 * Inputs of one vector into a part's rows, in @slices DAC passes. The
 * card's DAC has D = 2^(bits - 1) - 1 levels a side; a vector is scaled by
 * its largest |value| fs, so a value far below fs (small activations)
 * loses its precision in one pass. Pass 0 applies u = a / fs rounded to
 * k0 / D; pass s applies the rounding residual left by the passes before
 * it, times (2D)^s, so that u = sum_s k_s / (D (2D)^s) to within
 * 1 / (2D (2D)^(S-1)). Each value goes on its cells' rows +, then -. The
 * bias row (the input past the layer's n_in) is left at 0 V: the bias is
 * read in a pass of its own (bias_rows()), at its own full scale, so that
 * large inputs do not drown it in the DAC's and the ADC's steps. Rows of
 * pass s of this vector at @rows + s * @stride. Returns fs.
 */
static double encode(const double *x, unsigned nin, const struct xpart *p,
		     unsigned cells, unsigned dmax, unsigned slices, int16_t *rows,
		     size_t stride)
{
	double fs = 0, u;
	unsigned i, c, s;

	for (i = p->in0; i < p->in1 && i < nin; i++)
		fs = fmax(fs, fabs(x[i]));
	if (!(fs > 0))
		fs = 1.0;
	for (i = p->in0; i < p->in1; i++) {
		u = i < nin ? x[i] / fs * dmax : 0.0;
		for (s = 0; s < slices; s++) {
			long k = lround(u);
			int16_t code;

			k = k > (long)dmax ? (long)dmax : k < -(long)dmax ? -(long)dmax : k;
			u = (u - (double)k) * 2 * dmax;
			/* a code the card's DAC decodes to exactly level k */
			code = (int16_t)lround((double)k * BNNACC_INPUT_FS / dmax);
			for (c = 0; c < cells; c++) {
				rows[s * stride + 2 * cells * (i - p->in0) + c] = code;
				rows[s * stride + 2 * cells * (i - p->in0) + cells + c] =
					(int16_t)-code;
			}
		}
	}
	return fs;
}

/* The bias-only vector of a part holding the bias: +-full scale on its rows */
static void bias_rows(unsigned nin, const struct xpart *p, unsigned cells, int16_t *rows)
{
	unsigned c, b = 2 * cells * (nin - p->in0);

	memset(rows, 0, p->rows * sizeof(*rows));
	for (c = 0; c < cells; c++) {
		rows[b + c] = BNNACC_INPUT_FS;
		rows[b + cells + c] = -BNNACC_INPUT_FS;
	}
}

/*
 * DAC passes for inputs of full scale @fs: the fewest (1..3) whose
 * rounding error fs / (2D (2D)^(S-1)) is at most INPUT_TOL (inputs are
 * normalised to unit scale: a 1 % error of a unit input at most).
 */
#define INPUT_TOL 0.01
#define MAX_SLICES 3

static unsigned slices_for(double fs, unsigned dmax)
{
	double err = fs / (2.0 * dmax);
	unsigned s = 1;

	while (s < MAX_SLICES && err > INPUT_TOL) {
		err /= 2.0 * dmax;
		s++;
	}
	return s;
}

/*
 * One MVM job of a layer: a part's inputs of every vector (its DAC passes
 * one after the other, [v][slice]), or the part's bias alone (one vector)
 */
struct lpass {
	unsigned k, q;		/* network, part (in net->parts) */
	int bias;
	unsigned count;
	size_t in_off, out_off;
	int todo;
};

/* One layer's MVM buffers */
struct layer_run {
	unsigned k0;		/* first network run: network k is row k - k0 of act, pre */
	unsigned v;		/* vectors */
	unsigned slices;	/* DAC passes of each */
	unsigned npass;
	struct lpass *pass;
	int16_t *in;
	int32_t *out;
	double *fs;		/* [npass][v]: input full scales of the input passes */
	struct bnnacc_mvm *jobs;
};

/* Saturated: an average code within 10 % of the ADC's end */
static int saturated(const int32_t *o, size_t n, double lim)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs((double)o[i]) >= lim)
			return 1;
	return 0;
}

/* The ADC range of a pass, learnt (net->shift or net->bshift) */
static unsigned *pass_shift(struct bnnacc_net *net, const struct lpass *ps)
{
	return (ps->bias ? net->bshift : net->shift) + (size_t)ps->k * net->nparts + ps->q;
}

/*
 * Run layer @l of the networks of @lr's passes on @lr->v vectors: the
 * inputs @act ([m][v][maxd], network k at row k - lr->k0) of each network
 * into every part's tile and each part's bias once, each card's jobs in
 * one call (none to a card holding none of them), jobs that saturated
 * again on a wider ADC range; the dequantised column currents summed over
 * the parts (and the bias added to every vector) into @pre
 * ([m][v][n_out]).
 */
static int run_layer(struct bnnacc_net *net, unsigned l, const double *act,
		     unsigned maxd, double *pre, struct layer_run *lr)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	unsigned cells = net->plan.cells, rep = net->plan.repeat, again = 1, ns = lr->slices;
	unsigned i, a, v, j, s;
	int ret = 0;

	for (a = 0; a < lr->npass; a++) {
		struct lpass *ps = &lr->pass[a];
		const struct xpart *p = &net->parts[ps->q];
		unsigned dmax = (1u << (net_card_of(net, ps->k)->card.info.dac_bits - 1)) - 1;

		ps->todo = 1;
		if (ps->bias) {
			bias_rows(ly->n_in, p, cells, lr->in + ps->in_off);
			continue;
		}
		for (v = 0; v < lr->v; v++)
			lr->fs[(size_t)a * lr->v + v] =
				encode(act + ((size_t)(ps->k - lr->k0) * lr->v + v) * maxd, ly->n_in, p,
				       cells, dmax, ns, lr->in + ps->in_off + (size_t)v * ns * p->rows,
				       p->rows);
	}
	while (again && !ret) {
		again = 0;
		for (i = 0; i < net->ncards && !ret; i++) {
			struct xcard *xc = &net->card[i];
			unsigned nj = 0;

			for (a = 0; a < lr->npass; a++) {
				const struct lpass *ps = &lr->pass[a];
				struct bnnacc_mvm *jb;

				if (!ps->todo || net_card_of(net, ps->k) != xc)
					continue;
				jb = &lr->jobs[nj++];
				jb->region = net->tiles[(size_t)ps->k * net->nparts + ps->q];
				jb->in = lr->in + ps->in_off;
				jb->out = lr->out + ps->out_off;
				jb->count = ps->count;
				jb->repeat = rep;
				jb->adc_shift = *pass_shift(net, ps);
			}
			if (nj)
				ret = xc->card.ops->mvm(xc->card.ctx, lr->jobs, nj);
		}
		for (a = 0; !ret && a < lr->npass; a++) {
			struct lpass *ps = &lr->pass[a];
			const struct xpart *p = &net->parts[ps->q];
			const int32_t *out = lr->out + ps->out_off;
			unsigned *sh = pass_shift(net, ps), dmax;
			struct xcard *xc;
			double amax, lsb, f;

			if (!ps->todo)
				continue;
			xc = net_card_of(net, ps->k);
			amax = (double)((1 << (xc->card.info.adc_bits - 1)) - 1);
			dmax = (1u << (xc->card.info.dac_bits - 1)) - 1;
			if (*sh > 0 && saturated(out, (size_t)ps->count * p->cols, 0.9 * amax * rep)) {
				(*sh)--;	/* remembered: later calls start wider */
				again = 1;
				continue;
			}
			ps->todo = 0;
			/* code -> uA -> weighted sum in weight units */
			lsb = ldexp(xc->card.info.adc_fs_ua, -(int)*sh) / amax / rep /
			      (xc->card.info.read_v * net->plan.gamma[l] * xc->gain);
			for (v = 0; v < lr->v; v++) {
				double *y = pre + ((size_t)(ps->k - lr->k0) * lr->v + v) * ly->n_out +
					    p->out0;

				if (ps->bias) {	/* its row read as the value bscale */
					for (j = 0; j < p->cols; j++)
						y[j] += out[j] * lsb * net->bscale[l];
					continue;
				}
				f = lsb * lr->fs[(size_t)a * lr->v + v];
				for (s = 0; s < ns; s++, f /= 2.0 * dmax) {
					const int32_t *o = out + ((size_t)v * ns + s) * p->cols;

					for (j = 0; j < p->cols; j++)
						y[j] += o[j] * f;
				}
			}
		}
	}
	return ret;
}

static void layer_run_free(struct layer_run *lr)
{
	free(lr->pass);
	free(lr->in);
	free(lr->out);
	free(lr->fs);
	free(lr->jobs);
}

/*
 * The passes of layer @l for @v vectors of @slices DAC passes: for each
 * network @k0 .. @k0 + @m - 1 and part an input pass (unless the part
 * holds the bias alone) and a bias pass (when it holds the bias)
 */
static int layer_run_alloc(const struct bnnacc_net *net, unsigned l, unsigned k0,
			   unsigned m, unsigned v, unsigned slices, struct layer_run *lr)
{
	unsigned q0 = net->part0[l], np = net->part0[l + 1] - q0, k, q, b;
	unsigned nin = net->model->layer[l].n_in;
	size_t in = 0, out = 0, max = (size_t)m * np * 2;

	memset(lr, 0, sizeof(*lr));
	lr->k0 = k0;
	lr->v = v;
	lr->slices = slices;
	lr->pass = calloc(max, sizeof(*lr->pass));
	lr->jobs = malloc(max * sizeof(*lr->jobs));
	lr->fs = malloc(max * v * sizeof(double));
	if (!lr->pass || !lr->jobs || !lr->fs)
		return -ENOMEM;
	for (k = k0; k < k0 + m; k++)
		for (q = q0; q < q0 + np; q++) {
			const struct xpart *p = &net->parts[q];

			for (b = 0; b < 2; b++) {
				struct lpass *ps = &lr->pass[lr->npass];

				if (b ? p->in1 <= nin : p->in0 >= nin)
					continue;	/* no bias / nothing but the bias */
				ps->k = k;
				ps->q = q;
				ps->bias = (int)b;
				ps->count = b ? 1 : v * slices;
				ps->in_off = in;
				ps->out_off = out;
				in += (size_t)ps->count * p->rows;
				out += (size_t)ps->count * p->cols;
				lr->npass++;
			}
		}
	lr->in = malloc(in * sizeof(int16_t));
	lr->out = malloc(out * sizeof(int32_t));
	return lr->in && lr->out ? 0 : -ENOMEM;
}

/* DAC passes layer @l needs for the @v vectors of the @m networks in @act */
static unsigned layer_slices(const struct bnnacc_net *net, const double *act,
			     unsigned m, unsigned v, unsigned maxd, unsigned l)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	unsigned k, i, j, dmax, bits = 24, s = 1, q;
	double fs = 0.0;

	for (i = 0; i < net->ncards; i++)
		bits = net->card[i].card.info.dac_bits < bits ? net->card[i].card.info.dac_bits : bits;
	dmax = (1u << (bits - 1)) - 1;
	for (k = 0; k < m; k++)
		for (j = 0; j < v; j++) {
			const double *a = act + ((size_t)k * v + j) * maxd;

			for (q = net->part0[l]; q < net->part0[l + 1]; q++) {
				const struct xpart *p = &net->parts[q];
				double f = 0;

				for (i = p->in0; i < p->in1 && i < ly->n_in; i++)
					f = fmax(f, fabs(a[i]));
				fs = fmax(fs, f);
			}
		}
	s = slices_for(fs, dmax);
	return s;
}

int bnnacc_infer_nets(struct bnnacc_net *net, unsigned k0, unsigned m,
		      const float *x, unsigned n, struct bnnacc_result *res, char *err,
		      size_t el)
{
	const struct bnnacc_model *md = net->model;
	unsigned maxd = md->n_inputs, l, k, v, i, v0, nv;
	double *act = NULL, *pre = NULL;
	struct layer_run lr;
	int ret;

	if (!m)
		return bnl_err(err, el, -EINVAL,
			       "no networks to run (m 0): ask 1 .. %u of networks 0 .. %u",
			       net->m, net->m - 1);
	if (k0 >= net->m || m > net->m - k0)
		return bnl_err(err, el, -EINVAL,
			       "networks %u .. %llu asked: this transfer holds %u, networks 0 .. %u",
			       k0, (unsigned long long)k0 + m - 1, net->m, net->m - 1);
	if (!n)
		return bnl_err(err, el, -EINVAL, "no inputs");
	if (n > BNNACC_INFER_MAX_INPUTS)
		return bnl_err(err, el, -E2BIG, "%u inputs in one call; at most %u",
			       n, BNNACC_INFER_MAX_INPUTS);
	for (l = 0; l < md->n_layers; l++)
		maxd = md->layer[l].n_out > maxd ? md->layer[l].n_out : maxd;
	ret = result_alloc(res, m, n, md->n_classes);
	if (ret)
		return bnl_err(err, el, ret, "out of memory");
	nv = n < CHUNK ? n : CHUNK;
	act = malloc((size_t)m * nv * maxd * sizeof(double));
	pre = malloc((size_t)m * nv * maxd * sizeof(double));
	ret = -ENOMEM;
	if (!act || !pre)
		goto out;
	ret = 0;
	for (v0 = 0; v0 < n && !ret; v0 += nv) {
		unsigned cv = n - v0 < nv ? n - v0 : nv;

		for (k = 0; k < m; k++)
			for (v = 0; v < cv; v++)
				normalise(md, x + (size_t)(v0 + v) * md->n_inputs,
					  act + ((size_t)k * cv + v) * maxd);
		for (l = 0; l < md->n_layers && !ret; l++) {
			const struct bnnacc_layer *ly = &md->layer[l];

			ret = layer_run_alloc(net, l, k0, m, cv,
					      layer_slices(net, act, m, cv, maxd, l), &lr);
			if (!ret) {
				memset(pre, 0, (size_t)m * cv * ly->n_out * sizeof(double));
				ret = run_layer(net, l, act, maxd, pre, &lr);
				if (ret)
					bnl_err(err, el, ret, "MVM of layer %u failed: %s", l,
						bnnacc_strerror(ret));
			}
			layer_run_free(&lr);
			for (k = 0; !ret && k < m; k++)
				for (v = 0; v < cv; v++) {
					double *a = act + ((size_t)k * cv + v) * maxd;
					const double *y = pre + ((size_t)k * cv + v) * ly->n_out;

					for (i = 0; i < ly->n_out; i++)
						a[i] = bnl_act(ly->act, y[i]);
				}
		}
		for (k = 0; !ret && k < m; k++)
			for (v = 0; v < cv; v++) {
				double *p = res->probs + ((size_t)(v0 + v) * m + k) * res->c;

				memcpy(p, act + ((size_t)k * cv + v) * maxd, res->c * sizeof(double));
				bnl_softmax(p, res->c);
			}
	}
	if (!ret)
		ret = bnnacc_uncertainty(res);
out:
	free(act);
	free(pre);
	if (ret) {
		bnnacc_result_free(res);
		if (ret == -ENOMEM)
			bnl_err(err, el, ret, "out of memory");
	}
	return ret;
}

int bnnacc_infer(struct bnnacc_net *net, const float *x, unsigned n,
		 struct bnnacc_result *res, char *err, size_t el)
{
	return bnnacc_infer_nets(net, 0, net->m, x, n, res, err, el);
}
