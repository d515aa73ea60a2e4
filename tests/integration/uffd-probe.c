/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test probe: obtains a userfaultfd one way and checks whether it resolves a kernel-mode fault. */
/*
 * usage: uffd-probe syscall|library|library-last|umo|device|qemu81 [--no-fault]
 *        uffd-probe postcopy [--wait FILE]
 *   syscall  userfaultfd(2) with O_CLOEXEC (full mode), through glibc's syscall()
 *   device   open("/dev/userfaultfd", O_RDWR) + USERFAULTFD_IOC_NEW
 *   qemu81   what QEMU >= 8.1's uffd_open() does: open the device and keep it
 *            open for later uffds, or, if the open fails, use the syscall;
 *            prints "mode: device|syscall" and "device-held: yes|no" (whether
 *            a /dev/userfaultfd fd is still open in the process afterwards)
 *   library  uffd_shim_userfaultfd() (broker when the kernel refuses)
 *   library-last  the same with UFFD_SHIM_OPT_LAST
 *   postcopy [--wait FILE]  the calls of QEMU's incoming postcopy, through
 *            glibc's syscall() (what the preload serves): two probes with
 *            O_CLOEXEC (each closed at once; "probe: ok|EPERM"), then, once
 *            FILE exists (when given; at most 60 s), "kept-uffds: N" (open
 *            userfaultfds of the process: what the preload kept for the
 *            switch) and the switch-time userfaultfd, O_CLOEXEC|O_NONBLOCK,
 *            which gets the fault check
 *   umo      userfaultfd(2) with UFFD_USER_MODE_ONLY
 * The fault check registers one missing page and read()s a pipe into it, so
 * the kernel itself (copy_to_user) faults on the page. A full uffd delivers
 * that fault; we resolve it with UFFDIO_COPY and the read completes with the
 * piped bytes. A user-mode-only uffd refuses kernel faults: read() -> EFAULT.
 * Output, one line: "uffd: ok|EPERM|<error>" then "kernel-fault: resolved|EFAULT|<error>".
 * Exit: 0 resolved, 1 kernel fault failed, 2 no uffd, 3 usage/setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffd-shim.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif

static int pipefd[2];
static char *page;
static long psize;
static ssize_t read_result;
static int read_errno;

static void *
reader (void *arg)
{
    read_result = read (pipefd[0], page, (size_t) psize);
    read_errno = errno;
    return NULL;
}

static int
kernel_fault_check (int uffd)
{
    struct uffdio_api api = { .api = UFFD_API };
    struct uffdio_register reg = { 0 };
    char *src;
    pthread_t t;

    psize = sysconf (_SC_PAGESIZE);
    /* poll() on a uffd needs O_NONBLOCK (else it reports POLLERR). */
    fcntl (uffd, F_SETFL, fcntl (uffd, F_GETFL) | O_NONBLOCK);
    if (ioctl (uffd, UFFDIO_API, &api) < 0) {
        printf ("kernel-fault: UFFDIO_API: %s\n", strerror (errno));
        return 3;
    }
    page = mmap (NULL, (size_t) psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    src = malloc ((size_t) psize);
    if (page == MAP_FAILED || !src || pipe (pipefd) < 0)
        return 3;
    reg.range.start = (unsigned long) page;
    reg.range.len = (unsigned long) psize;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl (uffd, UFFDIO_REGISTER, &reg) < 0) {
        printf ("kernel-fault: UFFDIO_REGISTER: %s\n", strerror (errno));
        return 3;
    }
    memset (src, 'K', (size_t) psize);
    if (write (pipefd[1], src, (size_t) psize) != psize) {
        free (src);
        return 3;
    }
    free (src);
    pthread_create (&t, NULL, reader, NULL);

    /* Serve faults until the reader is done (bounded: 5 s). */
    for (int i = 0; i < 50; i++) {
        struct pollfd p = { .fd = uffd, .events = POLLIN };
        struct uffd_msg msg;
        if (poll (&p, 1, 100) == 1 && read (uffd, &msg, sizeof msg) == sizeof msg &&
            msg.event == UFFD_EVENT_PAGEFAULT) {
            char *zero = calloc (1, (size_t) psize);
            struct uffdio_copy cp = {
                .dst = msg.arg.pagefault.address & ~((unsigned long) psize - 1),
                .src = (unsigned long) zero, .len = (unsigned long) psize,
            };
            ioctl (uffd, UFFDIO_COPY, &cp);
            free (zero);
        }
        if (pthread_tryjoin_np (t, NULL) == 0) {
            if (read_result == psize && page[0] == 'K' && page[psize - 1] == 'K') {
                printf ("kernel-fault: resolved\n");
                return 0;
            }
            printf ("kernel-fault: %s\n", read_result < 0 ? (read_errno == EFAULT ? "EFAULT" : strerror (read_errno)) : "short read");
            return 1;
        }
    }
    printf ("kernel-fault: timeout\n");
    return 1;
}

/* Whether any open fd of this process is /dev/userfaultfd. */
static int
holds_device (void)
{
    char link[64], target[64];

    for (int fd = 0; fd < 1024; fd++) {
        ssize_t n;
        snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink (link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp (target, "/dev/userfaultfd") == 0)
                return 1;
        }
    }
    return 0;
}

/* Open fds of this process that are userfaultfds. */
static int
count_uffds (void)
{
    char link[64], target[64];
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        ssize_t l;
        snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
        l = readlink (link, target, sizeof target - 1);
        if (l > 0) {
            target[l] = 0;
            n += strcmp (target, "anon_inode:[userfaultfd]") == 0;
        }
    }
    return n;
}

/* QEMU's incoming postcopy: probes at migrate-set-capabilities and ADVISE,
 * then (after the source paused the guest) the real one at LISTEN. */
static int
postcopy_sequence (const char *wait_file)
{
    for (int i = 0; i < 2; i++) {
        int u = (int) syscall (SYS_userfaultfd, O_CLOEXEC);
        printf ("probe: %s\n", u >= 0 ? "ok" : errno == EPERM ? "EPERM" : strerror (errno));
        if (u >= 0)
            close (u);
    }
    if (wait_file) {
        alarm (0);
        for (int i = 0; i < 600 && access (wait_file, F_OK) < 0; i++)
            usleep (100 * 1000);
        alarm (20);
    }
    printf ("kept-uffds: %d\n", count_uffds ());
    return (int) syscall (SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
}

/* QEMU >= 8.1 util/userfaultfd.c uffd_open(): the device fd is cached. */
static int
qemu81_uffd_open (int flags)
{
    static int dev = -2;

    if (dev == -2) {
        dev = open ("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        printf ("mode: %s\n", dev >= 0 ? "device" : "syscall");
    }
    if (dev >= 0)
        return ioctl (dev, USERFAULTFD_IOC_NEW, flags);
    return (int) syscall (SYS_userfaultfd, flags);
}

int
main (int argc, char **argv)
{
    int uffd = -1, reason = 0;
    int fault = !(argc > 2 && strcmp (argv[2], "--no-fault") == 0);

    setvbuf (stdout, NULL, _IONBF, 0);
    alarm (20);
    if (argc < 2)
        return 3;
    if (strcmp (argv[1], "syscall") == 0)
        uffd = (int) syscall (SYS_userfaultfd, O_CLOEXEC);
    else if (strcmp (argv[1], "umo") == 0)
        uffd = (int) syscall (SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    else if (strcmp (argv[1], "device") == 0) {
        int dev = open ("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            uffd = ioctl (dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
            close (dev);
        }
    } else if (strcmp (argv[1], "qemu81") == 0) {
        uffd = qemu81_uffd_open (O_CLOEXEC);
        printf ("device-held: %s\n", holds_device () ? "yes" : "no");
    } else if (strcmp (argv[1], "library") == 0)
        uffd = uffd_shim_userfaultfd (O_CLOEXEC, 0, &reason);
    else if (strcmp (argv[1], "library-last") == 0)
        uffd = uffd_shim_userfaultfd (O_CLOEXEC, UFFD_SHIM_OPT_LAST, &reason);
    else if (strcmp (argv[1], "postcopy") == 0) {
        fault = 1;
        uffd = postcopy_sequence (argc > 3 && strcmp (argv[2], "--wait") == 0 ? argv[3] : NULL);
    } else
        return 3;
    if (uffd < 0) {
        int e = errno;
        if (strncmp (argv[1], "library", 7) == 0)
            printf ("uffd: %s (reason %d: %s)\n", e == EPERM ? "EPERM" : strerror (e), reason,
                    uffd_shim_strreason (reason));
        else
            printf ("uffd: %s\n", e == EPERM ? "EPERM" : e == EACCES ? "EACCES" : strerror (e));
        return 2;
    }
    printf ("uffd: ok\n");
    return fault ? kernel_fault_check (uffd) : 0;
}
