/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr, syslog or the journal, and the one-line audit record of every decision. */
/*
 * Every message is one line: the writer escapes any control character a
 * message carries (a newline in a path would otherwise start a line of its
 * own that reads like a record). Values in audit lines go through
 * uffd_shim_log_value(), so a value that holds a space, '=' or a quote
 * cannot be read as more than one key=value pair either.
 *
 * Where lines go. "stderr": standard error, one write per line; "syslog":
 * syslog(3), facility authpriv. In both modes, when the systemd journal is
 * there (syslog: its socket exists; stderr: standard error is a journal
 * stream, as under a unit with the default StandardError=), lines go to the
 * journal instead through GLib's journald writer, with the same MESSAGE
 * text plus SYSLOG_IDENTIFIER and SYSLOG_FACILITY (so `journalctl -t` and
 * the facility filters keep working) and, for an audit record, one field
 * per key=value of the record (UFFD_SHIM_EVENT, UFFD_SHIM_DOMAIN,
 * UFFD_SHIM_DECISION, UFFD_SHIM_REASON, UFFD_SHIM_PID, ..., from
 * shim/audit-record.c's parser of the very text logged). A line the journal
 * does not take falls back to the plain path.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "audit-record.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* At most this many journal fields per line (GLib's, ours, the record's). */
#define MAX_FIELDS 48

static gboolean use_syslog;
static gboolean use_journal;
static int log_pid; /* getpid() once, not per line */
static const char *log_ident = "uffd-shimd";

static int
syslog_priority (GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return LOG_ERR;
    if (level & G_LOG_LEVEL_WARNING)
        return LOG_WARNING;
    if (level & G_LOG_LEVEL_DEBUG)
        return LOG_DEBUG;
    return LOG_INFO;
}

/* @msg with every control character (newline, tab, escape, DEL) written as
 * \ooo; NULL if it has none. */
static char *
one_line (const char *msg)
{
    GString *out;
    const char *p = msg;

    while (*p && !g_ascii_iscntrl (*p))
        p++;
    if (!*p)
        return NULL;
    out = g_string_sized_new (strlen (msg) + 16);
    for (p = msg; *p; p++) {
        if (g_ascii_iscntrl (*p))
            g_string_append_printf (out, "\\%03o", (guchar) *p);
        else
            g_string_append_c (out, *p);
    }
    return g_string_free (out, FALSE);
}

/* The line as journal fields: GLib's, the identifier, and an audit
 * record's own fields. */
static GLogWriterOutput
write_journal (GLogLevelFlags level, const GLogField *fields, gsize n, const char *msg)
{
    GLogField all[MAX_FIELDS];
    g_autoptr (UffdShimAuditRecord) rec = NULL;
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    gsize k = 0;

    for (gsize i = 0; i < n && k < MAX_FIELDS - 3; i++)
        all[k++] = fields[i];
    all[k++] = (GLogField) { "SYSLOG_IDENTIFIER", log_ident, -1 };
    all[k++] = (GLogField) { "SYSLOG_FACILITY", "10", -1 }; /* authpriv, as syslog mode */
    if (g_str_has_prefix (msg, "audit: "))
        rec = uffd_shim_audit_record_parse (msg + 7, strlen (msg + 7));
    if (rec && k < MAX_FIELDS)
        all[k++] = (GLogField) { "UFFD_SHIM_EVENT", rec->event, -1 };
    for (guint i = 0; rec && i < rec->keys->len && k < MAX_FIELDS; i++) {
        char *name = uffd_shim_audit_journal_field (rec->keys->pdata[i]);

        g_ptr_array_add (names, name);
        all[k++] = (GLogField) { name, rec->values->pdata[i], -1 };
    }
    return g_log_writer_journald (level, all, k, NULL);
}

/* #syscalls: write (standard error) */
/* #syscalls: socket connect sendto getpid close (syslog, which reconnects when it must) */
/* #syscalls: socket sendmsg (GLib's journald writer) */
static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    const char *msg = NULL;
    g_autofree char *escaped = NULL;

    if ((level & G_LOG_LEVEL_DEBUG) && !g_getenv ("UFFD_SHIM_DEBUG"))
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n; i++)
        if (g_str_equal (fields[i].key, "MESSAGE"))
            msg = fields[i].value;
    if (!msg)
        return G_LOG_WRITER_UNHANDLED;
    if ((escaped = one_line (msg)))
        msg = escaped;
    if (use_journal && write_journal (level, fields, n, msg) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
    if (use_syslog) {
        syslog (syslog_priority (level), "%s", msg);
    } else {
        /* One write per line so concurrent writers do not interleave. */
        g_autofree char *line = g_strdup_printf ("%s[%d]: %s\n", log_ident, log_pid, msg);
        (void) !write (STDERR_FILENO, line, strlen (line));
    }
    return G_LOG_WRITER_HANDLED;
}

void
uffd_shim_log_init (const char *ident, const char *mode)
{
    log_ident = ident;
    log_pid = (int) getpid ();
    use_syslog = g_strcmp0 (mode, "syslog") == 0;
    if (use_syslog) {
        struct stat st;

        use_journal = stat (JOURNAL_SOCKET, &st) == 0 && S_ISSOCK (st.st_mode);
        openlog (ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
    } else {
        use_journal = g_log_writer_is_journald (STDERR_FILENO);
    }
    g_log_set_writer_func (writer, NULL, NULL);
}

void
uffd_shim_audit (const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start (ap, fmt);
    msg = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    g_message ("audit: %s", msg);
}

char *
uffd_shim_log_value (const char *s)
{
    g_autofree char *esc = NULL;
    gboolean bare;

    if (!s)
        return g_strdup ("-");
    bare = *s && !g_str_equal (s, "-");
    for (const guchar *p = (const guchar *) s; bare && *p; p++)
        bare = *p > ' ' && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
    if (bare)
        return g_strdup (s);
    esc = g_strescape (s, NULL);
    return g_strdup_printf ("\"%s\"", esc);
}
