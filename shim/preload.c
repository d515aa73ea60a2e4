/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD interposer: stock QEMU gets its userfaultfd through the broker when the kernel refuses. */
/*
 * Theory of operation
 * -------------------
 * QEMU 7.2 creates every userfaultfd with glibc's syscall(__NR_userfaultfd,
 * flags); QEMU >= 8.1 first opens /dev/userfaultfd (and keeps that fd). This
 * library interposes exactly those two entry points (syscall and the open
 * family, for the one path "/dev/userfaultfd") and nothing else. The real
 * call always runs first; only when the kernel refuses for lack of privilege
 * (EPERM from the syscall without UFFD_USER_MODE_ONLY, EACCES/EPERM/ENOENT from
 * the open) does it ask the broker for the device:
 *   - syscall path: USERFAULTFD_IOC_NEW on the received device with QEMU's
 *     flags, close the device, return the uffd;
 *   - open path: return the device fd itself (QEMU >= 8.1 then makes its
 *     uffds with the same ioctl).
 * On a denial it writes one line to stderr (QEMU's log) naming the reason and
 * returns the original error, so QEMU reports its usual message.
 * It links only libc, makes no allocation, and uses only socket, connect,
 * setsockopt, sendmsg/recvmsg, ioctl, fcntl, fstat and close, all permitted by
 * QEMU's -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
 * resourcecontrol=deny seccomp filter.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd-shim.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif
#define EXPORT __attribute__ ((visibility ("default")))
#define DEVICE "/dev/userfaultfd"

/* glibc declares these only under _FORTIFY_SOURCE. */
int __open_2 (const char *path, int flags);
int __open64_2 (const char *path, int flags);

typedef long (*syscall_fn) (long, ...);
typedef int (*open_fn) (const char *, int, ...);
typedef int (*openat_fn) (int, const char *, int, ...);
typedef int (*open2_fn) (const char *, int);

static void
note (const char *what, int reason)
{
    char line[256];
    int n = snprintf (line, sizeof line, "uffd-shim-preload: %s: %s (%d)\n", what,
                      uffd_shim_strreason (reason), reason);

    if (n > 0)
        (void) !write (STDERR_FILENO, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
}

/* Device fd from the broker, or -1 (errno untouched by the caller's view). */
static int
broker_device (unsigned int options, int cloexec)
{
    int reason = 0;
    int dev = uffd_shim_get_device (NULL, options, &reason);

    if (dev < 0) {
        note ("broker refused " DEVICE, reason);
        return -1;
    }
    if (!cloexec)
        fcntl (dev, F_SETFD, 0);
    note ("got " DEVICE " from the broker", 0);
    return dev;
}

static long
userfaultfd_via_broker (int flags)
{
    /* O_NONBLOCK marks QEMU's real incoming-postcopy uffd: the last one. */
    unsigned int opt = (flags & O_NONBLOCK) ? UFFD_SHIM_OPT_LAST : 0;
    int dev = broker_device (opt, 1);
    int uffd, err;

    if (dev < 0)
        return -1;
    uffd = ioctl (dev, USERFAULTFD_IOC_NEW, flags);
    err = errno;
    close (dev);
    if (uffd < 0) {
        note ("USERFAULTFD_IOC_NEW failed", UFFD_SHIM_R_IOCTL);
        errno = err;
        return -1;
    }
    return uffd;
}

EXPORT long
syscall (long nr, ...)
{
    static syscall_fn real;
    va_list ap;
    long a[6];
    long r;

    va_start (ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg (ap, long);
    va_end (ap);
    if (!real)
        real = (syscall_fn) dlsym (RTLD_NEXT, "syscall");
    r = real (nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (nr != SYS_userfaultfd || r >= 0 || errno != EPERM || (a[0] & UFFD_USER_MODE_ONLY))
        return r;
    {
        long u = userfaultfd_via_broker ((int) a[0]);
        if (u >= 0)
            return u;
    }
    errno = EPERM;
    return -1;
}

static int
is_device (const char *path)
{
    return path && strcmp (path, DEVICE) == 0;
}

static int
refused (int err)
{
    return err == EACCES || err == EPERM || err == ENOENT;
}

/* After a refused open of the device with an O_RDWR request. */
static int
open_via_broker (int flags, int fd, int err)
{
    int dev;

    if (fd >= 0 || !refused (err) || (flags & O_ACCMODE) != O_RDWR)
        return fd;
    dev = broker_device (UFFD_SHIM_OPT_LAST, flags & O_CLOEXEC);
    if (dev >= 0)
        return dev;
    errno = err;
    return -1;
}

static mode_t
mode_arg (int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t) va_arg (ap, int) : 0;
}

#define DEFINE_OPEN(name)                                                    \
    EXPORT int name (const char *path, int flags, ...)                       \
    {                                                                        \
        static open_fn real;                                                 \
        va_list ap;                                                          \
        mode_t mode;                                                         \
        int fd;                                                              \
        va_start (ap, flags);                                                \
        mode = mode_arg (flags, ap);                                         \
        va_end (ap);                                                         \
        if (!real)                                                           \
            real = (open_fn) dlsym (RTLD_NEXT, #name);                       \
        fd = real (path, flags, mode);                                       \
        return is_device (path) ? open_via_broker (flags, fd, errno) : fd;   \
    }

#define DEFINE_OPENAT(name)                                                  \
    EXPORT int name (int dirfd, const char *path, int flags, ...)            \
    {                                                                        \
        static openat_fn real;                                               \
        va_list ap;                                                          \
        mode_t mode;                                                         \
        int fd;                                                              \
        va_start (ap, flags);                                                \
        mode = mode_arg (flags, ap);                                         \
        va_end (ap);                                                         \
        if (!real)                                                           \
            real = (openat_fn) dlsym (RTLD_NEXT, #name);                     \
        fd = real (dirfd, path, flags, mode);                                \
        return is_device (path) ? open_via_broker (flags, fd, errno) : fd;   \
    }

#define DEFINE_OPEN2(name)                                                   \
    EXPORT int name (const char *path, int flags)                            \
    {                                                                        \
        static open2_fn real;                                                \
        int fd;                                                              \
        if (!real)                                                           \
            real = (open2_fn) dlsym (RTLD_NEXT, #name);                      \
        fd = real (path, flags);                                             \
        return is_device (path) ? open_via_broker (flags, fd, errno) : fd;   \
    }

DEFINE_OPEN (open)
DEFINE_OPEN (open64)
DEFINE_OPENAT (openat)
DEFINE_OPENAT (openat64)
DEFINE_OPEN2 (__open_2)
DEFINE_OPEN2 (__open64_2)
