/* SPDX-License-Identifier: MIT */
/*
 * bnnaccd.h - the daemon's state and the functions its files share.
 *
 * One libevent loop (bnnaccd.c) owns everything here; card worker threads
 * (cards.c) touch only their own struct card's unit of work.
 */
#ifndef BNNACCD_H
#define BNNACCD_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/http.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <bnnacc/bnnacc.h>

#include "proto.h"
#include "dsched.h"
#include "util.h"

#define MAX_CARDS	64
/*
 * Output buffering per client: past OUT_HIGH bytes of unsent replies the
 * daemon stops reading the client's requests (the client's writes block:
 * back-pressure) until they drain to OUT_LOW; replies of requests already
 * accepted can still grow it, and a client past MAX_OUTBUF is dropped.
 */
#define OUT_HIGH	(128u << 10)
#define OUT_LOW		(32u << 10)
#define MAX_OUTBUF	(16u << 20)
/*
 * Fairness of the loop: one client's read callback handles at most
 * TURN_LINES requests or TURN_S seconds of work, then yields (its callback
 * is re-armed behind the other ready clients); its unread input is bounded
 * by IN_HIGH (beyond, the client's writes block).
 */
#define TURN_LINES	16
#define TURN_S		0.002
#define IN_HIGH		(PROTO_MAX_LINE + (64u << 10))
/* a batch is cut to about BATCH_S seconds of the card's measured time per
 * input, so one batch never holds a newly queued request back for long */
#define BATCH_S		0.25
#define BATCH_FIRST	16
#define BATCH_MIN	8
#define NBUCKETS	14

/* upper bounds of the infer latency histogram's buckets, seconds (metrics.c) */
extern const double lat_bounds[NBUCKETS];

struct client;

struct dmodel {
	int refs;
	char name[PROTO_NAME_LEN];
	struct bnnacc_model *m;
	size_t size;
	unsigned gen;
	unsigned want_m;	/* networks asked by `load` (0: the config's) */
};

/* one infer request */
struct job {
	struct sched_item si;	/* first: queued on the client's queue */
	struct client *cl;	/* NULL once the client is gone */
	json_t *id;
	float *x;
	unsigned n, dim, samples, outputs, retries;
	double t0, deadline;
};

enum work { W_NONE, W_INFER, W_PROGRAM, W_RESET, W_CHECK, W_QUIT };

/* programmings of one model a card reset may cut short before it counts as failed */
#define PROGRAM_RETRIES 3

struct card {
	struct daemon *d;
	int slot, index, busy, gone, need_program, force_cal, failed_gen;
	char path[64];
	struct bnnacc_dev *dev;		/* a real card, or NULL */
	struct bnnacc_sim *sim;		/* a simulated card (--sim), or NULL */
	struct bnnacc_card card;
	struct bnnacc_calib cal;
	int have_cal;
	struct bnnacc_net *net;
	unsigned prog_gen, m, nl;
	double gamma[BNNACC_MODEL_MAX_LAYERS];	/* of the net, copied by the loop */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* the unit of work; written by the loop before posting, by the worker
	 * before notifying (the pipe orders the two) */
	enum work work, wkind;
	int rc, wforce, want_reset;
	char err[256], warn[256];
	struct dmodel *wmodel;
	unsigned wgen;
	struct job **jobs;
	unsigned njobs, jcap, n;
	float *x;
	size_t xcap;
	struct bnnacc_result res;
	double t_post;
	/* drift: a check of the reference cells is due; what the last found */
	int want_check, refreshed;
	double last_check;
	struct bnnacc_drift drift, found;	/* now; what the check found */
	/* statistics */
	uint64_t batches, inputs, errors, programs;
	uint64_t foreign_programs;	/* PROGRAMMED events not of ours */
	unsigned prog_retries;		/* programmings cut by a reset, in a row */
	double busy_s;
	double s_per_input;	/* moving average of a batch's time per input */
};

/* an admin request waiting for cards (load, calibrate, reset) */
struct pending {
	struct pending *next;
	struct client *cl;
	json_t *id;
	enum proto_op op;
	uint64_t mask;
	unsigned total;		/* cards it waits for, at the start */
	json_t *cards;
};

struct client {
	struct daemon *d;
	struct client *next, *prev;
	struct bufferevent *bev;
	struct sched_client sq;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int hello, admin, bad, discarding;
	int rpc;		/* version 2: JSON-RPC 2.0 framing both ways */
	int throttled;		/* reading stopped: too many unsent replies */
	int qwait;		/* reading stopped: got `busy`, waits for room */
	int drop;		/* over MAX_OUTBUF: freed at the next tick */
	uint64_t serial;
};

struct daemon {
	struct config cfg;
	const char *cfg_path;
	char *over[32];		/* -o KEY=VALUE overrides, re-applied on SIGHUP */
	int nover;
	struct event_base *base;
	struct evconnlistener *lis;
	int lis_paused;		/* accept() ran out of descriptors */
	unsigned nqwait;	/* clients with qwait set */
	double lis_pause_t;
	int lock_fd;		/* <state_dir>/bnnaccd.lock, flock()ed */
	struct event *ev_notify, *ev_tick, *ev_term, *ev_hup, *ev_int, *ev_nl;
	int notify_fd[2];
	struct nl_sock *nl;
	struct sched sq;
	struct client *clients;
	unsigned nclients;
	struct card *card[MAX_CARDS];
	struct dmodel *model;
	/* a load in progress: model is the candidate and prev the model it
	 * replaces once a card has programmed it (kept, stored and served
	 * again if none can) */
	struct dmodel *prev;
	int loading;
	unsigned gen;
	struct pending *pend;
	int draining;
	double t_start, drain_start, last_scan;
	uint64_t lease_warned;	/* card indices whose lease was busy, logged */
	int sim;		/* --sim: simulated cards, no device nodes */
	struct evhttp *http;	/* metrics_http, or NULL */
	struct event *ev_watchdog;	/* WATCHDOG=1 to systemd, or NULL */
	unsigned sim_cards;
	uint64_t sim_seed;
	uint64_t req[OP__COUNT], errs[E__COUNT], infer_inputs, retries;
	uint64_t lat_bucket[NBUCKETS + 1];
	double lat_sum;
	uint64_t lat_count;
};

/* clients.c: client I/O, back-pressure, dispatch, the listening socket */
void send_line_json(struct client *cl, json_t *j);
void send_json(struct client *cl, json_t *j);
void send_err(struct daemon *d, struct client *cl, json_t *id,
		     enum proto_err e, const char *msg);
void accept_resume(struct daemon *d);
void client_free(struct client *cl);
int listen_socket(struct daemon *d);

/* models.c: models, the state directory, admin requests waiting for cards */
void model_put(struct dmodel *m);
void state_restore(struct daemon *d);
json_t *gamma_json(const struct card *c);
json_t *drift_json(const struct card *c);
void progress(struct pending *p, struct card *c, const char *stage, json_t *extra);
void progress_start(struct daemon *d, struct card *c, enum work w);
void pending_card_done(struct daemon *d, struct card *c, int rc,
			      const char *err, int ck);
void do_load(struct daemon *d, struct client *cl, struct proto_req *r);
void do_unload(struct daemon *d, struct client *cl, struct proto_req *r);
void do_cards_op(struct daemon *d, struct client *cl, struct proto_req *r);

/* cards.c: cards and their worker threads */
void post(struct card *c, enum work w);
void card_gone(struct card *c);
void card_free(struct daemon *d, struct card *c);
int card_vanished(const struct card *c);
struct card *card_by_index(struct daemon *d, int index);
void rescan(struct daemon *d);
unsigned live_cards(struct daemon *d);
void program_done(struct daemon *d, struct card *c);
void notify_cb(evutil_socket_t fd, short what, void *arg);
void kick(struct daemon *d);

/* infer.c: infer requests, batches and replies */
void job_free(struct job *j);
int batch(struct daemon *d, struct card *c);
void infer_done(struct daemon *d, struct card *c);
void do_infer(struct daemon *d, struct client *cl, struct proto_req *r);
void expire(struct daemon *d);

/* metrics.c: status, statistics, metrics (socket and HTTP), the systemd watchdog */
void do_info(struct daemon *d, struct client *cl, struct proto_req *r);
void do_stats(struct daemon *d, struct client *cl, struct proto_req *r);
void do_metrics(struct daemon *d, struct client *cl, struct proto_req *r);
void watchdog_setup(struct daemon *d);
int http_setup(struct daemon *d);

/* netlink.c: the driver's generic netlink events */
void nl_setup(struct daemon *d);

#endif /* BNNACCD_H */
