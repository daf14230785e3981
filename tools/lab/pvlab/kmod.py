# SPDX-License-Identifier: GPL-2.0-or-later
"""pvsplit's guest kernel module (pvsplit-blkfront) built for the lab's kernel.

`pvsplit-lab run --frontend pvsplit` loads it in the guest in place of the
stock xen-blkfront.  It is built out of tree (kbuild, W=1) from the checkout
the pvsplit build was configured from, against Debian's headers for the
lab's kernel ABI (linux-headers-<abi>, which `./dev` installs as
linux-headers-amd64), in a scratch copy under the run's directory.
"""
import os
import re
import shutil
import subprocess

from .ui import LabError, progress

MODULE = "pvsplit-blkfront.ko"


def source_dir(builddir):
    """domU-frontends/linux of the checkout BUILDDIR was configured from
    ($PVSPLIT_KMOD_SRC overrides)."""
    src = os.environ.get("PVSPLIT_KMOD_SRC")
    if not src:
        try:
            with open(os.path.join(builddir, "Makefile")) as f:
                m = re.search(r"^abs_top_srcdir = (.*)$", f.read(), re.M)
        except OSError:
            m = None
        if not m:
            raise LabError(f"{builddir} is not a configured pvsplit build (no abs_top_srcdir "
                           "in its Makefile): cannot find the module sources")
        src = os.path.join(m.group(1).strip(), "domU-frontends", "linux")
    if not os.path.isfile(os.path.join(src, "Kbuild")):
        raise LabError(f"no pvsplit-blkfront sources (Kbuild) in {src}")
    return src


def kernel_headers(abi):
    """The kbuild tree for ABI ($PVSPLIT_LAB_KDIR overrides)."""
    kdir = os.environ.get("PVSPLIT_LAB_KDIR") or f"/usr/src/linux-headers-{abi}"
    if not os.path.isfile(os.path.join(kdir, "Makefile")):
        raise LabError(f"--frontend pvsplit builds pvsplit-blkfront for the lab's kernel {abi}: "
                       f"no kernel headers at {kdir} (apt-get install linux-headers-{abi}, "
                       "or set PVSPLIT_LAB_KDIR)")
    return kdir


def build_blkfront(builddir, abi, workdir):
    """Build the module into WORKDIR; returns the path of the stripped .ko."""
    src, kdir = source_dir(builddir), kernel_headers(abi)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    shutil.copy(os.path.join(src, "Kbuild"), workdir)
    shutil.copytree(os.path.join(src, "blkfront"), os.path.join(workdir, "blkfront"),
                    ignore=shutil.ignore_patterns("*.o", ".*.cmd", "*.ko", "*.mod*"))
    progress(f"building {MODULE} for {abi} (kbuild, W=1)")
    env = {k: v for (k, v) in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", kdir, f"M={workdir}", "W=1", "modules"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ko = os.path.join(workdir, MODULE)
    if r.returncode != 0 or not os.path.exists(ko):
        raise LabError(f"{MODULE} does not build against {kdir}:\n{r.stdout[-3000:]}")
    stripped = os.path.join(workdir, "stripped.ko")
    shutil.copy(ko, stripped)
    # debug info only: the guest loads it from its initramfs
    subprocess.run(["strip", "--strip-debug", stripped], check=False)
    return stripped
