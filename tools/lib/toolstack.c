// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>

#include "pvsplit/schema.h"

#include "toolstack.h"

#define PATH_LEN 256

struct dirs {
	const struct pvs_devtype *dt;
	char be[PATH_LEN], fe[PATH_LEN];
};

static int dirs(const struct pvs_schema *s, uint32_t bdom, uint32_t dom, uint32_t devid,
		struct dirs *d)
{
	int r = pvs_schema_type(s, "vbd", &d->dt);

	if (!r && pvs_devtype_backend_dir(d->dt, bdom, dom, devid, d->be, sizeof(d->be)) < 0)
		r = -EINVAL;
	if (!r && pvs_devtype_frontend_dir(d->dt, dom, devid, d->fe, sizeof(d->fe)) < 0)
		r = -EINVAL;
	return r;
}

static int put(struct xs_handle *xs, xs_transaction_t t, const struct dirs *d, bool backend,
	       const char *key, const char *val)
{
	char path[PATH_LEN * 2];

	if (pvs_devtype_key_path(d->dt, backend ? PVS_SIDE_BACKEND : PVS_SIDE_FRONTEND,
				 backend ? d->be : d->fe, key, path, sizeof(path)) < 0)
		return -EINVAL;
	return xs_write(xs, t, path, val, (unsigned)strlen(val)) ? 0 : -errno;
}

static int fill(struct xs_handle *xs, xs_transaction_t t, const struct dirs *d,
		const struct ts_vbd *v)
{
	struct xs_permissions be_perm[2] = { { .id = v->backend_domid, .perms = XS_PERM_NONE },
					     { .id = v->domid, .perms = XS_PERM_READ } };
	struct xs_permissions fe_perm[2] = { { .id = v->domid, .perms = XS_PERM_NONE },
					     { .id = v->backend_domid, .perms = XS_PERM_READ } };
	char n[32];
	int r;

	if (!xs_mkdir(xs, t, d->be) || !xs_set_permissions(xs, t, d->be, be_perm, 2) ||
	    !xs_mkdir(xs, t, d->fe) || !xs_set_permissions(xs, t, d->fe, fe_perm, 2))
		return -errno;
	r = put(xs, t, d, true, "frontend", d->fe);
	snprintf(n, sizeof(n), "%u", v->domid);
	r = r ?: put(xs, t, d, true, "frontend-id", n);
	r = r ?: put(xs, t, d, true, "online", "1");
	r = r ?: put(xs, t, d, true, "removable", "0");
	r = r ?: put(xs, t, d, true, "bootable", "1");
	r = r ?: put(xs, t, d, true, "state", "1");
	r = r ?: put(xs, t, d, true, "dev", "xvda");
	r = r ?: put(xs, t, d, true, "type", "phy");
	r = r ?: put(xs, t, d, true, "mode", v->readonly ? "r" : "w");
	r = r ?: put(xs, t, d, true, "device-type", v->cdrom ? "cdrom" : "disk");
	r = r ?: put(xs, t, d, true, "discard-enable", "1");
	r = r ?: put(xs, t, d, true, "specification", "xen");
	r = r ?: put(xs, t, d, true, "params", v->params);
	if (!r && v->script)
		r = put(xs, t, d, true, "script", v->script);
	if (!r && v->discard_enable)
		r = put(xs, t, d, true, "discard-enable", v->discard_enable);
	if (!r && v->direct_io_safe)
		r = put(xs, t, d, true, "direct-io-safe", "1");
	if (!r && v->sector_size) {
		snprintf(n, sizeof(n), "%u", v->sector_size);
		r = put(xs, t, d, true, "pvsplit-sector-size", n);
	}
	r = r ?: put(xs, t, d, false, "backend", d->be);
	snprintf(n, sizeof(n), "%u", v->backend_domid);
	r = r ?: put(xs, t, d, false, "backend-id", n);
	r = r ?: put(xs, t, d, false, "state", "1");
	snprintf(n, sizeof(n), "%u", v->devid);
	r = r ?: put(xs, t, d, false, "virtual-device", n);
	r = r ?: put(xs, t, d, false, "device-type", v->cdrom ? "cdrom" : "disk");
	r = r ?: put(xs, t, d, false, "trusted", "1");
	return r;
}

int ts_vbd_add(struct xs_handle *xs, const struct pvs_schema *s, const struct ts_vbd *v)
{
	struct dirs d;
	int r = dirs(s, v->backend_domid, v->domid, v->devid, &d);

	if (r)
		return r;
	for (int tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);

		if (t == XBT_NULL)
			return -errno;
		r = fill(xs, t, &d, v);
		if (r) {
			xs_transaction_end(xs, t, true);
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

char *ts_vbd_read(struct xs_handle *xs, const struct pvs_schema *s, bool backend, uint32_t bdom,
		  uint32_t dom, uint32_t devid, const char *key)
{
	char path[PATH_LEN * 2];
	unsigned len;
	struct dirs d;

	if (dirs(s, bdom, dom, devid, &d) ||
	    pvs_devtype_key_path(d.dt, backend ? PVS_SIDE_BACKEND : PVS_SIDE_FRONTEND,
				 backend ? d.be : d.fe, key, path, sizeof(path)) < 0)
		return NULL;
	return xs_read(xs, XBT_NULL, path, &len);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ts_vbd_wait(struct xs_handle *xs, const struct pvs_schema *s, uint32_t bdom, uint32_t dom,
		uint32_t devid, const char *key, const char *value, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	/* Polling keeps this free of the caller's watches. */
	for (;;) {
		char *v = ts_vbd_read(xs, s, true, bdom, dom, devid, key);
		bool ok = v && !strcmp(v, value);

		free(v);
		if (ok)
			return 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 5);
	}
}

int ts_vbd_remove(struct xs_handle *xs, const struct pvs_schema *s, uint32_t bdom, uint32_t dom,
		  uint32_t devid, unsigned timeout_ms)
{
	struct dirs d;
	int r = dirs(s, bdom, dom, devid, &d), w;

	if (r)
		return r;
	/*
	 * One transaction, and no Closing over Closed, as libxl: a backend that
	 * saw online=0 alone could close (state 6) before state=5 landed over
	 * it, and never answer again.
	 */
	for (int tries = 0;; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);
		char path[PATH_LEN * 2], *st;

		if (t == XBT_NULL)
			return -errno;
		r = put(xs, t, &d, true, "online", "0");
		if (!r && pvs_devtype_key_path(d.dt, PVS_SIDE_BACKEND, d.be, "state", path,
					       sizeof(path)) < 0)
			r = -EINVAL;
		st = r ? NULL : xs_read(xs, t, path, &(unsigned){ 0 });
		if (!r && (!st || strcmp(st, "6")))
			r = put(xs, t, &d, true, "state", "5");
		free(st);
		if (r) {
			xs_transaction_end(xs, t, true);
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			break;
		if (errno != EAGAIN || tries == 15)
			return -errno;
	}
	w = ts_vbd_wait(xs, s, bdom, dom, devid, "state", "6", timeout_ms);
	xs_rm(xs, XBT_NULL, d.fe);
	xs_rm(xs, XBT_NULL, d.be);
	return w;
}

static int cons_dirs(const struct pvs_schema *s, uint32_t dom, uint32_t devid, struct dirs *d)
{
	int r = pvs_schema_type(s, "console", &d->dt);

	if (!r && pvs_devtype_backend_dir(d->dt, 0, dom, devid, d->be, sizeof(d->be)) < 0)
		r = -EINVAL;
	if (!r && pvs_devtype_frontend_dir(d->dt, dom, devid, d->fe, sizeof(d->fe)) < 0)
		r = -EINVAL;
	return r;
}

static int cons_fill(struct xs_handle *xs, xs_transaction_t t, const struct dirs *d, uint32_t domid,
		     uint32_t devid, const char *name, const char *channel, const char *type,
		     uint64_t ring_ref, uint32_t port)
{
	struct xs_permissions be_perm[2] = { { .id = 0, .perms = XS_PERM_NONE },
					     { .id = domid, .perms = XS_PERM_READ } };
	struct xs_permissions fe_perm[2] = { { .id = devid ? domid : 0, .perms = XS_PERM_NONE },
					     { .id = devid ? 0 : domid, .perms = XS_PERM_READ } };
	char n[32], path[PATH_LEN];
	int r;

	if (!xs_mkdir(xs, t, d->be) || !xs_set_permissions(xs, t, d->be, be_perm, 2) ||
	    !xs_mkdir(xs, t, d->fe) || !xs_set_permissions(xs, t, d->fe, fe_perm, 2))
		return -errno;
	if (name) {
		snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
		if (!xs_write(xs, t, path, name, (unsigned)strlen(name)))
			return -errno;
	}
	r = put(xs, t, d, true, "frontend", d->fe);
	snprintf(n, sizeof(n), "%u", domid);
	r = r ?: put(xs, t, d, true, "frontend-id", n);
	r = r ?: put(xs, t, d, true, "online", "1");
	r = r ?: put(xs, t, d, true, "state", "1");
	r = r ?: put(xs, t, d, true, "protocol", "vt100");
	r = r ?: put(xs, t, d, false, "backend", d->be);
	r = r ?: put(xs, t, d, false, "backend-id", "0");
	r = r ?: put(xs, t, d, false, "limit", "1048576");
	r = r ?: put(xs, t, d, false, "type", type);
	r = r ?: put(xs, t, d, false, "output", "pty");
	r = r ?: put(xs, t, d, false, "tty", "");
	if (!r && channel) {
		r = put(xs, t, d, true, "name", channel);
		r = r ?: put(xs, t, d, false, "name", channel);
	}
	if (!r && !devid) {
		/* The domain builder's ring, published by the toolstack. */
		snprintf(n, sizeof(n), "%llu", (unsigned long long)ring_ref);
		r = put(xs, t, d, false, "ring-ref", n);
		snprintf(n, sizeof(n), "%u", port);
		r = r ?: put(xs, t, d, false, "port", n);
	}
	if (!r && devid)
		r = put(xs, t, d, false, "state", "1");
	return r;
}

int ts_console_add(struct xs_handle *xs, const struct pvs_schema *s, uint32_t domid, uint32_t devid,
		   const char *name, const char *channel, const char *type, uint64_t ring_ref,
		   uint32_t port)
{
	struct dirs d;
	int r = cons_dirs(s, domid, devid, &d);

	for (int tries = 0; !r && tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(xs);

		if (t == XBT_NULL)
			return -errno;
		r = cons_fill(xs, t, &d, domid, devid, name, channel, type, ring_ref, port);
		if (r) {
			xs_transaction_end(xs, t, true);
			return r;
		}
		if (xs_transaction_end(xs, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
	return r ? r : -EAGAIN;
}

int ts_console_remove(struct xs_handle *xs, const struct pvs_schema *s, uint32_t domid,
		      uint32_t devid)
{
	struct dirs d;
	int r = cons_dirs(s, domid, devid, &d);

	if (r)
		return r;
	xs_rm(xs, XBT_NULL, d.be);
	xs_rm(xs, XBT_NULL, d.fe);
	return 0;
}
