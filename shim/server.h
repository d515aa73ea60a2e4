/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The broker's event loop: accepting clients, serving requests, keeping grants. */
#ifndef UFFD_SHIM_SERVER_H
#define UFFD_SHIM_SERVER_H

#include <glib.h>
#include "config.h"

typedef struct UffdShimServer UffdShimServer;

/* Takes ownership of the listening fds; loads persisted grants. */
UffdShimServer *uffd_shim_server_new (const UffdShimConfig *cfg, int client_fd, int admin_fd,
                                      GError **error);
/* The configuration it was given changed in place (SIGHUP): recomputes
 * what derives from it. */
void uffd_shim_server_reconfigure (UffdShimServer *s);
void uffd_shim_server_free (UffdShimServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimServer, uffd_shim_server_free)

#endif
