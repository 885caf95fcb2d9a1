// SPDX-License-Identifier: MIT
/*
 * bnnaccd - cards: opening real (/dev/bnnaccN, leased) and simulated cards,
 * one worker thread per card running one unit of work at a time (a batch,
 * a (re)programming, a drift check), the completion pipe back to the loop,
 * and kick(), which hands each idle card its next unit.
 */
#include "bnnaccd.h"

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

static int w_program(struct card *c)
{
	struct bnnacc_xfer_opts o;
	int ret;

	bnnacc_net_free(c->net);
	c->net = NULL;
	c->err[0] = 0;
	c->warn[0] = 0;
	if (!c->wmodel && !c->wforce)
		return 0;
	/* Ours since the card was opened; again if an admin broke it. */
	ret = c->dev ? bnnacc_lease_acquire(c->dev, 0) : 0;
	if (ret) {
		snprintf(c->err, sizeof(c->err), "%s", bnnacc_dev_error(c->dev));
		return ret;
	}
	ret = w_calibrate(c);
	if (ret || !c->wmodel)
		return ret;
	struct bnnacc_card *cards[1] = { &c->card };
	const struct bnnacc_calib *cals[1] = { &c->cal };

	memset(&o, 0, sizeof(o));
	o.m = c->wmodel->want_m ? c->wmodel->want_m : c->d->cfg.program_m;
	return bnnacc_transfer(&c->net, cards, cals, 1, c->wmodel->m, &o,
			       c->err, sizeof(c->err));
}

/*
 * Read the reference cells: the inference corrects the gain from now on;
 * when the relaxation has widened the weights past the limit, reprogram.
 */
static int w_check(struct card *c)
{
	int ret;

	c->refreshed = 0;
	if (!c->net)
		return -ENODATA;
	ret = bnnacc_net_check(c->net, &c->drift, c->err, sizeof(c->err));
	c->found = c->drift;
	if (ret || !c->drift.refresh)
		return ret;
	ret = bnnacc_net_refresh(c->net, c->err, sizeof(c->err));
	if (!ret) {
		c->refreshed = 1;
		ret = bnnacc_net_check(c->net, &c->drift, c->err, sizeof(c->err));
	}
	return ret;
}

static void *worker(void *arg)
{
	struct card *c = arg;
	enum work w;

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
			c->rc = c->net ? bnnacc_infer(c->net, c->x, c->n, &c->res,
						      c->err, sizeof(c->err)) : -ENODATA;
			break;
		case W_RESET:
			/* a simulated card has no reset: it is programmed again */
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
		default:
			bnnacc_net_free(c->net);
			c->net = NULL;
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
	c->failed_gen = -1;
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
	pthread_join(c->th, NULL);
	d->card[c->slot] = NULL;
	if (c->dev)
		bnnacc_close(c->dev);
	bnnacc_sim_free(c->sim);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->jobs);
	free(c->x);
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

void program_done(struct daemon *d, struct card *c)
{
	model_put(c->wmodel);
	c->wmodel = NULL;
	c->programs++;
	if ((c->rc == -ETIMEDOUT || c->rc == -EIO) &&
	    c->prog_retries < PROGRAM_RETRIES) {
		/*
		 * A card reset (a timeout, another process's reset ioctl, a
		 * PCIe error) cut the programming short: program again; the
		 * queued requests wait for it instead of failing.
		 */
		c->prog_retries++;
		logmsg(LOG_WARNING, "%s: programming cut short (%s): retrying (%u of %u)",
		       c->path, c->err, c->prog_retries, PROGRAM_RETRIES);
		c->prog_gen = 0;
		c->need_program = 1;
		return;
	}
	c->prog_retries = 0;
	if (c->rc) {
		logmsg(LOG_ERR, "%s: programming failed: %s", c->path, c->err);
		c->failed_gen = (int)c->wgen;
		c->prog_gen = 0;
		if (c->rc == -ENODEV || card_vanished(c)) {
			card_gone(c);
			return;
		}
	} else {
		c->prog_gen = c->wgen;
		c->failed_gen = -1;
		c->drift = (struct bnnacc_drift){ 0 };
		c->found = c->drift;
		c->refreshed = 0;
		c->want_check = 0;
		c->last_check = now_s();
		c->m = c->net ? bnnacc_net_m(c->net) : 0;
		for (c->nl = 0; c->net && bnnacc_net_report(c->net, c->nl); c->nl++)
			c->gamma[c->nl] = bnnacc_net_gamma(c->net, c->nl);
		logmsg(LOG_INFO, "%s: programmed gen %u (M=%u)", c->path, c->wgen, c->m);
	}
	if (c->warn[0])
		logmsg(LOG_WARNING, "%s: %s", c->path, c->warn);
	if (!c->need_program && c->wgen == d->gen)
		pending_card_done(d, c, c->rc, c->err, 0);
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
		bufferevent_enable(cl->bev, EV_READ);
		bufferevent_trigger(cl->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
				    BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* Hand work to every idle card. */
void kick(struct daemon *d)
{
	unsigned i, any_ok = 0;

	for (i = 0; i < MAX_CARDS; i++) {
		struct card *c = d->card[i];

		if (!c || c->busy || c->gone)
			continue;
		if (c->need_program || (d->model && c->prog_gen != d->gen &&
					c->failed_gen != (int)d->gen) ||
		    (!d->model && c->net)) {
			c->need_program = 0;
			c->wmodel = d->model;
			if (d->model)
				d->model->refs++;
			c->wgen = d->gen;
			c->wforce = c->force_cal;
			c->force_cal = 0;
			progress_start(d, c, W_PROGRAM);
			post(c, c->want_reset ? W_RESET : W_PROGRAM);
			c->want_reset = 0;
			any_ok = 1;
			continue;
		}
		if (d->model && c->prog_gen == d->gen && c->net) {
			any_ok = 1;
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
	}
	qwait_resume(d);
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone && d->card[i]->busy)
			any_ok = 1;
	/* no card can serve: answer what is queued rather than let it wait */
	if (!any_ok) {
		struct sched_item *it;

		while ((it = sched_pop(&d->sq)) != NULL) {
			struct job *j = (struct job *)it;

			send_err(d, j->cl, j->id, live_cards(d) ? E_CARD : E_NO_CARD,
				 live_cards(d) ? "no card holds the model" : "no card");
			job_free(j);
		}
	}
}
