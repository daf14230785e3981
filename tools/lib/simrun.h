/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Run a private loopback hypervisor: used by the sim-tier tests, the
 * benchmarks and the demo.  Finds pvsplit-simhv ($PVSPLIT_SIMHV, the build
 * tree through $PVSPLIT_BUILDDIR or next to the running program, the
 * install's sbin, $PATH), starts it in a fresh directory and waits for its
 * readiness line.  Returns -errno; prints nothing.
 */
#ifndef PVSPLIT_SIMRUN_H
#define PVSPLIT_SIMRUN_H

#include <stdint.h>
#include <sys/types.h>

#include "pvsplit/hv.h"

struct simrun {
	char dir[64];
	pid_t daemon;
};

/* Start with the given domains ("0,1,2") and MiB of memory per domain. */
int simrun_start(struct simrun *r, const char *domains, unsigned mem_mib);
/* SIGTERM, wait, remove the directory.  Returns the daemon's exit status. */
int simrun_stop(struct simrun *r);
/* A handle acting as domid on this sim. */
int simrun_open(struct simrun *r, int domid, struct pvhv **out);
/* Wait for a child: its exit code, or 128 + signal. */
int simrun_wait(pid_t pid);
/* The pvsplit-simhv found, or NULL. */
const char *simrun_binary(char *buf, size_t len);

#endif
