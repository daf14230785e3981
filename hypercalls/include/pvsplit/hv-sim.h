/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-hv: what only the loopback hypervisor ("sim" provider) offers.
 * Same return convention as pvsplit/hv.h; every function returns
 * -EOPNOTSUPP on a handle of another provider.
 */
#ifndef PVSPLIT_HV_SIM_H
#define PVSPLIT_HV_SIM_H

#include "pvsplit/hv.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Create domain domid with mem_mib MiB of memory (0: the daemon's default),
 * its sockets and its xenstore home /local/domain/<domid> (owned by it).
 * Privileged (dom0) only: -EPERM otherwise; -EEXIST.
 */
int pvhv_sim_domain_create(struct pvhv *hv, uint32_t domid, uint32_t mem_mib);

/*
 * Destroy domain domid: its processes lose their connections (as if the
 * domain died), its event channels close, @releaseDomain fires.  -EPERM,
 * -ESRCH.
 */
int pvhv_sim_domain_destroy(struct pvhv *hv, uint32_t domid);

struct pvhv_sim_stats {
	uint32_t domains;
	uint32_t clients;
	uint32_t ports_bound;  /* both ends of each interdomain channel */
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
