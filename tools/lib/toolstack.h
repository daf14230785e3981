/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A minimal toolstack for the sim tier, the benchmarks and the demo: writes
 * and removes devices in xenstore the way libxl 4.17 does (same keys, same
 * permissions, same removal handshake), paths from the xenstore schema.
 * Returns -errno; prints nothing.
 */
#ifndef PVSPLIT_TOOLSTACK_H
#define PVSPLIT_TOOLSTACK_H

#include <stdbool.h>
#include <stdint.h>

struct xs_handle;
struct pvs_schema;

struct ts_vbd {
	uint32_t backend_domid;
	uint32_t domid;
	uint32_t devid;	    /* e.g. 51712 for xvda */
	const char *params; /* backing file or block device */
	const char *script; /* hotplug script, NULL: none (the backend opens params) */
	bool readonly;
	bool cdrom;
	uint32_t sector_size;	    /* pvsplit-sector-size for files, 0: default */
	const char *discard_enable; /* "0" or "1" (xl's no-discard/discard), NULL: not written */
	bool direct_io_safe;	    /* xl's direct-io-safe: direct-io-safe = 1 */
};

/* libxl's device_disk_add(): backend and frontend directories, state 1. */
int ts_vbd_add(struct xs_handle *xs, const struct pvs_schema *s, const struct ts_vbd *v);
/*
 * libxl's removal: online=0 and state=Closing in the backend (in one
 * transaction), wait up to
 * timeout_ms for the backend to reach Closed, then remove both directories.
 * Returns 0, or -ETIMEDOUT (the directories are removed anyway, as libxl does).
 */
int ts_vbd_remove(struct xs_handle *xs, const struct pvs_schema *s, uint32_t backend_domid,
		  uint32_t domid, uint32_t devid, unsigned timeout_ms);
/*
 * A console as libxl 4.17 writes it: devid 0 is the primary console
 * (/local/domain/<domid>/console with the builder's ring-ref and port, and
 * /local/domain/<domid>/name); devid >= 1 a secondary console or channel
 * (device/console/<devid>, with name when given; the guest writes its ring).
 * type: "xenconsoled" or "ioemu".
 */
int ts_console_add(struct xs_handle *xs, const struct pvs_schema *s, uint32_t domid, uint32_t devid,
		   const char *guest_name, const char *channel, const char *type, uint64_t ring_ref,
		   uint32_t port);
/* Remove a console's directories (the domain is gone, or the channel detached). */
int ts_console_remove(struct xs_handle *xs, const struct pvs_schema *s, uint32_t domid,
		      uint32_t devid);

/* Read a backend or frontend key of a vbd: malloc'd value or NULL. */
char *ts_vbd_read(struct xs_handle *xs, const struct pvs_schema *s, bool backend,
		  uint32_t backend_domid, uint32_t domid, uint32_t devid, const char *key);
/* Wait until a backend key equals value: 0 or -ETIMEDOUT. */
int ts_vbd_wait(struct xs_handle *xs, const struct pvs_schema *s, uint32_t backend_domid,
		uint32_t domid, uint32_t devid, const char *key, const char *value,
		unsigned timeout_ms);

#endif
