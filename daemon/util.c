// SPDX-License-Identifier: MIT
/* util.c - bnnaccd helpers: logging, atomic files, groups, config, sd_notify. */
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_stderr = 1;

void log_init(int foreground)
{
	log_stderr = foreground;
	if (!foreground)
		openlog("bnnaccd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_stderr) {
		fprintf(stderr, "bnnaccd: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

int rename_durable(const char *tmp, const char *path)
{
	char d[4096];
	int ret;

	if ((ret = fsync_path(tmp)))
		return ret;
	if (rename(tmp, path))
		return -errno;
	snprintf(d, sizeof(d), "%s", path);
	return fsync_dir(dirname(d));
}

int write_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[4096];
	const char *p = buf;
	int fd, ret = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (!ret && fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret)
		ret = rename_durable(tmp, path);
	if (ret)
		unlink(tmp);
	return ret;
}

int lock_state(const char *dir, int *fd, long *holder)
{
	char path[4096], buf[32];
	ssize_t n;
	int f;

	*holder = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/bnnaccd.lock", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_EX | LOCK_NB)) {
		int e = errno == EWOULDBLOCK ? -EBUSY : -errno;

		n = pread(f, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			*holder = strtol(buf, NULL, 10);
		}
		close(f);
		return e;
	}
	/* the pid is informative only (the lock is the flock, which dies with
	 * its holder): a failure to write it, e.g. a full disk, is not fatal */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(f, 0) || pwrite(f, buf, (size_t)n, 0) != n)
		logmsg(LOG_WARNING, "%s: cannot write the pid: %s", path, strerror(errno));
	*fd = f;
	return 0;
}

int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > (rlim_t)1 << 30 ? 1 << 30 : (int)rl.rlim_cur;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		buf[i] = i < n ? '/' : 0;
	}
	return 0;
}

/* The gid of group @name, through NSS (getgrnam_r): -ENOENT if none. */
int group_gid(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int ret = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

	if (ret)
		return -ret;
	if (!res)
		return -ENOENT;
	*gid = res->gr_gid;
	return 0;
}

/*
 * Whether the peer of the connected socket @fd is in group @gid: its
 * primary group @pgid (SO_PEERCRED) or one of its supplementary groups as
 * the kernel recorded them when it connected (SO_PEERGROUPS: the process's
 * real credentials, not the group database's view of its user).
 */
int peer_in_group(int fd, gid_t pgid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	unsigned i;

	if (pgid == gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return 0;	/* ERANGE: more than 256 groups; not counted */
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	char *p = s;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
			 s[n - 1] == '\r'))
		s[--n] = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	memmove(s, p, strlen(p) + 1);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket, sizeof(c->socket), "/run/bnnacc/bnnaccd.sock");
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/bnnacc");
	snprintf(c->socket_group, sizeof(c->socket_group), "bnnacc");
	snprintf(c->admin_group, sizeof(c->admin_group), "bnnacc-admin");
	c->max_queue = 1024;
	c->deadline_ms = 30000;
	c->batch_inputs = 1024;
	c->program_m = 0;
	c->max_retries = 3;
	c->drift_check_s = 3600;
}

static int set_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long x = strtoul(v, &end, 10);

	if (*v == 0 || *end || x < lo || x > hi)
		return -EINVAL;
	*out = (unsigned)x;
	return 0;
}

/* Copy @v into the string setting @dst of @len bytes; -ENAMETOOLONG if it
 * does not fit. */
static int set_str(char *dst, size_t len, const char *v)
{
	return snprintf(dst, len, "%s", v) < (int)len ? 0 : -ENAMETOOLONG;
}

int config_set(struct config *c, const char *k, const char *v)
{
	if (!strcmp(k, "socket"))
		return set_str(c->socket, sizeof(c->socket), v);
	if (!strcmp(k, "state_dir"))
		return set_str(c->state_dir, sizeof(c->state_dir), v);
	if (!strcmp(k, "socket_group"))
		return set_str(c->socket_group, sizeof(c->socket_group), v);
	if (!strcmp(k, "admin_group"))
		return set_str(c->admin_group, sizeof(c->admin_group), v);
	if (!strcmp(k, "max_queue"))
		return set_uint(v, 1, 1u << 20, &c->max_queue);
	if (!strcmp(k, "deadline_ms"))
		return set_uint(v, 1, 3600000, &c->deadline_ms);
	if (!strcmp(k, "batch_inputs"))
		return set_uint(v, 1, 65536, &c->batch_inputs);
	if (!strcmp(k, "program_m"))
		return set_uint(v, 0, 1024, &c->program_m);
	if (!strcmp(k, "max_retries"))
		return set_uint(v, 0, 100, &c->max_retries);
	if (!strcmp(k, "drift_check_s"))
		return set_uint(v, 0, 30u * 86400, &c->drift_check_s);
	if (!strcmp(k, "metrics_http"))
		return set_str(c->metrics_http, sizeof(c->metrics_http), v);
	return -ENOENT;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[8192];
	unsigned ln = 0;
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq;

		ln++;
		trim(line);
		if (line[0] == 0 || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected key = value", path, ln);
			fclose(f);
			return -EINVAL;
		}
		*eq = 0;
		trim(line);
		trim(eq + 1);
		ret = config_set(c, line, eq + 1);
		if (ret) {
			snprintf(err, errlen, "%s:%u: %s \"%s\"", path, ln,
				 ret == -ENOENT ? "unknown key" : "bad value for", line);
			fclose(f);
			return ret;
		}
	}
	fclose(f);
	return 0;
}

/* The sd_notify protocol by hand: one datagram to $NOTIFY_SOCKET. */
void sd_notify_msg(const char *msg)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (!e || (e[0] != '/' && e[0] != '@') || strlen(e) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, e, strlen(e));
	if (e[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(e));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		logmsg(LOG_WARNING, "sd_notify: %s", strerror(errno));
	close(fd);
}
