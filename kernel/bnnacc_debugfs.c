// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - debugfs: /sys/kernel/debug/bnnacc/bnnaccN/
 *
 *   ring  the ring state and which tags are taken, read under the ring lock
 *   regs  a dump of the BAR0 registers 0x000..0x090 while the card is there
 *
 * Nothing here can fail probe: a missing directory only means no files.
 * debugfs_remove() waits for the readers in progress, and the core removes
 * a card's directory before it unmaps the registers and frees the ring.
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>

#include "bnnacc_drv.h"
#include "bnnacc_obs.h"

static struct dentry *bnnacc_debugfs_root;

/* Print the run [first, last] of taken tags. */
static void bnnacc_debugfs_run(struct seq_file *m, u32 first, u32 last)
{
	if (first == last)
		seq_printf(m, " %u", first);
	else
		seq_printf(m, " %u-%u", first, last);
}

/* Taken tags as runs, and how many of them were abandoned. */
static void bnnacc_debugfs_tags(struct seq_file *m, struct bnnacc_ring *ring)
{
	u32 i, first = 0, taken = 0, abandoned = 0;
	bool in_run = false;
	struct bnnacc_cmd *cmd;

	seq_puts(m, "tags:");
	for (i = 0; i < ring->depth; i++) {
		cmd = ring->slots[i];
		if (cmd) {
			taken++;
			if (cmd->state == BNNACC_CMD_ABANDONED)
				abandoned++;
			if (!in_run)
				first = i;
			in_run = true;
		} else if (in_run) {
			bnnacc_debugfs_run(m, first, i - 1);
			in_run = false;
		}
	}
	if (in_run)
		bnnacc_debugfs_run(m, first, ring->depth - 1);
	seq_printf(m, "%s\nslots_taken: %u\nslots_abandoned: %u\n",
		   taken ? "" : " none", taken, abandoned);
}

static int bnnacc_ring_show(struct seq_file *m, void *unused)
{
	struct bnnacc_dev *bdev = m->private;
	struct bnnacc_ring *ring = &bdev->ring;
	unsigned long flags;

	spin_lock_irqsave(&ring->lock, flags);
	seq_printf(m, "depth: %u\nenabled: %d\nhalted: %d\n",
		   ring->depth, ring->enabled, ring->halted);
	seq_printf(m, "sq_head: %u\nsq_tail: %u\ncq_head: %u\ncq_phase: %u\n",
		   ring->sq_head, ring->sq_tail, ring->cq_head, ring->cq_phase);
	seq_printf(m, "inflight: %u\n", ring->inflight);
	if (ring->slots)
		bnnacc_debugfs_tags(m, ring);
	spin_unlock_irqrestore(&ring->lock, flags);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bnnacc_ring);

/*
 * Registers that are safe to read: not write-only, no hole, and without a
 * side effect other than latching (EVENT_INFO clears on read: left out).
 */
static bool bnnacc_debugfs_readable(u32 reg)
{
	switch (reg) {
	case BNNACC_REG_RESET:
	case BNNACC_REG_SQ_TAIL:
	case BNNACC_REG_CQ_HEAD:
	case BNNACC_REG_EVENT_INFO:
		return false;
	case BNNACC_REG_MAGIC ... BNNACC_REG_STATUS:
	case BNNACC_REG_INT_STATUS ... BNNACC_REG_SQ_SIZE:
	case BNNACC_REG_CQ_BASE_LO ... BNNACC_REG_CQ_SIZE:
	case BNNACC_REG_SQ_HEAD:
	case BNNACC_REG_CLOCK_LO ... BNNACC_REG_SERIAL_HI:
		return true;
	default:
		return false;
	}
}

static int bnnacc_regs_show(struct seq_file *m, void *unused)
{
	struct bnnacc_dev *bdev = m->private;
	u64 busy = 0;
	u32 reg;

	if (READ_ONCE(bdev->gone))
		return -ENODEV;
	for (reg = BNNACC_REG_MAGIC; reg <= BNNACC_REG_EVENT_INFO; reg += 4) {
		/* The latched pair is read under the lock it shares. */
		if (reg == BNNACC_REG_BUSY_LO) {
			busy = bnnacc_obs_busy_ns(bdev);
			seq_printf(m, "0x%03x: 0x%08x\n", reg, lower_32_bits(busy));
		} else if (reg == BNNACC_REG_BUSY_HI) {
			seq_printf(m, "0x%03x: 0x%08x\n", reg, upper_32_bits(busy));
		} else if (bnnacc_debugfs_readable(reg)) {
			seq_printf(m, "0x%03x: 0x%08x\n", reg,
				   bnnacc_rd(bdev->regs, reg));
		} else if (reg == BNNACC_REG_EVENT_INFO) {
			seq_printf(m, "0x%03x: (clears on read: not read)\n",
				   reg);
		}
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bnnacc_regs);

void bnnacc_debugfs_add(struct bnnacc_dev *bdev)
{
	struct dentry *dir;

	if (IS_ERR_OR_NULL(bnnacc_debugfs_root))
		return;
	dir = debugfs_create_dir(dev_name(&bdev->dev), bnnacc_debugfs_root);
	debugfs_create_file("ring", 0400, dir, bdev, &bnnacc_ring_fops);
	debugfs_create_file("regs", 0400, dir, bdev, &bnnacc_regs_fops);
}

void bnnacc_debugfs_remove(struct bnnacc_dev *bdev)
{
	if (IS_ERR_OR_NULL(bnnacc_debugfs_root))
		return;
	debugfs_lookup_and_remove(dev_name(&bdev->dev), bnnacc_debugfs_root);
}

void bnnacc_debugfs_init(void)
{
	bnnacc_debugfs_root = debugfs_create_dir(BNNACC_NAME, NULL);
}

void bnnacc_debugfs_exit(void)
{
	debugfs_remove(bnnacc_debugfs_root);
	bnnacc_debugfs_root = NULL;
}
