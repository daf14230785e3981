/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vbd device type for libpvsplit-back (pvsplit-blkback). */
#ifndef PVSPLIT_BLK_VBD_H
#define PVSPLIT_BLK_VBD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"

/*
 * When the backing store is read and written with O_DIRECT (aligned
 * transfers) rather than through dom0's page cache.  blkif.h: a backend may
 * use O_DIRECT only where the toolstack writes direct-io-safe = 1 (xl's
 * direct-io-safe disk option), because of the O_DIRECT memory lifetime bug
 * with network storage; QEMU's qdisk follows the same rule.
 */
enum vbd_direct_io {
	VBD_DIRECT_SAFE,   /* where direct-io-safe = 1 (the default) */
	VBD_DIRECT_NEVER,  /* always the page cache */
	VBD_DIRECT_ALWAYS, /* the operator vouches for every store */
};

/*
 * A daemon's bound on its devices' grant mappings in dom0 (pages, rings
 * aside).  Xen gives dom0 a fixed number of them (its maptrack: 262,144 with
 * Xen's default gnttab_max_maptrack_frames, 1024), shared by every backend
 * and every guest dom0 serves.  A device reserves what it may hold
 * (blk_dp_mapping_bound()) when it connects and gives it back when it
 * disconnects.  One that does not fit gets a smaller share (a lower
 * max_mapped) or, when even the smallest does not fit, is served by grant
 * copy: its frontend is told at connection that persistent grants are off.
 * A device a restarted daemon takes over keeps what its frontend negotiated,
 * counted even beyond the limit.  Owned by the daemon, shared by its
 * devices (one event loop: no locking).
 */
struct vbd_map_budget {
	uint64_t limit;	   /* 0: no bound */
	uint64_t reserved; /* by connected devices */
	uint64_t peak;	   /* most reserved at once */
	uint64_t reduced;  /* connections given a smaller share than they asked */
	uint64_t copied;   /* connections served by grant copy for want of room */
};

/*
 * No bound by default: a reservation is a device's worst case (the segments
 * the daemon offers, 256, where Linux's blkfront uses 32), so a bound of
 * half dom0's maptrack would leave a host's sixth disk to grant copy.
 */
#define VBD_MAP_BUDGET_DEFAULT 0u

/* What the daemon offers; pass it as the backend config's opaque. */
struct vbd_config {
	uint32_t max_queues;	 /* multi-queue-max-queues (1: single queue) */
	uint32_t max_ring_order; /* max-ring-page-order (0: single page) */
	uint32_t max_indirect;	 /* feature-max-indirect-segments (0: none) */
	bool persistent;	 /* feature-persistent */
	uint32_t persistent_max; /* persistent grants kept per queue */
	uint32_t map_min;    /* without persistent grants: map requests this large (0: copy all) */
	uint32_t max_mapped; /* a device's grant mappings, shared by its queues (0: default) */
	struct vbd_map_budget *budget; /* the daemon's bound on them all (NULL: none) */
	uint32_t resize_ms; /* how often the backing store's size is checked (0: never) */
	enum vbd_direct_io direct_io;
	bool loop_file; /* a plain loop device in page-cache mode: its backing file (store.h) */
	const char *state_dir; /* ring journals (a tmpfs: /run/pvsplit/blkback) */
};

void vbd_config_default(struct vbd_config *c);

extern const struct pvb_backend_ops vbd_ops;

#endif
