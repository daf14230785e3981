// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The "xen" provider: a thin layer over Xen's stable libraries
 * (libxengnttab / gntshr, libxenevtchn, libxenforeignmemory, libxenstore).
 * Handles are opened on first use, so a backend in dom0 never needs
 * gntalloc and a frontend in a guest never needs privcmd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/grant_table.h>

#include "hv_private.h"

struct xen {
	xengnttab_handle *gt;
	xengntshr_handle *gs;
	xenforeignmemory_handle *fm;
};

static struct xen *X(struct pvhv *hv)
{
	return hv->priv;
}

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static int xen_open(struct pvhv *hv, const struct pvhv_open_args *a)
{
	struct xen *x;

	if (access("/dev/xen", F_OK))
		return -ENOENT;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	hv->priv = x;
	return 0;
}

static void xen_close(struct pvhv *hv)
{
	struct xen *x = X(hv);

	if (x->gt)
		xengnttab_close(x->gt);
	if (x->gs)
		xengntshr_close(x->gs);
	if (x->fm)
		xenforeignmemory_close(x->fm);
	free(x);
}

static int xen_domid(struct pvhv *hv)
{
	struct xs_handle *xs = xs_open(0);
	unsigned int len;
	char *v;
	int id = -ENOENT;

	if (!xs)
		return neg_errno();
	/* Every domain can read its own "domid" (relative path). */
	v = xs_read(xs, XBT_NULL, "domid", &len);
	if (v) {
		id = atoi(v);
		free(v);
	} else {
		/* dom0 before xen-init-dom0 wrote it. */
		FILE *f = fopen("/proc/xen/capabilities", "r");
		char buf[64] = "";

		if (f) {
			if (fgets(buf, sizeof(buf), f) && strstr(buf, "control_d"))
				id = 0;
			fclose(f);
		}
	}
	xs_close(xs);
	return id;
}

static int need_gt(struct xen *x)
{
	if (!x->gt && !(x->gt = xengnttab_open(NULL, 0)))
		return neg_errno();
	return 0;
}

static int need_gs(struct xen *x)
{
	if (!x->gs && !(x->gs = xengntshr_open(NULL, 0)))
		return neg_errno();
	return 0;
}

static int need_fm(struct xen *x)
{
	if (!x->fm && !(x->fm = xenforeignmemory_open(NULL, 0)))
		return neg_errno();
	return 0;
}

static int xen_gnt_map(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		       unsigned flags, void **addr)
{
	struct xen *x = X(hv);
	int prot = (flags & PVHV_GNT_RO) ? PROT_READ : PROT_READ | PROT_WRITE;
	int r = need_gt(x);
	void *p;

	if (r)
		return r;
	errno = 0;
	p = xengnttab_map_domain_grant_refs(x->gt, count, domid, (uint32_t *)refs, prot);
	if (!p)
		return neg_errno();
	*addr = p;
	return 0;
}

static int xen_gnt_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	struct xen *x = X(hv);

	if (!x->gt)
		return -EINVAL;
	return xengnttab_unmap(x->gt, addr, count) ? neg_errno() : 0;
}

/* GNTST_* to -errno, following the meaning of each status. */
static int16_t gntst_errno(int16_t st)
{
	switch (st) {
	case GNTST_okay:
		return 0;
	case GNTST_bad_domain:
		return -ESRCH;
	case GNTST_bad_gntref:
	case GNTST_bad_copy_arg:
		return -EINVAL;
	case GNTST_permission_denied:
		return -EPERM;
	case GNTST_bad_virt_addr:
	case GNTST_bad_dev_addr:
	case GNTST_bad_page:
		return -EFAULT;
	case GNTST_eagain:
		return -EAGAIN;
	case GNTST_no_device_space:
	case GNTST_no_space:
		return -ENOSPC;
	case GNTST_address_too_big:
		return -E2BIG;
	case GNTST_bad_handle:
		return -EBADF;
	default:
		return -EIO;
	}
}

static void copy_seg_to_xen(const struct pvhv_gnt_copy_seg *seg, xengnttab_grant_copy_segment_t *w)
{
	union xengnttab_copy_ptr *foreign, *local;

	memset(w, 0, sizeof(*w));
	if (seg->to_guest) {
		local = &w->source;
		foreign = &w->dest;
		w->flags = GNTCOPY_dest_gref;
	} else {
		local = &w->dest;
		foreign = &w->source;
		w->flags = GNTCOPY_source_gref;
	}
	local->virt = seg->local;
	foreign->foreign.ref = seg->ref;
	foreign->foreign.offset = seg->offset;
	foreign->foreign.domid = (domid_t)seg->domid; /* < DOMID_FIRST_RESERVED: core.c */
	w->len = seg->len;
}

/*
 * gntdev's IOCTL_GNTDEV_GRANT_COPY fails as a whole (statuses unset, some
 * segments maybe done) when one segment has a bad local address (-EFAULT)
 * or range (-EINVAL).  Then each segment is done on its own, so that every
 * status is set as pvhv_gnt_copy() promises.
 */
static int xen_gnt_copy(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count)
{
	struct xen *x = X(hv);
	xengnttab_grant_copy_segment_t *w;
	uint32_t *idx, n = 0;
	int r = need_gt(x);

	if (r)
		return r;
	w = calloc(count, sizeof(*w));
	idx = calloc(count, sizeof(*idx));
	if (!w || !idx) {
		free(w);
		free(idx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (segs[i].status)
			continue; /* refused by core.c */
		copy_seg_to_xen(&segs[i], &w[n]);
		idx[n++] = i;
	}
	if (n && xengnttab_grant_copy(x->gt, n, w) == 0) {
		for (uint32_t k = 0; k < n; k++)
			segs[idx[k]].status = gntst_errno(w[k].status);
	} else {
		for (uint32_t k = 0; k < n; k++) {
			errno = 0;
			if (xengnttab_grant_copy(x->gt, 1, &w[k]))
				segs[idx[k]].status = (int16_t)neg_errno();
			else
				segs[idx[k]].status = gntst_errno(w[k].status);
		}
	}
	free(w);
	free(idx);
	return 0;
}

static int xen_gnt_share(struct pvhv *hv, uint32_t domid, uint32_t count, unsigned flags,
			 uint32_t *refs, void **addr)
{
	struct xen *x = X(hv);
	int r = need_gs(x);
	void *p;

	if (r)
		return r;
	errno = 0;
	p = xengntshr_share_pages(x->gs, domid, (int)count, refs, !(flags & PVHV_GNT_RO));
	if (!p)
		return neg_errno();
	*addr = p;
	return 0;
}

static int xen_gnt_unshare(struct pvhv *hv, void *addr, uint32_t count)
{
	struct xen *x = X(hv);

	if (!x->gs)
		return -EINVAL;
	/* gntalloc defers the release of pages the peer still maps. */
	return xengntshr_unshare(x->gs, addr, count) ? neg_errno() : 0;
}

static int xen_foreign_map(struct pvhv *hv, uint32_t domid, int prot, const uint64_t *frames,
			   uint32_t count, void **addr)
{
	struct xen *x = X(hv);
	xen_pfn_t *pfns;
	int *err, r = need_fm(x);
	void *p;

	if (r)
		return r;
	pfns = calloc(count, sizeof(*pfns));
	err = calloc(count, sizeof(*err));
	if (!pfns || !err) {
		free(pfns);
		free(err);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		pfns[i] = (xen_pfn_t)frames[i];
	errno = 0;
	p = xenforeignmemory_map(x->fm, domid, prot, count, pfns, err);
	if (!p) {
		r = neg_errno();
	} else {
		for (uint32_t i = 0; i < count && !r; i++)
			if (err[i])
				r = err[i] < 0 ? err[i] : -err[i];
		if (r)
			xenforeignmemory_unmap(x->fm, p, count);
		else
			*addr = p;
	}
	free(pfns);
	free(err);
	return r;
}

static int xen_foreign_unmap(struct pvhv *hv, void *addr, uint32_t count)
{
	struct xen *x = X(hv);

	if (!x->fm)
		return -EINVAL;
	return xenforeignmemory_unmap(x->fm, addr, count) ? neg_errno() : 0;
}

/* ---- event channels ---- */

/*
 * The handle alone: the provider keeps no ports of its own.  Each
 * pvhv_evtchn_pending_batch() is one read() of the evtchn device, which
 * hands over as many pending ports as fit and keeps the rest (the fd stays
 * readable for them), so a caller may stop after any batch and poll again.
 */
struct xen_evtchn {
	xenevtchn_handle *h;
};

static xenevtchn_handle *EV(struct pvhv_evtchn *ev)
{
	return ((struct xen_evtchn *)ev->priv)->h;
}

static int xen_evtchn_open(struct pvhv_evtchn *ev)
{
	struct xen_evtchn *x = calloc(1, sizeof(*x));
	xenevtchn_handle *h = x ? xenevtchn_open(NULL, 0) : NULL;
	int fd, fl;

	if (!h) {
		int r = x ? neg_errno() : -ENOMEM;

		free(x);
		return r;
	}
	/* pvhv_evtchn_pending() returns -EAGAIN rather than blocking. */
	fd = xenevtchn_fd(h);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int r = neg_errno();

		xenevtchn_close(h);
		free(x);
		return r;
	}
	x->h = h;
	ev->priv = x;
	return 0;
}

static void xen_evtchn_close(struct pvhv_evtchn *ev)
{
	xenevtchn_close(EV(ev));
	free(ev->priv);
}

static int xen_evtchn_fd(struct pvhv_evtchn *ev)
{
	return xenevtchn_fd(EV(ev));
}

static int port_or_errno(xenevtchn_port_or_error_t p)
{
	return p < 0 ? neg_errno() : (int)p;
}

static int xen_evtchn_bind_interdomain(struct pvhv_evtchn *ev, uint32_t domid, uint32_t port)
{
	return port_or_errno(xenevtchn_bind_interdomain(EV(ev), domid, port));
}

static int xen_evtchn_alloc_unbound(struct pvhv_evtchn *ev, uint32_t domid)
{
	return port_or_errno(xenevtchn_bind_unbound_port(EV(ev), domid));
}

static int xen_evtchn_notify(struct pvhv_evtchn *ev, uint32_t port)
{
	return xenevtchn_notify(EV(ev), port) ? neg_errno() : 0;
}

_Static_assert(sizeof(evtchn_port_t) == sizeof(uint32_t), "ports are read as uint32_t");

static int xen_evtchn_pending(struct pvhv_evtchn *ev, uint32_t *ports, uint32_t max)
{
	ssize_t len;

	/* The Linux evtchn device: a read returns whole ports, as many as fit
	 * in the buffer (at most a page's worth) and are pending. */
	if (max > PVHV_EVTCHN_BATCH_MAX)
		max = PVHV_EVTCHN_BATCH_MAX;
	len = read(xenevtchn_fd(EV(ev)), ports, (size_t)max * sizeof(*ports));
	if (len < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : neg_errno();
	if ((size_t)len < sizeof(*ports))
		return -EAGAIN;
	return (int)((size_t)len / sizeof(*ports));
}

static int xen_evtchn_unmask(struct pvhv_evtchn *ev, uint32_t port)
{
	return xenevtchn_unmask(EV(ev), port) ? neg_errno() : 0;
}

/* xenevtchn_unmask() is this write: the port to the evtchn device. */
static int xen_evtchn_unmask_op(struct pvhv_evtchn *ev, uint32_t port,
				struct pvhv_evtchn_unmask_op *op)
{
	op->kind = PVHV_UNMASK_WRITE;
	op->fd = xenevtchn_fd(EV(ev));
	op->port = port;
	op->buf = &op->port;
	op->len = sizeof(op->port);
	return 0;
}

/* The evtchn device's read() is xen_evtchn_pending()'s, made non-blocking at open. */
static enum pvhv_evtchn_fd_kind xen_evtchn_fd_kind(struct pvhv_evtchn *ev)
{
	(void)ev;
	return PVHV_EVTCHN_FD_READ;
}

static int xen_evtchn_unbind(struct pvhv_evtchn *ev, uint32_t port)
{
	return xenevtchn_unbind(EV(ev), port) ? neg_errno() : 0;
}

static int xen_xs_open(struct pvhv *hv, struct xs_handle **out)
{
	struct xs_handle *xs;

	errno = 0;
	xs = xs_open(0);
	if (!xs)
		return neg_errno();
	*out = xs;
	return 0;
}

const struct pvhv_ops pvhvi_xen_ops = {
	.name = "xen",
	.open = xen_open,
	.close = xen_close,
	.domid = xen_domid,
	.gnt_map = xen_gnt_map,
	.gnt_unmap = xen_gnt_unmap,
	.gnt_copy = xen_gnt_copy,
	.gnt_share = xen_gnt_share,
	.gnt_unshare = xen_gnt_unshare,
	.evtchn_open = xen_evtchn_open,
	.evtchn_close = xen_evtchn_close,
	.evtchn_fd = xen_evtchn_fd,
	.evtchn_bind_interdomain = xen_evtchn_bind_interdomain,
	.evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
	.evtchn_notify = xen_evtchn_notify,
	.evtchn_pending = xen_evtchn_pending,
	.evtchn_unmask = xen_evtchn_unmask,
	.evtchn_unmask_op = xen_evtchn_unmask_op,
	.evtchn_fd_kind = xen_evtchn_fd_kind,
	.evtchn_unbind = xen_evtchn_unbind,
	.foreign_map = xen_foreign_map,
	.foreign_unmap = xen_foreign_unmap,
	.xs_open = xen_xs_open,
};
