// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The console control part: which consoles pvsplit-consoled serves (the
 * primary console of every guest, as xenconsoled, and the secondary
 * consoles and channels of backend/console), where their rings and ports
 * are, where their logs go; cons.c does the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cons.h"
#include "consback.h"

#define TICK_MS 50

struct cdev {
	struct cdev *next;
	struct pvb_device *d;
	struct cons *c;
	char name[128];
	char log[512];
};

struct consd {
	struct consd_config cfg;
	struct pvb_loop *loop;
	struct pvb_timer *tick;
	struct cdev *live;
};

void consd_config_default(struct consd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->rotate_keep = 5;
	c->replay = 16384;
	c->default_limit = 1048576; /* LIBXL_XENCONSOLE_LIMIT */
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tick(void *opaque)
{
	struct consd *cd = opaque;
	uint64_t t = now_ms();

	for (struct cdev *v = cd->live; v; v = v->next)
		cons_tick(v->c, t);
}

int consd_new(const struct consd_config *cfg, struct pvb_loop *loop, struct consd **out)
{
	struct consd *cd = calloc(1, sizeof(*cd));
	int r;

	if (!cd)
		return -ENOMEM;
	cd->cfg = *cfg;
	cd->loop = loop;
	r = pvb_timer_add(loop, TICK_MS, TICK_MS, tick, cd, &cd->tick);
	if (r) {
		free(cd);
		return r;
	}
	*out = cd;
	return 0;
}

void consd_free(struct consd *cd)
{
	if (!cd)
		return;
	pvb_timer_del(cd->tick);
	free(cd);
}

void consd_reopen_logs(struct consd *cd)
{
	for (struct cdev *v = cd->live; v; v = v->next)
		cons_reopen_log(v->c);
}

static struct consd *CD(struct pvb_device *d)
{
	return pvb_backend_opaque(pvb_dev_backend(d));
}

static struct cdev *V(struct pvb_device *d)
{
	return pvb_dev_priv(d);
}

/* The primary console (device 0) has no xenbus handshake: the builder made it. */
static bool uses_xenbus(struct pvb_device *d)
{
	return pvb_dev_devid(d) != 0;
}

static bool claim(struct pvb_device *d)
{
	char *type = NULL;
	bool ours;

	/* libxl names the backend in the frontend's "type". */
	if (pvb_dev_read(d, PVS_SIDE_FRONTEND, "type", &type))
		return pvb_dev_devid(d) == 0; /* an old toolstack: xenconsoled's */
	ours = !strcmp(type, "xenconsoled") || (!strcmp(type, "ioemu") && CD(d)->cfg.serve_ioemu);
	free(type);
	return ours;
}

static int probe(struct pvb_device *d)
{
	V(d)->d = d;
	return 0; /* a console backend publishes no feature */
}

static int prepare(struct pvb_device *d)
{
	uint64_t v;

	/* The primary console is ready once the builder's keys are there. */
	if (pvb_dev_devid(d) == 0 &&
	    (pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "ring-ref", UINT64_MAX, &v) ||
	     pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "port", UINT32_MAX, &v)))
		return 0;
	return 1;
}

/* Log file names as xenconsoled's: guest-<name>.log, plus the channel for the others. */
static void names(struct pvb_device *d, struct cdev *v)
{
	struct consd *cd = CD(d);
	char path[64], *name = NULL, *chan = NULL;

	snprintf(path, sizeof(path), "/local/domain/%u/name", pvb_dev_domid(d));
	if (!pvb_dev_read_path(d, path, &name) && *name)
		snprintf(v->name, sizeof(v->name), "%s", name);
	else
		snprintf(v->name, sizeof(v->name), "dom%u", pvb_dev_domid(d));
	free(name);
	v->log[0] = 0;
	if (!cd->cfg.log_dir[0])
		return;
	/* Names come from the toolstack, but never let one leave the log directory. */
	for (char *p = v->name; *p; p++)
		if (*p == '/')
			*p = '_';
	if (pvb_dev_devid(d) == 0) {
		snprintf(v->log, sizeof(v->log), "%s/guest-%s.log", cd->cfg.log_dir, v->name);
	} else {
		if (pvb_dev_read(d, PVS_SIDE_FRONTEND, "name", &chan) || !*chan) {
			free(chan);
			chan = NULL;
		}
		for (char *p = chan; p && *p; p++)
			if (*p == '/')
				*p = '_';
		if (chan)
			snprintf(v->log, sizeof(v->log), "%s/guest-%s-%s.log", cd->cfg.log_dir,
				 v->name, chan);
		else
			snprintf(v->log, sizeof(v->log), "%s/guest-%s-%u.log", cd->cfg.log_dir,
				 v->name, pvb_dev_devid(d));
		free(chan);
	}
}

static void cons_log(void *opaque, int level, const char *msg)
{
	pvb_dev_log(opaque, level, -1, "%s", msg);
}

static int connect_(struct pvb_device *d)
{
	struct consd *cd = CD(d);
	struct cdev *v = V(d);
	struct cons_params p = { .domid = pvb_dev_domid(d), .primary = pvb_dev_devid(d) == 0 };
	struct cons_hooks h = { .opaque = d, .log = cons_log };
	uint64_t x;
	int r;

	r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "ring-ref", UINT32_MAX, &x);
	if (r)
		return r;
	p.ring_ref = (uint32_t)x;
	r = pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "port", UINT32_MAX, &x);
	if (r)
		return r;
	p.port = (uint32_t)x;
	p.limit = cd->cfg.default_limit;
	if (!pvb_dev_read_uint(d, PVS_SIDE_FRONTEND, "limit", 1u << 30, &x) && x)
		p.limit = (size_t)x;
	names(d, v);
	p.log_path = v->log[0] ? v->log : NULL;
	p.timestamps = cd->cfg.timestamps;
	p.rotate_size = cd->cfg.rotate_size;
	p.rotate_keep = cd->cfg.rotate_keep;
	p.replay = cd->cfg.replay;
	p.rate_events = cd->cfg.rate_events;
	p.rate_ms = cd->cfg.rate_ms;
	r = cons_start(&p, pvb_dev_hv(d), pvb_dev_loop(d), pvb_dev_evtchn(d), &h, &v->c);
	if (r)
		return r;
	/* Where `xl console` looks. */
	r = pvb_dev_write_frontend(d, "tty", "%s", cons_tty(v->c));
	if (r) {
		cons_stop(v->c);
		v->c = NULL;
		return r;
	}
	v->next = cd->live;
	cd->live = v;
	pvb_dev_log(d, PVB_LOG_INFO, -1, "console of %s on %s%s%s", v->name, cons_tty(v->c),
		    v->log[0] ? ", log " : "", v->log);
	return 0;
}

static void disconnect(struct pvb_device *d)
{
	struct consd *cd = CD(d);
	struct cdev *v = V(d);

	for (struct cdev **pp = &cd->live; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	cons_stop(v->c);
	v->c = NULL;
}

static void remove_(struct pvb_device *d)
{
	(void)d;
}

static void stats(struct pvb_device *d, json_object *o)
{
	struct cdev *v = V(d);

	json_object_object_add(o, "name", json_object_new_string(v->name));
	if (v->log[0])
		json_object_object_add(o, "log", json_object_new_string(v->log));
	if (v->c)
		cons_stats(v->c, o);
}

const struct pvb_backend_ops console_ops = {
	.type = "console",
	.priv_size = sizeof(struct cdev),
	.claim = claim,
	.probe = probe,
	.prepare = prepare,
	.connect = connect_,
	.disconnect = disconnect,
	.remove = remove_,
	.stats = stats,
	.uses_xenbus = uses_xenbus,
};
