#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Attack clients for test-attack-matrix.sh: ask, socket passing, connection flood, slow client.
"""usage: attack-helper.py MODE ARGS...

  ask SOCKET                     one GET_DEVICE; prints "status N fd=none|device|other"
  pass-qemu SOCKET CHANNEL [--exit-first]
                                 (runs as the granted QEMU) connect to the broker,
                                 pass the connected socket over CHANNEL, wait for "done"
  pass-other CHANNEL             (runs as another uid) listen on CHANNEL, receive the
                                 socket, send the request on it, print what came back
  flood SOCKET PID N MAX         N connections at once; prints key=value results
  slow SOCKET TIMEOUT_MS         connect, send nothing; prints when the broker hung up
"""
import ctypes
import fcntl
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

MAGIC, VERSION, OP_GET_DEVICE = 0x53464655, 1, 1
USERFAULTFD_IOC_NEW = 0xAA00
PR_SET_DUMPABLE = 4


def request():
    return struct.pack("=IHHIIII", MAGIC, VERSION, OP_GET_DEVICE, 24, 0, 0, 0)


def connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    return s


def classify(fd):
    st = os.fstat(fd)
    try:
        dev = os.stat("/dev/userfaultfd").st_rdev
    except OSError:
        dev = -1
    return "device" if st.st_rdev == dev and dev != -1 else "other"


def exchange(s):
    """Send one request on s; returns (status, 'none'|'device'|'other', ioctl result)."""
    s.send(request())
    try:
        data, anc, _, _ = s.recvmsg(64, socket.CMSG_SPACE(16))
    except (OSError, socket.timeout):
        return None, "none", "-"
    kind, ioc = "none", "-"
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            for i in range(0, len(payload) - len(payload) % 4, 4):
                fd = struct.unpack("=i", payload[i:i + 4])[0]
                kind = classify(fd)
                if kind == "device":
                    try:
                        u = fcntl.ioctl(fd, USERFAULTFD_IOC_NEW, 0)
                        ioc = "uffd-created"
                        os.close(u)
                    except OSError as e:
                        ioc = "ioctl-" + (e.strerror or str(e.errno))
                os.close(fd)
    if len(data) != 24:
        return None, kind, ioc
    return struct.unpack("=IHHIIII", data)[5], kind, ioc


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "ask":
        st, kind, ioc = exchange(connect(args[0]))
        print("status %s fd=%s %s" % (st, kind, ioc))
        return 0
    if mode == "pass-qemu":
        # A well-behaved client (libuffd-shim) is not dumpable while it asks:
        # what is tested is the passing, not a theft.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        s = connect(args[0])
        ch = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ch.connect(args[1])
        ch.sendmsg([b"%d" % os.getpid()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("=i", s.fileno()))])
        s.close()
        if "--exit-first" in args:
            return 0
        ch.settimeout(20)
        ch.recv(16)
        return 0
    if mode == "pass-other":
        path = args[0]
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(path)
        os.chmod(path, 0o777)
        ls.listen(1)
        ls.settimeout(20)
        c, _ = ls.accept()
        data, anc, _, _ = c.recvmsg(32, socket.CMSG_SPACE(4))
        qpid = int(data)
        fd = [struct.unpack("=i", p[:4])[0] for lv, ty, p in anc if ty == socket.SCM_RIGHTS][0]
        s = socket.socket(fileno=fd)
        s.settimeout(5)
        # --exit-first: wait until the connector is gone before asking.
        deadline = time.monotonic() + 5
        if len(sys.argv) > 3 and sys.argv[3] == "--after-exit":
            while os.path.exists("/proc/%d" % qpid) and time.monotonic() < deadline:
                time.sleep(0.05)
        st, kind, ioc = exchange(s)
        print("status %s fd=%s %s uid=%d connector=%d" % (st, kind, ioc, os.getuid(), qpid))
        try:
            c.send(b"done")
        except OSError:
            pass
        return 0
    if mode == "flood":
        path, pid, n, maxc = args[0], int(args[1]), int(args[2]), int(args[3])
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        base = fd_count(pid)
        socks, failed = [], 0
        t0 = time.monotonic()
        # Blocking connects: a full listen backlog makes connect() wait (a
        # non-blocking one would fail with EAGAIN, the kernel shedding load
        # instead of the broker). All n sockets end up open at the same time.
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
        t_conn = time.monotonic() - t0
        time.sleep(0.2)
        # Connections the broker closed at once read EOF; held ones would block.
        closed = 0
        p = select.poll()
        for s in socks:
            p.register(s.fileno(), select.POLLIN | select.POLLHUP)
        ready = {fd for fd, ev in p.poll(0)}
        for s in socks:
            if s.fileno() in ready:
                try:
                    if s.recv(64, socket.MSG_DONTWAIT) == b"":
                        closed += 1
                except OSError:
                    closed += 1
        held = len(socks) - closed
        peak = fd_count(pid)
        for s in socks:
            s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and fd_count(pid) != base:
            time.sleep(0.1)
        end = fd_count(pid)
        st, _, _ = exchange(connect(path))
        print("connected=%d connect_failed=%d closed_at_once=%d held=%d connect_s=%.2f "
              "fds_base=%d fds_peak=%d fds_end=%d honest_after=%s"
              % (len(socks), failed, closed, held, t_conn, base, peak, end, st))
        ok = (len(socks) + failed == n and held <= maxc and closed >= n - maxc - failed
              and end == base and st is not None)
        return 0 if ok else 1
    if mode == "slow":
        path, tmo = args[0], int(args[1]) / 1000.0
        s = connect(path)
        t0 = time.monotonic()
        honest, _, _ = exchange(connect(path))
        s.settimeout(tmo + 5)
        try:
            d = s.recv(64)
            hung = d == b""
        except (ConnectionResetError, BrokenPipeError):
            hung = True
        except socket.timeout:
            hung = False
        dt = time.monotonic() - t0
        print("dropped=%s after=%.2fs honest_meanwhile=%s" % (hung, dt, honest))
        return 0 if hung and dt < tmo + 1.5 and honest is not None else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
