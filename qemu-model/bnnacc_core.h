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
 * struct bnc_params - device physics; bnc_params_default() fills the
 * documented defaults (see docs/hardware.md for sources).
 */
struct bnc_params {
	/* SET: median G = k_us_per_ua * I_SET, clipped to [g_min_us, g_max_us] */
	double k_us_per_ua;	/* 2.0 */
	double iset_min_ua;	/* 5.0: lowest accepted SET current */
	double iset_max_ua;	/* 100.0: highest accepted SET current */
	double g_min_us;	/* 0.1: no reported conductance is lower */
	double g_max_us;	/* 200.0: no SET median is higher */
	/*
	 * Cycle-to-cycle sigma of a SET, a function of the median G:
	 * sigma = max(c2c_slope * G + c2c_icpt, c2c_floor_us). Defaults from
	 * CrossSim's RRAM_Milo fit: slope -0.009107, intercept 4.782 uS,
	 * floor 0.5 uS (the line is continued below 50 uS).
	 */
	double c2c_slope;
	double c2c_icpt_us;
	double c2c_floor_us;
	/*
	 * Device-to-device: every cell has a fixed standard normal z_d drawn
	 * at manufacture; its SET median is offset by d2d_ratio * sigma_c2c *
	 * z_d. 0.7 (assumed: "of similar size").
	 */
	double d2d_ratio;
	/* RESET: log-normal, median reset_med_us (2.0), log-sigma reset_lsig (0.3) */
	double reset_med_us;
	double reset_lsig;
	/* Read noise: normal, sigma = read_noise_rel * G, fresh every read (0.02) */
	double read_noise_rel;
	/*
	 * Relaxation after programming, with L = ln(t / t_ref) for t > t_ref
	 * (0 before): G(t) = G0 * (1 - drift_nu * L) + G0 * drift_sig * L * z
	 * with z a standard normal drawn when the cell was programmed.
	 * t_ref 1 s, drift_nu 0.005, drift_sig 0.002 (assumed, scaled from
	 * aihwkit's HfOx CMO model).
	 */
	double drift_t_ref_s;
	double drift_nu;
	double drift_sig;
	/* Stuck cells at manufacture: fraction (0.001), half high, half low */
	double stuck_frac;
	double stuck_high_us;	/* 200.0: conductance of a cell stuck high */
	double stuck_low_us;	/* 1.0: conductance of a cell stuck low */
	/* Periphery */
	unsigned dac_bits;	/* 8: input codes -(2^(b-1)-1) .. 2^(b-1)-1 */
	unsigned adc_bits;	/* 9: output codes likewise */
	double read_v;		/* 0.1 V: row voltage at input full scale */
	double adc_fs_ua;	/* 2560 uA: ADC full scale at range shift 0 */
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
	BNC_EREGION = 1,	/* region outside the array or empty */
	BNC_EWORD = 2,		/* bad program word (op or current) */
	BNC_EARG = 3,		/* other bad argument */
	BNC_ENOMEM = 4,
	BNC_EFORMAT = 5,	/* state image malformed */
};

struct bnc_array;

void bnc_params_default(struct bnc_params *p);
/* Returns 0, or -BNC_EARG (with *why set to a static message) */
int bnc_params_check(const struct bnc_params *p, const char **why);

/* Manufacture an array: D2D offsets and stuck cells drawn from @seed.
 * All cells start in the RESET state, programmed at time 0. NULL on ENOMEM
 * or invalid params. */
struct bnc_array *bnc_create(const struct bnc_params *p, uint64_t seed);
void bnc_destroy(struct bnc_array *a);
const struct bnc_params *bnc_params(const struct bnc_array *a);

/* Region checks shared by every caller: 0 or -BNC_EREGION. */
int bnc_region_check(const struct bnc_region *r);

/* SET median and C2C sigma for a current (uS). */
double bnc_set_median_us(const struct bnc_params *p, double iset_ua);
double bnc_c2c_sigma_us(const struct bnc_params *p, double g_med_us);

/*
 * Program a region: words[] holds region rows*cols program words
 * (op << 28 | I_SET in nA, as in uapi/bnnacc.h), row-major. Validates every
 * word before touching any cell: returns 0, -BNC_EREGION or -BNC_EWORD.
 * Stuck cells keep their conductance.
 */
int bnc_program(struct bnc_array *a, const struct bnc_region *r,
		const uint32_t *words, uint64_t now_ns);

/* The cell's conductance now without read noise (uS); for tests. */
double bnc_cell_g_us(struct bnc_array *a, unsigned row, unsigned col,
		     uint64_t now_ns);

/* Read every cell of the region once with fresh read noise, in nS,
 * clipped to [g_min, 2^32-1]. */
int bnc_read(struct bnc_array *a, const struct bnc_region *r, uint32_t *out_ns,
	     uint64_t now_ns);

/*
 * Noisy MVM: for each of @count input vectors (region rows int16 values,
 * full scale +-32767) and each of @repeat repeats, compute the column
 * currents sum_r V_r * G_rc (V_r after the DAC, G with fresh read noise)
 * and quantise with the ADC whose full scale is adc_fs_ua >> adc_shift.
 * out[] gets repeat*count*region cols codes, laid out [repeat][vector][col].
 */
int bnc_mvm(struct bnc_array *a, const struct bnc_region *r,
	    const int16_t *in, unsigned count, unsigned repeat,
	    unsigned adc_shift, int32_t *out, uint64_t now_ns);

/* Periphery helpers (pure functions, exposed for the tests and library). */
int bnc_dac(const struct bnc_params *p, int16_t in);	/* -> DAC code */
double bnc_dac_volts(const struct bnc_params *p, int16_t in);
int32_t bnc_adc(const struct bnc_params *p, double current_ua,
		unsigned adc_shift);

/* Make @n more cells stuck (chosen by the generator); returns how many
 * were newly stuck. */
unsigned bnc_add_stuck(struct bnc_array *a, unsigned n);
unsigned bnc_stuck_count(const struct bnc_array *a);
int bnc_is_stuck(const struct bnc_array *a, unsigned row, unsigned col);

/*
 * Non-volatile state: everything that survives power-off (params, per-cell
 * state, generator state), as a versioned little-endian image with a
 * checksum. bnc_state_size() gives the image size; bnc_load() validates the
 * image completely and returns NULL with *why set if it is malformed.
 */
size_t bnc_state_size(void);
/* @now_ns, the device clock at power-off, is stored in the image; returns
 * 0 or -BNC_EARG if @len < bnc_state_size(). */
int bnc_save(const struct bnc_array *a, uint64_t now_ns, void *buf,
	     size_t len);
/* On success *now_ns gets the stored device clock. */
struct bnc_array *bnc_load(const void *buf, size_t len, uint64_t *now_ns,
			   const char **why);

#endif /* BNNACC_CORE_H */
