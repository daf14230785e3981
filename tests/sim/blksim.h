/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sim tier's pvsplit-blkback tests: what test_blk_sim.c (the features,
 * the data path, main) and test_blk_sim_guests.c (hostile frontends, the
 * device's life: hotplug, reconnects, restarts, --map-min) share.
 */
#ifndef PVSPLIT_TEST_BLKSIM_H
#define PVSPLIT_TEST_BLKSIM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "blkenv.h"

extern struct blkenv E;
extern bool have_loop;
extern uint32_t next_devid; /* the next device's virtual-device number */
extern const char *const resize_fast[];

#define DISK		 (8u << 20)
#define XENBUS_CONNECTED "4"
#define XENBUS_CLOSED	 "6"

struct dev {
	uint32_t domid, devid;
	char file[256];
	char loop[64]; /* when backed by a loop device */
};

/* Run a shell command; its first line of output in out (if not NULL).  Its exit status, or -1. */
int sh(const char *cmd, char *out, size_t len);
/* What `pvsplit stats ARGS --socket <the daemon's>` prints (NULL if it failed); free it. */
char *pvsplit_stats(const char *args);

/* bdev: 0 a file, LOOP_LIMITED a loop device with a size limit, LOOP_PLAIN a plain one. */
#define LOOP_LIMITED 1
#define LOOP_PLAIN   2

/* A device for domid, backed by a new zeroed file (or a loop device over it). */
void dev_add(struct dev *d, uint32_t domid, uint64_t size, bool readonly, uint32_t sector,
	     int bdev);
/* The same, discard_enable, script and direct_io_safe taken from x when not NULL. */
void dev_add_ex(struct dev *d, uint32_t domid, uint64_t size, bool readonly, uint32_t sector,
		int bdev, const struct ts_vbd *x);
void dev_remove(struct dev *d);
void opts_for(struct pvf_blk_opts *o, const struct dev *d);
/* A counter of a device's stats ("queues.0.errors.bad_range"; "queues.*." sums the queues). */
uint64_t stat_u64(json_object *dev, const char *path);
/* A counter of device (domid, devid), summed over its queues. */
uint64_t dev_counter(uint32_t domid, uint32_t devid, const char *path);

/* An integrity run: patterns written and read back at depth qd, sizes up to io_max. */
struct integ {
	uint64_t seed;
	size_t io_max;
	uint32_t qd;
};

int integrity(struct pvf_blk *b, void *arg);

/* One I/O slot of pass(). */
struct iot {
	struct pvf_blk *b;
	uint8_t *buf;
	const uint8_t *want;
	uint64_t off;
	size_t len;
	bool busy, reading;
	int *errors;
};

/*
 * Write (or read back and compare: reading) want[base, end) at depth qd
 * through slots, in I/Os of up to io_max bytes whose sizes come from seed.
 * 0, or non-zero; mismatches counted in *errors.
 */
int pass(struct pvf_blk *b, struct iot *slots, uint32_t qd, const uint8_t *want, uint64_t base,
	 uint64_t end, size_t io_max, uint64_t seed, bool reading, int *errors);

/* test_blk_sim_guests.c */
void test_hostile(void);
void test_hostile_persistent_x86_32(void);
void test_producer_overflow(void);
void test_hotplug(void);
void test_frontend_gone(void);
void test_reconnect(void);
void test_readd_same_path(void);
void test_map_mode(void);
void test_mapping_bound(void);

/* test_blk_sim_restart.c */
void test_daemon_restart(void);
void test_restart_notifies(void);
void test_redo_in_order(void);
void test_barrier_after_inline(void);
void test_sigterm_handover(void);

#endif
