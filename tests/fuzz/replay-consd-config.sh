#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replays the consoled configuration fuzz corpus (seeds and past crashes).
exec "${PVSPLIT_BUILDDIR:-.}/tests/fuzz/replay_consd_config" "${PVSPLIT_SRCDIR:-.}/tests/fuzz/corpus/consd_config"
