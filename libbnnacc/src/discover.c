/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - card discovery: libpci enumerates the bus, sysfs gives the
 * link, the NUMA node and the /dev/bnnaccN node. The only libpci user.
 */
#include "internal.h"

#include <errno.h>
#include <pci/pci.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* First line of /sys/bus/pci/devices/<addr>/<attr> into @buf, "" if none */
static void sysfs_attr(const char *addr, const char *attr, char *buf,
		       size_t len)
{
	char path[160];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", addr, attr);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void fill_desc(struct bnnacc_card_desc *d, const struct pci_dev *p)
{
	char v[32];

	memset(d, 0, sizeof(*d));
	snprintf(d->pci_addr, sizeof(d->pci_addr), "%04x:%02x:%02x.%u",
		 (unsigned)p->domain & 0xffffu, p->bus, p->dev, p->func);
	d->vendor = p->vendor_id;
	d->device = p->device_id;
	sysfs_attr(d->pci_addr, "current_link_speed", d->link_speed,
		   sizeof(d->link_speed));
	sysfs_attr(d->pci_addr, "current_link_width", v, sizeof(v));
	d->link_width = atoi(v);
	sysfs_attr(d->pci_addr, "numa_node", v, sizeof(v));
	d->numa_node = v[0] ? atoi(v) : -1;
	d->index = bnnacc_pci_to_index(d->pci_addr);
	if (d->index < 0)
		d->index = -1;
	else
		snprintf(d->devnode, sizeof(d->devnode), "/dev/bnnacc%d", d->index);
}

int bnnacc_list(struct bnnacc_card_desc *out, unsigned max, char *err,
		size_t errlen)
{
	struct pci_access *pa;
	struct pci_dev *p;
	int n = 0;

	/*
	 * libpci's default error handler exits the process when no access
	 * method works; sysfs is the one we need anyway, so check it first.
	 */
	if (access("/sys/bus/pci/devices", R_OK | X_OK))
		return bnl_err(err, errlen, -ENODEV,
			       "/sys/bus/pci/devices is not readable: is sysfs mounted?");
	pa = pci_alloc();
	if (!pa)
		return bnl_err(err, errlen, -ENOMEM, "pci_alloc failed");
	pci_init(pa);
	pci_scan_bus(pa);
	for (p = pa->devices; p; p = p->next) {
		pci_fill_info(p, PCI_FILL_IDENT);
		if (p->vendor_id != BNNACC_PCI_VENDOR_ID ||
		    p->device_id != BNNACC_PCI_DEVICE_ID)
			continue;
		if ((unsigned)n < max)
			fill_desc(&out[n], p);
		n++;
	}
	pci_cleanup(pa);
	return n;
}
