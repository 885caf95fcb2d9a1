// SPDX-License-Identifier: MIT
/*
 * t_netlink - the generic netlink family "bnnacc" from user space, over a raw
 * NETLINK_GENERIC socket (no libnl: guest programs link statically).
 *
 *   t_netlink [dump] [--expect N]   resolve the family, dump every card and
 *                                   check it (index, name, serial, 128 rows),
 *                                   get each one by index, and check that
 *                                   an unknown index fails with ENODEV
 *   t_netlink listen N SECONDS      join "events"; print each event as
 *                                   "event=RESET card=bnnacc0 ..." until N
 *                                   events arrived (exit 0) or SECONDS
 *                                   passed (exit 1)
 *   t_netlink reset DEV SECONDS     join "events", BNNACC_IOC_RESET on DEV
 *                                   and wait for the card's RESET event;
 *                                   prints "reset-check=PASS"
 *   t_netlink programmed DEV SECONDS
 *                                   join "events", three PROGRAMs on DEV in a
 *                                   burst: one PROGRAMMED event with the
 *                                   generation IDENTIFY gives and this
 *                                   process as the lease holder, then no
 *                                   other; prints "programmed-check=PASS"
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "bnnacc.h"
#include "gjob.h"
#include "gtest.h"

#define BUF_SIZE	32768

struct nl {
	int fd;
	uint32_t seq;
	uint16_t family;
	uint32_t events_grp;
};

struct card {
	uint64_t have;		/* bit n: attribute n present */
	uint32_t index, hw_version, rows, cols, queue_depth, event, lease_pid;
	uint64_t serial, jobs_completed, jobs_failed, resets, busy_ns;
	uint64_t generation;
	char name[32], pci[32], reason[128];
};

static const char *const event_name[] = {
	[BNNACC_EVENT_CARD_ADDED] = "CARD_ADDED",
	[BNNACC_EVENT_CARD_REMOVED] = "CARD_REMOVED",
	[BNNACC_EVENT_RESET] = "RESET",
	[BNNACC_EVENT_ERROR] = "ERROR",
	[BNNACC_EVENT_DRIFT] = "DRIFT",
	[BNNACC_EVENT_THERMAL] = "THERMAL",
	[BNNACC_EVENT_PROGRAMMED] = "PROGRAMMED",
};

/* ---- messages ------------------------------------------------------------ */

static void put_attr(char *msg, uint16_t type, const void *data, uint16_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct nlattr *a = (struct nlattr *)(msg + NLMSG_ALIGN(nlh->nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void put_hdr(struct nl *nl, char *msg, uint16_t type, uint16_t flags,
		    uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct genlmsghdr *g = NLMSG_DATA(nlh);

	memset(msg, 0, NLMSG_LENGTH(GENL_HDRLEN));
	nlh->nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	g->cmd = cmd;
	g->version = version;
}

static int nl_send(struct nl *nl, const char *msg)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)msg;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	CHECK(sendto(nl->fd, msg, nlh->nlmsg_len, 0, (struct sockaddr *)&sa,
		     sizeof(sa)) == (ssize_t)nlh->nlmsg_len);
	return 0;
}

/* Attributes of a generic netlink message, by type; tb has max + 1 slots. */
static void parse(const struct nlmsghdr *nlh, const struct nlattr **tb, int max)
{
	const struct nlattr *a;
	int rem;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	a = (const struct nlattr *)((const char *)NLMSG_DATA(nlh) + GENL_HDRLEN);
	rem = (int)nlh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem) {
		int type = a->nla_type & NLA_TYPE_MASK;

		if (type <= max)
			tb[type] = a;
		rem -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
}

static const void *nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static uint32_t get_u32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

static uint64_t get_u64(const struct nlattr *a)
{
	uint64_t v;

	memcpy(&v, nla_data(a), sizeof(v));
	return v;
}

static void get_str(const struct nlattr *a, char *dst, size_t size)
{
	size_t len = a->nla_len - NLA_HDRLEN;

	if (len >= size)
		len = size - 1;
	memcpy(dst, nla_data(a), len);
	dst[len] = 0;
}

typedef int (*msg_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Receive the answer to the last request: every message of our family goes
 * to @cb. Returns 0 at the end (ack or NLMSG_DONE), or -errno of an error.
 */
static int nl_recv(struct nl *nl, msg_cb cb, void *arg, int dump)
{
	static char buf[BUF_SIZE];
	struct nlmsghdr *nlh;
	ssize_t n;

	for (;;) {
		n = recv(nl->fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (size_t)n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != nl->seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nlh);

				return e->error;
			}
			if (cb(nlh, arg))
				return -EPROTO;
			if (!dump)
				return 0;
		}
	}
}

/* ---- the family ---------------------------------------------------------- */

static void resolve_groups(struct nl *nl, const struct nlattr *grps)
{
	const struct nlattr *g = nla_data(grps), *a;
	int rem = grps->nla_len - NLA_HDRLEN, r2;
	uint32_t id;
	char name[GENL_NAMSIZ];

	while (rem >= NLA_HDRLEN && g->nla_len >= NLA_HDRLEN && g->nla_len <= rem) {
		a = nla_data(g);
		r2 = g->nla_len - NLA_HDRLEN;
		id = 0;
		name[0] = 0;
		while (r2 >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= r2) {
			if (a->nla_type == CTRL_ATTR_MCAST_GRP_ID)
				id = get_u32(a);
			else if (a->nla_type == CTRL_ATTR_MCAST_GRP_NAME)
				get_str(a, name, sizeof(name));
			r2 -= NLA_ALIGN(a->nla_len);
			a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len));
		}
		if (!strcmp(name, BNNACC_GENL_MCGRP_EVENTS))
			nl->events_grp = id;
		rem -= NLA_ALIGN(g->nla_len);
		g = (const struct nlattr *)((const char *)g + NLA_ALIGN(g->nla_len));
	}
}

static int family_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nl *nl = arg;
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];

	parse(nlh, tb, CTRL_ATTR_MAX);
	CHECK(tb[CTRL_ATTR_FAMILY_ID]);
	nl->family = (uint16_t)get_u32(tb[CTRL_ATTR_FAMILY_ID]) & 0xffff;
	CHECK_MSG(tb[CTRL_ATTR_VERSION] &&
		  get_u32(tb[CTRL_ATTR_VERSION]) == BNNACC_GENL_VERSION,
		  "family version");
	if (tb[CTRL_ATTR_MCAST_GROUPS])
		resolve_groups(nl, tb[CTRL_ATTR_MCAST_GROUPS]);
	return 0;
}

static int nl_open(struct nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char msg[256];
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	CHECK(nl->fd >= 0);
	CHECK(bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	put_hdr(nl, msg, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1);
	put_attr(msg, CTRL_ATTR_FAMILY_NAME, BNNACC_GENL_NAME,
		 sizeof(BNNACC_GENL_NAME));
	CHECK(nl_send(nl, msg) == 0);
	ret = nl_recv(nl, family_cb, nl, 0);
	CHECK_MSG(ret == 0 && nl->family, "family %s not found: %s",
		  BNNACC_GENL_NAME, strerror(-ret));
	CHECK_MSG(nl->events_grp, "no multicast group %s",
		  BNNACC_GENL_MCGRP_EVENTS);
	return 0;
}

static void card_parse(const struct nlmsghdr *nlh, struct card *c)
{
	const struct nlattr *tb[BNNACC_A_MAX + 1];
	int i;

	memset(c, 0, sizeof(*c));
	parse(nlh, tb, BNNACC_A_MAX);
	for (i = 1; i <= BNNACC_A_MAX; i++)
		if (tb[i])
			c->have |= 1ull << i;
#define U32(a, f) do { if (tb[a]) c->f = get_u32(tb[a]); } while (0)
#define U64(a, f) do { if (tb[a]) c->f = get_u64(tb[a]); } while (0)
#define STR(a, f) do { if (tb[a]) get_str(tb[a], c->f, sizeof(c->f)); } while (0)
	U32(BNNACC_A_CARD_INDEX, index);
	U32(BNNACC_A_HW_VERSION, hw_version);
	U32(BNNACC_A_ROWS, rows);
	U32(BNNACC_A_COLS, cols);
	U32(BNNACC_A_QUEUE_DEPTH, queue_depth);
	U32(BNNACC_A_EVENT, event);
	U32(BNNACC_A_LEASE_PID, lease_pid);
	U64(BNNACC_A_GENERATION, generation);
	U64(BNNACC_A_SERIAL, serial);
	U64(BNNACC_A_JOBS_COMPLETED, jobs_completed);
	U64(BNNACC_A_JOBS_FAILED, jobs_failed);
	U64(BNNACC_A_RESETS, resets);
	U64(BNNACC_A_BUSY_NS, busy_ns);
	STR(BNNACC_A_CARD_NAME, name);
	STR(BNNACC_A_PCI_ADDR, pci);
	STR(BNNACC_A_REASON, reason);
#undef U32
#undef U64
#undef STR
}

#define HAVE(c, a)	(((c)->have >> (a)) & 1)

static int card_check(const struct card *c)
{
	char want[32];
	static const int need[] = {
		BNNACC_A_CARD_INDEX, BNNACC_A_CARD_NAME, BNNACC_A_PCI_ADDR,
		BNNACC_A_SERIAL, BNNACC_A_HW_VERSION, BNNACC_A_ROWS,
		BNNACC_A_COLS, BNNACC_A_JOBS_COMPLETED, BNNACC_A_JOBS_FAILED,
		BNNACC_A_RESETS, BNNACC_A_BUSY_NS, BNNACC_A_QUEUE_DEPTH,
	};
	size_t i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		CHECK_MSG(HAVE(c, need[i]), "attribute %d missing", need[i]);
	snprintf(want, sizeof(want), "bnnacc%u", c->index);
	CHECK_MSG(!strcmp(c->name, want), "name %s, index %u", c->name, c->index);
	CHECK_MSG(c->rows == BNNACC_ROWS && c->cols == BNNACC_COLS,
		  "geometry %ux%u", c->rows, c->cols);
	CHECK_MSG(c->serial != 0, "serial 0");
	CHECK_MSG(c->hw_version >> 16 == BNNACC_HW_VERSION >> 16,
		  "hw_version %#x", c->hw_version);
	CHECK_MSG(strlen(c->pci) >= 7, "pci address '%s'", c->pci);
	return 0;
}

static void card_print(const char *what, const struct card *c)
{
	printf("%s index=%u name=%s pci=%s serial=%016llx hw_version=%u.%u "
	       "rows=%u cols=%u jobs_completed=%llu jobs_failed=%llu "
	       "resets=%llu busy_ns=%llu queue_depth=%u\n", what, c->index,
	       c->name, c->pci, (unsigned long long)c->serial,
	       c->hw_version >> 16, c->hw_version & 0xffff, c->rows, c->cols,
	       (unsigned long long)c->jobs_completed,
	       (unsigned long long)c->jobs_failed,
	       (unsigned long long)c->resets, (unsigned long long)c->busy_ns,
	       c->queue_depth);
}

struct dump {
	int n;
	struct card cards[64];
};

static int dump_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct genlmsghdr *g = NLMSG_DATA(nlh);

	CHECK(g->cmd == BNNACC_CMD_GET_CARD);
	CHECK(d->n < 64);
	card_parse(nlh, &d->cards[d->n]);
	d->n++;
	return 0;
}

static int get_card(struct nl *nl, uint32_t index, struct dump *d)
{
	char msg[256];

	put_hdr(nl, msg, nl->family, 0, BNNACC_CMD_GET_CARD,
		BNNACC_GENL_VERSION);
	put_attr(msg, BNNACC_A_CARD_INDEX, &index, sizeof(index));
	if (nl_send(nl, msg))
		return -EIO;
	return nl_recv(nl, dump_cb, d, 0);
}

static int cmd_dump(int expect)
{
	static struct dump d, one;
	struct nl nl;
	char msg[256];
	int i, ret;

	CHECK(nl_open(&nl) == 0);
	printf("family=%u events_group=%u\n", nl.family, nl.events_grp);
	put_hdr(&nl, msg, nl.family, NLM_F_DUMP, BNNACC_CMD_GET_CARD,
		BNNACC_GENL_VERSION);
	CHECK(nl_send(&nl, msg) == 0);
	ret = nl_recv(&nl, dump_cb, &d, 1);
	CHECK_MSG(ret == 0, "dump: %s", strerror(-ret));
	printf("cards=%d\n", d.n);
	for (i = 0; i < d.n; i++) {
		card_print("card", &d.cards[i]);
		CHECK(card_check(&d.cards[i]) == 0);
		CHECK_MSG(i == 0 || d.cards[i].index > d.cards[i - 1].index,
			  "dump not sorted by index");
		one.n = 0;
		ret = get_card(&nl, d.cards[i].index, &one);
		CHECK_MSG(ret == 0 && one.n == 1, "get %u: %s",
			  d.cards[i].index, strerror(-ret));
		CHECK(card_check(&one.cards[0]) == 0);
		CHECK(one.cards[0].serial == d.cards[i].serial);
		CHECK(!strcmp(one.cards[0].pci, d.cards[i].pci));
	}
	CHECK_MSG(expect < 0 || d.n == expect, "%d cards, expected %d", d.n,
		  expect);
	one.n = 0;
	ret = get_card(&nl, 250, &one);
	CHECK_MSG(ret == -ENODEV, "get of an unknown card: %d", ret);
	/* A do request without BNNACC_A_CARD_INDEX is refused. */
	put_hdr(&nl, msg, nl.family, 0, BNNACC_CMD_GET_CARD,
		BNNACC_GENL_VERSION);
	CHECK(nl_send(&nl, msg) == 0);
	ret = nl_recv(&nl, dump_cb, &one, 0);
	CHECK_MSG(ret == -EINVAL, "get without an index: %d", ret);
	close(nl.fd);
	printf("netlink dump: PASS\n");
	return 0;
}

/* ---- events -------------------------------------------------------------- */

static int64_t now_ms(void)
{
	return (int64_t)(gj_now_ns() / 1000000);
}

static int subscribe(struct nl *nl)
{
	CHECK(nl_open(nl) == 0);
	CHECK(setsockopt(nl->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
			 &nl->events_grp, sizeof(nl->events_grp)) == 0);
	return 0;
}

/*
 * Wait for the next event until @deadline (ms): 1 with @c filled, 0 on
 * timeout, -1 on an error.
 */
static int next_event(struct nl *nl, int64_t deadline, struct card *c)
{
	static char buf[BUF_SIZE];
	static ssize_t len, off;
	struct pollfd p = { .fd = nl->fd, .events = POLLIN };
	struct nlmsghdr *nlh;
	int64_t left;

	for (;;) {
		while (off < len) {
			nlh = (struct nlmsghdr *)(buf + off);
			if (!NLMSG_OK(nlh, (size_t)(len - off))) {
				off = len;
				break;
			}
			off += NLMSG_ALIGN(nlh->nlmsg_len);
			if (nlh->nlmsg_type != nl->family)
				continue;
			if (((struct genlmsghdr *)NLMSG_DATA(nlh))->cmd !=
			    BNNACC_CMD_EVENT)
				continue;
			card_parse(nlh, c);
			return 1;
		}
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		len = recv(nl->fd, buf, sizeof(buf), 0);
		CHECK(len >= 0);
		off = 0;
	}
}

static const char *ev_name(uint32_t ev)
{
	if (ev < sizeof(event_name) / sizeof(event_name[0]) && event_name[ev])
		return event_name[ev];
	return "UNKNOWN";
}

static void event_print(const struct card *c)
{
	printf("event=%s card=%s index=%u pci=%s reason=%s\n",
	       ev_name(c->event), c->name, c->index, c->pci,
	       c->reason[0] ? c->reason : "-");
	fflush(stdout);
}

static int event_check(const struct card *c)
{
	CHECK_MSG(HAVE(c, BNNACC_A_EVENT) && HAVE(c, BNNACC_A_CARD_INDEX) &&
		  HAVE(c, BNNACC_A_CARD_NAME) && HAVE(c, BNNACC_A_PCI_ADDR),
		  "event without its attributes");
	return 0;
}

static int cmd_listen(int n, int seconds)
{
	int64_t deadline = now_ms() + (int64_t)seconds * 1000;
	struct card c;
	struct nl nl;
	int got = 0, ret;

	CHECK(subscribe(&nl) == 0);
	printf("LISTENING group=%u\n", nl.events_grp);
	fflush(stdout);
	while (got < n) {
		ret = next_event(&nl, deadline, &c);
		CHECK(ret >= 0);
		if (!ret)
			break;
		event_print(&c);
		CHECK(event_check(&c) == 0);
		got++;
	}
	printf("events=%d\n", got);
	close(nl.fd);
	return got == n ? 0 : 1;
}

static int cmd_reset(const char *dev, int seconds)
{
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	int64_t deadline;
	struct card c;
	struct nl nl;
	int fd, ret;

	CHECK(subscribe(&nl) == 0);
	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	ret = gj_reset(fd);
	CHECK_MSG(ret == 0, "BNNACC_IOC_RESET: %s", strerror(-ret));
	close(fd);
	deadline = now_ms() + (int64_t)seconds * 1000;
	for (;;) {
		ret = next_event(&nl, deadline, &c);
		CHECK(ret >= 0);
		CHECK_MSG(ret, "no RESET event for %s within %d s", name,
			  seconds);
		event_print(&c);
		if (c.event == BNNACC_EVENT_RESET && !strcmp(c.name, name))
			break;
	}
	CHECK(event_check(&c) == 0);
	printf("reset-check=PASS\n");
	return 0;
}

static int cmd_programmed(const char *dev, int seconds)
{
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	struct bnnacc_identify_args id = { .size = sizeof(id) };
	int64_t deadline;
	struct card c;
	struct nl nl;
	int fd, ret, got = 0;

	CHECK(subscribe(&nl) == 0);
	fd = open(dev, O_RDWR);
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++)
		CHECK(gj_program_set(fd, (struct bnnacc_region){ 0, 0, 4, 4 },
				     30000 + 5000 * i) == 0);
	CHECK(ioctl(fd, BNNACC_IOC_IDENTIFY, &id) == 0);
	deadline = now_ms() + (int64_t)seconds * 1000;
	for (;;) {
		ret = next_event(&nl, deadline, &c);
		CHECK(ret >= 0);
		if (!ret)
			break;
		event_print(&c);
		if (c.event != BNNACC_EVENT_PROGRAMMED || strcmp(c.name, name))
			continue;
		CHECK(event_check(&c) == 0);
		CHECK_MSG(HAVE(&c, BNNACC_A_GENERATION) &&
			  c.generation == id.generation &&
			  c.lease_pid == (uint32_t)getpid(),
			  "PROGRAMMED: generation %llu (IDENTIFY: %llu) lease_pid %u (us: %d)",
			  (unsigned long long)c.generation,
			  (unsigned long long)id.generation, c.lease_pid,
			  (int)getpid());
		got++;
		/* the burst is one event: nothing more for a second */
		deadline = now_ms() + 1000;
	}
	close(fd);
	CHECK_MSG(got == 1, "%d PROGRAMMED events for one burst of three", got);
	printf("programmed-check=PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return cmd_listen(atoi(argv[2]), atoi(argv[3])) ? 1 : 0;
	if (argc >= 4 && !strcmp(argv[1], "reset"))
		return cmd_reset(argv[2], atoi(argv[3])) ? 1 : 0;
	if (argc >= 4 && !strcmp(argv[1], "programmed"))
		return cmd_programmed(argv[2], atoi(argv[3])) ? 1 : 0;
	if (argc == 1 || !strcmp(argv[1], "dump")) {
		int expect = -1;

		if (argc >= 4 && !strcmp(argv[2], "--expect"))
			expect = atoi(argv[3]);
		return cmd_dump(expect) ? 1 : 0;
	}
	fprintf(stderr, "usage: t_netlink [dump [--expect N]] | listen N SECONDS | reset DEV SECONDS | programmed DEV SECONDS\n");
	return 2;
}
