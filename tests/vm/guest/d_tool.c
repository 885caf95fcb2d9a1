// SPDX-License-Identifier: MIT
/*
 * d_tool - helper of the bnnaccd VM tests and bench (static, in the guest).
 *
 *   d_tool model PATH            write the 2-8-3 tanh/softmax GAUSS test model
 *   d_tool csv N                 N test inputs as CSV on stdout
 *   d_tool reset INDEX           reset /dev/bnnaccINDEX (BNNACC_IOC_RESET)
 *   d_tool clients SOCK C[,C...] SECS N [check] [v2]
 *                                C concurrent socket clients (protocol
 *                                version 1, or 2), each sending infer
 *                                requests of N inputs back to back for SECS
 *                                seconds (SECS 0: one request each); prints
 *                                rps, inputs/s and latency, and what the
 *                                daemon did meanwhile: its batches' mean
 *                                inputs, the card's busy share, the CPU
 *                                share of its event loop and of its card
 *                                workers, and the clients'; "check" compares
 *                                every answer with the software reference
 *   d_tool flood SOCK K N [close] pipeline K requests on one connection:
 *                                count ok/busy replies, or disconnect at once
 *   d_tool direct SECS N [B,B...] the daemon's work without it, as fast as
 *                                libbnnacc goes: one process calibrates and
 *                                transfers to /dev/bnnacc0, measures the
 *                                inputs/s of bnnacc_infer calls of B inputs
 *                                (the N inputs repeated; default B = N, 2N,
 *                                ... 512N), then runs SECS seconds at the
 *                                best B; rps and latency per request of N
 *                                inputs (a request waits for its call)
 *                                and what bnnaccd's event loop does per
 *                                request on the card's answers (d_tool cost)
 *   d_tool cost N M SECS         what bnnaccd's event loop does per infer
 *                                request of N inputs on M networks, timed
 *                                here (CPU ms): decoding the request line;
 *                                the reply as job_reply builds it (each
 *                                input's uncertainty recomputed from its M
 *                                samples, the JSON written); the reply from
 *                                uncertainties computed once per batch
 *                                (made-up probabilities)
 *
 * The socket clients speak through daemon/client.c.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bnnacc/bnnacc.h>
#include <jansson.h>

#include "client.h"
#include "dclient.h"

#define MAXC 256
#define MAXLAT 200000

static struct bnnacc_model *model;
static struct bnnacc_result ref;
static const char *sock_path;
static unsigned nper;
static double t_end;
static int do_check, version = 1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double lat[MAXLAT];
static unsigned nlat, nreq, nbad, nmismatch;
static struct bnnacc_net *net;

static void mk_model(void)
{
	static const uint32_t dims[] = { 2, 8, 3 };
	static const uint32_t acts[] = { BNNACC_ACT_TANH, BNNACC_ACT_SOFTMAX };
	uint64_t s = 12345;
	unsigned l;
	size_t i, n;

	if (bnnacc_model_new(&model, BNNACC_MODEL_GAUSS, 2, dims, acts, 0))
		exit(1);
	for (l = 0; l < 2; l++) {
		n = (size_t)model->layer[l].n_out * (model->layer[l].n_in + 1);
		for (i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			model->layer[l].mean[i] = (float)(2.0 * (double)(s >> 11) / 9007199254740992.0 - 1.0);
			model->layer[l].std[i] = 0.1f;
		}
	}
}

static void input(unsigned i, float *x)
{
	x[0] = (float)(-2.0 + 4.0 * (i % 10) / 9.0);
	x[1] = (float)(-1.0 + 2.0 * ((i / 10) % 6) / 5.0);
}

static void record(double l)
{
	pthread_mutex_lock(&mu);
	if (nlat < MAXLAT)
		lat[nlat++] = l;
	nreq++;
	pthread_mutex_unlock(&mu);
}

static void bad(void)
{
	pthread_mutex_lock(&mu);
	nbad++;
	pthread_mutex_unlock(&mu);
}

/* The infer request's params: the first nper inputs, mean and uncertainty. */
static char *infer_params(void)
{
	json_t *in = json_array(), *p;
	unsigned i;
	char *s;

	for (i = 0; i < nper; i++) {
		float x[2];

		input(i, x);
		json_array_append_new(in, json_pack("[f,f]", (double)x[0], (double)x[1]));
	}
	p = json_pack("{s:o,s:[s,s]}", "inputs", in, "outputs", "mean", "uncertainty");
	s = json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(p);
	return s;
}

/* Classes that differ from the software reference's in an infer result. */
static unsigned mismatches(json_t *res)
{
	json_t *mean = json_object_get(res, "mean");
	unsigned i, k, miss = 0;

	for (i = 0; i < nper; i++) {
		double p[3];

		for (k = 0; k < 3; k++)
			p[k] = json_number_value(json_array_get(json_array_get(mean, i), k));
		miss += dc_argmax(p, 3) != dc_argmax(ref.mean + i * 3, 3);
	}
	return miss;
}

/* One socket client: infer requests back to back until t_end. */
static void *client(void *arg)
{
	struct bnd *c = bnd_new();
	char *params = infer_params();
	struct bnd_reply r;
	int64_t id;

	(void)arg;
	if (!c || !params || bnd_connect(c, sock_path, version, 0)) {
		fprintf(stderr, "d_tool: %s\n", c ? bnd_errmsg(c) : "out of memory");
		bad();
		goto out;
	}
	do {
		double t0 = bnd_now();
		unsigned miss;
		json_t *res;

		if (bnd_send(c, "infer", params, -1, &id) || bnd_recv(c, &r)) {
			fprintf(stderr, "d_tool: %s\n", bnd_errmsg(c));
			bad();
			break;
		}
		if (!r.ok || r.id != id) {
			fprintf(stderr, "d_tool: bad reply: %.300s\n", r.line);
			bad();
			continue;
		}
		if (do_check) {
			if (bnd_result(c, &r, &res)) {
				fprintf(stderr, "d_tool: %s\n", bnd_errmsg(c));
				bad();
				continue;
			}
			miss = mismatches(res);
			json_decref(res);
			pthread_mutex_lock(&mu);
			nmismatch += miss;
			pthread_mutex_unlock(&mu);
		}
		record(bnd_now() - t0);
	} while (bnd_now() < t_end);
out:
	free(params);
	bnd_free(c);
	return NULL;
}

/* ---- what the daemon did meanwhile ------------------------------------------ */

struct dstat {
	double batches, inputs, busy_s;	/* summed over its cards */
	double loop_s, workers_s;	/* CPU: its main thread, the others */
	double loop_sys_s;		/* of loop_s, in the kernel */
	double self_s;			/* CPU of this process */
	int ok;
};

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of thread @tid of @pid (utime + stime; *@sys stime), -1 if unknown. */
static double cpu_task(int pid, const char *tid, double *sys)
{
	char path[96], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = (int)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');	/* after the command name: fields 3.. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	*sys = (double)st / (double)sysconf(_SC_CLK_TCK);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The daemon's cards (over @c) and its threads' CPU (its pid from the socket). */
static void dstat_take(struct bnd *c, struct dstat *d)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	json_t *res = NULL, *e;
	struct dirent *de;
	char dir[64];
	size_t i;
	DIR *td;

	memset(d, 0, sizeof(*d));
	d->self_s = cpu_self();
	if (bnd_call(c, "cards", NULL, -1, &res) ||
	    getsockopt(bnd_fd(c), SOL_SOCKET, SO_PEERCRED, &cr, &len))
		goto out;
	json_array_foreach(json_object_get(res, "cards"), i, e) {
		d->batches += json_number_value(json_object_get(e, "batches"));
		d->inputs += json_number_value(json_object_get(e, "inputs"));
		d->busy_s += json_number_value(json_object_get(e, "busy_s"));
	}
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)cr.pid);
	td = opendir(dir);
	while (td && (de = readdir(td)) != NULL) {
		double t, sys;

		if (de->d_name[0] == '.' || (t = cpu_task((int)cr.pid, de->d_name, &sys)) < 0)
			continue;
		if (atoi(de->d_name) == (int)cr.pid) {
			d->loop_s += t;
			d->loop_sys_s += sys;
		} else {
			d->workers_s += t;
		}
	}
	if (td)
		closedir(td);
	d->ok = 1;
out:
	json_decref(res);
}

/* "rps=.. inputs_per_s=.. p50_ms=.. p99_ms=.." of the requests recorded */
static void report(double secs)
{
	double p50 = 0, p99 = 0;

	qsort(lat, nlat, sizeof(lat[0]), dc_cmp_double);
	if (nlat) {
		p50 = lat[nlat / 2];
		p99 = lat[(size_t)(nlat * 0.99)];
	}
	printf("requests=%u bad=%u mismatch=%u rps=%.1f inputs_per_s=%.1f p50_ms=%.2f "
	       "p99_ms=%.2f", nreq, nbad, nmismatch, nreq / secs, (double)nreq * nper / secs,
	       p50 * 1e3, p99 * 1e3);
}

static int run(unsigned c, double secs)
{
	pthread_t th[MAXC];
	struct bnd *ctl = bnd_new();
	struct dstat a = { 0 }, b = { 0 };
	double t0, wall;
	unsigned i;

	if (ctl && !bnd_connect(ctl, sock_path, 2, 0))
		dstat_take(ctl, &a);
	nlat = nreq = nbad = nmismatch = 0;
	t0 = bnd_now();
	t_end = t0 + secs;
	for (i = 0; i < c; i++)
		pthread_create(&th[i], NULL, client, NULL);
	for (i = 0; i < c; i++)
		pthread_join(th[i], NULL);
	wall = bnd_now() - t0;
	if (a.ok)
		dstat_take(ctl, &b);
	bnd_free(ctl);
	printf("d_tool clients: clients=%u ", c);
	report(wall);
	printf(" version=%d", version);
	if (a.ok && b.ok)
		printf(" batches=%.0f batch_inputs=%.1f card_busy=%.3f daemon_loop_cpu=%.3f "
		       "daemon_loop_sys=%.3f daemon_workers_cpu=%.3f clients_cpu=%.3f",
		       b.batches - a.batches,
		       b.batches > a.batches ? (b.inputs - a.inputs) / (b.batches - a.batches) : 0,
		       (b.busy_s - a.busy_s) / wall, (b.loop_s - a.loop_s) / wall,
		       (b.loop_sys_s - a.loop_sys_s) / wall, (b.workers_s - a.workers_s) / wall,
		       (b.self_s - a.self_s) / wall);
	printf("\n");
	fflush(stdout);
	return nbad || nmismatch > nreq * nper / 10 ? 1 : 0;
}

/* Run the clients for each client count of the comma-separated @list. */
static int run_list(const char *list, double secs)
{
	const char *p = list;
	int rc = 0;

	while (*p) {
		char *end;
		unsigned long c = strtoul(p, &end, 10);

		if (end == p || c == 0 || c > MAXC)
			return 2;
		rc |= run((unsigned)c, secs);
		p = *end == ',' ? end + 1 : end;
	}
	return rc;
}

/*
 * One connection pipelines @k infer requests of @n inputs without reading;
 * with @close it then disconnects (its queued work must be cancelled),
 * otherwise it reads the @k replies and counts ok / busy / other.
 */
static int flood(const char *path, unsigned k, unsigned n, int close_early)
{
	struct bnd *c = bnd_new();
	unsigned i, ok = 0, busy = 0, other = 0;
	struct bnd_reply r;
	size_t len = 32 + 12 * (size_t)n;
	char *params = malloc(len), *p;
	int rc = 1;

	if (!c || !params || bnd_connect(c, path, 1, 0)) {
		fprintf(stderr, "d_tool flood: %s\n", c ? bnd_errmsg(c) : "out of memory");
		goto out;
	}
	p = params + sprintf(params, "{\"inputs\":[");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s[0.5,-0.5]", i ? "," : "");
	strcpy(p, "]}");
	for (i = 0; i < k; i++)
		if (bnd_send(c, "infer", params, -1, NULL)) {
			fprintf(stderr, "d_tool flood: %s\n", bnd_errmsg(c));
			goto out;
		}
	if (close_early) {
		if (bnd_flush(c)) {
			fprintf(stderr, "d_tool flood: %s\n", bnd_errmsg(c));
			goto out;
		}
		printf("d_tool flood: sent=%u closed\n", k);
		rc = 0;
		goto out;
	}
	for (i = 0; i < k && !bnd_recv(c, &r); i++) {
		json_t *res = NULL;

		if (r.ok)
			ok++;
		else if (bnd_result(c, &r, &res) == -EREMOTEIO &&
			 !strcmp(bnd_last_error(c)->name, "busy"))
			busy++;
		else
			other++;
		json_decref(res);
	}
	printf("d_tool flood: sent=%u ok=%u busy=%u other=%u lost=%u\n", k, ok, busy,
	       other, k - ok - busy - other);
	rc = ok + busy == k ? 0 : 1;
out:
	free(params);
	bnd_free(c);
	return rc;
}

static int setup_direct(void)
{
	struct bnnacc_dev *dev;
	struct bnnacc_card card;
	struct bnnacc_cal_opts co;
	struct bnnacc_xfer_opts xo;
	struct bnnacc_calib cal;
	struct bnnacc_card *cards[1] = { &card };
	const struct bnnacc_calib *cals[1] = { &cal };
	char err[256] = "";

	memset(&co, 0, sizeof(co));
	memset(&xo, 0, sizeof(xo));
	co.dir = "/tmp";
	if (bnnacc_open(&dev, 0, err, sizeof(err)) || bnnacc_dev_card(dev, &card) ||
	    bnnacc_calibrate(&card, &co, &cal, err, sizeof(err)) < 0 ||
	    bnnacc_transfer(&net, cards, cals, 1, model, &xo, err, sizeof(err))) {
		fprintf(stderr, "d_tool direct: %s\n", err);
		return 1;
	}
	printf("d_tool direct: M=%u\n", bnnacc_net_m(net));
	return 0;
}

/*
 * bnnacc_infer calls of @b inputs of @x for at least @secs and @min_calls
 * calls; the inputs/s (-1 on an error), *@cpu this process's CPU share.
 * With @rec, every request of nper inputs gets its call's time as latency.
 */
static double direct_run(const float *x, unsigned b, double secs, unsigned min_calls,
			 int rec, double *cpu)
{
	double t0 = bnd_now(), c0 = cpu_self(), t;
	unsigned calls = 0, k;

	do {
		struct bnnacc_result r;
		char err[256] = "";
		double t1 = bnd_now();

		if (bnnacc_infer(net, x, b, &r, err, sizeof(err))) {
			fprintf(stderr, "d_tool direct: %u inputs: %s\n", b, err);
			nbad++;
			return -1;
		}
		bnnacc_result_free(&r);
		t = bnd_now();
		calls++;
		for (k = 0; rec && k < b / nper; k++)
			record(t - t1);
	} while ((t = bnd_now()) - t0 < secs || calls < min_calls);
	*cpu = (cpu_self() - c0) / (t - t0);
	return (double)calls * b / (t - t0);
}

static int cost_run(unsigned m, double *probs, const char *what, double secs);

/*
 * direct: the inputs/s of each batch size of @list (or N, 2N, .. 512N),
 * then SECS at the best one, reported as the clients' runs are.
 */
static int direct(double secs, const char *list)
{
	unsigned bs[32], nb = 0, i, best = 0;
	double rate[32], cpu, t0;
	float *x;
	char *end;

	if (list) {
		for (const char *p = list; *p && nb < 32; p = *end == ',' ? end + 1 : end) {
			unsigned long b = strtoul(p, &end, 10);

			if (end == p || b < nper || b % nper || b > BNNACC_INFER_MAX_INPUTS)
				return 2;
			bs[nb++] = (unsigned)b;
		}
	} else {
		for (nb = 0; nb < 10; nb++)
			bs[nb] = nper << nb;
	}
	for (i = 0, x = NULL; i < nb; i++)
		if (bs[i] > bs[best])
			best = i;
	x = malloc((size_t)bs[best] * 2 * sizeof(float));
	if (!x)
		return 1;
	for (i = 0; i < bs[best]; i++)
		input(i % nper, x + 2 * i);
	/* the first call of a network learns its ADC ranges: not measured */
	if (direct_run(x, nper, 0, 1, 0, &cpu) < 0)
		return 1;
	best = 0;
	for (i = 0; i < nb; i++) {
		rate[i] = direct_run(x, bs[i], 1.5, 2, 0, &cpu);
		if (rate[i] < 0)
			return 1;
		printf("d_tool direct: batch=%u inputs_per_s=%.1f call_ms=%.1f cpu=%.3f\n", bs[i],
		       rate[i], bs[i] / rate[i] * 1e3, cpu);
		fflush(stdout);
		if (rate[i] > rate[best])
			best = i;
	}
	printf("d_tool direct: best batch=%u (%.1f inputs/s)\n", bs[best], rate[best]);
	nlat = nreq = nbad = nmismatch = 0;
	t0 = bnd_now();
	if (direct_run(x, bs[best], secs, 3, 1, &cpu) < 0)
		return 1;
	printf("d_tool direct: batch=%u clients=1 ", bs[best]);
	report(bnd_now() - t0);
	printf(" cpu=%.3f\n", cpu);
	fflush(stdout);
	/* what the daemon's event loop does per request, on the card's answers */
	{
		struct bnnacc_result r;
		char err[256] = "";

		if (bnnacc_infer(net, x, nper, &r, err, sizeof(err))) {
			fprintf(stderr, "d_tool direct: %s\n", err);
			free(x);
			return 1;
		}
		cost_run(r.m, r.probs, "card", 2);
		bnnacc_result_free(&r);
	}
	free(x);
	return nbad ? 1 : 0;
}

/* ---- the daemon's JSON work per request, timed alone ---------------------- */

/* CPU seconds per call of @fn(@ctx) over about @secs. */
static double per_call(void (*fn)(void *), void *ctx, double secs)
{
	double c0 = cpu_self(), t0 = bnd_now();
	unsigned k = 0;

	do
		fn(ctx);
	while (++k < 3 || bnd_now() - t0 < secs);
	return (cpu_self() - c0) / k;
}

struct cost {
	const char *line;		/* the request line, version 2 */
	unsigned n, m;
	double *probs;			/* [n][m][3] */
	double mu[3 * 60], up[60], ua[60], ue[60];
};

/* Decode the request line and its inputs into floats (proto_parse's work). */
static void cost_parse(void *arg)
{
	struct cost *k = arg;
	json_t *j = json_loads(k->line, 0, NULL), *in, *v;
	float x[2 * 60];
	size_t i;

	in = json_object_get(json_object_get(j, "params"), "inputs");
	json_array_foreach(in, i, v) {
		x[2 * i] = (float)json_number_value(json_array_get(v, 0));
		x[2 * i + 1] = (float)json_number_value(json_array_get(v, 1));
	}
	if (x[0] > 1e30f)	/* keep it */
		fputc(0, stderr);
	json_decref(j);
}

/*
 * The reply: JSON-RPC result of each input's mean and uncertainties,
 * written out; with k->again those are computed from its M samples as
 * job_reply does, between the JSON calls (under TCG, floating point code
 * interleaved with libc calls runs several times slower than alone), else
 * taken as computed once (bnnacc_infer's result for the batch).
 */
struct cost_reply_arg {
	struct cost *k;
	int again;
};

static void cost_reply(void *arg)
{
	struct cost_reply_arg *ra = arg;
	struct cost *k = ra->k;
	json_t *mean = json_array(), *up = json_array(), *ua = json_array(), *ue = json_array();
	json_t *r;
	unsigned i, c;
	char *s;

	for (i = 0; i < k->n; i++) {
		json_t *row = json_array();

		if (ra->again) {
			struct bnnacc_result view = {
				.m = k->m, .n = 1, .c = 3, .probs = k->probs + (size_t)i * k->m * 3,
				.mean = k->mu + 3 * i, .u_p = &k->up[i], .u_a = &k->ua[i],
				.u_e = &k->ue[i],
			};

			bnnacc_uncertainty(&view);
		}
		for (c = 0; c < 3; c++)
			json_array_append_new(row, json_real(k->mu[3 * i + c]));
		json_array_append_new(mean, row);
		json_array_append_new(up, json_real(k->up[i]));
		json_array_append_new(ua, json_real(k->ua[i]));
		json_array_append_new(ue, json_real(k->ue[i]));
	}
	r = json_pack("{s:s,s:i,s:{s:s,s:i,s:i,s:i,s:o,s:o,s:o,s:o}}", "jsonrpc", "2.0",
		      "id", 12345, "result", "model", "toy", "card", 0, "m", (int)k->m,
		      "n", (int)k->n, "mean", mean, "u_p", up, "u_a", ua, "u_e", ue);
	s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(9));
	free(s);
	json_decref(r);
}

/*
 * The costs for nper inputs of the [nper][@m][3] probabilities @probs
 * (@what: where they come from).
 */
static int cost_run(unsigned m, double *probs, const char *what, double secs)
{
	struct cost k = { .n = nper, .m = m, .probs = probs };
	char *params = infer_params(), *line;
	double a, b, c;

	line = params ? malloc(strlen(params) + 80) : NULL;
	if (!line)
		return 1;
	sprintf(line, "{\"jsonrpc\":\"2.0\",\"method\":\"infer\",\"params\":%s,\"id\":12345}", params);
	k.line = line;
	a = per_call(cost_parse, &k, secs);
	b = per_call(cost_reply, &(struct cost_reply_arg){ &k, 1 }, secs);
	c = per_call(cost_reply, &(struct cost_reply_arg){ &k, 0 }, secs);
	printf("d_tool cost: probs=%s n=%u m=%u parse_ms=%.3f reply_ms=%.3f reply_reuse_ms=%.3f\n",
	       what, nper, m, a * 1e3, b * 1e3, c * 1e3);
	free(params);
	free(line);
	return 0;
}

/* cost N M SECS: on made-up probabilities (0.2 .. 0.8 and the rest) */
static int cost(unsigned m, double secs)
{
	double *probs = malloc((size_t)nper * m * 3 * sizeof(double));
	unsigned i;
	int ret;

	if (!probs)
		return 1;
	for (i = 0; i < nper * m; i++) {
		double p = 0.2 + 0.6 * (double)(i % 7) / 7;

		probs[3 * i] = p;
		probs[3 * i + 1] = (1 - p) * 0.7;
		probs[3 * i + 2] = (1 - p) * 0.3;
	}
	ret = cost_run(m, probs, "made-up", secs);
	free(probs);
	return ret;
}

int main(int argc, char **argv)
{
	double secs;

	mk_model();
	if (argc == 3 && !strcmp(argv[1], "model"))
		return bnnacc_model_save(model, argv[2]) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "reset")) {	/* another process resets the card */
		struct bnnacc_dev *dev;
		char err[256] = "";
		int ret = bnnacc_open(&dev, atoi(argv[2]), err, sizeof(err));

		if (!ret) {
			ret = bnnacc_reset(dev);
			bnnacc_close(dev);
		}
		printf("d_tool reset: %d %s\n", ret, err);
		return ret ? 1 : 0;
	}
	if (argc == 3 && !strcmp(argv[1], "csv")) {
		unsigned i, n = (unsigned)atoi(argv[2]);

		for (i = 0; i < n; i++) {
			float x[2];

			input(i, x);
			printf("%.6f,%.6f\n", x[0], x[1]);
		}
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "flood"))
		return flood(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]),
			     argc > 5 && !strcmp(argv[5], "close"));
	if (argc >= 6 && !strcmp(argv[1], "clients")) {
		sock_path = argv[2];
		secs = atof(argv[4]);
		nper = (unsigned)atoi(argv[5]);
		for (int i = 6; i < argc; i++) {
			if (!strcmp(argv[i], "check"))
				do_check = 1;
			else if (!strcmp(argv[i], "v2"))
				version = 2;
			else
				return 2;
		}
		if (nper == 0 || nper > 60)
			return 2;
		if (do_check) {
			float x[120];
			unsigned i;

			for (i = 0; i < nper; i++)
				input(i, x + 2 * i);
			if (bnnacc_infer_soft(model, 256, 7, x, nper, &ref))
				return 1;
		}
		return run_list(argv[3], secs);
	}
	if (argc == 5 && !strcmp(argv[1], "cost")) {
		unsigned n = (unsigned)atoi(argv[2]), m = (unsigned)atoi(argv[3]);

		if (n == 0 || n > 60 || m == 0 || m > 1024)
			return 2;
		nper = n;
		return cost(m, atof(argv[4]));
	}
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "direct")) {
		secs = atof(argv[2]);
		nper = (unsigned)atoi(argv[3]);
		if (nper == 0 || nper > 60 || setup_direct())
			return 1;
		return direct(secs, argc == 5 ? argv[4] : NULL);
	}
	fprintf(stderr, "usage: d_tool model PATH | csv N | reset INDEX | "
		"clients SOCK C[,C..] SECS N [check] [v2] | flood SOCK K N [close] | "
		"direct SECS N [B,B..] | cost N M SECS\n");
	return 2;
}
