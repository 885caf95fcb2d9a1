// SPDX-License-Identifier: MIT
/*
 * t_rawdev - a deliberately broken guest driving the card with no driver:
 * BAR0 mapped from sysfs, rings and buffers in pages whose physical address
 * comes from /proc/self/pagemap (no IOMMU in the bench VM, so bus address =
 * physical address). It feeds the card bad ring configurations, bad doorbells,
 * every kind of bad descriptor, random descriptors and random register writes,
 * and checks each is answered with the documented error while the card (and
 * QEMU) keeps working.
 *
 * usage: t_rawdev [random-descriptors [random-register-writes]]
 * Run with the bnnacc driver not bound (run-vm.sh --no-module).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bnnacc_hw.h"
#include "graw.h"
#include "gtest.h"

#define RING 64
#define NO_MEMORY (1ull << 50)	/* beyond any guest-physical address */

struct raw {
	volatile uint32_t *bar;
	struct bnnacc_sqe *sq;
	struct bnnacc_cqe *cq;
	uint64_t sq_pa, cq_pa;
	void *data;		/* one page for command data */
	uint64_t data_pa;
	unsigned sq_tail, cq_head, phase;
	uint16_t next_cid;
	uint64_t rng;
};

static uint64_t rnd(struct raw *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static uint32_t rd(struct raw *r, unsigned off)
{
	return r->bar[off / 4];
}

static void wr(struct raw *r, unsigned off, uint32_t v)
{
	graw_wr(r->bar, off, v);
}

static int open_card(struct raw *r)
{
	char dir[300];

	CHECK(graw_open_card(dir, sizeof(dir), &r->bar) == 0);
	r->sq = graw_dma_alloc(4096, 0, &r->sq_pa);
	r->cq = graw_dma_alloc(4096, 0, &r->cq_pa);
	r->data = graw_dma_alloc(4096, 0, &r->data_pa);
	CHECK(r->sq && r->cq && r->data);
	return 0;
}

static void card_reset(struct raw *r)
{
	graw_card_reset(r->bar);
}

static void rings_setup(struct raw *r, uint64_t sq, uint64_t cq)
{
	card_reset(r);
	memset(r->sq, 0, 4096);
	memset(r->cq, 0, 4096);
	r->sq_tail = 0;
	r->cq_head = 0;
	r->phase = 1;
	graw_set_rings(r->bar, sq, RING, cq, RING);
	wr(r, BNNACC_REG_CTRL, BNNACC_CTRL_ENABLE);
}

static int wait_status(struct raw *r, uint32_t mask, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (rd(r, BNNACC_REG_STATUS) & mask)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Submit one descriptor and poll for its completion; returns its status
 * code, or -1 when none came within 5 s. */
static int submit(struct raw *r, struct bnnacc_sqe *e, struct bnnacc_cqe *out)
{
	volatile struct bnnacc_cqe *c;
	uint16_t cid = r->next_cid++;

	e->cid = cid;
	memcpy(&r->sq[r->sq_tail], e, sizeof(*e));
	r->sq_tail = (r->sq_tail + 1) % RING;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* pairs: card's SQ fetch */
	wr(r, BNNACC_REG_SQ_TAIL, r->sq_tail);
	c = &r->cq[r->cq_head];
	for (int i = 0; i < 5000; i++) {
		if (BNNACC_CQE_PHASE(c->status) == r->phase) {
			__atomic_thread_fence(__ATOMIC_SEQ_CST); /* card's CQ post */
			*out = *c;
			r->cq_head = (r->cq_head + 1) % RING;
			if (!r->cq_head)
				r->phase ^= 1;
			wr(r, BNNACC_REG_CQ_HEAD, r->cq_head);
			if (out->cid != cid) {
				fprintf(stderr, "cid %u for %u\n", out->cid, cid);
				return -1;
			}
			return BNNACC_CQE_SC(out->status);
		}
		usleep(1000);
	}
	return -1;
}

static int identify_ok(struct raw *r)
{
	struct bnnacc_sqe e = { .opcode = BNNACC_OP_IDENTIFY };
	struct bnnacc_identify *id = r->data;
	struct bnnacc_cqe c;

	memset(r->data, 0, 4096);
	e.dst_addr = r->data_pa;
	e.dst_len = 4096;
	CHECK(submit(r, &e, &c) == BNNACC_SC_SUCCESS);
	CHECK(c.result == sizeof(*id));
	CHECK(id->magic == BNNACC_MAGIC && id->rows == 128 && id->cols == 128);
	return 0;
}

static int expect(struct raw *r, const char *what, struct bnnacc_sqe *e, int sc)
{
	struct bnnacc_cqe c;
	int got = submit(r, e, &c);

	printf("  %-44s -> status %d (want %d)\n", what, got, sc);
	CHECK(got == sc);
	CHECK(!(rd(r, BNNACC_REG_STATUS) & BNNACC_STS_FATAL));
	return identify_ok(r);
}

static struct bnnacc_sqe cmd(uint8_t op, unsigned rows, unsigned cols)
{
	struct bnnacc_sqe e = { .opcode = op };

	e.region.rows = rows;
	e.region.cols = cols;
	return e;
}

static int bad_descriptors(struct raw *r)
{
	uint32_t *w = r->data;
	struct bnnacc_sqe e;

	rings_setup(r, r->sq_pa, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	CHECK(identify_ok(r) == 0);

	e = cmd(0x7f, 0, 0);
	CHECK(expect(r, "unknown opcode", &e, BNNACC_SC_INVALID_OPCODE) == 0);
	e = cmd(BNNACC_OP_MLP, 1, 1);
	CHECK(expect(r, "MLP (not supported)", &e, BNNACC_SC_INVALID_OPCODE) == 0);
	e = cmd(BNNACC_OP_IDENTIFY, 0, 0);
	e.flags = 1;
	e.dst_addr = r->data_pa;
	e.dst_len = 4096;
	CHECK(expect(r, "IDENTIFY with flags", &e, BNNACC_SC_INVALID_FIELD) == 0);
	e.flags = 0;
	e.rsvd1 = 1;
	CHECK(expect(r, "IDENTIFY with rsvd1", &e, BNNACC_SC_INVALID_FIELD) == 0);
	e = cmd(BNNACC_OP_IDENTIFY, 0, 0);
	e.dst_addr = r->data_pa;
	e.dst_len = 16;
	CHECK(expect(r, "IDENTIFY into 16 bytes", &e, BNNACC_SC_LENGTH) == 0);
	e.dst_len = 4096;
	e.dst_addr = NO_MEMORY;
	CHECK(expect(r, "IDENTIFY to no memory", &e, BNNACC_SC_DMA_ERROR) == 0);

	e = cmd(BNNACC_OP_READ, 16, 2);
	e.region.row = 120;
	e.dst_addr = r->data_pa;
	e.dst_len = 4096;
	CHECK(expect(r, "READ rows 120..135", &e, BNNACC_SC_INVALID_REGION) == 0);
	e = cmd(BNNACC_OP_READ, 0, 4);
	e.dst_addr = r->data_pa;
	e.dst_len = 4096;
	CHECK(expect(r, "READ empty region", &e, BNNACC_SC_INVALID_REGION) == 0);
	e = cmd(BNNACC_OP_READ, 0xffff, 0xffff);
	e.region.row = 0xffff;
	e.dst_addr = r->data_pa;
	e.dst_len = 4096;
	CHECK(expect(r, "READ wrapping region", &e, BNNACC_SC_INVALID_REGION) == 0);
	e = cmd(BNNACC_OP_READ, 4, 4);
	e.dst_addr = r->data_pa;
	e.dst_len = 63;
	CHECK(expect(r, "READ into 63 bytes", &e, BNNACC_SC_LENGTH) == 0);
	e.dst_len = 64;
	e.cdw[3] = 1;
	CHECK(expect(r, "READ with cdw[3] set", &e, BNNACC_SC_INVALID_FIELD) == 0);

	e = cmd(BNNACC_OP_PROGRAM, 1, 2);
	e.src_addr = r->data_pa;
	e.src_len = 8;
	w[0] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 20000) | 0x01000000;
	w[1] = BNNACC_PROG_WORD(BNNACC_PROG_SKIP, 0);
	CHECK(expect(r, "PROGRAM word with reserved bits", &e,
		     BNNACC_SC_INVALID_FIELD) == 0);
	w[0] = BNNACC_PROG_WORD(BNNACC_PROG_SET, 1);
	CHECK(expect(r, "PROGRAM SET at 1 nA", &e, BNNACC_SC_INVALID_FIELD) == 0);
	w[0] = BNNACC_PROG_WORD(7, 0);
	CHECK(expect(r, "PROGRAM op 7", &e, BNNACC_SC_INVALID_FIELD) == 0);
	e.src_addr = NO_MEMORY;
	CHECK(expect(r, "PROGRAM from no memory", &e, BNNACC_SC_DMA_ERROR) == 0);

	e = cmd(BNNACC_OP_MVM, 128, 128);
	e.src_addr = r->data_pa;
	e.src_len = 4096;
	e.dst_addr = r->data_pa;
	e.dst_len = 0xffffffff;
	e.cdw[0] = 0xffffffff;
	e.cdw[1] = 0xffffffff;
	CHECK(expect(r, "MVM of 2^64 results", &e, BNNACC_SC_LENGTH) == 0);
	e.cdw[0] = 1;
	e.cdw[1] = 1;
	e.cdw[2] = BNNACC_ADC_SHIFT_MAX + 1;
	e.dst_len = 4096;
	CHECK(expect(r, "MVM ADC shift 16", &e, BNNACC_SC_INVALID_FIELD) == 0);
	e.cdw[2] = 0;
	e.cdw[0] = 0;
	CHECK(expect(r, "MVM of 0 vectors", &e, BNNACC_SC_INVALID_FIELD) == 0);
	e.cdw[0] = 1;
	CHECK(expect(r, "good MVM", &e, BNNACC_SC_SUCCESS) == 0);
	return 0;
}

/* Ring-level errors are fatal until reset; each must be reported. */
static int fatal_errors(struct raw *r)
{
	rings_setup(r, r->sq_pa + 8, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_FATAL, 1000) == 0);
	CHECK(rd(r, BNNACC_REG_ERR_STATUS) & BNNACC_ERR_RING_CONFIG);
	CHECK(!(rd(r, BNNACC_REG_STATUS) & BNNACC_STS_READY));
	printf("  unaligned SQ base: FATAL, RING_CONFIG\n");

	rings_setup(r, r->sq_pa, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	wr(r, BNNACC_REG_CQ_SIZE, 3);
	CHECK(wait_status(r, BNNACC_STS_FATAL, 1000) == 0);
	CHECK(rd(r, BNNACC_REG_ERR_STATUS) & BNNACC_ERR_REG_ACCESS);
	printf("  ring register written while enabled: FATAL, REG_ACCESS\n");

	rings_setup(r, r->sq_pa, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	wr(r, BNNACC_REG_SQ_TAIL, RING + 5);
	CHECK(wait_status(r, BNNACC_STS_FATAL, 1000) == 0);
	CHECK(rd(r, BNNACC_REG_ERR_STATUS) & BNNACC_ERR_DOORBELL);
	CHECK(rd(r, BNNACC_REG_ERR_INFO) == RING + 5);
	printf("  SQ doorbell past the ring: FATAL, DOORBELL\n");

	rings_setup(r, NO_MEMORY, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	wr(r, BNNACC_REG_SQ_TAIL, 1);
	CHECK(wait_status(r, BNNACC_STS_FATAL, 1000) == 0);
	CHECK(rd(r, BNNACC_REG_ERR_STATUS) & BNNACC_ERR_SQ_FETCH);
	printf("  SQ in no memory: FATAL, SQ_FETCH\n");

	rings_setup(r, r->sq_pa, NO_MEMORY);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	r->sq[0] = cmd(BNNACC_OP_IDENTIFY, 0, 0);
	r->sq[0].dst_addr = r->data_pa;
	r->sq[0].dst_len = 4096;
	wr(r, BNNACC_REG_SQ_TAIL, 1);
	CHECK(wait_status(r, BNNACC_STS_FATAL, 1000) == 0);
	CHECK(rd(r, BNNACC_REG_ERR_STATUS) & BNNACC_ERR_CQ_POST);
	printf("  CQ in no memory: FATAL, CQ_POST\n");

	card_reset(r);
	CHECK(rd(r, BNNACC_REG_STATUS) == 0 && rd(r, BNNACC_REG_ERR_STATUS) == 0);
	return 0;
}

/*
 * A data buffer the card may write: inside our page (the length clipped so
 * that no write can leave it), or an address with no memory behind it.
 */
static void safe_dst(struct raw *r, struct bnnacc_sqe *e)
{
	unsigned off = rnd(r) % 4096;

	switch (rnd(r) % 3) {
	case 0:
		e->dst_addr = r->data_pa + off;
		if (e->dst_len > 4096 - off)
			e->dst_len = 4096 - off;
		break;
	case 1:
		e->dst_addr = NO_MEMORY + (rnd(r) & 0xffff);
		break;
	default:
		e->dst_addr = rnd(r) | (1ull << 63);
		break;
	}
}

static int random_descriptors(struct raw *r, unsigned n)
{
	unsigned counts[8] = { 0 };

	rings_setup(r, r->sq_pa, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	for (unsigned i = 0; i < n; i++) {
		struct bnnacc_sqe e;
		struct bnnacc_cqe c;
		uint64_t *q = (uint64_t *)&e;
		int sc;

		for (unsigned k = 0; k < sizeof(e) / 8; k++)
			q[k] = rnd(r);
		if (rnd(r) % 4)
			e.opcode = 1 + rnd(r) % 5;
		if (rnd(r) % 2) {
			e.flags = 0;
			e.rsvd0 = 0;
			e.rsvd1 = 0;
		}
		if (rnd(r) % 2) {	/* plausible sizes, so some succeed */
			e.region.row = rnd(r) % 130;
			e.region.col = rnd(r) % 130;
			e.region.rows = rnd(r) % 20;
			e.region.cols = rnd(r) % 20;
			e.src_len = rnd(r) % 5000;
			e.dst_len = rnd(r) % 5000;
			e.cdw[0] = rnd(r) % 4;
			e.cdw[1] = rnd(r) % 4;
			e.cdw[2] = rnd(r) % 18;
			e.cdw[3] = 0;
		}
		/* The card may read anywhere, but write only where we allow. */
		safe_dst(r, &e);
		if (rnd(r) % 2)
			e.src_addr = r->data_pa + (rnd(r) % 4096);
		sc = submit(r, &e, &c);
		CHECK_MSG(sc >= 0 && sc <= BNNACC_SC_INTERNAL,
			  "descriptor %u: status %d", i, sc);
		counts[sc]++;
		CHECK(!(rd(r, BNNACC_REG_STATUS) & BNNACC_STS_FATAL));
	}
	printf("  %u random descriptors: ok %u opcode %u field %u region %u "
	       "length %u dma %u\n", n, counts[0], counts[1], counts[2],
	       counts[3], counts[4], counts[5]);
	CHECK(counts[0] > 0 && counts[2] > 0 && counts[3] > 0);
	return identify_ok(r);
}

static int random_registers(struct raw *r, unsigned n)
{
	wr(r, BNNACC_REG_CQ_BASE_HI, 1u << 20);
	for (unsigned i = 0; i < n; i++) {
		unsigned off = (rnd(r) % (BNNACC_REGS_SIZE / 4)) * 4;
		uint32_t v = (uint32_t)rnd(r);

		/* The card must never post completions into our kernel, nor
		 * raise an interrupt nobody handles. */
		if (off == BNNACC_REG_CQ_BASE_HI)
			v |= 1u << 20;
		if (off == BNNACC_REG_INT_MASK)
			v |= BNNACC_INT_ALL;
		if (rnd(r) % 2)
			(void)rd(r, off);
		else
			wr(r, off, v);
		if (off == BNNACC_REG_RESET || (rnd(r) % 64) == 0) {
			wr(r, BNNACC_REG_CQ_BASE_HI, 1u << 20);
			wr(r, BNNACC_REG_INT_MASK, BNNACC_INT_ALL);
		}
	}
	usleep(100000);
	printf("  %u random register accesses survived\n", n);
	rings_setup(r, r->sq_pa, r->cq_pa);
	CHECK(wait_status(r, BNNACC_STS_READY, 1000) == 0);
	return identify_ok(r);
}

int main(int argc, char **argv)
{
	struct raw r = { .next_cid = 1, .rng = 0x9e3779b97f4a7c15ull };
	unsigned ndesc = argc > 1 ? strtoul(argv[1], NULL, 0) : 300;
	unsigned nreg = argc > 2 ? strtoul(argv[2], NULL, 0) : 3000;

	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK(open_card(&r) == 0);
	CHECK(rd(&r, BNNACC_REG_MAGIC) == BNNACC_MAGIC);
	printf("t_rawdev: bad descriptors\n");
	CHECK(bad_descriptors(&r) == 0);
	printf("t_rawdev: fatal ring errors\n");
	CHECK(fatal_errors(&r) == 0);
	printf("t_rawdev: random descriptors\n");
	CHECK(random_descriptors(&r, ndesc) == 0);
	printf("t_rawdev: random register writes\n");
	CHECK(random_registers(&r, nreg) == 0);
	card_reset(&r);
	printf("t_rawdev: PASS\n");
	return 0;
}
