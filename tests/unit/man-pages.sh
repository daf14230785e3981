#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Every command `pvsplit --help` lists has the page it points to
# (pvsplit-COMMAND(1)), and every page in man/ is installed.
set -eu
src=${PVSPLIT_SRCDIR:-.}
bad=0
cmds=$("${PVSPLIT_BUILDDIR:-.}/tools/pvsplit/pvsplit" --help | awk '/^Commands:/ { on = 1; next } on && NF { print $1 } on && !NF { exit }')
[ -n "$cmds" ] || { echo "pvsplit --help lists no command"; exit 1; }
for c in $cmds; do
	if [ ! -f "$src/man/pvsplit-$c.1" ]; then
		echo "pvsplit $c: no man/pvsplit-$c.1"
		bad=1
	fi
done
for m in "$src"/man/*.[0-9]; do
	name=man/${m##*/}
	if ! grep -qs "dist_man_MANS.*$name" "$src"/Makefile.am "$src"/*/local.mk "$src"/*/*/local.mk; then
		echo "$name: not in any dist_man_MANS"
		bad=1
	fi
done
exit $bad
