/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-hv: what only the loopback hypervisor ("sim" provider) offers.
 * Same return convention as pvsplit/hv.h; every function returns
 * -EOPNOTSUPP on a handle of another provider.
 *
 * Threat model of the sim.  pvsplit-simhv emulates Xen's checks for
 * processes that use libpvsplit-hv: grant permissions and read-only grants,
 * pins and end of access, event channel ownership and states, xenstore
 * permissions and quotas, and it survives hostile input on its sockets
 * (malformed requests, a guest rewriting its grant table, descriptor and
 * memory exhaustion) without crashing or letting one domain's requests act
 * on another's state.  It is not a security boundary between processes of
 * one uid: every domain's memory is a shared file, and a process that
 * bypasses the library can read and write any domain's memory once it has
 * been handed a descriptor of it (a read-only grant map hands over a
 * read-only descriptor of the granting domain's whole memory, which can be
 * reopened read-write through /proc/self/fd), or can ptrace the processes
 * of other domains.  Run domains you do not trust under Xen, not here.
 *
 * Limitation: a grant copy is done by the daemon through the /proc/self/mem
 * of the calling process.  If the local buffer is mapped from a FUSE file
 * that does not answer, the single-threaded daemon blocks with it (a
 * userfaultfd-registered buffer only makes the segment fail with -EFAULT).
 * Through that descriptor a copy can also write into local memory mapped
 * read-only (the kernel's FOLL_FORCE), where Xen's copy would fail with
 * -EFAULT.
 */
#ifndef PVSPLIT_HV_SIM_H
#define PVSPLIT_HV_SIM_H

#include "pvsplit/hv.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Create domain domid with mem_mib MiB of memory (0: the daemon's default),
 * its sockets and its xenstore home /local/domain/<domid> laid out as libxl
 * 4.17 does (owned by dom0 and readable by the domain, with "domid" and
 * "name"; data/, drivers/, feature/, attr/, error/, control/shutdown owned
 * by the domain; device/ is the toolstack's).  Privileged (dom0) only:
 * -EPERM otherwise; -EEXIST.
 */
int pvhv_sim_domain_create(struct pvhv *hv, uint32_t domid, uint32_t mem_mib);

/*
 * Destroy domain domid: its processes lose their connections (as if the
 * domain died), its event channels close, @releaseDomain fires, its
 * /local/domain/<domid> is removed (as libxl does) and the nodes it owned
 * elsewhere go to dom0.  Xenstore ACL entries naming it are ignored from
 * then on, also for a new domain with the same id.  -EPERM, -ESRCH.
 */
int pvhv_sim_domain_destroy(struct pvhv *hv, uint32_t domid);

struct pvhv_sim_stats {
	uint32_t domains;
	uint32_t clients;
	uint32_t ports_bound;  /* ports in the interdomain state: both ends of a channel */
	uint32_t grant_pins;   /* grant refs mapped, all domains */
	uint32_t grant_shares; /* pages granted, all domains */
	uint64_t maps;
	uint64_t copies;
	uint64_t copy_errors;
	uint64_t map_errors;
};

/* The loopback hypervisor's counters.  0 or -errno. */
int pvhv_sim_stats(struct pvhv *hv, struct pvhv_sim_stats *st);

/*
 * This domain's grant table, as its kernel sees it: nr entries of
 * grant_entry_v1_t (xen/grant_table.h) in shared memory.  Writing it behaves
 * as a guest kernel writing its grant table (tests use it to play a hostile
 * frontend).  0 or -errno.
 */
int pvhv_sim_grant_table(struct pvhv *hv, void **table, uint32_t *nr);

#ifdef __cplusplus
}
#endif

#endif
