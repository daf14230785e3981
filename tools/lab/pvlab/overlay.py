# SPDX-License-Identifier: GPL-2.0-or-later
"""One run's files: the lab scripts, run.env, user scripts, the pvsplit build.

dom0's initrd for a run = the cached dom0 base image + an overlay archive
holding images/common/root, images/dom0/root, the pvsplit build (make install
DESTDIR=...), the guest kernel and the guest's initrd (the cached guest base
+ its own overlay).  The overlay is packed on every run: it is small except
for the guest initrd, which is a plain copy.
"""
import io
import os
import shlex
import shutil
import tarfile

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
    "LAB_T_GUEST_SCRIPT": 300,
    # not a timeout: how long the guest's I/O runs under backend restarts
    "LAB_RESTART_SECS": 75,
}


def disk_label(backend, frontend):
    """How a run's disk metrics are named: disk.LABEL.<job>.(mib_s|iops)."""
    return backend if frontend == "stock" else f"{backend}+pvsplit-blkfront"


def run_env(backend, build_dirs, fio_secs, guest_mem, disk_mb, script_timeout, frontend="stock",
            label=None):
    env = {k: str(v) for (k, v) in TIMEOUTS.items()}
    env.update({
        "LAB_BACKEND": backend,
        "LAB_FRONTEND": frontend,
        "LAB_DISK_LABEL": label or disk_label(backend, frontend),
        "LAB_FIO_SECS": str(fio_secs),
        "LAB_GUEST_MEM": str(guest_mem),
        # pvsplit-blkfront gets two vCPUs: one ring per CPU, so multi-queue is used
        "LAB_GUEST_VCPUS": "2" if frontend == "pvsplit" else "1",
        "LAB_DISK_MB": str(disk_mb),
        "PVSPLIT_PREFIX": build_dirs.get("prefix", ""),
        "PVSPLIT_BINDIR": build_dirs.get("bindir", ""),
        "PVSPLIT_SBINDIR": build_dirs.get("sbindir", ""),
        "PVSPLIT_LIBDIR": build_dirs.get("libdir", ""),
        "PVSPLIT_LIBEXECDIR": build_dirs.get("libexecdir", ""),
        "PVSPLIT_PKGDATADIR": build_dirs.get("pkgdatadir", ""),
        "LAB_T_GUEST_SCRIPT": str(script_timeout),
    })
    return "".join(f"{k}={shlex.quote(v)}\n" for (k, v) in sorted(env.items()))


def _add_lab_files(w, datadir, image):
    for part in ("common", image):
        w.add_tree(os.path.join(datadir, "images", part, "root"), file_mode=0o755)


def _add_user_scripts(w, scripts):
    """SCRIPTS: {name in /lab/user: host path or None}."""
    if not any(scripts.values()):
        return
    w.add_dir("lab/user")
    for (name, path) in scripts.items():
        if path:
            with open(path, "rb") as f:
                w.add_file(f"lab/user/{name}", f.read(), 0o755)


def pack_guest_initrd(out, base, datadir, env_text, guest_script, module=None):
    """MODULE: pvsplit-blkfront.ko for the guest (--frontend pvsplit)."""
    with open(out, "wb") as f:
        with open(base, "rb") as src:
            shutil.copyfileobj(src, f)
        w = cpio.CpioWriter(f)
        _add_lab_files(w, datadir, "guest")
        w.add_file("lab/run.env", env_text.encode())
        if module:
            w.add_path("lab/pvsplit-blkfront.ko", module)
        _add_user_scripts(w, {"guest-script": guest_script})
        w.close()


def pack_guest_tar(out, stage_root, datadir, env_text, guest_script):
    """The guest root as one tar (the HVM guest unpacks it from a disk)."""
    def exec_mode(info):
        if info.isfile():
            info.mode = 0o755
        return info

    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(stage_root, arcname=".")
        for part in ("common", "guest"):
            tar.add(os.path.join(datadir, "images", part, "root"), arcname=".", filter=exec_mode)
        extra = {"lab/run.env": env_text.encode()}
        if guest_script:
            with open(guest_script, "rb") as f:
                extra["lab/user/guest-script"] = f.read()
        for (name, data) in extra.items():
            info = tarfile.TarInfo(name)
            (info.size, info.mode) = (len(data), 0o755)
            tar.addfile(info, io.BytesIO(data))


def pack_small_initrd(out, base, datadir, image):
    """BASE + the image's own files (the HVM guest's stage 1)."""
    with open(out, "wb") as f:
        with open(base, "rb") as src:
            shutil.copyfileobj(src, f)
        w = cpio.CpioWriter(f)
        w.add_tree(os.path.join(datadir, "images", image, "root"), file_mode=0o755)
        w.close()


def stage_build(builddir, cache, dest):
    """Install the pvsplit build into DEST (a scratch DESTDIR of this run's);
    returns its configured directories."""
    shutil.rmtree(dest, ignore_errors=True)
    dirs = images.install_build(builddir, dest)
    missing = images.missing_libraries(dest, os.path.join(cache, "stage", "dom0"))
    if missing:
        raise LabError("the pvsplit build needs libraries the dom0 image lacks (add their Debian "
                       "packages to tools/lab/images/dom0/recipe): "
                       + ", ".join(f"{so} ({', '.join(f)})" for so, f in sorted(missing.items())))
    return dirs


def pack_dom0_initrd(out, bases, datadir, env_text, dom0_script, build_dest, kernel, guest_initrd,
                     guest_tar=None):
    """BASES: the cached images to put first (none for a real dom0 host);
    GUEST_TAR: the HVM guest's root, when there is one."""
    with open(out, "wb") as f:
        for base in bases:
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
        if guest_tar:
            w.add_path("lab/guest/root.tar", guest_tar)
        w.close()
    progress(f"dom0 initrd for this run: {os.path.getsize(out) >> 20} MiB")
