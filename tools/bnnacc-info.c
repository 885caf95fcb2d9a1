/* SPDX-License-Identifier: MIT */
/*
 * bnnacc-info - list bnnacc cards: PCI address, link, NUMA node, device
 * node, and (when the node opens) the card's identity and driver ABI.
 */
#include <bnnacc/bnnacc.h>

#include <inttypes.h>
#include <stdio.h>

#define MAX_CARDS 64

int main(void)
{
	struct bnnacc_card_desc d[MAX_CARDS];
	char err[256];
	int n, i;

	n = bnnacc_list(d, MAX_CARDS, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "bnnacc-info: %s\n", err);
		return 1;
	}
	if (!n)
		printf("no bnnacc card found\n");
	for (i = 0; i < n && i < MAX_CARDS; i++) {
		struct bnnacc_dev *dev;

		printf("%s %04x:%04x link %s x%d numa %d %s\n", d[i].pci_addr,
		       d[i].vendor, d[i].device,
		       d[i].link_speed[0] ? d[i].link_speed : "?", d[i].link_width,
		       d[i].numa_node, d[i].index >= 0 ? d[i].devnode : "(no driver)");
		if (d[i].index < 0)
			continue;
		if (bnnacc_open(&dev, d[i].index, err, sizeof(err))) {
			printf("  %s\n", err);
			continue;
		}
		printf("  %s serial %016" PRIx64 " hw %#x abi %u %ux%u\n",
		       bnnacc_dev_identity(dev)->model, (uint64_t)bnnacc_dev_identity(dev)->serial,
		       bnnacc_dev_identity(dev)->hw_version, bnnacc_dev_abi(dev),
		       bnnacc_dev_identity(dev)->rows, bnnacc_dev_identity(dev)->cols);
		bnnacc_close(dev);
	}
	return 0;
}
