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
/* descriptors a client may have passed (SCM_RIGHTS) and not yet used */
#define CLIENT_MAX_FDS	4
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

/* models resident on the array at once, each with its own tiles and M */
#define MAX_MODELS	8

/* a model (the loop's; a card's work holds references) */
struct dmodel {
	int refs;
	char name[PROTO_NAME_LEN];
	struct bnnacc_model *m;
	size_t size;
	unsigned gen;		/* changes whenever it must be programmed anew */
	unsigned want_m;	/* networks asked by `load` (0: the config's) */
};

/*
 * Adaptive sampling (`precision`): networks are run ADAPT_CHUNK at a time
 * and a request stops once, after at least ADAPT_MIN of them, every one of
 * its inputs has a predictive mean whose standard error and an entropy whose
 * change over the last chunk are both within the precision.
 */
#define ADAPT_CHUNK	8
#define ADAPT_MIN	16

/* one infer request */
struct job {
	struct sched_item si;	/* first: queued on the client's queue */
	struct client *cl;	/* NULL once the client is gone */
	json_t *id;
	float *x;
	char model[PROTO_NAME_LEN];	/* "": the default model, resolved at batch time */
	unsigned n, dim, samples, outputs, retries;
	double precision, abstain;
	double t0, deadline;
	unsigned m_used;	/* networks its answer used (the worker's) */
};

/* one model's networks on a card */
struct cnet {
	struct dmodel *model;	/* a reference */
	unsigned gen;		/* model->gen it was programmed at */
	struct bnnacc_net *net;
	unsigned m, nl;
	double gamma[BNNACC_MODEL_MAX_LAYERS];
};

enum work { W_NONE, W_INFER, W_PROGRAM, W_RESET, W_CHECK, W_QUIT };

/* programmings of one model a card reset may cut short before it counts as failed */
#define PROGRAM_RETRIES 3

struct card {
	struct daemon *d;
	int slot, index, busy, gone, need_program, force_cal;
	char path[64];
	struct bnnacc_dev *dev;		/* a real card, or NULL */
	struct bnnacc_sim *sim;		/* a simulated card (--sim), or NULL */
	struct bnnacc_card card;
	struct bnnacc_calib cal;
	int have_cal;
	/* the models it holds (the loop's: the worker changes wnets) */
	struct cnet nets[MAX_MODELS];
	unsigned nnets;
	unsigned failed[MAX_MODELS];	/* generations it failed to program */
	unsigned nfailed;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* the unit of work; written by the loop before posting, by the worker
	 * before notifying (the pipe orders the two) */
	enum work work, wkind;
	int rc, wforce, want_reset;
	char err[256], warn[256];
	/*
	 * W_PROGRAM: the models wanted (references), whether to start from
	 * an empty array (after a reset, a recalibration, a foreign PROGRAM);
	 * the worker turns wnets (a copy of nets) into them, models it drops
	 * go to wdrop, and each wanted one gets its wrc (0, or why it failed)
	 */
	struct dmodel *want[MAX_MODELS];
	unsigned nwant, wfull;
	int wrc[MAX_MODELS];
	unsigned char wtook[MAX_MODELS];	/* its network is among wnets */
	char werr[MAX_MODELS][256];
	struct cnet wnets[MAX_MODELS];
	unsigned nwnets;
	struct dmodel *wdrop[MAX_MODELS];
	unsigned nwdrop;
	/* W_INFER: the batch's network; the probabilities [input][stride][c] */
	struct bnnacc_net *wnet;
	double *pb;
	size_t pbcap;
	unsigned *mi, micap;	/* networks each input used */
	unsigned stride, classes, wnet_inputs;
	char bname[PROTO_NAME_LEN];	/* the batch's model */
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
	char name[PROTO_NAME_LEN];	/* load: the model */
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
	struct event *ev_read;	/* the socket is readable (recvmsg) */
	struct evbuffer *in;	/* what it sent, not yet handled */
	uint64_t rx, done;	/* bytes received; bytes of whole lines handled */
	struct {
		int fd;
		uint64_t off;	/* stream offset of the bytes it came with */
	} fds[CLIENT_MAX_FDS];	/* passed with SCM_RIGHTS, not yet taken */
	unsigned nfds;
	int line_fd;		/* the descriptor of the line being handled, or -1 */
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
	/* resident models, in the order they were loaded (the last: the default) */
	struct dmodel *models[MAX_MODELS];
	unsigned nmodels;
	/*
	 * A load in progress: cand is in models, beside the others ("add")
	 * or alone; saved holds the models as they were (references), to be
	 * resident again, as stored, if no card can program cand
	 */
	struct dmodel *cand;
	struct dmodel *saved[MAX_MODELS];
	unsigned nsaved;
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
/* Read @cl's socket if nothing holds it back; also handle what is buffered. */
void client_rearm(struct client *cl);
void client_resume(struct client *cl);
/* The descriptor passed with the request being handled (now the caller's), or -1. */
int client_take_fd(struct client *cl);
int listen_socket(struct daemon *d);

/* models.c: models, the state directory, admin requests waiting for cards */
void model_put(struct dmodel *m);
/* The resident model @name, or NULL */
struct dmodel *model_find(struct daemon *d, const char *name);
/* The model of requests that name none: the one loaded last, or NULL */
struct dmodel *model_default(struct daemon *d);
/* Where @dm is among the resident models, or -1 */
int model_index(struct daemon *d, const struct dmodel *dm);
void state_restore(struct daemon *d);
json_t *gamma_json(const struct cnet *cn);
json_t *drift_json(const struct card *c);
void progress(struct pending *p, struct card *c, const char *stage, json_t *extra);
void progress_start(struct daemon *d, struct card *c, enum work w);
/* A programming of @c ended: answer the loads, calibrations and resets it settles. */
void pending_program_done(struct daemon *d, struct card *c);
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
/* @c's networks of @dm at its generation, or NULL */
struct cnet *card_net(struct card *c, const struct dmodel *dm);
/* Did @c fail to program @dm at its generation? */
int card_failed(const struct card *c, const struct dmodel *dm);
/* Networks on @c, all models */
unsigned card_m(const struct card *c);
void notify_cb(evutil_socket_t fd, short what, void *arg);
void kick(struct daemon *d);

/* infer.c: infer requests, batches and replies */
void job_free(struct job *j);
/* Answer the queued requests at the head that no card can serve. */
void infer_sweep(struct daemon *d);
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
