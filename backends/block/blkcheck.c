// SPDX-License-Identifier: LGPL-2.1-or-later
#include "blkcheck.h"

enum blk_verdict blk_check_req(const struct blk_req *r, const struct blk_limits *l,
			       struct blk_plan *p)
{
	uint64_t max_sect;

	*p = (struct blk_plan){ .op = r->operation };
	switch (r->operation) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
		if (!r->nr_segments || r->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			return BLK_BAD_SEGS;
		break;
	case BLKIF_OP_INDIRECT:
		if (!l->max_indirect)
			return BLK_BAD_OP;
		if (r->indirect_op != BLKIF_OP_READ && r->indirect_op != BLKIF_OP_WRITE)
			return BLK_BAD_OP;
		p->op = r->indirect_op;
		if (!r->nr_segments || r->nr_segments > l->max_indirect)
			return BLK_BAD_SEGS;
		p->indirect = true;
		break;
	case BLKIF_OP_WRITE_BARRIER:
	case BLKIF_OP_FLUSH_DISKCACHE:
		if (r->operation == BLKIF_OP_WRITE_BARRIER ? !l->barrier : !l->flush)
			return BLK_UNSUPPORTED;
		if (r->nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
			return BLK_BAD_SEGS;
		break;
	case BLKIF_OP_DISCARD:
		if (!l->discard)
			return BLK_UNSUPPORTED;
		if (l->readonly)
			return BLK_READONLY;
		if ((r->discard_flag & BLKIF_DISCARD_SECURE) && !l->secure_discard)
			return BLK_UNSUPPORTED;
		max_sect = l->size / l->unit;
		if (!r->nr_sectors || r->sector_number > max_sect ||
		    r->nr_sectors > max_sect - r->sector_number)
			return BLK_BAD_RANGE;
		p->off = r->sector_number * l->unit;
		p->len = r->nr_sectors * l->unit;
		if (p->off % l->logical || p->len % l->logical)
			return BLK_BAD_RANGE;
		return BLK_OK;
	default:
		return BLK_BAD_OP;
	}
	p->nsegs = r->nr_segments;
	/* Never reaches storage: any data but a read's. */
	if (l->readonly && p->nsegs && p->op != BLKIF_OP_READ)
		return BLK_READONLY;
	p->flush_first = p->op == BLKIF_OP_FLUSH_DISKCACHE && p->nsegs;
	return BLK_OK;
}

enum blk_verdict blk_check_segs(const struct blk_req *r, const struct blkif_request_segment *segs,
				const struct blk_limits *l, struct blk_plan *p)
{
	const uint32_t per_page = XEN_PAGE_SIZE / l->unit;
	uint64_t len = 0, max_sect = l->size / l->unit;

	for (uint32_t i = 0; i < p->nsegs; i++) {
		const struct blkif_request_segment *s = &segs[i];
		uint64_t b0 = (uint64_t)s->first_sect * l->unit;
		uint64_t b1 = ((uint64_t)s->last_sect + 1) * l->unit;

		if (s->first_sect > s->last_sect || s->last_sect >= per_page || b0 % l->logical ||
		    b1 % l->logical)
			return BLK_BAD_SEGS;
		len += b1 - b0;
	}
	if (r->sector_number > max_sect || len > (max_sect - r->sector_number) * (uint64_t)l->unit)
		return BLK_BAD_RANGE;
	p->off = r->sector_number * l->unit;
	p->len = len;
	if (p->off % l->logical)
		return BLK_BAD_RANGE;
	return BLK_OK;
}

int16_t blk_verdict_status(enum blk_verdict v)
{
	switch (v) {
	case BLK_OK:
		return BLKIF_RSP_OKAY;
	case BLK_UNSUPPORTED:
		return BLKIF_RSP_EOPNOTSUPP;
	default:
		return BLKIF_RSP_ERROR;
	}
}
