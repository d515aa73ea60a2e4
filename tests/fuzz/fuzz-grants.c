/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for shim/grants.c: the state file's text form, parsed, written and parsed again. */
#include <glib.h>
#include <string.h>

#include "fuzz-main.h"
#include "grants.h"

/* Small, so that the active-grant limit is reached by fuzz inputs too. */
#define FUZZ_MAX_ACTIVE 8

static gboolean
same_grant (const UffdShimGrant *a, const UffdShimGrant *b)
{
    return g_str_equal (a->name, b->name) && !memcmp (a->uuid, b->uuid, sizeof a->uuid) &&
           a->created == b->created && a->expires == b->expires &&
           a->uses_left == b->uses_left && a->uses_max == b->uses_max && a->pid == b->pid &&
           a->starttime == b->starttime && a->state == b->state && a->ended == b->ended;
}

static guint
ended_count (GPtrArray *l)
{
    guint n = 0;

    for (guint i = 0; i < l->len; i++)
        n += ((const UffdShimGrant *) g_ptr_array_index (l, i))->state != UFFD_SHIM_GRANT_ACTIVE;
    return n;
}

/*
 * Oracles: no crash or leak; every accepted grant is valid (name, limits,
 * state consistent with uses left, at most one active grant per name and
 * FUZZ_MAX_ACTIVE in all, at most UFFD_SHIM_TOMBSTONE_MAX ended ones); what
 * the broker writes back is read back completely (nothing skipped): every
 * active grant and UFFD_SHIM_TOMBSTONE_PERSIST ended ones (all if fewer),
 * each equal field by field to one that was written, and byte by byte
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
    g_assert_cmpuint (ended_count (la), <=, UFFD_SHIM_TOMBSTONE_MAX);
    g_assert_cmpuint (uffd_shim_grants_active_count (b), ==, uffd_shim_grants_active_count (a));
    g_assert_cmpuint (ended_count (lb), ==, MIN (ended_count (la), UFFD_SHIM_TOMBSTONE_PERSIST));
    for (guint i = 0; i < lb->len; i++) {
        const UffdShimGrant *gb = g_ptr_array_index (lb, i);
        gboolean found = FALSE;

        for (guint j = 0; j < la->len && !found; j++)
            found = same_grant (g_ptr_array_index (la, j), gb);
        g_assert_true (found);
    }
    text2 = uffd_shim_grants_to_data (b, &len2);
    g_assert_cmpmem (text1, len1, text2, len2);
    return 0;
}
