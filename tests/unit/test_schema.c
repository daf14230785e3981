/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of libpvsplit-schema: the real schema data, key lookups and
 * patterns, path building and parsing, value validation, loader errors and
 * the checker on in-memory xenstore trees.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "pvsplit/schema.h"

#include "cunit_main.h"

#ifndef PVS_TEST_SCHEMA_DIR
#define PVS_TEST_SCHEMA_DIR "xenstore-schema/data"
#endif

static struct pvs_schema *S;
static const struct pvs_devtype *VBD, *VIF, *CONSOLE;

/* ------------------------------------------------------------------ */
/* An in-memory xenstore                                               */
/* ------------------------------------------------------------------ */

struct entry {
	char *path;
	char *value;
};

struct tree {
	size_t n, cap;
	struct entry *e;
	int fail_errno; /* make every call fail with -fail_errno when set */
};

static struct entry *tree_find(struct tree *t, const char *path)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path))
			return &t->e[i];
	return NULL;
}

static void tree_set(struct tree *t, const char *path, const char *value)
{
	struct entry *e = tree_find(t, path);

	if (e) {
		free(e->value);
		e->value = strdup(value);
		return;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->e = realloc(t->e, t->cap * sizeof(*t->e));
	}
	t->e[t->n].path = strdup(path);
	t->e[t->n].value = strdup(value);
	t->n++;
}

static void tree_setf(struct tree *t, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tree_setf(struct tree *t, const char *value, const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	tree_set(t, path, value);
}

/* Remove path and everything below it. */
static void tree_rm(struct tree *t, const char *path)
{
	size_t i = 0, len = strlen(path);

	while (i < t->n) {
		if (!strcmp(t->e[i].path, path) ||
		    (!strncmp(t->e[i].path, path, len) && t->e[i].path[len] == '/')) {
			free(t->e[i].path);
			free(t->e[i].value);
			t->e[i] = t->e[--t->n];
		} else {
			i++;
		}
	}
}

static void tree_free(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->e[i].path);
		free(t->e[i].value);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* Is there a node at path (explicit, or an implicit parent of one)? */
static bool tree_exists(struct tree *t, const char *path)
{
	size_t i, len = strlen(path);

	if (!strcmp(path, "/"))
		return true;
	for (i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path) ||
		    (!strncmp(t->e[i].path, path, len) && t->e[i].path[len] == '/'))
			return true;
	return false;
}

static int fake_read(void *ctx, const char *path, char **value)
{
	struct tree *t = ctx;
	struct entry *e;

	if (t->fail_errno)
		return -t->fail_errno;
	e = tree_find(t, path);
	if (e) {
		*value = strdup(e->value);
		return 0;
	}
	if (tree_exists(t, path)) {
		*value = strdup(""); /* xenstore creates parents with empty values */
		return 0;
	}
	return -ENOENT;
}

/* Children of path, as one malloc'd block (the xs_directory() convention). */
static int fake_list(void *ctx, const char *path, char ***names, unsigned int *count)
{
	struct tree *t = ctx;
	const char *kids[512];
	size_t lens[512], nk = 0, i, j, bytes, plen = strlen(path);
	char **out, *p;

	if (t->fail_errno)
		return -t->fail_errno;
	if (!tree_exists(t, path))
		return -ENOENT;
	if (!strcmp(path, "/"))
		plen = 0;
	for (i = 0; i < t->n; i++) {
		const char *e = t->e[i].path, *c;
		size_t l;

		if (strncmp(e, path, plen) || e[plen] != '/' || !e[plen + 1])
			continue;
		c = e + plen + 1;
		l = strcspn(c, "/");
		for (j = 0; j < nk; j++)
			if (lens[j] == l && !strncmp(kids[j], c, l))
				break;
		if (j == nk && nk < 512) {
			kids[nk] = c;
			lens[nk++] = l;
		}
	}
	bytes = nk * sizeof(char *);
	for (j = 0; j < nk; j++)
		bytes += lens[j] + 1;
	out = malloc(bytes ? bytes : 1);
	p = (char *)(out + nk);
	for (j = 0; j < nk; j++) {
		out[j] = p;
		memcpy(p, kids[j], lens[j]);
		p[lens[j]] = '\0';
		p += lens[j] + 1;
	}
	*names = out;
	*count = (unsigned int)nk;
	return 0;
}

static const struct pvs_tree_ops fake_ops = { .list = fake_list, .read = fake_read };

/* ------------------------------------------------------------------ */
/* Trees as libxl 4.17 + Linux blkback/blkfront write them             */
/* ------------------------------------------------------------------ */

#define VBD_BE "/local/domain/0/backend/vbd/1/51712"
#define VBD_FE "/local/domain/1/device/vbd/51712"

/* xl create + blkback probe + block hotplug script: backend InitWait, frontend Initialising. */
static void vbd_initwait(struct tree *t)
{
	static const char *const be[][2] = {
		{ "frontend", VBD_FE },
		{ "params", "/srv/guest.img" },
		{ "script", "/etc/xen/scripts/block" },
		{ "frontend-id", "1" },
		{ "online", "1" },
		{ "removable", "0" },
		{ "bootable", "1" },
		{ "state", "2" },
		{ "dev", "xvda" },
		{ "type", "phy" },
		{ "mode", "w" },
		{ "device-type", "disk" },
		{ "discard-enable", "1" },
		{ "specification", "xen" },
		{ "feature-max-indirect-segments", "256" },
		{ "multi-queue-max-queues", "4" },
		{ "max-ring-page-order", "4" },
		{ "node", "/dev/loop0" },
		{ "physical-device", "7:0" },
		{ "physical-device-path", "/dev/loop0" },
		{ "hotplug-status", "connected" },
	};
	static const char *const fe[][2] = {
		{ "backend", VBD_BE },	       { "backend-id", "0" },	  { "state", "1" },
		{ "virtual-device", "51712" }, { "device-type", "disk" }, { "trusted", "1" },
		{ "protocol", "x86_64-abi" },
	};
	size_t i;

	for (i = 0; i < sizeof(be) / sizeof(be[0]); i++)
		tree_setf(t, be[i][1], "%s/%s", VBD_BE, be[i][0]);
	for (i = 0; i < sizeof(fe) / sizeof(fe[0]); i++)
		tree_setf(t, fe[i][1], "%s/%s", VBD_FE, fe[i][0]);
}

/* ... after blkfront talked to blkback and both connected. */
static void vbd_connected(struct tree *t)
{
	static const char *const be[][2] = {
		{ "feature-flush-cache", "1" },
		{ "discard-granularity", "4096" },
		{ "discard-alignment", "0" },
		{ "discard-secure", "0" },
		{ "feature-discard", "1" },
		{ "feature-barrier", "1" },
		{ "feature-persistent", "1" },
		{ "sectors", "2097152" },
		{ "info", "0" },
		{ "sector-size", "512" },
		{ "physical-sector-size", "512" },
		{ "state", "4" },
	};
	static const char *const fe[][2] = {
		{ "ring-ref", "8" },
		{ "event-channel", "15" },
		{ "feature-persistent", "1" },
		{ "state", "4" },
	};
	size_t i;

	vbd_initwait(t);
	for (i = 0; i < sizeof(be) / sizeof(be[0]); i++)
		tree_setf(t, be[i][1], "%s/%s", VBD_BE, be[i][0]);
	for (i = 0; i < sizeof(fe) / sizeof(fe[0]); i++)
		tree_setf(t, fe[i][1], "%s/%s", VBD_FE, fe[i][0]);
}

#define VIF_BE "/local/domain/0/backend/vif/1/0"
#define VIF_FE "/local/domain/1/device/vif/0"

/* xl create + netback + vif-bridge + netfront, connected. */
static void vif_connected(struct tree *t)
{
	static const char *const be[][2] = {
		{ "frontend", VIF_FE },
		{ "frontend-id", "1" },
		{ "online", "1" },
		{ "state", "4" },
		{ "script", "/etc/xen/scripts/vif-bridge" },
		{ "mac", "00:16:3e:12:34:56" },
		{ "bridge", "xenbr0" },
		{ "handle", "0" },
		{ "type", "vif" },
		{ "hotplug-status", "connected" },
		{ "feature-sg", "1" },
		{ "feature-gso-tcpv4", "1" },
		{ "feature-gso-tcpv6", "1" },
		{ "feature-ipv6-csum-offload", "1" },
		{ "feature-rx-copy", "1" },
		{ "feature-xdp-headroom", "1" },
		{ "feature-rx-flip", "0" },
		{ "feature-multicast-control", "1" },
		{ "feature-dynamic-multicast-control", "1" },
		{ "feature-split-event-channels", "1" },
		{ "multi-queue-max-queues", "2" },
		{ "feature-ctrl-ring", "1" },
	};
	static const char *const fe[][2] = {
		{ "backend", VIF_BE },
		{ "backend-id", "0" },
		{ "state", "4" },
		{ "handle", "0" },
		{ "mac", "00:16:3e:12:34:56" },
		{ "mtu", "1500" },
		{ "trusted", "1" },
		{ "xdp-headroom", "0" },
		{ "multi-queue-num-queues", "2" },
		{ "queue-0/tx-ring-ref", "9" },
		{ "queue-0/rx-ring-ref", "10" },
		{ "queue-0/event-channel-tx", "20" },
		{ "queue-0/event-channel-rx", "21" },
		{ "queue-1/tx-ring-ref", "11" },
		{ "queue-1/rx-ring-ref", "12" },
		{ "queue-1/event-channel-tx", "22" },
		{ "queue-1/event-channel-rx", "23" },
		{ "request-rx-copy", "1" },
		{ "feature-rx-notify", "1" },
		{ "feature-sg", "1" },
		{ "feature-gso-tcpv4", "1" },
		{ "feature-gso-tcpv6", "1" },
		{ "feature-ipv6-csum-offload", "1" },
	};
	size_t i;

	for (i = 0; i < sizeof(be) / sizeof(be[0]); i++)
		tree_setf(t, be[i][1], "%s/%s", VIF_BE, be[i][0]);
	for (i = 0; i < sizeof(fe) / sizeof(fe[0]); i++)
		tree_setf(t, fe[i][1], "%s/%s", VIF_FE, fe[i][0]);
}

/* The primary console of a PV guest, served by xenconsoled. */
static void console_primary(struct tree *t)
{
	tree_set(t, "/local/domain/0/backend/console/1/0/frontend", "/local/domain/1/console");
	tree_set(t, "/local/domain/0/backend/console/1/0/frontend-id", "1");
	tree_set(t, "/local/domain/0/backend/console/1/0/online", "1");
	tree_set(t, "/local/domain/0/backend/console/1/0/state", "1");
	tree_set(t, "/local/domain/0/backend/console/1/0/protocol", "vt100");
	tree_set(t, "/local/domain/1/console/backend", "/local/domain/0/backend/console/1/0");
	tree_set(t, "/local/domain/1/console/backend-id", "0");
	tree_set(t, "/local/domain/1/console/limit", "1048576");
	tree_set(t, "/local/domain/1/console/type", "xenconsoled");
	tree_set(t, "/local/domain/1/console/output", "pty");
	tree_set(t, "/local/domain/1/console/tty", "/dev/pts/3");
	tree_set(t, "/local/domain/1/console/port", "2");
	tree_set(t, "/local/domain/1/console/ring-ref", "1046562");
}

/* A pty channel mapped to secondary console 1, served by QEMU, connected. */
static void console_channel(struct tree *t)
{
	const char *be = "/local/domain/0/backend/console/1/1";
	const char *fe = "/local/domain/1/device/console/1";

	tree_setf(t, fe, "%s/frontend", be);
	tree_setf(t, "1", "%s/frontend-id", be);
	tree_setf(t, "1", "%s/online", be);
	tree_setf(t, "4", "%s/state", be);
	tree_setf(t, "vt100", "%s/protocol", be);
	tree_setf(t, "org.example.agent", "%s/name", be);
	tree_setf(t, "pty", "%s/connection", be);
	tree_setf(t, "connected", "%s/hotplug-status", be);
	tree_setf(t, be, "%s/backend", fe);
	tree_setf(t, "0", "%s/backend-id", fe);
	tree_setf(t, "4", "%s/state", fe);
	tree_setf(t, "vt100", "%s/protocol", fe);
	tree_setf(t, "org.example.agent", "%s/name", fe);
	tree_setf(t, "1048576", "%s/limit", fe);
	tree_setf(t, "ioemu", "%s/type", fe);
	tree_setf(t, "pty", "%s/output", fe);
	tree_setf(t, "/dev/pts/5", "%s/tty", fe);
	tree_setf(t, "12", "%s/ring-ref", fe);
	tree_setf(t, "7", "%s/port", fe);
}

/* Things the checker must ignore: not device directories. */
static void noise(struct tree *t)
{
	tree_set(t, "/local/domain/1/name", "guest");
	tree_set(t, "/local/domain/1/memory/target", "262144");
	tree_set(t, "/local/domain/1/control/shutdown", "");
	tree_set(t, "/local/domain/0/name", "Domain-0");
	tree_set(t, "/vm/00000000-0000-0000-0000-000000000001/name", "guest");
	tree_set(t, "/libxl/1/device/vbd/51712/frontend", VBD_FE);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static struct pvs_report *check(struct tree *t, const char *root)
{
	struct pvs_report *r = NULL;
	int rc = pvs_check_tree(S, &fake_ops, t, root, &r);

	CU_ASSERT_EQUAL(rc, 0);
	if (rc)
		return NULL;
	return r;
}

static void dump(const struct pvs_report *r)
{
	size_t i;

	for (i = 0; r && i < r->nfindings; i++)
		fprintf(stderr, "\n    %s %s: %s (expected %s, found %s)",
			pvs_finding_kind_name(r->findings[i].kind), r->findings[i].path,
			r->findings[i].message, r->findings[i].expected,
			r->findings[i].found ? r->findings[i].found : "(absent)");
}

/* Assert the report holds exactly one finding, of this kind at this path. */
static void expect_one(struct tree *t, const char *root, enum pvs_finding_kind kind,
		       const char *path)
{
	struct pvs_report *r = check(t, root);

	if (!r)
		return;
	CU_ASSERT_EQUAL(r->nfindings, 1);
	if (r->nfindings != 1)
		dump(r);
	if (r->nfindings >= 1) {
		CU_ASSERT_EQUAL(r->findings[0].kind, kind);
		CU_ASSERT_STRING_EQUAL(r->findings[0].path, path);
		CU_ASSERT_PTR_NOT_NULL(r->findings[0].message);
		CU_ASSERT_PTR_NOT_NULL(r->findings[0].expected);
	}
	pvs_report_free(r);
}

static void expect_clean(struct tree *t, const char *root, size_t ndevices)
{
	struct pvs_report *r = check(t, root);

	if (!r)
		return;
	CU_ASSERT_EQUAL(r->nfindings, 0);
	if (r->nfindings)
		dump(r);
	CU_ASSERT_EQUAL(r->ndevices, ndevices);
	pvs_report_free(r);
}

static const struct pvs_key *key(const struct pvs_devtype *t, enum pvs_side side, const char *name)
{
	const struct pvs_key *k = NULL;

	CU_ASSERT_EQUAL_FATAL(pvs_devtype_key(t, side, name, &k), 0);
	return k;
}

static int value_rc(const struct pvs_devtype *t, enum pvs_side side, const char *name,
		    const char *value)
{
	char why[256] = "";

	return pvs_key_check_value(key(t, side, name), value, why, sizeof(why));
}

/* ------------------------------------------------------------------ */
/* Tests: loading and lookups                                          */
/* ------------------------------------------------------------------ */

static void test_types_loaded(void)
{
	const struct pvs_devtype *t;

	CU_ASSERT_EQUAL(pvs_schema_type_count(S), 3);
	CU_ASSERT_EQUAL(pvs_schema_type(S, "vbd", &t), 0);
	CU_ASSERT_STRING_EQUAL(pvs_devtype_name(t), "vbd");
	CU_ASSERT_PTR_NOT_NULL(pvs_devtype_doc(t));
	CU_ASSERT_EQUAL(pvs_schema_type(S, "vscsi", &t), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_type(S, NULL, &t), -EINVAL);
	CU_ASSERT_EQUAL(pvs_devtype_path_count(CONSOLE, PVS_SIDE_FRONTEND), 2);
	CU_ASSERT_STRING_EQUAL(pvs_devtype_path_at(VBD, PVS_SIDE_BACKEND, 0),
			       "/local/domain/{backend-domid}/backend/vbd/{domid}/{devid}");
	CU_ASSERT_PTR_NULL(pvs_devtype_path_at(VBD, PVS_SIDE_BACKEND, 9));
}

static void test_key_lookup(void)
{
	const struct pvs_key *k = NULL;
	size_t i, side;

	k = key(VBD, PVS_SIDE_BACKEND, "sectors");
	CU_ASSERT_EQUAL(pvs_key_type(k), PVS_TYPE_UINT);
	CU_ASSERT_EQUAL(pvs_key_writer(k), PVS_WRITER_BACKEND);
	CU_ASSERT_EQUAL(pvs_key_side(k), PVS_SIDE_BACKEND);
	CU_ASSERT_PTR_EQUAL(pvs_key_devtype(k), VBD);
	CU_ASSERT_EQUAL(pvs_key_required_mask(k), PVS_REQ_STATE(4));
	CU_ASSERT_PTR_NOT_NULL(strstr(pvs_key_source(k), "blkback"));
	CU_ASSERT_FALSE(pvs_key_is_pattern(k));

	k = key(VBD, PVS_SIDE_BACKEND, "mode");
	CU_ASSERT_EQUAL(pvs_key_type(k), PVS_TYPE_ENUM);
	CU_ASSERT_EQUAL(pvs_key_writer(k), PVS_WRITER_TOOLSTACK);
	CU_ASSERT_EQUAL(pvs_key_value_count(k), 2);
	CU_ASSERT_STRING_EQUAL(pvs_key_value_at(k, 0), "r");
	CU_ASSERT_EQUAL(pvs_key_required_mask(k), PVS_REQ_ALWAYS);

	k = key(VBD, PVS_SIDE_BACKEND, "physical-device");
	CU_ASSERT_EQUAL(pvs_key_writer(k), PVS_WRITER_HOTPLUG);
	CU_ASSERT_EQUAL(pvs_key_type(k), PVS_TYPE_DEVNUM);

	CU_ASSERT_STRING_EQUAL(pvs_key_default(key(VBD, PVS_SIDE_BACKEND, "discard-enable")), "1");
	CU_ASSERT_PTR_NULL(pvs_key_default(key(VBD, PVS_SIDE_BACKEND, "sectors")));
	CU_ASSERT_TRUE(pvs_key_is_deprecated(key(VBD, PVS_SIDE_BACKEND, "max-ring-pages")));

	/* sides are separate */
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "sectors", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_BACKEND, "ring-ref", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_BACKEND, "sector", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, 7, "sectors", &k), -EINVAL);

	/* every key has a doc and a source, and describes itself */
	for (side = 0; side < 2; side++) {
		const struct pvs_devtype *types[] = { VBD, VIF, CONSOLE };

		for (size_t ti = 0; ti < 3; ti++) {
			for (i = 0; i < pvs_devtype_key_count(types[ti], side); i++) {
				char desc[128];

				k = pvs_devtype_key_at(types[ti], side, i);
				CU_ASSERT_PTR_NOT_NULL(k);
				CU_ASSERT_TRUE(pvs_key_doc(k) && *pvs_key_doc(k));
				CU_ASSERT_TRUE(pvs_key_source(k) && *pvs_key_source(k));
				CU_ASSERT_TRUE(pvs_key_describe(k, desc, sizeof(desc)) > 0);
				CU_ASSERT_PTR_NOT_NULL(pvs_writer_name(pvs_key_writer(k)));
			}
		}
	}
	/* the standard keys the brief names are all known */
	{
		static const char *const vbd_fe[] = {
			"ring-ref",
			"ring-ref0",
			"ring-ref15",
			"event-channel",
			"protocol",
			"ring-page-order",
			"multi-queue-num-queues",
			"queue-0/ring-ref",
			"queue-3/ring-ref1",
			"queue-2/event-channel",
			"feature-persistent",
			"feature-large-sector-size",
			"virtual-device",
			"device-type",
			"trusted",
		};
		static const char *const vbd_be[] = {
			"feature-persistent",
			"feature-max-indirect-segments",
			"max-ring-page-order",
			"multi-queue-max-queues",
			"sector-size",
			"physical-sector-size",
			"sectors",
			"info",
			"feature-flush-cache",
			"feature-barrier",
			"feature-discard",
			"discard-granularity",
			"discard-alignment",
			"discard-secure",
			"physical-device",
			"physical-device-path",
			"hotplug-status",
			"params",
			"mode",
			"type",
		};
		static const char *const vif_fe[] = {
			"tx-ring-ref",
			"rx-ring-ref",
			"event-channel-tx",
			"event-channel-rx",
			"request-rx-copy",
			"feature-sg",
			"feature-gso-tcpv4",
			"feature-rx-notify",
			"multi-queue-num-queues",
			"queue-1/tx-ring-ref",
			"mac",
			"ctrl-ring-ref",
		};
		static const char *const vif_be[] = {
			"feature-split-event-channels",
			"multi-queue-max-queues",
			"mac",
			"hotplug-status",
			"feature-rx-copy",
			"colo_checkpoint_port",
			"script",
		};

		for (i = 0; i < sizeof(vbd_fe) / sizeof(vbd_fe[0]); i++)
			CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, vbd_fe[i], &k), 0);
		for (i = 0; i < sizeof(vbd_be) / sizeof(vbd_be[0]); i++)
			CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_BACKEND, vbd_be[i], &k), 0);
		for (i = 0; i < sizeof(vif_fe) / sizeof(vif_fe[0]); i++)
			CU_ASSERT_EQUAL(pvs_devtype_key(VIF, PVS_SIDE_FRONTEND, vif_fe[i], &k), 0);
		for (i = 0; i < sizeof(vif_be) / sizeof(vif_be[0]); i++)
			CU_ASSERT_EQUAL(pvs_devtype_key(VIF, PVS_SIDE_BACKEND, vif_be[i], &k), 0);
	}
}

static void test_patterns(void)
{
	const struct pvs_key *k = NULL;

	/* an exact key wins over a pattern */
	CU_ASSERT_STRING_EQUAL(pvs_key_name(key(VBD, PVS_SIDE_FRONTEND, "ring-ref")), "ring-ref");
	k = key(VBD, PVS_SIDE_FRONTEND, "ring-ref3");
	CU_ASSERT_STRING_EQUAL(pvs_key_name(k), "ring-ref{n}");
	CU_ASSERT_TRUE(pvs_key_is_pattern(k));
	/* the pattern itself is accepted as a name */
	CU_ASSERT_PTR_EQUAL(key(VBD, PVS_SIDE_FRONTEND, "ring-ref{n}"), k);
	CU_ASSERT_STRING_EQUAL(pvs_key_name(key(VBD, PVS_SIDE_FRONTEND, "ring-ref12")),
			       "ring-ref{n}");
	CU_ASSERT_STRING_EQUAL(pvs_key_name(key(VBD, PVS_SIDE_FRONTEND, "queue-10/ring-ref")),
			       "queue-{q}/ring-ref");
	CU_ASSERT_STRING_EQUAL(pvs_key_name(key(VBD, PVS_SIDE_FRONTEND, "queue-0/ring-ref7")),
			       "queue-{q}/ring-ref{n}");
	CU_ASSERT_EQUAL(pvs_key_type(key(VBD, PVS_SIDE_FRONTEND, "queue-1")), PVS_TYPE_DIR);
	/* numbers are canonical decimals, at least one digit */
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "ring-ref01", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "ring-refx", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "ring-ref-1", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "queue-/ring-ref", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "queue-0/ring-ref/x", &k), -ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key(VBD, PVS_SIDE_FRONTEND, "queue-0/sectors", &k), -ENOENT);
}

/* ------------------------------------------------------------------ */
/* Tests: paths                                                        */
/* ------------------------------------------------------------------ */

static void test_paths_build(void)
{
	char buf[256], small[8];

	CU_ASSERT_EQUAL(pvs_devtype_backend_dir(VBD, 0, 1, 51712, buf, sizeof(buf)),
			(int)strlen(VBD_BE));
	CU_ASSERT_STRING_EQUAL(buf, VBD_BE);
	CU_ASSERT_EQUAL(pvs_devtype_frontend_dir(VBD, 1, 51712, buf, sizeof(buf)),
			(int)strlen(VBD_FE));
	CU_ASSERT_STRING_EQUAL(buf, VBD_FE);
	CU_ASSERT(pvs_devtype_frontend_dir(VIF, 7, 2, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "/local/domain/7/device/vif/2");
	/* the primary console has no devid in its frontend path */
	CU_ASSERT(pvs_devtype_frontend_dir(CONSOLE, 3, 0, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "/local/domain/3/console");
	CU_ASSERT(pvs_devtype_frontend_dir(CONSOLE, 3, 1, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "/local/domain/3/device/console/1");
	CU_ASSERT(pvs_devtype_backend_dir(CONSOLE, 0, 3, 0, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "/local/domain/0/backend/console/3/0");
	CU_ASSERT_EQUAL(pvs_devtype_backend_dir(VBD, 0, 1, 51712, small, sizeof(small)), -ERANGE);

	/* key paths: known keys and pattern instances only */
	CU_ASSERT(pvs_devtype_key_path(VBD, PVS_SIDE_BACKEND, VBD_BE, "sectors", buf, sizeof(buf)) >
		  0);
	CU_ASSERT_STRING_EQUAL(buf, VBD_BE "/sectors");
	CU_ASSERT(pvs_devtype_key_path(VBD, PVS_SIDE_FRONTEND, VBD_FE, "queue-1/ring-ref2", buf,
				       sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, VBD_FE "/queue-1/ring-ref2");
	CU_ASSERT_EQUAL(
		pvs_devtype_key_path(VBD, PVS_SIDE_BACKEND, VBD_BE, "sector", buf, sizeof(buf)),
		-ENOENT);
	CU_ASSERT_EQUAL(
		pvs_devtype_key_path(VBD, PVS_SIDE_FRONTEND, VBD_FE, "sectors", buf, sizeof(buf)),
		-ENOENT);
	CU_ASSERT_EQUAL(pvs_devtype_key_path(VBD, PVS_SIDE_FRONTEND, VBD_FE, "ring-ref{n}", buf,
					     sizeof(buf)),
			-EINVAL);
	CU_ASSERT_EQUAL(pvs_devtype_key_path(VBD, PVS_SIDE_BACKEND, VBD_BE, "sectors", small,
					     sizeof(small)),
			-ERANGE);
}

static void test_paths_parse(void)
{
	struct pvs_devpath p;
	char buf[256];
	const struct pvs_devtype *types[] = { VBD, VIF, CONSOLE };
	size_t i;

	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, VBD_BE, &p), 0);
	CU_ASSERT_PTR_EQUAL(p.type, VBD);
	CU_ASSERT_EQUAL(p.side, PVS_SIDE_BACKEND);
	CU_ASSERT_EQUAL(p.backend_domid, 0);
	CU_ASSERT_EQUAL(p.domid, 1);
	CU_ASSERT_EQUAL(p.devid, 51712);
	CU_ASSERT_PTR_NULL(p.key);
	CU_ASSERT_EQUAL(p.devdir_len, strlen(VBD_BE));

	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, VBD_FE "/queue-0/ring-ref", &p), 0);
	CU_ASSERT_EQUAL(p.side, PVS_SIDE_FRONTEND);
	CU_ASSERT_EQUAL(p.backend_domid, -1);
	CU_ASSERT_STRING_EQUAL(p.key, "queue-0/ring-ref");

	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/0/backend/qdisk/5/768", &p), 0);
	CU_ASSERT_PTR_EQUAL(p.type, VBD);
	CU_ASSERT_EQUAL(p.template_index, 1);

	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/4/console", &p), 0);
	CU_ASSERT_PTR_EQUAL(p.type, CONSOLE);
	CU_ASSERT_EQUAL(p.devid, 0);
	CU_ASSERT_EQUAL(p.template_index, 0);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/4/console/tty", &p), 0);
	CU_ASSERT_STRING_EQUAL(p.key, "tty");

	/* round trips for every type and side */
	for (i = 0; i < 3; i++) {
		CU_ASSERT(pvs_devtype_backend_dir(types[i], 2, 9, 3, buf, sizeof(buf)) > 0);
		CU_ASSERT_EQUAL(pvs_schema_parse_path(S, buf, &p), 0);
		CU_ASSERT_PTR_EQUAL(p.type, types[i]);
		CU_ASSERT_EQUAL(p.side, PVS_SIDE_BACKEND);
		CU_ASSERT_EQUAL(p.backend_domid, 2);
		CU_ASSERT_EQUAL(p.domid, 9);
		CU_ASSERT_EQUAL(p.devid, 3);
		CU_ASSERT(pvs_devtype_frontend_dir(types[i], 9, 3, buf, sizeof(buf)) > 0);
		CU_ASSERT_EQUAL(pvs_schema_parse_path(S, buf, &p), 0);
		CU_ASSERT_PTR_EQUAL(p.type, types[i]);
		CU_ASSERT_EQUAL(p.side, PVS_SIDE_FRONTEND);
		CU_ASSERT_EQUAL(p.domid, 9);
		CU_ASSERT_EQUAL(p.devid, 3);
	}

	/* not device directories */
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/0/backend/vbd/1", &p), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/0/backend/vscsi/1/0", &p), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/x/device/vbd/768", &p), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/01/device/vbd/768", &p), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/1/device/vbd/99999999999", &p),
			-ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "/local/domain/1/device/vbd/768/", &p), -ENOENT);
	CU_ASSERT_EQUAL(pvs_schema_parse_path(S, "local/domain/1/device/vbd/768", &p), -EINVAL);

	/* ancestors */
	CU_ASSERT_TRUE(pvs_schema_path_is_ancestor(S, "/"));
	CU_ASSERT_TRUE(pvs_schema_path_is_ancestor(S, "/local/domain"));
	CU_ASSERT_TRUE(pvs_schema_path_is_ancestor(S, "/local/domain/0/backend/vbd/1"));
	CU_ASSERT_TRUE(pvs_schema_path_is_ancestor(S, "/local/domain/3/device"));
	CU_ASSERT_FALSE(pvs_schema_path_is_ancestor(S, "/local/domain/3/memory"));
	CU_ASSERT_FALSE(pvs_schema_path_is_ancestor(S, "/vm"));
	CU_ASSERT_FALSE(pvs_schema_path_is_ancestor(S, VBD_BE));
}

/* ------------------------------------------------------------------ */
/* Tests: values                                                       */
/* ------------------------------------------------------------------ */

static void test_values(void)
{
	char why[256] = "";
	const enum pvs_side F = PVS_SIDE_FRONTEND, B = PVS_SIDE_BACKEND;

	/* uint, with and without range */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sectors", "18446744073709551615"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sectors", "18446744073709551616"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sectors", "-1"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sectors", ""), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sectors", "12a"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sector-size", "4096"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "sector-size", "256"), -ERANGE);
	CU_ASSERT_EQUAL(value_rc(VIF, F, "xdp-headroom", "32767"), 0);
	CU_ASSERT_EQUAL(value_rc(VIF, F, "xdp-headroom", "32768"), -ERANGE);
	/* bool */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "online", "1"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "online", "0"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "online", "true"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "online", "2"), -EINVAL);
	/* state */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "state", "4"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "state", "0"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "state", "9"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "state", "44"), -EINVAL);
	/* enum, including an empty value */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "mode", "w"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "mode", "rw"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VIF, B, "hotplug-status", ""), 0);
	CU_ASSERT_EQUAL(value_rc(VIF, B, "hotplug-status", "connected"), 0);
	CU_ASSERT_EQUAL(value_rc(VIF, B, "hotplug-status", "online"), -EINVAL);
	/* domid */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend-id", "0"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend-id", "32751"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend-id", "32752"), -ERANGE);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend-id", "07"), -EINVAL);
	/* path */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend", VBD_FE), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend", "local/domain/1"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend", "/local//domain"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend", "/local/domain/"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "frontend", "/local/dom ain"), -EINVAL);
	/* mac */
	CU_ASSERT_EQUAL(value_rc(VIF, F, "mac", "00:16:3e:0A:bc:ff"), 0);
	CU_ASSERT_EQUAL(value_rc(VIF, F, "mac", "00:16:3e:0a:bc"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VIF, F, "mac", "00-16-3e-0a-bc-ff"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VIF, F, "mac", "00:16:3e:0a:bc:fg"), -EINVAL);
	/* devnum, as stat -c %t:%T prints it */
	CU_ASSERT_EQUAL(value_rc(VBD, B, "physical-device", "fe:0"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "physical-device", "103:1a"), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "physical-device", "254"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "physical-device", "fe:"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "physical-device", "0xfe:0"), -EINVAL);
	/* string with regex */
	CU_ASSERT_EQUAL(value_rc(VIF, B, "rate", "1000000,50000"), 0);
	CU_ASSERT_EQUAL(value_rc(VIF, B, "rate", "10Mb/s"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(VBD, B, "params", "anything at all"), 0);
	/* dir */
	CU_ASSERT_EQUAL(value_rc(VBD, F, "queue-0", ""), 0);
	CU_ASSERT_EQUAL(value_rc(VBD, F, "queue-0", "x"), -EINVAL);
	/* the reason names the value */
	CU_ASSERT_EQUAL(pvs_key_check_value(key(VBD, B, "mode"), "rw", why, sizeof(why)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "allowed values"));
	CU_ASSERT_EQUAL(pvs_key_check_value(key(VBD, B, "mode"), NULL, why, sizeof(why)), -EINVAL);
}

/* int and uuid keys are not used by the stock types: load a schema that has them. */
static const char custom_type[] =
	"{\n"
	"  \"schema\": \"pvsplit-xenstore/1\",\n"
	"  \"type\": \"test\", \"doc\": \"test type\", \"source\": \"test\",\n"
	"  \"paths\": {\"frontend\": [\"/local/domain/{domid}/device/test/{devid}\"],\n"
	"            \"backend\": "
	"[\"/local/domain/{backend-domid}/backend/test/{domid}/{devid}\"]},\n"
	"  \"frontend\": [\n"
	"    {\"name\": \"state\", \"writer\": \"frontend\", \"type\": \"state\", \"required_in\": "
	"\"always\", \"doc\": \"s\"},\n"
	"    {\"name\": \"offset\", \"writer\": \"frontend\", \"type\": \"int\", \"min\": -10, "
	"\"max\": 10, \"doc\": \"o\"},\n"
	"    {\"name\": \"big\", \"writer\": \"frontend\", \"type\": \"int\", \"doc\": \"b\"},\n"
	"    {\"name\": \"uuid\", \"writer\": \"toolstack\", \"type\": \"uuid\", \"doc\": \"u\"}\n"
	"  ],\n"
	"  \"backend\": [\n"
	"    {\"name\": \"state\", \"writer\": \"backend\", \"type\": \"state\", \"required_in\": "
	"\"always\", \"doc\": \"s\"}\n"
	"  ]\n"
	"}\n";

static void test_values_custom(void)
{
	struct pvs_schema *s = NULL;
	const struct pvs_devtype *t = NULL;
	char *err = NULL;

	CU_ASSERT_EQUAL_FATAL(pvs_schema_new(&s), 0);
	CU_ASSERT_EQUAL(pvs_schema_add_buffer(s, custom_type, strlen(custom_type), "custom", &err),
			0);
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL_FATAL(pvs_schema_type(s, "test", &t), 0);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "offset", "-10"), 0);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "offset", "10"), 0);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "offset", "-11"), -ERANGE);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "offset", "1.5"), -EINVAL);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "big", "-9223372036854775808"), 0);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "big", "9223372036854775808"), -EINVAL);
	CU_ASSERT_EQUAL(
		value_rc(t, PVS_SIDE_FRONTEND, "uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"), 0);
	CU_ASSERT_EQUAL(value_rc(t, PVS_SIDE_FRONTEND, "uuid", "6ba7b8109dad11d180b400c04fd430c8"),
			-EINVAL);
	/* one type per name */
	CU_ASSERT_EQUAL(pvs_schema_add_buffer(s, custom_type, strlen(custom_type), "again", &err),
			-EINVAL);
	CU_ASSERT_TRUE(err && strstr(err, "again") && strstr(err, "already defined"));
	free(err);
	pvs_schema_free(s);
}

/* A broken schema file is refused with a message naming the file and the problem. */
static void expect_load_error(const char *text, const char *needle)
{
	struct pvs_schema *s = NULL;
	char *err = NULL;
	int rc;

	CU_ASSERT_EQUAL_FATAL(pvs_schema_new(&s), 0);
	rc = pvs_schema_add_buffer(s, text, strlen(text), "broken.json", &err);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(err);
	if (err) {
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "broken.json"));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
		if (!strstr(err, needle))
			fprintf(stderr, "\n    message: %s (wanted %s)", err, needle);
	}
	CU_ASSERT_EQUAL(pvs_schema_type_count(s), 0);
	free(err);
	pvs_schema_free(s);
}

static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	char *out;

	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) < 0)
		return NULL;
	return out;
}

static void test_load_errors(void)
{
	static const struct {
		const char *from, *to, *needle;
	} cases[] = {
		{ "\"writer\": \"frontend\", \"type\": \"int\", \"min\"",
		  "\"writer\": \"guest\", \"type\": \"int\", \"min\"", "unknown writer \"guest\"" },
		{ "\"type\": \"uuid\"", "\"type\": \"guid\"", "unknown type \"guid\"" },
		{ "\"doc\": \"u\"}", "\"doc\": \"u\", \"colour\": 1}",
		  "unknown member \"colour\"" },
		{ "\"min\": -10, \"max\": 10", "\"min\": 10, \"max\": -10", "above" },
		{ "\"required_in\": \"always\", \"doc\": \"s\"},\n    {\"name\": \"offset\"",
		  "\"required_in\": [\"Connectd\"], \"doc\": \"s\"},\n    {\"name\": \"offset\"",
		  "unknown XenbusState \"Connectd\"" },
		{ "\"doc\": \"o\"}",
		  "\"doc\": \"o\", \"required_in\": \"always\", "
		  "\"required_when\": {\"absent\": [\"uuids\"]}}",
		  "unknown key \"uuids\"" },
		{ "\"doc\": \"b\"}", "\"doc\": \"b\", \"regex\": \"x\"}", "only for string" },
		{ "pvsplit-xenstore/1", "pvsplit-xenstore/2", "\"schema\" must be" },
		{ "/local/domain/{domid}/device/test/{devid}", "/local/domain/{dom}/device/test",
		  "placeholders" },
		{ "\"type\": \"test\"", "\"type\": \"test\",", "JSON error" },
		{ "\"name\": \"big\"", "\"name\": \"ring-ref{n\"", "bad name" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = replace(custom_type, cases[i].from, cases[i].to);

		expect_load_error(t, cases[i].needle);
		free(t);
	}
	expect_load_error("{\"schema\": \"pvsplit-xenstore/1\"} x", "trailing data");
	expect_load_error("{\n\n  \"schema\": ", "line 3");
}

static void test_load_dir(void)
{
	struct pvs_schema *s = (struct pvs_schema *)1;
	char *err = NULL;

	CU_ASSERT_EQUAL(pvs_schema_load(&s, "/nonexistent/schema/dir", &err), -ENOENT);
	CU_ASSERT_PTR_EQUAL(s, (struct pvs_schema *)1);
	CU_ASSERT_TRUE(err && strstr(err, "/nonexistent/schema/dir"));
	free(err);
	{
		char dir[] = "/tmp/pvs-schema-empty-XXXXXX";

		CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
		CU_ASSERT_EQUAL(pvs_schema_load(&s, dir, &err), -ENOENT); /* no .json file */
		CU_ASSERT_TRUE(err && strstr(err, "no .json"));
		free(err);
		rmdir(dir);
	}
	CU_ASSERT_STRING_EQUAL(pvs_state_name(4), "Connected");
	CU_ASSERT_EQUAL(pvs_state_from_name("InitWait"), 2);
	CU_ASSERT_EQUAL(pvs_state_from_name("Unknown"), -EINVAL);
	CU_ASSERT_STRING_EQUAL(pvs_finding_kind_name(PVS_FINDING_BADSTATE), "BADSTATE");
}

/* ------------------------------------------------------------------ */
/* Tests: the checker                                                  */
/* ------------------------------------------------------------------ */

static void test_check_vbd_initwait_clean(void)
{
	struct tree t = { 0 };

	vbd_initwait(&t);
	expect_clean(&t, "/", 2);
	expect_clean(&t, VBD_BE, 1);
	expect_clean(&t, "/local/domain/0/backend/vbd", 1);
	expect_clean(&t, "/local/domain/1/device", 1);
	tree_free(&t);
}

static void test_check_vbd_connected_clean(void)
{
	struct tree t = { 0 };
	struct pvs_report *r;

	vbd_connected(&t);
	noise(&t);
	r = check(&t, "/local/domain");
	if (r) {
		CU_ASSERT_EQUAL(r->nfindings, 0);
		dump(r);
		CU_ASSERT_EQUAL_FATAL(r->ndevices, 2);
		/* sorted walk: domain 0 (backend) before domain 1 (frontend) */
		CU_ASSERT_STRING_EQUAL(r->devices[0].path, VBD_BE);
		CU_ASSERT_EQUAL(r->devices[0].side, PVS_SIDE_BACKEND);
		CU_ASSERT_EQUAL(r->devices[0].state, 4);
		CU_ASSERT_STRING_EQUAL(r->devices[0].type, "vbd");
		CU_ASSERT_STRING_EQUAL(r->devices[1].path, VBD_FE);
		CU_ASSERT_EQUAL(r->devices[1].state, 4);
		pvs_report_free(r);
	}
	/* a path inside a device checks that device */
	expect_clean(&t, VBD_FE "/ring-ref", 1);
	tree_free(&t);
}

static void test_check_missing_sectors(void)
{
	struct tree t = { 0 };
	struct pvs_report *r;

	vbd_connected(&t);
	tree_rm(&t, VBD_BE "/sectors");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_BE "/sectors");
	r = check(&t, VBD_BE);
	if (r && r->nfindings == 1) {
		CU_ASSERT_PTR_NULL(r->findings[0].found);
		CU_ASSERT_STRING_EQUAL(r->findings[0].device, VBD_BE);
		CU_ASSERT_EQUAL(r->findings[0].side, PVS_SIDE_BACKEND);
		CU_ASSERT_PTR_NOT_NULL(strstr(r->findings[0].message, "Connected"));
		CU_ASSERT_EQUAL(r->devices[0].nfindings, 1);
	}
	pvs_report_free(r);
	/* not required before Connected */
	tree_set(&t, VBD_BE "/state", "2");
	expect_clean(&t, VBD_BE, 1);
	tree_free(&t);
}

static void test_check_extra_key(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_set(&t, VBD_BE "/feature-teleport", "1");
	expect_one(&t, "/", PVS_FINDING_EXTRA, VBD_BE "/feature-teleport");
	tree_free(&t);

	/* an unknown directory is reported once, not node by node */
	memset(&t, 0, sizeof(t));
	vbd_connected(&t);
	tree_set(&t, VBD_FE "/stats/reads", "1");
	tree_set(&t, VBD_FE "/stats/writes", "1");
	expect_one(&t, "/", PVS_FINDING_EXTRA, VBD_FE "/stats");
	tree_free(&t);

	/* unknown children of a known directory */
	memset(&t, 0, sizeof(t));
	vbd_connected(&t);
	tree_rm(&t, VBD_FE "/ring-ref");
	tree_rm(&t, VBD_FE "/event-channel");
	tree_set(&t, VBD_FE "/multi-queue-num-queues", "1");
	tree_set(&t, VBD_FE "/queue-0/ring-ref", "8");
	tree_set(&t, VBD_FE "/queue-0/event-channel", "15");
	tree_set(&t, VBD_FE "/queue-0/tx-ring-ref", "9");
	expect_one(&t, "/", PVS_FINDING_EXTRA, VBD_FE "/queue-0/tx-ring-ref");
	tree_free(&t);
}

static void test_check_bad_enum(void)
{
	struct tree t = { 0 };
	struct pvs_report *r;

	vbd_connected(&t);
	tree_set(&t, VBD_BE "/mode", "rw");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VBD_BE "/mode");
	r = check(&t, VBD_BE);
	if (r && r->nfindings == 1) {
		CU_ASSERT_STRING_EQUAL(r->findings[0].found, "rw");
		CU_ASSERT_STRING_EQUAL(r->findings[0].expected, "enum r|w");
	}
	pvs_report_free(r);
	tree_free(&t);
}

static void test_check_bad_state(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_set(&t, VBD_FE "/state", "9");
	expect_one(&t, "/", PVS_FINDING_BADSTATE, VBD_FE "/state");
	tree_rm(&t, VBD_FE "/state");
	expect_one(&t, "/", PVS_FINDING_BADSTATE, VBD_FE "/state");
	tree_set(&t, VBD_FE "/state", "connected");
	expect_one(&t, VBD_FE, PVS_FINDING_BADSTATE, VBD_FE "/state");
	tree_free(&t);
}

static void test_check_ring_ref_missing(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_rm(&t, VBD_FE "/ring-ref");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_FE "/ring-ref");
	/* in Initialised too, not in Initialising */
	tree_set(&t, VBD_FE "/state", "3");
	expect_one(&t, VBD_FE, PVS_FINDING_MISSING, VBD_FE "/ring-ref");
	tree_set(&t, VBD_FE "/state", "1");
	expect_clean(&t, VBD_FE, 1);
	tree_free(&t);
}

static void test_check_multipage_ring(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_rm(&t, VBD_FE "/ring-ref");
	tree_set(&t, VBD_FE "/ring-page-order", "1");
	tree_set(&t, VBD_FE "/ring-ref0", "8");
	tree_set(&t, VBD_FE "/ring-ref1", "9");
	expect_clean(&t, "/", 2);
	/* no ring-refN at all */
	tree_rm(&t, VBD_FE "/ring-ref0");
	tree_rm(&t, VBD_FE "/ring-ref1");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_FE "/ring-ref{n}");
	/* a single-page ring-ref does not satisfy a multi-page ring */
	tree_set(&t, VBD_FE "/ring-ref", "8");
	expect_one(&t, VBD_FE, PVS_FINDING_MISSING, VBD_FE "/ring-ref{n}");
	tree_free(&t);
}

static void test_check_multiqueue(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_rm(&t, VBD_FE "/ring-ref");
	tree_rm(&t, VBD_FE "/event-channel");
	tree_set(&t, VBD_FE "/multi-queue-num-queues", "2");
	tree_set(&t, VBD_FE "/queue-0/ring-ref", "8");
	tree_set(&t, VBD_FE "/queue-0/event-channel", "15");
	tree_set(&t, VBD_FE "/queue-1/ring-ref", "9");
	tree_set(&t, VBD_FE "/queue-1/event-channel", "16");
	expect_clean(&t, "/", 2);

	/* one queue lacks its event channel: reported for that queue only */
	tree_rm(&t, VBD_FE "/queue-1/event-channel");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_FE "/queue-1/event-channel");
	tree_set(&t, VBD_FE "/queue-1/event-channel", "16");

	/* multi-queue with multi-page rings */
	tree_set(&t, VBD_FE "/ring-page-order", "1");
	tree_rm(&t, VBD_FE "/queue-0/ring-ref");
	tree_rm(&t, VBD_FE "/queue-1/ring-ref");
	tree_set(&t, VBD_FE "/queue-0/ring-ref0", "8");
	tree_set(&t, VBD_FE "/queue-0/ring-ref1", "10");
	tree_set(&t, VBD_FE "/queue-1/ring-ref0", "9");
	tree_set(&t, VBD_FE "/queue-1/ring-ref1", "11");
	expect_clean(&t, "/", 2);
	tree_rm(&t, VBD_FE "/queue-1/ring-ref0");
	tree_rm(&t, VBD_FE "/queue-1/ring-ref1");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_FE "/queue-1/ring-ref{n}");
	tree_set(&t, VBD_FE "/queue-1/ring-ref0", "9");
	tree_set(&t, VBD_FE "/queue-1/ring-ref1", "11");

	/* queue directories without multi-queue-num-queues */
	tree_rm(&t, VBD_FE "/multi-queue-num-queues");
	expect_one(&t, "/", PVS_FINDING_MISSING, VBD_FE "/multi-queue-num-queues");
	tree_free(&t);
}

static void test_check_mismatch(void)
{
	struct tree t = { 0 };

	vbd_connected(&t);
	tree_set(&t, VBD_FE "/backend-id", "3");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VBD_FE "/backend-id");
	tree_set(&t, VBD_FE "/backend-id", "0");
	tree_set(&t, VBD_FE "/virtual-device", "51728");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VBD_FE "/virtual-device");
	tree_set(&t, VBD_FE "/virtual-device", "51712");
	tree_set(&t, VBD_BE "/frontend", "/local/domain/2/device/vbd/51712");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VBD_BE "/frontend");
	tree_set(&t, VBD_BE "/frontend", "/local/domain/1/device/vif/51712");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VBD_BE "/frontend");
	tree_free(&t);
}

static void test_check_vif(void)
{
	struct tree t = { 0 };

	vif_connected(&t);
	expect_clean(&t, "/", 2);
	/* split event channels need both halves, per queue */
	tree_rm(&t, VIF_FE "/queue-1/event-channel-rx");
	expect_one(&t, "/", PVS_FINDING_MISSING, VIF_FE "/queue-1/event-channel-rx");
	tree_rm(&t, VIF_FE "/queue-1/event-channel-tx");
	expect_one(&t, "/", PVS_FINDING_MISSING, VIF_FE "/queue-1/event-channel");
	tree_free(&t);

	/* one queue, flat keys, as Linux netfront writes them (num-queues 1) */
	memset(&t, 0, sizeof(t));
	vif_connected(&t);
	tree_rm(&t, VIF_FE "/queue-0");
	tree_rm(&t, VIF_FE "/queue-1");
	tree_set(&t, VIF_FE "/multi-queue-num-queues", "1");
	tree_set(&t, VIF_FE "/tx-ring-ref", "9");
	tree_set(&t, VIF_FE "/rx-ring-ref", "10");
	tree_set(&t, VIF_FE "/event-channel", "20");
	expect_clean(&t, "/", 2);
	tree_rm(&t, VIF_FE "/rx-ring-ref");
	expect_one(&t, "/", PVS_FINDING_MISSING, VIF_FE "/rx-ring-ref");
	tree_set(&t, VIF_FE "/rx-ring-ref", "10");
	tree_set(&t, VIF_FE "/mac", "00:16:3e:12:34");
	expect_one(&t, "/", PVS_FINDING_BADTYPE, VIF_FE "/mac");
	tree_free(&t);
}

static void test_check_console(void)
{
	struct tree t = { 0 };

	console_primary(&t);
	console_channel(&t);
	expect_clean(&t, "/", 4);
	expect_clean(&t, "/local/domain/1/console", 1);
	/* the primary console needs its ring at all times, without a state */
	tree_rm(&t, "/local/domain/1/console/ring-ref");
	expect_one(&t, "/", PVS_FINDING_MISSING, "/local/domain/1/console/ring-ref");
	tree_set(&t, "/local/domain/1/console/ring-ref", "1046562");
	/* a secondary console needs a state; its ring only once initialised */
	tree_rm(&t, "/local/domain/1/device/console/1/state");
	expect_one(&t, "/", PVS_FINDING_BADSTATE, "/local/domain/1/device/console/1/state");
	tree_set(&t, "/local/domain/1/device/console/1/state", "1");
	tree_rm(&t, "/local/domain/1/device/console/1/ring-ref");
	expect_clean(&t, "/", 4);
	tree_set(&t, "/local/domain/1/device/console/1/state", "4");
	expect_one(&t, "/", PVS_FINDING_MISSING, "/local/domain/1/device/console/1/ring-ref");
	tree_free(&t);
}

static void test_check_errors(void)
{
	struct tree t = { 0 };
	struct pvs_report *r = NULL;
	struct pvs_tree_ops bad = { .list = fake_list, .read = NULL };

	vbd_connected(&t);
	CU_ASSERT_EQUAL(pvs_check_tree(S, &fake_ops, &t, "/local/domain/9", &r), -ENOENT);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(pvs_check_tree(S, &fake_ops, &t, "local", &r), -EINVAL);
	CU_ASSERT_EQUAL(pvs_check_tree(S, &bad, &t, "/", &r), -EINVAL);
	t.fail_errno = EACCES;
	CU_ASSERT_EQUAL(pvs_check_tree(S, &fake_ops, &t, "/", &r), -EACCES);
	CU_ASSERT_PTR_NULL(r);
	t.fail_errno = 0;
	/* nothing to check is not an error */
	tree_set(&t, "/tool/xenstored", "");
	expect_clean(&t, "/tool", 0);
	tree_free(&t);
}

/* ------------------------------------------------------------------ */

static int suite_init(void)
{
	const char *dir = getenv("PVSPLIT_SCHEMA_DIR");
	char *err = NULL;
	int rc;

	if (!dir || !*dir)
		dir = PVS_TEST_SCHEMA_DIR;
	rc = pvs_schema_load(&S, dir, &err);
	if (rc) {
		fprintf(stderr, "cannot load the schema from %s: %s\n", dir, err ? err : "?");
		free(err);
		return 1;
	}
	if (pvs_schema_type(S, "vbd", &VBD) || pvs_schema_type(S, "vif", &VIF) ||
	    pvs_schema_type(S, "console", &CONSOLE)) {
		fprintf(stderr, "the schema in %s lacks vbd, vif or console\n", dir);
		return 1;
	}
	return 0;
}

static int suite_clean(void)
{
	pvs_schema_free(S);
	S = NULL;
	return 0;
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "types loaded", test_types_loaded },
		{ "key lookup", test_key_lookup },
		{ "key patterns", test_patterns },
		{ "path building", test_paths_build },
		{ "path parsing", test_paths_parse },
		{ "value validation", test_values },
		{ "int and uuid values", test_values_custom },
		{ "load errors", test_load_errors },
		{ "load directory", test_load_dir },
		{ "vbd InitWait is clean", test_check_vbd_initwait_clean },
		{ "vbd Connected is clean", test_check_vbd_connected_clean },
		{ "missing sectors", test_check_missing_sectors },
		{ "extra keys", test_check_extra_key },
		{ "bad enum", test_check_bad_enum },
		{ "bad state", test_check_bad_state },
		{ "single-page ring-ref missing", test_check_ring_ref_missing },
		{ "multi-page ring", test_check_multipage_ring },
		{ "multi-queue", test_check_multiqueue },
		{ "values against the path", test_check_mismatch },
		{ "vif", test_check_vif },
		{ "console", test_check_console },
		{ "checker errors", test_check_errors },
	};

	return CUNIT_MAIN("schema", suite_init, suite_clean, tests);
}
