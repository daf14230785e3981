# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian packages for the images: `apt-get download` + `dpkg -x`, never installed.

Everything lands in the cache: debs/ holds the .deb files (named by apt with
their version, so a new version is a new file), x/<deb name>/ their extracted
trees.  Package metadata comes from the host's apt lists (`apt-cache show`).
"""
import os
import re
import subprocess

from .ui import LabError, progress


def _run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, check=False)
    if r.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.strip()}")
    return r.stdout


def _parse_stanzas(text):
    """apt-cache show output -> {package: {field: value}} (first stanza wins)."""
    out = {}
    for block in text.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", block, re.M))
        if "Package" in fields:
            out.setdefault(fields["Package"], fields)
    return out


def _dep_names(field):
    """Depends field -> package names (first alternative, no versions/arch)."""
    names = []
    for item in field.split(","):
        first = item.split("|")[0].strip()
        name = re.sub(r"\s*\(.*\)", "", first).split(":")[0].strip()
        if name:
            names.append(name)
    return names


class Archive:
    """The lab's view of the Debian archive, cached under CACHE."""

    def __init__(self, cache):
        self.debdir = os.path.join(cache, "debs")
        self.xdir = os.path.join(cache, "x")
        os.makedirs(self.debdir, exist_ok=True)
        os.makedirs(self.xdir, exist_ok=True)
        self.meta = {}
        self.updated = False

    def prefetch(self, names):
        """Read the metadata of NAMES with one apt-cache call (each costs ~1 s)."""
        self._show(list(dict.fromkeys(names)))

    def _show(self, names):
        missing = [n for n in names if n not in self.meta]
        if not missing:
            return
        r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + missing,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        self.meta.update(_parse_stanzas(r.stdout))
        unknown = [n for n in missing if n not in self.meta]
        if unknown and not self.updated:
            progress("apt-get update (package lists do not know: " + " ".join(unknown) + ")")
            _run(["apt-get", "update", "-qq"])
            self.updated = True
            return self._show(unknown)
        if unknown:
            raise LabError("Debian packages not found by apt-cache: " + " ".join(unknown))

    def depends(self, name):
        self._show([name])
        m = self.meta[name]
        return _dep_names(m.get("Pre-Depends", "")) + _dep_names(m.get("Depends", ""))

    def resolve_meta(self, name):
        """A metapackage (linux-image-amd64) -> the real package it depends on."""
        return self.depends(name)[0]

    def debname(self, name):
        self._show([name])
        m = self.meta[name]
        return f"{name}_{m['Version'].replace(':', '%3a')}_{m['Architecture']}.deb"

    def fetch(self, names):
        """Download what is missing; return {name: extracted tree}."""
        self._show(names)
        want = [n for n in names
                if not os.path.exists(os.path.join(self.debdir, self.debname(n)))]
        if want:
            progress(f"apt-get download: {len(want)} package(s): {' '.join(want)}")
            self._download(want)
        return {n: self._extract(n) for n in names}

    def _download(self, names):
        """apt-get download; stale package lists (a 404) get one apt-get update."""
        try:
            _run(["apt-get", "download", "-q"] + names, cwd=self.debdir)
        except LabError:
            if self.updated:
                raise
            progress("apt-get download failed: apt-get update, then once more")
            _run(["apt-get", "update", "-qq"])
            self.updated = True
            self.meta = {}
            self._show(names)
            _run(["apt-get", "download", "-q"] + names, cwd=self.debdir)

    def _extract(self, name):
        deb = self.debname(name)
        tree = os.path.join(self.xdir, deb[:-4])
        if not os.path.isdir(tree):
            tmp = tree + ".tmp"
            subprocess.run(["rm", "-rf", tmp], check=True)
            _run(["dpkg", "-x", os.path.join(self.debdir, deb), tmp])
            os.replace(tmp, tree)
        return tree
