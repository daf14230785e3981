/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vbd device type for libpvsplit-back (pvsplit-blkback). */
#ifndef PVSPLIT_BLK_VBD_H
#define PVSPLIT_BLK_VBD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/mapacct.h"

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

/* What the daemon offers; pass it as the backend config's opaque. */
struct vbd_config {
	uint32_t max_queues;	 /* multi-queue-max-queues (1: single queue) */
	uint32_t max_ring_order; /* max-ring-page-order (0: single page) */
	uint32_t max_indirect;	 /* feature-max-indirect-segments (0: none) */
	bool persistent;	 /* feature-persistent */
	uint32_t persistent_max; /* persistent grants kept per queue */
	uint32_t map_min;    /* without persistent grants: map requests this large (0: copy all) */
	uint32_t max_mapped; /* a device's grant mappings, shared by its queues (0: default) */
	struct pvb_map_account *acct; /* the daemon's count of them all (NULL: none) */
	uint32_t resize_ms;	      /* how often the backing store's size is checked (0: never) */
	enum vbd_direct_io direct_io;
	bool loop_file; /* a plain loop device in page-cache mode: its backing file (store.h) */
	const char *state_dir; /* ring journals (a tmpfs: /run/pvsplit/blkback) */
};

void vbd_config_default(struct vbd_config *c);

extern const struct pvb_backend_ops vbd_ops;

#endif
