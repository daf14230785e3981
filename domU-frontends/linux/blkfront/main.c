// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvsplit-blkfront: a Xen virtual block device frontend (xenbus "vbd").
 *
 * This file: module parameters, the xenbus handshake and state machine,
 * the gendisk.  The data path is in io.c, the protocol rules in core.c.
 *
 * Besides what Linux's xen-blkfront does, the device survives its backend
 * going away and coming back (a backend daemon restarting, a re-handshake
 * by the toolstack): when the backend goes Closing or Closed while it is
 * still "online", or starts over in InitWait, the rings are taken down,
 * the requests in flight are put back on the block queue, the frontend
 * goes Closed and then Initialising, and a new handshake starts; requests
 * wait meanwhile.  A backend that is switched offline (xl block-detach)
 * closes the device as xen-blkfront does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdrom.h>
#include <linux/hdreg.h>
#include <linux/jiffies.h>
#include <linux/major.h>
#include <linux/module.h>
#include <linux/slab.h>

#include <xen/xen.h>
#include <xen/platform_pci.h>
#include <xen/interface/io/protocols.h>

#include "blkfront.h"

static unsigned int max_queues = 4;
module_param(max_queues, uint, 0444);
MODULE_PARM_DESC(max_queues,
		 "Maximum number of hardware queues (rings) per virtual disk (default 4, at most the number of CPUs)");

static unsigned int max_indirect_segments = 32;
module_param(max_indirect_segments, uint, 0444);
MODULE_PARM_DESC(max_indirect_segments,
		 "Maximum segments in an indirect request (default 32, at most 256; 11 or less: no indirect requests)");

static unsigned int max_ring_page_order;
module_param(max_ring_page_order, uint, 0444);
MODULE_PARM_DESC(max_ring_page_order,
		 "Maximum order of pages of a shared ring (default 0, at most 4)");

static bool feature_persistent = true;
module_param(feature_persistent, bool, 0644);
MODULE_PARM_DESC(feature_persistent,
		 "Offer persistent grants to the backend (default on; read at each connection)");

#define PVB_DRAIN_TIMEOUT	(10 * HZ)
#define PVB_RETRY_DELAY		HZ	/* out of memory at a reconnection */
#define PVB_RESET_WINDOW	(60 * HZ)
#define PVB_MAX_RESETS		10

/* ---- minors ---- */

static DEFINE_MUTEX(pvb_minors_lock);
static LIST_HEAD(pvb_minors_list);

static int pvb_reserve_minors(struct pvb_info *info)
{
	struct pvb_info *o;
	u32 start = info->id.minor, end = start + info->id.nr_minors;
	int err = 0;

	mutex_lock(&pvb_minors_lock);
	list_for_each_entry(o, &pvb_minors_list, minors) {
		if (start < o->id.minor + o->id.nr_minors && o->id.minor < end) {
			err = -EBUSY;
			break;
		}
	}
	if (!err)
		list_add(&info->minors, &pvb_minors_list);
	mutex_unlock(&pvb_minors_lock);
	return err;
}

static void pvb_release_minors(struct pvb_info *info)
{
	mutex_lock(&pvb_minors_lock);
	list_del_init(&info->minors);
	mutex_unlock(&pvb_minors_lock);
}

/* ---- block device operations ---- */

/* Serialises private_data against remove(); the disk may outlive info. */
static DEFINE_MUTEX(pvb_fops_lock);

static int pvb_getgeo(struct block_device *bdev, struct hd_geometry *hg)
{
	sector_t nsect = get_capacity(bdev->bd_disk);
	sector_t cylinders = nsect;

	/* no real geometry: values consistent with the size, as xen-blkfront */
	hg->heads = 0xff;
	hg->sectors = 0x3f;
	sector_div(cylinders, hg->heads * hg->sectors);
	hg->cylinders = cylinders;
	if ((sector_t)(hg->cylinders + 1) * hg->heads * hg->sectors < nsect)
		hg->cylinders = 0xffff;
	return 0;
}

static int pvb_ioctl(struct block_device *bdev, fmode_t mode,
		     unsigned int cmd, unsigned long arg)
{
	struct pvb_info *info;
	int err = -EINVAL;
	size_t i;

	switch (cmd) {
	case CDROMMULTISESSION:
		for (i = 0; i < sizeof(struct cdrom_multisession); i++)
			if (put_user(0, (char __user *)(arg + i)))
				return -EFAULT;
		return 0;
	case CDROM_GET_CAPABILITY:
		mutex_lock(&pvb_fops_lock);
		info = bdev->bd_disk->private_data;
		if (info && (info->vdisk_info & VDISK_CDROM))
			err = 0;
		mutex_unlock(&pvb_fops_lock);
		return err;
	default:
		return -EINVAL;
	}
}

static const struct block_device_operations pvb_fops = {
	.owner = THIS_MODULE,
	.getgeo = pvb_getgeo,
	.ioctl = pvb_ioctl,
	.compat_ioctl = blkdev_compat_ptr_ioctl,
};

/* ---- the handshake ---- */

static bool pvb_backend_online(struct pvb_info *info)
{
	return xenbus_read_unsigned(info->xbdev->otherend, "online", 0) == 1;
}

static int pvb_write_ring(struct xenbus_transaction xbt, struct pvb_info *info,
			  struct pvb_rinfo *r, const char *dir)
{
	unsigned int i, pages = 1U << info->ring_order;
	char key[16];
	int err;

	for (i = 0; i < pages; i++) {
		if (info->ring_order)
			snprintf(key, sizeof(key), "ring-ref%u", i);
		else
			snprintf(key, sizeof(key), "ring-ref");
		err = xenbus_printf(xbt, dir, key, "%u", r->ring_ref[i]);
		if (err)
			return err;
	}
	return xenbus_printf(xbt, dir, "event-channel", "%u", r->evtchn);
}

/* Keys an earlier handshake may have left with another shape. */
static void pvb_clear_keys(struct xenbus_transaction xbt, struct pvb_info *info)
{
	const char *dir = info->xbdev->nodename;
	unsigned int i;
	char key[16];

	xenbus_rm(xbt, dir, "ring-page-order");
	xenbus_rm(xbt, dir, "multi-queue-num-queues");
	xenbus_rm(xbt, dir, "ring-ref");
	xenbus_rm(xbt, dir, "event-channel");
	for (i = 0; i < XENBUS_MAX_RING_GRANTS; i++) {
		snprintf(key, sizeof(key), "ring-ref%u", i);
		xenbus_rm(xbt, dir, key);
	}
	for (i = 0; i < max_queues; i++) {
		snprintf(key, sizeof(key), "queue-%u", i);
		xenbus_rm(xbt, dir, key);
	}
}

static int pvb_write_keys(struct pvb_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	struct xenbus_transaction xbt;
	const char *what;
	char *path = NULL;
	unsigned int i;
	int err;

again:
	err = xenbus_transaction_start(&xbt);
	if (err) {
		xenbus_dev_fatal(dev, err, "starting a transaction");
		return err;
	}
	pvb_clear_keys(xbt, info);
	what = "ring-page-order";
	if (info->ring_order) {
		err = xenbus_printf(xbt, dev->nodename, "ring-page-order", "%u",
				    info->ring_order);
		if (err)
			goto abort;
	}
	what = "ring references";
	if (info->nr_rings == 1) {
		err = pvb_write_ring(xbt, info, &info->rinfo[0], dev->nodename);
		if (err)
			goto abort;
	} else {
		err = xenbus_printf(xbt, dev->nodename, "multi-queue-num-queues",
				    "%u", info->nr_rings);
		if (err)
			goto abort;
		for (i = 0; i < info->nr_rings; i++) {
			path = kasprintf(GFP_KERNEL, "%s/queue-%u",
					 dev->nodename, i);
			err = path ? pvb_write_ring(xbt, info, &info->rinfo[i],
						    path) : -ENOMEM;
			kfree(path);
			if (err)
				goto abort;
		}
	}
	what = "protocol";
	err = xenbus_printf(xbt, dev->nodename, "protocol", "%s",
			    XEN_IO_PROTO_ABI_NATIVE);
	if (err)
		goto abort;
	what = "feature-persistent";
	err = xenbus_printf(xbt, dev->nodename, "feature-persistent", "%u",
			    info->params.persistent ? 1 : 0);
	if (err)
		goto abort;
	err = xenbus_transaction_end(xbt, 0);
	if (err == -EAGAIN)
		goto again;
	if (err)
		xenbus_dev_fatal(dev, err, "completing the transaction");
	return err;

abort:
	xenbus_transaction_end(xbt, 1);
	xenbus_dev_fatal(dev, err, "writing %s", what);
	return err;
}

/*
 * Out of memory while reconnecting: the requests wait (the state stays
 * PVB_DISCONNECTED) and retry_work tries again.
 */
static void pvb_retry_later(struct pvb_info *info, const char *what)
{
	pvb_warn(info, "out of memory %s: trying again in %u ms", what,
		 jiffies_to_msecs(PVB_RETRY_DELAY));
	mod_delayed_work(system_wq, &info->retry_work, PVB_RETRY_DELAY);
}

/* The backend waits in InitWait: rings, event channels, keys, Initialised. */
static int pvb_talk(struct pvb_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	const char *be = dev->otherend;
	unsigned int nr;
	int err;

	info->params.max_queues = max_queues;
	info->params.max_indirect_segments = max_indirect_segments;
	info->params.max_ring_page_order = max_ring_page_order;
	info->params.persistent = READ_ONCE(feature_persistent);
	info->ring_order =
		pvb_ring_order(max_ring_page_order,
			       xenbus_read_unsigned(be, "max-ring-page-order", 0));
	info->ring_entries = pvb_ring_entries(info->ring_order);
	nr = pvb_nr_queues(max_queues,
			   xenbus_read_unsigned(be, "multi-queue-max-queues", 1));
	/* the disk keeps its hardware queues: extra ones share rings */
	if (info->gd)
		nr = min(nr, info->tag_set.nr_hw_queues);

	err = pvb_rings_setup(info, nr);
	if (err == -ENOMEM && info->gd) {
		/* the disk waits: no I/O error for want of memory */
		pvb_retry_later(info, "setting up the rings");
		goto fail;
	}
	if (err) {
		xenbus_dev_fatal(dev, err, "setting up %u ring(s)", nr);
		goto fail;
	}
	err = pvb_write_keys(info);
	if (err)
		goto fail;
	err = xenbus_switch_state(dev, XenbusStateInitialised);
	if (err)
		goto fail;
	return 0;
fail:
	pvb_teardown(info, PVB_REQUEUE);
	return err;
}

static int pvb_read_backend(struct pvb_info *info, struct pvb_backend *be)
{
	const char *dir = info->xbdev->otherend;
	unsigned long long sectors;
	unsigned int vinfo, ss;
	char *mode;
	int err;

	memset(be, 0, sizeof(*be));
	err = xenbus_gather(XBT_NIL, dir, "sectors", "%llu", &sectors,
			    "info", "%u", &vinfo, "sector-size", "%u", &ss, NULL);
	if (err) {
		xenbus_dev_fatal(info->xbdev, err,
				 "reading sectors, info, sector-size at %s",
				 dir);
		return err;
	}
	be->sectors = sectors;
	be->info = vinfo;
	be->sector_size = ss;
	be->physical_sector_size =
		xenbus_read_unsigned(dir, "physical-sector-size", 0);
	be->max_queues = xenbus_read_unsigned(dir, "multi-queue-max-queues", 1);
	be->max_ring_page_order =
		xenbus_read_unsigned(dir, "max-ring-page-order", 0);
	be->max_indirect_segments =
		xenbus_read_unsigned(dir, "feature-max-indirect-segments", 0);
	be->persistent = xenbus_read_unsigned(dir, "feature-persistent", 0);
	be->flush_cache = xenbus_read_unsigned(dir, "feature-flush-cache", 0);
	be->barrier = xenbus_read_unsigned(dir, "feature-barrier", 0);
	be->discard = xenbus_read_unsigned(dir, "feature-discard", 0);
	be->discard_secure = xenbus_read_unsigned(dir, "discard-secure", 0);
	be->discard_granularity =
		xenbus_read_unsigned(dir, "discard-granularity", 0);
	be->discard_alignment =
		xenbus_read_unsigned(dir, "discard-alignment", 0);
	mode = xenbus_read(XBT_NIL, dir, "mode", NULL);
	if (!IS_ERR(mode)) {
		be->mode_ro = mode[0] == 'r';
		kfree(mode);
	}
	return 0;
}

/* sectors, sector sizes and features: 0 or -errno (device failed) */
static int pvb_gather(struct pvb_info *info, struct pvb_geometry *geo,
		      struct pvb_conn *conn)
{
	struct pvb_backend be;
	int err;

	err = pvb_read_backend(info, &be);
	if (err)
		return err;
	/* "sectors" in 512-byte units: no feature-large-sector-size */
	err = pvb_geometry(&be, pvb_wire_unit(false, be.sector_size), geo);
	if (err) {
		xenbus_dev_fatal(info->xbdev, err,
				 "unusable geometry: sector-size %u, sectors %llu",
				 be.sector_size,
				 (unsigned long long)be.sectors);
		return err;
	}
	if (geo->physical_fixed)
		pvb_warn(info, "physical-sector-size %u is not a multiple of sector-size %u: using %u",
			 be.physical_sector_size, be.sector_size,
			 geo->physical);
	pvb_features(&be, &info->params, geo, conn);
	conn->unit = pvb_wire_unit(false, be.sector_size);
	conn->handle = info->handle;
	info->vdisk_info = be.info;
	return 0;
}

static int pvb_alloc_disk(struct pvb_info *info)
{
	struct gendisk *gd;
	int err;

	memset(&info->tag_set, 0, sizeof(info->tag_set));
	info->tag_set.ops = &pvb_mq_ops;
	info->tag_set.nr_hw_queues = info->nr_rings;
	info->tag_set.queue_depth = info->ring_entries;
	info->tag_set.numa_node = NUMA_NO_NODE;
	info->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	info->tag_set.cmd_size = sizeof(struct pvb_rq);
	info->tag_set.driver_data = info;
	err = blk_mq_alloc_tag_set(&info->tag_set);
	if (err)
		return err;
	gd = blk_mq_alloc_disk(&info->tag_set, info);
	if (IS_ERR(gd)) {
		blk_mq_free_tag_set(&info->tag_set);
		return PTR_ERR(gd);
	}
	strscpy(gd->disk_name, info->name, DISK_NAME_LEN);
	gd->major = XENVBD_MAJOR;
	gd->first_minor = info->id.minor;
	gd->minors = info->id.nr_minors;
	gd->fops = &pvb_fops;
	gd->private_data = info;
	if (info->vdisk_info & VDISK_REMOVABLE)
		gd->flags |= GENHD_FL_REMOVABLE;
	set_capacity(gd, info->geo.capacity);
	info->gd = gd;
	pvb_apply_limits(info);
	return 0;
}

static void pvb_log_features(struct pvb_info *info)
{
	const struct pvb_conn *c = &info->conn;

	pvb_info(info, "%llu sectors, %u/%u-byte blocks%s; %u queue(s), %u-page rings; %s; persistent grants %s; indirect %u; discard %s",
		 (unsigned long long)info->geo.capacity, info->geo.logical,
		 info->geo.physical, c->readonly ? ", read-only" : "",
		 info->nr_rings, 1U << info->ring_order,
		 c->barrier ? "barrier" : c->flush ? "flush" : "no flush",
		 c->persistent ? "on" : "off", c->indirect_segments,
		 c->secure_discard ? "on (secure)" : c->discard ? "on" : "off");
}

/*
 * The backend is Connected and we are Initialised: first time or again.
 * True when the disk is new: the caller adds it without info->mutex.
 */
static bool pvb_connect(struct pvb_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	struct pvb_geometry geo;
	struct pvb_conn conn;
	bool first = !info->gd;
	int err;

	err = pvb_gather(info, &geo, &conn);
	if (err)
		goto fail;
	if (!first && geo.logical != info->geo.logical) {
		err = -EINVAL;
		xenbus_dev_fatal(dev, err,
				 "sector-size changed from %u to %u across a reconnection",
				 info->geo.logical, geo.logical);
		goto fail;
	}
	info->per_part = pvb_segs_per_request(&conn);
	if (conn.indirect_segments)
		info->per_part += PVB_INDIRECT_PAGES(conn.indirect_segments);
	clear_bit(PVB_DROP_FLUSH, &info->drop);
	clear_bit(PVB_DROP_DISCARD, &info->drop);

	if (first) {
		info->conn = conn;
		info->geo = geo;
		err = pvb_rings_connect(info);
		if (err) {
			xenbus_dev_fatal(dev, err, "allocating grant pools");
			goto fail;
		}
		err = pvb_alloc_disk(info);
		if (err) {
			xenbus_dev_fatal(dev, err, "allocating the disk");
			goto fail;
		}
		info->state = PVB_CONNECTED;
		pvb_rings_go(info);
		xenbus_switch_state(dev, XenbusStateConnected);
		pvb_log_features(info);
		return true;
	}

	/* again: same disk, maybe other features */
	blk_mq_quiesce_queue(info->gd->queue);
	info->conn = conn;
	info->geo.physical = geo.physical;
	err = pvb_rings_connect(info);
	if (err) {
		blk_mq_unquiesce_queue(info->gd->queue);
		if (err == -ENOMEM) {
			/* the rings stay up, the requests wait */
			pvb_retry_later(info, "filling the grant pools");
			return false;
		}
		xenbus_dev_fatal(dev, err, "allocating grant pools");
		goto fail;
	}
	pvb_apply_limits(info);
	info->state = PVB_CONNECTED;
	pvb_rings_go(info);
	blk_mq_unquiesce_queue(info->gd->queue);
	xenbus_switch_state(dev, XenbusStateConnected);
	pvb_log_features(info);
	pvb_info(info, "reconnected");
	if (geo.capacity != info->geo.capacity) {
		info->geo.capacity = geo.capacity;
		set_capacity_and_notify(info->gd, geo.capacity);
	}
	blk_mq_start_stopped_hw_queues(info->gd->queue, true);
	blk_mq_kick_requeue_list(info->gd->queue);
	pvb_purge_start(info);
	return false;

fail:
	pvb_teardown(info, info->gd ? PVB_FAIL_BROKEN : PVB_FAIL_CLOSED);
	return false;
}

/*
 * After the first connection, without info->mutex: device_add_disk()
 * reads the partition table, and whatever has to end those reads (the
 * broken-ring work, a teardown) may need the mutex.  Only the xenbus
 * watch thread gets here, so no other xenbus event and no remove() runs
 * meanwhile.
 */
static void pvb_add_disk(struct pvb_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	int err;

	err = device_add_disk(&dev->dev, info->gd, NULL);
	mutex_lock(&info->mutex);
	if (err) {
		xenbus_dev_fatal(dev, err, "adding the disk");
		pvb_teardown(info, PVB_FAIL_CLOSED);
		put_disk(info->gd);
		blk_mq_free_tag_set(&info->tag_set);
		info->gd = NULL;
	} else {
		info->ready = true;
		if (info->state == PVB_CONNECTED)
			pvb_purge_start(info);
	}
	mutex_unlock(&info->mutex);
}

/* The backend announced Connected again: a new size, perhaps. */
static void pvb_resize(struct pvb_info *info)
{
	unsigned long long sectors;
	int err;

	if (!info->gd || info->state != PVB_CONNECTED || info->dead)
		return;
	err = xenbus_scanf(XBT_NIL, info->xbdev->otherend, "sectors", "%llu",
			   &sectors);
	if (err != 1)
		return;
	if (sectors == info->geo.capacity)
		return;
	pvb_info(info, "capacity %llu -> %llu sectors",
		 (unsigned long long)info->geo.capacity, sectors);
	info->geo.capacity = sectors;
	set_capacity_and_notify(info->gd, sectors);
	pvb_apply_limits(info);
}

/* No more I/O may be submitted to the disk (once). */
static void pvb_disk_dead(struct pvb_info *info)
{
	if (!info->gd || info->dead)
		return;
	blk_mark_disk_dead(info->gd);
	set_capacity(info->gd, 0);
	info->dead = true;
}

/* Wait (bounded) for the backend to answer what it has. */
static void pvb_drain(struct pvb_info *info)
{
	if (!wait_event_timeout(info->drain_wq, pvb_idle(info),
				PVB_DRAIN_TIMEOUT))
		pvb_warn(info, "requests still in flight after %u s: failing them",
			 PVB_DRAIN_TIMEOUT / HZ);
}

static void pvb_close_finish(struct pvb_info *info)
{
	pvb_teardown(info, PVB_FAIL_CLOSED);
	info->resetting = false;
	info->closing = false;
	xenbus_frontend_closed(info->xbdev);
	pvb_info(info, "closed");
}

/*
 * Closed for good: fail what waits, tell the backend.  Requests in
 * flight get PVB_DRAIN_TIMEOUT to be answered, in close_work: the xenbus
 * watch thread does not wait.
 */
static void pvb_close(struct pvb_info *info)
{
	struct xenbus_device *dev = info->xbdev;

	if (info->closing)
		return;		/* close_work finishes it */
	if (info->state == PVB_CLOSED && dev->state == XenbusStateClosed)
		return;
	pvb_disk_dead(info);
	if (info->state == PVB_CONNECTED && !pvb_idle(info)) {
		info->closing = true;
		schedule_work(&info->close_work);
		return;
	}
	pvb_close_finish(info);
}

static void pvb_close_work(struct work_struct *work)
{
	struct pvb_info *info = container_of(work, struct pvb_info,
					     close_work);

	/* the rings array outlives this work (remove() cancels it first) */
	pvb_drain(info);
	mutex_lock(&info->mutex);
	if (info->closing)
		pvb_close_finish(info);
	mutex_unlock(&info->mutex);
}

/*
 * The backend went away (Closing/Closed while online, or InitWait anew):
 * keep the requests, go Closed, and start over once the backend is Closed.
 */
static void pvb_reset(struct pvb_info *info, enum xenbus_state be)
{
	struct xenbus_device *dev = info->xbdev;

	if (info->closing)
		return;		/* closing anyway */
	if (info->state == PVB_BROKEN || info->state == PVB_CLOSED) {
		pvb_close(info);
		return;
	}
	if (time_after(jiffies, info->reset_window + PVB_RESET_WINDOW)) {
		info->reset_window = jiffies;
		info->resets = 0;
	}
	if (++info->resets > PVB_MAX_RESETS) {
		pvb_err(info, "backend reset %u times in %u s: giving up",
			info->resets - 1, PVB_RESET_WINDOW / HZ);
		xenbus_dev_error(dev, -EIO, "backend keeps resetting");
		pvb_close(info);
		return;
	}
	pvb_warn(info, "backend went %s: reconnecting", xenbus_strstate(be));
	pvb_teardown(info, PVB_REQUEUE);
	info->resetting = true;
	xenbus_switch_state(dev, XenbusStateClosed);
	if (xenbus_read_driver_state(dev->otherend) == XenbusStateClosed) {
		info->resetting = false;
		xenbus_switch_state(dev, XenbusStateInitialising);
	}
}

static void pvb_backend_changed(struct xenbus_device *dev,
				enum xenbus_state be)
{
	struct pvb_info *info = dev_get_drvdata(&dev->dev);
	bool online, add = false;

	dev_dbg(&dev->dev, "backend %s, frontend %s\n", xenbus_strstate(be),
		xenbus_strstate(dev->state));
	mutex_lock(&info->mutex);
	switch (be) {
	case XenbusStateInitWait:
		if (dev->state == XenbusStateClosed && info->resetting) {
			/* a new backend waits already: no event will follow */
			info->resetting = false;
			xenbus_switch_state(dev, XenbusStateInitialising);
		}
		if (dev->state == XenbusStateInitialising)
			pvb_talk(info);
		else if (dev->state == XenbusStateConnected)
			pvb_reset(info, be);	/* restarted from scratch */
		break;
	case XenbusStateConnected:
		if (dev->state == XenbusStateInitialising && pvb_talk(info))
			break;
		if (dev->state == XenbusStateInitialised)
			add = pvb_connect(info);
		else if (dev->state == XenbusStateConnected)
			pvb_resize(info);
		break;
	case XenbusStateClosing:
	case XenbusStateClosed:
		online = pvb_backend_online(info);
		if (!online || info->state == PVB_BROKEN ||
		    info->state == PVB_CLOSED) {
			pvb_close(info);
		} else if (dev->state == XenbusStateClosed) {
			if (be == XenbusStateClosed && info->resetting) {
				info->resetting = false;
				xenbus_switch_state(dev,
						    XenbusStateInitialising);
			}
		} else if (dev->state != XenbusStateInitialising ||
			   be == XenbusStateClosing) {
			pvb_reset(info, be);
		}
		/* Closed while Initialising: the backend answers that */
		break;
	case XenbusStateUnknown:
		/* the backend directory is gone */
		if (dev->state != XenbusStateInitialising)
			pvb_close(info);
		break;
	default:
		break;
	}
	mutex_unlock(&info->mutex);
	if (add)
		pvb_add_disk(info);
}

/* Out of memory at a reconnection: go on from where the handshake is. */
static void pvb_retry_work(struct work_struct *work)
{
	struct pvb_info *info = container_of(to_delayed_work(work),
					     struct pvb_info, retry_work);
	struct xenbus_device *dev = info->xbdev;
	enum xenbus_state be;

	mutex_lock(&info->mutex);
	/* only reconnections are retried: the disk exists */
	if (!info->gd || info->state != PVB_DISCONNECTED || info->closing)
		goto out;
	be = xenbus_read_driver_state(dev->otherend);
	/* anything else: the backend's next state change takes over */
	if (be != XenbusStateInitWait && be != XenbusStateConnected)
		goto out;
	if (dev->state == XenbusStateInitialising && pvb_talk(info))
		goto out;
	if (dev->state == XenbusStateInitialised && be == XenbusStateConnected)
		pvb_connect(info);	/* never a first connection here */
out:
	mutex_unlock(&info->mutex);
}

static void pvb_broken_work(struct work_struct *work)
{
	struct pvb_info *info = container_of(work, struct pvb_info,
					     broken_work);

	mutex_lock(&info->mutex);
	/* a ring of this connection broke, not of one reset since */
	if (info->state == PVB_CONNECTED &&
	    READ_ONCE(info->broken_gen) == info->gen) {
		pvb_teardown(info, PVB_FAIL_BROKEN);
		xenbus_dev_fatal(info->xbdev, -EPROTO,
				 "backend broke the blkif protocol; device disabled");
	}
	mutex_unlock(&info->mutex);
}

/* ---- the xenbus driver ---- */

static int pvb_probe(struct xenbus_device *dev,
		     const struct xenbus_device_id *id)
{
	struct pvb_info *info;
	unsigned int vdevice, handle;
	const char *slash;
	int err;

	err = xenbus_scanf(XBT_NIL, dev->nodename, "virtual-device", "%i",
			   &vdevice);
	if (err != 1) {
		err = xenbus_scanf(XBT_NIL, dev->nodename, "virtual-device-ext",
				   "%i", &vdevice);
		if (err != 1) {
			xenbus_dev_fatal(dev, err < 0 ? err : -EINVAL,
					 "reading virtual-device");
			return err < 0 ? err : -EINVAL;
		}
	}
	if (xen_hvm_domain()) {
		char *type;

		/* as xen-blkfront: no emulated disk numbers, no PV cdrom */
		if (xen_has_pv_and_legacy_disk_devices() &&
		    !(vdevice >> 28) && (vdevice >> 8) != XENVBD_MAJOR)
			return -ENODEV;
		type = xenbus_read(XBT_NIL, dev->nodename, "device-type", NULL);
		if (IS_ERR(type))
			return -ENODEV;
		err = strncmp(type, "cdrom", 5) ? 0 : -ENODEV;
		kfree(type);
		if (err)
			return err;
	}
	slash = strrchr(dev->nodename, '/');
	if (!slash || kstrtouint(slash + 1, 10, &handle) || handle > U16_MAX) {
		xenbus_dev_fatal(dev, -EINVAL, "device id of %s", dev->nodename);
		return -EINVAL;
	}

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	mutex_init(&info->mutex);
	info->xbdev = dev;
	info->vdevice = vdevice;
	info->handle = handle;
	info->state = PVB_DISCONNECTED;
	INIT_LIST_HEAD(&info->minors);
	init_waitqueue_head(&info->drain_wq);
	INIT_WORK(&info->broken_work, pvb_broken_work);
	INIT_WORK(&info->close_work, pvb_close_work);
	INIT_DELAYED_WORK(&info->retry_work, pvb_retry_work);
	INIT_WORK(&info->limits_work, pvb_limits_work);
	INIT_DELAYED_WORK(&info->purge_work, pvb_purge_work);
	info->reset_window = jiffies;
	snprintf(info->name, sizeof(info->name), "vbd-%u", handle);
	err = pvb_vdev_parse(vdevice, &info->id);
	if (!err)
		err = pvb_disk_name(&info->id, info->name, sizeof(info->name));
	if (err) {
		xenbus_dev_fatal(dev, err, "virtual-device %#x is not an xvd, hd or sd number",
				 vdevice);
		goto fail;
	}
	err = pvb_reserve_minors(info);
	if (err) {
		xenbus_dev_fatal(dev, err, "minors %u-%u of %s are in use",
				 info->id.minor,
				 info->id.minor + info->id.nr_minors - 1,
				 info->name);
		goto fail;
	}
	dev_set_drvdata(&dev->dev, info);
	/* bound again after an unbind: say we start over */
	if (dev->state != XenbusStateInitialising)
		xenbus_switch_state(dev, XenbusStateInitialising);
	return 0;
fail:
	kfree(info);
	return err;
}

static void pvb_remove(struct xenbus_device *dev)
{
	struct pvb_info *info = dev_get_drvdata(&dev->dev);

	dev_dbg(&dev->dev, "removing %s\n", dev->nodename);
	/* no xenbus event comes any more; a drain under way finishes */
	cancel_delayed_work_sync(&info->retry_work);
	cancel_work_sync(&info->close_work);

	/*
	 * Nothing may wait for a backend that does not answer: the disk
	 * takes no new I/O, what is in flight gets a bounded drain, the rest
	 * fails, all before del_gendisk() (which waits for every request).
	 */
	mutex_lock(&info->mutex);
	info->closing = false;
	pvb_disk_dead(info);
	if (info->state == PVB_CONNECTED)
		pvb_drain(info);
	pvb_teardown(info, PVB_FAIL_CLOSED);
	mutex_unlock(&info->mutex);
	cancel_work_sync(&info->broken_work);
	cancel_work_sync(&info->limits_work);
	cancel_delayed_work_sync(&info->purge_work);

	/* from here on nothing touches the queue */
	if (info->gd)
		del_gendisk(info->gd);
	pvb_release_minors(info);
	if (info->gd) {
		mutex_lock(&pvb_fops_lock);
		info->gd->private_data = NULL;
		mutex_unlock(&pvb_fops_lock);
		put_disk(info->gd);
		blk_mq_free_tag_set(&info->tag_set);
	}
	pvb_rings_free(info);
	kfree(info);
}

/* After a save/restore: a new backend, new grants. */
static int pvb_resume(struct xenbus_device *dev)
{
	struct pvb_info *info = dev_get_drvdata(&dev->dev);
	int err;

	mutex_lock(&info->mutex);
	if (info->state == PVB_BROKEN || info->state == PVB_CLOSED ||
	    info->closing) {
		mutex_unlock(&info->mutex);
		return 0;
	}
	pvb_teardown(info, PVB_REQUEUE);
	info->resetting = false;
	err = pvb_talk(info);
	mutex_unlock(&info->mutex);
	return err;
}

static int pvb_is_ready(struct xenbus_device *dev)
{
	struct pvb_info *info = dev_get_drvdata(&dev->dev);

	return info->ready;
}

static const struct xenbus_device_id pvb_ids[] = {
	{ "vbd" },
	{ "" }
};

static struct xenbus_driver pvb_driver = {
	.name = PVB_DRV_NAME,
	.ids = pvb_ids,
	.probe = pvb_probe,
	.remove = pvb_remove,
	.resume = pvb_resume,
	.otherend_changed = pvb_backend_changed,
	.is_ready = pvb_is_ready,
};

static bool pvb_have_major;

static int __init pvb_init(void)
{
	unsigned int cpus = num_online_cpus();
	int err;

	if (!xen_domain() || !xen_has_pv_disk_devices())
		return -ENODEV;
	if (max_ring_page_order > PVB_MAX_RING_ORDER) {
		pr_info("max_ring_page_order %u: using %u\n",
			max_ring_page_order, PVB_MAX_RING_ORDER);
		max_ring_page_order = PVB_MAX_RING_ORDER;
	}
	if (max_queues > cpus || !max_queues) {
		pr_info("max_queues %u: using %u\n", max_queues,
			max_queues ? cpus : 1);
		max_queues = max_queues ? cpus : 1;
	}
	if (max_indirect_segments > PVB_MAX_SEGMENTS) {
		pr_info("max_indirect_segments %u: using %u\n",
			max_indirect_segments, PVB_MAX_SEGMENTS);
		max_indirect_segments = PVB_MAX_SEGMENTS;
	}
	/*
	 * Only for /proc/devices: xen-blkfront may hold it, and then both
	 * drivers share major 202 (a vbd is bound to one of them at a time).
	 */
	pvb_have_major = !register_blkdev(XENVBD_MAJOR, "xvd");
	if (!pvb_have_major)
		pr_info("block major %d (xvd) is registered already (xen-blkfront?): sharing it\n",
			XENVBD_MAJOR);
	err = xenbus_register_frontend(&pvb_driver);
	if (err) {
		pr_err("cannot register the xenbus driver: %d\n", err);
		if (pvb_have_major)
			unregister_blkdev(XENVBD_MAJOR, "xvd");
	}
	return err;
}
module_init(pvb_init);

static void __exit pvb_exit(void)
{
	xenbus_unregister_driver(&pvb_driver);
	if (pvb_have_major)
		unregister_blkdev(XENVBD_MAJOR, "xvd");
}
module_exit(pvb_exit);

MODULE_DESCRIPTION("pvsplit Xen virtual block device frontend (blkif over xenbus vbd)");
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The pvsplit authors");
