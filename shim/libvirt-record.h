/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What libvirt recorded about a running domain: pid file, its lock owner, status XML. */
#ifndef UFFD_SHIM_LIBVIRT_RECORD_H
#define UFFD_SHIM_LIBVIRT_RECORD_H

#include <glib.h>
#include <sys/types.h>
#include <time.h>
#include <libxml/tree.h>
#include "facts.h"
#include "uffd-shim-proto.h"

typedef struct {
    pid_t pidfile_pid;   /* contents of RUNDIR/NAME.pid */
    pid_t lock_pid;      /* owner of the fcntl lock on it (libvirt leaves it with QEMU) */
    pid_t status_pid;    /* <domstatus pid=...> in RUNDIR/NAME.xml */
    gboolean incoming;   /* <domstatus><job async='migration in'>: the domain is
                          * receiving an incoming migration */
    guint8 uuid[UFFD_SHIM_UUID_LEN]; /* <domstatus><domain><uuid> */
    char name[UFFD_SHIM_NAME_MAX];   /* <domstatus><domain><name> */
} UffdShimLibvirtRecord;

/* Largest status XML read, in bytes (a real one is tens of KiB). */
#define UFFD_SHIM_STATUS_XML_MAX (16u << 20)

/* Reads the pid file and its lock owner. Both files must be regular files
 * owned by root, not symlinks. */
gboolean uffd_shim_libvirt_read_pidfile (const char *run_dir, const char *name,
                                         UffdShimLibvirtRecord *rec, GError **error);
/* The status XML's record as last parsed, and which version of the file it
 * came from (see uffd_shim_libvirt_read_status_cached). */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    UffdShimLibvirtRecord rec;
    guint64 hits; /* reads answered from here (for tests and diagnosis) */
} UffdShimStatusCache;

/* Reads and parses the status XML into @rec, for a request from @pid; when the
 * file (checked as always: by lstat(), or fstat() once opened) is the very
 * version parsed last time (same device, inode, size, mtime and ctime) and
 * that parse named @pid, the record in *@cache is used instead of reading
 * and parsing the file again.
 * Otherwise the file is parsed and *@cache (allocated as needed, g_free()
 * it) replaced; on failure it is freed and set to NULL. */
gboolean uffd_shim_libvirt_read_status_cached (const char *run_dir, const char *name, pid_t pid,
                                               UffdShimStatusCache **cache,
                                               UffdShimLibvirtRecord *rec, GError **error);

/* The whole of RUNDIR/NAME.xml, NUL-terminated (g_free), its length in
 * *@len; it must be a root-owned regular file writable only by root, not a
 * symlink, of at most UFFD_SHIM_STATUS_XML_MAX bytes. */
char *uffd_shim_libvirt_read_status (const char *run_dir, const char *name, gsize *len,
                                     GError **error);

/* Pure parsers. */
gboolean uffd_shim_parse_status_xml (const char *buf, gsize len, UffdShimLibvirtRecord *rec,
                                     GError **error);
/* The status XML @buf read the one way (libvirt-xml.c: errors in
 * UFFD_SHIM_XML_ERROR): its tree (xmlFreeDoc), whose root is <domstatus>, and
 * in *@domain that root's first <domain> child in no namespace. */
xmlDoc *uffd_shim_status_xml_read (const char *buf, gsize len, xmlNode **domain, GError **error);

#endif
