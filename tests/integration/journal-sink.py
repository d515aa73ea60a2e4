#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# A stand-in for journald's native socket: binds a datagram socket and appends each entry, decoded, to a file.
"""usage: journal-sink.py SOCKET OUT READY

Binds SOCKET (AF_UNIX, SOCK_DGRAM, as /run/systemd/journal/socket), touches
READY, and for each datagram appends its fields as "KEY=value" lines and a
blank line to OUT. Decodes the native protocol: "KEY=value\\n", or "KEY\\n"
followed by a 64-bit little-endian length, the value and "\\n". A datagram
that carries an fd (the memfd form, for large entries) is read from the fd.
Ends on SIGTERM.
"""
import array
import os
import socket
import struct
import sys


def decode(data):
    out, i = [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            out.append(line)
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            out.append(line + b"=" + data[nl + 9:nl + 9 + n])
            i = nl + 9 + n + 1
    return out


def main():
    path, outpath, ready = sys.argv[1:4]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    open(ready, "w").close()
    with open(outpath, "ab", buffering=0) as out:
        while True:
            fds = array.array("i")
            data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(cdata[:len(cdata) - (len(cdata) % fds.itemsize)])
            for fd in fds:
                data = os.pread(fd, 1 << 20, 0)
                os.close(fd)
            out.write(b"\n".join(decode(data)) + b"\n\n")


if __name__ == "__main__":
    main()
