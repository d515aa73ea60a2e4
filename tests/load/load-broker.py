#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Load generator for uffd-shimd: many concurrent GET_DEVICE clients, a granted fake domain, fd/RSS/protocol checks.
"""usage (as root): load-broker.py --socket S --admin-socket A --broker-pid P
          --run-dir DIR --launcher fake-libvirt-launch.py [--requests N] [--concurrency C]

The root part grants domain "load" over the admin socket, starts this same
script as that domain's "QEMU" through fake-libvirt-launch.py (locked pid
file, status XML, QEMU uid; the broker's allowed emulator must be this
python interpreter), and keeps re-granting (REPLACE) while the client part
runs, so that real hand-outs keep happening. The client part keeps
--concurrency connections in flight until --requests replies arrived and
checks every reply: exact size and header, a known status, exactly one fd
(a character device of the misc major, /dev/userfaultfd) with status 0 and
none otherwise. The root part measures the broker's open fds and RSS after
a warm-up and at the end, and its counters. Prints TAP.
"""
import argparse
import ctypes
import json
import os
import selectors
import socket
import stat
import struct
import subprocess
import sys
import time

MAGIC, VERSION = 0x53464655, 1
OP_GET_DEVICE, OP_GRANT, OP_STATUS, OP_REPLY, OP_RECORD = 1, 16, 19, 32, 33
HDR = struct.Struct("=IHHII")
UUID = bytes(range(1, 17))
UUID_TEXT = "01020304-0506-0708-090a-0b0c0d0e0f10"
STATUS_OK, STATUS_EXHAUSTED = 0, 7
PR_SET_DUMPABLE = 4


def request():
    return HDR.pack(MAGIC, VERSION, OP_GET_DEVICE, 24, 0) + struct.pack("=II", 0, 0)


def admin(path, op, name=b"", uuid=bytes(16), uses=0, flags=0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    s.send(HDR.pack(MAGIC, VERSION, op, 304, flags) + uuid + struct.pack("=II", 0, uses) +
           bytes(8) + name.ljust(256, b"\0"))
    rep = s.recv(64)
    magic, _, rop, _, _ = HDR.unpack_from(rep)
    status, count = struct.unpack_from("=II", rep, 16)
    recs = [s.recv(512) for _ in range(count)] if status == 0 else []
    s.close()
    return status, recs


def broker_status(path):
    st, recs = admin(path, OP_STATUS)
    assert st == 0 and len(recs) == 1 and len(recs[0]) == 64
    f = struct.unpack_from("=iIqQQQII", recs[0], 16)
    return {"grants": f[1], "handed_out": f[3], "denied": f[4], "dropped": f[5], "clients": f[6]}


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


# ---- client part (runs as the domain's QEMU) ---------------------------------

def run_clients(a, n, stats, dev_rdev):
    sel = selectors.DefaultSelector()
    req = request()
    started = done = 0
    ctl_space = socket.CMSG_SPACE(4 * 4)

    def start_one():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
        try:
            s.connect(a.socket)
            s.send(req)
        except (BlockingIOError, ConnectionRefusedError, InterruptedError):
            s.close()
            stats["retries"] += 1
            return False
        sel.register(s, selectors.EVENT_READ, time.monotonic())
        return True

    while done < n:
        while started < n and started - done < a.concurrency:
            if not start_one():
                time.sleep(0.001)
                break
            started += 1
        if not sel.get_map():
            continue  # every connect hit a full backlog: retry
        for key, _ in sel.select(timeout=5):
            s = key.fileobj
            sel.unregister(s)
            stats["latency_max_ms"] = max(stats["latency_max_ms"],
                                          (time.monotonic() - key.data) * 1000)
            try:
                data, anc, flags, _ = s.recvmsg(64, ctl_space)
            except OSError as e:
                stats["errors"].append("recvmsg: %s" % e)
                s.close()
                done += 1
                continue
            fds = []
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds += list(struct.unpack("=%di" % (len(cdata) // 4), cdata[:len(cdata) // 4 * 4]))
            err = None
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(data) != 24:
                err = "reply of %d bytes, flags %#x" % (len(data), flags)
            else:
                magic, ver, op, length, hflags = HDR.unpack_from(data)
                status, count = struct.unpack_from("=II", data, 16)
                if (magic, ver, op, length, hflags, count) != (MAGIC, VERSION, OP_REPLY, 24, 0, 0):
                    err = "bad reply header %r" % (data,)
                elif status not in (STATUS_OK, STATUS_EXHAUSTED):
                    err = "unexpected status %d" % status
                elif (status == STATUS_OK) != (len(fds) == 1) or len(fds) > 1:
                    err = "status %d with %d fds" % (status, len(fds))
                elif fds:
                    st = os.fstat(fds[0])
                    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != dev_rdev:
                        err = "fd is not /dev/userfaultfd"
                if err is None:
                    stats["status"][str(status)] = stats["status"].get(str(status), 0) + 1
            for f in fds:
                os.close(f)
            if err:
                stats["errors"].append(err)
            s.close()
            done += 1
    sel.close()


def client_main(a):
    # As libuffd-shim does: the broker serves only a QEMU that no process of
    # its uid can ptrace.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    stats = {"status": {}, "errors": [], "retries": 0, "latency_max_ms": 0.0}
    dev_rdev = os.stat("/dev/userfaultfd").st_rdev
    run_clients(a, a.warmup, stats, dev_rdev)
    print(json.dumps({"phase": "warm"}), flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    run_clients(a, a.requests - a.warmup, stats, dev_rdev)
    stats["seconds"] = time.monotonic() - t0
    stats["errors"] = stats["errors"][:20] + (["..."] if len(stats["errors"]) > 20 else [])
    print(json.dumps(stats), flush=True)
    return 0


# ---- root part ----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--admin-socket")
    ap.add_argument("--broker-pid", type=int)
    ap.add_argument("--run-dir")
    ap.add_argument("--launcher")
    ap.add_argument("--uid", type=int, default=64055)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not a.warmup:
        a.warmup = min(5000, a.requests // 10)
    if a.client:
        return client_main(a)

    n = 0
    failed = 0

    def check(desc, ok):
        nonlocal n, failed
        n += 1
        failed += 0 if ok else 1
        print("%s %d - %s" % ("ok" if ok else "not ok", n, desc), flush=True)

    grant = lambda: admin(a.admin_socket, OP_GRANT, b"load", UUID, uses=1000, flags=1)[0]
    check("the fake domain is granted", grant() == 0)
    child = subprocess.Popen(
        [sys.executable, a.launcher, "--run-dir", a.run_dir, "--name", "load", "--uuid", UUID_TEXT,
         "--uid", str(a.uid), "--", sys.executable, os.path.abspath(__file__), "--client",
         "--socket", a.socket, "--requests", str(a.requests), "--concurrency", str(a.concurrency),
         "--warmup", str(a.warmup)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    os.set_blocking(child.stdout.fileno(), False)
    buf, phase, result, regrants = "", None, None, 0
    fds0 = rss0 = st0 = None
    last_grant = time.monotonic()
    while child.poll() is None or not result:
        try:
            buf += child.stdout.read() or ""
        except (BlockingIOError, TypeError):
            pass
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            msg = json.loads(line)
            if msg.get("phase") == "warm":
                time.sleep(0.2)
                fds0, rss0, st0 = fd_count(a.broker_pid), rss_kib(a.broker_pid), broker_status(a.admin_socket)
                child.stdin.write("go\n")
                child.stdin.flush()
            else:
                result = msg
        if child.poll() is not None and not result and "\n" not in buf:
            rest = child.stdout.read() or ""
            if not rest:
                break
            buf += rest
            continue
        if time.monotonic() - last_grant > 0.05:
            regrants += 1 if grant() == 0 else 0
            last_grant = time.monotonic()
        time.sleep(0.005)
    child.wait()
    if not result or st0 is None:
        check("the load client ran to the end (exit %s)" % child.returncode, False)
        print("1..%d" % n)
        return 1
    time.sleep(0.3)
    fds1, rss1, st1 = fd_count(a.broker_pid), rss_kib(a.broker_pid), broker_status(a.admin_socket)
    measured = a.requests - a.warmup
    handed = result["status"].get("0", 0)
    served = st1["handed_out"] - st0["handed_out"] + st1["denied"] - st0["denied"]
    print("# %d requests (%d after a warm-up of %d), %d concurrent: %.1f s, %.0f req/s, "
          "max latency %.1f ms, %d connect retries (backlog full)" % (
              a.requests, measured, a.warmup, a.concurrency, result["seconds"],
              measured / result["seconds"], result["latency_max_ms"], result["retries"]))
    print("# replies after warm-up: %s; re-grants %d" % (result["status"], regrants))
    print("# broker fds %d -> %d, RSS %d -> %d KiB" % (fds0, fds1, rss0, rss1))
    check("every reply is well-formed, with an fd exactly on success (%d errors%s)" % (
        len(result["errors"]), ": " + "; ".join(result["errors"][:5]) if result["errors"] else ""),
        not result["errors"])
    check("every request was answered (%d replies)" % sum(result["status"].values()),
          sum(result["status"].values()) == a.requests)
    check("devices were handed out (%d)" % handed, handed > 0)
    check("the broker counted every request and dropped none (%d served, %d dropped)" % (
        served, st1["dropped"] - st0["dropped"]),
        served == measured and st1["dropped"] == st0["dropped"])
    check("broker fd count unchanged (%d -> %d)" % (fds0, fds1), fds1 == fds0)
    check("broker RSS flat (%d -> %d KiB, limit +512 KiB)" % (rss0, rss1), rss1 - rss0 <= 512)
    check("the broker is still alive", os.path.exists("/proc/%d" % a.broker_pid))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
