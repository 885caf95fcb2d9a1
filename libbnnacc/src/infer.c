/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - sampled inference: on the card (one MVM job per sampled
 * network and layer, activations on the host between layers) and in
 * software from the posterior; the uncertainty split U_p = U_a + U_e.
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

/* Inputs of one vector into tile rows: +x, -x per input, then the bias */
static double encode(const double *x, unsigned nin, int16_t *rows)
{
	double fs = 1.0, v;
	unsigned i;

	for (i = 0; i < nin; i++)
		fs = fmax(fs, fabs(x[i]));
	for (i = 0; i <= nin; i++) {
		v = i < nin ? x[i] : 1.0;
		rows[2 * i] = (int16_t)lround(v / fs * BNNACC_INPUT_FS);
		rows[2 * i + 1] = (int16_t)-rows[2 * i];
	}
	return fs;
}

struct layer_run {
	int16_t *in;		/* [m][n][rows] */
	int32_t *out;		/* [m][n][cols] */
	double *fs;		/* [m][n] */
	unsigned *shift;	/* [m] */
};

/* Run one layer of every network; redo with a wider ADC range on saturation */
static int run_layer(struct bnnacc_net *net, unsigned l, unsigned n,
		     struct layer_run *lr)
{
	const struct bnnacc_layer *ly = &net->model->layer[l];
	unsigned rows = 2 * (ly->n_in + 1), cols = ly->n_out, k, c, njobs;
	int32_t amax = (1 << (net->card.info.adc_bits - 1)) - 1;
	struct bnnacc_mvm *jobs;
	size_t per = (n + CHUNK - 1) / CHUNK, v, i;
	int ret = 0, again = 1;

	jobs = calloc((size_t)net->m * per, sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	for (k = 0; k < net->m; k++)
		lr->shift[k] = net->shift[l];
	while (again && !ret) {
		njobs = 0;
		for (k = 0; k < net->m; k++) {
			if (lr->shift[k] == UINT32_MAX)
				continue;
			for (c = 0; c * CHUNK < n; c++) {
				struct bnnacc_mvm *j = &jobs[njobs++];

				j->region = net->tiles[(size_t)k * net->nl + l];
				j->count = n - c * CHUNK < CHUNK ? n - c * CHUNK : CHUNK;
				j->in = lr->in + ((size_t)k * n + (size_t)c * CHUNK) * rows;
				j->out = lr->out + ((size_t)k * n + (size_t)c * CHUNK) * cols;
				j->adc_shift = lr->shift[k];
			}
		}
		ret = net->card.ops->mvm(net->card.ctx, jobs, njobs);
		again = 0;
		for (k = 0; !ret && k < net->m; k++) {
			int sat = 0;

			if (lr->shift[k] == UINT32_MAX)
				continue;
			for (v = 0; v < n && !sat; v++)
				for (i = 0; i < cols; i++)
					sat |= abs(lr->out[((size_t)k * n + v) * cols + i]) >= amax;
			if (sat && lr->shift[k] > 0) {
				lr->shift[k]--;
				again = 1;
			} else {
				/* done: remember its shift, mark finished */
				net->shift[l] = lr->shift[k] < net->shift[l] ? lr->shift[k] : net->shift[l];
				lr->fs[k] = ldexp(net->card.info.adc_fs_ua, -(int)lr->shift[k]);
				lr->shift[k] = UINT32_MAX;
			}
		}
	}
	free(jobs);
	return ret;
}

int bnnacc_infer(struct bnnacc_net *net, const float *x, unsigned n,
		 struct bnnacc_result *res, char *err, size_t el)
{
	const struct bnnacc_model *md = net->model;
	unsigned maxd = md->n_inputs, l, k, v, i;
	struct layer_run lr = { NULL, NULL, NULL, NULL };
	double *act = NULL, *fsv = NULL, *ufs = NULL;
	int ret;

	if (!n)
		return bnl_err(err, el, -EINVAL, "no inputs");
	if (n > BNNACC_INFER_MAX_INPUTS)
		return bnl_err(err, el, -E2BIG, "%u inputs in one call; at most %u",
			       n, BNNACC_INFER_MAX_INPUTS);
	for (l = 0; l < md->n_layers; l++)
		maxd = md->layer[l].n_out > maxd ? md->layer[l].n_out : maxd;
	ret = result_alloc(res, net->m, n, md->n_classes);
	if (ret)
		return bnl_err(err, el, ret, "out of memory");
	act = malloc((size_t)net->m * n * maxd * sizeof(double));
	fsv = malloc((size_t)net->m * n * sizeof(double));
	ufs = malloc((size_t)net->m * sizeof(double));
	lr.in = malloc((size_t)net->m * n * BNNACC_ROWS * sizeof(int16_t));
	lr.out = malloc((size_t)net->m * n * BNNACC_COLS * sizeof(int32_t));
	lr.shift = malloc((size_t)net->m * sizeof(unsigned));
	lr.fs = ufs;
	ret = -ENOMEM;
	if (!act || !fsv || !ufs || !lr.in || !lr.out || !lr.shift)
		goto out;
	for (k = 0; k < net->m; k++)
		for (v = 0; v < n; v++)
			normalise(md, x + (size_t)v * md->n_inputs,
				  act + ((size_t)k * n + v) * maxd);
	for (l = 0; l < md->n_layers; l++) {
		const struct bnnacc_layer *ly = &md->layer[l];
		unsigned rows = 2 * (ly->n_in + 1);
		int32_t amax = (1 << (net->card.info.adc_bits - 1)) - 1;

		for (k = 0; k < net->m; k++)
			for (v = 0; v < n; v++)
				fsv[(size_t)k * n + v] =
					encode(act + ((size_t)k * n + v) * maxd, ly->n_in,
					       lr.in + ((size_t)k * n + v) * rows);
		ret = run_layer(net, l, n, &lr);
		if (ret) {
			bnl_err(err, el, ret, "MVM of layer %u failed: %s", l,
				bnnacc_strerror(ret));
			goto out;
		}
		for (k = 0; k < net->m; k++)
			for (v = 0; v < n; v++) {
				double *a = act + ((size_t)k * n + v) * maxd;
				double sc = lr.fs[k] / amax * fsv[(size_t)k * n + v] /
					    (net->card.info.read_v * net->gamma);

				for (i = 0; i < ly->n_out; i++)
					a[i] = bnl_act(ly->act,
						       lr.out[((size_t)k * n + v) * ly->n_out + i] * sc);
			}
	}
	for (k = 0; k < net->m; k++)
		for (v = 0; v < n; v++) {
			double *p = res->probs + ((size_t)v * net->m + k) * res->c;

			memcpy(p, act + ((size_t)k * n + v) * maxd, res->c * sizeof(double));
			bnl_softmax(p, res->c);
		}
	ret = bnnacc_uncertainty(res);
out:
	free(act);
	free(fsv);
	free(ufs);
	free(lr.in);
	free(lr.out);
	free(lr.shift);
	if (ret) {
		bnnacc_result_free(res);
		if (ret == -ENOMEM)
			bnl_err(err, el, ret, "out of memory");
	}
	return ret;
}
