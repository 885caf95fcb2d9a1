// SPDX-License-Identifier: MIT
/*
 * bnnaccd - clients: the listening socket (or systemd's), each client's
 * line framing, its fair turn on the loop and back-pressure both ways
 * (reading stops while its replies pile up or the queue is full), the
 * privilege check and the dispatch of each request.
 */
#include "bnnaccd.h"

static void throttle(struct client *cl);
static void fds_close(struct client *cl, uint64_t upto);

/* Send @j (stolen) as one line, as it is. */
void send_line_json(struct client *cl, json_t *j)
{
	size_t len;
	char *s = proto_dump(j, &len);

	if (!s)
		return;
	if (cl && cl->bev && !cl->drop) {
		bufferevent_write(cl->bev, s, len);
		throttle(cl);
	}
	free(s);
}

/* Send the reply @j (stolen, version 1 form) in the client's framing. */
void send_json(struct client *cl, json_t *j)
{
	if (cl && cl->rpc && !(j = proto_to_rpc(j)))
		return;		/* the reply to a JSON-RPC notification */
	send_line_json(cl, j);
}

void send_err(struct daemon *d, struct client *cl, json_t *id,
		     enum proto_err e, const char *msg)
{
	d->errs[e]++;
	send_json(cl, proto_error(id, e, msg));
}

static int admin_op(enum proto_op op)
{
	return op == OP_LOAD || op == OP_UNLOAD || op == OP_CALIBRATE || op == OP_RESET ||
	       op == OP_CHECK;
}

static void handle_line(struct client *cl, const char *line, size_t len)
{
	struct daemon *d = cl->d;
	struct proto_req r;
	char msg[256];
	enum proto_err e = proto_parse(line, len, &r, msg, sizeof(msg));

	/* before the hello, replies take the framing of the request */
	if (!cl->hello)
		cl->rpc = r.rpc;
	if (e != E_OK) {
		if (e == E_VERSION) {
			json_t *j = proto_error(r.id, e, msg);

			json_object_set_new(j, "version", json_integer(PROTO_VERSION));
			json_object_set_new(j, "versions", json_pack("[i,i]", PROTO_VERSION_MIN,
								     PROTO_VERSION));
			d->errs[e]++;
			send_json(cl, j);
			cl->bad = 1;
		} else {
			send_err(d, cl, r.id, e, msg);
		}
		proto_req_free(&r);
		return;
	}
	d->req[r.op]++;
	if (r.op == OP_HELLO) {
		json_t *j = proto_ok(r.id);

		/* the version the client asked for: 2 speaks JSON-RPC 2.0 from now on */
		cl->hello = 1;
		cl->rpc = r.version >= 2;
		json_object_set_new(j, "version", json_integer(r.version));
		json_object_set_new(j, "server", json_string("bnnaccd"));
		json_object_set_new(j, "admin", json_boolean(cl->admin));
		send_json(cl, j);
	} else if (!cl->hello) {
		send_err(d, cl, r.id, E_HANDSHAKE,
			 "send a hello first: {\"op\":\"hello\",\"version\":1} or "
			 "{\"jsonrpc\":\"2.0\",\"method\":\"hello\",\"params\":{\"version\":2},\"id\":0}");
	} else if (admin_op(r.op) && !cl->admin) {
		send_err(d, cl, r.id, E_PERM, "needs uid 0 or the admin group");
	} else if (admin_op(r.op) && d->draining) {
		send_err(d, cl, r.id, E_SHUTDOWN, "daemon is shutting down");
	} else {
		switch (r.op) {
		case OP_INFER: do_infer(d, cl, &r); break;
		case OP_LOAD: do_load(d, cl, &r); break;
		case OP_UNLOAD: do_unload(d, cl, &r); break;
		case OP_CALIBRATE:
		case OP_RESET:
		case OP_CHECK: do_cards_op(d, cl, &r); break;
		case OP_STATS: do_stats(d, cl, &r); break;
		case OP_METRICS: do_metrics(d, cl, &r); break;
		default: do_info(d, cl, &r); break;
		}
	}
	proto_req_free(&r);
}

/* accept() ran out of descriptors or memory: stop listening (the socket is
 * level-triggered: retrying at once would spin) until a client goes away or
 * a second has passed; new clients wait in the listen backlog meanwhile. */
static void accept_error(struct evconnlistener *l, void *arg)
{
	struct daemon *d = arg;
	int e = EVUTIL_SOCKET_ERROR();

	evconnlistener_disable(l);
	if (!d->lis_paused && now_s() - d->lis_pause_t > 10)
		logmsg(LOG_WARNING, "accept: %s; not accepting until descriptors free up (%u clients)",
		       strerror(e), d->nclients);
	d->lis_paused = 1;
	d->lis_pause_t = now_s();
}

void accept_resume(struct daemon *d)
{
	if (!d->lis_paused || !d->lis)
		return;
	d->lis_paused = 0;
	evconnlistener_enable(d->lis);
}

static void drop_job(struct sched_item *it, void *arg)
{
	(void)arg;
	job_free((struct job *)it);
}

void client_free(struct client *cl)
{
	struct daemon *d = cl->d;
	struct pending *p;
	unsigned i, k;

	sched_drain_client(&d->sq, &cl->sq, drop_job, NULL);
	for (i = 0; i < MAX_CARDS; i++)	/* in flight: answered to nobody */
		for (k = 0; d->card[i] && k < d->card[i]->njobs; k++)
			if (d->card[i]->jobs[k]->cl == cl)
				d->card[i]->jobs[k]->cl = NULL;
	for (p = d->pend; p; p = p->next)
		if (p->cl == cl)
			p->cl = NULL;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		d->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	d->nclients--;
	if (cl->qwait)
		d->nqwait--;
	if (cl->line_fd >= 0)
		close(cl->line_fd);
	fds_close(cl, UINT64_MAX);
	event_free(cl->ev_read);
	evbuffer_free(cl->in);
	bufferevent_free(cl->bev);
	free(cl);
	accept_resume(d);
}

/* Close the descriptors @cl passed that no request took. */
static void fds_close(struct client *cl, uint64_t upto)
{
	unsigned i, k = 0;

	for (i = 0; i < cl->nfds; i++) {
		if (cl->fds[i].off <= upto)
			close(cl->fds[i].fd);
		else
			cl->fds[k++] = cl->fds[i];
	}
	cl->nfds = k;
}

int client_take_fd(struct client *cl)
{
	int fd = cl->line_fd;

	cl->line_fd = -1;
	return fd;
}

/*
 * Read what the socket has (recvmsg: descriptors passed with SCM_RIGHTS are
 * kept with the stream offset of the bytes they came with, so a request
 * line takes the descriptors sent with it). Returns the bytes read, 0 at
 * EOF, or -1 (errno set).
 */
static ssize_t client_recv(struct client *cl, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * CLIENT_MAX_FDS)];
	} ctl;
	struct evbuffer *in = cl->in;
	struct evbuffer_iovec v;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;

	if (evbuffer_reserve_space(in, 64 << 10, &v, 1) < 1) {
		errno = ENOMEM;
		return -1;
	}
	iov.iov_base = v.iov_base;
	iov.iov_len = v.iov_len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t i, k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			if (cl->nfds < CLIENT_MAX_FDS) {
				cl->fds[cl->nfds].fd = fds[i];
				cl->fds[cl->nfds++].off = cl->rx;
			} else {
				close(fds[i]);
			}
		}
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(in, &v, 1);
	cl->rx += (uint64_t)n;
	return n;
}

/* Reading @cl's socket is wanted now: not held back, its input not full. */
static int client_wants_input(const struct client *cl)
{
	return !cl->bad && !cl->throttled && !cl->qwait && !cl->drop &&
	       evbuffer_get_length(cl->in) < IN_HIGH;
}

void client_rearm(struct client *cl)
{
	if (client_wants_input(cl))
		event_add(cl->ev_read, NULL);
	else
		event_del(cl->ev_read);
}

void client_resume(struct client *cl)
{
	client_rearm(cl);
	event_active(cl->ev_read, 0, 0);	/* the requests already buffered */
}

/* The lines buffered, within the client's turn on the loop. */
static void client_lines(struct client *cl)
{
	struct evbuffer *in = cl->in;
	double t_end = now_s() + TURN_S;
	unsigned lines = 0;

	while (!cl->bad && !cl->throttled && !cl->qwait && !cl->drop) {
		size_t eol;
		struct evbuffer_ptr pos;

		if (lines++ == TURN_LINES || (lines > 1 && now_s() > t_end)) {
			/* yield to the other clients; come back after them */
			event_active(cl->ev_read, 0, 0);
			break;
		}
		pos = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (pos.pos < 0) {
			size_t have = evbuffer_get_length(in);

			if (have > PROTO_MAX_LINE) {
				if (!cl->discarding)
					send_err(cl->d, cl, NULL, E_TOO_LARGE,
						 "request line over 1 MiB");
				cl->discarding = 1;
				evbuffer_drain(in, have);
				cl->done += have;
				fds_close(cl, cl->done);
			}
			break;
		}
		cl->done += (uint64_t)pos.pos + 1;
		/* the first descriptor passed with this line's bytes */
		if (cl->nfds && cl->fds[0].off < cl->done) {
			cl->line_fd = cl->fds[0].fd;
			memmove(cl->fds, cl->fds + 1, --cl->nfds * sizeof(cl->fds[0]));
		}
		if (cl->discarding || (size_t)pos.pos > PROTO_MAX_LINE) {
			if (!cl->discarding)
				send_err(cl->d, cl, NULL, E_TOO_LARGE, "request line over 1 MiB");
			cl->discarding = 0;
		} else {
			const char *line = (const char *)evbuffer_pullup(in, pos.pos + 1);

			handle_line(cl, line, (size_t)pos.pos);
		}
		evbuffer_drain(in, (size_t)pos.pos + 1);
		if (cl->line_fd >= 0)	/* passed with a request that took none */
			close(client_take_fd(cl));
		fds_close(cl, cl->done - 1);
	}
}

static void client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	if ((what & EV_READ) && client_wants_input(cl)) {
		ssize_t n = client_recv(cl, fd);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_free(cl);
			return;
		}
	}
	client_lines(cl);
	if (!cl->drop)
		client_rearm(cl);
}

/*
 * Called after every reply queued to @cl: past OUT_HIGH unsent bytes stop
 * reading its requests (client_write resumes at OUT_LOW); past MAX_OUTBUF
 * the client is dropped at the next tick (not here: the caller may be
 * walking the client list or a card's batch).
 */
static void throttle(struct client *cl)
{
	size_t out = evbuffer_get_length(bufferevent_get_output(cl->bev));

	if (out > MAX_OUTBUF) {
		logmsg(LOG_WARNING, "client pid %d does not read its replies (%zu bytes unsent); dropped",
		       (int)cl->pid, out);
		cl->drop = 1;
		bufferevent_disable(cl->bev, EV_WRITE);
		event_del(cl->ev_read);
	} else if (out > OUT_HIGH && !cl->throttled) {
		cl->throttled = 1;
		event_del(cl->ev_read);
		bufferevent_setwatermark(cl->bev, EV_WRITE, OUT_LOW, 0);
	}
}

static void client_write(struct bufferevent *bev, void *arg)
{
	struct client *cl = arg;
	size_t out = evbuffer_get_length(bufferevent_get_output(bev));

	if (cl->bad && out == 0) {
		client_free(cl);
		return;
	}
	if (cl->throttled && out <= OUT_LOW && !cl->drop) {
		cl->throttled = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!cl->qwait)
			client_resume(cl);
	}
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct daemon *d = arg;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct client *cl;
	gid_t agid;

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) ||
	    !(cl = calloc(1, sizeof(*cl)))) {
		close(fd);
		return;
	}
	cl->d = d;
	cl->uid = uc.uid;
	cl->gid = uc.gid;
	cl->pid = uc.pid;
	cl->admin = uc.uid == 0 ||
		    (!group_gid(d->cfg.admin_group, &agid) &&
		     peer_in_group(fd, uc.gid, agid));
	cl->line_fd = -1;
	/* the bufferevent writes; reading is client_read_cb's (recvmsg) */
	cl->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, client_read_cb, cl);
	cl->in = evbuffer_new();
	if (!cl->bev || !cl->ev_read || !cl->in) {
		if (cl->in)
			evbuffer_free(cl->in);
		if (cl->ev_read)
			event_free(cl->ev_read);
		if (cl->bev)
			bufferevent_free(cl->bev);
		else
			close(fd);
		free(cl);
		return;
	}
	sched_client_init(&cl->sq);
	bufferevent_setcb(cl->bev, NULL, client_write, client_event, cl);
	bufferevent_enable(cl->bev, EV_WRITE);
	event_add(cl->ev_read, NULL);
	cl->next = d->clients;
	if (d->clients)
		d->clients->prev = cl;
	d->clients = cl;
	d->nclients++;
}

/*
 * systemd socket activation (sd_listen_fds(3), by hand): the listening
 * socket passed as fd 3 when $LISTEN_PID is ours and $LISTEN_FDS is 1.
 * Returns the fd, or -1 when the daemon was not socket-activated.
 */
static int activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int fd = 3, fl;

	if (!pid || !n || strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strtol(n, NULL, 10) != 1) {
		logmsg(LOG_WARNING, "socket activation with %s sockets: ignored (bnnaccd.socket "
		       "passes one)", n);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
		return -1;
	return fd;
}

int listen_socket(struct daemon *d)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], *slash;
	gid_t gid;
	int fd = activated_fd();

	if (fd >= 0) {
		logmsg(LOG_INFO, "socket from systemd (socket activation)");
		d->lis = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
		return d->lis ? 0 : -ENOMEM;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(d->cfg.socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, d->cfg.socket);
	strcpy(dir, d->cfg.socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir_p(dir, 0755);
	}
	/* a socket left by a daemon that died is removed; one that answers
	 * belongs to a live daemon (another state directory): leave it */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || errno == EAGAIN) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(sa.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
		int e = -errno;

		close(fd);
		return e;
	}
	if (!group_gid(d->cfg.socket_group, &gid)) {
		if (chown(sa.sun_path, 0, gid))
			logmsg(LOG_WARNING, "chown %s: %s", sa.sun_path, strerror(errno));
	} else {
		logmsg(LOG_NOTICE, "group %s does not exist: socket is root-only",
		       d->cfg.socket_group);
	}
	chmod(sa.sun_path, 0660);
	d->lis = evconnlistener_new(d->base, accept_cb, d, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!d->lis)
		return -ENOMEM;
	evconnlistener_set_error_cb(d->lis, accept_error);
	return 0;
}
