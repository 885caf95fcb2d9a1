/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bnnacc - observability: counters, sysfs attributes, generic netlink and
 * debugfs.
 *
 * bnnacc_netlink.c  generic netlink family "bnnacc" (uapi/bnnacc.h, part 3)
 * bnnacc_sysfs.c    attributes of /sys/class/bnnacc/bnnaccN/
 * bnnacc_debugfs.c  /sys/kernel/debug/bnnacc/bnnaccN/{ring,regs}
 *
 * The driver core calls the hooks below; it owns struct bnnacc_dev and
 * increments the counters of struct bnnacc_stats.
 */
#ifndef _BNNACC_OBS_H
#define _BNNACC_OBS_H

#include <linux/atomic.h>
#include <linux/sysfs.h>
#include <linux/types.h>

#include <bnnacc.h>	/* enum bnnacc_event */

struct bnnacc_dev;

/**
 * struct bnnacc_stats - software counters of a card
 * @jobs_submitted: jobs accepted by BNNACC_IOC_SUBMIT
 * @jobs_completed: jobs that completed successfully
 * @jobs_failed: jobs that completed with an error
 * @jobs_timedout: jobs whose batch passed its deadline
 * @resets: card resets (timeout, error or ioctl)
 * @errors: error interrupts the card raised
 *
 * Embedded in struct bnnacc_dev as @stats; the core increments the counters,
 * sysfs and netlink read them.
 */
struct bnnacc_stats {
	atomic64_t jobs_submitted, jobs_completed, jobs_failed, jobs_timedout,
		resets, errors;
};

/* Attribute groups of the class device; set as bdev->dev.groups. */
extern const struct attribute_group *bnnacc_dev_groups[];

/**
 * bnnacc_nl_init() - register the generic netlink family (module init)
 *
 * Return: 0 or -errno.
 */
int bnnacc_nl_init(void);

/**
 * bnnacc_nl_exit() - unregister the generic netlink family
 *
 * Called at module exit.
 */
void bnnacc_nl_exit(void);

/**
 * bnnacc_nl_card_add() - list a card and announce it
 * @bdev: the card, its node already created
 *
 * Called at the end of probe; sends BNNACC_EVENT_CARD_ADDED.
 */
void bnnacc_nl_card_add(struct bnnacc_dev *bdev);

/**
 * bnnacc_nl_card_remove() - unlist a card and announce it
 * @bdev: the card
 *
 * Called at the start of remove; sends BNNACC_EVENT_CARD_REMOVED.
 */
void bnnacc_nl_card_remove(struct bnnacc_dev *bdev);

/**
 * bnnacc_nl_event() - multicast an event on the "events" group
 * @bdev: the card
 * @ev: what happened
 * @reason: human-readable cause, or NULL
 *
 * Process context only (allocates with GFP_KERNEL).
 */
void bnnacc_nl_event(struct bnnacc_dev *bdev, enum bnnacc_event ev,
		     const char *reason);

/**
 * bnnacc_debugfs_init() - create /sys/kernel/debug/bnnacc
 *
 * Called at module init; failures are ignored.
 */
void bnnacc_debugfs_init(void);

/**
 * bnnacc_debugfs_exit() - remove /sys/kernel/debug/bnnacc
 *
 * Called at module exit.
 */
void bnnacc_debugfs_exit(void);

/**
 * bnnacc_debugfs_add() - create the debugfs directory of a card
 * @bdev: the card
 *
 * Failures are ignored: debugfs never fails probe.
 */
void bnnacc_debugfs_add(struct bnnacc_dev *bdev);

/**
 * bnnacc_debugfs_remove() - remove the debugfs directory of a card
 * @bdev: the card
 */
void bnnacc_debugfs_remove(struct bnnacc_dev *bdev);

/**
 * bnnacc_queue_depth() - batches queued or on the card
 * @bdev: the card
 *
 * Implemented by the driver core in bnnacc_job.c.
 *
 * Return: the number of batches not yet completed.
 */
u32 bnnacc_queue_depth(struct bnnacc_dev *bdev);

/* Internal to the observability files (bnnacc_sysfs.c). */

/**
 * bnnacc_obs_serial() - the card's serial number (SERIAL_LO/HI)
 * @bdev: the card, present (its registers mapped)
 *
 * Return: the serial number.
 */
u64 bnnacc_obs_serial(struct bnnacc_dev *bdev);

/**
 * bnnacc_obs_busy_ns() - the card's busy-time counter (BUSY_LO then BUSY_HI)
 * @bdev: the card, present (its registers mapped)
 *
 * Reading BUSY_LO latches the counter; a lock keeps the pair of reads of
 * sysfs, netlink and debugfs from interleaving.
 *
 * Return: the time the card spent executing commands, ns.
 */
u64 bnnacc_obs_busy_ns(struct bnnacc_dev *bdev);

#endif /* _BNNACC_OBS_H */
