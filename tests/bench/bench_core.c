/* SPDX-License-Identifier: MIT */
/*
 * bench_core - speed of the physics core's noisy 128 x 128 MVM against a
 * plain float GEMV of the same matrix, built with the same flags.
 *
 * Prints BENCH <name> <value> [unit] lines:
 *   core_mvm_samples_per_s           bnc_mvm, count = N distinct vectors,
 *                                    repeat = 1 (one sample = one vector)
 *   core_mvm_repeat64_samples_per_s  bnc_mvm, repeat = 64 (one sample = one
 *                                    vector-repeat)
 *   gemv_rowloop_per_s               y[c] += x[r] * W[r][c], rows outer
 *   gemv_dot_per_s                   y[c] = dot(Wt[c][.], x), columns outer
 *   gemv_per_s                       the faster of the two GEMVs
 *   core_mvm_vs_gemv_ratio           core_mvm_samples_per_s / gemv_per_s
 *
 * Every figure is the best of several timed repetitions (CLOCK_MONOTONIC);
 * the repetitions of the four measurements are interleaved, so that a
 * busy neighbour on the machine slows all of them alike. Both sides see
 * the same matrix (the core's conductances at the time of the MVM) and the
 * same inputs (after the DAC).
 */
#include "bnnacc_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVEC 2048       /* distinct input vectors per timed run */
#define NREP 64         /* repeat count of the amortised run */
#define TRIES 15        /* best of */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t lcg_state = 0x2545f4914f6cdd1dull;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_state >> 33);
}

static float W[BNC_ROWS][BNC_COLS];     /* row-major, as the array */
static float Wt[BNC_COLS][BNC_ROWS];    /* transposed */
static float X[NVEC][BNC_ROWS];         /* DAC voltages of the inputs */
static int16_t in[NVEC * BNC_ROWS];
static int32_t out[NVEC * NREP * BNC_COLS / 16 > NVEC * BNC_COLS ?
                   NVEC * NREP * BNC_COLS / 16 : NVEC * BNC_COLS];

/* Plain GEMV, rows outer: y = W^T x with W row-major [row][col]. */
static void gemv_rowloop(const float *restrict x, float *restrict y)
{
    int r, c;

    for (c = 0; c < BNC_COLS; c++) {
        y[c] = 0.0f;
    }
    for (r = 0; r < BNC_ROWS; r++) {
        for (c = 0; c < BNC_COLS; c++) {
            y[c] += x[r] * W[r][c];
        }
    }
}

/* Plain GEMV, columns outer: one dot product per column. */
static void gemv_dot(const float *restrict x, float *restrict y)
{
    int r, c;

    for (c = 0; c < BNC_COLS; c++) {
        float s = 0.0f;

        for (r = 0; r < BNC_ROWS; r++) {
            s += Wt[c][r] * x[r];
        }
        y[c] = s;
    }
}

/* Seconds for NVEC GEMVs */
static double time_gemv(void (*fn)(const float *restrict, float *restrict),
                        double *sink)
{
    static float y[BNC_COLS];
    double t0 = now_s(), dt, s = 0.0;
    int v, c;

    for (v = 0; v < NVEC; v++) {
        fn(X[v], y);
        s += y[v % BNC_COLS];
    }
    dt = now_s() - t0;
    for (c = 0; c < BNC_COLS; c++) {
        s += y[c];
    }
    *sink += s;
    return dt;
}

/* Seconds for one bnc_mvm() call */
static double time_mvm(struct bnc_array *a, unsigned count, unsigned repeat,
                       uint64_t now, long *sink)
{
    const struct bnc_region full = { 0, 0, BNC_ROWS, BNC_COLS };
    double t0 = now_s(), dt;

    if (bnc_mvm(a, &full, in, count, repeat, 0, out, now)) {
        fprintf(stderr, "bench_core: bnc_mvm failed\n");
        exit(1);
    }
    dt = now_s() - t0;
    *sink += out[0] + out[count * BNC_COLS - 1];
    return dt;
}

static void keep_best(double *best, double t)
{
    if (t < *best) {
        *best = t;
    }
}

int main(void)
{
    const struct bnc_region full = { 0, 0, BNC_ROWS, BNC_COLS };
    const uint64_t now = 10000000000ull;    /* 10 s after programming */
    static uint32_t words[BNC_CELLS];
    struct bnc_params p;
    struct bnc_array *a;
    double sink = 0.0, mvm, mvm64, row, dot, gemv;
    long isink = 0;
    int i, r, c, t;

    bnc_params_default(&p);
    a = bnc_create(&p, 42);
    if (!a) {
        fprintf(stderr, "bench_core: bnc_create failed\n");
        return 1;
    }
    for (i = 0; i < BNC_CELLS; i++) {
        uint32_t na = 5000 + lcg() % 95001;

        words[i] = (i % 7 == 3) ? (uint32_t)BNC_PROG_RESET << 28
                                : (uint32_t)BNC_PROG_SET << 28 | na;
    }
    if (bnc_program(a, &full, words, 0)) {
        fprintf(stderr, "bench_core: bnc_program failed\n");
        return 1;
    }
    for (i = 0; i < NVEC * BNC_ROWS; i++) {
        in[i] = (int16_t)(lcg() & 0xffff);
    }
    for (r = 0; r < BNC_ROWS; r++) {
        for (c = 0; c < BNC_COLS; c++) {
            W[r][c] = (float)bnc_cell_g_us(a, r, c, now);
            Wt[c][r] = W[r][c];
        }
    }
    for (i = 0; i < NVEC; i++) {
        for (r = 0; r < BNC_ROWS; r++) {
            X[i][r] = (float)bnc_dac_volts(&p, in[i * BNC_ROWS + r]);
        }
    }

    /* warm-up: fills the core's conductance cache at @now */
    time_mvm(a, 16, 1, now, &isink);
    mvm = mvm64 = row = dot = 1e30;
    for (t = 0; t < TRIES; t++) {
        keep_best(&mvm, time_mvm(a, NVEC, 1, now, &isink));
        keep_best(&mvm64, time_mvm(a, NVEC / 16, NREP, now, &isink));
        keep_best(&row, time_gemv(gemv_rowloop, &sink));
        keep_best(&dot, time_gemv(gemv_dot, &sink));
    }
    mvm = NVEC / mvm;
    mvm64 = (double)(NVEC / 16) * NREP / mvm64;
    row = NVEC / row;
    dot = NVEC / dot;
    gemv = row > dot ? row : dot;

    printf("BENCH core_mvm_samples_per_s %.0f samples/s\n", mvm);
    printf("BENCH core_mvm_repeat64_samples_per_s %.0f samples/s\n", mvm64);
    printf("BENCH gemv_rowloop_per_s %.0f GEMV/s\n", row);
    printf("BENCH gemv_dot_per_s %.0f GEMV/s\n", dot);
    printf("BENCH gemv_per_s %.0f GEMV/s\n", gemv);
    printf("BENCH core_mvm_vs_gemv_ratio %.3f\n", mvm / gemv);
    /* keeps the results alive; never true */
    if (sink == 1.2345 && isink == 12345) {
        printf("#");
    }
    bnc_destroy(a);
    return 0;
}
