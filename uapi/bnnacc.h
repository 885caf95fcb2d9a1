/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * bnnacc - programming model of the bnnacc RRAM inference card and the ioctl
 * ABI of its Linux driver.
 *
 * One header for the kernel driver, the QEMU device model and user space.
 * It has three parts:
 *
 *  1. the PCI identity and the BAR0 register map (what the driver programs);
 *  2. the submission/completion ring format and the card's commands (what
 *     travels over DMA between the driver and the card);
 *  3. the ioctl ABI of /dev/bnnaccN (what user space calls).
 *
 * Everything is little-endian and made of fixed-size types with explicit
 * padding; no structure contains a pointer (user and DMA addresses are __u64).
 * Every reserved field must be zero: the card completes a descriptor whose
 * reserved bits are set with %BNNACC_SC_INVALID_FIELD and the driver fails an
 * ioctl whose reserved fields are set with -EINVAL. docs/hardware.md explains
 * the model behind the numbers.
 */
#ifndef _UAPI_LINUX_BNNACC_H
#define _UAPI_LINUX_BNNACC_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* ------------------------------------------------------------------------ */
/* 1. PCI identity and BAR0                                                 */
/* ------------------------------------------------------------------------ */

#define BNNACC_PCI_VENDOR_ID	0x1234	/* QEMU's experimental vendor id */
#define BNNACC_PCI_DEVICE_ID	0xbacc
#define BNNACC_PCI_CLASS	0x120000 /* processing accelerator */

#define BNNACC_BAR_REGS		0	/* BAR0: registers below, 4 KiB */
#define BNNACC_BAR_MSIX		2	/* BAR2: MSI-X table and PBA */
#define BNNACC_REGS_SIZE	0x1000

#define BNNACC_MAGIC		0x424e4e41	/* "BNNA" */
#define BNNACC_HW_VERSION	0x00010000	/* major << 16 | minor */
#define BNNACC_HW_VERSION_MAJOR(v)	((v) >> 16)

/*
 * BAR0 registers. All are 32 bits wide and must be accessed with aligned
 * 32-bit loads and stores. A 64-bit counter is split in a _LO/_HI pair:
 * reading _LO latches the whole value, so read _LO first, then _HI.
 */
#define BNNACC_REG_MAGIC	0x000	/* RO: BNNACC_MAGIC */
#define BNNACC_REG_VERSION	0x004	/* RO: BNNACC_HW_VERSION */
#define BNNACC_REG_GEOMETRY	0x008	/* RO: rows [15:0], columns [31:16] */
#define BNNACC_REG_QCAP		0x00c	/* RO: ring entries, DAC/ADC bits */
#define BNNACC_REG_ISET_MIN	0x010	/* RO: lowest SET current, nA */
#define BNNACC_REG_ISET_MAX	0x014	/* RO: highest SET current, nA */
#define BNNACC_REG_ADC_FS	0x018	/* RO: ADC full scale at shift 0, nA */
#define BNNACC_REG_FEATURES	0x01c	/* RO: BNNACC_FEAT_* */
#define BNNACC_REG_CTRL		0x020	/* RW: BNNACC_CTRL_* */
#define BNNACC_REG_STATUS	0x024	/* RO: BNNACC_STS_* */
#define BNNACC_REG_RESET	0x028	/* WO: write BNNACC_RESET_KEY */
#define BNNACC_REG_INT_STATUS	0x030	/* RW1C: BNNACC_INT_* causes */
#define BNNACC_REG_INT_MASK	0x034	/* RW: 1 = cause masked */
#define BNNACC_REG_ERR_STATUS	0x038	/* RW1C: BNNACC_ERR_* */
#define BNNACC_REG_ERR_INFO	0x03c	/* RO: detail of the first error */
#define BNNACC_REG_SQ_BASE_LO	0x040	/* RW: SQ bus address, 64-byte aligned */
#define BNNACC_REG_SQ_BASE_HI	0x044
#define BNNACC_REG_SQ_SIZE	0x048	/* RW: SQ entries, power of 2 */
#define BNNACC_REG_CQ_BASE_LO	0x050	/* RW: CQ bus address, 64-byte aligned */
#define BNNACC_REG_CQ_BASE_HI	0x054
#define BNNACC_REG_CQ_SIZE	0x058	/* RW: CQ entries, power of 2 */
#define BNNACC_REG_SQ_TAIL	0x060	/* WO doorbell: new SQ tail */
#define BNNACC_REG_CQ_HEAD	0x064	/* WO doorbell: CQ entries consumed */
#define BNNACC_REG_SQ_HEAD	0x068	/* RO: next SQ entry the card fetches */
#define BNNACC_REG_CLOCK_LO	0x070	/* RO: device clock, ns */
#define BNNACC_REG_CLOCK_HI	0x074
#define BNNACC_REG_BUSY_LO	0x078	/* RO: time spent executing, ns */
#define BNNACC_REG_BUSY_HI	0x07c
#define BNNACC_REG_CMDS_DONE	0x080	/* RO: commands completed */
#define BNNACC_REG_CMDS_FAILED	0x084	/* RO: of which with an error */
#define BNNACC_REG_SERIAL_LO	0x088	/* RO: card serial number */
#define BNNACC_REG_SERIAL_HI	0x08c
#define BNNACC_REG_EVENT_INFO	0x090	/* RC: last event, read clears */

/* BNNACC_REG_EVENT_INFO */
#define BNNACC_EVT_NONE		0
#define BNNACC_EVT_DRIFT	1	/* conductances relaxed past the alert level */
#define BNNACC_EVT_THERMAL	2	/* array temperature out of range */

#define BNNACC_GEOM_ROWS(v)	((v) & 0xffff)
#define BNNACC_GEOM_COLS(v)	((v) >> 16)
/* QCAP: max ring entries [15:0], DAC bits [23:16], ADC bits [31:24] */
#define BNNACC_QCAP_DEPTH(v)	((v) & 0xffff)
#define BNNACC_QCAP_DAC_BITS(v)	(((v) >> 16) & 0xff)
#define BNNACC_QCAP_ADC_BITS(v)	((v) >> 24)

/* BNNACC_REG_FEATURES */
#define BNNACC_FEAT_MVM_REPEAT	0x1u	/* MVM honours a repeat count */
#define BNNACC_FEAT_NONVOLATILE	0x2u	/* array kept across power-off */
#define BNNACC_FEAT_MULTILAYER	0x4u	/* BNNACC_OP_MLP (reserved) */
#define BNNACC_FEAT_MVM_SUM	0x8u	/* MVM sums its repeats (BNNACC_MVM_SUM) */

/* BNNACC_REG_CTRL */
#define BNNACC_CTRL_ENABLE	0x1u	/* rings live; set after bases */

/* BNNACC_REG_STATUS */
#define BNNACC_STS_READY	0x1u	/* enabled with valid rings */
#define BNNACC_STS_FATAL	0x2u	/* halted on an error; reset */
#define BNNACC_STS_BUSY		0x4u	/* executing a command */

#define BNNACC_RESET_KEY	0x52535421	/* "RST!" */

/* BNNACC_REG_INT_STATUS / BNNACC_REG_INT_MASK */
#define BNNACC_INT_CQ		0x1u	/* completions posted */
#define BNNACC_INT_ERROR	0x2u	/* see BNNACC_REG_ERR_STATUS */
#define BNNACC_INT_EVENT	0x4u	/* drift or thermal alert */
#define BNNACC_INT_ALL		0x7u

/* MSI-X vectors; with MSI or INTx there is one vector for all causes. */
#define BNNACC_MSIX_CQ		0
#define BNNACC_MSIX_ERROR	1
#define BNNACC_MSIX_VECTORS	2

/* BNNACC_REG_ERR_STATUS: a set bit makes the card fatal until reset. */
#define BNNACC_ERR_RING_CONFIG	0x1u	/* bad base/size at ENABLE */
#define BNNACC_ERR_DOORBELL	0x2u	/* doorbell value out of range */
#define BNNACC_ERR_SQ_FETCH	0x4u	/* SQ entry DMA read failed */
#define BNNACC_ERR_CQ_POST	0x8u	/* CQ entry DMA write failed */
#define BNNACC_ERR_REG_ACCESS	0x10u	/* bad register access */

/* ------------------------------------------------------------------------ */
/* 2. Rings and commands                                                    */
/* ------------------------------------------------------------------------ */

#define BNNACC_ROWS		128
#define BNNACC_COLS		128
#define BNNACC_CELLS		(BNNACC_ROWS * BNNACC_COLS)
#define BNNACC_RING_MIN		2
#define BNNACC_RING_MAX		4096

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

/**
 * enum bnnacc_opcode - card commands
 * @BNNACC_OP_IDENTIFY: DMA a &struct bnnacc_identify to @dst_addr.
 * @BNNACC_OP_PROGRAM: program the region from @src_addr: one __u32 program
 *	word (BNNACC_PROG_*) per cell.
 * @BNNACC_OP_READ: read the region's conductances @cdw[0] times (0 means
 *	once) to @dst_addr: one __u32 per cell and read, in nS; every read
 *	draws fresh read noise.
 * @BNNACC_OP_MVM: apply @cdw[0] input vectors (__s16, one per region row,
 *	full scale +-BNNACC_INPUT_FS) from @src_addr to the region, @cdw[1]
 *	times each (0 means once); post the column currents after the ADC as
 *	__s32 codes to @dst_addr, laid out [repeat][vector][column]. @cdw[2]
 *	bits 3:0 select the ADC range: full scale is ADC_FS >> shift; with
 *	bit 8 (BNNACC_MVM_SUM) set the card adds up the repeats' codes in its
 *	digital periphery and posts one __s32 sum per vector and column,
 *	laid out [vector][column]. Other bits must be zero. Either way
 *	@cdw[1] * @cdw[0] * region cols * 4 is at most
 *	BNNACC_MVM_MAX_CODE_BYTES (else BNNACC_SC_LENGTH).
 * @BNNACC_OP_MLP: reserved for a multi-layer command (a chain of MVMs with
 *	activations on the card); completes with BNNACC_SC_INVALID_OPCODE
 *	while BNNACC_FEAT_MULTILAYER is clear.
 */
enum bnnacc_opcode {
	BNNACC_OP_IDENTIFY = 0x01,
	BNNACC_OP_PROGRAM = 0x02,
	BNNACC_OP_READ = 0x03,
	BNNACC_OP_MVM = 0x04,
	BNNACC_OP_MLP = 0x05,
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
#define BNNACC_MVM_SHIFT_MASK	0xfu	/* MVM cdw[2]: ADC range */
#define BNNACC_MVM_SUM		0x100u	/* MVM cdw[2]: sum the repeats */
/* Work bound of one MVM, summed or not: repeat * count * cols * 4 bytes */
#define BNNACC_MVM_MAX_CODE_BYTES	(64u << 20)

/**
 * struct bnnacc_sqe - submission queue entry (64 bytes)
 * @opcode: enum bnnacc_opcode
 * @flags: must be 0
 * @cid: command id chosen by the driver, echoed in the completion
 * @rsvd0: must be 0
 * @region: cells the command acts on (IDENTIFY: all zero)
 * @src_addr: bus address of the data the card reads (PROGRAM, MVM)
 * @dst_addr: bus address of the data the card writes (IDENTIFY, READ, MVM)
 * @src_len: bytes available at @src_addr
 * @dst_len: bytes available at @dst_addr
 * @cdw: command-specific words (see enum bnnacc_opcode); unused ones are 0
 * @rsvd1: must be 0
 *
 * Each buffer is physically contiguous in bus address space. A length that
 * is smaller than the command needs completes with BNNACC_SC_LENGTH.
 */
struct bnnacc_sqe {
	__u8 opcode;
	__u8 flags;
	__u16 cid;
	__u32 rsvd0;
	struct bnnacc_region region;
	__u64 src_addr;
	__u64 dst_addr;
	__u32 src_len;
	__u32 dst_len;
	__u32 cdw[4];
	__u64 rsvd1;
};

/**
 * struct bnnacc_cqe - completion queue entry (16 bytes)
 * @cid: command id of the completed entry
 * @status: bit 0 is the phase tag, bits 15:1 the status code (BNNACC_SC_*)
 * @sq_head: the card's SQ head after this command was consumed
 * @rsvd: zero
 * @result: command-specific: bytes written to @dst_addr
 * @busy_ns: time the card spent executing the command, ns (saturates)
 *
 * The card writes entries in order and toggles the phase tag it writes each
 * time it wraps around the ring; the first pass writes phase 1. An entry is
 * new when its phase tag equals the phase the driver expects.
 */
struct bnnacc_cqe {
	__u16 cid;
	__u16 status;
	__u16 sq_head;
	__u16 rsvd;
	__u32 result;
	__u32 busy_ns;
};

#define BNNACC_CQE_PHASE(s)	((s) & 1u)
#define BNNACC_CQE_SC(s)	((s) >> 1)

/* Completion status codes */
#define BNNACC_SC_SUCCESS	0x00
#define BNNACC_SC_INVALID_OPCODE 0x01
#define BNNACC_SC_INVALID_FIELD	0x02	/* flags, reserved or cdw */
#define BNNACC_SC_INVALID_REGION 0x03
#define BNNACC_SC_LENGTH	0x04	/* buffer too small or too large */
#define BNNACC_SC_DMA_ERROR	0x05	/* data buffer not accessible */
#define BNNACC_SC_ABORTED	0x06	/* driver only: dropped by a reset */
#define BNNACC_SC_INTERNAL	0x07

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
/* 3. ioctl ABI of /dev/bnnaccN                                             */
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
 * @size: sizeof(struct bnnacc_identify_args)
 * @flags: must be 0
 * @drv_version: out: driver ABI version, BNNACC_ABI_VERSION
 * @rsvd: must be 0
 * @id: out: the card's IDENTIFY answer, fetched by DMA
 */
struct bnnacc_identify_args {
	__u32 size;
	__u32 flags;
	__u32 drv_version;
	__u32 rsvd;
	struct bnnacc_identify id;
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

#define BNNACC_ABI_VERSION		2
#define BNNACC_IDENTIFY_SIZE_VER0	272
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

/* ------------------------------------------------------------------------ */
/* 4. Generic netlink family "bnnacc" (docs/netlink/bnnacc.yaml)            */
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
 */
enum bnnacc_event {
	BNNACC_EVENT_CARD_ADDED = 1,
	BNNACC_EVENT_CARD_REMOVED,
	BNNACC_EVENT_RESET,
	BNNACC_EVENT_ERROR,
	BNNACC_EVENT_DRIFT,
	BNNACC_EVENT_THERMAL,
};

#endif /* _UAPI_LINUX_BNNACC_H */
