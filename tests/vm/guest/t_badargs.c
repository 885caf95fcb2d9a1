// SPDX-License-Identifier: MIT
/*
 * t_badargs - every ioctl of /dev/bnnacc0 with bad arguments gets its clean
 * error, and the card keeps working:
 *
 *   -EINVAL  wrong size, non-zero flags or reserved field, a region outside
 *            the array / empty / overflowing, a length below what the
 *            command needs or above BNNACC_IO_MAX_BYTES, and (answered by
 *            the card with INVALID_FIELD) a bad program word;
 *   -EFAULT  an argument or data pointer that is NULL, unmapped, or
 *            read-only where the driver must write;
 *   -ENOTTY  an unknown ioctl number.
 *
 * A PROGRAM the card rejects changes no cell; a good IDENTIFY, PROGRAM and
 * READ still work at the end (also a READ of exactly BNNACC_IO_MAX_BYTES).
 *
 * usage: t_badargs [DEV]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define CELLS	8		/* the good region: 2 x 4 cells */
#define N	(BNNACC_ROWS * BNNACC_COLS)

static int fd = -1;
static unsigned int ncases;
static struct bnnacc_identify id;
static uint32_t words[CELLS], buf[CELLS];
static char *none_page;		/* PROT_NONE */
static char *ro_page;		/* PROT_READ */
static long page;

/* ioctl @req on the card must fail with errno @err; counted. */
static int expect(int line, const char *what, unsigned long req, void *arg,
		  int err)
{
	ncases++;
	return gj_expect_errno(__FILE__, line, what, fd, req, arg, err);
}

/* The call must fail with errno @err. */
#define EXPECT(what, req, arg, err) do {				\
	if (expect(__LINE__, what, req, arg, err))			\
		return -1;						\
} while (0)

/*
 * BAD_x(err, change): a good argument structure @a of ioctl x, changed by
 * the statement @change, must fail with errno @err.
 */
#define BAD(req, type, init, err, change) \
	GJ_BAD(fd, ncases, req, type, init, err, change)
#define BAD_ID(err, change) \
	BAD(BNNACC_IOC_IDENTIFY, struct bnnacc_identify_args, good_id, err, change)
#define BAD_PROG(err, change) \
	BAD(BNNACC_IOC_PROGRAM, struct bnnacc_program_args, good_prog, err, change)
#define BAD_READ(err, change) \
	BAD(BNNACC_IOC_READ, struct bnnacc_read_args, good_read, err, change)

static struct bnnacc_identify_args good_id(void)
{
	struct bnnacc_identify_args a = { .size = sizeof(a) };

	return a;
}

static struct bnnacc_program_args good_prog(void)
{
	struct bnnacc_program_args a = {
		.size = sizeof(a),
		.region = { .row = 0, .col = 0, .rows = 2, .cols = 4 },
		.words = (uintptr_t)words,
		.words_len = sizeof(words),
	};

	for (int i = 0; i < CELLS; i++)
		words[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 20000);
	return a;
}

static struct bnnacc_read_args good_read(void)
{
	struct bnnacc_read_args a = {
		.size = sizeof(a),
		.region = { .row = 0, .col = 0, .rows = 2, .cols = 4 },
		.buf = (uintptr_t)buf,
		.buf_len = sizeof(buf),
		.reads = 1,
	};

	return a;
}

static int setup(const char *dev)
{
	struct bnnacc_identify_args a = good_id();

	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, &a) == 0);
	id = a.id;
	CHECK(gj_bad_pages(&page, &none_page, &ro_page) == 0);
	return 0;
}

static int identify_cases(void)
{
	struct bnnacc_identify_args *ro;

	BAD_ID(EINVAL, a.size = 0);
	BAD_ID(EINVAL, a.size = BNNACC_IDENTIFY_SIZE_VER0 - 1);
	BAD_ID(EINVAL, a.size = BNNACC_IDENTIFY_SIZE_VER0 + 1);
	BAD_ID(EINVAL, a.size = BNNACC_IDENTIFY_SIZE_VER0 + 8);
	BAD_ID(EINVAL, a.size = UINT32_MAX);
	BAD_ID(EINVAL, a.flags = 1);
	BAD_ID(EINVAL, a.flags = 0x80000000u);
	BAD_ID(EINVAL, a.rsvd = 1);
	BAD_ID(EINVAL, a.rsvd1 = 1);
	BAD_ID(EINVAL, a.rsvd1 = 0x80000000u);
	EXPECT("NULL args", BNNACC_IOC_IDENTIFY, NULL, EFAULT);
	EXPECT("PROT_NONE args", BNNACC_IOC_IDENTIFY, none_page, EFAULT);
	/* Readable but not writable: the answer cannot be copied out. */
	ro = (struct bnnacc_identify_args *)(ro_page + page - sizeof(*ro));
	CHECK(mprotect(ro_page, page, PROT_READ | PROT_WRITE) == 0);
	*ro = good_id();
	CHECK(mprotect(ro_page, page, PROT_READ) == 0);
	EXPECT("read-only args", BNNACC_IOC_IDENTIFY, ro, EFAULT);
	/* Args running off the end of the mapping into an unmapped page. */
	EXPECT("args across into PROT_NONE", BNNACC_IOC_IDENTIFY,
	       none_page - 8, EFAULT);
	return 0;
}

static int common_cases_prog(void)
{
	BAD_PROG(EINVAL, a.size = 0);
	BAD_PROG(EINVAL, a.size = BNNACC_PROGRAM_SIZE_VER0 - 4);
	BAD_PROG(EINVAL, a.size = BNNACC_PROGRAM_SIZE_VER0 + 8);
	BAD_PROG(EINVAL, a.flags = 1);
	BAD_PROG(EINVAL, a.rsvd[0] = 1);
	BAD_PROG(EINVAL, a.rsvd[1] = 1);
	BAD_PROG(EINVAL, a.rsvd[2] = 0x80000000u);
	/* regions: empty, outside, overflowing (16-bit wrap included) */
	BAD_PROG(EINVAL, a.region.rows = 0);
	BAD_PROG(EINVAL, a.region.cols = 0);
	BAD_PROG(EINVAL, a.region.row = BNNACC_ROWS);
	BAD_PROG(EINVAL, a.region.col = BNNACC_COLS);
	BAD_PROG(EINVAL, a.region.row = BNNACC_ROWS - 1);
	BAD_PROG(EINVAL, a.region.col = BNNACC_COLS - 3);
	BAD_PROG(EINVAL, a.region.row = 0xffff);
	BAD_PROG(EINVAL, (a.region.row = 1, a.region.rows = 0xffff));
	BAD_PROG(EINVAL, (a.region.rows = BNNACC_ROWS + 1, a.words_len = 1 << 20));
	/* lengths */
	BAD_PROG(EINVAL, a.words_len = sizeof(words) - 4);
	BAD_PROG(EINVAL, a.words_len = 0);
	BAD_PROG(EINVAL, a.words_len = BNNACC_IO_MAX_BYTES + 1);
	BAD_PROG(EINVAL, a.words_len = UINT32_MAX);
	/* pointers */
	BAD_PROG(EFAULT, a.words = 0);
	BAD_PROG(EFAULT, a.words = (uintptr_t)none_page);
	BAD_PROG(EFAULT, a.words = (uintptr_t)(none_page - 8));
	BAD_PROG(EFAULT, a.words = ~0ull - 16);
	EXPECT("NULL args", BNNACC_IOC_PROGRAM, NULL, EFAULT);
	return 0;
}

/* The card checks every word before it touches a cell: INVALID_FIELD. */
static int word_cases(void)
{
	const uint32_t set = BNNACC_PROG_SET << 28;

	BAD_PROG(EINVAL, words[3] = set | BNNACC_PROG_RSVD_MASK | 20000);
	BAD_PROG(EINVAL, words[0] = set | 1u << 24 | 20000);
	BAD_PROG(EINVAL, words[7] = BNNACC_PROG_SKIP << 28 | 1u << 27);
	BAD_PROG(EINVAL, words[1] = 3u << 28);
	BAD_PROG(EINVAL, words[1] = 0xfu << 28 | 20000);
	BAD_PROG(EINVAL, words[2] = set | (id.iset_min_na - 1));
	BAD_PROG(EINVAL, words[2] = set | (id.iset_max_na + 1));
	BAD_PROG(EINVAL, words[5] = set);
	BAD_PROG(EINVAL, words[6] = set | 0xffffff);
	return 0;
}

static int read_cases(void)
{
	BAD_READ(EINVAL, a.size = 0);
	BAD_READ(EINVAL, a.size = BNNACC_READ_SIZE_VER0 + 4);
	BAD_READ(EINVAL, a.flags = 2);
	BAD_READ(EINVAL, a.rsvd[0] = 1);
	BAD_READ(EINVAL, a.rsvd[1] = 1);
	BAD_READ(EINVAL, a.region.rows = 0);
	BAD_READ(EINVAL, a.region.cols = 0);
	BAD_READ(EINVAL, a.region.row = BNNACC_ROWS);
	BAD_READ(EINVAL, a.region.col = BNNACC_COLS - 1);
	BAD_READ(EINVAL, (a.region.col = 0xfffe, a.region.cols = 4));
	BAD_READ(EINVAL, a.buf_len = sizeof(buf) - 1);
	BAD_READ(EINVAL, a.buf_len = 0);
	BAD_READ(EINVAL, a.buf_len = BNNACC_IO_MAX_BYTES + 4);
	BAD_READ(EINVAL, a.reads = 2);	/* buffer holds one read */
	BAD_READ(EINVAL, (a.reads = UINT32_MAX, a.buf_len = BNNACC_IO_MAX_BYTES));
	/* 65 reads of the whole array are 4 MiB + 64 KiB */
	BAD_READ(EINVAL, (a.region.rows = BNNACC_ROWS, a.region.cols = BNNACC_COLS,
			  a.reads = 65, a.buf_len = BNNACC_IO_MAX_BYTES));
	BAD_READ(EFAULT, a.buf = 0);
	BAD_READ(EFAULT, a.buf = (uintptr_t)none_page);
	BAD_READ(EFAULT, a.buf = (uintptr_t)ro_page);
	BAD_READ(EFAULT, a.buf = (uintptr_t)(none_page - 8));
	BAD_READ(EFAULT, a.buf = ~0ull - 16);
	EXPECT("NULL args", BNNACC_IOC_READ, NULL, EFAULT);
	return 0;
}

static int unknown_cases(void)
{
	struct bnnacc_program_args p = good_prog();
	char big[512] = { 0 };

	EXPECT("_IO('B', 3)", _IO(BNNACC_IOC_MAGIC, 3), NULL, ENOTTY);
	EXPECT("_IOWR('B', 0xff, 512)",
	       _IOWR(BNNACC_IOC_MAGIC, 0xff, char[512]), big, ENOTTY);
	/* a known number with another size or direction is another ioctl */
	EXPECT("IDENTIFY with the size of PROGRAM",
	       _IOWR(BNNACC_IOC_MAGIC, 0x00, struct bnnacc_program_args), &p,
	       ENOTTY);
	EXPECT("PROGRAM as _IOR",
	       _IOR(BNNACC_IOC_MAGIC, 0x01, struct bnnacc_program_args), &p,
	       ENOTTY);
	EXPECT("_IO('X', 0)", _IO('X', 0), NULL, ENOTTY);
	EXPECT("ioctl 0", 0, NULL, ENOTTY);
	CHECK(!isatty(fd));
	return 0;
}

static double median_us(uint32_t *g, size_t n)
{
	uint32_t t;

	/* insertion sort: n is small */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && g[j - 1] > g[j]; j--) {
			t = g[j];
			g[j] = g[j - 1];
			g[j - 1] = t;
		}
	return g[n / 2] / 1e3;
}

/*
 * After all that the card works: a good IDENTIFY, a PROGRAM and a READ;
 * a rejected PROGRAM left its region alone; a READ of exactly
 * BNNACC_IO_MAX_BYTES (64 reads of the whole array) is allowed.
 */
static int still_working(void)
{
	struct bnnacc_identify_args ia = good_id();
	struct bnnacc_program_args pa = good_prog();
	struct bnnacc_read_args ra = good_read();
	uint32_t *big;
	double before, after;

	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, &ia) == 0);
	CHECK(ia.id.magic == BNNACC_MAGIC && ia.id.serial == id.serial);
	CHECK(ia.drv_version == BNNACC_ABI_VERSION);
	CHECK(ioctl(fd, BNNACC_IOC_PROGRAM, &pa) == 0);	/* 20 uA: 40 uS */
	CHECK(ioctl(fd, BNNACC_IOC_READ, &ra) == 0);
	before = median_us(buf, CELLS);

	pa = good_prog();
	for (int i = 0; i < CELLS; i++)
		words[i] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 90000);
	words[CELLS - 1] |= BNNACC_PROG_RSVD_MASK;
	CHECK_ERRNO(ioctl(fd, BNNACC_IOC_PROGRAM, &pa), EINVAL);
	CHECK(ioctl(fd, BNNACC_IOC_READ, &ra) == 0);
	after = median_us(buf, CELLS);
	printf("rejected PROGRAM: median %.2f uS before, %.2f after (a SET at 90 uA would give 180)\n",
	       before, after);
	CHECK(before > 20 && before < 60 && after > 20 && after < 60);

	big = malloc(BNNACC_IO_MAX_BYTES);
	CHECK(big);
	ra = good_read();
	ra.region.rows = BNNACC_ROWS;
	ra.region.cols = BNNACC_COLS;
	ra.reads = BNNACC_IO_MAX_BYTES / (N * 4);
	ra.buf = (uintptr_t)big;
	ra.buf_len = BNNACC_IO_MAX_BYTES;
	CHECK(ioctl(fd, BNNACC_IOC_READ, &ra) == 0);
	printf("READ of %u bytes (%u reads of the whole array): ok\n",
	       ra.buf_len, ra.reads);
	free(big);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/bnnacc0";

	if (setup(dev) || identify_cases() || common_cases_prog() ||
	    word_cases() || read_cases() || unknown_cases() || still_working())
		return 1;
	close(fd);
	printf("t_badargs: %u bad calls rejected cleanly\nt_badargs: PASS\n",
	       ncases);
	return 0;
}
