// SPDX-License-Identifier: MIT
/*
 * client.c - the C client of bnnaccd's protocol (client.h, docs/protocol.md).
 *
 * Requests are written into an output buffer and sent from it (with
 * MSG_NOSIGNAL: a daemon gone is an error, not a signal); a descriptor
 * rides with the first byte of its line in a sendmsg() of its own. Replies
 * are read into an input buffer and cut at '\n' in place. Telling a
 * result from an error or a notification, and reading the id, looks at the
 * line's top-level members only, stopping as soon as it knows: a reply of
 * megabytes (infer's per_sample) is not walked, let alone decoded, unless
 * the caller asks.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IN_MIN		4096		/* first input buffer */
#define IN_ROOM		1024		/* free space a read wants at least */
#define LINE_MAX_B	((size_t)1 << 30)	/* a reply line longer is refused */

struct bnd {
	int fd;
	int version;
	unsigned flags;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int64_t next_id;
	/* output: bytes [ooff, olen) of out wait; ofd goes with byte ofd_at */
	char *out;
	size_t olen, ooff, ocap, ofd_at;
	int ofd;
	/* input: [ioff, ilen) unread; no '\n' in [ioff, iscan) */
	char *in;
	size_t ilen, ioff, iscan, icap;
	int eof;
	int hello_wait;		/* non-blocking: the hello's reply not received */
	bnd_notify_fn *notify;
	void *notify_arg;
	/* the last error reply: err's strings point into err_reply */
	json_t *err_reply, *err_data;
	struct bnd_error err;
	char err_name[24];
	char msg[512];
};

static int fail(struct bnd *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct bnd *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return err;
}

double bnd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

size_t bnd_b64_encode(const void *in, size_t n, char *out)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = t[(v >> 6) & 63];
		out[o++] = t[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = t[v >> 18];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

/* ---- the object ------------------------------------------------------------ */

struct bnd *bnd_new(void)
{
	struct bnd *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = -1;
	c->ofd = -1;
	c->next_id = 1;
	return c;
}

static void err_clear(struct bnd *c)
{
	json_decref(c->err_reply);
	json_decref(c->err_data);
	c->err_reply = c->err_data = NULL;
	memset(&c->err, 0, sizeof(c->err));
}

void bnd_close(struct bnd *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->ofd >= 0)
		close(c->ofd);
	c->fd = c->ofd = -1;
	c->olen = c->ooff = c->ofd_at = 0;
	c->ilen = c->ioff = c->iscan = 0;
	c->eof = 0;
	c->hello_wait = 0;
}

void bnd_free(struct bnd *c)
{
	if (!c)
		return;
	bnd_close(c);
	err_clear(c);
	free(c->out);
	free(c->in);
	free(c);
}

int bnd_fd(const struct bnd *c)
{
	return c->fd;
}

const char *bnd_errmsg(const struct bnd *c)
{
	return c->msg[0] ? c->msg : "no error";
}

const struct bnd_error *bnd_last_error(const struct bnd *c)
{
	return &c->err;
}

void bnd_on_notify(struct bnd *c, bnd_notify_fn *fn, void *arg)
{
	c->notify = fn;
	c->notify_arg = arg;
}

/* ---- sending ----------------------------------------------------------------- */

static int out_put(struct bnd *c, const char *s, size_t n)
{
	if (c->olen + n > c->ocap) {
		size_t cap = c->ocap ? c->ocap : 1024;
		char *p;

		while (cap < c->olen + n)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p)
			return fail(c, -ENOMEM, "out of memory for a request of %zu bytes", c->olen + n);
		c->out = p;
		c->ocap = cap;
	}
	memcpy(c->out + c->olen, s, n);
	c->olen += n;
	return 0;
}

static int wait_fd(struct bnd *c, short ev)
{
	struct pollfd pf = { .fd = c->fd, .events = ev };

	while (poll(&pf, 1, -1) < 0)
		if (errno != EINTR)
			return fail(c, -errno, "poll: %s", strerror(errno));
	return 0;
}

static int send_error(struct bnd *c, int e)
{
	if (e == EPIPE || e == ECONNRESET)
		return fail(c, -e, "%s: bnnaccd closed the connection (did it exit? see its log)",
			    c->path);
	return fail(c, -e, "%s: cannot send to bnnaccd: %s", c->path, strerror(e));
}

int bnd_flush(struct bnd *c)
{
	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to bnnaccd (bnd_connect first)");
	while (c->ooff < c->olen) {
		ssize_t w;

		if (c->ofd >= 0 && c->ooff == c->ofd_at) {
			union {
				char buf[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} u;
			struct iovec iov = { c->out + c->ooff, c->olen - c->ooff };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &c->ofd, sizeof(int));
			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
			if (w > 0) {
				close(c->ofd);
				c->ofd = -1;
			}
		} else {
			size_t end = c->ofd >= 0 && c->ofd_at > c->ooff ? c->ofd_at : c->olen;

			w = send(c->fd, c->out + c->ooff, end - c->ooff, MSG_NOSIGNAL);
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (w < 0)
			return send_error(c, errno);
		c->ooff += (size_t)w;
	}
	c->olen = c->ooff = 0;
	return 0;
}

/* The bytes [start, olen) the caller wrote are a line; @fd goes with them. */
static int queue_line(struct bnd *c, size_t start, int fd)
{
	if (fd >= 0) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (d < 0) {
			c->olen = start;
			return fail(c, -errno, "cannot pass descriptor %d to bnnaccd: %s", fd,
				    strerror(errno));
		}
		c->ofd = d;
		c->ofd_at = start;
	}
	return 0;
}

static int check_send(struct bnd *c, int fd)
{
	int ret;

	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to bnnaccd (bnd_connect first)");
	if (fd >= 0 && c->ofd >= 0) {	/* one descriptor at a time */
		if (c->flags & BND_NONBLOCK)
			return fail(c, -EBUSY, "a descriptor is still waiting to be sent: "
				    "bnd_flush() until it returns 0 first");
		if ((ret = bnd_flush(c)))
			return ret;
	}
	return 0;
}

int bnd_send(struct bnd *c, const char *method, const char *params, int fd, int64_t *id)
{
	char head[160];
	const char *p, *m;
	size_t start = c->olen;
	int64_t n;
	int ret, k;

	if ((ret = check_send(c, fd)))
		return ret;
	for (m = method; *m; m++)
		if (*m == '"' || *m == '\\' || (unsigned char)*m < 0x20)
			return fail(c, -EINVAL, "method name '%s': not a bnnaccd method", method);
	p = params;
	if (p) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '{' || strchr(p, '\n'))
			return fail(c, -EINVAL, "%s: params must be a JSON object on one line",
				    method);
	}
	n = c->next_id++;
	if (c->version == 1) {		/* {"op":M,"id":N,<params' members>} */
		k = snprintf(head, sizeof(head), "{\"op\":\"%s\",\"id\":%" PRId64, method, n);
		if (k < 0 || (size_t)k >= sizeof(head))
			return fail(c, -EINVAL, "method name '%.40s...' too long", method);
		if (p) {
			const char *q = p + 1;

			while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
				q++;
			ret = out_put(c, head, (size_t)k);
			if (!ret && *q != '}')
				ret = out_put(c, ",", 1);
			if (!ret)
				ret = out_put(c, q, strlen(q));
		} else {
			ret = out_put(c, head, (size_t)k);
			if (!ret)
				ret = out_put(c, "}", 1);
		}
	} else {			/* JSON-RPC 2.0 */
		k = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"%s", method,
			     p ? ",\"params\":" : "");
		if (k < 0 || (size_t)k >= sizeof(head))
			return fail(c, -EINVAL, "method name '%.40s...' too long", method);
		ret = out_put(c, head, (size_t)k);
		if (!ret && p)
			ret = out_put(c, p, strlen(p));
		if (!ret) {
			k = snprintf(head, sizeof(head), ",\"id\":%" PRId64 "}", n);
			ret = out_put(c, head, (size_t)k);
		}
	}
	if (!ret)
		ret = out_put(c, "\n", 1);
	if (ret) {
		c->olen = start;
		return ret;
	}
	if (id)
		*id = n;
	return queue_line(c, start, fd);
}

int bnd_send_raw(struct bnd *c, const char *line, size_t len, int fd)
{
	size_t start = c->olen;
	int ret;

	if ((ret = check_send(c, fd)))
		return ret;
	ret = out_put(c, line, len);
	if (!ret)
		ret = out_put(c, "\n", 1);
	if (ret) {
		c->olen = start;
		return ret;
	}
	return queue_line(c, start, fd);
}

/* ---- receiving ------------------------------------------------------------- */

static int eof_error(struct bnd *c)
{
	if (c->ilen > c->ioff && c->in[c->ilen - 1] != '\n')
		return fail(c, -EPROTO, "%s: bnnaccd closed the connection in the middle of a "
			    "reply (%zu bytes of it came; did it exit? see its log)", c->path,
			    c->ilen - c->ioff);
	return fail(c, -ECONNRESET, "%s: bnnaccd closed the connection without replying "
		    "(did it exit? see its log)", c->path);
}

int bnd_read(struct bnd *c, size_t max)
{
	size_t room;
	ssize_t n;

	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected to bnnaccd (bnd_connect first)");
	if (c->eof)
		return eof_error(c);
	if (c->ioff == c->ilen)
		c->ioff = c->ilen = c->iscan = 0;
	if (c->icap - c->ilen < IN_ROOM && c->ioff) {	/* move the unread part down */
		memmove(c->in, c->in + c->ioff, c->ilen - c->ioff);
		c->ilen -= c->ioff;
		c->iscan -= c->ioff;
		c->ioff = 0;
	}
	if (c->icap - c->ilen < IN_ROOM) {
		size_t cap = c->icap ? 2 * c->icap : IN_MIN;
		char *p;

		if (c->ilen > LINE_MAX_B)
			return fail(c, -EMSGSIZE, "%s: a reply line of over %zu bytes: not bnnaccd's?",
				    c->path, LINE_MAX_B);
		p = realloc(c->in, cap);
		if (!p)
			return fail(c, -ENOMEM, "out of memory for a reply of %zu bytes", cap);
		c->in = p;
		c->icap = cap;
	}
	room = c->icap - c->ilen;
	if (max && max < room)
		room = max;
	do
		n = recv(c->fd, c->in + c->ilen, room, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n < 0) {
		if (errno == ECONNRESET) {
			c->eof = 1;
			return eof_error(c);
		}
		return fail(c, -errno, "%s: cannot read from bnnaccd: %s", c->path, strerror(errno));
	}
	if (n == 0) {
		c->eof = 1;
		return eof_error(c);
	}
	c->ilen += (size_t)n;
	return (int)n;
}

/* The next complete line of the buffer (its '\n' made a NUL), or -EAGAIN. */
static int pop_line(struct bnd *c, char **line, size_t *len)
{
	size_t from = c->iscan > c->ioff ? c->iscan : c->ioff;
	char *nl = from < c->ilen ? memchr(c->in + from, '\n', c->ilen - from) : NULL;

	if (!nl) {
		c->iscan = c->ilen;
		return -EAGAIN;
	}
	*line = c->in + c->ioff;
	*len = (size_t)(nl - *line);
	*nl = 0;
	c->ioff = c->iscan = (size_t)(nl - c->in) + 1;
	return 0;
}

/* ---- looking at a line without decoding it ------------------------------- */

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* After the string at @p ('"'), or NULL. */
static const char *skip_string(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* After the JSON value at @p, or NULL when it does not end before @e. */
static const char *skip_value(const char *p, const char *e)
{
	int depth = 0;

	if (p >= e)
		return NULL;
	if (*p == '"')
		return skip_string(p, e);
	if (*p != '{' && *p != '[') {
		while (p < e && !memchr(",}] \t\r\n", *p, 8))
			p++;
		return p;
	}
	for (; p < e; p++) {
		switch (*p) {
		case '"':
			p = skip_string(p, e);
			if (!p)
				return NULL;
			p--;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return p + 1;
			break;
		}
	}
	return NULL;
}

/*
 * Walk the members of the object at @p: for each, @fn(ctx, key, keylen,
 * value start) returns 1 to stop (the value is not walked), 0 to go on.
 * Returns 0 when stopped or at the end, -1 when the text is not an object.
 */
static int members(const char *p, const char *e,
		   int (*fn)(void *, const char *, size_t, const char *), void *ctx)
{
	p = skip_ws(p, e);
	if (p >= e || *p != '{')
		return -1;
	p = skip_ws(p + 1, e);
	if (p < e && *p == '}')
		return 0;
	while (p < e) {
		const char *k = p, *ke;

		if (*p != '"' || !(ke = skip_string(p, e)))
			return -1;
		p = skip_ws(ke, e);
		if (p >= e || *p != ':')
			return -1;
		p = skip_ws(p + 1, e);
		if (fn(ctx, k + 1, (size_t)(ke - k - 2), p))
			return 0;
		if (!(p = skip_value(p, e)))
			return -1;
		p = skip_ws(p, e);
		if (p < e && *p == '}')
			return 0;
		if (p >= e || *p != ',')
			return -1;
		p = skip_ws(p + 1, e);
	}
	return -1;
}

static int key_is(const char *k, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(k, want, n);
}

/* What a line is: the start of its id, result, error, ok and method values. */
struct top {
	const char *id, *result, *error, *ok, *method;
};

static int top_member(void *ctx, const char *k, size_t n, const char *v)
{
	struct top *t = ctx;

	if (key_is(k, n, "id"))
		t->id = v;
	else if (key_is(k, n, "result"))
		t->result = v;
	else if (key_is(k, n, "error"))
		t->error = v;
	else if (key_is(k, n, "ok"))
		t->ok = v;
	else if (key_is(k, n, "method"))
		t->method = v;
	/* known once the id and the kind are: no need to walk a large result */
	return t->id && (t->result || t->error || t->ok);
}

static void classify(const char *line, size_t len, struct top *t)
{
	memset(t, 0, sizeof(*t));
	members(line, line + len, top_member, t);
}

static int64_t id_value(const char *v)
{
	char *end;
	long long x;

	if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
		return -1;
	errno = 0;
	x = strtoll(v, &end, 10);
	return errno || end == v || *end == '.' || *end == 'e' || *end == 'E' ? -1 : (int64_t)x;
}

static void notify(struct bnd *c, const char *line, size_t len)
{
	json_t *j;

	if (!c->notify)
		return;
	j = json_loadb(line, len, 0, NULL);
	if (json_is_string(json_object_get(j, "method")))
		c->notify(c->notify_arg, json_string_value(json_object_get(j, "method")),
			  json_object_get(j, "params"));
	json_decref(j);
}

int bnd_recv(struct bnd *c, struct bnd_reply *r)
{
	for (;;) {
		struct top t;
		char *line;
		size_t len;
		int ret;

		if (c->fd < 0)
			return fail(c, -ENOTCONN, "not connected to bnnaccd (bnd_connect first)");
		if (pop_line(c, &line, &len)) {
			if (c->eof)
				return eof_error(c);
			if (c->flags & BND_NONBLOCK)
				return -EAGAIN;
			if (c->olen > c->ooff && (ret = bnd_flush(c)))	/* what it waits for */
				return ret;
			ret = bnd_read(c, 0);
			if (ret < 0)
				return ret;
			continue;
		}
		classify(line, len, &t);
		if (t.method && !t.id) {	/* a notification */
			notify(c, line, len);
			continue;
		}
		r->line = line;
		r->len = len;
		r->id = id_value(t.id);
		r->ok = t.result || (t.ok && !strncmp(t.ok, "true", 4));
		if (r->id == 0)
			c->hello_wait = 0;
		return 0;
	}
}

/* ---- decoding -------------------------------------------------------------- */

/* Keep the error reply @j (taken) as the last error; -EREMOTEIO. */
static int remote_error(struct bnd *c, json_t *j, json_t *e, json_t *data, int code)
{
	json_t *name;

	err_clear(c);
	c->err_reply = j;
	c->err_data = data;
	c->err.code = code;
	c->err.message = json_string_value(json_object_get(e, "message"));
	if (!c->err.message)
		c->err.message = "(no message)";
	name = code ? json_object_get(data, "code") : json_object_get(e, "code");
	c->err.name = json_string_value(name);
	if (!c->err.name) {	/* not bnnaccd's: its JSON-RPC code */
		snprintf(c->err_name, sizeof(c->err_name), "%d", code);
		c->err.name = c->err_name;
	}
	c->err.data = data;
	return fail(c, -EREMOTEIO, "bnnaccd: %s: %s", c->err.name, c->err.message);
}

static int decode(struct bnd *c, const char *s, size_t n, json_t **result)
{
	json_error_t je;
	json_t *j = json_loadb(s, n, 0, &je), *v, *e;

	*result = NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return fail(c, -EPROTO, "%s: a reply that is not a JSON object (%s at byte %d): "
			    "is this bnnaccd's socket?", c->path, j ? "not an object" : je.text,
			    j ? 0 : je.position);
	}
	if ((v = json_object_get(j, "result"))) {
		*result = json_incref(v);
		json_decref(j);
		return 0;
	}
	e = json_object_get(j, "error");
	if (json_object_get(j, "jsonrpc")) {	/* version 2 */
		if (!json_is_object(e)) {
			json_decref(j);
			return fail(c, -EPROTO, "%s: a JSON-RPC reply without result or error",
				    c->path);
		}
		v = json_object_get(e, "data");
		return remote_error(c, j, e, json_incref(v),
				    (int)json_integer_value(json_object_get(e, "code")));
	}
	json_object_del(j, "id");
	if (json_is_true(json_object_get(j, "ok"))) {
		json_object_del(j, "ok");
		*result = j;
		return 0;
	}
	/* version 1 error: its other fields are the data */
	v = json_deep_copy(j);
	json_object_del(v, "ok");
	json_object_del(v, "error");
	return remote_error(c, j, e, v, 0);
}

int bnd_result(struct bnd *c, const struct bnd_reply *r, json_t **result)
{
	return decode(c, r->line, r->len, result);
}

struct find {
	const char *key, *v;
};

static int find_member(void *ctx, const char *k, size_t n, const char *v)
{
	struct find *f = ctx;

	if (!key_is(k, n, f->key))
		return 0;
	f->v = v;
	return 1;
}

int bnd_result_cut(struct bnd *c, const struct bnd_reply *r, const char *key,
		   json_t **result, const char **val, size_t *vlen)
{
	const char *e = r->line + r->len, *ve;
	struct find f = { key, NULL };
	struct top t;
	size_t a, b;
	char *s;
	int ret;

	*val = NULL;
	*vlen = 0;
	*result = NULL;
	classify(r->line, r->len, &t);
	if (t.result)		/* version 2: the member is in "result" */
		members(t.result, e, find_member, &f);
	else if (t.ok && !strncmp(t.ok, "true", 4))
		members(r->line, e, find_member, &f);
	if (!f.v || !(ve = skip_value(f.v, e)))
		return bnd_result(c, r, result);
	a = (size_t)(f.v - r->line);
	b = (size_t)(e - ve);
	s = malloc(a + 4 + b);
	if (!s)
		return fail(c, -ENOMEM, "out of memory decoding a reply of %zu bytes", r->len);
	memcpy(s, r->line, a);
	memcpy(s + a, "null", 4);
	memcpy(s + a + 4, ve, b);
	ret = decode(c, s, a + 4 + b, result);
	free(s);
	if (!ret) {
		*val = f.v;
		*vlen = (size_t)(ve - f.v);
	}
	return ret;
}

/* ---- calls and the connection ----------------------------------------------- */

static int call_text(struct bnd *c, const char *method, const char *params, int fd,
		     json_t **result)
{
	struct bnd_reply r;
	int hello_wait = c->hello_wait;
	int64_t id;
	int ret;

	*result = NULL;
	ret = bnd_send(c, method, params, fd, &id);
	while (ret == 0 && (ret = bnd_flush(c)) == -EAGAIN)
		ret = wait_fd(c, POLLOUT);
	if (ret)
		return ret;
	for (;;) {
		ret = bnd_recv(c, &r);
		if (ret == -EAGAIN) {	/* non-blocking */
			if ((ret = wait_fd(c, POLLIN)))
				return ret;
			ret = bnd_read(c, 0);
			if (ret < 0 && ret != -EAGAIN)
				return ret;
			continue;
		}
		if (ret)
			return ret;
		if (r.id == 0 && id != 0 && hello_wait) {	/* non-blocking connect's */
			hello_wait = 0;
			if (!r.ok)
				return bnd_result(c, &r, result);
			continue;
		}
		if (r.id != id && r.id != -1)	/* (-1: the reply to a line not parsed) */
			return fail(c, -EPROTO, "%s: a reply to request %" PRId64 " while waiting "
				    "for %" PRId64 " (bnd_call with requests in flight?)", c->path,
				    r.id, id);
		return bnd_result(c, &r, result);
	}
}

int bnd_call(struct bnd *c, const char *method, json_t *params, int fd, json_t **result)
{
	char *p = NULL;
	int ret;

	if (params) {
		if (!json_is_object(params)) {
			*result = NULL;
			return fail(c, -EINVAL, "%s: params must be a JSON object", method);
		}
		p = json_dumps(params, JSON_COMPACT | JSON_REAL_PRECISION(9));
		if (!p) {
			*result = NULL;
			return fail(c, -ENOMEM, "%s: cannot serialise the request", method);
		}
	}
	ret = call_text(c, method, p, fd, result);
	free(p);
	return ret;
}

int bnd_connect(struct bnd *c, const char *path, int version, unsigned flags)
{
	struct sockaddr_un sa;
	char params[32];
	json_t *res = NULL;
	int fd, ret, e;

	bnd_close(c);
	c->msg[0] = 0;
	if (version != 1 && version != 2)
		return fail(c, -EINVAL, "protocol version %d: bnnaccd speaks 1 and 2", version);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(c, -ENAMETOOLONG, "socket path %s: longer than %zu bytes", path,
			    sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	strcpy(c->path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (flags & BND_NONBLOCK ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return fail(c, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		e = errno;
		close(fd);
		return fail(c, -e, "cannot connect to bnnaccd at %s: %s%s", path, strerror(e),
			    e == ENOENT ? " (is bnnaccd running? is this its socket?)" :
			    e == ECONNREFUSED ? " (a stale socket: bnnaccd is not running)" :
			    e == EACCES ? " (the socket is for group bnnacc: are you in it?)" :
			    e == EAGAIN ? " (its listen backlog is full: try again)" : "");
	}
	c->fd = fd;
	c->flags = flags;
	c->version = version;
	c->next_id = 0;		/* the hello is 0 */
	snprintf(params, sizeof(params), "{\"version\":%d}", version);
	if (flags & BND_NONBLOCK) {
		ret = bnd_send(c, "hello", params, -1, NULL);
		if (!ret && (ret = bnd_flush(c)) == -EAGAIN)
			ret = 0;
		if (ret)
			bnd_close(c);
		c->hello_wait = !ret;
		return ret;
	}
	ret = call_text(c, "hello", params, -1, &res);
	if (!ret && json_integer_value(json_object_get(res, "version")) != version)
		ret = fail(c, -EPROTO, "%s: the hello's reply is not version %d's: is this "
			   "bnnaccd's socket?", path, version);
	json_decref(res);
	if (ret == -EREMOTEIO)
		fail(c, ret, "bnnaccd at %s refused the hello (version %d): %s: %s", path, version,
		     c->err.name, c->err.message);
	if (ret)
		bnd_close(c);
	return ret;
}
