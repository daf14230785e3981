// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where a vbd request's data lives: persistent grants (the cache, and a
 * mapping for the request beyond it), a mapping for the request (--map-min),
 * or grant copy through a bounded pool of bounce pages; and the segment
 * lists of indirect requests.  Part of the dataplane (dpint.h).
 */
#include <stdlib.h>
#include <string.h>

#include "dpint.h"

/*
 * With persistent grants the frontend keeps its indirect pages granted too
 * (Linux's blkfront takes them from its persistent pool): read them through
 * the cache, no hypercall.  The segments are copied out once, here; only
 * that private copy is looked at.  1 done, 0 not possible (fall back to
 * grant copy, which also tells a bad grant from a full cache).
 */
static int fetch_indirect_cached(struct blk_queue *q, struct blk_io *io, uint32_t npages)
{
	uint32_t left = io->nsegs * sizeof(struct blkif_request_segment);

	for (uint32_t i = 0; i < npages; i++) {
		uint32_t n = left > PAGE ? PAGE : left;
		struct pvb_gnt *g;
		void *page;

		/* Full cache, a refused grant, no memory: grant copy decides. */
		if (pvb_gntcache_get(q->gc, io->req.indirect_grefs[i], false, &g, &page))
			return 0;
		memcpy((uint8_t *)io->segbuf + i * PAGE, page, n);
		pvb_gntcache_put(q->gc, g);
		left -= n;
	}
	q->st.indirect_cached += npages;
	return 1;
}

/*
 * One grant copy batch (one hypercall): BLKIF_RSP_OKAY, or BLKIF_RSP_ERROR
 * when the call failed or any segment was refused (a bad grant, counted).
 */
static int16_t copy_batch(struct blk_queue *q, struct pvhv_gnt_copy_seg *cs, uint32_t n)
{
	if (pvhv_gnt_copy(q->dp->hv, cs, n))
		return BLKIF_RSP_ERROR;
	for (uint32_t i = 0; i < n; i++) {
		if (cs[i].status) {
			q->st.err_grant++;
			return BLKIF_RSP_ERROR;
		}
	}
	q->st.grants_copied += n;
	return BLKIF_RSP_OKAY;
}

/* Fetch the segment list of an indirect request: the persistent cache, or grant copy. */
int16_t blk_fetch_indirect(struct blk_queue *q, struct blk_io *io)
{
	struct blk_dp *dp = q->dp;
	struct pvhv_gnt_copy_seg cs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint32_t npages = (io->nsegs + BLK_SEGS_PER_INDIRECT_PAGE - 1) / BLK_SEGS_PER_INDIRECT_PAGE;
	uint32_t left = io->nsegs * sizeof(struct blkif_request_segment);

	if (dp->p.persistent) {
		if (fetch_indirect_cached(q, io, npages)) {
			io->segs = io->segbuf;
			return BLKIF_RSP_OKAY;
		}
	}
	for (uint32_t i = 0; i < npages; i++) {
		uint32_t n = left > PAGE ? PAGE : left;

		cs[i] = (struct pvhv_gnt_copy_seg){ .local = (uint8_t *)io->segbuf + i * PAGE,
						    .domid = dp->p.domid,
						    .ref = io->req.indirect_grefs[i],
						    .offset = 0,
						    .len = (uint16_t)n,
						    .to_guest = 0 };
		left -= n;
	}
	if (copy_batch(q, cs, npages))
		return BLKIF_RSP_ERROR;
	io->segs = io->segbuf;
	return BLKIF_RSP_OKAY;
}

/*
 * Without persistent grants a request of at least map_min bytes maps its
 * grants for the I/O, which then moves the data in place (the frontend made
 * no copy either: Linux's blkfront grants the I/O's own pages when persistent
 * grants are off and it trusts the backend); smaller ones are grant-copied,
 * where a map, its munmap and the unmap cost more than the copy.  So is a
 * request whose map fails (Xen's or gntdev's room for mappings, or a bad
 * grant, which the copy then tells apart), and one that would take the
 * queue past its share of the device's mappings (map_max: a guest with many
 * deep queues must not use up dom0's mappings).  Decided once per request, from
 * its private copy.  Off by default: in the lab (QEMU's TCG) a mapped MiB
 * cost dom0 about what a copied one did, and a mapped 4 KiB read at queue
 * depth 1 twice as long (pvsplit-blkback(8)).
 */
static bool mapped(const struct blk_queue *q, const struct blk_io *io)
{
	const struct blk_dp *dp = q->dp;

	return !dp->p.persistent && dp->p.map_min && !io->no_map && io->len >= dp->p.map_min &&
	       io->nsegs <= PVHV_GNT_MAX_BATCH && q->mapped + io->nsegs <= q->map_max;
}

/*
 * n more pages mapped for one request, if the daemon's account has room
 * (mapacct.h); false: the request is grant-copied (decided for good).
 */
static bool map_room(struct blk_queue *q, struct blk_io *io, uint32_t n)
{
	if (pvb_map_take(q->dp->p.acct, n))
		return true;
	io->no_map = true;
	q->st.copied_for_room++;
	return false;
}

/* n more pages mapped for single requests. */
static void map_taken(struct blk_queue *q, uint32_t n)
{
	q->mapped += n;
	if (q->mapped > q->st.mapped_peak)
		q->st.mapped_peak = q->mapped;
	q->st.grants_mapped_once += n;
}

/* The data goes by grant copy: it sits in bounce pages. */
bool blk_copied(const struct blk_queue *q, const struct blk_io *io)
{
	(void)q;
	return io->npages > 0;
}

/*
 * Map every segment's grant in one batch (one hypercall); read-only for a
 * write.  io_put() unmaps it before the response is published: the frontend
 * ends its access when it sees the response, and Linux's blkfront fails the
 * device if a grant is still mapped then.  false: not mapped, copy it.
 */
static bool map_all(struct blk_queue *q, struct blk_io *io, bool to_guest)
{
	struct blk_dp *dp = q->dp;

	for (uint32_t i = 0; i < io->nsegs; i++) {
		io->extra_refs[i] = io->segs[i].gref;
		io->extra_idx[i] = i;
	}
	if (!map_room(q, io, io->nsegs))
		return false;
	if (pvhv_gnt_map(dp->hv, dp->p.domid, io->nsegs, io->extra_refs, to_guest ? 0 : PVHV_GNT_RO,
			 &io->extra_map)) {
		pvb_map_give(dp->p.acct, io->nsegs);
		io->extra_map = NULL;
		io->no_map = true;
		q->st.map_refused++;
		return false;
	}
	io->nextra = io->nsegs;
	map_taken(q, io->nsegs);
	for (uint32_t i = 0; i < io->nsegs; i++) {
		const struct blkif_request_segment *s = &io->segs[i];

		io->iov[i].iov_base =
			(uint8_t *)io->extra_map + (size_t)i * PAGE + s->first_sect * dp->unit;
		io->iov[i].iov_len = (size_t)(s->last_sect - s->first_sect + 1) * dp->unit;
	}
	return true;
}

int16_t blk_get_buffers(struct blk_queue *q, struct blk_io *io)
{
	struct blk_dp *dp = q->dp;
	bool to_guest = io->op == BLKIF_OP_READ; /* we write guest memory */

	if (dp->p.persistent && !io->no_map) {
		uint32_t n = 0;

		for (uint32_t i = 0; i < io->nsegs; i++) {
			const struct blkif_request_segment *s = &io->segs[i];
			void *page = NULL;
			int r;

			io->ngrants = i + 1; /* io_put() gives back what is set */
			io->gnts[i] = NULL;
			r = pvb_gntcache_get(q->gc, s->gref, to_guest, &io->gnts[i], &page);
			if (r == -ENOSPC) {
				/* The cache is full of live grants: map the rest for this request. */
				io->gnts[i] = NULL;
				io->extra_refs[n] = s->gref;
				io->extra_idx[n++] = i;
				continue;
			}
			if (r) {
				/* Refused (a bad grant, or no room in Xen): the copy decides. */
				io->gnts[i] = NULL;
				goto refused;
			}
			io->iov[i].iov_base = (uint8_t *)page + s->first_sect * dp->unit;
			io->iov[i].iov_len = (size_t)(s->last_sect - s->first_sect + 1) * dp->unit;
		}
		if (n && q->mapped && q->mapped + n > q->map_max) {
			/*
			 * The queue's share of the device's mappings is taken:
			 * wait for requests in flight to give theirs back (a
			 * guest must not pin dom0's grant mappings without
			 * bound).  What this one took goes back meanwhile.
			 */
			blk_put_buffers(q, io);
			q->st.map_waits++;
			return WAIT_PAGES;
		}
		if (n && !map_room(q, io, n)) {
			/*
			 * The daemon's mappings are at their limit: this request
			 * is grant-copied (as safe with persistent grants as
			 * without), its cached grants given back.
			 */
			blk_put_buffers(q, io);
			io->no_map = true;
			goto copy;
		}
		if (n) {
			/* One batch: one hypercall, not one per grant. */
			if (pvhv_gnt_map(dp->hv, dp->p.domid, n, io->extra_refs,
					 to_guest ? 0 : PVHV_GNT_RO, &io->extra_map)) {
				pvb_map_give(dp->p.acct, n);
				io->extra_map = NULL;
				goto refused;
			}
			io->nextra = n;
			map_taken(q, n);
			for (uint32_t k = 0; k < n; k++) {
				const struct blkif_request_segment *s = &io->segs[io->extra_idx[k]];
				struct iovec *v = &io->iov[io->extra_idx[k]];

				v->iov_base = (uint8_t *)io->extra_map + (size_t)k * PAGE +
					      s->first_sect * dp->unit;
				v->iov_len = (size_t)(s->last_sect - s->first_sect + 1) * dp->unit;
			}
		}
		return BLKIF_RSP_OKAY;
	}
	if (mapped(q, io) && map_all(q, io, to_guest))
		return BLKIF_RSP_OKAY;
	goto copy;
refused:
	/*
	 * With persistent grants a map that fails (Xen's mapping table full
	 * of other backends' mappings, more than one batch, or a bad grant)
	 * makes the request a grant copy, which tells a bad grant apart.
	 */
	blk_put_buffers(q, io);
	io->no_map = true;
	q->st.map_refused++;
copy:
	/* Grant copy: bounce pages from the queue's bounded pool. */
	if (q->pool_free + (q->pool_budget - q->pool_total) < io->nsegs)
		return WAIT_PAGES;
	for (uint32_t i = 0; i < io->nsegs; i++) {
		const struct blkif_request_segment *s = &io->segs[i];
		void *page;

		if (q->pool_free) {
			page = q->pool[--q->pool_free];
		} else {
			page = aligned_alloc(PAGE, PAGE);
			if (!page)
				return BLKIF_RSP_ERROR;
			q->pool_total++;
		}
		io->pages[io->npages++] = page;
		io->iov[i].iov_base = (uint8_t *)page + s->first_sect * dp->unit;
		io->iov[i].iov_len = (size_t)(s->last_sect - s->first_sect + 1) * dp->unit;
	}
	return BLKIF_RSP_OKAY;
}

int16_t blk_copy_segments(struct blk_queue *q, struct blk_io *io, bool to_guest)
{
	struct blk_dp *dp = q->dp;
	struct pvhv_gnt_copy_seg cs[PVHV_GNT_MAX_BATCH];

	for (uint32_t done = 0; done < io->nsegs;) {
		uint32_t n = io->nsegs - done;

		if (n > PVHV_GNT_MAX_BATCH)
			n = PVHV_GNT_MAX_BATCH;
		for (uint32_t i = 0; i < n; i++) {
			const struct blkif_request_segment *s = &io->segs[done + i];

			cs[i] = (struct pvhv_gnt_copy_seg){
				.local = io->iov[done + i].iov_base,
				.domid = dp->p.domid,
				.ref = s->gref,
				.offset = (uint16_t)(s->first_sect * dp->unit),
				.len = (uint16_t)io->iov[done + i].iov_len,
				.to_guest = to_guest,
			};
		}
		if (copy_batch(q, cs, n))
			return BLKIF_RSP_ERROR;
		done += n;
	}
	return BLKIF_RSP_OKAY;
}

/* Give back what an answered request held (grants, bounce pages); its slot stays until published. */
void blk_put_buffers(struct blk_queue *q, struct blk_io *io)
{
	for (uint32_t i = 0; i < io->ngrants; i++) {
		if (io->gnts[i])
			pvb_gntcache_put(q->gc, io->gnts[i]);
		io->gnts[i] = NULL;
	}
	io->ngrants = 0;
	if (io->extra_map) {
		pvhv_gnt_unmap(q->dp->hv, io->extra_map, io->nextra);
		pvb_map_give(q->dp->p.acct, io->nextra);
		q->mapped -= io->nextra;
	}
	io->extra_map = NULL;
	io->nextra = 0;
	io->no_map = false;
	while (io->npages)
		q->pool[q->pool_free++] = io->pages[--io->npages];
}
