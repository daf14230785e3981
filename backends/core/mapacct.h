/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pvb_map_account: the grant mappings one daemon holds for guests' data
 * (persistent caches, pages mapped for single requests), counted against a
 * limit.  Dom0's mappings all come from one table in Xen (its maptrack:
 * 262,144 with Xen 4.17's default gnttab_max_maptrack_frames), shared by
 * every backend and every guest dom0 serves: past the limit a cache stops
 * growing and a request is served another way (grant copy), so guests with
 * many devices, or hostile ones filling their caches, cannot use it up; an
 * idle device's cache gives its stale entries to the others.
 * Owned by the daemon, shared by its devices; one event loop, no locking.
 * A NULL account counts nothing and refuses nothing.
 */
#ifndef PVSPLIT_BACK_MAPACCT_H
#define PVSPLIT_BACK_MAPACCT_H

#include <stdbool.h>
#include <stdint.h>

struct pvb_gntcache;

struct pvb_map_account {
	uint64_t limit; /* pages; 0: no limit */
	uint64_t used;	/* mapped now */
	uint64_t peak;	/* most mapped at once */
	/* The persistent caches counting here (gntcache.c keeps the list): at
	 * the limit, an entry idle for a second in any of them makes room. */
	struct pvb_gntcache *caches;
};

/* Take n pages: true, or false (nothing taken) when that would pass the limit. */
static inline bool pvb_map_take(struct pvb_map_account *a, uint64_t n)
{
	if (!a)
		return true;
	if (a->limit && a->used + n > a->limit)
		return false;
	a->used += n;
	if (a->used > a->peak)
		a->peak = a->used;
	return true;
}

/* Give back n pages taken. */
static inline void pvb_map_give(struct pvb_map_account *a, uint64_t n)
{
	if (a)
		a->used -= n < a->used ? n : a->used;
}

#endif
