/* SPDX-License-Identifier: MIT */
/*
 * gtest.h - assertions for the guest test programs of the VM bench, and
 * the seeded random numbers of the fuzzers.
 * A failed CHECK prints where and what, then makes the enclosing function
 * return -1 (main: exit status 255), so failures propagate up.
 */
#ifndef BNNACC_GTEST_H
#define BNNACC_GTEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL %s:%d: %s (errno %d: %s)\n",	\
			__FILE__, __LINE__, #cond, errno, strerror(errno)); \
		return -1;						\
	}								\
} while (0)

#define CHECK_MSG(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		return -1;						\
	}								\
} while (0)

/* An ioctl must fail with errno @err. */
#define CHECK_ERRNO(call, err) do {					\
	errno = 0;							\
	if ((call) != -1 || errno != (err)) {				\
		fprintf(stderr, "FAIL %s:%d: %s: want errno %d (%s), got %d (%s)\n", \
			__FILE__, __LINE__, #call, (err), strerror(err),	\
			errno, strerror(errno));			\
		return -1;						\
	}								\
} while (0)

/*
 * The next number of the splitmix64 sequence whose state is *@s: a run is
 * repeated from its seed.
 */
static inline uint64_t gt_rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, @n) (modulo bias accepted); 0 when @n is 0. */
static inline uint64_t gt_below(uint64_t *s, uint64_t n)
{
	return n ? gt_rnd(s) % n : 0;
}

#endif /* BNNACC_GTEST_H */
