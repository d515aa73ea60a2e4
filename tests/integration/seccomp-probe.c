/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Installs the broker's seccomp filter (shim/isolation.c), then makes one system call named on the command line. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "isolation.h"

/* Usage: seccomp-probe CALL. Prints "survived CALL" and exits 0 if the call
 * returned (whatever its result); a refused call kills the process with
 * SIGSYS before that. */
int
main (int argc, char **argv)
{
    g_autoptr (GError) error = NULL;
    const char *call = argc > 1 ? argv[1] : "";
    long r = 0;

    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        !uffd_shim_seccomp_install (UFFD_SHIM_SECCOMP_KILL, &error)) {
        fprintf (stderr, "seccomp-probe: %s\n", error ? error->message : g_strerror (errno));
        return 2;
    }
    if (g_str_equal (call, "getpid"))
        r = getpid ();
    else if (g_str_equal (call, "open-proc"))
        r = open ("/proc/self/status", O_RDONLY | O_CLOEXEC);
    else if (g_str_equal (call, "socket-unix"))
        r = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    else if (g_str_equal (call, "socket-inet"))
        r = socket (AF_INET, SOCK_STREAM, 0);
    else if (g_str_equal (call, "execve"))
        r = execl ("/bin/true", "true", (char *) NULL);
    else if (g_str_equal (call, "fork"))
        r = syscall (SYS_fork);
    else if (g_str_equal (call, "ptrace"))
        r = ptrace (PTRACE_ATTACH, 1, NULL, NULL);
    else if (g_str_equal (call, "mmap-exec"))
        r = (long) mmap (NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else if (g_str_equal (call, "kill-other"))
        r = syscall (SYS_tgkill, 1, 1, 0);
    else if (g_str_equal (call, "setuid"))
        r = syscall (SYS_setuid, 0);
    else {
        fprintf (stderr, "seccomp-probe: unknown call '%s'\n", call);
        return 2;
    }
    printf ("survived %s (%ld)\n", call, r);
    fflush (stdout);
    /* No exit handlers: a sanitizer's leak check at exit would itself be refused. */
    _exit (0);
}
