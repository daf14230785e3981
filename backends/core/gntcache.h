/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_gntcache: persistent grants of one ring (feature-persistent).
 * A bounded map ref -> mapped page; entries in use are never evicted.  When
 * the cache is full, an idle entry is evicted (least recently used first)
 * only if it has not been used for PVB_GNTCACHE_STALE_NS: a frontend whose
 * working set is larger than the cache gets its excess mapped per request
 * (-ENOSPC) instead of an LRU that misses on every grant.  Grants are
 * mapped writable (the frontend grants persistent pages read-write); a
 * grant that only permits reading is cached read-only and serves only
 * requests that read guest memory.  Every mapping is counted in the
 * daemon's account (mapacct.h), when one is given: with the account at its
 * limit a miss is answered as with the cache full, except that the stalest
 * idle entry of any cache in the account makes room (an idle device does not
 * keep its mappings from busy ones), else -ENOSPC.  Returns -errno; no
 * global state.
 */
#ifndef PVSPLIT_BACK_GNTCACHE_H
#define PVSPLIT_BACK_GNTCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "pvsplit/hv.h"

#include "mapacct.h"

struct pvb_gntcache;
struct pvb_gnt; /* one cached mapping */

/* An idle entry this old may make room for a new grant. */
#define PVB_GNTCACHE_STALE_NS 1000000000ull

struct pvb_gntcache_stats {
	uint64_t hits, misses, evictions, map_errors;
	uint64_t full;	    /* misses answered -ENOSPC: mapped outside the cache */
	uint64_t acct_full; /* of those, because the daemon's account was at its limit */
	uint64_t reclaimed; /* idle entries evicted to make room for another cache */
	uint32_t mapped;    /* entries now */
	uint32_t in_use;
};

/* acct: where every mapping is counted (NULL: nowhere). */
int pvb_gntcache_new(struct pvhv *hv, uint32_t domid, uint32_t max, struct pvb_map_account *acct,
		     struct pvb_gntcache **out);
/* Unmaps everything.  Entries must not be in use any more. */
void pvb_gntcache_free(struct pvb_gntcache *c);

/*
 * The caller's clock (CLOCK_MONOTONIC ns), set before each request's grants
 * are looked up: entries are stamped with it when put back.
 */
void pvb_gntcache_set_time(struct pvb_gntcache *c, uint64_t now_ns);

/*
 * The mapping of ref, mapped now if needed; write: the request writes into
 * guest memory.  Marks the entry in use until pvb_gntcache_put().  0 and
 * *g / *page, -EPERM / -EINVAL (the grant refused), -ENOSPC (the cache, or
 * the account, is full and no idle entry is stale: map this one outside
 * the cache, if the account allows).
 */
int pvb_gntcache_get(struct pvb_gntcache *c, uint32_t ref, bool write, struct pvb_gnt **g,
		     void **page);
void pvb_gntcache_put(struct pvb_gntcache *c, struct pvb_gnt *g);

void pvb_gntcache_get_stats(const struct pvb_gntcache *c, struct pvb_gntcache_stats *st);

#endif
