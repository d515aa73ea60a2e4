#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Drive a postcopy live migration between two QEMUs over QMP and check the test guest.
"""Postcopy migration driver for the uffd-shim tests (python3 stdlib only).

Starts a source and a destination QEMU (pc machine, TCG, 128 MiB) that share
the test guest's disk image (tests/guest/build-guest.sh), migrates the
running guest with postcopy and checks, on the destination:
  * the guest keeps printing progress markers after the migration;
  * its serial output has no DMA-ERR / DMA-BAD line (an IDE DMA into a page
    that was still missing failed: the destination's userfaultfd did not
    handle a kernel-mode fault, i.e. it is UFFD_USER_MODE_ONLY or broken);
  * a RAM dump passes tests/guest/memcheck.py.

--expect-precopy lets precopy converge instead (no switch); --cancel
cancels the migration on the source where it would switch.  --hook CMD
runs `CMD PHASE` at fixed points (start: both QEMUs run, nothing is
set yet; switch: just before the switch or the cancel; end: after the
migration completed or failed on the destination, before the QEMUs are
stopped) with the QEMUs' pids in POSTCOPY_SRC_PID and POSTCOPY_DST_PID
(the destination's is the QEMU itself when its --dst-prefix execs it),
so a test can look at the destination QEMU at those points.

Exit status: 0 = the expected outcome, 1 = failure (reason printed),
2 = usage error.  The last line printed is a one-line summary.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MEMCHECK = os.path.join(HERE, "..", "guest", "memcheck.py")

RAM_MB = 128
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
DMA_ERROR_RE = re.compile(r"^(DMA-ERR|DMA-BAD)\b.*$", re.M)
PROGRESS_RE = re.compile(r"^P ([0-9a-f]{8}) e=([0-9a-f]{8})$", re.M)
UNSUPPORTED = "Postcopy is not supported"


class Failure(Exception):
    """The run failed; the message says why."""


T0 = time.monotonic()


def log(msg):
    print("postcopy: [%6.2f] %s" % (time.monotonic() - T0, msg), flush=True)


class QMP:
    """Minimal QMP client; QEMU connects to a socket we listen on."""

    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.buf = b""
        self.events = []
        self.next_id = 0

    def _read_msg(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("%s: QMP timeout" % self.name)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Failure("%s: QMP timeout" % self.name) from None
            except OSError as e:
                raise Failure("%s: QMP connection error: %s" % (self.name, e)) from None
            if not chunk:
                raise Failure("%s: QMP connection closed (QEMU exited?)" % self.name)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def handshake(self, timeout=30):
        deadline = time.monotonic() + timeout
        greeting = self._read_msg(deadline)
        if "QMP" not in greeting:
            raise Failure("%s: unexpected QMP greeting %r" % (self.name, greeting))
        self.command("qmp_capabilities", timeout=timeout)

    def execute(self, cmd, args=None, timeout=30, fd=None):
        """Run a command; return ('return', value) or ('error', desc).

        fd: a file descriptor sent along (SCM_RIGHTS), e.g. for getfd.
        """
        self.next_id += 1
        msg = {"execute": cmd, "id": self.next_id}
        if args is not None:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        try:
            if fd is None:
                self.sock.sendall(data)
            else:
                socket.send_fds(self.sock, [data], [fd])
        except OSError as e:
            raise Failure("%s: QMP send failed: %s" % (self.name, e)) from None
        deadline = time.monotonic() + timeout
        while True:
            resp = self._read_msg(deadline)
            if "event" in resp:
                self.events.append(resp)
                continue
            if resp.get("id") != self.next_id:
                continue
            if "error" in resp:
                return "error", resp["error"].get("desc", str(resp["error"]))
            return "return", resp.get("return")

    def command(self, cmd, args=None, timeout=30, fd=None):
        kind, val = self.execute(cmd, args, timeout, fd)
        if kind == "error":
            raise Failure("%s: %s failed: %s" % (self.name, cmd, val))
        return val

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Guest:
    """One QEMU process: its files, process and QMP connection."""

    def __init__(self, name, directory, prefix, args):
        self.name = name
        self.dir = directory
        self.prefix = prefix
        self.args = args
        self.serial = os.path.join(directory, "serial.log")
        self.qmp_path = os.path.join(directory, "qmp.sock")
        self.log_path = os.path.join(directory, "qemu.log")
        self.proc = None
        self.qmp = None

    def start(self, qemu, common, extra, world_writable):
        for p in (self.serial, self.qmp_path):
            if os.path.lexists(p):
                os.unlink(p)
        if len(self.qmp_path.encode()) >= 108:
            raise Failure("socket path too long (use a shorter --workdir): %s" % self.qmp_path)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.qmp_path)
        if world_writable:
            os.chmod(self.qmp_path, 0o666)
            # created here so that QEMU (another user) can open it
            fd = os.open(self.serial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            os.close(fd)
            os.chmod(self.serial, 0o666)
        lsock.listen(1)
        cmd = (self.prefix + [qemu] + common +
               ["-name", self.name,
                "-serial", "file:" + self.serial,
                "-chardev", "socket,id=qmp,path=" + self.qmp_path,
                "-mon", "chardev=qmp,mode=control"] + self.args + extra)
        log("%s: %s" % (self.name, " ".join(shlex.quote(c) for c in cmd)))
        logf = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise Failure("%s: cannot run %s: %s" % (self.name, cmd[0], e)) from None
        finally:
            logf.close()
        lsock.settimeout(0.2)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    conn, _ = lsock.accept()
                    break
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    raise Failure("%s: QEMU exited with status %s before connecting to QMP: %s"
                                  % (self.name, self.proc.returncode, self.log_tail()))
                if time.monotonic() > deadline:
                    raise Failure("%s: QEMU did not connect to QMP within 30 s" % self.name)
        finally:
            lsock.close()
        self.qmp = QMP(self.name, conn)
        self.qmp.handshake()

    def log_tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-n:]) if lines else "(empty log)"

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise Failure("%s: QEMU exited with status %s: %s"
                          % (self.name, self.proc.returncode, self.log_tail()))

    def read_serial(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_serial(self, what, pred, timeout):
        """Wait until pred(serial text) is true."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.read_serial()
            if pred(text):
                return text
            self.check_alive()
            if time.monotonic() > deadline:
                tail = " | ".join(text.strip().splitlines()[-3:]) or "(no serial output)"
                raise Failure("%s: no %s on the serial port within %d s (last: %s)"
                              % (self.name, what, timeout, tail))
            time.sleep(0.05)

    def stop_process(self):
        """Quit QEMU: QMP quit, then SIGTERM/SIGKILL to its process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None and self.qmp is not None:
            try:
                self.qmp.execute("quit", timeout=3)
            except Failure:
                pass
        if self.qmp is not None:
            self.qmp.close()
        for sig, wait in ((None, 3), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if sig is not None:
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
                except PermissionError:
                    self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue


def progress_count(text):
    return len(PROGRESS_RE.findall(text))


def ram_stats(info):
    ram = info.get("ram") or {}
    return {k: ram.get(k) for k in ("transferred", "total", "duplicate", "normal",
                                    "normal-bytes", "dirty-sync-count", "postcopy-requests",
                                    "precopy-bytes", "postcopy-bytes", "pages-per-second")
            if k in ram}


def event_time(qmp, name, pred=lambda data: True):
    """Host time (s) of the first event NAME whose data satisfies pred, or None."""
    for ev in qmp.events:
        if ev.get("event") == name and pred(ev.get("data") or {}):
            ts = ev.get("timestamp") or {}
            return ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6
    return None


def timeline(src, dst):
    """Timings from the QMP event timestamps of both QEMUs (one host clock).

    switch: the source stops the guest (STOP), the start of the downtime;
    dst_resume: the destination runs it again (RESUME), after it has loaded
    the device state and set up its incoming userfaultfd;
    completed: MIGRATION status 'completed' on each side, the end of the
    postcopy phase (no page can be missing on the destination any more).
    """
    for g in (src, dst):
        g.qmp.command("query-status")  # collect events still in the socket
    setup = event_time(src.qmp, "MIGRATION", lambda d: d.get("status") == "setup")
    switch = event_time(src.qmp, "STOP")
    resume = event_time(dst.qmp, "RESUME")
    src_done = event_time(src.qmp, "MIGRATION", lambda d: d.get("status") == "completed")
    dst_done = event_time(dst.qmp, "MIGRATION", lambda d: d.get("status") == "completed")

    def ms(a, b):
        return round((b - a) * 1000, 1) if a is not None and b is not None else None

    return {"precopy_ms": ms(setup, switch),
            "dst_downtime_ms": ms(switch, resume),
            "postcopy_src_ms": ms(switch, src_done),
            "postcopy_dst_ms": ms(switch, dst_done),
            "total_dst_ms": ms(setup, dst_done)}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disk", required=True, help="test guest disk image (build-guest.sh)")
    ap.add_argument("--workdir", required=True, help="directory for sockets, logs, RAM dump")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="QEMU binary")
    ap.add_argument("--src-prefix", default="", help="words put before the source QEMU command")
    ap.add_argument("--dst-prefix", default="",
                    help="words put before the destination QEMU command "
                         "(e.g. 'runuser -u qemu -- env LD_PRELOAD=...')")
    ap.add_argument("--src-extra", default="",
                    help="extra source QEMU arguments (write --src-extra='-foo ...')")
    ap.add_argument("--dst-extra", default="",
                    help="extra destination QEMU arguments (write --dst-extra='-foo ...')")
    ap.add_argument("--transport", choices=("fd", "unix", "tcp"), default="fd",
                    help="migration channel: fd = a socket pair passed to both QEMUs "
                         "with getfd (default), unix = socket in the workdir, "
                         "tcp = 127.0.0.1 with a port the destination picks.  Large "
                         "TCP buffers let the page stream run megabytes ahead, which "
                         "weakens the DMA check")
    ap.add_argument("--sandbox", action="store_true",
                    help="run both QEMUs with libvirt's -sandbox " + SANDBOX)
    ap.add_argument("--bandwidth", type=int, default=3_000_000,
                    help="precopy max-bandwidth in bytes/s (default 3000000: cannot converge)")
    ap.add_argument("--postcopy-bandwidth", type=int, default=0,
                    help="max-postcopy-bandwidth in bytes/s for the background page "
                         "stream (default 0 = unlimited; in QEMU 7.2 a limit also "
                         "holds back page requests, and the DMA check loses its bite)")
    ap.add_argument("--switch-after-syncs", type=int, default=2,
                    help="start postcopy once the source's dirty-sync-count reaches this "
                         "(1 = right after migration setup, 2 = after the first full "
                         "precopy pass, which takes 20-35 s at 3 MB/s; default 2)")
    ap.add_argument("--expect-unsupported", action="store_true",
                    help="succeed only if the destination refuses postcopy-ram with "
                         "'%s'" % UNSUPPORTED)
    ap.add_argument("--expect-dma-error", action="store_true",
                    help="succeed only if the destination guest reports DMA-ERR/DMA-BAD "
                         "(negative control: user-mode-only userfaultfd)")
    ap.add_argument("--expect-precopy", action="store_true",
                    help="let precopy converge (postcopy-ram enabled, never switched): "
                         "succeed if the migration completes without postcopy and the "
                         "guest checks pass (use a high --bandwidth and --downtime-limit)")
    ap.add_argument("--cancel", action="store_true",
                    help="where the migration would switch to postcopy, cancel it on the "
                         "source instead: succeed if the destination's migration fails "
                         "(or its QEMU exits) and the guest keeps running on the source")
    ap.add_argument("--downtime-limit", type=int, default=1,
                    help="precopy downtime-limit in ms (default 1: cannot converge)")
    ap.add_argument("--dst-exit-on-error", choices=("yes", "no"),
                    help="migrate-incoming exit-on-error on the destination (QEMU >= 9.1; "
                         "default: not passed, QEMU exits when the migration fails)")
    ap.add_argument("--hook", metavar="CMD",
                    help="run 'CMD start|switch|end' (split like a shell command line) "
                         "with POSTCOPY_SRC_PID and POSTCOPY_DST_PID set; a failure fails "
                         "the run")
    ap.add_argument("--progress", type=int, default=3,
                    help="fresh progress markers required on the destination (default 3)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds allowed for the migration itself (default 300)")
    ap.add_argument("--events", action="store_true",
                    help="also turn on the 'events' capability on both sides and derive "
                         "a timeline from the QMP event timestamps (result key 'timeline': "
                         "switch = source STOP, destination RESUME and completion, "
                         "downtime as the guest saw it)")
    ap.add_argument("--keep-dump", action="store_true", help="keep the RAM dump on success")
    ap.add_argument("--json", metavar="OUT", help="write timings and statistics as JSON")
    return ap.parse_args(argv)


def prepare_workdir(args):
    wd = os.path.abspath(args.workdir)
    os.makedirs(wd, exist_ok=True)
    src_dir = os.path.join(wd, "src")
    dst_dir = os.path.join(wd, "dst")
    os.makedirs(src_dir, exist_ok=True)
    os.makedirs(dst_dir, exist_ok=True)
    # A prefix may run QEMU as another user: it must reach and write its
    # directory (serial file, RAM dump).  The work directory is private to
    # the test run, so world-writable entries are acceptable here.
    for d, prefix in ((src_dir, args.src_prefix), (dst_dir, args.dst_prefix)):
        if prefix.strip():
            os.chmod(d, 0o777)
    if args.src_prefix.strip() or args.dst_prefix.strip():
        os.chmod(wd, os.stat(wd).st_mode | 0o111)
        parent = os.path.dirname(wd)
        while parent and parent != os.path.dirname(parent):
            if not os.stat(parent).st_mode & 0o001:
                log("warning: %s is not searchable by other users; a QEMU run as "
                    "another user cannot reach the workdir" % parent)
            parent = os.path.dirname(parent)
    return wd, src_dir, dst_dir


def incoming_args(args, uri):
    a = {"uri": uri}
    if args.dst_exit_on_error:
        a["exit-on-error"] = args.dst_exit_on_error == "yes"
    return a


def run_hook(args, phase, src, dst):
    """--hook CMD PHASE; a failure (or a hook that hangs) fails the run."""
    if not args.hook:
        return
    env = dict(os.environ)
    env["POSTCOPY_SRC_PID"] = str(src.proc.pid if src.proc else 0)
    env["POSTCOPY_DST_PID"] = str(dst.proc.pid if dst.proc else 0)
    try:
        r = subprocess.run(shlex.split(args.hook) + [phase], env=env, timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failure("hook %s: %s" % (phase, e)) from None
    out = r.stdout.decode(errors="replace").strip()
    log("hook %s: exit %d%s" % (phase, r.returncode, (": " + out) if out else ""))
    if r.returncode != 0:
        raise Failure("hook %s failed (exit %d): %s" % (phase, r.returncode, out))


def wait_dst_failed(args, dst, deadline):
    """After a cancel: the destination's migration fails, or its QEMU exits."""
    while True:
        if dst.proc.poll() is not None:
            return "exited with status %s" % dst.proc.returncode
        try:
            status = dst.qmp.command("query-migrate", timeout=5).get("status")
        except Failure:
            # a QEMU on its way out closes its monitor first
            try:
                dst.proc.wait(10)
            except subprocess.TimeoutExpired:
                raise Failure("dst: QMP failed and QEMU did not exit after the cancel") from None
            return "exited with status %s" % dst.proc.returncode
        if status == "failed":
            return "migration failed"
        if status == "completed":
            raise Failure("dst: the cancelled migration completed")
        if time.monotonic() > deadline:
            raise Failure("dst: the cancelled migration is still %s" % status)
        time.sleep(0.05)


def setup_channel(args, src, dst, dst_dir):
    """Make the destination listen; return the source's migrate URI."""
    if args.transport == "fd":
        # A connected socket pair, one end handed to each QEMU with getfd.
        # Works whatever users the QEMUs run as, and the small AF_UNIX
        # socket buffer keeps the source's page stream only ~200 KiB ahead
        # of the destination (see tests/guest/guest.S on why that matters).
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            dst.qmp.command("getfd", {"fdname": "migration"}, fd=b.fileno())
            src.qmp.command("getfd", {"fdname": "migration"}, fd=a.fileno())
        finally:
            a.close()
            b.close()
        dst.qmp.command("migrate-incoming", incoming_args(args, "fd:migration"))
        return "fd:migration"
    if args.transport == "unix":
        path = os.path.join(dst_dir, "migration.sock")
        if os.path.lexists(path):
            os.unlink(path)
        if len(path.encode()) >= 108:
            raise Failure("socket path too long (use a shorter --workdir): %s" % path)
        dst.qmp.command("migrate-incoming", incoming_args(args, "unix:" + path))
        if args.dst_prefix.strip() and os.path.exists(path):
            try:
                os.chmod(path, 0o666)
            except PermissionError:
                pass
        return "unix:" + path
    dst.qmp.command("migrate-incoming", incoming_args(args, "tcp:127.0.0.1:0"))
    info = dst.qmp.command("query-migrate")
    port = None
    for addr in info.get("socket-address") or []:
        if addr.get("type") == "inet" and addr.get("port"):
            port = int(addr["port"])
    if not port:
        raise Failure("dst: query-migrate shows no listening port: %r" % info)
    return "tcp:127.0.0.1:%d" % port


def run(args, result):
    wd, src_dir, dst_dir = prepare_workdir(args)
    if not os.path.isfile(args.disk):
        raise Failure("disk image %s not found (build it with tests/guest/build-guest.sh)"
                      % args.disk)
    # Both QEMUs share one copy in the workdir (shared storage).  QEMU opens
    # it read-write (IDE disks cannot be read-only), so a QEMU run as
    # another user through a prefix needs it writable.
    disk = os.path.join(wd, "disk.img")
    shutil.copyfile(args.disk, disk)
    os.chmod(disk, 0o666 if (args.src_prefix.strip() or args.dst_prefix.strip()) else 0o644)
    common = ["-machine", "pc", "-accel", "tcg", "-m", "%dM" % RAM_MB, "-smp", "1",
              "-nodefaults", "-display", "none", "-no-user-config",
              "-drive", "file=%s,if=ide,format=raw,cache=writeback" % disk]
    if args.sandbox:
        common += ["-sandbox", SANDBOX]
    src = Guest("src", src_dir, shlex.split(args.src_prefix), shlex.split(args.src_extra))
    dst = Guest("dst", dst_dir, shlex.split(args.dst_prefix),
                ["-incoming", "defer"] + shlex.split(args.dst_extra))
    guests = [src, dst]
    result["workdir"] = wd
    t_start = time.monotonic()
    try:
        return migrate(args, result, src, dst, dst_dir, common)
    except Failure as e:
        # say so when a QEMU died: that is usually the real cause
        dead = []
        for g in guests:
            if (g.proc is not None and g.proc.poll() is not None
                    and "%s: QEMU exited" % g.name not in str(e)):
                dead.append("%s QEMU exited with status %s (%s)"
                            % (g.name, g.proc.returncode, g.log_tail(3)))
        if dead:
            raise Failure("%s; %s" % (e, "; ".join(dead))) from None
        raise
    finally:
        for g in guests:
            g.stop_process()
        result["elapsed_s"] = round(time.monotonic() - t_start, 3)


def migrate(args, result, src, dst, dst_dir, common):
    """The migration proper; both QEMUs are stopped by the caller."""
    guests = [src, dst]
    src.start(args.qemu, common, [], bool(args.src_prefix.strip()))
    dst.start(args.qemu, common, [], bool(args.dst_prefix.strip()))

    src.wait_serial("GUEST-START", lambda t: "GUEST-START" in t, 60)
    src.wait_serial("progress markers", lambda t: progress_count(t) >= 2, 60)
    text = src.read_serial()
    if DMA_ERROR_RE.search(text):
        raise Failure("src: guest reports a DMA error before migration: %s"
                      % DMA_ERROR_RE.search(text).group(0))
    run_hook(args, "start", src, dst)

    # capabilities: destination first (that is where postcopy is probed)
    kind, val = dst.qmp.execute("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-ram", "state": True}]})
    if args.expect_unsupported:
        if kind == "error" and UNSUPPORTED in val:
            result["outcome"] = "unsupported"
            result["dst_error"] = val
            return "destination refused postcopy-ram as expected: %s" % val
        if kind == "error":
            raise Failure("dst: postcopy-ram failed, but not with '%s': %s"
                          % (UNSUPPORTED, val))
        raise Failure("dst: postcopy-ram was accepted, expected '%s'" % UNSUPPORTED)
    if kind == "error":
        raise Failure("dst: migrate-set-capabilities postcopy-ram failed: %s" % val)
    kind, val = dst.qmp.execute("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-blocktime", "state": True}]})
    result["blocktime_enabled"] = kind == "return"
    if kind == "error":
        log("dst: postcopy-blocktime not available: %s" % val)
    src.qmp.command("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-ram", "state": True}]})
    if args.events:
        for g in guests:
            g.qmp.command("migrate-set-capabilities", {"capabilities": [
                {"capability": "events", "state": True}]})
    params = {"max-bandwidth": args.bandwidth, "downtime-limit": args.downtime_limit,
              "max-postcopy-bandwidth": args.postcopy_bandwidth}
    src.qmp.command("migrate-set-parameters", params)

    uri = setup_channel(args, src, dst, dst_dir)

    t_migrate = time.monotonic()
    src.qmp.command("migrate", {"uri": uri})
    log("migrating to %s, waiting for dirty-sync-count >= %d"
        % (uri, args.switch_after_syncs))
    deadline = t_migrate + args.timeout
    while True:
        info = src.qmp.command("query-migrate")
        status = info.get("status")
        if status in ("failed", "cancelled"):
            raise Failure("src: migration %s before postcopy: %s"
                          % (status, info.get("error-desc", "")))
        if status == "completed" and args.expect_precopy:
            break
        if status == "completed":
            raise Failure("src: migration completed in precopy (raise the dirty rate "
                          "or lower --bandwidth)")
        syncs = (info.get("ram") or {}).get("dirty-sync-count", 0)
        if (status == "active" and syncs >= args.switch_after_syncs
                and not args.expect_precopy):
            break
        for g in guests:
            g.check_alive()
        if time.monotonic() > deadline:
            raise Failure("src: precopy did not reach dirty-sync-count %d within %d s "
                          "(status %s, count %s)"
                          % (args.switch_after_syncs, args.timeout, status, syncs))
        time.sleep(0.02)
    result["precopy_s"] = round(time.monotonic() - t_migrate, 3)
    result["precopy_ram"] = ram_stats(info)
    if args.cancel:
        run_hook(args, "switch", src, dst)
        src.qmp.command("migrate_cancel")
        how = wait_dst_failed(args, dst, time.monotonic() + 60)
        log("cancelled after %.2f s of precopy; destination: %s" % (result["precopy_s"], how))
        run_hook(args, "end", src, dst)
        src.check_alive()
        # the source passes through "cancelling" while its thread winds down
        cancel_deadline = time.monotonic() + 30
        status = src.qmp.command("query-migrate").get("status")
        while status == "cancelling" and time.monotonic() < cancel_deadline:
            time.sleep(0.05)
            status = src.qmp.command("query-migrate").get("status")
        if status != "cancelled":
            raise Failure("src: migration is %s after migrate_cancel" % status)
        base = progress_count(src.read_serial())
        src.wait_serial("fresh progress markers",
                        lambda t: progress_count(t) >= base + args.progress, 60)
        result["outcome"] = "cancelled"
        return ("cancelled after %.1f s of precopy: destination %s, the guest runs on "
                "the source" % (result["precopy_s"], how))
    t_switch = time.monotonic()
    if args.expect_precopy:
        log("migration completed in precopy after %.2f s" % result["precopy_s"])
    else:
        run_hook(args, "switch", src, dst)
        src.qmp.command("migrate-start-postcopy")
        log("postcopy started after %.2f s of precopy" % result["precopy_s"])

    done = {"src": False, "dst": False}
    infos = {}
    while not all(done.values()):
        for g in guests:
            if done[g.name]:
                continue
            g.check_alive()
            info = g.qmp.command("query-migrate")
            infos[g.name] = info
            status = info.get("status")
            if status == "completed":
                done[g.name] = True
                result["%s_completed_s" % g.name] = round(time.monotonic() - t_switch, 3)
            elif status in ("failed", "cancelled", "postcopy-paused"):
                raise Failure("%s: migration %s in postcopy: %s"
                              % (g.name, status, info.get("error-desc", "")))
        if not all(done.values()):
            if time.monotonic() > deadline:
                raise Failure("migration did not complete within %d s (src %s, dst %s)"
                              % (args.timeout, infos.get("src", {}).get("status"),
                                 infos.get("dst", {}).get("status")))
            time.sleep(0.05)
    run_hook(args, "end", src, dst)
    result["postcopy_s"] = result["src_completed_s"]
    sinfo = infos["src"]
    result["total_time_ms"] = sinfo.get("total-time")
    result["downtime_ms"] = sinfo.get("downtime")
    result["setup_time_ms"] = sinfo.get("setup-time")
    result["ram"] = ram_stats(sinfo)
    dinfo = dst.qmp.command("query-migrate")
    if "postcopy-blocktime" in dinfo:
        result["blocktime_ms"] = dinfo["postcopy-blocktime"]
        result["vcpu_blocktime_ms"] = dinfo.get("postcopy-vcpu-blocktime")
    log("migration completed: postcopy phase %.2f s, downtime %s ms"
        % (result["postcopy_s"], result["downtime_ms"]))
    if args.events:
        result["timeline"] = timeline(src, dst)

    # the guest must go on running on the destination
    base = progress_count(dst.read_serial())
    text = dst.wait_serial("fresh progress markers",
                           lambda t: progress_count(t) >= base + args.progress, 60)
    result["dst_progress_lines"] = progress_count(text)
    lines = [m.group(0) for m in DMA_ERROR_RE.finditer(text)]
    errors = len(lines)
    result["dst_dma_errors"] = errors
    result["dst_dma_error_lines"] = lines[:5]
    stext = src.read_serial()
    result["src_dma_errors"] = len(DMA_ERROR_RE.findall(stext))

    dump = os.path.join(dst_dir, "mem.dump")
    if os.path.lexists(dump):
        os.unlink(dump)
    dst.qmp.command("stop")
    dst.qmp.command("pmemsave", {"val": 0, "size": RAM_MB << 20, "filename": dump},
                    timeout=120)
    # the guest sweeps upwards: the one allowed edge goes down by one
    mc = subprocess.run([sys.executable, MEMCHECK, "--direction", "up", dump],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, timeout=300)
    mc_out = mc.stdout.decode(errors="replace").strip()
    log(mc_out.splitlines()[0] if mc_out else "memcheck: no output")
    result["memcheck"] = "ok" if mc.returncode == 0 else "fail"
    if mc.returncode != 0:
        raise Failure("memcheck failed on the destination's RAM (dump kept in %s): %s"
                      % (dump, mc_out))
    if not args.keep_dump:
        os.unlink(dump)

    if result["src_dma_errors"]:
        raise Failure("src: guest reported DMA errors on the source: %s"
                      % DMA_ERROR_RE.search(stext).group(0))
    if args.expect_dma_error:
        if not errors:
            raise Failure("expected a DMA error on the destination (user-mode-only "
                          "userfaultfd), but the guest reported none")
        result["outcome"] = "dma-error"
        return "destination guest reported %d DMA error(s) as expected: %s" % (
            errors, lines[0])
    if errors:
        raise Failure("destination guest reported %d DMA error(s) after the switch, "
                      "first: %s (a kernel-mode fault on a missing page failed: is the "
                      "destination's userfaultfd user-mode-only?)" % (errors, lines[0]))
    result["outcome"] = "ok"
    if args.expect_precopy:
        if (result["ram"].get("postcopy-bytes") or 0) > 0:
            raise Failure("the migration sent pages in postcopy, expected none")
        result["outcome"] = "precopy"
        return ("precopy ok: converged in %.1f s, downtime %s ms, %d dst progress lines, "
                "no DMA errors, memcheck ok"
                % (result["precopy_s"], result["downtime_ms"], result["dst_progress_lines"]))
    return ("postcopy ok: precopy %.1f s, postcopy %.2f s, downtime %s ms, "
            "%d dst progress lines, no DMA errors, memcheck ok"
            % (result["precopy_s"], result["postcopy_s"], result["downtime_ms"],
               result["dst_progress_lines"]))


def main(argv=None):
    args = parse_args(argv)
    if sum(map(bool, (args.expect_unsupported, args.expect_dma_error, args.expect_precopy,
                      args.cancel))) > 1:
        print("postcopy: --expect-unsupported, --expect-dma-error, --expect-precopy and "
              "--cancel exclude each other", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        raise Failure("interrupted by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    result = {}
    try:
        summary = run(args, result)
        rc = 0
        line = "PASS: " + summary
    except Failure as e:
        rc = 1
        result["outcome"] = "fail"
        result["error"] = str(e)
        line = "FAIL: " + str(e)
    except KeyboardInterrupt:
        rc = 1
        result["outcome"] = "fail"
        result["error"] = "interrupted"
        line = "FAIL: interrupted"
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
    print("postcopy: " + line, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
