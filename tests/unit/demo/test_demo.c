/* SPDX-License-Identifier: MIT */
/*
 * test_demo - Check unit tests of the demo's ex-situ side (demo/bnn.c,
 * data.c, mcmc.c): the data generators are seeded, a linearly separable
 * problem is learned, the posterior std shrinks with more data (per-weight
 * and shared families), the model written is a valid libbnnacc model, the
 * fidelity metrics; every data set of the registry is seeded, balanced, of
 * its shapes and learned to a stated held-out accuracy (both variational
 * families); the network's gradient; the HMC sampler writes a valid
 * SAMPLES model that predicts well, at a sane acceptance, reproducibly,
 * matches an exactly integrated posterior and narrows with more data.
 */
#include "bnn.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct bnnacc_model *train(const struct bnn_cfg *c, const float *x,
				  const int *y, unsigned n, struct bnn_stats *st)
{
	struct bnnacc_model *m = NULL;
	int ret = bnn_train(c, x, y, n, &m, st);

	ck_assert_int_eq(ret, 0);
	ck_assert_ptr_nonnull(m);
	return m;
}

START_TEST(test_moons_seeded)
{
	float a[200], b[200];
	int ya[100], yb[100];
	unsigned i, c1 = 0;

	bnn_moons(a, ya, 100, 0.1, 5);
	bnn_moons(b, yb, 100, 0.1, 5);
	ck_assert(!memcmp(a, b, sizeof(a)));
	bnn_moons(b, yb, 100, 0.1, 6);
	ck_assert(memcmp(a, b, sizeof(a)));
	for (i = 0; i < 100; i++) {
		c1 += ya[i];
		ck_assert(a[2 * i] > -1.6 && a[2 * i] < 2.6);
		ck_assert(a[2 * i + 1] > -1.1 && a[2 * i + 1] < 1.6);
	}
	ck_assert_uint_eq(c1, 50);
}
END_TEST

START_TEST(test_linear_learned)
{
	enum { N = 400, T = 1000 };
	static float x[2 * N], xt[2 * T];
	static int y[N], yt[T];
	struct bnn_cfg c;
	struct bnn_stats st;
	struct bnnacc_model *m;
	struct bnnacc_result r;

	memset(&c, 0, sizeof(c));
	c.n_layers = 2;
	c.dims[0] = 2;
	c.dims[1] = 8;
	c.dims[2] = 2;
	c.steps = 1500;
	c.seed = 3;
	bnn_linear(x, y, N, 0.5, 0.2, 1);
	bnn_linear(xt, yt, T, 0.5, 0.2, 2);
	m = train(&c, x, y, N, &st);
	ck_assert_msg(st.accuracy >= 0.97, "train accuracy %.3f", st.accuracy);
	ck_assert_uint_eq(st.n_weights, 8 * 3 + 2 * 9);
	/* the posterior predictive on fresh points of the same problem */
	ck_assert_int_eq(bnnacc_infer_soft(m, 50, 9, xt, T, &r), 0);
	ck_assert_msg(bnn_accuracy(r.mean, T, 2, yt) >= 0.96, "test accuracy %.3f",
		      bnn_accuracy(r.mean, T, 2, yt));
	bnnacc_result_free(&r);
	bnnacc_model_free(m);
}
END_TEST

static double sigma_after(unsigned n, int shared)
{
	float *x = malloc(2 * n * sizeof(float));
	int *y = malloc(n * sizeof(int));
	struct bnn_cfg c;
	struct bnn_stats st;
	struct bnnacc_model *m;

	ck_assert(x && y);
	memset(&c, 0, sizeof(c));
	c.n_layers = 2;
	c.dims[0] = 2;
	c.dims[1] = 16;
	c.dims[2] = 2;
	c.steps = 2000;
	c.seed = 4;
	c.shared_sigma = shared;
	bnn_moons(x, y, n, 0.15, 8);
	m = train(&c, x, y, n, &st);
	bnnacc_model_free(m);
	free(x);
	free(y);
	return st.mean_sigma;
}

START_TEST(test_sigma_shrinks)
{
	double s_small = sigma_after(20, 0), s_big = sigma_after(2000, 0);

	ck_assert_msg(s_big < 0.7 * s_small, "per-weight: sigma %.3f (n=20) -> %.3f (n=2000)",
		      s_small, s_big);
	s_small = sigma_after(20, 1);
	s_big = sigma_after(2000, 1);
	ck_assert_msg(s_big < 0.7 * s_small, "shared: sigma %.3f (n=20) -> %.3f (n=2000)",
		      s_small, s_big);
}
END_TEST

START_TEST(test_model_valid)
{
	enum { N = 100 };
	float x[2 * N];
	int y[N];
	struct bnn_cfg c;
	struct bnnacc_model *m, *back;
	char err[256];
	size_t sz;
	void *buf;
	unsigned l, k;

	memset(&c, 0, sizeof(c));
	c.steps = 50;
	c.shared_sigma = 1;
	bnn_moons(x, y, N, 0.1, 1);
	m = train(&c, x, y, N, NULL);
	ck_assert_uint_eq(m->kind, BNNACC_MODEL_GAUSS);
	ck_assert_uint_eq(m->n_layers, 3);	/* default 2-16-16-2 */
	ck_assert_uint_eq(m->layer[0].act, BNNACC_ACT_TANH);
	ck_assert_uint_eq(m->layer[2].act, BNNACC_ACT_SOFTMAX);
	for (l = 0; l < m->n_layers; l++)
		for (k = 0; k < m->layer[l].n_out * (m->layer[l].n_in + 1); k++)
			ck_assert(m->layer[l].std[k] == m->layer[0].std[0]);
	ck_assert(m->in_scale[0] > 0 && m->in_scale[1] > 0);
	sz = bnnacc_model_size(m);
	ck_assert(sz > 0);
	buf = malloc(sz);
	ck_assert_int_eq(bnnacc_model_save_mem(m, buf, sz), (long)sz);
	ck_assert_int_eq(bnnacc_model_load_mem(&back, buf, sz, err, sizeof(err)), 0);
	ck_assert(!memcmp(back->layer[1].mean, m->layer[1].mean, 16 * 17 * sizeof(float)));
	bnnacc_model_free(back);
	bnnacc_model_free(m);
	free(buf);
	ck_assert_int_eq(bnn_train(&c, x, y, 0, &m, NULL), -EINVAL);
	y[0] = 5;
	ck_assert_int_eq(bnn_train(&c, x, y, N, &m, NULL), -EINVAL);
}
END_TEST

START_TEST(test_metrics)
{
	double a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 2, 4, 6, 8, 10, 12 };
	double c[6] = { 6, 5, 4, 3, 2, 1 }, k[6] = { 1, 1, 1, 1, 1, 1 };
	double pa[6] = { 0.9, 0.1, 0.2, 0.8, 0.6, 0.4 }, pb[6] = { 0.7, 0.3, 0.6, 0.4, 0.9, 0.1 };
	int y[3] = { 0, 1, 1 };
	struct bnnacc_result r, h;
	unsigned i;

	ck_assert(fabs(bnn_pearson(a, b, 6) - 1) < 1e-12);
	ck_assert(fabs(bnn_pearson(a, c, 6) + 1) < 1e-12);
	ck_assert(bnn_pearson(a, k, 6) == 0);
	ck_assert(fabs(bnn_agreement(pa, pb, 3, 2) - 2.0 / 3) < 1e-12);
	ck_assert(fabs(bnn_accuracy(pa, 3, 2, y) - 2.0 / 3) < 1e-12);

	/* 2 inputs, 3 samples, 2 classes; the head of 1 sample has no epistemic part */
	memset(&r, 0, sizeof(r));
	r.m = 3;
	r.n = 2;
	r.c = 2;
	r.probs = calloc(12, sizeof(double));
	r.mean = calloc(4, sizeof(double));
	r.u_p = calloc(2, sizeof(double));
	r.u_a = calloc(2, sizeof(double));
	r.u_e = calloc(2, sizeof(double));
	for (i = 0; i < 6; i++) {
		r.probs[2 * i] = i % 2 ? 0.2 : 0.9;
		r.probs[2 * i + 1] = 1 - r.probs[2 * i];
	}
	ck_assert_int_eq(bnnacc_uncertainty(&r), 0);
	ck_assert(r.u_e[0] > 0);
	ck_assert_int_eq(bnn_result_head(&r, 1, &h), 0);
	ck_assert_uint_eq(h.m, 1);
	ck_assert(fabs(h.mean[0] - 0.9) < 1e-12);
	ck_assert(fabs(h.u_e[0]) < 1e-12);
	bnnacc_result_free(&h);
	ck_assert_int_eq(bnn_result_head(&r, 4, &h), -EINVAL);
	bnnacc_result_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* data sets                                                               */
/* ---------------------------------------------------------------------- */

START_TEST(test_datasets_seeded)
{
	enum { N = 103 };	/* not a multiple of any class count */
	const struct bnn_dataset *ds;
	unsigned i, k, count[BNN_DATASET_MAX_CLASSES], nds = 0;

	for (i = 0; (ds = bnn_dataset_get(i)); i++) {
		size_t nx = (size_t)N * ds->n_inputs;
		float *a = malloc(nx * sizeof(float)), *b = malloc(nx * sizeof(float));
		int ya[N], yb[N];
		struct bnn_cfg c;
		unsigned inside = 0;

		ck_assert(a && b);
		nds++;
		ck_assert_ptr_eq(bnn_dataset_find(ds->name), ds);
		ck_assert(ds->n_inputs >= 2 && ds->n_classes >= 2 &&
			  ds->n_classes <= BNN_DATASET_MAX_CLASSES);
		for (k = 0; k < ds->n_classes; k++)
			ck_assert(ds->class_name[k] && ds->class_name[k][0] &&
				  strlen(ds->class_name[k]) < BNNACC_NAME_LEN);
		/* the suggested architecture fits the data */
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(bnn_parse_arch(ds->arch, &c), 0);
		ck_assert_uint_eq(c.dims[0], ds->n_inputs);
		ck_assert_uint_eq(c.dims[c.n_layers], ds->n_classes);
		ck_assert(ds->noise > 0);

		/* seeded: same seed same bytes, another seed other bytes */
		ds->gen(a, ya, N, ds->noise, 5);
		ds->gen(b, yb, N, ds->noise, 5);
		ck_assert_msg(!memcmp(a, b, nx * sizeof(float)), "%s: not reproducible", ds->name);
		ck_assert(!memcmp(ya, yb, sizeof(ya)));
		ds->gen(b, yb, N, ds->noise, 6);
		ck_assert_msg(memcmp(a, b, nx * sizeof(float)), "%s: seed ignored", ds->name);

		/* balanced, labels in range, values finite */
		memset(count, 0, sizeof(count));
		for (k = 0; k < N; k++) {
			ck_assert(ya[k] >= 0 && (unsigned)ya[k] < ds->n_classes);
			count[ya[k]]++;
		}
		for (k = 0; k < ds->n_classes; k++)
			ck_assert_msg(count[k] - N / ds->n_classes <= 1,
				      "%s: class %u has %u of %u points", ds->name, k, count[k], N);
		for (k = 0; k < nx; k++)
			ck_assert(isfinite(a[k]));

		/* 2-D sets: a plot box that holds the data */
		if (ds->n_inputs == 2) {
			ck_assert(ds->box[0] < ds->box[1] && ds->box[2] < ds->box[3]);
			for (k = 0; k < N; k++)
				inside += a[2 * k] >= ds->box[0] && a[2 * k] <= ds->box[1] &&
					  a[2 * k + 1] >= ds->box[2] && a[2 * k + 1] <= ds->box[3];
			ck_assert_msg(inside >= N * 97 / 100, "%s: %u of %u points in the box",
				      ds->name, inside, N);
		}
		free(a);
		free(b);
	}
	ck_assert_uint_ge(nds, 5);
	ck_assert_ptr_null(bnn_dataset_find("no such set"));
	ck_assert_ptr_null(bnn_dataset_find(NULL));
}
END_TEST

START_TEST(test_datasets_shapes)
{
	const struct bnn_dataset *mo = bnn_dataset_find("moons"), *ds;
	float a[200], b[200];
	int ya[100], yb[100];
	unsigned i, big = 0, multi = 0, three = 0;

	/* moons is bnn_moons, bit for bit, with the demo's box */
	ck_assert_ptr_nonnull(mo);
	ck_assert_uint_eq(mo->n_inputs, 2);
	ck_assert_uint_eq(mo->n_classes, 2);
	ck_assert(mo->box[0] == -1.5 && mo->box[1] == 2.5 && mo->box[2] == -1.0 &&
		  mo->box[3] == 1.5);
	ck_assert(mo->noise == 0.15);
	mo->gen(a, ya, 100, 0.15, 9);
	bnn_moons(b, yb, 100, 0.15, 9);
	ck_assert(!memcmp(a, b, sizeof(a)) && !memcmp(ya, yb, sizeof(ya)));

	for (i = 0; (ds = bnn_dataset_get(i)); i++) {
		three += ds->n_inputs == 2 && ds->n_classes == 3;
		multi += ds->n_inputs > 2 && ds->n_inputs < 64 && ds->n_classes > 2;
		big += ds->n_inputs > 63;
	}
	ck_assert(three && multi && big);
	ds = bnn_dataset_find("glyphs");
	ck_assert_ptr_nonnull(ds);
	ck_assert_uint_eq(ds->n_inputs, 64);
	ds = bnn_dataset_find("glyphs10");
	ck_assert_ptr_nonnull(ds);
	ck_assert_uint_eq(ds->n_inputs, 100);
}
END_TEST

START_TEST(test_dataset_label)
{
	const struct bnn_dataset *ds = bnn_dataset_find("xorring");
	struct bnn_cfg c;
	struct bnn_net nt;
	struct bnnacc_model *m;
	double mean[5] = { 0 }, scale[5] = { 1, 1, 1, 1, 1 };
	unsigned k;

	ck_assert_ptr_nonnull(ds);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch(ds->arch, &c), 0);
	ck_assert_int_eq(bnn_net_init(&nt, &c), 0);
	ck_assert_int_eq(bnn_model_new(&nt, BNNACC_MODEL_GAUSS, 0, mean, scale, &m), 0);
	ck_assert_int_eq(bnn_dataset_label(ds, m), 0);
	for (k = 0; k < ds->n_classes; k++)
		ck_assert_str_eq(m->class_name[k], ds->class_name[k]);
	ck_assert_int_eq(bnn_dataset_label(bnn_dataset_find("moons"), m), -EINVAL);
	ck_assert_int_eq(bnn_dataset_label(NULL, m), -EINVAL);
	bnnacc_model_free(m);
}
END_TEST

START_TEST(test_parse_arch)
{
	struct bnn_cfg c;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("64-6-4", &c), 0);
	ck_assert_uint_eq(c.n_layers, 2);
	ck_assert(c.dims[0] == 64 && c.dims[1] == 6 && c.dims[2] == 4);
	ck_assert_int_eq(bnn_parse_arch("2-16-16-16-2", &c), 0);
	ck_assert_uint_eq(c.n_layers, 4);
	ck_assert_int_eq(bnn_parse_arch("2-16-16-16-16-2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2-32-", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2--2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2-0-2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2-2000-2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("2-x-2", &c), -EINVAL);
	ck_assert_int_eq(bnn_parse_arch("-2-2", &c), -EINVAL);
	ck_assert_uint_eq(c.n_layers, 4);	/* untouched on failure */
}
END_TEST

/*
 * Held-out accuracy of the posterior predictive (50 samples) of a model
 * trained on @ntrain points of @ds with its suggested architecture.
 */
static double dataset_accuracy(const struct bnn_dataset *ds, unsigned ntrain, int kind,
			       struct bnn_stats *st)
{
	enum { T = 1000 };
	size_t d = ds->n_inputs;
	float *x = malloc(ntrain * d * sizeof(float)), *xt = malloc(T * d * sizeof(float));
	int *y = malloc(ntrain * sizeof(int)), *yt = malloc(T * sizeof(int));
	struct bnnacc_model *m = NULL;
	struct bnnacc_result r;
	struct bnn_cfg c;
	double acc;

	ck_assert(x && xt && y && yt);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch(ds->arch, &c), 0);
	c.seed = 11;
	ds->gen(x, y, ntrain, ds->noise, 1);
	ds->gen(xt, yt, T, ds->noise, 1001);
	if (kind == 2) {
		c.burn = 150;
		c.n_samples = 50;
		c.thin = 1;
		c.leapfrog = 10;
		ck_assert_int_eq(bnn_sample(&c, x, y, ntrain, &m, st), 0);
		ck_assert_uint_eq(m->kind, BNNACC_MODEL_SAMPLES);
	} else {
		c.shared_sigma = kind;
		ck_assert_int_eq(bnn_train(&c, x, y, ntrain, &m, st), 0);
		ck_assert_uint_eq(m->kind, BNNACC_MODEL_GAUSS);
	}
	ck_assert_uint_eq(m->n_inputs, ds->n_inputs);
	ck_assert_uint_eq(m->n_classes, ds->n_classes);
	ck_assert_int_eq(bnnacc_infer_soft(m, 50, 9, xt, T, &r), 0);
	acc = bnn_accuracy(r.mean, T, ds->n_classes, yt);
	bnnacc_result_free(&r);
	bnnacc_model_free(m);
	free(x);
	free(xt);
	free(y);
	free(yt);
	return acc;
}

/*
 * Every data set is learned by Bayes by backprop (both families) to a
 * stated held-out accuracy, and none is trivial (the overlap the noise
 * makes leaves something for the uncertainty to show). Measured here
 * (1000 training points, 1000 test points, 50 samples), per-weight /
 * shared: moons 0.991 / 0.986, spirals 0.913 / 0.908, xorring 0.871 /
 * 0.882, glyphs 0.889 / 0.905, glyphs10 0.881 / 0.893.
 */
static const struct {
	const char *name;
	double min_acc, max_acc;
} learned[] = {
	{ "moons", 0.97, 1.0 },
	{ "spirals", 0.86, 0.97 },
	{ "xorring", 0.83, 0.96 },
	{ "glyphs", 0.84, 0.97 },
	{ "glyphs10", 0.83, 0.97 },
};

START_TEST(test_datasets_learned)
{
	const struct bnn_dataset *ds = bnn_dataset_find(learned[_i].name);
	struct bnn_stats st;
	int kind;

	ck_assert_ptr_nonnull(ds);
	for (kind = 0; kind < 2; kind++) {
		double acc = dataset_accuracy(ds, 1000, kind, &st);

		ck_assert_msg(acc >= learned[_i].min_acc && acc <= learned[_i].max_acc,
			      "%s (%s sigma): held-out accuracy %.3f, want %.2f..%.2f",
			      ds->name, kind ? "shared" : "per-weight", acc,
			      learned[_i].min_acc, learned[_i].max_acc);
		ck_assert(st.mean_sigma > 0);
	}
}
END_TEST

/* ---------------------------------------------------------------------- */
/* the network and the sampler                                             */
/* ---------------------------------------------------------------------- */

/* bnn_net_loss()'s gradient against central differences (two hidden layers). */
START_TEST(test_net_gradient)
{
	enum { N = 7 };
	struct bnn_cfg c;
	struct bnn_net nt;
	struct bnn_rng r;
	double *w, *g, *g2, *work, xn[N * 3];
	int y[N];
	size_t k;
	unsigned j;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("3-5-4-3", &c), 0);
	ck_assert_int_eq(bnn_net_init(&nt, &c), 0);
	ck_assert_uint_eq(nt.np, 5 * 4 + 4 * 6 + 3 * 5);
	w = malloc(nt.np * sizeof(double));
	g = calloc(nt.np, sizeof(double));
	g2 = calloc(nt.np, sizeof(double));
	work = malloc(bnn_net_work(&nt) * sizeof(double));
	ck_assert(w && g && g2 && work);
	bnn_rng_seed(&r, 3);
	for (k = 0; k < nt.np; k++)
		w[k] = bnn_rng_normal(&r);
	for (j = 0; j < N * 3; j++)
		xn[j] = bnn_rng_normal(&r);
	for (j = 0; j < N; j++)
		y[j] = (int)(j % 3);
	bnn_net_loss(&nt, w, xn, y, N, 0.5, g, work);
	/* the gradient accumulates: twice with scale 0.5 */
	bnn_net_loss(&nt, w, xn, y, N, 0.5, g, work);
	for (k = 0; k < nt.np; k++) {
		double h = 1e-5, w0 = w[k], up, dn, num;

		w[k] = w0 + h;
		up = bnn_net_loss(&nt, w, xn, y, N, 1, NULL, work);
		w[k] = w0 - h;
		dn = bnn_net_loss(&nt, w, xn, y, N, 1, NULL, work);
		w[k] = w0;
		num = (up - dn) / (2 * h);
		ck_assert_msg(fabs(num - g[k]) < 1e-6 * (1 + fabs(num)),
			      "weight %zu: analytic %.9g numeric %.9g", k, g[k], num);
	}
	free(w);
	free(g);
	free(g2);
	free(work);
}
END_TEST

static struct bnnacc_model *sample(const struct bnn_cfg *c, const float *x,
				   const int *y, unsigned n, struct bnn_stats *st)
{
	struct bnnacc_model *m = NULL;
	int ret = bnn_sample(c, x, y, n, &m, st);

	ck_assert_int_eq(ret, 0);
	ck_assert_ptr_nonnull(m);
	return m;
}

/* The model's bytes (bnnacc_model_save_mem), malloc'ed. */
static void *model_bytes(const struct bnnacc_model *m, size_t *len)
{
	void *buf;

	*len = bnnacc_model_size(m);
	ck_assert(*len > 0);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(bnnacc_model_save_mem(m, buf, *len), (long)*len);
	return buf;
}

START_TEST(test_hmc_linear)
{
	enum { N = 400, T = 1000 };
	static float x[2 * N], xt[2 * T];
	static int y[N], yt[T];
	struct bnn_cfg c;
	struct bnn_stats st, st2;
	struct bnnacc_model *m, *back, *m2;
	struct bnnacc_result r;
	char err[256];
	size_t len, len2;
	void *buf, *buf2;
	unsigned l;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("2-8-2", &c), 0);
	c.n_samples = 100;
	c.burn = 200;
	c.seed = 3;
	bnn_linear(x, y, N, 0.5, 0.2, 1);
	bnn_linear(xt, yt, T, 0.5, 0.2, 2);
	m = sample(&c, x, y, N, &st);
	ck_assert_uint_eq(m->kind, BNNACC_MODEL_SAMPLES);
	ck_assert_uint_eq(m->n_samples, 100);
	ck_assert_uint_eq(m->n_layers, 2);
	ck_assert_uint_eq(m->layer[0].act, BNNACC_ACT_TANH);
	ck_assert_uint_eq(m->layer[1].act, BNNACC_ACT_SOFTMAX);
	ck_assert_uint_eq(st.n_weights, 8 * 3 + 2 * 9);
	ck_assert(m->in_scale[0] > 0 && m->in_scale[1] > 0);
	ck_assert_msg(st.accept >= 0.55 && st.accept <= 0.99, "acceptance %.3f", st.accept);
	ck_assert_msg(st.divergent <= 5, "%u divergent trajectories", st.divergent);
	ck_assert(st.step > 0 && st.n_grad > 0);
	ck_assert_msg(st.accuracy >= 0.97, "train accuracy %.3f", st.accuracy);

	/* valid: round-trips through the library's format */
	buf = model_bytes(m, &len);
	ck_assert_int_eq(bnnacc_model_load_mem(&back, buf, len, err, sizeof(err)), 0);
	ck_assert_uint_eq(back->kind, BNNACC_MODEL_SAMPLES);
	ck_assert_uint_eq(back->n_samples, 100);
	for (l = 0; l < 2; l++)
		ck_assert(!memcmp(back->layer[l].samples, m->layer[l].samples, 100 *
				  m->layer[l].n_out * (m->layer[l].n_in + 1) * sizeof(float)));
	/* the samples differ: the chain moves */
	ck_assert(memcmp(m->layer[0].samples, m->layer[0].samples + 8 * 3, 8 * 3 * sizeof(float)));
	bnnacc_model_free(back);

	/* the posterior predictive on fresh points */
	ck_assert_int_eq(bnnacc_infer_soft(m, 100, 9, xt, T, &r), 0);
	ck_assert_msg(bnn_accuracy(r.mean, T, 2, yt) >= 0.96, "test accuracy %.3f",
		      bnn_accuracy(r.mean, T, 2, yt));
	bnnacc_result_free(&r);

	/* reproducible from the seed, another seed another chain */
	m2 = sample(&c, x, y, N, &st2);
	buf2 = model_bytes(m2, &len2);
	ck_assert(len == len2 && !memcmp(buf, buf2, len));
	ck_assert(st.accept == st2.accept);
	bnnacc_model_free(m2);
	free(buf2);
	c.seed = 4;
	m2 = sample(&c, x, y, N, NULL);
	buf2 = model_bytes(m2, &len2);
	ck_assert(len == len2 && memcmp(buf, buf2, len));
	bnnacc_model_free(m2);
	free(buf2);
	free(buf);
	bnnacc_model_free(m);
}
END_TEST

/*
 * A 1-2 network (logistic regression in the softmax form) on 1-D data: the
 * posterior of the logit slope a = w[1][0] - w[0][0] and offset
 * b = w[1][1] - w[0][1] is 2-D (the sums only see the prior), integrated
 * on a grid. Eight chains of 1000 samples pooled must match its means
 * within 0.08 std and its stds within 6 %, and the sum w[0][0] + w[1][0]
 * must keep the prior's std sqrt(2) within 6 % (measured over five sets of
 * eight chains: within 0.035 std and 2.5 %; an energy whose prior term is
 * off by 20 %, or a kinetic energy off by 20 %, fails).
 */
START_TEST(test_hmc_exact)
{
	enum { N = 25, G = 401, CHAINS = 8 };
	float x[N];
	int y[N];
	double xn[N], inm, ins, post[4] = { 0 }, z = 0, sa[4] = { 0 }, sum_sd = 0;
	struct bnn_cfg c;
	struct bnn_stats st;
	struct bnn_rng r;
	struct bnnacc_model *m;
	unsigned i, j, k, s, tot = 0;
	const double lim = 8.0, s2 = 1.0;	/* prior std 1: a, b ~ N(0, 2) */

	bnn_rng_seed(&r, 21);
	for (i = 0; i < N; i++) {
		x[i] = (float)(4 * bnn_rng_uniform(&r) - 2);
		y[i] = bnn_rng_uniform(&r) < 1 / (1 + exp(-1.5 * x[i] - 0.5));
	}
	bnn_normalise(x, N, 1, xn, &inm, &ins);
	/* the exact posterior moments of a and b on a grid */
	for (i = 0; i < G; i++)
		for (j = 0; j < G; j++) {
			double a = -lim + 2 * lim * i / (G - 1), b = -lim + 2 * lim * j / (G - 1);
			double lp = -(a * a + b * b) / (2 * 2 * s2), p;

			for (k = 0; k < N; k++) {
				double t = a * xn[k] + b;

				lp -= y[k] ? log1p(exp(-t)) : log1p(exp(t));
			}
			p = exp(lp);
			z += p;
			post[0] += p * a;
			post[1] += p * a * a;
			post[2] += p * b;
			post[3] += p * b * b;
		}
	post[0] /= z;
	post[2] /= z;
	post[1] = sqrt(post[1] / z - post[0] * post[0]);
	post[3] = sqrt(post[3] / z - post[2] * post[2]);

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("1-2", &c), 0);
	c.prior_sigma = sqrt(s2);
	c.n_samples = 1000;
	c.thin = 4;
	c.burn = 300;
	c.leapfrog = 8;
	for (c.seed = 1; c.seed <= CHAINS; c.seed++) {
		m = sample(&c, x, y, N, &st);
		ck_assert_msg(st.accept >= 0.55 && st.accept <= 0.99, "acceptance %.3f",
			      st.accept);
		for (s = 0; s < m->n_samples; s++) {
			const float *w = m->layer[0].samples + (size_t)s * 4;
			double a = w[2] - w[0], b = w[3] - w[1];

			sa[0] += a;
			sa[1] += a * a;
			sa[2] += b;
			sa[3] += b * b;
			sum_sd += (w[0] + w[2]) * (w[0] + w[2]);
		}
		tot += m->n_samples;
		bnnacc_model_free(m);
	}
	for (k = 0; k < 4; k++)
		sa[k] /= tot;
	sa[1] = sqrt(sa[1] - sa[0] * sa[0]);
	sa[3] = sqrt(sa[3] - sa[2] * sa[2]);
	sum_sd = sqrt(sum_sd / tot);
	ck_assert_msg(fabs(sa[0] - post[0]) < 0.08 * post[1] &&
		      fabs(sa[2] - post[2]) < 0.08 * post[3],
		      "means: a %.3f (exact %.3f), b %.3f (exact %.3f)", sa[0], post[0],
		      sa[2], post[2]);
	ck_assert_msg(fabs(sa[1] / post[1] - 1) < 0.06 && fabs(sa[3] / post[3] - 1) < 0.06,
		      "stds: a %.3f (exact %.3f), b %.3f (exact %.3f)", sa[1], post[1],
		      sa[3], post[3]);
	/* a direction no data sees keeps the prior's spread: w00 + w10 ~ N(0, 2) */
	ck_assert_msg(fabs(sum_sd / sqrt(2 * s2) - 1) < 0.06, "prior direction std %.3f",
		      sum_sd);
}
END_TEST

/*
 * Spread of the samples (std of the logit slope of a 2-2 network, and the
 * epistemic uncertainty of a 2-8-2 network on fresh points) with 20 and
 * with 1000 points.
 */
static void hmc_spread(unsigned n, double *slope_sd, double *ue)
{
	enum { T = 500 };
	float *x = malloc(2 * n * sizeof(float)), xt[2 * T];
	int *y = malloc(n * sizeof(int)), yt[T];
	struct bnn_cfg c;
	struct bnnacc_model *m;
	struct bnnacc_result r;
	double a = 0, a2 = 0;
	unsigned s, i;

	ck_assert(x && y);
	bnn_moons(x, y, n, 0.15, 8);
	bnn_moons(xt, yt, T, 0.15, 9);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("2-2", &c), 0);
	c.n_samples = 200;
	c.burn = 200;
	c.leapfrog = 8;
	c.seed = 6;
	m = sample(&c, x, y, n, NULL);
	for (s = 0; s < m->n_samples; s++) {
		const float *w = m->layer[0].samples + (size_t)s * 6;
		double v = w[3] - w[0];

		a += v;
		a2 += v * v;
	}
	a /= m->n_samples;
	*slope_sd = sqrt(a2 / m->n_samples - a * a);
	bnnacc_model_free(m);

	ck_assert_int_eq(bnn_parse_arch("2-8-2", &c), 0);
	c.n_samples = 100;
	c.leapfrog = 12;
	m = sample(&c, x, y, n, NULL);
	ck_assert_int_eq(bnnacc_infer_soft(m, 100, 3, xt, T, &r), 0);
	for (*ue = 0, i = 0; i < T; i++)
		*ue += r.u_e[i] / T;
	bnnacc_result_free(&r);
	bnnacc_model_free(m);
	free(x);
	free(y);
}

START_TEST(test_hmc_spread_shrinks)
{
	double sd_small, sd_big, ue_small, ue_big;

	hmc_spread(20, &sd_small, &ue_small);
	hmc_spread(1000, &sd_big, &ue_big);
	ck_assert_msg(sd_big < 0.35 * sd_small, "slope std %.3f (n=20) -> %.3f (n=1000)",
		      sd_small, sd_big);
	ck_assert_msg(ue_big < 0.35 * ue_small, "epistemic %.4f (n=20) -> %.4f (n=1000) nats",
		      ue_small, ue_big);
}
END_TEST

/* The sampler on the >63-input data set: a valid model that predicts. */
START_TEST(test_hmc_glyphs10)
{
	const struct bnn_dataset *ds = bnn_dataset_find("glyphs10");
	struct bnn_stats st;
	double acc;

	ck_assert_ptr_nonnull(ds);
	acc = dataset_accuracy(ds, 600, 2, &st);
	ck_assert_msg(acc >= 0.8, "glyphs10 HMC: held-out accuracy %.3f", acc);
	ck_assert_msg(st.accept >= 0.5 && st.accept <= 0.995, "acceptance %.3f", st.accept);
}
END_TEST

START_TEST(test_hmc_invalid)
{
	enum { N = 50 };
	float x[2 * N];
	int y[N];
	struct bnn_cfg c;
	struct bnnacc_model *m = NULL;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(bnn_parse_arch("2-4-2", &c), 0);
	c.burn = 50;
	c.n_samples = 10;
	bnn_moons(x, y, N, 0.1, 1);
	ck_assert_int_eq(bnn_sample(&c, x, y, 0, &m, NULL), -EINVAL);
	ck_assert_int_eq(bnn_sample(&c, NULL, y, N, &m, NULL), -EINVAL);
	c.n_samples = BNNACC_MODEL_MAX_SAMPLES + 1;
	ck_assert_int_eq(bnn_sample(&c, x, y, N, &m, NULL), -EINVAL);
	c.n_samples = 10;
	c.accept = 1.5;
	ck_assert_int_eq(bnn_sample(&c, x, y, N, &m, NULL), -EINVAL);
	c.accept = 0;
	y[3] = 2;
	ck_assert_int_eq(bnn_sample(&c, x, y, N, &m, NULL), -EINVAL);
	y[3] = -1;
	ck_assert_int_eq(bnn_sample(&c, x, y, N, &m, NULL), -EINVAL);
	ck_assert_ptr_null(m);
	y[3] = 1;
	ck_assert_int_eq(bnn_sample(&c, x, y, N, &m, NULL), 0);
	ck_assert_uint_eq(m->n_samples, 10);
	bnnacc_model_free(m);
}
END_TEST

static Suite *demo_suite(void)
{
	Suite *s = suite_create("demo");
	TCase *tc = tcase_create("trainer");
	TCase *td = tcase_create("datasets");
	TCase *th = tcase_create("hmc");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_moons_seeded);
	tcase_add_test(tc, test_linear_learned);
	tcase_add_test(tc, test_sigma_shrinks);
	tcase_add_test(tc, test_model_valid);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_parse_arch);
	tcase_add_test(tc, test_net_gradient);
	suite_add_tcase(s, tc);

	tcase_set_timeout(td, 60);
	tcase_add_test(td, test_datasets_seeded);
	tcase_add_test(td, test_datasets_shapes);
	tcase_add_test(td, test_dataset_label);
	tcase_add_loop_test(td, test_datasets_learned, 0,
			    (int)(sizeof(learned) / sizeof(learned[0])));
	suite_add_tcase(s, td);

	tcase_set_timeout(th, 60);
	tcase_add_test(th, test_hmc_linear);
	tcase_add_test(th, test_hmc_exact);
	tcase_add_test(th, test_hmc_spread_shrinks);
	tcase_add_test(th, test_hmc_glyphs10);
	tcase_add_test(th, test_hmc_invalid);
	suite_add_tcase(s, th);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(demo_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
