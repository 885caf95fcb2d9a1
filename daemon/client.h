/* SPDX-License-Identifier: MIT */
/*
 * client.h - the C client of bnnaccd (docs/protocol.md), used by bnnaccctl,
 * the demo and the VM bench's guest tools.
 *
 * One struct bnd is one connection. bnd_connect() dials the daemon's Unix
 * socket and says hello (version 2, JSON-RPC 2.0, or version 1); bnd_call()
 * sends one request and returns its result, or -EREMOTEIO with the daemon's
 * error in bnd_last_error(); progress notifications that arrive meanwhile go
 * to the callback of bnd_on_notify(). Load generators pipeline: bnd_send()
 * requests back to back (each gets an id), bnd_recv() the replies as raw
 * lines (with their id and whether they are a result), bnd_result() decodes
 * one when wanted, bnd_result_cut() leaves one large member undecoded for a
 * custom parser. A request line can carry a file descriptor (SCM_RIGHTS).
 *
 * Every function returning int returns 0 (or a byte count) on success and
 * -errno on failure; bnd_errmsg() then says what failed and what to do
 * about it. No global state: a struct bnd is used by one thread at a time,
 * different ones are independent.
 *
 * bnd_send() queues a request; bnd_flush() writes what is queued (a
 * pipeline goes out in few large writes: one send per line would take a
 * socket buffer's worth of kernel memory for a few hundred small lines).
 * Blocking (flags 0): bnd_connect() waits for the hello's reply, bnd_recv()
 * writes what is queued, then waits for the next reply; bnd_flush() waits
 * until all is written. BND_NONBLOCK, for poll() loops over many
 * connections: bnd_connect() fails with -EAGAIN while the daemon's listen
 * backlog is full and returns without waiting for the hello's reply (the
 * connection's first reply, id 0); bnd_flush() writes what the socket
 * takes (-EAGAIN while some is left: poll for POLLOUT); bnd_read() reads
 * what poll() announced and bnd_recv() hands out the complete lines read
 * so far (-EAGAIN when there is none). bnd_call() waits in both modes.
 */
#ifndef BNNACC_CLIENT_H
#define BNNACC_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct bnd;

#define BND_NONBLOCK	0x1u

/* a reply line; line and len stay valid until the next receive on its bnd */
struct bnd_reply {
	const char *line;	/* the line, NUL-terminated, without its '\n' */
	size_t len;
	int64_t id;		/* the request's id (bnd_send's), -1 if none */
	int ok;			/* 1: a result, 0: an error */
};

/* the daemon's error reply (docs/protocol.md, "Error codes") */
struct bnd_error {
	int code;		/* JSON-RPC code (version 2), 0 (version 1) */
	const char *name;	/* the version 1 code: "no_model", "busy", ... */
	const char *message;	/* the daemon's, names what to fix */
	json_t *data;		/* the other fields, e.g. load's "cards" */
};

typedef void bnd_notify_fn(void *arg, const char *method, json_t *params);

/* A connection object, not connected; NULL when out of memory. */
struct bnd *bnd_new(void);
/* Close the connection (if any) and free @c. */
void bnd_free(struct bnd *c);
/*
 * Connect @c to the socket @path and say hello in protocol @version (1 or
 * 2); a connected @c is closed first (ids start again at 1). 0, -EREMOTEIO
 * when the daemon refused the version, or -errno (-ENOENT: no daemon
 * there, -EACCES: not in its group, -EAGAIN: backlog full).
 */
int bnd_connect(struct bnd *c, const char *path, int version, unsigned flags);
/* Close the socket; @c can connect again. What is queued or unread is lost. */
void bnd_close(struct bnd *c);
/* The socket (for poll()), -1 when not connected. */
int bnd_fd(const struct bnd *c);
/* What the last failure was and what to do about it (one line). */
const char *bnd_errmsg(const struct bnd *c);
/* The daemon's last error reply (after -EREMOTEIO); valid until the next call. */
const struct bnd_error *bnd_last_error(const struct bnd *c);
/* Notifications (e.g. "progress") received on @c go to @fn (NULL: dropped). */
void bnd_on_notify(struct bnd *c, bnd_notify_fn *fn, void *arg);

/*
 * Send @method with @params (an object or NULL; borrowed; numbers with 9
 * significant digits) and @fd (-1, or a descriptor passed with the request
 * line, e.g. load's "fd": true), wait for the reply (notifications go to the
 * callback). 0 with *@result the result (new reference; in version 1 the
 * reply without "ok" and "id"), -EREMOTEIO (bnd_last_error()) or -errno.
 * Needs no other request in flight on @c.
 */
int bnd_call(struct bnd *c, const char *method, json_t *params, int fd, json_t **result);

/*
 * Pipelining. bnd_send: queue @method with @params, JSON text of an object
 * on one line without "op", "id" or "jsonrpc" (NULL: none), and @fd (-1 or
 * a descriptor, duplicated, sent with the line's first byte: one waits at a
 * time); *@id (if not NULL) gets the request's id. bnd_send_raw: queue the
 * bytes of @line (no newline) and a newline, as they are.
 */
int bnd_send(struct bnd *c, const char *method, const char *params, int fd, int64_t *id);
int bnd_send_raw(struct bnd *c, const char *line, size_t len, int fd);
/* Write what is queued: 0 when all is written, -EAGAIN (non-blocking) when not yet. */
int bnd_flush(struct bnd *c);
/*
 * Read at most @max bytes (0: what fits) of replies into @c's buffer. The
 * count read, -EAGAIN (non-blocking, nothing there), -ECONNRESET (the daemon
 * closed the connection), -EPROTO (it closed it in the middle of a reply
 * line) or -errno.
 */
int bnd_read(struct bnd *c, size_t max);
/*
 * The next reply into @r; notifications before it go to the callback.
 * Blocking: reads as needed. Non-blocking: -EAGAIN when no complete line
 * has been read (bnd_read). At the end: bnd_read's -ECONNRESET or -EPROTO.
 */
int bnd_recv(struct bnd *c, struct bnd_reply *r);
/* Decode @r: as bnd_call's result (0 with *@result, -EREMOTEIO, -EPROTO). */
int bnd_result(struct bnd *c, const struct bnd_reply *r, json_t **result);
/*
 * bnd_result, but the result's member @key is not decoded: it is null in
 * *@result and its JSON text is *@val, *@vlen bytes of @r's line (*@val is
 * NULL when the result has no @key). For a large member read faster by a
 * parser of its own (e.g. infer's per_sample).
 */
int bnd_result_cut(struct bnd *c, const struct bnd_reply *r, const char *key,
		   json_t **result, const char **val, size_t *vlen);

/* Base64 (RFC 4648, padded) of @n bytes into @out (BND_B64_LEN(@n) + 1
 * bytes, NUL-terminated); returns the length written. */
#define BND_B64_LEN(n)	(((n) + 2) / 3 * 4)
size_t bnd_b64_encode(const void *in, size_t n, char *out);
/* CLOCK_MONOTONIC in seconds. */
double bnd_now(void);

#endif /* BNNACC_CLIENT_H */
