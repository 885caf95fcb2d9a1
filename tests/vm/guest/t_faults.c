// SPDX-License-Identifier: MIT
/*
 * t_faults - the job engine under faults the host injects through QMP, and
 * the reset ioctl. The guest asks for a fault by printing
 * "FAULT-REQUEST NAME" and waits for the host to create /mnt/host/NAME
 * (run-vm.sh --share) once it is in place.
 *
 * usage: t_faults MODE [DEV]
 *   timeout  fault-hang: the hung batch completes with -ETIMEDOUT within its
 *            own timeout_ms (not the default); the other batches on the
 *            card with -EIO, queued ones run (or are cancelled); the card is
 *            reset (sysfs resets grows) and a next batch succeeds
 *   corrupt  fault-corrupt-cqe: the batch ends (0, -EIO or -ETIMEDOUT)
 *            within its timeout and a next batch succeeds
 *   dma      fault-dma: the batch completes with -EIO and jobs_done 0, a
 *            next batch succeeds
 *   unplug   fault-hang, then the card is removed while a WAIT, a read()
 *            and a poll() (three processes, three files) are blocked: each
 *            wakes with an error; later calls give -ENODEV. A fourth file
 *            holds a completed batch it has not reaped: after the removal
 *            it still reaps it, status 0 and every output written (the
 *            driver kept them when it freed the card's DMA memory)
 *   close-inflight
 *            200 times: a process submits batches and exits without
 *            reaping them (or is killed blocked in WAIT); afterwards memory
 *            has not grown, queue_depth is back to 0, the card works
 *   reset    BNNACC_IOC_RESET as root: batches on the card (one hung) end
 *            with -EIO, queued ones run, the array keeps its conductances;
 *            (first a WAIT on the hung batch is interrupted by a signal:
 *            -EINTR, and the batch stays);
 *            as uid 65534 (setuid after open) RESET gives -EPERM while
 *            SUBMIT/WAIT still work
 *   aer      PCIe errors injected by the host (HMP pcie_aer_inject_error):
 *            a correctable one changes nothing; an uncorrectable fatal one
 *            while a batch hangs on the card, a second is on the card behind
 *            it and a third queued: the driver's error handlers restart
 *            the card (resets + 1, errors grows), the hung batch ends with
 *            -EIO, the second with 0 or -EIO, the queued one runs (0), the
 *            array keeps its conductances; an uncorrectable
 *            non-fatal one restarts it again
 *   suspend  system sleep (S3: echo mem > /sys/power/state, the host wakes
 *            the VM with QMP system_wakeup): the card works after resume,
 *            with its conductances, and was restarted once
 *   abort    BNNACC_IOC_RESET while the card computes a batch of long MVMs
 *            (ABORT_JOBS x 131072 summed evaluations, seconds of work): the
 *            batch ends with -EIO well before its work could have been
 *            done, and the card works at once (tests/vm/cases/42-engine.sh
 *            checks in the device's trace that the command being computed
 *            was abandoned and none of the batch was posted after the reset)
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define RROWS	16
#define RCOLS	32
#define SHIFT	3

static const char *dev = "/dev/bnnacc0";
static char sysdir[256];

/* Ask the host for a fault and wait until it is in place. */
static int request(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/mnt/host/%s", name);
	printf("FAULT-REQUEST %s\n", name);
	fflush(stdout);
	for (int i = 0; i < 1200; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		gj_msleep(50);
	}
	fprintf(stderr, "FAIL: the host did not answer FAULT-REQUEST %s\n",
		name);
	return -1;
}

/* A sysfs counter of the card; -1 when the attribute does not exist. */
static long long sysfs_val(const char *attr)
{
	return gj_sysfs_val(sysdir, attr);
}

struct tjob {
	struct bnnacc_job j;
	int16_t *in;
	int32_t *out;
	size_t out_words;
};

static int tjob_init(struct tjob *t, unsigned int count, int full)
{
	size_t nin = (size_t)count * RROWS;

	memset(t, 0, sizeof(*t));
	t->out_words = (size_t)count * RCOLS;
	t->in = malloc(nin * 2);
	t->out = calloc(t->out_words, 4);
	CHECK(t->in && t->out);
	for (size_t i = 0; i < nin; i++)
		t->in[i] = full ? BNNACC_INPUT_FS : 0;
	t->j = gj_job((struct bnnacc_region){ 0, 0, RROWS, RCOLS }, t->in,
		      nin * 2, t->out, t->out_words * 4, count, 1, SHIFT);
	return 0;
}

static double tjob_mean(const struct tjob *t)
{
	double s = 0;

	for (size_t i = 0; i < t->out_words; i++)
		s += t->out[i];
	return s / t->out_words;
}

static int program_region(int fd)
{
	CHECK(gj_program_set(fd, (struct bnnacc_region){ 0, 0, RROWS, RCOLS },
			     50000) == 0);
	return 0;
}

/* A good batch works: status 0, outputs plausible; returns the mean code. */
static int works(int fd, double *mean)
{
	struct tjob t;
	struct bnnacc_completion c;
	uint64_t h;
	int r;

	CHECK(!tjob_init(&t, 8, 1));
	r = gj_submit(fd, &t.j, 1, 0, 77, &h);
	CHECK_MSG(r == 0, "SUBMIT after the fault: %d", r);
	r = gj_wait(fd, h, 20000000000ll, &c);
	CHECK_MSG(r == 0, "WAIT after the fault: %d", r);
	CHECK_MSG(c.status == 0 && c.jobs_done == 1,
		  "batch after the fault: status %d jobs_done %u", c.status,
		  c.jobs_done);
	for (size_t i = 0; i < t.out_words; i++)
		CHECK(t.out[i] >= -255 && t.out[i] <= 255);
	if (mean)
		*mean = tjob_mean(&t);
	CHECK_MSG(tjob_mean(&t) > 80 && tjob_mean(&t) < 180, "mean code %.1f",
		  tjob_mean(&t));
	free(t.in);
	free(t.out);
	return 0;
}

/* Cheap jobs for filling queues: 64 jobs of one vector. */
static struct tjob filler[BNNACC_SUBMIT_MAX_JOBS];
static struct bnnacc_job filler_jobs[BNNACC_SUBMIT_MAX_JOBS];

static int filler_init(void)
{
	for (int i = 0; i < BNNACC_SUBMIT_MAX_JOBS; i++) {
		CHECK(!tjob_init(&filler[i], 1, 1));
		filler_jobs[i] = filler[i].j;
	}
	return 0;
}

/*
 * The fillers are ready and a good batch works, then the host has put the
 * fault @name in place.
 */
static int arm(int fd, const char *name)
{
	CHECK(!filler_init());
	CHECK(!works(fd, NULL));
	CHECK(!request(name));
	return 0;
}

/* ---- timeout ---- */

#define NB 6
#define NCAN (NB - 2)	/* the batch the test tries to cancel */
static int mode_timeout(int fd)
{
	long long resets0 = sysfs_val("resets"), failed0 = sysfs_val("jobs_failed");
	struct bnnacc_completion c;
	uint64_t ha, hb[NB], t0;
	int r, cancel_r, eio = 0, ok = 0;
	long long depth0;
	double el;

	CHECK(!arm(fd, "hang"));
	t0 = gj_now_ns();
	/* A: one job that hangs on the card, its own timeout 1000 ms */
	CHECK(gj_submit(fd, filler_jobs, 1, 1000, 1, &ha) == 0);
	/* B0: one job; B1..: 64 jobs each, more than the rings hold */
	CHECK(gj_submit(fd, filler_jobs, 1, 0, 100, &hb[0]) == 0);
	for (int i = 1; i < NB; i++)
		CHECK(gj_submit(fd, filler_jobs, BNNACC_SUBMIT_MAX_JOBS, 0,
				100 + i, &hb[i]) == 0);
	depth0 = sysfs_val("queue_depth");
	cancel_r = gj_cancel(fd, hb[NCAN]);
	printf("timeout: CANCEL of the last batch behind the hang: %d\n",
	       cancel_r);
	CHECK_MSG(cancel_r == 0 || cancel_r == -EBUSY, "CANCEL = %d", cancel_r);
	if (depth0 >= 0) {
		long long depth1 = sysfs_val("queue_depth");

		printf("timeout: queue_depth %lld with %d batches submitted, %lld after the CANCEL\n",
		       depth0, NB + 1, depth1);
		CHECK_MSG(depth0 == NB + 1, "queue_depth %lld, want %d", depth0,
			  NB + 1);
		CHECK_MSG(depth1 == NB + 1 - (cancel_r == 0),
			  "queue_depth after CANCEL %lld", depth1);
	}
	r = gj_wait(fd, ha, 20000000000ll, &c);
	el = (gj_now_ns() - t0) / 1e6;
	CHECK_MSG(r == 0, "WAIT on the hung batch: %d", r);
	printf("timeout: hung batch status %d after %.0f ms (latency %.0f ms)\n",
	       c.status, el, c.latency_ns / 1e6);
	CHECK_MSG(c.status == -ETIMEDOUT && c.jobs_done == 0,
		  "hung batch: status %d jobs_done %u, want -ETIMEDOUT",
		  c.status, c.jobs_done);
	CHECK_MSG(el >= 900 && el <= 4000,
		  "hung batch ended after %.0f ms, its timeout_ms is 1000", el);
	CHECK_MSG(c.latency_ns >= 900000000ull && c.latency_ns <= 4000000000ull,
		  "latency_ns %llu", (unsigned long long)c.latency_ns);
	for (int i = 0; i < NB; i++) {
		r = gj_wait(fd, hb[i], 20000000000ll, &c);
		CHECK_MSG(r == 0, "WAIT on batch %d: %d", i, r);
		if (i == NCAN && cancel_r == 0) {
			CHECK_MSG(c.status == -ECANCELED && c.jobs_done == 0,
				  "cancelled batch: status %d", c.status);
			continue;
		}
		/* later than a batch that had not reached the card: runs */
		if (i > NCAN && cancel_r == 0)
			CHECK_MSG(c.status == 0 && c.jobs_done == BNNACC_SUBMIT_MAX_JOBS,
				  "batch queued behind the reset: status %d jobs_done %u",
				  c.status, c.jobs_done);
		if (i <= NCAN && cancel_r == -EBUSY)
			CHECK_MSG(c.status == -EIO,
				  "batch on the card at the reset: status %d",
				  c.status);
		CHECK_MSG(c.status == 0 || (c.status == -EIO && c.jobs_done == 0),
			  "batch %d behind the hung one: status %d jobs_done %u",
			  i, c.status, c.jobs_done);
		if (c.status)
			eio++;
		else
			ok++;
	}
	printf("timeout: batches behind the hang: %d -EIO (were on the card), %d ran after the reset\n",
	       eio, ok);
	CHECK(!works(fd, NULL));
	if (resets0 >= 0) {
		long long resets1 = sysfs_val("resets");

		printf("timeout: sysfs resets %lld -> %lld, jobs_failed %lld -> %lld\n",
		       resets0, resets1, failed0, sysfs_val("jobs_failed"));
		CHECK_MSG(resets1 >= resets0 + 1, "resets did not grow");
		CHECK(sysfs_val("jobs_failed") > failed0);
	} else {
		printf("timeout: NOTE: no sysfs attribute %s/resets\n", sysdir);
	}
	return 0;
}

/* ---- corrupt CQE ---- */

static int mode_corrupt(int fd)
{
	struct bnnacc_completion c;
	uint64_t h, t0;
	double el;
	int r;

	CHECK(!arm(fd, "corrupt"));
	t0 = gj_now_ns();
	CHECK(gj_submit(fd, filler_jobs, 2, 2000, 5, &h) == 0);
	r = gj_wait(fd, h, 20000000000ll, &c);
	el = (gj_now_ns() - t0) / 1e6;
	CHECK_MSG(r == 0, "WAIT: %d", r);
	printf("corrupt: batch status %d jobs_done %u after %.0f ms\n",
	       c.status, c.jobs_done, el);
	CHECK_MSG(c.status == 0 || c.status == -EIO || c.status == -ETIMEDOUT,
		  "status %d", c.status);
	CHECK_MSG(el <= 5000, "ended after %.0f ms, timeout_ms 2000", el);
	CHECK(!works(fd, NULL));
	CHECK(!works(fd, NULL));
	return 0;
}

/* ---- DMA error ---- */

static int mode_dma(int fd)
{
	long long failed0 = sysfs_val("jobs_failed");
	struct bnnacc_completion c;
	uint64_t h;
	int r;

	CHECK(!arm(fd, "dma"));
	CHECK(gj_submit(fd, filler_jobs, 3, 0, 9, &h) == 0);
	r = gj_wait(fd, h, 20000000000ll, &c);
	CHECK_MSG(r == 0, "WAIT: %d", r);
	printf("dma: batch status %d jobs_done %u\n", c.status, c.jobs_done);
	CHECK_MSG(c.status == -EIO && c.jobs_done == 0,
		  "status %d jobs_done %u, want -EIO and 0", c.status,
		  c.jobs_done);
	CHECK(!works(fd, NULL));
	if (failed0 >= 0)
		CHECK_MSG(sysfs_val("jobs_failed") > failed0,
			  "jobs_failed %lld -> %lld", failed0,
			  sysfs_val("jobs_failed"));
	return 0;
}

/* ---- unplug ---- */

static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

/* The waiter of kind @k on @fd with batch @h; exits 0 when it woke right. */
static int waiter(int k, int fd, uint64_t h)
{
	struct bnnacc_completion c;
	struct bnnacc_submit_args s = {
		.size = sizeof(s), .jobs = (uintptr_t)filler_jobs, .njobs = 1,
		.job_size = sizeof(filler_jobs[0]),
	};
	struct bnnacc_identify_args id = { .size = sizeof(id) };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	switch (k) {
	case 0:
		r = gj_wait(fd, h, -1, &c);
		printf("unplug: WAIT woke: %d, status %d\n", r,
		       r ? 0 : c.status);
		CHECK_MSG(r == -ENODEV || (r == 0 && c.status == -ENODEV),
			  "WAIT: %d status %d", r, c.status);
		break;
	case 1:
		errno = 0;
		n = read(fd, &c, sizeof(c));
		printf("unplug: read woke: %zd errno %d, status %d\n", n,
		       n < 0 ? errno : 0, n == sizeof(c) ? c.status : 0);
		CHECK_MSG((n == sizeof(c) && c.status == -ENODEV) ||
			  (n < 0 && errno == ENODEV) || n == 0,
			  "read: %zd errno %d", n, errno);
		break;
	default:
		r = poll(&p, 1, -1);
		printf("unplug: poll woke: %d revents %#x\n", r, p.revents);
		CHECK_MSG(r == 1 && (p.revents & (POLLIN | POLLERR | POLLHUP)),
			  "poll: %d revents %#x", r, p.revents);
		break;
	}
	/* reap what is left, then everything is -ENODEV */
	for (int i = 0; i < 4 && gj_wait(fd, 0, 0, &c) == 0; i++)
		CHECK_MSG(c.status == -ENODEV, "left-over batch: status %d",
			  c.status);
	r = gj_wait(fd, 0, 0, NULL);
	CHECK_MSG(r == -ENODEV, "WAIT after unplug: %d", r);
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_SUBMIT, &s), ENODEV);
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_IDENTIFY, &id), ENODEV);
	r = poll(&p, 1, 0);
	CHECK_MSG(r == 1 && (p.revents & (POLLERR | POLLHUP | POLLIN)),
		  "poll after unplug: %d revents %#x", r, p.revents);
	return 0;
}

/* A completed batch of @fd left unreaped; its outputs hold a sentinel. */
static int unreaped_batch(int fd, struct tjob *t, uint64_t *h)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	/* main() programmed the region (and holds the lease) */
	CHECK(!tjob_init(t, 8, 1));
	for (size_t i = 0; i < t->out_words; i++)
		t->out[i] = INT32_MIN;	/* no ADC code */
	CHECK(gj_submit(fd, &t->j, 1, 10000, 77, h) == 0);
	CHECK_MSG(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN),
		  "the batch did not complete: revents %#x", p.revents);
	return 0;
}

/* After remove(): the kept batch reaps with its outputs, then -ENODEV. */
static int reap_after_remove(int fd, struct tjob *t, uint64_t h)
{
	struct bnnacc_completion c;
	size_t unwritten = 0;
	int r;

	r = gj_wait(fd, h, 0, &c);
	CHECK_MSG(r == 0, "WAIT of the completed batch after remove: %d", r);
	CHECK_MSG(c.status == 0 && c.jobs_done == 1 && c.user_data == 77,
		  "status %d jobs_done %u user_data %llu", c.status,
		  c.jobs_done, (unsigned long long)c.user_data);
	for (size_t i = 0; i < t->out_words; i++)
		unwritten += t->out[i] == INT32_MIN;
	CHECK_MSG(!unwritten, "%zu of %zu outputs not written", unwritten,
		  t->out_words);
	printf("unplug: batch completed before the removal reaped after it: "
	       "%zu outputs, mean code %.0f\n", t->out_words, tjob_mean(t));
	CHECK_MSG(gj_wait(fd, 0, 0, NULL) == -ENODEV, "then not -ENODEV");
	return 0;
}

static int mode_unplug(int fd0)
{
	int fd[3], st, bad = 0, fdk;
	struct tjob kept;
	uint64_t h[3], hk;
	pid_t pid[3];
	uint64_t t0;

	fdk = open(dev, O_RDWR);
	CHECK(fdk >= 0);
	CHECK(!unreaped_batch(fdk, &kept, &hk));
	CHECK(!arm(fd0, "hang"));
	for (int k = 0; k < 3; k++) {
		fd[k] = open(dev, O_RDWR);
		CHECK(fd[k] >= 0);
		/* the first hangs on the card, the others stall behind it */
		CHECK(gj_submit(fd[k], filler_jobs, 1, 60000, k, &h[k]) == 0);
	}
	for (int k = 0; k < 3; k++) {
		pid[k] = fork();
		CHECK(pid[k] >= 0);
		if (pid[k] == 0)
			_exit(waiter(k, fd[k], h[k]) ? 1 : 0);
	}
	for (int i = 0; i < 100; i++) {
		int blocked = 0;

		for (int k = 0; k < 3; k++)
			blocked += proc_state(pid[k]) == 'S';
		if (blocked == 3)
			break;
		gj_msleep(20);
	}
	gj_msleep(300);
	for (int k = 0; k < 3; k++)
		CHECK_MSG(proc_state(pid[k]) == 'S', "waiter %d state %c", k,
			  proc_state(pid[k]));
	printf("unplug: WAIT, read and poll blocked\n");
	t0 = gj_now_ns();
	CHECK(!request("unplug"));
	for (int k = 0; k < 3; k++) {
		CHECK(waitpid(pid[k], &st, 0) == pid[k]);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "FAIL: waiter %d status %#x\n", k, st);
			bad++;
		}
	}
	printf("unplug: waiters done %.1f s after the request\n",
	       (gj_now_ns() - t0) / 1e9);
	CHECK(!bad);
	CHECK_MSG(access(dev, F_OK) != 0, "%s still exists", dev);
	CHECK(!reap_after_remove(fdk, &kept, hk));
	close(fdk);
	for (int k = 0; k < 3; k++)
		close(fd[k]);
	close(fd0);
	return 0;
}

/* ---- close with batches in flight ---- */

/* One process: submit a few batches, leave them (exit or get killed). */
static int inflight_child(int i)
{
	static struct tjob big[4];
	struct bnnacc_job jobs[4];
	struct bnnacc_completion c;
	uint64_t h = 0;
	int fd = open(dev, O_RDWR);

	CHECK(fd >= 0);
	for (int k = 0; k < 4; k++) {
		CHECK(!tjob_init(&big[k], 64, 1));
		jobs[k] = big[k].j;
		jobs[k].region = (struct bnnacc_region){ 0, 0, RROWS, 128 };
		jobs[k].out_len = 64 * 128 * 4;
		big[k].out = realloc(big[k].out, jobs[k].out_len);
		CHECK(big[k].out);
		jobs[k].out = (uintptr_t)big[k].out;
	}
	for (int b = 0; b < 4; b++)
		CHECK(gj_submit(fd, jobs, 4, 0, b, &h) == 0);
	switch (i % 4) {
	case 0:		/* exit with the file open */
		_exit(0);
	case 1:		/* close explicitly */
		close(fd);
		_exit(0);
	case 2:		/* reap one, leave the rest */
		gj_wait(fd, 0, -1, &c);
		_exit(0);
	default:	/* block in WAIT and get killed (parent) */
		gj_wait(fd, h, -1, &c);
		gj_wait(fd, 0, -1, &c);
		gj_wait(fd, 0, -1, &c);
		gj_wait(fd, 0, -1, &c);
		pause();
		_exit(0);
	}
}

static int run_inflight(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		CHECK(pid >= 0);
		if (pid == 0)
			_exit(inflight_child(i) ? 1 : 0);
		if (i % 4 == 3) {
			gj_msleep(5);
			kill(pid, SIGKILL);
		}
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK_MSG((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
			  (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL),
			  "iteration %d: status %#x", i, st);
	}
	return 0;
}

static int settle(void)
{
	long long q = 0;

	for (int i = 0; i < 300; i++) {
		q = sysfs_val("queue_depth");
		if (q <= 0)
			break;
		gj_msleep(50);
	}
	CHECK_MSG(q <= 0, "queue_depth still %lld", q);
	gj_msleep(200);
	return 0;
}

static int mode_close_inflight(int fd)
{
	long long slab0, avail0, slab1, avail1, jobs0, jobs1;
	uint64_t t0 = gj_now_ns();

	CHECK(!works(fd, NULL));
	CHECK(!run_inflight(20));		/* warm up the caches */
	CHECK(!settle());
	slab0 = gj_meminfo("Slab");
	avail0 = gj_meminfo("MemAvailable");
	jobs0 = sysfs_val("jobs_completed") + sysfs_val("jobs_failed");
	CHECK(!run_inflight(200));
	CHECK(!settle());
	slab1 = gj_meminfo("Slab");
	avail1 = gj_meminfo("MemAvailable");
	jobs1 = sysfs_val("jobs_completed") + sysfs_val("jobs_failed");
	printf("close-inflight: jobs completed + failed grew by %lld\n",
	       jobs1 - jobs0);
	if (jobs0 >= 0)
		CHECK_MSG(jobs1 - jobs0 >= 200 * 4,
			  "the children ran only %lld jobs", jobs1 - jobs0);
	printf("close-inflight: 200 processes in %.1f s; Slab %lld -> %lld kB, MemAvailable %lld -> %lld kB, queue_depth %lld\n",
	       (gj_now_ns() - t0) / 1e9, slab0, slab1, avail0, avail1,
	       sysfs_val("queue_depth"));
	printf("close_slab_growth_kb=%lld close_avail_drop_kb=%lld\n",
	       slab1 - slab0, avail0 - avail1);
	/* 200 x 16 batches x ~200 KiB of buffers: a leak is far above this */
	CHECK_MSG(slab1 - slab0 < 4096, "Slab grew by %lld kB", slab1 - slab0);
	CHECK_MSG(avail0 - avail1 < 24576, "MemAvailable fell by %lld kB",
		  avail0 - avail1);
	CHECK(!works(fd, NULL));
	return 0;
}

/* ---- reset while the card computes ---- */

#define ABORT_JOBS	16
#define ABORT_COUNT	256
#define ABORT_REPEAT	512	/* count * repeat * cols * 4 = 64 MiB of codes */

static int mode_abort(int fd)
{
	static const struct bnnacc_region whole = { 0, 0, BNNACC_ROWS, BNNACC_COLS };
	static struct bnnacc_job jobs[ABORT_JOBS];
	size_t in_len = (size_t)ABORT_COUNT * BNNACC_ROWS * 2;
	size_t out_len = (size_t)ABORT_COUNT * BNNACC_COLS * 4;
	int16_t *in = calloc(1, in_len);
	int32_t *out = calloc(ABORT_JOBS, out_len);
	struct bnnacc_completion c;
	uint64_t h, t0;
	double el;
	int r;

	CHECK(in && out);
	CHECK(!works(fd, NULL));
	for (size_t i = 0; i < in_len / 2; i++)
		in[i] = (int16_t)(i * 37 % 101 - 50);
	for (int i = 0; i < ABORT_JOBS; i++) {
		jobs[i] = gj_job(whole, in, in_len, out + i * out_len / 4, out_len,
				 ABORT_COUNT, ABORT_REPEAT, 4);
		jobs[i].flags = BNNACC_JOB_SUM;
	}
	t0 = gj_now_ns();
	CHECK(gj_submit(fd, jobs, ABORT_JOBS, 120000, 7, &h) == 0);
	gj_msleep(300);
	CHECK_MSG(gj_wait(fd, h, 0, NULL) == -ETIMEDOUT,
		  "the batch of long MVMs was done after 300 ms");
	printf("ABORT-RESET\n");
	r = gj_reset(fd);
	CHECK_MSG(r == 0, "RESET while computing: %d", r);
	r = gj_wait(fd, h, 30000000000ll, &c);
	el = (gj_now_ns() - t0) / 1e6;
	printf("abort: batch status %d jobs_done %u after %.0f ms\n", c.status,
	       c.jobs_done, el);
	CHECK_MSG(r == 0 && c.status == -EIO,
		  "batch on the card at the reset: %d status %d, want -EIO", r,
		  c.status);
	CHECK_MSG(c.jobs_done < ABORT_JOBS, "all %u jobs done", c.jobs_done);
	CHECK(!works(fd, NULL));
	free(in);
	free(out);
	return 0;
}

/* ---- reset ioctl ---- */

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * After a card restart (reset ioctl, PCIe error): the hung batch @ha ended
 * with -EIO, the one on the card behind it (@hb) with 0 or -EIO; its
 * status to *@st_b.
 */
static int restart_outcome(int fd, uint64_t ha, uint64_t hb, const char *what,
			   int *st_b)
{
	struct bnnacc_completion c;
	int r;

	r = gj_wait(fd, ha, 30000000000ll, &c);
	CHECK_MSG(r == 0 && c.status == -EIO,
		  "hung batch after the %s: %d status %d, want -EIO", what, r,
		  c.status);
	r = gj_wait(fd, hb, 30000000000ll, &c);
	CHECK_MSG(r == 0 && (c.status == 0 || c.status == -EIO),
		  "batch on the card behind it: %d status %d", r, c.status);
	*st_b = c.status;
	return 0;
}

static int mode_reset(int fd)
{
	long long resets0 = sysfs_val("resets");
	struct bnnacc_completion c;
	double before, after;
	uint64_t ha, hb;
	int r, st;
	pid_t pid;

	CHECK(!filler_init());
	CHECK(!works(fd, &before));
	/* idle reset */
	r = gj_reset(fd);
	CHECK_MSG(r == 0, "RESET as root: %d", r);
	CHECK(!works(fd, NULL));
	/* reset with a hung batch on the card and one behind it */
	CHECK(!request("hang"));
	CHECK(gj_submit(fd, filler_jobs, 1, 60000, 1, &ha) == 0);
	CHECK(gj_submit(fd, filler_jobs, 2, 60000, 2, &hb) == 0);
	gj_msleep(300);
	CHECK(gj_wait(fd, ha, 0, NULL) == -ETIMEDOUT);
	/* a signal interrupts a WAIT without a deadline: -EINTR, batch stays */
	{
		struct sigaction sa = { .sa_handler = on_alarm };
		struct itimerval it = { .it_value = { 0, 200000 } };
		uint64_t t0 = gj_now_ns();

		CHECK(sigaction(SIGALRM, &sa, NULL) == 0);	/* no SA_RESTART */
		CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
		r = gj_wait(fd, ha, -1, &c);
		CHECK_MSG(r == -EINTR, "WAIT interrupted by a signal: %d", r);
		printf("reset: WAIT interrupted by SIGALRM after %.0f ms: -EINTR\n",
		       (gj_now_ns() - t0) / 1e6);
		CHECK_MSG(gj_wait(fd, ha, 0, NULL) == -ETIMEDOUT,
			  "the batch did not stay after -EINTR");
	}
	r = gj_reset(fd);
	CHECK_MSG(r == 0, "RESET with a hung batch: %d", r);
	CHECK(!restart_outcome(fd, ha, hb, "RESET", &r));
	printf("reset: hung batch -EIO, the one behind it %d\n", r);
	CHECK(!works(fd, &after));
	printf("reset: mean code %.1f before, %.1f after the resets\n", before,
	       after);
	CHECK_MSG(after > before * 0.9 && after < before * 1.1,
		  "the array lost its conductances: %.1f -> %.1f", before,
		  after);
	if (resets0 >= 0)
		CHECK_MSG(sysfs_val("resets") >= resets0 + 2,
			  "resets %lld -> %lld", resets0, sysfs_val("resets"));
	/* unprivileged, with a file opened as root */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534)) {
			perror("setuid");
			_exit(2);
		}
		if (getuid() != 65534 || geteuid() != 65534)
			_exit(3);
		errno = 0;
		if (gj_reset(fd) != -EPERM) {
			fprintf(stderr, "FAIL: RESET as uid 65534: errno %d, want EPERM\n",
				errno);
			_exit(4);
		}
		_exit(works(fd, NULL) ? 5 : 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "unprivileged child: status %#x", st);
	printf("reset: uid 65534 gets -EPERM and can still submit\n");
	if (resets0 >= 0)
		printf("reset: sysfs resets %lld -> %lld\n", resets0,
		       sysfs_val("resets"));
	return 0;
}

/* Wait up to @ms for sysfs @attr to reach @want. */
static long long sysfs_wait(const char *attr, long long want, int ms)
{
	long long v = sysfs_val(attr);

	for (int i = 0; i < ms / 50 && v < want; i++) {
		gj_msleep(50);
		v = sysfs_val(attr);
	}
	return v;
}

static int mode_aer(int fd)
{
	long long resets0 = sysfs_val("resets"), errors0 = sysfs_val("errors");
	struct bnnacc_completion c;
	double before, after;
	uint64_t ha, hb, hc;
	int r;

	CHECK(!filler_init());
	CHECK(!works(fd, &before));
	CHECK(!request("aer-correctable"));
	gj_msleep(500);
	CHECK(!works(fd, NULL));
	CHECK_MSG(sysfs_val("resets") == resets0,
		  "a correctable error reset the card: resets %lld -> %lld",
		  resets0, sysfs_val("resets"));
	printf("aer: correctable error: the card kept working, no reset\n");

	/*
	 * fatal, mid-job: one batch hung on the card, one on the card behind
	 * it (two batches go to the card at a time), one queued
	 */
	CHECK(!request("hang"));
	CHECK(gj_submit(fd, filler_jobs, 1, 60000, 1, &ha) == 0);
	CHECK(gj_submit(fd, filler_jobs, 2, 60000, 2, &hb) == 0);
	CHECK(gj_submit(fd, filler_jobs, 3, 60000, 3, &hc) == 0);
	gj_msleep(300);
	CHECK(gj_wait(fd, ha, 0, NULL) == -ETIMEDOUT);
	CHECK(!request("aer-fatal"));
	CHECK(!restart_outcome(fd, ha, hb, "fatal error", &r));
	r = gj_wait(fd, hc, 30000000000ll, &c);
	CHECK_MSG(r == 0 && c.status == 0,
		  "queued batch: %d status %d (want 0: it waits, then runs)",
		  r, c.status);
	CHECK_MSG(sysfs_wait("resets", resets0 + 1, 5000) == resets0 + 1,
		  "resets %lld -> %lld, want one more", resets0,
		  sysfs_val("resets"));
	CHECK_MSG(sysfs_val("errors") > errors0, "errors %lld -> %lld",
		  errors0, sysfs_val("errors"));
	CHECK(!works(fd, &after));
	CHECK_MSG(after > before * 0.9 && after < before * 1.1,
		  "the array lost its conductances: %.1f -> %.1f", before,
		  after);
	printf("aer: fatal error mid-job: hung batch -EIO, the one behind it ran, mean code %.1f -> %.1f\n",
	       before, after);

	CHECK(!request("aer-nonfatal"));
	CHECK_MSG(sysfs_wait("resets", resets0 + 2, 20000) == resets0 + 2,
		  "resets %lld -> %lld after the non-fatal error", resets0,
		  sysfs_val("resets"));
	CHECK(!works(fd, NULL));
	printf("aer: non-fatal error: card restarted, works; resets %lld -> %lld, errors %lld -> %lld\n",
	       resets0, sysfs_val("resets"), errors0, sysfs_val("errors"));
	return 0;
}

static int mode_suspend(int fd)
{
	long long resets0 = sysfs_val("resets");
	double before, after;
	char states[128] = "";
	FILE *f;

	CHECK(!works(fd, &before));
	f = fopen("/sys/power/state", "r");
	CHECK(f && fgets(states, sizeof(states), f));
	fclose(f);
	CHECK_MSG(strstr(states, "mem"), "no S3 in /sys/power/state: %s",
		  states);
	printf("FAULT-REQUEST suspend\n");
	fflush(stdout);
	f = fopen("/sys/power/state", "w");
	CHECK(f);
	CHECK_MSG(fputs("mem\n", f) >= 0 && fclose(f) == 0,
		  "suspend to RAM failed: %s", strerror(errno));
	CHECK(!works(fd, &after));
	CHECK_MSG(after > before * 0.9 && after < before * 1.1,
		  "the array lost its conductances: %.1f -> %.1f", before,
		  after);
	CHECK_MSG(sysfs_val("resets") == resets0 + 1,
		  "resets %lld -> %lld, want one restart at resume", resets0,
		  sysfs_val("resets"));
	printf("suspend: resumed, card restarted and works, mean code %.1f -> %.1f\n",
	       before, after);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct stat sb;
	int fd, rc;

	if (argc > 2)
		dev = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(dev, O_RDWR);
	if (fd < 0 || fstat(fd, &sb)) {
		perror(dev);
		return 1;
	}
	gj_sysdir(sysdir, sizeof(sysdir), dev);
	if (program_region(fd))
		return 1;
	if (!strcmp(mode, "timeout"))
		rc = mode_timeout(fd);
	else if (!strcmp(mode, "corrupt"))
		rc = mode_corrupt(fd);
	else if (!strcmp(mode, "dma"))
		rc = mode_dma(fd);
	else if (!strcmp(mode, "unplug"))
		rc = mode_unplug(fd);
	else if (!strcmp(mode, "close-inflight"))
		rc = mode_close_inflight(fd);
	else if (!strcmp(mode, "reset"))
		rc = mode_reset(fd);
	else if (!strcmp(mode, "aer"))
		rc = mode_aer(fd);
	else if (!strcmp(mode, "suspend"))
		rc = mode_suspend(fd);
	else if (!strcmp(mode, "abort"))
		rc = mode_abort(fd);
	else {
		fprintf(stderr, "usage: t_faults timeout|corrupt|dma|unplug|close-inflight|reset|aer|suspend [DEV]\n");
		return 2;
	}
	if (rc)
		return 1;
	printf("t_faults %s: PASS\n", mode);
	return 0;
}
