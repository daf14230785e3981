// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-blkback: the userspace block backend daemon.  A thin main: its
 * options, then dom0/common and the vbd engine do the work.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/vbd.h"
#include "common/daemon.h"

#define NAME "pvsplit-blkback"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " NAME " [OPTIONS]\n\n"
		"Serve the vbd devices of this domain's backend/vbd/ in xenstore.\n\n"
		"  --ctl PATH            control socket (default: /run/pvsplit/" NAME ".sock,\n"
		"                        or $PVSPLIT_SIM_DIR/" NAME ".sock on the sim)\n"
		"  --state-dir DIR       ring journals that survive a restart (default "
		"/run/pvsplit/blkback)\n"
		"  --max-queues N        multi-queue-max-queues (default 4, 1 disables)\n"
		"  --max-ring-order N    max-ring-page-order (default 4, 0 disables)\n"
		"  --max-indirect N      feature-max-indirect-segments (default 256, 0 disables)\n"
		"  --no-persistent       do not offer feature-persistent\n"
		"  --persistent-max N    persistent grants kept per queue (default: ring entries\n"
		"                        x max segments, at most the queue's share of\n"
		"                        --max-mapped)\n"
		"  --map-min BYTES       without persistent grants (a frontend that does not\n"
		"                        use them, or --no-persistent): requests of at least\n"
		"                        BYTES map the guest's pages, smaller ones are\n"
		"                        grant-copied (default 0: copy every request)\n"
		"  --max-mapped N        grant mappings one device may hold in dom0, shared by\n"
		"                        its queues: the persistent caches' automatic size, and\n"
		"                        the pages mapped for single requests (beyond a full\n"
		"                        cache, --map-min), each (default 16384, 64 MiB)\n"
		"  --max-mapped-total N  grant mappings all devices may hold in dom0 together\n"
		"                        (default 131072, half of the 262144 Xen's default\n"
		"                        maptrack gives dom0; 0: no bound): past it, caches\n"
		"                        stop growing and requests are grant-copied\n"
		"  --direct-io MODE      O_DIRECT for aligned transfers: safe (where the "
		"toolstack\n"
		"                        writes direct-io-safe = 1, the default), never, always\n"
		"  --no-loop-file        serve a loop device as one (default: a plain loop device\n"
		"                        in page-cache mode is served through its backing file)\n"
		"  --poll-us N|auto[:MAX]\n"
		"                        poll rings and completions before sleeping: auto (the\n"
		"                        default), a window that adapts, from 0 while idle to\n"
		"                        at most MAX us (default: 50 system calls' worth,\n"
		"                        20-2000); or for N microseconds after each burst (0:\n"
		"                        never poll)\n"
		"  --wait io_uring|epoll where the loop sleeps: in an io_uring that also reads\n"
		"                        the event channel (the default: one system call\n"
		"                        fewer per event), or in epoll_wait()\n"
		"  --resize-interval MS  how often to look for a grown backing store (default "
		"1000, 0 off)\n"
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

/* --poll-us N|auto[:MAX]: for auto, *us is MAX, or 0 for the calibrated bound */
static int parse_poll(const char *s, bool *adaptive, uint32_t *us)
{
	unsigned long v;
	char *end;

	*adaptive = !strncmp(s, "auto", 4) && (s[4] == 0 || s[4] == ':');
	if (!*adaptive)
		return parse_u32("poll-us", s, 1000000, us);
	*us = 0;
	if (!s[4])
		return 0;
	v = strtoul(s + 5, &end, 10);
	if (s[5] < '0' || s[5] > '9' || *end || !v || v > 1000000) {
		fprintf(stderr,
			NAME
			": --poll-us %s: expected N, auto or auto:MAX (MAX from 1 to 1000000)\n",
			s);
		return -1;
	}
	*us = (uint32_t)v;
	return 0;
}

/* What auto polls for at most: 50 system calls' worth (a wakeup of the
 * daemon costs several, and a scheduler wakeup), within 20 us to 2 ms. */
#define POLL_AUTO_SYSCALLS 50
#define POLL_AUTO_MIN_US   20
#define POLL_AUTO_MAX_US   2000

/* Half of the grant mappings Xen 4.17 gives dom0 by default (1024 maptrack
 * frames of 256): the rest for rings, other backends, device models. */
#define MAPPED_TOTAL_DEFAULT 131072

int main(int argc, char **argv)
{
	enum {
		O_CTL = 256,
		O_MQ,
		O_RO,
		O_IND,
		O_NOPERS,
		O_PMAX,
		O_MAPMIN,
		O_MAXMAP,
		O_MAXMAPTOTAL,
		O_RESIZE,
		O_SCHEMA,
		O_STATE,
		O_DIO,
		O_NOLOOP,
		O_POLL,
		O_WAIT
	};
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, O_CTL },
		{ "max-queues", required_argument, NULL, O_MQ },
		{ "max-ring-order", required_argument, NULL, O_RO },
		{ "max-indirect", required_argument, NULL, O_IND },
		{ "no-persistent", no_argument, NULL, O_NOPERS },
		{ "persistent-max", required_argument, NULL, O_PMAX },
		{ "map-min", required_argument, NULL, O_MAPMIN },
		{ "max-mapped", required_argument, NULL, O_MAXMAP },
		{ "max-mapped-total", required_argument, NULL, O_MAXMAPTOTAL },
		{ "resize-interval", required_argument, NULL, O_RESIZE },
		{ "direct-io", required_argument, NULL, O_DIO },
		{ "no-loop-file", no_argument, NULL, O_NOLOOP },
		{ "poll-us", required_argument, NULL, O_POLL },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "schema-dir", required_argument, NULL, O_SCHEMA },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pvd d = { .verbosity = PVB_LOG_INFO };
	struct vbd_config vc;
	struct pvb_map_account acct = { .limit = MAPPED_TOTAL_DEFAULT };
	uint32_t total;
	const char *ctl = NULL, *schema_dir = NULL, *state = NULL;
	char state_dir[256];
	int c, r;
	uint32_t poll_us = 0; /* auto: the calibrated bound */
	bool poll_auto = true;
	enum pvb_wait_mode wait = PVB_WAIT_URING;

	vbd_config_default(&vc);
	vc.acct = &acct;
	while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (c) {
		case O_CTL:
			ctl = optarg;
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
		case O_MAXMAP:
			if (parse_u32("max-mapped", optarg, 1u << 22, &vc.max_mapped))
				return 2;
			if (!vc.max_mapped) {
				fprintf(stderr, NAME ": --max-mapped 0: expected 1 to %u\n",
					1u << 22);
				return 2;
			}
			break;
		case O_MAXMAPTOTAL:
			if (parse_u32("max-mapped-total", optarg, 1u << 26, &total))
				return 2;
			acct.limit = total;
			break;
		case O_MAPMIN:
			if (parse_u32("map-min", optarg, UINT32_MAX, &vc.map_min))
				return 2;
			break;
		case O_RESIZE:
			if (parse_u32("resize-interval", optarg, 3600000, &vc.resize_ms))
				return 2;
			break;
		case O_DIO:
			if (!strcmp(optarg, "safe")) {
				vc.direct_io = VBD_DIRECT_SAFE;
			} else if (!strcmp(optarg, "never")) {
				vc.direct_io = VBD_DIRECT_NEVER;
			} else if (!strcmp(optarg, "always")) {
				vc.direct_io = VBD_DIRECT_ALWAYS;
			} else {
				fprintf(stderr,
					NAME ": --direct-io %s: expected safe, never or always\n",
					optarg);
				return 2;
			}
			break;
		case O_NOLOOP:
			vc.loop_file = false;
			break;
		case O_POLL:
			if (parse_poll(optarg, &poll_auto, &poll_us))
				return 2;
			break;
		case O_WAIT:
			if (!strcmp(optarg, "io_uring")) {
				wait = PVB_WAIT_URING;
			} else if (!strcmp(optarg, "epoll")) {
				wait = PVB_WAIT_EPOLL;
			} else {
				fprintf(stderr, NAME ": --wait %s: expected io_uring or epoll\n",
					optarg);
				return 2;
			}
			break;
		case O_SCHEMA:
			schema_dir = optarg;
			break;
		case O_STATE:
			state = optarg;
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
	r = pvd_init(&d, NAME, schema_dir);
	if (!r && poll_auto && !poll_us) {
		uint64_t cost = pvb_syscall_cost_ns();
		uint64_t us = cost * POLL_AUTO_SYSCALLS / 1000;

		poll_us = us < POLL_AUTO_MIN_US	  ? POLL_AUTO_MIN_US
			  : us > POLL_AUTO_MAX_US ? POLL_AUTO_MAX_US
						  : (uint32_t)us;
		pvd_log(&d, PVB_LOG_INFO,
			"polling: adaptive, at most %u us (a system call costs %llu ns here)",
			poll_us, (unsigned long long)cost);
	}
	if (!r && poll_auto)
		pvb_loop_set_poll_adaptive(d.loop, poll_us);
	else if (!r)
		pvb_loop_set_poll_us(d.loop, poll_us);
	if (!r) {
		int w = pvb_loop_set_wait(d.loop, wait);

		/* The kernel's refusal is not fatal: the loop sleeps in epoll_wait(). */
		if (w)
			pvd_log(&d, PVB_LOG_WARN, "--wait io_uring: %s: sleeping in epoll_wait()",
				strerror(-w));
	}
	if (!r)
		r = pvd_state_dir(&d, state, "blkback", state_dir, sizeof(state_dir));
	if (!r) {
		vc.state_dir = state_dir;
		r = pvd_add_backend(&d, &vbd_ops, &vc);
	}
	if (!r)
		r = pvd_run(&d, ctl);
	pvd_fini(&d);
	return r ? 1 : 0;
}
