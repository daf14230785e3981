/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-back: the control part every pvsplit backend shares.
 *
 * A backend serves one device type (vbd, vif, console).  The framework
 * finds its devices by watching backend/<type>/ in xenstore (paths from the
 * xenstore schema), runs the xenbus state machine for each, honours the
 * toolstack's hotplug handshake and online/removal, and calls the engine's
 * ops at the right moments.  Engines never watch xenstore: connect() reads
 * what it needs and hands plain values to the dataplane.
 *
 * State machine, as Linux's xen-blkback and the xenbus protocol want it:
 *   new device        -> probe() publishes features -> InitWait
 *   prepare() ready   (the hotplug script has done its part)
 *   frontend Initialised or Connected (skipped states are fine)
 *                     -> connect() -> Connected
 *   frontend Closing  -> Closing (requests in flight still complete)
 *   frontend Closed   -> disconnect() -> Closed; with online=0 the device
 *                        is removed (remove()), as the toolstack asked
 *   frontend Initialising after Closed -> InitWait again (reconnect)
 *   backend directory removed -> disconnect(), remove(), forget it
 * A daemon that starts while devices exist picks them up where they are:
 * a Connected pair is reconnected without a state change.
 *
 * Errors: engine ops return -errno; the framework logs once (through the
 * daemon's log callback, naming domain and device), writes the error node
 * as the kernel backends do (error/<backend path>/error) and closes only
 * that device.  No global state; nothing prints.
 */
#ifndef PVSPLIT_BACK_BACKEND_H
#define PVSPLIT_BACK_BACKEND_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <xenstore.h>
#include <xen/io/xenbus.h>

#include "pvsplit/hv.h"
#include "pvsplit/schema.h"

#include "loop.h"

struct json_object;
struct pvb_backend;
struct pvb_device;

enum pvb_log_level { PVB_LOG_ERR = 3, PVB_LOG_WARN = 4, PVB_LOG_INFO = 6, PVB_LOG_DEBUG = 7 };

struct pvb_backend_ops {
	const char *type; /* schema device type, e.g. "vbd" */
	size_t priv_size; /* zeroed per-device state for the engine */
	/*
	 * Is this device ours?  false leaves it alone entirely (another backend,
	 * e.g. QEMU, serves it); nothing is written.  NULL: every device is.
	 */
	bool (*claim)(struct pvb_device *d);
	/* Publish what this backend supports (before InitWait).  0 or -errno. */
	int (*probe)(struct pvb_device *d);
	/*
	 * Open what backs the device once the toolstack is done (hotplug keys
	 * present).  1 ready, 0 not yet (called again when a backend key
	 * changes), -errno failed.
	 */
	int (*prepare)(struct pvb_device *d);
	/* The frontend published its side: read it, start the dataplane.  0 or -errno. */
	int (*connect)(struct pvb_device *d);
	/* Stop the dataplane; drop every grant and port.  Idempotent. */
	void (*disconnect)(struct pvb_device *d);
	/* Release what probe()/prepare() took.  Called once. */
	void (*remove)(struct pvb_device *d);
	/* A key of the backend directory changed while the device lives.  May be NULL. */
	void (*changed)(struct pvb_device *d, const char *key);
	/* Add this device's counters to o.  May be NULL. */
	void (*stats)(struct pvb_device *d, struct json_object *o);
	/*
	 * false for a device without the xenbus handshake (a primary console:
	 * the domain builder made its ring, the guest never writes a state).
	 * Such a device is connected as soon as prepare() is ready, its
	 * frontend directory is watched whole, and the backend state is left
	 * to the toolstack.  NULL: every device uses xenbus.
	 */
	bool (*uses_xenbus)(struct pvb_device *d);
};

typedef void (*pvb_log_fn)(void *opaque, int level, const struct pvb_device *d, int queue,
			   const char *msg);

struct pvb_evtchn;

struct pvb_backend_config {
	struct pvb_loop *loop;
	struct pvhv *hv;
	struct pvb_evtchn *evtchn; /* the daemon's event channels (evtchn.h) */
	const struct pvs_schema *schema;
	pvb_log_fn log; /* may be NULL: nothing is logged */
	void *log_opaque;
	void *opaque; /* the daemon's, see pvb_backend_opaque() */
};

/* 0 and *out, -ENOENT when the schema lacks ops->type, -ENOMEM. */
int pvb_backend_new(const struct pvb_backend_ops *ops, const struct pvb_backend_config *cfg,
		    struct pvb_backend **out);
/* Open xenstore, watch backend/<type>, take over existing devices.  0 or -errno. */
int pvb_backend_start(struct pvb_backend *be);
/*
 * Stop serving: every dataplane is stopped, xenstore is left as it is (so
 * that a restarted daemon picks the devices up).  Frees be.
 */
void pvb_backend_free(struct pvb_backend *be);
void *pvb_backend_opaque(const struct pvb_backend *be);
/* Every device's stats: {"type": ..., "devices": [{"domid":..,"devid":..,...}]}. */
struct json_object *pvb_backend_stats(struct pvb_backend *be);
/* Number of devices known (for tests and stats). */
unsigned pvb_backend_ndevices(const struct pvb_backend *be);

/* ---- for engines ---- */

uint32_t pvb_dev_domid(const struct pvb_device *d);
uint32_t pvb_dev_devid(const struct pvb_device *d);
const char *pvb_dev_type(const struct pvb_device *d);
void *pvb_dev_priv(const struct pvb_device *d);
const char *pvb_dev_bepath(const struct pvb_device *d);
const char *pvb_dev_fepath(const struct pvb_device *d);
struct pvhv *pvb_dev_hv(const struct pvb_device *d);
struct pvb_loop *pvb_dev_loop(const struct pvb_device *d);
struct pvb_evtchn *pvb_dev_evtchn(const struct pvb_device *d);
struct pvb_backend *pvb_dev_backend(const struct pvb_device *d);
/*
 * True during the first connect() after the daemon started and found this
 * device Connected: the engine takes the live rings over (and its journal).
 */
bool pvb_dev_resuming(const struct pvb_device *d);
/*
 * True while pvb_backend_free() disconnects the device: the daemon stops and
 * a successor takes the live rings over, so work not started is left to it.
 */
bool pvb_dev_leaving(const struct pvb_device *d);
/* The backend state we last wrote, and the frontend's last seen. */
int pvb_dev_state(const struct pvb_device *d);
int pvb_dev_frontend_state(const struct pvb_device *d);

/*
 * Read a key of one side of the device (the key must be in the schema).
 * 0 and *val (malloc'd, NUL-terminated), -ENOENT when absent, -EINVAL not
 * in the schema, other -errno.
 */
int pvb_dev_read(struct pvb_device *d, enum pvs_side side, const char *key, char **val);
/* Read any xenstore path (e.g. the domain's name): as pvb_dev_read(). */
int pvb_dev_read_path(struct pvb_device *d, const char *path, char **val);
/* Read an unsigned decimal key: 0, -ENOENT absent, -EINVAL malformed, -ERANGE > max. */
int pvb_dev_read_uint(struct pvb_device *d, enum pvs_side side, const char *key, uint64_t max,
		      uint64_t *out);
/* Write / remove a key of the backend side (in the open transaction, if any). */
int pvb_dev_write(struct pvb_device *d, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int pvb_dev_rm(struct pvb_device *d, const char *key);
/* Write a key of the frontend side (as xenconsoled writes console/tty). */
int pvb_dev_write_frontend(struct pvb_device *d, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * Group writes in one xenstore transaction: begin, writes, commit.
 * pvb_dev_commit() returns -EAGAIN when the caller must redo the writes.
 * pvb_dev_begin() returns -ESTALE (and no transaction) when the backend
 * state is not the one this device last wrote: the toolstack removed or
 * re-created the device, or wrote a state, and its watch event is still to
 * come; nothing may be written until then.
 */
int pvb_dev_begin(struct pvb_device *d);
int pvb_dev_commit(struct pvb_device *d, bool abort);
/*
 * writes(d, arg) in such a transaction, begun again while the commit (or
 * the begin) says -EAGAIN, 16 times at most.  0, -ESTALE, writes()'s
 * -errno (the transaction aborted), or -EAGAIN.
 */
int pvb_dev_transact(struct pvb_device *d, int (*writes)(struct pvb_device *d, void *arg),
		     void *arg);

/*
 * Re-announce Connected so that the frontend rereads (e.g. a resize).  0,
 * -ENOTCONN (not Connected), -ESTALE (the toolstack changed or removed the
 * state meanwhile: not written), or -errno.
 */
int pvb_dev_reannounce(struct pvb_device *d);

/* Log through the daemon, naming the device (and queue when >= 0). */
void pvb_dev_log(const struct pvb_device *d, int level, int queue, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * A fatal error on this device only: log, write error/<bepath>/error,
 * disconnect, switch to Closing.  The daemon and other devices go on.
 */
void pvb_dev_fatal(struct pvb_device *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
