# SPDX-License-Identifier: GPL-2.0-or-later
"""Build and cache the lab's boot files and initramfs images.

Cache layout (CACHE = $PVSPLIT_LAB_CACHE, else $XDG_CACHE_HOME/pvsplit-lab,
else ~/.cache/pvsplit-lab):
  debs/ x/                  Debian packages and their extracted trees (debs.py)
  boot/xen-<ver>            the hypervisor (multiboot, gunzipped)
  boot/vmlinuz-<abi>        the kernel for dom0 and the guest
  images/<name>-<key>.cpio  base images (dom0, guest; dom0-hvm for bench):
                            Debian files only; the key hashes the
                            recipe, the exact .deb files and FORMAT, so they
                            are rebuilt only when one of those changes
  stage/                    scratch trees
The overlay (the lab's scripts + the pvsplit build) is small and packed on
every run into the run's directory; the kernel unpacks base + overlay as one
concatenated archive.
"""
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess

from . import cpio
from .debs import Archive
from .stage import Stage, LIB_DIRS
from .ui import LabError, progress

FORMAT = 4  # bump when the way images are assembled changes
XEN_PKG = "xen-hypervisor-4.17-amd64"
KERNEL_META = "linux-image-amd64"


def default_cache():
    if os.environ.get("PVSPLIT_LAB_CACHE"):
        return os.environ["PVSPLIT_LAB_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "pvsplit-lab")


class Recipe:
    """An image recipe file: pkg / lib / module lines."""

    def __init__(self, path):
        with open(path) as f:
            self.text = f.read()
        self.pkgs, self.libs, self.modules, self.links = [], [], [], []
        for line in self.text.splitlines():
            words = line.split("#")[0].split()
            if not words:
                continue
            (kind, args) = (words[0], words[1:])
            if kind == "pkg":
                self.pkgs.append((args[0], args[1:]))
            elif kind == "lib":
                self.libs.extend(args)
            elif kind == "module":
                self.modules.extend(args)
            elif kind == "link" and len(args) == 2:
                self.links.append(tuple(args))
            else:
                raise LabError(f"{path}: unknown line '{line}'")


class Images:
    """Everything `pvsplit-lab build` produces, for one data dir and cache."""

    def __init__(self, datadir, cache):
        self.datadir = datadir
        self.cache = cache
        self.archive = Archive(cache)
        self._kernel = None

    def _dir(self, name):
        d = os.path.join(self.cache, name)
        os.makedirs(d, exist_ok=True)
        return d

    def prefetch(self):
        """Package metadata for both recipes, the kernel and Xen in one go."""
        names = [XEN_PKG, KERNEL_META]
        for image in ("dom0", "guest", "dom0-hvm", "guest-hvmboot"):
            r = self._recipe(image)
            names += [p for (p, _o) in r.pkgs] + r.libs
        self.archive.prefetch(names)
        self.archive.prefetch([self.kernel_pkg()])

    def kernel_pkg(self):
        if not self._kernel:
            self._kernel = self.archive.resolve_meta(KERNEL_META)
        return self._kernel

    def abi(self):
        return self.kernel_pkg()[len("linux-image-"):]

    # ---- boot files ----

    def xen(self):
        deb = self.archive.debname(XEN_PKG)
        out = os.path.join(self._dir("boot"), "xen-" + deb[:-4].split("_")[1])
        if not os.path.exists(out):
            tree = self.archive.fetch([XEN_PKG])[XEN_PKG]
            gz = [f for f in os.listdir(os.path.join(tree, "boot")) if f.endswith(".gz")]
            if not gz:
                raise LabError(f"{XEN_PKG} has no boot/xen-*.gz")
            with gzip.open(os.path.join(tree, "boot", gz[0])) as src, open(out + ".tmp", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(out + ".tmp", out)
        return out

    def vmlinuz(self):
        out = os.path.join(self._dir("boot"), "vmlinuz-" + self.abi())
        if not os.path.exists(out):
            tree = self.archive.fetch([self.kernel_pkg()])[self.kernel_pkg()]
            shutil.copy(os.path.join(tree, "boot", "vmlinuz-" + self.abi()), out + ".tmp")
            os.replace(out + ".tmp", out)
        return out

    # ---- base images ----

    def _recipe(self, name):
        return Recipe(os.path.join(self.datadir, "images", name, "recipe"))

    def _key(self, recipe):
        names = [p for (p, _o) in recipe.pkgs] + recipe.libs + [self.kernel_pkg()]
        h = hashlib.sha256(f"{FORMAT}\n{recipe.text}\n".encode())
        for n in names:
            h.update((self.archive.debname(n) + "\n").encode())
        return h.hexdigest()[:16]

    def base(self, name):
        """The cached base image NAME (dom0, guest), built if its key changed."""
        recipe = self._recipe(name)
        out = os.path.join(self._dir("images"), f"{name}-{self._key(recipe)}.cpio")
        if os.path.exists(out):
            return out
        progress(f"building the {name} base image")
        stage = self._stage(name, recipe)
        cpio.write_tree(stage.root, out, extra=_dev_nodes)
        self._forget_old(name, out)
        progress(f"{name} base image: {out} ({os.path.getsize(out) >> 20} MiB)")
        return out

    def _stage(self, name, recipe):
        stage = Stage(os.path.join(self._dir("stage"), name), self.archive)
        trees = self.archive.fetch([p for (p, _o) in recipe.pkgs] + recipe.libs)
        for (pkg, only) in recipe.pkgs:
            stage.add_package(pkg, trees[pkg], only or None)
        for (path, target) in recipe.links:
            stage.add_symlink(path, target)
        if os.path.exists(stage.path("usr/bin/busybox")):
            stage.add_busybox_links(_busybox_applets(stage.path("usr/bin/busybox")))
        stage.resolve_libraries(recipe.libs)
        if recipe.modules:
            kernel = self.archive.fetch([self.kernel_pkg()])[self.kernel_pkg()]
            stage.add_modules(kernel, self.abi(), recipe.modules)
            _run_depmod(stage, self.abi())
        return stage

    def _forget_old(self, name, keep):
        d = os.path.dirname(keep)
        for f in os.listdir(d):
            if re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}\.cpio", f) and os.path.join(d, f) != keep:
                os.unlink(os.path.join(d, f))

    def stage_root(self, name):
        return os.path.join(self.cache, "stage", name)


def _busybox_applets(busybox):
    out = subprocess.run([busybox, "--list-full"], stdout=subprocess.PIPE, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _run_depmod(stage, abi):
    """modules.dep for busybox modprobe, made by the image's own busybox."""
    subprocess.run([stage.path("usr/bin/busybox"), "depmod", "-b", stage.root, abi], check=True)


def _dev_nodes(w):
    """/dev/console must exist before devtmpfs is mounted (the kernel opens it)."""
    w.add_dir("dev")
    w.add_chardev("dev/console", 5, 1)
    w.add_chardev("dev/null", 1, 3, 0o666)


# ---- the overlay: lab scripts + the pvsplit build ----

def install_build(builddir, dest):
    """`make install DESTDIR=dest` of the configured build; returns its dirs."""
    if not os.path.exists(os.path.join(builddir, "Makefile")):
        raise LabError(f"{builddir}: not a configured pvsplit build directory (no Makefile)")
    progress(f"make install of {builddir} into the dom0 overlay")
    r = subprocess.run(["make", "-C", builddir, "-s", f"-j{os.cpu_count() or 2}", "install",
                        f"DESTDIR={dest}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, check=False)
    if r.returncode != 0:
        raise LabError(f"make install in {builddir} failed:\n{r.stdout[-3000:]}")
    return configured_dirs(builddir)


def configured_dirs(builddir):
    """prefix, bindir, sbindir, libdir, libexecdir, pkgdatadir as configured."""
    vars_ = {}
    with open(os.path.join(builddir, "Makefile")) as f:
        for line in f:
            m = re.match(r"^(\w+) = (.*)$", line.rstrip("\n"))
            if m:
                vars_.setdefault(m.group(1), m.group(2))

    def expand(v):
        return re.sub(r"\$[{(](\w+)[})]", lambda m: expand(vars_.get(m.group(1), "")), v)

    keys = ("prefix", "bindir", "sbindir", "libdir", "libexecdir", "pkgdatadir", "sysconfdir")
    return {k: expand(vars_.get(k, "")) for k in keys}


def missing_libraries(root, base_root):
    """Sonames that ELF files under ROOT need and neither ROOT nor BASE_ROOT has."""
    from . import elf
    have = lambda so: any(os.path.lexists(os.path.join(r, d, so))
                          for r in (root, base_root) for d in LIB_DIRS)
    extra_dirs = set()
    for (dirpath, _d, files) in os.walk(root):
        if any(".so" in f for f in files):
            extra_dirs.add(dirpath)
    missing = {}
    for (dirpath, _d, files) in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or not elf.is_elf(p):
                continue
            try:
                needs = elf.Elf(p).needed()
            except ValueError:
                continue
            for so in needs:
                if not have(so) and not any(os.path.lexists(os.path.join(d, so)) for d in extra_dirs):
                    missing.setdefault(so, []).append(os.path.relpath(p, root))
    return missing


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
