/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loopback hypervisor's event loop: per-domain sockets in DIR/domN/
 * (hv.sock for hypercalls, xenstored.sock for xenstore), one epoll loop
 * serving hvd (domains, grants, event channels) and xsd (xenstore).
 */
#ifndef PVSPLIT_SIMHV_SERVER_H
#define PVSPLIT_SIMHV_SERVER_H

#include <stdint.h>

struct simhv_server;

struct simhv_config {
	const char *dir;	 /* created if missing */
	uint32_t mem_mib;	 /* memory of each domain, 0: default */
	const uint32_t *domains; /* created at start (dom0 always is) */
	uint32_t ndomains;
};

/* Set up: sockets for every initial domain.  0 or -errno; *err names what failed. */
int simhv_server_new(struct simhv_server **out, const struct simhv_config *cfg, const char **err);
/* Serve until SIGTERM/SIGINT (blocked and read through a signalfd).  0 or -errno. */
int simhv_server_run(struct simhv_server *s);
/* Remove every socket and domain directory, free everything. */
void simhv_server_free(struct simhv_server *s);

#endif
