/* SPDX-License-Identifier: MIT */
/* card_run - see card_run.h */
#include "card_run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int card_run_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static FILE *out_open(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return fopen(path, "w");
}

int card_run_points(const char *path, unsigned d, float **x)
{
	FILE *f = fopen(path, "r");
	unsigned n, dd, i;
	float *v;

	if (!f)
		return -errno;
	if (fscanf(f, "%u %u", &n, &dd) != 2 || dd != d || !n ||
	    n > BNNACC_INFER_MAX_INPUTS) {
		fclose(f);
		return -EINVAL;
	}
	v = malloc((size_t)n * d * sizeof(float));
	if (!v) {
		fclose(f);
		return -ENOMEM;
	}
	for (i = 0; i < n * d; i++)
		if (fscanf(f, "%f", &v[i]) != 1) {
			free(v);
			fclose(f);
			return -EINVAL;
		}
	fclose(f);
	*x = v;
	return (int)n;
}

static int calib_progress(void *arg, unsigned done, unsigned total)
{
	(void)arg;
	printf("p_demo: calibration %u/%u\n", done, total);
	fflush(stdout);
	return 0;
}

/* Probs of every sample: "n m c" then n * m lines of c values. */
int card_run_dump(const char *dir, const char *name,
		       const struct bnnacc_result *r)
{
	FILE *f = out_open(dir, name);
	size_t i, j;

	if (!f)
		return -errno;
	fprintf(f, "%u %u %u\n", r->n, r->m, r->c);
	for (i = 0; i < (size_t)r->n * r->m; i++) {
		for (j = 0; j < r->c; j++)
			fprintf(f, j ? " %.6f" : "%.6f", r->probs[i * r->c + j]);
		fputc('\n', f);
	}
	return fclose(f) ? -errno : 0;
}

/*
 * Four weights to show: the largest |mean| of the first layer, the one of
 * the largest std in the last layer, a bias of a hidden layer and the one
 * of mean nearest zero in the middle.
 */
static void pick_probes(const struct bnnacc_model *m, unsigned pl[], unsigned pk[])
{
	unsigned last = m->n_layers - 1, mid = m->n_layers / 2, l, q;

	for (q = 0; q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L;
		unsigned n, k, best = 0;
		double bv = -1;

		l = q == 0 ? 0 : q == 1 ? last : q == 2 ? 0 : mid;
		L = &m->layer[l];
		n = L->n_out * (L->n_in + 1);
		for (k = 0; k < n; k++) {
			double v;

			if (q == 0)
				v = fabs(L->mean[k]);
			else if (q == 1)
				v = L->std[k];
			else if (q == 2)
				v = (k % (L->n_in + 1)) == L->n_in ? fabs(L->mean[k]) : -1;
			else
				v = -fabs(L->mean[k]) + 1e-9 * k;
			if (v > bv) {
				bv = v;
				best = k;
			}
		}
		pl[q] = l;
		pk[q] = best;
	}
}

int card_run_weights(const struct bnnacc_card_info *info, const uint32_t *ns,
		     unsigned reads, const struct bnnacc_model *m,
		     const struct bnnacc_model *ach, double g, unsigned mm,
		     const struct bnnacc_region *tiles, const char *outdir)
{
	size_t cells = (size_t)info->rows * info->cols;
	unsigned pl[CARD_RUN_PROBES], pk[CARD_RUN_PROBES], q, k, rd;
	FILE *f = out_open(outdir, "weights.txt");

	if (!f)
		return -errno;
	pick_probes(m, pl, pk);
	fprintf(f, "# probe layer out in target_mean_uS target_sigma_uS "
		"predicted_mean_uS predicted_sigma_uS (gamma %.4f uS per unit)\n", g);
	for (q = 0; q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L = &m->layer[pl[q]];
		unsigned in = pk[q] % (L->n_in + 1), o_ = pk[q] / (L->n_in + 1);

		fprintf(f, "P %u %u %u %u %.4f %.4f %.4f %.4f\n", q, pl[q], o_, in,
			g * L->mean[pk[q]], g * L->std[pk[q]],
			g * ach->layer[pl[q]].mean[pk[q]],
			g * ach->layer[pl[q]].std[pk[q]]);
	}
	fprintf(f, "# probe network read g_plus_uS g_minus_uS difference_uS\n");
	for (q = 0; q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L = &m->layer[pl[q]];
		unsigned in = pk[q] % (L->n_in + 1), o_ = pk[q] / (L->n_in + 1);

		for (k = 0; k < mm; k++) {
			const struct bnnacc_region *t = &tiles[(size_t)k * m->n_layers + pl[q]];
			size_t cp = (size_t)(t->row + 2 * in) * info->cols + t->col + o_;
			size_t cm = cp + info->cols;

			for (rd = 0; rd < reads; rd++) {
				double gp = ns[rd * cells + cp] / 1000.0;
				double gm = ns[rd * cells + cm] / 1000.0;

				fprintf(f, "S %u %u %u %.3f %.3f %.3f\n", q, k, rd, gp, gm, gp - gm);
			}
		}
	}
	return fclose(f) ? -errno : 0;
}

static int conductances(struct bnnacc_card *card, struct bnnacc_net *net,
			const struct bnnacc_model *m, const struct bnnacc_model *ach,
			const struct card_run_opts *o)
{
	struct bnnacc_region all = { 0, 0, (uint16_t)card->info.rows,
				     (uint16_t)card->info.cols };
	size_t cells = (size_t)card->info.rows * card->info.cols;
	unsigned reads = o->reads ? o->reads : 4, mm = bnnacc_net_m(net), k, l;
	uint32_t *ns = malloc(cells * reads * sizeof(uint32_t));
	struct bnnacc_region *tiles = malloc((size_t)mm * m->n_layers * sizeof(*tiles));
	unsigned rd;
	int ret = ns && tiles ? 0 : -ENOMEM;

	for (rd = 0; rd < reads && !ret; rd++)
		ret = card->ops->read(card->ctx, &all, ns + rd * cells);
	for (k = 0; !ret && k < mm; k++)
		for (l = 0; l < m->n_layers; l++)
			tiles[(size_t)k * m->n_layers + l] = *bnnacc_net_tile(net, k, l);
	if (!ret)
		ret = card_run_weights(&card->info, ns, reads, m, ach,
				       bnnacc_net_gamma(net), mm, tiles, o->outdir);
	free(tiles);
	free(ns);
	return ret;
}

static int infer_pass(struct bnnacc_net *net, const float *x, unsigned n,
		      const char *dir, const char *name, char *err, size_t errlen)
{
	struct bnnacc_result r;
	int ret;

	printf("p_demo: inference %s: %u points x %u networks\n", name, n,
	       bnnacc_net_m(net));
	fflush(stdout);
	ret = bnnacc_infer(net, x, n, &r, err, errlen);
	if (ret)
		return ret;
	ret = card_run_dump(dir, name, &r);
	bnnacc_result_free(&r);
	return ret ? card_run_fail(err, errlen, ret, "write %s: %s", name, strerror(-ret)) : 0;
}

int card_run_files(const struct bnnacc_net *net, const struct bnnacc_model *m,
		   const struct bnnacc_calib *cal, const char *outdir,
		   struct bnnacc_model **achp, char *err, size_t errlen)
{
	struct bnnacc_model *ach = NULL;
	char path[4096];
	unsigned l;
	FILE *f;
	int ret;

	ret = bnnacc_net_achieved(net, &ach);
	if (ret)
		return card_run_fail(err, errlen, ret, "achieved model: %s", strerror(-ret));
	snprintf(path, sizeof(path), "%s/achieved.bnnm", outdir);
	ret = bnnacc_model_save(ach, path);
	if (ret) {
		bnnacc_model_free(ach);
		return card_run_fail(err, errlen, ret, "save %s: %s", path, strerror(-ret));
	}
	snprintf(path, sizeof(path), "%s/transfer.txt", outdir);
	f = fopen(path, "w");
	if (!f) {
		ret = -errno;
		bnnacc_model_free(ach);
		return card_run_fail(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	fprintf(f, "m %u\ngamma %.6f\ncal_k %.6f\ncal_g_lo %.3f\ncal_g_hi %.3f\n",
		bnnacc_net_m(net), bnnacc_net_gamma(net), cal->k_us_per_ua,
		cal->g_lo, cal->g_hi);
	for (l = 0; l < m->n_layers; l++) {
		const struct bnnacc_layer_report *rp = bnnacc_net_report(net, l);

		fprintf(f, "layer %u kl_mean %.6g kl_max %.6g clipped %u weights %u rel_mean_err %.6g\n",
			l, rp->kl_mean, rp->kl_max, rp->clipped, rp->weights, rp->rel_mean_err);
	}
	if (fclose(f)) {
		ret = -errno;
		bnnacc_model_free(ach);
		return card_run_fail(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	*achp = ach;
	return 0;
}

int card_run_ages(const struct card_run_opts *o, card_run_pass_fn pass,
		  void *ctx, char *err, size_t errlen)
{
	char name[64];
	unsigned a;
	int ret;

	ret = pass(ctx, "card_0.txt", err, errlen);
	for (a = 0; !ret && a < o->nages; a++) {
		printf("p_demo: ageing the card to %u s after programming\n", o->ages[a]);
		fflush(stdout);
		ret = o->advance ? o->advance(o->advance_ctx, o->ages[a]) : -EINVAL;
		if (ret)
			return card_run_fail(err, errlen, ret,
					     "clock advance to %u s failed", o->ages[a]);
		snprintf(name, sizeof(name), "card_%u.txt", o->ages[a]);
		ret = pass(ctx, name, err, errlen);
	}
	return ret;
}

struct direct_pass {
	struct bnnacc_net *net;
	const float *x;
	unsigned n;
	const char *dir;
};

static int direct_pass(void *ctx, const char *name, char *err, size_t errlen)
{
	struct direct_pass *p = ctx;

	return infer_pass(p->net, p->x, p->n, p->dir, name, err, errlen);
}

int card_run(struct bnnacc_card *card, const struct card_run_opts *o,
	     char *err, size_t errlen)
{
	struct bnnacc_cal_opts co;
	struct bnnacc_xfer_opts xo = { o->m, 0, 0 };
	struct bnnacc_model *m = NULL, *ach = NULL;
	struct bnnacc_net *net = NULL;
	struct bnnacc_calib cal;
	struct direct_pass pass;
	float *x = NULL;
	int n, ret;

	ret = bnnacc_model_load(&m, o->model, err, errlen);
	if (ret)
		return ret;
	n = card_run_points(o->points, m->n_inputs, &x);
	if (n < 0) {
		ret = card_run_fail(err, errlen, n, "points %s: %s", o->points, strerror(-n));
		goto out;
	}
	memset(&co, 0, sizeof(co));
	co.dir = o->caldir;
	co.progress = calib_progress;
	ret = bnnacc_calibrate(card, &co, &cal, err, errlen);
	if (ret < 0)
		goto out;
	printf("p_demo: calibration %s: k=%.4f uS/uA, G %.1f..%.1f uS\n",
	       ret ? "reused" : "measured", cal.k_us_per_ua, cal.g_lo, cal.g_hi);
	printf("p_demo: transfer: one programming step of the whole array\n");
	fflush(stdout);
	ret = bnnacc_transfer(&net, card, &cal, m, &xo, err, errlen);
	if (ret)
		goto out;
	if (o->programmed) {
		ret = o->programmed(o->advance_ctx);
		if (ret) {
			card_run_fail(err, errlen, ret, "device clock: %s", strerror(-ret));
			goto out;
		}
	}
	ret = card_run_files(net, m, &cal, o->outdir, &ach, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: transferred M=%u networks, gamma=%.3f uS per unit\n",
	       bnnacc_net_m(net), bnnacc_net_gamma(net));
	fflush(stdout);
	ret = conductances(card, net, m, ach, o);
	if (ret) {
		card_run_fail(err, errlen, ret, "conductance read-back: %s", strerror(-ret));
		goto out;
	}
	pass = (struct direct_pass){ net, x, (unsigned)n, o->outdir };
	ret = card_run_ages(o, direct_pass, &pass, err, errlen);
out:
	free(x);
	bnnacc_net_free(net);
	bnnacc_model_free(ach);
	bnnacc_model_free(m);
	return ret < 0 ? ret : 0;
}
