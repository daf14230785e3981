/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pvsplit xs-check [--json] [--schema-dir DIR] PATH
 *
 * Validate the device directories at or below a xenstore path against the
 * schema (libpvsplit-schema) and report missing, extra and badly typed keys
 * and bad states.  Talks to xenstored with the stock libxenstore client, so
 * XENSTORED_PATH selects the socket (a pvsplit sim domain, or dom0's).
 *
 * Exit status: 0 clean, 1 findings, 2 usage, schema or connection errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <xenstore.h>

#include "commands.h"
#include "pvsplit/schema.h"

#define PROG "pvsplit xs-check"

struct xs_ctx {
	struct xs_handle *h;
	xs_transaction_t t;
};

static int xs_list(void *ctx, const char *path, char ***names, unsigned int *count)
{
	struct xs_ctx *c = ctx;
	char **v;

	errno = 0;
	v = xs_directory(c->h, c->t, path, count);
	if (!v)
		return errno ? -errno : -EIO;
	*names = v;
	return 0;
}

static int xs_get(void *ctx, const char *path, char **value)
{
	struct xs_ctx *c = ctx;
	unsigned int len;
	char *v;

	errno = 0;
	v = xs_read(c->h, c->t, path, &len);
	if (!v)
		return errno ? -errno : -EIO;
	*value = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvsplit xs-check [--json] [--schema-dir DIR] PATH\n"
		"\n"
		"Check the PV device directories (vbd, vif, console) at or below the\n"
		"xenstore PATH against the pvsplit xenstore schema.\n"
		"\n"
		"  --json            print the report as JSON\n"
		"  --schema-dir DIR  read the schema from DIR (default: $%s, else %s)\n"
		"  -h, --help        show this help\n"
		"\n"
		"Exit status: 0 clean, 1 findings, 2 usage, schema or connection error.\n",
		PVS_SCHEMA_DIR_ENV, pvs_schema_default_dir());
}

/* Print a value for a terminal: quoted, control characters escaped, shortened. */
static void print_value(FILE *f, const char *v)
{
	size_t n = 0;

	if (!v) {
		fputs("nothing", f);
		return;
	}
	fputc('"', f);
	for (; *v && n < 200; v++, n++) {
		unsigned char ch = (unsigned char)*v;

		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	if (*v)
		fputs("...", f);
	fputc('"', f);
}

static void count_kinds(const struct pvs_report *r, size_t counts[4])
{
	size_t i;

	memset(counts, 0, 4 * sizeof(counts[0]));
	for (i = 0; i < r->nfindings; i++)
		if ((unsigned)r->findings[i].kind < 4)
			counts[r->findings[i].kind]++;
}

static void print_text(const struct pvs_report *r, const char *root)
{
	size_t counts[4], i;

	for (i = 0; i < r->nfindings; i++) {
		const struct pvs_finding *f = &r->findings[i];

		printf("%-8s %s: expected %s, found ", pvs_finding_kind_name(f->kind), f->path,
		       f->expected);
		print_value(stdout, f->found);
		printf(" (%s)\n", f->message);
	}
	count_kinds(r, counts);
	if (!r->nfindings)
		printf("%s: %s: %zu device%s checked, clean\n", PROG, root, r->ndevices,
		       r->ndevices == 1 ? "" : "s");
	else
		printf("%s: %s: %zu device%s checked, %zu finding%s (%zu missing, %zu extra, "
		       "%zu badtype, %zu badstate)\n",
		       PROG, root, r->ndevices, r->ndevices == 1 ? "" : "s", r->nfindings,
		       r->nfindings == 1 ? "" : "s", counts[PVS_FINDING_MISSING],
		       counts[PVS_FINDING_EXTRA], counts[PVS_FINDING_BADTYPE],
		       counts[PVS_FINDING_BADSTATE]);
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static int print_json(const struct pvs_report *r, const char *root, const char *schema_dir)
{
	json_object *top = json_object_new_object(), *devs = json_object_new_array(),
		    *finds = json_object_new_array(), *sum = json_object_new_object();
	size_t counts[4], i;
	const char *text;

	if (!top || !devs || !finds || !sum)
		return -ENOMEM;
	json_object_object_add(top, "root", jstr(root));
	json_object_object_add(top, "schema_dir", jstr(schema_dir));
	for (i = 0; i < r->ndevices; i++) {
		const struct pvs_checked_device *d = &r->devices[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "path", jstr(d->path));
		json_object_object_add(o, "type", jstr(d->type));
		json_object_object_add(o, "side", jstr(pvs_side_name(d->side)));
		json_object_object_add(o, "state",
				       d->state >= 0 ? json_object_new_int(d->state) : NULL);
		json_object_object_add(o, "state_name", jstr(pvs_state_name(d->state)));
		json_object_object_add(o, "findings", json_object_new_uint64(d->nfindings));
		json_object_array_add(devs, o);
	}
	for (i = 0; i < r->nfindings; i++) {
		const struct pvs_finding *f = &r->findings[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", jstr(pvs_finding_kind_name(f->kind)));
		json_object_object_add(o, "path", jstr(f->path));
		json_object_object_add(o, "device", jstr(f->device));
		json_object_object_add(o, "type", jstr(f->type));
		json_object_object_add(o, "side", jstr(pvs_side_name(f->side)));
		json_object_object_add(o, "expected", jstr(f->expected));
		json_object_object_add(o, "found", jstr(f->found));
		json_object_object_add(o, "message", jstr(f->message));
		json_object_array_add(finds, o);
	}
	count_kinds(r, counts);
	json_object_object_add(sum, "devices", json_object_new_uint64(r->ndevices));
	json_object_object_add(sum, "findings", json_object_new_uint64(r->nfindings));
	json_object_object_add(sum, "missing", json_object_new_uint64(counts[PVS_FINDING_MISSING]));
	json_object_object_add(sum, "extra", json_object_new_uint64(counts[PVS_FINDING_EXTRA]));
	json_object_object_add(sum, "badtype", json_object_new_uint64(counts[PVS_FINDING_BADTYPE]));
	json_object_object_add(sum, "badstate",
			       json_object_new_uint64(counts[PVS_FINDING_BADSTATE]));
	json_object_object_add(top, "clean", json_object_new_boolean(r->nfindings == 0));
	json_object_object_add(top, "summary", sum);
	json_object_object_add(top, "devices", devs);
	json_object_object_add(top, "findings", finds);
	text = json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text) {
		json_object_put(top);
		return -ENOMEM;
	}
	puts(text);
	json_object_put(top);
	return 0;
}

int cmd_xs_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "schema-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *schema_dir = NULL, *root;
	struct pvs_schema *schema = NULL;
	struct pvs_report *report = NULL;
	struct xs_ctx xs = { .h = NULL, .t = XBT_NULL };
	struct pvs_tree_ops ops = { .list = xs_list, .read = xs_get };
	bool json = false;
	char *err = NULL;
	int opt, rc, status = 2;

	optind = 0; /* glibc: start afresh, argv[0] is the subcommand */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 's':
			schema_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt)
				fprintf(stderr, "%s: bad or incomplete option '-%c'\n", PROG,
					optopt);
			else
				fprintf(stderr, "%s: bad or incomplete option '%s'\n", PROG,
					argv[optind - 1]);
			fprintf(stderr, "Try 'pvsplit xs-check --help'.\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: %s\n", PROG,
			optind >= argc ? "missing PATH" : "exactly one PATH is accepted");
		fprintf(stderr, "Try 'pvsplit xs-check --help'.\n");
		return 2;
	}
	root = argv[optind];
	if (root[0] != '/') {
		fprintf(stderr, "%s: %s: PATH must be an absolute xenstore path\n", PROG, root);
		return 2;
	}

	rc = pvs_schema_load(&schema, schema_dir, &err);
	if (rc) {
		fprintf(stderr, "%s: cannot load the schema: %s\n", PROG,
			err ? err : strerror(-rc));
		free(err);
		return 2;
	}

	xs.h = xs_open(0);
	if (!xs.h) {
		const char *sock = getenv("XENSTORED_PATH");

		fprintf(stderr, "%s: %s: cannot connect to xenstored%s%s%s: %s\n", PROG, root,
			sock ? " (XENSTORED_PATH=" : "", sock ? sock : "", sock ? ")" : "",
			strerror(errno));
		goto out;
	}
	/* One read-only transaction gives a consistent snapshot when the server has them. */
	xs.t = xs_transaction_start(xs.h);

	rc = pvs_check_tree(schema, &ops, &xs, root, &report);
	if (rc == -ENOENT) {
		fprintf(stderr, "%s: %s: no such xenstore node\n", PROG, root);
		goto out;
	}
	if (rc) {
		fprintf(stderr, "%s: %s: cannot read xenstore: %s\n", PROG, root, strerror(-rc));
		goto out;
	}
	if (json) {
		rc = print_json(report, root, schema_dir ? schema_dir : pvs_schema_default_dir());
		if (rc) {
			fprintf(stderr, "%s: %s: %s\n", PROG, root, strerror(-rc));
			goto out;
		}
	} else {
		print_text(report, root);
	}
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "%s: writing the report: %s\n", PROG, strerror(errno));
		goto out;
	}
	status = report->nfindings ? 1 : 0;
out:
	if (xs.h) {
		if (xs.t != XBT_NULL)
			xs_transaction_end(xs.h, xs.t, true);
		xs_close(xs.h);
	}
	pvs_report_free(report);
	pvs_schema_free(schema);
	return status;
}
