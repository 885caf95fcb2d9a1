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

/* Read-noise sigma (uS) of one read of a cell at @g_us (< 0: RESET) */
double bnl_calib_read_sigma(const struct bnnacc_calib *c, double g_us);

/*
 * The simulated card on given physics (tests), and its array and device
 * clock. -EINVAL for invalid params, -ENOMEM.
 */
struct bnc_params;
struct bnc_array;
int bnl_sim_from_params(struct bnnacc_sim **out, const struct bnc_params *p,
			uint64_t seed);
struct bnc_array *bnl_sim_array(struct bnnacc_sim *s, uint64_t *now);

/* Softmax in place of @c logits (stable); activation of one value */
void bnl_softmax(double *v, unsigned c);
double bnl_act(uint32_t act, double v);

#endif
