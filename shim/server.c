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
 * and never blocks anyone else.
 *
 * Floods. The client socket is open to every local user, so what a
 * connection may cost is decided at accept(), from SO_PEERCRED:
 *  - a uid that is neither the QEMU user, nor the [backend] user when
 *    vhost-user back-ends are configured, nor root can never be served: its
 *    connection is answered wrong-uid and closed at once (refuse_now), so
 *    it holds no fd and costs no /proc read;
 *  - at most max_clients client connections are open, a number clamped at
 *    start so that they, the admin connections (ADMIN_MAX, root only, never
 *    counted against the clients) and FD_RESERVE fds for the work of a
 *    request fit in the open-file limit: a client flood cannot take the fds
 *    the admin socket, /proc, libvirt's files and the state file need;
 *  - should accept() still fail for lack of fds (ENFILE: the whole system
 *    is out), the listeners are paused for ACCEPT_PAUSE_MS instead of
 *    being retried at once in a busy loop;
 *  - log lines a flood causes (a connection refused, dropped or denied, an
 *    accept() that failed) are limited per kind to a few per LOG_WINDOW_S
 *    seconds, and what was held back is summed up in one line per window.
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
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin-client.h"
#include "backend.h"
#include "grants.h"
#include "libvirt-record.h"
#include "log.h"
#include "peer.h"
#include "policy.h"
#include "protocol.h"
#include "shim-error.h"
#include "wire.h"

#define DEVICE_PATH "/dev/userfaultfd"
#define STATE_FILE "grants.state"

#define ADMIN_MAX 32         /* admin connections open at once */
#define FD_RESERVE 64        /* fds kept for everything but connections */
#define ACCEPT_PAUSE_MS 200  /* listeners rest this long after accept() found no fd */
#define LOG_WINDOW_S 10

/* A kind of log line a flood could repeat (see the theory of operation). */
typedef struct {
    const char *what;   /* names the kind in the summary line */
    gboolean audit;     /* the summary is an audit line */
    guint burst;        /* lines written per window */
    gint64 window_end;  /* monotonic microseconds */
    guint written;      /* lines written in this window */
    guint64 held_back;  /* lines not written in this window */
    char last[96];      /* the last one held back, for the summary */
    guint src;          /* writes the summary when the window ends */
} LogLimit;

struct UffdShimServer {
    const UffdShimConfig *cfg;
    int listen_fd[2]; /* [0] client, [1] admin */
    guint listen_src[2];
    guint tick_src;
    UffdShimGrants *grants;
    char *state_path, *state_tmp;
    char boot_id[40];           /* this boot's /proc/sys/kernel/random/boot_id, or "" */
    gboolean dirty;             /* hand-outs not yet in the state file (flush_state) */
    GHashTable *clients; /* Client* set: connections with a request to come or being served */
    GHashTable *holders; /* grant name -> Client*: HOLD connections, one per active grant
                          * (bounded by max-grants, not counted in n_clients) */
    guint n_clients, n_admin;   /* open connections of each socket */
    guint max_clients;          /* [broker] max-clients, clamped to the fd limit */
    rlim_t nofile;              /* the open-file limit at start */
    guint resume_src;           /* listeners paused after accept() found no fd */
    LogLimit log_deny, log_drop, log_accept;
    gint64 started;
    guint64 handed_out, denied, dropped;
    /* vhost-user back-ends (backend.h): NULL facts = not available */
    UffdShimBackendFactsCtx *backend_facts;
    UffdShimBackendBudget *backend_budget;
    GHashTable *grant_caches;   /* UffdShimGrant* -> GrantCache* (grant_cache) */
};

/*
 * What the broker remembers of a grant's libvirt files between requests,
 * kept here and not in the grant table (grants.c stays the table and its
 * text form). Neither is ever trusted: the pid file and its lock are read
 * again for every decision, the status XML is opened and checked every
 * time (libvirt-record.h). An entry belongs to one grant; the tick drops
 * the entries of grants gone from the table and the status XML of ended
 * ones, so they stay as many as the grants.
 */
typedef struct {
    char *name;                  /* the grant's, to tell it from a later one at */
    gint64 created;              /* the same address */
    pid_t pidfile_hint;          /* the pid its pid file named when last read
                                  * (0: unknown); orders find_grant_for_pid */
    UffdShimStatusCache *status; /* its status XML as last parsed (active grants) */
} GrantCache;

static void
grant_cache_free (gpointer p)
{
    GrantCache *c = p;

    g_free (c->name);
    g_free (c->status);
    g_free (c);
}

typedef struct {
    UffdShimServer *srv;
    int fd;
    guint16 version; /* of the request, once its header was read; replies use it */
    gboolean admin;
    char *hold;      /* set by a HOLD hand-out: the grant this connection now holds */
    struct ucred cred; /* SO_PEERCRED at accept (fixed at connect()) */
    guint io_src;
    guint timeout_src;
} Client;

static gint64
now_s (void)
{
    return g_get_real_time () / G_USEC_PER_SEC;
}

/* ---- log lines a flood could repeat ------------------------------------------ */

static void
log_summary (LogLimit *l)
{
    if (!l->held_back)
        return;
    if (l->audit) {
        g_autofree char *last = uffd_shim_log_value (l->last);

        uffd_shim_audit ("not-logged what=%s count=%" G_GUINT64_FORMAT " seconds=%d last=%s",
                         l->what, l->held_back, LOG_WINDOW_S, last);
    } else
        g_message ("%s: %" G_GUINT64_FORMAT " more in the last %d s, not logged one by one "
                   "(last: %s)", l->what, l->held_back, LOG_WINDOW_S, l->last);
    l->held_back = 0;
}

static gboolean
on_log_window_end (gpointer data)
{
    LogLimit *l = data;

    l->src = 0;
    log_summary (l);
    return G_SOURCE_REMOVE;
}

/* TRUE if a line of kind @l may be written now; else it is counted, and
 * @fmt describes it in the summary. */
static gboolean
log_allowed (LogLimit *l, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
log_allowed (LogLimit *l, const char *fmt, ...)
{
    gint64 now = g_get_monotonic_time ();
    va_list ap;

    if (now >= l->window_end) {
        if (l->src)
            g_source_remove (l->src);
        l->src = 0;
        log_summary (l);
        l->window_end = now + LOG_WINDOW_S * G_USEC_PER_SEC;
        l->written = 0;
    }
    if (l->written < l->burst) {
        l->written++;
        return TRUE;
    }
    if (!l->held_back++)
        l->src = g_timeout_add ((guint) ((l->window_end - now) / 1000) + 1, on_log_window_end, l);
    va_start (ap, fmt);
    g_vsnprintf (l->last, sizeof l->last, fmt, ap);
    va_end (ap);
    return FALSE;
}

/* ---- connections ------------------------------------------------------------- */

static void
client_free (gpointer p)
{
    Client *c = p;
    UffdShimServer *s = c->srv;

    if (c->io_src)
        g_source_remove (c->io_src);
    if (c->timeout_src)
        g_source_remove (c->timeout_src);
    close (c->fd);
    if (c->hold)
        g_free (c->hold); /* a holder: no longer counted (keep_holder) */
    else if (c->admin)
        s->n_admin--;
    else
        s->n_clients--;
    g_free (c);
}

static void
client_drop (Client *c, const char *why)
{
    if (why) {
        c->srv->dropped++;
        if (log_allowed (&c->srv->log_drop, "uid %d: %s", (int) c->cred.uid, why))
            g_message ("dropped %s client fd %d (uid %d): %s", c->admin ? "admin" : "uffd", c->fd,
                       (int) c->cred.uid, why);
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
 * tmpfs (/run/uffd-shim, the default) there is nothing to sync anyway; on
 * ext4 an fsync per hand-out made a broker under load about 25 times
 * slower.
 */
/* #syscalls: unlink unlinkat open openat write close rename renameat renameat2 */
static gboolean
save_state (UffdShimServer *s, GError **error)
{
    gsize len = 0;
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
        err = -uffd_shim_write_all (fd, data, len);
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

/* Every end of a grant goes through here: one audit line, and the grant's
 * HOLD connection (if any) is closed, the client's cue to close the
 * userfaultfd it kept for the switch. */
static void
grant_ended (UffdShimServer *s, const UffdShimGrant *g, const char *note)
{
    char uuid[37];
    g_autofree char *name = uffd_shim_log_value (g->name);

    uffd_shim_uuid_format (g->uuid, uuid);
    uffd_shim_audit ("grant-end domain=%s uuid=%s why=%s%s%s", name, uuid,
                     uffd_shim_grant_state_name (g->state), note ? " " : "", note ? note : "");
    g_hash_table_remove (s->holders, g->name);
}

static void
on_expired (const UffdShimGrant *g, gpointer data)
{
    grant_ended (data, g, NULL);
}

/* Ends the active grant @name with @state (the caller checked it exists). */
static void
end_grant (UffdShimServer *s, const char *name, guint32 state, const char *note)
{
    g_autofree char *n = g_strdup (name); /* @name may belong to the grant */

    if (uffd_shim_grants_end (s->grants, n, state, now_s ()) == UFFD_SHIM_OK)
        grant_ended (s, uffd_shim_grants_lookup (s->grants, n), note);
}

/* The broker's cache of grant @g, new (empty) on first use, or when the
 * entry was made for an earlier grant since freed at the same address. */
static GrantCache *
grant_cache (UffdShimServer *s, const UffdShimGrant *g)
{
    GrantCache *c = g_hash_table_lookup (s->grant_caches, g);

    if (c && c->created == g->created && g_str_equal (c->name, g->name))
        return c;
    c = g_new0 (GrantCache, 1);
    c->name = g_strdup (g->name);
    c->created = g->created;
    g_hash_table_replace (s->grant_caches, (gpointer) g, c);
    return c;
}

/* Drops the caches of grants gone from the table, and the status XML of
 * ended ones (only active grants read it). */
static void
grant_caches_prune (UffdShimServer *s)
{
    GPtrArray *all = uffd_shim_grants_unsorted (s->grants);
    g_autoptr (GHashTable) live = g_hash_table_new (NULL, NULL);
    GHashTableIter it;
    gpointer key, value;

    for (guint i = 0; i < all->len; i++)
        g_hash_table_add (live, g_ptr_array_index (all, i));
    g_hash_table_iter_init (&it, s->grant_caches);
    while (g_hash_table_iter_next (&it, &key, &value)) {
        const UffdShimGrant *g = key;
        GrantCache *c = value;

        if (!g_hash_table_contains (live, g) || c->created != g->created ||
            !g_str_equal (c->name, g->name))
            g_hash_table_iter_remove (&it);
        else if (g->state != UFFD_SHIM_GRANT_ACTIVE)
            g_clear_pointer (&c->status, g_free);
    }
}

static gboolean
read_status (UffdShimServer *s, UffdShimGrant *g, pid_t pid, UffdShimLibvirtRecord *rec)
{
    return uffd_shim_libvirt_read_status_cached (s->cfg->libvirt_run_dir, g->name, pid,
                                                 &grant_cache (s, g)->status, rec, NULL);
}

/*
 * Once a second: unbound grants past their lifetime expire; a bound grant
 * ends when its QEMU is gone (exited) or libvirt's status XML no longer shows
 * that QEMU's incoming migration (done: completed, converged in precopy,
 * cancelled). The status XML is parsed again only when libvirt rewrote it.
 */
static gboolean
on_tick (gpointer data)
{
    UffdShimServer *s = data;
    gint64 now = now_s ();
    gboolean changed = uffd_shim_grants_expire (s->grants, now, on_expired, s);
    GPtrArray *all;
    g_autoptr (GPtrArray) ending = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GArray) why = g_array_new (FALSE, FALSE, sizeof (guint32));

    grant_caches_prune (s);
    all = uffd_shim_grants_unsorted (s->grants);
    for (guint i = 0; i < all->len; i++) {
        UffdShimGrant *g = g_ptr_array_index (all, i);
        UffdShimLibvirtRecord rec = { 0 };
        gboolean have;
        int alive;
        guint32 st;

        if (g->state != UFFD_SHIM_GRANT_ACTIVE || !g->pid)
            continue;
        alive = uffd_shim_proc_alive (g->pid, g->starttime);
        have = alive == TRUE && read_status (s, g, g->pid, &rec);
        switch (uffd_shim_policy_bound_verdict (g, alive, have ? &rec : NULL)) {
        case UFFD_SHIM_BOUND_EXITED: st = UFFD_SHIM_GRANT_EXITED; break;
        case UFFD_SHIM_BOUND_DONE: st = UFFD_SHIM_GRANT_DONE; break;
        default: continue;
        }
        g_ptr_array_add (ending, g_strdup (g->name));
        g_array_append_val (why, st);
    }
    for (guint i = 0; i < ending->len; i++)
        end_grant (s, g_ptr_array_index (ending, i), g_array_index (why, guint32, i), NULL);
    if (changed || ending->len || s->dirty)
        save_or_warn (s);
    return G_SOURCE_CONTINUE;
}

/* ---- replies ------------------------------------------------------------- */

/* #syscalls: sendmsg sendto (send) */
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
    rep.status = uffd_shim_status_for_version (status, version);
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
            GrantCache *c = grant_cache (s, g);
            gboolean hinted = c->pidfile_hint == pid || g->pid == pid;
            gboolean active = g->state == UFFD_SHIM_GRANT_ACTIVE;

            if (active != (pass < 2) || hinted != (pass % 2 == 0))
                continue;
            if (!uffd_shim_libvirt_read_pidfile (s->cfg->libvirt_run_dir, g->name, &rec, NULL)) {
                c->pidfile_hint = 0;
                continue;
            }
            c->pidfile_hint = rec.pidfile_pid;
            if (rec.pidfile_pid == pid && rec.lock_pid == pid)
                return g;
        }
    }
    return NULL;
}

/* #syscalls: stat newfstatat statx */
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
/* #syscalls: fstat newfstatat statx (the connection's inode) */
/* #syscalls: open openat close (DEVICE_PATH) */
static void
serve_backend (Client *c, UffdShimPeer *peer, gint64 now)
{
    UffdShimServer *s = c->srv;
    g_autoptr (GArray) exes = uffd_shim_backend_executable_ids (s->cfg);
    UffdShimBackendFacts f;
    UffdShimBackendInput in = { 0 };
    UffdShimBackendWhy why;
    char uuid[37] = "-";
    g_autofree char *exe = NULL, *domain = NULL, *sock = NULL;
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
    /* Out of reach of the processes of its uid, as a QEMU must be. */
    if (st == UFFD_SHIM_OK && (peer->tracer || peer->dumpable))
        st = peer->tracer ? UFFD_SHIM_E_TRACED : UFFD_SHIM_E_DUMPABLE;
    if (st == UFFD_SHIM_OK) {
        dev = open (DEVICE_PATH, O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            g_warning ("cannot open " DEVICE_PATH ": %s", g_strerror (errno));
            st = UFFD_SHIM_E_INTERNAL;
        } else {
            st = uffd_shim_peer_recheck (peer);
        }
    }
    if (f.grant)
        uffd_shim_uuid_format (f.grant->uuid, uuid);
    exe = uffd_shim_log_value (peer->exe_known ? peer->exe : NULL);
    domain = uffd_shim_log_value (f.grant ? f.grant->name : NULL);
    sock = uffd_shim_log_value (f.grant ? f.socket : NULL);
    if (st == UFFD_SHIM_OK && send_reply (c->fd, c->version, UFFD_SHIM_OK, 0, dev)) {
        s->handed_out++;
        uffd_shim_backend_budget_consume (s->backend_budget, f.grant, s->cfg->backend_uses);
        uffd_shim_audit ("decision=grant role=backend reason=ok pid=%d uid=%d exe=%s domain=%s "
                         "uuid=%s socket=%s qemu=%d backend-uses-left=%u",
                         (int) peer->pid, (int) peer->uid, exe, domain, uuid, sock,
                         (int) f.qemu_pid, in.uses_left - 1);
    } else {
        if (st == UFFD_SHIM_OK)
            st = UFFD_SHIM_E_PEER_GONE;
        s->denied++;
        uffd_shim_audit ("decision=deny role=backend reason=%s why=%s pid=%d uid=%d exe=%s "
                         "domain=%s uuid=%s socket=%s",
                         uffd_shim_status_code_name (st), uffd_shim_backend_why_name (why), (int) peer->pid,
                         (int) peer->uid, exe, domain, uuid, sock);
        send_reply (c->fd, c->version, (uint32_t) st, 0, -1);
    }
    if (dev >= 0)
        close (dev);
}


/* The active grant already bound to @peer (same pid and start time), found
 * in memory: such a request takes the fast path (see serve_get_device). */
static UffdShimGrant *
bound_grant (UffdShimServer *s, const UffdShimPeer *peer)
{
    GPtrArray *all = uffd_shim_grants_unsorted (s->grants);

    for (guint i = 0; i < all->len; i++) {
        UffdShimGrant *g = g_ptr_array_index (all, i);
        if (g->state == UFFD_SHIM_GRANT_ACTIVE && uffd_shim_policy_bound_to (g, peer))
            return g;
    }
    return NULL;
}

/*
 * A GET_DEVICE request. For a peer no active grant is bound to yet, every
 * fact is read: uid and executable first (cheap, no file I/O), then the
 * grant whose libvirt pid file names the peer with its lock held by it, then
 * that domain's status XML. For the QEMU a grant is already bound to (the
 * same process: pid and start time, pinned by its pidfd until the reply is
 * sent) the pid file and its lock are not read again: they named this very
 * process when the grant was bound, and libvirt writes them for another
 * process only after this one is gone, which the pidfd check catches. What
 * can change while it lives is read as for anyone: its uids, its executable
 * (compared with the one recorded at binding), and the status XML (still
 * this pid, this UUID, still an incoming migration).
 */
/* #syscalls: open openat close (DEVICE_PATH) */
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
    g_autofree char *exe = NULL, *domain = NULL;
    int st, dev = -1;
    gboolean last = (req->hints & UFFD_SHIM_HINT_LAST) != 0;
    gboolean hold = (req->hints & UFFD_SHIM_HINT_HOLD) != 0;

    if (!uffd_shim_peer_identify (c->fd, &c->cred, &peer, &e)) {
        g_autofree char *detail = uffd_shim_log_value (e->message);

        uffd_shim_peer_clear (&peer);
        s->denied++;
        if (log_allowed (&s->log_deny, "reason=%s pid=%d", uffd_shim_status_code_name (e->code), (int) peer.pid))
            uffd_shim_audit ("decision=deny reason=%s pid=%d uid=- exe=- domain=- uuid=- detail=%s",
                             uffd_shim_status_code_name (e->code), (int) peer.pid, detail);
        send_reply (c->fd, c->version, (uint32_t) e->code, 0, -1);
        return;
    }
    in.qemu_uid = s->cfg->qemu_uid;
    in.peer = &peer;
    in.last = last;
    in.now = now_s ();
    g = bound_grant (s, &peer);
    if (!g || (!g->exe_dev && !g->exe_ino)) {
        emus = emulator_ids (s->cfg);
        in.emulators = (const UffdShimFileId *) emus->data;
        in.n_emulators = emus->len;
    }
    if (!g) {
        /* Only a peer of the QEMU user running an emulator is worth file I/O. */
        st = uffd_shim_policy_decide (&in);
        /* vhost-user back-ends: decided by serve_backend (backend.c). */
        if ((st == UFFD_SHIM_E_WRONG_UID || st == UFFD_SHIM_E_WRONG_EXE) && s->backend_facts &&
            uffd_shim_backend_candidate (s->cfg, &peer)) {
            serve_backend (c, &peer, in.now);
            uffd_shim_peer_clear (&peer);
            return;
        }
        if (st == UFFD_SHIM_E_NOT_GRANTED)
            g = find_grant_for_pid (s, peer.pid);
    }
    in.grant = g;
    if (g) {
        in.domain_allowed = uffd_shim_config_domain_allowed (s->cfg, g->name);
        /* An ended grant is refused whatever libvirt says: no need to read it. */
        if (g->state == UFFD_SHIM_GRANT_ACTIVE && read_status (s, g, peer.pid, &rec))
            in.status = &rec;
    }
    st = uffd_shim_policy_decide (&in);
    if (st == UFFD_SHIM_OK) {
        dev = open (DEVICE_PATH, O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            g_warning ("cannot open " DEVICE_PATH ": %s", g_strerror (errno));
            st = UFFD_SHIM_E_INTERNAL;
        } else {
            st = uffd_shim_peer_recheck (&peer);
        }
    }
    if (g)
        uffd_shim_uuid_format (g->uuid, uuid);
    exe = uffd_shim_log_value (peer.exe_known ? peer.exe : NULL);
    domain = uffd_shim_log_value (g ? g->name : NULL);
    if (st == UFFD_SHIM_OK && send_reply (c->fd, c->version, UFFD_SHIM_OK, 0, dev)) {
        s->handed_out++;
        uffd_shim_grants_consume (s->grants, g, peer.pid, peer.starttime, peer.exe_dev,
                                  peer.exe_ino, last, in.now);
        uffd_shim_audit ("decision=grant reason=ok pid=%d uid=%d exe=%s domain=%s uuid=%s "
                         "uses-left=%u last=%s%s",
                         (int) peer.pid, (int) peer.uid, exe, domain, uuid, g->uses_left,
                         last ? "yes" : "no", hold ? " hold=yes" : "");
        if (g->state != UFFD_SHIM_GRANT_ACTIVE)
            grant_ended (s, g, NULL);
        else if (hold)
            c->hold = g_strdup (g->name);
        s->dirty = TRUE;
    } else {
        if (st == UFFD_SHIM_OK)
            st = UFFD_SHIM_E_PEER_GONE; /* the reply could not be delivered */
        s->denied++;
        if (log_allowed (&s->log_deny, "reason=%s pid=%d uid=%d", uffd_shim_status_code_name (st),
                         (int) peer.pid, (int) peer.uid))
            uffd_shim_audit ("decision=deny reason=%s pid=%d uid=%d exe=%s domain=%s uuid=%s",
                             uffd_shim_status_code_name (st), (int) peer.pid, (int) peer.uid, exe, domain, uuid);
        send_reply (c->fd, c->version, uffd_shim_status_for_version ((uint32_t) st, c->version), 0,
                    -1);
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

/* #syscalls: getpid */
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
    r.clients = s->n_clients + s->n_admin;
    if (send_reply (c->fd, c->version, UFFD_SHIM_OK, 1, -1))
        send_record (c->fd, &r, sizeof r);
}

/*
 * Is @g serving the incoming migration of a live QEMU? Ending it then would
 * make that migration fail at the switch to postcopy, after the source has
 * paused the guest, so REVOKE and GRANT REPLACE are refused (in-use): the
 * way to stop such a migration is to abort it on the source, and the grant
 * ends with its QEMU. Only a grant known to be done with is let go: bound,
 * and its QEMU gone or libvirt showing no incoming migration for it.
 */
static gboolean
grant_in_use (UffdShimServer *s, UffdShimGrant *g)
{
    UffdShimLibvirtRecord rec = { 0 };
    int alive;
    gboolean have;

    if (!g || g->state != UFFD_SHIM_GRANT_ACTIVE || !g->pid)
        return FALSE;
    alive = uffd_shim_proc_alive (g->pid, g->starttime);
    have = alive == TRUE && read_status (s, g, g->pid, &rec);
    return uffd_shim_policy_bound_verdict (g, alive, have ? &rec : NULL) == UFFD_SHIM_BOUND_KEEP;
}

static int
serve_grant (UffdShimServer *s, const struct uffd_shim_admin_request *req)
{
    const UffdShimConfig *cfg = s->cfg;
    guint32 life = req->lifetime_s ? req->lifetime_s : cfg->grant_lifetime_s;
    guint32 uses = req->uses ? req->uses : cfg->grant_uses;
    g_autoptr (GError) e = NULL;
    g_autofree char *name = NULL;
    char uuid[37];
    int st;

    uffd_shim_uuid_format (req->uuid, uuid);
    if (!uffd_shim_config_domain_allowed (cfg, req->name))
        st = UFFD_SHIM_E_DOMAIN_DENIED;
    else if (life > 7 * 24 * 3600 || uses > 1000)
        st = UFFD_SHIM_E_INVALID;
    else if ((req->hdr.flags & UFFD_SHIM_GRANT_REPLACE) &&
             grant_in_use (s, uffd_shim_grants_lookup (s->grants, req->name)))
        st = UFFD_SHIM_E_IN_USE;
    else
        st = uffd_shim_grants_add (s->grants, req->name, req->uuid, now_s (), life, uses,
                                   (req->hdr.flags & UFFD_SHIM_GRANT_REPLACE) != 0);
    if (st == UFFD_SHIM_OK) /* a replaced grant's HOLD connection goes with it */
        g_hash_table_remove (s->holders, req->name);
    if (st == UFFD_SHIM_OK && !save_state (s, &e)) {
        g_warning ("cannot save grant state: %s", e->message);
        uffd_shim_grants_end (s->grants, req->name, UFFD_SHIM_GRANT_REVOKED, now_s ());
        st = UFFD_SHIM_E_STATE;
    }
    name = uffd_shim_log_value (req->name);
    uffd_shim_audit ("grant-create domain=%s uuid=%s lifetime=%u uses=%u result=%s", name, uuid,
                     life, uses, uffd_shim_status_code_name (st));
    return st;
}

static int
serve_revoke (UffdShimServer *s, const struct uffd_shim_admin_request *req)
{
    UffdShimGrant *g = uffd_shim_grants_lookup (s->grants, req->name);
    g_autofree char *name = uffd_shim_log_value (req->name);
    int st;

    if (!g || g->state != UFFD_SHIM_GRANT_ACTIVE)
        st = UFFD_SHIM_E_NOT_FOUND;
    else if (grant_in_use (s, g))
        st = UFFD_SHIM_E_IN_USE;
    else
        st = UFFD_SHIM_OK;
    uffd_shim_audit ("grant-revoke domain=%s result=%s", name, uffd_shim_status_code_name (st));
    if (st == UFFD_SHIM_OK) {
        end_grant (s, req->name, UFFD_SHIM_GRANT_REVOKED, NULL);
        save_or_warn (s);
    }
    return st;
}

static void
serve_admin (Client *c, const void *buf, gsize len)
{
    struct uffd_shim_admin_request req;
    const struct ucred cred = c->cred; /* SO_PEERCRED, read at accept */
    int st;

    if (cred.uid != 0) {
        c->srv->denied++;
        if (log_allowed (&c->srv->log_deny, "admin reason=not-root uid=%d", (int) cred.uid))
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

/* A HOLD connection became readable: its client closed it (it took the
 * userfaultfd it kept, or exited) or sent something it must not. Either
 * way the grant has served its last request. */
static gboolean
on_holder_io (int fd, GIOCondition cond, gpointer data)
{
    Client *c = data;
    UffdShimServer *s = c->srv;
    UffdShimGrant *g = uffd_shim_grants_lookup (s->grants, c->hold);

    c->io_src = 0; /* this source ends here */
    if (g && g->state == UFFD_SHIM_GRANT_ACTIVE) {
        /* A QEMU that exits closes it too. */
        gboolean gone = uffd_shim_proc_alive (g->pid, g->starttime) == FALSE;

        uffd_shim_grants_end (s->grants, c->hold,
                              gone ? UFFD_SHIM_GRANT_EXITED : UFFD_SHIM_GRANT_EXHAUSTED, now_s ());
        grant_ended (s, uffd_shim_grants_lookup (s->grants, c->hold),
                     gone ? NULL : "(held connection closed)");
        save_or_warn (s);
    } else {
        g_hash_table_remove (s->holders, c->hold);
    }
    return G_SOURCE_REMOVE;
}

/* @c was served with HOLD: it leaves the clients (and their cap and
 * deadline) and becomes its grant's holder, replacing an earlier one. */
static void
keep_holder (Client *c)
{
    UffdShimServer *s = c->srv;

    g_hash_table_steal (s->clients, c);
    s->n_clients--; /* a holder is bounded by the grants, not by max-clients */
    if (c->io_src)
        g_source_remove (c->io_src);
    if (c->timeout_src)
        g_source_remove (c->timeout_src);
    c->timeout_src = 0;
    c->io_src = g_unix_fd_add (c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_holder_io, c);
    g_hash_table_replace (s->holders, g_strdup (c->hold), c);
}

/* Reads and serves @c's request. FALSE if it has not arrived yet; TRUE if
 * the client was served or dropped (and freed). */
/* #syscalls: recvmsg close (fds a client sent) */
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
        if (c->hold) {
            keep_holder (c);
            return TRUE;
        }
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

static gboolean on_accept (int lfd, GIOCondition cond, gpointer data);

static void
listen_watch (UffdShimServer *s)
{
    for (int i = 0; i < 2; i++)
        if (!s->listen_src[i])
            s->listen_src[i] = g_unix_fd_add (s->listen_fd[i], G_IO_IN, on_accept, s);
}

static gboolean
on_accept_resume (gpointer data)
{
    UffdShimServer *s = data;

    s->resume_src = 0;
    listen_watch (s);
    return G_SOURCE_REMOVE;
}

/* accept() failed for lack of fds (or anything else that would fail again
 * at once): rest both listeners for a while instead of spinning on them. */
static void
accept_pause (UffdShimServer *s, int err)
{
    for (int i = 0; i < 2; i++)
        if (s->listen_src[i]) {
            g_source_remove (s->listen_src[i]);
            s->listen_src[i] = 0;
        }
    if (!s->resume_src)
        s->resume_src = g_timeout_add (ACCEPT_PAUSE_MS, on_accept_resume, s);
    if (log_allowed (&s->log_accept, "%s", g_strerror (err)))
        g_warning ("accept: %s; not accepting for %d ms (%u client and %u admin connections "
                   "open)", g_strerror (err), ACCEPT_PAUSE_MS, s->n_clients, s->n_admin);
}

/* Answers connection @fd with @status at once and closes it. Reading is
 * shut down first: a request that comes later fails at the peer's send()
 * (EPIPE; it then reads the reply) instead of lying unread in the socket,
 * which would make the peer's first recv() see a reset instead of the
 * reply. What had arrived is read (any fds it carries are discarded by the
 * kernel: there is no room for them), so the reply is in its version. */
/* #syscalls: shutdown recvmsg close */
static void
refuse_now (int fd, uint32_t status)
{
    struct uffd_shim_hdr h;
    struct iovec iov = { .iov_base = &h, .iov_len = sizeof h };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    guint16 version = UFFD_SHIM_VERSION_MIN;
    ssize_t n;

    shutdown (fd, SHUT_RD);
    while ((n = recvmsg (fd, &msg, MSG_DONTWAIT)) > 0)
        if (n == (ssize_t) sizeof h && h.magic == UFFD_SHIM_MAGIC &&
            h.version >= UFFD_SHIM_VERSION_MIN && h.version <= UFFD_SHIM_VERSION)
            version = h.version;
    send_reply (fd, version, status, 0, -1);
    close (fd);
}

/* Whether the new connection @fd of peer @cred may be kept. If not, it is
 * answered or closed here. */
static gboolean
admit (UffdShimServer *s, int fd, gboolean admin, const struct ucred *cred)
{
    /* A client may be served if it runs as the QEMU user, as the [backend]
     * user (when back-ends are configured) or as root (refused later, with
     * its reason); anyone else never is. */
    if (admin ? cred->uid != 0
              : cred->uid != s->cfg->qemu_uid && cred->uid != 0 &&
                    !(s->backend_facts && s->cfg->backend_uid != (uid_t) -1 &&
                      cred->uid == s->cfg->backend_uid)) {
        const char *reason = admin ? "not-root" : "wrong-uid";

        s->denied++;
        if (admin && log_allowed (&s->log_deny, "admin reason=%s pid=%d uid=%d", reason,
                                  (int) cred->pid, (int) cred->uid))
            uffd_shim_audit ("admin decision=deny reason=%s pid=%d uid=%d", reason,
                             (int) cred->pid, (int) cred->uid);
        else if (!admin && log_allowed (&s->log_deny, "reason=%s pid=%d uid=%d", reason,
                                        (int) cred->pid, (int) cred->uid)) {
            char path[64], exe[PATH_MAX];
            ssize_t n;
            g_autofree char *q = NULL;

            g_snprintf (path, sizeof path, "/proc/%d/exe", (int) cred->pid);
            n = readlink (path, exe, sizeof exe - 1);
            if (n > 0)
                exe[n] = '\0';
            q = uffd_shim_log_value (n > 0 ? exe : NULL);
            uffd_shim_audit ("decision=deny reason=%s pid=%d uid=%d exe=%s domain=- uuid=-", reason,
                             (int) cred->pid, (int) cred->uid, q);
        }
        refuse_now (fd, admin ? UFFD_SHIM_E_NOT_ROOT : UFFD_SHIM_E_WRONG_UID);
        return FALSE;
    }
    if (admin ? s->n_admin >= ADMIN_MAX : s->n_clients >= s->max_clients) {
        const char *full = admin ? "admin connections" : "max-clients";

        s->dropped++;
        if (log_allowed (&s->log_drop, "uid %d: %s reached", (int) cred->uid, full))
            g_message ("closed a new %s connection of uid %d at once: %s (%u) reached",
                       admin ? "admin" : "uffd", (int) cred->uid, full,
                       admin ? ADMIN_MAX : s->max_clients);
        close (fd);
        return FALSE;
    }
    return TRUE;
}

/* #syscalls: accept4 getsockopt (SO_PEERCRED) readlink readlinkat (deny record) close */
static gboolean
on_accept (int lfd, GIOCondition cond, gpointer data)
{
    UffdShimServer *s = data;
    gboolean admin = lfd == s->listen_fd[1];

    for (int i = 0; i < 64; i++) {
        int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct ucred cred;
        socklen_t cl = sizeof cred;
        Client *c;

        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                accept_pause (s, errno);
            break;
        }
        if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
            s->dropped++;
            close (fd);
            continue;
        }
        if (!admit (s, fd, admin, &cred))
            continue;
        c = g_new0 (Client, 1);
        c->srv = s;
        c->fd = fd;
        c->version = UFFD_SHIM_VERSION;
        c->admin = admin;
        c->cred = cred;
        if (admin)
            s->n_admin++;
        else
            s->n_clients++;
        g_hash_table_add (s->clients, c);
        /* A client has usually sent its request by the time it is accepted:
         * then it is served at once, without a watch or a timer. */
        if (client_serve (c))
            continue;
        c->io_src = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_io, c);
        c->timeout_src = g_timeout_add (s->cfg->client_timeout_ms, on_client_timeout, c);
    }
    flush_state (s);
    /* Paused: accept_pause() removed this source already. */
    return s->resume_src ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* max-clients, lowered if the connections it allows would not fit in the
 * open-file limit next to the admin connections and FD_RESERVE. */
static void
clamp_clients (UffdShimServer *s)
{
    guint64 room = (guint64) s->nofile > ADMIN_MAX + FD_RESERVE
                       ? (guint64) s->nofile - ADMIN_MAX - FD_RESERVE : 1;

    s->max_clients = (guint) MIN ((guint64) s->cfg->max_clients, room);
    if (s->max_clients < s->cfg->max_clients)
        g_message ("max-clients %u lowered to %u: the open-file limit is %" G_GUINT64_FORMAT
                   ", and %d fds are kept for admin connections and the broker's own work "
                   "(raise LimitNOFILE= of the service)", s->cfg->max_clients, s->max_clients,
                   (guint64) s->nofile, ADMIN_MAX + FD_RESERVE);
}

UffdShimServer *
uffd_shim_server_new (const UffdShimConfig *cfg, int client_fd, int admin_fd, GError **error)
{
    g_autoptr (UffdShimServer) s = g_new0 (UffdShimServer, 1);

    s->grant_caches = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, grant_cache_free);

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
    s->holders = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, client_free);
    s->log_deny = (LogLimit) { .what = "denials", .audit = TRUE, .burst = 20 };
    s->log_drop = (LogLimit) { .what = "connections dropped or refused", .burst = 20 };
    s->log_accept = (LogLimit) { .what = "accept() failures", .burst = 2 };
    {
        struct rlimit rl;

        s->nofile = getrlimit (RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    }
    clamp_clients (s);
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
    uffd_shim_grants_expire (s->grants, s->started, on_expired, s);
    listen_watch (s);
    s->tick_src = g_timeout_add_seconds (1, on_tick, s);
    return g_steal_pointer (&s);
}

void
uffd_shim_server_reconfigure (UffdShimServer *s)
{
    clamp_clients (s);
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
    g_clear_pointer (&s->holders, g_hash_table_unref);
    if (s->resume_src)
        g_source_remove (s->resume_src);
    {
        LogLimit *all[] = { &s->log_deny, &s->log_drop, &s->log_accept };

        for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
            if (all[i]->src)
                g_source_remove (all[i]->src);
    }
    g_clear_pointer (&s->clients, g_hash_table_unref);
    uffd_shim_backend_facts_free (s->backend_facts);
    uffd_shim_backend_budget_free (s->backend_budget);
    g_clear_pointer (&s->grant_caches, g_hash_table_unref);
    uffd_shim_grants_free (s->grants);
    g_free (s->state_path);
    g_free (s->state_tmp);
    g_free (s);
}
