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
 * Where the two providers differ, the comment says what each returns: the
 * sim emulates Xen's checks, but the "xen" provider reports what Xen's
 * gntdev, gntalloc and evtchn drivers report, which is coarser.
 *
 * Handles are not thread-safe: use one per thread, or lock around them.
 * Handles are not fork-safe: a child process must pvhv_open() its own (a
 * sim grant copy through a handle inherited across fork() fails -EBADF).
 * A handle holds no global state other than what its comment says
 * (pvhv_xs_open() on the sim sets XENSTORED_PATH).
 *
 * Domain ids are below DOMID_FIRST_RESERVED (0x7FF0): a larger one is
 * refused with -EINVAL before it reaches the hypervisor (the event channel
 * calls also take PVHV_DOMID_SELF, our own domain).
 */
#ifndef PVSPLIT_HV_H
#define PVSPLIT_HV_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xs_handle;

/* One connection to the hypervisor, acting as one domain. */
struct pvhv;
/* An event channel handle: a set of bound ports with one pollable fd. */
struct pvhv_evtchn;

#define PVHV_PAGE_SIZE 4096u
/* "Our own domain", as Xen's DOMID_SELF (xen/xen.h). */
#define PVHV_DOMID_SELF 0x7FF0u

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
 * or no such domain, -ECONNRESET when the sim refused the connection (an
 * unprivileged domain has 64 open at most), or another -errno from the
 * provider.  Touches no process-wide state.
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
 * Either every ref is mapped or none is.
 * sim: 0, -EINVAL (count 0 or too large, bad domid, ref out of the table,
 *      frame outside the granter's memory), -EPERM (grant not permitted to
 *      us, or read-only and RW wanted), -ESRCH (no such domain), -ENOMEM.
 * xen: 0, -EINVAL for every refusal by Xen (gntdev turns any GNTST_* error
 *      of the batch into -EINVAL: bad ref, not permitted, read-only, no such
 *      domain alike), -ENOMEM, -ENOSPC (gntdev's page limit).
 */
int pvhv_gnt_map(struct pvhv *hv, uint32_t domid, uint32_t count, const uint32_t *refs,
		 unsigned flags, void **addr);

/* Unmap count pages mapped by one pvhv_gnt_map() at addr.  0 or -EINVAL (both). */
int pvhv_gnt_unmap(struct pvhv *hv, void *addr, uint32_t count);

/* Largest count accepted by pvhv_gnt_map() and pvhv_gnt_copy(). */
#define PVHV_GNT_MAX_BATCH 1024u

/*
 * One grant copy segment: copy len bytes between local memory and the
 * granted page (domid, ref) at offset.  offset + len must stay within the
 * page.  status is written by pvhv_gnt_copy() for every segment: 0 or
 * -errno for this segment alone:
 *   both: -EINVAL domid not below DOMID_FIRST_RESERVED, or offset + len
 *         beyond the page (refused before the hypervisor is asked);
 *   sim:  -EINVAL bad ref, -EPERM not permitted or read-only, -ESRCH no
 *         such domain, -EFAULT bad local address;
 *   xen:  the GNTST_* status mapped (-EINVAL bad ref, -EPERM, -ESRCH bad
 *         domain, -EFAULT bad frame); a bad local address makes gntdev fail
 *         the whole batch, which is then redone one segment at a time, so
 *         that segment gets the driver's -EFAULT and the others their own.
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
 * PVHV_GNT_MAX_BATCH, or another -errno when nothing was done (sim: -EBADF
 * in a process forked after pvhv_open(): the copy would reach the parent's
 * memory).
 */
int pvhv_gnt_copy(struct pvhv *hv, struct pvhv_gnt_copy_seg *segs, uint32_t count);

/* ------------------------------------------------------------------ */
/* Grant tables: the granting side (frontends)                         */
/* ------------------------------------------------------------------ */

/*
 * Allocate count zeroed pages of our memory, grant each one to domain domid
 * (read-only with PVHV_GNT_RO) and map them into one contiguous range.
 * refs[] receives the grant refs, *addr the range.  Returns 0, -EINVAL,
 * -ENOMEM / -ENOSPC (out of pages or grant entries; xen: also gntalloc's
 * page limit).  Neither provider checks that domid exists (Xen does not).
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
 * allocated for our domain (domid may be PVHV_DOMID_SELF).  The new port is
 * pending right away, as Xen makes it (notifications sent while the remote
 * port was unbound were lost): look at the ring once.
 * Returns the local port, -EINVAL (no such remote port, or not unbound for
 * us, or a reserved domid), -ESRCH (no such domain), -ENOSPC (no free port:
 * a guest has ports 1..1023 on the sim as with libxl's default).  Same on
 * both providers.
 */
int pvhv_evtchn_bind_interdomain(struct pvhv_evtchn *ev, uint32_t domid, uint32_t remote_port);

/*
 * Allocate an unbound local port that domain remote_domid may bind to.  As
 * Xen, remote_domid is only recorded: it need not exist yet.
 * PVHV_DOMID_SELF means our own domain.  Returns the port, -EINVAL (a
 * reserved domid), -ENOSPC.
 */
int pvhv_evtchn_alloc_unbound(struct pvhv_evtchn *ev, uint32_t remote_domid);

/*
 * Notify the remote end of a port.  A notification to a port whose peer has
 * gone (unbound again) is dropped, as Xen drops it, and returns 0.
 * Returns -ENOTCONN when the port is not bound through this handle (both).
 */
int pvhv_evtchn_notify(struct pvhv_evtchn *ev, uint32_t port);

/*
 * Return the next pending port, which stays masked until
 * pvhv_evtchn_unmask(); notifications to a masked port stay pending and are
 * delivered on unmask.  Returns the port, or -EAGAIN when none is pending:
 * then wait for pvhv_evtchn_fd() to be readable.  The handle holds no ports
 * back: while any port is pending the fd polls readable, so a caller may
 * stop taking ports at any point and poll again (both providers).
 */
int pvhv_evtchn_pending(struct pvhv_evtchn *ev);

/* The most ports one pvhv_evtchn_pending_batch() returns (a page of them). */
#define PVHV_EVTCHN_BATCH_MAX 1024u

/*
 * Take up to max pending ports into ports[] at once, as pvhv_evtchn_pending()
 * takes one (each stays masked until pvhv_evtchn_unmask()).  xen: one read()
 * of the evtchn device per call, however many ports it returns; max above
 * PVHV_EVTCHN_BATCH_MAX is taken as that.  Fewer than max returned means
 * none was left pending at that moment, as far as the provider could tell
 * (sim: a port unbound meanwhile is dropped from the batch); stopping there
 * loses nothing, the fd stays readable for what is left.  Returns the number of ports (1..max),
 * -EAGAIN when none is pending, -EINVAL when max is 0 or ports NULL.  As
 * with pvhv_evtchn_pending(), ports not returned keep the fd readable.
 */
int pvhv_evtchn_pending_batch(struct pvhv_evtchn *ev, uint32_t *ports, uint32_t max);

/*
 * Unmask a port.  sim: 0 or -ENOTCONN (not bound through this handle).
 * xen: 0 even for a port not bound through this handle (the evtchn driver
 * ignores it).
 */
int pvhv_evtchn_unmask(struct pvhv_evtchn *ev, uint32_t port);

/*
 * What pvhv_evtchn_unmask(port) does, as one system call a caller may make
 * itself, later, batched with others (an io_uring submission): a system
 * call saved per event, which counts where each costs tens of
 * microseconds (a PV dom0).  kind says which call:
 *   PVHV_UNMASK_WRITE      write(fd, buf, len) (xen: the port to the evtchn
 *                          device);
 *   PVHV_UNMASK_EPOLL_CTL  epoll_ctl(fd, EPOLL_CTL_MOD, target, &event)
 *                          (sim: re-arms the port's eventfd).
 * buf points into *op: op must stay where it is until the call is made.
 * Returns 0, -ENOTCONN (sim: the port is not bound through this handle),
 * -EOPNOTSUPP (no such form: use pvhv_evtchn_unmask()).  The call itself
 * can still fail (an io_uring without the opcode): the caller then falls
 * back to pvhv_evtchn_unmask().  sim with PVSPLIT_SIM_FAULTS=unmask-op:
 * the op is one the kernel refuses (EINVAL), to test that fallback.
 */
enum pvhv_unmask_kind { PVHV_UNMASK_WRITE = 1, PVHV_UNMASK_EPOLL_CTL };

struct pvhv_evtchn_unmask_op {
	enum pvhv_unmask_kind kind;
	int fd;
	int target;		  /* EPOLL_CTL */
	struct epoll_event event; /* EPOLL_CTL */
	const void *buf;	  /* WRITE */
	uint32_t len;		  /* WRITE */
	uint32_t port;		  /* WRITE: what buf points to (xen) */
};

int pvhv_evtchn_unmask_op(struct pvhv_evtchn *ev, uint32_t port, struct pvhv_evtchn_unmask_op *op);

/*
 * What pvhv_evtchn_fd() gives a caller that waits for it its own way (in an
 * io_uring, with the wait it sleeps in):
 *   PVHV_EVTCHN_FD_READ  read(fd, buf, len) takes pending ports as
 *                        pvhv_evtchn_pending_batch() does: whole uint32_t
 *                        ports, len a multiple of 4; the fd is non-blocking
 *                        (xen: the evtchn device);
 *   PVHV_EVTCHN_FD_POLL  poll it only (readable while a port is pending),
 *                        then take ports with pvhv_evtchn_pending_batch()
 *                        (sim).
 */
enum pvhv_evtchn_fd_kind { PVHV_EVTCHN_FD_POLL = 1, PVHV_EVTCHN_FD_READ };
enum pvhv_evtchn_fd_kind pvhv_evtchn_fd_kind(struct pvhv_evtchn *ev);

/* Close a port.  Its peer becomes unbound and re-bindable.  0 or -ENOTCONN (both). */
int pvhv_evtchn_unbind(struct pvhv_evtchn *ev, uint32_t port);

/* ------------------------------------------------------------------ */
/* Foreign memory (privileged)                                         */
/* ------------------------------------------------------------------ */

/*
 * Map count frames of domain domid (guest frame numbers) into one range.
 * prot is PROT_READ or PROT_READ|PROT_WRITE.  Returns 0 and *addr, -EPERM
 * (not privileged), -EINVAL (bad frame or domid), -ESRCH (sim: no such
 * domain); xen: the first per-frame error privcmd reports.
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
 *
 * sim: sets XENSTORED_PATH in the process environment to the domain's
 * xenstore socket first, so that the stock client (and anything else in
 * the process using libxenstore) reaches it: process-wide state, which is
 * fine because a sim process is one domain.
 */
int pvhv_xs_open(struct pvhv *hv, struct xs_handle **out);

#ifdef __cplusplus
}
#endif

#endif /* PVSPLIT_HV_H */
