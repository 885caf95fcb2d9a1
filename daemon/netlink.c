// SPDX-License-Identifier: MIT
/*
 * bnnaccd - the driver's generic netlink events (family "bnnacc", group
 * "events"): cards added and removed, resets, drift alerts, and PROGRAMs by
 * another process.
 */
#include "bnnaccd.h"

static int nl_event(struct nl_msg *msg, void *arg)
{
	struct daemon *d = arg;
	struct nlattr *a[BNNACC_A_MAX + 1];
	struct card *c;
	unsigned ev;
	int idx;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, a, BNNACC_A_MAX, NULL) ||
	    !a[BNNACC_A_EVENT] || !a[BNNACC_A_CARD_INDEX])
		return NL_OK;
	ev = nla_get_u32(a[BNNACC_A_EVENT]);
	idx = (int)nla_get_u32(a[BNNACC_A_CARD_INDEX]);
	c = card_by_index(d, idx);
	logmsg(LOG_INFO, "kernel event %u on card %d", ev, idx);
	switch (ev) {
	case BNNACC_EVENT_CARD_ADDED:
		rescan(d);
		break;
	case BNNACC_EVENT_CARD_REMOVED:
		if (c)
			card_gone(c);
		break;
	case BNNACC_EVENT_RESET:
		if (c)
			c->need_program = 1;
		break;
	case BNNACC_EVENT_DRIFT:
		if (c)	/* the card's own drift monitor: read its references */
			c->want_check = 1;
		break;
	case BNNACC_EVENT_PROGRAMMED:
		/*
		 * We hold the lease, so only an admin breaking it programs
		 * behind us: the array no longer holds our networks.
		 */
		if (c && a[BNNACC_A_LEASE_PID] &&
		    nla_get_u32(a[BNNACC_A_LEASE_PID]) != (uint32_t)getpid()) {
			logmsg(LOG_WARNING,
			       "card %s: array programmed by process %u (lease broken): reprogramming",
			       c->path, nla_get_u32(a[BNNACC_A_LEASE_PID]));
			c->foreign_programs++;
			c->need_program = 1;
		}
		break;
	default:
		break;
	}
	return NL_OK;
}

static void nl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	nl_recvmsgs_default(d->nl);
	kick(d);
}

void nl_setup(struct daemon *d)
{
	int grp;

	if (d->nl)
		return;
	d->nl = nl_socket_alloc();
	if (!d->nl)
		return;
	if (genl_connect(d->nl) ||
	    (grp = genl_ctrl_resolve_grp(d->nl, BNNACC_GENL_NAME,
					 BNNACC_GENL_MCGRP_EVENTS)) < 0 ||
	    nl_socket_add_membership(d->nl, grp)) {
		nl_socket_free(d->nl);
		d->nl = NULL;
		return;
	}
	nl_socket_disable_seq_check(d->nl);
	nl_socket_modify_cb(d->nl, NL_CB_VALID, NL_CB_CUSTOM, nl_event, d);
	nl_socket_set_nonblocking(d->nl);
	d->ev_nl = event_new(d->base, nl_socket_get_fd(d->nl), EV_READ | EV_PERSIST, nl_cb, d);
	event_add(d->ev_nl, NULL);
	logmsg(LOG_INFO, "listening to kernel events");
}
