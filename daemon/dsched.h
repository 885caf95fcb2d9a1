/* SPDX-License-Identifier: MIT */
/*
 * dsched.h - bounded, fair request queues: one FIFO per client, clients served
 * round-robin, a global bound on pending items. Intrusive, no allocation.
 */
#ifndef BNNACCD_DSCHED_H
#define BNNACCD_DSCHED_H

#include <sys/queue.h>

struct sched_client;

struct sched_item {
	TAILQ_ENTRY(sched_item) link;
	struct sched_client *owner;
};

struct sched_client {
	TAILQ_HEAD(, sched_item) items;
	TAILQ_ENTRY(sched_client) ring;
	unsigned n;
	int in_ring;
};

struct sched {
	TAILQ_HEAD(, sched_client) ring;
	unsigned pending, max;
};

void sched_init(struct sched *s, unsigned max);
void sched_client_init(struct sched_client *c);
/* Queue @it at the tail of @c. Returns 0, or -EBUSY when @s is full. */
int sched_push(struct sched *s, struct sched_client *c, struct sched_item *it);
/* Put @it back at the head of its client queue and the client at the head
 * of the ring (a retry is served first; ignores the bound). */
void sched_requeue(struct sched *s, struct sched_client *c, struct sched_item *it);
/* The next item round-robin, without removing it; NULL when empty. */
struct sched_item *sched_peek(struct sched *s);
/* Remove and return the next item round-robin; its client goes to the back. */
struct sched_item *sched_pop(struct sched *s);
/* Remove @it (queued on its owner). */
void sched_remove(struct sched *s, struct sched_item *it);
/* Remove every item of @c; calls @fn on each (may free it). Returns the count. */
unsigned sched_drain_client(struct sched *s, struct sched_client *c,
			    void (*fn)(struct sched_item *, void *), void *arg);

#endif
