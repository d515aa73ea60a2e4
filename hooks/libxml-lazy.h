/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hook's libxml2, loaded only by the operations that read domain XML. */
#ifndef UFFD_SHIM_LIBXML_LAZY_H
#define UFFD_SHIM_LIBXML_LAZY_H

#include <glib.h>

/*
 * Loads libxml2 into the hook (idempotent). Until it is called, nothing of
 * libxml2 (nor ICU and libstdc++, which Debian 12's libxml2 pulls in) is
 * mapped. Returns FALSE (G_FILE_ERROR_NOENT) when
 * the library or one of its entry points cannot be found; the libxml2
 * functions the hook uses must not be called then.
 */
gboolean uffd_shim_hook_libxml_load (GError **error);

#endif /* UFFD_SHIM_LIBXML_LAZY_H */
