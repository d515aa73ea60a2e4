/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of shim/audit-record.c: audit records parsed back, journal field names, per-grant summary. */
#include <glib.h>
#include <string.h>

#include "audit-record.h"

static UffdShimAuditRecord *
parse (const char *s)
{
    return uffd_shim_audit_record_parse (s, strlen (s));
}

static void
test_parse_forms (void)
{
    g_autoptr (UffdShimAuditRecord) a = parse ("grant-create domain=vm1 uuid=0b7f0b5e-3c1d-4a3f-9f5e-2b1c0d9e8f7a lifetime=1800 uses=8 result=ok");
    g_autoptr (UffdShimAuditRecord) b = parse ("decision=grant reason=ok pid=4242 uid=64055 exe=/usr/bin/qemu-system-x86_64 domain=vm1 uuid=x uses-left=7 last=no");
    g_autoptr (UffdShimAuditRecord) c = parse ("decision=deny reason=peer-gone pid=7 uid=- exe=- domain=- (cannot open /proc/7: No such process)");
    g_autoptr (UffdShimAuditRecord) d = parse ("grant-end domain=\"a b\\\"c\\\\d\\x41\" why=exhausted");

    g_assert_nonnull (a);
    g_assert_cmpstr (a->event, ==, "grant-create");
    g_assert_cmpuint (a->keys->len, ==, 5);
    g_assert_cmpstr (uffd_shim_audit_record_get (a, "uses"), ==, "8");
    g_assert_cmpstr (uffd_shim_audit_record_get (a, "result"), ==, "ok");
    g_assert_null (uffd_shim_audit_record_get (a, "pid"));
    g_assert_nonnull (b);
    g_assert_cmpstr (b->event, ==, "decision");
    g_assert_cmpstr (uffd_shim_audit_record_get (b, "uses-left"), ==, "7");
    g_assert_cmpstr (uffd_shim_audit_record_get (b, "exe"), ==, "/usr/bin/qemu-system-x86_64");
    g_assert_nonnull (c);
    g_assert_cmpstr (c->note, ==, "cannot open /proc/7: No such process");
    g_assert_cmpstr (uffd_shim_audit_record_get (c, "domain"), ==, "-");
    g_assert_nonnull (d);
    g_assert_cmpstr (uffd_shim_audit_record_get (d, "domain"), ==, "a b\"c\\dA");
    g_assert_cmpstr (uffd_shim_audit_record_get (d, "why"), ==, "exhausted");
}

static void
test_parse_rejects (void)
{
    const char *bad[] = {
        "", "reason=ok", "decision", "decision=grant\tpid=1", "decision=grant pid=\"1",
        "decision=grant x=\"a\\q\"", "decision=grant x=\"a\\x4\"", "decision=grant X=1",
        "grant-end grant-end domain=a", "decision=grant domain=\"a\"b", "decision=grant (x",
        "decision=grant =1", "decision=grant a=1 bare",
    };

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr (UffdShimAuditRecord) r = parse (bad[i]);

        if (r)
            g_error ("accepted: '%s'", bad[i]);
    }
    {
        char nul[] = "decision=grant a=b\0c=d";
        g_autofree char *big = g_strnfill (UFFD_SHIM_AUDIT_MAX + 1, 'a');

        g_assert_null (uffd_shim_audit_record_parse (nul, sizeof nul - 1));
        memcpy (big, "decision=", 9);
        g_assert_null (uffd_shim_audit_record_parse (big, strlen (big)));
    }
}

static void
test_journal_field (void)
{
    g_autofree char *a = uffd_shim_audit_journal_field ("uses-left");
    g_autofree char *b = uffd_shim_audit_journal_field ("domain");

    g_assert_cmpstr (a, ==, "UFFD_SHIM_USES_LEFT");
    g_assert_cmpstr (b, ==, "UFFD_SHIM_DOMAIN");
}

/* A migration that used the shim, one that was refused, records of another
 * domain, a revoked grant, and lines that are no records. */
static void
test_summary (void)
{
    const char *lines[] = {
        "Dec  4 05:00:00 host uffd-shimd[10]: audit: grant-create domain=vm1 uuid=u1 lifetime=1800 uses=8 result=ok",
        "Dec  4 05:00:01 host uffd-shimd[10]: audit: decision=grant reason=ok pid=4242 uid=64055 exe=/usr/bin/qemu domain=vm1 uuid=u1 uses-left=7 last=no",
        "Dec  4 05:00:01 host uffd-shimd[10]: audit: decision=grant reason=ok pid=99 uid=64055 exe=/usr/bin/qemu domain=vm2 uuid=u2 uses-left=7 last=no",
        "Dec  4 05:00:02 host uffd-shimd[10]: audit: decision=grant reason=ok pid=4242 uid=64055 exe=/usr/bin/qemu domain=vm1 uuid=u1 uses-left=6 last=yes",
        "Dec  4 05:00:02 host uffd-shimd[10]: audit: grant-end domain=vm1 uuid=u1 why=exhausted",
        "Dec  4 05:00:03 host uffd-shimd[10]: loaded 0 active grant(s) from /run/uffd-shim/grants.state",
        "Dec  4 06:00:00 host uffd-shimd[10]: audit: grant-create domain=vm1 uuid=u1 lifetime=1800 uses=8 result=ok",
        "Dec  4 06:00:05 host uffd-shimd[10]: audit: decision=deny reason=wrong-exe pid=5000 uid=64055 exe=/tmp/q domain=vm1 uuid=u1",
        "Dec  4 06:30:00 host uffd-shimd[10]: audit: grant-end domain=vm1 uuid=u1 why=expired",
        "uffd-shimd[11]: audit: grant-create domain=vm1 uuid=u1 lifetime=60 uses=8 result=ok",
        "uffd-shimd[11]: audit: grant-revoke domain=vm1 result=ok",
        "uffd-shimd[11]: audit: grant-create domain=vm1 uuid=u1 lifetime=60 uses=8 result=exists",
        "uffd-shimd[11]: audit: garbage \"",
    };
    g_autoptr (UffdShimAuditLog) l = uffd_shim_audit_log_new ("vm1");
    GPtrArray *g;
    UffdShimAuditGrant *x;
    guint fed = 0;

    for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
        fed += uffd_shim_audit_log_feed (l, lines[i], NULL);
    g_assert_cmpuint (fed, ==, 10);
    g = uffd_shim_audit_log_grants (l);
    g_assert_cmpuint (g->len, ==, 4);
    x = g->pdata[0];
    g_assert_true (uffd_shim_audit_grant_used (x));
    g_assert_cmpuint (x->handed_out, ==, 2);
    g_assert_true (x->last_seen);
    g_assert_cmpuint (x->pids->len, ==, 1);
    g_assert_cmpint (g_array_index (x->pids, int, 0), ==, 4242);
    g_assert_cmpstr (x->why, ==, "exhausted");
    g_assert_cmpstr (x->created_at, ==, "Dec  4 05:00:00");
    g_assert_cmpstr (x->ended_at, ==, "Dec  4 05:00:02");
    x = g->pdata[1];
    g_assert_false (uffd_shim_audit_grant_used (x));
    g_assert_cmpuint (x->denials->len, ==, 1);
    g_assert_cmpstr (x->denials->pdata[0], ==, "wrong-exe pid=5000");
    g_assert_cmpstr (x->why, ==, "expired");
    x = g->pdata[2];
    g_assert_cmpstr (x->why, ==, "revoked");
    g_assert_null (x->created_at);
    x = g->pdata[3];
    g_assert_false (x->created);
    g_assert_cmpstr (x->why, ==, "exists");
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/audit/parse-forms", test_parse_forms);
    g_test_add_func ("/audit/parse-rejects", test_parse_rejects);
    g_test_add_func ("/audit/journal-field", test_journal_field);
    g_test_add_func ("/audit/summary", test_summary);
    return g_test_run ();
}
