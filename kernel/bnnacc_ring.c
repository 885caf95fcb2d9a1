// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - submission and completion rings.
 *
 * One SQ and one CQ of the same depth live in coherent DMA memory. A
 * command's id (cid) is its tag: the index of the ring slot that holds it
 * until its completion has been consumed. Tags are independent of SQ
 * positions, so a completion that never comes (a lost or corrupted CQE)
 * costs one tag, not the ring. The SQ never holds more than depth - 1
 * unfetched entries (a full SQ would have tail == head); the card's head
 * comes with every completion (and from SQ_HEAD when the SQ looks full).
 * Completions are matched to commands by cid, so the ring does not rely on
 * the card completing in order.
 *
 * Doorbells: one SQ_TAIL write per batch, rung as the batch is queued.
 * (Deferring it to the next completion drain, to spare the vCPU a register
 * access while the emulated card computes, was measured: no clear gain, and
 * it let a process with a deep queue crowd out a shallow one.)
 *
 * A command is reference counted: the submitter holds one reference, the
 * ring another while the command holds a tag. A submitter that gives up
 * (timeout, fatal signal, halted card) marks its command abandoned and drops
 * only its own reference; the bounce buffers stay allocated until the card
 * completes the command or is reset, so a late DMA never lands in freed
 * memory.
 */

#include <linux/iopoll.h>
#include <linux/jiffies.h>
#include <linux/slab.h>

#include "bnnacc_drv.h"

static_assert(sizeof(struct bnnacc_sqe) == 64);
static_assert(sizeof(struct bnnacc_cqe) == 16);

/* The card's descriptors are little-endian; the uAPI types them as __uN. */
#define bnnacc_le16(v)	((__force u16)cpu_to_le16(v))
#define bnnacc_le32(v)	((__force u32)cpu_to_le32(v))
#define bnnacc_le64(v)	((__force u64)cpu_to_le64(v))
#define bnnacc_cpu16(v)	le16_to_cpu((__force __le16)(v))
#define bnnacc_cpu32(v)	le32_to_cpu((__force __le32)(v))

#define BNNACC_READY_TIMEOUT_US	(100 * USEC_PER_MSEC)

/**
 * bnnacc_sc_to_errno() - map a completion status code to an errno
 * @sc: BNNACC_SC_* code
 *
 * Return: 0 for success, else a negative errno.
 */
int bnnacc_sc_to_errno(u16 sc)
{
	switch (sc) {
	case BNNACC_SC_SUCCESS:
		return 0;
	case BNNACC_SC_INVALID_OPCODE:
	case BNNACC_SC_INVALID_FIELD:
	case BNNACC_SC_INVALID_REGION:
	case BNNACC_SC_LENGTH:
		return -EINVAL;
	case BNNACC_SC_ABORTED:
		return -ECANCELED;
	case BNNACC_SC_DMA_ERROR:
	case BNNACC_SC_INTERNAL:
	default:
		return -EIO;
	}
}

/*
 * Coherent memory of the card's commands, counted against the card's cap
 * (bnnacc_pool.pinned_max): -EAGAIN above it, -ENOMEM without memory.
 */
static int bnnacc_pinned_alloc(struct bnnacc_pool *pool, struct bnnacc_buf *buf,
			       size_t len)
{
	long pinned = atomic_long_add_return(len, &pool->pinned);

	if (pinned > (long)READ_ONCE(pool->pinned_max)) {
		atomic_long_sub(len, &pool->pinned);
		return -EAGAIN;
	}
	buf->cpu = dma_alloc_coherent(pool->dev, len, &buf->dma, GFP_KERNEL);
	if (!buf->cpu) {
		atomic_long_sub(len, &pool->pinned);
		return -ENOMEM;
	}
	buf->len = len;
	return 0;
}

static void bnnacc_pinned_free(struct bnnacc_pool *pool, size_t len, void *cpu,
			       dma_addr_t dma)
{
	dma_free_coherent(pool->dev, len, cpu, dma);
	atomic_long_sub(len, &pool->pinned);
}

static void bnnacc_buf_free(struct bnnacc_pool *pool, struct bnnacc_buf *buf)
{
	if (buf->cpu)
		bnnacc_pinned_free(pool, buf->len, buf->cpu, buf->dma);
	buf->cpu = NULL;
}

/*
 * A free pooled buffer: its list entry, bus address and size class are kept
 * in the buffer itself, so that the pool needs no memory of its own.
 */
struct bnnacc_pool_ent {
	struct list_head node;
	dma_addr_t dma;
	unsigned int order;
};

/**
 * bnnacc_pool_init() - set up an empty bounce buffer pool
 * @pool: the pool
 * @dev: device its buffers are for
 */
void bnnacc_pool_init(struct bnnacc_pool *pool, struct device *dev)
{
	unsigned int i;

	spin_lock_init(&pool->lock);
	pool->dev = dev;
	pool->cap = BNNACC_POOL_CAP;
	atomic_long_set(&pool->pinned, 0);
	pool->pinned_max = (unsigned long)READ_ONCE(bnnacc_pinned_max_mb) << 20;
	for (i = 0; i < BNNACC_POOL_CLASSES; i++)
		INIT_LIST_HEAD(&pool->free[i]);
}

/* Free up to @pages pages of free buffers, the largest first. */
static unsigned long bnnacc_pool_shrink(struct bnnacc_pool *pool,
					unsigned long pages)
{
	struct bnnacc_pool_ent *ent, *tmp;
	unsigned long freed = 0;
	unsigned int i;
	LIST_HEAD(list);

	spin_lock(&pool->lock);
	for (i = BNNACC_POOL_CLASSES; i-- > 0 && freed < pages;) {
		while (freed < pages && !list_empty(&pool->free[i])) {
			list_move(pool->free[i].next, &list);
			pool->cached -= PAGE_SIZE << i;
			freed += 1UL << i;
		}
	}
	spin_unlock(&pool->lock);

	list_for_each_entry_safe(ent, tmp, &list, node)
		bnnacc_pinned_free(pool, PAGE_SIZE << ent->order, ent,
				   ent->dma);
	return freed;
}

static unsigned long bnnacc_pool_count(struct shrinker *shrinker,
				       struct shrink_control *sc)
{
	struct bnnacc_pool *pool = bnnacc_shrinker_priv(shrinker);

	return READ_ONCE(pool->cached) >> PAGE_SHIFT ?: SHRINK_EMPTY;
}

static unsigned long bnnacc_pool_scan(struct shrinker *shrinker,
				      struct shrink_control *sc)
{
	struct bnnacc_pool *pool = bnnacc_shrinker_priv(shrinker);

	return bnnacc_pool_shrink(pool, sc->nr_to_scan) ?: SHRINK_STOP;
}

/**
 * bnnacc_pool_start() - let memory pressure shrink the pool
 * @pool: the pool
 * @name: name of the card, for the shrinker
 *
 * Without a shrinker (registration failed) the pool still works; it is
 * then emptied only when the files close and at remove.
 *
 * Context: process (probe).
 */
void bnnacc_pool_start(struct bnnacc_pool *pool, const char *name)
{
	pool->shrinker = bnnacc_shrinker_new(pool, name, bnnacc_pool_count,
					     bnnacc_pool_scan);
	if (!pool->shrinker)
		dev_warn(pool->dev, "no shrinker for the buffer pool\n");
}

/**
 * bnnacc_pool_trim() - free every buffer the pool keeps
 * @pool: the pool
 *
 * Context: process, no spinlock held.
 */
void bnnacc_pool_trim(struct bnnacc_pool *pool)
{
	bnnacc_pool_shrink(pool, ULONG_MAX);
}

/**
 * bnnacc_pool_close() - empty the pool for good (card removal)
 * @pool: the pool
 *
 * Called once no command holds coherent memory any more (remove() has
 * ended or retired every one): nothing is freed for the device after it.
 *
 * Context: process, no spinlock held.
 */
void bnnacc_pool_close(struct bnnacc_pool *pool)
{
	bnnacc_shrinker_free(pool->shrinker);
	pool->shrinker = NULL;
	spin_lock(&pool->lock);
	pool->closed = true;
	spin_unlock(&pool->lock);
	bnnacc_pool_trim(pool);
	WARN_ON_ONCE(atomic_long_read(&pool->pinned));
}

/*
 * A buffer of at least @len bytes from @pool, not zeroed: a free one of
 * its size class, else a new one; -EAGAIN over the card's cap even after
 * dropping the free buffers of other sizes.
 */
static int bnnacc_pool_get(struct bnnacc_pool *pool, struct bnnacc_buf *buf,
			   size_t len)
{
	unsigned int order = get_order(len);
	struct bnnacc_pool_ent *ent = NULL;
	int ret;

	if (!len)
		return 0;
	if (order >= BNNACC_POOL_CLASSES)
		return bnnacc_pinned_alloc(pool, buf, len);
	spin_lock(&pool->lock);
	ent = list_first_entry_or_null(&pool->free[order],
				       struct bnnacc_pool_ent, node);
	if (ent) {
		list_del(&ent->node);
		pool->cached -= PAGE_SIZE << order;
	}
	spin_unlock(&pool->lock);
	if (ent) {
		buf->len = PAGE_SIZE << order;
		buf->dma = ent->dma;
		buf->cpu = ent;
		return 0;
	}
	ret = bnnacc_pinned_alloc(pool, buf, PAGE_SIZE << order);
	if (ret == -EAGAIN && READ_ONCE(pool->cached)) {
		bnnacc_pool_trim(pool);
		ret = bnnacc_pinned_alloc(pool, buf, PAGE_SIZE << order);
	}
	return ret;
}

/*
 * Make room for @len more bytes in @pool by moving free buffers of other
 * size classes than @order (the largest first) to @list (pool lock held).
 * Recently used sizes are the likely next ones: a full pool gives up the
 * buffers of sizes the jobs moved away from.
 */
static bool bnnacc_pool_evict(struct bnnacc_pool *pool, unsigned int order,
			      size_t len, struct list_head *list)
{
	unsigned int i;

	lockdep_assert_held(&pool->lock);
	for (i = BNNACC_POOL_CLASSES; i-- > 0;) {
		if (i == order)
			continue;
		while (pool->cached + len > pool->cap &&
		       !list_empty(&pool->free[i])) {
			list_move(pool->free[i].next, list);
			pool->cached -= PAGE_SIZE << i;
		}
	}
	return pool->cached + len <= pool->cap;
}

/*
 * Give a buffer back to @pool, making room by evicting other sizes if the
 * pool is full; free it if it does not fit or the pool is closed.
 */
static void bnnacc_pool_put(struct bnnacc_pool *pool, struct bnnacc_buf *buf)
{
	struct bnnacc_pool_ent *ent = buf->cpu, *tmp;
	unsigned int order;
	LIST_HEAD(list);

	if (!ent)
		return;
	buf->cpu = NULL;
	order = get_order(buf->len);
	if (buf->len == PAGE_SIZE << order && order < BNNACC_POOL_CLASSES) {
		spin_lock(&pool->lock);
		if (!pool->closed &&
		    bnnacc_pool_evict(pool, order, buf->len, &list)) {
			ent->dma = buf->dma;
			ent->order = order;
			list_add(&ent->node, &pool->free[order]);
			pool->cached += buf->len;
			ent = NULL;
		}
		spin_unlock(&pool->lock);
	}
	if (ent)
		bnnacc_pinned_free(pool, buf->len, ent, buf->dma);
	list_for_each_entry_safe(ent, tmp, &list, node)
		bnnacc_pinned_free(pool, PAGE_SIZE << ent->order, ent,
				   ent->dma);
}

/* Free a command's bounce buffers, or give them back to its pool. */
static void bnnacc_cmd_drop_bufs(struct bnnacc_cmd *cmd)
{
	if (cmd->pooled) {
		bnnacc_pool_put(cmd->pool, &cmd->src);
		bnnacc_pool_put(cmd->pool, &cmd->dst);
	} else {
		bnnacc_buf_free(cmd->pool, &cmd->src);
		bnnacc_buf_free(cmd->pool, &cmd->dst);
	}
}

/**
 * bnnacc_cmd_retire() - move a finished command off the card's memory
 * @cmd: the command; the card no longer uses it (ended or cancelled) and
 *	only its owner holds a reference
 * @keep: leading bytes of the destination to keep, 0 for none
 *
 * For remove(): the bounce buffers are released while the device is still
 * bound, and the @keep bytes an owner may still copy out move to kernel
 * memory (&bnnacc_cmd.kept).
 *
 * Context: process, no spinlock held.
 * Return: 0, or -ENOMEM when the bytes could not be kept (they are lost).
 */
int bnnacc_cmd_retire(struct bnnacc_cmd *cmd, size_t keep)
{
	int ret = 0;

	WARN_ON_ONCE(kref_read(&cmd->kref) != 1);
	if (keep && !cmd->kept && cmd->dst.cpu) {
		cmd->kept = kvmalloc(keep, GFP_KERNEL);
		if (cmd->kept)
			memcpy(cmd->kept, cmd->dst.cpu, keep);
		else
			ret = -ENOMEM;
	}
	bnnacc_cmd_drop_bufs(cmd);
	return ret;
}

/**
 * bnnacc_cmd_out() - where a finished command's output is
 * @cmd: the command
 *
 * Return: its kept copy once retired, else its destination buffer.
 */
const void *bnnacc_cmd_out(const struct bnnacc_cmd *cmd)
{
	return cmd->kept ?: cmd->dst.cpu;
}

static void bnnacc_cmd_release(struct kref *kref)
{
	struct bnnacc_cmd *cmd = container_of(kref, struct bnnacc_cmd, kref);

	bnnacc_cmd_drop_bufs(cmd);
	kvfree(cmd->kept);
	kfree(cmd);
}

/**
 * bnnacc_cmd_put() - drop a reference to a command
 * @cmd: the command, or NULL
 *
 * The last reference frees the command and its bounce buffers (pooled
 * ones go back to their pool); call it in process context, without a
 * spinlock held.
 */
void bnnacc_cmd_put(struct bnnacc_cmd *cmd)
{
	if (cmd)
		kref_put(&cmd->kref, bnnacc_cmd_release);
}

static struct bnnacc_cmd *bnnacc_cmd_new(struct bnnacc_pool *pool,
					 size_t src_len, size_t dst_len)
{
	struct bnnacc_cmd *cmd;

	if (src_len > U32_MAX || dst_len > U32_MAX)
		return NULL;
	cmd = kzalloc(sizeof(*cmd), GFP_KERNEL);
	if (!cmd)
		return NULL;
	kref_init(&cmd->kref);
	init_completion(&cmd->done);
	INIT_LIST_HEAD(&cmd->link);
	cmd->pool = pool;
	return cmd;
}

/* Descriptor lengths are what the command uses, not the buffer sizes. */
static void bnnacc_cmd_set_bufs(struct bnnacc_cmd *cmd, size_t src_len,
				size_t dst_len)
{
	cmd->sqe.src_addr = cmd->src.dma;
	cmd->sqe.src_len = src_len;
	cmd->sqe.dst_addr = cmd->dst.dma;
	cmd->sqe.dst_len = dst_len;
}

/**
 * bnnacc_cmd_alloc() - allocate a command with zeroed bounce buffers
 * @pool: pool of the card: the buffers are its own, but count against
 *	the card's cap on coherent memory
 * @src_len: bytes the card will read, 0 for none
 * @dst_len: bytes the card will write, 0 for none
 *
 * The descriptor's buffer addresses and lengths are filled in; the caller
 * sets the opcode, region and cdw.
 *
 * Return: the command, holding one reference, or ERR_PTR(-ENOMEM or
 * -EAGAIN: the card's coherent memory cap is reached).
 */
struct bnnacc_cmd *bnnacc_cmd_alloc(struct bnnacc_pool *pool, size_t src_len,
				    size_t dst_len)
{
	struct bnnacc_cmd *cmd = bnnacc_cmd_new(pool, src_len, dst_len);
	int ret;

	if (!cmd)
		return ERR_PTR(-ENOMEM);
	ret = src_len ? bnnacc_pinned_alloc(pool, &cmd->src, src_len) : 0;
	if (!ret && dst_len)
		ret = bnnacc_pinned_alloc(pool, &cmd->dst, dst_len);
	if (ret) {
		bnnacc_cmd_put(cmd);
		return ERR_PTR(ret);
	}
	bnnacc_cmd_set_bufs(cmd, src_len, dst_len);
	return cmd;
}

/**
 * bnnacc_cmd_alloc_pooled() - allocate a command with pooled bounce buffers
 * @pool: pool of the card
 * @src_len: bytes the card will read, 0 for none
 * @dst_len: bytes the card will write, 0 for none
 *
 * As bnnacc_cmd_alloc(), but the buffers come from @pool and are not
 * zeroed: they may hold an earlier job's data. The caller fills all
 * @src_len bytes of the source and copies out of the destination only
 * bytes the card reported as written. The buffers go back to @pool when
 * the command is released.
 *
 * Return: the command, holding one reference, or ERR_PTR(-ENOMEM or
 * -EAGAIN: the card's coherent memory cap is reached).
 */
struct bnnacc_cmd *bnnacc_cmd_alloc_pooled(struct bnnacc_pool *pool,
					   size_t src_len, size_t dst_len)
{
	struct bnnacc_cmd *cmd = bnnacc_cmd_new(pool, src_len, dst_len);
	int ret;

	if (!cmd)
		return ERR_PTR(-ENOMEM);
	cmd->pooled = true;
	ret = bnnacc_pool_get(pool, &cmd->src, src_len);
	if (!ret)
		ret = bnnacc_pool_get(pool, &cmd->dst, dst_len);
	if (ret) {
		bnnacc_cmd_put(cmd);
		return ERR_PTR(ret);
	}
	bnnacc_cmd_set_bufs(cmd, src_len, dst_len);
	return cmd;
}

/* Hand the commands the ring is done with to their owners, then put them. */
static void bnnacc_put_list(struct list_head *list)
{
	struct bnnacc_cmd *cmd, *tmp;

	list_for_each_entry_safe(cmd, tmp, list, link) {
		list_del_init(&cmd->link);
		if (cmd->end)
			cmd->end(cmd);
		bnnacc_cmd_put(cmd);
	}
}

/**
 * bnnacc_ring_init() - allocate a card's rings
 * @ring: ring to set up
 * @dev: the PCI device; the memory is device-managed
 * @regs: BAR0
 * @depth: entries per ring, a power of two in BNNACC_RING_MIN..MAX
 *
 * Return: 0 or -ENOMEM.
 */
int bnnacc_ring_init(struct bnnacc_ring *ring, struct device *dev,
		     void __iomem *regs, u32 depth)
{
	spin_lock_init(&ring->lock);
	ring->dev = dev;
	ring->regs = regs;
	ring->depth = depth;
	/* Coherent memory is page aligned, more than the 64 bytes required. */
	ring->sq = dmam_alloc_coherent(dev, depth * sizeof(*ring->sq),
				       &ring->sq_dma, GFP_KERNEL);
	ring->cq = dmam_alloc_coherent(dev, depth * sizeof(*ring->cq),
				       &ring->cq_dma, GFP_KERNEL);
	ring->slots = devm_kcalloc(dev, depth, sizeof(*ring->slots),
				   GFP_KERNEL);
	if (!ring->sq || !ring->cq || !ring->slots)
		return -ENOMEM;
	return 0;
}

/**
 * bnnacc_ring_enable() - program the rings and enable the card
 * @ring: the rings, with no command outstanding
 *
 * Context: process; sleeps while waiting for STATUS.READY.
 * Return: 0, or -EIO if the card refuses the rings.
 */
int bnnacc_ring_enable(struct bnnacc_ring *ring)
{
	void __iomem *regs = ring->regs;
	u32 sts;
	int ret;

	memset(ring->sq, 0, ring->depth * sizeof(*ring->sq));
	/* Phase 0 everywhere: no entry looks new until the card writes it. */
	memset(ring->cq, 0, ring->depth * sizeof(*ring->cq));
	ring->sq_tail = 0;
	ring->sq_head = 0;
	ring->cq_head = 0;
	ring->cq_phase = 1;
	ring->sq_db = 0;

	bnnacc_wr(regs, BNNACC_REG_SQ_BASE_LO, lower_32_bits(ring->sq_dma));
	bnnacc_wr(regs, BNNACC_REG_SQ_BASE_HI, upper_32_bits(ring->sq_dma));
	bnnacc_wr(regs, BNNACC_REG_SQ_SIZE, ring->depth);
	bnnacc_wr(regs, BNNACC_REG_CQ_BASE_LO, lower_32_bits(ring->cq_dma));
	bnnacc_wr(regs, BNNACC_REG_CQ_BASE_HI, upper_32_bits(ring->cq_dma));
	bnnacc_wr(regs, BNNACC_REG_CQ_SIZE, ring->depth);
	/*
	 * writel() orders the zeroed rings above before ENABLE; pairs with
	 * the card starting to fetch and post only once it is enabled.
	 */
	bnnacc_wr(regs, BNNACC_REG_CTRL, BNNACC_CTRL_ENABLE);

	ret = readl_poll_timeout(regs + BNNACC_REG_STATUS, sts,
				 sts & (BNNACC_STS_READY | BNNACC_STS_FATAL),
				 10, BNNACC_READY_TIMEOUT_US);
	if (ret || !(sts & BNNACC_STS_READY) || (sts & BNNACC_STS_FATAL)) {
		dev_err(ring->dev,
			"card refused the rings: STATUS %#x ERR_STATUS %#x ERR_INFO %#x\n",
			sts, bnnacc_rd(regs, BNNACC_REG_ERR_STATUS),
			bnnacc_rd(regs, BNNACC_REG_ERR_INFO));
		bnnacc_wr(regs, BNNACC_REG_CTRL, 0);
		return -EIO;
	}

	spin_lock_irq(&ring->lock);
	ring->enabled = true;
	ring->halted = 0;
	spin_unlock_irq(&ring->lock);
	return 0;
}

/**
 * bnnacc_ring_disable() - stop the card fetching commands
 * @ring: the rings
 *
 * The card forgets its ring state and drops what it has not completed; the
 * caller then resets it and calls bnnacc_ring_cancel().
 */
void bnnacc_ring_disable(struct bnnacc_ring *ring)
{
	spin_lock_irq(&ring->lock);
	ring->enabled = false;
	spin_unlock_irq(&ring->lock);
	bnnacc_wr(ring->regs, BNNACC_REG_CTRL, 0);
}

/**
 * bnnacc_ring_halt() - fail new submissions and release the waiters
 * @ring: the rings
 * @err: -errno for new submissions and for the commands in flight
 *
 * The commands in flight keep their tags and buffers (the card may still
 * own them) until they complete or bnnacc_ring_cancel() runs after a reset.
 * Commands with an @end callback (batch jobs) are left as they are: they
 * end when they complete or are cancelled.
 */
void bnnacc_ring_halt(struct bnnacc_ring *ring, int err)
{
	struct bnnacc_cmd *cmd;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&ring->lock, flags);
	ring->halted = err;
	for (i = 0; i < ring->depth; i++) {
		cmd = ring->slots[i];
		if (!cmd || cmd->state != BNNACC_CMD_INFLIGHT || cmd->end)
			continue;
		cmd->err = err;
		cmd->state = BNNACC_CMD_ABANDONED;
		complete(&cmd->done);
	}
	spin_unlock_irqrestore(&ring->lock, flags);
}

/**
 * bnnacc_ring_cancel() - complete every outstanding command with an error
 * @ring: the rings of a card that was reset or disabled, so that it no
 *	longer owns any command or buffer
 * @err: -errno for the commands still waited for
 *
 * Frees the tags and the abandoned commands and rewinds the ring indices.
 */
void bnnacc_ring_cancel(struct bnnacc_ring *ring, int err)
{
	struct bnnacc_cmd *cmd;
	unsigned long flags;
	LIST_HEAD(put);
	u32 i;

	spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < ring->depth; i++) {
		cmd = ring->slots[i];
		if (!cmd)
			continue;
		ring->slots[i] = NULL;
		if (cmd->state == BNNACC_CMD_INFLIGHT) {
			cmd->err = err;
			complete(&cmd->done);
		}
		cmd->state = BNNACC_CMD_DONE;
		list_add_tail(&cmd->link, &put);
	}
	ring->inflight = 0;
	ring->sq_tail = 0;
	ring->sq_head = 0;
	ring->cq_head = 0;
	ring->cq_phase = 1;
	ring->sq_db = 0;
	spin_unlock_irqrestore(&ring->lock, flags);
	bnnacc_put_list(&put);
}

static void bnnacc_sqe_write(struct bnnacc_sqe *dst,
			     const struct bnnacc_sqe *src)
{
	unsigned int i;

	dst->opcode = src->opcode;
	dst->flags = src->flags;
	dst->cid = bnnacc_le16(src->cid);
	dst->rsvd0 = 0;
	dst->region.row = bnnacc_le16(src->region.row);
	dst->region.col = bnnacc_le16(src->region.col);
	dst->region.rows = bnnacc_le16(src->region.rows);
	dst->region.cols = bnnacc_le16(src->region.cols);
	dst->src_addr = bnnacc_le64(src->src_addr);
	dst->dst_addr = bnnacc_le64(src->dst_addr);
	dst->src_len = bnnacc_le32(src->src_len);
	dst->dst_len = bnnacc_le32(src->dst_len);
	for (i = 0; i < ARRAY_SIZE(dst->cdw); i++)
		dst->cdw[i] = bnnacc_le32(src->cdw[i]);
	dst->rsvd1 = 0;
}

static u32 bnnacc_sq_space(const struct bnnacc_ring *ring)
{
	return ring->depth - 1 -
	       ((ring->sq_tail - ring->sq_head) & (ring->depth - 1));
}

static int bnnacc_ring_room(struct bnnacc_ring *ring, unsigned int n)
{
	u32 head;

	if (ring->halted)
		return ring->halted;
	if (!ring->enabled)
		return -EIO;
	if (n > ring->depth - ring->inflight)
		return -EBUSY;
	if (n <= bnnacc_sq_space(ring))
		return 0;
	/* The last completion's head may be stale: ask the card. */
	head = bnnacc_rd(ring->regs, BNNACC_REG_SQ_HEAD);
	if (head < ring->depth)
		ring->sq_head = head;
	return n <= bnnacc_sq_space(ring) ? 0 : -EBUSY;
}

/* A free tag; the caller made sure there is one. */
static u16 bnnacc_tag_get(struct bnnacc_ring *ring)
{
	u32 tag = ring->tag_hint;

	while (ring->slots[tag])
		tag = (tag + 1) & (ring->depth - 1);
	ring->tag_hint = (tag + 1) & (ring->depth - 1);
	return tag;
}

/* Announce the queued entries to the card (ring lock held). */
static void bnnacc_ring_doorbell(struct bnnacc_ring *ring)
{
	lockdep_assert_held(&ring->lock);
	if (ring->sq_db == ring->sq_tail || !ring->enabled || ring->halted)
		return;
	ring->sq_db = ring->sq_tail;
	/*
	 * writel() orders the SQE stores before the doorbell
	 * (memory-barriers.txt, "writeX()"); pairs with the card fetching
	 * entries only up to the SQ_TAIL value it has been given.
	 */
	bnnacc_wr(ring->regs, BNNACC_REG_SQ_TAIL, ring->sq_tail);
}

/**
 * bnnacc_ring_submit() - queue a batch of commands with one doorbell
 * @ring: the rings
 * @cmds: commands with their descriptors filled in, except the cid
 * @n: number of commands, at least 1
 *
 * Either the whole batch is queued or none of it. Each queued command gets
 * a tag (its cid) and a reference, both held by the ring until its
 * completion is consumed.
 *
 * Context: any; takes the ring lock.
 * Return: 0, -EBUSY if the SQ or the tags are exhausted, -EIO if the card
 * is not running, or the -errno the ring was halted with.
 */
int bnnacc_ring_submit(struct bnnacc_ring *ring, struct bnnacc_cmd **cmds,
		       unsigned int n)
{
	u32 mask = ring->depth - 1;
	struct bnnacc_cmd *cmd;
	unsigned long flags;
	unsigned int i;
	int ret;

	spin_lock_irqsave(&ring->lock, flags);
	ret = bnnacc_ring_room(ring, n);
	if (ret)
		goto out;
	for (i = 0; i < n; i++) {
		cmd = cmds[i];
		kref_get(&cmd->kref);
		cmd->state = BNNACC_CMD_INFLIGHT;
		cmd->sqe.cid = bnnacc_tag_get(ring);
		ring->slots[cmd->sqe.cid] = cmd;
		bnnacc_sqe_write(&ring->sq[ring->sq_tail], &cmd->sqe);
		ring->sq_tail = (ring->sq_tail + 1) & mask;
	}
	ring->inflight += n;
	bnnacc_ring_doorbell(ring);
out:
	spin_unlock_irqrestore(&ring->lock, flags);
	return ret;
}

/* Consume one CQ entry; a command done with goes on @put. */
static void bnnacc_cqe_handle(struct bnnacc_ring *ring,
			      const struct bnnacc_cqe *cqe, u16 status,
			      struct list_head *put)
{
	u16 sq_head = bnnacc_cpu16(cqe->sq_head);
	u16 cid = bnnacc_cpu16(cqe->cid);
	struct bnnacc_cmd *cmd = NULL;

	if (sq_head < ring->depth)
		ring->sq_head = sq_head;
	if (cid < ring->depth)
		cmd = ring->slots[cid];
	if (!cmd) {
		dev_err_ratelimited(ring->dev,
				    "completion for unknown cid %u (status %#x), ignored\n",
				    cid, status);
		return;
	}
	ring->slots[cid] = NULL;
	ring->inflight--;
	list_add_tail(&cmd->link, put);
	if (cmd->state == BNNACC_CMD_ABANDONED) {
		dev_info_ratelimited(ring->dev,
				     "late completion of abandoned cid %u\n",
				     cid);
		cmd->state = BNNACC_CMD_DONE;
		return;
	}
	cmd->sc = BNNACC_CQE_SC(status);
	cmd->err = bnnacc_sc_to_errno(cmd->sc);
	cmd->result = bnnacc_cpu32(cqe->result);
	cmd->busy_ns = bnnacc_cpu32(cqe->busy_ns);
	cmd->state = BNNACC_CMD_DONE;
	complete(&cmd->done);
}

/**
 * bnnacc_ring_drain() - consume the new completions
 * @ring: the rings
 *
 * Matches every new CQ entry to its command, wakes the waiters and frees
 * the tags, then tells the card with one CQ_HEAD write.
 *
 * Context: process (threaded interrupt or a waiter); the last reference of
 * an abandoned command may be dropped here.
 * Return: number of entries consumed.
 */
unsigned int bnnacc_ring_drain(struct bnnacc_ring *ring)
{
	const struct bnnacc_cqe *cqe;
	unsigned int n = 0;
	unsigned long flags;
	LIST_HEAD(put);
	u16 status;

	spin_lock_irqsave(&ring->lock, flags);
	while (ring->enabled) {
		cqe = &ring->cq[ring->cq_head];
		status = bnnacc_cpu16(READ_ONCE(cqe->status));
		if (BNNACC_CQE_PHASE(status) != ring->cq_phase)
			break;
		/*
		 * Read the rest of the entry (and the command's data) only
		 * after its phase tag: pairs with the card's write barrier
		 * between the data and the entry (the model's pci_dma_write()
		 * issues smp_mb() before each DMA) and between the entry's
		 * body and its status word.
		 */
		dma_rmb();
		bnnacc_cqe_handle(ring, cqe, status, &put);
		if (++ring->cq_head == ring->depth) {
			ring->cq_head = 0;
			ring->cq_phase ^= 1;
		}
		n++;
	}
	/* A card that is not READY (fatal) takes a doorbell as an error. */
	if (n && !ring->halted) {
		/*
		 * Finish reading the consumed entries before the card may
		 * reuse them; pairs with the card posting into a slot only
		 * after CQ_HEAD has moved past it.
		 */
		mb();
		bnnacc_wr(ring->regs, BNNACC_REG_CQ_HEAD, ring->cq_head);
	}
	spin_unlock_irqrestore(&ring->lock, flags);
	bnnacc_put_list(&put);
	return n;
}

static void bnnacc_ring_timed_out(struct bnnacc_ring *ring,
				  const struct bnnacc_cmd *cmd,
				  unsigned int timeout_ms)
{
	u32 sts = bnnacc_rd(ring->regs, BNNACC_REG_STATUS);

	dev_err(ring->dev,
		"cid %u (opcode %u) timed out after %u ms (STATUS %#x SQ_HEAD %u); abandoned\n",
		cmd->sqe.cid, cmd->sqe.opcode, timeout_ms, sts,
		bnnacc_rd(ring->regs, BNNACC_REG_SQ_HEAD));
	/* A fatal card whose error interrupt got lost: fail fast from now. */
	if (sts != U32_MAX && (sts & BNNACC_STS_FATAL))
		bnnacc_ring_halt(ring, -EIO);
}

/**
 * bnnacc_ring_wait() - wait for a submitted command
 * @ring: the rings it was submitted to
 * @cmd: the command
 * @timeout_ms: how long to wait
 *
 * On timeout or a fatal signal the command is abandoned: its tag and bounce
 * buffers stay with the ring until the card completes it or is reset.
 *
 * Context: process; sleeps.
 * Return: the command's status as 0 or -errno, -ETIMEDOUT or -EINTR.
 */
int bnnacc_ring_wait(struct bnnacc_ring *ring, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms)
{
	unsigned long flags;
	long left;
	int err;

	left = wait_for_completion_killable_timeout(&cmd->done,
						    msecs_to_jiffies(timeout_ms));
	if (left > 0)
		return cmd->err;

	/* A lost interrupt should not cost the command: look once more. */
	bnnacc_ring_drain(ring);

	spin_lock_irqsave(&ring->lock, flags);
	if (completion_done(&cmd->done)) {
		err = cmd->err;
	} else {
		err = left ? -EINTR : -ETIMEDOUT;
		cmd->err = err;
		cmd->state = BNNACC_CMD_ABANDONED;
	}
	spin_unlock_irqrestore(&ring->lock, flags);

	if (err == -ETIMEDOUT)
		bnnacc_ring_timed_out(ring, cmd, timeout_ms);
	return err;
}

/**
 * bnnacc_ring_exec() - submit one command and wait for it
 * @ring: the rings
 * @cmd: the command
 * @timeout_ms: how long to wait
 *
 * Context: process; sleeps.
 * Return: as bnnacc_ring_submit() and bnnacc_ring_wait().
 */
int bnnacc_ring_exec(struct bnnacc_ring *ring, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms)
{
	int ret;

	ret = bnnacc_ring_submit(ring, &cmd, 1);
	if (ret)
		return ret;
	return bnnacc_ring_wait(ring, cmd, timeout_ms);
}
