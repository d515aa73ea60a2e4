/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of peer identification: pidfd fallback, and fd exhaustion told from a peer that left. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "shim-error.h"
#include "uffd-shim-proto.h"

/* What the broker does for a new connection: SO_PEERCRED, then the rest. */
static gboolean
identify (int sock, UffdShimPeer *p, GError **error)
{
    struct ucred cred;
    socklen_t len = sizeof cred;

    g_assert_no_errno (getsockopt (sock, SOL_SOCKET, SO_PEERCRED, &cred, &len));
    return uffd_shim_peer_identify (sock, &cred, p, error);
}

static void
test_pidfd_fallback (void)
{
    /* Only a kernel without SO_PEERPIDFD may fall back to pidfd_open(pid). */
    g_assert_true (uffd_shim_peer_pidfd_fallback (ENOPROTOOPT));
    g_assert_false (uffd_shim_peer_pidfd_fallback (EMFILE));
    g_assert_false (uffd_shim_peer_pidfd_fallback (ENFILE));
    g_assert_false (uffd_shim_peer_pidfd_fallback (ENOMEM));
    g_assert_false (uffd_shim_peer_pidfd_fallback (ESRCH));
    g_assert_false (uffd_shim_peer_pidfd_fallback (EINVAL));
    g_assert_false (uffd_shim_peer_pidfd_fallback (EBADF));
    g_assert_false (uffd_shim_peer_pidfd_fallback (0));
}

static void
test_errno_status (void)
{
    g_assert_cmpint (uffd_shim_peer_errno_status (EMFILE), ==, UFFD_SHIM_E_INTERNAL);
    g_assert_cmpint (uffd_shim_peer_errno_status (ENFILE), ==, UFFD_SHIM_E_INTERNAL);
    g_assert_cmpint (uffd_shim_peer_errno_status (ENOMEM), ==, UFFD_SHIM_E_INTERNAL);
    g_assert_cmpint (uffd_shim_peer_errno_status (ENOBUFS), ==, UFFD_SHIM_E_INTERNAL);
    g_assert_cmpint (uffd_shim_peer_errno_status (ENOENT), ==, UFFD_SHIM_E_PEER_GONE);
    g_assert_cmpint (uffd_shim_peer_errno_status (ESRCH), ==, UFFD_SHIM_E_PEER_GONE);
    g_assert_cmpint (uffd_shim_peer_errno_status (EINVAL), ==, UFFD_SHIM_E_PEER_GONE);
    g_assert_cmpint (uffd_shim_peer_errno_status (0), ==, UFFD_SHIM_E_PEER_GONE);
}

/* A live peer (a child of another uid than root, over a socketpair) is
 * identified; it passes the recheck only while it is not dumpable. */
static void
test_identify_self (void)
{
    pid_t child = fork ();
    int status;

    if (child == 0) {
        UffdShimPeer p;
        g_autoptr (GError) e = NULL;
        int sv[2];

        /* Root's /proc files are root's whether it is dumpable or not. */
        if (getuid () == 0 && (setresgid (65534, 65534, 65534) < 0 || setresuid (65534, 65534, 65534) < 0))
            _exit (3);
        prctl (PR_SET_DUMPABLE, 1, 0, 0, 0);
        g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
        g_assert_true (identify (sv[0], &p, &e));
        g_assert_no_error (e);
        g_assert_cmpint (p.pid, ==, getpid ());
        g_assert_cmpint (p.uids[0], ==, getuid ());
        g_assert_true (p.exe_known);
        g_assert_true (p.dumpable);
        g_assert_cmpint (p.tracer, ==, 0);
        g_assert_cmpint (uffd_shim_peer_recheck (&p), ==, UFFD_SHIM_E_DUMPABLE);
        g_assert_no_errno (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0));
        g_assert_cmpint (uffd_shim_peer_recheck (&p), ==, UFFD_SHIM_OK);
        uffd_shim_peer_clear (&p);
        g_assert_true (identify (sv[0], &p, &e));
        g_assert_false (p.dumpable);
        uffd_shim_peer_clear (&p);
        _exit (0);
    }
    g_assert_cmpint (waitpid (child, &status, 0), ==, child);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 0);
}

/* With every fd of the broker taken, identification fails as internal, not
 * as a peer that left: the peer did nothing wrong. */
static void
test_identify_no_fds (void)
{
    UffdShimPeer p;
    g_autoptr (GError) e = NULL;
    g_autoptr (GArray) fill = g_array_new (FALSE, FALSE, sizeof (int));
    struct rlimit old, low;
    int sv[2], fd;

    g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
    g_assert_no_errno (getrlimit (RLIMIT_NOFILE, &old));
    low = old;
    low.rlim_cur = MIN (old.rlim_cur, (rlim_t) 256);
    g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &low));
    while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        g_array_append_val (fill, fd);
    g_assert_cmpint (errno, ==, EMFILE);
    g_assert_false (identify (sv[0], &p, &e));
    uffd_shim_peer_clear (&p);
    for (guint i = 0; i < fill->len; i++)
        close (g_array_index (fill, int, i));
    g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &old));
    g_assert_error (e, UFFD_SHIM_ERROR, UFFD_SHIM_E_INTERNAL);
    close (sv[0]);
    close (sv[1]);
}

/* A peer that connected and exited is peer-gone. */
static void
test_identify_gone (void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    UffdShimPeer p;
    g_autoptr (GError) e = NULL;
    int l, c, status;
    pid_t child;

    g_snprintf (sa.sun_path + 1, sizeof sa.sun_path - 1, "uffd-shim-test-peer-%d", (int) getpid ());
    l = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    g_assert_no_errno (bind (l, (struct sockaddr *) &sa, sizeof sa));
    g_assert_no_errno (listen (l, 1));
    child = fork ();
    if (child == 0) {
        int s = socket (AF_UNIX, SOCK_SEQPACKET, 0);
        _exit (connect (s, (struct sockaddr *) &sa, sizeof sa) == 0 ? 0 : 1);
    }
    g_assert_cmpint (waitpid (child, &status, 0), ==, child);
    g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    c = accept4 (l, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint (c, >=, 0);
    g_assert_false (identify (c, &p, &e));
    uffd_shim_peer_clear (&p);
    g_assert_error (e, UFFD_SHIM_ERROR, UFFD_SHIM_E_PEER_GONE);
    close (c);
    close (l);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/peer/pidfd-fallback", test_pidfd_fallback);
    g_test_add_func ("/peer/errno-status", test_errno_status);
    g_test_add_func ("/peer/identify-self", test_identify_self);
    g_test_add_func ("/peer/identify-no-fds", test_identify_no_fds);
    g_test_add_func ("/peer/identify-gone", test_identify_gone);
    return g_test_run ();
}
