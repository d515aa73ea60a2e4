/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's event loop: accepting clients, serving requests, keeping grants. */
/*
 * Theory of operation
 * -------------------
 * One thread, one GLib main loop. Each accepted connection gets a watch and
 * a deadline (client-timeout-ms); it may send exactly one record. The record
 * is read with recvmsg() into a buffer one byte larger than the largest valid
 * message so that oversized records show up as MSG_TRUNC. A record that
 * carries any fd, has truncated control data, the wrong size, magic,
 * version, op, or non-zero reserved/unknown bits gets an error reply (when
 * one can be formed) and the connection is closed; any received fds are
 * closed first. A connection that sends nothing is closed at its deadline.
 * So a bad client costs one fd and one small struct for at most the timeout,
 * and never blocks anyone else. When max-clients connections are open, new
 * ones are accepted and closed at once.
 *
 * A GET_DEVICE request is decided as follows (facts from the kernel only,
 * see peer.c): identify the peer; find the grant whose domain's libvirt pid
 * file names the peer's pid and whose lock the peer holds; read that
 * domain's status XML; decide (policy.c); open /dev/userfaultfd; check the
 * peer is still the same live process; send the fd; record the use. Every
 * decision is one audit line.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "grants.h"
#include "libvirt-record.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "protocol.h"
#include "shim-error.h"

#define DEVICE_PATH "/dev/userfaultfd"
#define STATE_FILE "grants.state"

struct UffdShimServer {
    const UffdShimConfig *cfg;
    int listen_fd[2]; /* [0] client, [1] admin */
    guint listen_src[2];
    guint tick_src;
    UffdShimGrants *grants;
    char *state_path, *state_tmp;
    char boot_id[40];           /* this boot's /proc/sys/kernel/random/boot_id, or "" */
    gboolean dirty;             /* hand-outs not yet in the state file (flush_state) */
    GHashTable *clients; /* Client* set */
    gint64 started;
    guint64 handed_out, denied, dropped;
    /* vhost-user back-ends (backend.h): NULL facts = not available */
    UffdShimBackendFactsCtx *backend_facts;
    UffdShimBackendBudget *backend_budget;
};

typedef struct {
    UffdShimServer *srv;
    int fd;
    guint16 version; /* of the request, once its header was read; replies use it */
    gboolean admin;
    guint io_src;
    guint timeout_src;
} Client;

static gint64
now_s (void)
{
    return g_get_real_time () / G_USEC_PER_SEC;
}

static void
client_free (gpointer p)
{
    Client *c = p;

    if (c->io_src)
        g_source_remove (c->io_src);
    if (c->timeout_src)
        g_source_remove (c->timeout_src);
    close (c->fd);
    g_free (c);
}

static void
client_drop (Client *c, const char *why)
{
    if (why) {
        c->srv->dropped++;
        g_message ("dropped %s client fd %d: %s", c->admin ? "admin" : "uffd", c->fd, why);
    }
    g_hash_table_remove (c->srv->clients, c);
}

/* ---- state ------------------------------------------------------------- */

/*
 * The state file is replaced atomically (a new file, then rename()) but not
 * fsync()ed: it has to survive a crash or restart of the broker, which the
 * page cache does, not a crash of the host, after which no QEMU it names is
 * left. The file records the boot it was written in, and a broker started in
 * another boot ignores it (load_state), so whatever an unsynced file holds
 * after a host crash (an older version, or nothing) is never used. On
 * tmpfs (/run/uffd-shim, the default) there is nothing to sync anyway.
 */
static gboolean
save_state (UffdShimServer *s, GError **error)
{
    gsize len = 0, off = 0;
    g_autofree char *data = uffd_shim_grants_to_data (s->grants, &len);
    int fd, err = 0;

    /* A fresh file, so a leftover one's owner or mode never carries over. */
    if (unlink (s->state_tmp) < 0 && errno != ENOENT)
        err = errno;
    fd = err ? -1 : open (s->state_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0) {
        if (!err)
            err = errno;
    } else {
        while (off < len) {
            ssize_t n = write (fd, data + off, len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                err = n < 0 ? errno : EIO;
                break;
            }
            off += (gsize) n;
        }
        if (close (fd) < 0 && !err)
            err = errno;
        if (!err && rename (s->state_tmp, s->state_path) < 0)
            err = errno;
    }
    if (err) {
        if (fd >= 0)
            unlink (s->state_tmp);
        g_set_error (error, UFFD_SHIM_ERROR, err, "%s: %s", s->state_path, g_strerror (err));
        return FALSE;
    }
    return TRUE;
}

/* This boot's id (36 characters), or "" if the kernel does not say. */
static void
read_boot_id (char out[40])
{
    char buf[64];
    int fd = open ("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read (fd, buf, sizeof buf - 1) : -1;

    out[0] = '\0';
    if (fd >= 0)
        close (fd);
    if (n < 36)
        return;
    buf[36] = '\0';
    for (int i = 0; i < 36; i++)
        if (!g_ascii_isxdigit (buf[i]) && buf[i] != '-')
            return;
    memcpy (out, buf, 37);
}

static void
save_or_warn (UffdShimServer *s)
{
    g_autoptr (GError) e = NULL;

    s->dirty = FALSE;
    if (!save_state (s, &e))
        g_warning ("cannot save grant state: %s", e->message);
}

/* Hand-outs are saved once per batch of requests served in one dispatch
 * (on_accept, on_client_io), not once each: with many QEMUs asking at once
 * the state file is written once for all of them. Grants and revokes are
 * saved before their reply. */
static void
flush_state (UffdShimServer *s)
{
    if (s->dirty)
        save_or_warn (s);
}

static gboolean
load_state (UffdShimServer *s, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    guint skipped = 0;
    g_autoptr (GError) e = NULL;
    struct stat st;

    if (lstat (s->state_path, &st) < 0 && errno == ENOENT)
        return TRUE;
    if (!S_ISREG (st.st_mode) || st.st_uid != geteuid () || (st.st_mode & 0077)) {
        g_set_error (error, UFFD_SHIM_ERROR, 0,
                     "%s must be a regular file of uid %d with mode 0600", s->state_path,
                     (int) geteuid ());
        return FALSE;
    }
    if (!g_file_get_contents (s->state_path, &data, &len, &e))
        goto unreadable;
    {
        /* No QEMU outlives a reboot; nor does any grant. The file is not
         * synced, so only a file known to be of this boot is used: with
         * either boot id unknown, fail closed (no grants). */
        g_autoptr (GKeyFile) kf = g_key_file_new ();
        g_autofree char *boot = NULL;

        if (g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, NULL))
            boot = g_key_file_get_string (kf, "uffd-shim", "boot-id", NULL);
        if (!s->boot_id[0] || !boot || !g_str_equal (boot, s->boot_id)) {
            g_message ("ignoring grant state %s: %s", s->state_path,
                       !s->boot_id[0] ? "this boot's id is unknown"
                       : !boot        ? "it does not say which boot wrote it"
                                      : "it is from an earlier boot");
            return TRUE;
        }
    }
    if (!uffd_shim_grants_from_data (s->grants, data, len, &skipped, &e)) {
unreadable:
        /* Fail closed: a damaged state file means no grants, not a dead broker. */
        g_warning ("ignoring unreadable grant state %s: %s", s->state_path, e->message);
        return TRUE;
    }
    if (skipped)
        g_warning ("%s: skipped %u invalid grant entries", s->state_path, skipped);
    g_message ("loaded %u active grant(s) from %s", uffd_shim_grants_active_count (s->grants),
               s->state_path);
    return TRUE;
}

static void
audit_ended (const UffdShimGrant *g, gpointer data)
{
    char uuid[37];

    uffd_shim_uuid_format (g->uuid, uuid);
    uffd_shim_audit ("grant-end domain=%s uuid=%s why=%s", g->name, uuid,
                     uffd_shim_grant_state_name (g->state));
}

/* Once a second: expire grants, end those whose QEMU exited. */
static gboolean
on_tick (gpointer data)
{
    UffdShimServer *s = data;
    gint64 now = now_s ();
    gboolean changed = uffd_shim_grants_expire (s->grants, now, audit_ended, NULL);
    GPtrArray *all = uffd_shim_grants_all (s->grants);

    for (guint i = 0; i < all->len; i++) {
        UffdShimGrant *g = g_ptr_array_index (all, i);
        if (g->state != UFFD_SHIM_GRANT_ACTIVE || !g->pid ||
            uffd_shim_proc_starttime (g->pid) == g->starttime)
            continue;
        uffd_shim_grants_end (s->grants, g->name, UFFD_SHIM_GRANT_EXITED, now);
        audit_ended (g, NULL);
        changed = TRUE;
        break; /* the array may have changed; the rest waits a second */
    }
    if (changed || s->dirty)
        save_or_warn (s);
    return G_SOURCE_CONTINUE;
}

/* ---- replies ------------------------------------------------------------- */

static gboolean
send_reply (int fd, guint16 version, uint32_t status, uint32_t count, int pass_fd)
{
    struct uffd_shim_reply rep = { 0 };
    union {
        char b[CMSG_SPACE (sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = &rep, .iov_len = sizeof rep };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    uffd_shim_hdr_init_version (&rep.hdr, version, UFFD_SHIM_OP_REPLY, sizeof rep, 0);
    rep.status = status;
    rep.count = count;
    if (pass_fd >= 0) {
        struct cmsghdr *c;
        memset (&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.b;
        msg.msg_controllen = sizeof ctl.b;
        c = CMSG_FIRSTHDR (&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN (sizeof (int));
        memcpy (CMSG_DATA (c), &pass_fd, sizeof (int));
    }
    return sendmsg (fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t) sizeof rep;
}

static gboolean
send_record (int fd, const void *rec, gsize len)
{
    return send (fd, rec, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t) len;
}

/* ---- GET_DEVICE ------------------------------------------------------------ */

static const char *
status_name (int st)
{
    static const char *const names[] = {
        "ok", "protocol", "version", "wrong-uid", "wrong-exe", "not-granted", "expired",
        "exhausted", "revoked", "domain-denied", "uuid-mismatch", "peer-gone", "internal",
        "not-root", "exists", "not-found", "invalid", "state", "limit", "in-use",
    };
    G_STATIC_ASSERT (G_N_ELEMENTS (names) == UFFD_SHIM_STATUS_MAX_);
    return st >= 0 && st < UFFD_SHIM_STATUS_MAX_ ? names[st] : "unknown";
}

/*
 * The grant whose libvirt pid file names @pid, locked by @pid. Every answer
 * rests on a fresh read of that pid file and its lock; what was read before
 * only decides the order in which the files are read: first the active
 * grants whose pid file named @pid last time (or that @pid already used),
 * then the other active grants, then the ended ones (those same ones first).
 * So a request costs one pid file read when it comes from a QEMU seen
 * before, not one per grant.
 */
static UffdShimGrant *
find_grant_for_pid (UffdShimServer *s, pid_t pid)
{
    GPtrArray *all = uffd_shim_grants_unsorted (s->grants);

    /* Passes: active and hinted, active, ended and hinted, ended. */
    for (int pass = 0; pass < 4; pass++) {
        for (guint i = 0; i < all->len; i++) {
            UffdShimGrant *g = g_ptr_array_index (all, i);
            UffdShimLibvirtRecord rec = { 0 };
            gboolean hinted = g->pidfile_hint == pid || g->pid == pid;
            gboolean active = g->state == UFFD_SHIM_GRANT_ACTIVE;

            if (active != (pass < 2) || hinted != (pass % 2 == 0))
                continue;
            if (!uffd_shim_libvirt_read_pidfile (s->cfg->libvirt_run_dir, g->name, &rec, NULL)) {
                g->pidfile_hint = 0;
                continue;
            }
            g->pidfile_hint = rec.pidfile_pid;
            if (rec.pidfile_pid == pid && rec.lock_pid == pid)
                return g;
        }
    }
    return NULL;
}

static GArray *
emulator_ids (const UffdShimConfig *cfg)
{
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (UffdShimFileId));

    for (gsize i = 0; cfg->emulators && cfg->emulators[i]; i++) {
        struct stat st;
        if (stat (cfg->emulators[i], &st) == 0 && S_ISREG (st.st_mode)) {
            UffdShimFileId id = { st.st_dev, st.st_ino };
            g_array_append_val (ids, id);
        }
    }
    return ids;
}

/* ---- vhost-user back-ends (backend.c, backend-facts.c) -------------------------- */

/*
 * A peer that runs one of [backend] executables is judged as a vhost-user
 * back-end, not as a QEMU: the grant is the one of the domain whose
 * vhost-user socket it listens on (facts from backend-facts.c), the
 * decision is backend.c's, and the hand-out counts against the grant's
 * back-end budget, never its uses. Its hints are ignored: LAST or HOLD
 * from a back-end must not end its QEMU's grant.
 */
static void
serve_backend (Client *c, UffdShimPeer *peer, gint64 now)
{
    UffdShimServer *s = c->srv;
    g_autoptr (GArray) exes = uffd_shim_backend_executable_ids (s->cfg);
    UffdShimBackendFacts f;
    UffdShimBackendInput in = { 0 };
    UffdShimBackendWhy why;
    char uuid[37] = "-";
    int st, dev = -1;
    struct stat own;

    uffd_shim_backend_budget_prune (s->backend_budget, s->grants);
    uffd_shim_backend_gather (s->backend_facts, s->cfg, s->grants, peer,
                              fstat (c->fd, &own) == 0 ? (guint64) own.st_ino : 0, &f);
    in.backend_uid = s->cfg->backend_uid;
    in.peer = peer;
    in.executables = (const UffdShimFileId *) exes->data;
    in.n_executables = exes->len;
    in.grant = f.grant;
    in.n_granted_domains = f.n_granted_domains;
    in.qemu_connected = f.qemu_connected;
    in.serves_other = f.serves_other;
    in.shared_allowed = s->cfg->backend_shared;
    in.domain_allowed = f.grant && uffd_shim_config_domain_allowed (s->cfg, f.grant->name);
    in.uses_left = f.grant ? uffd_shim_backend_budget_left (s->backend_budget, f.grant,
                                                            s->cfg->backend_uses) : 0;
    in.now = now;
    st = uffd_shim_backend_decide (&in, &why);
    if (st == UFFD_SHIM_OK) {
        dev = open (DEVICE_PATH, O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            g_warning ("cannot open " DEVICE_PATH ": %s", g_strerror (errno));
            st = UFFD_SHIM_E_INTERNAL;
        } else if (!uffd_shim_peer_alive (peer)) {
            st = UFFD_SHIM_E_PEER_GONE;
        }
    }
    if (f.grant)
        uffd_shim_uuid_format (f.grant->uuid, uuid);
    if (st == UFFD_SHIM_OK && send_reply (c->fd, c->version, UFFD_SHIM_OK, 0, dev)) {
        s->handed_out++;
        uffd_shim_backend_budget_consume (s->backend_budget, f.grant, s->cfg->backend_uses);
        uffd_shim_audit ("decision=grant role=backend reason=ok pid=%d uid=%d exe=%s domain=%s "
                         "uuid=%s socket=%s qemu=%d backend-uses-left=%u",
                         (int) peer->pid, (int) peer->uid, peer->exe, f.grant->name, uuid,
                         f.socket, (int) f.qemu_pid, in.uses_left - 1);
    } else {
        if (st == UFFD_SHIM_OK)
            st = UFFD_SHIM_E_PEER_GONE;
        s->denied++;
        uffd_shim_audit ("decision=deny role=backend reason=%s why=%s pid=%d uid=%d exe=%s "
                         "domain=%s uuid=%s socket=%s",
                         status_name (st), uffd_shim_backend_why_name (why), (int) peer->pid,
                         (int) peer->uid, peer->exe, f.grant ? f.grant->name : "-", uuid,
                         f.grant ? f.socket : "-");
        send_reply (c->fd, c->version, (uint32_t) st, 0, -1);
    }
    if (dev >= 0)
        close (dev);
}

static void
serve_get_device (Client *c, const struct uffd_shim_request *req)
{
    UffdShimServer *s = c->srv;
    g_autoptr (GError) e = NULL;
    g_autoptr (GArray) emus = NULL;
    UffdShimPeer peer;
    UffdShimLibvirtRecord rec = { 0 };
    UffdShimPolicyInput in = { 0 };
    UffdShimGrant *g = NULL;
    char uuid[37] = "-";
    int st, dev = -1;
    gboolean last = (req->hints & UFFD_SHIM_HINT_LAST) != 0;

    if (!uffd_shim_peer_identify (c->fd, &peer, &e)) {
        uffd_shim_peer_clear (&peer);
        s->denied++;
        uffd_shim_audit ("decision=deny reason=peer-gone pid=%d uid=- exe=- domain=- (%s)",
                         (int) peer.pid, e->message);
        send_reply (c->fd, c->version, UFFD_SHIM_E_PEER_GONE, 0, -1);
        return;
    }
    emus = emulator_ids (s->cfg);
    in.qemu_uid = s->cfg->qemu_uid;
    in.peer = &peer;
    in.emulators = (const UffdShimFileId *) emus->data;
    in.n_emulators = emus->len;
    in.now = now_s ();
    /* Only a peer of the QEMU user running an emulator is worth file I/O. */
    st = uffd_shim_policy_decide (&in);
    /* vhost-user back-ends: decided by serve_backend (backend.c). */
    if ((st == UFFD_SHIM_E_WRONG_UID || st == UFFD_SHIM_E_WRONG_EXE) && s->backend_facts &&
        uffd_shim_backend_candidate (s->cfg, &peer)) {
        serve_backend (c, &peer, in.now);
        uffd_shim_peer_clear (&peer);
        return;
    }
    if (st == UFFD_SHIM_E_NOT_GRANTED) {
        g = find_grant_for_pid (s, peer.pid);
        if (g) {
            in.grant = g;
            in.domain_allowed = uffd_shim_config_domain_allowed (s->cfg, g->name);
            /* An ended grant is refused whatever libvirt says: no need to read it. */
            if (g->state == UFFD_SHIM_GRANT_ACTIVE &&
                uffd_shim_libvirt_read_status_cached (s->cfg->libvirt_run_dir, g->name, peer.pid,
                                                      (UffdShimStatusCache **) &g->status_cache,
                                                      &rec, &e))
                in.status = &rec;
            st = uffd_shim_policy_decide (&in);
        }
    }
    if (st == UFFD_SHIM_OK) {
        dev = open (DEVICE_PATH, O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            g_warning ("cannot open " DEVICE_PATH ": %s", g_strerror (errno));
            st = UFFD_SHIM_E_INTERNAL;
        } else if (!uffd_shim_peer_alive (&peer)) {
            st = UFFD_SHIM_E_PEER_GONE;
        }
    }
    if (g)
        uffd_shim_uuid_format (g->uuid, uuid);
    if (st == UFFD_SHIM_OK && send_reply (c->fd, c->version, UFFD_SHIM_OK, 0, dev)) {
        s->handed_out++;
        uffd_shim_grants_consume (s->grants, g, peer.pid, peer.starttime, last, in.now);
        uffd_shim_audit ("decision=grant reason=ok pid=%d uid=%d exe=%s domain=%s uuid=%s "
                         "uses-left=%u last=%s",
                         (int) peer.pid, (int) peer.uid, peer.exe, g->name, uuid, g->uses_left,
                         last ? "yes" : "no");
        if (g->state != UFFD_SHIM_GRANT_ACTIVE)
            audit_ended (g, NULL);
        s->dirty = TRUE;
    } else {
        if (st == UFFD_SHIM_OK)
            st = UFFD_SHIM_E_PEER_GONE; /* the reply could not be delivered */
        s->denied++;
        uffd_shim_audit ("decision=deny reason=%s pid=%d uid=%d exe=%s domain=%s uuid=%s",
                         status_name (st), (int) peer.pid, (int) peer.uid, peer.exe,
                         g ? g->name : "-", uuid);
        send_reply (c->fd, c->version, (uint32_t) st, 0, -1);
    }
    if (dev >= 0)
        close (dev);
    uffd_shim_peer_clear (&peer);
}

/* ---- admin ------------------------------------------------------------------ */

static void
serve_list (Client *c, guint32 flags)
{
    GPtrArray *all = uffd_shim_grants_all (c->srv->grants);
    guint n = (flags & UFFD_SHIM_LIST_ALL) ? all->len : uffd_shim_grants_active_count (c->srv->grants);

    if (!send_reply (c->fd, c->version, UFFD_SHIM_OK, n, -1))
        return;
    for (guint i = 0; i < n; i++) {
        const UffdShimGrant *g = g_ptr_array_index (all, i);
        struct uffd_shim_grant_record r = { 0 };

        uffd_shim_hdr_init_version (&r.hdr, c->version, UFFD_SHIM_OP_RECORD, sizeof r, 0);
        memcpy (r.uuid, g->uuid, sizeof r.uuid);
        r.created = g->created;
        r.expires = g->expires;
        r.uses_left = g->uses_left;
        r.uses_max = g->uses_max;
        r.pid = g->pid;
        r.state = g->state;
        g_strlcpy (r.name, g->name, sizeof r.name);
        if (!send_record (c->fd, &r, sizeof r))
            return;
    }
}

static void
serve_status (Client *c)
{
    UffdShimServer *s = c->srv;
    struct uffd_shim_status_record r = { 0 };

    uffd_shim_hdr_init_version (&r.hdr, c->version, UFFD_SHIM_OP_RECORD, sizeof r, 0);
    r.pid = getpid ();
    r.grants = uffd_shim_grants_active_count (s->grants);
    r.started = s->started;
    r.handed_out = s->handed_out;
    r.denied = s->denied;
    r.dropped = s->dropped;
    r.clients = g_hash_table_size (s->clients);
    if (send_reply (c->fd, c->version, UFFD_SHIM_OK, 1, -1))
        send_record (c->fd, &r, sizeof r);
}

static int
serve_grant (UffdShimServer *s, const struct uffd_shim_admin_request *req)
{
    const UffdShimConfig *cfg = s->cfg;
    guint32 life = req->lifetime_s ? req->lifetime_s : cfg->grant_lifetime_s;
    guint32 uses = req->uses ? req->uses : cfg->grant_uses;
    g_autoptr (GError) e = NULL;
    char uuid[37];
    int st;

    uffd_shim_uuid_format (req->uuid, uuid);
    if (!uffd_shim_config_domain_allowed (cfg, req->name))
        st = UFFD_SHIM_E_DOMAIN_DENIED;
    else if (life > 7 * 24 * 3600 || uses > 1000)
        st = UFFD_SHIM_E_INVALID;
    else
        st = uffd_shim_grants_add (s->grants, req->name, req->uuid, now_s (), life, uses,
                                   (req->hdr.flags & UFFD_SHIM_GRANT_REPLACE) != 0);
    if (st == UFFD_SHIM_OK && !save_state (s, &e)) {
        g_warning ("cannot save grant state: %s", e->message);
        uffd_shim_grants_end (s->grants, req->name, UFFD_SHIM_GRANT_REVOKED, now_s ());
        st = UFFD_SHIM_E_STATE;
    }
    uffd_shim_audit ("grant-create domain=%s uuid=%s lifetime=%u uses=%u result=%s", req->name,
                     uuid, life, uses, status_name (st));
    return st;
}

static int
serve_revoke (UffdShimServer *s, const struct uffd_shim_admin_request *req)
{
    int st = uffd_shim_grants_end (s->grants, req->name, UFFD_SHIM_GRANT_REVOKED, now_s ());

    uffd_shim_audit ("grant-revoke domain=%s result=%s", req->name, status_name (st));
    if (st == UFFD_SHIM_OK)
        save_or_warn (s);
    return st;
}

static void
serve_admin (Client *c, const void *buf, gsize len)
{
    struct uffd_shim_admin_request req;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    int st;

    if (getsockopt (c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != 0) {
        uffd_shim_audit ("admin decision=deny reason=not-root pid=%d uid=%d", (int) cred.pid,
                         (int) cred.uid);
        send_reply (c->fd, c->version, UFFD_SHIM_E_NOT_ROOT, 0, -1);
        return;
    }
    st = uffd_shim_parse_admin_request (buf, len, &req);
    if (st != UFFD_SHIM_OK) {
        c->srv->dropped++;
        send_reply (c->fd, c->version, (uint32_t) st, 0, -1);
        return;
    }
    switch (req.hdr.op) {
    case UFFD_SHIM_OP_LIST:
        serve_list (c, req.hdr.flags);
        return;
    case UFFD_SHIM_OP_STATUS:
        serve_status (c);
        return;
    case UFFD_SHIM_OP_GRANT:
        st = serve_grant (c->srv, &req);
        break;
    default:
        st = serve_revoke (c->srv, &req);
        break;
    }
    send_reply (c->fd, c->version, (uint32_t) st, 0, -1);
}

/* ---- connections --------------------------------------------------------- */

static void
close_received_fds (struct msghdr *msg)
{
    for (struct cmsghdr *h = CMSG_FIRSTHDR (msg); h; h = CMSG_NXTHDR (msg, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN (0)) / sizeof (int); i++) {
            int f;
            memcpy (&f, CMSG_DATA (h) + i * sizeof (int), sizeof f);
            close (f);
        }
    }
}

/* Reads and serves @c's request. FALSE if it has not arrived yet; TRUE if
 * the client was served or dropped (and freed). */
static gboolean
client_serve (Client *c)
{
    int fd = c->fd;
    /* One byte more than the largest valid record: oversize shows as MSG_TRUNC. */
    unsigned char buf[sizeof (struct uffd_shim_admin_request) + 1];
    union {
        char b[CMSG_SPACE (8 * sizeof (int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                          .msg_controllen = sizeof ctl.b };
    ssize_t n = recvmsg (fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return FALSE;
    if (n < 0) {
        client_drop (c, g_strerror (errno));
        return TRUE;
    }
    if (msg.msg_controllen > 0) {
        close_received_fds (&msg);
        send_reply (fd, c->version, UFFD_SHIM_E_PROTOCOL, 0, -1);
        client_drop (c, (msg.msg_flags & MSG_CTRUNC) ? "too many fds / truncated control data"
                                                     : "unexpected fd or control data attached");
        return TRUE;
    }
    if (n == 0) {
        client_drop (c, "closed without a request");
        return TRUE;
    }
    if (n >= (ssize_t) sizeof (struct uffd_shim_hdr)) {
        struct uffd_shim_hdr h;
        memcpy (&h, buf, sizeof h);
        if (h.magic == UFFD_SHIM_MAGIC && h.version >= UFFD_SHIM_VERSION_MIN &&
            h.version <= UFFD_SHIM_VERSION)
            c->version = h.version;
    }
    if (msg.msg_flags & MSG_TRUNC) {
        send_reply (fd, c->version, UFFD_SHIM_E_PROTOCOL, 0, -1);
        client_drop (c, "oversized message");
        return TRUE;
    }
    if (c->admin) {
        serve_admin (c, buf, (gsize) n);
    } else {
        struct uffd_shim_request req;
        int st = uffd_shim_parse_request (buf, (gsize) n, &req);

        if (st != UFFD_SHIM_OK) {
            send_reply (fd, c->version, (uint32_t) st, 0, -1);
            client_drop (c, st == UFFD_SHIM_E_VERSION ? "unsupported protocol version"
                                                      : "malformed request");
            return TRUE;
        }
        serve_get_device (c, &req);
    }
    client_drop (c, NULL);
    return TRUE;
}

static gboolean
on_client_io (int fd, GIOCondition cond, gpointer data)
{
    Client *c = data;
    guint src = c->io_src;
    UffdShimServer *s = c->srv;

    c->io_src = 0; /* this source ends unless the request is still to come */
    if (!client_serve (c)) {
        c->io_src = src;
        return G_SOURCE_CONTINUE;
    }
    flush_state (s);
    return G_SOURCE_REMOVE;
}

static gboolean
on_client_timeout (gpointer data)
{
    Client *c = data;

    c->timeout_src = 0;
    client_drop (c, "timed out before sending a request");
    return G_SOURCE_REMOVE;
}

static gboolean
on_accept (int lfd, GIOCondition cond, gpointer data)
{
    UffdShimServer *s = data;

    for (int i = 0; i < 64; i++) {
        int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        Client *c;

        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                g_warning ("accept: %s", g_strerror (errno));
            break;
        }
        if (g_hash_table_size (s->clients) >= s->cfg->max_clients) {
            s->dropped++;
            close (fd);
            continue;
        }
        c = g_new0 (Client, 1);
        c->srv = s;
        c->fd = fd;
        c->version = UFFD_SHIM_VERSION;
        c->admin = lfd == s->listen_fd[1];
        g_hash_table_add (s->clients, c);
        /* A client has usually sent its request by the time it is accepted:
         * then it is served at once, without a watch or a timer. */
        if (client_serve (c))
            continue;
        c->io_src = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_io, c);
        c->timeout_src = g_timeout_add (s->cfg->client_timeout_ms, on_client_timeout, c);
    }
    flush_state (s);
    return G_SOURCE_CONTINUE;
}

UffdShimServer *
uffd_shim_server_new (const UffdShimConfig *cfg, int client_fd, int admin_fd, GError **error)
{
    g_autoptr (UffdShimServer) s = g_new0 (UffdShimServer, 1);

    s->cfg = cfg;
    s->listen_fd[0] = client_fd;
    s->listen_fd[1] = admin_fd;
    s->grants = uffd_shim_grants_new (cfg->max_grants);
    s->state_path = g_build_filename (cfg->state_dir, STATE_FILE, NULL);
    s->state_tmp = g_strconcat (s->state_path, ".new", NULL);
    read_boot_id (s->boot_id);
    if (!s->boot_id[0])
        g_warning ("cannot read /proc/sys/kernel/random/boot_id: grants will not survive a "
                   "restart of the broker");
    uffd_shim_grants_set_boot_id (s->grants, s->boot_id);
    s->clients = g_hash_table_new_full (g_direct_hash, g_direct_equal, client_free, NULL);
    s->started = now_s ();
    s->backend_budget = uffd_shim_backend_budget_new ();
    if (cfg->backend_uid != (uid_t) -1 && cfg->backend_executables && cfg->backend_executables[0]) {
        g_autoptr (GError) e = NULL;
        /* before the seccomp filter, which allows no new netlink socket */
        s->backend_facts = uffd_shim_backend_facts_new (&e);
        if (!s->backend_facts)
            g_warning ("vhost-user back-ends will be refused: %s", e->message);
    }
    if (!load_state (s, error))
        return NULL;
    uffd_shim_grants_expire (s->grants, s->started, audit_ended, NULL);
    for (int i = 0; i < 2; i++)
        s->listen_src[i] = g_unix_fd_add (s->listen_fd[i], G_IO_IN, on_accept, s);
    s->tick_src = g_timeout_add_seconds (1, on_tick, s);
    return g_steal_pointer (&s);
}

void
uffd_shim_server_free (UffdShimServer *s)
{
    if (!s)
        return;
    flush_state (s);
    for (int i = 0; i < 2; i++) {
        if (s->listen_src[i])
            g_source_remove (s->listen_src[i]);
        if (s->listen_fd[i] >= 0)
            close (s->listen_fd[i]);
    }
    if (s->tick_src)
        g_source_remove (s->tick_src);
    g_clear_pointer (&s->clients, g_hash_table_unref);
    uffd_shim_backend_facts_free (s->backend_facts);
    uffd_shim_backend_budget_free (s->backend_budget);
    uffd_shim_grants_free (s->grants);
    g_free (s->state_path);
    g_free (s->state_tmp);
    g_free (s);
}
