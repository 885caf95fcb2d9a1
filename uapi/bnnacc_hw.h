/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * bnnacc - hardware interface of the bnnacc RRAM inference card: the BAR0
 * register map and the submission/completion ring format. For the kernel
 * driver, the QEMU device model and the raw-access tests; applications use
 * the user ABI of bnnacc.h, which this header includes.
 *
 *  1. the BAR0 register map (what the driver programs);
 *  2. the ring format and the card's commands (what travels over DMA
 *     between the driver and the card).
 *
 * Everything is little-endian and made of fixed-size types with explicit
 * padding. The card completes a descriptor whose reserved bits are set with
 * %BNNACC_SC_INVALID_FIELD.
 */
#ifndef _UAPI_LINUX_BNNACC_HW_H
#define _UAPI_LINUX_BNNACC_HW_H

#include "bnnacc.h"

/* ------------------------------------------------------------------------ */
/* 1. BAR0                                                                  */
/* ------------------------------------------------------------------------ */

#define BNNACC_BAR_REGS		0	/* BAR0: registers below, 4 KiB */
#define BNNACC_BAR_MSIX		2	/* BAR2: MSI-X table and PBA */
#define BNNACC_REGS_SIZE	0x1000

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

#define BNNACC_RING_MIN		2
#define BNNACC_RING_MAX		4096

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

#define BNNACC_MVM_SHIFT_MASK	0xfu	/* MVM cdw[2]: ADC range */
#define BNNACC_MVM_SUM		0x100u	/* MVM cdw[2]: sum the repeats */

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

#endif /* _UAPI_LINUX_BNNACC_HW_H */
