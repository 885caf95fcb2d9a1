/* SPDX-License-Identifier: MIT */
/*
 * libbnnacc - handles on /dev/bnnaccN: open with an ABI check, one thin
 * wrapper per ioctl, and the card seam over a handle. No libpci here, so a
 * static program can use this file alone.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct bnnacc_dev {
	int fd;
	unsigned abi;
	struct bnnacc_identify id;
	uint64_t generation;	/* as of the last IDENTIFY or lease call */
	uint32_t lease_pid;
	char path[64];
	char err[256];
};

static int dev_fail(struct bnnacc_dev *dev, int ret, const char *what)
{
	snprintf(dev->err, sizeof(dev->err), "%s on %s: %s", what, dev->path,
		 bnnacc_strerror(ret));
	return ret;
}

const char *bnnacc_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EPROTO:
		return "driver ABI version differs from the library's";
	case ENOENT:
		return "no such card, node or batch";
	case EACCES:
	case EPERM:
		return "permission denied (is the user in the bnnacc group?)";
	case EINVAL:
		return "invalid argument or reserved field set (or the card refused a descriptor)";
	case EAGAIN:
		return "too many unreaped batches; reap completions first";
	case ETIMEDOUT:
		return "timed out (the card was reset)";
	case EIO:
		return "card error, or reset by another batch";
	case ECANCELED:
		return "cancelled";
	case ENODEV:
		return "card removed";
	case EFAULT:
		return "bad buffer address";
	case ENOSPC:
		return "the network does not fit in the array";
	case ENOMEM:
		return "out of memory";
	case EBUSY:
		return "busy: the batch is already on the card, or another process holds the array's lease";
	case EBADF:
		return "the card was opened read-only: programming needs it open for writing";
	case EALREADY:
		return "batch already completed";
	case E2BIG:
		return "over a size limit";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

static int do_ioctl(struct bnnacc_dev *dev, unsigned long req, void *arg,
		    const char *what)
{
	if (ioctl(dev->fd, req, arg) < 0)
		return dev_fail(dev, -errno, what);
	dev->err[0] = '\0';
	return 0;
}

static int ident(struct bnnacc_dev *dev)
{
	struct bnnacc_identify_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	ret = do_ioctl(dev, BNNACC_IOC_IDENTIFY, &a, "IDENTIFY");
	if (ret == -EINVAL) {	/* a driver older than the lease: the check below */
		a.size = BNNACC_IDENTIFY_SIZE_VER0;
		ret = do_ioctl(dev, BNNACC_IOC_IDENTIFY, &a, "IDENTIFY");
	}
	if (ret)
		return ret;
	dev->abi = a.drv_version;
	dev->id = a.id;
	dev->generation = a.generation;
	dev->lease_pid = a.lease_pid;
	return 0;
}

/* -EBUSY from PROGRAM or LEASE_ACQUIRE: name the lease's holder. */
static int lease_busy(struct bnnacc_dev *dev, const char *what)
{
	uint32_t pid = 0;

	if (!ident(dev))
		pid = dev->lease_pid;
	snprintf(dev->err, sizeof(dev->err),
		 "%s on %s: the array's lease is held by process %u (bnnaccd, if it runs: load models through it, or stop it)",
		 what, dev->path, pid);
	return -EBUSY;
}

int bnnacc_lease_acquire(struct bnnacc_dev *dev, unsigned flags)
{
	struct bnnacc_lease_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	ret = do_ioctl(dev, BNNACC_IOC_LEASE_ACQUIRE, &a, "LEASE_ACQUIRE");
	if (ret == -EBUSY)
		return lease_busy(dev, "LEASE_ACQUIRE");
	if (!ret)
		dev->generation = a.generation;
	return ret;
}

int bnnacc_lease_release(struct bnnacc_dev *dev)
{
	struct bnnacc_lease_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	return do_ioctl(dev, BNNACC_IOC_LEASE_RELEASE, &a, "LEASE_RELEASE");
}

int bnnacc_dev_generation(struct bnnacc_dev *dev, uint64_t *generation,
			  uint32_t *lease_pid)
{
	int ret = ident(dev);

	if (ret)
		return ret;
	if (generation)
		*generation = dev->generation;
	if (lease_pid)
		*lease_pid = dev->lease_pid;
	return 0;
}

int bnnacc_open_path(struct bnnacc_dev **out, const char *path, char *err,
		     size_t errlen)
{
	struct bnnacc_dev *dev;
	int ret;

	*out = NULL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return bnl_err(err, errlen, -ENOMEM, "out of memory");
	snprintf(dev->path, sizeof(dev->path), "%s", path);
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = -errno;
		bnl_err(err, errlen, ret, "open %s: %s", path, bnnacc_strerror(ret));
		free(dev);
		return ret;
	}
	ret = ident(dev);
	if (!ret && dev->abi != BNNACC_ABI_VERSION)
		ret = -EPROTO;
	if (ret == -EPROTO)
		bnl_err(err, errlen, ret,
			"%s: driver ABI version %u, libbnnacc needs %u: %s", path,
			dev->abi, BNNACC_ABI_VERSION,
			dev->abi < BNNACC_ABI_VERSION ?
			"install the newer bnnacc driver (dkms) and reload it" :
			"upgrade libbnnacc to the driver's version");
	else if (ret)
		bnl_err(err, errlen, ret, "%s", dev->err);
	if (ret) {
		close(dev->fd);
		free(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

int bnnacc_open(struct bnnacc_dev **out, int index, char *err, size_t errlen)
{
	char path[32];

	if (index < 0) {
		*out = NULL;
		return bnl_err(err, errlen, -EINVAL, "bad card index %d", index);
	}
	snprintf(path, sizeof(path), "/dev/bnnacc%d", index);
	return bnnacc_open_path(out, path, err, errlen);
}

/* A sysfs directory entry "bnnaccN" -> N, else -1 */
static int node_index(const char *name)
{
	char *end;
	long n;

	if (strncmp(name, "bnnacc", 6) || !name[6])
		return -1;
	n = strtol(name + 6, &end, 10);
	return *end || n < 0 || n > 1000000 ? -1 : (int)n;
}

int bnnacc_pci_to_index(const char *pci_addr)
{
	char path[128];
	struct dirent *de;
	DIR *d;
	int n = -ENOENT;

	if (!pci_addr || strchr(pci_addr, '/') || strlen(pci_addr) > 32)
		return -EINVAL;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/bnnacc", pci_addr);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ENOENT : -errno;
	while ((de = readdir(d)))
		if (node_index(de->d_name) >= 0) {
			n = node_index(de->d_name);
			break;
		}
	closedir(d);
	return n;
}

int bnnacc_open_pci(struct bnnacc_dev **out, const char *pci_addr, char *err,
		    size_t errlen)
{
	int n = bnnacc_pci_to_index(pci_addr);

	if (n < 0) {
		*out = NULL;
		return bnl_err(err, errlen, n,
			       "PCI device %s: no /dev/bnnaccN bound (%s); is the bnnacc driver loaded?",
			       pci_addr ? pci_addr : "(null)", bnnacc_strerror(n));
	}
	return bnnacc_open(out, n, err, errlen);
}

void bnnacc_close(struct bnnacc_dev *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev);
}

const char *bnnacc_dev_error(const struct bnnacc_dev *dev)
{
	return dev->err;
}

const struct bnnacc_identify *bnnacc_dev_identity(const struct bnnacc_dev *dev)
{
	return &dev->id;
}

unsigned bnnacc_dev_abi(const struct bnnacc_dev *dev)
{
	return dev->abi;
}

int bnnacc_completion_fd(const struct bnnacc_dev *dev)
{
	return dev->fd;
}

int bnnacc_identify(struct bnnacc_dev *dev, struct bnnacc_identify *id)
{
	int ret = ident(dev);

	if (!ret && id)
		*id = dev->id;
	return ret;
}

static size_t region_cells(const struct bnnacc_region *r)
{
	return (size_t)r->rows * r->cols;
}

int bnnacc_program(struct bnnacc_dev *dev, const struct bnnacc_region *r,
		   const uint32_t *words)
{
	struct bnnacc_program_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.region = *r;
	a.words = (uintptr_t)words;
	a.words_len = (uint32_t)(region_cells(r) * 4);
	ret = do_ioctl(dev, BNNACC_IOC_PROGRAM, &a, "PROGRAM");
	return ret == -EBUSY ? lease_busy(dev, "PROGRAM") : ret;
}

int bnnacc_read(struct bnnacc_dev *dev, const struct bnnacc_region *r,
		uint32_t *ns, unsigned reads)
{
	struct bnnacc_read_args a;
	size_t len = region_cells(r) * 4 * (reads ? reads : 1);

	if (len > BNNACC_IO_MAX_BYTES)
		return dev_fail(dev, -E2BIG, "READ");
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.region = *r;
	a.buf = (uintptr_t)ns;
	a.buf_len = (uint32_t)len;
	a.reads = reads;
	return do_ioctl(dev, BNNACC_IOC_READ, &a, "READ");
}

int bnnacc_submit(struct bnnacc_dev *dev, const struct bnnacc_job *jobs,
		  unsigned njobs, unsigned timeout_ms, uint64_t user_data,
		  uint64_t *handle)
{
	struct bnnacc_submit_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.jobs = (uintptr_t)jobs;
	a.njobs = njobs;
	a.job_size = sizeof(*jobs);
	a.timeout_ms = timeout_ms;
	a.user_data = user_data;
	ret = do_ioctl(dev, BNNACC_IOC_SUBMIT, &a, "SUBMIT");
	if (!ret && handle)
		*handle = a.handle;
	return ret;
}

int bnnacc_wait(struct bnnacc_dev *dev, uint64_t handle, int64_t timeout_ns,
		struct bnnacc_completion *comp)
{
	struct bnnacc_wait_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.handle = handle;
	a.timeout_ns = timeout_ns;
	ret = do_ioctl(dev, BNNACC_IOC_WAIT, &a, "WAIT");
	if (!ret && comp)
		*comp = a.comp;
	return ret;
}

int bnnacc_cancel(struct bnnacc_dev *dev, uint64_t handle)
{
	struct bnnacc_cancel_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.handle = handle;
	return do_ioctl(dev, BNNACC_IOC_CANCEL, &a, "CANCEL");
}

int bnnacc_reset(struct bnnacc_dev *dev)
{
	struct bnnacc_reset_args a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	return do_ioctl(dev, BNNACC_IOC_RESET, &a, "RESET");
}

int bnnacc_reap(struct bnnacc_dev *dev, struct bnnacc_completion *comp,
		unsigned max)
{
	int fl = fcntl(dev->fd, F_GETFL);
	ssize_t n;

	if (fl < 0)
		return dev_fail(dev, -errno, "fcntl");
	if (!(fl & O_NONBLOCK) && fcntl(dev->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return dev_fail(dev, -errno, "fcntl");
	n = read(dev->fd, comp, (size_t)max * sizeof(*comp));
	if (n < 0)
		return errno == EAGAIN ? 0 : dev_fail(dev, -errno, "read completions");
	return (int)(n / (ssize_t)sizeof(*comp));
}

/* ---- the card seam over a handle ---- */

static int dcard_program(void *ctx, const struct bnnacc_region *r,
			 const uint32_t *words)
{
	return bnnacc_program(ctx, r, words);
}

static int dcard_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns,
		      unsigned reads)
{
	return bnnacc_read(ctx, r, ns, reads);
}

static int dcard_batch(struct bnnacc_dev *dev, const struct bnnacc_mvm *m,
		       unsigned n)
{
	struct bnnacc_job jobs[BNNACC_SUBMIT_MAX_JOBS];
	struct bnnacc_completion c;
	uint64_t h;
	unsigned i;
	int ret;

	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < n; i++) {
		if (m[i].repeat > 1 && !(dev->id.features & BNNACC_FEAT_MVM_SUM))
			return dev_fail(dev, -EOPNOTSUPP,
					"MVM with repeated reads (the card cannot sum them)");
		jobs[i].region = m[i].region;
		jobs[i].in = (uintptr_t)m[i].in;
		jobs[i].out = (uintptr_t)m[i].out;
		jobs[i].in_len = m[i].count * m[i].region.rows * 2u;
		jobs[i].out_len = m[i].count * m[i].region.cols * 4u;
		jobs[i].count = m[i].count;
		jobs[i].repeat = m[i].repeat ? m[i].repeat : 1;
		jobs[i].adc_shift = m[i].adc_shift;
		jobs[i].flags = jobs[i].repeat > 1 ? BNNACC_JOB_SUM : 0;
	}
	ret = bnnacc_submit(dev, jobs, n, 0, 0, &h);
	if (ret)
		return ret;
	do	/* a signal leaves the batch pending: wait again */
		ret = bnnacc_wait(dev, h, -1, &c);
	while (ret == -EINTR);
	if (ret)
		return ret;
	if (c.status)
		return dev_fail(dev, c.status, "MVM batch");
	return 0;
}

static int dcard_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	unsigned i, k;
	int ret;

	for (i = 0; i < n; i += k) {
		k = n - i < BNNACC_SUBMIT_MAX_JOBS ? n - i : BNNACC_SUBMIT_MAX_JOBS;
		ret = dcard_batch(ctx, jobs + i, k);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct bnnacc_card_ops dcard_ops = {
	.program = dcard_program,
	.read = dcard_read,
	.mvm = dcard_mvm,
};

int bnnacc_dev_card(struct bnnacc_dev *dev, struct bnnacc_card *card)
{
	const struct bnnacc_identify *id = &dev->id;

	memset(card, 0, sizeof(*card));
	card->ops = &dcard_ops;
	card->ctx = dev;
	card->info.rows = id->rows;
	card->info.cols = id->cols;
	card->info.dac_bits = id->dac_bits;
	card->info.adc_bits = id->adc_bits;
	card->info.iset_min_na = id->iset_min_na;
	card->info.iset_max_na = id->iset_max_na;
	card->info.adc_fs_ua = id->adc_fs_na / 1000.0;
	card->info.read_v = id->read_mv / 1000.0;
	card->info.serial = id->serial;
	card->info.hw_version = id->hw_version;
	card->info.features = id->features;
	if (!id->rows || id->rows > BNNACC_ROWS || !id->cols ||
	    id->cols > BNNACC_COLS || id->dac_bits < 2 || id->adc_bits < 2 ||
	    id->iset_min_na >= id->iset_max_na || !id->adc_fs_na || !id->read_mv)
		return dev_fail(dev, -EINVAL, "implausible IDENTIFY answer");
	return 0;
}
