/* SPDX-License-Identifier: MIT */
/*
 * daemon_run - the card side of the demo through bnnaccd (see card_run.h).
 *
 * The daemon does the work: `load` calibrates (or takes the calibration
 * found in its state directory) and transfers the model in one programming
 * step, and answers with what the transfer chose and where it put every
 * network's tiles; `check` reads the card's reference cells (and
 * reprograms when the relaxation calls for it) before each later pass;
 * `infer` with "per_sample" returns every programmed network's softmax, so
 * the host evaluates M = 1, 5, 10, 20, all from one request (the first M
 * networks). What the protocol does not carry is recomputed or read here,
 * without programming anything:
 *
 *  - the achieved model: the library's transfer is deterministic given the
 *    model, the calibration (read from the daemon's state directory), M and
 *    the choices the daemon reports, so it is run again on a card that
 *    records the program words and reads back what the calibration
 *    predicts; gamma must equal the daemon's;
 *  - the cells of the conductance figure: the array is read through a
 *    second handle on /dev/bnnacc0 (the driver allows several users) at
 *    the tiles the daemon reported.
 */
#include "card_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"

#define DEMO_MODEL_NAME "demo"
#define INFER_CHUNK 4096	/* the protocol's limit of inputs per request */
/*
 * and of bytes per request line (1 MiB): an input number takes at most 16
 * bytes at 9 significant digits ("-1.23456789e-05,"), and the rest of the
 * request is well under 16 KiB
 */
#define INFER_LINE_NUMBERS (((1u << 20) - (16u << 10)) / 16)
#define INFER_WINDOW 2		/* infer requests in flight */
#define CAL_MAX_AGE_S (7 * 86400)	/* the library's default reuse age */


/* ---- the daemon (daemon/client.c, protocol version 2) --------------------- */

struct conn {
	struct bnd *c;
	double parse_s;		/* time spent decoding replies */
};

static int conn_open(struct conn *cn, const char *path, char *err, size_t errlen)
{
	struct timespec ts = { 0, 100000000 };
	unsigned i;
	int ret;

	memset(cn, 0, sizeof(*cn));
	cn->c = bnd_new();
	if (!cn->c)
		return card_run_fail(err, errlen, -ENOMEM, "out of memory");
	/* The daemon was started just before us: give it 30 s to listen. */
	for (i = 0; i < 300; i++) {
		ret = bnd_connect(cn->c, path, 2, 0);
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			break;
		nanosleep(&ts, NULL);
	}
	return ret ? card_run_fail(err, errlen, ret, "%s", bnd_errmsg(cn->c)) : 0;
}

static void conn_close(struct conn *cn)
{
	bnd_free(cn->c);
	memset(cn, 0, sizeof(*cn));
}

/* @method with @params (taken); an error reply is -EIO with the daemon's message. */
static int conn_call(struct conn *cn, const char *method, json_t *params, json_t **out,
		     char *err, size_t errlen)
{
	int ret = bnd_call(cn->c, method, params, -1, out);

	json_decref(params);
	if (ret)
		return card_run_fail(err, errlen, ret == -EREMOTEIO ? -EIO : ret, "%s",
				     bnd_errmsg(cn->c));
	return 0;
}

/*
 * Replies to infer with per_sample: [n][m][c] numbers, ~7 MB a pass, which
 * a general JSON decoder takes seconds to turn into objects on the guest's
 * one emulated CPU. So the client leaves "per_sample" undecoded (its text
 * *ps..*pe in the reply line, read straight into doubles by ps_read) and
 * decodes the rest.
 */
static int conn_recv_ps(struct conn *cn, int64_t *id, json_t **out, const char **ps,
			const char **pe, char *err, size_t errlen)
{
	struct bnd_reply r;
	size_t len;
	double t0;
	int ret;

	*out = NULL;
	*ps = *pe = NULL;
	ret = bnd_recv(cn->c, &r);
	if (ret)
		return card_run_fail(err, errlen, ret, "%s", bnd_errmsg(cn->c));
	t0 = bnd_now();
	ret = bnd_result_cut(cn->c, &r, "per_sample", out, ps, &len);
	cn->parse_s += bnd_now() - t0;
	if (ret)
		return card_run_fail(err, errlen, ret == -EREMOTEIO ? -EIO : ret, "%s",
				     bnd_errmsg(cn->c));
	*id = r.id;
	*pe = *ps ? *ps + len : NULL;
	return 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static const char *expect(const char *p, char ch)
{
	p = skip_ws(p);
	return *p == ch ? p + 1 : NULL;
}

/* Read [n][m][c] numbers from p..pe into @out. Returns 0 or -EPROTO. */
static int ps_read(const char *p, const char *pe, unsigned n, unsigned m,
		   unsigned c, double *out)
{
	unsigned i, k, j;
	char *e;

	if (!(p = expect(p, '[')))
		return -EPROTO;
	for (i = 0; i < n; i++) {
		if ((i && !(p = expect(p, ','))) || !(p = expect(p, '[')))
			return -EPROTO;
		for (k = 0; k < m; k++) {
			if ((k && !(p = expect(p, ','))) || !(p = expect(p, '[')))
				return -EPROTO;
			for (j = 0; j < c; j++) {
				if (j && !(p = expect(p, ',')))
					return -EPROTO;
				p = skip_ws(p);
				*out++ = strtod(p, &e);
				if (e == p)
					return -EPROTO;
				p = e;
			}
			if (!(p = expect(p, ']')))
				return -EPROTO;
		}
		if (!(p = expect(p, ']')))
			return -EPROTO;
	}
	if (!(p = expect(p, ']')))
		return -EPROTO;
	return p == pe ? 0 : -EPROTO;
}

/* ---- recomputing the transfer -------------------------------------------- */

/*
 * A card that records what would be programmed, and reads back the
 * calibration's median of each recorded level (what the reference
 * baseline of the transfer reads); it runs no MVM.
 */
struct rec {
	uint32_t *words;
	unsigned cols;
	const struct bnnacc_calib *cal;
};

static int rec_program(void *ctx, const struct bnnacc_region *r, const uint32_t *w)
{
	struct rec *k = ctx;
	unsigned i, j;

	for (i = 0; i < r->rows; i++)
		for (j = 0; j < r->cols; j++)
			k->words[(size_t)(r->row + i) * k->cols + r->col + j] = w[(size_t)i * r->cols + j];
	return 0;
}

static int rec_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns, unsigned reads)
{
	struct rec *k = ctx;
	unsigned i, j, rd;

	for (rd = 0; rd < reads; rd++)
		for (i = 0; i < r->rows; i++)
			for (j = 0; j < r->cols; j++) {
				uint32_t w = k->words[(size_t)(r->row + i) * k->cols + r->col + j];
				double g = BNNACC_PROG_OP(w) == BNNACC_PROG_SET ?
					   bnnacc_calib_g(k->cal, BNNACC_PROG_ISET_NA(w) / 1000.0) :
					   k->cal->reset_med;

				*ns++ = (uint32_t)lround(g * 1000.0);
			}
	return 0;
}

static int rec_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	(void)ctx, (void)jobs, (void)n;
	return -EOPNOTSUPP;
}

static const struct bnnacc_card_ops rec_ops = { rec_program, rec_read, rec_mvm };

/* The layout of the daemon's networks from its `load` reply ("transfer") */
static int layout_json(json_t *t, unsigned nl, struct card_run_layout *lay)
{
	json_t *parts = json_object_get(t, "parts"), *tiles = json_object_get(t, "tiles"), *v;
	unsigned k, q, l;
	size_t i;

	memset(lay, 0, sizeof(*lay));
	lay->nparts = (unsigned)json_array_size(parts);
	lay->m = (unsigned)json_array_size(tiles);
	if (!lay->nparts || !lay->m)
		return -EPROTO;
	lay->layer = malloc(lay->nparts * sizeof(*lay->layer));
	lay->parts = malloc(lay->nparts * sizeof(*lay->parts));
	lay->tiles = malloc((size_t)lay->m * lay->nparts * sizeof(*lay->tiles));
	if (!lay->layer || !lay->parts || !lay->tiles)
		return -ENOMEM;
	json_array_foreach(parts, i, v) {
		lay->layer[i] = (unsigned)json_integer_value(json_array_get(v, 0));
		lay->parts[i].in0 = (unsigned)json_integer_value(json_array_get(v, 2));
		lay->parts[i].in1 = (unsigned)json_integer_value(json_array_get(v, 3));
		lay->parts[i].out0 = (unsigned)json_integer_value(json_array_get(v, 4));
		lay->parts[i].out1 = (unsigned)json_integer_value(json_array_get(v, 5));
		lay->parts[i].cells = (unsigned)json_integer_value(json_object_get(t, "cells"));
		if (lay->layer[i] >= nl)
			return -EPROTO;
	}
	for (k = 0; k < lay->m; k++) {
		json_t *nk = json_array_get(tiles, k);

		if (json_array_size(nk) != lay->nparts)
			return -EPROTO;
		for (q = 0; q < lay->nparts; q++) {
			json_t *tq = json_array_get(nk, q);
			struct bnnacc_region *r = &lay->tiles[(size_t)k * lay->nparts + q];

			l = (unsigned)json_integer_value(json_array_get(tq, 0));
			if (l != lay->layer[q])
				return -EPROTO;
			r->row = (uint16_t)json_integer_value(json_array_get(tq, 2));
			r->col = (uint16_t)json_integer_value(json_array_get(tq, 3));
			r->rows = (uint16_t)json_integer_value(json_array_get(tq, 4));
			r->cols = (uint16_t)json_integer_value(json_array_get(tq, 5));
		}
	}
	return 0;
}

/* ---- inference through the daemon ---------------------------------------- */

/* Request @ch of a pass: inputs [@ch * @per, min(n, (@ch + 1) * @per)) */
static int infer_send(struct conn *cn, const float *x, unsigned n, unsigned d,
		      unsigned ch, unsigned per, int64_t *id, char *err, size_t errlen)
{
	unsigned lo = ch * per, hi = lo + per < n ? lo + per : n, i, j;
	json_t *in = json_array(), *req;
	char *s;
	int ret;

	for (i = lo; i < hi; i++) {
		json_t *v = json_array();

		for (j = 0; j < d; j++)
			json_array_append_new(v, json_real(x[(size_t)i * d + j]));
		json_array_append_new(in, v);
	}
	req = json_pack("{s:s,s:o,s:[s],s:i}", "name", DEMO_MODEL_NAME, "inputs", in,
			"outputs", "per_sample", "deadline_ms", 3600000);
	s = req ? json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(req);
	if (!s)
		return card_run_fail(err, errlen, -ENOMEM, "out of memory for request %u", ch);
	ret = bnd_send(cn->c, "infer", s, -1, id);
	free(s);
	return ret ? card_run_fail(err, errlen, ret, "%s", bnd_errmsg(cn->c)) : 0;
}

static int infer_pass(struct conn *cn, const float *x, unsigned n, unsigned d,
		      unsigned c, unsigned mm, const char *dir, const char *name,
		      char *err, size_t errlen)
{
	unsigned lim = INFER_LINE_NUMBERS / d < INFER_CHUNK ? INFER_LINE_NUMBERS / d : INFER_CHUNK;
	unsigned nch = (n + lim - 1) / lim, per = (n + nch - 1) / nch;
	struct bnnacc_result r;
	unsigned ch, sent;
	unsigned char *got = calloc(nch, 1);
	json_t *rep = NULL;
	double t0, p0 = cn->parse_s;
	int64_t id0 = 0, id;
	int ret = 0;

	memset(&r, 0, sizeof(r));
	r.n = n;
	r.m = mm;
	r.c = c;
	r.probs = malloc((size_t)n * mm * c * sizeof(double));
	if (!r.probs || !got) {
		free(r.probs);
		free(got);
		return card_run_fail(err, errlen, -ENOMEM, "out of memory");
	}
	printf("p_demo: inference %s: %u points x %u networks, %u request%s to bnnaccd\n",
	       name, n, mm, nch, nch > 1 ? "s" : "");
	fflush(stdout);
	t0 = bnd_now();
	/*
	 * Pipelined, at most INFER_WINDOW requests in flight: the daemon works
	 * on one while the next is on its way, and stops reading a client
	 * whose replies pile up, so sending every request before reading any
	 * would block both ends.
	 */
	for (sent = 0; sent < nch && sent < INFER_WINDOW && !ret; sent++)
		ret = infer_send(cn, x, n, d, sent, per, sent ? &id : &id0, err, errlen);
	for (ch = 0; ch < nch && !ret; ch++) {
		const char *ps, *pe;
		unsigned lo, hi;
		double t1;

		ret = conn_recv_ps(cn, &id, &rep, &ps, &pe, err, errlen);
		if (ret)
			break;
		/* the requests' ids follow the chunks' order */
		lo = id >= id0 && id - id0 < nch ? (unsigned)(id - id0) * per : UINT_MAX;
		hi = lo + per < n ? lo + per : n;
		if (lo >= n || got[lo / per] || !ps ||
		    json_integer_value(json_object_get(rep, "n")) != (json_int_t)(hi - lo) ||
		    json_integer_value(json_object_get(rep, "m")) != (json_int_t)mm) {
			ret = card_run_fail(err, errlen, -EPROTO, "bnnaccd: unexpected infer reply (id, n or m)");
			break;
		}
		got[lo / per] = 1;
		t1 = bnd_now();
		ret = ps_read(ps, pe, hi - lo, mm, c, r.probs + (size_t)lo * mm * c);
		cn->parse_s += bnd_now() - t1;
		if (ret) {
			card_run_fail(err, errlen, ret, "bnnaccd: per_sample is not [%u][%u][%u] numbers",
			     hi - lo, mm, c);
			break;
		}
		json_decref(rep);
		rep = NULL;
		if (sent < nch)
			ret = infer_send(cn, x, n, d, sent++, per, &id, err, errlen);
	}
	if (!ret) {
		printf("p_demo: inference %s: answered in %.2f s (%.2f s of it decoding JSON)\n",
		       name, bnd_now() - t0, cn->parse_s - p0);
		ret = card_run_dump(dir, name, &r);
		if (ret)
			card_run_fail(err, errlen, ret, "write %s: %s", name, strerror(-ret));
	}
	free(r.probs);
	free(got);
	return ret;
}

/* ---- the run -------------------------------------------------------------- */

static void cal_path(char *buf, size_t len, const char *dir, const struct bnnacc_card_info *in)
{
	snprintf(buf, len, "%s/bnnacc-%016llx.cal", dir, (unsigned long long)in->serial);
}

struct daemon_pass {
	struct conn *cn;
	const float *x;
	unsigned n, d, c, mm;
	const char *dir;
	unsigned refreshes;	/* the daemon's count at the last check */
};

static int daemon_pass(void *ctx, const char *name, char *err, size_t errlen)
{
	struct daemon_pass *p = ctx;

	return infer_pass(p->cn, p->x, p->n, p->d, p->c, p->mm, p->dir, name,
			  err, errlen);
}

/* `check`: the daemon reads the reference cells and reprograms if advised */
static int daemon_check(void *ctx, struct bnnacc_drift *d, int *refreshed, char *err,
			size_t errlen)
{
	struct daemon_pass *p = ctx;
	json_t *rep = NULL, *c0, *dj;
	int ret;

	ret = conn_call(p->cn, "check", json_pack("{s:i}", "card", 0), &rep, err, errlen);
	if (ret)
		return ret;
	c0 = json_array_get(json_object_get(rep, "cards"), 0);
	dj = json_object_get(c0, "drift");
	if (!json_is_true(json_object_get(c0, "ok")) || !json_is_object(dj)) {
		ret = card_run_fail(err, errlen, -EIO, "bnnaccd check failed: %s",
				    json_string_value(json_object_get(c0, "error")) ?: "no reply");
		json_decref(rep);
		return ret;
	}
	d->gain = json_number_value(json_object_get(dj, "gain"));
	d->spread = json_number_value(json_object_get(dj, "spread"));
	d->excess = json_number_value(json_object_get(dj, "excess"));
	d->checks = (unsigned)json_integer_value(json_object_get(dj, "checks"));
	d->refreshes = (unsigned)json_integer_value(json_object_get(dj, "refreshes"));
	/*
	 * Reprogrammed since the last pass: by this check, or by one the daemon
	 * made on its own when the card's drift event came
	 */
	*refreshed = d->refreshes > p->refreshes;
	p->refreshes = d->refreshes;
	json_decref(rep);
	return 0;
}

/* The transfer as the daemon chose it, for the rec card's run */
static int xfer_opts_json(json_t *t, unsigned mm, struct bnnacc_xfer_opts *xo)
{
	const char *mode = json_string_value(json_object_get(t, "mode"));

	memset(xo, 0, sizeof(*xo));
	xo->m = mm;
	xo->skip_stuck_test = 1;
	xo->mode = mode && !strcmp(mode, "shared") ? BNNACC_XFER_SHARED : BNNACC_XFER_SAMPLES;
	xo->cells = (unsigned)json_integer_value(json_object_get(t, "cells"));
	xo->repeat = (unsigned)json_integer_value(json_object_get(t, "repeat"));
	return mode && xo->cells && xo->repeat ? 0 : -EPROTO;
}

int daemon_run(struct bnnacc_dev *dev, const struct card_run_opts *o,
	       const char *sock, const char *statedir, char *err, size_t errlen)
{
	struct bnnacc_model *m = NULL, *ach = NULL;
	struct bnnacc_net *ref = NULL;
	struct bnnacc_card card, rc, *rcp = &rc;
	struct bnnacc_calib cal;
	const struct bnnacc_calib *calp = &cal;
	struct rec rec = { NULL, 0, &cal };
	struct bnnacc_region all;
	struct card_run_layout lay = { 0 };
	struct bnnacc_xfer_opts xo;
	struct conn cn = { NULL, 0 };
	char cache[4096], state[4096], mpath[PATH_MAX];
	json_t *rep = NULL, *c0, *tj;
	unsigned mm, reads = o->reads ? o->reads : 4;
	struct daemon_pass pass;
	uint32_t *ns = NULL;
	uint64_t t_prog = 0;
	double gamma[BNNACC_MODEL_MAX_LAYERS];
	size_t cells;
	float *x = NULL;
	unsigned l;
	int n, ret, reused = 0;

	ret = bnnacc_dev_card(dev, &card);
	if (ret)
		return card_run_fail(err, errlen, ret, "card: %s", strerror(-ret));
	cells = (size_t)card.info.rows * card.info.cols;
	ret = bnnacc_model_load(&m, o->model, err, errlen);
	if (ret)
		return ret;
	n = card_run_points(o->points, m->n_inputs, &x);
	if (n < 0) {
		ret = card_run_fail(err, errlen, n, "points %s: %s", o->points, strerror(-n));
		goto out;
	}
	if (!realpath(o->model, mpath)) {
		ret = card_run_fail(err, errlen, -errno, "%s: %s", o->model, strerror(errno));
		goto out;
	}
	ret = conn_open(&cn, sock, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: connected to bnnaccd on %s\n", sock);

	/*
	 * A calibration of this card cached in the output directory goes into
	 * the daemon's state directory, where its load looks first.
	 */
	cal_path(state, sizeof(state), statedir, &card.info);
	if (o->caldir) {
		cal_path(cache, sizeof(cache), o->caldir, &card.info);
		if (!bnnacc_calib_load(&cal, cache, NULL, 0) &&
		    cal.serial == card.info.serial && cal.hw_version == card.info.hw_version &&
		    time(NULL) - cal.created < CAL_MAX_AGE_S && time(NULL) >= cal.created) {
			ret = bnnacc_calib_save(&cal, state);
			if (ret) {
				card_run_fail(err, errlen, ret, "%s: %s", state, strerror(-ret));
				goto out;
			}
			reused = 1;
		}
	}
	printf("p_demo: bnnaccd load: %s, transfer in one programming step\n",
	       reused ? "calibration from the cache" : "calibrating the card");
	fflush(stdout);
	{
		json_t *req = json_pack("{s:s,s:s}", "name", DEMO_MODEL_NAME, "path", mpath);

		if (o->m)
			json_object_set_new(req, "m", json_integer(o->m));
		ret = conn_call(&cn, "load", req, &rep, err, errlen);
	}
	if (ret)
		goto out;
	c0 = json_array_get(json_object_get(rep, "cards"), 0);
	if (!json_is_true(json_object_get(c0, "ok"))) {
		ret = card_run_fail(err, errlen, -EIO, "bnnaccd could not program the card: %s",
			   json_string_value(json_object_get(c0, "error")) ?: "no card");
		goto out;
	}
	mm = (unsigned)json_integer_value(json_object_get(c0, "m"));
	for (l = 0; l < m->n_layers; l++)
		gamma[l] = json_number_value(json_array_get(json_object_get(c0, "gamma"), l));
	tj = json_object_get(c0, "transfer");
	if (!mm || (o->m && mm != o->m) || !json_is_object(tj)) {
		ret = card_run_fail(err, errlen, -EPROTO,
				    "bnnaccd programmed M=%u networks (asked %u)%s", mm, o->m,
				    json_is_object(tj) ? "" : ", no transfer report");
		goto out;
	}
	if (o->programmed) {
		ret = o->programmed(o->advance_ctx);
		if (ret) {
			card_run_fail(err, errlen, ret, "device clock: %s", strerror(-ret));
			goto out;
		}
	}
	if (o->clock)
		o->clock(o->advance_ctx, &t_prog);
	ret = bnnacc_calib_load(&cal, state, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: calibration %s: k=%.4f uS/uA, G %.1f..%.1f uS, programming spread "
	       "%.2f..%.2f uS, read noise %.3f..%.3f uS\n",
	       reused ? "reused" : "measured by bnnaccd", cal.k_us_per_ua, cal.g_lo, cal.g_hi,
	       cal.g_sig_prog[0], cal.g_sig_prog[cal.nlevels - 1], cal.g_sig_read[0],
	       cal.g_sig_read[cal.nlevels - 1]);
	if (!reused && o->caldir)
		bnnacc_calib_save(&cal, cache);	/* a cache: failing is harmless */
	printf("p_demo: bnnaccd transferred M=%u networks\n", mm);
	printf("p_demo: %s\n", json_string_value(json_object_get(tj, "why")) ?: "");
	fflush(stdout);

	/* The daemon's transfer again, on a card that only records. */
	rec.cols = card.info.cols;
	rec.words = calloc(cells, sizeof(uint32_t));
	if (!rec.words) {
		ret = card_run_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	rc.ops = &rec_ops;
	rc.ctx = &rec;
	rc.info = card.info;
	ret = xfer_opts_json(tj, mm, &xo);
	if (ret) {
		card_run_fail(err, errlen, ret, "bnnaccd's transfer report lacks mode/cells/repeat");
		goto out;
	}
	ret = bnnacc_transfer(&ref, &rcp, &calp, 1, m, &xo, err, errlen);
	if (ret)
		goto out;
	for (l = 0; l < m->n_layers; l++)
		if (bnnacc_net_m(ref) != mm ||
		    !(fabs(bnnacc_net_gamma(ref, l) - gamma[l]) <= 1e-6 * gamma[l])) {
			ret = card_run_fail(err, errlen, -EPROTO,
					    "recomputed transfer differs from the daemon's (M %u, layer %u gamma %.6f vs M %u gamma %.6f)",
					    bnnacc_net_m(ref), l, bnnacc_net_gamma(ref, l), mm,
					    gamma[l]);
			goto out;
		}
	ret = card_run_files(ref, m, &cal, o->outdir,
			     json_string_value(json_object_get(tj, "why")), &ach, err, errlen);
	if (ret)
		goto out;

	/* The cells, read through our own handle at the daemon's tiles. */
	ret = layout_json(tj, m->n_layers, &lay);
	if (ret) {
		card_run_fail(err, errlen, ret, "bnnaccd's tiles: %s", strerror(-ret));
		goto out;
	}
	all = (struct bnnacc_region){ 0, 0, (uint16_t)card.info.rows, (uint16_t)card.info.cols };
	ns = malloc(cells * reads * sizeof(uint32_t));
	if (!ns) {
		ret = card_run_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	ret = card.ops->read(card.ctx, &all, ns, reads);
	if (!ret)
		ret = card_run_weights(&card.info, ns, reads, m, ach, gamma, &lay, o->outdir);
	if (ret) {
		card_run_fail(err, errlen, ret, "conductance read-back: %s", strerror(-ret));
		goto out;
	}
	json_decref(rep);
	rep = NULL;

	pass = (struct daemon_pass){ &cn, x, (unsigned)n, m->n_inputs, m->n_classes,
				     mm, o->outdir, 0 };
	ret = card_run_ages(o, t_prog, daemon_pass, daemon_check, &pass, err, errlen);
	if (!ret && !conn_call(&cn, "stats", NULL, &rep, NULL, 0)) {
		printf("p_demo: bnnaccd stats: %lld infer requests, %lld inputs, %.2f s in inference, %lld retries\n",
		       (long long)json_integer_value(json_object_get(json_object_get(rep, "requests"), "infer")),
		       (long long)json_integer_value(json_object_get(rep, "infer_inputs")),
		       json_number_value(json_object_get(rep, "latency_sum_s")),
		       (long long)json_integer_value(json_object_get(rep, "retries")));
		json_decref(rep);
		rep = NULL;
	}
out:
	json_decref(rep);
	conn_close(&cn);
	card_run_layout_free(&lay);
	free(ns);
	free(rec.words);
	free(x);
	bnnacc_net_free(ref);
	bnnacc_model_free(ach);
	bnnacc_model_free(m);
	return ret < 0 ? ret : 0;
}
