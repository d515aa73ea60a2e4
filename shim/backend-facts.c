/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost-user back-ends: the facts (a process's sockets from /proc and sock_diag, the domains' status XML). */
/*
 * Theory of operation
 * -------------------
 * The broker keeps one capability, CAP_SYS_PTRACE. It is not enough to
 * list /proc/PID/fd of another user's process (mode 0500, a DAC check),
 * but it is for /proc/PID/fdinfo (mode 0555 plus a ptrace read check),
 * whose files give each open file's mount id and inode. A file on the
 * socket file system (the mount id of the broker's own netlink socket) is
 * a socket, and its inode is what sock_diag knows it by. One netlink
 * socket (NETLINK_SOCK_DIAG, opened before the seccomp filter; the filter
 * allows no new one) answers, per inode, the socket's state, the device
 * and inode of the file it is bound to, and the inode of its peer. Only
 * sockets of the broker's network namespace are found: a back-end in
 * another one is not recognised (and refused).
 *
 * For a request from a back-end candidate, gather() collects:
 *  - the peer's listening sockets (bound files) and the peers of its
 *    connected sockets, leaving out the connection of the request;
 *  - for each active grant: the domain's QEMU as for a QEMU request (pid
 *    file, its lock held by that pid, the status XML naming the same pid,
 *    the grant's name and UUID), the vhost-user socket paths of its
 *    status XML, stat() of each (a socket file); a grant matches when the
 *    peer listens on one of those files; for a match, whether the QEMU
 *    holds the other end of one of the peer's connections;
 *  - when some connection of the peer leads elsewhere: whether the QEMU of
 *    another running domain (NAME.pid locked by the pid it names, next to
 *    a NAME.xml) holds its other end.
 * Every read is fresh; nothing is cached between requests.
 */
#include "backend.h"

#include <glib.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libvirt-record.h"
#include "shim-error.h"

struct UffdShimBackendFactsCtx {
    int nl;          /* NETLINK_SOCK_DIAG */
    int sockfs_mnt;  /* mount id of the socket file system */
    guint32 seq;
};

/* Reads up to @cap - 1 bytes of a small /proc file; NUL-terminated. */
/* #syscalls: open openat read close */
static gssize
read_small (const char *path, char *buf, gsize cap)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    gsize len = 0;

    if (fd < 0)
        return -1;
    while (len < cap - 1) {
        ssize_t n = read (fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (gsize) n;
    }
    close (fd);
    buf[len] = '\0';
    return (gssize) len;
}

UffdShimBackendFactsCtx *
uffd_shim_backend_facts_new (GError **error)
{
    UffdShimBackendFactsCtx *ctx = g_new0 (UffdShimBackendFactsCtx, 1);
    char path[64], buf[512];
    guint64 ino;
    gssize n;

    ctx->nl = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (ctx->nl < 0) {
        g_set_error (error, UFFD_SHIM_ERROR, errno, "sock_diag socket: %s", g_strerror (errno));
        g_free (ctx);
        return NULL;
    }
    g_snprintf (path, sizeof path, "/proc/self/fdinfo/%d", ctx->nl);
    n = read_small (path, buf, sizeof buf);
    if (n <= 0 || !uffd_shim_parse_fdinfo (buf, (gsize) n, &ctx->sockfs_mnt, &ino)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0, "%s: no mnt_id/ino", path);
        uffd_shim_backend_facts_free (ctx);
        return NULL;
    }
    return ctx;
}

void
uffd_shim_backend_facts_free (UffdShimBackendFactsCtx *ctx)
{
    if (!ctx)
        return;
    if (ctx->nl >= 0)
        close (ctx->nl);
    g_free (ctx);
}

/* The socket inodes among @pid's open files (at most UFFD_SHIM_BACKEND_FDS_MAX
 * looked at), appended to @out (guint64). FALSE if /proc/PID/fdinfo cannot
 * be read (the process is gone, or the broker may not look). */
/* #syscalls: openat fstat newfstatat getdents64 close (opendir, readdir) */
static gboolean
proc_sockets (UffdShimBackendFactsCtx *ctx, pid_t pid, GArray *out)
{
    char dir[48], path[80], buf[512];
    DIR *d;
    struct dirent *e;
    guint seen = 0;

    g_snprintf (dir, sizeof dir, "/proc/%d/fdinfo", (int) pid);
    d = opendir (dir);
    if (!d)
        return FALSE;
    while ((e = readdir (d)) && seen < UFFD_SHIM_BACKEND_FDS_MAX) {
        int mnt;
        guint64 ino;
        gssize n;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        seen++;
        g_snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        n = read_small (path, buf, sizeof buf);
        if (n > 0 && uffd_shim_parse_fdinfo (buf, (gsize) n, &mnt, &ino) && mnt == ctx->sockfs_mnt)
            g_array_append_val (out, ino);
    }
    closedir (d);
    return TRUE;
}

/* sock_diag of the AF_UNIX socket @ino; FALSE if it is no such socket (in
 * this network namespace) or the kernel does not answer. */
/* #syscalls: sendto recvfrom (recv) */
static gboolean
unix_diag (UffdShimBackendFactsCtx *ctx, guint64 ino, UffdShimUnixSock *out)
{
    struct {
        struct nlmsghdr h;
        struct unix_diag_req r;
    } req;
    union {
        struct nlmsghdr h;
        unsigned char b[4096];
    } rep;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

    if (ino == 0 || ino > G_MAXUINT32)
        return FALSE;
    memset (&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.h.nlmsg_seq = ++ctx->seq;
    req.r.sdiag_family = AF_UNIX;
    req.r.udiag_states = ~0u;
    req.r.udiag_ino = (guint32) ino;
    req.r.udiag_show = UDIAG_SHOW_VFS | UDIAG_SHOW_PEER;
    req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
    if (sendto (ctx->nl, &req, sizeof req, 0, (struct sockaddr *) &kernel, sizeof kernel) !=
        (ssize_t) sizeof req)
        return FALSE;
    /* The kernel answers an exact lookup while handling the request: the
     * reply is queued by the time sendto() returns. Older replies (of a
     * request whose answer was not read) are skipped by sequence number. */
    for (;;) {
        ssize_t n = recv (ctx->nl, &rep, sizeof rep, MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < (ssize_t) sizeof (struct nlmsghdr))
            return FALSE;
        if (rep.h.nlmsg_seq != ctx->seq)
            continue;
        return rep.h.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
               uffd_shim_parse_unix_diag (rep.b, (gsize) n, ino, out);
    }
}

/* The pid of domain @name's QEMU as libvirt records it (pid file locked by
 * the pid it names), or 0. */
static pid_t
domain_qemu (const char *run_dir, const char *name)
{
    UffdShimLibvirtRecord rec = { 0 };

    if (!uffd_shim_libvirt_read_pidfile (run_dir, name, &rec, NULL) ||
        rec.pidfile_pid != rec.lock_pid)
        return 0;
    return rec.pidfile_pid;
}

static gboolean
contains (GArray *a, guint64 v)
{
    for (guint i = 0; i < a->len; i++)
        if (g_array_index (a, guint64, i) == v)
            return TRUE;
    return FALSE;
}

/* TRUE if any socket of @pid is in @peers. */
static gboolean
holds_any (UffdShimBackendFactsCtx *ctx, pid_t pid, GArray *peers)
{
    g_autoptr (GArray) mine = g_array_new (FALSE, FALSE, sizeof (guint64));

    if (peers->len == 0 || !proc_sockets (ctx, pid, mine))
        return FALSE;
    for (guint i = 0; i < mine->len; i++)
        if (contains (peers, g_array_index (mine, guint64, i)))
            return TRUE;
    return FALSE;
}

/* Removes from @peers every socket @pid holds. */
static void
drop_held_by (UffdShimBackendFactsCtx *ctx, pid_t pid, GArray *peers)
{
    g_autoptr (GArray) mine = g_array_new (FALSE, FALSE, sizeof (guint64));

    if (peers->len == 0 || !proc_sockets (ctx, pid, mine))
        return;
    for (guint i = peers->len; i-- > 0;)
        if (contains (mine, g_array_index (peers, guint64, i)))
            g_array_remove_index_fast (peers, i);
}

typedef struct {
    dev_t dev;
    guint32 ino;
} BoundFile;

/*
 * Does domain @g (QEMU @qemu, status XML @xml) have a vhost-user socket the
 * peer listens on? Fills @socket with its path.
 */
/* #syscalls: stat newfstatat statx */
static gboolean
grant_matches (const char *xml, gsize len, GArray *listening, char socket[108])
{
    g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

    if (!uffd_shim_backend_parse_sockets (xml, len, paths, NULL))
        return FALSE;
    for (guint i = 0; i < paths->len; i++) {
        const char *p = g_ptr_array_index (paths, i);
        struct stat st;

        if (stat (p, &st) < 0 || !S_ISSOCK (st.st_mode))
            continue;
        for (guint j = 0; j < listening->len; j++) {
            BoundFile *b = &g_array_index (listening, BoundFile, j);
            if (b->dev == st.st_dev && b->ino == (guint32) st.st_ino) {
                g_strlcpy (socket, p, 108);
                return TRUE;
            }
        }
    }
    return FALSE;
}

/* #syscalls: openat fstat newfstatat getdents64 close (g_dir_open of the run directory) */
/* #syscalls: lstat newfstatat statx (of each NAME.xml) */
void
uffd_shim_backend_gather (UffdShimBackendFactsCtx *ctx, const UffdShimConfig *cfg,
                          UffdShimGrants *grants, const UffdShimPeer *peer,
                          guint64 request_sock_ino, UffdShimBackendFacts *f)
{
    g_autoptr (GArray) socks = g_array_new (FALSE, FALSE, sizeof (guint64));
    g_autoptr (GArray) listening = g_array_new (FALSE, FALSE, sizeof (BoundFile));
    g_autoptr (GArray) peers = g_array_new (FALSE, FALSE, sizeof (guint64));
    GPtrArray *all;

    memset (f, 0, sizeof *f);
    if (!ctx || !proc_sockets (ctx, peer->pid, socks))
        return;
    for (guint i = 0; i < socks->len; i++) {
        UffdShimUnixSock u;

        if (!unix_diag (ctx, g_array_index (socks, guint64, i), &u))
            continue;
        if (u.state == TCP_LISTEN && u.bound) {
            BoundFile b = { u.vfs_dev, u.vfs_ino };
            g_array_append_val (listening, b);
        } else if (u.peer && u.peer != request_sock_ino) {
            /* (its connection to the broker is no sign of anything) */
            guint64 p = u.peer;
            g_array_append_val (peers, p);
        }
    }
    if (listening->len == 0)
        return;

    all = uffd_shim_grants_unsorted (grants);
    for (guint i = 0; i < all->len; i++) {
        UffdShimGrant *g = g_ptr_array_index (all, i);
        UffdShimLibvirtRecord rec = { 0 };
        g_autofree char *xml = NULL;
        char socket[108];
        gsize len = 0;
        pid_t qemu;
        gboolean connected;

        if (g->state != UFFD_SHIM_GRANT_ACTIVE ||
            !(qemu = domain_qemu (cfg->libvirt_run_dir, g->name)) ||
            !(xml = uffd_shim_libvirt_read_status (cfg->libvirt_run_dir, g->name, &len, NULL)) ||
            !uffd_shim_parse_status_xml (xml, len, &rec, NULL) || rec.status_pid != qemu ||
            strcmp (rec.name, g->name) != 0 || memcmp (rec.uuid, g->uuid, sizeof g->uuid) != 0 ||
            !grant_matches (xml, len, listening, socket))
            continue;
        f->n_granted_domains++;
        connected = holds_any (ctx, qemu, peers);
        /* the first match, or a later one whose QEMU the peer is connected to */
        if (!f->grant || (connected && !f->qemu_connected)) {
            f->grant = g;
            f->qemu_pid = qemu;
            f->qemu_connected = connected;
            g_strlcpy (f->socket, socket, sizeof f->socket);
        }
    }
    if (!f->grant)
        return;

    /* Connections that do not lead to this domain's QEMU: does another
     * running domain's QEMU hold their other end? */
    drop_held_by (ctx, f->qemu_pid, peers);
    if (peers->len > 0) {
        GDir *d = g_dir_open (cfg->libvirt_run_dir, 0, NULL);
        const char *e;

        while (d && (e = g_dir_read_name (d)) && !f->serves_other) {
            g_autofree char *name = NULL;
            g_autofree char *xml_path = NULL;
            struct stat st;
            pid_t q;

            if (!g_str_has_suffix (e, ".pid"))
                continue;
            name = g_strndup (e, strlen (e) - 4);
            xml_path = g_strdup_printf ("%s/%s.xml", cfg->libvirt_run_dir, name);
            if (lstat (xml_path, &st) < 0 || !S_ISREG (st.st_mode))
                continue; /* a helper's pid file (swtpm, virtiofsd), not a domain's */
            q = domain_qemu (cfg->libvirt_run_dir, name);
            if (q && q != f->qemu_pid && holds_any (ctx, q, peers))
                f->serves_other = TRUE;
        }
        if (d)
            g_dir_close (d);
    }
}

/* #syscalls: stat newfstatat statx */
GArray *
uffd_shim_backend_executable_ids (const UffdShimConfig *cfg)
{
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (UffdShimFileId));

    for (gsize i = 0; cfg->backend_executables && cfg->backend_executables[i]; i++) {
        struct stat st;
        if (stat (cfg->backend_executables[i], &st) == 0 && S_ISREG (st.st_mode)) {
            UffdShimFileId id = { st.st_dev, st.st_ino };
            g_array_append_val (ids, id);
        }
    }
    return ids;
}

gboolean
uffd_shim_backend_candidate (const UffdShimConfig *cfg, const UffdShimPeer *peer)
{
    g_autoptr (GArray) ids = NULL;

    if (cfg->backend_uid == (uid_t) -1 || !cfg->backend_executables ||
        !cfg->backend_executables[0] || !peer->exe_known)
        return FALSE;
    ids = uffd_shim_backend_executable_ids (cfg);
    for (guint i = 0; i < ids->len; i++) {
        UffdShimFileId *id = &g_array_index (ids, UffdShimFileId, i);
        if (id->dev == peer->exe_dev && id->ino == peer->exe_ino)
            return TRUE;
    }
    return FALSE;
}
