/* SPDX-License-Identifier: MIT */
/*
 * t_lib - libbnnacc on the emulated card: open (by index and by PCI
 * address, with the ABI check), the async wrappers (submit, poll on the
 * completion fd, reap, wait, cancel of an unknown batch), then calibrate ->
 * transfer -> infer on the card, compared with the software reference of
 * what the card holds. Prints "t_lib: PASS" and KEY=VALUE lines.
 * Linked statically with build/lib/libbnnacc.a (no libpci: no bnnacc_list).
 */
#include <bnnacc/bnnacc.h>

#include "gtest.h"

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define M 32
#define N 60

static double urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(*s >> 11) / 9007199254740992.0;
}

static int open_both(struct bnnacc_dev **dev)
{
	char link[PATH_MAX], err[256];
	ssize_t n;

	CHECK_MSG(bnnacc_open(dev, 0, err, sizeof(err)) == 0, "%s", err);
	CHECK(bnnacc_dev_abi(*dev) == BNNACC_ABI_VERSION);
	bnnacc_close(*dev);
	n = readlink("/sys/class/bnnacc/bnnacc0/device", link, sizeof(link) - 1);
	CHECK(n > 0);
	link[n] = '\0';
	CHECK(bnnacc_pci_to_index(basename(link)) == 0);
	CHECK_MSG(bnnacc_open_pci(dev, basename(link), err, sizeof(err)) == 0, "%s", err);
	printf("pci=%s serial=%llx\n", basename(link),
	       (unsigned long long)bnnacc_dev_identity(*dev)->serial);
	return 0;
}

static int async_wrappers(struct bnnacc_dev *dev)
{
	struct bnnacc_region r = { 0, 0, 2, 4 };
	int16_t in[2] = { 16000, -16000 };
	int32_t out[4];
	struct bnnacc_job j;
	struct bnnacc_completion c;
	struct pollfd p;
	uint64_t h;

	memset(&j, 0, sizeof(j));
	j.region = r;
	j.in = (uintptr_t)in;
	j.out = (uintptr_t)out;
	j.in_len = sizeof(in);
	j.out_len = sizeof(out);
	j.count = 1;
	CHECK(bnnacc_submit(dev, &j, 1, 0, 42, &h) == 0 && h);
	p.fd = bnnacc_completion_fd(dev);
	p.events = POLLIN;
	CHECK(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN));
	CHECK(bnnacc_reap(dev, &c, 1) == 1);
	CHECK(c.handle == h && c.user_data == 42 && c.status == 0 && c.jobs_done == 1);
	CHECK(bnnacc_submit(dev, &j, 1, 0, 7, &h) == 0);
	CHECK(bnnacc_wait(dev, h, -1, &c) == 0 && c.status == 0);
	CHECK(bnnacc_wait(dev, h, 0, &c) == -ENOENT);
	CHECK(strstr(bnnacc_dev_error(dev), "WAIT"));
	CHECK(bnnacc_cancel(dev, 0xdeadbeef) == -ENOENT);
	CHECK(bnnacc_reap(dev, &c, 1) == 0);
	return 0;
}

static int mk_model(struct bnnacc_model **out)
{
	static const uint32_t dims[] = { 2, 8, 3 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	struct bnnacc_model *m;
	uint64_t s = 8;
	unsigned l;
	size_t i, n;

	CHECK(bnnacc_model_new(&m, BNNACC_MODEL_GAUSS, 2, dims, acts, 0) == 0);
	for (l = 0; l < 2; l++) {
		n = (size_t)m->layer[l].n_out * (m->layer[l].n_in + 1);
		for (i = 0; i < n; i++) {
			m->layer[l].mean[i] = (float)(2.0 * urand(&s) - 1.0);
			m->layer[l].std[i] = (float)(0.1 * (1.0 + 0.02 * urand(&s)));
		}
	}
	*out = m;
	return 0;
}

static int progress(void *arg, unsigned done, unsigned total)
{
	(void)arg;
	printf("calibration %u/%u\n", done, total);
	return 0;
}

static int compare(const struct bnnacc_result *hw, const struct bnnacc_result *sw)
{
	double dsum = 0;
	unsigned i, j, agree = 0;

	for (i = 0; i < N; i++) {
		unsigned ah = 0, as = 0;
		double d = 0;

		for (j = 0; j < 3; j++) {
			d = fmax(d, fabs(hw->mean[i * 3 + j] - sw->mean[i * 3 + j]));
			ah = hw->mean[i * 3 + j] > hw->mean[i * 3 + ah] ? j : ah;
			as = sw->mean[i * 3 + j] > sw->mean[i * 3 + as] ? j : as;
		}
		dsum += d / N;
		agree += ah == as;
	}
	printf("mean_abs_diff=%.4f argmax_agree=%u/%u\n", dsum, agree, N);
	CHECK(dsum < 0.05);
	CHECK(agree >= N * 9 / 10);
	return 0;
}

static int pipeline(struct bnnacc_dev *dev)
{
	struct bnnacc_cal_opts co = { { 0, 0, 0, 0 }, 0, NULL, 0, 0, progress, NULL };
	struct bnnacc_xfer_opts xo = { .m = M };
	struct bnnacc_model *m = NULL, *ach = NULL;
	struct bnnacc_result hw, sw;
	struct bnnacc_calib cal;
	struct bnnacc_card card;
	struct bnnacc_card *cards[1] = { &card };
	const struct bnnacc_calib *cals[1] = { &cal };
	struct bnnacc_net *net;
	float x[N * 2];
	char err[256] = "";
	unsigned i, cells;

	for (i = 0; i < N; i++) {
		x[2 * i] = (float)(-2.0 + 4.0 * (i % 10) / 9.0);
		x[2 * i + 1] = (float)(-1.0 + 2.0 * (i / 10) / 5.0);
	}
	CHECK(bnnacc_dev_card(dev, &card) == 0);
	CHECK_MSG(bnnacc_calibrate(&card, &co, &cal, err, sizeof(err)) == 0, "%s", err);
	printf("cal_k=%.4f cal_sig_lo=%.3f cal_sig_hi=%.3f read_lo=%.3f read_hi=%.3f\n",
	       cal.k_us_per_ua, cal.g_sig_prog[0], cal.g_sig_prog[cal.nlevels - 1],
	       cal.g_sig_read[0], cal.g_sig_read[cal.nlevels - 1]);
	CHECK(fabs(cal.k_us_per_ua - 2.0) < 0.1);
	CHECK(mk_model(&m) == 0);
	CHECK_MSG(bnnacc_transfer(&net, cards, cals, 1, m, &xo, err, sizeof(err)) == 0, "%s", err);
	cells = 0;
	for (unsigned k = 0; k < bnnacc_net_m(net); k++)
		for (i = 0; i < 2; i++)
			cells += bnnacc_net_tile(net, k, i, 0, NULL)->rows *
				 bnnacc_net_tile(net, k, i, 0, NULL)->cols;
	printf("networks=%u gamma=%.3f cells=%u of %u\n", bnnacc_net_m(net),
	       bnnacc_net_gamma(net, 0), cells, BNNACC_CELLS);
	for (i = 0; i < 2; i++)
		printf("layer%u_kl=%.2e clipped=%u/%u\n", i, bnnacc_net_report(net, i)->kl_mean,
		       bnnacc_net_report(net, i)->clipped, bnnacc_net_report(net, i)->weights);
	CHECK_MSG(bnnacc_infer(net, x, N, &hw, err, sizeof(err)) == 0, "%s", err);
	CHECK(bnnacc_net_achieved(net, &ach) == 0);
	CHECK(bnnacc_infer_soft(ach, M, 5, x, N, &sw) == 0);
	CHECK(compare(&hw, &sw) == 0);
	bnnacc_result_free(&hw);
	bnnacc_result_free(&sw);
	bnnacc_model_free(ach);
	bnnacc_model_free(m);
	bnnacc_net_free(net);
	return 0;
}

int main(void)
{
	struct bnnacc_dev *dev;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (open_both(&dev) || async_wrappers(dev) || pipeline(dev)) {
		printf("t_lib: FAIL\n");
		return 1;
	}
	bnnacc_close(dev);
	printf("t_lib: PASS\n");
	return 0;
}
