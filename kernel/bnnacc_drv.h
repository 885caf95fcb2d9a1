/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bnnacc - driver for the bnnacc RRAM inference card: private definitions.
 *
 * bnnacc_drv.c   PCI probe/remove, interrupts, the character device
 * bnnacc_ring.c  submission/completion rings and commands
 * bnnacc_ioctl.c file operations and the ioctl ABI of uapi/bnnacc.h
 * bnnacc_job.c   asynchronous MVM batches, the dispatcher, the watchdog and
 *                recovery (reset)
 *
 * Locking, outermost first:
 *
 *   bnnacc_dev.cmd_lock   rw_semaphore; the synchronous ioctls (IDENTIFY,
 *                         PROGRAM, READ) hold it shared while they use the
 *                         card, remove() takes it exclusive to set @gone
 *   bnnacc_dev.job_lock   spinlock, never taken in hard interrupt context;
 *                         the per-file contexts, their batches and lists,
 *                         the dispatcher's state and the recovery flags
 *   bnnacc_ring.lock      spinlock, irq-safe; the ring indices and slots
 *   bnnacc_pool.lock      spinlock, a leaf: the free lists of the bounce
 *                         buffer pool; nothing else is taken or called
 *                         under it
 *
 * Nothing sleeps under a spinlock. The ring lock is never held while a
 * command's @end callback runs: completions are collected under it and
 * handed to their owners after it is dropped, so the completion path takes
 * job_lock without nesting it inside the ring lock. Bounce buffers are
 * freed (dma_free_coherent) or given back to the pool only in process
 * context with no spinlock held.
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
#include <linux/log2.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/shrinker.h>

#include "bnnacc_compat.h"
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <bnnacc_hw.h>	/* uapi/, found through -I$(src)/uapi */

#include "bnnacc_obs.h"

#define BNNACC_NAME		"bnnacc"
#define BNNACC_MAX_CARDS	256	/* minors of the char device region */
#define BNNACC_RING_DEPTH	256	/* ring entries, capped by QCAP */

extern unsigned int bnnacc_cmd_timeout_ms;
extern unsigned int bnnacc_pinned_max_mb;
extern const struct file_operations bnnacc_fops;

/**
 * struct bnnacc_buf - a DMA bounce buffer
 * @cpu: kernel address, NULL when @len is 0
 * @dma: bus address the card uses
 * @len: bytes allocated; for a pooled buffer its size class (a power of
 *	two number of pages), which may exceed what the command uses
 */
struct bnnacc_buf {
	void *cpu;
	dma_addr_t dma;
	size_t len;
};

/* Pool size classes: PAGE_SIZE << 0 .. BNNACC_JOB_MAX_BYTES. */
#define BNNACC_POOL_CLASSES	(ilog2(BNNACC_JOB_MAX_BYTES) - PAGE_SHIFT + 1)
#define BNNACC_POOL_CAP		(32u << 20)	/* bytes kept free per card */

/**
 * struct bnnacc_pool - free bounce buffers of a card, for reuse by jobs
 * @dev: device the buffers are allocated for (coherent DMA memory)
 * @lock: protects the fields below; a leaf lock
 * @free: free buffers per size class (PAGE_SIZE << class bytes); a free
 *	buffer's first bytes hold its list entry and bus address
 * @cached: bytes on the free lists, at most @cap
 * @cap: bytes the pool may keep free
 * @closed: the card was removed: buffers given back are freed
 * @shrinker: gives the free buffers back under memory pressure; NULL when
 *	none is registered
 * @pinned: bytes of coherent memory the card's commands hold, pooled or
 *	not, the free buffers included
 * @pinned_max: cap on @pinned (module parameter pinned_max_mb, sysfs
 *	pinned_max_bytes): an allocation over it fails with -EAGAIN, so
 *	many open files cannot exhaust coherent memory between them
 *
 * Jobs take their bounce buffers from the pool and give them back when
 * the command is released, so the hot path neither allocates nor zeroes.
 * A reused buffer holds stale data of an earlier job (possibly another
 * file's): only the input bytes are copied in, the card reads only those,
 * and only outputs the card reported as written in full are copied out.
 * The free buffers are released when the last file of the card closes,
 * under memory pressure and when the card is removed.
 */
struct bnnacc_pool {
	struct device *dev;
	spinlock_t lock;	/* the free lists, @cached, @closed */
	struct list_head free[BNNACC_POOL_CLASSES];
	size_t cached;
	size_t cap;
	bool closed;
	struct shrinker *shrinker;
	atomic_long_t pinned;
	unsigned long pinned_max;
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
 *	command occupies a slot; the last put frees the buffers (or gives
 *	them back to @pool)
 * @pool: pool of the card: its device, its coherent memory count and,
 *	with @pooled, the free lists the buffers go back to
 * @pooled: the buffers came from @pool's free lists (not zeroed)
 * @kept: once retired (bnnacc_cmd_retire()), the destination's bytes in
 *	kernel memory; the bounce buffers are gone
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
 * @end: NULL for a synchronous command; else called once, in process
 *	context without the ring lock, when the command has completed or
 *	been cancelled by a reset (@err is final), before the ring drops its
 *	reference
 * @priv: owner of the command, for @end
 */
struct bnnacc_cmd {
	struct kref kref;
	struct bnnacc_pool *pool;
	bool pooled;
	void *kept;
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
	void (*end)(struct bnnacc_cmd *cmd);
	void *priv;
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
 * @sq_db: SQ_TAIL as last written (a doorbell is rung only when it moved)
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
	u32 sq_db;
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
 * @cmd_lock: held shared by a synchronous command while it uses the card,
 *	exclusive by remove(); protects @gone
 * @gone: the card was removed: every ioctl fails with -ENODEV
 * @rows: array word lines (GEOMETRY)
 * @cols: array bit lines (GEOMETRY)
 * @hw_version: VERSION register
 * @qcap: QCAP register
 * @features: FEATURES register (BNNACC_FEAT_*)
 * @irq_mode: enum bnnacc_irq_mode
 * @nvec: vectors allocated
 * @int_mask: last value written to INT_MASK
 * @vec: per-vector state
 * @ring: the SQ/CQ pair
 * @pool: bounce buffers for the jobs
 * @stats: software counters (bnnacc_obs.h)
 * @job_lock: protects the fields below down to @reset_done, the contexts'
 *	lists and every batch's state and list links
 * @ctxs: every open file's &struct bnnacc_ctx
 * @rr: contexts with queued batches, in round-robin order
 * @oncard: batches on the card, in dispatch (and so execution) order
 * @nqueued: batches queued, not yet on the card
 * @noncard: batches on the card
 * @seq: dispatch sequence number of the last batch put on the card
 * @dead: the card is being removed: no more submissions or recovery
 * @broken: a reset failed: new batches fail with -EIO
 * @recovering: a recovery is running (or the card is frozen): dispatch
 *	is halted
 * @frozen: a PCIe error or a suspend stopped the card: no recovery until
 *	bnnacc_jobs_thaw()
 * @sync_waiting: synchronous commands waiting for ring room: the
 *	dispatcher holds back batches until they are in
 * @reset_req: recoveries requested
 * @reset_done: @reset_req as of the last finished recovery
 * @reset_reason: why the next recovery runs
 * @room_wq: synchronous commands waiting for ring room
 * @reset_wq: BNNACC_IOC_RESET callers waiting for their recovery
 * @watchdog: notices a batch past its deadline
 * @recover_work: the recovery (reset) worker
 * @lease_lock: protects @lease and @lease_pid
 * @lease: the open file (its context, compared only) allowed to PROGRAM
 * @lease_pid: thread group that took @lease
 * @generation: PROGRAM ioctls that reached the card since probe
 * @prog_work: sends one PROGRAMMED event per burst of PROGRAM ioctls
 */
struct bnnacc_dev {
	struct device dev;
	struct cdev cdev;
	struct pci_dev *pdev;
	void __iomem *regs;
	int minor;
	struct rw_semaphore cmd_lock;	/* commands using the card; @gone */
	bool gone;
	u16 rows;
	u16 cols;
	u32 hw_version;
	u32 qcap;
	u32 features;
	enum bnnacc_irq_mode irq_mode;
	unsigned int nvec;
	u32 int_mask;
	struct bnnacc_vec vec[BNNACC_MSIX_VECTORS];
	struct bnnacc_ring ring;
	struct bnnacc_pool pool;
	struct bnnacc_stats stats;
	spinlock_t job_lock;	/* contexts, batches, dispatch, recovery */
	struct list_head ctxs;
	struct list_head rr;
	struct list_head oncard;
	u32 nqueued;
	u32 noncard;
	u64 seq;
	bool dead;
	bool broken;
	bool recovering;
	bool frozen;
	u32 sync_waiting;
	u64 reset_req;
	u64 reset_done;
	char reset_reason[80];
	wait_queue_head_t room_wq;
	wait_queue_head_t reset_wq;
	struct delayed_work watchdog;
	struct work_struct recover_work;
	spinlock_t lease_lock;	/* @lease, @lease_pid */
	const struct bnnacc_ctx *lease;
	pid_t lease_pid;
	atomic64_t generation;
	struct delayed_work prog_work;
};

/**
 * struct bnnacc_ctx - the jobs of one open file
 * @bdev: its card
 * @node: entry in &bnnacc_dev.ctxs
 * @rr: entry in &bnnacc_dev.rr while @queued is not empty
 * @queued: batches waiting for the ring, in submission order
 * @done: completed batches waiting to be reaped
 * @all: every unreaped batch of the file (through &bnnacc_batch.cnode)
 * @pending: unreaped batches
 * @pending_bytes: input + output bytes of the unreaped batches
 * @next_handle: handle of the next batch
 * @wq: woken when a batch completes or the card goes away
 *
 * Every field but @bdev and @wq is protected by &bnnacc_dev.job_lock.
 */
struct bnnacc_ctx {
	struct bnnacc_dev *bdev;
	struct list_head node;
	struct list_head rr;
	struct list_head queued;
	struct list_head done;
	struct list_head all;
	u32 pending;
	u64 pending_bytes;
	u64 next_handle;
	wait_queue_head_t wq;
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
struct bnnacc_cmd *bnnacc_cmd_alloc(struct bnnacc_pool *pool, size_t src_len,
				    size_t dst_len);
int bnnacc_cmd_retire(struct bnnacc_cmd *cmd, size_t keep);
const void *bnnacc_cmd_out(const struct bnnacc_cmd *cmd);
struct bnnacc_cmd *bnnacc_cmd_alloc_pooled(struct bnnacc_pool *pool,
					   size_t src_len, size_t dst_len);
void bnnacc_pool_init(struct bnnacc_pool *pool, struct device *dev);
void bnnacc_pool_start(struct bnnacc_pool *pool, const char *name);
void bnnacc_pool_trim(struct bnnacc_pool *pool);
void bnnacc_pool_close(struct bnnacc_pool *pool);
void bnnacc_cmd_put(struct bnnacc_cmd *cmd);
int bnnacc_sc_to_errno(u16 sc);

/* bnnacc_drv.c */
void bnnacc_set_int_mask(struct bnnacc_dev *bdev, u32 mask);
int bnnacc_hw_reset(struct bnnacc_dev *bdev);
void bnnacc_irq_sync(struct bnnacc_dev *bdev);

/* bnnacc_ioctl.c */
int bnnacc_check_region(const struct bnnacc_dev *bdev,
			const struct bnnacc_region *r);
void bnnacc_lease_init(struct bnnacc_dev *bdev);
pid_t bnnacc_lease_pid(struct bnnacc_dev *bdev);

/* bnnacc_job.c */
void bnnacc_jobs_init(struct bnnacc_dev *bdev);
void bnnacc_jobs_kill(struct bnnacc_dev *bdev);
void bnnacc_jobs_fail(struct bnnacc_dev *bdev);
void bnnacc_jobs_retire(struct bnnacc_dev *bdev);
void bnnacc_jobs_freeze(struct bnnacc_dev *bdev);
int bnnacc_jobs_thaw(struct bnnacc_dev *bdev, const char *reason);
void bnnacc_job_kick(struct bnnacc_dev *bdev);
void bnnacc_recover_request(struct bnnacc_dev *bdev, const char *reason);
int bnnacc_sync_exec(struct bnnacc_dev *bdev, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms);
struct bnnacc_ctx *bnnacc_ctx_create(struct bnnacc_dev *bdev);
void bnnacc_ctx_destroy(struct bnnacc_ctx *ctx);
long bnnacc_ioc_submit(struct bnnacc_ctx *ctx,
		       struct bnnacc_submit_args __user *uargs);
long bnnacc_ioc_wait(struct bnnacc_ctx *ctx,
		     struct bnnacc_wait_args __user *uargs);
long bnnacc_ioc_cancel(struct bnnacc_ctx *ctx,
		       struct bnnacc_cancel_args __user *uargs);
long bnnacc_ioc_reset(struct bnnacc_ctx *ctx,
		      struct bnnacc_reset_args __user *uargs);
ssize_t bnnacc_ctx_read(struct bnnacc_ctx *ctx, char __user *buf,
			size_t count, bool nonblock);
__poll_t bnnacc_ctx_poll(struct bnnacc_ctx *ctx, struct file *file,
			 poll_table *wait);

#endif /* _BNNACC_DRV_H */
