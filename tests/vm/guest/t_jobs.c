// SPDX-License-Identifier: MIT
/*
 * t_jobs - the asynchronous job ABI of /dev/bnnacc0 (uapi section 3):
 *
 *  - SUBMIT queues a batch and returns a unique non-zero handle; WAIT on the
 *    handle (or on 0, any batch) gives its completion: status 0, jobs_done,
 *    user_data echoed, busy_ns; the outputs land in the jobs' out buffers at
 *    reap time, in job order, and nothing is written past out_len;
 *  - WAIT with timeout_ns 0 only checks (-ETIMEDOUT while running), -ENOENT
 *    for a handle that is no unreaped batch of this file;
 *  - poll() reports POLLIN when a completion is ready; read() returns whole
 *    struct bnnacc_completion records and reaps them; O_NONBLOCK read with
 *    nothing complete gives -EAGAIN;
 *  - CANCEL: 0 (then -ECANCELED) before the card, -EBUSY on it, -EALREADY
 *    when complete, -ENOENT when unknown;
 *  - BNNACC_MAX_PENDING unreaped batches: the next SUBMIT gets -EAGAIN;
 *  - the file's byte budget (BNNACC_MAX_PENDING_BYTES of unreaped inputs and
 *    outputs): a batch alone larger gets -E2BIG, one that does not fit
 *    beside the unreaped ones -EAGAIN until they are reaped;
 *  - bad arguments of SUBMIT (and of each job), WAIT, CANCEL and RESET:
 *    -EINVAL / -EFAULT, with nothing queued;
 *  - a batch whose output buffer is read-only completes with -EFAULT (or is
 *    refused at SUBMIT with -EFAULT).
 *
 * usage: t_jobs [quick] [DEV]   (quick: submit/wait/read/poll only)
 */
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

/* The programmed region: 16 rows x 32 columns SET at 50 uA (~100 uS). */
#define RROWS	16
#define RCOLS	32
#define SHIFT	3		/* full scale 320 uA: a full input gives ~127 */
#define SENTINEL 0x7eadbeef
#define GUARD	16		/* words after out_len that must stay SENTINEL */

static int fd = -1;
static unsigned int nchecks;
static long page;
static char *none_page, *ro_page;

static int program_region(void)
{
	CHECK(gj_program_set(fd, (struct bnnacc_region){ 0, 0, RROWS, RCOLS },
			     50000) == 0);
	return 0;
}

/* A job on the programmed region with its own buffers. */
struct tjob {
	struct bnnacc_job j;
	int16_t *in;
	int32_t *out;
	size_t out_words;	/* without the guard */
	int full;		/* input full scale (else zero) */
};

static int tjob_init_r(struct tjob *t, struct bnnacc_region r,
		       unsigned int count, unsigned int repeat, int full)
{
	size_t nin = (size_t)count * r.rows;
	unsigned int rep = repeat ? repeat : 1;

	memset(t, 0, sizeof(*t));
	t->out_words = (size_t)rep * count * r.cols;
	t->in = malloc(nin * 2);
	t->out = malloc((t->out_words + GUARD) * 4);
	CHECK(t->in && t->out);
	for (size_t i = 0; i < nin; i++)
		t->in[i] = full ? BNNACC_INPUT_FS : 0;
	for (size_t i = 0; i < t->out_words + GUARD; i++)
		t->out[i] = SENTINEL;
	/* the mean is only known on the programmed region */
	t->full = full && r.row == 0 && r.col == 0 && r.rows == RROWS &&
		  r.cols == RCOLS ? 1 : full ? 2 : 0;
	t->j = gj_job(r, t->in, nin * 2, t->out, t->out_words * 4, count,
		      repeat, SHIFT);
	return 0;
}

static int tjob_init(struct tjob *t, unsigned int count, unsigned int repeat,
		     int full)
{
	return tjob_init_r(t, (struct bnnacc_region){ 0, 0, RROWS, RCOLS },
			   count, repeat, full);
}

static void tjob_free(struct tjob *t)
{
	free(t->in);
	free(t->out);
	t->in = NULL;
	t->out = NULL;
}

static int tjob_untouched(const struct tjob *t)
{
	for (size_t i = 0; i < t->out_words + GUARD; i++)
		CHECK_MSG(t->out[i] == SENTINEL,
			  "out[%zu] written before the batch was reaped", i);
	return 0;
}

/* The outputs of a reaped job: plausible ADC codes, guard intact. */
static int tjob_check(const struct tjob *t)
{
	double sum = 0;

	for (size_t i = 0; i < t->out_words; i++) {
		int32_t c = t->out[i];

		CHECK_MSG(c != SENTINEL, "out[%zu] of %zu not written", i,
			  t->out_words);
		CHECK_MSG(c >= -255 && c <= 255, "out[%zu] = %d", i, c);
		if (!t->full)
			CHECK_MSG(c >= -2 && c <= 2,
				  "zero input gave code %d at %zu", c, i);
		sum += c;
	}
	for (size_t i = 0; i < GUARD; i++)
		CHECK_MSG(t->out[t->out_words + i] == SENTINEL,
			  "written past out_len at +%zu", i);
	if (t->full == 1) {
		double mean = sum / t->out_words;

		CHECK_MSG(mean > 80 && mean < 180,
			  "full input: mean code %.1f, want ~127", mean);
	}
	return 0;
}

static int submit(struct tjob *t, unsigned int n, unsigned int timeout_ms,
		  uint64_t user_data, uint64_t *handle)
{
	struct bnnacc_job jobs[BNNACC_SUBMIT_MAX_JOBS];
	uint64_t h = 0;

	for (unsigned int i = 0; i < n; i++)
		jobs[i] = t[i].j;
	CHECK(gj_submit(fd, jobs, n, timeout_ms, user_data, &h) == 0);
	CHECK_MSG(h != 0, "handle 0");
	*handle = h;
	nchecks++;
	return 0;
}

/* WAIT on this program's file, counted; returns 0 or -errno. */
static int wait_h(uint64_t handle, int64_t timeout_ns,
		  struct bnnacc_completion *c)
{
	nchecks++;
	return gj_wait(fd, handle, timeout_ns, c);
}

/* CANCEL, counted; returns 0 or -errno. */
static int cancel_h(uint64_t handle)
{
	nchecks++;
	return gj_cancel(fd, handle);
}

static int comp_ok(const struct bnnacc_completion *c, uint64_t handle,
		   uint64_t user_data, unsigned int njobs)
{
	CHECK_MSG(c->handle == handle, "handle %llu, want %llu",
		  (unsigned long long)c->handle, (unsigned long long)handle);
	CHECK_MSG(c->user_data == user_data, "user_data %#llx, want %#llx",
		  (unsigned long long)c->user_data,
		  (unsigned long long)user_data);
	CHECK_MSG(c->status == 0, "status %d (%s)", c->status,
		  strerror(-c->status));
	CHECK_MSG(c->jobs_done == njobs, "jobs_done %u of %u", c->jobs_done,
		  njobs);
	CHECK_MSG(c->busy_ns > 0, "busy_ns 0");
	CHECK_MSG(c->latency_ns > 0, "latency_ns 0");
	CHECK_MSG(c->rsvd == 0, "rsvd %#llx", (unsigned long long)c->rsvd);
	return 0;
}

/* Is the driver's job engine there at all? */
static int probe(void)
{
	struct bnnacc_submit_args a = { .size = 0 };

	if (ioctl(fd, BNNACC_IOC_SUBMIT, &a) == -1 && errno == ENOTTY) {
		fprintf(stderr, "FAIL t_jobs: BNNACC_IOC_SUBMIT is -ENOTTY: "
			"the driver has no job engine\n");
		return -1;
	}
	return 0;
}

static char sysdir[256];

/* A sysfs attribute of the card; -1 when it does not exist. */
static long long sysfs_val(const char *attr)
{
	return gj_sysfs_val(sysdir, attr);
}

/* One batch, WAIT on its handle: status, echo, outputs in job order. */
static int basic(void)
{
	struct tjob t[3];
	struct bnnacc_completion c;
	uint64_t h;

	long long done0 = sysfs_val("jobs_completed"), busy0 = sysfs_val("busy_ns");

	CHECK(!tjob_init(&t[0], 1, 1, 1) && !tjob_init(&t[1], 4, 1, 0) &&
	      !tjob_init(&t[2], 2, 3, 1));
	CHECK(!submit(t, 3, 0, 0x1234567890abcdefull, &h));
	CHECK(!wait_h(h, 10000000000ll, &c));
	CHECK(!comp_ok(&c, h, 0x1234567890abcdefull, 3));
	if (done0 >= 0) {
		long long done1 = sysfs_val("jobs_completed");
		long long busy1 = sysfs_val("busy_ns");

		printf("basic: sysfs jobs_completed %lld -> %lld, busy_ns %lld -> %lld, queue_depth %lld\n",
		       done0, done1, busy0, busy1, sysfs_val("queue_depth"));
		CHECK_MSG(done1 == done0 + 3, "jobs_completed grew by %lld, want 3",
			  done1 - done0);
		CHECK_MSG(busy1 - busy0 >= (long long)c.busy_ns,
			  "sysfs busy_ns grew by %lld, the batch's busy_ns is %llu",
			  busy1 - busy0, (unsigned long long)c.busy_ns);
		CHECK(sysfs_val("queue_depth") == 0);
	}
	for (int i = 0; i < 3; i++) {
		CHECK(!tjob_check(&t[i]));
		tjob_free(&t[i]);
	}
	/* reaped: gone */
	CHECK(wait_h(h, 0, NULL) == -ENOENT);
	CHECK(cancel_h(h) == -ENOENT);
	printf("basic: batch of 3 ok, busy %llu ns, latency %llu ns\n",
	       (unsigned long long)c.busy_ns,
	       (unsigned long long)c.latency_ns);
	return 0;
}

/*
 * BNNACC_JOB_SUM: the card adds up the repeats' codes and posts one sum per
 * vector and column, so an output of count * cols words is enough (and one
 * without the flag is refused); on the programmed region at full input the
 * sum of 16 reads is 16 times one read's code on average.
 */
static int sum_repeats(void)
{
	struct tjob one, sum;
	struct bnnacc_completion c;
	double m1 = 0, m16 = 0;
	uint64_t h;
	size_t i;

	CHECK(!tjob_init(&one, 4, 1, 1) && !tjob_init(&sum, 4, 1, 1));
	sum.j.repeat = 16;
	sum.j.flags = BNNACC_JOB_SUM;	/* out_len holds one repeat: enough */
	CHECK(!submit(&one, 1, 0, 1, &h) && !wait_h(h, 10000000000ll, &c) &&
	      !comp_ok(&c, h, 1, 1));
	CHECK(!submit(&sum, 1, 0, 2, &h) && !wait_h(h, 10000000000ll, &c) &&
	      !comp_ok(&c, h, 2, 1));
	for (i = 0; i < one.out_words; i++) {
		m1 += one.out[i];
		m16 += sum.out[i];
	}
	m1 /= one.out_words;
	m16 /= sum.out_words;
	for (i = 0; i < GUARD; i++)
		CHECK_MSG(sum.out[sum.out_words + i] == SENTINEL,
			  "SUM written past its %zu words", sum.out_words);
	printf("sum_repeats: mean code %.2f, mean sum of 16 reads %.2f (ratio %.3f)\n",
	       m1, m16, m16 / m1);
	CHECK_MSG(fabs(m16 / (16 * m1) - 1) < 0.02, "sum of 16 reads %.2f, one read %.2f",
		  m16, m1);
	tjob_free(&one);
	tjob_free(&sum);
	return 0;
}

/* Many batches, handles unique, WAIT(0) reaps each exactly once. */
static int wait_any(int nb)
{
	struct tjob t[32];
	uint64_t h[32];
	int seen[32] = { 0 };
	struct bnnacc_completion c;

	CHECK(nb <= 32);
	for (int i = 0; i < nb; i++) {
		CHECK(!tjob_init(&t[i], 1 + i % 5, 1 + i % 3, i & 1));
		CHECK(!submit(&t[i], 1, 0, 1000 + i, &h[i]));
		for (int k = 0; k < i; k++)
			CHECK_MSG(h[k] != h[i], "handle %llu twice",
				  (unsigned long long)h[i]);
	}
	for (int n = 0; n < nb; n++) {
		int i;

		CHECK(!wait_h(0, 10000000000ll, &c));
		i = (int)(c.user_data - 1000);
		CHECK_MSG(i >= 0 && i < nb && !seen[i] && c.handle == h[i],
			  "WAIT(0) gave handle %llu user_data %llu",
			  (unsigned long long)c.handle,
			  (unsigned long long)c.user_data);
		seen[i] = 1;
		CHECK(!comp_ok(&c, h[i], 1000 + i, 1));
		CHECK(!tjob_check(&t[i]));
	}
	for (int i = 0; i < nb; i++)
		tjob_free(&t[i]);
	CHECK(wait_h(0, 0, NULL) == -ENOENT);
	CHECK(wait_h(0, 1000000, NULL) == -ENOENT);
	printf("wait_any: %d batches reaped once each\n", nb);
	return 0;
}

/*
 * A queue of long batches behind a blocker of about a second of card time:
 * WAIT with timeout 0 on the blocker gives -ETIMEDOUT and its outputs are
 * not written before the reap; WAIT of 1 ms on the last batch times out
 * after about 1 ms or reaps it; CANCEL of a queued batch.
 */
#define LONGB 8
#define LONGJ 64
#define BLOCKJ 16
static int long_queue(void)
{
	static struct tjob t[LONGB][LONGJ];
	static struct tjob blk[BLOCKJ];
	uint64_t h[LONGB], hblk;
	struct bnnacc_completion c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct bnnacc_region all = { 0, 0, BNNACC_ROWS, BNNACC_COLS };
	int r, canceled = 0, reaped = 0;
	uint64_t t0;

	/* 64 jobs of 64 vectors on the whole array: several ms of card time */
	for (int b = 0; b < LONGB; b++)
		for (int i = 0; i < LONGJ; i++)
			CHECK(!tjob_init_r(&t[b][i], all, 64, 1, 1));
	/*
	 * A blocker first: BLOCKJ jobs of 64 vectors repeated 2048 times (the
	 * most one MVM may) on the whole array, summed on the card: about a
	 * second of card time, so that the batches behind it are still queued
	 * however fast this kernel submits them.
	 */
	for (int i = 0; i < BLOCKJ; i++) {
		CHECK(!tjob_init_r(&blk[i], all, 64, 1, 1));
		blk[i].j.repeat = 2048;
		blk[i].j.flags = BNNACC_JOB_SUM;
	}
	t0 = gj_now_ns();
	CHECK(!submit(blk, BLOCKJ, 60000, 99, &hblk));
	r = wait_h(hblk, 0, NULL);
	CHECK_MSG(r == -ETIMEDOUT, "WAIT(blocker, 0) = %d right after SUBMIT", r);
	CHECK(!tjob_untouched(&blk[0]));
	for (int b = 0; b < LONGB; b++)
		CHECK(!submit(t[b], LONGJ, 0, b, &h[b]));
	/* a WAIT of 1 ms: times out after about 1 ms, or reaps the batch */
	{
		uint64_t w0 = gj_now_ns();
		double el;

		r = wait_h(h[LONGB - 1], 1000000, &c);
		el = (gj_now_ns() - w0) / 1e6;
		printf("long_queue: WAIT(last, 1 ms) = %d after %.2f ms\n", r, el);
		if (r == 0) {
			CHECK(!comp_ok(&c, h[LONGB - 1], LONGB - 1, LONGJ));
			reaped = 1;
		} else {
			CHECK_MSG(r == -ETIMEDOUT, "WAIT(last, 1 ms) = %d", r);
			CHECK_MSG(el >= 0.9 && el < 1000,
				  "WAIT(last, 1 ms) timed out after %.2f ms", el);
		}
	}
	if (!reaped) {
		/* the last batch is most likely still queued in the driver */
		r = cancel_h(h[LONGB - 1]);
		CHECK_MSG(r == 0 || r == -EBUSY || r == -EALREADY, "CANCEL = %d", r);
		canceled = r == 0;
		printf("long_queue: CANCEL of the last of %d queued batches: %d (%s)\n",
		       LONGB, r, r ? strerror(-r) : "cancelled");
		if (canceled) {
			r = cancel_h(h[LONGB - 1]);
			CHECK_MSG(r == -EALREADY,
				  "second CANCEL = %d, want -EALREADY", r);
		}
	}
	CHECK(!wait_h(hblk, 60000000000ll, &c));
	CHECK_MSG(c.status == 0 && c.jobs_done == BLOCKJ,
		  "blocker: status %d jobs_done %u", c.status, c.jobs_done);
	printf("long_queue: blocker busy %.1f ms\n", c.busy_ns / 1e6);
	for (int i = 0; i < BLOCKJ; i++)
		tjob_free(&blk[i]);
	for (int b = 0; b < LONGB - reaped; b++) {
		CHECK(!wait_h(h[b], 60000000000ll, &c));
		if (b == LONGB - 1 && canceled) {
			CHECK_MSG(c.status == -ECANCELED && c.jobs_done == 0,
				  "cancelled batch: status %d jobs_done %u",
				  c.status, c.jobs_done);
			for (int i = 0; i < LONGJ; i++)
				CHECK(!tjob_untouched(&t[b][i]));
		} else {
			CHECK(!comp_ok(&c, h[b], b, LONGJ));
			for (int i = 0; i < LONGJ; i++)
				CHECK(!tjob_check(&t[b][i]));
		}
	}
	for (int i = 0; reaped && i < LONGJ; i++)
		CHECK(!tjob_check(&t[LONGB - 1][i]));
	printf("long_queue: %d batches of %dx64 samples in %.0f ms, last busy %.1f ms\n",
	       LONGB, LONGJ, (gj_now_ns() - t0) / 1e6, c.busy_ns / 1e6);
	for (int b = 0; b < LONGB; b++)
		for (int i = 0; i < LONGJ; i++)
			tjob_free(&t[b][i]);
	CHECK(poll(&p, 1, 0) == 0);
	return 0;
}

/* poll() and read(): completions as records, outputs written at read. */
static int poll_read(int nb)
{
	struct tjob t[16];
	uint64_t h[16];
	struct bnnacc_completion c[16];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int got = 0, fl;
	ssize_t n;
	char small[sizeof(struct bnnacc_completion) - 1];

	CHECK(nb <= 16);
	/* nothing pending: non-blocking read says so */
	fl = fcntl(fd, F_GETFL);
	CHECK(fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
	errno = 0;
	n = read(fd, c, sizeof(c[0]));
	CHECK_MSG(n == -1 && (errno == EAGAIN || errno == ENOENT),
		  "non-blocking read with nothing pending: %zd errno %d", n,
		  errno);
	CHECK(poll(&p, 1, 0) == 0);
	CHECK(fcntl(fd, F_SETFL, fl) == 0);

	for (int i = 0; i < nb; i++) {
		CHECK(!tjob_init(&t[i], 2, 2, !(i % 3 == 2)));
		CHECK(!submit(&t[i], 1, 0, 500 + i, &h[i]));
	}
	/* POLLIN comes; outputs still untouched until the reap */
	CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
	for (int i = 0; i < nb; i++)
		CHECK(!tjob_untouched(&t[i]));
	/* a buffer smaller than one record is refused, nothing reaped */
	errno = 0;
	n = read(fd, small, sizeof(small));
	CHECK_MSG(n == -1 && errno == EINVAL,
		  "read of %zu bytes: %zd errno %d, want -EINVAL",
		  sizeof(small), n, errno);
	while (got < nb) {
		CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
		/* room for 3 and a half records: whole records only */
		n = read(fd, c, sizeof(c[0]) * 3 + sizeof(c[0]) / 2);
		CHECK_MSG(n > 0 && n % sizeof(c[0]) == 0 &&
			  n <= (ssize_t)(3 * sizeof(c[0])), "read gave %zd", n);
		for (ssize_t k = 0; k < n / (ssize_t)sizeof(c[0]); k++) {
			int i = (int)(c[k].user_data - 500);

			CHECK_MSG(i >= 0 && i < nb && c[k].handle == h[i],
				  "read: handle %llu user_data %llu",
				  (unsigned long long)c[k].handle,
				  (unsigned long long)c[k].user_data);
			CHECK(!comp_ok(&c[k], h[i], 500 + i, 1));
			CHECK(!tjob_check(&t[i]));
			h[i] = 0;
			got++;
		}
	}
	for (int i = 0; i < nb; i++)
		tjob_free(&t[i]);
	CHECK(poll(&p, 1, 0) == 0);
	CHECK(wait_h(0, 0, NULL) == -ENOENT);
	printf("poll_read: %d completions read\n", nb);
	return 0;
}

/* CANCEL of a completed, unreaped batch: -EALREADY; it still reaps fine. */
static int cancel_done(void)
{
	struct tjob t;
	struct bnnacc_completion c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t h;

	CHECK(!tjob_init(&t, 1, 1, 1));
	CHECK(!submit(&t, 1, 0, 7, &h));
	CHECK(poll(&p, 1, 10000) == 1);
	CHECK_MSG(cancel_h(h) == -EALREADY, "CANCEL of a completed batch");
	CHECK(cancel_h(h + 1000000) == -ENOENT);
	CHECK(!wait_h(h, 0, &c));
	CHECK(!comp_ok(&c, h, 7, 1));
	CHECK(!tjob_check(&t));
	tjob_free(&t);
	printf("cancel_done: ok\n");
	return 0;
}

/* BNNACC_MAX_PENDING unreaped batches, then -EAGAIN. */
static int max_pending(void)
{
	static struct tjob t;
	static uint64_t h[BNNACC_MAX_PENDING];
	struct bnnacc_submit_args a;
	struct bnnacc_completion c;
	int r;

	CHECK(!tjob_init(&t, 1, 1, 1));
	for (int i = 0; i < BNNACC_MAX_PENDING; i++)
		CHECK_MSG(!submit(&t, 1, 0, i, &h[i]), "batch %d", i);
	a = (struct bnnacc_submit_args){
		.size = sizeof(a), .njobs = 1, .job_size = sizeof(t.j),
		.jobs = (uintptr_t)&t.j,
	};
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_SUBMIT, &a), EAGAIN);
	/* reap one, one more fits */
	CHECK(!wait_h(h[0], 10000000000ll, &c) && c.status == 0);
	CHECK(ioctl(fd, BNNACC_IOC_SUBMIT, &a) == 0);
	h[0] = a.handle;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_SUBMIT, &a), EAGAIN);
	for (int i = 0; i < BNNACC_MAX_PENDING; i++) {
		r = wait_h(0, 30000000000ll, &c);
		CHECK_MSG(r == 0 && c.status == 0, "reap %d: %d status %d", i,
			  r, c.status);
	}
	CHECK(!tjob_check(&t));
	tjob_free(&t);
	CHECK(wait_h(0, 0, NULL) == -ENOENT);
	printf("max_pending: %d, then -EAGAIN\n", BNNACC_MAX_PENDING);
	return 0;
}

/*
 * The byte budget: jobs of 4 MiB output (count 1 x repeat 8192 x 128
 * columns x 4 bytes), all writing one shared buffer.
 */
static int byte_budget(void)
{
	const unsigned int per = BNNACC_JOB_MAX_BYTES;
	const unsigned int fit = BNNACC_MAX_PENDING_BYTES / per - 1;
	struct bnnacc_region r = { 0, 0, 1, 128 };
	static struct bnnacc_job jobs[BNNACC_SUBMIT_MAX_JOBS];
	static int16_t in[1];
	struct bnnacc_completion c;
	uint64_t h1, h2;
	int32_t *out;

	out = malloc(per);
	CHECK(out);
	for (unsigned int i = 0; i < BNNACC_SUBMIT_MAX_JOBS; i++)
		jobs[i] = gj_job(r, in, sizeof(in), out, per, 1, per / 512, 0);
	/* more than the whole budget in one batch */
	CHECK(gj_submit(fd, jobs, fit + 2, 0, 1, &h1) == -E2BIG);
	/* most of it, then a batch that does not fit beside it */
	CHECK(gj_submit(fd, jobs, fit, 0, 1, &h1) == 0);
	CHECK(gj_submit(fd, jobs, 2, 0, 2, &h2) == -EAGAIN);
	CHECK(!wait_h(h1, 60000000000ll, &c) && c.status == 0 &&
	      c.jobs_done == fit);
	CHECK(gj_submit(fd, jobs, 2, 0, 2, &h2) == 0);
	CHECK(!wait_h(h2, 60000000000ll, &c) && c.status == 0);
	CHECK(wait_h(0, 0, NULL) == -ENOENT);
	free(out);
	printf("byte_budget: %u x 4 MiB queued, 2 more -EAGAIN, %u -E2BIG\n",
	       fit, fit + 2);
	return 0;
}

/* ---- bad arguments ---- */

static struct tjob bt;			/* a good job for the bad cases */
static struct bnnacc_job bjobs[BNNACC_SUBMIT_MAX_JOBS + 1];

static struct bnnacc_submit_args good_submit(void)
{
	struct bnnacc_submit_args a = {
		.size = sizeof(a),
		.jobs = (uintptr_t)bjobs,
		.njobs = 1,
		.job_size = sizeof(struct bnnacc_job),
	};

	for (int i = 0; i <= BNNACC_SUBMIT_MAX_JOBS; i++)
		bjobs[i] = bt.j;
	return a;
}

/* ioctl @req on the card must fail with errno @err; counted. */
static int expect_err(int line, const char *what, unsigned long req,
		      void *arg, int err)
{
	nchecks++;
	return gj_expect_errno(__FILE__, line, what, fd, req, arg, err);
}

#define BAD(req, type, init, err, change) \
	GJ_BAD(fd, nchecks, req, type, init, err, change)
#define BAD_SUB(err, change) \
	BAD(BNNACC_IOC_SUBMIT, struct bnnacc_submit_args, good_submit, err, change)
#define BAD_JOB(err, change) \
	BAD_SUB(err, (a.njobs = 2, change))

static struct bnnacc_wait_args good_wait(void)
{
	struct bnnacc_wait_args a = { .size = sizeof(a), .timeout_ns = 0 };

	return a;
}

static struct bnnacc_cancel_args good_cancel(void)
{
	struct bnnacc_cancel_args a = { .size = sizeof(a), .handle = 1 };

	return a;
}

static struct bnnacc_reset_args good_reset(void)
{
	struct bnnacc_reset_args a = { .size = sizeof(a) };

	return a;
}

#define BAD_WAIT(err, change) \
	BAD(BNNACC_IOC_WAIT, struct bnnacc_wait_args, good_wait, err, change)
#define BAD_CANCEL(err, change) \
	BAD(BNNACC_IOC_CANCEL, struct bnnacc_cancel_args, good_cancel, err, change)
#define BAD_RESET(err, change) \
	BAD(BNNACC_IOC_RESET, struct bnnacc_reset_args, good_reset, err, change)

static int bad_submit(void)
{
	BAD_SUB(EINVAL, a.size = 0);
	BAD_SUB(EINVAL, a.size = BNNACC_SUBMIT_SIZE_VER0 - 8);
	BAD_SUB(EINVAL, a.size = BNNACC_SUBMIT_SIZE_VER0 + 8);
	BAD_SUB(EINVAL, a.size = UINT32_MAX);
	BAD_SUB(EINVAL, a.flags = 1);
	BAD_SUB(EINVAL, a.flags = 0x80000000u);
	BAD_SUB(EINVAL, a.rsvd0 = 1);
	BAD_SUB(EINVAL, a.rsvd[0] = 1);
	BAD_SUB(EINVAL, a.rsvd[1] = 1ull << 63);
	BAD_SUB(EINVAL, a.njobs = 0);
	BAD_SUB(EINVAL, a.njobs = BNNACC_SUBMIT_MAX_JOBS + 1);
	BAD_SUB(EINVAL, a.njobs = UINT32_MAX);
	BAD_SUB(EINVAL, a.job_size = 0);
	BAD_SUB(EINVAL, a.job_size = BNNACC_JOB_SIZE_VER0 - 8);
	BAD_SUB(EINVAL, a.job_size = BNNACC_JOB_SIZE_VER0 + 8);
	BAD_SUB(EINVAL, a.job_size = UINT32_MAX);
	BAD_SUB(EFAULT, a.jobs = 0);
	BAD_SUB(EFAULT, a.jobs = (uintptr_t)none_page);
	BAD_SUB(EFAULT, (a.njobs = 2,
			 a.jobs = (uintptr_t)(none_page - sizeof(bjobs[0]))));
	BAD_SUB(EFAULT, a.jobs = ~0ull - 16);
	if (expect_err(__LINE__, "NULL args", BNNACC_IOC_SUBMIT, NULL, EFAULT) ||
	    expect_err(__LINE__, "PROT_NONE args", BNNACC_IOC_SUBMIT,
		       none_page, EFAULT))
		return -1;
	return 0;
}

/* Each bad field is in the second job of two: the whole batch is refused. */
static int bad_jobs(void)
{
	BAD_JOB(EINVAL, bjobs[1].flags = 2);
	BAD_JOB(EINVAL, bjobs[1].flags = 0x80000001u);
	BAD_JOB(EINVAL, bjobs[1].rsvd = 1);
	BAD_JOB(EINVAL, bjobs[1].count = 0);
	BAD_JOB(EINVAL, bjobs[1].adc_shift = BNNACC_ADC_SHIFT_MAX + 1);
	BAD_JOB(EINVAL, bjobs[1].adc_shift = UINT32_MAX);
	BAD_JOB(EINVAL, bjobs[1].region.rows = 0);
	BAD_JOB(EINVAL, bjobs[1].region.cols = 0);
	BAD_JOB(EINVAL, bjobs[1].region.row = BNNACC_ROWS);
	BAD_JOB(EINVAL, bjobs[1].region.col = BNNACC_COLS - 1);
	BAD_JOB(EINVAL, (bjobs[1].region.row = 0xffff, bjobs[1].region.rows = 2));
	BAD_JOB(EINVAL, bjobs[1].region.rows = BNNACC_ROWS + 1);
	BAD_JOB(EINVAL, bjobs[1].in_len = bt.j.in_len - 1);
	BAD_JOB(EINVAL, bjobs[1].in_len = 0);
	BAD_JOB(EINVAL, bjobs[1].out_len = bt.j.out_len - 4);
	BAD_JOB(EINVAL, bjobs[1].out_len = 0);
	BAD_JOB(EINVAL, bjobs[1].repeat = 2);	/* out holds one repeat */
	BAD_JOB(EINVAL, bjobs[1].count = 2);	/* in holds one vector */
	/* input: 16385 vectors of 128 rows = 4 MiB + 256 bytes, real buffer */
	{
		const unsigned int n = BNNACC_JOB_MAX_BYTES / 256 + 1;
		int16_t *big = calloc(n, 256);
		int r;

		CHECK(big);
		BAD_JOB(EINVAL, (bjobs[1].region = (struct bnnacc_region){ 0, 0, 128, 1 },
				 bjobs[1].count = n, bjobs[1].in = (uintptr_t)big,
				 bjobs[1].in_len = n * 256,
				 bjobs[1].out_len = n * 4,
				 bjobs[1].out = (uintptr_t)big));
		/* one vector fewer is exactly BNNACC_JOB_MAX_BYTES: accepted */
		{
			struct bnnacc_submit_args a = good_submit();
			struct bnnacc_completion c;

			bjobs[0].region = (struct bnnacc_region){ 0, 0, 128, 1 };
			bjobs[0].count = n - 1;
			bjobs[0].in = (uintptr_t)big;
			bjobs[0].in_len = (n - 1) * 256;
			bjobs[0].out = (uintptr_t)big;
			bjobs[0].out_len = (n - 1) * 4;
			CHECK(ioctl(fd, BNNACC_IOC_SUBMIT, &a) == 0);
			r = wait_h(a.handle, 30000000000ll, &c);
			CHECK_MSG(r == 0 && c.status == 0,
				  "job of exactly BNNACC_JOB_MAX_BYTES input: %d status %d",
				  r, c.status);
		}
		free(big);
	}
	/* out: 65 repeats of 128 vectors of 128 columns = 4 MiB + 64 KiB */
	BAD_JOB(EINVAL, (bjobs[1].region = (struct bnnacc_region){ 0, 0, 1, 128 },
			 bjobs[1].count = 128, bjobs[1].in_len = 256,
			 bjobs[1].repeat = 65,
			 bjobs[1].out_len = BNNACC_JOB_MAX_BYTES + 65536));
	BAD_JOB(EINVAL, (bjobs[1].repeat = UINT32_MAX,
			 bjobs[1].out_len = UINT32_MAX));
	BAD_JOB(EINVAL, (bjobs[1].count = UINT32_MAX,
			 bjobs[1].in_len = UINT32_MAX, bjobs[1].out_len = UINT32_MAX));
	/* a summed job is bounded as if it posted every repeat */
	BAD_JOB(EINVAL, (bjobs[1].flags = BNNACC_JOB_SUM,
			 bjobs[1].repeat = BNNACC_MVM_MAX_CODE_BYTES /
					   (bt.j.region.cols * 4u) + 1));
	BAD_JOB(EINVAL, (bjobs[1].flags = BNNACC_JOB_SUM,
			 bjobs[1].repeat = UINT32_MAX));
	/* inputs are copied at SUBMIT: a bad input pointer is -EFAULT */
	BAD_JOB(EFAULT, bjobs[1].in = 0);
	BAD_JOB(EFAULT, bjobs[1].in = (uintptr_t)none_page);
	BAD_JOB(EFAULT, bjobs[1].in = (uintptr_t)(none_page - 8));
	BAD_JOB(EFAULT, bjobs[1].in = ~0ull - 8);
	return 0;
}

static int bad_wait_cancel_reset(void)
{
	struct bnnacc_wait_args *ro;

	BAD_WAIT(EINVAL, a.size = 0);
	BAD_WAIT(EINVAL, a.size = BNNACC_WAIT_SIZE_VER0 - 8);
	BAD_WAIT(EINVAL, a.size = BNNACC_WAIT_SIZE_VER0 + 8);
	BAD_WAIT(EINVAL, a.flags = 1);
	BAD_WAIT(EINVAL, a.rsvd = 1);
	BAD_WAIT(ENOENT, a.handle = 0);		/* nothing pending */
	BAD_WAIT(ENOENT, a.handle = 12345);
	BAD_WAIT(ENOENT, a.handle = UINT64_MAX);
	BAD_WAIT(ENOENT, (a.handle = 99, a.timeout_ns = -1));
	if (expect_err(__LINE__, "NULL WAIT args", BNNACC_IOC_WAIT, NULL,
		       EFAULT) ||
	    expect_err(__LINE__, "PROT_NONE WAIT args", BNNACC_IOC_WAIT,
		       none_page, EFAULT))
		return -1;
	CHECK(mprotect(ro_page, page, PROT_READ | PROT_WRITE) == 0);
	ro = (struct bnnacc_wait_args *)ro_page;
	*ro = good_wait();
	CHECK(mprotect(ro_page, page, PROT_READ) == 0);
	/* read-only and nothing to reap: -ENOENT or -EFAULT are both fine */
	errno = 0;
	CHECK(ioctl(fd, BNNACC_IOC_WAIT, ro) == -1 &&
	      (errno == ENOENT || errno == EFAULT));

	BAD_CANCEL(EINVAL, a.size = 0);
	BAD_CANCEL(EINVAL, a.size = BNNACC_CANCEL_SIZE_VER0 + 8);
	BAD_CANCEL(EINVAL, a.size = BNNACC_CANCEL_SIZE_VER0 - 8);
	BAD_CANCEL(EINVAL, a.flags = 1);
	BAD_CANCEL(EINVAL, a.rsvd = 1);
	BAD_CANCEL(ENOENT, a.handle = 1);
	BAD_CANCEL(ENOENT, a.handle = UINT64_MAX);
	if (expect_err(__LINE__, "NULL CANCEL args", BNNACC_IOC_CANCEL, NULL,
		       EFAULT))
		return -1;

	BAD_RESET(EINVAL, a.size = 0);
	BAD_RESET(EINVAL, a.size = BNNACC_RESET_SIZE_VER0 + 8);
	BAD_RESET(EINVAL, a.size = BNNACC_RESET_SIZE_VER0 - 8);
	BAD_RESET(EINVAL, a.flags = 1);
	BAD_RESET(EINVAL, a.rsvd = 1);
	if (expect_err(__LINE__, "NULL RESET args", BNNACC_IOC_RESET, NULL,
		       EFAULT))
		return -1;
	/* wrong direction / size of the new numbers */
	{
		struct bnnacc_submit_args s = good_submit();

		if (expect_err(__LINE__, "SUBMIT as _IOW",
			       _IOW(BNNACC_IOC_MAGIC, 0x03,
				    struct bnnacc_submit_args), &s, ENOTTY) ||
		    expect_err(__LINE__, "WAIT with the size of CANCEL",
			       _IOWR(BNNACC_IOC_MAGIC, 0x04,
				     struct bnnacc_cancel_args), &s, ENOTTY) ||
		    expect_err(__LINE__, "_IO('B', 7)", _IO(BNNACC_IOC_MAGIC, 7),
			       NULL, ENOTTY))
			return -1;
	}
	return 0;
}

/* A read-only output buffer: refused at SUBMIT or completed -EFAULT. */
static int ro_output(void)
{
	struct bnnacc_submit_args a = good_submit();
	struct bnnacc_completion c;
	int r;

	bjobs[0].out = (uintptr_t)ro_page;
	bjobs[0].out_len = page;
	errno = 0;
	r = ioctl(fd, BNNACC_IOC_SUBMIT, &a);
	if (r == -1) {
		CHECK_MSG(errno == EFAULT, "SUBMIT with a read-only out: errno %d",
			  errno);
		printf("ro_output: refused at SUBMIT\n");
	} else {
		CHECK(!wait_h(a.handle, 10000000000ll, &c));
		CHECK_MSG(c.status == -EFAULT, "status %d, want -EFAULT",
			  c.status);
		printf("ro_output: completed with -EFAULT\n");
	}
	/* unmapped output */
	a = good_submit();
	bjobs[0].out = (uintptr_t)none_page;
	errno = 0;
	r = ioctl(fd, BNNACC_IOC_SUBMIT, &a);
	if (r == -1) {
		CHECK_MSG(errno == EFAULT, "SUBMIT with an unmapped out: errno %d",
			  errno);
	} else {
		CHECK(!wait_h(a.handle, 10000000000ll, &c));
		CHECK_MSG(c.status == -EFAULT, "status %d, want -EFAULT",
			  c.status);
	}
	return 0;
}

static int bad_args(void)
{
	CHECK(gj_bad_pages(&page, &none_page, &ro_page) == 0);
	CHECK(!tjob_init(&bt, 1, 1, 1));
	if (bad_submit() || bad_jobs() || bad_wait_cancel_reset())
		return -1;
	/* nothing was queued by any of them */
	CHECK_MSG(wait_h(0, 0, NULL) == -ENOENT,
		  "a refused SUBMIT left a batch behind");
	if (ro_output())
		return -1;
	CHECK(!tjob_untouched(&bt));
	printf("bad_args: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "quick");
	const char *dev = argc > 1 + quick ? argv[1 + quick] : "/dev/bnnacc0";

	setvbuf(stdout, NULL, _IOLBF, 0);
	gj_sysdir(sysdir, sizeof(sysdir), dev);
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 1;
	}
	if (probe() || program_region() || basic() || sum_repeats() ||
	    wait_any(quick ? 8 : 32) || poll_read(quick ? 4 : 16))
		return 1;
	if (!quick && (long_queue() || cancel_done() || max_pending() ||
		       byte_budget() || bad_args() || basic()))
		return 1;
	close(fd);
	printf("t_jobs: %u checks\nt_jobs: PASS\n", nchecks);
	return 0;
}
