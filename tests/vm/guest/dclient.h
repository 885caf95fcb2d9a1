/* SPDX-License-Identifier: MIT */
/*
 * dclient.h - helpers shared by the bnnaccd clients of the VM bench (d_tool,
 * d_fault): the clock, connecting to the daemon's socket, sorting
 * latencies, the class an answer picks.
 *
 * Plain libc, everything static inline (see gjob.h). d_tool is built by
 * daemon/build.mk without -Itests/vm/guest: it finds this header next to
 * its source (#include "dclient.h").
 */
#ifndef BNNACC_DCLIENT_H
#define BNNACC_DCLIENT_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in seconds. */
static inline double dc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A socket connected to @path (blocking unless @nb), or -errno. */
static inline int dc_dial(const char *path, int nb)
{
	struct sockaddr_un sa;
	int fd, e;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* qsort() comparison of doubles, ascending. */
static inline int dc_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The index of the largest of @p[0..@c) (the first of equals). */
static inline unsigned dc_argmax(const double *p, unsigned c)
{
	unsigned i, b = 0;

	for (i = 1; i < c; i++)
		if (p[i] > p[b])
			b = i;
	return b;
}

#endif /* BNNACC_DCLIENT_H */
