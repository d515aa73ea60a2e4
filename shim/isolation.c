/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's isolation after setup: privileges dropped, then a seccomp allow-list. */
/*
 * Theory of operation
 * -------------------
 * uffd-shimd starts as root, binds its sockets, loads its state and
 * installs its signal handlers (uffd-shimd.c). It then isolates itself in
 * two stages, in this order, and runs only its event loop from then on:
 *
 *  1. uffd_shim_drop_privileges(): keep CAP_SYS_PTRACE and nothing else,
 *     no-new-privs, not dumpable.
 *  2. uffd_shim_seccomp_install(): the system-call allow-list, on every
 *     thread. It needs stage 1's no-new-privs.
 *
 * Should: open /dev/userfaultfd, read /proc and libvirt's run directory,
 * write its own state file, talk to its clients, log.
 * Mustn't: regain a capability (by exec or otherwise), be ptraced or have
 * its fds taken by another process of uid 0 without CAP_SYS_PTRACE, fork,
 * exec, mount, change ids, make network sockets or map executable memory.
 *
 * Stage 1, privileges
 * -------------------
 * What the broker must still do after setup, and what that needs:
 *  - open /dev/userfaultfd (root:root 0600) for every hand-out: uid 0 as the
 *    file's owner, no capability;
 *  - read libvirt's root-owned pid files and status XML, and write its own
 *    state file: uid 0 as owner, no capability (root-owned files, mode 0600
 *    or 0644 with the owner bits set, are open to their owner without
 *    CAP_DAC_OVERRIDE);
 *  - read /proc/PID/exe of a QEMU running as another uid (a ptrace-mode
 *    read): CAP_SYS_PTRACE. This is the one capability kept.
 * So the broker stays uid 0 with an effective/permitted set of just
 * CAP_SYS_PTRACE, empty inheritable, ambient and bounding sets (nothing it
 * executes could regain more), PR_SET_NO_NEW_PRIVS, and PR_SET_DUMPABLE 0 so
 * other processes of uid 0 without CAP_SYS_PTRACE cannot attach to it.
 * It never writes vm.unprivileged_userfaultfd: without CAP_SYS_ADMIN it could
 * not, even if it tried.
 * No-new-privs is also what lets the unprivileged-in-capabilities broker
 * install its seccomp allow-list, the last setup step (stage 2): from then
 * on a system call the event loop does not make kills the process.
 *
 * Stage 2, system calls
 * ---------------------
 * After setup (sockets bound, state loaded, capabilities dropped, signal
 * handlers installed) the broker only runs its event loop (server.c). The
 * filter allows exactly the system calls that loop, GLib, libxml2 and glibc
 * make on its behalf, and kills the whole process (SECCOMP_RET_KILL_PROCESS)
 * on any other one, or on any call made through another ABI (i386, x32).
 *
 * Why kill and not ERRNO(EPERM): the broker is uid 0 with CAP_SYS_PTRACE.
 * A system call outside the list means a bug or code that is not ours
 * running in it. Failing the call lets an exploit probe and carry on;
 * killing stops it, leaves a kernel audit record (type SECCOMP, with the
 * syscall number), and costs nothing lasting: the grants are in the state
 * file and systemd restarts the broker (Restart=on-failure). The broker
 * never forks, execs, ptraces, mounts, changes ids or makes network sockets,
 * and it cannot map executable memory after setup.
 *
 * What the loop needs is declared beside the code that makes each call, in
 * "#syscalls" comments (passt's convention): the
 * clients (server.c, peer.c), the facts (peer.c, facts.c,
 * libvirt-record.c, backend-facts.c), the state file (server.c,
 * save_state), logging and readiness (log.c, listener.c), and what GLib's
 * main loop and glibc do on the broker's behalf (uffd-shimd.c, where the
 * loop is set up), including the start of GLib's worker thread, which may
 * still be running when the filter is installed. Several names are one
 * call on different architectures or C libraries (open/openat,
 * stat/newfstatat/statx, rename/renameat/renameat2, poll/ppoll).
 * tests/unit/test-syscalls.sh fails when a name is allowed below but
 * declared nowhere, or declared but not allowed.
 * Threads: the filter is synchronised to all threads (TSYNC), including
 * GLib's worker thread that delivers signals.
 * $UFFD_SHIM_SECCOMP=log allows but logs the calls outside the list (for
 * diagnosing a new platform); =off installs nothing.
 */
#include "isolation.h"

#include <glib.h>

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim-error.h"

/* ---- stage 1: privileges -------------------------------------------------- */

gboolean
uffd_shim_drop_privileges (GError **error)
{
    if (geteuid () == 0) {
        capng_clear (CAPNG_SELECT_ALL);
        if (capng_update (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_PTRACE) < 0 ||
            capng_apply (CAPNG_SELECT_ALL) < 0) {
            g_set_error (error, UFFD_SHIM_ERROR, 0, "cannot drop capabilities");
            return FALSE;
        }
    }
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "prctl: %s",
                     g_strerror (errno));
        return FALSE;
    }
    return TRUE;
}

/* ---- stage 2: system calls ------------------------------------------------ */

/* Allowed with any arguments. Names a given architecture lacks are skipped. */
static const char *const allowed[] = {
    /* clients */
    "accept4", "recvmsg", "sendmsg", "sendto", "getsockopt", "shutdown", "pidfd_open", "poll",
    "ppoll", "close",
    /* files */
    "open", "openat", "read", "pread64", "write", "fstat", "newfstatat", "stat", "lstat",
    "statx", "readlink", "readlinkat", "fcntl", "lseek", "rename", "renameat", "renameat2",
    "unlink", "unlinkat",
    /* vhost-user back-ends (backend-facts.c): /proc/PID/fdinfo and the
     * libvirt run directory are listed; sock_diag goes over the netlink
     * socket opened before the filter, with sendto and recvfrom */
    "getdents64", "recvfrom",
    /* logging, readiness */
    "connect",
    /* GLib loop, memory, time, signals, exit */
    "eventfd2", "futex", "brk", "munmap", "mremap", "madvise", "clock_gettime",
    "clock_nanosleep", "gettimeofday", "time", "getpid", "gettid", "getuid", "geteuid",
    "getrandom", "sched_yield", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn",
    "restart_syscall", "exit", "exit_group",
    /* start of GLib's worker thread, which may still be running when the
     * filter is installed */
    "rseq", "set_robust_list",
};

static gboolean
fail (GError **error, int rc, const char *what)
{
    g_set_error (error, UFFD_SHIM_ERROR, -rc, "seccomp: %s: %s", what,
                 g_strerror (-rc));
    return FALSE;
}

gboolean
uffd_shim_seccomp_mode_from_env (UffdShimSeccompMode *mode, GError **error)
{
    const char *v = g_getenv ("UFFD_SHIM_SECCOMP");

    if (!v || !*v || g_str_equal (v, "kill"))
        *mode = UFFD_SHIM_SECCOMP_KILL;
    else if (g_str_equal (v, "log"))
        *mode = UFFD_SHIM_SECCOMP_LOG;
    else if (g_str_equal (v, "off"))
        *mode = UFFD_SHIM_SECCOMP_OFF;
    else {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "UFFD_SHIM_SECCOMP=%s: expected kill, log or off", v);
        return FALSE;
    }
    return TRUE;
}

static void
ctx_release (scmp_filter_ctx ctx)
{
    seccomp_release (ctx);
}
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, ctx_release, NULL)

gboolean
uffd_shim_seccomp_install (UffdShimSeccompMode mode, GError **error)
{
    g_auto (scmp_filter_ctx) ctx = NULL;
    int rc;

    if (mode == UFFD_SHIM_SECCOMP_OFF)
        return TRUE;
    ctx = seccomp_init (mode == UFFD_SHIM_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return fail (error, -ENOMEM, "init");
    /* Every thread, and no fallback to a per-thread filter. */
    if ((rc = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
        return fail (error, rc, "TSYNC");
    for (gsize i = 0; i < G_N_ELEMENTS (allowed); i++) {
        int nr = seccomp_syscall_resolve_name (allowed[i]);

        if (nr == __NR_SCMP_ERROR)
            continue;
        if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
            return fail (error, rc, allowed[i]);
    }
    /* Unix sockets only (syslog, sd_notify). */
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 1,
                                SCMP_A0 (SCMP_CMP_EQ, AF_UNIX))) < 0)
        return fail (error, rc, "socket");
    /* Memory for malloc and GLib, never executable. */
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mmap), 1,
                                SCMP_A2 (SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0 ||
        (rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mprotect), 1,
                                SCMP_A2 (SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
        return fail (error, rc, "mmap");
    /* GLib names its worker thread. */
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 1,
                                SCMP_A0 (SCMP_CMP_EQ, PR_SET_NAME))) < 0)
        return fail (error, rc, "prctl");
    /* abort() signals itself, and nothing else. */
    if ((rc = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (tgkill), 1,
                                SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) getpid ()))) < 0)
        return fail (error, rc, "tgkill");
    if ((rc = seccomp_load (ctx)) < 0)
        return fail (error, rc, "load");
    return TRUE;
}
