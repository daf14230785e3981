/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvsplit-blkfront: the module's private structures, shared by main.c
 * (module, xenbus state machine, gendisk) and io.c (rings, grants, blk-mq).
 */
#ifndef PVSPLIT_BLKFRONT_H
#define PVSPLIT_BLKFRONT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <xen/grant_table.h>
#include <xen/xenbus.h>

#include "core.h"

#define PVB_DRV_NAME	"pvsplit-blkfront"

/* One granted page of a ring's pool; all data goes through these. */
struct pvb_gnt {
	struct list_head node;
	struct page *page;
	grant_ref_t gref;	/* INVALID_GRANT_REF: not granted now */
};

/* What a ring slot (shadow id) holds besides the core's shadow entry. */
struct pvb_slot {
	struct request *rq;
	struct pvb_gnt **gnts;	/* nsegs data pages, then nind indirect */
};

/* Per block request (blk-mq pdu). */
struct pvb_rq {
	blk_status_t status;
	u16 parts;		/* ring requests still out */
	bool collected;		/* taken by a teardown */
	bool requeue;		/* send again when all parts are back */
};

struct pvb_info;

/*
 * One shared ring = one hardware queue.  The ring pages and the event
 * channel are new at each handshake; the pool pages and the tables are
 * kept across reconnections (a reconnection allocates only what changed
 * size), and freed when the device is closed for good.
 */
struct pvb_rinfo {
	spinlock_t lock;	/* everything below */
	struct pvb_info *info;
	unsigned int index;
	char irq_name[32];
	struct blkif_front_ring ring;
	unsigned int ring_pages;
	grant_ref_t ring_ref[XENBUS_MAX_RING_GRANTS];
	evtchn_port_t evtchn;
	int irq;
	unsigned int gen;	/* the connection (pvb_info.gen) it belongs to */
	bool alive;		/* taking requests and responses */
	bool broken;		/* the backend broke the protocol */
	struct work_struct restart_work;
	struct gnttab_free_callback callback;

	/* the pool: granted entries first, ungranted at the tail */
	struct list_head free_gnts;
	unsigned int nfree, nfree_granted, ntotal;
	/*
	 * entries the backend did not release: tried again at the next
	 * connection, ended (page freed once unmapped) when given up
	 */
	struct list_head held_gnts;

	struct pvb_ring core;
	struct pvb_shadow *sh;
	struct pvb_slot *slots;
	struct pvb_gnt **slot_gnts;
	u32 nsh, nslots, nslot_gnts, ngrefs;	/* allocated entries */

	/* scratch for building one part (under lock) */
	grant_ref_t *grefs;
	grant_ref_t igrefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment *ipages[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

enum pvb_state {
	PVB_DISCONNECTED,	/* no rings: requests wait */
	PVB_CONNECTED,
	PVB_BROKEN,		/* protocol error: requests fail */
	PVB_CLOSED,		/* closed for good: requests fail */
};

enum pvb_teardown {
	PVB_REQUEUE,		/* in-flight requests go again after reconnect */
	PVB_FAIL_BROKEN,	/* ...fail, the device is broken */
	PVB_FAIL_CLOSED,	/* ...fail, the device is closed */
};

struct pvb_info {
	struct mutex mutex;	/* state changes (xenbus, works, remove) */
	struct xenbus_device *xbdev;
	char name[DISK_NAME_LEN];
	u32 vdevice;
	u16 handle;
	struct pvb_disk_id id;
	struct list_head minors;	/* in the reserved minor ranges */

	struct gendisk *gd;
	struct blk_mq_tag_set tag_set;
	bool ready;

	/* written with the queue quiesced (or no disk yet) */
	enum pvb_state state;
	struct pvb_conn conn;
	struct pvb_geometry geo;
	u32 vdisk_info;

	struct pvb_params params;	/* as at the last handshake */
	/*
	 * rinfo_cap entries, kept until remove (reallocated only before the
	 * disk exists); nr_rings of them in use, 0 when disconnected
	 */
	struct pvb_rinfo *rinfo;
	unsigned int rinfo_cap;
	unsigned int nr_rings;
	unsigned int ring_order, ring_entries;
	unsigned int per_part;		/* grants one ring request may use */

	bool resetting;		/* Closed on purpose, to reconnect */
	unsigned int resets;
	unsigned long reset_window;
	bool closing;		/* close_work drains, then closes */
	bool dead;		/* blk_mark_disk_dead() done */

	unsigned int gen;	/* connections so far (pvb_rings_go) */
	unsigned int broken_gen;	/* the connection a ring broke in */

	wait_queue_head_t drain_wq;
	struct work_struct broken_work;
	struct work_struct close_work;
	struct delayed_work retry_work;	/* out of memory: connect again */
	struct work_struct limits_work;
	struct delayed_work purge_work;
	unsigned long drop;	/* PVB_DROP_* bits from the interrupt */
};

#define PVB_DROP_FLUSH		0
#define PVB_DROP_DISCARD	1

#define pvb_err(info, fmt, ...)						\
	dev_err(&(info)->xbdev->dev, "%s (%s): " fmt,			\
		(info)->xbdev->nodename, (info)->name, ##__VA_ARGS__)
#define pvb_warn(info, fmt, ...)					\
	dev_warn(&(info)->xbdev->dev, "%s (%s): " fmt,			\
		 (info)->xbdev->nodename, (info)->name, ##__VA_ARGS__)
#define pvb_info(info, fmt, ...)					\
	dev_info(&(info)->xbdev->dev, "%s (%s): " fmt,			\
		 (info)->xbdev->nodename, (info)->name, ##__VA_ARGS__)
#define pvb_err_rl(info, fmt, ...)					\
	dev_err_ratelimited(&(info)->xbdev->dev, "%s (%s): " fmt,	\
			    (info)->xbdev->nodename, (info)->name,	\
			    ##__VA_ARGS__)

/* io.c */
extern const struct blk_mq_ops pvb_mq_ops;
int pvb_rings_setup(struct pvb_info *info, unsigned int nr);
int pvb_rings_connect(struct pvb_info *info);
void pvb_rings_go(struct pvb_info *info);
void pvb_teardown(struct pvb_info *info, enum pvb_teardown how);
void pvb_rings_free(struct pvb_info *info);
bool pvb_idle(struct pvb_info *info);
void pvb_apply_limits(struct pvb_info *info);
void pvb_limits_work(struct work_struct *work);
void pvb_purge_work(struct work_struct *work);
void pvb_purge_start(struct pvb_info *info);

#endif /* PVSPLIT_BLKFRONT_H */
