/* SPDX-License-Identifier: MIT */
/*
 * daemon_run - the card side of the demo through bnnaccd (see card_run.h).
 *
 * The daemon does the work: `load` calibrates (or takes the calibration
 * found in its state directory) and transfers the model in one programming
 * step; `infer` with "per_sample" returns every programmed network's
 * softmax, so the host evaluates M = 1, 5, 10, 20, all from one request
 * (the first M networks). What the protocol does not carry is recomputed or
 * read here, without programming anything:
 *
 *  - gamma, the per-layer transfer report and the achieved model: the
 *    library's transfer is deterministic given the model, the calibration
 *    (read from the daemon's state directory) and M, so it is run again on
 *    a card that only records the program words; gamma must equal the one
 *    the daemon reported;
 *  - the pairs of the conductance figure: the array is read through a
 *    second handle on /dev/bnnacc0 (the driver allows several users). The
 *    daemon's tiles avoid the stuck cells its stuck-cell test found, which
 *    we cannot see, so they are located in the read-back: each layer's
 *    tile is a known pattern of programmed levels (the recorded words), and
 *    the M best non-overlapping matches of every layer's pattern must each
 *    fit within the calibration's spread.
 */
#include "card_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define DEMO_MODEL_NAME "demo"
#define INFER_CHUNK 4096	/* the protocol's limit of inputs per request */
#define CAL_MAX_AGE_S (7 * 86400)	/* the library's default reuse age */
#define MATCH_MAX 9.0		/* mean z^2 over a tile above which it is no match */


/* ---- the socket ---------------------------------------------------------- */

struct conn {
	FILE *f;
	char *line;
	size_t cap;
	double parse_s;		/* time spent decoding replies */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conn_open(struct conn *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct timespec ts = { 0, 100000000 };
	unsigned i;
	int fd = -1;

	memset(c, 0, sizeof(*c));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return card_run_fail(err, errlen, -ENAMETOOLONG, "socket path %s too long", path);
	strcpy(sa.sun_path, path);
	/* The daemon was started just before us: give it 30 s to listen. */
	for (i = 0; i < 300; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return card_run_fail(err, errlen, -errno, "socket: %s", strerror(errno));
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		fd = -1;
		nanosleep(&ts, NULL);
	}
	if (fd < 0)
		return card_run_fail(err, errlen, -ECONNREFUSED, "bnnaccd does not answer on %s", path);
	c->f = fdopen(fd, "r+");
	if (!c->f) {
		close(fd);
		return card_run_fail(err, errlen, -errno, "fdopen: %s", strerror(errno));
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->f)
		fclose(c->f);
	free(c->line);
	memset(c, 0, sizeof(*c));
}

static int conn_send(struct conn *c, json_t *req, char *err, size_t errlen)
{
	char *s = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(9));
	int ret = 0;

	if (!s)
		return card_run_fail(err, errlen, -ENOMEM, "json_dumps failed");
	if (fputs(s, c->f) == EOF || fputc('\n', c->f) == EOF || fflush(c->f))
		ret = card_run_fail(err, errlen, -EPIPE, "bnnaccd: write: %s", strerror(errno));
	free(s);
	return ret;
}

/* Decode reply @txt; an "ok": false one becomes -EIO with the daemon's message. */
static int reply_decode(struct conn *c, const char *txt, json_t **out, char *err,
			size_t errlen)
{
	json_error_t je;
	json_t *r, *e;
	double t0 = now_s();

	*out = NULL;
	r = json_loads(txt, 0, &je);
	c->parse_s += now_s() - t0;
	if (!r || !json_is_object(r)) {
		json_decref(r);
		return card_run_fail(err, errlen, -EPROTO, "bnnaccd: unparsable reply: %s", je.text);
	}
	if (!json_is_true(json_object_get(r, "ok"))) {
		e = json_object_get(r, "error");
		card_run_fail(err, errlen, -EIO, "bnnaccd: %s: %s",
		     json_string_value(json_object_get(e, "code")) ?: "?",
		     json_string_value(json_object_get(e, "message")) ?: "?");
		json_decref(r);
		return -EIO;
	}
	*out = r;
	return 0;
}

static int conn_line(struct conn *c, char *err, size_t errlen)
{
	if (getline(&c->line, &c->cap, c->f) < 0)
		return card_run_fail(err, errlen, -EPIPE, "bnnaccd closed the connection");
	return 0;
}

static int conn_recv(struct conn *c, json_t **out, char *err, size_t errlen)
{
	int ret = conn_line(c, err, errlen);

	*out = NULL;
	return ret ? ret : reply_decode(c, c->line, out, err, errlen);
}

/*
 * Replies to infer with per_sample: [n][m][c] numbers, ~7 MB a pass, which
 * a general JSON decoder takes seconds to turn into objects on the guest's
 * one emulated CPU. So the value of "per_sample" (nested arrays of numbers
 * only: brackets can be matched without a tokenizer) is cut out of the line
 * and read straight into doubles; the rest, "[]" in its place, goes through
 * jansson. *ps, *pe: the value's extent in c->line (NULL when absent).
 */
static int conn_recv_ps(struct conn *c, json_t **out, const char **ps,
			const char **pe, char *err, size_t errlen)
{
	static const char key[] = "\"per_sample\":";
	char *v, *q, *rest;
	int depth = 0, ret;
	size_t lv;

	*out = NULL;
	*ps = *pe = NULL;
	ret = conn_line(c, err, errlen);
	if (ret)
		return ret;
	v = strstr(c->line, key);
	if (!v)
		return reply_decode(c, c->line, out, err, errlen);
	v += sizeof(key) - 1;
	for (q = v; *q; q++) {
		if (*q == '[')
			depth++;
		else if (*q == ']' && --depth == 0)
			break;
		else if (*q == '"' || *q == '{')
			break;
	}
	if (*v != '[' || *q != ']')
		return card_run_fail(err, errlen, -EPROTO, "bnnaccd: malformed per_sample");
	q++;
	lv = (size_t)(v - c->line);
	rest = malloc(lv + 3 + strlen(q));
	if (!rest)
		return card_run_fail(err, errlen, -ENOMEM, "out of memory");
	memcpy(rest, c->line, lv);
	strcpy(rest + lv, "[]");
	strcpy(rest + lv + 2, q);
	ret = reply_decode(c, rest, out, err, errlen);
	free(rest);
	*ps = v;
	*pe = q;
	return ret;
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

static int conn_call(struct conn *c, json_t *req, json_t **out, char *err, size_t errlen)
{
	int ret = conn_send(c, req, err, errlen);

	json_decref(req);
	return ret ? ret : conn_recv(c, out, err, errlen);
}

/* ---- recomputing the transfer -------------------------------------------- */

/* A card that records what would be programmed and does nothing else. */
struct rec {
	uint32_t *words;
	unsigned cols;
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

static int rec_read(void *ctx, const struct bnnacc_region *r, uint32_t *ns)
{
	(void)ctx, (void)r, (void)ns;
	return -EOPNOTSUPP;
}

static int rec_mvm(void *ctx, const struct bnnacc_mvm *jobs, unsigned n)
{
	(void)ctx, (void)jobs, (void)n;
	return -EOPNOTSUPP;
}

static const struct bnnacc_card_ops rec_ops = { rec_program, rec_read, rec_mvm };

struct cand {
	double e;
	unsigned l, r, c;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->e != y->e)
		return x->e < y->e ? -1 : 1;
	if (x->l != y->l)
		return x->l < y->l ? -1 : 1;
	if (x->r != y->r)
		return x->r < y->r ? -1 : 1;
	return x->c < y->c ? -1 : x->c > y->c;
}

static int tile_cmp(const void *a, const void *b)
{
	const struct bnnacc_region *x = a, *y = b;

	if (x->row != y->row)
		return x->row < y->row ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

/*
 * Locate the daemon's M tiles of every layer in the read-back @ns (@reads
 * reads). The pattern of layer l is network 0's tile of @ref (the same
 * transfer without stuck cells) as programmed in @words. Fills @tiles
 * [mm][nl] (each layer's tiles in row-major order), *worst (largest mean
 * z^2 accepted), *next (smallest of the candidates left) and *same (tiles where the stuck-free layout has one).
 */
static int find_tiles(const struct bnnacc_card_info *info, const uint32_t *ns,
		      unsigned reads, const struct bnnacc_calib *cal,
		      const uint32_t *words, const struct bnnacc_net *ref,
		      unsigned nl, unsigned mm, struct bnnacc_region *tiles,
		      double *worst, double *next, unsigned *same, char *err,
		      size_t errlen)
{
	size_t cells = (size_t)info->rows * info->cols, ncand = 0, i, q;
	double *obs = malloc(cells * sizeof(double));
	struct cand *cand = malloc(cells * nl * sizeof(*cand));
	uint8_t *occ = calloc(cells, 1);
	struct bnnacc_region *got = malloc((size_t)mm * nl * sizeof(*got));
	unsigned cnt[BNNACC_MODEL_MAX_LAYERS] = { 0 }, l, rd, k, done = 0;
	int ret = 0;

	if (!obs || !cand || !occ || !got) {
		ret = card_run_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cells; i++) {
		double s = 0;

		for (rd = 0; rd < reads; rd++)
			s += ns[rd * cells + i];
		obs[i] = s / reads / 1000.0;
	}
	for (l = 0; l < nl; l++) {
		const struct bnnacc_region *t0 = bnnacc_net_tile(ref, 0, l);
		unsigned h = t0->rows, w = t0->cols, r, c, a, b;
		double *ex = malloc((size_t)h * w * sizeof(double));
		double *iv = malloc((size_t)h * w * sizeof(double));

		if (!ex || !iv) {
			free(ex);
			free(iv);
			ret = card_run_fail(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
		for (a = 0; a < h; a++)
			for (b = 0; b < w; b++) {
				uint32_t wd = words[(size_t)(t0->row + a) * info->cols + t0->col + b];
				double g, s;

				if (BNNACC_PROG_OP(wd) == BNNACC_PROG_SET) {
					g = bnnacc_calib_g(cal, BNNACC_PROG_ISET_NA(wd) / 1000.0);
					s = bnnacc_calib_sigma(cal, g);
				} else {
					g = cal->reset_med;
					s = cal->reset_sig;
				}
				ex[a * w + b] = g;
				iv[a * w + b] = 1.0 / fmax(s, 0.3);
			}
		for (r = 0; r + h <= info->rows; r++)
			for (c = 0; c + w <= info->cols; c++) {
				double e = 0;

				for (a = 0; a < h; a++) {
					const double *o = obs + (size_t)(r + a) * info->cols + c;

					for (b = 0; b < w; b++) {
						double z = (o[b] - ex[a * w + b]) * iv[a * w + b];

						e += z * z;
					}
				}
				cand[ncand].e = e / (h * w);
				cand[ncand].l = l;
				cand[ncand].r = r;
				cand[ncand].c = c;
				ncand++;
			}
		free(ex);
		free(iv);
	}
	qsort(cand, ncand, sizeof(*cand), cand_cmp);
	*worst = 0;
	for (q = 0; q < ncand && done < nl && cand[q].e <= MATCH_MAX; q++) {
		const struct cand *p = &cand[q];
		const struct bnnacc_region *t0 = bnnacc_net_tile(ref, 0, p->l);
		unsigned a, b, free_ = 1;

		if (cnt[p->l] >= mm)
			continue;
		for (a = 0; a < t0->rows && free_; a++)
			for (b = 0; b < t0->cols; b++)
				if (occ[(size_t)(p->r + a) * info->cols + p->c + b]) {
					free_ = 0;
					break;
				}
		if (!free_)
			continue;
		for (a = 0; a < t0->rows; a++)
			memset(occ + (size_t)(p->r + a) * info->cols + p->c, 1, t0->cols);
		got[(size_t)p->l * mm + cnt[p->l]] = (struct bnnacc_region){
			(uint16_t)p->r, (uint16_t)p->c, (uint16_t)t0->rows, (uint16_t)t0->cols };
		*worst = fmax(*worst, p->e);
		if (++cnt[p->l] == mm)
			done++;
	}
	if (done < nl) {
		for (l = 0; l < nl && cnt[l] == mm; l++)
			;
		ret = card_run_fail(err, errlen, -ENOENT,
			   "found %u of the %u tiles of layer %u in the read-back", cnt[l], mm, l);
		goto out;
	}
	/* The margin: the best candidate left that overlaps no tile. */
	*next = INFINITY;
	for (; q < ncand && !isfinite(*next); q++) {
		const struct bnnacc_region *t0 = bnnacc_net_tile(ref, 0, cand[q].l);
		unsigned a, b, free_ = 1;

		for (a = 0; a < t0->rows && free_; a++)
			for (b = 0; b < t0->cols; b++)
				if (occ[(size_t)(cand[q].r + a) * info->cols + cand[q].c + b]) {
					free_ = 0;
					break;
				}
		if (free_)
			*next = cand[q].e;
	}
	*same = 0;
	for (l = 0; l < nl; l++) {
		qsort(got + (size_t)l * mm, mm, sizeof(*got), tile_cmp);
		for (k = 0; k < mm; k++) {
			const struct bnnacc_region *g = &got[(size_t)l * mm + k];
			unsigned j;

			tiles[(size_t)k * nl + l] = *g;
			for (j = 0; j < mm; j++) {
				const struct bnnacc_region *t = bnnacc_net_tile(ref, j, l);

				if (t->row == g->row && t->col == g->col) {
					(*same)++;
					break;
				}
			}
		}
	}
out:
	free(obs);
	free(cand);
	free(occ);
	free(got);
	return ret;
}

/* ---- inference through the daemon ---------------------------------------- */

static int infer_pass(struct conn *cn, const float *x, unsigned n, unsigned d,
		      unsigned c, unsigned mm, const char *dir, const char *name,
		      char *err, size_t errlen)
{
	unsigned nch = (n + INFER_CHUNK - 1) / INFER_CHUNK, per = (n + nch - 1) / nch;
	struct bnnacc_result r;
	unsigned ch, got = 0, i, j;
	json_t *rep = NULL, *req;
	double t0, p0 = cn->parse_s;
	int ret = 0;

	memset(&r, 0, sizeof(r));
	r.n = n;
	r.m = mm;
	r.c = c;
	r.probs = malloc((size_t)n * mm * c * sizeof(double));
	if (!r.probs)
		return card_run_fail(err, errlen, -ENOMEM, "out of memory");
	printf("p_demo: inference %s: %u points x %u networks, %u request%s to bnnaccd\n",
	       name, n, mm, nch, nch > 1 ? "s" : "");
	fflush(stdout);
	t0 = now_s();
	/* Pipelined: the daemon queues them and replies as they finish. */
	for (ch = 0; ch < nch && !ret; ch++) {
		unsigned lo = ch * per, hi = lo + per < n ? lo + per : n;
		json_t *in = json_array();

		for (i = lo; i < hi; i++) {
			json_t *v = json_array();

			for (j = 0; j < d; j++)
				json_array_append_new(v, json_real(x[(size_t)i * d + j]));
			json_array_append_new(in, v);
		}
		req = json_pack("{s:s,s:i,s:s,s:o,s:[s],s:i}", "op", "infer", "id", (int)ch,
				"name", DEMO_MODEL_NAME, "inputs", in, "outputs", "per_sample",
				"deadline_ms", 3600000);
		ret = req ? conn_send(cn, req, err, errlen) :
			    card_run_fail(err, errlen, -ENOMEM, "json_pack failed");
		json_decref(req);
	}
	for (ch = 0; ch < nch && !ret; ch++) {
		const char *ps, *pe;
		unsigned lo, hi;
		json_t *id;
		double t1;

		ret = conn_recv_ps(cn, &rep, &ps, &pe, err, errlen);
		if (ret)
			break;
		id = json_object_get(rep, "id");
		lo = json_is_integer(id) ? (unsigned)json_integer_value(id) * per : UINT_MAX;
		hi = lo + per < n ? lo + per : n;
		if (lo >= n || (got & (1u << (lo / per))) || !ps ||
		    json_integer_value(json_object_get(rep, "n")) != (json_int_t)(hi - lo) ||
		    json_integer_value(json_object_get(rep, "m")) != (json_int_t)mm) {
			ret = card_run_fail(err, errlen, -EPROTO, "bnnaccd: unexpected infer reply (id, n or m)");
			break;
		}
		got |= 1u << (lo / per);
		t1 = now_s();
		ret = ps_read(ps, pe, hi - lo, mm, c, r.probs + (size_t)lo * mm * c);
		cn->parse_s += now_s() - t1;
		if (ret) {
			card_run_fail(err, errlen, ret, "bnnaccd: per_sample is not [%u][%u][%u] numbers",
			     hi - lo, mm, c);
			break;
		}
		json_decref(rep);
		rep = NULL;
	}
	if (!ret) {
		printf("p_demo: inference %s: answered in %.2f s (%.2f s of it decoding JSON)\n",
		       name, now_s() - t0, cn->parse_s - p0);
		ret = card_run_dump(dir, name, &r);
		if (ret)
			card_run_fail(err, errlen, ret, "write %s: %s", name, strerror(-ret));
	}
	free(r.probs);
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
};

static int daemon_pass(void *ctx, const char *name, char *err, size_t errlen)
{
	struct daemon_pass *p = ctx;

	return infer_pass(p->cn, p->x, p->n, p->d, p->c, p->mm, p->dir, name,
			  err, errlen);
}

int daemon_run(struct bnnacc_dev *dev, const struct card_run_opts *o,
	       const char *sock, const char *statedir, char *err, size_t errlen)
{
	struct bnnacc_model *m = NULL, *ach = NULL;
	struct bnnacc_net *ref = NULL;
	struct bnnacc_card card, rc;
	struct bnnacc_calib cal;
	struct rec rec = { NULL, 0 };
	struct bnnacc_region all, *tiles = NULL;
	struct conn cn = { NULL, NULL, 0, 0 };
	char cache[4096], state[4096], mpath[PATH_MAX];
	json_t *rep = NULL, *c0;
	unsigned mm, reads = o->reads ? o->reads : 4, same = 0, rd;
	struct daemon_pass pass;
	uint32_t *ns = NULL;
	double gamma, worst = 0, next = 0;
	size_t cells;
	float *x = NULL;
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
	ret = conn_call(&cn, json_pack("{s:s,s:i}", "op", "hello", "version", 1), &rep,
			err, errlen);
	if (ret)
		goto out;
	json_decref(rep);
	rep = NULL;
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
		json_t *req = json_pack("{s:s,s:i,s:s,s:s}", "op", "load", "id", 1,
					"name", DEMO_MODEL_NAME, "path", mpath);

		if (o->m)
			json_object_set_new(req, "m", json_integer(o->m));
		ret = conn_call(&cn, req, &rep, err, errlen);
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
	gamma = json_number_value(json_object_get(c0, "gamma"));
	if (!mm || (o->m && mm != o->m)) {
		ret = card_run_fail(err, errlen, -EPROTO, "bnnaccd programmed M=%u networks (asked %u)",
			   mm, o->m);
		goto out;
	}
	json_decref(rep);
	rep = NULL;
	if (o->programmed) {
		ret = o->programmed(o->advance_ctx);
		if (ret) {
			card_run_fail(err, errlen, ret, "device clock: %s", strerror(-ret));
			goto out;
		}
	}
	ret = bnnacc_calib_load(&cal, state, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: calibration %s: k=%.4f uS/uA, G %.1f..%.1f uS\n",
	       reused ? "reused" : "measured by bnnaccd", cal.k_us_per_ua, cal.g_lo, cal.g_hi);
	if (!reused && o->caldir)
		bnnacc_calib_save(&cal, cache);	/* a cache: failing is harmless */
	printf("p_demo: bnnaccd transferred M=%u networks, gamma=%.3f uS per unit\n", mm, gamma);
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
	{
		struct bnnacc_xfer_opts xo = { mm, 0, 1 };

		ret = bnnacc_transfer(&ref, &rc, &cal, m, &xo, err, errlen);
	}
	if (ret)
		goto out;
	if (bnnacc_net_m(ref) != mm || fabs(bnnacc_net_gamma(ref) - gamma) > 1e-6 * gamma) {
		ret = card_run_fail(err, errlen, -EPROTO,
			   "recomputed transfer differs from the daemon's (M %u gamma %.6f vs M %u gamma %.6f)",
			   bnnacc_net_m(ref), bnnacc_net_gamma(ref), mm, gamma);
		goto out;
	}
	ret = card_run_files(ref, m, &cal, o->outdir, &ach, err, errlen);
	if (ret)
		goto out;

	/* The pairs, read through our own handle; nothing is programmed. */
	all = (struct bnnacc_region){ 0, 0, (uint16_t)card.info.rows, (uint16_t)card.info.cols };
	ns = malloc(cells * reads * sizeof(uint32_t));
	tiles = malloc((size_t)mm * m->n_layers * sizeof(*tiles));
	if (!ns || !tiles) {
		ret = card_run_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	for (rd = 0; rd < reads && !ret; rd++)
		ret = card.ops->read(card.ctx, &all, ns + rd * cells);
	if (ret) {
		card_run_fail(err, errlen, ret, "reading the array back: %s", strerror(-ret));
		goto out;
	}
	ret = find_tiles(&card.info, ns, reads, &cal, rec.words, ref, m->n_layers, mm,
			 tiles, &worst, &next, &same, err, errlen);
	if (ret)
		goto out;
	printf("p_demo: read back: %u tiles of %u networks located (mean z^2 <= %.2f, "
	       "next candidate %.1f; %u where a stuck-free layout puts them)\n",
	       mm * m->n_layers, mm, worst, next, same);
	ret = card_run_weights(&card.info, ns, reads, m, ach, gamma, mm, tiles, o->outdir);
	if (ret) {
		card_run_fail(err, errlen, ret, "weights.txt: %s", strerror(-ret));
		goto out;
	}
	fflush(stdout);

	pass = (struct daemon_pass){ &cn, x, (unsigned)n, m->n_inputs, m->n_classes,
				     mm, o->outdir };
	ret = card_run_ages(o, daemon_pass, &pass, err, errlen);
	if (!ret && !conn_call(&cn, json_pack("{s:s}", "op", "stats"), &rep, NULL, 0)) {
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
	free(tiles);
	free(ns);
	free(rec.words);
	free(x);
	bnnacc_net_free(ref);
	bnnacc_model_free(ach);
	bnnacc_model_free(m);
	return ret < 0 ? ret : 0;
}
