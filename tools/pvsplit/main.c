// SPDX-License-Identifier: GPL-2.0-or-later
/* pvsplit: the command line tool.  A table of subcommands, one file each. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "xs-check", cmd_xs_check, "validate a xenstore device subtree against the schema" },
	{ "stats", cmd_stats, "counters of the running pvsplit daemons" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: pvsplit COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nSee pvsplit-COMMAND(1) for each command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("pvsplit %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pvsplit: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
