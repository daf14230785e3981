#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replays the hypervisor core fuzz corpus (seeds and past crashes).
exec "${PVSPLIT_BUILDDIR:-.}/tests/fuzz/replay_hvd" "${PVSPLIT_SRCDIR:-.}/tests/fuzz/corpus/hvd"
