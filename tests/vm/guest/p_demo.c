/* SPDX-License-Identifier: MIT */
/*
 * p_demo - card side of `make demo` in the VM: calibrate, transfer the
 * model in one programming step and infer the points with every programmed
 * network, writing the results into DIR (the host's shared directory).
 *
 * usage: p_demo [--daemon SOCKET STATE_DIR] MODEL POINTS DIR [M] [AGE_S,AGE_S,...]
 *
 * With --daemon, through bnnaccd (already running with that socket and
 * state directory, demo/daemon_run.c): its `load` calibrates and programs,
 * its `infer` returns every network's output; /dev/bnnacc0 is opened too,
 * only to read the array back and the device clock. Without it, libbnnacc
 * directly on /dev/bnnacc0 (demo/card_run.c).
 *
 * Ageing: for each age the program prints "P_DEMO-ADVANCE <s>" (the seconds
 * the device clock must move); the host watching the serial log answers with
 * QMP qom-set clock-advance-s, and the program waits until IDENTIFY shows
 * the clock has moved. Prints "p_demo: PASS" at the end.
 */
#include <bnnacc/bnnacc.h>

#include "card_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct adv {
	struct bnnacc_dev *dev;
	uint64_t t_prog_ns;	/* device clock just after programming */
};

static int clock_ns(struct bnnacc_dev *dev, uint64_t *ns)
{
	struct bnnacc_identify id;
	int ret = bnnacc_identify(dev, &id);

	if (!ret)
		*ns = id.clock_ns;
	return ret;
}

static int programmed(void *ctx)
{
	struct adv *a = ctx;

	return clock_ns(a->dev, &a->t_prog_ns);
}

static int advance(void *ctx, unsigned age_s)
{
	struct adv *a = ctx;
	struct timespec ts = { 0, 100000000 };
	uint64_t now, want = a->t_prog_ns + (uint64_t)age_s * 1000000000ull;
	unsigned i;
	int ret;

	ret = clock_ns(a->dev, &now);
	if (ret)
		return ret;
	if (now >= want)
		return 0;
	printf("P_DEMO-ADVANCE %llu\n",
	       (unsigned long long)((want - now + 999999999ull) / 1000000000ull));
	fflush(stdout);
	for (i = 0; i < 600; i++) {
		ret = clock_ns(a->dev, &now);
		if (ret)
			return ret;
		if (now >= want)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	struct card_run_opts o;
	struct bnnacc_card card;
	struct bnnacc_dev *dev;
	struct adv adv;
	const char *sock = NULL, *state = NULL;
	char err[512] = "";
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 3 && !strcmp(argv[1], "--daemon")) {
		sock = argv[2];
		state = argv[3];
		argv += 3;
		argc -= 3;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: p_demo [--daemon SOCKET STATE_DIR] MODEL POINTS DIR [M] [AGES]\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.model = argv[1];
	o.points = argv[2];
	o.outdir = argv[3];
	o.caldir = argv[3];
	o.m = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 0;
	if (argc > 5) {
		const char *s = argv[5];
		char *e;

		while (*s && o.nages < CARD_RUN_MAX_AGES) {
			o.ages[o.nages++] = (unsigned)strtoul(s, &e, 10);
			if (e == s)
				break;
			s = *e == ',' ? e + 1 : e;
		}
	}
	o.reads = 4;
	ret = bnnacc_open(&dev, 0, err, sizeof(err));
	if (ret) {
		printf("p_demo: open: %s\np_demo: FAIL\n", err);
		return 1;
	}
	adv.dev = dev;
	adv.t_prog_ns = 0;
	o.programmed = programmed;
	o.advance = advance;
	o.advance_ctx = &adv;
	if (sock) {
		printf("p_demo: through bnnaccd\n");
		ret = daemon_run(dev, &o, sock, state, err, sizeof(err));
	} else {
		printf("p_demo: libbnnacc directly (--direct)\n");
		ret = bnnacc_dev_card(dev, &card);
		if (!ret)
			ret = card_run(&card, &o, err, sizeof(err));
	}
	bnnacc_close(dev);
	if (ret) {
		printf("p_demo: %s (%s)\np_demo: FAIL\n", err, strerror(-ret));
		return 1;
	}
	printf("p_demo: PASS\n");
	return 0;
}
