/* SPDX-License-Identifier: MIT */
/*
 * graw.h - the card with no driver bound, for the guest programs that drive
 * it directly (t_rawdev, f_device): finding it on the PCI bus, turning on
 * memory decoding and bus mastering, mapping BAR0, DMA memory whose bus
 * address comes from /proc/self/pagemap (no IOMMU in the bench VM, so bus
 * address = physical address), resetting the card and pointing it at rings.
 *
 * Everything is static inline (see gjob.h). The register helpers return how
 * many register accesses they made, for callers that count them.
 */
#ifndef BNNACC_GRAW_H
#define BNNACC_GRAW_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bnnacc_hw.h"
#include "gtest.h"

/* The first line of the file @path into @buf ("" if empty); -1: no file. */
static inline int graw_read_str(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");

	if (!fp)
		return -1;
	if (!fgets(buf, len, fp))
		buf[0] = 0;
	fclose(fp);
	return 0;
}

/* The card's sysfs directory ("/sys/bus/pci/devices/...") into @dir. */
static inline int graw_find_card(char *dir, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *de;
	int found = 0;

	while (d && (de = readdir(d)) && !found) {
		char p[600], v[32] = "", dv[32] = "";

		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor",
			 de->d_name);
		if (graw_read_str(p, v, sizeof(v)) < 0)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device",
			 de->d_name);
		graw_read_str(p, dv, sizeof(dv));
		if (strtoul(v, NULL, 16) == BNNACC_PCI_VENDOR_ID &&
		    strtoul(dv, NULL, 16) == BNNACC_PCI_DEVICE_ID) {
			snprintf(dir, len, "/sys/bus/pci/devices/%s",
				 de->d_name);
			found = 1;
		}
	}
	if (d)
		closedir(d);
	return found ? 0 : -ENODEV;
}

/*
 * The PCI command register of the card at sysfs directory @dir: the bits
 * @set turned on, then the bits @clear turned off (0x2 memory decoding,
 * 0x4 bus mastering). 0, or -1 when the config space could not be read or
 * written.
 */
static inline int graw_pci_command(const char *dir, uint16_t set,
				   uint16_t clear)
{
	char p[400];
	uint16_t cmd;
	int fd, rc = -1;

	snprintf(p, sizeof(p), "%s/config", dir);
	fd = open(p, O_RDWR);
	if (fd < 0)
		return -1;
	if (pread(fd, &cmd, 2, 4) == 2) {
		cmd = (uint16_t)((cmd | set) & ~clear);
		if (pwrite(fd, &cmd, 2, 4) == 2)
			rc = 0;
	}
	close(fd);
	return rc;
}

/*
 * Find the card (its sysfs directory into @dir), which no driver may be
 * bound to; turn on memory decoding and bus mastering, as a driver would;
 * map BAR0 into *@bar. 0 or -1 (a failed CHECK).
 */
static inline int graw_open_card(char *dir, size_t len,
				 volatile uint32_t **bar)
{
	char p[400];
	int fd;

	CHECK(graw_find_card(dir, len) == 0);
	snprintf(p, sizeof(p), "%s/driver", dir);
	CHECK_MSG(access(p, F_OK) != 0, "a driver is bound to %s", dir);
	CHECK(graw_pci_command(dir, 0x6, 0) == 0);
	snprintf(p, sizeof(p), "%s/resource0", dir);
	fd = open(p, O_RDWR | O_SYNC);
	CHECK(fd >= 0);
	*bar = mmap(NULL, BNNACC_REGS_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	CHECK(*bar != MAP_FAILED);
	close(fd);
	return 0;
}

/*
 * @len bytes (a multiple of 4096) of locked, zeroed memory that is
 * physically contiguous, and its bus address into *@pa; from a huge page
 * (MAP_HUGETLB) when @huge, which more than one page needs to be
 * contiguous. NULL when there is no such memory or no address to be had.
 */
static inline void *graw_dma_alloc(size_t len, int huge, uint64_t *pa)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		       MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0) |
		       MAP_POPULATE | MAP_LOCKED, -1, 0);
	uint64_t first = 0;
	int fd;

	if (p == MAP_FAILED)
		return NULL;
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return NULL;
	for (uint64_t i = 0; i < len / 4096; i++) {
		uint64_t ent = 0;

		if (pread(fd, &ent, 8, (off_t)((uintptr_t)p / 4096 + i) * 8)
		    != 8 || !(ent >> 63)) {
			close(fd);
			return NULL;
		}
		ent &= (1ull << 55) - 1;
		if (!i)
			first = ent;
		else if (ent != first + i) {
			close(fd);
			return NULL;
		}
	}
	close(fd);
	*pa = first * 4096;
	return *pa ? p : NULL;
}

static inline void graw_wr(volatile uint32_t *bar, unsigned off, uint32_t v)
{
	bar[off / 4] = v;
}

/*
 * Reset the card. With no driver every interrupt cause stays masked (INTx
 * would fire unhandled). 2 register writes.
 */
static inline unsigned graw_card_reset(volatile uint32_t *bar)
{
	graw_wr(bar, BNNACC_REG_RESET, BNNACC_RESET_KEY);
	graw_wr(bar, BNNACC_REG_INT_MASK, BNNACC_INT_ALL);
	return 2;
}

/*
 * Ring bases and sizes: an SQ of @sqn entries at bus address @sq, a CQ of
 * @cqn at @cq (CTRL.ENABLE is the caller's). 6 register writes.
 */
static inline unsigned graw_set_rings(volatile uint32_t *bar, uint64_t sq,
				      uint32_t sqn, uint64_t cq, uint32_t cqn)
{
	graw_wr(bar, BNNACC_REG_SQ_BASE_LO, (uint32_t)sq);
	graw_wr(bar, BNNACC_REG_SQ_BASE_HI, (uint32_t)(sq >> 32));
	graw_wr(bar, BNNACC_REG_SQ_SIZE, sqn);
	graw_wr(bar, BNNACC_REG_CQ_BASE_LO, (uint32_t)cq);
	graw_wr(bar, BNNACC_REG_CQ_BASE_HI, (uint32_t)(cq >> 32));
	graw_wr(bar, BNNACC_REG_CQ_SIZE, cqn);
	return 6;
}

#endif /* BNNACC_GRAW_H */
