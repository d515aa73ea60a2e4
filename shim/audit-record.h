/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's audit records: parsed back into fields (journal fields, uffd-shimctl audit) and summed up per grant. */
#ifndef UFFD_SHIM_AUDIT_RECORD_H
#define UFFD_SHIM_AUDIT_RECORD_H

#include <glib.h>

/* Longest audit text parsed (a record is one line, far shorter). */
#define UFFD_SHIM_AUDIT_MAX 8192

/*
 * One audit record, the text after "audit: " of a broker log line:
 *     grant-create domain=vm1 uuid=... lifetime=1800 uses=8 result=ok
 *     decision=grant reason=ok pid=4242 uid=64055 exe=/usr/bin/qemu ... last=no
 *     decision=deny reason=peer-gone pid=7 uid=- exe=- domain=- (free text)
 * @event is the leading bare word ("grant-create", "grant-end", "grant-revoke",
 * "admin") or "decision" when the record starts with decision=. @keys and
 * @values are parallel, in order; a value may have been written quoted
 * ("a b", with \" \\ \n \t \xHH escapes) and is stored decoded. A trailing
 * "(...)" is @note.
 */
typedef struct {
    char *event;
    GPtrArray *keys;   /* char * */
    GPtrArray *values; /* char * */
    char *note;        /* NULL if none */
} UffdShimAuditRecord;

void uffd_shim_audit_record_free (UffdShimAuditRecord *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimAuditRecord, uffd_shim_audit_record_free)

/* Pure. Parses @len bytes of @text (no "audit: " prefix). NULL when it is not
 * an audit record: empty, longer than UFFD_SHIM_AUDIT_MAX, a NUL or control
 * character, a key that is not [a-z0-9-]+, an unterminated quote or escape. */
UffdShimAuditRecord *uffd_shim_audit_record_parse (const char *text, gsize len);

/* The value of @key, or NULL. */
const char *uffd_shim_audit_record_get (const UffdShimAuditRecord *r, const char *key);

/* Pure. The journal field name for audit key @key: "UFFD_SHIM_" + upper case,
 * '-' as '_' ("uses-left" -> "UFFD_SHIM_USES_LEFT"). */
char *uffd_shim_audit_journal_field (const char *key);

/* ---- what happened to a domain's grants (uffd-shimctl audit) ---------- */

/* One grant of the domain, from grant-create to grant-end, with the
 * decisions between them. */
typedef struct {
    char *uuid;          /* NULL if not known */
    char *created_at;    /* log time stamp of grant-create, NULL if none */
    char *ended_at;      /* time stamp of the end, NULL while not ended */
    char *why;           /* expired, exhausted, revoked, exited, done; or NULL */
    gboolean created;    /* a grant-create record with result=ok was seen */
    gboolean refused;    /* a grant-create that failed (why: its result); nothing
                          * else is ever added to it */
    guint handed_out;    /* decision=grant records */
    gboolean last_seen;  /* one of them carried last=yes */
    GArray *pids;        /* int: QEMU pids that were handed a device */
    GPtrArray *denials;  /* char *: "reason pid=N" of decision=deny records */
} UffdShimAuditGrant;

typedef struct _UffdShimAuditLog UffdShimAuditLog;

/* Collects the records of one domain, in log order. */
UffdShimAuditLog *uffd_shim_audit_log_new (const char *domain);
void uffd_shim_audit_log_free (UffdShimAuditLog *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimAuditLog, uffd_shim_audit_log_free)

/*
 * Pure. Feeds one log line (a syslog/journal/stderr line that contains
 * "audit: "; others are ignored). @stamp is its time stamp text (may be NULL).
 * Returns TRUE if the line was a record about the domain.
 */
gboolean uffd_shim_audit_log_feed (UffdShimAuditLog *l, const char *line, const char *stamp);

/* The grants seen, oldest first (UffdShimAuditGrant *, owned by @l). */
GPtrArray *uffd_shim_audit_log_grants (UffdShimAuditLog *l);

/* Did the migration of this grant use the shim: a device was handed out. */
gboolean uffd_shim_audit_grant_used (const UffdShimAuditGrant *g);

#endif /* UFFD_SHIM_AUDIT_RECORD_H */
