#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Idle-connection flood: opens N connections to a broker socket and holds them until stdin closes.
"""usage: flood-clients.py SOCKET N

Opens N SOCK_SEQPACKET connections (blocking connects: a full listen backlog
makes connect() wait for the broker), sends nothing, and after a short pause
prints one line: "connected=N failed=F answered=A held=H", where answered
counts the connections the broker already answered or closed, and held the
ones it keeps open. Then it holds every socket until its stdin reaches end of
file, closes them and exits.
"""
import os
import resource
import select
import signal
import socket
import sys
import time


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    socks, failed = [], 0
    signal.alarm(60)
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(path)
            socks.append(s)
        except OSError:
            s.close()
            failed += 1
    signal.alarm(0)
    time.sleep(0.5)
    p = select.poll()
    for s in socks:
        p.register(s.fileno(), select.POLLIN | select.POLLHUP)
    answered = len(p.poll(0))
    print("connected=%d failed=%d answered=%d held=%d" % (len(socks), failed, answered,
                                                        len(socks) - answered), flush=True)
    while os.read(0, 64):
        pass
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
