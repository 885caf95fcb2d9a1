/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - a simulated card: the emulated card's physics core
 * (qemu-model/bnnacc_core.c, linked into the library) behind the card
 * seam, with its own device clock and the card's drift monitor.
 */
#include "internal.h"
#include "bnnacc_core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTLE_NS 6000000000ull	/* after a programming step */
#define OP_NS 1000ull		/* per read or MVM */
#define ALERT_STEP 0.01		/* the card's drift-alert-ppm default */

struct bnnacc_sim {
	struct bnc_array *a;
	uint64_t now, serial;
	unsigned alert_level;
	int32_t *tmp;		/* one MVM's repeats */
	size_t tmp_len;
};

static struct bnc_region creg(const struct bnnacc_region *r)
{
	struct bnc_region c = { r->row, r->col, r->rows, r->cols };

	return c;
}

static int cerr(int ret)
{
	return ret == -BNC_ENOMEM ? -ENOMEM : ret ? -EINVAL : 0;
}

/* The monitor's level now; 1 if it rose */
static int sim_alert(struct bnnacc_sim *s)
{
	double r = bnc_relaxation(s->a, s->now);
	unsigned lvl = (unsigned)fmin(floor(r / ALERT_STEP), 1e9);
	int rose = lvl > s->alert_level;

	s->alert_level = lvl;
	return rose;
}

static int sim_program(void *ctx, const struct bnnacc_region *r,
		       const uint32_t *words)
{
	struct bnnacc_sim *s = ctx;
	struct bnc_region c = creg(r);
	int ret = bnc_program(s->a, &c, words, s->now);

	sim_alert(s);
	s->now += SETTLE_NS;
	return cerr(ret);
}

static int sim_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns,
		    unsigned reads)
{
	struct bnnacc_sim *s = ctx;
	struct bnc_region c = creg(r);
	size_t per = (size_t)r->rows * r->cols;
	unsigned i;
	int ret = 0;

	for (i = 0; i < (reads ? reads : 1) && !ret; i++)
		ret = bnc_read(s->a, &c, ns + i * per, s->now);
	s->now += OP_NS;
	return cerr(ret);
}

/* The card's periphery sums the repeats (BNNACC_FEAT_MVM_SUM) */
static int sim_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	struct bnnacc_sim *s = ctx;
	unsigned i, k;
	size_t j, per;
	int ret;

	for (i = 0; i < n; i++) {
		const struct bnnacc_mvm *jb = &jobs[i];
		struct bnc_region c = creg(&jb->region);
		unsigned rep = jb->repeat ? jb->repeat : 1;

		per = (size_t)jb->count * jb->region.cols;
		/* the card's work bound (BNNACC_MVM_MAX_CODE_BYTES) */
		if (!jb->count || (uint64_t)rep * per * 4 > BNNACC_MVM_MAX_CODE_BYTES)
			return -EINVAL;
		if (rep * per > s->tmp_len) {
			int32_t *t = realloc(s->tmp, rep * per * sizeof(*t));

			if (!t)
				return -ENOMEM;
			s->tmp = t;
			s->tmp_len = rep * per;
		}
		ret = bnc_mvm(s->a, &c, jb->in, jb->count, rep, jb->adc_shift, s->tmp, s->now);
		s->now += OP_NS;
		if (ret)
			return cerr(ret);
		memcpy(jb->out, s->tmp, per * sizeof(int32_t));
		for (k = 1; k < rep; k++)
			for (j = 0; j < per; j++)
				jb->out[j] += s->tmp[k * per + j];
	}
	return 0;
}

static const struct bnnacc_card_ops sim_ops = {
	.program = sim_program,
	.read = sim_read,
	.mvm = sim_mvm,
};

int bnl_sim_from_params(struct bnnacc_sim **out, const struct bnc_params *p,
			uint64_t seed)
{
	struct bnnacc_sim *s;

	*out = NULL;
	if (bnc_params_check(p, NULL))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->a = bnc_create(p, seed);
	if (!s->a) {
		free(s);
		return -ENOMEM;
	}
	s->now = 1000;
	/* a serial from the seed, as the emulated card derives it */
	s->serial = seed + 0x9e3779b97f4a7c15ull;
	s->serial = (s->serial ^ (s->serial >> 30)) * 0xbf58476d1ce4e5b9ull;
	s->serial = (s->serial ^ (s->serial >> 27)) * 0x94d049bb133111ebull;
	s->serial ^= s->serial >> 31;
	*out = s;
	return 0;
}

int bnnacc_sim_new(struct bnnacc_sim **out, const char *preset, uint64_t seed,
		   char *err, size_t errlen)
{
	struct bnc_params p;
	int ret;

	*out = NULL;
	if (bnc_params_preset(&p, preset)) {
		unsigned i;
		char names[128] = "";

		for (i = 0; bnc_preset_name(i); i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", bnc_preset_name(i));
		return bnl_err(err, errlen, -EINVAL, "unknown physics preset '%s' (one of %s)",
			       preset, names);
	}
	ret = bnl_sim_from_params(out, &p, seed);
	return ret ? bnl_err(err, errlen, ret, "out of memory") : 0;
}

struct bnc_array *bnl_sim_array(struct bnnacc_sim *s, uint64_t *now)
{
	if (now)
		*now = s->now;
	return s->a;
}

void bnnacc_sim_free(struct bnnacc_sim *s)
{
	if (!s)
		return;
	bnc_destroy(s->a);
	free(s->tmp);
	free(s);
}

void bnnacc_sim_card(struct bnnacc_sim *s, struct bnnacc_card *card)
{
	const struct bnc_params *p = bnc_params(s->a);

	memset(card, 0, sizeof(*card));
	card->ops = &sim_ops;
	card->ctx = s;
	card->info.rows = BNC_ROWS;
	card->info.cols = BNC_COLS;
	card->info.dac_bits = p->dac_bits;
	card->info.adc_bits = p->adc_bits;
	card->info.iset_min_na = (uint32_t)(p->iset_min_ua * 1000.0 + 0.5);
	card->info.iset_max_na = (uint32_t)(p->iset_max_ua * 1000.0 + 0.5);
	card->info.adc_fs_ua = p->adc_fs_ua;
	card->info.read_v = p->read_v;
	card->info.serial = s->serial;
	card->info.hw_version = BNNACC_HW_VERSION;
	card->info.features = BNNACC_FEAT_MVM_REPEAT | BNNACC_FEAT_MVM_SUM;
}

int bnnacc_sim_advance(struct bnnacc_sim *s, double seconds)
{
	double ns = seconds * 1e9;

	if (!(ns > 0))
		return 0;
	s->now = ns >= (double)(UINT64_MAX - s->now) ? UINT64_MAX : s->now + (uint64_t)ns;
	return sim_alert(s);
}
