// SPDX-License-Identifier: MIT
/*
 * b_driver - throughput of the job engine against the card's own compute
 * rate, run in the guest by tests/bench/vm_bench.sh.
 *
 * For each batch size N (input vectors per job, the job's count) in
 * 1, 16, 64, 256 and a fixed repeat of 8, MVM jobs on the whole array are
 * kept in flight (DEPTH batches submitted before the first is reaped, each
 * reaped batch resubmitted at once) for a fixed time, then drained:
 *
 *   driver rate = samples / wall time            (samples = count * repeat)
 *   device rate = samples / delta busy_ns        (sysfs busy_ns of the card,
 *                 or the sum of the completions' busy_ns without it)
 *
 * and one job of count 1, repeat 1 is submitted and waited for 200 times:
 * the median is the round trip.
 *
 * usage: b_driver [seconds-per-size [DEV]]
 * Prints BENCH lines.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define REPEAT		8
#define DEPTH		8
#define RT_RUNS		200
#define BATCH_SAMPLES	8192	/* samples per batch, about */

static int fd = -1;
static char sysdir[256];


struct slot {
	struct bnnacc_job j[BNNACC_SUBMIT_MAX_JOBS];
	int32_t *out;
};

static const struct bnnacc_region whole = { 0, 0, BNNACC_ROWS, BNNACC_COLS };
static uint64_t submit_ns, reap_ns;	/* time inside the ioctls */

static int submit(struct slot *s, unsigned int nj, uint64_t ud)
{
	uint64_t h, t0 = gj_now_ns();
	int r = gj_submit(fd, s->j, nj, 0, ud, &h);

	submit_ns += gj_now_ns() - t0;
	CHECK(r == 0);
	return 0;
}

static int reap(struct bnnacc_completion *c)
{
	uint64_t t0 = gj_now_ns();
	int r = gj_wait(fd, 0, 30000000000ll, c);

	reap_ns += gj_now_ns() - t0;
	CHECK(r == 0);
	CHECK_MSG(c->status == 0, "batch status %d", c->status);
	return 0;
}

static double ratio_b256;

/* Guest CPU time: total and idle jiffies from /proc/stat. */
static void cpu_jiffies(unsigned long long *total, unsigned long long *idle)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*total = *idle = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += v[i];
		*idle = v[3] + v[4];
	}
	fclose(f);
}

static int run_size(unsigned int n, double seconds, const int16_t *in)
{
	static struct slot slots[DEPTH];
	unsigned int nj = BATCH_SAMPLES / (n * REPEAT);
	size_t out_words = (size_t)REPEAT * n * BNNACC_COLS;
	uint64_t samples = 0, comp_busy = 0, t0, t1, end;
	long long b0, b1;
	struct bnnacc_completion c;
	double wall, busy, drv, devr;
	int inflight = 0;
	unsigned long long j0, j1, i0, i1;
	struct tms tm0, tm1;
	long hz = sysconf(_SC_CLK_TCK);

	if (nj < 1)
		nj = 1;
	if (nj > BNNACC_SUBMIT_MAX_JOBS)
		nj = BNNACC_SUBMIT_MAX_JOBS;
	for (int k = 0; k < DEPTH; k++) {
		slots[k].out = malloc(out_words * 4 * nj);
		CHECK(slots[k].out);
		memset(slots[k].out, 0, out_words * 4 * nj);
		for (unsigned int i = 0; i < nj; i++)
			slots[k].j[i] = gj_job(whole, in,
					       n * BNNACC_ROWS * 2,
					       slots[k].out + i * out_words,
					       out_words * 4, n, REPEAT, 4);
	}
	cpu_jiffies(&j0, &i0);
	times(&tm0);
	b0 = gj_sysfs_val(sysdir, "busy_ns");
	submit_ns = reap_ns = 0;
	t0 = gj_now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	for (int k = 0; k < DEPTH; k++, inflight++)
		CHECK(!submit(&slots[k], nj, k));
	while (inflight) {
		CHECK(!reap(&c));
		inflight--;
		samples += (uint64_t)nj * n * REPEAT;
		comp_busy += c.busy_ns;
		if (gj_now_ns() < end) {
			CHECK(!submit(&slots[c.user_data], nj, c.user_data));
			inflight++;
		}
	}
	t1 = gj_now_ns();
	b1 = gj_sysfs_val(sysdir, "busy_ns");
	times(&tm1);
	cpu_jiffies(&j1, &i1);
	wall = (t1 - t0) / 1e9;
	busy = b0 >= 0 && b1 > b0 ? (b1 - b0) / 1e9 : comp_busy / 1e9;
	drv = samples / wall;
	devr = samples / busy;
	printf("b_driver: count %u x repeat %u, %u jobs/batch, %d in flight: %llu samples, wall %.3f s, card busy %.3f s (%s; completions say %.3f s)\n",
	       n, REPEAT, nj, DEPTH, (unsigned long long)samples, wall, busy,
	       b0 >= 0 ? "sysfs busy_ns" : "completions", comp_busy / 1e9);
	printf("b_driver: per batch: %.2f ms in SUBMIT, %.2f ms in WAIT (sleep + copy-out), %.2f ms of card time\n",
	       submit_ns / 1e6 / (samples / ((double)nj * n * REPEAT)),
	       reap_ns / 1e6 / (samples / ((double)nj * n * REPEAT)),
	       busy * 1e3 / (samples / ((double)nj * n * REPEAT)));
	printf("b_driver: guest CPU idle %.0f %%; this process: user %.2f s, system %.2f s\n",
	       j1 > j0 ? 100.0 * (i1 - i0) / (j1 - j0) : -1.0,
	       (double)(tm1.tms_utime - tm0.tms_utime) / hz,
	       (double)(tm1.tms_stime - tm0.tms_stime) / hz);
	printf("BENCH driver_samples_per_s_b%u %.0f samples/s\n", n, drv);
	printf("BENCH device_samples_per_s_b%u %.0f samples/s\n", n, devr);
	printf("BENCH driver_vs_device_ratio_b%u %.3f\n", n, drv / devr);
	if (n == 256)
		ratio_b256 = drv / devr;
	for (int k = 0; k < DEPTH; k++)
		free(slots[k].out);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int roundtrip(const int16_t *in)
{
	static uint64_t t[RT_RUNS];
	int32_t out[BNNACC_COLS];
	struct slot s;
	struct bnnacc_completion c;

	s.j[0] = gj_job(whole, in, BNNACC_ROWS * 2, out, sizeof(out), 1, 1, 4);
	for (int i = 0; i < 10; i++) {		/* warm up */
		CHECK(!submit(&s, 1, 0));
		CHECK(!reap(&c));
	}
	for (int i = 0; i < RT_RUNS; i++) {
		uint64_t t0 = gj_now_ns();

		CHECK(!submit(&s, 1, 0));
		CHECK(!reap(&c));
		t[i] = gj_now_ns() - t0;
	}
	qsort(t, RT_RUNS, sizeof(t[0]), cmp_u64);
	printf("b_driver: round trip min %.1f us, median %.1f us, p90 %.1f us\n",
	       t[0] / 1e3, t[RT_RUNS / 2] / 1e3, t[RT_RUNS * 9 / 10] / 1e3);
	printf("BENCH job_roundtrip_us %.1f us\n", t[RT_RUNS / 2] / 1e3);
	return 0;
}

/* How fast the (emulated) guest CPU moves memory: the floor of any copy. */
static void memcpy_rate(void)
{
	size_t n = 4u << 20;
	char *a = malloc(n), *b = malloc(n);
	uint64_t t0;
	double s;

	if (!a || !b)
		return;
	memset(a, 1, n);
	memset(b, 2, n);
	t0 = gj_now_ns();
	for (int i = 0; i < 8; i++) {
		memcpy(b, a, n);
		a[i] = b[n - 1 - i];
	}
	s = (gj_now_ns() - t0) / 1e9;
	printf("b_driver: guest user-space memcpy %.0f MB/s (4 MiB blocks)\n",
	       8 * n / s / 1e6);
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	static const unsigned int sizes[] = { 1, 16, 64, 256 };
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	const char *dev = argc > 2 ? argv[2] : "/dev/bnnacc0";
	int16_t *in;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 1;
	}
	gj_sysdir(sysdir, sizeof(sysdir), dev);
	in = malloc(256 * BNNACC_ROWS * 2);
	if (!in)
		return 1;
	for (int i = 0; i < 256 * BNNACC_ROWS; i++)
		in[i] = (int16_t)((i * 2654435761u) >> 16);
	memcpy_rate();
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		if (run_size(sizes[k], seconds, in))
			return 1;
	printf("BENCH driver_vs_device_ratio %.3f\n", ratio_b256);
	if (roundtrip(in))
		return 1;
	close(fd);
	return 0;
}
