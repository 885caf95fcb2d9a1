/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - tile allocation: whole networks (one tile per part of every
 * layer) placed first-fit on an array, clear of blocked cells, in the
 * order that fits the most.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct amap {
	unsigned rows, cols;
	uint8_t blocked[BNNACC_ROWS * BNNACC_COLS];
	unsigned ps[(BNNACC_ROWS + 1) * (BNNACC_COLS + 1)];
};

static void amap_sums(struct amap *a)
{
	unsigned r, c, w = a->cols + 1;

	memset(a->ps, 0, sizeof(a->ps));
	for (r = 0; r < a->rows; r++)
		for (c = 0; c < a->cols; c++)
			a->ps[(r + 1) * w + c + 1] = a->blocked[r * BNNACC_COLS + c] +
				a->ps[r * w + c + 1] + a->ps[(r + 1) * w + c] -
				a->ps[r * w + c];
}

static unsigned amap_count(const struct amap *a, unsigned r, unsigned c,
			   unsigned h, unsigned w)
{
	unsigned W = a->cols + 1;

	return a->ps[(r + h) * W + c + w] - a->ps[r * W + c + w] -
	       a->ps[(r + h) * W + c] + a->ps[r * W + c];
}

/* First fit of an h x w tile; marks it used. 0 or -ENOSPC. */
static int amap_place(struct amap *a, unsigned h, unsigned w,
		      struct bnnacc_region *out)
{
	unsigned r, c, i;

	for (r = 0; r + h <= a->rows; r++)
		for (c = 0; c + w <= a->cols; c++) {
			if (amap_count(a, r, c, h, w))
				continue;
			for (i = 0; i < h; i++)
				memset(&a->blocked[(r + i) * BNNACC_COLS + c], 1, w);
			amap_sums(a);
			out->row = (uint16_t)r;
			out->col = (uint16_t)c;
			out->rows = (uint16_t)h;
			out->cols = (uint16_t)w;
			return 0;
		}
	return -ENOSPC;
}

static void amap_reset(struct amap *a, const uint8_t *blocked)
{
	unsigned r, c;

	memset(a->blocked, 0, sizeof(a->blocked));
	for (r = 0; r < a->rows; r++)
		for (c = 0; c < a->cols; c++)
			a->blocked[r * BNNACC_COLS + c] =
				blocked && blocked[r * a->cols + c];
	amap_sums(a);
}

struct place {
	struct amap *a;
	const uint8_t *blocked;
	unsigned nt;
	const unsigned *h, *w, *order;
	struct bnnacc_region *tiles;
};

/*
 * Try to place @m networks. Mode 0: all m tiles of the tallest kind first,
 * then the next (first fit decreasing); mode 1: network after network.
 * 1 if all fit (tiles filled), else 0.
 */
static int try_place(const struct place *p, unsigned m, int mode)
{
	unsigned i, k, t;

	amap_reset(p->a, p->blocked);
	for (i = 0; i < p->nt * m; i++) {
		t = mode ? i % p->nt : p->order[i / m];
		k = mode ? i / p->nt : i % m;
		if (amap_place(p->a, p->h[t], p->w[t], &p->tiles[(size_t)k * p->nt + t]))
			return 0;
	}
	return 1;
}

/* The largest m in [0, hi] that mode @mode places, by bisection */
static unsigned max_place(const struct place *p, unsigned hi, int mode)
{
	unsigned lo = 0, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (try_place(p, mid, mode))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

int bnnacc_alloc_tiles(const uint8_t *blocked, unsigned rows, unsigned cols,
		       unsigned nt, const unsigned *h, const unsigned *w,
		       unsigned want, struct bnnacc_region *tiles)
{
	struct place p = { NULL, blocked, nt, h, w, NULL, tiles };
	unsigned *order, i, j, t, hi, m0, m1, got = 0;
	size_t per = 0;
	int mode;

	if (!nt || nt > BNNACC_ROWS * BNNACC_COLS || !rows || !cols ||
	    rows > BNNACC_ROWS || cols > BNNACC_COLS || !h || !w || !tiles)
		return -EINVAL;
	for (i = 0; i < nt; i++) {
		if (!h[i] || !w[i] || h[i] > rows || w[i] > cols)
			return 0;
		per += (size_t)h[i] * w[i];
	}
	order = malloc(nt * sizeof(*order));
	p.a = calloc(1, sizeof(*p.a));
	if (!order || !p.a) {
		free(order);
		free(p.a);
		return -ENOMEM;
	}
	for (i = 0; i < nt; i++)
		order[i] = i;
	for (i = 1; i < nt; i++)	/* tallest first, then widest */
		for (j = i; j > 0 && (h[order[j]] > h[order[j - 1]] ||
				      (h[order[j]] == h[order[j - 1]] &&
				       w[order[j]] > w[order[j - 1]])); j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	p.order = order;
	p.a->rows = rows;
	p.a->cols = cols;
	hi = (unsigned)((size_t)rows * cols / per);
	if (want) {
		for (mode = 0; mode < 2 && !got && want <= hi; mode++)
			got = try_place(&p, want, mode) ? want : 0;
	} else {
		m0 = max_place(&p, hi, 0);
		m1 = max_place(&p, hi, 1);
		got = m0 > m1 ? m0 : m1;
		if (got)	/* leave the winner's placement in @tiles */
			try_place(&p, got, m0 >= m1 ? 0 : 1);
	}
	free(order);
	free(p.a);
	return (int)got;
}
