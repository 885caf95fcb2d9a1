/* SPDX-License-Identifier: MIT */
/*
 * gjob.h - helpers shared by the guest test programs of the VM bench: the
 * clock, sleeping, /proc/meminfo, the card's sysfs directory and counters,
 * filling a job, PROGRAM of a uniform region, the SUBMIT / WAIT / CANCEL /
 * RESET ioctls and "this ioctl must fail with errno E".
 *
 * Everything is static inline, so a program that includes this header and
 * uses only part of it still builds with -Wall -Wextra -Werror (an unused
 * static inline function draws no -Wunused-function). C11; also builds
 * with -m32 (t_compat32).
 *
 * Convention: the ioctl wrappers return 0 or -errno and leave errno as the
 * ioctl set it, so a CHECK() on their result still prints the real errno.
 */
#ifndef BNNACC_GJOB_H
#define BNNACC_GJOB_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc.h"

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t gj_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

/* Sleep @ms milliseconds. */
static inline void gj_msleep(unsigned int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&t, NULL);
}

/*
 * The value of the /proc/meminfo line @key ("Slab", "MemAvailable"), in kB;
 * -1 when there is none.
 */
static inline long long gj_meminfo(const char *key)
{
	char line[256];
	long long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");

	/* fold the per-CPU counter deltas into the global ones first */
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = atoll(line + kl + 1);
	fclose(f);
	return v;
}

/*
 * The sysfs directory of the card behind the device node @dev
 * ("/dev/bnnacc0" -> "/sys/class/bnnacc/bnnacc0") into @buf.
 */
static inline void gj_sysdir(char *buf, size_t size, const char *dev)
{
	const char *name = strrchr(dev, '/');

	snprintf(buf, size, "/sys/class/bnnacc/%s", name ? name + 1 : dev);
}

/*
 * The integer value of the sysfs attribute @attr in the card directory
 * @sysdir; -1 when the attribute does not exist or does not parse.
 */
static inline long long gj_sysfs_val(const char *sysdir, const char *attr)
{
	char path[512];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sysdir, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * A job on region @r: @count input vectors at @in (@in_len bytes), outputs
 * to @out (@out_len bytes), @repeat and @adc_shift as given (repeat is not
 * defaulted: 0 is passed through), flags and rsvd 0.
 */
static inline struct bnnacc_job gj_job(struct bnnacc_region r,
				       const void *in, size_t in_len,
				       void *out, size_t out_len,
				       unsigned int count, unsigned int repeat,
				       unsigned int adc_shift)
{
	struct bnnacc_job j = {
		.region = r,
		.in = (uintptr_t)in,
		.out = (uintptr_t)out,
		.in_len = (uint32_t)in_len,
		.out_len = (uint32_t)out_len,
		.count = count,
		.repeat = repeat,
		.adc_shift = adc_shift,
	};

	return j;
}

/*
 * PROGRAM every cell of region @r with a SET pulse of @na nanoamperes
 * (BNNACC_PROG_WORD). Returns 0 or -errno.
 */
static inline int gj_program_set(int fd, struct bnnacc_region r,
				 uint32_t na)
{
	size_t n = (size_t)r.rows * r.cols;
	uint32_t *w = malloc(n * sizeof(*w));
	struct bnnacc_program_args a = {
		.size = sizeof(a),
		.region = r,
		.words = (uintptr_t)w,
		.words_len = (uint32_t)(n * sizeof(*w)),
	};
	int rc, err;

	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		w[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, na);
	rc = ioctl(fd, BNNACC_IOC_PROGRAM, &a);
	err = errno;
	free(w);
	errno = err;
	return rc ? -err : 0;
}

/*
 * SUBMIT @n jobs @jobs (contiguous) with @timeout_ms (0: the default) and
 * @user_data; the new handle to *@handle. Returns 0 or -errno.
 */
static inline int gj_submit(int fd, const struct bnnacc_job *jobs,
			    unsigned int n, unsigned int timeout_ms,
			    uint64_t user_data, uint64_t *handle)
{
	struct bnnacc_submit_args a = {
		.size = sizeof(a),
		.jobs = (uintptr_t)jobs,
		.njobs = n,
		.job_size = sizeof(jobs[0]),
		.timeout_ms = timeout_ms,
		.user_data = user_data,
	};

	if (ioctl(fd, BNNACC_IOC_SUBMIT, &a))
		return -errno;
	*handle = a.handle;
	return 0;
}

/*
 * WAIT on @handle (0: any batch of this file) for @timeout_ns (0: only
 * check, negative: forever); the completion to *@c unless @c is NULL.
 * Returns 0 or -errno.
 */
static inline int gj_wait(int fd, uint64_t handle, int64_t timeout_ns,
			  struct bnnacc_completion *c)
{
	struct bnnacc_wait_args a = {
		.size = sizeof(a), .handle = handle, .timeout_ns = timeout_ns,
	};

	if (ioctl(fd, BNNACC_IOC_WAIT, &a))
		return -errno;
	if (c)
		*c = a.comp;
	return 0;
}

/* CANCEL @handle. Returns 0 or -errno. */
static inline int gj_cancel(int fd, uint64_t handle)
{
	struct bnnacc_cancel_args a = { .size = sizeof(a), .handle = handle };

	return ioctl(fd, BNNACC_IOC_CANCEL, &a) ? -errno : 0;
}

/* RESET the card. Returns 0 or -errno. */
static inline int gj_reset(int fd)
{
	struct bnnacc_reset_args a = { .size = sizeof(a) };

	return ioctl(fd, BNNACC_IOC_RESET, &a) ? -errno : 0;
}

/*
 * ioctl(@fd, @req, @arg) must fail with errno @err. Returns 0 when it does;
 * else prints "FAIL @file:@line: @what: want errno ..., got rc ... errno ..."
 * and returns -1.
 */
static inline int gj_expect_errno(const char *file, int line,
				  const char *what, int fd, unsigned long req,
				  void *arg, int err)
{
	int rc;

	errno = 0;
	rc = ioctl(fd, req, arg);
	if (rc == -1 && errno == err)
		return 0;
	fprintf(stderr, "FAIL %s:%d: %s: want errno %d (%s), got rc %d errno %d (%s)\n",
		file, line, what, err, strerror(err), rc, errno,
		strerror(errno));
	return -1;
}

/*
 * GJ_BAD(fd, count, req, type, init, err, change): a good argument
 * structure `a` of type @type from @init(), changed by the statement
 * @change, must make ioctl @req on @fd fail with errno @err; @count (an
 * unsigned int lvalue) counts the calls. A failure returns -1 from the
 * enclosing function.
 */
#define GJ_BAD(fd, count, req, type, init, err, change) do {		\
	type a = init();						\
	change;								\
	(count)++;							\
	if (gj_expect_errno(__FILE__, __LINE__, #change, fd, req, &a, err)) \
		return -1;						\
} while (0)

/*
 * One PROT_NONE and one PROT_READ anonymous page, for bad pointers; the
 * page size to *@page. Returns 0, or -1 when a mapping failed.
 */
static inline int gj_bad_pages(long *page, char **none_page, char **ro_page)
{
	*page = sysconf(_SC_PAGESIZE);
	*none_page = mmap(NULL, *page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	*ro_page = mmap(NULL, *page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	return *none_page == MAP_FAILED || *ro_page == MAP_FAILED ? -1 : 0;
}

#endif /* BNNACC_GJOB_H */
