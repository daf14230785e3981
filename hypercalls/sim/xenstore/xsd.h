/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xsd: the loopback hypervisor's xenstore server core.
 *
 * I/O free: the daemon feeds bytes read from a client socket into
 * xsd_conn_input() and writes out what xsd_conn_output() hands back.  The
 * same code runs in the unit tests and under libFuzzer with no sockets.
 *
 * Semantics follow C xenstored (Xen 4.17): node permissions (owner + ACL,
 * privileged dom0, unprivileged creators own what they create, ACL entries
 * naming a domain that is gone or younger than the node ignored), watches
 * on subtrees with an initial event, generation-count transactions that
 * fail with EAGAIN on conflict, per-domain quotas (nodes, node size,
 * watches, transactions, connections), XS_DIRECTORY_PART.
 *
 * Return convention: 0 or a positive count on success, -errno on failure.
 * Nothing here prints.
 */
#ifndef PVSPLIT_XSD_H
#define PVSPLIT_XSD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xen/io/xs_wire.h>

struct xsd;
struct xsd_conn;
struct xsd_txn;

struct xsd_limits {
	uint32_t entries_per_domain; /* nodes owned by one unprivileged domain */
	/*
	 * Size of a node record a domU may write, as xenstored counts it: a
	 * 24-byte header, 8 bytes per permission, the value and the child names
	 * with their nuls.  A write making it this size or more fails ENOSPC
	 * (this bounds values, and the children of a directory a domU fills).
	 */
	uint32_t node_size;
	uint32_t watches_per_domain; /* watches of one unprivileged domain */
	uint32_t txns_per_domain;    /* open transactions of one unprivileged domain */
	uint32_t conns_per_domain;   /* connections of one unprivileged domain */
	uint32_t perms_per_node;     /* ACL entries a domU may set */
	uint32_t txn_nodes;	     /* nodes one transaction may touch */
	size_t outq_max;	     /* queued output before watch events are dropped */
};

/*
 * The defaults of C xenstored 4.17 (1000 entries, 2048-byte nodes, 128
 * watches, 10 transactions...), and 64 connections per domain.
 */
void xsd_limits_default(struct xsd_limits *lim);

struct xsd_hooks {
	void *opaque;
	/*
	 * XS_INTRODUCE of a domain not yet introduced: return 0 to accept (the
	 * sim creates the domain on demand), or -errno.  May be NULL.
	 */
	int (*introduce)(void *opaque, uint32_t domid);
	/* XS_RELEASE accepted for domid.  May be NULL. */
	void (*release)(void *opaque, uint32_t domid);
	/*
	 * conn has new output queued (a reply or a watch event), or was
	 * released (xsd_conn_released(): close it once flushed).  Called once
	 * per transition from empty to non-empty.  May be NULL.
	 */
	void (*output_ready)(void *opaque, struct xsd_conn *conn);
};

/* Counters for tests and stats. */
struct xsd_stats {
	uint64_t requests;
	uint64_t errors;
	uint64_t watch_events;
	uint64_t watch_events_dropped;
	uint64_t txn_commits;
	uint64_t txn_conflicts;
	uint64_t protocol_errors;
	uint32_t nodes;
	uint32_t conns;
	uint32_t watches;
	uint32_t txns;
};

/* Create a store holding "/", "/local", "/local/domain", "/tool" owned by dom0. */
int xsd_new(struct xsd **out, const struct xsd_limits *lim, const struct xsd_hooks *hooks);
void xsd_free(struct xsd *s);
void xsd_get_stats(const struct xsd *s, struct xsd_stats *st);

/*
 * Mark domid introduced (fires @introduceDomain) and, if absent, create
 * its home as libxl 4.17's libxl__domain_make() and build do:
 * /local/domain/<domid> owned by dom0 and readable by the domain (n0 r<id>)
 * with "domid" and "name" ("domain-<id>"), cpu, memory, device, control
 * alike, and control/shutdown, control/feature-*, control/sysrq, data,
 * drivers, feature, attr, error owned by the domain.  dom0's home gets
 * "domid" 0 and "name" Domain-0 (as xen-init-dom0 writes them).  0, or
 * -EEXIST when already introduced.
 */
int xsd_domain_introduce(struct xsd *s, uint32_t domid);
/*
 * Forget domid, as xenstored does when a domain is released or dies: fires
 * @releaseDomain, drops its connections' state (they are released: their
 * further requests are ignored), hands the nodes it owns to dom0, drops it
 * from the @introduceDomain / @releaseDomain ACLs.  ACL entries naming it
 * are ignored from now on, also once a new domain gets the same id.
 * -ENOENT when not introduced.
 */
int xsd_domain_release(struct xsd *s, uint32_t domid);
/*
 * The toolstack's destroy (libxl__destroy_domid): release domid if it is
 * introduced and remove /local/domain/<domid>.  0 or -EINVAL (dom0).
 */
int xsd_domain_destroy(struct xsd *s, uint32_t domid);
bool xsd_domain_is_introduced(const struct xsd *s, uint32_t domid);

/*
 * A connection acting as domid; domid 0 is privileged.  -ESRCH when domid is
 * not introduced, -EUSERS when an unprivileged domain already has
 * conns_per_domain connections.
 */
int xsd_conn_new(struct xsd *s, uint32_t domid, struct xsd_conn **out);
/* Drop a connection with its watches and open transactions. */
void xsd_conn_free(struct xsd_conn *c);
uint32_t xsd_conn_domid(const struct xsd_conn *c);
void xsd_conn_set_opaque(struct xsd_conn *c, void *opaque);
void *xsd_conn_opaque(const struct xsd_conn *c);
/*
 * Released (XS_RELEASE of its domain, or xsd_domain_release()): it gets no
 * more watch events, its input is refused, and the caller should close it
 * once its output is flushed.
 */
bool xsd_conn_released(const struct xsd_conn *c);

/*
 * Feed len bytes from the client.  Complete requests are processed and
 * their replies queued.  Returns len, -EPROTO when the stream is not
 * xenstore wire protocol (a length above XENSTORE_PAYLOAD_MAX), or
 * -ECONNRESET when the connection was released (nothing is processed): the
 * caller must close the connection.
 */
ssize_t xsd_conn_input(struct xsd_conn *c, const void *buf, size_t len);

/* Queued output: a pointer to the next contiguous bytes and their count. */
size_t xsd_conn_output(struct xsd_conn *c, const void **buf);
/* Drop n bytes of output once written. */
void xsd_conn_output_consume(struct xsd_conn *c, size_t n);

/* ---- lower level, for unit tests and the daemon's own use ---- */

/* Check a path the way xenstored does (absolute, charset, no //, length). */
bool xsd_valid_path(const char *path);

/*
 * Parse n nul-separated permission strings ("r0", "n1", "w2", "b3") into
 * ids[] / perms[] (XS_PERM_* bits).  Returns n or -EINVAL.
 */
int xsd_parse_perms(const char *buf, size_t len, uint32_t *ids, uint8_t *perms, int max);

#endif /* PVSPLIT_XSD_H */
