# SPDX-License-Identifier: GPL-2.0-or-later
"""One run's files: the lab scripts, run.env, user scripts, the pvsplit build.

dom0's initrd for a run = the cached dom0 base image + an overlay archive
holding images/common/root, images/dom0/root, the pvsplit build (make install
DESTDIR=...), the guest kernel and the guest's initrd (the cached guest base
+ its own overlay).  The overlay is packed on every run: it is small except
for the guest initrd, which is a plain copy.
"""
import os
import shlex
import shutil

from . import cpio, images
from .ui import LabError, progress

# Timeouts (seconds) handed to the images; dom0 enforces them per step and the
# host allows each dom0 step its timeout plus a grace period.
TIMEOUTS = {
    "LAB_T_CREATE": 180,
    "LAB_T_GUEST_BOOT": 180,
    "LAB_T_CONSOLE": 60,
    "LAB_T_GUEST_CHECKS": 900,
    "LAB_T_HOTPLUG": 300,
    "LAB_T_GUEST_SCRIPT": 600,
}


def run_env(backend, build_dirs, fio_secs, guest_mem, disk_mb):
    env = {
        "LAB_BACKEND": backend,
        "LAB_FIO_SECS": str(fio_secs),
        "LAB_GUEST_MEM": str(guest_mem),
        "LAB_DISK_MB": str(disk_mb),
        "PVSPLIT_PREFIX": build_dirs.get("prefix", ""),
        "PVSPLIT_BINDIR": build_dirs.get("bindir", ""),
        "PVSPLIT_SBINDIR": build_dirs.get("sbindir", ""),
        "PVSPLIT_LIBDIR": build_dirs.get("libdir", ""),
        "PVSPLIT_LIBEXECDIR": build_dirs.get("libexecdir", ""),
    }
    env.update({k: str(v) for (k, v) in TIMEOUTS.items()})
    return "".join(f"{k}={shlex.quote(v)}\n" for (k, v) in sorted(env.items()))


def _add_lab_files(w, datadir, image):
    for part in ("common", image):
        w.add_tree(os.path.join(datadir, "images", part, "root"))


def _add_user_scripts(w, scripts):
    """SCRIPTS: {name in /lab/user: host path or None}."""
    if not any(scripts.values()):
        return
    w.add_dir("lab/user")
    for (name, path) in scripts.items():
        if path:
            with open(path, "rb") as f:
                w.add_file(f"lab/user/{name}", f.read(), 0o755)


def pack_guest_initrd(out, base, datadir, env_text, guest_script):
    with open(out, "wb") as f:
        with open(base, "rb") as src:
            shutil.copyfileobj(src, f)
        w = cpio.CpioWriter(f)
        _add_lab_files(w, datadir, "guest")
        w.add_file("lab/run.env", env_text.encode())
        _add_user_scripts(w, {"guest-script": guest_script})
        w.close()


def stage_build(builddir, cache):
    """Install the pvsplit build into a scratch DESTDIR; returns (dir, dirs)."""
    dest = os.path.join(cache, "stage", "pvsplit-install")
    shutil.rmtree(dest, ignore_errors=True)
    dirs = images.install_build(builddir, dest)
    missing = images.missing_libraries(dest, os.path.join(cache, "stage", "dom0"))
    if missing:
        raise LabError("the pvsplit build needs libraries the dom0 image lacks (add their Debian "
                       "packages to tools/lab/images/dom0/recipe): "
                       + ", ".join(f"{so} ({', '.join(f)})" for so, f in sorted(missing.items())))
    return dest, dirs


def pack_dom0_initrd(out, base, datadir, env_text, dom0_script, build_dest, kernel, guest_initrd):
    with open(out, "wb") as f:
        with open(base, "rb") as src:
            shutil.copyfileobj(src, f)
        w = cpio.CpioWriter(f)
        _add_lab_files(w, datadir, "dom0")
        w.add_file("lab/run.env", env_text.encode())
        _add_user_scripts(w, {"dom0-script": dom0_script})
        if build_dest:
            w.add_tree(build_dest)
        w.add_dir("lab/guest")
        w.add_path("lab/guest/vmlinuz", kernel)
        w.add_path("lab/guest/initrd.cpio", guest_initrd)
        w.close()
    progress(f"dom0 initrd for this run: {os.path.getsize(out) >> 20} MiB")
