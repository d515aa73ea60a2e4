/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for shim/grants.c: the state file's text form, parsed, written and parsed again. */
#include <glib.h>
#include <string.h>

#include "fuzz-main.h"
#include "grants.h"

/* Small, so that the active-grant limit is reached by fuzz inputs too. */
#define FUZZ_MAX_ACTIVE 8

static void
assert_same_grant (const UffdShimGrant *a, const UffdShimGrant *b)
{
    g_assert_cmpstr (a->name, ==, b->name);
    g_assert_cmpmem (a->uuid, sizeof a->uuid, b->uuid, sizeof b->uuid);
    g_assert_cmpint (a->created, ==, b->created);
    g_assert_cmpint (a->expires, ==, b->expires);
    g_assert_cmpuint (a->uses_left, ==, b->uses_left);
    g_assert_cmpuint (a->uses_max, ==, b->uses_max);
    g_assert_cmpint (a->pid, ==, b->pid);
    g_assert_cmpuint (a->starttime, ==, b->starttime);
    g_assert_cmpuint (a->state, ==, b->state);
    g_assert_cmpint (a->ended, ==, b->ended);
}

/*
 * Oracles: no crash or leak; every accepted grant is valid (name, limits,
 * state consistent with uses left, at most one active grant per name and
 * FUZZ_MAX_ACTIVE in all); what the broker writes back is read back
 * completely (nothing skipped) and equal, field by field and byte by byte
 * when written again.
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    g_autoptr (UffdShimGrants) a = uffd_shim_grants_new (FUZZ_MAX_ACTIVE);
    g_autoptr (UffdShimGrants) b = uffd_shim_grants_new (FUZZ_MAX_ACTIVE);
    g_autoptr (GError) error = NULL;
    g_autofree char *text1 = NULL;
    g_autofree char *text2 = NULL;
    gsize len1 = 0, len2 = 0;
    guint skipped = 0;
    GPtrArray *la, *lb;

    if (!uffd_shim_grants_from_data (a, (const char *) data, size, &skipped, &error)) {
        g_assert_nonnull (error);
        return 0;
    }
    la = uffd_shim_grants_all (a);
    g_assert_cmpuint (uffd_shim_grants_active_count (a), <=, FUZZ_MAX_ACTIVE);
    for (guint i = 0; i < la->len; i++) {
        const UffdShimGrant *g = g_ptr_array_index (la, i);

        g_assert_true (g->name && g->name[0] && strlen (g->name) < UFFD_SHIM_NAME_MAX);
        g_assert_cmpuint (g->uses_max, >=, 1);
        g_assert_cmpuint (g->uses_max, <=, 1000);
        g_assert_cmpuint (g->uses_left, <=, g->uses_max);
        g_assert_cmpuint (g->state, <, UFFD_SHIM_GRANT_STATE_MAX_);
        g_assert_true ((g->state == UFFD_SHIM_GRANT_ACTIVE) == (g->uses_left > 0));
        g_assert_cmpint (g->expires, >=, g->created);
        if (g->state == UFFD_SHIM_GRANT_ACTIVE)
            g_assert_true (uffd_shim_grants_lookup (a, g->name) == g);
    }

    text1 = uffd_shim_grants_to_data (a, &len1);
    g_assert_nonnull (text1);
    skipped = 1;
    g_assert_true (uffd_shim_grants_from_data (b, text1, len1, &skipped, NULL));
    g_assert_cmpuint (skipped, ==, 0);
    lb = uffd_shim_grants_all (b);
    la = uffd_shim_grants_all (a);
    g_assert_cmpuint (la->len, ==, lb->len);
    for (guint i = 0; i < la->len; i++)
        assert_same_grant (g_ptr_array_index (la, i), g_ptr_array_index (lb, i));
    text2 = uffd_shim_grants_to_data (b, &len2);
    g_assert_cmpmem (text1, len1, text2, len2);
    return 0;
}
