// SPDX-License-Identifier: MIT
/*
 * t_program_read - PROGRAM the array through the driver, READ it back by DMA
 * and find the statistics docs/hardware.md promises:
 *
 *  - a SET band's median is k * I_SET (k = 2 uS/uA) within 3 %;
 *  - its spread is sqrt(1 + d2d^2) * sigma_c2c(G) combined with the 2 % read
 *    noise, within four standard errors of the estimate for the band's
 *    cell count (stuck cells left out): 5.1 % for the sample standard
 *    deviation and 8.4 % for the robust IQR / 1.349 of a 3072-cell band;
 *  - a RESET band's median is 2 uS;
 *  - every read draws fresh read noise (reads=4 and repeated READs differ by
 *    the read noise, and only by it);
 *  - a SKIP word leaves its cell as it was, a region's data is row-major.
 *
 * The array is cut in bands of whole rows: SET at 10, 30, 60 and 90 uA (24
 * rows each) and RESET (the last 32 rows), all programmed by one PROGRAM.
 *
 * usage: t_program_read [DEV]
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gtest.h"

/* The "pessimistic" preset's values (docs/physics.md): case 02 runs it. */
#define K_US_PER_UA	2.0
#define D2D		0.7
#define READ_NOISE	0.02
#define RESET_MED_US	2.0
#define STUCK_HIGH_US	199.0	/* a read at or above this: stuck high */
#define STUCK_LOW_US	1.5	/* at or below this: stuck low */

#define MEDIAN_TOL	0.03
#define SPREAD_SE	4.0	/* spread checks: within this many standard errors */
#define RESET_TOL	0.05

#define N		(BNNACC_ROWS * BNNACC_COLS)

/*
 * Tolerances of a spread estimated from @n normal samples: SPREAD_SE
 * standard errors of the sample standard deviation (1 / sqrt(2 (n - 1))
 * relative) and of IQR / 1.349 (1.166 / sqrt(n) relative, from the
 * asymptotic variance of the quartiles).
 */
static double sd_tol(size_t n)
{
	return SPREAD_SE / sqrt(2.0 * ((double)n - 1));
}

static double iqr_tol(size_t n)
{
	return SPREAD_SE * 1.166 / sqrt((double)n);
}

struct band {
	const char *name;
	unsigned int row, rows;
	double iset_ua;		/* 0: RESET */
};

static const struct band bands[] = {
	{ "SET 10uA", 0, 24, 10 },
	{ "SET 30uA", 24, 24, 30 },
	{ "SET 60uA", 48, 24, 60 },
	{ "SET 90uA", 72, 24, 90 },
	{ "RESET", 96, 32, 0 },
};
#define NBANDS (sizeof(bands) / sizeof(bands[0]))

static int fd = -1;

static double c2c_sigma(double g)
{
	return fmax(-0.009107 * g + 4.782, 0.5);
}

/* Expected spread of single reads of cells SET to median @g. */
static double want_sd(double g)
{
	double c = c2c_sigma(g), r = READ_NOISE * g;

	return sqrt((1 + D2D * D2D) * c * c + r * r);
}

static uint32_t set_word(double ua)
{
	return BNNACC_PROG_WORD(BNNACC_PROG_SET, (uint32_t)lround(ua * 1e3));
}

static int program(unsigned int row, unsigned int rows, unsigned int col,
		   unsigned int cols, const uint32_t *w)
{
	struct bnnacc_program_args a = {
		.size = sizeof(a),
		.region = { row, col, rows, cols },
		.words = (uintptr_t)w,
		.words_len = rows * cols * 4,
	};

	CHECK(ioctl(fd, BNNACC_IOC_PROGRAM, &a) == 0);
	return 0;
}

static int read_cells(unsigned int row, unsigned int rows, unsigned int col,
		      unsigned int cols, unsigned int reads, uint32_t *g)
{
	struct bnnacc_read_args a = {
		.size = sizeof(a),
		.region = { row, col, rows, cols },
		.buf = (uintptr_t)g,
		.buf_len = rows * cols * (reads ? reads : 1) * 4,
		.reads = reads,
	};

	CHECK(ioctl(fd, BNNACC_IOC_READ, &a) == 0);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Quantile @q of the sorted @v[@n], interpolated. */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;

	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

struct stats {
	size_t n, excluded;
	double median, sd_iqr, sd;	/* uS; sd of the kept values */
};

/*
 * Statistics of @n values (uS), sorted in place. Stuck-looking values far
 * from the median and anything beyond 6 robust sigmas are left out of @sd.
 */
static void stats(double *v, size_t n, struct stats *s)
{
	double lo, hi, sum = 0, sum2 = 0, mean;
	size_t i, kept = 0;

	qsort(v, n, sizeof(*v), cmp_double);
	s->n = n;
	s->median = quantile(v, n, 0.5);
	s->sd_iqr = (quantile(v, n, 0.75) - quantile(v, n, 0.25)) / 1.349;
	lo = s->median - 6 * s->sd_iqr;
	hi = s->median + 6 * s->sd_iqr;
	if (s->median > 5 * STUCK_LOW_US)
		lo = fmax(lo, STUCK_LOW_US);
	if (s->median < STUCK_HIGH_US - 30)
		hi = fmin(hi, STUCK_HIGH_US);
	for (i = 0; i < n; i++) {
		if (v[i] <= lo || v[i] >= hi)
			continue;
		sum += v[i];
		sum2 += v[i] * v[i];
		kept++;
	}
	mean = sum / (double)kept;
	s->sd = sqrt(fmax(sum2 / (double)kept - mean * mean, 0));
	s->excluded = n - kept;
}

/* Values (uS) of band @b out of a full-array read @g, into @v. */
static size_t band_values(const uint32_t *g, const struct band *b, double *v)
{
	size_t n = (size_t)b->rows * BNNACC_COLS;

	for (size_t i = 0; i < n; i++)
		v[i] = g[(size_t)b->row * BNNACC_COLS + i] / 1e3;
	return n;
}

static int program_bands(void)
{
	static uint32_t w[N];

	for (size_t b = 0; b < NBANDS; b++) {
		uint32_t word = bands[b].iset_ua ?
			set_word(bands[b].iset_ua) :
			BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);

		for (size_t i = 0; i < (size_t)bands[b].rows * BNNACC_COLS; i++)
			w[(size_t)bands[b].row * BNNACC_COLS + i] = word;
	}
	return program(0, BNNACC_ROWS, 0, BNNACC_COLS, w);
}

static int check_band(const struct band *b, const uint32_t *g, const char *tag)
{
	static double v[N];
	struct stats s;
	double want;

	stats(v, band_values(g, b, v), &s);
	if (!b->iset_ua) {
		printf("%s %-8s n=%zu median=%.3f (want %.3f) sd_iqr=%.3f\n",
		       tag, b->name, s.n, s.median, RESET_MED_US, s.sd_iqr);
		CHECK_MSG(fabs(s.median / RESET_MED_US - 1) <= RESET_TOL,
			  "%s median %.3f uS", b->name, s.median);
		return 0;
	}
	want = K_US_PER_UA * b->iset_ua;
	printf("%s %-8s n=%zu median=%.3f (want %.3f) sd=%.3f sd_iqr=%.3f (want %.3f) excluded=%zu\n",
	       tag, b->name, s.n, s.median, want, s.sd, s.sd_iqr, want_sd(want),
	       s.excluded);
	CHECK_MSG(fabs(s.median / want - 1) <= MEDIAN_TOL,
		  "%s median %.3f uS, want %.3f", b->name, s.median, want);
	CHECK_MSG(fabs(s.sd / want_sd(want) - 1) <= sd_tol(s.n),
		  "%s sd %.3f uS, want %.3f within %.1f %%", b->name, s.sd,
		  want_sd(want), 100 * sd_tol(s.n));
	CHECK_MSG(fabs(s.sd_iqr / want_sd(want) - 1) <= iqr_tol(s.n),
		  "%s IQR sigma %.3f uS, want %.3f within %.1f %%", b->name,
		  s.sd_iqr, want_sd(want), 100 * iqr_tol(s.n));
	CHECK(s.excluded < s.n / 100);
	return 0;
}

/*
 * Two reads @x and @y of the same cells differ by the read noise only:
 * (x - y) / (sqrt(2) * 2 % * G) has a standard deviation of 1 (robustly:
 * IQR / 1.349), and almost no cell reads the same twice.
 */
static int check_fresh_noise(const uint32_t *x, const uint32_t *y, size_t n,
			     const char *what)
{
	static double z[N];
	size_t same = 0, i;
	double sd;

	for (i = 0; i < n; i++) {
		double g = (x[i] + y[i]) / 2e3;

		same += x[i] == y[i];
		z[i] = ((double)x[i] - y[i]) / 1e3 /
		       (sqrt(2) * READ_NOISE * fmax(g, 0.1));
	}
	qsort(z, n, sizeof(*z), cmp_double);
	sd = (quantile(z, n, 0.75) - quantile(z, n, 0.25)) / 1.349;
	printf("%s: %zu cells, %zu read the same twice, noise sd %.3f of 2 %%\n",
	       what, n, same, sd);
	CHECK_MSG(same <= n / 20, "%s: %zu of %zu cells read the same", what,
		  same, n);
	CHECK_MSG(fabs(sd - 1) <= iqr_tol(n),
		  "%s: read noise %.3f of 2 %%, want 1 within %.1f %%", what, sd,
		  100 * iqr_tol(n));
	return 0;
}

static int test_bands(uint32_t *g1)
{
	static uint32_t g4[4 * N], g2[N];
	uint32_t *r0 = g4, *r1 = g4 + N, *r3 = g4 + 3 * N;

	if (program_bands() || read_cells(0, BNNACC_ROWS, 0, BNNACC_COLS, 1, g1))
		return -1;
	for (size_t b = 0; b < NBANDS; b++)
		if (check_band(&bands[b], g1, "read1"))
			return -1;

	/* reads=4: laid out [read][row][col], each read with its own noise */
	if (read_cells(0, BNNACC_ROWS, 0, BNNACC_COLS, 4, g4))
		return -1;
	for (size_t b = 0; b < NBANDS; b++)
		if (check_band(&bands[b], r3, "read4[3]"))
			return -1;
	if (check_fresh_noise(r0, r1, N, "reads=4, read 0 vs 1"))
		return -1;

	/* A second READ ioctl draws fresh noise too. */
	if (read_cells(0, BNNACC_ROWS, 0, BNNACC_COLS, 0, g2))
		return -1;
	return check_fresh_noise(g1, g2, N, "two READs");
}

/* Mean over @reads reads (laid out [read][cell]) of each of @n cells. */
static void mean_reads(const uint32_t *g, size_t n, unsigned int reads,
		       double *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = 0;
		for (unsigned int r = 0; r < reads; r++)
			out[i] += g[r * n + i] / 1e3;
		out[i] /= reads;
	}
}

/*
 * Rows 0..1 (SET 10 uA): reprogram the odd columns at 50 uA with SKIP in
 * the even ones. The skipped cells keep their conductance (the mean of 4
 * reads moves by the read noise only), the others move to 100 uS.
 */
static int test_skip(void)
{
	enum { ROWS = 2, CELLS = ROWS * BNNACC_COLS, READS = 4 };
	static uint32_t w[CELLS], g[READS * CELLS];
	static double before[CELLS], after[CELLS], z[CELLS / 2], set[CELLS / 2];
	size_t nz = 0, ns = 0;
	double zmed, setmed;

	if (read_cells(0, ROWS, 0, BNNACC_COLS, READS, g))
		return -1;
	mean_reads(g, CELLS, READS, before);
	for (size_t i = 0; i < CELLS; i++)
		w[i] = i % 2 ? set_word(50) :
			BNNACC_PROG_WORD(BNNACC_PROG_SKIP, 0);
	if (program(0, ROWS, 0, BNNACC_COLS, w) ||
	    read_cells(0, ROWS, 0, BNNACC_COLS, READS, g))
		return -1;
	mean_reads(g, CELLS, READS, after);
	for (size_t i = 0; i < CELLS; i++) {
		if (i % 2) {
			set[ns++] = after[i];
			continue;
		}
		/* sd of a mean of 4 reads, twice: 2 % G sqrt(2 / 4) */
		z[nz++] = fabs(after[i] - before[i]) /
			  (READ_NOISE * fmax(before[i], 0.1) * sqrt(0.5));
	}
	qsort(z, nz, sizeof(*z), cmp_double);
	qsort(set, ns, sizeof(*set), cmp_double);
	zmed = quantile(z, nz, 0.5);
	setmed = quantile(set, ns, 0.5);
	printf("skip: %zu skipped cells, median |change| %.2f sigma (0.67 expected), max %.1f; %zu set cells, median %.3f uS (want %.3f)\n",
	       nz, zmed, z[nz - 1], ns, setmed, K_US_PER_UA * 50);
	CHECK_MSG(zmed <= 1.2, "skipped cells changed: median |z| %.2f", zmed);
	CHECK_MSG(fabs(setmed / (K_US_PER_UA * 50) - 1) <= MEDIAN_TOL,
		  "set cells median %.3f uS", setmed);
	return 0;
}

/*
 * A 4 x 16 patch inside the RESET band, column c at 5 + 6 c uA: reading the
 * patch as a region finds each current's conductance where it belongs, and
 * so does a read of the whole band.
 */
static int test_region_layout(void)
{
	enum { R0 = 100, RS = 4, C0 = 7, CS = 16, CELLS = RS * CS };
	static uint32_t w[CELLS], g[CELLS], band[32 * BNNACC_COLS];
	static double zp[CELLS], zb[CELLS];
	double mp, mb;

	for (size_t i = 0; i < CELLS; i++)
		w[i] = set_word(5 + 6 * (i % CS));
	if (program(R0, RS, C0, CS, w) || read_cells(R0, RS, C0, CS, 1, g) ||
	    read_cells(96, 32, 0, BNNACC_COLS, 1, band))
		return -1;
	for (size_t i = 0; i < CELLS; i++) {
		double want = K_US_PER_UA * (5 + 6 * (i % CS));
		double gb = band[(R0 - 96 + i / CS) * BNNACC_COLS + C0 + i % CS];

		zp[i] = fabs(g[i] / 1e3 - want) / want_sd(want);
		zb[i] = fabs(g[i] - gb) / 1e3 /
			(sqrt(2) * READ_NOISE * fmax(gb / 1e3, 0.1));
	}
	qsort(zp, CELLS, sizeof(*zp), cmp_double);
	qsort(zb, CELLS, sizeof(*zb), cmp_double);
	mp = quantile(zp, CELLS, 0.5);
	mb = quantile(zb, CELLS, 0.5);
	printf("region: patch vs currents median |z| %.2f, patch vs band read median |z| %.2f (0.67 expected)\n",
	       mp, mb);
	CHECK_MSG(mp <= 1.2, "patch cells not where programmed: %.2f", mp);
	CHECK_MSG(mb <= 1.2, "patch read disagrees with band read: %.2f", mb);
	return 0;
}

int main(int argc, char **argv)
{
	static uint32_t g1[N];
	const char *dev = argc > 1 ? argv[1] : "/dev/bnnacc0";

	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 1;
	}
	if (test_bands(g1) || test_skip() || test_region_layout())
		return 1;
	close(fd);
	printf("t_program_read: PASS\n");
	return 0;
}
