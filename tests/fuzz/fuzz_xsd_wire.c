// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the sim's xenstore wire parser and every operation
 * behind it.  The input is a sequence of chunks, each
 *   u8 connection (mod 3: dom0 privileged, dom1, dom2) | u8 length | bytes
 * fed to that connection as a stream, so messages split across reads and
 * interleave between domains as on real sockets.  Replies must stay well
 * framed.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xenstore/xsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct xsd_conn *c)
{
	const void *buf;
	size_t len;

	while ((len = xsd_conn_output(c, &buf))) {
		struct xsd_sockmsg h;

		assert(len >= sizeof(h));
		memcpy(&h, buf, sizeof(h));
		assert(h.len <= XENSTORE_PAYLOAD_MAX);
		assert(len >= sizeof(h) + h.len);
		xsd_conn_output_consume(c, sizeof(h) + h.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xsd_limits lim;
	struct xsd *s;
	struct xsd_conn *c[3];

	xsd_limits_default(&lim);
	lim.entries_per_domain = 64;
	if (xsd_new(&s, &lim, NULL))
		return 0;
	for (uint32_t d = 0; d < 3; d++) {
		xsd_domain_introduce(s, d);
		if (xsd_conn_new(s, d, &c[d]))
			goto out;
	}
	while (size >= 2) {
		unsigned which = data[0] % 3, len = data[1];

		data += 2;
		size -= 2;
		if (len > size)
			len = (unsigned)size;
		if (!c[which] && xsd_conn_new(s, which, &c[which]))
			c[which] = NULL; /* still released */
		if (c[which] && xsd_conn_input(c[which], data, len) < 0) {
			/*
			 * Protocol error, or its domain was released: the daemon
			 * drops the connection.  A released domain cannot connect
			 * again until it is introduced again.
			 */
			xsd_conn_free(c[which]);
			if (xsd_conn_new(s, which, &c[which]))
				c[which] = NULL;
		}
		data += len;
		size -= len;
		for (int i = 0; i < 3; i++)
			if (c[i])
				drain(c[i]);
	}
out:
	xsd_free(s);
	return 0;
}
