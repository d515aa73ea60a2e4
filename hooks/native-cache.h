/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hook's cache of "does this emulator binary carry the native marker", keyed by file identity. */
#ifndef UFFD_SHIM_NATIVE_CACHE_H
#define UFFD_SHIM_NATIVE_CACHE_H

#include <glib.h>
#include <sys/stat.h>

/* Where the hook keeps the cache: root's, on tmpfs (gone at reboot). */
#define UFFD_SHIM_NATIVE_CACHE_DIR "/run/uffd-shim-hook"
/* The file inside it. */
#define UFFD_SHIM_NATIVE_CACHE_FILE "native-marker"
/* Most emulators remembered; the oldest entry goes first. */
#define UFFD_SHIM_NATIVE_CACHE_MAX 32u
/* An answer is stored only for a file unchanged for this long (seconds):
 * see native-cache.c on coarse timestamps. */
#define UFFD_SHIM_NATIVE_CACHE_SETTLE_S 2

/* One cache entry: the identity of a file and its answer (on the wire: the
 * cache file is host-local, native byte order). */
typedef struct {
    guint64 dev, ino, size;
    gint64 mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
    guint32 native;   /* 0 or 1 */
    guint32 reserved; /* 0 */
} UffdShimNativeEntry;

G_STATIC_ASSERT (sizeof (UffdShimNativeEntry) == 64);

/* The identity of the file @st describes (native = reserved = 0). */
void uffd_shim_native_entry_from_stat (const struct stat *st, UffdShimNativeEntry *e);

/* Do @a and @b name the same file content (device, inode, size, mtime, ctime)? */
gboolean uffd_shim_native_entry_same_file (const UffdShimNativeEntry *a,
                                           const UffdShimNativeEntry *b);

/*
 * Parses the cache file's contents (@len bytes). Pure. FALSE for anything
 * but an exact, consistent file: magic, version, count <=
 * UFFD_SHIM_NATIVE_CACHE_MAX, length, checksum, every native 0 or 1 and
 * reserved 0. On success @entries (room for UFFD_SHIM_NATIVE_CACHE_MAX)
 * holds *n entries, newest first.
 */
gboolean uffd_shim_native_cache_parse (const guint8 *data, gsize len,
                                       UffdShimNativeEntry *entries, guint *n);

/* The file contents for @n (<= UFFD_SHIM_NATIVE_CACHE_MAX) entries, newest first. */
GBytes *uffd_shim_native_cache_format (const UffdShimNativeEntry *entries, guint n);

typedef enum {
    UFFD_SHIM_NATIVE_FROM_LIST = 0, /* named in [hook] native-emulators */
    UFFD_SHIM_NATIVE_FROM_CACHE,    /* a cache entry matched the opened file */
    UFFD_SHIM_NATIVE_FROM_SCAN,     /* the file was read */
    UFFD_SHIM_NATIVE_NO_FILE,       /* no path, or not a readable regular file of bounded size */
} UffdShimNativeSource;

/*
 * uffd_shim_hook_emulator_is_native() with the marker answer cached in
 * @cache_dir (NULL: no cache, always read the file). The emulator is opened
 * once; a cache entry counts only if it matches a fresh fstat() of that
 * open file. Without a usable entry (no cache, cache directory or file not
 * root's own and private, malformed, no match) the file is read, and the
 * answer stored for a file that has settled. Failing to store it is not an
 * error. *@source (may be NULL) says where the answer came from.
 */
gboolean uffd_shim_hook_emulator_is_native_cached (const char *emulator,
                                                   const char *const *native_emulators,
                                                   const char *cache_dir,
                                                   UffdShimNativeSource *source);

#endif /* UFFD_SHIM_NATIVE_CACHE_H */
