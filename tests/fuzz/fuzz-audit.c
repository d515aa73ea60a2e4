/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target for the audit record parser and the per-grant summary of uffd-shimctl audit. */
#include <glib.h>
#include <string.h>

#include "audit-record.h"
#include "fuzz-main.h"

/*
 * Oracles: no crash or leak; an accepted record has an event, as many values
 * as keys, keys of [a-z0-9-] only, and journal field names of [A-Z0-9_]; the
 * summary's counters agree with its lists.
 */
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    g_autoptr (UffdShimAuditRecord) r = uffd_shim_audit_record_parse ((const char *) data, size);
    g_autoptr (UffdShimAuditLog) l = uffd_shim_audit_log_new ("vm1");
    g_autofree char *text = g_strndup ((const char *) data, size);
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
    GPtrArray *grants;

    if (r) {
        g_assert_nonnull (r->event);
        g_assert_cmpuint (r->keys->len, ==, r->values->len);
        for (guint i = 0; i < r->keys->len; i++) {
            g_autofree char *f = uffd_shim_audit_journal_field (r->keys->pdata[i]);
            const char *k = r->keys->pdata[i];

            g_assert_cmpuint (strspn (k, "abcdefghijklmnopqrstuvwxyz0123456789-"), ==, strlen (k));
            g_assert_cmpuint (strspn (f, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"), ==, strlen (f));
        }
    }
    for (char **p = lines; *p; p++)
        uffd_shim_audit_log_feed (l, *p, NULL);
    grants = uffd_shim_audit_log_grants (l);
    for (guint i = 0; i < grants->len; i++) {
        UffdShimAuditGrant *g = grants->pdata[i];

        g_assert_cmpuint (g->pids->len, <=, g->handed_out);
        g_assert_true (uffd_shim_audit_grant_used (g) == (g->handed_out > 0));
    }
    return 0;
}
