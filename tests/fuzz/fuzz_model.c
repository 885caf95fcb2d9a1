// SPDX-License-Identifier: MIT
/*
 * fuzz_model - libFuzzer target of the model-file loader
 * (bnnacc_model_load_mem, docs/model-format.md).
 *
 * Each input is loaded twice: as given (every check of the format, the
 * checksum included), and with its declared size (offset 28) and checksum
 * (last 4 bytes) rewritten to match, so that mutations get past the
 * checksum and reach the layer table, the payload and the class names.
 *
 * Properties checked besides "no crash, no leak, no undefined behaviour"
 * (a failed one abort()s, which libFuzzer reports as a crash):
 *  - a rejected buffer gives *out == NULL, -EINVAL / -E2BIG / -ENOMEM and a
 *    non-empty NUL-terminated message;
 *  - an accepted buffer is a model the rules of the format allow (counts,
 *    shapes, chaining, finite values, std >= 0, scale != 0, printable
 *    class names, metadata lines key=value of [a-z0-9_.-] keys, each
 *    found again by bnnacc_model_get_meta());
 *  - saving it writes version 2: a version 2 buffer comes back byte for
 *    byte; a version 1 buffer comes back 4 bytes longer, differing only in
 *    the version field, the declared size, a zero metadata length before
 *    the checksum, and the checksum; loading what was saved and saving
 *    again gives the same bytes (the round trip is a fixed point);
 *  - bnnacc_model_moments() of each layer gives finite means and
 *    non-negative stds (and -EINVAL past the last layer);
 *  - bnnacc_infer_soft() on it succeeds and gives probabilities in [0, 1]
 *    that sum to 1 wherever the network's outputs are finite.
 */
#include <bnnacc/bnnacc.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz_model: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* FNV-1a 32, as docs/model-format.md defines the checksum */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static size_t weights(const struct bnnacc_layer *ly)
{
	return (size_t)ly->n_out * (ly->n_in + 1);
}

static void check_floats(const float *v, size_t n, int nonneg)
{
	size_t i;

	CHECK(v);
	for (i = 0; i < n; i++)
		CHECK(isfinite(v[i]) && (!nonneg || v[i] >= 0.0f));
}

static void check_shape(const struct bnnacc_model *m)
{
	unsigned l, i, k;

	CHECK(m->kind == BNNACC_MODEL_GAUSS || m->kind == BNNACC_MODEL_SAMPLES);
	CHECK(m->n_layers >= 1 && m->n_layers <= BNNACC_MODEL_MAX_LAYERS);
	CHECK(m->kind == BNNACC_MODEL_GAUSS ? m->n_samples == 0 :
	      m->n_samples >= 1 && m->n_samples <= BNNACC_MODEL_MAX_SAMPLES);
	CHECK(m->n_inputs >= 1 && m->n_inputs <= BNNACC_MODEL_MAX_DIM);
	CHECK(m->n_classes >= 2 && m->n_classes <= BNNACC_MODEL_MAX_DIM);
	for (l = 0; l < m->n_layers; l++) {
		const struct bnnacc_layer *ly = &m->layer[l];
		size_t w = weights(ly);

		CHECK(ly->n_in == (l ? m->layer[l - 1].n_out : m->n_inputs));
		CHECK(ly->n_out >= 1 && ly->n_out <= BNNACC_MODEL_MAX_DIM);
		CHECK(ly->act <= BNNACC_ACT_SOFTMAX);
		CHECK((ly->act == BNNACC_ACT_SOFTMAX) == (l == m->n_layers - 1u));
		if (m->kind == BNNACC_MODEL_GAUSS) {
			check_floats(ly->mean, w, 0);
			check_floats(ly->std, w, 1);
			CHECK(!ly->samples);
		} else {
			check_floats(ly->samples, w * m->n_samples, 0);
			CHECK(!ly->mean && !ly->std);
		}
	}
	CHECK(m->layer[m->n_layers - 1].n_out == m->n_classes);
	check_floats(m->in_mean, m->n_inputs, 0);
	check_floats(m->in_scale, m->n_inputs, 0);
	for (i = 0; i < m->n_inputs; i++)
		CHECK(m->in_scale[i] != 0.0f);
	for (i = 0; i < m->n_classes; i++) {
		const char *s = m->class_name[i];
		size_t n = strnlen(s, BNNACC_NAME_LEN);

		CHECK(n < BNNACC_NAME_LEN);
		for (k = 0; k < n; k++)
			CHECK((unsigned char)s[k] >= 0x20 && s[k] != 0x7f);
	}
}

/* Metadata: NULL or "key=value\n" lines within the limits, each key found again */
static void check_meta(const struct bnnacc_model *m)
{
	const char *p = m->meta, *e, *eq, *k;
	char key[BNNACC_META_KEY_MAX + 1], *val;
	size_t n;

	if (!p)
		return;
	n = strlen(p);
	CHECK(n > 0 && n <= BNNACC_MODEL_MAX_META && p[n - 1] == '\n');
	val = malloc(n + 1);
	CHECK(val);
	for (; *p; p = e + 1) {
		e = strchr(p, '\n');
		eq = memchr(p, '=', (size_t)(e - p));
		CHECK(e && eq && eq > p && (size_t)(eq - p) <= BNNACC_META_KEY_MAX);
		for (k = p; k < eq; k++)
			CHECK((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' ||
			      *k == '.' || *k == '-');
		for (k = eq + 1; k < e; k++)
			CHECK((unsigned char)*k >= 0x20 && *k != 0x7f);
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = 0;
		CHECK(bnnacc_model_get_meta(m, key, val, n + 1) == (int)(e - eq - 1));
		CHECK(!memcmp(val, eq + 1, (size_t)(e - eq - 1)));
	}
	free(val);
}

static void check_moments(const struct bnnacc_model *m)
{
	size_t w = 0, i;
	float *mean, *std;
	unsigned l;

	for (l = 0; l < m->n_layers; l++)
		if (weights(&m->layer[l]) > w)
			w = weights(&m->layer[l]);
	mean = malloc(w * sizeof(float));
	std = malloc(w * sizeof(float));
	CHECK(mean && std);
	for (l = 0; l < m->n_layers; l++) {
		CHECK(bnnacc_model_moments(m, l, mean, std) == 0);
		for (i = 0; i < weights(&m->layer[l]); i++)
			CHECK(isfinite(mean[i]) && !isnan(std[i]) && std[i] >= 0.0f);
	}
	CHECK(bnnacc_model_moments(m, m->n_layers, mean, std) == -EINVAL);
	free(mean);
	free(std);
}

static void check_infer(const struct bnnacc_model *m, uint64_t seed)
{
	struct bnnacc_result res;
	unsigned i, v, k, c, nin = 2, ns = 2;
	float *x = malloc((size_t)nin * m->n_inputs * sizeof(float));

	CHECK(x);
	for (v = 0; v < nin; v++)	/* the mean input, and one off it */
		for (i = 0; i < m->n_inputs; i++)
			x[v * m->n_inputs + i] = m->in_mean[i] + (float)v * (float)(i % 5) * 0.25f;
	CHECK(bnnacc_infer_soft(m, ns, seed, x, nin, &res) == 0);
	CHECK(res.m == ns && res.n == nin && res.c == m->n_classes);
	for (v = 0; v < nin; v++) {
		for (k = 0; k < ns; k++) {
			const double *p = res.probs + ((size_t)v * ns + k) * res.c;
			double s = 0;
			int finite = 1;

			for (c = 0; c < res.c; c++) {
				finite &= isfinite(p[c]);
				s += p[c];
			}
			if (!finite)	/* overflowed logits: NaN is the answer */
				continue;
			for (c = 0; c < res.c; c++)
				CHECK(p[c] >= 0.0 && p[c] <= 1.0);
			CHECK(fabs(s - 1.0) < 1e-9);
		}
	}
	bnnacc_result_free(&res);
	CHECK(!res.probs && !res.mean);
	free(x);
}

static void load_one(const uint8_t *buf, size_t len)
{
	static struct bnnacc_model sentinel;
	struct bnnacc_model *m = &sentinel, *again;	/* the loader must reset it */
	char err[256];
	uint8_t *back, *back2;
	uint32_t ver;
	size_t n;
	long w;
	int ret;

	memset(err, 0x5a, sizeof(err));
	ret = bnnacc_model_load_mem(&m, buf, len, err, sizeof(err));
	if (ret) {
		CHECK(m == NULL);
		CHECK(ret == -EINVAL || ret == -E2BIG || ret == -ENOMEM);
		CHECK(memchr(err, 0, sizeof(err)) && err[0]);
		return;
	}
	CHECK(m);
	check_shape(m);
	check_meta(m);
	ver = get32(buf + 4);
	CHECK(ver == 1 || ver == 2);
	/* saved as version 2: a version 1 file gains a 4-byte zero metadata length */
	n = len + (ver == 1 ? 4 : 0);
	CHECK(ver == 2 || !m->meta);
	CHECK(bnnacc_model_size(m) == n);
	back = malloc(n);
	CHECK(back);
	CHECK(bnnacc_model_save_mem(m, back, n - 1) == -ENOSPC);
	w = bnnacc_model_save_mem(m, back, n);
	CHECK(w == (long)n);
	if (ver == 2) {
		CHECK(memcmp(back, buf, len) == 0);
	} else {
		/* the difference is the version, the size, the metadata length and the checksum */
		CHECK(memcmp(back, buf, 4) == 0);
		CHECK(get32(back + 4) == 2);
		CHECK(memcmp(back + 8, buf + 8, 20) == 0);
		CHECK(get32(back + 28) == n);
		CHECK(memcmp(back + 32, buf + 32, len - 36) == 0);
		CHECK(get32(back + len - 4) == 0);
		CHECK(get32(back + n - 4) == fnv1a(back, n - 4));
	}
	/* what was saved loads, and saves to the same bytes again */
	CHECK(bnnacc_model_load_mem(&again, back, n, err, sizeof(err)) == 0);
	w = bnnacc_model_save_mem(again, back2 = malloc(n), n);
	CHECK(back2 && w == (long)n && memcmp(back2, back, n) == 0);
	bnnacc_model_free(again);
	free(back2);
	free(back);
	check_moments(m);
	check_infer(m, len);
	bnnacc_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	load_one(data, size);
	if (size < 36)
		return 0;
	fixed = malloc(size);
	CHECK(fixed);
	memcpy(fixed, data, size);
	put32(fixed + 28, (uint32_t)size);
	put32(fixed + size - 4, fnv1a(fixed, size - 4));
	if (memcmp(fixed, data, size))
		load_one(fixed, size);
	free(fixed);
	return 0;
}
