/* SPDX-License-Identifier: MIT */
/*
 * p_demo - card side of `make demo` in the VM: calibrate, transfer the
 * model in one programming step and infer the points with every programmed
 * network, writing the results into DIR (the host's shared directory).
 *
 * usage: p_demo [--daemon SOCKET STATE_DIR] [--cards N] [--mode shared|samples]
 *               [--cells N] [--repeat N] MODEL POINTS DIR [M] [AGE_S,AGE_S,...]
 *
 * With --daemon, through bnnaccd (already running with that socket and
 * state directory, demo/daemon_run.c): its `load` calibrates and programs,
 * its `check` reads the reference cells before each later pass, its
 * `infer` returns every network's output; /dev/bnnacc0 is opened too, only
 * to read the array back and the device clock. Without it, libbnnacc
 * directly on /dev/bnnacc0 .. N-1 (demo/card_run.c), the networks spread
 * over the N cards; --mode, --cells and --repeat set the transfer's
 * choices (the daemon makes its own).
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

static int clock_now(void *ctx, uint64_t *ns)
{
	struct adv *a = ctx;

	return clock_ns(a->dev, ns);
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
	struct bnnacc_card card[CARD_RUN_MAX_CARDS], *cp[CARD_RUN_MAX_CARDS];
	struct bnnacc_dev *dev[CARD_RUN_MAX_CARDS] = { NULL };
	struct adv adv;
	const char *sock = NULL, *state = NULL;
	char err[512] = "";
	unsigned ncards = 1, i;
	int ret = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&o, 0, sizeof(o));
	while (argc > 2 && !strncmp(argv[1], "--", 2)) {
		if (!strcmp(argv[1], "--daemon") && argc > 3) {
			sock = argv[2];
			state = argv[3];
			argv++;
			argc--;
		} else if (!strcmp(argv[1], "--cards")) {
			ncards = (unsigned)strtoul(argv[2], NULL, 10);
		} else if (!strcmp(argv[1], "--mode")) {
			o.mode = !strcmp(argv[2], "shared") ? BNNACC_XFER_SHARED :
				 !strcmp(argv[2], "samples") ? BNNACC_XFER_SAMPLES : 99;
		} else if (!strcmp(argv[1], "--cells")) {
			o.cells = (unsigned)strtoul(argv[2], NULL, 10);
		} else if (!strcmp(argv[1], "--repeat")) {
			o.repeat = (unsigned)strtoul(argv[2], NULL, 10);
		} else {
			break;
		}
		argv += 2;
		argc -= 2;
	}
	if (argc < 4 || !ncards || ncards > CARD_RUN_MAX_CARDS || o.mode == 99) {
		fprintf(stderr, "usage: p_demo [--daemon SOCKET STATE_DIR] [--cards N] "
			"[--mode shared|samples] [--cells N] [--repeat N] MODEL POINTS DIR [M] [AGES]\n");
		return 2;
	}
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
	for (i = 0; i < ncards && !ret; i++) {
		ret = bnnacc_open(&dev[i], (int)i, err, sizeof(err));
		if (!ret)
			ret = bnnacc_dev_card(dev[i], &card[i]);
		if (ret && !err[0])
			snprintf(err, sizeof(err), "card %u: %s", i, bnnacc_dev_error(dev[i]));
		cp[i] = &card[i];
	}
	if (ret) {
		printf("p_demo: open: %s\np_demo: FAIL\n", err);
		return 1;
	}
	adv.dev = dev[0];
	adv.t_prog_ns = 0;
	o.programmed = programmed;
	o.advance = advance;
	o.clock = clock_now;
	o.advance_ctx = &adv;
	if (sock) {
		printf("p_demo: through bnnaccd\n");
		ret = daemon_run(dev[0], &o, sock, state, err, sizeof(err));
	} else {
		printf("p_demo: libbnnacc directly (--direct), %u card%s\n", ncards,
		       ncards > 1 ? "s" : "");
		ret = card_run(cp, ncards, &o, err, sizeof(err));
	}
	for (i = 0; i < ncards; i++)
		bnnacc_close(dev[i]);
	if (ret) {
		printf("p_demo: %s (%s)\np_demo: FAIL\n", err, strerror(-ret));
		return 1;
	}
	printf("p_demo: PASS\n");
	return 0;
}
