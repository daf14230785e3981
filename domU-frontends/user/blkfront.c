// SPDX-License-Identifier: LGPL-2.1-or-later
/* libpvsplit-front: the userspace blkfront. */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>

#include "pvsplit/schema.h"

#include "core/barrier.h"
#include <xen/io/ring.h>
#include <xen/io/xenbus.h>

#include "block/blkif.h"
#include "blkfront.h"

#define PAGE	     XEN_PAGE_SIZE
#define MAX_QUEUES   16
#define MAX_RING_PGS 16
#define PATH_LEN     256

/* A ring of bytes: the sring header exactly as xen/io/ring.h lays it out. */
DEFINE_RING_TYPES(pvf_any, uint8_t, uint8_t);
#define RING_HDR offsetof(struct pvf_any_sring, ring)

struct fslot {
	bool busy;
	uint8_t operation; /* what the response must carry: indirect_op for BLKIF_OP_INDIRECT */
	bool indirect;	   /* ... though BLKIF_OP_INDIRECT itself is accepted too */
	pvf_blk_done done;
	void *cookie;
	void *ind; /* indirect segment pages (granted read-only) */
	uint32_t ind_refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

struct fqueue {
	struct pvf_blk *b;
	struct pvf_any_sring *sring;
	uint32_t ring_refs[MAX_RING_PGS];
	uint32_t nr_ents;
	RING_IDX req_prod_pvt, rsp_cons;
	int port;
	struct fslot *slots;
	uint32_t *freelist;
	uint32_t nfree;
	bool unpushed;
};

struct pvf_blk {
	struct pvhv *hv;
	struct xs_handle *xs;
	struct pvhv_evtchn *ev;
	struct pvs_schema *schema;
	const struct pvs_devtype *dt;
	struct pvf_blk_opts o;
	struct pvf_blk_info info;
	enum blk_abi abi;
	size_t ent_size, req_size;
	char fepath[PATH_LEN], bepath[PATH_LEN];
	uint32_t backend_domid;
	struct chunk {
		uint8_t *base;
		uint32_t pages, used;
		uint32_t refs[PVHV_GNT_MAX_BATCH];
	} * chunks; /* the granted data pool, in shares of at most PVHV_GNT_MAX_BATCH pages */
	uint32_t nchunks;
	uint8_t *bounce; /* for the synchronous helpers */
	uint32_t bounce_pages;
	uint32_t ind_pages; /* per slot */
	struct fqueue q[MAX_QUEUES];
	uint32_t nq;
	uint32_t inflight;
	uint32_t raw_inflight;
	pvf_blk_raw_done raw_done;
	void *raw_opaque;
	bool broken;
};

void pvf_blk_opts_default(struct pvf_blk_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->devid = 51712;
	o->persistent = true;
	o->indirect = true;
	o->ring_order = 0;
	o->queues = 1;
	o->pool_pages = 1024;
	o->timeout_ms = 10000;
}

/* ---- xenstore helpers ---- */

static int kpath(struct pvf_blk *b, enum pvs_side side, const char *key, char *buf, size_t len)
{
	int r = pvs_devtype_key_path(b->dt, side, side == PVS_SIDE_FRONTEND ? b->fepath : b->bepath,
				     key, buf, len);

	return r < 0 ? r : 0;
}

static char *rd(struct pvf_blk *b, xs_transaction_t t, enum pvs_side side, const char *key)
{
	char path[PATH_LEN * 2];
	unsigned len;

	if (kpath(b, side, key, path, sizeof(path)))
		return NULL;
	return xs_read(b->xs, t, path, &len);
}

static int rd_uint(struct pvf_blk *b, enum pvs_side side, const char *key, uint64_t dflt,
		   uint64_t *out)
{
	char *v = rd(b, XBT_NULL, side, key), *end;

	*out = dflt;
	if (!v)
		return -ENOENT;
	*out = strtoull(v, &end, 10);
	if (!*v || *end) {
		free(v);
		*out = dflt;
		return -EINVAL;
	}
	free(v);
	return 0;
}

static int wr(struct pvf_blk *b, xs_transaction_t t, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int wr(struct pvf_blk *b, xs_transaction_t t, const char *key, const char *fmt, ...)
{
	char path[PATH_LEN * 2], val[64];
	va_list ap;
	int r = kpath(b, PVS_SIDE_FRONTEND, key, path, sizeof(path));

	if (r)
		return r;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xs_write(b->xs, t, path, val, (unsigned)strlen(val)) ? 0 : -errno;
}

static int backend_state(struct pvf_blk *b)
{
	uint64_t s;

	return rd_uint(b, PVS_SIDE_BACKEND, "state", 0, &s) ? XenbusStateUnknown : (int)s;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until the backend's state satisfies ok(); -ETIMEDOUT. */
static int wait_backend(struct pvf_blk *b, bool (*ok)(int state), int *state)
{
	char path[PATH_LEN * 2];
	uint64_t deadline = now_ms() + b->o.timeout_ms;
	int r = 0;

	if (kpath(b, PVS_SIDE_BACKEND, "state", path, sizeof(path)))
		return -EINVAL;
	if (!xs_watch(b->xs, path, "pvf-state"))
		return -errno;
	for (;;) {
		struct pollfd p = { .fd = xs_fileno(b->xs), .events = POLLIN };
		uint64_t t = now_ms();
		char **w;
		unsigned n;

		*state = backend_state(b);
		if (ok(*state))
			break;
		if (t >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, (int)(deadline - t)) > 0) {
			w = xs_read_watch(b->xs, &n);
			free(w);
		}
	}
	xs_unwatch(b->xs, path, "pvf-state");
	return r;
}

static bool is_initwait(int s)
{
	return s == XenbusStateInitWait;
}

static bool is_connected(int s)
{
	return s == XenbusStateConnected || s >= XenbusStateClosing;
}

static bool closing_or_closed(int s)
{
	return s >= XenbusStateClosing || s == XenbusStateUnknown;
}

static bool is_closed(int s)
{
	return s == XenbusStateClosed || s == XenbusStateUnknown || s == XenbusStateInitWait;
}

static int set_state(struct pvf_blk *b, int s)
{
	return wr(b, XBT_NULL, "state", "%d", s);
}

/* ---- setup ---- */

static int share(struct pvf_blk *b, uint32_t n, unsigned flags, uint32_t *refs, void **addr)
{
	/* pvhv_gnt_share() takes at most PVHV_GNT_MAX_BATCH pages: one call is enough here. */
	return pvhv_gnt_share(b->hv, b->backend_domid, n, flags, refs, addr);
}

static int setup_pool(struct pvf_blk *b, uint32_t pages)
{
	b->nchunks = (pages + PVHV_GNT_MAX_BATCH - 1) / PVHV_GNT_MAX_BATCH;
	b->chunks = calloc(b->nchunks, sizeof(*b->chunks));
	if (!b->chunks)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->nchunks; i++) {
		struct chunk *c = &b->chunks[i];
		int r;

		c->pages = pages > PVHV_GNT_MAX_BATCH ? PVHV_GNT_MAX_BATCH : pages;
		pages -= c->pages;
		r = share(b, c->pages, 0, c->refs, (void **)&c->base);
		if (r) {
			c->base = NULL;
			return r;
		}
	}
	return 0;
}

void *pvf_blk_alloc(struct pvf_blk *b, size_t bytes)
{
	uint32_t pages = (uint32_t)((bytes + PAGE - 1) / PAGE);

	for (uint32_t i = 0; i < b->nchunks; i++) {
		struct chunk *c = &b->chunks[i];

		if (c->pages - c->used >= pages) {
			void *p = c->base + (size_t)c->used * PAGE;

			c->used += pages;
			return p;
		}
	}
	return NULL;
}

static int setup_queue(struct pvf_blk *b, uint32_t qi, uint32_t pages)
{
	struct fqueue *q = &b->q[qi];
	int r;

	q->b = b;
	r = share(b, pages, 0, q->ring_refs, (void **)&q->sring);
	if (r)
		return r;
	/* SHARED_RING_INIT + FRONT_RING_INIT, on bytes. */
	q->sring->req_prod = q->sring->rsp_prod = 0;
	q->sring->req_event = q->sring->rsp_event = 1;
	q->nr_ents = __RD32((pages * PAGE - RING_HDR) / b->ent_size);
	q->slots = calloc(q->nr_ents, sizeof(*q->slots));
	q->freelist = calloc(q->nr_ents, sizeof(*q->freelist));
	if (!q->slots || !q->freelist)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nr_ents; i++) {
		q->freelist[q->nfree++] = q->nr_ents - 1 - i;
		if (b->ind_pages) {
			r = share(b, b->ind_pages, PVHV_GNT_RO, q->slots[i].ind_refs,
				  &q->slots[i].ind);
			if (r)
				return r;
		}
	}
	q->port = pvhv_evtchn_alloc_unbound(b->ev, b->backend_domid);
	return q->port < 0 ? q->port : 0;
}

static int publish(struct pvf_blk *b, uint32_t order)
{
	xs_transaction_t t;
	int r;

	for (int tries = 0; tries < 16; tries++) {
		t = xs_transaction_start(b->xs);
		if (t == XBT_NULL)
			return -errno;
		r = 0;
		if (b->nq > 1)
			r = wr(b, t, "multi-queue-num-queues", "%u", b->nq);
		if (!r && order)
			r = wr(b, t, "ring-page-order", "%u", order);
		for (uint32_t qi = 0; qi < b->nq && !r; qi++) {
			char pfx[24] = "", key[48];

			if (b->nq > 1)
				snprintf(pfx, sizeof(pfx), "queue-%u/", qi);
			for (uint32_t i = 0; i < (1u << order) && !r; i++) {
				if (order)
					snprintf(key, sizeof(key), "%sring-ref%u", pfx, i);
				else
					snprintf(key, sizeof(key), "%sring-ref", pfx);
				r = wr(b, t, key, "%u", b->q[qi].ring_refs[i]);
			}
			snprintf(key, sizeof(key), "%sevent-channel", pfx);
			if (!r)
				r = wr(b, t, key, "%d", b->q[qi].port);
		}
		if (!r && b->o.protocol)
			r = wr(b, t, "protocol", "%s", b->o.protocol);
		if (!r)
			r = wr(b, t, "feature-persistent", "%d", b->o.persistent ? 1 : 0);
		if (!r && b->o.large_sectors)
			r = wr(b, t, "feature-large-sector-size", "1");
		if (!r)
			r = wr(b, t, "state", "%d", XenbusStateInitialised);
		if (r) {
			xs_transaction_end(b->xs, t, true);
			return r;
		}
		if (xs_transaction_end(b->xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

static int read_connected(struct pvf_blk *b)
{
	struct pvf_blk_info *in = &b->info;
	uint64_t v;

	if (rd_uint(b, PVS_SIDE_BACKEND, "sectors", 0, &in->sectors))
		return -EPROTO;
	rd_uint(b, PVS_SIDE_BACKEND, "sector-size", 512, &v);
	in->sector_size = (uint32_t)v;
	rd_uint(b, PVS_SIDE_BACKEND, "physical-sector-size", in->sector_size, &v);
	in->physical_sector_size = (uint32_t)v;
	if (in->sector_size < 512 || in->sector_size > PAGE ||
	    (in->sector_size & (in->sector_size - 1)))
		return -EPROTO;
	in->sector_unit = b->o.large_sectors ? in->sector_size : 512;
	in->size = in->sectors * in->sector_unit;
	rd_uint(b, PVS_SIDE_BACKEND, "info", 0, &v);
	in->readonly = v & VDISK_READONLY;
	in->cdrom = v & VDISK_CDROM;
	in->removable = v & VDISK_REMOVABLE;
	in->flush = !rd_uint(b, PVS_SIDE_BACKEND, "feature-flush-cache", 0, &v) && v;
	in->barrier = !rd_uint(b, PVS_SIDE_BACKEND, "feature-barrier", 0, &v) && v;
	in->discard = !rd_uint(b, PVS_SIDE_BACKEND, "feature-discard", 0, &v) && v;
	in->secure_discard = !rd_uint(b, PVS_SIDE_BACKEND, "discard-secure", 0, &v) && v;
	rd_uint(b, PVS_SIDE_BACKEND, "discard-granularity", in->sector_size, &v);
	in->discard_granularity = (uint32_t)v;
	return 0;
}

int pvf_blk_open(struct pvhv *hv, const struct pvf_blk_opts *opts, struct pvf_blk **out)
{
	struct pvf_blk *b = calloc(1, sizeof(*b));
	uint64_t be_queues, be_order, be_persistent, be_indirect;
	char *v, *err = NULL;
	uint32_t order;
	int r, state, self = pvhv_domid(hv);

	if (!b)
		return -ENOMEM;
	b->hv = hv;
	b->o = *opts;
	if (!b->o.timeout_ms)
		b->o.timeout_ms = 10000;
	if (!b->o.pool_pages)
		b->o.pool_pages = 1024;
	r = blk_abi_from_protocol(b->o.protocol);
	if (r < 0 || self < 0)
		goto fail;
	b->abi = (enum blk_abi)r;
	b->ent_size = blk_abi_ent_size(b->abi);
	b->req_size = blk_abi_req_size(b->abi);
	r = pvs_schema_load(&b->schema, NULL, &err);
	free(err);
	if (!r)
		r = pvs_schema_type(b->schema, "vbd", &b->dt);
	if (!r)
		r = pvs_devtype_frontend_dir(b->dt, (unsigned)self, b->o.devid, b->fepath,
					     sizeof(b->fepath));
	if (r < 0)
		goto fail;
	r = pvhv_xs_open(hv, &b->xs);
	if (!r)
		r = pvhv_evtchn_open(hv, &b->ev);
	if (r)
		goto fail;
	/* Where the toolstack says the backend is. */
	v = rd(b, XBT_NULL, PVS_SIDE_FRONTEND, "backend");
	if (!v) {
		r = -ENODEV;
		goto fail;
	}
	snprintf(b->bepath, sizeof(b->bepath), "%s", v);
	free(v);
	{
		uint64_t id;

		if (rd_uint(b, PVS_SIDE_FRONTEND, "backend-id", 0, &id) || id >= 0x7ff0) {
			r = -ENODEV;
			goto fail;
		}
		b->backend_domid = (uint32_t)id;
	}
	/* A (re)connecting frontend starts from Initialising, as a new xenbus device. */
	r = set_state(b, XenbusStateInitialising);
	if (!r)
		r = wait_backend(b, is_initwait, &state);
	if (r)
		goto fail;

	rd_uint(b, PVS_SIDE_BACKEND, "multi-queue-max-queues", 1, &be_queues);
	rd_uint(b, PVS_SIDE_BACKEND, "max-ring-page-order", 0, &be_order);
	rd_uint(b, PVS_SIDE_BACKEND, "feature-persistent", 0, &be_persistent);
	rd_uint(b, PVS_SIDE_BACKEND, "feature-max-indirect-segments", 0, &be_indirect);
	b->nq = b->o.queues ? b->o.queues : 1;
	if (b->nq > be_queues)
		b->nq = (uint32_t)be_queues;
	if (b->nq > MAX_QUEUES)
		b->nq = MAX_QUEUES;
	order = b->o.ring_order;
	if (order > be_order)
		order = (uint32_t)be_order;
	if (order > 4)
		order = 4;
	b->info.max_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	if (b->o.indirect && be_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		uint32_t m = be_indirect > 4096 ? 4096 : (uint32_t)be_indirect;

		if (b->o.max_indirect && b->o.max_indirect < m)
			m = b->o.max_indirect;
		if (m > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
			b->info.max_segments = m;
			b->ind_pages =
				(m + BLK_SEGS_PER_INDIRECT_PAGE - 1) / BLK_SEGS_PER_INDIRECT_PAGE;
		}
	}
	b->info.persistent = b->o.persistent && be_persistent;
	b->bounce_pages = b->info.max_segments < PVHV_GNT_MAX_BATCH ? b->info.max_segments
								    : PVHV_GNT_MAX_BATCH;
	r = setup_pool(b, b->o.pool_pages + b->bounce_pages);
	if (!r) {
		b->bounce = pvf_blk_alloc(b, (size_t)b->bounce_pages * PAGE);
		if (!b->bounce)
			r = -ENOMEM;
	}
	for (uint32_t qi = 0; qi < b->nq && !r; qi++)
		r = setup_queue(b, qi, 1u << order);
	if (!r)
		r = publish(b, order);
	if (!r)
		r = wait_backend(b, is_connected, &state);
	if (!r && state != XenbusStateConnected)
		r = -ECONNREFUSED;
	if (!r)
		r = read_connected(b);
	if (!r) {
		/* As Linux's blkfront: the backend's word at Connected decides. */
		be_persistent = 0;
		rd_uint(b, PVS_SIDE_BACKEND, "feature-persistent", 0, &be_persistent);
		b->info.persistent = b->o.persistent && be_persistent;
	}
	if (!r)
		r = set_state(b, XenbusStateConnected);
	if (r)
		goto fail;
	b->info.queues = b->nq;
	b->info.ring_pages = 1u << order;
	b->info.ring_entries = b->q[0].nr_ents;
	b->info.protocol = blk_abi_name(b->abi);
	*out = b;
	return 0;
fail:
	pvf_blk_abandon(b);
	return r < 0 ? r : -EIO;
}

int pvf_blk_refresh(struct pvf_blk *b)
{
	return read_connected(b);
}

static void release(struct pvf_blk *b, bool tidy)
{
	for (uint32_t qi = 0; qi < MAX_QUEUES; qi++) {
		struct fqueue *q = &b->q[qi];

		if (q->slots) {
			for (uint32_t i = 0; i < q->nr_ents; i++)
				if (q->slots[i].ind && tidy)
					pvhv_gnt_unshare(b->hv, q->slots[i].ind, b->ind_pages);
		}
		if (q->sring && tidy)
			pvhv_gnt_unshare(b->hv, q->sring,
					 b->info.ring_pages ? b->info.ring_pages : 1);
		free(q->slots);
		free(q->freelist);
	}
	for (uint32_t i = 0; i < b->nchunks; i++)
		if (b->chunks[i].base && tidy)
			pvhv_gnt_unshare(b->hv, b->chunks[i].base, b->chunks[i].pages);
	free(b->chunks);
	if (b->ev)
		pvhv_evtchn_close(b->ev);
	if (b->xs)
		xs_close(b->xs);
	pvs_schema_free(b->schema);
	free(b);
}

void pvf_blk_abandon(struct pvf_blk *b)
{
	if (b)
		release(b, false);
}

void pvf_blk_close(struct pvf_blk *b)
{
	int state;

	if (!b)
		return;
	set_state(b, XenbusStateClosing);
	wait_backend(b, closing_or_closed, &state);
	set_state(b, XenbusStateClosed);
	wait_backend(b, is_closed, &state);
	release(b, true);
}

void pvf_blk_get_info(const struct pvf_blk *b, struct pvf_blk_info *info)
{
	*info = b->info;
}

int pvf_blk_pool_ref(struct pvf_blk *b, const void *p, uint32_t *ref)
{
	const uint8_t *c = p;

	for (uint32_t i = 0; i < b->nchunks; i++) {
		const struct chunk *k = &b->chunks[i];

		if (k->base && c >= k->base && c < k->base + (size_t)k->pages * PAGE) {
			*ref = k->refs[(size_t)(c - k->base) / PAGE];
			return 0;
		}
	}
	return -EINVAL;
}

size_t pvf_blk_entry_size(const struct pvf_blk *b)
{
	return b->ent_size;
}

const char *pvf_blk_backend_path(const struct pvf_blk *b)
{
	return b->bepath;
}

const char *pvf_blk_frontend_path(const struct pvf_blk *b)
{
	return b->fepath;
}

uint32_t pvf_blk_inflight(const struct pvf_blk *b)
{
	return b->inflight + b->raw_inflight;
}

/* ---- requests ---- */

static uint8_t *slot_of(struct fqueue *q, RING_IDX i)
{
	return (uint8_t *)q->sring + RING_HDR + (size_t)(i & (q->nr_ents - 1)) * q->b->ent_size;
}

static struct fslot *take_slot(struct fqueue *q, uint32_t *id)
{
	if (!q->nfree || q->req_prod_pvt - q->rsp_cons >= q->nr_ents)
		return NULL;
	*id = q->freelist[--q->nfree];
	return &q->slots[*id];
}

int pvf_blk_submit(struct pvf_blk *b, uint32_t qi, enum pvf_op op, uint64_t off, void *buf,
		   size_t len, pvf_blk_done done, void *cookie)
{
	struct fqueue *q;
	struct fslot *s;
	struct blk_req r;
	uint32_t unit = b->info.sector_unit, id;

	if (b->broken)
		return -EPROTO;
	if (qi >= b->nq || off % unit || len % unit)
		return -EINVAL;
	q = &b->q[qi];
	memset(&r, 0, sizeof(r));
	r.sector_number = off / unit;
	switch (op) {
	case PVF_FLUSH:
		if (!len) {
			r.operation = BLKIF_OP_FLUSH_DISKCACHE;
			break;
		}
		goto data; /* a write with the flush before it, as Linux's REQ_PREFLUSH */
	case PVF_DISCARD:
	case PVF_SECURE_DISCARD:
		r.operation = BLKIF_OP_DISCARD;
		r.nr_sectors = len / unit;
		r.discard_flag = op == PVF_SECURE_DISCARD ? BLKIF_DISCARD_SECURE : 0;
		break;
	case PVF_BARRIER:
		if (!len) {
			/* A barrier with no data: everything before it is done and stable. */
			r.operation = BLKIF_OP_WRITE_BARRIER;
			break;
		}
		/* fallthrough */
	case PVF_READ:
	case PVF_WRITE:
	data : {
		struct blkif_request_segment segs[4096];
		uint8_t *p = buf;
		uint32_t n = 0;
		size_t left = len;

		if (!len)
			return -EINVAL;
		while (left) {
			size_t in_page = PAGE - ((uintptr_t)p % PAGE);
			size_t take = left < in_page ? left : in_page;
			uint32_t first = (uint32_t)((uintptr_t)p % PAGE) / unit;

			if (n == b->info.max_segments || pvf_blk_pool_ref(b, p, &segs[n].gref))
				return -EINVAL;
			segs[n].first_sect = (uint8_t)first;
			segs[n].last_sect = (uint8_t)(first + take / unit - 1);
			n++;
			p += take;
			left -= take;
		}
		if (n <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
			r.operation = op == PVF_READ	? BLKIF_OP_READ
				      : op == PVF_WRITE ? BLKIF_OP_WRITE
				      : op == PVF_FLUSH ? BLKIF_OP_FLUSH_DISKCACHE
							: BLKIF_OP_WRITE_BARRIER;
			r.nr_segments = (uint16_t)n;
			memcpy(r.seg, segs, n * sizeof(segs[0]));
		} else {
			if (op == PVF_BARRIER || op == PVF_FLUSH || !b->ind_pages)
				return -EINVAL;
			s = take_slot(q, &id);
			if (!s)
				return -EAGAIN;
			r.operation = BLKIF_OP_INDIRECT;
			r.indirect_op = op == PVF_READ ? BLKIF_OP_READ : BLKIF_OP_WRITE;
			r.nr_segments = (uint16_t)n;
			memcpy(s->ind, segs, n * sizeof(segs[0]));
			memcpy(r.indirect_grefs, s->ind_refs, sizeof(r.indirect_grefs));
			goto have_slot;
		}
		break;
	}
	default:
		return -EINVAL;
	}
	s = take_slot(q, &id);
	if (!s)
		return -EAGAIN;
have_slot:
	r.id = id;
	s->busy = true;
	s->indirect = r.operation == BLKIF_OP_INDIRECT;
	s->operation = s->indirect ? r.indirect_op : r.operation;
	s->done = done;
	s->cookie = cookie;
	blk_encode_req(b->abi, slot_of(q, q->req_prod_pvt), &r);
	q->req_prod_pvt++;
	q->unpushed = true;
	b->inflight++;
	return 0;
}

static void push(struct fqueue *q)
{
	RING_IDX old, new = q->req_prod_pvt;

	if (!q->unpushed)
		return;
	q->unpushed = false;
	old = q->sring->req_prod;
	xen_wmb();
	__atomic_store_n(&q->sring->req_prod, new, __ATOMIC_RELAXED);
	xen_mb();
	if ((RING_IDX)(new - q->sring->req_event) < (RING_IDX)(new - old))
		pvhv_evtchn_notify(q->b->ev, (uint32_t)q->port);
}

void pvf_blk_kick(struct pvf_blk *b)
{
	for (uint32_t qi = 0; qi < b->nq; qi++)
		push(&b->q[qi]);
}

/* Consume responses of one queue; -EPROTO when the backend lies. */
static int consume(struct fqueue *q, int *reaped)
{
	struct pvf_blk *b = q->b;

	for (;;) {
		RING_IDX prod = __atomic_load_n(&q->sring->rsp_prod, __ATOMIC_ACQUIRE);

		if (prod - q->rsp_cons > q->req_prod_pvt - q->rsp_cons)
			return -EPROTO; /* more responses than requests */
		while (q->rsp_cons != prod) {
			uint8_t copy[32];
			uint64_t id;
			uint8_t op;
			int16_t st;
			struct fslot *s;

			/* Copy once, then look at the copy only. */
			memcpy(copy, slot_of(q, q->rsp_cons), b->abi == BLK_ABI_X86_32 ? 12 : 16);
			q->rsp_cons++;
			blk_decode_rsp(b->abi, copy, &id, &op, &st);
			(*reaped)++;
			if (id >= q->nr_ents || !q->slots[id].busy ||
			    (q->slots[id].operation != op &&
			     !(q->slots[id].indirect && op == BLKIF_OP_INDIRECT))) {
				/* Not one of ours: only a hostile test's raw request may answer so. */
				if (!b->raw_done || !b->raw_inflight)
					return -EPROTO;
				b->raw_inflight--;
				b->raw_done(b->raw_opaque, id, op, st);
				continue;
			}
			s = &q->slots[id];
			s->busy = false;
			q->freelist[q->nfree++] = (uint32_t)id;
			b->inflight--;
			if (s->done)
				s->done(s->cookie, st);
		}
		/* RING_FINAL_CHECK_FOR_RESPONSES */
		q->sring->rsp_event = q->rsp_cons + 1;
		xen_mb();
		if (__atomic_load_n(&q->sring->rsp_prod, __ATOMIC_ACQUIRE) == q->rsp_cons)
			return 0;
	}
}

int pvf_blk_reap(struct pvf_blk *b, int timeout_ms)
{
	uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	int reaped = 0;

	if (b->broken)
		return -EPROTO;
	pvf_blk_kick(b);
	for (;;) {
		struct pollfd p = { .fd = pvhv_evtchn_fd(b->ev), .events = POLLIN };
		uint32_t ports[64];
		int n, wait;

		/* Until a short batch: nothing else was pending. */
		while ((n = pvhv_evtchn_pending_batch(b->ev, ports, 64)) > 0) {
			for (int i = 0; i < n; i++)
				pvhv_evtchn_unmask(b->ev, ports[i]);
			if (n < 64)
				break;
		}
		for (uint32_t qi = 0; qi < b->nq; qi++) {
			if (consume(&b->q[qi], &reaped)) {
				b->broken = true;
				return -EPROTO;
			}
		}
		if (reaped || timeout_ms == 0)
			return reaped;
		if (timeout_ms < 0) {
			wait = -1;
		} else {
			uint64_t t = now_ms();

			if (t >= deadline)
				return -ETIMEDOUT;
			wait = (int)(deadline - t);
		}
		poll(&p, 1, wait);
	}
}

/* ---- synchronous helpers ---- */

struct sync_done {
	bool done;
	int status;
};

static void sync_cb(void *cookie, int status)
{
	struct sync_done *d = cookie;

	d->done = true;
	d->status = status;
}

int pvf_blk_status_errno(int status)
{
	return status == BLKIF_RSP_OKAY ? 0 : status == BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
}

static int sync_op(struct pvf_blk *b, enum pvf_op op, uint64_t off, void *buf, size_t len)
{
	struct sync_done d = { 0 };
	int r = pvf_blk_submit(b, 0, op, off, buf, len, sync_cb, &d);

	if (r)
		return r;
	pvf_blk_kick(b);
	while (!d.done) {
		r = pvf_blk_reap(b, (int)b->o.timeout_ms);
		if (r < 0)
			return r;
	}
	return pvf_blk_status_errno(d.status);
}

static size_t chunk(const struct pvf_blk *b)
{
	return (size_t)b->bounce_pages * PAGE;
}

int pvf_blk_read(struct pvf_blk *b, uint64_t off, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t n = len - done < chunk(b) ? len - done : chunk(b);
		int r = sync_op(b, PVF_READ, off + done, b->bounce, n);

		if (r)
			return r;
		memcpy((uint8_t *)buf + done, b->bounce, n);
		done += n;
	}
	return 0;
}

int pvf_blk_write(struct pvf_blk *b, uint64_t off, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t n = len - done < chunk(b) ? len - done : chunk(b);
		int r;

		memcpy(b->bounce, (const uint8_t *)buf + done, n);
		r = sync_op(b, PVF_WRITE, off + done, b->bounce, n);
		if (r)
			return r;
		done += n;
	}
	return 0;
}

int pvf_blk_flush(struct pvf_blk *b)
{
	return sync_op(b, PVF_FLUSH, 0, NULL, 0);
}

int pvf_blk_barrier(struct pvf_blk *b, uint64_t off, const void *buf, size_t len)
{
	if (len > BLKIF_MAX_SEGMENTS_PER_REQUEST * PAGE)
		return -EINVAL;
	if (len)
		memcpy(b->bounce, buf, len);
	return sync_op(b, PVF_BARRIER, off, len ? b->bounce : NULL, len);
}

int pvf_blk_discard(struct pvf_blk *b, uint64_t off, uint64_t len, bool secure)
{
	return sync_op(b, secure ? PVF_SECURE_DISCARD : PVF_DISCARD, off, NULL, len);
}

/* ---- hostile tests ---- */

void pvf_blk_set_raw_done(struct pvf_blk *b, pvf_blk_raw_done fn, void *opaque)
{
	b->raw_done = fn;
	b->raw_opaque = opaque;
}

int pvf_blk_raw_request(struct pvf_blk *b, uint32_t qi, const void *entry)
{
	int r = pvf_blk_raw_queue(b, qi, entry);

	if (!r)
		push(&b->q[qi]);
	return r;
}

int pvf_blk_raw_queue(struct pvf_blk *b, uint32_t qi, const void *entry)
{
	struct fqueue *q;

	if (qi >= b->nq || !b->raw_done)
		return -EINVAL;
	q = &b->q[qi];
	if (q->req_prod_pvt - q->rsp_cons >= q->nr_ents)
		return -EAGAIN;
	/* Raw requests take no slot: their responses go to raw_done as they come. */
	memcpy(slot_of(q, q->req_prod_pvt), entry, b->req_size);
	q->req_prod_pvt++;
	q->unpushed = true;
	b->raw_inflight++;
	return 0;
}

void pvf_blk_encode(const struct pvf_blk *b, void *entry, const struct blk_req *req)
{
	blk_encode_req(b->abi, entry, req);
}

void pvf_blk_raw_set_req_prod(struct pvf_blk *b, uint32_t qi, uint32_t req_prod)
{
	struct fqueue *q = &b->q[qi];

	xen_wmb();
	__atomic_store_n(&q->sring->req_prod, req_prod, __ATOMIC_RELAXED);
	xen_mb();
	pvhv_evtchn_notify(b->ev, (uint32_t)q->port);
}
