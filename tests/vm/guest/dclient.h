/* SPDX-License-Identifier: MIT */
/*
 * dclient.h - what the bnnaccd clients of the VM bench (d_tool, d_fault)
 * share besides the protocol (that is daemon/client.h): sorting latencies,
 * the class an answer picks.
 *
 * Plain libc, everything static inline (see gjob.h). d_tool and d_fault
 * find it next to their sources (#include "dclient.h").
 */
#ifndef BNNACC_DCLIENT_H
#define BNNACC_DCLIENT_H

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
