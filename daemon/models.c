// SPDX-License-Identifier: MIT
/*
 * bnnaccd - models and the state directory (<state_dir>/models/NAME.bnnm):
 * restore at start, atomic loads (staged, stored only once a card has
 * programmed the model), unload, and the admin requests that wait for
 * cards (load, calibrate, reset, check) with their progress notifications
 * and replies.
 */
#include "bnnaccd.h"

void model_put(struct dmodel *m)
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
void state_restore(struct daemon *d)
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
json_t *gamma_json(const struct card *c)
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
json_t *drift_json(const struct card *c)
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
void progress(struct pending *p, struct card *c, const char *stage, json_t *extra)
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
void progress_start(struct daemon *d, struct card *c, enum work w)
{
	struct pending *p;

	for (p = d->pend; p; p = p->next)
		if (p->mask & (1ull << c->slot))
			progress(p, c, w == W_CHECK ? "checking" :
				 !c->have_cal || c->wforce ? "calibrating" : "programming", NULL);
}

/* @c finished its work for the pending requests of @ck (1 check, 0 the others, -1 all) */
void pending_card_done(struct daemon *d, struct card *c, int rc,
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

void do_load(struct daemon *d, struct client *cl, struct proto_req *r)
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

void do_unload(struct daemon *d, struct client *cl, struct proto_req *r)
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

void do_cards_op(struct daemon *d, struct client *cl, struct proto_req *r)
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
