/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals shared by the xsd source files.  Not installed. */
#ifndef PVSPLIT_XSD_PRIVATE_H
#define PVSPLIT_XSD_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <xenstore_lib.h> /* XS_PERM_* */
#include <xen/xen.h>	  /* DOMID_FIRST_RESERVED */

#include "xsd.h"

#define XSD_NO_GEN UINT64_MAX
#define XSD_NDOMS  DOMID_FIRST_RESERVED

struct xs_perm {
	uint32_t id;
	uint8_t bits; /* XS_PERM_READ | XS_PERM_WRITE | XS_PERM_IGNORE */
};

struct xs_node {
	struct xs_node *hnext;
	uint32_t hash;
	char *path;
	char *value;
	uint32_t vlen;
	struct xs_perm *perms;
	uint32_t nperms;
	char *children; /* nul-separated child names, creation order */
	uint32_t childlen;
	uint64_t gen;
	/* Transaction copies only. */
	uint64_t orig_gen; /* main generation when first touched, XSD_NO_GEN: absent */
	bool modified;
	bool deleted;	       /* tombstone: absent in this transaction */
	struct xs_node *tnext; /* transaction's list of touched nodes */
	struct xs_qevent *qev; /* the watch event queued for it, if any */
};

/* Path -> node hash map. */
struct xs_map {
	struct xs_node **b;
	uint32_t nb;
	uint32_t n;
};

struct xs_watch {
	struct xs_watch *next;
	char *path; /* canonical (absolute or "@...") */
	char *token;
	uint32_t relative; /* bytes of prefix to strip from event paths, 0 if absolute */
};

/*
 * A watch event queued by a transaction, fired on commit.  One per node (as
 * xenstored's queue_watches()): a non-exact event replaces an exact one.
 */
struct xs_qevent {
	struct xs_qevent *next;
	char *path;
	bool exact;
	struct xs_perm *perms; /* node perms when last queued, for the permission check */
	uint32_t nperms;
	struct xs_perm *old; /* node perms when first queued: who could see it before */
	uint32_t nold;
};

struct xsd_txn {
	struct xsd_txn *next;
	uint32_t id;
	struct xs_map nodes;	 /* touched nodes (copies / tombstones) */
	struct xs_node *touched; /* same nodes, in order of first touch */
	uint32_t ntouched;
	struct xs_qevent *events, **events_tail;
	int32_t entry_delta; /* nodes created - deleted, owned by this conn's domain */
	bool failed;
};

struct outbuf {
	char *buf;
	size_t head, tail, cap;
};

struct xsd_conn {
	struct xsd_conn *next, *prev;
	struct xsd *s;
	uint32_t domid;
	bool priv;
	bool released;
	void *opaque;
	/* input */
	struct xsd_sockmsg hdr;
	uint32_t hdr_got;
	char *in; /* XENSTORE_PAYLOAD_MAX + 1 */
	uint32_t in_got;
	/* output */
	struct outbuf out;
	/* state */
	struct xs_watch *watches;
	uint32_t nwatches;
	struct xsd_txn *txns;
	uint32_t ntxns;
	uint32_t next_txn_id;
};

struct xsd_domain {
	bool introduced;
	uint32_t target; /* XS_SET_TARGET, or XSD_NDOMS when none */
	uint64_t gen;	 /* store generation at introduction */
	uint32_t entries;
	uint32_t nwatches;
	uint32_t ntxns;
	uint32_t nconns;
};

struct xsd {
	struct xsd_limits lim;
	struct xsd_hooks hooks;
	struct xs_map nodes;
	uint64_t gen;
	struct xsd_conn *conns;
	struct xsd_domain *doms;	    /* XSD_NDOMS */
	struct xs_perm special_perms[2][8]; /* @introduceDomain, @releaseDomain */
	uint32_t special_nperms[2];
	struct xsd_stats st;
};

/* A view of the store: the main tree, or one transaction's. */
struct xs_view {
	struct xsd *s;
	struct xsd_conn *c;
	struct xsd_txn *t;
};

/* map.c */
uint32_t xs_hash(const char *s);
int xs_map_init(struct xs_map *m);
void xs_map_fini(struct xs_map *m, bool free_nodes);
struct xs_node *xs_map_get(const struct xs_map *m, const char *path);
int xs_map_put(struct xs_map *m, struct xs_node *n);
struct xs_node *xs_map_del(struct xs_map *m, const char *path);
struct xs_node *xs_node_new(const char *path);
struct xs_node *xs_node_dup(const struct xs_node *n);
void xs_node_free(struct xs_node *n);
int xs_node_set_value(struct xs_node *n, const void *val, uint32_t len);
int xs_node_set_perms(struct xs_node *n, const struct xs_perm *p, uint32_t np);
int xs_node_add_child(struct xs_node *n, const char *name);
bool xs_node_del_child(struct xs_node *n, const char *name);

/* store.c: permission checks and the node operations over a view */
unsigned xs_perm_for(const struct xsd_conn *c, const struct xs_perm *p, uint32_t np);
bool xs_domain_exists(const struct xsd *s, uint32_t domid);
void xs_adjust_perms(const struct xsd *s, struct xs_node *n);
const char *xs_basename(const char *path);
int xs_parent(const char *path, char *buf, size_t len);
int xs_canonical(const struct xsd_conn *c, const char *in, char *out, size_t len);
int xs_view_get(struct xs_view *v, const char *path, struct xs_node **out);
int xs_op_read(struct xs_view *v, const char *path, struct xs_node **out);
int xs_op_write(struct xs_view *v, const char *path, const void *val, uint32_t len);
int xs_op_mkdir(struct xs_view *v, const char *path);
int xs_op_rm(struct xs_view *v, const char *path);
int xs_op_set_perms(struct xs_view *v, const char *path, const struct xs_perm *p, uint32_t np);
void xs_account(struct xsd *s, uint32_t owner, int delta);

/* watch.c */
void xs_fire(struct xs_view *v, const char *path, bool exact, const struct xs_perm *perms,
	     uint32_t nperms, const struct xs_perm *old, uint32_t nold);
void xs_fire_special(struct xsd *s, const char *name);
int xs_watch_add(struct xsd_conn *c, const char *path, const char *token, uint32_t relative);
int xs_watch_del(struct xsd_conn *c, const char *path, const char *token);
void xs_watch_free_all(struct xsd_conn *c);
void xs_send_event(struct xsd_conn *c, const char *path, const char *token);

/* txn.c */
int xs_txn_start(struct xsd_conn *c, uint32_t *id);
struct xsd_txn *xs_txn_find(struct xsd_conn *c, uint32_t id);
int xs_txn_end(struct xsd_conn *c, struct xsd_txn *t, bool commit);
void xs_txn_free_all(struct xsd_conn *c);
struct xs_node *xs_txn_touch(struct xs_view *v, const char *path, int *err);

/* core.c */
int xs_out_append(struct xsd_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
		  const void *data, uint32_t len, bool is_event);

#endif
