/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Facts of Linux and libvirt read in one place: /proc/PID/stat, pid files and their locks, pidfds, UUIDs, markers in files. */
#ifndef UFFD_SHIM_FACTS_H
#define UFFD_SHIM_FACTS_H

#include <glib.h>
#include <sys/types.h>

/* ---- /proc/PID/stat (proc(5)) --------------------------------------------- */

/* The fields of /proc/PID/stat that the project reads. */
typedef struct {
    char state;          /* field 3: R, S, D, Z, X, ... */
    guint64 flags;       /* field 9: PF_* of the task */
    guint64 starttime;   /* field 22: clock ticks after boot */
} UffdShimProcStat;

/* Parses the text of /proc/PID/stat. The comm (field 2) may hold spaces and
 * parentheses, so the fields are counted from the LAST ')'. FALSE unless
 * fields 3 to 22 are there and state, flags and starttime are well formed. */
gboolean uffd_shim_parse_proc_stat (const char *text, UffdShimProcStat *out);

/* ---- processes ------------------------------------------------------------ */

/* pidfd_open(@pid, 0): a pidfd, or -1 with errno (ENOSYS where the system
 * headers name no such call). */
int uffd_shim_pidfd_open (pid_t pid);

/* ---- pid files (libvirt's virPidFileAcquire) ------------------------------ */

/* The pid in a pid file's text: decimal digits, 1 .. G_MAXINT32, followed by
 * nothing but newlines. */
gboolean uffd_shim_parse_pidfile (const char *buf, gsize len, pid_t *pid);

/* The process holding a write lock on the pid file open on @fd (the daemon
 * that wrote it keeps one for its whole life): 0 and *@owner its pid, or 0
 * when none does; -errno if the kernel could not say. */
int uffd_shim_pidfile_lock_owner (int fd, pid_t *owner);

/* ---- UUIDs ---------------------------------------------------------------- */

/* Formats and parses the canonical 36-character UUID text (hex digits of
 * either case, dashes at 8, 13, 18 and 23, nothing else). */
void uffd_shim_uuid_format (const guint8 *uuid, char out[37]);
gboolean uffd_shim_uuid_parse (const char *text, guint8 *uuid);

/* ---- markers in files ----------------------------------------------------- */

/* Does the file open on @fd hold @needle, from the current offset on? It is
 * read with plain read() in 1 MiB chunks that overlap by the needle's length
 * (so a needle across a chunk boundary is found), and at most @max bytes: a
 * longer file (one that grew while read) is answered 0. 1 found, 0 not,
 * -errno for a read error. */
int uffd_shim_fd_find (int fd, const char *needle, goffset max);

#endif
