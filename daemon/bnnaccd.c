// SPDX-License-Identifier: MIT
/*
 * bnnaccd - the bnnacc card daemon: serves Bayesian inference on every
 * /dev/bnnacc* card to local clients over a Unix socket (docs/protocol.md).
 *
 * One libevent loop owns every client, the fair request queues (sched.c),
 * the model, the state directory and the metrics. Each card has one worker
 * thread, because the library's card calls (transfer, inference) block; the
 * loop hands a card one unit of work at a time (a batch of requests' inputs
 * concatenated into one bnnacc_infer call, or a (re)programming) and the
 * worker reports completion through a pipe the loop watches.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/http.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <bnnacc/bnnacc.h>

#include "proto.h"
#include "dsched.h"
#include "util.h"

#define MAX_CARDS	64
/*
 * Output buffering per client: past OUT_HIGH bytes of unsent replies the
 * daemon stops reading the client's requests (the client's writes block:
 * back-pressure) until they drain to OUT_LOW; replies of requests already
 * accepted can still grow it, and a client past MAX_OUTBUF is dropped.
 */
#define OUT_HIGH	(128u << 10)
#define OUT_LOW		(32u << 10)
#define MAX_OUTBUF	(16u << 20)
/*
 * Fairness of the loop: one client's read callback handles at most
 * TURN_LINES requests or TURN_S seconds of work, then yields (its callback
 * is re-armed behind the other ready clients); its unread input is bounded
 * by IN_HIGH (beyond, the client's writes block).
 */
#define TURN_LINES	16
#define TURN_S		0.002
#define IN_HIGH		(PROTO_MAX_LINE + (64u << 10))
/* a batch is cut to about BATCH_S seconds of the card's measured time per
 * input, so one batch never holds a newly queued request back for long */
#define BATCH_S		0.25
#define BATCH_FIRST	16
#define BATCH_MIN	8
#define NBUCKETS	14

static const double lat_bounds[NBUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
};

struct client;

struct dmodel {
	int refs;
	char name[PROTO_NAME_LEN];
	struct bnnacc_model *m;
	size_t size;
	unsigned gen;
	unsigned want_m;	/* networks asked by `load` (0: the config's) */
};

/* one infer request */
struct job {
	struct sched_item si;	/* first: queued on the client's queue */
	struct client *cl;	/* NULL once the client is gone */
	json_t *id;
	float *x;
	unsigned n, dim, samples, outputs, retries;
	double t0, deadline;
};

enum work { W_NONE, W_INFER, W_PROGRAM, W_RESET, W_CHECK, W_QUIT };

/* programmings of one model a card reset may cut short before it counts as failed */
#define PROGRAM_RETRIES 3

struct card {
	struct daemon *d;
	int slot, index, busy, gone, need_program, force_cal, failed_gen;
	char path[64];
	struct bnnacc_dev *dev;		/* a real card, or NULL */
	struct bnnacc_sim *sim;		/* a simulated card (--sim), or NULL */
	struct bnnacc_card card;
	struct bnnacc_calib cal;
	int have_cal;
	struct bnnacc_net *net;
	unsigned prog_gen, m, nl;
	double gamma[BNNACC_MODEL_MAX_LAYERS];	/* of the net, copied by the loop */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* the unit of work; written by the loop before posting, by the worker
	 * before notifying (the pipe orders the two) */
	enum work work, wkind;
	int rc, wforce, want_reset;
	char err[256], warn[256];
	struct dmodel *wmodel;
	unsigned wgen;
	struct job **jobs;
	unsigned njobs, jcap, n;
	float *x;
	size_t xcap;
	struct bnnacc_result res;
	double t_post;
	/* drift: a check of the reference cells is due; what the last found */
	int want_check, refreshed;
	double last_check;
	struct bnnacc_drift drift, found;	/* now; what the check found */
	/* statistics */
	uint64_t batches, inputs, errors, programs;
	uint64_t foreign_programs;	/* PROGRAMMED events not of ours */
	unsigned prog_retries;		/* programmings cut by a reset, in a row */
	double busy_s;
	double s_per_input;	/* moving average of a batch's time per input */
};

/* an admin request waiting for cards (load, calibrate, reset) */
struct pending {
	struct pending *next;
	struct client *cl;
	json_t *id;
	enum proto_op op;
	uint64_t mask;
	unsigned total;		/* cards it waits for, at the start */
	json_t *cards;
};

struct client {
	struct daemon *d;
	struct client *next, *prev;
	struct bufferevent *bev;
	struct sched_client sq;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int hello, admin, bad, discarding;
	int rpc;		/* version 2: JSON-RPC 2.0 framing both ways */
	int throttled;		/* reading stopped: too many unsent replies */
	int qwait;		/* reading stopped: got `busy`, waits for room */
	int drop;		/* over MAX_OUTBUF: freed at the next tick */
	uint64_t serial;
};

struct daemon {
	struct config cfg;
	const char *cfg_path;
	char *over[32];		/* -o KEY=VALUE overrides, re-applied on SIGHUP */
	int nover;
	struct event_base *base;
	struct evconnlistener *lis;
	int lis_paused;		/* accept() ran out of descriptors */
	unsigned nqwait;	/* clients with qwait set */
	double lis_pause_t;
	int lock_fd;		/* <state_dir>/bnnaccd.lock, flock()ed */
	struct event *ev_notify, *ev_tick, *ev_term, *ev_hup, *ev_int, *ev_nl;
	int notify_fd[2];
	struct nl_sock *nl;
	struct sched sq;
	struct client *clients;
	unsigned nclients;
	struct card *card[MAX_CARDS];
	struct dmodel *model;
	/* a load in progress: model is the candidate and prev the model it
	 * replaces once a card has programmed it (kept, stored and served
	 * again if none can) */
	struct dmodel *prev;
	int loading;
	unsigned gen;
	struct pending *pend;
	int draining;
	double t_start, drain_start, last_scan;
	uint64_t lease_warned;	/* card indices whose lease was busy, logged */
	int sim;		/* --sim: simulated cards, no device nodes */
	struct evhttp *http;	/* metrics_http, or NULL */
	struct event *ev_watchdog;	/* WATCHDOG=1 to systemd, or NULL */
	unsigned sim_cards;
	uint64_t sim_seed;
	uint64_t req[OP__COUNT], errs[E__COUNT], infer_inputs, retries;
	uint64_t lat_bucket[NBUCKETS + 1];
	double lat_sum;
	uint64_t lat_count;
};

static void kick(struct daemon *d);
static void accept_resume(struct daemon *d);

/* ---- replies ------------------------------------------------------------- */

static void throttle(struct client *cl);

/* Send @j (stolen) as one line, as it is. */
static void send_line_json(struct client *cl, json_t *j)
{
	size_t len;
	char *s = proto_dump(j, &len);

	if (!s)
		return;
	if (cl && cl->bev && !cl->drop) {
		bufferevent_write(cl->bev, s, len);
		throttle(cl);
	}
	free(s);
}

/* Send the reply @j (stolen, version 1 form) in the client's framing. */
static void send_json(struct client *cl, json_t *j)
{
	if (cl && cl->rpc && !(j = proto_to_rpc(j)))
		return;		/* the reply to a JSON-RPC notification */
	send_line_json(cl, j);
}

static void send_err(struct daemon *d, struct client *cl, json_t *id,
		     enum proto_err e, const char *msg)
{
	d->errs[e]++;
	send_json(cl, proto_error(id, e, msg));
}

/* ---- models and state ------------------------------------------------------ */

static void model_put(struct dmodel *m)
{
	if (m && --m->refs == 0) {
		bnnacc_model_free(m->m);
		free(m);
	}
}

static void state_path(struct daemon *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/models/%s.bnnm", d->cfg.state_dir, name);
}

/*
 * Where a model being loaded waits until a card has programmed it: not a
 * NAME.bnnm, so a restart never serves it, and a ".tmp", so the restart
 * removes it (remove_tmp).
 */
static void staged_path(struct daemon *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/models/%s.bnnm.staged.tmp", d->cfg.state_dir, name);
}

/* Open <state_dir>/models, its path in @dir; NULL if it is absent. */
static DIR *models_open(struct daemon *d, char *dir, size_t len)
{
	snprintf(dir, len, "%.1000s/models", d->cfg.state_dir);
	return opendir(dir);
}

/* Length of the model name in a stored file's name ("NAME.bnnm"), or 0. */
static size_t model_stem(const char *fname)
{
	size_t n = strlen(fname);

	if (n < 6 || n - 5 >= PROTO_NAME_LEN || strcmp(fname + n - 5, ".bnnm"))
		return 0;
	return n - 5;
}

/* Remove every stored model but @keep (NULL: all). */
static void state_prune(struct daemon *d, const char *keep)
{
	char dir[1100], path[1400];
	struct dirent *e;
	size_t n;
	DIR *dp;

	dp = models_open(d, dir, sizeof(dir));
	if (!dp)
		return;
	while ((e = readdir(dp)) != NULL) {
		n = model_stem(e->d_name);
		if (!n)
			continue;
		if (keep && n == strlen(keep) && !strncmp(e->d_name, keep, n))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(dp);
	fsync_dir(dir);
}

static struct dmodel *model_new(struct daemon *d, const char *name,
				struct bnnacc_model *m, size_t size)
{
	struct dmodel *dm = calloc(1, sizeof(*dm));

	if (!dm)
		return NULL;
	dm->refs = 1;
	snprintf(dm->name, sizeof(dm->name), "%s", name);
	dm->m = m;
	dm->size = size;
	dm->gen = ++d->gen;
	return dm;
}

static void set_model(struct daemon *d, struct dmodel *dm)
{
	unsigned i;

	model_put(d->model);
	d->model = dm;
	if (!dm)
		d->gen++;
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i])
			d->card[i]->need_program = 1;
}

/* Remove the temporaries a daemon killed while writing left in @dir. */
static void remove_tmp(const char *dir)
{
	char path[1400];
	struct dirent *e;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (!strstr(e->d_name, ".tmp") || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		logmsg(LOG_INFO, "removing the stale temporary %s", path);
		unlink(path);
	}
	closedir(dp);
}

/* At start: the newest stored model becomes the model. */
static void state_restore(struct daemon *d)
{
	char dir[1100], path[1400], err[256], best[PROTO_NAME_LEN] = "";
	struct bnnacc_model *m;
	time_t best_t = 0;
	struct dirent *e;
	struct stat st;
	size_t n;
	DIR *dp;

	remove_tmp(d->cfg.state_dir);
	dp = models_open(d, dir, sizeof(dir));
	if (!dp)
		return;
	remove_tmp(dir);
	while ((e = readdir(dp)) != NULL) {
		n = model_stem(e->d_name);
		if (!n)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || st.st_mtime < best_t)
			continue;
		best_t = st.st_mtime;
		memcpy(best, e->d_name, n);
		best[n] = 0;
	}
	closedir(dp);
	if (!best[0])
		return;
	state_path(d, path, sizeof(path), best);
	if (bnnacc_model_load(&m, path, err, sizeof(err))) {
		logmsg(LOG_ERR, "stored model %s: %s", path, err);
		return;
	}
	stat(path, &st);
	set_model(d, model_new(d, best, m, (size_t)st.st_size));
	state_prune(d, best);
	logmsg(LOG_INFO, "restored model %s", best);
}

/* ---- card workers --------------------------------------------------------- */

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

static void post(struct card *c, enum work w)
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

static void pending_card_done(struct daemon *d, struct card *c, int rc,
			      const char *err, int ck);

/* The card is gone: stop using it (its worker quits when idle). */
static void card_gone(struct card *c)
{
	if (c->gone)
		return;
	c->gone = 1;
	logmsg(LOG_WARNING, "card %s gone", c->path);
	pending_card_done(c->d, c, -ENODEV, "card removed", -1);
	if (!c->busy)
		post(c, W_QUIT);
}

static void card_free(struct daemon *d, struct card *c)
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
static int card_vanished(const struct card *c)
{
	return !c->sim && access(c->path, F_OK);
}

static struct card *card_by_index(struct daemon *d, int index)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone && d->card[i]->index == index)
			return d->card[i];
	return NULL;
}

/* Open new /dev/bnnaccN nodes; cards whose node vanished are gone. */
static void rescan(struct daemon *d)
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

static unsigned live_cards(struct daemon *d)
{
	unsigned i, n = 0;

	for (i = 0; i < MAX_CARDS; i++)
		n += d->card[i] && !d->card[i]->gone;
	return n;
}

/* ---- pending admin requests ------------------------------------------------ */

static void pending_add(struct daemon *d, struct client *cl, json_t *id,
			enum proto_op op, uint64_t mask)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		send_err(d, cl, id, E_INTERNAL, "out of memory");
		return;
	}
	p->cl = cl;
	p->id = json_incref(id);
	p->op = op;
	p->mask = mask;
	p->total = (unsigned)__builtin_popcountll(mask);
	p->cards = json_array();
	p->next = d->pend;
	d->pend = p;
}

/*
 * A load ended. @ok: a card programmed the candidate, which replaces the
 * previous model on disk and for good. Otherwise the candidate goes and the
 * previous model comes back: stored as it was, and programmed again (a new
 * generation) on the cards the attempt overwrote. Returns what the reply
 * should add to its message.
 */
static const char *load_end(struct daemon *d, int ok, char *note, size_t len)
{
	char staged[1400], path[1400], dir[1100];
	struct dmodel *cand = d->model;
	unsigned i;

	*note = 0;
	if (!d->loading)
		return note;
	d->loading = 0;
	staged_path(d, staged, sizeof(staged), cand->name);
	if (ok) {
		state_path(d, path, sizeof(path), cand->name);
		if (rename(staged, path)) {
			snprintf(note, len, "the model is served but could not be stored (%s): "
				 "it will not come back after a restart", strerror(errno));
			logmsg(LOG_ERR, "load %s: %s", cand->name, note);
		} else {
			snprintf(dir, sizeof(dir), "%.1000s/models", d->cfg.state_dir);
			fsync_dir(dir);
			state_prune(d, cand->name);
		}
		model_put(d->prev);
		d->prev = NULL;
		return note;
	}
	unlink(staged);
	d->model = d->prev;
	d->prev = NULL;
	d->gen++;
	if (d->model) {
		d->model->gen = d->gen;
		snprintf(note, len, "; the model %s keeps serving", d->model->name);
	} else {
		snprintf(note, len, "; no model is loaded");
	}
	logmsg(LOG_WARNING, "load %s failed on every card%s", cand->name, note);
	model_put(cand);
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i])
			d->card[i]->need_program = 1;
	return note;
}

static void pending_reply(struct daemon *d)
{
	struct pending **pp = &d->pend, *p;
	char note[300];

	while ((p = *pp) != NULL) {
		json_t *r;
		size_t i;
		json_t *v;
		int ok = 0;

		if (p->mask) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		json_array_foreach(p->cards, i, v)
			ok |= json_is_true(json_object_get(v, "ok"));
		ok |= json_array_size(p->cards) == 0;
		note[0] = 0;
		if (p->op == OP_LOAD)
			load_end(d, ok, note, sizeof(note));
		if (p->cl) {
			if (ok) {
				r = proto_ok(p->id);
				if (p->op == OP_LOAD && d->model)
					json_object_set_new(r, "name",
							    json_string(d->model->name));
				if (note[0])
					json_object_set_new(r, "warning", json_string(note));
				json_object_set(r, "cards", p->cards);
				send_json(p->cl, r);
			} else {
				char msg[400];

				snprintf(msg, sizeof(msg), "no card succeeded%s", note);
				r = proto_error(p->id, E_CARD, msg);
				d->errs[E_CARD]++;
				json_object_set(r, "cards", p->cards);
				send_json(p->cl, r);
			}
		}
		json_decref(p->cards);
		json_decref(p->id);
		free(p);
	}
}

/* What the transfer chose and why, and where it put each network's tiles */
static json_t *transfer_json(const struct bnnacc_net *net)
{
	const struct bnnacc_xfer_report *x = bnnacc_net_xfer_report(net);
	json_t *layers = json_array(), *tiles = json_array(), *parts = json_array();
	const struct bnnacc_layer_report *lr;
	unsigned l, k, q;

	for (l = 0; (lr = bnnacc_net_report(net, l)); l++)
		json_array_append_new(layers, json_pack("{s:f,s:f,s:i,s:i,s:f,s:i,s:f}",
			"kl_mean", lr->kl_mean, "kl_max", lr->kl_max, "clipped",
			(int)lr->clipped, "weights", (int)lr->weights, "rel_mean_err",
			lr->rel_mean_err, "parts", (int)lr->parts, "gamma", lr->gamma));
	for (l = 0; (lr = bnnacc_net_report(net, l)); l++)
		for (q = 0; q < lr->parts; q++) {
			struct bnnacc_part pt;

			if (!bnnacc_net_part(net, l, q, &pt))
				json_array_append_new(parts, json_pack("[i,i,i,i,i,i]", (int)l,
					(int)q, (int)pt.in0, (int)pt.in1, (int)pt.out0,
					(int)pt.out1));
		}
	for (k = 0; k < bnnacc_net_m(net); k++) {
		json_t *net_k = json_array();

		for (l = 0; (lr = bnnacc_net_report(net, l)); l++)
			for (q = 0; q < lr->parts; q++) {
				const struct bnnacc_region *t = bnnacc_net_tile(net, k, l, q, NULL);

				json_array_append_new(net_k, json_pack("[i,i,i,i,i,i]", (int)l,
					(int)q, t->row, t->col, t->rows, t->cols));
			}
		json_array_append_new(tiles, net_k);
	}
	return json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:s,s:o,s:o,s:o}",
		"mode", x->mode == BNNACC_XFER_SHARED ? "shared" : "samples",
		"cells", (int)x->cells, "repeat", (int)x->repeat, "m", (int)x->m,
		"clipped", (int)x->clipped, "weights",
		(int)x->weights, "kl_mean", x->kl_mean, "why", x->why,
		"layers", layers, "parts", parts, "tiles", tiles);
}

/* Each layer's gain (uS per weight unit) of the card's network */
static json_t *gamma_json(const struct card *c)
{
	json_t *a = json_array();
	unsigned l;

	for (l = 0; l < c->nl; l++)
		json_array_append_new(a, json_real(c->gamma[l]));
	return a;
}

/*
 * The last check: what it found (gain, spread, excess: before a refresh it
 * made), whether it reprogrammed, and the gain in use now
 */
static json_t *drift_json(const struct card *c)
{
	return json_pack("{s:f,s:f,s:f,s:b,s:f,s:i,s:i}", "gain", c->found.gain,
		"spread", c->found.spread, "excess", c->found.excess,
		"refreshed", c->refreshed, "gain_now", c->drift.gain,
		"checks", (int)c->drift.checks, "refreshes", (int)c->drift.refreshes);
}

/*
 * Version 2 clients waiting on an admin request of @p hear of each card's
 * progress: a JSON-RPC notification "progress" with the request's id, the
 * card, the stage (calibrating, programming, checking; done or failed) and
 * how many of the request's cards are done. @extra (stolen) adds members.
 */
static void progress(struct pending *p, struct card *c, const char *stage, json_t *extra)
{
	json_t *params;

	if (!p->cl || !p->cl->rpc || !p->id || json_is_object(p->id)) {
		json_decref(extra);	/* no client, version 1, or a notification */
		return;
	}
	params = json_pack("{s:O,s:s,s:i,s:s,s:i,s:i}", "id", p->id, "op",
			   proto_op_name(p->op), "card", c->index, "stage", stage,
			   "cards_done", (int)json_array_size(p->cards), "cards", (int)p->total);
	if (extra)
		json_object_update(params, extra);
	json_decref(extra);
	send_line_json(p->cl, proto_rpc_notification("progress", params));
}

/* @c starts work (@w) for the pending requests that wait on it. */
static void progress_start(struct daemon *d, struct card *c, enum work w)
{
	struct pending *p;

	for (p = d->pend; p; p = p->next)
		if (p->mask & (1ull << c->slot))
			progress(p, c, w == W_CHECK ? "checking" :
				 !c->have_cal || c->wforce ? "calibrating" : "programming", NULL);
}

/* @c finished its work for the pending requests of @ck (1 check, 0 the others, -1 all) */
static void pending_card_done(struct daemon *d, struct card *c, int rc,
			      const char *err, int ck)
{
	struct pending *p;

	for (p = d->pend; p; p = p->next) {
		json_t *o;

		if (!(p->mask & (1ull << c->slot)) || (ck >= 0 && (p->op == OP_CHECK) != ck))
			continue;
		p->mask &= ~(1ull << c->slot);
		if (rc) {
			json_array_append_new(p->cards, json_pack("{s:i,s:b,s:s}",
				"index", c->index, "ok", 0, "error", err));
			progress(p, c, "failed", json_pack("{s:s}", "error", err));
			continue;
		}
		o = json_pack("{s:i,s:b,s:i,s:o,s:s*}", "index", c->index, "ok", 1,
			      "m", (int)c->m, "gamma", gamma_json(c), "warning",
			      c->warn[0] ? c->warn : NULL);
		if (ck > 0)
			json_object_set_new(o, "drift", drift_json(c));
		else if (c->net)
			json_object_set_new(o, "transfer", transfer_json(c->net));
		json_array_append_new(p->cards, o);
		progress(p, c, "done", json_pack("{s:i}", "m", (int)c->m));
	}
	pending_reply(d);
}

/* ---- infer ----------------------------------------------------------------- */

static void job_free(struct job *j)
{
	json_decref(j->id);
	free(j->x);
	free(j);
}

static void observe_latency(struct daemon *d, double s)
{
	unsigned b;

	for (b = 0; b < NBUCKETS && s > lat_bounds[b]; b++)
		;
	d->lat_bucket[b]++;
	d->lat_sum += s;
	d->lat_count++;
}

static json_t *darray(const double *v, unsigned n)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static void job_reply(struct daemon *d, struct card *c, struct job *j,
		      unsigned first)
{
	const struct bnnacc_result *r = &c->res;
	unsigned s = j->samples && j->samples < r->m ? j->samples : r->m, i, k;
	json_t *out = proto_ok(j->id), *mean = json_array(), *up = json_array(),
	       *ua = json_array(), *ue = json_array(), *ps = json_array();
	double mu[BNNACC_MODEL_MAX_DIM], p, a, e;

	for (i = 0; i < j->n; i++) {
		const double *pr = r->probs + (size_t)(first + i) * r->m * r->c;

		/* the first s samples of this input, as a result of its own */
		struct bnnacc_result view = {
			.m = s, .n = 1, .c = r->c, .probs = (double *)pr,
			.mean = mu, .u_p = &p, .u_a = &a, .u_e = &e,
		};

		bnnacc_uncertainty(&view);
		json_array_append_new(mean, darray(mu, r->c));
		json_array_append_new(up, json_real(p));
		json_array_append_new(ua, json_real(a));
		json_array_append_new(ue, json_real(e));
		if (j->outputs & OUT_PER_SAMPLE) {
			json_t *one = json_array();

			for (k = 0; k < s; k++)
				json_array_append_new(one, darray(pr + k * r->c, r->c));
			json_array_append_new(ps, one);
		}
	}
	json_object_set_new(out, "model", json_string(d->model ? d->model->name : ""));
	json_object_set_new(out, "card", json_integer(c->index));
	json_object_set_new(out, "m", json_integer(s));
	json_object_set_new(out, "n", json_integer(j->n));
	if (j->outputs & OUT_MEAN)
		json_object_set(out, "mean", mean);
	if (j->outputs & OUT_UNC) {
		json_object_set(out, "u_p", up);
		json_object_set(out, "u_a", ua);
		json_object_set(out, "u_e", ue);
	}
	if (j->outputs & OUT_PER_SAMPLE)
		json_object_set(out, "per_sample", ps);
	json_decref(mean);
	json_decref(up);
	json_decref(ua);
	json_decref(ue);
	json_decref(ps);
	observe_latency(d, now_s() - j->t0);
	send_json(j->cl, out);
}

/* Take a batch off the queues for card @c; post it. */
static int batch(struct daemon *d, struct card *c)
{
	struct sched_item *it;
	double t = now_s();
	size_t need;
	unsigned n = 0, lim = d->cfg.batch_inputs;

	if (c->s_per_input > 0) {
		double fit = BATCH_S / c->s_per_input;

		if (fit < lim)
			lim = fit > BATCH_MIN ? (unsigned)fit :
			      BATCH_MIN < lim ? BATCH_MIN : lim;
	} else if (lim > BATCH_FIRST) {
		lim = BATCH_FIRST;	/* not measured yet */
	}
	c->njobs = 0;
	while ((it = sched_peek(&d->sq)) != NULL) {
		struct job *j = (struct job *)it;

		if (j->deadline < t) {
			sched_pop(&d->sq);
			send_err(d, j->cl, j->id, E_DEADLINE, "deadline passed in the queue");
			job_free(j);
			continue;
		}
		if (n > 0 && n + j->n > lim)
			break;
		if (c->njobs == c->jcap) {
			unsigned cap = c->jcap ? 2 * c->jcap : 64;
			struct job **nj = realloc(c->jobs, cap * sizeof(*nj));

			if (!nj)
				break;
			c->jobs = nj;
			c->jcap = cap;
		}
		sched_pop(&d->sq);
		c->jobs[c->njobs++] = j;
		n += j->n;
	}
	if (!c->njobs)
		return 0;
	need = (size_t)n * d->model->m->n_inputs;
	if (need > c->xcap) {
		float *nx = realloc(c->x, need * sizeof(float));

		if (!nx) {
			unsigned i;

			for (i = 0; i < c->njobs; i++)
				sched_requeue(&d->sq, &c->jobs[i]->cl->sq, &c->jobs[i]->si);
			c->njobs = 0;
			return 0;
		}
		c->x = nx;
		c->xcap = need;
	}
	for (n = 0, need = 0; n < c->njobs; n++) {
		struct job *j = c->jobs[n];

		memcpy(c->x + need, j->x, (size_t)j->n * j->dim * sizeof(float));
		need += (size_t)j->n * j->dim;
	}
	c->n = (unsigned)(need / d->model->m->n_inputs);
	post(c, W_INFER);
	return 1;
}

/* A failed batch: retry its requests (another card or after reprogramming). */
static void batch_failed(struct daemon *d, struct card *c)
{
	unsigned i;

	c->errors++;
	for (i = c->njobs; i-- > 0;) {
		struct job *j = c->jobs[i];

		if (!j->cl) {
			job_free(j);
		} else if (j->retries++ < d->cfg.max_retries) {
			d->retries++;
			sched_requeue(&d->sq, &j->cl->sq, &j->si);
		} else {
			send_err(d, j->cl, j->id, E_CARD, c->err);
			job_free(j);
		}
	}
	c->njobs = 0;
}

static void infer_done(struct daemon *d, struct card *c)
{
	unsigned i, first = 0;

	if (c->rc) {
		logmsg(LOG_WARNING, "%s: inference failed: %s; %u requests retried",
		       c->path, c->err, c->njobs);
		batch_failed(d, c);
		if (c->rc == -ENODEV || card_vanished(c))
			card_gone(c);
		else
			c->need_program = 1;
		return;
	}
	c->batches++;
	c->inputs += c->n;
	if (c->n) {
		double per = (now_s() - c->t_post) / c->n;

		c->s_per_input = c->s_per_input > 0 ? 0.8 * c->s_per_input + 0.2 * per : per;
	}
	for (i = 0; i < c->njobs; i++) {
		struct job *j = c->jobs[i];

		if (j->cl)
			job_reply(d, c, j, first);
		first += j->n;
		job_free(j);
	}
	c->njobs = 0;
	bnnacc_result_free(&c->res);
}

static void program_done(struct daemon *d, struct card *c)
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

static void notify_cb(evutil_socket_t fd, short what, void *arg)
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
static void kick(struct daemon *d)
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

/* ---- requests -------------------------------------------------------------- */

/*
 * The queue is full and @cl wants to add a request: if another client holds
 * at least two more queued requests than @cl, its newest is answered `busy`
 * to make room, so that clients pipelining deep queues cannot lock out one
 * that asks little (each client keeps a fair share of max_queue).
 */
static void make_room(struct daemon *d, struct client *cl)
{
	struct sched_client *sc, *hog = NULL;
	struct sched_item *it, *last = NULL;
	struct job *j;

	TAILQ_FOREACH(sc, &d->sq.ring, ring)
		if (sc != &cl->sq && (!hog || sc->n > hog->n))
			hog = sc;
	if (!hog || hog->n < cl->sq.n + 2)
		return;
	TAILQ_FOREACH(it, &hog->items, link)
		last = it;
	j = (struct job *)last;
	sched_remove(&d->sq, last);
	send_err(d, j->cl, j->id, E_BUSY, "queue full, retry later");
	job_free(j);
}

static void do_infer(struct daemon *d, struct client *cl, struct proto_req *r)
{
	struct job *j;
	double t = now_s();

	if (d->draining)
		return send_err(d, cl, r->id, E_SHUTDOWN, "daemon is shutting down");
	if (!d->model || (r->name[0] && strcmp(r->name, d->model->name)))
		return send_err(d, cl, r->id, E_NO_MODEL, "no such model loaded");
	if (r->dim != d->model->m->n_inputs)
		return send_err(d, cl, r->id, E_BAD_REQUEST,
				"input length differs from the model's inputs");
	if (!live_cards(d))
		return send_err(d, cl, r->id, E_NO_CARD, "no card");
	j = calloc(1, sizeof(*j));
	if (!j)
		return send_err(d, cl, r->id, E_INTERNAL, "out of memory");
	j->cl = cl;
	j->id = json_incref(r->id);
	j->x = r->inputs;
	r->inputs = NULL;
	j->n = r->n;
	j->dim = r->dim;
	j->samples = r->samples;
	j->outputs = r->outputs;
	j->t0 = t;
	j->deadline = t + (r->deadline_ms != PROTO_DEFAULT_DEADLINE_MS ?
			   r->deadline_ms : d->cfg.deadline_ms) / 1000.0;
	if (d->sq.pending >= d->sq.max)
		make_room(d, cl);
	if (sched_push(&d->sq, &cl->sq, &j->si)) {
		job_free(j);
		/* read no more of this client's requests until the queue has
		 * room again: a pipelining client gets one `busy` per full
		 * queue instead of one per request it sent meanwhile */
		if (!cl->qwait) {
			cl->qwait = 1;
			d->nqwait++;
			bufferevent_disable(cl->bev, EV_READ);
		}
		return send_err(d, cl, r->id, E_BUSY, "queue full, retry later");
	}
	d->infer_inputs += r->n;
	kick(d);
}

static void do_load(struct daemon *d, struct client *cl, struct proto_req *r)
{
	char err[256], path[1400];
	struct bnnacc_model *m;
	unsigned char *buf = r->data;
	size_t len = r->data_len;
	long sz;
	int ret;
	unsigned i;
	uint64_t mask = 0;
	struct dmodel *dm;
	enum proto_err ecode = E_BAD_MODEL;

	if (d->loading)
		return send_err(d, cl, r->id, E_BUSY,
				"another load is in progress: retry when it has completed");
	if (!buf) {
		FILE *f = fopen(r->path, "re");

		if (!f)
			return send_err(d, cl, r->id, E_BAD_MODEL, strerror(errno));
		fseek(f, 0, SEEK_END);
		sz = ftell(f);
		rewind(f);
		if (sz <= 0 || (size_t)sz > BNNACC_MODEL_MAX_BYTES ||
		    !(buf = malloc((size_t)sz)) || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
			fclose(f);
			free(buf);
			return send_err(d, cl, r->id, E_BAD_MODEL, "cannot read the model file");
		}
		fclose(f);
		len = (size_t)sz;
	}
	ret = bnnacc_model_load_mem(&m, buf, len, err, sizeof(err));
	if (!ret) {
		staged_path(d, path, sizeof(path), r->name);
		ret = write_atomic(path, buf, len);
		if (ret) {	/* the previous model stays, stored and served */
			bnnacc_model_free(m);
			snprintf(err, sizeof(err), "cannot store the model (%zu bytes) in %.150s/models: %s%s",
				 len, d->cfg.state_dir, strerror(-ret),
				 ret == -ENOSPC ? " (ENOSPC: free space in the state directory)" : "");
			logmsg(LOG_ERR, "load %s: %s", r->name, err);
			ecode = E_STORAGE;
		}
	}
	if (buf != r->data)
		free(buf);
	if (ret)
		return send_err(d, cl, r->id, ecode, err);
	dm = model_new(d, r->name, m, len);
	if (!dm) {
		bnnacc_model_free(m);
		unlink(path);
		return send_err(d, cl, r->id, E_INTERNAL, "out of memory");
	}
	dm->want_m = r->m;
	/* the candidate: it replaces the model once a card has programmed it */
	d->prev = d->model;
	d->model = dm;
	d->loading = 1;
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i])
			d->card[i]->need_program = 1;
	logmsg(LOG_INFO, "model %s loading (uid %u)", r->name, (unsigned)cl->uid);
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone)
			mask |= 1ull << i;
	pending_add(d, cl, r->id, OP_LOAD, mask);
	pending_reply(d);
	kick(d);
}

static void do_unload(struct daemon *d, struct client *cl, struct proto_req *r)
{
	if (d->loading)
		return send_err(d, cl, r->id, E_BUSY,
				"a load is in progress: retry when it has completed");
	if (!d->model || strcmp(d->model->name, r->name))
		return send_err(d, cl, r->id, E_NO_MODEL, "no such model loaded");
	state_prune(d, NULL);
	set_model(d, NULL);
	send_json(cl, proto_ok(r->id));
	kick(d);
}

static void do_cards_op(struct daemon *d, struct client *cl, struct proto_req *r)
{
	uint64_t mask = 0;
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++) {
		struct card *c = d->card[i];

		if (!c || c->gone || (r->card >= 0 && c->index != r->card))
			continue;
		if (r->op == OP_CHECK) {
			if (!c->net || c->prog_gen != d->gen)
				continue;	/* nothing programmed to check */
			mask |= 1ull << i;
			c->want_check = 1;
			continue;
		}
		mask |= 1ull << i;
		c->need_program = 1;
		if (r->op == OP_RESET)
			c->want_reset = 1;
		else
			c->force_cal = 1;
	}
	if (!mask && r->op == OP_CHECK)
		return send_err(d, cl, r->id, E_NO_MODEL, "no card holds a model to check");
	if (!mask)
		return send_err(d, cl, r->id, E_NO_CARD, "no such card");
	pending_add(d, cl, r->id, r->op, mask);
	kick(d);
}

/* The PCI address of the card behind /dev/bnnaccN (sysfs), or "". */
static void card_pci(const struct card *c, char *buf, size_t len)
{
	const char *node = strrchr(c->path, '/');
	char link[300], target[300];
	ssize_t n;

	*buf = 0;
	if (c->sim)
		return;
	snprintf(link, sizeof(link), "/sys/class/bnnacc/%s/device", node ? node + 1 : c->path);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = 0;
	node = strrchr(target, '/');
	snprintf(buf, len, "%.63s", node ? node + 1 : target);
}

static json_t *card_json(struct daemon *d, struct card *c)
{
	double up = now_s() - d->t_start;
	char pci[64];

	card_pci(c, pci, sizeof(pci));
	return json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:o,s:I,s:I,s:I,s:f,s:f,s:b,s:o}",
		"index", c->index, "path", c->path, "pci", pci,
		"serial", "", "state", c->busy ? "busy" : c->net ? "ready" :
		c->failed_gen == (int)d->gen ? "failed" : "idle",
		"m", (int)c->m, "gamma", gamma_json(c),
		"batches", (json_int_t)c->batches, "inputs", (json_int_t)c->inputs,
		"errors", (json_int_t)c->errors, "busy_s", c->busy_s,
		"utilization", up > 0 ? c->busy_s / up : 0.0,
		"calibrated", c->have_cal, "drift", drift_json(c));
}

static void do_info(struct daemon *d, struct client *cl, struct proto_req *r)
{
	json_t *o = proto_ok(r->id), *a;
	unsigned i;
	char ser[32];

	switch (r->op) {
	case OP_STATUS:
		json_object_set_new(o, "version", json_integer(PROTO_VERSION));
		json_object_set_new(o, "uptime_s", json_real(now_s() - d->t_start));
		json_object_set_new(o, "cards", json_integer(live_cards(d)));
		json_object_set_new(o, "model", d->model ? json_string(d->model->name) : json_null());
		json_object_set_new(o, "queue", json_integer(d->sq.pending));
		json_object_set_new(o, "clients", json_integer(d->nclients));
		json_object_set_new(o, "admin", json_boolean(cl->admin));
		break;
	case OP_CARDS:
		a = json_array();
		for (i = 0; i < MAX_CARDS; i++) {
			struct card *c = d->card[i];
			json_t *cj;

			if (!c || c->gone)
				continue;
			cj = card_json(d, c);
			snprintf(ser, sizeof(ser), "%016llx",
				 (unsigned long long)c->card.info.serial);
			json_object_set_new(cj, "serial", json_string(ser));
			json_array_append_new(a, cj);
		}
		json_object_set_new(o, "cards", a);
		break;
	case OP_MODELS:
		a = json_array();
		if (d->model) {
			unsigned n = 0;

			for (i = 0; i < MAX_CARDS; i++)
				n += d->card[i] && !d->card[i]->gone &&
				     d->card[i]->prog_gen == d->gen && d->card[i]->net;
			json_array_append_new(a, json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:i}",
				"name", d->model->name,
				"inputs", (int)d->model->m->n_inputs,
				"classes", (int)d->model->m->n_classes,
				"layers", (int)d->model->m->n_layers,
				"kind", d->model->m->kind ? "samples" : "gauss",
				"bytes", (json_int_t)d->model->size, "cards", (int)n));
			/* a load in progress: the candidate, and what it replaces */
			if (d->loading)
				json_object_set_new(json_array_get(a, 0), "state",
						    json_string("loading"));
			if (d->loading && d->prev)
				json_object_set_new(json_array_get(a, 0), "replaces",
						    json_string(d->prev->name));
		}
		json_object_set_new(o, "models", a);
		break;
	default:
		break;
	}
	send_json(cl, o);
}

static void do_stats(struct daemon *d, struct client *cl, struct proto_req *r)
{
	json_t *o = proto_ok(r->id), *req = json_object(), *err = json_object();
	unsigned i;

	for (i = 0; i < OP__COUNT; i++)
		json_object_set_new(req, proto_op_name(i), json_integer((json_int_t)d->req[i]));
	for (i = 1; i < E__COUNT; i++)
		json_object_set_new(err, proto_err_name(i), json_integer((json_int_t)d->errs[i]));
	json_object_set_new(o, "requests", req);
	json_object_set_new(o, "errors", err);
	json_object_set_new(o, "infer_inputs", json_integer((json_int_t)d->infer_inputs));
	json_object_set_new(o, "retries", json_integer((json_int_t)d->retries));
	json_object_set_new(o, "queue", json_integer(d->sq.pending));
	json_object_set_new(o, "clients", json_integer(d->nclients));
	json_object_set_new(o, "latency_count", json_integer((json_int_t)d->lat_count));
	json_object_set_new(o, "latency_sum_s", json_real(d->lat_sum));
	send_json(cl, o);
}

/* A metric family's header: # HELP and # TYPE. */
static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The per-card families, each with every card's sample under it. */
enum { CM_UTIL, CM_QUEUE, CM_BATCHES, CM_INPUTS, CM_ERRORS, CM_PROGRAMS, CM_M,
	CM_GAIN, CM_EXCESS, CM_CHECKS, CM_REFRESHES, CM_FOREIGN, CM__COUNT };

static const struct {
	const char *name, *type, *help;
} card_metrics[CM__COUNT] = {
	[CM_UTIL] = { "bnnaccd_card_utilization", "gauge",
		"Fraction of the daemon's uptime the card spent on work." },
	[CM_QUEUE] = { "bnnaccd_card_queue_depth", "gauge",
		"Requests in the batch the card is running." },
	[CM_BATCHES] = { "bnnaccd_card_batches_total", "counter",
		"Inference batches the card ran." },
	[CM_INPUTS] = { "bnnaccd_card_inputs_total", "counter",
		"Input vectors the card inferred." },
	[CM_ERRORS] = { "bnnaccd_card_errors_total", "counter",
		"Batches that failed on the card." },
	[CM_PROGRAMS] = { "bnnaccd_card_programs_total", "counter",
		"Programmings of the card (loads, resets, refreshes)." },
	[CM_M] = { "bnnaccd_card_networks", "gauge",
		"Sampled networks programmed on the card (M)." },
	[CM_GAIN] = { "bnnaccd_card_drift_gain", "gauge",
		"Gain the last drift check measured on the reference cells (1: none)." },
	[CM_EXCESS] = { "bnnaccd_card_drift_excess", "gauge",
		"Excess weight variance the relaxation added, at the last check." },
	[CM_CHECKS] = { "bnnaccd_card_drift_checks_total", "counter",
		"Drift checks of the reference cells." },
	[CM_REFRESHES] = { "bnnaccd_card_refreshes_total", "counter",
		"Reprogrammings a drift check advised." },
	[CM_FOREIGN] = { "bnnaccd_card_foreign_programs_total", "counter",
		"PROGRAMs of the card by another process (the daemon reprogrammed)." },
};

static double card_metric(const struct card *c, unsigned k, double up)
{
	switch (k) {
	case CM_UTIL: return up > 0 ? c->busy_s / up : 0.0;
	case CM_QUEUE: return c->busy ? c->njobs : 0;
	case CM_BATCHES: return (double)c->batches;
	case CM_INPUTS: return (double)c->inputs;
	case CM_ERRORS: return (double)c->errors;
	case CM_PROGRAMS: return (double)c->programs;
	case CM_M: return c->net ? c->m : 0;
	case CM_GAIN: return c->drift.checks ? c->drift.gain : 1.0;
	case CM_EXCESS: return c->drift.excess;
	case CM_CHECKS: return c->drift.checks;
	case CM_REFRESHES: return c->drift.refreshes;
	default: return (double)c->foreign_programs;
	}
}

/*
 * The Prometheus text exposition (version 0.0.4): every family once, with
 * # HELP and # TYPE, its samples together (`promtool check metrics` clean).
 */
static void metrics_text(struct daemon *d, struct evbuffer *b)
{
	double up = now_s() - d->t_start;
	uint64_t cum = 0;
	unsigned i, k;

	family(b, "bnnaccd_requests_total", "counter", "Requests received, by operation.");
	for (i = 0; i < OP__COUNT; i++)
		evbuffer_add_printf(b, "bnnaccd_requests_total{op=\"%s\"} %llu\n",
				    proto_op_name(i), (unsigned long long)d->req[i]);
	family(b, "bnnaccd_errors_total", "counter", "Error replies, by error code.");
	for (i = 1; i < E__COUNT; i++)
		evbuffer_add_printf(b, "bnnaccd_errors_total{code=\"%s\"} %llu\n",
				    proto_err_name(i), (unsigned long long)d->errs[i]);
	family(b, "bnnaccd_infer_inputs_total", "counter", "Input vectors in infer requests.");
	evbuffer_add_printf(b, "bnnaccd_infer_inputs_total %llu\n",
			    (unsigned long long)d->infer_inputs);
	family(b, "bnnaccd_retries_total", "counter",
	       "Infer requests run again after a card failed them.");
	evbuffer_add_printf(b, "bnnaccd_retries_total %llu\n", (unsigned long long)d->retries);
	family(b, "bnnaccd_queue_depth", "gauge", "Infer requests waiting for a card.");
	evbuffer_add_printf(b, "bnnaccd_queue_depth %u\n", d->sq.pending);
	family(b, "bnnaccd_clients", "gauge", "Connected clients.");
	evbuffer_add_printf(b, "bnnaccd_clients %u\n", d->nclients);
	family(b, "bnnaccd_uptime_seconds", "gauge", "Seconds since the daemon started.");
	evbuffer_add_printf(b, "bnnaccd_uptime_seconds %.3f\n", up);
	family(b, "bnnaccd_infer_latency_seconds", "histogram",
	       "Infer requests' time from arrival to reply.");
	for (i = 0; i < NBUCKETS; i++) {
		cum += d->lat_bucket[i];
		evbuffer_add_printf(b, "bnnaccd_infer_latency_seconds_bucket{le=\"%g\"} %llu\n",
				    lat_bounds[i], (unsigned long long)cum);
	}
	cum += d->lat_bucket[NBUCKETS];
	evbuffer_add_printf(b, "bnnaccd_infer_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "bnnaccd_infer_latency_seconds_sum %.6f\n"
			    "bnnaccd_infer_latency_seconds_count %llu\n",
			    (unsigned long long)cum, d->lat_sum,
			    (unsigned long long)d->lat_count);
	for (k = 0; k < CM__COUNT; k++) {
		family(b, card_metrics[k].name, card_metrics[k].type, card_metrics[k].help);
		for (i = 0; i < MAX_CARDS; i++) {
			struct card *c = d->card[i];

			if (c && !c->gone)
				evbuffer_add_printf(b, "%s{card=\"%d\"} %.10g\n", card_metrics[k].name,
						    c->index, card_metric(c, k, up));
		}
	}
}

static void do_metrics(struct daemon *d, struct client *cl, struct proto_req *r)
{
	struct evbuffer *b = evbuffer_new();
	json_t *o = proto_ok(r->id);

	metrics_text(d, b);
	evbuffer_add(b, "", 1);
	json_object_set_new(o, "text", json_string((const char *)evbuffer_pullup(b, -1)));
	evbuffer_free(b);
	send_json(cl, o);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify_msg("WATCHDOG=1");
}

/*
 * systemd's watchdog (WatchdogSec=): WATCHDOG=1 from the event loop at half
 * the interval, so a loop that hangs gets the daemon restarted.
 */
static void watchdog_setup(struct daemon *d)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long usec = us ? strtoll(us, NULL, 10) : 0;
	struct timeval tv;

	if (usec <= 0 || (pid && strtol(pid, NULL, 10) != (long)getpid()))
		return;
	usec /= 2;
	tv.tv_sec = usec / 1000000;
	tv.tv_usec = usec % 1000000;
	d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
	if (d->ev_watchdog)
		event_add(d->ev_watchdog, &tv);
	sd_notify_msg("WATCHDOG=1");
	logmsg(LOG_INFO, "systemd watchdog: every %lld ms", usec / 1000);
}

/* HTTP GET /metrics (metrics_http): the same text, for a Prometheus scrape. */
static void http_cb(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b;

	if (!uri || (strcmp(uri, "/metrics") && strncmp(uri, "/metrics?", 9))) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_text(d, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* The HTTP listener of metrics_http (HOST:PORT); 0, or -1 (logged). */
static int http_setup(struct daemon *d)
{
	char host[64], *colon;
	long port;

	if (!d->cfg.metrics_http[0])
		return 0;
	snprintf(host, sizeof(host), "%s", d->cfg.metrics_http);
	colon = strrchr(host, ':');
	port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (!colon || port <= 0 || port > 65535) {
		logmsg(LOG_ERR, "metrics_http %s: not HOST:PORT", d->cfg.metrics_http);
		return -1;
	}
	*colon = 0;
	d->http = evhttp_new(d->base);
	if (!d->http || evhttp_bind_socket(d->http, host, (uint16_t)port)) {
		logmsg(LOG_ERR, "metrics_http %s: cannot listen: %s", d->cfg.metrics_http,
		       strerror(errno));
		return -1;
	}
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(d->http, http_cb, d);
	logmsg(LOG_INFO, "metrics on http://%s/metrics", d->cfg.metrics_http);
	return 0;
}

static int admin_op(enum proto_op op)
{
	return op == OP_LOAD || op == OP_UNLOAD || op == OP_CALIBRATE || op == OP_RESET ||
	       op == OP_CHECK;
}

static void handle_line(struct client *cl, const char *line, size_t len)
{
	struct daemon *d = cl->d;
	struct proto_req r;
	char msg[256];
	enum proto_err e = proto_parse(line, len, &r, msg, sizeof(msg));

	/* before the hello, replies take the framing of the request */
	if (!cl->hello)
		cl->rpc = r.rpc;
	if (e != E_OK) {
		if (e == E_VERSION) {
			json_t *j = proto_error(r.id, e, msg);

			json_object_set_new(j, "version", json_integer(PROTO_VERSION));
			json_object_set_new(j, "versions", json_pack("[i,i]", PROTO_VERSION_MIN,
								     PROTO_VERSION));
			d->errs[e]++;
			send_json(cl, j);
			cl->bad = 1;
		} else {
			send_err(d, cl, r.id, e, msg);
		}
		proto_req_free(&r);
		return;
	}
	d->req[r.op]++;
	if (r.op == OP_HELLO) {
		json_t *j = proto_ok(r.id);

		/* the version the client asked for: 2 speaks JSON-RPC 2.0 from now on */
		cl->hello = 1;
		cl->rpc = r.version >= 2;
		json_object_set_new(j, "version", json_integer(r.version));
		json_object_set_new(j, "server", json_string("bnnaccd"));
		json_object_set_new(j, "admin", json_boolean(cl->admin));
		send_json(cl, j);
	} else if (!cl->hello) {
		send_err(d, cl, r.id, E_HANDSHAKE,
			 "send a hello first: {\"op\":\"hello\",\"version\":1} or "
			 "{\"jsonrpc\":\"2.0\",\"method\":\"hello\",\"params\":{\"version\":2},\"id\":0}");
	} else if (admin_op(r.op) && !cl->admin) {
		send_err(d, cl, r.id, E_PERM, "needs uid 0 or the admin group");
	} else if (admin_op(r.op) && d->draining) {
		send_err(d, cl, r.id, E_SHUTDOWN, "daemon is shutting down");
	} else {
		switch (r.op) {
		case OP_INFER: do_infer(d, cl, &r); break;
		case OP_LOAD: do_load(d, cl, &r); break;
		case OP_UNLOAD: do_unload(d, cl, &r); break;
		case OP_CALIBRATE:
		case OP_RESET:
		case OP_CHECK: do_cards_op(d, cl, &r); break;
		case OP_STATS: do_stats(d, cl, &r); break;
		case OP_METRICS: do_metrics(d, cl, &r); break;
		default: do_info(d, cl, &r); break;
		}
	}
	proto_req_free(&r);
}

/* ---- clients --------------------------------------------------------------- */

/* accept() ran out of descriptors or memory: stop listening (the socket is
 * level-triggered: retrying at once would spin) until a client goes away or
 * a second has passed; new clients wait in the listen backlog meanwhile. */
static void accept_error(struct evconnlistener *l, void *arg)
{
	struct daemon *d = arg;
	int e = EVUTIL_SOCKET_ERROR();

	evconnlistener_disable(l);
	if (!d->lis_paused && now_s() - d->lis_pause_t > 10)
		logmsg(LOG_WARNING, "accept: %s; not accepting until descriptors free up (%u clients)",
		       strerror(e), d->nclients);
	d->lis_paused = 1;
	d->lis_pause_t = now_s();
}

static void accept_resume(struct daemon *d)
{
	if (!d->lis_paused || !d->lis)
		return;
	d->lis_paused = 0;
	evconnlistener_enable(d->lis);
}

static void drop_job(struct sched_item *it, void *arg)
{
	(void)arg;
	job_free((struct job *)it);
}

static void client_free(struct client *cl)
{
	struct daemon *d = cl->d;
	struct pending *p;
	unsigned i, k;

	sched_drain_client(&d->sq, &cl->sq, drop_job, NULL);
	for (i = 0; i < MAX_CARDS; i++)	/* in flight: answered to nobody */
		for (k = 0; d->card[i] && k < d->card[i]->njobs; k++)
			if (d->card[i]->jobs[k]->cl == cl)
				d->card[i]->jobs[k]->cl = NULL;
	for (p = d->pend; p; p = p->next)
		if (p->cl == cl)
			p->cl = NULL;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		d->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	d->nclients--;
	if (cl->qwait)
		d->nqwait--;
	bufferevent_free(cl->bev);
	free(cl);
	accept_resume(d);
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	double t_end = now_s() + TURN_S;
	unsigned lines = 0;

	while (!cl->bad && !cl->throttled && !cl->qwait && !cl->drop) {
		size_t eol;
		struct evbuffer_ptr pos;

		if (lines++ == TURN_LINES || (lines > 1 && now_s() > t_end)) {
			/* yield to the other clients; come back after them */
			bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
					    BEV_TRIG_DEFER_CALLBACKS);
			break;
		}
		pos = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (pos.pos < 0) {
			size_t have = evbuffer_get_length(in);

			if (have > PROTO_MAX_LINE) {
				if (!cl->discarding)
					send_err(cl->d, cl, NULL, E_TOO_LARGE,
						 "request line over 1 MiB");
				cl->discarding = 1;
				evbuffer_drain(in, have);
			}
			break;
		}
		if (cl->discarding || (size_t)pos.pos > PROTO_MAX_LINE) {
			if (!cl->discarding)
				send_err(cl->d, cl, NULL, E_TOO_LARGE, "request line over 1 MiB");
			cl->discarding = 0;
		} else {
			const char *line = (const char *)evbuffer_pullup(in, pos.pos + 1);

			handle_line(cl, line, (size_t)pos.pos);
		}
		evbuffer_drain(in, (size_t)pos.pos + 1);
	}
}

/*
 * Called after every reply queued to @cl: past OUT_HIGH unsent bytes stop
 * reading its requests (client_write resumes at OUT_LOW); past MAX_OUTBUF
 * the client is dropped at the next tick (not here: the caller may be
 * walking the client list or a card's batch).
 */
static void throttle(struct client *cl)
{
	size_t out = evbuffer_get_length(bufferevent_get_output(cl->bev));

	if (out > MAX_OUTBUF) {
		logmsg(LOG_WARNING, "client pid %d does not read its replies (%zu bytes unsent); dropped",
		       (int)cl->pid, out);
		cl->drop = 1;
		bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
	} else if (out > OUT_HIGH && !cl->throttled) {
		cl->throttled = 1;
		bufferevent_disable(cl->bev, EV_READ);
		bufferevent_setwatermark(cl->bev, EV_WRITE, OUT_LOW, 0);
	}
}

static void client_write(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	size_t out = evbuffer_get_length(bufferevent_get_output(bev));

	if (cl->bad && out == 0) {
		client_free(cl);
		return;
	}
	if (cl->throttled && out <= OUT_LOW && !cl->drop) {
		cl->throttled = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!cl->qwait) {
			bufferevent_enable(bev, EV_READ);
			client_read(bev, cl);	/* the requests already buffered */
		}
	}
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct daemon *d = arg;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct client *cl;
	gid_t agid;

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) ||
	    !(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->d = d;
	cl->uid = uc.uid;
	cl->gid = uc.gid;
	cl->pid = uc.pid;
	cl->admin = uc.uid == 0 ||
		    (!group_gid(d->cfg.admin_group, &agid) &&
		     peer_in_group(fd, uc.gid, agid));
	cl->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		close(fd);
		free(cl);
		return;
	}
	sched_client_init(&cl->sq);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, IN_HIGH);
	bufferevent_setcb(cl->bev, client_read, client_write, client_event, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	cl->next = d->clients;
	if (d->clients)
		d->clients->prev = cl;
	d->clients = cl;
	d->nclients++;
}

/*
 * systemd socket activation (sd_listen_fds(3), by hand): the listening
 * socket passed as fd 3 when $LISTEN_PID is ours and $LISTEN_FDS is 1.
 * Returns the fd, or -1 when the daemon was not socket-activated.
 */
static int activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int fd = 3, fl;

	if (!pid || !n || strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strtol(n, NULL, 10) != 1) {
		logmsg(LOG_WARNING, "socket activation with %s sockets: ignored (bnnaccd.socket "
		       "passes one)", n);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
		return -1;
	return fd;
}

static int listen_socket(struct daemon *d)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], *slash;
	gid_t gid;
	int fd = activated_fd();

	if (fd >= 0) {
		logmsg(LOG_INFO, "socket from systemd (socket activation)");
		d->lis = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
		return d->lis ? 0 : -ENOMEM;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(d->cfg.socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->cfg.socket);
	strcpy(dir, d->cfg.socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir_p(dir, 0755);
	}
	/* a socket left by a daemon that died is removed; one that answers
	 * belongs to a live daemon (another state directory): leave it */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || errno == EAGAIN) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (!group_gid(d->cfg.socket_group, &gid)) {
		if (chown(sa.sun_path, 0, gid))
			logmsg(LOG_WARNING, "chown %s: %s", sa.sun_path, strerror(errno));
	} else {
		logmsg(LOG_NOTICE, "group %s does not exist: socket is root-only",
		       d->cfg.socket_group);
	}
	chmod(sa.sun_path, 0660);
	d->lis = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!d->lis)
		return -ENOMEM;
	evconnlistener_set_error_cb(d->lis, accept_error);
	return 0;
}

/* ---- kernel events (generic netlink "bnnacc", group "events") -------------- */

static int nl_event(struct nl_msg *msg, void *arg)
{
	struct daemon *d = arg;
	struct nlattr *a[BNNACC_A_MAX + 1];
	struct card *c;
	unsigned ev;
	int idx;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, a, BNNACC_A_MAX, NULL) ||
	    !a[BNNACC_A_EVENT] || !a[BNNACC_A_CARD_INDEX])
		return NL_OK;
	ev = nla_get_u32(a[BNNACC_A_EVENT]);
	idx = (int)nla_get_u32(a[BNNACC_A_CARD_INDEX]);
	c = card_by_index(d, idx);
	logmsg(LOG_INFO, "kernel event %u on card %d", ev, idx);
	switch (ev) {
	case BNNACC_EVENT_CARD_ADDED:
		rescan(d);
		break;
	case BNNACC_EVENT_CARD_REMOVED:
		if (c)
			card_gone(c);
		break;
	case BNNACC_EVENT_RESET:
		if (c)
			c->need_program = 1;
		break;
	case BNNACC_EVENT_DRIFT:
		if (c)	/* the card's own drift monitor: read its references */
			c->want_check = 1;
		break;
	case BNNACC_EVENT_PROGRAMMED:
		/*
		 * We hold the lease, so only an admin breaking it programs
		 * behind us: the array no longer holds our networks.
		 */
		if (c && a[BNNACC_A_LEASE_PID] &&
		    nla_get_u32(a[BNNACC_A_LEASE_PID]) != (uint32_t)getpid()) {
			logmsg(LOG_WARNING,
			       "card %s: array programmed by process %u (lease broken): reprogramming",
			       c->path, nla_get_u32(a[BNNACC_A_LEASE_PID]));
			c->foreign_programs++;
			c->need_program = 1;
		}
		break;
	default:
		break;
	}
	return NL_OK;
}

static void nl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	nl_recvmsgs_default(d->nl);
	kick(d);
}

static void nl_setup(struct daemon *d)
{
	int grp;

	if (d->nl)
		return;
	d->nl = nl_socket_alloc();
	if (!d->nl)
		return;
	if (genl_connect(d->nl) ||
	    (grp = genl_ctrl_resolve_grp(d->nl, BNNACC_GENL_NAME,
					 BNNACC_GENL_MCGRP_EVENTS)) < 0 ||
	    nl_socket_add_membership(d->nl, grp)) {
		nl_socket_free(d->nl);
		d->nl = NULL;
		return;
	}
	nl_socket_disable_seq_check(d->nl);
	nl_socket_modify_cb(d->nl, NL_CB_VALID, NL_CB_CUSTOM, nl_event, d);
	nl_socket_set_nonblocking(d->nl);
	d->ev_nl = event_new(d->base, nl_socket_get_fd(d->nl), EV_READ | EV_PERSIST, nl_cb, d);
	event_add(d->ev_nl, NULL);
	logmsg(LOG_INFO, "listening to kernel events");
}

/* ---- timers and signals ---------------------------------------------------- */

static void expire(struct daemon *d)
{
	double t = now_s();
	struct client *cl;

	for (cl = d->clients; cl; cl = cl->next) {
		struct sched_item *it, *nx;

		for (it = TAILQ_FIRST(&cl->sq.items); it; it = nx) {
			struct job *j = (struct job *)it;

			nx = TAILQ_NEXT(it, link);
			if (j->deadline >= t)
				continue;
			sched_remove(&d->sq, it);
			send_err(d, cl, j->id, E_DEADLINE, "deadline passed in the queue");
			job_free(j);
		}
	}
}

static int all_idle(struct daemon *d)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && d->card[i]->busy)
			return 0;
	return d->sq.pending == 0 && !d->pend;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct client *cl;

	(void)fd;
	(void)what;
	for (cl = d->clients; cl;) {	/* clients that never read their replies */
		struct client *nx = cl->next;

		if (cl->drop)
			client_free(cl);
		cl = nx;
	}
	if (d->lis_paused && now_s() - d->lis_pause_t >= 1)
		accept_resume(d);
	expire(d);
	if (now_s() - d->last_scan > 2)
		rescan(d);
	if (!d->sim)
		nl_setup(d);
	kick(d);
	if (!d->draining)
		return;
	if (all_idle(d)) {
		for (cl = d->clients; cl; cl = cl->next)
			if (evbuffer_get_length(bufferevent_get_output(cl->bev)))
				break;
		if (!cl || now_s() - d->drain_start > 60)
			event_base_loopbreak(d->base);
	}
}

static void reload(struct daemon *d)
{
	struct config c;
	char err[512];
	int i;

	config_defaults(&c);
	if (d->cfg_path && config_load(&c, d->cfg_path, err, sizeof(err))) {
		logmsg(LOG_ERR, "reload: %s (keeping the old configuration)", err);
		return;
	}
	for (i = 0; i < d->nover; i++)
		config_set(&c, d->over[i], d->over[i] + strlen(d->over[i]) + 1);
	snprintf(c.socket, sizeof(c.socket), "%s", d->cfg.socket);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", d->cfg.state_dir);
	d->cfg = c;
	d->sq.max = c.max_queue;
	logmsg(LOG_INFO, "configuration reloaded");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		sd_notify_msg("RELOADING=1");
		reload(d);
		sd_notify_msg("READY=1");
		return;
	}
	if (d->draining)
		return;
	logmsg(LOG_INFO, "draining and exiting");
	sd_notify_msg("STOPPING=1");
	d->draining = 1;
	d->drain_start = now_s();
	if (d->lis) {
		evconnlistener_free(d->lis);
		d->lis = NULL;
		unlink(d->cfg.socket);
	}
}

static void shutdown_all(struct daemon *d)
{
	unsigned i, busy;
	struct card *c;

	while (d->clients)
		client_free(d->clients);
	fcntl(d->notify_fd[0], F_SETFL, 0);
	for (;;) {	/* let units in flight finish */
		for (i = 0, busy = 0; i < MAX_CARDS; i++)
			busy += d->card[i] && d->card[i]->busy;
		if (!busy || read(d->notify_fd[0], &c, sizeof(c)) != sizeof(c))
			break;
		c->busy = 0;
		if (c->wkind == W_INFER)
			infer_done(d, c);
		else if (c->wkind == W_QUIT)
			card_free(d, c);
		else
			program_done(d, c);
	}
	for (i = 0; i < MAX_CARDS; i++) {
		c = d->card[i];
		if (!c)
			continue;
		post(c, W_QUIT);
		card_free(d, c);
	}
	model_put(d->model);
	model_put(d->prev);
	if (d->http)
		evhttp_free(d->http);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	while (d->pend) {
		struct pending *p = d->pend;

		d->pend = p->next;
		json_decref(p->cards);
		json_decref(p->id);
		free(p);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bnnaccd [-f] [-c CONFIG] [-s SOCKET] [-d STATE_DIR] [-o KEY=VALUE]...\n"
		"               [--sim[=SEED] [--sim-cards N]]\n"
		"  -f             foreground, log to stderr\n"
		"  --sim[=SEED]   serve simulated cards in this process (the emulated card's\n"
		"                 physics, no device nodes, no VM), manufactured from SEED\n"
		"                 (default 1) + the card's index\n"
		"  --sim-cards N  how many simulated cards (1..%d, default 1)\n", MAX_CARDS);
}

int main(int argc, char **argv)
{
	static struct daemon dd;
	struct daemon *d = &dd;
	char err[512], dir[1100];
	const char *sock = NULL, *state = NULL;
	int opt, fg = 0, ret;
	long holder;

	static const struct option lo[] = {
		{ "sim", optional_argument, NULL, 'S' },
		{ "sim-cards", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;

	config_defaults(&d->cfg);
	d->sim_cards = 1;
	d->sim_seed = 1;
	while ((opt = getopt_long(argc, argv, "fc:s:d:o:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'S':
			d->sim = 1;
			if (optarg) {
				errno = 0;
				d->sim_seed = strtoull(optarg, &end, 0);
				if (!*optarg || *end || errno) {
					fprintf(stderr, "bnnaccd: --sim=%s: not a seed (a whole number)\n",
						optarg);
					return 2;
				}
			}
			break;
		case 'N':
			d->sim_cards = (unsigned)strtoul(optarg, &end, 10);
			if (!*optarg || *end || !d->sim_cards || d->sim_cards > MAX_CARDS) {
				fprintf(stderr, "bnnaccd: --sim-cards %s: 1..%d\n", optarg, MAX_CARDS);
				return 2;
			}
			break;
		case 'f': fg = 1; break;
		case 'c': d->cfg_path = optarg; break;
		case 's': sock = optarg; break;
		case 'd': state = optarg; break;
		case 'o': if (d->nover < 32) d->over[d->nover++] = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	log_init(fg);
	if (d->cfg_path && config_load(&d->cfg, d->cfg_path, err, sizeof(err))) {
		logmsg(LOG_ERR, "%s", err);
		return 1;
	}
	for (opt = 0; opt < d->nover; opt++) {
		char *eq = strchr(d->over[opt], '=');

		if (!eq) {
			usage(stderr);
			return 2;
		}
		*eq = 0;
		if (config_set(&d->cfg, d->over[opt], eq + 1)) {
			logmsg(LOG_ERR, "bad option %s", d->over[opt]);
			return 2;
		}
	}
	if (sock)
		config_set(&d->cfg, "socket", sock);
	if (state)
		config_set(&d->cfg, "state_dir", state);
	snprintf(dir, sizeof(dir), "%.1000s/models", d->cfg.state_dir);
	if ((ret = mkdir_p(dir, 0700))) {
		logmsg(LOG_ERR, "%s: %s", dir, strerror(-ret));
		return 1;
	}
	if ((ret = lock_state(d->cfg.state_dir, &d->lock_fd, &holder))) {
		if (ret == -EBUSY)
			logmsg(LOG_ERR, "state directory %s is in use by another bnnaccd (pid %ld)",
			       d->cfg.state_dir, holder);
		else
			logmsg(LOG_ERR, "%s/bnnaccd.lock: %s", d->cfg.state_dir, strerror(-ret));
		return 1;
	}
	logmsg(LOG_INFO, "up to %d open files", raise_nofile());
	signal(SIGPIPE, SIG_IGN);
	d->t_start = now_s();
	sched_init(&d->sq, d->cfg.max_queue);
	d->base = event_base_new();
	if (!d->base || pipe2(d->notify_fd, O_CLOEXEC | O_NONBLOCK)) {
		logmsg(LOG_ERR, "event base: %s", strerror(errno));
		return 1;
	}
	if ((ret = listen_socket(d))) {
		logmsg(LOG_ERR, "socket %s: %s", d->cfg.socket,
		       ret == -EADDRINUSE ? "another daemon is serving on it" : strerror(-ret));
		return 1;
	}
	if (http_setup(d))
		return 1;
	watchdog_setup(d);
	d->ev_notify = event_new(d->base, d->notify_fd[0], EV_READ | EV_PERSIST, notify_cb, d);
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, tick_cb, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
	d->ev_int = evsignal_new(d->base, SIGINT, signal_cb, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, signal_cb, d);
	event_add(d->ev_notify, NULL);
	event_add(d->ev_tick, &(struct timeval){ 0, 100000 });
	event_add(d->ev_term, NULL);
	event_add(d->ev_int, NULL);
	event_add(d->ev_hup, NULL);
	state_restore(d);
	rescan(d);
	if (!d->sim)
		nl_setup(d);
	kick(d);
	logmsg(LOG_INFO, "serving on %s (%u cards, state %s)", d->cfg.socket,
	       live_cards(d), d->cfg.state_dir);
	sd_notify_msg("READY=1");
	event_base_dispatch(d->base);
	shutdown_all(d);
	logmsg(LOG_INFO, "exited cleanly");
	return 0;
}
