/* SPDX-License-Identifier: MIT */
/*
 * bnn-demo - host side of `make demo`.
 *
 *   bnn-demo train  --out FILE [data options] [--arch 2-32-2]
 *                   [--kind gauss|samples] [--sigma shared|per-weight]
 *                   [--steps N] [--lr X] [--prior S] [--train-seed S]
 *                   [--samples N] [--burn N] [--thin N] [--leapfrog N]
 *                   [--accept X]
 *   bnn-demo points --out FILE [data options]
 *   bnn-demo report --dir DIR --model FILE [data options] [--ages A,B,..]
 *   bnn-demo dataset --model FILE | --list
 *
 * Data options (the same for the three, so they agree on the data):
 *   --dataset NAME (moons) --train N (300) --test N (500) --grid G (60)
 *   --noise X (the data set's) --seed S (1)
 *
 * train: trains a BNN on the data set (--arch: the data set's suggested
 *   one by default), writes a libbnnacc model with the data set's class
 *   names and the data set's name in its metadata. --kind gauss (default):
 *   Bayes by backprop, a GAUSS model (--sigma shared or per-weight, --steps
 *   Adam steps); --kind samples: Hamiltonian Monte Carlo, a SAMPLES model of
 *   --samples kept samples (200, every --thin (2) iterations after --burn
 *   (400) warm-up iterations, --leapfrog (16) steps a trajectory, step size
 *   adapted to --accept (0.75); --steps: Adam steps of its start).
 * points: for 2-D data sets the G x G grid over the data set's plot box,
 *   then the held-out test set; for the others the test set alone; as the
 *   card-side program reads them ("n d" then n lines of d values).
 * report: reads the card's output in DIR (card_*.txt, passes.txt,
 *   achieved.bnnm, transfer.txt, weights.txt), runs the software reference,
 *   and writes metrics.json, table.txt and the data files of the figures.
 *   The model must be of the data set (its "dataset" metadata, or
 *   --dataset for a model without it): it refuses to score it against
 *   another.
 */
#include "bnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_AGES 8
#define SOFT_SEED 7
#define REF_M 1000

struct opts {
	const char *out, *dir, *model;
	const struct bnn_dataset *ds;
	unsigned train, test, grid, steps, ages[MAX_AGES], nages;
	double noise, lr, prior;
	uint64_t seed, train_seed;
	struct bnn_cfg cfg;
	int samples;		/* --kind samples */
	int arch_set;		/* --arch given */
	int ds_set;		/* --dataset given */
	int list;		/* dataset --list */
};

static void usage(void)
{
	fprintf(stderr, "usage: bnn-demo train|points|report [options] (see demo/bnn_demo.c)\n");
	exit(2);
}

static void unknown_dataset(const char *name)
{
	const struct bnn_dataset *ds;
	unsigned i;

	fprintf(stderr, "bnn-demo: unknown data set '%s'; there are:\n", name);
	for (i = 0; (ds = bnn_dataset_get(i)); i++)
		fprintf(stderr, "  %-10s %3u inputs, %u classes, %s: %s\n", ds->name,
			ds->n_inputs, ds->n_classes, ds->arch, ds->desc);
	exit(2);
}

static unsigned parse_uint(const char *v)
{
	char *e;
	unsigned long u = strtoul(v, &e, 10);

	if (e == v || *e || *v == '-' || u > 0xffffffffu)
		usage();
	return (unsigned)u;
}

static double parse_double(const char *v)
{
	char *e;
	double d = strtod(v, &e);

	if (e == v || *e || !isfinite(d))
		usage();
	return d;
}

static void parse(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->ds = bnn_dataset_find("moons");
	o->train = 300;
	o->test = 500;
	o->grid = 60;
	o->noise = -1;
	o->seed = 1;
	o->train_seed = 11;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--list")) {
			o->list = 1;
			continue;
		}
		if (!v)
			usage();
		if (!strcmp(a, "--out"))
			o->out = v;
		else if (!strcmp(a, "--dir"))
			o->dir = v;
		else if (!strcmp(a, "--model"))
			o->model = v;
		else if (!strcmp(a, "--dataset")) {
			o->ds = bnn_dataset_find(v);
			if (!o->ds)
				unknown_dataset(v);
			o->ds_set = 1;
		} else if (!strcmp(a, "--train"))
			o->train = parse_uint(v);
		else if (!strcmp(a, "--test"))
			o->test = parse_uint(v);
		else if (!strcmp(a, "--grid"))
			o->grid = parse_uint(v);
		else if (!strcmp(a, "--noise")) {
			o->noise = parse_double(v);
			if (o->noise < 0)
				usage();
		}
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--train-seed"))
			o->train_seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--steps"))
			o->cfg.steps = parse_uint(v);
		else if (!strcmp(a, "--lr"))
			o->cfg.lr = parse_double(v);
		else if (!strcmp(a, "--kind")) {
			if (!strcmp(v, "samples"))
				o->samples = 1;
			else if (strcmp(v, "gauss"))
				usage();
		} else if (!strcmp(a, "--samples")) {
			o->cfg.n_samples = parse_uint(v);
			if (!o->cfg.n_samples || o->cfg.n_samples > BNNACC_MODEL_MAX_SAMPLES)
				usage();
		} else if (!strcmp(a, "--burn"))
			o->cfg.burn = parse_uint(v);
		else if (!strcmp(a, "--thin"))
			o->cfg.thin = parse_uint(v);
		else if (!strcmp(a, "--leapfrog"))
			o->cfg.leapfrog = parse_uint(v);
		else if (!strcmp(a, "--accept")) {
			o->cfg.accept = parse_double(v);
			if (o->cfg.accept <= 0 || o->cfg.accept >= 1)
				usage();
		}
		else if (!strcmp(a, "--sigma")) {
			if (!strcmp(v, "shared"))
				o->cfg.shared_sigma = 1;
			else if (strcmp(v, "per-weight"))
				usage();
		} else if (!strcmp(a, "--prior"))
			o->cfg.prior_sigma = parse_double(v);
		else if (!strcmp(a, "--arch")) {
			if (bnn_parse_arch(v, &o->cfg))
				usage();
			o->arch_set = 1;
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
	if (o->noise < 0)
		o->noise = o->ds->noise;
	if (!o->arch_set && bnn_parse_arch(o->ds->arch, &o->cfg))
		usage();
	if (o->cfg.dims[0] != o->ds->n_inputs ||
	    o->cfg.dims[o->cfg.n_layers] != o->ds->n_classes) {
		fprintf(stderr, "bnn-demo: --arch must have %u inputs and %u classes for %s\n",
			o->ds->n_inputs, o->ds->n_classes, o->ds->name);
		exit(2);
	}
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + 1e-9 * t.tv_nsec;
}

/*
 * What the model is for, stored in its metadata: the data set (the report
 * refuses to score it against another) and how it was trained.
 */
static int label_model(struct bnnacc_model *m, const struct opts *o)
{
	char v[64];
	int ret = bnn_dataset_label(o->ds, m);

	if (!ret)
		ret = bnnacc_model_set_meta(m, "dataset", o->ds->name);
	snprintf(v, sizeof(v), "%s", o->samples ? "hmc" : o->cfg.shared_sigma ?
		 "bbb-shared-sigma" : "bbb-per-weight-sigma");
	if (!ret)
		ret = bnnacc_model_set_meta(m, "trainer", v);
	snprintf(v, sizeof(v), "%.6g", o->noise);
	if (!ret)
		ret = bnnacc_model_set_meta(m, "data_noise", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)o->seed);
	if (!ret)
		ret = bnnacc_model_set_meta(m, "data_seed", v);
	return ret;
}

static int cmd_train(const struct opts *o)
{
	unsigned nin = o->ds->n_inputs;
	float *x = malloc((size_t)o->train * nin * sizeof(float));
	int *y = malloc(o->train * sizeof(int));
	struct bnn_cfg c = o->cfg;
	struct bnnacc_model *m;
	struct bnn_stats st;
	double t0 = now_s();
	unsigned kept;
	int ret;

	if (!x || !y || !o->out) {
		free(x);
		free(y);
		return 2;
	}
	o->ds->gen(x, y, o->train, o->noise, o->seed);
	c.seed = o->train_seed;
	if (o->samples) {
		c.verbose = 200;
		ret = bnn_sample(&c, x, y, o->train, &m, &st);
	} else {
		c.verbose = c.steps ? c.steps / 4 : 1000;
		ret = bnn_train(&c, x, y, o->train, &m, &st);
	}
	free(x);
	free(y);
	if (ret) {
		fprintf(stderr, "bnn-demo: training failed: %s\n", strerror(-ret));
		return 1;
	}
	kept = m->n_samples;
	ret = label_model(m, o);
	if (!ret)
		ret = bnnacc_model_save(m, o->out);
	bnnacc_model_free(m);
	if (ret) {
		fprintf(stderr, "bnn-demo: %s: %s\n", o->out, strerror(-ret));
		return 1;
	}
	if (o->samples)
		printf("train: %s, %u points, %u weights, HMC: %u samples, acceptance %.3f, "
		       "step %.4g, %u divergent, %lu gradients, train accuracy %.3f "
		       "(posterior predictive), mean sample std %.3f, %.2f s -> %s\n",
		       o->ds->name, o->train, st.n_weights, kept, st.accept, st.step,
		       st.divergent, st.n_grad, st.accuracy, st.mean_sigma, now_s() - t0,
		       o->out);
	else
		printf("train: %s, %u points, %u weights, train accuracy %.3f, mean sigma %.3f, "
		       "final nll %.3f, KL %.1f, %.2f s -> %s\n", o->ds->name, o->train,
		       st.n_weights, st.accuracy, st.mean_sigma, st.nll, st.kl,
		       now_s() - t0, o->out);
	return 0;
}

/*
 * 2-D data sets: the grid over the data set's plot box (row-major, y outer)
 * then the test points; others: the test points alone (o->grid unused).
 * @px gets [n][n_inputs], @py the labels (-1 on the grid).
 */
static unsigned make_points(const struct opts *o, float **px, int **py)
{
	const struct bnn_dataset *ds = o->ds;
	const double *b = ds->box;
	unsigned d = ds->n_inputs, g = d == 2 ? o->grid : 0, n = g * g + o->test, i, j;
	float *x = malloc((size_t)n * d * sizeof(float));
	int *y = malloc((size_t)n * sizeof(int));

	if (!x || !y)
		exit(1);
	for (j = 0; j < g; j++)
		for (i = 0; i < g; i++) {
			x[2 * (j * g + i)] = (float)(b[0] + (b[1] - b[0]) * i / (g - 1));
			x[2 * (j * g + i) + 1] = (float)(b[2] + (b[3] - b[2]) * j / (g - 1));
			y[j * g + i] = -1;
		}
	ds->gen(x + (size_t)d * g * g, y + g * g, o->test, o->noise, o->seed + 1000);
	*px = x;
	*py = y;
	return n;
}

static int cmd_points(const struct opts *o)
{
	float *x;
	int *y;
	unsigned n = make_points(o, &x, &y), d = o->ds->n_inputs, i, k;
	FILE *f = o->out ? fopen(o->out, "w") : NULL;

	if (!f) {
		free(x);
		free(y);
		return 2;
	}
	fprintf(f, "%u %u\n", n, d);
	for (i = 0; i < n; i++)
		for (k = 0; k < d; k++)
			fprintf(f, "%.6f%c", x[(size_t)i * d + k], k + 1 < d ? ' ' : '\n');
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

/*
 * Card vs software: accuracies on the test set (points @gg..), the same
 * class, the entropy and epistemic maps over the evaluation set (the grid
 * [0, gg) of a 2-D data set, else the test set).
 */
static void compare(const struct bnnacc_result *sw, const struct bnnacc_result *hw,
		    unsigned gg, const int *y, struct metrics *mt)
{
	unsigned nt = hw->n - gg, c = hw->c, e0 = 0, ne = gg ? gg : nt, i;
	double s = 0;

	if (!gg)
		e0 = 0;
	mt->m = hw->m;
	mt->sw_acc = bnn_accuracy(sw->mean + (size_t)gg * c, nt, c, y + gg);
	mt->card_acc = bnn_accuracy(hw->mean + (size_t)gg * c, nt, c, y + gg);
	mt->agree = bnn_agreement(sw->mean + (size_t)e0 * c, hw->mean + (size_t)e0 * c, ne, c);
	mt->ent_r = bnn_pearson(sw->u_p + e0, hw->u_p + e0, ne);
	mt->epi_r = bnn_pearson(sw->u_e + e0, hw->u_e + e0, ne);
	for (i = 0; i < ne * c; i++)
		s += fabs(sw->mean[(size_t)e0 * c + i] - hw->mean[(size_t)e0 * c + i]);
	mt->mean_dp = s / (ne * c);
}

/* The goals (docs/demo.md): 1 when @m meets them all */
static int goals_met(const struct metrics *m)
{
	return fabs(m->card_acc - m->sw_acc) <= 0.005 + 1e-9 && m->ent_r >= 0.95 &&
	       m->epi_r >= 0.90 && m->agree >= 0.98;
}

static unsigned argmax_of(const double *p, unsigned c)
{
	unsigned j, b = 0;

	for (j = 1; j < c; j++)
		if (p[j] > p[b])
			b = j;
	return b;
}

/* The grid of a 2-D data set: predicted class, its probability, entropies */
static void grid_file(const struct opts *o, const char *name, const float *x,
		      const struct bnnacc_result *r)
{
	FILE *f = dopen(o, name, "w");
	unsigned g = o->grid, i, j;

	fprintf(f, "# x y class p_class U_p U_a U_e (nats)\n");
	for (j = 0; j < g; j++) {
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i, c = argmax_of(r->mean + (size_t)k * r->c, r->c);

			fprintf(f, "%.4f %.4f %u %.5f %.5f %.5f %.5f\n", x[2 * k], x[2 * k + 1], c,
				r->mean[k * r->c + c], r->u_p[k], r->u_a[k], r->u_e[k]);
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

	fprintf(f, "# x y of the decision boundaries (the predicted class changes)\n");
	for (j = 0; j < g; j++)
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i, a = argmax_of(r->mean + (size_t)k * r->c, r->c);

			if (i + 1 < g && a != argmax_of(r->mean + (size_t)(k + 1) * r->c, r->c))
				fprintf(f, "%.4f %.4f\n", 0.5 * (x[2 * k] + x[2 * k + 2]), x[2 * k + 1]);
			if (j + 1 < g && a != argmax_of(r->mean + (size_t)(k + g) * r->c, r->c))
				fprintf(f, "%.4f %.4f\n", x[2 * k], 0.5 * (x[2 * k + 1] + x[2 * (k + g) + 1]));
		}
	fclose(f);
}

static void diff_file(const struct opts *o, const float *x,
		      const struct bnnacc_result *sw, const struct bnnacc_result *hw)
{
	FILE *f = dopen(o, "diff.dat", "w");
	unsigned g = o->grid, i, j, c;

	fprintf(f, "# x y dp (card - software, of the class software predicts) dU_p dU_e\n");
	for (j = 0; j < g; j++) {
		for (i = 0; i < g; i++) {
			unsigned k = j * g + i;

			c = argmax_of(sw->mean + (size_t)k * sw->c, sw->c);
			fprintf(f, "%.4f %.4f %.5f %.5f %.5f\n", x[2 * k], x[2 * k + 1],
				hw->mean[k * hw->c + c] - sw->mean[k * sw->c + c],
				hw->u_p[k] - sw->u_p[k], hw->u_e[k] - sw->u_e[k]);
		}
		fputc('\n', f);
	}
	fclose(f);
}

/* What figures.gp needs to know of the data set */
static void plot_file(const struct opts *o)
{
	FILE *f = dopen(o, "plot.gp", "w");
	const double *b = o->ds->box;

	fprintf(f, "dataset = \"%s\"\nclasses = %u\ngrid2d = %d\n", o->ds->name,
		o->ds->n_classes, o->ds->n_inputs == 2);
	if (o->ds->n_inputs == 2)
		fprintf(f, "x0 = %g\nx1 = %g\ny0 = %g\ny1 = %g\n", b[0], b[1], b[2], b[3]);
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

/* One pass of passes.txt */
struct pass {
	char file[64];
	unsigned age;
	double measured, gain, spread, excess;
	int refreshed;
	struct metrics vs_ref, vs_m;
};

#define MAX_PASSES (MAX_AGES + 1)

static unsigned read_passes(const struct opts *o, struct pass *ps)
{
	FILE *f = dopen(o, "passes.txt", "r");
	char line[256];
	unsigned n = 0;

	if (!f)
		return 0;
	while (n < MAX_PASSES && fgets(line, sizeof(line), f)) {
		struct pass *p = &ps[n];

		if (line[0] == '#')
			continue;
		memset(p, 0, sizeof(*p));
		if (sscanf(line, "%63s %u %lf %lf %lf %lf %d", p->file, &p->age, &p->measured,
			   &p->gain, &p->spread, &p->excess, &p->refreshed) == 7)
			n++;
	}
	fclose(f);
	return n;
}

/* The model's data set must be ours; a model without one needs --dataset */
static int check_dataset(const struct opts *o, const struct bnnacc_model *m)
{
	char ds[64];

	if (bnnacc_model_get_meta(m, "dataset", ds, sizeof(ds)) < 0) {
		if (!o->ds_set) {
			fprintf(stderr, "bnn-demo: %s says nothing of the data set it was trained "
				"for: give it with --dataset NAME\n", o->model);
			return -1;
		}
	} else if (strcmp(ds, o->ds->name)) {
		fprintf(stderr, "bnn-demo: %s was trained for the data set '%s', not '%s': "
			"refusing to score it against the wrong labels\n", o->model, ds,
			o->ds->name);
		return -1;
	}
	if (m->n_inputs != o->ds->n_inputs || m->n_classes != o->ds->n_classes) {
		fprintf(stderr, "bnn-demo: %s has %u inputs and %u classes; %s has %u and %u\n",
			o->model, m->n_inputs, m->n_classes, o->ds->name, o->ds->n_inputs,
			o->ds->n_classes);
		return -1;
	}
	return 0;
}

static void table_row(FILE *t, const char *name, const struct metrics *m, int goal)
{
	fprintf(t, "%-30s %7.4f %7.4f %7.4f %8.4f %8.4f %8.4f%s\n", name, m->sw_acc,
		m->card_acc, m->agree, m->ent_r, m->epi_r, m->mean_dp,
		goal < 0 ? "" : goal ? "  met" : "  MISSED");
}

static int cmd_report(const struct opts *o)
{
	struct bnnacc_model *model = NULL, *ach = NULL;
	struct bnnacc_result card, sw, swk, hwk, ref, sach;
	struct metrics byk[8], vref, vach;
	struct pass ps[MAX_PASSES];
	unsigned ks[8], nk = 0, gg, a, i, mmax, np, d = o->ds->n_inputs;
	char err[256] = "", name[256], p[4096], kind[64] = "";
	double gk;
	double gamma[BNNACC_MODEL_MAX_LAYERS] = { 0 }, t0 = now_s();
	float *x;
	int *y, ret, all_met = 1;
	FILE *f, *t;

	if (!o->dir || !o->model)
		usage();
	ret = bnnacc_model_load(&model, o->model, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bnn-demo: %s\n", err);
		return 1;
	}
	if (check_dataset(o, model))
		return 2;
	bnnacc_model_get_meta(model, "trainer", kind, sizeof(kind));
	if (!kind[0])
		snprintf(kind, sizeof(kind), "%s", model->kind == BNNACC_MODEL_SAMPLES ?
			 "samples" : "gauss");
	make_points(o, &x, &y);
	gg = d == 2 ? o->grid * o->grid : 0;
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
			if (sscanf(name, "layer %u gamma %lf", &i, &gk) == 2 &&
			    i < BNNACC_MODEL_MAX_LAYERS)
				gamma[i] = gk;
		fclose(f);
	}
	np = read_passes(o, ps);
	if (!np) {
		fprintf(stderr, "bnn-demo: %s/passes.txt missing or empty\n", o->dir);
		return 1;
	}

	/* software: the same number of samples, and converged */
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
	if (ach && !bnnacc_infer_soft(ach, ach->kind == BNNACC_MODEL_SAMPLES ? ach->n_samples :
				      mmax, SOFT_SEED + 2, x, card.n, &sach)) {
		compare(&sach, &card, gg, y, &vach);
		bnnacc_result_free(&sach);
	}
	for (a = 0; a < np; a++) {
		struct bnnacc_result r;

		if (load_result(o, ps[a].file, &r) || r.n != card.n) {
			fprintf(stderr, "bnn-demo: %s/%s missing or not of this size\n", o->dir,
				ps[a].file);
			return 1;
		}
		compare(&ref, &r, gg, y, &ps[a].vs_ref);
		compare(&sw, &r, gg, y, &ps[a].vs_m);
		all_met &= goals_met(&ps[a].vs_ref);
		bnnacc_result_free(&r);
	}

	/* figures' data */
	if (d == 2) {
		grid_file(o, "grid_sw.dat", x, &ref);
		grid_file(o, "grid_card.dat", x, &card);
		boundary_file(o, "boundary_sw.dat", x, &ref);
		boundary_file(o, "boundary_card.dat", x, &card);
		diff_file(o, x, &ref, &card);
		{
			float *tx = malloc((size_t)o->train * 2 * sizeof(float));
			int *ty = malloc(o->train * sizeof(int));

			if (!tx || !ty)
				return 1;
			o->ds->gen(tx, ty, o->train, o->noise, o->seed);
			f = dopen(o, "train.dat", "w");
			fprintf(f, "# x y label (training set)\n");
			for (i = 0; i < o->train; i++)
				fprintf(f, "%.4f %.4f %d\n", tx[2 * i], tx[2 * i + 1], ty[i]);
			fclose(f);
			free(tx);
			free(ty);
		}
	}
	weights_files(o);
	plot_file(o);
	f = dopen(o, "vs_m.dat", "w");
	fprintf(f, "# M software_acc card_acc grid_agreement entropy_pearson epistemic_pearson mean_abs_dp\n");
	for (i = 0; i < nk; i++)
		fprintf(f, "%u %.4f %.4f %.4f %.4f %.4f %.4f\n", byk[i].m, byk[i].sw_acc,
			byk[i].card_acc, byk[i].agree, byk[i].ent_r, byk[i].epi_r, byk[i].mean_dp);
	fclose(f);
	f = dopen(o, "vs_age.dat", "w");
	fprintf(f, "# measured_age_s card_acc agreement entropy_pearson epistemic_pearson "
		"mean_abs_dp gain excess refreshed (card vs the converged software posterior)\n");
	for (a = 0; a < np; a++)
		fprintf(f, "%.3f %.4f %.4f %.4f %.4f %.4f %.5f %.5f %d\n",
			ps[a].measured > 1 ? ps[a].measured : 1.0, ps[a].vs_ref.card_acc,
			ps[a].vs_ref.agree, ps[a].vs_ref.ent_r, ps[a].vs_ref.epi_r,
			ps[a].vs_ref.mean_dp, ps[a].gain, ps[a].excess, ps[a].refreshed);
	fclose(f);

	/* metrics.json: the old keys (all M vs the same M of software) and more */
	f = dopen(o, "metrics.json", "w");
	fprintf(f, "{\n");
	json_metrics(f, "  ", &byk[nk - 1]);
	fprintf(f, ",\n  \"dataset\": \"%s\", \"kind\": \"%s\", \"goals_met\": %s,\n",
		o->ds->name, kind, all_met ? "true" : "false");
	fprintf(f, "  \"grid\": %u, \"test_points\": %u, \"train_points\": %u, "
		"\"noise\": %.3f, \"gamma_uS_per_unit\": [", d == 2 ? o->grid : 0,
		o->test, o->train, o->noise);
	for (i = 0; i < model->n_layers; i++)
		fprintf(f, "%s%.4f", i ? ", " : "", gamma[i]);
	fprintf(f, "],\n");
	fprintf(f, "  \"evaluation_set\": \"%s\",\n", d == 2 ? "grid" : "test points");
	fprintf(f, "  \"software_reference\": \"%u posterior samples (seed %d), the card's first M networks\",\n",
		mmax, SOFT_SEED);
	fprintf(f, "  \"vs_samples\": [\n");
	for (i = 0; i < nk; i++) {
		fprintf(f, "    {");
		json_metrics(f, "", &byk[i]);
		fprintf(f, "}%s\n", i + 1 < nk ? "," : "");
	}
	fprintf(f, "  ],\n  \"vs_age\": [\n");
	for (a = 1; a < np; a++) {
		fprintf(f, "    {\"age_s\": %u, ", ps[a].age);
		json_metrics(f, "", &ps[a].vs_m);
		fprintf(f, "}%s\n", a + 1 < np ? "," : "");
	}
	fprintf(f, "  ],\n  \"per_age\": [\n");
	for (a = 0; a < np; a++) {
		fprintf(f, "    {\"age_s\": %u, \"measured_age_s\": %.3f, \"gain\": %.6f, "
			"\"spread\": %.6f, \"excess\": %.6f, \"refreshed\": %s, \"goals_met\": %s,\n"
			"     \"vs_converged_software\": {", ps[a].age, ps[a].measured, ps[a].gain,
			ps[a].spread, ps[a].excess, ps[a].refreshed ? "true" : "false",
			goals_met(&ps[a].vs_ref) ? "true" : "false");
		json_metrics(f, "", &ps[a].vs_ref);
		fprintf(f, "},\n     \"vs_software_same_m\": {");
		json_metrics(f, "", &ps[a].vs_m);
		fprintf(f, "}}%s\n", a + 1 < np ? "," : "");
	}
	fprintf(f, "  ],\n  \"vs_converged_software\": {\"reference_samples\": %u, ", REF_M);
	json_metrics(f, "", &vref);
	fprintf(f, "},\n  \"vs_achieved_model\": {");
	json_metrics(f, "", &vach);
	fprintf(f, "}\n}\n");
	fclose(f);

	/* goals.tsv: one line per pass, for the goals table of every run */
	f = dopen(o, "goals.tsv", "w");
	fprintf(f, "dataset\tkind\tm\tage_s\tmeasured_age_s\tsw_acc\tcard_acc\tagree\t"
		"entropy_r\tepistemic_r\tgain\texcess\trefreshed\tmet\n");
	for (a = 0; a < np; a++)
		fprintf(f, "%s\t%s\t%u\t%u\t%.1f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d\n",
			o->ds->name, kind, mmax, ps[a].age, ps[a].measured, ps[a].vs_ref.sw_acc,
			ps[a].vs_ref.card_acc, ps[a].vs_ref.agree, ps[a].vs_ref.ent_r,
			ps[a].vs_ref.epi_r, ps[a].gain, ps[a].excess, ps[a].refreshed,
			goals_met(&ps[a].vs_ref));
	fclose(f);

	/* table */
	t = dopen(o, "table.txt", "w");
	fprintf(t, "%s (%u inputs, %u classes), model %s, M = %u; %s\n\n", o->ds->name, d,
		o->ds->n_classes, kind, mmax, d == 2 ? "grid and test points" : "test points");
	fprintf(t, "%-30s %7s %7s %7s %8s %8s %8s\n", "", "sw_acc", "card_acc", "agree",
		"H_pear", "Ue_pear", "|dp|");
	fprintf(t, "card (first M networks) vs M software samples:\n");
	for (i = 0; i < nk; i++) {
		snprintf(name, sizeof(name), "M = %u%s", byk[i].m, i + 1 == nk ? " (all)" : "");
		table_row(t, name, &byk[i], -1);
	}
	fprintf(t, "card (all M) vs the converged software posterior (%u samples), by age:\n",
		REF_M);
	for (a = 0; a < np; a++) {
		snprintf(name, sizeof(name), "%s%.0f s%s", a ? "age " : "first pass, ",
			 ps[a].measured, ps[a].refreshed ? " (refreshed)" : "");
		table_row(t, name, &ps[a].vs_ref, goals_met(&ps[a].vs_ref));
	}
	if (ach)
		table_row(t, "vs achieved model (sw)", &vach, -1);
	fprintf(t, "\nsw/card_acc: test accuracy; agree: same class (%s); H_pear, Ue_pear:\n"
		"Pearson r of the predictive-entropy and epistemic maps; |dp|: mean |p_card - p_sw|.\n"
		"Goals (vs the converged posterior): |card_acc - sw_acc| <= 0.005, agree >= 0.98,\n"
		"H_pear >= 0.95, Ue_pear >= 0.90. Drift checks before each later pass:",
		d == 2 ? "grid" : "test points");
	for (a = 1; a < np; a++)
		fprintf(t, " %us gain %.4f excess %.3f%s;", ps[a].age, ps[a].gain, ps[a].excess,
			ps[a].refreshed ? " refreshed" : "");
	fprintf(t, "\ngamma per layer (uS per weight unit):");
	for (i = 0; i < model->n_layers; i++)
		fprintf(t, " %.3f", gamma[i]);
	fprintf(t, ". Report in %.1f s.\n", now_s() - t0);
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

/*
 * dataset --model FILE: the data set the model was trained for (its
 * metadata), or an error; dataset --list: the data sets' names.
 */
static int cmd_dataset(const struct opts *o)
{
	struct bnnacc_model *m;
	const struct bnn_dataset *ds;
	char err[256], v[64];
	unsigned i;

	if (o->list) {
		for (i = 0; (ds = bnn_dataset_get(i)); i++)
			printf("%s\n", ds->name);
		return 0;
	}
	if (!o->model)
		usage();
	if (bnnacc_model_load(&m, o->model, err, sizeof(err))) {
		fprintf(stderr, "bnn-demo: %s\n", err);
		return 1;
	}
	if (bnnacc_model_get_meta(m, "dataset", v, sizeof(v)) < 0 || !bnn_dataset_find(v)) {
		fprintf(stderr, "bnn-demo: %s does not say which data set it was trained for: "
			"give it with --dataset NAME\n", o->model);
		bnnacc_model_free(m);
		return 1;
	}
	printf("%s\n", v);
	bnnacc_model_free(m);
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
	if (!strcmp(argv[1], "dataset"))
		return cmd_dataset(&o);
	usage();
	return 2;
}
