/* SPDX-License-Identifier: MIT */
/*
 * data - the demo's data sets (see bnn.h): every generator is seeded (the
 * same bytes from the same seed), point i is of class i % n_classes, and
 * the noise makes the classes overlap, so that a posterior has both
 * aleatoric and epistemic uncertainty to show.
 */
#include "bnn.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define PI 3.141592653589793

/* ---------------------------------------------------------------------- */
/* spirals: three interleaved arms in the plane                            */
/* ---------------------------------------------------------------------- */

/*
 * Arm c turns from radius 0.15 at angle 2 pi c / 3 outwards through 0.8 of
 * a turn to radius 1; along the arm the position is uniform. Gaussian
 * noise of std @noise on both coordinates; near the centre, where the arms
 * are close, the classes overlap.
 */
static void gen_spirals(float *x, int *y, unsigned n, double noise, uint64_t seed)
{
	struct bnn_rng r;
	unsigned i;

	bnn_rng_seed(&r, seed);
	for (i = 0; i < n; i++) {
		unsigned c = i % 3;
		double t = bnn_rng_uniform(&r);
		double rad = 0.15 + 0.85 * t;
		double a = 2 * PI * c / 3 + 0.8 * 2 * PI * t;

		x[2 * i] = (float)(rad * cos(a) + noise * bnn_rng_normal(&r));
		x[2 * i + 1] = (float)(rad * sin(a) + noise * bnn_rng_normal(&r));
		y[i] = (int)c;
	}
}

/* ---------------------------------------------------------------------- */
/* xorring: five inputs, four classes                                      */
/* ---------------------------------------------------------------------- */

#define XR_IN 5
#define XR_R2 0.6366197723675814	/* 2 / pi: half of [-1, 1]^2 inside */

/*
 * A latent point z uniform over [-1, 1]^5 drawn until it is of class
 * i % 4 = 2 a + b, where a: z0 z1 < 0 (an XOR of two signs) and b:
 * z2^2 + z3^2 > 2 / pi (outside a circle), z4 has nothing to do with the
 * class; the input is z plus Gaussian noise of std @noise on every
 * coordinate. Neither rule is linearly separable; the noise blurs both
 * boundaries.
 */
static void gen_xorring(float *x, int *y, unsigned n, double noise, uint64_t seed)
{
	struct bnn_rng r;
	unsigned i, k;

	bnn_rng_seed(&r, seed);
	for (i = 0; i < n; i++) {
		int c = (int)(i % 4);
		double z[XR_IN];

		do {
			for (k = 0; k < XR_IN; k++)
				z[k] = 2 * bnn_rng_uniform(&r) - 1;
		} while (2 * (z[0] * z[1] < 0) + (z[2] * z[2] + z[3] * z[3] > XR_R2) != c);
		for (k = 0; k < XR_IN; k++)
			x[(size_t)i * XR_IN + k] = (float)(z[k] + noise * bnn_rng_normal(&r));
		y[i] = c;
	}
}

/* ---------------------------------------------------------------------- */
/* glyphs: small noisy images of four shapes                               */
/* ---------------------------------------------------------------------- */

/* Distance from (px, py) to the segment (ax, ay)-(bx, by). */
static double seg_dist(double px, double py, double ax, double ay, double bx,
		       double by)
{
	double dx = bx - ax, dy = by - ay;
	double t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy);

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	return hypot(px - ax - t * dx, py - ay - t * dy);
}

/* Distance from glyph coordinates (u, v) to the stroke of shape @c of size @s. */
static double glyph_dist(unsigned c, double u, double v, double s)
{
	double a = 0.75 * s;

	switch (c) {
	case 0:		/* ring */
		return fabs(hypot(u, v) - s);
	case 1:		/* cross: the two diagonals */
		return fmin(seg_dist(u, v, -a, -a, a, a), seg_dist(u, v, -a, a, a, -a));
	case 2:		/* plus */
		return fmin(seg_dist(u, v, -s, 0, s, 0), seg_dist(u, v, 0, -s, 0, s));
	default:	/* box outline */
		return fabs(fmax(fabs(u), fabs(v)) - a);
	}
}

/*
 * One side x side image per point, row-major, top row first, over the
 * square [-1, 1]^2: the outline of a ring, a cross (x), a plus (+) or a box
 * of random size (0.5-0.8), position (centre within +-0.2), rotation
 * (+-0.2 rad), stroke width and contrast, drawn with anti-aliased strokes
 * (intensity 0..1), plus Gaussian pixel noise of std @noise.
 */
static void gen_glyphs(float *x, int *y, unsigned n, double noise, uint64_t seed,
		       unsigned side)
{
	double pix = 2.0 / side;
	struct bnn_rng r;
	unsigned i, row, col;

	bnn_rng_seed(&r, seed);
	for (i = 0; i < n; i++) {
		unsigned c = i % 4;
		double cx = 0.4 * bnn_rng_uniform(&r) - 0.2;
		double cy = 0.4 * bnn_rng_uniform(&r) - 0.2;
		double s = 0.5 + 0.3 * bnn_rng_uniform(&r);
		double rot = 0.4 * bnn_rng_uniform(&r) - 0.2;
		double hw = (0.35 + 0.25 * bnn_rng_uniform(&r)) * pix;
		double contrast = 0.7 + 0.3 * bnn_rng_uniform(&r);
		double cr = cos(rot), sr = sin(rot);
		float *img = x + (size_t)i * side * side;

		for (row = 0; row < side; row++)
			for (col = 0; col < side; col++) {
				double px = -1 + (col + 0.5) * pix - cx;
				double py = 1 - (row + 0.5) * pix - cy;
				double d = glyph_dist(c, cr * px + sr * py, -sr * px + cr * py, s);
				double cov = 0.5 - (d - hw) / pix;

				cov = cov < 0 ? 0 : cov > 1 ? 1 : cov;
				img[row * side + col] =
					(float)(contrast * cov + noise * bnn_rng_normal(&r));
			}
		y[i] = (int)c;
	}
}

static void gen_glyphs8(float *x, int *y, unsigned n, double noise, uint64_t seed)
{
	gen_glyphs(x, y, n, noise, seed, 8);
}

static void gen_glyphs10(float *x, int *y, unsigned n, double noise, uint64_t seed)
{
	gen_glyphs(x, y, n, noise, seed, 10);
}

/* ---------------------------------------------------------------------- */
/* the registry                                                            */
/* ---------------------------------------------------------------------- */

static const struct bnn_dataset datasets[] = {
	{
		.name = "moons",
		.desc = "two interleaved half circles in the plane (the paper's problem)",
		.n_inputs = 2, .n_classes = 2,
		.class_name = { "upper moon", "lower moon" },
		.gen = bnn_moons, .noise = 0.15, .arch = "2-32-2",
		.box = { -1.5, 2.5, -1.0, 1.5 },
	}, {
		.name = "spirals",
		.desc = "three interleaved spiral arms in the plane, overlapping at the centre",
		.n_inputs = 2, .n_classes = 3,
		.class_name = { "arm 0", "arm 1", "arm 2" },
		.gen = gen_spirals, .noise = 0.1, .arch = "2-32-3",
		.box = { -1.5, 1.5, -1.5, 1.5 },
	}, {
		.name = "xorring",
		.desc = "XOR of two signs x inside/outside a circle, and a distractor input",
		.n_inputs = XR_IN, .n_classes = 4,
		.class_name = { "same sign, inside", "same sign, outside",
				"mixed sign, inside", "mixed sign, outside" },
		.gen = gen_xorring, .noise = 0.05, .arch = "5-16-4",
	}, {
		.name = "glyphs",
		.desc = "8x8 images of a ring, cross, plus or box, jittered, with pixel noise",
		.n_inputs = 64, .n_classes = 4,
		.class_name = { "ring", "cross", "plus", "box" },
		.gen = gen_glyphs8, .noise = 0.2, .arch = "64-6-4",
	}, {
		.name = "glyphs10",
		.desc = "the same glyphs in 10x10 images",
		.n_inputs = 100, .n_classes = 4,
		.class_name = { "ring", "cross", "plus", "box" },
		.gen = gen_glyphs10, .noise = 0.2, .arch = "100-4-4",
	},
};

const struct bnn_dataset *bnn_dataset_get(unsigned i)
{
	return i < sizeof(datasets) / sizeof(datasets[0]) ? &datasets[i] : NULL;
}

const struct bnn_dataset *bnn_dataset_find(const char *name)
{
	const struct bnn_dataset *ds;
	unsigned i;

	for (i = 0; name && (ds = bnn_dataset_get(i)); i++)
		if (!strcmp(ds->name, name))
			return ds;
	return NULL;
}

int bnn_dataset_label(const struct bnn_dataset *ds, struct bnnacc_model *m)
{
	unsigned c;

	if (!ds || !m || m->n_inputs != ds->n_inputs || m->n_classes != ds->n_classes)
		return -EINVAL;
	for (c = 0; c < ds->n_classes; c++) {
		memset(m->class_name[c], 0, BNNACC_NAME_LEN);
		strncpy(m->class_name[c], ds->class_name[c], BNNACC_NAME_LEN - 1);
	}
	return 0;
}
