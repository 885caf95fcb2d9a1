// SPDX-License-Identifier: MIT
/*
 * f_ioctl - ioctl fuzzer of /dev/bnnacc*: random and mutated calls from
 * several processes at once, with closes, forks, threads, resets and (from
 * the host) card unplug and re-add in the middle.
 *
 * The parent forks W worker processes (default 4); each runs a seeded
 * random loop of operations on the cards' nodes:
 *
 *   open / close / dup of /dev/bnnacc0..3 (cards come and go);
 *   valid IDENTIFY, PROGRAM and READ of small regions, SUBMIT of valid MVM
 *   batches, WAIT with small timeouts, CANCEL of its own, unknown and
 *   random handles, read() and poll() on the file;
 *   mutated ioctls: a valid argument with bits and bytes flipped, a random
 *   size, reserved fields and flags set, huge counts and regions, bad user
 *   pointers (NULL, unmapped, PROT_NONE, read-only, kernel, non-canonical,
 *   misaligned, straddling into a guard page) for the argument itself and
 *   for every pointer inside it (job arrays included);
 *   random ioctl numbers: other direction/size/number in the 'B' type and
 *   random types (the VFS's own generic ioctl types excluded);
 *   a thread blocked in WAIT, read(), poll() or IDENTIFY while another
 *   closes the file; a forked child using the inherited files for a few
 *   operations, sometimes SIGKILLed in the middle of one;
 *   BNNACC_IOC_RESET from worker 0 (root); the last worker drops
 *   CAP_SYS_ADMIN, so its RESET must fail with -EPERM;
 *   on a fresh file: SUBMIT whose handle, WAIT whose completion, read()
 *   whose buffer cannot be written fail with -EFAULT without queueing or
 *   losing a batch.
 *
 * Every call is checked: its result must be success or an errno of the set
 * uapi/bnnacc.h documents for it (valid calls may not fail with -EINVAL or
 * -EFAULT; -ENODEV, -EIO, -ETIMEDOUT... are tolerated as documented around
 * resets, hangs and unplug); a completion's status must be one of the
 * documented ones and its fields consistent with the batch; a successful
 * IDENTIFY must carry the magic. Anything else is "unexpected" and printed
 * with a reproducer line (seed, worker, operation index, call, argument
 * bytes). The parent watches every blocking call: one that has not
 * returned within its own timeout plus a slack is reported as a hang.
 *
 * Host faults: with -F, the parent prints "FAULT-REQUEST <kind><n>" (kind
 * hang, unplug or add) when the workers' calls reach the given fractions of
 * the total (-F hang@0.2,unplug@0.4,add@0.6) or, with -P N, every N calls
 * (cycling hang, unplug, add); it goes on once /mnt/host/<kind><n> exists,
 * while the workers keep going.
 *
 * At the end every card present (-c N: wait for N) must still work: a fresh
 * open, IDENTIFY and a valid MVM job; no batch is left queued
 * (queue_depth 0), jobs_submitted = jobs_completed + jobs_failed, no ring
 * tag is left taken (debugfs); Slab (8 MiB) and MemAvailable (32 MiB) are
 * compared with the start. Then the summary and PASS or FAIL:
 *   FUZZ ioctl calls=N errors=N unexpected=N hangs=N ... per-kind counts
 *
 * A worker's operations follow from the seed and the worker number; which
 * of them race with which (and so some results) depends on the timing.
 *
 * usage: f_ioctl [-w WORKERS] [-n CALLS_TOTAL] [-d SECONDS] [-s SEED]
 *                [-c CARDS] [-F FAULTS | -P PERIOD] [-v]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define MAXW		16
#define NFD		8	/* fd slots per worker */
#define NTRACK		128	/* tracked batches per worker */
#define SLOT_WORDS	1024	/* output words of a tracked batch */
#define SCRATCH		(1u << 20)
#define SLACK_NS	(20ull * 1000000000ull)	/* TCG, several processes */
#define UD_TAG		0xf22aull		/* user_data bits 63:48 */
#define MAX_REPORTS	30

enum kind {
	K_OPEN, K_CLOSE, K_DUP, K_IDENTIFY, K_PROGRAM, K_READ, K_SUBMIT,
	K_WAIT, K_CANCEL, K_RESET, K_BADNR, K_RD, K_POLL, K_FORK, K_THREAD,
	K_PROBE, K_LEASE, K_MAX
};

static const char *const kname[K_MAX] = {
	"open", "close", "dup", "identify", "program", "read", "submit",
	"wait", "cancel", "reset", "badnr", "rd", "poll", "fork", "thread",
	"probe", "lease",
};

/* Per-worker counters and the call in progress, in shared memory. */
struct wstat {
	_Atomic uint64_t calls[K_MAX];
	_Atomic uint64_t errs[K_MAX];
	_Atomic uint64_t mutated;
	_Atomic uint64_t unexpected;
	_Atomic uint64_t slow;
	_Atomic uint64_t comps;		/* completions reaped */
	_Atomic uint64_t comp_ok;	/* ... with status 0 */
	_Atomic uint64_t enomem;
	/* blocking call in progress: main thread [0], helper thread [1] */
	_Atomic uint64_t deadline[2];
	_Atomic uint64_t opidx[2];
	_Atomic int opkind[2];
	_Atomic int hang_reported[2];
	_Atomic int finished;
};

struct shared {
	_Atomic int stop;
	_Atomic int reports;
	_Atomic uint64_t hangs;
	struct wstat w[MAXW];
};

static struct shared *sh;
static uint64_t g_seed;
static unsigned int g_timeout_ms = 5000;	/* module timeout_ms */
static int g_verbose;

/* ---- random numbers ---------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	return gt_rnd(&r->s);
}

static uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)gt_below(&r->s, n);
}

static int chance(struct rng *r, unsigned int per_mille)
{
	return below(r, 1000) < per_mille;
}

/* ---- worker state ------------------------------------------------------ */

struct fobj {
	int used;
	int refs;		/* fd slots pointing here */
	int shared;		/* a forked child used it: no exact tracking */
	uint32_t pending;	/* own unreaped batches known */
};

struct track {
	int used;
	int fo;
	uint64_t handle;
	uint64_t ud;
	uint32_t njobs;
	int slot;		/* output slot, -1 for none */
};

struct wk {
	int id;
	int child;		/* forked helper: no tracking */
	int can_reset;		/* has CAP_SYS_ADMIN */
	struct rng r;
	struct wstat *st;
	uint64_t op;		/* operation index */
	int fd[NFD];
	int fo[NFD];
	struct fobj fobj[NFD];
	struct track tr[NTRACK];
	uint8_t slot_used[NTRACK];
	int32_t *slots;		/* NTRACK * SLOT_WORDS output words */
	int16_t *inbuf;		/* inputs of valid jobs */
	uint32_t *words;	/* program words */
	uint32_t *rbuf;		/* read buffer */
	char *scr;		/* scratch: SCRATCH bytes RW, then guards */
	char *none_page;	/* PROT_NONE, right after the scratch */
	char *ro_page;		/* PROT_READ */
	long page;
	uint64_t ud_next;
};

static uint64_t now_ns(void)
{
	return gj_now_ns();
}

/* ---- checking ---------------------------------------------------------- */

static int errno_ok(enum kind k, int mutated, int err)
{
	/* valid arguments may not be refused */
	if (!mutated && (err == EINVAL || err == EFAULT) && k != K_OPEN)
		return 0;
	switch (k) {
	case K_OPEN:
		return err == ENOENT || err == ENXIO || err == ENODEV;
	case K_IDENTIFY:
	case K_PROGRAM:
	case K_READ:
		/*
		 * -ETIMEDOUT/-EIO: a hung card, a reset; -ENOMEM: 4 MiB;
		 * -EAGAIN: the card's pinned-memory cap; PROGRAM: -EBUSY,
		 * another file holds the array's lease
		 */
		return err == EINVAL || err == EFAULT || err == ENODEV ||
		       err == EIO || err == ETIMEDOUT || err == ENOMEM ||
		       err == EAGAIN || (k == K_PROGRAM && err == EBUSY);
	case K_LEASE:
		return err == EINVAL || err == EFAULT || err == ENODEV ||
		       err == EBUSY || err == EPERM || err == EBADF;
	case K_SUBMIT:
		return err == EINVAL || err == EFAULT || err == ENODEV ||
		       err == EIO || err == EAGAIN || err == ENOMEM ||
		       err == E2BIG;
	case K_WAIT:
		return err == EINVAL || err == EFAULT || err == ETIMEDOUT ||
		       err == ENOENT || err == ENODEV;
	case K_CANCEL:
		return err == EINVAL || err == EFAULT || err == ENOENT ||
		       err == EBUSY || err == EALREADY;
	case K_RESET:
		return err == EINVAL || err == EFAULT || err == EPERM ||
		       err == EIO || err == ENODEV;
	case K_BADNR:
		return err == ENOTTY;
	case K_RD:
		return err == EINVAL || err == EAGAIN || err == EFAULT ||
		       err == ENODEV;
	default:
		return 0;
	}
}

static void hexdump(char *out, size_t n, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < len && o + 3 < n; i++)
		o += snprintf(out + o, n - o, "%02x", b[i]);
}

/* Print a failure with what it takes to find the call again. */
static void report(struct wk *w, enum kind k, const char *what,
		   unsigned long req, const void *arg, size_t alen)
{
	char hex[2 * 300 + 1];

	atomic_fetch_add(&w->st->unexpected, 1);
	if (atomic_fetch_add(&sh->reports, 1) >= MAX_REPORTS)
		return;
	hex[0] = 0;
	if (arg && alen)
		hexdump(hex, sizeof(hex), arg, alen > 300 ? 300 : alen);
	fprintf(stderr,
		"UNEXPECTED seed=%" PRIu64 " worker=%d%s op=%" PRIu64 " kind=%s: %s req=%#lx arg=%s\n",
		g_seed, w->id, w->child ? "(child)" : "", w->op, kname[k],
		what, req, hex);
}

/* Count a call, check its errno. */
static void check(struct wk *w, enum kind k, int mutated, long rc, int err,
		  unsigned long req, const void *arg, size_t alen)
{
	char what[96];

	atomic_fetch_add(&w->st->calls[k], 1);
	if (mutated)
		atomic_fetch_add(&w->st->mutated, 1);
	if (rc >= 0)
		return;
	atomic_fetch_add(&w->st->errs[k], 1);
	if (err == ENOMEM)
		atomic_fetch_add(&w->st->enomem, 1);
	if (errno_ok(k, mutated, err))
		return;
	snprintf(what, sizeof(what), "%s rc %ld errno %d (%s)",
		 mutated ? "mutated" : "valid", rc, err, strerror(err));
	report(w, k, what, req, arg, alen);
}

/* Blocking-call bracket: the parent reports a call past its deadline. */
static uint64_t op_begin(struct wk *w, int th, enum kind k, uint64_t bound_ns)
{
	uint64_t t = now_ns();

	atomic_store(&w->st->opkind[th], k);
	atomic_store(&w->st->opidx[th], w->op);
	atomic_store(&w->st->deadline[th], t + bound_ns + SLACK_NS);
	return t;
}

static void op_end(struct wk *w, int th, enum kind k, uint64_t t0,
		   uint64_t bound_ns)
{
	uint64_t dt = now_ns() - t0;
	char what[96];

	atomic_store(&w->st->deadline[th], 0);
	if (dt > bound_ns + SLACK_NS) {
		atomic_fetch_add(&w->st->slow, 1);
		snprintf(what, sizeof(what),
			 "returned after %.1f s, bound %.1f s + slack",
			 dt / 1e9, bound_ns / 1e9);
		report(w, k, what, 0, NULL, 0);
	}
}

/* How long a synchronous command may take: a reset plus its own timeout. */
static uint64_t sync_bound(void)
{
	return 3ull * g_timeout_ms * 1000000ull;
}

/* A batch ends within its timeout after reaching the head of the card. */
static uint64_t batch_bound(void)
{
	return 60ull * 1000000000ull;
}

/* ---- bad pointers ------------------------------------------------------ */

/* A user address that is bad in one of many ways, or harmless scratch. */
static uint64_t bad_ptr(struct wk *w, size_t len)
{
	switch (below(&w->r, 12)) {
	case 0:
		return 0;
	case 1:
		return (uintptr_t)w->none_page + below(&w->r, (uint32_t)w->page);
	case 2:
		return (uintptr_t)w->ro_page;
	case 3:
		return 0xffff888000000000ull + (below(&w->r, 64) << 12);
	case 4:
		return 0xffffffff81000000ull;
	case 5:
		return 0x8000000000000000ull;	/* non-canonical */
	case 6:
		return 0x00007ffffffff000ull;	/* top of user space */
	case 7:	/* straddles into the PROT_NONE page */
		return (uintptr_t)w->scr + SCRATCH - (len ? len / 2 + 1 : 1);
	case 8:
		return (uintptr_t)w->scr + 1 + below(&w->r, 4096) * 2;
	case 9:
		return ~0ull - below(&w->r, 64);
	case 10:
		return (uintptr_t)w->scr + below(&w->r, SCRATCH / 2);
	default:
		return 4096 + below(&w->r, 1 << 16);	/* unmapped low */
	}
}

/* ---- the valid arguments ----------------------------------------------- */

static struct bnnacc_region rand_region(struct wk *w, unsigned int maxdim)
{
	struct bnnacc_region r;

	r.rows = 1 + below(&w->r, maxdim);
	r.cols = 1 + below(&w->r, maxdim);
	r.row = below(&w->r, BNNACC_ROWS - r.rows + 1);
	r.col = below(&w->r, BNNACC_COLS - r.cols + 1);
	return r;
}

/*
 * A valid MVM job on a random region of at most 32 x 32 with its inputs at
 * @in and outputs at @out (room for @outw words): count and repeat are cut
 * down to fit.
 */
static struct bnnacc_job rand_job(struct wk *w, int16_t *in, int32_t *out,
				  size_t outw)
{
	struct bnnacc_region r = rand_region(w, 32);
	unsigned int count = 1 + below(&w->r, 4);
	unsigned int repeat = below(&w->r, 3);
	size_t nin;

	while ((size_t)(repeat ? repeat : 1) * count * r.cols > outw) {
		if (repeat > 1)
			repeat--;
		else if (count > 1)
			count--;
		else
			r.cols = (uint16_t)outw;
	}
	nin = (size_t)count * r.rows;
	for (size_t i = 0; i < nin; i++)
		in[i] = (int16_t)(below(&w->r, 2 * BNNACC_INPUT_FS + 1) -
				  BNNACC_INPUT_FS);
	return gj_job(r, in, nin * 2, out,
		      (size_t)(repeat ? repeat : 1) * count * r.cols * 4,
		      count, repeat, below(&w->r, BNNACC_ADC_SHIFT_MAX + 1));
}

/* ---- fds ---------------------------------------------------------------- */

static int pick_fd(struct wk *w)
{
	int n = 0, idx[NFD];

	for (int i = 0; i < NFD; i++)
		if (w->fd[i] >= 0)
			idx[n++] = i;
	return n ? idx[below(&w->r, n)] : -1;
}

static int free_slot(struct wk *w)
{
	for (int i = 0; i < NFD; i++)
		if (w->fd[i] < 0)
			return i;
	return -1;
}

static void drop_tracks(struct wk *w, int fo)
{
	for (int i = 0; i < NTRACK; i++)
		if (w->tr[i].used && w->tr[i].fo == fo) {
			if (w->tr[i].slot >= 0)
				w->slot_used[w->tr[i].slot] = 0;
			w->tr[i].used = 0;
		}
}

static void op_open(struct wk *w)
{
	char path[32];
	int s = free_slot(w), fd, f;

	if (s < 0)
		return;
	snprintf(path, sizeof(path), "/dev/bnnacc%u",
		 chance(&w->r, 900) ? below(&w->r, 2) : below(&w->r, 4));
	fd = open(path, chance(&w->r, 200) ? O_RDWR | O_NONBLOCK : O_RDWR);
	check(w, K_OPEN, 0, fd, errno, 0, path, 0);
	if (fd < 0)
		return;
	for (f = 0; f < NFD && w->fobj[f].used; f++)
		;
	if (f == NFD) {		/* cannot happen: one fobj per slot at most */
		close(fd);
		return;
	}
	memset(&w->fobj[f], 0, sizeof(w->fobj[f]));
	w->fobj[f].used = 1;
	w->fobj[f].refs = 1;
	w->fobj[f].shared = w->child;
	w->fd[s] = fd;
	w->fo[s] = f;
}

static void slot_close(struct wk *w, int s)
{
	int rc, f = w->fo[s];

	rc = close(w->fd[s]);
	check(w, K_CLOSE, 0, rc, errno, 0, NULL, 0);
	w->fd[s] = -1;
	if (--w->fobj[f].refs == 0) {
		drop_tracks(w, f);
		w->fobj[f].used = 0;
	}
}

static void op_close(struct wk *w)
{
	int s = pick_fd(w);

	if (s >= 0)
		slot_close(w, s);
}

static void op_dup(struct wk *w)
{
	int s = pick_fd(w), d = free_slot(w), fd;

	if (s < 0 || d < 0)
		return;
	fd = dup(w->fd[s]);
	check(w, K_DUP, 0, fd, errno, 0, NULL, 0);
	if (fd < 0)
		return;
	w->fd[d] = fd;
	w->fo[d] = w->fo[s];
	w->fobj[w->fo[s]].refs++;
}

/* ---- completions ------------------------------------------------------- */

static struct track *find_track(struct wk *w, int fo, uint64_t h)
{
	for (int i = 0; i < NTRACK; i++)
		if (w->tr[i].used && w->tr[i].fo == fo && w->tr[i].handle == h)
			return &w->tr[i];
	return NULL;
}

/* A reaped completion: documented status, fields consistent. */
static void check_comp(struct wk *w, int fo, const struct bnnacc_completion *c,
		       uint64_t want_handle)
{
	int st = c->status, bad = 0;
	struct track *t = NULL;
	char what[160];

	atomic_fetch_add(&w->st->comps, 1);
	if (!st)
		atomic_fetch_add(&w->st->comp_ok, 1);
	if (st && st != -ETIMEDOUT && st != -EIO && st != -ECANCELED &&
	    st != -ENODEV && st != -EINVAL && st != -EFAULT)
		bad = 1;
	if (!c->handle || c->rsvd || (c->user_data >> 48) != UD_TAG)
		bad = 1;
	if (want_handle && c->handle != want_handle)
		bad = 1;
	if (fo >= 0 && !w->fobj[fo].shared && !w->child) {
		t = find_track(w, fo, c->handle);
		if (t && (c->user_data != t->ud || c->jobs_done > t->njobs ||
			  (!st && c->jobs_done != t->njobs)))
			bad = 1;
		if (w->fobj[fo].pending)
			w->fobj[fo].pending--;
	}
	if (!bad && t && !st && t->slot >= 0) {
		/* the first output word of a good batch is an ADC code */
		int32_t v = w->slots[(size_t)t->slot * SLOT_WORDS];

		if (v < -256 || v > 255)
			bad = 1;
	}
	if (bad) {
		snprintf(what, sizeof(what),
			 "completion handle %llu ud %#llx status %d jobs_done %u rsvd %llu (want handle %llu, %u jobs)",
			 (unsigned long long)c->handle,
			 (unsigned long long)c->user_data, st, c->jobs_done,
			 (unsigned long long)c->rsvd,
			 (unsigned long long)want_handle, t ? t->njobs : 0);
		report(w, K_WAIT, what, 0, c, sizeof(*c));
	}
	if (t) {
		if (t->slot >= 0)
			w->slot_used[t->slot] = 0;
		t->used = 0;
	}
}

/* ---- valid operations -------------------------------------------------- */

static void op_identify(struct wk *w, int s)
{
	struct bnnacc_identify_args a = { .size = sizeof(a) };
	uint64_t b = sync_bound(), t0;
	long rc;
	int err;

	t0 = op_begin(w, 0, K_IDENTIFY, b);
	rc = ioctl(w->fd[s], BNNACC_IOC_IDENTIFY, &a);
	err = errno;
	op_end(w, 0, K_IDENTIFY, t0, b);
	check(w, K_IDENTIFY, 0, rc, err, BNNACC_IOC_IDENTIFY, &a, 16);
	if (!rc && (a.id.magic != BNNACC_MAGIC ||
		    a.drv_version != BNNACC_ABI_VERSION ||
		    a.id.rows != BNNACC_ROWS))
		report(w, K_IDENTIFY, "bad answer", BNNACC_IOC_IDENTIFY, &a,
		       64);
}

static void op_program(struct wk *w, int s)
{
	struct bnnacc_region r = rand_region(w, 8);
	size_t n = (size_t)r.rows * r.cols;
	struct bnnacc_program_args a = {
		.size = sizeof(a), .region = r,
		.words = (uintptr_t)w->words, .words_len = (uint32_t)(n * 4),
	};
	uint64_t b = sync_bound(), t0;
	long rc;
	int err;

	for (size_t i = 0; i < n; i++) {
		switch (below(&w->r, 4)) {
		case 0:
			w->words[i] = BNNACC_PROG_WORD(BNNACC_PROG_SKIP, 0);
			break;
		case 1:
			w->words[i] = BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
			break;
		default:
			w->words[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET,
						       5000 + below(&w->r, 95001));
		}
	}
	t0 = op_begin(w, 0, K_PROGRAM, b);
	rc = ioctl(w->fd[s], BNNACC_IOC_PROGRAM, &a);
	err = errno;
	op_end(w, 0, K_PROGRAM, t0, b);
	check(w, K_PROGRAM, 0, rc, err, BNNACC_IOC_PROGRAM, &a, sizeof(a));
}

static void op_read(struct wk *w, int s)
{
	struct bnnacc_region r = rand_region(w, 16);
	uint32_t reads = below(&w->r, 3);
	size_t n = (size_t)r.rows * r.cols * (reads ? reads : 1);
	struct bnnacc_read_args a = {
		.size = sizeof(a), .region = r, .buf = (uintptr_t)w->rbuf,
		.buf_len = (uint32_t)(n * 4), .reads = reads,
	};
	uint64_t b = sync_bound(), t0;
	long rc;
	int err;

	t0 = op_begin(w, 0, K_READ, b);
	rc = ioctl(w->fd[s], BNNACC_IOC_READ, &a);
	err = errno;
	op_end(w, 0, K_READ, t0, b);
	check(w, K_READ, 0, rc, err, BNNACC_IOC_READ, &a, sizeof(a));
}

static int new_track(struct wk *w)
{
	for (int i = 0; i < NTRACK; i++)
		if (!w->tr[i].used)
			return i;
	return -1;
}

static void op_submit(struct wk *w, int s)
{
	struct bnnacc_job jobs[BNNACC_SUBMIT_MAX_JOBS];
	struct bnnacc_submit_args a = { .size = sizeof(a) };
	int fo = w->fo[s], ti = w->child ? -1 : new_track(w), slot = -1;
	unsigned int nj = chance(&w->r, 30) ? 1 + below(&w->r, 64) :
			  1 + below(&w->r, 4);
	int32_t *out;
	size_t outw, inoff = 0;
	long rc;
	int err;

	if (ti >= 0) {
		for (int i = 0; i < NTRACK; i++)
			if (!w->slot_used[i]) {
				slot = i;
				break;
			}
	}
	out = slot >= 0 ? w->slots + (size_t)slot * SLOT_WORDS :
			  (int32_t *)w->scr;
	outw = slot >= 0 ? SLOT_WORDS : SCRATCH / 4;
	for (unsigned int i = 0; i < nj; i++) {
		size_t per = outw / nj;

		jobs[i] = rand_job(w, w->inbuf + inoff, out + i * per, per);
		inoff += jobs[i].in_len / 2;
	}
	a.jobs = (uintptr_t)jobs;
	a.njobs = nj;
	a.job_size = sizeof(jobs[0]);
	a.timeout_ms = chance(&w->r, 300) ? 0 : chance(&w->r, 10) ?
		       1 + below(&w->r, 20) : 200 + below(&w->r, 1800);
	a.user_data = UD_TAG << 48 | (uint64_t)w->id << 40 | w->ud_next++;
	rc = ioctl(w->fd[s], BNNACC_IOC_SUBMIT, &a);
	err = errno;
	check(w, K_SUBMIT, 0, rc, err, BNNACC_IOC_SUBMIT, &a, sizeof(a));
	if (rc)
		return;
	if (!a.handle)
		report(w, K_SUBMIT, "handle 0", BNNACC_IOC_SUBMIT, &a,
		       sizeof(a));
	w->fobj[fo].pending++;
	if (ti < 0)
		return;
	w->tr[ti] = (struct track){ .used = 1, .fo = fo, .handle = a.handle,
				    .ud = a.user_data, .njobs = nj,
				    .slot = slot };
	if (slot >= 0) {
		w->slot_used[slot] = 1;
		out[0] = INT32_MIN;	/* overwritten by a good batch */
	}
}

/* A handle to wait on or cancel: own, 0, unknown, random. */
static uint64_t pick_handle(struct wk *w, int fo)
{
	int n = 0, idx[NTRACK];

	for (int i = 0; i < NTRACK; i++)
		if (w->tr[i].used && w->tr[i].fo == fo)
			idx[n++] = i;
	switch (below(&w->r, 8)) {
	case 0:
		return 0;
	case 1:
		return rnd(&w->r);
	case 2:
		return 1 + below(&w->r, 300);	/* maybe another file's */
	default:
		return n ? w->tr[idx[below(&w->r, n)]].handle :
			   1 + below(&w->r, 50);
	}
}

static void do_wait(struct wk *w, int th, int fd, int fo, uint64_t h,
		    int64_t tmo)
{
	struct bnnacc_wait_args a = {
		.size = sizeof(a), .handle = h, .timeout_ns = tmo,
	};
	uint64_t b = tmo < 0 ? batch_bound() : (uint64_t)tmo, t0;
	long rc;
	int err;

	t0 = op_begin(w, th, K_WAIT, b);
	rc = ioctl(fd, BNNACC_IOC_WAIT, &a);
	err = errno;
	op_end(w, th, K_WAIT, t0, b);
	if (th && rc && err == EBADF) {		/* closed under us */
		atomic_fetch_add(&w->st->calls[K_WAIT], 1);
		return;
	}
	check(w, K_WAIT, 0, rc, err, BNNACC_IOC_WAIT, &a, 32);
	if (!rc)
		check_comp(w, th ? -1 : fo, &a.comp, h);
}

static void op_wait(struct wk *w, int s)
{
	int fo = w->fo[s];
	uint64_t h = pick_handle(w, fo);
	int64_t tmo;

	/* wait forever only for a batch known to be ours and unreaped */
	if (h && find_track(w, fo, h) && !w->fobj[fo].shared &&
	    chance(&w->r, 100))
		tmo = -1;
	else if (chance(&w->r, 300))
		tmo = 0;
	else
		tmo = (int64_t)below(&w->r, 30) * 1000000;
	do_wait(w, 0, w->fd[s], fo, h, tmo);
}

static void op_cancel(struct wk *w, int s)
{
	struct bnnacc_cancel_args a = {
		.size = sizeof(a), .handle = pick_handle(w, w->fo[s]),
	};
	long rc = ioctl(w->fd[s], BNNACC_IOC_CANCEL, &a);

	check(w, K_CANCEL, 0, rc, errno, BNNACC_IOC_CANCEL, &a, sizeof(a));
}

static void op_reset(struct wk *w, int s)
{
	struct bnnacc_reset_args a = { .size = sizeof(a) };
	uint64_t b = sync_bound(), t0;
	long rc;
	int err;

	t0 = op_begin(w, 0, K_RESET, b);
	rc = ioctl(w->fd[s], BNNACC_IOC_RESET, &a);
	err = errno;
	op_end(w, 0, K_RESET, t0, b);
	check(w, K_RESET, 0, rc, err, BNNACC_IOC_RESET, &a, sizeof(a));
	if (w->can_reset == (rc == -1 && err == EPERM))
		report(w, K_RESET, w->can_reset ? "EPERM with CAP_SYS_ADMIN" :
		       "allowed without CAP_SYS_ADMIN", BNNACC_IOC_RESET, &a,
		       sizeof(a));
}

/* LEASE_ACQUIRE (now and then breaking it, as root) or LEASE_RELEASE. */
static void op_lease(struct wk *w, int s)
{
	struct bnnacc_lease_args a = { .size = sizeof(a) };
	int rel = chance(&w->r, 500);
	unsigned long req = rel ? BNNACC_IOC_LEASE_RELEASE :
				  BNNACC_IOC_LEASE_ACQUIRE;
	long rc;

	if (!rel && w->can_reset && chance(&w->r, 100))
		a.flags = BNNACC_LEASE_BREAK;
	rc = ioctl(w->fd[s], req, &a);
	/* RELEASE of a lease the file does not hold is -EINVAL by design */
	check(w, K_LEASE, rel, rc, errno, req, &a, sizeof(a));
}

static void do_rd(struct wk *w, struct rng *r, int th, int fd, int fo,
		  int block)
{
	struct bnnacc_completion c[4];
	size_t cnt = sizeof(c[0]) * (1 + below(r, 4));
	uint64_t b = block ? batch_bound() : 0, t0;
	int fl = fcntl(fd, F_GETFL), err;
	ssize_t rc;

	if (fl < 0) {
		if (!th)
			report(w, K_RD, "F_GETFL failed", 0, NULL, 0);
		return;
	}
	if (!block && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	else if (block && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	t0 = op_begin(w, th, K_RD, b);
	rc = read(fd, c, cnt);
	err = errno;
	op_end(w, th, K_RD, t0, b);
	if (fcntl(fd, F_SETFL, fl) < 0 && !th)
		report(w, K_RD, "F_SETFL failed", 0, NULL, 0);
	if (th && rc < 0 && err == EBADF) {
		atomic_fetch_add(&w->st->calls[K_RD], 1);
		return;
	}
	check(w, K_RD, 0, rc, err, 0, NULL, 0);
	if (rc < 0) {
		if (err == EFAULT && fo >= 0)
			w->fobj[fo].shared = 1;
		return;
	}
	if (rc % sizeof(c[0]) || (size_t)rc > cnt || !rc) {
		report(w, K_RD, "read() size not whole completions", 0, NULL,
		       0);
		return;
	}
	for (size_t i = 0; i < (size_t)rc / sizeof(c[0]); i++)
		check_comp(w, th ? -1 : fo, &c[i], 0);
}

static void op_rd(struct wk *w, int s)
{
	int fo = w->fo[s];
	int block = !w->fobj[fo].shared && !w->child &&
		    w->fobj[fo].pending && chance(&w->r, 150);

	do_rd(w, &w->r, 0, w->fd[s], fo, block);
}

static void do_poll(struct wk *w, int th, int fd, int tmo_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLPRI };
	uint64_t b = (uint64_t)tmo_ms * 1000000, t0;
	const short ok = POLLIN | POLLRDNORM | POLLERR | POLLHUP | POLLNVAL;
	int rc, err;

	t0 = op_begin(w, th, K_POLL, b);
	rc = poll(&p, 1, tmo_ms);
	err = errno;
	op_end(w, th, K_POLL, t0, b);
	atomic_fetch_add(&w->st->calls[K_POLL], 1);
	if (rc < 0 || (p.revents & ~ok) || (p.revents & POLLNVAL && !th)) {
		char what[64];

		snprintf(what, sizeof(what), "poll rc %d errno %d revents %#x",
			 rc, err, p.revents);
		report(w, K_POLL, what, 0, NULL, 0);
	}
}

/* ---- mutated ioctls ---------------------------------------------------- */

/* Every argument structure, valid before the mutation. */
union anyargs {
	struct bnnacc_identify_args id;
	struct bnnacc_program_args pr;
	struct bnnacc_read_args rd;
	struct bnnacc_submit_args sb;
	struct bnnacc_wait_args wt;
	struct bnnacc_cancel_args cn;
	struct bnnacc_reset_args rs;
	unsigned char b[512];
};

struct ptrfield {
	size_t off;
	size_t len;	/* bytes it points to, for straddling */
};

static const unsigned long reqs[] = {
	BNNACC_IOC_IDENTIFY, BNNACC_IOC_PROGRAM, BNNACC_IOC_READ,
	BNNACC_IOC_SUBMIT, BNNACC_IOC_WAIT, BNNACC_IOC_CANCEL,
	BNNACC_IOC_RESET,
};

static const enum kind req_kind[] = {
	K_IDENTIFY, K_PROGRAM, K_READ, K_SUBMIT, K_WAIT, K_CANCEL, K_RESET,
};

static uint32_t odd_u32(struct wk *w, uint32_t good)
{
	static const uint32_t v[] = {
		0, 1, 2, 0x7fffffff, 0x80000000u, 0xffffffffu, 0xfffffffeu,
		BNNACC_IO_MAX_BYTES, BNNACC_IO_MAX_BYTES + 1, 65, 64, 63,
		4096, 257, 256, 255,
	};

	switch (below(&w->r, 4)) {
	case 0:
		return v[below(&w->r, sizeof(v) / sizeof(v[0]))];
	case 1:
		return good + below(&w->r, 17) - 8;
	case 2:
		return good ^ (1u << below(&w->r, 32));
	default:
		return (uint32_t)rnd(&w->r);
	}
}

static void mutate_bytes(struct wk *w, unsigned char *p, size_t len,
			 const struct ptrfield *pf, int npf)
{
	size_t o;
	int n = 1 + below(&w->r, 4);

	for (int k = 0; k < n; k++) {
		o = below(&w->r, (uint32_t)len);
		/* keep pointer fields to the bad-pointer set */
		for (int i = 0; i < npf; i++)
			if (o >= pf[i].off && o < pf[i].off + 8)
				o = pf[i].off + 8 < len ? pf[i].off + 8 : 0;
		if (chance(&w->r, 500))
			p[o] ^= 1u << below(&w->r, 8);
		else
			p[o] = (unsigned char)rnd(&w->r);
	}
}

/*
 * A mutated job array in scratch: valid jobs into scratch buffers, then
 * some of them damaged. Outputs and inputs stay inside the scratch or in
 * the bad-pointer set, so nothing the worker owns is ever written.
 */
static struct bnnacc_job *mutated_jobs(struct wk *w, unsigned int n)
{
	struct bnnacc_job *j = (struct bnnacc_job *)(w->scr + SCRATCH / 2);
	int16_t *in = (int16_t *)(w->scr + SCRATCH / 2 + 64 * sizeof(*j));
	int32_t *out = (int32_t *)w->scr;
	size_t per = (SCRATCH / 4 / 4) / (n ? n : 1);

	if (n > 64)
		n = 64;
	for (unsigned int i = 0; i < n; i++)
		j[i] = rand_job(w, in + i * 32 * 4, out + i * per, per);
	for (unsigned int k = 0; k < 1 + below(&w->r, 3) && n; k++) {
		struct bnnacc_job *x = &j[below(&w->r, n)];

		switch (below(&w->r, 12)) {
		case 0:
			x->in = bad_ptr(w, x->in_len);
			break;
		case 1:
			x->out = bad_ptr(w, x->out_len);
			break;
		case 2:
			x->count = odd_u32(w, x->count);
			break;
		case 3:
			x->repeat = odd_u32(w, x->repeat);
			break;
		case 4:
			x->adc_shift = odd_u32(w, x->adc_shift);
			break;
		case 5:
			x->flags = 1u << below(&w->r, 32);
			break;
		case 6:
			x->rsvd = 1ull << below(&w->r, 64);
			break;
		case 7:
			x->in_len = odd_u32(w, x->in_len);
			break;
		case 8:
			x->out_len = odd_u32(w, x->out_len);
			break;
		case 9:
			x->region.rows = (uint16_t)odd_u32(w, x->region.rows);
			break;
		case 10:
			x->region.col = (uint16_t)odd_u32(w, x->region.col);
			break;
		default: {
			struct ptrfield pf[2] = {
				{ offsetof(struct bnnacc_job, in), 0 },
				{ offsetof(struct bnnacc_job, out), 0 },
			};

			mutate_bytes(w, (unsigned char *)x, sizeof(*x), pf, 2);
		}
		}
		/* never a huge allocation that passes: keep memory bounded */
		if ((uint64_t)x->count * x->region.rows * 2 > SCRATCH / 4 ||
		    (uint64_t)(x->repeat ? x->repeat : 1) * x->count *
		    x->region.cols * 4 > SCRATCH / 4) {
			if (chance(&w->r, 500))
				x->count = 0x40000000u;	/* refused: too big */
			else
				x->in_len = 0;		/* refused: short */
		}
	}
	return j;
}

static void op_mutated(struct wk *w, int s)
{
	int which = below(&w->r, 7);
	unsigned long req = reqs[which];
	enum kind k = req_kind[which];
	union anyargs abuf, *a;
	struct ptrfield pf[2];
	int npf = 0;
	size_t len = _IOC_SIZE(req), off;
	uint32_t *size_field;
	void *arg;
	uint64_t b = 0, t0;
	long rc;
	int err;

	/* built here, then placed in the scratch at a random offset */
	off = below(&w->r, 64) * 8;
	if (chance(&w->r, 100))	/* straddling into the PROT_NONE page */
		off = SCRATCH - len + 1 + below(&w->r, (uint32_t)len - 1);
	a = &abuf;
	memset(a, 0, sizeof(*a));
	switch (which) {
	case 0:
		a->id.size = sizeof(a->id);
		b = sync_bound();
		break;
	case 1: {
		struct bnnacc_region r = rand_region(w, 8);
		uint32_t *wd = (uint32_t *)(w->scr + SCRATCH / 4);

		for (size_t i = 0; i < (size_t)r.rows * r.cols; i++)
			wd[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET,
						 5000 + below(&w->r, 95001));
		a->pr = (struct bnnacc_program_args){
			.size = sizeof(a->pr), .region = r,
			.words = (uintptr_t)wd,
			.words_len = (uint32_t)r.rows * r.cols * 4,
		};
		pf[npf++] = (struct ptrfield){
			offsetof(struct bnnacc_program_args, words),
			a->pr.words_len };
		b = sync_bound();
		break;
	}
	case 2: {
		struct bnnacc_region r = rand_region(w, 16);

		a->rd = (struct bnnacc_read_args){
			.size = sizeof(a->rd), .region = r,
			.buf = (uintptr_t)w->scr, .reads = 1,
			.buf_len = (uint32_t)r.rows * r.cols * 4,
		};
		pf[npf++] = (struct ptrfield){
			offsetof(struct bnnacc_read_args, buf),
			a->rd.buf_len };
		b = sync_bound();
		break;
	}
	case 3: {
		unsigned int nj = chance(&w->r, 100) ? 1 + below(&w->r, 64) :
				  1 + below(&w->r, 4);

		a->sb = (struct bnnacc_submit_args){
			.size = sizeof(a->sb), .njobs = nj,
			.jobs = (uintptr_t)mutated_jobs(w, nj),
			.job_size = sizeof(struct bnnacc_job),
			.timeout_ms = 200 + below(&w->r, 1000),
			.user_data = UD_TAG << 48 | (uint64_t)w->id << 40 |
				     w->ud_next++,
		};
		pf[npf++] = (struct ptrfield){
			offsetof(struct bnnacc_submit_args, jobs),
			nj * sizeof(struct bnnacc_job) };
		break;
	}
	case 4:
		a->wt = (struct bnnacc_wait_args){
			.size = sizeof(a->wt),
			.handle = pick_handle(w, w->fo[s]),
			.timeout_ns = (int64_t)below(&w->r, 5) * 1000000,
		};
		b = 5000000;
		break;
	case 5:
		a->cn = (struct bnnacc_cancel_args){
			.size = sizeof(a->cn),
			.handle = pick_handle(w, w->fo[s]),
		};
		break;
	default:
		a->rs = (struct bnnacc_reset_args){ .size = sizeof(a->rs) };
		b = sync_bound();
		break;
	}
	size_field = &a->id.size;
	switch (below(&w->r, 6)) {
	case 0:
		*size_field = odd_u32(w, *size_field);
		break;
	case 1:		/* a pointer field, or the argument itself */
		if (npf && chance(&w->r, 700))
			*(uint64_t *)(a->b + pf[0].off) =
				bad_ptr(w, pf[0].len);
		else
			off = SIZE_MAX;
		break;
	case 2:		/* flags and reserved fields: the second word and tails */
		a->b[4 + below(&w->r, 4)] |= 1u << below(&w->r, 8);
		break;
	case 3:
		if (which == 4) {
			/* a WAIT timeout that is not small: only a check */
			a->wt.timeout_ns = chance(&w->r, 500) ? 0 : -1;
			if (a->wt.timeout_ns < 0 &&
			    (a->wt.handle == 0 ||
			     !find_track(w, w->fo[s], a->wt.handle) ||
			     w->fobj[w->fo[s]].shared || w->child))
				a->wt.timeout_ns = 0;
			if (a->wt.timeout_ns < 0)
				b = batch_bound();
			a->b[8 + below(&w->r, (uint32_t)len - 8)] ^=
				(unsigned char)(1u << below(&w->r, 8));
			break;
		}
		/* fall through */
	default:
		mutate_bytes(w, a->b, len, pf, npf);
		break;
	}
	/* the user_data tag is what completions are recognised by */
	if (which == 3)
		a->sb.user_data = (a->sb.user_data & 0xffffffffffffull) |
				  UD_TAG << 48;
	if (which == 4 && a->wt.timeout_ns > 50000000 &&
	    (a->wt.handle == 0 || !find_track(w, w->fo[s], a->wt.handle)))
		a->wt.timeout_ns = 1000000;	/* mutated into a long wait */
	if (which == 4 && a->wt.timeout_ns < 0)
		b = batch_bound();
	else if (which == 4)
		b = (uint64_t)a->wt.timeout_ns;
	if (off == SIZE_MAX) {
		arg = (void *)(uintptr_t)bad_ptr(w, len);
	} else {
		memcpy(w->scr + off, a, off + len > SCRATCH ? SCRATCH - off : len);
		arg = w->scr + off;
	}
	t0 = op_begin(w, 0, k, b);
	rc = ioctl(w->fd[s], req, arg);
	err = errno;
	op_end(w, 0, k, t0, b);
	if (k == K_RESET && !rc && !w->can_reset)
		report(w, k, "mutated RESET allowed without CAP_SYS_ADMIN",
		       req, a, len);
	if (k == K_RESET && rc && err == EPERM && w->can_reset)
		report(w, k, "mutated RESET: EPERM with CAP_SYS_ADMIN",
		       req, a, len);
	check(w, k, 1, rc, err, req, a, len);
	if (!rc && k == K_SUBMIT)
		w->fobj[w->fo[s]].pending++;	/* untracked handle */
	/* a batch reaped whose completion could not be written back */
	if (rc && err == EFAULT)
		w->fobj[w->fo[s]].shared = 1;
	if (!rc && k == K_WAIT) {
		if (off != SIZE_MAX && off + len <= SCRATCH)
			check_comp(w, w->fo[s],
				   &((struct bnnacc_wait_args *)arg)->comp, 0);
		else
			w->fobj[w->fo[s]].shared = 1;
	}
}

/* A random ioctl number that is none of ours and not a generic VFS one. */
static void op_badnr(struct wk *w, int s)
{
	unsigned long req;
	unsigned int type;
	long rc;

	do {
		unsigned int dir = below(&w->r, 4);
		unsigned int size = chance(&w->r, 500) ?
				    _IOC_SIZE(reqs[below(&w->r, 7)]) :
				    below(&w->r, 1u << 14);

		type = chance(&w->r, 600) ? BNNACC_IOC_MAGIC :
		       below(&w->r, 256);
		req = _IOC(dir, type, chance(&w->r, 600) ?
			   below(&w->r, 16) : below(&w->r, 256), size);
		if (chance(&w->r, 50))
			req = (unsigned long)rnd(&w->r) & 0xffffffffu;
		type = _IOC_TYPE(req);
		for (int i = 0; i < 7; i++)
			if ((uint32_t)req == (uint32_t)reqs[i])
				type = 'T';
	} while (type == 0 || type == 'T' || type == 'X' || type == 'f' ||
		 type == 0x94 || type == 0x15);
	rc = ioctl(w->fd[s], req,
		   chance(&w->r, 500) ? (void *)(uintptr_t)bad_ptr(w, 64) :
		   (void *)(w->scr + below(&w->r, 4096)));
	check(w, K_BADNR, 1, rc, errno, req, NULL, 0);
}

/* ---- a thread blocked on a file that is closed ------------------------ */

struct tharg {
	struct wk *w;
	int fd;
	int fo;
	int what;
	int block;	/* read() may block: a batch of the file is pending */
	struct rng r;
};

static void *blocker(void *p)
{
	struct tharg *t = p;
	struct wk *w = t->w;

	switch (t->what) {
	case 0:
		do_wait(w, 1, t->fd, t->fo, 0, 20000000 +
			(int64_t)below(&t->r, 200) * 1000000);
		break;
	case 1:
		do_poll(w, 1, t->fd, 20 + below(&t->r, 200));
		break;
	case 2:		/* blocks only for a batch known to be pending */
		do_rd(w, &t->r, 1, t->fd, -1, t->block);
		break;
	default: {	/* a synchronous command */
		struct bnnacc_identify_args a = { .size = sizeof(a) };
		uint64_t b = sync_bound(), t0 = op_begin(w, 1, K_IDENTIFY, b);
		long rc = ioctl(t->fd, BNNACC_IOC_IDENTIFY, &a);
		int err = errno;

		op_end(w, 1, K_IDENTIFY, t0, b);
		if (rc && err == EBADF)
			atomic_fetch_add(&w->st->calls[K_IDENTIFY], 1);
		else
			check(w, K_IDENTIFY, 0, rc, err, BNNACC_IOC_IDENTIFY,
			      &a, 16);
		break;
	}
	}
	return NULL;
}

static void op_thread(struct wk *w)
{
	int s = pick_fd(w), fo;
	struct tharg t;
	pthread_t th;
	struct timespec d = { 0, (long)below(&w->r, 30) * 1000000 };

	if (s < 0)
		return;
	fo = w->fo[s];
	t = (struct tharg){ .w = w, .fd = w->fd[s], .fo = fo,
			    .what = below(&w->r, 4),
			    .block = w->fobj[fo].pending && !w->fobj[fo].shared,
			    .r = { rnd(&w->r) } };
	/* the thread's reaps break exact tracking of this file */
	w->fobj[fo].shared = 1;
	atomic_fetch_add(&w->st->calls[K_THREAD], 1);
	if (pthread_create(&th, NULL, blocker, &t)) {
		report(w, K_THREAD, "pthread_create failed", 0, NULL, 0);
		return;
	}
	nanosleep(&d, NULL);
	slot_close(w, s);
	pthread_join(th, NULL);
}

/* ---- a forked child using the inherited files -------------------------- */

static void run_ops(struct wk *w, uint64_t n);

static void op_fork(struct wk *w)
{
	uint64_t cseed = rnd(&w->r);
	int status, kill_it = chance(&w->r, 300);
	pid_t pid;

	atomic_fetch_add(&w->st->calls[K_FORK], 1);
	for (int i = 0; i < NFD; i++)
		if (w->fd[i] >= 0)
			w->fobj[w->fo[i]].shared = 1;
	pid = fork();
	if (pid < 0) {
		report(w, K_FORK, "fork failed", 0, NULL, 0);
		return;
	}
	if (!pid) {
		w->child = 1;
		w->r.s = cseed;
		run_ops(w, 20 + below(&w->r, 60));
		_exit(0);
	}
	/* sometimes killed in the middle of whatever it is doing */
	if (kill_it) {
		struct timespec d = { 0, (long)below(&w->r, 20) * 1000000 };

		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid ||
	    (!kill_it && (!WIFEXITED(status) || WEXITSTATUS(status))) ||
	    (kill_it && !WIFSIGNALED(status) &&
	     (!WIFEXITED(status) || WEXITSTATUS(status))))
		report(w, K_FORK, "child did not exit cleanly", 0, NULL, 0);
	/* a killed child leaves its call bracket open */
	atomic_store(&w->st->deadline[0], 0);
}

/* ---- a bad output pointer must not cost a batch ------------------------ */

/* Put @len bytes of @src at the end of the read-only page; its address. */
static void *in_ro(struct wk *w, const void *src, size_t len)
{
	char *p = w->ro_page + w->page - len;

	if (mprotect(w->ro_page, w->page, PROT_READ | PROT_WRITE))
		return NULL;
	memcpy(p, src, len);
	if (mprotect(w->ro_page, w->page, PROT_READ))
		return NULL;
	return p;
}

/* Wait until the file has a completion to reap (or is gone). */
static int wait_readable(struct wk *w, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t b = batch_bound(), t0 = op_begin(w, 0, K_POLL, b);
	int rc = poll(&p, 1, (int)(b / 1000000));

	op_end(w, 0, K_POLL, t0, b);
	atomic_fetch_add(&w->st->calls[K_POLL], 1);
	return rc == 1 && (p.revents & POLLIN) ? 0 : -1;
}

/*
 * SUBMIT whose handle cannot be written back, WAIT whose completion
 * cannot be written back, read() into a read-only buffer: each fails with
 * -EFAULT, and the batch is neither queued (SUBMIT) nor lost (WAIT, read:
 * it is still there to reap). A fresh file, so its batches are all known.
 */
static void op_probe(struct wk *w)
{
	char path[32];
	struct bnnacc_job j = rand_job(w, w->inbuf, (int32_t *)w->scr, 256);
	struct bnnacc_submit_args sa = {
		.size = sizeof(sa), .jobs = (uintptr_t)&j, .njobs = 1,
		.job_size = sizeof(j), .timeout_ms = 2000,
		.user_data = UD_TAG << 48 | (uint64_t)w->id << 40,
	};
	struct bnnacc_wait_args wa = { .size = sizeof(wa) };
	struct bnnacc_completion c;
	void *ro;
	long rc;
	int fd, err;

	atomic_fetch_add(&w->st->calls[K_PROBE], 1);
	snprintf(path, sizeof(path), "/dev/bnnacc%u", below(&w->r, 2));
	fd = open(path, O_RDWR | O_NONBLOCK);	/* a lost batch: no hang */
	check(w, K_OPEN, 0, fd, errno, 0, path, 0);
	if (fd < 0)
		return;

	/* SUBMIT: arguments readable, handle not writable */
	ro = in_ro(w, &sa, sizeof(sa));
	rc = ro ? ioctl(fd, BNNACC_IOC_SUBMIT, ro) : 0;
	err = errno;
	check(w, K_SUBMIT, 1, rc, err, BNNACC_IOC_SUBMIT, &sa, sizeof(sa));
	if (ro && !rc)
		report(w, K_SUBMIT, "read-only args: no -EFAULT",
		       BNNACC_IOC_SUBMIT, &sa, sizeof(sa));
	if (ro && rc && err == EFAULT) {
		rc = gj_wait(fd, 0, 0, &c);
		check(w, K_WAIT, 0, rc ? -1 : 0, -rc, BNNACC_IOC_WAIT, NULL, 0);
		if (rc != -ENOENT && rc != -ENODEV)
			report(w, K_SUBMIT, "SUBMIT failed with -EFAULT but queued a batch",
			       BNNACC_IOC_SUBMIT, &sa, sizeof(sa));
		if (!rc)
			check_comp(w, -1, &c, 0);
	}

	/* WAIT: arguments readable, completion not writable */
	rc = ioctl(fd, BNNACC_IOC_SUBMIT, &sa);
	check(w, K_SUBMIT, 0, rc, errno, BNNACC_IOC_SUBMIT, &sa, sizeof(sa));
	if (rc || wait_readable(w, fd))
		goto out;
	wa.handle = sa.handle;
	ro = in_ro(w, &wa, sizeof(wa));
	rc = ro ? ioctl(fd, BNNACC_IOC_WAIT, ro) : -1;
	err = errno;
	check(w, K_WAIT, 1, rc, err, BNNACC_IOC_WAIT, &wa, 32);
	if (ro && (rc != -1 || err != EFAULT))
		report(w, K_WAIT, "read-only completion: no -EFAULT",
		       BNNACC_IOC_WAIT, &wa, 32);
	rc = gj_wait(fd, sa.handle, 0, &c);
	check(w, K_WAIT, 0, rc ? -1 : 0, -rc, BNNACC_IOC_WAIT, NULL, 0);
	if (rc)
		report(w, K_WAIT, "WAIT failed with -EFAULT and lost the batch",
		       BNNACC_IOC_WAIT, &wa, 32);
	else
		check_comp(w, -1, &c, sa.handle);

	/* read(): a read-only buffer */
	rc = ioctl(fd, BNNACC_IOC_SUBMIT, &sa);
	check(w, K_SUBMIT, 0, rc, errno, BNNACC_IOC_SUBMIT, &sa, sizeof(sa));
	if (rc || wait_readable(w, fd))
		goto out;
	rc = read(fd, w->ro_page, sizeof(c));
	err = errno;
	check(w, K_RD, 1, rc, err, 0, NULL, 0);
	if (rc != -1 || err != EFAULT)
		report(w, K_RD, "read() into a read-only buffer: no -EFAULT", 0,
		       NULL, 0);
	rc = read(fd, &c, sizeof(c));
	err = errno;
	check(w, K_RD, 0, rc, err, 0, NULL, 0);
	if (rc != sizeof(c))
		report(w, K_RD, "read() failed with -EFAULT and lost the batch",
		       0, NULL, 0);
	else
		check_comp(w, -1, &c, sa.handle);
out:
	rc = close(fd);
	check(w, K_CLOSE, 0, rc, errno, 0, NULL, 0);
}

/* ---- the loop ---------------------------------------------------------- */

static void one_op(struct wk *w)
{
	unsigned int x = below(&w->r, 1000);
	int s = pick_fd(w);

	w->op++;
	if (s < 0 || x < 30) {
		if (s < 0 || free_slot(w) >= 0)
			op_open(w);
		return;
	}
	if (x < 50) {
		op_close(w);
	} else if (x < 60) {
		op_dup(w);
	} else if (x < 100) {
		op_identify(w, s);
	} else if (x < 115) {
		op_program(w, s);
	} else if (x < 140) {
		op_read(w, s);
	} else if (x < 260) {
		op_submit(w, s);
	} else if (x < 360) {
		op_wait(w, s);
	} else if (x < 400) {
		op_cancel(w, s);
	} else if (x < 440) {
		op_rd(w, s);
	} else if (x < 480) {
		do_poll(w, 0, w->fd[s], chance(&w->r, 500) ? 0 :
			(int)below(&w->r, 20));
	} else if (x < 800) {
		op_mutated(w, s);
	} else if (x < 900) {
		op_badnr(w, s);
	} else if (x < 903 && !w->child) {
		op_thread(w);
	} else if (x < 904 && !w->child) {
		op_fork(w);
	} else if (x < 905 && !w->child) {
		op_probe(w);
	} else if (x == 905 && chance(&w->r, w->id == 0 || !w->can_reset ? 300 : 20)) {
		op_reset(w, s);
	} else if (x >= 906 && x < 916) {
		op_lease(w, s);
	} else {
		op_identify(w, s);
	}
}

/* System calls on the cards' files (fork, thread, probe: not counted). */
static uint64_t worker_calls(const struct wstat *s)
{
	uint64_t n = 0;

	for (int k = 0; k < K_MAX; k++)
		if (k != K_FORK && k != K_THREAD && k != K_PROBE)
			n += atomic_load(&s->calls[k]);
	return n;
}

static uint64_t total_calls(void)
{
	uint64_t n = 0;

	for (int i = 0; i < MAXW; i++)
		n += worker_calls(&sh->w[i]);
	return n;
}

/* @n operations (a forked child), or until the worker made @n calls. */
static void run_ops(struct wk *w, uint64_t n)
{
	for (uint64_t i = 0; !atomic_load(&sh->stop); i++) {
		if (w->child ? i >= n : worker_calls(w->st) >= n)
			break;
		one_op(w);
	}
}

static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	d[CAP_SYS_ADMIN / 32].permitted &= ~(1u << (CAP_SYS_ADMIN % 32));
	d[CAP_SYS_ADMIN / 32].inheritable &= ~(1u << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

static int worker(int id, int nw, uint64_t calls)
{
	struct wk *w = calloc(1, sizeof(*w));
	char *m;

	if (!w)
		return 1;
	w->id = id;
	w->st = &sh->w[id];
	w->r.s = g_seed * 0x100000001b3ull + (uint64_t)id * 7919 + 1;
	w->can_reset = 1;
	if (nw > 1 && id == nw - 1) {
		if (drop_sys_admin()) {
			perror("capset");
			return 1;
		}
		w->can_reset = 0;
	}
	for (int i = 0; i < NFD; i++)
		w->fd[i] = -1;
	w->page = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, SCRATCH + 2 * w->page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w->slots = calloc((size_t)NTRACK * SLOT_WORDS, 4);
	w->inbuf = calloc(64 * 32 * 4, 2);
	w->words = calloc(BNNACC_CELLS, 4);
	w->rbuf = calloc(3 * BNNACC_CELLS, 4);
	if (m == MAP_FAILED || !w->slots || !w->inbuf || !w->words ||
	    !w->rbuf)
		return 1;
	w->scr = m;
	w->none_page = m + SCRATCH;
	w->ro_page = m + SCRATCH + w->page;
	if (mprotect(w->none_page, w->page, PROT_NONE) ||
	    mprotect(w->ro_page, w->page, PROT_READ))
		return 1;
	run_ops(w, calls);
	for (int i = 0; i < NFD; i++)
		if (w->fd[i] >= 0)
			slot_close(w, i);
	atomic_store(&w->st->finished, 1);
	return 0;
}

/* ---- the parent -------------------------------------------------------- */

struct fault {
	char kind[16];
	double at;	/* fraction of the calls */
};

/* Does every card still work? A fresh open, IDENTIFY, one MVM job. */
static int final_check(int want_cards)
{
	int n = 0, bad = 0;

	for (int i = 0; i < 600; i++) {		/* a re-added card probes */
		n = 0;
		for (int c = 0; c < 8; c++) {
			char p[32];

			snprintf(p, sizeof(p), "/dev/bnnacc%d", c);
			n += access(p, F_OK) == 0;
		}
		if (n >= want_cards)
			break;
		gj_msleep(100);
	}
	if (n < want_cards) {
		fprintf(stderr, "FAIL: %d cards present, want %d\n", n,
			want_cards);
		bad = 1;
	}
	for (int c = 0; c < 8; c++) {
		char p[32], sd[64];
		struct bnnacc_identify_args a = { .size = sizeof(a) };
		int16_t in[4 * 8];
		int32_t out[4 * 8];
		struct bnnacc_job j;
		struct bnnacc_completion comp;
		uint64_t h = 0;
		long long sub, cpl, fl, qd;
		int fd, rc = -1;

		snprintf(p, sizeof(p), "/dev/bnnacc%d", c);
		if (access(p, F_OK))
			continue;
		for (int i = 0; i < 4 * 8; i++)
			in[i] = (int16_t)(i * 1000 - 16000);
		j = gj_job((struct bnnacc_region){ 8, 8, 8, 8 }, in,
			   sizeof(in), out, sizeof(out), 4, 1, 3);
		/*
		 * A hang injected near the end may still be armed: the first
		 * command then times out and resets the card; the next works.
		 */
		for (int tries = 0; tries < 2 && rc; tries++) {
			fd = open(p, O_RDWR);
			if (fd >= 0 && !ioctl(fd, BNNACC_IOC_IDENTIFY, &a) &&
			    a.id.magic == BNNACC_MAGIC &&
			    !gj_submit(fd, &j, 1, 5000, UD_TAG << 48, &h) &&
			    !gj_wait(fd, h, 20000000000ll, &comp) &&
			    !comp.status && comp.jobs_done == 1)
				rc = 0;
			if (rc)
				printf("final %s: try %d failed (errno %d)\n",
				       p, tries + 1, errno);
			if (fd >= 0)
				close(fd);
		}
		gj_sysdir(sd, sizeof(sd), p);
		sub = gj_sysfs_val(sd, "jobs_submitted");
		cpl = gj_sysfs_val(sd, "jobs_completed");
		fl = gj_sysfs_val(sd, "jobs_failed");
		qd = gj_sysfs_val(sd, "queue_depth");
		printf("final %s: %s; jobs submitted %lld completed %lld failed %lld queue_depth %lld resets %lld\n",
		       p, rc ? "FAILED" : "works", sub, cpl, fl, qd,
		       gj_sysfs_val(sd, "resets"));
		if (rc) {
			fprintf(stderr, "FAIL: %s does not work after the run (errno %d %s)\n",
				p, errno, strerror(errno));
			bad = 1;
		}
		if (qd != 0) {
			fprintf(stderr, "FAIL: %s queue_depth %lld with every file closed\n",
				p, qd);
			bad = 1;
		}
		if (sub >= 0 && sub != cpl + fl) {
			fprintf(stderr, "FAIL: %s: jobs submitted %lld != completed %lld + failed %lld with nothing queued\n",
				p, sub, cpl, fl);
			bad = 1;
		}
	}
	/* the ring of every card: no tag left taken */
	for (int c = 0; c < 8; c++) {
		char p[96], line[128];
		FILE *f;

		snprintf(p, sizeof(p), "/sys/kernel/debug/bnnacc/bnnacc%d/ring",
			 c);
		f = fopen(p, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned int v;

			if (sscanf(line, "inflight: %u", &v) == 1 && v) {
				fprintf(stderr, "FAIL: bnnacc%d: %u ring tags still taken\n",
					c, v);
				bad = 1;
			}
		}
		fclose(f);
	}
	return bad;
}

static int parse_faults(const char *s, struct fault *f, int max)
{
	int n = 0;
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save)) {
		char *at = strchr(tok, '@');

		if (!at)
			return -1;
		*at = 0;
		snprintf(f[n].kind, sizeof(f[n].kind), "%s", tok);
		f[n].at = atof(at + 1);
		n++;
	}
	return n;
}

static unsigned int read_timeout_param(void)
{
	FILE *f = fopen("/sys/module/bnnacc/parameters/timeout_ms", "r");
	unsigned int v = 5000;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 5000;
		fclose(f);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const char *const cycle[] = { "hang", "unplug", "add" };
	int nw = 4, want_cards = 0, nfaults = 0, fi = 0, fnum = 0, opt;
	uint64_t total = 20000, period = 0, next_periodic = 0;
	double secs = 0;
	struct fault faults[32];
	char pending_fault[64] = "";
	pid_t pids[MAXW];
	uint64_t t0, calls, errs = 0, unexp = 0, slow = 0, mutated = 0;
	uint64_t comps = 0, comp_ok = 0, enomem = 0, faults_done = 0;
	uint64_t t_report = 0;
	long long slab0, avail0, slab1, avail1;
	int bad = 0, alive;

	g_seed = (uint64_t)time(NULL);
	while ((opt = getopt(argc, argv, "w:n:d:s:c:F:P:v")) != -1) {
		switch (opt) {
		case 'w':
			nw = atoi(optarg);
			break;
		case 'n':
			total = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 's':
			g_seed = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			want_cards = atoi(optarg);
			break;
		case 'F':
			nfaults = parse_faults(optarg, faults, 32);
			if (nfaults < 0) {
				fprintf(stderr, "bad -F %s\n", optarg);
				return 2;
			}
			break;
		case 'P':
			period = strtoull(optarg, NULL, 0);
			next_periodic = period;
			break;
		case 'v':
			g_verbose = 1;
			break;
		default:
			fprintf(stderr, "usage: f_ioctl [-w WORKERS] [-n CALLS] [-d SECONDS] [-s SEED] [-c CARDS] [-F kind@frac,...] [-P PERIOD] [-v]\n");
			return 2;
		}
	}
	if (nw < 1 || nw > MAXW)
		nw = 4;
	g_timeout_ms = read_timeout_param();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	slab0 = gj_meminfo("Slab");
	avail0 = gj_meminfo("MemAvailable");
	printf("f_ioctl: seed=%" PRIu64 " workers=%d calls=%" PRIu64 " secs=%.0f module timeout_ms=%u\n",
	       g_seed, nw, total, secs, g_timeout_ms);
	fflush(stdout);
	t0 = now_ns();
	for (int i = 0; i < nw; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (!pids[i])
			_exit(worker(i, nw, secs > 0 ? UINT64_MAX :
				     total / nw + (i < (int)(total % nw))));
	}
	/* watch: progress, faults, hangs */
	do {
		uint64_t t = now_ns();

		gj_msleep(50);
		calls = total_calls();
		if (secs > 0 && t - t0 > secs * 1e9)
			atomic_store(&sh->stop, 1);
		for (int i = 0; i < nw; i++)
			for (int th = 0; th < 2; th++) {
				uint64_t d = atomic_load(&sh->w[i].deadline[th]);

				if (!d || t < d ||
				    atomic_exchange(&sh->w[i].hang_reported[th], 1))
					continue;
				atomic_fetch_add(&sh->hangs, 1);
				fprintf(stderr,
					"HANG seed=%" PRIu64 " worker=%d%s op=%" PRIu64 " kind=%s: blocked past its timeout + %llu s\n",
					g_seed, i, th ? " (thread)" : "",
					atomic_load(&sh->w[i].opidx[th]),
					kname[atomic_load(&sh->w[i].opkind[th])],
					SLACK_NS / 1000000000ull);
			}
		if (pending_fault[0]) {
			char p[128];

			snprintf(p, sizeof(p), "/mnt/host/%s", pending_fault);
			if (!access(p, F_OK)) {
				printf("f_ioctl: %s done at %" PRIu64 " calls\n",
				       pending_fault, calls);
				fflush(stdout);
				pending_fault[0] = 0;
				faults_done++;
			}
			goto no_new;
		} else if (fi < nfaults && !atomic_load(&sh->stop) &&
			   (secs > 0 ? (t - t0) / 1e9 >= faults[fi].at * secs :
			    calls >= faults[fi].at * total)) {
			snprintf(pending_fault, sizeof(pending_fault), "%s%d",
				 faults[fi].kind, ++fnum);
			fi++;
		} else if (period && calls >= next_periodic &&
			   calls + period / 2 < total &&
			   !atomic_load(&sh->stop)) {
			snprintf(pending_fault, sizeof(pending_fault), "%s%d",
				 cycle[fnum % 3], fnum + 1);
			fnum++;
			next_periodic = calls + period;
		} else {
			goto no_new;
		}
		if (pending_fault[0]) {
			printf("FAULT-REQUEST %s\n", pending_fault);
			fflush(stdout);
		}
no_new:
		alive = 0;
		for (int i = 0; i < nw; i++) {
			int st;

			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				if (!WIFEXITED(st) || WEXITSTATUS(st)) {
					fprintf(stderr, "FAIL: worker %d died (status %#x)\n",
						i, st);
					bad = 1;
				}
				pids[i] = 0;
			}
			alive += pids[i] > 0;
		}
		if (g_verbose && t - t_report > 5000000000ull) {
			t_report = t;
			fprintf(stderr, "progress: %" PRIu64 " calls, %.0f s\n",
				calls, (t - t0) / 1e9);
		}
	} while (alive || pending_fault[0]);

	/* a periodic cycle that ended with an unplug: plug a card back */
	if (period && fnum % 3 == 2) {
		char p[128];
		int i;

		snprintf(pending_fault, sizeof(pending_fault), "add%d", ++fnum);
		snprintf(p, sizeof(p), "/mnt/host/%s", pending_fault);
		printf("FAULT-REQUEST %s\n", pending_fault);
		fflush(stdout);
		for (i = 0; i < 1200 && access(p, F_OK); i++)
			gj_msleep(100);
		if (i < 1200) {
			faults_done++;
		} else {
			fprintf(stderr, "FAIL: no answer to %s\n", pending_fault);
			bad = 1;
		}
	}

	if (fi < nfaults) {
		fprintf(stderr, "FAIL: only %d of %d faults were requested: the run ended first\n",
			fi, nfaults);
		bad = 1;
	}
	bad |= final_check(want_cards);
	gj_msleep(500);
	slab1 = gj_meminfo("Slab");
	avail1 = gj_meminfo("MemAvailable");
	for (int i = 0; i < nw; i++) {
		struct wstat *s = &sh->w[i];

		for (int k = 0; k < K_MAX; k++)
			errs += atomic_load(&s->errs[k]);
		unexp += atomic_load(&s->unexpected);
		slow += atomic_load(&s->slow);
		mutated += atomic_load(&s->mutated);
		comps += atomic_load(&s->comps);
		comp_ok += atomic_load(&s->comp_ok);
		enomem += atomic_load(&s->enomem);
	}
	calls = total_calls();
	printf("f_ioctl: %.1f s, Slab %lld -> %lld kB, MemAvailable %lld -> %lld kB\n",
	       (now_ns() - t0) / 1e9, slab0, slab1, avail0, avail1);
	printf("fuzz_slab_growth_kb=%lld fuzz_avail_drop_kb=%lld\n",
	       slab1 - slab0, avail0 - avail1);
	if (slab1 - slab0 > 8192 || avail0 - avail1 > 32768) {
		fprintf(stderr, "FAIL: kernel memory grew: Slab %+lld kB, MemAvailable %+lld kB\n",
			slab1 - slab0, avail0 - avail1);
		bad = 1;
	}
	printf("FUZZ ioctl calls=%" PRIu64 " errors=%" PRIu64 " unexpected=%" PRIu64 " hangs=%" PRIu64 " slow=%" PRIu64 " mutated=%" PRIu64 " completions=%" PRIu64 " completions_ok=%" PRIu64 " enomem=%" PRIu64 " faults=%" PRIu64 " seed=%" PRIu64 " workers=%d secs=%.1f",
	       calls, errs, unexp, atomic_load(&sh->hangs), slow, mutated,
	       comps, comp_ok, enomem, faults_done, g_seed, nw,
	       (now_ns() - t0) / 1e9);
	for (int k = 0; k < K_MAX; k++) {
		uint64_t c = 0;

		for (int i = 0; i < nw; i++)
			c += atomic_load(&sh->w[i].calls[k]);
		printf(" %s=%" PRIu64, kname[k], c);
	}
	printf("\n");
	if (unexp || atomic_load(&sh->hangs) || slow)
		bad = 1;
	printf("f_ioctl: %s\n", bad ? "FAIL" : "PASS");
	return bad;
}
