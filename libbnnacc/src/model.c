/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - the model file (docs/model-format.md): a versioned
 * little-endian binary with a checksum. The loader validates every field
 * against the buffer's length before it reads anything it covers.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_BYTES 32u
#define LAYER_BYTES 16u

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static float getf(const uint8_t *p)
{
	uint32_t u = get32(p);
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static void putf(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	put32(p, u);
}

static uint32_t fnv1a32(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static size_t layer_w(const struct bnnacc_layer *l)
{
	return (size_t)l->n_out * (l->n_in + 1);
}

/*
 * Bytes of a model with these (already bounded) dimensions, in 64 bits so
 * that no hostile header can wrap it around on a 32-bit size_t
 */
static uint64_t model_bytes(uint32_t kind, uint32_t nl, uint32_t ns,
			    uint32_t n_in, uint32_t n_cls, const uint32_t *dims_in,
			    const uint32_t *dims_out)
{
	uint64_t s = HDR_BYTES + (uint64_t)nl * LAYER_BYTES + (uint64_t)n_in * 8, w;
	uint32_t l;

	for (l = 0; l < nl; l++) {
		w = (uint64_t)dims_out[l] * (dims_in[l] + 1) * 4;
		s += kind == BNNACC_MODEL_GAUSS ? 2 * w : (uint64_t)ns * w;
	}
	return s + (uint64_t)n_cls * BNNACC_NAME_LEN;
}

/* Bytes of the metadata block (version 2): u32 length, then the text */
static size_t meta_len(const struct bnnacc_model *m)
{
	return m->meta ? strlen(m->meta) : 0;
}

/*
 * Is @t (@n bytes) valid metadata: lines "key=value\n", keys of
 * [a-z0-9_.-] (1..BNNACC_META_KEY_MAX), each once, values without control
 * characters? NULL or the reason.
 */
static const char *meta_check(const char *t, size_t n)
{
	size_t i = 0, k;

	if (n > BNNACC_MODEL_MAX_META)
		return "longer than the limit";
	if (n && t[n - 1] != '\n')
		return "does not end with a newline";
	while (i < n) {
		size_t key = i, eq, j;

		for (k = i; k < n && t[k] != '='; k++)
			if (!((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= '0' && t[k] <= '9') ||
			      t[k] == '_' || t[k] == '.' || t[k] == '-'))
				return "a key has a character outside [a-z0-9_.-]";
		if (k == n || k == i || k - i > BNNACC_META_KEY_MAX)
			return "a line is not key=value or its key is empty or too long";
		eq = k;
		for (k = eq + 1; t[k] != '\n'; k++)
			if ((unsigned char)t[k] < 0x20 || t[k] == 0x7f)
				return "a value has a control character";
		/* the same key on an earlier line? */
		for (j = 0; j < key; ) {
			size_t e = j;

			while (t[e] != '=')
				e++;
			if (e - j == eq - key && !memcmp(t + j, t + key, eq - key))
				return "a key appears twice";
			while (t[j] != '\n')
				j++;
			j++;
		}
		i = k + 1;
	}
	return NULL;
}

int bnnacc_model_get_meta(const struct bnnacc_model *m, const char *key,
			  char *val, size_t len)
{
	size_t kl = key ? strlen(key) : 0, n;
	const char *p = m->meta, *e;

	if (!kl || strchr(key, '=') || strchr(key, '\n'))
		return -ENOENT;	/* no valid key: would match inside a value */
	while (p && *p) {
		e = strchr(p, '\n');
		if (!e)
			break;
		if ((size_t)(e - p) > kl && p[kl] == '=' && !strncmp(p, key, kl)) {
			n = (size_t)(e - p) - kl - 1;
			if (n + 1 > len)
				return -ENOSPC;
			memcpy(val, p + kl + 1, n);
			val[n] = 0;
			return (int)n;
		}
		p = e + 1;
	}
	return -ENOENT;
}

int bnnacc_model_set_meta(struct bnnacc_model *m, const char *key, const char *val)
{
	size_t kl = key ? strlen(key) : 0, old = meta_len(m), vl, n = 0;
	const char *p = m->meta, *e;
	char *t;

	if (!kl || kl > BNNACC_META_KEY_MAX || strchr(key, '=') || strchr(key, '\n') ||
	    (val && strchr(val, '\n')))
		return -EINVAL;
	vl = val ? strlen(val) : 0;
	t = malloc(old + kl + vl + 3);
	if (!t)
		return -ENOMEM;
	while (p && *p && (e = strchr(p, '\n'))) {	/* every other line */
		if (!((size_t)(e - p) > kl && p[kl] == '=' && !strncmp(p, key, kl))) {
			memcpy(t + n, p, (size_t)(e - p) + 1);
			n += (size_t)(e - p) + 1;
		}
		p = e + 1;
	}
	if (val)
		n += (size_t)sprintf(t + n, "%s=%s\n", key, val);
	t[n] = 0;
	if (meta_check(t, n)) {
		free(t);
		return n > BNNACC_MODEL_MAX_META ? -E2BIG : -EINVAL;
	}
	free(m->meta);
	m->meta = n ? t : NULL;
	if (!n)
		free(t);
	return 0;
}

void bnnacc_model_free(struct bnnacc_model *m)
{
	unsigned l;

	if (!m)
		return;
	for (l = 0; l < m->n_layers && l < BNNACC_MODEL_MAX_LAYERS; l++) {
		free(m->layer[l].mean);
		free(m->layer[l].std);
		free(m->layer[l].samples);
	}
	free(m->in_mean);
	free(m->in_scale);
	free(m->class_name);
	free(m->meta);
	free(m);
}

int bnnacc_model_new(struct bnnacc_model **out, uint32_t kind,
		     unsigned n_layers, const uint32_t *dims,
		     const uint32_t *acts, unsigned n_samples)
{
	struct bnnacc_model *m;
	unsigned l, i;
	size_t w;

	*out = NULL;
	if (kind > BNNACC_MODEL_SAMPLES || !n_layers ||
	    n_layers > BNNACC_MODEL_MAX_LAYERS ||
	    (kind == BNNACC_MODEL_SAMPLES &&
	     (!n_samples || n_samples > BNNACC_MODEL_MAX_SAMPLES)))
		return -EINVAL;
	for (l = 0; l <= n_layers; l++)
		if (!dims[l] || dims[l] > BNNACC_MODEL_MAX_DIM)
			return -EINVAL;
	for (l = 0; l < n_layers; l++)
		if (acts[l] > BNNACC_ACT_SOFTMAX ||
		    (acts[l] == BNNACC_ACT_SOFTMAX) != (l == n_layers - 1))
			return -EINVAL;
	if (dims[n_layers] < 2)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->kind = kind;
	m->n_layers = n_layers;
	m->n_samples = kind == BNNACC_MODEL_SAMPLES ? n_samples : 0;
	m->n_inputs = dims[0];
	m->n_classes = dims[n_layers];
	m->in_mean = calloc(dims[0], sizeof(float));
	m->in_scale = calloc(dims[0], sizeof(float));
	m->class_name = calloc(m->n_classes, BNNACC_NAME_LEN);
	if (!m->in_mean || !m->in_scale || !m->class_name)
		goto nomem;
	for (i = 0; i < dims[0]; i++)
		m->in_scale[i] = 1.0f;
	for (i = 0; i < m->n_classes; i++)
		snprintf(m->class_name[i], BNNACC_NAME_LEN, "class%u", i);
	for (l = 0; l < n_layers; l++) {
		struct bnnacc_layer *ly = &m->layer[l];

		ly->n_in = dims[l];
		ly->n_out = dims[l + 1];
		ly->act = acts[l];
		w = layer_w(ly);
		if (kind == BNNACC_MODEL_GAUSS) {
			ly->mean = calloc(w, sizeof(float));
			ly->std = calloc(w, sizeof(float));
			if (!ly->mean || !ly->std)
				goto nomem;
		} else {
			ly->samples = calloc(w * n_samples, sizeof(float));
			if (!ly->samples)
				goto nomem;
		}
	}
	*out = m;
	return 0;
nomem:
	bnnacc_model_free(m);
	return -ENOMEM;
}

size_t bnnacc_model_size(const struct bnnacc_model *m)
{
	uint32_t din[BNNACC_MODEL_MAX_LAYERS], dout[BNNACC_MODEL_MAX_LAYERS];
	uint64_t n;
	uint32_t l;

	if (!m || !m->n_layers || m->n_layers > BNNACC_MODEL_MAX_LAYERS)
		return 0;
	for (l = 0; l < m->n_layers; l++) {
		din[l] = m->layer[l].n_in;
		dout[l] = m->layer[l].n_out;
	}
	n = model_bytes(m->kind, m->n_layers, m->n_samples, m->n_inputs,
			m->n_classes, din, dout) + 4 + meta_len(m) + 4;
	return n > BNNACC_MODEL_MAX_BYTES ? 0 : (size_t)n;
}

static uint8_t *put_floats(uint8_t *p, const float *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, p += 4)
		putf(p, v[i]);
	return p;
}

long bnnacc_model_save_mem(const struct bnnacc_model *m, void *buf, size_t len)
{
	size_t need = bnnacc_model_size(m), w;
	uint8_t *b = buf, *p;
	uint32_t l, i;

	if (!need || need > BNNACC_MODEL_MAX_BYTES)
		return -EINVAL;
	if (len < need)
		return -ENOSPC;
	memset(b, 0, need);
	put32(b, BNNACC_MODEL_MAGIC);
	put32(b + 4, BNNACC_MODEL_VERSION);
	put32(b + 8, m->kind);
	put32(b + 12, m->n_layers);
	put32(b + 16, m->n_samples);
	put32(b + 20, m->n_inputs);
	put32(b + 24, m->n_classes);
	put32(b + 28, (uint32_t)need);
	p = b + HDR_BYTES;
	for (l = 0; l < m->n_layers; l++, p += LAYER_BYTES) {
		put32(p, m->layer[l].n_in);
		put32(p + 4, m->layer[l].n_out);
		put32(p + 8, m->layer[l].act);
	}
	for (i = 0; i < m->n_inputs; i++, p += 8) {
		putf(p, m->in_mean[i]);
		putf(p + 4, m->in_scale[i]);
	}
	for (l = 0; l < m->n_layers; l++) {
		w = layer_w(&m->layer[l]);
		if (m->kind == BNNACC_MODEL_GAUSS) {
			p = put_floats(p, m->layer[l].mean, w);
			p = put_floats(p, m->layer[l].std, w);
		} else {
			p = put_floats(p, m->layer[l].samples, w * m->n_samples);
		}
	}
	for (i = 0; i < m->n_classes; i++, p += BNNACC_NAME_LEN)
		memcpy(p, m->class_name[i], strnlen(m->class_name[i], BNNACC_NAME_LEN - 1));
	put32(p, (uint32_t)meta_len(m));
	if (meta_len(m))
		memcpy(p + 4, m->meta, meta_len(m));
	put32(b + need - 4, fnv1a32(b, need - 4));
	return (long)need;
}

int bnnacc_model_save(const struct bnnacc_model *m, const char *path)
{
	size_t n = bnnacc_model_size(m);
	void *buf;
	long w;
	FILE *f;
	int ret = 0;

	if (!n)
		return -EINVAL;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	w = bnnacc_model_save_mem(m, buf, n);
	if (w < 0) {
		free(buf);
		return (int)w;
	}
	f = fopen(path, "we");
	if (!f)
		ret = -errno;
	else {
		if (fwrite(buf, 1, n, f) != n)
			ret = -EIO;
		if (fclose(f) && !ret)
			ret = -errno;
	}
	free(buf);
	return ret;
}

/* ---- loading ---- */

static int check_header(const uint8_t *b, size_t len, char *err, size_t el)
{
	uint32_t kind, nl, ns, ni, nc, total;

	if (len < HDR_BYTES + 4)
		return bnl_err(err, el, -EINVAL,
			       "truncated: %zu bytes, a model has at least %u", len,
			       HDR_BYTES + 4);
	if (get32(b) != BNNACC_MODEL_MAGIC)
		return bnl_err(err, el, -EINVAL, "bad magic 0x%08x at offset 0 (not a bnnacc model)",
			       get32(b));
	if (get32(b + 4) != 1 && get32(b + 4) != BNNACC_MODEL_VERSION)
		return bnl_err(err, el, -EINVAL,
			       "unsupported version %u at offset 4 (this library reads 1..%d)",
			       get32(b + 4), BNNACC_MODEL_VERSION);
	kind = get32(b + 8);
	nl = get32(b + 12);
	ns = get32(b + 16);
	ni = get32(b + 20);
	nc = get32(b + 24);
	total = get32(b + 28);
	if (kind > BNNACC_MODEL_SAMPLES)
		return bnl_err(err, el, -EINVAL, "unknown kind %u at offset 8", kind);
	if (!nl || nl > BNNACC_MODEL_MAX_LAYERS)
		return bnl_err(err, el, -EINVAL, "layer count %u at offset 12 not in 1..%d",
			       nl, BNNACC_MODEL_MAX_LAYERS);
	if (kind == BNNACC_MODEL_GAUSS ? ns != 0 : !ns || ns > BNNACC_MODEL_MAX_SAMPLES)
		return bnl_err(err, el, -EINVAL, "sample count %u at offset 16 invalid for kind %u",
			       ns, kind);
	if (!ni || ni > BNNACC_MODEL_MAX_DIM || nc < 2 || nc > BNNACC_MODEL_MAX_DIM)
		return bnl_err(err, el, -EINVAL, "inputs %u / classes %u at offsets 20/24 out of range",
			       ni, nc);
	if (total > BNNACC_MODEL_MAX_BYTES)
		return bnl_err(err, el, -E2BIG, "declared size %u over the %u-byte limit",
			       total, BNNACC_MODEL_MAX_BYTES);
	if (total != len)
		return bnl_err(err, el, -EINVAL, "declared size %u but %zu bytes given (%s)",
			       total, len, len < total ? "truncated" : "trailing data");
	if (len < HDR_BYTES + (size_t)nl * LAYER_BYTES + 4)
		return bnl_err(err, el, -EINVAL, "truncated in the layer table");
	return 0;
}

static int check_layers(const uint8_t *b, uint32_t *din, uint32_t *dout,
			uint32_t *act, char *err, size_t el)
{
	uint32_t nl = get32(b + 12), l;
	const uint8_t *p = b + HDR_BYTES;

	for (l = 0; l < nl; l++, p += LAYER_BYTES) {
		din[l] = get32(p);
		dout[l] = get32(p + 4);
		act[l] = get32(p + 8);
		if (!din[l] || din[l] > BNNACC_MODEL_MAX_DIM || !dout[l] ||
		    dout[l] > BNNACC_MODEL_MAX_DIM)
			return bnl_err(err, el, -EINVAL, "layer %u: size %ux%u not in 1..%d",
				       l, din[l], dout[l], BNNACC_MODEL_MAX_DIM);
		if (act[l] > BNNACC_ACT_SOFTMAX || get32(p + 12))
			return bnl_err(err, el, -EINVAL,
				       "layer %u: unknown activation %u or reserved word set",
				       l, act[l]);
		if ((act[l] == BNNACC_ACT_SOFTMAX) != (l == nl - 1))
			return bnl_err(err, el, -EINVAL,
				       "layer %u: softmax must be the last layer's activation, and only its",
				       l);
		if (din[l] != (l ? dout[l - 1] : get32(b + 20)))
			return bnl_err(err, el, -EINVAL,
				       "layer %u: %u inputs but the previous stage gives %u",
				       l, din[l], l ? dout[l - 1] : get32(b + 20));
	}
	if (dout[nl - 1] != get32(b + 24))
		return bnl_err(err, el, -EINVAL, "last layer has %u outputs but the model %u classes",
			       dout[nl - 1], get32(b + 24));
	return 0;
}

/* Read @n floats at @p; each finite, and >= 0 when @nonneg */
static int get_floats(float *dst, const uint8_t *p, size_t n, int nonneg,
		      size_t off, const char *what, unsigned l, char *err,
		      size_t el)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i] = getf(p + 4 * i);
		if (!isfinite(dst[i]) || (nonneg && dst[i] < 0.0f))
			return bnl_err(err, el, -EINVAL,
				       "layer %u %s[%zu] at offset %zu is %s", l, what, i,
				       off + 4 * i, isfinite(dst[i]) ? "negative" : "not finite");
	}
	return 0;
}

static int load_body(struct bnnacc_model *m, const uint8_t *b, char *err,
		     size_t el)
{
	const uint8_t *p = b + HDR_BYTES + (size_t)m->n_layers * LAYER_BYTES;
	uint32_t i, l;
	size_t w;
	int ret;

	for (i = 0; i < m->n_inputs; i++, p += 8) {
		m->in_mean[i] = getf(p);
		m->in_scale[i] = getf(p + 4);
		if (!isfinite(m->in_mean[i]) || !isfinite(m->in_scale[i]) ||
		    m->in_scale[i] == 0.0f)
			return bnl_err(err, el, -EINVAL,
				       "input %u normalisation at offset %zu: mean/scale not finite or scale 0",
				       i, (size_t)(p - b));
	}
	for (l = 0; l < m->n_layers; l++) {
		struct bnnacc_layer *ly = &m->layer[l];

		w = layer_w(ly);
		if (m->kind == BNNACC_MODEL_GAUSS) {
			ret = get_floats(ly->mean, p, w, 0, (size_t)(p - b), "mean", l, err, el);
			p += 4 * w;
			if (!ret)
				ret = get_floats(ly->std, p, w, 1, (size_t)(p - b), "std", l, err, el);
			p += 4 * w;
		} else {
			ret = get_floats(ly->samples, p, w * m->n_samples, 0,
					 (size_t)(p - b), "sample", l, err, el);
			p += 4 * w * m->n_samples;
		}
		if (ret)
			return ret;
	}
	for (i = 0; i < m->n_classes; i++, p += BNNACC_NAME_LEN) {
		size_t n = strnlen((const char *)p, BNNACC_NAME_LEN), k;

		if (n == BNNACC_NAME_LEN)
			return bnl_err(err, el, -EINVAL, "class %u name at offset %zu is not NUL-terminated",
				       i, (size_t)(p - b));
		for (k = 0; k < BNNACC_NAME_LEN; k++)
			if (k < n ? p[k] < 0x20 || p[k] == 0x7f : p[k] != 0)
				return bnl_err(err, el, -EINVAL,
					       "class %u name at offset %zu: control character or non-zero padding",
					       i, (size_t)(p - b));
		memcpy(m->class_name[i], p, BNNACC_NAME_LEN);
	}
	return 0;
}

int bnnacc_model_load_mem(struct bnnacc_model **out, const void *buf,
			  size_t len, char *err, size_t el)
{
	uint32_t din[BNNACC_MODEL_MAX_LAYERS], dout[BNNACC_MODEL_MAX_LAYERS];
	uint32_t act[BNNACC_MODEL_MAX_LAYERS], dims[BNNACC_MODEL_MAX_LAYERS + 1];
	const uint8_t *b = buf;
	struct bnnacc_model *m;
	uint64_t need, body;
	uint32_t nl, l, mlen = 0;
	int ret;

	*out = NULL;
	if (!b)
		return bnl_err(err, el, -EINVAL, "no buffer");
	ret = check_header(b, len, err, el);
	if (ret)
		return ret;
	ret = check_layers(b, din, dout, act, err, el);
	if (ret)
		return ret;
	nl = get32(b + 12);
	need = model_bytes(get32(b + 8), nl, get32(b + 16), get32(b + 20),
			   get32(b + 24), din, dout);
	body = need;
	if (get32(b + 4) >= 2) {	/* the metadata block */
		if (need + 8 > len)
			return bnl_err(err, el, -EINVAL,
				       "the layer sizes need %llu bytes but the file has %zu",
				       (unsigned long long)need + 8, len);
		mlen = get32(b + need);
		if (mlen > BNNACC_MODEL_MAX_META)
			return bnl_err(err, el, -EINVAL,
				       "metadata length %u at offset %llu over the %d-byte limit",
				       mlen, (unsigned long long)need, BNNACC_MODEL_MAX_META);
		need += 4 + mlen;
	}
	need += 4;
	if (need != len)
		return bnl_err(err, el, -EINVAL,
			       "the layer sizes need %llu bytes but the file has %zu",
			       (unsigned long long)need, len);
	if (get32(b + len - 4) != fnv1a32(b, len - 4))
		return bnl_err(err, el, -EINVAL, "checksum mismatch at offset %zu (corrupt file)",
			       len - 4);
	dims[0] = get32(b + 20);
	for (l = 0; l < nl; l++)
		dims[l + 1] = dout[l];
	ret = bnnacc_model_new(&m, get32(b + 8), nl, dims, act, get32(b + 16));
	if (ret)
		return bnl_err(err, el, ret, "cannot allocate the model: %s",
			       bnnacc_strerror(ret));
	ret = load_body(m, b, err, el);
	if (!ret && mlen) {
		const char *why = meta_check((const char *)b + body + 4, mlen);

		if (why)
			ret = bnl_err(err, el, -EINVAL, "metadata at offset %llu: %s",
				      (unsigned long long)body + 4, why);
		else if (!(m->meta = malloc(mlen + 1)))
			ret = bnl_err(err, el, -ENOMEM, "cannot allocate the model: %s",
				      bnnacc_strerror(-ENOMEM));
		else {
			memcpy(m->meta, b + body + 4, mlen);
			m->meta[mlen] = 0;
		}
	}
	if (ret) {
		bnnacc_model_free(m);
		return ret;
	}
	*out = m;
	return 0;
}

int bnnacc_model_load(struct bnnacc_model **out, const char *path, char *err,
		      size_t el)
{
	FILE *f = fopen(path, "re");
	uint8_t *buf = NULL;
	long n;
	int ret;

	*out = NULL;
	if (!f)
		return bnl_err(err, el, -errno, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return bnl_err(err, el, -EIO, "%s: cannot size the file", path);
	}
	if ((unsigned long)n > BNNACC_MODEL_MAX_BYTES) {
		fclose(f);
		return bnl_err(err, el, -E2BIG, "%s: %ld bytes, over the %u-byte limit",
			       path, n, BNNACC_MODEL_MAX_BYTES);
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return bnl_err(err, el, buf ? -EIO : -ENOMEM, "%s: read failed", path);
	}
	fclose(f);
	ret = bnnacc_model_load_mem(out, buf, (size_t)n, err, el);
	free(buf);
	return ret;
}

int bnnacc_model_moments(const struct bnnacc_model *m, unsigned l, float *mean,
			 float *std)
{
	const struct bnnacc_layer *ly;
	size_t w, i;
	unsigned s;

	if (l >= m->n_layers)
		return -EINVAL;
	ly = &m->layer[l];
	w = layer_w(ly);
	if (m->kind == BNNACC_MODEL_GAUSS) {
		memcpy(mean, ly->mean, w * sizeof(float));
		memcpy(std, ly->std, w * sizeof(float));
		return 0;
	}
	for (i = 0; i < w; i++) {
		double a = 0, a2 = 0, v;

		for (s = 0; s < m->n_samples; s++) {
			v = ly->samples[(size_t)s * w + i];
			a += v;
			a2 += v * v;
		}
		a /= m->n_samples;
		mean[i] = (float)a;
		std[i] = m->n_samples > 1 ?
			 (float)sqrt(fmax(a2 / m->n_samples - a * a, 0) *
				     m->n_samples / (m->n_samples - 1)) : 0.0f;
	}
	return 0;
}
