/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Dropping privileges once the sockets are bound and the state is loaded. */
#ifndef UFFD_SHIM_PRIVDROP_H
#define UFFD_SHIM_PRIVDROP_H

#include <glib.h>

/* Keeps only CAP_SYS_PTRACE, clears the bounding and ambient sets, sets
 * no-new-privs and makes the process non-dumpable. Without root it only sets
 * no-new-privs and non-dumpable (tests run the broker unprivileged). */
gboolean uffd_shim_drop_privileges (GError **error);

#endif
