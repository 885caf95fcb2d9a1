/* SPDX-License-Identifier: MIT */
/* core_card - see core_card.h */
#include "core_card.h"

#include <errno.h>
#include <string.h>

#define SETTLE_NS 6000000000ull
#define OP_NS 1000ull

static struct bnc_region creg(const struct bnnacc_region *r)
{
	struct bnc_region c = { r->row, r->col, r->rows, r->cols };

	return c;
}

static int cerr(int ret)
{
	return ret == -BNC_ENOMEM ? -ENOMEM : ret ? -EINVAL : 0;
}

static int cc_program(void *ctx, const struct bnnacc_region *r,
		      const uint32_t *words)
{
	struct core_card *cc = ctx;
	struct bnc_region c = creg(r);
	int ret = bnc_program(cc->a, &c, words, cc->now);

	cc->now += SETTLE_NS;
	cc->programs++;
	return cerr(ret);
}

static int cc_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns)
{
	struct core_card *cc = ctx;
	struct bnc_region c = creg(r);
	int ret = bnc_read(cc->a, &c, ns, cc->now);

	cc->now += OP_NS;
	cc->reads++;
	return cerr(ret);
}

static int cc_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	struct core_card *cc = ctx;
	unsigned i;
	int ret;

	for (i = 0; i < n; i++) {
		struct bnc_region c = creg(&jobs[i].region);

		ret = bnc_mvm(cc->a, &c, jobs[i].in, jobs[i].count, 1,
			      jobs[i].adc_shift, jobs[i].out, cc->now);
		cc->now += OP_NS;
		cc->mvms++;
		if (ret)
			return cerr(ret);
	}
	return 0;
}

static const struct bnnacc_card_ops cc_ops = {
	.program = cc_program,
	.read = cc_read,
	.mvm = cc_mvm,
};

void core_card_init(struct core_card *cc, struct bnc_array *a, uint64_t serial,
		    struct bnnacc_card *card)
{
	const struct bnc_params *p = bnc_params(a);

	memset(cc, 0, sizeof(*cc));
	cc->a = a;
	cc->now = 1000;
	memset(card, 0, sizeof(*card));
	card->ops = &cc_ops;
	card->ctx = cc;
	card->info.rows = BNC_ROWS;
	card->info.cols = BNC_COLS;
	card->info.dac_bits = p->dac_bits;
	card->info.adc_bits = p->adc_bits;
	card->info.iset_min_na = (uint32_t)(p->iset_min_ua * 1000.0 + 0.5);
	card->info.iset_max_na = (uint32_t)(p->iset_max_ua * 1000.0 + 0.5);
	card->info.adc_fs_ua = p->adc_fs_ua;
	card->info.read_v = p->read_v;
	card->info.serial = serial;
	card->info.hw_version = BNNACC_HW_VERSION;
}
