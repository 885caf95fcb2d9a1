/* SPDX-License-Identifier: MIT */
/* util.h - bnnaccd helpers. */
#ifndef BNNACCD_UTIL_H
#define BNNACCD_UTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>

struct config {
	char socket[108];
	char state_dir[1024];
	char socket_group[64];
	char admin_group[64];
	unsigned max_queue;	/* pending requests, all clients */
	unsigned deadline_ms;	/* default per-request deadline */
	unsigned batch_inputs;	/* inputs per card call */
	unsigned program_m;	/* sampled networks to program (0: as many as fit) */
	unsigned max_retries;	/* card failures a request survives */
	unsigned drift_check_s;	/* read the reference cells this often (0: on events only) */
	char metrics_http[64];	/* HOST:PORT of the HTTP /metrics listener ("": none) */
};

void log_init(int foreground);
void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double now_s(void);
int fsync_dir(const char *dir);
int fsync_path(const char *path);
/* fsync @tmp, rename it to @path, fsync the directory. 0 or -errno. */
int rename_durable(const char *tmp, const char *path);
/* write @path.tmp, fsync, rename, fsync the directory. 0 or -errno. */
int write_atomic(const char *path, const void *buf, size_t len);
int mkdir_p(const char *path, mode_t mode);
/*
 * One daemon per state directory: flock <dir>/bnnaccd.lock (released by the
 * kernel however the holder dies, so a stale file never blocks a restart)
 * and write our pid into it. 0 with *fd set, -EBUSY with *holder the pid
 * read from the file (0 if none), or -errno.
 */
int lock_state(const char *dir, int *fd, long *holder);
/* Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit. */
int raise_nofile(void);
/* The gid of group @name through NSS; -ENOENT if there is none. */
int group_gid(const char *name, gid_t *gid);
/* Is the peer of socket @fd (primary gid @pgid) a member of @gid? */
int peer_in_group(int fd, gid_t pgid, gid_t gid);
void config_defaults(struct config *c);
int config_set(struct config *c, const char *key, const char *val);
int config_load(struct config *c, const char *path, char *err, size_t errlen);
void sd_notify_msg(const char *msg);

#endif
