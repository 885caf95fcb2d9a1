// SPDX-License-Identifier: MIT
/*
 * t_identify - /dev/bnnacc0 is there and BNNACC_IOC_IDENTIFY describes the
 * card of docs/hardware.md: magic, version 1.x, a 128 x 128 array, 8-bit DAC
 * and 9-bit ADC, SET currents 5..100 uA, and the driver's ABI version. Two
 * files may be open at once.
 *
 * usage: t_identify [DEV]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bnnacc_hw.h"
#include "gtest.h"

static int identify(int fd, struct bnnacc_identify_args *a)
{
	memset(a, 0xa5, sizeof(*a));	/* the driver must overwrite id */
	a->size = sizeof(*a);
	a->flags = 0;
	a->rsvd = 0;
	a->rsvd1 = 0;
	a->drv_version = 0;
	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, a) == 0);
	return 0;
}

static int check_answer(const struct bnnacc_identify_args *a)
{
	const struct bnnacc_identify *id = &a->id;

	printf("model: %.32s\nserial: %016llx\nhw_version: %u.%u\n"
	       "driver_abi: %u\ngeometry: %ux%u\ndac_bits: %u\nadc_bits: %u\n"
	       "iset_nA: %u..%u\nmax_ring: %u\nstuck_cells: %u\n",
	       id->model, (unsigned long long)id->serial, id->hw_version >> 16,
	       id->hw_version & 0xffff, a->drv_version, id->rows, id->cols,
	       id->dac_bits, id->adc_bits, id->iset_min_na, id->iset_max_na,
	       id->max_ring, id->stuck_cells);
	CHECK_MSG(id->magic == BNNACC_MAGIC, "magic %#x", id->magic);
	CHECK(BNNACC_HW_VERSION_MAJOR(id->hw_version) ==
	      BNNACC_HW_VERSION_MAJOR(BNNACC_HW_VERSION));
	CHECK(a->drv_version == BNNACC_ABI_VERSION);
	CHECK(id->rows == BNNACC_ROWS && id->cols == BNNACC_COLS);
	/* the values depend on the card's physics preset: the case checks them */
	CHECK(id->dac_bits >= 2 && id->dac_bits <= 16 && id->adc_bits >= 2 &&
	      id->adc_bits <= 24);
	CHECK(id->iset_min_na > 0 && id->iset_min_na < id->iset_max_na);
	CHECK(id->features & BNNACC_FEAT_MVM_REPEAT);
	CHECK(id->features & BNNACC_FEAT_MVM_SUM);
	CHECK(id->g_min_ns < id->g_max_ns);
	CHECK(id->max_ring >= BNNACC_RING_MIN &&
	      id->max_ring <= BNNACC_RING_MAX &&
	      !(id->max_ring & (id->max_ring - 1)));
	CHECK(id->stuck_cells < BNNACC_CELLS / 10);
	CHECK(memchr(id->model, 0, sizeof(id->model)) && id->model[0]);
	for (size_t i = 0; i < sizeof(id->rsvd); i++)
		CHECK_MSG(!id->rsvd[i], "rsvd[%zu] = %#x", i, id->rsvd[i]);
	return 0;
}

static int run(const char *dev)
{
	struct bnnacc_identify_args a, b;
	struct stat st;
	int fd, fd2;

	CHECK(stat(dev, &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	if (identify(fd, &a) || check_answer(&a))
		return -1;

	/* No exclusivity: a second file works alongside the first. */
	fd2 = open(dev, O_RDWR);
	CHECK(fd2 >= 0);
	if (identify(fd2, &b))
		return -1;
	CHECK(b.id.serial == a.id.serial);
	CHECK_MSG(b.id.clock_ns >= a.id.clock_ns, "device clock went back");
	printf("clock_ns: %llu -> %llu\n", (unsigned long long)a.id.clock_ns,
	       (unsigned long long)b.id.clock_ns);
	CHECK(close(fd2) == 0);
	CHECK(close(fd) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/bnnacc0";

	if (run(dev))
		return 1;
	printf("t_identify: PASS\n");
	return 0;
}
