// SPDX-License-Identifier: MIT
/* dsched.c - per-client FIFOs served round-robin under a global bound. */
#include "dsched.h"

#include <errno.h>
#include <stddef.h>

void sched_init(struct sched *s, unsigned max)
{
	TAILQ_INIT(&s->ring);
	s->pending = 0;
	s->max = max;
}

void sched_client_init(struct sched_client *c)
{
	TAILQ_INIT(&c->items);
	c->n = 0;
	c->in_ring = 0;
}

static void ring_add(struct sched *s, struct sched_client *c, int front)
{
	if (c->in_ring)
		return;
	if (front)
		TAILQ_INSERT_HEAD(&s->ring, c, ring);
	else
		TAILQ_INSERT_TAIL(&s->ring, c, ring);
	c->in_ring = 1;
}

static void ring_del(struct sched *s, struct sched_client *c)
{
	if (!c->in_ring)
		return;
	TAILQ_REMOVE(&s->ring, c, ring);
	c->in_ring = 0;
}

int sched_push(struct sched *s, struct sched_client *c, struct sched_item *it)
{
	if (s->pending >= s->max)
		return -EBUSY;
	it->owner = c;
	TAILQ_INSERT_TAIL(&c->items, it, link);
	c->n++;
	s->pending++;
	ring_add(s, c, 0);
	return 0;
}

void sched_requeue(struct sched *s, struct sched_client *c, struct sched_item *it)
{
	it->owner = c;
	TAILQ_INSERT_HEAD(&c->items, it, link);
	c->n++;
	s->pending++;
	ring_del(s, c);	/* a retry is served first */
	ring_add(s, c, 1);
}

struct sched_item *sched_peek(struct sched *s)
{
	struct sched_client *c = TAILQ_FIRST(&s->ring);

	return c ? TAILQ_FIRST(&c->items) : NULL;
}

void sched_remove(struct sched *s, struct sched_item *it)
{
	struct sched_client *c = it->owner;

	TAILQ_REMOVE(&c->items, it, link);
	c->n--;
	s->pending--;
	if (c->n == 0)
		ring_del(s, c);
}

struct sched_item *sched_pop(struct sched *s)
{
	struct sched_item *it = sched_peek(s);
	struct sched_client *c;

	if (!it)
		return NULL;
	c = it->owner;
	sched_remove(s, it);
	if (c->n > 0) {	/* to the back of the ring: round-robin */
		ring_del(s, c);
		ring_add(s, c, 0);
	}
	return it;
}

unsigned sched_drain_client(struct sched *s, struct sched_client *c,
			    void (*fn)(struct sched_item *, void *), void *arg)
{
	struct sched_item *it;
	unsigned n = 0;

	while ((it = TAILQ_FIRST(&c->items)) != NULL) {
		sched_remove(s, it);
		n++;
		if (fn)
			fn(it, arg);
	}
	return n;
}
