/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libpvsplit-hv internals: the provider ops table.  Not installed. */
#ifndef PVSPLIT_HV_PRIVATE_H
#define PVSPLIT_HV_PRIVATE_H

#include "pvsplit/hv.h"

struct pvhv_ops {
	const char *name;
	int (*open)(struct pvhv *hv, const struct pvhv_open_args *args);
	void (*close)(struct pvhv *hv);
	int (*domid)(struct pvhv *hv);

	int (*gnt_map)(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		       unsigned flags, void **addr);
	int (*gnt_unmap)(struct pvhv *hv, void *addr, uint32_t count);
	/*
	 * core.c has set every segment's status: 0 for a well-formed one,
	 * -EINVAL for one it refused (domid or range).  Copy the segments whose
	 * status is 0 and leave the others alone.
	 */
	int (*gnt_copy)(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count);
	int (*gnt_share)(struct pvhv *hv, uint32_t domid, uint32_t count, unsigned flags,
			 uint32_t *refs, void **addr);
	int (*gnt_unshare)(struct pvhv *hv, void *addr, uint32_t count);

	int (*evtchn_open)(struct pvhv_evtchn *ev);
	void (*evtchn_close)(struct pvhv_evtchn *ev);
	int (*evtchn_fd)(struct pvhv_evtchn *ev);
	int (*evtchn_bind_interdomain)(struct pvhv_evtchn *ev, uint32_t domid, uint32_t port);
	int (*evtchn_alloc_unbound)(struct pvhv_evtchn *ev, uint32_t domid);
	int (*evtchn_notify)(struct pvhv_evtchn *ev, uint32_t port);
	/* 1..max ports (max is 1..PVHV_EVTCHN_BATCH_MAX), or -EAGAIN. */
	int (*evtchn_pending)(struct pvhv_evtchn *ev, uint32_t *ports, uint32_t max);
	int (*evtchn_unmask)(struct pvhv_evtchn *ev, uint32_t port);
	/* NULL: no such form (-EOPNOTSUPP). */
	int (*evtchn_unmask_op)(struct pvhv_evtchn *ev, uint32_t port,
				struct pvhv_evtchn_unmask_op *op);
	int (*evtchn_unbind)(struct pvhv_evtchn *ev, uint32_t port);
	/* NULL: PVHV_EVTCHN_FD_POLL. */
	enum pvhv_evtchn_fd_kind (*evtchn_fd_kind)(struct pvhv_evtchn *ev);

	int (*foreign_map)(struct pvhv *hv, uint32_t domid, int prot, const uint64_t *frames,
			   uint32_t count, void **addr);
	int (*foreign_unmap)(struct pvhv *hv, void *addr, uint32_t count);

	int (*xs_open)(struct pvhv *hv, struct xs_handle **out);
};

struct pvhv {
	const struct pvhv_ops *ops;
	int domid; /* -1 until known */
	void *priv;
};

struct pvhv_evtchn {
	struct pvhv *hv;
	void *priv;
};

/* pvhvi_*: internal, not exported (the version script exports pvhv_* only). */
extern const struct pvhv_ops pvhvi_xen_ops;
extern const struct pvhv_ops pvhvi_sim_ops;

#endif
