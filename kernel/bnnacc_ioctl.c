// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - file operations of /dev/bnnaccN and the ioctls of uapi/bnnacc.h.
 *
 * Every ioctl copies its argument structure, checks it completely (size,
 * flags, reserved fields, region, lengths) and only then touches the card:
 * data moves through a coherent bounce buffer sized to the request, one
 * synchronous command at a time per caller; several callers share the
 * ring. The asynchronous job ioctls, read()
 * and poll() are in bnnacc_job.c; each open file has its own job context.
 */

#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/uaccess.h>

#include "bnnacc_drv.h"

static_assert(sizeof(struct bnnacc_identify) == 256);
static_assert(sizeof(struct bnnacc_identify_args) ==
	      BNNACC_IDENTIFY_SIZE_VER1);
static_assert(offsetof(struct bnnacc_identify_args, generation) ==
	      BNNACC_IDENTIFY_SIZE_VER0);
static_assert(sizeof(struct bnnacc_lease_args) == BNNACC_LEASE_SIZE_VER0);
static_assert(sizeof(struct bnnacc_program_args) ==
	      BNNACC_PROGRAM_SIZE_VER0);
static_assert(sizeof(struct bnnacc_read_args) == BNNACC_READ_SIZE_VER0);

/**
 * struct bnnacc_xfer - one command of an ioctl
 * @opcode: BNNACC_OP_*
 * @region: cells it acts on
 * @cdw0: command word 0
 * @src: user data the card reads, @src_len bytes
 * @src_len: bytes; 0 for none
 * @dst: user buffer receiving what the card writes, @dst_len bytes
 * @dst_len: bytes; 0 for none
 */
struct bnnacc_xfer {
	u8 opcode;
	struct bnnacc_region region;
	u32 cdw0;
	const void __user *src;
	size_t src_len;
	void __user *dst;
	size_t dst_len;
};

/**
 * bnnacc_check_region() - check that a region is inside the array
 * @bdev: the card
 * @r: the region
 *
 * Return: 0, or -EINVAL for an empty region or one that leaves the array.
 */
int bnnacc_check_region(const struct bnnacc_dev *bdev,
			const struct bnnacc_region *r)
{
	if (!r->rows || !r->cols)
		return -EINVAL;
	if ((u32)r->row + r->rows > bdev->rows ||
	    (u32)r->col + r->cols > bdev->cols)
		return -EINVAL;
	return 0;
}

/* Allocate the bounce buffers, run the command, copy the answer out. */
static int bnnacc_xfer_run(struct bnnacc_dev *bdev,
			   const struct bnnacc_xfer *x)
{
	struct bnnacc_cmd *cmd;
	int ret;

	cmd = bnnacc_cmd_alloc(&bdev->pool, x->src_len, x->dst_len);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	cmd->sqe.opcode = x->opcode;
	cmd->sqe.region = x->region;
	cmd->sqe.cdw[0] = x->cdw0;
	ret = -EFAULT;
	if (x->src_len && copy_from_user(cmd->src.cpu, x->src, x->src_len))
		goto out;
	ret = bnnacc_sync_exec(bdev, cmd,
			       max(READ_ONCE(bnnacc_cmd_timeout_ms), 1U));
	if (ret)
		goto out;
	if (cmd->result < x->dst_len) {
		dev_err_ratelimited(&bdev->pdev->dev,
				    "opcode %u wrote %u of %zu bytes\n",
				    x->opcode, cmd->result, x->dst_len);
		ret = -EIO;
		goto out;
	}
	if (x->dst_len && copy_to_user(x->dst, cmd->dst.cpu, x->dst_len))
		ret = -EFAULT;
out:
	bnnacc_cmd_put(cmd);
	return ret;
}

static int bnnacc_xfer(struct bnnacc_dev *bdev, const struct bnnacc_xfer *x)
{
	int ret;

	if (down_read_killable(&bdev->cmd_lock))
		return -EINTR;
	ret = bdev->gone ? -ENODEV : bnnacc_xfer_run(bdev, x);
	up_read(&bdev->cmd_lock);
	return ret;
}

static long bnnacc_ioc_identify(struct bnnacc_dev *bdev,
				struct bnnacc_identify_args __user *uargs)
{
	struct bnnacc_xfer x = { .opcode = BNNACC_OP_IDENTIFY };
	struct bnnacc_identify_args args = { 0 };
	u32 size;
	int ret;

	/* The VER0 part first: an unreadable argument is -EFAULT. */
	if (copy_from_user(&args, uargs, BNNACC_IDENTIFY_SIZE_VER0))
		return -EFAULT;
	size = args.size;
	if (size != BNNACC_IDENTIFY_SIZE_VER0 &&
	    size != BNNACC_IDENTIFY_SIZE_VER1)
		return -EINVAL;
	if (size > BNNACC_IDENTIFY_SIZE_VER0 &&
	    copy_from_user((u8 *)&args + BNNACC_IDENTIFY_SIZE_VER0,
			   (const u8 __user *)uargs + BNNACC_IDENTIFY_SIZE_VER0,
			   size - BNNACC_IDENTIFY_SIZE_VER0))
		return -EFAULT;
	if (args.flags || args.rsvd || args.rsvd1)
		return -EINVAL;
	x.dst = &uargs->id;
	x.dst_len = sizeof(uargs->id);
	ret = bnnacc_xfer(bdev, &x);
	if (ret)
		return ret;
	if (put_user(BNNACC_ABI_VERSION, &uargs->drv_version))
		return -EFAULT;
	if (size < BNNACC_IDENTIFY_SIZE_VER1)
		return 0;
	if (put_user((u64)atomic64_read(&bdev->generation),
		     &uargs->generation) ||
	    put_user((u32)bnnacc_lease_pid(bdev), &uargs->lease_pid))
		return -EFAULT;
	return 0;
}

/* ---- the array's lease ------------------------------------------------- */

static void bnnacc_prog_work(struct work_struct *work)
{
	struct bnnacc_dev *bdev = container_of(to_delayed_work(work),
					       struct bnnacc_dev, prog_work);

	bnnacc_nl_event(bdev, BNNACC_EVENT_PROGRAMMED, "array programmed");
}

/**
 * bnnacc_lease_init() - a new card: no lease, generation 0
 * @bdev: the card
 */
void bnnacc_lease_init(struct bnnacc_dev *bdev)
{
	spin_lock_init(&bdev->lease_lock);
	atomic64_set(&bdev->generation, 0);
	INIT_DELAYED_WORK(&bdev->prog_work, bnnacc_prog_work);
}

/**
 * bnnacc_lease_pid() - who holds the lease
 * @bdev: the card
 *
 * Return: the thread group that took it, 0 when nobody holds it.
 */
pid_t bnnacc_lease_pid(struct bnnacc_dev *bdev)
{
	pid_t pid;

	spin_lock(&bdev->lease_lock);
	pid = bdev->lease ? bdev->lease_pid : 0;
	spin_unlock(&bdev->lease_lock);
	return pid;
}

/*
 * Give @ctx the lease: 0, or -EBUSY while another file holds it and
 * @brk is false. Returns the old holder's pid in @was when it was broken.
 */
static int bnnacc_lease_take(struct bnnacc_ctx *ctx, bool brk, pid_t *was)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	int ret = 0;

	*was = 0;
	spin_lock(&bdev->lease_lock);
	if (bdev->lease && bdev->lease != ctx && !brk) {
		ret = -EBUSY;
	} else if (bdev->lease != ctx) {
		if (bdev->lease)
			*was = bdev->lease_pid;
		bdev->lease = ctx;
		bdev->lease_pid = task_tgid_nr(current);
	}
	spin_unlock(&bdev->lease_lock);
	return ret;
}

/* Drop @ctx's lease, if it holds it: true when it did. */
static bool bnnacc_lease_drop(struct bnnacc_ctx *ctx)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	bool held;

	spin_lock(&bdev->lease_lock);
	held = bdev->lease == ctx;
	if (held) {
		bdev->lease = NULL;
		bdev->lease_pid = 0;
	}
	spin_unlock(&bdev->lease_lock);
	return held;
}

static long bnnacc_ioc_lease(struct file *file, unsigned int cmd,
			     struct bnnacc_lease_args __user *uargs)
{
	struct bnnacc_ctx *ctx = file->private_data;
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_lease_args args;
	pid_t was;
	int ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_LEASE_SIZE_VER0 || args.rsvd0 || args.rsvd ||
	    args.generation)
		return -EINVAL;
	if (cmd == BNNACC_IOC_LEASE_RELEASE) {
		if (args.flags)
			return -EINVAL;
		if (!bnnacc_lease_drop(ctx))
			return -EINVAL;
	} else {
		if (args.flags & ~BNNACC_LEASE_BREAK)
			return -EINVAL;
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		if ((args.flags & BNNACC_LEASE_BREAK) &&
		    !capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (READ_ONCE(bdev->gone))
			return -ENODEV;
		ret = bnnacc_lease_take(ctx, args.flags & BNNACC_LEASE_BREAK,
					&was);
		if (ret)
			return ret;
		if (was)
			dev_info(&bdev->pdev->dev,
				 "%s: lease of process %d broken by process %d\n",
				 dev_name(&bdev->dev), was,
				 task_tgid_nr(current));
	}
	if (put_user((u64)atomic64_read(&bdev->generation),
		     &uargs->generation))
		return -EFAULT;
	return 0;
}

static long bnnacc_ioc_program(struct file *file,
			       struct bnnacc_program_args __user *uargs)
{
	struct bnnacc_ctx *ctx = file->private_data;
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_xfer x = { .opcode = BNNACC_OP_PROGRAM };
	struct bnnacc_program_args args;
	size_t need;
	pid_t was;
	long ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_PROGRAM_SIZE_VER0 || args.flags ||
	    args.rsvd[0] || args.rsvd[1] || args.rsvd[2])
		return -EINVAL;
	if (bnnacc_check_region(bdev, &args.region))
		return -EINVAL;
	need = (size_t)args.region.rows * args.region.cols * sizeof(u32);
	if (need > BNNACC_IO_MAX_BYTES || args.words_len < need ||
	    args.words_len > BNNACC_IO_MAX_BYTES)
		return -EINVAL;
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	/* The holder's, or implicitly this file's if nobody holds it. */
	ret = bnnacc_lease_take(ctx, false, &was);
	if (ret)
		return ret;
	x.region = args.region;
	x.src = u64_to_user_ptr(args.words);
	x.src_len = need;
	ret = bnnacc_xfer(bdev, &x);
	/* Cells may have changed unless it failed before the card. */
	if (!ret || ret == -EIO || ret == -ETIMEDOUT) {
		atomic64_inc(&bdev->generation);
		mod_delayed_work(system_wq, &bdev->prog_work, HZ / 10);
	}
	return ret;
}

static long bnnacc_ioc_read(struct bnnacc_dev *bdev,
			    struct bnnacc_read_args __user *uargs)
{
	struct bnnacc_xfer x = { .opcode = BNNACC_OP_READ };
	struct bnnacc_read_args args;
	u64 need;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_READ_SIZE_VER0 || args.flags ||
	    args.rsvd[0] || args.rsvd[1])
		return -EINVAL;
	if (bnnacc_check_region(bdev, &args.region))
		return -EINVAL;
	need = (u64)max(args.reads, 1U) * args.region.rows *
	       args.region.cols * sizeof(u32);
	if (need > BNNACC_IO_MAX_BYTES || args.buf_len < need ||
	    args.buf_len > BNNACC_IO_MAX_BYTES)
		return -EINVAL;
	x.dst = u64_to_user_ptr(args.buf);
	if (!access_ok(x.dst, need))
		return -EFAULT;
	x.region = args.region;
	x.cdw0 = args.reads;
	x.dst_len = need;
	return bnnacc_xfer(bdev, &x);
}

static long bnnacc_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct bnnacc_ctx *ctx = file->private_data;
	struct bnnacc_dev *bdev = ctx->bdev;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case BNNACC_IOC_IDENTIFY:
		return bnnacc_ioc_identify(bdev, uarg);
	case BNNACC_IOC_PROGRAM:
		return bnnacc_ioc_program(file, uarg);
	case BNNACC_IOC_READ:
		return bnnacc_ioc_read(bdev, uarg);
	case BNNACC_IOC_SUBMIT:
		return bnnacc_ioc_submit(ctx, uarg);
	case BNNACC_IOC_WAIT:
		return bnnacc_ioc_wait(ctx, uarg);
	case BNNACC_IOC_CANCEL:
		return bnnacc_ioc_cancel(ctx, uarg);
	case BNNACC_IOC_RESET:
		return bnnacc_ioc_reset(ctx, uarg);
	case BNNACC_IOC_LEASE_ACQUIRE:
	case BNNACC_IOC_LEASE_RELEASE:
		return bnnacc_ioc_lease(file, cmd, uarg);
	default:
		return -ENOTTY;
	}
}

static ssize_t bnnacc_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	return bnnacc_ctx_read(file->private_data, buf, count,
			       file->f_flags & O_NONBLOCK);
}

static __poll_t bnnacc_poll(struct file *file, poll_table *wait)
{
	return bnnacc_ctx_poll(file->private_data, file, wait);
}

/* Every open file gets its own job context; it holds the card structure. */
static int bnnacc_open(struct inode *inode, struct file *file)
{
	struct bnnacc_dev *bdev = container_of(inode->i_cdev,
					       struct bnnacc_dev, cdev);
	struct bnnacc_ctx *ctx;

	ctx = bnnacc_ctx_create(bdev);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	file->private_data = ctx;
	return nonseekable_open(inode, file);
}

static int bnnacc_release(struct inode *inode, struct file *file)
{
	bnnacc_lease_drop(file->private_data);
	bnnacc_ctx_destroy(file->private_data);
	return 0;
}

const struct file_operations bnnacc_fops = {
	.owner = THIS_MODULE,
	.open = bnnacc_open,
	.release = bnnacc_release,
	.read = bnnacc_read,
	.poll = bnnacc_poll,
	.unlocked_ioctl = bnnacc_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = BNNACC_NO_LLSEEK,
};
