// SPDX-License-Identifier: MIT
/*
 * bnnaccd - cards: opening real (/dev/bnnaccN, leased) and simulated cards,
 * one worker thread per card running one unit of work at a time (a batch,
 * a (re)programming, a drift check), the completion pipe back to the loop,
 * and kick(), which hands each idle card its next unit.
 */
#include "bnnaccd.h"

#include <math.h>

static int calib_path(struct card *c, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/bnnacc-%016llx.cal", c->d->cfg.state_dir,
			(unsigned long long)c->card.info.serial);
}

static int w_calibrate(struct card *c)
{
	struct bnnacc_cal_opts o;
	char path[1200], tmp[1300];
	int ret;

	calib_path(c, path, sizeof(path));
	if (!c->wforce && !c->have_cal &&
	    !bnnacc_calib_load(&c->cal, path, NULL, 0) &&
	    c->cal.serial == c->card.info.serial &&
	    c->cal.hw_version == c->card.info.hw_version) {
		c->have_cal = 1;
		return 0;
	}
	if (c->have_cal && !c->wforce)
		return 0;
	memset(&o, 0, sizeof(o));
	o.force = 1;
	ret = bnnacc_calibrate(&c->card, &o, &c->cal, c->err, sizeof(c->err));
	if (ret < 0)
		return ret;
	c->have_cal = 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ret = bnnacc_calib_save(&c->cal, tmp);
	if (!ret) {
		ret = rename_durable(tmp, path);
		if (ret)
			unlink(tmp);
	}
	/* the measured calibration is used all the same; only a restart
	 * will have to measure it again */
	if (ret)
		snprintf(c->warn, sizeof(c->warn), "calibration not saved in %.150s: %s",
			 c->d->cfg.state_dir, strerror(-ret));
	return 0;
}

/* Free wnets[i] (its model goes to wdrop for the loop to release). */
static void w_drop(struct card *c, unsigned i)
{
	bnnacc_net_free(c->wnets[i].net);
	c->wdrop[c->nwdrop++] = c->wnets[i].model;
	c->wnets[i] = c->wnets[--c->nwnets];
}

/* Is @dm (at its generation) among the networks of wnets? */
static int w_holds(const struct card *c, const struct dmodel *dm)
{
	unsigned i;

	for (i = 0; i < c->nwnets; i++)
		if (c->wnets[i].model == dm && c->wnets[i].gen == dm->gen)
			return 1;
	return 0;
}

/*
 * Turn wnets into the wanted models: drop the others (everything after a
 * reset or recalibration: wfull), then transfer each wanted model that is
 * missing beside those already there (the library keeps them resident and
 * places the new networks on the free cells). c->rc is what failed for all
 * (the lease, the calibration); wrc[i] is model i's own result.
 */
static int w_program(struct card *c)
{
	struct bnnacc_card *cards[1] = { &c->card };
	const struct bnnacc_calib *cals[1] = { &c->cal };
	struct bnnacc_net *keep[MAX_MODELS];
	struct bnnacc_xfer_opts o;
	unsigned i, k;
	int ret;

	c->err[0] = 0;
	c->warn[0] = 0;
	c->nwdrop = 0;
	for (i = 0; i < c->nwant; i++) {
		c->wrc[i] = 0;
		c->wtook[i] = 0;
		c->werr[i][0] = 0;
	}
	for (i = c->nwnets; i-- > 0;) {
		int wanted = 0;

		for (k = 0; k < c->nwant; k++)
			wanted |= c->want[k] == c->wnets[i].model &&
				  c->want[k]->gen == c->wnets[i].gen;
		if (c->wfull || !wanted)
			w_drop(c, i);
	}
	if (!c->nwant && !c->wforce)
		return 0;
	/* Ours since the card was opened; again if an admin broke it. */
	ret = c->dev ? bnnacc_lease_acquire(c->dev, 0) : 0;
	if (ret) {
		snprintf(c->err, sizeof(c->err), "%s", bnnacc_dev_error(c->dev));
		return ret;
	}
	ret = w_calibrate(c);
	if (ret)
		return ret;
	for (i = 0; i < c->nwant; i++) {
		struct dmodel *dm = c->want[i];
		struct cnet *cn;

		if (w_holds(c, dm))
			continue;
		for (k = 0; k < c->nwnets; k++)
			keep[k] = c->wnets[k].net;
		memset(&o, 0, sizeof(o));
		o.m = dm->want_m ? dm->want_m : c->d->cfg.program_m;
		o.keep = keep;
		o.nkeep = c->nwnets;
		cn = &c->wnets[c->nwnets];
		memset(cn, 0, sizeof(*cn));
		c->wrc[i] = bnnacc_transfer(&cn->net, cards, cals, 1, dm->m, &o,
					    c->werr[i], sizeof(c->werr[i]));
		if (c->wrc[i])
			continue;
		cn->model = dm;
		cn->gen = dm->gen;
		cn->m = bnnacc_net_m(cn->net);
		for (cn->nl = 0; bnnacc_net_report(cn->net, cn->nl); cn->nl++)
			cn->gamma[cn->nl] = bnnacc_net_gamma(cn->net, cn->nl);
		c->nwnets++;
		c->wtook[i] = 1;	/* its reference is the network's now */
	}
	return 0;
}

/*
 * Read the reference cells: each model's inference corrects its gain from
 * now on; when the relaxation has widened any model's weights past the
 * limit, reprogram (the array's image holds every resident model, so one
 * refresh renews them all) and read again. c->found: the worst before.
 */
static int w_check(struct card *c)
{
	struct bnnacc_drift dr;
	unsigned i;
	int ret = 0, again, refresh = 0;

	c->refreshed = 0;
	if (!c->nnets)
		return -ENODATA;
	for (again = 0; again < 2; again++) {
		for (i = 0; i < c->nnets && !ret; i++) {
			ret = bnnacc_net_check(c->nets[i].net, &dr, c->err, sizeof(c->err));
			if (!ret && (!i || dr.excess > c->drift.excess))
				c->drift = dr;
			refresh |= !ret && dr.refresh;
		}
		if (again == 0)
			c->found = c->drift;
		if (ret || !refresh || again)
			return ret;
		ret = bnnacc_net_refresh(c->nets[0].net, c->err, sizeof(c->err));
		if (ret)
			return ret;
		c->refreshed = 1;
		refresh = 0;
	}
	return ret;
}

/* Grow c->pb to @n doubles. */
static int w_pb(struct card *c, size_t n)
{
	double *p;

	if (n <= c->pbcap)
		return 0;
	p = realloc(c->pb, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->pb = p;
	c->pbcap = n;
	return 0;
}

/* Entropy (nats) of the mean of the first @m of @k samples' @c probabilities. */
static double mean_entropy(const double *p, unsigned m, unsigned c, double *mean)
{
	double h = 0;
	unsigned k, j;

	for (j = 0; j < c; j++) {
		mean[j] = 0;
		for (k = 0; k < m; k++)
			mean[j] += p[(size_t)k * c + j];
		mean[j] /= m;
		if (mean[j] > 0)
			h -= mean[j] * log(mean[j]);
	}
	return h;
}

/*
 * The sequential test of one input's first @m samples (@p: [m][c]): the
 * standard error of every class's predictive mean, and the change of the
 * predictive entropy over the last ADAPT_CHUNK samples, both within @eps.
 */
static int converged(const double *p, unsigned m, unsigned c, double eps)
{
	double mean[BNNACC_MODEL_MAX_DIM], prev[BNNACC_MODEL_MAX_DIM];
	double h = mean_entropy(p, m, c, mean), h0 = mean_entropy(p, m - ADAPT_CHUNK, c, prev);
	unsigned k, j;

	if (fabs(h - h0) > eps)
		return 0;
	for (j = 0; j < c; j++) {
		double v = 0;

		for (k = 0; k < m; k++) {
			double e = p[(size_t)k * c + j] - mean[j];

			v += e * e;
		}
		if (sqrt(v / (m - 1) / m) > eps)
			return 0;
	}
	return 1;
}

/*
 * A batch: every request gets the networks it asked for (samples, else
 * all M). Without `precision` in the batch that is one call on the first
 * max(samples) networks. With it, the networks run ADAPT_CHUNK at a time
 * on the inputs still open, and an input of a request with a precision
 * closes once the sequential test passes for it (c->mi: each input's
 * networks; a request's m_used: the most of its inputs').
 */
static int w_infer(struct card *c)
{
	unsigned M = bnnacc_net_m(c->wnet), top = 0, i, q, k0, open, adaptive = 0;
	unsigned C = c->classes, D = c->wnet_inputs;
	float *xa = NULL;
	int ret = 0;

	if (c->n > c->micap) {
		unsigned *mi = realloc(c->mi, c->n * sizeof(*mi));

		if (!mi)
			return -ENOMEM;
		c->mi = mi;
		c->micap = c->n;
	}
	for (i = 0, open = 0; i < c->njobs; i++) {
		struct job *j = c->jobs[i];
		unsigned want = j->samples && j->samples < M ? j->samples : M;

		j->m_used = want;
		top = want > top ? want : top;
		adaptive |= j->precision > 0;
		for (q = 0; q < j->n; q++)
			c->mi[open++] = want;
	}
	if (!adaptive) {
		ret = bnnacc_infer_nets(c->wnet, 0, top, c->x, c->n, &c->res, c->err,
					sizeof(c->err));
		if (!ret) {
			c->stride = c->res.m;
			ret = w_pb(c, (size_t)c->n * top * C);
		}
		if (!ret)
			memcpy(c->pb, c->res.probs, (size_t)c->n * top * C * sizeof(double));
		bnnacc_result_free(&c->res);
		return ret;
	}
	c->stride = M;
	xa = malloc((size_t)c->n * D * sizeof(float));
	ret = xa ? w_pb(c, (size_t)c->n * M * C) : -ENOMEM;
	memset(c->mi, 0, c->n * sizeof(*c->mi));	/* 0: still sampling */
	for (k0 = 0, open = c->n; !ret && open && k0 < M;) {
		unsigned cnt = M - k0 < ADAPT_CHUNK ? M - k0 : ADAPT_CHUNK, na = 0, x;
		struct bnnacc_result r;

		for (x = 0; x < c->n; x++)
			if (!c->mi[x])
				memcpy(xa + (size_t)na++ * D, c->x + (size_t)x * D, D * sizeof(float));
		ret = bnnacc_infer_nets(c->wnet, k0, cnt, xa, na, &r, c->err, sizeof(c->err));
		if (ret)
			break;
		k0 += cnt;
		na = 0;
		for (i = 0, x = 0; i < c->njobs; i++) {
			struct job *j = c->jobs[i];
			unsigned want = j->samples && j->samples < M ? j->samples : M;

			for (q = 0; q < j->n; q++, x++) {
				double *px = c->pb + (size_t)x * M * C;

				if (c->mi[x])
					continue;
				memcpy(px + (size_t)(k0 - cnt) * C, r.probs + (size_t)na++ * cnt * C,
				       (size_t)cnt * C * sizeof(double));
				if (k0 >= want)
					c->mi[x] = want;
				else if (j->precision > 0 && k0 >= ADAPT_MIN &&
					 converged(px, k0, C, j->precision))
					c->mi[x] = k0;
				open -= !!c->mi[x];
			}
		}
		bnnacc_result_free(&r);
	}
	for (i = 0, q = 0; i < c->njobs; i++) {
		struct job *j = c->jobs[i];
		unsigned e;

		for (j->m_used = 0, e = q + j->n; q < e; q++)
			j->m_used = c->mi[q] > j->m_used ? c->mi[q] : j->m_used;
	}
	free(xa);
	return ret;
}

static void *worker(void *arg)
{
	struct card *c = arg;
	enum work w;
	unsigned i;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->work == W_NONE)
			pthread_cond_wait(&c->cv, &c->mu);
		w = c->work;
		c->work = W_NONE;
		pthread_mutex_unlock(&c->mu);
		c->err[0] = 0;
		switch (w) {
		case W_INFER:
			c->rc = w_infer(c);
			break;
		case W_RESET:
			/* a simulated card has no reset: it is programmed again (wfull) */
			c->rc = c->dev ? bnnacc_reset(c->dev) : 0;
			if (c->rc)
				snprintf(c->err, sizeof(c->err), "%s",
					 bnnacc_dev_error(c->dev));
			else
				c->rc = w_program(c);
			break;
		case W_PROGRAM:
			c->rc = w_program(c);
			break;
		case W_CHECK:
			c->rc = w_check(c);
			break;
		default:	/* W_QUIT */
			for (i = 0; i < c->nnets; i++)
				bnnacc_net_free(c->nets[i].net);
			c->nnets = 0;
			break;
		}
		if (c->rc && !c->err[0])
			snprintf(c->err, sizeof(c->err), "%s", bnnacc_strerror(-c->rc));
		if (write(c->d->notify_fd[1], &c, sizeof(c)) != sizeof(c))
			abort();	/* the loop can never learn of this card again */
		if (w == W_QUIT)
			return NULL;
	}
}

void post(struct card *c, enum work w)
{
	c->busy = 1;
	c->wkind = w;
	c->t_post = now_s();
	pthread_mutex_lock(&c->mu);
	c->work = w;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* The first free card slot, or -1. */
static int free_slot(const struct daemon *d)
{
	int slot;

	for (slot = 0; slot < MAX_CARDS; slot++)
		if (!d->card[slot])
			return slot;
	return -1;
}

/* Put the opened card @c in @slot and start its worker. */
static void card_start(struct daemon *d, struct card *c, int slot, int index,
		       const char *path)
{
	c->d = d;
	c->slot = slot;
	c->index = index;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->need_program = 1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->th, NULL, worker, c)) {
		if (c->dev)
			bnnacc_close(c->dev);
		bnnacc_sim_free(c->sim);
		free(c);
		return;
	}
	d->card[slot] = c;
	logmsg(LOG_INFO, "card %s serial %016llx", path,
	       (unsigned long long)c->card.info.serial);
}

static void card_open(struct daemon *d, int index)
{
	char path[64], err[256];
	struct card *c;
	int slot;

	slot = free_slot(d);
	if (slot < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	snprintf(path, sizeof(path), "/dev/bnnacc%d", index);
	if (bnnacc_open_path(&c->dev, path, err, sizeof(err)) ||
	    bnnacc_dev_card(c->dev, &c->card)) {
		logmsg(LOG_ERR, "%s: %s", path, err);
		if (c->dev)
			bnnacc_close(c->dev);
		free(c);
		return;
	}
	/*
	 * The array's lease: while bnnaccd serves a card nobody else may
	 * program it. A card leased to another process is left alone (and
	 * tried again at the next scan).
	 */
	if (bnnacc_lease_acquire(c->dev, 0)) {
		uint64_t bit = index < 64 ? 1ull << index : 0;

		if (!(d->lease_warned & bit))
			logmsg(LOG_ERR, "%s; not serving this card until it is free",
			       bnnacc_dev_error(c->dev));
		d->lease_warned |= bit;
		bnnacc_close(c->dev);
		free(c);
		return;
	}
	if (index < 64)
		d->lease_warned &= ~(1ull << index);
	card_start(d, c, slot, index, path);
}

/* --sim: simulated card @index, manufactured from the seed plus @index. */
static void card_open_sim(struct daemon *d, int index)
{
	char path[64], err[256];
	struct card *c;
	int slot;

	slot = free_slot(d);
	if (slot < 0 || !(c = calloc(1, sizeof(*c))))
		return;
	if (bnnacc_sim_new(&c->sim, NULL, d->sim_seed + (uint64_t)index, err, sizeof(err))) {
		logmsg(LOG_ERR, "simulated card %d: %s", index, err);
		free(c);
		return;
	}
	bnnacc_sim_card(c->sim, &c->card);
	snprintf(path, sizeof(path), "sim:%d", index);
	card_start(d, c, slot, index, path);
}

/* The card is gone: stop using it (its worker quits when idle). */
void card_gone(struct card *c)
{
	if (c->gone)
		return;
	c->gone = 1;
	logmsg(LOG_WARNING, "card %s gone", c->path);
	pending_card_done(c->d, c, -ENODEV, "card removed", -1);
	if (!c->busy)
		post(c, W_QUIT);
}

void card_free(struct daemon *d, struct card *c)
{
	unsigned i;

	pthread_join(c->th, NULL);
	d->card[c->slot] = NULL;
	if (c->dev)
		bnnacc_close(c->dev);
	bnnacc_sim_free(c->sim);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	for (i = 0; i < c->nnets; i++)
		model_put(c->nets[i].model);
	free(c->jobs);
	free(c->x);
	free(c->pb);
	free(c->mi);
	free(c);
}

/* A real card whose device node is gone (a simulated card never goes). */
int card_vanished(const struct card *c)
{
	return !c->sim && access(c->path, F_OK);
}

struct card *card_by_index(struct daemon *d, int index)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone && d->card[i]->index == index)
			return d->card[i];
	return NULL;
}

/* Open new /dev/bnnaccN nodes; cards whose node vanished are gone. */
void rescan(struct daemon *d)
{
	struct dirent *e;
	unsigned i;
	DIR *dp;

	d->last_scan = now_s();
	if (d->sim) {
		for (i = 0; i < d->sim_cards; i++)
			if (!card_by_index(d, (int)i))
				card_open_sim(d, (int)i);
		return;
	}
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone && card_vanished(d->card[i]))
			card_gone(d->card[i]);
	dp = opendir("/dev");
	if (!dp)
		return;
	while ((e = readdir(dp)) != NULL) {
		char *end;
		long idx;

		if (strncmp(e->d_name, "bnnacc", 6) || !e->d_name[6])
			continue;
		idx = strtol(e->d_name + 6, &end, 10);
		if (*end || idx < 0 || card_by_index(d, (int)idx))
			continue;
		card_open(d, (int)idx);
	}
	closedir(dp);
}

unsigned live_cards(struct daemon *d)
{
	unsigned i, n = 0;

	for (i = 0; i < MAX_CARDS; i++)
		n += d->card[i] && !d->card[i]->gone;
	return n;
}

struct cnet *card_net(struct card *c, const struct dmodel *dm)
{
	unsigned i;

	for (i = 0; dm && i < c->nnets; i++)
		if (c->nets[i].model == dm && c->nets[i].gen == dm->gen)
			return &c->nets[i];
	return NULL;
}

int card_failed(const struct card *c, const struct dmodel *dm)
{
	unsigned i;

	for (i = 0; i < c->nfailed; i++)
		if (c->failed[i] == dm->gen)
			return 1;
	return 0;
}

unsigned card_m(const struct card *c)
{
	unsigned i, m = 0;

	for (i = 0; i < c->nnets; i++)
		m += c->nets[i].m;
	return m;
}

/* Does @c hold other than what it should: the models, not failed, at their generations? */
static int card_needs_program(const struct daemon *d, struct card *c)
{
	unsigned i, k;

	if (c->need_program || c->force_cal || c->want_reset)
		return 1;
	for (i = 0; i < d->nmodels; i++)
		if (!card_net(c, d->models[i]) && !card_failed(c, d->models[i]))
			return 1;
	for (k = 0; k < c->nnets; k++) {
		for (i = 0; i < d->nmodels; i++)
			if (c->nets[k].model == d->models[i] && c->nets[k].gen == d->models[i]->gen)
				break;
		if (i == d->nmodels)
			return 1;
	}
	return 0;
}

/* Post the programming that makes @c hold the models. */
static void program_post(struct daemon *d, struct card *c)
{
	unsigned i;

	c->wfull = c->need_program || c->force_cal || c->want_reset;
	if (c->wfull)
		c->nfailed = 0;		/* everything is tried again */
	c->nwant = 0;
	for (i = 0; i < d->nmodels; i++)
		if (!card_failed(c, d->models[i])) {
			c->want[c->nwant++] = d->models[i];
			d->models[i]->refs++;
		}
	memcpy(c->wnets, c->nets, sizeof(c->nets));
	c->nwnets = c->nnets;
	c->need_program = 0;
	c->wforce = c->force_cal;
	c->force_cal = 0;
	progress_start(d, c, W_PROGRAM);
	post(c, c->want_reset ? W_RESET : W_PROGRAM);
	c->want_reset = 0;
}

void program_done(struct daemon *d, struct card *c)
{
	unsigned i, fresh = 0;
	int retry = c->rc == -ETIMEDOUT || c->rc == -EIO;

	c->programs++;
	/* the worker's networks are the card's now */
	memcpy(c->nets, c->wnets, sizeof(c->nets));
	c->nnets = c->nwnets;
	for (i = 0; i < c->nwdrop; i++)
		model_put(c->wdrop[i]);
	c->nwdrop = 0;
	for (i = 0; i < c->nwant; i++)
		retry |= c->wrc[i] == -ETIMEDOUT || c->wrc[i] == -EIO;
	if (retry && c->prog_retries < PROGRAM_RETRIES) {
		/*
		 * A card reset (a timeout, another process's reset ioctl, a
		 * PCIe error) cut the programming short: program everything
		 * again; the queued requests wait for it instead of failing.
		 */
		c->prog_retries++;
		logmsg(LOG_WARNING, "%s: programming cut short (%s): retrying (%u of %u)",
		       c->path, c->rc ? c->err : "a model's transfer failed", c->prog_retries,
		       PROGRAM_RETRIES);
		c->need_program = 1;
		for (i = 0; i < c->nwant; i++)
			if (!c->wtook[i])
				model_put(c->want[i]);
		c->nwant = 0;
		return;
	}
	c->prog_retries = 0;
	if (c->rc)
		logmsg(LOG_ERR, "%s: programming failed: %s", c->path, c->err);
	for (i = 0; i < c->nwant; i++) {
		struct cnet *cn = card_net(c, c->want[i]);

		if (c->wtook[i] && cn) {
			fresh = 1;
			logmsg(LOG_INFO, "%s: programmed %s (M=%u, %u models on the array)",
			       c->path, c->want[i]->name, cn->m, c->nnets);
		} else if (!cn && c->nfailed < MAX_MODELS) {
			c->failed[c->nfailed++] = c->want[i]->gen;
			if (!c->rc)
				logmsg(LOG_ERR, "%s: programming %s failed: %s", c->path,
				       c->want[i]->name, c->werr[i]);
		}
	}
	if (fresh || c->wfull) {	/* every cell was programmed anew */
		c->drift = (struct bnnacc_drift){ 0 };
		c->found = c->drift;
		c->refreshed = 0;
		c->want_check = 0;
		c->last_check = now_s();
	}
	if (c->warn[0])
		logmsg(LOG_WARNING, "%s: %s", c->path, c->warn);
	pending_program_done(d, c);
	for (i = 0; i < c->nwant; i++)
		if (!c->wtook[i])
			model_put(c->want[i]);
	c->nwant = 0;
	if (c->rc == -ENODEV || (c->rc && card_vanished(c)))
		card_gone(c);
}

static void check_done(struct daemon *d, struct card *c)
{
	c->last_check = now_s();
	if (c->rc) {
		logmsg(LOG_WARNING, "%s: drift check failed: %s", c->path, c->err);
		if (c->rc == -ENODEV || card_vanished(c)) {
			card_gone(c);
			return;
		}
	} else {
		logmsg(c->refreshed ? LOG_NOTICE : LOG_INFO,
		       "%s: drift check: gain %.4f, spread %.4f, excess %.3f%s", c->path,
		       c->found.gain, c->found.spread, c->found.excess,
		       c->refreshed ? ": reprogrammed (the relaxation had widened the weights)" : "");
		if (c->refreshed)
			c->programs++;
	}
	pending_card_done(d, c, c->rc, c->err, 1);
}

void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct card *c;

	(void)what;
	while (read(fd, &c, sizeof(c)) == sizeof(c)) {
		c->busy = 0;
		c->busy_s += now_s() - c->t_post;
		if (c->wkind == W_QUIT) {
			card_free(d, c);
			continue;
		}
		if (c->wkind == W_INFER)
			infer_done(d, c);
		else if (c->wkind == W_CHECK)
			check_done(d, c);
		else
			program_done(d, c);
		if (c->gone)
			post(c, W_QUIT);
	}
	kick(d);
}

/* The queue has room again (under 7/8 of max_queue): read the clients
 * that were told `busy` again (their requests already read first). */
static void qwait_resume(struct daemon *d)
{
	struct client *cl;

	if (!d->nqwait || d->sq.pending > d->sq.max - d->sq.max / 8)
		return;
	for (cl = d->clients; cl && d->nqwait; cl = cl->next) {
		if (!cl->qwait)
			continue;
		cl->qwait = 0;
		d->nqwait--;
		if (cl->throttled || cl->drop)
			continue;
		client_resume(cl);
	}
}

/* Hand work to every idle card. */
void kick(struct daemon *d)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++) {
		struct card *c = d->card[i];

		if (!c || c->busy || c->gone)
			continue;
		if (card_needs_program(d, c)) {
			program_post(d, c);
			continue;
		}
		if (!c->nnets)
			continue;
		if (!c->want_check && d->cfg.drift_check_s &&
		    now_s() - c->last_check >= d->cfg.drift_check_s)
			c->want_check = 1;
		if (c->want_check) {
			c->want_check = 0;
			progress_start(d, c, W_CHECK);
			post(c, W_CHECK);
			continue;
		}
		batch(d, c);
	}
	qwait_resume(d);
	/* what no card can serve is answered rather than left to wait */
	infer_sweep(d);
}
