// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvsplit-blkfront: shared rings, the grant pool and the blk-mq data path.
 *
 * All data goes through pages the driver owns ("bounce" pages, as Linux's
 * xen-blkfront uses with persistent grants or an untrusted backend): a
 * write is copied into granted pages before it goes on the ring, a read is
 * copied out after its response was checked.  The pages of a block request
 * are never granted, so a backend that keeps a mapping can only ever see
 * the driver's own pages, and a request can be failed or sent again at any
 * time.  Grants are ended with gnttab_try_end_foreign_access() when a
 * response comes unless the backend keeps them mapped (persistent grants;
 * without those, a backend that still maps one breaks the device);
 * at a teardown every grant the backend let go of is ended and its page
 * kept for the next connection; the others wait until then and are ended
 * with gnttab_end_foreign_access(), which frees a page only once the
 * backend has let go of it.
 */
#include <linux/bvec.h>
#include <linux/highmem.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include <xen/events.h>
#include <xen/page.h>

#include "blkfront.h"

/* ---- the grant pool ---- */

static void pvb_gnt_release(struct pvb_gnt *g)
{
	if (g->gref != INVALID_GRANT_REF)
		gnttab_end_foreign_access(g->gref, g->page);
	else
		__free_page(g->page);
	kfree(g);
}

static void pvb_pool_free(struct list_head *list)
{
	struct pvb_gnt *g, *n;

	list_for_each_entry_safe(g, n, list, node) {
		list_del(&g->node);
		pvb_gnt_release(g);
	}
}

/*
 * Pool entries that are not in use (the ring is down): end the grants the
 * backend let go of, keep those pages, ungranted, in free_gnts; the others
 * wait in held_gnts.
 */
static void pvb_pool_park(struct pvb_rinfo *r)
{
	struct pvb_gnt *g, *n;

	list_splice_tail_init(&r->free_gnts, &r->held_gnts);
	r->nfree = 0;
	r->nfree_granted = 0;
	list_for_each_entry_safe(g, n, &r->held_gnts, node) {
		if (g->gref != INVALID_GRANT_REF) {
			if (!gnttab_try_end_foreign_access(g->gref))
				continue;
			g->gref = INVALID_GRANT_REF;
		}
		list_move_tail(&g->node, &r->free_gnts);
		r->nfree++;
	}
	r->ntotal = r->nfree;
}

/* count entries (ring down, pool parked): drop the extra ones, add pages */
static int pvb_pool_fill(struct pvb_rinfo *r, unsigned int count)
{
	struct pvb_gnt *g;

	while (r->ntotal > count && !list_empty(&r->free_gnts)) {
		g = list_last_entry(&r->free_gnts, struct pvb_gnt, node);
		list_del(&g->node);
		r->nfree--;
		r->ntotal--;
		pvb_gnt_release(g);
	}
	while (r->ntotal < count) {
		g = kzalloc(sizeof(*g), GFP_KERNEL);	/* in a noio scope */
		if (!g)
			return -ENOMEM;
		g->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!g->page) {
			kfree(g);
			return -ENOMEM;
		}
		g->gref = INVALID_GRANT_REF;
		list_add_tail(&g->node, &r->free_gnts);
		r->nfree++;
		r->ntotal++;
	}
	return 0;
}

/* Take a pool entry, granted (claimed from head when it was not). */
static struct pvb_gnt *pvb_gnt_take(struct pvb_rinfo *r, grant_ref_t *head)
{
	struct pvb_gnt *g = list_first_entry(&r->free_gnts, struct pvb_gnt,
					     node);

	list_del(&g->node);
	r->nfree--;
	if (g->gref != INVALID_GRANT_REF) {
		r->nfree_granted--;
		return g;
	}
	g->gref = gnttab_claim_grant_reference(head);
	gnttab_page_grant_foreign_access_ref_one(g->gref,
						 r->info->xbdev->otherend_id,
						 g->page, 0);
	return g;
}

/*
 * Back to the pool after a response, as xen-blkfront: a grant the backend
 * let go of is ended (the page goes to the tail, granted again when used);
 * one it still maps is kept as a persistent grant (at the head, used
 * first) if persistent grants were negotiated, and breaks the device if
 * not: false, and the entry is held until teardown.
 */
static bool pvb_gnt_put(struct pvb_rinfo *r, struct pvb_gnt *g)
{
	if (gnttab_try_end_foreign_access(g->gref)) {
		g->gref = INVALID_GRANT_REF;
		list_add_tail(&g->node, &r->free_gnts);
		r->nfree++;
		return true;
	}
	if (!r->info->conn.persistent) {
		list_add(&g->node, &r->held_gnts);
		return false;
	}
	list_add(&g->node, &r->free_gnts);
	r->nfree++;
	r->nfree_granted++;
	return true;
}

/*
 * Every PVB_PURGE_INTERVAL with persistent grants: end the idle grants
 * the backend has unmapped since (its cache evicted them), so that the
 * ones it still maps are the ones used first.
 */
#define PVB_PURGE_INTERVAL	(10 * HZ)

static void pvb_purge_ring(struct pvb_rinfo *r)
{
	struct pvb_gnt *g, *n;
	LIST_HEAD(ended);

	spin_lock_irq(&r->lock);
	list_for_each_entry_safe(g, n, &r->free_gnts, node) {
		if (g->gref == INVALID_GRANT_REF)
			break;	/* the granted ones are first */
		if (!gnttab_try_end_foreign_access(g->gref))
			continue;
		g->gref = INVALID_GRANT_REF;
		list_move_tail(&g->node, &ended);
		r->nfree_granted--;
	}
	list_splice_tail(&ended, &r->free_gnts);
	spin_unlock_irq(&r->lock);
}

void pvb_purge_work(struct work_struct *work)
{
	struct pvb_info *info = container_of(to_delayed_work(work),
					     struct pvb_info, purge_work);
	unsigned int i;

	mutex_lock(&info->mutex);
	if (info->state == PVB_CONNECTED && info->conn.persistent) {
		for (i = 0; i < info->nr_rings; i++)
			pvb_purge_ring(&info->rinfo[i]);
		schedule_delayed_work(&info->purge_work, PVB_PURGE_INTERVAL);
	}
	mutex_unlock(&info->mutex);
}

void pvb_purge_start(struct pvb_info *info)
{
	if (info->conn.persistent)
		mod_delayed_work(system_wq, &info->purge_work,
				 PVB_PURGE_INTERVAL);
}

/* ---- copies between a request and its granted pages ---- */

static void pvb_copy(struct request *rq, struct pvb_gnt **gnts, u32 off,
		     u32 len, bool to_rq)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 pos = 0, end = off + len;

	rq_for_each_segment(bv, rq, iter) {
		u32 bstart = pos, s, e;
		char *va, *p;

		pos += bv.bv_len;
		if (pos <= off)
			continue;
		if (bstart >= end)
			break;
		s = max(bstart, off);
		e = min(pos, end);
		va = bvec_kmap_local(&bv);
		p = va + (s - bstart);
		while (s < e) {
			u32 go = (s - off) % PVB_PAGE_SIZE;
			u32 n = min_t(u32, e - s, PVB_PAGE_SIZE - go);
			char *gp = page_address(gnts[(s - off) / PVB_PAGE_SIZE]->page);

			if (to_rq)
				memcpy(p, gp + go, n);
			else
				memcpy(gp + go, p, n);
			s += n;
			p += n;
		}
		kunmap_local(va);
	}
}

/* ---- rings ---- */

static irqreturn_t pvb_interrupt(int irq, void *dev_id);

static void pvb_kick_locked(struct pvb_rinfo *r)
{
	if (r->alive && !RING_FULL(&r->ring) && r->info->gd)
		blk_mq_start_stopped_hw_queues(r->info->gd->queue, true);
}

static void pvb_restart_work(struct work_struct *work)
{
	struct pvb_rinfo *r = container_of(work, struct pvb_rinfo,
					   restart_work);
	unsigned long flags;

	spin_lock_irqsave(&r->lock, flags);
	pvb_kick_locked(r);
	spin_unlock_irqrestore(&r->lock, flags);
}

static void pvb_grant_callback(void *arg)
{
	struct pvb_rinfo *r = arg;

	schedule_work(&r->restart_work);
}

static void pvb_rinfo_init(struct pvb_info *info, struct pvb_rinfo *r,
			   unsigned int i)
{
	spin_lock_init(&r->lock);
	r->info = info;
	r->index = i;
	snprintf(r->irq_name, sizeof(r->irq_name), "%s-q%u", info->name, i);
	INIT_LIST_HEAD(&r->free_gnts);
	INIT_LIST_HEAD(&r->held_gnts);
	INIT_WORK(&r->restart_work, pvb_restart_work);
	memset(r->ring_ref, 0xff, sizeof(r->ring_ref));
}

/* What a ring keeps across connections (it is down): for good. */
static void pvb_ring_release(struct pvb_rinfo *r)
{
	pvb_pool_free(&r->free_gnts);
	pvb_pool_free(&r->held_gnts);
	r->nfree = 0;
	r->nfree_granted = 0;
	r->ntotal = 0;
	kvfree(r->slot_gnts);
	kvfree(r->slots);
	kvfree(r->sh);
	kfree(r->grefs);
	r->slot_gnts = NULL;
	r->slots = NULL;
	r->sh = NULL;
	r->grefs = NULL;
	r->nsh = 0;
	r->nslots = 0;
	r->nslot_gnts = 0;
	r->ngrefs = 0;
	memset(&r->core, 0, sizeof(r->core));
}

/* Free the rings' memory and the array (all rings down). */
void pvb_rings_free(struct pvb_info *info)
{
	unsigned int i;

	for (i = 0; i < info->rinfo_cap; i++)
		pvb_ring_release(&info->rinfo[i]);
	kfree(info->rinfo);
	info->rinfo = NULL;
	info->rinfo_cap = 0;
	info->nr_rings = 0;
}

static int pvb_ring_setup(struct pvb_info *info, struct pvb_rinfo *r)
{
	struct xenbus_device *dev = info->xbdev;
	unsigned int pages = 1U << info->ring_order;
	struct blkif_sring *sring;
	int err;

	r->broken = false;
	err = xenbus_setup_ring(dev, GFP_NOIO, (void **)&sring, pages,
				r->ring_ref);
	if (err) {
		pvb_err(info, "queue %u: cannot set up a %u-page ring: %d",
			r->index, pages, err);
		return err;
	}
	r->ring_pages = pages;
	XEN_FRONT_RING_INIT(&r->ring, sring, pages * XEN_PAGE_SIZE);
	if (RING_SIZE(&r->ring) != info->ring_entries) {
		pvb_err(info, "queue %u: ring of %u entries, expected %u",
			r->index, RING_SIZE(&r->ring), info->ring_entries);
		return -EINVAL;
	}
	if (r->nsh != info->ring_entries) {
		kvfree(r->sh);
		r->nsh = 0;
		r->sh = kvcalloc(info->ring_entries, sizeof(*r->sh),
				 GFP_KERNEL);
		if (!r->sh)
			return -ENOMEM;
		r->nsh = info->ring_entries;
	}
	pvb_ring_init(&r->core, r->sh, r->nsh);
	err = xenbus_alloc_evtchn(dev, &r->evtchn);
	if (err) {
		pvb_err(info, "queue %u: cannot allocate an event channel: %d",
			r->index, err);
		return err;
	}
	err = bind_evtchn_to_irqhandler_lateeoi(r->evtchn, pvb_interrupt, 0,
						r->irq_name, r);
	if (err <= 0) {
		pvb_err(info, "queue %u: cannot bind event channel %u: %d",
			r->index, r->evtchn, err);
		return err ? err : -EINVAL;
	}
	r->irq = err;
	return 0;
}

/*
 * Set up nr rings (ring pages, event channels, shadow tables) for a
 * handshake, all rings being down.  On error the caller tears down.
 */
int pvb_rings_setup(struct pvb_info *info, unsigned int nr)
{
	unsigned int i, flags;
	int err = 0;

	/*
	 * More rings than before: only before the disk exists (it keeps its
	 * hardware queues), so nothing looks at the array meanwhile.
	 */
	if (info->rinfo && nr > info->rinfo_cap)
		pvb_rings_free(info);
	if (!info->rinfo) {
		info->rinfo = kcalloc(nr, sizeof(*info->rinfo), GFP_KERNEL);
		if (!info->rinfo)
			return -ENOMEM;
		info->rinfo_cap = nr;
		for (i = 0; i < nr; i++)
			pvb_rinfo_init(info, &info->rinfo[i], i);
	}
	for (i = nr; i < info->rinfo_cap; i++)
		pvb_ring_release(&info->rinfo[i]);
	info->nr_rings = nr;
	flags = memalloc_noio_save();
	for (i = 0; i < nr && !err; i++)
		err = pvb_ring_setup(info, &info->rinfo[i]);
	memalloc_noio_restore(flags);
	return err;
}

static int pvb_ring_connect(struct pvb_info *info, struct pvb_rinfo *r,
			    u32 segs)
{
	u32 entries = info->ring_entries, per = info->per_part, id;

	if (r->nslots != entries) {
		kvfree(r->slots);
		r->nslots = 0;
		r->slots = kvcalloc(entries, sizeof(*r->slots), GFP_KERNEL);
		if (!r->slots)
			return -ENOMEM;
		r->nslots = entries;
	}
	memset(r->slots, 0, entries * sizeof(*r->slots));
	if (r->nslot_gnts != entries * per) {
		kvfree(r->slot_gnts);
		r->nslot_gnts = 0;
		r->slot_gnts = kvcalloc(entries * per, sizeof(*r->slot_gnts),
					GFP_KERNEL);
		if (!r->slot_gnts)
			return -ENOMEM;
		r->nslot_gnts = entries * per;
	}
	memset(r->slot_gnts, 0, entries * per * sizeof(*r->slot_gnts));
	if (r->ngrefs != segs) {
		kfree(r->grefs);
		r->ngrefs = 0;
		r->grefs = kcalloc(segs, sizeof(*r->grefs), GFP_KERNEL);
		if (!r->grefs)
			return -ENOMEM;
		r->ngrefs = segs;
	}
	for (id = 0; id < entries; id++)
		r->slots[id].gnts = &r->slot_gnts[id * per];
	/* the backend has let go of more pages since the teardown, or never will */
	pvb_pool_park(r);
	pvb_pool_free(&r->held_gnts);
	return pvb_pool_fill(r, entries * per);
}

/*
 * The pool and slot tables, once the features are known: what the last
 * connection left is reused.  -ENOMEM may be tried again later.
 */
int pvb_rings_connect(struct pvb_info *info)
{
	u32 segs = pvb_segs_per_request(&info->conn);
	unsigned int i, flags;
	int err = 0;

	flags = memalloc_noio_save();
	for (i = 0; i < info->nr_rings && !err; i++)
		err = pvb_ring_connect(info, &info->rinfo[i], segs);
	memalloc_noio_restore(flags);
	return err;
}

/* Open the rings to requests and responses (queue quiesced): a new connection. */
void pvb_rings_go(struct pvb_info *info)
{
	unsigned int i;

	info->gen++;
	for (i = 0; i < info->nr_rings; i++) {
		struct pvb_rinfo *r = &info->rinfo[i];

		spin_lock_irq(&r->lock);
		r->gen = info->gen;
		r->alive = true;
		spin_unlock_irq(&r->lock);
	}
}

/* A slot given up: its grants wait in held_gnts for pvb_pool_park(). */
static struct request *pvb_slot_drop(struct pvb_rinfo *r, u32 id)
{
	struct pvb_shadow *s = &r->sh[id];
	struct pvb_slot *slot = &r->slots[id];
	struct request *rq = slot->rq;
	u32 i;

	for (i = 0; i < s->nsegs + s->nind; i++) {
		if (slot->gnts[i])
			list_add(&slot->gnts[i]->node, &r->held_gnts);
		slot->gnts[i] = NULL;
	}
	slot->rq = NULL;
	return rq;
}

struct pvb_collect {
	struct pvb_rinfo *r;
	struct list_head *rqs;
};

/* pvb_ring_abort callback at teardown: collect the block request */
static void pvb_collect_slot(void *ctx, u32 id)
{
	struct pvb_collect *c = ctx;
	struct request *rq = pvb_slot_drop(c->r, id);
	struct pvb_rq *pdu;

	if (!rq)
		return;
	pdu = blk_mq_rq_to_pdu(rq);
	if (!pdu->collected) {
		pdu->collected = true;
		list_add_tail(&rq->queuelist, c->rqs);
	}
}

/*
 * pvb_ring_abort callback for a ring the backend broke (ring lock held):
 * the block request fails now, without waiting for a teardown that needs
 * info->mutex (whose holder may be waiting for this very request).
 */
static void pvb_fail_slot(void *ctx, u32 id)
{
	struct request *rq = pvb_slot_drop(ctx, id);
	struct pvb_rq *pdu;

	if (!rq)
		return;
	pdu = blk_mq_rq_to_pdu(rq);
	pdu->status = BLK_STS_IOERR;
	if (!--pdu->parts)
		blk_mq_complete_request(rq);
}

static void pvb_ring_free(struct pvb_info *info, struct pvb_rinfo *r,
			  struct list_head *rqs)
{
	struct pvb_collect c = { .r = r, .rqs = rqs };

	spin_lock_irq(&r->lock);
	r->alive = false;
	spin_unlock_irq(&r->lock);
	if (r->irq > 0)
		unbind_from_irqhandler(r->irq, r);	/* waits for the handler */
	else if (r->evtchn)
		xenbus_free_evtchn(info->xbdev, r->evtchn);
	r->irq = 0;
	r->evtchn = 0;
	gnttab_cancel_free_callback(&r->callback);
	flush_work(&r->restart_work);

	/* what is still out on the ring: its request, its grants */
	if (r->slots)
		pvb_ring_abort(&r->core, pvb_collect_slot, &c);
	pvb_pool_park(r);
	if (r->ring.sring)
		xenbus_teardown_ring((void **)&r->ring.sring, r->ring_pages,
				     r->ring_ref);
}

/*
 * Take the rings down.  The requests they held are sent again after the
 * next connection (PVB_REQUEUE) or failed; the pool pages are kept for
 * the next connection, or freed when failing.  Called with info->mutex.
 */
void pvb_teardown(struct pvb_info *info, enum pvb_teardown how)
{
	struct request_queue *q = info->gd ? info->gd->queue : NULL;
	struct request *rq, *n;
	unsigned int i, count = 0;
	LIST_HEAD(rqs);

	if (q)
		blk_mq_quiesce_queue(q);
	if (how == PVB_REQUEUE)
		info->state = PVB_DISCONNECTED;
	else if (how == PVB_FAIL_BROKEN && info->state != PVB_CLOSED)
		info->state = PVB_BROKEN;
	else if (how == PVB_FAIL_CLOSED)
		info->state = PVB_CLOSED;
	for (i = 0; i < info->nr_rings; i++)
		pvb_ring_free(info, &info->rinfo[i], &rqs);
	info->nr_rings = 0;
	if (how != PVB_REQUEUE)
		for (i = 0; i < info->rinfo_cap; i++)
			pvb_ring_release(&info->rinfo[i]);
	list_for_each_entry_safe(rq, n, &rqs, queuelist) {
		list_del_init(&rq->queuelist);
		if (how == PVB_REQUEUE)
			blk_mq_requeue_request(rq, false);
		else
			blk_mq_end_request(rq, BLK_STS_IOERR);
		count++;
	}
	if (count)
		pvb_warn(info, "%u request(s) in flight %s", count,
			 how == PVB_REQUEUE ? "will be sent again" : "failed");
	if (q) {
		blk_mq_unquiesce_queue(q);
		blk_mq_start_stopped_hw_queues(q, true);
		blk_mq_kick_requeue_list(q);
	}
	wake_up_all(&info->drain_wq);
}

/*
 * Nothing in flight?  Also without info->mutex (close_work): the array
 * stays while the disk exists, a ring that is down counts as idle.
 */
bool pvb_idle(struct pvb_info *info)
{
	unsigned int i;
	bool idle = true;

	for (i = 0; i < info->rinfo_cap; i++) {
		struct pvb_rinfo *r = &info->rinfo[i];

		spin_lock_irq(&r->lock);
		if (r->alive && r->core.nfree != r->core.size)
			idle = false;
		spin_unlock_irq(&r->lock);
	}
	return idle;
}

/* ---- queue limits ---- */

void pvb_apply_limits(struct pvb_info *info)
{
	struct request_queue *q = info->gd->queue;
	struct pvb_conn *c = &info->conn;
	u32 segs = pvb_segs_per_request(c);
	unsigned int discard = 0;

	blk_queue_flag_set(QUEUE_FLAG_VIRT, q);
	blk_queue_logical_block_size(q, info->geo.logical);
	blk_queue_physical_block_size(q, info->geo.physical);
	blk_queue_max_hw_sectors(q, segs * (PVB_PAGE_SIZE >> SECTOR_SHIFT));
	blk_queue_max_segments(q, segs);
	blk_queue_dma_alignment(q, 511);
	blk_queue_write_cache(q, c->flush, c->barrier);
	if (c->discard) {
		discard = min_t(u64, get_capacity(info->gd),
				UINT_MAX >> SECTOR_SHIFT);
		q->limits.discard_granularity = c->discard_granularity;
		q->limits.discard_alignment = c->discard_alignment;
	}
	blk_queue_max_discard_sectors(q, discard);
	blk_queue_max_secure_erase_sectors(q, c->secure_discard ? discard : 0);
	set_disk_ro(info->gd, c->readonly);
}

void pvb_limits_work(struct work_struct *work)
{
	struct pvb_info *info = container_of(work, struct pvb_info,
					     limits_work);
	struct request_queue *q;

	mutex_lock(&info->mutex);
	if (!info->gd || info->state != PVB_CONNECTED)
		goto out;
	q = info->gd->queue;
	blk_mq_quiesce_queue(q);
	if (test_and_clear_bit(PVB_DROP_FLUSH, &info->drop) && info->conn.flush) {
		info->conn.flush = false;
		info->conn.barrier = false;
		pvb_warn(info, "the backend cannot flush: write cache off");
	}
	if (test_and_clear_bit(PVB_DROP_DISCARD, &info->drop) &&
	    info->conn.discard) {
		info->conn.discard = false;
		info->conn.secure_discard = false;
		pvb_warn(info, "the backend cannot discard: discard off");
	}
	pvb_apply_limits(info);
	blk_mq_unquiesce_queue(q);
out:
	mutex_unlock(&info->mutex);
}

/* ---- responses ---- */

static const char *pvb_op_name(u8 op)
{
	switch (op) {
	case BLKIF_OP_READ:
		return "read";
	case BLKIF_OP_WRITE:
		return "write";
	case BLKIF_OP_WRITE_BARRIER:
		return "barrier";
	case BLKIF_OP_FLUSH_DISKCACHE:
		return "flush";
	case BLKIF_OP_DISCARD:
		return "discard";
	default:
		return "unknown";
	}
}

static void pvb_rq_error(struct pvb_rq *pdu, blk_status_t st)
{
	if (pdu->status == BLK_STS_OK || st == BLK_STS_IOERR)
		pdu->status = st;
}

/* One checked response (pvb_consume callback, ring lock held). */
static int pvb_complete_part(void *ctx, u32 id,
			     const struct blkif_response *rsp)
{
	struct pvb_rinfo *r = ctx;
	struct pvb_info *info = r->info;
	struct pvb_shadow *s = &r->sh[id];
	struct pvb_slot *slot = &r->slots[id];
	struct request *rq = slot->rq;
	struct pvb_rq *pdu = blk_mq_rq_to_pdu(rq);
	int err = pvb_status_errno(rsp->status);
	u32 i;

	if (!err && s->op == BLKIF_OP_READ && s->len)
		pvb_copy(rq, slot->gnts, s->off, s->len, true);
	for (i = 0; i < s->nsegs + s->nind; i++) {
		struct pvb_gnt *g = slot->gnts[i];

		slot->gnts[i] = NULL;
		if (!pvb_gnt_put(r, g)) {
			pvb_err(info, "queue %u: the backend still maps grant %u after answering request %u",
				r->index, g->gref, id);
			return -EPROTO;
		}
	}

	if (err == -EOPNOTSUPP && (s->op == BLKIF_OP_FLUSH_DISKCACHE ||
				   s->op == BLKIF_OP_WRITE_BARRIER)) {
		/* no cache to flush: an empty flush is done, a write goes again */
		set_bit(PVB_DROP_FLUSH, &info->drop);
		schedule_work(&info->limits_work);
		if (s->nsegs)
			pdu->requeue = true;
	} else if (err == -EOPNOTSUPP && s->op == BLKIF_OP_DISCARD) {
		set_bit(PVB_DROP_DISCARD, &info->drop);
		schedule_work(&info->limits_work);
		pvb_rq_error(pdu, BLK_STS_NOTSUPP);
	} else if (err) {
		pvb_err_rl(info, "%s of %u bytes at sector %llu failed (status %d)",
			   pvb_op_name(s->op), s->len,
			   (unsigned long long)blk_rq_pos(rq), rsp->status);
		pvb_rq_error(pdu, BLK_STS_IOERR);
	}
	slot->rq = NULL;
	if (--pdu->parts)
		return 0;
	if (pdu->requeue && pdu->status == BLK_STS_OK) {
		blk_mq_requeue_request(rq, true);
		return 0;
	}
	if (likely(!blk_should_fake_timeout(rq->q)))
		blk_mq_complete_request(rq);
	return 0;
}

static irqreturn_t pvb_interrupt(int irq, void *dev_id)
{
	struct pvb_rinfo *r = dev_id;
	struct pvb_info *info = r->info;
	unsigned int eoi = XEN_EOI_FLAG_SPURIOUS;
	unsigned long flags;
	RING_IDX rp;
	int n, err, more;

	spin_lock_irqsave(&r->lock, flags);
	if (!r->alive) {
		spin_unlock_irqrestore(&r->lock, flags);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
		return IRQ_HANDLED;
	}
	do {
		rp = READ_ONCE(r->ring.sring->rsp_prod);
		virt_rmb();	/* see the responses up to rp */
		n = pvb_consume(&r->core, &r->ring, rp, pvb_complete_part, r,
				&err);
		if (n < 0)
			goto broken;
		if (n)
			eoi = 0;
		more = 0;
		if (r->ring.rsp_cons != r->ring.req_prod_pvt)
			RING_FINAL_CHECK_FOR_RESPONSES(&r->ring, more);
		else
			r->ring.sring->rsp_event = r->ring.rsp_cons + 1;
	} while (more);
	if (r->core.nfree == r->core.size)
		wake_up_all(&info->drain_wq);
	pvb_kick_locked(r);
	spin_unlock_irqrestore(&r->lock, flags);
	xen_irq_lateeoi(irq, eoi);
	return IRQ_HANDLED;

broken:
	r->alive = false;
	r->broken = true;
	/* fail what the ring holds now: the teardown needs info->mutex */
	n = pvb_ring_abort(&r->core, pvb_fail_slot, r);
	WRITE_ONCE(info->broken_gen, r->gen);
	spin_unlock_irqrestore(&r->lock, flags);
	if (err)
		pvb_err(info, "queue %u: %s (rsp_prod %u, rsp_cons %u, req_prod %u): device disabled",
			r->index, pvb_rsp_error_str(err), rp, r->ring.rsp_cons,
			r->ring.req_prod_pvt);
	if (n)
		pvb_err(info, "queue %u: %d request part(s) in flight failed",
			r->index, n);
	/* requests waiting for room on this ring: fail them too */
	if (info->gd)
		blk_mq_start_stopped_hw_queues(info->gd->queue, true);
	wake_up_all(&info->drain_wq);
	schedule_work(&info->broken_work);
	/* no EOI: the event channel stays masked */
	return IRQ_HANDLED;
}

/* ---- requests ---- */

static int pvb_rq_to_io(struct request *rq, struct pvb_io *io)
{
	io->fua = false;
	io->sector = blk_rq_pos(rq);
	io->nr_sectors = blk_rq_sectors(rq);
	switch (req_op(rq)) {
	case REQ_OP_READ:
		io->kind = PVB_IO_READ;
		return 0;
	case REQ_OP_WRITE:
		io->kind = PVB_IO_WRITE;
		io->fua = !!(rq->cmd_flags & REQ_FUA);
		return 0;
	case REQ_OP_FLUSH:
		io->kind = PVB_IO_FLUSH;
		io->nr_sectors = 0;
		return 0;
	case REQ_OP_DISCARD:
		io->kind = PVB_IO_DISCARD;
		return 0;
	case REQ_OP_SECURE_ERASE:
		io->kind = PVB_IO_SECURE_ERASE;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* Room for a plan: 0, -EBUSY, or -ENOSPC (grant references, callback set). */
static int pvb_reserve(struct pvb_rinfo *r, const struct pvb_plan *p,
		       grant_ref_t *head, bool *have_head)
{
	unsigned int need;

	*have_head = false;
	if (RING_FREE_REQUESTS(&r->ring) < p->nparts ||
	    r->core.nfree < p->nparts || r->nfree < p->ngrants)
		return -EBUSY;
	need = p->ngrants > r->nfree_granted ? p->ngrants - r->nfree_granted : 0;
	if (!need)
		return 0;
	if (gnttab_alloc_grant_references(need, head) < 0) {
		gnttab_request_free_callback(&r->callback, pvb_grant_callback,
					     r, need);
		return -ENOSPC;
	}
	*have_head = true;
	return 0;
}

static void pvb_send_part(struct pvb_rinfo *r, struct request *rq,
			  const struct pvb_conn *c, const struct pvb_io *io,
			  const struct pvb_plan *p, u32 k, grant_ref_t *head)
{
	struct pvb_part part;
	struct pvb_slot *slot;
	u32 id, i;

	pvb_plan_part(c, io, p, k, &part);
	id = pvb_id_get(&r->core);	/* reserved: cannot fail */
	slot = &r->slots[id];
	slot->rq = rq;
	for (i = 0; i < part.nsegs; i++) {
		slot->gnts[i] = pvb_gnt_take(r, head);
		r->grefs[i] = slot->gnts[i]->gref;
	}
	for (i = 0; i < part.nind; i++) {
		struct pvb_gnt *g = pvb_gnt_take(r, head);

		slot->gnts[part.nsegs + i] = g;
		r->igrefs[i] = g->gref;
		r->ipages[i] = page_address(g->page);
	}
	if (io->kind == PVB_IO_WRITE)
		pvb_copy(rq, slot->gnts, part.off, part.len, false);
	pvb_encode(c, &part, id, r->grefs, r->igrefs, r->ipages,
		   &r->core.sh[id].req);
	pvb_ring_send(&r->core, &r->ring, id, &part);
}

static blk_status_t pvb_plan_error(struct pvb_info *info, struct request *rq,
				   int err)
{
	if (err == -EOPNOTSUPP)
		return BLK_STS_NOTSUPP;
	pvb_err_rl(info, "cannot send %s request at sector %llu (%u sectors): %s",
		   blk_op_str(req_op(rq)), (unsigned long long)blk_rq_pos(rq),
		   blk_rq_sectors(rq),
		   err == -EROFS ? "read-only disk" : "not aligned");
	return BLK_STS_IOERR;
}

/* Publish the requests built so far (ring lock held): notify? */
static bool pvb_push_locked(struct pvb_rinfo *r)
{
	int notify;

	if (!r->alive)
		return false;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&r->ring, notify);
	return notify;
}

static void pvb_push(struct pvb_rinfo *r)
{
	unsigned long flags;
	bool notify;

	spin_lock_irqsave(&r->lock, flags);
	notify = pvb_push_locked(r);
	spin_unlock_irqrestore(&r->lock, flags);
	if (notify)
		notify_remote_via_irq(r->irq);
}

static struct pvb_rinfo *pvb_hctx_ring(struct pvb_info *info,
				       struct blk_mq_hw_ctx *hctx)
{
	return &info->rinfo[hctx->queue_num % info->nr_rings];
}

/*
 * Requests go on the ring as they come; the ring's producer index is
 * published and the backend notified for the last one of a batch
 * (bd->last, or .commit_rqs when blk-mq stops before it).
 */
static blk_status_t pvb_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct pvb_info *info = hctx->queue->queuedata;
	struct request *rq = bd->rq;
	struct pvb_rq *pdu = blk_mq_rq_to_pdu(rq);
	struct pvb_rinfo *r;
	struct pvb_conn c;
	struct pvb_plan p;
	struct pvb_io io;
	grant_ref_t head = 0;
	blk_status_t ret;
	bool have_head, notify = false;
	unsigned long flags;
	int err;
	u32 k;

	switch (READ_ONCE(info->state)) {
	case PVB_CONNECTED:
		break;
	case PVB_DISCONNECTED:
		/* waiting for the backend: run again after reconnection */
		blk_mq_stop_hw_queue(hctx);
		return BLK_STS_DEV_RESOURCE;
	default:
		return BLK_STS_IOERR;
	}
	r = pvb_hctx_ring(info, hctx);
	c = info->conn;
	if (test_bit(PVB_DROP_FLUSH, &info->drop)) {
		c.flush = false;
		c.barrier = false;
	}
	if (test_bit(PVB_DROP_DISCARD, &info->drop)) {
		c.discard = false;
		c.secure_discard = false;
	}
	err = pvb_rq_to_io(rq, &io);
	if (!err)
		err = pvb_plan_io(&c, &io, &p);
	if (err) {
		ret = pvb_plan_error(info, rq, err);
		goto out;
	}
	if (!p.nparts) {
		blk_mq_start_request(rq);
		blk_mq_end_request(rq, BLK_STS_OK);
		ret = BLK_STS_OK;
		goto out;
	}
	if (p.nparts > info->ring_entries || p.ngrants > r->ntotal) {
		pvb_err_rl(info, "request of %u sectors needs %u ring slots and %u grants: too big",
			   blk_rq_sectors(rq), p.nparts, p.ngrants);
		ret = BLK_STS_IOERR;
		goto out;
	}

	spin_lock_irqsave(&r->lock, flags);
	if (r->broken) {
		spin_unlock_irqrestore(&r->lock, flags);
		return BLK_STS_IOERR;
	}
	if (!r->alive || pvb_reserve(r, &p, &head, &have_head)) {
		/* restarted by a completion, the grant callback or a reconnect */
		blk_mq_stop_hw_queue(hctx);
		/* what this batch put on the ring goes now */
		notify = pvb_push_locked(r);
		spin_unlock_irqrestore(&r->lock, flags);
		if (notify)
			notify_remote_via_irq(r->irq);
		return BLK_STS_DEV_RESOURCE;
	}
	blk_mq_start_request(rq);
	pdu->status = BLK_STS_OK;
	pdu->parts = p.nparts;
	pdu->collected = false;
	pdu->requeue = false;
	for (k = 0; k < p.nparts; k++)
		pvb_send_part(r, rq, &c, &io, &p, k, &head);
	if (have_head)
		gnttab_free_grant_references(head);
	if (bd->last)
		notify = pvb_push_locked(r);
	spin_unlock_irqrestore(&r->lock, flags);
	if (notify)
		notify_remote_via_irq(r->irq);
	return BLK_STS_OK;

out:
	if (bd->last)
		pvb_push(r);
	return ret;
}

/* blk-mq stopped a batch before its last request */
static void pvb_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct pvb_info *info = hctx->queue->queuedata;

	/* the state changes only with the queue quiesced */
	if (READ_ONCE(info->state) == PVB_CONNECTED)
		pvb_push(pvb_hctx_ring(info, hctx));
}

static void pvb_complete_rq(struct request *rq)
{
	struct pvb_rq *pdu = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, pdu->status);
}

const struct blk_mq_ops pvb_mq_ops = {
	.queue_rq = pvb_queue_rq,
	.commit_rqs = pvb_commit_rqs,
	.complete = pvb_complete_rq,
};
