/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Facts of Linux and libvirt read in one place: /proc/PID/stat, pid files and their locks, pidfds, UUIDs, markers in files. */
/*
 * The broker, the hook, uffd-shimctl and its doctor all read the same
 * kernel and libvirt facts; each is parsed here once, so that a hostile
 * input (a comm of "a) S 1 (b", a pid file holding anything) is judged the
 * same everywhere. Everything but the readers of an open fd is pure.
 */
#include "facts.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd-shim-proto.h"

#define SCAN_CHUNK (1u << 20)

/* [p, end) as a decimal number without sign, overflow or other bytes. */
static gboolean
parse_u64 (const char *p, const char *end, guint64 *out)
{
    guint64 v = 0;

    if (p == end)
        return FALSE;
    for (; p < end; p++) {
        if (!g_ascii_isdigit (*p) || v > (G_MAXUINT64 - (guint64) (*p - '0')) / 10)
            return FALSE;
        v = v * 10 + (guint64) (*p - '0');
    }
    *out = v;
    return TRUE;
}

gboolean
uffd_shim_parse_proc_stat (const char *text, UffdShimProcStat *out)
{
    /* "pid (comm) state ppid ...": comm is whatever the task named itself,
     * spaces and ')' included, so only the last ')' ends it. */
    const char *p = text ? strrchr (text, ')') : NULL;
    UffdShimProcStat r = { 0 };

    if (!p || p[1] != ' ')
        return FALSE;
    p++;
    for (int field = 3; field <= 22; field++) {
        const char *end;

        while (*p == ' ')
            p++;
        end = p + strcspn (p, " \n");
        if (end == p)
            return FALSE;
        if (field == 3) {
            if (end - p != 1)
                return FALSE;
            r.state = *p;
        } else if (field == 9 && !parse_u64 (p, end, &r.flags))
            return FALSE;
        else if (field == 22 && !parse_u64 (p, end, &r.starttime))
            return FALSE;
        p = end;
    }
    *out = r;
    return TRUE;
}

/* #syscalls: pidfd_open */
int
uffd_shim_pidfd_open (pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int) syscall (SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

gboolean
uffd_shim_parse_pidfile (const char *buf, gsize len, pid_t *pid)
{
    guint64 v;

    while (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0 || len >= 32 || !parse_u64 (buf, buf + len, &v) || v < 1 || v > G_MAXINT32)
        return FALSE;
    *pid = (pid_t) v;
    return TRUE;
}

/* #syscalls: fcntl */
int
uffd_shim_pidfile_lock_owner (int fd, pid_t *owner)
{
    /* F_GETLK reports the pid of a process holding a conflicting lock. */
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

    if (fcntl (fd, F_GETLK, &fl) < 0)
        return -errno;
    *owner = fl.l_type == F_UNLCK ? 0 : fl.l_pid;
    return 0;
}

void
uffd_shim_uuid_format (const guint8 *u, char out[37])
{
    g_snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                u[12], u[13], u[14], u[15]);
}

gboolean
uffd_shim_uuid_parse (const char *text, guint8 *uuid)
{
    guint8 out[UFFD_SHIM_UUID_LEN];
    gsize j = 0;

    if (!text || strlen (text) != 36)
        return FALSE;
    for (gsize i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return FALSE;
            i++;
            continue;
        }
        int hi = g_ascii_xdigit_value (text[i]), lo = g_ascii_xdigit_value (text[i + 1]);
        if (hi < 0 || lo < 0)
            return FALSE;
        out[j++] = (guint8) (hi << 4 | lo);
        i += 2;
    }
    memcpy (uuid, out, sizeof out);
    return TRUE;
}

/* Reads up to @len bytes (fewer only at the end of the file); -1 on error. */
/* #syscalls: read */
static gssize
read_full (int fd, guint8 *buf, gsize len)
{
    gsize got = 0;

    while (got < len) {
        gssize n = read (fd, buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (gsize) n;
    }
    return (gssize) got;
}

int
uffd_shim_fd_find (int fd, const char *needle, goffset max)
{
    const gsize nlen = strlen (needle);
    g_autofree guint8 *buf = g_malloc (SCAN_CHUNK + nlen);
    gsize keep = 0;
    goffset seen = 0;

    for (;;) {
        gssize n = read_full (fd, buf + keep, SCAN_CHUNK);
        gsize total;

        if (n < 0)
            return -errno;
        seen += n;
        if (seen > max)
            return 0; /* larger than allowed, or grew while we read it */
        total = keep + (gsize) n;
        if (memmem (buf, total, needle, nlen) != NULL)
            return 1;
        if ((gsize) n < SCAN_CHUNK)
            return 0; /* end of file */
        /* Carry the tail over: a needle may straddle two chunks. */
        keep = MIN (total, nlen - 1);
        memmove (buf, buf + total - keep, keep);
    }
}
