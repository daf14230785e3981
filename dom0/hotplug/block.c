// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-block-hotplug: the hotplug helper of a disk served by
 * pvsplit-blkback (disk spec "script=.../pvsplit-block-hotplug").
 *
 * libxl runs it as "SCRIPT add|remove" with XENBUS_PATH naming the backend
 * directory (relative to this domain's home, as libxl passes it, or
 * absolute), where the stock block script would set up a loop device.  A
 * regular file stays a regular file (pvsplit-blkback serves it directly);
 * a block device is announced as the stock script does (physical-device,
 * MAJOR:MINOR in hex).  On success it writes hotplug-status=connected; on
 * failure hotplug-error and hotplug-status=error, and exits 1, naming the
 * device in its message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <xenstore.h>

#include "pvsplit/schema.h"

static struct xs_handle *xs;
static const struct pvs_devtype *dt;
static const char *be;

static int put(const char *key, const char *val)
{
	char path[512];

	if (pvs_devtype_key_path(dt, PVS_SIDE_BACKEND, be, key, path, sizeof(path)) < 0)
		return -EINVAL;
	return xs_write(xs, XBT_NULL, path, val, (unsigned)strlen(val)) ? 0 : -errno;
}

static char *get(const char *key)
{
	char path[512];
	unsigned len;

	if (pvs_devtype_key_path(dt, PVS_SIDE_BACKEND, be, key, path, sizeof(path)) < 0)
		return NULL;
	return xs_read(xs, XBT_NULL, path, &len);
}

static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int err, const char *fmt, ...)
{
	char msg[1024];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
	fprintf(stderr, "pvsplit-block-hotplug: %s: %s\n", be, msg);
	put("hotplug-error", msg);
	put("hotplug-status", "error");
	return 1;
}

static int add(void)
{
	char *params = get("params"), *mode = get("mode");
	char devnum[32];
	struct stat st;

	if (!params || !mode)
		return fail(ENOENT, "no params/mode in the backend directory");
	if (stat(params, &st))
		return fail(errno, "cannot use %s", params);
	if (S_ISBLK(st.st_mode)) {
		snprintf(devnum, sizeof(devnum), "%x:%x", major(st.st_rdev), minor(st.st_rdev));
		if (put("physical-device", devnum) || put("physical-device-path", params))
			return fail(errno, "cannot announce %s", params);
	} else if (!S_ISREG(st.st_mode)) {
		return fail(EINVAL, "%s is neither a file nor a block device", params);
	}
	free(params);
	free(mode);
	return put("hotplug-status", "connected") ? fail(errno, "writing hotplug-status") : 0;
}

int main(int argc, char **argv)
{
	struct pvs_schema *s;
	char *err = NULL;

	be = getenv("XENBUS_PATH");
	if (argc != 2 || !be || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
		fprintf(stderr,
			"usage: XENBUS_PATH=/local/domain/0/backend/vbd/D/N %s add|remove\n",
			argv[0]);
		return 2;
	}
	/* Nothing was set up for a file or a block device: nothing to undo. */
	if (!strcmp(argv[1], "remove"))
		return 0;
	if (pvs_schema_load(&s, NULL, &err) || pvs_schema_type(s, "vbd", &dt)) {
		fprintf(stderr, "pvsplit-block-hotplug: %s: cannot load the xenstore schema: %s\n",
			be, err ? err : "vbd missing");
		return 1;
	}
	xs = xs_open(0);
	if (!xs) {
		fprintf(stderr, "pvsplit-block-hotplug: %s: cannot reach xenstored: %s\n", be,
			strerror(errno));
		return 1;
	}
	if (be[0] != '/') {
		/* libxl passes it relative to our own home ("backend/vbd/1/51712"). */
		char *domid = xs_read(xs, XBT_NULL, "domid", &(unsigned){ 0 }), *home = NULL;
		static char abs[512];

		if (domid)
			home = xs_get_domain_path(xs, (unsigned)strtoul(domid, NULL, 10));
		if (!home || snprintf(abs, sizeof(abs), "%s/%s", home, be) >= (int)sizeof(abs)) {
			fprintf(stderr, "pvsplit-block-hotplug: %s: cannot tell our own domain\n",
				be);
			return 1;
		}
		free(domid);
		free(home);
		be = abs;
	}
	return add();
}
