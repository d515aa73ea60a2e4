#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Starts a command the way libvirt starts QEMU: locked pid file, status XML, then drop to a uid and exec.
"""usage: fake-libvirt-launch.py --run-dir DIR --name NAME --uuid UUID --uid N [--gid N]
                               [--vhost-user-disk SOCKET]... -- CMD...

Runs as root. Writes DIR/NAME.pid with its own pid and holds an fcntl write
lock on it across exec (as libvirt's virPidFileAcquirePath does, the lock
stays with the exec'd program), writes DIR/NAME.xml (<domstatus pid=...>
with the "migration in" job libvirt records while a domain receives an
incoming migration; --not-incoming: a domain that just runs), both
root-owned, then drops to uid/gid with no supplementary groups and no
capabilities, and execs CMD. The broker cannot tell this from libvirt.
tests/lib/common.sh's status_xml rewrites the status XML later.
Each --vhost-user-disk puts a <disk type='vhostuser'> with that socket into
the status XML's <devices>, as libvirt records a vhost-user disk.
"""
import argparse
import fcntl
import os
import sys


def status_xml(name, uuid, pid, incoming, vhost_user_disks=()):
    """The parts of libvirt's status XML (9.0 .. 11.x) the broker reads."""
    devices = ""
    if vhost_user_disks:
        devices = "    <devices>\n%s    </devices>\n" % "".join(
            "      <disk type='vhostuser' device='disk'>\n"
            "        <driver name='qemu' type='raw'/>\n"
            "        <source type='unix' path='%s'>\n"
            "          <reconnect enabled='yes' timeout='10'/>\n"
            "        </source>\n"
            "        <target dev='vd%s' bus='virtio'/>\n"
            "      </disk>\n" % (path, chr(ord('a') + i))
            for i, path in enumerate(vhost_user_disks))
    if incoming:
        head = ("<domstatus state='paused' reason='migration' pid='%d'>\n"
                "  <job type='none' async='migration in' phase='prepare' flags='0x0'>\n"
                "  </job>\n") % pid
    else:
        head = "<domstatus state='running' reason='booted' pid='%d'>\n" % pid
    return (head + "  <domain type='qemu' id='1'>\n    <name>%s</name>\n    <uuid>%s</uuid>\n"
            "%s  </domain>\n</domstatus>\n") % (name, uuid, devices)


def write_status(run_dir, name, xml):
    """A new file renamed into place, as libvirt writes it."""
    tmp = os.path.join(run_dir, name + ".xml.new")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(xml)
    os.rename(tmp, os.path.join(run_dir, name + ".xml"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--uuid", required=True)
    ap.add_argument("--uid", type=int, required=True)
    ap.add_argument("--gid", type=int)
    ap.add_argument("--no-lock", action="store_true", help="write the pid file but hold no lock")
    ap.add_argument("--status-pid", type=int, help="pid to put in the status XML (default: own)")
    ap.add_argument("--not-incoming", action="store_true",
                    help="no incoming migration job in the status XML")
    ap.add_argument("--status-only", action="store_true",
                    help="only (re)write the status XML for --status-pid, as libvirt does when "
                         "a domain's state changes, and exit")
    ap.add_argument("--vhost-user-disk", action="append", default=[], metavar="SOCKET",
                    help="a vhost-user disk served at SOCKET (QEMU is the client)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.status_only:
        write_status(a.run_dir, a.name,
                     status_xml(a.name, a.uuid, a.status_pid, not a.not_incoming))
        return 0
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    pid = os.getpid()
    pidfile = os.path.join(a.run_dir, a.name + ".pid")
    fd = os.open(pidfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    if not a.no_lock:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"%d" % pid)
    os.set_inheritable(fd, True)  # the lock lives as long as this fd, in the exec'd program
    write_status(a.run_dir, a.name, status_xml(a.name, a.uuid, a.status_pid or pid,
                                              not a.not_incoming, a.vhost_user_disk))
    gid = a.gid if a.gid is not None else a.uid
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(a.uid, a.uid, a.uid)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
