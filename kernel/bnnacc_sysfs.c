// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - attributes of /sys/class/bnnacc/bnnaccN/
 * (docs/ABI/sysfs-class-bnnacc): read-only but for pinned_max_bytes.
 *
 * The files go away with the class device at the start of remove, and the
 * device core waits for the readers in progress; a reader still checks the
 * card's @gone flag before it touches a register.
 */

#include <linux/device.h>
#include <linux/kstrtox.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>

#include "bnnacc_drv.h"
#include "bnnacc_obs.h"

/* Serialises the latched _LO/_HI register pairs read by this driver part. */
static DEFINE_SPINLOCK(bnnacc_obs_reg_lock);

u64 bnnacc_obs_serial(struct bnnacc_dev *bdev)
{
	u64 lo, hi;

	lo = bnnacc_rd(bdev->regs, BNNACC_REG_SERIAL_LO);
	hi = bnnacc_rd(bdev->regs, BNNACC_REG_SERIAL_HI);
	return hi << 32 | lo;
}

u64 bnnacc_obs_busy_ns(struct bnnacc_dev *bdev)
{
	unsigned long flags;
	u64 lo, hi;

	spin_lock_irqsave(&bnnacc_obs_reg_lock, flags);
	lo = bnnacc_rd(bdev->regs, BNNACC_REG_BUSY_LO);	/* latches */
	hi = bnnacc_rd(bdev->regs, BNNACC_REG_BUSY_HI);
	spin_unlock_irqrestore(&bnnacc_obs_reg_lock, flags);
	return hi << 32 | lo;
}

static struct bnnacc_dev *bnnacc_sysfs_bdev(struct device *dev)
{
	return container_of(dev, struct bnnacc_dev, dev);
}

static ssize_t rows_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", bnnacc_sysfs_bdev(dev)->rows);
}
static DEVICE_ATTR_RO(rows);

static ssize_t cols_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", bnnacc_sysfs_bdev(dev)->cols);
}
static DEVICE_ATTR_RO(cols);

static ssize_t hw_version_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	u32 ver = bnnacc_sysfs_bdev(dev)->hw_version;

	return sysfs_emit(buf, "%u.%u\n", ver >> 16, ver & 0xffff);
}
static DEVICE_ATTR_RO(hw_version);

static ssize_t serial_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct bnnacc_dev *bdev = bnnacc_sysfs_bdev(dev);

	if (READ_ONCE(bdev->gone))
		return -ENODEV;
	return sysfs_emit(buf, "%016llx\n", bnnacc_obs_serial(bdev));
}
static DEVICE_ATTR_RO(serial);

static ssize_t busy_ns_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct bnnacc_dev *bdev = bnnacc_sysfs_bdev(dev);

	if (READ_ONCE(bdev->gone))
		return -ENODEV;
	return sysfs_emit(buf, "%llu\n", bnnacc_obs_busy_ns(bdev));
}
static DEVICE_ATTR_RO(busy_ns);

static ssize_t queue_depth_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  bnnacc_queue_depth(bnnacc_sysfs_bdev(dev)));
}
static DEVICE_ATTR_RO(queue_depth);

static ssize_t irq_mode_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	static const char * const name[] = {
		[BNNACC_IRQ_NONE] = "none",
		[BNNACC_IRQ_INTX] = "intx",
		[BNNACC_IRQ_MSI] = "msi",
		[BNNACC_IRQ_MSIX] = "msix",
	};
	enum bnnacc_irq_mode mode = READ_ONCE(bnnacc_sysfs_bdev(dev)->irq_mode);

	if (mode >= ARRAY_SIZE(name) || !name[mode])
		return sysfs_emit(buf, "unknown\n");
	return sysfs_emit(buf, "%s\n", name[mode]);
}
static DEVICE_ATTR_RO(irq_mode);

static ssize_t ring_depth_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", bnnacc_sysfs_bdev(dev)->ring.depth);
}
static DEVICE_ATTR_RO(ring_depth);

static ssize_t generation_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", (long long)
			  atomic64_read(&bnnacc_sysfs_bdev(dev)->generation));
}
static DEVICE_ATTR_RO(generation);

static ssize_t lease_pid_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n",
			  bnnacc_lease_pid(bnnacc_sysfs_bdev(dev)));
}
static DEVICE_ATTR_RO(lease_pid);

static ssize_t pinned_bytes_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n",
			  atomic_long_read(&bnnacc_sysfs_bdev(dev)->pool.pinned));
}
static DEVICE_ATTR_RO(pinned_bytes);

static ssize_t pinned_max_bytes_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n",
			  READ_ONCE(bnnacc_sysfs_bdev(dev)->pool.pinned_max));
}

/* A new cap applies to later allocations; what is pinned stays. */
static ssize_t pinned_max_bytes_store(struct device *dev,
				      struct device_attribute *attr,
				      const char *buf, size_t count)
{
	unsigned long v;
	int ret;

	ret = kstrtoul(buf, 0, &v);
	if (ret)
		return ret;
	if (v < PAGE_SIZE || v > LONG_MAX)
		return -EINVAL;
	WRITE_ONCE(bnnacc_sysfs_bdev(dev)->pool.pinned_max, v);
	return count;
}
static DEVICE_ATTR_RW(pinned_max_bytes);

/* The software counters of struct bnnacc_stats, one file each. */
static ssize_t bnnacc_sysfs_stat(char *buf, atomic64_t *v)
{
	return sysfs_emit(buf, "%llu\n", (u64)atomic64_read(v));
}

static struct bnnacc_stats *bnnacc_sysfs_stats(struct device *dev)
{
	return &bnnacc_sysfs_bdev(dev)->stats;
}

static ssize_t jobs_submitted_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->jobs_submitted);
}
static DEVICE_ATTR_RO(jobs_submitted);

static ssize_t jobs_completed_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->jobs_completed);
}
static DEVICE_ATTR_RO(jobs_completed);

static ssize_t jobs_failed_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->jobs_failed);
}
static DEVICE_ATTR_RO(jobs_failed);

static ssize_t jobs_timedout_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->jobs_timedout);
}
static DEVICE_ATTR_RO(jobs_timedout);

static ssize_t resets_show(struct device *dev,
			   struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->resets);
}
static DEVICE_ATTR_RO(resets);

static ssize_t errors_show(struct device *dev,
			   struct device_attribute *attr, char *buf)
{
	return bnnacc_sysfs_stat(buf, &bnnacc_sysfs_stats(dev)->errors);
}
static DEVICE_ATTR_RO(errors);

static struct attribute *bnnacc_dev_attrs[] = {
	&dev_attr_rows.attr,
	&dev_attr_cols.attr,
	&dev_attr_hw_version.attr,
	&dev_attr_serial.attr,
	&dev_attr_jobs_submitted.attr,
	&dev_attr_jobs_completed.attr,
	&dev_attr_jobs_failed.attr,
	&dev_attr_jobs_timedout.attr,
	&dev_attr_resets.attr,
	&dev_attr_errors.attr,
	&dev_attr_busy_ns.attr,
	&dev_attr_queue_depth.attr,
	&dev_attr_irq_mode.attr,
	&dev_attr_ring_depth.attr,
	&dev_attr_generation.attr,
	&dev_attr_lease_pid.attr,
	&dev_attr_pinned_bytes.attr,
	&dev_attr_pinned_max_bytes.attr,
	NULL
};

static const struct attribute_group bnnacc_dev_group = {
	.attrs = bnnacc_dev_attrs,
};

const struct attribute_group *bnnacc_dev_groups[] = {
	&bnnacc_dev_group,
	NULL
};
