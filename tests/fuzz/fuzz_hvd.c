// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the loopback hypervisor core, hvd_handle(), driven by
 * hostile clients of three domains and hostile guest kernels.  The input is
 * a sequence of chunks
 *   u8 selector | u16 length (little endian) | bytes
 * where selector % 3 picks the domain (0 privileged, 1, 2) and
 * selector / 3 % 8 what happens:
 *   0-4  the bytes are a request from that domain's client (sim/proto.h);
 *   5    the domain is destroyed under its client and created again;
 *   6    the client dies and a new one says HELLO;
 *   7    the guest writes its own grant table: u32 ref, then up to 8 bytes
 *        of grant_entry_v1 (flags, domid, frame).
 * Grant copies reach a paused child process through its /proc/PID/mem,
 * never this one.  Whatever happens, once every client is gone the
 * counters must be back to zero: no pin, share, client or bound port left.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "hvd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDOM 3

static int victim_mem = -1; /* /proc/VICTIM/mem: where copies land */

static void victim_start(void)
{
	char path[64];
	pid_t pid;

	if (victim_mem >= 0)
		return;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (pid < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	victim_mem = open(path, O_RDWR | O_CLOEXEC); /* -1: copies fail, that is fine too */
}

struct world {
	struct hvd *h;
	struct hvd_client *c[NDOM];
	grant_entry_v1_t *gnt[NDOM];
	char rsp[SIMHV_MSG_MAX];
};

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* A new client of domain d that says HELLO (with memory), and the guest's view of its table. */
static void client_up(struct world *w, uint32_t d)
{
	struct simhv_req rq = { .op = SIMHV_HELLO };
	size_t rlen;
	int fds[4], n = 0;

	if (hvd_client_new(w->h, d, &w->c[d]))
		return;
	if (hvd_handle(w->c[d], &rq, sizeof(rq), victim_mem >= 0 ? dup(victim_mem) : -1, w->rsp,
		       &rlen, fds, &n) == 0 &&
	    n == 3 && !w->gnt[d]) {
		void *g = mmap(NULL, SIMHV_NR_GRANTS * sizeof(grant_entry_v1_t),
			       PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);

		if (g != MAP_FAILED)
			w->gnt[d] = g;
	}
	close_all(fds, n);
}

static void gnt_unmap(struct world *w, uint32_t d)
{
	if (w->gnt[d])
		munmap(w->gnt[d], SIMHV_NR_GRANTS * sizeof(grant_entry_v1_t));
	w->gnt[d] = NULL;
}

static void request(struct world *w, uint32_t d, const uint8_t *p, size_t len)
{
	static char req[SIMHV_MSG_MAX];
	struct simhv_req rq;
	size_t rlen;
	int fds[4], n = 0;

	if (!w->c[d] || len > sizeof(req))
		return;
	memcpy(req, p, len);
	if (len >= sizeof(rq)) {
		memcpy(&rq, req, sizeof(rq));
		/* Keep domain creation small and among a few ids. */
		if (rq.op == SIMHV_DOMAIN_CREATE || rq.op == SIMHV_DOMAIN_DESTROY) {
			rq.domid %= NDOM + 1;
			rq.arg = rq.arg % 4 + 1;
			memcpy(req, &rq, sizeof(rq));
		}
	}
	if (hvd_handle(w->c[d], req, len, -1, w->rsp, &rlen, fds, &n)) {
		/* Malformed: the daemon drops the client. */
		close_all(fds, n);
		hvd_client_free(w->c[d]);
		w->c[d] = NULL;
		client_up(w, d);
		return;
	}
	close_all(fds, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = calloc(1, sizeof(*w));
	struct simhv_stats st;

	if (!w)
		return 0;
	victim_start();
	if (hvd_new(&w->h, NULL)) {
		free(w);
		return 0;
	}
	for (uint32_t d = 0; d < NDOM; d++) {
		hvd_domain_create(w->h, d, 1);
		client_up(w, d);
	}
	while (size >= 3) {
		uint32_t who = data[0] % NDOM, kind = data[0] / NDOM % 8;
		size_t len = data[1] | (size_t)data[2] << 8;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (kind == 7) {
			uint32_t ref;

			if (len >= 5 && w->gnt[who]) {
				memcpy(&ref, data, 4);
				ref %= SIMHV_NR_GRANTS;
				memcpy((char *)&w->gnt[who][ref], data + 4,
				       len - 4 > 8 ? 8 : len - 4);
			}
		} else if (kind == 6) {
			hvd_client_free(w->c[who]);
			w->c[who] = NULL;
			client_up(w, who);
		} else if (kind == 5) {
			if (who != 0 && hvd_domain_exists(w->h, who)) {
				/* Destroyed under a live client, which must cope. */
				hvd_domain_destroy(w->h, who);
				gnt_unmap(w, who);
				hvd_domain_create(w->h, who, 1);
			}
		} else {
			request(w, who, data, len);
		}
		data += len;
		size -= len;
	}
	for (uint32_t d = 0; d < NDOM; d++) {
		hvd_client_free(w->c[d]);
		gnt_unmap(w, d);
	}
	hvd_get_stats(w->h, &st);
	/* Every client gone: nothing may be left pinned, shared, bound or counted. */
	if (st.clients || st.grant_pins || st.ports_bound)
		__builtin_trap();
	for (uint32_t d = 0; d < NDOM + 1; d++)
		if (hvd_domain_exists(w->h, d))
			hvd_domain_destroy(w->h, d);
	hvd_get_stats(w->h, &st);
	if (st.grant_shares)
		__builtin_trap();
	hvd_free(w->h);
	free(w);
	return 0;
}
