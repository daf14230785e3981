// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vbd control part: what pvsplit-blkback publishes, how it finds its
 * backing store after the toolstack's hotplug handshake, and how it reads
 * the frontend's rings before handing plain values to the dataplane.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <json-c/json.h>

#include "vbd.h"
#include "dataplane.h"
#include "store.h"

struct vbd {
	const struct vbd_config *cfg;
	struct blk_store *store;
	struct blk_dp *dp;
	struct pvb_timer *resize;
	struct pvb_device *d;
	bool readonly;
	bool discard; /* the store can discard and the toolstack allows it */
	bool large_sectors;
	bool direct_io; /* aligned transfers bypass the page cache */
	/* Taken over from a daemon before us: the feature-persistent it left
	 * (0: it did not offer them, e.g. --no-persistent), -1 absent or
	 * unreadable. */
	int resumed_persistent;
	char backing[4096];
};

static struct vbd *V(struct pvb_device *d)
{
	return pvb_dev_priv(d);
}

static const struct vbd_config *cfg_of(struct pvb_device *d)
{
	return pvb_backend_opaque(pvb_dev_backend(d));
}

static int write_features(struct pvb_device *d, void *arg)
{
	const struct vbd_config *c = cfg_of(d);
	int r = 0;

	(void)arg;
	if (c->max_indirect)
		r = pvb_dev_write(d, "feature-max-indirect-segments", "%u", c->max_indirect);
	if (!r && c->max_ring_order)
		r = pvb_dev_write(d, "max-ring-page-order", "%u", c->max_ring_order);
	if (!r && c->max_queues > 1)
		r = pvb_dev_write(d, "multi-queue-max-queues", "%u", c->max_queues);
	/* A connected device taken over keeps what its frontend was told. */
	if (!r && !pvb_dev_resuming(d))
		r = pvb_dev_write(d, "feature-persistent", "%d", c->persistent ? 1 : 0);
	return r;
}

static int vbd_probe(struct pvb_device *d)
{
	struct vbd *v = V(d);

	v->cfg = cfg_of(d);
	v->d = d;
	v->resumed_persistent = -1;
	if (pvb_dev_resuming(d)) {
		uint64_t val;

		if (!pvb_dev_read_uint(d, PVS_SIDE_BACKEND, "feature-persistent", 1, &val))
			v->resumed_persistent = (int)val;
	}
	return pvb_dev_transact(d, write_features, NULL);
}

/* "physical-device" as the block script writes it: hex MAJOR:MINOR. */
static int bdev_path(const char *devnum, char *buf, size_t len)
{
	unsigned maj, min;
	char sys[128], line[256];
	struct stat st;
	FILE *f;

	if (sscanf(devnum, "%x:%x", &maj, &min) != 2)
		return -EINVAL;
	snprintf(buf, len, "/dev/block/%u:%u", maj, min);
	if (!stat(buf, &st) && S_ISBLK(st.st_mode) && st.st_rdev == makedev(maj, min))
		return 0;
	/* No /dev/block links (a minimal dom0): sysfs names the node. */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/uevent", maj, min);
	f = fopen(sys, "r");
	if (!f)
		return -ENODEV;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "/dev/%s", line + 8);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -ENODEV;
}

/* Where the data is, once the hotplug script (if any) is done.  1, 0 (wait), -errno. */
static int find_backing(struct pvb_device *d, char *path, size_t len)
{
	char *v = NULL;
	int r;

	r = pvb_dev_read(d, PVS_SIDE_BACKEND, "hotplug-status", &v);
	if (!r && !strcmp(v, "error")) {
		free(v);
		return -EIO;
	}
	free(v);
	v = NULL;
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "physical-device", &v)) {
		r = bdev_path(v, path, len);
		free(v);
		return r ? r : 1;
	}
	/* A script that has not answered yet: wait for it. */
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "script", &v)) {
		char *hs = NULL;
		bool done = !pvb_dev_read(d, PVS_SIDE_BACKEND, "hotplug-status", &hs) &&
			    !strcmp(hs, "connected");

		free(v);
		free(hs);
		if (!done)
			return 0;
	}
	r = pvb_dev_read(d, PVS_SIDE_BACKEND, "params", &v);
	if (r)
		return r == -ENOENT ? 0 : r;
	snprintf(path, len, "%s", v);
	free(v);
	return path[0] == '/' ? 1 : -EINVAL;
}

/* The new size, and Connected again so that the frontend rereads it. */
static int resize_writes(struct pvb_device *d, void *arg)
{
	struct vbd *v = arg;
	int r = pvb_dev_write(d, "sectors", "%llu",
			      (unsigned long long)(v->store->size /
						   (v->large_sectors ? v->store->logical : 512)));

	return r ? r : pvb_dev_reannounce(d);
}

static void resize_check(void *opaque)
{
	struct vbd *v = opaque;
	bool changed = false;

	if (!v->store || blk_store_refresh(v->store, &changed) || !changed || !v->dp)
		return;
	pvb_dev_log(v->d, PVB_LOG_INFO, -1, "backing store resized to %llu bytes",
		    (unsigned long long)v->store->size);
	blk_dp_resized(v->dp);
	pvb_dev_transact(v->d, resize_writes, v);
}

static int vbd_prepare(struct pvb_device *d)
{
	struct vbd *v = V(d);
	char *mode = NULL, *dtype = NULL, *ss = NULL, *de = NULL;
	uint32_t logical = 0;
	uint64_t safe = 0;
	int r = find_backing(d, v->backing, sizeof(v->backing));

	if (r <= 0)
		return r;
	r = pvb_dev_read(d, PVS_SIDE_BACKEND, "mode", &mode);
	if (r)
		return r == -ENOENT ? 0 : r;
	pvb_dev_read(d, PVS_SIDE_BACKEND, "device-type", &dtype);
	v->readonly = mode[0] != 'w' || (dtype && !strcmp(dtype, "cdrom"));
	free(mode);
	free(dtype);
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "pvsplit-sector-size", &ss)) {
		logical = (uint32_t)strtoul(ss, NULL, 10);
		free(ss);
	}
	switch (v->cfg->direct_io) {
	case VBD_DIRECT_SAFE:
		/* Absent or unreadable: 0, the page cache (blkif.h's default). */
		pvb_dev_read_uint(d, PVS_SIDE_BACKEND, "direct-io-safe", 1, &safe);
		break;
	case VBD_DIRECT_NEVER:
		break;
	case VBD_DIRECT_ALWAYS:
		safe = 1;
		break;
	}
	r = blk_store_open(v->backing, v->readonly, logical,
			   (safe ? BLK_STORE_DIRECT : 0) |
				   (v->cfg->loop_file ? BLK_STORE_LOOP_FILE : 0),
			   &v->store);
	if (r) {
		pvb_dev_log(d, PVB_LOG_ERR, -1, "cannot open %s: %s", v->backing, strerror(-r));
		return r;
	}
	v->direct_io = v->store->dfd >= 0;
	if (safe && !v->direct_io)
		pvb_dev_log(d, PVB_LOG_WARN, -1,
			    "%s refuses O_DIRECT: served through the page cache", v->backing);
	v->discard = v->store->discard && !v->readonly;
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "discard-enable", &de)) {
		if (!strcmp(de, "0"))
			v->discard = false;
		free(de);
	}
	pvb_dev_log(d, PVB_LOG_INFO, -1, "%s %s%s%s%s: %llu bytes, %u/%u byte sectors, %s%s%s",
		    v->store->file   ? "loop device"
		    : v->store->bdev ? "block device"
				     : "file",
		    v->backing, v->store->file ? " (through its file " : "",
		    v->store->file ? v->store->file : "", v->store->file ? ")" : "",
		    (unsigned long long)v->store->size, v->store->logical, v->store->physical,
		    v->direct_io ? "O_DIRECT" : "page cache", v->readonly ? ", read-only" : "",
		    v->discard ? ", discard" : "");
	if (v->cfg->resize_ms)
		pvb_timer_add(pvb_dev_loop(d), v->cfg->resize_ms, v->cfg->resize_ms, resize_check,
			      v, &v->resize);
	return 1;
}

/* Ring refs and port of queue q: "queue-<q>/..." with several queues, flat otherwise. */
static int read_queue(struct pvb_device *d, struct blk_dp_params *p, uint32_t q, bool mq)
{
	char key[64], pfx[24] = "";
	uint64_t v;
	int r;

	if (mq)
		snprintf(pfx, sizeof(pfx), "queue-%u/", q);
	snprintf(key, sizeof(key), "%sevent-channel", pfx);
	r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, key, UINT32_MAX, &v);
	if (r)
		return r;
	p->evtchn[q] = (uint32_t)v;
	for (uint32_t i = 0; i < p->nr_ring_pages; i++) {
		if (p->nr_ring_pages == 1)
			snprintf(key, sizeof(key), "%sring-ref", pfx);
		else
			snprintf(key, sizeof(key), "%sring-ref%u", pfx, i);
		r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, key, UINT32_MAX, &v);
		if (r == -ENOENT && p->nr_ring_pages == 1) {
			/* Some frontends write ring-ref0 with ring-page-order 0. */
			snprintf(key, sizeof(key), "%sring-ref0", pfx);
			r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, key, UINT32_MAX, &v);
		}
		if (r)
			return r;
		p->ring_refs[q][i] = (uint32_t)v;
	}
	return 0;
}

static int read_frontend(struct pvb_device *d, struct blk_dp_params *p)
{
	const struct vbd_config *c = cfg_of(d);
	char *proto = NULL;
	uint64_t v;
	int r;

	memset(p, 0, sizeof(*p));
	p->domid = pvb_dev_domid(d);
	r = pvb_dev_read(d, PVS_SIDE_FRONTEND, "protocol", &proto);
	if (r && r != -ENOENT)
		return r;
	r = blk_abi_from_protocol(proto);
	free(proto);
	if (r < 0)
		return r;
	p->abi = (enum blk_abi)r;

	p->nr_queues = 1;
	r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "multi-queue-num-queues", UINT32_MAX, &v);
	if (!r) {
		if (!v || v > c->max_queues || v > BLK_MAX_QUEUES)
			return -EINVAL;
		p->nr_queues = (uint32_t)v;
	} else if (r != -ENOENT) {
		return r;
	}
	p->nr_ring_pages = 1;
	r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "ring-page-order", BLK_MAX_RING_ORDER, &v);
	if (!r) {
		if (v > c->max_ring_order)
			return -ERANGE;
		p->nr_ring_pages = 1u << v;
	} else if (r != -ENOENT) {
		return r;
	}
	for (uint32_t q = 0; q < p->nr_queues; q++) {
		r = read_queue(d, p, q, p->nr_queues > 1);
		if (r)
			return r;
	}
	p->persistent = c->persistent &&
			!pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "feature-persistent", 1, &v) && v;
	/*
	 * Taken over: persistent grants only if the frontend was told they are
	 * on (an absent key says off, as xen-blkfront reads it).  Copying is
	 * safe either way; mapping grants the frontend revokes is not.
	 */
	if (pvb_dev_resuming(d) && V(d)->resumed_persistent != 1)
		p->persistent = false;
	p->large_sectors =
		!pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "feature-large-sector-size", 1, &v) && v;
	p->persistent_max = c->persistent_max;
	p->map_min = c->map_min;
	p->max_mapped = c->max_mapped;
	p->max_indirect = c->max_indirect;
	return 0;
}

static int publish_connect(struct pvb_device *d, void *arg)
{
	struct vbd *v = V(d);
	struct blk_store *s = v->store;
	uint32_t info = (v->readonly ? VDISK_READONLY : 0);
	char *dtype = NULL, *rem = NULL;
	int r;

	(void)arg;
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "device-type", &dtype) && !strcmp(dtype, "cdrom"))
		info |= VDISK_CDROM;
	if (!pvb_dev_read(d, PVS_SIDE_BACKEND, "removable", &rem) && !strcmp(rem, "1"))
		info |= VDISK_REMOVABLE;
	free(dtype);
	free(rem);
	r = pvb_dev_write(d, "sectors", "%llu",
			  (unsigned long long)(s->size / (v->large_sectors ? s->logical : 512)));
	if (!r)
		r = pvb_dev_write(d, "info", "%u", info);
	if (!r)
		r = pvb_dev_write(d, "sector-size", "%u", s->logical);
	if (!r)
		r = pvb_dev_write(d, "physical-sector-size", "%u", s->physical);
	/*
	 * As xen-blkback at connection: whether persistent grants are offered
	 * (xen-blkfront reads this at Connected).  Not on a takeover: the
	 * frontend decided on what the daemon before us said.
	 */
	if (!r && !pvb_dev_resuming(d))
		r = pvb_dev_write(d, "feature-persistent", "%d", cfg_of(d)->persistent ? 1 : 0);
	if (!r)
		r = pvb_dev_write(d, "feature-flush-cache", "1");
	if (!r)
		r = pvb_dev_write(d, "feature-barrier", "1");
	if (!r)
		r = pvb_dev_write(d, "feature-discard", "%d", v->discard ? 1 : 0);
	if (!r && v->discard) {
		r = pvb_dev_write(d, "discard-granularity", "%u", s->discard_granularity);
		if (!r)
			r = pvb_dev_write(d, "discard-alignment", "%u", s->discard_alignment);
		if (!r)
			r = pvb_dev_write(d, "discard-secure", "%d", s->secure_discard ? 1 : 0);
	}
	return r;
}

static void dp_log(void *opaque, int level, int queue, const char *msg)
{
	pvb_dev_log(opaque, level, queue, "%s", msg);
}

static void dp_fatal(void *opaque, int queue, int err, const char *msg)
{
	pvb_dev_fatal(opaque, err, "queue %d: %s", queue, msg);
}

static int vbd_connect(struct pvb_device *d)
{
	struct vbd *v = V(d);
	struct blk_dp_params p;
	struct blk_dp_hooks hooks = { .opaque = d, .log = dp_log, .fatal = dp_fatal };
	char grants[64];
	int r = read_frontend(d, &p);

	if (r) {
		pvb_dev_log(d, PVB_LOG_ERR, -1, "frontend keys: %s", strerror(-r));
		return r;
	}
	v->large_sectors = p.large_sectors;
	p.readonly = v->readonly;
	p.journal_dir = cfg_of(d)->state_dir;
	p.devid = pvb_dev_devid(d);
	p.resume = pvb_dev_resuming(d);
	p.flush = p.barrier = true;
	p.discard = v->discard;
	p.acct = cfg_of(d)->acct;
	r = blk_dp_start(&p, v->store, pvb_dev_hv(d), pvb_dev_loop(d), pvb_dev_evtchn(d), &hooks,
			 &v->dp);
	if (r)
		return r;
	r = pvb_dev_transact(d, publish_connect, NULL);
	if (r) {
		blk_dp_stop(v->dp, false);
		v->dp = NULL;
		return r;
	}
	if (p.persistent)
		snprintf(grants, sizeof(grants), "persistent grants");
	else if (p.map_min)
		snprintf(grants, sizeof(grants),
			 "no persistent grants: map from %u bytes, else copy", p.map_min);
	else
		snprintf(grants, sizeof(grants), "no persistent grants: grant copy");
	pvb_dev_log(d, PVB_LOG_INFO, -1, "%u queue(s), %u ring page(s), %s ABI, %s, indirect %u",
		    p.nr_queues, p.nr_ring_pages, blk_abi_name(p.abi), grants, p.max_indirect);
	return 0;
}

static void vbd_disconnect(struct pvb_device *d)
{
	struct vbd *v = V(d);

	blk_dp_stop(v->dp, pvb_dev_leaving(d));
	v->dp = NULL;
}

static void vbd_remove(struct pvb_device *d)
{
	struct vbd *v = V(d);

	vbd_disconnect(d);
	pvb_timer_del(v->resize);
	v->resize = NULL;
	blk_store_close(v->store);
	v->store = NULL;
}

static void vbd_stats(struct pvb_device *d, struct json_object *o)
{
	struct vbd *v = V(d);

	if (v->store) {
		json_object_object_add(o, "backing", json_object_new_string(v->backing));
		if (v->store->file)
			json_object_object_add(o, "backing_file",
					       json_object_new_string(v->store->file));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)v->store->size));
		json_object_object_add(o, "read_only", json_object_new_boolean(v->readonly));
		json_object_object_add(o, "direct_io", json_object_new_boolean(v->direct_io));
	}
	if (v->dp) {
		const struct pvb_map_account *a = cfg_of(d)->acct;

		if (a) {
			json_object *m = json_object_new_object();

			json_object_object_add(m, "limit",
					       json_object_new_int64((int64_t)a->limit));
			json_object_object_add(m, "now", json_object_new_int64((int64_t)a->used));
			json_object_object_add(m, "peak", json_object_new_int64((int64_t)a->peak));
			json_object_object_add(o, "daemon_mappings", m);
		}
		blk_dp_stats(v->dp, o);
	}
}

const struct pvb_backend_ops vbd_ops = {
	.type = "vbd",
	.priv_size = sizeof(struct vbd),
	.probe = vbd_probe,
	.prepare = vbd_prepare,
	.connect = vbd_connect,
	.disconnect = vbd_disconnect,
	.remove = vbd_remove,
	.stats = vbd_stats,
};

void vbd_config_default(struct vbd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_queues = 4;
	c->max_ring_order = BLK_MAX_RING_ORDER;
	c->max_indirect = 256; /* Linux xen-blkback's default */
	c->persistent = true;
	c->persistent_max = 0; /* per queue: what the ring can have in flight (dataplane.h) */
	c->resize_ms = 1000;
	c->direct_io = VBD_DIRECT_SAFE;
	c->loop_file = true;
}
