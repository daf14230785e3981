/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-front (console): a guest's side of a Xen console ring
 * (xen/io/console.h), as hvc_xen drives it: the primary console (its page
 * granted through GNTTAB_RESERVED_CONSOLE, as the domain builder leaves
 * it) and secondary consoles (xenbus handshake under device/console/N).
 * Used by the sim-tier tests and pvsplit-bench console.  Returns -errno.
 */
#ifndef PVSPLIT_FRONT_CONSFRONT_H
#define PVSPLIT_FRONT_CONSFRONT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvsplit/hv.h"

struct pvf_cons;
struct xencons_interface;

/*
 * The primary console of our domain, served by backend_domid: a zeroed
 * ring page granted to it as the domain builder does (grant entry
 * GNTTAB_RESERVED_CONSOLE; sim only: on Xen the builder has done it), an
 * unbound port for it.  *frame and *port are what the toolstack publishes
 * as console/ring-ref and console/port.
 */
int pvf_cons_primary(struct pvhv *hv, uint32_t backend_domid, struct pvf_cons **out,
		     uint64_t *frame, uint32_t *port);
/*
 * Secondary console devid: waits for the backend, shares a ring page,
 * publishes ring-ref and port, waits for Connected (timeout_ms each).
 */
int pvf_cons_secondary(struct pvhv *hv, uint32_t devid, unsigned timeout_ms, struct pvf_cons **out);
void pvf_cons_close(struct pvf_cons *c);

/* Pollable while the backend has notified us. */
int pvf_cons_fd(struct pvf_cons *c);
/*
 * Write len bytes to the output ring, waiting for room up to timeout_ms
 * (-1: forever).  Returns the bytes written (< len on timeout).
 */
ssize_t pvf_cons_write(struct pvf_cons *c, const void *buf, size_t len, int timeout_ms);
/* Read what the backend put in the input ring, waiting up to timeout_ms for a byte. */
ssize_t pvf_cons_read(struct pvf_cons *c, void *buf, size_t len, int timeout_ms);

/* For hostile tests: the shared page, and a raw notification. */
struct xencons_interface *pvf_cons_ring(struct pvf_cons *c);
int pvf_cons_notify(struct pvf_cons *c);

#endif
