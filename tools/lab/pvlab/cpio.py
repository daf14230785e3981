# SPDX-License-Identifier: GPL-2.0-or-later
"""Write initramfs archives (cpio "newc") from a directory tree.

The kernel unpacks concatenated newc archives in order, later files
replacing earlier ones: the lab relies on that to lay a small overlay (the
pvsplit build, one run's scripts) over a big cached base image.
"""
import os
import stat

_TRAILER = "TRAILER!!!"


class CpioWriter:
    def __init__(self, fileobj):
        self.f = fileobj
        self.ino = 1

    def _header(self, name, mode, size, nlink=1, rdev=0, mtime=0):
        self.ino += 1
        fields = [self.ino, mode, 0, 0, nlink, mtime, size, 0, 0,
                  os.major(rdev), os.minor(rdev), len(name) + 1, 0]
        hdr = "070701" + "".join(f"{v:08x}" for v in fields)
        self._write_padded(hdr.encode() + name.encode() + b"\0")

    def _write_padded(self, data):
        self.f.write(data)
        pad = (4 - len(data) % 4) % 4
        self.f.write(b"\0" * pad)

    def add_dir(self, name, mode=0o755):
        self._header(name, stat.S_IFDIR | mode, 0, nlink=2)

    def add_symlink(self, name, target):
        data = target.encode()
        self._header(name, stat.S_IFLNK | 0o777, len(data))
        self._write_padded(data)

    def add_file(self, name, data, mode=0o644):
        self._header(name, stat.S_IFREG | mode, len(data))
        self._write_padded(data)

    def add_chardev(self, name, major, minor, mode=0o600):
        self._header(name, stat.S_IFCHR | mode, 0, rdev=os.makedev(major, minor))

    def add_path(self, name, path, file_mode=None):
        """Add the file system object at PATH under NAME (no recursion)."""
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            self.add_symlink(name, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            self.add_dir(name, stat.S_IMODE(st.st_mode))
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as src:
                self.add_file(name, src.read(), file_mode or stat.S_IMODE(st.st_mode))

    def add_tree(self, root, file_mode=None):
        """Add everything under directory ROOT, names relative to it; FILE_MODE
        overrides regular files' modes (installed data files lose their x bit)."""
        for (dirpath, dirnames, filenames) in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                self.add_path(rel, dirpath)
            for entry in sorted(filenames) + [d for d in dirnames
                                              if os.path.islink(os.path.join(dirpath, d))]:
                name = entry if rel == "." else f"{rel}/{entry}"
                self.add_path(name, os.path.join(dirpath, entry), file_mode)

    def close(self):
        self._header(_TRAILER, 0, 0, nlink=1)
        self.f.write(b"\0" * 512)


def write_tree(root, out_path, extra=None):
    """Write ROOT as one archive to OUT_PATH; EXTRA(writer) may add more."""
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        w = CpioWriter(f)
        w.add_tree(root)
        if extra:
            extra(w)
        w.close()
    os.replace(tmp, out_path)


def extract(fileobj, dest):
    """Unpack concatenated newc archives (regular files, dirs, symlinks)."""
    while True:
        word = fileobj.read(4)
        while word == b"\0\0\0\0":  # padding between archives
            word = fileobj.read(4)
        hdr = word + fileobj.read(106)
        if len(hdr) < 110:
            return
        if hdr[:6] != b"070701":
            raise ValueError("not a newc cpio archive")
        f = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        (mode, size, namesize) = (f[1], f[6], f[11])
        name = fileobj.read(namesize)[:-1].decode()
        fileobj.read((4 - (110 + namesize) % 4) % 4)
        data = fileobj.read(size)
        fileobj.read((4 - size % 4) % 4)
        if name == _TRAILER:
            continue
        _extract_one(dest, name, mode, data)


def _extract_one(dest, name, mode, data):
    path = os.path.join(dest, name)
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    if stat.S_ISDIR(mode):
        os.makedirs(path, exist_ok=True)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if stat.S_ISLNK(mode):
        os.symlink(data.decode(), path)
    elif stat.S_ISREG(mode):
        with open(path, "wb") as out:
            out.write(data)
        os.chmod(path, stat.S_IMODE(mode))
