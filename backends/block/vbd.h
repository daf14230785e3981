/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vbd device type for libpvsplit-back (pvsplit-blkback). */
#ifndef PVSPLIT_BLK_VBD_H
#define PVSPLIT_BLK_VBD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"

/* What the daemon offers; pass it as the backend config's opaque. */
struct vbd_config {
	uint32_t max_queues;	 /* multi-queue-max-queues (1: single queue) */
	uint32_t max_ring_order; /* max-ring-page-order (0: single page) */
	uint32_t max_indirect;	 /* feature-max-indirect-segments (0: none) */
	bool persistent;	 /* feature-persistent */
	uint32_t persistent_max; /* persistent grants kept per queue */
	uint32_t resize_ms;	 /* how often the backing store's size is checked (0: never) */
	const char *state_dir;	 /* ring journals (a tmpfs: /run/pvsplit/blkback) */
};

void vbd_config_default(struct vbd_config *c);

extern const struct pvb_backend_ops vbd_ops;

#endif
