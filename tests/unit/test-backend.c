/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: vhost-user back-ends: status XML sockets, fdinfo and sock_diag parsers, the decision, budgets. */
#include <glib.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

#include "backend.h"

/* ---- status XML ------------------------------------------------------------- */

static GPtrArray *
sockets_of (const char *xml, gboolean *ok)
{
    GPtrArray *p = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GError) e = NULL;

    *ok = uffd_shim_backend_parse_sockets (xml, strlen (xml), p, &e);
    return p;
}

static void
test_sockets (void)
{
    const char *xml =
        "<domstatus state='running' pid='42'><domain type='kvm'><name>vm1</name>"
        "<devices>"
        "<disk type='vhostuser' device='disk'><source type='unix' path='/run/vu/a.sock'>"
        "<reconnect enabled='yes' timeout='10'/></source><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><source file='/var/lib/x.img'/></disk>"
        "<interface type='vhostuser'><source type='unix' path='/run/vu/net-c.sock' mode='client'/></interface>"
        "<interface type='vhostuser'><source type='unix' path='/run/vu/net-s.sock' mode='server'/></interface>"
        "<disk type='vhostuser'><source type='tcp' path='/run/vu/tcp.sock'/></disk>"
        "<x:disk xmlns:x='urn:x' type='vhostuser'><source type='unix' path='/run/vu/ns.sock'/></x:disk>"
        "</devices></domain></domstatus>";
    gboolean ok;
    g_autoptr (GPtrArray) p = sockets_of (xml, &ok);

    g_assert_true (ok);
    /* a disk is always QEMU's client side; an interface only in mode='client' */
    g_assert_cmpuint (p->len, ==, 2);
    g_assert_cmpstr (g_ptr_array_index (p, 0), ==, "/run/vu/a.sock");
    g_assert_cmpstr (g_ptr_array_index (p, 1), ==, "/run/vu/net-c.sock");
}

static void
test_sockets_none (void)
{
    gboolean ok;
    g_autoptr (GPtrArray) a = sockets_of ("<domstatus><domain><name>v</name></domain></domstatus>", &ok);

    g_assert_true (ok);
    g_assert_cmpuint (a->len, ==, 0);
}

static void
test_sockets_bad (void)
{
    static const char *const bad[] = {
        "",
        "<domstatus>",
        "<domain><devices/></domain>",
        "<domstatus xmlns='urn:x'><domain/></domstatus>",
        "<!DOCTYPE domstatus [<!ENTITY e 'x'>]><domstatus><domain/></domstatus>",
        /* relative, or with a control character */
        "<domstatus><domain><devices><disk type='vhostuser'><source type='unix' path='vu.sock'/>"
        "</disk></devices></domain></domstatus>",
        "<domstatus><domain><devices><disk type='vhostuser'><source type='unix' path='/a&#10;b'/>"
        "</disk></devices></domain></domstatus>",
    };
    GString *many = g_string_new ("<domstatus><domain><devices>");
    GString *longp = g_string_new ("<domstatus><domain><devices><disk type='vhostuser'>"
                                   "<source type='unix' path='/");

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        gboolean ok;
        g_autoptr (GPtrArray) p = sockets_of (bad[i], &ok);
        g_assert_false (ok);
    }
    for (int i = 0; i <= UFFD_SHIM_BACKEND_SOCKETS_MAX; i++)
        g_string_append_printf (many, "<disk type='vhostuser'><source type='unix' path='/s%d'/></disk>", i);
    g_string_append (many, "</devices></domain></domstatus>");
    for (int i = 0; i < 107; i++)
        g_string_append_c (longp, 'a');
    g_string_append (longp, "'/></disk></devices></domain></domstatus>");
    {
        gboolean ok;
        g_autoptr (GPtrArray) p = sockets_of (many->str, &ok);
        g_assert_false (ok);
    }
    {
        gboolean ok;
        g_autoptr (GPtrArray) p = sockets_of (longp->str, &ok);
        g_assert_false (ok); /* 108 bytes: no room in sun_path */
    }
    g_string_free (many, TRUE);
    g_string_free (longp, TRUE);
}

/* ---- fdinfo ---------------------------------------------------------------- */

static void
test_fdinfo (void)
{
    const char *t = "pos:\t0\nflags:\t02000002\nmnt_id:\t8\nino:\t123456789\n";
    int mnt = -1;
    guint64 ino = 0;

    g_assert_true (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
    g_assert_cmpint (mnt, ==, 8);
    g_assert_cmpuint (ino, ==, 123456789);
    /* extra lines (eventfd, inotify) are ignored; both fields are needed */
    t = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t7\neventfd-count:    0\n";
    g_assert_true (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
    g_assert_cmpuint (ino, ==, 7);
    t = "pos:\t0\nmnt_id:\t8\n";
    g_assert_false (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
    t = "mnt_id:\tx\nino:\t1\n";
    g_assert_false (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
    t = "mnt_id:\t1\nino:\t-1\n";
    g_assert_false (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
    t = "mnt_id:\t99999999999\nino:\t1\n";
    g_assert_false (uffd_shim_parse_fdinfo (t, strlen (t), &mnt, &ino));
}

/* ---- sock_diag ------------------------------------------------------------- */

static gsize
diag_msg (unsigned char *buf, guint32 ino, guint8 state, gboolean vfs, guint32 peer)
{
    struct nlmsghdr h = { 0 };
    struct unix_diag_msg m = { 0 };
    gsize off = NLMSG_HDRLEN + NLMSG_ALIGN (sizeof m);

    m.udiag_family = AF_UNIX;
    m.udiag_state = state;
    m.udiag_ino = ino;
    memcpy (buf + NLMSG_HDRLEN, &m, sizeof m);
    if (vfs) {
        struct nlattr a = { .nla_len = sizeof a + sizeof (struct unix_diag_vfs),
                            .nla_type = UNIX_DIAG_VFS };
        /* the kernel's s_dev of device 0:27 */
        struct unix_diag_vfs v = { .udiag_vfs_ino = 555, .udiag_vfs_dev = (0u << 20) | 27 };
        memcpy (buf + off, &a, sizeof a);
        memcpy (buf + off + sizeof a, &v, sizeof v);
        off += NLA_ALIGN (a.nla_len);
    }
    if (peer) {
        struct nlattr a = { .nla_len = sizeof a + sizeof peer, .nla_type = UNIX_DIAG_PEER };
        memcpy (buf + off, &a, sizeof a);
        memcpy (buf + off + sizeof a, &peer, sizeof peer);
        off += NLA_ALIGN (a.nla_len);
    }
    h.nlmsg_len = (guint32) off;
    h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    memcpy (buf, &h, sizeof h);
    return off;
}

static void
test_unix_diag (void)
{
    unsigned char buf[256] = { 0 };
    UffdShimUnixSock u;
    gsize n = diag_msg (buf, 4242, 10, TRUE, 0);

    g_assert_true (uffd_shim_parse_unix_diag (buf, n, 4242, &u));
    g_assert_cmpuint (u.state, ==, 10);
    g_assert_true (u.bound);
    g_assert_cmpuint (u.vfs_ino, ==, 555);
    g_assert_true (u.vfs_dev == makedev (0, 27));
    g_assert_cmpuint (u.peer, ==, 0);

    n = diag_msg (buf, 77, 1, FALSE, 78);
    g_assert_true (uffd_shim_parse_unix_diag (buf, n, 77, &u));
    g_assert_false (u.bound);
    g_assert_cmpuint (u.peer, ==, 78);
    /* another socket than asked for, truncated, or a lying length */
    g_assert_false (uffd_shim_parse_unix_diag (buf, n, 76, &u));
    g_assert_false (uffd_shim_parse_unix_diag (buf, n - 1, 77, &u));
    g_assert_false (uffd_shim_parse_unix_diag (buf, 10, 77, &u));
    {
        struct nlattr a;
        gsize at = NLMSG_HDRLEN + NLMSG_ALIGN (sizeof (struct unix_diag_msg));
        memcpy (&a, buf + at, sizeof a);
        a.nla_len = 200;
        memcpy (buf + at, &a, sizeof a);
        g_assert_false (uffd_shim_parse_unix_diag (buf, n, 77, &u));
        a.nla_len = 2;
        memcpy (buf + at, &a, sizeof a);
        g_assert_false (uffd_shim_parse_unix_diag (buf, n, 77, &u));
    }
}

/* ---- the decision ------------------------------------------------------------- */

static const guint8 U1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

typedef struct {
    UffdShimPeer peer;
    UffdShimFileId exe;
    UffdShimGrant grant;
    UffdShimBackendInput in;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
    memset (f, 0, sizeof *f);
    f->peer.pid = 5000;
    f->peer.uid = 64055;
    for (int i = 0; i < 4; i++)
        f->peer.uids[i] = 64055;
    f->peer.exe_known = TRUE;
    f->peer.exe_dev = 8;
    f->peer.exe_ino = 99;
    f->exe.dev = 8;
    f->exe.ino = 99;
    f->grant.name = (char *) "vm1";
    memcpy (f->grant.uuid, U1, 16);
    f->grant.created = 100;
    f->grant.expires = 1000;
    f->grant.uses_left = f->grant.uses_max = 3;
    f->in.backend_uid = 64055;
    f->in.peer = &f->peer;
    f->in.executables = &f->exe;
    f->in.n_executables = 1;
    f->in.grant = &f->grant;
    f->in.n_granted_domains = 1;
    f->in.qemu_connected = TRUE;
    f->in.domain_allowed = TRUE;
    f->in.uses_left = 4;
    f->in.now = 500;
}

static void
teardown (Fixture *f, gconstpointer data)
{
}

static int
decide (Fixture *f, UffdShimBackendWhy want_why)
{
    UffdShimBackendWhy why = UFFD_SHIM_BACKEND_WHY_MAX_;
    int st = uffd_shim_backend_decide (&f->in, &why);

    g_assert_cmpstr (uffd_shim_backend_why_name (why), ==, uffd_shim_backend_why_name (want_why));
    return st;
}

static void
test_ok (Fixture *f, gconstpointer data)
{
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_OK), ==, UFFD_SHIM_OK);
    /* a grant already used by its QEMU is no obstacle: the back-end is another process */
    f->grant.pid = 4000;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_OK), ==, UFFD_SHIM_OK);
    /* shared, with the operator's consent */
    f->in.serves_other = TRUE;
    f->in.n_granted_domains = 2;
    f->in.shared_allowed = TRUE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_OK), ==, UFFD_SHIM_OK);
}

static void
test_uid (Fixture *f, gconstpointer data)
{
    f->peer.uids[2] = 0;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_UID), ==, UFFD_SHIM_E_WRONG_UID);
    f->peer.uids[2] = 64055;
    f->peer.uid = 1000;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_UID), ==, UFFD_SHIM_E_WRONG_UID);
    /* not configured, or root: never */
    f->peer.uid = 64055;
    f->in.backend_uid = (uid_t) -1;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_UID), ==, UFFD_SHIM_E_WRONG_UID);
    f->in.backend_uid = 0;
    f->peer.uid = 0;
    for (int i = 0; i < 4; i++)
        f->peer.uids[i] = 0;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_UID), ==, UFFD_SHIM_E_WRONG_UID);
}

static void
test_exe (Fixture *f, gconstpointer data)
{
    f->peer.exe_ino = 100;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_EXE), ==, UFFD_SHIM_E_WRONG_EXE);
    f->peer.exe_ino = 99;
    f->peer.exe_known = FALSE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_EXE), ==, UFFD_SHIM_E_WRONG_EXE);
    f->peer.exe_known = TRUE;
    f->in.n_executables = 0;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_EXE), ==, UFFD_SHIM_E_WRONG_EXE);
}

static void
test_no_socket (Fixture *f, gconstpointer data)
{
    f->in.grant = NULL;
    f->in.n_granted_domains = 0;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_NO_SOCKET), ==, UFFD_SHIM_E_NOT_GRANTED);
}

static void
test_grant_ended (Fixture *f, gconstpointer data)
{
    static const struct { guint32 state; int st; } t[] = {
        { UFFD_SHIM_GRANT_EXPIRED, UFFD_SHIM_E_EXPIRED },
        { UFFD_SHIM_GRANT_EXHAUSTED, UFFD_SHIM_E_EXHAUSTED },
        { UFFD_SHIM_GRANT_REVOKED, UFFD_SHIM_E_REVOKED },
        { UFFD_SHIM_GRANT_EXITED, UFFD_SHIM_E_NOT_GRANTED },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (t); i++) {
        f->grant.state = t[i].state;
        g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_GRANT_ENDED), ==, t[i].st);
    }
    f->grant.state = UFFD_SHIM_GRANT_ACTIVE;
    f->in.now = 1000;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_GRANT_ENDED), ==, UFFD_SHIM_E_EXPIRED);
}

static void
test_domain (Fixture *f, gconstpointer data)
{
    f->in.domain_allowed = FALSE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_DOMAIN), ==, UFFD_SHIM_E_DOMAIN_DENIED);
}

static void
test_not_connected (Fixture *f, gconstpointer data)
{
    f->in.qemu_connected = FALSE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_NOT_CONNECTED), ==, UFFD_SHIM_E_NOT_GRANTED);
    /* even when shared back-ends are allowed */
    f->in.shared_allowed = TRUE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_NOT_CONNECTED), ==, UFFD_SHIM_E_NOT_GRANTED);
}

static void
test_shared (Fixture *f, gconstpointer data)
{
    f->in.serves_other = TRUE;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_SHARED), ==, UFFD_SHIM_E_NOT_GRANTED);
    f->in.serves_other = FALSE;
    f->in.n_granted_domains = 2;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_SHARED), ==, UFFD_SHIM_E_NOT_GRANTED);
}

static void
test_used_up (Fixture *f, gconstpointer data)
{
    f->in.uses_left = 0;
    g_assert_cmpint (decide (f, UFFD_SHIM_BACKEND_WHY_USED_UP), ==, UFFD_SHIM_E_EXHAUSTED);
}

/* ---- budgets ------------------------------------------------------------------ */

static void
test_budget (void)
{
    UffdShimBackendBudget *b = uffd_shim_backend_budget_new ();
    UffdShimGrants *gs = uffd_shim_grants_new (16);
    UffdShimGrant *g;

    g_assert_cmpint (uffd_shim_grants_add (gs, "vm1", U1, 100, 600, 8, FALSE), ==, UFFD_SHIM_OK);
    g = uffd_shim_grants_lookup (gs, "vm1");
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 2);
    uffd_shim_backend_budget_consume (b, g, 2);
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 1);
    uffd_shim_backend_budget_consume (b, g, 2);
    uffd_shim_backend_budget_consume (b, g, 2);
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 0);
    /* the grant's own uses are not touched */
    g_assert_cmpuint (g->uses_left, ==, 8);
    /* a replacement grant (another creation time) starts afresh */
    g_assert_cmpint (uffd_shim_grants_add (gs, "vm1", U1, 200, 600, 8, TRUE), ==, UFFD_SHIM_OK);
    g = uffd_shim_grants_lookup (gs, "vm1");
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 2);
    uffd_shim_backend_budget_consume (b, g, 2);
    /* pruned once the grant ends */
    uffd_shim_backend_budget_prune (b, gs);
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 1);
    g_assert_cmpint (uffd_shim_grants_end (gs, "vm1", UFFD_SHIM_GRANT_REVOKED, 300), ==, UFFD_SHIM_OK);
    uffd_shim_backend_budget_prune (b, gs);
    g_assert_cmpuint (uffd_shim_backend_budget_left (b, g, 2), ==, 2);
    uffd_shim_grants_free (gs);
    uffd_shim_backend_budget_free (b);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/backend/sockets", test_sockets);
    g_test_add_func ("/backend/sockets-none", test_sockets_none);
    g_test_add_func ("/backend/sockets-bad", test_sockets_bad);
    g_test_add_func ("/backend/fdinfo", test_fdinfo);
    g_test_add_func ("/backend/unix-diag", test_unix_diag);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
    ADD ("/backend/decide/ok", test_ok);
    ADD ("/backend/decide/uid", test_uid);
    ADD ("/backend/decide/exe", test_exe);
    ADD ("/backend/decide/no-socket", test_no_socket);
    ADD ("/backend/decide/grant-ended", test_grant_ended);
    ADD ("/backend/decide/domain", test_domain);
    ADD ("/backend/decide/not-connected", test_not_connected);
    ADD ("/backend/decide/shared", test_shared);
    ADD ("/backend/decide/used-up", test_used_up);
#undef ADD
    g_test_add_func ("/backend/budget", test_budget);
    return g_test_run ();
}
