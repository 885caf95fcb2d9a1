/* SPDX-License-Identifier: MIT */
/*
 * bnnacc_core - the physics of the bnnacc card's 128 x 128 HfOx 1T1R array.
 *
 * Plain C11 with no QEMU headers: the QEMU device model, the unit tests and
 * the benchmarks all use this one model. Every random draw comes from the
 * array's own seeded generator, so the same seed and the same sequence of
 * calls give bit-identical results. Not thread-safe: one array, one caller at
 * a time. docs/hardware.md documents the model and its defaults.
 *
 * Units: conductance in microsiemens (uS), current in microamperes (uA),
 * time in nanoseconds of the device clock (the caller supplies "now").
 */
#ifndef BNNACC_CORE_H
#define BNNACC_CORE_H

#include <stddef.h>
#include <stdint.h>

#define BNC_ROWS 128
#define BNC_COLS 128
#define BNC_CELLS (BNC_ROWS * BNC_COLS)

/**
 * struct bnc_params - device physics. bnc_params_default() fills the
 * default preset, bnc_params_preset() a named one; docs/physics.md gives
 * the published figure behind every value of every preset.
 */
struct bnc_params {
    /*
     * SET: median G = k_us_per_ua * I_SET, clipped to [g_min_us,
     * g_max_us]. The programmed G0 = median + D2D + C2C draw is clipped
     * below at g_min_us only: g_max_us bounds the median, and a draw
     * may exceed it by its spread (the distribution stays normal).
     */
    double k_us_per_ua;
    double iset_min_ua;         /* lowest accepted SET current */
    double iset_max_ua;         /* highest accepted SET current */
    double g_min_us;            /* no reported conductance is lower */
    double g_max_us;            /* no SET median is higher */
    /*
     * Cycle-to-cycle sigma of a SET, a function of the median G:
     * sigma = max(c2c_slope * G + c2c_icpt, c2c_floor_us).
     */
    double c2c_slope;
    double c2c_icpt_us;
    double c2c_floor_us;
    /*
     * Device-to-device: every cell has a fixed standard normal z_d drawn
     * at manufacture; its SET median is offset by d2d_ratio * sigma_c2c *
     * z_d.
     */
    double d2d_ratio;
    /*
     * RESET: log-normal, median reset_med_us, log-sigma reset_lsig,
     * clipped below at g_min_us.
     */
    double reset_med_us;
    double reset_lsig;
    /*
     * Read noise: normal, fresh each read, with a relative sigma that
     * falls as the filament grows:
     *   sigma_read(G) = read_noise_rel * G * (G / read_noise_gref_us)^-e
     * with e = read_noise_exp in [0, 1] (0: a flat read_noise_rel * G; 1: a
     * constant sigma).
     */
    double read_noise_rel;
    double read_noise_gref_us;
    double read_noise_exp;
    /*
     * Relaxation after programming, with L = ln(t / t_ref) for t > t_ref
     * (0 before): G(t) = G0 * (1 - drift_nu * L) + G0 * drift_sig * L * z
     * with z a standard normal drawn when the cell was programmed (SET or
     * RESET; both states relax), clipped below at g_min_us. t is the
     * device clock since the cell's last programming. Stuck cells do not
     * relax.
     */
    double drift_t_ref_s;
    double drift_nu;
    double drift_sig;
    /*
     * Stuck cells at manufacture: exactly round(stuck_frac * BNC_CELLS)
     * cells, chosen uniformly; each is stuck high or low with probability
     * 1/2. Stuck cells ignore programming and do not relax, but are read
     * with read noise like any cell.
     */
    double stuck_frac;
    double stuck_high_us;       /* conductance of a cell stuck high */
    double stuck_low_us;        /* conductance of a cell stuck low */
    /* Periphery */
    unsigned dac_bits;          /* input codes -(2^(b-1)-1) .. 2^(b-1)-1 */
    unsigned adc_bits;          /* output codes likewise */
    double read_v;              /* V: row voltage at input full scale */
    double adc_fs_ua;           /* ADC full scale at range shift 0 */
};

struct bnc_region {
    unsigned row, col, rows, cols;
};

/* Per-cell program operation (matches BNNACC_PROG_* of uapi/bnnacc.h). */
enum bnc_prog_op {
    BNC_PROG_SKIP = 0,
    BNC_PROG_SET = 1,
    BNC_PROG_RESET = 2,
};

/* Error codes returned (negated) by the functions below. */
enum bnc_err {
    BNC_OK = 0,
    BNC_EREGION = 1,    /* region outside the array or empty */
    BNC_EWORD = 2,              /* bad program word (op or current) */
    BNC_EARG = 3,               /* other bad argument */
    BNC_ENOMEM = 4,
    BNC_EFORMAT = 5,    /* state image malformed */
};

struct bnc_array;

/* Fill @p with the default preset (BNC_PRESET_DEFAULT). */
void bnc_params_default(struct bnc_params *p);

/*
 * Named presets (docs/physics.md): "hfox" (the default: a single-SET
 * filamentary HfOx 1T1R cell, the seed paper group's device class, with
 * the numbers of the sources that could be read), "cmo-hfox" (IBM's
 * program-verified CMO/HfOx ReRAM as aihwkit models it) and "pessimistic"
 * (the emulator's first set: flat 2 % read noise, faster relaxation).
 */
#define BNC_PRESET_DEFAULT "hfox"
/* 0 with @p filled, or -BNC_EARG for an unknown @name (NULL: default). */
int bnc_params_preset(struct bnc_params *p, const char *name);
/* Name of preset @i (0, 1, ...), NULL past the last one. */
const char *bnc_preset_name(unsigned i);
/*
 * Returns 0, or -BNC_EARG (with *why, if @why is not NULL, set to a static
 * message) for a NaN, infinite, negative or absurd value: dac_bits must be
 * in 2..16, adc_bits in 2..24, iset_min_ua < iset_max_ua <= 16777.215 (the
 * 24-bit nA field), g_min_us < g_max_us, ...
 */
int bnc_params_check(const struct bnc_params *p, const char **why);

/*
 * Manufacture an array: D2D offsets and stuck cells drawn from @seed.
 * All cells start in the RESET state, programmed at time 0. NULL on ENOMEM
 * or invalid params.
 */
struct bnc_array *bnc_create(const struct bnc_params *p, uint64_t seed);
void bnc_destroy(struct bnc_array *a);
const struct bnc_params *bnc_params(const struct bnc_array *a);

/* Region checks shared by every caller: 0 or -BNC_EREGION. */
int bnc_region_check(const struct bnc_region *r);

/* SET median and C2C sigma for a current (uS). */
double bnc_set_median_us(const struct bnc_params *p, double iset_ua);
double bnc_c2c_sigma_us(const struct bnc_params *p, double g_med_us);
/* Read-noise sigma of a cell of conductance @g_us (uS). */
double bnc_read_sigma_us(const struct bnc_params *p, double g_us);

/*
 * The card's drift monitor: the relative loss of mean conductance of the
 * array's oldest SET cells, drift_nu * ln((now - t) / t_ref) with t the
 * earliest programming time of the cells now SET (stuck cells excluded),
 * 0 before t_ref or when no cell is SET. bnc_relaxation_time() gives the
 * device time at which that reaches @level (> 0): UINT64_MAX when it never
 * will (no SET cell, drift_nu <= 0, or beyond 2^64 ns).
 */
double bnc_relaxation(const struct bnc_array *a, uint64_t now_ns);
uint64_t bnc_relaxation_time(const struct bnc_array *a, double level);

/*
 * Program a region: words[] holds region rows*cols program words
 * (op << 28 | I_SET in nA, as in uapi/bnnacc.h), row-major. Validates every
 * word before touching any cell: returns 0, -BNC_EREGION or -BNC_EWORD.
 * Stuck cells keep their conductance.
 */
int bnc_program(struct bnc_array *a, const struct bnc_region *r,
                const uint32_t *words, uint64_t now_ns);

/*
 * The cell's conductance now without read noise (uS), computed exactly
 * (not from the MVM cache); for tests. NaN for a cell outside the array.
 */
double bnc_cell_g_us(struct bnc_array *a, unsigned row, unsigned col,
                     uint64_t now_ns);

/*
 * Read every cell of the region once with fresh read noise, in nS,
 * clipped to [g_min, 2^32-1].
 */
int bnc_read(struct bnc_array *a, const struct bnc_region *r, uint32_t *out_ns,
             uint64_t now_ns);

/*
 * Noisy MVM: for each of @count input vectors (region rows int16 values,
 * full scale +-32767) and each of @repeat repeats, compute the column
 * currents sum_r V_r * G_rc (V_r after the DAC, G with fresh read noise)
 * and quantise with the ADC whose full scale is adc_fs_ua >> adc_shift.
 * out[] gets repeat*count*region cols codes, laid out [repeat][vector][col].
 * Returns 0, -BNC_EREGION, or -BNC_EARG for NULL buffers, @count == 0 or
 * @adc_shift > 15; @repeat == 0 means 1 (as on the card).
 *
 * Read noise is aggregated per column, which is exact in distribution:
 * with independent per-cell noise of sigma s_rc = bnc_read_sigma_us(G_rc),
 * the column current is normal with mean sum_r V_r G_rc and variance
 * sum_r (V_r s_rc)^2. So each vector costs one pass over the region (both
 * sums, in float) and one normal draw per column and repeat; repeats reuse
 * the sums. Per-cell conductances are not clipped at zero inside an MVM.
 *
 * G_rc comes from a float cache of every cell's relaxed conductance. It is
 * rebuilt when cells were programmed or stuck, when @now_ns is earlier
 * than the cache's time, and when ln(time since programming) may have
 * moved by more than 0.01 for some cell since the cache was built (checked
 * exactly, from the range of programming times; the worst cell is the one
 * whose age is nearest t_ref). So MVM conductances lag the exact relaxed
 * values of bnc_cell_g_us()/bnc_read() by at most 0.01 in L, i.e. a
 * relative 0.01 * (drift_nu + drift_sig * |z|) (about 1e-4 by default).
 * The cache's time is part of the state image, so results after bnc_load()
 * are bit-identical to those of the array that was saved.
 */
int bnc_mvm(struct bnc_array *a, const struct bnc_region *r,
            const int16_t *in, unsigned count, unsigned repeat,
        unsigned adc_shift, int32_t *out, uint64_t now_ns);

/* Periphery helpers (pure functions, exposed for the tests and library). */
int bnc_dac(const struct bnc_params *p, int16_t in);    /* -> DAC code */
double bnc_dac_volts(const struct bnc_params *p, int16_t in);
int32_t bnc_adc(const struct bnc_params *p, double current_ua,
                unsigned adc_shift);

/*
 * Make @n more cells stuck (chosen uniformly among the cells not yet stuck
 * by the generator, each high or low with probability 1/2); returns how
 * many were newly stuck (fewer than @n only when all cells are stuck).
 */
unsigned bnc_add_stuck(struct bnc_array *a, unsigned n);
unsigned bnc_stuck_count(const struct bnc_array *a);
/* 1 if the cell is stuck (high or low), 0 if not or outside the array */
int bnc_is_stuck(const struct bnc_array *a, unsigned row, unsigned col);

/*
 * Non-volatile state: everything that survives power-off (params, per-cell
 * state, generator state), as a versioned little-endian image with a
 * checksum. bnc_state_size() gives the image size; bnc_load() validates the
 * image completely and returns NULL with *why set if it is malformed.
 *
 * Image version 2, all fields little-endian (f64 as IEEE-754 bits):
 *   0  u32 magic BNC_STATE_MAGIC ("BNCS"), u32 version BNC_STATE_VERSION,
 *      u32 rows, u32 cols
 *  16  params: 22 f64 in struct order with dac_bits/adc_bits left out
 *      (k_us_per_ua ... stuck_low_us, read_v, adc_fs_ua), then u32
 *      dac_bits, u32 adc_bits
 * 200  generator: 4 u64 (xoshiro256** state)
 * 232  u64 device clock at save, u64 MVM cache time, u32 cache valid (0/1),
 *      u32 zero
 * 256  per cell, row-major, one array after the other: f64 G0 (uS),
 *      f64 D2D z, f64 relaxation z, u64 programming time (ns),
 *      u8 flags (bit 0 SET, bit 1 stuck high, bit 2 stuck low)
 * end-8  u64 FNV-1a-64 of every byte before it
 * bnc_load() checks the length, magic, version, checksum, geometry,
 * params (bnc_params_check), generator state, finiteness and range of
 * every cell value and the flags.
 */
#define BNC_STATE_MAGIC 0x53434e42u
#define BNC_STATE_VERSION 2u

size_t bnc_state_size(void);
/*
 * @now_ns, the device clock at power-off, is stored in the image; returns
 * 0 or -BNC_EARG if @len < bnc_state_size().
 */
int bnc_save(const struct bnc_array *a, uint64_t now_ns, void *buf,
             size_t len);
/*
 * @len must be exactly bnc_state_size(). On success *now_ns (if not NULL)
 * gets the stored device clock; on failure *why (if not NULL) gets a static
 * message and *now_ns is left alone.
 */
struct bnc_array *bnc_load(const void *buf, size_t len, uint64_t *now_ns,
                           const char **why);

#endif /* BNNACC_CORE_H */
