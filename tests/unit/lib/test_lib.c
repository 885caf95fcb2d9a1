/* SPDX-License-Identifier: MIT */
/*
 * test_lib - Check unit tests of libbnnacc on the library's own simulated
 * card (bnnacc_sim_*: the emulated card's physics core behind the card
 * seam; bnl_sim_from_params() for custom physics): the uncertainty maths,
 * the model format (versions 1 and 2, metadata, every kind of corrupt
 * file), calibration (programming and read spreads against the physics),
 * pair mapping with cells and repeated reads, gamma fitting, tile
 * allocation, the SAMPLES transfer read back from the array, layers split
 * into tiles with partial sums, several cards, drift checks and refresh,
 * co-resident networks of two models on one card, inference over a range
 * of the networks, and an end-to-end transfer + inference compared with
 * the software reference.
 *
 * Every physical comparison states its tolerance next to the assertion;
 * the numbers are printed so that a run shows how much room there is.
 * BNNACC_TEST_SEED=n runs them on other simulated cards (checked for n up
 * to 11); CAL_VERBOSE=1 prints every calibration level against the physics.
 */
#include "internal.h"
#include "net.h"
#include "bnnacc_core.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000ull
#define DAY 86400.0
#define YEAR (365.25 * DAY)

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * BNNACC_TEST_SEED=n manufactures every simulated card from another seed:
 * the tolerances are meant to hold for any card, not for the ones the
 * default seeds give
 */
static uint64_t seed_of(uint64_t seed)
{
	const char *e = getenv("BNNACC_TEST_SEED");

	return seed + (e ? strtoull(e, NULL, 0) * 1000003ull : 0);
}

static struct bnnacc_sim *mk_sim(const char *preset, uint64_t seed,
				 struct bnnacc_card *card)
{
	struct bnnacc_sim *s;
	char err[256] = "";

	seed = seed_of(seed);
	ck_assert_msg(bnnacc_sim_new(&s, preset, seed, err, sizeof(err)) == 0, "%s", err);
	bnnacc_sim_card(s, card);
	return s;
}

static struct bnnacc_sim *mk_sim_params(const struct bnc_params *p, uint64_t seed,
					struct bnnacc_card *card)
{
	struct bnnacc_sim *s;

	ck_assert_int_eq(bnl_sim_from_params(&s, p, seed_of(seed)), 0);
	bnnacc_sim_card(s, card);
	return s;
}

/* The default physics with every source of randomness switched off */
static void quiet_params(struct bnc_params *p)
{
	bnc_params_default(p);
	p->c2c_slope = 0.0;
	p->c2c_icpt_us = 0.0;
	p->c2c_floor_us = 0.0;
	p->d2d_ratio = 0.0;
	p->reset_lsig = 0.0;
	p->read_noise_rel = 0.0;
	p->drift_nu = 0.0;
	p->drift_sig = 0.0;
	p->stuck_frac = 0.0;
}

static uint64_t sim_now(struct bnnacc_sim *s)
{
	uint64_t t;

	bnl_sim_array(s, &t);
	return t;
}

static void calibrate(struct bnnacc_card *card, struct bnnacc_calib *cal)
{
	char err[256] = "";
	int ret = bnnacc_calibrate(card, NULL, cal, err, sizeof(err));

	ck_assert_msg(ret == 0, "calibrate: %d %s", ret, err);
}

static int transfer_n(struct bnnacc_net **net, struct bnnacc_card **cards,
		      const struct bnnacc_calib *cals, unsigned n,
		      const struct bnnacc_model *m, const struct bnnacc_xfer_opts *o,
		      char *err, size_t errlen)
{
	const struct bnnacc_calib *cp[BNNACC_XFER_MAX_CARDS];
	unsigned i;

	for (i = 0; i < n; i++)
		cp[i] = &cals[i];
	return bnnacc_transfer(net, cards, cp, n, m, o, err, errlen);
}

/* One card; the transfer must succeed */
static struct bnnacc_net *transfer1(struct bnnacc_card *card,
				    const struct bnnacc_calib *cal,
				    const struct bnnacc_model *m,
				    const struct bnnacc_xfer_opts *o)
{
	struct bnnacc_net *net;
	char err[512] = "";
	int ret = transfer_n(&net, &card, cal, 1, m, o, err, sizeof(err));

	ck_assert_msg(ret == 0, "transfer: %d %s", ret, err);
	return net;
}

/* A small uniform generator for the tests' own data */
static double urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(*s >> 11) / 9007199254740992.0;
}

static double nrand(uint64_t *s)
{
	double u = urand(s), v = urand(s);

	return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

/* Standard normal quantile, by bisection on the CDF (independent of the library's) */
static double quantile(double p)
{
	double lo = -10, hi = 10, mid;
	unsigned i;

	for (i = 0; i < 200; i++) {
		mid = 0.5 * (lo + hi);
		if (0.5 * erfc(-mid / M_SQRT2) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static size_t layer_nw(const struct bnnacc_model *m, unsigned l)
{
	return (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
}

static struct bnnacc_model *mk_model(uint32_t kind, unsigned ns, uint64_t seed)
{
	static const uint32_t dims[] = { 2, 8, 3 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	struct bnnacc_model *m;
	unsigned l;
	size_t i, n;

	ck_assert_int_eq(bnnacc_model_new(&m, kind, 2, dims, acts, ns), 0);
	m->in_mean[0] = 0.5f;
	m->in_scale[1] = 2.0f;
	snprintf(m->class_name[0], BNNACC_NAME_LEN, "setosa");
	for (l = 0; l < 2; l++) {
		n = layer_nw(m, l);
		for (i = 0; i < n; i++) {
			if (kind == BNNACC_MODEL_GAUSS) {
				m->layer[l].mean[i] = (float)(2.0 * urand(&seed) - 1.0);
				m->layer[l].std[i] = (float)(0.1 * (1.0 + 0.02 * urand(&seed)));
			} else {
				unsigned s;

				for (s = 0; s < ns; s++)
					m->layer[l].samples[s * n + i] =
						(float)(2.0 * urand(&seed) - 1.0);
			}
		}
	}
	return m;
}

/* A GAUSS model of the given shape, means mu_scale * U(-1, 1) per layer, std @sd */
static struct bnnacc_model *mk_gauss(unsigned nl, const uint32_t *dims,
				     const uint32_t *acts, const double *mu_scale,
				     double sd, uint64_t seed)
{
	struct bnnacc_model *m;
	unsigned l;
	size_t i;

	ck_assert_int_eq(bnnacc_model_new(&m, BNNACC_MODEL_GAUSS, nl, dims, acts, 0), 0);
	for (l = 0; l < nl; l++)
		for (i = 0; i < layer_nw(m, l); i++) {
			m->layer[l].mean[i] = (float)(mu_scale[l] * (2.0 * urand(&seed) - 1.0));
			m->layer[l].std[i] = (float)sd;
		}
	return m;
}

static void *save(const struct bnnacc_model *m, size_t *len)
{
	size_t n = bnnacc_model_size(m);
	void *buf = malloc(n + 64);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(bnnacc_model_save_mem(m, buf, n + 64), (long)n);
	*len = n;
	return buf;
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* the tests run little-endian */
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Re-seal the checksum after an edit, so the check under test is reached */
static void reseal(uint8_t *b, size_t len)
{
	put32(b + len - 4, fnv(b, len - 4));
}

static void expect_reject(const void *b, size_t len, int want, const char *needle)
{
	struct bnnacc_model *m = (void *)1;
	char err[256] = "";
	int ret = bnnacc_model_load_mem(&m, b, len, err, sizeof(err));

	ck_assert_msg(ret == want, "got %d want %d (%s)", ret, want, err);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
}

/* ---- reading the array back ---- */

static uint32_t read_buf[64 * BNC_CELLS];

/* Mean of @reads reads of every cell of @card's array, uS */
static void read_array(struct bnnacc_card *card, unsigned reads, double *g)
{
	struct bnnacc_region r = { 0, 0, BNC_ROWS, BNC_COLS };
	unsigned i, k;

	ck_assert_uint_le(reads, 64);
	ck_assert_int_eq(card->ops->read(card->ctx, &r, read_buf, reads), 0);
	for (i = 0; i < BNC_CELLS; i++) {
		double s = 0;

		for (k = 0; k < reads; k++)
			s += read_buf[(size_t)k * BNC_CELLS + i] / 1000.0;
		g[i] = s / reads;
	}
}

/* Part of layer @l holding W[j][i] */
static unsigned part_of(const struct bnnacc_net *net, unsigned l, unsigned j,
			unsigned i, struct bnnacc_part *pt)
{
	unsigned p;

	for (p = 0; bnnacc_net_part(net, l, p, pt) == 0; p++)
		if (j >= pt->out0 && j < pt->out1 && i >= pt->in0 && i < pt->in1)
			return p;
	ck_abort_msg("layer %u weight [%u][%u] is in no part", l, j, i);
	return 0;
}

/*
 * Weight W[j][i] of layer @l of network @k as read back (uS of its summed
 * G+ - G- over its cells), from g[card] of the card the network is on
 */
static double weight_read(const struct bnnacc_net *net, double *const *g,
			  unsigned k, unsigned l, unsigned j, unsigned i)
{
	struct bnnacc_part pt;
	unsigned p = part_of(net, l, j, i, &pt), card, c, r0, col;
	const struct bnnacc_region *t = bnnacc_net_tile(net, k, l, p, &card);
	double s = 0;

	ck_assert_ptr_nonnull(t);
	r0 = t->row + 2 * pt.cells * (i - pt.in0);
	col = t->col + j - pt.out0;
	for (c = 0; c < pt.cells; c++)
		s += g[card][(r0 + c) * BNC_COLS + col] -
		     g[card][(r0 + pt.cells + c) * BNC_COLS + col];
	return s;
}

/* What the transfer predicted for weight @w of layer @l of network @k (uS) */
static void weight_pred(const struct bnnacc_net *net, unsigned k, unsigned l,
			size_t w, double *mean, double *sig)
{
	struct xcard *xc = net_card_of((struct bnnacc_net *)net, k);
	size_t o = net_row(net, xc, l, k) + w;

	*mean = xc->ach_mean[l][o];
	*sig = xc->ach_sig[l][o];
}

/*
 * z-scores of every weight of every network read back against the
 * prediction; their mean and standard deviation. Returns the bound a mean
 * of that many z-scores stays within: 4 standard errors.
 */
static double readback_z(const struct bnnacc_net *net, double *const *g,
			 double *zmean, double *zsd)
{
	const struct bnnacc_model *m = net->model;
	double s = 0, s2 = 0, n = 0;
	unsigned k, l, j, i;

	for (k = 0; k < bnnacc_net_m(net); k++)
		for (l = 0; l < m->n_layers; l++)
			for (j = 0; j < m->layer[l].n_out; j++)
				for (i = 0; i <= m->layer[l].n_in; i++) {
					double pm, ps, z;

					weight_pred(net, k, l, (size_t)j * (m->layer[l].n_in + 1) + i,
						    &pm, &ps);
					z = (weight_read(net, g, k, l, j, i) - pm) / ps;
					s += z;
					s2 += z * z;
					n++;
				}
	*zmean = s / n;
	*zsd = sqrt(s2 / n - *zmean * *zmean);
	return 4.0 / sqrt(n);
}

/* ---------------------------------------------------------------------- */
/* uncertainty                                                             */
/* ---------------------------------------------------------------------- */

static struct bnnacc_result mk_result(unsigned m, unsigned c)
{
	struct bnnacc_result r;

	r.m = m;
	r.n = 1;
	r.c = c;
	r.probs = calloc((size_t)m * c, sizeof(double));
	r.mean = calloc(c, sizeof(double));
	r.u_p = calloc(1, sizeof(double));
	r.u_a = calloc(1, sizeof(double));
	r.u_e = calloc(1, sizeof(double));
	return r;
}

START_TEST(unc_one_hot_agree)
{
	struct bnnacc_result r = mk_result(10, 4);
	unsigned k;

	for (k = 0; k < 10; k++)
		r.probs[k * 4 + 2] = 1.0;
	ck_assert_int_eq(bnnacc_uncertainty(&r), 0);
	ck_assert_double_eq_tol(r.mean[2], 1.0, 1e-12);
	ck_assert_double_eq_tol(r.u_p[0], 0.0, 1e-12);
	ck_assert_double_eq_tol(r.u_a[0], 0.0, 1e-12);
	ck_assert_double_eq_tol(r.u_e[0], 0.0, 1e-12);
	bnnacc_result_free(&r);
}
END_TEST

START_TEST(unc_one_hot_disagree)
{
	struct bnnacc_result r = mk_result(10, 3);
	unsigned k;

	for (k = 0; k < 10; k++)
		r.probs[k * 3 + (k & 1)] = 1.0;	/* half say 0, half say 1 */
	ck_assert_int_eq(bnnacc_uncertainty(&r), 0);
	ck_assert_double_eq_tol(r.u_a[0], 0.0, 1e-12);
	ck_assert_double_eq_tol(r.u_p[0], log(2.0), 1e-12);
	ck_assert_double_eq_tol(r.u_e[0], log(2.0), 1e-12);
	bnnacc_result_free(&r);
}
END_TEST

START_TEST(unc_uniform_identical)
{
	struct bnnacc_result r = mk_result(7, 5);
	unsigned k;

	for (k = 0; k < 7 * 5; k++)
		r.probs[k] = 0.2;
	ck_assert_int_eq(bnnacc_uncertainty(&r), 0);
	ck_assert_double_eq_tol(r.u_p[0], log(5.0), 1e-12);
	ck_assert_double_eq_tol(r.u_a[0], log(5.0), 1e-12);
	ck_assert_double_eq_tol(r.u_e[0], 0.0, 1e-12);
	bnnacc_result_free(&r);
}
END_TEST

START_TEST(unc_known_mix)
{
	/* samples (0.9, 0.1) and (0.1, 0.9): mean uniform */
	struct bnnacc_result r = mk_result(2, 2);
	double h = -(0.9 * log(0.9) + 0.1 * log(0.1));

	r.probs[0] = 0.9;
	r.probs[1] = 0.1;
	r.probs[2] = 0.1;
	r.probs[3] = 0.9;
	ck_assert_int_eq(bnnacc_uncertainty(&r), 0);
	ck_assert_double_eq_tol(r.u_p[0], log(2.0), 1e-12);
	ck_assert_double_eq_tol(r.u_a[0], h, 1e-12);
	ck_assert_double_eq_tol(r.u_e[0], log(2.0) - h, 1e-12);
	bnnacc_result_free(&r);
}
END_TEST

START_TEST(soft_reference_deterministic)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 5);
	float x[4] = { 0.1f, -0.3f, 1.0f, 0.7f };
	struct bnnacc_result a, b;
	unsigned i;

	ck_assert_int_eq(bnnacc_infer_soft(m, 16, 42, x, 2, &a), 0);
	ck_assert_int_eq(bnnacc_infer_soft(m, 16, 42, x, 2, &b), 0);
	for (i = 0; i < 2 * 16 * 3; i++)
		ck_assert(a.probs[i] == b.probs[i]);
	for (i = 0; i < 2; i++) {
		ck_assert_double_eq_tol(a.mean[i * 3] + a.mean[i * 3 + 1] + a.mean[i * 3 + 2], 1.0, 1e-9);
		ck_assert(a.u_e[i] >= -1e-12 && a.u_p[i] <= log(3.0) + 1e-12);
	}
	bnnacc_result_free(&a);
	bnnacc_result_free(&b);
	bnnacc_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* model format                                                            */
/* ---------------------------------------------------------------------- */

static void same_model(const struct bnnacc_model *a, const struct bnnacc_model *b)
{
	unsigned l;
	size_t n;

	ck_assert_uint_eq(a->kind, b->kind);
	ck_assert_uint_eq(a->n_layers, b->n_layers);
	ck_assert_uint_eq(a->n_samples, b->n_samples);
	ck_assert_uint_eq(a->n_inputs, b->n_inputs);
	ck_assert_uint_eq(a->n_classes, b->n_classes);
	ck_assert(!memcmp(a->in_mean, b->in_mean, a->n_inputs * 4));
	ck_assert(!memcmp(a->in_scale, b->in_scale, a->n_inputs * 4));
	ck_assert(!memcmp(a->class_name, b->class_name, a->n_classes * BNNACC_NAME_LEN));
	for (l = 0; l < a->n_layers; l++) {
		ck_assert_uint_eq(a->layer[l].act, b->layer[l].act);
		n = layer_nw(a, l) * 4;
		if (a->kind == BNNACC_MODEL_GAUSS) {
			ck_assert(!memcmp(a->layer[l].mean, b->layer[l].mean, n));
			ck_assert(!memcmp(a->layer[l].std, b->layer[l].std, n));
		} else {
			ck_assert(!memcmp(a->layer[l].samples, b->layer[l].samples,
					  n * a->n_samples));
		}
	}
	ck_assert((a->meta == NULL) == (b->meta == NULL));
	if (a->meta)
		ck_assert_str_eq(a->meta, b->meta);
}

START_TEST(model_roundtrip)
{
	struct bnnacc_model *m = mk_model(_i ? BNNACC_MODEL_SAMPLES : BNNACC_MODEL_GAUSS,
					  _i ? 5 : 0, 9), *r;
	char path[] = "/tmp/bnnacc-model-XXXXXX", err[256];
	size_t len;
	void *b = save(m, &len);
	int fd;

	/* version 2 with an empty metadata block: u32 0 before the checksum */
	ck_assert_uint_eq(get32((uint8_t *)b + 4), 2);
	ck_assert_uint_eq(get32((uint8_t *)b + len - 8), 0);
	ck_assert_int_eq(bnnacc_model_load_mem(&r, b, len, err, sizeof(err)), 0);
	same_model(m, r);
	ck_assert_ptr_null(r->meta);
	bnnacc_model_free(r);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(bnnacc_model_save(m, path), 0);
	ck_assert_int_eq(bnnacc_model_load(&r, path, err, sizeof(err)), 0);
	same_model(m, r);
	unlink(path);
	bnnacc_model_free(r);
	bnnacc_model_free(m);
	free(b);
}
END_TEST

/* The version 1 form of a version 2 file without metadata */
static uint8_t *to_v1(const uint8_t *v2, size_t len, size_t *len1)
{
	uint8_t *b = malloc(len);

	ck_assert_uint_eq(get32(v2 + len - 8), 0);
	memcpy(b, v2, len - 8);
	*len1 = len - 4;
	put32(b + 4, 1);
	put32(b + 28, (uint32_t)*len1);
	reseal(b, *len1);
	return b;
}

START_TEST(model_v1_loads_saves_v2)
{
	struct bnnacc_model *m = mk_model(_i ? BNNACC_MODEL_SAMPLES : BNNACC_MODEL_GAUSS,
					  _i ? 3 : 0, 19), *r;
	char err[256] = "";
	size_t len, len1, i;
	uint8_t *v2 = save(m, &len), *v1 = to_v1(v2, len, &len1), *back;

	ck_assert_msg(bnnacc_model_load_mem(&r, v1, len1, err, sizeof(err)) == 0, "%s", err);
	same_model(m, r);
	ck_assert_ptr_null(r->meta);
	/* saved again: version 2, exactly the bytes the original gives */
	ck_assert_uint_eq(bnnacc_model_size(r), len);
	back = save(r, &i);
	ck_assert(!memcmp(back, v2, len));
	bnnacc_model_free(r);
	free(back);
	/* every truncation of the v1 file is refused */
	for (i = 0; i < len1; i++)
		ck_assert_int_eq(bnnacc_model_load_mem(&r, v1, i, NULL, 0), -EINVAL);
	/* a v1 header on a v2 body, and a v2 header on a v1 body: sizes differ */
	put32(v2 + 4, 1);
	reseal(v2, len);
	expect_reject(v2, len, -EINVAL, "layer sizes need");
	put32(v1 + 4, 2);
	reseal(v1, len1);
	expect_reject(v1, len1, -EINVAL, "layer sizes need");
	bnnacc_model_free(m);
	free(v1);
	free(v2);
}
END_TEST

START_TEST(model_truncated_every_length)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 1), *r;
	size_t len, i;
	uint8_t *b;

	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "moons"), 0);
	b = save(m, &len);
	for (i = 0; i < len; i++) {
		/* an exact-size copy so a read past the end would be caught by ASan/valgrind */
		uint8_t *c = malloc(i ? i : 1);

		memcpy(c, b, i);
		ck_assert_int_eq(bnnacc_model_load_mem(&r, c, i, NULL, 0), -EINVAL);
		ck_assert_ptr_null(r);
		free(c);
	}
	expect_reject(b, len - 1, -EINVAL, "truncated");
	expect_reject(b, 10, -EINVAL, "truncated");
	bnnacc_model_free(m);
	free(b);
}
END_TEST

START_TEST(model_trailing_oversized)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 1);
	size_t len;
	uint8_t *b = save(m, &len), *c = calloc(len + 8, 1);

	memcpy(c, b, len);
	expect_reject(c, len + 8, -EINVAL, "trailing data");
	put32(c + 28, 0xfffffff0u);
	expect_reject(c, len, -E2BIG, "limit");
	bnnacc_model_free(m);
	free(b);
	free(c);
}
END_TEST

/* Corruptions: offset, new 32-bit value, expected message fragment */
static const struct {
	unsigned off;
	uint32_t val;
	const char *msg;
} corrupt[] = {
	{ 0, 0x12345678, "bad magic" },
	{ 4, 0, "unsupported version" },
	{ 4, 3, "unsupported version" },
	{ 4, 1, "layer sizes need" },		/* v1 header on a v2 body */
	{ 8, 7, "unknown kind" },
	{ 12, 0, "layer count" },
	{ 12, 17, "layer count" },
	{ 16, 3, "sample count" },
	{ 20, 0, "out of range" },
	{ 24, 1, "out of range" },
	{ 32, 3, "previous stage" },		/* layer 0 n_in */
	{ 36, 9, "previous stage" },		/* layer 0 n_out */
	{ 36, 0, "not in 1.." },
	{ 40, 3, "softmax" },			/* softmax in the middle */
	{ 40, 9, "unknown activation" },
	{ 44, 1, "reserved" },
	{ 56, 0, "softmax" },			/* last layer not softmax */
	{ 52, 4, "classes" },			/* last layer n_out != classes */
	{ 64, 0x7fc00000, "normalisation" },	/* input 0 mean NaN */
	{ 68, 0, "normalisation" },		/* input 0 scale 0 */
	{ 80, 0x7f800000, "not finite" },	/* layer 0 mean[0] inf */
};

START_TEST(model_corrupt_fields)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 1);
	size_t len;
	uint8_t *b = save(m, &len), *c = malloc(len);

	memcpy(c, b, len);
	put32(c + corrupt[_i].off, corrupt[_i].val);
	reseal(c, len);
	expect_reject(c, len, corrupt[_i].off == 28 ? -E2BIG : -EINVAL, corrupt[_i].msg);
	bnnacc_model_free(m);
	free(b);
	free(c);
}
END_TEST

START_TEST(model_corrupt_values)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 1);
	size_t len, std0 = 32 + 2 * 16 + 2 * 8 + 8 * 3 * 4;
	uint8_t *b = save(m, &len), *c = malloc(len);
	size_t names = len - 8 - 3 * BNNACC_NAME_LEN;	/* before meta length + checksum */

	/* negative std */
	memcpy(c, b, len);
	put32(c + std0, 0xbf800000u);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "negative");
	/* class name without NUL */
	memcpy(c, b, len);
	memset(c + names, 'A', BNNACC_NAME_LEN);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "NUL");
	/* control character in a class name */
	memcpy(c, b, len);
	c[names] = '\n';
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "control character");
	/* flipped payload byte: checksum */
	memcpy(c, b, len);
	c[100] ^= 0x40;
	expect_reject(c, len, -EINVAL, "checksum");
	/* a metadata length over the limit, or one that does not add up */
	memcpy(c, b, len);
	put32(c + len - 8, BNNACC_MODEL_MAX_META + 1);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "metadata length");
	memcpy(c, b, len);
	put32(c + len - 8, 2);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "layer sizes need");
	bnnacc_model_free(m);
	free(b);
	free(c);
}
END_TEST

START_TEST(model_fuzz_no_crash)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_SAMPLES, 3, 2), *r;
	uint64_t s = 77;
	size_t len, i;
	uint8_t *b, *c;
	unsigned it, k, ok = 0;

	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "two-moons"), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "epochs", "300"), 0);
	b = save(m, &len);
	c = malloc(len);
	for (it = 0; it < 3000; it++) {
		memcpy(c, b, len);
		for (k = 0; k < 1 + it % 4; k++) {
			i = (size_t)(urand(&s) * len);
			c[i] = (uint8_t)(urand(&s) * 256);
		}
		if (it & 1)
			reseal(c, len);
		if (!bnnacc_model_load_mem(&r, c, len, NULL, 0)) {
			ok++;
			bnnacc_model_free(r);
		}
	}
	ck_assert_uint_lt(ok, 3000);
	bnnacc_model_free(m);
	free(b);
	free(c);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* metadata                                                                */
/* ---------------------------------------------------------------------- */

START_TEST(meta_set_get_remove)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 3);
	char v[64];

	ck_assert_int_eq(bnnacc_model_get_meta(m, "dataset", v, sizeof(v)), -ENOENT);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "two-moons"), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "trainer", "bbb 1.0 (seed=3)"), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "x.y-z_0", ""), 0);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "dataset", v, sizeof(v)), 9);
	ck_assert_str_eq(v, "two-moons");
	ck_assert_int_eq(bnnacc_model_get_meta(m, "trainer", v, sizeof(v)), 16);
	ck_assert_str_eq(v, "bbb 1.0 (seed=3)");
	ck_assert_int_eq(bnnacc_model_get_meta(m, "x.y-z_0", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "");
	/* a buffer one byte short (no room for the NUL) */
	ck_assert_int_eq(bnnacc_model_get_meta(m, "dataset", v, 9), -ENOSPC);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "dataset", v, 10), 9);
	/* a prefix or an extension of a key is another key */
	ck_assert_int_eq(bnnacc_model_get_meta(m, "data", v, sizeof(v)), -ENOENT);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "datasets", v, sizeof(v)), -ENOENT);
	/* a value holding '=' is not a key: "trainer=bbb 1.0 (seed" is none */
	ck_assert_int_eq(bnnacc_model_get_meta(m, "trainer=bbb 1.0 (seed", v, sizeof(v)),
			 -ENOENT);
	/* replacing keeps the others, in their order, the key once */
	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "iris"), 0);
	ck_assert_str_eq(m->meta, "trainer=bbb 1.0 (seed=3)\nx.y-z_0=\ndataset=iris\n");
	/* UTF-8 is not a control character */
	ck_assert_int_eq(bnnacc_model_set_meta(m, "author", "Jos\xc3\xa9"), 0);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "author", v, sizeof(v)), 5);
	/* removing: the key goes; removing an absent key is no error */
	ck_assert_int_eq(bnnacc_model_set_meta(m, "trainer", NULL), 0);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "trainer", v, sizeof(v)), -ENOENT);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "absent", NULL), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "x.y-z_0", NULL), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", NULL), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "author", NULL), 0);
	ck_assert_ptr_null(m->meta);
	bnnacc_model_free(m);
}
END_TEST

START_TEST(meta_invalid_refused)
{
	static const char *const bad_keys[] = {
		"", "Dataset", "data set", "a=b", "a\nb", "caf\xc3\xa9", "a/b", "a:b",
	};
	static const char *const bad_vals[] = { "a\nb", "tab\there", "cr\r", "del\x7f", "\x01" };
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 3);
	char key[BNNACC_META_KEY_MAX + 2], v[8];
	unsigned i;

	ck_assert_int_eq(bnnacc_model_set_meta(m, "keep", "1"), 0);
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
		ck_assert_msg(bnnacc_model_set_meta(m, bad_keys[i], "v") == -EINVAL,
			      "key \"%s\" accepted", bad_keys[i]);
	ck_assert_int_eq(bnnacc_model_set_meta(m, NULL, "v"), -EINVAL);
	for (i = 0; i < sizeof(bad_vals) / sizeof(bad_vals[0]); i++)
		ck_assert_msg(bnnacc_model_set_meta(m, "k", bad_vals[i]) == -EINVAL,
			      "value %u accepted", i);
	/* keys of 64 bytes are fine, 65 are not */
	memset(key, 'k', sizeof(key));
	key[BNNACC_META_KEY_MAX] = 0;
	ck_assert_int_eq(bnnacc_model_set_meta(m, key, "v"), 0);
	ck_assert_int_eq(bnnacc_model_get_meta(m, key, v, sizeof(v)), 1);
	key[BNNACC_META_KEY_MAX] = 'k';
	key[BNNACC_META_KEY_MAX + 1] = 0;
	ck_assert_int_eq(bnnacc_model_set_meta(m, key, "v"), -EINVAL);
	/* nothing refused changed anything */
	key[BNNACC_META_KEY_MAX] = 0;
	ck_assert_int_eq(strlen(m->meta), strlen("keep=1\n") + BNNACC_META_KEY_MAX + 3);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "keep", v, sizeof(v)), 1);
	ck_assert_int_eq(bnnacc_model_get_meta(m, "k", v, sizeof(v)), -ENOENT);
	bnnacc_model_free(m);
}
END_TEST

START_TEST(meta_limit)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 3), *r;
	char *val = malloc(BNNACC_MODEL_MAX_META + 1), v[8], err[256] = "";
	size_t len, base = bnnacc_model_size(m);
	uint8_t *b;

	/* "k=" + value + "\n" of exactly the limit is accepted, one more is not */
	memset(val, 'v', BNNACC_MODEL_MAX_META);
	val[BNNACC_MODEL_MAX_META - 3] = 0;
	ck_assert_int_eq(bnnacc_model_set_meta(m, "k", val), 0);
	ck_assert_uint_eq(strlen(m->meta), BNNACC_MODEL_MAX_META);
	ck_assert_uint_eq(bnnacc_model_size(m), base + BNNACC_MODEL_MAX_META);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "j", ""), -E2BIG);
	val[BNNACC_MODEL_MAX_META - 3] = 'v';
	val[BNNACC_MODEL_MAX_META - 2] = 0;
	ck_assert_int_eq(bnnacc_model_set_meta(m, "k", val), -E2BIG);
	/* the full block survives a round trip */
	b = save(m, &len);
	ck_assert_uint_eq(get32(b + len - 8 - BNNACC_MODEL_MAX_META), BNNACC_MODEL_MAX_META);
	ck_assert_msg(bnnacc_model_load_mem(&r, b, len, err, sizeof(err)) == 0, "%s", err);
	same_model(m, r);
	ck_assert_int_eq(bnnacc_model_get_meta(r, "k", v, sizeof(v)), -ENOSPC);
	bnnacc_model_free(r);
	free(b);
	bnnacc_model_free(m);
	free(val);
}
END_TEST

/* @b with @s (and its NUL if @s is "") written at @at, resealed: refused with @needle */
static __attribute__((noinline)) void meta_reject(const uint8_t *b, size_t len, size_t at,
						   const char *s, const char *needle)
{
	uint8_t *c = malloc(len);
	size_t n = *s ? strlen(s) : 1;

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_le(at + n, len - 4);
	memcpy(c, b, len);
	memcpy(c + at, s, n);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, needle);
	free(c);
}

START_TEST(meta_file)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_SAMPLES, 2, 3), *r;
	char path[] = "/tmp/bnnacc-meta-XXXXXX", err[256] = "", v[32];
	const char *text = "dataset=moons\nepochs=300\n";
	size_t len, mlen = strlen(text), off;
	uint8_t *b;
	int fd;

	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "moons"), 0);
	ck_assert_int_eq(bnnacc_model_set_meta(m, "epochs", "300"), 0);
	ck_assert_str_eq(m->meta, text);
	/* the layout: u32 length and the text before the checksum */
	b = save(m, &len);
	off = len - 4 - mlen;
	ck_assert_uint_eq(get32(b + off - 4), mlen);
	ck_assert(!memcmp(b + off, text, mlen));
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(bnnacc_model_save(m, path), 0);
	ck_assert_msg(bnnacc_model_load(&r, path, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	same_model(m, r);
	ck_assert_int_eq(bnnacc_model_get_meta(r, "epochs", v, sizeof(v)), 3);
	ck_assert_str_eq(v, "300");
	bnnacc_model_free(r);
	/* the loader checks the text as set_meta does */
	meta_reject(b, len, off, "D", "metadata");		/* "Dataset" */
	meta_reject(b, len, off + mlen - 1, "x", "newline");	/* no final newline */
	meta_reject(b, len, off + 14, "dataset=30\n", "twice");	/* "dataset" twice */
	meta_reject(b, len, off + 9, "\t", "control");	/* control character in a value */
	meta_reject(b, len, off + 7, ":", "metadata");	/* no '=' on the line */
	meta_reject(b, len, off, "", "metadata");		/* a NUL in the text */
	free(b);
	bnnacc_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* calibration                                                             */
/* ---------------------------------------------------------------------- */

/* rms over cells of the read noise, cells ~ N(g, sig) clipped at g_min */
static double expect_read(const struct bnc_params *p, double g, double sig)
{
	double s = 0, w = 0;
	int i;

	for (i = -60; i <= 60; i++) {
		double z = i / 10.0, pz = exp(-0.5 * z * z);
		double gi = fmax(g + sig * z, p->g_min_us), r = bnc_read_sigma_us(p, gi);

		s += pz * r * r;
		w += pz;
	}
	return sqrt(s / w);
}

/*
 * The physics of a level read 6 s after programming (the sim's settle
 * time): median, programming spread (C2C and D2D, and the relaxation's
 * own spread), all relaxed by the mean drift
 */
static void expect_level(const struct bnc_params *p, double iset, double *med,
			 double *prog)
{
	double g = bnc_set_median_us(p, iset), c2c = bnc_c2c_sigma_us(p, g);
	double l = 6.0 > p->drift_t_ref_s ? log(6.0 / p->drift_t_ref_s) : 0.0;
	double f = 1.0 - p->drift_nu * l, sd = c2c * sqrt(1.0 + p->d2d_ratio * p->d2d_ratio);
	double s = 0, w = 0;
	int i;

	/* the mean of the programmed values, which the core clips at g_min */
	for (i = -60; i <= 60; i++) {
		double z = i / 10.0, pz = exp(-0.5 * z * z);

		s += pz * fmax(g + sd * z, p->g_min_us);
		w += pz;
	}
	*med = s / w * f;
	*prog = sqrt(pow(f * c2c, 2) * (1.0 + p->d2d_ratio * p->d2d_ratio) +
		     pow(p->drift_sig * l * g, 2));
}

static const char *const cal_presets[] = { "pessimistic", "hfox", "cmo-hfox" };

START_TEST(calib_matches_physics)
{
	const char *preset = cal_presets[_i];
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim(preset, 11 + _i, &card);
	struct bnnacc_calib cal;
	struct bnc_params p;
	double worst_m = 0, worst_p = 0, worst_r = 0, rel0 = 0, rel1 = 0;
	unsigned i;

	ck_assert_int_eq(bnc_params_preset(&p, preset), 0);
	calibrate(&card, &cal);
	ck_assert_uint_eq(cal.nlevels, 12);
	ck_assert_msg(fabs(cal.k_us_per_ua / p.k_us_per_ua - 1.0) < 0.03,
		      "k %.4f vs %.4f", cal.k_us_per_ua, p.k_us_per_ua);
	for (i = 0; i < cal.nlevels; i++) {
		double med, prog, rd, rel;

		expect_level(&p, cal.iset_ua[i], &med, &prog);
		rd = expect_read(&p, med, prog);
		/*
		 * medians within 1 % or 4 standard errors of a mean over the
		 * 16 k cells (0.4 % at the lowest level: 1.6 %); read noise
		 * within 2 % (16 k cells x 7 degrees of freedom: 0.2 % each)
		 */
		ck_assert_msg(fabs(cal.g_med[i] / med - 1.0) <
			      fmax(0.01, 4.0 * prog / sqrt((double)BNC_CELLS) / med),
			      "%s level %u median %.3f vs %.3f", preset, i, cal.g_med[i], med);
		ck_assert_msg(fabs(cal.g_sig_read[i] / rd - 1.0) < 0.02,
			      "%s level %u read %.4f vs %.4f", preset, i, cal.g_sig_read[i], rd);
		/*
		 * programming spread within 3 % (a spread over 16 k cells: 0.6 %
		 * standard error); below 3 sigma from zero the core clips draws
		 * at g_min, which narrows the spread the card really has: only
		 * an upper bound there
		 */
		if (med < 3.0 * prog)
			ck_assert_msg(cal.g_sig_prog[i] < prog * 1.03, "%s level %u prog %.3f vs %.3f",
				      preset, i, cal.g_sig_prog[i], prog);
		else
			ck_assert_msg(fabs(cal.g_sig_prog[i] / prog - 1.0) < 0.03,
				      "%s level %u prog %.3f vs %.3f", preset, i,
				      cal.g_sig_prog[i], prog);
		worst_m = fmax(worst_m, fabs(cal.g_med[i] / med - 1.0));
		if (getenv("CAL_VERBOSE"))
			printf("  %s level %2u: median %.3f (physics %.3f) prog %.3f (%.3f) "
			       "read %.4f (%.4f)\n", preset, i, cal.g_med[i], med, cal.g_sig_prog[i],
			       prog, cal.g_sig_read[i], rd);
		worst_r = fmax(worst_r, fabs(cal.g_sig_read[i] / rd - 1.0));
		if (med >= 3.0 * prog)
			worst_p = fmax(worst_p, fabs(cal.g_sig_prog[i] / prog - 1.0));
		/* relative read noise of the cells' rms conductance */
		rel = cal.g_sig_read[i] / sqrt(cal.g_med[i] * cal.g_med[i] +
					       cal.g_sig_prog[i] * cal.g_sig_prog[i]);
		if (p.read_noise_exp == 0.0)	/* pessimistic: flat 2 % */
			ck_assert_msg(fabs(rel / p.read_noise_rel - 1.0) < 0.03,
				      "%s level %u relative read noise %.5f", preset, i, rel);
		if (i == 1)
			rel0 = cal.g_sig_read[i] / cal.g_med[i];
		if (i == cal.nlevels - 1)
			rel1 = cal.g_sig_read[i] / cal.g_med[i];
	}
	/*
	 * the falling law: from level 1 to the top the relative read noise
	 * falls as (G1 / G2)^e (flat for e = 0), within 5 %
	 */
	{
		double want = pow(cal.g_med[cal.nlevels - 1] / cal.g_med[1], -p.read_noise_exp);

		ck_assert_msg(fabs(rel1 / rel0 / want - 1.0) < 0.05,
			      "%s relative read noise falls by %.3f, physics %.3f", preset,
			      rel1 / rel0, want);
		printf("calib %s: medians within %.2f %%, prog spread %.2f %%, read noise %.2f %%; "
		       "relative read noise %.4f -> %.4f (x%.3f, physics x%.3f)\n", preset,
		       100 * worst_m, 100 * worst_p, 100 * worst_r, rel0, rel1, rel1 / rel0, want);
	}
	/* RESET: read noise within 5 %, median and spread (log-normal) within 10 % */
	{
		double lsd = p.reset_lsig, rmed = p.reset_med_us;
		double mean = rmed * exp(0.5 * lsd * lsd);
		double sd = mean * sqrt(exp(lsd * lsd) - 1.0);
		double rd = bnc_read_sigma_us(&p, cal.reset_med);

		ck_assert_msg(fabs(cal.reset_sig_read / rd - 1.0) < 0.05, "%s reset read %.4f vs %.4f",
			      preset, cal.reset_sig_read, rd);
		ck_assert_msg(fabs(cal.reset_med / mean - 1.0) < 0.1, "%s reset %.3f vs %.3f",
			      preset, cal.reset_med, mean);
		/* the 5-robust-sigma cut trims the log-normal's long tail: lower bound 0.75 */
		ck_assert_msg(cal.reset_sig_prog < sd * 1.1 && cal.reset_sig_prog > sd * 0.75,
			      "%s reset spread %.3f vs %.3f", preset, cal.reset_sig_prog, sd);
	}
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(calib_sigma_repeat)
{
	struct bnnacc_calib c;
	unsigned i, r;

	memset(&c, 0, sizeof(c));
	c.nlevels = 3;
	for (i = 0; i < 3; i++) {
		c.iset_ua[i] = 10.0 * (i + 1);
		c.g_med[i] = 20.0 * (i + 1);
		c.g_sig_prog[i] = 4.0 - i;
		c.g_sig_read[i] = 0.4 * (i + 1);
	}
	c.reset_med = 2.0;
	c.reset_sig_prog = 0.6;
	c.reset_sig_read = 0.05;
	c.g_lo = 20;
	c.g_hi = 60;
	for (r = 0; r <= 64; r = r ? 2 * r : 1) {
		double rr = r ? r : 1;

		/* at the levels */
		for (i = 0; i < 3; i++)
			ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, c.g_med[i], r),
						sqrt(pow(c.g_sig_prog[i], 2) +
						     pow(c.g_sig_read[i], 2) / rr), 1e-12);
		/* between levels: each part interpolated linearly */
		ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, 30.0, r),
					sqrt(3.5 * 3.5 + 0.6 * 0.6 / rr), 1e-12);
		/* outside: clamped to the end levels */
		ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, 5.0, r),
					sqrt(16.0 + 0.16 / rr), 1e-12);
		ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, 500.0, r),
					sqrt(4.0 + 1.44 / rr), 1e-12);
		/* g < 0: RESET */
		ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, -1.0, r),
					sqrt(0.36 + 0.0025 / rr), 1e-12);
	}
	/* many reads leave the programming spread */
	ck_assert_double_eq_tol(bnnacc_calib_sigma(&c, 40.0, 1u << 30), 3.0, 1e-6);
	/* a floor: never 0 */
	memset(c.g_sig_prog, 0, sizeof(c.g_sig_prog));
	memset(c.g_sig_read, 0, sizeof(c.g_sig_read));
	ck_assert(bnnacc_calib_sigma(&c, 40.0, 1) > 0.0);
	ck_assert(bnnacc_calib_sigma(&c, 40.0, 1) <= 1e-3);
}
END_TEST

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *t = calloc(1, 65536);

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_lt(fread(t, 1, 65535, f), 65535);
	fclose(f);
	return t;
}

/* @text with the first occurrence of @from replaced by @to, written to @path */
static void write_edited(const char *path, const char *text, const char *from,
			 const char *to)
{
	char *t = malloc(strlen(text) + strlen(to) + 1);
	const char *p = strstr(text, from);

	ck_assert_msg(p != NULL, "\"%s\" not in the file", from);
	memcpy(t, text, (size_t)(p - text));
	strcpy(t + (p - text), to);
	strcat(t, p + strlen(from));
	write_text(path, t);
	free(t);
}

START_TEST(calib_file_v2)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 14, &card);
	char path[] = "/tmp/bnnacc-cal-XXXXXX", err[256] = "", *text, *cut;
	struct bnnacc_cal_opts o;
	struct bnnacc_calib c1, c2;
	unsigned i;
	int fd;

	memset(&o, 0, sizeof(o));
	o.nlevels = 5;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c1, err, sizeof(err)), 0);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(bnnacc_calib_save(&c1, path), 0);
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), 0);
	/* %.17g: every field back bit for bit */
	ck_assert(c2.serial == c1.serial && c2.hw_version == c1.hw_version &&
		  c2.created == c1.created && c2.nlevels == c1.nlevels);
	for (i = 0; i < c1.nlevels; i++)
		ck_assert(c2.iset_ua[i] == c1.iset_ua[i] && c2.g_med[i] == c1.g_med[i] &&
			  c2.g_sig_prog[i] == c1.g_sig_prog[i] &&
			  c2.g_sig_read[i] == c1.g_sig_read[i]);
	ck_assert(c2.reset_med == c1.reset_med && c2.reset_sig_prog == c1.reset_sig_prog &&
		  c2.reset_sig_read == c1.reset_sig_read && c2.k_us_per_ua == c1.k_us_per_ua &&
		  c2.g_lo == c1.g_lo && c2.g_hi == c1.g_hi);
	text = read_text(path);
	ck_assert(!strncmp(text, "bnnacc-calibration 2\n", 21));
	/* a version 1 file (one sigma per level) is refused */
	write_text(path, "bnnacc-calibration 1\nserial 0x1\nhw_version 0x00010000\ncreated 1\n"
		   "levels 3\nlevel 5 10 5\nlevel 50 100 4\nlevel 100 200 3\nreset 2 0.6\n"
		   "fit 2\n");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "version 2") && strstr(err, path), "%s", err);
	/* so is the v2 text with the version 1 header */
	write_edited(path, text, "calibration 2", "calibration 1");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	/* corrupt ones: truncated, a level out of order, a negative or NaN spread */
	/* (a cut within the last number, the fit, can still parse) */
	for (cut = strstr(text, "\nfit ") + 1; cut > text; cut -= 7) {
		char keep = *cut;

		*cut = 0;
		write_text(path, text);
		ck_assert_msg(bnnacc_calib_load(&c2, path, err, sizeof(err)) == -EINVAL,
			      "truncated at %zu accepted", (size_t)(cut - text));
		*cut = keep;
	}
	{
		char lvl[160], bad[200];
		char *l0 = strstr(text, "level "), *nl = strchr(l0 + 7, '\n');

		snprintf(lvl, sizeof(lvl), "%.*s", (int)(nl - l0), l0);
		/* the second level's current below the first's */
		snprintf(bad, sizeof(bad), "level %.17g ", c1.iset_ua[1]);
		write_edited(path, text, bad, "level 0.5 ");
		ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
		snprintf(bad, sizeof(bad), "level %.17g %.17g -1 %.17g", c1.iset_ua[0], c1.g_med[0],
			 c1.g_sig_read[0]);
		write_edited(path, text, lvl, bad);
		ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
		snprintf(bad, sizeof(bad), "level %.17g %.17g %.17g nan", c1.iset_ua[0],
			 c1.g_med[0], c1.g_sig_prog[0]);
		write_edited(path, text, lvl, bad);
		ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
		/* three numbers per level (version 1's) */
		snprintf(bad, sizeof(bad), "level %.17g %.17g %.17g", c1.iset_ua[0], c1.g_med[0],
			 c1.g_sig_prog[0]);
		write_edited(path, text, lvl, bad);
		ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	}
	write_edited(path, text, "levels 5", "levels 2");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	/* a negative RESET median or spread */
	write_edited(path, text, "reset ", "reset -");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	{
		char from[80], to[80];

		snprintf(from, sizeof(from), "reset %.17g ", c1.reset_med);
		snprintf(to, sizeof(to), "reset %.17g -", c1.reset_med);
		write_edited(path, text, from, to);
		ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	}
	write_edited(path, text, "fit ", "fit inf #");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "corrupt"));
	/* and the original still loads */
	write_text(path, text);
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), 0);
	free(text);
	unlink(path);
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -ENOENT);
	bnnacc_sim_free(s);
}
END_TEST

static int count_progress(void *arg, unsigned done, unsigned total)
{
	unsigned *n = arg;

	ck_assert_uint_le(done, total);
	(*n)++;
	return 0;
}

START_TEST(calib_save_reuse_stale)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 12, &card);
	char dir[] = "/tmp/bnnacc-cal-XXXXXX", path[128], err[256];
	struct bnnacc_cal_opts o;
	struct bnnacc_calib c1, c2;
	unsigned calls = 0;
	uint64_t t;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.nlevels = 6;
	o.progress = count_progress;
	o.progress_arg = &calls;
	t = sim_now(s);
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c1, err, sizeof(err)), 0);
	ck_assert_uint_eq(calls, 7);
	/* 7 programming steps of 6 s each moved the clock */
	ck_assert_uint_eq((sim_now(s) - t) / (6 * SEC), 7);
	t = sim_now(s);
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 1);
	ck_assert_uint_eq(sim_now(s), t);	/* reused: nothing programmed or read */
	ck_assert_double_eq_tol(c2.k_us_per_ua, c1.k_us_per_ua, 1e-12);
	ck_assert_double_eq_tol(c2.g_sig_prog[3], c1.g_sig_prog[3], 1e-12);
	ck_assert_double_eq_tol(c2.g_sig_read[3], c1.g_sig_read[3], 1e-12);
	/* another hw version makes it stale */
	card.info.hw_version++;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 0);
	/* so does age */
	o.max_age_s = -1;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 0);
	o.max_age_s = 0;
	o.force = 1;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 0);
	/* a corrupt file is refused with a message, and re-measured over */
	snprintf(path, sizeof(path), "%s/bnnacc-%016llx.cal", dir,
		 (unsigned long long)card.info.serial);
	ck_assert_int_eq(access(path, R_OK), 0);
	write_text(path, "bnnacc-calibration 2\nserial 0xabcdef\nlevels 99\n");
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "corrupt"));
	o.force = 0;
	t = sim_now(s);
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 0);
	ck_assert_uint_gt(sim_now(s), t);
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), 0);
	unlink(path);
	rmdir(dir);
	bnnacc_sim_free(s);
}
END_TEST

static int abort_at_3(void *arg, unsigned done, unsigned total)
{
	(void)arg;
	(void)total;
	return done >= 3;
}

START_TEST(calib_abort_and_bad_region)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("pessimistic", 13, &card);
	struct bnnacc_cal_opts o;
	struct bnnacc_calib c;
	char err[256] = "";
	uint64_t t = sim_now(s);

	memset(&o, 0, sizeof(o));
	o.progress = abort_at_3;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c, err, sizeof(err)), -ECANCELED);
	ck_assert_uint_eq((sim_now(s) - t) / (6 * SEC), 3);	/* 3 levels programmed */
	o.progress = NULL;
	o.region.row = 120;
	o.region.rows = 16;
	o.region.cols = 16;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "outside"));
	o.region.row = 0;
	o.nlevels = 2;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c, err, sizeof(err)), -EINVAL);
	/* a small region works too */
	o.nlevels = 5;
	o.region.rows = 32;
	o.region.cols = 32;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c, err, sizeof(err)), 0);
	ck_assert(fabs(c.k_us_per_ua / 2.0 - 1.0) < 0.05);
	/* unknown presets are refused with the list */
	{
		struct bnnacc_sim *x = (void *)1;

		ck_assert_int_eq(bnnacc_sim_new(&x, "tin-foil", 1, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(x);
		ck_assert_msg(strstr(err, "tin-foil") && strstr(err, "pessimistic"), "%s", err);
	}
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* pairs and gamma                                                         */
/* ---------------------------------------------------------------------- */

/*
 * Program 64 x 128 pairs with currents (ip, im) (0: RESET), read @reads
 * times, average; mean and spread of G+ - G- over the pairs without a
 * stuck cell
 */
static void realise(struct bnnacc_sim *sim, struct bnnacc_card *card, double ip,
		    double im, unsigned reads, double *mean, double *sig)
{
	struct bnc_array *a = bnl_sim_array(sim, NULL);
	static uint32_t w[BNC_CELLS];
	static double g[BNC_CELLS];
	struct bnnacc_region r = { 0, 0, BNC_ROWS, BNC_COLS };
	double s = 0, s2 = 0, d;
	unsigned i, j, n = 0;

	for (i = 0; i < BNC_ROWS; i++)
		for (j = 0; j < BNC_COLS; j++)
			w[i * BNC_COLS + j] = (i & 1 ? im : ip) <= 0.0 ?
				BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0) :
				BNNACC_PROG_WORD(BNNACC_PROG_SET,
					(uint32_t)llround((i & 1 ? im : ip) * 1000.0));
	ck_assert_int_eq(card->ops->program(card->ctx, &r, w), 0);
	read_array(card, reads, g);
	for (i = 0; i < BNC_ROWS; i += 2)
		for (j = 0; j < BNC_COLS; j++) {
			if (bnc_is_stuck(a, i, j) || bnc_is_stuck(a, i + 1, j))
				continue;
			d = g[i * BNC_COLS + j] - g[(i + 1) * BNC_COLS + j];
			s += d;
			s2 += d * d;
			n++;
		}
	*mean = s / n;
	*sig = sqrt(s2 / n - *mean * *mean);
}

START_TEST(pair_realised_matches_target)
{
	static const double means[] = { -170, -90, -25, 0, 10, 60, 120, 185 };
	static const double fr[] = { 0.0, 0.5, 1.0 };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 21, &card);
	struct bnnacc_calib cal;
	double worst_m = 0, worst_s = 0;
	unsigned i, j;

	calibrate(&card, &cal);
	for (i = 0; i < sizeof(means) / sizeof(means[0]); i++) {
		double lo = INFINITY, hi = 0, ip, im, am, as, rm, rs;

		/* the SET/SET sigma range at this mean, from the library's own choices */
		for (j = 0; j <= 200; j++) {
			bnnacc_pair_choose(&cal, 1, 1, means[i], 3.0 + j * 0.05, &ip, &im, NULL, &as);
			if (ip > 0 && im > 0) {
				lo = fmin(lo, as);
				hi = fmax(hi, as);
			}
		}
		ck_assert(lo < hi);
		for (j = 0; j < 3; j++) {
			double target = lo + (hi - lo) * fr[j];
			int reach = bnnacc_pair_choose(&cal, 1, 1, means[i], target, &ip, &im,
						       &am, &as);

			if (fabs(means[i]) <= cal.g_hi - cal.g_lo)
				ck_assert_int_eq(reach, 1);
			if (reach && ip > 0 && im > 0) {
				ck_assert_msg(fabs(am - means[i]) < 0.5, "mean %g -> %g", means[i], am);
				ck_assert_msg(fabs(as - target) < 0.02 * target + 0.05,
					      "sigma %g -> %g", target, as);
			}
			/* realised (one read) vs predicted: 1 uS + 2 % in mean, 6 % in spread */
			realise(s, &card, ip, im, 1, &rm, &rs);
			worst_m = fmax(worst_m, fabs(rm - am));
			worst_s = fmax(worst_s, fabs(rs / as - 1.0));
			ck_assert_msg(fabs(rm - am) < 1.0 + 0.02 * fabs(am),
				      "target (%g, %g): realised mean %.3f vs %.3f", means[i], target, rm, am);
			ck_assert_msg(fabs(rs / as - 1.0) < 0.06,
				      "target (%g, %g): realised sigma %.3f vs %.3f", means[i], target, rs, as);
		}
	}
	/* RESET pairs: SET/RESET at mean -60 (low spread), RESET/RESET at 0 */
	for (i = 0; i < 2; i++) {
		double t = i ? 0.0 : -60.0, ip, im, am, as, rm, rs, ts;

		ts = i ? 0.5 : 3.0;
		bnnacc_pair_choose(&cal, 1, 1, t, ts, &ip, &im, &am, &as);
		ck_assert(i ? ip == 0.0 && im == 0.0 : ip == 0.0 && im > 0.0);
		ck_assert_double_eq_tol(am, t, 0.5);
		ck_assert(as < (i ? 1.5 : 6.5));
		realise(s, &card, ip, im, 1, &rm, &rs);
		ck_assert_msg(fabs(rm - am) < 1.0 + 0.02 * fabs(am), "reset pair %u mean %.3f vs %.3f",
			      i, rm, am);
		ck_assert_msg(fabs(rs / as - 1.0) < 0.1, "reset pair %u sigma %.3f vs %.3f", i, rs, as);
		worst_m = fmax(worst_m, fabs(rm - am));
		worst_s = fmax(worst_s, fabs(rs / as - 1.0));
	}
	printf("pairs: worst |realised - predicted| mean %.3f uS, sigma %.2f %%\n",
	       worst_m, 100.0 * worst_s);
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(pair_cells_scale)
{
	static const double means[] = { -250, -120, -30, -3, 0, 2, 8, 40, 100, 190, 230, 400 };
	static const double sigs[] = { 0, 0.5, 2, 5, 6.5, 8, 20 };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("pessimistic", 24, &card);
	struct bnnacc_calib cal;
	unsigned i, j, n;

	calibrate(&card, &cal);
	for (n = 2; n <= BNNACC_XFER_MAX_CELLS; n++)
		for (i = 0; i < sizeof(means) / sizeof(means[0]); i++)
			for (j = 0; j < sizeof(sigs) / sizeof(sigs[0]); j++) {
				double ip1, im1, am1, as1, ipn, imn, amn, asn;
				int r1 = bnnacc_pair_choose(&cal, 1, 1, means[i], sigs[j], &ip1, &im1,
							    &am1, &as1);
				int rn = bnnacc_pair_choose(&cal, n, 1, n * means[i],
							    sqrt((double)n) * sigs[j], &ipn, &imn,
							    &amn, &asn);

				/* same cells, n of them: n x the mean, sqrt(n) x the spread */
				ck_assert_int_eq(r1, rn);
				ck_assert(ip1 == ipn && im1 == imn);
				ck_assert_double_eq_tol(amn, n * am1, 1e-9 * (1 + fabs(amn)));
				ck_assert_double_eq_tol(asn, sqrt((double)n) * as1, 1e-9 * asn);
			}
	/* cells 0 counts as 1 */
	{
		double a1, a0, s1, s0;

		bnnacc_pair_choose(&cal, 1, 1, 50, 6, NULL, NULL, &a1, &s1);
		bnnacc_pair_choose(&cal, 0, 0, 50, 6, NULL, NULL, &a0, &s0);
		ck_assert(a1 == a0 && s1 == s0);
	}
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(pair_repeat_toward_prog)
{
	static const double means[] = { 0, 30, 60, 120, 180, -90 };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("pessimistic", 25, &card);
	struct bnnacc_calib cal;
	unsigned i;

	calibrate(&card, &cal);
	for (i = 0; i < sizeof(means) / sizeof(means[0]); i++) {
		double ip, im, am, as1, as64, gp, gm, prog, rd, rm, rs, rs64, a, b, tol;

		bnnacc_pair_choose(&cal, 1, 1, means[i], 0.0, NULL, NULL, NULL, &as1);
		bnnacc_pair_choose(&cal, 1, 64, means[i], 0.0, &ip, &im, &am, &as64);
		ck_assert_double_eq_tol(am, means[i], 1e-6);
		/* the programming spread of the pair chosen, and its read noise */
		gp = ip > 0 ? bnnacc_calib_g(&cal, ip) : -1;
		gm = im > 0 ? bnnacc_calib_g(&cal, im) : -1;
		a = bnnacc_calib_sigma(&cal, gp, 1u << 30);
		b = bnnacc_calib_sigma(&cal, gm, 1u << 30);
		prog = sqrt(a * a + b * b);
		a = bnnacc_calib_sigma(&cal, gp, 1);
		b = bnnacc_calib_sigma(&cal, gm, 1);
		rd = sqrt(a * a + b * b - prog * prog);
		/* 64 reads: the read noise's variance / 64 over the programming spread */
		ck_assert_double_eq_tol(as64 * as64, prog * prog + rd * rd / 64, 1e-6 * as64 * as64);
		ck_assert_msg(as64 < as1, "mean %g: %g reads 64 vs %g at 1", means[i], as64, as1);
		ck_assert(as64 - prog < (sqrt(prog * prog + rd * rd) - prog) / 8 + 1e-9);
		/* and on the card: 64 reads averaged vs one, 6 % */
		/* (RESET/RESET: the log-normal's tails the calibration trims, 10 %) */
		tol = ip == 0.0 && im == 0.0 ? 0.1 : 0.06;
		realise(s, &card, ip, im, 64, &rm, &rs64);
		ck_assert_msg(fabs(rs64 / as64 - 1.0) < tol, "mean %g: 64 reads spread %.3f vs %.3f",
			      means[i], rs64, as64);
		ck_assert_msg(fabs(rm - am) < 1.0 + 0.02 * fabs(am), "mean %g: realised %.3f",
			      means[i], rm);
		realise(s, &card, ip, im, 1, &rm, &rs);
		ck_assert_msg(fabs(rs / sqrt(prog * prog + rd * rd) - 1.0) < tol,
			      "mean %g: one read spread %.3f vs %.3f", means[i], rs,
			      sqrt(prog * prog + rd * rd));
		printf("repeat: mean %4g: pair spread %.3f uS programmed, %.3f at 1 read (realised "
		       "%.3f), %.3f at 64 reads (realised %.3f)\n", means[i], prog,
		       sqrt(prog * prog + rd * rd), rs, as64, rs64);
	}
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(pair_sigma0_quietest)
{
	static const double means[] = { 0, 9, 20, 60, 100, 150, 190, -40, -196 };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 26, &card);
	struct bnnacc_calib cal;
	unsigned i, j, rep;

	calibrate(&card, &cal);
	for (rep = 1; rep <= 64; rep *= 8)
		for (i = 0; i < sizeof(means) / sizeof(means[0]); i++) {
			double ip, im, am, as0, am2, as2, m = fabs(means[i]);

			ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, rep, means[i], 0.0, &ip, &im,
							    &am, &as0), 1);
			ck_assert_double_eq_tol(am, means[i], 1e-6);
			/* no pair of that mean the chooser would give is quieter */
			for (j = 0; j <= 400; j++) {
				bnnacc_pair_choose(&cal, 1, rep, means[i], 0.05 * j, NULL, NULL, &am2,
						   &as2);
				if (fabs(am2 - means[i]) < 1e-6)
					ck_assert_msg(as2 >= as0 - 1e-9, "mean %g: %g quieter than %g",
						      means[i], as2, as0);
			}
			/* nor SET/RESET, nor SET/SET at the bottom */
			if (m + cal.reset_med >= cal.g_lo && m + cal.reset_med <= cal.g_hi) {
				double a = bnnacc_calib_sigma(&cal, m + cal.reset_med, rep);
				double b = bnnacc_calib_sigma(&cal, -1, rep);

				ck_assert(as0 <= sqrt(a * a + b * b) + 1e-9);
			}
			if (m <= cal.g_hi - cal.g_lo) {
				double a = bnnacc_calib_sigma(&cal, cal.g_lo + m, rep);
				double b = bnnacc_calib_sigma(&cal, cal.g_lo, rep);

				ck_assert(as0 <= sqrt(a * a + b * b) + 1e-9);
			}
			if (means[i] == 0.0) {	/* RESET/RESET */
				ck_assert(ip == 0.0 && im == 0.0);
				ck_assert_double_eq_tol(as0, M_SQRT2 * bnnacc_calib_sigma(&cal, -1, rep),
							1e-9);
			}
		}
	/* out of reach: clipped to one of the largest means (the KL may prefer the wider) */
	{
		double am;

		ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, 1, 1000, 0, NULL, NULL, &am, NULL), 0);
		ck_assert(am >= cal.g_hi - cal.g_lo - 0.01 && am <= cal.g_hi - cal.reset_med + 0.01);
		ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, 1, -1000, 0, NULL, NULL, &am, NULL), 0);
		ck_assert(-am >= cal.g_hi - cal.g_lo - 0.01 && -am <= cal.g_hi - cal.reset_med + 0.01);
	}
	bnnacc_sim_free(s);
}
END_TEST

/* Fraction of weights whose (g mu, g sigma) the pair chooser calls reachable */
static double reach_frac(const struct bnnacc_calib *cal, double g, const float *mu,
			 const float *sg, unsigned n)
{
	unsigned i, k = 0;

	for (i = 0; i < n; i++)
		k += bnnacc_pair_choose(cal, 1, 1, g * mu[i], g * sg[i], NULL, NULL, NULL, NULL);
	return (double)k / n;
}

START_TEST(gamma_fit)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 22, &card);
	struct bnnacc_calib cal;
	float mu[400], sg[400];
	uint64_t sd = 5;
	double g, frac, lo, hi;
	unsigned i;

	calibrate(&card, &cal);
	/* compatible: one sigma for all, means well within range */
	for (i = 0; i < 400; i++) {
		mu[i] = (float)(urand(&sd) - 0.5);
		sg[i] = 0.05f;
	}
	g = bnnacc_fit_gamma(&cal, 1, 1, mu, sg, 400, &frac);
	ck_assert_double_eq_tol(frac, 1.0, 1e-12);
	bnnacc_pair_choose(&cal, 1, 1, 0.0, 0.0, NULL, NULL, NULL, &lo);
	bnnacc_pair_choose(&cal, 1, 1, 0.0, 100.0, NULL, NULL, NULL, &hi);
	ck_assert_msg(g * 0.05 >= lo * 0.99 && g * 0.05 <= hi * 1.01, "g %g lo %g hi %g", g, lo, hi);
	ck_assert(g * 0.5 <= cal.g_hi - cal.g_lo);
	/* two cells per sign: the same weights fit at a gain sqrt(2) .. 2 x larger */
	{
		double g2 = bnnacc_fit_gamma(&cal, 2, 1, mu, sg, 400, &frac);

		ck_assert_double_eq_tol(frac, 1.0, 1e-12);
		ck_assert_msg(g2 > g * 1.2, "gamma %g with 2 cells vs %g", g2, g);
	}
	/* mixed: the fit is at least as good as any gain on a fine grid */
	for (i = 0; i < 400; i++) {
		mu[i] = (float)(2.0 * urand(&sd) - 1.0);
		sg[i] = (float)(i < 200 ? 0.5 : 0.05 + 0.02 * urand(&sd));
	}
	g = bnnacc_fit_gamma(&cal, 1, 1, mu, sg, 400, &frac);
	ck_assert(g > 0);
	ck_assert_msg(fabs(reach_frac(&cal, g, mu, sg, 400) - frac) < 0.02, "frac %g", frac);
	for (i = 0; i < 300; i++) {
		double g2 = g * pow(10.0, -1.5 + 3.0 * i / 299);

		ck_assert_msg(reach_frac(&cal, g2, mu, sg, 400) <= frac + 0.02,
			      "gain %g reaches %g > fitted %g at %g", g2,
			      reach_frac(&cal, g2, mu, sg, 400), frac, g);
	}
	ck_assert_msg(frac >= 0.25 && frac < 0.75, "frac %g", frac);
	/* nothing to fit */
	memset(mu, 0, sizeof(mu));
	memset(sg, 0, sizeof(sg));
	ck_assert(bnnacc_fit_gamma(&cal, 1, 1, mu, sg, 400, &frac) < 0);
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(pair_clipped_mean)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 23, &card);
	struct bnnacc_calib cal;
	double ip, im, am, as;

	calibrate(&card, &cal);
	ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, 1, 500.0, 7.5, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, cal.g_hi - cal.g_lo, 0.5);
	ck_assert_double_eq_tol(ip, card.info.iset_max_na / 1000.0, 0.01);
	ck_assert_double_eq_tol(im, card.info.iset_min_na / 1000.0, 0.01);
	ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, 1, -500.0, 7.5, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, -(cal.g_hi - cal.g_lo), 0.5);
	/* sigma out of reach at a reachable mean: clamped, mean kept */
	ck_assert_int_eq(bnnacc_pair_choose(&cal, 1, 1, 40.0, 1.0, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, 40.0, 0.5);
	ck_assert(as > 3.0);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* tiles                                                                   */
/* ---------------------------------------------------------------------- */

static int overlap(const struct bnnacc_region *a, const struct bnnacc_region *b)
{
	return a->row < b->row + b->rows && b->row < a->row + a->rows &&
	       a->col < b->col + b->cols && b->col < a->col + a->cols;
}

static void check_tiles(const struct bnnacc_region *t, unsigned n, const uint8_t *stuck)
{
	unsigned i, j, r, c;

	for (i = 0; i < n; i++) {
		ck_assert_uint_le(t[i].row + t[i].rows, BNC_ROWS);
		ck_assert_uint_le(t[i].col + t[i].cols, BNC_COLS);
		for (j = 0; j < i; j++)
			ck_assert_msg(!overlap(&t[i], &t[j]), "tiles %u and %u overlap", i, j);
		for (r = 0; stuck && r < t[i].rows; r++)
			for (c = 0; c < t[i].cols; c++)
				ck_assert(!stuck[(t[i].row + r) * BNC_COLS + t[i].col + c]);
	}
}

START_TEST(tiles_max_and_stuck)
{
	static struct bnnacc_region t[BNC_CELLS * 2];
	static uint8_t stuck[BNC_CELLS];
	unsigned h = 32, w = 32, h2[2] = { 6, 34 }, w2[2] = { 16, 2 };
	uint64_t s = 3;
	int n, i;

	ck_assert_int_eq(bnnacc_alloc_tiles(NULL, BNC_ROWS, BNC_COLS, 1, &h, &w, 0, t), 16);
	check_tiles(t, 16, NULL);
	stuck[0] = 1;
	ck_assert_int_eq(bnnacc_alloc_tiles(stuck, BNC_ROWS, BNC_COLS, 1, &h, &w, 0, t), 15);
	check_tiles(t, 15, stuck);
	/* a stuck cell in every 32 x 32 block: none fits */
	for (i = 0; i < 16; i++)
		stuck[(i / 4 * 32 + 31) * BNC_COLS + i % 4 * 32 + 31] = 1;
	ck_assert_int_eq(bnnacc_alloc_tiles(stuck, BNC_ROWS, BNC_COLS, 1, &h, &w, 0, t), 0);
	/* two layers, random stuck cells (0.5 %), a bounded request */
	memset(stuck, 0, sizeof(stuck));
	for (i = 0; i < 82; i++)
		stuck[(unsigned)(urand(&s) * BNC_CELLS)] = 1;
	n = bnnacc_alloc_tiles(stuck, BNC_ROWS, BNC_COLS, 2, h2, w2, 0, t);
	ck_assert_int_gt(n, 40);
	/* area bound: (6*16 + 34*2) cells per network */
	ck_assert_int_le(n, BNC_CELLS / (6 * 16 + 34 * 2));
	check_tiles(t, 2 * (unsigned)n, stuck);
	ck_assert_int_eq(bnnacc_alloc_tiles(stuck, BNC_ROWS, BNC_COLS, 2, h2, w2, 10, t), 10);
}
END_TEST

/* Every tile of @net: within the array, clear of the reference column, no overlap per card */
static void check_net_tiles(const struct bnnacc_net *net, struct bnnacc_sim *const *sims)
{
	const struct bnnacc_model *m = net->model;
	unsigned k, l, p, card, r, c, k2, l2, p2, card2;
	struct bnnacc_part pt;

	for (k = 0; k < bnnacc_net_m(net); k++)
		for (l = 0; l < m->n_layers; l++)
			for (p = 0; bnnacc_net_part(net, l, p, &pt) == 0; p++) {
				const struct bnnacc_region *t = bnnacc_net_tile(net, k, l, p, &card);
				struct bnc_array *a = bnl_sim_array(sims[card], NULL);

				ck_assert_ptr_nonnull(t);
				ck_assert_uint_eq(t->rows, 2 * pt.cells * (pt.in1 - pt.in0));
				ck_assert_uint_eq(t->cols, pt.out1 - pt.out0);
				ck_assert_uint_le(t->row + t->rows, BNC_ROWS);
				ck_assert_uint_le(t->col + t->cols, BNC_COLS - 1);
				for (r = 0; r < t->rows; r++)
					for (c = 0; c < t->cols; c++)
						ck_assert_msg(!bnc_is_stuck(a, t->row + r, t->col + c),
							      "network %u layer %u covers a stuck cell",
							      k, l);
				for (k2 = 0; k2 <= k; k2++)
					for (l2 = 0; l2 < m->n_layers; l2++)
						for (p2 = 0; bnnacc_net_part(net, l2, p2, &pt) == 0; p2++) {
							const struct bnnacc_region *t2 =
								bnnacc_net_tile(net, k2, l2, p2, &card2);

							if (t2 == t)
								break;
							ck_assert(card2 != card || !overlap(t, t2));
						}
				bnnacc_net_part(net, l, p, &pt);
			}
}

START_TEST(transfer_avoids_stuck_cells)
{
	struct bnc_params p;
	struct bnnacc_card card;
	struct bnnacc_sim *s;
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 4);
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	struct bnnacc_xfer_opts o;
	char err[256];

	bnc_params_default(&p);
	p.stuck_frac = 0.01;		/* 164 stuck cells */
	s = mk_sim_params(&p, 31, &card);
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	net = transfer1(&card, &cal, m, &o);
	ck_assert_uint_gt(bnnacc_net_m(net), 40);
	check_net_tiles(net, &s);
	ck_assert_ptr_null(bnnacc_net_tile(net, bnnacc_net_m(net), 0, 0, NULL));
	ck_assert_ptr_null(bnnacc_net_tile(net, 0, 2, 0, NULL));
	ck_assert_ptr_null(bnnacc_net_tile(net, 0, 0, 1, NULL));
	bnnacc_net_free(net);
	/* asking for more than fits; the message buffer may hold anything before */
	o.m = 5000;
	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = 0;
	ck_assert_int_eq(transfer_n(&net, (struct bnnacc_card *[]){ &card }, &cal, 1, m, &o, err,
				    sizeof(err)), -ENOSPC);
	ck_assert_ptr_null(net);
	ck_assert_msg(strstr(err, "fit") && strstr(err, "asked 5000"), "%s", err);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/*
 * Cells per sign: the least expected error of the networks' spread. A
 * posterior wider than the device (KL ~0 at any cells) keeps one cell, so
 * the most networks; one far narrower than a cell's spread takes more
 * cells, whether M is free (this small model fits hundreds) or asked.
 */
START_TEST(cells_rule)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 53, &card);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 54);
	const struct bnnacc_xfer_report *x;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	unsigned l, want;
	size_t i;

	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.mode = BNNACC_XFER_SAMPLES;
	o.repeat = 1;
	for (l = 0; l < 2; l++)
		for (i = 0; i < layer_nw(m, l); i++)
			m->layer[l].std[i] = 0.3f;
	net = transfer1(&card, &cal, m, &o);
	x = bnnacc_net_xfer_report(net);
	ck_assert_uint_eq(x->cells, 1);
	ck_assert_msg(strstr(x->why, "1 -> M ") && strstr(x->why, "error"), "%s", x->why);
	bnnacc_net_free(net);

	for (want = 0; want <= 4; want += 4) {
		for (l = 0; l < 2; l++)
			for (i = 0; i < layer_nw(m, l); i++)
				m->layer[l].std[i] = 0.002f;
		o.m = want;
		net = transfer1(&card, &cal, m, &o);
		x = bnnacc_net_xfer_report(net);
		ck_assert_msg(x->cells > 1, "M %u: %u cells: %s", want, x->cells, x->why);
		if (want)
			ck_assert_uint_eq(x->m, want);
		bnnacc_net_free(net);
	}
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SAMPLES mode: each network its own draw, read back from the array       */
/* ---------------------------------------------------------------------- */

#define SM_M 64

START_TEST(samples_gauss_draws)
{
	static double g[BNC_CELLS];
	double *gp[1] = { g };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 51, &card);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 52);
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	const struct bnnacc_xfer_report *x;
	double q[SM_M], sq = 0, zm, zs, zlim, gam, corr_sum = 0, ratio_sum = 0, worst = 0;
	double worst_t = 0, d[SM_M], t[SM_M];
	unsigned l, k, nw_all = 0, snapped = 0;
	size_t i;
	uint64_t sd = 3;

	/* posterior std 0.2 .. 0.4: well above the device's spread */
	for (l = 0; l < 2; l++)
		for (i = 0; i < layer_nw(m, l); i++)
			m->layer[l].std[i] = (float)(0.2 + 0.2 * urand(&sd));
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.mode = BNNACC_XFER_SAMPLES;
	o.cells = 1;
	o.repeat = 16;
	o.m = SM_M;
	net = transfer1(&card, &cal, m, &o);
	x = bnnacc_net_xfer_report(net);
	ck_assert_uint_eq(x->mode, BNNACC_XFER_SAMPLES);
	ck_assert_uint_eq(x->m, SM_M);
	ck_assert_uint_eq(x->repeat, 16);
	ck_assert_uint_eq(x->cells, 1);
	ck_assert_uint_eq(x->clipped, 0);
	/* the read-back: 16 reads averaged, as the MVM will */
	read_array(&card, 16, g);
	zlim = readback_z(net, gp, &zm, &zs);
	printf("samples: gamma %.2f, %.2f uS; read-back vs prediction z mean %.3f sd %.3f\n",
	       bnnacc_net_gamma(net, 0), bnnacc_net_gamma(net, 1), zm, zs);
	ck_assert_msg(fabs(zm) < zlim && fabs(zs - 1.0) < 0.08, "z mean %.3f sd %.3f", zm, zs);
	/* the Latin hypercube's quantiles */
	for (k = 0; k < SM_M; k++) {
		q[k] = quantile((k + 0.5) / SM_M);
		sq += q[k] * q[k] / (SM_M - 1);
	}
	for (l = 0; l < 2; l++) {
		unsigned nin = m->layer[l].n_in;

		gam = bnnacc_net_gamma(net, l);
		ck_assert(gam > 0);
		for (i = 0; i < layer_nw(m, l); i++) {
			/* (the network's copy: a layer's biases may be scaled, net->bscale) */
			double mu = net->model->layer[l].mean[i], sg = net->model->layer[l].std[i];
			double dev, f, sig;
			double a = 0, a2 = 0, b = 0, b2 = 0, ab = 0, dm, tm;

			/* the device spread of the quietest pair of the mean, as the library takes it */
			bnnacc_pair_choose(&cal, 1, 16, gam * mu, 0.0, NULL, NULL, NULL, &dev);
			dev /= gam;
			f = sqrt(1.0 - dev * dev / (sg * sg));
			for (k = 0; k < SM_M; k++) {
				weight_pred(net, k, l, i, &t[k], &sig);
				d[k] = weight_read(net, gp, k, l, (unsigned)(i / (nin + 1)),
						   (unsigned)(i % (nin + 1)));
				a += d[k] / SM_M;
				b += t[k] / SM_M;
			}
			for (k = 0; k < SM_M; k++) {
				a2 += (d[k] - a) * (d[k] - a);
				b2 += (t[k] - b) * (t[k] - b);
				ab += (d[k] - a) * (t[k] - b);
			}
			/* networks differ as their draws: realised follows each network's target */
			corr_sum += ab / sqrt(a2 * b2);
			ck_assert_msg(ab / sqrt(a2 * b2) > 0.9, "layer %u weight %zu: correlation %.3f",
				      l, i, ab / sqrt(a2 * b2));
			/* the targets are the posterior's quantiles, shrunk by the device's spread */
			qsort(t, SM_M, sizeof(double), cmp_double);
			for (k = 0; k < SM_M; k++) {
				double want = gam * (mu + f * sg * q[k]);

				if (t[k] == 0.0 && fabs(want) < 3.0) {	/* RESET/RESET, nearer in KL */
					snapped++;
					continue;
				}
				worst_t = fmax(worst_t, fabs(t[k] - want));
				ck_assert_msg(fabs(t[k] - want) < 1e-3,
					      "layer %u weight %zu network %u: target %.4f, draw %.4f",
					      l, i, k, t[k], want);
			}
			/* a weight's spread over the networks is the posterior's: 15 % each */
			dm = sqrt(a2 / (SM_M - 1)) / gam;
			tm = sqrt(f * f * sg * sg * sq + dev * dev);
			ck_assert_msg(fabs(dm / tm - 1.0) < 0.15,
				      "layer %u weight %zu: spread %.4f, expected %.4f (std %.4f)",
				      l, i, dm, tm, sg);
			/* the quantiles' mean is 0: the networks' mean is mu, to the device's noise */
			ck_assert_msg(fabs(a / gam - mu) < 4.0 * dev / sqrt(SM_M) + 0.002,
				      "layer %u weight %zu: mean %.4f vs %.4f", l, i, a / gam, mu);
			ratio_sum += dm / sg;
			worst = fmax(worst, fabs(dm / tm - 1.0));
			nw_all++;
		}
	}
	printf("samples: targets within %.2g uS of the draws (%u near 0 on RESET pairs); "
	       "correlation realised/target %.4f; spread / posterior std %.4f (worst %.1f %%)\n",
	       worst_t, snapped, corr_sum / nw_all, ratio_sum / nw_all, 100 * worst);
	/* and on average the posterior std within 3 % */
	ck_assert_msg(fabs(ratio_sum / nw_all - 1.0) < 0.03, "spread / std %.4f",
		      ratio_sum / nw_all);
	ck_assert_uint_lt(snapped, nw_all * SM_M / 50);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(samples_model_stored)
{
	static double g[BNC_CELLS];
	double *gp[1] = { g };
	const unsigned ns = 16, mm = 2 * 16;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 53, &card);
	struct bnnacc_model *m, *ach;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	static const uint32_t dims[] = { 2, 8, 3 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	float mu[27], sd[27];
	double zm, zs, zlim, gam, worst = 0, corr = 0;
	unsigned l, k, n = 0;
	uint64_t seed = 9;
	size_t i;

	/* stored samples: mean U(-1, 1), std 0.3 */
	ck_assert_int_eq(bnnacc_model_new(&m, BNNACC_MODEL_SAMPLES, 2, dims, acts, ns), 0);
	for (l = 0; l < 2; l++)
		for (i = 0; i < layer_nw(m, l); i++) {
			double c = 2.0 * urand(&seed) - 1.0;

			for (k = 0; k < ns; k++)
				m->layer[l].samples[k * layer_nw(m, l) + i] =
					(float)(c + 0.3 * nrand(&seed));
		}
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 8;
	o.m = mm;	/* networks k and k + 16 hold sample k */
	net = transfer1(&card, &cal, m, &o);
	ck_assert_uint_eq(bnnacc_net_xfer_report(net)->mode, BNNACC_XFER_SAMPLES);	/* default */
	read_array(&card, 8, g);
	zlim = readback_z(net, gp, &zm, &zs);
	ck_assert_msg(fabs(zm) < zlim && fabs(zs - 1.0) < 0.08, "z mean %.3f sd %.3f", zm, zs);
	for (l = 0; l < 2; l++) {
		size_t nw = layer_nw(m, l);
		unsigned nin = m->layer[l].n_in;

		/* (the network's copy: a layer's biases may be scaled, net->bscale) */
		ck_assert_int_eq(bnnacc_model_moments(net->model, l, mu, sd), 0);
		gam = bnnacc_net_gamma(net, l);
		for (i = 0; i < nw; i++) {
			double dev, f, a = 0, a2 = 0, b = 0, b2 = 0, ab = 0;

			bnnacc_pair_choose(&cal, 1, 8, gam * mu[i], 0.0, NULL, NULL, NULL, &dev);
			dev /= gam;
			f = sd[i] > dev ? sqrt(1.0 - dev * dev / ((double)sd[i] * sd[i])) : 0.0;
			for (k = 0; k < mm; k++) {
				double v = net->model->layer[l].samples[(k % ns) * nw + i], pm, ps, want, r;

				/* the stored sample, shrunk towards the mean by f */
				want = gam * (mu[i] + f * (v - mu[i]));
				weight_pred(net, k, l, i, &pm, &ps);
				if (!(pm == 0.0 && fabs(want) < 3.0)) {
					ck_assert_msg(fabs(pm - want) < 1e-3,
						      "layer %u weight %zu network %u: %.4f vs %.4f",
						      l, i, k, pm, want);
					worst = fmax(worst, fabs(pm - want));
				}
				r = weight_read(net, gp, k, l, (unsigned)(i / (nin + 1)),
						(unsigned)(i % (nin + 1)));
				a += r;
				a2 += r * r;
				b += v;
				b2 += v * v;
				ab += r * v;
			}
			a /= mm;
			b /= mm;
			corr += (ab / mm - a * b) / sqrt((a2 / mm - a * a) * (b2 / mm - b * b));
			n++;
		}
	}
	printf("samples model: gamma %.2f, %.2f; targets within %.2g uS of the shrunk samples; "
	       "z mean %.3f sd %.3f; correlation read-back/stored sample %.4f\n",
	       bnnacc_net_gamma(net, 0), bnnacc_net_gamma(net, 1), worst, zm, zs, corr / n);
	ck_assert_msg(corr / n > 0.95, "correlation %.4f", corr / n);
	/* the card's model: each network's draw with the device spread */
	ck_assert_int_eq(bnnacc_net_achieved(net, &ach), 0);
	ck_assert_uint_eq(ach->kind, BNNACC_MODEL_SAMPLES);
	ck_assert_uint_eq(ach->n_samples % mm, 0);
	bnnacc_model_free(ach);
	bnnacc_net_free(net);
	/* more samples than networks: evenly spaced over the chain (8 of 16: every 2nd) */
	o.m = 8;
	net = transfer1(&card, &cal, m, &o);
	gam = bnnacc_net_gamma(net, 1);
	ck_assert_int_eq(bnnacc_model_moments(net->model, 1, mu, sd), 0);
	for (k = 0; k < 8; k++)
		for (i = 0; i < layer_nw(m, 1); i++) {
			double v = net->model->layer[1].samples[(2 * k) * layer_nw(m, 1) + i], dev, f;
			double pm, ps;
			double want;

			bnnacc_pair_choose(&cal, 1, 8, gam * mu[i], 0.0, NULL, NULL, NULL, &dev);
			dev /= gam;
			f = sd[i] > dev ? sqrt(1.0 - dev * dev / ((double)sd[i] * sd[i])) : 0.0;
			want = gam * (mu[i] + f * (v - mu[i]));
			weight_pred(net, k, 1, i, &pm, &ps);
			if (!(pm == 0.0 && fabs(want) < 3.0))
				ck_assert_msg(fabs(pm - want) < 1e-3, "network %u weight %zu: %.4f vs %.4f",
					      k, i, pm, want);
		}
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* layers split into tiles: partial sums                                   */
/* ---------------------------------------------------------------------- */

/*
 * A noise-free card against the software model: the card's networks all
 * hold the model's means (std 0), so the only differences are the DAC and
 * ADC quantisation. Compared as the 2-class logit log(p1 / p0).
 */
static void split_vs_soft(unsigned nl, const uint32_t *dims, const uint32_t *acts,
			  const double *mu_scale, unsigned min_parts0, double tol_max,
			  double tol_mean, const char *what)
{
	struct bnc_params p;
	struct bnnacc_card card;
	struct bnnacc_sim *s;
	struct bnnacc_model *m = mk_gauss(nl, dims, acts, mu_scale, 0.0, 61);
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	struct bnnacc_result hw, sw;
	struct bnnacc_part pt;
	const unsigned n = 40;
	float *x = malloc((size_t)n * dims[0] * sizeof(float));
	double worst = 0, sum = 0, spread = 0;
	char err[256] = "";
	unsigned l, v, k, parts, tiles = 0;
	uint64_t sd = 17;
	size_t i;

	quiet_params(&p);
	s = mk_sim_params(&p, 62, &card);
	calibrate(&card, &cal);
	for (i = 0; i < (size_t)n * dims[0]; i++)
		x[i] = (float)(2.0 * urand(&sd) - 1.0);
	net = transfer1(&card, &cal, m, NULL);
	ck_assert_uint_ge(bnnacc_net_m(net), 2);
	for (l = 0; l < nl; l++) {
		uint8_t *cover = calloc(layer_nw(m, l), 1);
		unsigned j;

		for (parts = 0; bnnacc_net_part(net, l, parts, &pt) == 0; parts++) {
			/* a part fits the array less its reference column */
			ck_assert_uint_le(2 * pt.cells * (pt.in1 - pt.in0), BNC_ROWS);
			ck_assert_uint_le(pt.out1 - pt.out0, BNC_COLS - 1);
			for (j = pt.out0; j < pt.out1; j++)
				for (i = pt.in0; i < pt.in1; i++)
					cover[j * (m->layer[l].n_in + 1) + i]++;
		}
		ck_assert_uint_eq(parts, bnnacc_net_report(net, l)->parts);
		/* the parts cover the layer's matrix exactly once */
		for (i = 0; i < layer_nw(m, l); i++)
			ck_assert_uint_eq(cover[i], 1);
		free(cover);
		if (l == 0)
			ck_assert_uint_ge(parts, min_parts0);
		tiles += parts;
	}
	ck_assert_uint_eq(tiles, bnnacc_net_xfer_report(net)->tiles);
	check_net_tiles(net, &s);
	ck_assert_msg(bnnacc_infer(net, x, n, &hw, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(bnnacc_infer_soft(m, 1, 1, x, n, &sw), 0);
	for (v = 0; v < n; v++) {
		double ls = log(sw.probs[v * 2 + 1] / sw.probs[v * 2]);

		spread += fabs(ls) / n;
		for (k = 0; k < hw.m; k++) {
			const double *ph = hw.probs + ((size_t)v * hw.m + k) * 2;
			double lh = log(ph[1] / ph[0]);

			worst = fmax(worst, fabs(lh - ls));
			sum += fabs(lh - ls) / n / hw.m;
		}
	}
	printf("split %s: M %u, parts of layer 0 %u, |logit| %.3f on average; card vs software "
	       "logit: mean |d| %.4f, worst %.4f\n", what, bnnacc_net_m(net),
	       bnnacc_net_report(net, 0)->parts, spread, sum, worst);
	ck_assert_msg(spread > 0.5, "a test of little use: logits %.3f", spread);
	ck_assert_msg(worst < tol_max && sum < tol_mean, "logit error: worst %.4f mean %.4f",
		      worst, sum);
	bnnacc_result_free(&hw);
	bnnacc_result_free(&sw);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
	free(x);
}

START_TEST(split_inputs_partial_sums)
{
	static const uint32_t dims[] = { 100, 4, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	static const double scale[] = { 0.25, 2.0 };

	/*
	 * 101 inputs need 202 rows: layer 0 in 2 parts whose column sums the
	 * host adds. Tolerance: quantisation only (7-bit DAC, 9-bit ADC),
	 * logit within 0.1 at worst, 0.03 on average.
	 */
	split_vs_soft(2, dims, acts, scale, 2, 0.1, 0.03, "100-4-2");
}
END_TEST

START_TEST(split_outputs_wide)
{
	static const uint32_t dims[] = { 3, 200, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	static const double scale[] = { 1.0, 0.2 };

	/* 200 outputs over 127 columns: layer 0 in 2 parts, layer 1 (201 inputs) in 4 */
	split_vs_soft(2, dims, acts, scale, 2, 0.1, 0.03, "3-200-2");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* several cards                                                           */
/* ---------------------------------------------------------------------- */

START_TEST(multi_card)
{
	static double g0[BNC_CELLS], g1[BNC_CELLS];
	double *gp[2] = { g0, g1 };
	struct bnnacc_card card[2];
	struct bnnacc_card *cards[2] = { &card[0], &card[1] };
	struct bnnacc_sim *s[2];
	struct bnnacc_calib cal[2];
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 71);
	struct bnnacc_xfer_opts o;
	struct bnnacc_net *net;
	struct bnnacc_result hw, sw;
	const struct bnnacc_xfer_report *x;
	float xin[60 * 2];
	double zm, zs, zlim;
	unsigned i, k, m1, m2, on1 = 0, agree = 0, c;
	char err[512] = "";

	for (i = 0; i < 2; i++) {
		s[i] = mk_sim("hfox", 72 + i, &card[i]);
		calibrate(&card[i], &cal[i]);
	}
	for (i = 0; i < 60; i++) {
		xin[2 * i] = (float)(-2.0 + 4.0 * (i % 10) / 9.0);
		xin[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 10) / 5.0);
	}
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 8;
	net = transfer1(&card[0], &cal[0], m, &o);
	m1 = bnnacc_net_m(net);
	bnnacc_net_free(net);
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), 0);
	m2 = bnnacc_net_m(net);
	x = bnnacc_net_xfer_report(net);
	printf("multi-card: M %u on one card, %u on two\n", m1, m2);
	ck_assert_uint_gt(m2, m1 + m1 / 2);
	ck_assert_uint_eq(x->cards, 2);
	ck_assert_uint_eq(x->m, m2);
	check_net_tiles(net, s);
	/* networks fill card 0, then card 1; every part of a network on its card */
	for (k = 0; k < m2; k++) {
		struct bnnacc_part pt;
		unsigned l, p, c2;

		ck_assert_ptr_nonnull(bnnacc_net_tile(net, k, 0, 0, &c));
		ck_assert_uint_lt(c, 2);
		ck_assert_msg(c == 1 || on1 == 0, "network %u on card 0 after card 1's", k);
		on1 += c;
		for (l = 0; l < 2; l++)
			for (p = 0; bnnacc_net_part(net, l, p, &pt) == 0; p++) {
				ck_assert_ptr_nonnull(bnnacc_net_tile(net, k, l, p, &c2));
				ck_assert_uint_eq(c2, c);
			}
	}
	ck_assert_uint_gt(on1, 0);
	ck_assert_uint_lt(on1, m2);
	/* card 0 holds what it holds alone (the stuck test's few noisy cells aside) */
	ck_assert_msg(m2 - on1 + 4 >= m1 && m2 - on1 <= m1 + 4, "card 0: %u, alone %u",
		      m2 - on1, m1);
	/* and there physically: each network read back from its card matches its prediction */
	read_array(&card[0], 8, g0);
	read_array(&card[1], 8, g1);
	zlim = readback_z(net, gp, &zm, &zs);
	printf("multi-card: %u networks on card 1; read-back z mean %.3f sd %.3f\n", on1, zm, zs);
	ck_assert_msg(fabs(zm) < zlim && fabs(zs - 1.0) < 0.08, "z mean %.3f sd %.3f", zm, zs);
	/* the other card's array at the same place does not hold it: z far from 1 */
	{
		double *swap[2] = { g1, g0 };

		readback_z(net, swap, &zm, &zs);
		ck_assert_msg(zs > 2.0, "swapped cards: z sd %.3f", zs);
	}
	/* inference over both cards */
	ck_assert_msg(bnnacc_infer(net, xin, 60, &hw, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(hw.m, m2);
	ck_assert_int_eq(bnnacc_infer_soft(m, m2, 3, xin, 60, &sw), 0);
	for (i = 0; i < 60; i++) {
		unsigned ah = 0, as = 0, j;

		for (j = 1; j < 3; j++) {
			ah = hw.mean[i * 3 + j] > hw.mean[i * 3 + ah] ? j : ah;
			as = sw.mean[i * 3 + j] > sw.mean[i * 3 + as] ? j : as;
		}
		agree += ah == as;
	}
	ck_assert_uint_ge(agree, 54);
	bnnacc_result_free(&hw);
	bnnacc_result_free(&sw);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	for (i = 0; i < 2; i++)
		bnnacc_sim_free(s[i]);
}
END_TEST

START_TEST(multi_card_no_space)
{
	static const uint32_t dims[] = { 300, 60, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_RELU, BNNACC_ACT_SOFTMAX };
	static const double scale[] = { 0.1, 1.0 };
	struct bnnacc_card card[2];
	struct bnnacc_card *cards[2] = { &card[0], &card[1] };
	struct bnnacc_sim *s[2];
	struct bnnacc_calib cal[2];
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 73), *big;
	struct bnnacc_xfer_opts o;
	struct bnnacc_net *net;
	struct bnc_params p;
	char err[512], want[64];
	unsigned i, m2;

	/*
	 * no stuck cells, and no stuck test: the quick test's few false
	 * positives (RESET cells in the log-normal's tail) would make the
	 * count vary by a network or two from one transfer to the next
	 */
	bnc_params_default(&p);
	p.stuck_frac = 0.0;
	for (i = 0; i < 2; i++) {
		s[i] = mk_sim_params(&p, 74 + i, &card[i]);
		calibrate(&card[i], &cal[i]);
	}
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.skip_stuck_test = 1;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), 0);
	m2 = bnnacc_net_m(net);
	bnnacc_net_free(net);
	/* one more than fits: -ENOSPC naming how many do */
	o.m = m2 + 1;
	memset(err, 'x', sizeof(err) - 1);	/* whatever the buffer held */
	err[sizeof(err) - 1] = 0;
	net = (void *)1;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), -ENOSPC);
	ck_assert_ptr_null(net);
	snprintf(want, sizeof(want), "only %u sampled networks fit on 2 cards", m2);
	ck_assert_msg(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
	/* exactly as many as fit is fine */
	o.m = m2;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(bnnacc_net_m(net), m2);
	bnnacc_net_free(net);
	/* a model no card can hold: 2 x (301 x 60 + 61 x 2) cells */
	big = mk_gauss(2, dims, acts, scale, 0.05, 75);
	o.m = 0;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, big, &o, err, sizeof(err)), -ENOSPC);
	ck_assert_msg(strstr(err, "36364 cells") && strstr(err, "no network fits") &&
		      strstr(err, "smaller model"), "%s", err);
	printf("no space: \"%s\"\n", err);
	bnnacc_model_free(big);
	/* bad arguments */
	o.cells = BNNACC_XFER_MAX_CELLS + 1;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), -EINVAL);
	o.cells = 1;
	o.repeat = 3;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "power of two"), "%s", err);
	o.repeat = 0;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 0, m, &o, err, sizeof(err)), -EINVAL);
	/* a card that cannot sum repeats: one read only */
	card[1].info.features &= ~BNNACC_FEAT_MVM_SUM;
	o.repeat = 4;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), -EOPNOTSUPP);
	o.repeat = 0;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(bnnacc_net_xfer_report(net)->repeat, 1);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	for (i = 0; i < 2; i++)
		bnnacc_sim_free(s[i]);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* drift: reference cells, gain, refresh                                   */
/* ---------------------------------------------------------------------- */

/*
 * Mean squared difference of two results' predictive means (the networks'
 * own relaxation spread averages out over them; a gain error does not)
 */
static double msd(const struct bnnacc_result *a, const struct bnnacc_result *b)
{
	size_t i, n = (size_t)a->n * a->c;
	double s = 0;

	for (i = 0; i < n; i++)
		s += pow(a->mean[i] - b->mean[i], 2);
	return s / n;
}

/*
 * Mean and spread of the reference cells' exact conductance now over at
 * @t0 (noise-free); *n gets how many the check uses
 */
static double ref_ratio(struct bnnacc_sim *s, const struct bnnacc_net *net, uint64_t t0,
			double *sd, unsigned *n)
{
	struct bnc_array *a;
	uint64_t now;
	double sum = 0, s2 = 0, q;
	unsigned r;

	a = bnl_sim_array(s, &now);
	*n = 0;
	for (r = 0; r < BNC_ROWS; r++) {
		if (net->card[0].ref_base[r] <= 0)
			continue;
		q = bnc_cell_g_us(a, r, BNC_COLS - 1, now) / bnc_cell_g_us(a, r, BNC_COLS - 1, t0);
		sum += q;
		s2 += q * q;
		(*n)++;
	}
	ck_assert_uint_gt(*n, 100);
	sum /= *n;
	*sd = sqrt(s2 / *n - sum * sum);
	return sum;
}

START_TEST(drift_check_and_refresh)
{
	static const double ages[] = { 60.0, DAY, YEAR };
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("pessimistic", 81, &card);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 82);
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	struct bnnacc_drift d;
	struct bnnacc_result fresh, before, after;
	struct bnc_params p;
	static double g[BNC_CELLS];
	double *gp[1] = { g };
	float x[120 * 2];
	double t0, prev_excess = -1, l0, zm, zs, zlim;
	uint64_t tb;
	char err[256] = "";
	unsigned i;

	bnc_params_preset(&p, "pessimistic");
	for (i = 0; i < 120; i++) {
		x[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		x[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.m = 32;
	o.repeat = 16;
	net = transfer1(&card, &cal, m, &o);
	/* the baseline was read one settle time (6 s) after programming */
	tb = sim_now(s);
	t0 = 6.0;
	l0 = log(t0 / p.drift_t_ref_s);
	ck_assert_msg(bnnacc_net_check(net, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_double_eq_tol(d.gain, 1.0, 0.003);
	ck_assert_uint_eq(d.checks, 1);
	ck_assert_msg(bnnacc_infer(net, x, 120, &fresh, err, sizeof(err)) == 0, "%s", err);
	/* the noise floor: two runs of the fresh card differ by the read noise */
	ck_assert_msg(bnnacc_infer(net, x, 120, &before, err, sizeof(err)) == 0, "%s", err);
	printf("drift: msd of two fresh runs %.2e\n", msd(&before, &fresh));
	bnnacc_result_free(&before);
	for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		double t = t0 + ages[i], law, exact, exact_sd, samp;
		unsigned nref;

		bnnacc_sim_advance(s, ages[i] - (i ? ages[i - 1] : 0.0));
		ck_assert_msg(bnnacc_infer(net, x, 120, &before, err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(bnnacc_net_check(net, &d, err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(bnnacc_infer(net, x, 120, &after, err, sizeof(err)) == 0, "%s", err);
		/* the law, relative to the baseline */
		law = (1.0 - p.drift_nu * log(t / p.drift_t_ref_s)) / (1.0 - p.drift_nu * l0);
		exact = ref_ratio(s, net, tb - 1000, &exact_sd, &nref);
		/* the reference cells' own relaxation spread, averaged over them */
		samp = p.drift_sig * log(t / t0) / sqrt((double)nref);
		printf("drift %8.0f s: gain %.5f, law %.5f (%+.3f %%), reference cells %.5f "
		       "(%+.3f %%, sampling sd %.3f %%); spread %.4f (cells %.4f), excess %.4f, "
		       "refresh %d; msd to fresh %.2e uncorrected, %.2e corrected\n", ages[i],
		       d.gain, law, 100 * (d.gain / law - 1), exact, 100 * (d.gain / exact - 1),
		       100 * samp, d.spread, exact_sd, d.excess, d.refresh, msd(&before, &fresh),
		       msd(&after, &fresh));
		/*
		 * The gain is what the reference cells say to 0.3 %; they follow
		 * the law to 0.3 % plus 3 standard errors of their own relaxation
		 * spread (drift_sig ln(t / t0) over ~128 cells: 0.27 % at a year)
		 */
		ck_assert_msg(fabs(d.gain / exact - 1.0) < 0.003, "gain %.5f, cells %.5f",
			      d.gain, exact);
		ck_assert_msg(fabs(d.gain / law - 1.0) < 0.003 + 3.0 * samp, "gain %.5f, law %.5f",
			      d.gain, law);
		/*
		 * the spread relaxation added, read noise taken out: the cells' own
		 * within 15 % once it is over the read noise left in 8 reads
		 * (0.02 sqrt(2 / 8) = 1 % per cell: 0.1 % over the cells)
		 */
		if (exact_sd > 0.01)
			ck_assert_msg(fabs(d.spread / exact_sd - 1.0) < 0.15, "spread %.4f, cells %.4f",
				      d.spread, exact_sd);
		else
			ck_assert_msg(d.spread < exact_sd + 0.003, "spread %.4f, cells %.4f", d.spread,
				      exact_sd);
		ck_assert_msg(d.excess > prev_excess, "excess %.4f after %.4f", d.excess, prev_excess);
		prev_excess = d.excess;
		ck_assert_uint_eq(d.checks, i + 2);
		/* the correction brings the card back towards fresh: half the error at most */
		ck_assert_msg(msd(&after, &fresh) < 0.5 * msd(&before, &fresh),
			      "corrected %.3g vs uncorrected %.3g", msd(&after, &fresh),
			      msd(&before, &fresh));
		ck_assert_int_eq(d.refresh, ages[i] >= YEAR);
		bnnacc_result_free(&before);
		bnnacc_result_free(&after);
	}
	/* a year on, the array no longer holds what was programmed */
	read_array(&card, 16, g);
	readback_z(net, gp, &zm, &zs);
	printf("drift: a year on, read-back z mean %.3f sd %.3f\n", zm, zs);
	ck_assert_msg(zs > 1.3, "z sd %.3f", zs);
	/* refresh: reprogrammed, the gain back to 1, no excess */
	ck_assert_msg(bnnacc_net_refresh(net, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(bnnacc_net_check(net, &d, err, sizeof(err)) == 0, "%s", err);
	printf("drift after refresh: gain %.5f, spread %.4f, excess %.4f\n", d.gain, d.spread,
	       d.excess);
	ck_assert_double_eq_tol(d.gain, 1.0, 0.003);
	ck_assert_msg(d.excess < 0.005, "excess %.4f", d.excess);
	ck_assert_int_eq(d.refresh, 0);
	ck_assert_uint_eq(d.refreshes, 1);
	/* the same networks are there again */
	read_array(&card, 16, g);
	zlim = readback_z(net, gp, &zm, &zs);
	printf("drift after refresh: read-back z mean %.3f sd %.3f\n", zm, zs);
	ck_assert_msg(fabs(zm) < zlim && fabs(zs - 1.0) < 0.08, "z mean %.3f sd %.3f", zm, zs);
	ck_assert_msg(bnnacc_infer(net, x, 120, &after, err, sizeof(err)) == 0, "%s", err);
	/* (it differs from the first fresh run by the new programming's device draws) */
	printf("drift after refresh: msd to the first fresh run %.2e\n", msd(&after, &fresh));
	bnnacc_result_free(&after);
	bnnacc_result_free(&fresh);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

START_TEST(sim_advance_alert)
{
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("pessimistic", 83, &card);
	struct bnnacc_region all = { 0, 0, BNC_ROWS, BNC_COLS };
	static uint32_t w[BNC_CELLS];
	unsigned i;

	/* nothing SET: no relaxation to report */
	ck_assert_int_eq(bnnacc_sim_advance(s, YEAR), 0);
	for (i = 0; i < BNC_CELLS; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 50000);
	ck_assert_int_eq(card.ops->program(card.ctx, &all, w), 0);
	/* the sim's clock is 6 s past the programming: nu ln(6) = 0.9 % */
	ck_assert_int_eq(bnnacc_sim_advance(s, 1.0), 0);	/* 7 s: 0.97 % */
	ck_assert_int_eq(bnnacc_sim_advance(s, 1.0), 1);	/* 8 s: 1.04 %: the 1 % level */
	ck_assert_int_eq(bnnacc_sim_advance(s, 10.0), 0);	/* 18 s: 1.45 % */
	ck_assert_int_eq(bnnacc_sim_advance(s, 0.0), 0);
	ck_assert_int_eq(bnnacc_sim_advance(s, -5.0), 0);
	ck_assert_int_eq(bnnacc_sim_advance(s, 40.0), 1);	/* 58 s: 2.03 % */
	ck_assert_int_eq(bnnacc_sim_advance(s, DAY), 1);
	/* reprogrammed: the relaxation starts over, the levels again */
	ck_assert_int_eq(card.ops->program(card.ctx, &all, w), 0);
	ck_assert_int_eq(bnnacc_sim_advance(s, 1.0), 0);
	ck_assert_int_eq(bnnacc_sim_advance(s, 1.0), 1);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* co-resident networks                                                    */
/* ---------------------------------------------------------------------- */

/* A card that counts what goes through it to the card it wraps */
struct ccard {
	struct bnnacc_card in;
	unsigned programs, reads, mvms, jobs;
};

static int cc_program(void *ctx, const struct bnnacc_region *r, const uint32_t *words)
{
	struct ccard *c = ctx;

	c->programs++;
	return c->in.ops->program(c->in.ctx, r, words);
}

static int cc_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns, unsigned reads)
{
	struct ccard *c = ctx;

	c->reads++;
	return c->in.ops->read(c->in.ctx, r, ns, reads);
}

static int cc_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	struct ccard *c = ctx;

	c->mvms++;
	c->jobs += n;
	return c->in.ops->mvm(c->in.ctx, jobs, n);
}

static const struct bnnacc_card_ops cc_ops = {
	.program = cc_program,
	.read = cc_read,
	.mvm = cc_mvm,
};

/* A simulated card behind a counting one (@card) */
static struct bnnacc_sim *mk_counted(const char *preset, uint64_t seed, struct ccard *cc,
				     struct bnnacc_card *card)
{
	struct bnnacc_sim *s = mk_sim(preset, seed, &cc->in);

	cc->programs = cc->reads = cc->mvms = cc->jobs = 0;
	*card = cc->in;
	card->ops = &cc_ops;
	card->ctx = cc;
	return s;
}

/* Class of the predictive mean of input @v */
static unsigned top_class(const struct bnnacc_result *r, unsigned v)
{
	unsigned j, t = 0;

	for (j = 1; j < r->c; j++)
		t = r->mean[v * r->c + j] > r->mean[v * r->c + t] ? j : t;
	return t;
}

/* Inputs whose predictive mean gives its class over 0.9: marked in @mask, counted */
static unsigned confident(const struct bnnacc_result *r, uint8_t *mask)
{
	unsigned v, n = 0;

	for (v = 0; v < r->n; v++) {
		mask[v] = r->mean[v * r->c + top_class(r, v)] > 0.9;
		n += mask[v];
	}
	return n;
}

/* Inputs of @mask where @a and @b predict the same class */
static unsigned same_class(const struct bnnacc_result *a, const struct bnnacc_result *b,
			   const uint8_t *mask)
{
	unsigned v, n = 0;

	for (v = 0; v < a->n; v++)
		n += mask[v] && top_class(a, v) == top_class(b, v);
	return n;
}

/* @net's predictions on the confident inputs of @ref are @ref's (all of them) */
static void same_predictions(struct bnnacc_net *net, const float *x,
			     const struct bnnacc_result *ref, const char *what)
{
	struct bnnacc_result r;
	uint8_t mask[256];
	char err[256] = "";
	unsigned nc, same;

	ck_assert_uint_le(ref->n, sizeof(mask));
	ck_assert_msg(bnnacc_infer(net, x, ref->n, &r, err, sizeof(err)) == 0, "%s: %s", what,
		      err);
	nc = confident(ref, mask);
	same = same_class(&r, ref, mask);
	printf("co-resident: %s: %u of %u confident inputs predicted as before\n", what, same, nc);
	ck_assert_msg(nc >= 10, "%s: a test of little use: %u confident inputs", what, nc);
	ck_assert_msg(same == nc, "%s: %u of %u confident inputs changed class", what, nc - same,
		      nc);
	bnnacc_result_free(&r);
}

/* @net read back from @card matches its prediction (z-scores ~ N(0, 1)) */
static void reads_back(struct bnnacc_card *card, const struct bnnacc_net *net, const char *what)
{
	static double g[BNC_CELLS];
	double *gp[1] = { g }, zm, zs, zlim;

	read_array(card, 8, g);
	zlim = readback_z(net, gp, &zm, &zs);
	printf("co-resident: %s read back: z mean %.3f sd %.3f\n", what, zm, zs);
	ck_assert_msg(fabs(zm) < zlim && fabs(zs - 1.0) < 0.08, "%s: z mean %.3f sd %.3f", what,
		      zm, zs);
}

/* Every tile of @a clear of every tile of @b and of the reference column */
static void disjoint_nets(const struct bnnacc_net *a, const struct bnnacc_net *b)
{
	const struct bnnacc_region *ta, *tb;
	unsigned k, l, p, k2, l2, p2, na = 0;

	for (k = 0; k < bnnacc_net_m(a); k++)
		for (l = 0; l < a->nl; l++)
			for (p = 0; (ta = bnnacc_net_tile(a, k, l, p, NULL)); p++) {
				ck_assert_uint_le(ta->col + ta->cols, BNC_COLS - 1);
				na++;
				for (k2 = 0; k2 < bnnacc_net_m(b); k2++)
					for (l2 = 0; l2 < b->nl; l2++)
						for (p2 = 0; (tb = bnnacc_net_tile(b, k2, l2, p2, NULL));
						     p2++) {
							ck_assert_uint_le(tb->col + tb->cols, BNC_COLS - 1);
							ck_assert_msg(!overlap(ta, tb),
								      "network %u layer %u of one over "
								      "network %u layer %u of the other",
								      k, l, k2, l2);
						}
			}
	ck_assert_uint_gt(na, 0);
}

/* Mean exact conductance now (uS) of the cells of @n tiles @t */
static double tiles_g(struct bnnacc_sim *s, const struct bnnacc_region *t, unsigned n)
{
	uint64_t now;
	struct bnc_array *a = bnl_sim_array(s, &now);
	double sum = 0, cnt = 0;
	unsigned i, r, c;

	for (i = 0; i < n; i++)
		for (r = t[i].row; r < t[i].row + t[i].rows; r++)
			for (c = t[i].col; c < t[i].col + t[i].cols; c++) {
				sum += bnc_cell_g_us(a, r, c, now);
				cnt++;
			}
	return sum / cnt;
}

/* Copy of every tile of @net (free with free()), *n of them */
static struct bnnacc_region *tiles_of(const struct bnnacc_net *net, unsigned *n)
{
	struct bnnacc_region *t = malloc((size_t)bnnacc_net_m(net) * net->nparts * sizeof(*t));
	const struct bnnacc_region *r;
	unsigned k, l, p;

	ck_assert_ptr_nonnull(t);
	*n = 0;
	for (k = 0; k < bnnacc_net_m(net); k++)
		for (l = 0; l < net->nl; l++)
			for (p = 0; (r = bnnacc_net_tile(net, k, l, p, NULL)); p++)
				t[(*n)++] = *r;
	return t;
}

#define CO_N 120
#define CO_MA 40

/* Model A of the co-resident tests: 2-8-3, decided enough for confident inputs */
static struct bnnacc_model *mk_co_a(uint64_t seed)
{
	static const uint32_t dims[] = { 2, 8, 3 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	static const double scale[] = { 1.5, 3.0 };

	return mk_gauss(2, dims, acts, scale, 0.1, seed);
}

/*
 * Model A (2-8-3, 40 networks), then model B (3-10-2) beside it, as many
 * as fit: disjoint tiles, one PROGRAM (no stuck-cell test), both read back
 * from the one array as predicted, A predicting as before, B as its
 * posterior; a refresh of either keeps the other; freeing one (_i: which
 * first) frees its cells for the next transfer.
 */
START_TEST(coresident_two_models)
{
	static const uint32_t dims_b[] = { 3, 10, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	static const double scale_b[] = { 1.5, 2.0 };
	struct ccard cc;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_counted("hfox", 91, &cc, &card);
	struct bnnacc_model *ma = mk_co_a(96);
	struct bnnacc_model *mb = mk_gauss(2, dims_b, acts, scale_b, 0.1, 93);
	struct bnnacc_net *a, *b, *gone, *left, *back;
	struct bnnacc_result ra, rb, sb;
	struct bnnacc_region *gt;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_drift d;
	float xa[CO_N * 2], xb[CO_N * 3];
	uint8_t mask[CO_N];
	unsigned i, ma_alone, mb_alone, mb_co, nc, ngt, m_gone;
	uint64_t sd = 94;
	double g_before, g_after;
	char err[512] = "";

	for (i = 0; i < CO_N; i++) {
		xa[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		xa[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	for (i = 0; i < CO_N * 3; i++)
		xb[i] = (float)(3.0 * urand(&sd) - 1.5);
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 8;
	/* each alone: as many as fit */
	a = transfer1(&card, &cal, ma, &o);
	ma_alone = bnnacc_net_m(a);
	bnnacc_net_free(a);
	b = transfer1(&card, &cal, mb, &o);
	mb_alone = bnnacc_net_m(b);
	bnnacc_net_free(b);

	o.m = CO_MA;
	cc.programs = 0;
	a = transfer1(&card, &cal, ma, &o);
	ck_assert_uint_eq(cc.programs, 3);	/* the stuck-cell test's RESET and SET, the transfer */
	ck_assert_msg(bnnacc_infer(a, xa, CO_N, &ra, err, sizeof(err)) == 0, "%s", err);
	/* a day on: A's cells have relaxed */
	bnnacc_sim_advance(s, DAY);
	ck_assert_msg(bnnacc_net_check(a, &d, err, sizeof(err)) == 0, "%s", err);
	printf("co-resident: A a day on: gain %.5f\n", d.gain);
	ck_assert_msg(d.gain < 0.995, "gain %.4f a day on", d.gain);

	/* B beside A: as many as fit in what A leaves free, one PROGRAM */
	o.m = 0;
	o.keep = &a;
	o.nkeep = 1;
	cc.programs = 0;
	b = transfer1(&card, &cal, mb, &o);
	ck_assert_uint_eq(cc.programs, 1);
	mb_co = bnnacc_net_m(b);
	printf("co-resident: M of A %u alone, %u asked; M of B %u alone, %u beside A\n",
	       ma_alone, CO_MA, mb_alone, mb_co);
	ck_assert_uint_eq(bnnacc_net_m(a), CO_MA);
	ck_assert_uint_gt(mb_co, 0);
	ck_assert_uint_lt(mb_co, mb_alone);
	ck_assert_uint_eq(bnnacc_net_xfer_report(b)->m, mb_co);
	disjoint_nets(a, b);
	/* A was programmed again: its drift starts over (the reference column retaken) */
	ck_assert_msg(bnnacc_net_check(a, &d, err, sizeof(err)) == 0, "%s", err);
	printf("co-resident: A after B's transfer: gain %.5f, refreshes %u\n", d.gain, d.refreshes);
	ck_assert_double_eq_tol(d.gain, 1.0, 0.003);
	ck_assert_uint_eq(d.refreshes, 1);
	ck_assert_msg(bnnacc_net_check(b, &d, err, sizeof(err)) == 0, "%s", err);
	ck_assert_double_eq_tol(d.gain, 1.0, 0.003);
	/* both on the array as predicted; A predicts as before, B as its posterior */
	reads_back(&card, a, "A beside B");
	reads_back(&card, b, "B beside A");
	same_predictions(a, xa, &ra, "A after B's transfer");
	ck_assert_msg(bnnacc_infer(b, xb, CO_N, &rb, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(rb.m, mb_co);
	ck_assert_int_eq(bnnacc_infer_soft(mb, 64, 5, xb, CO_N, &sb), 0);
	nc = confident(&sb, mask);
	printf("co-resident: B vs its posterior: %u of %u confident inputs agree\n",
	       same_class(&rb, &sb, mask), nc);
	ck_assert_uint_ge(nc, 20);
	ck_assert_uint_ge(same_class(&rb, &sb, mask), nc * 95 / 100);
	bnnacc_result_free(&sb);

	/* refreshing either programs the union: the other stays */
	cc.programs = 0;
	ck_assert_msg(bnnacc_net_refresh(a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cc.programs, 1);
	reads_back(&card, b, "B after A's refresh");
	same_predictions(b, xb, &rb, "B after A's refresh");
	ck_assert_uint_eq(b->drift.refreshes, 1);
	ck_assert_msg(bnnacc_net_refresh(b, err, sizeof(err)) == 0, "%s", err);
	reads_back(&card, a, "A after B's refresh");
	same_predictions(a, xa, &ra, "A after B's refresh");
	ck_assert_uint_eq(a->drift.refreshes, 3);

	/* free one: its cells are left, then RESET by the other's refresh */
	gone = _i ? b : a;
	left = _i ? a : b;
	gt = tiles_of(gone, &ngt);
	m_gone = bnnacc_net_m(gone);
	g_before = tiles_g(s, gt, ngt);
	bnnacc_net_free(gone);
	ck_assert_ptr_eq(left->co_next, left);
	ck_assert_ptr_eq(left->co_prev, left);
	ck_assert_double_eq_tol(tiles_g(s, gt, ngt), g_before, 1e-9 + 0.05 * g_before);
	ck_assert_msg(bnnacc_net_refresh(left, err, sizeof(err)) == 0, "%s", err);
	g_after = tiles_g(s, gt, ngt);
	printf("co-resident: the freed net's cells: %.2f uS before, %.2f after the other's "
	       "refresh (RESET median %.2f)\n", g_before, g_after, cal.reset_med);
	ck_assert_msg(g_after < 2.0 * cal.reset_med && g_after < 0.5 * g_before,
		      "freed cells at %.2f uS (before %.2f)", g_after, g_before);
	reads_back(&card, left, "the one left after a refresh");
	same_predictions(left, _i ? xa : xb, _i ? &ra : &rb, "the one left");
	/* its cells take the freed model again */
	o.keep = &left;
	o.m = m_gone;
	cc.programs = 0;
	back = transfer1(&card, &cal, _i ? mb : ma, &o);
	ck_assert_uint_eq(cc.programs, 1);
	ck_assert_uint_eq(bnnacc_net_m(back), m_gone);
	disjoint_nets(back, left);
	reads_back(&card, left, "the one left beside the new one");
	reads_back(&card, back, "the new one");
	/* freed in the other order this time */
	bnnacc_net_free(left);
	ck_assert_ptr_eq(back->co_next, back);
	ck_assert_msg(bnnacc_net_refresh(back, err, sizeof(err)) == 0, "%s", err);
	same_predictions(back, _i ? xb : xa, _i ? &rb : &ra, "the new one alone");
	bnnacc_net_free(back);
	free(gt);
	bnnacc_result_free(&ra);
	bnnacc_result_free(&rb);
	bnnacc_model_free(ma);
	bnnacc_model_free(mb);
	bnnacc_sim_free(s);
}
END_TEST

/*
 * B does not fit beside A: -ENOSPC saying why, nothing programmed, A
 * untouched (its cells, its drift state, its predictions)
 */
START_TEST(coresident_no_space)
{
	static const uint32_t dims_b[] = { 3, 10, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	static const double scale_b[] = { 1.5, 2.0 };
	struct ccard cc;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_counted("hfox", 95, &cc, &card);
	struct bnnacc_model *ma = mk_co_a(96);
	struct bnnacc_model *mb = mk_gauss(2, dims_b, acts, scale_b, 0.1, 97);
	struct bnnacc_net *a, *b;
	struct bnnacc_result ra;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	float xa[CO_N * 2];
	unsigned i, round;
	char err[512];

	for (i = 0; i < CO_N; i++) {
		xa[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		xa[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	calibrate(&card, &cal);
	for (round = 0; round < 2; round++) {
		/* round 0: A fills the card, no B fits; 1: A 40, B asks 5000 */
		memset(&o, 0, sizeof(o));
		o.cells = 1;
		o.repeat = 8;
		o.m = round ? CO_MA : 0;
		a = transfer1(&card, &cal, ma, &o);
		ck_assert_msg(bnnacc_infer(a, xa, CO_N, &ra, err, sizeof(err)) == 0, "%s", err);
		o.keep = &a;
		o.nkeep = 1;
		o.m = round ? 5000 : 0;
		memset(err, 'x', sizeof(err) - 1);	/* whatever the buffer held */
		err[sizeof(err) - 1] = 0;
		cc.programs = 0;
		b = (void *)1;
		ck_assert_int_eq(transfer_n(&b, (struct bnnacc_card *[]){ &card }, &cal, 1, mb, &o,
					    err, sizeof(err)), -ENOSPC);
		printf("co-resident, no space (A %u networks): \"%s\"\n", bnnacc_net_m(a), err);
		ck_assert_ptr_null(b);
		ck_assert_uint_eq(cc.programs, 0);
		ck_assert_msg(strstr(err, "kept resident") && strncmp(err, "xxxx", 4), "%s", err);
		if (round)
			ck_assert_msg(strstr(err, "asked 5000") && strstr(err, "only "), "%s", err);
		else
			ck_assert_msg(strstr(err, "none fits"), "%s", err);
		ck_assert_ptr_eq(a->co_next, a);
		ck_assert_uint_eq(a->drift.refreshes, 0);
		reads_back(&card, a, "A after B did not fit");
		same_predictions(a, xa, &ra, "A after B did not fit");
		bnnacc_result_free(&ra);
		bnnacc_net_free(a);
	}
	bnnacc_model_free(ma);
	bnnacc_model_free(mb);
	bnnacc_sim_free(s);
}
END_TEST

/* Keeping networks of other cards, or in another order, or not together: -EINVAL */
START_TEST(coresident_other_cards)
{
	struct ccard cc[2];
	struct bnnacc_card card[2];
	struct bnnacc_card *both[2] = { &card[0], &card[1] }, *swapped[2] = { &card[1], &card[0] };
	struct bnnacc_sim *s[2];
	struct bnnacc_calib cal[2];
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 98);
	struct bnnacc_net *a, *a2, *c, *b, *keep2[2];
	struct bnnacc_xfer_opts o;
	char err[512];
	unsigned i;

	for (i = 0; i < 2; i++) {
		s[i] = mk_counted("hfox", 99 + i, &cc[i], &card[i]);
		calibrate(&card[i], &cal[i]);
	}
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 1;
	o.m = 10;
	o.skip_stuck_test = 1;
	a = transfer1(&card[0], &cal[0], m, &o);
	ck_assert_int_eq(transfer_n(&a2, both, cal, 2, m, &o, err, sizeof(err)), 0);
	o.keep = &a;
	o.nkeep = 1;
	cc[0].programs = cc[1].programs = 0;
	/* A on card 0, the new one on card 1 */
	err[0] = 0;
	b = (void *)1;
	ck_assert_int_eq(transfer_n(&b, (struct bnnacc_card *[]){ &card[1] }, &cal[1], 1, m, &o,
				    err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(b);
	printf("co-resident, other card: \"%s\"\n", err);
	ck_assert_msg(strstr(err, "same cards"), "%s", err);
	/* A on one card, the new one on two */
	err[0] = 0;
	ck_assert_int_eq(transfer_n(&b, both, cal, 2, m, &o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "same cards"), "%s", err);
	/* on the same two cards, in the other order */
	o.keep = &a2;
	err[0] = 0;
	ck_assert_int_eq(transfer_n(&b, swapped, (struct bnnacc_calib[]){ cal[1], cal[0] }, 2, m,
				    &o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "card 0") && strstr(err, "same cards"), "%s", err);
	/* a list of none, and a NULL in the list */
	o.keep = NULL;
	ck_assert_int_eq(transfer_n(&b, both, cal, 2, m, &o, err, sizeof(err)), -EINVAL);
	keep2[0] = a2;
	keep2[1] = NULL;
	o.keep = keep2;
	o.nkeep = 2;
	ck_assert_int_eq(transfer_n(&b, both, cal, 2, m, &o, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "NULL"), "%s", err);
	ck_assert_uint_eq(cc[0].programs + cc[1].programs, 0);
	/* keep {} (nkeep 0) is a plain transfer; then C replaces A on card 0 */
	o.nkeep = 0;
	o.keep = NULL;
	c = transfer1(&card[0], &cal[0], m, &o);
	/* A and C were never resident together: their tiles overlap */
	keep2[0] = a;
	keep2[1] = c;
	o.keep = keep2;
	o.nkeep = 2;
	cc[0].programs = 0;
	ck_assert_int_eq(transfer_n(&b, (struct bnnacc_card *[]){ &card[0] }, &cal[0], 1, m, &o,
				    err, sizeof(err)), -EINVAL);
	printf("co-resident, not together: \"%s\"\n", err);
	ck_assert_msg(strstr(err, "overlap"), "%s", err);
	ck_assert_uint_eq(cc[0].programs, 0);
	ck_assert_ptr_eq(a->co_next, a);
	ck_assert_ptr_eq(c->co_next, c);
	bnnacc_net_free(a);
	bnnacc_net_free(a2);
	bnnacc_net_free(c);
	bnnacc_model_free(m);
	for (i = 0; i < 2; i++)
		bnnacc_sim_free(s[i]);
}
END_TEST

/* Ring of @net: its size, every link both ways */
static unsigned ring_size(const struct bnnacc_net *net)
{
	const struct bnnacc_net *g = net;
	unsigned n = 0;

	do {
		ck_assert_ptr_eq(g->co_next->co_prev, g);
		g = g->co_next;
		n++;
		ck_assert_uint_le(n, 16);
	} while (g != net);
	return n;
}

/*
 * Three co-resident networks (each kept by the next, keeping one keeps
 * those resident with it) freed in every order (_i): the ring stays
 * whole, what is left refreshes and infers, each refresh programs once
 * and restarts every member's drift state
 */
START_TEST(coresident_free_orders)
{
	static const unsigned order[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	struct ccard cc;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_counted("hfox", 101, &cc, &card);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 102);
	struct bnnacc_net *net[3];
	struct bnnacc_result r;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	float x[8 * 2];
	unsigned i, j, left;
	char err[512] = "";

	for (i = 0; i < 16; i++)
		x[i] = (float)(i % 5) / 2.0f - 1.0f;
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 1;
	o.m = 6;
	o.skip_stuck_test = 1;
	net[0] = transfer1(&card, &cal, m, &o);
	o.nkeep = 1;
	for (i = 1; i < 3; i++) {
		o.keep = &net[i - 1];	/* net 0 comes along with net 1 */
		net[i] = transfer1(&card, &cal, m, &o);
		ck_assert_uint_eq(ring_size(net[i]), i + 1);
		for (j = 0; j < i; j++)
			disjoint_nets(net[i], net[j]);
	}
	for (left = 3, i = 0; i < 3; i++) {
		bnnacc_net_free(net[order[_i][i]]);
		net[order[_i][i]] = NULL;
		left--;
		for (j = 0; j < 3; j++) {
			unsigned before;

			if (!net[j])
				continue;
			ck_assert_uint_eq(ring_size(net[j]), left);
			before = net[j]->drift.refreshes;
			cc.programs = 0;
			ck_assert_msg(bnnacc_net_refresh(net[j], err, sizeof(err)) == 0, "%s", err);
			ck_assert_uint_eq(cc.programs, 1);
			ck_assert_uint_eq(net[j]->drift.refreshes, before + 1);
			ck_assert_msg(bnnacc_infer(net[j], x, 8, &r, err, sizeof(err)) == 0, "%s",
				      err);
			ck_assert_uint_eq(r.m, 6);
			bnnacc_result_free(&r);
			break;
		}
	}
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* a range of the networks                                                 */
/* ---------------------------------------------------------------------- */

#define RN_M 64
#define RN_K0 20
#define RN_N 120

/*
 * bnnacc_infer_nets(): only the range's MVM jobs (m/M of a full run's),
 * its networks' own predictions, ranges past the networks refused
 */
START_TEST(infer_nets_range)
{
	struct ccard cc;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_counted("hfox", 103, &cc, &card);
	struct bnnacc_model *m = mk_co_a(104);
	struct bnnacc_result full, part, r;
	struct bnnacc_xfer_opts o;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	float x[RN_N * 2];
	unsigned i, j, v, k, jobs_full, jobs_part, n = 0, agree = 0, jobs_one;
	double dm = 0, dx = 0;
	char err[512] = "";
	static const unsigned bad[][2] = {
		{ 0, 0 }, { RN_M, 1 }, { RN_M - 4, 5 }, { 1, RN_M }, { ~0u, 2 }, { 2, ~0u },
	};

	for (i = 0; i < RN_N; i++) {
		x[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		x[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.m = RN_M;
	o.repeat = 4;
	net = transfer1(&card, &cal, m, &o);
	/* a first run learns the ADC ranges; the counted ones need no retries */
	ck_assert_msg(bnnacc_infer(net, x, RN_N, &full, err, sizeof(err)) == 0, "%s", err);
	bnnacc_result_free(&full);
	cc.jobs = cc.mvms = 0;
	ck_assert_msg(bnnacc_infer(net, x, RN_N, &full, err, sizeof(err)) == 0, "%s", err);
	jobs_full = cc.jobs;
	cc.jobs = cc.mvms = 0;
	ck_assert_msg(bnnacc_infer_nets(net, RN_K0, 8, x, RN_N, &part, err, sizeof(err)) == 0, "%s",
		      err);
	jobs_part = cc.jobs;
	cc.jobs = 0;
	ck_assert_msg(bnnacc_infer_nets(net, RN_M - 1, 1, x, RN_N, &r, err, sizeof(err)) == 0, "%s",
		      err);
	jobs_one = cc.jobs;
	ck_assert_uint_eq(r.m, 1);
	bnnacc_result_free(&r);
	printf("infer_nets: MVM jobs %u for 8 networks, %u for all %u (x %.4f, 8/M %.4f), %u for one\n",
	       jobs_part, jobs_full, RN_M, (double)jobs_part / jobs_full, 8.0 / RN_M, jobs_one);
	ck_assert_uint_eq(part.m, 8);
	ck_assert_uint_eq(part.n, RN_N);
	ck_assert_uint_eq(part.c, 3);
	ck_assert_uint_eq(full.m, RN_M);
	/* jobs per network: one per part and layer, one more per bias pass */
	ck_assert_uint_eq(jobs_full, RN_M * jobs_one);
	ck_assert_uint_eq(jobs_part, 8 * jobs_one);
	/*
	 * the range's networks are networks 20..27 of the full run: their own
	 * predictions (read noise apart), not those of networks 0..7
	 */
	for (v = 0; v < RN_N; v++)
		for (j = 0; j < 8; j++) {
			const double *p = part.probs + ((size_t)v * 8 + j) * 3;
			const double *f = full.probs + ((size_t)v * RN_M + RN_K0 + j) * 3;
			const double *g = full.probs + ((size_t)v * RN_M + j) * 3;
			unsigned tp = 0, tf = 0;

			for (k = 0; k < 3; k++) {
				dm += fabs(p[k] - f[k]) / (RN_N * 8 * 3);
				dx += fabs(p[k] - g[k]) / (RN_N * 8 * 3);
				tp = p[k] > p[tp] ? k : tp;
				tf = f[k] > f[tf] ? k : tf;
			}
			if (f[tf] > 0.9) {
				n++;
				agree += tp == tf;
			}
		}
	printf("infer_nets: |p - p of the same network in a full run| %.4f, of another %.4f; "
	       "class agreement %u of %u confident\n", dm, dx, agree, n);
	ck_assert_uint_ge(n, RN_N * 8 / 8);
	ck_assert_uint_ge(agree, n * 98 / 100);
	ck_assert_msg(dm < 0.3 * dx && dm < 0.02, "same %.4f, other %.4f", dm, dx);
	bnnacc_result_free(&part);
	/* the whole range is bnnacc_infer() */
	ck_assert_msg(bnnacc_infer_nets(net, 0, RN_M, x, RN_N, &part, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(part.m, RN_M);
	bnnacc_result_free(&part);
	/* invalid ranges: a message, nothing run */
	cc.jobs = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		err[0] = 0;
		ck_assert_int_eq(bnnacc_infer_nets(net, bad[i][0], bad[i][1], x, RN_N, &r, err,
						   sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, "networks"), "[%u, +%u): \"%s\"", bad[i][0], bad[i][1],
			      err);
		ck_assert_ptr_null(r.probs);
	}
	printf("infer_nets: \"%s\"\n", err);
	ck_assert_uint_eq(cc.jobs, 0);
	bnnacc_result_free(&full);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/* On two cards: a range on one card issues no job to the other */
START_TEST(infer_nets_cards)
{
	struct ccard cc[2];
	struct bnnacc_card card[2];
	struct bnnacc_card *cards[2] = { &card[0], &card[1] };
	struct bnnacc_sim *s[2];
	struct bnnacc_calib cal[2];
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 105);
	struct bnnacc_result r;
	struct bnnacc_xfer_opts o;
	struct bnnacc_net *net;
	float x[10 * 2];
	unsigned i, k, c, first1 = 0, on0 = 0;
	char err[512] = "";

	for (i = 0; i < 20; i++)
		x[i] = (float)(i % 7) / 3.0f - 1.0f;
	for (i = 0; i < 2; i++) {
		s[i] = mk_counted("hfox", 106 + i, &cc[i], &card[i]);
		calibrate(&card[i], &cal[i]);
	}
	memset(&o, 0, sizeof(o));
	o.cells = 1;
	o.repeat = 1;
	o.skip_stuck_test = 1;
	ck_assert_int_eq(transfer_n(&net, cards, cal, 2, m, &o, err, sizeof(err)), 0);
	for (k = 0; k < bnnacc_net_m(net); k++) {
		ck_assert_ptr_nonnull(bnnacc_net_tile(net, k, 0, 0, &c));
		if (c == 0)
			on0++;
	}
	first1 = on0;
	ck_assert_uint_gt(on0, 8);
	ck_assert_uint_gt(bnnacc_net_m(net), on0 + 8);
	for (i = 0; i < 3; i++) {
		/* on card 1 alone, on card 0 alone, across both */
		unsigned k0 = i == 0 ? first1 + 3 : i == 1 ? 2 : first1 - 4;

		cc[0].mvms = cc[1].mvms = cc[0].jobs = cc[1].jobs = 0;
		ck_assert_msg(bnnacc_infer_nets(net, k0, 8, x, 10, &r, err, sizeof(err)) == 0, "%s",
			      err);
		ck_assert_uint_eq(r.m, 8);
		printf("infer_nets on 2 cards, networks %u..%u: jobs %u on card 0, %u on card 1\n",
		       k0, k0 + 7, cc[0].jobs, cc[1].jobs);
		ck_assert_uint_eq(cc[0].mvms == 0, i == 0);
		ck_assert_uint_eq(cc[1].mvms == 0, i == 1);
		if (i == 2)
			ck_assert_uint_eq(cc[0].jobs, cc[1].jobs);
		bnnacc_result_free(&r);
	}
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	for (i = 0; i < 2; i++)
		bnnacc_sim_free(s[i]);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* end to end                                                              */
/* ---------------------------------------------------------------------- */

#define E2E_M 64
#define E2E_N 120

START_TEST(end_to_end_vs_software)
{
	unsigned mode = _i ? BNNACC_XFER_SAMPLES : BNNACC_XFER_SHARED;
	struct bnnacc_card card;
	struct bnnacc_sim *s = mk_sim("hfox", 41, &card);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 8), *ach;
	struct bnnacc_xfer_opts o;
	struct bnnacc_result hw, sw;
	struct bnnacc_calib cal;
	struct bnnacc_net *net;
	const struct bnnacc_xfer_report *x;
	float xin[E2E_N * 2];
	char err[256] = "";
	double dsum = 0, ue_hw = 0, ue_sw = 0;
	unsigned i, j, bad = 0, agree = 0;

	for (i = 0; i < E2E_N; i++) {
		xin[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		xin[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	ck_assert_int_eq(bnnacc_model_set_meta(m, "dataset", "grid"), 0);
	calibrate(&card, &cal);
	memset(&o, 0, sizeof(o));
	o.m = E2E_M;
	o.mode = mode;
	net = transfer1(&card, &cal, m, &o);
	ck_assert_uint_eq(bnnacc_net_m(net), E2E_M);
	x = bnnacc_net_xfer_report(net);
	ck_assert_uint_eq(x->mode, mode);
	ck_assert_uint_eq(x->m, E2E_M);
	ck_assert_uint_eq(x->cards, 1);
	ck_assert_uint_eq(x->weights, 51);
	ck_assert(x->cells >= 1 && x->cells <= BNNACC_XFER_MAX_CELLS);
	ck_assert(x->repeat >= 1 && x->repeat <= BNNACC_XFER_MAX_REPEAT);
	ck_assert(strstr(x->why, "cells per sign") && strstr(x->why, "gamma"));
	ck_assert(bnnacc_net_gamma(net, 0) > 0 && bnnacc_net_gamma(net, 1) > 0);
	ck_assert(bnnacc_net_gamma(net, 2) == 0.0);
	for (i = 0; i < 2; i++) {
		const struct bnnacc_layer_report *rp = bnnacc_net_report(net, i);

		printf("e2e %s layer %u: gamma %.2f uS, cells %u, repeat %u, KL mean %.2e max %.2e "
		       "nats, clipped %u/%u, rel mean err %.4f\n", _i ? "samples" : "shared", i,
		       bnnacc_net_gamma(net, i), x->cells, x->repeat, rp->kl_mean, rp->kl_max,
		       rp->clipped, rp->weights, rp->rel_mean_err);
		ck_assert_uint_le(rp->clipped, rp->weights / 10);
		ck_assert(rp->kl_mean < 0.05);
		ck_assert_uint_eq(rp->parts, 1);
		ck_assert(rp->gamma == bnnacc_net_gamma(net, i));
	}
	ck_assert_ptr_null(bnnacc_net_report(net, 2));
	ck_assert_msg(bnnacc_infer(net, xin, E2E_N, &hw, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(bnnacc_net_achieved(net, &ach), 0);
	ck_assert_uint_eq(ach->kind, _i ? BNNACC_MODEL_SAMPLES : BNNACC_MODEL_GAUSS);
	ck_assert_str_eq(ach->class_name[0], "setosa");
	ck_assert_int_eq(bnnacc_infer_soft(ach, E2E_M, 99, xin, E2E_N, &sw), 0);
	for (i = 0; i < E2E_N; i++) {
		unsigned ah = 0, as = 0;
		double d = 0, tol = 0;

		for (j = 0; j < 3; j++) {
			double vh = 0, vs = 0;
			unsigned k;

			for (k = 0; k < E2E_M; k++) {
				vh += pow(hw.probs[(i * E2E_M + k) * 3 + j] - hw.mean[i * 3 + j], 2);
				vs += pow(sw.probs[(i * E2E_M + k) * 3 + j] - sw.mean[i * 3 + j], 2);
			}
			/* 4 standard errors of the difference of two M-sample means + DAC/ADC allowance */
			tol = fmax(tol, 4.0 * sqrt((vh + vs) / E2E_M / (E2E_M - 1)) + 0.03);
			d = fmax(d, fabs(hw.mean[i * 3 + j] - sw.mean[i * 3 + j]));
			if (hw.mean[i * 3 + j] > hw.mean[i * 3 + ah])
				ah = j;
			if (sw.mean[i * 3 + j] > sw.mean[i * 3 + as])
				as = j;
		}
		dsum += d / E2E_N;
		bad += d > tol;
		agree += ah == as;
		ue_hw += hw.u_e[i] / E2E_N;
		ue_sw += sw.u_e[i] / E2E_N;
	}
	printf("e2e %s: mean |p_hw - p_sw| %.4f, outside tolerance %u/%u, argmax agree %u/%u, "
	       "U_e hw %.4f sw %.4f\n", _i ? "samples" : "shared", dsum, bad, E2E_N, agree,
	       E2E_N, ue_hw, ue_sw);
	ck_assert_msg(bad <= E2E_N / 20, "%u of %u inputs outside tolerance", bad, E2E_N);
	ck_assert_msg(dsum < 0.04, "mean difference %.4f", dsum);
	ck_assert_msg(fabs(ue_hw - ue_sw) < 0.3 * ue_sw + 0.01, "U_e hw %.4f sw %.4f", ue_hw, ue_sw);
	/* and the decisions of the original posterior are preserved */
	bnnacc_result_free(&sw);
	ck_assert_int_eq(bnnacc_infer_soft(m, E2E_M, 7, xin, E2E_N, &sw), 0);
	for (i = 0, agree = 0; i < E2E_N; i++) {
		unsigned ah = 0, as = 0;

		for (j = 1; j < 3; j++) {
			ah = hw.mean[i * 3 + j] > hw.mean[i * 3 + ah] ? j : ah;
			as = sw.mean[i * 3 + j] > sw.mean[i * 3 + as] ? j : as;
		}
		agree += ah == as;
	}
	printf("e2e %s: argmax agreement with the original posterior %u/%u\n",
	       _i ? "samples" : "shared", agree, E2E_N);
	ck_assert_uint_ge(agree, E2E_N * 9 / 10);
	ck_assert_int_eq(bnnacc_infer(net, xin, 0, &hw, err, sizeof(err)) == 0, 0);
	bnnacc_result_free(&hw);
	bnnacc_result_free(&sw);
	bnnacc_model_free(ach);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnnacc_sim_free(s);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* handles (no card on the build host: only the error paths)              */
/* ---------------------------------------------------------------------- */

START_TEST(dev_errors)
{
	struct bnnacc_card_desc d[4];
	struct bnnacc_dev *dev = (void *)1;
	char err[256] = "";

	ck_assert_int_eq(bnnacc_pci_to_index("0000:ff:1f.7"), -ENOENT);
	ck_assert_int_eq(bnnacc_pci_to_index("../../etc"), -EINVAL);
	ck_assert_int_eq(bnnacc_open_pci(&dev, "0000:ff:1f.7", err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(dev);
	ck_assert(strstr(err, "0000:ff:1f.7") && strstr(err, "driver"));
	ck_assert_int_eq(bnnacc_open(&dev, -1, err, sizeof(err)), -EINVAL);
	/* a node that is not a bnnacc card: IDENTIFY fails, with context */
	ck_assert_int_eq(bnnacc_open_path(&dev, "/dev/null", err, sizeof(err)), -ENOTTY);
	ck_assert_ptr_null(dev);
	ck_assert_msg(strstr(err, "IDENTIFY") && strstr(err, "/dev/null"), "%s", err);
	ck_assert_int_eq(bnnacc_open_path(&dev, "/nonexistent/bnnacc9", err, sizeof(err)), -ENOENT);
	ck_assert(strstr(err, "/nonexistent/bnnacc9"));
	ck_assert_int_ge(bnnacc_list(d, 4, err, sizeof(err)), 0);
	ck_assert(strstr(bnnacc_strerror(-EPROTO), "ABI"));
}
END_TEST

static Suite *lib_suite(void)
{
	Suite *s = suite_create("libbnnacc");
	TCase *t;

	t = tcase_create("handles");
	tcase_add_test(t, dev_errors);
	suite_add_tcase(s, t);

	t = tcase_create("uncertainty");
	tcase_add_test(t, unc_one_hot_agree);
	tcase_add_test(t, unc_one_hot_disagree);
	tcase_add_test(t, unc_uniform_identical);
	tcase_add_test(t, unc_known_mix);
	tcase_add_test(t, soft_reference_deterministic);
	suite_add_tcase(s, t);

	t = tcase_create("model");
	tcase_add_loop_test(t, model_roundtrip, 0, 2);
	tcase_add_loop_test(t, model_v1_loads_saves_v2, 0, 2);
	tcase_add_test(t, model_truncated_every_length);
	tcase_add_test(t, model_trailing_oversized);
	tcase_add_loop_test(t, model_corrupt_fields, 0,
			    (int)(sizeof(corrupt) / sizeof(corrupt[0])));
	tcase_add_test(t, model_corrupt_values);
	tcase_add_test(t, model_fuzz_no_crash);
	suite_add_tcase(s, t);

	t = tcase_create("metadata");
	tcase_add_test(t, meta_set_get_remove);
	tcase_add_test(t, meta_invalid_refused);
	tcase_add_test(t, meta_limit);
	tcase_add_test(t, meta_file);
	suite_add_tcase(s, t);

	t = tcase_create("calibration");
	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, calib_matches_physics, 0,
			    (int)(sizeof(cal_presets) / sizeof(cal_presets[0])));
	tcase_add_test(t, calib_sigma_repeat);
	tcase_add_test(t, calib_file_v2);
	tcase_add_test(t, calib_save_reuse_stale);
	tcase_add_test(t, calib_abort_and_bad_region);
	suite_add_tcase(s, t);

	t = tcase_create("mapping");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, pair_realised_matches_target);
	tcase_add_test(t, pair_cells_scale);
	tcase_add_test(t, pair_repeat_toward_prog);
	tcase_add_test(t, pair_sigma0_quietest);
	tcase_add_test(t, gamma_fit);
	tcase_add_test(t, pair_clipped_mean);
	tcase_add_test(t, tiles_max_and_stuck);
	tcase_add_test(t, transfer_avoids_stuck_cells);
	suite_add_tcase(s, t);

	t = tcase_create("samples");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, cells_rule);
	tcase_add_test(t, samples_gauss_draws);
	tcase_add_test(t, samples_model_stored);
	suite_add_tcase(s, t);

	t = tcase_create("split");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, split_inputs_partial_sums);
	tcase_add_test(t, split_outputs_wide);
	suite_add_tcase(s, t);

	t = tcase_create("multi-card");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, multi_card);
	tcase_add_test(t, multi_card_no_space);
	suite_add_tcase(s, t);

	t = tcase_create("drift");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, drift_check_and_refresh);
	tcase_add_test(t, sim_advance_alert);
	suite_add_tcase(s, t);

	t = tcase_create("co-resident");
	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, coresident_two_models, 0, 2);
	tcase_add_test(t, coresident_no_space);
	tcase_add_test(t, coresident_other_cards);
	tcase_add_loop_test(t, coresident_free_orders, 0, 6);
	suite_add_tcase(s, t);

	t = tcase_create("infer-nets");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, infer_nets_range);
	tcase_add_test(t, infer_nets_cards);
	suite_add_tcase(s, t);

	t = tcase_create("end-to-end");
	tcase_set_timeout(t, 30);
	tcase_add_loop_test(t, end_to_end_vs_software, 0, 2);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failed;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* a failing test's numbers are printed too */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
