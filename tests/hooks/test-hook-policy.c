/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of hooks/hook-policy.c: which domains get a grant and which QEMU gets the preload. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "hook-policy.h"

static void
test_decide_default_mode (void)
{
    /* opt-in off: every allowed domain is eligible unless it opts out. */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_NO), ==,
                     UFFD_SHIM_HOOK_SKIP_OPTED_OUT);
}

static void
test_decide_opt_in_mode (void)
{
    static const char *const domains[] = { "db-*", "cache", NULL };

    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, domains, "db-7", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, domains, "cache", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, domains, "web", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    /* The incoming metadata is the source's word: it does not opt in... */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, domains, "web", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    /* ... unless the operator lets it ([hook] metadata-opt-in). */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, TRUE, domains, "web", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, TRUE, domains, "web", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, NULL, "web", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    /* A listed domain can still opt out. */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, FALSE, domains, "db-7", UFFD_SHIM_OPT_IN_NO), ==,
                     UFFD_SHIM_HOOK_SKIP_OPTED_OUT);
}

static void
test_decide_deny_wins (void)
{
    static const char *const domains[] = { "*", NULL };

    g_assert_cmpint (uffd_shim_hook_decide (FALSE, FALSE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_DENIED);
    g_assert_cmpint (uffd_shim_hook_decide (FALSE, TRUE, FALSE, domains, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_DENIED);
    g_assert_cmpint (uffd_shim_hook_decide (FALSE, TRUE, TRUE, domains, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_DENIED);
}

static void
test_decision_str (void)
{
    g_assert_cmpstr (uffd_shim_hook_decision_str (UFFD_SHIM_HOOK_GRANT), ==, "grant");
    g_assert_nonnull (uffd_shim_hook_decision_str (UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN));
}

static void
test_native_emulator (void)
{
    /* Paths that do not exist: only the configured list can make them native. */
    static const char *const native[] = { "/nonexistent/bin/qemu-system-x86_64", NULL };

    g_assert_true (uffd_shim_hook_emulator_is_native ("/nonexistent/bin/qemu-system-x86_64",
                                                      native));
    g_assert_false (uffd_shim_hook_emulator_is_native ("/nonexistent/libexec/qemu-kvm", native));
    /* Exact paths only: no prefix or pattern matching. */
    g_assert_false (uffd_shim_hook_emulator_is_native ("/nonexistent/bin/qemu-system-x86_64x",
                                                       native));
    g_assert_false (uffd_shim_hook_emulator_is_native (NULL, native));
    g_assert_false (uffd_shim_hook_emulator_is_native ("/nonexistent/bin/qemu-system-x86_64",
                                                       NULL));
}

/* A temporary directory, removed (with its files) by the fixture. */
typedef struct {
    char *dir;
} MarkerFixture;

static void
marker_setup (MarkerFixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    (void) data;
    f->dir = g_dir_make_tmp ("hook-policy-XXXXXX", &error);
    g_assert_no_error (error);
}

static void
marker_teardown (MarkerFixture *f, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open (f->dir, 0, NULL);
    const char *name;

    (void) data;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
        g_autofree char *p = g_build_filename (f->dir, name, NULL);
        g_assert_cmpint (g_remove (p), ==, 0);
    }
    g_assert_cmpint (g_rmdir (f->dir), ==, 0);
    g_free (f->dir);
}

/*
 * Writes @size bytes of filler to @name with @text at @offset (unless NULL)
 * and returns the path. The filler contains near misses of the marker.
 */
static char *
write_binary (MarkerFixture *f, const char *name, gsize size, const char *text, gsize offset)
{
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *buf = g_malloc (size);
    char *path = g_build_filename (f->dir, name, NULL);
    static const char near[] = "uffd-shim-native-broker-v2 uffd-shim-native-broker-";

    for (gsize i = 0; i < size; i++)
        buf[i] = (guint8) (i * 7 + 3);
    for (gsize i = 0; i + sizeof near < size; i += 4096)
        memcpy (buf + i, near, sizeof near - 1);
    if (text != NULL) {
        g_assert_cmpuint (offset + strlen (text), <=, size);
        memcpy (buf + offset, text, strlen (text));
    }
    g_file_set_contents (path, (const char *) buf, (gssize) size, &error);
    g_assert_no_error (error);
    return path;
}

#define MARKER_LINE UFFD_SHIM_NATIVE_MARKER " /run/uffd-shim/uffd.sock"

static void
test_marker_found (MarkerFixture *f, gconstpointer data)
{
    const gsize chunk = 1u << 20; /* hook-policy.c reads in 1 MiB chunks */
    const gsize mlen = strlen (UFFD_SHIM_NATIVE_MARKER);
    g_autofree char *start = write_binary (f, "start", 4096, MARKER_LINE, 0);
    g_autofree char *end = write_binary (f, "end", 3 * chunk,
                                         UFFD_SHIM_NATIVE_MARKER, 3 * chunk - mlen);
    g_autofree char *straddle = write_binary (f, "straddle", 2 * chunk + 100,
                                              MARKER_LINE, chunk - 5);
    g_autofree char *straddle2 = write_binary (f, "straddle2", 2 * chunk + 100,
                                               MARKER_LINE, 2 * chunk - mlen + 1);
    g_autofree char *link = g_build_filename (f->dir, "link", NULL);

    (void) data;
    g_assert_true (uffd_shim_hook_emulator_has_marker (start));
    g_assert_true (uffd_shim_hook_emulator_has_marker (end));
    g_assert_true (uffd_shim_hook_emulator_has_marker (straddle));
    g_assert_true (uffd_shim_hook_emulator_has_marker (straddle2));
    /* Emulators are often symlinks (/usr/bin/kvm): followed. */
    g_assert_cmpint (symlink (straddle, link), ==, 0);
    g_assert_true (uffd_shim_hook_emulator_has_marker (link));
    /* Native by marker without being listed; listing changes nothing. */
    g_assert_true (uffd_shim_hook_emulator_is_native (end, NULL));
    {
        const char *const native[] = { "/nonexistent/other", NULL };
        g_assert_true (uffd_shim_hook_emulator_is_native (end, native));
    }
}

static void
test_marker_absent (MarkerFixture *f, gconstpointer data)
{
    g_autofree char *plain = write_binary (f, "plain", 3 * (1u << 20) + 17, NULL, 0);
    g_autofree char *empty = write_binary (f, "empty", 0, NULL, 0);
    g_autofree char *truncated = write_binary (f, "truncated", 4096,
                                               "uffd-shim-native-broker-v", 4096 - 25);
    g_autofree char *fifo = g_build_filename (f->dir, "fifo", NULL);
    g_autofree char *big = g_build_filename (f->dir, "big", NULL);
    g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
    int fd;

    (void) data;
    g_assert_false (uffd_shim_hook_emulator_has_marker (plain));
    g_assert_false (uffd_shim_hook_emulator_has_marker (empty));
    g_assert_false (uffd_shim_hook_emulator_has_marker (truncated));
    g_assert_false (uffd_shim_hook_emulator_has_marker (missing));
    g_assert_false (uffd_shim_hook_emulator_has_marker (f->dir));
    g_assert_false (uffd_shim_hook_emulator_has_marker ("relative/qemu"));
    g_assert_false (uffd_shim_hook_emulator_has_marker (NULL));
    g_assert_false (uffd_shim_hook_emulator_is_native (plain, NULL));
    /* A FIFO must not block the hook (nobody writes to it). */
    g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
    g_assert_false (uffd_shim_hook_emulator_has_marker (fifo));
    /* Larger than the bound: not read at all (a sparse file, no disk use). */
    fd = open (big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (ftruncate (fd, UFFD_SHIM_NATIVE_SCAN_MAX + 4096), ==, 0);
    g_assert_cmpint (pwrite (fd, MARKER_LINE, strlen (MARKER_LINE), 0), ==,
                     (gssize) strlen (MARKER_LINE));
    close (fd);
    g_assert_false (uffd_shim_hook_emulator_has_marker (big));
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/hook-policy/decide/default-mode", test_decide_default_mode);
    g_test_add_func ("/hook-policy/decide/opt-in-mode", test_decide_opt_in_mode);
    g_test_add_func ("/hook-policy/decide/deny-wins", test_decide_deny_wins);
    g_test_add_func ("/hook-policy/decision-str", test_decision_str);
    g_test_add_func ("/hook-policy/native-emulator", test_native_emulator);
    g_test_add ("/hook-policy/native-marker/found", MarkerFixture, NULL, marker_setup,
                test_marker_found, marker_teardown);
    g_test_add ("/hook-policy/native-marker/absent", MarkerFixture, NULL, marker_setup,
                test_marker_absent, marker_teardown);
    return g_test_run ();
}
