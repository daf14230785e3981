/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pvsplit-bench: shared helpers and the benchmark entry points. */
#ifndef PVSPLIT_BENCH_H
#define PVSPLIT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct bench_opts {
	bool json;
	bool quick;	     /* fewer iterations (tests) */
	const char *file;    /* block: backing file to use (default: one in /dev/shm) */
	bool spread;	     /* block: leave process placement to the scheduler */
	const char *poll_us; /* block: pvsplit-blkback --poll-us (NULL: its default) */
};

/* Each benchmark fills a JSON object and prints its own table unless json. */
int bench_hv(const struct bench_opts *o, json_object *out);
int bench_block(const struct bench_opts *o, json_object *out);
int bench_console(const struct bench_opts *o, json_object *out);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);
/* Sort samples and return the p-th percentile (0..100). */
double bench_percentile(double *v, size_t n, double p);

#endif
