// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - asynchronous MVM batches: submission, the dispatcher, completion,
 * reaping, the watchdog and recovery (card reset).
 *
 * A batch is BNNACC_IOC_SUBMIT's array of MVM jobs. Its inputs are copied
 * into one coherent bounce buffer per job at submission (the card takes one
 * contiguous buffer per descriptor and has no scatter-gather), so the
 * submitter's memory is never touched while the card works; the outputs
 * are copied out when the batch is reaped, in the submitter's process. The
 * bounce buffers come from the card's pool (struct bnnacc_pool) and go back
 * to it when the batch is freed: they are neither allocated nor zeroed per
 * job, so exactly the input bytes are copied in and only outputs the card
 * reported as fully written are copied out (exactly their bytes).
 *
 * A batch lives on exactly one list, always under bnnacc_dev.job_lock:
 *
 *   ctx->queued   submitted, waiting for the ring (state QUEUED)
 *   bdev->oncard  every job is in a ring slot (state ONCARD), in the order
 *                 the card executes them
 *   ctx->done     completed, waiting for BNNACC_IOC_WAIT or read()
 *
 * and, while its file is open and it is unreaped, on ctx->all. A file that
 * is closed frees its queued and completed batches and detaches the ones
 * on the card (ctx = NULL): those are freed when their last job ends, which
 * happens when the card completes it or a reset (or remove) cancels it. A
 * job ends exactly once, through bnnacc_job_end(), called by the ring
 * without its lock; the ring keeps its own reference to the job's command,
 * so the bounce buffers outlive any DMA the card may still do.
 *
 * The dispatcher moves whole batches from the files' queues to the ring,
 * taking files round-robin, one batch per turn and one doorbell per batch,
 * for as long as the ring has room and fewer than
 * BNNACC_ONCARD_MAX batches are on the card. The card executes in order, so
 * files share it only as fairly as the batches waiting in their queues are
 * picked: a few batches on the card keep it busy, the rest wait where the
 * round-robin applies. A synchronous command (IDENTIFY,
 * PROGRAM, READ) that finds the ring full holds the dispatcher back until
 * it is in, so jobs cannot starve it.
 *
 * The card executes in order, so only the oldest batch on the card (the
 * head of bdev->oncard) can be running: its deadline runs from when it
 * became the head. The watchdog checks the head; a head past its deadline
 * triggers the recovery worker, which halts dispatch, masks interrupts,
 * drains the CQ once, resets the card, ends every batch still on the card
 * (-ETIMEDOUT for the expired one, -EIO for the others), re-enables the
 * rings and resumes dispatching what is still queued.
 */

#include <linux/capability.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "bnnacc_drv.h"

static_assert(sizeof(struct bnnacc_job) == BNNACC_JOB_SIZE_VER0);
static_assert(sizeof(struct bnnacc_submit_args) == BNNACC_SUBMIT_SIZE_VER0);
static_assert(sizeof(struct bnnacc_wait_args) == BNNACC_WAIT_SIZE_VER0);
static_assert(sizeof(struct bnnacc_cancel_args) == BNNACC_CANCEL_SIZE_VER0);
static_assert(sizeof(struct bnnacc_reset_args) == BNNACC_RESET_SIZE_VER0);
static_assert(BNNACC_SUBMIT_MAX_JOBS <= 64);	/* bnnacc_batch.ok_mask */

#define BNNACC_WATCHDOG_PERIOD	(HZ / 10)
#define BNNACC_ONCARD_MAX	2	/* batches on the card at a time */

/**
 * enum bnnacc_batch_state - where a batch is
 * @BNNACC_BATCH_QUEUED: on its file's queue
 * @BNNACC_BATCH_ONCARD: its jobs are in ring slots
 * @BNNACC_BATCH_DONE: completed, its result final
 * @BNNACC_BATCH_RETIRING: completed, off its file's done list while
 *	remove() moves its outputs out of the card's memory
 */
enum bnnacc_batch_state {
	BNNACC_BATCH_QUEUED,
	BNNACC_BATCH_ONCARD,
	BNNACC_BATCH_DONE,
	BNNACC_BATCH_RETIRING,
};

/**
 * struct bnnacc_batch - one BNNACC_IOC_SUBMIT
 * @link: entry on ctx->queued, bdev->oncard or ctx->done
 * @cnode: entry on ctx->all while the file holds the batch
 * @ctx: the submitting file's context; NULL once detached by close
 * @bdev: the card
 * @mm: the submitter's address space (a mmgrab() reference), for reaping
 * @handle: handle returned to user space
 * @user_data: as submitted
 * @seq: dispatch sequence number, to recognise the batch in the watchdog
 * @state: enum bnnacc_batch_state
 * @expired: its deadline passed; the reset ends it with -ETIMEDOUT
 * @retired: its outputs are in kernel memory, it holds no bounce buffer
 * @abort_err: 0, or the -errno a reset or remove ends it with
 * @status: result of the batch, once done
 * @njobs: jobs
 * @bytes: input + output bytes of its jobs (counted in the file's budget)
 * @remaining: jobs not yet ended, while on the card
 * @jobs_done: leading jobs that completed successfully
 * @ok_mask: bit i set when job i completed successfully
 * @timeout: deadline, jiffies from @start
 * @start: when the batch became the oldest on the card, jiffies
 * @t_submit: submission time
 * @latency_ns: submission to completion
 * @busy_ns: time the card spent on the batch
 * @jobs: the jobs as submitted (user addresses of the outputs)
 * @cmds: one command, with its bounce buffers, per job
 *
 * Every field that changes after submission is protected by
 * &bnnacc_dev.job_lock.
 */
struct bnnacc_batch {
	struct list_head link;
	struct list_head cnode;
	struct bnnacc_ctx *ctx;
	struct bnnacc_dev *bdev;
	struct mm_struct *mm;
	u64 handle;
	u64 user_data;
	u64 seq;
	enum bnnacc_batch_state state;
	bool expired;
	bool retired;
	int abort_err;
	int status;
	u32 njobs;
	u64 bytes;
	u32 remaining;
	u32 jobs_done;
	u64 ok_mask;
	unsigned long timeout;
	unsigned long start;
	ktime_t t_submit;
	u64 latency_ns;
	u64 busy_ns;
	struct bnnacc_job *jobs;
	struct bnnacc_cmd *cmds[];
};

static void bnnacc_watchdog(struct work_struct *work);
static void bnnacc_recover_work(struct work_struct *work);
static int bnnacc_restart_card(struct bnnacc_dev *bdev);

/**
 * bnnacc_jobs_init() - initialise the job state of a new card
 * @bdev: the card
 */
void bnnacc_jobs_init(struct bnnacc_dev *bdev)
{
	spin_lock_init(&bdev->job_lock);
	INIT_LIST_HEAD(&bdev->ctxs);
	INIT_LIST_HEAD(&bdev->rr);
	INIT_LIST_HEAD(&bdev->oncard);
	init_waitqueue_head(&bdev->room_wq);
	init_waitqueue_head(&bdev->reset_wq);
	INIT_DELAYED_WORK(&bdev->watchdog, bnnacc_watchdog);
	INIT_WORK(&bdev->recover_work, bnnacc_recover_work);
}

/* Process context, no spinlock held: frees the bounce buffers. */
static void bnnacc_batch_free(struct bnnacc_batch *b)
{
	u32 i;

	for (i = 0; i < b->njobs; i++)
		bnnacc_cmd_put(b->cmds[i]);
	if (b->mm)
		mmdrop(b->mm);
	kfree(b->jobs);
	kfree(b);
}

static void bnnacc_free_list(struct list_head *list)
{
	struct bnnacc_batch *b, *tmp;

	list_for_each_entry_safe(b, tmp, list, link) {
		list_del(&b->link);
		bnnacc_batch_free(b);
	}
}

/* Count a finished batch; its @status, @ok_mask are final. */
static void bnnacc_batch_account(struct bnnacc_dev *bdev,
				 struct bnnacc_batch *b)
{
	u32 ok = hweight64(b->ok_mask);

	b->latency_ns = ktime_to_ns(ktime_sub(ktime_get(), b->t_submit));
	atomic64_add(ok, &bdev->stats.jobs_completed);
	atomic64_add(b->njobs - ok, &bdev->stats.jobs_failed);
	if (b->status == -ETIMEDOUT)
		atomic64_add(b->njobs - ok, &bdev->stats.jobs_timedout);
}

/*
 * Hand a finished batch to its file, or report that it is detached and
 * must be freed by the caller once job_lock is dropped.
 */
static bool bnnacc_batch_done(struct bnnacc_batch *b)
{
	struct bnnacc_ctx *ctx = b->ctx;

	b->state = BNNACC_BATCH_DONE;
	bnnacc_batch_account(b->bdev, b);
	if (!ctx)
		return true;
	list_add_tail(&b->link, &ctx->done);
	wake_up_interruptible_poll(&ctx->wq, EPOLLIN | EPOLLRDNORM);
	return false;
}

/* End a batch that never reached the card (cancel, remove, dead card). */
static void bnnacc_batch_abort(struct bnnacc_dev *bdev,
			       struct bnnacc_batch *b, int err)
{
	struct bnnacc_ctx *ctx = b->ctx;

	lockdep_assert_held(&bdev->job_lock);
	list_del(&b->link);
	bdev->nqueued--;
	if (list_empty(&ctx->queued))
		list_del_init(&ctx->rr);
	b->status = err;
	bnnacc_batch_done(b);
}

/* The result of a batch whose jobs have all ended. */
static void bnnacc_batch_result(struct bnnacc_batch *b)
{
	bool leading = true;
	int first_err = 0;
	u32 i;
	int err;

	for (i = 0; i < b->njobs; i++) {
		struct bnnacc_cmd *cmd = b->cmds[i];

		err = cmd->err;
		if (!err && cmd->result < cmd->sqe.dst_len)
			err = -EIO;	/* short: stale data, never copied */
		b->busy_ns += cmd->busy_ns;
		if (!err) {
			b->ok_mask |= BIT_ULL(i);
			if (leading)
				b->jobs_done++;
			continue;
		}
		leading = false;
		if (!first_err)
			first_err = err;
	}
	/* A reset or remove names the cause of the jobs it cancelled. */
	b->status = first_err && b->abort_err ? b->abort_err : first_err;
}

static void bnnacc_dispatch(struct bnnacc_dev *bdev);

/*
 * The last job of a batch on the card ended (job_lock held). The next
 * batch becomes the oldest on the card and its deadline starts now.
 */
static bool bnnacc_batch_finish(struct bnnacc_dev *bdev,
				struct bnnacc_batch *b)
{
	struct bnnacc_batch *head;

	lockdep_assert_held(&bdev->job_lock);
	head = list_first_entry(&bdev->oncard, struct bnnacc_batch, link);
	list_del(&b->link);
	bdev->noncard--;
	if (head == b && !list_empty(&bdev->oncard)) {
		head = list_first_entry(&bdev->oncard, struct bnnacc_batch,
					link);
		head->start = jiffies;
	}
	bnnacc_batch_result(b);
	bnnacc_dispatch(bdev);
	return bnnacc_batch_done(b);
}

/* Ring callback: one job ended (completed, or cancelled by a reset). */
static void bnnacc_job_end(struct bnnacc_cmd *cmd)
{
	struct bnnacc_batch *b = cmd->priv;
	struct bnnacc_dev *bdev = b->bdev;
	bool free_it = false;

	spin_lock(&bdev->job_lock);
	if (!--b->remaining)
		free_it = bnnacc_batch_finish(bdev, b);
	spin_unlock(&bdev->job_lock);
	if (free_it)
		bnnacc_batch_free(b);
}

/*
 * Move batches to the ring, round-robin across files, a whole batch per
 * doorbell, while it has room and the card has fewer than
 * BNNACC_ONCARD_MAX batches (job_lock held).
 */
static void bnnacc_dispatch(struct bnnacc_dev *bdev)
{
	struct bnnacc_batch *b;
	struct bnnacc_ctx *ctx;

	lockdep_assert_held(&bdev->job_lock);
	lockdep_assert_held(&bdev->job_lock);
	while (!bdev->dead && !bdev->recovering && !bdev->sync_waiting &&
	       bdev->noncard < BNNACC_ONCARD_MAX && !list_empty(&bdev->rr)) {
		ctx = list_first_entry(&bdev->rr, struct bnnacc_ctx, rr);
		b = list_first_entry(&ctx->queued, struct bnnacc_batch, link);
		b->state = BNNACC_BATCH_ONCARD;
		b->remaining = b->njobs;
		if (bnnacc_ring_submit(&bdev->ring, b->cmds, b->njobs)) {
			/* No room (or the card is down): completions retry. */
			b->state = BNNACC_BATCH_QUEUED;
			break;
		}
		b->start = jiffies;
		b->seq = ++bdev->seq;
		list_move_tail(&b->link, &bdev->oncard);
		bdev->nqueued--;
		bdev->noncard++;
		/* This file's turn is over: to the back of the line. */
		list_del_init(&ctx->rr);
		if (!list_empty(&ctx->queued))
			list_add_tail(&ctx->rr, &bdev->rr);
		queue_delayed_work(system_wq, &bdev->watchdog,
				   BNNACC_WATCHDOG_PERIOD);
	}
	if (bdev->sync_waiting)
		wake_up_all(&bdev->room_wq);
}

/**
 * bnnacc_job_kick() - dispatch queued batches after ring room was freed
 * @bdev: the card
 *
 * Context: process; takes job_lock.
 */
void bnnacc_job_kick(struct bnnacc_dev *bdev)
{
	spin_lock(&bdev->job_lock);
	bnnacc_dispatch(bdev);
	spin_unlock(&bdev->job_lock);
}

/**
 * bnnacc_queue_depth() - batches queued or on the card
 * @bdev: the card
 *
 * A lockless snapshot, so that it may be called under any lock.
 *
 * Return: the number of batches not yet completed.
 */
u32 bnnacc_queue_depth(struct bnnacc_dev *bdev)
{
	return READ_ONCE(bdev->nqueued) + READ_ONCE(bdev->noncard);
}

/* ---- synchronous commands ---------------------------------------------- */

static bool bnnacc_sync_try(struct bnnacc_dev *bdev, struct bnnacc_cmd *cmd,
			    bool *waiting, int *ret)
{
	bool done = true;

	spin_lock(&bdev->job_lock);
	if (bdev->dead) {
		*ret = -ENODEV;
	} else if (bdev->broken) {
		*ret = -EIO;
	} else if (bdev->recovering) {
		done = false;		/* retried once the card is back */
	} else {
		*ret = bnnacc_ring_submit(&bdev->ring, &cmd, 1);
		if (*ret == -EBUSY) {
			if (!*waiting)
				bdev->sync_waiting++;
			*waiting = true;
			done = false;
		}
	}
	if (done && *waiting) {
		*waiting = false;
		bdev->sync_waiting--;
		bnnacc_dispatch(bdev);
	}
	spin_unlock(&bdev->job_lock);
	return done;
}

/**
 * bnnacc_sync_exec() - run one synchronous command between the batches
 * @bdev: the card
 * @cmd: the command
 * @timeout_ms: how long to wait for it once on the card
 *
 * Waits for ring room (the dispatcher holds batches back meanwhile) and
 * through a recovery in progress. A command on the card during a reset
 * fails with -EIO; one that times out triggers a reset.
 *
 * Context: process, with cmd_lock held shared; sleeps.
 * Return: 0, or -errno as bnnacc_ring_wait(), -ENODEV, -EINTR.
 */
int bnnacc_sync_exec(struct bnnacc_dev *bdev, struct bnnacc_cmd *cmd,
		     unsigned int timeout_ms)
{
	bool waiting = false;
	int ret = 0;

	lockdep_assert_held_read(&bdev->cmd_lock);
	if (wait_event_killable(bdev->room_wq,
				bnnacc_sync_try(bdev, cmd, &waiting, &ret))) {
		spin_lock(&bdev->job_lock);
		if (waiting)
			bdev->sync_waiting--;
		bnnacc_dispatch(bdev);
		spin_unlock(&bdev->job_lock);
		return -EINTR;
	}
	if (ret)
		return ret;
	ret = bnnacc_ring_wait(&bdev->ring, cmd, timeout_ms);
	if (ret == -ETIMEDOUT)
		bnnacc_recover_request(bdev, "synchronous command timed out");
	return ret;
}

/* ---- recovery --------------------------------------------------------- */

static u64 bnnacc_recover_request_locked(struct bnnacc_dev *bdev,
					 const char *reason)
{
	lockdep_assert_held(&bdev->job_lock);
	if (bdev->dead)
		return 0;
	/* The first reason of the requests one reset serves is reported. */
	if (bdev->reset_req == bdev->reset_done)
		strscpy(bdev->reset_reason, reason, sizeof(bdev->reset_reason));
	bdev->reset_req++;
	queue_work(system_wq, &bdev->recover_work);
	return bdev->reset_req;
}

/**
 * bnnacc_recover_request() - have the recovery worker reset the card
 * @bdev: the card
 * @reason: why, for the log and the RESET event
 *
 * Context: process; takes job_lock.
 */
void bnnacc_recover_request(struct bnnacc_dev *bdev, const char *reason)
{
	spin_lock(&bdev->job_lock);
	bnnacc_recover_request_locked(bdev, reason);
	spin_unlock(&bdev->job_lock);
}

/* End every queued batch with @err (job_lock held). */
static void bnnacc_fail_queued(struct bnnacc_dev *bdev, int err)
{
	struct bnnacc_batch *b, *tmp;
	struct bnnacc_ctx *ctx;

	lockdep_assert_held(&bdev->job_lock);
	list_for_each_entry(ctx, &bdev->ctxs, node) {
		list_for_each_entry_safe(b, tmp, &ctx->queued, link)
			bnnacc_batch_abort(bdev, b, err);
		wake_up_interruptible_poll(&ctx->wq, EPOLLIN | EPOLLRDNORM |
					   (bdev->dead ? EPOLLERR | EPOLLHUP : 0));
	}
}

/* Reset the card with every command cancelled; 0 once it runs again. */
static int bnnacc_recover_card(struct bnnacc_dev *bdev)
{
	struct bnnacc_ring *ring = &bdev->ring;
	struct bnnacc_batch *b;

	/* Quiesce the interrupts, then collect what completed in time. */
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	bnnacc_irq_sync(bdev);
	bnnacc_ring_drain(ring);

	spin_lock(&bdev->job_lock);
	list_for_each_entry(b, &bdev->oncard, link)
		b->abort_err = b->expired ? -ETIMEDOUT : -EIO;
	spin_unlock(&bdev->job_lock);
	return bnnacc_restart_card(bdev);
}

/*
 * Reset the card and bring its rings back; the batches still on it end
 * with their abort_err (-EIO unless set). Interrupts masked on entry.
 */
static int bnnacc_restart_card(struct bnnacc_dev *bdev)
{
	struct bnnacc_ring *ring = &bdev->ring;
	int ret;

	bnnacc_ring_disable(ring);
	ret = bnnacc_hw_reset(bdev);
	/* The reset unmasked every cause. */
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	/* The card owns nothing now: end the batches still on it. */
	bnnacc_ring_cancel(ring, -EIO);
	if (!ret)
		ret = bnnacc_ring_enable(ring);
	if (ret)
		return ret;
	bnnacc_set_int_mask(bdev, 0);
	return 0;
}

/*
 * The card was reset (0) or did not come back (-errno): count it, serve
 * again (or fail what waits), answer the resets requested up to @req.
 */
static void bnnacc_restart_done(struct bnnacc_dev *bdev, int ret, u64 req,
				const char *reason)
{
	atomic64_inc(&bdev->stats.resets);
	if (ret) {
		dev_err(&bdev->pdev->dev,
			"card did not come back from reset: batches fail with -EIO\n");
		bnnacc_ring_halt(&bdev->ring, -EIO);
	}
	spin_lock(&bdev->job_lock);
	bdev->frozen = false;
	bdev->recovering = false;
	bdev->reset_done = req;
	/* A later reset (BNNACC_IOC_RESET) may bring a broken card back. */
	bdev->broken = ret != 0;
	if (ret)
		bnnacc_fail_queued(bdev, -EIO);
	bnnacc_dispatch(bdev);
	spin_unlock(&bdev->job_lock);

	bnnacc_nl_event(bdev, BNNACC_EVENT_RESET, reason);
	wake_up_all(&bdev->reset_wq);
	wake_up_all(&bdev->room_wq);
}

static void bnnacc_recover_work(struct work_struct *work)
{
	struct bnnacc_dev *bdev = container_of(work, struct bnnacc_dev,
					       recover_work);
	char reason[sizeof(bdev->reset_reason)];
	u64 req;

	spin_lock(&bdev->job_lock);
	/* A frozen card is reset by bnnacc_jobs_thaw(), which answers this. */
	if (bdev->dead || bdev->frozen || bdev->reset_done == bdev->reset_req) {
		spin_unlock(&bdev->job_lock);
		return;
	}
	bdev->recovering = true;
	req = bdev->reset_req;
	strscpy(reason, bdev->reset_reason, sizeof(reason));
	spin_unlock(&bdev->job_lock);

	dev_warn(&bdev->pdev->dev, "resetting the card: %s\n", reason);
	bnnacc_restart_done(bdev, bnnacc_recover_card(bdev), req, reason);
}

/**
 * bnnacc_jobs_freeze() - stop using the card (PCIe error, suspend)
 * @bdev: the card
 *
 * Dispatch stops (batches stay queued), the watchdog and any recovery
 * stop; submissions are still accepted. bnnacc_jobs_thaw() brings the card
 * back. Nothing touches the card's registers here.
 *
 * Context: process; waits for a recovery in progress.
 */
void bnnacc_jobs_freeze(struct bnnacc_dev *bdev)
{
	spin_lock(&bdev->job_lock);
	bdev->frozen = true;
	bdev->recovering = true;	/* halts dispatch */
	spin_unlock(&bdev->job_lock);
	cancel_delayed_work_sync(&bdev->watchdog);
	cancel_work_sync(&bdev->recover_work);
}

/**
 * bnnacc_jobs_thaw() - reset a frozen card and serve again
 * @bdev: the card, frozen, its PCI state restored
 * @reason: why, for the log and the netlink RESET event
 *
 * As a recovery: the card is reset (the array is non-volatile and keeps
 * its conductances), batches still on it end with -EIO (their jobs may
 * have been cut by the error or the power loss; they are never lost), the
 * rings come back and the queued batches are dispatched. Requested resets
 * are answered by this one.
 *
 * Context: process.
 * Return: 0, or -errno when the card did not come back (it is then broken
 * and new batches fail with -EIO until a reset succeeds).
 */
int bnnacc_jobs_thaw(struct bnnacc_dev *bdev, const char *reason)
{
	u64 req;
	int ret;

	dev_warn(&bdev->pdev->dev, "restarting the card: %s\n", reason);
	bnnacc_set_int_mask(bdev, BNNACC_INT_ALL);
	bnnacc_irq_sync(bdev);
	ret = bnnacc_restart_card(bdev);
	spin_lock(&bdev->job_lock);
	req = bdev->reset_req;
	spin_unlock(&bdev->job_lock);
	bnnacc_restart_done(bdev, ret, req, reason);
	return ret;
}

/* The oldest batch on the card, if it is past its deadline. */
static bool bnnacc_head_expired(struct bnnacc_dev *bdev, u64 *seq)
{
	struct bnnacc_batch *head;
	bool expired = false;

	spin_lock(&bdev->job_lock);
	if (bdev->dead || bdev->recovering || list_empty(&bdev->oncard))
		goto out;	/* the next dispatch re-arms the watchdog */
	head = list_first_entry(&bdev->oncard, struct bnnacc_batch, link);
	if (time_after_eq(jiffies, head->start + head->timeout)) {
		*seq = head->seq;
		expired = true;
	} else {
		queue_delayed_work(system_wq, &bdev->watchdog,
				   BNNACC_WATCHDOG_PERIOD);
	}
out:
	spin_unlock(&bdev->job_lock);
	return expired;
}

static void bnnacc_watchdog(struct work_struct *work)
{
	struct bnnacc_dev *bdev = container_of(to_delayed_work(work),
					       struct bnnacc_dev, watchdog);
	struct bnnacc_batch *head;
	char reason[sizeof(bdev->reset_reason)];
	u64 seq;

	if (!bnnacc_head_expired(bdev, &seq))
		return;
	/* A lost interrupt should not cost a reset: look once more. */
	bnnacc_ring_drain(&bdev->ring);

	spin_lock(&bdev->job_lock);
	head = list_first_entry_or_null(&bdev->oncard, struct bnnacc_batch,
					link);
	if (head && head->seq == seq && !bdev->recovering) {
		head->expired = true;
		snprintf(reason, sizeof(reason),
			 "batch %llu timed out after %u ms", head->handle,
			 jiffies_to_msecs(head->timeout));
		dev_err(&bdev->pdev->dev, "%s (STATUS %#x SQ_HEAD %u)\n",
			reason, bnnacc_rd(bdev->regs, BNNACC_REG_STATUS),
			bnnacc_rd(bdev->regs, BNNACC_REG_SQ_HEAD));
		bnnacc_recover_request_locked(bdev, reason);
	} else if (head) {
		queue_delayed_work(system_wq, &bdev->watchdog,
				   BNNACC_WATCHDOG_PERIOD);
	}
	bnnacc_dispatch(bdev);
	spin_unlock(&bdev->job_lock);
}

/**
 * bnnacc_jobs_kill() - stop submissions, dispatch and recovery for remove
 * @bdev: the card
 *
 * Batches still on the card will end with -ENODEV; waiters for ring room or
 * a reset are woken and fail with -ENODEV.
 *
 * Context: process; waits for the watchdog and a recovery in progress.
 */
void bnnacc_jobs_kill(struct bnnacc_dev *bdev)
{
	struct bnnacc_batch *b;

	spin_lock(&bdev->job_lock);
	bdev->dead = true;
	list_for_each_entry(b, &bdev->oncard, link)
		b->abort_err = -ENODEV;
	spin_unlock(&bdev->job_lock);
	cancel_delayed_work_sync(&bdev->watchdog);
	cancel_work_sync(&bdev->recover_work);
	wake_up_all(&bdev->room_wq);
	wake_up_all(&bdev->reset_wq);
}

/**
 * bnnacc_jobs_fail() - end every queued batch of a removed card
 * @bdev: the card, with bnnacc_jobs_kill() done and the ring cancelled
 *
 * Queued batches complete with -ENODEV; every file's waiters wake.
 */
void bnnacc_jobs_fail(struct bnnacc_dev *bdev)
{
	spin_lock(&bdev->job_lock);
	bnnacc_fail_queued(bdev, -ENODEV);
	spin_unlock(&bdev->job_lock);
}

/* The first completed batch of any file still holding bounce buffers. */
static struct bnnacc_batch *bnnacc_next_unretired(struct bnnacc_dev *bdev)
{
	struct bnnacc_batch *b;
	struct bnnacc_ctx *ctx;

	lockdep_assert_held(&bdev->job_lock);
	list_for_each_entry(ctx, &bdev->ctxs, node)
		list_for_each_entry(b, &ctx->done, link)
			if (!b->retired)
				return b;
	return NULL;
}

/*
 * Move the outputs a file may still reap into kernel memory and release
 * every bounce buffer; a job whose outputs cannot be kept fails with
 * -ENODEV.
 */
static void bnnacc_batch_retire(struct bnnacc_batch *b)
{
	u32 i;

	for (i = 0; i < b->njobs; i++) {
		struct bnnacc_cmd *cmd = b->cmds[i];
		bool ok = b->ok_mask & BIT_ULL(i);

		if (bnnacc_cmd_retire(cmd, ok ? cmd->sqe.dst_len : 0)) {
			b->ok_mask &= ~BIT_ULL(i);
			b->status = b->status ?: -ENODEV;
			b->jobs_done = min(b->jobs_done, i);
		}
	}
}

/**
 * bnnacc_jobs_retire() - free every bounce buffer of a removed card
 * @bdev: the card, with bnnacc_jobs_fail() done and no ioctl running
 *
 * Completed batches not yet reaped keep their outputs, copied to kernel
 * memory, so that their files still reap them after remove(); their
 * coherent buffers are released now, while the device is bound. Each batch
 * leaves its file's done list while it is retired (a reaper waits for it)
 * and returns to the same place.
 *
 * Context: process, no spinlock held.
 */
void bnnacc_jobs_retire(struct bnnacc_dev *bdev)
{
	struct bnnacc_batch *b, *pos;
	struct bnnacc_ctx *ctx;

	spin_lock(&bdev->job_lock);
	while ((b = bnnacc_next_unretired(bdev))) {
		list_del(&b->link);
		b->state = BNNACC_BATCH_RETIRING;
		spin_unlock(&bdev->job_lock);
		bnnacc_batch_retire(b);
		spin_lock(&bdev->job_lock);
		b->retired = true;
		b->state = BNNACC_BATCH_DONE;
		ctx = b->ctx;
		if (!ctx) {	/* its file closed meanwhile */
			spin_unlock(&bdev->job_lock);
			bnnacc_batch_free(b);
			spin_lock(&bdev->job_lock);
			continue;
		}
		/* Back before the first batch not yet retired: its old place. */
		list_for_each_entry(pos, &ctx->done, link)
			if (!pos->retired)
				break;
		list_add_tail(&b->link, &pos->link);
		wake_up_interruptible_poll(&ctx->wq, EPOLLIN | EPOLLRDNORM);
	}
	spin_unlock(&bdev->job_lock);
}

/* ---- per-file contexts ------------------------------------------------ */

/**
 * bnnacc_ctx_create() - the job context of a new open file
 * @bdev: the card; the context holds a reference to it
 *
 * Return: the context, or ERR_PTR(-ENOMEM).
 */
struct bnnacc_ctx *bnnacc_ctx_create(struct bnnacc_dev *bdev)
{
	struct bnnacc_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return ERR_PTR(-ENOMEM);
	ctx->bdev = bdev;
	INIT_LIST_HEAD(&ctx->rr);
	INIT_LIST_HEAD(&ctx->queued);
	INIT_LIST_HEAD(&ctx->done);
	INIT_LIST_HEAD(&ctx->all);
	init_waitqueue_head(&ctx->wq);
	ctx->next_handle = 1;
	get_device(&bdev->dev);
	spin_lock(&bdev->job_lock);
	list_add_tail(&ctx->node, &bdev->ctxs);
	spin_unlock(&bdev->job_lock);
	return ctx;
}

/**
 * bnnacc_ctx_destroy() - release the job context of a closed file
 * @ctx: the context
 *
 * Queued and completed batches are freed (the queued ones' jobs are
 * counted as failed, as if cancelled); batches on the card are detached
 * and freed when they end. The card's last file to close empties the
 * bounce buffer pool.
 *
 * Context: process.
 */
void bnnacc_ctx_destroy(struct bnnacc_ctx *ctx)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_batch *b, *tmp;
	LIST_HEAD(free);
	bool last;

	spin_lock(&bdev->job_lock);
	list_del(&ctx->node);
	last = list_empty(&bdev->ctxs);
	list_del_init(&ctx->rr);
	list_for_each_entry_safe(b, tmp, &ctx->all, cnode) {
		list_del_init(&b->cnode);
		if (b->state == BNNACC_BATCH_ONCARD ||
		    b->state == BNNACC_BATCH_RETIRING) {
			b->ctx = NULL;
			continue;
		}
		if (b->state == BNNACC_BATCH_QUEUED) {
			/* It never ran: its jobs count as failed. */
			bdev->nqueued--;
			b->status = -ECANCELED;
			bnnacc_batch_account(bdev, b);
		}
		list_move_tail(&b->link, &free);
	}
	spin_unlock(&bdev->job_lock);
	bnnacc_free_list(&free);
	if (last)
		bnnacc_pool_trim(&bdev->pool);
	put_device(&bdev->dev);
	kfree(ctx);
}

/* ---- BNNACC_IOC_SUBMIT ------------------------------------------------ */

#define BNNACC_COPY_CHUNK	SZ_64K	/* bytes between rescheduling points */

/*
 * Copy between a bounce buffer and user memory eight bytes per access. The
 * card exists only in QEMU, whose TCG emulates the kernel's
 * copy_{to,from}_user() (rep movsb on a CPU with ERMS) a byte per step, at
 * a fraction of the speed of a loop of 8-byte moves; on the hot path every
 * output byte goes through here.
 */
static int bnnacc_copy_out(void __user *to, const void *from, size_t n)
{
	size_t words = n / sizeof(u64), k, i;
	const u64 *src = from;
	u64 __user *dst = to;

	while (words) {
		k = min_t(size_t, words, BNNACC_COPY_CHUNK / sizeof(u64));
		if (!user_access_begin(dst, k * sizeof(u64)))
			return -EFAULT;
		for (i = 0; i < k; i++)
			unsafe_put_user(src[i], &dst[i], fault);
		user_access_end();
		src += k;
		dst += k;
		words -= k;
		cond_resched();
	}
	return copy_to_user(dst, src, n % sizeof(u64)) ? -EFAULT : 0;
fault:
	user_access_end();
	return -EFAULT;
}

/* The other way, as bnnacc_copy_out(). */
static int bnnacc_copy_in(void *to, const void __user *from, size_t n)
{
	size_t words = n / sizeof(u64), k, i;
	const u64 __user *src = from;
	u64 *dst = to;

	while (words) {
		k = min_t(size_t, words, BNNACC_COPY_CHUNK / sizeof(u64));
		if (!user_access_begin(src, k * sizeof(u64)))
			return -EFAULT;
		for (i = 0; i < k; i++)
			unsafe_get_user(dst[i], &src[i], fault);
		user_access_end();
		src += k;
		dst += k;
		words -= k;
		cond_resched();
	}
	return copy_from_user(dst, src, n % sizeof(u64)) ? -EFAULT : 0;
fault:
	user_access_end();
	return -EFAULT;
}

static int bnnacc_job_check(struct bnnacc_dev *bdev,
			    const struct bnnacc_job *j, u64 *in, u64 *out)
{
	if ((j->flags & ~BNNACC_JOB_SUM) || j->rsvd || !j->count ||
	    j->adc_shift > BNNACC_ADC_SHIFT_MAX ||
	    bnnacc_check_region(bdev, &j->region))
		return -EINVAL;
	if ((j->flags & BNNACC_JOB_SUM) &&
	    !(bdev->features & BNNACC_FEAT_MVM_SUM))
		return -EOPNOTSUPP;
	*in = (u64)j->count * j->region.rows * sizeof(s16);
	*out = (u64)j->count * j->region.cols * sizeof(s32);
	/* the card's bound on one MVM's evaluations, summed or not */
	if (*out * max(j->repeat, 1U) > BNNACC_MVM_MAX_CODE_BYTES)
		return -EINVAL;
	if (!(j->flags & BNNACC_JOB_SUM))
		*out *= max(j->repeat, 1U);
	if (*in > BNNACC_JOB_MAX_BYTES || *out > BNNACC_JOB_MAX_BYTES ||
	    j->in_len < *in || j->out_len < *out)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(j->out), *out))
		return -EFAULT;
	return 0;
}

/*
 * Bounce buffers (from the card's pool, not zeroed) and descriptor of job
 * @i, exactly its @in input bytes copied in.
 */
static int bnnacc_job_prepare(struct bnnacc_batch *b, u32 i, u64 in, u64 out)
{
	const struct bnnacc_job *j = &b->jobs[i];
	struct bnnacc_cmd *cmd;

	cmd = bnnacc_cmd_alloc_pooled(&b->bdev->pool, in, out);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	b->cmds[i] = cmd;
	cmd->sqe.opcode = BNNACC_OP_MVM;
	cmd->sqe.region = j->region;
	cmd->sqe.cdw[0] = j->count;
	cmd->sqe.cdw[1] = j->repeat;
	cmd->sqe.cdw[2] = j->adc_shift |
			  (j->flags & BNNACC_JOB_SUM ? BNNACC_MVM_SUM : 0);
	cmd->end = bnnacc_job_end;
	cmd->priv = b;
	if (bnnacc_copy_in(cmd->src.cpu, u64_to_user_ptr(j->in), in))
		return -EFAULT;
	return 0;
}

/*
 * A new batch of @ctx's file, its inputs copied in. Nothing is allocated
 * for a batch that would not fit the file's byte budget: -E2BIG when it
 * alone is larger, -EAGAIN when the file's unreaped batches leave too
 * little (bnnacc_batch_queue() checks again under the lock).
 */
static struct bnnacc_batch *
bnnacc_batch_create(struct bnnacc_ctx *ctx,
		    const struct bnnacc_submit_args *args)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_batch *b;
	u64 in[BNNACC_SUBMIT_MAX_JOBS], out[BNNACC_SUBMIT_MAX_JOBS];
	u32 i;
	int ret;

	b = kzalloc(struct_size(b, cmds, args->njobs), GFP_KERNEL);
	if (!b)
		return ERR_PTR(-ENOMEM);
	b->bdev = bdev;
	b->njobs = args->njobs;
	INIT_LIST_HEAD(&b->cnode);
	b->jobs = memdup_user(u64_to_user_ptr(args->jobs),
			      array_size(args->njobs, sizeof(*b->jobs)));
	if (IS_ERR(b->jobs)) {
		ret = PTR_ERR(b->jobs);
		b->jobs = NULL;
		b->njobs = 0;
		goto err;
	}
	for (i = 0; i < args->njobs; i++) {
		ret = bnnacc_job_check(bdev, &b->jobs[i], &in[i], &out[i]);
		if (ret)
			goto err;
		b->bytes += in[i] + out[i];
	}
	if (b->bytes > BNNACC_MAX_PENDING_BYTES) {
		ret = -E2BIG;
		goto err;
	}
	if (READ_ONCE(ctx->pending_bytes) + b->bytes >
	    BNNACC_MAX_PENDING_BYTES) {
		ret = -EAGAIN;
		goto err;
	}
	for (i = 0; i < args->njobs; i++) {
		ret = bnnacc_job_prepare(b, i, in[i], out[i]);
		if (ret)
			goto err;
	}
	b->user_data = args->user_data;
	b->timeout = msecs_to_jiffies(args->timeout_ms ?:
				      max(READ_ONCE(bnnacc_cmd_timeout_ms), 1U));
	b->mm = current->mm;
	mmgrab(b->mm);
	return b;

err:
	bnnacc_batch_free(b);
	return ERR_PTR(ret);
}

/* Queue a new batch on its file; returns its handle or -errno. */
static s64 bnnacc_batch_queue(struct bnnacc_ctx *ctx, struct bnnacc_batch *b)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	s64 ret;

	spin_lock(&bdev->job_lock);
	if (bdev->dead) {
		ret = -ENODEV;
	} else if (bdev->broken) {
		ret = -EIO;
	} else if (ctx->pending >= BNNACC_MAX_PENDING ||
		   ctx->pending_bytes + b->bytes > BNNACC_MAX_PENDING_BYTES) {
		ret = -EAGAIN;
	} else {
		b->ctx = ctx;
		b->handle = ctx->next_handle++;
		b->state = BNNACC_BATCH_QUEUED;
		b->t_submit = ktime_get();
		ret = b->handle;
		list_add_tail(&b->cnode, &ctx->all);
		list_add_tail(&b->link, &ctx->queued);
		ctx->pending++;
		ctx->pending_bytes += b->bytes;
		bdev->nqueued++;
		atomic64_add(b->njobs, &bdev->stats.jobs_submitted);
		if (list_empty(&ctx->rr))
			list_add_tail(&ctx->rr, &bdev->rr);
		bnnacc_dispatch(bdev);
	}
	spin_unlock(&bdev->job_lock);
	return ret;
}

/**
 * bnnacc_ioc_submit() - BNNACC_IOC_SUBMIT
 * @ctx: the file's context
 * @uargs: user's &struct bnnacc_submit_args
 *
 * Return: 0 with the handle written back, or -errno.
 */
long bnnacc_ioc_submit(struct bnnacc_ctx *ctx,
		       struct bnnacc_submit_args __user *uargs)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_submit_args args;
	struct bnnacc_batch *b;
	s64 handle;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_SUBMIT_SIZE_VER0 || args.flags ||
	    args.rsvd0 || args.rsvd[0] || args.rsvd[1] ||
	    args.job_size != BNNACC_JOB_SIZE_VER0 || !args.njobs ||
	    args.njobs > BNNACC_SUBMIT_MAX_JOBS ||
	    args.njobs >= bdev->ring.depth)
		return -EINVAL;
	if (READ_ONCE(ctx->pending) >= BNNACC_MAX_PENDING)
		return -EAGAIN;
	/*
	 * The handle is written back once the batch is queued: a caller
	 * that cannot receive it gets -EFAULT now, with nothing queued.
	 */
	if (put_user(0ULL, &uargs->handle))
		return -EFAULT;
	/*
	 * Shared, as a synchronous command: remove() waits for the bounce
	 * buffers allocated here to be queued (and so retired) or freed.
	 */
	if (down_read_killable(&bdev->cmd_lock))
		return -EINTR;
	if (bdev->gone) {
		handle = -ENODEV;
		goto out;
	}
	b = bnnacc_batch_create(ctx, &args);
	if (IS_ERR(b)) {
		handle = PTR_ERR(b);
		goto out;
	}
	handle = bnnacc_batch_queue(ctx, b);
	if (handle < 0)
		bnnacc_batch_free(b);
out:
	up_read(&bdev->cmd_lock);
	if (handle < 0)
		return handle;
	if (put_user((u64)handle, &uargs->handle))
		return -EFAULT;
	return 0;
}

/* ---- reaping: BNNACC_IOC_WAIT and read() ------------------------------ */

static struct bnnacc_batch *bnnacc_ctx_find(struct bnnacc_ctx *ctx,
					    u64 handle)
{
	struct bnnacc_batch *b;

	list_for_each_entry(b, &ctx->all, cnode)
		if (b->handle == handle)
			return b;
	return NULL;
}

/*
 * Take a completed batch off the file: @handle, or any with 0. -EAGAIN
 * while it (or, with 0, every batch) is still running.
 */
static int bnnacc_take(struct bnnacc_ctx *ctx, u64 handle,
		       struct bnnacc_batch **bp)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_batch *b;
	int ret = 0;

	spin_lock(&bdev->job_lock);
	if (handle) {
		b = bnnacc_ctx_find(ctx, handle);
		if (b && b->state != BNNACC_BATCH_DONE)
			ret = -EAGAIN;
	} else {
		b = list_first_entry_or_null(&ctx->done, struct bnnacc_batch,
					     link);
		if (!b && ctx->pending)
			ret = -EAGAIN;
	}
	if (!b && !ret)
		ret = bdev->dead && !ctx->pending ? -ENODEV : -ENOENT;
	if (!ret) {
		list_del(&b->link);
		list_del_init(&b->cnode);
		ctx->pending--;
		ctx->pending_bytes -= b->bytes;
		*bp = b;
	}
	spin_unlock(&bdev->job_lock);
	return ret;
}

/*
 * Copy a reaped batch's outputs to its submitter, fill @c, free it. Only
 * the jobs in @ok_mask, whose completions reported all of their dst_len
 * bytes written, are copied, and exactly those bytes: a pooled buffer's
 * other bytes are stale.
 */
static void bnnacc_reap(struct bnnacc_batch *b, struct bnnacc_completion *c)
{
	int status = b->status;
	u32 i;

	for (i = 0; i < b->njobs; i++) {
		struct bnnacc_cmd *cmd = b->cmds[i];

		if (!(b->ok_mask & BIT_ULL(i)))
			continue;
		if (current->mm != b->mm ||
		    bnnacc_copy_out(u64_to_user_ptr(b->jobs[i].out),
				    bnnacc_cmd_out(cmd), cmd->sqe.dst_len)) {
			status = status ?: -EFAULT;
			break;
		}
	}
	memset(c, 0, sizeof(*c));
	c->handle = b->handle;
	c->user_data = b->user_data;
	c->status = status;
	c->jobs_done = b->jobs_done;
	c->busy_ns = b->busy_ns;
	c->latency_ns = b->latency_ns;
	bnnacc_batch_free(b);
}

/* Wait condition: a take that is no longer -EAGAIN, its result in @ret. */
static bool bnnacc_take_over(struct bnnacc_ctx *ctx, u64 handle,
			     struct bnnacc_batch **bp, int *ret)
{
	*ret = bnnacc_take(ctx, handle, bp);
	return *ret != -EAGAIN;
}

static int bnnacc_wait_take(struct bnnacc_ctx *ctx, u64 handle, s64 timeout_ns,
			    struct bnnacc_batch **bp)
{
	unsigned long tmo;
	long left;
	int ret;

	if (bnnacc_take_over(ctx, handle, bp, &ret))
		return ret;
	if (!timeout_ns)
		return -ETIMEDOUT;
	if (timeout_ns < 0) {
		if (wait_event_interruptible(ctx->wq,
					     bnnacc_take_over(ctx, handle, bp,
							      &ret)))
			return -EINTR;
		return ret;
	}
	tmo = min_t(u64, nsecs_to_jiffies(timeout_ns) + 1,
		    MAX_SCHEDULE_TIMEOUT - 1);
	left = wait_event_interruptible_timeout(ctx->wq,
						bnnacc_take_over(ctx, handle,
								 bp, &ret),
						tmo);
	if (left < 0)
		return -EINTR;
	return left ? ret : -ETIMEDOUT;
}

/**
 * bnnacc_ioc_wait() - BNNACC_IOC_WAIT
 * @ctx: the file's context
 * @uargs: user's &struct bnnacc_wait_args
 *
 * Return: 0 with the completion written back, or -errno.
 */
long bnnacc_ioc_wait(struct bnnacc_ctx *ctx,
		     struct bnnacc_wait_args __user *uargs)
{
	struct bnnacc_completion comp;
	struct bnnacc_wait_args args;
	struct bnnacc_batch *b;
	int ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_WAIT_SIZE_VER0 || args.flags || args.rsvd)
		return -EINVAL;
	/* A completion that cannot be written back must not be reaped. */
	if (clear_user(&uargs->comp, sizeof(uargs->comp)))
		return -EFAULT;
	ret = bnnacc_wait_take(ctx, args.handle, args.timeout_ns, &b);
	if (ret)
		return ret;
	bnnacc_reap(b, &comp);
	if (copy_to_user(&uargs->comp, &comp, sizeof(comp)))
		return -EFAULT;
	return 0;
}

static bool bnnacc_ctx_readable(struct bnnacc_ctx *ctx)
{
	bool ret;

	spin_lock(&ctx->bdev->job_lock);
	ret = !list_empty(&ctx->done) || ctx->bdev->dead;
	spin_unlock(&ctx->bdev->job_lock);
	return ret;
}

/**
 * bnnacc_ctx_read() - read(): completions of the file's batches
 * @ctx: the file's context
 * @buf: user buffer
 * @count: its size; at least one &struct bnnacc_completion
 * @nonblock: O_NONBLOCK
 *
 * Reaps as many completed batches as fit (and as the file has unreaped);
 * blocks for the first unless @nonblock. The records are checked to be
 * writable first, so that a bad @buf costs no completion.
 *
 * Return: bytes read, or -errno.
 */
ssize_t bnnacc_ctx_read(struct bnnacc_ctx *ctx, char __user *buf,
			size_t count, bool nonblock)
{
	struct bnnacc_completion comp;
	struct bnnacc_batch *b;
	size_t n = 0;
	int ret;

	if (count < sizeof(comp))
		return -EINVAL;
	/*
	 * Reap no more batches than there are records known to be writable:
	 * a completion that cannot be copied out would be lost.
	 */
	count = min_t(size_t, count / sizeof(comp),
		      max(READ_ONCE(ctx->pending), 1U)) * sizeof(comp);
	if (clear_user(buf, count))
		return -EFAULT;
	while (n + sizeof(comp) <= count) {
		ret = bnnacc_take(ctx, 0, &b);
		if (ret == -EAGAIN || ret == -ENOENT) {
			if (n)
				break;
			if (nonblock)
				return -EAGAIN;
			if (wait_event_interruptible(ctx->wq,
						     bnnacc_ctx_readable(ctx)))
				return -ERESTARTSYS;
			continue;
		}
		if (ret)
			return n ? n : ret;
		bnnacc_reap(b, &comp);
		if (copy_to_user(buf + n, &comp, sizeof(comp)))
			return n ? n : -EFAULT;
		n += sizeof(comp);
	}
	return n;
}

/**
 * bnnacc_ctx_poll() - poll(): readable while a completed batch is unreaped
 * @ctx: the file's context
 * @file: the file
 * @wait: poll table
 *
 * Return: EPOLLIN | EPOLLRDNORM with a completed batch, EPOLLERR | EPOLLHUP
 * once the card is gone.
 */
__poll_t bnnacc_ctx_poll(struct bnnacc_ctx *ctx, struct file *file,
			 poll_table *wait)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	__poll_t mask = 0;

	poll_wait(file, &ctx->wq, wait);
	spin_lock(&bdev->job_lock);
	if (!list_empty(&ctx->done))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (bdev->dead)
		mask |= EPOLLERR | EPOLLHUP;
	spin_unlock(&bdev->job_lock);
	return mask;
}

/* ---- BNNACC_IOC_CANCEL and BNNACC_IOC_RESET --------------------------- */

/**
 * bnnacc_ioc_cancel() - BNNACC_IOC_CANCEL
 * @ctx: the file's context
 * @uargs: user's &struct bnnacc_cancel_args
 *
 * Return: 0 (the batch completes with -ECANCELED), -EBUSY when it is on
 * the card, -EALREADY when it has completed, -ENOENT, or -EINVAL/-EFAULT.
 */
long bnnacc_ioc_cancel(struct bnnacc_ctx *ctx,
		       struct bnnacc_cancel_args __user *uargs)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_cancel_args args;
	struct bnnacc_batch *b;
	long ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_CANCEL_SIZE_VER0 || args.flags || args.rsvd)
		return -EINVAL;
	spin_lock(&bdev->job_lock);
	b = args.handle ? bnnacc_ctx_find(ctx, args.handle) : NULL;
	if (!b) {
		ret = -ENOENT;
	} else if (b->state == BNNACC_BATCH_ONCARD) {
		ret = -EBUSY;
	} else if (b->state != BNNACC_BATCH_QUEUED) {
		ret = -EALREADY;
	} else {
		bnnacc_batch_abort(bdev, b, -ECANCELED);
		ret = 0;
	}
	spin_unlock(&bdev->job_lock);
	return ret;
}

static bool bnnacc_reset_over(struct bnnacc_dev *bdev, u64 req)
{
	bool ret;

	spin_lock(&bdev->job_lock);
	ret = bdev->dead || bdev->reset_done >= req;
	spin_unlock(&bdev->job_lock);
	return ret;
}

/**
 * bnnacc_ioc_reset() - BNNACC_IOC_RESET: reset the card and wait for it
 * @ctx: the file's context
 * @uargs: user's &struct bnnacc_reset_args
 *
 * Return: 0 once the card was reset, -EPERM without CAP_SYS_ADMIN, -EIO if
 * it did not come back, -ENODEV, -EINTR, or -EINVAL/-EFAULT.
 */
long bnnacc_ioc_reset(struct bnnacc_ctx *ctx,
		      struct bnnacc_reset_args __user *uargs)
{
	struct bnnacc_dev *bdev = ctx->bdev;
	struct bnnacc_reset_args args;
	u64 req;
	long ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.size != BNNACC_RESET_SIZE_VER0 || args.flags || args.rsvd)
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	spin_lock(&bdev->job_lock);
	req = bnnacc_recover_request_locked(bdev, "reset requested by ioctl");
	spin_unlock(&bdev->job_lock);
	if (!req)
		return -ENODEV;
	if (wait_event_killable(bdev->reset_wq, bnnacc_reset_over(bdev, req)))
		return -EINTR;
	spin_lock(&bdev->job_lock);
	ret = bdev->dead ? -ENODEV : bdev->broken ? -EIO : 0;
	spin_unlock(&bdev->job_lock);
	return ret;
}
