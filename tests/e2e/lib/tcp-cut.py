#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# tcp-cut.py - a TCP relay between two e2e hosts whose death is a network cut.
#
# Usage: tcp-cut.py LISTEN_ADDR PORT TARGET_ADDR READY_FILE
#
# Listens on LISTEN_ADDR:PORT (PORT 0: a free one) and relays every
# connection, both ways, to TARGET_ADDR:PORT. The e2e hosts share the machine's network namespace, so
# a migration routed through it (`virsh migrate --migrateuri
# tcp://127.0.0.1:PORT --listen-address 127.0.0.2` with this relay from
# 127.0.0.1 to 127.0.0.2) runs over a link the test can cut without a
# firewall: killing this process (SIGKILL) closes both halves of every
# relayed connection at once, and each QEMU sees its migration stream fail.
# Writes "PID PORT" to READY_FILE once it listens.
import os
import socket
import sys
import threading


def pump(src, dst):
    """Copy src to dst; pass an orderly end on as such, an error as a cut."""
    how = socket.SHUT_WR
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        how = socket.SHUT_RDWR
    for s, h in ((dst, how), (src, socket.SHUT_RD if how == socket.SHUT_WR else how)):
        try:
            s.shutdown(h)
        except OSError:
            pass


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: tcp-cut.py LISTEN_ADDR PORT TARGET_ADDR READY_FILE\n")
        return 2
    laddr, port, taddr, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((laddr, port))
    ls.listen(8)
    port = ls.getsockname()[1]
    with open(ready + ".tmp", "w") as f:
        f.write("%d %d\n" % (os.getpid(), port))
    os.rename(ready + ".tmp", ready)
    while True:
        c, _ = ls.accept()
        try:
            t = socket.create_connection((taddr, port), timeout=10)
            t.settimeout(None)
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
