/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for hooks/native-cache.c: the hook's cache of the native-marker answer per emulator file. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hook-policy.h"
#include "native-cache.h"

#define MARKER_LINE UFFD_SHIM_NATIVE_MARKER " /run/uffd-shim/uffd.sock"
#define BIN_SIZE (256u * 1024u)
#define N_MANY (UFFD_SHIM_NATIVE_CACHE_MAX + 8u)
#define CACHE_BYTES(n) (24u + (n) * 64u)

/* Files created once, before the tests, and left to settle (see native-cache.c). */
static char *settled_dir;

static char *
bin_path (const char *name)
{
    return g_build_filename (settled_dir, name, NULL);
}

/* Writes @size bytes to @path, with the marker in the middle when @native. */
static void
write_binary (const char *path, gboolean native, guint8 seed)
{
    g_autoptr (GError) error = NULL;
    g_autofree guint8 *buf = g_malloc (BIN_SIZE);

    for (gsize i = 0; i < BIN_SIZE; i++)
        buf[i] = (guint8) (i * 13 + seed);
    if (native)
        memcpy (buf + BIN_SIZE / 2, MARKER_LINE, strlen (MARKER_LINE));
    g_file_set_contents (path, (const char *) buf, BIN_SIZE, &error);
    g_assert_no_error (error);
}

static gboolean
is_root (void)
{
    if (geteuid () == 0)
        return TRUE;
    g_test_skip ("the cache is used by root only");
    return FALSE;
}

/* A new private cache directory (not created: the code under test creates it). */
static char *
new_cache_dir (void)
{
    static guint n;

    return g_strdup_printf ("%s/cache-%u", settled_dir, n++);
}

static char *
cache_file (const char *dir)
{
    return g_build_filename (dir, UFFD_SHIM_NATIVE_CACHE_FILE, NULL);
}

/* Asks; checks the answer and where it came from. */
static void
expect (const char *cache, const char *path, gboolean native, UffdShimNativeSource source)
{
    UffdShimNativeSource got = 99;

    g_assert_cmpint (uffd_shim_hook_emulator_is_native_cached (path, NULL, cache, &got), ==, native);
    g_assert_cmpint (got, ==, source);
}

/* Number of entries in @dir's cache file, -1 if it is missing or invalid. */
static int
cache_entries (const char *dir)
{
    g_autofree char *path = cache_file (dir);
    g_autofree char *data = NULL;
    UffdShimNativeEntry e[UFFD_SHIM_NATIVE_CACHE_MAX];
    gsize len;
    guint n;

    if (!g_file_get_contents (path, &data, &len, NULL) ||
        !uffd_shim_native_cache_parse ((const guint8 *) data, len, e, &n))
        return -1;
    return (int) n;
}

static void
put_file (const char *path, const void *data, gsize len, mode_t mode)
{
    g_autoptr (GError) error = NULL;

    g_file_set_contents (path, data, (gssize) len, &error);
    g_assert_no_error (error);
    g_assert_cmpint (chmod (path, mode), ==, 0);
}

/* ---- the file format (pure) ---------------------------------------------- */

static UffdShimNativeEntry
sample_entry (guint i)
{
    UffdShimNativeEntry e = { .dev = 0xfe00, .ino = 1000 + i, .size = 18874368,
                              .mtime_sec = 1700000000, .mtime_nsec = 5,
                              .ctime_sec = 1700000001, .ctime_nsec = 999999999,
                              .native = i % 2 };
    return e;
}

static gboolean
parses (const guint8 *data, gsize len)
{
    UffdShimNativeEntry e[UFFD_SHIM_NATIVE_CACHE_MAX];
    guint n = 77;
    gboolean ok = uffd_shim_native_cache_parse (data, len, e, &n);

    if (!ok)
        g_assert_cmpuint (n, ==, 0);
    return ok;
}

static void
test_format_roundtrip (void)
{
    UffdShimNativeEntry in[UFFD_SHIM_NATIVE_CACHE_MAX], out[UFFD_SHIM_NATIVE_CACHE_MAX];
    const guint counts[] = { 0, 1, 2, UFFD_SHIM_NATIVE_CACHE_MAX };

    for (guint i = 0; i < UFFD_SHIM_NATIVE_CACHE_MAX; i++)
        in[i] = sample_entry (i);
    for (gsize c = 0; c < G_N_ELEMENTS (counts); c++) {
        g_autoptr (GBytes) b = uffd_shim_native_cache_format (in, counts[c]);
        gsize len;
        const guint8 *data = g_bytes_get_data (b, &len);
        guint n = 99;

        g_assert_cmpuint (len, ==, CACHE_BYTES (counts[c]));
        g_assert_true (uffd_shim_native_cache_parse (data, len, out, &n));
        g_assert_cmpuint (n, ==, counts[c]);
        g_assert_cmpmem (out, n * sizeof *out, in, counts[c] * sizeof *in);
    }
}

static void
test_format_rejects (void)
{
    UffdShimNativeEntry in[UFFD_SHIM_NATIVE_CACHE_MAX + 1];
    g_autoptr (GBytes) b = NULL;
    g_autofree guint8 *copy = NULL;
    gsize len;

    for (guint i = 0; i <= UFFD_SHIM_NATIVE_CACHE_MAX; i++)
        in[i] = sample_entry (i);
    b = uffd_shim_native_cache_format (in, 2);
    len = g_bytes_get_size (b);
    copy = g_memdup2 (g_bytes_get_data (b, NULL), len);
    g_assert_true (parses (copy, len));
    g_assert_false (parses (NULL, 0));
    g_assert_false (parses (copy, 0));
    g_assert_false (parses (copy, len - 1));    /* truncated */
    g_assert_false (parses (copy, 23));         /* not even a header */
    /* Any single changed byte, in the header or an entry, is refused: a
     * flipped answer too (the checksum covers it). */
    for (gsize i = 0; i < len; i++) {
        copy[i] ^= 0x01;
        g_assert_false (parses (copy, len));
        copy[i] ^= 0x01;
    }
    {
        /* One byte more than the count announces. */
        g_autofree guint8 *longer = g_malloc0 (len + 1);

        memcpy (longer, copy, len);
        g_assert_false (parses (longer, len + 1));
    }
    /* Entries the format cannot hold, even with a right checksum: an answer
     * other than 0/1, reserved bits, more than the maximum. */
    in[0].native = 2;
    {
        g_autoptr (GBytes) bad = uffd_shim_native_cache_format (in, 1);

        g_assert_false (parses (g_bytes_get_data (bad, NULL), g_bytes_get_size (bad)));
    }
    in[0].native = 1;
    in[0].reserved = 4;
    {
        g_autoptr (GBytes) bad = uffd_shim_native_cache_format (in, 1);

        g_assert_false (parses (g_bytes_get_data (bad, NULL), g_bytes_get_size (bad)));
    }
    in[0].reserved = 0;
    {
        /* 33 entries: made by hand, format() refuses to. */
        g_autoptr (GBytes) full = uffd_shim_native_cache_format (in, UFFD_SHIM_NATIVE_CACHE_MAX);
        g_autofree guint8 *over = g_malloc0 (CACHE_BYTES (UFFD_SHIM_NATIVE_CACHE_MAX + 1));
        guint32 count = UFFD_SHIM_NATIVE_CACHE_MAX + 1;

        memcpy (over, g_bytes_get_data (full, NULL), g_bytes_get_size (full));
        memcpy (over + 12, &count, sizeof count);
        g_assert_false (parses (over, CACHE_BYTES (UFFD_SHIM_NATIVE_CACHE_MAX + 1)));
    }
}

static void
test_same_file (void)
{
    const UffdShimNativeEntry a = sample_entry (1);
    UffdShimNativeEntry b = a;

    g_assert_true (uffd_shim_native_entry_same_file (&a, &b));
    b.native = !a.native; /* the answer is not part of the key */
    g_assert_true (uffd_shim_native_entry_same_file (&a, &b));
#define DIFFERS(field)                                            \
    do {                                                          \
        b = a;                                                    \
        b.field++;                                                \
        g_assert_false (uffd_shim_native_entry_same_file (&a, &b)); \
    } while (0)
    DIFFERS (dev);
    DIFFERS (ino);
    DIFFERS (size);
    DIFFERS (mtime_sec);
    DIFFERS (mtime_nsec);
    DIFFERS (ctime_sec);
    DIFFERS (ctime_nsec);
#undef DIFFERS
}

/* ---- the cache at work (root) --------------------------------------------- */

static void
test_hit_and_miss (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *native = bin_path ("native-a");
    g_autofree char *plain = bin_path ("plain-a");
    g_autofree char *file = NULL;
    struct stat st;

    if (!is_root ())
        return;
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
    expect (cache, plain, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, plain, FALSE, UFFD_SHIM_NATIVE_FROM_CACHE);
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
    g_assert_cmpint (cache_entries (cache), ==, 2);
    /* Root's, private. */
    g_assert_cmpint (stat (cache, &st), ==, 0);
    g_assert_cmpuint (st.st_uid, ==, 0);
    g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
    file = cache_file (cache);
    g_assert_cmpint (stat (file, &st), ==, 0);
    g_assert_cmpuint (st.st_uid, ==, 0);
    g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
    g_assert_cmpint (st.st_size, ==, CACHE_BYTES (2));
    /* Listed emulators and non-files do not touch it. */
    {
        const char *const listed[] = { plain, NULL };
        UffdShimNativeSource src;

        g_assert_true (uffd_shim_hook_emulator_is_native_cached (plain, listed, cache, &src));
        g_assert_cmpint (src, ==, UFFD_SHIM_NATIVE_FROM_LIST);
    }
    expect (cache, NULL, FALSE, UFFD_SHIM_NATIVE_NO_FILE);
    expect (cache, "relative/qemu", FALSE, UFFD_SHIM_NATIVE_NO_FILE);
    expect (cache, "/nonexistent/qemu", FALSE, UFFD_SHIM_NATIVE_NO_FILE);
    expect (cache, settled_dir, FALSE, UFFD_SHIM_NATIVE_NO_FILE);
    /* Without a cache directory every call reads the file. */
    expect (NULL, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (NULL, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
}

/* A native binary replaced (rename, as a package upgrade does) by a plain one. */
static void
test_replaced_by_rename (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *target = bin_path ("swap-target");
    g_autofree char *plain = bin_path ("swap-plain");
    struct stat a, b;

    if (!is_root ())
        return;
    expect (cache, target, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, target, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
    g_assert_cmpint (stat (target, &a), ==, 0);
    g_assert_cmpint (stat (plain, &b), ==, 0);
    g_assert_cmpint (a.st_size, ==, b.st_size);
    g_assert_cmpint (rename (plain, target), ==, 0);
    expect (cache, target, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    /* rename() set the file's ctime: read again until it settles. */
    expect (cache, target, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    g_assert_cmpint (cache_entries (cache), ==, 1);
}

/* Rewritten in place, same size, mtime put back: only ctime tells. */
static void
test_rewritten_in_place (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *path = bin_path ("inplace");
    g_autofree guint8 *plain = g_malloc (BIN_SIZE);
    struct stat before, after;
    struct timespec times[2];
    int fd;

    if (!is_root ())
        return;
    expect (cache, path, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, path, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
    g_assert_cmpint (stat (path, &before), ==, 0);
    for (gsize i = 0; i < BIN_SIZE; i++)
        plain[i] = (guint8) (i * 13 + 7);
    fd = open (path, O_WRONLY | O_CLOEXEC);
    g_assert_cmpint (fd, >=, 0);
    g_assert_cmpint (pwrite (fd, plain, BIN_SIZE, 0), ==, (gssize) BIN_SIZE);
    times[0] = before.st_atim;
    times[1] = before.st_mtim;
    g_assert_cmpint (futimens (fd, times), ==, 0);
    close (fd);
    g_assert_cmpint (stat (path, &after), ==, 0);
    g_assert_cmpint (after.st_ino, ==, before.st_ino);
    g_assert_cmpint (after.st_size, ==, before.st_size);
    g_assert_cmpint (after.st_mtim.tv_sec, ==, before.st_mtim.tv_sec);
    g_assert_cmpint (after.st_mtim.tv_nsec, ==, before.st_mtim.tv_nsec);
    expect (cache, path, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    /* Just changed: not stored until it settles, read every time. */
    expect (cache, path, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    g_assert_cmpint (cache_entries (cache), ==, 1);
}

static void
test_unsettled (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *path = bin_path ("fresh");
    g_autofree char *file = cache_file (cache);

    if (!is_root ())
        return;
    write_binary (path, TRUE, 3);
    expect (cache, path, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, path, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));
}

/* A directory we do not trust is neither read nor written. */
static void
check_dir_ignored (const char *cache)
{
    g_autofree char *native = bin_path ("native-a");
    g_autofree char *file = cache_file (cache);

    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));
}

static void
test_untrusted_dir (void)
{
    g_autofree char *open_dir = new_cache_dir ();
    g_autofree char *foreign = new_cache_dir ();
    g_autofree char *group = new_cache_dir ();
    g_autofree char *target = new_cache_dir ();
    g_autofree char *link = new_cache_dir ();
    g_autofree char *target_file = NULL;

    if (!is_root ())
        return;
    g_assert_cmpint (mkdir (open_dir, 0700), ==, 0);
    g_assert_cmpint (chmod (open_dir, 0755), ==, 0);
    check_dir_ignored (open_dir);
    g_assert_cmpint (mkdir (group, 0700), ==, 0);
    g_assert_cmpint (chmod (group, 0730), ==, 0);
    check_dir_ignored (group);
    g_assert_cmpint (mkdir (foreign, 0700), ==, 0);
    g_assert_cmpint (chown (foreign, 65534, 65534), ==, 0);
    check_dir_ignored (foreign);
    /* A symlink to a good directory is not followed. */
    g_assert_cmpint (mkdir (target, 0700), ==, 0);
    g_assert_cmpint (symlink (target, link), ==, 0);
    check_dir_ignored (link);
    target_file = cache_file (target);
    g_assert_false (g_file_test (target_file, G_FILE_TEST_EXISTS));
}

/* A cache file we do not trust is ignored (and replaced by a good one). */
static void
test_untrusted_file (void)
{
    g_autofree char *native = bin_path ("native-a");
    g_autofree char *plain = bin_path ("plain-a");
    g_autofree char *good = new_cache_dir ();
    g_autofree char *good_file = cache_file (good);
    g_autofree char *data = NULL;
    gsize len;

    if (!is_root ())
        return;
    expect (good, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (good, plain, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    g_assert_true (g_file_get_contents (good_file, &data, &len, NULL));
    for (int variant = 0; variant < 5; variant++) {
        g_autofree char *cache = new_cache_dir ();
        g_autofree char *file = cache_file (cache);
        g_autofree char *elsewhere = g_strconcat (file, ".elsewhere", NULL);

        g_assert_cmpint (mkdir (cache, 0700), ==, 0);
        switch (variant) {
        case 0: /* readable by others */
            put_file (file, data, len, 0644);
            break;
        case 1: /* group-writable */
            put_file (file, data, len, 0620);
            break;
        case 2: /* not root's */
            put_file (file, data, len, 0600);
            g_assert_cmpint (chown (file, 65534, 65534), ==, 0);
            break;
        case 3: /* a symlink to a good cache file */
            put_file (elsewhere, data, len, 0600);
            g_assert_cmpint (symlink (elsewhere, file), ==, 0);
            break;
        case 4: /* a second name of another file */
            put_file (elsewhere, data, len, 0600);
            g_assert_cmpint (link (elsewhere, file), ==, 0);
            break;
        }
        expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
        /* Replaced by a file of our own: now it counts. */
        expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
        g_assert_cmpint (cache_entries (cache), ==, 1);
        g_unlink (elsewhere);
    }
}

/* Corrupt contents never make a plain binary native. */
static void
test_corrupt (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *file = cache_file (cache);
    g_autofree char *plain = bin_path ("plain-a");
    g_autofree char *native = bin_path ("native-a");
    g_autofree char *data = NULL;
    UffdShimNativeEntry e;
    struct stat st;
    gsize len;
    static const char garbage[] = "not a cache file at all";

    if (!is_root ())
        return;
    g_assert_cmpint (mkdir (cache, 0700), ==, 0);
    put_file (file, garbage, sizeof garbage, 0600);
    expect (cache, plain, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, plain, FALSE, UFFD_SHIM_NATIVE_FROM_CACHE);
    /* An entry for exactly this file that says "native", with a checksum
     * that does not match (as a torn or bit-flipped file would have it). */
    g_assert_cmpint (stat (plain, &st), ==, 0);
    uffd_shim_native_entry_from_stat (&st, &e);
    e.native = 0;
    {
        g_autoptr (GBytes) b = uffd_shim_native_cache_format (&e, 1);

        len = g_bytes_get_size (b);
        data = g_memdup2 (g_bytes_get_data (b, NULL), len);
    }
    data[24 + offsetof (UffdShimNativeEntry, native)] = 1;
    put_file (file, data, len, 0600);
    expect (cache, plain, FALSE, UFFD_SHIM_NATIVE_FROM_SCAN);
    /* Truncated. */
    put_file (file, data, len - 8, 0600);
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    expect (cache, native, TRUE, UFFD_SHIM_NATIVE_FROM_CACHE);
}

static void
test_bounded (void)
{
    g_autofree char *cache = new_cache_dir ();
    g_autofree char *file = cache_file (cache);
    struct stat st;

    if (!is_root ())
        return;
    for (guint i = 0; i < N_MANY; i++) {
        g_autofree char *name = g_strdup_printf ("many-%02u", i);
        g_autofree char *path = bin_path (name);

        expect (cache, path, i % 3 == 0, UFFD_SHIM_NATIVE_FROM_SCAN);
        g_assert_cmpint (stat (file, &st), ==, 0);
        g_assert_cmpint (st.st_size, <=, CACHE_BYTES (UFFD_SHIM_NATIVE_CACHE_MAX));
    }
    g_assert_cmpint (cache_entries (cache), ==, UFFD_SHIM_NATIVE_CACHE_MAX);
    /* The newest are kept, the oldest went first. */
    for (guint i = N_MANY; i-- > 0;) {
        g_autofree char *name = g_strdup_printf ("many-%02u", i);
        g_autofree char *path = bin_path (name);

        if (i >= N_MANY - UFFD_SHIM_NATIVE_CACHE_MAX)
            expect (cache, path, i % 3 == 0, UFFD_SHIM_NATIVE_FROM_CACHE);
    }
    {
        g_autofree char *path = bin_path ("many-00");

        expect (cache, path, TRUE, UFFD_SHIM_NATIVE_FROM_SCAN);
    }
}

/* Creates the binaries and waits until they have settled. */
static void
make_settled_files (void)
{
    g_autoptr (GError) error = NULL;
    const struct { const char *name; gboolean native; } files[] = {
        { "native-a", TRUE }, { "plain-a", FALSE }, { "swap-target", TRUE },
        { "swap-plain", FALSE }, { "inplace", TRUE },
    };

    settled_dir = g_dir_make_tmp ("native-cache-XXXXXX", &error);
    g_assert_no_error (error);
    for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
        g_autofree char *path = bin_path (files[i].name);

        write_binary (path, files[i].native, (guint8) i);
    }
    for (guint i = 0; i < N_MANY; i++) {
        g_autofree char *name = g_strdup_printf ("many-%02u", i);
        g_autofree char *path = bin_path (name);

        write_binary (path, i % 3 == 0, (guint8) (100 + i));
    }
    if (geteuid () == 0)
        g_usleep ((UFFD_SHIM_NATIVE_CACHE_SETTLE_S + 1) * G_USEC_PER_SEC);
}

static void
remove_tree (const char *path)
{
    g_autoptr (GDir) d = NULL;
    const char *name;
    struct stat st;

    if (lstat (path, &st) < 0)
        return;
    if (!S_ISDIR (st.st_mode)) {
        g_assert_cmpint (unlink (path), ==, 0);
        return;
    }
    d = g_dir_open (path, 0, NULL);
    while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
        g_autofree char *p = g_build_filename (path, name, NULL);

        remove_tree (p);
    }
    g_assert_cmpint (rmdir (path), ==, 0);
}

int
main (int argc, char **argv)
{
    int rc;

    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/native-cache/format/roundtrip", test_format_roundtrip);
    g_test_add_func ("/native-cache/format/rejects", test_format_rejects);
    g_test_add_func ("/native-cache/key/same-file", test_same_file);
    g_test_add_func ("/native-cache/hit-and-miss", test_hit_and_miss);
    g_test_add_func ("/native-cache/replaced-by-rename", test_replaced_by_rename);
    g_test_add_func ("/native-cache/rewritten-in-place", test_rewritten_in_place);
    g_test_add_func ("/native-cache/unsettled", test_unsettled);
    g_test_add_func ("/native-cache/untrusted-dir", test_untrusted_dir);
    g_test_add_func ("/native-cache/untrusted-file", test_untrusted_file);
    g_test_add_func ("/native-cache/corrupt", test_corrupt);
    g_test_add_func ("/native-cache/bounded", test_bounded);
    make_settled_files ();
    rc = g_test_run ();
    remove_tree (settled_dir);
    g_free (settled_dir);
    return rc;
}
