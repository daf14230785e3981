# SPDX-License-Identifier: GPL-2.0-or-later
"""Assemble an image root (a staging directory) from extracted packages.

The image is merged-/usr: /bin, /sbin, /lib and /lib64 are symlinks into
/usr, and every path taken from a package is normalised the same way.
Shared libraries are found by soname among the packages that the owning
package depends on, fetched on demand, so a recipe only names programs.
"""
import os
import shutil

from . import elf
from .ui import LabError

SKIP_DIRS = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/",
             "usr/share/lintian/", "usr/share/bug/", "usr/share/bash-completion/")
MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib")


def normalise(rel):
    head, _, tail = rel.partition("/")
    return f"{MERGED[head]}/{tail}" if head in MERGED and tail else MERGED.get(rel, rel)


def package_files(tree):
    """Yield (normalised relative path, absolute path) for a package tree."""
    for (dirpath, dirnames, filenames) in os.walk(tree):
        entries = filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in entries:
            path = os.path.join(dirpath, name)
            rel = normalise(os.path.relpath(path, tree))
            if not rel.startswith(SKIP_DIRS):
                yield rel, path


class Stage:
    """A directory being filled with one image's files."""

    def __init__(self, root, archive):
        self.root = root
        self.archive = archive
        self.owner = {}  # relative path -> package it came from
        self.trees = {}  # package -> extracted tree
        self.lib_dirs = list(LIB_DIRS)  # + the RUNPATHs seen in the stage
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        for (link, target) in MERGED.items():
            os.makedirs(os.path.join(root, target), exist_ok=True)
            os.symlink(target, os.path.join(root, link))

    def path(self, rel):
        return os.path.join(self.root, rel)

    def _copy(self, rel, src, pkg):
        dst = self.path(rel)
        if os.path.lexists(dst):
            return
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
        self.owner[rel] = pkg

    def add_package(self, pkg, tree, only=None):
        """Copy a package's files (or the ONLY paths, globbing not needed)."""
        self.trees[pkg] = tree
        wanted = {normalise(p) for p in only} if only else None
        found = set()
        for (rel, src) in package_files(tree):
            if wanted is None or rel in wanted:
                self._copy(rel, src, pkg)
                found.add(rel)
        if wanted and wanted - found:
            raise LabError(f"package {pkg} has no {', '.join(sorted(wanted - found))}")

    def add_symlink(self, rel, target):
        path = self.path(normalise(rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.symlink(target, path)

    def add_busybox_links(self, applets):
        for rel in applets:
            if not os.path.lexists(self.path(normalise(rel))):
                depth = normalise(rel).count("/")
                os.symlink("../" * depth + "usr/bin/busybox", self.path(normalise(rel)))

    # ---- shared libraries ----

    def _elf_files(self):
        for (rel, _pkg) in list(self.owner.items()):
            p = self.path(rel)
            if not os.path.islink(p) and elf.is_elf(p):
                yield rel

    def _present(self, soname):
        if soname.startswith("/"):
            return os.path.lexists(self.path(normalise(soname.strip("/"))))
        return any(os.path.lexists(self.path(f"{d}/{soname}")) for d in self.lib_dirs)

    def _note_runpath(self, e):
        for d in e.runpath():
            d = normalise(d.strip("/"))
            if "$" not in d and d not in self.lib_dirs:
                self.lib_dirs.append(d)

    def _missing_needs(self):
        """{soname: set of packages whose files need it} not yet in the stage."""
        missing = {}
        for rel in self._elf_files():
            try:
                e = elf.Elf(self.path(rel))
            except ValueError:
                continue
            self._note_runpath(e)
            # the interpreter is needed at its exact path: an absolute "soname"
            wants = e.needed() + ([e.interpreter()] if e.interpreter() else [])
            for so in wants:
                if not self._present(so):
                    missing.setdefault(so, set()).add(self.owner[rel])
        return missing

    def _find_soname(self, soname, pkgs):
        if soname.startswith("/"):
            return next(((p, os.path.join(self.trees[p], soname.strip("/"))) for p in pkgs
                         if os.path.lexists(os.path.join(self.trees[p], soname.strip("/")))), None)
        for pkg in pkgs:
            for d in self.lib_dirs:
                src = os.path.join(self.trees[pkg], d, soname)
                for cand in (src, src.replace("usr/lib", "lib", 1)):
                    if os.path.lexists(cand):
                        return pkg, cand
        return None

    def _copy_lib(self, pkg, src):
        """Copy a library and, if it is a symlink, what it points to."""
        tree = self.trees[pkg]
        while True:
            rel = normalise(os.path.relpath(src, tree))
            self._copy(rel, src, pkg)
            if not os.path.islink(src):
                return
            target = os.readlink(src)
            base = tree if target.startswith("/") else os.path.dirname(src)
            src = self._in_tree(tree, os.path.normpath(os.path.join(base, target.lstrip("/"))))

    @staticmethod
    def _in_tree(tree, path):
        """PATH, or its /lib <-> /usr/lib twin if only that exists in TREE."""
        if os.path.lexists(path):
            return path
        rel = os.path.relpath(path, tree)
        for (short, full) in MERGED.items():
            for (a, b) in ((short + "/", full + "/"), (full + "/", short + "/")):
                if rel.startswith(a) and os.path.lexists(os.path.join(tree, b + rel[len(a):])):
                    return os.path.join(tree, b + rel[len(a):])
        raise LabError(f"broken symlink chain in a package: {path}")

    def _candidates(self, missing, tried):
        """Packages that the owners depend on: library packages first."""
        deps = set()
        for owners in missing.values():
            for o in owners:
                deps.update(self.archive.depends(o))
        deps -= tried | set(self.trees)
        libs = {d for d in deps if d.startswith("lib") or d.startswith("zlib")}
        return libs or deps

    def resolve_libraries(self, extra_pkgs=()):
        """Pull in every shared library the stage's programs need."""
        tried = set()
        for pkg in extra_pkgs:
            self.trees.setdefault(pkg, self.archive.fetch([pkg])[pkg])
        while True:
            missing = self._missing_needs()
            if not missing:
                return
            progress_made = False
            for (so, owners) in sorted(missing.items()):
                hit = self._find_soname(so, list(self.trees))
                if hit:
                    self._copy_lib(*hit)
                    progress_made = True
            if progress_made:
                continue
            cands = self._candidates(missing, tried)
            if not cands:
                raise LabError("shared libraries not found in any Debian package tried: "
                               + ", ".join(f"{so} (for {'/'.join(sorted(o))})"
                                           for so, o in sorted(missing.items())))
            tried |= cands
            self.trees.update(self.archive.fetch(sorted(cands)))

    # ---- kernel modules ----

    def add_modules(self, kernel_tree, abi, names):
        """Copy modules NAMES and what they depend on; write modules.load in order."""
        kdir = os.path.join(kernel_tree, "lib/modules", abi)
        index = {}
        for (dirpath, _d, files) in os.walk(os.path.join(kdir, "kernel")):
            for f in files:
                if f.endswith(".ko"):
                    index[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)
        order = []

        def visit(name):
            key = name.replace("-", "_")
            if key in order:
                return
            if key not in index:
                raise LabError(f"kernel module {name} not in linux-image {abi}")
            for dep in elf.module_depends(index[key]):
                visit(dep)
            order.append(key)

        for n in names:
            visit(n)
        for key in order:
            rel = "usr/lib/modules/" + abi + "/" + os.path.relpath(index[key], kdir)
            self._copy(rel, index[key], "linux-image")
        for f in ("modules.builtin", "modules.order", "modules.builtin.modinfo"):
            if os.path.exists(os.path.join(kdir, f)):
                self._copy(f"usr/lib/modules/{abi}/{f}", os.path.join(kdir, f), "linux-image")
        with open(self.path(f"usr/lib/modules/{abi}/modules.load"), "w") as f:
            f.write("".join(os.path.relpath(index[k], kdir) + "\n" for k in order))
