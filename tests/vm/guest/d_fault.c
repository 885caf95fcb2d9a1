// SPDX-License-Identifier: MIT
/*
 * d_fault - clients of the bnnaccd fault-matrix VM cases (tests/vm/cases/8N).
 * They speak protocol version 1 through daemon/client.c (static, with
 * jansson: daemon/build.mk), non-blocking where one process holds many
 * connections.
 *
 *   d_fault model PATH gauss|samples IN HID OUT [NSAMPLES] [SEED]
 *        write a valid model file (docs/model-format.md): IN-HID-OUT,
 *        tanh then softmax; SAMPLES kind with NSAMPLES weight sets
 *   d_fault agree SOCK MODEL NREQ
 *        NREQ infer requests of a 60-point grid (IN = 2); each answer's mean
 *        against a software reference computed here from the model file
 *        (4000 Monte Carlo networks): argmax agreement, total variation
 *   d_fault kill SOCK PID C K
 *        C clients, K one-input requests each, 4 in flight per client; at a
 *        quarter answered, SIGKILL PID; every client must see EOF within 5 s,
 *        then reconnects (to a restarted daemon), re-sends what is
 *        unanswered; every request must be answered exactly once, ok
 *   d_fault idle SOCK N HOLD_S
 *        N connections (non-blocking connects retried while the backlog is
 *        full), each sends hello; after HOLD_S all close. Reports how many
 *        connected, got the hello reply, and the longest wait for it
 *   d_fault slow SOCK C K infer|metrics DELAY_MS HOLD_S
 *        C clients pipeline K requests each as fast as the socket takes
 *        them; for HOLD_S they read 256 bytes per DELAY_MS (0: nothing; -1:
 *        nothing, and they close after HOLD_S instead of reading),
 *        then read everything: each request must get one reply (ok, busy or
 *        deadline: the request waited in the queue past its deadline)
 *   d_fault probe SOCK SECS MAX_MS
 *        one well-behaved client, one-input requests back to back for SECS:
 *        every one must be ok within MAX_MS
 *
 * Each prints one "d_fault WHAT: key=value ..." line; exit status 0 when
 * the expectation stated above holds, 1 otherwise, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "dclient.h"

#define GRID 60

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- replies ------------------------------------------------------------------ */

/*
 * The "mean" matrix of an infer result into @v (at most @max values, row
 * after row); the number read, or -1. @cols gets the row length.
 */
static int res_mean(json_t *res, double *v, int max, int *cols)
{
	json_t *row, *x;
	size_t i, j;
	int n = 0;

	*cols = 0;
	if (!json_is_array(json_object_get(res, "mean")))
		return -1;
	json_array_foreach(json_object_get(res, "mean"), i, row) {
		if (!i)
			*cols = (int)json_array_size(row);
		json_array_foreach(row, j, x) {
			if (n >= max || !json_is_number(x))
				return -1;
			v[n++] = json_number_value(x);
		}
	}
	return n;
}

/* The error code name of the error reply @r ("" when it is not one). */
static const char *err_name(struct bnd *c, const struct bnd_reply *r)
{
	json_t *res = NULL;

	if (bnd_result(c, r, &res) == -EREMOTEIO)
		return bnd_last_error(c)->name;
	json_decref(res);
	return "";
}

/* Connect @c without waiting (the hello's reply comes first), -EAGAIN
 * retried for up to 10 s while the daemon's backlog is full. */
static int dial(struct bnd *c, const char *path)
{
	int ret, i;

	for (i = 0; (ret = bnd_connect(c, path, 1, BND_NONBLOCK)) == -EAGAIN && i < 1000; i++)
		usleep(10000);
	return ret;
}

/* A probability vector of @c classes? */
static int prob_ok(const double *p, int c)
{
	double s = 0;
	int k;

	for (k = 0; k < c; k++) {
		if (!(p[k] >= 0 && p[k] <= 1))
			return 0;
		s += p[k];
	}
	return fabs(s - 1) < 1e-4;
}

static void grid_input(unsigned i, double *x)
{
	x[0] = -2.0 + 4.0 * (i % 10) / 9.0;
	x[1] = -1.0 + 2.0 * ((i / 10) % 6) / 5.0;
}

/* ---- model files -------------------------------------------------------- */

struct mfile {
	uint32_t kind, nl, ns, nin, ncls;
	uint32_t n_in[16], n_out[16], act[16];
	float *in_mean, *in_scale;
	float *w[16];	/* GAUSS: mean then std; SAMPLES: ns matrices */
};

static uint32_t fnv1a(const unsigned char *b, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= *b++;
		h *= 16777619u;
	}
	return h;
}

static uint64_t rng_s = 88172645463325252ull;

static double urand(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return (double)(rng_s >> 11) / 9007199254740992.0;
}

static double nrand(void)
{
	double u = urand(), v = urand();

	return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static void put32(unsigned char *b, size_t *o, uint32_t v)
{
	memcpy(b + *o, &v, 4);
	*o += 4;
}

static void putf(unsigned char *b, size_t *o, float v)
{
	memcpy(b + *o, &v, 4);
	*o += 4;
}

static int cmd_model(int argc, char **argv)
{
	uint32_t samples, in, hid, out, ns, dims[3], l, per, i;
	unsigned char *b;
	size_t size, o = 0;
	FILE *f;

	if (argc < 7)
		return 2;
	samples = !strcmp(argv[3], "samples");
	in = (uint32_t)atoi(argv[4]);
	hid = (uint32_t)atoi(argv[5]);
	out = (uint32_t)atoi(argv[6]);
	ns = samples ? (uint32_t)(argc > 7 ? atoi(argv[7]) : 100) : 0;
	if (argc > 8)
		rng_s = strtoull(argv[8], NULL, 10) * 2654435761ull + 1;
	if (!in || !hid || out < 2 || (samples && (ns < 1 || ns > 1024)))
		return 2;
	dims[0] = in;
	dims[1] = hid;
	dims[2] = out;
	size = 32 + 16 * 2 + 8 * (size_t)in + 32 * (size_t)out + 4;
	for (l = 0; l < 2; l++)
		size += (size_t)dims[l + 1] * (dims[l] + 1) * 4 * (samples ? ns : 2);
	b = calloc(1, size);
	if (!b)
		return 1;
	put32(b, &o, 0x4d4e4e42u);
	put32(b, &o, 1);
	put32(b, &o, samples);
	put32(b, &o, 2);
	put32(b, &o, ns);
	put32(b, &o, in);
	put32(b, &o, out);
	put32(b, &o, (uint32_t)size);
	for (l = 0; l < 2; l++) {
		put32(b, &o, dims[l]);
		put32(b, &o, dims[l + 1]);
		put32(b, &o, l ? 3 : 2);
		put32(b, &o, 0);
	}
	for (i = 0; i < in; i++) {
		putf(b, &o, 0.0f);
		putf(b, &o, 1.0f);
	}
	for (l = 0; l < 2; l++) {
		per = dims[l + 1] * (dims[l] + 1);
		if (samples) {
			float *mu = malloc(per * sizeof(float));
			uint32_t s;

			for (i = 0; i < per; i++)
				mu[i] = (float)(2 * urand() - 1);
			for (s = 0; s < ns; s++)
				for (i = 0; i < per; i++)
					putf(b, &o, (float)(mu[i] + 0.1 * nrand()));
			free(mu);
		} else {
			for (i = 0; i < per; i++)
				putf(b, &o, (float)(2 * urand() - 1));
			for (i = 0; i < per; i++)
				putf(b, &o, 0.1f);
		}
	}
	for (i = 0; i < out; i++) {
		snprintf((char *)b + o, 32, "class%u", i);
		o += 32;
	}
	put32(b, &o, fnv1a(b, size - 4));
	f = fopen(argv[2], "wb");
	if (!f || fwrite(b, 1, size, f) != size || fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	free(b);
	printf("d_fault model: %s kind=%s %u-%u-%u samples=%u bytes=%zu\n", argv[2],
	       samples ? "samples" : "gauss", in, hid, out, ns, size);
	return 0;
}

static int model_read(const char *path, struct mfile *m)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long sz;
	size_t o = 32, n;
	uint32_t l, i, h[8];

	memset(m, 0, sizeof(*m));
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	b = malloc((size_t)sz);
	if (sz < 36 || !b || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(b);
		return -1;
	}
	fclose(f);
	memcpy(h, b, 32);
	if (h[0] != 0x4d4e4e42u || h[3] < 1 || h[3] > 16 || h[7] != (uint32_t)sz) {
		free(b);
		return -1;
	}
	m->kind = h[2];
	m->nl = h[3];
	m->ns = h[4];
	m->nin = h[5];
	m->ncls = h[6];
	for (l = 0; l < m->nl; l++) {
		memcpy(&m->n_in[l], b + o, 4);
		memcpy(&m->n_out[l], b + o + 4, 4);
		memcpy(&m->act[l], b + o + 8, 4);
		o += 16;
	}
	m->in_mean = malloc(m->nin * sizeof(float));
	m->in_scale = malloc(m->nin * sizeof(float));
	for (i = 0; i < m->nin; i++) {
		memcpy(&m->in_mean[i], b + o, 4);
		memcpy(&m->in_scale[i], b + o + 4, 4);
		o += 8;
	}
	for (l = 0; l < m->nl; l++) {
		n = (size_t)m->n_out[l] * (m->n_in[l] + 1) * (m->kind ? m->ns : 2);
		m->w[l] = malloc(n * sizeof(float));
		memcpy(m->w[l], b + o, n * sizeof(float));
		o += n * sizeof(float);
	}
	free(b);
	return 0;
}

/* One network's forward pass: GAUSS weights drawn afresh, SAMPLES set @s. */
static void forward(const struct mfile *m, const double *x, unsigned s, double *p)
{
	double a[4096], z[4096];
	uint32_t l, i, j, nin = m->nin;

	for (i = 0; i < nin; i++)
		a[i] = (x[i] - m->in_mean[i]) * m->in_scale[i];
	for (l = 0; l < m->nl; l++) {
		uint32_t ni = m->n_in[l], no = m->n_out[l];
		size_t per = (size_t)no * (ni + 1);
		double mx = -1e300, sum = 0;

		for (j = 0; j < no; j++) {
			double acc = 0;

			for (i = 0; i <= ni; i++) {
				size_t k = (size_t)j * (ni + 1) + i;
				double w = m->kind ? m->w[l][per * s + k] :
					   m->w[l][k] + m->w[l][per + k] * nrand();

				acc += w * (i < ni ? a[i] : 1.0);
			}
			z[j] = acc;
		}
		for (j = 0; j < no; j++) {
			switch (m->act[l]) {
			case 1: a[j] = z[j] > 0 ? z[j] : 0; break;
			case 2: a[j] = tanh(z[j]); break;
			case 3: mx = fmax(mx, z[j]); a[j] = z[j]; break;
			default: a[j] = z[j]; break;
			}
		}
		if (m->act[l] == 3) {
			for (j = 0; j < no; j++)
				sum += (a[j] = exp(a[j] - mx));
			for (j = 0; j < no; j++)
				a[j] /= sum;
		}
	}
	for (j = 0; j < m->ncls; j++)
		p[j] = a[j];
}

static int cmd_agree(int argc, char **argv)
{
	static double ref[GRID * 16], got[GRID * 16], p[4096];
	unsigned nreq, r, i, k, S, agree = 0, total = 0, answered = 0, errors = 0;
	double tv = 0, x[2];
	struct mfile m;
	struct bnd *c;
	struct bnd_reply rep;
	char params[GRID * 32 + 32], *o;
	int cols;

	if (argc != 5)
		return 2;
	nreq = (unsigned)atoi(argv[4]);
	if (model_read(argv[3], &m) || m.nin != 2 || m.ncls > 16) {
		fprintf(stderr, "d_fault agree: %s: not a 2-input model file\n", argv[3]);
		return 1;
	}
	S = m.kind ? m.ns : 4000;
	memset(ref, 0, sizeof(ref));
	for (i = 0; i < GRID; i++) {
		grid_input(i, x);
		for (k = 0; k < S; k++) {
			unsigned cl;

			forward(&m, x, k, p);
			for (cl = 0; cl < m.ncls; cl++)
				ref[i * m.ncls + cl] += p[cl] / S;
		}
	}
	c = bnd_new();
	if (!c || bnd_connect(c, argv[2], 1, 0)) {
		fprintf(stderr, "d_fault agree: %s\n", c ? bnd_errmsg(c) : "out of memory");
		return 1;
	}
	o = params + sprintf(params, "{\"inputs\":[");
	for (i = 0; i < GRID; i++) {
		grid_input(i, x);
		o += sprintf(o, "%s[%.6f,%.6f]", i ? "," : "", x[0], x[1]);
	}
	strcpy(o, "]}");
	for (r = 0; r < nreq; r++) {
		json_t *res = NULL;
		int64_t id;

		if (bnd_send(c, "infer", params, -1, &id) || bnd_recv(c, &rep)) {
			fprintf(stderr, "d_fault agree: %s\n", bnd_errmsg(c));
			break;
		}
		if (!rep.ok || rep.id != id || bnd_result(c, &rep, &res) ||
		    res_mean(res, got, GRID * 16, &cols) != (int)(GRID * m.ncls) ||
		    cols != (int)m.ncls) {
			fprintf(stderr, "d_fault agree: bad reply: %.200s\n", rep.line);
			json_decref(res);
			errors++;
			continue;
		}
		json_decref(res);
		answered++;
		for (i = 0; i < GRID; i++) {
			double d = 0;

			for (k = 0; k < m.ncls; k++)
				d += fabs(got[i * m.ncls + k] - ref[i * m.ncls + k]);
			tv += d / 2;
			agree += dc_argmax(got + i * m.ncls, m.ncls) == dc_argmax(ref + i * m.ncls, m.ncls);
			total++;
		}
	}
	bnd_free(c);
	printf("d_fault agree: requests=%u answered=%u errors=%u agree=%.4f tv=%.4f\n",
	       nreq, answered, errors, total ? (double)agree / total : 0.0,
	       total ? tv / total : 1.0);
	return answered == nreq ? 0 : 1;
}

/* ---- kill: SIGKILL the daemon with requests in flight ------------------- */

struct kcl {
	struct bnd *c;
	int up;
	struct {
		int64_t id;	/* of this connection */
		unsigned rid;	/* the request's index */
	} inflight[4];
	unsigned nin;
	int64_t last_id;	/* the newest sent on this connection */
	double t_eof, t_retry;
};

#define KWIN 4

static unsigned kK, *kstate;	/* per request: 0 todo, 1 in flight, 2 answered */
static unsigned k_answered, k_dup, k_bad, k_partial, k_retried, k_err[8];
static const char *const kcodes[8] = { "busy", "no_model", "card", "no_card",
				       "shutdown", "deadline", "handshake", "other" };

static void k_count_err(const char *code)
{
	unsigned i;

	for (i = 0; i < 7 && strcmp(code, kcodes[i]); i++)
		;
	k_err[i]++;
}

static int k_send(struct kcl *c, unsigned ci)
{
	char params[96];
	unsigned i, rid;
	int64_t id;

	for (i = 0; i < kK && c->nin < KWIN; i++) {
		rid = ci * kK + i;
		if (kstate[rid] != 0)
			continue;
		snprintf(params, sizeof(params), "{\"inputs\":[[%.3f,%.3f]]}",
			 -2.0 + 4.0 * (rid % 10) / 9.0, -1.0 + 2.0 * ((rid / 10) % 6) / 5.0);
		if (bnd_send(c->c, "infer", params, -1, &id))
			return -1;
		kstate[rid] = 1;
		c->inflight[c->nin].id = id;
		c->inflight[c->nin++].rid = rid;
		c->last_id = id;
	}
	return 0;
}

/* Handle one reply of client @c: count it, free or retry its request. */
static void k_line(struct kcl *c, const struct bnd_reply *r)
{
	double mean[16];
	json_t *res = NULL;
	unsigned i, rid;
	int cols;

	if (r->id == 0) {	/* the hello's reply */
		if (!r->ok)
			k_bad++;
		return;
	}
	for (i = 0; i < c->nin && c->inflight[i].id != r->id; i++)
		;
	if (i == c->nin) {
		if (r->id > 0 && r->id <= c->last_id)
			k_dup++;	/* answered already */
		else
			k_bad++;
		fprintf(stderr, "d_fault kill: unexpected reply %.200s\n", r->line);
		return;
	}
	rid = c->inflight[i].rid;
	c->inflight[i] = c->inflight[--c->nin];
	if (r->ok) {
		if (bnd_result(c->c, r, &res) || res_mean(res, mean, 16, &cols) != 3 ||
		    cols != 3 || !prob_ok(mean, 3) ||
		    json_integer_value(json_object_get(res, "n")) != 1) {
			k_bad++;
			fprintf(stderr, "d_fault kill: wrong answer %.200s\n", r->line);
		} else {
			k_answered++;
		}
		json_decref(res);
		kstate[rid] = 2;
		return;
	}
	k_count_err(err_name(c->c, r));
	kstate[rid] = 0;	/* retried */
	k_retried++;
	c->t_retry = bnd_now() + 0.1;
}

/* The connection of @c ended (@partial: in the middle of a reply). */
static void k_lost_conn(struct kcl *c, int partial)
{
	unsigned i;

	if (partial)
		k_partial++;	/* a reply cut by the kill: not an answer */
	for (i = 0; i < c->nin; i++)
		kstate[c->inflight[i].rid] = 0;
	k_retried += c->nin;
	c->nin = 0;
	bnd_close(c->c);
	c->up = 0;
	if (!c->t_eof)
		c->t_eof = bnd_now();
}

static int cmd_kill(int argc, char **argv)
{
	unsigned C, i, total, inflight_kill = 0, reconnects = 0, hung = 0;
	double t_kill = 0, t_end, eof_max = 0, t_first_after = 0, t0 = bnd_now();
	pid_t pid;
	struct kcl *cl;
	struct pollfd *pf;

	if (argc != 6)
		return 2;
	pid = (pid_t)atoi(argv[3]);
	C = (unsigned)atoi(argv[4]);
	kK = (unsigned)atoi(argv[5]);
	if (!C || !kK || C > 4000)
		return 2;
	raise_nofile();
	total = C * kK;
	kstate = calloc(total, sizeof(*kstate));
	cl = calloc(C, sizeof(*cl));
	pf = calloc(C, sizeof(*pf));
	for (i = 0; i < C; i++) {
		cl[i].c = bnd_new();
		if (!cl[i].c || dial(cl[i].c, argv[2])) {
			fprintf(stderr, "d_fault kill: %s\n", cl[i].c ? bnd_errmsg(cl[i].c) : "out of memory");
			return 1;
		}
		cl[i].up = 1;
		k_send(&cl[i], i);
	}
	t_end = bnd_now() + 600;
	while (k_answered + k_bad < total && bnd_now() < t_end) {
		double t = bnd_now();

		if (!t_kill && k_answered >= total / 4) {
			for (i = 0; i < C; i++)
				inflight_kill += cl[i].nin;
			t_kill = bnd_now();
			kill(pid, SIGKILL);
			printf("d_fault kill: SIGKILL %d at %.2f s, %u answered, %u in flight\n",
			       (int)pid, t_kill - t0, k_answered, inflight_kill);
			fflush(stdout);
		}
		for (i = 0; i < C; i++) {
			struct kcl *c = &cl[i];

			if (!c->up && t_kill && t >= c->t_retry) {	/* reconnect */
				c->t_retry = t + 0.05;
				if (bnd_connect(c->c, argv[2], 1, BND_NONBLOCK))
					continue;
				reconnects++;
				c->up = 1;
				c->last_id = 0;
			}
			if (c->up && t >= c->t_retry && k_send(c, i))
				k_lost_conn(c, 0);
			pf[i].fd = c->up ? bnd_fd(c->c) : -1;
			pf[i].events = POLLIN | (c->up && bnd_flush(c->c) == -EAGAIN ? POLLOUT : 0);
		}
		if (poll(pf, C, 20) < 0 && errno != EINTR)
			return 1;
		t = bnd_now();
		for (i = 0; i < C; i++) {
			struct kcl *c = &cl[i];
			struct bnd_reply r;
			int n;

			if (!c->up || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = bnd_read(c->c, 0);
			if (n == -EAGAIN)
				continue;
			if (n < 0) {
				if (!t_kill) {
					fprintf(stderr, "d_fault kill: connection lost before the kill: %s\n",
						bnd_errmsg(c->c));
					k_bad++;
				}
				k_lost_conn(c, n == -EPROTO);
				continue;
			}
			while (!bnd_recv(c->c, &r)) {
				if (t_kill && t_first_after == 0 && c->t_eof && r.ok && r.id > 0)
					t_first_after = t;
				k_line(c, &r);
			}
		}
	}
	for (i = 0; i < C; i++) {
		double e = cl[i].t_eof ? cl[i].t_eof - t_kill : -1;

		if (e < 0 || e > 5)
			hung++;
		eof_max = fmax(eof_max, e);
		bnd_free(cl[i].c);
	}
	printf("d_fault kill: clients=%u requests=%u answered=%u dup=%u bad=%u partial=%u "
	       "lost=%u inflight_at_kill=%u eof_max_ms=%.1f hung=%u reconnects=%u retried=%u "
	       "first_answer_after_kill_s=%.2f busy=%u no_model=%u card=%u no_card=%u "
	       "shutdown=%u deadline=%u handshake=%u other=%u\n",
	       C, total, k_answered, k_dup, k_bad, k_partial, total - k_answered - k_bad,
	       inflight_kill, eof_max * 1e3, hung, reconnects, k_retried,
	       t_first_after ? t_first_after - t_kill : -1.0, k_err[0], k_err[1], k_err[2],
	       k_err[3], k_err[4], k_err[5], k_err[6], k_err[7]);
	return t_kill && k_answered == total && !k_dup && !k_bad && !hung ? 0 : 1;
}

/* ---- idle: many connections that ask nothing ---------------------------- */

static int cmd_idle(int argc, char **argv)
{
	unsigned N, i, connected = 0, hello = 0, eof = 0;
	double hold, t0 = bnd_now(), wait_max = 0, *t_conn;
	struct bnd **c;
	int *got, ret;
	struct pollfd *pf;

	if (argc != 5)
		return 2;
	N = (unsigned)atoi(argv[3]);
	hold = atof(argv[4]);
	raise_nofile();
	c = calloc(N, sizeof(*c));
	got = calloc(N, sizeof(int));
	t_conn = calloc(N, sizeof(double));
	pf = calloc(N, sizeof(*pf));
	for (i = 0; i < N; i++)
		if (!(c[i] = bnd_new()))
			return 1;
	while (bnd_now() - t0 < hold) {
		for (i = 0; i < N; i++) {
			if (bnd_fd(c[i]) >= 0 || got[i])
				continue;
			ret = bnd_connect(c[i], argv[2], 1, BND_NONBLOCK);
			if (ret == -EAGAIN || ret == -EMFILE)
				break;	/* the backlog is full: later */
			if (ret) {
				fprintf(stderr, "d_fault idle: %s\n", bnd_errmsg(c[i]));
				break;
			}
			connected++;
			t_conn[i] = bnd_now();
		}
		for (i = 0; i < N; i++) {
			pf[i].fd = bnd_fd(c[i]);
			pf[i].events = POLLIN;
		}
		if (poll(pf, N, 50) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < N; i++) {
			struct bnd_reply r;
			json_t *res = NULL;
			int n;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = bnd_read(c[i], 0);
			if (n == -EAGAIN)
				continue;
			if (n < 0) {
				eof++;
				bnd_close(c[i]);
				got[i] = -1;
				continue;
			}
			while (!bnd_recv(c[i], &r)) {
				if (got[i] || r.id != 0 || bnd_result(c[i], &r, &res))
					continue;
				if (!strcmp(json_string_value(json_object_get(res, "server")) ?: "",
					    "bnnaccd")) {
					got[i] = 1;
					hello++;
					wait_max = fmax(wait_max, bnd_now() - t_conn[i]);
				}
				json_decref(res);
				res = NULL;
			}
		}
	}
	for (i = 0; i < N; i++)
		bnd_free(c[i]);
	printf("d_fault idle: n=%u connected=%u hello_ok=%u eof=%u wait_max_s=%.2f\n",
	       N, connected, hello, eof, wait_max);
	return hello == N ? 0 : 1;
}

/* ---- slow: pipeline and read slowly or not at all ----------------------- */

struct scl {
	struct bnd *c;
	unsigned sent, replies, ok, busy, deadline, other;
	double t_read;
};

static int cmd_slow(int argc, char **argv)
{
	unsigned C, K, i, done = 0, ok = 0, busy = 0, other = 0, sent = 0, got = 0, delay;
	unsigned late = 0;
	int close_after;
	int metrics;
	double hold, t0 = bnd_now(), t_drain = 0, t_end;
	const char *params;
	struct scl *cl;
	struct pollfd *pf;

	if (argc != 8)
		return 2;
	C = (unsigned)atoi(argv[3]);
	K = (unsigned)atoi(argv[4]);
	metrics = !strcmp(argv[5], "metrics");
	params = metrics ? NULL : "{\"inputs\":[[0.5,-0.5]]}";
	close_after = atoi(argv[6]) < 0;
	delay = close_after ? 0 : (unsigned)atoi(argv[6]);
	hold = atof(argv[7]);
	raise_nofile();
	cl = calloc(C, sizeof(*cl));
	pf = calloc(C, sizeof(*pf));
	for (i = 0; i < C; i++) {
		cl[i].c = bnd_new();
		if (!cl[i].c || dial(cl[i].c, argv[2])) {
			fprintf(stderr, "d_fault slow: %s\n", cl[i].c ? bnd_errmsg(cl[i].c) : "out of memory");
			return 1;
		}
	}
	t_end = t0 + hold + 300;
	while (done < C && bnd_now() < t_end) {
		double t = bnd_now();
		int draining = t - t0 >= hold;

		if (draining && close_after) {	/* leave without reading */
			for (i = 0; i < C; i++)
				bnd_free(cl[i].c);
			printf("d_fault slow: clients=%u op=%s sent=%u closed after %.0f s unread\n",
			       C, metrics ? "metrics" : "infer", sent, hold);
			return 0;
		}
		if (draining && !t_drain)
			t_drain = t;
		for (i = 0; i < C; i++) {
			struct scl *c = &cl[i];

			pf[i].fd = bnd_fd(c->c);
			pf[i].events = 0;
			if (pf[i].fd < 0)
				continue;
			if (c->sent < K || bnd_flush(c->c) == -EAGAIN)
				pf[i].events |= POLLOUT;
			if (draining || (delay && t >= c->t_read))
				pf[i].events |= POLLIN;
		}
		if (poll(pf, C, 10) < 0 && errno != EINTR)
			return 1;
		t = bnd_now();
		for (i = 0; i < C; i++) {
			struct scl *c = &cl[i];
			struct bnd_reply r;
			int n;

			if (pf[i].fd < 0)
				continue;
			/* as fast as the socket takes them: the next when the last is out */
			while ((pf[i].revents & POLLOUT) && c->sent < K && !bnd_flush(c->c) &&
			       !bnd_send(c->c, metrics ? "metrics" : "infer", params, -1, NULL)) {
				c->sent++;
				sent++;
			}
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			c->t_read = t + delay / 1000.0;
			n = bnd_read(c->c, draining ? 0 : 256);
			if (n == -EAGAIN)
				continue;
			if (n < 0) {
				bnd_close(c->c);
				done++;
				continue;
			}
			while (!bnd_recv(c->c, &r)) {
				const char *code;

				if (r.id == 0)	/* the hello's */
					continue;
				c->replies++;
				if (r.ok) {
					c->ok++;
					continue;
				}
				code = err_name(c->c, &r);
				if (!strcmp(code, "busy"))
					c->busy++;
				else if (!strcmp(code, "deadline"))
					c->deadline++;
				else
					c->other++;
			}
			if (c->replies >= K) {
				bnd_close(c->c);
				done++;
			}
		}
	}
	for (i = 0; i < C; i++) {
		got += cl[i].replies;
		ok += cl[i].ok;
		busy += cl[i].busy;
		late += cl[i].deadline;
		other += cl[i].other;
		bnd_free(cl[i].c);
	}
	printf("d_fault slow: clients=%u op=%s sent=%u replies=%u ok=%u busy=%u deadline=%u "
	       "other=%u lost=%u hold_s=%.0f drain_s=%.2f\n", C, metrics ? "metrics" : "infer",
	       sent, got, ok, busy, late, other, C * K - got, hold,
	       t_drain ? bnd_now() - t_drain : 0.0);
	return got == C * K && other == 0 && ok + busy + late == got ? 0 : 1;
}

/* ---- probe: one well-behaved client ------------------------------------- */

static int cmd_probe(int argc, char **argv)
{
	static double lat[100000];
	unsigned n = 0, ok = 0, busy = 0, other = 0;
	double secs, max_ms, t_end, lmax = 0, sum = 0;
	struct bnd *c = bnd_new();
	struct bnd_reply r;

	if (argc != 5)
		return 2;
	secs = atof(argv[3]);
	max_ms = atof(argv[4]);
	if (!c || bnd_connect(c, argv[2], 1, 0)) {
		fprintf(stderr, "d_fault probe: %s\n", c ? bnd_errmsg(c) : "out of memory");
		return 1;
	}
	t_end = bnd_now() + secs;
	while (bnd_now() < t_end && n < 100000) {
		double t0 = bnd_now(), l;
		int64_t id;

		if (bnd_send(c, "infer", "{\"inputs\":[[0.25,0.5]]}", -1, &id) || bnd_recv(c, &r)) {
			fprintf(stderr, "d_fault probe: %s\n", bnd_errmsg(c));
			break;
		}
		l = (bnd_now() - t0) * 1e3;
		lat[n++] = l;
		sum += l;
		lmax = fmax(lmax, l);
		if (r.ok && r.id == id) {
			ok++;
		} else {
			if (!strcmp(err_name(c, &r), "busy"))
				busy++;
			else
				other++;
			if (busy + other <= 5)
				fprintf(stderr, "d_fault probe: %.200s\n", r.line);
		}
	}
	bnd_free(c);
	qsort(lat, n, sizeof(lat[0]), dc_cmp_double);
	printf("d_fault probe: requests=%u ok=%u busy=%u other=%u mean_ms=%.1f p50_ms=%.1f "
	       "p99_ms=%.1f max_ms=%.1f\n", n, ok, busy, other, n ? sum / n : 0.0,
	       n ? lat[n / 2] : 0.0, n ? lat[(size_t)(n * 0.99)] : 0.0, lmax);
	return n > 0 && ok == n && lmax <= max_ms ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "model"))
		return cmd_model(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "agree"))
		return cmd_agree(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "kill"))
		return cmd_kill(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "idle"))
		return cmd_idle(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "slow"))
		return cmd_slow(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return cmd_probe(argc, argv);
	fprintf(stderr, "usage: d_fault model|agree|kill|idle|slow|probe ... (see the source)\n");
	return 2;
}
