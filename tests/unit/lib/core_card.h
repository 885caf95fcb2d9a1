/* SPDX-License-Identifier: MIT */
/*
 * core_card - the library's card seam over the physics core (struct
 * bnc_array): the same model the emulated card runs, with a device clock
 * that advances 6 s after every programming (reads happen once the fast
 * relaxation has settled, as on the card's bench) and 1 us per read/MVM.
 */
#ifndef CORE_CARD_H
#define CORE_CARD_H

#include <bnnacc/bnnacc.h>
#include "bnnacc_core.h"

struct core_card {
	struct bnc_array *a;
	uint64_t now;
	unsigned programs, reads, mvms;
};

/* Wrap @a (borrowed) into @card; @cc holds the clock. */
void core_card_init(struct core_card *cc, struct bnc_array *a, uint64_t serial,
		    struct bnnacc_card *card);

#endif
