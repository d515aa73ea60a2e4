/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer identification: who is on the other end of a socket, as the kernel says. */
/*
 * Theory of operation
 * -------------------
 * Nothing the client sends says who it is. The broker asks the kernel:
 *  1. SO_PEERCRED gives pid/uid/gid as of connect().
 *  2. A pidfd pins that process: SO_PEERPIDFD (Linux >= 6.5) refers to the
 *     very process that connected; on older kernels pidfd_open(pid) right
 *     after accept(), narrowing the window in which the pid could be recycled.
 *  3. /proc/PID/status (all four uids), /proc/PID/stat (start time) and
 *     /proc/PID/exe (the executable's device and inode) are read.
 *  4. The decision is made from those facts plus libvirt's records.
 *  5. Before the device is sent, uffd_shim_peer_alive() checks that the
 *     pidfd's process still runs and /proc/PID still shows the same start
 *     time. If the peer exited at any point, its pid may now belong to a
 *     different process whose /proc entries we may have read: the check
 *     fails and the request is denied (PEER_GONE). A recycled pid cannot pass.
 *     (Without SO_PEERPIDFD, a pid recycled between connect() and
 *     pidfd_open() is judged as the new process, which would then itself
 *     have to be the granted domain's lock-holding QEMU.)
 * Reading /proc/PID/exe of a process of another uid needs CAP_SYS_PTRACE,
 * the one capability the broker keeps (see privdrop.c).
 */
#include "peer.h"

#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim-error.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

gboolean
uffd_shim_parse_proc_uids (const char *status, uid_t out[4])
{
    const char *l = strstr (status, "\nUid:");
    unsigned long v[4];
    char tail;

    if (!l)
        return FALSE;
    if (sscanf (l + 5, " %lu %lu %lu %lu%c", &v[0], &v[1], &v[2], &v[3], &tail) != 5 ||
        tail != '\n')
        return FALSE;
    for (int i = 0; i < 4; i++) {
        if (v[i] > G_MAXUINT32)
            return FALSE;
        out[i] = (uid_t) v[i];
    }
    return TRUE;
}

gboolean
uffd_shim_parse_proc_starttime (const char *stat, guint64 *out)
{
    /* comm (field 2) may hold spaces and ')': fields resume after the last ')'. */
    const char *p = strrchr (stat, ')');
    int field = 2;

    if (!p)
        return FALSE;
    p++;
    while (*p && field < 22) {
        if (*p == ' ') {
            field++;
            while (*p == ' ')
                p++;
            continue;
        }
        p++;
    }
    if (field != 22 || !g_ascii_isdigit (*p))
        return FALSE;
    *out = g_ascii_strtoull (p, NULL, 10);
    return *out != 0;
}

static gboolean
read_proc (pid_t pid, const char *what, char *buf, gsize cap)
{
    char path[64];
    ssize_t n;
    int fd;

    g_snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, what);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FALSE;
    n = read (fd, buf, cap - 1);
    close (fd);
    if (n <= 0)
        return FALSE;
    buf[n] = '\0';
    return TRUE;
}

guint64
uffd_shim_proc_starttime (pid_t pid)
{
    char buf[1024];
    guint64 t = 0;

    if (!read_proc (pid, "stat", buf, sizeof buf) || !uffd_shim_parse_proc_starttime (buf, &t))
        return 0;
    return t;
}

/* PF_EXITING (include/linux/sched.h): set when the task entered do_exit(),
 * before its files are closed. */
#define PROC_PF_EXITING 0x4u

int
uffd_shim_proc_alive (pid_t pid, guint64 starttime)
{
    char path[64], buf[1024];
    guint64 t = 0, flags = 0;
    const char *p;
    ssize_t n;
    int fd;

    g_snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? FALSE : -1;
    n = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (n < 0)
        return errno == ESRCH ? FALSE : -1;
    buf[n] = '\0';
    if (!uffd_shim_parse_proc_starttime (buf, &t))
        return -1;
    if (t != starttime)
        return FALSE;
    /* After the comm: " S ppid pgrp session tty tpgid flags". A zombie (Z,
     * X) or a task already exiting is gone for our purposes. */
    p = strrchr (buf, ')');
    if (p[1] != ' ' || p[2] == 'Z' || p[2] == 'X' ||
        sscanf (p + 3, " %*d %*d %*d %*d %*d %" G_GUINT64_FORMAT, &flags) != 1)
        return p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X') ? FALSE : -1;
    return (flags & PROC_PF_EXITING) ? FALSE : TRUE;
}

static int
peer_pidfd (int sock, pid_t pid)
{
    int fd = -1;
    socklen_t len = sizeof fd;

    if (getsockopt (sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0)
        return fd;
    return (int) syscall (SYS_pidfd_open, pid, 0);
}

gboolean
uffd_shim_peer_identify (int sock, UffdShimPeer *p, GError **error)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    char buf[4096];
    char path[64];
    struct stat st;
    ssize_t n;

    memset (p, 0, sizeof *p);
    p->pidfd = -1;
    if (getsockopt (sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "no peer credentials");
        return FALSE;
    }
    p->pid = cred.pid;
    p->uid = cred.uid;
    p->gid = cred.gid;
    p->pidfd = peer_pidfd (sock, cred.pid);
    if (p->pidfd < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "pid %d is gone", (int) cred.pid);
        return FALSE;
    }
    if (!read_proc (p->pid, "status", buf, sizeof buf) || !uffd_shim_parse_proc_uids (buf, p->uids) ||
        (p->starttime = uffd_shim_proc_starttime (p->pid)) == 0) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "pid %d: /proc unreadable", (int) p->pid);
        return FALSE;
    }
    g_snprintf (path, sizeof path, "/proc/%d/exe", (int) p->pid);
    n = readlink (path, p->exe, sizeof p->exe - 1);
    if (n > 0 && stat (path, &st) == 0) {
        p->exe[n] = '\0';
        p->exe_dev = st.st_dev;
        p->exe_ino = st.st_ino;
        p->exe_known = TRUE;
    } else {
        g_strlcpy (p->exe, "?", sizeof p->exe);
    }
    return TRUE;
}

gboolean
uffd_shim_peer_alive (const UffdShimPeer *p)
{
    /* A pidfd polls readable once its process has exited. (Signal 0 would
     * need CAP_KILL towards another uid, which the broker does not keep.) */
    struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

    if (p->pidfd < 0 || poll (&pfd, 1, 0) != 0)
        return FALSE;
    return uffd_shim_proc_starttime (p->pid) == p->starttime;
}

void
uffd_shim_peer_clear (UffdShimPeer *p)
{
    if (p->pidfd >= 0)
        close (p->pidfd);
    p->pidfd = -1;
}
