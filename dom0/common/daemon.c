// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"

static void vlogf(const struct pvd *d, int level, const char *fmt, va_list ap)
{
	if (level > d->verbosity)
		return;
	fprintf(stderr, "%s: ", d->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pvd_log(const struct pvd *d, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogf(d, level, fmt, ap);
	va_end(ap);
}

/* One line per event, naming domain, device and queue. */
static void on_log(void *opaque, int level, const struct pvb_device *dev, int queue,
		   const char *msg)
{
	const struct pvd *d = opaque;

	if (!dev)
		pvd_log(d, level, "%s", msg);
	else if (queue < 0)
		pvd_log(d, level, "dom%u %s %u: %s", pvb_dev_domid(dev), pvb_dev_type(dev),
			pvb_dev_devid(dev), msg);
	else
		pvd_log(d, level, "dom%u %s %u queue %d: %s", pvb_dev_domid(dev), pvb_dev_type(dev),
			pvb_dev_devid(dev), queue, msg);
}

/* /run/pvsplit, for the default paths under it (the sim's directory exists). */
static void make_base(const struct pvd *d)
{
	if (!d->sim)
		mkdir(d->base, 0755);
}

int pvd_init(struct pvd *d, const char *name, const char *schema_dir)
{
	char *err = NULL;
	const char *sim = getenv("PVSPLIT_SIM_DIR");
	struct rlimit rl;
	int r;

	d->name = name;
	signal(SIGPIPE, SIG_IGN);
	/* Many guests, one daemon: as many descriptors as we may have. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	r = pvs_schema_load(&d->schema, schema_dir, &err);
	if (r) {
		pvd_log(d, PVB_LOG_ERR, "cannot load the xenstore schema: %s",
			err ? err : strerror(-r));
		free(err);
		return r;
	}
	r = pvhv_open(&d->hv, NULL);
	if (r) {
		pvd_log(d, PVB_LOG_ERR,
			"cannot reach the hypervisor: %s (no /dev/xen; for the sim set "
			"PVSPLIT_SIM_DIR)",
			strerror(-r));
		return r;
	}
	d->sim = !strcmp(pvhv_provider(d->hv), "sim") && sim;
	/* Made only for a default path under it (make_base). */
	snprintf(d->base, sizeof(d->base), "%s", d->sim ? sim : "/run/pvsplit");
	r = pvb_loop_new(&d->loop);
	if (!r)
		r = pvb_loop_stop_on_signal(d->loop, SIGTERM);
	if (!r)
		r = pvb_loop_stop_on_signal(d->loop, SIGINT);
	if (!r)
		r = pvb_evtchn_new(d->hv, d->loop, &d->ev);
	if (r)
		pvd_log(d, PVB_LOG_ERR, "event loop / event channels: %s", strerror(-r));
	return r;
}

int pvd_state_dir(struct pvd *d, const char *path, const char *sub, char *out, size_t len)
{
	if (path && *path) {
		snprintf(out, len, "%s", path);
	} else {
		make_base(d);
		snprintf(out, len, "%s/%s", d->base, sub);
	}
	if (mkdir(out, 0700) && errno != EEXIST) {
		pvd_log(d, PVB_LOG_ERR, "directory %s: %s", out, strerror(errno));
		return -errno;
	}
	return 0;
}

int pvd_add_backend(struct pvd *d, const struct pvb_backend_ops *ops, void *opaque)
{
	struct pvb_backend_config cfg = { .loop = d->loop,
					  .hv = d->hv,
					  .evtchn = d->ev,
					  .schema = d->schema,
					  .log = on_log,
					  .log_opaque = d,
					  .opaque = opaque };
	struct pvb_backend *be;
	int r;

	if (d->nbe == PVD_MAX_BACKENDS)
		return -ENOSPC;
	r = pvb_backend_new(ops, &cfg, &be);
	if (!r)
		d->be[d->nbe++] = be;
	if (!r)
		r = pvb_backend_start(be);
	if (r)
		pvd_log(d, PVB_LOG_ERR, "cannot serve %s devices: %s", ops->type, strerror(-r));
	return r;
}

/* The loop's busy polling: mode (off, fixed, adaptive), window, bound. */
static json_object *poll_stats(const struct pvb_loop *l)
{
	json_object *o = json_object_new_object();
	struct pvb_poll_info pi;

	pvb_loop_poll_info(l, &pi);
	json_object_object_add(o, "mode",
			       json_object_new_string(pi.adaptive ? "adaptive"
						      : pi.max_ns ? "fixed"
								  : "off"));
	json_object_object_add(o, "window_us",
			       json_object_new_int64((int64_t)(pi.window_ns / 1000)));
	json_object_object_add(o, "max_us", json_object_new_int64((int64_t)(pi.max_ns / 1000)));
	json_object_object_add(o, "grows", json_object_new_int64((int64_t)pi.grows));
	json_object_object_add(o, "shrinks", json_object_new_int64((int64_t)pi.shrinks));
	json_object_object_add(o, "clock_reads", json_object_new_int64((int64_t)pi.clock_reads));
	json_object_object_add(o, "preempts", json_object_new_int64((int64_t)pi.preempts));
	json_object_object_add(o, "held", json_object_new_boolean(pi.held));
	return o;
}

/* Where the loop sleeps: its io_uring (the event channel read there too) or epoll_wait(). */
static json_object *wait_stats(const struct pvb_loop *l)
{
	json_object *o = json_object_new_object();
	struct pvb_wait_info wi;

	pvb_loop_wait_info(l, &wi);
	json_object_object_add(
		o, "mode",
		json_object_new_string(wi.mode == PVB_WAIT_URING ? "io_uring" : "epoll"));
	json_object_object_add(o, "sleeps", json_object_new_int64((int64_t)wi.sleeps));
	json_object_object_add(o, "ring_ops", json_object_new_int64((int64_t)wi.ring_ops));
	json_object_object_add(o, "fallbacks", json_object_new_int64((int64_t)wi.fallbacks));
	return o;
}

static json_object *cmd_stats(void *opaque, const char *args)
{
	struct pvd *d = opaque;
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "daemon", json_object_new_string(d->name));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	for (int i = 0; i < d->nbe; i++)
		json_object_array_add(arr, pvb_backend_stats(d->be[i]));
	json_object_object_add(o, "backends", arr);
	json_object_object_add(o, "polling", poll_stats(d->loop));
	json_object_object_add(o, "wait", wait_stats(d->loop));
	return o;
}

int pvd_run(struct pvd *d, const char *ctl_path)
{
	char path[300];
	int r;

	if (ctl_path && *ctl_path) {
		snprintf(path, sizeof(path), "%s", ctl_path);
	} else {
		make_base(d);
		snprintf(path, sizeof(path), "%s/%s.sock", d->base, d->name);
	}
	r = pvb_ctl_new(d->loop, path, &d->ctl);
	if (!r)
		r = pvb_ctl_add(d->ctl, "stats", cmd_stats, d);
	if (r) {
		pvd_log(d, PVB_LOG_ERR, "control socket %s: %s", path, strerror(-r));
		return r;
	}
	pvd_log(d, PVB_LOG_INFO, "ready (%s hypervisor, control socket %s)", pvhv_provider(d->hv),
		path);
	sd_notify(0, "READY=1");
	r = pvb_loop_run(d->loop);
	sd_notify(0, "STOPPING=1");
	if (r)
		pvd_log(d, PVB_LOG_ERR, "event loop: %s", strerror(-r));
	return r;
}

void pvd_fini(struct pvd *d)
{
	pvb_ctl_free(d->ctl);
	for (int i = 0; i < d->nbe; i++)
		pvb_backend_free(d->be[i]);
	pvb_evtchn_free(d->ev);
	pvb_loop_free(d->loop);
	pvhv_close(d->hv);
	pvs_schema_free(d->schema);
}
