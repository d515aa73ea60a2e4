/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer identification: who is on the other end of a socket, as the kernel says. */
/*
 * Theory of operation
 * -------------------
 * Nothing the client sends says who it is. The broker asks the kernel:
 *  1. SO_PEERCRED gives pid/uid/gid as of connect() (read once, at accept()).
 *  2. A pidfd pins that process: SO_PEERPIDFD (Linux >= 6.5) refers to the
 *     very process that connected; only a kernel that does not know the
 *     option (ENOPROTOOPT) gets pidfd_open(pid) when its request is served
 *     (usually right after accept(): a client has mostly sent its request
 *     by then), narrowing the window in which the pid could be recycled.
 *     Any other failure of SO_PEERPIDFD (the peer exited, no fd left) is a
 *     denial: falling back there would reopen that window on a kernel that
 *     closes it.
 *  3. /proc/PID/status (all four uids, TracerPid, and the file's owner:
 *     the kernel makes the files of a non-dumpable process root's, while
 *     the /proc/PID directory itself keeps the process's euid),
 *     /proc/PID/stat (start time) and /proc/PID/exe (the executable's
 *     device and inode) are read.
 *  4. The decision is made from those facts plus libvirt's records.
 *  5. Before the device is sent, uffd_shim_peer_recheck() reads again
 *     whether the peer is dumpable or traced (a process of the same uid
 *     could ptrace a dumpable peer, or take its socket or the device with
 *     pidfd_getfd(), and the policy refuses both), and only then polls the
 *     pidfd. A pidfd polls readable once its process has exited, and a pid
 *     is free for another process only after that: so if it does not, the
 *     process was alive from the pidfd's creation to this poll, and every
 *     /proc/PID read in between (step 3 and this one) was its own. If it
 *     does, its pid may now belong to a different process whose /proc
 *     entries we may have read: the request is denied (PEER_GONE). A
 *     recycled pid cannot pass, and no start time needs reading again.
 *     (Without SO_PEERPIDFD, a pid recycled between connect() and
 *     pidfd_open() is judged as the new process, which would then itself
 *     have to be the granted domain's lock-holding QEMU.)
 * Reading /proc/PID/exe of a process of another uid needs CAP_SYS_PTRACE,
 * the one capability the broker keeps (see isolation.c).
 * A failure says why (uffd_shim_peer_errno_status): the peer is gone
 * (peer-gone), or the broker itself lacks an fd or memory (internal), which
 * is not the client's doing and must not read as if it had left.
 */
#include "peer.h"

#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "facts.h"
#include "shim-error.h"
#include "uffd-shim-proto.h"

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
    UffdShimProcStat ps;

    if (!uffd_shim_parse_proc_stat (stat, &ps) || ps.starttime == 0)
        return FALSE;
    *out = ps.starttime;
    return TRUE;
}

int
uffd_shim_peer_errno_status (int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
        return UFFD_SHIM_E_INTERNAL;
    default:
        return UFFD_SHIM_E_PEER_GONE;
    }
}

gboolean
uffd_shim_peer_pidfd_fallback (int err)
{
    return err == ENOPROTOOPT;
}

gboolean
uffd_shim_parse_proc_tracer (const char *status, pid_t *out)
{
    const char *l = strstr (status, "\nTracerPid:");
    unsigned long v;
    char tail;

    if (!l || sscanf (l + 11, " %lu%c", &v, &tail) != 2 || tail != '\n' || v > G_MAXINT32)
        return FALSE;
    *out = (pid_t) v;
    return TRUE;
}

/* Reads /proc/PID/WHAT into @buf, and the file's owner into *owner if not
 * NULL; 0 or an errno. */
/* #syscalls: open openat read close fstat newfstatat statx */
static int
read_proc (pid_t pid, const char *what, char *buf, gsize cap, uid_t *owner)
{
    char path[64];
    struct stat st;
    ssize_t n;
    int fd, err;

    g_snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, what);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    if (owner && fstat (fd, &st) < 0) {
        err = errno;
        close (fd);
        return err;
    }
    if (owner)
        *owner = st.st_uid;
    n = read (fd, buf, cap - 1);
    err = n < 0 ? errno : ESRCH;
    close (fd);
    if (n <= 0)
        return err;
    buf[n] = '\0';
    return 0;
}

/* PF_EXITING (include/linux/sched.h): set when the task entered do_exit(),
 * before its files are closed. */
#define PROC_PF_EXITING 0x4u

/* #syscalls: open openat read close */
int
uffd_shim_proc_alive (pid_t pid, guint64 starttime)
{
    char path[64], buf[1024];
    UffdShimProcStat ps;
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
    if (!uffd_shim_parse_proc_stat (buf, &ps) || ps.starttime == 0)
        return -1;
    if (ps.starttime != starttime)
        return FALSE;
    /* A zombie (Z, X) or a task already exiting is gone for our purposes. */
    if (ps.state == 'Z' || ps.state == 'X')
        return FALSE;
    return (ps.flags & PROC_PF_EXITING) ? FALSE : TRUE;
}

/* /proc/PID/status into @buf, and from it whether the process is dumpable
 * (its /proc files are not root's) and who traces it; 0 or an errno (-1:
 * no TracerPid line). */
static int
read_exposure (pid_t pid, char *buf, gsize cap, gboolean *dumpable, pid_t *tracer)
{
    uid_t owner = 0;
    int err = read_proc (pid, "status", buf, cap, &owner);

    if (err)
        return err;
    if (!uffd_shim_parse_proc_tracer (buf, tracer))
        return -1;
    *dumpable = owner != 0;
    return 0;
}

/* A pidfd for the peer of @sock, or -errno. */
/* #syscalls: getsockopt (SO_PEERPIDFD) */
static int
peer_pidfd (int sock, pid_t pid)
{
    int fd = -1;
    socklen_t len = sizeof fd;

    if (getsockopt (sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0)
        return fd >= 0 ? fd : -ESRCH;
    if (!uffd_shim_peer_pidfd_fallback (errno))
        return -errno;
    fd = uffd_shim_pidfd_open (pid);
    return fd >= 0 ? fd : -errno;
}

static gboolean
fail (GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

/* Sets @error from @err (an errno; 0: a /proc text that does not parse):
 * code peer-gone or internal. */
static gboolean
fail (GError **error, int err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start (ap, fmt);
    what = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    g_set_error (error, UFFD_SHIM_ERROR, uffd_shim_peer_errno_status (err), "%s: %s", what,
                 err ? g_strerror (err) : "unexpected content");
    return FALSE;
}

/* #syscalls: readlink readlinkat stat newfstatat statx */
gboolean
uffd_shim_peer_identify (int sock, const struct ucred *cred, UffdShimPeer *p, GError **error)
{
    char buf[4096];
    char path[64];
    struct stat st;
    ssize_t n;
    int err;

    memset (p, 0, sizeof *p);
    p->pidfd = -1;
    if (cred->pid <= 0)
        return fail (error, ESRCH, "SO_PEERCRED");
    p->pid = cred->pid;
    p->uid = cred->uid;
    p->gid = cred->gid;
    if ((err = peer_pidfd (sock, cred->pid)) < 0)
        return fail (error, -err, "pidfd of pid %d", (int) cred->pid);
    p->pidfd = err;
    if ((err = read_exposure (p->pid, buf, sizeof buf, &p->dumpable, &p->tracer)))
        return fail (error, err > 0 ? err : 0, "/proc/%d/status", (int) p->pid);
    if (!uffd_shim_parse_proc_uids (buf, p->uids))
        return fail (error, 0, "/proc/%d/status", (int) p->pid);
    if ((err = read_proc (p->pid, "stat", buf, sizeof buf, NULL)))
        return fail (error, err, "/proc/%d/stat", (int) p->pid);
    if (!uffd_shim_parse_proc_starttime (buf, &p->starttime))
        return fail (error, 0, "/proc/%d/stat", (int) p->pid);
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

/* #syscalls: poll ppoll (of the pidfd) */
int
uffd_shim_peer_recheck (const UffdShimPeer *p)
{
    /* Read first, poll last (theory, step 5). (Signal 0 would need CAP_KILL
     * towards another uid, which the broker does not keep.) */
    struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
    char buf[4096];
    gboolean dumpable = TRUE;
    pid_t tracer = 0;
    int err;

    if (p->pidfd < 0)
        return UFFD_SHIM_E_PEER_GONE;
    err = read_exposure (p->pid, buf, sizeof buf, &dumpable, &tracer);
    if (poll (&pfd, 1, 0) != 0)
        return UFFD_SHIM_E_PEER_GONE;
    if (err)
        return uffd_shim_peer_errno_status (err > 0 ? err : 0);
    if (tracer)
        return UFFD_SHIM_E_TRACED;
    if (dumpable)
        return UFFD_SHIM_E_DUMPABLE;
    return UFFD_SHIM_OK;
}

/* #syscalls: close */
void
uffd_shim_peer_clear (UffdShimPeer *p)
{
    if (p->pidfd >= 0)
        close (p->pidfd);
    p->pidfd = -1;
}
