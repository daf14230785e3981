/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What backs a vbd: a regular file (served directly, no loop device) or a
 * block device.  Geometry, capabilities and the few synchronous operations
 * the dataplane needs; reads, writes, flushes and file discards go through
 * io_uring in queue.c.  Returns -errno; prints nothing.
 */
#ifndef PVSPLIT_BLK_STORE_H
#define PVSPLIT_BLK_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct blk_store {
	int fd;	    /* buffered */
	char *file; /* a loop device served through its backing file: that file */
	int dfd;    /* O_DIRECT, -1 when not asked for or the file system refuses it */
	bool bdev;
	bool readonly;
	uint64_t size;	   /* bytes */
	uint32_t logical;  /* sector-size */
	uint32_t physical; /* physical-sector-size */
	uint32_t dio_align;
	bool discard;
	bool secure_discard;
	uint32_t discard_granularity;
	uint32_t discard_alignment;
};

/* blk_store_open() flags */
#define BLK_STORE_DIRECT    1u /* also open it O_DIRECT (dfd) for aligned transfers */
#define BLK_STORE_LOOP_FILE 2u /* a plain loop device: its backing file instead */

/*
 * Open path for a vbd.  logical: the sector size to expose for a regular
 * file (512 or 4096; 0 = 512); a block device always exposes its own.
 * BLK_STORE_DIRECT: also open it O_DIRECT (dfd) for aligned transfers;
 * without it, or where the file system refuses O_DIRECT, everything goes
 * through the page cache (fd).  BLK_STORE_LOOP_FILE, without
 * BLK_STORE_DIRECT: a loop device with no offset, size limit or
 * encryption over a regular file (what Xen's block script makes of a
 * file) is served through that file, the same inode as the loop device
 * reports, and keeps the loop device's geometry: one page cache instead
 * of two, no loop worker, a full file system's error at the write; file
 * names the file then.  Anything else keeps the loop device.  -EINVAL for
 * a bad logical size or a file whose size is not a multiple of it, other
 * -errno from open/ioctl.
 */
int blk_store_open(const char *path, bool readonly, uint32_t logical, unsigned flags,
		   struct blk_store **out);
void blk_store_close(struct blk_store *s);
/* Re-read the size; *changed when it differs.  0 or -errno. */
int blk_store_refresh(struct blk_store *s, bool *changed);
/* Discard of a block device (synchronous ioctl).  0 or -errno. */
int blk_store_discard_bdev(struct blk_store *s, uint64_t off, uint64_t len, bool secure);

#endif
