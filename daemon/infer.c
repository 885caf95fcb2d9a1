// SPDX-License-Identifier: MIT
/*
 * bnnaccd - inference: queueing infer requests fairly (dsched.c), cutting
 * batches for a card, replying per request from a batch's result, retries
 * after a card failure and deadlines.
 */
#include "bnnaccd.h"

void job_free(struct job *j)
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
	unsigned s, C = c->classes, i, k;
	json_t *out = proto_ok(j->id), *mean = json_array(), *up = json_array(),
	       *ua = json_array(), *ue = json_array(), *ps = json_array(),
	       *ab = json_array(), *mu_used = json_array();
	double mu[BNNACC_MODEL_MAX_DIM], p, a, e;

	for (i = 0; i < j->n; i++) {
		const double *pr = c->pb + (size_t)(first + i) * c->stride * C;

		s = c->mi[first + i];
		json_array_append_new(mu_used, json_integer(s));

		/* the samples this input used, as a result of its own */
		struct bnnacc_result view = {
			.m = s, .n = 1, .c = C, .probs = (double *)pr,
			.mean = mu, .u_p = &p, .u_a = &a, .u_e = &e,
		};

		bnnacc_uncertainty(&view);
		json_array_append_new(mean, darray(mu, C));
		json_array_append_new(up, json_real(p));
		json_array_append_new(ua, json_real(a));
		json_array_append_new(ue, json_real(e));
		json_array_append_new(ab, json_boolean(e > j->abstain));
		if (j->outputs & OUT_PER_SAMPLE) {
			json_t *one = json_array();

			for (k = 0; k < s; k++)
				json_array_append_new(one, darray(pr + k * C, C));
			json_array_append_new(ps, one);
		}
	}
	json_object_set_new(out, "model", json_string(c->bname));
	json_object_set_new(out, "card", json_integer(c->index));
	json_object_set_new(out, "m", json_integer(j->m_used));
	if (j->precision > 0)
		json_object_set(out, "m_used", mu_used);
	json_object_set_new(out, "n", json_integer(j->n));
	if (j->outputs & OUT_MEAN)
		json_object_set(out, "mean", mean);
	if (j->outputs & OUT_UNC) {
		json_object_set(out, "u_p", up);
		json_object_set(out, "u_a", ua);
		json_object_set(out, "u_e", ue);
	}
	if (j->abstain > 0)
		json_object_set(out, "abstain", ab);
	if (j->outputs & OUT_PER_SAMPLE)
		json_object_set(out, "per_sample", ps);
	json_decref(mean);
	json_decref(up);
	json_decref(ua);
	json_decref(ue);
	json_decref(ps);
	json_decref(ab);
	json_decref(mu_used);
	observe_latency(d, now_s() - j->t0);
	send_json(j->cl, out);
}

/* The model @j asks for now (by name, or the default), or NULL. */
static struct dmodel *job_model(struct daemon *d, const struct job *j)
{
	return j->model[0] ? model_find(d, j->model) : model_default(d);
}

/* Can a card serve @dm: one holds it, or one will program it? */
static int servable(struct daemon *d, const struct dmodel *dm)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++) {
		struct card *c = d->card[i];

		if (c && !c->gone && (card_net(c, dm) || !card_failed(c, dm)))
			return 1;
	}
	return 0;
}

/*
 * Is the job at the head of the queue answerable (its deadline ahead, its
 * model loaded with its input length, a card for it)? If not, it is
 * answered and dropped. Returns its model, or NULL (dropped).
 */
static struct dmodel *head_check(struct daemon *d, struct job *j, double t)
{
	struct dmodel *dm = job_model(d, j);
	char msg[200];

	if (j->deadline < t) {
		send_err(d, j->cl, j->id, E_DEADLINE, "deadline passed in the queue");
	} else if (!dm) {
		snprintf(msg, sizeof(msg), "model %s was unloaded while the request waited",
			 j->model[0] ? j->model : "(default)");
		send_err(d, j->cl, j->id, E_NO_MODEL, msg);
	} else if (dm->m->n_inputs != j->dim) {
		snprintf(msg, sizeof(msg), "model %s was replaced while the request waited and "
			 "now takes %u inputs, not %u", dm->name, dm->m->n_inputs, j->dim);
		send_err(d, j->cl, j->id, E_BAD_REQUEST, msg);
	} else if (!live_cards(d)) {
		send_err(d, j->cl, j->id, E_NO_CARD, "no card");
	} else if (!servable(d, dm)) {
		snprintf(msg, sizeof(msg), "no card holds the model %s: it could not be "
			 "programmed (see `cards` and the load's reply)", dm->name);
		send_err(d, j->cl, j->id, E_CARD, msg);
	} else {
		return dm;
	}
	sched_pop(&d->sq);
	job_free(j);
	return NULL;
}

void infer_sweep(struct daemon *d)
{
	struct sched_item *it;
	double t = now_s();

	while ((it = sched_peek(&d->sq)) != NULL && !head_check(d, (struct job *)it, t))
		;
}

/*
 * Take a batch off the queues for card @c: the requests at the head for one
 * model the card holds (a request for another model ends the batch); post it.
 */
int batch(struct daemon *d, struct card *c)
{
	struct sched_item *it;
	struct dmodel *dm = NULL, *hm;
	struct cnet *cn = NULL;
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

		if (!(hm = head_check(d, j, t)))
			continue;
		if (!dm) {
			dm = hm;
			cn = card_net(c, dm);
			if (!cn)
				return 0;	/* another card's (or soon this one's) */
		}
		if (hm != dm || (n > 0 && n + j->n > lim))
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
	need = (size_t)n * dm->m->n_inputs;
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
	c->n = (unsigned)(need / dm->m->n_inputs);
	c->wnet = cn->net;
	c->classes = dm->m->n_classes;
	c->wnet_inputs = dm->m->n_inputs;
	snprintf(c->bname, sizeof(c->bname), "%s", dm->name);
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

void infer_done(struct daemon *d, struct card *c)
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
}

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

void do_infer(struct daemon *d, struct client *cl, struct proto_req *r)
{
	struct dmodel *dm;
	struct job *j;
	char msg[160];
	double t = now_s();

	if (d->draining)
		return send_err(d, cl, r->id, E_SHUTDOWN, "daemon is shutting down");
	dm = r->name[0] ? model_find(d, r->name) : model_default(d);
	if (!dm) {
		snprintf(msg, sizeof(msg), r->name[0] ? "no model %s is loaded (see `models`)" :
			 "no model is loaded", r->name);
		return send_err(d, cl, r->id, E_NO_MODEL, msg);
	}
	if (r->dim != dm->m->n_inputs) {
		snprintf(msg, sizeof(msg), "inputs of length %u, but the model %s takes %u",
			 r->dim, dm->name, dm->m->n_inputs);
		return send_err(d, cl, r->id, E_BAD_REQUEST, msg);
	}
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
	j->precision = r->precision;
	j->abstain = r->abstain;
	snprintf(j->model, sizeof(j->model), "%s", r->name);
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
			event_del(cl->ev_read);
		}
		return send_err(d, cl, r->id, E_BUSY, "queue full, retry later");
	}
	d->infer_inputs += r->n;
	kick(d);
}

void expire(struct daemon *d)
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
