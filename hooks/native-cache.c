/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hook's cache of "does this emulator binary carry the native marker", keyed by file identity. */
/*
 * Theory of operation
 * -------------------
 * Whether a QEMU asks the broker natively is found by reading its binary
 * for UFFD_SHIM_NATIVE_MARKER (hook-policy.c): 18 MB for Debian's
 * qemu-system-x86_64, about half of what `migrate begin` cost. The answer
 * depends only on the file's content, so the hook remembers it per file.
 *
 * Key. The emulator is opened once (as before, O_NONBLOCK, regular files of
 * bounded size only) and fstat()ed; the key is that open file's device,
 * inode, size, mtime and ctime (nanoseconds). An entry is used only when all
 * of them equal the fresh fstat(), never by path: a binary replaced by
 * rename (a package upgrade) has another inode, one rewritten in place a new
 * mtime and ctime, and ctime cannot be set from user space at all (utimensat
 * restoring mtime still moves ctime). Only a clock set backwards by root can
 * make a rewritten file repeat an old ctime.
 *
 * Coarse timestamps. The kernel stamps mtime/ctime from a clock that ticks
 * every few milliseconds, so two writes within one tick leave the same
 * ctime: content read just after a write could change again without the key
 * changing. So an answer is stored only when the file has not changed for
 * UFFD_SHIM_NATIVE_CACHE_SETTLE_S seconds and its key is the same after the
 * read as before it; a file being written is simply read every time.
 *
 * Where. UFFD_SHIM_NATIVE_CACHE_DIR (tmpfs, so nothing outlives a reboot,
 * when device numbers may be handed out anew), created 0700 by the hook,
 * which runs as root. The directory and the file are used only if they are
 * root's, not a symlink, and neither group nor others have any access; the
 * file must be a regular file with one link and the exact size its header
 * announces (at most UFFD_SHIM_NATIVE_CACHE_MAX entries of 64 bytes), every
 * field in range and the checksum right. Anything else, and any error on the
 * way, means "no cache": the binary is read, as without one. A wrong "not
 * native" costs a needless preload; a wrong "native" a failed postcopy, so
 * the cache is never trusted beyond an exact match.
 *
 * Writers. Hooks of concurrent migrations may miss at the same time: each
 * writes a private temporary file (pid in its name, O_EXCL) and rename()s it
 * over the cache, so a reader sees an old or a new file, never a mix; the
 * last writer wins and an answer lost that way is read again next time.
 */
#include "native-cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hook-policy.h"
#include "wire.h"

#define CACHE_MAGIC "UFSNMC01"
#define CACHE_VERSION 1u

typedef struct {
    char magic[8];
    guint32 version;
    guint32 count;
    guint64 checksum; /* FNV-1a 64 over count and the entries */
} CacheHeader;

G_STATIC_ASSERT (sizeof (CacheHeader) == 24);
G_STATIC_ASSERT (sizeof CACHE_MAGIC - 1 == sizeof ((CacheHeader *) 0)->magic);

#define CACHE_MAX_BYTES (sizeof (CacheHeader) + \
                         UFFD_SHIM_NATIVE_CACHE_MAX * sizeof (UffdShimNativeEntry))

static void
close_fd_p (int *fd)
{
    if (*fd >= 0)
        close (*fd);
}
#define autofd __attribute__ ((cleanup (close_fd_p)))

void
uffd_shim_native_entry_from_stat (const struct stat *st, UffdShimNativeEntry *e)
{
    memset (e, 0, sizeof *e);
    e->dev = (guint64) st->st_dev;
    e->ino = (guint64) st->st_ino;
    e->size = (guint64) st->st_size;
    e->mtime_sec = st->st_mtim.tv_sec;
    e->mtime_nsec = st->st_mtim.tv_nsec;
    e->ctime_sec = st->st_ctim.tv_sec;
    e->ctime_nsec = st->st_ctim.tv_nsec;
}

gboolean
uffd_shim_native_entry_same_file (const UffdShimNativeEntry *a, const UffdShimNativeEntry *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

static guint64
checksum (guint32 count, const UffdShimNativeEntry *entries)
{
    guint64 h = G_GUINT64_CONSTANT (0xcbf29ce484222325);
    const guint8 *p = (const guint8 *) &count;

    for (gsize i = 0; i < sizeof count; i++)
        h = (h ^ p[i]) * G_GUINT64_CONSTANT (0x100000001b3);
    p = (const guint8 *) entries;
    for (gsize i = 0; i < count * sizeof *entries; i++)
        h = (h ^ p[i]) * G_GUINT64_CONSTANT (0x100000001b3);
    return h;
}

gboolean
uffd_shim_native_cache_parse (const guint8 *data, gsize len, UffdShimNativeEntry *entries,
                              guint *n)
{
    CacheHeader hdr;

    *n = 0;
    if (data == NULL || len < sizeof hdr || len > CACHE_MAX_BYTES)
        return FALSE;
    memcpy (&hdr, data, sizeof hdr);
    if (memcmp (hdr.magic, CACHE_MAGIC, sizeof hdr.magic) != 0 || hdr.version != CACHE_VERSION ||
        hdr.count > UFFD_SHIM_NATIVE_CACHE_MAX ||
        len != sizeof hdr + (gsize) hdr.count * sizeof *entries)
        return FALSE;
    memcpy (entries, data + sizeof hdr, (gsize) hdr.count * sizeof *entries);
    if (checksum (hdr.count, entries) != hdr.checksum)
        return FALSE;
    for (guint i = 0; i < hdr.count; i++)
        if (entries[i].native > 1 || entries[i].reserved != 0)
            return FALSE;
    *n = hdr.count;
    return TRUE;
}

GBytes *
uffd_shim_native_cache_format (const UffdShimNativeEntry *entries, guint n)
{
    CacheHeader hdr = { .version = CACHE_VERSION };
    GByteArray *out = g_byte_array_sized_new ((guint) CACHE_MAX_BYTES);

    g_return_val_if_fail (n <= UFFD_SHIM_NATIVE_CACHE_MAX, NULL);
    memcpy (hdr.magic, CACHE_MAGIC, sizeof hdr.magic);
    hdr.count = n;
    hdr.checksum = checksum (n, entries);
    g_byte_array_append (out, (const guint8 *) &hdr, sizeof hdr);
    g_byte_array_append (out, (const guint8 *) entries, n * (guint) sizeof *entries);
    return g_byte_array_free_to_bytes (out);
}

/* Root's own, private, not a symlink: the only kind of directory or file we use. */
static gboolean
root_private (const struct stat *st)
{
    return st->st_uid == 0 && (st->st_mode & (S_IRWXG | S_IRWXO)) == 0;
}

/* The cache directory (created when missing), or -1 when it is not one we trust. */
static int
open_cache_dir (const char *dir)
{
    autofd int fd = -1;
    struct stat st;
    int r;

    if (geteuid () != 0 || dir[0] != '/')
        return -1;
    fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir (dir, 0700) < 0 && errno != EEXIST)
            return -1;
        fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 || fstat (fd, &st) < 0 || !S_ISDIR (st.st_mode) || !root_private (&st))
        return -1;
    r = fd;
    fd = -1;
    return r;
}

static gboolean
read_cache (int dirfd, UffdShimNativeEntry *entries, guint *n)
{
    autofd int fd = -1;
    guint8 buf[CACHE_MAX_BYTES];
    struct stat st;
    gsize got = 0;

    *n = 0;
    fd = openat (dirfd, UFFD_SHIM_NATIVE_CACHE_FILE,
                 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || !root_private (&st) ||
        st.st_nlink != 1 || st.st_size < 0 || (gsize) st.st_size > sizeof buf)
        return FALSE;
    while (got < sizeof buf) {
        ssize_t r = read (fd, buf + got, sizeof buf - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return FALSE;
        if (r == 0)
            break;
        got += (gsize) r;
    }
    return got == (gsize) st.st_size && uffd_shim_native_cache_parse (buf, got, entries, n);
}

/* Replaces the cache file with @n entries; errors are ignored (see above). */
static void
write_cache (int dirfd, const UffdShimNativeEntry *entries, guint n)
{
    g_autoptr (GBytes) bytes = uffd_shim_native_cache_format (entries, n);
    g_autofree char *tmp = g_strdup_printf (UFFD_SHIM_NATIVE_CACHE_FILE ".%d.tmp", (int) getpid ());
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    gsize len;
    const guint8 *data = g_bytes_get_data (bytes, &len);
    int fd = openat (dirfd, tmp, flags, 0600);

    if (fd < 0 && errno == EEXIST) {
        /* Left by an earlier hook of the same pid that died before rename(). */
        unlinkat (dirfd, tmp, 0);
        fd = openat (dirfd, tmp, flags, 0600);
    }
    if (fd < 0)
        return;
    if (uffd_shim_write_all (fd, data, len) < 0 || close (fd) < 0 ||
        renameat (dirfd, tmp, dirfd, UFFD_SHIM_NATIVE_CACHE_FILE) < 0)
        unlinkat (dirfd, tmp, 0);
}

/* Unchanged for UFFD_SHIM_NATIVE_CACHE_SETTLE_S (a timestamp in the future is not). */
static gboolean
settled (const struct stat *st)
{
    struct timespec now;
    gint64 latest = MAX ((gint64) st->st_mtim.tv_sec, (gint64) st->st_ctim.tv_sec);

    return clock_gettime (CLOCK_REALTIME, &now) == 0 &&
           (gint64) now.tv_sec - latest >= UFFD_SHIM_NATIVE_CACHE_SETTLE_S;
}

/* @key (with its answer) first, then the entries of other files, oldest dropped. */
static void
store (int dirfd, const UffdShimNativeEntry *key, const UffdShimNativeEntry *old, guint n_old)
{
    UffdShimNativeEntry next[UFFD_SHIM_NATIVE_CACHE_MAX];
    guint n = 0;

    next[n++] = *key;
    for (guint i = 0; i < n_old && n < UFFD_SHIM_NATIVE_CACHE_MAX; i++)
        if (old[i].dev != key->dev || old[i].ino != key->ino)
            next[n++] = old[i];
    write_cache (dirfd, next, n);
}

static void
set_source (UffdShimNativeSource *source, UffdShimNativeSource value)
{
    if (source != NULL)
        *source = value;
}

gboolean
uffd_shim_hook_emulator_is_native_cached (const char *emulator,
                                          const char *const *native_emulators,
                                          const char *cache_dir, UffdShimNativeSource *source)
{
    autofd int fd = -1;
    autofd int dirfd = -1;
    UffdShimNativeEntry key, now, entries[UFFD_SHIM_NATIVE_CACHE_MAX];
    struct stat st;
    guint n = 0;
    gboolean native;

    set_source (source, UFFD_SHIM_NATIVE_NO_FILE);
    if (emulator == NULL)
        return FALSE;
    if (native_emulators != NULL && g_strv_contains (native_emulators, emulator)) {
        set_source (source, UFFD_SHIM_NATIVE_FROM_LIST);
        return TRUE;
    }
    if (emulator[0] != '/')
        return FALSE;
    fd = open (emulator, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) ||
        st.st_size > UFFD_SHIM_NATIVE_SCAN_MAX)
        return FALSE;
    uffd_shim_native_entry_from_stat (&st, &key);
    if (cache_dir != NULL)
        dirfd = open_cache_dir (cache_dir);
    if (dirfd >= 0 && read_cache (dirfd, entries, &n)) {
        for (guint i = 0; i < n; i++) {
            if (uffd_shim_native_entry_same_file (&entries[i], &key)) {
                set_source (source, UFFD_SHIM_NATIVE_FROM_CACHE);
                return entries[i].native == 1;
            }
        }
    }
    native = uffd_shim_hook_fd_has_marker (fd);
    set_source (source, UFFD_SHIM_NATIVE_FROM_SCAN);
    if (dirfd < 0 || fstat (fd, &st) < 0 || !settled (&st))
        return native;
    uffd_shim_native_entry_from_stat (&st, &now);
    if (!uffd_shim_native_entry_same_file (&now, &key))
        return native; /* changed while we read it */
    key.native = native ? 1 : 0;
    store (dirfd, &key, entries, n);
    return native;
}
