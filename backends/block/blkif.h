/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The blkif wire formats (xen/io/blkif.h) of the three ABIs a frontend may
 * speak ("protocol": native, x86_32-abi, x86_64-abi), decoded from the
 * backend's private copy of a ring slot into one form, and responses
 * encoded back.  Pure functions: no guest memory, no I/O.
 *
 * The x86_64 and native layouts are the public header's structs; x86_32
 * differs only in alignment (uint64_t aligned to 4), given here as byte
 * offsets as Linux's blkback and QEMU do.
 */
#ifndef PVSPLIT_BLK_BLKIF_H
#define PVSPLIT_BLK_BLKIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>

#ifndef XEN_PAGE_SIZE
#define XEN_PAGE_SIZE (1u << XEN_PAGE_SHIFT)
#endif

enum blk_abi { BLK_ABI_NATIVE = 0, BLK_ABI_X86_32, BLK_ABI_X86_64 };

/* Frontend "protocol" value (NULL: absent) to an ABI; -EINVAL when unknown. */
int blk_abi_from_protocol(const char *protocol);
const char *blk_abi_name(enum blk_abi abi);
/* Bytes of one ring entry (the request/response union), and of a request. */
size_t blk_abi_ent_size(enum blk_abi abi);
size_t blk_abi_req_size(enum blk_abi abi);

/* Segments per indirect page. */
#define BLK_SEGS_PER_INDIRECT_PAGE (XEN_PAGE_SIZE / sizeof(struct blkif_request_segment))

/* A request, decoded.  Nothing here has been validated yet. */
struct blk_req {
	uint8_t operation;    /* as on the ring (BLKIF_OP_INDIRECT stays INDIRECT) */
	uint8_t indirect_op;  /* for INDIRECT */
	uint16_t nr_segments; /* 16 bits for INDIRECT, 8 otherwise */
	uint16_t handle;
	uint64_t id;
	uint64_t sector_number;
	uint8_t discard_flag;
	uint64_t nr_sectors; /* DISCARD */
	uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

void blk_decode(enum blk_abi abi, const void *raw, struct blk_req *req);
void blk_encode_rsp(enum blk_abi abi, void *slot, uint64_t id, uint8_t operation, int16_t status);

/* Frontend side (the user frontend and tests): encode a request. */
void blk_encode_req(enum blk_abi abi, void *slot, const struct blk_req *req);
/* And decode a response. */
void blk_decode_rsp(enum blk_abi abi, const void *slot, uint64_t *id, uint8_t *operation,
		    int16_t *status);

#endif
