/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr or syslog, and the one-line audit record of every decision. */
#ifndef UFFD_SHIM_LOG_H
#define UFFD_SHIM_LOG_H

#include <glib.h>

/* @mode: "stderr" or "syslog". */
void uffd_shim_log_init (const char *ident, const char *mode);

/* One audit line ("audit: ..."), always logged at info level. */
void uffd_shim_audit (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

#endif
