// SPDX-License-Identifier: GPL-2.0
/*
 * bnnacc - generic netlink family "bnnacc" (uapi/bnnacc.h, part 3;
 * docs/netlink/bnnacc.yaml).
 *
 * BNNACC_CMD_GET_CARD answers with one card (do, by BNNACC_A_CARD_INDEX) or
 * every card (dump); BNNACC_CMD_EVENT notifications go to the "events"
 * multicast group.
 *
 * The family keeps its own list of the cards that are present, sorted by
 * index. Each entry holds a reference on the card's class device. A card is
 * listed at the end of probe and unlisted at the start of remove, both under
 * bnnacc_nl_lock; the replies are built under the same lock, so a listed
 * card still has its registers mapped and a dump racing a remove never
 * touches a card that is going away.
 */

#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "bnnacc_drv.h"
#include "bnnacc_obs.h"

/**
 * struct bnnacc_nl_card - a card on the family's list
 * @node: entry on bnnacc_nl_cards, sorted by card index
 * @bdev: the card; the entry holds a reference on @bdev->dev
 */
struct bnnacc_nl_card {
	struct list_head node;
	struct bnnacc_dev *bdev;
};

static LIST_HEAD(bnnacc_nl_cards);
static DEFINE_MUTEX(bnnacc_nl_lock);	/* bnnacc_nl_cards, bnnacc_nl_gen */
/* Changes with the list: a dump across a change is flagged NLM_F_DUMP_INTR. */
static unsigned int bnnacc_nl_gen = 1;

static const struct nla_policy bnnacc_nl_policy[BNNACC_A_MAX + 1] = {
	[BNNACC_A_CARD_INDEX]	= { .type = NLA_U32 },
	[BNNACC_A_CARD_NAME]	= { .type = NLA_NUL_STRING, .len = 31 },
	[BNNACC_A_PCI_ADDR]	= { .type = NLA_NUL_STRING, .len = 31 },
	[BNNACC_A_SERIAL]	= { .type = NLA_U64 },
	[BNNACC_A_HW_VERSION]	= { .type = NLA_U32 },
	[BNNACC_A_ROWS]		= { .type = NLA_U32 },
	[BNNACC_A_COLS]		= { .type = NLA_U32 },
	[BNNACC_A_JOBS_COMPLETED] = { .type = NLA_U64 },
	[BNNACC_A_JOBS_FAILED]	= { .type = NLA_U64 },
	[BNNACC_A_RESETS]	= { .type = NLA_U64 },
	[BNNACC_A_BUSY_NS]	= { .type = NLA_U64 },
	[BNNACC_A_QUEUE_DEPTH]	= { .type = NLA_U32 },
	[BNNACC_A_EVENT]	= NLA_POLICY_RANGE(NLA_U32,
						   BNNACC_EVENT_CARD_ADDED,
						   BNNACC_EVENT_PROGRAMMED),
	[BNNACC_A_REASON]	= { .type = NLA_NUL_STRING, .len = 127 },
	[BNNACC_A_PAD]		= { .type = NLA_UNSPEC },
	[BNNACC_A_GENERATION]	= { .type = NLA_U64 },
	[BNNACC_A_LEASE_PID]	= { .type = NLA_U32 },
};

static int bnnacc_nl_get_card_doit(struct sk_buff *skb,
				   struct genl_info *info);
static int bnnacc_nl_get_card_dumpit(struct sk_buff *skb,
				     struct netlink_callback *cb);

static const struct genl_ops bnnacc_nl_ops[] = {
	{
		.cmd = BNNACC_CMD_GET_CARD,
		.doit = bnnacc_nl_get_card_doit,
		.dumpit = bnnacc_nl_get_card_dumpit,
	},
};

enum bnnacc_nl_mcgrp {
	BNNACC_NL_MCGRP_EVENTS,
};

static const struct genl_multicast_group bnnacc_nl_mcgrps[] = {
	[BNNACC_NL_MCGRP_EVENTS] = { .name = BNNACC_GENL_MCGRP_EVENTS },
};

static struct genl_family bnnacc_nl_family __ro_after_init = {
	.name = BNNACC_GENL_NAME,
	.version = BNNACC_GENL_VERSION,
	.maxattr = BNNACC_A_MAX,
	.policy = bnnacc_nl_policy,
	.module = THIS_MODULE,
	.ops = bnnacc_nl_ops,
	.n_ops = ARRAY_SIZE(bnnacc_nl_ops),
	.mcgrps = bnnacc_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(bnnacc_nl_mcgrps),
};

static int bnnacc_nl_put_id(struct sk_buff *skb, struct bnnacc_dev *bdev)
{
	if (nla_put_u32(skb, BNNACC_A_CARD_INDEX, bdev->minor) ||
	    nla_put_string(skb, BNNACC_A_CARD_NAME, dev_name(&bdev->dev)) ||
	    nla_put_string(skb, BNNACC_A_PCI_ADDR, pci_name(bdev->pdev)))
		return -EMSGSIZE;
	return 0;
}

static u64 bnnacc_nl_stat(atomic64_t *v)
{
	return atomic64_read(v);
}

/* Identity and counters of a listed card: called under bnnacc_nl_lock. */
static int bnnacc_nl_put_card(struct sk_buff *skb, struct bnnacc_dev *bdev)
{
	struct bnnacc_stats *st = &bdev->stats;

	lockdep_assert_held(&bnnacc_nl_lock);
	if (bnnacc_nl_put_id(skb, bdev) ||
	    nla_put_u32(skb, BNNACC_A_HW_VERSION, bdev->hw_version) ||
	    nla_put_u32(skb, BNNACC_A_ROWS, bdev->rows) ||
	    nla_put_u32(skb, BNNACC_A_COLS, bdev->cols) ||
	    nla_put_u64_64bit(skb, BNNACC_A_JOBS_COMPLETED,
			      bnnacc_nl_stat(&st->jobs_completed),
			      BNNACC_A_PAD) ||
	    nla_put_u64_64bit(skb, BNNACC_A_JOBS_FAILED,
			      bnnacc_nl_stat(&st->jobs_failed), BNNACC_A_PAD) ||
	    nla_put_u64_64bit(skb, BNNACC_A_RESETS,
			      bnnacc_nl_stat(&st->resets), BNNACC_A_PAD) ||
	    nla_put_u32(skb, BNNACC_A_QUEUE_DEPTH, bnnacc_queue_depth(bdev)) ||
	    nla_put_u64_64bit(skb, BNNACC_A_GENERATION,
			      atomic64_read(&bdev->generation), BNNACC_A_PAD) ||
	    nla_put_u32(skb, BNNACC_A_LEASE_PID, bnnacc_lease_pid(bdev)))
		return -EMSGSIZE;
	/* The registers only while the card is there. */
	if (READ_ONCE(bdev->gone))
		return 0;
	if (nla_put_u64_64bit(skb, BNNACC_A_SERIAL, bnnacc_obs_serial(bdev),
			      BNNACC_A_PAD) ||
	    nla_put_u64_64bit(skb, BNNACC_A_BUSY_NS, bnnacc_obs_busy_ns(bdev),
			      BNNACC_A_PAD))
		return -EMSGSIZE;
	return 0;
}

static int bnnacc_nl_fill_card(struct sk_buff *skb, struct bnnacc_dev *bdev,
			       u32 portid, u32 seq, struct netlink_callback *cb)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &bnnacc_nl_family,
			  cb ? NLM_F_MULTI : 0, BNNACC_CMD_GET_CARD);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	if (bnnacc_nl_put_card(skb, bdev)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static struct bnnacc_nl_card *bnnacc_nl_find(u32 index)
{
	struct bnnacc_nl_card *card;

	lockdep_assert_held(&bnnacc_nl_lock);
	list_for_each_entry(card, &bnnacc_nl_cards, node)
		if (card->bdev->minor == index)
			return card;
	return NULL;
}

static int bnnacc_nl_get_card_doit(struct sk_buff *skb,
				   struct genl_info *info)
{
	struct bnnacc_nl_card *card;
	struct sk_buff *msg;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, BNNACC_A_CARD_INDEX))
		return -EINVAL;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	mutex_lock(&bnnacc_nl_lock);
	card = bnnacc_nl_find(nla_get_u32(info->attrs[BNNACC_A_CARD_INDEX]));
	if (card)
		ret = bnnacc_nl_fill_card(msg, card->bdev, info->snd_portid,
					  info->snd_seq, NULL);
	else
		ret = -ENODEV;
	mutex_unlock(&bnnacc_nl_lock);

	if (ret) {
		if (ret == -ENODEV)
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[BNNACC_A_CARD_INDEX],
					    "no such card");
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);
}

/*
 * cb->args[0] is the index the next part of the dump starts from: the list
 * is sorted by index, so cards added or removed between two parts neither
 * repeat nor shift the others; such a dump is flagged NLM_F_DUMP_INTR.
 */
static int bnnacc_nl_get_card_dumpit(struct sk_buff *skb,
				     struct netlink_callback *cb)
{
	struct bnnacc_nl_card *card;
	u32 start = cb->args[0];
	int ret = 0;

	mutex_lock(&bnnacc_nl_lock);
	cb->seq = bnnacc_nl_gen;
	list_for_each_entry(card, &bnnacc_nl_cards, node) {
		if (card->bdev->minor < start)
			continue;
		ret = bnnacc_nl_fill_card(skb, card->bdev,
					  NETLINK_CB(cb->skb).portid,
					  cb->nlh->nlmsg_seq, cb);
		if (ret)
			break;
		cb->args[0] = card->bdev->minor + 1;
	}
	mutex_unlock(&bnnacc_nl_lock);

	/* A full skb ends this part; an empty one means no room at all. */
	if (ret && !skb->len)
		return ret;
	return skb->len;
}

void bnnacc_nl_event(struct bnnacc_dev *bdev, enum bnnacc_event ev,
		     const char *reason)
{
	struct sk_buff *msg;
	void *hdr;

	might_sleep();
	if (!genl_has_listeners(&bnnacc_nl_family, &init_net,
				BNNACC_NL_MCGRP_EVENTS))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &bnnacc_nl_family, 0, BNNACC_CMD_EVENT);
	if (!hdr)
		goto err_free;
	if (nla_put_u32(msg, BNNACC_A_EVENT, ev) ||
	    bnnacc_nl_put_id(msg, bdev) ||
	    nla_put_u64_64bit(msg, BNNACC_A_GENERATION,
			      atomic64_read(&bdev->generation), BNNACC_A_PAD) ||
	    nla_put_u32(msg, BNNACC_A_LEASE_PID, bnnacc_lease_pid(bdev)) ||
	    (reason && nla_put_string(msg, BNNACC_A_REASON, reason)))
		goto err_free;
	genlmsg_end(msg, hdr);
	/* -ESRCH: the last listener left meanwhile. */
	genlmsg_multicast(&bnnacc_nl_family, msg, 0, BNNACC_NL_MCGRP_EVENTS,
			  GFP_KERNEL);
	return;

err_free:
	nlmsg_free(msg);
}

void bnnacc_nl_card_add(struct bnnacc_dev *bdev)
{
	struct bnnacc_nl_card *card, *pos;

	card = kzalloc(sizeof(*card), GFP_KERNEL);
	if (!card)
		return;		/* not listed: GET_CARD does not see it */
	get_device(&bdev->dev);
	card->bdev = bdev;

	mutex_lock(&bnnacc_nl_lock);
	/* Before the first card with a higher index: the list stays sorted. */
	list_for_each_entry(pos, &bnnacc_nl_cards, node)
		if (pos->bdev->minor > bdev->minor)
			break;
	list_add_tail(&card->node, &pos->node);
	bnnacc_nl_gen++;
	mutex_unlock(&bnnacc_nl_lock);

	bnnacc_nl_event(bdev, BNNACC_EVENT_CARD_ADDED, "probed");
}

void bnnacc_nl_card_remove(struct bnnacc_dev *bdev)
{
	struct bnnacc_nl_card *card;

	mutex_lock(&bnnacc_nl_lock);
	card = bnnacc_nl_find(bdev->minor);
	if (card && card->bdev == bdev) {
		list_del(&card->node);
		bnnacc_nl_gen++;
	} else {
		card = NULL;
	}
	mutex_unlock(&bnnacc_nl_lock);

	bnnacc_nl_event(bdev, BNNACC_EVENT_CARD_REMOVED, "removed");
	if (card) {
		put_device(&bdev->dev);
		kfree(card);
	}
}

int bnnacc_nl_init(void)
{
	return genl_register_family(&bnnacc_nl_family);
}

void bnnacc_nl_exit(void)
{
	genl_unregister_family(&bnnacc_nl_family);
	/* Every card was removed before: the list is empty. */
	WARN_ON(!list_empty(&bnnacc_nl_cards));
}
