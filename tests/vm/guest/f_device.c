// SPDX-License-Identifier: MIT
/*
 * f_device - seeded fuzzer of the card itself (the QEMU device model), with
 * no driver bound: BAR0 mapped from sysfs, DMA memory in huge pages whose
 * bus address comes from /proc/self/pagemap (no IOMMU in the bench VM).
 *
 * It alternates
 *  - register phases: random 32-bit reads and writes over all of BAR0
 *    (doorbells, ring bases and sizes, CTRL, RESET, INT_*), values biased
 *    toward 0, ~0, ring sizes +-1, the RESET key, addresses of our buffers
 *    and of no memory; 1-, 2- and 8-byte and unaligned accesses;
 *  - checked bursts: valid and mutated descriptors of every opcode (random
 *    fields, lengths at and around what the command needs, count x repeat
 *    overflows, regions off the array, buffers crossing zone boundaries,
 *    in no memory, across 2^64, in the card's own BAR), each with the status
 *    docs/hardware.md predicts and, on success, its output checked;
 *  - chaos bursts: one mutated descriptor whose buffer may overlap the rings
 *    themselves;
 *  - liveness checks: after a reset, IDENTIFY and READ complete correctly.
 *
 * Out-of-bounds detection: all DMA memory (the 2 MiB "arena": rings, a
 * source zone, a destination zone and guard zones between them; and a 2 MiB
 * read-only "decoy") is filled with a position-dependent pattern and
 * mirrored in a private shadow copy. After every burst each byte that
 * differs from the shadow must lie in a window the card was allowed to
 * write: [dst, dst + result) of a successful command, the CQ; nothing else
 * (a failed command writes nothing: the card checks every buffer before it
 * moves data). Bus address 0..255 (readable from /dev/mem) is watched
 * while destinations cross 2^64. Every byte of
 * every pattern word is non-zero, so no descriptor fetched from pattern
 * memory can be valid (its flags byte is non-zero): random ring bases and
 * doorbells cannot make the card write anywhere. Rings are enabled only
 * inside the arena, in no memory or in the card's own BAR0; data windows
 * the card may write are only in the arena's destination zone, in no
 * memory, or in its own BARs.
 *
 * usage: f_device [-s SEED] [-t SECONDS] [-R MIN_REGS] [-D MIN_DESCS] [-v]
 * Prints "FUZZ device ... guard_violations=0 ..." and exits 0 when no
 * violation, wrong status, bad output or hang was seen and the minimum
 * counts were reached. Run with the bnnacc driver not bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define KiB		1024ull
#define MiB		(1024 * KiB)
#define ARENA		(2 * MiB)
#define MAX_XFER	(64 * MiB)
/* Arena zones (offsets). */
#define Z_SQ		(64 * KiB)	/* SQ rings: up to 4096 x 64 bytes */
#define Z_CQ		(320 * KiB)	/* CQ rings: up to 4096 x 16 bytes */
#define Z_SRC		(384 * KiB)	/* sources (first 64 KiB: guard) */
#define Z_DST		(640 * KiB)	/* destinations (first 64 KiB and
					 * last 64 KiB: guards) */
#define G_LO		(704 * KiB)
#define G_HI		(1984 * KiB)
#define NOMEM_HI	(1ull << 44)	/* from here up: nothing decodes */
#define MAXK		32		/* descriptors of a checked burst */
#define MAXWIN		4096

#define SC_BIT(sc)	(1u << (sc))

struct win {
	uint64_t lo, hi;		/* arena offsets the card may write */
};

struct fz {
	volatile uint32_t *bar;
	char dir[300];
	uint64_t bar0_pa, bar2_pa, bar2_len;
	uint8_t *a, *sh;		/* arena and its shadow */
	uint64_t apa;
	uint8_t *d;			/* decoy: read-only for the card */
	uint64_t dpa;
	uint64_t gap_lo, gap_hi;	/* no memory below 4 GiB */
	uint64_t ram_lo, ram_hi;	/* RAM the card may read */
	uint64_t ecam;
	uint32_t iset_min, iset_max;
	uint64_t rng;
	uint32_t salt;
	int verbose;
	/* the rings of the checked bursts */
	uint64_t sq_off, cq_off;
	unsigned sqn, cqn, sq_tail, cq_head, phase;
	uint16_t cid;
	/* windows the card may write until the next check */
	struct win w[MAXWIN];
	unsigned nw;
	uint64_t cq_lo, cq_hi;		/* live CQ: its content is accepted */
	/* counts */
	uint64_t regs, descs, bursts, chaos, resets, live, wraps;
	uint64_t reg_unknown, reg_badsize, reg_unaligned, reg_phases;
	uint64_t viol, wrong, badout, hangs, inv;
	uint64_t sc[8], ok_bytes, enables, unchecked, big, big_ms, aborts;
	uint32_t failed0, done0;
	int devmem;
};

/* ---- random numbers ------------------------------------------------- */

static uint64_t rnd(struct fz *f)
{
	return gt_rnd(&f->rng);
}

static uint64_t below(struct fz *f, uint64_t n)
{
	return gt_below(&f->rng, n);
}

static int chance(struct fz *f, unsigned pct)
{
	return below(f, 100) < pct;
}

/* Small numbers more often than large ones: 1..max. */
static unsigned skew(struct fz *f, unsigned max)
{
	unsigned b = 1 + below(f, 31 - __builtin_clz(max | 1) + 1);
	uint64_t v = 1 + below(f, 1ull << b);

	return v > max ? max : (unsigned)v;
}

/* ---- pattern, shadow, windows ---------------------------------------- */

static uint32_t pat(uint32_t salt, uint64_t word)
{
	uint64_t x = word * 0x9e3779b97f4a7c15ull + salt;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint32_t)x | 0x01010101u;	/* no zero byte */
}

static void fill_pat(uint8_t *p, uint8_t *sh, uint32_t salt, uint64_t lo,
		     uint64_t hi)
{
	for (uint64_t o = lo & ~3ull; o < hi; o += 4) {
		uint32_t v = pat(salt, o / 4);

		memcpy(p + o, &v, 4);
		if (sh)
			memcpy(sh + o, &v, 4);
	}
}

/* Our own writes to the arena go to both copies. */
static void aput(struct fz *f, uint64_t off, const void *src, size_t len)
{
	memcpy(f->a + off, src, len);
	memcpy(f->sh + off, src, len);
}

static void allow(struct fz *f, uint64_t pa, uint64_t len)
{
	uint64_t lo, hi;

	if (!len || pa + len < pa || pa >= f->apa + ARENA || pa + len <= f->apa)
		return;
	lo = pa < f->apa ? 0 : pa - f->apa;
	hi = pa + len - f->apa > ARENA ? ARENA : pa + len - f->apa;
	if (f->nw < MAXWIN) {
		f->w[f->nw].lo = lo;
		f->w[f->nw].hi = hi;
		f->nw++;
	} else {	/* full: widen the last one (only ever more lenient) */
		if (lo < f->w[MAXWIN - 1].lo)
			f->w[MAXWIN - 1].lo = lo;
		if (hi > f->w[MAXWIN - 1].hi)
			f->w[MAXWIN - 1].hi = hi;
	}
}

static int allowed(const struct fz *f, uint64_t off)
{
	if (off >= f->cq_lo && off < f->cq_hi)
		return 1;
	for (unsigned i = 0; i < f->nw; i++)
		if (off >= f->w[i].lo && off < f->w[i].hi)
			return 1;
	return 0;
}

/*
 * Every byte the card changed must be in an allowed window. Changed bytes
 * of the live CQ are accepted into the shadow; every other change is
 * undone, so the arena is back to what the shadow says.
 */
static uint64_t check_arena(struct fz *f, const char *when)
{
	uint64_t bad = 0;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (uint64_t o = 0; o < ARENA; o += 64) {
		if (!memcmp(f->a + o, f->sh + o, 64))
			continue;
		for (uint64_t i = o; i < o + 64; i++) {
			if (f->a[i] == f->sh[i] || allowed(f, i))
				continue;
			if (bad++ < 8)
				fprintf(stderr, "GUARD VIOLATION (%s): arena+0x%"
					PRIx64 " (bus 0x%" PRIx64 ") 0x%02x, "
					"want 0x%02x\n", when, i, f->apa + i,
					f->a[i], f->sh[i]);
		}
		for (uint64_t i = o; i < o + 64; i++) {
			if (i >= f->cq_lo && i < f->cq_hi)
				f->sh[i] = f->a[i];
			else
				f->a[i] = f->sh[i];
		}
	}
	f->nw = 0;
	f->viol += bad;
	return bad;
}

static uint64_t check_decoy(struct fz *f)
{
	uint64_t bad = 0;

	for (uint64_t o = 0; o < ARENA; o += 4) {
		uint32_t v;

		memcpy(&v, f->d + o, 4);
		if (v == pat(~f->salt, o / 4))
			continue;
		if (bad++ < 8)
			fprintf(stderr, "GUARD VIOLATION: decoy+0x%" PRIx64
				" (bus 0x%" PRIx64 ") written\n", o, f->dpa + o);
	}
	if (bad)
		fill_pat(f->d, NULL, ~f->salt, 0, ARENA);
	f->viol += bad;
	return bad;
}

/* ---- registers ------------------------------------------------------ */

static uint32_t rd(struct fz *f, unsigned off)
{
	f->regs++;
	return f->bar[off / 4];
}

static void wr(struct fz *f, unsigned off, uint32_t v)
{
	f->regs++;
	graw_wr(f->bar, off, v);
}

/* Readable, writable registers (aligned 32-bit accesses). */
static int reg_readable(unsigned off)
{
	switch (off) {
	case BNNACC_REG_RESET:
	case BNNACC_REG_SQ_TAIL:
	case BNNACC_REG_CQ_HEAD:
		return 0;
	default:
		return off <= BNNACC_REG_EVENT_INFO && off != 0x2c &&
		       off != 0x4c && off != 0x5c && off != 0x6c;
	}
}

static int reg_writable(unsigned off)
{
	switch (off) {
	case BNNACC_REG_CTRL: case BNNACC_REG_RESET:
	case BNNACC_REG_INT_STATUS: case BNNACC_REG_INT_MASK:
	case BNNACC_REG_ERR_STATUS:
	case BNNACC_REG_SQ_BASE_LO: case BNNACC_REG_SQ_BASE_HI:
	case BNNACC_REG_SQ_SIZE:
	case BNNACC_REG_CQ_BASE_LO: case BNNACC_REG_CQ_BASE_HI:
	case BNNACC_REG_CQ_SIZE:
	case BNNACC_REG_SQ_TAIL: case BNNACC_REG_CQ_HEAD:
		return 1;
	}
	return 0;
}

/* Invariants of the registers that hold whatever was written. */
static void check_reg(struct fz *f, unsigned off, uint32_t v)
{
	int bad = 0;

	switch (off) {
	case BNNACC_REG_MAGIC:
		bad = v != BNNACC_MAGIC;
		break;
	case BNNACC_REG_VERSION:
		bad = v != BNNACC_HW_VERSION;
		break;
	case BNNACC_REG_GEOMETRY:
		bad = v != (BNNACC_ROWS | BNNACC_COLS << 16);
		break;
	case BNNACC_REG_STATUS:
		bad = (v & ~7u) ||
		      ((v & BNNACC_STS_READY) && (v & BNNACC_STS_FATAL));
		break;
	case BNNACC_REG_CTRL:
	case BNNACC_REG_INT_MASK:
	case BNNACC_REG_INT_STATUS:
		bad = v & ~(off == BNNACC_REG_CTRL ? 1u : 7u);
		break;
	case BNNACC_REG_ERR_STATUS:
		bad = v & ~0x1fu;
		break;
	default:
		if (!reg_readable(off))
			bad = v != 0;	/* ignored reads return 0 */
		break;
	}
	if (bad) {
		f->inv++;
		fprintf(stderr, "REGISTER INVARIANT: 0x%03x reads 0x%08x\n",
			off, v);
	}
}

static void card_reset(struct fz *f)
{
	f->regs += graw_card_reset(f->bar);
	f->resets++;
}

static uint32_t rdstatus(struct fz *f)
{
	uint32_t v = rd(f, BNNACC_REG_STATUS);

	check_reg(f, BNNACC_REG_STATUS, v);
	return v;
}

static int wait_status(struct fz *f, uint32_t mask, int ms)
{
	for (int i = 0; i < ms * 10; i++) {
		if (rdstatus(f) & mask)
			return 0;
		usleep(100);
	}
	return -ETIMEDOUT;
}

/* ---- address classes ----------------------------------------------- */

enum { AC_OK, AC_NONE, AC_UNKNOWN };

static int within(uint64_t a, uint64_t len, uint64_t lo, uint64_t hi)
{
	return a >= lo && a + len >= a && a + len <= hi;
}

static int nomem(const struct fz *f, uint64_t a, uint64_t len)
{
	return within(a, len, f->gap_lo, f->gap_hi) ||
	       (a >= NOMEM_HI && a + len >= a);
}

/* What a DMA of [a, a + len) does (len >= 1). */
static int dma_class(const struct fz *f, uint64_t a, uint64_t len)
{
	if (a + len < a || (a + len == 0 && len))
		return AC_NONE;		/* crosses 2^64 */
	if (within(a, len, f->apa, f->apa + ARENA) ||
	    within(a, len, f->dpa, f->dpa + ARENA) ||
	    within(a, len, f->ram_lo, f->ram_hi))
		return AC_OK;
	if (nomem(f, a, len))
		return AC_NONE;
	/* the card's own registers: blocked re-entrant access */
	if (within(a, len, f->bar0_pa, f->bar0_pa + BNNACC_REGS_SIZE))
		return AC_NONE;
	return AC_UNKNOWN;
}

/* Where the card may write [a, a + len) without hurting the guest. */
static int dst_safe(const struct fz *f, uint64_t a, uint64_t len, int chaos)
{
	if (!len)
		return !a || nomem(f, a, 1) ||
		       within(a, 1, f->apa + Z_DST, f->apa + ARENA);
	if (within(a, len, f->apa + Z_DST, f->apa + ARENA))
		return 1;
	if (chaos && within(a, len, f->apa + Z_SQ, f->apa + ARENA))
		return 1;
	return nomem(f, a, len) ||
	       within(a, len, f->bar0_pa, f->bar0_pa + BNNACC_REGS_SIZE) ||
	       within(a, len, f->bar2_pa, f->bar2_pa + f->bar2_len);
}

static uint64_t nomem_addr(struct fz *f, uint64_t len)
{
	if (chance(f, 30) && f->gap_hi - f->gap_lo > len + 64 * KiB)
		return f->gap_lo + below(f, f->gap_hi - f->gap_lo - len);
	if (chance(f, 20))
		return 1ull << 50;
	return NOMEM_HI + below(f, (1ull << 62) - NOMEM_HI);
}

/* A source address for @len bytes: mostly our source zone. */
static uint64_t pick_src(struct fz *f, uint64_t len)
{
	unsigned k = below(f, 100);

	if (k < 70 && len <= Z_DST - Z_SRC)
		return f->apa + Z_SRC + below(f, Z_DST - Z_SRC - len + 1);
	if (k < 78 && len <= ARENA)
		return f->dpa + below(f, ARENA - len + 1);
	if (k < 84 && f->ram_hi - f->ram_lo > len)
		return f->ram_lo + below(f, f->ram_hi - f->ram_lo - len);
	if (k < 90)
		return nomem_addr(f, len);
	switch (k % 6) {
	case 0:
		return f->bar0_pa + 4 * below(f, 1024);
	case 1:
		return f->bar2_pa + 4 * below(f, 64);
	case 2:
		return f->ecam ? f->ecam + 4 * below(f, 4096) : 0xfed00000;
	case 3:
		return 0xfec00000 + 4 * below(f, 64);	/* IOAPIC */
	case 4:
		return -(uint64_t)(1 + below(f, 256));	/* across 2^64 */
	default:
		return rnd(f);
	}
}

/* A destination address for @len bytes the card may write. */
static uint64_t pick_dst(struct fz *f, uint64_t len)
{
	unsigned k = below(f, 100);
	uint64_t zone = ARENA - Z_DST;

	if (k < 70 && len <= zone)
		return f->apa + Z_DST + below(f, zone - len + 1);
	if (k < 80 && len <= zone) {	/* straddling a guard boundary */
		uint64_t edge = chance(f, 50) ? G_LO : G_HI;
		uint64_t o = edge - below(f, len + 1);

		if (o < Z_DST)
			o = Z_DST;
		if (o + len > ARENA)
			o = ARENA - len;
		return f->apa + o;
	}
	if (k < 84 && len <= zone)	/* flush with the arena's end */
		return f->apa + ARENA - len;
	if (k < 88 && len <= BNNACC_REGS_SIZE)
		return f->bar0_pa + (BNNACC_REGS_SIZE - len) / 4 * 4;
	if (k < 90 && len <= f->bar2_len)
		return f->bar2_pa;
	return nomem_addr(f, len);
}

/* ---- the spec: what a descriptor must complete with ------------------ */

struct pred {
	unsigned ok;		/* acceptable status codes (bits) */
	uint64_t need;		/* bytes written on success */
};

static int region_ok(const struct bnnacc_region *r)
{
	return r->rows && r->cols && r->row < BNNACC_ROWS &&
	       r->col < BNNACC_COLS && r->rows <= BNNACC_ROWS - r->row &&
	       r->cols <= BNNACC_COLS - r->col;
}

static int word_ok(const struct fz *f, uint32_t w)
{
	uint32_t op = BNNACC_PROG_OP(w), na = BNNACC_PROG_ISET_NA(w);

	if (w & BNNACC_PROG_RSVD_MASK)
		return 0;
	if (op == BNNACC_PROG_SET)
		return na >= f->iset_min && na <= f->iset_max;
	return op == BNNACC_PROG_SKIP || op == BNNACC_PROG_RESET;
}

/* The statuses of the data phase: source read, then destination write. */
static unsigned dma_ok(const struct fz *f, uint64_t src, uint64_t in,
		       uint64_t dst, uint64_t out)
{
	int s = in ? dma_class(f, src, in) : AC_OK;
	int d = out ? dma_class(f, dst, out) : AC_OK;

	if (s == AC_NONE || d == AC_NONE)
		return SC_BIT(BNNACC_SC_DMA_ERROR);
	if (s == AC_UNKNOWN || d == AC_UNKNOWN)
		return SC_BIT(BNNACC_SC_DMA_ERROR) | SC_BIT(BNNACC_SC_SUCCESS);
	return SC_BIT(BNNACC_SC_SUCCESS);
}

static struct pred predict(const struct fz *f, const struct bnnacc_sqe *e)
{
	struct pred p = { SC_BIT(BNNACC_SC_INVALID_FIELD), 0 };
	const struct bnnacc_region *r = &e->region;
	uint64_t cells = (uint64_t)r->rows * r->cols, in, out, per, work;
	int cdw_any = e->cdw[0] || e->cdw[1] || e->cdw[2] || e->cdw[3];

	if (e->opcode < BNNACC_OP_IDENTIFY || e->opcode > BNNACC_OP_MVM) {
		p.ok = SC_BIT(BNNACC_SC_INVALID_OPCODE);
		return p;
	}
	if (e->flags || e->rsvd0 || e->rsvd1)
		return p;
	switch (e->opcode) {
	case BNNACC_OP_IDENTIFY:
		if (r->row || r->col || r->rows || r->cols || e->src_addr ||
		    e->src_len || cdw_any)
			return p;
		if (e->dst_len < sizeof(struct bnnacc_identify)) {
			p.ok = SC_BIT(BNNACC_SC_LENGTH);
			return p;
		}
		p.need = sizeof(struct bnnacc_identify);
		p.ok = dma_ok(f, 0, 0, e->dst_addr, p.need);
		return p;
	case BNNACC_OP_PROGRAM:
		if (e->dst_addr || e->dst_len || cdw_any)
			return p;
		if (!region_ok(r)) {
			p.ok = SC_BIT(BNNACC_SC_INVALID_REGION);
			return p;
		}
		in = cells * 4;
		if (in > MAX_XFER || e->src_len < in) {
			p.ok = SC_BIT(BNNACC_SC_LENGTH);
			return p;
		}
		p.ok = dma_ok(f, e->src_addr, in, 0, 0);
		if (!(p.ok & SC_BIT(BNNACC_SC_SUCCESS)))
			return p;
		if (!(p.ok & SC_BIT(BNNACC_SC_DMA_ERROR)) &&
		    (within(e->src_addr, in, f->apa, f->apa + ARENA) ||
		     within(e->src_addr, in, f->dpa, f->dpa + ARENA))) {
			const uint8_t *w = within(e->src_addr, in, f->apa,
						  f->apa + ARENA) ?
				f->sh + (e->src_addr - f->apa) :
				f->d + (e->src_addr - f->dpa);

			for (uint64_t i = 0; i < cells; i++) {
				uint32_t v;

				memcpy(&v, w + 4 * i, 4);
				if (!word_ok(f, v)) {
					p.ok = SC_BIT(BNNACC_SC_INVALID_FIELD);
					return p;
				}
			}
			return p;
		}
		p.ok |= SC_BIT(BNNACC_SC_INVALID_FIELD);	/* unknown words */
		return p;
	case BNNACC_OP_READ:
		if (e->src_addr || e->src_len || e->cdw[1] || e->cdw[2] ||
		    e->cdw[3])
			return p;
		if (!region_ok(r)) {
			p.ok = SC_BIT(BNNACC_SC_INVALID_REGION);
			return p;
		}
		out = (e->cdw[0] ? e->cdw[0] : 1) * cells * 4;
		if (out > MAX_XFER || e->dst_len < out) {
			p.ok = SC_BIT(BNNACC_SC_LENGTH);
			return p;
		}
		p.need = out;
		p.ok = dma_ok(f, 0, 0, e->dst_addr, out);
		return p;
	default:	/* MVM */
		if (!e->cdw[0] || (e->cdw[2] & ~(BNNACC_MVM_SHIFT_MASK | BNNACC_MVM_SUM)) ||
		    (e->cdw[2] & BNNACC_MVM_SHIFT_MASK) > BNNACC_ADC_SHIFT_MAX || e->cdw[3])
			return p;
		if (!region_ok(r)) {
			p.ok = SC_BIT(BNNACC_SC_INVALID_REGION);
			return p;
		}
		in = (uint64_t)e->cdw[0] * r->rows * 2;
		per = (uint64_t)e->cdw[0] * r->cols * 4;
		/* the work is bounded as if every repeat were posted */
		work = e->cdw[1] ? e->cdw[1] : 1;
		work = work > BNNACC_MVM_MAX_CODE_BYTES / per ? UINT64_MAX : work * per;
		out = (e->cdw[2] & BNNACC_MVM_SUM) ? per : work;
		if (in > MAX_XFER || e->src_len < in || work > BNNACC_MVM_MAX_CODE_BYTES ||
		    out > MAX_XFER || e->dst_len < out) {
			p.ok = SC_BIT(BNNACC_SC_LENGTH);
			return p;
		}
		p.need = out;
		p.ok = dma_ok(f, e->src_addr, in, e->dst_addr, out);
		return p;
	}
}

/* ---- descriptors ---------------------------------------------------- */

static void rand_region(struct fz *f, struct bnnacc_region *r)
{
	r->rows = skew(f, BNNACC_ROWS);
	r->cols = skew(f, BNNACC_COLS);
	r->row = below(f, BNNACC_ROWS - r->rows + 1);
	r->col = below(f, BNNACC_COLS - r->cols + 1);
}

static uint32_t rand_word(struct fz *f)
{
	switch (below(f, 4)) {
	case 0:
		return BNNACC_PROG_WORD(BNNACC_PROG_SKIP, below(f, 1u << 24));
	case 1:
		return BNNACC_PROG_WORD(BNNACC_PROG_RESET, 0);
	default:
		return BNNACC_PROG_WORD(BNNACC_PROG_SET, f->iset_min +
					below(f, f->iset_max - f->iset_min + 1));
	}
}

/* Write the source data of a valid command into the arena (or decoy). */
static void put_src(struct fz *f, uint64_t addr, uint64_t len, int words)
{
	uint64_t off = addr - f->apa;

	if (!within(addr, len, f->apa + Z_SRC, f->apa + Z_DST))
		return;		/* elsewhere: whatever is there */
	for (uint64_t i = 0; i + 4 <= len; i += 4) {
		uint32_t v;

		if (words) {
			v = rand_word(f);
		} else {
			static const int16_t edge[] = { 0, 1, -1, 32767,
							-32767, -32768 };
			int16_t x[2];

			for (int k = 0; k < 2; k++)
				x[k] = chance(f, 20) ? edge[below(f, 6)] :
				       (int16_t)rnd(f);
			memcpy(&v, x, 4);
		}
		aput(f, off + i, &v, 4);
	}
	if (words && chance(f, 15) && len >= 4) {	/* one bad word */
		static const uint32_t bad[] = {
			0x01000000, BNNACC_PROG_WORD(BNNACC_PROG_SET, 1),
			BNNACC_PROG_WORD(BNNACC_PROG_SET, 100001),
			BNNACC_PROG_WORD(3, 0), 0xffffffff,
			BNNACC_PROG_WORD(BNNACC_PROG_SET, 4999),
		};
		uint32_t v = bad[below(f, 6)];

		aput(f, off + 4 * below(f, len / 4), &v, 4);
	}
}

/* A valid descriptor of opcode @op (buffers placed and filled). */
static void gen_valid(struct fz *f, struct bnnacc_sqe *e, unsigned op)
{
	uint64_t cells, in, out;

	memset(e, 0, sizeof(*e));
	e->opcode = op;
	switch (op) {
	case BNNACC_OP_IDENTIFY:
		e->dst_len = chance(f, 50) ? 256 : 256 + below(f, 4096);
		e->dst_addr = pick_dst(f, e->dst_len);
		break;
	case BNNACC_OP_PROGRAM:
		rand_region(f, &e->region);
		cells = (uint64_t)e->region.rows * e->region.cols;
		e->src_len = cells * 4 + (chance(f, 70) ? 0 : below(f, 64));
		e->src_addr = pick_src(f, e->src_len);
		put_src(f, e->src_addr, cells * 4, 1);
		break;
	case BNNACC_OP_READ:
		rand_region(f, &e->region);
		cells = (uint64_t)e->region.rows * e->region.cols;
		e->cdw[0] = chance(f, 50) ? 0 : skew(f, 4);
		out = (e->cdw[0] ? e->cdw[0] : 1) * cells * 4;
		e->dst_len = out + (chance(f, 70) ? 0 : below(f, 256));
		e->dst_addr = pick_dst(f, e->dst_len);
		break;
	default:
		e->opcode = BNNACC_OP_MVM;
		rand_region(f, &e->region);
		e->cdw[0] = skew(f, 16);
		e->cdw[1] = chance(f, 40) ? 0 : skew(f, 8);
		e->cdw[2] = below(f, BNNACC_ADC_SHIFT_MAX + 1) |
			    (chance(f, 30) ? BNNACC_MVM_SUM : 0);
		in = (uint64_t)e->cdw[0] * e->region.rows * 2;
		out = (uint64_t)(e->cdw[1] && !(e->cdw[2] & BNNACC_MVM_SUM) ? e->cdw[1] : 1) *
		      e->cdw[0] * e->region.cols * 4;
		e->src_len = in + (chance(f, 70) ? 0 : below(f, 64));
		e->src_addr = pick_src(f, e->src_len);
		put_src(f, e->src_addr, in, 0);
		e->dst_len = out + (chance(f, 70) ? 0 : below(f, 256));
		e->dst_addr = pick_dst(f, e->dst_len);
		break;
	}
}

static uint32_t ival32(struct fz *f, uint32_t near)
{
	switch (below(f, 12)) {
	case 0: return 0;
	case 1: return ~0u;
	case 2: return 1;
	case 3: return near - 1;
	case 4: return near;
	case 5: return near + 1;
	case 6: return MAX_XFER + below(f, 2);
	case 7: return 0x80000000u;
	case 8: return 0x10000;
	case 9: return 1u << below(f, 32);
	case 10: return below(f, 256);
	default: return (uint32_t)rnd(f);
	}
}

/* One mutation of a descriptor. */
static void mutate(struct fz *f, struct bnnacc_sqe *e)
{
	uint8_t *b = (uint8_t *)e;
	struct pred p = predict(f, e);

	switch (below(f, 12)) {
	case 0:
		b[below(f, 64)] ^= 1u << below(f, 8);
		break;
	case 1:
		b[below(f, 64)] = rnd(f);
		break;
	case 2:
		e->opcode = chance(f, 50) ? BNNACC_OP_MLP : rnd(f);
		break;
	case 3:
		if (chance(f, 50))
			e->flags = rnd(f) | 1;
		else if (chance(f, 50))
			e->rsvd0 = ival32(f, 0) | 1;
		else
			e->rsvd1 = rnd(f) | 1;
		break;
	case 4: {	/* region at and past the array's edges */
		struct bnnacc_region *r = &e->region;

		switch (below(f, 5)) {
		case 0: r->rows = 0; break;
		case 1: r->cols = 0xffff; break;
		case 2: r->row = BNNACC_ROWS - r->rows + 1; break;
		case 3: r->col = 0xffff; r->cols = 2; break;
		default: r->row = BNNACC_ROWS; break;
		}
		break;
	}
	case 5:
		e->src_len = ival32(f, p.need ? e->src_len : e->src_len);
		break;
	case 6:
		e->dst_len = ival32(f, p.need ? (uint32_t)p.need : e->dst_len);
		break;
	case 7: {	/* count x repeat around and past 2^32, 2^64 */
		static const uint32_t big[] = { 0x10000, 0x40000, 0x8000,
						0xffffffff, 0x80000000, 2 };

		e->cdw[0] = big[below(f, 6)];
		e->cdw[1] = big[below(f, 6)];
		break;
	}
	case 8:
		e->cdw[below(f, 4)] = ival32(f, 15);
		break;
	case 9:
		e->src_addr = pick_src(f, e->src_len ? e->src_len : 1);
		break;
	case 10:
		e->dst_addr = pick_dst(f, e->dst_len ? e->dst_len : 1);
		break;
	default:	/* a fully random descriptor */
		for (unsigned i = 0; i < 64; i++)
			b[i] = rnd(f);
		if (chance(f, 80))
			e->opcode = 1 + below(f, 5);
		if (chance(f, 60)) {
			e->flags = 0;
			e->rsvd0 = 0;
			e->rsvd1 = 0;
		}
		break;
	}
}

/*
 * Keep the guest alive: the card may write only where it is safe. A
 * destination that is not (a mutated address or length) moves to no memory.
 * A correct card writes at most min(dst_len, 64 MiB) bytes.
 */
static void make_safe(struct fz *f, struct bnnacc_sqe *e, int chaos)
{
	uint64_t len = e->dst_len < MAX_XFER ? e->dst_len : MAX_XFER;

	if (!dst_safe(f, e->dst_addr, len, chaos))
		e->dst_addr = nomem_addr(f, len);
}

/* ---- rings ------------------------------------------------------------ */

static int rings_setup(struct fz *f)
{
	unsigned sqb = 1 + below(f, 12), cqb = 1 + below(f, 12);

	card_reset(f);
	check_arena(f, "before new rings");
	f->sqn = 1u << sqb;
	f->cqn = 1u << cqb;
	f->sq_off = Z_SQ + 64 * below(f, (256 * KiB - f->sqn * 64) / 64 + 1);
	f->cq_off = Z_CQ + 64 * below(f, (64 * KiB - f->cqn * 16) / 64 + 1);
	/* the previous rings' area back to the pattern, then empty rings */
	fill_pat(f->a, f->sh, f->salt, Z_SQ, Z_SRC);
	memset(f->a + f->sq_off, 0, f->sqn * 64);
	memset(f->sh + f->sq_off, 0, f->sqn * 64);
	memset(f->a + f->cq_off, 0, f->cqn * 16);
	memset(f->sh + f->cq_off, 0, f->cqn * 16);
	f->cq_lo = f->cq_off;
	f->cq_hi = f->cq_off + f->cqn * 16;
	f->sq_tail = f->cq_head = 0;
	f->phase = 1;
	f->regs += graw_set_rings(f->bar, f->apa + f->sq_off, f->sqn,
				  f->apa + f->cq_off, f->cqn);
	wr(f, BNNACC_REG_CTRL, BNNACC_CTRL_ENABLE);
	CHECK_MSG(wait_status(f, BNNACC_STS_READY, 2000) == 0,
		  "not READY after enable (status 0x%x err 0x%x)",
		  rd(f, BNNACC_REG_STATUS), rd(f, BNNACC_REG_ERR_STATUS));
	return 0;
}

static void dump_card(struct fz *f)
{
	fprintf(stderr, "card: status 0x%x err 0x%x info 0x%x sq_head %u "
		"done %u failed %u (sq tail %u cq head %u phase %u)\n",
		rd(f, BNNACC_REG_STATUS), rd(f, BNNACC_REG_ERR_STATUS),
		rd(f, BNNACC_REG_ERR_INFO), rd(f, BNNACC_REG_SQ_HEAD),
		rd(f, BNNACC_REG_CMDS_DONE), rd(f, BNNACC_REG_CMDS_FAILED),
		f->sq_tail, f->cq_head, f->phase);
}

static void dump_sqe(const char *what, const struct bnnacc_sqe *e)
{
	fprintf(stderr, "  %s: op %u flags %u cid 0x%x rsvd0 0x%x region "
		"%u+%u x %u+%u src 0x%" PRIx64 "/%u dst 0x%" PRIx64 "/%u "
		"cdw %u %u %u %u rsvd1 0x%" PRIx64 "\n", what, e->opcode,
		e->flags, e->cid, e->rsvd0, e->region.row, e->region.rows,
		e->region.col, e->region.cols, (uint64_t)e->src_addr,
		e->src_len, (uint64_t)e->dst_addr, e->dst_len, e->cdw[0],
		e->cdw[1], e->cdw[2], e->cdw[3], (uint64_t)e->rsvd1);
}

/* Queue @n descriptors and ring the doorbell once. */
static void submit(struct fz *f, struct bnnacc_sqe *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		/* a cid whose high byte is never 0: see the header */
		e[i].cid = 0x100 | (f->cid++ & 0xfeff);
		if (!(e[i].cid >> 8))
			e[i].cid |= 0x100;
		aput(f, f->sq_off + 64ull * f->sq_tail, &e[i], 64);
		f->sq_tail = (f->sq_tail + 1) % f->sqn;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(f, BNNACC_REG_SQ_TAIL, f->sq_tail);
	f->descs += n;
}

/* The next completion, within @ms; -1 on timeout. */
static int reap(struct fz *f, struct bnnacc_cqe *out, int ms)
{
	volatile struct bnnacc_cqe *c =
		(volatile struct bnnacc_cqe *)(f->a + f->cq_off) + f->cq_head;

	for (long i = 0; i < (long)ms * 10; i++) {
		if (BNNACC_CQE_PHASE(c->status) == f->phase) {
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			out->cid = c->cid;
			out->status = c->status;
			out->sq_head = c->sq_head;
			out->rsvd = c->rsvd;
			out->result = c->result;
			out->busy_ns = c->busy_ns;
			f->cq_head = (f->cq_head + 1) % f->cqn;
			if (!f->cq_head)
				f->phase ^= 1;
			wr(f, BNNACC_REG_CQ_HEAD, f->cq_head);
			return 0;
		}
		if (i > 100)
			usleep(100);
	}
	return -1;
}

/* The data a successful command wrote must make sense. */
static int check_output(struct fz *f, const struct bnnacc_sqe *e,
			uint64_t len)
{
	const uint8_t *p;

	if (!within(e->dst_addr, len, f->apa, f->apa + ARENA))
		return 0;
	p = f->a + (e->dst_addr - f->apa);
	if (e->opcode == BNNACC_OP_IDENTIFY) {
		struct bnnacc_identify id;

		memcpy(&id, p, sizeof(id));
		if (id.magic != BNNACC_MAGIC || id.rows != BNNACC_ROWS ||
		    id.cols != BNNACC_COLS || id.iset_min_na != f->iset_min ||
		    id.max_ring != BNNACC_RING_MAX ||
		    strncmp(id.model, "bnnacc", 6))
			return -1;
		for (unsigned i = 0; i < sizeof(id.rsvd); i++)
			if (id.rsvd[i])
				return -1;
		return 0;
	}
	for (uint64_t i = 0; i + 4 <= len; i += 4) {
		/* MVM codes of 9 bits, or the sum of the repeats' codes */
		int64_t lim = 255ll * ((e->cdw[2] & BNNACC_MVM_SUM) && e->cdw[1] ?
				       e->cdw[1] : 1);
		int32_t v;

		memcpy(&v, p + i, 4);
		if (e->opcode == BNNACC_OP_READ &&
		    (v < 100 || v > 2000000))	/* nS: g_min .. 10 g_max */
			return -1;
		if (e->opcode == BNNACC_OP_MVM && (v < -lim || v > lim))
			return -1;
	}
	return 0;
}

/*
 * A checked burst: @n descriptors, each completed with a status the spec
 * allows; writes only where their completion allows.
 */
static int burst(struct fz *f, unsigned n)
{
	struct bnnacc_sqe e[MAXK];
	struct pred p[MAXK];
	struct bnnacc_cqe c;
	unsigned sc[MAXK];
	uint32_t done0 = rd(f, BNNACC_REG_CMDS_DONE);

	if (n > f->sqn - 1)
		n = f->sqn - 1;
	for (unsigned i = 0; i < n; i++) {
		unsigned op = chance(f, 4) ? (chance(f, 50) ? BNNACC_OP_MLP :
					      (unsigned)below(f, 256)) :
			      1 + below(f, 4);

		gen_valid(f, &e[i], op);
		e[i].opcode = op;
		for (unsigned m = chance(f, 35) ? 0 : skew(f, 3); m; m--)
			mutate(f, &e[i]);
		make_safe(f, &e[i], 0);
	}
	/* predictions from what memory holds once everything is written */
	for (unsigned i = 0; i < n; i++)
		p[i] = predict(f, &e[i]);
	submit(f, e, n);
	for (unsigned i = 0; i < n; i++) {
		if (reap(f, &c, 60000) < 0) {
			f->hangs++;
			fprintf(stderr, "HANG: no completion for descriptor "
				"%u of %u within 60 s\n", i, n);
			dump_sqe("waiting for", &e[i]);
			dump_card(f);
			return -1;
		}
		sc[i] = BNNACC_CQE_SC(c.status);
		if (c.cid != e[i].cid || sc[i] > BNNACC_SC_INTERNAL) {
			f->wrong++;
			fprintf(stderr, "WRONG COMPLETION: cid 0x%x status %u, "
				"want cid 0x%x\n", c.cid, sc[i], e[i].cid);
			dump_card(f);
			return -1;
		}
		f->sc[sc[i]]++;
		if (!(p[i].ok & SC_BIT(sc[i])) ||
		    (sc[i] == BNNACC_SC_SUCCESS && c.result != p[i].need) ||
		    (sc[i] != BNNACC_SC_SUCCESS && c.result)) {
			f->wrong++;
			fprintf(stderr, "WRONG STATUS: %u result %u (allowed "
				"0x%x, need %" PRIu64 ")\n", sc[i], c.result,
				p[i].ok, p[i].need);
			dump_sqe("descriptor", &e[i]);
		}
		/* a failed command writes nothing (buffers are checked first) */
		if (sc[i] == BNNACC_SC_SUCCESS) {
			allow(f, e[i].dst_addr, c.result);
			f->ok_bytes += c.result;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		int over = 0;

		if (sc[i] != BNNACC_SC_SUCCESS)
			continue;
		for (unsigned j = i + 1; j < n; j++)	/* rewritten later? */
			over |= sc[j] == BNNACC_SC_SUCCESS &&
				e[j].dst_addr < e[i].dst_addr + p[i].need &&
				e[i].dst_addr < e[j].dst_addr + p[j].need;
		if (over) {
			f->unchecked++;
		} else if (check_output(f, &e[i], p[i].need) < 0) {
			f->badout++;
			fprintf(stderr, "BAD OUTPUT\n");
			dump_sqe("descriptor", &e[i]);
		}
	}
	if ((uint32_t)(rd(f, BNNACC_REG_CMDS_DONE) - done0) != n) {
		f->wrong++;
		fprintf(stderr, "CMDS_DONE moved by %u for %u commands\n",
			rd(f, BNNACC_REG_CMDS_DONE) - done0, n);
	}
	if (rdstatus(f) & BNNACC_STS_FATAL) {
		f->wrong++;
		fprintf(stderr, "FATAL after command errors\n");
		dump_card(f);
		return -1;
	}
	f->bursts++;
	check_arena(f, "checked burst");
	return 0;
}

/*
 * A chaos burst: one mutated descriptor whose buffer may lie on the rings
 * (or its own source). Only the write windows are checked; then new rings.
 */
static int chaos(struct fz *f)
{
	struct bnnacc_sqe e;
	uint32_t done0 = rd(f, BNNACC_REG_CMDS_DONE);
	int i;

	gen_valid(f, &e, 1 + below(f, 4));
	for (unsigned m = skew(f, 2); m; m--)
		mutate(f, &e);
	if (e.dst_len && chance(f, 70)) {
		uint64_t lo = chance(f, 50) ? f->sq_off : f->cq_off;
		uint64_t len = e.dst_len < MAX_XFER ? e.dst_len : MAX_XFER;

		if (len <= ARENA - Z_SQ) {
			uint64_t o = lo - below(f, len < lo - Z_SQ ?
						 len : lo - Z_SQ);

			if (o + len > ARENA)
				o = ARENA - len;
			e.dst_addr = f->apa + o;
		}
	}
	make_safe(f, &e, 1);
	allow(f, e.dst_addr, e.dst_len < MAX_XFER ? e.dst_len : MAX_XFER);
	submit(f, &e, 1);
	for (i = 0; i < 600000; i++) {
		if (rd(f, BNNACC_REG_CMDS_DONE) != done0 ||
		    (rdstatus(f) & BNNACC_STS_FATAL))
			break;
		usleep(100);
	}
	if (i == 600000) {
		f->hangs++;
		fprintf(stderr, "HANG: chaos descriptor not completed\n");
		dump_sqe("descriptor", &e);
		dump_card(f);
		return -1;
	}
	f->chaos++;
	card_reset(f);
	check_arena(f, "chaos burst");
	return rings_setup(f);
}

/*
 * Heavy commands stopped while they run: RESET, CTRL.ENABLE cleared, a ring
 * register written (REG_ACCESS) or a doorbell past the ring (DOORBELL).
 * The card must stop: no completion, no data after that; the fatal ones
 * must say why.
 */
static int abort_op(struct fz *f)
{
	struct bnnacc_sqe e[3];
	unsigned n = 1 + below(f, f->sqn - 1 < 3 ? f->sqn - 1 : 3);
	unsigned kind = below(f, 4);
	uint32_t err;
	uint8_t *cq;

	for (unsigned i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].region.rows = e[i].region.cols = BNNACC_ROWS;
		if (chance(f, 50)) {
			e[i].opcode = BNNACC_OP_READ;
			e[i].cdw[0] = 1 + below(f, 16);
			e[i].dst_len = e[i].cdw[0] * BNNACC_CELLS * 4;
		} else {
			e[i].opcode = BNNACC_OP_MVM;
			e[i].cdw[0] = 1 + below(f, 64);
			e[i].cdw[1] = 1 + below(f, 32);
			e[i].src_len = e[i].cdw[0] * BNNACC_ROWS * 2;
			e[i].src_addr = f->apa + Z_SRC;
			e[i].dst_len = e[i].cdw[0] * e[i].cdw[1] * BNNACC_COLS * 4;
		}
		e[i].dst_addr = pick_dst(f, e[i].dst_len);
		make_safe(f, &e[i], 0);
		allow(f, e[i].dst_addr, e[i].dst_len);
	}
	submit(f, e, n);
	usleep(below(f, 4000));
	switch (kind) {
	case 0:
		wr(f, BNNACC_REG_RESET, BNNACC_RESET_KEY);
		wr(f, BNNACC_REG_INT_MASK, BNNACC_INT_ALL);
		break;
	case 1:
		wr(f, BNNACC_REG_CTRL, 0);
		break;
	case 2:
		wr(f, BNNACC_REG_SQ_SIZE, f->sqn);
		break;
	default:
		wr(f, BNNACC_REG_SQ_TAIL, f->sqn + below(f, 8));
		break;
	}
	err = rd(f, BNNACC_REG_ERR_STATUS);
	if ((kind == 2 && err != BNNACC_ERR_REG_ACCESS) ||
	    (kind == 3 && err != BNNACC_ERR_DOORBELL) ||
	    (kind < 2 && err) ||
	    (kind >= 2 && !(rdstatus(f) & BNNACC_STS_FATAL)) ||
	    (rdstatus(f) & (BNNACC_STS_READY | BNNACC_STS_BUSY))) {
		f->wrong++;
		fprintf(stderr, "STOP %u: status 0x%x err 0x%x\n", kind,
			rd(f, BNNACC_REG_STATUS), err);
	}
	/* nothing moves any more */
	cq = malloc(f->cqn * 16);
	if (cq) {
		memcpy(cq, f->a + f->cq_off, f->cqn * 16);
		usleep(20000);
		if (memcmp(cq, f->a + f->cq_off, f->cqn * 16)) {
			f->viol++;
			fprintf(stderr, "COMPLETION POSTED after stop %u\n",
				kind);
		}
		free(cq);
	}
	f->aborts++;
	card_reset(f);
	return rings_setup(f);
}

/* ---- register phase ---------------------------------------------------- */

static uint32_t reg_value(struct fz *f, unsigned off)
{
	uint64_t nm = nomem_addr(f, 64 * KiB);

	switch (below(f, 16)) {
	case 0: return 0;
	case 1: return ~0u;
	case 2: return 1;
	case 3: return (1u << below(f, 13)) + (uint32_t)below(f, 3) - 1;
	case 4: return chance(f, 50) ? 4097 : 8192;
	case 5: return (uint32_t)(f->apa + Z_SQ + 64 * below(f, 4096));
	case 6: return (uint32_t)(f->apa >> 32);
	case 7: return chance(f, 50) ? (uint32_t)nm : (uint32_t)(nm >> 32);
	case 8: return 1u << below(f, 32);
	case 9: return BNNACC_RESET_KEY;
	case 10: return BNNACC_RESET_KEY ^ (1u << below(f, 32));
	case 11: return below(f, 8);
	case 12: return (uint32_t)f->bar0_pa + (off & 0xff);
	case 13: return (uint32_t)(f->apa + Z_SQ + below(f, 256 * KiB));
	default: return (uint32_t)rnd(f);
	}
}

static int pow2_ring(uint32_t n)
{
	return n >= BNNACC_RING_MIN && n <= BNNACC_RING_MAX && !(n & (n - 1));
}

/* A ring the card may use: in the arena, no memory or its own BAR0. */
static int ring_safe(struct fz *f, uint64_t base, uint64_t len)
{
	return within(base, len, f->apa, f->apa + ARENA) ||
	       nomem(f, base, len) ||
	       within(base, len, f->bar0_pa, f->bar0_pa + BNNACC_REGS_SIZE);
}

/*
 * Before CTRL.ENABLE goes from 0 to 1: the rings the card is about to use
 * must be safe; a CQ in the arena becomes a window it may write.
 */
static void before_enable(struct fz *f)
{
	uint64_t sq, cq;
	uint32_t sqn, cqn;

	if (rd(f, BNNACC_REG_CTRL) & BNNACC_CTRL_ENABLE)
		return;
	sq = rd(f, BNNACC_REG_SQ_BASE_LO) |
	     (uint64_t)rd(f, BNNACC_REG_SQ_BASE_HI) << 32;
	cq = rd(f, BNNACC_REG_CQ_BASE_LO) |
	     (uint64_t)rd(f, BNNACC_REG_CQ_BASE_HI) << 32;
	sqn = rd(f, BNNACC_REG_SQ_SIZE);
	cqn = rd(f, BNNACC_REG_CQ_SIZE);
	f->enables++;
	if (!sq || (sq & 63) || !cq || (cq & 63) || !pow2_ring(sqn) ||
	    !pow2_ring(cqn))
		return;		/* RING_CONFIG: the card will not start */
	if (!ring_safe(f, sq, sqn * 64ull)) {
		sq = nomem_addr(f, 256 * KiB) & ~63ull;
		wr(f, BNNACC_REG_SQ_BASE_LO, (uint32_t)sq);
		wr(f, BNNACC_REG_SQ_BASE_HI, (uint32_t)(sq >> 32));
	}
	if (!ring_safe(f, cq, cqn * 16ull)) {
		cq = nomem_addr(f, 64 * KiB) & ~63ull;
		wr(f, BNNACC_REG_CQ_BASE_LO, (uint32_t)cq);
		wr(f, BNNACC_REG_CQ_BASE_HI, (uint32_t)(cq >> 32));
	}
	allow(f, cq, cqn * 16ull);
}

/* A ring configuration that works, so that doorbells make the card run. */
static void good_rings(struct fz *f)
{
	uint64_t sq = f->apa + Z_SQ + 64 * below(f, 2048);
	uint64_t cq = f->apa + Z_SQ + 64 * below(f, 4096);
	unsigned sqn = 1u << (1 + below(f, 12)), cqn = 1u << (1 + below(f, 12));

	if (chance(f, 20))
		sq = nomem_addr(f, 256 * KiB) & ~63ull;
	if (chance(f, 20))
		cq = nomem_addr(f, 64 * KiB) & ~63ull;
	if (chance(f, 50))
		card_reset(f);
	f->regs += graw_set_rings(f->bar, sq, sqn, cq, cqn);
	before_enable(f);
	wr(f, BNNACC_REG_CTRL, BNNACC_CTRL_ENABLE);
}

static unsigned reg_offset(struct fz *f)
{
	if (chance(f, 75))
		return 4 * below(f, BNNACC_REG_EVENT_INFO / 4 + 3);
	return 4 * below(f, BNNACC_REGS_SIZE / 4);
}

/* 1-, 2-, 8-byte and unaligned accesses: ignored, logged. */
static void odd_access(struct fz *f)
{
	volatile uint8_t *b = (volatile uint8_t *)f->bar;
	unsigned size = 1u << below(f, 4), off;
	int write = chance(f, 50);

	/* writes only where no register lives, whatever QEMU splits them to */
	off = write ? 0x100 + 8 * below(f, (BNNACC_REGS_SIZE - 0x108) / 8) :
		      8 * below(f, BNNACC_REGS_SIZE / 8 - 1);
	if (size == 4) {
		off += 1 + below(f, 3);
		f->reg_unaligned++;
	} else {
		f->reg_badsize++;
	}
	f->regs++;
	switch (size) {
	case 1:
		if (write)
			b[off] = rnd(f);
		else if (b[off])
			f->inv++;
		break;
	case 2:
		if (write)
			*(volatile uint16_t *)(b + off) = rnd(f);
		else if (*(volatile uint16_t *)(b + off))
			f->inv++;
		break;
	case 4:
		if (write)
			*(volatile uint32_t *)(b + off) = rnd(f);
		else
			(void)*(volatile uint32_t *)(b + off);
		break;
	default:
		if (write)
			*(volatile uint64_t *)(b + off) = rnd(f);
		else if (*(volatile uint64_t *)(b + off))
			f->inv++;
		break;
	}
}

/* Bus mastering off for a while: every DMA of the card must fail. */
static void set_bme(struct fz *f, int on)
{
	if (graw_pci_command(f->dir, on ? 0x4 : 0, on ? 0 : 0x4) < 0)
		fprintf(stderr, "cannot set bus mastering\n");
}

static int reg_phase(struct fz *f, unsigned n)
{
	int bme_off = 0;

	/* nothing but pattern where a random ring may point */
	card_reset(f);
	check_arena(f, "before register phase");
	f->cq_lo = f->cq_hi = 0;
	fill_pat(f->a, f->sh, f->salt, 0, ARENA);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = below(f, 1000), off = reg_offset(f);
		uint32_t v;

		if (k < 20) {
			good_rings(f);
			continue;
		}
		if (k < 22) {
			bme_off = !bme_off;
			set_bme(f, !bme_off);
			continue;
		}
		if (k < 60) {
			odd_access(f);
			continue;
		}
		if (k < 450) {
			v = rd(f, off);
			if (!reg_readable(off))
				f->reg_unknown++;
			check_reg(f, off, v);
			continue;
		}
		v = reg_value(f, off);
		if (off == BNNACC_REG_SQ_TAIL || off == BNNACC_REG_CQ_HEAD)
			v = chance(f, 80) ? below(f, 64) : v;
		if (off == BNNACC_REG_INT_MASK)
			v |= BNNACC_INT_ALL;
		if (off == BNNACC_REG_CTRL && (v & BNNACC_CTRL_ENABLE))
			before_enable(f);
		if (!reg_writable(off))
			f->reg_unknown++;
		wr(f, off, v);
		if (off == BNNACC_REG_RESET)
			wr(f, BNNACC_REG_INT_MASK, BNNACC_INT_ALL);
	}
	if (bme_off)
		set_bme(f, 1);
	usleep(2000);
	card_reset(f);
	/* reset: registers at their power-on values */
	if (rd(f, BNNACC_REG_CTRL) || rd(f, BNNACC_REG_ERR_STATUS) ||
	    rd(f, BNNACC_REG_SQ_SIZE) || rd(f, BNNACC_REG_CQ_BASE_LO) ||
	    (rdstatus(f) & (BNNACC_STS_READY | BNNACC_STS_FATAL))) {
		f->inv++;
		fprintf(stderr, "REGISTERS NOT RESET\n");
		dump_card(f);
	}
	f->reg_phases++;
	check_arena(f, "register phase");
	return rings_setup(f);
}

/* ---- liveness and the 2^64 wrap probe ------------------------------------ */

static int one(struct fz *f, struct bnnacc_sqe *e, struct bnnacc_cqe *c)
{
	submit(f, e, 1);
	CHECK_MSG(reap(f, c, 20000) == 0, "no completion (hang)");
	CHECK(c->cid == e->cid);
	return BNNACC_CQE_SC(c->status);
}

/* One command of the liveness check: it must write 256 good bytes. */
static int live_one(struct fz *f, struct bnnacc_sqe *e, const char *what)
{
	struct bnnacc_cqe c;
	int sc = one(f, e, &c);

	CHECK_MSG(sc == BNNACC_SC_SUCCESS && c.result == 256 &&
		  check_output(f, e, 256) == 0,
		  "liveness %s: status %d result %u", what, sc, c.result);
	allow(f, e->dst_addr, 256);
	return 0;
}

static int liveness(struct fz *f)
{
	struct bnnacc_sqe e;

	CHECK(rings_setup(f) == 0);
	memset(&e, 0, sizeof(e));
	e.opcode = BNNACC_OP_IDENTIFY;
	e.dst_addr = f->apa + Z_DST + 4096;
	e.dst_len = 4096;
	if (live_one(f, &e, "IDENTIFY"))
		return -1;
	memset(&e, 0, sizeof(e));
	e.opcode = BNNACC_OP_READ;
	e.region.row = below(f, 120);
	e.region.col = below(f, 120);
	e.region.rows = e.region.cols = 8;
	e.dst_addr = f->apa + Z_DST + 8192;
	e.dst_len = 256;
	if (live_one(f, &e, "READ"))
		return -1;
	CHECK(check_arena(f, "liveness") == 0);
	f->live++;
	return 0;
}

/*
 * A destination that crosses 2^64: the card must fail it without writing
 * the wrapped part to bus address 0. Page 0 is readable from /dev/mem.
 */
static int wrap_probe(struct fz *f)
{
	static const uint32_t ops[] = { BNNACC_OP_IDENTIFY, BNNACC_OP_READ,
					BNNACC_OP_MVM };
	uint8_t before[256], after[256];
	struct bnnacc_sqe e;
	struct bnnacc_cqe c;
	int sc;

	if (f->devmem < 0 || pread(f->devmem, before, 256, 0) != 256)
		return 0;
	memset(&e, 0, sizeof(e));
	e.opcode = ops[below(f, 3)];
	e.dst_addr = -(uint64_t)(8 + 8 * below(f, 8));
	e.dst_len = 4096;
	if (e.opcode != BNNACC_OP_IDENTIFY) {
		e.region.rows = 4;
		e.region.cols = 16;
	}
	if (e.opcode == BNNACC_OP_MVM) {
		e.cdw[0] = 1;
		e.src_addr = f->apa + Z_SRC;
		e.src_len = 8;
	}
	sc = one(f, &e, &c);
	CHECK(pread(f->devmem, after, 256, 0) == 256);
	f->wraps++;
	if (sc != BNNACC_SC_DMA_ERROR || memcmp(before, after, 256)) {
		f->viol += memcmp(before, after, 256) != 0;
		f->wrong += sc != BNNACC_SC_DMA_ERROR;
		fprintf(stderr, "WRAP: op %u to 0x%" PRIx64 " len %u: status "
			"%d; bus address 0..255 %s\n", e.opcode,
			(uint64_t)e.dst_addr, e.dst_len, sc,
			memcmp(before, after, 256) ? "WRITTEN" : "intact");
		/* put low memory back as it was */
		int fd = open("/dev/mem", O_WRONLY);

		if (fd >= 0) {
			if (pwrite(fd, before, 256, 0) != 256)
				fprintf(stderr, "cannot restore page 0\n");
			close(fd);
		}
	}
	return 0;
}

/*
 * The largest READ (64 MiB) into no memory: the card must refuse it at once
 * (DMA_ERROR), without computing it or trying to write it.
 */
static int big_probe(struct fz *f)
{
	struct bnnacc_sqe e;
	struct bnnacc_cqe c;
	struct timespec t0, t1;
	uint64_t ms;
	int sc;

	memset(&e, 0, sizeof(e));
	e.opcode = BNNACC_OP_READ;
	e.region.rows = BNNACC_ROWS;
	e.region.cols = BNNACC_COLS;
	e.cdw[0] = MAX_XFER / (BNNACC_CELLS * 4);
	e.dst_len = MAX_XFER;
	e.dst_addr = nomem_addr(f, MAX_XFER);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sc = one(f, &e, &c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	f->big++;
	if (ms > f->big_ms)
		f->big_ms = ms;
	if (sc != BNNACC_SC_DMA_ERROR) {
		f->wrong++;
		fprintf(stderr, "BIG READ to 0x%" PRIx64 ": status %d\n",
			(uint64_t)e.dst_addr, sc);
	}
	return 0;
}

/* ---- set-up ----------------------------------------------------------- */

/*
 * From /proc/iomem: the RAM the card may read, the largest hole below
 * 4 GiB that nothing decodes (no memory), the ECAM window.
 */
static int memory_map(struct fz *f)
{
	uint64_t lo[256], hi[256], cur = 16 * MiB;
	unsigned n = 0;
	char line[256];
	FILE *fp = fopen("/proc/iomem", "r");

	CHECK(fp != NULL);
	f->ram_lo = f->ram_hi = 0;
	while (fgets(line, sizeof(line), fp) && n < 256) {
		unsigned long long a, b;
		char *name = strstr(line, " : ");

		if (sscanf(line, " %llx-%llx", &a, &b) != 2 || !name)
			continue;
		name += 3;
		if (!strncmp(name, "PCI Bus", 7))
			continue;	/* a window, not a decoder */
		if (!strncmp(name, "System RAM", 10) && line[0] != ' ' &&
		    b + 1 - a > f->ram_hi - f->ram_lo) {
			f->ram_lo = a;
			f->ram_hi = b + 1;
		}
		if (strstr(name, "MMCONFIG") && !f->ecam)
			f->ecam = a;
		lo[n] = a;
		hi[n] = b + 1;
		n++;
	}
	fclose(fp);
	CHECK(f->ram_hi > f->ram_lo);
	/* the largest gap in [16 MiB, 0xfe000000) touching no range */
	f->gap_lo = f->gap_hi = 0;
	while (cur < 0xfe000000ull) {
		uint64_t next = 0xfe000000ull, skip = 0;

		for (unsigned i = 0; i < n; i++) {
			if (lo[i] <= cur && hi[i] > cur)
				skip = skip > hi[i] ? skip : hi[i];
			else if (lo[i] > cur && lo[i] < next)
				next = lo[i];
		}
		if (skip) {
			cur = skip;
			continue;
		}
		if (next - cur > f->gap_hi - f->gap_lo) {
			f->gap_lo = cur;
			f->gap_hi = next;
		}
		cur = next;
	}
	/* keep 1 MiB away from whatever is around */
	CHECK_MSG(f->gap_hi - f->gap_lo > 16 * MiB, "no hole below 4 GiB");
	f->gap_lo += MiB;
	f->gap_hi -= MiB;
	return 0;
}

static int setup(struct fz *f)
{
	char p[400], line[200];
	unsigned long long s, e, fl;
	FILE *fp;

	CHECK(graw_open_card(f->dir, sizeof(f->dir), &f->bar) == 0);
	snprintf(p, sizeof(p), "%s/resource", f->dir);
	fp = fopen(p, "r");
	CHECK(fp != NULL);
	for (int i = 0; i < 3 && fgets(line, sizeof(line), fp); i++) {
		if (sscanf(line, "%llx %llx %llx", &s, &e, &fl) != 3)
			continue;
		if (i == 0)
			f->bar0_pa = s;
		if (i == 2) {
			f->bar2_pa = s;
			f->bar2_len = s ? e + 1 - s : 0;
		}
	}
	fclose(fp);
	CHECK(f->bar0_pa != 0);
	CHECK(memory_map(f) == 0);

	fp = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (fp) {
		fprintf(fp, "8\n");
		fclose(fp);
	}
	f->a = graw_dma_alloc(ARENA, 1, &f->apa);
	f->d = graw_dma_alloc(ARENA, 1, &f->dpa);
	CHECK_MSG(f->a && f->d, "no physically contiguous 2 MiB huge pages");
	f->sh = malloc(ARENA);
	CHECK(f->sh != NULL);
	fill_pat(f->a, f->sh, f->salt, 0, ARENA);
	fill_pat(f->d, NULL, ~f->salt, 0, ARENA);
	f->devmem = open("/dev/mem", O_RDONLY);

	CHECK(rd(f, BNNACC_REG_MAGIC) == BNNACC_MAGIC);
	f->iset_min = rd(f, BNNACC_REG_ISET_MIN);
	f->iset_max = rd(f, BNNACC_REG_ISET_MAX);
	f->failed0 = rd(f, BNNACC_REG_CMDS_FAILED);
	f->done0 = rd(f, BNNACC_REG_CMDS_DONE);
	printf("f_device: card %s BAR0 0x%" PRIx64 " BAR2 0x%" PRIx64
	       " arena 0x%" PRIx64 " decoy 0x%" PRIx64 " RAM 0x%" PRIx64
	       "-0x%" PRIx64 " hole 0x%" PRIx64 "-0x%" PRIx64 " page0 %s\n",
	       f->dir, f->bar0_pa, f->bar2_pa, f->apa, f->dpa, f->ram_lo,
	       f->ram_hi, f->gap_lo, f->gap_hi,
	       f->devmem >= 0 ? "readable" : "not readable");
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void summary(struct fz *f, double secs, uint64_t seed)
{
	printf("FUZZ device seed=%" PRIu64 " secs=%.0f regs=%" PRIu64
	       " descs=%" PRIu64 " bursts=%" PRIu64 " chaos=%" PRIu64
	       " reg_phases=%" PRIu64 " stops=%" PRIu64 " resets=%" PRIu64
	       " liveness=%" PRIu64
	       " wrap_probes=%" PRIu64 " big_probes=%" PRIu64 " big_ms_max=%"
	       PRIu64 " guard_violations=%" PRIu64
	       " wrong_status=%" PRIu64 " bad_output=%" PRIu64
	       " invariants=%" PRIu64 " hangs=%" PRIu64 "\n", seed, secs,
	       f->regs, f->descs, f->bursts, f->chaos, f->reg_phases,
	       f->aborts, f->resets, f->live, f->wraps, f->big, f->big_ms, f->viol,
	       f->wrong, f->badout,
	       f->inv, f->hangs);
	printf("FUZZ device-status ok=%" PRIu64 " opcode=%" PRIu64
	       " field=%" PRIu64 " region=%" PRIu64 " length=%" PRIu64
	       " dma=%" PRIu64 " internal=%" PRIu64 " ok_bytes=%" PRIu64
	       " outputs_overwritten=%" PRIu64 "\n",
	       f->sc[0], f->sc[1], f->sc[2], f->sc[3], f->sc[4], f->sc[5],
	       f->sc[7], f->ok_bytes, f->unchecked);
	printf("FUZZ device-log cmds_done=%u cmds_failed=%u reg_unknown=%"
	       PRIu64 " reg_badsize=%" PRIu64 " reg_unaligned=%" PRIu64
	       " enables=%" PRIu64 "\n",
	       rd(f, BNNACC_REG_CMDS_DONE) - f->done0,
	       rd(f, BNNACC_REG_CMDS_FAILED) - f->failed0, f->reg_unknown,
	       f->reg_badsize, f->reg_unaligned, f->enables);
}

int main(int argc, char **argv)
{
	static struct fz fz;
	struct fz *f = &fz;
	uint64_t seed = 1, min_regs = 0, min_descs = 0;
	double secs = 60, t0, last;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "s:t:R:D:v")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': secs = strtod(optarg, NULL); break;
		case 'R': min_regs = strtoull(optarg, NULL, 0); break;
		case 'D': min_descs = strtoull(optarg, NULL, 0); break;
		case 'v': f->verbose = 1; break;
		default:
			fprintf(stderr, "usage: f_device [-s SEED] [-t SECONDS]"
				" [-R MIN_REGS] [-D MIN_DESCS] [-v]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	f->rng = seed;
	f->salt = (uint32_t)rnd(f);
	f->cid = 1;
	CHECK(setup(f) == 0);
	printf("f_device: seed %" PRIu64 ", %.0f s\n", seed, secs);
	t0 = last = now();
	CHECK(liveness(f) == 0);
	while (now() - t0 < secs) {
		unsigned k = below(f, 100);

		if (k < 10)
			rc = reg_phase(f, 500 + below(f, 4000));
		else if (k < 16)
			rc = chaos(f);
		else if (k < 18)
			rc = rings_setup(f);
		else if (k < 21)
			rc = abort_op(f);
		else
			rc = burst(f, skew(f, MAXK));
		if (rc || f->hangs)
			break;
		if (chance(f, 5) || now() - last > 10) {
			if (liveness(f) < 0) {
				rc = -1;
				break;
			}
			wrap_probe(f);
			if (chance(f, 30))
				big_probe(f);
		}
		if (now() - last > 10) {
			last = now();
			printf("FUZZ-PROGRESS t=%.0f regs=%" PRIu64 " descs=%"
			       PRIu64 " violations=%" PRIu64 " wrong=%" PRIu64
			       "\n", last - t0, f->regs, f->descs, f->viol,
			       f->wrong);
			check_decoy(f);
		}
	}
	if (!rc)
		rc = liveness(f);
	check_decoy(f);
	check_arena(f, "end");
	card_reset(f);
	summary(f, now() - t0, seed);
	if (rc || f->viol || f->wrong || f->badout || f->inv || f->hangs)
		return 1;
	CHECK_MSG(f->regs >= min_regs && f->descs >= min_descs,
		  "too few: %" PRIu64 " register accesses (want %" PRIu64
		  "), %" PRIu64 " descriptors (want %" PRIu64 ")", f->regs,
		  min_regs, f->descs, min_descs);
	printf("f_device: PASS\n");
	return 0;
}
