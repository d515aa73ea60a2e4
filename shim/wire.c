/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Client-side socket I/O for the uffd-shim protocol (libc only, used by library, preload and tools). */
#include "wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int
uffd_shim_wire_connect (const char *path, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct timeval tv;
    size_t n = strlen (path);
    int fd, err;

    if (n == 0 || n >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy (sa.sun_path, path, n);
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* AF_UNIX connect() waits on a full backlog for the send timeout. */
    if (setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
        err = errno;
        close (fd);
        return -err;
    }
    return fd;
}

int
uffd_shim_wire_send (int fd, const void *buf, size_t len)
{
    ssize_t r;

    do
        r = send (fd, buf, len, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    return (size_t) r == len ? 0 : -EPROTO;
}

int
uffd_shim_write_all (int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write (fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

static void
close_fds (struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c; c = CMSG_NXTHDR (msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        for (size_t i = 0; i < n; i++) {
            int f;
            memcpy (&f, CMSG_DATA (c) + i * sizeof (int), sizeof f);
            close (f);
        }
    }
}

int
uffd_shim_wire_recv (int fd, void *buf, size_t cap, size_t *len, int *fd_out)
{
    /* Room for a few fds so that an unexpected extra one is seen and closed. */
    union {
        char b[CMSG_SPACE (4 * sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctl.b, .msg_controllen = sizeof ctl.b,
    };
    int got = -1, nfds = 0;
    ssize_t r;

    if (fd_out)
        *fd_out = -1;
    do
        r = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        close_fds (&msg);
        return -EPROTO;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfds += (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
            memcpy (&got, CMSG_DATA (c), sizeof got);
        }
    }
    if (nfds > 1 || (nfds == 1 && !fd_out)) {
        close_fds (&msg);
        return -EPROTO;
    }
    if (r == 0 && nfds == 0)
        return -ECONNRESET;
    *len = (size_t) r;
    if (fd_out && nfds == 1)
        *fd_out = got;
    return 0;
}
