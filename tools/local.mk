# SPDX-License-Identifier: GPL-2.0-or-later
# pvsplit: the command line tool (one file per subcommand).
bin_PROGRAMS += tools/pvsplit/pvsplit
tools_pvsplit_pvsplit_SOURCES = \
	tools/pvsplit/main.c \
	tools/pvsplit/commands.h \
	tools/pvsplit/xs_check.c
tools_pvsplit_pvsplit_CFLAGS = $(AM_CFLAGS) $(XENSTORE_CFLAGS) $(JSONC_CFLAGS)
tools_pvsplit_pvsplit_LDADD = libpvsplit-schema.la libpvsplit-hv.la $(XENSTORE_LIBS) $(JSONC_LIBS)
