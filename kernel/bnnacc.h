/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bnnacc - driver for the bnnacc RRAM inference card: private definitions.
 *
 * bnnacc_drv.c   PCI probe/remove, interrupts, the character device
 * bnnacc_ring.c  submission/completion rings and commands
 * bnnacc_ioctl.c file operations and the ioctl ABI of uapi/bnnacc.h
 *
 * Locking: bnnacc_dev.cmd_lock (a mutex) serialises the ioctls of a card and
 * is taken before bnnacc_ring.lock (a spinlock), which protects the ring
 * indices and the command slots. Nothing sleeps under the ring lock.
 */
#ifndef _BNNACC_DRV_H
#define _BNNACC_DRV_H

#include <linux/atomic.h>
#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include <bnnacc.h>	/* uapi/bnnacc.h, found through -I$(src)/uapi */

#define BNNACC_NAME		"bnnacc"
#define BNNACC_MAX_CARDS	256	/* minors of the char device region */
#define BNNACC_RING_DEPTH	256	/* ring entries, capped by QCAP */

extern unsigned int bnnacc_cmd_timeout_ms;
extern const struct file_operations bnnacc_fops;

/**
 * struct bnnacc_buf - a DMA bounce buffer
 * @cpu: kernel address, NULL when @len is 0
 * @dma: bus address the card uses
 * @len: bytes
 */
struct bnnacc_buf {
	void *cpu;
	dma_addr_t dma;
	size_t len;
};

/**
 * enum bnnacc_cmd_state - where a command is
 * @BNNACC_CMD_NEW: allocated, not submitted
 * @BNNACC_CMD_INFLIGHT: in a ring slot, its submitter waiting
 * @BNNACC_CMD_DONE: completed and out of the ring
 * @BNNACC_CMD_ABANDONED: still in a ring slot, but its submitter gave up
 *	(timeout, signal or halted card); a late completion only frees it
 */
enum bnnacc_cmd_state {
	BNNACC_CMD_NEW,
	BNNACC_CMD_INFLIGHT,
	BNNACC_CMD_DONE,
	BNNACC_CMD_ABANDONED,
};

/**
 * struct bnnacc_cmd - one card command and its bounce buffers
 * @kref: one reference for the submitter, one for the ring while the
 *	command occupies a slot; the last put frees the buffers
 * @dev: device the buffers were allocated for
 * @sqe: descriptor in CPU byte order; the ring sets its cid (the tag) and
 *	copies it into the SQ
 * @src: buffer the card reads (PROGRAM data)
 * @dst: buffer the card writes (IDENTIFY, READ data)
 * @done: completed once @err and the results below are final
 * @state: enum bnnacc_cmd_state, under the ring lock
 * @err: 0 or -errno
 * @sc: BNNACC_SC_* status code the card posted
 * @result: bytes the card wrote to @dst
 * @busy_ns: time the card spent on the command
 * @link: entry on a list of commands to put once the ring lock is dropped
 */
struct bnnacc_cmd {
	struct kref kref;
	struct device *dev;
	struct bnnacc_sqe sqe;
	struct bnnacc_buf src;
	struct bnnacc_buf dst;
	struct completion done;
	enum bnnacc_cmd_state state;
	int err;
	u16 sc;
	u32 result;
	u32 busy_ns;
	struct list_head link;
};

/**
 * struct bnnacc_ring - the submission/completion ring pair of a card
 * @dev: the PCI device, for DMA and logging
 * @regs: BAR0
 * @lock: protects every field below, the slots and the commands' @state
 * @sq: submission ring, @depth entries
 * @sq_dma: its bus address
 * @cq: completion ring, @depth entries
 * @cq_dma: its bus address
 * @depth: entries per ring, a power of two
 * @sq_tail: next SQ entry the driver fills
 * @sq_head: next SQ entry the card fetches, as last reported by the card
 * @cq_head: next CQ entry the driver reads
 * @cq_phase: phase tag that marks a new CQ entry
 * @inflight: tags taken, abandoned commands included
 * @tag_hint: where the search for a free tag starts
 * @slots: the command holding each tag, or NULL; a command's cid is its
 *	tag, taken until its completion arrives (or the card is reset)
 * @enabled: rings programmed and the card READY
 * @halted: 0, or the -errno new submissions fail with (-EIO once the card
 *	went fatal, -ENODEV once it is being removed)
 */
struct bnnacc_ring {
	struct device *dev;
	void __iomem *regs;
	spinlock_t lock;	/* ring indices, slots, cmd->state */
	struct bnnacc_sqe *sq;
	dma_addr_t sq_dma;
	struct bnnacc_cqe *cq;
	dma_addr_t cq_dma;
	u32 depth;
	u32 sq_tail;
	u32 sq_head;
	u32 cq_head;
	u16 cq_phase;
	u32 inflight;
	u32 tag_hint;
	struct bnnacc_cmd **slots;
	bool enabled;
	int halted;
};

/**
 * enum bnnacc_irq_mode - interrupt mode a card ended up with
 * @BNNACC_IRQ_NONE: none allocated
 * @BNNACC_IRQ_INTX: legacy pin, possibly shared
 * @BNNACC_IRQ_MSI: one MSI message for every cause
 * @BNNACC_IRQ_MSIX: MSI-X, completions and errors on separate vectors
 */
enum bnnacc_irq_mode {
	BNNACC_IRQ_NONE,
	BNNACC_IRQ_INTX,
	BNNACC_IRQ_MSI,
	BNNACC_IRQ_MSIX,
};

struct bnnacc_dev;

/**
 * struct bnnacc_vec - one interrupt vector
 * @bdev: its card
 * @causes: BNNACC_INT_* causes this vector serves
 * @pending: causes acknowledged by the hard handler for the thread
 */
struct bnnacc_vec {
	struct bnnacc_dev *bdev;
	u32 causes;
	atomic_t pending;
};

/**
 * struct bnnacc_dev - one card
 * @dev: the class device behind /dev/bnnaccN; its release frees this
 *	structure, which therefore outlives remove() while a file is open
 * @cdev: the character device
 * @pdev: the PCI device (a reference is held)
 * @regs: BAR0
 * @minor: minor number, from an IDA
 * @cmd_lock: serialises commands; protects @gone
 * @gone: the card was removed: every ioctl fails with -ENODEV
 * @rows: array word lines (GEOMETRY)
 * @cols: array bit lines (GEOMETRY)
 * @hw_version: VERSION register
 * @qcap: QCAP register
 * @irq_mode: enum bnnacc_irq_mode
 * @nvec: vectors allocated
 * @int_mask: last value written to INT_MASK
 * @vec: per-vector state
 * @ring: the SQ/CQ pair
 */
struct bnnacc_dev {
	struct device dev;
	struct cdev cdev;
	struct pci_dev *pdev;
	void __iomem *regs;
	int minor;
	struct mutex cmd_lock;	/* one command at a time; @gone */
	bool gone;
	u16 rows;
	u16 cols;
	u32 hw_version;
	u32 qcap;
	enum bnnacc_irq_mode irq_mode;
	unsigned int nvec;
	u32 int_mask;
	struct bnnacc_vec vec[BNNACC_MSIX_VECTORS];
	struct bnnacc_ring ring;
};

static inline u32 bnnacc_rd(void __iomem *regs, u32 reg)
{
	return readl(regs + reg);
}

static inline void bnnacc_wr(void __iomem *regs, u32 reg, u32 val)
{
	writel(val, regs + reg);
}

/* bnnacc_ring.c */
int bnnacc_ring_init(struct bnnacc_ring *ring, struct device *dev,
		     void __iomem *regs, u32 depth);
int bnnacc_ring_enable(struct bnnacc_ring *ring);
void bnnacc_ring_disable(struct bnnacc_ring *ring);
void bnnacc_ring_halt(struct bnnacc_ring *ring, int err);
void bnnacc_ring_cancel(struct bnnacc_ring *ring, int err);
int bnnacc_ring_submit(struct bnnacc_ring *ring, struct bnnacc_cmd **cmds,
		       unsigned int n);
unsigned int bnnacc_ring_drain(struct bnnacc_ring *ring);
int bnnacc_ring_wait(struct bnnacc_ring *ring, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms);
int bnnacc_ring_exec(struct bnnacc_ring *ring, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms);
struct bnnacc_cmd *bnnacc_cmd_alloc(struct device *dev, size_t src_len,
				    size_t dst_len);
void bnnacc_cmd_put(struct bnnacc_cmd *cmd);
int bnnacc_sc_to_errno(u16 sc);

#endif /* _BNNACC_DRV_H */
