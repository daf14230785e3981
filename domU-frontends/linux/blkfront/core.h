/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvsplit-blkfront: the ring/protocol core.
 *
 * Everything here is plain C over the blkif public headers (see compat.h):
 * no kernel API, no allocation, no locking.  The module calls it under its
 * ring lock; tests/unit/test_blkfront_core.c runs the same code on the host.
 *
 *   - negotiation math: ring order, queue count, indirect segments, ring
 *     size, disk geometry (sector units), flush/barrier/discard features;
 *   - the xvd naming of a "virtual-device" number;
 *   - request planning and encoding: one block request becomes one or more
 *     ring requests ("parts"): direct (up to 11 segments) or indirect, data
 *     packed into whole 4 KiB grant pages;
 *   - the shadow table (one entry per ring slot, ids are its indexes) and
 *     the response side, which treats the backend as untrusted: every
 *     response is copied off the ring before use, its id is bounds-checked
 *     and must name a request in flight, its operation must match, and a
 *     producer index that runs ahead of what was asked for breaks the ring.
 */
#ifndef PVSPLIT_BLKFRONT_CORE_H
#define PVSPLIT_BLKFRONT_CORE_H

#include "compat.h"

/* Grants are always 4 KiB, whatever the guest's page size. */
#define PVB_PAGE_SIZE		4096u
#define PVB_SECTOR		512u
#define PVB_U32_MAX		((uint32_t)~0u)
#define PVB_U64_MAX		((uint64_t)~0ull)
/* Largest ring-page-order we ask for (XENBUS_MAX_RING_GRANT_ORDER). */
#define PVB_MAX_RING_ORDER	4u
/* Cap on segments per request: the Linux and pvsplit backends' maximum. */
#define PVB_MAX_SEGMENTS	256u
/* Segments one indirect page holds. */
#define PVB_SEGS_PER_INDIRECT_PAGE \
	(PVB_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* Indirect pages for a number of segments. */
#define PVB_INDIRECT_PAGES(segs) \
	(((segs) + PVB_SEGS_PER_INDIRECT_PAGE - 1) / PVB_SEGS_PER_INDIRECT_PAGE)

/* ---- negotiation ---- */

/* What the module's parameters ask for. */
struct pvb_params {
	uint32_t max_queues;
	uint32_t max_indirect_segments;
	uint32_t max_ring_page_order;
	bool persistent;
};

/*
 * What the backend wrote, as read from its directory (absent keys hold
 * the blkif.h defaults: 0, or 1 for multi-queue-max-queues).
 */
struct pvb_backend {
	uint32_t max_queues;		/* multi-queue-max-queues */
	uint32_t max_ring_page_order;	/* max-ring-page-order */
	uint32_t max_indirect_segments;	/* feature-max-indirect-segments */
	bool persistent;		/* feature-persistent */
	bool flush_cache;		/* feature-flush-cache */
	bool barrier;			/* feature-barrier */
	bool discard;			/* feature-discard */
	bool discard_secure;		/* discard-secure */
	uint32_t discard_granularity;	/* bytes, 0: absent */
	uint32_t discard_alignment;	/* bytes */
	uint64_t sectors;		/* sectors */
	uint32_t info;			/* info: VDISK_* */
	uint32_t sector_size;		/* sector-size */
	uint32_t physical_sector_size;	/* physical-sector-size, 0: absent */
	bool mode_ro;			/* mode = "r" */
};

/* min(parameter, backend's maximum, PVB_MAX_RING_ORDER) */
uint32_t pvb_ring_order(uint32_t param, uint32_t backend_max);
/* Ring entries (and shadow entries) of a ring of 2^order pages. */
uint32_t pvb_ring_entries(uint32_t order);
/* min(parameter, backend's maximum), at least 1 */
uint32_t pvb_nr_queues(uint32_t param, uint32_t backend_max);
/*
 * Segments per indirect request: min(parameter, backend, PVB_MAX_SEGMENTS),
 * or 0 (no indirect requests) when that is not more than a direct request
 * carries.
 */
uint32_t pvb_indirect_segments(uint32_t param, uint32_t backend);

/* The disk as the block layer sees it. */
struct pvb_geometry {
	uint64_t capacity;		/* in 512-byte sectors */
	uint32_t logical;		/* logical block size, bytes */
	uint32_t physical;		/* physical block size, bytes */
	bool physical_fixed;		/* physical-sector-size was unusable */
};

/*
 * Validate sector-size / physical-sector-size / sectors.  unit: bytes per
 * sector number on the wire, 512 (the frontend did not write
 * feature-large-sector-size=1, as Linux's xen-blkfront) or the
 * sector-size (it did).  Returns 0, -EINVAL (sector-size not a power of
 * two in 512..4096, or unit neither 512 nor sector-size) or -EOVERFLOW.
 */
int pvb_geometry(const struct pvb_backend *be, uint32_t unit,
		 struct pvb_geometry *geo);

/* Sector numbers on the wire: bytes per unit.  */
uint32_t pvb_wire_unit(bool large_sectors, uint32_t sector_size);

/* The negotiated features the data path uses. */
struct pvb_conn {
	uint32_t unit;			/* bytes per sector number on the wire */
	uint32_t indirect_segments;	/* 0: no indirect requests */
	uint16_t handle;		/* blkif_vdev_t for requests */
	bool persistent;		/* both sides offered persistent grants */
	bool flush;			/* FLUSH_DISKCACHE or WRITE_BARRIER */
	bool barrier;			/* WRITE_BARRIER: FUA writes too */
	bool discard;
	bool secure_discard;
	bool readonly;
	uint32_t discard_granularity;	/* bytes */
	uint32_t discard_alignment;	/* bytes */
};

/*
 * Features from the backend's keys and the parameters (Linux's rules:
 * feature-barrier gives flush + FUA by WRITE_BARRIER, feature-flush-cache
 * takes precedence and gives flush only; discard granularity defaults to
 * the physical block size and must be a multiple of the logical one).
 * geo must come from pvb_geometry().
 */
void pvb_features(const struct pvb_backend *be, const struct pvb_params *p,
		  const struct pvb_geometry *geo, struct pvb_conn *c);

/* Segments one ring request may carry with these features. */
uint32_t pvb_segs_per_request(const struct pvb_conn *c);

/* ---- xvd naming ---- */

struct pvb_disk_id {
	uint32_t minor;		/* first minor of the disk (or partition) */
	uint32_t nr_minors;	/* minors to reserve: 16 or 256, 1 for a partition */
	uint32_t index;		/* disk letter index: 0 = xvda */
	uint32_t partition;	/* > 0: the vdev names a partition */
};

/*
 * A "virtual-device" number (xvd/hd/sd majors, or the extended form
 * 1 << 28 | minor) to the minors and name Linux's xen-blkfront gives it.
 * -ENODEV for an unknown major or a minor out of range.
 */
int pvb_vdev_parse(uint32_t vdevice, struct pvb_disk_id *id);
/* "xvda", "xvdz", "xvdaa", "xvda3": 0, or -ENAMETOOLONG. */
int pvb_disk_name(const struct pvb_disk_id *id, char *buf, size_t len);

/* ---- requests ---- */

enum pvb_io_kind {
	PVB_IO_READ,
	PVB_IO_WRITE,
	PVB_IO_FLUSH,
	PVB_IO_DISCARD,
	PVB_IO_SECURE_ERASE,
};

/* One block request, in 512-byte sectors. */
struct pvb_io {
	enum pvb_io_kind kind;
	bool fua;		/* write: durable on completion */
	uint64_t sector;
	uint64_t nr_sectors;
};

/* How a block request goes on the ring. */
struct pvb_plan {
	uint8_t op;		/* ring operation (indirect parts: indirect_op) */
	uint32_t nsegs;		/* data segments in all */
	uint32_t segs_per_part;
	uint32_t nparts;	/* ring requests; 0: nothing to send, succeed */
	uint32_t ngrants;	/* grants for all parts: data + indirect pages */
};

/* One ring request of a plan. */
struct pvb_part {
	uint8_t op;		/* BLKIF_OP_*, BLKIF_OP_INDIRECT for indirect */
	uint8_t indirect_op;
	uint8_t discard_flag;
	uint32_t nsegs;		/* data segments */
	uint32_t nind;		/* indirect pages */
	uint64_t sector;	/* in wire units */
	uint64_t nr_sectors;	/* discard: in wire units */
	uint32_t off, len;	/* bytes of the block request it carries */
};

/*
 * Plan a block request: 0, -EOPNOTSUPP (discard, secure erase not
 * negotiated), -EROFS (a write to a read-only disk), -EINVAL (empty or
 * not aligned to the wire unit).  A flush with no flush feature has
 * nothing to send (nparts = 0): the backend writes through.
 */
int pvb_plan_io(const struct pvb_conn *c, const struct pvb_io *io,
		struct pvb_plan *p);
/* Part k (< p->nparts) of a plan. */
void pvb_plan_part(const struct pvb_conn *c, const struct pvb_io *io,
		   const struct pvb_plan *p, uint32_t k, struct pvb_part *part);

/*
 * Encode part into *out.  grefs: part->nsegs grants of data pages, page i
 * holding bytes part->off + i * 4096 of the block request; for an indirect
 * part igrefs/ipages: part->nind grants and the mapped indirect pages,
 * which get the segment array.
 */
void pvb_encode(const struct pvb_conn *c, const struct pvb_part *part,
		uint64_t id, const grant_ref_t *grefs, const grant_ref_t *igrefs,
		struct blkif_request_segment *const *ipages,
		struct blkif_request *out);

/* ---- shadow table and responses ---- */

enum pvb_shadow_state {
	PVB_SH_FREE = 0,
	PVB_SH_INFLIGHT,	/* on the ring, no response yet */
	PVB_SH_ANSWERED,	/* response accepted, being completed */
};

struct pvb_shadow {
	struct blkif_request req;	/* as sent */
	uint8_t state;
	uint8_t op;			/* expected response operation */
	uint32_t nsegs, nind;
	uint32_t off, len;
	uint32_t next_free;
};

/* One ring's shadow table: caller-provided array of ring-entries entries. */
struct pvb_ring {
	struct pvb_shadow *sh;
	uint32_t size;
	uint32_t free_head;
	uint32_t nfree;
};

#define PVB_NO_ID	0xffffffffu

void pvb_ring_init(struct pvb_ring *r, struct pvb_shadow *sh, uint32_t size);
/* A free id, or PVB_NO_ID. */
uint32_t pvb_id_get(struct pvb_ring *r);
/* Return an id: -EINVAL when it is out of range or already free. */
int pvb_id_put(struct pvb_ring *r, uint32_t id);

/*
 * Give up on every request the table holds, in flight or answered but not
 * completed (a completion that failed): fn is called for each id, which is
 * then free, so that a late response to it is refused as not pending.
 * For a ring the backend broke (its requests fail at once) and for a
 * teardown.  Returns the number of ids given up.
 */
typedef void (*pvb_abort_fn)(void *ctx, uint32_t id);
uint32_t pvb_ring_abort(struct pvb_ring *r, pvb_abort_fn fn, void *ctx);

/*
 * Put the request encoded for id (pvb_encode into r->sh[id].req) on the
 * front ring and mark it in flight.  The caller has checked for room.
 */
void pvb_ring_send(struct pvb_ring *r, struct blkif_front_ring *ring,
		   uint32_t id, const struct pvb_part *part);

enum pvb_rsp_error {
	PVB_RSP_OK = 0,
	PVB_RSP_TOO_MANY,	/* rsp_prod beyond the requests outstanding */
	PVB_RSP_BAD_ID,		/* id outside the shadow table */
	PVB_RSP_NOT_PENDING,	/* id not in flight: duplicate or never sent */
	PVB_RSP_BAD_OP,		/* operation differs from the request's */
};

const char *pvb_rsp_error_str(int err);

/*
 * May the backend's rsp_prod be this?  Only if it is no further from
 * ring->rsp_cons than the requests we produced (and so the ring size).
 */
int pvb_rsp_window(const struct blkif_front_ring *ring, RING_IDX rsp_prod);

/*
 * Check a response copied off the ring: on PVB_RSP_OK, *id is its shadow
 * entry, now PVB_SH_ANSWERED (a second response for it is refused until
 * pvb_id_put()).
 */
int pvb_rsp_check(struct pvb_ring *r, const struct blkif_response *rsp,
		  uint32_t *id);

/*
 * Consume responses up to rsp_prod (read by the caller with the barrier
 * its platform needs): each is copied off the ring (RING_COPY_RESPONSE),
 * checked, and handed to fn with its shadow entry; fn completes it and
 * returns 0, or a negative value to stop (the response stays consumed).
 * Returns the number handled, or -EPROTO with *err set to a
 * pvb_rsp_error (ring->rsp_cons then points past the good ones).
 */
typedef int (*pvb_rsp_fn)(void *ctx, uint32_t id,
			  const struct blkif_response *rsp);
int pvb_consume(struct pvb_ring *r, struct blkif_front_ring *ring,
		RING_IDX rsp_prod, pvb_rsp_fn fn, void *ctx, int *err);

/* BLKIF_RSP_* to 0, -EOPNOTSUPP or -EIO. */
int pvb_status_errno(int16_t status);

#endif /* PVSPLIT_BLKFRONT_CORE_H */
