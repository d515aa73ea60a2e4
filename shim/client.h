/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Client entry points shared inside the project by libuffd-shim and the preload (not exported). */
#ifndef UFFD_SHIM_CLIENT_H
#define UFFD_SHIM_CLIENT_H

#include <stdint.h>

/*
 * As uffd_shim_get_device(), with the request's @hints (UFFD_SHIM_HINT_*)
 * given directly. With @conn non-NULL and success, the connection is not
 * closed but returned in *@conn: what a HOLD request needs (the broker
 * keeps it open until the grant ends, see docs/protocol.md).
 */
int uffd_shim_get_device_held (const char *socket_path, uint32_t hints, int *conn, int *reason);

#endif
