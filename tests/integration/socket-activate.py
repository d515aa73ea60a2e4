#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Starts a daemon the way systemd socket activation does (LISTEN_FDS, LISTEN_FDNAMES, NOTIFY_SOCKET).
"""usage: socket-activate.py CLIENT_SOCK ADMIN_SOCK PIDFILE -- CMD...

Binds both SOCK_SEQPACKET sockets itself, passes them as fds 3 and 4 named
"uffd" and "admin", waits (10 s) for READY=1 on a notify socket, writes the
daemon's pid to PIDFILE and prints the notification. Exit 0 when READY=1
arrived, 1 otherwise (the daemon is then killed).
"""
import os
import signal
import socket
import sys
import tempfile


def listener(path, mode):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.path.exists(path):
        os.unlink(path)
    s.bind(path)
    os.chmod(path, mode)
    s.listen(64)
    return s


def main():
    client_path, admin_path, pidfile = sys.argv[1:4]
    cmd = sys.argv[5:] if sys.argv[4] == "--" else sys.argv[4:]
    c, a = listener(client_path, 0o666), listener(admin_path, 0o600)
    ndir = tempfile.mkdtemp()
    npath = os.path.join(ndir, "notify")
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.bind(npath)
    n.settimeout(10)
    pid = os.fork()
    if pid == 0:
        os.dup2(2, 1)  # our stdout is the caller's pipe: do not hold it open
        os.dup2(c.fileno(), 3)
        os.dup2(a.fileno(), 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)
        env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="2",
                   LISTEN_FDNAMES="uffd:admin", NOTIFY_SOCKET=npath)
        os.execvpe(cmd[0], cmd, env)
    with open(pidfile, "w") as f:
        f.write("%d\n" % pid)
    try:
        msg = n.recv(4096).decode()
    except socket.timeout:
        msg = ""
    os.unlink(npath)
    os.rmdir(ndir)
    print(msg.replace("\n", " "))
    if "READY=1" not in msg:
        os.kill(pid, signal.SIGKILL)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
