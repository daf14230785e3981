/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pvsplit tool's subcommands: one file each. */
#ifndef PVSPLIT_TOOL_COMMANDS_H
#define PVSPLIT_TOOL_COMMANDS_H

/* pvsplit xs-check [--json] [--schema-dir DIR] PATH */
int cmd_xs_check(int argc, char **argv);

/* pvsplit stats [--json] [--socket PATH]... */
int cmd_stats(int argc, char **argv);

#endif
