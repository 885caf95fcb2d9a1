// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - driver for the bnnacc RRAM inference card (PCI 1234:bacc): the
 * 128 x 128 HfOx 1T1R array described in docs/hardware.md.
 *
 * This file: module parameters, the character device class, probe/remove
 * and the interrupt handlers. Every card gets /dev/bnnaccN.
 */

#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/iopoll.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "bnnacc_drv.h"

#define BNNACC_RESET_TIMEOUT_US	(100 * USEC_PER_MSEC)

unsigned int bnnacc_cmd_timeout_ms = 5000;
module_param_named(timeout_ms, bnnacc_cmd_timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms,
		 "Command and default batch timeout in milliseconds (default 5000)");

unsigned int bnnacc_pinned_max_mb = 256;
module_param_named(pinned_max_mb, bnnacc_pinned_max_mb, uint, 0644);
MODULE_PARM_DESC(pinned_max_mb,
		 "Coherent DMA memory one card's commands may hold, in MiB, for cards bound later (default 256; per card: sysfs pinned_max_bytes)");

static struct class *bnnacc_class;
static dev_t bnnacc_devt;
static DEFINE_IDA(bnnacc_ida);

static const char * const bnnacc_irq_mode_name[] = {
	[BNNACC_IRQ_NONE] = "no",
	[BNNACC_IRQ_INTX] = "INTx",
	[BNNACC_IRQ_MSI] = "MSI",
	[BNNACC_IRQ_MSIX] = "MSI-X",
};

/**
 * bnnacc_set_int_mask() - mask interrupt causes
 * @bdev: the card
 * @mask: BNNACC_INT_* causes to mask; the others are enabled
 */
void bnnacc_set_int_mask(struct bnnacc_dev *bdev, u32 mask)
{
	WRITE_ONCE(bdev->int_mask, mask);
	bnnacc_wr(bdev->regs, BNNACC_REG_INT_MASK, mask);
}

/*
 * Hard interrupt: claim and acknowledge this vector's causes, leave the
 * work to the thread. With INTx the line may be shared: a read with none of
 * our causes set (or all ones: the card is gone) is not ours.
 */
static irqreturn_t bnnacc_irq(int irq, void *data)
{
	struct bnnacc_vec *vec = data;
	struct bnnacc_dev *bdev = vec->bdev;
	u32 causes;

	causes = bnnacc_rd(bdev->regs, BNNACC_REG_INT_STATUS);
	if (causes == U32_MAX)
		return IRQ_NONE;
	causes &= vec->causes & ~READ_ONCE(bdev->int_mask);
	if (!causes)
		return IRQ_NONE;
	/*
	 * Acknowledge before the thread drains the CQ: a completion posted
	 * after this write sets INT_STATUS.CQ again and interrupts again.
	 */
	bnnacc_wr(bdev->regs, BNNACC_REG_INT_STATUS, causes);
	atomic_or(causes, &vec->pending);
	return IRQ_WAKE_THREAD;
}

/* Thread context: report the error and, if the card halted, reset it. */
static void bnnacc_card_error(struct bnnacc_dev *bdev)
{
	void __iomem *regs = bdev->regs;
	u32 sts = bnnacc_rd(regs, BNNACC_REG_STATUS);
	u32 err = bnnacc_rd(regs, BNNACC_REG_ERR_STATUS);
	u32 info = bnnacc_rd(regs, BNNACC_REG_ERR_INFO);
	char reason[80];

	if (sts == U32_MAX)
		return;		/* surprise removal: remove() is coming */
	atomic64_inc(&bdev->stats.errors);
	snprintf(reason, sizeof(reason),
		 "ERR_STATUS %#x ERR_INFO %#x STATUS %#x", err, info, sts);
	dev_err_ratelimited(&bdev->pdev->dev, "card error: %s\n", reason);
	bnnacc_nl_event(bdev, BNNACC_EVENT_ERROR, reason);
	if (!(sts & BNNACC_STS_FATAL))
		return;
	/* Fail the synchronous commands now; the reset ends the rest. */
	bnnacc_ring_halt(&bdev->ring, -EIO);
	bnnacc_recover_request(bdev, reason);
}

static void bnnacc_card_event(struct bnnacc_dev *bdev)
{
	u32 evt = bnnacc_rd(bdev->regs, BNNACC_REG_EVENT_INFO);

	switch (evt) {
	case BNNACC_EVT_DRIFT:
		dev_warn_ratelimited(&bdev->pdev->dev, "drift alert\n");
		bnnacc_nl_event(bdev, BNNACC_EVENT_DRIFT,
				"conductances relaxed past the alert level");
		break;
	case BNNACC_EVT_THERMAL:
		dev_warn_ratelimited(&bdev->pdev->dev, "thermal alert\n");
		bnnacc_nl_event(bdev, BNNACC_EVENT_THERMAL,
				"array temperature out of range");
		break;
	default:
		dev_warn_ratelimited(&bdev->pdev->dev,
				     "EVENT interrupt with EVENT_INFO %#x\n",
				     evt);
		break;
	}
}

static irqreturn_t bnnacc_irq_thread(int irq, void *data)
{
	struct bnnacc_vec *vec = data;
	struct bnnacc_dev *bdev = vec->bdev;
	u32 causes = atomic_xchg(&vec->pending, 0);

	if (causes & BNNACC_INT_CQ) {
		bnnacc_ring_drain(&bdev->ring);
		/* Ring room for a waiting synchronous command or a batch. */
		bnnacc_job_kick(bdev);
	}
	if (causes & BNNACC_INT_ERROR)
		bnnacc_card_error(bdev);
	if (causes & BNNACC_INT_EVENT)
		bnnacc_card_event(bdev);
	return IRQ_HANDLED;
}

/* MSI-X with a vector per cause group, else one MSI, else INTx. */
static int bnnacc_irq_alloc(struct bnnacc_dev *bdev)
{
	struct pci_dev *pdev = bdev->pdev;
	int nvec;

	nvec = pci_alloc_irq_vectors(pdev, BNNACC_MSIX_VECTORS,
				     BNNACC_MSIX_VECTORS, PCI_IRQ_MSIX);
	if (nvec > 0) {
		bdev->irq_mode = BNNACC_IRQ_MSIX;
		bdev->vec[BNNACC_MSIX_CQ].causes = BNNACC_INT_CQ;
		bdev->vec[BNNACC_MSIX_ERROR].causes = BNNACC_INT_ERROR |
						      BNNACC_INT_EVENT;
		return nvec;
	}
	bdev->irq_mode = BNNACC_IRQ_MSI;
	nvec = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);
	if (nvec < 0) {
		bdev->irq_mode = BNNACC_IRQ_INTX;
		nvec = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX);
	}
	if (nvec < 0) {
		bdev->irq_mode = BNNACC_IRQ_NONE;
		return nvec;
	}
	bdev->vec[0].causes = BNNACC_INT_ALL;
	return nvec;
}

/**
 * bnnacc_irq_sync() - wait for the interrupt handlers in progress
 * @bdev: the card, its causes masked
 *
 * Context: process; sleeps until the threaded handlers have returned.
 */
void bnnacc_irq_sync(struct bnnacc_dev *bdev)
{
	unsigned int i;

	for (i = 0; i < bdev->nvec; i++)
		synchronize_irq(pci_irq_vector(bdev->pdev, i));
}

static void bnnacc_irq_teardown(struct bnnacc_dev *bdev)
{
	while (bdev->nvec) {
		bdev->nvec--;
		pci_free_irq(bdev->pdev, bdev->nvec, &bdev->vec[bdev->nvec]);
	}
	if (bdev->irq_mode != BNNACC_IRQ_NONE)
		pci_free_irq_vectors(bdev->pdev);
	bdev->irq_mode = BNNACC_IRQ_NONE;
}

static int bnnacc_irq_setup(struct bnnacc_dev *bdev)
{
	static const char * const msix_suffix[] = { "-cq", "-err" };
	struct device *dev = &bdev->pdev->dev;
	struct bnnacc_vec *vec;
	int nvec, i, ret;

	/* Nothing may interrupt before the handlers are in place. */
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	bnnacc_wr(bdev->regs, BNNACC_REG_INT_STATUS, BNNACC_INT_ALL);

	nvec = bnnacc_irq_alloc(bdev);
	if (nvec < 0)
		return dev_err_probe(dev, nvec, "no interrupt available\n");
	for (i = 0; i < nvec; i++) {
		vec = &bdev->vec[i];
		vec->bdev = bdev;
		atomic_set(&vec->pending, 0);
		ret = pci_request_irq(bdev->pdev, i, bnnacc_irq,
				      bnnacc_irq_thread, vec, "%s%s",
				      dev_name(&bdev->dev),
				      nvec > 1 ? msix_suffix[i] : "");
		if (ret) {
			bnnacc_irq_teardown(bdev);
			return dev_err_probe(dev, ret, "cannot request irq\n");
		}
		bdev->nvec = i + 1;
	}
	dev_info(dev, "using %s interrupts (%d vector%s)\n",
		 bnnacc_irq_mode_name[bdev->irq_mode], nvec,
		 nvec > 1 ? "s" : "");
	return 0;
}

static int bnnacc_hw_check(struct bnnacc_dev *bdev)
{
	struct device *dev = &bdev->pdev->dev;
	u32 magic, ver, geom;

	magic = bnnacc_rd(bdev->regs, BNNACC_REG_MAGIC);
	if (magic != BNNACC_MAGIC) {
		dev_err(dev, "bad MAGIC %#010x (expected %#010x): not a bnnacc card\n",
			magic, BNNACC_MAGIC);
		return -ENODEV;
	}
	ver = bnnacc_rd(bdev->regs, BNNACC_REG_VERSION);
	if (BNNACC_HW_VERSION_MAJOR(ver) !=
	    BNNACC_HW_VERSION_MAJOR(BNNACC_HW_VERSION)) {
		dev_err(dev, "hardware version %u.%u not supported (driver: %u.x)\n",
			ver >> 16, ver & 0xffff,
			BNNACC_HW_VERSION_MAJOR(BNNACC_HW_VERSION));
		return -ENODEV;
	}
	geom = bnnacc_rd(bdev->regs, BNNACC_REG_GEOMETRY);
	bdev->hw_version = ver;
	bdev->rows = BNNACC_GEOM_ROWS(geom);
	bdev->cols = BNNACC_GEOM_COLS(geom);
	bdev->qcap = bnnacc_rd(bdev->regs, BNNACC_REG_QCAP);
	bdev->features = bnnacc_rd(bdev->regs, BNNACC_REG_FEATURES);
	if (!bdev->rows || !bdev->cols ||
	    BNNACC_QCAP_DEPTH(bdev->qcap) < BNNACC_RING_MIN) {
		dev_err(dev, "unusable GEOMETRY %#x or QCAP %#x\n", geom,
			bdev->qcap);
		return -ENODEV;
	}
	return 0;
}

/**
 * bnnacc_hw_reset() - reset the card to its power-on state
 * @bdev: the card
 *
 * Rings off, every register cleared (INT_MASK included); the card drops
 * every command it has not completed.
 *
 * Context: process; sleeps up to 100 ms.
 * Return: 0, or -ETIMEDOUT if the card does not come out of reset.
 */
int bnnacc_hw_reset(struct bnnacc_dev *bdev)
{
	u32 sts;
	int ret;

	bnnacc_wr(bdev->regs, BNNACC_REG_RESET, BNNACC_RESET_KEY);
	ret = readl_poll_timeout(bdev->regs + BNNACC_REG_STATUS, sts,
				 !(sts & (BNNACC_STS_READY | BNNACC_STS_FATAL)),
				 10, BNNACC_RESET_TIMEOUT_US);
	if (ret)
		dev_err(&bdev->pdev->dev, "card did not reset (STATUS %#x)\n",
			sts);
	return ret;
}

/* Stop all DMA and interrupts: after this the card owns no command. */
static void bnnacc_hw_stop(struct bnnacc_dev *bdev)
{
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	bnnacc_ring_disable(&bdev->ring);
	bnnacc_hw_reset(bdev);
	/* The reset unmasked every cause. */
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
}

static void bnnacc_dev_release(struct device *dev)
{
	struct bnnacc_dev *bdev = container_of(dev, struct bnnacc_dev, dev);

	/* A PROGRAM racing remove() may have queued it after remove's cancel. */
	cancel_delayed_work_sync(&bdev->prog_work);
	ida_free(&bnnacc_ida, bdev->minor);
	pci_dev_put(bdev->pdev);
	kfree(bdev);
}

/*
 * The card structure is reference counted through its class device, not
 * device-managed: an open file keeps it (and only it) alive after remove().
 */
static struct bnnacc_dev *bnnacc_dev_create(struct pci_dev *pdev)
{
	struct bnnacc_dev *bdev;
	int minor, ret;

	bdev = kzalloc(sizeof(*bdev), GFP_KERNEL);
	if (!bdev)
		return ERR_PTR(-ENOMEM);
	minor = ida_alloc_max(&bnnacc_ida, BNNACC_MAX_CARDS - 1, GFP_KERNEL);
	if (minor < 0) {
		kfree(bdev);
		return ERR_PTR(minor);
	}
	bdev->minor = minor;
	bdev->pdev = pci_dev_get(pdev);
	init_rwsem(&bdev->cmd_lock);
	bnnacc_lease_init(bdev);
	bnnacc_pool_init(&bdev->pool, &pdev->dev);
	bnnacc_jobs_init(bdev);
	device_initialize(&bdev->dev);
	bdev->dev.class = bnnacc_class;
	bdev->dev.groups = bnnacc_dev_groups;
	bdev->dev.parent = &pdev->dev;
	bdev->dev.devt = MKDEV(MAJOR(bnnacc_devt), minor);
	bdev->dev.release = bnnacc_dev_release;
	cdev_init(&bdev->cdev, &bnnacc_fops);
	bdev->cdev.owner = THIS_MODULE;
	ret = dev_set_name(&bdev->dev, BNNACC_NAME "%d", minor);
	if (ret) {
		put_device(&bdev->dev);
		return ERR_PTR(ret);
	}
	return bdev;
}

static int bnnacc_pci_init(struct pci_dev *pdev, void __iomem **regs)
{
	struct device *dev = &pdev->dev;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return dev_err_probe(dev, ret, "cannot enable device\n");
	if (pci_resource_len(pdev, BNNACC_BAR_REGS) < BNNACC_REGS_SIZE) {
		dev_err(dev, "BAR%d too small\n", BNNACC_BAR_REGS);
		return -ENODEV;
	}
	*regs = bnnacc_pcim_iomap_region(pdev, BNNACC_BAR_REGS, BNNACC_NAME);
	if (IS_ERR(*regs))
		return dev_err_probe(dev, PTR_ERR(*regs), "cannot map BAR%d\n",
				     BNNACC_BAR_REGS);
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return dev_err_probe(dev, ret, "no usable DMA mask\n");
	return 0;
}

static int bnnacc_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct bnnacc_dev *bdev;
	void __iomem *regs;
	u32 depth;
	int ret;

	ret = bnnacc_pci_init(pdev, &regs);
	if (ret)
		return ret;
	bdev = bnnacc_dev_create(pdev);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	bdev->regs = regs;

	ret = bnnacc_hw_check(bdev);
	if (ret)
		goto err_put;
	ret = bnnacc_hw_reset(bdev);
	if (ret)
		goto err_put;
	depth = min_t(u32, BNNACC_QCAP_DEPTH(bdev->qcap), BNNACC_RING_DEPTH);
	ret = bnnacc_ring_init(&bdev->ring, &pdev->dev, bdev->regs,
			       rounddown_pow_of_two(depth));
	if (ret)
		goto err_put;
	ret = bnnacc_irq_setup(bdev);
	if (ret)
		goto err_put;
	ret = bnnacc_ring_enable(&bdev->ring);
	if (ret)
		goto err_stop;
	bnnacc_set_int_mask(bdev, 0);
	/* What slot_reset() restores after a link reset. */
	pci_save_state(pdev);

	pci_set_drvdata(pdev, bdev);
	ret = cdev_device_add(&bdev->cdev, &bdev->dev);
	if (ret)
		goto err_stop;
	bnnacc_pool_start(&bdev->pool, dev_name(&bdev->dev));
	dev_info(&pdev->dev, "%s: %ux%u array, hardware %u.%u, %u-entry rings\n",
		 dev_name(&bdev->dev), bdev->rows, bdev->cols,
		 bdev->hw_version >> 16, bdev->hw_version & 0xffff,
		 bdev->ring.depth);
	bnnacc_debugfs_add(bdev);
	bnnacc_nl_card_add(bdev);
	return 0;

err_stop:
	bnnacc_hw_stop(bdev);
	bnnacc_irq_teardown(bdev);
err_put:
	put_device(&bdev->dev);
	return ret;
}

static void bnnacc_remove(struct pci_dev *pdev)
{
	struct bnnacc_dev *bdev = pci_get_drvdata(pdev);

	bnnacc_nl_card_remove(bdev);
	bnnacc_debugfs_remove(bdev);
	/* No new batch, dispatch or recovery; the watchdog and reset stop. */
	bnnacc_jobs_kill(bdev);
	cdev_device_del(&bdev->cdev, &bdev->dev);
	/* Fail new commands and wake the waiters... */
	bnnacc_ring_halt(&bdev->ring, -ENODEV);
	/* ...make the card let go of every buffer... */
	bnnacc_hw_stop(bdev);
	bnnacc_irq_teardown(bdev);
	/* ...end the batches on the card and the queued ones with -ENODEV... */
	bnnacc_ring_cancel(&bdev->ring, -ENODEV);
	bnnacc_jobs_fail(bdev);
	/* ...wait for the ioctls in progress, which free their buffers... */
	down_write(&bdev->cmd_lock);
	bdev->gone = true;
	up_write(&bdev->cmd_lock);
	cancel_delayed_work_sync(&bdev->prog_work);
	/*
	 * ...move what the files may still reap to kernel memory and free
	 * every coherent buffer: none outlives the binding.
	 */
	bnnacc_jobs_retire(bdev);
	bnnacc_pool_close(&bdev->pool);
	put_device(&bdev->dev);
}

static void bnnacc_shutdown(struct pci_dev *pdev)
{
	struct bnnacc_dev *bdev = pci_get_drvdata(pdev);

	/* No DMA may survive into a kexec'd kernel. */
	bnnacc_jobs_kill(bdev);
	bnnacc_ring_halt(&bdev->ring, -ENODEV);
	bnnacc_hw_stop(bdev);
}

/* ---- PCIe errors (AER) and power ------------------------------------------ */

/*
 * An uncorrectable error: stop dispatching (batches stay queued) and ask
 * for a reset; slot_reset() restarts the card the way a timeout recovery
 * does. A permanent failure is a removal.
 */
static pci_ers_result_t bnnacc_error_detected(struct pci_dev *pdev,
					      pci_channel_state_t state)
{
	struct bnnacc_dev *bdev = pci_get_drvdata(pdev);

	dev_warn(&pdev->dev, "PCIe error (%s): stopping the card\n",
		 state == pci_channel_io_normal ? "non-fatal" :
		 state == pci_channel_io_frozen ? "fatal" : "permanent");
	atomic64_inc(&bdev->stats.errors);
	if (state == pci_channel_io_perm_failure)
		return PCI_ERS_RESULT_DISCONNECT;
	bnnacc_jobs_freeze(bdev);
	return PCI_ERS_RESULT_NEED_RESET;
}

static pci_ers_result_t bnnacc_slot_reset(struct pci_dev *pdev)
{
	struct bnnacc_dev *bdev = pci_get_drvdata(pdev);

	pci_restore_state(pdev);
	pci_save_state(pdev);
	if (bnnacc_jobs_thaw(bdev, "PCIe error recovery"))
		return PCI_ERS_RESULT_DISCONNECT;
	bnnacc_nl_event(bdev, BNNACC_EVENT_ERROR, "PCIe error, card restarted");
	return PCI_ERS_RESULT_RECOVERED;
}

static void bnnacc_error_resume(struct pci_dev *pdev)
{
	dev_info(&pdev->dev, "PCIe error recovery done\n");
}

static const struct pci_error_handlers bnnacc_err_handlers = {
	.error_detected = bnnacc_error_detected,
	.slot_reset = bnnacc_slot_reset,
	.resume = bnnacc_error_resume,
};

/*
 * System sleep: the array is non-volatile, so suspend only stops the card
 * (queued batches wait; one on the card ends with -EIO) and resume resets
 * it and brings the rings back, as after a recovery.
 */
static int bnnacc_suspend(struct device *dev)
{
	struct bnnacc_dev *bdev = dev_get_drvdata(dev);

	bnnacc_jobs_freeze(bdev);
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	bnnacc_irq_sync(bdev);
	bnnacc_ring_drain(&bdev->ring);
	return 0;
}

static int bnnacc_resume(struct device *dev)
{
	struct bnnacc_dev *bdev = dev_get_drvdata(dev);

	return bnnacc_jobs_thaw(bdev, "resume from system sleep");
}

static DEFINE_SIMPLE_DEV_PM_OPS(bnnacc_pm_ops, bnnacc_suspend, bnnacc_resume);

static const struct pci_device_id bnnacc_ids[] = {
	{ PCI_DEVICE(BNNACC_PCI_VENDOR_ID, BNNACC_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, bnnacc_ids);

static struct pci_driver bnnacc_driver = {
	.name = BNNACC_NAME,
	.id_table = bnnacc_ids,
	.probe = bnnacc_probe,
	.remove = bnnacc_remove,
	.shutdown = bnnacc_shutdown,
	.err_handler = &bnnacc_err_handlers,
	.driver.pm = pm_sleep_ptr(&bnnacc_pm_ops),
};

static int __init bnnacc_init(void)
{
	int ret;

	bnnacc_debugfs_init();
	ret = bnnacc_nl_init();
	if (ret)
		goto err_debugfs;
	ret = alloc_chrdev_region(&bnnacc_devt, 0, BNNACC_MAX_CARDS,
				  BNNACC_NAME);
	if (ret)
		goto err_nl;
	bnnacc_class = bnnacc_class_create(BNNACC_NAME);
	if (IS_ERR(bnnacc_class)) {
		ret = PTR_ERR(bnnacc_class);
		goto err_region;
	}
	ret = pci_register_driver(&bnnacc_driver);
	if (ret)
		goto err_class;
	return 0;

err_class:
	class_destroy(bnnacc_class);
err_region:
	unregister_chrdev_region(bnnacc_devt, BNNACC_MAX_CARDS);
err_nl:
	bnnacc_nl_exit();
err_debugfs:
	bnnacc_debugfs_exit();
	return ret;
}
module_init(bnnacc_init);

static void __exit bnnacc_exit(void)
{
	pci_unregister_driver(&bnnacc_driver);
	class_destroy(bnnacc_class);
	unregister_chrdev_region(bnnacc_devt, BNNACC_MAX_CARDS);
	bnnacc_nl_exit();
	bnnacc_debugfs_exit();
	ida_destroy(&bnnacc_ida);
}
module_exit(bnnacc_exit);

MODULE_DESCRIPTION("bnnacc RRAM inference card");
MODULE_LICENSE("GPL");
