// SPDX-License-Identifier: MIT
/*
 * bnnaccctl - command-line client of bnnaccd (docs/protocol.md).
 *
 *   bnnaccctl [GLOBAL-OPTIONS] COMMAND [OPTIONS] [ARGS]
 *
 * Global options (before or after the command): -s/--socket PATH,
 * -j/--json, -h/--help, -V/--version. `bnnaccctl help [COMMAND]` and
 * `bnnaccctl COMMAND --help` describe each command. Exit status: 0 done,
 * 1 the daemon refused or failed (its message on stderr), 2 a usage error
 * (nothing was sent).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>

#include "client.h"
#include "proto.h"
#include "bnnacc/bnnacc.h"

#ifndef BNNACC_VERSION
#define BNNACC_VERSION "unknown"
#endif

/* a model file up to this size goes inline (base64); larger ones by path */
#define INLINE_MAX	((size_t)(PROTO_MAX_LINE - 4096) / 4 * 3)

struct ctl {
	const char *sock;
	int json;
	struct bnd *bc;		/* the connection, once a session started */
	const char *cmd;
	const char *sopt[8];	/* the command's text options (min == max == 0) */
};

struct command;
typedef int (*run_fn)(struct ctl *, const struct command *, int, char **,
		      const long *);

/*
 * per-command options: long name, short letter, argument name, range; an
 * option with an argument and the range 0..0 is text (ctl.sopt[i])
 */
struct copt {
	const char *name;
	int letter;
	const char *arg;	/* NULL: a flag */
	long min, max;
	const char *help;
};

struct command {
	const char *name;
	const char *args;
	unsigned min_args, max_args;
	const char *help;
	const struct copt *opts;
	run_fn run;
};

static void die_usage(const struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die_usage(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bnnaccctl%s%s: ", c->cmd ? " " : "", c->cmd ? c->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'bnnaccctl %s%s--help')\n", c->cmd ? c->cmd : "",
		c->cmd ? " " : "");
	exit(2);
}

/* A whole number in [min, max], or a usage error naming @what. */
static long parse_num(const struct ctl *c, const char *what, const char *s,
		      long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		die_usage(c, "%s '%s': not a whole number in %ld..%ld", what, s, min, max);
	return v;
}

/* A number in [min, max], or a usage error naming @what. */
static double parse_real(const struct ctl *c, const char *what, const char *s,
			 double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min) || !(v <= max))
		die_usage(c, "%s '%s': not a number in %g..%g", what, s, min, max);
	return v;
}

/* ---- the daemon (daemon/client.c) ------------------------------------------- */

/* A progress notification of the request in flight: a line on stderr. */
static void show_progress(const struct ctl *c, json_t *p)
{
	long long done = json_integer_value(json_object_get(p, "cards_done"));
	long long n = json_integer_value(json_object_get(p, "cards"));
	const char *stage = json_string_value(json_object_get(p, "stage"));
	char what[160];
	int i, w = 20, fill = n > 0 ? (int)(w * done / n) : 0;

	if (c->json || !stage)
		return;
	if (!strcmp(stage, "done"))
		snprintf(what, sizeof(what), "card %lld done, M=%lld",
			 json_integer_value(json_object_get(p, "card")),
			 json_integer_value(json_object_get(p, "m")));
	else if (!strcmp(stage, "failed"))
		snprintf(what, sizeof(what), "card %lld failed: %.100s",
			 json_integer_value(json_object_get(p, "card")),
			 json_string_value(json_object_get(p, "error")));
	else
		snprintf(what, sizeof(what), "card %lld %s",
			 json_integer_value(json_object_get(p, "card")), stage);
	fprintf(stderr, "bnnaccctl %s: [", c->cmd);
	for (i = 0; i < w; i++)
		fputc(i < fill ? '#' : '-', stderr);
	fprintf(stderr, "] %lld/%lld cards: %s\n", done, n, what);
}

static void on_notify(void *arg, const char *method, json_t *params)
{
	if (!strcmp(method, "progress"))
		show_progress(arg, params);
}

/*
 * The daemon's error reply in version 1 form: {"ok":false,"error":{"code":
 * NAME,"message":..},..the other fields (data)}.
 */
static json_t *error_v1(const struct bnd_error *e)
{
	json_t *v = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", e->name,
			      "message", e->message), *x;
	const char *k;

	json_object_foreach(e->data, k, x)
		if (strcmp(k, "code"))
			json_object_set(v, k, x);
	return v;
}

/*
 * Send the request @req (stolen; version 1 form, {"op":..,..}) with @fd (-1
 * or a descriptor passed with it) and read its reply, showing the progress
 * notifications that come first. The reply is returned in version 1 form
 * ({"ok":true,..result} or {"ok":false,"error":{"code":NAME,"message":..},
 * ..data}), NULL on an I/O error (reported).
 */
static json_t *call_fd(struct ctl *c, json_t *req, int fd)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	char method[32];
	json_t *res = NULL, *v;
	int ret;

	snprintf(method, sizeof(method), "%s", op ? op : "");
	json_object_del(req, "op");
	ret = bnd_call(c->bc, method, req, fd, &res);
	json_decref(req);
	if (ret == -EREMOTEIO)
		return error_v1(bnd_last_error(c->bc));
	if (ret) {
		fprintf(stderr, "bnnaccctl: %s\n", bnd_errmsg(c->bc));
		return NULL;
	}
	v = json_pack("{s:b}", "ok", 1);
	json_object_update(v, res);
	json_decref(res);
	return v;
}

static json_t *call(struct ctl *c, json_t *req)
{
	return call_fd(c, req, -1);
}

/* 0 for an ok reply; else prints the daemon's error and returns 1. */
static int check(const struct ctl *c, json_t *r)
{
	json_t *e;

	if (!r)
		return 1;
	if (json_is_true(json_object_get(r, "ok")))
		return 0;
	e = json_object_get(r, "error");
	fprintf(stderr, "bnnaccctl %s: %s: %s\n", c->cmd,
		json_string_value(json_object_get(e, "code")),
		json_string_value(json_object_get(e, "message")));
	return 1;
}

/* Connect and say hello in @version (2: JSON-RPC, progress shown; 1: raw). */
static int session_version(struct ctl *c, int version)
{
	int rc;

	if (!c->bc && !(c->bc = bnd_new())) {
		fprintf(stderr, "bnnaccctl: out of memory\n");
		return 1;
	}
	rc = bnd_connect(c->bc, c->sock, version, 0);
	if (rc == -EREMOTEIO) {		/* the daemon refused the hello */
		const struct bnd_error *e = bnd_last_error(c->bc);

		fprintf(stderr, "bnnaccctl %s: %s: %s\n", c->cmd, e->name, e->message);
		return 1;
	}
	if (rc == -ENOENT || rc == -EACCES || rc == -ECONNREFUSED || rc == -ENAMETOOLONG) {
		fprintf(stderr, "bnnaccctl: cannot connect to bnnaccd at %s: %s%s\n", c->sock,
			strerror(-rc), rc == -ENOENT ? " (is bnnaccd running? -s SOCKET)" :
			rc == -EACCES ? " (are you in group bnnacc?)" : "");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "bnnaccctl: %s\n", bnd_errmsg(c->bc));
		return 1;
	}
	if (version == 2)
		bnd_on_notify(c->bc, on_notify, c);
	return 0;
}

static int session(struct ctl *c)
{
	return session_version(c, 2);
}

/* ---- output --------------------------------------------------------------- */

static void print_json(json_t *r)
{
	char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(9));

	puts(s);
	free(s);
}

static const char *sget(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long iget(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double rget(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* Every member but ok and id, one "key: value" line each. */
static void print_fields(json_t *r)
{
	const char *k;
	json_t *v;

	json_object_foreach(r, k, v) {
		char *s;

		if (!strcmp(k, "ok") || !strcmp(k, "id"))
			continue;
		s = json_is_string(v) ? strdup(json_string_value(v)) :
		    json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%s: %s\n", k, s ? s : "?");
		free(s);
	}
}

/* The per-card results of load, calibrate, reset and check. */
static void print_card_results(json_t *r)
{
	json_t *e, *x;
	size_t i;

	json_array_foreach(json_object_get(r, "cards"), i, e) {
		if (!json_is_true(json_object_get(e, "ok"))) {
			printf("card %lld: failed: %s\n", iget(e, "index"), sget(e, "error"));
			continue;
		}
		printf("card %lld: ok, M=%lld", iget(e, "index"), iget(e, "m"));
		if ((x = json_object_get(e, "transfer")))
			printf(", transfer %s, %lld cell(s) per sign, %lld read(s), %lld of %lld weights clipped, KL %.4f",
			       sget(x, "mode"), iget(x, "cells"), iget(x, "repeat"),
			       iget(x, "clipped"), iget(x, "weights"), rget(x, "kl_mean"));
		if ((x = json_object_get(e, "drift")))
			printf(", drift gain %.4f, excess %.3f%s", rget(x, "gain"), rget(x, "excess"),
			       json_is_true(json_object_get(x, "refreshed")) ? ", reprogrammed" : "");
		printf("\n");
		if (json_is_string(json_object_get(e, "warning")))
			printf("card %lld: warning: %s\n", iget(e, "index"), sget(e, "warning"));
	}
	if (json_is_string(json_object_get(r, "warning")))
		printf("warning: %s\n", sget(r, "warning"));
}

/* ---- commands --------------------------------------------------------------- */

/*
 * Send @req (stolen) on the open session and show the reply: as JSON with
 * --json, else through @human (also for an error reply when @always: the
 * per-card results of load and the card operations).
 */
static int exchange_fd(struct ctl *c, json_t *req, int fd, void (*human)(json_t *),
		       int always)
{
	json_t *r = call_fd(c, req, fd);
	int rc;

	if (r && c->json)
		print_json(r);
	rc = check(c, r);
	if (r && !c->json && (!rc || always))
		human(r);
	json_decref(r);
	return rc;
}

static int exchange(struct ctl *c, json_t *req, void (*human)(json_t *), int always)
{
	return exchange_fd(c, req, -1, human, always);
}

/* A session, then one request shown through @human. */
static int simple(struct ctl *c, json_t *req, void (*human)(json_t *))
{
	int rc = session(c);

	if (rc) {
		json_decref(req);
		return rc;
	}
	return exchange(c, req, human, 0);
}

static void human_cards(json_t *r)
{
	json_t *e;
	size_t i;

	printf("%-5s %-13s %-16s %-7s %4s %9s %11s %6s %6s\n", "INDEX", "PCI", "SERIAL",
	       "STATE", "M", "BATCHES", "INPUTS", "ERRORS", "UTIL");
	json_array_foreach(json_object_get(r, "cards"), i, e)
		printf("%-5lld %-13s %-16s %-7s %4lld %9lld %11lld %6lld %5.1f%%\n",
		       iget(e, "index"), sget(e, "pci"), sget(e, "serial"), sget(e, "state"),
		       iget(e, "m"), iget(e, "batches"), iget(e, "inputs"), iget(e, "errors"),
		       100.0 * rget(e, "utilization"));
}

static void human_models(json_t *r)
{
	json_t *e;
	size_t i;

	printf("%-24s %-7s %6s %7s %6s %9s %5s %5s %s\n", "NAME", "KIND", "INPUTS", "CLASSES",
	       "LAYERS", "BYTES", "CARDS", "M", "STATE");
	json_array_foreach(json_object_get(r, "models"), i, e)
		printf("%-24s %-7s %6lld %7lld %6lld %9lld %5lld %5lld %s%s%s%s\n", sget(e, "name"),
		       sget(e, "kind"), iget(e, "inputs"), iget(e, "classes"),
		       iget(e, "layers"), iget(e, "bytes"), iget(e, "cards"), iget(e, "m"),
		       json_is_true(json_object_get(e, "default")) ? "default, " : "",
		       json_is_string(json_object_get(e, "state")) ? sget(e, "state") : "serving",
		       json_is_string(json_object_get(e, "replaces")) ? ", replaces " : "",
		       json_is_string(json_object_get(e, "replaces")) ? sget(e, "replaces") : "");
}

static void human_metrics(json_t *r)
{
	fputs(sget(r, "text"), stdout);
}

static int run_info(struct ctl *c, const struct command *cmd, int argc, char **argv,
		    const long *opt)
{
	(void)argc;
	(void)argv;
	(void)opt;
	if (!strcmp(cmd->name, "cards"))
		return simple(c, json_pack("{s:s}", "op", "cards"), human_cards);
	if (!strcmp(cmd->name, "models"))
		return simple(c, json_pack("{s:s}", "op", "models"), human_models);
	if (!strcmp(cmd->name, "metrics"))
		return simple(c, json_pack("{s:s}", "op", "metrics"), human_metrics);
	return simple(c, json_pack("{s:s}", "op", cmd->name), print_fields);
}

/*
 * The index of the card @spec names: an index, a device node, a PCI
 * address or a serial number (as `cards` shows them). -1 when none does
 * (reported).
 */
static int resolve_card(struct ctl *c, const char *spec)
{
	json_t *r, *e;
	size_t i;
	int idx = -1;
	char *end;
	long v = strtol(spec, &end, 10);

	if (*spec && !*end && v >= 0 && v < 64)
		return (int)v;
	r = call(c, json_pack("{s:s}", "op", "cards"));
	if (check(c, r)) {
		json_decref(r);
		return -1;
	}
	json_array_foreach(json_object_get(r, "cards"), i, e) {
		const char *pci = sget(e, "pci"), *ser = sget(e, "serial"), *path = sget(e, "path");

		if (!strcasecmp(spec, ser) || !strcmp(spec, path) || !strcasecmp(spec, pci) ||
		    (strlen(pci) > 5 && !strcasecmp(spec, pci + 5)))	/* without domain */
			idx = (int)iget(e, "index");
	}
	if (idx < 0) {
		fprintf(stderr, "bnnaccctl %s: no card is '%s'; cards (index, PCI address, serial):\n",
			c->cmd, spec);
		json_array_foreach(json_object_get(r, "cards"), i, e)
			fprintf(stderr, "  %lld %s %s\n", iget(e, "index"), sget(e, "pci"),
				sget(e, "serial"));
	}
	json_decref(r);
	return idx;
}

static int run_card_op(struct ctl *c, const struct command *cmd, int argc, char **argv,
		       const long *opt)
{
	json_t *req = json_pack("{s:s}", "op", cmd->name);
	int rc = session(c), idx;

	(void)opt;
	if (rc) {
		json_decref(req);
		return rc;
	}
	if (argc == 1) {
		idx = resolve_card(c, argv[0]);
		if (idx < 0) {
			json_decref(req);
			return 1;
		}
		json_object_set_new(req, "card", json_integer(idx));
	}
	return exchange(c, req, print_card_results, 1);
}

/*
 * The load request for @file: with @by_fd, "fd": true and *@fd the file
 * opened (the daemon reads the descriptor passed with the request);
 * otherwise its content inline (base64) when it fits in a request line,
 * else its absolute path for the daemon to read.
 */
static json_t *load_req(const struct ctl *c, const char *name, const char *file,
			int by_fd, int *fd)
{
	unsigned char *buf = NULL;
	char *enc = NULL, *abs;
	struct stat st;
	json_t *r = NULL;
	FILE *f = fopen(file, "rbe");

	if (!f || fstat(fileno(f), &st)) {
		fprintf(stderr, "bnnaccctl %s: %s: %s\n", c->cmd, file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		fprintf(stderr, "bnnaccctl %s: %s: not a model file (empty or not a regular file)\n",
			c->cmd, file);
		goto out;
	}
	if (by_fd) {
		*fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 0);
		if (*fd < 0) {
			fprintf(stderr, "bnnaccctl %s: %s: %s\n", c->cmd, file, strerror(errno));
			goto out;
		}
		r = json_pack("{s:s,s:s,s:b}", "op", "load", "name", name, "fd", 1);
		goto out;
	}
	if ((size_t)st.st_size > INLINE_MAX) {
		abs = realpath(file, NULL);
		if (!abs) {
			fprintf(stderr, "bnnaccctl %s: %s: %s\n", c->cmd, file, strerror(errno));
			goto out;
		}
		r = json_pack("{s:s,s:s,s:s}", "op", "load", "name", name, "path", abs);
		free(abs);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	enc = malloc(BND_B64_LEN((size_t)st.st_size) + 1);
	if (!buf || !enc || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "bnnaccctl %s: cannot read %s\n", c->cmd, file);
		goto out;
	}
	bnd_b64_encode(buf, (size_t)st.st_size, enc);
	r = json_pack("{s:s,s:s,s:s}", "op", "load", "name", name, "data", enc);
out:
	if (f)
		fclose(f);
	free(buf);
	free(enc);
	return r;
}

static void human_load(json_t *r)
{
	print_card_results(r);
	if (json_is_true(json_object_get(r, "ok")))
		printf("model %s loaded\n", sget(r, "name"));
}

static int run_load(struct ctl *c, const struct command *cmd, int argc, char **argv,
		    const long *opt)
{
	json_t *req;
	int rc, fd = -1;
	long m = opt[0];

	(void)cmd;
	if (argc == 3)		/* the old positional M */
		m = parse_num(c, "M", argv[2], 1, 1024);
	req = load_req(c, argv[0], argv[1], (int)opt[1], &fd);
	if (!req)
		return 1;
	if (m > 0)
		json_object_set_new(req, "m", json_integer(m));
	if (opt[2])
		json_object_set_new(req, "add", json_true());
	rc = session(c);
	if (rc)
		json_decref(req);
	else
		rc = exchange_fd(c, req, fd, human_load, 1);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int run_unload(struct ctl *c, const struct command *cmd, int argc, char **argv,
		      const long *opt)
{
	(void)cmd;
	(void)argc;
	(void)opt;
	return simple(c, json_pack("{s:s,s:s}", "op", "unload", "name", argv[0]), print_fields);
}

/*
 * CSV: one input vector per line, numbers separated by ',' or blanks;
 * '#' starts a comment line. Every field must be a number and every line
 * as long as the first. NULL on an error (reported with its line).
 */
static json_t *read_csv(const struct ctl *c, FILE *f, const char *name)
{
	json_t *in = json_array();
	char *line = NULL;
	size_t cap = 0, width = 0, first = 0;
	unsigned lineno = 0;

	while (getline(&line, &cap, f) >= 0) {
		json_t *v;
		char *p = line, *end;
		unsigned field = 0;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		v = json_array();
		for (;;) {
			double x;

			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p || *p == '\n' || *p == '\r')
				break;
			field++;
			errno = 0;
			x = strtod(p, &end);
			if (end == p || errno == ERANGE ||
			    (*end && !strchr(", \t\r\n", *end))) {
				size_t n = strcspn(p, ", \t\r\n");

				fprintf(stderr, "bnnaccctl %s: %s line %u, field %u: '%.*s' is not a number\n",
					c->cmd, name, lineno, field, (int)(n > 40 ? 40 : n), p);
				goto bad;
			}
			json_array_append_new(v, json_real(x));
			p = end;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == ',')
				p++;
		}
		if (!width) {
			width = json_array_size(v);
			first = lineno;
		} else if (json_array_size(v) != width) {
			fprintf(stderr, "bnnaccctl %s: %s line %u has %zu numbers, line %zu has %zu\n",
				c->cmd, name, lineno, json_array_size(v), first, width);
			goto bad;
		}
		json_array_append_new(in, v);
		continue;
bad:
		json_decref(v);
		json_decref(in);
		free(line);
		return NULL;
	}
	free(line);
	if (!json_array_size(in)) {
		fprintf(stderr, "bnnaccctl %s: %s holds no input vector\n", c->cmd, name);
		json_decref(in);
		return NULL;
	}
	return in;
}

static void human_infer(json_t *r)
{
	json_t *mean = json_object_get(r, "mean"), *p, *v;
	size_t i, j, n = (size_t)iget(r, "n");

	json_t *mu = json_object_get(r, "m_used"), *ab = json_object_get(r, "abstain");

	printf("# input class p_max U_p U_a U_e%s%s (model %s, card %lld, M %lld)\n",
	       mu ? " m" : "", ab ? " abstain" : "", sget(r, "model"), iget(r, "card"),
	       iget(r, "m"));
	for (i = 0; i < n; i++) {
		size_t best = 0;

		p = json_array_get(mean, i);
		json_array_foreach(p, j, v)
			if (json_number_value(v) > json_number_value(json_array_get(p, best)))
				best = j;
		printf("%zu %zu %.4f %.4f %.4f %.4f", i, best,
		       json_number_value(json_array_get(p, best)),
		       json_number_value(json_array_get(json_object_get(r, "u_p"), i)),
		       json_number_value(json_array_get(json_object_get(r, "u_a"), i)),
		       json_number_value(json_array_get(json_object_get(r, "u_e"), i)));
		if (mu)
			printf(" %lld", (long long)json_integer_value(json_array_get(mu, i)));
		if (ab)
			printf(" %s", json_is_true(json_array_get(ab, i)) ? "yes" : "no");
		putchar('\n');
	}
}

static int run_infer(struct ctl *c, const struct command *cmd, int argc, char **argv,
		     const long *opt)
{
	const char *name = argc && strcmp(argv[0], "-") ? argv[0] : "stdin";
	double eps = c->sopt[4] ? parse_real(c, "--precision", c->sopt[4], 1e-4, 0.5) : 0;
	double tau = c->sopt[5] ? parse_real(c, "--abstain", c->sopt[5], 1e-6, 1000) : -1;
	FILE *f = stdin;
	json_t *in, *req;

	(void)cmd;
	if (strcmp(name, "stdin") && !(f = fopen(name, "r"))) {
		fprintf(stderr, "bnnaccctl infer: %s: %s\n", name, strerror(errno));
		return 1;
	}
	in = read_csv(c, f, name);
	if (f != stdin)
		fclose(f);
	if (!in)
		return 2;
	req = json_pack("{s:s,s:o}", "op", "infer", "inputs", in);
	if (opt[0])
		json_object_set_new(req, "samples", json_integer(opt[0]));
	if (opt[2])
		json_object_set_new(req, "deadline_ms", json_integer(opt[2]));
	if (c->sopt[3])
		json_object_set_new(req, "name", json_string(c->sopt[3]));
	if (eps > 0)
		json_object_set_new(req, "precision", json_real(eps));
	if (tau >= 0)
		json_object_set_new(req, "abstain", json_real(tau));
	json_object_set_new(req, "outputs", opt[1] ?
		json_pack("[s,s,s]", "mean", "uncertainty", "per_sample") :
		json_pack("[s,s]", "mean", "uncertainty"));
	return simple(c, req, human_infer);
}

/* ---- benchmark ---- */

struct bench_client {
	struct ctl c;
	pthread_t th;
	unsigned dim, n;
	double end;
	double *lat;		/* seconds, one per answered request */
	size_t nlat, cap;
	unsigned long long inputs, errors;
	char err[160];
};

/* One client: infer requests of n random inputs, one at a time, until end. */
static void *bench_thread(void *arg)
{
	struct bench_client *b = arg;
	unsigned seed = (unsigned)(uintptr_t)b ^ (unsigned)getpid();

	while (bnd_now() < b->end) {
		json_t *in = json_array(), *req, *r;
		double t0;

		for (unsigned i = 0; i < b->n; i++) {
			json_t *v = json_array();

			for (unsigned k = 0; k < b->dim; k++)
				json_array_append_new(v, json_real(2.0 * rand_r(&seed) / RAND_MAX - 1.0));
			json_array_append_new(in, v);
		}
		req = json_pack("{s:s,s:o,s:[s]}", "op", "infer", "inputs", in, "outputs", "mean");
		t0 = bnd_now();
		r = call(&b->c, req);
		if (!r) {
			snprintf(b->err, sizeof(b->err), "the connection failed");
			break;
		}
		if (json_is_true(json_object_get(r, "ok"))) {
			if (b->nlat == b->cap) {
				double *nl = realloc(b->lat, (b->cap = b->cap ? 2 * b->cap : 1024) *
						     sizeof(double));

				if (!nl) {
					json_decref(r);
					break;
				}
				b->lat = nl;
			}
			b->lat[b->nlat++] = bnd_now() - t0;
			b->inputs += b->n;
		} else {
			b->errors++;
		}
		json_decref(r);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * benchmark: C clients, each with its own connection, send infer requests
 * of N random inputs (the model's width) back to back for T seconds;
 * inputs/s, requests/s and the latency percentiles of the answered ones.
 */
static int run_benchmark(struct ctl *c, const struct command *cmd, int argc, char **argv,
			 const long *opt)
{
	unsigned nc = opt[0] ? (unsigned)opt[0] : 8, n = opt[1] ? (unsigned)opt[1] : 16;
	double secs = opt[2] ? (double)opt[2] : 5, t0, wall;
	struct bench_client *b = calloc(nc, sizeof(*b));
	unsigned long long inputs = 0, errors = 0;
	size_t nlat = 0, k = 0;
	double *lat = NULL, p50 = 0, p99 = 0, max = 0;
	json_t *r;
	unsigned i, dim;
	int rc;

	(void)cmd;
	(void)argc;
	(void)argv;
	if (!b)
		return 1;
	if ((rc = session(c))) {
		free(b);
		return rc;
	}
	r = call(c, json_pack("{s:s}", "op", "models"));
	if (check(c, r)) {
		json_decref(r);
		free(b);
		return 1;
	}
	dim = (unsigned)iget(json_array_get(json_object_get(r, "models"), 0), "inputs");
	json_decref(r);
	if (!dim) {
		fprintf(stderr, "bnnaccctl benchmark: no model is loaded\n");
		free(b);
		return 1;
	}
	t0 = bnd_now();
	for (i = 0; i < nc; i++) {
		b[i].c = (struct ctl){ .sock = c->sock, .json = 1, .cmd = c->cmd };
		b[i].dim = dim;
		b[i].n = n;
		b[i].end = t0 + secs;
		if (session(&b[i].c) || pthread_create(&b[i].th, NULL, bench_thread, &b[i])) {
			fprintf(stderr, "bnnaccctl benchmark: client %u could not start\n", i);
			b[i].end = 0;
			nc = i;
			break;
		}
	}
	for (i = 0; i < nc; i++)
		pthread_join(b[i].th, NULL);
	wall = bnd_now() - t0;
	for (i = 0; i < nc; i++)
		nlat += b[i].nlat;
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	for (i = 0; lat && i < nc; i++) {
		memcpy(lat + k, b[i].lat, b[i].nlat * sizeof(*lat));
		k += b[i].nlat;
		inputs += b[i].inputs;
		errors += b[i].errors;
		if (b[i].err[0])
			fprintf(stderr, "bnnaccctl benchmark: client %u: %s\n", i, b[i].err);
	}
	if (lat && nlat) {
		qsort(lat, nlat, sizeof(*lat), cmp_double);
		p50 = lat[nlat / 2];
		p99 = lat[(size_t)(0.99 * (nlat - 1))];
		max = lat[nlat - 1];
	}
	if (opt[3])
		printf("clients,inputs_per_request,seconds,requests,errors,inputs_per_s,requests_per_s,p50_ms,p99_ms,max_ms\n"
		       "%u,%u,%.3f,%zu,%llu,%.1f,%.1f,%.3f,%.3f,%.3f\n", nc, n, wall, nlat, errors,
		       inputs / wall, nlat / wall, p50 * 1e3, p99 * 1e3, max * 1e3);
	else if (c->json)
		printf("{\"clients\":%u,\"inputs_per_request\":%u,\"seconds\":%.3f,\"requests\":%zu,"
		       "\"errors\":%llu,\"inputs_per_s\":%.1f,\"requests_per_s\":%.1f,\"p50_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n", nc, n, wall, nlat, errors, inputs / wall,
		       nlat / wall, p50 * 1e3, p99 * 1e3, max * 1e3);
	else
		printf("%u clients x %u inputs per request for %.1f s: %zu requests answered, %llu errors\n"
		       "%.1f inputs/s, %.1f requests/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		       nc, n, wall, nlat, errors, inputs / wall, nlat / wall, p50 * 1e3, p99 * 1e3,
		       max * 1e3);
	for (i = 0; i < nc; i++) {
		free(b[i].lat);
		bnd_free(b[i].c.bc);
	}
	free(lat);
	free(b);
	return nlat ? 0 : 1;
}

/*
 * monitor: every interval, per card its state, utilisation and inputs/s
 * over the interval, and the daemon's queue and mean latency over it.
 */
static int run_monitor(struct ctl *c, const struct command *cmd, int argc, char **argv,
		       const long *opt)
{
	double iv = opt[0] ? (double)opt[0] : 1, t_prev = 0, busy_prev[64] = { 0 }, lsum_prev = 0;
	long long in_prev[64] = { 0 }, lcnt_prev = 0;
	long count = opt[1];
	int rc, first = 1;
	double t0 = bnd_now();

	(void)cmd;
	(void)argc;
	(void)argv;
	if ((rc = session(c)))
		return rc;
	for (long k = 0; !count || k <= count; k++) {
		json_t *cards = call(c, json_pack("{s:s}", "op", "cards"));
		json_t *st = call(c, json_pack("{s:s}", "op", "stats")), *e;
		double t = bnd_now(), dt = t - t_prev;
		double lsum = rget(st, "latency_sum_s");
		long long lcnt = iget(st, "latency_count");
		size_t i;

		if (check(c, cards) || check(c, st)) {
			json_decref(cards);
			json_decref(st);
			return 1;
		}
		if (k == 1 && !c->json)
			printf("%-8s %-5s %-7s %6s %10s %6s %12s\n", "TIME_S", "CARD", "STATE", "UTIL",
			       "INPUTS/S", "QUEUE", "LATENCY_MS");
		json_array_foreach(json_object_get(cards, "cards"), i, e) {
			long long idx = iget(e, "index"), in = iget(e, "inputs");
			double busy = rget(e, "busy_s");
			double lat = lcnt > lcnt_prev ? (lsum - lsum_prev) / (lcnt - lcnt_prev) * 1e3 : 0;

			if (idx < 0 || idx >= 64)
				continue;
			if (!first && c->json)
				printf("{\"t\":%.3f,\"card\":%lld,\"state\":\"%s\",\"utilization\":%.4f,"
				       "\"inputs_per_s\":%.1f,\"queue\":%lld,\"latency_ms\":%.3f}\n", t - t0,
				       idx, sget(e, "state"), (busy - busy_prev[idx]) / dt,
				       (in - in_prev[idx]) / dt, iget(st, "queue"), lat);
			else if (!first)
				printf("%-8.1f %-5lld %-7s %5.1f%% %10.1f %6lld %12.2f\n", t - t0, idx,
				       sget(e, "state"), 100 * (busy - busy_prev[idx]) / dt,
				       (in - in_prev[idx]) / dt, iget(st, "queue"), lat);
			busy_prev[idx] = busy;
			in_prev[idx] = in;
		}
		fflush(stdout);
		lsum_prev = lsum;
		lcnt_prev = lcnt;
		t_prev = t;
		json_decref(cards);
		json_decref(st);
		if (count && k == count)
			break;
		first = 0;
		usleep((useconds_t)(iv * 1e6));
	}
	return 0;
}

static int run_raw(struct ctl *c, const struct command *cmd, int argc, char **argv,
		   const long *opt)
{
	struct bnd_reply r;
	int rc;

	(void)cmd;
	(void)argc;
	(void)opt;
	if ((rc = session_version(c, 1)))
		return rc;
	if (bnd_send_raw(c->bc, argv[0], strlen(argv[0]), -1) || bnd_recv(c->bc, &r)) {
		fprintf(stderr, "bnnaccctl raw: no reply from bnnaccd: %s\n", bnd_errmsg(c->bc));
		return 1;
	}
	printf("%s\n", r.line);
	return r.ok ? 0 : 1;
}

/*
 * model inspect: what the file holds, and how the library would transfer
 * it to a fresh card of the default physics (a simulated card in this
 * process, calibrated as bnnaccd calibrates one): networks that fit, the
 * transfer's choices, clipped weights, the mapping error; or why it does
 * not fit. Needs no daemon and no card.
 */
static int run_inspect(struct ctl *c, const struct command *cmd, int argc, char **argv,
		       const long *opt)
{
	static const char *const acts[] = { "linear", "relu", "tanh", "softmax" };
	struct bnnacc_model *m = NULL;
	struct bnnacc_sim *sim = NULL;
	struct bnnacc_card card, *cards[1] = { &card };
	struct bnnacc_calib cal;
	const struct bnnacc_calib *cals[1] = { &cal };
	struct bnnacc_cal_opts co;
	struct bnnacc_xfer_opts xo;
	struct bnnacc_net *net = NULL;
	const struct bnnacc_xfer_report *x;
	const struct bnnacc_layer_report *lr;
	char err[512], meta[128];
	unsigned l, cells = 0;
	int ret, rc = 1;
	json_t *j = json_object(), *layers = json_array();

	(void)cmd;
	(void)argc;
	if (strcmp(argv[0], "inspect"))
		die_usage(c, "no model subcommand '%s' (inspect)", argv[0]);
	if (bnnacc_model_load(&m, argv[1], err, sizeof(err))) {
		fprintf(stderr, "bnnaccctl model: %s: %s\n", argv[1], err);
		goto out;
	}
	json_object_set_new(j, "file", json_string(argv[1]));
	json_object_set_new(j, "kind", json_string(m->kind == BNNACC_MODEL_SAMPLES ?
						   "samples" : "gauss"));
	json_object_set_new(j, "samples", json_integer(m->n_samples));
	json_object_set_new(j, "inputs", json_integer(m->n_inputs));
	json_object_set_new(j, "classes", json_integer(m->n_classes));
	if (bnnacc_model_get_meta(m, "dataset", meta, sizeof(meta)) >= 0)
		json_object_set_new(j, "dataset", json_string(meta));
	for (l = 0; l < m->n_layers; l++) {
		const struct bnnacc_layer *ly = &m->layer[l];
		size_t nw = (size_t)ly->n_out * (ly->n_in + 1), i, k;
		double *sd = malloc(nw * sizeof(*sd));

		if (!sd)
			goto out;
		for (i = 0; i < nw; i++) {
			if (m->kind != BNNACC_MODEL_SAMPLES) {
				sd[i] = ly->std[i];
				continue;
			}
			double s1 = 0, s2 = 0;	/* the spread of the samples */

			for (k = 0; k < m->n_samples; k++) {
				double v = ly->samples[k * nw + i];

				s1 += v;
				s2 += v * v;
			}
			s1 /= m->n_samples;
			sd[i] = sqrt(fmax(0.0, s2 / m->n_samples - s1 * s1));
		}
		qsort(sd, nw, sizeof(*sd), cmp_double);
		cells += 2 * (unsigned)nw;
		json_array_append_new(layers, json_pack("{s:i,s:i,s:s,s:i,s:f,s:f,s:f}",
			"inputs", (int)ly->n_in, "outputs", (int)ly->n_out, "activation",
			ly->act < 4 ? acts[ly->act] : "?", "weights", (int)nw,
			"sigma_min", sd[0], "sigma_median", sd[nw / 2], "sigma_max", sd[nw - 1]));
		free(sd);
	}
	json_object_set_new(j, "layers", layers);
	layers = NULL;
	json_object_set_new(j, "cells_per_network", json_integer(cells));
	/* the transfer on a fresh simulated card of the default physics */
	if ((ret = bnnacc_sim_new(&sim, NULL, opt[0] ? (uint64_t)opt[0] : 1, err, sizeof(err))))
		goto fit;
	bnnacc_sim_card(sim, &card);
	memset(&co, 0, sizeof(co));
	co.force = 1;
	if ((ret = bnnacc_calibrate(&card, &co, &cal, err, sizeof(err))) < 0)
		goto fit;
	memset(&xo, 0, sizeof(xo));
	ret = bnnacc_transfer(&net, cards, cals, 1, m, &xo, err, sizeof(err));
fit:
	if (ret < 0 || !net) {
		json_object_set_new(j, "fits", json_false());
		json_object_set_new(j, "why", json_string(err));
	} else {
		json_t *ll = json_array();

		x = bnnacc_net_xfer_report(net);
		for (l = 0; (lr = bnnacc_net_report(net, l)); l++)
			json_array_append_new(ll, json_pack("{s:i,s:i,s:f,s:f,s:f}", "tiles",
				(int)lr->parts, "clipped", (int)lr->clipped, "kl_mean", lr->kl_mean,
				"rel_mean_err", lr->rel_mean_err, "gamma", lr->gamma));
		json_object_set_new(j, "fits", json_true());
		json_object_set_new(j, "transfer", json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:s,s:o}",
			"mode", x->mode == BNNACC_XFER_SHARED ? "shared" : "samples", "m", (int)x->m,
			"cells", (int)x->cells, "repeat", (int)x->repeat, "clipped", (int)x->clipped,
			"weights", (int)x->weights, "kl_mean", x->kl_mean, "why", x->why,
			"layers", ll));
	}
	rc = 0;
	if (c->json) {
		print_json(j);
		goto out;
	}
	printf("%s: %s model, %u inputs, %u classes%s%s%s", argv[1], sget(j, "kind"),
	       m->n_inputs, m->n_classes, json_object_get(j, "dataset") ? " (data set " : "",
	       json_object_get(j, "dataset") ? sget(j, "dataset") : "",
	       json_object_get(j, "dataset") ? ")" : "");
	if (m->kind == BNNACC_MODEL_SAMPLES)
		printf(", %u posterior samples", m->n_samples);
	printf("\n%-6s %-7s %-8s %-8s %8s %10s %10s %10s\n", "LAYER", "INPUTS", "OUTPUTS",
	       "ACT", "WEIGHTS", "SIGMA_MIN", "SIGMA_MED", "SIGMA_MAX");
	for (l = 0; l < m->n_layers; l++) {
		json_t *e = json_array_get(json_object_get(j, "layers"), l);

		printf("%-6u %-7lld %-8lld %-8s %8lld %10.4g %10.4g %10.4g\n", l, iget(e, "inputs"),
		       iget(e, "outputs"), sget(e, "activation"), iget(e, "weights"),
		       rget(e, "sigma_min"), rget(e, "sigma_median"), rget(e, "sigma_max"));
	}
	printf("one network: %u cells (2 per weight and bias, 1 cell per sign)\n", cells);
	if (!json_is_true(json_object_get(j, "fits"))) {
		printf("on a %ux%u card: does not fit: %s\n", BNNACC_ROWS, BNNACC_COLS,
		       sget(j, "why"));
	} else {
		json_t *t = json_object_get(j, "transfer");

		printf("on a fresh %ux%u card (default physics, simulated): M=%lld networks, mode %s, "
		       "%lld cell(s) per sign, %lld read(s), %lld of %lld weights clipped, mean KL %.4f\n",
		       BNNACC_ROWS, BNNACC_COLS, iget(t, "m"), sget(t, "mode"), iget(t, "cells"),
		       iget(t, "repeat"), iget(t, "clipped"), iget(t, "weights"), rget(t, "kl_mean"));
		printf("why:\n%s\n", sget(t, "why"));
	}
out:
	json_decref(layers);
	json_decref(j);
	bnnacc_net_free(net);
	bnnacc_sim_free(sim);
	bnnacc_model_free(m);
	return rc;
}

static int run_help(struct ctl *c, const struct command *cmd, int argc, char **argv,
		    const long *opt);

static const struct copt infer_opts[] = {
	{ "samples", 'm', "S", 1, 1024, "use the first S of the card's M sampled networks" },
	{ "per-sample", 'p', NULL, 0, 0, "also print each network's prediction (with --json)" },
	{ "deadline-ms", 'd', "MS", 1, 3600000, "give up when not started within MS" },
	{ "model", 'M', "NAME", 0, 0, "the resident model to use (default: the one loaded last)" },
	{ "precision", 'e', "EPS", 0, 0, "adaptive sampling: stop each input's networks once its\n"
	  "                           mean and entropy are within EPS (1e-4..0.5)" },
	{ "abstain", 'a', "NATS", 0, 0, "mark inputs whose epistemic uncertainty is above NATS" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static const struct copt bench_opts[] = {
	{ "clients", 'c', "C", 1, 256, "concurrent clients, each its own connection (default 8)" },
	{ "inputs", 'n', "N", 1, 4096, "inputs per infer request (default 16)" },
	{ "seconds", 't', "T", 1, 3600, "how long (default 5)" },
	{ "csv", 'C', NULL, 0, 0, "print a CSV header and row" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static const struct copt monitor_opts[] = {
	{ "interval", 'i', "S", 1, 3600, "seconds between samples (default 1)" },
	{ "count", 'n', "K", 1, 1000000, "stop after K samples (default: until interrupted)" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static const struct copt load_opts[] = {
	{ "networks", 'm', "M", 1, 1024, "program M sampled networks (default: as many as fit)" },
	{ "fd", 'f', NULL, 0, 0, "pass the open file to the daemon (SCM_RIGHTS) instead of its\n"
	  "                           content or path: any size, no path the daemon must reach" },
	{ "add", 'a', NULL, 0, 0, "keep the resident models: program this one beside them\n"
	  "                           (default: it replaces them)" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static const struct copt inspect_opts[] = {
	{ "seed", 'S', "SEED", 1, 1000000, "the simulated card's manufacture seed (default 1)" },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static const struct command commands[] = {
	{ "status", "", 0, 0, "the daemon: protocol version, uptime, cards, model, queue", NULL, run_info },
	{ "cards", "", 0, 0, "the cards: index, PCI address, serial, state, networks, work done", NULL, run_info },
	{ "models", "", 0, 0, "the resident models (and a load in progress)", NULL, run_info },
	{ "stats", "", 0, 0, "request and error counters, latency", NULL, run_info },
	{ "metrics", "", 0, 0, "the Prometheus text exposition", NULL, run_info },
	{ "load", "NAME MODEL-FILE", 2, 3,
	  "calibrate the cards if needed and program the model; it replaces the\n"
	  "resident models (with --add: joins them; up to 8, each with its own\n"
	  "networks) only if a card succeeds. A file too large for one request line\n"
	  "(about 768 KiB) is sent by path: the daemon must be able to read it;\n"
	  "with --fd the open file itself is passed to the daemon",
	  load_opts, run_load },
	{ "unload", "NAME", 1, 1, "unload a model (the others keep serving)", NULL, run_unload },
	{ "infer", "[CSV-FILE|-]", 0, 1,
	  "infer one vector per CSV line (numbers separated by ',' or blanks; '#'\n"
	  "comments) from the file or stdin; prints class, p_max and the uncertainties",
	  infer_opts, run_infer },
	{ "calibrate", "[CARD]", 0, 1,
	  "measure the calibration again and reprogram (CARD: index, PCI address or serial)",
	  NULL, run_card_op },
	{ "reset", "CARD", 1, 1, "reset a card and reprogram it", NULL, run_card_op },
	{ "check", "[CARD]", 0, 1, "check drift on the reference cells now (refresh if advised)",
	  NULL, run_card_op },
	{ "benchmark", "", 0, 0,
	  "C clients send infer requests of N random inputs (the loaded model's\n"
	  "width) back to back for T seconds: inputs/s, requests/s, latency p50,\n"
	  "p99 and max of the answered requests (--json or --csv for scripts)",
	  bench_opts, run_benchmark },
	{ "monitor", "", 0, 0,
	  "every interval, per card: state, utilisation and inputs/s over the\n"
	  "interval, the queue and the mean latency of the requests answered in it\n"
	  "(--json: one object per card and sample)",
	  monitor_opts, run_monitor },
	{ "model", "inspect MODEL-FILE", 2, 2,
	  "what a model file holds (layers, the spread of its weights) and how it\n"
	  "would transfer to a fresh card: networks that fit (M), the transfer's\n"
	  "choices, clipped weights; or why it does not fit. No daemon needed: the\n"
	  "transfer runs on a simulated card of the default physics in this process",
	  inspect_opts, run_inspect },
	{ "raw", "'JSON-LINE'", 1, 1,
	  "send one request line after a version 1 hello; print the reply", NULL, run_raw },
	{ "help", "[COMMAND]", 0, 1, "describe the commands, or one", NULL, run_help },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: bnnaccctl [-s SOCKET] [--json] COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++) {
		const char *nl = strchr(commands[i].help, '\n');

		fprintf(f, "  %-10s %-16s %.*s\n", commands[i].name, commands[i].args,
			nl ? (int)(nl - commands[i].help) : (int)strlen(commands[i].help),
			commands[i].help);
	}
	fprintf(f, "\nglobal options (anywhere): -s, --socket PATH (default $BNNACCD_SOCKET or\n"
		"/run/bnnacc/bnnaccd.sock), -j, --json (the daemon's replies as JSON),\n"
		"-h, --help, -V, --version. `bnnaccctl COMMAND --help` for one command.\n");
}

static void command_help(FILE *f, const struct command *cmd)
{
	const struct copt *o;

	fprintf(f, "usage: bnnaccctl %s%s%s%s\n\n%s\n", cmd->name, cmd->opts ? " [OPTIONS]" : "",
		*cmd->args ? " " : "", cmd->args, cmd->help);
	for (o = cmd->opts; o && o->name; o++) {
		char head[64];

		snprintf(head, sizeof(head), "-%c, --%s%s%s", o->letter, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-24s %s", head, o->help);
		if (o->arg && (o->min || o->max))
			fprintf(f, " (%ld..%ld)", o->min, o->max);
		fprintf(f, "\n");
	}
	fprintf(f, "  %-24s %s\n  %-24s %s\n", "-j, --json", "print the daemon's reply as JSON",
		"-s, --socket PATH", "the daemon's socket");
}

static int run_help(struct ctl *c, const struct command *cmd, int argc, char **argv,
		    const long *opt)
{
	const struct command *k;

	(void)cmd;
	(void)opt;
	if (!argc) {
		usage(stdout);
		return 0;
	}
	k = find_command(argv[0]);
	if (!k)
		die_usage(c, "no command '%s'", argv[0]);
	command_help(stdout, k);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { .bc = NULL };
	const struct command *cmd;
	struct option lo[16];
	char so[64] = "+:s:jhV";
	long opt[8] = { 0 };
	int n = 0, i, o, nopt = 0, rc;

	c.sock = getenv("BNNACCD_SOCKET");
	if (!c.sock || !*c.sock)
		c.sock = "/run/bnnacc/bnnaccd.sock";
	lo[n++] = (struct option){ "socket", required_argument, NULL, 's' };
	lo[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };

	/* global options before the command */
	opterr = 0;
	while ((o = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		switch (o) {
		case 's': c.sock = optarg; break;
		case 'j': c.json = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V':
			printf("bnnaccctl %s (protocol %d)\n", BNNACC_VERSION, PROTO_VERSION);
			return 0;
		case ':': die_usage(&c, "option %s needs an argument", argv[optind - 1]);
		default: die_usage(&c, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		die_usage(&c, "no command '%s'", argv[optind]);
	c.cmd = cmd->name;

	/* the command's own options and the global ones, anywhere after it */
	strcpy(so, ":s:jhV");
	for (i = 0; cmd->opts && cmd->opts[i].name; i++, nopt++) {
		char s[3] = { (char)cmd->opts[i].letter, cmd->opts[i].arg ? ':' : 0, 0 };

		strcat(so, s);
		lo[n++] = (struct option){ cmd->opts[i].name,
			cmd->opts[i].arg ? required_argument : no_argument, NULL,
			cmd->opts[i].letter };
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: start over on the new argv (argv[0] the command) */
	while ((o = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		switch (o) {
		case 's': c.sock = optarg; continue;
		case 'j': c.json = 1; continue;
		case 'h': command_help(stdout, cmd); return 0;
		case 'V':
			printf("bnnaccctl %s (protocol %d)\n", BNNACC_VERSION, PROTO_VERSION);
			return 0;
		case ':': die_usage(&c, "option %s needs an argument", argv[optind - 1]);
		case '?': die_usage(&c, "unknown option '%s'", argv[optind - 1]);
		}
		for (i = 0; i < nopt; i++) {
			const struct copt *q = &cmd->opts[i];

			if (q->letter != o)
				continue;
			if (q->arg && !q->min && !q->max) {
				c.sopt[i] = optarg;
				opt[i] = 1;
			} else if (q->arg) {
				char what[64];

				snprintf(what, sizeof(what), "--%s", q->name);
				opt[i] = parse_num(&c, what, optarg, q->min, q->max);
			} else {
				opt[i] = 1;
			}
		}
	}
	argc -= optind;
	argv += optind;
	if ((unsigned)argc < cmd->min_args || (unsigned)argc > cmd->max_args)
		die_usage(&c, "%s %s: %s", argc < (int)cmd->min_args ? "missing" : "too many",
			  "arguments", *cmd->args ? cmd->args : "(none)");
	rc = cmd->run(&c, cmd, argc, argv, opt);
	bnd_free(c.bc);
	return rc;
}
