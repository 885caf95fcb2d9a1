/* SPDX-License-Identifier: MIT */
/*
 * test_core - Check unit tests of the physics core (qemu-model/bnnacc_core.c)
 * over all 16,384 cells: SET/RESET distributions, C2C and D2D variability,
 * read noise, relaxation, stuck cells, DAC/ADC, MVM statistics,
 * reproducibility, the state image and argument checking.
 *
 * Tolerances are several standard errors wide, so a correct model passes
 * for any seed, while each assertion still fails on a model that is off by
 * the stated margin.
 */
#include "bnnacc_core.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N BNC_CELLS
#define SEC 1000000000ull
#define WORD(op, na) (((uint32_t)(op) << 28) | ((uint32_t)(na) & 0xffffffu))

static const struct bnc_region full = { 0, 0, BNC_ROWS, BNC_COLS };

/* ---------------------------------------------------------------------- */
/* helpers                                                                 */
/* ---------------------------------------------------------------------- */

static struct bnc_params defaults_nostuck(void)
{
    struct bnc_params p;

    bnc_params_default(&p);
    p.stuck_frac = 0.0;
    return p;
}

static struct bnc_array *mk(const struct bnc_params *p, uint64_t seed)
{
    struct bnc_array *a = bnc_create(p, seed);

    ck_assert_ptr_nonnull(a);
    return a;
}

static void program_all(struct bnc_array *a, uint32_t w, uint64_t now)
{
    static uint32_t words[N];
    int i;

    for (i = 0; i < N; i++) {
        words[i] = w;
    }
    ck_assert_int_eq(bnc_program(a, &full, words, now), 0);
}

static void all_g(struct bnc_array *a, uint64_t now, double *g)
{
    int i;

    for (i = 0; i < N; i++) {
        g[i] = bnc_cell_g_us(a, i / BNC_COLS, i % BNC_COLS, now);
    }
}

static double mean(const double *x, int n)
{
    double s = 0.0;
    int i;

    for (i = 0; i < n; i++) {
        s += x[i];
    }
    return s / n;
}

static double var(const double *x, int n)
{
    double m = mean(x, n), s = 0.0;
    int i;

    for (i = 0; i < n; i++) {
        s += (x[i] - m) * (x[i] - m);
    }
    return s / (n - 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(const double *x, int n)
{
    double *c = malloc(sizeof(*c) * n), m;

    ck_assert_ptr_nonnull(c);
    memcpy(c, x, sizeof(*c) * n);
    qsort(c, n, sizeof(*c), cmp_double);
    m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

/* The test's own generator (not the core's) for inputs and words */
static uint64_t lcg_s = 88172645463325252ull;

static uint32_t lcg(void)
{
    lcg_s = lcg_s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_s >> 32);
}

static void close_rel(double got, double want, double rel, const char *what)
{
    ck_assert_msg(fabs(got - want) <= rel * fabs(want),
                  "%s: got %g, want %g within %g %%", what, got, want,
                  rel * 100.0);
}

/* ---------------------------------------------------------------------- */
/* parameters                                                              */
/* ---------------------------------------------------------------------- */

START_TEST(test_params_default)
{
    struct bnc_params p;
    const char *why = NULL;

    bnc_params_default(&p);
    ck_assert_int_eq(bnc_params_check(&p, &why), 0);
    ck_assert(p.k_us_per_ua == 2.0 && p.g_max_us == 200.0);
    ck_assert(p.d2d_ratio == 0.7 && p.read_noise_rel == 0.02);
    ck_assert(p.dac_bits == 8 && p.adc_bits == 9);
    ck_assert(p.adc_fs_ua == 2560.0 && p.read_v == 0.1);
    /* C2C curve: the RRAM_Milo line and its floor */
    ck_assert(fabs(bnc_c2c_sigma_us(&p, 100.0) - 3.8713) < 1e-9);
    ck_assert(fabs(bnc_c2c_sigma_us(&p, 1000.0) - 0.5) < 1e-12);
    /* SET median: k * I, clipped to g_max */
    ck_assert(fabs(bnc_set_median_us(&p, 30.0) - 60.0) < 1e-12);
    ck_assert(bnc_set_median_us(&p, 150.0) == 200.0);
}
END_TEST

/* Parameter sets that bnc_params_check() must refuse, one per index */
static void bad_param(int which, struct bnc_params *p)
{
    double *d[] = {
        &p->k_us_per_ua, &p->k_us_per_ua, &p->g_max_us, &p->iset_min_ua,
        &p->iset_max_ua, &p->g_min_us, &p->read_noise_rel, &p->stuck_frac,
        &p->drift_t_ref_s, &p->reset_lsig, &p->adc_fs_ua, &p->read_v,
        &p->d2d_ratio, &p->c2c_floor_us, &p->drift_sig,
    };
    const double v[] = {
        NAN, -2.0, INFINITY, 100.0 /* == iset_max */, 1e9,
        300.0 /* above g_max */, -0.01, 1.5, 0.0, NAN, 0.0, -0.1, -1.0,
        -1.0, INFINITY,
    };
    const unsigned bits[] = { 1, 17 };
    const int nd = sizeof(v) / sizeof(v[0]);

    if (which < nd) {
        *d[which] = v[which];
    } else if (which < nd + 2) {
        p->dac_bits = bits[which - nd];
    } else {
        p->adc_bits = which == nd + 2 ? 1 : 25;
    }
}

START_TEST(test_params_reject)
{
    struct bnc_params p;
    const char *why = NULL;

    bnc_params_default(&p);
    bad_param(_i, &p);
    ck_assert_int_eq(bnc_params_check(&p, &why), -BNC_EARG);
    ck_assert_ptr_nonnull(why);
    ck_assert(strlen(why) > 5);
    ck_assert_int_eq(bnc_params_check(&p, NULL), -BNC_EARG);
    ck_assert_ptr_null(bnc_create(&p, 1));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SET, C2C, D2D, RESET                                                    */
/* ---------------------------------------------------------------------- */

static const double set_currents[] = { 10.0, 25.0, 50.0, 90.0 };

START_TEST(test_set_median)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 100 + _i);
    static double g[N];
    static uint32_t rd[N];
    double i_ua = set_currents[_i];
    int i;

    program_all(a, WORD(BNC_PROG_SET, i_ua * 1000.0), 5 * SEC);
    all_g(a, 5 * SEC, g);
    close_rel(median(g, N), p.k_us_per_ua * i_ua, 0.02, "SET median");
    ck_assert_int_eq(bnc_read(a, &full, rd, 5 * SEC), 0);
    for (i = 0; i < N; i++) {
        g[i] = rd[i] / 1000.0;
    }
    close_rel(median(g, N), p.k_us_per_ua * i_ua, 0.02, "SET median (read)");
    bnc_destroy(a);
}
END_TEST

#define CYCLES 30

/*
 * Program every cell CYCLES times at @i_ua; per cell, the mean and the
 * variance across cycles. Returns the average per-cell variance (C2C^2)
 * and the variance across cells of the per-cell means.
 */
static void cycle_stats(struct bnc_array *a, double i_ua, double *c2c_var,
                        double *means_var)
{
    static double sum[N], sum2[N], g[N];
    int c, i;

    memset(sum, 0, sizeof(sum));
    memset(sum2, 0, sizeof(sum2));
    for (c = 0; c < CYCLES; c++) {
        program_all(a, WORD(BNC_PROG_SET, i_ua * 1000.0), 0);
        all_g(a, 0, g);
        for (i = 0; i < N; i++) {
            sum[i] += g[i];
            sum2[i] += g[i] * g[i];
        }
    }
    *c2c_var = 0.0;
    for (i = 0; i < N; i++) {
        double m = sum[i] / CYCLES;

        *c2c_var += (sum2[i] - CYCLES * m * m) / (CYCLES - 1);
        g[i] = m;
    }
    *c2c_var /= N;
    *means_var = var(g, N);
}

static const double c2c_currents[] = { 10.0, 50.0, 90.0 };

START_TEST(test_c2c_sigma)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 200 + _i);
    double i_ua = c2c_currents[_i], cv, mv;
    double want = bnc_c2c_sigma_us(&p, p.k_us_per_ua * i_ua);

    cycle_stats(a, i_ua, &cv, &mv);
    close_rel(sqrt(cv), want, 0.05, "C2C sigma");
    bnc_destroy(a);
}
END_TEST

START_TEST(test_d2d_spread)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 300);
    double cv, mv, sig = bnc_c2c_sigma_us(&p, 100.0), d2d;

    /* var of per-cell means = (d2d * sigma)^2 + sigma^2 / CYCLES */
    cycle_stats(a, 50.0, &cv, &mv);
    d2d = sqrt(fmax(mv - cv / CYCLES, 0.0)) / sig;
    close_rel(d2d, p.d2d_ratio, 0.10, "D2D ratio");
    bnc_destroy(a);

    p.d2d_ratio = 0.0;
    a = mk(&p, 301);
    cycle_stats(a, 50.0, &cv, &mv);
    /* no D2D: the means spread only by C2C / sqrt(CYCLES) */
    close_rel(mv, cv / CYCLES, 0.10, "means variance without D2D");
    ck_assert_msg(sqrt(fmax(mv - cv / CYCLES, 0.0)) / sig < 0.1,
                  "D2D should vanish");
    bnc_destroy(a);
}
END_TEST

static void check_reset(struct bnc_array *a, const struct bnc_params *p,
                        uint64_t now)
{
    static double g[N];
    int i;

    all_g(a, now, g);
    for (i = 0; i < N; i++) {
        g[i] = log(g[i]);
    }
    close_rel(exp(median(g, N)), p->reset_med_us, 0.02, "RESET median");
    close_rel(sqrt(var(g, N)), p->reset_lsig, 0.03, "RESET log-sigma");
}

START_TEST(test_reset_dist)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 400);

    /* manufactured: all cells RESET at time 0 */
    check_reset(a, &p, 0);
    program_all(a, WORD(BNC_PROG_SET, 60000), 0);
    program_all(a, WORD(BNC_PROG_RESET, 0), 0);
    check_reset(a, &p, 0);
    bnc_destroy(a);

    p.reset_med_us = 4.0;
    p.reset_lsig = 0.5;
    a = mk(&p, 401);
    check_reset(a, &p, 0);
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* read noise and relaxation                                               */
/* ---------------------------------------------------------------------- */

START_TEST(test_read_noise)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 500);
    static uint32_t r1[N], r2[N];
    static double g[N], d[N], e[N];
    int i, same = 0;

    program_all(a, WORD(BNC_PROG_SET, 50000), 0);
    all_g(a, 0, g);
    ck_assert_int_eq(bnc_read(a, &full, r1, 0), 0);
    ck_assert_int_eq(bnc_read(a, &full, r2, 0), 0);
    for (i = 0; i < N; i++) {
        same += r1[i] == r2[i];
        d[i] = ((double)r1[i] - (double)r2[i]) / (sqrt(2.0) * g[i] * 1000.0);
        e[i] = (r1[i] / 1000.0 - g[i]) / g[i];
    }
    ck_assert_msg(same < N / 100, "%d cells read the same twice", same);
    close_rel(sqrt(var(d, N)), p.read_noise_rel, 0.05, "read-noise sigma");
    ck_assert_msg(fabs(mean(e, N)) < 5 * p.read_noise_rel / sqrt(N),
                  "reads are biased: %g", mean(e, N));
    close_rel(sqrt(var(e, N)), p.read_noise_rel, 0.05, "read-noise vs G");
    bnc_destroy(a);

    /* no read noise: a read is the conductance, rounded to nS */
    p.read_noise_rel = 0.0;
    a = mk(&p, 501);
    program_all(a, WORD(BNC_PROG_SET, 20000), 0);
    ck_assert_int_eq(bnc_read(a, &full, r1, 7 * SEC), 0);
    for (i = 0; i < N; i++) {
        double want = floor(bnc_cell_g_us(a, i / BNC_COLS, i % BNC_COLS,
                                          7 * SEC) * 1000.0 + 0.5);

        ck_assert_msg(r1[i] == (uint32_t)want, "cell %d: %u != %g", i,
                      r1[i], want);
    }
    bnc_destroy(a);
}
END_TEST

static double norm_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/*
 * The generator's normals, seen through read noise (1 % of 100 uS, reads
 * in nS, so quantisation is 1e-3 sigma): a million draws must match the
 * normal's moments, tails and histogram.
 */
#define NREADS 64
#define NBINS 40    /* width 0.25 over [-5, 5], plus two tail bins */

START_TEST(test_normal_shape)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a;
    static uint32_t rd[N];
    static double g[N];
    double cnt[NBINS + 2] = { 0 }, s = 0.0, s2 = 0.0, n = 0.0, chi2 = 0.0;
    double beyond[4] = { 0 };
    static const double lim[4] = { 1.0, 2.0, 3.0, 3.8 };
    int i, k, b;

    p.read_noise_rel = 0.01;
    a = mk(&p, 650);
    program_all(a, WORD(BNC_PROG_SET, 50000), 0);
    all_g(a, 0, g);
    for (k = 0; k < NREADS; k++) {
        ck_assert_int_eq(bnc_read(a, &full, rd, 0), 0);
        for (i = 0; i < N; i++) {
            double z = (rd[i] - g[i] * 1000.0) / (p.read_noise_rel * g[i] *
                                                 1000.0);

            s += z;
            s2 += z * z;
            n += 1.0;
            for (b = 0; b < 4; b++) {
                beyond[b] += fabs(z) > lim[b];
            }
            b = z < -5.0 ? 0 : z >= 5.0 ? NBINS + 1
                              : 1 + (int)((z + 5.0) / 0.25);
            cnt[b < NBINS + 1 ? b : NBINS] += 1.0;
        }
    }
    ck_assert_msg(fabs(s / n) < 5.0 / sqrt(n), "mean %g", s / n);
    close_rel(s2 / n - (s / n) * (s / n), 1.0, 0.01, "variance");
    for (b = 0; b < 4; b++) {
        double pr = 2.0 * norm_cdf(-lim[b]), sd = sqrt(n * pr * (1 - pr));

        ck_assert_msg(fabs(beyond[b] - n * pr) < 5.0 * sd + 1.0,
                      "|z| > %g: %g, want %g", lim[b], beyond[b], n * pr);
    }
    for (b = 0; b < NBINS + 2; b++) {
        double lo = b == 0 ? -INFINITY : -5.0 + 0.25 * (b - 1);
        double hi = b == NBINS + 1 ? INFINITY : -5.0 + 0.25 * b;
        double e = n * (norm_cdf(hi) - norm_cdf(lo));

        chi2 += (cnt[b] - e) * (cnt[b] - e) / e;
    }
    /* 41 degrees of freedom: mean 41, sd 9; 5 sd */
    ck_assert_msg(chi2 < 41.0 + 5.0 * 9.06, "histogram chi2 %g", chi2);
    bnc_destroy(a);
}
END_TEST

START_TEST(test_relaxation)
{
    static const uint64_t t[] = { 1 * SEC, 10 * SEC, 3600 * SEC,
                                  86400 * SEC };
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a = mk(&p, 600);
    static double g0[N], g[N], res[N];
    double m_prev = 1e30, cv_prev = 0.0;
    int k, i;

    program_all(a, WORD(BNC_PROG_SET, 50000), 0);
    all_g(a, 0, g0);
    all_g(a, SEC / 2, g);
    ck_assert(memcmp(g0, g, sizeof(g)) == 0);   /* nothing before t_ref */
    for (k = 0; k < 4; k++) {
        double l = log((double)t[k] / 1e9), m, cv;

        all_g(a, t[k], g);
        m = mean(g, N);
        cv = sqrt(var(g, N)) / m;
        ck_assert_msg(k == 0 || m < m_prev, "mean does not decrease");
        ck_assert_msg(k == 0 || cv > cv_prev, "spread does not increase");
        close_rel(m / mean(g0, N), 1.0 - p.drift_nu * l, 0.001,
                  "relaxed mean");
        if (l > 1.0) {
            for (i = 0; i < N; i++) {
                res[i] = (g[i] - g0[i] * (1.0 - p.drift_nu * l)) /
                         (g0[i] * l);
            }
            close_rel(sqrt(var(res, N)), p.drift_sig, 0.05,
                      "relaxation sigma");
        }
        m_prev = m;
        cv_prev = cv;
    }
    bnc_destroy(a);

    /* a stronger relaxation: the absolute spread grows too */
    p.drift_sig = 0.02;
    a = mk(&p, 601);
    program_all(a, WORD(BNC_PROG_SET, 50000), 0);
    cv_prev = 0.0;
    for (k = 0; k < 4; k++) {
        all_g(a, t[k], g);
        ck_assert(sqrt(var(g, N)) > cv_prev);
        cv_prev = sqrt(var(g, N));
    }
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* stuck cells                                                             */
/* ---------------------------------------------------------------------- */

static unsigned count_stuck(const struct bnc_array *a)
{
    unsigned n = 0, r, c;

    for (r = 0; r < BNC_ROWS; r++) {
        for (c = 0; c < BNC_COLS; c++) {
            n += bnc_is_stuck(a, r, c) != 0;
        }
    }
    return n;
}

static const double stuck_fracs[] = { 0.001, 0.01 };

START_TEST(test_stuck_rate)
{
    struct bnc_params p;
    struct bnc_array *a;
    double f = stuck_fracs[_i], want = f * N;
    unsigned high = 0, total = 0, s, i;

    bnc_params_default(&p);
    p.stuck_frac = f;
    for (s = 0; s < 20; s++) {
        unsigned n;

        a = mk(&p, 700 + s);
        n = bnc_stuck_count(a);
        ck_assert_msg(fabs(n - want) <= 4.0 * sqrt(want * (1 - f)) + 1.0,
                      "%u stuck cells, want about %g", n, want);
        ck_assert_uint_eq(count_stuck(a), n);
        for (i = 0; i < N; i++) {
            if (bnc_is_stuck(a, i / BNC_COLS, i % BNC_COLS)) {
                double g = bnc_cell_g_us(a, i / BNC_COLS, i % BNC_COLS, 0);

                ck_assert(g == p.stuck_high_us || g == p.stuck_low_us);
                high += g == p.stuck_high_us;
                total++;
            }
        }
        bnc_destroy(a);
    }
    /* half high, half low */
    ck_assert_msg(fabs(high - total / 2.0) <= 4.0 * sqrt(total / 4.0) + 1,
                  "%u of %u stuck high", high, total);
    ck_assert_int_eq(bnc_is_stuck(a = mk(&p, 1), BNC_ROWS, 0), 0);
    bnc_destroy(a);
}
END_TEST

START_TEST(test_stuck_ignore_program)
{
    struct bnc_params p;
    struct bnc_array *a;
    static double g0[N], g[N];
    int i, changed = 0;

    bnc_params_default(&p);
    p.stuck_frac = 0.01;
    a = mk(&p, 800);
    ck_assert_uint_gt(bnc_stuck_count(a), 100);
    all_g(a, 0, g0);
    program_all(a, WORD(BNC_PROG_SET, 50000), SEC);
    all_g(a, SEC, g);
    for (i = 0; i < N; i++) {
        if (bnc_is_stuck(a, i / BNC_COLS, i % BNC_COLS)) {
            ck_assert(g[i] == g0[i]);
        } else {
            changed++;
        }
    }
    ck_assert_int_eq(changed, N - (int)bnc_stuck_count(a));
    program_all(a, WORD(BNC_PROG_RESET, 0), 2 * SEC);
    all_g(a, 86400 * SEC, g);   /* stuck cells do not relax either */
    for (i = 0; i < N; i++) {
        if (bnc_is_stuck(a, i / BNC_COLS, i % BNC_COLS)) {
            ck_assert(g[i] == g0[i]);
            ck_assert(g[i] == p.stuck_high_us || g[i] == p.stuck_low_us);
        } else {
            ck_assert(g[i] < 50.0);     /* RESET took */
        }
    }
    bnc_destroy(a);
}
END_TEST

START_TEST(test_add_stuck)
{
    struct bnc_params p;
    struct bnc_array *a;
    unsigned n0;

    bnc_params_default(&p);
    a = mk(&p, 900);
    n0 = bnc_stuck_count(a);
    ck_assert_uint_eq(n0, 16);  /* round(0.001 * 16384) */
    ck_assert_uint_eq(bnc_add_stuck(a, 100), 100);
    ck_assert_uint_eq(bnc_stuck_count(a), n0 + 100);
    ck_assert_uint_eq(count_stuck(a), n0 + 100);
    ck_assert_uint_eq(bnc_add_stuck(a, 0), 0);
    ck_assert_uint_eq(bnc_add_stuck(a, 100000), N - n0 - 100);
    ck_assert_uint_eq(bnc_stuck_count(a), N);
    ck_assert_uint_eq(count_stuck(a), N);
    ck_assert_uint_eq(bnc_add_stuck(a, 1), 0);
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* DAC and ADC                                                             */
/* ---------------------------------------------------------------------- */

START_TEST(test_dac)
{
    struct bnc_params p;
    int in, prev = -1000, levels = 0, k;

    bnc_params_default(&p);
    ck_assert_int_eq(bnc_dac(&p, 32767), 127);
    ck_assert_int_eq(bnc_dac(&p, -32767), -127);
    ck_assert_int_eq(bnc_dac(&p, -32768), -127);   /* saturates */
    ck_assert_int_eq(bnc_dac(&p, 0), 0);
    for (in = -32768; in <= 32767; in++) {
        int c = bnc_dac(&p, (int16_t)in);
        long ref = lround(in * 127.0 / 32767.0);

        ref = ref < -127 ? -127 : ref;
        ck_assert_msg(c == ref, "dac(%d) = %d, want %ld", in, c, ref);
        ck_assert(in == -32768 || c == prev || c == prev + 1);
        levels += c != prev;
        prev = c;
    }
    ck_assert_int_eq(levels, 255);
    /* level k sits at input k * 32767 / 127; steps at the half levels */
    for (k = -127; k <= 127; k++) {
        ck_assert_int_eq(bnc_dac(&p, (int16_t)lround(k * 32767.0 / 127)), k);
    }
    ck_assert_int_eq(bnc_dac(&p, 130), 1);     /* 130 * 127 / 32767 = 0.504 */
    ck_assert_int_eq(bnc_dac(&p, 129), 0);     /* 0.49998 */
    ck_assert_int_eq(bnc_dac(&p, -130), -1);
    ck_assert_int_eq(bnc_dac(&p, -129), 0);
    ck_assert(fabs(bnc_dac_volts(&p, 32767) - 0.1) < 1e-15);
    ck_assert(fabs(bnc_dac_volts(&p, -32768) + 0.1) < 1e-15);
    ck_assert(fabs(bnc_dac_volts(&p, 516) - 0.2 / 127) < 1e-15);

    p.dac_bits = 16;
    ck_assert_int_eq(bnc_dac(&p, 12345), 12345);
    ck_assert_int_eq(bnc_dac(&p, -32768), -32767);
    p.dac_bits = 2;
    ck_assert_int_eq(bnc_dac(&p, 16384), 1);
    ck_assert_int_eq(bnc_dac(&p, 16383), 0);
    ck_assert_int_eq(bnc_dac(&p, -16384), -1);
    ck_assert_int_eq(bnc_dac(&p, -32768), -1);
}
END_TEST

START_TEST(test_adc)
{
    struct bnc_params p;
    double lsb;
    int k, s;

    bnc_params_default(&p);
    lsb = p.adc_fs_ua / 255.0;
    for (k = -255; k <= 255; k++) {
        ck_assert_int_eq(bnc_adc(&p, k * lsb, 0), k);
        ck_assert_int_eq(bnc_adc(&p, (k + 0.49) * lsb, 0), k);
        if (k < 255) {
            ck_assert_int_eq(bnc_adc(&p, (k + 0.51) * lsb, 0), k + 1);
        }
        if (k > -255) {
            ck_assert_int_eq(bnc_adc(&p, (k - 0.51) * lsb, 0), k - 1);
        }
    }
    /* halves round away from zero */
    ck_assert_int_eq(bnc_adc(&p, 2.5 * lsb, 0), 3);
    ck_assert_int_eq(bnc_adc(&p, -2.5 * lsb, 0), -3);
    /* saturation at both ends */
    ck_assert_int_eq(bnc_adc(&p, 2560.0, 0), 255);
    ck_assert_int_eq(bnc_adc(&p, 1e9, 0), 255);
    ck_assert_int_eq(bnc_adc(&p, -1e9, 0), -255);
    ck_assert_int_eq(bnc_adc(&p, INFINITY, 0), 255);
    ck_assert_int_eq(bnc_adc(&p, -INFINITY, 0), -255);
    ck_assert_int_eq(bnc_adc(&p, NAN, 0), 0);
    /* range shift: full scale adc_fs >> shift */
    for (s = 0; s <= 15; s++) {
        double fs = p.adc_fs_ua / (1 << s);

        ck_assert_int_eq(bnc_adc(&p, fs, s), 255);
        ck_assert_int_eq(bnc_adc(&p, fs * 1.01, s), 255);
        ck_assert_int_eq(bnc_adc(&p, -fs * 1.01, s), -255);
        ck_assert_int_eq(bnc_adc(&p, fs * 100.0 / 255.0, s), 100);
        ck_assert_int_eq(bnc_adc(&p, 123.4 / (1 << s), s),
                         bnc_adc(&p, 123.4, 0));
    }
    p.adc_bits = 24;
    ck_assert_int_eq(bnc_adc(&p, 1e9, 0), 8388607);
    ck_assert_int_eq(bnc_adc(&p, -1e9, 0), -8388607);
    p.adc_bits = 2;
    ck_assert_int_eq(bnc_adc(&p, 1279.0, 0), 0);
    ck_assert_int_eq(bnc_adc(&p, 1281.0, 0), 1);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* MVM                                                                     */
/* ---------------------------------------------------------------------- */

static void random_program(struct bnc_array *a, uint64_t now)
{
    static uint32_t words[N];
    int i;

    for (i = 0; i < N; i++) {
        words[i] = (lcg() % 5 == 0) ? WORD(BNC_PROG_RESET, 0)
                                    : WORD(BNC_PROG_SET,
                                           5000 + lcg() % 95001);
    }
    ck_assert_int_eq(bnc_program(a, &full, words, now), 0);
}

/* Noise-free column currents of a region for one input vector */
static void exact_currents(struct bnc_array *a, const struct bnc_region *r,
                           const int16_t *in, uint64_t now, double *mu,
                           double *var_)
{
    const struct bnc_params *p = bnc_params(a);
    unsigned i, j;

    for (j = 0; j < r->cols; j++) {
        mu[j] = 0.0;
        if (var_) {
            var_[j] = 0.0;
        }
        for (i = 0; i < r->rows; i++) {
            double v = bnc_dac_volts(p, in[i]);
            double g = bnc_cell_g_us(a, r->row + i, r->col + j, now);

            mu[j] += v * g;
            if (var_) {
                var_[j] += v * v * g * g * p->read_noise_rel *
                           p->read_noise_rel;
            }
        }
    }
}

START_TEST(test_mvm_quantisation)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a;
    static int16_t in[4 * BNC_ROWS];
    static int32_t out[4 * BNC_COLS];
    double mu[BNC_COLS];
    int i, j, exact = 0, s;

    p.read_noise_rel = 0.0;
    a = mk(&p, 1000);
    random_program(a, 0);
    for (i = 0; i < 4 * BNC_ROWS; i++) {
        in[i] = (int16_t)lcg();
    }
    for (s = 0; s <= 4; s += 2) {
        ck_assert_int_eq(bnc_mvm(a, &full, in, 4, 1, s, out, 0), 0);
        for (j = 0; j < 4; j++) {
            exact_currents(a, &full, in + j * BNC_ROWS, 0, mu, NULL);
            for (i = 0; i < BNC_COLS; i++) {
                int want = bnc_adc(&p, mu[i], s);
                int got = out[j * BNC_COLS + i];

                ck_assert_msg(abs(got - want) <= 1, "col %d: %d vs %d", i,
                              got, want);
                exact += got == want;
            }
        }
    }
    ck_assert_int_ge(exact, 3 * 4 * BNC_COLS * 99 / 100);

    /* saturation: every cell ~180 uS, full-scale inputs */
    program_all(a, WORD(BNC_PROG_SET, 90000), 0);
    for (i = 0; i < BNC_ROWS; i++) {
        in[i] = 32767;
        in[BNC_ROWS + i] = -32768;
    }
    ck_assert_int_eq(bnc_mvm(a, &full, in, 2, 1, 0, out, 0), 0);
    for (i = 0; i < BNC_COLS; i++) {
        ck_assert(out[i] > 200 && out[i] < 255);    /* ~2300 uA of 2560 */
        ck_assert_int_eq(out[BNC_COLS + i], -out[i]);
    }
    ck_assert_int_eq(bnc_mvm(a, &full, in, 2, 1, 1, out, 0), 0);
    for (i = 0; i < BNC_COLS; i++) {
        ck_assert_int_eq(out[i], 255);
        ck_assert_int_eq(out[BNC_COLS + i], -255);
    }
    bnc_destroy(a);
}
END_TEST

#define REP 2000

START_TEST(test_mvm_stats)
{
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a;
    static int16_t in[2 * BNC_ROWS];
    static int32_t out[REP * 2 * BNC_COLS];
    double mu[BNC_COLS], vr[BNC_COLS], lsb, sv_obs = 0.0, sv_exp = 0.0;
    int i, j, k;

    p.adc_bits = 24;        /* fine ADC: LSB 3e-4 uA */
    a = mk(&p, 1100);
    lsb = p.adc_fs_ua / 8388607.0;
    random_program(a, 0);
    for (i = 0; i < BNC_ROWS; i++) {
        in[i] = (int16_t)(lcg() % 32768);               /* >= 0 */
        in[BNC_ROWS + i] = (int16_t)-(int)(lcg() % 32768); /* <= 0 */
    }
    ck_assert_int_eq(bnc_mvm(a, &full, in, 2, REP, 0, out, 3 * SEC), 0);
    for (j = 0; j < 2; j++) {
        exact_currents(a, &full, in + j * BNC_ROWS, 3 * SEC, mu, vr);
        for (i = 0; i < BNC_COLS; i++) {
            double s = 0.0, s2 = 0.0, m, v, z;

            for (k = 0; k < REP; k++) {
                double x = out[(k * 2 + j) * BNC_COLS + i] * lsb;

                s += x;
                s2 += x * x;
            }
            m = s / REP;
            v = (s2 - REP * m * m) / (REP - 1);
            z = (m - mu[i]) / sqrt(vr[i] / REP);
            ck_assert_msg(fabs(z) < 5.5, "vector %d col %d: mean %g, want "
                          "%g (z %g)", j, i, m, mu[i], z);
            ck_assert_msg(v > 0.85 * vr[i] && v < 1.15 * vr[i],
                          "vector %d col %d: var %g, want %g", j, i, v,
                          vr[i]);
            sv_obs += v;
            sv_exp += vr[i];
        }
    }
    close_rel(sv_obs, sv_exp, 0.02, "pooled MVM noise variance");
    bnc_destroy(a);
}
END_TEST

START_TEST(test_mvm_subregion)
{
    const struct bnc_region r = { 10, 20, 50, 30 };
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a;
    static int16_t in[3 * 50];
    static int32_t out[2 * 3 * 30];
    double mu[30];
    int i, j, k;

    p.read_noise_rel = 0.0;
    p.adc_bits = 20;
    a = mk(&p, 1200);
    random_program(a, 0);
    for (i = 0; i < 3 * 50; i++) {
        in[i] = (int16_t)lcg();
    }
    ck_assert_int_eq(bnc_mvm(a, &r, in, 3, 2, 2, out, 0), 0);
    for (j = 0; j < 3; j++) {
        exact_currents(a, &r, in + j * 50, 0, mu, NULL);
        for (i = 0; i < 30; i++) {
            int want = bnc_adc(&p, mu[i], 2);

            for (k = 0; k < 2; k++) {
                ck_assert_msg(abs(out[(k * 3 + j) * 30 + i] - want) <= 1,
                              "vec %d col %d rep %d", j, i, k);
            }
        }
    }
    bnc_destroy(a);
}
END_TEST

/*
 * The MVM follows relaxation: its conductance cache lags the exact value by
 * at most 0.01 in L = ln(t / t_ref), i.e. a relative 0.01 * (nu + s * z)
 * per cell; over a column (inputs >= 0) the z parts mostly cancel. Steps
 * of 0.02 in L must be followed.
 */
START_TEST(test_mvm_tracks_relaxation)
{
    static uint64_t t[32] = { 0, 2 * SEC, 60 * SEC, 3600 * SEC, 3601 * SEC,
                              86400 * SEC, 5 * SEC };
    struct bnc_params p = defaults_nostuck();
    struct bnc_array *a;
    static int16_t in[BNC_ROWS];
    int32_t out[BNC_COLS];
    double mu[BNC_COLS], lsb, tol;
    unsigned k, nt = 7;
    int i;

    for (k = 0; k < 16 + 5; k++) {      /* 100 s, then steps of 0.02 in L */
        t[nt++] = (uint64_t)(100.0 * exp(0.02 * k) * 1e9);
    }
    p.read_noise_rel = 0.0;
    p.adc_bits = 24;
    p.drift_nu = 0.05;
    p.drift_sig = 0.01;
    tol = 0.01 * (p.drift_nu + p.drift_sig) + 1e-5;
    a = mk(&p, 1300);
    lsb = p.adc_fs_ua / 8388607.0;
    random_program(a, 0);
    for (i = 0; i < BNC_ROWS; i++) {
        in[i] = (int16_t)(lcg() % 32768);
    }
    for (k = 0; k < nt; k++) {
        if (k == nt - 5) {
            /* cells of mixed ages: half the rows reprogrammed at 1000 s */
            const struct bnc_region half = { 0, 0, 64, BNC_COLS };
            static uint32_t w[N / 2];

            for (i = 0; i < N / 2; i++) {
                w[i] = WORD(BNC_PROG_SET, 5000 + lcg() % 95001);
            }
            ck_assert_int_eq(bnc_program(a, &half, w, 1000 * SEC), 0);
            t[k] = 1000 * SEC + SEC / 2;
            t[k + 1] = 1000 * SEC + 3 * SEC / 2;
            t[k + 2] = 1000 * SEC + 3 * SEC;
            t[k + 3] = 1000 * SEC + 5 * SEC;
            t[k + 4] = 1000 * SEC + 60 * SEC;
        }
        ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 1, 0, out, t[k]), 0);
        exact_currents(a, &full, in, t[k], mu, NULL);
        for (i = 0; i < BNC_COLS; i++) {
            ck_assert_msg(fabs(out[i] * lsb - mu[i]) < tol * mu[i] + lsb,
                          "t %llu col %d: %g vs %g", (unsigned long long)t[k],
                          i, out[i] * lsb, mu[i]);
        }
    }
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* reproducibility and the state image                                     */
/* ---------------------------------------------------------------------- */

/* A fixed script of calls; writes everything the array outputs to @o. */
static void script(struct bnc_array *a, uint64_t t0, uint32_t *rd,
                   int32_t *mv)
{
    static int16_t in[8 * BNC_ROWS];
    static uint32_t words[N];
    const struct bnc_region r = { 3, 5, 64, 70 };
    int i;

    for (i = 0; i < 8 * BNC_ROWS; i++) {
        in[i] = (int16_t)(i * 7919);
    }
    for (i = 0; i < N; i++) {
        words[i] = WORD(BNC_PROG_SET, 5000 + (i * 37) % 95000);
    }
    ck_assert_int_eq(bnc_program(a, &r, words, t0), 0);
    ck_assert_int_eq(bnc_read(a, &full, rd, t0 + 10 * SEC), 0);
    ck_assert_int_eq(bnc_mvm(a, &full, in, 8, 3, 1, mv, t0 + 20 * SEC), 0);
    ck_assert_int_eq(bnc_mvm(a, &r, in, 8, 1, 0, mv + 3 * 8 * BNC_COLS,
                             t0 + 7200 * SEC), 0);
}

#define MV_LEN (4 * 8 * BNC_COLS)

START_TEST(test_seed_repeat)
{
    struct bnc_params p;
    struct bnc_array *a, *b, *c;
    static uint32_t ra[N], rb[N], rc[N];
    static int32_t ma[MV_LEN], mb[MV_LEN], mc[MV_LEN];

    bnc_params_default(&p);
    a = mk(&p, 4242);
    b = mk(&p, 4242);
    c = mk(&p, 4243);
    script(a, SEC, ra, ma);
    script(b, SEC, rb, mb);
    script(c, SEC, rc, mc);
    ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
    ck_assert(memcmp(ma, mb, sizeof(ma)) == 0);
    ck_assert(memcmp(ra, rc, sizeof(ra)) != 0);
    ck_assert(memcmp(ma, mc, sizeof(ma)) != 0);
    bnc_destroy(a);
    bnc_destroy(b);
    bnc_destroy(c);
}
END_TEST

static uint64_t fnv1a64(const uint8_t *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Rewrite the image's checksum after a deliberate change */
static void reseal(uint8_t *img, size_t len)
{
    uint64_t h = fnv1a64(img, len - 8);
    int i;

    for (i = 0; i < 8; i++) {
        img[len - 8 + i] = (uint8_t)(h >> (8 * i));
    }
}

static uint8_t *saved_image(uint64_t seed, uint64_t now, size_t *len)
{
    struct bnc_params p;
    struct bnc_array *a;
    static uint32_t rd[N];
    static int32_t mv[MV_LEN];
    uint8_t *img;

    bnc_params_default(&p);
    a = mk(&p, seed);
    script(a, 0, rd, mv);
    *len = bnc_state_size();
    img = malloc(*len);
    ck_assert_ptr_nonnull(img);
    ck_assert_int_eq(bnc_save(a, now, img, *len), 0);
    bnc_destroy(a);
    return img;
}

START_TEST(test_save_load_roundtrip)
{
    struct bnc_params p;
    struct bnc_array *a, *b;
    static uint32_t ra[N], rb[N];
    static int32_t ma[MV_LEN], mb[MV_LEN];
    static int16_t in[BNC_ROWS];
    int32_t oa[BNC_COLS], ob[BNC_COLS];
    size_t len = bnc_state_size();
    uint8_t *img = malloc(len), *img2 = malloc(len);
    const char *why = NULL;
    uint64_t now = 0, t = 7200 * SEC;
    int i;

    ck_assert_ptr_nonnull(img);
    ck_assert_ptr_nonnull(img2);
    bnc_params_default(&p);
    p.stuck_frac = 0.01;
    p.adc_bits = 24;    /* fine ADC: the slightest difference shows */
    a = mk(&p, 77);
    for (i = 0; i < BNC_ROWS; i++) {
        in[i] = (int16_t)(i * 255);
    }
    script(a, 0, ra, ma);
    /* the MVM cache was built at 7200 s; later MVMs still use it */
    ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 1, 0, oa, t + SEC), 0);
    ck_assert_int_eq(bnc_save(a, t + 50 * SEC, img, len - 1), -BNC_EARG);
    ck_assert_int_eq(bnc_save(a, t + 50 * SEC, img, len), 0);
    b = bnc_load(img, len, &now, &why);
    ck_assert_msg(b != NULL, "load failed: %s", why ? why : "?");
    ck_assert_uint_eq(now, t + 50 * SEC);
    ck_assert(memcmp(bnc_params(a), bnc_params(b), sizeof(p)) == 0);
    ck_assert_uint_eq(bnc_stuck_count(a), bnc_stuck_count(b));
    /* saving the loaded array gives the same image */
    ck_assert_int_eq(bnc_save(b, now, img2, len), 0);
    ck_assert(memcmp(img, img2, len) == 0);
    /* and every later output is bit-identical */
    ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 1, 0, oa, now), 0);
    ck_assert_int_eq(bnc_mvm(b, &full, in, 1, 1, 0, ob, now), 0);
    ck_assert(memcmp(oa, ob, sizeof(oa)) == 0);
    script(a, now + SEC, ra, ma);
    script(b, now + SEC, rb, mb);
    ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
    ck_assert(memcmp(ma, mb, sizeof(ma)) == 0);
    bnc_destroy(a);
    bnc_destroy(b);
    free(img);
    free(img2);
}
END_TEST

static void expect_reject(const uint8_t *img, size_t len, const char *word)
{
    const char *why = NULL;
    uint64_t now = 12345;
    struct bnc_array *b = bnc_load(img, len, &now, &why);

    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(!word || strstr(why, word), "message '%s' lacks '%s'", why,
                  word);
    ck_assert_uint_eq(now, 12345);
}

START_TEST(test_load_corrupt)
{
    size_t len, off;
    uint8_t *img = saved_image(55, 9 * SEC, &len);
    uint8_t *bad = malloc(len + 1);
    const char *why = NULL;
    struct bnc_array *b;
    double nan = NAN;
    int i;

    ck_assert_ptr_nonnull(bad);
    b = bnc_load(img, len, NULL, NULL);     /* the intact image loads */
    ck_assert_ptr_nonnull(b);
    bnc_destroy(b);

    expect_reject(img, len - 1, "length");          /* truncated */
    expect_reject(img, 100, "length");
    expect_reject(img, 0, "length");
    memcpy(bad, img, len);
    bad[len] = 0;
    expect_reject(bad, len + 1, "length");
    ck_assert_ptr_null(bnc_load(NULL, len, NULL, &why));

    memcpy(bad, img, len);
    bad[0] ^= 0x20;
    expect_reject(bad, len, "magic");
    memcpy(bad, img, len);
    bad[4] = 2;
    reseal(bad, len);
    expect_reject(bad, len, "version");
    memcpy(bad, img, len);
    bad[len - 3] ^= 0x01;
    expect_reject(bad, len, "checksum");

    /* one flipped byte anywhere after the magic and version */
    for (i = 0; i < 200; i++) {
        off = 8 + (size_t)lcg() % (len - 8);
        memcpy(bad, img, len);
        bad[off] ^= (uint8_t)(1 + lcg() % 255);
        expect_reject(bad, len, NULL);
    }

    /* well-sealed images with bad contents */
    memcpy(bad, img, len);
    bad[8] = 64;                                    /* rows */
    reseal(bad, len);
    expect_reject(bad, len, "geometry");
    memcpy(bad, img, len);
    bad[16 + 20 * 8] = 99;                          /* dac_bits */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);
    memcpy(bad + 16, &nan, 8);                      /* k = NaN (LE host) */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);
    memset(bad + 184, 0, 32);                       /* generator all zero */
    reseal(bad, len);
    expect_reject(bad, len, "generator");
    memcpy(bad, img, len);
    memcpy(bad + 240 + 8 * 1000, &nan, 8);          /* G0 of cell 1000 */
    reseal(bad, len);
    expect_reject(bad, len, "conductance");
    memcpy(bad, img, len);
    memcpy(bad + 240 + 8 * N + 8 * 5, &nan, 8);     /* D2D z of cell 5 */
    reseal(bad, len);
    expect_reject(bad, len, "D2D");
    memcpy(bad, img, len);
    bad[240 + 32 * N + 77] = 0x80;                  /* flags of cell 77 */
    reseal(bad, len);
    expect_reject(bad, len, "flags");
    memcpy(bad, img, len);
    bad[240 + 32 * N + 78] = 0x06;                  /* stuck high and low */
    reseal(bad, len);
    expect_reject(bad, len, "flags");
    memcpy(bad, img, len);
    bad[232] = 2;                                   /* cache valid = 2 */
    reseal(bad, len);
    expect_reject(bad, len, "cache");
    free(bad);
    free(img);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* argument checking                                                       */
/* ---------------------------------------------------------------------- */

static const struct bnc_region bad_regions[] = {
    { 0, 0, 0, 1 }, { 0, 0, 1, 0 }, { 128, 0, 1, 1 }, { 0, 128, 1, 1 },
    { 0, 127, 1, 2 }, { 100, 0, 29, 1 }, { 0xffffffffu, 0, 2, 1 },
    { 0, 0xfffffff0u, 1, 0x20u }, { 0, 0, 129, 128 },
};

START_TEST(test_bad_region)
{
    struct bnc_params p;
    struct bnc_array *a;
    static uint32_t words[2 * N], rd[2 * N];
    static int16_t in[2 * N];
    static int32_t out[2 * N];
    const struct bnc_region *r = &bad_regions[_i];

    bnc_params_default(&p);
    a = mk(&p, 1400);
    ck_assert_int_eq(bnc_region_check(r), -BNC_EREGION);
    ck_assert_int_eq(bnc_program(a, r, words, 0), -BNC_EREGION);
    ck_assert_int_eq(bnc_read(a, r, rd, 0), -BNC_EREGION);
    ck_assert_int_eq(bnc_mvm(a, r, in, 1, 1, 0, out, 0), -BNC_EREGION);
    ck_assert_int_eq(bnc_region_check(NULL), -BNC_EREGION);
    ck_assert_int_eq(bnc_region_check(&full), 0);
    bnc_destroy(a);
}
END_TEST

static const uint32_t bad_words[] = {
    WORD(3, 0), WORD(15, 50000), WORD(BNC_PROG_SET, 50000) | (1u << 24),
    WORD(BNC_PROG_SKIP, 0) | (1u << 27), WORD(BNC_PROG_SET, 4999),
    WORD(BNC_PROG_SET, 100001), WORD(BNC_PROG_SET, 0),
    WORD(BNC_PROG_SET, 0xffffff),
};

START_TEST(test_bad_word)
{
    struct bnc_params p;
    struct bnc_array *a, *twin;
    static uint32_t words[N], ra[N], rb[N];
    static double g0[N], g1[N];
    int i, pos[] = { 0, 777, N - 1 }, k;

    bnc_params_default(&p);
    a = mk(&p, 1500);
    twin = mk(&p, 1500);
    lcg_s = 1;
    random_program(a, 0);
    lcg_s = 1;
    random_program(twin, 0);    /* twin is a's exact copy */
    all_g(a, 0, g0);
    for (k = 0; k < 3; k++) {
        for (i = 0; i < N; i++) {
            words[i] = WORD(BNC_PROG_SET, 90000);
        }
        words[pos[k]] = bad_words[_i];
        ck_assert_int_eq(bnc_program(a, &full, words, SEC), -BNC_EWORD);
    }
    all_g(a, 0, g1);
    ck_assert(memcmp(g0, g1, sizeof(g0)) == 0);     /* no cell changed */
    /* nor was the generator used: the next read equals the twin's */
    ck_assert_int_eq(bnc_read(a, &full, ra, 2 * SEC), 0);
    ck_assert_int_eq(bnc_read(twin, &full, rb, 2 * SEC), 0);
    ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
    bnc_destroy(a);
    bnc_destroy(twin);
}
END_TEST

START_TEST(test_good_words_and_args)
{
    const struct bnc_region one = { 5, 6, 1, 1 };
    struct bnc_params p;
    struct bnc_array *a;
    uint32_t w;
    static int16_t in[BNC_ROWS];
    static int32_t out[BNC_COLS];
    double g;

    bnc_params_default(&p);
    p.stuck_frac = 0.0;
    a = mk(&p, 1600);
    w = WORD(BNC_PROG_SET, 5000);       /* both ends of the range */
    ck_assert_int_eq(bnc_program(a, &one, &w, 0), 0);
    w = WORD(BNC_PROG_SET, 100000);
    ck_assert_int_eq(bnc_program(a, &one, &w, 0), 0);
    g = bnc_cell_g_us(a, 5, 6, 0);
    ck_assert(g > 150.0);
    w = WORD(BNC_PROG_SKIP, 12345);     /* SKIP leaves the cell alone */
    ck_assert_int_eq(bnc_program(a, &one, &w, 0), 0);
    ck_assert(bnc_cell_g_us(a, 5, 6, 0) == g);
    w = WORD(BNC_PROG_RESET, 777);      /* RESET ignores the current */
    ck_assert_int_eq(bnc_program(a, &one, &w, 0), 0);
    ck_assert(bnc_cell_g_us(a, 5, 6, 0) < 20.0);
    ck_assert(isnan(bnc_cell_g_us(a, 128, 0, 0)));
    ck_assert_int_eq(bnc_program(a, &one, NULL, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_read(a, &one, NULL, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 1, 16, out, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_mvm(a, &full, in, 0, 1, 0, out, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_mvm(a, &full, NULL, 1, 1, 0, out, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 1, 0, NULL, 0), -BNC_EARG);
    ck_assert_int_eq(bnc_mvm(a, &full, in, 1, 0, 15, out, 0), 0);
    ck_assert_int_eq(bnc_save(a, 0, NULL, bnc_state_size()), -BNC_EARG);
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *core_suite(void)
{
    Suite *s = suite_create("bnnacc_core");
    TCase *tc;

    tc = tcase_create("params");
    tcase_add_test(tc, test_params_default);
    tcase_add_loop_test(tc, test_params_reject, 0, 15 + 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("program");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_set_median, 0, 4);
    tcase_add_loop_test(tc, test_c2c_sigma, 0, 3);
    tcase_add_test(tc, test_d2d_spread);
    tcase_add_test(tc, test_reset_dist);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_noise);
    tcase_add_test(tc, test_normal_shape);
    tcase_add_test(tc, test_relaxation);
    suite_add_tcase(s, tc);

    tc = tcase_create("stuck");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_stuck_rate, 0, 2);
    tcase_add_test(tc, test_stuck_ignore_program);
    tcase_add_test(tc, test_add_stuck);
    suite_add_tcase(s, tc);

    tc = tcase_create("periphery");
    tcase_add_test(tc, test_dac);
    tcase_add_test(tc, test_adc);
    suite_add_tcase(s, tc);

    tc = tcase_create("mvm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mvm_quantisation);
    tcase_add_test(tc, test_mvm_stats);
    tcase_add_test(tc, test_mvm_subregion);
    tcase_add_test(tc, test_mvm_tracks_relaxation);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_seed_repeat);
    tcase_add_test(tc, test_save_load_roundtrip);
    tcase_add_test(tc, test_load_corrupt);
    suite_add_tcase(s, tc);

    tc = tcase_create("args");
    tcase_add_loop_test(tc, test_bad_region, 0,
                        sizeof(bad_regions) / sizeof(bad_regions[0]));
    tcase_add_loop_test(tc, test_bad_word, 0,
                        sizeof(bad_words) / sizeof(bad_words[0]));
    tcase_add_test(tc, test_good_words_and_args);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
