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
 * the device again. On a denial it writes one line to stderr (QEMU's log)
 * naming the reason and returns the original error, so QEMU reports its
 * usual message.
 *
 * The switch-time userfaultfd, made early. An incoming postcopy migration
 * asks for its userfaultfds at the capability probe (libvirt's
 * migrate-set-capabilities), at ADVISE (the start of the migration stream),
 * and for the real one, with O_NONBLOCK, at LISTEN: after the source has
 * paused the guest. A broker round trip there would lengthen the guest's
 * pause, and a refusal there (broker down, grant gone) would leave the guest
 * paused on the source with its migration failed. So the first request
 * served by the broker (a probe, long before the switch) asks with the HOLD
 * hint and makes, from the same device, one more userfaultfd with LISTEN's
 * flags, kept in `spare`; the device itself is closed at once as always.
 * At LISTEN that uffd is handed to QEMU without asking anyone. The
 * connection of the HOLD request stays open: a thread of this library
 * waits on it. When the broker closes it (the grant ended: the migration
 * converged in precopy or was cancelled, or the broker stopped), the thread
 * closes the kept uffd, so QEMU never keeps one past its migration; LISTEN
 * then asks the broker as before. When LISTEN takes the kept uffd, it shuts
 * the connection down, which tells the broker that the last one was served
 * (the grant ends), and the thread closes it. The kept uffd is QEMU's own
 * (a uffd is bound to the memory of the process that created it), made
 * under the grant that would hand this very QEMU a device on request
 * (docs/design.md argues why it grants nothing new).
 *
 * Non-dumpable while it holds anything. From before it connects until the
 * device is closed again, and for as long as it keeps the switch-time uffd,
 * QEMU is non-dumpable (libuffd-shim.c): no other process of its uid can
 * attach to it and take the socket, the device or the kept uffd (a uffd of
 * QEMU's memory) meanwhile, and the broker refuses a dumpable or traced
 * QEMU. The previous value comes back afterwards.
 *
 * It links only libc (pthread is part of it), allocates nothing, and uses
 * only socket, connect, setsockopt, sendmsg/recvmsg, ioctl, fcntl, fstat,
 * poll, shutdown, prctl (PR_GET_DUMPABLE, PR_SET_DUMPABLE), close and a
 * thread (clone, as QEMU's own threads), all permitted by QEMU's -sandbox
 * on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny
 * seccomp filter.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client.h"
#include "uffd-shim-proto.h"
#include "uffd-shim.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif
#define EXPORT __attribute__ ((visibility ("default")))
#define DEVICE "/dev/userfaultfd"
/* QEMU's incoming-postcopy userfaultfd (postcopy_ram_incoming_setup). */
#define SWITCH_FLAGS (O_CLOEXEC | O_NONBLOCK)

typedef long (*syscall_fn) (long, ...);

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare = -1;  /* the switch-time uffd made early, or -1 */
static int holder = -1; /* the HOLD connection it is kept under, or -1 */

static void
note (const char *what, int reason)
{
    char line[256];
    int n = snprintf (line, sizeof line, "uffd-shim-preload: %s: %s (%d)\n", what,
                      uffd_shim_strreason (reason), reason);

    if (n > 0)
        (void) !write (STDERR_FILENO, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
}

/* Waits until the HOLD connection @arg ends either way, then drops the kept
 * uffd if it is still there. Only this thread closes the connection, so its
 * number is never reused under a poll. */
static void *
watch_hold (void *arg)
{
    int conn = (int) (intptr_t) arg;
    struct pollfd p = { .fd = conn, .events = POLLIN };

    while (poll (&p, 1, -1) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock (&kept_lock);
    if (holder == conn) {
        close (spare);
        spare = holder = -1;
        uffd_shim_nodump_leave ();
        note ("the grant ended; dropped the userfaultfd kept for the switch", 0);
    }
    pthread_mutex_unlock (&kept_lock);
    close (conn);
    return NULL;
}

/* Keeps @uffd for the switch under @conn; FALSE if no watcher could start. */
static int
keep_for_switch (int uffd, int conn)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int ok;

    /* The watcher takes no signal meant for QEMU's own threads. */
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &old);
    pthread_attr_init (&attr);
    pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize (&attr, 64 * 1024);
    pthread_mutex_lock (&kept_lock);
    ok = pthread_create (&t, &attr, watch_hold, (void *) (intptr_t) conn) == 0;
    if (ok) {
        uffd_shim_nodump_enter ();
        spare = uffd;
        holder = conn;
    }
    pthread_mutex_unlock (&kept_lock);
    pthread_attr_destroy (&attr);
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    return ok;
}

/* The uffd kept for the switch, if @flags are LISTEN's and one is kept. */
static int
take_kept (int flags)
{
    int u = -1;

    if (flags != SWITCH_FLAGS)
        return -1;
    pthread_mutex_lock (&kept_lock);
    if (spare >= 0) {
        u = spare;
        spare = -1;
        shutdown (holder, SHUT_RDWR); /* "the last one is served"; the watcher closes it */
        holder = -1;
        uffd_shim_nodump_leave ();
    }
    pthread_mutex_unlock (&kept_lock);
    return u;
}

static long
userfaultfd_via_broker (int flags)
{
    int listen = (flags & O_NONBLOCK) != 0; /* QEMU's real incoming uffd: the last one */
    int want_keep, dev, uffd, err, reason = 0, conn = -1;
    uint32_t hints;

    uffd = take_kept (flags);
    if (uffd >= 0)
        return uffd;
    pthread_mutex_lock (&kept_lock);
    want_keep = !listen && spare < 0 && holder < 0;
    pthread_mutex_unlock (&kept_lock);
    hints = listen ? UFFD_SHIM_HINT_LAST : want_keep ? UFFD_SHIM_HINT_HOLD : 0;
    dev = uffd_shim_get_device_held (NULL, hints, want_keep ? &conn : NULL, &reason);
    if (dev < 0 && reason == UFFD_SHIM_R_NO_BROKER) {
        const char *sock = getenv ("UFFD_SHIM_SOCKET");
        char what[160];

        snprintf (what, sizeof what, "cannot reach the uffd-shim broker at %s (start uffd-shimd)",
                  sock && *sock ? sock : UFFD_SHIM_DEFAULT_SOCKET);
        note (what, reason);
        return -1;
    }
    if (dev < 0) {
        note ("broker refused " DEVICE, reason);
        return -1;
    }
    note ("got " DEVICE " from the broker", 0);
    uffd = ioctl (dev, USERFAULTFD_IOC_NEW, flags);
    err = errno;
    if (uffd >= 0 && want_keep) {
        int kept = ioctl (dev, USERFAULTFD_IOC_NEW, SWITCH_FLAGS);

        if (kept < 0 || !keep_for_switch (kept, conn)) {
            if (kept >= 0)
                close (kept);
            close (conn); /* the grant goes on; LISTEN will ask the broker */
        }
    } else if (conn >= 0) {
        close (conn);
    }
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
