// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: a guest's block request as pvsplit-blkback takes it,
 * one ring slot decoded in any of the three ABIs (blk_decode()), then
 * checked (blk_check_req(), blk_check_segs() on the slot's segments or on
 * an indirect request's fetched ones), against any backend offer and store.
 * Whatever the checks accept must stay within the store, on its logical
 * blocks, within the pages and the features offered.
 *
 * Input: 13 bytes of offer and store (blkreq_seeds.py), the ring slot,
 * then an indirect request's segments; what is short reads as zeros.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "block/blkcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 13

/* The offer and the store, from the first HDR bytes. */
static enum blk_abi offer(const uint8_t *h, struct blk_limits *l)
{
	uint16_t mi;

	memcpy(&mi, h + 3, 2);
	*l = (struct blk_limits){
		.barrier = h[1] & 1,
		.flush = h[1] & 2,
		.discard = h[1] & 4,
		.secure_discard = h[1] & 8,
		.readonly = h[1] & 16,
		.unit = h[1] & 32 ? 4096 : 512,
		.logical = 512u << (h[2] % 4),
		.max_indirect = mi % (BLK_MAX_SEGS_INDIRECT + 1),
	};
	memcpy(&l->size, h + 5, 8);
	return (enum blk_abi)(h[0] % 3);
}

static void accepted(const struct blk_req *r, const struct blk_limits *l, const struct blk_plan *p,
		     const struct blkif_request_segment *segs)
{
	assert(l->size >= p->off && p->len <= l->size - p->off);
	assert(p->off % l->logical == 0 && p->len % l->logical == 0);
	switch (p->op) {
	case BLKIF_OP_DISCARD:
		assert(l->discard && !l->readonly && p->len > 0 && !p->nsegs);
		assert(!(r->discard_flag & BLKIF_DISCARD_SECURE) || l->secure_discard);
		return;
	case BLKIF_OP_WRITE_BARRIER:
		assert(l->barrier && !p->indirect);
		break;
	case BLKIF_OP_FLUSH_DISKCACHE:
		assert(l->flush && !p->indirect && p->flush_first == (p->nsegs > 0));
		break;
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
		assert(p->nsegs > 0);
		break;
	default:
		assert(!"an operation that does not exist");
	}
	assert(!l->readonly || p->op == BLKIF_OP_READ || !p->nsegs);
	if (p->indirect)
		assert(l->max_indirect && p->nsegs <= l->max_indirect &&
		       r->operation == BLKIF_OP_INDIRECT);
	else
		assert(p->nsegs <= BLKIF_MAX_SEGMENTS_PER_REQUEST);
	if (!p->nsegs)
		return;
	assert(p->len > 0 && p->len <= (uint64_t)p->nsegs * XEN_PAGE_SIZE);
	for (uint32_t i = 0; i < p->nsegs; i++)
		assert(segs[i].first_sect <= segs[i].last_sect &&
		       ((uint64_t)segs[i].last_sect + 1) * l->unit <= XEN_PAGE_SIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct blkif_request_segment ind[BLK_MAX_SEGS_INDIRECT];
	uint8_t hdr[HDR] = { 0 }, slot[sizeof(union blkif_sring_entry)] = { 0 };
	struct blk_limits l;
	struct blk_plan p;
	struct blk_req r;
	enum blk_verdict v;
	enum blk_abi abi;
	size_t n;

	memcpy(hdr, data, size < HDR ? size : HDR);
	data += size < HDR ? size : HDR;
	size -= size < HDR ? size : HDR;
	abi = offer(hdr, &l);
	n = blk_abi_req_size(abi);
	memcpy(slot, data, size < n ? size : n);
	data += size < n ? size : n;
	size -= size < n ? size : n;
	memset(ind, 0, sizeof(ind));
	memcpy(ind, data, size < sizeof(ind) ? size : sizeof(ind));

	blk_decode(abi, slot, &r);
	v = blk_check_req(&r, &l, &p);
	if (v == BLK_OK && p.nsegs) {
		const struct blkif_request_segment *segs = p.indirect ? ind : r.seg;

		v = blk_check_segs(&r, segs, &l, &p);
		if (v == BLK_OK)
			accepted(&r, &l, &p, segs);
	} else if (v == BLK_OK) {
		accepted(&r, &l, &p, r.seg);
	}
	assert((blk_verdict_status(v) == BLKIF_RSP_EOPNOTSUPP) == (v == BLK_UNSUPPORTED));
	assert((blk_verdict_status(v) == BLKIF_RSP_OKAY) == (v == BLK_OK));
	return 0;
}
