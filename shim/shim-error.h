/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's GError domain (GLib only: the broker does not link GIO). */
#ifndef UFFD_SHIM_SHIM_ERROR_H
#define UFFD_SHIM_SHIM_ERROR_H

#include <glib.h>

/* Codes are errno values where one applies, else 0; the message says what failed. */
#define UFFD_SHIM_ERROR (g_quark_from_static_string ("uffd-shim-error"))

#endif
