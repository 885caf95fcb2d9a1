/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - user-space library of the bnnacc RRAM inference card.
 *
 * Five parts, each usable on its own:
 *
 *  1. discovery and handles: list cards, open /dev/bnnaccN, thin wrappers of
 *     every ioctl of uapi/bnnacc.h (sync and async);
 *  2. the "card" seam: struct bnnacc_card, three operations (program, read,
 *     MVM batch) over a card handle or over anything else that behaves like
 *     the array (the unit tests put the physics core behind it);
 *  3. calibration measured on a card, saved per card serial;
 *  4. the model file format (docs/model-format.md);
 *  5. ex-situ transfer of a Bayesian network onto the array in one
 *     programming step, and sampled inference with the uncertainty split
 *     U_p = U_a + U_e, plus a pure-software reference inference.
 *
 * Conventions (liburing style): every int-returning call returns 0 (or a
 * count, where said) on success and a negative errno on failure; there is no
 * errno contract. The library has no global mutable state. A struct
 * bnnacc_dev may be used by one thread at a time (callers lock); distinct
 * handles, models, calibrations and networks are independent, and const
 * objects (a loaded model, a calibration) may be shared between threads.
 * Error text: calls on a handle leave a message in bnnacc_dev_error(); other
 * calls take an optional (char *err, size_t errlen) buffer that receives a
 * NUL-terminated message on failure.
 *
 * Units: conductance in microsiemens (uS), currents in the card's nA fields
 * where the ABI says so, time in seconds unless named *_ns.
 */
#ifndef BNNACC_LIB_H
#define BNNACC_LIB_H

#include <stddef.h>
#include <stdint.h>

#include <bnnacc/uapi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BNNACC_LIB_VERSION_MAJOR 1
#define BNNACC_LIB_VERSION_MINOR 0

/* ====================================================================== */
/* 1. Discovery and handles                                               */
/* ====================================================================== */

/**
 * struct bnnacc_card_desc - one card found on the PCI bus
 * @pci_addr: "dddd:bb:dd.f"
 * @vendor, @device: PCI ids
 * @link_speed: current link speed as sysfs spells it ("8.0 GT/s PCIe"), or ""
 * @link_width: negotiated link width, 0 if unknown
 * @numa_node: NUMA node, -1 if unknown
 * @index: N of /dev/bnnaccN, -1 when no driver is bound
 * @devnode: "/dev/bnnaccN" or ""
 */
struct bnnacc_card_desc {
	char pci_addr[16];
	uint16_t vendor;
	uint16_t device;
	char link_speed[32];
	int link_width;
	int numa_node;
	int index;
	char devnode[32];
};

/*
 * List bnnacc cards with libpci (ids 1234:bacc), each mapped to its
 * /dev/bnnaccN through sysfs. Fills at most @max entries of @out.
 * Returns the number of cards found (may exceed @max), or -errno.
 * (Needs libpci; the only call that does.)
 */
int bnnacc_list(struct bnnacc_card_desc *out, unsigned max, char *err,
		size_t errlen);

/*
 * Index N of the /dev/bnnaccN bound to PCI device @pci_addr, found through
 * /sys/bus/pci/devices/<addr>/bnnacc/ (no libpci). Returns N, -ENOENT when
 * no driver is bound, or -errno.
 */
int bnnacc_pci_to_index(const char *pci_addr);

struct bnnacc_dev;

/*
 * Open /dev/bnnacc<index>, /dev node @path, or the card at PCI address
 * @pci_addr, and check the driver's ABI version with IDENTIFY. Returns 0
 * with *out set, or -errno: -EPROTO when the driver's ABI differs from
 * BNNACC_ABI_VERSION (the message in @err says which to upgrade). On failure
 * *out is NULL.
 */
int bnnacc_open(struct bnnacc_dev **out, int index, char *err, size_t errlen);
int bnnacc_open_path(struct bnnacc_dev **out, const char *path, char *err,
		     size_t errlen);
int bnnacc_open_pci(struct bnnacc_dev **out, const char *pci_addr, char *err,
		    size_t errlen);
/* Close the handle (pending batches are dropped by the driver). */
void bnnacc_close(struct bnnacc_dev *dev);

/* Message of the last failed call on @dev ("" if none); valid until the next call. */
const char *bnnacc_dev_error(const struct bnnacc_dev *dev);
/* The card's IDENTIFY answer and the driver ABI version read at open. */
const struct bnnacc_identify *bnnacc_dev_identity(const struct bnnacc_dev *dev);
unsigned bnnacc_dev_abi(const struct bnnacc_dev *dev);
/*
 * File descriptor of the handle: poll() it for POLLIN when a batch has
 * completed, then bnnacc_reap(). Owned by the handle; do not close it.
 */
int bnnacc_completion_fd(const struct bnnacc_dev *dev);

/* BNNACC_IOC_IDENTIFY afresh. Returns 0 or -errno. */
int bnnacc_identify(struct bnnacc_dev *dev, struct bnnacc_identify *id);
/*
 * BNNACC_IOC_PROGRAM: program @r from @words (rows*cols program words,
 * BNNACC_PROG_WORD()). Blocks. Returns 0 or -errno.
 */
int bnnacc_program(struct bnnacc_dev *dev, const struct bnnacc_region *r,
		   const uint32_t *words);
/*
 * BNNACC_IOC_READ: @reads (0 = 1) reads of every cell of @r, in nS, into
 * @ns (room for reads*rows*cols). Returns 0 or -errno.
 */
int bnnacc_read(struct bnnacc_dev *dev, const struct bnnacc_region *r,
		uint32_t *ns, unsigned reads);
/*
 * BNNACC_IOC_SUBMIT: queue @njobs (1..BNNACC_SUBMIT_MAX_JOBS) MVM jobs as
 * one batch. Returns 0 with *handle set, or -errno (-EAGAIN: too many
 * unreaped batches). The jobs' output buffers are written when reaped.
 */
int bnnacc_submit(struct bnnacc_dev *dev, const struct bnnacc_job *jobs,
		  unsigned njobs, unsigned timeout_ms, uint64_t user_data,
		  uint64_t *handle);
/*
 * BNNACC_IOC_WAIT for batch @handle (0: any) up to @timeout_ns (<0 forever,
 * 0 poll). Returns 0 with *comp filled (comp->status is the batch's own
 * result), -ETIMEDOUT, -ENOENT, -EINTR or -errno.
 */
int bnnacc_wait(struct bnnacc_dev *dev, uint64_t handle, int64_t timeout_ns,
		struct bnnacc_completion *comp);
/* BNNACC_IOC_CANCEL. Returns 0, -EBUSY, -EALREADY, -ENOENT or -errno. */
int bnnacc_cancel(struct bnnacc_dev *dev, uint64_t handle);
/* BNNACC_IOC_RESET (CAP_SYS_ADMIN). Returns 0 or -errno. */
int bnnacc_reset(struct bnnacc_dev *dev);
/*
 * The array's lease: only the handle holding it may program the card.
 * bnnacc_lease_acquire() takes it (flags 0, or BNNACC_LEASE_BREAK with
 * CAP_SYS_ADMIN to take it from its holder); -EBUSY, with the holder's pid
 * in the message, while another handle holds it. A handle that programs
 * without the lease takes it implicitly when it is free. Closing the
 * handle releases it. Returns 0 or -errno.
 */
int bnnacc_lease_acquire(struct bnnacc_dev *dev, unsigned flags);
int bnnacc_lease_release(struct bnnacc_dev *dev);
/*
 * The array generation (PROGRAM ioctls that reached the card since the
 * driver bound it) and the lease holder's pid (0: none), read afresh.
 * Compare the generation after your own programming with a later one to
 * notice that someone else programmed the array. Returns 0 or -errno.
 */
int bnnacc_dev_generation(struct bnnacc_dev *dev, uint64_t *generation,
			  uint32_t *lease_pid);
/*
 * read() up to @max completions without blocking. Returns the number read
 * (0 when none is ready) or -errno.
 */
int bnnacc_reap(struct bnnacc_dev *dev, struct bnnacc_completion *comp,
		unsigned max);

/* Static description of an errno value in this library's context. */
const char *bnnacc_strerror(int err);

/* ====================================================================== */
/* 2. The card seam                                                       */
/* ====================================================================== */

/**
 * struct bnnacc_card_info - what the library needs to know about an array
 * (filled from IDENTIFY for a real card)
 */
struct bnnacc_card_info {
	unsigned rows, cols;
	unsigned dac_bits, adc_bits;	/* sign included */
	uint32_t iset_min_na, iset_max_na;
	double adc_fs_ua;		/* ADC full scale at shift 0 */
	double read_v;			/* row voltage at input full scale */
	uint64_t serial;
	uint32_t hw_version;
	uint32_t features;		/* BNNACC_FEAT_* */
};

/**
 * struct bnnacc_mvm - one MVM job as the card seam sees it
 * (same meaning as struct bnnacc_job, with plain pointers)
 * @in: count * region.rows input codes
 * @out: count * region.cols sums of the @repeat reads' ADC codes,
 *	[vector][column] (the card sums them when it has
 *	BNNACC_FEAT_MVM_SUM; the seam's implementation does otherwise)
 * @repeat: reads of each vector, >= 1
 */
struct bnnacc_mvm {
	struct bnnacc_region region;
	const int16_t *in;
	int32_t *out;
	unsigned count;
	unsigned repeat;
	unsigned adc_shift;
};

/**
 * struct bnnacc_card_ops - an array behind three operations, each returning
 * 0 or -errno. @program and @read block (@read: @reads >= 1 reads of every
 * cell, read after read, in nS); @mvm runs @n jobs (any number; an
 * implementation batches them as it likes) and returns when all are done.
 */
struct bnnacc_card_ops {
	int (*program)(void *ctx, const struct bnnacc_region *r,
		       const uint32_t *words);
	int (*read)(void *ctx, const struct bnnacc_region *r, uint32_t *ns,
		    unsigned reads);
	int (*mvm)(void *ctx, const struct bnnacc_mvm *jobs, unsigned n);
};

struct bnnacc_card {
	const struct bnnacc_card_ops *ops;
	void *ctx;
	struct bnnacc_card_info info;
};

/*
 * A card over an open handle: program/read use the sync ioctls, mvm submits
 * batches of up to BNNACC_SUBMIT_MAX_JOBS jobs and waits for each. The card
 * borrows @dev. Returns 0 or -errno.
 */
int bnnacc_dev_card(struct bnnacc_dev *dev, struct bnnacc_card *card);

/* ====================================================================== */
/* 3. Calibration                                                         */
/* ====================================================================== */

#define BNNACC_CAL_MAX_LEVELS 32
#define BNNACC_CAL_VERSION 2
#define BNNACC_CAL_READS 8	/* reads of each cell per level */

/**
 * struct bnnacc_calib - measured device curves of one card
 * @serial, @hw_version: card the calibration belongs to
 * @created: time(NULL) at measurement
 * @nlevels: SET levels measured, increasing currents
 * @iset_ua: SET currents
 * @g_med: median conductance read at each level (uS)
 * @g_sig_prog: spread across cells of each cell's programmed conductance
 *	(C2C + D2D: what one programming step leaves), uS
 * @g_sig_read: read noise: spread of one cell's reads around its own
 *	value, uS
 * @reset_med, @reset_sig_prog, @reset_sig_read: the same for RESET
 * @k_us_per_ua: least-squares slope of median vs current through 0 over the
 *	unsaturated levels
 * @g_lo, @g_hi: reachable median range (lowest and highest level)
 *
 * Each level is programmed once and read BNNACC_CAL_READS times: the
 * spread of the per-cell means, less the read noise left in them, is the
 * programming spread; the spread within each cell's reads is the read
 * noise. They add up as sqrt(prog^2 + read^2 / R) for a value averaged
 * over R reads (bnnacc_calib_sigma()).
 */
struct bnnacc_calib {
	uint64_t serial;
	uint32_t hw_version;
	int64_t created;
	unsigned nlevels;
	double iset_ua[BNNACC_CAL_MAX_LEVELS];
	double g_med[BNNACC_CAL_MAX_LEVELS];
	double g_sig_prog[BNNACC_CAL_MAX_LEVELS];
	double g_sig_read[BNNACC_CAL_MAX_LEVELS];
	double reset_med, reset_sig_prog, reset_sig_read;
	double k_us_per_ua;
	double g_lo, g_hi;
};

/* Progress: @done of @total steps finished; return non-zero to abort (-ECANCELED). */
typedef int (*bnnacc_progress_fn)(void *arg, unsigned done, unsigned total);

/**
 * struct bnnacc_cal_opts - how to calibrate (zeroes take defaults)
 * @region: cells used (default: the whole array); they are left RESET
 * @nlevels: SET levels (default 12, at most BNNACC_CAL_MAX_LEVELS), spread
 *	evenly over [iset_min, iset_max]
 * @dir: directory of saved calibrations (NULL: no saving/reuse)
 * @max_age_s: reuse a saved one younger than this (default 7 days)
 * @force: measure even if a saved one is fresh
 * @progress, @progress_arg: optional callback
 */
struct bnnacc_cal_opts {
	struct bnnacc_region region;
	unsigned nlevels;
	const char *dir;
	int64_t max_age_s;
	int force;
	bnnacc_progress_fn progress;
	void *progress_arg;
};

/*
 * Calibrate @card: reuse the saved file <dir>/bnnacc-<serial>.cal when it is
 * of this card, hw_version and fresh; otherwise program the region at each
 * level (and RESET), read it back, fit, and save. Returns 1 when a saved
 * calibration was reused, 0 when measured, or -errno.
 */
int bnnacc_calibrate(struct bnnacc_card *card, const struct bnnacc_cal_opts *opts,
		     struct bnnacc_calib *cal, char *err, size_t errlen);
/* Save/load a calibration as text at @path. 0 or -errno (-EINVAL: malformed). */
int bnnacc_calib_save(const struct bnnacc_calib *cal, const char *path);
int bnnacc_calib_load(struct bnnacc_calib *cal, const char *path, char *err,
		      size_t errlen);
/* Median conductance (uS) for SET current @iset_ua, interpolated. */
double bnnacc_calib_g(const struct bnnacc_calib *cal, double iset_ua);
/* SET current (uA) whose median is @g_us (inverse of the above, clamped). */
double bnnacc_calib_iset(const struct bnnacc_calib *cal, double g_us);
/*
 * Spread (uS) of a cell SET to median @g_us (< 0: RESET) when its reads
 * are averaged over @repeat reads (0 counts as 1): sqrt(prog^2 + read^2 /
 * repeat), the measured levels interpolated.
 */
double bnnacc_calib_sigma(const struct bnnacc_calib *cal, double g_us,
			  unsigned repeat);

/* ====================================================================== */
/* 4. Models (docs/model-format.md)                                       */
/* ====================================================================== */

#define BNNACC_MODEL_MAGIC 0x4d4e4e42u	/* "BNNM" little-endian */
#define BNNACC_MODEL_VERSION 2	/* written; 1 (no metadata) is read too */
#define BNNACC_MODEL_MAX_LAYERS 16
#define BNNACC_MODEL_MAX_DIM 4096
#define BNNACC_MODEL_MAX_SAMPLES 1024
#define BNNACC_MODEL_MAX_BYTES (256u << 20)
#define BNNACC_NAME_LEN 32
#define BNNACC_MODEL_MAX_META 4096	/* bytes of metadata text */
#define BNNACC_META_KEY_MAX 64

enum bnnacc_act {
	BNNACC_ACT_LINEAR = 0,
	BNNACC_ACT_RELU = 1,
	BNNACC_ACT_TANH = 2,
	BNNACC_ACT_SOFTMAX = 3,	/* last layer only */
};

enum bnnacc_model_kind {
	BNNACC_MODEL_GAUSS = 0,		/* per-weight mean and std */
	BNNACC_MODEL_SAMPLES = 1,	/* n_samples posterior samples */
};

/**
 * struct bnnacc_layer - one dense layer, y = act(W x + b)
 * Weights are [n_out][n_in + 1], row j = output j, last column the bias.
 * @mean, @std: GAUSS models (NULL otherwise)
 * @samples: SAMPLES models: [n_samples][n_out][n_in + 1] (NULL otherwise)
 */
struct bnnacc_layer {
	uint32_t n_in, n_out, act;
	float *mean, *std;
	float *samples;
};

/**
 * struct bnnacc_model - a Bayesian network
 * @meta: metadata text, "key=value\n" lines (NULL: none); change it with
 *	bnnacc_model_set_meta() only
 */
struct bnnacc_model {
	uint32_t kind, n_layers, n_samples, n_inputs, n_classes;
	struct bnnacc_layer layer[BNNACC_MODEL_MAX_LAYERS];
	float *in_mean, *in_scale;		/* x' = (x - mean) * scale */
	char (*class_name)[BNNACC_NAME_LEN];	/* NUL-terminated */
	char *meta;
};

/*
 * Allocate a model with zeroed parameters: @dims has n_layers + 1 sizes
 * (inputs, hidden..., classes), @acts n_layers activations. in_scale is set
 * to 1, class names to "class<i>". Returns 0 with *out set, or -errno.
 */
int bnnacc_model_new(struct bnnacc_model **out, uint32_t kind,
		     unsigned n_layers, const uint32_t *dims,
		     const uint32_t *acts, unsigned n_samples);
void bnnacc_model_free(struct bnnacc_model *m);
/*
 * Parse a model from @len bytes at @buf; never reads outside them. Returns
 * 0 with *out set, or -EINVAL (malformed; @err says where and why),
 * -E2BIG (over a limit) or -ENOMEM.
 */
int bnnacc_model_load_mem(struct bnnacc_model **out, const void *buf,
			  size_t len, char *err, size_t errlen);
int bnnacc_model_load(struct bnnacc_model **out, const char *path, char *err,
		      size_t errlen);
/* Bytes bnnacc_model_save_mem() writes, or 0 for an invalid model. */
size_t bnnacc_model_size(const struct bnnacc_model *m);
/* Serialise into @buf of @len bytes. Returns bytes written or -errno. */
long bnnacc_model_save_mem(const struct bnnacc_model *m, void *buf, size_t len);
int bnnacc_model_save(const struct bnnacc_model *m, const char *path);
/*
 * Metadata stored with the model (e.g. "dataset", the problem it was
 * trained for): keys of [a-z0-9_.-], 1..BNNACC_META_KEY_MAX bytes, values
 * without control characters, BNNACC_MODEL_MAX_META bytes in all.
 * bnnacc_model_get_meta() copies @key's value into @val (@len bytes with
 * its NUL) and returns its length, -ENOENT or -ENOSPC.
 * bnnacc_model_set_meta() sets it (@val NULL: removes it) and returns 0,
 * -EINVAL, -E2BIG or -ENOMEM.
 */
int bnnacc_model_get_meta(const struct bnnacc_model *m, const char *key,
			  char *val, size_t len);
int bnnacc_model_set_meta(struct bnnacc_model *m, const char *key,
			  const char *val);
/* Per-weight mean and std of layer @l (GAUSS: as stored; SAMPLES: empirical). */
int bnnacc_model_moments(const struct bnnacc_model *m, unsigned l, float *mean,
			 float *std);

/* ====================================================================== */
/* 5. Transfer and inference                                              */
/* ====================================================================== */

/**
 * enum bnnacc_xfer_mode - what the M programmed networks hold
 * @BNNACC_XFER_AUTO: the library's choice: SAMPLES for every model kind
 *	(measured: docs/demo.md)
 * @BNNACC_XFER_SHARED: the seed paper's transfer: every network programs
 *	the same pair currents per weight and the device's randomness draws
 *	the sample; the pair's levels set its spread (the (mean, sigma)
 *	region of the device curves)
 * @BNNACC_XFER_SAMPLES: network k programs its own posterior draw
 *	(SAMPLES models: the stored samples; GAUSS: draws from the posterior
 *	with the device's own spread taken out of the drawn one) on the
 *	quietest pair of each mean
 */
enum bnnacc_xfer_mode {
	BNNACC_XFER_AUTO = 0,
	BNNACC_XFER_SHARED = 1,
	BNNACC_XFER_SAMPLES = 2,
};

/**
 * struct bnnacc_layer_report - how well layer @l mapped
 * @kl_mean: mean over weights of KL(target || achieved), nats (SAMPLES
 *	mode: of the per-weight moments over the networks)
 * @kl_max: worst weight
 * @clipped: weights whose target lay outside what the pairs can hold
 * @weights: weights of the layer (biases included)
 * @rel_mean_err: mean |achieved mean - target mean| / (g * max |mu|)
 * @parts: tiles each network's copy of the layer is split into
 * @gamma: the layer's gain: uS of a weight's summed conductance difference
 *	per weight unit (each layer has its own: its column currents are
 *	scaled back on the host)
 */
struct bnnacc_layer_report {
	double kl_mean, kl_max;
	unsigned clipped, weights;
	double rel_mean_err;
	unsigned parts;
	double gamma;
};

/**
 * struct bnnacc_xfer_report - what the transfer chose and why
 * @mode: enum bnnacc_xfer_mode actually used
 * @cells: cells per sign of a weight (1: a plain pair G+ - G-)
 * @repeat: reads of each MVM the card averages
 * @m: networks programmed, @cards: cards they are on
 * @tiles: tiles per network (layers split to fit a tile count more)
 * @clipped, @weights: over all layers
 * @kl_mean: mean over all weights
 * @why: one line per choice, with its numbers
 */
struct bnnacc_xfer_report {
	unsigned mode, cells, repeat, m, cards, tiles;
	unsigned clipped, weights;
	double kl_mean;
	char why[1024];
};

/**
 * struct bnnacc_xfer_opts - transfer options (zeroes take defaults)
 * @m: sampled networks to program (0: as many as fit)
 * @gamma: gain of every layer in uS per weight unit (0: each layer's fitted)
 * @skip_stuck_test: trust that no cell is stuck (tests only)
 * @mode: enum bnnacc_xfer_mode
 * @cells: cells per sign, 1..BNNACC_XFER_MAX_CELLS (0: chosen)
 * @repeat: MVM reads averaged, 1..BNNACC_XFER_MAX_REPEAT (0: chosen)
 * @seed: draws of the SAMPLES mode (0: a fixed default)
 * @keep: networks already on these same cards to keep resident ("co-resident
 *	networks"), or NULL; each must be on exactly the cards of this
 *	transfer, in the same order (the same card ctx and ops), else
 *	-EINVAL. A kept network keeps the networks it is co-resident with
 *	(they share the cards' image). With networks kept, the stuck-cell
 *	test is not run (it would erase them): the new network's blocked
 *	cells are the kept networks' (stuck cells, the reference column) and
 *	every cell of their tiles, its networks go on the cells left free
 *	(@m 0: as many as fit there), and -ENOSPC when none (or fewer than
 *	@m) fit leaves the cards untouched.
 * @nkeep: networks in @keep (0: none)
 */
struct bnnacc_xfer_opts {
	unsigned m;
	double gamma;
	int skip_stuck_test;
	unsigned mode;
	unsigned cells;
	unsigned repeat;
	uint64_t seed;
	struct bnnacc_net *const *keep;
	unsigned nkeep;
};

#define BNNACC_XFER_MAX_CELLS 4
#define BNNACC_XFER_MAX_REPEAT 64
#define BNNACC_XFER_MAX_CARDS 16

struct bnnacc_net;

/*
 * Ex-situ transfer of @model onto @ncards cards in one programming step
 * per card, with each card's calibration @cals[i]: choose the mode, cells
 * per sign, reads and gain (the report says which and why), map each
 * weight to its cells, split every layer into tiles of at most the array's
 * rows (2 * cells rows per input, the bias included) and columns, place
 * whole networks on the cards clear of stuck cells (the quick test RESETs,
 * then SETs, each array first) and of the reference column (the last
 * column: cells at known levels whose drift bnnacc_net_check() measures),
 * then program each card in one PROGRAM of the whole array (RESET where
 * nothing is placed). Returns 0 with *out set, -ENOSPC (with a message
 * saying what would fit) when not even one network (or the asked @m)
 * fits, or -errno. The network borrows the cards (which must outlive it)
 * and copies what it needs of @model and the calibrations.
 *
 * Co-resident networks (@opts->keep): the new network is placed on the
 * cells the kept ones leave free, and the one PROGRAM of each card holds
 * the union: every resident network's own tiles, the reference column,
 * RESET elsewhere. Every kept network is reprogrammed by it: its drift
 * state restarts (gain 1, the shared reference cells' baseline read
 * again). A transfer without @keep erases whatever the cards held (free
 * those networks first: refreshing one would erase the new network).
 */
int bnnacc_transfer(struct bnnacc_net **out, struct bnnacc_card *const *cards,
		    const struct bnnacc_calib *const *cals, unsigned ncards,
		    const struct bnnacc_model *model,
		    const struct bnnacc_xfer_opts *opts, char *err,
		    size_t errlen);
/*
 * Free @net (NULL: nothing). A co-resident network is unlinked from the
 * others, in any order: its cells are left as they are and are free for
 * the next transfer (the next programming of the cards RESETs them).
 * Co-resident networks share their cards: use them (transfer with keep,
 * infer, check, refresh, free) from one thread at a time.
 */
void bnnacc_net_free(struct bnnacc_net *net);
/*
 * Networks programmed, layer @l's gain (0 if out of range), and layer @l's
 * report (NULL if out of range).
 */
unsigned bnnacc_net_m(const struct bnnacc_net *net);
double bnnacc_net_gamma(const struct bnnacc_net *net, unsigned l);
const struct bnnacc_layer_report *bnnacc_net_report(const struct bnnacc_net *net,
						    unsigned l);
const struct bnnacc_xfer_report *bnnacc_net_xfer_report(const struct bnnacc_net *net);
/*
 * Tile @p (0 .. parts - 1) of layer @l of network @k, and the card it is
 * on (*card, if not NULL), or NULL.
 */
const struct bnnacc_region *bnnacc_net_tile(const struct bnnacc_net *net,
					    unsigned k, unsigned l, unsigned p,
					    unsigned *card);

/**
 * struct bnnacc_part - what part @p of a layer holds (the same in every
 * network): weights W[out0..out1)[in0..in1) of the layer's W[n_out][n_in +
 * 1] (in1 == n_in + 1: the bias is in it). Input i drives the tile's rows
 * 2 * cells * (i - in0) .. + cells - 1 with +x (the G+ cells) and the next
 * cells rows with -x (the G- cells); output j is column j - out0.
 */
struct bnnacc_part {
	unsigned in0, in1, out0, out1, cells;
};

/* Part @p of layer @l into @out. Returns 0 or -EINVAL (out of range). */
int bnnacc_net_part(const struct bnnacc_net *net, unsigned l, unsigned p,
		    struct bnnacc_part *out);
/*
 * What the calibration predicts the card holds, in weight units: a GAUSS
 * model (SHARED mode) or a SAMPLES model of the networks' draws with the
 * device's spread added (SAMPLES mode): a model of the card for
 * bnnacc_infer_soft(). Returns 0 with *out set, or -errno.
 */
int bnnacc_net_achieved(const struct bnnacc_net *net,
			struct bnnacc_model **out);

/**
 * struct bnnacc_drift - what bnnacc_net_check() measured
 * @gain: mean conductance of the reference cells now over right after
 *	programming (1: no relaxation), averaged over the cards; the
 *	inference divides its column currents by each card's own
 * @spread: relative spread the relaxation added to each cell (rms over
 *	the reference cells, read noise taken out)
 * @excess: predicted variance that spread adds to the weights, as a
 *	fraction of their target variance (mean over weights)
 * @refresh: 1 when @excess passes the limit that keeps the fidelity
 *	goals (BNNACC_DRIFT_EXCESS_MAX): reprogram (bnnacc_net_refresh())
 * @checks, @refreshes: so far, on this network (@refreshes: times its
 *	cells were reprogrammed after its transfer, by a refresh of it or
 *	of a co-resident network or by a transfer that kept it)
 */
struct bnnacc_drift {
	double gain, spread, excess;
	int refresh;
	unsigned checks, refreshes;
};

#define BNNACC_DRIFT_EXCESS_MAX 0.05

/*
 * Read the reference cells of every card, re-estimate each card's gain (the
 * inference uses it from now on) and the spread relaxation has added, and
 * say whether to reprogram. Returns 0 with @d filled, or -errno. Per
 * network: co-resident networks share the reference column, each checks
 * for itself.
 */
int bnnacc_net_check(struct bnnacc_net *net, struct bnnacc_drift *d,
		     char *err, size_t errlen);
/*
 * Program every card holding networks again with the same networks (and
 * reference cells), as at transfer: the relaxation starts over. The image
 * is the union of the co-resident networks' (refreshing one never erases
 * another), so every co-resident network's drift state restarts too (gain
 * 1, baseline read again). Returns 0 or -errno.
 */
int bnnacc_net_refresh(struct bnnacc_net *net, char *err, size_t errlen);

/*
 * Fit gamma alone (no card) for the SHARED mode with @cells cells per sign
 * and @repeat reads: the gain in [lo, hi] maximising the fraction of
 * weights whose (gamma mu, gamma sigma) is reachable, ties to the smallest
 * total distance. *frac (if not NULL) gets that fraction. Returns gamma,
 * or a negative value on invalid input.
 */
double bnnacc_fit_gamma(const struct bnnacc_calib *cal, unsigned cells,
			unsigned repeat, const float *mu, const float *sigma,
			size_t n, double *frac);
/*
 * Currents of a weight's cells for target (mean, sigma) in uS (of the whole
 * weight: @cells cells per sign, each sign's cells at one level), its
 * reads averaged over @repeat. The candidates are the SET/SET levels of
 * that mean (clipped to the largest reachable |mean|) whose spread is
 * nearest @sigma (the common-mode level scanned), SET/RESET of that mean
 * (spread fixed by the mean), and RESET/RESET (mean 0, the smallest
 * spread); the one nearest in KL(target || pair) wins. With @sigma 0 the
 * quietest pair of that mean wins. A current of 0 means "RESET". Returns
 * 1 if the target was reachable (within the SET/SET region, or within 1 %
 * of a RESET pair's point), 0 if clipped; @ach_mean and @ach_sig get the
 * predicted statistics (may be NULL).
 */
int bnnacc_pair_choose(const struct bnnacc_calib *cal, unsigned cells,
		       unsigned repeat, double mean, double sigma,
		       double *iset_plus_ua, double *iset_minus_ua,
		       double *ach_mean, double *ach_sig);

/*
 * Tile allocation alone: place @want (0: as many as fit) networks of @nt
 * tiles (@h[t] x @w[t] cells) over a @rows x @cols array, no tile covering
 * a cell with blocked[r * cols + c] set (@blocked may be NULL), each tile
 * first-fit row-major, in two orders (all tiles of the tallest kind first,
 * or network after network), keeping the better; with @want 0 the largest
 * count that fits is found by bisection. @tiles needs room for
 * rows * cols * nt regions (or want * nt), filled [network][tile].
 * Returns the number of networks placed (0 when @want do not fit),
 * -EINVAL or -ENOMEM.
 */
int bnnacc_alloc_tiles(const uint8_t *blocked, unsigned rows, unsigned cols,
		       unsigned nt, const unsigned *h, const unsigned *w,
		       unsigned want, struct bnnacc_region *tiles);

/**
 * struct bnnacc_result - sampled inference of @n inputs
 * @m, @n, @c: samples, inputs, classes
 * @probs: [n][m][c] each sample's softmax
 * @mean: [n][c] predictive mean
 * @u_p, @u_a, @u_e: [n] entropies in nats: of the mean, mean of each
 *	sample's, and their difference
 */
struct bnnacc_result {
	unsigned m, n, c;
	double *probs, *mean, *u_p, *u_a, *u_e;
};

#define BNNACC_INFER_MAX_INPUTS 65536	/* inputs (and soft samples) per call */

/*
 * Run @n inputs (@x: [n][n_inputs], raw: normalised with the model's input
 * normalisation) through the M networks on the cards, each MVM read
 * `repeat` times (the report's) and averaged, the partial sums of split
 * layers added on the host, each card's currents divided by its drift
 * gain. Returns 0 with @res filled (free with bnnacc_result_free), or
 * -errno (-E2BIG: @n over BNNACC_INFER_MAX_INPUTS). A network remembers
 * the ADC ranges it learnt, so use one network from one thread at a time.
 */
int bnnacc_infer(struct bnnacc_net *net, const float *x, unsigned n,
		 struct bnnacc_result *res, char *err, size_t errlen);
/*
 * bnnacc_infer() over networks @k0 .. @k0 + @m - 1 alone (adaptive
 * sampling: the card time scales with @m, only their MVM jobs are issued,
 * and only to the cards they are on): @res->m is @m, @res->probs
 * [n][m][c] in network order. bnnacc_infer() is bnnacc_infer_nets(net, 0,
 * bnnacc_net_m(net), ...). Returns as bnnacc_infer(), and -EINVAL with a
 * message when the range is empty or goes past bnnacc_net_m().
 */
int bnnacc_infer_nets(struct bnnacc_net *net, unsigned k0, unsigned m,
		      const float *x, unsigned n, struct bnnacc_result *res,
		      char *err, size_t errlen);
/*
 * Software reference: @m networks sampled from @model's posterior
 * (GAUSS: normal draws from @seed; SAMPLES: sample k mod n_samples).
 * Returns 0 with @res filled, -EINVAL, -E2BIG or -ENOMEM.
 */
int bnnacc_infer_soft(const struct bnnacc_model *model, unsigned m,
		      uint64_t seed, const float *x, unsigned n,
		      struct bnnacc_result *res);
void bnnacc_result_free(struct bnnacc_result *res);
/*
 * Fill mean, u_p, u_a, u_e of @res from its probs (m, n, c and the arrays
 * allocated). Returns 0 or -EINVAL.
 */
int bnnacc_uncertainty(struct bnnacc_result *res);

/* ====================================================================== */
/* 6. A simulated card                                                    */
/* ====================================================================== */

struct bnnacc_sim;

/*
 * A card in this process, on the emulated card's own physics
 * (qemu-model/bnnacc_core.c): preset @preset (NULL: the default;
 * docs/physics.md), manufactured from @seed. Its device clock moves 6 s
 * after every programming (reads happen once the fast relaxation has
 * settled) and 1 us per read or MVM, and by bnnacc_sim_advance(). Returns 0
 * with *out set, -EINVAL (unknown preset, message in @err) or -ENOMEM.
 */
int bnnacc_sim_new(struct bnnacc_sim **out, const char *preset,
		   uint64_t seed, char *err, size_t errlen);
void bnnacc_sim_free(struct bnnacc_sim *sim);
/* A card over @sim (borrowed: @sim must outlive its use). */
void bnnacc_sim_card(struct bnnacc_sim *sim, struct bnnacc_card *card);
/*
 * Move the device clock by @seconds. Returns 1 when the card's drift
 * monitor passed an alert level on the way (as the emulated card raises a
 * drift EVENT at every 1 % of relaxation), else 0.
 */
int bnnacc_sim_advance(struct bnnacc_sim *sim, double seconds);

#ifdef __cplusplus
}
#endif

#endif /* BNNACC_LIB_H */
