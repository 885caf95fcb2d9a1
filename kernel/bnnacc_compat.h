/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bnnacc - the kernel interfaces that changed between the kernels the
 * driver builds for (Debian 12: Linux 6.1 and 6.12). Kbuild keys them on
 * the kernel's version (VERSION.PATCHLEVEL, what LINUX_VERSION_CODE is
 * made of) and defines a BNNACC_* feature for each change; each helper
 * here has the newer kernel's meaning.
 */
#ifndef _BNNACC_COMPAT_H
#define _BNNACC_COMPAT_H

#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/pci.h>
#include <linux/shrinker.h>
#include <linux/slab.h>

/* 6.8 renamed PCI_IRQ_LEGACY. */
#ifndef PCI_IRQ_INTX
#define PCI_IRQ_INTX	PCI_IRQ_LEGACY
#endif

/* 6.4 dropped class_create()'s module argument. */
#ifndef BNNACC_CLASS_CREATE_NO_OWNER
#define bnnacc_class_create(name)	class_create(THIS_MODULE, name)
#else
#define bnnacc_class_create(name)	class_create(name)
#endif

/* 6.12 removed no_llseek: a NULL llseek of a nonseekable file is -ESPIPE. */
#ifndef BNNACC_NO_NO_LLSEEK
#define BNNACC_NO_LLSEEK	no_llseek
#else
#define BNNACC_NO_LLSEEK	NULL
#endif

/*
 * 6.11 added pcim_iomap_region() and deprecated pcim_iomap_regions() with
 * its table: map one BAR, managed; the mapping or an ERR_PTR().
 */
static inline void __iomem *bnnacc_pcim_iomap_region(struct pci_dev *pdev,
						     int bar, const char *name)
{
#ifndef BNNACC_PCIM_IOMAP_REGION
	int ret = pcim_iomap_regions(pdev, BIT(bar), name);

	return ret ? IOMEM_ERR_PTR(ret) : pcim_iomap_table(pdev)[bar];
#else
	return pcim_iomap_region(pdev, bar, name);
#endif
}

/*
 * 6.7 replaced register_shrinker() on an embedded struct shrinker with
 * shrinker_alloc()/shrinker_register()/shrinker_free() and @private_data.
 * bnnacc_shrinker_new() gives a registered shrinker whose
 * bnnacc_shrinker_priv() is @priv, or NULL.
 */
#ifndef BNNACC_SHRINKER_ALLOC
struct bnnacc_shrinker {
	struct shrinker s;
	void *priv;
};

static inline void *bnnacc_shrinker_priv(struct shrinker *s)
{
	return container_of(s, struct bnnacc_shrinker, s)->priv;
}

static inline struct shrinker *
bnnacc_shrinker_new(void *priv, const char *name,
		    unsigned long (*count)(struct shrinker *,
					   struct shrink_control *),
		    unsigned long (*scan)(struct shrinker *,
					  struct shrink_control *))
{
	struct bnnacc_shrinker *bs = kzalloc(sizeof(*bs), GFP_KERNEL);

	if (!bs)
		return NULL;
	bs->priv = priv;
	bs->s.count_objects = count;
	bs->s.scan_objects = scan;
	bs->s.seeks = DEFAULT_SEEKS;
	if (register_shrinker(&bs->s, "bnnacc-%s", name)) {
		kfree(bs);
		return NULL;
	}
	return &bs->s;
}

static inline void bnnacc_shrinker_free(struct shrinker *s)
{
	if (!s)
		return;
	unregister_shrinker(s);
	kfree(container_of(s, struct bnnacc_shrinker, s));
}
#else
static inline void *bnnacc_shrinker_priv(struct shrinker *s)
{
	return s->private_data;
}

static inline struct shrinker *
bnnacc_shrinker_new(void *priv, const char *name,
		    unsigned long (*count)(struct shrinker *,
					   struct shrink_control *),
		    unsigned long (*scan)(struct shrinker *,
					  struct shrink_control *))
{
	struct shrinker *s = shrinker_alloc(0, "bnnacc-%s", name);

	if (!s)
		return NULL;
	s->private_data = priv;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	shrinker_register(s);
	return s;
}

static inline void bnnacc_shrinker_free(struct shrinker *s)
{
	shrinker_free(s);
}
#endif

#endif /* _BNNACC_COMPAT_H */
