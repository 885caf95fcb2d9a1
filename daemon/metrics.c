// SPDX-License-Identifier: MIT
/*
 * bnnaccd - what the daemon tells about itself: status, cards, models,
 * stats, the Prometheus exposition (on the socket and the optional HTTP
 * listener) and the systemd watchdog.
 */
#include "bnnaccd.h"

const double lat_bounds[NBUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
};

/* The PCI address of the card behind /dev/bnnaccN (sysfs), or "". */
static void card_pci(const struct card *c, char *buf, size_t len)
{
	const char *node = strrchr(c->path, '/');
	char link[300], target[300];
	ssize_t n;

	*buf = 0;
	if (c->sim)
		return;
	snprintf(link, sizeof(link), "/sys/class/bnnacc/%s/device", node ? node + 1 : c->path);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = 0;
	node = strrchr(target, '/');
	snprintf(buf, len, "%.63s", node ? node + 1 : target);
}

static json_t *card_json(struct daemon *d, struct card *c)
{
	double up = now_s() - d->t_start;
	json_t *models = json_array();
	char pci[64];
	unsigned i;

	card_pci(c, pci, sizeof(pci));
	for (i = 0; i < c->nnets; i++)
		json_array_append_new(models, json_pack("{s:s,s:i,s:o}", "name",
			c->nets[i].model->name, "m", (int)c->nets[i].m, "gamma",
			gamma_json(&c->nets[i])));
	return json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:I,s:I,s:I,s:f,s:f,s:b,s:o}",
		"index", c->index, "path", c->path, "pci", pci,
		"serial", "", "state", c->busy ? "busy" : c->nnets ? "ready" :
		c->nfailed ? "failed" : "idle",
		"m", (int)card_m(c), "gamma", gamma_json(card_net(c, model_default(d))),
		"models", models,
		"batches", (json_int_t)c->batches, "inputs", (json_int_t)c->inputs,
		"errors", (json_int_t)c->errors, "busy_s", c->busy_s,
		"utilization", up > 0 ? c->busy_s / up : 0.0,
		"calibrated", c->have_cal, "drift", drift_json(c));
}

void do_info(struct daemon *d, struct client *cl, struct proto_req *r)
{
	json_t *o = proto_ok(r->id), *a;
	unsigned i;
	char ser[32];

	switch (r->op) {
	case OP_STATUS:
		json_object_set_new(o, "version", json_integer(PROTO_VERSION));
		json_object_set_new(o, "uptime_s", json_real(now_s() - d->t_start));
		json_object_set_new(o, "cards", json_integer(live_cards(d)));
		json_object_set_new(o, "model", model_default(d) ?
				    json_string(model_default(d)->name) : json_null());
		json_object_set_new(o, "models", json_integer(d->nmodels));
		json_object_set_new(o, "queue", json_integer(d->sq.pending));
		json_object_set_new(o, "clients", json_integer(d->nclients));
		json_object_set_new(o, "admin", json_boolean(cl->admin));
		break;
	case OP_CARDS:
		a = json_array();
		for (i = 0; i < MAX_CARDS; i++) {
			struct card *c = d->card[i];
			json_t *cj;

			if (!c || c->gone)
				continue;
			cj = card_json(d, c);
			snprintf(ser, sizeof(ser), "%016llx",
				 (unsigned long long)c->card.info.serial);
			json_object_set_new(cj, "serial", json_string(ser));
			json_array_append_new(a, cj);
		}
		json_object_set_new(o, "cards", a);
		break;
	case OP_MODELS:
		a = json_array();
		for (i = 0; i < d->nmodels; i++) {
			struct dmodel *dm = d->models[i];
			unsigned k, n = 0, m = 0;
			json_t *e;

			for (k = 0; k < MAX_CARDS; k++) {
				struct card *c = d->card[k];
				struct cnet *cn = c && !c->gone ? card_net(c, dm) : NULL;

				n += !!cn;
				m += cn ? cn->m : 0;
			}
			e = json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:i,s:i,s:b}",
				"name", dm->name, "inputs", (int)dm->m->n_inputs,
				"classes", (int)dm->m->n_classes, "layers", (int)dm->m->n_layers,
				"kind", dm->m->kind ? "samples" : "gauss",
				"bytes", (json_int_t)dm->size, "cards", (int)n, "m", (int)m,
				"default", i + 1 == d->nmodels);
			/* a load in progress: the candidate, and what it replaces */
			if (d->loading && dm == d->cand)
				json_object_set_new(e, "state", json_string("loading"));
			if (d->loading && dm == d->cand) {
				char rep[MAX_MODELS * (PROTO_NAME_LEN + 2)] = "";
				size_t w = 0;

				for (k = 0; k < d->nsaved; k++)
					if (model_index(d, d->saved[k]) < 0)
						w += (size_t)snprintf(rep + w, sizeof(rep) - w, "%s%s",
								      w ? ", " : "", d->saved[k]->name);
				if (w)
					json_object_set_new(e, "replaces", json_string(rep));
			}
			json_array_append_new(a, e);
		}
		json_object_set_new(o, "models", a);
		break;
	default:
		break;
	}
	send_json(cl, o);
}

void do_stats(struct daemon *d, struct client *cl, struct proto_req *r)
{
	json_t *o = proto_ok(r->id), *req = json_object(), *err = json_object();
	unsigned i;

	for (i = 0; i < OP__COUNT; i++)
		json_object_set_new(req, proto_op_name(i), json_integer((json_int_t)d->req[i]));
	for (i = 1; i < E__COUNT; i++)
		json_object_set_new(err, proto_err_name(i), json_integer((json_int_t)d->errs[i]));
	json_object_set_new(o, "requests", req);
	json_object_set_new(o, "errors", err);
	json_object_set_new(o, "infer_inputs", json_integer((json_int_t)d->infer_inputs));
	json_object_set_new(o, "retries", json_integer((json_int_t)d->retries));
	json_object_set_new(o, "queue", json_integer(d->sq.pending));
	json_object_set_new(o, "clients", json_integer(d->nclients));
	json_object_set_new(o, "latency_count", json_integer((json_int_t)d->lat_count));
	json_object_set_new(o, "latency_sum_s", json_real(d->lat_sum));
	send_json(cl, o);
}

/* A metric family's header: # HELP and # TYPE. */
static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The per-card families, each with every card's sample under it. */
enum { CM_UTIL, CM_QUEUE, CM_BATCHES, CM_INPUTS, CM_ERRORS, CM_PROGRAMS, CM_M,
	CM_GAIN, CM_EXCESS, CM_CHECKS, CM_REFRESHES, CM_FOREIGN, CM__COUNT };

static const struct {
	const char *name, *type, *help;
} card_metrics[CM__COUNT] = {

	[CM_UTIL] = { "bnnaccd_card_utilization", "gauge",
		"Fraction of the daemon's uptime the card spent on work." },
	[CM_QUEUE] = { "bnnaccd_card_queue_depth", "gauge",
		"Requests in the batch the card is running." },
	[CM_BATCHES] = { "bnnaccd_card_batches_total", "counter",
		"Inference batches the card ran." },
	[CM_INPUTS] = { "bnnaccd_card_inputs_total", "counter",
		"Input vectors the card inferred." },
	[CM_ERRORS] = { "bnnaccd_card_errors_total", "counter",
		"Batches that failed on the card." },
	[CM_PROGRAMS] = { "bnnaccd_card_programs_total", "counter",
		"Programmings of the card (loads, resets, refreshes)." },
	[CM_M] = { "bnnaccd_card_networks", "gauge",
		"Sampled networks programmed on the card (M)." },
	[CM_GAIN] = { "bnnaccd_card_drift_gain", "gauge",
		"Gain the last drift check measured on the reference cells (1: none)." },
	[CM_EXCESS] = { "bnnaccd_card_drift_excess", "gauge",
		"Excess weight variance the relaxation added, at the last check." },
	[CM_CHECKS] = { "bnnaccd_card_drift_checks_total", "counter",
		"Drift checks of the reference cells." },
	[CM_REFRESHES] = { "bnnaccd_card_refreshes_total", "counter",
		"Reprogrammings a drift check advised." },
	[CM_FOREIGN] = { "bnnaccd_card_foreign_programs_total", "counter",
		"PROGRAMs of the card by another process (the daemon reprogrammed)." },
};

static double card_metric(const struct card *c, unsigned k, double up)
{
	switch (k) {
	case CM_UTIL: return up > 0 ? c->busy_s / up : 0.0;
	case CM_QUEUE: return c->busy ? c->njobs : 0;
	case CM_BATCHES: return (double)c->batches;
	case CM_INPUTS: return (double)c->inputs;
	case CM_ERRORS: return (double)c->errors;
	case CM_PROGRAMS: return (double)c->programs;
	case CM_M: return card_m(c);
	case CM_GAIN: return c->drift.checks ? c->drift.gain : 1.0;
	case CM_EXCESS: return c->drift.excess;
	case CM_CHECKS: return c->drift.checks;
	case CM_REFRESHES: return c->drift.refreshes;
	default: return (double)c->foreign_programs;
	}
}

/*
 * The Prometheus text exposition (version 0.0.4): every family once, with
 * # HELP and # TYPE, its samples together (`promtool check metrics` clean).
 */
static void metrics_text(struct daemon *d, struct evbuffer *b)
{
	double up = now_s() - d->t_start;
	uint64_t cum = 0;
	unsigned i, k;

	family(b, "bnnaccd_requests_total", "counter", "Requests received, by operation.");
	for (i = 0; i < OP__COUNT; i++)
		evbuffer_add_printf(b, "bnnaccd_requests_total{op=\"%s\"} %llu\n",
				    proto_op_name(i), (unsigned long long)d->req[i]);
	family(b, "bnnaccd_errors_total", "counter", "Error replies, by error code.");
	for (i = 1; i < E__COUNT; i++)
		evbuffer_add_printf(b, "bnnaccd_errors_total{code=\"%s\"} %llu\n",
				    proto_err_name(i), (unsigned long long)d->errs[i]);
	family(b, "bnnaccd_infer_inputs_total", "counter", "Input vectors in infer requests.");
	evbuffer_add_printf(b, "bnnaccd_infer_inputs_total %llu\n",
			    (unsigned long long)d->infer_inputs);
	family(b, "bnnaccd_retries_total", "counter",
	       "Infer requests run again after a card failed them.");
	evbuffer_add_printf(b, "bnnaccd_retries_total %llu\n", (unsigned long long)d->retries);
	family(b, "bnnaccd_queue_depth", "gauge", "Infer requests waiting for a card.");
	evbuffer_add_printf(b, "bnnaccd_queue_depth %u\n", d->sq.pending);
	family(b, "bnnaccd_clients", "gauge", "Connected clients.");
	evbuffer_add_printf(b, "bnnaccd_clients %u\n", d->nclients);
	family(b, "bnnaccd_uptime_seconds", "gauge", "Seconds since the daemon started.");
	evbuffer_add_printf(b, "bnnaccd_uptime_seconds %.3f\n", up);
	family(b, "bnnaccd_infer_latency_seconds", "histogram",
	       "Infer requests' time from arrival to reply.");
	for (i = 0; i < NBUCKETS; i++) {
		cum += d->lat_bucket[i];
		evbuffer_add_printf(b, "bnnaccd_infer_latency_seconds_bucket{le=\"%g\"} %llu\n",
				    lat_bounds[i], (unsigned long long)cum);
	}
	cum += d->lat_bucket[NBUCKETS];
	evbuffer_add_printf(b, "bnnaccd_infer_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "bnnaccd_infer_latency_seconds_sum %.6f\n"
			    "bnnaccd_infer_latency_seconds_count %llu\n",
			    (unsigned long long)cum, d->lat_sum,
			    (unsigned long long)d->lat_count);
	for (k = 0; k < CM__COUNT; k++) {
		family(b, card_metrics[k].name, card_metrics[k].type, card_metrics[k].help);
		for (i = 0; i < MAX_CARDS; i++) {
			struct card *c = d->card[i];

			if (c && !c->gone)
				evbuffer_add_printf(b, "%s{card=\"%d\"} %.10g\n", card_metrics[k].name,
						    c->index, card_metric(c, k, up));
		}
	}
}

void do_metrics(struct daemon *d, struct client *cl, struct proto_req *r)
{
	struct evbuffer *b = evbuffer_new();
	json_t *o = proto_ok(r->id);

	metrics_text(d, b);
	evbuffer_add(b, "", 1);
	json_object_set_new(o, "text", json_string((const char *)evbuffer_pullup(b, -1)));
	evbuffer_free(b);
	send_json(cl, o);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify_msg("WATCHDOG=1");
}

/*
 * systemd's watchdog (WatchdogSec=): WATCHDOG=1 from the event loop at half
 * the interval, so a loop that hangs gets the daemon restarted.
 */
void watchdog_setup(struct daemon *d)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long usec = us ? strtoll(us, NULL, 10) : 0;
	struct timeval tv;

	if (usec <= 0 || (pid && strtol(pid, NULL, 10) != (long)getpid()))
		return;
	usec /= 2;
	tv.tv_sec = usec / 1000000;
	tv.tv_usec = usec % 1000000;
	d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, watchdog_cb, d);
	if (d->ev_watchdog)
		event_add(d->ev_watchdog, &tv);
	sd_notify_msg("WATCHDOG=1");
	logmsg(LOG_INFO, "systemd watchdog: every %lld ms", usec / 1000);
}

/* HTTP GET /metrics (metrics_http): the same text, for a Prometheus scrape. */
static void http_cb(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b;

	if (!uri || (strcmp(uri, "/metrics") && strncmp(uri, "/metrics?", 9))) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_text(d, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* The HTTP listener of metrics_http (HOST:PORT); 0, or -1 (logged). */
int http_setup(struct daemon *d)
{
	char host[64], *colon;
	long port;

	if (!d->cfg.metrics_http[0])
		return 0;
	snprintf(host, sizeof(host), "%s", d->cfg.metrics_http);
	colon = strrchr(host, ':');
	port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (!colon || port <= 0 || port > 65535) {
		logmsg(LOG_ERR, "metrics_http %s: not HOST:PORT", d->cfg.metrics_http);
		return -1;
	}
	*colon = 0;
	d->http = evhttp_new(d->base);
	if (!d->http || evhttp_bind_socket(d->http, host, (uint16_t)port)) {
		logmsg(LOG_ERR, "metrics_http %s: cannot listen: %s", d->cfg.metrics_http,
		       strerror(errno));
		return -1;
	}
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(d->http, http_cb, d);
	logmsg(LOG_INFO, "metrics on http://%s/metrics", d->cfg.metrics_http);
	return 0;
}
