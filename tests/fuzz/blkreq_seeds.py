#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz_blkreq: the backend's offer and store
# (13 bytes, see fuzz_blkreq.c), one ring slot in the x86_64 or x86_32
# layout of xen/io/blkif.h, then an indirect request's segments.
import os, struct, sys

READ, WRITE, BARRIER, FLUSH, DISCARD, INDIRECT = 0, 1, 2, 3, 5, 6
NATIVE, X86_32, X86_64 = 0, 1, 2
F_BARRIER, F_FLUSH, F_DISCARD, F_SECURE, F_RO, F_4K = 1, 2, 4, 8, 16, 32

def offer(abi, flags, logical_shift=0, max_indirect=256, size=64 << 20):
    return struct.pack('<BBBHQ', abi, flags, logical_shift, max_indirect, size)

def segs(*s):                     # (gref, first_sect, last_sect)
    return b''.join(struct.pack('<IBBxx', g, f, l) for g, f, l in s)

def rw(abi, op, sector, s, rid=1):
    if abi == X86_32:            # uint64_t aligned to 4: id at 4, sector at 12, seg at 20
        slot = struct.pack('<BBHQQ', op, len(s), 0, rid, sector) + segs(*s)
        return slot.ljust(108, b'\0')
    slot = struct.pack('<BBH4xQQ', op, len(s), 0, rid, sector) + segs(*s)
    return slot.ljust(112, b'\0')

def indirect(op, n, sector, grefs=(100,)):
    slot = struct.pack('<BBH4xQQH2x', INDIRECT, op, n, 7, sector, 0)
    slot += struct.pack('<%dI' % len(grefs), *grefs)
    return slot.ljust(112, b'\0')

def discard(flag, sector, nr):
    return struct.pack('<BBH4xQQQ', DISCARD, flag, 0, 9, sector, nr).ljust(112, b'\0')

full = [(10 + i, 0, 7) for i in range(11)]
seeds = {
    'read_one': offer(X86_64, 0) + rw(X86_64, READ, 0, [(10, 0, 7)]),
    'write_full': offer(X86_64, F_FLUSH) + rw(X86_64, WRITE, 8, full),
    'read_x86_32': offer(X86_32, 0) + rw(X86_32, READ, 16, [(10, 1, 3), (11, 0, 7)]),
    'read_end': offer(X86_64, 0, size=4096) + rw(X86_64, READ, 0, [(10, 0, 7)]),
    'write_ro': offer(X86_64, F_RO) + rw(X86_64, WRITE, 0, [(10, 0, 7)]),
    'flush_bare': offer(X86_64, F_FLUSH) + rw(X86_64, FLUSH, 0, []),
    'flush_data': offer(X86_64, F_FLUSH) + rw(X86_64, FLUSH, 0, [(10, 0, 7)]),
    'barrier_off': offer(X86_64, 0) + rw(X86_64, BARRIER, 0, [(10, 0, 7)]),
    'large_sectors': offer(X86_64, F_4K, logical_shift=3) + rw(X86_64, READ, 2, [(10, 0, 0)]),
    'misaligned': offer(X86_64, 0, logical_shift=3) + rw(X86_64, WRITE, 1, [(10, 0, 7)]),
    'indirect_32': offer(X86_64, 0) + indirect(READ, 32, 0) + segs(*[(200 + i, 0, 7) for i in range(32)]),
    'indirect_big': offer(X86_64, 0, max_indirect=4096) +
                    indirect(WRITE, 1024, 64, grefs=tuple(range(100, 102))) +
                    segs(*[(300 + i, 0, 7) for i in range(1024)]),
    'indirect_off': offer(X86_64, 0, max_indirect=0) + indirect(READ, 8, 0),
    'discard': offer(X86_64, F_DISCARD) + discard(0, 8, 64),
    'discard_secure': offer(X86_64, F_DISCARD | F_SECURE) + discard(1, 0, 8),
    'discard_past_end': offer(X86_64, F_DISCARD, size=1 << 20) + discard(0, 2040, 16),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'blkreq')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
