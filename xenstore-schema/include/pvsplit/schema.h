/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpvsplit-schema: the xenstore layout of PV split devices, as data.
 *
 * The layout of every device type (vbd, vif, console) is kept in JSON
 * files (xenstore-schema/data/<type>.json, installed in
 * $(pkgdatadir)/xenstore-schema).  This library loads them and answers:
 *
 *   - which keys a frontend and a backend directory hold, who writes each,
 *     its type, allowed values, default, and in which XenbusState (of that
 *     side's own "state" key) it must exist;
 *   - where a device's directories are (paths are built from the schema's
 *     templates, so nobody hard-codes a xenstore path, and a key that is not
 *     in the schema is refused with -ENOENT);
 *   - which device a xenstore path belongs to;
 *   - whether a value is valid for a key;
 *   - what is wrong with a live xenstore subtree (the checker), reading the
 *     tree through caller-supplied callbacks so it runs on libxenstore as
 *     well as on an in-memory tree.
 *
 * The file format is described in xenstore-schema/README.md.
 *
 * Key names may be patterns: "{name}" inside a key name stands for one or
 * more decimal digits written canonically (no leading zero unless the
 * number is 0), e.g. "ring-ref{n}" matches "ring-ref0" and "ring-ref12",
 * "queue-{q}/ring-ref" matches "queue-1/ring-ref".  Lookups by name accept
 * the pattern itself as well as any instance of it; an exact key wins over
 * a pattern.
 *
 * Return convention (every function, unless its comment says otherwise):
 *   >= 0      success (0, a count or a length);
 *   -errno    failure; errno is not used.
 * No function prints anything.  Functions that hand out an object do so
 * through an out parameter, which is left untouched on failure.  Strings
 * and objects handed out by accessors belong to the schema and live as long
 * as it does, unless a comment says the caller frees them.
 *
 * A loaded schema is read-only: it may be shared between threads.  The
 * library keeps no global state.
 */
#ifndef PVSPLIT_SCHEMA_H
#define PVSPLIT_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A set of loaded device types. */
struct pvs_schema;
/* One device type ("vbd", "vif", "console"). */
struct pvs_devtype;
/* One key of one side of a device type. */
struct pvs_key;

/* The file format this library reads ("schema" member of every file). */
#define PVS_SCHEMA_FORMAT "pvsplit-xenstore/1"

/* The environment variable naming the schema directory. */
#define PVS_SCHEMA_DIR_ENV "PVSPLIT_SCHEMA_DIR"

enum pvs_side {
	PVS_SIDE_FRONTEND = 0,
	PVS_SIDE_BACKEND = 1,
};

/* Who writes a key. */
enum pvs_writer {
	PVS_WRITER_TOOLSTACK = 0, /* libxl / the pvsplit builder */
	PVS_WRITER_FRONTEND,	  /* the guest's driver */
	PVS_WRITER_BACKEND,	  /* the backend daemon (or kernel driver) */
	PVS_WRITER_HOTPLUG,	  /* a hotplug script (block, vif-bridge) */
};

/* The type of a key's value.  Every value is a string in xenstore. */
enum pvs_type {
	PVS_TYPE_STRING = 0, /* any string, optionally matching a regex */
	PVS_TYPE_UINT,	     /* decimal, 0..UINT64_MAX, optional min/max */
	PVS_TYPE_INT,	     /* decimal with optional '-', optional min/max */
	PVS_TYPE_BOOL,	     /* "0" or "1" */
	PVS_TYPE_STATE,	     /* a XenbusState, "1".."8" */
	PVS_TYPE_ENUM,	     /* one of a list of strings */
	PVS_TYPE_DOMID,	     /* a domain id, 0..32751 (below DOMID_FIRST_RESERVED) */
	PVS_TYPE_PATH,	     /* an absolute xenstore path */
	PVS_TYPE_MAC,	     /* xx:xx:xx:xx:xx:xx, hex */
	PVS_TYPE_UUID,	     /* 8-4-4-4-12 hex digits */
	PVS_TYPE_DEVNUM,     /* "MAJOR:MINOR" in hex, as `stat -c %t:%T` prints */
	PVS_TYPE_DIR,	     /* a directory node: its own value is empty */
};

/* Bits of pvs_key_required_mask(). */
#define PVS_REQ_STATE(s) (1u << (s)) /* required when the side's state is s (1..8) */
#define PVS_REQ_ALWAYS	 (1u << 0)   /* required whatever the state, even without one */

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/*
 * The directory pvs_schema_load(NULL) reads: $PVSPLIT_SCHEMA_DIR when set
 * and not empty, else the installed directory.  Never fails.
 */
const char *pvs_schema_default_dir(void);

/*
 * Load every "*.json" file of a directory (in name order) into a new
 * schema.  dir NULL: pvs_schema_default_dir().
 *
 * Returns 0 and *out, or:
 *   -ENOENT   the directory does not exist, or holds no .json file;
 *   -EINVAL   a file is not valid JSON or not a valid schema (bad member,
 *             unknown writer/type/state, a condition naming an unknown key,
 *             a bad regex, two files for one device type, ...);
 *   -ENOMEM, or another -errno from opening or reading a file.
 * On failure, when errmsg is not NULL, *errmsg receives a one-line
 * description naming the file and what is wrong in it (malloc'd: the caller
 * frees it with free()); it is set to NULL on success.
 */
int pvs_schema_load(struct pvs_schema **out, const char *dir, char **errmsg);

/* An empty schema, to be filled with pvs_schema_add_*().  0 or -ENOMEM. */
int pvs_schema_new(struct pvs_schema **out);

/*
 * Add the device type described by one schema file, or by a buffer holding
 * the text of one ("origin" names it in error messages; may be NULL).
 * Errors as pvs_schema_load().  On failure the schema is unchanged.
 */
int pvs_schema_add_file(struct pvs_schema *s, const char *path, char **errmsg);
int pvs_schema_add_buffer(struct pvs_schema *s, const char *buf, size_t len, const char *origin,
			  char **errmsg);

/* Free a schema and everything handed out from it.  NULL is accepted. */
void pvs_schema_free(struct pvs_schema *s);

/* ------------------------------------------------------------------ */
/* Device types and keys                                               */
/* ------------------------------------------------------------------ */

/* Number of device types loaded. */
size_t pvs_schema_type_count(const struct pvs_schema *s);
/* The i-th device type (in load order), NULL when i is out of range. */
const struct pvs_devtype *pvs_schema_type_at(const struct pvs_schema *s, size_t i);

/* Find a device type by name ("vbd").  0 and *out, -ENOENT, or -EINVAL (NULL name). */
int pvs_schema_type(const struct pvs_schema *s, const char *name, const struct pvs_devtype **out);

const char *pvs_devtype_name(const struct pvs_devtype *t);
const char *pvs_devtype_doc(const struct pvs_devtype *t);
/* The file the type was loaded from ("origin" of a buffer), never NULL. */
const char *pvs_devtype_origin(const struct pvs_devtype *t);

/* Number of path templates of one side, and the i-th (NULL when out of range). */
size_t pvs_devtype_path_count(const struct pvs_devtype *t, enum pvs_side side);
const char *pvs_devtype_path_at(const struct pvs_devtype *t, enum pvs_side side, size_t i);

/* Number of keys of one side, and the i-th in file order (NULL when out of range). */
size_t pvs_devtype_key_count(const struct pvs_devtype *t, enum pvs_side side);
const struct pvs_key *pvs_devtype_key_at(const struct pvs_devtype *t, enum pvs_side side, size_t i);

/*
 * Find the key that "name" is, or is an instance of ("ring-ref3" finds
 * "ring-ref{n}", "queue-0/event-channel" finds "queue-{q}/event-channel").
 * Returns 0 and *out, -ENOENT when the side has no such key, -EINVAL on a
 * bad side or NULL name.
 */
int pvs_devtype_key(const struct pvs_devtype *t, enum pvs_side side, const char *name,
		    const struct pvs_key **out);

const char *pvs_key_name(const struct pvs_key *k);
enum pvs_side pvs_key_side(const struct pvs_key *k);
const struct pvs_devtype *pvs_key_devtype(const struct pvs_key *k);
enum pvs_writer pvs_key_writer(const struct pvs_key *k);
enum pvs_type pvs_key_type(const struct pvs_key *k);
const char *pvs_key_doc(const struct pvs_key *k);
/* Where the key was derived from ("file:function"); the file's "source" when the key has none. */
const char *pvs_key_source(const struct pvs_key *k);
/* The value a reader assumes when the key is absent, or NULL when none is documented. */
const char *pvs_key_default(const struct pvs_key *k);
/* True when the name holds a "{placeholder}". */
bool pvs_key_is_pattern(const struct pvs_key *k);
/* True for keys marked deprecated (kept for old peers). */
bool pvs_key_is_deprecated(const struct pvs_key *k);
/*
 * The states in which the key must exist, as PVS_REQ_* bits (0 for an
 * optional key).  Conditions ("required_when") are not reflected here: the
 * checker evaluates them against the live directory.
 */
uint32_t pvs_key_required_mask(const struct pvs_key *k);
/* Allowed values of an enum key: count and the i-th (NULL when out of range). */
size_t pvs_key_value_count(const struct pvs_key *k);
const char *pvs_key_value_at(const struct pvs_key *k, size_t i);

/*
 * A short description of what the key accepts ("uint 512..", "enum r|w",
 * "bool (0|1)") into buf.  Returns the length written (excluding the NUL),
 * -ERANGE when buf is too small (it then holds a truncated string).
 */
int pvs_key_describe(const struct pvs_key *k, char *buf, size_t len);

/*
 * Check a value against the key's type, enum values, range and regex.
 * Returns 0 when valid, -EINVAL when it has the wrong form or is not an
 * allowed value, -ERANGE when a number is outside min/max.  When why is not
 * NULL it receives a one-line reason on failure (truncated to whylen).
 */
int pvs_key_check_value(const struct pvs_key *k, const char *value, char *why, size_t whylen);

/* "frontend"/"backend"; "toolstack"/...; "uint"/...: NULL for an unknown value. */
const char *pvs_side_name(enum pvs_side side);
const char *pvs_writer_name(enum pvs_writer w);
const char *pvs_type_name(enum pvs_type t);
/* "Initialising".."Reconfigured" for 1..8, "Unknown" for 0, NULL otherwise. */
const char *pvs_state_name(int state);
/* The XenbusState number of a name ("Connected" -> 4), or -EINVAL. */
int pvs_state_from_name(const char *name);

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/*
 * Build the frontend directory of (domid, devid) from the type's first
 * frontend template that fits: a template without "{devid}" is used only
 * for devid 0 (e.g. the primary console, /local/domain/N/console).
 * Returns the length written (excluding the NUL), -ERANGE when buf is too
 * small, -ENOENT when no template fits, -EINVAL on a bad argument.
 */
int pvs_devtype_frontend_dir(const struct pvs_devtype *t, unsigned int domid, unsigned int devid,
			     char *buf, size_t len);

/* The backend directory of (backend_domid, domid, devid); as pvs_devtype_frontend_dir(). */
int pvs_devtype_backend_dir(const struct pvs_devtype *t, unsigned int backend_domid,
			    unsigned int domid, unsigned int devid, char *buf, size_t len);

/*
 * The path of key "key" (a plain key name, or an instance of a pattern such
 * as "ring-ref0" or "queue-1/event-channel") under the device directory
 * devdir of the given side: "<devdir>/<key>".
 * Returns the length, -ENOENT when the key is not in the schema (a typo),
 * -EINVAL when key is a pattern itself ("ring-ref{n}"), devdir is not an
 * absolute path or ends with '/', or an argument is NULL; -ERANGE when buf
 * is too small.
 */
int pvs_devtype_key_path(const struct pvs_devtype *t, enum pvs_side side, const char *devdir,
			 const char *key, char *buf, size_t len);

/* What a device path says. */
struct pvs_devpath {
	const struct pvs_devtype *type;
	enum pvs_side side;
	int domid;	       /* the frontend domain */
	int backend_domid;     /* -1 when the path does not say (frontend paths) */
	int devid;	       /* 0 for templates without {devid} */
	size_t template_index; /* which of the side's templates matched */
	size_t devdir_len;     /* length of the device directory within path */
	const char *key;       /* points into path after "<devdir>/", NULL at the dir */
};

/*
 * Parse a path that is a device directory, or lies below one.  Numbers in
 * the path must be canonical decimals that fit an int.
 * Returns 0 and *out, -ENOENT when the path is not (inside) a device
 * directory of any loaded type, -EINVAL on a NULL or relative path.
 */
int pvs_schema_parse_path(const struct pvs_schema *s, const char *path, struct pvs_devpath *out);

/*
 * True when the path could lead to a device directory: it is a strict
 * ancestor of some template instance ("/", "/local/domain/3/device").
 */
bool pvs_schema_path_is_ancestor(const struct pvs_schema *s, const char *path);

/* ------------------------------------------------------------------ */
/* The checker                                                         */
/* ------------------------------------------------------------------ */

/*
 * How the checker reads a tree.  Both callbacks return 0 or a -errno;
 * -ENOENT means the node does not exist (it may have gone away meanwhile).
 */
struct pvs_tree_ops {
	/*
	 * The child names of path.  *names is one malloc'd block holding the
	 * pointer array and the strings, released with a single free(*names)
	 * -- what libxenstore's xs_directory() returns.
	 */
	int (*list)(void *ctx, const char *path, char ***names, unsigned int *count);
	/* The value of path, NUL-terminated and malloc'd (freed with free()). */
	int (*read)(void *ctx, const char *path, char **value);
};

enum pvs_finding_kind {
	PVS_FINDING_MISSING = 0, /* a required key is absent */
	PVS_FINDING_EXTRA,	 /* a node the schema does not know */
	PVS_FINDING_BADTYPE,  /* a value of the wrong type/range/enum, or not matching the path */
	PVS_FINDING_BADSTATE, /* the side's "state" is missing or not a XenbusState */
};

struct pvs_finding {
	enum pvs_finding_kind kind;
	char *path;	  /* full path of the key (a pattern name when no instance exists) */
	char *device;	  /* the device directory */
	const char *type; /* device type name (owned by the schema) */
	enum pvs_side side;
	char *expected; /* what the schema wants, never NULL */
	char *found;	/* the value found, NULL when absent */
	char *message;	/* one line for humans, never NULL */
};

struct pvs_checked_device {
	char *path;	  /* the device directory */
	const char *type; /* owned by the schema */
	enum pvs_side side;
	int state;	  /* the side's XenbusState, -1 when missing or invalid */
	size_t nfindings; /* findings about this device */
};

struct pvs_report {
	size_t ndevices;
	struct pvs_checked_device *devices;
	size_t nfindings;
	struct pvs_finding *findings;
};

/*
 * Check every device directory at or below root (a device directory, a
 * type directory like /local/domain/0/backend/vbd, /local/domain/N/device,
 * /local/domain, "/", ...).  Device directories are found by shape (the
 * schema's path templates); nodes that cannot lead to one are not read.
 *
 * For each device directory the checker reports: keys the schema requires
 * in the side's current state (conditions evaluated) that are absent
 * (MISSING), nodes the schema does not know (EXTRA: only the topmost such
 * node is reported), values that do not pass pvs_key_check_value() or do
 * not agree with the path (BADTYPE), and a missing or invalid "state"
 * (BADSTATE).
 *
 * Returns 0 and *out (free it with pvs_report_free(); a clean tree gives a
 * report with nfindings == 0), -ENOENT when root does not exist, -EINVAL on
 * a bad argument, -ENOMEM, or a -errno returned by a callback other than
 * -ENOENT for a node below root (nodes that vanish are skipped).
 */
int pvs_check_tree(const struct pvs_schema *s, const struct pvs_tree_ops *ops, void *ctx,
		   const char *root, struct pvs_report **out);

void pvs_report_free(struct pvs_report *r);

/* "MISSING", "EXTRA", "BADTYPE", "BADSTATE"; NULL for an unknown kind. */
const char *pvs_finding_kind_name(enum pvs_finding_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* PVSPLIT_SCHEMA_H */
