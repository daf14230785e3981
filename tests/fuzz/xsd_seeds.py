#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz_xsd_wire: well-formed xenstore conversations
# in the target's chunk format (u8 conn, u8 len, bytes).
import os, struct, sys

T = dict(DIRECTORY=1, READ=2, GET_PERMS=3, WATCH=4, UNWATCH=5, TRANSACTION_START=6,
         TRANSACTION_END=7, INTRODUCE=8, RELEASE=9, GET_DOMAIN_PATH=10, WRITE=11, MKDIR=12,
         RM=13, SET_PERMS=14, IS_DOMAIN_INTRODUCED=16, RESUME=17, SET_TARGET=18,
         RESET_WATCHES=20, DIRECTORY_PART=21)

def msg(t, payload, tx=0, rid=1):
    return struct.pack('<IIII', T[t], rid, tx, len(payload)) + payload

def chunks(conn, data, step=200):
    out = b''
    for i in range(0, len(data), step):
        part = data[i:i + step]
        out += bytes([conn, len(part)]) + part
    return out

seeds = {
    'write_read': chunks(0, msg('WRITE', b'/a/b\0hello') + msg('READ', b'/a/b\0') +
                         msg('DIRECTORY', b'/a\0') + msg('RM', b'/a\0')),
    'domu_perms': chunks(1, msg('WRITE', b'data/x\0v') + msg('READ', b'/tool\0')) +
                  chunks(0, msg('SET_PERMS', b'/local/domain/1/data/x\0n1\0r2\0')) +
                  chunks(2, msg('READ', b'/local/domain/1/data/x\0') +
                         msg('GET_PERMS', b'/local/domain/1/data/x\0')),
    'watch': chunks(0, msg('WATCH', b'/w\0tok\0') + msg('WRITE', b'/w/x\0') +
                    msg('UNWATCH', b'/w\0tok\0') + msg('WATCH', b'@releaseDomain\0r\0')),
    'txn': chunks(0, msg('TRANSACTION_START', b'\0') + msg('WRITE', b'/t/a\0x', tx=1) +
                  msg('READ', b'/t/a\0', tx=1) + msg('TRANSACTION_END', b'T\0', tx=1)),
    'split': chunks(1, msg('WRITE', b'data/split\0' + b'y' * 300) + msg('READ', b'data/split\0'), 7),
    'domains': chunks(0, msg('INTRODUCE', b'5\0' b'1\0' b'2\0') +
                      msg('IS_DOMAIN_INTRODUCED', b'5\0') + msg('SET_TARGET', b'1\0' b'2\0') +
                      msg('GET_DOMAIN_PATH', b'5\0') + msg('RELEASE', b'5\0') +
                      msg('RESET_WATCHES', b'')),
    'dirpart': chunks(0, b''.join(msg('MKDIR', b'/d/%03d\0' % i) for i in range(40)) +
                      msg('DIRECTORY_PART', b'/d\0' b'0\0')),
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus/xsd_wire')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name + '.bin'), 'wb') as f:
        f.write(data)
