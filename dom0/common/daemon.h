/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every pvsplit daemon's main does, once: logging with the device's
 * identity, the hypervisor, the schema, the event loop and event channels,
 * the backends, the control socket with "stats", sd_notify, the run.
 */
#ifndef PVSPLIT_DAEMON_H
#define PVSPLIT_DAEMON_H

#include <stdbool.h>

#include "core/backend.h"
#include "core/ctl.h"
#include "core/evtchn.h"
#include "core/loop.h"

#define PVD_MAX_BACKENDS 4

struct pvd {
	const char *name;
	int verbosity; /* PVB_LOG_* */
	struct pvb_loop *loop;
	struct pvhv *hv;
	struct pvs_schema *schema;
	struct pvb_evtchn *ev;
	struct pvb_ctl *ctl;
	struct pvb_backend *be[PVD_MAX_BACKENDS];
	int nbe;
	bool sim;
	char base[256]; /* /run/pvsplit, or the sim's directory */
};

/* One log line on standard error, "NAME: message". */
void pvd_log(const struct pvd *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Schema, hypervisor, loop (SIGTERM/SIGINT stop it), event channels.  Logs and returns -errno. */
int pvd_init(struct pvd *d, const char *name, const char *schema_dir);
/* A directory of the daemon's (created): <base>/<sub> unless path is given. */
int pvd_state_dir(struct pvd *d, const char *path, const char *sub, char *out, size_t len);
/* Serve a device type; opaque is the engine's configuration.  Logs and returns -errno. */
int pvd_add_backend(struct pvd *d, const struct pvb_backend_ops *ops, void *opaque);
/* Control socket (default <base>/<name>.sock), READY=1, run until signalled.  0 or -errno. */
int pvd_run(struct pvd *d, const char *ctl_path);
void pvd_fini(struct pvd *d);

#endif
