/*
 * bnnacc - PCIe RRAM inference card (128 x 128 HfOx 1T1R array)
 *
 * The card's programming model is docs/hardware.md of the bnnacc project and
 * its register and descriptor layout uapi/bnnacc_hw.h (installed next to this
 * file as bnnacc.h). The physics of the array lives in bnnacc_core.c, plain C
 * shared with the project's unit tests: this file only moves descriptors and
 * data between the guest and that core.
 *
 * Copyright (c) 2025 The bnnacc authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Properties (-device bnnacc,NAME=VALUE):
 *   seed            uint64  1      seed of the array's random generator
 *   serial          uint64  0      serial number; 0 derives it from seed
 *   msix            bool    on     MSI-X capability (2 vectors, BAR2)
 *   msi             bool    on     MSI capability (1 vector, 64-bit)
 *   backing         string  -      file keeping the array across runs
 *                                  (absent or empty: a new card from seed)
 *   time-scale      uint32  1      device ns per virtual ns (0 freezes)
 *   preset          string "hfox"  physics preset (docs/physics.md):
 *                                  hfox, cmo-hfox or pessimistic
 *   drift-alert-ppm uint32 10000   drift monitor step: an EVENT (drift) is
 *                                  raised each time the oldest SET cells'
 *                                  mean relaxation passes a multiple of it
 *                                  (0: never)
 * Physics, in the fixed units of their names: the rows of
 * BNNACC_PHYS_TABLE below (also `-device bnnacc,help`); each overrides the
 * preset's value when given.
 * With an existing backing file the physics stored in it win over these.
 *
 * Fault injection at run time (QMP qom-set / HMP qom-set; reads give what
 * is left to inject):
 *   fault-hang         the next N commands started never complete (the
 *                      queue stalls behind them) until RESET or disable
 *   fault-dma          the next N commands complete with DMA_ERROR
 *   fault-corrupt-cqe  the next N completions carry cid ^ 0x8000
 *   fault-stuck        writing N makes N more cells stuck now (reads 0)
 *   clock-advance-s    writing N advances the device clock N s (reads 0)
 * and, read-only, busy-ns: the BUSY counter (host ns with commands in the
 * card), for monitoring from the host.
 *
 * Threads. The main loop (under the BQL) owns the registers, fetches
 * commands, moves their data by DMA, posts completions and raises
 * interrupts, all from the bottom half bnnacc_bh(). A worker thread owns the
 * computation: it runs the array's physics for one command at a time, in
 * order, without the BQL, and writes the backing file, so neither the guest's
 * register accesses nor the monitor wait for the array. The worker never
 * touches guest memory or interrupts; the bottom half never computes.
 * Locks: lock guards the queues between them (todo, done) and the worker's
 * requests; arr_lock guards the array (the worker holds it per chunk of
 * work, the main loop for the drift monitor and fault-stuck). Neither is
 * ever held across DMA, so they nest inside the BQL only.
 * Trace events: bnnacc_* (qemu-model/trace-events, -trace bnnacc_*).
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "qemu/log.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/thread.h"
#include "qemu/queue.h"
#include "qemu/atomic.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "sysemu/dma.h"
#include "sysemu/sysemu.h"
#include "qom/object.h"

#include "bnnacc_hw.h"
#include "bnnacc_core.h"
#include "trace.h"

#define TYPE_PCI_BNNACC "bnnacc"
typedef struct BnnaccState BnnaccState;
DECLARE_INSTANCE_CHECKER(BnnaccState, BNNACC, TYPE_PCI_BNNACC)

#define BNNACC_MAX_XFER         (64 * MiB)   /* largest data transfer */
#define BNNACC_BH_BUDGET_NS     (2 * SCALE_MS) /* main-loop work per BH run */
#define BNNACC_PIPELINE         16           /* commands in the card at once */
#define BNNACC_MVM_CHUNK        256          /* evaluations per core call */
#define BNNACC_DMA_CHUNK        (1 * MiB)    /* data moved per DMA call */
#define BNNACC_MAX_IMAGE        (64 * MiB)   /* largest backing file read */
#define BNNACC_AER_OFFSET       0x100        /* extended capability: AER */
#define BNNACC_MODEL            "bnnacc-emu 128x128 HfOx"

QEMU_BUILD_BUG_ON(sizeof(struct bnnacc_sqe) != 64);
QEMU_BUILD_BUG_ON(sizeof(struct bnnacc_cqe) != 16);
QEMU_BUILD_BUG_ON(sizeof(struct bnnacc_identify) != 256);
QEMU_BUILD_BUG_ON(BNNACC_ROWS != BNC_ROWS || BNNACC_COLS != BNC_COLS);

#define BNNACC_GUEST_ERR(fmt, ...) \
    qemu_log_mask(LOG_GUEST_ERROR, "bnnacc: %s: " fmt "\n", __func__, \
                  ## __VA_ARGS__)

/*
 * The physics properties: one row each, giving the property's name (in the
 * fixed units it ends with), its field in BnnaccPhysProps, the field of
 * struct bnc_params it sets, the divisor from the property's units to the
 * core's, and its description. U rows are uint32, S rows int32. The struct,
 * the qdev properties, their descriptions and the conversion to bnc_params
 * all come from this table.
 */
#define BNNACC_PHYS_TABLE(U, S) \
    U("k-nS-per-uA", k_ns_per_ua, k_us_per_ua, 1000.0, \
      "SET median slope, nS per uA of compliance") \
    U("iset-min-nA", iset_min_na, iset_min_ua, 1000.0, \
      "lowest SET compliance current, nA") \
    U("iset-max-nA", iset_max_na, iset_max_ua, 1000.0, \
      "highest SET compliance current, nA") \
    U("g-min-nS", g_min_ns, g_min_us, 1000.0, \
      "lowest reported conductance, nS") \
    U("g-max-nS", g_max_ns, g_max_us, 1000.0, \
      "highest SET median conductance, nS") \
    S("c2c-slope-ppm", c2c_slope_ppm, c2c_slope, 1e6, \
      "C2C sigma slope, ppm (nS per 1e6 nS)") \
    U("c2c-icpt-nS", c2c_icpt_ns, c2c_icpt_us, 1000.0, \
      "C2C sigma intercept, nS") \
    U("c2c-floor-nS", c2c_floor_ns, c2c_floor_us, 1000.0, \
      "C2C sigma floor, nS") \
    U("d2d-ratio-ppm", d2d_ratio_ppm, d2d_ratio, 1e6, \
      "D2D offset in C2C sigmas, ppm") \
    U("reset-med-nS", reset_med_ns, reset_med_us, 1000.0, \
      "RESET median conductance, nS") \
    U("reset-lsig-ppm", reset_lsig_ppm, reset_lsig, 1e6, \
      "RESET log-normal sigma, ppm") \
    U("read-noise-ppm", read_noise_ppm, read_noise_rel, 1e6, \
      "read noise sigma relative to G at gref, ppm") \
    U("read-noise-gref-nS", read_noise_gref_ns, read_noise_gref_us, 1000.0, \
      "reference G of read-noise-ppm, nS") \
    U("read-noise-exp-ppm", read_noise_exp_ppm, read_noise_exp, 1e6, \
      "fall of relative read noise with G, ppm (0: flat)") \
    U("drift-t-ref-ms", drift_t_ref_ms, drift_t_ref_s, 1000.0, \
      "relaxation reference time, ms") \
    U("drift-nu-ppm", drift_nu_ppm, drift_nu, 1e6, \
      "relaxation drift per unit ln(t/t_ref), ppm") \
    U("drift-sig-ppm", drift_sig_ppm, drift_sig, 1e6, \
      "relaxation spread per unit ln(t/t_ref), ppm") \
    U("stuck-ppm", stuck_ppm, stuck_frac, 1e6, \
      "cells stuck at manufacture, ppm") \
    U("stuck-high-nS", stuck_high_ns, stuck_high_us, 1000.0, \
      "conductance of a cell stuck high, nS") \
    U("stuck-low-nS", stuck_low_ns, stuck_low_us, 1000.0, \
      "conductance of a cell stuck low, nS") \
    U("dac-bits", dac_bits, dac_bits, 1, \
      "input DAC bits, sign included") \
    U("adc-bits", adc_bits, adc_bits, 1, \
      "output ADC bits, sign included") \
    U("read-mV", read_mv, read_v, 1000.0, \
      "row voltage at input full scale, mV") \
    U("adc-fs-nA", adc_fs_na, adc_fs_ua, 1000.0, \
      "ADC full scale at range shift 0, nA")

#define BNNACC_PHYS_FIELD_U(name, field, param, div, desc) uint32_t field;
#define BNNACC_PHYS_FIELD_S(name, field, param, div, desc) int32_t field;
typedef struct BnnaccPhysProps {
    BNNACC_PHYS_TABLE(BNNACC_PHYS_FIELD_U, BNNACC_PHYS_FIELD_S)
} BnnaccPhysProps;

/* A physics property not given: the preset's value */
#define BNNACC_PHYS_UNSET       UINT32_MAX
#define BNNACC_PHYS_UNSET_S32   INT32_MIN

/*
 * A command in the card. It is fetched and its input moved in by the main
 * loop, computed by the worker, its output moved out and its completion
 * posted by the main loop: always in SQ order.
 */
typedef struct BnnaccCmd BnnaccCmd;
struct BnnaccCmd {
    QSIMPLEQ_ENTRY(BnnaccCmd) next;
    uint32_t epoch;         /* the engine's epoch when it was fetched */
    bool hung;              /* fault-hang: never completes */
    bool programmed;        /* PROGRAM: the array changed */
    uint16_t cid;
    uint8_t opcode;
    uint16_t sc;            /* BNNACC_SC_* once known */
    struct bnc_region reg;
    uint64_t src_addr;
    uint64_t dst_addr;
    uint64_t in_len;        /* MVM: bytes to read from src_addr */
    uint64_t in_done;
    uint64_t out_len;       /* bytes to write to dst_addr */
    uint64_t out_done;
    void *in;
    void *out;
    int32_t *tmp;           /* MVM: output of one core call */
    uint32_t count;         /* MVM vectors */
    uint32_t repeat;        /* MVM evaluations of each vector */
    uint32_t shift;         /* MVM ADC range */
    bool sum;               /* MVM: post the sum of the repeats */
    uint64_t unit;          /* next READ pass or MVM evaluation */
    uint64_t units;
    uint64_t now_ns;        /* device clock when the command started */
    int64_t start_ns;       /* host time when it was fetched */
    uint64_t bytes;         /* its buffers, in inflight_bytes */
};

typedef QSIMPLEQ_HEAD(, BnnaccCmd) BnnaccCmdQueue;

struct BnnaccState {
    PCIDevice parent_obj;

    MemoryRegion mmio;
    QEMUBH *bh;
    Notifier exit_notifier; /* saves the backing file when QEMU exits */

    /* properties */
    uint64_t seed;
    uint64_t serial_prop;
    bool msix;
    bool msi;
    char *backing;
    uint32_t time_scale;
    char *preset;
    uint32_t drift_alert_ppm;
    BnnaccPhysProps phys;

    /* the array, its clock and what the read-only registers report */
    struct bnc_array *arr;
    uint64_t clock_base;    /* device ns at virt_base */
    int64_t virt_base;      /* QEMU_CLOCK_VIRTUAL ns at clock_base */
    uint64_t serial;
    uint32_t iset_min_na;
    uint32_t iset_max_na;
    uint32_t adc_fs_na;
    uint32_t read_mv;
    uint32_t g_min_ns;
    uint32_t g_max_ns;
    uint32_t dac_bits;
    uint32_t adc_bits;
    uint32_t features;

    /* registers */
    uint32_t ctrl;
    bool ready;
    bool fatal;
    uint32_t int_status;
    uint32_t int_mask;
    uint32_t err_status;
    uint32_t err_info;
    bool err_info_set;
    uint64_t sq_base;
    uint64_t cq_base;
    uint32_t sq_size;
    uint32_t cq_size;
    uint32_t sq_head;
    uint32_t sq_tail;
    uint32_t cq_head;
    uint32_t cq_tail;
    bool phase;
    uint64_t clock_latch;
    uint64_t busy_latch;

    /* lifetime counters: survive RESET */
    uint64_t busy_ns;
    uint32_t cmds_done;
    uint32_t cmds_failed;

    /* the engine, main loop side (BQL) */
    BnnaccCmd *fetching;        /* fetched, its input moving in */
    BnnaccCmd *posting;         /* computed, its output moving out */
    unsigned inflight;          /* fetched and not yet posted */
    uint64_t inflight_bytes;    /* their input and output buffers */
    int64_t last_post_ns;       /* host time of the last completion */

    /* the engine, shared with the worker (lock) */
    QemuThread thread;
    bool thread_started;
    QemuMutex lock;
    QemuCond cond;              /* the worker waits on it for work */
    BnnaccCmdQueue todo;        /* input in, for the worker */
    BnnaccCmdQueue done;        /* computed, for the bottom half */
    uint32_t epoch;             /* bumped by RESET, disable and fatal errors */
    bool stop;                  /* the worker exits */
    bool save_req;              /* the worker writes the backing file */
    uint64_t save_clock;        /* at this device time */
    QemuMutex arr_lock;         /* the array (see Threads above) */

    /* fault injection: commands or completions still to spoil */
    uint32_t fault_hang;
    uint32_t fault_dma;
    uint32_t fault_corrupt;
    uint32_t event_info;        /* BNNACC_EVT_* behind INT_STATUS.EVENT */

    /* drift monitor: alert level reached, timer at the next one */
    uint32_t drift_level;
    QEMUTimer *drift_timer;
};

/* ------------------------------------------------------------------------ */
/* Clock and backing file                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t bnnacc_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t bnnacc_clock_ns(BnnaccState *s)
{
    int64_t virt = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    uint64_t delta = virt > s->virt_base ? virt - s->virt_base : 0;

    if (s->time_scale && delta > UINT64_MAX / s->time_scale) {
        return UINT64_MAX;
    }
    return bnnacc_add_sat(s->clock_base, delta * s->time_scale);
}

static void bnnacc_clock_advance(BnnaccState *s, uint64_t ns)
{
    s->clock_base = bnnacc_add_sat(bnnacc_clock_ns(s), ns);
    s->virt_base = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

/*
 * Write the array's state at device time @clock to the backing file: temp
 * file, then rename. Called by the worker, or by the main loop when the
 * worker is not running.
 */
static bool bnnacc_backing_save(BnnaccState *s, uint64_t clock, Error **errp)
{
    size_t len = bnc_state_size();
    g_autofree uint8_t *buf = NULL;
    g_autofree char *tmp = NULL;
    int64_t t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int fd, ret;

    if (!s->backing || !s->arr) {
        return true;
    }
    buf = g_try_malloc(len);
    if (!buf) {
        error_setg(errp, "bnnacc: no memory for the state of '%s'",
                   s->backing);
        return false;
    }
    qemu_mutex_lock(&s->arr_lock);
    ret = bnc_save(s->arr, clock, buf, len);
    qemu_mutex_unlock(&s->arr_lock);
    if (ret < 0) {
        error_setg(errp, "bnnacc: cannot serialise the array for '%s'",
                   s->backing);
        return false;
    }
    tmp = g_strdup_printf("%s.tmp.%d", s->backing, (int)getpid());
    fd = qemu_create(tmp, O_WRONLY | O_TRUNC, 0644, errp);
    if (fd < 0) {
        error_prepend(errp, "bnnacc: backing file: ");
        return false;
    }
    if (qemu_write_full(fd, buf, len) != len) {
        error_setg_errno(errp, errno, "bnnacc: cannot write '%s'", tmp);
        qemu_close(fd);
        unlink(tmp);
        return false;
    }
    if (qemu_close(fd) < 0 || rename(tmp, s->backing) < 0) {
        error_setg_errno(errp, errno, "bnnacc: cannot replace '%s'",
                         s->backing);
        unlink(tmp);
        return false;
    }
    trace_bnnacc_backing_write(s->backing, len,
                               qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0);
    return true;
}

/* Save after a change of the array; a failure is reported, not fatal. */
static void bnnacc_backing_sync(BnnaccState *s, uint64_t clock)
{
    Error *err = NULL;

    if (!bnnacc_backing_save(s, clock, &err)) {
        error_report_err(err);
    }
}

/* Main loop: have the worker save the array (off the main loop). */
static void bnnacc_backing_request(BnnaccState *s)
{
    if (!s->backing) {
        return;
    }
    qemu_mutex_lock(&s->lock);
    s->save_req = true;
    s->save_clock = bnnacc_clock_ns(s);
    qemu_cond_signal(&s->cond);
    qemu_mutex_unlock(&s->lock);
}

/* Load the backing file: 1 loaded, 0 absent or empty (a new card), -1 error. */
static int bnnacc_backing_load(BnnaccState *s, Error **errp)
{
    g_autofree gchar *buf = NULL;
    GError *gerr = NULL;
    const char *why = "unknown error";
    uint64_t clock = 0;
    struct stat st;
    gsize len;

    if (stat(s->backing, &st) < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        error_setg_errno(errp, errno, "bnnacc: backing file '%s'",
                         s->backing);
        return -1;
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        return 0;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > BNNACC_MAX_IMAGE) {
        error_setg(errp, "bnnacc: backing file '%s' is not a bnnacc image "
                   "(not a regular file of at most %u bytes)", s->backing,
                   (unsigned)BNNACC_MAX_IMAGE);
        return -1;
    }
    if (!g_file_get_contents(s->backing, &buf, &len, &gerr)) {
        error_setg(errp, "bnnacc: cannot read backing file '%s': %s",
                   s->backing, gerr->message);
        g_error_free(gerr);
        return -1;
    }
    s->arr = bnc_load(buf, len, &clock, &why);
    if (!s->arr) {
        error_setg(errp, "bnnacc: backing file '%s' is not a valid bnnacc "
                   "image: %s", s->backing, why ? why : "malformed");
        return -1;
    }
    s->clock_base = clock;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Interrupts                                                               */
/* ------------------------------------------------------------------------ */

static void bnnacc_update_intx(BnnaccState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = (s->int_status & ~s->int_mask & BNNACC_INT_ALL) &&
                 !msix_enabled(pdev) && !msi_enabled(pdev);

    pci_set_irq(pdev, level);
}

/* Send the messages for @causes (already filtered by INT_MASK). */
static void bnnacc_send_msg(BnnaccState *s, uint32_t causes)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    if (!causes) {
        return;
    }
    if (msix_enabled(pdev)) {
        if (causes & BNNACC_INT_CQ) {
            msix_notify(pdev, BNNACC_MSIX_CQ);
        }
        if (causes & (BNNACC_INT_ERROR | BNNACC_INT_EVENT)) {
            msix_notify(pdev, BNNACC_MSIX_ERROR);
        }
    } else if (msi_enabled(pdev)) {
        msi_notify(pdev, 0);
    }
}

static void bnnacc_raise(BnnaccState *s, uint32_t causes)
{
    s->int_status |= causes;
    trace_bnnacc_irq(causes, causes & ~s->int_mask);
    bnnacc_send_msg(s, causes & ~s->int_mask);
    bnnacc_update_intx(s);
}

/* ------------------------------------------------------------------------ */
/* Drift monitor                                                            */
/* ------------------------------------------------------------------------ */

/*
 * The card watches its own relaxation (bnc_relaxation(): the mean loss of
 * conductance of the oldest SET cells) and raises an EVENT (drift) each
 * time it passes a further multiple of drift-alert-ppm. Called after every
 * PROGRAM, clock jump and power-on, and from a timer armed for the device
 * time of the next level, so the alert comes from the physics alone.
 * Reprogramming lowers the level again without an alert.
 */
static void bnnacc_drift_check(BnnaccState *s, bool alert)
{
    double step = s->drift_alert_ppm / 1e6, r;
    uint64_t now, next;
    uint32_t lvl;

    if (!s->drift_timer) {
        return;
    }
    timer_del(s->drift_timer);
    if (!s->arr || !step) {
        return;
    }
    now = bnnacc_clock_ns(s);
    qemu_mutex_lock(&s->arr_lock);
    r = bnc_relaxation(s->arr, now);
    lvl = r / step >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)(r / step);
    next = bnc_relaxation_time(s->arr, (lvl + 1.0) * step);
    qemu_mutex_unlock(&s->arr_lock);
    trace_bnnacc_drift(lvl, alert && lvl > s->drift_level);
    if (alert && lvl > s->drift_level) {
        info_report("bnnacc: drift alert: the array has relaxed by %.2f %%",
                    100.0 * r);
        s->event_info = BNNACC_EVT_DRIFT;
        bnnacc_raise(s, BNNACC_INT_EVENT);
    }
    s->drift_level = lvl;
    if (next == UINT64_MAX || !s->time_scale) {
        return;
    }
    /* device ns to virtual ns: the clock runs time-scale ns per ns */
    timer_mod(s->drift_timer, s->virt_base +
              (int64_t)MIN((next > s->clock_base ? next - s->clock_base : 0) /
                           s->time_scale + 1, (uint64_t)INT64_MAX / 2));
}

static void bnnacc_drift_timer(void *opaque)
{
    bnnacc_drift_check(opaque, true);
}

/* ------------------------------------------------------------------------ */
/* Card state                                                               */
/* ------------------------------------------------------------------------ */

static void bnnacc_cmd_free(BnnaccCmd *c)
{
    if (c) {
        g_free(c->in);
        g_free(c->out);
        g_free(c->tmp);
        g_free(c);
    }
}

static void bnnacc_queue_free(BnnaccCmdQueue *q)
{
    BnnaccCmd *c;

    while ((c = QSIMPLEQ_FIRST(q))) {
        QSIMPLEQ_REMOVE_HEAD(q, next);
        bnnacc_cmd_free(c);
    }
}

/*
 * Drop every command in the card, as RESET, disable and fatal errors do.
 * The one the worker is computing, if any, belongs to an old epoch now: the
 * worker abandons it at its next chunk and frees it. The worker never
 * touches guest memory, so nothing of the old commands reaches the guest
 * after this returns.
 */
static void bnnacc_engine_flush(BnnaccState *s)
{
    if (s->bh) {
        qemu_bh_cancel(s->bh);
    }
    qemu_mutex_lock(&s->lock);
    /* traced first: the worker's trace of an abandoned command follows it */
    trace_bnnacc_flush(s->epoch + 1);
    qatomic_set(&s->epoch, s->epoch + 1);
    bnnacc_queue_free(&s->todo);
    bnnacc_queue_free(&s->done);
    qemu_mutex_unlock(&s->lock);
    bnnacc_cmd_free(s->fetching);
    bnnacc_cmd_free(s->posting);
    s->fetching = s->posting = NULL;
    s->inflight = 0;
    s->inflight_bytes = 0;
}

static void bnnacc_rings_forget(BnnaccState *s)
{
    bnnacc_engine_flush(s);
    s->sq_head = s->sq_tail = 0;
    s->cq_head = s->cq_tail = 0;
    s->phase = true;
}

/* A fatal error: record it, halt the card, raise INT.ERROR. */
static void bnnacc_fatal(BnnaccState *s, uint32_t err, uint32_t info)
{
    if (!s->err_info_set) {
        s->err_info = info;
        s->err_info_set = true;
    }
    s->err_status |= err;
    s->fatal = true;
    s->ready = false;
    trace_bnnacc_fatal(err, info);
    bnnacc_engine_flush(s);
    bnnacc_raise(s, BNNACC_INT_ERROR);
}

/* RESET_KEY and device reset: registers to power-on values. */
static void bnnacc_reset_card(BnnaccState *s)
{
    bnnacc_rings_forget(s);
    s->ctrl = 0;
    s->ready = false;
    s->fatal = false;
    s->int_status = 0;
    s->int_mask = 0;
    s->err_status = 0;
    s->err_info = 0;
    s->err_info_set = false;
    s->event_info = BNNACC_EVT_NONE;
    s->sq_base = s->cq_base = 0;
    s->sq_size = s->cq_size = 0;
    s->clock_latch = s->busy_latch = 0;
    bnnacc_update_intx(s);
}

static bool bnnacc_ring_size_ok(uint32_t size)
{
    return size >= BNNACC_RING_MIN && size <= BNNACC_RING_MAX &&
           is_power_of_2(size);
}

/* The ring register at fault, or 0 if the configuration is good. */
static uint32_t bnnacc_ring_config_error(BnnaccState *s)
{
    if (!s->sq_base || (s->sq_base & 63)) {
        return BNNACC_REG_SQ_BASE_LO;
    }
    if (!bnnacc_ring_size_ok(s->sq_size)) {
        return BNNACC_REG_SQ_SIZE;
    }
    if (!s->cq_base || (s->cq_base & 63)) {
        return BNNACC_REG_CQ_BASE_LO;
    }
    if (!bnnacc_ring_size_ok(s->cq_size)) {
        return BNNACC_REG_CQ_SIZE;
    }
    return 0;
}

static void bnnacc_write_ctrl(BnnaccState *s, uint32_t val)
{
    bool was = s->ctrl & BNNACC_CTRL_ENABLE;
    bool on = val & BNNACC_CTRL_ENABLE;
    uint32_t bad;

    if (val & ~BNNACC_CTRL_ENABLE) {
        BNNACC_GUEST_ERR("reserved CTRL bits 0x%x ignored",
                         val & ~BNNACC_CTRL_ENABLE);
    }
    s->ctrl = val & BNNACC_CTRL_ENABLE;
    if (on == was) {
        return;
    }
    bnnacc_rings_forget(s);
    s->ready = false;
    if (!on || s->fatal) {
        return;
    }
    bad = bnnacc_ring_config_error(s);
    if (bad) {
        BNNACC_GUEST_ERR("ENABLE with a bad ring configuration (reg 0x%x: "
                         "sq 0x%" PRIx64 "/%u cq 0x%" PRIx64 "/%u)", bad,
                         s->sq_base, s->sq_size, s->cq_base, s->cq_size);
        bnnacc_fatal(s, BNNACC_ERR_RING_CONFIG, bad);
        return;
    }
    s->ready = true;
}

static void bnnacc_doorbell(BnnaccState *s, hwaddr reg, uint32_t val)
{
    const char *name = reg == BNNACC_REG_SQ_TAIL ? "SQ_TAIL" : "CQ_HEAD";
    uint32_t size = reg == BNNACC_REG_SQ_TAIL ? s->sq_size : s->cq_size;

    if (!(s->ctrl & BNNACC_CTRL_ENABLE)) {
        BNNACC_GUEST_ERR("%s=%u while the card is disabled", name, val);
        return;
    }
    if (!s->ready) {
        BNNACC_GUEST_ERR("%s=%u while the card is not ready", name, val);
        bnnacc_fatal(s, BNNACC_ERR_DOORBELL, val);
        return;
    }
    if (val >= size) {
        BNNACC_GUEST_ERR("%s=%u beyond the ring of %u", name, val, size);
        bnnacc_fatal(s, BNNACC_ERR_DOORBELL, val);
        return;
    }
    if (reg == BNNACC_REG_SQ_TAIL) {
        s->sq_tail = val;
    } else {
        /* The host may consume only what the card has posted. */
        uint32_t posted = (s->cq_tail - s->cq_head) & (size - 1);
        uint32_t consumed = (val - s->cq_head) & (size - 1);

        if (consumed > posted) {
            BNNACC_GUEST_ERR("CQ_HEAD=%u passes the CQ tail %u", val,
                             s->cq_tail);
            bnnacc_fatal(s, BNNACC_ERR_DOORBELL, val);
            return;
        }
        s->cq_head = val;
    }
    qemu_bh_schedule(s->bh);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */
/* ------------------------------------------------------------------------ */

/* Unused cdw words of a command: those from @first on must be zero. */
static bool bnnacc_cdw_clear(const struct bnnacc_sqe *e, unsigned first)
{
    unsigned i;

    for (i = first; i < ARRAY_SIZE(e->cdw); i++) {
        if (e->cdw[i]) {
            return false;
        }
    }
    return true;
}

static bool bnnacc_src_unused(const struct bnnacc_sqe *e)
{
    return !e->src_addr && !e->src_len;
}

static bool bnnacc_dst_unused(const struct bnnacc_sqe *e)
{
    return !e->dst_addr && !e->dst_len;
}

static uint16_t bnnacc_region_sc(BnnaccCmd *c, const struct bnnacc_sqe *e)
{
    c->reg.row = e->region.row;
    c->reg.col = e->region.col;
    c->reg.rows = e->region.rows;
    c->reg.cols = e->region.cols;
    if (bnc_region_check(&c->reg) < 0) {
        BNNACC_GUEST_ERR("cid %u: region %u+%u x %u+%u leaves the array",
                         e->cid, c->reg.row, c->reg.rows, c->reg.col,
                         c->reg.cols);
        return BNNACC_SC_INVALID_REGION;
    }
    return BNNACC_SC_SUCCESS;
}

/* Allocate @len bytes for the result. */
static uint16_t bnnacc_alloc_out(BnnaccCmd *c, uint64_t len)
{
    c->out = g_try_malloc0(len);
    if (!c->out) {
        return BNNACC_SC_INTERNAL;
    }
    c->out_len = len;
    return BNNACC_SC_SUCCESS;
}

/* Fetch @len bytes of command input from guest memory. */
static uint16_t bnnacc_fetch_in(BnnaccState *s, BnnaccCmd *c, uint64_t addr,
                                uint64_t len)
{
    c->in = g_try_malloc(len);
    if (!c->in) {
        return BNNACC_SC_INTERNAL;
    }
    if (pci_dma_read(PCI_DEVICE(s), addr, c->in, len) != MEMTX_OK) {
        BNNACC_GUEST_ERR("cid %u: cannot read %" PRIu64 " bytes at 0x%"
                         PRIx64, c->cid, len, addr);
        return BNNACC_SC_DMA_ERROR;
    }
    return BNNACC_SC_SUCCESS;
}

static uint16_t bnnacc_len_sc(BnnaccCmd *c, const char *what, uint64_t need,
                              uint32_t have)
{
    if (need > BNNACC_MAX_XFER || have < need) {
        BNNACC_GUEST_ERR("cid %u: %s needs %" PRIu64 " bytes, buffer has %u "
                         "(limit %u)", c->cid, what, need, have,
                         (unsigned)BNNACC_MAX_XFER);
        return BNNACC_SC_LENGTH;
    }
    return BNNACC_SC_SUCCESS;
}

/*
 * Whether DMA reaches every byte of the data buffer [addr, addr + len).
 * Checked before a command moves any data: QEMU's DMA carries on past an
 * address nothing decodes (one guest-error line per access) and past 2^64
 * to bus address 0, so an unchecked bad buffer would be partly transferred,
 * or written over low guest memory.
 */
static uint16_t bnnacc_dma_sc(BnnaccState *s, BnnaccCmd *c, const char *what,
                              uint64_t addr, uint64_t len, DMADirection dir)
{
    if (!len) {
        return BNNACC_SC_SUCCESS;
    }
    if (len - 1 > UINT64_MAX - addr ||
        !dma_memory_valid(pci_get_address_space(PCI_DEVICE(s)), addr, len,
                          dir, MEMTXATTRS_UNSPECIFIED)) {
        BNNACC_GUEST_ERR("cid %u: %s buffer of %" PRIu64 " bytes at 0x%"
                         PRIx64 " is not reachable by DMA", c->cid, what,
                         len, addr);
        return BNNACC_SC_DMA_ERROR;
    }
    return BNNACC_SC_SUCCESS;
}

static void bnnacc_identify(BnnaccState *s, BnnaccCmd *c)
{
    struct bnnacc_identify *id = c->out;

    memset(id, 0, sizeof(*id));
    id->magic = cpu_to_le32(BNNACC_MAGIC);
    id->hw_version = cpu_to_le32(BNNACC_HW_VERSION);
    id->rows = cpu_to_le16(BNNACC_ROWS);
    id->cols = cpu_to_le16(BNNACC_COLS);
    id->max_ring = cpu_to_le16(BNNACC_RING_MAX);
    id->dac_bits = s->dac_bits;
    id->adc_bits = s->adc_bits;
    id->features = cpu_to_le32(s->features);
    id->iset_min_na = cpu_to_le32(s->iset_min_na);
    id->iset_max_na = cpu_to_le32(s->iset_max_na);
    id->adc_fs_na = cpu_to_le32(s->adc_fs_na);
    id->read_mv = cpu_to_le32(s->read_mv);
    id->g_min_ns = cpu_to_le32(s->g_min_ns);
    id->g_max_ns = cpu_to_le32(s->g_max_ns);
    qemu_mutex_lock(&s->arr_lock);
    id->stuck_cells = cpu_to_le32(bnc_stuck_count(s->arr));
    qemu_mutex_unlock(&s->arr_lock);
    id->serial = cpu_to_le64(s->serial);
    id->clock_ns = cpu_to_le64(c->now_ns);
    pstrcpy(id->model, sizeof(id->model), BNNACC_MODEL);
}

static uint16_t bnnacc_start_identify(BnnaccState *s, BnnaccCmd *c,
                                      const struct bnnacc_sqe *e)
{
    const struct bnnacc_region *r = &e->region;
    uint16_t sc;

    if (r->row || r->col || r->rows || r->cols || !bnnacc_src_unused(e) ||
        !bnnacc_cdw_clear(e, 0)) {
        BNNACC_GUEST_ERR("cid %u: IDENTIFY with a region, source or cdw",
                         e->cid);
        return BNNACC_SC_INVALID_FIELD;
    }
    sc = bnnacc_len_sc(c, "IDENTIFY", sizeof(struct bnnacc_identify),
                       e->dst_len);
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_dma_sc(s, c, "IDENTIFY destination", e->dst_addr,
                           sizeof(struct bnnacc_identify),
                           DMA_DIRECTION_FROM_DEVICE);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_alloc_out(c, sizeof(struct bnnacc_identify));
    }
    c->units = 1;           /* the worker fills it in */
    return sc;
}

static uint16_t bnnacc_start_program(BnnaccState *s, BnnaccCmd *c,
                                     const struct bnnacc_sqe *e)
{
    uint64_t cells, i;
    uint32_t *words;
    uint16_t sc;

    if (!bnnacc_dst_unused(e) || !bnnacc_cdw_clear(e, 0)) {
        BNNACC_GUEST_ERR("cid %u: PROGRAM with a destination or cdw", e->cid);
        return BNNACC_SC_INVALID_FIELD;
    }
    sc = bnnacc_region_sc(c, e);
    if (sc != BNNACC_SC_SUCCESS) {
        return sc;
    }
    cells = (uint64_t)c->reg.rows * c->reg.cols;
    sc = bnnacc_len_sc(c, "PROGRAM", cells * 4, e->src_len);
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_dma_sc(s, c, "PROGRAM source", e->src_addr, cells * 4,
                           DMA_DIRECTION_TO_DEVICE);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_fetch_in(s, c, e->src_addr, cells * 4);
    }
    if (sc != BNNACC_SC_SUCCESS) {
        return sc;
    }
    words = c->in;
    for (i = 0; i < cells; i++) {
        le32_to_cpus(&words[i]);
    }
    c->units = 1;           /* the worker programs the cells */
    return BNNACC_SC_SUCCESS;
}

static uint16_t bnnacc_start_read(BnnaccState *s, BnnaccCmd *c,
                                  const struct bnnacc_sqe *e)
{
    uint64_t reads = e->cdw[0] ? e->cdw[0] : 1;
    uint64_t per_read;
    uint16_t sc;

    if (!bnnacc_src_unused(e) || !bnnacc_cdw_clear(e, 1)) {
        BNNACC_GUEST_ERR("cid %u: READ with a source or cdw[1..3]", e->cid);
        return BNNACC_SC_INVALID_FIELD;
    }
    sc = bnnacc_region_sc(c, e);
    if (sc != BNNACC_SC_SUCCESS) {
        return sc;
    }
    per_read = (uint64_t)c->reg.rows * c->reg.cols * 4;
    sc = bnnacc_len_sc(c, "READ", reads * per_read, e->dst_len);
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_dma_sc(s, c, "READ destination", e->dst_addr,
                           reads * per_read, DMA_DIRECTION_FROM_DEVICE);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_alloc_out(c, reads * per_read);
    }
    c->units = reads;
    return sc;
}

static uint16_t bnnacc_start_mvm(BnnaccState *s, BnnaccCmd *c,
                                 const struct bnnacc_sqe *e)
{
    uint64_t count = e->cdw[0];
    uint64_t repeat = e->cdw[1] ? e->cdw[1] : 1;
    bool sum = e->cdw[2] & BNNACC_MVM_SUM;
    uint64_t in_len, per_repeat, out_len, work;
    uint16_t sc;

    if (!count ||
        (e->cdw[2] & ~(BNNACC_MVM_SHIFT_MASK | BNNACC_MVM_SUM)) ||
        (e->cdw[2] & BNNACC_MVM_SHIFT_MASK) > BNNACC_ADC_SHIFT_MAX ||
        !bnnacc_cdw_clear(e, 3)) {
        BNNACC_GUEST_ERR("cid %u: MVM count %u, shift %u, cdw[3] 0x%x",
                         e->cid, e->cdw[0], e->cdw[2], e->cdw[3]);
        return BNNACC_SC_INVALID_FIELD;
    }
    sc = bnnacc_region_sc(c, e);
    if (sc != BNNACC_SC_SUCCESS) {
        return sc;
    }
    in_len = count * c->reg.rows * 2;
    per_repeat = count * c->reg.cols * 4;
    /*
     * per_repeat <= 2^41: the product below cannot overflow. The work of a
     * command is bounded as if it posted every repeat, summed or not: a
     * summed MVM is no longer than the same MVM unsummed.
     */
    work = repeat > BNNACC_MVM_MAX_CODE_BYTES / per_repeat ? UINT64_MAX :
           repeat * per_repeat;
    out_len = sum ? per_repeat : work;
    sc = bnnacc_len_sc(c, "MVM input", in_len, e->src_len);
    if (sc == BNNACC_SC_SUCCESS && sum && work > BNNACC_MVM_MAX_CODE_BYTES) {
        BNNACC_GUEST_ERR("cid %u: MVM sum of %" PRIu64 " x %" PRIu64
                         " evaluations: over the card's %u bytes of codes",
                         e->cid, repeat, count,
                         (unsigned)BNNACC_MVM_MAX_CODE_BYTES);
        sc = BNNACC_SC_LENGTH;
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_len_sc(c, "MVM output", out_len, e->dst_len);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_dma_sc(s, c, "MVM source", e->src_addr, in_len,
                           DMA_DIRECTION_TO_DEVICE);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_dma_sc(s, c, "MVM destination", e->dst_addr, out_len,
                           DMA_DIRECTION_FROM_DEVICE);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        sc = bnnacc_alloc_out(c, out_len);
    }
    if (sc == BNNACC_SC_SUCCESS) {
        c->tmp = g_try_new(int32_t, BNNACC_MVM_CHUNK * BNNACC_COLS);
        sc = c->tmp ? BNNACC_SC_SUCCESS : BNNACC_SC_INTERNAL;
    }
    if (sc == BNNACC_SC_SUCCESS) {
        c->in = g_try_malloc(in_len);
        sc = c->in ? BNNACC_SC_SUCCESS : BNNACC_SC_INTERNAL;
    }
    if (sc != BNNACC_SC_SUCCESS) {
        return sc;
    }
    c->src_addr = e->src_addr;
    c->in_len = in_len;
    c->count = count;
    c->repeat = repeat;
    c->shift = e->cdw[2] & BNNACC_MVM_SHIFT_MASK;
    c->sum = sum;
    c->units = repeat * count;
    return BNNACC_SC_SUCCESS;
}

/*
 * Decode and check a fetched entry and set it up for the worker (PROGRAM's
 * words are read in here; MVM's input by bnnacc_fetch_more()). The status
 * goes to c->sc: a command that fails here still passes through the worker,
 * so that completions keep SQ order.
 */
static void bnnacc_cmd_start(BnnaccState *s, BnnaccCmd *c,
                             struct bnnacc_sqe *e)
{
    c->cid = le16_to_cpu(e->cid);
    c->opcode = e->opcode;
    c->now_ns = bnnacc_clock_ns(s);

    e->cid = c->cid;
    e->rsvd0 = le32_to_cpu(e->rsvd0);
    e->region.row = le16_to_cpu(e->region.row);
    e->region.col = le16_to_cpu(e->region.col);
    e->region.rows = le16_to_cpu(e->region.rows);
    e->region.cols = le16_to_cpu(e->region.cols);
    e->src_addr = le64_to_cpu(e->src_addr);
    e->dst_addr = le64_to_cpu(e->dst_addr);
    e->src_len = le32_to_cpu(e->src_len);
    e->dst_len = le32_to_cpu(e->dst_len);
    le32_to_cpus(&e->cdw[0]);
    le32_to_cpus(&e->cdw[1]);
    le32_to_cpus(&e->cdw[2]);
    le32_to_cpus(&e->cdw[3]);
    e->rsvd1 = le64_to_cpu(e->rsvd1);
    c->dst_addr = e->dst_addr;

    if (s->fault_hang) {
        s->fault_hang--;
        c->hung = true;
        info_report("bnnacc: fault-hang: cid %u hangs (%u more to hang)",
                    c->cid, s->fault_hang);
        return;
    }
    if (s->fault_dma) {
        s->fault_dma--;
        c->sc = BNNACC_SC_DMA_ERROR;
        info_report("bnnacc: fault-dma: cid %u fails (%u more to fail)",
                    c->cid, s->fault_dma);
        return;
    }

    switch (e->opcode) {
    case BNNACC_OP_IDENTIFY:
    case BNNACC_OP_PROGRAM:
    case BNNACC_OP_READ:
    case BNNACC_OP_MVM:
        break;
    default:
        BNNACC_GUEST_ERR("cid %u: unsupported opcode 0x%x", c->cid,
                         e->opcode);
        c->sc = BNNACC_SC_INVALID_OPCODE;
        return;
    }
    if (e->flags || e->rsvd0 || e->rsvd1) {
        BNNACC_GUEST_ERR("cid %u: flags 0x%x rsvd0 0x%x rsvd1 0x%" PRIx64,
                         c->cid, e->flags, e->rsvd0, (uint64_t)e->rsvd1);
        c->sc = BNNACC_SC_INVALID_FIELD;
        return;
    }
    switch (e->opcode) {
    case BNNACC_OP_IDENTIFY:
        c->sc = bnnacc_start_identify(s, c, e);
        break;
    case BNNACC_OP_PROGRAM:
        c->sc = bnnacc_start_program(s, c, e);
        break;
    case BNNACC_OP_READ:
        c->sc = bnnacc_start_read(s, c, e);
        break;
    default:
        c->sc = bnnacc_start_mvm(s, c, e);
        break;
    }
}

/*
 * One core call's worth of MVM. The units are the command's count * repeat
 * vector evaluations in the order the core draws their noise (vector-major:
 * u = vector * repeat + k), so any split gives the same codes as a single
 * call would. The core lays a call's output out [repeat][vector][col] for
 * that call's vectors; it is copied into the command's layout. Worker,
 * arr_lock held.
 */
static int bnnacc_mvm_chunk(BnnaccState *s, BnnaccCmd *c)
{
    uint64_t j = c->unit / c->repeat, k = c->unit % c->repeat;
    unsigned cols = c->reg.cols, n, rep, a, b;
    int32_t *out = c->out;
    int ret;

    if (k == 0 && c->repeat <= BNNACC_MVM_CHUNK) {
        n = MIN(c->count - j, MAX(1, BNNACC_MVM_CHUNK / c->repeat));
        rep = c->repeat;
    } else {
        n = 1;
        rep = MIN(c->repeat - k, BNNACC_MVM_CHUNK);
    }
    ret = bnc_mvm(s->arr, &c->reg, (int16_t *)c->in + j * c->reg.rows, n,
                  rep, c->shift, c->tmp, c->now_ns);
    for (a = 0; a < rep; a++) {
        for (b = 0; b < n; b++) {
            const int32_t *t = c->tmp + ((uint64_t)a * n + b) * cols;
            int32_t *o;
            unsigned i;

            if (!c->sum) {
                memcpy(out + ((k + a) * c->count + j + b) * cols, t,
                       cols * 4);
                continue;
            }
            /* the output buffer starts zeroed (bnnacc_alloc_out) */
            o = out + (j + b) * cols;
            for (i = 0; i < cols; i++) {
                o[i] += t[i];
            }
        }
    }
    c->unit += (uint64_t)n * rep;
    return ret;
}

/* Worker: PROGRAM the cells, then keep the new state in the backing file. */
static void bnnacc_cmd_program(BnnaccState *s, BnnaccCmd *c)
{
    int ret;

    qemu_mutex_lock(&s->arr_lock);
    ret = bnc_program(s->arr, &c->reg, c->in, c->now_ns);
    qemu_mutex_unlock(&s->arr_lock);
    c->unit = 1;
    if (ret == -BNC_EWORD) {
        BNNACC_GUEST_ERR("cid %u: bad program word", c->cid);
        c->sc = BNNACC_SC_INVALID_FIELD;
    } else if (ret == -BNC_EREGION) {
        c->sc = BNNACC_SC_INVALID_REGION;
    } else if (ret < 0) {
        c->sc = BNNACC_SC_INTERNAL;
    } else {
        c->programmed = true;
        bnnacc_backing_sync(s, c->now_ns);
    }
}

/*
 * Worker: compute a command, a chunk at a time, each under arr_lock. A
 * command whose epoch has passed (RESET, disable, a fatal error) is
 * abandoned between chunks.
 */
static void bnnacc_cmd_compute(BnnaccState *s, BnnaccCmd *c)
{
    uint64_t cells = (uint64_t)c->reg.rows * c->reg.cols;
    int64_t t0 = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    while (c->sc == BNNACC_SC_SUCCESS && c->unit < c->units &&
           qatomic_read(&s->epoch) == c->epoch) {
        switch (c->opcode) {
        case BNNACC_OP_IDENTIFY:
            bnnacc_identify(s, c);
            c->unit = 1;
            break;
        case BNNACC_OP_PROGRAM:
            bnnacc_cmd_program(s, c);
            break;
        case BNNACC_OP_READ:
            qemu_mutex_lock(&s->arr_lock);
            if (bnc_read(s->arr, &c->reg,
                         (uint32_t *)c->out + c->unit * cells,
                         c->now_ns) < 0) {
                c->sc = BNNACC_SC_INTERNAL;
            }
            qemu_mutex_unlock(&s->arr_lock);
            c->unit++;
            break;
        default:
            qemu_mutex_lock(&s->arr_lock);
            if (bnnacc_mvm_chunk(s, c) < 0) {
                c->sc = BNNACC_SC_INTERNAL;
            }
            qemu_mutex_unlock(&s->arr_lock);
            break;
        }
    }
    trace_bnnacc_compute(c->cid, c->opcode, c->unit,
                         qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - t0);
}

/*
 * The worker thread: computes the commands of todo in order and hands them
 * to the bottom half through done; writes the backing file on request.
 */
static void *bnnacc_worker(void *opaque)
{
    BnnaccState *s = opaque;
    BnnaccCmd *c;

    rcu_register_thread();      /* for qemu_log and trace from this thread */
    qemu_mutex_lock(&s->lock);
    while (!s->stop) {
        if (s->save_req) {
            uint64_t clock = s->save_clock;

            s->save_req = false;
            qemu_mutex_unlock(&s->lock);
            bnnacc_backing_sync(s, clock);
            qemu_mutex_lock(&s->lock);
            continue;
        }
        c = QSIMPLEQ_FIRST(&s->todo);
        if (!c) {
            qemu_cond_wait(&s->cond, &s->lock);
            continue;
        }
        QSIMPLEQ_REMOVE_HEAD(&s->todo, next);
        qemu_mutex_unlock(&s->lock);
        bnnacc_cmd_compute(s, c);
        qemu_mutex_lock(&s->lock);
        if (c->epoch != s->epoch) {
            bnnacc_cmd_free(c);         /* flushed meanwhile */
            continue;
        }
        QSIMPLEQ_INSERT_TAIL(&s->done, c, next);
        qemu_bh_schedule(s->bh);
    }
    qemu_mutex_unlock(&s->lock);
    rcu_unregister_thread();
    return NULL;
}

static void bnnacc_engine_start(BnnaccState *s)
{
    s->stop = false;
    qemu_thread_create(&s->thread, "bnnacc-worker", bnnacc_worker, s,
                       QEMU_THREAD_JOINABLE);
    s->thread_started = true;
}

/* Stop the worker (it finishes the chunk it is on) and wait for it. */
static void bnnacc_engine_stop(BnnaccState *s)
{
    if (!s->thread_started) {
        return;
    }
    qemu_mutex_lock(&s->lock);
    s->stop = true;
    qemu_cond_signal(&s->cond);
    qemu_mutex_unlock(&s->lock);
    qemu_thread_join(&s->thread);
    s->thread_started = false;
}

/* Move the next piece of MVM input from the guest. */
static void bnnacc_cmd_read_in(BnnaccState *s, BnnaccCmd *c)
{
    uint64_t len = MIN(c->in_len - c->in_done, BNNACC_DMA_CHUNK);
    uint16_t *in = c->in;
    uint64_t i;

    if (pci_dma_read(PCI_DEVICE(s), c->src_addr + c->in_done,
                     (uint8_t *)c->in + c->in_done, len) != MEMTX_OK) {
        BNNACC_GUEST_ERR("cid %u: cannot read %" PRIu64 " bytes at 0x%"
                         PRIx64, c->cid, c->in_len, c->src_addr);
        c->sc = BNNACC_SC_DMA_ERROR;
        return;
    }
    c->in_done += len;
    if (c->in_done == c->in_len) {
        for (i = 0; i < c->in_len / 2; i++) {
            le16_to_cpus(&in[i]);
        }
    }
}

/* Move the next piece of the result to the guest. */
static void bnnacc_cmd_write_out(BnnaccState *s, BnnaccCmd *c)
{
    uint64_t len = MIN(c->out_len - c->out_done, BNNACC_DMA_CHUNK);
    uint8_t *out = (uint8_t *)c->out + c->out_done;
    uint64_t i;

    if (c->opcode == BNNACC_OP_READ || c->opcode == BNNACC_OP_MVM) {
        for (i = 0; i < len / 4; i++) {
            cpu_to_le32s((uint32_t *)out + i);
        }
    }
    if (pci_dma_write(PCI_DEVICE(s), c->dst_addr + c->out_done, out, len) !=
        MEMTX_OK) {
        BNNACC_GUEST_ERR("cid %u: cannot write %" PRIu64 " bytes at 0x%"
                         PRIx64, c->cid, c->out_len, c->dst_addr);
        c->sc = BNNACC_SC_DMA_ERROR;
        return;
    }
    c->out_done += len;
}

static bool bnnacc_past(int64_t deadline)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME) >= deadline;
}

/*
 * Post the completion of @c (the oldest command in the card) and free it;
 * false on a fatal error. Its busy time is the host time since the previous
 * completion or its own fetch, whichever is later: the completions' busy
 * times add up to the time the card had work, like the BUSY counter.
 */
static bool bnnacc_cmd_complete(BnnaccState *s, BnnaccCmd *c)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    uint64_t busy = now - MAX(s->last_post_ns, c->start_ns);
    uint16_t sc = c->sc;
    struct bnnacc_cqe cqe = {
        .cid = cpu_to_le16(c->cid),
        .status = cpu_to_le16(sc << 1 | s->phase),
        .sq_head = cpu_to_le16(s->sq_head),
        .result = cpu_to_le32(sc == BNNACC_SC_SUCCESS ? c->out_len : 0),
        .busy_ns = cpu_to_le32(MIN(busy, UINT32_MAX)),
    };
    uint32_t slot = s->cq_tail;
    bool programmed = c->programmed;
    uint64_t addr;

    if (s->fault_corrupt) {
        s->fault_corrupt--;
        cqe.cid = cpu_to_le16(c->cid ^ 0x8000);
        info_report("bnnacc: fault-corrupt-cqe: cid %u posted as %u "
                    "(%u more to corrupt)", c->cid, c->cid ^ 0x8000,
                    s->fault_corrupt);
    }
    trace_bnnacc_post(slot, c->cid, sc, busy);
    assert(c == s->posting);
    s->posting = NULL;
    s->inflight--;
    s->inflight_bytes -= c->bytes;
    bnnacc_cmd_free(c);
    s->last_post_ns = now;
    s->busy_ns = bnnacc_add_sat(s->busy_ns, busy);
    /*
     * The phase tag is what the host polls: write the rest of the entry
     * first and the status word last, each pci_dma_write ordered after the
     * previous one (pairs with the driver's dma_rmb() after seeing the
     * phase).
     */
    addr = s->cq_base + (uint64_t)slot * sizeof(cqe);
    if (pci_dma_write(PCI_DEVICE(s), addr, &cqe, 2) != MEMTX_OK ||
        pci_dma_write(PCI_DEVICE(s), addr + 4, (uint8_t *)&cqe + 4,
                      sizeof(cqe) - 4) != MEMTX_OK ||
        pci_dma_write(PCI_DEVICE(s), addr + 2, &cqe.status, 2) != MEMTX_OK) {
        BNNACC_GUEST_ERR("cannot post CQ entry %u at 0x%" PRIx64, slot, addr);
        bnnacc_fatal(s, BNNACC_ERR_CQ_POST, slot);
        return false;
    }
    s->cq_tail = (slot + 1) & (s->cq_size - 1);
    if (!s->cq_tail) {
        s->phase = !s->phase;
    }
    s->cmds_done++;
    if (sc != BNNACC_SC_SUCCESS) {
        s->cmds_failed++;
    }
    if (programmed) {
        bnnacc_drift_check(s, true);
    }
    return true;
}

/*
 * Whether the card may fetch another command: one is waiting, the pipeline
 * has room (BNNACC_PIPELINE commands, and one command's worth of buffers
 * beyond the first: the host memory a guest can make the card hold stays
 * about 2 * BNNACC_MAX_XFER), and the CQ has a free entry for it after
 * those still in the card have posted theirs.
 */
static bool bnnacc_can_fetch(BnnaccState *s)
{
    uint32_t used = (s->cq_tail - s->cq_head) & (s->cq_size - 1);

    return s->sq_head != s->sq_tail && s->inflight < BNNACC_PIPELINE &&
           s->inflight_bytes < BNNACC_MAX_XFER &&
           used + s->inflight + 1 < s->cq_size;
}

/* Fetch the entry at the SQ head and start it; false on a fatal error. */
static bool bnnacc_cmd_fetch(BnnaccState *s)
{
    struct bnnacc_sqe e;
    uint32_t slot = s->sq_head;
    uint64_t addr = s->sq_base + (uint64_t)slot * sizeof(e);
    BnnaccCmd *c;

    if (pci_dma_read(PCI_DEVICE(s), addr, &e, sizeof(e)) != MEMTX_OK) {
        BNNACC_GUEST_ERR("cannot fetch SQ entry %u at 0x%" PRIx64, slot,
                         addr);
        bnnacc_fatal(s, BNNACC_ERR_SQ_FETCH, slot);
        return false;
    }
    s->sq_head = (slot + 1) & (s->sq_size - 1);
    c = g_new0(BnnaccCmd, 1);
    c->epoch = s->epoch;
    c->start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    if (!s->inflight) {
        s->last_post_ns = c->start_ns;  /* the card was idle until now */
    }
    s->inflight++;
    s->fetching = c;
    bnnacc_cmd_start(s, c, &e);
    c->bytes = c->in_len + c->out_len;
    s->inflight_bytes += c->bytes;
    trace_bnnacc_fetch(slot, c->cid, c->opcode, c->sc);
    return true;
}

/* Hand the fetched command, its input in, to the worker. */
static void bnnacc_cmd_queue(BnnaccState *s)
{
    BnnaccCmd *c = s->fetching;

    s->fetching = NULL;
    qemu_mutex_lock(&s->lock);
    QSIMPLEQ_INSERT_TAIL(&s->todo, c, next);
    qemu_cond_signal(&s->cond);
    qemu_mutex_unlock(&s->lock);
}

/*
 * Complete what the worker has computed, in order: move each output out a
 * piece at a time and post its completion. False when the budget ran out
 * with work left; *posted counts the completions.
 */
static bool bnnacc_post_done(BnnaccState *s, int64_t deadline,
                             unsigned *posted)
{
    BnnaccCmd *c;

    while (s->ready) {
        if (!s->posting) {
            qemu_mutex_lock(&s->lock);
            c = QSIMPLEQ_FIRST(&s->done);
            if (c) {
                QSIMPLEQ_REMOVE_HEAD(&s->done, next);
            }
            qemu_mutex_unlock(&s->lock);
            if (!c) {
                return true;
            }
            s->posting = c;
        }
        c = s->posting;
        while (c->sc == BNNACC_SC_SUCCESS && c->out_done < c->out_len) {
            bnnacc_cmd_write_out(s, c);
            if (bnnacc_past(deadline)) {
                return false;
            }
        }
        if (!bnnacc_cmd_complete(s, c)) {
            return true;                /* fatal: the card has stopped */
        }
        ++*posted;
        if (bnnacc_past(deadline)) {
            return false;
        }
    }
    return true;
}

/*
 * Fetch commands while the card has room, move their input in a piece at a
 * time and queue them for the worker. False when the budget ran out with
 * work left.
 */
static bool bnnacc_fetch_more(BnnaccState *s, int64_t deadline)
{
    BnnaccCmd *c;

    while (s->ready) {
        if (!s->fetching) {
            if (!bnnacc_can_fetch(s) || !bnnacc_cmd_fetch(s)) {
                return true;
            }
        }
        c = s->fetching;
        if (c->hung) {
            return true;                /* the queue stalls behind it */
        }
        while (c->sc == BNNACC_SC_SUCCESS && c->in_done < c->in_len) {
            bnnacc_cmd_read_in(s, c);
            if (bnnacc_past(deadline)) {
                return false;
            }
        }
        bnnacc_cmd_queue(s);
        if (bnnacc_past(deadline)) {
            return false;
        }
    }
    return true;
}

/*
 * The card's DMA engine, run from the main loop when a doorbell rings or
 * the worker has finished a command: post what is computed, fetch what is
 * submitted, for at most BNNACC_BH_BUDGET_NS of host time (then run again).
 */
static void bnnacc_bh(void *opaque)
{
    BnnaccState *s = opaque;
    int64_t deadline = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                       BNNACC_BH_BUDGET_NS;
    unsigned posted = 0;
    bool again;

    again = !bnnacc_post_done(s, deadline, &posted);
    if (!again) {
        again = !bnnacc_fetch_more(s, deadline);
    }
    if (posted) {
        bnnacc_raise(s, BNNACC_INT_CQ);
    }
    if (again && s->ready) {
        qemu_bh_schedule(s->bh);
    }
}

/* ------------------------------------------------------------------------ */
/* Registers                                                                */
/* ------------------------------------------------------------------------ */

static uint32_t bnnacc_status(BnnaccState *s)
{
    return (s->ready ? BNNACC_STS_READY : 0) |
           (s->fatal ? BNNACC_STS_FATAL : 0) |
           (s->inflight ? BNNACC_STS_BUSY : 0);
}

static uint32_t bnnacc_reg_read(BnnaccState *s, hwaddr addr)
{
    switch (addr) {
    case BNNACC_REG_MAGIC:
        return BNNACC_MAGIC;
    case BNNACC_REG_VERSION:
        return BNNACC_HW_VERSION;
    case BNNACC_REG_GEOMETRY:
        return BNNACC_ROWS | BNNACC_COLS << 16;
    case BNNACC_REG_QCAP:
        return BNNACC_RING_MAX | s->dac_bits << 16 | s->adc_bits << 24;
    case BNNACC_REG_ISET_MIN:
        return s->iset_min_na;
    case BNNACC_REG_ISET_MAX:
        return s->iset_max_na;
    case BNNACC_REG_ADC_FS:
        return s->adc_fs_na;
    case BNNACC_REG_FEATURES:
        return s->features;
    case BNNACC_REG_CTRL:
        return s->ctrl;
    case BNNACC_REG_STATUS:
        return bnnacc_status(s);
    case BNNACC_REG_INT_STATUS:
        return s->int_status;
    case BNNACC_REG_INT_MASK:
        return s->int_mask;
    case BNNACC_REG_ERR_STATUS:
        return s->err_status;
    case BNNACC_REG_ERR_INFO:
        return s->err_info;
    case BNNACC_REG_SQ_BASE_LO:
        return (uint32_t)s->sq_base;
    case BNNACC_REG_SQ_BASE_HI:
        return s->sq_base >> 32;
    case BNNACC_REG_SQ_SIZE:
        return s->sq_size;
    case BNNACC_REG_CQ_BASE_LO:
        return (uint32_t)s->cq_base;
    case BNNACC_REG_CQ_BASE_HI:
        return s->cq_base >> 32;
    case BNNACC_REG_CQ_SIZE:
        return s->cq_size;
    case BNNACC_REG_SQ_HEAD:
        return s->sq_head;
    case BNNACC_REG_CLOCK_LO:
        s->clock_latch = bnnacc_clock_ns(s);
        return (uint32_t)s->clock_latch;
    case BNNACC_REG_CLOCK_HI:
        return s->clock_latch >> 32;
    case BNNACC_REG_BUSY_LO:
        s->busy_latch = s->busy_ns;
        return (uint32_t)s->busy_latch;
    case BNNACC_REG_BUSY_HI:
        return s->busy_latch >> 32;
    case BNNACC_REG_CMDS_DONE:
        return s->cmds_done;
    case BNNACC_REG_CMDS_FAILED:
        return s->cmds_failed;
    case BNNACC_REG_SERIAL_LO:
        return (uint32_t)s->serial;
    case BNNACC_REG_SERIAL_HI:
        return s->serial >> 32;
    case BNNACC_REG_EVENT_INFO: {
        uint32_t evt = s->event_info;

        s->event_info = BNNACC_EVT_NONE;
        return evt;
    }
    default:
        BNNACC_GUEST_ERR("read of 0x%" HWADDR_PRIx " (no such register or "
                         "write-only)", addr);
        return 0;
    }
}

static uint64_t bnnacc_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    uint32_t val = bnnacc_reg_read(opaque, addr);

    trace_bnnacc_mmio_read(addr, val);
    return val;
}

/* Ring registers may change only while the card is disabled. */
static bool bnnacc_ring_reg_writable(BnnaccState *s, hwaddr addr)
{
    if (!(s->ctrl & BNNACC_CTRL_ENABLE)) {
        return true;
    }
    BNNACC_GUEST_ERR("write to ring register 0x%" HWADDR_PRIx " while "
                     "enabled", addr);
    bnnacc_fatal(s, BNNACC_ERR_REG_ACCESS, addr);
    return false;
}

static void bnnacc_write_ring_reg(BnnaccState *s, hwaddr addr, uint32_t val)
{
    if (!bnnacc_ring_reg_writable(s, addr)) {
        return;
    }
    switch (addr) {
    case BNNACC_REG_SQ_BASE_LO:
        s->sq_base = deposit64(s->sq_base, 0, 32, val);
        break;
    case BNNACC_REG_SQ_BASE_HI:
        s->sq_base = deposit64(s->sq_base, 32, 32, val);
        break;
    case BNNACC_REG_SQ_SIZE:
        s->sq_size = val;
        break;
    case BNNACC_REG_CQ_BASE_LO:
        s->cq_base = deposit64(s->cq_base, 0, 32, val);
        break;
    case BNNACC_REG_CQ_BASE_HI:
        s->cq_base = deposit64(s->cq_base, 32, 32, val);
        break;
    case BNNACC_REG_CQ_SIZE:
        s->cq_size = val;
        break;
    }
}

static void bnnacc_write_int_mask(BnnaccState *s, uint32_t val)
{
    uint32_t unmasked = s->int_status & s->int_mask & ~val;

    if (val & ~BNNACC_INT_ALL) {
        BNNACC_GUEST_ERR("reserved INT_MASK bits 0x%x ignored",
                         val & ~BNNACC_INT_ALL);
    }
    s->int_mask = val & BNNACC_INT_ALL;
    /* a pending cause that is unmasked signals now */
    bnnacc_send_msg(s, unmasked);
    bnnacc_update_intx(s);
}

static void bnnacc_mmio_write(void *opaque, hwaddr addr, uint64_t val64,
                              unsigned size)
{
    BnnaccState *s = opaque;
    uint32_t val = val64;

    trace_bnnacc_mmio_write(addr, val);
    switch (addr) {
    case BNNACC_REG_CTRL:
        bnnacc_write_ctrl(s, val);
        break;
    case BNNACC_REG_RESET:
        if (val != BNNACC_RESET_KEY) {
            BNNACC_GUEST_ERR("RESET with 0x%x, not the key", val);
            break;
        }
        bnnacc_reset_card(s);
        break;
    case BNNACC_REG_INT_STATUS:
        s->int_status &= ~val;
        bnnacc_update_intx(s);
        break;
    case BNNACC_REG_INT_MASK:
        bnnacc_write_int_mask(s, val);
        break;
    case BNNACC_REG_ERR_STATUS:
        s->err_status &= ~val;
        break;
    case BNNACC_REG_SQ_BASE_LO:
    case BNNACC_REG_SQ_BASE_HI:
    case BNNACC_REG_SQ_SIZE:
    case BNNACC_REG_CQ_BASE_LO:
    case BNNACC_REG_CQ_BASE_HI:
    case BNNACC_REG_CQ_SIZE:
        bnnacc_write_ring_reg(s, addr, val);
        break;
    case BNNACC_REG_SQ_TAIL:
    case BNNACC_REG_CQ_HEAD:
        bnnacc_doorbell(s, addr, val);
        break;
    default:
        BNNACC_GUEST_ERR("write 0x%x to 0x%" HWADDR_PRIx " (no such register "
                         "or read-only)", val, addr);
        break;
    }
}

static const MemoryRegionOps bnnacc_mmio_ops = {
    .read = bnnacc_mmio_read,
    .write = bnnacc_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
    .impl = {
        .min_access_size = 4,
        .max_access_size = 4,
    },
};

/* ------------------------------------------------------------------------ */
/* Fault injection (run-time QOM properties)                                */
/* ------------------------------------------------------------------------ */

static void bnnacc_get_fault(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    uint32_t *field = opaque;
    uint32_t value = field ? *field : 0;

    visit_type_uint32(v, name, &value, errp);
}

static void bnnacc_get_busy(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    uint64_t value = BNNACC(obj)->busy_ns;

    visit_type_uint64(v, name, &value, errp);
}

static void bnnacc_set_fault(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    uint32_t *field = opaque;
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    *field = value;
    info_report("bnnacc: %s=%u", name, value);
}

static void bnnacc_set_stuck(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    BnnaccState *s = BNNACC(obj);
    uint32_t value;
    unsigned added, total;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (!s->arr) {
        error_setg(errp, "bnnacc: %s needs a realized device", name);
        return;
    }
    qemu_mutex_lock(&s->arr_lock);
    added = bnc_add_stuck(s->arr, value);
    total = bnc_stuck_count(s->arr);
    qemu_mutex_unlock(&s->arr_lock);
    info_report("bnnacc: %s=%u: %u cells newly stuck, %u in all", name,
                value, added, total);
    bnnacc_backing_request(s);
}

static void bnnacc_set_advance(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    BnnaccState *s = BNNACC(obj);
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (!s->arr) {
        error_setg(errp, "bnnacc: %s needs a realized device", name);
        return;
    }
    bnnacc_clock_advance(s, (uint64_t)value * NANOSECONDS_PER_SECOND);
    info_report("bnnacc: %s=%u: device clock now %" PRIu64 " ns", name,
                value, bnnacc_clock_ns(s));
    bnnacc_drift_check(s, true);
}

static void bnnacc_set_event(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    BnnaccState *s = BNNACC(obj);
    uint32_t value;

    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    if (value != BNNACC_EVT_DRIFT && value != BNNACC_EVT_THERMAL) {
        error_setg(errp, "bnnacc: %s must be %u (drift) or %u (thermal)",
                   name, BNNACC_EVT_DRIFT, BNNACC_EVT_THERMAL);
        return;
    }
    s->event_info = value;
    info_report("bnnacc: %s=%u: raising an EVENT interrupt", name, value);
    bnnacc_raise(s, BNNACC_INT_EVENT);
}

/* ------------------------------------------------------------------------ */
/* Realize, exit, reset                                                     */
/* ------------------------------------------------------------------------ */

/* The preset, then every physics property given on top of it. */
static bool bnnacc_phys_to_params(const BnnaccState *s, struct bnc_params *p,
                                  Error **errp)
{
    const BnnaccPhysProps *ph = &s->phys;

    if (bnc_params_preset(p, s->preset) < 0) {
        error_setg(errp, "bnnacc: unknown preset '%s'", s->preset);
        return false;
    }
#define BNNACC_PHYS_SET_U(name, field, param, div, desc) \
    if (ph->field != BNNACC_PHYS_UNSET) { \
        p->param = ph->field / (div); \
    }
#define BNNACC_PHYS_SET_S(name, field, param, div, desc) \
    if (ph->field != BNNACC_PHYS_UNSET_S32) { \
        p->param = ph->field / (div); \
    }
    BNNACC_PHYS_TABLE(BNNACC_PHYS_SET_U, BNNACC_PHYS_SET_S)
    return true;
}

/* A physical quantity in milli-units, rounded, as a 32-bit register. */
static uint32_t bnnacc_milli(double v)
{
    v = v * 1000.0 + 0.5;
    if (!(v > 0)) {
        return 0;
    }
    return v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* What the read-only registers and IDENTIFY report, from the array. */
static void bnnacc_fill_ro(BnnaccState *s)
{
    const struct bnc_params *p = bnc_params(s->arr);

    s->iset_min_na = bnnacc_milli(p->iset_min_ua);
    s->iset_max_na = bnnacc_milli(p->iset_max_ua);
    s->adc_fs_na = bnnacc_milli(p->adc_fs_ua);
    s->read_mv = bnnacc_milli(p->read_v);
    s->g_min_ns = bnnacc_milli(p->g_min_us);
    s->g_max_ns = bnnacc_milli(p->g_max_us);
    s->dac_bits = p->dac_bits;
    s->adc_bits = p->adc_bits;
    s->features = BNNACC_FEAT_MVM_REPEAT | BNNACC_FEAT_MVM_SUM |
                  (s->backing ? BNNACC_FEAT_NONVOLATILE : 0);
}

/* A serial number from the seed (a 64-bit mixing function). */
static uint64_t bnnacc_serial_from_seed(uint64_t seed)
{
    uint64_t x = seed + 0x9e3779b97f4a7c15ULL;

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static bool bnnacc_array_init(BnnaccState *s, Error **errp)
{
    struct bnc_params p;
    const char *why = NULL;
    int ret = 0;

    if (!bnnacc_phys_to_params(s, &p, errp)) {
        return false;
    }
    if (bnc_params_check(&p, &why) < 0) {
        error_setg(errp, "bnnacc: bad physics property: %s",
                   why ? why : "invalid parameters");
        return false;
    }
    s->clock_base = 0;
    s->virt_base = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    if (s->backing) {
        ret = bnnacc_backing_load(s, errp);
        if (ret < 0) {
            return false;
        }
        /* both are fully assigned structs of doubles and unsigneds */
        if (ret > 0 && memcmp(bnc_params(s->arr), &p, sizeof(p))) {
            warn_report("bnnacc: '%s' holds a card made with other physics "
                        "properties; the card's own are used", s->backing);
        }
    }
    if (!s->arr) {
        s->arr = bnc_create(&p, s->seed);
        if (!s->arr) {
            error_setg(errp, "bnnacc: cannot create the array");
            return false;
        }
        if (!bnnacc_backing_save(s, 0, errp)) {
            return false;
        }
    }
    s->serial = s->serial_prop ? s->serial_prop :
                bnnacc_serial_from_seed(s->seed);
    bnnacc_fill_ro(s);
    return true;
}

static bool bnnacc_init_irqs(BnnaccState *s, Error **errp)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    Error *err = NULL;
    int ret;

    pci_config_set_interrupt_pin(pdev->config, 1);
    if (pci_is_express(pdev)) {
        if (pcie_endpoint_cap_init(pdev, 0) < 0) {
            error_setg(errp, "bnnacc: cannot add the PCIe capability");
            return false;
        }
        /*
         * Advanced Error Reporting: the host injects errors with HMP's
         * pcie_aer_inject_error; the root port signals them to the OS.
         */
        pcie_cap_deverr_init(pdev);
        if (pcie_aer_init(pdev, PCI_ERR_VER, BNNACC_AER_OFFSET,
                          PCI_ERR_SIZEOF, errp) < 0) {
            return false;
        }
    }
    if (s->msi) {
        ret = msi_init(pdev, 0, 1, true, false, &err);
        if (ret == -ENOTSUP) {
            warn_report_err(err);       /* board without MSI: INTx only */
        } else if (ret < 0) {
            error_propagate(errp, err);
            return false;
        }
    }
    if (s->msix) {
        if (msix_init_exclusive_bar(pdev, BNNACC_MSIX_VECTORS,
                                    BNNACC_BAR_MSIX, errp) < 0) {
            return false;
        }
        msix_vector_use(pdev, BNNACC_MSIX_CQ);
        msix_vector_use(pdev, BNNACC_MSIX_ERROR);
    }
    return true;
}

static void bnnacc_free(BnnaccState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    bnnacc_engine_stop(s);          /* before the BH it schedules goes */
    bnnacc_engine_flush(s);
    if (s->bh) {
        qemu_bh_delete(s->bh);
        s->bh = NULL;
    }
    if (s->drift_timer) {
        timer_free(s->drift_timer);
        s->drift_timer = NULL;
    }
    if (msix_present(pdev)) {
        msix_uninit_exclusive_bar(pdev);
    }
    msi_uninit(pdev);
    if (pci_is_express(pdev) && pdev->exp.exp_cap) {
        if (pdev->exp.aer_cap) {
            pcie_aer_exit(pdev);
        }
        pcie_cap_exit(pdev);
    }
    bnc_destroy(s->arr);
    s->arr = NULL;
}

/* QEMU exits: the worker stops, then the array is saved as it stands. */
static void bnnacc_exit_notify(Notifier *n, void *data)
{
    BnnaccState *s = container_of(n, BnnaccState, exit_notifier);

    bnnacc_engine_stop(s);
    bnnacc_backing_sync(s, bnnacc_clock_ns(s));
}

static void pci_bnnacc_realize(PCIDevice *pdev, Error **errp)
{
    BnnaccState *s = BNNACC(pdev);

    if (!pci_bus_is_express(pci_get_bus(pdev))) {
        pdev->cap_present &= ~QEMU_PCI_CAP_EXPRESS;
    }
    if (!bnnacc_array_init(s, errp) || !bnnacc_init_irqs(s, errp)) {
        bnnacc_free(s);
        return;
    }
    memory_region_init_io(&s->mmio, OBJECT(s), &bnnacc_mmio_ops, s,
                          "bnnacc-regs", BNNACC_REGS_SIZE);
    pci_register_bar(pdev, BNNACC_BAR_REGS, PCI_BASE_ADDRESS_SPACE_MEMORY,
                     &s->mmio);
    s->bh = qemu_bh_new_guarded(bnnacc_bh, s,
                                &DEVICE(pdev)->mem_reentrancy_guard);
    s->drift_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, bnnacc_drift_timer, s);
    bnnacc_drift_check(s, false);   /* a stored card: its level, no alert */
    s->exit_notifier.notify = bnnacc_exit_notify;
    qemu_add_exit_notifier(&s->exit_notifier);
    bnnacc_reset_card(s);
    bnnacc_engine_start(s);
}

static void pci_bnnacc_exit(PCIDevice *pdev)
{
    BnnaccState *s = BNNACC(pdev);

    qemu_remove_exit_notifier(&s->exit_notifier);
    bnnacc_engine_stop(s);
    bnnacc_backing_sync(s, bnnacc_clock_ns(s));
    bnnacc_free(s);
}

static void bnnacc_qdev_reset(DeviceState *dev)
{
    bnnacc_reset_card(BNNACC(dev));
}

static void bnnacc_instance_init(Object *obj)
{
    BnnaccState *s = BNNACC(obj);

    /* a PCIe endpoint on PCIe buses, conventional elsewhere (see realize) */
    PCI_DEVICE(obj)->cap_present |= QEMU_PCI_CAP_EXPRESS;
    qemu_mutex_init(&s->lock);
    qemu_mutex_init(&s->arr_lock);
    qemu_cond_init(&s->cond);
    QSIMPLEQ_INIT(&s->todo);
    QSIMPLEQ_INIT(&s->done);

    object_property_add(obj, "fault-hang", "uint32", bnnacc_get_fault,
                        bnnacc_set_fault, NULL, &s->fault_hang);
    object_property_set_description(obj, "fault-hang",
        "the next N commands hang until RESET");
    object_property_add(obj, "fault-dma", "uint32", bnnacc_get_fault,
                        bnnacc_set_fault, NULL, &s->fault_dma);
    object_property_set_description(obj, "fault-dma",
        "the next N commands complete with DMA_ERROR");
    object_property_add(obj, "fault-corrupt-cqe", "uint32", bnnacc_get_fault,
                        bnnacc_set_fault, NULL, &s->fault_corrupt);
    object_property_set_description(obj, "fault-corrupt-cqe",
        "the next N completions carry cid ^ 0x8000");
    object_property_add(obj, "fault-stuck", "uint32", bnnacc_get_fault,
                        bnnacc_set_stuck, NULL, NULL);
    object_property_set_description(obj, "fault-stuck",
        "make N more cells stuck now (run time only)");
    object_property_add(obj, "clock-advance-s", "uint32", bnnacc_get_fault,
                        bnnacc_set_advance, NULL, NULL);
    object_property_set_description(obj, "clock-advance-s",
        "advance the device clock by N s (run time only)");
    object_property_add(obj, "inject-event", "uint32", bnnacc_get_fault,
                        bnnacc_set_event, NULL, NULL);
    object_property_set_description(obj, "inject-event",
        "raise an EVENT interrupt: 1 drift alert, 2 thermal alert");
    object_property_add(obj, "busy-ns", "uint64", bnnacc_get_busy, NULL,
                        NULL, NULL);
    object_property_set_description(obj, "busy-ns",
        "host ns the card has had commands in it (the BUSY counter)");
}

static void bnnacc_instance_finalize(Object *obj)
{
    BnnaccState *s = BNNACC(obj);

    qemu_cond_destroy(&s->cond);
    qemu_mutex_destroy(&s->arr_lock);
    qemu_mutex_destroy(&s->lock);
}

static const VMStateDescription vmstate_bnnacc = {
    .name = "bnnacc",
    .unmigratable = 1,
};

/* DEFINE_PROP_UINT32 and DEFINE_PROP_INT32 as items of the list below */
#define BNNACC_PHYS_PROP_U(pname, field, param, div, desc) { \
        .name = (pname), .info = &qdev_prop_uint32, \
        .offset = offsetof(BnnaccState, phys.field), \
        .set_default = true, .defval.u = BNNACC_PHYS_UNSET, \
    },
#define BNNACC_PHYS_PROP_S(pname, field, param, div, desc) { \
        .name = (pname), .info = &qdev_prop_int32, \
        .offset = offsetof(BnnaccState, phys.field), \
        .set_default = true, .defval.i = BNNACC_PHYS_UNSET_S32, \
    },

static Property bnnacc_properties[] = {
    DEFINE_PROP_UINT64("seed", BnnaccState, seed, 1),
    DEFINE_PROP_UINT64("serial", BnnaccState, serial_prop, 0),
    DEFINE_PROP_BOOL("msix", BnnaccState, msix, true),
    DEFINE_PROP_BOOL("msi", BnnaccState, msi, true),
    DEFINE_PROP_STRING("backing", BnnaccState, backing),
    DEFINE_PROP_UINT32("time-scale", BnnaccState, time_scale, 1),
    DEFINE_PROP_STRING("preset", BnnaccState, preset),
    DEFINE_PROP_UINT32("drift-alert-ppm", BnnaccState, drift_alert_ppm,
                       10000),
    BNNACC_PHYS_TABLE(BNNACC_PHYS_PROP_U, BNNACC_PHYS_PROP_S)
    DEFINE_PROP_END_OF_LIST(),
};

static const char *const bnnacc_prop_desc[][2] = {
    { "seed", "seed of the array's random generator" },
    { "serial", "serial number (0: derived from seed)" },
    { "msix", "MSI-X capability, 2 vectors in BAR2" },
    { "msi", "MSI capability, 1 vector" },
    { "backing", "file keeping the array across runs" },
    { "time-scale", "device clock ns per virtual ns (0 freezes it)" },
    { "preset", "physics preset: hfox (default), cmo-hfox, pessimistic" },
    { "drift-alert-ppm", "drift monitor step, ppm of relaxation (0: off)" },
#define BNNACC_PHYS_DESC(name, field, param, div, desc) { name, desc },
    BNNACC_PHYS_TABLE(BNNACC_PHYS_DESC, BNNACC_PHYS_DESC)
};

static void bnnacc_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(class);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(class);
    size_t i;

    k->realize = pci_bnnacc_realize;
    k->exit = pci_bnnacc_exit;
    k->vendor_id = BNNACC_PCI_VENDOR_ID;
    k->device_id = BNNACC_PCI_DEVICE_ID;
    k->revision = 0x01;
    k->class_id = BNNACC_PCI_CLASS >> 8;
    dc->desc = "bnnacc RRAM inference card";
    dc->reset = bnnacc_qdev_reset;
    dc->vmsd = &vmstate_bnnacc;
    device_class_set_props(dc, bnnacc_properties);
    for (i = 0; i < ARRAY_SIZE(bnnacc_prop_desc); i++) {
        object_class_property_set_description(class, bnnacc_prop_desc[i][0],
                                              bnnacc_prop_desc[i][1]);
    }
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static void pci_bnnacc_register_types(void)
{
    static InterfaceInfo interfaces[] = {
        { INTERFACE_PCIE_DEVICE },
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    };
    static const TypeInfo bnnacc_info = {
        .name          = TYPE_PCI_BNNACC,
        .parent        = TYPE_PCI_DEVICE,
        .instance_size = sizeof(BnnaccState),
        .instance_init = bnnacc_instance_init,
        .instance_finalize = bnnacc_instance_finalize,
        .class_init    = bnnacc_class_init,
        .interfaces    = interfaces,
    };

    type_register_static(&bnnacc_info);
}

type_init(pci_bnnacc_register_types)
