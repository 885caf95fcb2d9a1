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
	snprintf(buf, len, "%.1000s/models/%.31s.bnnm", d->cfg.state_dir, name);
}

/*
 * Where a model being loaded waits until a card has programmed it: not a
 * NAME.bnnm, so a restart never serves it, and a ".tmp", so the restart
 * removes it (remove_tmp).
 */
static void staged_path(struct daemon *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%.1000s/models/%.31s.bnnm.staged.tmp", d->cfg.state_dir, name);
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

/* Where the options of a stored model are kept (its `load`'s m) */
static void opts_path(struct daemon *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%.1000s/models/%.31s.opts", d->cfg.state_dir, name);
}

/* Forget the stored model @name (its file and options). */
static void state_remove(struct daemon *d, const char *name)
{
	char path[1400], dir[1100];

	state_path(d, path, sizeof(path), name);
	unlink(path);
	opts_path(d, path, sizeof(path), name);
	unlink(path);
	snprintf(dir, sizeof(dir), "%.1000s/models", d->cfg.state_dir);
	fsync_dir(dir);
}

static struct dmodel *model_new(struct daemon *d, const char *name,
				struct bnnacc_model *m, size_t size)
{
	struct dmodel *dm = calloc(1, sizeof(*dm));

	if (!dm)
		return NULL;
	dm->refs = 1;
	snprintf(dm->name, sizeof(dm->name), "%.31s", name);
	dm->m = m;
	dm->size = size;
	dm->gen = ++d->gen;
	return dm;
}

struct dmodel *model_find(struct daemon *d, const char *name)
{
	unsigned i;

	for (i = 0; i < d->nmodels; i++)
		if (!strcmp(d->models[i]->name, name))
			return d->models[i];
	return NULL;
}

struct dmodel *model_default(struct daemon *d)
{
	return d->nmodels ? d->models[d->nmodels - 1] : NULL;
}

int model_index(struct daemon *d, const struct dmodel *dm)
{
	unsigned i;

	for (i = 0; i < d->nmodels; i++)
		if (d->models[i] == dm)
			return (int)i;
	return -1;
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

struct stored {
	char name[PROTO_NAME_LEN];
	struct timespec t;
};

static int stored_cmp(const void *a, const void *b)
{
	const struct stored *x = a, *y = b;

	if (x->t.tv_sec != y->t.tv_sec)
		return x->t.tv_sec < y->t.tv_sec ? -1 : 1;
	if (x->t.tv_nsec != y->t.tv_nsec)
		return x->t.tv_nsec < y->t.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The `load` options stored beside model @name: its m (0 if none). */
static unsigned opts_read(struct daemon *d, const char *name)
{
	char path[1400];
	unsigned m = 0;
	FILE *f;

	opts_path(d, path, sizeof(path), name);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "m %u", &m) != 1 || m > 1024)
			m = 0;
		fclose(f);
	}
	return m;
}

/* At start: every stored model is resident again, in the order they were loaded. */
void state_restore(struct daemon *d)
{
	char dir[1100], path[1400], err[256];
	struct stored st_list[MAX_MODELS * 4];
	struct bnnacc_model *m;
	unsigned ns = 0, i;
	struct dirent *e;
	struct stat st;
	size_t n;
	DIR *dp;

	remove_tmp(d->cfg.state_dir);
	dp = models_open(d, dir, sizeof(dir));
	if (!dp)
		return;
	remove_tmp(dir);
	while ((e = readdir(dp)) != NULL && ns < MAX_MODELS * 4) {
		n = model_stem(e->d_name);
		if (!n)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st))
			continue;
		memcpy(st_list[ns].name, e->d_name, n);
		st_list[ns].name[n] = 0;
		st_list[ns++].t = st.st_mtim;
	}
	closedir(dp);
	qsort(st_list, ns, sizeof(st_list[0]), stored_cmp);
	for (i = 0; i < ns; i++) {
		struct dmodel *dm;

		if (d->nmodels == MAX_MODELS) {
			logmsg(LOG_ERR, "stored model %s: more than %d stored models; not served",
			       st_list[i].name, MAX_MODELS);
			continue;
		}
		state_path(d, path, sizeof(path), st_list[i].name);
		if (bnnacc_model_load(&m, path, err, sizeof(err))) {
			logmsg(LOG_ERR, "stored model %s: %s", path, err);
			continue;
		}
		if (stat(path, &st) || !(dm = model_new(d, st_list[i].name, m, (size_t)st.st_size))) {
			bnnacc_model_free(m);
			continue;
		}
		dm->want_m = opts_read(d, dm->name);
		d->models[d->nmodels++] = dm;
		logmsg(LOG_INFO, "restored model %s%s", dm->name,
		       i + 1 == ns ? " (the default)" : "");
	}
}

/* ---- pending admin requests ------------------------------------------------ */

static struct pending *pending_add(struct daemon *d, struct client *cl, json_t *id,
				   enum proto_op op, uint64_t mask)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		send_err(d, cl, id, E_INTERNAL, "out of memory");
		return NULL;
	}
	p->cl = cl;
	p->id = json_incref(id);
	p->op = op;
	p->mask = mask;
	p->total = (unsigned)__builtin_popcountll(mask);
	p->cards = json_array();
	p->next = d->pend;
	d->pend = p;
	return p;
}

/*
 * A load ended. @ok: a card programmed the candidate, which replaces the
 * model of its name (if any) on disk and for good. Otherwise the candidate
 * goes and the model it replaced comes back: stored as it was, and
 * programmed again (a new generation) on the cards the attempt overwrote;
 * the other resident models were never touched. Returns what the reply
 * should add to its message.
 */
static const char *load_end(struct daemon *d, int ok, char *note, size_t len)
{
	char staged[1400], path[1400], dir[1100];
	struct dmodel *cand = d->cand;
	unsigned i, k;

	*note = 0;
	if (!d->loading)
		return note;
	d->loading = 0;
	d->cand = NULL;
	staged_path(d, staged, sizeof(staged), cand->name);
	if (ok) {
		/* the models it replaced are forgotten, on disk too */
		for (i = 0; i < d->nsaved; i++) {
			if (model_index(d, d->saved[i]) < 0 &&
			    strcmp(d->saved[i]->name, cand->name))
				state_remove(d, d->saved[i]->name);
			model_put(d->saved[i]);
		}
		d->nsaved = 0;
		state_path(d, path, sizeof(path), cand->name);
		if (rename(staged, path)) {
			snprintf(note, len, "the model is served but could not be stored (%s): "
				 "it will not come back after a restart", strerror(errno));
			logmsg(LOG_ERR, "load %s: %s", cand->name, note);
			return note;
		}
		opts_path(d, path, sizeof(path), cand->name);
		if (cand->want_m) {
			char txt[32];
			int n = snprintf(txt, sizeof(txt), "m %u\n", cand->want_m);

			write_atomic(path, txt, (size_t)n);
		} else {
			unlink(path);
		}
		snprintf(dir, sizeof(dir), "%.1000s/models", d->cfg.state_dir);
		fsync_dir(dir);
		return note;
	}
	unlink(staged);
	/*
	 * The models as they were: those the attempt took off the cards are
	 * programmed anew (a new generation), the others were never touched
	 */
	for (i = 0; i < d->nsaved; i++) {
		if (model_index(d, d->saved[i]) < 0)
			d->saved[i]->gen = ++d->gen;
	}
	for (i = 0; i < d->nmodels; i++)
		if (d->models[i] != cand)
			model_put(d->models[i]);	/* the saved ones hold theirs */
	memcpy(d->models, d->saved, d->nsaved * sizeof(d->models[0]));
	d->nmodels = d->nsaved;
	d->nsaved = 0;
	if (d->nmodels) {
		size_t o = (size_t)snprintf(note, len, "; the model%s", d->nmodels > 1 ? "s" : "");

		for (k = 0; k < d->nmodels && o < len; k++)
			o += (size_t)snprintf(note + o, len - o, "%s %s", k ? "," : "",
					      d->models[k]->name);
		if (o < len)
			snprintf(note + o, len - o, " keep%s serving", d->nmodels > 1 ? "" : "s");
	} else {
		snprintf(note, len, "; no model is loaded");
	}
	logmsg(LOG_WARNING, "load %s failed on every card%s", cand->name, note);
	model_put(cand);
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
		/* no card at all: a model is kept for the cards to come */
		ok |= json_array_size(p->cards) == 0;
		note[0] = 0;
		if (p->op == OP_LOAD)
			load_end(d, ok, note, sizeof(note));
		if (p->cl) {
			if (ok) {
				r = proto_ok(p->id);
				if (p->op == OP_LOAD)
					json_object_set_new(r, "name", json_string(p->name));
				if (note[0])
					json_object_set_new(r, "warning", json_string(note));
				json_object_set(r, "cards", p->cards);
				send_json(p->cl, r);
			} else {
				char msg[700];

				snprintf(msg, sizeof(msg), "no card succeeded%s", note);
				if (json_array_size(p->cards) == 1)	/* its reason, at once */
					snprintf(msg, sizeof(msg), "%s%s", json_string_value(
						 json_object_get(json_array_get(p->cards, 0), "error")),
						 note);
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

/* Each layer's gain (uS per weight unit) of a model's networks on a card */
json_t *gamma_json(const struct cnet *cn)
{
	json_t *a = json_array();
	unsigned l;

	for (l = 0; cn && l < cn->nl; l++)
		json_array_append_new(a, json_real(cn->gamma[l]));
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

/* Record card @c's outcome in @p: ok with @o (stolen), or @err. */
static void pending_card_result(struct pending *p, struct card *c, int rc, const char *err,
				json_t *o)
{
	p->mask &= ~(1ull << c->slot);
	if (rc) {
		json_decref(o);
		json_array_append_new(p->cards, json_pack("{s:i,s:b,s:s}",
			"index", c->index, "ok", 0, "error", err));
		progress(p, c, "failed", json_pack("{s:s}", "error", err));
		return;
	}
	json_object_set_new(o, "index", json_integer(c->index));
	json_object_set_new(o, "ok", json_true());
	if (c->warn[0])
		json_object_set_new(o, "warning", json_string(c->warn));
	json_array_append(p->cards, o);
	progress(p, c, "done", json_pack("{s:O}", "m", json_object_get(o, "m")));
	json_decref(o);
}

/* What @c holds: every model's name and networks */
static json_t *card_models_json(struct card *c)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; i < c->nnets; i++)
		json_array_append_new(a, json_pack("{s:s,s:i}", "name", c->nets[i].model->name,
						   "m", (int)c->nets[i].m));
	return a;
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
		o = json_pack("{s:i,s:o}", "m", (int)card_m(c), "models", card_models_json(c));
		if (ck > 0)
			json_object_set_new(o, "drift", drift_json(c));
		pending_card_result(p, c, rc, err, o);
	}
	pending_reply(d);
}

void pending_program_done(struct daemon *d, struct card *c)
{
	struct pending *p;
	unsigned i;

	for (p = d->pend; p; p = p->next) {
		if (!(p->mask & (1ull << c->slot)) || p->op == OP_CHECK)
			continue;
		if (p->op == OP_LOAD) {
			struct cnet *cn;

			for (i = 0; i < c->nwant && c->want[i] != d->cand; i++)
				;
			if (c->rc) {
				pending_card_result(p, c, c->rc, c->err, NULL);
			} else if (i < c->nwant && (cn = card_net(c, d->cand))) {
				pending_card_result(p, c, 0, NULL, json_pack("{s:i,s:o,s:o,s:o}",
					"m", (int)cn->m, "gamma", gamma_json(cn), "transfer",
					transfer_json(cn->net), "models", card_models_json(c)));
			} else if (i < c->nwant) {
				pending_card_result(p, c, c->wrc[i], c->werr[i], NULL);
			}
			continue;	/* else: a programming that did not try the candidate */
		}
		if ((p->op == OP_CALIBRATE && !c->wforce) ||
		    (p->op == OP_RESET && c->wkind != W_RESET))
			continue;	/* a programming that was under way before the request */
		pending_card_result(p, c, c->rc, c->err, json_pack("{s:i,s:o}", "m",
			(int)card_m(c), "models", card_models_json(c)));
	}
	pending_reply(d);
}

/* Read the model a client passed as a descriptor (a regular file or memfd). */
static int fd_read(int fd, unsigned char **buf, size_t *len, char *err, size_t el)
{
	struct stat st;
	ssize_t got;

	if (fd < 0) {
		snprintf(err, el, "\"fd\": true, but no descriptor came with the request "
			 "(send it with SCM_RIGHTS on the request line's bytes)");
		return -EINVAL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (size_t)st.st_size > BNNACC_MODEL_MAX_BYTES) {
		snprintf(err, el, "the descriptor passed is not a model file (a regular file "
			 "or memfd of 1..%u bytes)", (unsigned)BNNACC_MODEL_MAX_BYTES);
		return -EINVAL;
	}
	*buf = malloc((size_t)st.st_size);
	if (!*buf) {
		snprintf(err, el, "out of memory");
		return -ENOMEM;
	}
	got = pread(fd, *buf, (size_t)st.st_size, 0);
	if (got != st.st_size) {
		snprintf(err, el, "reading the descriptor passed: %s",
			 got < 0 ? strerror(errno) : "short read");
		free(*buf);
		*buf = NULL;
		return -EIO;
	}
	*len = (size_t)st.st_size;
	return 0;
}

/* Read the model file @path the daemon can open. */
static int path_read(const char *path, unsigned char **buf, size_t *len, char *err, size_t el)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0) {
		snprintf(err, el, "%.200s: %s", path, strerror(errno));
		return -errno;
	}
	ret = fd_read(fd, buf, len, err, el);
	close(fd);
	return ret;
}

void do_load(struct daemon *d, struct client *cl, struct proto_req *r)
{
	char err[256], path[1400];
	struct bnnacc_model *m;
	unsigned char *buf = r->data;
	size_t len = r->data_len;
	int ret = 0, fd = client_take_fd(cl);
	unsigned i;
	uint64_t mask = 0;
	struct dmodel *dm, *old;
	struct pending *p;
	enum proto_err ecode = E_BAD_MODEL;

	if (d->loading) {
		if (fd >= 0)
			close(fd);
		return send_err(d, cl, r->id, E_BUSY,
				"another load is in progress: retry when it has completed");
	}
	old = model_find(d, r->name);
	if (r->add && !old && d->nmodels == MAX_MODELS) {
		if (fd >= 0)
			close(fd);
		snprintf(err, sizeof(err), "%d models are loaded, the most the daemon keeps: "
			 "unload one first", MAX_MODELS);
		return send_err(d, cl, r->id, E_BUSY, err);
	}
	if (r->fd)
		ret = fd_read(fd, &buf, &len, err, sizeof(err));
	else if (!buf)
		ret = path_read(r->path, &buf, &len, err, sizeof(err));
	if (fd >= 0)
		close(fd);
	if (ret)
		return send_err(d, cl, r->id, E_BAD_MODEL, err);
	ret = bnnacc_model_load_mem(&m, buf, len, err, sizeof(err));
	if (!ret) {
		staged_path(d, path, sizeof(path), r->name);
		ret = write_atomic(path, buf, len);
		if (ret) {	/* the models loaded stay, stored and served */
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
	/*
	 * The candidate: beside the models loaded before ("add"; where the
	 * model of its name was, which it replaces), or alone; each stays
	 * saved until a card has programmed it
	 */
	for (i = 0; i < d->nmodels; i++) {
		d->saved[i] = d->models[i];
		d->models[i]->refs++;
	}
	d->nsaved = d->nmodels;
	if (!r->add) {
		for (i = 0; i < d->nmodels; i++)
			model_put(d->models[i]);
		d->nmodels = 0;
	}
	if (r->add && old) {
		d->models[model_index(d, old)] = dm;
		model_put(old);
	} else {
		d->models[d->nmodels++] = dm;
	}
	d->cand = dm;
	d->loading = 1;
	logmsg(LOG_INFO, "model %s loading (uid %u, %u models)", r->name, (unsigned)cl->uid,
	       d->nmodels);
	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && !d->card[i]->gone)
			mask |= 1ull << i;
	p = pending_add(d, cl, r->id, OP_LOAD, mask);
	if (!p) {
		load_end(d, 0, err, sizeof(err));
		return;
	}
	snprintf(p->name, sizeof(p->name), "%s", r->name);
	pending_reply(d);
	kick(d);
}

void do_unload(struct daemon *d, struct client *cl, struct proto_req *r)
{
	struct dmodel *dm;
	int at;

	if (d->loading)
		return send_err(d, cl, r->id, E_BUSY,
				"a load is in progress: retry when it has completed");
	dm = model_find(d, r->name);
	if (!dm)
		return send_err(d, cl, r->id, E_NO_MODEL, "no such model loaded");
	at = model_index(d, dm);
	memmove(d->models + at, d->models + at + 1,
		(d->nmodels - (unsigned)at - 1) * sizeof(d->models[0]));
	d->nmodels--;
	state_remove(d, dm->name);
	logmsg(LOG_INFO, "model %s unloaded (%u models)", dm->name, d->nmodels);
	model_put(dm);
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
			if (!c->nnets)
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
