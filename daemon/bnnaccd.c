// SPDX-License-Identifier: MIT
/*
 * bnnaccd - the bnnacc card daemon: serves Bayesian inference on every
 * /dev/bnnacc* card to local clients over a Unix socket (docs/protocol.md).
 *
 * One libevent loop owns every client, the fair request queues (dsched.c),
 * the model, the state directory and the metrics. Each card has one worker
 * thread, because the library's card calls (transfer, inference) block; the
 * loop hands a card one unit of work at a time (a batch of requests' inputs
 * concatenated into one bnnacc_infer call, or a (re)programming) and the
 * worker reports completion through a pipe the loop watches.
 */
#include "bnnaccd.h"

static int all_idle(struct daemon *d)
{
	unsigned i;

	for (i = 0; i < MAX_CARDS; i++)
		if (d->card[i] && d->card[i]->busy)
			return 0;
	return d->sq.pending == 0 && !d->pend;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct client *cl;

	(void)fd;
	(void)what;
	for (cl = d->clients; cl;) {	/* clients that never read their replies */
		struct client *nx = cl->next;

		if (cl->drop)
			client_free(cl);
		cl = nx;
	}
	if (d->lis_paused && now_s() - d->lis_pause_t >= 1)
		accept_resume(d);
	expire(d);
	if (now_s() - d->last_scan > 2)
		rescan(d);
	if (!d->sim)
		nl_setup(d);
	kick(d);
	if (!d->draining)
		return;
	if (all_idle(d)) {
		for (cl = d->clients; cl; cl = cl->next)
			if (evbuffer_get_length(bufferevent_get_output(cl->bev)))
				break;
		if (!cl || now_s() - d->drain_start > 60)
			event_base_loopbreak(d->base);
	}
}

static void reload(struct daemon *d)
{
	struct config c;
	char err[512];
	int i;

	config_defaults(&c);
	if (d->cfg_path && config_load(&c, d->cfg_path, err, sizeof(err))) {
		logmsg(LOG_ERR, "reload: %s (keeping the old configuration)", err);
		return;
	}
	for (i = 0; i < d->nover; i++)
		config_set(&c, d->over[i], d->over[i] + strlen(d->over[i]) + 1);
	snprintf(c.socket, sizeof(c.socket), "%s", d->cfg.socket);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", d->cfg.state_dir);
	d->cfg = c;
	d->sq.max = c.max_queue;
	logmsg(LOG_INFO, "configuration reloaded");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		sd_notify_msg("RELOADING=1");
		reload(d);
		sd_notify_msg("READY=1");
		return;
	}
	if (d->draining)
		return;
	logmsg(LOG_INFO, "draining and exiting");
	sd_notify_msg("STOPPING=1");
	d->draining = 1;
	d->drain_start = now_s();
	if (d->lis) {
		evconnlistener_free(d->lis);
		d->lis = NULL;
		unlink(d->cfg.socket);
	}
}

static void shutdown_all(struct daemon *d)
{
	unsigned i, busy;
	struct card *c;

	while (d->clients)
		client_free(d->clients);
	fcntl(d->notify_fd[0], F_SETFL, 0);
	for (;;) {	/* let units in flight finish */
		for (i = 0, busy = 0; i < MAX_CARDS; i++)
			busy += d->card[i] && d->card[i]->busy;
		if (!busy || read(d->notify_fd[0], &c, sizeof(c)) != sizeof(c))
			break;
		c->busy = 0;
		if (c->wkind == W_INFER)
			infer_done(d, c);
		else if (c->wkind == W_QUIT)
			card_free(d, c);
		else if (c->wkind != W_CHECK)
			program_done(d, c);
	}
	for (i = 0; i < MAX_CARDS; i++) {
		c = d->card[i];
		if (!c)
			continue;
		post(c, W_QUIT);
		card_free(d, c);
	}
	for (i = 0; i < d->nmodels; i++)
		model_put(d->models[i]);
	for (i = 0; i < d->nsaved; i++)
		model_put(d->saved[i]);
	if (d->http)
		evhttp_free(d->http);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	while (d->pend) {
		struct pending *p = d->pend;

		d->pend = p->next;
		json_decref(p->cards);
		json_decref(p->id);
		free(p);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bnnaccd [-f] [-c CONFIG] [-s SOCKET] [-d STATE_DIR] [-o KEY=VALUE]...\n"
		"               [--sim[=SEED] [--sim-cards N]]\n"
		"  -f             foreground, log to stderr\n"
		"  --sim[=SEED]   serve simulated cards in this process (the emulated card's\n"
		"                 physics, no device nodes, no VM), manufactured from SEED\n"
		"                 (default 1) + the card's index\n"
		"  --sim-cards N  how many simulated cards (1..%d, default 1)\n", MAX_CARDS);
}

int main(int argc, char **argv)
{
	static struct daemon dd;
	struct daemon *d = &dd;
	char err[512], dir[1100];
	const char *sock = NULL, *state = NULL;
	int opt, fg = 0, ret;
	long holder;

	static const struct option lo[] = {
		{ "sim", optional_argument, NULL, 'S' },
		{ "sim-cards", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;

	config_defaults(&d->cfg);
	d->sim_cards = 1;
	d->sim_seed = 1;
	while ((opt = getopt_long(argc, argv, "fc:s:d:o:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'S':
			d->sim = 1;
			if (optarg) {
				errno = 0;
				d->sim_seed = strtoull(optarg, &end, 0);
				if (!*optarg || *end || errno) {
					fprintf(stderr, "bnnaccd: --sim=%s: not a seed (a whole number)\n",
						optarg);
					return 2;
				}
			}
			break;
		case 'N':
			d->sim_cards = (unsigned)strtoul(optarg, &end, 10);
			if (!*optarg || *end || !d->sim_cards || d->sim_cards > MAX_CARDS) {
				fprintf(stderr, "bnnaccd: --sim-cards %s: 1..%d\n", optarg, MAX_CARDS);
				return 2;
			}
			break;
		case 'f': fg = 1; break;
		case 'c': d->cfg_path = optarg; break;
		case 's': sock = optarg; break;
		case 'd': state = optarg; break;
		case 'o': if (d->nover < 32) d->over[d->nover++] = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	log_init(fg);
	if (d->cfg_path && config_load(&d->cfg, d->cfg_path, err, sizeof(err))) {
		logmsg(LOG_ERR, "%s", err);
		return 1;
	}
	for (opt = 0; opt < d->nover; opt++) {
		char *eq = strchr(d->over[opt], '=');

		if (!eq) {
			usage(stderr);
			return 2;
		}
		*eq = 0;
		if (config_set(&d->cfg, d->over[opt], eq + 1)) {
			logmsg(LOG_ERR, "bad option %s", d->over[opt]);
			return 2;
		}
	}
	if (sock)
		config_set(&d->cfg, "socket", sock);
	if (state)
		config_set(&d->cfg, "state_dir", state);
	snprintf(dir, sizeof(dir), "%.1000s/models", d->cfg.state_dir);
	if ((ret = mkdir_p(dir, 0700))) {
		logmsg(LOG_ERR, "%s: %s", dir, strerror(-ret));
		return 1;
	}
	if ((ret = lock_state(d->cfg.state_dir, &d->lock_fd, &holder))) {
		if (ret == -EBUSY)
			logmsg(LOG_ERR, "state directory %s is in use by another bnnaccd (pid %ld)",
			       d->cfg.state_dir, holder);
		else
			logmsg(LOG_ERR, "%s/bnnaccd.lock: %s", d->cfg.state_dir, strerror(-ret));
		return 1;
	}
	logmsg(LOG_INFO, "up to %d open files", raise_nofile());
	signal(SIGPIPE, SIG_IGN);
	d->t_start = now_s();
	sched_init(&d->sq, d->cfg.max_queue);
	d->base = event_base_new();
	if (!d->base || pipe2(d->notify_fd, O_CLOEXEC | O_NONBLOCK)) {
		logmsg(LOG_ERR, "event base: %s", strerror(errno));
		return 1;
	}
	if ((ret = listen_socket(d))) {
		logmsg(LOG_ERR, "socket %s: %s", d->cfg.socket,
		       ret == -EADDRINUSE ? "another daemon is serving on it" : strerror(-ret));
		return 1;
	}
	if (http_setup(d))
		return 1;
	watchdog_setup(d);
	d->ev_notify = event_new(d->base, d->notify_fd[0], EV_READ | EV_PERSIST, notify_cb, d);
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, tick_cb, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
	d->ev_int = evsignal_new(d->base, SIGINT, signal_cb, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, signal_cb, d);
	event_add(d->ev_notify, NULL);
	event_add(d->ev_tick, &(struct timeval){ 0, 100000 });
	event_add(d->ev_term, NULL);
	event_add(d->ev_int, NULL);
	event_add(d->ev_hup, NULL);
	state_restore(d);
	rescan(d);
	if (!d->sim)
		nl_setup(d);
	kick(d);
	logmsg(LOG_INFO, "serving on %s (%u cards, state %s)", d->cfg.socket,
	       live_cards(d), d->cfg.state_dir);
	sd_notify_msg("READY=1");
	event_base_dispatch(d->base);
	shutdown_all(d);
	logmsg(LOG_INFO, "exited cleanly");
	return 0;
}
