/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What libvirt recorded about a running domain: pid file, its lock owner, status XML. */
/*
 * Theory of operation
 * -------------------
 * libvirt (9.0 .. 11.x) starts QEMU like this: the forked child writes its
 * pid into RUNDIR/NAME.pid and takes an fcntl write lock on it, then execs
 * QEMU with that fd still open, so the QEMU process itself owns the lock for
 * its whole life. The daemon then writes RUNDIR/NAME.xml, <domstatus pid=..>
 * holding the full domain definition, before QEMU is allowed to run. Both
 * files are root-owned and not writable by the QEMU user. A peer is "the QEMU
 * of domain NAME" when the pid file names it, it holds the lock, and the
 * status XML names it too; the grant's UUID must match the status XML's.
 *
 * Whether that QEMU is receiving an incoming migration is in the same file:
 * libvirt starts the "migration in" async job on the destination before it
 * starts QEMU and records it in every status XML it writes while the job
 * lasts, <job type='none' async='migration in' phase='...'/> as a child of
 * <domstatus> (libvirt 9.0 and 11.3; tests/e2e/test-e2e-lifecycle.sh and
 * tests/newer-stack check the broker's reading of it). The job is gone
 * once the migration has finished (the domain runs) or failed (QEMU is
 * killed and the files removed).
 *
 * The status XML is read as every libvirt XML is (libvirt-xml.c: size cap,
 * pre-scan, libxml2 without DTDs, entities or network, depth limit), at
 * most UFFD_SHIM_STATUS_XML_MAX bytes. What is taken: the root element
 * <domstatus> in no namespace with its pid attribute, its first child
 * element <domain> in no namespace, and the full text of that element's
 * first <name> and first <uuid> in no namespace (the UUID in canonical form,
 * white space around it ignored); and whether its first child element <job>
 * in no namespace has async="migration in". backend.c takes the vhost-user
 * sockets from the same <domain>.
 *
 * A real status XML is tens of kilobytes, and parsing it per request was the
 * largest cost of a hand-out; so the record parsed last is kept with the
 * grant (UffdShimStatusCache) and used again only when the file, its owner
 * and mode checked as on every request (by lstat(), or by fstat() once
 * opened), is the same version (device, inode, size, mtime and ctime) and
 * the request comes from the pid that record names. That is enough: libvirt
 * replaces NAME.xml (a new file, renamed over the old one) whenever the
 * domain's state changes, so a new version has a new inode; an in-place
 * write changes the ctime, which nobody can set (two in-place rewrites of
 * the same size within one clock tick would not show; only root can write
 * the file and libvirt never does so). A request from any other process (a
 * new QEMU of the domain, a stranger) re-reads the file, and of the fields
 * kept pid, name and UUID cannot change while that pid lives; the migration
 * job changes only with a new version (libvirt saves the status XML at every
 * job change).
 */
#include "libvirt-record.h"

#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/tree.h>

#include "grants.h"
#include "libvirt-xml.h"
#include "shim-error.h"

static const UffdShimXmlKind status_xml = {
    .what = "status XML",
    .root = "domstatus",
    .max_size = UFFD_SHIM_STATUS_XML_MAX,
};

/* Whether @st is a root-owned regular file writable only by root. */
static gboolean
root_file_ok (const struct stat *st)
{
    return S_ISREG (st->st_mode) && st->st_uid == 0 && !(st->st_mode & 0022);
}

/* #syscalls: open openat fstat newfstatat statx close */
static int
open_root_file (const char *run_dir, const char *name, const char *suffix, struct stat *st,
                GError **error)
{
    g_autofree char *path = g_strdup_printf ("%s/%s%s", run_dir, name, suffix);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "%s: %s", path,
                     g_strerror (errno));
        return -1;
    }
    if (fstat (fd, st) < 0 || !root_file_ok (st)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "%s: not a root-owned regular file writable only by root", path);
        close (fd);
        return -1;
    }
    return fd;
}

/* #syscalls: pread64 close */
gboolean
uffd_shim_libvirt_read_pidfile (const char *run_dir, const char *name, UffdShimLibvirtRecord *rec,
                                GError **error)
{
    struct stat st;
    char buf[32];
    ssize_t n;
    int fd = open_root_file (run_dir, name, ".pid", &st, error);

    if (fd < 0)
        return FALSE;
    n = pread (fd, buf, sizeof buf, 0);
    if (n <= 0 || !uffd_shim_parse_pidfile (buf, (gsize) n, &rec->pidfile_pid)) {
        close (fd);
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s/%s.pid: no pid", run_dir, name);
        return FALSE;
    }
    if (uffd_shim_pidfile_lock_owner (fd, &rec->lock_pid) < 0 || rec->lock_pid == 0) {
        close (fd);
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s/%s.pid: not locked",
                     run_dir, name);
        return FALSE;
    }
    close (fd);
    return TRUE;
}

xmlDoc *
uffd_shim_status_xml_read (const char *buf, gsize len, xmlNode **domain, GError **error)
{
    xmlDoc *doc = uffd_shim_xml_read (&status_xml, buf, len, error);

    if (doc && !(*domain = uffd_shim_xml_child (xmlDocGetRootElement (doc), "domain"))) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                             "status XML has no <domain>");
        xmlFreeDoc (doc);
        return NULL;
    }
    return doc;
}

/* What is taken: see the theory above. */
gboolean
uffd_shim_parse_status_xml (const char *buf, gsize len, UffdShimLibvirtRecord *rec, GError **error)
{
    xmlDoc *doc;
    xmlNode *root, *dom, *node;
    xmlChar *pid = NULL, *uuid = NULL, *name = NULL;
    guint64 v = 0;
    gboolean ok = FALSE;

    doc = uffd_shim_status_xml_read (buf, len, &dom, error);
    if (!doc)
        return FALSE;
    root = xmlDocGetRootElement (doc);
    pid = xmlGetNoNsProp (root, BAD_CAST "pid");
    node = uffd_shim_xml_child (dom, "uuid");
    uuid = node ? xmlNodeGetContent (node) : NULL;
    node = uffd_shim_xml_child (dom, "name");
    name = node ? xmlNodeGetContent (node) : NULL;
    node = uffd_shim_xml_child (root, "job");
    if (node) {
        xmlChar *async = xmlGetNoNsProp (node, BAD_CAST "async");
        rec->incoming = async && xmlStrEqual (async, BAD_CAST "migration in");
        xmlFree (async);
    } else {
        rec->incoming = FALSE;
    }
    if (!pid || !g_ascii_string_to_unsigned ((char *) pid, 10, 1, G_MAXINT32, &v, NULL) ||
        !uuid || !uffd_shim_uuid_parse (g_strstrip ((char *) uuid), rec->uuid) || !name ||
        strlen ((char *) name) >= sizeof rec->name) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "status XML lacks a valid pid, name or uuid");
        goto out;
    }
    rec->status_pid = (pid_t) v;
    g_strlcpy (rec->name, (char *) name, sizeof rec->name);
    ok = TRUE;
out:
    xmlFree (pid);
    xmlFree (uuid);
    xmlFree (name);
    xmlFreeDoc (doc);
    return ok;
}

/* #syscalls: pread64 */
/* The whole status XML open on @fd (of size @st), NUL-terminated. */
static char *
read_status_fd (int fd, const struct stat *st, const char *run_dir, const char *name, gsize *len,
                GError **error)
{
    char *buf;
    gsize off = 0;

    if (st->st_size <= 0 || st->st_size > UFFD_SHIM_STATUS_XML_MAX) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s/%s.xml: bad size", run_dir, name);
        return NULL;
    }
    buf = g_malloc ((gsize) st->st_size + 1);
    while (off < (gsize) st->st_size) {
        ssize_t n = pread (fd, buf + off, (gsize) st->st_size - off, (off_t) off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (gsize) n;
    }
    buf[off] = '\0';
    *len = off;
    return buf;
}

char *
uffd_shim_libvirt_read_status (const char *run_dir, const char *name, gsize *len, GError **error)
{
    struct stat st;
    int fd = open_root_file (run_dir, name, ".xml", &st, error);
    char *buf;

    if (fd < 0)
        return NULL;
    buf = read_status_fd (fd, &st, run_dir, name, len, error);
    close (fd);
    return buf;
}

static gboolean
same_version (const UffdShimStatusCache *c, const struct stat *st)
{
    return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
           c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           c->ctime.tv_sec == st->st_ctim.tv_sec && c->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* The fields of a status record into @rec. */
static void
copy_status (UffdShimLibvirtRecord *rec, const UffdShimLibvirtRecord *from)
{
    rec->status_pid = from->status_pid;
    rec->incoming = from->incoming;
    memcpy (rec->uuid, from->uuid, sizeof rec->uuid);
    memcpy (rec->name, from->name, sizeof rec->name);
}

/* When the cached record may be used: see the theory above. Whether the
 * file is still that version takes one lstat() (the same checks open_root_file
 * makes, a symbolic link being no regular file); only another version is
 * opened and read. */
/* #syscalls: newfstatat (lstat) */
gboolean
uffd_shim_libvirt_read_status_cached (const char *run_dir, const char *name, pid_t pid,
                                      UffdShimStatusCache **cache, UffdShimLibvirtRecord *rec,
                                      GError **error)
{
    g_autofree char *path = g_strdup_printf ("%s/%s.xml", run_dir, name);
    g_autofree char *buf = NULL;
    UffdShimStatusCache *c = *cache;
    UffdShimLibvirtRecord fresh = { 0 };
    struct stat st;
    gsize len = 0;
    int fd;

    if (c && c->rec.status_pid == pid && lstat (path, &st) == 0 && root_file_ok (&st) &&
        same_version (c, &st)) {
        c->hits++;
        copy_status (rec, &c->rec);
        return TRUE;
    }
    fd = open_root_file (run_dir, name, ".xml", &st, error);
    if (fd >= 0) {
        buf = read_status_fd (fd, &st, run_dir, name, &len, error);
        close (fd);
    }
    if (!buf || !uffd_shim_parse_status_xml (buf, len, &fresh, error)) {
        g_clear_pointer (cache, g_free);
        return FALSE;
    }
    if (!c)
        c = *cache = g_new0 (UffdShimStatusCache, 1);
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->size = st.st_size;
    c->mtime = st.st_mtim;
    c->ctime = st.st_ctim;
    c->rec = fresh;
    copy_status (rec, &fresh);
    return TRUE;
}
