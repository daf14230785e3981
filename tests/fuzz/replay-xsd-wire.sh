#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replays the xenstore wire fuzz corpus (seeds and past crashes).
exec "${PVSPLIT_BUILDDIR:-.}/tests/fuzz/replay_xsd_wire" "${PVSPLIT_SRCDIR:-.}/tests/fuzz/corpus/xsd_wire"
