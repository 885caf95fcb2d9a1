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
int batch(struct daemon *d, struct card *c)
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
	bnnacc_result_free(&c->res);
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
