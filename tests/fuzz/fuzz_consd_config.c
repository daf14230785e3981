// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: pvsplit-consoled's configuration parser (the file and
 * every --key value of the command line go through it).  The settings it
 * accepts must stay within their documented bounds.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "console/consback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct consd_config c;
	char why[256];

	consd_config_default(&c);
	if (consd_config_parse(&c, (const char *)data, size, why, sizeof(why)) == 0) {
		assert(c.log_dir[0] == 0 || c.log_dir[0] == '/');
		assert(memchr(c.log_dir, 0, sizeof(c.log_dir)));
		assert(c.rotate_size == 0 || c.rotate_size >= 4096);
		assert(c.rotate_keep <= 1000);
		assert(c.default_limit >= 4096);
		assert(!c.rate_ms == !c.rate_events);
	} else {
		assert(memchr(why, 0, sizeof(why)) && why[0]);
	}
	return 0;
}
