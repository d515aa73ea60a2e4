/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of hooks/install.c: hook install/uninstall in a temporary hooks dir, libvirtd reload. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "install.h"

typedef struct {
    char *tmp;       /* scratch directory */
    char *hooks_dir; /* tmp/hooks (not created) */
    char *qemu_d;    /* tmp/hooks/qemu.d */
    char *installed; /* tmp/hooks/qemu.d/50-uffd-shim */
    char *binary;    /* tmp/uffd-shim-hook: a fake hook with the marker */
} Fixture;

static void
write_file (const char *path, const char *contents, int mode)
{
    g_autoptr(GError) error = NULL;

    g_assert_true (g_file_set_contents (path, contents, -1, &error));
    g_assert_no_error (error);
    g_assert_cmpint (chmod (path, mode), ==, 0);
}

static char *
read_file (const char *path)
{
    g_autoptr(GError) error = NULL;
    char *contents = NULL;

    g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
    g_assert_no_error (error);
    return contents;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->tmp = g_dir_make_tmp ("test-install-XXXXXX", &error);
    g_assert_no_error (error);
    f->hooks_dir = g_build_filename (f->tmp, "hooks", NULL);
    f->qemu_d = g_build_filename (f->hooks_dir, "qemu.d", NULL);
    f->installed = g_build_filename (f->qemu_d, UFFD_SHIM_HOOK_INSTALL_NAME, NULL);
    f->binary = g_build_filename (f->tmp, "uffd-shim-hook", NULL);
    write_file (f->binary, "#!/bin/sh\n# " UFFD_SHIM_HOOK_MARKER " v1\nexit 0\n", 0755);
}

static void
remove_tree (const char *path)
{
    g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
        else
            g_unlink (child);
    }
    g_rmdir (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
    remove_tree (f->tmp);
    g_free (f->tmp);
    g_free (f->hooks_dir);
    g_free (f->qemu_d);
    g_free (f->installed);
    g_free (f->binary);
}

static void
test_install_fresh (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *copy = NULL;
    g_autofree char *orig = NULL;
    struct stat st;

    g_assert_true (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_no_error (error);

    g_assert_cmpint (lstat (f->qemu_d, &st), ==, 0);
    g_assert_true (S_ISDIR (st.st_mode));
    g_assert_cmpint (st.st_mode & 07777, ==, 0755);
    g_assert_cmpint (lstat (f->installed, &st), ==, 0);
    g_assert_true (S_ISREG (st.st_mode)); /* a copy, not a symlink */
    g_assert_cmpint (st.st_mode & 07777, ==, 0755);
    if (geteuid () == 0)
        g_assert_cmpint (st.st_uid, ==, 0);
    copy = read_file (f->installed);
    orig = read_file (f->binary);
    g_assert_cmpstr (copy, ==, orig);

    /* No temporary file left behind. */
    {
        g_autoptr(GDir) dir = g_dir_open (f->qemu_d, 0, NULL);
        const char *name;
        guint n = 0;

        while ((name = g_dir_read_name (dir)) != NULL)
            n++;
        g_assert_cmpuint (n, ==, 1);
    }
}

static void
test_install_upgrade (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *copy = NULL;

    g_assert_true (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    write_file (f->binary, "#!/bin/sh\n# " UFFD_SHIM_HOOK_MARKER " v2\nexit 0\n", 0755);
    g_assert_true (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_no_error (error);
    copy = read_file (f->installed);
    g_assert_nonnull (strstr (copy, " v2\n"));
}

static void
test_install_keeps_others (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *main_hook = g_build_filename (f->hooks_dir, "qemu", NULL);
    g_autofree char *other = g_build_filename (f->qemu_d, "10-other", NULL);
    g_autofree char *main_after = NULL;
    g_autofree char *other_after = NULL;

    g_assert_cmpint (g_mkdir_with_parents (f->qemu_d, 0755), ==, 0);
    write_file (main_hook, "#!/bin/sh\nexit 0\n", 0700);
    write_file (other, "#!/bin/sh\nexit 0\n", 0755);

    g_assert_true (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_no_error (error);
    g_assert_true (uffd_shim_hook_uninstall (f->hooks_dir, &error));
    g_assert_no_error (error);

    main_after = read_file (main_hook);
    other_after = read_file (other);
    g_assert_cmpstr (main_after, ==, "#!/bin/sh\nexit 0\n");
    g_assert_cmpstr (other_after, ==, "#!/bin/sh\nexit 0\n");
    g_assert_false (g_file_test (f->installed, G_FILE_TEST_EXISTS));
    /* qemu.d stays. */
    g_assert_true (g_file_test (f->qemu_d, G_FILE_TEST_IS_DIR));
}

static void
test_install_refuses_foreign (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *after = NULL;

    g_assert_cmpint (g_mkdir_with_parents (f->qemu_d, 0755), ==, 0);
    write_file (f->installed, "#!/bin/sh\n# somebody else's\n", 0755);

    g_assert_false (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
    g_clear_error (&error);
    g_assert_false (uffd_shim_hook_uninstall (f->hooks_dir, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
    after = read_file (f->installed);
    g_assert_cmpstr (after, ==, "#!/bin/sh\n# somebody else's\n");
}

static void
test_install_refuses_symlink (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    struct stat st;

    /* Even a symlink to our own binary is not something install made. */
    g_assert_cmpint (g_mkdir_with_parents (f->qemu_d, 0755), ==, 0);
    g_assert_cmpint (symlink (f->binary, f->installed), ==, 0);
    g_assert_false (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
    g_clear_error (&error);
    g_assert_false (uffd_shim_hook_uninstall (f->hooks_dir, &error));
    g_assert_cmpint (lstat (f->installed, &st), ==, 0);
    g_assert_true (S_ISLNK (st.st_mode));
}

static void
test_install_bad_binary (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *plain = g_build_filename (f->tmp, "not-the-hook", NULL);

    write_file (plain, "#!/bin/sh\nexit 0\n", 0755);
    g_assert_false (uffd_shim_hook_install (f->hooks_dir, plain, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_clear_error (&error);

    g_assert_false (uffd_shim_hook_install (f->hooks_dir, "relative/hook", &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_clear_error (&error);

    g_assert_cmpint (chmod (f->binary, 0775), ==, 0);
    g_assert_false (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
    g_clear_error (&error);

    g_assert_cmpint (chmod (f->binary, 0644), ==, 0);
    g_assert_false (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_assert_false (g_file_test (f->installed, G_FILE_TEST_EXISTS));
}

static void
test_install_unsafe_dir (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    g_assert_cmpint (g_mkdir_with_parents (f->qemu_d, 0755), ==, 0);
    g_assert_cmpint (chmod (f->qemu_d, 0777), ==, 0);
    g_assert_false (uffd_shim_hook_install (f->hooks_dir, f->binary, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
}

static void
test_uninstall_absent (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    /* Neither hooks_dir nor qemu.d exists. */
    g_assert_true (uffd_shim_hook_uninstall (f->hooks_dir, &error));
    g_assert_no_error (error);
    g_assert_cmpint (g_mkdir_with_parents (f->qemu_d, 0755), ==, 0);
    g_assert_true (uffd_shim_hook_uninstall (f->hooks_dir, &error));
    g_assert_no_error (error);
}

/* ---- reload ------------------------------------------------------------ */

/* A stand-in libvirtd: locks @pidfile like virPidFileAcquire, writes
 * @pid_to_write (0 = itself), reports readiness on @ready_fd and exits 0
 * when SIGHUP arrives within 10 s, 1 otherwise. */
static pid_t
spawn_fake_libvirtd (const char *pidfile, pid_t pid_to_write)
{
    int ready[2];
    pid_t child;
    char c;

    g_assert_cmpint (pipe (ready), ==, 0);
    child = fork ();
    g_assert_cmpint (child, >=, 0);
    if (child == 0) {
        struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
        struct timespec timeout = { .tv_sec = 10 };
        g_autofree char *text = NULL;
        sigset_t set;
        int fd;

        sigemptyset (&set);
        sigaddset (&set, SIGHUP);
        sigprocmask (SIG_BLOCK, &set, NULL);
        fd = open (pidfile, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || fcntl (fd, F_SETLK, &lk) < 0)
            _exit (2);
        text = g_strdup_printf ("%d\n", pid_to_write ? (int) pid_to_write : (int) getpid ());
        if (write (fd, text, strlen (text)) != (ssize_t) strlen (text))
            _exit (2);
        if (write (ready[1], "r", 1) != 1)
            _exit (2);
        _exit (sigtimedwait (&set, NULL, &timeout) == SIGHUP ? 0 : 1);
    }
    close (ready[1]);
    g_assert_cmpint (read (ready[0], &c, 1), ==, 1);
    close (ready[0]);
    return child;
}

static int
wait_exit (pid_t pid)
{
    int status = 0;

    g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
    g_assert_true (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_reload_signals_lock_owner (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pidfile = g_build_filename (f->tmp, "libvirtd.pid", NULL);
    pid_t child = spawn_fake_libvirtd (pidfile, 0);

    g_assert_true (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_no_error (error);
    g_assert_cmpint (wait_exit (child), ==, 0);
}

static void
test_reload_refuses_mismatch (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pidfile = g_build_filename (f->tmp, "libvirtd.pid", NULL);
    /* The file names us, the lock is the child's: signal nobody. */
    pid_t child = spawn_fake_libvirtd (pidfile, getpid ());

    g_assert_false (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    kill (child, SIGTERM);
    waitpid (child, NULL, 0);
}

static void
test_reload_stale (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pidfile = g_build_filename (f->tmp, "libvirtd.pid", NULL);
    g_autofree char *self = g_strdup_printf ("%d\n", (int) getpid ());

    /* A live pid, but nobody holds the lock. */
    write_file (pidfile, self, 0644);
    g_assert_false (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error (&error);

    write_file (pidfile, "garbage\n", 0644);
    g_assert_false (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_clear_error (&error);

    write_file (pidfile, "1\n", 0644);
    g_assert_false (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
    g_clear_error (&error);

    g_unlink (pidfile);
    g_assert_false (uffd_shim_hook_reload_libvirtd (pidfile, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

/* virtqemud and libvirtd both found from a list with a missing and a stale
 * pid file; each signalled once; nothing running is an error. */
static void
test_reload_daemons (Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func ((GDestroyNotify) uffd_shim_reloaded_free);
    g_autofree char *missing = g_build_filename (f->tmp, "missing.pid", NULL);
    g_autofree char *stale = g_build_filename (f->tmp, "stale.pid", NULL);
    g_autofree char *qemud = g_build_filename (f->tmp, "virtqemud.pid", NULL);
    g_autofree char *libvirtd = g_build_filename (f->tmp, "libvirtd.pid", NULL);
    g_autofree char *self = g_strdup_printf ("%d\n", (int) getpid ());
    const char *const none[] = { missing, stale, NULL };
    const char *const all[] = { missing, stale, qemud, libvirtd, NULL };
    pid_t a, b;

    write_file (stale, self, 0644);
    g_assert_false (uffd_shim_hook_reload_daemons (none, done, &error));
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_assert_nonnull (strstr (error->message, "missing.pid"));
    g_assert_cmpuint (done->len, ==, 0);
    g_clear_error (&error);

    a = spawn_fake_libvirtd (qemud, 0);
    b = spawn_fake_libvirtd (libvirtd, 0);
    g_assert_true (uffd_shim_hook_reload_daemons (all, done, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (done->len, ==, 2);
    g_assert_cmpstr (((UffdShimReloaded *) done->pdata[0])->pidfile, ==, qemud);
    g_assert_cmpint (((UffdShimReloaded *) done->pdata[0])->pid, ==, a);
    g_assert_cmpstr (((UffdShimReloaded *) done->pdata[1])->pidfile, ==, libvirtd);
    g_assert_cmpint (wait_exit (a), ==, 0);
    g_assert_cmpint (wait_exit (b), ==, 0);
}

/* The default list names what libvirt 9.0 and 11.x write. */
static void
test_reload_default_list (void)
{
    g_assert_cmpstr (uffd_shim_libvirt_pidfiles[0], ==, "/run/virtqemud.pid");
    g_assert_cmpstr (uffd_shim_libvirt_pidfiles[1], ==, "/run/libvirtd.pid");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD ("/install/fresh", test_install_fresh);
    ADD ("/install/upgrade", test_install_upgrade);
    ADD ("/install/keeps-others", test_install_keeps_others);
    ADD ("/install/refuses-foreign", test_install_refuses_foreign);
    ADD ("/install/refuses-symlink", test_install_refuses_symlink);
    ADD ("/install/bad-binary", test_install_bad_binary);
    ADD ("/install/unsafe-dir", test_install_unsafe_dir);
    ADD ("/install/uninstall-absent", test_uninstall_absent);
    ADD ("/reload/signals-lock-owner", test_reload_signals_lock_owner);
    ADD ("/reload/refuses-mismatch", test_reload_refuses_mismatch);
    ADD ("/reload/stale", test_reload_stale);
    ADD ("/reload/daemons", test_reload_daemons);
    g_test_add_func ("/reload/default-list", test_reload_default_list);
#undef ADD

    return g_test_run ();
}
