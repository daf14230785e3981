// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-bench: benchmarks that print numbers (a table, or JSON with
 * --json).  Each one is self-contained: it starts what it measures.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static const struct {
	const char *name;
	int (*fn)(const struct bench_opts *o, json_object *out);
	const char *help;
} benches[] = {
	{ "hv", bench_hv,
	  "loopback hypervisor: event channel round trip, grant map/unmap and copy" },
	{ "block", bench_block,
	  "pvsplit-blkback: 4 KiB random read IOPS vs io_uring, 1 MiB GB/s vs memcpy" },
	{ "console", bench_console,
	  "pvsplit-consoled: guest-to-log bytes/s vs xenconsoled's bound, pty round trip" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: pvsplit-bench BENCHMARK [--json] [--quick] [--file PATH] [--spread]\n"
		   "                     [--poll-us N|auto[:MAX]]\n\n"
		   "Benchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].help);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quick", no_argument, NULL, 'q' },
		{ "file", required_argument, NULL, 'f' },
		{ "spread", no_argument, NULL, 's' },
		{ "poll-us", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts o = { 0 };
	const char *name;
	int c, r;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	name = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "jqf:sp:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.quick = true;
			break;
		case 'f':
			o.file = optarg;
			break;
		case 's':
			o.spread = true;
			break;
		case 'p':
			o.poll_us = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/*
	 * Run from the build tree, before `make install`: the schema in the
	 * source tree (the daemons it starts read the same variable).
	 */
	if (!getenv("PVSPLIT_SCHEMA_DIR") && access(BENCH_INSTALLED_SCHEMA, R_OK) &&
	    !access(BENCH_SOURCE_SCHEMA, R_OK))
		setenv("PVSPLIT_SCHEMA_DIR", BENCH_SOURCE_SCHEMA, 1);
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		if (strcmp(name, benches[i].name))
			continue;
		json_object *out = json_object_new_object();

		json_object_object_add(out, "benchmark", json_object_new_string(name));
		r = benches[i].fn(&o, out);
		if (!r && o.json)
			printf("%s\n",
			       json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
		json_object_put(out);
		return r ? 1 : 0;
	}
	fprintf(stderr, "pvsplit-bench: unknown benchmark '%s'\n", name);
	usage(stderr);
	return 2;
}
