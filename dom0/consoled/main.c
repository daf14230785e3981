// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-consoled: a drop-in for xenconsoled that also serves secondary
 * consoles and channels.  A thin main: configuration (file, then command
 * line), then dom0/common and the console engine do the work.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/daemon.h"
#include "console/consback.h"

#define NAME	   "pvsplit-consoled"
#define DEF_CONFIG "/etc/pvsplit/consoled.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [--config FILE] [OPTIONS]\n\n"
		"Serve the primary console of every guest (as xenconsoled), and the\n"
		"secondary consoles and channels of backend/console in xenstore.\n"
		"Settings come from FILE (default " DEF_CONFIG " if present), then\n"
		"from the options, which have the same names:\n\n"
		"  --log-dir DIR|none     guest-<name>.log files (default: none)\n"
		"  --timestamps yes|no    timestamp each logged line (default no)\n"
		"  --rotate-size SIZE     rotate a log at SIZE (K/M/G; default 0: never)\n"
		"  --rotate-keep N        rotated logs kept (default 5)\n"
		"  --replay SIZE          bytes shown to a client that attaches late (default "
		"16K)\n"
		"  --rate-limit off|N/MS  at most N events per MS per console (default off;\n"
		"                         xenconsoled's fixed limit is 30/200)\n"
		"  --buffer-limit SIZE    output buffered for a slow client when console/limit is\n"
		"                         absent (default 1M); the oldest bytes go first\n"
		"  --serve-ioemu yes|no   also serve consoles of type ioemu (default no)\n"
		"  --control-socket PATH  (default /run/pvsplit/" NAME ".sock)\n"
		"  --wait io_uring|epoll  where the daemon sleeps: in an io_uring that also reads\n"
		"                         the event channel (default), or in epoll_wait()\n"
		"  --schema-dir DIR       xenstore schema\n"
		"  -v, --verbose / -q, --quiet\n");
}

static int load_file(struct consd_config *c, const char *path, bool must)
{
	char why[300], *buf;
	FILE *f = fopen(path, "r");
	size_t len;
	int r;

	if (!f) {
		if (!must && errno == ENOENT)
			return 0;
		fprintf(stderr, NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(1 << 16);
	len = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
	fclose(f);
	if (!buf)
		return -1;
	r = consd_config_parse(c, buf, len, why, sizeof(why));
	free(buf);
	if (r) {
		fprintf(stderr, NAME ": %s: %s\n", path, why);
		return -1;
	}
	return 0;
}

static void on_hup(void *opaque)
{
	consd_reopen_logs(opaque);
}

int main(int argc, char **argv)
{
	enum { O_CONFIG = 256, O_SCHEMA, O_SETTING };
	static const char *const settings[] = { "log-dir",	"timestamps",  "rotate-size",
						"rotate-keep",	"replay",      "rate-limit",
						"buffer-limit", "serve-ioemu", "control-socket",
						"wait" };
	struct option opts[32];
	struct pvd d = { .verbosity = PVB_LOG_INFO };
	struct consd_config cfg;
	struct consd *cd = NULL;
	const char *config = NULL, *schema_dir = NULL;
	char why[300];
	int n = 0, c, r, idx;

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		opts[n++] = (struct option){ settings[i], required_argument, NULL, O_SETTING };
	opts[n++] = (struct option){ "config", required_argument, NULL, O_CONFIG };
	opts[n++] = (struct option){ "schema-dir", required_argument, NULL, O_SCHEMA };
	opts[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	opts[n++] = (struct option){ "quiet", no_argument, NULL, 'q' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };

	/* The file first (its name may come from the command line), the options over it. */
	consd_config_default(&cfg);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (load_file(&cfg, config ? config : DEF_CONFIG, config != NULL))
		return 2;
	while ((c = getopt_long(argc, argv, "vqh", opts, &idx)) != -1) {
		switch (c) {
		case O_SETTING:
			if (consd_config_set(&cfg, opts[idx].name, optarg, why, sizeof(why))) {
				fprintf(stderr, NAME ": --%s\n", why);
				return 2;
			}
			break;
		case O_CONFIG:
			break;
		case O_SCHEMA:
			schema_dir = optarg;
			break;
		case 'v':
			d.verbosity = PVB_LOG_DEBUG;
			break;
		case 'q':
			d.verbosity = PVB_LOG_WARN;
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
	if (cfg.log_dir[0] && mkdir(cfg.log_dir, 0755) && errno != EEXIST) {
		fprintf(stderr, NAME ": log directory %s: %s\n", cfg.log_dir, strerror(errno));
		return 1;
	}
	r = pvd_init(&d, NAME, schema_dir);
	if (!r) {
		int w = pvb_loop_set_wait(d.loop, cfg.wait);

		/* The kernel's refusal is not fatal: the loop sleeps in epoll_wait(). */
		if (w)
			pvd_log(&d, PVB_LOG_WARN, "wait io_uring: %s: sleeping in epoll_wait()",
				strerror(-w));
	}
	if (!r)
		r = consd_new(&cfg, d.loop, &cd);
	if (!r)
		r = pvb_loop_on_signal(d.loop, SIGHUP, on_hup, cd);
	if (!r)
		r = pvd_add_backend(&d, &console_ops, cd);
	if (!r)
		r = pvd_run(&d, cfg.ctl);
	pvd_fini(&d);
	consd_free(cd);
	return r ? 1 : 0;
}
