#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replays the schema fuzz corpus (seeds and past crashes).
exec "${PVSPLIT_BUILDDIR:-.}/tests/fuzz/replay_schema" "${PVSPLIT_SRCDIR:-.}/tests/fuzz/corpus/schema"
