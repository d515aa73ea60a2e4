/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What libvirt recorded about a running domain: pid file, its lock owner, status XML. */
/*
 * libvirt (9.0 .. 11.x) starts QEMU like this: the forked child writes its
 * pid into RUNDIR/NAME.pid and takes an fcntl write lock on it, then execs
 * QEMU with that fd still open, so the QEMU process itself owns the lock for
 * its whole life. The daemon then writes RUNDIR/NAME.xml, <domstatus pid=..>
 * holding the full domain definition, before QEMU is allowed to run. Both
 * files are root-owned and not writable by the QEMU user. A peer is "the QEMU
 * of domain NAME" when the pid file names it, it holds the lock, and the
 * status XML names it too; the grant's UUID must match the status XML's.
 */
#include "libvirt-record.h"

#include <gio/gio.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "grants.h"

gboolean
uffd_shim_parse_pidfile (const char *buf, gsize len, pid_t *pid)
{
    char tmp[32];
    guint64 v;

    while (len > 0 && (buf[len - 1] == '\n'))
        len--;
    if (len == 0 || len >= sizeof tmp)
        return FALSE;
    memcpy (tmp, buf, len);
    tmp[len] = '\0';
    if (!g_ascii_string_to_unsigned (tmp, 10, 1, G_MAXINT32, &v, NULL))
        return FALSE;
    *pid = (pid_t) v;
    return TRUE;
}

static int
open_root_file (const char *run_dir, const char *name, const char *suffix, struct stat *st,
                GError **error)
{
    g_autofree char *path = g_strdup_printf ("%s/%s%s", run_dir, name, suffix);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", path,
                     g_strerror (errno));
        return -1;
    }
    if (fstat (fd, st) < 0 || !S_ISREG (st->st_mode) || st->st_uid != 0 ||
        (st->st_mode & 0022)) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                     "%s: not a root-owned regular file writable only by root", path);
        close (fd);
        return -1;
    }
    return fd;
}

gboolean
uffd_shim_libvirt_read_pidfile (const char *run_dir, const char *name, UffdShimLibvirtRecord *rec,
                                GError **error)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    struct stat st;
    char buf[32];
    ssize_t n;
    int fd = open_root_file (run_dir, name, ".pid", &st, error);

    if (fd < 0)
        return FALSE;
    n = pread (fd, buf, sizeof buf, 0);
    if (n <= 0 || !uffd_shim_parse_pidfile (buf, (gsize) n, &rec->pidfile_pid)) {
        close (fd);
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s/%s.pid: no pid", run_dir, name);
        return FALSE;
    }
    /* F_GETLK reports the pid of the process holding a conflicting lock. */
    if (fcntl (fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK) {
        close (fd);
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s/%s.pid: not locked",
                     run_dir, name);
        return FALSE;
    }
    rec->lock_pid = fl.l_pid;
    close (fd);
    return TRUE;
}

static xmlNode *
child (xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual (c->name, BAD_CAST name))
            return c;
    return NULL;
}

gboolean
uffd_shim_parse_status_xml (const char *buf, gsize len, UffdShimLibvirtRecord *rec, GError **error)
{
    xmlDoc *doc;
    xmlNode *root, *dom, *node;
    xmlChar *pid = NULL, *uuid = NULL, *name = NULL;
    guint64 v = 0;
    gboolean ok = FALSE;

    if (len == 0 || len > UFFD_SHIM_STATUS_XML_MAX) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "status XML size %zu", len);
        return FALSE;
    }
    /* No entity substitution, no DTD loading, no network. */
    doc = xmlReadMemory (buf, (int) len, "status.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "status XML is not well-formed");
        return FALSE;
    }
    root = xmlDocGetRootElement (doc);
    if (doc->intSubset || !root || !xmlStrEqual (root->name, BAD_CAST "domstatus") ||
        !(dom = child (root, "domain"))) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "status XML is not <domstatus>");
        goto out;
    }
    pid = xmlGetNoNsProp (root, BAD_CAST "pid");
    node = child (dom, "uuid");
    uuid = node ? xmlNodeGetContent (node) : NULL;
    node = child (dom, "name");
    name = node ? xmlNodeGetContent (node) : NULL;
    if (!pid || !g_ascii_string_to_unsigned ((char *) pid, 10, 1, G_MAXINT32, &v, NULL) ||
        !uuid || !uffd_shim_uuid_parse (g_strstrip ((char *) uuid), rec->uuid) || !name ||
        strlen ((char *) name) >= sizeof rec->name) {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "status XML lacks a valid pid, name or uuid");
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

gboolean
uffd_shim_libvirt_read_status (const char *run_dir, const char *name, UffdShimLibvirtRecord *rec,
                               GError **error)
{
    struct stat st;
    g_autofree char *buf = NULL;
    gsize off = 0;
    int fd = open_root_file (run_dir, name, ".xml", &st, error);

    if (fd < 0)
        return FALSE;
    if (st.st_size <= 0 || st.st_size > UFFD_SHIM_STATUS_XML_MAX) {
        close (fd);
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s/%s.xml: bad size", run_dir, name);
        return FALSE;
    }
    buf = g_malloc ((gsize) st.st_size);
    while (off < (gsize) st.st_size) {
        ssize_t n = pread (fd, buf + off, (gsize) st.st_size - off, (off_t) off);
        if (n <= 0)
            break;
        off += (gsize) n;
    }
    close (fd);
    return uffd_shim_parse_status_xml (buf, off, rec, error);
}
