/* SPDX-License-Identifier: MIT */
/* libbnnacc - small helpers: error text, random numbers, activations. */
#include "internal.h"

#include <math.h>
#include <stdio.h>

int bnl_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bnl_rng_seed(struct bnl_rng *r, uint64_t seed)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bnl_rng_next(struct bnl_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Box-Muller with uniforms in (0, 1) */
double bnl_rng_normal(struct bnl_rng *r)
{
	double u1 = ((double)(bnl_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = ((double)(bnl_rng_next(r) >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void bnl_softmax(double *v, unsigned c)
{
	double mx = v[0], s = 0.0;
	unsigned i;

	for (i = 1; i < c; i++)
		if (v[i] > mx)
			mx = v[i];
	for (i = 0; i < c; i++) {
		v[i] = exp(v[i] - mx);
		s += v[i];
	}
	for (i = 0; i < c; i++)
		v[i] /= s;
}

double bnl_act(uint32_t act, double v)
{
	switch (act) {
	case BNNACC_ACT_RELU:
		return v > 0.0 ? v : 0.0;
	case BNNACC_ACT_TANH:
		return tanh(v);
	default:
		return v;
	}
}
