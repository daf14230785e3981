#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replays the block request fuzz corpus (seeds and past crashes).
exec "${PVSPLIT_BUILDDIR:-.}/tests/fuzz/replay_blkreq" "${PVSPLIT_SRCDIR:-.}/tests/fuzz/corpus/blkreq"
