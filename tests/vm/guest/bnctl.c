// SPDX-License-Identifier: MIT
/*
 * bnctl - a small guest-side tool for the VM bench and the card demo: drive
 * /dev/bnnaccN through the driver's ioctls from shell scripts.
 *
 *   bnctl [-d DEV] identify
 *   bnctl [-d DEV] program ROW ROWS COL COLS (ISET_UA | reset)
 *   bnctl [-d DEV] read ROW ROWS COL COLS [READS] [--hist LO HI BINS | --dump]
 *
 * `read` prints one line of statistics (µS) over all cells read:
 *   n=… median=… mean=… sd=… min=… max=…
 * --hist adds a histogram as "hist LO_EDGE COUNT" lines; --dump prints every
 * value in nS, one per line (for bit-exact comparisons).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bnnacc.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: bnctl [-d DEV] identify\n"
		"       bnctl [-d DEV] program ROW ROWS COL COLS (ISET_UA|reset)\n"
		"       bnctl [-d DEV] read ROW ROWS COL COLS [READS] [--hist LO HI BINS|--dump]\n");
	return 2;
}

static int fail(const char *what)
{
	fprintf(stderr, "bnctl: %s: %s\n", what, strerror(errno));
	return 1;
}

static int identify(int fd)
{
	struct bnnacc_identify_args a = { .size = sizeof(a) };
	struct bnnacc_identify *id = &a.id;

	if (ioctl(fd, BNNACC_IOC_IDENTIFY, &a))
		return fail("IDENTIFY");
	printf("model: %.32s\nserial: %016llx\nhw_version: %u.%u\n"
	       "driver_abi: %u\ngeometry: %ux%u\ndac_bits: %u\nadc_bits: %u\n"
	       "iset_uA: %.3f..%.3f\nadc_fs_uA: %.1f\nread_mV: %u\n"
	       "g_uS: %.3f..%.3f\nstuck_cells: %u\nmax_ring: %u\n"
	       "clock_s: %.3f\n",
	       id->model, (unsigned long long)id->serial, id->hw_version >> 16,
	       id->hw_version & 0xffff, a.drv_version, id->rows, id->cols,
	       id->dac_bits, id->adc_bits, id->iset_min_na / 1e3,
	       id->iset_max_na / 1e3, id->adc_fs_na / 1e3, id->read_mv,
	       id->g_min_ns / 1e3, id->g_max_ns / 1e3, id->stuck_cells,
	       id->max_ring, id->clock_ns / 1e9);
	return 0;
}

static int parse_region(char **v, struct bnnacc_region *r)
{
	r->row = (uint16_t)strtoul(v[0], NULL, 0);
	r->rows = (uint16_t)strtoul(v[1], NULL, 0);
	r->col = (uint16_t)strtoul(v[2], NULL, 0);
	r->cols = (uint16_t)strtoul(v[3], NULL, 0);
	return 0;
}

static int program(int fd, char **v)
{
	struct bnnacc_program_args a = { .size = sizeof(a) };
	uint32_t word, *w;
	size_t n;
	int rc;

	parse_region(v, &a.region);
	if (!strcmp(v[4], "reset"))
		word = BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	else
		word = BNNACC_PROG_WORD(BNNACC_PROG_SET,
					(uint32_t)lround(atof(v[4]) * 1e3));
	n = (size_t)a.region.rows * a.region.cols;
	w = malloc(n * 4 + 4);
	if (!w)
		return fail("malloc");
	for (size_t i = 0; i < n; i++)
		w[i] = word;
	a.words = (uintptr_t)w;
	a.words_len = (uint32_t)(n * 4);
	rc = ioctl(fd, BNNACC_IOC_PROGRAM, &a) ? fail("PROGRAM") : 0;
	free(w);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Statistics in uS. rsd is the robust spread 1.4826 * MAD, which a few stuck
 * cells do not move (sd is the plain standard deviation).
 */
static void stats(const uint32_t *g, size_t n)
{
	double s = 0, s2 = 0, mean, med, rsd = NAN;
	uint32_t *v = malloc(n * 4);

	for (size_t i = 0; i < n; i++) {
		s += g[i] / 1e3;
		s2 += (g[i] / 1e3) * (g[i] / 1e3);
	}
	mean = s / n;
	if (!v) {
		printf("n=%zu mean=%.3f\n", n, mean);
		return;
	}
	memcpy(v, g, n * 4);
	qsort(v, n, 4, cmp_u32);
	med = v[n / 2] / 1e3;
	printf("n=%zu median=%.3f mean=%.3f sd=%.3f", n, med, mean,
	       sqrt(fmax(s2 / n - mean * mean, 0)));
	printf(" min=%.3f max=%.3f", v[0] / 1e3, v[n - 1] / 1e3);
	for (size_t i = 0; i < n; i++)
		v[i] = (uint32_t)fabs(g[i] - med * 1e3);
	qsort(v, n, 4, cmp_u32);
	rsd = 1.4826 * v[n / 2] / 1e3;
	printf(" rsd=%.3f\n", rsd);
	free(v);
}

static void hist(const uint32_t *g, size_t n, double lo, double hi, int bins)
{
	unsigned *h = calloc((size_t)bins, sizeof(*h));

	if (!h || bins < 1 || hi <= lo) {
		free(h);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int b = (int)floor((g[i] / 1e3 - lo) / (hi - lo) * bins);

		if (b >= 0 && b < bins)
			h[b]++;
	}
	for (int b = 0; b < bins; b++)
		printf("hist %.3f %u\n", lo + (hi - lo) * b / bins, h[b]);
	free(h);
}

static int do_read(int fd, int argc, char **v)
{
	struct bnnacc_read_args a = { .size = sizeof(a) };
	uint32_t *g;
	size_t n;
	int i = 4;

	parse_region(v, &a.region);
	a.reads = 1;
	if (argc > i && v[i][0] != '-')
		a.reads = (uint32_t)strtoul(v[i++], NULL, 0);
	n = (size_t)a.region.rows * a.region.cols * a.reads;
	g = malloc(n * 4 + 4);
	if (!g)
		return fail("malloc");
	a.buf = (uintptr_t)g;
	a.buf_len = (uint32_t)(n * 4);
	if (ioctl(fd, BNNACC_IOC_READ, &a)) {
		free(g);
		return fail("READ");
	}
	stats(g, n);
	if (argc > i && !strcmp(v[i], "--dump")) {
		for (size_t k = 0; k < n; k++)
			printf("%u\n", g[k]);
	} else if (argc > i + 3 && !strcmp(v[i], "--hist")) {
		hist(g, n, atof(v[i + 1]), atof(v[i + 2]), atoi(v[i + 3]));
	}
	free(g);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/bnnacc0";
	int fd, rc;

	if (argc > 2 && !strcmp(argv[1], "-d")) {
		dev = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return usage();
	fd = open(dev, O_RDWR);
	if (fd < 0)
		return fail(dev);
	if (!strcmp(argv[1], "identify"))
		rc = identify(fd);
	else if (!strcmp(argv[1], "program") && argc == 7)
		rc = program(fd, argv + 2);
	else if (!strcmp(argv[1], "read") && argc >= 6)
		rc = do_read(fd, argc - 2, argv + 2);
	else
		rc = usage();
	close(fd);
	return rc;
}
