/* SPDX-License-Identifier: MIT */
/*
 * bnnacc_core - physics of the bnnacc card's 128 x 128 HfOx 1T1R array.
 *
 * Plain C11, no QEMU headers, no global mutable state: everything lives in
 * struct bnc_array. bnnacc_core.h documents the model and the API; this file
 * holds the generator, the per-cell state, the MVM fast path and the state
 * image.
 *
 * Generator: xoshiro256** seeded through splitmix64; standard normals by a
 * 256-layer ziggurat (tables computed per array at creation or load).
 *
 * MVM fast path: float caches hold every cell's relaxed conductance G and
 * its read-noise sigma s(G). Per input vector one pass over the region's
 * rows accumulates, for every column, sum V * G and sum (V * s)^2 (two loads
 * and five flops per cell, all vectorised); the column's read noise is then
 * one normal draw of sigma sqrt(sum (V * s)^2), which is exactly the
 * distribution of the sum of independent per-cell noises of sigma s(G).
 */
#include "bnnacc_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Ziggurat: 256 layers of equal area under exp(-x^2/2), x >= 0. */
#define ZIG_N 256
#define ZIG_R 3.6541528853610088    /* right edge of the base layer */

/* Cache refresh threshold on ln(time since programming), see header. */
#define BNC_CACHE_DL 0.01

#define BNC_ADC_SHIFT_MAX 15

/* Constants spelled without negative exponents (QEMU's checkpatch) */
#define P2_52   4503599627370496.0      /* 2^52 */
#define P2_M52  (1.0 / P2_52)           /* 2^-52 */
#define P2_M53  (0.5 / P2_52)           /* 2^-53 */
#define MILLI   (1.0 / 1e3)
#define MICRO   (1.0 / 1e6)
#define NANO    (1.0 / 1e9)

/* Cell flags (state image and struct bnc_array). */
#define CELL_SET        0x01u       /* last programmed with SET */
#define CELL_STUCK_HIGH 0x02u
#define CELL_STUCK_LOW  0x04u
#define CELL_STUCK      (CELL_STUCK_HIGH | CELL_STUCK_LOW)
#define CELL_KNOWN      (CELL_SET | CELL_STUCK)

/* Program words (uapi/bnnacc.h) */
#define PROG_OP(w)      ((w) >> 28)
#define PROG_ISET_NA(w) ((w) & 0xffffffu)
#define PROG_RSVD_MASK  0x0f000000u

struct bnc_rng {
    uint64_t s[4];
};

struct bnc_array {
    struct bnc_params p;
    struct bnc_rng rng;
    double t_ref_ns;                /* drift_t_ref_s in ns */
    unsigned n_stuck;
    double zig_x[ZIG_N + 1];        /* layer right edges, decreasing */
    double zig_f[ZIG_N + 1];        /* exp(-x^2/2) at those edges */

    /* Per-cell state (row-major), all saved in the state image */
    double g0[BNC_CELLS];           /* uS right after programming */
    double z_d2d[BNC_CELLS];        /* D2D standard normal */
    double z_drift[BNC_CELLS];      /* relaxation standard normal */
    uint64_t t_prog[BNC_CELLS];     /* device clock of the last program */
    uint8_t flags[BNC_CELLS];       /* CELL_* */

    /* MVM cache: relaxed G at device time cache_t */
    int cache_valid;
    int cache_drifts;               /* some cell relaxes */
    uint64_t cache_t;
    uint64_t tp_min, tp_max;        /* programming times of relaxing cells */
    float geff[BNC_CELLS];
    float gsig[BNC_CELLS];          /* read-noise sigma at geff */

    uint16_t scratch[BNC_CELLS];    /* candidate list for stuck cells */
};

/* ---------------------------------------------------------------------- */
/* Generator                                                               */
/* ---------------------------------------------------------------------- */

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z;

    *x += 0x9e3779b97f4a7c15ull;
    z = *x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(struct bnc_rng *g, uint64_t seed)
{
    uint64_t x = seed;
    int i;

    for (i = 0; i < 4; i++) {
        g->s[i] = splitmix64(&x);
    }
    if (!(g->s[0] | g->s[1] | g->s[2] | g->s[3])) {
        g->s[0] = 1;        /* the all-zero state is a fixed point */
    }
}

/* xoshiro256** */
static inline uint64_t rng_next(struct bnc_rng *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 bits */
static inline double rng_unit(struct bnc_rng *g)
{
    return (double)(rng_next(g) >> 11) * P2_M53;
}

/* Uniform in (0, 1] with 53 bits: safe for log() */
static inline double rng_unit_pos(struct bnc_rng *g)
{
    return (double)((rng_next(g) >> 11) + 1) * P2_M53;
}

/* Uniform integer in [0, n), n >= 1, without modulo bias */
static uint64_t rng_below(struct bnc_rng *g, uint64_t n)
{
    uint64_t lim = (0 - n) % n;     /* 2^64 mod n */
    uint64_t x;

    do {
        x = rng_next(g);
    } while (x < lim);
    return x % n;
}

static void zig_init(struct bnc_array *a)
{
    double r = ZIG_R;
    double fr = exp(-0.5 * r * r);
    /* area of each layer: base rectangle plus the tail beyond r */
    double v = r * fr + 1.2533141373155003 * erfc(r / 1.4142135623730951);
    int i;

    a->zig_x[0] = v / fr;
    a->zig_x[1] = r;
    for (i = 1; i < ZIG_N - 1; i++) {
        double fx = exp(-0.5 * a->zig_x[i] * a->zig_x[i]);

        a->zig_x[i + 1] = sqrt(-2.0 * log(v / a->zig_x[i] + fx));
    }
    a->zig_x[ZIG_N] = 0.0;
    for (i = 0; i <= ZIG_N; i++) {
        a->zig_f[i] = exp(-0.5 * a->zig_x[i] * a->zig_x[i]);
    }
}

/*
 * Ziggurat, one 64-bit draw u: bits 7:0 pick the layer i, bits 63:11 give
 * x uniform in [-x_i, x_i). |x| < x_(i+1) (the layer's inner rectangle,
 * about 99 % of draws) is accepted at once.
 */
static inline double zig_x(uint64_t u, const double *zx)
{
    return ((double)(u >> 11) - P2_52) * P2_M52 * zx[u & 0xff];
}

/*
 * Rejection part of the ziggurat, for layer i and candidate x: the tail
 * (i == 0) always yields a value; a wedge accepts x or not. Returns 1 with
 * *x set to the result, or 0 to draw again.
 */
static int zig_slow(struct bnc_rng *g, const double *zf, unsigned i,
                    double *x)
{
    int neg = *x < 0.0;
    double ax = fabs(*x);

    if (i == 0) {
        double t, y;

        do {
            t = -log(rng_unit_pos(g)) / ZIG_R;
            y = -log(rng_unit_pos(g));
        } while (y + y < t * t);
        ax = ZIG_R + t;
    } else {
        double y = zf[i] + rng_unit(g) * (zf[i + 1] - zf[i]);

        if (y >= exp(-0.5 * ax * ax)) {
            return 0;
        }
    }
    *x = neg ? -ax : ax;
    return 1;
}

/* Standard normal */
static double rng_normal(struct bnc_rng *g, const double *zx,
                         const double *zf)
{
    for (;;) {
        uint64_t u = rng_next(g);
        double x = zig_x(u, zx);

        if (fabs(x) < zx[(u & 0xff) + 1]) {
            return x;
        }
        if (zig_slow(g, zf, (unsigned)(u & 0xff), &x)) {
            return x;
        }
    }
}

/*
 * n standard normals into out[] (as floats): the same sequence as n calls
 * of rng_normal(), with the fast path inlined and the generator in locals.
 */
static void fill_normals(struct bnc_rng *g, const double *zx, const double *zf,
                         float *out, unsigned n)
{
    uint64_t s0 = g->s[0], s1 = g->s[1], s2 = g->s[2], s3 = g->s[3];
    unsigned k = 0;

    while (k < n) {
        uint64_t u = rotl64(s1 * 5, 7) * 9;
        uint64_t t = s1 << 17;
        double x = zig_x(u, zx), y;

        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = rotl64(s3, 45);
        if (fabs(x) < zx[(u & 0xff) + 1]) {
            out[k++] = (float)x;
            continue;
        }
        g->s[0] = s0;
        g->s[1] = s1;
        g->s[2] = s2;
        g->s[3] = s3;
        y = x;  /* only the slow path takes an address */
        if (zig_slow(g, zf, (unsigned)(u & 0xff), &y)) {
            out[k++] = (float)y;
        }
        s0 = g->s[0];
        s1 = g->s[1];
        s2 = g->s[2];
        s3 = g->s[3];
    }
    g->s[0] = s0;
    g->s[1] = s1;
    g->s[2] = s2;
    g->s[3] = s3;
}

static inline double normal(struct bnc_array *a)
{
    return rng_normal(&a->rng, a->zig_x, a->zig_f);
}

/* ---------------------------------------------------------------------- */
/* Parameters and pure helpers                                             */
/* ---------------------------------------------------------------------- */

/*
 * The presets, in the order of bnc_preset_name(); the default first.
 * docs/physics.md gives the published figure, table or code behind every
 * value (the short keys below are its references) and says which values
 * are still assumed.
 */
static const struct bnc_preset {
    const char *name;
    struct bnc_params p;
} bnc_presets[] = {
    {
        /* single-SET filamentary HfOx 1T1R, the seed group's device class */
        "hfox", {
            .k_us_per_ua = 2.0,             /* assumed */
            .iset_min_ua = 5.0,             /* assumed */
            .iset_max_ua = 100.0,           /* assumed */
            .g_min_us = 0.1,                /* emulator floor */
            .g_max_us = 200.0,              /* assumed; Milo fit to 225 */
            .c2c_slope = -0.009107,         /* [XSIM-MILO] Fig. 4 fit */
            .c2c_icpt_us = 4.782,           /* [XSIM-MILO] */
            .c2c_floor_us = 0.5,            /* assumed (fit ends at 225) */
            .d2d_ratio = 0.5,               /* [B23] C2C ~ D2D, Methods */
            .reset_med_us = 2.0,            /* assumed */
            .reset_lsig = 0.45,             /* [SYN] HRS C2C 0.19 decade */
            .read_noise_rel = 0.0034,       /* [AIHW-CMO] read-noise law */
            .read_noise_gref_us = 50.0,     /* [AIHW-CMO] reference G */
            .read_noise_exp = 0.69,         /* [AIHW-CMO] fit 8-90 uS */
            .drift_t_ref_s = 6.0,           /* [B23] read 6 s after SET */
            .drift_nu = 0.00178,            /* [AIHW-CMO] 0.089 uS / 50 */
            .drift_sig = 0.00084,           /* [AIHW-CMO] 0.042 uS / 50 */
            .stuck_frac = 0.002,            /* [L18] 99.8 % yield */
            .stuck_high_us = 200.0,         /* = g_max */
            .stuck_low_us = 1.0,            /* assumed */
            .dac_bits = 7,                  /* [AIHW-IO] 7-bit DAC */
            .adc_bits = 9,                  /* [AIHW-IO] 9-bit ADC */
            .read_v = 0.1,                  /* assumed */
            .adc_fs_ua = 2560.0,            /* 128 rows x 200 uS x 0.1 V */
        },
    },
    {
        /* IBM's CMO/HfOx analog ReRAM, aihwkit ReRamCMONoiseModel (2 %) */
        "cmo-hfox", {
            .k_us_per_ua = 1.0,             /* convention: I in uA = G */
            .iset_min_ua = 9.0,             /* [AIHW-CMO] g_min 9 uS */
            .iset_max_ua = 88.19,           /* [AIHW-CMO] g_max */
            .g_min_us = 0.1,                /* emulator floor */
            .g_max_us = 88.19,              /* [AIHW-CMO] */
            .c2c_slope = 0.01129027418,     /* [AIHW-CMO] prog. noise */
            .c2c_icpt_us = 0.0112185391,    /* [AIHW-CMO] */
            .c2c_floor_us = 0.0,
            .d2d_ratio = 0.0,               /* [AIHW-CMO] no D2D term */
            .reset_med_us = 9.0,            /* [AIHW-CMO] lowest state */
            .reset_lsig = 0.0125,           /* [AIHW-CMO] 0.113 uS at 9 */
            .read_noise_rel = 0.0034,       /* [AIHW-CMO] */
            .read_noise_gref_us = 50.0,
            .read_noise_exp = 0.69,
            .drift_t_ref_s = 1.0,           /* [AIHW-CMO] t in s */
            .drift_nu = 0.00178,            /* [AIHW-CMO] */
            .drift_sig = 0.00084,           /* [AIHW-CMO] */
            .stuck_frac = 0.0,              /* [AIHW-CMO] none */
            .stuck_high_us = 88.19,
            .stuck_low_us = 9.0,
            .dac_bits = 7,                  /* [AIHW-IO] */
            .adc_bits = 9,                  /* [AIHW-IO] */
            .read_v = 0.1,                  /* assumed */
            .adc_fs_ua = 1129.0,            /* 128 x 88.19 uS x 0.1 V */
        },
    },
    {
        /* the emulator's first set: flat 2 % read noise, faster drift */
        "pessimistic", {
            .k_us_per_ua = 2.0, .iset_min_ua = 5.0, .iset_max_ua = 100.0,
            .g_min_us = 0.1, .g_max_us = 200.0,
            .c2c_slope = -0.009107, .c2c_icpt_us = 4.782,
            .c2c_floor_us = 0.5, .d2d_ratio = 0.7,
            .reset_med_us = 2.0, .reset_lsig = 0.3,
            .read_noise_rel = 0.02, .read_noise_gref_us = 100.0,
            .read_noise_exp = 0.0,
            .drift_t_ref_s = 1.0, .drift_nu = 0.005, .drift_sig = 0.002,
            .stuck_frac = 0.001, .stuck_high_us = 200.0, .stuck_low_us = 1.0,
            .dac_bits = 8, .adc_bits = 9, .read_v = 0.1, .adc_fs_ua = 2560.0,
        },
    },
};

const char *bnc_preset_name(unsigned i)
{
    return i < sizeof(bnc_presets) / sizeof(bnc_presets[0]) ?
           bnc_presets[i].name : NULL;
}

int bnc_params_preset(struct bnc_params *p, const char *name)
{
    unsigned i;

    if (!name) {
        name = BNC_PRESET_DEFAULT;
    }
    for (i = 0; bnc_preset_name(i); i++) {
        if (!strcmp(bnc_presets[i].name, name)) {
            *p = bnc_presets[i].p;
            return 0;
        }
    }
    return -BNC_EARG;
}

void bnc_params_default(struct bnc_params *p)
{
    if (bnc_params_preset(p, NULL)) {
        abort();        /* BNC_PRESET_DEFAULT names no preset: a build bug */
    }
}

static int in_range(double x, double lo, double hi)
{
    return isfinite(x) && x >= lo && x <= hi;
}

static int fail(const char **why, const char *msg)
{
    if (why) {
        *why = msg;
    }
    return -BNC_EARG;
}

int bnc_params_check(const struct bnc_params *p, const char **why)
{
    if (!p) {
        return fail(why, "no parameters");
    }
    if (!in_range(p->k_us_per_ua, MICRO, 1e4)) {
        return fail(why, "k_us_per_ua must be in (0, 1e4]");
    }
    if (!in_range(p->iset_min_ua, MILLI, 16777.215) ||
        !in_range(p->iset_max_ua, MILLI, 16777.215)) {
        return fail(why, "SET currents must be in [1 nA, 16777.215 uA]");
    }
    if (!(p->iset_min_ua < p->iset_max_ua)) {
        return fail(why, "iset_min_ua must be below iset_max_ua");
    }
    if (!in_range(p->g_min_us, MICRO, 1e6) ||
        !in_range(p->g_max_us, MICRO, 1e6)) {
        return fail(why, "g_min_us and g_max_us must be in (0, 1e6]");
    }
    if (!(p->g_min_us < p->g_max_us)) {
        return fail(why, "g_min_us must be below g_max_us");
    }
    if (!in_range(p->c2c_slope, -1e3, 1e3) ||
        !in_range(p->c2c_icpt_us, -1e6, 1e6) ||
        !in_range(p->c2c_floor_us, 0.0, 1e6)) {
        return fail(why, "C2C curve out of range (floor must be >= 0)");
    }
    if (!in_range(p->d2d_ratio, 0.0, 100.0)) {
        return fail(why, "d2d_ratio must be in [0, 100]");
    }
    if (!in_range(p->reset_med_us, MICRO, 1e6) ||
        !in_range(p->reset_lsig, 0.0, 10.0)) {
        return fail(why, "RESET median must be in (0, 1e6], log-sigma in "
                    "[0, 10]");
    }
    if (!in_range(p->read_noise_rel, 0.0, 1.0) ||
        !in_range(p->read_noise_gref_us, MICRO, 1e6) ||
        !in_range(p->read_noise_exp, 0.0, 1.0)) {
        return fail(why, "read_noise_rel must be in [0, 1], "
                    "read_noise_gref_us in (0, 1e6], read_noise_exp in [0, 1]");
    }
    if (!in_range(p->drift_t_ref_s, NANO, 1e9)) {
        return fail(why, "drift_t_ref_s must be in [1 ns, 1e9 s]");
    }
    if (!in_range(p->drift_nu, -1.0, 1.0) ||
        !in_range(p->drift_sig, 0.0, 1.0)) {
        return fail(why, "drift_nu must be in [-1, 1], drift_sig in [0, 1]");
    }
    if (!in_range(p->stuck_frac, 0.0, 1.0)) {
        return fail(why, "stuck_frac must be in [0, 1]");
    }
    if (!in_range(p->stuck_high_us, 0.0, 1e6) ||
        !in_range(p->stuck_low_us, 0.0, 1e6)) {
        return fail(why, "stuck conductances must be in [0, 1e6]");
    }
    if (p->dac_bits < 2 || p->dac_bits > 16) {
        return fail(why, "dac_bits must be in 2..16");
    }
    if (p->adc_bits < 2 || p->adc_bits > 24) {
        return fail(why, "adc_bits must be in 2..24");
    }
    if (!in_range(p->read_v, MICRO, 10.0)) {
        return fail(why, "read_v must be in (0, 10] V");
    }
    if (!in_range(p->adc_fs_ua, MICRO, 1e9)) {
        return fail(why, "adc_fs_ua must be in (0, 1e9]");
    }
    return 0;
}

const struct bnc_params *bnc_params(const struct bnc_array *a)
{
    return &a->p;
}

int bnc_region_check(const struct bnc_region *r)
{
    if (!r || r->rows == 0 || r->cols == 0 ||
        r->row >= BNC_ROWS || r->col >= BNC_COLS ||
        r->rows > BNC_ROWS - r->row || r->cols > BNC_COLS - r->col) {
        return -BNC_EREGION;
    }
    return 0;
}

double bnc_set_median_us(const struct bnc_params *p, double iset_ua)
{
    double g = p->k_us_per_ua * iset_ua;

    if (g > p->g_max_us) {
        g = p->g_max_us;
    }
    if (!(g >= p->g_min_us)) {
        g = p->g_min_us;
    }
    return g;
}

double bnc_c2c_sigma_us(const struct bnc_params *p, double g_med_us)
{
    double s = p->c2c_slope * g_med_us + p->c2c_icpt_us;

    return s > p->c2c_floor_us ? s : p->c2c_floor_us;
}

double bnc_read_sigma_us(const struct bnc_params *p, double g_us)
{
    if (!(g_us > 0.0)) {
        return 0.0;
    }
    if (p->read_noise_exp == 0.0) {
        return p->read_noise_rel * g_us;
    }
    return p->read_noise_rel * g_us *
           pow(g_us / p->read_noise_gref_us, -p->read_noise_exp);
}

/* Largest DAC code; bits clamped to the valid 2..16 (no UB on bad params) */
static inline int dac_max(const struct bnc_params *p)
{
    unsigned b = p->dac_bits < 2 ? 2 : p->dac_bits > 16 ? 16 : p->dac_bits;

    return (1 << (b - 1)) - 1;
}

static inline int dac_code(int m, int16_t in)
{
    /*
     * round(in * m / 32767), halves away from zero, exact in 32-bit
     * integers: 2 * 32768 * 32767 + 32767 < 2^31.
     */
    int32_t n = (int32_t)in * m;
    uint32_t q = ((uint32_t)(n < 0 ? -n : n) * 2u + 32767u) / 65534u;

    if (q > (uint32_t)m) {
        q = (uint32_t)m;
    }
    return n < 0 ? -(int)q : (int)q;
}

int bnc_dac(const struct bnc_params *p, int16_t in)
{
    return dac_code(dac_max(p), in);
}

double bnc_dac_volts(const struct bnc_params *p, int16_t in)
{
    int m = dac_max(p);

    return (double)dac_code(m, in) / m * p->read_v;
}

/* ADC code of x (scaled to codes, not NaN): saturate, round half away */
static inline int32_t adc_round(double x, double amax)
{
    int32_t q;
    double f;

    x = x < amax ? x : amax;
    x = x > -amax ? x : -amax;
    q = (int32_t)x;
    f = x - (double)q;
    return q + (f >= 0.5) - (f <= -0.5);
}

/* Largest ADC code; bits clamped to the valid 2..24 */
static inline double adc_max(const struct bnc_params *p)
{
    unsigned b = p->adc_bits < 2 ? 2 : p->adc_bits > 24 ? 24 : p->adc_bits;

    return (double)((1u << (b - 1)) - 1);
}

static double adc_scale(const struct bnc_params *p, unsigned adc_shift)
{
    if (adc_shift > 62) {
        adc_shift = 62;
    }
    return adc_max(p) / ldexp(p->adc_fs_ua, -(int)adc_shift);
}

int32_t bnc_adc(const struct bnc_params *p, double current_ua,
                unsigned adc_shift)
{
    double x = current_ua * adc_scale(p, adc_shift);

    return x != x ? 0 : adc_round(x, adc_max(p));
}

/* ---------------------------------------------------------------------- */
/* Cells                                                                   */
/* ---------------------------------------------------------------------- */

/* L = ln(t / t_ref) for the time since programming, 0 up to t_ref */
static double drift_l(const struct bnc_array *a, uint64_t tp, uint64_t now)
{
    double e;

    if (now <= tp) {
        return 0.0;
    }
    e = (double)(now - tp);
    return e > a->t_ref_ns ? log(e / a->t_ref_ns) : 0.0;
}

/* Cells programmed together share t_prog: remember the last L computed. */
struct l_memo {
    int valid;
    uint64_t tp;
    double l;
};

static inline double memo_l(const struct bnc_array *a, struct l_memo *m,
                            uint64_t tp, uint64_t now)
{
    if (!m->valid || m->tp != tp) {
        m->valid = 1;
        m->tp = tp;
        m->l = drift_l(a, tp, now);
    }
    return m->l;
}

static inline int cell_stuck(const struct bnc_array *a, unsigned i)
{
    return (a->flags[i] & CELL_STUCK) != 0;
}

/* Conductance of cell i without read noise, given its L */
static double cell_g(const struct bnc_array *a, unsigned i, double l)
{
    const struct bnc_params *p = &a->p;
    double g;

    if (a->flags[i] & CELL_STUCK_HIGH) {
        return p->stuck_high_us;
    }
    if (a->flags[i] & CELL_STUCK_LOW) {
        return p->stuck_low_us;
    }
    g = a->g0[i] * (1.0 - p->drift_nu * l) +
        a->g0[i] * p->drift_sig * l * a->z_drift[i];
    return g > p->g_min_us ? g : p->g_min_us;
}

static double cell_g_now(const struct bnc_array *a, unsigned i, uint64_t now)
{
    return cell_g(a, i, drift_l(a, a->t_prog[i], now));
}

static void cell_set(struct bnc_array *a, unsigned i, double iset_ua,
                     uint64_t now)
{
    const struct bnc_params *p = &a->p;
    double med = bnc_set_median_us(p, iset_ua);
    double sig = bnc_c2c_sigma_us(p, med);
    double g = med + p->d2d_ratio * sig * a->z_d2d[i] + sig * normal(a);

    a->g0[i] = g > p->g_min_us ? g : p->g_min_us;
    a->z_drift[i] = normal(a);
    a->t_prog[i] = now;
    a->flags[i] |= CELL_SET;
}

static void cell_reset(struct bnc_array *a, unsigned i, uint64_t now)
{
    const struct bnc_params *p = &a->p;
    double g = p->reset_med_us * exp(p->reset_lsig * normal(a));

    a->g0[i] = g > p->g_min_us ? g : p->g_min_us;
    a->z_drift[i] = normal(a);
    a->t_prog[i] = now;
    a->flags[i] &= (uint8_t)~CELL_SET;
}

/* ---------------------------------------------------------------------- */
/* MVM cache                                                               */
/* ---------------------------------------------------------------------- */

static void cache_refresh(struct bnc_array *a, uint64_t now)
{
    struct l_memo m = { 0, 0, 0.0 };
    uint64_t tmin = UINT64_MAX, tmax = 0;
    int drifts = 0;
    unsigned i;

    for (i = 0; i < BNC_CELLS; i++) {
        double g;

        if (cell_stuck(a, i)) {
            g = cell_g(a, i, 0.0);
        } else {
            uint64_t tp = a->t_prog[i];

            tmin = tp < tmin ? tp : tmin;
            tmax = tp > tmax ? tp : tmax;
            drifts = 1;
            g = cell_g(a, i, memo_l(a, &m, tp, now));
        }
        a->geff[i] = (float)g;
        a->gsig[i] = (float)bnc_read_sigma_us(&a->p, g);
    }
    a->cache_valid = 1;
    a->cache_t = now;
    a->cache_drifts = drifts &&
        (a->p.drift_nu != 0.0 || a->p.drift_sig != 0.0);
    a->tp_min = tmin;
    a->tp_max = tmax;
}

/*
 * Is the cache more than BNC_CACHE_DL away in L from the exact value for
 * some cell? For a cell whose age was e at cache_t, L moves by
 * f(e + d) - f(e) with f(e) = ln(max(e, t_ref) / t_ref) and d = now -
 * cache_t; that is largest at the age closest to t_ref within the ages
 * [cache_t - tp_max, cache_t - tp_min] of the relaxing cells.
 */
static int cache_stale(const struct bnc_array *a, uint64_t now)
{
    double d, lo, hi, e, num, den;

    if (!a->cache_valid || now < a->cache_t) {
        return 1;
    }
    if (now == a->cache_t || !a->cache_drifts) {
        return 0;
    }
    d = (double)(now - a->cache_t);
    lo = a->cache_t > a->tp_max ? (double)(a->cache_t - a->tp_max) : 0.0;
    hi = a->cache_t > a->tp_min ? (double)(a->cache_t - a->tp_min) : 0.0;
    e = a->t_ref_ns;
    e = e < lo ? lo : e;
    e = e > hi ? hi : e;
    num = e + d > a->t_ref_ns ? e + d : a->t_ref_ns;
    den = e > a->t_ref_ns ? e : a->t_ref_ns;
    return log(num / den) > BNC_CACHE_DL;
}

/* ---------------------------------------------------------------------- */
/* Manufacture                                                             */
/* ---------------------------------------------------------------------- */

static void derive(struct bnc_array *a)
{
    a->t_ref_ns = a->p.drift_t_ref_s * 1e9;
    zig_init(a);
}

/* Stick up to n cells not yet stuck, chosen uniformly; returns how many. */
static unsigned stick_cells(struct bnc_array *a, unsigned n)
{
    unsigned m = 0, k, i;

    for (i = 0; i < BNC_CELLS; i++) {
        if (!cell_stuck(a, i)) {
            a->scratch[m++] = (uint16_t)i;
        }
    }
    if (n > m) {
        n = m;
    }
    for (k = 0; k < n; k++) {
        unsigned j = k + (unsigned)rng_below(&a->rng, m - k);
        uint16_t c = a->scratch[j];

        a->scratch[j] = a->scratch[k];
        a->scratch[k] = c;
        a->flags[c] |= (rng_next(&a->rng) >> 63) ? CELL_STUCK_HIGH
                                                  : CELL_STUCK_LOW;
    }
    a->n_stuck += n;
    if (n) {
        a->cache_valid = 0;
    }
    return n;
}

struct bnc_array *bnc_create(const struct bnc_params *p, uint64_t seed)
{
    struct bnc_array *a;
    unsigned i;

    if (bnc_params_check(p, NULL)) {
        return NULL;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        return NULL;
    }
    a->p = *p;
    derive(a);
    rng_seed(&a->rng, seed);
    for (i = 0; i < BNC_CELLS; i++) {
        a->z_d2d[i] = normal(a);
    }
    for (i = 0; i < BNC_CELLS; i++) {
        cell_reset(a, i, 0);
    }
    stick_cells(a, (unsigned)floor(p->stuck_frac * BNC_CELLS + 0.5));
    a->cache_valid = 0;
    return a;
}

void bnc_destroy(struct bnc_array *a)
{
    free(a);
}

unsigned bnc_add_stuck(struct bnc_array *a, unsigned n)
{
    return stick_cells(a, n);
}

unsigned bnc_stuck_count(const struct bnc_array *a)
{
    return a->n_stuck;
}

int bnc_is_stuck(const struct bnc_array *a, unsigned row, unsigned col)
{
    if (row >= BNC_ROWS || col >= BNC_COLS) {
        return 0;
    }
    return cell_stuck(a, row * BNC_COLS + col);
}

/* Earliest programming time of the cells now SET (not stuck); 0 if none */
static int oldest_set(const struct bnc_array *a, uint64_t *t)
{
    uint64_t tmin = UINT64_MAX;
    unsigned i;

    for (i = 0; i < BNC_CELLS; i++) {
        if ((a->flags[i] & (CELL_SET | CELL_STUCK)) == CELL_SET &&
            a->t_prog[i] < tmin) {
            tmin = a->t_prog[i];
        }
    }
    *t = tmin;
    return tmin != UINT64_MAX;
}

double bnc_relaxation(const struct bnc_array *a, uint64_t now_ns)
{
    uint64_t t;

    if (!oldest_set(a, &t)) {
        return 0.0;
    }
    return a->p.drift_nu * drift_l(a, t, now_ns);
}

uint64_t bnc_relaxation_time(const struct bnc_array *a, double level)
{
    double l, e;
    uint64_t t;

    if (!(level > 0.0) || !(a->p.drift_nu > 0.0) || !oldest_set(a, &t)) {
        return UINT64_MAX;
    }
    l = level / a->p.drift_nu;
    if (l > 700.0) {
        return UINT64_MAX;
    }
    /* the first ns at which ln(e / t_ref) >= l; drift_l() is 0 up to t_ref */
    e = fmax(ceil(a->t_ref_ns * exp(l)), floor(a->t_ref_ns) + 1.0);
    if (!(e < 1.8e19) || (double)t + e >= 1.8e19) {
        return UINT64_MAX;
    }
    return t + (uint64_t)e;
}

/* ---------------------------------------------------------------------- */
/* Program and read                                                        */
/* ---------------------------------------------------------------------- */

static int word_check(const struct bnc_params *p, uint32_t w)
{
    uint32_t op = PROG_OP(w);

    if (w & PROG_RSVD_MASK) {
        return -BNC_EWORD;
    }
    if (op == BNC_PROG_SET) {
        double na = (double)PROG_ISET_NA(w);

        if (na < p->iset_min_ua * 1000.0 || na > p->iset_max_ua * 1000.0) {
            return -BNC_EWORD;
        }
    } else if (op != BNC_PROG_SKIP && op != BNC_PROG_RESET) {
        return -BNC_EWORD;
    }
    return 0;
}

int bnc_program(struct bnc_array *a, const struct bnc_region *r,
                const uint32_t *words, uint64_t now_ns)
{
    unsigned i, j, n;
    int rc = bnc_region_check(r);

    if (rc) {
        return rc;
    }
    if (!words) {
        return -BNC_EARG;
    }
    n = r->rows * r->cols;
    for (i = 0; i < n; i++) {
        rc = word_check(&a->p, words[i]);
        if (rc) {
            return rc;
        }
    }
    for (i = 0; i < r->rows; i++) {
        for (j = 0; j < r->cols; j++) {
            uint32_t w = words[i * r->cols + j];
            unsigned c = (r->row + i) * BNC_COLS + r->col + j;

            if (cell_stuck(a, c) || PROG_OP(w) == BNC_PROG_SKIP) {
                continue;
            }
            if (PROG_OP(w) == BNC_PROG_SET) {
                cell_set(a, c, PROG_ISET_NA(w) / 1000.0, now_ns);
            } else {
                cell_reset(a, c, now_ns);
            }
            a->cache_valid = 0;
        }
    }
    return 0;
}

double bnc_cell_g_us(struct bnc_array *a, unsigned row, unsigned col,
                     uint64_t now_ns)
{
    if (row >= BNC_ROWS || col >= BNC_COLS) {
        return NAN;
    }
    return cell_g_now(a, row * BNC_COLS + col, now_ns);
}

int bnc_read(struct bnc_array *a, const struct bnc_region *r, uint32_t *out_ns,
             uint64_t now_ns)
{
    struct l_memo m = { 0, 0, 0.0 };
    const double gmin = a->p.g_min_us;
    unsigned i, j;
    int rc = bnc_region_check(r);

    if (rc) {
        return rc;
    }
    if (!out_ns) {
        return -BNC_EARG;
    }
    for (i = 0; i < r->rows; i++) {
        for (j = 0; j < r->cols; j++) {
            unsigned c = (r->row + i) * BNC_COLS + r->col + j;
            double g = cell_g(a, c, cell_stuck(a, c) ? 0.0 :
                              memo_l(a, &m, a->t_prog[c], now_ns));
            double ns;

            g += bnc_read_sigma_us(&a->p, g) * normal(a);
            ns = (g > gmin ? g : gmin) * 1000.0;
            *out_ns++ = ns >= 4294967295.0 ? UINT32_MAX
                                           : (uint32_t)(ns + 0.5);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* MVM                                                                     */
/* ---------------------------------------------------------------------- */

/* Columns are processed in blocks of this many (constant trip count). */
#define MVM_BLK 32

/*
 * For the columns of the blocks [c0, c1) (multiples of MVM_BLK) of @rows
 * rows of the row-major BNC_COLS-wide matrices g (conductance) and sg
 * (its read-noise sigma): mu[c] = sum_r v[r] * g[r][c] and var[c] =
 * sum_r (v[r] * sg[r][c])^2. Four rows per step keep the accumulators'
 * loads and stores down; the inner loops are contiguous with a constant
 * trip count, so gcc -O2 vectorises them.
 */
static void mvm_accumulate(const float *restrict g, const float *restrict sg,
                           const float *restrict v, unsigned rows,
                           unsigned c0, unsigned c1, float *restrict mu,
                           float *restrict var)
{
    unsigned r, c, b;

    for (c = c0; c < c1; c++) {
        mu[c] = 0.0f;
        var[c] = 0.0f;
    }
    for (r = 0; r + 4 <= rows; r += 4) {
        const float a0 = v[r], a1 = v[r + 1], a2 = v[r + 2], a3 = v[r + 3];

        for (b = c0; b < c1; b += MVM_BLK) {
            const size_t o = (size_t)r * BNC_COLS + b;
            const float *g0 = g + o, *g1 = g0 + BNC_COLS;
            const float *g2 = g1 + BNC_COLS, *g3 = g2 + BNC_COLS;
            const float *s0 = sg + o, *s1 = s0 + BNC_COLS;
            const float *s2 = s1 + BNC_COLS, *s3 = s2 + BNC_COLS;
            float *restrict m = mu + b;
            float *restrict s = var + b;

            for (c = 0; c < MVM_BLK; c++) {
                float t0 = a0 * s0[c], t1 = a1 * s1[c];
                float t2 = a2 * s2[c], t3 = a3 * s3[c];

                m[c] += (a0 * g0[c] + a1 * g1[c]) + (a2 * g2[c] + a3 * g3[c]);
                s[c] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3);
            }
        }
    }
    for (; r < rows; r++) {
        const float a0 = v[r];

        for (b = c0; b < c1; b += MVM_BLK) {
            const size_t o = (size_t)r * BNC_COLS + b;
            const float *g0 = g + o, *s0 = sg + o;
            float *restrict m = mu + b;
            float *restrict s = var + b;

            for (c = 0; c < MVM_BLK; c++) {
                float t0 = a0 * s0[c];

                m[c] += a0 * g0[c];
                s[c] += t0 * t0;
            }
        }
    }
}

/*
 * o[i] = ADC code of m[i] + sd[i] * nz[i], already scaled to codes, for
 * i < cols rounded up to a multiple of 8 (the arrays are padded). In float,
 * which is exact enough: codes have at most 24 bits and the noise spans
 * many ulps. Saturates at +-amax and rounds halves away from zero. Runs of
 * 8 with a constant trip count let gcc -O2 vectorise the loop.
 */
static void mvm_adc(const float *restrict m, const float *restrict sd,
                    const float *restrict nz, unsigned cols, float amax,
                    int32_t *restrict o)
{
    unsigned i, j;

    for (i = 0; i < cols; i += 8) {
        for (j = 0; j < 8; j++) {
            float x = m[i + j] + sd[i + j] * nz[i + j];
            int32_t q;
            float f;

            x = x < amax ? x : amax;
            x = x > -amax ? x : -amax;
            q = (int32_t)x;
            f = x - (float)q;
            o[i + j] = q + (f >= 0.5f) - (f <= -0.5f);
        }
    }
}

int bnc_mvm(struct bnc_array *a, const struct bnc_region *r,
            const int16_t *in, unsigned count, unsigned repeat,
            unsigned adc_shift, int32_t *out, uint64_t now_ns)
{
    float v[BNC_ROWS];
    float mu[BNC_COLS], var[BNC_COLS];
    float m[BNC_COLS], sd[BNC_COLS], nz[BNC_COLS];
    int32_t q[BNC_COLS];
    struct bnc_rng g;
    const double *zx = a->zig_x, *zf = a->zig_f;
    const float *gbase, *sbase;
    double scale, amax, vstep;
    unsigned j, k, i, c0, c1, n8;
    int dmax;
    int rc = bnc_region_check(r);

    if (rc) {
        return rc;
    }
    if (!in || !out || count == 0 || adc_shift > BNC_ADC_SHIFT_MAX) {
        return -BNC_EARG;
    }
    if (repeat == 0) {
        repeat = 1;
    }
    if (cache_stale(a, now_ns)) {
        cache_refresh(a, now_ns);
    }
    dmax = dac_max(&a->p);
    vstep = a->p.read_v / dmax;
    amax = adc_max(&a->p);
    scale = adc_scale(&a->p, adc_shift);
    gbase = a->geff + (size_t)r->row * BNC_COLS;
    sbase = a->gsig + (size_t)r->row * BNC_COLS;
    c0 = r->col / MVM_BLK * MVM_BLK;
    c1 = (r->col + r->cols + MVM_BLK - 1) / MVM_BLK * MVM_BLK;
    n8 = (r->cols + 7) & ~7u;
    memset(m, 0, sizeof(m));
    memset(sd, 0, sizeof(sd));
    memset(nz, 0, sizeof(nz));
    g = a->rng;     /* local copy: lets the compiler keep it in registers */

    for (j = 0; j < count; j++) {
        const int16_t *x = in + (size_t)j * r->rows;

        for (i = 0; i < r->rows; i++) {
            v[i] = (float)(dac_code(dmax, x[i]) * vstep);
        }
        mvm_accumulate(gbase, sbase, v, r->rows, c0, c1, mu, var);
        for (i = 0; i < r->cols; i++) {
            m[i] = (float)(mu[r->col + i] * scale);
            sd[i] = (float)(sqrt((double)var[r->col + i]) * scale);
        }
        for (k = 0; k < repeat; k++) {
            fill_normals(&g, zx, zf, nz, r->cols);
            mvm_adc(m, sd, nz, n8, (float)amax, q);
            memcpy(out + ((size_t)k * count + j) * r->cols, q,
                   r->cols * sizeof(*q));
        }
    }
    a->rng = g;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* State image                                                             */
/* ---------------------------------------------------------------------- */

#define IMG_MAGIC       BNC_STATE_MAGIC
#define IMG_VERSION     BNC_STATE_VERSION
#define IMG_NDOUBLE_P   22              /* doubles among the params */
#define IMG_HDR         16
#define IMG_PARAMS      (IMG_NDOUBLE_P * 8 + 2 * 4)
#define IMG_GLOBAL      (4 * 8 + 8 + 8 + 4 + 4)
#define IMG_CELLS       ((size_t)BNC_CELLS * (8 * 4 + 1))
#define IMG_BODY        (IMG_HDR + IMG_PARAMS + IMG_GLOBAL + IMG_CELLS)
#define IMG_SIZE        (IMG_BODY + 8)

/* Largest |z| a stored standard normal may have (the generator's is ~14) */
#define IMG_Z_MAX       64.0
#define IMG_G_MAX       1e9

struct cursor {
    uint8_t *w;
    const uint8_t *r;
    size_t off, len;
};

/* Little-endian stores and loads of n <= 8 bytes, bounds-checked */
static void put_le(struct cursor *c, uint64_t x, unsigned n)
{
    unsigned i;

    if (c->off <= c->len && n <= c->len - c->off) {
        for (i = 0; i < n; i++) {
            c->w[c->off + i] = (uint8_t)(x >> (8 * i));
        }
    }
    c->off += n;
}

static uint64_t get_le(struct cursor *c, unsigned n)
{
    uint64_t x = 0;
    unsigned i;

    if (c->off <= c->len && n <= c->len - c->off) {
        for (i = 0; i < n; i++) {
            x |= (uint64_t)c->r[c->off + i] << (8 * i);
        }
    }
    c->off += n;
    return x;
}

static void put_u8(struct cursor *c, uint8_t x)
{
    put_le(c, x, 1);
}

static void put_u32(struct cursor *c, uint32_t x)
{
    put_le(c, x, 4);
}

static void put_u64(struct cursor *c, uint64_t x)
{
    put_le(c, x, 8);
}

static void put_f64(struct cursor *c, double d)
{
    uint64_t x;

    memcpy(&x, &d, sizeof(x));
    put_le(c, x, 8);
}

static uint8_t get_u8(struct cursor *c)
{
    return (uint8_t)get_le(c, 1);
}

static uint32_t get_u32(struct cursor *c)
{
    return (uint32_t)get_le(c, 4);
}

static uint64_t get_u64(struct cursor *c)
{
    return get_le(c, 8);
}

static double get_f64(struct cursor *c)
{
    uint64_t x = get_le(c, 8);
    double d;

    memcpy(&d, &x, sizeof(d));
    return d;
}

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

/* The params' doubles in image order */
static double *param_slot(struct bnc_params *p, int i)
{
    double *slots[IMG_NDOUBLE_P] = {
        &p->k_us_per_ua, &p->iset_min_ua, &p->iset_max_ua, &p->g_min_us,
        &p->g_max_us, &p->c2c_slope, &p->c2c_icpt_us, &p->c2c_floor_us,
        &p->d2d_ratio, &p->reset_med_us, &p->reset_lsig,
        &p->read_noise_rel, &p->read_noise_gref_us, &p->read_noise_exp,
        &p->drift_t_ref_s, &p->drift_nu,
        &p->drift_sig, &p->stuck_frac, &p->stuck_high_us,
        &p->stuck_low_us, &p->read_v, &p->adc_fs_ua,
    };

    return slots[i];
}

size_t bnc_state_size(void)
{
    return IMG_SIZE;
}

int bnc_save(const struct bnc_array *a, uint64_t now_ns, void *buf,
             size_t len)
{
    struct cursor c = { buf, NULL, 0, IMG_SIZE };
    struct bnc_params p;
    unsigned i;
    int k;

    if (!a || !buf || len < IMG_SIZE) {
        return -BNC_EARG;
    }
    p = a->p;
    put_u32(&c, IMG_MAGIC);
    put_u32(&c, IMG_VERSION);
    put_u32(&c, BNC_ROWS);
    put_u32(&c, BNC_COLS);
    for (k = 0; k < IMG_NDOUBLE_P; k++) {
        put_f64(&c, *param_slot(&p, k));
    }
    put_u32(&c, p.dac_bits);
    put_u32(&c, p.adc_bits);
    for (k = 0; k < 4; k++) {
        put_u64(&c, a->rng.s[k]);
    }
    put_u64(&c, now_ns);
    put_u64(&c, a->cache_t);
    put_u32(&c, a->cache_valid ? 1 : 0);
    put_u32(&c, 0);
    for (i = 0; i < BNC_CELLS; i++) {
        put_f64(&c, a->g0[i]);
    }
    for (i = 0; i < BNC_CELLS; i++) {
        put_f64(&c, a->z_d2d[i]);
    }
    for (i = 0; i < BNC_CELLS; i++) {
        put_f64(&c, a->z_drift[i]);
    }
    for (i = 0; i < BNC_CELLS; i++) {
        put_u64(&c, a->t_prog[i]);
    }
    for (i = 0; i < BNC_CELLS; i++) {
        put_u8(&c, a->flags[i]);
    }
    put_u64(&c, fnv1a64(buf, IMG_BODY));
    return 0;
}

static struct bnc_array *load_fail(struct bnc_array *a, const char **why,
                                   const char *msg)
{
    free(a);
    if (why) {
        *why = msg;
    }
    return NULL;
}

/* Per-cell part of the image; 0 or a message */
static const char *load_cells(struct bnc_array *a, struct cursor *c)
{
    const double gmin = a->p.g_min_us;
    unsigned i;

    for (i = 0; i < BNC_CELLS; i++) {
        a->g0[i] = get_f64(c);
        if (!in_range(a->g0[i], gmin, IMG_G_MAX)) {
            return "state image: cell conductance out of range";
        }
    }
    for (i = 0; i < BNC_CELLS; i++) {
        a->z_d2d[i] = get_f64(c);
        if (!in_range(a->z_d2d[i], -IMG_Z_MAX, IMG_Z_MAX)) {
            return "state image: cell D2D offset out of range";
        }
    }
    for (i = 0; i < BNC_CELLS; i++) {
        a->z_drift[i] = get_f64(c);
        if (!in_range(a->z_drift[i], -IMG_Z_MAX, IMG_Z_MAX)) {
            return "state image: cell relaxation draw out of range";
        }
    }
    for (i = 0; i < BNC_CELLS; i++) {
        a->t_prog[i] = get_u64(c);
    }
    a->n_stuck = 0;
    for (i = 0; i < BNC_CELLS; i++) {
        uint8_t f = get_u8(c);

        if ((f & ~CELL_KNOWN) || (f & CELL_STUCK) == CELL_STUCK) {
            return "state image: bad cell flags";
        }
        a->flags[i] = f;
        a->n_stuck += (f & CELL_STUCK) != 0;
    }
    return NULL;
}

struct bnc_array *bnc_load(const void *buf, size_t len, uint64_t *now_ns,
                           const char **why)
{
    struct cursor c = { NULL, buf, 0, len };
    struct bnc_array *a;
    const char *msg;
    uint64_t clock, sum;
    uint32_t cache_valid;
    int k;

    if (!buf || len != IMG_SIZE) {
        return load_fail(NULL, why, "state image has the wrong length");
    }
    if (get_u32(&c) != IMG_MAGIC) {
        return load_fail(NULL, why, "state image: bad magic");
    }
    if (get_u32(&c) != IMG_VERSION) {
        return load_fail(NULL, why, "state image: unsupported version");
    }
    c.off = IMG_BODY;
    sum = get_u64(&c);
    if (sum != fnv1a64(buf, IMG_BODY)) {
        return load_fail(NULL, why, "state image: checksum mismatch");
    }
    c.off = 8;
    if (get_u32(&c) != BNC_ROWS || get_u32(&c) != BNC_COLS) {
        return load_fail(NULL, why, "state image: wrong array geometry");
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        return load_fail(NULL, why, "out of memory");
    }
    for (k = 0; k < IMG_NDOUBLE_P; k++) {
        *param_slot(&a->p, k) = get_f64(&c);
    }
    a->p.dac_bits = get_u32(&c);
    a->p.adc_bits = get_u32(&c);
    if (bnc_params_check(&a->p, NULL)) {
        return load_fail(a, why, "state image: invalid parameters");
    }
    derive(a);
    for (k = 0; k < 4; k++) {
        a->rng.s[k] = get_u64(&c);
    }
    if (!(a->rng.s[0] | a->rng.s[1] | a->rng.s[2] | a->rng.s[3])) {
        return load_fail(a, why, "state image: bad generator state");
    }
    clock = get_u64(&c);
    a->cache_t = get_u64(&c);
    cache_valid = get_u32(&c);
    if (cache_valid > 1 || get_u32(&c) != 0) {
        return load_fail(a, why, "state image: bad cache fields");
    }
    msg = load_cells(a, &c);
    if (msg) {
        return load_fail(a, why, msg);
    }
    if (c.off != IMG_BODY) {
        return load_fail(a, why, "state image: internal layout error");
    }
    /* Rebuild the MVM cache exactly as it was: results stay bit-exact. */
    if (cache_valid) {
        cache_refresh(a, a->cache_t);
    }
    if (now_ns) {
        *now_ns = clock;
    }
    return a;
}
