/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of facts.c: /proc/PID/stat, pid files and their locks, pidfds, UUIDs, bounded marker search. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facts.h"

/* Fields 3 .. 22 after the comm: state S, flags 4194560, starttime 987654. */
#define STAT_TAIL " S 1 123 123 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 987654 1000 50\n"

static void
test_proc_stat (void)
{
    UffdShimProcStat ps;

    g_assert_true (uffd_shim_parse_proc_stat ("123 (qemu)" STAT_TAIL, &ps));
    g_assert_cmpint (ps.state, ==, 'S');
    g_assert_cmpuint (ps.flags, ==, 4194560);
    g_assert_cmpuint (ps.starttime, ==, 987654);

    /* A comm that imitates the fields: ") " inside, spaces, a fake state
     * and start time. Only the last ')' ends it. */
    g_assert_true (uffd_shim_parse_proc_stat ("123 (a) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 42)"
                                              STAT_TAIL, &ps));
    g_assert_cmpint (ps.state, ==, 'S');
    g_assert_cmpuint (ps.starttime, ==, 987654);
    g_assert_true (uffd_shim_parse_proc_stat ("7 ()) ) ()" STAT_TAIL, &ps));
    g_assert_cmpuint (ps.starttime, ==, 987654);

    /* Zombie state. */
    g_assert_true (uffd_shim_parse_proc_stat (
        "9 (z) Z 1 123 123 0 -1 4 100 0 0 0 5 6 0 0 20 0 3 0 55 0 0", &ps));
    g_assert_cmpint (ps.state, ==, 'Z');
    g_assert_cmpuint (ps.flags, ==, 4);
    g_assert_cmpuint (ps.starttime, ==, 55);

    g_assert_false (uffd_shim_parse_proc_stat (NULL, &ps));
    g_assert_false (uffd_shim_parse_proc_stat ("no paren", &ps));
    g_assert_false (uffd_shim_parse_proc_stat ("123 (x) S 1 2", &ps));
    g_assert_false (uffd_shim_parse_proc_stat ("123 (x)S 1 123 123 0 -1 4 100 0 0 0 5 6 0 0 20 0 3 0 55", &ps));
    /* Field 21 present, 22 missing. */
    g_assert_false (uffd_shim_parse_proc_stat ("1 (x) S 1 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0", &ps));
    /* Malformed numbers where they are read. */
    g_assert_false (uffd_shim_parse_proc_stat ("1 (x) S 1 1 1 0 -1 4x 0 0 0 0 0 0 0 0 20 0 1 0 55", &ps));
    g_assert_false (uffd_shim_parse_proc_stat ("1 (x) S 1 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 -55", &ps));
    g_assert_false (uffd_shim_parse_proc_stat (
        "1 (x) S 1 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999", &ps));
    g_assert_false (uffd_shim_parse_proc_stat ("1 (x) SS 1 1 1 0 -1 4 0 0 0 0 0 0 0 0 20 0 1 0 55", &ps));
}

static void
test_proc_stat_self (void)
{
    g_autofree char *text = NULL;
    UffdShimProcStat ps;

    g_assert_true (g_file_get_contents ("/proc/self/stat", &text, NULL, NULL));
    g_assert_true (uffd_shim_parse_proc_stat (text, &ps));
    g_assert_cmpint (ps.state, ==, 'R');
    g_assert_cmpuint (ps.starttime, >, 0);
}

static void
test_pidfile_parse (void)
{
    pid_t p = 0;

    g_assert_true (uffd_shim_parse_pidfile ("1234\n", 5, &p));
    g_assert_cmpint (p, ==, 1234);
    g_assert_true (uffd_shim_parse_pidfile ("2147483647", 10, &p));
    g_assert_cmpint (p, ==, G_MAXINT32);
    g_assert_false (uffd_shim_parse_pidfile ("2147483648", 10, &p));
    g_assert_false (uffd_shim_parse_pidfile ("\n", 1, &p));
    g_assert_false (uffd_shim_parse_pidfile ("0\n", 2, &p));
    g_assert_false (uffd_shim_parse_pidfile ("+5", 2, &p));
    g_assert_false (uffd_shim_parse_pidfile ("5 \n", 3, &p));
    g_assert_false (uffd_shim_parse_pidfile ("5\n6\n", 4, &p));
}

static void
test_pidfile_lock_owner (void)
{
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp ("facts-XXXXXX.pid", &path, NULL);
    int sync_pipe[2], status;
    pid_t owner = -1, child;
    char c;

    g_assert_cmpint (fd, >=, 0);
    /* Nobody holds a lock. */
    g_assert_cmpint (uffd_shim_pidfile_lock_owner (fd, &owner), ==, 0);
    g_assert_cmpint (owner, ==, 0);

    /* A child locks byte 0, as virPidFileAcquire does. */
    g_assert_cmpint (pipe (sync_pipe), ==, 0);
    child = fork ();
    g_assert_cmpint (child, >=, 0);
    if (child == 0) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
        int cfd = open (path, O_RDWR);

        if (cfd < 0 || fcntl (cfd, F_SETLK, &fl) < 0)
            _exit (1);
        (void) !write (sync_pipe[1], "x", 1);
        pause ();
        _exit (0);
    }
    close (sync_pipe[1]);
    g_assert_cmpint (read (sync_pipe[0], &c, 1), ==, 1);
    close (sync_pipe[0]);
    g_assert_cmpint (uffd_shim_pidfile_lock_owner (fd, &owner), ==, 0);
    g_assert_cmpint (owner, ==, child);
    kill (child, SIGKILL); /* the child started above, by its pid */
    g_assert_cmpint (waitpid (child, &status, 0), ==, child);
    g_assert_cmpint (uffd_shim_pidfile_lock_owner (fd, &owner), ==, 0);
    g_assert_cmpint (owner, ==, 0);

    g_assert_cmpint (uffd_shim_pidfile_lock_owner (-1, &owner), ==, -EBADF);
    close (fd);
    g_unlink (path);
}

static void
test_pidfd_open (void)
{
    int fd = uffd_shim_pidfd_open (getpid ());

    if (fd < 0 && errno == ENOSYS) {
        g_test_skip ("no pidfd_open on this system");
        return;
    }
    g_assert_cmpint (fd, >=, 0);
    close (fd);
    g_assert_cmpint (uffd_shim_pidfd_open (-1), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
}

static void
test_uuid (void)
{
    guint8 u[16];
    char text[37];

    g_assert_true (uffd_shim_uuid_parse ("01020304-0506-0708-090A-0b0c0d0e0f10", u));
    g_assert_cmpint (u[0], ==, 1);
    g_assert_cmpint (u[9], ==, 10);
    g_assert_cmpint (u[15], ==, 16);
    uffd_shim_uuid_format (u, text);
    g_assert_cmpstr (text, ==, "01020304-0506-0708-090a-0b0c0d0e0f10");
    g_assert_false (uffd_shim_uuid_parse (NULL, u));
    g_assert_false (uffd_shim_uuid_parse ("0102030405060708090a0b0c0d0e0f10", u));
    g_assert_false (uffd_shim_uuid_parse ("{01020304-0506-0708-090a-0b0c0d0e0f10}", u));
    g_assert_false (uffd_shim_uuid_parse ("01020304-0506-0708-090a-0b0c0d0e0f1g", u));
    g_assert_false (uffd_shim_uuid_parse ("0102030-40506-0708-090a-0b0c0d0e0f10", u));
}

/* A temporary file with @len bytes of 'a' and @needle at @at (if not NULL). */
static int
scratch (gsize len, const char *needle, gsize at)
{
    g_autofree char *path = NULL;
    g_autofree char *data = g_malloc (len);
    int fd = g_file_open_tmp ("facts-XXXXXX", &path, NULL);

    g_assert_cmpint (fd, >=, 0);
    g_unlink (path);
    memset (data, 'a', len);
    if (needle)
        memcpy (data + at, needle, strlen (needle));
    g_assert_cmpint (write (fd, data, len), ==, (gssize) len);
    g_assert_cmpint (lseek (fd, 0, SEEK_SET), ==, 0);
    return fd;
}

static void
test_fd_find (void)
{
    const char *needle = "uffd-shim-test-needle";
    const gsize mib = 1u << 20, n = strlen (needle);
    int fd;

    fd = scratch (100, needle, 0);
    g_assert_cmpint (uffd_shim_fd_find (fd, needle, 100), ==, 1);
    close (fd);
    fd = scratch (100, NULL, 0);
    g_assert_cmpint (uffd_shim_fd_find (fd, needle, 100), ==, 0);
    close (fd);
    /* Across the 1 MiB chunk boundary, and at the very end of a 2 MiB file. */
    fd = scratch (2 * mib, needle, mib - n / 2);
    g_assert_cmpint (uffd_shim_fd_find (fd, needle, 2 * mib), ==, 1);
    close (fd);
    fd = scratch (2 * mib, needle, 2 * mib - n);
    g_assert_cmpint (uffd_shim_fd_find (fd, needle, 2 * mib), ==, 1);
    close (fd);
    /* Bounded: a file longer than @max is not searched to its end. */
    fd = scratch (2 * mib + n, needle, 2 * mib);
    g_assert_cmpint (uffd_shim_fd_find (fd, needle, 2 * mib), ==, 0);
    close (fd);
    g_assert_cmpint (uffd_shim_fd_find (-1, needle, 100), ==, -EBADF);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/facts/proc-stat", test_proc_stat);
    g_test_add_func ("/facts/proc-stat-self", test_proc_stat_self);
    g_test_add_func ("/facts/pidfile-parse", test_pidfile_parse);
    g_test_add_func ("/facts/pidfile-lock-owner", test_pidfile_lock_owner);
    g_test_add_func ("/facts/pidfd-open", test_pidfd_open);
    g_test_add_func ("/facts/uuid", test_uuid);
    g_test_add_func ("/facts/fd-find", test_fd_find);
    return g_test_run ();
}
