// SPDX-License-Identifier: MIT
/*
 * t_users - job contexts are per open file, and files share the card
 * round-robin:
 *
 *  - isolation: two processes (fork, each opening /dev/bnnacc0 itself)
 *    submit concurrently; each reaps exactly its own batches (WAIT on 0 and
 *    read()); a handle of one file is unknown to the other (WAIT and CANCEL
 *    give -ENOENT), and one file's completions do not wake the other's
 *    poll();
 *  - fairness: process A keeps 32 batches in flight, process B only 4, same
 *    batches; over the same window both progress and their completed
 *    batches are within a factor of 2 (a FIFO would give A about 8 times
 *    B's share).
 *
 * usage: t_users [window-seconds [DEV]]
 * Prints "users_fair a=N b=N ratio=R".
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

static const char *dev = "/dev/bnnacc0";

/* A batch of @nj jobs on the whole array, @count vectors each. */
struct batch {
	struct bnnacc_job j[BNNACC_SUBMIT_MAX_JOBS];
	int16_t *in;
	int32_t *out;
	unsigned int nj;
	uint64_t handle;
};

static int batch_init(struct batch *b, unsigned int nj, unsigned int count)
{
	size_t in_words = (size_t)count * BNNACC_ROWS;
	size_t out_words = (size_t)count * BNNACC_COLS;

	memset(b, 0, sizeof(*b));
	b->nj = nj;
	b->in = malloc(in_words * 2);
	b->out = malloc(out_words * 4 * nj);
	CHECK(b->in && b->out);
	for (size_t i = 0; i < in_words; i++)
		b->in[i] = (int16_t)((i * 7919) % 65536 - 32768);
	for (unsigned int k = 0; k < nj; k++) {
		b->j[k] = gj_job((struct bnnacc_region){ 0, 0, BNNACC_ROWS,
						       BNNACC_COLS },
				 b->in, in_words * 2, b->out + k * out_words,
				 out_words * 4, count, 1, 0);
	}
	return 0;
}

static int submit(int fd, struct batch *b, uint64_t user_data)
{
	uint64_t h = 0;

	CHECK(gj_submit(fd, b->j, b->nj, 0, user_data, &h) == 0);
	CHECK(h);
	b->handle = h;
	return 0;
}

static int xread(int fd, void *p, size_t n)
{
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static int xwrite(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* ---- isolation ---- */

#define NISO 16

/*
 * One side of the isolation test. @tag marks this side's user_data. The
 * parent submits first and sends its handles; the child, with nothing of
 * its own yet, must not know them (WAIT and CANCEL -ENOENT) nor see their
 * completions in poll(); then the child submits too and both reap
 * concurrently, each exactly its own batches.
 */
static int iso_side(int parent, uint64_t tag, int to, int from)
{
	static struct batch b[NISO];
	const char *who = parent ? "parent" : "child";
	struct bnnacc_completion c;
	uint64_t h[NISO], seen = 0;
	struct pollfd p;
	int fd, r;

	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (int i = 0; i < NISO; i++)
		CHECK(!batch_init(&b[i], 2, 4));
	CHECK(gj_wait(fd, 0, 0, NULL) == -ENOENT);
	if (parent) {
		for (int i = 0; i < NISO; i++) {
			CHECK(!submit(fd, &b[i], tag + i));
			h[i] = b[i].handle;
		}
		/* the first one has completed before the child looks */
		CHECK(poll(&p, 1, 20000) == 1);
		CHECK(!xwrite(to, h, sizeof(h)));
		CHECK(!xread(from, &seen, sizeof(seen)));
	} else {
		CHECK(!xread(from, h, sizeof(h)));
		for (int i = 0; i < NISO; i++) {
			r = gj_wait(fd, h[i], 0, NULL);
			CHECK_MSG(r == -ENOENT,
				  "child: WAIT on the parent's handle %llu: %d",
				  (unsigned long long)h[i], r);
			r = gj_cancel(fd, h[i]);
			CHECK_MSG(r == -ENOENT,
				  "child: CANCEL of the parent's handle %llu: %d",
				  (unsigned long long)h[i], r);
		}
		CHECK(gj_wait(fd, 0, 1000000, NULL) == -ENOENT);
		CHECK_MSG(poll(&p, 1, 50) == 0,
			  "the parent's completions wake the child's poll");
		CHECK(!xwrite(to, &seen, sizeof(seen)));
		for (int i = 0; i < NISO; i++)
			CHECK(!submit(fd, &b[i], tag + i));
	}
	for (int n = 0; n < NISO; n++) {
		if (!parent) {
			CHECK(poll(&p, 1, 20000) == 1 && (p.revents & POLLIN));
			CHECK(read(fd, &c, sizeof(c)) == sizeof(c));
		} else {
			CHECK(gj_wait(fd, 0, 20000000000ll, &c) == 0);
		}
		CHECK_MSG(c.user_data >= tag && c.user_data < tag + NISO,
			  "%s reaped user_data %#llx: not its own", who,
			  (unsigned long long)c.user_data);
		CHECK_MSG(c.status == 0, "%s: status %d", who, c.status);
		CHECK(c.handle == b[c.user_data - tag].handle);
		CHECK(!(seen & 1ull << (c.user_data - tag)));
		seen |= 1ull << (c.user_data - tag);
	}
	CHECK(gj_wait(fd, 0, 0, NULL) == -ENOENT);
	CHECK(poll(&p, 1, 0) == 0);
	/* sync: the peer is done too, then our poll still sees nothing */
	CHECK(!xwrite(to, &seen, sizeof(seen)));
	CHECK(!xread(from, &seen, sizeof(seen)));
	CHECK(poll(&p, 1, 0) == 0);
	close(fd);
	for (int i = 0; i < NISO; i++) {
		free(b[i].in);
		free(b[i].out);
	}
	printf("isolation %s: reaped its %d batches only (%s)\n", who, NISO,
	       parent ? "WAIT" : "read");
	return 0;
}

static int isolation(void)
{
	int p2c[2], c2p[2], st;
	pid_t pid;

	CHECK(pipe(p2c) == 0 && pipe(c2p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(iso_side(0, 0xc000, c2p[1], p2c[0]) ? 1 : 0);
	if (iso_side(1, 0xa000, p2c[1], c2p[0])) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	return 0;
}

/* ---- fairness ---- */

#define FAIR_JOBS	8
#define FAIR_COUNT	32

/*
 * Keep @depth batches in flight from the start time until the window ends;
 * count the batches that complete inside the window; report the count.
 */
static int fair_side(int depth, int go, int out)
{
	static struct batch b[32];
	struct bnnacc_completion c;
	uint64_t start, end, done = 0, total = 0;
	int fd, inflight = 0;

	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	for (int i = 0; i < depth; i++)
		CHECK(!batch_init(&b[i], FAIR_JOBS, FAIR_COUNT));
	CHECK(!xwrite(out, &done, sizeof(done)));	/* ready */
	CHECK(!xread(go, &start, sizeof(start)));
	CHECK(!xread(go, &end, sizeof(end)));
	for (int i = 0; i < depth; i++, inflight++)
		CHECK(!submit(fd, &b[i], i));
	while (gj_now_ns() < end) {
		CHECK(gj_wait(fd, 0, 20000000000ll, &c) == 0);
		CHECK_MSG(c.status == 0, "status %d", c.status);
		total++;
		if (gj_now_ns() < end)
			done++;
		CHECK(!submit(fd, &b[c.user_data], c.user_data));
	}
	while (gj_wait(fd, 0, 20000000000ll, &c) == 0)
		CHECK(c.status == 0);
	CHECK(!xwrite(out, &done, sizeof(done)));
	close(fd);
	return 0;
}

static int fairness(double window_s)
{
	int go[2][2], res[2][2], st;
	const int depth[2] = { 32, 4 };
	uint64_t n[2], start, end;
	pid_t pid[2];
	double ratio;

	for (int k = 0; k < 2; k++) {
		CHECK(pipe(go[k]) == 0 && pipe(res[k]) == 0);
		pid[k] = fork();
		CHECK(pid[k] >= 0);
		if (pid[k] == 0)
			_exit(fair_side(depth[k], go[k][0], res[k][1]) ? 1 : 0);
	}
	for (int k = 0; k < 2; k++)
		CHECK(!xread(res[k][0], &n[k], sizeof(n[k])));
	start = gj_now_ns();
	end = start + (uint64_t)(window_s * 1e9);
	for (int k = 0; k < 2; k++) {
		CHECK(!xwrite(go[k][1], &start, sizeof(start)));
		CHECK(!xwrite(go[k][1], &end, sizeof(end)));
	}
	for (int k = 0; k < 2; k++) {
		CHECK_MSG(!xread(res[k][0], &n[k], sizeof(n[k])),
			  "process %c gave no count", 'A' + k);
		CHECK(waitpid(pid[k], &st, 0) == pid[k]);
		CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "process %c status %#x", 'A' + k, st);
	}
	ratio = n[1] ? (double)n[0] / n[1] : 1e9;
	printf("users_fair a=%llu b=%llu ratio=%.3f (depths %d/%d, %.1f s)\n",
	       (unsigned long long)n[0], (unsigned long long)n[1], ratio,
	       depth[0], depth[1], window_s);
	CHECK_MSG(n[0] >= 5 && n[1] >= 5, "a process starved: %llu / %llu",
		  (unsigned long long)n[0], (unsigned long long)n[1]);
	CHECK_MSG(ratio >= 0.5 && ratio <= 2.0,
		  "completed batches A/B = %.2f, want 0.5..2", ratio);
	return 0;
}

int main(int argc, char **argv)
{
	double window = argc > 1 ? atof(argv[1]) : 4.0;

	if (argc > 2)
		dev = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (isolation() || fairness(window))
		return 1;
	printf("t_users: PASS\n");
	return 0;
}
