# SPDX-License-Identifier: GPL-2.0-or-later
"""Progress and error output shared by every lab module."""
import sys
import time

_T0 = time.monotonic()
quiet = False


class LabError(Exception):
    """A failure with a message meant for the person running the lab."""


def elapsed():
    return time.monotonic() - _T0


def progress(msg):
    """One progress line on stderr, prefixed with the seconds since start."""
    if not quiet:
        print(f"[{elapsed():6.1f}s] {msg}", file=sys.stderr, flush=True)


def warn(msg):
    print(f"pvsplit-lab: warning: {msg}", file=sys.stderr, flush=True)
