/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure encoding and validation of uffd-shim wire messages (no I/O, libc only). */
#ifndef UFFD_SHIM_PROTOCOL_H
#define UFFD_SHIM_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include "uffd-shim-proto.h"

/* Fills a header for a message of @length bytes (UFFD_SHIM_VERSION). */
void uffd_shim_hdr_init (struct uffd_shim_hdr *h, uint16_t op, uint32_t length, uint32_t flags);
/* The same in @version (a reply is in the version of its request). */
void uffd_shim_hdr_init_version (struct uffd_shim_hdr *h, uint16_t version, uint16_t op,
                                 uint32_t length, uint32_t flags);

/* Each parser takes exactly the bytes received (@len is the record length)
 * and returns UFFD_SHIM_OK or the status to report: E_VERSION for a version
 * outside UFFD_SHIM_VERSION_MIN..UFFD_SHIM_VERSION, E_PROTOCOL for anything
 * else that is wrong, including a version 1 message using a version 2
 * addition. The parsed header keeps the message's version. */
int uffd_shim_parse_request (const void *buf, size_t len, struct uffd_shim_request *out);
int uffd_shim_parse_reply (const void *buf, size_t len, struct uffd_shim_reply *out);
int uffd_shim_parse_admin_request (const void *buf, size_t len,
                                   struct uffd_shim_admin_request *out);
int uffd_shim_parse_grant_record (const void *buf, size_t len,
                                  struct uffd_shim_grant_record *out);
int uffd_shim_parse_status_record (const void *buf, size_t len,
                                   struct uffd_shim_status_record *out);

/* Validates a domain name field: non-empty, NUL inside the array, bytes after
 * the NUL zero, no '/' and no control characters. */
int uffd_shim_name_valid (const char name[UFFD_SHIM_NAME_MAX]);

/* @status as told to a client of @version: a version 1 client gets the
 * nearest version 1 code for a version 2 status (in-use: invalid,
 * not-migrating: not-granted, dumpable and traced: peer-gone). */
uint32_t uffd_shim_status_for_version (uint32_t status, uint16_t version);

/* English text for a status code or a library reason (uffd-shim.h). */
const char *uffd_shim_reason_text (int reason);
/* The name of a status code (docs/protocol.md, the audit log's reason=), or
 * "unknown". */
const char *uffd_shim_status_code_name (int status);
/* The name of a grant state (enum uffd_shim_grant_state: the state file's,
 * the audit log's and uffd-shimctl's word), or "unknown". */
const char *uffd_shim_grant_state_name (uint32_t state);

#endif
