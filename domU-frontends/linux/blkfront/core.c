// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvsplit-blkfront: the ring/protocol core (see core.h).  Built into the
 * module and into the host unit test tests/unit/test_blkfront_core.c.
 */
#include "core.h"

/* ---- negotiation ---- */

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

uint32_t pvb_ring_order(uint32_t param, uint32_t backend_max)
{
	return min_u32(min_u32(param, backend_max), PVB_MAX_RING_ORDER);
}

uint32_t pvb_ring_entries(uint32_t order)
{
	if (order > PVB_MAX_RING_ORDER)
		order = PVB_MAX_RING_ORDER;
	return __CONST_RING_SIZE(blkif, (size_t)PVB_PAGE_SIZE << order);
}

uint32_t pvb_nr_queues(uint32_t param, uint32_t backend_max)
{
	uint32_t n = min_u32(param, backend_max);

	return n ? n : 1;
}

uint32_t pvb_indirect_segments(uint32_t param, uint32_t backend)
{
	uint32_t n = min_u32(min_u32(param, backend), PVB_MAX_SEGMENTS);

	return n > BLKIF_MAX_SEGMENTS_PER_REQUEST ? n : 0;
}

uint32_t pvb_wire_unit(bool large_sectors, uint32_t sector_size)
{
	return large_sectors ? sector_size : PVB_SECTOR;
}

int pvb_geometry(const struct pvb_backend *be, uint32_t unit,
		 struct pvb_geometry *geo)
{
	uint32_t ss = be->sector_size, ps = be->physical_sector_size;
	uint64_t per_unit;

	if (!is_pow2(ss) || ss < PVB_SECTOR || ss > PVB_PAGE_SIZE)
		return -EINVAL;
	if (unit != PVB_SECTOR && unit != ss)
		return -EINVAL;
	per_unit = unit / PVB_SECTOR;
	if (be->sectors > PVB_U64_MAX / per_unit)
		return -EOVERFLOW;
	geo->capacity = be->sectors * per_unit;
	geo->logical = ss;
	geo->physical_fixed = false;
	if (!ps) {
		ps = ss;
	} else if (!is_pow2(ps) || ps < ss) {
		/* not a multiple of sector-size: blkif.h forbids it */
		ps = ss;
		geo->physical_fixed = true;
	}
	geo->physical = ps;
	return 0;
}

void pvb_features(const struct pvb_backend *be, const struct pvb_params *p,
		  const struct pvb_geometry *geo, struct pvb_conn *c)
{
	uint32_t gran;

	c->flush = false;
	c->barrier = false;
	if (be->barrier) {
		c->flush = true;
		c->barrier = true;
	}
	if (be->flush_cache) {
		c->flush = true;
		c->barrier = false;
	}
	c->persistent = p->persistent && be->persistent;
	c->indirect_segments = pvb_indirect_segments(p->max_indirect_segments,
						     be->max_indirect_segments);
	c->readonly = (be->info & VDISK_READONLY) || be->mode_ro;
	c->discard = be->discard;
	c->secure_discard = be->discard && be->discard_secure;
	c->discard_granularity = 0;
	c->discard_alignment = 0;
	if (!c->discard)
		return;
	gran = be->discard_granularity;
	if (!gran || gran % geo->logical)
		gran = geo->physical;
	c->discard_granularity = gran;
	if (be->discard_alignment < gran &&
	    !(be->discard_alignment % PVB_SECTOR))
		c->discard_alignment = be->discard_alignment;
}

uint32_t pvb_segs_per_request(const struct pvb_conn *c)
{
	return c->indirect_segments ? c->indirect_segments :
				      BLKIF_MAX_SEGMENTS_PER_REQUEST;
}

/* ---- xvd naming (Xen's vbd-interface numbering, as xen-blkfront) ---- */

#define PVB_PARTS_PER_DISK	16u
#define PVB_PARTS_PER_EXT_DISK	256u
#define PVB_EXT_SHIFT		28
#define PVB_MINORBITS		20
#define PVB_XENVBD_MAJOR	202u

int pvb_vdev_parse(uint32_t vdevice, struct pvb_disk_id *id)
{
	uint32_t major = vdevice >> 8, minor = vdevice & 0xff, parts;
	uint32_t index;

	if ((vdevice >> PVB_EXT_SHIFT) > 1)
		return -ENODEV;
	if (vdevice >> PVB_EXT_SHIFT) {
		minor = vdevice & ~(1u << PVB_EXT_SHIFT);
		parts = PVB_PARTS_PER_EXT_DISK;
		index = minor / parts;
	} else {
		parts = PVB_PARTS_PER_DISK;
		switch (major) {
		case 3:		/* hd[ab] */
			index = minor / 64;
			minor = index * parts;
			break;
		case 22:	/* hd[cd] */
			index = minor / 64 + 2;
			minor = index * parts;
			break;
		case 8:		/* sd[a-p] */
			index = minor / parts;
			break;
		case 65 ... 71:	/* sd[q-dz] */
			index = minor / parts + (major - 64) * 16;
			minor += (major - 64) * 16 * parts;
			break;
		case 128 ... 135: /* sd[ea-hz] */
			index = minor / parts + (major - 128 + 8) * 16;
			minor += (major - 128 + 8) * 16 * parts;
			break;
		case PVB_XENVBD_MAJOR:
			index = minor / parts;
			break;
		default:
			return -ENODEV;
		}
	}
	if (minor >> PVB_MINORBITS)
		return -ENODEV;
	id->minor = minor;
	id->index = index;
	if (minor % parts == 0) {
		id->nr_minors = parts;
		id->partition = 0;
	} else {
		id->nr_minors = 1;
		id->partition = minor & (parts - 1);
	}
	return 0;
}

int pvb_disk_name(const struct pvb_disk_id *id, char *buf, size_t len)
{
	char letters[8], digits[12];
	size_t n = 0, nd = 0, i, pos;
	uint32_t x = id->index, part = id->partition;

	/* bijective base 26, as xen-blkfront: a..z, aa..zz, aaa.. */
	for (;;) {
		letters[n++] = (char)('a' + x % 26);
		x /= 26;
		if (!x || n == sizeof(letters))
			break;
		x--;
	}
	while (part) {
		digits[nd++] = (char)('0' + part % 10);
		part /= 10;
	}
	if (3 + n + nd + 1 > len)
		return -ENAMETOOLONG;
	memcpy(buf, "xvd", 3);
	pos = 3;
	for (i = 0; i < n; i++)
		buf[pos++] = letters[n - 1 - i];
	for (i = 0; i < nd; i++)
		buf[pos++] = digits[nd - 1 - i];
	buf[pos] = 0;
	return 0;
}

/* ---- requests ---- */

int pvb_plan_io(const struct pvb_conn *c, const struct pvb_io *io,
		struct pvb_plan *p)
{
	uint32_t per_unit = c->unit / PVB_SECTOR;
	uint64_t bytes;

	memset(p, 0, sizeof(*p));
	if (!is_pow2(c->unit) || c->unit < PVB_SECTOR ||
	    c->unit > PVB_PAGE_SIZE)
		return -EINVAL;
	switch (io->kind) {
	case PVB_IO_FLUSH:
		if (!c->flush)
			return 0;	/* no cache to flush: done */
		p->op = c->barrier ? BLKIF_OP_WRITE_BARRIER :
				     BLKIF_OP_FLUSH_DISKCACHE;
		p->nparts = 1;
		return 0;
	case PVB_IO_DISCARD:
	case PVB_IO_SECURE_ERASE:
		if (!c->discard ||
		    (io->kind == PVB_IO_SECURE_ERASE && !c->secure_discard))
			return -EOPNOTSUPP;
		if (c->readonly)
			return -EROFS;
		if (!io->nr_sectors || io->sector % per_unit ||
		    io->nr_sectors % per_unit)
			return -EINVAL;
		p->op = BLKIF_OP_DISCARD;
		p->nparts = 1;
		return 0;
	case PVB_IO_READ:
		p->op = BLKIF_OP_READ;
		break;
	case PVB_IO_WRITE:
		if (c->readonly)
			return -EROFS;
		/* FUA by barrier; never indirect (indirect_op is READ/WRITE) */
		p->op = io->fua && c->barrier ? BLKIF_OP_WRITE_BARRIER :
						BLKIF_OP_WRITE;
		break;
	default:
		return -EINVAL;
	}
	if (!io->nr_sectors || io->sector % per_unit ||
	    io->nr_sectors % per_unit ||
	    io->nr_sectors > PVB_U32_MAX / PVB_SECTOR)
		return -EINVAL;
	bytes = io->nr_sectors * PVB_SECTOR;
	p->nsegs = (uint32_t)((bytes + PVB_PAGE_SIZE - 1) / PVB_PAGE_SIZE);
	if (p->op == BLKIF_OP_WRITE_BARRIER)
		p->segs_per_part = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	else
		p->segs_per_part = pvb_segs_per_request(c);
	p->nparts = (p->nsegs + p->segs_per_part - 1) / p->segs_per_part;
	p->ngrants = p->nsegs;
	if (p->segs_per_part > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		uint32_t k;

		for (k = 0; k < p->nparts; k++) {
			uint32_t n = min_u32(p->segs_per_part,
					     p->nsegs - k * p->segs_per_part);

			if (n > BLKIF_MAX_SEGMENTS_PER_REQUEST)
				p->ngrants += PVB_INDIRECT_PAGES(n);
		}
	}
	return 0;
}

void pvb_plan_part(const struct pvb_conn *c, const struct pvb_io *io,
		   const struct pvb_plan *p, uint32_t k, struct pvb_part *part)
{
	uint32_t first = k * p->segs_per_part;
	uint64_t bytes = io->nr_sectors * PVB_SECTOR, left, room;

	memset(part, 0, sizeof(*part));
	part->op = p->op;
	part->sector = io->sector * PVB_SECTOR / c->unit;
	if (p->op == BLKIF_OP_DISCARD) {
		part->nr_sectors = bytes / c->unit;
		if (io->kind == PVB_IO_SECURE_ERASE)
			part->discard_flag = BLKIF_DISCARD_SECURE;
		return;
	}
	if (!p->nsegs)
		return;	/* flush */
	part->nsegs = min_u32(p->segs_per_part, p->nsegs - first);
	part->off = first * PVB_PAGE_SIZE;
	left = bytes - part->off;
	room = (uint64_t)part->nsegs * PVB_PAGE_SIZE;
	part->len = (uint32_t)(left < room ? left : room);
	part->sector += part->off / c->unit;
	if (part->nsegs > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		part->indirect_op = p->op;
		part->op = BLKIF_OP_INDIRECT;
		part->nind = PVB_INDIRECT_PAGES(part->nsegs);
	}
}

static struct blkif_request_segment seg_of(const struct pvb_conn *c,
					   const struct pvb_part *part,
					   uint32_t i, grant_ref_t gref)
{
	uint32_t left = part->len - i * PVB_PAGE_SIZE;
	uint32_t len = left < PVB_PAGE_SIZE ? left : PVB_PAGE_SIZE;
	struct blkif_request_segment s;

	s.gref = gref;
	s.first_sect = 0;
	s.last_sect = (uint8_t)(len / c->unit - 1);
	return s;
}

void pvb_encode(const struct pvb_conn *c, const struct pvb_part *part,
		uint64_t id, const grant_ref_t *grefs, const grant_ref_t *igrefs,
		struct blkif_request_segment *const *ipages,
		struct blkif_request *out)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->operation = part->op;
	if (part->op == BLKIF_OP_DISCARD) {
		PVB_REQ_DISCARD(out)->flag = part->discard_flag;
		PVB_REQ_DISCARD(out)->id = id;
		PVB_REQ_DISCARD(out)->sector_number = part->sector;
		PVB_REQ_DISCARD(out)->nr_sectors = part->nr_sectors;
		return;
	}
	if (part->op == BLKIF_OP_INDIRECT) {
		PVB_REQ_INDIRECT(out)->indirect_op = part->indirect_op;
		PVB_REQ_INDIRECT(out)->nr_segments = (uint16_t)part->nsegs;
		PVB_REQ_INDIRECT(out)->id = id;
		PVB_REQ_INDIRECT(out)->sector_number = part->sector;
		PVB_REQ_INDIRECT(out)->handle = c->handle;
		for (i = 0; i < part->nind; i++)
			PVB_REQ_INDIRECT(out)->indirect_grefs[i] = igrefs[i];
		for (i = 0; i < part->nsegs; i++)
			ipages[i / PVB_SEGS_PER_INDIRECT_PAGE]
			      [i % PVB_SEGS_PER_INDIRECT_PAGE] =
				seg_of(c, part, i, grefs[i]);
		return;
	}
	PVB_REQ_RW(out)->nr_segments = (uint8_t)part->nsegs;
	PVB_REQ_RW(out)->handle = c->handle;
	PVB_REQ_RW(out)->id = id;
	PVB_REQ_RW(out)->sector_number = part->sector;
	for (i = 0; i < part->nsegs; i++)
		PVB_REQ_RW(out)->seg[i] = seg_of(c, part, i, grefs[i]);
}

/* ---- shadow table and responses ---- */

void pvb_ring_init(struct pvb_ring *r, struct pvb_shadow *sh, uint32_t size)
{
	uint32_t i;

	memset(sh, 0, sizeof(*sh) * size);
	r->sh = sh;
	r->size = size;
	for (i = 0; i < size; i++)
		sh[i].next_free = i + 1 < size ? i + 1 : PVB_NO_ID;
	r->free_head = size ? 0 : PVB_NO_ID;
	r->nfree = size;
}

uint32_t pvb_id_get(struct pvb_ring *r)
{
	uint32_t id = r->free_head;

	if (id == PVB_NO_ID || id >= r->size)
		return PVB_NO_ID;
	r->free_head = r->sh[id].next_free;
	r->sh[id].next_free = PVB_NO_ID;
	r->sh[id].state = PVB_SH_INFLIGHT;
	r->nfree--;
	return id;
}

int pvb_id_put(struct pvb_ring *r, uint32_t id)
{
	if (id >= r->size || r->sh[id].state == PVB_SH_FREE)
		return -EINVAL;
	r->sh[id].state = PVB_SH_FREE;
	r->sh[id].next_free = r->free_head;
	r->free_head = id;
	r->nfree++;
	return 0;
}

uint32_t pvb_ring_abort(struct pvb_ring *r, pvb_abort_fn fn, void *ctx)
{
	uint32_t id, n = 0;

	for (id = 0; id < r->size; id++) {
		if (r->sh[id].state == PVB_SH_FREE)
			continue;
		fn(ctx, id);
		pvb_id_put(r, id);
		n++;
	}
	return n;
}

void pvb_ring_send(struct pvb_ring *r, struct blkif_front_ring *ring,
		   uint32_t id, const struct pvb_part *part)
{
	struct pvb_shadow *s = &r->sh[id];

	s->state = PVB_SH_INFLIGHT;
	s->op = part->op == BLKIF_OP_INDIRECT ? part->indirect_op : part->op;
	s->nsegs = part->nsegs;
	s->nind = part->nind;
	s->off = part->off;
	s->len = part->len;
	*RING_GET_REQUEST(ring, ring->req_prod_pvt) = s->req;
	ring->req_prod_pvt++;
}

const char *pvb_rsp_error_str(int err)
{
	switch (err) {
	case PVB_RSP_OK:
		return "ok";
	case PVB_RSP_TOO_MANY:
		return "more responses than requests";
	case PVB_RSP_BAD_ID:
		return "response id out of range";
	case PVB_RSP_NOT_PENDING:
		return "response to no request in flight";
	case PVB_RSP_BAD_OP:
		return "response operation does not match the request";
	default:
		return "unknown error";
	}
}

int pvb_rsp_window(const struct blkif_front_ring *ring, RING_IDX rsp_prod)
{
	RING_IDX avail = rsp_prod - ring->rsp_cons;
	RING_IDX asked = ring->req_prod_pvt - ring->rsp_cons;

	if (avail > RING_SIZE(ring) || avail > asked)
		return PVB_RSP_TOO_MANY;
	return PVB_RSP_OK;
}

int pvb_rsp_check(struct pvb_ring *r, const struct blkif_response *rsp,
		  uint32_t *id)
{
	struct pvb_shadow *s;

	if (rsp->id >= r->size)
		return PVB_RSP_BAD_ID;
	s = &r->sh[rsp->id];
	if (s->state != PVB_SH_INFLIGHT)
		return PVB_RSP_NOT_PENDING;
	/* indirect requests: blkback answers indirect_op, accept both */
	if (rsp->operation != s->op &&
	    !(rsp->operation == BLKIF_OP_INDIRECT &&
	      s->req.operation == BLKIF_OP_INDIRECT))
		return PVB_RSP_BAD_OP;
	s->state = PVB_SH_ANSWERED;
	*id = (uint32_t)rsp->id;
	return PVB_RSP_OK;
}

int pvb_consume(struct pvb_ring *r, struct blkif_front_ring *ring,
		RING_IDX rsp_prod, pvb_rsp_fn fn, void *ctx, int *err)
{
	struct blkif_response rsp;
	RING_IDX i;
	uint32_t id;
	int n = 0, rc;

	*err = pvb_rsp_window(ring, rsp_prod);
	if (*err)
		return -EPROTO;
	for (i = ring->rsp_cons; i != rsp_prod; i++) {
		RING_COPY_RESPONSE(ring, i, &rsp);
		*err = pvb_rsp_check(r, &rsp, &id);
		if (*err) {
			ring->rsp_cons = i;
			return -EPROTO;
		}
		ring->rsp_cons = i + 1;
		rc = fn(ctx, id, &rsp);
		if (rc < 0)
			return rc;
		pvb_id_put(r, id);
		n++;
	}
	return n;
}

int pvb_status_errno(int16_t status)
{
	switch (status) {
	case BLKIF_RSP_OKAY:
		return 0;
	case BLKIF_RSP_EOPNOTSUPP:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}
