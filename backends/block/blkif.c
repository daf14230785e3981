// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>

#include <xen/io/protocols.h>

#include "blkif.h"

/* Byte offsets of every field in one ABI. */
struct layout {
	size_t ent, req;
	/* read/write/barrier/flush */
	size_t nr_segments, handle, id, sector, seg;
	/* discard */
	size_t d_flag, d_handle, d_id, d_sector, d_nr_sectors;
	/* indirect */
	size_t i_op, i_nr_segments, i_id, i_sector, i_handle, i_grefs;
	/* response */
	size_t r_id, r_op, r_status;
};

#define OFF(t, f) offsetof(struct t, f)

/* x86_64 is the header's own layout on this (x86_64) build. */
static const struct layout x86_64 = {
	.ent = sizeof(union blkif_sring_entry),
	.req = sizeof(struct blkif_request),
	.nr_segments = OFF(blkif_request, nr_segments),
	.handle = OFF(blkif_request, handle),
	.id = OFF(blkif_request, id),
	.sector = OFF(blkif_request, sector_number),
	.seg = OFF(blkif_request, seg),
	.d_flag = OFF(blkif_request_discard, flag),
	.d_handle = OFF(blkif_request_discard, handle),
	.d_id = OFF(blkif_request_discard, id),
	.d_sector = OFF(blkif_request_discard, sector_number),
	.d_nr_sectors = OFF(blkif_request_discard, nr_sectors),
	.i_op = OFF(blkif_request_indirect, indirect_op),
	.i_nr_segments = OFF(blkif_request_indirect, nr_segments),
	.i_id = OFF(blkif_request_indirect, id),
	.i_sector = OFF(blkif_request_indirect, sector_number),
	.i_handle = OFF(blkif_request_indirect, handle),
	.i_grefs = OFF(blkif_request_indirect, indirect_grefs),
	.r_id = OFF(blkif_response, id),
	.r_op = OFF(blkif_response, operation),
	.r_status = OFF(blkif_response, status),
};

/* i386: the same structs with uint64_t aligned to 4 bytes. */
static const struct layout x86_32 = {
	.ent = 108,
	.req = 108,
	.nr_segments = 1,
	.handle = 2,
	.id = 4,
	.sector = 12,
	.seg = 20,
	.d_flag = 1,
	.d_handle = 2,
	.d_id = 4,
	.d_sector = 12,
	.d_nr_sectors = 20,
	.i_op = 1,
	.i_nr_segments = 2,
	.i_id = 4,
	.i_sector = 12,
	.i_handle = 20,
	.i_grefs = 24,
	.r_id = 0,
	.r_op = 8,
	.r_status = 10,
};

_Static_assert(sizeof(struct blkif_request) == 112, "x86_64 blkif request");
_Static_assert(sizeof(union blkif_sring_entry) == 112, "x86_64 blkif entry");

static const struct layout *L(enum blk_abi abi)
{
	return abi == BLK_ABI_X86_32 ? &x86_32 : &x86_64;
}

int blk_abi_from_protocol(const char *p)
{
	if (!p || !*p)
		return BLK_ABI_NATIVE;
	if (!strcmp(p, XEN_IO_PROTO_ABI_X86_32))
		return BLK_ABI_X86_32;
	if (!strcmp(p, XEN_IO_PROTO_ABI_X86_64))
		return BLK_ABI_X86_64;
	return -EINVAL;
}

const char *blk_abi_name(enum blk_abi abi)
{
	switch (abi) {
	case BLK_ABI_X86_32:
		return XEN_IO_PROTO_ABI_X86_32;
	case BLK_ABI_X86_64:
		return XEN_IO_PROTO_ABI_X86_64;
	default:
		return "native";
	}
}

size_t blk_abi_ent_size(enum blk_abi abi)
{
	return L(abi)->ent;
}

size_t blk_abi_req_size(enum blk_abi abi)
{
	return L(abi)->req;
}

#define GET(raw, off, var) memcpy(&(var), (const uint8_t *)(raw) + (off), sizeof(var))
#define PUT(raw, off, var) memcpy((uint8_t *)(raw) + (off), &(var), sizeof(var))

void blk_decode(enum blk_abi abi, const void *raw, struct blk_req *r)
{
	const struct layout *l = L(abi);

	memset(r, 0, sizeof(*r));
	GET(raw, 0, r->operation);
	switch (r->operation) {
	case BLKIF_OP_DISCARD:
		GET(raw, l->d_flag, r->discard_flag);
		GET(raw, l->d_handle, r->handle);
		GET(raw, l->d_id, r->id);
		GET(raw, l->d_sector, r->sector_number);
		GET(raw, l->d_nr_sectors, r->nr_sectors);
		break;
	case BLKIF_OP_INDIRECT:
		GET(raw, l->i_op, r->indirect_op);
		GET(raw, l->i_nr_segments, r->nr_segments);
		GET(raw, l->i_id, r->id);
		GET(raw, l->i_sector, r->sector_number);
		GET(raw, l->i_handle, r->handle);
		memcpy(r->indirect_grefs, (const uint8_t *)raw + l->i_grefs,
		       sizeof(r->indirect_grefs));
		break;
	default: {
		uint8_t n;

		GET(raw, l->nr_segments, n);
		r->nr_segments = n;
		GET(raw, l->handle, r->handle);
		GET(raw, l->id, r->id);
		GET(raw, l->sector, r->sector_number);
		/* Copy all 11 slots; only the first nr_segments mean anything. */
		memcpy(r->seg, (const uint8_t *)raw + l->seg, sizeof(r->seg));
	}
	}
}

void blk_encode_rsp(enum blk_abi abi, void *slot, uint64_t id, uint8_t op, int16_t status)
{
	const struct layout *l = L(abi);

	memset(slot, 0, abi == BLK_ABI_X86_32 ? 12 : sizeof(struct blkif_response));
	PUT(slot, l->r_id, id);
	PUT(slot, l->r_op, op);
	PUT(slot, l->r_status, status);
}

void blk_encode_req(enum blk_abi abi, void *slot, const struct blk_req *r)
{
	const struct layout *l = L(abi);

	memset(slot, 0, l->req);
	PUT(slot, 0, r->operation);
	switch (r->operation) {
	case BLKIF_OP_DISCARD:
		PUT(slot, l->d_flag, r->discard_flag);
		PUT(slot, l->d_handle, r->handle);
		PUT(slot, l->d_id, r->id);
		PUT(slot, l->d_sector, r->sector_number);
		PUT(slot, l->d_nr_sectors, r->nr_sectors);
		break;
	case BLKIF_OP_INDIRECT:
		PUT(slot, l->i_op, r->indirect_op);
		PUT(slot, l->i_nr_segments, r->nr_segments);
		PUT(slot, l->i_id, r->id);
		PUT(slot, l->i_sector, r->sector_number);
		PUT(slot, l->i_handle, r->handle);
		memcpy((uint8_t *)slot + l->i_grefs, r->indirect_grefs, sizeof(r->indirect_grefs));
		break;
	default: {
		uint8_t n = (uint8_t)r->nr_segments;

		PUT(slot, l->nr_segments, n);
		PUT(slot, l->handle, r->handle);
		PUT(slot, l->id, r->id);
		PUT(slot, l->sector, r->sector_number);
		memcpy((uint8_t *)slot + l->seg, r->seg, sizeof(r->seg));
	}
	}
}

void blk_decode_rsp(enum blk_abi abi, const void *slot, uint64_t *id, uint8_t *op, int16_t *status)
{
	const struct layout *l = L(abi);

	GET(slot, l->r_id, *id);
	GET(slot, l->r_op, *op);
	GET(slot, l->r_status, *status);
}
