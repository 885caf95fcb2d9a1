/* SPDX-License-Identifier: MIT */
/*
 * test_core - Check unit tests of the physics core (qemu-model/bnnacc_core.c)
 * over all 16,384 cells: the parameter presets, SET/RESET distributions, C2C
 * and D2D variability, read noise, relaxation and the drift monitor, stuck
 * cells, DAC/ADC, MVM statistics, reproducibility, the state image and
 * argument checking.
 *
 * Tests of a law (SET median, C2C, D2D, RESET, read noise, relaxation, MVM
 * noise) take their expectation from the params through the public
 * functions and run for every preset; tests written around particular
 * numbers (DAC levels, ADC codes, stuck-cell count, word ranges...) take the
 * "pessimistic" preset, the emulator's first parameter set, explicitly.
 *
 * Tolerances are several standard errors wide, so a correct model passes
 * for any seed, while each assertion still fails on a model that is off by
 * the stated margin.
 */
#include "bnnacc_core.h"

#include <check.h>
#include <float.h>
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

/* Number of presets (bnc_preset_name() until NULL) */
static unsigned n_presets(void)
{
    unsigned n = 0;

    while (bnc_preset_name(n)) {
        n++;
    }
    return n;
}

/* Preset @i (in the order of bnc_preset_name()) */
static struct bnc_params preset_i(unsigned i)
{
    struct bnc_params p;
    const char *name = bnc_preset_name(i);

    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(bnc_params_preset(&p, name), 0);
    return p;
}

static struct bnc_params preset_nostuck(unsigned i)
{
    struct bnc_params p = preset_i(i);

    p.stuck_frac = 0.0;
    return p;
}

/* The emulator's first defaults, which many tests below are written for */
static struct bnc_params pessimistic(void)
{
    struct bnc_params p;

    ck_assert_int_eq(bnc_params_preset(&p, "pessimistic"), 0);
    return p;
}

static struct bnc_params pessimistic_nostuck(void)
{
    struct bnc_params p = pessimistic();

    p.stuck_frac = 0.0;
    return p;
}

/* A SET word for @i_ua, clamped into the params' accepted current range */
static uint32_t set_word(const struct bnc_params *p, double i_ua)
{
    double lo = ceil(p->iset_min_ua * 1000.0);
    double hi = floor(p->iset_max_ua * 1000.0);
    double na = floor(i_ua * 1000.0 + 0.5);

    na = na < lo ? lo : na > hi ? hi : na;
    return WORD(BNC_PROG_SET, na);
}

/* The SET current actually used by set_word() (uA) */
static double set_current(const struct bnc_params *p, double i_ua)
{
    return (set_word(p, i_ua) & 0xffffffu) / 1000.0;
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

/*
 * A fifth of the cells RESET, the others SET at a current uniform over the
 * array's accepted range (5000 + lcg() % 95001 nA for 5..100 uA), from the
 * test's generator.
 */
static void random_program(struct bnc_array *a, uint64_t now)
{
    static uint32_t words[N];
    const struct bnc_params *p = bnc_params(a);
    uint32_t lo = (uint32_t)ceil(p->iset_min_ua * 1000.0);
    uint32_t hi = (uint32_t)floor(p->iset_max_ua * 1000.0);
    int i;

    for (i = 0; i < N; i++) {
        words[i] = (lcg() % 5 == 0) ? WORD(BNC_PROG_RESET, 0)
                                    : WORD(BNC_PROG_SET,
                                           lo + lcg() % (hi - lo + 1));
    }
    ck_assert_int_eq(bnc_program(a, &full, words, now), 0);
}

/* ---------------------------------------------------------------------- */
/* parameters                                                              */
/* ---------------------------------------------------------------------- */

/* Field-by-field equality (no memcmp: padding bytes are unspecified) */
static int params_equal(const struct bnc_params *a, const struct bnc_params *b)
{
    return a->k_us_per_ua == b->k_us_per_ua &&
           a->iset_min_ua == b->iset_min_ua &&
           a->iset_max_ua == b->iset_max_ua &&
           a->g_min_us == b->g_min_us && a->g_max_us == b->g_max_us &&
           a->c2c_slope == b->c2c_slope && a->c2c_icpt_us == b->c2c_icpt_us &&
           a->c2c_floor_us == b->c2c_floor_us &&
           a->d2d_ratio == b->d2d_ratio &&
           a->reset_med_us == b->reset_med_us &&
           a->reset_lsig == b->reset_lsig &&
           a->read_noise_rel == b->read_noise_rel &&
           a->read_noise_gref_us == b->read_noise_gref_us &&
           a->read_noise_exp == b->read_noise_exp &&
           a->drift_t_ref_s == b->drift_t_ref_s &&
           a->drift_nu == b->drift_nu && a->drift_sig == b->drift_sig &&
           a->stuck_frac == b->stuck_frac &&
           a->stuck_high_us == b->stuck_high_us &&
           a->stuck_low_us == b->stuck_low_us &&
           a->dac_bits == b->dac_bits && a->adc_bits == b->adc_bits &&
           a->read_v == b->read_v && a->adc_fs_ua == b->adc_fs_ua;
}

/* The default preset: "hfox", what bnc_params_preset(NULL) gives */
START_TEST(test_params_default)
{
    struct bnc_params p, q, r;
    const char *why = NULL;

    ck_assert_str_eq(BNC_PRESET_DEFAULT, "hfox");
    memset(&p, 0x5a, sizeof(p));
    bnc_params_default(&p);
    ck_assert_int_eq(bnc_params_check(&p, &why), 0);
    memset(&q, 0xa5, sizeof(q));
    ck_assert_int_eq(bnc_params_preset(&q, NULL), 0);
    ck_assert(params_equal(&p, &q));
    ck_assert_int_eq(bnc_params_preset(&r, BNC_PRESET_DEFAULT), 0);
    ck_assert(params_equal(&p, &r));
    ck_assert_int_eq(bnc_params_preset(&r, "hfox"), 0);
    ck_assert(params_equal(&p, &r));
    ck_assert_int_eq(bnc_params_preset(&r, "pessimistic"), 0);
    ck_assert(!params_equal(&p, &r));
}
END_TEST

/* Exactly the three presets, each named once, then NULL */
START_TEST(test_preset_names)
{
    static const char *const want[] = { "hfox", "cmo-hfox", "pessimistic" };
    int seen[3] = { 0 };
    unsigned i, k;

    ck_assert_uint_eq(n_presets(), 3);
    for (i = 0; i < 3; i++) {
        const char *name = bnc_preset_name(i);

        ck_assert_ptr_nonnull(name);
        for (k = 0; k < 3; k++) {
            if (!strcmp(name, want[k])) {
                seen[k]++;
                break;
            }
        }
        ck_assert_msg(k < 3, "unexpected preset '%s'", name);
    }
    for (k = 0; k < 3; k++) {
        ck_assert_msg(seen[k] == 1, "preset '%s' listed %d times", want[k],
                      seen[k]);
    }
    ck_assert_ptr_null(bnc_preset_name(3));
    ck_assert_ptr_null(bnc_preset_name(4));
    ck_assert_ptr_null(bnc_preset_name(1000));
    ck_assert_ptr_null(bnc_preset_name(~0u));
}
END_TEST

/*
 * Every preset is valid, differs from the others, manufactures an array
 * with exactly round(stuck_frac * cells) stuck cells and carries its
 * params into it.
 */
START_TEST(test_preset_valid)
{
    struct bnc_params p = preset_i(_i), q;
    struct bnc_array *a;
    const char *why = NULL;
    unsigned k;

    ck_assert_msg(bnc_params_check(&p, &why) == 0, "preset %s: %s",
                  bnc_preset_name(_i), why ? why : "?");
    for (k = 0; bnc_preset_name(k); k++) {
        if (k != (unsigned)_i) {
            q = preset_i(k);
            ck_assert(!params_equal(&p, &q));
        }
    }
    a = mk(&p, 50 + _i);
    ck_assert(params_equal(bnc_params(a), &p));
    ck_assert_uint_eq(bnc_stuck_count(a), (unsigned)lround(p.stuck_frac * N));
    bnc_destroy(a);
}
END_TEST

/* An unknown name: -BNC_EARG and the struct untouched */
START_TEST(test_preset_unknown)
{
    static const char *const bad[] = {
        "", "hfo", "hfox ", " hfox", "hfox2", "cmo", "pessimistic!",
        "default", "leti",
    };
    struct bnc_params p, before;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0x5a, sizeof(p));
        memcpy(&before, &p, sizeof(p));
        ck_assert_msg(bnc_params_preset(&p, bad[i]) == -BNC_EARG,
                      "preset '%s' accepted", bad[i]);
        ck_assert_msg(memcmp(&p, &before, sizeof(p)) == 0,
                      "preset '%s' changed the struct", bad[i]);
    }
}
END_TEST

/* "pessimistic" is exactly the emulator's first defaults */
START_TEST(test_preset_pessimistic)
{
    struct bnc_params p = pessimistic();

    ck_assert(p.k_us_per_ua == 2.0);
    ck_assert(p.iset_min_ua == 5.0 && p.iset_max_ua == 100.0);
    ck_assert(p.g_min_us == 0.1 && p.g_max_us == 200.0);
    ck_assert(p.c2c_slope == -0.009107 && p.c2c_icpt_us == 4.782);
    ck_assert(p.c2c_floor_us == 0.5);
    ck_assert(p.d2d_ratio == 0.7);
    ck_assert(p.reset_med_us == 2.0 && p.reset_lsig == 0.3);
    ck_assert(p.read_noise_rel == 0.02 && p.read_noise_exp == 0.0);
    ck_assert(p.drift_t_ref_s == 1.0 && p.drift_nu == 0.005);
    ck_assert(p.drift_sig == 0.002);
    ck_assert(p.stuck_frac == 0.001);
    ck_assert(p.stuck_high_us == 200.0 && p.stuck_low_us == 1.0);
    ck_assert_uint_eq(p.dac_bits, 8);
    ck_assert_uint_eq(p.adc_bits, 9);
    ck_assert(p.read_v == 0.1 && p.adc_fs_ua == 2560.0);
    /* flat 2 % read noise whatever the reference conductance */
    ck_assert(p.read_noise_gref_us > 0.0);
    ck_assert(fabs(bnc_read_sigma_us(&p, 10.0) - 0.2) < 1e-15);
    ck_assert(fabs(bnc_read_sigma_us(&p, 150.0) - 3.0) < 1e-14);
    /* C2C curve: the RRAM_Milo line and its floor */
    ck_assert(fabs(bnc_c2c_sigma_us(&p, 100.0) - 3.8713) < 1e-9);
    ck_assert(fabs(bnc_c2c_sigma_us(&p, 1000.0) - 0.5) < 1e-12);
    /* SET median: k * I, clipped to g_max */
    ck_assert(fabs(bnc_set_median_us(&p, 30.0) - 60.0) < 1e-12);
    ck_assert(bnc_set_median_us(&p, 150.0) == 200.0);
}
END_TEST

/* Spot checks of "hfox" and "cmo-hfox" against the table in the core */
START_TEST(test_preset_values)
{
    struct bnc_params p;

    ck_assert_int_eq(bnc_params_preset(&p, "hfox"), 0);
    ck_assert(p.k_us_per_ua == 2.0);
    ck_assert(p.iset_min_ua == 5.0 && p.iset_max_ua == 100.0);
    ck_assert(p.g_min_us == 0.1 && p.g_max_us == 200.0);
    ck_assert(p.c2c_slope == -0.009107 && p.c2c_icpt_us == 4.782);
    ck_assert(p.d2d_ratio == 0.5);
    ck_assert(p.reset_med_us == 2.0 && p.reset_lsig == 0.45);
    ck_assert(p.read_noise_rel == 0.0034 && p.read_noise_gref_us == 50.0);
    ck_assert(p.read_noise_exp == 0.69);
    ck_assert(p.drift_t_ref_s == 6.0 && p.drift_nu == 0.00178);
    ck_assert(p.drift_sig == 0.00084);
    ck_assert(p.stuck_frac == 0.002 && p.stuck_high_us == 200.0);
    ck_assert_uint_eq(p.dac_bits, 7);
    ck_assert_uint_eq(p.adc_bits, 9);
    ck_assert(p.read_v == 0.1 && p.adc_fs_ua == 2560.0);
    /* the 7-bit DAC: codes -63..63 */
    ck_assert_int_eq(bnc_dac(&p, 32767), 63);
    ck_assert_int_eq(bnc_dac(&p, -32768), -63);

    ck_assert_int_eq(bnc_params_preset(&p, "cmo-hfox"), 0);
    ck_assert(p.k_us_per_ua == 1.0);
    ck_assert(p.iset_min_ua == 9.0 && p.iset_max_ua == 88.19);
    ck_assert(p.g_max_us == 88.19);
    ck_assert(p.c2c_slope == 0.01129027418 && p.c2c_icpt_us == 0.0112185391);
    ck_assert(p.c2c_floor_us == 0.0 && p.d2d_ratio == 0.0);
    ck_assert(p.reset_med_us == 9.0 && p.reset_lsig == 0.0125);
    ck_assert(p.read_noise_rel == 0.0034 && p.read_noise_gref_us == 50.0);
    ck_assert(p.read_noise_exp == 0.69);
    ck_assert(p.drift_t_ref_s == 1.0 && p.drift_nu == 0.00178);
    ck_assert(p.drift_sig == 0.00084);
    ck_assert(p.stuck_frac == 0.0);
    ck_assert(p.stuck_high_us == 88.19 && p.stuck_low_us == 9.0);
    ck_assert_uint_eq(p.dac_bits, 7);
    ck_assert_uint_eq(p.adc_bits, 9);
    ck_assert(p.adc_fs_ua == 1129.0);
    /* C2C grows with G here (program noise of a verified write) */
    ck_assert(fabs(bnc_c2c_sigma_us(&p, 50.0) -
                   (0.01129027418 * 50.0 + 0.0112185391)) < 1e-12);
    ck_assert(fabs(bnc_set_median_us(&p, 40.0) - 40.0) < 1e-12);
}
END_TEST

/* Parameter sets that bnc_params_check() must refuse, one per index */
#define N_BAD_DOUBLES 19
#define N_BAD_PARAMS (N_BAD_DOUBLES + 4)

static void bad_param(int which, struct bnc_params *p)
{
    double *d[] = {
        &p->k_us_per_ua, &p->k_us_per_ua, &p->g_max_us, &p->iset_min_ua,
        &p->iset_max_ua, &p->g_min_us, &p->read_noise_rel, &p->stuck_frac,
        &p->drift_t_ref_s, &p->reset_lsig, &p->adc_fs_ua, &p->read_v,
        &p->d2d_ratio, &p->c2c_floor_us, &p->drift_sig,
        &p->read_noise_exp, &p->read_noise_exp, &p->read_noise_exp,
        &p->read_noise_gref_us,
    };
    const double v[] = {
        NAN, -2.0, INFINITY, 100.0 /* == iset_max */, 1e9,
        300.0 /* above g_max */, -0.01, 1.5, 0.0, NAN, 0.0, -0.1, -1.0,
        -1.0, INFINITY, -0.01, 1.01, NAN, 0.0,
    };
    const unsigned bits[] = { 1, 17 };
    const int nd = sizeof(v) / sizeof(v[0]);

    ck_assert_int_eq(nd, N_BAD_DOUBLES);
    ck_assert_int_eq(sizeof(d) / sizeof(d[0]), N_BAD_DOUBLES);
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
    struct bnc_params p = pessimistic();
    const char *why = NULL;

    bad_param(_i, &p);
    ck_assert_int_eq(bnc_params_check(&p, &why), -BNC_EARG);
    ck_assert_ptr_nonnull(why);
    ck_assert(strlen(why) > 5);
    ck_assert_int_eq(bnc_params_check(&p, NULL), -BNC_EARG);
    ck_assert_ptr_null(bnc_create(&p, 1));
}
END_TEST

/* The read-noise exponent: [0, 1] accepted, anything else refused */
START_TEST(test_read_noise_exp_range)
{
    static const double ok[] = { 0.0, 1e-9, 0.5, 0.69, 1.0 };
    static const double bad[] = {
        -1e-9, -0.5, 1.0 + 1e-9, 1.5, 2.0, NAN, INFINITY, -INFINITY,
    };
    unsigned i, k;

    for (k = 0; bnc_preset_name(k); k++) {
        struct bnc_params p = preset_i(k);
        const char *why;

        for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
            p.read_noise_exp = ok[i];
            why = NULL;
            ck_assert_msg(bnc_params_check(&p, &why) == 0,
                          "%s exp %g refused: %s", bnc_preset_name(k), ok[i],
                          why ? why : "?");
        }
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct bnc_array *a;

            p.read_noise_exp = bad[i];
            why = NULL;
            ck_assert_msg(bnc_params_check(&p, &why) == -BNC_EARG,
                          "%s exp %g accepted", bnc_preset_name(k), bad[i]);
            ck_assert_ptr_nonnull(why);
            ck_assert_msg(strstr(why, "read_noise") != NULL,
                          "message '%s'", why);
            a = bnc_create(&p, 1);
            ck_assert_ptr_null(a);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SET, C2C, D2D, RESET                                                    */
/* ---------------------------------------------------------------------- */

/* per preset; clamped into each preset's current range */
#define N_SET_CURRENTS 4
static const double set_currents[N_SET_CURRENTS] = { 10.0, 25.0, 50.0, 90.0 };

START_TEST(test_set_median)
{
    struct bnc_params p = preset_nostuck(_i / N_SET_CURRENTS);
    struct bnc_array *a = mk(&p, 100 + _i);
    static double g[N];
    static uint32_t rd[N];
    double i_ua = set_current(&p, set_currents[_i % N_SET_CURRENTS]);
    double want = bnc_set_median_us(&p, i_ua);
    int i;

    ck_assert(fabs(want - fmin(p.k_us_per_ua * i_ua, p.g_max_us)) <
              1e-12 * want);
    program_all(a, set_word(&p, i_ua), 5 * SEC);
    all_g(a, 5 * SEC, g);
    close_rel(median(g, N), want, 0.02, "SET median");
    ck_assert_int_eq(bnc_read(a, &full, rd, 5 * SEC), 0);
    for (i = 0; i < N; i++) {
        g[i] = rd[i] / 1000.0;
    }
    close_rel(median(g, N), want, 0.02, "SET median (read)");
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
        program_all(a, set_word(bnc_params(a), i_ua), 0);
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

/* per preset; clamped into each preset's current range */
#define N_C2C_CURRENTS 3
static const double c2c_currents[N_C2C_CURRENTS] = { 10.0, 50.0, 90.0 };

START_TEST(test_c2c_sigma)
{
    struct bnc_params p = preset_nostuck(_i / N_C2C_CURRENTS);
    struct bnc_array *a = mk(&p, 200 + _i);
    double i_ua = set_current(&p, c2c_currents[_i % N_C2C_CURRENTS]), cv, mv;
    double want = bnc_c2c_sigma_us(&p, bnc_set_median_us(&p, i_ua));

    cycle_stats(a, i_ua, &cv, &mv);
    close_rel(sqrt(cv), want, 0.05, "C2C sigma");
    bnc_destroy(a);
}
END_TEST

/* per preset (a preset without D2D checks that it vanishes) */
START_TEST(test_d2d_spread)
{
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 300 + 2 * _i);
    double cv, mv, d2d;
    double sig = bnc_c2c_sigma_us(&p, bnc_set_median_us(&p, 50.0));

    /* var of per-cell means = (d2d * sigma)^2 + sigma^2 / CYCLES */
    cycle_stats(a, 50.0, &cv, &mv);
    d2d = sqrt(fmax(mv - cv / CYCLES, 0.0)) / sig;
    if (p.d2d_ratio > 0.0) {
        close_rel(d2d, p.d2d_ratio, 0.10, "D2D ratio");
    } else {
        ck_assert_msg(d2d < 0.1, "D2D should vanish: %g", d2d);
    }
    bnc_destroy(a);

    p.d2d_ratio = 0.0;
    a = mk(&p, 301 + 2 * _i);
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

/* per preset */
START_TEST(test_reset_dist)
{
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 400 + 2 * _i);

    /* manufactured: all cells RESET at time 0 */
    check_reset(a, &p, 0);
    program_all(a, set_word(&p, 60.0), 0);
    program_all(a, WORD(BNC_PROG_RESET, 0), 0);
    check_reset(a, &p, 0);
    bnc_destroy(a);

    p.reset_med_us = 4.0;
    p.reset_lsig = 0.5;
    a = mk(&p, 401 + 2 * _i);
    check_reset(a, &p, 0);
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* read noise and relaxation                                               */
/* ---------------------------------------------------------------------- */

/* "pessimistic": flat 2 % read noise */
START_TEST(test_read_noise)
{
    struct bnc_params p = pessimistic_nostuck();
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

/* bnc_read_sigma_us(): the law and its special cases */
START_TEST(test_read_sigma)
{
    static const double gs[] = { 0.1, 0.5, 2.0, 9.0, 20.0, 50.0, 88.0,
                                 160.0, 200.0, 1000.0 };
    static const double nonpos[] = { 0.0, -0.0, -1e-300, -5.0, -INFINITY,
                                     NAN };
    struct bnc_params p;
    unsigned i, k;

    /* the law, for every preset, against an independent computation */
    for (k = 0; bnc_preset_name(k); k++) {
        double prev_rel = INFINITY;

        p = preset_i(k);
        for (i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
            double g = gs[i], s = bnc_read_sigma_us(&p, g);
            double want = p.read_noise_rel * g *
                          pow(g / p.read_noise_gref_us, -p.read_noise_exp);

            ck_assert_msg(fabs(s - want) <= 1e-12 * want, "%s G %g: %g vs %g",
                          bnc_preset_name(k), g, s, want);
            /* relative noise: flat for exp 0, falling for exp > 0 */
            if (p.read_noise_exp > 0.0) {
                ck_assert(s / g < prev_rel);
            } else {
                ck_assert(fabs(s / g - p.read_noise_rel) <
                          1e-15 * p.read_noise_rel);
            }
            prev_rel = s / g;
        }
        /* at the reference conductance the relative sigma is the rel */
        close_rel(bnc_read_sigma_us(&p, p.read_noise_gref_us),
                  p.read_noise_rel * p.read_noise_gref_us, 1e-14,
                  "sigma at gref");
        for (i = 0; i < sizeof(nonpos) / sizeof(nonpos[0]); i++) {
            ck_assert_msg(bnc_read_sigma_us(&p, nonpos[i]) == 0.0,
                          "%s G %g", bnc_preset_name(k), nonpos[i]);
        }
    }

    /* exp 0: rel * G exactly, whatever gref */
    p = preset_i(0);
    p.read_noise_rel = 0.03;
    p.read_noise_exp = 0.0;
    for (i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
        ck_assert(bnc_read_sigma_us(&p, gs[i]) == 0.03 * gs[i]);
    }
    /* exp 1: a constant rel * gref */
    p.read_noise_exp = 1.0;
    p.read_noise_gref_us = 40.0;
    for (i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
        close_rel(bnc_read_sigma_us(&p, gs[i]), 0.03 * 40.0, 1e-14,
                  "constant sigma (exp 1)");
    }
    /* exp 0.5: the square root of G */
    p.read_noise_exp = 0.5;
    close_rel(bnc_read_sigma_us(&p, 160.0), 0.03 * sqrt(160.0 * 40.0), 1e-14,
              "sigma (exp 0.5)");
    /* no read noise */
    p.read_noise_rel = 0.0;
    ck_assert(bnc_read_sigma_us(&p, 100.0) == 0.0);
    for (i = 0; i < sizeof(nonpos) / sizeof(nonpos[0]); i++) {
        p.read_noise_rel = 0.03;
        p.read_noise_exp = i % 2 ? 1.0 : 0.0;
        ck_assert(bnc_read_sigma_us(&p, nonpos[i]) == 0.0);
    }
}
END_TEST

#define LAW_READS 4

/*
 * Reads of a randomly programmed array (SET over the whole current range
 * and RESET cells), relaxed: each read's error divided by the law's sigma
 * at the cell's exact conductance is a standard normal, for the cells
 * below and above the median conductance alike. Per preset.
 */
START_TEST(test_read_noise_law)
{
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 520 + _i);
    static uint32_t rd[N];
    static double g[N], sg[N];
    uint64_t now = (uint64_t)(3.0 * p.drift_t_ref_s * 1e9);
    double s[2] = { 0 }, s2[2] = { 0 }, n[2] = { 0 }, gmed;
    int i, k, b;

    random_program(a, 0);
    all_g(a, now, g);
    gmed = median(g, N);
    for (i = 0; i < N; i++) {
        sg[i] = bnc_read_sigma_us(&p, g[i]);
        ck_assert(sg[i] > 0.0);
    }
    for (k = 0; k < LAW_READS; k++) {
        ck_assert_int_eq(bnc_read(a, &full, rd, now), 0);
        for (i = 0; i < N; i++) {
            double z = (rd[i] / 1000.0 - g[i]) / sg[i];

            b = g[i] >= gmed;
            s[b] += z;
            s2[b] += z * z;
            n[b] += 1.0;
        }
    }
    for (b = 0; b < 2; b++) {
        double m = s[b] / n[b], v = s2[b] / n[b] - m * m;

        ck_assert_msg(fabs(m) < 5.0 / sqrt(n[b]), "%s %s G: mean z %g",
                      bnc_preset_name(_i), b ? "high" : "low", m);
        ck_assert_msg(fabs(v - 1.0) < 0.04, "%s %s G: var z %g",
                      bnc_preset_name(_i), b ? "high" : "low", v);
    }
    bnc_destroy(a);
}
END_TEST

/*
 * Measured relative read noise of cells all at @g_us (C2C and D2D nearly
 * switched off so every cell sits at @g_us), from LAW_READS reads of all
 * cells at time 0.
 */
static double measured_rel_noise(struct bnc_params p, double g_us,
                                 uint64_t seed)
{
    struct bnc_array *a;
    static uint32_t rd[N];
    static double g[N];
    double s2 = 0.0;
    int i, k;

    p.stuck_frac = 0.0;
    p.c2c_slope = 0.0;
    p.c2c_icpt_us = 0.001;
    p.c2c_floor_us = 0.001;
    p.d2d_ratio = 0.0;
    a = mk(&p, seed);
    program_all(a, set_word(&p, g_us / p.k_us_per_ua), 0);
    all_g(a, 0, g);
    for (k = 0; k < LAW_READS; k++) {
        ck_assert_int_eq(bnc_read(a, &full, rd, 0), 0);
        for (i = 0; i < N; i++) {
            double e = (rd[i] / 1000.0 - g[i]) / g[i];

            ck_assert(fabs(g[i] - g_us) < 0.01 * g_us);
            s2 += e * e;
        }
    }
    bnc_destroy(a);
    return sqrt(s2 / (N * LAW_READS));
}

/*
 * "hfox": the relative read noise falls with G as the law says, sigma/G
 * about 4.2 times larger at 20 uS than at 160 uS; "pessimistic": flat.
 */
START_TEST(test_read_noise_fall)
{
    struct bnc_params p;
    double r20, r160, w20, w160;

    ck_assert_int_eq(bnc_params_preset(&p, "hfox"), 0);
    w20 = bnc_read_sigma_us(&p, 20.0) / 20.0;
    w160 = bnc_read_sigma_us(&p, 160.0) / 160.0;
    close_rel(w20 / w160, pow(8.0, p.read_noise_exp), 1e-12, "law ratio");
    ck_assert(w20 / w160 > 4.0);
    r20 = measured_rel_noise(p, 20.0, 530);
    r160 = measured_rel_noise(p, 160.0, 531);
    close_rel(r20, w20, 0.03, "hfox sigma/G at 20 uS");
    close_rel(r160, w160, 0.03, "hfox sigma/G at 160 uS");
    close_rel(r20 / r160, w20 / w160, 0.03, "hfox fall 20 -> 160 uS");

    p = pessimistic();
    r20 = measured_rel_noise(p, 20.0, 532);
    r160 = measured_rel_noise(p, 160.0, 533);
    close_rel(r20, 0.02, 0.03, "pessimistic sigma/G at 20 uS");
    close_rel(r160, 0.02, 0.03, "pessimistic sigma/G at 160 uS");
    close_rel(r20 / r160, 1.0, 0.03, "pessimistic: flat");
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
    struct bnc_params p = pessimistic_nostuck();
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
            double z = (rd[i] - g[i] * 1000.0) /
                       (bnc_read_sigma_us(&p, g[i]) * 1000.0);

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

/* Relaxation of SET cells at t_ref x {1, 10, 3600, 86400}, per preset */
START_TEST(test_relaxation)
{
    static const double f[] = { 1.0, 10.0, 3600.0, 86400.0 };
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 600 + 2 * _i);
    static double g0[N], g[N], res[N];
    double m_prev = 1e30, cv_prev = 0.0, tref = p.drift_t_ref_s * 1e9;
    int pess = !strcmp(bnc_preset_name(_i), "pessimistic");
    int k, i;

    program_all(a, set_word(&p, 50.0), 0);
    all_g(a, 0, g0);
    all_g(a, (uint64_t)(tref / 2), g);
    ck_assert(memcmp(g0, g, sizeof(g)) == 0);   /* nothing before t_ref */
    all_g(a, (uint64_t)tref, g);
    ck_assert(memcmp(g0, g, sizeof(g)) == 0);   /* nor at t_ref */
    for (k = 0; k < 4; k++) {
        uint64_t t = (uint64_t)(f[k] * tref);
        double l = log((double)t / tref), m, cv;

        all_g(a, t, g);
        m = mean(g, N);
        cv = sqrt(var(g, N)) / m;
        ck_assert_msg(k == 0 || m < m_prev, "mean does not decrease");
        /*
         * The relative spread grows by (drift_sig * L)^2 in variance; at
         * L = ln 10 that is only a few standard errors for the presets
         * with a small drift_sig, so they are checked from L = ln 3600.
         */
        ck_assert_msg((k == 0 || (k == 1 && !pess)) || cv > cv_prev,
                      "spread does not increase");
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
    a = mk(&p, 601 + 2 * _i);
    program_all(a, set_word(&p, 50.0), 0);
    cv_prev = 0.0;
    for (k = 0; k < 4; k++) {
        all_g(a, (uint64_t)(f[k] * tref), g);
        ck_assert(sqrt(var(g, N)) > cv_prev);
        cv_prev = sqrt(var(g, N));
    }
    bnc_destroy(a);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* the drift monitor                                                       */
/* ---------------------------------------------------------------------- */

/* Program @r with @w in every cell at @now */
static void program_region(struct bnc_array *a, const struct bnc_region *r,
                           uint32_t w, uint64_t now)
{
    static uint32_t words[N];
    unsigned i;

    for (i = 0; i < r->rows * r->cols; i++) {
        words[i] = w;
    }
    ck_assert_int_eq(bnc_program(a, r, words, now), 0);
}

/* drift_nu * ln((now - t0) / t_ref) past t_ref, else 0 */
static double want_relaxation(const struct bnc_params *p, uint64_t t0,
                              uint64_t now)
{
    double e, tref = p->drift_t_ref_s * 1e9;

    if (now <= t0) {
        return 0.0;
    }
    e = (double)(now - t0);
    return e > tref ? p->drift_nu * log(e / tref) : 0.0;
}

static void check_relaxation(struct bnc_array *a, uint64_t t0, uint64_t now)
{
    double got = bnc_relaxation(a, now);
    double want = want_relaxation(bnc_params(a), t0, now);

    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want) + 1e-300,
                  "t0 %llu now %llu: relaxation %.17g, want %.17g",
                  (unsigned long long)t0, (unsigned long long)now, got, want);
}

/* Offsets from the programming time, in t_ref and in ns */
static void check_relaxation_curve(struct bnc_array *a, uint64_t t0)
{
    static const double f[] = {
        0.0, 0.25, 0.5, 0.999, 1.0, 1.001, 1.5, 2.0, 2.718281828, 10.0,
        100.0,
        3600.0, 86400.0, 3.15e7,
    };
    uint64_t tref = (uint64_t)(bnc_params(a)->drift_t_ref_s * 1e9);
    unsigned k;

    for (k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
        check_relaxation(a, t0, t0 + (uint64_t)(f[k] * (double)tref));
    }
    check_relaxation(a, t0, t0 + tref - 1);
    check_relaxation(a, t0, t0 + tref + 1);
    ck_assert(bnc_relaxation(a, t0 + tref) == 0.0);
    ck_assert(bnc_relaxation(a, t0 + tref + 1) > 0.0);
    if (t0 > 0) {
        check_relaxation(a, t0, t0 - 1);
        ck_assert(bnc_relaxation(a, 0) == 0.0);
    }
    /* ln(e) = 1 at e * t_ref */
    close_rel(bnc_relaxation(a, t0 + (uint64_t)(exp(1.0) * (double)tref)),
              bnc_params(a)->drift_nu, 1e-9, "relaxation at e t_ref");
}

/*
 * bnc_relaxation(): the relaxation of the oldest SET cells, from their
 * programming time; RESET cells do not count; reprogramming the oldest
 * lowers it; per preset.
 */
START_TEST(test_relaxation_monitor)
{
    const struct bnc_region r1 = { 0, 0, 8, 8 }, r2 = { 64, 100, 16, 20 };
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 640 + _i);
    uint64_t tref = (uint64_t)(p.drift_t_ref_s * 1e9);
    uint64_t t0 = 5 * SEC + 123, t1 = t0 + 3 * tref + 77, t2 = t1 + 100 * SEC;
    uint64_t late = t2 + 1000 * tref;
    double before;

    ck_assert(p.drift_nu > 0.0);
    /* manufactured: every cell RESET, nothing relaxes to monitor */
    ck_assert(bnc_relaxation(a, 0) == 0.0);
    ck_assert(bnc_relaxation(a, late) == 0.0);
    ck_assert(bnc_relaxation(a, UINT64_MAX) == 0.0);
    program_all(a, WORD(BNC_PROG_RESET, 0), SEC);
    ck_assert(bnc_relaxation(a, late) == 0.0);

    /* some cells SET at t0 */
    program_region(a, &r1, set_word(&p, 50.0), t0);
    check_relaxation_curve(a, t0);
    /* RESET cells programmed earlier do not count, nor later SET ones */
    program_region(a, &r2, set_word(&p, 30.0), t1);
    check_relaxation_curve(a, t0);
    /* SKIP leaves the programming time alone */
    program_region(a, &r1, WORD(BNC_PROG_SKIP, 0), t2);
    check_relaxation_curve(a, t0);

    /* reprogramming the oldest SET cells: the next oldest (t1) counts */
    before = bnc_relaxation(a, late);
    program_region(a, &r1, set_word(&p, 70.0), t2);
    check_relaxation_curve(a, t1);
    ck_assert(bnc_relaxation(a, late) < before);
    /* reprogramming every SET cell later: lower again */
    before = bnc_relaxation(a, late);
    program_region(a, &r2, set_word(&p, 30.0), t2);
    check_relaxation_curve(a, t2);
    ck_assert(bnc_relaxation(a, late) < before);
    /* RESET of the oldest: the others count */
    program_region(a, &r1, set_word(&p, 40.0), t2 + SEC);
    program_region(a, &r2, WORD(BNC_PROG_RESET, 0), t2 + 2 * SEC);
    check_relaxation_curve(a, t2 + SEC);
    /* no SET cell left */
    program_region(a, &r1, WORD(BNC_PROG_RESET, 0), t2 + 3 * SEC);
    ck_assert(bnc_relaxation(a, late) == 0.0);
    ck_assert(bnc_relaxation(a, UINT64_MAX) == 0.0);
    /* the whole array SET at once */
    program_all(a, set_word(&p, 50.0), late);
    check_relaxation_curve(a, late);
    bnc_destroy(a);

    /* no drift: no relaxation */
    p.drift_nu = 0.0;
    a = mk(&p, 650 + _i);
    program_region(a, &r1, set_word(&p, 50.0), t0);
    ck_assert(bnc_relaxation(a, late) == 0.0);
    bnc_destroy(a);
}
END_TEST

/*
 * Stuck cells are not watched: they keep their manufacture time and never
 * relax, whether or not the programming tried to SET them.
 */
START_TEST(test_relaxation_stuck)
{
    struct bnc_params p = preset_i(_i);
    struct bnc_array *a;
    uint64_t tref, t0 = 1000 * SEC;

    p.stuck_frac = 0.05;
    tref = (uint64_t)(p.drift_t_ref_s * 1e9);
    a = mk(&p, 660 + _i);
    ck_assert_uint_gt(bnc_stuck_count(a), 500);
    /* stuck cells alone, high or low, are no SET cells */
    ck_assert(bnc_relaxation(a, t0) == 0.0);
    ck_assert_uint_eq(bnc_relaxation_time(a, 1e-3), UINT64_MAX);
    /* every cell SET at t0: the stuck ones (time 0) do not count */
    program_all(a, set_word(&p, 50.0), t0);
    check_relaxation_curve(a, t0);
    ck_assert_uint_gt(bnc_relaxation_time(a, p.drift_nu), t0 + tref);
    /* all cells stuck: nothing left to watch */
    bnc_add_stuck(a, N);
    ck_assert_uint_eq(bnc_stuck_count(a), N);
    ck_assert(bnc_relaxation(a, t0 + 1000 * tref) == 0.0);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), UINT64_MAX);
    bnc_destroy(a);
}
END_TEST

/*
 * Check that @t = bnc_relaxation_time(a, @level) is when the relaxation
 * reaches @level: at @t it has, and @t is at most 1 ns past the first ns at
 * which it mathematically does, ceil(t_ref * exp(level / nu)) after the
 * programming time @t0 (computed in long double), give or take 1 ns of
 * double rounding when that is within rounding of an integer.
 */
static void check_level_time(struct bnc_array *a, uint64_t t0, double level)
{
    const struct bnc_params *p = bnc_params(a);
    uint64_t t = bnc_relaxation_time(a, level);
    long double tref = (long double)p->drift_t_ref_s * 1e9L;
    long double x = tref * expl((long double)level /
                                (long double)p->drift_nu);
    long double first = ceill(x);
    /* within double rounding of an integer, ceil() may land either side */
    int near = fabsl(x - roundl(x)) <= x * 1e-15L + 1e-9L;
    double age;

    ck_assert_msg(t != UINT64_MAX, "level %g: never", level);
    ck_assert_uint_gt(t, t0);
    age = (double)(t - t0);
    ck_assert_msg(age > (double)tref, "level %g: age %g not past t_ref",
                  level, age);
    ck_assert_msg(bnc_relaxation(a, t) >= level,
                  "level %.17g: at %llu only %.17g", level,
                  (unsigned long long)t, bnc_relaxation(a, t));
    if (first <= tref) {
        first = tref + 1.0L;        /* L is 0 up to t_ref */
    }
    ck_assert_msg((long double)(t - t0) >= first - near &&
                  (long double)(t - t0) <= first + near,
                  "level %.17g: age %llu, first %.1Lf", level,
                  (unsigned long long)(t - t0), first);
    /*
     * 1 ns earlier it had not, within rounding: L = ln(age / t_ref)
     * carries an absolute error of about an epsilon.
     */
    ck_assert_msg(bnc_relaxation(a, t - 1) < level * (1.0 + 16 * DBL_EPSILON) +
                                             p->drift_nu * 4 * DBL_EPSILON,
                  "level %.17g: already %.17g 1 ns before %llu", level,
                  bnc_relaxation(a, t - 1), (unsigned long long)t);
}

/* bnc_relaxation_time(), per preset */
START_TEST(test_relaxation_time)
{
    static const double l[] = { 1e-9, 1e-3, 0.1, 0.5, 1.0, 2.0, 2.302585,
                                5.0, 8.0, 12.0 };
    static const double levels[] = { 1e-4, 1e-3, 0.005, 0.01, 0.02 };
    const struct bnc_region r1 = { 3, 4, 5, 6 }, r2 = { 100, 0, 28, 128 };
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a = mk(&p, 670 + _i);
    uint64_t tref = (uint64_t)(p.drift_t_ref_s * 1e9), t0 = 42 * SEC + 7;
    uint64_t t;
    unsigned k;

    /* no SET cell */
    ck_assert_uint_eq(bnc_relaxation_time(a, 1e-3), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), UINT64_MAX);

    program_region(a, &r1, set_word(&p, 60.0), t0);
    for (k = 0; k < sizeof(l) / sizeof(l[0]); k++) {
        check_level_time(a, t0, l[k] * p.drift_nu);
    }
    /* the card's alert steps (drift-alert-ppm 10000 and its fractions) */
    for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
        if (levels[k] / p.drift_nu < 30.0) {
            check_level_time(a, t0, levels[k]);
        }
    }
    /* a tiny level: the first ns past t_ref */
    t = bnc_relaxation_time(a, 1e-300);
    ck_assert_uint_ge(t, t0 + tref + 1);
    ck_assert_uint_le(t, t0 + tref + 2);
    ck_assert(bnc_relaxation(a, t) > 0.0);
    /* ages far beyond 1e14 ns: still reached when it says */
    t = bnc_relaxation_time(a, 20.0 * p.drift_nu);
    ck_assert(t != UINT64_MAX);
    ck_assert(bnc_relaxation(a, t) >= 20.0 * p.drift_nu);
    /* never: level <= 0 or NaN, or beyond 2^64 ns */
    ck_assert_uint_eq(bnc_relaxation_time(a, 0.0), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, -0.0), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, -1e-3), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, -INFINITY), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, NAN), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, 30.0 * p.drift_nu), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, 1e6), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, INFINITY), UINT64_MAX);

    /* from the oldest SET cell: a later SET elsewhere changes nothing */
    t = bnc_relaxation_time(a, p.drift_nu);
    program_all(a, WORD(BNC_PROG_SKIP, 0), t0 + 5 * tref);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), t);
    program_region(a, &r2, set_word(&p, 20.0), t0 + 5 * tref);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), t);
    /* reprogramming every SET cell: later */
    program_region(a, &r1, set_word(&p, 60.0), t0 + 5 * tref);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), t + 5 * tref);
    check_level_time(a, t0 + 5 * tref, p.drift_nu);
    /* and none left */
    program_region(a, &r1, WORD(BNC_PROG_RESET, 0), t0 + 6 * tref);
    ck_assert(bnc_relaxation_time(a, p.drift_nu) != UINT64_MAX);
    program_region(a, &r2, WORD(BNC_PROG_RESET, 0), t0 + 6 * tref);
    ck_assert_uint_eq(bnc_relaxation_time(a, p.drift_nu), UINT64_MAX);
    bnc_destroy(a);

    /* no drift: never */
    p.drift_nu = 0.0;
    a = mk(&p, 680 + _i);
    program_region(a, &r1, set_word(&p, 60.0), t0);
    ck_assert_uint_eq(bnc_relaxation_time(a, 1e-3), UINT64_MAX);
    ck_assert_uint_eq(bnc_relaxation_time(a, 1e-300), UINT64_MAX);
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
    struct bnc_params p = pessimistic();
    struct bnc_array *a;
    unsigned n0;

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
    struct bnc_params p = pessimistic();
    int in, prev = -1000, levels = 0, k;

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
    struct bnc_params p = pessimistic();
    double lsb;
    int k, s;

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
                double s = bnc_read_sigma_us(p, g);

                var_[j] += v * v * s * s;
            }
        }
    }
}

START_TEST(test_mvm_quantisation)
{
    struct bnc_params p = pessimistic_nostuck();
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
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a;
    static int16_t in[2 * BNC_ROWS];
    static int32_t out[REP * 2 * BNC_COLS];
    double mu[BNC_COLS], vr[BNC_COLS], lsb, sv_obs = 0.0, sv_exp = 0.0;
    int i, j, k;

    p.adc_bits = 24;        /* fine ADC: LSB 3e-4 uA */
    a = mk(&p, 1100 + _i);
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
    struct bnc_params p = preset_nostuck(_i);
    struct bnc_array *a;
    static int16_t in[3 * 50];
    static int32_t out[2 * 3 * 30];
    double mu[30];
    int i, j, k;

    p.read_noise_rel = 0.0;
    p.adc_bits = 20;
    a = mk(&p, 1200 + _i);
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
    struct bnc_params p = pessimistic_nostuck();
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
    ck_assert(params_equal(bnc_params(b), &p));
    ck_assert_uint_eq(bnc_stuck_count(a), bnc_stuck_count(b));
    /* the drift monitor sees the same oldest SET cells */
    ck_assert(bnc_relaxation(b, now + 3600 * SEC) > 0.0);
    ck_assert(bnc_relaxation(a, now + 3600 * SEC) ==
              bnc_relaxation(b, now + 3600 * SEC));
    ck_assert_uint_eq(bnc_relaxation_time(a, 0.01),
                      bnc_relaxation_time(b, 0.01));
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
    double nan = NAN, big_exp = 1.5, zero = 0.0, one = 1.0;
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
    bad[4] = 3;
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
    bad[16 + 22 * 8] = 99;                          /* dac_bits */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);
    memcpy(bad + 16, &nan, 8);                      /* k = NaN (LE host) */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);
    memcpy(bad + 16 + 13 * 8, &big_exp, 8);         /* read_noise_exp */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);
    memcpy(bad + 16 + 12 * 8, &zero, 8);            /* read_noise_gref_us */
    reseal(bad, len);
    expect_reject(bad, len, "param");
    memcpy(bad, img, len);                          /* exp 1 is valid */
    memcpy(bad + 16 + 13 * 8, &one, 8);
    reseal(bad, len);
    b = bnc_load(bad, len, NULL, &why);
    ck_assert_msg(b != NULL, "exp 1 refused: %s", why ? why : "?");
    ck_assert(bnc_params(b)->read_noise_exp == 1.0);
    bnc_destroy(b);
    memcpy(bad, img, len);
    memset(bad + 200, 0, 32);                       /* generator all zero */
    reseal(bad, len);
    expect_reject(bad, len, "generator");
    memcpy(bad, img, len);
    memcpy(bad + 256 + 8 * 1000, &nan, 8);          /* G0 of cell 1000 */
    reseal(bad, len);
    expect_reject(bad, len, "conductance");
    memcpy(bad, img, len);
    memcpy(bad + 256 + 8 * N + 8 * 5, &nan, 8);     /* D2D z of cell 5 */
    reseal(bad, len);
    expect_reject(bad, len, "D2D");
    memcpy(bad, img, len);
    bad[256 + 32 * N + 77] = 0x80;                  /* flags of cell 77 */
    reseal(bad, len);
    expect_reject(bad, len, "flags");
    memcpy(bad, img, len);
    bad[256 + 32 * N + 78] = 0x06;                  /* stuck high and low */
    reseal(bad, len);
    expect_reject(bad, len, "flags");
    memcpy(bad, img, len);
    bad[248] = 2;                                   /* cache valid = 2 */
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

    p = pessimistic();
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

    p = pessimistic_nostuck();
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
    const int np = (int)n_presets();
    TCase *tc;

    tc = tcase_create("params");
    tcase_add_test(tc, test_params_default);
    tcase_add_test(tc, test_preset_names);
    tcase_add_loop_test(tc, test_preset_valid, 0, np);
    tcase_add_test(tc, test_preset_unknown);
    tcase_add_test(tc, test_preset_pessimistic);
    tcase_add_test(tc, test_preset_values);
    tcase_add_loop_test(tc, test_params_reject, 0, N_BAD_PARAMS);
    tcase_add_test(tc, test_read_noise_exp_range);
    tcase_add_test(tc, test_read_sigma);
    suite_add_tcase(s, tc);

    tc = tcase_create("program");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_set_median, 0, np * N_SET_CURRENTS);
    tcase_add_loop_test(tc, test_c2c_sigma, 0, np * N_C2C_CURRENTS);
    tcase_add_loop_test(tc, test_d2d_spread, 0, np);
    tcase_add_loop_test(tc, test_reset_dist, 0, np);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_noise);
    tcase_add_loop_test(tc, test_read_noise_law, 0, np);
    tcase_add_test(tc, test_read_noise_fall);
    tcase_add_test(tc, test_normal_shape);
    tcase_add_loop_test(tc, test_relaxation, 0, np);
    suite_add_tcase(s, tc);

    tc = tcase_create("drift monitor");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_relaxation_monitor, 0, np);
    tcase_add_loop_test(tc, test_relaxation_stuck, 0, np);
    tcase_add_loop_test(tc, test_relaxation_time, 0, np);
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
    tcase_add_loop_test(tc, test_mvm_stats, 0, np);
    tcase_add_loop_test(tc, test_mvm_subregion, 0, np);
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
