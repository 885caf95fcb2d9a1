// SPDX-License-Identifier: MIT
/*
 * t_owner - who may program the array, and how much coherent memory a card
 * may pin.
 *
 *   lease    one open file holds the array's lease: another file's PROGRAM
 *            and LEASE_ACQUIRE fail with EBUSY while READ and MVM jobs work;
 *            a file opened read-only may not program (EBADF); a PROGRAM
 *            without a lease takes it when it is free; RELEASE by a
 *            non-holder is EINVAL; BNNACC_LEASE_BREAK needs CAP_SYS_ADMIN
 *            (EPERM as uid 65534) and takes the lease from its holder;
 *            closing the holder frees it. The generation grows by one per
 *            PROGRAM and is the same in IDENTIFY (both sizes), the lease
 *            calls and sysfs; lease_pid names the holder.
 *   pinned   with sysfs pinned_max_bytes lowered to 2 MiB, four files
 *            submitting 256 KiB-output batches hit EAGAIN before the card
 *            pins more than the cap (sysfs pinned_bytes); after they are
 *            reaped the same batches fit again; pinned_bytes falls back
 *            when the files close.
 *   daemon PID
 *            bnnaccd (PID) serves the card: it holds the lease, so our
 *            PROGRAM fails with EBUSY; as root we break the lease and
 *            program a corner of the array behind the daemon (the case then
 *            checks that the daemon noticed and reprogrammed).
 *
 * usage: t_owner lease|pinned [DEV] | daemon PID [DEV]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define RROWS	16
#define RCOLS	32

static const char *dev = "/dev/bnnacc0";
static char sysdir[256];

static const struct bnnacc_region reg = { 0, 0, RROWS, RCOLS };

static int lease(int fd, unsigned long req, uint32_t flags, uint64_t *gen)
{
	struct bnnacc_lease_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	if (ioctl(fd, req, &a))
		return -errno;
	if (gen)
		*gen = a.generation;
	return 0;
}

/* IDENTIFY with @size; generation and holder to @gen, @pid. */
static int ident(int fd, uint32_t size, uint64_t *gen, uint32_t *pid)
{
	struct bnnacc_identify_args a;

	memset(&a, 0, sizeof(a));
	a.size = size;
	if (ioctl(fd, BNNACC_IOC_IDENTIFY, &a))
		return -errno;
	if (gen)
		*gen = a.generation;
	if (pid)
		*pid = a.lease_pid;
	return 0;
}

/* One MVM job on the region works from @fd. */
static int mvm_works(int fd)
{
	int16_t in[RROWS];
	int32_t out[RCOLS];
	struct bnnacc_job j = gj_job(reg, in, sizeof(in), out, sizeof(out),
				     1, 1, 3);
	struct bnnacc_completion c;
	uint64_t h;

	for (int i = 0; i < RROWS; i++)
		in[i] = BNNACC_INPUT_FS / 2;
	CHECK(gj_submit(fd, &j, 1, 0, 1, &h) == 0);
	CHECK(gj_wait(fd, h, -1, &c) == 0);
	CHECK_MSG(c.status == 0, "MVM status %d", c.status);
	return 0;
}

static int read_works(int fd)
{
	uint32_t ns[RROWS * RCOLS];
	struct bnnacc_read_args a = {
		.size = sizeof(a), .region = reg, .buf = (uintptr_t)ns,
		.buf_len = sizeof(ns),
	};

	CHECK(ioctl(fd, BNNACC_IOC_READ, &a) == 0);
	return 0;
}

static int mode_lease(void)
{
	uint64_t g0, g, g2;
	uint32_t pid;
	int a, b, ro;
	pid_t child;
	int st;

	a = open(dev, O_RDWR);
	b = open(dev, O_RDWR);
	ro = open(dev, O_RDONLY);
	CHECK(a >= 0 && b >= 0 && ro >= 0);

	CHECK(ident(a, BNNACC_IDENTIFY_SIZE_VER1, &g0, &pid) == 0);
	CHECK_MSG(pid == 0, "lease held at start by %u", pid);
	CHECK(gj_sysfs_val(sysdir, "generation") == (long long)g0);

	/* a takes it; b may not program or take it; reading is free */
	CHECK(lease(a, BNNACC_IOC_LEASE_ACQUIRE, 0, &g) == 0 && g == g0);
	CHECK(lease(a, BNNACC_IOC_LEASE_ACQUIRE, 0, NULL) == 0);
	CHECK(gj_sysfs_val(sysdir, "lease_pid") == getpid());
	CHECK(gj_program_set(a, reg, 40000) == 0);
	CHECK_ERRNO(gj_program_set(b, reg, 40000) ? -1 : 0, EBUSY);
	CHECK(lease(b, BNNACC_IOC_LEASE_ACQUIRE, 0, NULL) == -EBUSY);
	CHECK(lease(b, BNNACC_IOC_LEASE_RELEASE, 0, NULL) == -EINVAL);
	CHECK(!read_works(b) && !mvm_works(b));
	CHECK(!read_works(ro) && !mvm_works(ro));
	/* read-only: no programming, no lease */
	CHECK_ERRNO(gj_program_set(ro, reg, 40000) ? -1 : 0, EBADF);
	CHECK(lease(ro, BNNACC_IOC_LEASE_ACQUIRE, 0, NULL) == -EBADF);

	/* one generation per PROGRAM that reached the card */
	CHECK(ident(b, BNNACC_IDENTIFY_SIZE_VER1, &g, &pid) == 0);
	CHECK_MSG(g == g0 + 1 && pid == (uint32_t)getpid(),
		  "generation %llu (from %llu) pid %u",
		  (unsigned long long)g, (unsigned long long)g0, pid);
	CHECK(ident(b, BNNACC_IDENTIFY_SIZE_VER0, NULL, NULL) == 0);
	CHECK(gj_sysfs_val(sysdir, "generation") == (long long)g);
	printf("lease: holder programs (generation %llu -> %llu), others get EBUSY, read-only EBADF\n",
	       (unsigned long long)g0, (unsigned long long)g);

	/* reserved fields and flags */
	{
		struct bnnacc_lease_args l = { .size = sizeof(l), .flags = 2 };

		CHECK_ERRNO(ioctl(a, BNNACC_IOC_LEASE_ACQUIRE, &l), EINVAL);
		l.flags = 0;
		l.rsvd = 1;
		CHECK_ERRNO(ioctl(a, BNNACC_IOC_LEASE_ACQUIRE, &l), EINVAL);
		l.rsvd = 0;
		l.flags = BNNACC_LEASE_BREAK;
		CHECK_ERRNO(ioctl(a, BNNACC_IOC_LEASE_RELEASE, &l), EINVAL);
	}

	/* released: b's PROGRAM takes it implicitly */
	CHECK(lease(a, BNNACC_IOC_LEASE_RELEASE, 0, NULL) == 0);
	CHECK(gj_sysfs_val(sysdir, "lease_pid") == 0);
	CHECK(gj_program_set(b, reg, 45000) == 0);
	CHECK_ERRNO(gj_program_set(a, reg, 45000) ? -1 : 0, EBUSY);

	/* breaking needs CAP_SYS_ADMIN */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		_exit(lease(a, BNNACC_IOC_LEASE_ACQUIRE, BNNACC_LEASE_BREAK,
			    NULL) == -EPERM ? 0 : 1);
	}
	CHECK(waitpid(child, &st, 0) == child);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "BREAK as uid 65534: exit %#x (want EPERM)", st);
	CHECK(lease(a, BNNACC_IOC_LEASE_ACQUIRE, BNNACC_LEASE_BREAK, NULL) == 0);
	CHECK_ERRNO(gj_program_set(b, reg, 45000) ? -1 : 0, EBUSY);
	CHECK(gj_program_set(a, reg, 50000) == 0);
	printf("lease: released, taken implicitly, broken by root (EPERM as uid 65534)\n");

	/* closing the holder frees it */
	close(a);
	CHECK(ident(b, BNNACC_IDENTIFY_SIZE_VER1, &g2, &pid) == 0);
	CHECK_MSG(pid == 0, "lease_pid %u after the holder closed", pid);
	CHECK_MSG(g2 == g + 2, "generation %llu, want %llu",
		  (unsigned long long)g2, (unsigned long long)g + 2);
	CHECK(lease(b, BNNACC_IOC_LEASE_ACQUIRE, 0, NULL) == 0);
	close(b);
	close(ro);
	printf("t_owner lease: PASS\n");
	return 0;
}

#define NFILES		4
#define PER_FILE	8
#define OUT_BYTES	(256 << 10)	/* one job's output */

static int mode_pinned(void)
{
	static int32_t out[NFILES][PER_FILE][OUT_BYTES / 4];
	int16_t in[RROWS * 64];
	long long cap0, cap = 2 << 20, peak = 0, p;
	unsigned int repeat = OUT_BYTES / (64 * RCOLS * 4);
	int fd[NFILES], queued[NFILES] = { 0 }, eagain = 0;
	char path[512];
	FILE *f;

	for (int i = 0; i < RROWS * 64; i++)
		in[i] = BNNACC_INPUT_FS / 4;
	cap0 = gj_sysfs_val(sysdir, "pinned_max_bytes");
	CHECK(cap0 > 0);
	snprintf(path, sizeof(path), "%s/pinned_max_bytes", sysdir);
	f = fopen(path, "w");
	CHECK(f && fprintf(f, "%lld\n", cap) > 0 && !fclose(f));
	CHECK(gj_sysfs_val(sysdir, "pinned_max_bytes") == cap);
	for (int k = 0; k < NFILES; k++) {
		fd[k] = open(dev, O_RDWR);
		CHECK(fd[k] >= 0);
	}
	/* a hung card would end this early: fill while jobs run */
	for (int r = 0; r < PER_FILE; r++)
		for (int k = 0; k < NFILES; k++) {
			struct bnnacc_job j = gj_job(reg, in, sizeof(in),
						     out[k][r], OUT_BYTES,
						     64, repeat, 3);
			uint64_t h;
			int rc = gj_submit(fd[k], &j, 1, 0, r, &h);

			if (rc == -EAGAIN) {
				eagain++;
				continue;
			}
			CHECK_MSG(rc == 0, "submit: %d", rc);
			queued[k]++;
			p = gj_sysfs_val(sysdir, "pinned_bytes");
			peak = p > peak ? p : peak;
		}
	printf("pinned: %d of %d batches refused with EAGAIN, peak %lld bytes pinned (cap %lld)\n",
	       eagain, NFILES * PER_FILE, peak, cap);
	CHECK_MSG(eagain > 0, "no batch was refused under a %lld-byte cap", cap);
	CHECK_MSG(peak <= cap, "pinned %lld over the cap %lld", peak, cap);
	for (int k = 0; k < NFILES; k++)
		for (int i = 0; i < queued[k]; i++) {
			struct bnnacc_completion c = { 0 };

			CHECK(gj_wait(fd[k], 0, -1, &c) == 0);
			CHECK_MSG(c.status == 0, "status %d", c.status);
		}
	/* reaped: room again */
	for (int k = 0; k < NFILES; k++) {
		struct bnnacc_job j = gj_job(reg, in, sizeof(in), out[k][0],
					     OUT_BYTES, 64, repeat, 3);
		struct bnnacc_completion c;
		uint64_t h;

		CHECK(gj_submit(fd[k], &j, 1, 0, 99, &h) == 0);
		CHECK(gj_wait(fd[k], h, -1, &c) == 0 && c.status == 0);
	}
	for (int k = 0; k < NFILES; k++)
		close(fd[k]);
	p = gj_sysfs_val(sysdir, "pinned_bytes");
	printf("pinned: %lld bytes after the files closed\n", p);
	CHECK_MSG(p < 64 << 10, "%lld bytes still pinned", p);
	f = fopen(path, "w");
	CHECK(f && fprintf(f, "%lld\n", cap0) > 0 && !fclose(f));
	printf("t_owner pinned: PASS\n");
	return 0;
}

static int mode_daemon(pid_t daemon)
{
	uint32_t pid;
	uint64_t g0, g;
	int fd;

	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	CHECK(ident(fd, BNNACC_IDENTIFY_SIZE_VER1, &g0, &pid) == 0);
	CHECK_MSG(pid == (uint32_t)daemon, "lease held by %u, not bnnaccd (%d)",
		  pid, (int)daemon);
	CHECK_ERRNO(gj_program_set(fd, reg, 30000) ? -1 : 0, EBUSY);
	CHECK(lease(fd, BNNACC_IOC_LEASE_ACQUIRE, BNNACC_LEASE_BREAK, NULL) == 0);
	CHECK(gj_program_set(fd, (struct bnnacc_region){ 0, 0, 4, 4 },
			     30000) == 0);
	CHECK(ident(fd, BNNACC_IDENTIFY_SIZE_VER1, &g, &pid) == 0);
	CHECK(g == g0 + 1 && pid == (uint32_t)getpid());
	close(fd);
	printf("t_owner daemon: bnnaccd (%d) held the lease; broken, programmed behind it (generation %llu)\n",
	       (int)daemon, (unsigned long long)g);
	printf("t_owner daemon: PASS\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: t_owner lease|pinned [DEV] | daemon PID [DEV]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "daemon")) {
		if (argc < 3)
			return usage();
		if (argc > 3)
			dev = argv[3];
		return mode_daemon((pid_t)atoi(argv[2])) ? 1 : 0;
	}
	if (argc > 2)
		dev = argv[2];
	gj_sysdir(sysdir, sizeof(sysdir), dev);
	/* a region to read and multiply: programmed, lease released */
	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	CHECK(gj_program_set(fd, reg, 40000) == 0);
	close(fd);
	if (!strcmp(argv[1], "lease"))
		return mode_lease() ? 1 : 0;
	if (!strcmp(argv[1], "pinned"))
		return mode_pinned() ? 1 : 0;
	return usage();
}
