// SPDX-License-Identifier: MIT
/*
 * t_compat - the ioctl ABI from a 64-bit and from a 32-bit (-m32, built as
 * t_compat32) process: the structures have the same size and layout in
 * both, and the driver serves both the same way: IDENTIFY, PROGRAM, a job
 * through SUBMIT/WAIT and one through read(), CANCEL of an unknown handle,
 * and every argument with a wrong size is refused with -EINVAL. A pointer
 * with bits above 31 set is not truncated by the driver (-EFAULT).
 *
 * usage: t_compat [DEV]
 */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

/* Same layout on i386 (4-byte aligned __u64) and x86-64. */
_Static_assert(sizeof(struct bnnacc_identify_args) == BNNACC_IDENTIFY_SIZE_VER1, "identify");
_Static_assert(offsetof(struct bnnacc_identify_args, generation) == BNNACC_IDENTIFY_SIZE_VER0,
	       "identify.generation");
_Static_assert(offsetof(struct bnnacc_identify_args, lease_pid) == 280, "identify.lease_pid");
_Static_assert(sizeof(struct bnnacc_lease_args) == BNNACC_LEASE_SIZE_VER0, "lease");
_Static_assert(offsetof(struct bnnacc_lease_args, generation) == 16, "lease.generation");
_Static_assert(sizeof(struct bnnacc_program_args) == BNNACC_PROGRAM_SIZE_VER0, "program");
_Static_assert(sizeof(struct bnnacc_read_args) == BNNACC_READ_SIZE_VER0, "read");
_Static_assert(sizeof(struct bnnacc_job) == BNNACC_JOB_SIZE_VER0, "job");
_Static_assert(sizeof(struct bnnacc_submit_args) == BNNACC_SUBMIT_SIZE_VER0, "submit");
_Static_assert(sizeof(struct bnnacc_wait_args) == BNNACC_WAIT_SIZE_VER0, "wait");
_Static_assert(sizeof(struct bnnacc_cancel_args) == BNNACC_CANCEL_SIZE_VER0, "cancel");
_Static_assert(sizeof(struct bnnacc_reset_args) == BNNACC_RESET_SIZE_VER0, "reset");
_Static_assert(sizeof(struct bnnacc_completion) == 48, "completion");
_Static_assert(offsetof(struct bnnacc_job, in) == 8, "job.in");
_Static_assert(offsetof(struct bnnacc_job, rsvd) == 48, "job.rsvd");
_Static_assert(offsetof(struct bnnacc_submit_args, jobs) == 8, "submit.jobs");
_Static_assert(offsetof(struct bnnacc_submit_args, user_data) == 32, "submit.user_data");
_Static_assert(offsetof(struct bnnacc_submit_args, handle) == 40, "submit.handle");
_Static_assert(offsetof(struct bnnacc_wait_args, timeout_ns) == 16, "wait.timeout_ns");
_Static_assert(offsetof(struct bnnacc_wait_args, comp) == 32, "wait.comp");
_Static_assert(offsetof(struct bnnacc_completion, busy_ns) == 24, "comp.busy_ns");
_Static_assert(offsetof(struct bnnacc_cancel_args, handle) == 8, "cancel.handle");
_Static_assert(offsetof(struct bnnacc_identify_args, id) == 16, "identify.id");
_Static_assert(offsetof(struct bnnacc_identify, serial) == 48, "identify.serial");

#define RROWS	4
#define RCOLS	8
#define COUNT	3

static int fd = -1;
static int16_t in[COUNT * RROWS];
static int32_t out[COUNT * RCOLS + 4];

static struct bnnacc_job good_job(void)
{
	return gj_job((struct bnnacc_region){ 0, 0, RROWS, RCOLS }, in,
		      sizeof(in), out, COUNT * RCOLS * 4, COUNT, 1, 5);
}

static int expect_einval(int line, unsigned long req, void *a, const char *what)
{
	return gj_expect_errno(__FILE__, line, what, fd, req, a, EINVAL);
}

#define BADSIZE(req, type, what) do {					\
	static const int32_t d[] = { -8, -4, 4, 8 };			\
	for (int k = 0; k < 4; k++) {					\
		type a;							\
		memset(&a, 0, sizeof(a));				\
		a.size = sizeof(a) + d[k];				\
		if (expect_einval(__LINE__, req, &a, what))		\
			return -1;					\
	}								\
} while (0)

static int run(void)
{
	struct bnnacc_identify_args id = { .size = sizeof(id) };
	uint32_t w[RROWS * RCOLS];
	struct bnnacc_program_args pa = {
		.size = sizeof(pa),
		.region = { 0, 0, RROWS, RCOLS },
		.words = (uintptr_t)w,
		.words_len = sizeof(w),
	};
	struct bnnacc_job j = good_job();
	struct bnnacc_submit_args s = {
		.size = sizeof(s),
		.jobs = (uintptr_t)&j,
		.njobs = 1,
		.job_size = sizeof(j),
		.user_data = 0xfedcba9876543210ull,
	};
	struct bnnacc_wait_args wa = { .size = sizeof(wa), .timeout_ns = -1 };
	struct bnnacc_cancel_args ca = { .size = sizeof(ca), .handle = 4242 };
	struct bnnacc_lease_args la;
	struct bnnacc_completion c;
	struct pollfd p;

	printf("t_compat: %zu-bit process\n", sizeof(void *) * 8);
	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, &id) == 0);
	CHECK(id.id.magic == BNNACC_MAGIC && id.drv_version == BNNACC_ABI_VERSION);
	CHECK(id.id.rows == BNNACC_ROWS && id.id.cols == BNNACC_COLS);
	printf("identify: serial %016llx\n", (unsigned long long)id.id.serial);
	for (int i = 0; i < RROWS * RCOLS; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 60000);
	CHECK(ioctl(fd, BNNACC_IOC_PROGRAM, &pa) == 0);
	/* the PROGRAM took the lease implicitly: generation and holder */
	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, &id) == 0);
	CHECK_MSG(id.generation >= 1 && id.lease_pid == (uint32_t)getpid(),
		  "generation %llu lease_pid %u", (unsigned long long)id.generation,
		  id.lease_pid);
	memset(&la, 0, sizeof(la));
	la.size = sizeof(la);
	CHECK(ioctl(fd, BNNACC_IOC_LEASE_RELEASE, &la) == 0);
	CHECK(la.generation == id.generation);

	/* SUBMIT / WAIT */
	for (int i = 0; i < COUNT * RROWS; i++)
		in[i] = BNNACC_INPUT_FS;
	for (int i = 0; i < COUNT * RCOLS + 4; i++)
		out[i] = 0x7eadbeef;
	CHECK(ioctl(fd, BNNACC_IOC_SUBMIT, &s) == 0);
	CHECK(s.handle != 0);
	wa.handle = s.handle;
	CHECK(ioctl(fd, BNNACC_IOC_WAIT, &wa) == 0);
	c = wa.comp;
	CHECK_MSG(c.handle == s.handle && c.user_data == s.user_data &&
		  c.status == 0 && c.jobs_done == 1 && c.busy_ns > 0,
		  "completion: handle %llu user_data %#llx status %d jobs_done %u",
		  (unsigned long long)c.handle,
		  (unsigned long long)c.user_data, c.status, c.jobs_done);
	for (int i = 0; i < COUNT * RCOLS; i++)
		CHECK_MSG(out[i] > 10 && out[i] <= 255, "out[%d] = %d", i,
			  out[i]);
	for (int i = COUNT * RCOLS; i < COUNT * RCOLS + 4; i++)
		CHECK(out[i] == 0x7eadbeef);
	printf("submit/wait: ok, codes %d %d %d\n", out[0], out[1], out[2]);

	/* SUBMIT / read() */
	s.user_data = 0x1122334455667788ull;
	CHECK(ioctl(fd, BNNACC_IOC_SUBMIT, &s) == 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	CHECK(poll(&p, 1, 10000) == 1);
	CHECK(read(fd, &c, sizeof(c)) == sizeof(c));
	CHECK(c.handle == s.handle && c.user_data == 0x1122334455667788ull &&
	      c.status == 0);
	printf("submit/read: ok\n");

	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_CANCEL, &ca), ENOENT);
	wa.handle = 0;
	wa.timeout_ns = 0;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_WAIT, &wa), ENOENT);

	/* wrong sizes of every argument */
	BADSIZE(BNNACC_IOC_IDENTIFY, struct bnnacc_identify_args, "identify");
	BADSIZE(BNNACC_IOC_PROGRAM, struct bnnacc_program_args, "program");
	BADSIZE(BNNACC_IOC_READ, struct bnnacc_read_args, "read");
	BADSIZE(BNNACC_IOC_SUBMIT, struct bnnacc_submit_args, "submit");
	BADSIZE(BNNACC_IOC_WAIT, struct bnnacc_wait_args, "wait");
	BADSIZE(BNNACC_IOC_CANCEL, struct bnnacc_cancel_args, "cancel");
	BADSIZE(BNNACC_IOC_RESET, struct bnnacc_reset_args, "reset");
	BADSIZE(BNNACC_IOC_LEASE_ACQUIRE, struct bnnacc_lease_args, "lease");
	BADSIZE(BNNACC_IOC_LEASE_RELEASE, struct bnnacc_lease_args, "lease");
	s.job_size = sizeof(j) - 8;
	CHECK(!expect_einval(__LINE__, BNNACC_IOC_SUBMIT, &s, "job_size - 8"));
	s.job_size = sizeof(j) + 8;
	CHECK(!expect_einval(__LINE__, BNNACC_IOC_SUBMIT, &s, "job_size + 8"));
	s.job_size = sizeof(j);

	/* a 64-bit pointer whose low half is valid must not be truncated */
	s.jobs = (uintptr_t)&j ^ 1ull << 40;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_SUBMIT, &s), EFAULT);
	s.jobs = (uintptr_t)&j;
	j.in = (uintptr_t)in ^ 1ull << 40;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_SUBMIT, &s), EFAULT);
	wa.timeout_ns = 0;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_WAIT, &wa), ENOENT);
	printf("bad sizes and pointers: rejected\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/bnnacc0";

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 1;
	}
	if (run())
		return 1;
	close(fd);
	printf("t_compat (%zu-bit): PASS\n", sizeof(void *) * 8);
	return 0;
}
