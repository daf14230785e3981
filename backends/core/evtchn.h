/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_evtchn: one event channel handle for a whole daemon (one fd in the
 * loop, whatever the number of devices), dispatching each port to its
 * owner.  A port is unmasked before its callback runs (or by its owner,
 * pvb_evtchn_owner_unmasks()), so an event that arrives during the callback
 * is not lost.  Returns -errno.
 */
#ifndef PVSPLIT_BACK_EVTCHN_H
#define PVSPLIT_BACK_EVTCHN_H

#include <stdbool.h>
#include <stdint.h>

#include "pvsplit/hv.h"

#include "loop.h"

struct pvb_evtchn;

typedef void (*pvb_port_fn)(void *opaque);

int pvb_evtchn_new(struct pvhv *hv, struct pvb_loop *loop, struct pvb_evtchn **out);
void pvb_evtchn_free(struct pvb_evtchn *e);

/* Bind to (domid, remote_port); fn runs on every event.  Returns the local port or -errno. */
int pvb_evtchn_bind(struct pvb_evtchn *e, uint32_t domid, uint32_t remote_port, pvb_port_fn fn,
		    void *opaque);
/* Allocate an unbound port for domid (frontends, consoles).  Local port or -errno. */
int pvb_evtchn_alloc(struct pvb_evtchn *e, uint32_t domid, pvb_port_fn fn, void *opaque);
void pvb_evtchn_unbind(struct pvb_evtchn *e, uint32_t port);
int pvb_evtchn_notify(struct pvb_evtchn *e, uint32_t port);
/*
 * Hold a port: its events stay pending (the port stays masked) and fn is
 * not called until it is released; a release with an event pending calls
 * fn at once.  For rate limits and event storms.
 */
void pvb_evtchn_hold(struct pvb_evtchn *e, uint32_t port, bool hold);

/*
 * The owner of port unmasks it from now on, with *op (see
 * pvhv_evtchn_unmask_op(); op must stay where it is): fn is called with the
 * port still masked and must have the call made (as part of a batch of its
 * own: an io_uring submission) before the loop sleeps again; events that
 * come meanwhile stay pending and are delivered once it is made.  Returns 0,
 * or -EOPNOTSUPP and the like (nothing changes: the port is unmasked before
 * fn as before).
 */
int pvb_evtchn_owner_unmasks(struct pvb_evtchn *e, uint32_t port, struct pvhv_evtchn_unmask_op *op);
/*
 * The owner gives the unmask back (its own call failed): from the next event
 * on, the port is unmasked before fn again.  Unmasking it now is the
 * caller's: pvb_evtchn_unmask().
 */
void pvb_evtchn_owner_unmasks_end(struct pvb_evtchn *e, uint32_t port);
/* Unmask port now (an owner whose own call failed, or could not be queued). */
int pvb_evtchn_unmask(struct pvb_evtchn *e, uint32_t port);

#endif
