/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The loopback hypervisor's "hypercall" protocol: what a sim client (the sim
 * provider of libpvsplit-hv) sends to pvsplit-simhv over DIR/domN/hv.sock.
 *
 * SOCK_SEQPACKET, one request -> one response, file descriptors passed with
 * SCM_RIGHTS.  The domain a client acts as is the socket it connected to.
 * Not a stable interface: client and daemon come from the same build, and
 * HELLO checks SIMHV_PROTO_VERSION.
 *
 * A connection carries one request at a time: send a request, read its
 * response, then send the next (the sim provider never pipelines).  The
 * daemon answers one request per connection per turn of its event loop and
 * never blocks on a client: a client that keeps sending without reading its
 * responses fills its socket buffer and is disconnected.
 *
 * Grant copy: with HELLO the client passes a descriptor of its own memory,
 * an open("/proc/self/mem", O_RDWR).  The daemon copies between a granted
 * frame and the client's address space with pread()/pwrite() on it: the
 * descriptor is bound to the memory of the process that opened it, so a
 * copy can never reach another process (after the client exits, copies fail
 * with -EFAULT; no pid is involved).  A client that did not pass one gets
 * -EFAULT for every segment.
 */
#ifndef PVSPLIT_SIMHV_PROTO_H
#define PVSPLIT_SIMHV_PROTO_H

#include <stdint.h>

#define SIMHV_PROTO_VERSION   2
#define SIMHV_MSG_MAX	      (64 * 1024)
#define SIMHV_MAX_BATCH	      1024
#define SIMHV_NR_PORTS	      4096
#define SIMHV_NR_GRANTS	      32768 /* 64 grant frames of v1 entries, Xen's default */
#define SIMHV_DEFAULT_MEM_MIB 256

enum simhv_op {
	SIMHV_HELLO = 1,   /* fd in: /proc/self/mem (optional) -> simhv_hello;
			    * fds: own memory, own grant table, own evtchn table (sealed) */
	SIMHV_GNT_MAP,	   /* domid, count, flags, u32 refs[] -> u64 frames[]; fd: domain memory */
	SIMHV_GNT_UNMAP,   /* domid, count, flags, u32 refs[] */
	SIMHV_GNT_COPY,	   /* count, simhv_copy_seg[] -> i16 status[] */
	SIMHV_GNT_SHARE,   /* domid (grantee), count, flags -> u32 refs[], u64 frames[] */
	SIMHV_GNT_UNSHARE, /* count, u32 refs[] */
	SIMHV_EVTCHN_ALLOC_UNBOUND,    /* domid (remote) -> port; fd: the port's eventfd */
	SIMHV_EVTCHN_BIND_INTERDOMAIN, /* domid, port (remote) -> port; fd: eventfd */
	SIMHV_EVTCHN_PEER,    /* port -> gen, ret 1 + fd: peer's eventfd | ret 0: unbound */
	SIMHV_EVTCHN_CLOSE,   /* port */
	SIMHV_FOREIGN_MAP,    /* domid, count, flags, u64 frames[]; fd: domain memory (priv) */
	SIMHV_DOMAIN_CREATE,  /* domid, arg = MiB of memory (priv) */
	SIMHV_DOMAIN_DESTROY, /* domid (priv) */
	SIMHV_STATS,	      /* -> simhv_stats */
	SIMHV_OP_COUNT
};

#define SIMHV_F_RO 0x1u /* grant map / share / foreign map read-only */

struct simhv_req {
	uint32_t op;
	uint32_t domid;
	uint32_t count;
	uint32_t flags;
	uint32_t port;
	uint32_t arg;
	/* followed by the op's array */
};

struct simhv_rsp {
	int32_t ret; /* >= 0 or -errno */
	uint32_t count;
	uint32_t gen;
	uint32_t pad;
	/* followed by the op's array */
};

struct simhv_hello {
	uint32_t version;
	uint32_t domid;
	uint32_t privileged;
	uint32_t nr_frames;
	uint32_t nr_grants;
	uint32_t nr_ports;
	int32_t daemon_pid;
	uint32_t pad;
};

struct simhv_copy_seg {
	uint64_t local; /* address in the client process */
	uint32_t domid;
	uint32_t ref;
	uint16_t offset;
	uint16_t len;
	uint8_t to_guest;
	uint8_t pad[3];
};

/*
 * One entry of a domain's event channel table, shared read-only with its
 * clients (the memfd is sealed against writes: F_SEAL_FUTURE_WRITE).  It is
 * a published copy: the daemon keeps the authoritative state privately.
 */
enum simhv_port_state { SIMHV_PORT_FREE = 0, SIMHV_PORT_UNBOUND, SIMHV_PORT_INTERDOMAIN };

struct simhv_port_shared {
	uint32_t state;
	uint32_t remote_dom;
	uint32_t remote_port;
	uint32_t gen; /* bumped on every change */
};

struct simhv_stats {
	uint32_t domains;
	uint32_t clients;
	uint32_t ports_bound;
	uint32_t grant_pins;   /* mapped grant refs, all domains */
	uint32_t grant_shares; /* shared (granted) pages, all domains */
	uint32_t pad;
	uint64_t maps;
	uint64_t copies;
	uint64_t copy_errors;
	uint64_t map_errors;
};

#endif
