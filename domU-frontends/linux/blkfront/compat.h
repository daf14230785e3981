/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The blkif protocol headers for the ring/protocol core, which is built
 * twice: into the kernel module (Linux's copy of the Xen public headers,
 * <xen/interface/io/blkif.h>) and into a host unit test (Xen's own public
 * headers from libxen-dev, <xen/io/blkif.h>, built with -D__XEN_TOOLS__).
 *
 * Both describe the same wire format, with one difference in spelling:
 * Linux nests the request variants in a union (req->u.rw, req->u.indirect,
 * req->u.discard), Xen overlays separate structs on struct blkif_request.
 * The field names inside each variant are the same, so the PVB_REQ_*()
 * accessors below are all the core needs.  Nothing here defines a protocol
 * structure.
 */
#ifndef PVSPLIT_BLKFRONT_COMPAT_H
#define PVSPLIT_BLKFRONT_COMPAT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <xen/interface/io/blkif.h>

#define PVB_REQ_RW(r)		(&(r)->u.rw)
#define PVB_REQ_INDIRECT(r)	(&(r)->u.indirect)
#define PVB_REQ_DISCARD(r)	(&(r)->u.discard)

#else /* the host: Xen's public headers */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* xen/io/ring.h leaves the memory barriers to its user. */
#ifndef xen_mb
#define xen_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)
#endif

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>

#define PVB_REQ_RW(r)		(r)
#define PVB_REQ_INDIRECT(r)	((struct blkif_request_indirect *)(r))
#define PVB_REQ_DISCARD(r)	((struct blkif_request_discard *)(r))

#endif /* __KERNEL__ */

#endif /* PVSPLIT_BLKFRONT_COMPAT_H */
