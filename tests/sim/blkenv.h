/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sim-tier block test environment: a pvsplit-simhv, a pvsplit-blkback
 * started from the build, a toolstack connection as dom0, and frontends run
 * in child processes acting as guests.
 */
#ifndef PVSPLIT_TEST_BLKENV_H
#define PVSPLIT_TEST_BLKENV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "blkfront.h"
#include "simrun.h"
#include "toolstack.h"

struct json_object;

struct blkenv {
	struct simrun sim;
	pid_t daemon;
	char ctl[128];
	struct pvhv *hv0;
	struct xs_handle *xs;
	struct pvs_schema *schema;
	const char *prog;    /* daemon, relative to the build dir (default pvsplit-blkback) */
	const char *ctl_opt; /* its control socket option (default --ctl) */
};

/* Start the sim (domains 0..ndoms-1) and the toolstack connection.  0 or -errno. */
int blkenv_start(struct blkenv *e, int ndoms);
/* Start (or restart) the daemon with extra arguments (NULL-terminated).  0 or -errno. */
int blkenv_daemon_start(struct blkenv *e, const char *const *args);
/* SIGTERM (or SIGKILL) the daemon and wait: its exit status. */
int blkenv_daemon_stop(struct blkenv *e, bool kill9);
void blkenv_stop(struct blkenv *e);

/* The daemon's stats (pvsplit stats), or NULL. */
struct json_object *blkenv_stats(struct blkenv *e);
/* One device's stats object inside them (borrowed from root), or NULL. */
struct json_object *blkenv_dev_stats(struct json_object *root, uint32_t domid, uint32_t devid);

/* Create a file of size bytes filled with zeros.  0 or -errno. */
int blkenv_make_file(const char *path, uint64_t size);

/*
 * Run fn in a child process acting as domid with a connected pvf_blk for
 * devid.  Returns fn's return value (0 = pass), or a negative open error,
 * or 128+signal.
 */
typedef int (*blkenv_fn)(struct pvf_blk *b, void *arg);
int blkenv_run_frontend(struct blkenv *e, uint32_t domid, const struct pvf_blk_opts *o,
			blkenv_fn fn, void *arg);

/* Deterministic test data. */
void blkenv_pattern(uint8_t *buf, size_t len, uint64_t seed);

#endif
