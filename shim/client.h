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

/* The process is non-dumpable between a call to _enter and the matching
 * _leave (nested; the previous value comes back at the outermost _leave).
 * uffd_shim_get_device_held() enters on success (uffd_shim_put_device()
 * leaves); the preload enters once more for as long as it keeps a
 * userfaultfd for the switch. */
void uffd_shim_nodump_enter (void);
void uffd_shim_nodump_leave (void);

#endif
