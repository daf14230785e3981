#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Kernel coding style of the module sources: Linux 6.1's checkpatch.pl
# (a copy in scripts/, with its spelling.txt and const_structs.checkpatch,
# so this runs offline).  Warnings fail.  Exit 77 (skip) without perl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v perl >/dev/null || { echo "checkpatch: SKIP: no perl"; exit 77; }
perl "$here/scripts/checkpatch.pl" --no-tree --show-types --summary-file \
	--quiet -f "$here"/blkfront/*.c "$here"/blkfront/*.h
echo "checkpatch: $(ls "$here"/blkfront/*.[ch] | wc -l) files, no errors or warnings"
