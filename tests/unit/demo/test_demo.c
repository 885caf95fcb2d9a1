/* SPDX-License-Identifier: MIT */
/*
 * test_demo - Check unit tests of the demo's trainer (demo/bnn.c): the data
 * generators are seeded, a linearly separable problem is learned, the
 * posterior std shrinks with more data (per-weight and shared families),
 * the model written is a valid libbnnacc model, and the fidelity metrics.
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

static Suite *demo_suite(void)
{
	Suite *s = suite_create("demo");
	TCase *tc = tcase_create("trainer");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_moons_seeded);
	tcase_add_test(tc, test_linear_learned);
	tcase_add_test(tc, test_sigma_shrinks);
	tcase_add_test(tc, test_model_valid);
	tcase_add_test(tc, test_metrics);
	suite_add_tcase(s, tc);
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
