/* SPDX-License-Identifier: MIT */
/*
 * bnn-demo - host side of `make demo`.
 *
 *   bnn-demo train  --out FILE [data options] [--arch 2-16-16-2]
 *                   [--steps N] [--lr X] [--prior S] [--train-seed S]
 *   bnn-demo points --out FILE [data options]
 *   bnn-demo report --dir DIR --model FILE [data options] [--ages A,B,..]
 *
 * Data options (the same for the three, so they agree on the data):
 *   --train N (300) --test N (500) --grid G (60) --noise X (0.15) --seed S (1)
 *
 * train: Bayes-by-backprop on two moons, writes a libbnnacc model.
 * points: the G x G grid over the input plane, then the held-out test set,
 *   as the card-side program reads them ("n 2" then n lines "x y").
 * report: reads the card's output in DIR (card_*.txt, achieved.bnnm,
 *   transfer.txt, weights.txt), runs the software reference, and writes
 *   metrics.json, table.txt and the data files of the figures.
 */
#include "bnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define X0 (-1.5)
#define X1 2.5
#define Y0 (-1.0)
#define Y1 1.5
#define MAX_AGES 8
#define SOFT_SEED 7
#define REF_M 1000

struct opts {
	const char *out, *dir, *model;
	unsigned train, test, grid, steps, ages[MAX_AGES], nages;
	double noise, lr, prior;
	uint64_t seed, train_seed;
	struct bnn_cfg cfg;
};

static void usage(void)
{
	fprintf(stderr, "usage: bnn-demo train|points|report [options] (see demo/bnn_demo.c)\n");
	exit(2);
}

static int parse_arch(const char *s, struct bnn_cfg *c)
{
	unsigned n = 0;
	char *e;

	while (*s && n <= BNN_MAX_LAYERS) {
		unsigned long v = strtoul(s, &e, 10);

		if (e == s || !v || v > 1024)
			return -1;
		c->dims[n++] = (unsigned)v;
		s = *e == '-' ? e + 1 : e;
		if (*e && *e != '-')
			return -1;
	}
	if (*s || n < 2)
		return -1;
	c->n_layers = n - 1;
	return 0;
}

static void parse(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->train = 300;
	o->test = 500;
	o->grid = 60;
	o->noise = 0.15;
	o->seed = 1;
	o->train_seed = 11;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--out"))
			o->out = v;
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--model"))
			o->model = v;
		else if (!strcmp(a, "--train"))
			o->train = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--test"))
			o->test = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--grid"))
			o->grid = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--noise"))
			o->noise = strtod(v, NULL);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--train-seed"))
			o->train_seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--steps"))
			o->cfg.steps = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--lr"))
			o->cfg.lr = strtod(v, NULL);
		else if (!strcmp(a, "--sigma")) {
			if (!strcmp(v, "shared"))
				o->cfg.shared_sigma = 1;
			else if (strcmp(v, "per-weight"))
				usage();
		} else if (!strcmp(a, "--prior"))
			o->cfg.prior_sigma = strtod(v, NULL);
		else if (!strcmp(a, "--arch")) {
			if (parse_arch(v, &o->cfg))
				usage();
		} else if (!strcmp(a, "--ages")) {
			char *e;

			o->nages = 0;
			while (*v && o->nages < MAX_AGES) {
				o->ages[o->nages++] = (unsigned)strtoul(v, &e, 10);
				v = *e == ',' ? e + 1 : e;
				if (e == v && *v)
					usage();
			}
		} else
			usage();
		i++;
	}
	if (o->train < 2 || o->test < 1 || o->grid < 2 || o->grid > 200)
		usage();
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmd_train(const struct opts *o)
{
	float *x = malloc(o->train * 2 * sizeof(float));
	int *y = malloc(o->train * sizeof(int));
	struct bnn_cfg c = o->cfg;
	struct bnnacc_model *m;
	struct bnn_stats st;
	double t0 = now_s();
	int ret;

	if (!x || !y || !o->out)
		return 2;
	bnn_moons(x, y, o->train, o->noise, o->seed);
	c.seed = o->train_seed;
	c.verbose = c.steps ? c.steps / 4 : 1000;
	ret = bnn_train(&c, x, y, o->train, &m, &st);
	free(x);
	free(y);
	if (ret) {
		fprintf(stderr, "bnn-demo: training failed: %s\n", strerror(-ret));
		return 1;
	}
	strncpy(m->class_name[0], "upper moon", BNNACC_NAME_LEN - 1);
	strncpy(m->class_name[1], "lower moon", BNNACC_NAME_LEN - 1);
	ret = bnnacc_model_save(m, o->out);
	bnnacc_model_free(m);
	if (ret) {
		fprintf(stderr, "bnn-demo: %s: %s\n", o->out, strerror(-ret));
		return 1;
	}
	printf("train: %u points, %u weights, train accuracy %.3f, mean sigma %.3f, "
	       "final nll %.3f, KL %.1f, %.2f s -> %s\n", o->train, st.n_weights,
	       st.accuracy, st.mean_sigma, st.nll, st.kl, now_s() - t0, o->out);
	return 0;
}

/* Grid (row-major, y outer) then test points. */
static unsigned make_points(const struct opts *o, float **px, int **py)
{
	unsigned g = o->grid, n = g * g + o->test, i, j;
	float *x = malloc((size_t)n * 2 * sizeof(float));
	int *y = malloc((size_t)n * sizeof(int));

	if (!x || !y)
		exit(1);
	for (j = 0; j < g; j++)
		for (i = 0; i < g; i++) {
			x[2 * (j * g + i)] = (float)(X0 + (X1 - X0) * i / (g - 1));
			x[2 * (j * g + i) + 1] = (float)(Y0 + (Y1 - Y0) * j / (g - 1));
			y[j * g + i] = -1;
		}
	bnn_moons(x + 2 * g * g, y + g * g, o->test, o->noise, o->seed + 1000);
	*px = x;
	*py = y;
	return n;
}

static int cmd_points(const struct opts *o)
{
	float *x;
	int *y;
	unsigned n = make_points(o, &x, &y), i;
	FILE *f = o->out ? fopen(o->out, "w") : NULL;

	if (!f)
		return 2;
	fprintf(f, "%u 2\n", n);
	for (i = 0; i < n; i++)
		fprintf(f, "%.6f %.6f\n", x[2 * i], x[2 * i + 1]);
	free(x);
	free(y);
	return fclose(f) ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* report                                                                  */
/* ---------------------------------------------------------------------- */

static FILE *dopen(const struct opts *o, const char *name, const char *mode)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", o->dir, name);
	f = fopen(p, mode);
	if (!f && mode[0] == 'w') {
		fprintf(stderr, "bnn-demo: %s: %s\n", p, strerror(errno));
		exit(1);
	}
	return f;
}

static int load_result(const struct opts *o, const char *name, struct bnnacc_result *r)
{
	FILE *f = dopen(o, name, "r");
	size_t i, tot;

	memset(r, 0, sizeof(*r));
	if (!f)
		return -ENOENT;
	if (fscanf(f, "%u %u %u", &r->n, &r->m, &r->c) != 3 || !r->n || !r->m || !r->c) {
		fclose(f);
		return -EINVAL;
	}
	tot = (size_t)r->n * r->m * r->c;
	r->probs = malloc(tot * sizeof(double));
	r->mean = malloc((size_t)r->n * r->c * sizeof(double));
	r->u_p = malloc(r->n * sizeof(double));
	r->u_a = malloc(r->n * sizeof(double));
	r->u_e = malloc(r->n * sizeof(double));
	if (!r->probs || !r->mean || !r->u_p || !r->u_a || !r->u_e)
		exit(1);
	for (i = 0; i < tot; i++)
		if (fscanf(f, "%lf", &r->probs[i]) != 1) {
			fclose(f);
			return -EINVAL;
		}
	fclose(f);
	return bnnacc_uncertainty(r);
}

struct metrics {
	unsigned m;
	double sw_acc, card_acc, agree, ent_r, epi_r, mean_dp;
};

/* Card vs software on the grid (first g*g points) and the test set (rest). */
static void compare(const struct bnnacc_result *sw, const struct bnnacc_result *hw,
		    unsigned gg, const int *y, struct metrics *mt)
{
	unsigned nt = hw->n - gg, c = hw->c, i;
	double s = 0;

	mt->m = hw->m;
	mt->sw_acc = bnn_accuracy(sw->mean + (size_t)gg * c, nt, c, y + gg);
	mt->card_acc = bnn_accuracy(hw->mean + (size_t)gg * c, nt, c, y + gg);
	mt->agree = bnn_agreement(sw->mean, hw->mean, gg, c);
	mt->ent_r = bnn_pearson(sw->u_p, hw->u_p, gg);
	mt->epi_r = bnn_pearson(sw->u_e, hw->u_e, gg);
	for (i = 0; i < gg * c; i++)
		s += fabs(sw->mean[i] - hw->mean[i]);
	mt->mean_dp = s / (gg * c);
}

static void grid_file(const struct opts *o, const char *name, const float *x,
		      const struct bnnacc_result *r)
{
	FILE *f = dopen(o, name, "w");
	unsigned g = o->grid, i, j;

	fprintf(f, "# x y p_class1 U_p U_a U_e (nats)\n");
	for (j = 0; j < g; j++) {
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i;

			fprintf(f, "%.4f %.4f %.5f %.5f %.5f %.5f\n", x[2 * k], x[2 * k + 1],
				r->mean[k * r->c + 1], r->u_p[k], r->u_a[k], r->u_e[k]);
		}
		fputc('\n', f);
	}
	fclose(f);
}

/* Boundary: midpoints between grid neighbours of different predicted class. */
static void boundary_file(const struct opts *o, const char *name, const float *x,
			  const struct bnnacc_result *r)
{
	FILE *f = dopen(o, name, "w");
	unsigned g = o->grid, i, j;

	fprintf(f, "# x y of the decision boundary (p_class1 = 0.5 crossings)\n");
	for (j = 0; j < g; j++)
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i;
			int a = r->mean[k * r->c + 1] > 0.5;

			if (i + 1 < g && a != (r->mean[(k + 1) * r->c + 1] > 0.5))
				fprintf(f, "%.4f %.4f\n", 0.5 * (x[2 * k] + x[2 * k + 2]), x[2 * k + 1]);
			if (j + 1 < g && a != (r->mean[(k + g) * r->c + 1] > 0.5))
				fprintf(f, "%.4f %.4f\n", x[2 * k], 0.5 * (x[2 * k + 1] + x[2 * (k + g) + 1]));
		}
	fclose(f);
}

static void diff_file(const struct opts *o, const float *x,
		      const struct bnnacc_result *sw, const struct bnnacc_result *hw)
{
	FILE *f = dopen(o, "diff.dat", "w");
	unsigned g = o->grid, i, j;

	fprintf(f, "# x y dp_class1 dU_p dU_e (card - software)\n");
	for (j = 0; j < g; j++) {
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i;

			fprintf(f, "%.4f %.4f %.5f %.5f %.5f\n", x[2 * k], x[2 * k + 1],
				hw->mean[k * hw->c + 1] - sw->mean[k * sw->c + 1],
				hw->u_p[k] - sw->u_p[k], hw->u_e[k] - sw->u_e[k]);
		}
		fputc('\n', f);
	}
	fclose(f);
}

/* Histogram of each probe's pair differences and the two Gaussians. */
static void weights_files(const struct opts *o)
{
	FILE *f = dopen(o, "weights.txt", "r"), *h, *c;
	double tm[8], ts[8], pm[8], ps[8], lo[8], hi[8];
	unsigned nprobe = 0, q, k, rd, b, cnt[8][40], tot[8];
	char line[512];

	if (!f)
		return;
	memset(cnt, 0, sizeof(cnt));
	memset(tot, 0, sizeof(tot));
	while (fgets(line, sizeof(line), f)) {
		unsigned l, oo, in;
		double a, bb, cc, d;

		if (sscanf(line, "P %u %u %u %u %lf %lf %lf %lf", &q, &l, &oo, &in, &a,
			   &bb, &cc, &d) == 8 && q < 8) {
			tm[q] = a;
			ts[q] = bb;
			pm[q] = cc;
			ps[q] = d;
			lo[q] = fmin(a - 4 * bb, cc - 4 * d);
			hi[q] = fmax(a + 4 * bb, cc + 4 * d);
			nprobe = q + 1 > nprobe ? q + 1 : nprobe;
		} else if (sscanf(line, "S %u %u %u %lf %lf %lf", &q, &k, &rd, &a, &bb,
				  &d) == 6 && q < nprobe) {
			double t = (d - lo[q]) / (hi[q] - lo[q]) * 40;

			if (t >= 0 && t < 40)
				cnt[q][(unsigned)t]++;
			tot[q]++;
		}
	}
	fclose(f);
	h = dopen(o, "weights_hist.dat", "w");
	c = dopen(o, "weights_pdf.dat", "w");
	for (q = 0; q < nprobe; q++) {
		double w = (hi[q] - lo[q]) / 40;

		fprintf(h, "# probe %u: bin_centre_uS density (read-back of the M pairs)\n", q);
		for (b = 0; b < 40; b++)
			fprintf(h, "%.4f %.6f\n", lo[q] + (b + 0.5) * w,
				tot[q] ? cnt[q][b] / (tot[q] * w) : 0);
		fprintf(h, "\n\n");
		fprintf(c, "# probe %u: G_uS target_pdf predicted_pdf\n", q);
		for (b = 0; b <= 200; b++) {
			double g = lo[q] + (hi[q] - lo[q]) * b / 200;
			double zt = (g - tm[q]) / ts[q], zp = (g - pm[q]) / ps[q];

			fprintf(c, "%.4f %.6f %.6f\n", g,
				ts[q] > 0 ? exp(-0.5 * zt * zt) / (ts[q] * 2.5066282746) : 0,
				ps[q] > 0 ? exp(-0.5 * zp * zp) / (ps[q] * 2.5066282746) : 0);
		}
		fprintf(c, "\n\n");
	}
	fclose(h);
	fclose(c);
}

static void json_metrics(FILE *f, const char *ind, const struct metrics *m)
{
	fprintf(f, "%s\"samples\": %u, \"software_accuracy\": %.4f, \"card_accuracy\": %.4f, "
		"\"grid_agreement\": %.4f, \"entropy_pearson\": %.4f, "
		"\"epistemic_pearson\": %.4f, \"mean_abs_dp\": %.4f", ind, m->m,
		m->sw_acc, m->card_acc, m->agree, m->ent_r, m->epi_r, m->mean_dp);
}

static int cmd_report(const struct opts *o)
{
	struct bnnacc_model *model = NULL, *ach = NULL;
	struct bnnacc_result card, sw, swk, hwk, ref, sach;
	struct metrics byk[8], byage[MAX_AGES], vref, vach;
	unsigned ks[8], nk = 0, gg = o->grid * o->grid, a, i, mmax;
	char err[256] = "", name[64], p[4096];
	double gamma = 0, t0 = now_s();
	float *x;
	int *y, ret;
	FILE *f, *t;

	if (!o->dir || !o->model)
		usage();
	make_points(o, &x, &y);
	ret = bnnacc_model_load(&model, o->model, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bnn-demo: %s\n", err);
		return 1;
	}
	snprintf(p, sizeof(p), "%s/achieved.bnnm", o->dir);
	if (bnnacc_model_load(&ach, p, err, sizeof(err)))
		ach = NULL;
	ret = load_result(o, "card_0.txt", &card);
	if (ret || card.n != gg + o->test) {
		fprintf(stderr, "bnn-demo: %s/card_0.txt: missing or not of this grid/test size\n",
			o->dir);
		return 1;
	}
	mmax = card.m;
	f = dopen(o, "transfer.txt", "r");
	if (f) {
		while (fgets(name, sizeof(name), f))
			if (sscanf(name, "gamma %lf", &gamma) == 1)
				break;
		fclose(f);
	}

	/* software reference with the same number of samples, and converged */
	if (bnnacc_infer_soft(model, mmax, SOFT_SEED, x, card.n, &sw) ||
	    bnnacc_infer_soft(model, REF_M, SOFT_SEED + 1, x, card.n, &ref)) {
		fprintf(stderr, "bnn-demo: software inference failed\n");
		return 1;
	}
	ks[nk++] = 1;
	if (mmax > 5)
		ks[nk++] = 5;
	if (mmax > 10)
		ks[nk++] = 10;
	if (mmax > 20)
		ks[nk++] = 20;
	ks[nk++] = mmax;
	for (i = 0; i < nk; i++) {
		if (bnn_result_head(&sw, ks[i], &swk) || bnn_result_head(&card, ks[i], &hwk))
			return 1;
		compare(&swk, &hwk, gg, y, &byk[i]);
		bnnacc_result_free(&swk);
		bnnacc_result_free(&hwk);
	}
	compare(&ref, &card, gg, y, &vref);
	memset(&vach, 0, sizeof(vach));
	if (ach && !bnnacc_infer_soft(ach, mmax, SOFT_SEED + 2, x, card.n, &sach)) {
		compare(&sach, &card, gg, y, &vach);
		bnnacc_result_free(&sach);
	}
	for (a = 0; a < o->nages; a++) {
		struct bnnacc_result r;

		snprintf(name, sizeof(name), "card_%u.txt", o->ages[a]);
		if (load_result(o, name, &r)) {
			fprintf(stderr, "bnn-demo: %s/%s missing\n", o->dir, name);
			return 1;
		}
		compare(&sw, &r, gg, y, &byage[a]);
		bnnacc_result_free(&r);
	}

	/* figures' data */
	grid_file(o, "grid_sw.dat", x, &sw);
	grid_file(o, "grid_card.dat", x, &card);
	boundary_file(o, "boundary_sw.dat", x, &sw);
	boundary_file(o, "boundary_card.dat", x, &card);
	diff_file(o, x, &sw, &card);
	weights_files(o);
	{
		float *tx = malloc(o->train * 2 * sizeof(float));
		int *ty = malloc(o->train * sizeof(int));

		if (!tx || !ty)
			return 1;
		bnn_moons(tx, ty, o->train, o->noise, o->seed);
		f = dopen(o, "train.dat", "w");
		fprintf(f, "# x y label (training set)\n");
		for (i = 0; i < o->train; i++)
			fprintf(f, "%.4f %.4f %d\n", tx[2 * i], tx[2 * i + 1], ty[i]);
		fclose(f);
		free(tx);
		free(ty);
	}
	f = dopen(o, "vs_m.dat", "w");
	fprintf(f, "# M software_acc card_acc grid_agreement entropy_pearson epistemic_pearson mean_abs_dp\n");
	for (i = 0; i < nk; i++)
		fprintf(f, "%u %.4f %.4f %.4f %.4f %.4f %.4f\n", byk[i].m, byk[i].sw_acc,
			byk[i].card_acc, byk[i].agree, byk[i].ent_r, byk[i].epi_r, byk[i].mean_dp);
	fclose(f);
	f = dopen(o, "vs_age.dat", "w");
	fprintf(f, "# age_s (10: the first pass, seconds after programming) card_acc grid_agreement entropy_pearson epistemic_pearson mean_abs_dp\n");
	fprintf(f, "%u %.4f %.4f %.4f %.4f %.4f\n", 10, byk[nk - 1].card_acc, byk[nk - 1].agree,
		byk[nk - 1].ent_r, byk[nk - 1].epi_r, byk[nk - 1].mean_dp);
	for (a = 0; a < o->nages; a++)
		fprintf(f, "%u %.4f %.4f %.4f %.4f %.4f\n", o->ages[a], byage[a].card_acc,
			byage[a].agree, byage[a].ent_r, byage[a].epi_r, byage[a].mean_dp);
	fclose(f);

	/* metrics.json */
	f = dopen(o, "metrics.json", "w");
	fprintf(f, "{\n");
	json_metrics(f, "  ", &byk[nk - 1]);
	fprintf(f, ",\n  \"grid\": %u, \"test_points\": %u, \"train_points\": %u, "
		"\"noise\": %.3f, \"gamma_uS_per_unit\": %.4f,\n", o->grid, o->test,
		o->train, o->noise, gamma);
	fprintf(f, "  \"software_reference\": \"%u posterior samples (seed %d), the card's first M networks\",\n",
		mmax, SOFT_SEED);
	fprintf(f, "  \"vs_samples\": [\n");
	for (i = 0; i < nk; i++) {
		fprintf(f, "    {");
		json_metrics(f, "", &byk[i]);
		fprintf(f, "}%s\n", i + 1 < nk ? "," : "");
	}
	fprintf(f, "  ],\n  \"vs_age\": [\n");
	for (a = 0; a < o->nages; a++) {
		fprintf(f, "    {\"age_s\": %u, ", o->ages[a]);
		json_metrics(f, "", &byage[a]);
		fprintf(f, "}%s\n", a + 1 < o->nages ? "," : "");
	}
	fprintf(f, "  ],\n  \"vs_converged_software\": {\"reference_samples\": %u, ", REF_M);
	json_metrics(f, "", &vref);
	fprintf(f, "},\n  \"vs_achieved_model\": {");
	json_metrics(f, "", &vach);
	fprintf(f, "}\n}\n");
	fclose(f);

	/* table */
	t = dopen(o, "table.txt", "w");
	fprintf(t, "Card (first M networks) vs software (M posterior samples); grid %ux%u, %u test points\n\n",
		o->grid, o->grid, o->test);
	fprintf(t, "%-26s %7s %7s %7s %8s %8s %8s\n", "", "sw_acc", "card_acc", "agree",
		"H_pear", "Ue_pear", "|dp|");
	for (i = 0; i < nk; i++) {
		snprintf(name, sizeof(name), "M = %u%s", byk[i].m, i + 1 == nk ? " (all)" : "");
		fprintf(t, "%-26s %7.4f %7.4f %7.4f %8.4f %8.4f %8.4f\n", name, byk[i].sw_acc,
			byk[i].card_acc, byk[i].agree, byk[i].ent_r, byk[i].epi_r, byk[i].mean_dp);
	}
	for (a = 0; a < o->nages; a++) {
		snprintf(name, sizeof(name), "M = %u, age %u s", mmax, o->ages[a]);
		fprintf(t, "%-26s %7.4f %7.4f %7.4f %8.4f %8.4f %8.4f\n", name, byage[a].sw_acc,
			byage[a].card_acc, byage[a].agree, byage[a].ent_r, byage[a].epi_r,
			byage[a].mean_dp);
	}
	snprintf(name, sizeof(name), "vs software %u samples", REF_M);
	fprintf(t, "%-26s %7.4f %7.4f %7.4f %8.4f %8.4f %8.4f\n", name, vref.sw_acc,
		vref.card_acc, vref.agree, vref.ent_r, vref.epi_r, vref.mean_dp);
	if (ach)
		fprintf(t, "%-26s %7.4f %7.4f %7.4f %8.4f %8.4f %8.4f\n", "vs achieved model (sw)",
			vach.sw_acc, vach.card_acc, vach.agree, vach.ent_r, vach.epi_r, vach.mean_dp);
	fprintf(t, "\nsw/card_acc: test accuracy; agree: same class on the grid; H_pear, Ue_pear:\n"
		"Pearson r of the predictive-entropy and epistemic maps; |dp|: mean |p_card - p_sw|.\n"
		"gamma %.3f uS per weight unit. Report in %.1f s.\n", gamma, now_s() - t0);
	fclose(t);
	bnnacc_result_free(&card);
	bnnacc_result_free(&sw);
	bnnacc_result_free(&ref);
	bnnacc_model_free(model);
	bnnacc_model_free(ach);
	free(x);
	free(y);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		usage();
	parse(argc, argv, &o);
	if (!strcmp(argv[1], "train"))
		return cmd_train(&o);
	if (!strcmp(argv[1], "points"))
		return cmd_points(&o);
	if (!strcmp(argv[1], "report"))
		return cmd_report(&o);
	usage();
	return 2;
}
