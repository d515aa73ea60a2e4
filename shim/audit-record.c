/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's audit records: parsed back into fields (journal fields, uffd-shimctl audit) and summed up per grant. */
/*
 * Theory of operation
 * -------------------
 * The broker writes one text line per decision (shim/log.c, "audit: ..."),
 * a sequence of key=value words. The text stays the one format: the log
 * writer derives the journal's structured fields from it with this parser,
 * and `uffd-shimctl audit` reads it back from the journal or a log file with
 * the same parser, so the fields an operator filters on in the journal and
 * the ones the audit command reads cannot drift apart. Values may be quoted
 * (a value with a space or a quote in it), with C-like escapes; the parser
 * accepts both forms and rejects anything else rather than guess.
 */
#include "audit-record.h"

#include <string.h>

void
uffd_shim_audit_record_free (UffdShimAuditRecord *r)
{
    if (!r)
        return;
    g_free (r->event);
    g_ptr_array_unref (r->keys);
    g_ptr_array_unref (r->values);
    g_free (r->note);
    g_free (r);
}

static gboolean
key_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int
hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A quoted value starting after the opening quote at *p; advances *p past
 * the closing quote. NULL on an unterminated quote or a bad escape. */
static char *
parse_quoted (const char **p, const char *end)
{
    g_autoptr (GString) v = g_string_new (NULL);
    const char *q = *p;

    while (q < end && *q != '"') {
        if (*q != '\\') {
            g_string_append_c (v, *q++);
            continue;
        }
        if (++q >= end)
            return NULL;
        /* What the logger writes (g_strescape(): \b \f \n \r \t \v \\ \"
         * and octal \ooo for other bytes) and \xHH. */
        if (*q >= '0' && *q <= '7') {
            int c = 0;

            for (int i = 0; i < 3 && q < end && *q >= '0' && *q <= '7'; i++)
                c = c * 8 + (*q++ - '0');
            if (c > 0xff || c == 0)
                return NULL;
            g_string_append_c (v, (char) c);
            continue;
        }
        switch (*q) {
        case '"': case '\\': g_string_append_c (v, *q); q++; break;
        case 'b': g_string_append_c (v, '\b'); q++; break;
        case 'f': g_string_append_c (v, '\f'); q++; break;
        case 'n': g_string_append_c (v, '\n'); q++; break;
        case 'r': g_string_append_c (v, '\r'); q++; break;
        case 't': g_string_append_c (v, '\t'); q++; break;
        case 'v': g_string_append_c (v, '\v'); q++; break;
        case 'x': {
            int hi, lo;

            if (end - q < 3 || (hi = hexval (q[1])) < 0 || (lo = hexval (q[2])) < 0)
                return NULL;
            g_string_append_c (v, (char) (hi * 16 + lo));
            q += 3;
            break;
        }
        default:
            return NULL;
        }
    }
    if (q >= end)
        return NULL;
    *p = q + 1;
    return g_string_free (g_steal_pointer (&v), FALSE);
}

UffdShimAuditRecord *
uffd_shim_audit_record_parse (const char *text, gsize len)
{
    g_autoptr (UffdShimAuditRecord) r = NULL;
    const char *p = text, *end = text + len;

    if (!text || len == 0 || len > UFFD_SHIM_AUDIT_MAX)
        return NULL;
    for (gsize i = 0; i < len; i++)
        if ((guchar) text[i] < 0x20 || text[i] == 0x7f)
            return NULL;
    r = g_new0 (UffdShimAuditRecord, 1);
    r->keys = g_ptr_array_new_with_free_func (g_free);
    r->values = g_ptr_array_new_with_free_func (g_free);
    while (p < end) {
        const char *w = p;
        char *value;

        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == '(') {
            /* Free text to the end of the record. */
            if (end[-1] != ')' || r->note)
                return NULL;
            r->note = g_strndup (p + 1, (gsize) (end - p - 2));
            break;
        }
        while (p < end && key_char (*p))
            p++;
        if (p == w)
            return NULL;
        if (p == end || *p == ' ') {
            /* A bare word: the event, only as the first word. */
            if (r->event || r->keys->len > 0)
                return NULL;
            r->event = g_strndup (w, (gsize) (p - w));
            continue;
        }
        if (*p != '=')
            return NULL;
        g_ptr_array_add (r->keys, g_strndup (w, (gsize) (p - w)));
        p++;
        if (p < end && *p == '"') {
            p++;
            value = parse_quoted (&p, end);
            if (!value || (p < end && *p != ' '))
                return (g_free (value), NULL);
        } else {
            const char *v = p;

            while (p < end && *p != ' ')
                p++;
            value = g_strndup (v, (gsize) (p - v));
        }
        g_ptr_array_add (r->values, value);
    }
    if (r->keys->len == 0)
        return NULL;
    if (!r->event) {
        if (r->keys->len == 0 || !g_str_equal (r->keys->pdata[0], "decision"))
            return NULL;
        r->event = g_strdup ("decision");
    }
    return g_steal_pointer (&r);
}

const char *
uffd_shim_audit_record_get (const UffdShimAuditRecord *r, const char *key)
{
    for (guint i = 0; i < r->keys->len; i++)
        if (g_str_equal (r->keys->pdata[i], key))
            return r->values->pdata[i];
    return NULL;
}

char *
uffd_shim_audit_journal_field (const char *key)
{
    GString *s = g_string_new ("UFFD_SHIM_");

    for (const char *p = key; *p; p++)
        g_string_append_c (s, *p == '-' ? '_' : g_ascii_toupper (*p));
    return g_string_free (s, FALSE);
}

/* ---- per-grant summary ---------------------------------------------------- */

struct _UffdShimAuditLog {
    char *domain;
    GPtrArray *grants; /* UffdShimAuditGrant * */
};

static void
grant_free (gpointer p)
{
    UffdShimAuditGrant *g = p;

    g_free (g->uuid);
    g_free (g->created_at);
    g_free (g->ended_at);
    g_free (g->why);
    g_array_unref (g->pids);
    g_ptr_array_unref (g->denials);
    g_free (g);
}

UffdShimAuditLog *
uffd_shim_audit_log_new (const char *domain)
{
    UffdShimAuditLog *l = g_new0 (UffdShimAuditLog, 1);

    l->domain = g_strdup (domain);
    l->grants = g_ptr_array_new_with_free_func (grant_free);
    return l;
}

void
uffd_shim_audit_log_free (UffdShimAuditLog *l)
{
    if (!l)
        return;
    g_free (l->domain);
    g_ptr_array_unref (l->grants);
    g_free (l);
}

GPtrArray *
uffd_shim_audit_log_grants (UffdShimAuditLog *l)
{
    return l->grants;
}

gboolean
uffd_shim_audit_grant_used (const UffdShimAuditGrant *g)
{
    return g->handed_out > 0;
}

static UffdShimAuditGrant *
grant_new (UffdShimAuditLog *l, const char *uuid, const char *stamp)
{
    UffdShimAuditGrant *g = g_new0 (UffdShimAuditGrant, 1);

    g->uuid = g_strdup (uuid);
    g->created_at = g_strdup (stamp);
    g->pids = g_array_new (FALSE, FALSE, sizeof (int));
    g->denials = g_ptr_array_new_with_free_func (g_free);
    g_ptr_array_add (l->grants, g);
    return g;
}

/* The latest grant, if @uuid (when known on both sides) is its UUID; else a
 * new one. Records after a grant's end (a late request) still belong to it. */
static UffdShimAuditGrant *
latest (UffdShimAuditLog *l)
{
    for (guint i = l->grants->len; i-- > 0;) {
        UffdShimAuditGrant *g = l->grants->pdata[i];

        if (!g->refused)
            return g;
    }
    return NULL;
}

static UffdShimAuditGrant *
grant_for (UffdShimAuditLog *l, const char *uuid, const char *stamp)
{
    UffdShimAuditGrant *g = latest (l);

    if (g && (!uuid || !g->uuid || g_str_equal (uuid, g->uuid)))
        return g;
    return grant_new (l, uuid, stamp);
}

static void
end_grant (UffdShimAuditGrant *g, const char *why, const char *stamp)
{
    g_free (g->why);
    g->why = g_strdup (why);
    g_free (g->ended_at);
    g->ended_at = g_strdup (stamp);
}

/* The time stamp of a syslog/journal line: the text before "HOST uffd-shimd[". */
static char *
line_stamp (const char *line, const char *rec)
{
    const char *tag = g_strstr_len (line, rec - line, "uffd-shimd[");
    g_autofree char *head = NULL;
    char *sp;

    if (!tag || tag == line)
        return NULL;
    head = g_strstrip (g_strndup (line, (gsize) (tag - line)));
    sp = strrchr (head, ' ');
    if (!sp)
        return NULL;
    *sp = '\0';
    return g_strdup (g_strstrip (head));
}

gboolean
uffd_shim_audit_log_feed (UffdShimAuditLog *l, const char *line, const char *stamp)
{
    const char *rec = line ? strstr (line, "audit: ") : NULL;
    g_autoptr (UffdShimAuditRecord) r = NULL;
    g_autofree char *own_stamp = NULL;
    const char *domain, *uuid, *result;
    UffdShimAuditGrant *g;
    gsize len;

    if (!rec)
        return FALSE;
    len = strcspn (rec + 7, "\r\n");
    r = uffd_shim_audit_record_parse (rec + 7, len);
    domain = r ? uffd_shim_audit_record_get (r, "domain") : NULL;
    if (!domain || !g_str_equal (domain, l->domain))
        return FALSE;
    if (!stamp)
        stamp = own_stamp = line_stamp (line, rec);
    uuid = uffd_shim_audit_record_get (r, "uuid");
    if (uuid && g_str_equal (uuid, "-"))
        uuid = NULL;
    result = uffd_shim_audit_record_get (r, "result");
    if (g_str_equal (r->event, "grant-create")) {
        /* An open grant of the domain is replaced by the new one. */
        g = latest (l);
        if (g && !g->why && result && g_str_equal (result, "ok"))
            end_grant (g, "replaced", stamp);
        g = grant_new (l, uuid, stamp);
        if (result && g_str_equal (result, "ok")) {
            g->created = TRUE;
        } else {
            g->refused = TRUE;
            end_grant (g, result ? result : "not-created", stamp);
        }
    } else if (g_str_equal (r->event, "grant-end")) {
        const char *why = uffd_shim_audit_record_get (r, "why");

        g = grant_for (l, uuid, stamp);
        /* A revoke already ended it: keep its time, take the broker's word. */
        if (!g->why)
            end_grant (g, why ? why : "ended", stamp);
        else if (why)
            g_free (g->why), g->why = g_strdup (why);
    } else if (g_str_equal (r->event, "grant-revoke")) {
        g = latest (l);
        if (g && !g->why && result && g_str_equal (result, "ok"))
            end_grant (g, "revoked", stamp);
    } else if (g_str_equal (r->event, "decision")) {
        const char *decision = uffd_shim_audit_record_get (r, "decision");
        const char *pid = uffd_shim_audit_record_get (r, "pid");
        guint64 v = 0;

        g = grant_for (l, uuid, stamp);
        if (g_strcmp0 (decision, "grant") == 0) {
            int ipid;
            gboolean known = FALSE;

            g->handed_out++;
            g->last_seen |= g_strcmp0 (uffd_shim_audit_record_get (r, "last"), "yes") == 0;
            if (pid && g_ascii_string_to_unsigned (pid, 10, 1, G_MAXINT, &v, NULL)) {
                ipid = (int) v;
                for (guint i = 0; i < g->pids->len; i++)
                    known |= g_array_index (g->pids, int, i) == ipid;
                if (!known)
                    g_array_append_val (g->pids, ipid);
            }
        } else {
            const char *reason = uffd_shim_audit_record_get (r, "reason");

            g_ptr_array_add (g->denials, g_strdup_printf ("%s pid=%s", reason ? reason : "?",
                                                          pid ? pid : "?"));
        }
    } else {
        return FALSE;
    }
    return TRUE;
}
