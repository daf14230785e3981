# SPDX-License-Identifier: GPL-2.0-or-later
"""Just enough ELF64 reading to put a program's libraries into an image.

Reading DT_NEEDED ourselves (instead of ldd) keeps the host's own libraries
out of the answer: every soname is looked up in the extracted packages only.
"""
import struct

PT_INTERP = 3
PT_DYNAMIC = 2
DT_NEEDED = 1
DT_STRTAB = 5
DT_RPATH = 15
DT_RUNPATH = 29


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class Elf:
    """The program headers, dynamic section and sections of one ELF64 file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2 or self.data[5] != 1:
            raise ValueError(f"{path}: not a little-endian ELF64 file")
        (self.phoff, self.shoff) = struct.unpack_from("<QQ", self.data, 0x20)
        (self.phentsize, self.phnum, self.shentsize, self.shnum,
         self.shstrndx) = struct.unpack_from("<HHHHH", self.data, 0x36)

    def _segments(self):
        for i in range(self.phnum):
            yield struct.unpack_from("<IIQQQQQQ", self.data, self.phoff + i * self.phentsize)

    def _cstr(self, off):
        return self.data[off:self.data.index(b"\0", off)].decode()

    def _vaddr_to_offset(self, vaddr):
        for (ptype, _fl, off, va, _pa, filesz, _msz, _al) in self._segments():
            if ptype == 1 and va <= vaddr < va + filesz:
                return off + vaddr - va
        raise ValueError("address not in any PT_LOAD segment")

    def interpreter(self):
        for (ptype, _fl, off, _va, _pa, filesz, _msz, _al) in self._segments():
            if ptype == PT_INTERP:
                return self.data[off:off + filesz].rstrip(b"\0").decode()
        return None

    def _dynamic_strings(self, tags):
        """The string values of the dynamic entries whose tag is in TAGS."""
        for (ptype, _fl, off, _va, _pa, filesz, _msz, _al) in self._segments():
            if ptype != PT_DYNAMIC:
                continue
            entries = [struct.unpack_from("<qQ", self.data, off + i)
                       for i in range(0, filesz, 16)]
            strtab = next((v for (t, v) in entries if t == DT_STRTAB), None)
            if strtab is None:
                return []
            base = self._vaddr_to_offset(strtab)
            return [self._cstr(base + v) for (t, v) in entries if t in tags]
        return []

    def needed(self):
        """The DT_NEEDED sonames, in order."""
        return self._dynamic_strings((DT_NEEDED,))

    def runpath(self):
        """DT_RUNPATH/DT_RPATH directories ($ORIGIN left unexpanded)."""
        return [d for s in self._dynamic_strings((DT_RPATH, DT_RUNPATH)) for d in s.split(":") if d]

    def section(self, name):
        """The bytes of section NAME, or None."""
        if not self.shoff:
            return None
        hdr = lambda i: struct.unpack_from("<IIQQQQIIQQ", self.data,
                                           self.shoff + i * self.shentsize)
        strsec = hdr(self.shstrndx)
        for i in range(self.shnum):
            h = hdr(i)
            if self._cstr(strsec[4] + h[0]) == name:
                return self.data[h[4]:h[4] + h[5]]
        return None


def module_depends(path):
    """The 'depends=' list of a kernel module (.ko), as module names."""
    info = Elf(path).section(".modinfo") or b""
    for field in info.split(b"\0"):
        if field.startswith(b"depends="):
            return [d for d in field[8:].decode().split(",") if d]
    return []
