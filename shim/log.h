/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr or syslog, and the one-line audit record of every decision. */
#ifndef UFFD_SHIM_LOG_H
#define UFFD_SHIM_LOG_H

#include <glib.h>

/* @mode: "stderr" or "syslog". */
void uffd_shim_log_init (const char *ident, const char *mode);

/* One audit line ("audit: ..."), always logged at info level. Every string
 * value in it goes through uffd_shim_log_value(). */
void uffd_shim_audit (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* @s as the value of a key=value pair: as it is when it is a non-empty run
 * of printable ASCII without space, '"', '=' or '\\' (and not "-"); else in
 * double quotes with C escapes (g_strescape: control characters and bytes
 * >= 0x7f as \ooo, '"' and '\\' escaped). NULL gives - (no value). Free with
 * g_free(). */
char *uffd_shim_log_value (const char *s);

#endif
