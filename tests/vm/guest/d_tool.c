// SPDX-License-Identifier: MIT
/*
 * d_tool - helper of the bnnaccd VM tests and bench (static, in the guest).
 *
 *   d_tool model PATH            write the 2-8-3 tanh/softmax GAUSS test model
 *   d_tool csv N                 N test inputs as CSV on stdout
 *   d_tool reset INDEX           reset /dev/bnnaccINDEX (BNNACC_IOC_RESET)
 *   d_tool clients SOCK C[,C...] SECS N [check]
 *                                C concurrent socket clients, each sending
 *                                infer requests of N inputs for SECS seconds
 *                                (SECS 0: one request each); prints rps and
 *                                latency; "check" compares every answer with
 *                                the software reference of the model
 *   d_tool flood SOCK K N [close] pipeline K requests on one connection:
 *                                count ok/busy replies, or disconnect at once
 *   d_tool direct C[,C...] SECS N  the same work through libbnnacc directly
 *                                (calibrate, transfer, C threads sharing the
 *                                network under a lock) on /dev/bnnacc0
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bnnacc/bnnacc.h>
#include <jansson.h>

#include "dclient.h"

#define MAXC 256
#define MAXLAT 200000

static struct bnnacc_model *model;
static struct bnnacc_result ref;
static const char *sock_path;
static unsigned nper;
static double t_end;
static int do_check;
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

/* One socket client: returns 0 if every reply was ok. */
static void *client(void *arg)
{
	char *line = NULL, *s;
	size_t cap = 0;
	json_t *req, *in;
	FILE *rx;
	unsigned i, id = 0;
	int fd;

	(void)arg;
	fd = dc_dial(sock_path, 0);
	if (fd < 0) {
		errno = -fd;
		perror("connect");
		pthread_mutex_lock(&mu);
		nbad++;
		pthread_mutex_unlock(&mu);
		return NULL;
	}
	rx = fdopen(fd, "r+");
	fprintf(rx, "{\"op\":\"hello\",\"version\":1}\n");
	fflush(rx);
	if (getline(&line, &cap, rx) < 0 || !strstr(line, "\"ok\":true")) {
		nbad++;
		return NULL;
	}
	in = json_array();
	for (i = 0; i < nper; i++) {
		float x[2];

		input(i, x);
		json_array_append_new(in, json_pack("[f,f]", (double)x[0], (double)x[1]));
	}
	req = json_pack("{s:s,s:O,s:[s,s]}", "op", "infer", "inputs", in, "outputs",
			"mean", "uncertainty");
	do {
		double t0 = dc_now();
		json_t *r, *mean;
		int ok;

		json_object_set_new(req, "id", json_integer(id++));
		s = json_dumps(req, JSON_COMPACT);
		fprintf(rx, "%s\n", s);
		fflush(rx);
		free(s);
		if (getline(&line, &cap, rx) < 0) {
			pthread_mutex_lock(&mu);
			nbad++;
			pthread_mutex_unlock(&mu);
			break;
		}
		r = json_loads(line, 0, NULL);
		ok = r && json_is_true(json_object_get(r, "ok")) &&
		     json_integer_value(json_object_get(r, "id")) == id - 1;
		if (!ok) {
			fprintf(stderr, "d_tool: bad reply: %.300s", line);
			pthread_mutex_lock(&mu);
			nbad++;
			pthread_mutex_unlock(&mu);
		} else if (do_check) {
			unsigned miss = 0;

			mean = json_object_get(r, "mean");
			for (i = 0; i < nper; i++) {
				double p[3];
				unsigned k;

				for (k = 0; k < 3; k++)
					p[k] = json_real_value(json_array_get(json_array_get(mean, i), k));
				miss += dc_argmax(p, 3) != dc_argmax(ref.mean + i * 3, 3);
			}
			pthread_mutex_lock(&mu);
			nmismatch += miss;
			pthread_mutex_unlock(&mu);
		}
		json_decref(r);
		if (ok)
			record(dc_now() - t0);
	} while (dc_now() < t_end);
	json_decref(req);
	json_decref(in);
	free(line);
	fclose(rx);
	return NULL;
}

static void *direct(void *arg)
{
	float *x = malloc(nper * 2 * sizeof(float));
	unsigned i;

	(void)arg;
	for (i = 0; i < nper; i++)
		input(i, x + 2 * i);
	do {
		struct bnnacc_result r;
		double t0 = dc_now();
		int ret;

		pthread_mutex_lock(&mu);
		ret = bnnacc_infer(net, x, nper, &r, NULL, 0);
		pthread_mutex_unlock(&mu);
		if (ret) {
			nbad++;
			break;
		}
		bnnacc_result_free(&r);
		record(dc_now() - t0);
	} while (dc_now() < t_end);
	free(x);
	return NULL;
}

static void report(const char *what, unsigned c, double secs)
{
	double p50 = 0, p99 = 0;

	qsort(lat, nlat, sizeof(lat[0]), dc_cmp_double);
	if (nlat) {
		p50 = lat[nlat / 2];
		p99 = lat[(size_t)(nlat * 0.99)];
	}
	printf("d_tool %s: clients=%u requests=%u bad=%u mismatch=%u rps=%.1f "
	       "p50_ms=%.2f p99_ms=%.2f\n", what, c, nreq, nbad, nmismatch,
	       nreq / secs, p50 * 1e3, p99 * 1e3);
}

static int run(const char *what, void *(*fn)(void *), unsigned c, double secs)
{
	pthread_t th[MAXC];
	double t0 = dc_now();
	unsigned i;

	nlat = nreq = nbad = nmismatch = 0;
	t_end = t0 + secs;
	for (i = 0; i < c; i++)
		pthread_create(&th[i], NULL, fn, NULL);
	for (i = 0; i < c; i++)
		pthread_join(th[i], NULL);
	report(what, c, dc_now() - t0);
	return nbad || nmismatch > nreq * nper / 10 ? 1 : 0;
}

/* Run @fn for each client count of the comma-separated @list. */
static int run_list(const char *what, void *(*fn)(void *), const char *list,
		    double secs)
{
	const char *p = list;
	int rc = 0;

	while (*p) {
		char *end;
		unsigned long c = strtoul(p, &end, 10);

		if (end == p || c == 0 || c > MAXC)
			return 2;
		rc |= run(what, fn, (unsigned)c, secs);
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
	char *line = NULL;
	size_t cap = 0;
	unsigned i, ok = 0, busy = 0, other = 0;
	FILE *f;
	int fd;

	fd = dc_dial(path, 0);
	if (fd < 0)
		return 1;
	f = fdopen(fd, "r+");
	fprintf(f, "{\"op\":\"hello\",\"version\":1}\n");
	for (i = 0; i < k; i++) {
		unsigned j;

		fprintf(f, "{\"op\":\"infer\",\"id\":%u,\"inputs\":[", i);
		for (j = 0; j < n; j++)
			fprintf(f, "%s[0.5,-0.5]", j ? "," : "");
		fprintf(f, "]}\n");
	}
	fflush(f);
	if (close_early) {
		fclose(f);
		printf("d_tool flood: sent=%u closed\n", k);
		return 0;
	}
	if (getline(&line, &cap, f) < 0)
		return 1;
	for (i = 0; i < k && getline(&line, &cap, f) >= 0; i++) {
		if (strstr(line, "\"ok\":true"))
			ok++;
		else if (strstr(line, "\"busy\""))
			busy++;
		else
			other++;
	}
	printf("d_tool flood: sent=%u ok=%u busy=%u other=%u lost=%u\n", k, ok, busy,
	       other, k - ok - busy - other);
	free(line);
	fclose(f);
	return ok + busy == k ? 0 : 1;
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
		do_check = argc > 6 && !strcmp(argv[6], "check");
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
		return run_list("clients", client, argv[3], secs);
	}
	if (argc == 5 && !strcmp(argv[1], "direct")) {
		secs = atof(argv[3]);
		nper = (unsigned)atoi(argv[4]);
		if (nper == 0 || setup_direct())
			return 1;
		return run_list("direct", direct, argv[2], secs);
	}
	fprintf(stderr, "usage: d_tool model PATH | csv N | clients SOCK C SECS N [check] | direct C SECS N\n");
	return 2;
}
