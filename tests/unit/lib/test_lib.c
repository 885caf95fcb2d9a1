/* SPDX-License-Identifier: MIT */
/*
 * test_lib - Check unit tests of libbnnacc against the physics core: the
 * uncertainty maths, the model format (round trip and every kind of corrupt
 * file), calibration, pair mapping, gamma fitting, tile allocation and an
 * end-to-end transfer + inference compared with the software reference.
 */
#include "core_card.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */
/* ---------------------------------------------------------------------- */

static struct bnc_array *mk_array(double stuck_frac, uint64_t seed)
{
	struct bnc_params p;
	struct bnc_array *a;

	bnc_params_default(&p);
	p.stuck_frac = stuck_frac;
	a = bnc_create(&p, seed);
	ck_assert_ptr_nonnull(a);
	return a;
}

static void calibrate(struct bnnacc_card *card, struct bnnacc_calib *cal)
{
	char err[256] = "";
	int ret = bnnacc_calibrate(card, NULL, cal, err, sizeof(err));

	ck_assert_msg(ret == 0, "calibrate: %d %s", ret, err);
}

/* A small uniform generator for the tests' own data */
static double urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(*s >> 11) / 9007199254740992.0;
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
		n = (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
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
		n = (size_t)a->layer[l].n_out * (a->layer[l].n_in + 1) * 4;
		if (a->kind == BNNACC_MODEL_GAUSS) {
			ck_assert(!memcmp(a->layer[l].mean, b->layer[l].mean, n));
			ck_assert(!memcmp(a->layer[l].std, b->layer[l].std, n));
		} else {
			ck_assert(!memcmp(a->layer[l].samples, b->layer[l].samples,
					  n * a->n_samples));
		}
	}
}

START_TEST(model_roundtrip)
{
	struct bnnacc_model *m = mk_model(_i ? BNNACC_MODEL_SAMPLES : BNNACC_MODEL_GAUSS,
					  _i ? 5 : 0, 9), *r;
	char path[] = "/tmp/bnnacc-model-XXXXXX", err[256];
	size_t len;
	void *b = save(m, &len);
	int fd;

	ck_assert_int_eq(bnnacc_model_load_mem(&r, b, len, err, sizeof(err)), 0);
	same_model(m, r);
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

START_TEST(model_truncated_every_length)
{
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 1), *r;
	size_t len, i;
	uint8_t *b = save(m, &len);

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
	{ 4, 2, "unsupported version" },
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

	/* negative std */
	memcpy(c, b, len);
	put32(c + std0, 0xbf800000u);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "negative");
	/* class name without NUL */
	memcpy(c, b, len);
	memset(c + len - 4 - 3 * BNNACC_NAME_LEN, 'A', BNNACC_NAME_LEN);
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "NUL");
	/* control character in a class name */
	memcpy(c, b, len);
	c[len - 4 - 3 * BNNACC_NAME_LEN] = '\n';
	reseal(c, len);
	expect_reject(c, len, -EINVAL, "control character");
	/* flipped payload byte: checksum */
	memcpy(c, b, len);
	c[100] ^= 0x40;
	expect_reject(c, len, -EINVAL, "checksum");
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
	uint8_t *b = save(m, &len), *c = malloc(len);
	unsigned it, k, ok = 0;

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
/* calibration                                                             */
/* ---------------------------------------------------------------------- */

/* The total spread the core predicts for a cell read 6 s after a SET */
static double expect_sigma(const struct bnc_params *p, double g)
{
	double c2c = bnc_c2c_sigma_us(p, g), l = log(6.0);
	double gr = g * (1.0 - p->drift_nu * l);

	return sqrt(c2c * c2c * (1.0 + p->d2d_ratio * p->d2d_ratio) +
		    pow(p->read_noise_rel * gr, 2) + pow(p->drift_sig * l * g, 2));
}

START_TEST(calib_recovers_core)
{
	struct bnc_array *a = mk_array(0.001, 11);
	const struct bnc_params *p = bnc_params(a);
	struct bnnacc_card card;
	struct core_card cc;
	struct bnnacc_calib cal;
	unsigned i;

	core_card_init(&cc, a, 11, &card);
	calibrate(&card, &cal);
	ck_assert_uint_eq(cal.nlevels, 12);
	ck_assert_msg(fabs(cal.k_us_per_ua / p->k_us_per_ua - 1.0) < 0.03,
		      "k %.4f vs %.4f", cal.k_us_per_ua, p->k_us_per_ua);
	for (i = 0; i < cal.nlevels; i++) {
		double g = bnc_set_median_us(p, cal.iset_ua[i]);
		double s = expect_sigma(p, g);

		ck_assert_msg(fabs(cal.g_med[i] / g - 1.0) < 0.03, "level %u median %.3f vs %.3f",
			      i, cal.g_med[i], g);
		/*
		 * Below ~3 sigma from zero the core clips draws at g_min, which
		 * narrows the spread the card really has: only an upper bound.
		 */
		if (g < 3.0 * s)
			ck_assert_msg(cal.g_sig[i] < s * 1.03, "level %u sigma %.3f vs %.3f",
				      i, cal.g_sig[i], s);
		else
			ck_assert_msg(fabs(cal.g_sig[i] / s - 1.0) < 0.05,
				      "level %u sigma %.3f vs %.3f", i, cal.g_sig[i], s);
	}
	ck_assert_msg(fabs(cal.reset_med / p->reset_med_us - 1.0) < 0.05, "reset %.3f",
		      cal.reset_med);
	/* the sigma line of the fit is close to the model's too */
	ck_assert(fabs(bnnacc_calib_sigma(&cal, 100.0) / expect_sigma(p, 100.0) - 1.0) < 0.05);
	bnc_destroy(a);
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
	struct bnc_array *a = mk_array(0.0, 12);
	char dir[] = "/tmp/bnnacc-cal-XXXXXX", path[128], err[256];
	struct bnnacc_cal_opts o;
	struct bnnacc_calib c1, c2;
	struct bnnacc_card card;
	struct core_card cc;
	unsigned calls = 0;
	FILE *f;

	core_card_init(&cc, a, 0xabcdef, &card);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.nlevels = 6;
	o.progress = count_progress;
	o.progress_arg = &calls;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c1, err, sizeof(err)), 0);
	ck_assert_uint_eq(calls, 7);
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 1);
	ck_assert_uint_eq(cc.programs, 7);	/* reused: nothing programmed */
	ck_assert_double_eq_tol(c2.k_us_per_ua, c1.k_us_per_ua, 1e-12);
	ck_assert_double_eq_tol(c2.g_sig[3], c1.g_sig[3], 1e-12);
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
	snprintf(path, sizeof(path), "%s/bnnacc-%016x.cal", dir, 0xabcdef);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("bnnacc-calibration 1\nserial 0xabcdef\nlevels 99\n", f);
	fclose(f);
	ck_assert_int_eq(bnnacc_calib_load(&c2, path, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "corrupt"));
	o.force = 0;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c2, err, sizeof(err)), 0);
	unlink(path);
	rmdir(dir);
	bnc_destroy(a);
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
	struct bnc_array *a = mk_array(0.0, 13);
	struct bnnacc_cal_opts o;
	struct bnnacc_calib c;
	struct bnnacc_card card;
	struct core_card cc;
	char err[256] = "";

	core_card_init(&cc, a, 13, &card);
	memset(&o, 0, sizeof(o));
	o.progress = abort_at_3;
	ck_assert_int_eq(bnnacc_calibrate(&card, &o, &c, err, sizeof(err)), -ECANCELED);
	ck_assert_uint_eq(cc.programs, 3);
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
	bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* pairs and gamma                                                         */
/* ---------------------------------------------------------------------- */

/* Program 64 x 128 pairs with currents (ip, im), read, measure the difference */
static void realise(struct bnnacc_card *card, double ip, double im,
		    double *mean, double *sig)
{
	static uint32_t w[BNC_CELLS], ns[BNC_CELLS];
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
	ck_assert_int_eq(card->ops->read(card->ctx, &r, ns), 0);
	for (i = 0; i < BNC_ROWS; i += 2)
		for (j = 0; j < BNC_COLS; j++) {
			d = ((double)ns[i * BNC_COLS + j] - ns[(i + 1) * BNC_COLS + j]) / 1000.0;
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
	struct bnc_array *a = mk_array(0.0, 21);
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct core_card cc;
	double worst_m = 0, worst_s = 0;
	unsigned i, j;

	core_card_init(&cc, a, 21, &card);
	calibrate(&card, &cal);
	for (i = 0; i < sizeof(means) / sizeof(means[0]); i++) {
		double lo = INFINITY, hi = 0, ip, im, am, as, rm, rs;

		/* the SET/SET sigma range at this mean, from the library's own choices */
		for (j = 0; j <= 200; j++) {
			bnnacc_pair_choose(&cal, means[i], 5.0 + j * 0.025, &ip, &im, NULL, &as);
			if (ip > 0 && im > 0) {
				lo = fmin(lo, as);
				hi = fmax(hi, as);
			}
		}
		ck_assert(lo < hi);
		for (j = 0; j < 3; j++) {
			double target = lo + (hi - lo) * fr[j];
			int reach = bnnacc_pair_choose(&cal, means[i], target, &ip, &im, &am, &as);

			ck_assert_int_eq(reach, fabs(means[i]) <= cal.g_hi - cal.g_lo);
			if (reach) {
				ck_assert_msg(fabs(am - means[i]) < 0.5, "mean %g -> %g", means[i], am);
				ck_assert_msg(fabs(as - target) < 0.02 * target + 0.05,
					      "sigma %g -> %g", target, as);
			}
			realise(&card, ip, im, &rm, &rs);
			worst_m = fmax(worst_m, fabs(rm - am));
			worst_s = fmax(worst_s, fabs(rs / as - 1.0));
			ck_assert_msg(fabs(rm - am) < 1.0 + 0.02 * fabs(am),
				      "target (%g, %g): realised mean %.3f vs %.3f", means[i], target, rm, am);
			ck_assert_msg(fabs(rs / as - 1.0) < 0.06,
				      "target (%g, %g): realised sigma %.3f vs %.3f", means[i], target, rs, as);
		}
	}
	/* RESET pairs: SET/RESET at mean 60 (low spread), RESET/RESET at 0 */
	for (i = 0; i < 2; i++) {
		double t = i ? 0.0 : -60.0, ip, im, am, as, rm, rs, ts;

		ts = i ? 0.5 : 5.0;
		bnnacc_pair_choose(&cal, t, ts, &ip, &im, &am, &as);
		ck_assert(i ? ip == 0.0 && im == 0.0 : ip == 0.0 && im > 0.0);
		ck_assert_double_eq_tol(am, t, 0.5);
		ck_assert(as < (i ? 1.5 : 6.5));
		realise(&card, ip, im, &rm, &rs);
		ck_assert_msg(fabs(rm - am) < 1.0 + 0.02 * fabs(am), "reset pair %u mean %.3f vs %.3f",
			      i, rm, am);
		ck_assert_msg(fabs(rs / as - 1.0) < 0.1, "reset pair %u sigma %.3f vs %.3f", i, rs, as);
		worst_m = fmax(worst_m, fabs(rm - am));
		worst_s = fmax(worst_s, fabs(rs / as - 1.0));
	}
	printf("pairs: worst |realised - predicted| mean %.3f uS, sigma %.2f %%\n",
	       worst_m, 100.0 * worst_s);
	bnc_destroy(a);
}
END_TEST

/* Fraction of weights whose (g mu, g sigma) the pair chooser calls reachable */
static double reach_frac(const struct bnnacc_calib *cal, double g, const float *mu,
			 const float *sg, unsigned n)
{
	unsigned i, k = 0;

	for (i = 0; i < n; i++)
		k += bnnacc_pair_choose(cal, g * mu[i], g * sg[i], NULL, NULL, NULL, NULL);
	return (double)k / n;
}

START_TEST(gamma_fit)
{
	struct bnc_array *a = mk_array(0.0, 22);
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct core_card cc;
	float mu[400], sg[400];
	uint64_t s = 5;
	double g, frac, lo, hi;
	unsigned i;

	core_card_init(&cc, a, 22, &card);
	calibrate(&card, &cal);
	/* compatible: one sigma for all, means well within range */
	for (i = 0; i < 400; i++) {
		mu[i] = (float)(urand(&s) - 0.5);
		sg[i] = 0.05f;
	}
	g = bnnacc_fit_gamma(&cal, mu, sg, 400, &frac);
	ck_assert_double_eq_tol(frac, 1.0, 1e-12);
	bnnacc_pair_choose(&cal, 0.0, 0.0, NULL, NULL, NULL, &lo);
	bnnacc_pair_choose(&cal, 0.0, 100.0, NULL, NULL, NULL, &hi);
	ck_assert_msg(g * 0.05 >= lo * 0.99 && g * 0.05 <= hi * 1.01, "g %g lo %g hi %g", g, lo, hi);
	ck_assert(g * 0.5 <= cal.g_hi - cal.g_lo);
	/* mixed: the fit is at least as good as any gain on a fine grid */
	for (i = 0; i < 400; i++) {
		mu[i] = (float)(2.0 * urand(&s) - 1.0);
		sg[i] = (float)(i < 200 ? 0.5 : 0.05 + 0.02 * urand(&s));
	}
	g = bnnacc_fit_gamma(&cal, mu, sg, 400, &frac);
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
	ck_assert(bnnacc_fit_gamma(&cal, mu, sg, 400, &frac) < 0);
	bnc_destroy(a);
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

START_TEST(transfer_avoids_stuck_cells)
{
	struct bnc_array *a = mk_array(0.01, 31);	/* 164 stuck cells */
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 4);
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct bnnacc_net *net;
	struct core_card cc;
	char err[256] = "";
	unsigned k, l, r, c;

	core_card_init(&cc, a, 31, &card);
	calibrate(&card, &cal);
	ck_assert_msg(bnnacc_transfer(&net, &card, &cal, m, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_gt(bnnacc_net_m(net), 40);
	for (k = 0; k < bnnacc_net_m(net); k++)
		for (l = 0; l < 2; l++) {
			const struct bnnacc_region *t = bnnacc_net_tile(net, k, l);

			for (r = 0; r < t->rows; r++)
				for (c = 0; c < t->cols; c++)
					ck_assert_msg(!bnc_is_stuck(a, t->row + r, t->col + c),
						      "network %u layer %u covers a stuck cell", k, l);
		}
	ck_assert_ptr_null(bnnacc_net_tile(net, bnnacc_net_m(net), 0));
	bnnacc_net_free(net);
	/* asking for more than fits */
	{
		struct bnnacc_xfer_opts o = { 5000, 0, 0 };

		ck_assert_int_eq(bnnacc_transfer(&net, &card, &cal, m, &o, err, sizeof(err)), -ENOSPC);
		ck_assert(strstr(err, "fit"));
	}
	bnnacc_model_free(m);
	bnc_destroy(a);
}
END_TEST


START_TEST(pair_clipped_mean)
{
	struct bnc_array *a = mk_array(0.0, 23);
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct core_card cc;
	double ip, im, am, as;

	core_card_init(&cc, a, 23, &card);
	calibrate(&card, &cal);
	ck_assert_int_eq(bnnacc_pair_choose(&cal, 500.0, 7.5, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, cal.g_hi - cal.g_lo, 0.5);
	ck_assert_double_eq_tol(ip, card.info.iset_max_na / 1000.0, 0.01);
	ck_assert_double_eq_tol(im, card.info.iset_min_na / 1000.0, 0.01);
	ck_assert_int_eq(bnnacc_pair_choose(&cal, -500.0, 7.5, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, -(cal.g_hi - cal.g_lo), 0.5);
	/* sigma out of reach at a reachable mean: clamped, mean kept */
	ck_assert_int_eq(bnnacc_pair_choose(&cal, 40.0, 1.0, &ip, &im, &am, &as), 0);
	ck_assert_double_eq_tol(am, 40.0, 0.5);
	ck_assert(as > 5.0);
	bnc_destroy(a);
}
END_TEST

START_TEST(transfer_samples_model_and_limits)
{
	static const uint32_t dims[] = { 70, 2 };
	static const uint32_t acts[] = { BNNACC_ACT_SOFTMAX };
	struct bnc_array *a = mk_array(0.0, 32);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_SAMPLES, 40, 6), *big, *ach;
	struct bnnacc_xfer_opts o = { 8, 0, 0 };
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct bnnacc_net *net;
	struct bnnacc_result hw;
	struct core_card cc;
	float x[6] = { 0.1f, 0.2f, -1.0f, 0.5f, 2.0f, -2.0f };
	float mu[27], sd[27];
	char err[256] = "";

	core_card_init(&cc, a, 32, &card);
	calibrate(&card, &cal);
	/* SAMPLES: the transfer maps the empirical moments */
	ck_assert_int_eq(bnnacc_model_moments(m, 1, mu, sd), 0);
	ck_assert(sd[0] > 0.3 && sd[0] < 0.8);	/* uniform(-1, 1): 0.577 */
	ck_assert_msg(bnnacc_transfer(&net, &card, &cal, m, &o, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(bnnacc_net_m(net), 8);
	ck_assert_int_eq(bnnacc_net_achieved(net, &ach), 0);
	ck_assert_uint_eq(ach->kind, BNNACC_MODEL_GAUSS);
	ck_assert_str_eq(ach->class_name[0], "setosa");
	ck_assert_msg(bnnacc_infer(net, x, 3, &hw, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(hw.m, 8);
	ck_assert_double_eq_tol(hw.mean[0] + hw.mean[1] + hw.mean[2], 1.0, 1e-9);
	ck_assert_int_eq(bnnacc_infer(net, x, 0, &hw, err, sizeof(err)) == 0, 0);
	bnnacc_result_free(&hw);
	bnnacc_model_free(ach);
	bnnacc_net_free(net);
	/* a layer too tall for one tile */
	ck_assert_int_eq(bnnacc_model_new(&big, BNNACC_MODEL_GAUSS, 1, dims, acts, 0), 0);
	big->layer[0].mean[0] = 1.0f;
	big->layer[0].std[0] = 0.1f;
	ck_assert_int_eq(bnnacc_transfer(&net, &card, &cal, big, NULL, err, sizeof(err)), -ENOSPC);
	ck_assert_msg(strstr(err, "layer 0") && strstr(err, "142"), "%s", err);
	bnnacc_model_free(big);
	bnnacc_model_free(m);
	bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* end to end                                                              */
/* ---------------------------------------------------------------------- */

#define E2E_M 64
#define E2E_N 120

START_TEST(end_to_end_vs_software)
{
	struct bnc_array *a = mk_array(0.001, 41);
	struct bnnacc_model *m = mk_model(BNNACC_MODEL_GAUSS, 0, 8), *ach;
	struct bnnacc_xfer_opts o = { E2E_M, 0, 0 };
	struct bnnacc_result hw, sw;
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct bnnacc_net *net;
	struct core_card cc;
	float x[E2E_N * 2];
	char err[256] = "";
	double dsum = 0, ue_hw = 0, ue_sw = 0;
	unsigned i, j, bad = 0, agree = 0;

	for (i = 0; i < E2E_N; i++) {
		x[2 * i] = (float)(-2.0 + 4.0 * (i % 12) / 11.0);
		x[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 12) / 9.0);
	}
	core_card_init(&cc, a, 41, &card);
	calibrate(&card, &cal);
	ck_assert_msg(bnnacc_transfer(&net, &card, &cal, m, &o, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(bnnacc_net_m(net), E2E_M);
	for (i = 0; i < 2; i++) {
		const struct bnnacc_layer_report *rp = bnnacc_net_report(net, i);

		printf("e2e layer %u: gamma %.2f uS, KL mean %.2e max %.2e nats, clipped %u/%u, rel mean err %.4f\n",
		       i, bnnacc_net_gamma(net), rp->kl_mean, rp->kl_max, rp->clipped,
		       rp->weights, rp->rel_mean_err);
		ck_assert_uint_le(rp->clipped, rp->weights / 10);
		ck_assert(rp->kl_mean < 0.05);
	}
	ck_assert_msg(bnnacc_infer(net, x, E2E_N, &hw, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(bnnacc_net_achieved(net, &ach), 0);
	ck_assert_int_eq(bnnacc_infer_soft(ach, E2E_M, 99, x, E2E_N, &sw), 0);
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
	printf("e2e: mean |p_hw - p_sw| %.4f, outside tolerance %u/%u, argmax agree %u/%u, U_e hw %.4f sw %.4f\n",
	       dsum, bad, E2E_N, agree, E2E_N, ue_hw, ue_sw);
	ck_assert_msg(bad <= E2E_N / 20, "%u of %u inputs outside tolerance", bad, E2E_N);
	ck_assert_msg(dsum < 0.04, "mean difference %.4f", dsum);
	ck_assert_msg(fabs(ue_hw - ue_sw) < 0.3 * ue_sw + 0.01, "U_e hw %.4f sw %.4f", ue_hw, ue_sw);
	/* and the decisions of the original posterior are preserved */
	bnnacc_result_free(&sw);
	ck_assert_int_eq(bnnacc_infer_soft(m, E2E_M, 7, x, E2E_N, &sw), 0);
	for (i = 0, agree = 0; i < E2E_N; i++) {
		unsigned ah = 0, as = 0;

		for (j = 1; j < 3; j++) {
			ah = hw.mean[i * 3 + j] > hw.mean[i * 3 + ah] ? j : ah;
			as = sw.mean[i * 3 + j] > sw.mean[i * 3 + as] ? j : as;
		}
		agree += ah == as;
	}
	printf("e2e: argmax agreement with the original posterior %u/%u\n", agree, E2E_N);
	ck_assert_uint_ge(agree, E2E_N * 9 / 10);
	bnnacc_result_free(&hw);
	bnnacc_result_free(&sw);
	bnnacc_model_free(ach);
	bnnacc_net_free(net);
	bnnacc_model_free(m);
	bnc_destroy(a);
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
	tcase_add_test(t, model_truncated_every_length);
	tcase_add_test(t, model_trailing_oversized);
	tcase_add_loop_test(t, model_corrupt_fields, 0,
			    (int)(sizeof(corrupt) / sizeof(corrupt[0])));
	tcase_add_test(t, model_corrupt_values);
	tcase_add_test(t, model_fuzz_no_crash);
	suite_add_tcase(s, t);

	t = tcase_create("calibration");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, calib_recovers_core);
	tcase_add_test(t, calib_save_reuse_stale);
	tcase_add_test(t, calib_abort_and_bad_region);
	suite_add_tcase(s, t);

	t = tcase_create("mapping");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, pair_realised_matches_target);
	tcase_add_test(t, gamma_fit);
	tcase_add_test(t, tiles_max_and_stuck);
	tcase_add_test(t, transfer_avoids_stuck_cells);
	tcase_add_test(t, pair_clipped_mean);
	tcase_add_test(t, transfer_samples_model_and_limits);
	suite_add_tcase(s, t);

	t = tcase_create("end-to-end");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, end_to_end_vs_software);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
