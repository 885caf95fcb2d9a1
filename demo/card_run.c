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
 * the largest std in the last layer, a bias of the first layer and the one
 * of mean nearest zero in the middle.
 */
static int pick_probes(const struct bnnacc_model *m, unsigned pl[], unsigned pk[])
{
	unsigned last = m->n_layers - 1, mid = m->n_layers / 2, l, q;

	for (q = 0; q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L;
		unsigned n, k, best = 0;
		double bv = -1;
		float *mu, *sd;

		l = q == 0 ? 0 : q == 1 ? last : q == 2 ? 0 : mid;
		L = &m->layer[l];
		n = L->n_out * (L->n_in + 1);
		mu = malloc(n * sizeof(float));
		sd = malloc(n * sizeof(float));
		if (!mu || !sd) {
			free(mu);
			free(sd);
			return -ENOMEM;
		}
		bnnacc_model_moments(m, l, mu, sd);
		for (k = 0; k < n; k++) {
			double v;

			if (q == 0)
				v = fabs(mu[k]);
			else if (q == 1)
				v = sd[k];
			else if (q == 2)
				v = (k % (L->n_in + 1)) == L->n_in ? fabs(mu[k]) : -1;
			else
				v = -fabs(mu[k]) + 1e-9 * k;
			if (v > bv) {
				bv = v;
				best = k;
			}
		}
		free(mu);
		free(sd);
		pl[q] = l;
		pk[q] = best;
	}
	return 0;
}

void card_run_layout_free(struct card_run_layout *lay)
{
	free(lay->layer);
	free(lay->parts);
	free(lay->tiles);
	memset(lay, 0, sizeof(*lay));
}

/* The layout of @net's networks on card 0 */
static int layout_of(const struct bnnacc_net *net, const struct bnnacc_model *m,
		     struct card_run_layout *lay)
{
	unsigned l, q, k, n = 0, card;

	memset(lay, 0, sizeof(*lay));
	for (l = 0; l < m->n_layers; l++)
		n += bnnacc_net_report(net, l)->parts;
	lay->nparts = n;
	for (k = 0; k < bnnacc_net_m(net); k++) {
		bnnacc_net_tile(net, k, 0, 0, &card);
		if (card)
			break;
	}
	lay->m = k;
	lay->layer = malloc(n * sizeof(*lay->layer));
	lay->parts = malloc(n * sizeof(*lay->parts));
	lay->tiles = malloc((size_t)lay->m * n * sizeof(*lay->tiles) + 1);
	if (!lay->layer || !lay->parts || !lay->tiles) {
		card_run_layout_free(lay);
		return -ENOMEM;
	}
	for (n = 0, l = 0; l < m->n_layers; l++)
		for (q = 0; q < bnnacc_net_report(net, l)->parts; q++, n++) {
			lay->layer[n] = l;
			bnnacc_net_part(net, l, q, &lay->parts[n]);
			for (k = 0; k < lay->m; k++)
				lay->tiles[(size_t)k * lay->nparts + n] =
					*bnnacc_net_tile(net, k, l, q, NULL);
		}
	return 0;
}

/* Sum of @cells cells' mean reads from row @r0, column @c, read @rd */
static double cells_g(const struct bnnacc_card_info *info, const uint32_t *ns,
		      unsigned rd, unsigned r0, unsigned c, unsigned cells)
{
	size_t n = (size_t)info->rows * info->cols;
	double g = 0;
	unsigned i;

	for (i = 0; i < cells; i++)
		g += ns[rd * n + (size_t)(r0 + i) * info->cols + c] / 1000.0;
	return g;
}

int card_run_weights(const struct bnnacc_card_info *info, const uint32_t *ns,
		     unsigned reads, const struct bnnacc_model *m,
		     const struct bnnacc_model *ach, const double *gamma,
		     const struct card_run_layout *lay, const char *outdir)
{
	unsigned pl[CARD_RUN_PROBES], pk[CARD_RUN_PROBES], q, k, rd, p;
	float *amu = NULL, *asd = NULL, *mu = NULL, *sd = NULL;
	FILE *f;
	int ret = pick_probes(m, pl, pk);

	if (ret)
		return ret;
	f = out_open(outdir, "weights.txt");
	if (!f)
		return -errno;
	fprintf(f, "# probe layer out in target_mean_uS target_sigma_uS "
		"predicted_mean_uS predicted_sigma_uS (the layer's gamma, uS per unit)\n");
	for (q = 0; q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L = &m->layer[pl[q]];
		unsigned n = L->n_out * (L->n_in + 1);
		double g = gamma[pl[q]];

		mu = malloc(n * sizeof(float));
		sd = malloc(n * sizeof(float));
		amu = malloc(n * sizeof(float));
		asd = malloc(n * sizeof(float));
		if (!mu || !sd || !amu || !asd) {
			ret = -ENOMEM;
			break;
		}
		bnnacc_model_moments(m, pl[q], mu, sd);
		bnnacc_model_moments(ach, pl[q], amu, asd);
		fprintf(f, "P %u %u %u %u %.4f %.4f %.4f %.4f\n", q, pl[q],
			pk[q] / (L->n_in + 1), pk[q] % (L->n_in + 1), g * mu[pk[q]],
			g * sd[pk[q]], g * amu[pk[q]], g * asd[pk[q]]);
		free(mu);
		free(sd);
		free(amu);
		free(asd);
		mu = sd = amu = asd = NULL;
	}
	fprintf(f, "# probe network read g_plus_uS g_minus_uS difference_uS\n");
	for (q = 0; !ret && q < CARD_RUN_PROBES; q++) {
		const struct bnnacc_layer *L = &m->layer[pl[q]];
		unsigned in = pk[q] % (L->n_in + 1), o_ = pk[q] / (L->n_in + 1);

		for (p = 0; p < lay->nparts; p++)	/* the part holding the weight */
			if (lay->layer[p] == pl[q] && in >= lay->parts[p].in0 &&
			    in < lay->parts[p].in1 && o_ >= lay->parts[p].out0 &&
			    o_ < lay->parts[p].out1)
				break;
		if (p == lay->nparts)
			continue;
		for (k = 0; k < lay->m; k++) {
			const struct bnnacc_region *t = &lay->tiles[(size_t)k * lay->nparts + p];
			const struct bnnacc_part *pt = &lay->parts[p];
			unsigned r0 = t->row + 2 * pt->cells * (in - pt->in0);
			unsigned c = t->col + o_ - pt->out0;

			for (rd = 0; rd < reads; rd++) {
				double gp = cells_g(info, ns, rd, r0, c, pt->cells);
				double gm = cells_g(info, ns, rd, r0 + pt->cells, c, pt->cells);

				fprintf(f, "S %u %u %u %.3f %.3f %.3f\n", q, k, rd, gp, gm, gp - gm);
			}
		}
	}
	free(mu);
	free(sd);
	free(amu);
	free(asd);
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/* Read card 0's whole array @reads times and write weights.txt */
static int conductances(struct bnnacc_card *card, const struct card_run_layout *lay,
			const struct bnnacc_model *m, const struct bnnacc_model *ach,
			const double *gamma, const struct card_run_opts *o)
{
	struct bnnacc_region all = { 0, 0, (uint16_t)card->info.rows,
				     (uint16_t)card->info.cols };
	size_t cells = (size_t)card->info.rows * card->info.cols;
	unsigned reads = o->reads ? o->reads : 4;
	uint32_t *ns = malloc(cells * reads * sizeof(uint32_t));
	int ret = ns ? 0 : -ENOMEM;

	if (!ret)
		ret = card->ops->read(card->ctx, &all, ns, reads);
	if (!ret)
		ret = card_run_weights(&card->info, ns, reads, m, ach, gamma, lay, o->outdir);
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
		   const struct bnnacc_calib *cal, const char *outdir, const char *why,
		   struct bnnacc_model **achp, char *err, size_t errlen)
{
	const struct bnnacc_xfer_report *x = bnnacc_net_xfer_report(net);
	struct bnnacc_model *ach = NULL;
	char path[4096];
	const char *w, *e;
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
	fprintf(f, "m %u\nmode %s\ncells %u\nrepeat %u\ncards %u\ntiles %u\n"
		"clipped %u\nweights %u\nkl_mean %.6g\ncal_k %.6f\ncal_g_lo %.3f\ncal_g_hi %.3f\n",
		x->m, x->mode == BNNACC_XFER_SHARED ? "shared" : "samples", x->cells,
		x->repeat, x->cards, x->tiles, x->clipped, x->weights, x->kl_mean,
		cal->k_us_per_ua, cal->g_lo, cal->g_hi);
	for (w = why ? why : x->why; *w; w = *e ? e + 1 : e) {
		e = strchr(w, '\n');
		if (!e)
			e = w + strlen(w);
		fprintf(f, "why %.*s\n", (int)(e - w), w);
	}
	for (l = 0; l < m->n_layers; l++) {
		const struct bnnacc_layer_report *rp = bnnacc_net_report(net, l);

		fprintf(f, "layer %u gamma %.6f kl_mean %.6g kl_max %.6g clipped %u weights %u "
			"rel_mean_err %.6g parts %u\n", l, rp->gamma, rp->kl_mean, rp->kl_max,
			rp->clipped, rp->weights, rp->rel_mean_err, rp->parts);
	}
	if (fclose(f)) {
		ret = -errno;
		bnnacc_model_free(ach);
		return card_run_fail(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	*achp = ach;
	return 0;
}

int card_run_ages(const struct card_run_opts *o, uint64_t t_prog, card_run_pass_fn pass,
		  card_run_check_fn check, void *ctx, char *err, size_t errlen)
{
	FILE *f = out_open(o->outdir, "passes.txt");
	struct bnnacc_drift d;
	char name[64];
	unsigned a;
	uint64_t now = t_prog;
	int ret = 0, refreshed;

	if (!f)
		return card_run_fail(err, errlen, -errno, "passes.txt: %s", strerror(errno));
	fprintf(f, "# file asked_age_s measured_age_s gain spread excess refreshed\n");
	for (a = 0; !ret && a <= o->nages; a++) {
		memset(&d, 0, sizeof(d));
		d.gain = 1.0;
		refreshed = 0;
		if (a) {
			printf("p_demo: ageing the card to %u s after programming\n", o->ages[a - 1]);
			fflush(stdout);
			ret = o->advance ? o->advance(o->advance_ctx, o->ages[a - 1]) : -EINVAL;
			if (ret) {
				card_run_fail(err, errlen, ret, "clock advance to %u s failed",
					      o->ages[a - 1]);
				break;
			}
			ret = check(ctx, &d, &refreshed, err, errlen);
			if (ret)
				break;
			printf("p_demo: drift check: gain %.4f, spread %.4f, excess %.3f%s\n",
			       d.gain, d.spread, d.excess,
			       refreshed ? ": reprogrammed" : "");
			fflush(stdout);
		}
		if (o->clock && o->clock(o->advance_ctx, &now))
			now = t_prog;
		snprintf(name, sizeof(name), "card_%u.txt", a ? o->ages[a - 1] : 0);
		fprintf(f, "%s %u %.3f %.6f %.6f %.6f %d\n", name, a ? o->ages[a - 1] : 0,
			now > t_prog ? (now - t_prog) / 1e9 : 0.0, d.gain, d.spread, d.excess,
			refreshed);
		fflush(f);
		ret = pass(ctx, name, err, errlen);
	}
	if (fclose(f) && !ret)
		ret = card_run_fail(err, errlen, -errno, "passes.txt: %s", strerror(errno));
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

static int direct_check(void *ctx, struct bnnacc_drift *d, int *refreshed, char *err,
			size_t errlen)
{
	struct direct_pass *p = ctx;
	int ret = bnnacc_net_check(p->net, d, err, errlen);

	*refreshed = 0;
	if (ret || !d->refresh)
		return ret;
	ret = bnnacc_net_refresh(p->net, err, errlen);
	*refreshed = !ret;
	return ret;
}

int card_run(struct bnnacc_card *const *cards, unsigned ncards,
	     const struct card_run_opts *o, char *err, size_t errlen)
{
	struct bnnacc_cal_opts co;
	struct bnnacc_xfer_opts xo;
	struct bnnacc_model *m = NULL, *ach = NULL;
	struct bnnacc_net *net = NULL;
	struct bnnacc_calib cal[CARD_RUN_MAX_CARDS];
	const struct bnnacc_calib *calp[CARD_RUN_MAX_CARDS];
	struct card_run_layout lay = { 0 };
	double gam[BNNACC_MODEL_MAX_LAYERS];
	struct direct_pass pass;
	uint64_t t_prog = 0;
	float *x = NULL;
	unsigned i;
	int n, ret;

	if (!ncards || ncards > CARD_RUN_MAX_CARDS)
		return card_run_fail(err, errlen, -EINVAL, "%u cards (1..%d)", ncards,
				     CARD_RUN_MAX_CARDS);
	ret = bnnacc_model_load(&m, o->model, err, errlen);
	if (ret)
		return ret;
	n = card_run_points(o->points, m->n_inputs, &x);
	if (n < 0) {
		ret = card_run_fail(err, errlen, n, "points %s: %s", o->points, strerror(-n));
		goto out;
	}
	for (i = 0; i < ncards; i++) {
		memset(&co, 0, sizeof(co));
		co.dir = o->caldir;
		co.progress = calib_progress;
		ret = bnnacc_calibrate(cards[i], &co, &cal[i], err, errlen);
		if (ret < 0)
			goto out;
		printf("p_demo: card %u calibration %s: k=%.4f uS/uA, G %.1f..%.1f uS, "
		       "programming spread %.2f..%.2f uS, read noise %.3f..%.3f uS\n", i,
		       ret ? "reused" : "measured", cal[i].k_us_per_ua, cal[i].g_lo, cal[i].g_hi,
		       cal[i].g_sig_prog[0], cal[i].g_sig_prog[cal[i].nlevels - 1],
		       cal[i].g_sig_read[0], cal[i].g_sig_read[cal[i].nlevels - 1]);
		calp[i] = &cal[i];
	}
	printf("p_demo: transfer: one programming step of each array\n");
	fflush(stdout);
	memset(&xo, 0, sizeof(xo));
	xo.m = o->m;
	xo.mode = o->mode;
	xo.cells = o->cells;
	xo.repeat = o->repeat;
	ret = bnnacc_transfer(&net, cards, calp, ncards, m, &xo, err, errlen);
	if (ret)
		goto out;
	if (o->programmed) {
		ret = o->programmed(o->advance_ctx);
		if (ret) {
			card_run_fail(err, errlen, ret, "device clock: %s", strerror(-ret));
			goto out;
		}
	}
	if (o->clock)
		o->clock(o->advance_ctx, &t_prog);
	ret = card_run_files(net, m, &cal[0], o->outdir, NULL, &ach, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: transferred M=%u networks on %u card%s\n", bnnacc_net_m(net),
	       bnnacc_net_xfer_report(net)->cards,
	       bnnacc_net_xfer_report(net)->cards > 1 ? "s" : "");
	for (i = 0; i < m->n_layers; i++)
		gam[i] = bnnacc_net_gamma(net, i);
	printf("p_demo: %s\n", bnnacc_net_xfer_report(net)->why);
	fflush(stdout);
	ret = layout_of(net, m, &lay);
	if (!ret)
		ret = conductances(cards[0], &lay, m, ach, gam, o);
	if (ret) {
		card_run_fail(err, errlen, ret, "conductance read-back: %s", strerror(-ret));
		goto out;
	}
	pass = (struct direct_pass){ net, x, (unsigned)n, o->outdir };
	ret = card_run_ages(o, t_prog, direct_pass, direct_check, &pass, err, errlen);
out:
	card_run_layout_free(&lay);
	free(x);
	bnnacc_net_free(net);
	bnnacc_model_free(ach);
	bnnacc_model_free(m);
	return ret < 0 ? ret : 0;
}
