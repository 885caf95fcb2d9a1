/* SPDX-License-Identifier: MIT */
/* libbnnacc internals shared between the library's files (not installed). */
#ifndef BNNACC_INTERNAL_H
#define BNNACC_INTERNAL_H

#include <bnnacc/bnnacc.h>

#include <stdarg.h>

#define BNL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* printf into an optional error buffer; returns @ret for tail calls */
int bnl_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* xoshiro256** seeded by splitmix64: a per-object generator (no globals) */
struct bnl_rng {
	uint64_t s[4];
};
void bnl_rng_seed(struct bnl_rng *r, uint64_t seed);
uint64_t bnl_rng_next(struct bnl_rng *r);
double bnl_rng_normal(struct bnl_rng *r);

/* Softmax in place of @c logits (stable); activation of one value */
void bnl_softmax(double *v, unsigned c);
double bnl_act(uint32_t act, double v);

#endif
