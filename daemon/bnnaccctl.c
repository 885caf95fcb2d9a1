// SPDX-License-Identifier: MIT
/*
 * bnnaccctl - command-line client of bnnaccd (docs/protocol.md).
 *
 *   bnnaccctl [-s SOCKET] [--json] status|cards|models|stats|metrics
 *   bnnaccctl load NAME MODEL-FILE [M]     (file sent as base64 content)
 *   bnnaccctl unload NAME
 *   bnnaccctl infer [-m SAMPLES] [-p] [-d DEADLINE_MS] [CSV-FILE|-]
 *   bnnaccctl calibrate [CARD] | reset CARD
 *   bnnaccctl raw 'JSON LINE'              (after the hello; for tests)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"

static int json_out;
static FILE *rx;
static int sock_fd = -1;

static int connect_to(const char *path)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	sock_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock_fd < 0 || connect(sock_fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	rx = fdopen(dup(sock_fd), "r");
	return rx ? 0 : -errno;
}

static int send_line(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = send(sock_fd, s, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Send @req (stolen) and read one reply; NULL on I/O error. */
static json_t *call(json_t *req)
{
	char *line = NULL;
	size_t cap = 0, len;
	json_t *r;
	char *s = proto_dump(req, &len);

	if (!s || send_line(s, len)) {
		free(s);
		return NULL;
	}
	free(s);
	if (getline(&line, &cap, rx) < 0) {
		free(line);
		return NULL;
	}
	r = json_loads(line, 0, NULL);
	free(line);
	return r;
}

static int check(json_t *r)
{
	json_t *e;

	if (!r) {
		fprintf(stderr, "bnnaccctl: no reply from bnnaccd\n");
		return 1;
	}
	if (json_is_true(json_object_get(r, "ok")))
		return 0;
	e = json_object_get(r, "error");
	if (!json_out)
		fprintf(stderr, "bnnaccctl: %s: %s\n",
			json_string_value(json_object_get(e, "code")),
			json_string_value(json_object_get(e, "message")));
	return 1;
}

static void b64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
}

static json_t *load_req(const char *name, const char *file, const char *m)
{
	FILE *f = fopen(file, "rb");
	unsigned char *buf;
	char *enc;
	long n;
	json_t *r;

	if (!f) {
		perror(file);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = n > 0 ? malloc((size_t)n) : NULL;
	enc = n > 0 ? malloc((size_t)n / 3 * 4 + 8) : NULL;
	if (!buf || !enc || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bnnaccctl: cannot read %s\n", file);
		fclose(f);
		free(buf);
		free(enc);
		return NULL;
	}
	fclose(f);
	b64(buf, (size_t)n, enc);
	r = json_pack("{s:s,s:s,s:s}", "op", "load", "name", name, "data", enc);
	if (m)
		json_object_set_new(r, "m", json_integer(atoi(m)));
	free(buf);
	free(enc);
	return r;
}

/* CSV: one input vector per line, numbers separated by ',' or blanks. */
static json_t *read_csv(FILE *f)
{
	json_t *in = json_array();
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, f) >= 0) {
		json_t *v = json_array();
		char *p = line, *end;

		if (line[0] == '#')
			continue;
		for (;;) {
			double x;

			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
			x = strtod(p, &end);
			if (end == p)
				break;
			json_array_append_new(v, json_real(x));
			p = end;
		}
		if (json_array_size(v))
			json_array_append_new(in, v);
		else
			json_decref(v);
	}
	free(line);
	return in;
}

static void print_human(const char *cmd, json_t *r)
{
	const char *k;
	json_t *v, *e;
	size_t i, j;

	if (!strcmp(cmd, "metrics")) {
		fputs(json_string_value(json_object_get(r, "text")), stdout);
		return;
	}
	if (!strcmp(cmd, "cards") || !strcmp(cmd, "models")) {
		json_array_foreach(json_object_get(r, cmd), i, e) {
			json_object_foreach(e, k, v) {
				char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

				printf("%s%s=%s", k == json_object_iter_key(json_object_iter(e)) ?
				       "" : " ", k, s);
				free(s);
			}
			printf("\n");
		}
		return;
	}
	if (!strcmp(cmd, "infer")) {
		json_t *mean = json_object_get(r, "mean");

		printf("# input class p_max U_p U_a U_e (model %s, card %lld, M %lld)\n",
		       json_string_value(json_object_get(r, "model")),
		       json_integer_value(json_object_get(r, "card")),
		       json_integer_value(json_object_get(r, "m")));
		for (i = 0; i < (size_t)json_integer_value(json_object_get(r, "n")); i++) {
			json_t *p = json_array_get(mean, i);
			size_t best = 0;

			json_array_foreach(p, j, v)
				if (json_real_value(v) > json_real_value(json_array_get(p, best)))
					best = j;
			printf("%zu %zu %.4f %.4f %.4f %.4f\n", i, best,
			       json_real_value(json_array_get(p, best)),
			       json_real_value(json_array_get(json_object_get(r, "u_p"), i)),
			       json_real_value(json_array_get(json_object_get(r, "u_a"), i)),
			       json_real_value(json_array_get(json_object_get(r, "u_e"), i)));
		}
		return;
	}
	json_object_foreach(r, k, v) {
		char *s;

		if (!strcmp(k, "ok") || !strcmp(k, "id"))
			continue;
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%s: %s\n", k, s);
		free(s);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bnnaccctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
		"  status | cards | models | stats | metrics\n"
		"  load NAME MODEL-FILE [M]   unload NAME\n"
		"  infer [-m SAMPLES] [-p] [-d DEADLINE_MS] [CSV-FILE|-]\n"
		"  calibrate [CARD]   reset CARD   check [CARD]   raw 'JSON'\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = getenv("BNNACCD_SOCKET"), *cmd;
	json_t *req = NULL, *r;
	int opt, rc, samples = 0, per_sample = 0, deadline = 0;

	if (!sock)
		sock = "/run/bnnacc/bnnaccd.sock";
	while ((opt = getopt_long(argc, argv, "+s:jh", lo, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'j': json_out = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "infer")) {
		optind--;
		argv[optind] = "infer";
		optind++;
		while ((opt = getopt(argc, argv, "m:pd:")) != -1) {
			switch (opt) {
			case 'm': samples = atoi(optarg); break;
			case 'p': per_sample = 1; break;
			case 'd': deadline = atoi(optarg); break;
			default: usage(stderr); return 2;
			}
		}
	}
	if (!strcmp(cmd, "status") || !strcmp(cmd, "cards") || !strcmp(cmd, "models") ||
	    !strcmp(cmd, "stats") || !strcmp(cmd, "metrics")) {
		req = json_pack("{s:s}", "op", cmd);
	} else if (!strcmp(cmd, "load") && argc - optind >= 2) {
		req = load_req(argv[optind], argv[optind + 1],
			       argc - optind > 2 ? argv[optind + 2] : NULL);
		if (!req)
			return 1;
	} else if (!strcmp(cmd, "unload") && argc - optind == 1) {
		req = json_pack("{s:s,s:s}", "op", "unload", "name", argv[optind]);
	} else if ((!strcmp(cmd, "calibrate") || !strcmp(cmd, "reset") ||
		    !strcmp(cmd, "check")) && argc - optind <= 1) {
		req = json_pack("{s:s}", "op", cmd);
		if (argc - optind == 1)
			json_object_set_new(req, "card", json_integer(atoi(argv[optind])));
	} else if (!strcmp(cmd, "infer") && argc - optind <= 1) {
		FILE *f = stdin;

		if (argc - optind == 1 && strcmp(argv[optind], "-") &&
		    !(f = fopen(argv[optind], "r"))) {
			perror(argv[optind]);
			return 1;
		}
		req = json_pack("{s:s,s:o}", "op", "infer", "inputs", read_csv(f));
		if (f != stdin)
			fclose(f);
		if (samples)
			json_object_set_new(req, "samples", json_integer(samples));
		if (deadline)
			json_object_set_new(req, "deadline_ms", json_integer(deadline));
		json_object_set_new(req, "outputs", per_sample ?
			json_pack("[s,s,s]", "mean", "uncertainty", "per_sample") :
			json_pack("[s,s]", "mean", "uncertainty"));
	} else if (!strcmp(cmd, "raw") && argc - optind == 1) {
		req = NULL;
	} else {
		usage(stderr);
		return 2;
	}
	if ((rc = connect_to(sock))) {
		fprintf(stderr, "bnnaccctl: %s: %s\n", sock, strerror(-rc));
		json_decref(req);
		return 1;
	}
	r = call(json_pack("{s:s,s:i}", "op", "hello", "version", PROTO_VERSION));
	rc = check(r);
	json_decref(r);
	if (rc) {
		json_decref(req);
		return 1;
	}
	if (!req) {
		char *line = NULL;
		size_t cap = 0;

		if (send_line(argv[optind], strlen(argv[optind])) || send_line("\n", 1) ||
		    getline(&line, &cap, rx) < 0)
			return 1;
		fputs(line, stdout);
		r = json_loads(line, 0, NULL);
		free(line);
		rc = check(r);
		json_decref(r);
		return rc;
	}
	r = call(req);
	rc = check(r);
	if (r && json_out) {
		char *s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(9));

		puts(s);
		free(s);
	} else if (r && !rc) {
		print_human(cmd, r);
	}
	json_decref(r);
	return rc;
}
