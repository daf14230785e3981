/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_gntcache: persistent grants of one ring (feature-persistent).
 * A bounded map ref -> mapped page; entries in use are never evicted, idle
 * ones go least recently used first when the cache is full.  Grants are
 * mapped writable (the frontend grants persistent pages read-write); a
 * grant that only permits reading is cached read-only and serves only
 * requests that read guest memory.  Returns -errno; no global state.
 */
#ifndef PVSPLIT_BACK_GNTCACHE_H
#define PVSPLIT_BACK_GNTCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "pvsplit/hv.h"

struct pvb_gntcache;
struct pvb_gnt; /* one cached mapping */

struct pvb_gntcache_stats {
	uint64_t hits, misses, evictions, map_errors;
	uint32_t mapped; /* entries now */
	uint32_t in_use;
};

int pvb_gntcache_new(struct pvhv *hv, uint32_t domid, uint32_t max, struct pvb_gntcache **out);
/* Unmaps everything.  Entries must not be in use any more. */
void pvb_gntcache_free(struct pvb_gntcache *c);

/*
 * The mapping of ref, mapped now if needed; write: the request writes into
 * guest memory.  Marks the entry in use until pvb_gntcache_put().  0 and
 * *g / *page, -EPERM / -EINVAL (the grant refused), -ENOSPC (every entry is
 * in use and the cache is full: map this one outside the cache).
 */
int pvb_gntcache_get(struct pvb_gntcache *c, uint32_t ref, bool write, struct pvb_gnt **g,
		     void **page);
void pvb_gntcache_put(struct pvb_gntcache *c, struct pvb_gnt *g);

void pvb_gntcache_get_stats(const struct pvb_gntcache *c, struct pvb_gntcache_stats *st);

#endif
