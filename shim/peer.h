/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer identification: who is on the other end of a socket, as the kernel says. */
#ifndef UFFD_SHIM_PEER_H
#define UFFD_SHIM_PEER_H

#include <glib.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;            /* SO_PEERCRED, at connect() time */
    uid_t uid;
    gid_t gid;
    int pidfd;            /* SO_PEERPIDFD, or pidfd_open(pid) on older kernels */
    uid_t uids[4];        /* real, effective, saved, fs uid from /proc/PID/status */
    gboolean dumpable;    /* its /proc/PID files are not root's: ptrace-able by its uid */
    pid_t tracer;         /* TracerPid in /proc/PID/status, 0 if not traced */
    guint64 starttime;    /* /proc/PID/stat field 22 */
    gboolean exe_known;   /* /proc/PID/exe could be read */
    char exe[PATH_MAX];   /* its target, for the log */
    dev_t exe_dev;        /* and its identity, for the decision */
    ino_t exe_ino;
} UffdShimPeer;

/* Fills @p for the peer of the connected socket @sock, whose SO_PEERCRED
 * answer is @cred (the broker reads it at accept(): it is fixed at
 * connect()). FALSE if the process is already gone; the error's code is
 * the status to answer with (UFFD_SHIM_E_PEER_GONE, or UFFD_SHIM_E_INTERNAL
 * when the broker ran out of fds or memory). */
gboolean uffd_shim_peer_identify (int sock, const struct ucred *cred, UffdShimPeer *p,
                                  GError **error);

/* Checked after the decision, before the device is sent: UFFD_SHIM_OK if the
 * process behind p->pidfd is not traced, not dumpable and, polled after
 * those reads, has not exited (so its pid was not recycled during any read
 * of the request); else UFFD_SHIM_E_PEER_GONE, E_TRACED, E_DUMPABLE (or E_INTERNAL
 * when /proc cannot be read for lack of fds). */
int uffd_shim_peer_recheck (const UffdShimPeer *p);

void uffd_shim_peer_clear (UffdShimPeer *p);

/* The status for a failed step of peer identification with errno @err:
 * UFFD_SHIM_E_INTERNAL for the broker's own lack of fds or memory (EMFILE,
 * ENFILE, ENOMEM, ENOBUFS), else UFFD_SHIM_E_PEER_GONE. Pure. */
int uffd_shim_peer_errno_status (int err);

/* Whether a failed getsockopt(SO_PEERPIDFD) with errno @err may fall back to
 * pidfd_open(pid): only for ENOPROTOOPT, a kernel without the option. Pure. */
gboolean uffd_shim_peer_pidfd_fallback (int err);

/* Pure parsers of /proc text. */
gboolean uffd_shim_parse_proc_uids (const char *status, uid_t out[4]);
gboolean uffd_shim_parse_proc_starttime (const char *stat, guint64 *out);
gboolean uffd_shim_parse_proc_tracer (const char *status, pid_t *out);

/* Is the process @pid with start time @starttime still running? TRUE, FALSE
 * (gone, or its pid now names another process), or -1 when /proc could not
 * be read for another reason (e.g. no fd left): only FALSE is an answer to
 * act on. */
int uffd_shim_proc_alive (pid_t pid, guint64 starttime);

#endif
