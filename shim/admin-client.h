/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Client side of the broker's admin socket (used by uffd-shimctl and the libvirt hook). */
#ifndef UFFD_SHIM_ADMIN_CLIENT_H
#define UFFD_SHIM_ADMIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "uffd-shim-proto.h"

/*
 * Each call connects to @sock, sends one request, reads the reply and closes.
 * Returns an enum uffd_shim_status (>= 0) from the broker, or -errno when the
 * broker could not be reached or answered malformed data (-EPROTO).
 * @timeout_ms bounds the whole exchange (0 = 5000).
 */
int uffd_shim_admin_grant (const char *sock, const char *name,
                           const uint8_t uuid[UFFD_SHIM_UUID_LEN],
                           uint32_t lifetime_s, uint32_t uses, uint32_t flags,
                           int timeout_ms);
int uffd_shim_admin_revoke (const char *sock, const char *name, int timeout_ms);
/* @flags: 0 (active grants) or UFFD_SHIM_LIST_ALL (ended ones too).
 * *out is malloc()ed (free() it); *n records. */
int uffd_shim_admin_list (const char *sock, uint32_t flags, struct uffd_shim_grant_record **out,
                          size_t *n, int timeout_ms);
int uffd_shim_admin_status (const char *sock, struct uffd_shim_status_record *out,
                            int timeout_ms);

/* Human-readable text for a status code or a negative errno. */
const char *uffd_shim_status_str (int status);
/* The status code's name of docs/protocol.md ("exists", "not-found", ...);
 * "unreachable" or "malformed-reply" for a negative errno. */
const char *uffd_shim_status_name (int status);

#endif
