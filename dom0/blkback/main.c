// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-blkback: the userspace block backend daemon.  A thin main: parse
 * options, wire libpvsplit-hv, the schema, the event loop, the vbd backend
 * and the control socket together, log what the libraries report.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "core/backend.h"
#include "core/ctl.h"
#include "core/evtchn.h"
#include "core/loop.h"
#include "block/vbd.h"

#define NAME "pvsplit-blkback"

static int verbosity = PVB_LOG_INFO;

static void logv(int level, const char *fmt, va_list ap)
{
	if (level > verbosity)
		return;
	fprintf(stderr, "%s: ", NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void logf_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logv(level, fmt, ap);
	va_end(ap);
}

/* One line per event, naming domain, device and queue. */
static void on_log(void *opaque, int level, const struct pvb_device *d, int queue, const char *msg)
{
	if (!d)
		logf_(level, "%s", msg);
	else if (queue < 0)
		logf_(level, "dom%u %s %u: %s", pvb_dev_domid(d), pvb_dev_type(d), pvb_dev_devid(d),
		      msg);
	else
		logf_(level, "dom%u %s %u queue %d: %s", pvb_dev_domid(d), pvb_dev_type(d),
		      pvb_dev_devid(d), queue, msg);
}

static json_object *cmd_stats(void *opaque, const char *args)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(o, "daemon", json_object_new_string(NAME));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_array_add(arr, pvb_backend_stats(opaque));
	json_object_object_add(o, "backends", arr);
	return o;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n\n"
		"Serve the vbd devices of this domain's backend/vbd/ in xenstore.\n\n"
		"  --ctl PATH            control socket (default: /run/pvsplit/" NAME ".sock,\n"
		"                        or $PVSPLIT_SIM_DIR/" NAME ".sock on the sim)\n"
		"  --max-queues N        multi-queue-max-queues (default 4, 1 disables)\n"
		"  --max-ring-order N    max-ring-page-order (default 4, 0 disables)\n"
		"  --max-indirect N      feature-max-indirect-segments (default 256, 0 disables)\n"
		"  --no-persistent       do not offer feature-persistent\n"
		"  --persistent-max N    persistent grants kept per queue (default 1056)\n"
		"  --resize-interval MS  how often to look for a grown backing store (default "
		"1000, 0 off)\n"
		"  --state-dir DIR       ring journals that survive a restart (default "
		"/run/pvsplit/blkback)\n"
		"  --schema-dir DIR      xenstore schema (default: $PVSPLIT_SCHEMA_DIR or the "
		"installed one)\n"
		"  -v, --verbose         log debug messages\n"
		"  -q, --quiet           log errors and warnings only\n"
		"  -h, --help            this text\n");
}

static int parse_u32(const char *opt, const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > max) {
		fprintf(stderr, NAME ": --%s %s: expected a number from 0 to %u\n", opt, s, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_CTL = 256, O_MQ, O_RO, O_IND, O_NOPERS, O_PMAX, O_RESIZE, O_SCHEMA, O_STATE };
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, O_CTL },
		{ "max-queues", required_argument, NULL, O_MQ },
		{ "max-ring-order", required_argument, NULL, O_RO },
		{ "max-indirect", required_argument, NULL, O_IND },
		{ "no-persistent", no_argument, NULL, O_NOPERS },
		{ "persistent-max", required_argument, NULL, O_PMAX },
		{ "resize-interval", required_argument, NULL, O_RESIZE },
		{ "schema-dir", required_argument, NULL, O_SCHEMA },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vbd_config vc;
	char ctl_path[256] = "", state_dir[256] = "", *schema_err = NULL;
	const char *schema_dir = NULL;
	struct pvb_loop *loop = NULL;
	struct pvhv *hv = NULL;
	struct pvs_schema *schema = NULL;
	struct pvb_evtchn *ev = NULL;
	struct pvb_backend *be = NULL;
	struct pvb_ctl *ctl = NULL;
	int c, r, status = 1;

	vbd_config_default(&vc);
	while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (c) {
		case O_CTL:
			snprintf(ctl_path, sizeof(ctl_path), "%s", optarg);
			break;
		case O_MQ:
			if (parse_u32("max-queues", optarg, 16, &vc.max_queues) || !vc.max_queues)
				return 2;
			break;
		case O_RO:
			if (parse_u32("max-ring-order", optarg, 4, &vc.max_ring_order))
				return 2;
			break;
		case O_IND:
			if (parse_u32("max-indirect", optarg, 4096, &vc.max_indirect))
				return 2;
			break;
		case O_NOPERS:
			vc.persistent = false;
			break;
		case O_PMAX:
			if (parse_u32("persistent-max", optarg, 1u << 20, &vc.persistent_max))
				return 2;
			break;
		case O_RESIZE:
			if (parse_u32("resize-interval", optarg, 3600000, &vc.resize_ms))
				return 2;
			break;
		case O_SCHEMA:
			schema_dir = optarg;
			break;
		case O_STATE:
			snprintf(state_dir, sizeof(state_dir), "%s", optarg);
			break;
		case 'v':
			verbosity = PVB_LOG_DEBUG;
			break;
		case 'q':
			verbosity = PVB_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	r = pvs_schema_load(&schema, schema_dir, &schema_err);
	if (r) {
		logf_(PVB_LOG_ERR, "cannot load the xenstore schema: %s",
		      schema_err ? schema_err : strerror(-r));
		free(schema_err);
		return 1;
	}
	r = pvhv_open(&hv, NULL);
	if (r) {
		logf_(PVB_LOG_ERR,
		      "cannot reach the hypervisor: %s (no /dev/xen; for the sim set "
		      "PVSPLIT_SIM_DIR)",
		      strerror(-r));
		goto out;
	}
	{
		const char *sim = getenv("PVSPLIT_SIM_DIR");
		bool on_sim = !strcmp(pvhv_provider(hv), "sim") && sim;
		const char *base = on_sim ? sim : "/run/pvsplit";

		if (!on_sim)
			mkdir(base, 0755);
		if (!ctl_path[0])
			snprintf(ctl_path, sizeof(ctl_path), "%s/" NAME ".sock", base);
		if (!state_dir[0])
			snprintf(state_dir, sizeof(state_dir), "%s/blkback", base);
		if (mkdir(state_dir, 0700) && errno != EEXIST) {
			logf_(PVB_LOG_ERR, "state directory %s: %s", state_dir, strerror(errno));
			goto out;
		}
		vc.state_dir = state_dir;
	}
	r = pvb_loop_new(&loop);
	if (!r)
		r = pvb_loop_stop_on_signal(loop, SIGTERM);
	if (!r)
		r = pvb_loop_stop_on_signal(loop, SIGINT);
	if (!r)
		r = pvb_evtchn_new(hv, loop, &ev);
	if (r) {
		logf_(PVB_LOG_ERR, "event loop / event channels: %s", strerror(-r));
		goto out;
	}
	{
		struct pvb_backend_config cfg = { .loop = loop,
						  .hv = hv,
						  .evtchn = ev,
						  .schema = schema,
						  .log = on_log,
						  .opaque = &vc };

		r = pvb_backend_new(&vbd_ops, &cfg, &be);
		if (!r)
			r = pvb_backend_start(be);
		if (r) {
			logf_(PVB_LOG_ERR, "cannot serve vbd devices: %s", strerror(-r));
			goto out;
		}
	}
	r = pvb_ctl_new(loop, ctl_path, &ctl);
	if (!r)
		r = pvb_ctl_add(ctl, "stats", cmd_stats, be);
	if (r) {
		logf_(PVB_LOG_ERR, "control socket %s: %s", ctl_path, strerror(-r));
		goto out;
	}
	logf_(PVB_LOG_INFO, "ready (%s hypervisor, control socket %s)", pvhv_provider(hv),
	      ctl_path);
	sd_notify(0, "READY=1");
	r = pvb_loop_run(loop);
	sd_notify(0, "STOPPING=1");
	status = r ? 1 : 0;
	if (r)
		logf_(PVB_LOG_ERR, "event loop: %s", strerror(-r));
out:
	pvb_ctl_free(ctl);
	pvb_backend_free(be);
	pvb_evtchn_free(ev);
	pvb_loop_free(loop);
	pvhv_close(hv);
	pvs_schema_free(schema);
	return status;
}
