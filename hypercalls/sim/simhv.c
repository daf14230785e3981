// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-simhv: the loopback hypervisor daemon.  Thin main over server.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <xen/xen.h>

#include "proto.h"
#include "server.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvsplit-simhv --dir DIR [--domains 0,1,2] [--mem MIB]\n"
		"\n"
		"The pvsplit loopback hypervisor: serves grant tables, event channels and\n"
		"xenstore to processes acting as domains, through DIR/domN/hv.sock and\n"
		"DIR/domN/xenstored.sock.  Runs in the foreground; prints one readiness line;\n"
		"exits cleanly on SIGTERM or SIGINT.\n"
		"\n"
		"  -d, --dir DIR       directory for the sockets (created if missing)\n"
		"  -D, --domains LIST  domains to create at start, comma separated (0 always)\n"
		"  -m, --mem MIB       memory of each domain in MiB (default %u)\n"
		"  -h, --help          this text\n",
		SIMHV_DEFAULT_MEM_MIB);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "domains", required_argument, NULL, 'D' },
		{ "mem", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t domains[256];
	struct simhv_config cfg = { .domains = domains };
	struct simhv_server *s;
	const char *err, *list = "0";
	int c, r;

	while ((c = getopt_long(argc, argv, "d:D:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.dir = optarg;
			break;
		case 'D':
			list = optarg;
			break;
		case 'm': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v == 0 || v > 65536) {
				fprintf(stderr,
					"pvsplit-simhv: --mem %s: not a size in MiB (1-65536)\n",
					optarg);
				return 2;
			}
			cfg.mem_mib = (uint32_t)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!cfg.dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	for (const char *p = list; *p;) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v >= DOMID_FIRST_RESERVED || cfg.ndomains == 256 ||
		    (*end && *end != ',')) {
			fprintf(stderr, "pvsplit-simhv: --domains %s: not a list of domain ids\n",
				list);
			return 2;
		}
		domains[cfg.ndomains++] = (uint32_t)v;
		p = *end ? end + 1 : end;
	}

	/*
	 * Every port and connection of every domain is a descriptor here: take
	 * all the hard limit allows (the server copes with running out too).
	 */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	r = simhv_server_new(&s, &cfg, &err);
	if (r) {
		fprintf(stderr, "pvsplit-simhv: %s: %s: %s\n", cfg.dir, err, strerror(-r));
		return 1;
	}
	printf("pvsplit-simhv: ready dir=%s domains=%s pid=%d\n", cfg.dir, list, (int)getpid());
	fflush(stdout);
	sd_notify(0, "READY=1");
	r = simhv_server_run(s);
	sd_notify(0, "STOPPING=1");
	simhv_server_free(s);
	if (r) {
		fprintf(stderr, "pvsplit-simhv: %s: event loop: %s\n", cfg.dir, strerror(-r));
		return 1;
	}
	return 0;
}
