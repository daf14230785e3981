#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz_hvd: well-formed hypercall conversations in
# the target's chunk format (u8 selector, u16 length, bytes; see fuzz_hvd.c).
import os, struct, sys

(HELLO, GNT_MAP, GNT_UNMAP, GNT_COPY, GNT_SHARE, GNT_UNSHARE, EV_ALLOC, EV_BIND, EV_PEER,
 EV_CLOSE, FOREIGN_MAP, DOMAIN_CREATE, DOMAIN_DESTROY, STATS) = range(1, 15)
FIRST_REF = 8            # GNTTAB_NR_RESERVED_ENTRIES: the first ref a share hands out
GTF_permit_access, GTF_readonly = 1, 4

def req(op, domid=0, count=0, flags=0, port=0, arg=0, payload=b''):
    return struct.pack('<6I', op, domid, count, flags, port, arg) + payload

def chunk(dom, kind, data):
    return bytes([kind * 3 + dom]) + struct.pack('<H', len(data)) + data

def r(dom, *a, **k):             # a request from dom's client
    return chunk(dom, 0, req(*a, **k))

def refs(*x):
    return struct.pack('<%dI' % len(x), *x)

def seg(ref, dom=1, offset=0, length=16, to_guest=0, local=0x10000):
    return struct.pack('<QIIHHB3x', local, dom, ref, offset, length, to_guest)

seeds = {
    'share_map': r(1, GNT_SHARE, domid=0, count=2) + r(0, GNT_MAP, domid=1, count=2,
                   payload=refs(FIRST_REF, FIRST_REF + 1)) +
                 r(1, GNT_UNSHARE, count=1, payload=refs(FIRST_REF)) +
                 r(0, GNT_UNMAP, domid=1, count=2, payload=refs(FIRST_REF, FIRST_REF + 1)) +
                 r(1, GNT_UNSHARE, count=2, payload=refs(FIRST_REF, FIRST_REF + 1)) + r(0, STATS),
    'ro_upgrade': r(1, GNT_SHARE, domid=0, count=1, flags=1) +
                  r(0, GNT_MAP, domid=1, count=1, flags=1, payload=refs(FIRST_REF)) +
                  chunk(1, 7, refs(FIRST_REF) + struct.pack('<HHI', GTF_permit_access, 0, 0)) +
                  r(0, GNT_MAP, domid=1, count=1, payload=refs(FIRST_REF)),
    'copy': r(1, GNT_SHARE, domid=0, count=1) +
            r(0, GNT_COPY, count=3, payload=seg(FIRST_REF) + seg(FIRST_REF, to_guest=1) +
              seg(FIRST_REF, offset=4090)) + r(2, GNT_COPY, count=1, payload=seg(FIRST_REF)),
    'unshare_dup': r(1, GNT_SHARE, domid=0, count=1) +
                   r(1, GNT_UNSHARE, count=2, payload=refs(FIRST_REF, FIRST_REF)) + r(1, STATS),
    'evtchn': r(1, EV_ALLOC, domid=0) + r(0, EV_BIND, domid=1, port=1) + r(0, EV_PEER, port=1) +
              r(1, EV_PEER, port=1) + r(0, EV_CLOSE, port=1) + r(1, EV_BIND, domid=0x7FF0, port=1) +
              r(2, EV_ALLOC, domid=0x7FF0) + r(2, EV_BIND, domid=0x7FF0, port=1) + r(1, EV_CLOSE, port=1),
    'client_death': r(1, GNT_SHARE, domid=0, count=3) +
                    r(0, GNT_MAP, domid=1, count=1, payload=refs(FIRST_REF + 2)) +
                    r(1, EV_ALLOC, domid=0) + r(0, EV_BIND, domid=1, port=1) +
                    chunk(1, 6, b'') + chunk(0, 6, b'') + r(0, STATS),
    'domain_destroy': r(2, GNT_SHARE, domid=1, count=2) + r(1, GNT_MAP, domid=2, count=1,
                      payload=refs(FIRST_REF)) + r(2, EV_ALLOC, domid=1) +
                      r(1, EV_BIND, domid=2, port=1) + chunk(2, 5, b'') + r(2, EV_ALLOC, domid=1) +
                      r(1, EV_PEER, port=1) + r(1, GNT_UNMAP, domid=2, count=1, payload=refs(FIRST_REF)),
    'hostile_table': r(1, GNT_SHARE, domid=0, count=1) +
                     chunk(1, 7, refs(FIRST_REF) + struct.pack('<HHI', GTF_permit_access, 0, 0x7fffffff)) +
                     r(0, GNT_MAP, domid=1, count=1, payload=refs(FIRST_REF)) +
                     r(0, FOREIGN_MAP, domid=1, count=1, payload=struct.pack('<Q', 3)) +
                     r(1, FOREIGN_MAP, domid=0, count=1, payload=struct.pack('<Q', 3)),
    'lifecycle': r(0, DOMAIN_CREATE, domid=3, arg=1) + r(0, DOMAIN_DESTROY, domid=2) +
                 r(2, STATS) + r(0, DOMAIN_DESTROY, domid=0) + r(0, HELLO),
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus/hvd')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name + '.bin'), 'wb') as f:
        f.write(data)
