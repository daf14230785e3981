/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hvd: the loopback hypervisor's domains, grant tables and event channels.
 *
 * The daemon (simhv.c) owns the sockets and calls in here with each request;
 * this file owns the "hardware": per-domain memory (a memfd), the grant
 * table (grant_entry_v1 layout, GTF_* flags, in a memfd the domain's
 * processes map), the active-grant pin counts, the event channel ports and
 * one eventfd per port.  The authoritative port state is private; clients
 * get a sealed, read-only copy of their domain's port table for notify
 * checks, which hvd never reads back.  Single-threaded: every check-and-pin
 * is atomic with respect to other clients.  Returns -errno; never prints.
 *
 * Limits (as a Xen 4.17 toolstack sets them): a domU's ports are 1..1023
 * (libxl's default event_channels), dom0's 1..SIMHV_NR_PORTS-1; a domU has
 * at most HVD_MAX_CLIENTS_PER_DOMAIN clients (connections) at a time.
 */
#ifndef PVSPLIT_HVD_H
#define PVSPLIT_HVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct hvd;
struct hvd_client;

#define HVD_DOMU_MAX_PORT	   1023u /* libxl's default max_evtchn_port for a guest */
#define HVD_MAX_CLIENTS_PER_DOMAIN 64u	 /* connections of one unprivileged domain */

struct hvd_hooks {
	void *opaque;
	/* A privileged client asked for domain create / destroy. */
	int (*domain_create)(void *opaque, uint32_t domid, uint32_t mem_mib);
	int (*domain_destroy)(void *opaque, uint32_t domid);
};

int hvd_new(struct hvd **out, const struct hvd_hooks *hooks);
void hvd_free(struct hvd *h);

/* Create a domain with mem_mib MiB of memory (0: the default). -EEXIST, -EINVAL. */
int hvd_domain_create(struct hvd *h, uint32_t domid, uint32_t mem_mib);
/*
 * Destroy a domain: its ports close (peers become unbound).  Clients acting
 * as the domain must have been freed first.  Pages other domains still map
 * stay valid until they unmap them, as on Xen.
 */
int hvd_domain_destroy(struct hvd *h, uint32_t domid);
bool hvd_domain_exists(const struct hvd *h, uint32_t domid);

/*
 * A client connection acting as domid.  -ESRCH (no such domain), -EUSERS
 * (an unprivileged domain already has HVD_MAX_CLIENTS_PER_DOMAIN clients).
 */
int hvd_client_new(struct hvd *h, uint32_t domid, struct hvd_client **out);
/* Drop a client: unmap its grants, end its shares, close its ports. */
void hvd_client_free(struct hvd_client *c);
uint32_t hvd_client_domid(const struct hvd_client *c);

/*
 * Handle one request.  in_fd is a descriptor that came with it, or -1; hvd
 * takes it over (HELLO keeps it as the client's memory, see proto.h; any
 * other request closes it).  rsp must hold SIMHV_MSG_MAX bytes.  On return
 * *rsp_len is the response size and fds[0..*nfds) are descriptors to pass
 * with it, which the caller closes after sending.  Returns 0 (the response
 * carries the result) or -EPROTO for a malformed request (drop the client).
 */
int hvd_handle(struct hvd_client *c, const void *req, size_t len, int in_fd, void *rsp,
	       size_t *rsp_len, int fds[4], int *nfds);

void hvd_get_stats(const struct hvd *h, struct simhv_stats *st);

#endif
