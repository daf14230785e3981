// SPDX-License-Identifier: LGPL-2.1-or-later
/* libpvsplit-back: device discovery and the xenbus state machine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <json-c/json.h>

#include "backend.h"

#define PATH_LEN 256

struct pvb_device {
	struct pvb_backend *be;
	struct pvb_device *next;
	uint32_t domid, devid;
	char bepath[PATH_LEN];
	char fepath[PATH_LEN];
	char fe_state_path[PATH_LEN + 8];
	char token[48];
	int be_state; /* last written by us, or found at start */
	int fe_state; /* last seen */
	bool probed, prepared, connected, removed, failed, watching;
	bool resume;  /* found Connected at start: the next connect takes over */
	bool xenbus;  /* the handshake applies (false: primary console) */
	bool foreign; /* not ours: left alone */
	xs_transaction_t t;
	void *priv;
};

struct pvb_backend {
	const struct pvb_backend_ops *ops;
	struct pvb_backend_config cfg;
	const struct pvs_devtype *dt;
	struct xs_handle *xs;
	struct pvb_watch *xsw;
	uint32_t self;
	char root[PATH_LEN]; /* /local/domain/<self>/backend/<type> */
	struct pvb_device *devs;
	unsigned ndevs;
	bool leaving; /* pvb_backend_free(): a successor takes the devices over */
};

/* ---- logging ---- */

static void vlog(const struct pvb_backend *be, int level, const struct pvb_device *d, int queue,
		 const char *fmt, va_list ap)
{
	char msg[512];

	if (!be->cfg.log)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	be->cfg.log(be->cfg.log_opaque, level, d, queue, msg);
}

static void be_log(const struct pvb_backend *be, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void be_log(const struct pvb_backend *be, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(be, level, NULL, -1, fmt, ap);
	va_end(ap);
}

void pvb_dev_log(const struct pvb_device *d, int level, int queue, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(d->be, level, d, queue, fmt, ap);
	va_end(ap);
}

/* ---- accessors ---- */

uint32_t pvb_dev_domid(const struct pvb_device *d)
{
	return d->domid;
}

uint32_t pvb_dev_devid(const struct pvb_device *d)
{
	return d->devid;
}

const char *pvb_dev_type(const struct pvb_device *d)
{
	return d->be->ops->type;
}

void *pvb_dev_priv(const struct pvb_device *d)
{
	return d->priv;
}

const char *pvb_dev_bepath(const struct pvb_device *d)
{
	return d->bepath;
}

const char *pvb_dev_fepath(const struct pvb_device *d)
{
	return d->fepath;
}

struct pvhv *pvb_dev_hv(const struct pvb_device *d)
{
	return d->be->cfg.hv;
}

struct pvb_loop *pvb_dev_loop(const struct pvb_device *d)
{
	return d->be->cfg.loop;
}

struct pvb_evtchn *pvb_dev_evtchn(const struct pvb_device *d)
{
	return d->be->cfg.evtchn;
}

struct pvb_backend *pvb_dev_backend(const struct pvb_device *d)
{
	return d->be;
}

bool pvb_dev_resuming(const struct pvb_device *d)
{
	return d->resume;
}

bool pvb_dev_leaving(const struct pvb_device *d)
{
	return d->be->leaving;
}

int pvb_dev_state(const struct pvb_device *d)
{
	return d->be_state;
}

int pvb_dev_frontend_state(const struct pvb_device *d)
{
	return d->fe_state;
}

void *pvb_backend_opaque(const struct pvb_backend *be)
{
	return be->cfg.opaque;
}

unsigned pvb_backend_ndevices(const struct pvb_backend *be)
{
	return be->ndevs;
}

/* ---- xenstore access through the schema ---- */

static int key_path(struct pvb_device *d, enum pvs_side side, const char *key, char *buf,
		    size_t len)
{
	int r = pvs_devtype_key_path(
		d->be->dt, side, side == PVS_SIDE_FRONTEND ? d->fepath : d->bepath, key, buf, len);

	return r < 0 ? r : 0;
}

static int xs_errno(void)
{
	return errno ? -errno : -EIO;
}

int pvb_dev_read(struct pvb_device *d, enum pvs_side side, const char *key, char **val)
{
	char path[PATH_LEN * 2];
	unsigned len;
	int r = key_path(d, side, key, path, sizeof(path));

	if (r)
		return r == -ENOENT ? -EINVAL : r;
	errno = 0;
	*val = xs_read(d->be->xs, d->t, path, &len);
	return *val ? 0 : xs_errno();
}

int pvb_dev_read_path(struct pvb_device *d, const char *path, char **val)
{
	unsigned len;

	errno = 0;
	*val = xs_read(d->be->xs, d->t, path, &len);
	return *val ? 0 : xs_errno();
}

int pvb_dev_read_uint(struct pvb_device *d, enum pvs_side side, const char *key, uint64_t max,
		      uint64_t *out)
{
	char *v, *end;
	unsigned long long x;
	int r = pvb_dev_read(d, side, key, &v);

	if (r)
		return r;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (!*v || *end || v[0] == '-' || errno)
		r = -EINVAL;
	else if (x > max)
		r = -ERANGE;
	else
		*out = x;
	free(v);
	return r;
}

static int write_path(struct pvb_device *d, const char *path, const char *val)
{
	errno = 0;
	return xs_write(d->be->xs, d->t, path, val, (unsigned)strlen(val)) ? 0 : xs_errno();
}

int pvb_dev_write(struct pvb_device *d, const char *key, const char *fmt, ...)
{
	char path[PATH_LEN * 2], val[1024];
	va_list ap;
	int r = key_path(d, PVS_SIDE_BACKEND, key, path, sizeof(path));

	if (r)
		return r == -ENOENT ? -EINVAL : r;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return write_path(d, path, val);
}

int pvb_dev_write_frontend(struct pvb_device *d, const char *key, const char *fmt, ...)
{
	char path[PATH_LEN * 2], val[1024];
	va_list ap;
	int r = key_path(d, PVS_SIDE_FRONTEND, key, path, sizeof(path));

	if (r)
		return r == -ENOENT ? -EINVAL : r;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return write_path(d, path, val);
}

int pvb_dev_rm(struct pvb_device *d, const char *key)
{
	char path[PATH_LEN * 2];
	int r = key_path(d, PVS_SIDE_BACKEND, key, path, sizeof(path));

	if (r)
		return r == -ENOENT ? -EINVAL : r;
	errno = 0;
	return xs_rm(d->be->xs, d->t, path) || errno == ENOENT ? 0 : xs_errno();
}

/* A state key's value: XenbusStateUnknown when absent or not a state. */
static int parse_state(const char *v)
{
	char *end;
	long x;

	if (!v || !*v)
		return XenbusStateUnknown;
	x = strtol(v, &end, 10);
	return !*end && x >= XenbusStateUnknown && x <= XenbusStateReconfigured
		       ? (int)x
		       : XenbusStateUnknown;
}

/*
 * A transaction of this device's writes, which first reads the backend
 * state: the one we last wrote (be_state), or a backend_event() is still to
 * come.  Between the reads evaluate() decided on and these writes, the
 * daemon may have been descheduled or stopped while the toolstack removed
 * the device (no state any more), removed it and added it again
 * (Initialising), or asked for its removal (Closing).  Writes made over
 * that would resurrect a removed directory, hide the re-creation and leave
 * this old device serving the new one, or hide the removal request (the
 * watch would read back our own state).  Read inside the transaction, the
 * state also makes the commit fail (EAGAIN) if the toolstack writes it
 * meanwhile.
 */
int pvb_dev_begin(struct pvb_device *d)
{
	char path[PATH_LEN * 2], *cur;
	unsigned len;
	bool absent;
	int r;

	if (d->t != XBT_NULL)
		return -EBUSY;
	r = key_path(d, PVS_SIDE_BACKEND, "state", path, sizeof(path));
	if (r)
		return r;
	errno = 0;
	d->t = xs_transaction_start(d->be->xs);
	if (d->t == XBT_NULL)
		return xs_errno();
	errno = 0;
	cur = xs_read(d->be->xs, d->t, path, &len);
	absent = !cur;
	r = absent && errno != ENOENT ? xs_errno() : 0;
	if (!r && (absent || parse_state(cur) != d->be_state))
		r = -ESTALE;
	free(cur);
	if (r)
		pvb_dev_commit(d, true);
	return r;
}

int pvb_dev_commit(struct pvb_device *d, bool abort)
{
	xs_transaction_t t = d->t;

	d->t = XBT_NULL;
	if (t == XBT_NULL)
		return -EINVAL;
	errno = 0;
	return xs_transaction_end(d->be->xs, t, abort) ? 0 : xs_errno();
}

int pvb_dev_transact(struct pvb_device *d, int (*writes)(struct pvb_device *d, void *arg),
		     void *arg)
{
	int r = -EAGAIN;

	for (int tries = 0; tries < 16 && r == -EAGAIN; tries++) {
		r = pvb_dev_begin(d);
		if (r)
			continue;
		r = writes(d, arg);
		if (r) {
			pvb_dev_commit(d, true);
			continue;
		}
		r = pvb_dev_commit(d, false);
	}
	return r;
}

struct state_write {
	const char *path, *v;
};

static int state_writes(struct pvb_device *d, void *arg)
{
	const struct state_write *w = arg;

	return write_path(d, w->path, w->v);
}

/* Write state in a transaction of its own (pvb_dev_begin()): 0, -ESTALE or -errno. */
static int write_state(struct pvb_device *d, const char *path, const char *v)
{
	struct state_write w = { path, v };

	if (d->t != XBT_NULL)
		return write_path(d, path, v); /* the caller's transaction */
	return pvb_dev_transact(d, state_writes, &w);
}

static int switch_state(struct pvb_device *d, int state)
{
	char path[PATH_LEN * 2], v[8];
	int r;

	if (d->be_state == state)
		return 0;
	r = key_path(d, PVS_SIDE_BACKEND, "state", path, sizeof(path));
	if (r)
		return r;
	snprintf(v, sizeof(v), "%d", state);
	r = write_state(d, path, v);
	if (r == -ESTALE) {
		pvb_dev_log(d, PVB_LOG_INFO, -1,
			    "state %s not written: the toolstack changed or removed the device",
			    pvs_state_name(state));
		return r;
	}
	if (r) {
		pvb_dev_log(d, PVB_LOG_ERR, -1, "cannot switch to state %s: %s",
			    pvs_state_name(state), strerror(-r));
		return r;
	}
	pvb_dev_log(d, PVB_LOG_DEBUG, -1, "state %s -> %s", pvs_state_name(d->be_state),
		    pvs_state_name(state));
	d->be_state = state;
	return 0;
}

int pvb_dev_reannounce(struct pvb_device *d)
{
	char path[PATH_LEN * 2], v[8];
	int r = key_path(d, PVS_SIDE_BACKEND, "state", path, sizeof(path));

	if (r)
		return r;
	if (d->be_state != XenbusStateConnected)
		return -ENOTCONN;
	snprintf(v, sizeof(v), "%d", d->be_state);
	return write_state(d, path, v);
}

static void disconnect(struct pvb_device *d)
{
	if (d->connected) {
		d->be->ops->disconnect(d);
		d->connected = false;
	}
}

void pvb_dev_fatal(struct pvb_device *d, int err, const char *fmt, ...)
{
	char msg[512], path[PATH_LEN * 2], val[600];
	const char *rel = d->bepath;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pvb_dev_log(d, PVB_LOG_ERR, -1, "%s: %s", msg, strerror(err < 0 ? -err : err));
	/* As xenbus_dev_fatal(): error/<nodename>/error, nodename relative to our home. */
	for (int slashes = 0; *rel && slashes < 4; rel++)
		slashes += *rel == '/';
	snprintf(path, sizeof(path), "/local/domain/%u/error/%s/error", d->be->self, rel);
	snprintf(val, sizeof(val), "%d %s", err < 0 ? -err : err, msg);
	if (d->t != XBT_NULL)
		pvb_dev_commit(d, true);
	write_path(d, path, val);
	d->failed = true;
	disconnect(d);
	switch_state(d, XenbusStateClosing);
}

/* ---- the state machine ---- */

static int read_state(struct pvb_backend *be, const char *path)
{
	unsigned len;
	char *v = xs_read(be->xs, XBT_NULL, path, &len);
	int s = parse_state(v);

	free(v);
	return s;
}

static bool online(struct pvb_device *d)
{
	uint64_t v = 0;

	return pvb_dev_read_uint(d, PVS_SIDE_BACKEND, "online", 1, &v) == 0 && v == 1;
}

/*
 * Only the toolstack writes Initialising, when it creates the device: seeing
 * it over a state of ours means the device was removed and added again before
 * we looked.  The backend-state event that follows re-creates it; until then
 * the old device must not act (nor overwrite the new state).
 */
static bool recreated(struct pvb_device *d)
{
	char path[PATH_LEN * 2];

	if (d->be_state == XenbusStateInitialising ||
	    key_path(d, PVS_SIDE_BACKEND, "state", path, sizeof(path)))
		return false;
	return read_state(d->be, path) == XenbusStateInitialising;
}

static void device_remove(struct pvb_device *d)
{
	disconnect(d);
	if (d->probed && !d->removed)
		d->be->ops->remove(d);
	d->removed = true;
}

static void evaluate(struct pvb_device *d)
{
	const struct pvb_backend_ops *ops = d->be->ops;
	int r;

	if (d->removed || d->foreign || recreated(d))
		return;
	if (d->failed && !online(d)) {
		/* Nothing to hand over: a failed device goes as soon as it is unplugged. */
		pvb_dev_log(d, PVB_LOG_INFO, -1, "failed and offline: releasing the device");
		switch_state(d, XenbusStateClosed);
		device_remove(d);
		return;
	}
	d->fe_state = read_state(d->be, d->fe_state_path);
	if (!d->probed) {
		if (ops->claim && !ops->claim(d)) {
			pvb_dev_log(d, PVB_LOG_INFO, -1, "served by another backend: left alone");
			d->foreign = true;
			return;
		}
		r = ops->probe(d);
		if (r == -ESTALE)
			return; /* the toolstack's event comes next (pvb_dev_begin()) */
		if (r) {
			pvb_dev_fatal(d, r, "probe");
			return;
		}
		d->probed = true;
		if (d->xenbus &&
		    (d->be_state <= XenbusStateInitialising || d->be_state > XenbusStateClosed))
			switch_state(d, XenbusStateInitWait);
	}
	if (!d->prepared && !d->failed) {
		r = ops->prepare(d);
		if (r < 0) {
			pvb_dev_fatal(d, r, "preparing the device");
			return;
		}
		if (r == 0)
			return; /* the hotplug script has not finished */
		d->prepared = true;
	}
	if (!d->xenbus) {
		/* No handshake: serve as soon as everything is there. */
		if (d->prepared && !d->connected && !d->failed) {
			r = ops->connect(d);
			d->resume = false;
			if (r == -ESTALE)
				return;
			if (r) {
				pvb_dev_log(d, PVB_LOG_ERR, -1, "cannot connect: %s", strerror(-r));
				d->failed = true;
				return;
			}
			d->connected = true;
			pvb_dev_log(d, PVB_LOG_INFO, -1, "connected");
		}
		return;
	}

	switch (d->fe_state) {
	case XenbusStateInitialising:
		/* A frontend starting (again): whatever we had is stale. */
		if (!online(d))
			break; /* being removed: do not offer the device again */
		/* A new negotiation: nothing is taken over any more. */
		d->resume = false;
		if (d->connected || d->be_state == XenbusStateClosed ||
		    d->be_state == XenbusStateClosing || d->be_state == XenbusStateConnected) {
			pvb_dev_log(d, PVB_LOG_INFO, -1,
				    "frontend reinitialising: prepare for reconnect");
			disconnect(d);
			d->failed = false;
			switch_state(d, XenbusStateInitWait);
		}
		break;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		if (d->connected || d->failed || !d->prepared)
			break;
		if ((d->be_state == XenbusStateClosing || d->be_state == XenbusStateClosed) &&
		    !online(d))
			break; /* being removed: wait for the frontend to close */
		r = ops->connect(d);
		d->resume = false;
		if (r == -ESTALE)
			break;
		if (r) {
			pvb_dev_fatal(d, r, "connecting to the frontend");
			break;
		}
		d->connected = true;
		pvb_dev_log(d, PVB_LOG_INFO, -1, "connected");
		switch_state(d, XenbusStateConnected);
		break;
	case XenbusStateClosing:
		switch_state(d, XenbusStateClosing);
		break;
	case XenbusStateClosed:
		disconnect(d);
		switch_state(d, XenbusStateClosed);
		if (!online(d)) {
			pvb_dev_log(d, PVB_LOG_INFO, -1, "offline: releasing the device");
			device_remove(d);
		}
		break;
	case XenbusStateUnknown: /* no frontend (yet, or any more) */
		if (d->connected) {
			pvb_dev_log(d, PVB_LOG_WARN, -1, "the frontend vanished");
			disconnect(d);
			switch_state(d, XenbusStateClosed);
		}
		if (!online(d)) {
			pvb_dev_log(d, PVB_LOG_INFO, -1, "offline: releasing the device");
			device_remove(d);
		}
		break;
	default:
		break;
	}
}

static struct pvb_device *find(struct pvb_backend *be, uint32_t domid, uint32_t devid)
{
	for (struct pvb_device *d = be->devs; d; d = d->next)
		if (d->domid == domid && d->devid == devid)
			return d;
	return NULL;
}

static void device_free(struct pvb_device *d)
{
	struct pvb_backend *be = d->be;

	device_remove(d);
	if (d->watching)
		xs_unwatch(be->xs, d->fe_state_path, d->token);
	for (struct pvb_device **pp = &be->devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	be->ndevs--;
	pvb_loop_undefer(be->cfg.loop, d);
	free(d->priv);
	free(d);
}

static void device_new(struct pvb_backend *be, uint32_t domid, uint32_t devid)
{
	char expect[PATH_LEN], *fe = NULL;
	struct pvb_device *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return;
	d->be = be;
	d->domid = domid;
	d->devid = devid;
	d->t = XBT_NULL;
	d->priv = calloc(1, be->ops->priv_size ? be->ops->priv_size : 1);
	r = pvs_devtype_backend_dir(be->dt, be->self, domid, devid, d->bepath, sizeof(d->bepath));
	if (!d->priv || r < 0)
		goto fail;
	/* The toolstack names the frontend; it must be where the schema says. */
	if (pvb_dev_read(d, PVS_SIDE_BACKEND, "frontend", &fe))
		goto fail; /* not written yet: the next event retries */
	r = pvs_devtype_frontend_dir(be->dt, domid, devid, expect, sizeof(expect));
	if (r < 0 || strcmp(fe, expect)) {
		be_log(be, PVB_LOG_ERR, "%s: frontend path %s is not %s: ignoring the device",
		       d->bepath, fe, r < 0 ? "?" : expect);
		goto fail;
	}
	snprintf(d->fepath, sizeof(d->fepath), "%s", fe);
	free(fe);
	fe = NULL;
	if (key_path(d, PVS_SIDE_FRONTEND, "state", d->fe_state_path, sizeof(d->fe_state_path)))
		goto fail;
	snprintf(d->token, sizeof(d->token), "fe:%u:%u", domid, devid);
	d->xenbus = !be->ops->uses_xenbus || be->ops->uses_xenbus(d);
	if (!d->xenbus)
		snprintf(d->fe_state_path, sizeof(d->fe_state_path), "%s", d->fepath);
	{
		char sp[PATH_LEN * 2];

		if (key_path(d, PVS_SIDE_BACKEND, "state", sp, sizeof(sp)))
			goto fail;
		d->be_state = read_state(be, sp); /* a restarted daemon finds its state */
		d->resume = d->be_state == XenbusStateConnected;
	}
	d->next = be->devs;
	be->devs = d;
	be->ndevs++;
	pvb_dev_log(d, PVB_LOG_INFO, -1, "new device (backend state %s)",
		    pvs_state_name(d->be_state));
	if (!xs_watch(be->xs, d->fe_state_path, d->token)) {
		pvb_dev_fatal(d, xs_errno(), "watching the frontend state");
		return;
	}
	d->watching = true; /* the watch fires once now: that evaluates */
	return;
fail:
	free(fe);
	free(d->priv);
	free(d);
}

static bool dir_exists(struct pvb_backend *be, const char *path)
{
	unsigned len;
	char *v = xs_read(be->xs, XBT_NULL, path, &len);

	free(v);
	return v != NULL;
}

/* Compare backend/<type>/ with what we know: new devices, removed devices. */
static void scan(struct pvb_backend *be)
{
	unsigned nd, nv;
	char **doms = xs_directory(be->xs, XBT_NULL, be->root, &nd);

	for (struct pvb_device *d = be->devs, *next; d; d = next) {
		next = d->next;
		if (!dir_exists(be, d->bepath)) {
			pvb_dev_log(d, PVB_LOG_INFO, -1, "backend directory removed");
			device_free(d);
		}
	}
	for (unsigned i = 0; doms && i < nd; i++) {
		char path[PATH_LEN * 2], *end;
		unsigned long domid = strtoul(doms[i], &end, 10);
		char **devs;

		if (*end || domid >= 0x7ff0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", be->root, doms[i]);
		devs = xs_directory(be->xs, XBT_NULL, path, &nv);
		for (unsigned j = 0; devs && j < nv; j++) {
			unsigned long devid = strtoul(devs[j], &end, 10);

			if (*end || devid > UINT32_MAX)
				continue;
			if (!find(be, (uint32_t)domid, (uint32_t)devid))
				device_new(be, (uint32_t)domid, (uint32_t)devid);
		}
		free(devs);
	}
	free(doms);
}

static void backend_event(struct pvb_backend *be, const char *path)
{
	size_t rl = strlen(be->root);
	unsigned domid, devid;
	int n = 0;
	struct pvb_device *d;
	const char *key;

	if (strncmp(path, be->root, rl) || (path[rl] != '/' && path[rl] != 0)) {
		scan(be);
		return;
	}
	if (path[rl] == 0 || sscanf(path + rl, "/%u/%u%n", &domid, &devid, &n) != 2) {
		scan(be);
		return;
	}
	key = path + rl + n;
	d = find(be, domid, devid);
	if (!d || !*key) {
		scan(be); /* a device appeared or went */
		return;
	}
	if (*key != '/' || d->foreign)
		return;
	key++;
	if (!strcmp(key, "state")) {
		int s = read_state(be, path);

		if (s == XenbusStateInitialising && s != d->be_state) {
			/* The toolstack added the device again over the old one. */
			pvb_dev_log(d, PVB_LOG_INFO, -1, "toolstack re-created the device");
			device_free(d);
			device_new(be, domid, devid);
			return;
		}
		if (s != d->be_state && s != XenbusStateUnknown) {
			pvb_dev_log(d, PVB_LOG_INFO, -1, "toolstack set state %s",
				    pvs_state_name(s));
			d->be_state = s;
			/* Removal of a device whose frontend is gone already: answer now. */
			if (s == XenbusStateClosing && (d->fe_state == XenbusStateClosed ||
							d->fe_state == XenbusStateUnknown)) {
				disconnect(d);
				switch_state(d, XenbusStateClosed);
			}
		}
	}
	if (d->removed)
		return;
	if (be->ops->changed)
		be->ops->changed(d, key);
	if (!d->prepared || !strcmp(key, "state") || !strcmp(key, "online"))
		evaluate(d);
}

static void xs_ready(void *opaque, uint32_t events)
{
	struct pvb_backend *be = opaque;
	char **w;

	while ((w = xs_check_watch(be->xs))) {
		const char *path = w[XS_WATCH_PATH], *token = w[XS_WATCH_TOKEN];
		unsigned domid, devid;

		if (!strcmp(token, "root")) {
			backend_event(be, path);
		} else if (sscanf(token, "fe:%u:%u", &domid, &devid) == 2) {
			struct pvb_device *d = find(be, domid, devid);

			if (d)
				evaluate(d);
		}
		free(w);
	}
}

int pvb_backend_new(const struct pvb_backend_ops *ops, const struct pvb_backend_config *cfg,
		    struct pvb_backend **out)
{
	struct pvb_backend *be = calloc(1, sizeof(*be));
	int r;

	if (!be)
		return -ENOMEM;
	be->ops = ops;
	be->cfg = *cfg;
	r = pvs_schema_type(cfg->schema, ops->type, &be->dt);
	if (r) {
		free(be);
		return r;
	}
	*out = be;
	return 0;
}

int pvb_backend_start(struct pvb_backend *be)
{
	char dir[PATH_LEN];
	int r, self = pvhv_domid(be->cfg.hv);

	if (self < 0)
		return self;
	be->self = (uint32_t)self;
	/* backend/<type>: the device directory template without "/<domid>/<devid>". */
	r = pvs_devtype_backend_dir(be->dt, be->self, 0, 0, dir, sizeof(dir));
	if (r < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(dir, '/');

		if (!slash)
			return -EINVAL;
		*slash = 0;
	}
	snprintf(be->root, sizeof(be->root), "%s", dir);
	r = pvhv_xs_open(be->cfg.hv, &be->xs);
	if (r)
		return r;
	if (!xs_watch(be->xs, be->root, "root"))
		return xs_errno();
	r = pvb_watch_add(be->cfg.loop, xs_fileno(be->xs), EPOLLIN, xs_ready, be, &be->xsw);
	if (r)
		return r;
	be_log(be, PVB_LOG_INFO, "serving %s devices under %s", be->ops->type, be->root);
	return 0;
}

void pvb_backend_free(struct pvb_backend *be)
{
	if (!be)
		return;
	/* Stop dataplanes but leave xenstore alone: a restarted daemon resumes. */
	be->leaving = true;
	while (be->devs) {
		struct pvb_device *d = be->devs;

		disconnect(d);
		if (d->probed && !d->removed)
			be->ops->remove(d);
		d->removed = true;
		device_free(d);
	}
	if (be->xsw)
		pvb_watch_del(be->xsw);
	if (be->xs)
		xs_close(be->xs);
	free(be);
}

struct json_object *pvb_backend_stats(struct pvb_backend *be)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "type", json_object_new_string(be->ops->type));
	for (struct pvb_device *d = be->devs; d; d = d->next) {
		json_object *dev;

		if (d->foreign)
			continue;
		dev = json_object_new_object();

		json_object_object_add(dev, "domid", json_object_new_int((int)d->domid));
		json_object_object_add(dev, "devid", json_object_new_int((int)d->devid));
		json_object_object_add(dev, "state",
				       json_object_new_string(pvs_state_name(d->be_state) ?: "?"));
		json_object_object_add(
			dev, "frontend_state",
			json_object_new_string(pvs_state_name(d->fe_state) ?: "Unknown"));
		json_object_object_add(dev, "connected", json_object_new_boolean(d->connected));
		if (be->ops->stats && d->connected)
			be->ops->stats(d, dev);
		json_object_array_add(arr, dev);
	}
	json_object_object_add(o, "devices", arr);
	return o;
}
