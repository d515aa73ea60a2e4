/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: grant table lifecycle and its persistent form. */
#include <glib.h>
#include <string.h>

#include "grants.h"

static const guint8 U1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const guint8 U2[16] = { 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9 };

static void
test_add_replace_limit (void)
{
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (2);
    static const guint8 zero[16];

    g_assert_cmpint (uffd_shim_grants_add (g, "a", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_OK);
    g_assert_cmpint (uffd_shim_grants_add (g, "a", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_E_EXISTS);
    g_assert_cmpint (uffd_shim_grants_add (g, "a", U2, 100, 60, 5, TRUE), ==, UFFD_SHIM_OK);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "a")->uses_left, ==, 5);
    g_assert_cmpint (uffd_shim_grants_add (g, "b", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_OK);
    g_assert_cmpint (uffd_shim_grants_add (g, "c", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_E_LIMIT);
    g_assert_cmpint (uffd_shim_grants_add (g, "", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_E_INVALID);
    g_assert_cmpint (uffd_shim_grants_add (g, "x/y", U1, 100, 60, 3, FALSE), ==, UFFD_SHIM_E_INVALID);
    g_assert_cmpint (uffd_shim_grants_add (g, "d", zero, 100, 60, 3, FALSE), ==, UFFD_SHIM_E_INVALID);
    g_assert_cmpuint (uffd_shim_grants_active_count (g), ==, 2);
}

static void
test_consume_end_expire (void)
{
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (10);
    UffdShimGrant *gr;

    uffd_shim_grants_add (g, "a", U1, 100, 60, 2, FALSE);
    gr = uffd_shim_grants_lookup (g, "a");
    uffd_shim_grants_consume (g, gr, 42, 777, 8, 1234, FALSE, 101);
    g_assert_cmpuint (gr->state, ==, UFFD_SHIM_GRANT_ACTIVE);
    g_assert_cmpint (gr->pid, ==, 42);
    uffd_shim_grants_consume (g, gr, 42, 777, 8, 1234, FALSE, 102);
    g_assert_cmpuint (gr->state, ==, UFFD_SHIM_GRANT_EXHAUSTED);
    g_assert_cmpuint (uffd_shim_grants_active_count (g), ==, 0);

    /* LAST ends it at once. */
    uffd_shim_grants_add (g, "b", U1, 100, 60, 8, FALSE);
    gr = uffd_shim_grants_lookup (g, "b");
    uffd_shim_grants_consume (g, gr, 43, 1, 8, 1234, TRUE, 101);
    g_assert_cmpuint (gr->state, ==, UFFD_SHIM_GRANT_EXHAUSTED);

    /* Revoke; then a new grant replaces the tombstone. */
    uffd_shim_grants_add (g, "c", U1, 100, 60, 8, FALSE);
    g_assert_cmpint (uffd_shim_grants_end (g, "c", UFFD_SHIM_GRANT_REVOKED, 105), ==, UFFD_SHIM_OK);
    g_assert_cmpint (uffd_shim_grants_end (g, "c", UFFD_SHIM_GRANT_REVOKED, 105), ==, UFFD_SHIM_E_NOT_FOUND);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "c")->state, ==, UFFD_SHIM_GRANT_REVOKED);
    uffd_shim_grants_add (g, "c", U1, 106, 60, 8, FALSE);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "c")->state, ==, UFFD_SHIM_GRANT_ACTIVE);

    /* Expiry at exactly created + lifetime, for a grant nobody used; a grant
     * bound to a QEMU never expires by the clock. */
    uffd_shim_grants_add (g, "d", U1, 100, 60, 8, FALSE);
    uffd_shim_grants_consume (g, uffd_shim_grants_lookup (g, "d"), 44, 9, 8, 1234, FALSE, 101);
    g_assert_false (uffd_shim_grants_expire (g, 165, NULL, NULL));
    g_assert_true (uffd_shim_grants_expire (g, 166, NULL, NULL));
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "c")->state, ==, UFFD_SHIM_GRANT_EXPIRED);
    uffd_shim_grants_expire (g, 100 + 7 * 24 * 3600, NULL, NULL);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "d")->state, ==, UFFD_SHIM_GRANT_ACTIVE);
    g_assert_cmpint (uffd_shim_grants_end (g, "d", UFFD_SHIM_GRANT_DONE, 200), ==, UFFD_SHIM_OK);
    /* Tombstones are forgotten after an hour. */
    uffd_shim_grants_expire (g, 166 + UFFD_SHIM_TOMBSTONE_SECONDS + 1, NULL, NULL);
    g_assert_null (uffd_shim_grants_lookup (g, "c"));
}

static void
test_roundtrip (void)
{
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (10);
    g_autoptr (UffdShimGrants) h = uffd_shim_grants_new (10);
    g_autofree char *data = NULL;
    gsize len = 0;
    guint skipped = 99;
    g_autoptr (GError) e = NULL;
    UffdShimGrant *gr;

    uffd_shim_grants_add (g, "vm with spaces [x]", U1, 100, 60, 4, FALSE);
    gr = uffd_shim_grants_lookup (g, "vm with spaces [x]");
    uffd_shim_grants_consume (g, gr, 1234, 5678, 8, 1234, FALSE, 101);
    uffd_shim_grants_add (g, "gone", U2, 100, 60, 4, FALSE);
    uffd_shim_grants_end (g, "gone", UFFD_SHIM_GRANT_REVOKED, 102);
    data = uffd_shim_grants_to_data (g, &len);
    g_assert_true (uffd_shim_grants_from_data (h, data, len, &skipped, &e));
    g_assert_cmpuint (skipped, ==, 0);
    gr = uffd_shim_grants_lookup (h, "vm with spaces [x]");
    g_assert_nonnull (gr);
    g_assert_cmpint (gr->pid, ==, 1234);
    g_assert_cmpuint (gr->starttime, ==, 5678);
    g_assert_cmpuint (gr->exe_dev, ==, 8);
    g_assert_cmpuint (gr->exe_ino, ==, 1234);
    g_assert_cmpuint (gr->uses_left, ==, 3);
    g_assert_cmpmem (gr->uuid, 16, U1, 16);
    g_assert_cmpuint (uffd_shim_grants_lookup (h, "gone")->state, ==, UFFD_SHIM_GRANT_REVOKED);
}

static void
test_hostile_state (void)
{
    static const char *bad[] = {
        "[grant 0]\nname=a/b\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\ncreated=1\nexpires=2\nuses-left=1\nuses-max=1\npid=0\nstarttime=0\nstate=active\nended=0\n",
        "[grant 0]\nname=a\nuuid=nope\ncreated=1\nexpires=2\nuses-left=1\nuses-max=1\npid=0\nstarttime=0\nstate=active\nended=0\n",
        "[grant 0]\nname=a\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\ncreated=1\nexpires=2\nuses-left=5\nuses-max=1\npid=0\nstarttime=0\nstate=active\nended=0\n",
        "[grant 0]\nname=a\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\ncreated=1\nexpires=2\nuses-left=1\nuses-max=1\npid=0\nstarttime=0\nstate=bogus\nended=0\n",
        "[grant 0]\nname=a\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\ncreated=5\nexpires=2\nuses-left=1\nuses-max=1\npid=0\nstarttime=0\nstate=active\nended=0\n",
        "[grant 0]\nname=a\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\ncreated=1\nexpires=2\nuses-left=0\nuses-max=1\npid=0\nstarttime=0\nstate=active\nended=0\n",
        "[other]\nname=a\n",
    };

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
        g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (10);
        guint skipped = 0;
        g_assert_true (uffd_shim_grants_from_data (g, bad[i], strlen (bad[i]), &skipped, NULL));
        g_assert_cmpuint (skipped, ==, 1);
        g_assert_cmpuint (uffd_shim_grants_active_count (g), ==, 0);
    }
}

static void
test_uuid (void)
{
    guint8 u[16];
    char s[37];

    g_assert_true (uffd_shim_uuid_parse ("01020304-0506-0708-090A-0b0c0d0e0f10", u));
    g_assert_cmpmem (u, 16, U1, 16);
    uffd_shim_uuid_format (u, s);
    g_assert_cmpstr (s, ==, "01020304-0506-0708-090a-0b0c0d0e0f10");
    g_assert_false (uffd_shim_uuid_parse ("0102030405060708090a0b0c0d0e0f10", u));
    g_assert_false (uffd_shim_uuid_parse ("01020304-0506-0708-090a-0b0c0d0e0f1g", u));
    g_assert_false (uffd_shim_uuid_parse ("01020304-0506-0708-090a-0b0c0d0e0f100", u));
}

/* Ended grants are capped at every end, not only at the once-a-second expiry:
 * many domains coming and going cannot grow the table. */
static void
test_tombstone_cap (void)
{
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (4);
    char name[32];

    for (guint i = 0; i < UFFD_SHIM_TOMBSTONE_MAX + 50; i++) {
        g_snprintf (name, sizeof name, "vm-%u", i);
        g_assert_cmpint (uffd_shim_grants_add (g, name, U1, 100, 60, 1, FALSE), ==, UFFD_SHIM_OK);
        if (i % 2)
            g_assert_cmpint (uffd_shim_grants_end (g, name, UFFD_SHIM_GRANT_REVOKED, 100 + i), ==,
                             UFFD_SHIM_OK);
        else
            uffd_shim_grants_consume (g, uffd_shim_grants_lookup (g, name), 42, 7, 8, 1234, FALSE,
                                      100 + i);
        g_assert_cmpuint (uffd_shim_grants_unsorted (g)->len, <=, UFFD_SHIM_TOMBSTONE_MAX);
    }
    g_assert_cmpuint (uffd_shim_grants_unsorted (g)->len, ==, UFFD_SHIM_TOMBSTONE_MAX);
    /* The oldest went first; the newest outcome is still told. */
    g_assert_null (uffd_shim_grants_lookup (g, "vm-0"));
    g_assert_null (uffd_shim_grants_lookup (g, "vm-49"));
    g_assert_nonnull (uffd_shim_grants_lookup (g, "vm-50"));
    g_snprintf (name, sizeof name, "vm-%u", UFFD_SHIM_TOMBSTONE_MAX + 49);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, name)->state, ==, UFFD_SHIM_GRANT_REVOKED);
    /* Active grants are never dropped for tombstones. */
    g_assert_cmpint (uffd_shim_grants_add (g, "live", U1, 100, 60, 1, FALSE), ==, UFFD_SHIM_OK);
    g_assert_cmpint (uffd_shim_grants_add (g, "doomed", U1, 100, 60, 1, FALSE), ==, UFFD_SHIM_OK);
    g_assert_cmpint (uffd_shim_grants_end (g, "doomed", UFFD_SHIM_GRANT_REVOKED, 5000), ==, UFFD_SHIM_OK);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "live")->state, ==, UFFD_SHIM_GRANT_ACTIVE);
    g_assert_cmpuint (uffd_shim_grants_lookup (g, "doomed")->state, ==, UFFD_SHIM_GRANT_REVOKED);
    g_assert_cmpuint (uffd_shim_grants_unsorted (g)->len, ==, UFFD_SHIM_TOMBSTONE_MAX + 1);

    /* The state text keeps the active grant and only the newest ended ones. */
    {
        g_autoptr (UffdShimGrants) h = uffd_shim_grants_new (4);
        g_autofree char *data = NULL;
        gsize len = 0;
        guint skipped = 99;

        data = uffd_shim_grants_to_data (g, &len);
        g_assert_true (uffd_shim_grants_from_data (h, data, len, &skipped, NULL));
        g_assert_cmpuint (skipped, ==, 0);
        g_assert_cmpuint (uffd_shim_grants_unsorted (h)->len, ==, UFFD_SHIM_TOMBSTONE_PERSIST + 1);
        g_assert_cmpuint (uffd_shim_grants_lookup (h, "live")->state, ==, UFFD_SHIM_GRANT_ACTIVE);
        g_assert_nonnull (uffd_shim_grants_lookup (h, "doomed"));
        g_snprintf (name, sizeof name, "vm-%u", UFFD_SHIM_TOMBSTONE_MAX + 49);
        g_assert_nonnull (uffd_shim_grants_lookup (h, name));
        g_assert_null (uffd_shim_grants_lookup (h, "vm-50"));
    }
}

/* Grants ended by expiry are capped like any other end: the oldest ended go,
 * whatever the order of the table (grants_all sorts it, active first). */
static void
test_tombstone_cap_expire (void)
{
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (8);
    char name[32];

    for (guint i = 0; i < UFFD_SHIM_TOMBSTONE_MAX; i++) {
        g_snprintf (name, sizeof name, "old-%u", i);
        g_assert_cmpint (uffd_shim_grants_add (g, name, U1, 100, 60, 1, FALSE), ==, UFFD_SHIM_OK);
        g_assert_cmpint (uffd_shim_grants_end (g, name, UFFD_SHIM_GRANT_REVOKED, 100 + i), ==,
                         UFFD_SHIM_OK);
    }
    for (guint i = 0; i < 5; i++) {
        g_snprintf (name, sizeof name, "new-%u", i);
        g_assert_cmpint (uffd_shim_grants_add (g, name, U1, 2000, 60, 1, FALSE), ==, UFFD_SHIM_OK);
    }
    (void) uffd_shim_grants_all (g);
    g_assert_true (uffd_shim_grants_expire (g, 3000, NULL, NULL));
    g_assert_cmpuint (uffd_shim_grants_unsorted (g)->len, ==, UFFD_SHIM_TOMBSTONE_MAX);
    for (guint i = 0; i < 5; i++) {
        g_snprintf (name, sizeof name, "new-%u", i);
        g_assert_nonnull (uffd_shim_grants_lookup (g, name));
        g_assert_cmpuint (uffd_shim_grants_lookup (g, name)->state, ==, UFFD_SHIM_GRANT_EXPIRED);
        g_snprintf (name, sizeof name, "old-%u", i);
        g_assert_null (uffd_shim_grants_lookup (g, name));
    }
    g_assert_nonnull (uffd_shim_grants_lookup (g, "old-5"));
}

/* A state file with more ended grants than the cap keeps the newest ones. */
static void
test_tombstone_cap_load (void)
{
    g_autoptr (GString) text = g_string_new ("[uffd-shim]\nversion=1\n");
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (4);
    guint skipped = 99;

    for (guint i = 0; i < UFFD_SHIM_TOMBSTONE_MAX + 10; i++)
        g_string_append_printf (text, "[grant %u]\nname=t%u\nuuid=01020304-0506-0708-090a-0b0c0d0e0f10\n"
                                "created=1\nexpires=2\nuses-left=0\nuses-max=1\npid=0\nstarttime=0\n"
                                "state=revoked\nended=%u\n", i, i, 10 + i);
    g_assert_true (uffd_shim_grants_from_data (g, text->str, text->len, &skipped, NULL));
    g_assert_cmpuint (skipped, ==, 0);
    g_assert_cmpuint (uffd_shim_grants_unsorted (g)->len, ==, UFFD_SHIM_TOMBSTONE_MAX);
    g_assert_null (uffd_shim_grants_lookup (g, "t9"));
    g_assert_nonnull (uffd_shim_grants_lookup (g, "t10"));
}

/* The state text is written directly; GKeyFile must read back every name
 * the protocol allows, and the boot id. */
static void
test_state_text (void)
{
    static const char *names[] = { " leading space", "back\\slash\\", "trailing space ",
                                   "# not a comment", "[brackets]=x", "\\s", "caf\xc3\xa9" };
    g_autoptr (UffdShimGrants) g = uffd_shim_grants_new (16);
    g_autoptr (UffdShimGrants) h = uffd_shim_grants_new (16);
    g_autoptr (GKeyFile) kf = g_key_file_new ();
    g_autofree char *data = NULL, *boot = NULL;
    gsize len = 0;
    guint skipped = 99;

    uffd_shim_grants_set_boot_id (g, "0f6a3c2e-1111-4222-8333-944455556666");
    for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
        g_assert_cmpint (uffd_shim_grants_add (g, names[i], U2, 100, 60, 3, FALSE), ==, UFFD_SHIM_OK);
    uffd_shim_grants_end (g, names[1], UFFD_SHIM_GRANT_REVOKED, 101);
    data = uffd_shim_grants_to_data (g, &len);
    g_assert_cmpuint (strlen (data), ==, len);
    g_assert_true (g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, NULL));
    boot = g_key_file_get_string (kf, "uffd-shim", "boot-id", NULL);
    g_assert_cmpstr (boot, ==, "0f6a3c2e-1111-4222-8333-944455556666");
    g_assert_true (uffd_shim_grants_from_data (h, data, len, &skipped, NULL));
    g_assert_cmpuint (skipped, ==, 0);
    for (gsize i = 0; i < G_N_ELEMENTS (names); i++) {
        UffdShimGrant *gr = uffd_shim_grants_lookup (h, names[i]);
        g_assert_nonnull (gr);
        g_assert_cmpstr (gr->name, ==, names[i]);
        g_assert_cmpmem (gr->uuid, 16, U2, 16);
        g_assert_cmpuint (gr->state, ==, i == 1 ? UFFD_SHIM_GRANT_REVOKED : UFFD_SHIM_GRANT_ACTIVE);
    }
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/grants/add", test_add_replace_limit);
    g_test_add_func ("/grants/lifecycle", test_consume_end_expire);
    g_test_add_func ("/grants/roundtrip", test_roundtrip);
    g_test_add_func ("/grants/hostile-state", test_hostile_state);
    g_test_add_func ("/grants/uuid", test_uuid);
    g_test_add_func ("/grants/tombstone-cap", test_tombstone_cap);
    g_test_add_func ("/grants/tombstone-cap-load", test_tombstone_cap_load);
    g_test_add_func ("/grants/tombstone-cap-expire", test_tombstone_cap_expire);
    g_test_add_func ("/grants/state-text", test_state_text);
    return g_test_run ();
}
