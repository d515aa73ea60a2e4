/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost-user back-ends: status XML sockets, fdinfo and sock_diag parsers, the decision, budgets (pure, no I/O). */
/*
 * Theory of operation
 * -------------------
 * A vhost-user back-end (qemu-storage-daemon's vhost-user-blk export, a
 * vhost-user-net switch) creates a userfaultfd of its own for a postcopy
 * migration (VHOST_USER_POSTCOPY_ADVISE; libvhost-user also probes for
 * one whenever QEMU asks for its protocol features). It is not QEMU: no
 * libvirt pid file names it. What ties it to the domain is the socket QEMU
 * connects to: libvirt's status XML of the domain names the socket's path,
 * and the back-end is the process that holds the listening end of the
 * socket bound to that file and the other end of QEMU's connection.
 *
 * The broker learns those facts without asking the back-end anything:
 * the back-end's open files from /proc/PID/fdinfo (mnt_id of the socket
 * file system, inode), each socket's state, bound file (device, inode) and
 * peer from the kernel's sock_diag, the QEMU's sockets likewise, the path
 * from the root-owned status XML, the file behind the path from stat().
 * A process that is connected to the QEMU of another running domain too is
 * shared, and refused unless the operator allowed shared back-ends.
 *
 * This file holds the pure parts: parsers of the three inputs, the
 * decision, and the per-grant budget. backend-facts.c does the I/O.
 */
#include "backend.h"

#include <glib.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <libxml/tree.h>

#include "libvirt-record.h"
#include "libvirt-xml.h"
#include "shim-error.h"

/* ---- status XML --------------------------------------------------------------- */

static gboolean
attr_is (xmlNode *n, const char *name, const char *value)
{
    xmlChar *v = xmlGetNoNsProp (n, BAD_CAST name);
    gboolean eq = v && xmlStrEqual (v, BAD_CAST value);

    xmlFree (v);
    return eq;
}

static gboolean
path_ok (const char *p)
{
    gsize n = strlen (p);

    if (p[0] != '/' || n >= 108)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if ((unsigned char) p[i] < 0x20 || p[i] == 0x7f)
            return FALSE;
    return TRUE;
}

/* <source type='unix' path=P [mode=M]/> of @dev: appends P when it is the
 * socket of a vhost-user device QEMU connects to. */
static gboolean
take_source (xmlNode *dev, gboolean need_client_mode, GPtrArray *paths, GError **error)
{
    xmlNode *src = uffd_shim_xml_child (dev, "source");
    xmlChar *path;
    gboolean ok = TRUE;

    if (!src || !attr_is (src, "type", "unix"))
        return TRUE;
    if (need_client_mode && !attr_is (src, "mode", "client"))
        return TRUE;
    path = xmlGetNoNsProp (src, BAD_CAST "path");
    if (!path)
        return TRUE;
    if (!path_ok ((const char *) path)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "status XML: bad vhost-user socket path");
        ok = FALSE;
    } else if (paths->len >= UFFD_SHIM_BACKEND_SOCKETS_MAX) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "status XML: more than %d vhost-user sockets",
                     UFFD_SHIM_BACKEND_SOCKETS_MAX);
        ok = FALSE;
    } else {
        g_ptr_array_add (paths, g_strdup ((const char *) path));
    }
    xmlFree (path);
    return ok;
}

gboolean
uffd_shim_backend_parse_sockets (const char *buf, gsize len, GPtrArray *paths, GError **error)
{
    xmlNode *dom, *devs;
    xmlDoc *doc = uffd_shim_status_xml_read (buf, len, &dom, error);
    gboolean ok = TRUE;

    if (!doc)
        return FALSE;
    devs = uffd_shim_xml_child (dom, "devices");
    for (xmlNode *d = devs ? devs->children : NULL; d && ok; d = d->next) {
        if (d->type != XML_ELEMENT_NODE || d->ns || !attr_is (d, "type", "vhostuser"))
            continue;
        if (xmlStrEqual (d->name, BAD_CAST "disk"))
            ok = take_source (d, FALSE, paths, error);
        else if (xmlStrEqual (d->name, BAD_CAST "interface"))
            ok = take_source (d, TRUE, paths, error);
    }
    xmlFreeDoc (doc);
    return ok;
}

/* ---- /proc/PID/fdinfo/N --------------------------------------------------------- */

static gboolean
field (const char *line, gsize n, const char *name, guint64 max, guint64 *out)
{
    gsize k = strlen (name);
    char tmp[24];

    if (n <= k || memcmp (line, name, k) != 0)
        return FALSE;
    line += k;
    n -= k;
    while (n > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    if (n == 0 || n >= sizeof tmp)
        return FALSE;
    memcpy (tmp, line, n);
    tmp[n] = '\0';
    return g_ascii_string_to_unsigned (tmp, 10, 0, max, out, NULL);
}

gboolean
uffd_shim_parse_fdinfo (const char *buf, gsize len, int *mnt_id, guint64 *ino)
{
    gboolean have_mnt = FALSE, have_ino = FALSE;
    gsize i = 0;

    while (i < len) {
        const char *line = buf + i;
        const char *nl = memchr (line, '\n', len - i);
        gsize n = nl ? (gsize) (nl - line) : len - i;
        guint64 v;

        if (!have_mnt && field (line, n, "mnt_id:", G_MAXINT32, &v)) {
            *mnt_id = (int) v;
            have_mnt = TRUE;
        } else if (!have_ino && field (line, n, "ino:", G_MAXUINT64, &v)) {
            *ino = v;
            have_ino = TRUE;
        }
        i += n + 1;
    }
    return have_mnt && have_ino;
}

/* ---- sock_diag --------------------------------------------------------------- */

gboolean
uffd_shim_parse_unix_diag (const void *buf, gsize len, guint64 ino, UffdShimUnixSock *out)
{
    struct nlmsghdr h;
    struct unix_diag_msg m;
    const unsigned char *p = buf;
    gsize off;

    memset (out, 0, sizeof *out);
    if (len < NLMSG_LENGTH (sizeof m))
        return FALSE;
    memcpy (&h, p, sizeof h);
    if (h.nlmsg_len < NLMSG_LENGTH (sizeof m) || h.nlmsg_len > len ||
        h.nlmsg_type != SOCK_DIAG_BY_FAMILY)
        return FALSE;
    memcpy (&m, p + NLMSG_HDRLEN, sizeof m);
    if (m.udiag_family != AF_UNIX || m.udiag_ino != ino || ino > G_MAXUINT32)
        return FALSE;
    out->ino = m.udiag_ino;
    out->state = m.udiag_state;
    /* the attributes follow the message, each 4-byte aligned */
    off = NLMSG_HDRLEN + NLMSG_ALIGN (sizeof m);
    while (off + sizeof (struct nlattr) <= h.nlmsg_len) {
        struct nlattr a;
        gsize alen;

        memcpy (&a, p + off, sizeof a);
        if (a.nla_len < sizeof a || off + a.nla_len > h.nlmsg_len)
            return FALSE;
        alen = a.nla_len - sizeof a;
        if (a.nla_type == UNIX_DIAG_VFS) {
            struct unix_diag_vfs v;
            if (alen != sizeof v)
                return FALSE;
            memcpy (&v, p + off + sizeof a, sizeof v);
            /* The kernel's s_dev (major << 20 | minor), as stat() encodes it. */
            out->vfs_dev = makedev (v.udiag_vfs_dev >> 20, v.udiag_vfs_dev & 0xfffff);
            out->vfs_ino = v.udiag_vfs_ino;
            out->bound = TRUE;
        } else if (a.nla_type == UNIX_DIAG_PEER) {
            if (alen != sizeof (guint32))
                return FALSE;
            memcpy (&out->peer, p + off + sizeof a, sizeof out->peer);
        }
        off += NLA_ALIGN (a.nla_len);
    }
    return TRUE;
}

/* ---- the decision ------------------------------------------------------------- */

const char *
uffd_shim_backend_why_name (UffdShimBackendWhy why)
{
    static const char *const names[] = {
        "ok", "backend-uid", "backend-exe", "no-granted-socket", "grant-ended", "domain",
        "not-connected", "shared", "backend-uses",
    };
    G_STATIC_ASSERT (G_N_ELEMENTS (names) == UFFD_SHIM_BACKEND_WHY_MAX_);
    return why < UFFD_SHIM_BACKEND_WHY_MAX_ ? names[why] : "unknown";
}

static gboolean
uid_ok (const UffdShimBackendInput *in)
{
    if (in->backend_uid == (uid_t) -1 || in->backend_uid == 0 || in->peer->uid != in->backend_uid)
        return FALSE;
    for (int i = 0; i < 4; i++)
        if (in->peer->uids[i] != in->backend_uid)
            return FALSE;
    return TRUE;
}

static gboolean
exe_ok (const UffdShimBackendInput *in)
{
    if (!in->peer->exe_known)
        return FALSE;
    for (gsize i = 0; i < in->n_executables; i++)
        if (in->executables[i].dev == in->peer->exe_dev &&
            in->executables[i].ino == in->peer->exe_ino)
            return TRUE;
    return FALSE;
}

static int
deny (UffdShimBackendWhy *why, UffdShimBackendWhy w, int st)
{
    *why = w;
    return st;
}

int
uffd_shim_backend_decide (const UffdShimBackendInput *in, UffdShimBackendWhy *why)
{
    const UffdShimGrant *g = in->grant;
    gboolean shared = in->n_granted_domains > 1 || in->serves_other;

    if (!uid_ok (in))
        return deny (why, UFFD_SHIM_BACKEND_WHY_UID, UFFD_SHIM_E_WRONG_UID);
    if (!exe_ok (in))
        return deny (why, UFFD_SHIM_BACKEND_WHY_EXE, UFFD_SHIM_E_WRONG_EXE);
    if (!g)
        return deny (why, UFFD_SHIM_BACKEND_WHY_NO_SOCKET, UFFD_SHIM_E_NOT_GRANTED);
    if (g->state != UFFD_SHIM_GRANT_ACTIVE)
        return deny (why, UFFD_SHIM_BACKEND_WHY_GRANT_ENDED,
                     g->state == UFFD_SHIM_GRANT_EXPIRED     ? UFFD_SHIM_E_EXPIRED
                     : g->state == UFFD_SHIM_GRANT_EXHAUSTED ? UFFD_SHIM_E_EXHAUSTED
                     : g->state == UFFD_SHIM_GRANT_REVOKED   ? UFFD_SHIM_E_REVOKED
                                                             : UFFD_SHIM_E_NOT_GRANTED);
    /* The clock and the domain lists only apply before the domain's QEMU
     * bound the grant (docs/design.md, "Never fail at the switch"). */
    if (!g->pid && in->now >= g->expires)
        return deny (why, UFFD_SHIM_BACKEND_WHY_GRANT_ENDED, UFFD_SHIM_E_EXPIRED);
    if (!g->pid && !in->domain_allowed)
        return deny (why, UFFD_SHIM_BACKEND_WHY_DOMAIN, UFFD_SHIM_E_DOMAIN_DENIED);
    if (!in->qemu_connected)
        return deny (why, UFFD_SHIM_BACKEND_WHY_NOT_CONNECTED, UFFD_SHIM_E_NOT_GRANTED);
    if (shared && !in->shared_allowed)
        return deny (why, UFFD_SHIM_BACKEND_WHY_SHARED, UFFD_SHIM_E_NOT_GRANTED);
    if (in->uses_left == 0)
        return deny (why, UFFD_SHIM_BACKEND_WHY_USED_UP, UFFD_SHIM_E_EXHAUSTED);
    *why = UFFD_SHIM_BACKEND_WHY_OK;
    return UFFD_SHIM_OK;
}

/* ---- budgets ------------------------------------------------------------------ */

struct UffdShimBackendBudget {
    GHashTable *used; /* key "name\nUUID\ncreated" -> hand-outs (GUINT_TO_POINTER) */
};

static char *
budget_key (const UffdShimGrant *g)
{
    char uuid[37];

    uffd_shim_uuid_format (g->uuid, uuid);
    return g_strdup_printf ("%s\n%s\n%" G_GINT64_FORMAT, g->name, uuid, g->created);
}

UffdShimBackendBudget *
uffd_shim_backend_budget_new (void)
{
    UffdShimBackendBudget *b = g_new0 (UffdShimBackendBudget, 1);

    b->used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    return b;
}

void
uffd_shim_backend_budget_free (UffdShimBackendBudget *b)
{
    if (!b)
        return;
    g_hash_table_unref (b->used);
    g_free (b);
}

guint32
uffd_shim_backend_budget_left (UffdShimBackendBudget *b, const UffdShimGrant *g, guint32 per_grant)
{
    g_autofree char *k = budget_key (g);
    guint32 used = GPOINTER_TO_UINT (g_hash_table_lookup (b->used, k));

    return used >= per_grant ? 0 : per_grant - used;
}

void
uffd_shim_backend_budget_consume (UffdShimBackendBudget *b, const UffdShimGrant *g, guint32 per_grant)
{
    char *k = budget_key (g);
    guint32 used = GPOINTER_TO_UINT (g_hash_table_lookup (b->used, k));

    if (used < per_grant)
        used++;
    g_hash_table_replace (b->used, k, GUINT_TO_POINTER (used));
}

void
uffd_shim_backend_budget_prune (UffdShimBackendBudget *b, UffdShimGrants *grants)
{
    GPtrArray *all = uffd_shim_grants_unsorted (grants);
    g_autoptr (GHashTable) live = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer k;

    for (guint i = 0; i < all->len; i++) {
        const UffdShimGrant *g = g_ptr_array_index (all, i);
        if (g->state == UFFD_SHIM_GRANT_ACTIVE)
            g_hash_table_add (live, budget_key (g));
    }
    g_hash_table_iter_init (&it, b->used);
    while (g_hash_table_iter_next (&it, &k, NULL))
        if (!g_hash_table_contains (live, k))
            g_hash_table_iter_remove (&it);
}
