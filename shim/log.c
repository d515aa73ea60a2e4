/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr or syslog, and the one-line audit record of every decision. */
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

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    const char *msg = NULL;

    if ((level & G_LOG_LEVEL_DEBUG) && !g_getenv ("UFFD_SHIM_DEBUG"))
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n; i++)
        if (g_str_equal (fields[i].key, "MESSAGE"))
            msg = fields[i].value;
    if (!msg)
        return G_LOG_WRITER_UNHANDLED;
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
