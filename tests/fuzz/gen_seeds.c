// SPDX-License-Identifier: MIT
/*
 * gen_seeds - seed corpora of the userspace fuzzers (tests/fuzz/userspace.mk).
 *
 *   gen_seeds MODEL_DIR PROTO_DIR
 *
 * MODEL_DIR gets valid model files written by the library itself
 * (bnnacc_model_save, format version 2): both kinds, 1 to 3 layers, every
 * activation, one and several posterior samples, non-trivial input
 * normalisation and class names, with and without metadata; and the
 * version 1 form of the ones without (the library still reads version 1:
 * the same bytes without the metadata length). Each is read back with
 * bnnacc_model_load() so a seed the loader rejects fails the build instead
 * of silently weakening the fuzzer.
 * PROTO_DIR gets the protocol requests that need a generated part: `load`
 * with the smallest model as base64 "data" (the checked-in examples of
 * docs/protocol.md are in tests/fuzz/corpus/fuzz_proto/).
 */
#include <bnnacc/bnnacc.h>

#include "client.h"	/* bnd_b64_encode (daemon/client.c) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shape {
	const char *file;
	uint32_t kind;
	unsigned nl, ns;
	uint32_t dims[4];
	uint32_t acts[3];
	const char *meta;	/* "k=v" pairs, ';'-separated, or NULL */
};

static const struct shape shapes[] = {
	{ "gauss-2-2", BNNACC_MODEL_GAUSS, 1, 0, { 2, 2 }, { BNNACC_ACT_SOFTMAX }, NULL },
	{ "gauss-2-4-3", BNNACC_MODEL_GAUSS, 2, 0, { 2, 4, 3 },
	  { BNNACC_ACT_RELU, BNNACC_ACT_SOFTMAX }, NULL },
	{ "gauss-3-2-3-2", BNNACC_MODEL_GAUSS, 3, 0, { 3, 2, 3, 2 },
	  { BNNACC_ACT_LINEAR, BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX }, NULL },
	{ "samples1-2-2", BNNACC_MODEL_SAMPLES, 1, 1, { 2, 2 }, { BNNACC_ACT_SOFTMAX }, NULL },
	{ "samples3-3-3-2", BNNACC_MODEL_SAMPLES, 2, 3, { 3, 3, 2 },
	  { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX }, NULL },
	{ "samples2-2-2-2-4", BNNACC_MODEL_SAMPLES, 3, 2, { 2, 2, 2, 4 },
	  { BNNACC_ACT_RELU, BNNACC_ACT_LINEAR, BNNACC_ACT_SOFTMAX }, NULL },
	{ "meta-gauss-2-3-2", BNNACC_MODEL_GAUSS, 2, 0, { 2, 3, 2 },
	  { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX },
	  "dataset=two-moons;trainer=bbb 1.0 (seed=3);x.y-z_0=;author=Jos\xc3\xa9" },
	{ "meta-samples2-2-2", BNNACC_MODEL_SAMPLES, 1, 2, { 2, 2 }, { BNNACC_ACT_SOFTMAX },
	  "k=v" },
};

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Set the ';'-separated "key=value" pairs of @list. 0 or -errno. */
static int set_meta(struct bnnacc_model *m, const char *list)
{
	char buf[256], *tok, *save = NULL, *eq;
	int ret;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			return -22;
		*eq = 0;
		ret = bnnacc_model_set_meta(m, tok, eq + 1);
		if (ret)
			return ret;
	}
	return 0;
}

static float val(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((int)(*s >> 16) - 32768) / 16384.0f;	/* [-2, 2) */
}

static void fill(struct bnnacc_model *m, uint32_t seed)
{
	static const char *const names[] = { "setosa", "versicolor", "virginica", "x-4" };
	uint32_t s = seed, l, i;
	size_t w;

	for (i = 0; i < m->n_inputs; i++) {
		m->in_mean[i] = val(&s);
		m->in_scale[i] = 0.5f + (float)i;
	}
	for (i = 0; i < m->n_classes; i++)
		snprintf(m->class_name[i], BNNACC_NAME_LEN, "%s", names[i % 4]);
	for (l = 0; l < m->n_layers; l++) {
		struct bnnacc_layer *ly = &m->layer[l];

		w = (size_t)ly->n_out * (ly->n_in + 1);
		if (m->kind == BNNACC_MODEL_GAUSS) {
			for (i = 0; i < w; i++) {
				ly->mean[i] = val(&s);
				ly->std[i] = val(&s) * val(&s) * 0.1f;
				if (ly->std[i] < 0)
					ly->std[i] = -ly->std[i];
			}
		} else {
			for (i = 0; i < w * m->n_samples; i++)
				ly->samples[i] = val(&s);
		}
	}
}

static int write_file(const char *dir, const char *name, const void *buf, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/*
 * The version 1 file of @m (no metadata): version 2's bytes without the
 * zero metadata length, version 1, its size and checksum; loaded back.
 */
static int write_v1(const char *dir, const char *file, const struct bnnacc_model *m)
{
	size_t n = bnnacc_model_size(m), n1 = n - 4;
	unsigned char *b = malloc(n);
	struct bnnacc_model *back;
	char name[128], path[4096], err[256];
	int ret = -1;

	if (!b || bnnacc_model_save_mem(m, b, n) != (long)n || b[n - 8] || b[n - 7] ||
	    b[n - 6] || b[n - 5]) {
		fprintf(stderr, "%s: cannot make the version 1 form\n", file);
		goto out;
	}
	put32(b + 4, 1);
	put32(b + 28, (uint32_t)n1);
	put32(b + n1 - 4, fnv1a(b, n1 - 4));
	snprintf(name, sizeof(name), "v1-%s.bnnm", file);
	if (write_file(dir, name, b, n1))
		goto out;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (bnnacc_model_load(&back, path, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", path, err);
		goto out;
	}
	bnnacc_model_free(back);
	ret = 0;
out:
	free(b);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned char *first = NULL;
	size_t first_len = 0, k;
	char err[256], path[4096], *enc, *line;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODEL_DIR PROTO_DIR\n", argv[0]);
		return 2;
	}
	for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		const struct shape *sh = &shapes[k];
		struct bnnacc_model *m, *back;
		int ret;

		ret = bnnacc_model_new(&m, sh->kind, sh->nl, sh->dims, sh->acts, sh->ns);
		if (ret) {
			fprintf(stderr, "%s: bnnacc_model_new: %s\n", sh->file, bnnacc_strerror(ret));
			return 1;
		}
		fill(m, (uint32_t)k + 1);
		if (sh->meta && (ret = set_meta(m, sh->meta))) {
			fprintf(stderr, "%s: metadata: %s\n", sh->file, bnnacc_strerror(ret));
			bnnacc_model_free(m);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/%s.bnnm", argv[1], sh->file);
		ret = bnnacc_model_save(m, path);
		if (!ret)
			ret = bnnacc_model_load(&back, path, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s", bnnacc_strerror(ret));
		if (ret) {
			fprintf(stderr, "%s: %s\n", path, err);
			bnnacc_model_free(m);
			return 1;
		}
		bnnacc_model_free(back);
		if (!sh->meta && write_v1(argv[1], sh->file, m))
			return 1;
		if (!first) {
			first_len = bnnacc_model_size(m);
			first = malloc(first_len);
			if (!first || bnnacc_model_save_mem(m, first, first_len) != (long)first_len) {
				fprintf(stderr, "bnnacc_model_save_mem failed\n");
				return 1;
			}
		}
		bnnacc_model_free(m);
	}
	enc = malloc(BND_B64_LEN(first_len) + 1);
	line = enc ? malloc(BND_B64_LEN(first_len) + 128) : NULL;
	if (!line)
		return 1;
	bnd_b64_encode(first, first_len, enc);
	sprintf(line, "{\"op\":\"load\",\"id\":\"l1\",\"name\":\"toy\",\"data\":\"%s\",\"m\":4}", enc);
	if (write_file(argv[2], "gen-load-data", line, strlen(line)))
		return 1;
	/* the same without padding (the decoder takes both) */
	sprintf(line, "{\"op\":\"load\",\"name\":\"toy.v2\",\"data\":\"%.*s\"}",
		(int)strcspn(enc, "="), enc);
	if (write_file(argv[2], "gen-load-data-nopad", line, strlen(line)))
		return 1;
	free(line);
	free(enc);
	free(first);
	return 0;
}
