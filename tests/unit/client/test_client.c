// SPDX-License-Identifier: MIT
/*
 * test_client - Check tests of bnnaccd's C client (daemon/client.c) against
 * a fake daemon: a thread on a temporary Unix socket that speaks both
 * framings (version 1 lines, JSON-RPC 2.0), answers per method, keeps the
 * request lines it got and reads a descriptor passed with a line
 * (SCM_RIGHTS) to its end.
 * Checked: the hello of each version and a refused one, the request lines
 * of both framings, results and errors (code, name, message, data), progress
 * notifications before a result, replies out of order to pipelined
 * requests, a long pipeline unread while sent, a reply member left undecoded (per_sample) in both framings and
 * over megabytes, a descriptor with its request line (blocking and not), the
 * non-blocking mode (hello unanswered, partial reads), the end of a
 * connection cleanly and in the middle of a line, connect errors, base64
 * (RFC 4648's vectors and against the daemon's decoder), the clock.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "proto.h"

/* ---- the fake daemon ------------------------------------------------------- */

static char dir[64], sock_path[128];
static int lfd = -1;
static pthread_t th;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *got;		/* every request line, as received (strings) */
static char fd_data[256];	/* what a passed descriptor held */
static int fd_line = -1;	/* the request line (index in got) it came with */
static int big_m;		/* infer: per_sample of big_m samples */
static int refuse_v;		/* hello: refuse this version */

struct peer {
	int fd;
	char *buf;
	size_t len, cap;
	size_t off;		/* the stream offset of buf[0] */
	long long fd_last;	/* of the last byte of the read a descriptor came with */
};

/*
 * One line (malloc'd, without '\n') or NULL at the end. A descriptor is
 * the line's that holds the last byte of the read it came with: the kernel
 * glues the bytes of earlier sends before a descriptor's in one read, but
 * never later ones after it, and the client sends a line with a descriptor
 * from its first byte.
 */
static char *peer_line(struct peer *p)
{
	for (;;) {
		char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov;
		struct msghdr mh;
		struct cmsghdr *cm;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - p->buf);
			char *s = malloc(l + 1);

			memcpy(s, p->buf, l);
			s[l] = 0;
			if (p->fd_last >= (long long)p->off && p->fd_last <= (long long)(p->off + l)) {
				pthread_mutex_lock(&mu);
				fd_line = (int)json_array_size(got);	/* this line's index */
				pthread_mutex_unlock(&mu);
			}
			memmove(p->buf, nl + 1, p->len - l - 1);
			p->len -= l + 1;
			p->off += l + 1;
			return s;
		}
		if (p->cap - p->len < 4096) {
			p->cap = p->cap ? 2 * p->cap : 65536;
			p->buf = realloc(p->buf, p->cap);
		}
		iov = (struct iovec){ p->buf + p->len, p->cap - p->len };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				      .msg_controllen = sizeof(u.b) };
		n = recvmsg(p->fd, &mh, 0);
		if (n <= 0)
			return NULL;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int fd;
				ssize_t r;

				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
				p->fd_last = (long long)(p->off + p->len + (size_t)n - 1);
				pthread_mutex_lock(&mu);
				r = read(fd, fd_data, sizeof(fd_data) - 1);
				fd_data[r > 0 ? r : 0] = 0;
				pthread_mutex_unlock(&mu);
				close(fd);
			}
		p->len += (size_t)n;
	}
}

static void say(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Send @res (taken) as the result of @req (v1 or v2 framing) */
static void reply_ok(int fd, json_t *req, json_t *res)
{
	json_t *r;
	char *s;

	json_t *id = json_object_get(req, "id");

	if (json_object_get(req, "jsonrpc")) {
		r = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
			      "result", res);
	} else {
		r = json_pack("{s:b}", "ok", 1);
		if (id)
			json_object_set(r, "id", id);
		json_object_update(r, res);
		json_decref(res);
	}
	s = json_dumps(r, JSON_COMPACT);
	say(fd, s);
	say(fd, "\n");
	free(s);
	json_decref(r);
}

static void reply_err(int fd, json_t *req, int code, const char *name, const char *msg)
{
	char s[512];

	if (json_object_get(req, "jsonrpc"))
		snprintf(s, sizeof(s), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":%d,"
			 "\"message\":\"%s\",\"data\":{\"code\":\"%s\",\"cards\":[1,2]}}}\n",
			 (long long)json_integer_value(json_object_get(req, "id")), code, msg, name);
	else
		snprintf(s, sizeof(s), "{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"},"
			 "\"id\":%lld,\"cards\":[1,2]}\n", name, msg,
			 (long long)json_integer_value(json_object_get(req, "id")));
	say(fd, s);
}

/* infer's result: per_sample [1][big_m][2] (or [[[0.25,0.75]]]), mean */
static json_t *infer_result(void)
{
	json_t *ps = json_array(), *one = json_array();
	int k, m = big_m ? big_m : 1;

	for (k = 0; k < m; k++)
		json_array_append_new(one, json_pack("[f,f]", 0.25, 0.75));
	json_array_append_new(ps, one);
	return json_pack("{s:s,s:i,s:o,s:[[f,f]],s:s}", "model", "toy", "m", m,
			 "per_sample", ps, "mean", 0.25, 0.75, "after", "x\"]}{");
}

static void serve(int cfd)
{
	struct peer p = { .fd = cfd, .fd_last = -1 };
	json_t *held[8];
	int nheld = 0;
	char *line;

	while ((line = peer_line(&p)) != NULL) {
		json_t *j = json_loads(line, 0, NULL), *prm;
		const char *m;

		pthread_mutex_lock(&mu);
		json_array_append_new(got, json_string(line));
		pthread_mutex_unlock(&mu);
		free(line);
		if (json_object_get(j, "jsonrpc")) {
			m = json_string_value(json_object_get(j, "method"));
			prm = json_object_get(j, "params");
		} else {
			m = json_string_value(json_object_get(j, "op"));
			prm = j;
		}
		if (!m)
			m = "";
		if (!strcmp(m, "hello")) {
			int v = (int)json_integer_value(json_object_get(prm, "version"));

			if ((v == 1 || v == 2) && v != refuse_v)
				reply_ok(cfd, j, json_pack("{s:i,s:s,s:b}", "version", v, "server",
							   "bnnaccd", "admin", 1));
			else
				reply_err(cfd, j, -32002, "version", "version not spoken");
		} else if (!strcmp(m, "load")) {	/* two progress notifications first */
			say(cfd, "{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":{\"stage\":\"programming\",\"cards_done\":0}}\n");
			say(cfd, "{\"jsonrpc\":\"2.0\",\"method\":\"progress\",\"params\":{\"stage\":\"done\",\"cards_done\":1}}\n");
			pthread_mutex_lock(&mu);
			reply_ok(cfd, j, json_pack("{s:s,s:s}", "name", "toy", "data", fd_data));
			pthread_mutex_unlock(&mu);
		} else if (!strcmp(m, "infer")) {
			reply_ok(cfd, j, infer_result());
		} else if (!strcmp(m, "unload")) {
			reply_err(cfd, j, -32007, "no_model", "no such model loaded");
		} else if (!strcmp(m, "hold") && nheld < 8) {
			held[nheld++] = json_incref(j);
		} else if (!strcmp(m, "release")) {	/* the held ones, newest first */
			reply_ok(cfd, j, json_pack("{s:i}", "released", nheld));
			while (nheld > 0) {
				json_t *h = held[--nheld];

				reply_ok(cfd, h, json_pack("{s:I}", "was",
					 json_integer_value(json_object_get(h, "id"))));
				json_decref(h);
			}
		} else if (!strcmp(m, "cut")) {		/* half a reply, then the end */
			say(cfd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
			json_decref(j);
			break;
		} else if (!strcmp(m, "quit")) {
			json_decref(j);
			break;
		} else {
			reply_ok(cfd, j, json_object());
		}
		json_decref(j);
	}
	while (nheld > 0)
		json_decref(held[--nheld]);
	free(p.buf);
	close(cfd);
}

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			return NULL;
		serve(fd);
	}
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(dir, "/tmp/bnd-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	strcpy(sa.sun_path, sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	got = json_array();
	fd_line = -1;
	fd_data[0] = 0;
	big_m = 0;
	refuse_v = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, server, NULL), 0);
}

static void teardown(void)
{
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(th, NULL);
	json_decref(got);
	unlink(sock_path);
	rmdir(dir);
}

/* The @i-th request line the fake daemon got, decoded (new reference). */
static json_t *request(size_t i)
{
	json_t *r;

	pthread_mutex_lock(&mu);
	r = json_loads(json_string_value(json_array_get(got, i)), 0, NULL);
	pthread_mutex_unlock(&mu);
	return r;
}

static size_t nrequests(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = json_array_size(got);
	pthread_mutex_unlock(&mu);
	return n;
}

/* ---- tests ----------------------------------------------------------------- */

struct seen {
	int n;
	char stage[2][32];
};

static void on_progress(void *arg, const char *method, json_t *params)
{
	struct seen *s = arg;

	if (!strcmp(method, "progress") && s->n < 2)
		snprintf(s->stage[s->n], sizeof(s->stage[0]), "%s",
			 json_string_value(json_object_get(params, "stage")));
	s->n++;
}

START_TEST(t_call_v2)
{
	struct bnd *c = bnd_new();
	struct seen seen = { 0 };
	const struct bnd_error *e;
	json_t *res, *rq, *prm = json_pack("{s:s,s:f}", "name", "toy", "x", 0.5);
	json_t *one = json_integer(1);

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	ck_assert_int_ge(bnd_fd(c), 0);
	rq = request(0);
	ck_assert_str_eq(json_string_value(json_object_get(rq, "jsonrpc")), "2.0");
	ck_assert_str_eq(json_string_value(json_object_get(rq, "method")), "hello");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rq, "params"), "version")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "id")), 0);
	json_decref(rq);

	/* progress notifications go to the callback, then the result */
	bnd_on_notify(c, on_progress, &seen);
	ck_assert_int_eq(bnd_call(c, "load", prm, -1, &res), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_str_eq(seen.stage[0], "programming");
	ck_assert_str_eq(seen.stage[1], "done");
	ck_assert_str_eq(json_string_value(json_object_get(res, "name")), "toy");
	ck_assert_ptr_null(json_object_get(res, "id"));
	json_decref(res);
	rq = request(1);
	ck_assert_str_eq(json_string_value(json_object_get(rq, "method")), "load");
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "id")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rq, "params"), "name")), "toy");
	ck_assert_double_eq(json_number_value(json_object_get(json_object_get(rq, "params"), "x")), 0.5);
	json_decref(rq);

	/* an error: code, its version 1 name, message, data */
	ck_assert_int_eq(bnd_call(c, "unload", prm, -1, &res), -EREMOTEIO);
	ck_assert_ptr_null(res);
	e = bnd_last_error(c);
	ck_assert_int_eq(e->code, -32007);
	ck_assert_str_eq(e->name, "no_model");
	ck_assert_str_eq(e->message, "no such model loaded");
	ck_assert_int_eq(json_array_size(json_object_get(e->data, "cards")), 2);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "no_model: no such model loaded"));
	/* no params: none sent */
	ck_assert_int_eq(bnd_call(c, "status", NULL, -1, &res), 0);
	json_decref(res);
	rq = request(3);
	ck_assert_ptr_null(json_object_get(rq, "params"));
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "id")), 3);
	json_decref(rq);
	/* params that are not an object are refused before sending */
	ck_assert_int_eq(bnd_call(c, "status", one, -1, &res), -EINVAL);
	ck_assert_int_eq(nrequests(), 4);
	json_decref(one);
	json_decref(prm);
	bnd_free(c);
}
END_TEST

START_TEST(t_call_v1)
{
	struct bnd *c = bnd_new();
	const struct bnd_error *e;
	struct bnd_reply r;
	json_t *res, *rq, *prm = json_pack("{s:s,s:i}", "name", "toy", "m", 4);

	ck_assert_int_eq(bnd_connect(c, sock_path, 1, 0), 0);
	rq = request(0);
	ck_assert_str_eq(json_string_value(json_object_get(rq, "op")), "hello");
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "version")), 1);
	ck_assert_ptr_null(json_object_get(rq, "jsonrpc"));
	json_decref(rq);
	ck_assert_int_eq(bnd_call(c, "stats", prm, -1, &res), 0);
	rq = request(1);	/* {"op":..,"id":..,<params>} */
	ck_assert_str_eq(json_string_value(json_object_get(rq, "op")), "stats");
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "id")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(rq, "m")), 4);
	json_decref(rq);
	ck_assert_ptr_null(json_object_get(res, "ok"));	/* the reply without ok and id */
	ck_assert_ptr_null(json_object_get(res, "id"));
	json_decref(res);
	ck_assert_int_eq(bnd_call(c, "unload", prm, -1, &res), -EREMOTEIO);
	e = bnd_last_error(c);
	ck_assert_int_eq(e->code, 0);
	ck_assert_str_eq(e->name, "no_model");
	ck_assert_str_eq(e->message, "no such model loaded");
	ck_assert_int_eq(json_array_size(json_object_get(e->data, "cards")), 2);
	ck_assert_ptr_null(json_object_get(e->data, "ok"));
	/* raw: the bytes as they are, the reply as a line */
	ck_assert_int_eq(bnd_send_raw(c, "{\"op\":\"infer\"}", 14, -1), 0);
	ck_assert_int_eq(bnd_recv(c, &r), 0);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.id, -1);	/* no id */
	ck_assert_uint_eq(r.len, strlen(r.line));
	ck_assert_ptr_nonnull(strstr(r.line, "\"ok\":true"));
	rq = request(3);
	ck_assert_int_eq(json_object_size(rq), 1);
	json_decref(rq);
	json_decref(prm);
	bnd_free(c);
}
END_TEST

START_TEST(t_version_refused)
{
	struct bnd *c = bnd_new();

	ck_assert_int_eq(bnd_connect(c, sock_path, 3, 0), -EINVAL);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "speaks 1 and 2"));
	ck_assert_int_eq(nrequests(), 0);
	/* the daemon's refusal: its error, and no connection */
	refuse_v = 1;
	ck_assert_int_eq(bnd_connect(c, sock_path, 1, 0), -EREMOTEIO);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "refused the hello (version 1): version"));
	ck_assert_str_eq(bnd_last_error(c)->name, "version");
	ck_assert_int_eq(bnd_fd(c), -1);
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	bnd_free(c);
}
END_TEST

START_TEST(t_pipelined)
{
	struct bnd *c = bnd_new();
	struct bnd_reply r;
	int64_t id[4];
	json_t *res;
	int i;

	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(bnd_send(c, "hold", "{\"k\":1}", -1, &id[i]), 0);
	ck_assert_int_eq(bnd_send(c, "release", NULL, -1, &id[3]), 0);
	ck_assert_int_eq(id[0], 1);
	ck_assert_int_eq(id[3], 4);
	/* release first, then the held ones newest first */
	ck_assert_int_eq(bnd_recv(c, &r), 0);
	ck_assert_int_eq(r.id, id[3]);
	ck_assert_int_eq(r.ok, 1);
	for (i = 2; i >= 0; i--) {
		ck_assert_int_eq(bnd_recv(c, &r), 0);
		ck_assert_int_eq(r.id, id[i]);
		ck_assert_int_eq(bnd_result(c, &r, &res), 0);
		ck_assert_int_eq(json_integer_value(json_object_get(res, "was")), id[i]);
		json_decref(res);
	}
	/*
	 * a long pipeline goes out in few writes: sent one line per send(),
	 * 2000 lines would fill the socket's buffer (each small send costs a
	 * kernel buffer) while the daemon, its replies unread, stops reading
	 */
	for (i = 0; i < 2000; i++)
		ck_assert_int_eq(bnd_send(c, "status", NULL, -1, i ? NULL : &id[0]), 0);
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(bnd_recv(c, &r), 0);
		ck_assert_int_eq(r.id, id[0] + i);
	}
	/* bnd_call refuses a reply that is not its own */
	ck_assert_int_eq(bnd_send(c, "status", NULL, -1, NULL), 0);
	ck_assert_int_eq(bnd_call(c, "release", NULL, -1, &res), -EPROTO);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "in flight"));
	bnd_free(c);
}
END_TEST

/* the per_sample text of the fake daemon's infer */
static void check_cut(struct bnd *c, int m)
{
	struct bnd_reply r;
	const char *v;
	size_t vlen;
	json_t *res, *ps;
	char *dump;

	ck_assert_int_eq(bnd_send(c, "infer", "{\"inputs\":[[1,2]]}", -1, NULL), 0);
	ck_assert_int_eq(bnd_recv(c, &r), 0);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(bnd_result_cut(c, &r, "per_sample", &res, &v, &vlen), 0);
	ck_assert_ptr_nonnull(v);
	ck_assert(json_is_null(json_object_get(res, "per_sample")));
	ck_assert_int_eq(json_integer_value(json_object_get(res, "m")), m);
	ck_assert_str_eq(json_string_value(json_object_get(res, "after")), "x\"]}{");
	ck_assert_double_eq(json_real_value(json_array_get(json_array_get(
		json_object_get(res, "mean"), 0), 1)), 0.75);
	json_decref(res);
	/* the text cut out is the member's value, whole */
	ps = json_loadb(v, vlen, 0, NULL);
	ck_assert_ptr_nonnull(ps);
	ck_assert_int_eq(json_array_size(json_array_get(ps, 0)), m);
	dump = json_dumps(json_array_get(json_array_get(ps, 0), m - 1), JSON_COMPACT);
	ck_assert_str_eq(dump, "[0.25,0.75]");
	free(dump);
	json_decref(ps);
	/* absent: decoded as bnd_result, no text */
	ck_assert_int_eq(bnd_result_cut(c, &r, "nosuch", &res, &v, &vlen), 0);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(json_array_size(json_array_get(json_object_get(res, "per_sample"), 0)), m);
	json_decref(res);
}

START_TEST(t_result_cut)
{
	struct bnd *c = bnd_new();
	struct bnd_reply r;
	const char *v;
	size_t vlen;
	json_t *res;

	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	check_cut(c, 1);
	ck_assert_int_eq(bnd_connect(c, sock_path, 1, 0), 0);
	check_cut(c, 1);
	big_m = 200000;		/* a reply of about 3 MB */
	check_cut(c, big_m);
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	check_cut(c, big_m);
	/* an error reply is an error, whatever is cut */
	ck_assert_int_eq(bnd_send(c, "unload", NULL, -1, NULL), 0);
	ck_assert_int_eq(bnd_recv(c, &r), 0);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(bnd_result_cut(c, &r, "per_sample", &res, &v, &vlen), -EREMOTEIO);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(bnd_last_error(c)->name, "no_model");
	bnd_free(c);
}
END_TEST

START_TEST(t_pass_fd)
{
	char path[128];
	struct bnd *c = bnd_new();
	json_t *res, *rq, *prm = json_pack("{s:s,s:b}", "name", "toy", "fd", 1);
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/model", dir);
	f = fopen(path, "w");
	fputs("model bytes", f);
	fclose(f);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	ck_assert_int_eq(bnd_call(c, "load", prm, fd, &res), 0);
	/* the daemon read the descriptor that came with the load line */
	ck_assert_str_eq(json_string_value(json_object_get(res, "data")), "model bytes");
	ck_assert_int_eq(fd_line, 1);
	json_decref(res);
	rq = request(1);
	ck_assert(json_is_true(json_object_get(json_object_get(rq, "params"), "fd")));
	json_decref(rq);
	/* ours stays open: the client sent a duplicate */
	ck_assert_int_eq(fcntl(fd, F_GETFD), 0);
	lseek(fd, 0, SEEK_SET);
	/* a bad descriptor is refused before anything is sent */
	ck_assert_int_eq(bnd_call(c, "load", prm, 1000, &res), -EBADF);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "descriptor 1000"));
	ck_assert_int_eq(nrequests(), 2);

	/* non-blocking: the descriptor waits for its line's turn */
	fd_line = -1;
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, BND_NONBLOCK), 0);
	ck_assert_int_eq(bnd_call(c, "load", prm, fd, &res), 0);
	ck_assert_str_eq(json_string_value(json_object_get(res, "data")), "model bytes");
	ck_assert_int_eq(fd_line, 3);	/* after this connection's hello (2) */
	json_decref(res);
	close(fd);
	unlink(path);
	json_decref(prm);
	bnd_free(c);
}
END_TEST

START_TEST(t_nonblocking)
{
	struct bnd *c = bnd_new();
	struct pollfd pf;
	struct bnd_reply r;
	json_t *res;
	int n, total = 0;

	ck_assert_int_eq(bnd_connect(c, sock_path, 1, BND_NONBLOCK), 0);
	/* nothing read yet: no reply, not even the hello's */
	ck_assert_int_eq(bnd_recv(c, &r), -EAGAIN);
	ck_assert_int_eq(bnd_send(c, "status", NULL, -1, NULL), 0);
	ck_assert_int_eq(bnd_flush(c), 0);
	/* read 5 bytes at a time: the replies come whole all the same */
	pf = (struct pollfd){ .fd = bnd_fd(c), .events = POLLIN };
	while (total < 2) {
		ck_assert_int_eq(poll(&pf, 1, 5000), 1);
		n = bnd_read(c, 5);
		if (n == -EAGAIN)
			continue;
		ck_assert_int_ge(n, 1);
		ck_assert_int_le(n, 5);
		while (bnd_recv(c, &r) == 0) {
			ck_assert_int_eq(r.id, total);	/* the hello is 0 */
			ck_assert_int_eq(r.ok, 1);
			if (!total) {
				ck_assert_int_eq(bnd_result(c, &r, &res), 0);
				ck_assert_str_eq(json_string_value(json_object_get(res, "server")), "bnnaccd");
				json_decref(res);
			}
			total++;
		}
	}
	ck_assert_int_eq(bnd_read(c, 0), -EAGAIN);
	/* bnd_call waits all the same */
	ck_assert_int_eq(bnd_call(c, "stats", NULL, -1, &res), 0);
	json_decref(res);
	bnd_free(c);
}
END_TEST

START_TEST(t_end_of_connection)
{
	struct bnd *c = bnd_new();
	struct bnd_reply r;
	json_t *res;

	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	ck_assert_int_eq(bnd_call(c, "quit", NULL, -1, &res), -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "closed the connection without replying"));
	ck_assert_int_eq(bnd_recv(c, &r), -ECONNRESET);
	ck_assert_int_eq(bnd_connect(c, sock_path, 2, 0), 0);
	ck_assert_int_eq(bnd_call(c, "cut", NULL, -1, &res), -EPROTO);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "in the middle of a reply"));
	bnd_close(c);
	ck_assert_int_eq(bnd_fd(c), -1);
	ck_assert_int_eq(bnd_call(c, "status", NULL, -1, &res), -ENOTCONN);
	bnd_free(c);
}
END_TEST

START_TEST(t_connect_errors)
{
	struct bnd *c = bnd_new();
	char p[200];

	snprintf(p, sizeof(p), "%s/nosuch", dir);
	ck_assert_int_eq(bnd_connect(c, p, 2, 0), -ENOENT);
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), "is bnnaccd running?"));
	ck_assert_ptr_nonnull(strstr(bnd_errmsg(c), p));
	memset(p, 'a', sizeof(p) - 1);
	p[sizeof(p) - 1] = 0;
	ck_assert_int_eq(bnd_connect(c, p, 2, 0), -ENAMETOOLONG);
	ck_assert_int_eq(bnd_fd(c), -1);
	ck_assert_int_eq(bnd_send(c, "x", NULL, -1, NULL), -ENOTCONN);
	bnd_free(c);
}
END_TEST

START_TEST(t_b64)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char in[300], back[300];
	char out[BND_B64_LEN(300) + 1];
	size_t i, n;
	unsigned s = 7;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		ck_assert_uint_eq(bnd_b64_encode(vec[i][0], strlen(vec[i][0]), out),
				  strlen(vec[i][1]));
		ck_assert_str_eq(out, vec[i][1]);
	}
	/* every length, through the daemon's decoder */
	for (n = 0; n < sizeof(in); n++) {
		for (i = 0; i < n; i++)
			in[i] = (unsigned char)(rand_r(&s) >> 7);
		ck_assert_uint_eq(bnd_b64_encode(in, n, out), BND_B64_LEN(n));
		ck_assert_int_eq(proto_b64_decode(out, strlen(out), back), (long)n);
		ck_assert_mem_eq(in, back, n);
	}
}
END_TEST

START_TEST(t_clock)
{
	struct timespec ts = { 0, 20000000 };
	double a = bnd_now(), b;

	nanosleep(&ts, NULL);
	b = bnd_now();
	ck_assert(b - a >= 0.019);
	ck_assert(b - a < 5);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("bnnaccd client");
	TCase *t = tcase_create("fake daemon"), *u = tcase_create("helpers");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, t_call_v2);
	tcase_add_test(t, t_call_v1);
	tcase_add_test(t, t_version_refused);
	tcase_add_test(t, t_pipelined);
	tcase_add_test(t, t_result_cut);
	tcase_add_test(t, t_pass_fd);
	tcase_add_test(t, t_nonblocking);
	tcase_add_test(t, t_end_of_connection);
	tcase_add_test(t, t_connect_errors);
	tcase_add_test(u, t_b64);
	tcase_add_test(u, t_clock);
	suite_add_tcase(s, t);
	suite_add_tcase(s, u);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
