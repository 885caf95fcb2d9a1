/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * bnnacc - the user ABI of the bnnacc RRAM inference card's Linux driver:
 * what applications and libbnnacc use, installed with the library.
 *
 *  1. the card as applications see it: PCI identity, geometry, cell
 *     regions, program words, MVM limits and the IDENTIFY answer;
 *  2. the ioctl ABI of /dev/bnnaccN;
 *  3. the generic netlink family "bnnacc".
 *
 * The card's register map and ring format (kernel driver and device model
 * only) are in bnnacc_hw.h. Everything is little-endian and made of
 * fixed-size types with explicit padding; no structure contains a pointer
 * (user addresses are __u64). Every reserved field must be zero: the
 * driver fails an ioctl whose reserved fields are set with -EINVAL.
 * docs/hardware.md explains the model behind the numbers.
 */
#ifndef _UAPI_LINUX_BNNACC_H
#define _UAPI_LINUX_BNNACC_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* ------------------------------------------------------------------------ */
/* 1. The card                                                              */
/* ------------------------------------------------------------------------ */

#define BNNACC_PCI_VENDOR_ID	0x1234	/* QEMU's experimental vendor id */
#define BNNACC_PCI_DEVICE_ID	0xbacc
#define BNNACC_PCI_CLASS	0x120000 /* processing accelerator */

#define BNNACC_MAGIC		0x424e4e41	/* "BNNA" */
#define BNNACC_HW_VERSION	0x00010000	/* major << 16 | minor */
#define BNNACC_HW_VERSION_MAJOR(v)	((v) >> 16)

/* IDENTIFY's features (the FEATURES register) */
#define BNNACC_FEAT_MVM_REPEAT	0x1u	/* MVM honours a repeat count */
#define BNNACC_FEAT_NONVOLATILE	0x2u	/* array kept across power-off */
#define BNNACC_FEAT_MULTILAYER	0x4u	/* BNNACC_OP_MLP (reserved) */
#define BNNACC_FEAT_MVM_SUM	0x8u	/* MVM sums its repeats (BNNACC_JOB_SUM) */

#define BNNACC_ROWS		128
#define BNNACC_COLS		128
#define BNNACC_CELLS		(BNNACC_ROWS * BNNACC_COLS)

/**
 * struct bnnacc_region - a rectangle of cells
 * @row: first row (word line)
 * @col: first column (bit line)
 * @rows: number of rows, >= 1; @row + @rows <= BNNACC_ROWS
 * @cols: number of columns, >= 1; @col + @cols <= BNNACC_COLS
 *
 * Cell data of a region travels row-major: cell (r, c) of the region is
 * element r * @cols + c.
 */
struct bnnacc_region {
	__u16 row;
	__u16 col;
	__u16 rows;
	__u16 cols;
};

/* Program word: operation in bits 31:28, SET current in nA in bits 23:0. */
#define BNNACC_PROG_SKIP	0x0u	/* leave the cell as it is */
#define BNNACC_PROG_SET		0x1u	/* SET with compliance current */
#define BNNACC_PROG_RESET	0x2u	/* RESET to the high-resistance state */
#define BNNACC_PROG_OP(w)	((w) >> 28)
#define BNNACC_PROG_ISET_NA(w)	((w) & 0xffffffu)
#define BNNACC_PROG_WORD(op, na)	(((__u32)(op) << 28) | ((na) & 0xffffffu))
#define BNNACC_PROG_RSVD_MASK	0x0f000000u

#define BNNACC_INPUT_FS		32767	/* MVM input code of full read voltage */
#define BNNACC_ADC_SHIFT_MAX	15
/* Work bound of one MVM, summed or not: repeat * count * cols * 4 bytes */
#define BNNACC_MVM_MAX_CODE_BYTES	(64u << 20)

/**
 * struct bnnacc_identify - answer of BNNACC_OP_IDENTIFY (256 bytes)
 * @magic: BNNACC_MAGIC
 * @hw_version: BNNACC_HW_VERSION of the card
 * @rows: word lines of the array
 * @cols: bit lines of the array
 * @max_ring: most entries a ring may have
 * @dac_bits: input DAC resolution, sign included
 * @adc_bits: output ADC resolution, sign included
 * @features: BNNACC_FEAT_*
 * @iset_min_na: lowest SET compliance current, nA
 * @iset_max_na: highest SET compliance current, nA
 * @adc_fs_na: ADC full scale at range shift 0, nA
 * @read_mv: read voltage at input full scale, mV
 * @g_min_ns: lowest conductance the card reports, nS
 * @g_max_ns: highest conductance the card reports, nS
 * @stuck_cells: cells the card knows to be stuck
 * @serial: card serial number
 * @clock_ns: device clock when the answer was made, ns
 * @model: NUL-terminated model name
 * @rsvd: zero
 */
struct bnnacc_identify {
	__u32 magic;
	__u32 hw_version;
	__u16 rows;
	__u16 cols;
	__u16 max_ring;
	__u8 dac_bits;
	__u8 adc_bits;
	__u32 features;
	__u32 iset_min_na;
	__u32 iset_max_na;
	__u32 adc_fs_na;
	__u32 read_mv;
	__u32 g_min_ns;
	__u32 g_max_ns;
	__u32 stuck_cells;
	__u64 serial;
	__u64 clock_ns;
	char model[32];
	__u8 rsvd[160];
};

/* ------------------------------------------------------------------------ */
/* 2. ioctl ABI of /dev/bnnaccN                                             */
/* ------------------------------------------------------------------------ */

/*
 * Every ioctl argument starts with @size, the size of the structure the
 * caller was built with. The driver accepts the sizes it knows (today the
 * *_SIZE_VER0 ones) and fails others with -EINVAL; a later version grows a
 * structure only at its end. Reserved fields and flags must be zero.
 */
#define BNNACC_IOC_MAGIC	'B'

/* Largest data buffer one PROGRAM or READ ioctl moves. */
#define BNNACC_IO_MAX_BYTES	(4u << 20)

/**
 * struct bnnacc_identify_args - BNNACC_IOC_IDENTIFY
 * @size: sizeof(struct bnnacc_identify_args): BNNACC_IDENTIFY_SIZE_VER1,
 *	or BNNACC_IDENTIFY_SIZE_VER0 (without the fields after @id)
 * @flags: must be 0
 * @drv_version: out: driver ABI version, BNNACC_ABI_VERSION
 * @rsvd: must be 0
 * @id: out: the card's IDENTIFY answer, fetched by DMA
 * @generation: out: array generation, counted by the driver since the
 *	card was bound: one more for every PROGRAM ioctl that reached the
 *	card. A process that programmed the array notices anyone else's
 *	programming by a generation that moved past its own last one.
 * @lease_pid: out: thread group of the process holding the array's lease
 *	(BNNACC_IOC_LEASE_ACQUIRE), 0 when nobody holds it
 * @rsvd1: must be 0
 */
struct bnnacc_identify_args {
	__u32 size;
	__u32 flags;
	__u32 drv_version;
	__u32 rsvd;
	struct bnnacc_identify id;
	__u64 generation;
	__u32 lease_pid;
	__u32 rsvd1;
};

/*
 * The array's lease. Programming needs it: a PROGRAM ioctl succeeds only
 * on the open file that holds the lease, and one whose file holds none
 * while nobody else does takes it implicitly (as a DRM file becomes master)
 * until it releases it or closes. READ, MVM jobs and IDENTIFY need no
 * lease. PROGRAM and LEASE_ACQUIRE need a file opened for writing.
 */
#define BNNACC_LEASE_BREAK	0x1u	/* take it from its holder (CAP_SYS_ADMIN) */

/**
 * struct bnnacc_lease_args - BNNACC_IOC_LEASE_ACQUIRE, BNNACC_IOC_LEASE_RELEASE
 * @size: sizeof(struct bnnacc_lease_args)
 * @flags: ACQUIRE: 0 or BNNACC_LEASE_BREAK; RELEASE: must be 0
 * @rsvd0: must be 0
 * @generation: out: the array generation when the call returned
 * @rsvd: must be 0
 *
 * ACQUIRE fails with -EBUSY while another file holds the lease (the
 * holder's process is in IDENTIFY's @lease_pid and sysfs lease_pid), with
 * -EPERM for BNNACC_LEASE_BREAK without CAP_SYS_ADMIN and with -EBADF on a
 * file not opened for writing; acquiring a lease the file holds succeeds.
 * RELEASE fails with -EINVAL when the file does not hold it. A broken
 * lease's holder finds out from its next PROGRAM (-EBUSY) and from the
 * PROGRAMMED events of the new holder's programming.
 */
struct bnnacc_lease_args {
	__u32 size;
	__u32 flags;
	__u64 rsvd0;
	__u64 generation;
	__u64 rsvd;
};

/**
 * struct bnnacc_program_args - BNNACC_IOC_PROGRAM
 * @size: sizeof(struct bnnacc_program_args)
 * @flags: must be 0
 * @region: cells to program
 * @words: user address of rows * cols program words (__u32, BNNACC_PROG_*)
 * @words_len: bytes at @words; at least rows * cols * 4
 * @rsvd: must be 0
 *
 * Blocks until the card has programmed the region.
 */
struct bnnacc_program_args {
	__u32 size;
	__u32 flags;
	struct bnnacc_region region;
	__u64 words;
	__u32 words_len;
	__u32 rsvd[3];
};

/**
 * struct bnnacc_read_args - BNNACC_IOC_READ
 * @size: sizeof(struct bnnacc_read_args)
 * @flags: must be 0
 * @region: cells to read
 * @buf: user address receiving @reads * rows * cols conductances (__u32, nS)
 * @buf_len: bytes at @buf
 * @reads: reads per cell, 0 means 1; each read draws fresh read noise
 * @rsvd: must be 0
 *
 * Blocks until the card has read the region.
 */
struct bnnacc_read_args {
	__u32 size;
	__u32 flags;
	struct bnnacc_region region;
	__u64 buf;
	__u32 buf_len;
	__u32 reads;
	__u32 rsvd[2];
};

/* ---- asynchronous MVM jobs (ABI version 2) ---- */

#define BNNACC_SUBMIT_MAX_JOBS	64	/* jobs in one batch */
#define BNNACC_JOB_SUM		0x1u	/* struct bnnacc_job: sum the repeats */
#define BNNACC_JOB_MAX_BYTES	(4u << 20)	/* input or output of one job */
#define BNNACC_MAX_PENDING	256	/* unreaped batches per open file */
/* input + output bytes of the unreaped batches of one open file */
#define BNNACC_MAX_PENDING_BYTES	(64u << 20)

/**
 * struct bnnacc_job - one MVM sample job of a batch
 * @region: cells the inputs are applied to
 * @in: user address of @count input vectors of region rows __s16 each
 *	(full scale +-BNNACC_INPUT_FS)
 * @out: user address receiving @repeat * @count * region cols __s32 ADC
 *	codes, laid out [repeat][vector][column]; with BNNACC_JOB_SUM,
 *	@count * region cols sums of the @repeat codes, [vector][column]
 * @in_len: bytes at @in; at least @count * rows * 2
 * @out_len: bytes at @out; at least @repeat * @count * cols * 4 (without
 *	BNNACC_JOB_SUM) or @count * cols * 4 (with it)
 * @count: input vectors, >= 1
 * @repeat: samples of each vector, 0 means 1; @repeat * @count * region
 *	cols * 4 is at most BNNACC_MVM_MAX_CODE_BYTES, summed or not
 * @adc_shift: ADC range: full scale is ADC_FS >> @adc_shift, at most
 *	BNNACC_ADC_SHIFT_MAX
 * @flags: 0 or BNNACC_JOB_SUM (the card sums the repeats; needs
 *	BNNACC_FEAT_MVM_SUM)
 * @rsvd: must be 0
 */
struct bnnacc_job {
	struct bnnacc_region region;
	__u64 in;
	__u64 out;
	__u32 in_len;
	__u32 out_len;
	__u32 count;
	__u32 repeat;
	__u32 adc_shift;
	__u32 flags;
	__u64 rsvd;
};

/**
 * struct bnnacc_submit_args - BNNACC_IOC_SUBMIT
 * @size: sizeof(struct bnnacc_submit_args)
 * @flags: must be 0
 * @jobs: user address of @njobs &struct bnnacc_job
 * @njobs: jobs in the batch, 1..BNNACC_SUBMIT_MAX_JOBS
 * @job_size: sizeof(struct bnnacc_job) as the caller was built
 * @timeout_ms: deadline of the batch from the moment it reaches the card;
 *	0 takes the driver's default (module parameter timeout_ms)
 * @rsvd0: must be 0
 * @user_data: opaque, returned in the batch's completion
 * @handle: out: the batch's handle, unique within the open file, never 0
 * @rsvd: must be 0
 *
 * Queues a batch and returns at once. The inputs are copied before the
 * call returns; the outputs are written to the jobs' @out buffers when the
 * batch is reaped (BNNACC_IOC_WAIT or read()) by the submitting process.
 * The jobs of a batch run in order; the batch reaches the card with one
 * doorbell. Batches of different open files share the card round-robin.
 * Fails with -EAGAIN when the file has BNNACC_MAX_PENDING unreaped batches
 * or when the batch's input and output bytes would take the file's
 * unreaped batches past BNNACC_MAX_PENDING_BYTES (reap some and retry), and
 * with -E2BIG when the batch alone is larger than that.
 */
struct bnnacc_submit_args {
	__u32 size;
	__u32 flags;
	__u64 jobs;
	__u32 njobs;
	__u32 job_size;
	__u32 timeout_ms;
	__u32 rsvd0;
	__u64 user_data;
	__u64 handle;
	__u64 rsvd[2];
};

/**
 * struct bnnacc_completion - how a batch ended; what read() returns
 * @handle: the batch
 * @user_data: as submitted
 * @status: 0, or the -errno of the batch: -ETIMEDOUT (its deadline passed
 *	and the card was reset), -EIO (card error, or a reset caused by
 *	another batch), -ECANCELED (cancelled before it started), -ENODEV
 *	(card removed), -EINVAL (the card refused a descriptor), -EFAULT (an
 *	output buffer could not be written)
 * @jobs_done: jobs that completed successfully (the first ones)
 * @busy_ns: time the card spent executing the batch
 * @latency_ns: time from submission to completion
 * @rsvd: zero
 */
struct bnnacc_completion {
	__u64 handle;
	__u64 user_data;
	__s32 status;
	__u32 jobs_done;
	__u64 busy_ns;
	__u64 latency_ns;
	__u64 rsvd;
};

/**
 * struct bnnacc_wait_args - BNNACC_IOC_WAIT
 * @size: sizeof(struct bnnacc_wait_args)
 * @flags: must be 0
 * @handle: batch to wait for; 0 waits for any batch of this file
 * @timeout_ns: longest wait; 0 only checks; negative waits forever
 * @rsvd: must be 0
 * @comp: out: the batch's completion; the batch is reaped
 *
 * Returns 0 with @comp filled, -ETIMEDOUT when nothing completed in time,
 * -ENOENT when @handle is no unreaped batch of this file (or, with 0, the
 * file has none), -EINTR on a signal (the batch stays), -ENODEV once the card
 * is gone and every batch has been reaped, -EFAULT when @comp cannot be
 * written (the batch stays unreaped). read() likewise reaps no more batches
 * than it has checked records for in its buffer: -EFAULT costs no
 * completion.
 */
struct bnnacc_wait_args {
	__u32 size;
	__u32 flags;
	__u64 handle;
	__s64 timeout_ns;
	__u64 rsvd;
	struct bnnacc_completion comp;
};

/**
 * struct bnnacc_cancel_args - BNNACC_IOC_CANCEL
 * @size: sizeof(struct bnnacc_cancel_args)
 * @flags: must be 0
 * @handle: batch to cancel
 * @rsvd: must be 0
 *
 * Returns 0 when the batch had not reached the card: it completes with
 * -ECANCELED and must still be reaped. -EBUSY when it already reached the
 * card, -EALREADY when it has completed, -ENOENT when it is unknown.
 */
struct bnnacc_cancel_args {
	__u32 size;
	__u32 flags;
	__u64 handle;
	__u64 rsvd;
};

/**
 * struct bnnacc_reset_args - BNNACC_IOC_RESET (needs CAP_SYS_ADMIN)
 * @size: sizeof(struct bnnacc_reset_args)
 * @flags: must be 0
 * @rsvd: must be 0
 *
 * Resets the card as after a timeout: batches on the card complete with
 * -EIO, queued ones run afterwards; the array keeps its conductances.
 */
struct bnnacc_reset_args {
	__u32 size;
	__u32 flags;
	__u64 rsvd;
};

#define BNNACC_ABI_VERSION		3
#define BNNACC_IDENTIFY_SIZE_VER0	272
#define BNNACC_IDENTIFY_SIZE_VER1	288
#define BNNACC_LEASE_SIZE_VER0		32
#define BNNACC_PROGRAM_SIZE_VER0	40
#define BNNACC_READ_SIZE_VER0		40
#define BNNACC_JOB_SIZE_VER0		56
#define BNNACC_SUBMIT_SIZE_VER0		64
#define BNNACC_WAIT_SIZE_VER0		80
#define BNNACC_CANCEL_SIZE_VER0		24
#define BNNACC_RESET_SIZE_VER0		16

#define BNNACC_IOC_IDENTIFY \
	_IOWR(BNNACC_IOC_MAGIC, 0x00, struct bnnacc_identify_args)
#define BNNACC_IOC_PROGRAM \
	_IOW(BNNACC_IOC_MAGIC, 0x01, struct bnnacc_program_args)
#define BNNACC_IOC_READ \
	_IOW(BNNACC_IOC_MAGIC, 0x02, struct bnnacc_read_args)
#define BNNACC_IOC_SUBMIT \
	_IOWR(BNNACC_IOC_MAGIC, 0x03, struct bnnacc_submit_args)
#define BNNACC_IOC_WAIT \
	_IOWR(BNNACC_IOC_MAGIC, 0x04, struct bnnacc_wait_args)
#define BNNACC_IOC_CANCEL \
	_IOW(BNNACC_IOC_MAGIC, 0x05, struct bnnacc_cancel_args)
#define BNNACC_IOC_RESET \
	_IOW(BNNACC_IOC_MAGIC, 0x06, struct bnnacc_reset_args)
#define BNNACC_IOC_LEASE_ACQUIRE \
	_IOWR(BNNACC_IOC_MAGIC, 0x07, struct bnnacc_lease_args)
#define BNNACC_IOC_LEASE_RELEASE \
	_IOWR(BNNACC_IOC_MAGIC, 0x08, struct bnnacc_lease_args)

/* ------------------------------------------------------------------------ */
/* 3. Generic netlink family "bnnacc" (docs/netlink/bnnacc.yaml)            */
/* ------------------------------------------------------------------------ */

#define BNNACC_GENL_NAME		"bnnacc"
#define BNNACC_GENL_VERSION		1
#define BNNACC_GENL_MCGRP_EVENTS	"events"

/**
 * enum bnnacc_genl_cmd - commands of the bnnacc family
 * @BNNACC_CMD_UNSPEC: unused
 * @BNNACC_CMD_GET_CARD: with BNNACC_A_CARD_INDEX, one card; as a dump,
 *	every card: identity and counters
 * @BNNACC_CMD_EVENT: notification on the "events" group
 * @__BNNACC_CMD_MAX: number of commands
 */
enum bnnacc_genl_cmd {
	BNNACC_CMD_UNSPEC,
	BNNACC_CMD_GET_CARD,
	BNNACC_CMD_EVENT,
	__BNNACC_CMD_MAX,
};

#define BNNACC_CMD_MAX (__BNNACC_CMD_MAX - 1)

/**
 * enum bnnacc_genl_attr - attributes of the bnnacc family
 * @BNNACC_A_UNSPEC: unused
 * @BNNACC_A_CARD_INDEX: u32, N of /dev/bnnaccN
 * @BNNACC_A_CARD_NAME: string, "bnnaccN"
 * @BNNACC_A_PCI_ADDR: string, PCI address of the card
 * @BNNACC_A_SERIAL: u64, card serial number
 * @BNNACC_A_HW_VERSION: u32, hardware version
 * @BNNACC_A_ROWS: u32, array rows
 * @BNNACC_A_COLS: u32, array columns
 * @BNNACC_A_JOBS_COMPLETED: u64, jobs completed successfully
 * @BNNACC_A_JOBS_FAILED: u64, jobs completed with an error
 * @BNNACC_A_RESETS: u64, card resets
 * @BNNACC_A_BUSY_NS: u64, the card's busy-time counter
 * @BNNACC_A_QUEUE_DEPTH: u32, batches queued or on the card
 * @BNNACC_A_EVENT: u32, enum bnnacc_event
 * @BNNACC_A_REASON: string, human-readable cause of the event
 * @BNNACC_A_PAD: padding for 64-bit attributes
 * @BNNACC_A_GENERATION: u64, array generation (PROGRAMMED events, cards)
 * @BNNACC_A_LEASE_PID: u32, process holding the lease, 0 for none
 * @__BNNACC_A_MAX: number of attributes
 */
enum bnnacc_genl_attr {
	BNNACC_A_UNSPEC,
	BNNACC_A_CARD_INDEX,
	BNNACC_A_CARD_NAME,
	BNNACC_A_PCI_ADDR,
	BNNACC_A_SERIAL,
	BNNACC_A_HW_VERSION,
	BNNACC_A_ROWS,
	BNNACC_A_COLS,
	BNNACC_A_JOBS_COMPLETED,
	BNNACC_A_JOBS_FAILED,
	BNNACC_A_RESETS,
	BNNACC_A_BUSY_NS,
	BNNACC_A_QUEUE_DEPTH,
	BNNACC_A_EVENT,
	BNNACC_A_REASON,
	BNNACC_A_PAD,
	BNNACC_A_GENERATION,
	BNNACC_A_LEASE_PID,
	__BNNACC_A_MAX,
};

#define BNNACC_A_MAX (__BNNACC_A_MAX - 1)

/**
 * enum bnnacc_event - what a BNNACC_CMD_EVENT notification reports
 * @BNNACC_EVENT_CARD_ADDED: a card was bound; its node exists
 * @BNNACC_EVENT_CARD_REMOVED: a card was unbound or unplugged
 * @BNNACC_EVENT_RESET: the card was reset (timeout, error or ioctl)
 * @BNNACC_EVENT_ERROR: the card reported an error
 * @BNNACC_EVENT_DRIFT: the card raised a drift alert
 * @BNNACC_EVENT_THERMAL: the card raised a thermal alert
 * @BNNACC_EVENT_PROGRAMMED: the array was programmed: one event per burst
 *	of PROGRAM ioctls (100 ms after the last), with BNNACC_A_GENERATION
 *	and BNNACC_A_LEASE_PID
 */
enum bnnacc_event {
	BNNACC_EVENT_CARD_ADDED = 1,
	BNNACC_EVENT_CARD_REMOVED,
	BNNACC_EVENT_RESET,
	BNNACC_EVENT_ERROR,
	BNNACC_EVENT_DRIFT,
	BNNACC_EVENT_THERMAL,
	BNNACC_EVENT_PROGRAMMED,
};

#endif /* _UAPI_LINUX_BNNACC_H */
