/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-hv: the one door to Xen.
 *
 * Every pvsplit component reaches grant tables, event channels, foreign
 * memory and xenstore through this interface.  Two providers implement it:
 *
 *   "xen"  the stock Xen libraries (libxengnttab/gntshr, libxenevtchn,
 *          libxenforeignmemory, libxenstore) on a real Xen host;
 *   "sim"  the loopback hypervisor (pvsplit-simhv, see pvsplit-simhv(8)):
 *          every domain is a process, grant tables and domain memory are
 *          shared memory, event channels are eventfds, xenstore is a server
 *          speaking Xen's wire protocol.
 *
 * Return convention (every function, unless its comment says otherwise):
 *   >= 0      success (a port number, a count or 0);
 *   -errno    failure; errno is not used.  No function prints anything.
 * Functions that hand out a pointer do so through an out parameter.
 *
 * Handles are not thread-safe: use one per thread, or lock around them.
 * A handle holds no global state other than what its comment says.
 */
#ifndef PVSPLIT_HV_H
#define PVSPLIT_HV_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xs_handle;

/* One connection to the hypervisor, acting as one domain. */
struct pvhv;
/* An event channel handle: a set of bound ports with one pollable fd. */
struct pvhv_evtchn;

#define PVHV_PAGE_SIZE 4096u

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

struct pvhv_open_args {
	/*
	 * "xen", "sim" or NULL.  NULL picks from the environment:
	 * PVSPLIT_HV=xen|sim if set; else "xen" when /dev/xen exists; else
	 * "sim" when PVSPLIT_SIM_DIR is set.
	 */
	const char *provider;
	/* sim only: the pvsplit-simhv directory (NULL: $PVSPLIT_SIM_DIR). */
	const char *sim_dir;
	/*
	 * sim only: the domain this process acts as (-1: $PVSPLIT_DOMID, or 0
	 * when that is unset).  Ignored by "xen": the running domain is used.
	 */
	int domid;
};

/*
 * Open a handle.  args may be NULL (everything from the environment).
 * Returns 0 and *out, -ENOENT when no provider can be found (no /dev/xen and
 * no sim named), -ECONNREFUSED/-ENOENT when the sim directory has no daemon
 * or no such domain, or another -errno from the provider.
 *
 * The sim provider sets XENSTORED_PATH in the process environment to the
 * domain's xenstore socket so that the stock libxenstore client reaches it;
 * that is the only process-wide state it touches (a sim process is one
 * domain).
 */
int pvhv_open(struct pvhv **out, const struct pvhv_open_args *args);

/* Close a handle: unmaps every grant mapping and share made through it. */
void pvhv_close(struct pvhv *hv);

/* "xen" or "sim".  Never fails. */
const char *pvhv_provider(const struct pvhv *hv);

/* The domain id this handle acts as (>= 0), or -errno if unknown. */
int pvhv_domid(const struct pvhv *hv);

/* ------------------------------------------------------------------ */
/* Grant tables: the mapping side (backends)                           */
/* ------------------------------------------------------------------ */

#define PVHV_GNT_RO 0x1u /* map read-only (a write through it faults) */

/*
 * Map count grant refs of domain domid into one contiguous, page-aligned
 * range.  The grants must permit access to the caller's domain, and must not
 * be read-only unless PVHV_GNT_RO is given.  On success *addr is set.
 * Returns 0, -EINVAL (count 0 or too large, bad ref), -EPERM (grant not
 * permitted to us, or read-only and RW wanted), -ESRCH (no such domain),
 * -ENOMEM.  Either every ref is mapped or none is.
 */
int pvhv_gnt_map(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		 unsigned flags, void **addr);

/* Unmap count pages mapped by one pvhv_gnt_map() at addr.  0 or -EINVAL. */
int pvhv_gnt_unmap(struct pvhv *hv, void *addr, uint32_t count);

/* Largest count accepted by pvhv_gnt_map() and pvhv_gnt_copy(). */
#define PVHV_GNT_MAX_BATCH 1024u

/*
 * One grant copy segment: copy len bytes between local memory and the
 * granted page (domid, ref) at offset.  offset + len must stay within the
 * page.  status is written by pvhv_gnt_copy(): 0 or -errno for this segment
 * (-EINVAL bad ref or range, -EPERM not permitted or read-only, -ESRCH no
 * such domain, -EFAULT bad local address).
 */
struct pvhv_gnt_copy_seg {
	void *local;
	uint32_t domid;
	uint32_t ref;
	uint16_t offset;
	uint16_t len;
	uint8_t to_guest; /* 1: local -> granted page; 0: granted page -> local */
	int16_t status;
};

/*
 * Copy a batch of segments.  Returns 0 when the batch was processed (look at
 * every segment's status), -EINVAL when count is 0 or above
 * PVHV_GNT_MAX_BATCH, or another -errno when nothing was done.
 */
int pvhv_gnt_copy(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count);

/* ------------------------------------------------------------------ */
/* Grant tables: the granting side (frontends)                         */
/* ------------------------------------------------------------------ */

/*
 * Allocate count zeroed pages of our memory, grant each one to domain domid
 * (read-only with PVHV_GNT_RO) and map them into one contiguous range.
 * refs[] receives the grant refs, *addr the range.  Returns 0, -EINVAL,
 * -ENOMEM / -ENOSPC (out of pages or grant entries).
 */
int pvhv_gnt_share(struct pvhv *hv, uint32_t domid, uint32_t count, unsigned flags, uint32_t *refs,
		   void **addr);

/*
 * End foreign access to pages shared by one pvhv_gnt_share() and free them.
 * sim: returns -EBUSY, and changes nothing, while the peer still has any of
 * the pages mapped.  xen: the kernel (gntalloc) defers the release of pages
 * the peer still maps; this returns 0.  -EINVAL for an unknown range.
 */
int pvhv_gnt_unshare(struct pvhv *hv, void *addr, uint32_t count);

/* ------------------------------------------------------------------ */
/* Event channels                                                      */
/* ------------------------------------------------------------------ */

/* Open an event channel handle on hv.  0 and *out, or -errno. */
int pvhv_evtchn_open(struct pvhv *hv, struct pvhv_evtchn **out);

/* Close it: every port bound through it is closed. */
void pvhv_evtchn_close(struct pvhv_evtchn *ev);

/*
 * A file descriptor that polls readable while a port of this handle is
 * pending.  Owned by the handle.  >= 0.
 */
int pvhv_evtchn_fd(struct pvhv_evtchn *ev);

/*
 * Bind a local port to (domid, remote_port), which must be unbound and
 * allocated for our domain.  Returns the local port, -EINVAL (no such remote
 * port, or not unbound for us), -ESRCH (no such domain), -ENOSPC.
 */
int pvhv_evtchn_bind_interdomain(struct pvhv_evtchn *ev, uint32_t domid, uint32_t remote_port);

/*
 * Allocate an unbound local port that domain remote_domid may bind to.
 * Returns the port, -ESRCH, -ENOSPC.
 */
int pvhv_evtchn_alloc_unbound(struct pvhv_evtchn *ev, uint32_t remote_domid);

/*
 * Notify the remote end of a port.  A notification to a port whose peer has
 * gone (unbound again) is dropped, as Xen drops it, and returns 0.
 * Returns -ENOTCONN when the port is not bound through this handle.
 */
int pvhv_evtchn_notify(struct pvhv_evtchn *ev, uint32_t port);

/*
 * Return the next pending port, which stays masked until
 * pvhv_evtchn_unmask(); notifications to a masked port stay pending and are
 * delivered on unmask.  Returns the port, or -EAGAIN when none is pending.
 */
int pvhv_evtchn_pending(struct pvhv_evtchn *ev);

/* Unmask a port.  0 or -ENOTCONN (not bound through this handle). */
int pvhv_evtchn_unmask(struct pvhv_evtchn *ev, uint32_t port);

/* Close a port.  Its peer becomes unbound and re-bindable.  0 or -ENOTCONN. */
int pvhv_evtchn_unbind(struct pvhv_evtchn *ev, uint32_t port);

/* ------------------------------------------------------------------ */
/* Foreign memory (privileged)                                         */
/* ------------------------------------------------------------------ */

/*
 * Map count frames of domain domid (guest frame numbers) into one range.
 * prot is PROT_READ or PROT_READ|PROT_WRITE.  Returns 0 and *addr, -EPERM
 * (not privileged), -EINVAL (bad frame), -ESRCH.
 */
int pvhv_foreign_map(struct pvhv *hv, uint32_t domid, int prot, const uint64_t *frames,
		     uint32_t count, void **addr);

/* Unmap a range from pvhv_foreign_map().  0 or -EINVAL. */
int pvhv_foreign_unmap(struct pvhv *hv, void *addr, uint32_t count);

/* ------------------------------------------------------------------ */
/* Xenstore                                                            */
/* ------------------------------------------------------------------ */

/*
 * Open a stock libxenstore connection for this handle's domain (xs_open()
 * against the domain's xenstored socket on the sim, the usual one on Xen).
 * Close it with xs_close().  Returns 0 and *out, or -errno.
 */
int pvhv_xs_open(struct pvhv *hv, struct xs_handle **out);

#ifdef __cplusplus
}
#endif

#endif /* PVSPLIT_HV_H */
