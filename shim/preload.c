/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD interposer: stock QEMU gets its userfaultfd through the broker when the kernel refuses. */
/*
 * Theory of operation
 * -------------------
 * QEMU 7.2 creates every userfaultfd with glibc's syscall(__NR_userfaultfd,
 * flags). QEMU >= 8.1 first tries open("/dev/userfaultfd") once, and if that
 * works keeps the device open for the rest of its life; if it fails, it uses
 * the same syscall() for every userfaultfd. This library interposes only
 * syscall(), and deliberately not open(): handing the device to the open
 * would let a QEMU keep the privilege long after its migration, while a
 * refused open (ENOENT in a private /dev without the node, EACCES on the
 * host's root-only node) sends QEMU >= 8.1 to the syscall, which this
 * library serves one userfaultfd at a time, each under the broker's policy.
 *
 * The real call always runs first; only when the kernel refuses for lack of
 * privilege (EPERM without UFFD_USER_MODE_ONLY) does it ask the broker for the
 * device, create the uffd with USERFAULTFD_IOC_NEW and QEMU's flags, and close
 * the device again. O_NONBLOCK marks QEMU's incoming-postcopy uffd, the last
 * one a migration needs: it is asked for with the LAST hint.
 * On a denial it writes one line to stderr (QEMU's log) naming the reason and
 * returns the original error, so QEMU reports its usual message.
 * From before it connects until the device is closed again QEMU is
 * non-dumpable (libuffd-shim.c): no other process of its uid can attach
 * to it and take the socket or the device meanwhile, and the broker refuses
 * a dumpable or traced QEMU. The previous value comes back afterwards.
 * It links only libc, makes no allocation, and uses only socket, connect,
 * setsockopt, sendmsg/recvmsg, ioctl, fcntl, fstat, prctl (PR_GET_DUMPABLE,
 * PR_SET_DUMPABLE) and close, all permitted by QEMU's -sandbox
 * on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny
 * seccomp filter.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd-shim.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif
#define EXPORT __attribute__ ((visibility ("default")))
#define DEVICE "/dev/userfaultfd"

typedef long (*syscall_fn) (long, ...);

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
broker_device (unsigned int options)
{
    int reason = 0;
    int dev = uffd_shim_get_device (NULL, options, &reason);

    if (dev < 0) {
        note ("broker refused " DEVICE, reason);
        return -1;
    }
    note ("got " DEVICE " from the broker", 0);
    return dev;
}

static long
userfaultfd_via_broker (int flags)
{
    /* O_NONBLOCK marks QEMU's real incoming-postcopy uffd: the last one. */
    unsigned int opt = (flags & O_NONBLOCK) ? UFFD_SHIM_OPT_LAST : 0;
    int dev = broker_device (opt);
    int uffd, err;

    if (dev < 0)
        return -1;
    uffd = ioctl (dev, USERFAULTFD_IOC_NEW, flags);
    err = errno;
    uffd_shim_put_device (dev);
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
