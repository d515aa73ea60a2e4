/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr or syslog, and the one-line audit record of every decision. */
/*
 * Every message is one line: the writer escapes any control character a
 * message carries (a newline in a path would otherwise start a line of its
 * own that reads like a record). Values in audit lines go through
 * uffd_shim_log_value(), so a value that holds a space, '=' or a quote
 * cannot be read as more than one key=value pair either.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static gboolean use_syslog;
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
    if (use_syslog)
        openlog (ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
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
