/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - calibration measured on the card: a sweep of SET currents
 * (and RESET) over a region, read back; per level a robust median and total
 * spread across cells; fits of median vs current and of sigma vs
 * conductance; saved as text per card serial.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAL_DEFAULT_LEVELS 12
#define CAL_DEFAULT_AGE (7 * 24 * 3600)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Centre and spread of @n values: the median and 1.4826 MAD find the
 * inliers (within 5 robust sigmas; stuck cells fall out), whose mean and
 * standard deviation are returned; @keep[i] (if not NULL) tells which.
 */
static void robust_stats(const double *v, size_t n, double *centre, double *sig,
			 uint8_t *keep)
{
	double med, mad, s = 0.0, s2 = 0.0, *d = malloc(2 * n * sizeof(*d));
	size_t i, k = 0;

	if (!d) {
		*centre = v[n / 2];
		*sig = 0.0;
		return;
	}
	memcpy(d, v, n * sizeof(*d));
	qsort(d, n, sizeof(*d), cmp_double);
	med = d[n / 2];
	for (i = 0; i < n; i++)
		d[n + i] = fabs(v[i] - med);
	qsort(d + n, n, sizeof(*d), cmp_double);
	mad = 1.4826 * d[n + n / 2];
	free(d);
	for (i = 0; i < n; i++) {
		int in = !(mad > 0.0 && fabs(v[i] - med) > 5.0 * mad);

		if (keep)
			keep[i] = (uint8_t)in;
		if (!in)
			continue;
		s += v[i];
		s2 += v[i] * v[i];
		k++;
	}
	*centre = s / (double)k;
	*sig = k > 1 ? sqrt(fmax(s2 / (double)k - *centre * *centre, 0.0) *
			    (double)k / (double)(k - 1)) : 0.0;
}

/* Buffers of one level's measurement */
struct meas {
	uint32_t *words, *ns;
	double *g;		/* per-cell mean of the reads */
	uint8_t *keep;
};

/*
 * Program the region to @word, read it BNNACC_CAL_READS times, and split
 * the spread: per-cell means give the median and, less the read noise
 * still in them, the programming spread; the spread within each inlier
 * cell's reads is the read noise.
 */
static int measure(struct bnnacc_card *card, const struct bnnacc_region *r,
		   uint32_t word, struct meas *b, double *med, double *sprog,
		   double *sread)
{
	const unsigned k = BNNACC_CAL_READS;
	size_t i, n = (size_t)r->rows * r->cols, kept = 0;
	double spread, within = 0.0;
	unsigned j;
	int ret;

	for (i = 0; i < n; i++)
		b->words[i] = word;
	ret = card->ops->program(card->ctx, r, b->words);
	if (!ret)
		ret = card->ops->read(card->ctx, r, b->ns, k);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		double s = 0.0;

		for (j = 0; j < k; j++)
			s += b->ns[j * n + i] / 1000.0;
		b->g[i] = s / k;
	}
	robust_stats(b->g, n, med, &spread, b->keep);
	for (i = 0; i < n; i++) {
		double v = 0.0;

		if (!b->keep[i])
			continue;
		for (j = 0; j < k; j++) {
			double d = b->ns[j * n + i] / 1000.0 - b->g[i];

			v += d * d;
		}
		within += v / (k - 1);
		kept++;
	}
	*sread = kept ? sqrt(within / kept) : 0.0;
	*sprog = sqrt(fmax(spread * spread - *sread * *sread / k, 0.0));
	return 0;
}

static void fit(struct bnnacc_calib *c)
{
	double sxy = 0, sxx = 0;
	double top = c->g_med[c->nlevels - 1];
	unsigned i, n = c->nlevels;

	for (i = 0; i < n; i++)
		if (c->g_med[i] < 0.98 * top || i == 0) {
			sxy += c->iset_ua[i] * c->g_med[i];
			sxx += c->iset_ua[i] * c->iset_ua[i];
		}
	c->k_us_per_ua = sxx > 0 ? sxy / sxx : 0.0;
	/* a monotone curve for interpolation: noise must not fold it */
	for (i = 1; i < n; i++)
		if (c->g_med[i] < c->g_med[i - 1])
			c->g_med[i] = c->g_med[i - 1];
	c->g_lo = c->g_med[0];
	c->g_hi = c->g_med[n - 1];
}

static int sweep(struct bnnacc_card *card, const struct bnnacc_cal_opts *o,
		 const struct bnnacc_region *r, unsigned nl,
		 struct bnnacc_calib *c)
{
	size_t n = (size_t)r->rows * r->cols;
	struct meas b = {
		malloc(n * 4), malloc(n * 4 * BNNACC_CAL_READS),
		malloc(n * sizeof(double)), malloc(n),
	};
	double lo = card->info.iset_min_na, hi = card->info.iset_max_na;
	unsigned i;
	int ret = -ENOMEM;

	if (!b.words || !b.ns || !b.g || !b.keep)
		goto out;
	for (i = 0; i < nl; i++) {
		uint32_t na = (uint32_t)llround(lo + (hi - lo) * i / (nl - 1));

		c->iset_ua[i] = na / 1000.0;
		ret = measure(card, r, BNNACC_PROG_WORD(BNNACC_PROG_SET, na), &b,
			      &c->g_med[i], &c->g_sig_prog[i], &c->g_sig_read[i]);
		if (!ret && o->progress && o->progress(o->progress_arg, i + 1, nl + 1))
			ret = -ECANCELED;
		if (ret)
			goto out;
	}
	ret = measure(card, r, BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0), &b,
		      &c->reset_med, &c->reset_sig_prog, &c->reset_sig_read);
	if (!ret && o->progress)
		o->progress(o->progress_arg, nl + 1, nl + 1);
out:
	free(b.words);
	free(b.ns);
	free(b.g);
	free(b.keep);
	return ret;
}

int bnnacc_calibrate(struct bnnacc_card *card, const struct bnnacc_cal_opts *opts,
		     struct bnnacc_calib *cal, char *err, size_t errlen)
{
	struct bnnacc_cal_opts o;
	struct bnnacc_region r;
	char path[4096];
	unsigned nl;
	int ret;

	memset(&o, 0, sizeof(o));
	if (opts)
		o = *opts;
	r = o.region;
	if (!r.rows || !r.cols) {
		r.row = r.col = 0;
		r.rows = (uint16_t)card->info.rows;
		r.cols = (uint16_t)card->info.cols;
	}
	if (!r.rows || !r.cols || r.row + r.rows > card->info.rows ||
	    r.col + r.cols > card->info.cols || (size_t)r.rows * r.cols < 64)
		return bnl_err(err, errlen, -EINVAL,
			       "calibration region %ux%u at (%u,%u) is outside the %ux%u array or under 64 cells",
			       r.rows, r.cols, r.row, r.col, card->info.rows,
			       card->info.cols);
	nl = o.nlevels ? o.nlevels : CAL_DEFAULT_LEVELS;
	if (nl < 3 || nl > BNNACC_CAL_MAX_LEVELS)
		return bnl_err(err, errlen, -EINVAL, "calibration levels %u not in 3..%d",
			       nl, BNNACC_CAL_MAX_LEVELS);
	if (o.dir)
		snprintf(path, sizeof(path), "%s/bnnacc-%016" PRIx64 ".cal", o.dir,
			 card->info.serial);
	if (o.dir && !o.force && bnnacc_calib_load(cal, path, NULL, 0) == 0 &&
	    cal->serial == card->info.serial &&
	    cal->hw_version == card->info.hw_version &&
	    time(NULL) - cal->created < (o.max_age_s ? o.max_age_s : CAL_DEFAULT_AGE) &&
	    time(NULL) >= cal->created)
		return 1;
	memset(cal, 0, sizeof(*cal));
	cal->serial = card->info.serial;
	cal->hw_version = card->info.hw_version;
	cal->created = time(NULL);
	cal->nlevels = nl;
	ret = sweep(card, &o, &r, nl, cal);
	if (ret)
		return bnl_err(err, errlen, ret, "calibration sweep failed: %s",
			       bnnacc_strerror(ret));
	fit(cal);
	if (!(cal->g_hi > cal->g_lo))
		return bnl_err(err, errlen, -EIO,
			       "calibration: conductance does not grow with the SET current (%.3g..%.3g uS)",
			       cal->g_lo, cal->g_hi);
	if (o.dir) {
		ret = bnnacc_calib_save(cal, path);
		if (ret)
			return bnl_err(err, errlen, ret, "cannot save %s: %s", path,
				       bnnacc_strerror(ret));
	}
	return 0;
}

int bnnacc_calib_save(const struct bnnacc_calib *c, const char *path)
{
	char tmp[4200];
	unsigned i;
	FILE *f;
	int ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "bnnacc-calibration %d\nserial 0x%016" PRIx64 "\nhw_version 0x%08" PRIx32
		"\ncreated %" PRId64 "\nlevels %u\n", BNNACC_CAL_VERSION, c->serial,
		c->hw_version, c->created, c->nlevels);
	for (i = 0; i < c->nlevels; i++)
		fprintf(f, "level %.17g %.17g %.17g %.17g\n", c->iset_ua[i],
			c->g_med[i], c->g_sig_prog[i], c->g_sig_read[i]);
	fprintf(f, "reset %.17g %.17g %.17g\nfit %.17g\n", c->reset_med,
		c->reset_sig_prog, c->reset_sig_read, c->k_us_per_ua);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

static int finite_all(const double *v, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

int bnnacc_calib_load(struct bnnacc_calib *cal, const char *path, char *err,
		      size_t errlen)
{
	struct bnnacc_calib c;
	int ver = 0, ok;
	unsigned i;
	FILE *f;

	memset(&c, 0, sizeof(c));
	f = fopen(path, "re");
	if (!f)
		return bnl_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	ok = fscanf(f, "bnnacc-calibration %d serial %" SCNx64 " hw_version %" SCNx32
		    " created %" SCNd64 " levels %u", &ver, &c.serial, &c.hw_version,
		    &c.created, &c.nlevels) == 5 && ver == BNNACC_CAL_VERSION &&
		c.nlevels >= 3 && c.nlevels <= BNNACC_CAL_MAX_LEVELS;
	for (i = 0; ok && i < c.nlevels; i++)
		ok = fscanf(f, " level %lg %lg %lg %lg", &c.iset_ua[i], &c.g_med[i],
			    &c.g_sig_prog[i], &c.g_sig_read[i]) == 4 &&
		     (i == 0 || c.iset_ua[i] > c.iset_ua[i - 1]) &&
		     (i == 0 || c.g_med[i] >= c.g_med[i - 1]) &&
		     c.g_sig_prog[i] >= 0 && c.g_sig_read[i] >= 0;
	ok = ok && fscanf(f, " reset %lg %lg %lg fit %lg", &c.reset_med,
			  &c.reset_sig_prog, &c.reset_sig_read, &c.k_us_per_ua) == 4;
	fclose(f);
	ok = ok && finite_all(c.iset_ua, c.nlevels) && finite_all(c.g_med, c.nlevels) &&
	     finite_all(c.g_sig_prog, c.nlevels) && finite_all(c.g_sig_read, c.nlevels) &&
	     isfinite(c.reset_med) && isfinite(c.reset_sig_prog) &&
	     isfinite(c.reset_sig_read) && c.reset_sig_prog >= 0 &&
	     c.reset_sig_read >= 0 && isfinite(c.k_us_per_ua) &&
	     c.g_med[c.nlevels - 1] > c.g_med[0] && c.g_med[0] > 0 && c.reset_med > 0 &&
	     c.iset_ua[0] > 0;
	if (!ok)
		return bnl_err(err, errlen, -EINVAL,
			       "%s: not a version %d bnnacc calibration (or corrupt)",
			       path, BNNACC_CAL_VERSION);
	c.g_lo = c.g_med[0];
	c.g_hi = c.g_med[c.nlevels - 1];
	*cal = c;
	return 0;
}

double bnnacc_calib_g(const struct bnnacc_calib *c, double i_ua)
{
	unsigned k;

	if (i_ua <= c->iset_ua[0])
		return c->g_med[0];
	for (k = 1; k < c->nlevels; k++)
		if (i_ua <= c->iset_ua[k])
			return c->g_med[k - 1] + (c->g_med[k] - c->g_med[k - 1]) *
			       (i_ua - c->iset_ua[k - 1]) /
			       (c->iset_ua[k] - c->iset_ua[k - 1]);
	return c->g_med[c->nlevels - 1];
}

double bnnacc_calib_iset(const struct bnnacc_calib *c, double g)
{
	unsigned k;

	if (g <= c->g_med[0])
		return c->iset_ua[0];
	for (k = 1; k < c->nlevels; k++)
		if (g <= c->g_med[k] && c->g_med[k] > c->g_med[k - 1])
			return c->iset_ua[k - 1] + (c->iset_ua[k] - c->iset_ua[k - 1]) *
			       (g - c->g_med[k - 1]) / (c->g_med[k] - c->g_med[k - 1]);
	return c->iset_ua[c->nlevels - 1];
}

/* Linear interpolation of @v over the levels' medians, clamped at the ends */
static double interp(const struct bnnacc_calib *c, const double *v, double g)
{
	unsigned k, n = c->nlevels;

	if (g <= c->g_med[0])
		return v[0];
	for (k = 1; k < n; k++)
		if (g <= c->g_med[k] && c->g_med[k] > c->g_med[k - 1])
			return v[k - 1] + (v[k] - v[k - 1]) *
			       (g - c->g_med[k - 1]) / (c->g_med[k] - c->g_med[k - 1]);
	return v[n - 1];
}

double bnl_calib_read_sigma(const struct bnnacc_calib *c, double g)
{
	return g < 0 ? c->reset_sig_read : interp(c, c->g_sig_read, g);
}

double bnnacc_calib_sigma(const struct bnnacc_calib *c, double g, unsigned repeat)
{
	double p, r, s;

	if (g < 0) {
		p = c->reset_sig_prog;
		r = c->reset_sig_read;
	} else {
		p = interp(c, c->g_sig_prog, g);
		r = interp(c, c->g_sig_read, g);
	}
	s = sqrt(p * p + r * r / (repeat ? repeat : 1));
	return s > 1e-3 ? s : 1e-3;
}
