/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libuffd-shim: obtain a userfaultfd for the caller's own memory, through the broker if needed. */
/*
 * Non-dumpable while it asks. A process of the caller's uid (another QEMU)
 * that may ptrace it could make it connect to the broker and take the
 * connected socket, or the device once received, with pidfd_getfd(). So
 * before it connects the library makes the process non-dumpable
 * (PR_SET_DUMPABLE 0: only CAP_SYS_PTRACE may then attach or take its fds),
 * and the broker refuses a peer that is dumpable or traced. The previous
 * value comes back when the device is closed (uffd_shim_put_device()); with
 * several threads asking at once, when the last one closes its device.
 */
#include "uffd-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client.h"
#include "protocol.h"
#include "wire.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif
#define MISC_MAJOR 10
#define EXPORT __attribute__ ((visibility ("default")))

static void
set_reason (int *reason, int r)
{
    if (reason)
        *reason = r;
}

EXPORT const char *
uffd_shim_strreason (int reason)
{
    return uffd_shim_reason_text (reason);
}

static int
fail (int *reason, int r, int err)
{
    set_reason (reason, r);
    errno = err;
    return -1;
}

static int nodump_lock;  /* a spin lock: libc only, held for two prctl() calls */
static int nodump_depth; /* devices asked for and not yet put back */
static int nodump_saved; /* PR_GET_DUMPABLE before the first */

void
uffd_shim_nodump_enter (void)
{
    while (__atomic_exchange_n (&nodump_lock, 1, __ATOMIC_ACQUIRE))
        ;
    if (nodump_depth++ == 0) {
        nodump_saved = prctl (PR_GET_DUMPABLE, 0, 0, 0, 0);
        if (nodump_saved > 0)
            prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    __atomic_store_n (&nodump_lock, 0, __ATOMIC_RELEASE);
}

void
uffd_shim_nodump_leave (void)
{
    int err = errno;

    while (__atomic_exchange_n (&nodump_lock, 1, __ATOMIC_ACQUIRE))
        ;
    /* Only "dumpable" (1) can be set again; 2 (root-only) is not settable. */
    if (nodump_depth > 0 && --nodump_depth == 0 && nodump_saved == 1)
        prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
    __atomic_store_n (&nodump_lock, 0, __ATOMIC_RELEASE);
    errno = err;
}

EXPORT void
uffd_shim_put_device (int dev)
{
    if (dev < 0)
        return;
    close (dev);
    uffd_shim_nodump_leave ();
}

/* The fd must be the misc userfaultfd device opened for reading and writing. */
static int
device_fd_ok (int fd)
{
    struct stat st;
    int fl = fcntl (fd, F_GETFL);

    if (fl < 0 || (fl & O_ACCMODE) != O_RDWR)
        return 0;
    if (fstat (fd, &st) < 0 || !S_ISCHR (st.st_mode) || major (st.st_rdev) != MISC_MAJOR)
        return 0;
    return 1;
}

int
uffd_shim_get_device_held (const char *socket_path, uint32_t hints, int *conn, int *reason)
{
    struct uffd_shim_request req = { 0 };
    struct uffd_shim_reply rep;
    unsigned char buf[sizeof rep + 1];
    size_t len = 0;
    int s, r, dev = -1;

    if (!socket_path)
        socket_path = getenv ("UFFD_SHIM_SOCKET");
    if (!socket_path || !*socket_path)
        socket_path = UFFD_SHIM_DEFAULT_SOCKET;

    uffd_shim_nodump_enter ();
    s = uffd_shim_wire_connect (socket_path, 5000);
    if (s < 0) {
        uffd_shim_nodump_leave ();
        return fail (reason, UFFD_SHIM_R_NO_BROKER, -s);
    }
    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_GET_DEVICE, sizeof req, 0);
    req.hints = hints;
    r = uffd_shim_wire_send (s, &req, sizeof req);
    /* A broker refuses a uid it never serves as soon as it accepts it,
     * maybe before the request arrived (send: EPIPE): read the answer. */
    if (r == 0 || r == -EPIPE || r == -ECONNRESET) {
        int rr = uffd_shim_wire_recv (s, buf, sizeof buf, &len, &dev);

        if (r == 0 || rr == 0)
            r = rr;
    }
    if (r < 0)
        r = fail (reason, r == -EPROTO ? UFFD_SHIM_R_BAD_REPLY : UFFD_SHIM_R_NO_BROKER, -r);
    else if (uffd_shim_parse_reply (buf, len, &rep) != UFFD_SHIM_OK)
        r = fail (reason, UFFD_SHIM_R_BAD_REPLY, EPROTO);
    else if (rep.status != UFFD_SHIM_OK)
        r = fail (reason, (int) rep.status, EPERM);
    else if (dev < 0 || !device_fd_ok (dev))
        r = fail (reason, UFFD_SHIM_R_BAD_FD, EPROTO);
    else {
        if (conn)
            *conn = s;
        else
            close (s);
        set_reason (reason, UFFD_SHIM_OK);
        return dev;
    }
    close (s);
    if (dev >= 0)
        close (dev);
    uffd_shim_nodump_leave ();
    return r;
}

EXPORT int
uffd_shim_get_device (const char *socket_path, unsigned int options, int *reason)
{
    return uffd_shim_get_device_held (socket_path,
                                      (options & UFFD_SHIM_OPT_LAST) ? UFFD_SHIM_HINT_LAST : 0,
                                      NULL, reason);
}

/* @from_broker: @dev came from uffd_shim_get_device(). */
static int
uffd_from_device (int dev, int flags, int from_broker, int *reason)
{
    int uffd = ioctl (dev, USERFAULTFD_IOC_NEW, flags);
    int err = errno;

    if (from_broker)
        uffd_shim_put_device (dev);
    else
        close (dev);
    if (uffd < 0)
        return fail (reason, UFFD_SHIM_R_IOCTL, err);
    set_reason (reason, UFFD_SHIM_OK);
    return uffd;
}

EXPORT int
uffd_shim_userfaultfd (int flags, unsigned int options, int *reason)
{
    int fd;

    if (!(options & UFFD_SHIM_OPT_BROKER_ONLY)) {
        fd = (int) syscall (SYS_userfaultfd, flags);
        if (fd >= 0) {
            set_reason (reason, UFFD_SHIM_OK);
            return fd;
        }
        /* Only a missing privilege is something the broker can help with. */
        if (errno != EPERM)
            return fail (reason, UFFD_SHIM_R_KERNEL, errno);
        fd = open ("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (fd >= 0)
            return uffd_from_device (fd, flags, 0, reason);
    }
    fd = uffd_shim_get_device (NULL, options, reason);
    if (fd < 0)
        return -1;
    return uffd_from_device (fd, flags, 1, reason);
}
